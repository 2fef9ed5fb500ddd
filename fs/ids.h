/* Identifiers every part shares: inode numbers, chunk-server ids, cluster
 * ids, and content-addressed block ids (keyed XXH3-128). */
#ifndef CASFS_IDS_H
#define CASFS_IDS_H

#include <stddef.h>
#include <stdint.h>

#define CASFS_ROOT_INO 1ULL

/* Block-id algorithm tags. 0 is the null id: a hole in a block map. */
#define BLK_ALG_NONE 0
#define BLK_ALG_XXH3_128K 1

#define BLK_ID_SIZE 17		   /* on the wire: tag byte + 16 hash bytes */
#define BLK_ID_HEX_LEN (2 * BLK_ID_SIZE)
#define BLK_KEY_SEED_SIZE 32	   /* random bytes made at format time */
#define BLK_KEY_SECRET_SIZE 192	   /* XXH3 secret derived from the seed */

struct blk_id {
	uint8_t alg;
	uint8_t hash[16];
};

/* The per-cluster hashing key: the seed is what metad stores and hands to
 * peers; the secret is what XXH3 consumes. */
struct blk_key {
	uint8_t seed[BLK_KEY_SEED_SIZE];
	uint8_t secret[BLK_KEY_SECRET_SIZE];
};

struct casfs_uuid {
	uint8_t b[16];
};

/* Derives key->secret from seed (seed_len bytes, any length > 0). */
void blk_key_init(struct blk_key *key, const void *seed, size_t seed_len);
/* Computes the keyed id of data[0..len). Never fails. */
void blk_hash(const struct blk_key *key, const void *data, size_t len, struct blk_id *out);
/* 0 if data hashes to id under key, -EBADMSG otherwise. */
int blk_verify(const struct blk_key *key, const void *data, size_t len, const struct blk_id *id);

int blk_id_is_null(const struct blk_id *id);
int blk_id_equal(const struct blk_id *a, const struct blk_id *b);
/* out must hold BLK_ID_HEX_LEN + 1 bytes. */
void blk_id_format(const struct blk_id *id, char *out);
/* Parses exactly BLK_ID_HEX_LEN hex digits; -EINVAL otherwise. */
int blk_id_parse(const char *s, struct blk_id *out);
/* A well-mixed 64-bit value for hash tables keyed by block id. */
uint64_t blk_id_hash64(const struct blk_id *id);

/* Fills buf with len bytes from the kernel's random source; -errno on failure. */
int casfs_random(void *buf, size_t len);
/* Hex helpers: out holds 2*len+1 bytes; parse needs exactly 2*len digits. */
void casfs_hex_format(const void *data, size_t len, char *out);
int casfs_hex_parse(const char *s, void *out, size_t len);

#endif
