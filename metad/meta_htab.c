/* meta_htab: see meta_htab.h. Linear probing keeps lookups to one or two
 * cache lines; deletion shifts later members of the probe run back instead
 * of leaving tombstones, so a table that churns (create/unlink) never fills
 * with dead slots. */
#include "metad/meta_htab.h"

#include <errno.h>
#include <stdlib.h>

#include "fs/xmalloc.h"

void meta_htab_init(struct meta_htab *h, meta_htab_hash_fn hash)
{
	h->slots = NULL;
	h->cap = 0;
	h->n = 0;
	h->hash = hash;
}

void meta_htab_free(struct meta_htab *h)
{
	free(h->slots), h->slots = NULL;
	h->cap = 0;
	h->n = 0;
}

uint64_t meta_htab_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

void *meta_htab_find(const struct meta_htab *h, uint64_t hash, meta_htab_match_fn match,
		     const void *key)
{
	uint32_t mask, i;

	if (!h->cap)
		return NULL;
	mask = h->cap - 1;
	for (i = (uint32_t)hash & mask; h->slots[i]; i = (i + 1) & mask)
		if (match(h->slots[i], key))
			return h->slots[i];
	return NULL;
}

static void htab_put(void **slots, uint32_t mask, uint64_t hash, void *elem)
{
	uint32_t i = (uint32_t)hash & mask;

	while (slots[i])
		i = (i + 1) & mask;
	slots[i] = elem;
}

static void htab_resize(struct meta_htab *h, uint32_t ncap)
{
	void **ns = xcalloc(ncap, sizeof(void *));

	for (uint32_t i = 0; i < h->cap; i++)
		if (h->slots[i])
			htab_put(ns, ncap - 1, h->hash(h->slots[i]), h->slots[i]);
	free(h->slots), h->slots = ns;
	h->cap = ncap;
}

/* 0.7 maximum load: probe runs stay short (about 2 probes per miss) while
 * slots cost about 11 bytes per element on average. */
static int htab_fits(uint32_t cap, uint32_t n)
{
	return (uint64_t)n * 10 <= (uint64_t)cap * 7;
}

void meta_htab_reserve(struct meta_htab *h, uint32_t n)
{
	uint32_t ncap = h->cap ? h->cap : 16;

	while (!htab_fits(ncap, n) && ncap < (1u << 31))
		ncap *= 2;
	if (ncap != h->cap)
		htab_resize(h, ncap);
}

void meta_htab_insert(struct meta_htab *h, void *elem)
{
	if (!htab_fits(h->cap, h->n + 1))
		htab_resize(h, h->cap ? h->cap * 2 : 16);
	htab_put(h->slots, h->cap - 1, h->hash(elem), elem);
	h->n++;
}

int meta_htab_remove(struct meta_htab *h, const void *elem)
{
	uint32_t mask, i, j;

	if (!h->cap)
		return -ENOENT;
	mask = h->cap - 1;
	for (i = (uint32_t)h->hash(elem) & mask; h->slots[i] != elem; i = (i + 1) & mask)
		if (!h->slots[i])
			return -ENOENT;
	h->slots[i] = NULL;
	h->n--;
	/* Backward shift: move later members of the run into the hole when
	 * their home slot is at or before it (cyclically). */
	for (j = (i + 1) & mask; h->slots[j]; j = (j + 1) & mask) {
		uint32_t home = (uint32_t)h->hash(h->slots[j]) & mask;

		if (((j - home) & mask) >= ((j - i) & mask)) {
			h->slots[i] = h->slots[j];
			h->slots[j] = NULL;
			i = j;
		}
	}
	return 0;
}
