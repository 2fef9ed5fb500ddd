/* chunk_store: the content-addressed block store on one or more local data
 * folders. Thread-safe; see store.c for the on-disk layout and invariants. */
#ifndef CHUNKD_STORE_H
#define CHUNKD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "fs/ids.h"

/* The largest block a file may have (DESIGN.md: 64 KiB .. 8 MiB). */
#define CHUNK_BLOCK_MAX (8u << 20)

struct chunk_store;

struct chunk_store_opts {
	uint64_t reserve_bytes;	/* per folder; 0 = reserve_pct of its size */
	unsigned reserve_pct;
	int is_direct;		/* write blocks with O_DIRECT where possible */
	int is_create;		/* create a missing data folder (else -ENOENT) */
};

struct chunk_store_ent {
	struct blk_id id;
	uint32_t len;
};

struct chunk_store_stats {
	uint64_t total, free, used, blocks;
	int is_full;		/* no folder can take a new block */
	int has_failed;		/* some folder was marked failed */
};

/* Called (from whichever thread found it) when a stored copy is gone: it
 * failed verification and was quarantined, vanished, or its folder failed. */
typedef void (*chunk_store_bad_fn)(void *ud, const struct blk_id *id);

/* Opens the folders (creating blocks/, tmp/, quarantine/), locks each
 * against a second daemon (-EBUSY), removes stale temp files and indexes
 * the blocks from their names and sizes (no hashing). -errno if a folder
 * is unusable. */
int chunk_store_open(char *const *dirs, int ndirs, const struct chunk_store_opts *opts,
		     struct chunk_store **out);
void chunk_store_close(struct chunk_store *s);

/* The cluster key; until it is set every put and read answers -EAGAIN. */
void chunk_store_set_key(struct chunk_store *s, const struct blk_key *key);
void chunk_store_set_bad_fn(struct chunk_store *s, chunk_store_bad_fn fn, void *ud);

/* The identity kept in every folder. *has = 0 when no folder has one yet;
 * -EXDEV when the folders disagree. */
int chunk_store_ident_load(struct chunk_store *s, struct casfs_uuid *uuid, uint32_t *server_id,
			   int *has);
int chunk_store_ident_save(struct chunk_store *s, const struct casfs_uuid *uuid,
			   uint32_t server_id);

/* Stores a block: checks the id (-EBADMSG), compares with an existing copy
 * (-EILSEQ on a collision; a corrupt old copy is quarantined and replaced),
 * writes a temp file and renames it into place on the folder with the most
 * free space. *is_new says whether a new copy appeared. -ENOSPC, -EIO,
 * -EFBIG (over CHUNK_BLOCK_MAX), -EAGAIN (no key yet). */
int chunk_store_put(struct chunk_store *s, const struct blk_id *id, const void *data,
		    uint32_t len, int *is_new);
/* The same for data the caller has just verified against id under the
 * store's key (a PUT hashes once per hop, not twice: XXH3 was a fifth of a
 * chain server's CPU). */
int chunk_store_put_verified(struct chunk_store *s, const struct blk_id *id, const void *data,
			     uint32_t len, int *is_new);
/* Reads a whole block into buf (cap bytes) and verifies it. A bad copy is
 * quarantined and reported: -EIO. -ENOENT if not held, -ENOBUFS if cap is
 * too small (*len says how much is needed). */
int chunk_store_read(struct chunk_store *s, const struct blk_id *id, void *buf, uint32_t cap,
		     uint32_t *len);
/* Opens a held block's file for sending as it is: 0 and *fd (the caller
 * closes it) when the file is unchanged since its bytes were last hashed
 * (stored, or read by chunk_store_read since start). -ESTALE when it must go
 * through chunk_store_read first, -ENOENT if not held, -EAGAIN (no key). */
int chunk_store_open_verified(struct chunk_store *s, const struct blk_id *id, int *fd,
			      uint32_t *len);
/* 1 and *len if held, 0 if not. */
int chunk_store_has(struct chunk_store *s, const struct blk_id *id, uint32_t *len);
/* Removes a copy; 0 also when it was not held. */
int chunk_store_delete(struct chunk_store *s, const struct blk_id *id);
/* Makes blocks durable: fdatasync each (or syncfs when the batch is large)
 * and fsync their directories. -ENOENT if one is not held. */
int chunk_store_sync(struct chunk_store *s, const struct blk_id *ids, size_t n);
/* A snapshot of every block held; caller frees *out. */
void chunk_store_list(struct chunk_store *s, struct chunk_store_ent **out, size_t *n);
void chunk_store_stats(struct chunk_store *s, struct chunk_store_stats *st);

#endif
