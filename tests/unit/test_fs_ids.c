/* Unit tests for ids and hashing (fs/ids.c). Block ids are persistent: they
 * name every stored block, so the keyed values frozen below must never
 * change between versions (a change would orphan every block of every
 * cluster). The unkeyed known answers come from Debian's xxhsum 0.8.1:
 *   printf 'abc' | xxhsum -H2
 * and the 1,000- and 1 MiB patterns are described at pattern(). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <xxhash.h>

#include "fs/ids.h"
#include "fs/xmalloc.h"

/* The bytes of the long known-answer inputs:
 *   python3 -c "open('p1000','wb').write(bytes(i%251 for i in range(1000)))"
 *   python3 -c "open('p1m','wb').write(bytes((i*7+3)%256 for i in range(1<<20)))" */
static uint8_t *pattern(size_t len)
{
	uint8_t *p = xmalloc(len);

	for (size_t i = 0; i < len; i++)
		p[i] = len == 1000 ? (uint8_t)(i % 251) : (uint8_t)((i * 7 + 3) % 256);
	return p;
}

struct kat {
	const char *text;	/* NULL: pattern(len) */
	size_t len;
	const char *unkeyed;	/* xxhsum -H2 */
	const char *keyed;	/* blk_hash with seed 00 01 .. 1f, frozen */
};

static const struct kat kats[] = {
	{ "", 0, "99aa06d3014798d86001c324468d497f",
	  "0151ff867e424bb5f543db5bb2756287eb" },
	{ "a", 1, "a96faf705af16834e6c632b61e964e1f", NULL },
	{ "abc", 3, "06b05ab6733a618578af5f94892f3950",
	  "01038b4a062672b1deb34b9eb169fd2952" },
	{ "The quick brown fox jumps over the lazy dog", 43,
	  "ddd650205ca3e7fa24a1cc2e3a8a7651", "0142a6aa9c4c97bd9b8dbb86abd9564d1a" },
	{ NULL, 1000, "18bf41bc8229e27733ef703fb2b20ed1", NULL },
	{ NULL, 1u << 20, "6b909c52253d6e1b74823cf2cd45b0fe",
	  "01a180f464e5f2f076ed0f341dd0b87c4a" },
};

static void test_key(struct blk_key *key)
{
	uint8_t seed[BLK_KEY_SEED_SIZE];

	for (size_t i = 0; i < sizeof(seed); i++)
		seed[i] = (uint8_t)i;
	blk_key_init(key, seed, sizeof(seed));
}

static void unkeyed_hex(const void *data, size_t len, char out[33])
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits(data, len));
	casfs_hex_format(c.digest, sizeof(c.digest), out);
}

static void test_unkeyed_known_answers(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(kats) / sizeof(kats[0]); i++) {
		uint8_t *p = kats[i].text ? NULL : pattern(kats[i].len);
		char hex[33];

		unkeyed_hex(p ? (void *)p : (void *)kats[i].text, kats[i].len, hex);
		assert_string_equal(hex, kats[i].unkeyed);
		free(p), p = NULL;
	}
}

static void test_keyed_frozen(void **state)
{
	struct blk_key key;

	(void)state;
	test_key(&key);
	for (size_t i = 0; i < sizeof(kats) / sizeof(kats[0]); i++) {
		uint8_t *p = kats[i].text ? NULL : pattern(kats[i].len);
		const void *data = p ? (void *)p : (void *)kats[i].text;
		struct blk_id id;
		char hex[BLK_ID_HEX_LEN + 1];

		blk_hash(&key, data, kats[i].len, &id);
		assert_int_equal(id.alg, BLK_ALG_XXH3_128K);
		blk_id_format(&id, hex);
		if (kats[i].keyed)
			assert_string_equal(hex, kats[i].keyed);
		/* Keyed differs from unkeyed. */
		assert_string_not_equal(hex + 2, kats[i].unkeyed);
		assert_int_equal(blk_verify(&key, data, kats[i].len, &id), 0);
		free(p), p = NULL;
	}
	{
		/* A seed of another length, as a hand-made test cluster might use. */
		struct blk_id id;
		char hex[BLK_ID_HEX_LEN + 1];

		blk_key_init(&key, "casfs", 5);
		blk_hash(&key, "abc", 3, &id);
		blk_id_format(&id, hex);
		assert_string_equal(hex, "01f30278026fe0763ca71f77e83efe35b9");
	}
}

static void test_seeds_differ(void **state)
{
	struct blk_key k1, k2;
	struct blk_id a, b;
	uint8_t seed[BLK_KEY_SEED_SIZE];

	(void)state;
	test_key(&k1);
	memcpy(seed, k1.seed, sizeof(seed));
	assert_memory_equal(k1.seed, seed, sizeof(seed));
	/* Every single-bit change of the seed changes the id. */
	blk_hash(&k1, "block", 5, &a);
	for (size_t bit = 0; bit < 8 * sizeof(seed); bit++) {
		seed[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		blk_key_init(&k2, seed, sizeof(seed));
		blk_hash(&k2, "block", 5, &b);
		assert_false(blk_id_equal(&a, &b));
		assert_int_equal(blk_verify(&k2, "block", 5, &a), -EBADMSG);
		seed[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	/* The same seed gives the same key. */
	blk_key_init(&k2, seed, sizeof(seed));
	blk_hash(&k2, "block", 5, &b);
	assert_true(blk_id_equal(&a, &b));
}

static void test_verify(void **state)
{
	struct blk_key key;
	struct blk_id id, bad;
	uint8_t *data = pattern(1000);

	(void)state;
	test_key(&key);
	blk_hash(&key, data, 1000, &id);
	assert_int_equal(blk_verify(&key, data, 1000, &id), 0);
	/* Any flipped data bit, a short read, or a changed id is refused. */
	for (size_t bit = 0; bit < 8 * 1000; bit += 37) {
		data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(blk_verify(&key, data, 1000, &id), -EBADMSG);
		data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	assert_int_equal(blk_verify(&key, data, 999, &id), -EBADMSG);
	for (size_t i = 0; i < sizeof(id.hash); i++) {
		bad = id;
		bad.hash[i] ^= 0x80;
		assert_int_equal(blk_verify(&key, data, 1000, &bad), -EBADMSG);
	}
	/* The null id and unknown tags never verify. */
	bad = id;
	bad.alg = BLK_ALG_NONE;
	assert_int_equal(blk_verify(&key, data, 1000, &bad), -EBADMSG);
	bad.alg = 2;
	assert_int_equal(blk_verify(&key, data, 1000, &bad), -EBADMSG);
	free(data), data = NULL;
}

static void test_id_helpers(void **state)
{
	struct blk_key key;
	struct blk_id a, b, null = { .alg = BLK_ALG_NONE };

	(void)state;
	test_key(&key);
	blk_hash(&key, "x", 1, &a);
	blk_hash(&key, "y", 1, &b);
	assert_true(blk_id_is_null(&null));
	assert_false(blk_id_is_null(&a));
	assert_true(blk_id_equal(&a, &a));
	assert_false(blk_id_equal(&a, &b));
	b = a;
	b.alg = BLK_ALG_NONE;
	assert_false(blk_id_equal(&a, &b));
	assert_true(blk_id_hash64(&a) == blk_id_hash64(&a));
	blk_hash(&key, "y", 1, &b);
	assert_true(blk_id_hash64(&a) != blk_id_hash64(&b));
}

static void test_hex(void **state)
{
	struct blk_key key;
	struct blk_id id, got;
	char hex[BLK_ID_HEX_LEN + 1], bad[BLK_ID_HEX_LEN + 2];
	uint8_t raw[4] = { 0x00, 0x7f, 0xa5, 0xff }, back[4];
	char s[9];

	(void)state;
	casfs_hex_format(raw, sizeof(raw), s);
	assert_string_equal(s, "007fa5ff");
	assert_int_equal(casfs_hex_parse(s, back, sizeof(back)), 0);
	assert_memory_equal(back, raw, sizeof(raw));
	assert_int_equal(casfs_hex_parse("007FA5FF", back, sizeof(back)), 0);
	assert_memory_equal(back, raw, sizeof(raw));
	assert_int_equal(casfs_hex_parse("007fa5f", back, sizeof(back)), -EINVAL);
	assert_int_equal(casfs_hex_parse("007fa5fff", back, sizeof(back)), -EINVAL);
	assert_int_equal(casfs_hex_parse("007fa5fg", back, sizeof(back)), -EINVAL);
	assert_int_equal(casfs_hex_parse("007fa5f ", back, sizeof(back)), -EINVAL);
	assert_int_equal(casfs_hex_parse("", back, 0), 0);
	assert_int_equal(casfs_hex_parse("", back, 1), -EINVAL);

	test_key(&key);
	blk_hash(&key, "abc", 3, &id);
	blk_id_format(&id, hex);
	assert_int_equal(strlen(hex), BLK_ID_HEX_LEN);
	assert_int_equal(blk_id_parse(hex, &got), 0);
	assert_true(blk_id_equal(&id, &got));
	memset(&id, 0, sizeof(id));
	blk_id_format(&id, hex);
	assert_string_equal(hex, "0000000000000000000000000000000000");
	assert_int_equal(blk_id_parse(hex, &got), 0);
	assert_true(blk_id_is_null(&got));

	/* Wrong length, stray characters. */
	assert_int_equal(blk_id_parse("", &got), -EINVAL);
	assert_int_equal(blk_id_parse("01", &got), -EINVAL);
	memset(bad, '0', BLK_ID_HEX_LEN - 1);
	bad[BLK_ID_HEX_LEN - 1] = '\0';
	assert_int_equal(blk_id_parse(bad, &got), -EINVAL);
	memset(bad, '0', BLK_ID_HEX_LEN + 1);
	bad[BLK_ID_HEX_LEN + 1] = '\0';
	assert_int_equal(blk_id_parse(bad, &got), -EINVAL);
	for (const char *c = "gG-x :/\x7f"; *c; c++) {
		memset(bad, '0', BLK_ID_HEX_LEN);
		bad[BLK_ID_HEX_LEN] = '\0';
		bad[BLK_ID_HEX_LEN / 2] = *c;
		assert_int_equal(blk_id_parse(bad, &got), -EINVAL);
	}
}

static void test_random(void **state)
{
	uint8_t a[32], b[32], zero[32] = { 0 };

	(void)state;
	assert_int_equal(casfs_random(a, sizeof(a)), 0);
	assert_int_equal(casfs_random(b, sizeof(b)), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_memory_not_equal(a, zero, sizeof(a));
	assert_int_equal(casfs_random(a, 0), 0);
}

/* An argument selects tests by name (cmocka's * and ? wildcards). */
int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unkeyed_known_answers),
		cmocka_unit_test(test_keyed_frozen),
		cmocka_unit_test(test_seeds_differ),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_id_helpers),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_random),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("fs_ids", tests, NULL, NULL);
}
