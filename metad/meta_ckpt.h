/* Checkpoints: the whole persistent state (namespace, block maps, sessions
 * with their opens and recent outcomes, held locks, id counters) in one checksummed file
 * DIR/checkpoint.<segno>, meaning "the state before changelog.<segno>".
 * Written by a forked child (copy-on-write: no pause, no doubled memory) to
 * a temp file, fsynced and renamed; loaded at start-up before replay. */
#ifndef CASFS_META_CKPT_H
#define CASFS_META_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "metad/meta_lock.h"
#include "metad/meta_ns.h"
#include "metad/meta_sess.h"

#define META_CKPT_MAGIC "CASFSCK1"
#define META_CKPT_VERSION 1

struct meta_ckpt_state {
	struct meta_ns *ns;
	struct meta_sessions *ss;
	uint64_t segno;		/* changelog segment that follows this state */
	uint64_t last_seq;	/* last changelog record included */
	uint32_t next_cs_id;
	struct meta_lock_table *locks;	/* held locks; NULL = none kept */
};

/* Writes DIR/checkpoint.<st->segno> atomically. 0 or -errno. */
int meta_ckpt_write(const char *dir, const struct meta_ckpt_state *st);
/* Loads the newest valid checkpoint into st (a new namespace and session
 * table; st->ss must be initialised and empty). -ENOENT if there is none;
 * other errors are described in err. */
int meta_ckpt_load(const char *dir, uint8_t default_goal, uint32_t default_block_size,
		   int64_t now_ms, struct meta_ckpt_state *st, char *err, size_t errlen);
/* Removes checkpoints older than segno and stale temp files. */
void meta_ckpt_remove_before(const char *dir, uint64_t segno);

#endif
