/* cl_cache: the client block cache.
 *
 * A chained hash table of blocks plus an LRU list; the total of the blocks'
 * lengths never exceeds max_bytes after cl_cache_put returns. Only verified
 * blocks go in (the caller verifies), so a hit can be served without hashing
 * again. One mutex guards everything; copies in and out happen under it,
 * which is fine at memcpy speed next to a network fetch.
 */
#include "client/cl_cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fs/xmalloc.h"

/* 4096 buckets keep chains short for a 256 MiB cache of 64 KiB..1 MiB
 * blocks (at most 4096 entries at the smallest block size). */
#define CL_CACHE_BUCKETS 4096

struct cl_centry {
	struct blk_id id;
	void *base;		/* the allocation data lives in */
	const uint8_t *data;
	uint32_t len;
	int pins;		/* readers replying straight from data */
	int is_evicted;		/* out of the table: freed by the last unpin */
	struct cl_centry *hnext;
	struct cl_centry *prev, *next;	/* LRU: head = most recent */
};

struct cl_cache {
	pthread_mutex_t mu;
	uint64_t max_bytes, bytes, blocks;
	struct cl_centry *buckets[CL_CACHE_BUCKETS];
	struct cl_centry *head, *tail;
};

struct cl_cache *cl_cache_new(uint64_t max_bytes)
{
	struct cl_cache *c = xcalloc(1, sizeof(*c));

	c->max_bytes = max_bytes;
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

void cl_cache_free(struct cl_cache *c)
{
	struct cl_centry *e, *next;

	if (!c)
		return;
	for (e = c->head; e; e = next) {
		next = e->next;
		free(e->base);
		e->base = NULL;
		free(e);
	}
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static struct cl_centry **cache_slot(struct cl_cache *c, const struct blk_id *id)
{
	struct cl_centry **pp = &c->buckets[blk_id_hash64(id) % CL_CACHE_BUCKETS];

	while (*pp && !blk_id_equal(&(*pp)->id, id))
		pp = &(*pp)->hnext;
	return pp;
}

static void lru_unlink(struct cl_cache *c, struct cl_centry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push(struct cl_cache *c, struct cl_centry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

static void cache_evict_one(struct cl_cache *c)
{
	struct cl_centry *e = c->tail, **pp;

	lru_unlink(c, e);
	pp = cache_slot(c, &e->id);
	*pp = e->hnext;
	c->bytes -= e->len;
	c->blocks--;
	if (e->pins) {
		e->is_evicted = 1;
		return;
	}
	free(e->base);
	e->base = NULL;
	free(e);
}

void *cl_cache_pin(struct cl_cache *c, const struct blk_id *id, uint32_t off, uint32_t len,
		   const uint8_t **p, uint32_t *got)
{
	struct cl_centry *e;

	pthread_mutex_lock(&c->mu);
	e = *cache_slot(c, id);
	if (e) {
		uint32_t n = off >= e->len ? 0 : e->len - off;

		*got = n > len ? len : n;
		*p = e->data + (off < e->len ? off : e->len);
		e->pins++;
		lru_unlink(c, e);
		lru_push(c, e);
	}
	pthread_mutex_unlock(&c->mu);
	return e;
}

void cl_cache_unpin(struct cl_cache *c, void *pin)
{
	struct cl_centry *e = pin;
	int is_last;

	pthread_mutex_lock(&c->mu);
	is_last = --e->pins == 0 && e->is_evicted;
	pthread_mutex_unlock(&c->mu);
	if (is_last) {
		free(e->base);
		e->base = NULL;
		free(e);
	}
}

int cl_cache_read(struct cl_cache *c, const struct blk_id *id, uint32_t off, void *out,
		  uint32_t len, uint32_t *got)
{
	struct cl_centry *e;
	int rc = -ENOENT;

	pthread_mutex_lock(&c->mu);
	e = *cache_slot(c, id);
	if (e) {
		uint32_t n = off >= e->len ? 0 : e->len - off;

		if (n > len)
			n = len;
		memcpy(out, e->data + off, n);
		*got = n;
		lru_unlink(c, e);
		lru_push(c, e);
		rc = 0;
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

int cl_cache_has(struct cl_cache *c, const struct blk_id *id)
{
	int has;

	pthread_mutex_lock(&c->mu);
	has = *cache_slot(c, id) != NULL;
	pthread_mutex_unlock(&c->mu);
	return has;
}

void cl_cache_put(struct cl_cache *c, const struct blk_id *id, const void *data, uint32_t len)
{
	void *copy;

	if (len > c->max_bytes)
		return;
	copy = xmalloc(len ? len : 1);
	memcpy(copy, data, len);
	cl_cache_put_own(c, id, copy, copy, len);
}

void cl_cache_put_own(struct cl_cache *c, const struct blk_id *id, void *base, const void *data,
		      uint32_t len)
{
	struct cl_centry *e, **pp;

	if (len > c->max_bytes) {
		free(base);
		return;
	}
	pthread_mutex_lock(&c->mu);
	pp = cache_slot(c, id);
	if (*pp) {
		lru_unlink(c, *pp);
		lru_push(c, *pp);
		pthread_mutex_unlock(&c->mu);
		free(base);
		return;
	}
	while (c->bytes + len > c->max_bytes && c->tail)
		cache_evict_one(c);
	e = xcalloc(1, sizeof(*e));
	e->id = *id;
	e->len = len;
	e->base = base;
	e->data = data;
	pp = cache_slot(c, id);
	e->hnext = *pp;
	*pp = e;
	lru_push(c, e);
	c->bytes += len;
	c->blocks++;
	pthread_mutex_unlock(&c->mu);
}

void cl_cache_usage(struct cl_cache *c, uint64_t *bytes, uint64_t *blocks)
{
	pthread_mutex_lock(&c->mu);
	*bytes = c->bytes;
	*blocks = c->blocks;
	pthread_mutex_unlock(&c->mu);
}
