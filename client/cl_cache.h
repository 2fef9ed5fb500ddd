/* cl_cache: a bounded cache of verified blocks, keyed by block id, that
 * streams cannot flush (see cl_cache.c). Blocks are immutable and
 * content-addressed, so an entry never goes stale. */
#ifndef CASFS_CL_CACHE_H
#define CASFS_CL_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "fs/ids.h"

struct cl_cache;

/* max_bytes = 0 disables caching (every lookup misses). */
struct cl_cache *cl_cache_new(uint64_t max_bytes);
void cl_cache_free(struct cl_cache *c);

/* Copies bytes [off, off + len) of the cached block id into out, clipped to
 * the block's length; *got receives the count. 0, or -ENOENT when the block
 * is not cached. */
int cl_cache_read(struct cl_cache *c, const struct blk_id *id, uint32_t off, void *out,
		  uint32_t len, uint32_t *got);
/* Reads without a copy: *p points at bytes [off, off + *got) of the cached
 * block id (*got clipped to the block, at most len). Returns a pin to give
 * back with cl_cache_unpin, or NULL when the block is not cached. The bytes
 * stay valid until then, even if the block is evicted meanwhile. */
void *cl_cache_pin(struct cl_cache *c, const struct blk_id *id, uint32_t off, uint32_t len,
		   const uint8_t **p, uint32_t *got);
void cl_cache_unpin(struct cl_cache *c, void *pin);
/* Whether id is cached (no LRU update). */
int cl_cache_has(struct cl_cache *c, const struct blk_id *id);
/* Inserts a copy of data (already verified against id), evicting the least
 * recently used blocks to stay within the bound. */
void cl_cache_put(struct cl_cache *c, const struct blk_id *id, const void *data, uint32_t len);
/* The same without a copy: the cache takes base (a malloc'd buffer holding
 * data somewhere inside it) and frees it when the block leaves, or at once
 * when the block is not kept. Saves a 1 MiB copy per fetched or written
 * block. */
void cl_cache_put_own(struct cl_cache *c, const struct blk_id *id, void *base, const void *data,
		      uint32_t len);
/* A block this mount wrote, in base (malloc'd, taken like put_own): kept on
 * the written list, within an eighth of max_bytes, until it is read. */
void cl_cache_put_written(struct cl_cache *c, const struct blk_id *id, void *base, uint32_t len);
/* A block read ahead for a sequential reader (taken like put_own): kept on
 * the ahead list, within a quarter of max_bytes, until it is read again. */
void cl_cache_put_ahead(struct cl_cache *c, const struct blk_id *id, void *base, const void *data,
			uint32_t len);
/* Bytes and blocks currently held. */
void cl_cache_usage(struct cl_cache *c, uint64_t *bytes, uint64_t *blocks);

#endif
