/* cl_cache: the client block cache.
 *
 * A chained hash table of blocks plus three LRU lists; the total of the
 * blocks' lengths never exceeds max_bytes after a put returns. Only verified
 * blocks go in (the caller verifies), so a hit can be served without hashing
 * again. One mutex guards everything; copies in and out happen under it,
 * which is fine at memcpy speed next to a network fetch.
 *
 * Streams must not flush the cache. A block written whole here, or read
 * ahead for a sequential reader, is not yet known to be wanted again: it
 * waits on a list of its own (written: an eighth of the cache; ahead: a
 * quarter) and joins the main list only when it is read (a written block)
 * or read again (a block read ahead, once its reader has had every byte).
 * Without this a large cp, backup or sequential read filled the whole cache
 * with blocks nobody read twice, evicting the blocks random readers use
 * and, in a fresh mount, growing the heap by the whole cache: on this VM
 * the kernel zeroing those pages cost a first 512 MiB write through a new
 * mount a third of its speed and a cold read a fifth.
 *
 * A file read twice must still end up cached: a block leaving the written
 * or ahead list unpromoted leaves its id in a small ghost table, and a block
 * put again while its id is there goes to the main list (the scheme of 2Q).
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
/* The written list may hold 1/8 of the cache, the ahead list 1/4: eight
 * sequential readers' read-ahead (8 blocks each) before one evicts
 * another's unread blocks. */
#define CL_CACHE_WRITTEN_SHARE 8
#define CL_CACHE_AHEAD_SHARE 4
/* Ghost slots per MiB of cache: ids of twice the blocks of 1 MiB the
 * cache holds, at 17 bytes each (8.5 KiB for 256 MiB). */
#define CL_CACHE_GHOSTS_PER_MIB 2

enum cl_clist { CL_MAIN, CL_WRITTEN, CL_AHEAD, CL_NLISTS };

struct cl_centry {
	struct blk_id id;
	void *base;		/* the allocation data lives in */
	const uint8_t *data;
	uint32_t len;
	uint32_t served;	/* bytes read from it while on the ahead list */
	enum cl_clist list;
	int pins;		/* readers replying straight from data */
	int is_evicted;		/* out of the table: freed by the last unpin */
	struct cl_centry *hnext;
	struct cl_centry *prev, *next;	/* LRU: head = most recent */
};

struct cl_lru {
	struct cl_centry *head, *tail;
	uint64_t bytes, max;
};

struct cl_ghost {
	struct blk_id id;
	uint8_t is_set;
};

struct cl_cache {
	pthread_mutex_t mu;
	uint64_t max_bytes, bytes, blocks;
	struct cl_centry *buckets[CL_CACHE_BUCKETS];
	struct cl_lru lists[CL_NLISTS];
	struct cl_ghost *ghosts;	/* direct-mapped by the id's hash */
	size_t nghosts;
};

struct cl_cache *cl_cache_new(uint64_t max_bytes)
{
	struct cl_cache *c = xcalloc(1, sizeof(*c));

	c->max_bytes = max_bytes;
	c->lists[CL_MAIN].max = max_bytes;
	c->lists[CL_WRITTEN].max = max_bytes / CL_CACHE_WRITTEN_SHARE;
	c->lists[CL_AHEAD].max = max_bytes / CL_CACHE_AHEAD_SHARE;
	c->nghosts = (size_t)(max_bytes >> 20) * CL_CACHE_GHOSTS_PER_MIB + 64;
	c->ghosts = xcalloc(c->nghosts, sizeof(*c->ghosts));
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

void cl_cache_free(struct cl_cache *c)
{
	struct cl_centry *e, *next;

	if (!c)
		return;
	for (int l = 0; l < CL_NLISTS; l++) {
		for (e = c->lists[l].head; e; e = next) {
			next = e->next;
			free(e->base);
			e->base = NULL;
			free(e);
		}
	}
	free(c->ghosts);
	c->ghosts = NULL;
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

static struct cl_ghost *ghost_slot(struct cl_cache *c, const struct blk_id *id)
{
	return &c->ghosts[blk_id_hash64(id) % c->nghosts];
}

/* Whether id left the written or ahead list lately (and forgets it). */
static int ghost_take(struct cl_cache *c, const struct blk_id *id)
{
	struct cl_ghost *g = ghost_slot(c, id);

	if (!g->is_set || !blk_id_equal(&g->id, id))
		return 0;
	g->is_set = 0;
	return 1;
}

static void lru_unlink(struct cl_cache *c, struct cl_centry *e)
{
	struct cl_lru *l = &c->lists[e->list];

	if (e->prev)
		e->prev->next = e->next;
	else
		l->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		l->tail = e->prev;
	e->prev = e->next = NULL;
	l->bytes -= e->len;
}

static void lru_push(struct cl_cache *c, struct cl_centry *e, enum cl_clist to)
{
	struct cl_lru *l = &c->lists[to];

	e->list = to;
	e->prev = NULL;
	e->next = l->head;
	if (l->head)
		l->head->prev = e;
	l->head = e;
	if (!l->tail)
		l->tail = e;
	l->bytes += e->len;
}

/* Least recent end: a block read ahead whose reader has had it all. */
static void lru_push_tail(struct cl_cache *c, struct cl_centry *e)
{
	struct cl_lru *l = &c->lists[e->list];

	e->next = NULL;
	e->prev = l->tail;
	if (l->tail)
		l->tail->next = e;
	l->tail = e;
	if (!l->head)
		l->head = e;
	l->bytes += e->len;
}

/* A read of got bytes of e: see the top comment for where it moves. */
static void lru_hit(struct cl_cache *c, struct cl_centry *e, uint32_t got)
{
	lru_unlink(c, e);
	if (e->list == CL_AHEAD) {
		e->served += got;
		if (e->served == e->len && got) {
			lru_push_tail(c, e);
			return;
		}
		if (e->served < e->len) {
			lru_push(c, e, CL_AHEAD);
			return;
		}
	}
	lru_push(c, e, CL_MAIN);
}

static void cache_evict(struct cl_cache *c, struct cl_centry *e)
{
	struct cl_centry **pp;

	if (e->list != CL_MAIN) {
		struct cl_ghost *g = ghost_slot(c, &e->id);

		g->id = e->id;
		g->is_set = 1;
	}
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

/* Makes room for len more bytes on list to: first within that list's
 * share, then within the whole cache, taking unread written blocks first,
 * then the least recent of the main list; blocks read ahead and not yet
 * read go last, their readers are about to want them. */
static void cache_make_room(struct cl_cache *c, uint32_t len, enum cl_clist to)
{
	static const enum cl_clist order[] = { CL_WRITTEN, CL_MAIN, CL_AHEAD };
	struct cl_lru *l = &c->lists[to];

	while (to != CL_MAIN && l->bytes + len > l->max && l->tail)
		cache_evict(c, l->tail);
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		while (c->bytes + len > c->max_bytes && c->lists[order[i]].tail)
			cache_evict(c, c->lists[order[i]].tail);
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
		lru_hit(c, e, *got);
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
		lru_hit(c, e, n);
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
			 const void *data, uint32_t len, enum cl_clist to)
{
	struct cl_centry *e, **pp;

	pthread_mutex_lock(&c->mu);
	pp = cache_slot(c, id);
	if (*pp) {
		e = *pp;
		lru_unlink(c, e);
		lru_push(c, e, e->list);
		pthread_mutex_unlock(&c->mu);
		free(base);
		return;
	}
	if (to != CL_MAIN && ghost_take(c, id))
		to = CL_MAIN;
	if (len > c->lists[to].max) {
		pthread_mutex_unlock(&c->mu);
		free(base);
		return;
	}
	cache_make_room(c, len, to);
	e = xcalloc(1, sizeof(*e));
	e->id = *id;
	e->len = len;
	e->base = base;
	e->data = data;
	pp = cache_slot(c, id);
	e->hnext = *pp;
	*pp = e;
	lru_push(c, e, to);
	c->bytes += len;
	c->blocks++;
	pthread_mutex_unlock(&c->mu);
}

void cl_cache_put_own(struct cl_cache *c, const struct blk_id *id, void *base, const void *data,
		      uint32_t len)
{
	cache_insert(c, id, base, data, len, CL_MAIN);
}

void cl_cache_put_written(struct cl_cache *c, const struct blk_id *id, void *base, uint32_t len)
{
	cache_insert(c, id, base, base, len, CL_WRITTEN);
}

void cl_cache_put_ahead(struct cl_cache *c, const struct blk_id *id, void *base, const void *data,
			uint32_t len)
{
	cache_insert(c, id, base, data, len, CL_AHEAD);
}

void cl_cache_usage(struct cl_cache *c, uint64_t *bytes, uint64_t *blocks)
{
	pthread_mutex_lock(&c->mu);
	*bytes = c->bytes;
	*blocks = c->blocks;
	pthread_mutex_unlock(&c->mu);
}
