/* cl_cache: the client block cache.
 *
 * A chained hash table of blocks plus two LRU lists; the total of the
 * blocks' lengths never exceeds max_bytes after a put returns. Only verified
 * blocks go in (the caller verifies), so a hit can be served without hashing
 * again. One mutex guards everything; copies in and out happen under it,
 * which is fine at memcpy speed next to a network fetch.
 *
 * Blocks this mount wrote whole sit on their own list, held to an eighth of
 * the cache until something reads them; a read moves them to the main list.
 * A streaming writer (cp of a large file, a backup) used to fill the whole
 * cache with blocks nobody reads again, evicting the readers' blocks and,
 * in a fresh mount, growing the heap by the whole cache: on this VM the
 * kernel zeroing those pages cost a first 512 MiB write through a new mount
 * a third of its speed. Now such a writer cycles through an eighth of the
 * cache, while a rewrite soon after (a database updating the block it just
 * wrote) still finds it.
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
/* Written blocks not yet read may hold 1 / CL_CACHE_WRITTEN_SHARE of it. */
#define CL_CACHE_WRITTEN_SHARE 8

struct cl_centry {
	struct blk_id id;
	void *base;		/* the allocation data lives in */
	const uint8_t *data;
	uint32_t len;
	int pins;		/* readers replying straight from data */
	int is_evicted;		/* out of the table: freed by the last unpin */
	int is_written;		/* on the written list: written here, not read since */
	struct cl_centry *hnext;
	struct cl_centry *prev, *next;	/* LRU: head = most recent */
};

struct cl_lru {
	struct cl_centry *head, *tail;
};

struct cl_cache {
	pthread_mutex_t mu;
	uint64_t max_bytes, bytes, blocks;
	uint64_t written_max, written_bytes;
	struct cl_centry *buckets[CL_CACHE_BUCKETS];
	struct cl_lru main, written;
};

struct cl_cache *cl_cache_new(uint64_t max_bytes)
{
	struct cl_cache *c = xcalloc(1, sizeof(*c));

	c->max_bytes = max_bytes;
	c->written_max = max_bytes / CL_CACHE_WRITTEN_SHARE;
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

static void lru_free_all(struct cl_lru *l)
{
	struct cl_centry *e, *next;

	for (e = l->head; e; e = next) {
		next = e->next;
		free(e->base);
		e->base = NULL;
		free(e);
	}
	l->head = l->tail = NULL;
}

void cl_cache_free(struct cl_cache *c)
{
	if (!c)
		return;
	lru_free_all(&c->main);
	lru_free_all(&c->written);
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

static struct cl_lru *lru_of(struct cl_cache *c, struct cl_centry *e)
{
	return e->is_written ? &c->written : &c->main;
}

static void lru_unlink(struct cl_cache *c, struct cl_centry *e)
{
	struct cl_lru *l = lru_of(c, e);

	if (e->prev)
		e->prev->next = e->next;
	else
		l->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		l->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push(struct cl_cache *c, struct cl_centry *e)
{
	struct cl_lru *l = lru_of(c, e);

	e->prev = NULL;
	e->next = l->head;
	if (l->head)
		l->head->prev = e;
	l->head = e;
	if (!l->tail)
		l->tail = e;
}

/* A hit: most recent on the main list, whichever list e was on. */
static void lru_touch(struct cl_cache *c, struct cl_centry *e)
{
	lru_unlink(c, e);
	if (e->is_written) {
		e->is_written = 0;
		c->written_bytes -= e->len;
	}
	lru_push(c, e);
}

static void cache_evict(struct cl_cache *c, struct cl_centry *e)
{
	struct cl_centry **pp;

	lru_unlink(c, e);
	pp = cache_slot(c, &e->id);
	*pp = e->hnext;
	c->bytes -= e->len;
	c->blocks--;
	if (e->is_written)
		c->written_bytes -= e->len;
	if (e->pins) {
		e->is_evicted = 1;
		return;
	}
	free(e->base);
	e->base = NULL;
	free(e);
}

/* Makes room for len more bytes (len more written ones when is_written):
 * unread written blocks go first, they are the least likely to be read. */
static void cache_make_room(struct cl_cache *c, uint32_t len, int is_written)
{
	while (is_written && c->written_bytes + len > c->written_max && c->written.tail)
		cache_evict(c, c->written.tail);
	while (c->bytes + len > c->max_bytes && (c->written.tail || c->main.tail))
		cache_evict(c, c->written.tail ? c->written.tail : c->main.tail);
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
		lru_touch(c, e);
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
		lru_touch(c, e);
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

static void cache_insert(struct cl_cache *c, const struct blk_id *id, void *base,
			 const void *data, uint32_t len, int is_written)
{
	uint64_t max = is_written ? c->written_max : c->max_bytes;
	struct cl_centry *e, **pp;

	if (len > max) {
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
	cache_make_room(c, len, is_written);
	e = xcalloc(1, sizeof(*e));
	e->id = *id;
	e->len = len;
	e->base = base;
	e->data = data;
	e->is_written = is_written;
	pp = cache_slot(c, id);
	e->hnext = *pp;
	*pp = e;
	lru_push(c, e);
	c->bytes += len;
	c->blocks++;
	if (is_written)
		c->written_bytes += len;
	pthread_mutex_unlock(&c->mu);
}

void cl_cache_put_own(struct cl_cache *c, const struct blk_id *id, void *base, const void *data,
		      uint32_t len)
{
	cache_insert(c, id, base, data, len, 0);
}

void cl_cache_put_written(struct cl_cache *c, const struct blk_id *id, void *base, uint32_t len)
{
	cache_insert(c, id, base, base, len, 1);
}

void cl_cache_usage(struct cl_cache *c, uint64_t *bytes, uint64_t *blocks)
{
	pthread_mutex_lock(&c->mu);
	*bytes = c->bytes;
	*blocks = c->blocks;
	pthread_mutex_unlock(&c->mu);
}
