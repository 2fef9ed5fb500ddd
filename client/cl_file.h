/* cl_file: file data for the client: per open inode write buffers, the block
 * upload pipeline and commit, the read path with verification, replica
 * failover and read-ahead, and the block-map based operations (punch hole,
 * SEEK_DATA/HOLE, reference copies). */
#ifndef CASFS_CL_FILE_H
#define CASFS_CL_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "client/cl_cache.h"
#include "client/cl_chunk.h"
#include "client/cl_meta.h"
#include "fs/attr.h"

struct cl_files;
struct cl_file;

/* Starts the data layer with nworkers upload/prefetch threads; at most
 * write_cache bytes of written blocks wait in buffers (mount-wide) before
 * writers push theirs out. Does not take ownership of meta, chunk or cache
 * (they must outlive it). */
struct cl_files *cl_files_new(struct cl_meta *meta, struct cl_chunk *chunk,
			      struct cl_cache *cache, int nworkers, uint64_t write_cache);
/* Flushes every file still open (best effort, errors logged), then stops. */
void cl_files_free(struct cl_files *fs);

/* OPEN (or CREATE) on metad and a reference to the inode's shared state;
 * each successful call needs one cl_file_release. Revalidates cached block
 * locations when nobody else has the inode open (close-to-open). */
int cl_file_open(struct cl_files *fs, uint64_t ino, uint32_t flags, struct casfs_attr *a,
		 struct cl_file **out);
int cl_file_create(struct cl_files *fs, uint64_t parent, const char *name, uint32_t mode,
		   uint32_t uid, uint32_t gid, uint32_t flags, struct casfs_attr *a,
		   struct cl_file **out);
/* Flushes, sends RELEASE and drops the reference; returns the flush error. */
int cl_file_release(struct cl_file *f);
/* Remembers that POSIX locks were taken on the inode, so that closes know
 * to release them (and closes of other inodes skip the round trip). */
void cl_file_note_locks(struct cl_file *f);
int cl_file_has_locks(struct cl_file *f);

/* Reads up to len bytes at off into buf; *got < len only at end of file.
 * Never returns bytes that failed verification: -EIO when no replica has a
 * good copy. */
int cl_file_read(struct cl_file *f, uint64_t off, size_t len, void *buf, size_t *got);
/* The same without a copy when [off, off + len) lies in one stored block
 * that is cached whole and not buffered here: *p and *got point into the
 * block cache until cl_file_read_done(fs, *pin). That takes the mount's
 * cl_files, not f: once the reply is out the file may be released and
 * freed before the caller gets there. -EAGAIN: use cl_file_read. */
int cl_file_read_pinned(struct cl_file *f, uint64_t off, size_t len, const void **p,
			size_t *got, void **pin);
void cl_file_read_done(struct cl_files *fs, void *pin);
/* Buffers len bytes at off; full blocks start uploading at once. May wait
 * for uploads in flight (back-pressure). */
int cl_file_write(struct cl_file *f, uint64_t off, const void *buf, size_t len);
/* Where a write's bytes come from: fill copies the next n of them to dst
 * and returns 0 or a negative errno. It is called in order, with f's lock
 * held, straight into the block buffers: a source that is not in memory
 * yet (a pipe) is then copied once. */
struct cl_src {
	int (*fill)(void *arg, void *dst, size_t n);
	void *arg;
};
/* cl_file_write with the bytes from src. On an error from src the bytes
 * already filled stay written (as after a short write). */
int cl_file_write_src(struct cl_file *f, uint64_t off, size_t len, const struct cl_src *src);
/* Uploads everything buffered and commits it to metad in one request: after
 * 0, every client sees the data. -EIO if a block could not be stored. */
int cl_file_flush(struct cl_file *f);
/* Flush, then BLK_SYNC on every server that received blocks since the last
 * fsync, then FSYNC on metad: the data survives power loss. */
int cl_file_fsync(struct cl_file *f);

/* SETATTR through the data layer: an open inode is flushed first (so an
 * explicit mtime wins over the commit and a truncate sees every write), and
 * its cached size and map follow the new size. */
int cl_file_setattr(struct cl_files *fs, uint64_t ino, uint32_t valid, uint32_t mode,
		    uint32_t uid, uint32_t gid, uint64_t size, const struct casfs_time *atime,
		    const struct casfs_time *mtime, struct casfs_attr *a);
/* 1 if a->ino is open on this mount with no write of its own since its
 * size and mtime were a's (nothing buffered, uploading or uncommitted). */
int cl_file_is_clean(struct cl_files *fs, const struct casfs_attr *a);
/* Raises a->size to the local size of an open inode with unflushed writes. */
void cl_file_overlay(struct cl_files *fs, struct casfs_attr *a);

/* fallocate: mode 0 extends the size; PUNCH_HOLE|KEEP_SIZE makes the range
 * read as zeros (whole blocks become holes). -EOPNOTSUPP otherwise. */
int cl_file_fallocate(struct cl_file *f, int mode, uint64_t off, uint64_t len);
/* SEEK_DATA / SEEK_HOLE from the block map; -ENXIO past the data. */
int cl_file_seek(struct cl_file *f, uint64_t off, int whence, uint64_t *out);
/* Copies len bytes by block reference when both offsets are block aligned
 * and the length is whole blocks or reaches both ends of file; *copied gets
 * the bytes copied. -EOPNOTSUPP when not aligned (the caller copies bytes). */
int cl_file_copy_range(struct cl_file *src, uint64_t off_in, struct cl_file *dst,
		       uint64_t off_out, uint64_t len, uint64_t *copied);

/* Length of block index in a file of size bytes (0 past the end): how
 * much of a block an upload stores. Exposed for the unit tests. */
uint32_t cl_file_block_len(uint64_t size, uint32_t bs, uint64_t index);

#endif
