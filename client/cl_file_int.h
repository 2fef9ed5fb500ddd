/* Internals shared by cl_file.c (buffers, uploads, reads, the inode table)
 * and cl_file_ops.c (setattr, punch hole, SEEK_DATA/HOLE, reference
 * copies). The locking rules are in cl_file.c's top comment. */
#ifndef CASFS_CL_FILE_INT_H
#define CASFS_CL_FILE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "client/cl_file.h"

#define CL_FILE_BUCKETS 256
/* Blocks in flight per file: 8 x 1 MiB keeps a 3-server chain busy on
 * loopback while bounding the client's memory per writer. */
#define CL_INFLIGHT_MAX 8
/* Blocks to read ahead for a sequential reader: 8 x 1 MiB keeps the
 * workers busy on loopback (4 gave ~490 MiB/s cold at goal 1). */
#define CL_READAHEAD 8
/* Fetches tracked at once (read-ahead of a few files plus their readers);
 * past it a fetch just goes untracked. */
#define CL_FETCHING_MAX 64
/* Servers one fsync syncs at once (a thread each): a large file's chains
 * may span the cluster, and this bounds the threads while a cluster of a
 * dozen hosts still syncs in one wave. */
#define CL_SYNC_PAR 16
/* How long a block keeps being re-placed when no server stores it: longer
 * than metad's chunk-server timeout so a dead server leaves the chains. */
#define CL_PUT_DEADLINE_S 60
#define CL_BMAP_BATCH 65536
/* Block references per COMMIT: 32,768 x at most 69 bytes stays well under
 * the 9 MiB frame limit. */
#define CL_COMMIT_BATCH 32768
/* A default for a file whose block size metad did not give (never 0). */
#define CL_BS_DEFAULT (1u << 20)

struct cl_bent {
	uint64_t index;
	struct blk_id id;
	uint32_t len;
	uint32_t nsrv;
	uint32_t srv[CL_CHAIN_MAX];
};

struct cl_dirty {
	uint64_t index;
	uint8_t *buf;		/* bs bytes: the block's whole current content */
	uint32_t init;		/* buf[0, init) is set; past it reads as zeros */
	uint32_t cov;		/* bytes written contiguously from the start */
	int is_uploading;
	struct cl_dirty *next;
};

struct cl_file {
	struct cl_files *fs;
	uint64_t ino;
	int refs;			/* guarded by fs->mu */
	struct cl_file *hnext;		/* guarded by fs->mu */
	pthread_mutex_t mu;
	pthread_cond_t cond;
	pthread_mutex_t flush_mu;	/* one flush at a time */
	uint32_t bs;
	uint64_t size;			/* local view, including buffered writes */
	int need_commit;
	int err;			/* first upload failure since the last flush */
	int has_locks;
	struct cl_dirty *dirty;
	size_t ndirty;
	int inflight;			/* uploads queued or running */
	int prefetching;		/* read-ahead jobs queued or running */
	uint64_t ahead_end;		/* blocks below it are queued for read-ahead */
	struct cl_bent *done;		/* stored, not yet committed */
	size_t ndone, capdone;
	struct cl_bent *unsynced;	/* committed since the last fsync */
	size_t nunsynced, capunsynced;
	int is_map_valid;
	struct cl_map_pre *map_pre;	/* BMAP sent behind OPEN, for the next map load */
	struct cl_bent *map;		/* sorted by index, non-null blocks only */
	size_t nmap, capmap;
	uint64_t seq_next;		/* where a sequential reader reads next */
	struct casfs_time mtime;	/* as last seen from metad */
};

/* Drops the BMAP answer fetched at open (f->mu held): anything that
 * changes the map locally makes it stale. */
void cl_file_map_pre_drop(struct cl_file *f);

struct cl_job {
	struct cl_file *f;
	struct cl_dirty *d;		/* upload, or NULL for a prefetch of e */
	struct cl_bent e;
	struct cl_job *next;
};

struct cl_files {
	struct cl_meta *meta;
	struct cl_chunk *chunk;
	struct cl_cache *cache;
	pthread_mutex_t mu;
	pthread_cond_t job_cond;
	struct cl_file *table[CL_FILE_BUCKETS];
	struct cl_server *servers;
	size_t nservers, capservers;
	struct cl_job *head, *tail;
	pthread_t *workers;
	int nworkers;
	int is_stopping;
	/* Bytes held in write buffers, all files; a writer whose new buffer
	 * would pass write_cache pushes its file's buffers out first. */
	uint64_t dirty_bytes;		/* atomic */
	uint64_t write_cache;
	/* Blocks being fetched: a reader that needs one waits for that fetch
	 * instead of fetching it a second time, and read-ahead skips it. */
	pthread_mutex_t fetch_mu;
	pthread_cond_t fetch_cond;
	struct blk_id fetching[CL_FETCHING_MAX];
	int nfetching;
	/* Blocks fetched from a chunk server's file on this host, and over
	 * TCP: logged at unmount. */
	atomic_uint_fast64_t nread_local, nread_remote;
	atomic_uint_fast64_t nahead;	/* read-ahead jobs queued */
};

/* Block map of an open inode (f->mu held). */
int cl_file_map_load(struct cl_file *f);
size_t cl_file_map_search(const struct cl_bent *v, size_t n, uint64_t index);
const struct cl_bent *cl_file_map_find(struct cl_file *f, uint64_t index);
void cl_file_map_set(struct cl_file *f, const struct cl_bent *e);
void cl_file_bent_append(struct cl_bent **v, size_t *n, size_t *cap, const struct cl_bent *e);
/* Write buffers (f->mu held). */
struct cl_dirty *cl_file_dirty_find(struct cl_file *f, uint64_t index);
int cl_file_dirty_new(struct cl_file *f, uint64_t index, int is_full, struct cl_dirty **out);
/* Zeroes d's buffer from d->init up to upto, before anything reads it
 * there (f->mu held). */
void cl_file_dirty_fill(struct cl_dirty *d, uint32_t upto);
/* Flush with f->flush_mu already held. */
int cl_file_flush_locked(struct cl_file *f);
/* One COMMIT of v[0..n) with the given size and flags; *a gets the reply. */
int cl_file_commit(struct cl_file *f, struct cl_bent *v, size_t n, uint64_t size,
		   uint32_t flags, struct casfs_attr *a);
/* The inode table: find (NULL if not open here), find-or-create, release. */
struct cl_file *cl_file_find(struct cl_files *fs, uint64_t ino);
struct cl_file *cl_file_get(struct cl_files *fs, uint64_t ino, int *is_new);
void cl_file_put(struct cl_file *f);

#endif
