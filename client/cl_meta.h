/* cl_meta: the client's session with metad over one multiplexed TCP
 * connection that survives metad restarts. */
#ifndef CASFS_CL_META_H
#define CASFS_CL_META_H

#include <stdint.h>

#include "fs/ids.h"
#include "fs/proto.h"

struct cl_meta;

struct cl_meta_opts {
	const char *addr;	/* metad "HOST:PORT" */
	const char *auth_key;	/* NULL or "" = none */
	const char *name;	/* peer name shown by metad */
	int role;		/* PROTO_ROLE_CLIENT or PROTO_ROLE_ADMIN */
};

/* Connects and opens a session. Returns 0 and *out, or -errno of the first
 * attempt (no retry here: a mount with a wrong address fails at once). */
int cl_meta_open(const struct cl_meta_opts *opts, struct cl_meta **out);
/* Stops the threads, closes the connection; waiters get -ESHUTDOWN. */
void cl_meta_close(struct cl_meta *m);
/* Gives up on metad: every waiting and future call fails with -ESHUTDOWN
 * and no reconnect is tried. For shutting down while metad is gone; the
 * caller still calls cl_meta_close. Safe from any thread. */
void cl_meta_abort(struct cl_meta *m);

const struct blk_key *cl_meta_key(const struct cl_meta *m);
const struct casfs_uuid *cl_meta_cluster(const struct cl_meta *m);
uint64_t cl_meta_session(struct cl_meta *m);

/* Sends the request in req (begun with proto_frame_begin(req, type, 0, 0)
 * and filled, not finished; its request id is assigned here) and waits for
 * the reply, across reconnects. Returns the reply status (0 or -errno);
 * on 0 rep holds the reply fields after the status, already checked
 * against the catalogue. -EMSGSIZE if req is too big, -ESHUTDOWN when
 * closing. */
int cl_meta_call(struct cl_meta *m, struct proto_wbuf *req, struct proto_wbuf *rep);

/* Like cl_meta_call, but nobody waits for the reply (a RELEASE needs no
 * answer before close returns). The request is copied; it is re-sent
 * across reconnects like any other, and cl_meta_close waits a moment for
 * such requests to be answered. 0, -EMSGSIZE or -ESHUTDOWN. */
int cl_meta_post(struct cl_meta *m, struct proto_wbuf *req);

/* Outcome of a follow-up request: status 0 with rep holding the reply
 * fields, or -errno with rep NULL (-ECANCELED when it was never sent).
 * Called exactly once, on the reader thread or the arming thread, with
 * internal locks held: it must not call cl_meta. */
typedef void (*cl_meta_done_fn)(void *arg, int status, struct proto_wbuf *rep);

/* Arms a follow-up for the calling thread: its next cl_meta_call writes req
 * right after its own request, without waiting for either reply, and fn
 * gets the follow-up's reply later. Used to fetch what a mutation changed
 * (a directory's attributes) in the same round trip: both go out in one
 * write, and that cl_meta_call returns once the follow-up is answered too
 * (or its connection was lost). The request is
 * copied. cl_meta_follow_cancel drops an armed follow-up that was not
 * sent. */
int cl_meta_follow(struct proto_wbuf *req, cl_meta_done_fn fn, void *arg);
void cl_meta_follow_cancel(void);

/* Counts opens per inode (called by the file layer after a successful
 * OPEN/CREATE and before RELEASE) so that a replacement session re-opens
 * them. */
void cl_meta_note_open(struct cl_meta *m, uint64_t ino, int delta);

/* Number of reconnects so far (tests and logs). */
uint64_t cl_meta_reconnects(struct cl_meta *m);

#endif
