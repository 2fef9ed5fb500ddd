/* meta_blk: the block table (see meta_blk.h). Entries with zero references
 * stay until the garbage collector has deleted their copies, so a block
 * unreferenced and committed again within the grace period is simply
 * referenced again. Owned by the event-loop thread. */
#include "metad/meta_blk.h"

#include <stdlib.h>
#include <string.h>

#include "fs/xmalloc.h"

static uint64_t blk_elem_hash(const void *e)
{
	return blk_id_hash64(&((const struct meta_block *)e)->id);
}

static int blk_match(const void *e, const void *key)
{
	return blk_id_equal(&((const struct meta_block *)e)->id, key);
}

void meta_blk_init(struct meta_blk_table *t)
{
	meta_htab_init(&t->h, blk_elem_hash);
	t->now_ms = 0;
	t->unique_bytes = 0;
}

void meta_blk_free(struct meta_blk_table *t)
{
	for (uint32_t i = 0; i < t->h.cap; i++) {
		struct meta_block *b = t->h.slots[i];

		if (b) {
			free(b->locs), b->locs = NULL;
			free(b);
		}
	}
	meta_htab_free(&t->h);
}

struct meta_block *meta_blk_find(const struct meta_blk_table *t, const struct blk_id *id)
{
	return meta_htab_find(&t->h, blk_id_hash64(id), blk_match, id);
}

struct meta_block *meta_blk_get(struct meta_blk_table *t, const struct blk_id *id,
				uint32_t length)
{
	struct meta_block *b = meta_blk_find(t, id);

	if (b)
		return b;
	b = xcalloc(1, sizeof(*b));
	b->id = *id;
	b->length = length;
	b->zero_since_ms = t->now_ms;
	meta_htab_insert(&t->h, b);
	return b;
}

void meta_blk_ref(struct meta_blk_table *t, struct meta_block *b, uint8_t goal)
{
	if (b->refs++ == 0)
		t->unique_bytes += b->length;
	if (goal > b->goal)
		b->goal = goal;
}

void meta_blk_unref(struct meta_blk_table *t, struct meta_block *b)
{
	if (b->refs && --b->refs == 0) {
		t->unique_bytes -= b->length;
		b->zero_since_ms = t->now_ms;
	}
}

void meta_blk_remove(struct meta_blk_table *t, struct meta_block *b)
{
	if (b->refs)
		t->unique_bytes -= b->length;
	meta_htab_remove(&t->h, b);
	free(b->locs), b->locs = NULL;
	free(b);
}

static int loc_index(const struct meta_block *b, uint32_t cs)
{
	for (unsigned i = 0; i < b->nloc; i++)
		if (b->locs[i] == cs)
			return (int)i;
	return -1;
}

int meta_blk_has_loc(const struct meta_block *b, uint32_t cs)
{
	return loc_index(b, cs) >= 0;
}

int meta_blk_loc_is_verified(const struct meta_block *b, uint32_t cs)
{
	int i = loc_index(b, cs);

	return i >= 0 && i < b->nver;
}

int meta_blk_loc_add(struct meta_block *b, uint32_t cs)
{
	if (meta_blk_has_loc(b, cs) || b->nloc == UINT8_MAX)
		return 0;
	b->locs = xrealloc(b->locs, (b->nloc + 1u) * sizeof(uint32_t));
	b->locs[b->nloc++] = cs;
	return 1;
}

int meta_blk_loc_verify(struct meta_block *b, uint32_t cs)
{
	int i = loc_index(b, cs), added = 0;

	if (i >= 0 && i < b->nver)
		return 0;
	if (i < 0) {
		if (!meta_blk_loc_add(b, cs))
			return 0;
		i = b->nloc - 1;
		added = 1;
	}
	/* Move it from the unverified tail to the end of the verified head. */
	memmove(b->locs + b->nver + 1, b->locs + b->nver, ((size_t)i - b->nver) * sizeof(uint32_t));
	b->locs[b->nver++] = cs;
	return added;
}

int meta_blk_loc_del(struct meta_block *b, uint32_t cs)
{
	int i = loc_index(b, cs);

	if (i < 0)
		return 0;
	if (i < b->nver)
		b->nver--;
	memmove(b->locs + i, b->locs + i + 1, ((size_t)b->nloc - (size_t)i - 1) * sizeof(uint32_t));
	if (!--b->nloc)
		free(b->locs), b->locs = NULL;
	return 1;
}
