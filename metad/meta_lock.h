/* The held-lock table (flock and POSIX byte ranges) as persistent state:
 * grants and unlocks are changelog records (META_REC_LOCK), a session's
 * flocks dropped at its last RELEASE are META_REC_LOCK_DROP, and the table
 * is part of every checkpoint, so locks survive a metad restart with the
 * sessions that hold them. Waiting requests are live-only (meta_int.h).
 * Owned by the event-loop thread. */
#ifndef CASFS_META_LOCK_H
#define CASFS_META_LOCK_H

#include <stdint.h>

struct meta_lock_table;

struct meta_lk_rec {
	uint64_t ino, session, owner, start, end;
	uint32_t pid;
	uint8_t kind, type;	/* MSG_LOCK_FLOCK/POSIX; READ, WRITE or UNLOCK */
};

struct meta_lock_table *meta_lock_new(void);
void meta_lock_free(struct meta_lock_table *t);
/* Applies a grant (READ/WRITE: replaces the owner's range) or an UNLOCK,
 * without conflict checks: for replay and checkpoint loading. */
void meta_lock_apply(struct meta_lock_table *t, const struct meta_lk_rec *r);
/* Drops the held locks of session (every one when ino is 0, else its flock
 * locks on ino). Returns how many went. */
int meta_lock_drop(struct meta_lock_table *t, uint64_t session, uint64_t ino);
/* Calls fn for every held lock. */
void meta_lock_foreach(const struct meta_lock_table *t,
		       void (*fn)(void *ud, const struct meta_lk_rec *r), void *ud);

#endif
