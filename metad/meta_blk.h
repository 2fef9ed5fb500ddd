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

/* The largest block any component stores (chunkd and COMMIT refuse more). */
#define META_BLK_MAX_LEN (8u << 20)

struct meta_block {
	struct blk_id id;
	uint8_t goal;
	uint8_t nloc;
	uint8_t flags;
	uint8_t nver;		/* locs[0..nver) are verified copies */
	uint32_t length;
	uint32_t refs;
	/* Chunk-server ids holding a copy, most established first: verified
	 * copies (a PUT ack chain in a COMMIT, a CS_REPLICATE the target
	 * verified) in the order they were verified, then bare claims
	 * (inventories, CS_ADDED) in the order they arrived. Trimming takes
	 * from the end. */
	uint32_t *locs;
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
/* Appends cs as an unverified copy: 1 if added, 0 if cs already held it. */
int meta_blk_loc_add(struct meta_block *b, uint32_t cs);
/* Records a verified copy on cs (adding it if needed, else moving it up to
 * the end of the verified ones): 1 if the location is new. */
int meta_blk_loc_verify(struct meta_block *b, uint32_t cs);
int meta_blk_loc_is_verified(const struct meta_block *b, uint32_t cs);
/* 1 if removed, 0 if cs did not hold it; keeps the order of the rest. */
int meta_blk_loc_del(struct meta_block *b, uint32_t cs);
int meta_blk_has_loc(const struct meta_block *b, uint32_t cs);

#endif
