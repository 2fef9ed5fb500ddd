/* Namespace request execution, shared by the live server and changelog
 * replay: the same payload, the same session and the same "now" give the
 * same result and the same state, which is what makes replay exact. Owned by
 * the event-loop thread (and by start-up replay before the loop runs). */
#ifndef CASFS_META_EXEC_H
#define CASFS_META_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include "fs/attr.h"
#include "fs/proto.h"
#include "metad/meta_log.h"
#include "metad/meta_ns.h"
#include "metad/meta_sess.h"

struct meta_lock_table;

struct meta_exec {
	struct meta_ns *ns;
	struct meta_sessions *ss;
	struct meta_lock_table *locks;	/* may be NULL (no lock state) */
	struct meta_sess *sess;		/* the caller's session */
	struct casfs_time now;
};

/* 1 for the message types that can change state and are logged. */
int meta_exec_is_mutation(uint16_t type);
/* 1 for the namespace types meta_exec_run handles. */
int meta_exec_handles(uint16_t type);
/* Runs one request whose payload passed msg_check(). Returns its status; on
 * success the reply fields (after the status) are appended to out when out
 * is not NULL. *mutated is set when state changed (the caller logs it);
 * *result receives what a re-sent request needs to rebuild the reply. */
int meta_exec_run(struct meta_exec *x, uint16_t type, const uint8_t *payload, size_t len,
		  struct proto_wbuf *out, int *mutated, uint64_t *result);
/* Rebuilds the reply fields of an already applied request from its result. */
void meta_exec_replay_reply(struct meta_exec *x, uint16_t type, uint64_t result,
			    struct proto_wbuf *out);
/* Applies one changelog record (replay, or a standby following the log):
 * session records, chunk-server id records and logged mutations. x->ns and
 * x->ss must be set; x->sess and x->now are filled in from the record.
 * -EBADMSG for a malformed record, -ESTALE for an unknown session. A
 * mutation that fails again on replay is logged and skipped. */
int meta_exec_apply_record(struct meta_exec *x, const struct meta_rec *rec, uint32_t *next_cs_id);
/* Ends sess: releases its opens (unlinked inodes die) and frees it. */
void meta_exec_session_end(struct meta_exec *x, struct meta_sess *sess);

#endif
