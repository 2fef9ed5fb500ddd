/* chunk_store: immutable blocks as files, named by their id.
 *
 * Layout of every data folder:
 *   blocks/<h0>/<34 hex id>         h0 = first hash byte in hex (256 folders)
 *   tmp/                            blocks being written
 *   quarantine/<id>.<time>          copies that failed verification
 *   chunkd.id                       cluster uuid and server id
 *   chunkd.lock                     flock'ed by the daemon using the folder
 *
 * Invariants:
 * - A block file under blocks/ is complete: it is written under tmp/ and
 *   renamed into place (renameat2 RENAME_NOREPLACE, so two writers of one id
 *   never replace each other's bytes unseen). There is no fsync per block
 *   (it would cap small-file writes at the disk's fsync rate); durability
 *   comes from chunk_store_sync, which a client's fsync triggers.
 * - Nothing is served unverified. chunk_store_read hashes the whole block
 *   against its id; a mismatch (flipped byte, truncation) quarantines the
 *   file, drops it from the index and calls the bad-block callback. Each
 *   index entry keeps the stamp (inode, size, change and modify times) of
 *   its file as it was when its bytes were last hashed: when stored, or
 *   read since start. chunk_store_open_verified hands out a file whose
 *   stamp still matches, for sending as is (sendfile, no copy, no second
 *   hash: re-hashing every GET took a quarter of a cold read's CPU); any
 *   change through the file system moves the stamp and sends the block
 *   back through the hash. A disk that returns other bytes for an unchanged
 *   file is caught by the reader, which hashes every block it gets, and by
 *   the scrubber.
 * - The index (id -> folder, length) mirrors blocks/ and is rebuilt at open
 *   from file names and sizes; it is guarded by s->lock. File I/O happens
 *   outside the lock, so readers and writers of different blocks never wait
 *   for each other's disk.
 * - A folder that returns EIO is marked failed: its blocks leave the index
 *   (reported bad, so metad re-replicates them) and it takes no new blocks.
 *   A folder whose free space is under its reserve takes no new blocks.
 * Called from the connection threads, the meta worker and the scrubber. */
#include "chunkd/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "fs/log.h"
#include "fs/xmalloc.h"

/* Above this many blocks one syncfs per folder beats a fdatasync per file:
 * on ext4 each fdatasync is a journal commit (~1-2 ms on SSD), a syncfs is
 * about the cost of a few; 16 keeps small fsyncs on the cheap path. */
#define STORE_SYNCFS_BATCH 16
#define STORE_IDENT_FILE "chunkd.id"
#define STORE_LOCK_FILE "chunkd.lock"
/* O_DIRECT alignment: the page size covers every logical block size. */
#define STORE_DIRECT_ALIGN 4096

struct store_dir {
	char *path;
	int blocks_fd, tmp_fd, quar_fd;
	int lock_fd;		/* flock'ed: one chunkd per folder */
	int is_failed;		/* guarded by store lock */
	uint64_t used, nblocks; /* guarded by store lock */
};

struct store_ent {
	struct store_ent *next;
	struct blk_id id;
	uint32_t len;
	int dir;
	uint64_t stamp;		/* store_stamp when last hashed; 0: not since start */
};

/* A 4 KiB-aligned buffer for O_DIRECT writes of unaligned data. */
struct store_bounce {
	struct store_bounce *next;
	uint8_t *buf;
};

struct chunk_store {
	pthread_mutex_t lock;	/* guards the index, dir counters, key, bounce */
	struct store_dir *dirs;
	int ndirs;
	struct store_ent **buckets;
	size_t nbuckets, count;
	struct chunk_store_opts opts;
	struct blk_key key;
	int has_key;
	chunk_store_bad_fn bad_fn;
	void *bad_ud;
	atomic_uint_fast64_t tmp_seq;
	atomic_int is_direct;	/* O_DIRECT block writes; cleared if refused */
	struct store_bounce *bounce;
};

/* ---- index (callers hold s->lock) ---- */

static struct store_ent **idx_slot(struct chunk_store *s, const struct blk_id *id)
{
	struct store_ent **pp = &s->buckets[blk_id_hash64(id) & (s->nbuckets - 1)];

	while (*pp && !blk_id_equal(&(*pp)->id, id))
		pp = &(*pp)->next;
	return pp;
}

static void idx_grow(struct chunk_store *s)
{
	size_t n = s->nbuckets * 2;
	struct store_ent **b = xcalloc(n, sizeof(*b));

	for (size_t i = 0; i < s->nbuckets; i++) {
		struct store_ent *e = s->buckets[i], *next;

		for (; e; e = next) {
			size_t k = blk_id_hash64(&e->id) & (n - 1);

			next = e->next;
			e->next = b[k];
			b[k] = e;
		}
	}
	free(s->buckets);
	s->buckets = b;
	s->nbuckets = n;
}

static void idx_insert(struct chunk_store *s, const struct blk_id *id, uint32_t len, int dir,
		       uint64_t stamp)
{
	struct store_ent **pp = idx_slot(s, id), *e;

	if (*pp)
		return;
	e = xcalloc(1, sizeof(*e));
	e->id = *id;
	e->len = len;
	e->dir = dir;
	e->stamp = stamp;
	*pp = e;
	s->count++;
	s->dirs[dir].used += len;
	s->dirs[dir].nblocks++;
	if (s->count > s->nbuckets)
		idx_grow(s);
}

/* Removes id if it lives in dir (any dir when dir < 0); 1 if removed. */
static int idx_remove(struct chunk_store *s, const struct blk_id *id, int dir)
{
	struct store_ent **pp = idx_slot(s, id), *e = *pp;

	if (!e || (dir >= 0 && e->dir != dir))
		return 0;
	*pp = e->next;
	s->count--;
	s->dirs[e->dir].used -= e->len;
	s->dirs[e->dir].nblocks--;
	free(e);
	return 1;
}

static int idx_find_stamp(struct chunk_store *s, const struct blk_id *id, int *dir, uint32_t *len,
			  uint64_t *stamp)
{
	struct store_ent *e;

	pthread_mutex_lock(&s->lock);
	e = *idx_slot(s, id);
	if (e) {
		*dir = e->dir;
		*len = e->len;
		*stamp = e->stamp;
	}
	pthread_mutex_unlock(&s->lock);
	return e != NULL;
}

static int idx_find(struct chunk_store *s, const struct blk_id *id, int *dir, uint32_t *len)
{
	uint64_t stamp;

	return idx_find_stamp(s, id, dir, len, &stamp);
}

static void idx_set_stamp(struct chunk_store *s, const struct blk_id *id, int dir, uint64_t stamp)
{
	struct store_ent *e;

	pthread_mutex_lock(&s->lock);
	e = *idx_slot(s, id);
	if (e && e->dir == dir)
		e->stamp = stamp;
	pthread_mutex_unlock(&s->lock);
}

/* A file's identity for the index's stamp: a write, truncate, chmod or
 * replacement through the file system changes the change time, the inode
 * or the size. Never 0, which means "not hashed". */
static uint64_t store_stamp(const struct stat *st)
{
	uint64_t v[6] = { (uint64_t)st->st_ino, (uint64_t)st->st_size,
			  (uint64_t)st->st_ctim.tv_sec, (uint64_t)st->st_ctim.tv_nsec,
			  (uint64_t)st->st_mtim.tv_sec, (uint64_t)st->st_mtim.tv_nsec };

	return XXH3_64bits(v, sizeof(v)) | 1;
}

/* ---- helpers ---- */

/* "ab/cd/<hex>" relative to blocks/. */
static void blk_relpath(const struct blk_id *id, char out[48])
{
	char hex[BLK_ID_HEX_LEN + 1];

	blk_id_format(id, hex);
	snprintf(out, 48, "%.2s/%s", hex + 2, hex);
}

static int is_disk_error(int err)
{
	return err == EIO || err == EROFS || err == EUCLEAN;
}

/* Marks dir failed and reports every block it held as bad. */
static void store_fail_dir(struct chunk_store *s, int dir, const char *what, int err)
{
	struct blk_id *lost = NULL;
	size_t nlost = 0, cap = 0;

	pthread_mutex_lock(&s->lock);
	if (s->dirs[dir].is_failed) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	s->dirs[dir].is_failed = 1;
	for (size_t i = 0; i < s->nbuckets; i++) {
		struct store_ent **pp = &s->buckets[i];

		while (*pp) {
			struct store_ent *e = *pp;

			if (e->dir != dir) {
				pp = &e->next;
				continue;
			}
			if (nlost == cap) {
				cap = cap ? 2 * cap : 64;
				lost = xrealloc(lost, cap * sizeof(*lost));
			}
			lost[nlost++] = e->id;
			*pp = e->next;
			s->count--;
			free(e);
		}
	}
	s->dirs[dir].used = 0;
	s->dirs[dir].nblocks = 0;
	pthread_mutex_unlock(&s->lock);
	log_error("data folder %s failed (%s: %s): %zu blocks lost from it; serving from the others",
		  s->dirs[dir].path, what, strerror(err), nlost);
	for (size_t i = 0; i < nlost && s->bad_fn; i++)
		s->bad_fn(s->bad_ud, &lost[i]);
	free(lost);
	lost = NULL;
}

static void store_report_bad(struct chunk_store *s, const struct blk_id *id)
{
	if (s->bad_fn)
		s->bad_fn(s->bad_ud, id);
}

/* Moves a bad copy out of blocks/ and forgets it. */
static void store_quarantine(struct chunk_store *s, int dir, const struct blk_id *id,
			     const char *why)
{
	char rel[48], hex[BLK_ID_HEX_LEN + 1], qname[80];
	struct store_dir *d = &s->dirs[dir];
	int removed;

	blk_relpath(id, rel);
	blk_id_format(id, hex);
	snprintf(qname, sizeof(qname), "%s.%lld", hex, (long long)time(NULL));
	pthread_mutex_lock(&s->lock);
	removed = idx_remove(s, id, dir);
	pthread_mutex_unlock(&s->lock);
	if (renameat(d->blocks_fd, rel, d->quar_fd, qname) < 0 && errno != ENOENT)
		unlinkat(d->blocks_fd, rel, 0);
	log_error("block %s in %s is bad (%s): quarantined", hex, d->path, why);
	if (removed)
		store_report_bad(s, id);
}

static int read_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t off = 0;

	while (off < len) {
		ssize_t n = pread(fd, p + off, len - off, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ENODATA;
		off += (size_t)n;
	}
	return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

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

/* Reads the copy of id in dir into buf (cap bytes): 0 (*stamp set: the
 * file that was hashed), -ENOENT (file gone), -ENOBUFS (size over cap, *len
 * set), -EBADMSG (wrong size or hash), or a disk error. */
static int store_read_file(struct chunk_store *s, int dir, const struct blk_id *id,
			   uint32_t want, void *buf, uint32_t cap, uint32_t *len, uint64_t *stamp)
{
	char rel[48];
	struct stat st;
	int fd, rc;

	blk_relpath(id, rel);
	fd = openat(s->dirs[dir].blocks_fd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if ((uint64_t)st.st_size != want) {
		rc = -EBADMSG;
		goto out;
	}
	*len = want;
	if (want > cap) {
		rc = -ENOBUFS;
		goto out;
	}
	rc = read_all(fd, buf, want);
	if (rc == -ENODATA)
		rc = -EBADMSG;
	if (rc)
		goto out;
	rc = blk_verify(&s->key, buf, want, id);
	*stamp = store_stamp(&st);
out:
	close(fd);
	return rc;
}

/* ---- open / close ---- */

/* Marks a data folder as the top of its own hierarchy (FS_TOPDIR_FL), so
 * that ext4 places blocks/ and tmp/ in block groups of their own, as it
 * does for folders at a file system's root. Where the folder shares a
 * group with files deleted in the last minutes (a folder under /tmp), each
 * new block file otherwise pays ext4's scan past recently freed inodes (on
 * a file system without a journal): 17 % of all CPU in a 512 MiB goal-1
 * write on the test VM. Best effort: other file systems ignore or refuse
 * the flag. */
static void spread_subdirs(int dfd)
{
	int fl;

	if (ioctl(dfd, FS_IOC_GETFLAGS, &fl) == 0 && !(fl & FS_TOPDIR_FL)) {
		fl |= FS_TOPDIR_FL;
		if (ioctl(dfd, FS_IOC_SETFLAGS, &fl) < 0)
			log_debug("data folder: FS_TOPDIR_FL refused: %s", strerror(errno));
	}
}

static int open_sub(int dfd, const char *name, int *out)
{
	if (mkdirat(dfd, name, 0755) < 0 && errno != EEXIST)
		return -errno;
	*out = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return *out < 0 ? -errno : 0;
}

static void clean_tmp(struct store_dir *d)
{
	int fd = dup(d->tmp_fd);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	int n = 0;

	if (!dir) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		if (unlinkat(d->tmp_fd, de->d_name, 0) == 0)
			n++;
	}
	closedir(dir);
	if (n)
		log_info("%s: removed %d stale temp files", d->path, n);
}

/* Moves the blocks of blocks/<h0>/<h1>/ (the two-level layout of earlier
 * versions) up into blocks/<h0>/ and removes the emptied folder. A copy
 * already in the new place wins; a crash half way is finished at the next
 * start. Returns how many blocks moved. */
static int migrate_fanout(struct store_dir *d, int fd1, const char *h0, const char *h1)
{
	int fd2 = openat(fd1, h1, O_RDONLY | O_DIRECTORY | O_CLOEXEC), moved = 0;
	DIR *l2 = fd2 >= 0 ? fdopendir(fd2) : NULL;
	struct dirent *e;

	if (!l2) {
		if (fd2 >= 0)
			close(fd2);
		return 0;
	}
	while ((e = readdir(l2))) {
		struct blk_id id;

		if (blk_id_parse(e->d_name, &id))
			continue;
		if (renameat2(fd2, e->d_name, fd1, e->d_name, RENAME_NOREPLACE) == 0)
			moved++;
		else if (errno == EEXIST)
			unlinkat(fd2, e->d_name, 0);
		else
			log_warn("%s: cannot move %s/%s/%s up: %s", d->path, h0, h1, e->d_name,
				 strerror(errno));
	}
	closedir(l2);
	if (unlinkat(fd1, h1, AT_REMOVEDIR) < 0 && errno != ENOTEMPTY)
		log_warn("%s: cannot remove %s/%s: %s", d->path, h0, h1, strerror(errno));
	return moved;
}

/* Indexes the blocks in blocks/<h0>/ (fd1), after moving up any left in
 * the older <h1>/ folders: names and sizes only. */
static int scan_fanout(struct chunk_store *s, int di, int fd1, const char *h0)
{
	struct store_dir *d = &s->dirs[di];
	int pass, fd, moved = 0;

	for (pass = 0; pass < 2; pass++) {
		DIR *l;
		struct dirent *e;

		fd = dup(fd1);
		l = fd >= 0 ? fdopendir(fd) : NULL;
		if (!l) {
			if (fd >= 0)
				close(fd);
			return moved;
		}
		rewinddir(l);	/* dup shares the offset the first pass moved */
		while ((e = readdir(l))) {
			struct blk_id id;
			struct stat st;

			if (pass == 0) {
				if (strlen(e->d_name) == 2 && strcmp(e->d_name, "..") != 0)
					moved += migrate_fanout(d, fd1, h0, e->d_name);
				continue;
			}
			if (blk_id_parse(e->d_name, &id) || id.alg != BLK_ALG_XXH3_128K)
				continue;
			if (fstatat(fd1, e->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
				continue;
			if (st.st_size > CHUNK_BLOCK_MAX) {
				log_warn("%s: %s is too large for a block; ignored", d->path,
					 e->d_name);
				continue;
			}
			pthread_mutex_lock(&s->lock);
			idx_insert(s, &id, (uint32_t)st.st_size, di, 0);
			pthread_mutex_unlock(&s->lock);
		}
		closedir(l);
	}
	return moved;
}

/* Indexes blocks/<h0>/<id>. One level of 256 folders: a second level made
 * nearly every new block of a young store also create a folder, and on
 * ext4 that mkdir (a free-inode search across block groups) cost as much
 * as writing the block. */
static int scan_dir(struct chunk_store *s, int di)
{
	struct store_dir *d = &s->dirs[di];
	int fd0 = dup(d->blocks_fd), moved = 0;
	DIR *l0 = fd0 >= 0 ? fdopendir(fd0) : NULL;
	struct dirent *e0;

	if (!l0) {
		if (fd0 >= 0)
			close(fd0);
		return -errno;
	}
	while ((e0 = readdir(l0))) {
		int fd1;

		if (strlen(e0->d_name) != 2 || strcmp(e0->d_name, "..") == 0)
			continue;
		fd1 = openat(d->blocks_fd, e0->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd1 < 0)
			continue;
		moved += scan_fanout(s, di, fd1, e0->d_name);
		close(fd1);
	}
	closedir(l0);
	if (moved)
		log_info("%s: moved %d blocks from blocks/<h0>/<h1>/ to blocks/<h0>/", d->path,
			 moved);
	return 0;
}

int chunk_store_open(char *const *dirs, int ndirs, const struct chunk_store_opts *opts,
		     struct chunk_store **out)
{
	struct chunk_store *s = xcalloc(1, sizeof(*s));
	int rc = 0;

	pthread_mutex_init(&s->lock, NULL);
	s->opts = *opts;
	s->nbuckets = 1024;
	atomic_store(&s->is_direct, opts->is_direct);
	s->buckets = xcalloc(s->nbuckets, sizeof(*s->buckets));
	s->dirs = xcalloc((size_t)ndirs, sizeof(*s->dirs));
	s->ndirs = ndirs;
	for (int i = 0; i < ndirs; i++) {
		struct store_dir *d = &s->dirs[i];
		int dfd;

		d->path = xstrdup(dirs[i]);
		d->blocks_fd = d->tmp_fd = d->quar_fd = d->lock_fd = -1;
		/* a missing folder is usually an unmounted disk: creating it
		 * would put the store on the root file system */
		if (!opts->is_create && access(d->path, F_OK) < 0 && errno == ENOENT) {
			rc = -ENOENT;
			log_error("data folder %s does not exist (create it, or set create_data = "
				  "yes)", d->path);
			goto out;
		}
		if (mkdir(d->path, 0755) < 0 && errno != EEXIST) {
			rc = -errno;
			log_error("data folder %s: %s", d->path, strerror(-rc));
			goto out;
		}
		dfd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0) {
			rc = -errno;
			log_error("data folder %s: %s", d->path, strerror(-rc));
			goto out;
		}
		/* a second daemon on this folder would delete the first one's
		 * temp files at start-up and race it on every block */
		d->lock_fd = openat(dfd, STORE_LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (d->lock_fd < 0 || flock(d->lock_fd, LOCK_EX | LOCK_NB) < 0) {
			rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
			log_error("data folder %s: %s", d->path,
				  rc == -EBUSY ? "in use by another casfs-chunkd" : strerror(-rc));
			close(dfd);
			goto out;
		}
		spread_subdirs(dfd);
		rc = open_sub(dfd, "blocks", &d->blocks_fd);
		if (!rc)
			rc = open_sub(dfd, "tmp", &d->tmp_fd);
		if (!rc)
			rc = open_sub(dfd, "quarantine", &d->quar_fd);
		close(dfd);
		if (rc) {
			log_error("data folder %s: %s", d->path, strerror(-rc));
			goto out;
		}
		for (int j = 0; j < i; j++) {
			struct stat a, b;

			if (fstat(d->blocks_fd, &a) == 0 && fstat(s->dirs[j].blocks_fd, &b) == 0 &&
			    a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
				log_error("data folder %s given twice", d->path);
				rc = -EINVAL;
				goto out;
			}
		}
		clean_tmp(d);
		rc = scan_dir(s, i);
		if (rc) {
			log_error("data folder %s: cannot scan: %s", d->path, strerror(-rc));
			goto out;
		}
	}
out:
	if (rc) {
		chunk_store_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

void chunk_store_close(struct chunk_store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nbuckets; i++) {
		struct store_ent *e = s->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(s->buckets);
	s->buckets = NULL;
	for (int i = 0; i < s->ndirs; i++) {
		struct store_dir *d = &s->dirs[i];

		if (d->blocks_fd >= 0)
			close(d->blocks_fd);
		if (d->tmp_fd >= 0)
			close(d->tmp_fd);
		if (d->quar_fd >= 0)
			close(d->quar_fd);
		if (d->lock_fd >= 0)
			close(d->lock_fd);
		free(d->path);
		d->path = NULL;
	}
	free(s->dirs);
	s->dirs = NULL;
	while (s->bounce) {
		struct store_bounce *b = s->bounce;

		s->bounce = b->next;
		free(b->buf);
		free(b);
	}
	pthread_mutex_destroy(&s->lock);
	free(s);
}

void chunk_store_set_key(struct chunk_store *s, const struct blk_key *key)
{
	pthread_mutex_lock(&s->lock);
	s->key = *key;
	s->has_key = 1;
	pthread_mutex_unlock(&s->lock);
}

void chunk_store_set_bad_fn(struct chunk_store *s, chunk_store_bad_fn fn, void *ud)
{
	s->bad_fn = fn;
	s->bad_ud = ud;
}

static int store_has_key(struct chunk_store *s)
{
	int has;

	pthread_mutex_lock(&s->lock);
	has = s->has_key;
	pthread_mutex_unlock(&s->lock);
	return has;
}

/* ---- identity ---- */

int chunk_store_ident_load(struct chunk_store *s, struct casfs_uuid *uuid, uint32_t *server_id,
			   int *has)
{
	*has = 0;
	for (int i = 0; i < s->ndirs; i++) {
		char path[4200], hex[40];
		struct casfs_uuid u;
		unsigned long id;
		FILE *f;
		int n;

		snprintf(path, sizeof(path), "%s/%s", s->dirs[i].path, STORE_IDENT_FILE);
		f = fopen(path, "r");
		if (!f) {
			if (errno == ENOENT)
				continue;
			log_error("%s: %s", path, strerror(errno));
			return -errno;
		}
		n = fscanf(f, "cluster %39s server %lu", hex, &id);
		fclose(f);
		if (n != 2 || casfs_hex_parse(hex, u.b, sizeof(u.b)) || id > UINT32_MAX) {
			log_error("%s: malformed identity file", path);
			return -EINVAL;
		}
		if (*has && (memcmp(u.b, uuid->b, sizeof(u.b)) || id != *server_id)) {
			log_error("%s: belongs to another cluster or server than %s", path,
				  s->dirs[0].path);
			return -EXDEV;
		}
		*uuid = u;
		*server_id = (uint32_t)id;
		*has = 1;
	}
	return 0;
}

int chunk_store_ident_save(struct chunk_store *s, const struct casfs_uuid *uuid,
			   uint32_t server_id)
{
	char hex[33];

	casfs_hex_format(uuid->b, sizeof(uuid->b), hex);
	for (int i = 0; i < s->ndirs; i++) {
		char path[4200], tmp[4210], text[96];
		int fd, rc, n;

		if (s->dirs[i].is_failed)
			continue;
		snprintf(path, sizeof(path), "%s/%s", s->dirs[i].path, STORE_IDENT_FILE);
		snprintf(tmp, sizeof(tmp), "%s.tmp", path);
		n = snprintf(text, sizeof(text), "cluster %s\nserver %u\n", hex, server_id);
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			return -errno;
		rc = write_all(fd, text, (size_t)n);
		if (!rc && fsync(fd) < 0)
			rc = -errno;
		close(fd);
		if (!rc && rename(tmp, path) < 0)
			rc = -errno;
		if (rc) {
			log_error("%s: cannot save identity: %s", path, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

/* ---- put ---- */

/* The reserve of a folder whose size is total bytes. */
static uint64_t dir_reserve(const struct chunk_store *s, uint64_t total)
{
	if (s->opts.reserve_bytes)
		return s->opts.reserve_bytes;
	return total / 100 * s->opts.reserve_pct;
}

/* Free bytes of a usable folder; 0 when failed or unreadable. */
static uint64_t dir_avail(struct chunk_store *s, int i, uint64_t *total)
{
	struct statvfs sv;
	int is_failed;

	pthread_mutex_lock(&s->lock);
	is_failed = s->dirs[i].is_failed;
	pthread_mutex_unlock(&s->lock);
	*total = 0;
	if (is_failed || fstatvfs(s->dirs[i].blocks_fd, &sv) < 0)
		return 0;
	*total = (uint64_t)sv.f_blocks * sv.f_frsize;
	return (uint64_t)sv.f_bavail * sv.f_frsize;
}

/* The folder with the most free space that stays above its reserve after
 * len more bytes, skipping those in tried (a bit per folder); -ENOSPC. */
static int pick_dir(struct chunk_store *s, uint64_t len, uint64_t tried, int *out)
{
	uint64_t best = 0;
	int found = -1;

	for (int i = 0; i < s->ndirs && i < 64; i++) {
		uint64_t total, avail;

		if (tried & (1ull << i))
			continue;
		avail = dir_avail(s, i, &total);
		if (avail < len + dir_reserve(s, total) || avail <= best)
			continue;
		best = avail;
		found = i;
	}
	if (found < 0)
		return -ENOSPC;
	*out = found;
	return 0;
}

static struct store_bounce *bounce_get(struct chunk_store *s)
{
	struct store_bounce *b;

	pthread_mutex_lock(&s->lock);
	b = s->bounce;
	if (b)
		s->bounce = b->next;
	pthread_mutex_unlock(&s->lock);
	if (b)
		return b;
	b = xcalloc(1, sizeof(*b));
	if (posix_memalign((void **)&b->buf, STORE_DIRECT_ALIGN, CHUNK_BLOCK_MAX))
		abort();
	return b;
}

static void bounce_put(struct chunk_store *s, struct store_bounce *b)
{
	pthread_mutex_lock(&s->lock);
	b->next = s->bounce;
	s->bounce = b;
	pthread_mutex_unlock(&s->lock);
}

/* Writes the block's bytes to a new file. The aligned part goes with
 * O_DIRECT when the file system takes it: on this class of machine, filling
 * fresh page-cache pages costs more CPU than anything else in a PUT
 * (buffered writes measured ~0.6-0.9 GB/s against ~1.4-2 GB/s direct), and a
 * chunk server rarely re-reads what it just wrote (the client caches it).
 * The unaligned tail goes through the page cache. */
static int write_data(struct chunk_store *s, int fd, const void *data, uint32_t len)
{
	uint32_t aligned = len & ~(uint32_t)(STORE_DIRECT_ALIGN - 1);
	const uint8_t *p = data;
	struct store_bounce *b = NULL;
	int fl, rc;

	if (!atomic_load(&s->is_direct) || aligned == 0)
		return write_all(fd, data, len);
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_DIRECT) < 0) {
		atomic_store(&s->is_direct, 0);
		return write_all(fd, data, len);
	}
	if ((uintptr_t)p % STORE_DIRECT_ALIGN) {
		b = bounce_get(s);
		memcpy(b->buf, p, aligned);
		p = b->buf;
	}
	rc = write_all(fd, p, aligned);
	if (b)
		bounce_put(s, b);
	if (fcntl(fd, F_SETFL, fl) < 0)
		return -errno;
	if (rc == -EINVAL) {
		/* the file system accepted the flag but not the I/O: go buffered */
		atomic_store(&s->is_direct, 0);
		if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
			return -errno;
		return write_all(fd, data, len);
	}
	if (rc)
		return rc;
	return write_all(fd, (const uint8_t *)data + aligned, len - aligned);
}

/* Moves the written tmp file to blocks/rel without replacing a file there
 * (-EEXIST). */
static int place_block(struct store_dir *d, const char *tmp, char *rel)
{
	int rc = 0;

	for (int attempt = 0; attempt < 2; attempt++) {
		if (renameat2(d->tmp_fd, tmp, d->blocks_fd, rel, RENAME_NOREPLACE) == 0)
			return 0;
		rc = -errno;
		if (rc == -EINVAL) {
			/* a file system without RENAME_NOREPLACE: link fails on EEXIST too */
			if (linkat(d->tmp_fd, tmp, d->blocks_fd, rel, 0) == 0) {
				unlinkat(d->tmp_fd, tmp, 0);
				return 0;
			}
			rc = -errno;
		}
		if (rc != -ENOENT || attempt)
			break;
		/* first block in this fan-out directory: make it and retry */
		rel[2] = '\0';
		rc = mkdirat(d->blocks_fd, rel, 0755) < 0 && errno != EEXIST ? -errno : 0;
		rel[2] = '/';
		if (rc)
			break;
	}
	return rc;
}

/* Writes data to a temp file in dir and renames it to the block's name
 * without replacing anything: -EEXIST if a copy appeared meanwhile.
 * *stamp is the placed file's (data was hashed by the caller). */
static int write_block(struct chunk_store *s, int dir, const struct blk_id *id,
		       const void *data, uint32_t len, uint64_t *stamp)
{
	struct store_dir *d = &s->dirs[dir];
	char tmp[64], rel[48];
	int fd, rc;

	*stamp = 0;
	snprintf(tmp, sizeof(tmp), "%d.%" PRIu64 ".tmp", (int)getpid(),
		 (uint64_t)atomic_fetch_add(&s->tmp_seq, 1));
	blk_relpath(id, rel);
	fd = openat(d->tmp_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	rc = write_data(s, fd, data, len);
	if (!rc)
		rc = place_block(d, tmp, rel);
	if (!rc) {
		struct stat st;

		/* after the rename, which moves the change time */
		*stamp = fstat(fd, &st) == 0 ? store_stamp(&st) : 0;
	}
	if (close(fd) < 0 && !rc) {
		rc = -errno;
		unlinkat(d->blocks_fd, rel, 0);	/* ours: placed without replacing */
	}
	if (rc)
		unlinkat(d->tmp_fd, tmp, 0);
	return rc;
}

/* Compares data with the copy held in dir: 0 same, -EILSEQ collision,
 * -ENOENT the copy was bad or gone (it has been dropped: store again). */
static int compare_existing(struct chunk_store *s, int dir, const struct blk_id *id, uint32_t have,
			    const void *data, uint32_t len)
{
	uint8_t *buf = xmalloc(have ? have : 1);
	char hex[BLK_ID_HEX_LEN + 1];
	uint64_t stamp;
	uint32_t got;
	int rc;

	rc = store_read_file(s, dir, id, have, buf, have, &got, &stamp);
	if (rc == 0) {
		if (got == len && memcmp(buf, data, len) == 0)
			goto out;
		blk_id_format(id, hex);
		log_error("HASH COLLISION: block %s arrived with %u bytes that differ from the "
			  "%u verified bytes held in %s; refused, nothing merged",
			  hex, len, got, s->dirs[dir].path);
		rc = -EILSEQ;
		goto out;
	}
	if (rc == -EBADMSG) {
		store_quarantine(s, dir, id, "content does not match its id");
		rc = -ENOENT;
	} else if (rc == -ENOENT) {
		pthread_mutex_lock(&s->lock);
		idx_remove(s, id, dir);
		pthread_mutex_unlock(&s->lock);
	} else if (is_disk_error(-rc)) {
		store_fail_dir(s, dir, "read", -rc);
		rc = -ENOENT;
	}
out:
	free(buf);
	buf = NULL;
	return rc;
}

static int store_put(struct chunk_store *s, const struct blk_id *id, const void *data,
		     uint32_t len, int is_verified, int *is_new)
{
	uint64_t tried = 0, stamp;
	uint32_t have;
	int dir, rc;

	*is_new = 0;
	if (!store_has_key(s))
		return -EAGAIN;
	if (len > CHUNK_BLOCK_MAX)
		return -EFBIG;
	if (!is_verified && blk_verify(&s->key, data, len, id))
		return -EBADMSG;
	for (int round = 0; round < 4 + s->ndirs; round++) {
		if (idx_find(s, id, &dir, &have)) {
			rc = compare_existing(s, dir, id, have, data, len);
			if (rc != -ENOENT)
				return rc;
		}
		rc = pick_dir(s, len, tried, &dir);
		if (rc)
			return rc;
		rc = write_block(s, dir, id, data, len, &stamp);
		if (rc == 0) {
			pthread_mutex_lock(&s->lock);
			idx_insert(s, id, len, dir, stamp);
			pthread_mutex_unlock(&s->lock);
			*is_new = 1;
			return 0;
		}
		if (rc == -EEXIST) {
			/* a concurrent put of the same id won the rename: compare with it */
			char rel[48];
			struct stat st;

			blk_relpath(id, rel);
			if (fstatat(s->dirs[dir].blocks_fd, rel, &st, 0) == 0 &&
			    st.st_size <= CHUNK_BLOCK_MAX) {
				pthread_mutex_lock(&s->lock);
				idx_insert(s, id, (uint32_t)st.st_size, dir, 0);
				pthread_mutex_unlock(&s->lock);
			}
			continue;
		}
		if (is_disk_error(-rc))
			store_fail_dir(s, dir, "write", -rc);
		else if (rc != -ENOSPC && rc != -EDQUOT)
			return rc;
		tried |= 1ull << dir;
	}
	return -ENOSPC;
}

int chunk_store_put(struct chunk_store *s, const struct blk_id *id, const void *data,
		    uint32_t len, int *is_new)
{
	return store_put(s, id, data, len, 0, is_new);
}

int chunk_store_put_verified(struct chunk_store *s, const struct blk_id *id, const void *data,
			     uint32_t len, int *is_new)
{
	return store_put(s, id, data, len, 1, is_new);
}

/* ---- read, delete, sync ---- */

int chunk_store_read(struct chunk_store *s, const struct blk_id *id, void *buf, uint32_t cap,
		     uint32_t *len)
{
	uint64_t stamp;
	uint32_t have;
	int dir, rc;

	if (!store_has_key(s))
		return -EAGAIN;
	if (!idx_find(s, id, &dir, &have))
		return -ENOENT;
	rc = store_read_file(s, dir, id, have, buf, cap, len, &stamp);
	if (rc == 0)
		idx_set_stamp(s, id, dir, stamp);
	if (rc == 0 || rc == -ENOBUFS)
		return rc;
	if (rc == -EBADMSG) {
		store_quarantine(s, dir, id, "content does not match its id");
		return -EIO;
	}
	if (rc == -ENOENT) {
		char hex[BLK_ID_HEX_LEN + 1];

		blk_id_format(id, hex);
		log_error("block %s vanished from %s", hex, s->dirs[dir].path);
		pthread_mutex_lock(&s->lock);
		rc = idx_remove(s, id, dir);
		pthread_mutex_unlock(&s->lock);
		if (rc)
			store_report_bad(s, id);
		return -ENOENT;
	}
	if (is_disk_error(-rc))
		store_fail_dir(s, dir, "read", -rc);
	return -EIO;
}

int chunk_store_open_verified(struct chunk_store *s, const struct blk_id *id, int *fd,
			      uint32_t *len)
{
	uint64_t stamp;
	struct stat st;
	char rel[48];
	int dir;

	*fd = -1;
	if (!store_has_key(s))
		return -EAGAIN;
	if (!idx_find_stamp(s, id, &dir, len, &stamp))
		return -ENOENT;
	if (!stamp)
		return -ESTALE;
	blk_relpath(id, rel);
	*fd = openat(s->dirs[dir].blocks_fd, rel, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return -ESTALE;	/* chunk_store_read sorts out why */
	if (fstat(*fd, &st) == 0 && store_stamp(&st) == stamp && (uint64_t)st.st_size == *len)
		return 0;
	close(*fd);
	*fd = -1;
	return -ESTALE;
}

int chunk_store_has(struct chunk_store *s, const struct blk_id *id, uint32_t *len)
{
	int dir;

	return idx_find(s, id, &dir, len);
}

int chunk_store_delete(struct chunk_store *s, const struct blk_id *id)
{
	char rel[48];
	uint32_t len;
	int dir, removed;

	if (!idx_find(s, id, &dir, &len))
		return 0;
	blk_relpath(id, rel);
	pthread_mutex_lock(&s->lock);
	removed = idx_remove(s, id, dir);
	pthread_mutex_unlock(&s->lock);
	if (removed && unlinkat(s->dirs[dir].blocks_fd, rel, 0) < 0 && errno != ENOENT) {
		int rc = -errno;

		if (is_disk_error(-rc))
			store_fail_dir(s, dir, "unlink", -rc);
		return rc;
	}
	return 0;
}

static int fsync_at(int dfd, const char *rel)
{
	int fd = openat(dfd, rel, O_RDONLY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (fdatasync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int chunk_store_sync(struct chunk_store *s, const struct blk_id *ids, size_t n)
{
	uint64_t dir_mask = 0;
	char (*subdirs)[8] = NULL;
	int *subdir_of = NULL;
	size_t nsub = 0;
	int rc = 0;

	if (n <= STORE_SYNCFS_BATCH) {
		subdirs = xcalloc(n ? n : 1, sizeof(*subdirs));
		subdir_of = xcalloc(n ? n : 1, sizeof(*subdir_of));
	}
	for (size_t i = 0; i < n; i++) {
		char rel[48];
		uint32_t len;
		int dir, known = 0;

		if (!idx_find(s, &ids[i], &dir, &len)) {
			rc = -ENOENT;
			goto out;
		}
		dir_mask |= 1ull << (dir & 63);
		if (!subdirs)
			continue;
		blk_relpath(&ids[i], rel);
		rc = fsync_at(s->dirs[dir].blocks_fd, rel);
		if (rc)
			goto out;
		rel[2] = '\0';
		for (size_t k = 0; k < nsub; k++)
			known |= subdir_of[k] == dir && strcmp(subdirs[k], rel) == 0;
		if (!known) {
			memcpy(subdirs[nsub], rel, 3);
			subdir_of[nsub++] = dir;
		}
	}
	for (int d = 0; d < s->ndirs && d < 64; d++) {
		if (!(dir_mask & (1ull << d)))
			continue;
		if (!subdirs) {
			if (syncfs(s->dirs[d].blocks_fd) < 0) {
				rc = -errno;
				goto out;
			}
			continue;
		}
		/* the fan-out directories may be new: their entries need syncing too */
		for (size_t k = 0; k < nsub && !rc; k++)
			if (subdir_of[k] == d)
				rc = fsync_at(s->dirs[d].blocks_fd, subdirs[k]);
		if (!rc && fsync(s->dirs[d].blocks_fd) < 0)
			rc = -errno;
		if (rc)
			goto out;
	}
out:
	free(subdirs);
	subdirs = NULL;
	free(subdir_of);
	subdir_of = NULL;
	return rc;
}

void chunk_store_list(struct chunk_store *s, struct chunk_store_ent **out, size_t *n)
{
	struct chunk_store_ent *v;
	size_t k = 0;

	pthread_mutex_lock(&s->lock);
	v = xmalloc((s->count ? s->count : 1) * sizeof(*v));
	for (size_t i = 0; i < s->nbuckets; i++)
		for (struct store_ent *e = s->buckets[i]; e; e = e->next) {
			v[k].id = e->id;
			v[k].len = e->len;
			k++;
		}
	pthread_mutex_unlock(&s->lock);
	*out = v;
	*n = k;
}

void chunk_store_stats(struct chunk_store *s, struct chunk_store_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->is_full = 1;
	for (int i = 0; i < s->ndirs; i++) {
		uint64_t total, avail = dir_avail(s, i, &total), reserve = dir_reserve(s, total);

		pthread_mutex_lock(&s->lock);
		if (s->dirs[i].is_failed)
			st->has_failed = 1;
		st->used += s->dirs[i].used;
		st->blocks += s->dirs[i].nblocks;
		pthread_mutex_unlock(&s->lock);
		if (!total)
			continue;
		st->total += total;
		st->free += avail > reserve ? avail - reserve : 0;
		/* "full" = under its reserve, give or take one default-sized (1 MiB)
		 * block, so metad stops placing here before PUTs start failing */
		if (avail >= reserve + (1u << 20))
			st->is_full = 0;
	}
}
