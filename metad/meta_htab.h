/* A compact open-addressing hash set of pointers (linear probing, backward
 * shift deletion): one 8-byte slot per element at a load of at most 0.7, which
 * is what keeps metad's inode, name and block indexes inside the RAM budget
 * (≤ 250 bytes per file). Callers supply the hash of each element. Owned by
 * whoever embeds it; not thread-safe. */
#ifndef CASFS_META_HTAB_H
#define CASFS_META_HTAB_H

#include <stdint.h>

typedef uint64_t (*meta_htab_hash_fn)(const void *elem);
typedef int (*meta_htab_match_fn)(const void *elem, const void *key);

struct meta_htab {
	void **slots;
	uint32_t cap;		/* power of two, or 0 before the first insert */
	uint32_t n;
	meta_htab_hash_fn hash;
};

void meta_htab_init(struct meta_htab *h, meta_htab_hash_fn hash);
/* Frees the slot array only; the elements belong to the caller. */
void meta_htab_free(struct meta_htab *h);
/* The element whose hash is hash and for which match(elem, key) != 0. */
void *meta_htab_find(const struct meta_htab *h, uint64_t hash, meta_htab_match_fn match,
		     const void *key);
/* Adds elem (the caller has checked it is not there yet). */
void meta_htab_insert(struct meta_htab *h, void *elem);
/* Grows the table so that n elements fit without rehashing. */
void meta_htab_reserve(struct meta_htab *h, uint32_t n);
/* Removes elem (by identity); 0, or -ENOENT. */
int meta_htab_remove(struct meta_htab *h, const void *elem);
/* Mixes a 64-bit key into a well-spread hash. */
uint64_t meta_htab_mix(uint64_t x);

#endif
