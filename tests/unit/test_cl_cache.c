/* Unit tests for the client block cache and the block arithmetic of the
 * data path (no cluster needed). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/cl_cache.h"
#include "client/cl_file.h"
#include "fs/ids.h"

static struct blk_key key;

static void make_block(uint8_t *buf, uint32_t len, uint8_t fill, struct blk_id *id)
{
	memset(buf, fill, len);
	blk_hash(&key, buf, len, id);
}

static void test_cache_hit_and_offset(void **state)
{
	struct cl_cache *c = cl_cache_new(1 << 20);
	uint8_t buf[1000], out[2000];
	struct blk_id id;
	uint32_t got;

	(void)state;
	make_block(buf, sizeof(buf), 7, &id);
	assert_int_equal(cl_cache_read(c, &id, 0, out, 10, &got), -ENOENT);
	cl_cache_put(c, &id, buf, sizeof(buf));
	assert_true(cl_cache_has(c, &id));
	assert_int_equal(cl_cache_read(c, &id, 990, out, 100, &got), 0);
	assert_int_equal(got, 10);	/* clipped to the block */
	assert_int_equal(out[0], 7);
	assert_int_equal(cl_cache_read(c, &id, 5000, out, 100, &got), 0);
	assert_int_equal(got, 0);
	cl_cache_free(c);
}

static void test_cache_evicts_lru(void **state)
{
	struct cl_cache *c = cl_cache_new(3000);
	uint8_t buf[1000], out[10];
	struct blk_id id[4];
	uint64_t bytes, blocks;
	uint32_t got;

	(void)state;
	for (int i = 0; i < 3; i++) {
		make_block(buf, sizeof(buf), (uint8_t)i, &id[i]);
		cl_cache_put(c, &id[i], buf, sizeof(buf));
	}
	/* Touch block 0 so block 1 is the least recently used. */
	assert_int_equal(cl_cache_read(c, &id[0], 0, out, 1, &got), 0);
	make_block(buf, sizeof(buf), 3, &id[3]);
	cl_cache_put(c, &id[3], buf, sizeof(buf));
	assert_true(cl_cache_has(c, &id[0]));
	assert_false(cl_cache_has(c, &id[1]));
	assert_true(cl_cache_has(c, &id[2]));
	assert_true(cl_cache_has(c, &id[3]));
	cl_cache_usage(c, &bytes, &blocks);
	assert_true(bytes <= 3000);
	assert_int_equal(blocks, 3);
	cl_cache_free(c);
}

static void test_cache_disabled_and_oversize(void **state)
{
	struct cl_cache *c = cl_cache_new(0), *d = cl_cache_new(100);
	uint8_t buf[1000];
	struct blk_id id;

	(void)state;
	make_block(buf, sizeof(buf), 1, &id);
	cl_cache_put(c, &id, buf, sizeof(buf));
	cl_cache_put(d, &id, buf, sizeof(buf));
	assert_false(cl_cache_has(c, &id));
	assert_false(cl_cache_has(d, &id));
	cl_cache_free(c);
	cl_cache_free(d);
}

static void test_cache_reput_keeps_one_copy(void **state)
{
	struct cl_cache *c = cl_cache_new(10000);
	uint8_t buf[1000];
	uint64_t bytes, blocks;
	struct blk_id id;

	(void)state;
	make_block(buf, sizeof(buf), 9, &id);
	cl_cache_put(c, &id, buf, sizeof(buf));
	cl_cache_put(c, &id, buf, sizeof(buf));
	cl_cache_usage(c, &bytes, &blocks);
	assert_int_equal(bytes, 1000);
	assert_int_equal(blocks, 1);
	cl_cache_free(c);
}

/* Handed-over buffers: the block may sit inside the allocation; the cache
 * frees the buffer when the block is evicted, when it is already cached,
 * when it is too big and when the cache is disabled (ASan reports a leak
 * or a double free otherwise). */
static void test_cache_put_own(void **state)
{
	struct cl_cache *c = cl_cache_new(2500), *off = cl_cache_new(0);
	uint8_t ref[1000], out[1000];
	struct blk_id id[3];
	uint32_t got;

	(void)state;
	for (int i = 0; i < 3; i++) {
		uint8_t *base = malloc(1100);

		make_block(ref, sizeof(ref), (uint8_t)(i + 20), &id[i]);
		memset(base, 0xEE, 100);		/* a frame header before the block */
		memcpy(base + 100, ref, sizeof(ref));
		cl_cache_put_own(c, &id[i], base, base + 100, sizeof(ref));
	}
	assert_false(cl_cache_has(c, &id[0]));	/* evicted, and freed */
	assert_int_equal(cl_cache_read(c, &id[2], 0, out, sizeof(out), &got), 0);
	assert_int_equal(got, sizeof(out));
	assert_memory_equal(out, ref, sizeof(ref));
	cl_cache_put_own(c, &id[2], malloc(1000), ref, sizeof(ref));	/* already there */
	cl_cache_put_own(c, &id[0], malloc(5000), ref, 5000);		/* too big */
	cl_cache_put_own(off, &id[0], malloc(1000), ref, sizeof(ref));	/* disabled */
	assert_false(cl_cache_has(off, &id[0]));
	cl_cache_free(c);
	cl_cache_free(off);
}

/* A malloc'd block for the cache to take. */
static uint8_t *owned_block(uint8_t fill, uint32_t len, struct blk_id *id)
{
	uint8_t *buf = malloc(len);

	make_block(buf, len, fill, id);
	return buf;
}

/* n fetched blocks of 1000 bytes, filled with fill, fill + 1, ... */
static void put_fetched(struct cl_cache *c, struct blk_id *ids, int n, uint8_t fill)
{
	uint8_t buf[1000];

	for (int i = 0; i < n; i++) {
		make_block(buf, sizeof(buf), (uint8_t)(fill + i), &ids[i]);
		cl_cache_put(c, &ids[i], buf, sizeof(buf));
	}
}

static void put_written(struct cl_cache *c, uint8_t fill, uint32_t len, struct blk_id *id)
{
	cl_cache_put_written(c, id, owned_block(fill, len, id), len);
}

/* Blocks written here hold at most an eighth of the cache until read: a
 * streaming writer evicts its own older blocks, never the fetched ones; a
 * written block that is read joins the others; one larger than the share
 * is not kept (and freed: ASan). */
static void test_cache_written_share(void **state)
{
	struct cl_cache *c = cl_cache_new(8000);	/* written share: 1000 */
	struct blk_id rd[4], wr[6], more[3];
	uint64_t bytes, blocks;
	uint8_t out[10];
	uint32_t got;

	(void)state;
	put_fetched(c, rd, 4, 40);
	for (int i = 0; i < 5; i++)
		put_written(c, (uint8_t)(50 + i), 400, &wr[i]);
	for (int i = 0; i < 4; i++)
		assert_true(cl_cache_has(c, &rd[i]));
	assert_false(cl_cache_has(c, &wr[2]));	/* the writer's own go first */
	assert_true(cl_cache_has(c, &wr[3]));
	assert_true(cl_cache_has(c, &wr[4]));
	cl_cache_usage(c, &bytes, &blocks);
	assert_int_equal(bytes, 4 * 1000 + 2 * 400);

	/* Read, wr[3] is no longer counted in the share and outlives the
	 * next written blocks. */
	assert_int_equal(cl_cache_read(c, &wr[3], 0, out, 1, &got), 0);
	put_written(c, 60, 400, &wr[5]);
	put_written(c, 61, 400, &wr[0]);
	assert_true(cl_cache_has(c, &wr[3]));
	assert_false(cl_cache_has(c, &wr[4]));
	assert_true(cl_cache_has(c, &wr[5]));
	assert_true(cl_cache_has(c, &wr[0]));

	/* Filling the cache with fetched blocks takes unread written ones
	 * before any fetched one: the third needs 200 bytes more than there
	 * are, and the oldest unread written block gives them. */
	put_fetched(c, more, 3, 70);
	assert_false(cl_cache_has(c, &wr[5]));
	assert_true(cl_cache_has(c, &wr[0]));
	for (int i = 0; i < 4; i++)
		assert_true(cl_cache_has(c, &rd[i]));
	assert_true(cl_cache_has(c, &wr[3]));
	cl_cache_usage(c, &bytes, &blocks);
	assert_true(bytes <= 8000);

	put_written(c, 80, 1001, &wr[1]);
	assert_false(cl_cache_has(c, &wr[1]));
	cl_cache_free(c);
}

static void put_ahead(struct cl_cache *c, uint8_t fill, uint32_t len, struct blk_id *id)
{
	uint8_t *buf = owned_block(fill, len, id);

	cl_cache_put_ahead(c, id, buf, buf, len);
}

static void read_all(struct cl_cache *c, const struct blk_id *id, uint32_t len)
{
	uint8_t out[1000];
	uint32_t got;

	/* In two halves, the second first: a reader's READs may arrive in
	 * any order. */
	assert_int_equal(cl_cache_read(c, id, len / 2, out, len - len / 2, &got), 0);
	assert_int_equal(got, len - len / 2);
	assert_int_equal(cl_cache_read(c, id, 0, out, len / 2, &got), 0);
	assert_int_equal(got, len / 2);
}

/* Blocks read ahead hold at most a quarter of the cache: read once (every
 * byte, in any order) they go first, unread ones next; read again they join
 * the main list; one evicted and put again goes to the main list (its id
 * was remembered), so a file read twice ends up cached. */
static void test_cache_ahead_share(void **state)
{
	struct cl_cache *c = cl_cache_new(8000);	/* ahead share: 2000 */
	struct blk_id rd[3], ah[8];

	(void)state;
	put_fetched(c, rd, 3, 90);
	for (int i = 0; i < 4; i++)
		put_ahead(c, (uint8_t)(100 + i), 500, &ah[i]);
	read_all(c, &ah[1], 500);	/* consumed: goes first */
	put_ahead(c, 104, 500, &ah[4]);
	assert_false(cl_cache_has(c, &ah[1]));
	assert_true(cl_cache_has(c, &ah[0]));	/* older, but not read yet */
	for (int i = 0; i < 3; i++)
		assert_true(cl_cache_has(c, &rd[i]));

	/* Read twice: the main list, out of the ahead share. */
	read_all(c, &ah[2], 500);
	read_all(c, &ah[2], 500);
	for (int i = 5; i < 8; i++)
		put_ahead(c, (uint8_t)(100 + i), 500, &ah[i]);
	assert_true(cl_cache_has(c, &ah[2]));
	assert_false(cl_cache_has(c, &ah[0]));	/* the oldest unread */

	/* ah[1] left unpromoted: put again, it goes to the main list and a
	 * flood of read-ahead does not move it. */
	put_ahead(c, 101, 500, &ah[1]);
	for (int i = 0; i < 8; i++) {
		struct blk_id id;

		put_ahead(c, (uint8_t)(120 + i), 500, &id);
	}
	assert_true(cl_cache_has(c, &ah[1]));
	assert_true(cl_cache_has(c, &ah[2]));
	for (int i = 0; i < 3; i++)
		assert_true(cl_cache_has(c, &rd[i]));
	cl_cache_free(c);
}

/* A pinned block's bytes stay readable after the block is evicted, and
 * are freed by the last unpin (ASan reports a use after free or a leak
 * otherwise). */
static void test_cache_pin(void **state)
{
	struct cl_cache *c = cl_cache_new(2000);
	uint8_t buf[1000];
	const uint8_t *p, *q;
	struct blk_id id[3];
	uint32_t got;
	void *pin, *pin2;

	(void)state;
	make_block(buf, sizeof(buf), 5, &id[0]);
	cl_cache_put(c, &id[0], buf, sizeof(buf));
	assert_null(cl_cache_pin(c, &id[1], 0, 10, &p, &got));
	pin = cl_cache_pin(c, &id[0], 900, 500, &p, &got);
	assert_non_null(pin);
	assert_int_equal(got, 100);		/* clipped to the block */
	assert_int_equal(p[99], 5);
	pin2 = cl_cache_pin(c, &id[0], 0, 1000, &q, &got);
	assert_int_equal(got, 1000);
	for (int i = 1; i < 3; i++) {		/* push block 0 out */
		make_block(buf, sizeof(buf), (uint8_t)(i + 5), &id[i]);
		cl_cache_put(c, &id[i], buf, sizeof(buf));
	}
	assert_false(cl_cache_has(c, &id[0]));
	assert_int_equal(p[0], 5);		/* still readable while pinned */
	cl_cache_unpin(c, pin);
	assert_int_equal(q[999], 5);
	cl_cache_unpin(c, pin2);		/* the last pin frees it */
	pin = cl_cache_pin(c, &id[2], 0, 1000, &p, &got);
	cl_cache_unpin(c, pin);			/* a cached block stays */
	assert_true(cl_cache_has(c, &id[2]));
	cl_cache_free(c);
}

static void test_block_len(void **state)
{
	const uint32_t bs = 65536;

	(void)state;
	assert_int_equal(cl_file_block_len(0, bs, 0), 0);
	assert_int_equal(cl_file_block_len(100, bs, 0), 100);
	assert_int_equal(cl_file_block_len(bs, bs, 0), bs);
	assert_int_equal(cl_file_block_len(bs, bs, 1), 0);
	assert_int_equal(cl_file_block_len(bs + 1, bs, 1), 1);
	assert_int_equal(cl_file_block_len(4ull << 30, bs, (4ull << 30) / bs - 1), bs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache_hit_and_offset),
		cmocka_unit_test(test_cache_evicts_lru),
		cmocka_unit_test(test_cache_disabled_and_oversize),
		cmocka_unit_test(test_cache_reput_keeps_one_copy),
		cmocka_unit_test(test_cache_put_own),
		cmocka_unit_test(test_cache_pin),
		cmocka_unit_test(test_cache_written_share),
		cmocka_unit_test(test_cache_ahead_share),
		cmocka_unit_test(test_block_len),
	};

	blk_key_init(&key, "unit-test-seed", 14);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
