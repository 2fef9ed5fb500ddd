/* Internals shared by the server's files: main.c (start-up, config,
 * checkpoints, timers), meta_srv.c (connections, sessions, request
 * dispatch), meta_cs.c (chunk-server registry, placement, repair and GC) and
 * meta_lock.c (cluster-wide locks). Everything here belongs to the single
 * event-loop thread. */
#ifndef CASFS_META_INT_H
#define CASFS_META_INT_H

#include <stdint.h>
#include <sys/types.h>

#include "fs/ids.h"
#include "fs/log.h"
#include "fs/proto.h"
#include "metad/meta_lock.h"
#include "metad/meta_log.h"
#include "metad/meta_ns.h"
#include "metad/meta_sess.h"

struct event_base;
struct event;
struct evbuffer;
struct evconnlistener;

struct meta_conf {
	char listen[256];
	char auth_key[256];
	int sync_always;
	uint32_t fsync_interval_ms;
	uint32_t checkpoint_interval_s;
	uint64_t checkpoint_changes;
	uint32_t session_timeout_ms;
	uint32_t cs_dead_timeout_ms;
	uint32_t gc_grace_s;
	uint32_t repair_per_server;
	uint32_t poll_us;
	uint8_t default_goal;
	uint32_t default_block_size;
	enum log_level log_level;
};

/* A request metad sent down a chunk server's connection. */
struct meta_out_req {
	struct meta_out_req *next;
	uint64_t reqid;
	int64_t sent_ms;
	uint16_t type;
	struct blk_id id;
	uint32_t target, source;
	struct blk_id *ids;	/* CS_DELETE: the batch (owned; freed on reply) */
	uint32_t nids;
};

struct meta_conn {
	struct meta_conn *prev, *next;	/* all open connections */
	struct meta_srv *srv;
	int fd;
	struct event *ev_read;	/* persistent while reading */
	struct event *ev_write;	/* added only while output waits for room */
	uint8_t *in;		/* a cut frame, or frames held back while output is
				 * full (owned; NULL when there are none) */
	size_t in_len, in_cap;
	struct evbuffer *out;	/* replies not yet written */
	struct meta_conn *flush_next;	/* on srv->flush_head */
	int refs;		/* parked replies and the flush list hold references */
	int is_closed;
	int is_read_stopped;	/* too much output unread: not read until it drains */
	int is_flush_queued;
	int has_hello;
	int is_resumed;		/* resumed a session: re-sent requests possible */
	uint8_t role;
	struct meta_sess *sess;
	struct meta_cs *cs;	/* role 2, after CS_REGISTER */
	uint64_t next_reqid;
	struct meta_out_req *outs;
	char peer[64];
};

/* Chunk-server ids are issued 1, 2, ... and never wrap. */
#define META_CS_ID_MAX UINT32_MAX
/* Totals above this (1 EiB) are claims no server can make: clamped. */
#define META_CS_TOTAL_MAX (1ULL << 60)

struct meta_cs {
	uint32_t id;
	char addr[256];
	uint64_t total, free, used, blocks;
	uint32_t load, flags;
	char **labels;
	uint32_t nlabels;
	int is_up;
	int is_draining;
	int has_inventory;
	int is_space_clamped;	/* its last space figures were impossible */
	int64_t last_ms;
	struct meta_conn *conn;
	uint32_t inflight;	/* replications it is source or target of */
	uint64_t nloc;		/* blocks metad believes it holds */
	struct blk_id *dels;	/* CS_DELETE batch being built */
	uint32_t ndels, capdels;
	/* Ids with a CS_DELETE in flight: a CS_ADDED for one of them was sent
	 * before the delete ran and must not bring the location back. */
	struct meta_htab pending_dels;
};

struct meta_parked {
	struct meta_parked *next;
	struct meta_conn *conn;
	uint64_t seq;
	struct proto_wbuf frame;
};

struct meta_lock_table;

struct meta_srv {
	struct meta_conf conf;
	char *dir;
	struct casfs_uuid cluster;
	uint8_t seed[BLK_KEY_SEED_SIZE];
	struct event_base *base;
	struct evconnlistener *listener;
	struct event *ev_notify, *ev_tick, *ev_fsync, *ev_sigterm, *ev_sigint, *ev_sigchld;

	struct meta_ns *ns;
	struct meta_sessions ss;
	struct meta_log *log;

	struct meta_cs **cs;
	uint32_t ncs;
	uint32_t next_cs_id;
	uint64_t weight_cap;	/* placement weight cap (MiB), see meta_cs.c */
	uint64_t cs_id_seq;	/* record of an id just issued: its reply waits for it */
	uint32_t scan_pos;	/* block-table slot the scheduler resumes at */

	int64_t started_ms;	/* when this process began serving */
	struct meta_conn *conns;
	uint64_t nreads;	/* reads that brought bytes (see meta_srv_run) */
	uint64_t out_bytes;	/* replies queued on all connections, unsent */
	uint8_t *rbuf;		/* every connection reads into it (see meta_srv.c) */
	struct event *ev_flush;	/* writes the flush list at the end of a loop turn */
	struct meta_conn *flush_head;	/* connections with output to write */
	struct meta_parked *parked_head, *parked_tail;
	struct meta_lock_table *locks;

	int lock_fd;		/* flock on DIR/lock, held while serving */
	pid_t ckpt_pid;
	uint64_t ckpt_segno;
	uint64_t changes_since_ckpt;
	int64_t last_ckpt_ms;
	struct proto_wbuf scratch;
};

int64_t meta_now_ms(void);
/* Sets the block table's GC clock before a change. */
void meta_blk_table_now(struct meta_srv *srv);
void meta_now(struct casfs_time *t);

/* meta_srv.c */
int meta_srv_listen(struct meta_srv *srv, const char *addr, uint16_t *port);
/* Queues a finished frame on conn; it is written at the end of this turn
 * of the event loop, with everything else queued on conn meanwhile. */
void meta_conn_send(struct meta_conn *conn, const struct proto_wbuf *frame);
/* Sends a request metad originates (CS_REPLICATE, CS_DELETE) and records it;
 * payload holds the payload only. Takes ownership of what->ids. */
void meta_conn_request(struct meta_conn *conn, uint16_t type, const struct proto_wbuf *payload,
		       const struct meta_out_req *what);
void meta_conn_close(struct meta_conn *conn, const char *why);
/* Appends a changelog record; aborts the daemon when the write fails. */
uint64_t meta_srv_log(struct meta_srv *srv, uint16_t op, uint64_t session, uint64_t reqid,
		      const struct casfs_time *now, const void *payload, uint32_t len);
void meta_srv_release_parked(struct meta_srv *srv);
/* Ends a session (expiry or shutdown of its owner): releases opens and locks. */
void meta_srv_session_end(struct meta_srv *srv, struct meta_sess *s, int log_it);
void meta_srv_expire_sessions(struct meta_srv *srv, int64_t now_ms);
void meta_srv_close_all(struct meta_srv *srv);
/* Runs the event loop until event_base_loopexit, polling after busy turns. */
void meta_srv_run(struct meta_srv *srv);

/* meta_cs.c */
struct meta_cs *meta_cs_find(struct meta_srv *srv, uint32_t id);
int meta_cs_handle(struct meta_conn *conn, uint16_t type, uint64_t reqid,
		   const uint8_t *payload, size_t len, struct proto_wbuf *out);
void meta_cs_reply(struct meta_conn *conn, struct meta_out_req *req, int32_t status);
void meta_cs_conn_lost(struct meta_conn *conn);
/* BMAP and PLACE replies. */
int meta_cs_bmap(struct meta_srv *srv, const uint8_t *payload, size_t len, struct proto_wbuf *out);
int meta_cs_place(struct meta_srv *srv, const uint8_t *payload, size_t len, struct proto_wbuf *out);
/* Records the holders a COMMIT listed. */
void meta_cs_commit_locs(struct meta_srv *srv, const uint8_t *payload, size_t len);
int meta_cs_report_bad(struct meta_srv *srv, const uint8_t *payload, size_t len);
void meta_cs_statfs(struct meta_srv *srv, struct proto_wbuf *out);
int meta_cs_admin(struct meta_srv *srv, uint16_t type, const uint8_t *payload, size_t len,
		  struct proto_wbuf *out);
/* Periodic: dead servers, repair, trim, drain, GC. */
void meta_cs_tick(struct meta_srv *srv, int64_t now_ms);
void meta_cs_free_all(struct meta_srv *srv);

/* meta_lock.c (the persistent table itself is in meta_lock.h) */
/* LOCK: 0/-errno for an immediate answer, or 1 when the reply is parked
 * (sent later by the lock table itself). */
int meta_lock_lock(struct meta_srv *srv, struct meta_conn *conn, uint64_t reqid,
		   const uint8_t *payload, size_t len);
int meta_lock_getlk(struct meta_srv *srv, struct meta_conn *conn, const uint8_t *payload,
		    size_t len, struct proto_wbuf *out);
/* Releases a session's locks (all, or the flock locks on ino when ino != 0),
 * cancels its waits when ino is 0, and grants what that unblocks. */
void meta_lock_release_session(struct meta_srv *srv, uint64_t session, uint64_t ino);
/* Cancels waits parked on a closing connection. */
void meta_lock_conn_lost(struct meta_srv *srv, struct meta_conn *conn);

#endif
