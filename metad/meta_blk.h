/* The block table: every block id metad knows, with its reference count
 * (persisted through the block maps that hold it), its length, the highest
 * replication goal among the files that reference it, and where its copies
 * are (soft state rebuilt from chunk-server reports). Owned by the event-loop
 * thread. */
#ifndef CASFS_META_BLK_H
#define CASFS_META_BLK_H

#include <stdint.h>

#include "fs/ids.h"
#include "metad/meta_htab.h"

#define META_BLK_REPAIRING 0x1	/* a CS_REPLICATE for it is in flight */

struct meta_block {
	struct blk_id id;
	uint8_t goal;
	uint8_t nloc;
	uint8_t flags;
	uint32_t length;
	uint32_t refs;
	uint32_t *locs;		/* chunk-server ids holding a copy */
	int64_t zero_since_ms;	/* when refs last became 0: GC grace clock */
};

struct meta_blk_table {
	struct meta_htab h;
	int64_t now_ms;		/* set by the owner before changes (GC clock) */
	uint64_t unique_bytes;	/* sum of lengths of referenced blocks */
};

void meta_blk_init(struct meta_blk_table *t);
void meta_blk_free(struct meta_blk_table *t);
struct meta_block *meta_blk_find(const struct meta_blk_table *t, const struct blk_id *id);
/* Finds or creates (with refs 0) the entry for id; a new entry takes length. */
struct meta_block *meta_blk_get(struct meta_blk_table *t, const struct blk_id *id,
				uint32_t length);
/* One more reference from a file whose goal is goal. */
void meta_blk_ref(struct meta_blk_table *t, struct meta_block *b, uint8_t goal);
/* One reference fewer; at zero the GC grace clock starts. */
void meta_blk_unref(struct meta_blk_table *t, struct meta_block *b);
/* Forgets b entirely (frees it). */
void meta_blk_remove(struct meta_blk_table *t, struct meta_block *b);
/* 1 if added, 0 if cs already held it. */
int meta_blk_loc_add(struct meta_block *b, uint32_t cs);
/* 1 if removed, 0 if cs did not hold it. */
int meta_blk_loc_del(struct meta_block *b, uint32_t cs);
int meta_blk_has_loc(const struct meta_block *b, uint32_t cs);

#endif
