/* The block table's location list, which trimming relies on: verified
 * copies (PUT ack chain, verified CS_REPLICATE) stay ahead of bare claims
 * (inventories, CS_ADDED), each group in arrival order, so the last entry
 * is always the least established copy; removal keeps that order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "metad/meta_blk.h"

static void expect_locs(const struct meta_block *b, uint8_t nver, const uint32_t *want,
			unsigned n)
{
	assert_int_equal(b->nloc, n);
	assert_int_equal(b->nver, nver);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(b->locs[i], want[i]);
}

static void test_verified_ahead_of_claims(void **state)
{
	struct meta_blk_table t;
	struct blk_id id;
	struct meta_block *b;

	(void)state;
	memset(&id, 0, sizeof(id));
	id.alg = 1;
	id.hash[0] = 1;
	meta_blk_init(&t);
	b = meta_blk_get(&t, &id, 4096);
	/* servers 1 and 2 list it at start-up, the writer's chain was 2, 3 */
	assert_int_equal(meta_blk_loc_add(b, 1), 1);
	assert_int_equal(meta_blk_loc_add(b, 2), 1);
	assert_int_equal(meta_blk_loc_add(b, 2), 0);
	expect_locs(b, 0, (const uint32_t[]){ 1, 2 }, 2);
	assert_int_equal(meta_blk_loc_verify(b, 2), 0);
	assert_int_equal(meta_blk_loc_verify(b, 3), 1);
	expect_locs(b, 2, (const uint32_t[]){ 2, 3, 1 }, 3);
	assert_true(meta_blk_loc_is_verified(b, 3));
	assert_false(meta_blk_loc_is_verified(b, 1));
	/* a liar registering later only appends a claim: it is the last */
	assert_int_equal(meta_blk_loc_add(b, 9), 1);
	expect_locs(b, 2, (const uint32_t[]){ 2, 3, 1, 9 }, 4);
	/* a claim does not demote a verified copy */
	assert_int_equal(meta_blk_loc_add(b, 3), 0);
	expect_locs(b, 2, (const uint32_t[]){ 2, 3, 1, 9 }, 4);
	/* removal keeps the order of the rest, verified or not */
	assert_int_equal(meta_blk_loc_del(b, 2), 1);
	expect_locs(b, 1, (const uint32_t[]){ 3, 1, 9 }, 3);
	assert_int_equal(meta_blk_loc_del(b, 1), 1);
	expect_locs(b, 1, (const uint32_t[]){ 3, 9 }, 2);
	assert_int_equal(meta_blk_loc_del(b, 1), 0);
	/* verifying a claim moves it up to the end of the verified ones */
	assert_int_equal(meta_blk_loc_add(b, 4), 1);
	assert_int_equal(meta_blk_loc_verify(b, 4), 0);
	expect_locs(b, 2, (const uint32_t[]){ 3, 4, 9 }, 3);
	assert_int_equal(meta_blk_loc_del(b, 3), 1);
	assert_int_equal(meta_blk_loc_del(b, 4), 1);
	assert_int_equal(meta_blk_loc_del(b, 9), 1);
	assert_int_equal(b->nloc, 0);
	assert_int_equal(b->nver, 0);
	assert_null(b->locs);
	meta_blk_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verified_ahead_of_claims),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
