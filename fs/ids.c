/* ids: block ids are the keyed XXH3-128 of a block's bytes. The key is a
 * per-cluster random seed, expanded into an XXH3 secret with
 * XXH3_generateSecret, so ids from two clusters never match by chance and an
 * outsider cannot precompute them. XXH3 is not cryptographic: an id is a
 * checksum and a dedup key, never proof of content (see DESIGN.md). */
#include "ids.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_generateSecret */
#include <xxhash.h>

void blk_key_init(struct blk_key *key, const void *seed, size_t seed_len)
{
	memset(key, 0, sizeof(*key));
	memcpy(key->seed, seed, seed_len < sizeof(key->seed) ? seed_len : sizeof(key->seed));
	XXH3_generateSecret(key->secret, sizeof(key->secret), seed, seed_len);
}

void blk_hash(const struct blk_key *key, const void *data, size_t len, struct blk_id *out)
{
	XXH128_hash_t h = XXH3_128bits_withSecret(data, len, key->secret, sizeof(key->secret));
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, h);
	out->alg = BLK_ALG_XXH3_128K;
	memcpy(out->hash, c.digest, sizeof(out->hash));
}

int blk_verify(const struct blk_key *key, const void *data, size_t len, const struct blk_id *id)
{
	struct blk_id got;

	if (id->alg != BLK_ALG_XXH3_128K)
		return -EBADMSG;
	blk_hash(key, data, len, &got);
	return blk_id_equal(&got, id) ? 0 : -EBADMSG;
}

int blk_id_is_null(const struct blk_id *id)
{
	return id->alg == BLK_ALG_NONE;
}

int blk_id_equal(const struct blk_id *a, const struct blk_id *b)
{
	return a->alg == b->alg && memcmp(a->hash, b->hash, sizeof(a->hash)) == 0;
}

void casfs_hex_format(const void *data, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *p = data;

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * len] = '\0';
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int casfs_hex_parse(const char *s, void *out, size_t len)
{
	uint8_t *p = out;

	if (strlen(s) != 2 * len)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		p[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void blk_id_format(const struct blk_id *id, char *out)
{
	uint8_t raw[BLK_ID_SIZE];

	raw[0] = id->alg;
	memcpy(raw + 1, id->hash, sizeof(id->hash));
	casfs_hex_format(raw, sizeof(raw), out);
}

int blk_id_parse(const char *s, struct blk_id *out)
{
	uint8_t raw[BLK_ID_SIZE];
	int rc = casfs_hex_parse(s, raw, sizeof(raw));

	if (rc)
		return rc;
	out->alg = raw[0];
	memcpy(out->hash, raw + 1, sizeof(out->hash));
	return 0;
}

uint64_t blk_id_hash64(const struct blk_id *id)
{
	uint64_t v;

	/* The id is already a keyed hash: its first bytes are uniform. */
	memcpy(&v, id->hash, sizeof(v));
	return v;
}

int casfs_random(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
