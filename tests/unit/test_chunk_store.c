/* Unit tests for the chunk server's block store (chunkd/store.c) and its
 * scrubber (chunkd/scrub.c): put/get/delete/verify/sync, crash leftovers
 * (torn temp files), corruption (truncated blocks, flipped bytes) found on
 * read and by the scrubber, collisions, full folders and failing disks.
 * Faults are injected with the linker's --wrap: write() can fail with EIO
 * or ENOSPC, pread() (pread64 under _FILE_OFFSET_BITS=64) with EIO, and blk_verify() can be told to accept one forged buffer, the
 * only way to stage a real hash collision. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/fs.h>
#include <unistd.h>
#include <cmocka.h>

#include "chunkd/chunkd_int.h"
#include "chunkd/scrub.h"
#include "chunkd/store.h"
#include "fs/xmalloc.h"

/* ---- fault injection ---- */

ssize_t __real_write(int fd, const void *buf, size_t len);
int __real_blk_verify(const struct blk_key *key, const void *data, size_t len,
		      const struct blk_id *id);

static int write_fail_errno;	/* next write fails with this errno */
static int write_fail_count;	/* ... this many times */
static const void *forged;	/* blk_verify accepts this buffer */

ssize_t __real_pread64(int fd, void *buf, size_t len, off_t off);
static int pread_fail_count;	/* next preads fail with EIO */

ssize_t __wrap_pread64(int fd, void *buf, size_t len, off_t off);
ssize_t __wrap_pread64(int fd, void *buf, size_t len, off_t off)
{
	if (pread_fail_count > 0) {
		pread_fail_count--;
		errno = EIO;
		return -1;
	}
	return __real_pread64(fd, buf, len, off);
}

ssize_t __wrap_write(int fd, const void *buf, size_t len);
ssize_t __wrap_write(int fd, const void *buf, size_t len)
{
	if (write_fail_count > 0) {
		write_fail_count--;
		errno = write_fail_errno;
		return -1;
	}
	return __real_write(fd, buf, len);
}

int __wrap_blk_verify(const struct blk_key *key, const void *data, size_t len,
		      const struct blk_id *id);
int __wrap_blk_verify(const struct blk_key *key, const void *data, size_t len,
		      const struct blk_id *id)
{
	if (forged && data == forged)
		return 0;
	return __real_blk_verify(key, data, len, id);
}

/* The scrubber asks the daemon whether it is registered; tests say yes. */
int chunkd_wait_registered(struct chunkd *cd, int timeout_ms)
{
	(void)timeout_ms;
	return cd->is_registered;
}

void chunkd_request_exit(struct chunkd *cd, int code)
{
	(void)cd;
	(void)code;
}

/* ---- fixture ---- */

struct fx {
	char dir[64];
	char *dirs[2];
	int ndirs;
	struct chunk_store *s;
	struct blk_key key;
	int nbad;
	struct blk_id last_bad;
};

static void on_bad(void *ud, const struct blk_id *id)
{
	struct fx *f = ud;

	f->nbad++;
	f->last_bad = *id;
}

static void fx_open(struct fx *f, const struct chunk_store_opts *opts)
{
	assert_int_equal(chunk_store_open(f->dirs, f->ndirs, opts, &f->s), 0);
	chunk_store_set_key(f->s, &f->key);
	chunk_store_set_bad_fn(f->s, on_bad, f);
}

static const struct chunk_store_opts default_opts = { .reserve_pct = 1, .is_direct = 1,
						     .is_create = 1 };

static int setup_n(void **state, int ndirs)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	uint8_t seed[BLK_KEY_SEED_SIZE];
	char path[128];

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_chunk_store.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->ndirs = ndirs;
	for (int i = 0; i < ndirs; i++) {
		snprintf(path, sizeof(path), "%s/d%d", f->dir, i);
		f->dirs[i] = xstrdup(path);
	}
	for (size_t i = 0; i < sizeof(seed); i++)
		seed[i] = (uint8_t)i;
	blk_key_init(&f->key, seed, sizeof(seed));
	fx_open(f, &default_opts);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_n(state, 1);
}

static int setup2(void **state)
{
	return setup_n(state, 2);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	chunk_store_close(f->s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	for (int i = 0; i < f->ndirs; i++)
		free(f->dirs[i]);
	free(f);
	write_fail_count = 0;
	pread_fail_count = 0;
	forged = NULL;
	return 0;
}

static uint8_t *make_block(uint32_t len, unsigned salt)
{
	uint8_t *p = xmalloc(len ? len : 1);

	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)((i * 31 + salt * 17 + (i >> 8)) & 0xff);
	return p;
}

/* Path of a block's file in folder i. */
static void block_path(struct fx *f, int i, const struct blk_id *id, char *out, size_t cap)
{
	char hex[BLK_ID_HEX_LEN + 1];

	blk_id_format(id, hex);
	snprintf(out, cap, "%s/blocks/%.2s/%s", f->dirs[i], hex + 2, hex);
}

static int count_files(const char *dir)
{
	char cmd[256];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "find '%s' -type f | wc -l", dir);
	p = popen(cmd, "r");
	if (p) {
		if (fscanf(p, "%d", &n) != 1)
			n = -1;
		pclose(p);
	}
	return n;
}

/* Files under blocks/ and tmp/ of every folder: the block data. */
static int count_data_files(struct fx *f)
{
	char path[256];
	int n = 0;

	for (int i = 0; i < f->ndirs; i++) {
		snprintf(path, sizeof(path), "%s/blocks", f->dirs[i]);
		n += count_files(path);
		snprintf(path, sizeof(path), "%s/tmp", f->dirs[i]);
		n += count_files(path);
	}
	return n;
}

static void put_ok(struct fx *f, uint32_t len, unsigned salt, struct blk_id *id)
{
	uint8_t *data = make_block(len, salt);
	int is_new = 0;

	blk_hash(&f->key, data, len, id);
	assert_int_equal(chunk_store_put(f->s, id, data, len, &is_new), 0);
	assert_int_equal(is_new, 1);
	free(data);
}

/* ---- tests ---- */

static void test_put_get_roundtrip(void **state)
{
	struct fx *f = *state;
	static const uint32_t sizes[] = { 0, 1, 4095, 4096, 4097, 65536, 1 << 20, (1 << 20) + 5,
					  CHUNK_BLOCK_MAX };
	uint8_t *buf = xmalloc(CHUNK_BLOCK_MAX);

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *data = make_block(sizes[i], (unsigned)i);
		struct blk_id id;
		uint32_t len = 12345, have;
		int is_new;

		blk_hash(&f->key, data, sizes[i], &id);
		assert_int_equal(chunk_store_put(f->s, &id, data, sizes[i], &is_new), 0);
		assert_int_equal(is_new, 1);
		assert_int_equal(chunk_store_has(f->s, &id, &have), 1);
		assert_int_equal(have, sizes[i]);
		assert_int_equal(chunk_store_read(f->s, &id, buf, CHUNK_BLOCK_MAX, &len), 0);
		assert_int_equal(len, sizes[i]);
		if (sizes[i])
			assert_memory_equal(buf, data, sizes[i]);
		/* the same bytes again: compared, nothing new */
		assert_int_equal(chunk_store_put(f->s, &id, data, sizes[i], &is_new), 0);
		assert_int_equal(is_new, 0);
		free(data);
	}
	free(buf);
	assert_int_equal(f->nbad, 0);
}

static void test_put_wrong_id(void **state)
{
	struct fx *f = *state;
	uint8_t *data = make_block(1000, 1);
	struct blk_id id;
	uint32_t len;
	int is_new;

	blk_hash(&f->key, data, 1000, &id);
	data[10] ^= 1;
	assert_int_equal(chunk_store_put(f->s, &id, data, 1000, &is_new), -EBADMSG);
	assert_int_equal(chunk_store_has(f->s, &id, &len), 0);
	assert_int_equal(count_data_files(f), 0);
	free(data);
}

static void test_put_too_big(void **state)
{
	struct fx *f = *state;
	struct blk_id id = { .alg = BLK_ALG_XXH3_128K };
	int is_new;

	assert_int_equal(chunk_store_put(f->s, &id, "", CHUNK_BLOCK_MAX + 1, &is_new), -EFBIG);
}

static void test_no_key_yet(void **state)
{
	struct fx *f = *state;
	struct chunk_store *s;
	struct blk_id id;
	uint32_t len;
	int is_new, fd;

	chunk_store_close(f->s);
	assert_int_equal(chunk_store_open(f->dirs, 1, &default_opts, &s), 0);
	blk_hash(&f->key, "abc", 3, &id);
	assert_int_equal(chunk_store_put(s, &id, "abc", 3, &is_new), -EAGAIN);
	assert_int_equal(chunk_store_read(s, &id, NULL, 0, &len), -EAGAIN);
	assert_int_equal(chunk_store_open_verified(s, &id, &fd, &len), -EAGAIN);
	assert_int_equal(fd, -1);
	f->s = s;
}

static void test_collision_refused(void **state)
{
	struct fx *f = *state;
	uint8_t *a = make_block(5000, 1), *b = make_block(5000, 2);
	uint8_t *buf = xmalloc(5000);
	struct blk_id id;
	uint32_t len;
	int is_new;

	blk_hash(&f->key, a, 5000, &id);
	assert_int_equal(chunk_store_put(f->s, &id, a, 5000, &is_new), 0);
	/* b "hashes" to a's id: a collision; it must be refused, a kept */
	forged = b;
	assert_int_equal(chunk_store_put(f->s, &id, b, 5000, &is_new), -EILSEQ);
	assert_int_equal(is_new, 0);
	forged = NULL;
	assert_int_equal(chunk_store_read(f->s, &id, buf, 5000, &len), 0);
	assert_memory_equal(buf, a, 5000);
	assert_int_equal(f->nbad, 0);
	free(a);
	free(b);
	free(buf);
}

static void corrupt_and_check_read(struct fx *f, int truncate_it)
{
	uint8_t *buf = xmalloc(1 << 20);
	char path[512], qdir[128];
	struct blk_id id;
	uint32_t len;
	int fd;

	put_ok(f, 300000, 7, &id);
	block_path(f, 0, &id, path, sizeof(path));
	if (truncate_it) {
		assert_int_equal(truncate(path, 299999), 0);
	} else {
		uint8_t c;

		fd = open(path, O_RDWR);
		assert_true(fd >= 0);
		assert_int_equal(pread(fd, &c, 1, 123456), 1);
		c ^= 0x20;
		assert_int_equal(pwrite(fd, &c, 1, 123456), 1);
		close(fd);
	}
	assert_int_equal(chunk_store_read(f->s, &id, buf, 1 << 20, &len), -EIO);
	assert_int_equal(f->nbad, 1);
	assert_true(blk_id_equal(&f->last_bad, &id));
	assert_int_equal(chunk_store_has(f->s, &id, &len), 0);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(qdir, sizeof(qdir), "%s/quarantine", f->dirs[0]);
	assert_int_equal(count_files(qdir), 1);
	/* treated as missing from now on */
	assert_int_equal(chunk_store_read(f->s, &id, buf, 1 << 20, &len), -ENOENT);
	free(buf);
}

/* The file open_verified hands out holds exactly the block's bytes. */
static void check_verified_fd(struct fx *f, const struct blk_id *id, uint32_t want_len,
			      unsigned salt)
{
	uint8_t *data = make_block(want_len, salt), *buf = xmalloc(want_len + 1);
	uint32_t len = 0;
	int fd;

	assert_int_equal(chunk_store_open_verified(f->s, id, &fd, &len), 0);
	assert_true(fd >= 0);
	assert_int_equal(len, want_len);
	assert_int_equal(pread(fd, buf, want_len + 1, 0), (ssize_t)want_len);
	assert_memory_equal(buf, data, want_len);
	close(fd);
	free(buf);
	free(data);
}

/* A stored block is sent from its file without a second hash. */
static void test_open_verified_after_put(void **state)
{
	struct fx *f = *state;
	struct blk_id id, other;
	uint32_t len;
	int fd;

	put_ok(f, 300000, 3, &id);
	check_verified_fd(f, &id, 300000, 3);
	check_verified_fd(f, &id, 300000, 3);
	blk_hash(&f->key, "not held", 8, &other);
	assert_int_equal(chunk_store_open_verified(f->s, &other, &fd, &len), -ENOENT);
	assert_int_equal(fd, -1);
}

/* Blocks found at open were hashed by nobody: each goes through
 * chunk_store_read once, and is sent as is after that. */
static void test_open_verified_after_reopen(void **state)
{
	struct fx *f = *state;
	uint8_t *buf = xmalloc(1 << 20);
	struct blk_id id;
	uint32_t len;
	int fd;

	put_ok(f, 70000, 4, &id);
	chunk_store_close(f->s);
	fx_open(f, &default_opts);
	assert_int_equal(chunk_store_open_verified(f->s, &id, &fd, &len), -ESTALE);
	assert_int_equal(fd, -1);
	assert_int_equal(chunk_store_read(f->s, &id, buf, 1 << 20, &len), 0);
	check_verified_fd(f, &id, 70000, 4);
	free(buf);
}

/* Changes the block file of id in place (how = 0 flips a byte, 1 truncates,
 * 2 replaces it with a new file holding the same bytes), after the coarse
 * clock has moved on: a change within the tick of the store keeps the change
 * time, the stamp's documented limit. */
static void change_block_file(struct fx *f, const struct blk_id *id, int how, unsigned salt,
			      uint32_t len)
{
	char path[512], tmp[600];
	uint8_t c;
	int fd;

	block_path(f, 0, id, path, sizeof(path));
	usleep(30 * 1000);
	if (how == 1) {
		assert_int_equal(truncate(path, len - 1), 0);
		return;
	}
	if (how == 2) {
		uint8_t *data = make_block(len, salt);

		snprintf(tmp, sizeof(tmp), "%s.new", path);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, data, len), (ssize_t)len);
		close(fd);
		assert_int_equal(rename(tmp, path), 0);
		free(data);
		return;
	}
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, len / 2), 1);
	c ^= 0x01;
	assert_int_equal(pwrite(fd, &c, 1, len / 2), 1);
	close(fd);
}

/* A block file changed after its hash is never handed out as is: it goes
 * back through the hash, which quarantines a bad one and re-admits a good
 * one. */
static void test_open_verified_refuses_changed_file(void **state)
{
	struct fx *f = *state;
	uint8_t *buf = xmalloc(1 << 20);
	struct blk_id id;
	uint32_t len;
	int fd;

	for (int how = 0; how < 2; how++) {
		put_ok(f, 200000, 10 + (unsigned)how, &id);
		check_verified_fd(f, &id, 200000, 10 + (unsigned)how);
		change_block_file(f, &id, how, 10 + (unsigned)how, 200000);
		assert_int_equal(chunk_store_open_verified(f->s, &id, &fd, &len), -ESTALE);
		assert_int_equal(fd, -1);
		assert_int_equal(chunk_store_read(f->s, &id, buf, 1 << 20, &len), -EIO);
		assert_int_equal(f->nbad, how + 1);
		assert_int_equal(chunk_store_open_verified(f->s, &id, &fd, &len), -ENOENT);
	}
	/* the same bytes in a new file: hashed again, then sent as is */
	put_ok(f, 200000, 12, &id);
	change_block_file(f, &id, 2, 12, 200000);
	assert_int_equal(chunk_store_open_verified(f->s, &id, &fd, &len), -ESTALE);
	assert_int_equal(chunk_store_read(f->s, &id, buf, 1 << 20, &len), 0);
	check_verified_fd(f, &id, 200000, 12);
	assert_int_equal(f->nbad, 2);
	free(buf);
}

/* Each data folder is marked as the top of its own hierarchy, so that ext4
 * spreads its subfolders over block groups. Checked where the file system
 * has inode flags (the test folder is under /tmp: ext4 on the test VM). */
static void test_data_folder_topdir(void **state)
{
	struct fx *f = *state;
	int fd = open(f->dirs[0], O_RDONLY | O_DIRECTORY), fl = 0;

	assert_true(fd >= 0);
	if (ioctl(fd, FS_IOC_GETFLAGS, &fl) == 0)
		assert_true(fl & FS_TOPDIR_FL);
	else
		assert_true(errno == ENOTTY || errno == EOPNOTSUPP || errno == EINVAL);
	close(fd);
}

static void test_flipped_byte_on_read(void **state)
{
	corrupt_and_check_read(*state, 0);
}

static void test_truncated_on_read(void **state)
{
	corrupt_and_check_read(*state, 1);
}

static void test_corrupt_copy_replaced_by_put(void **state)
{
	struct fx *f = *state;
	uint8_t *data = make_block(70000, 3), *buf = xmalloc(70000);
	char path[512];
	struct blk_id id;
	uint32_t len;
	int is_new;

	blk_hash(&f->key, data, 70000, &id);
	assert_int_equal(chunk_store_put(f->s, &id, data, 70000, &is_new), 0);
	block_path(f, 0, &id, path, sizeof(path));
	assert_int_equal(truncate(path, 100), 0);
	/* a good copy arrives: the bad one is quarantined and replaced */
	assert_int_equal(chunk_store_put(f->s, &id, data, 70000, &is_new), 0);
	assert_int_equal(is_new, 1);
	assert_int_equal(f->nbad, 1);
	assert_int_equal(chunk_store_read(f->s, &id, buf, 70000, &len), 0);
	assert_memory_equal(buf, data, 70000);
	free(data);
	free(buf);
}

static void test_vanished_file(void **state)
{
	struct fx *f = *state;
	uint8_t buf[100];
	char path[512];
	struct blk_id id;
	uint32_t len;

	put_ok(f, 100, 9, &id);
	block_path(f, 0, &id, path, sizeof(path));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(chunk_store_read(f->s, &id, buf, sizeof(buf), &len), -ENOENT);
	assert_int_equal(f->nbad, 1);
}

static void test_small_buffer(void **state)
{
	struct fx *f = *state;
	uint8_t buf[10];
	struct blk_id id;
	uint32_t len = 0;

	put_ok(f, 100, 9, &id);
	assert_int_equal(chunk_store_read(f->s, &id, buf, sizeof(buf), &len), -ENOBUFS);
	assert_int_equal(len, 100);
	assert_int_equal(f->nbad, 0);
}

static void test_delete(void **state)
{
	struct fx *f = *state;
	char path[512];
	struct blk_id id;
	uint32_t len;

	put_ok(f, 4096, 5, &id);
	block_path(f, 0, &id, path, sizeof(path));
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(chunk_store_delete(f->s, &id), 0);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(chunk_store_has(f->s, &id, &len), 0);
	/* deleting what is not held is fine */
	assert_int_equal(chunk_store_delete(f->s, &id), 0);
	assert_int_equal(f->nbad, 0);
}

static void test_sync(void **state)
{
	struct fx *f = *state;
	struct blk_id ids[40], missing;

	for (int i = 0; i < 40; i++)
		put_ok(f, 1000 + (uint32_t)i, (unsigned)i, &ids[i]);
	/* one, a small batch (fdatasync each), a large batch (syncfs) */
	assert_int_equal(chunk_store_sync(f->s, ids, 1), 0);
	assert_int_equal(chunk_store_sync(f->s, ids, 10), 0);
	assert_int_equal(chunk_store_sync(f->s, ids, 40), 0);
	assert_int_equal(chunk_store_sync(f->s, ids, 0), 0);
	blk_hash(&f->key, "nope", 4, &missing);
	ids[3] = missing;
	assert_int_equal(chunk_store_sync(f->s, ids, 5), -ENOENT);
}

static void test_reopen_and_torn_temp(void **state)
{
	struct fx *f = *state;
	struct chunk_store_ent *v;
	struct blk_id ids[5];
	char path[256];
	size_t n;
	int fd;

	for (int i = 0; i < 5; i++)
		put_ok(f, 10000 * (uint32_t)(i + 1), (unsigned)i, &ids[i]);
	chunk_store_close(f->s);
	/* what SIGKILL in the middle of a PUT leaves behind */
	snprintf(path, sizeof(path), "%s/tmp/1234.99.tmp", f->dirs[0]);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "partial", 7), 7);
	close(fd);
	/* and junk that is not a block */
	snprintf(path, sizeof(path), "%s/blocks/zz", f->dirs[0]);
	assert_int_equal(mkdir(path, 0755), 0);
	fx_open(f, &default_opts);
	snprintf(path, sizeof(path), "%s/tmp", f->dirs[0]);
	assert_int_equal(count_files(path), 0);
	chunk_store_list(f->s, &v, &n);
	assert_int_equal(n, 5);
	for (int i = 0; i < 5; i++) {
		uint32_t len;

		assert_int_equal(chunk_store_has(f->s, &ids[i], &len), 1);
		assert_int_equal(len, 10000 * (uint32_t)(i + 1));
	}
	free(v);
}

/* A store in the older blocks/<h0>/<h1>/<id> layout is moved up a level at
 * open: every block indexed and readable, a copy already in the new place
 * kept, the emptied folders gone. */
static void test_old_layout_moved_up(void **state)
{
	struct fx *f = *state;
	uint8_t *buf = xmalloc(CHUNK_BLOCK_MAX);
	char now[256], old[400], sub[300], hex[BLK_ID_HEX_LEN + 1];
	struct blk_id ids[3];
	struct stat st;
	uint32_t len;

	for (int i = 0; i < 3; i++)
		put_ok(f, 5000 * (uint32_t)(i + 1), (unsigned)i + 40, &ids[i]);
	chunk_store_close(f->s);
	for (int i = 0; i < 3; i++) {
		block_path(f, 0, &ids[i], now, sizeof(now));
		blk_id_format(&ids[i], hex);
		snprintf(sub, sizeof(sub), "%s/blocks/%.2s/%.2s", f->dirs[0], hex + 2, hex + 4);
		snprintf(old, sizeof(old), "%s/%s", sub, hex);
		assert_true(mkdir(sub, 0755) == 0 || errno == EEXIST);
		if (i == 0)	/* a copy in both places */
			assert_int_equal(link(now, old), 0);
		else
			assert_int_equal(rename(now, old), 0);
	}
	fx_open(f, &default_opts);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(chunk_store_read(f->s, &ids[i], buf, CHUNK_BLOCK_MAX, &len), 0);
		assert_int_equal(len, 5000 * (uint32_t)(i + 1));
		block_path(f, 0, &ids[i], now, sizeof(now));
		assert_int_equal(stat(now, &st), 0);
		blk_id_format(&ids[i], hex);
		snprintf(sub, sizeof(sub), "%s/blocks/%.2s/%.2s", f->dirs[0], hex + 2, hex + 4);
		assert_int_equal(stat(sub, &st), -1);
		assert_int_equal(errno, ENOENT);
	}
	free(buf);
}

static void test_folder_locked(void **state)
{
	struct fx *f = *state;
	struct chunk_store *s2 = NULL;

	/* the fixture's store holds the folder: a second one is refused */
	assert_int_equal(chunk_store_open(f->dirs, 1, &default_opts, &s2), -EBUSY);
	assert_null(s2);
	/* the same folder twice in one daemon is refused too */
	chunk_store_close(f->s);
	f->dirs[1] = xstrdup(f->dirs[0]);
	assert_int_not_equal(chunk_store_open(f->dirs, 2, &default_opts, &s2), 0);
	free(f->dirs[1]);
	f->dirs[1] = NULL;
	fx_open(f, &default_opts);
}

static void test_missing_folder_refused(void **state)
{
	struct fx *f = *state;
	struct chunk_store_opts opts = default_opts;
	struct chunk_store *s2 = NULL;
	char path[160], *dirs[1] = { path };
	struct stat st;

	/* a missing folder (an unmounted disk) is refused, and not created */
	snprintf(path, sizeof(path), "%s/unmounted", f->dir);
	opts.is_create = 0;
	assert_int_equal(chunk_store_open(dirs, 1, &opts, &s2), -ENOENT);
	assert_null(s2);
	assert_int_equal(stat(path, &st), -1);
	/* an existing one opens without the flag */
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(chunk_store_open(dirs, 1, &opts, &s2), 0);
	chunk_store_close(s2);
}

static void test_full_folder(void **state)
{
	struct fx *f = *state;
	struct chunk_store_opts opts = { .reserve_bytes = UINT64_MAX / 4 };
	struct chunk_store_stats st;
	uint8_t *data = make_block(5000, 1);
	struct blk_id id;
	uint32_t len;
	int is_new;

	chunk_store_close(f->s);
	fx_open(f, &opts);
	blk_hash(&f->key, data, 5000, &id);
	assert_int_equal(chunk_store_put(f->s, &id, data, 5000, &is_new), -ENOSPC);
	assert_int_equal(chunk_store_has(f->s, &id, &len), 0);
	assert_int_equal(count_data_files(f), 0);
	chunk_store_stats(f->s, &st);
	assert_int_equal(st.is_full, 1);
	free(data);
}

static void test_enospc_leaves_nothing(void **state)
{
	struct fx *f = *state;
	uint8_t *data = make_block(50000, 1);
	struct blk_id id;
	uint32_t len;
	int is_new;

	blk_hash(&f->key, data, 50000, &id);
	write_fail_errno = ENOSPC;
	write_fail_count = 1;
	assert_int_equal(chunk_store_put(f->s, &id, data, 50000, &is_new), -ENOSPC);
	assert_int_equal(chunk_store_has(f->s, &id, &len), 0);
	assert_int_equal(count_data_files(f), 0);
	/* and the folder still works */
	assert_int_equal(chunk_store_put(f->s, &id, data, 50000, &is_new), 0);
	free(data);
}

static void test_eio_fails_folder(void **state)
{
	struct fx *f = *state;
	struct chunk_store_stats st;
	struct blk_id b, ids[8];
	uint8_t *data = make_block(50000, 42), *buf = xmalloc(1 << 20);
	uint32_t len;
	int is_new, in0 = 0, in1 = 0;

	/* spread some blocks over both folders */
	for (int i = 0; i < 8; i++) {
		char path[512];

		put_ok(f, 20000, 100 + (unsigned)i, &ids[i]);
		block_path(f, 0, &ids[i], path, sizeof(path));
		if (access(path, F_OK) == 0)
			in0++;
		else
			in1++;
	}
	/* the next write hits EIO: that folder fails, the block lands on the
	 * other one, the failed folder's blocks are reported bad */
	write_fail_errno = EIO;
	write_fail_count = 1;
	blk_hash(&f->key, data, 50000, &b);
	assert_int_equal(chunk_store_put(f->s, &b, data, 50000, &is_new), 0);
	assert_int_equal(is_new, 1);
	chunk_store_stats(f->s, &st);
	assert_int_equal(st.has_failed, 1);
	assert_true(f->nbad == in0 || f->nbad == in1);
	assert_int_equal(st.blocks, 8 - (uint64_t)f->nbad + 1);
	assert_int_equal(chunk_store_read(f->s, &b, buf, 1 << 20, &len), 0);
	assert_int_equal(len, 50000);
	free(data);
	free(buf);
}

static void test_eio_on_read(void **state)
{
	struct fx *f = *state;
	struct chunk_store_stats st;
	struct blk_id a, b;
	uint8_t *buf = xmalloc(1 << 20);
	char path[512];
	uint32_t len;

	put_ok(f, 30000, 1, &a);
	pread_fail_count = 1;
	assert_int_equal(chunk_store_read(f->s, &a, buf, 1 << 20, &len), -EIO);
	/* the folder is failed, its block reported, not quarantined: the disk
	 * is suspect, not the bytes */
	assert_int_equal(f->nbad, 1);
	assert_true(blk_id_equal(&f->last_bad, &a));
	assert_int_equal(chunk_store_has(f->s, &a, &len), 0);
	chunk_store_stats(f->s, &st);
	assert_int_equal(st.has_failed, 1);
	/* the other folder keeps taking and serving blocks */
	put_ok(f, 40000, 2, &b);
	block_path(f, 1, &b, path, sizeof(path));
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(chunk_store_read(f->s, &b, buf, 1 << 20, &len), 0);
	assert_int_equal(len, 40000);
	free(buf);
}

static void test_ident(void **state)
{
	struct fx *f = *state;
	struct casfs_uuid u = { { 1, 2, 3 } }, got;
	uint32_t id = 0;
	int has;
	char path[256];
	FILE *fp;

	assert_int_equal(chunk_store_ident_load(f->s, &got, &id, &has), 0);
	assert_int_equal(has, 0);
	assert_int_equal(chunk_store_ident_save(f->s, &u, 7), 0);
	assert_int_equal(chunk_store_ident_load(f->s, &got, &id, &has), 0);
	assert_int_equal(has, 1);
	assert_int_equal(id, 7);
	assert_memory_equal(got.b, u.b, 16);
	/* folder 1 claims another cluster: refused */
	snprintf(path, sizeof(path), "%s/chunkd.id", f->dirs[1]);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp, "cluster 09000000000000000000000000000000\nserver 7\n");
	fclose(fp);
	assert_int_equal(chunk_store_ident_load(f->s, &got, &id, &has), -EXDEV);
	/* garbage is refused too */
	fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp, "hello\n");
	fclose(fp);
	assert_int_equal(chunk_store_ident_load(f->s, &got, &id, &has), -EINVAL);
}

static void test_placement_most_free(void **state)
{
	struct fx *f = *state;
	struct chunk_store_stats st;
	struct blk_id id;

	/* both folders are on the same file system here: every block goes to one
	 * of them and the index knows which */
	for (int i = 0; i < 4; i++)
		put_ok(f, 3000, (unsigned)i, &id);
	chunk_store_stats(f->s, &st);
	assert_int_equal(st.blocks, 4);
	assert_int_equal(st.used, 12000);
	assert_int_equal(st.has_failed, 0);
	assert_int_equal(st.is_full, 0);
	assert_true(st.total > 0);
}

static void test_scrubber_finds_flip(void **state)
{
	struct fx *f = *state;
	struct chunkd cd;
	struct blk_id good, bad;
	char path[512];
	uint8_t c;
	int fd;

	put_ok(f, 100000, 1, &good);
	put_ok(f, 100000, 2, &bad);
	block_path(f, 0, &bad, path, sizeof(path));
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, 99999), 1);
	c ^= 1;
	assert_int_equal(pwrite(fd, &c, 1, 99999), 1);
	close(fd);

	memset(&cd, 0, sizeof(cd));
	pthread_mutex_init(&cd.lock, NULL);
	pthread_cond_init(&cd.cond, NULL);
	cd.store = f->s;
	cd.is_registered = 1;
	cd.conf.scrub_rate = 64ull << 20;
	cd.conf.scrub_interval_s = 1;
	assert_int_equal(chunk_scrub_start(&cd), 0);
	for (int i = 0; i < 50 && f->nbad == 0; i++)
		usleep(100 * 1000);
	chunk_scrub_stop(&cd);
	assert_int_equal(f->nbad, 1);
	assert_true(blk_id_equal(&f->last_bad, &bad));
	{
		uint32_t len;

		assert_int_equal(chunk_store_has(f->s, &good, &len), 1);
		assert_int_equal(chunk_store_has(f->s, &bad, &len), 0);
	}
	pthread_cond_destroy(&cd.cond);
	pthread_mutex_destroy(&cd.lock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_get_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_wrong_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_too_big, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_key_yet, setup, teardown),
		cmocka_unit_test_setup_teardown(test_collision_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_verified_after_put, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_verified_after_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_verified_refuses_changed_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_data_folder_topdir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flipped_byte_on_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_on_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_copy_replaced_by_put, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vanished_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_small_buffer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_and_torn_temp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_old_layout_moved_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_folder_locked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_folder_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_folder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enospc_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eio_fails_folder, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_eio_on_read, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_ident, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_placement_most_free, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_scrubber_finds_flip, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
