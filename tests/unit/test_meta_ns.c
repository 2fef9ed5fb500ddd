/* Namespace unit tests: every errno case of meta_ns, and the behaviours the
 * POSIX layer relies on (link counts, open-but-unlinked inodes, rename
 * flags, stable readdir cursors, block refcounts). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "fs/msg.h"
#include "fs/proto.h"
#include "metad/meta_ns.h"

static const struct casfs_time T0 = { 1000, 0 };
static const struct casfs_time T1 = { 2000, 5 };

static struct meta_ns *ns_new(void)
{
	return meta_ns_new(2, 1u << 20, &T0);
}

static uint64_t mkdir_(struct meta_ns *ns, uint64_t parent, const char *name)
{
	struct casfs_attr a;

	assert_int_equal(meta_ns_mkdir(ns, parent, name, 0755, 1, 2, &T0, &a), 0);
	return a.ino;
}

static uint64_t mkfile(struct meta_ns *ns, uint64_t parent, const char *name)
{
	struct casfs_attr a;

	assert_int_equal(meta_ns_mknod(ns, parent, name, S_IFREG | 0644, 0, 1, 2, &T0, &a), 0);
	return a.ino;
}

static void test_lookup_errors(void **state)
{
	struct meta_ns *ns = ns_new();
	struct casfs_attr a;
	uint64_t f;

	(void)state;
	assert_int_equal(meta_ns_lookup(ns, 1, "nope", &a), -ENOENT);
	assert_int_equal(meta_ns_lookup(ns, 999, "x", &a), -ENOENT);
	f = mkfile(ns, 1, "f");
	assert_int_equal(meta_ns_lookup(ns, f, "x", &a), -ENOTDIR);
	assert_int_equal(meta_ns_lookup(ns, 1, "f", &a), 0);
	assert_int_equal(a.ino, f);
	assert_int_equal(meta_ns_lookup(ns, 1, ".", &a), 0);
	assert_int_equal(a.ino, 1);
	assert_int_equal(meta_ns_getattr(ns, 12345, &a), -ENOENT);
	meta_ns_free(ns);
}

static void test_create_errors(void **state)
{
	struct meta_ns *ns = ns_new();
	struct casfs_attr a;
	char long_target[PROTO_STR_MAX + 1];
	uint64_t d, f;

	(void)state;
	d = mkdir_(ns, 1, "d");
	f = mkfile(ns, d, "f");
	assert_int_equal(meta_ns_mknod(ns, d, "f", S_IFREG | 0644, 0, 0, 0, &T0, &a), -EEXIST);
	assert_int_equal(meta_ns_mkdir(ns, d, "f", 0755, 0, 0, &T0, &a), -EEXIST);
	assert_int_equal(meta_ns_symlink(ns, d, "f", "x", 0, 0, &T0, &a), -EEXIST);
	assert_int_equal(meta_ns_mknod(ns, f, "x", S_IFREG, 0, 0, 0, &T0, &a), -ENOTDIR);
	assert_int_equal(meta_ns_mkdir(ns, 777, "x", 0755, 0, 0, &T0, &a), -ENOENT);
	assert_int_equal(meta_ns_mknod(ns, d, "x", S_IFDIR | 0755, 0, 0, 0, &T0, &a), -EINVAL);
	assert_int_equal(meta_ns_mkdir(ns, d, "..", 0755, 0, 0, &T0, &a), -EEXIST);
	memset(long_target, 'a', PROTO_STR_MAX);
	long_target[PROTO_STR_MAX] = '\0';
	assert_int_equal(meta_ns_symlink(ns, d, "l", long_target, 0, 0, &T0, &a), -ENAMETOOLONG);
	assert_int_equal(meta_ns_symlink(ns, d, "l", "", 0, 0, &T0, &a), -ENOENT);
	{
		/* The codec already refuses such names; the namespace says
		 * ENAMETOOLONG on its own too. */
		char longname[300];

		memset(longname, 'n', 256);
		longname[256] = '\0';
		assert_int_equal(meta_ns_mknod(ns, d, longname, S_IFREG, 0, 0, 0, &T0, &a),
				 -ENAMETOOLONG);
		assert_int_equal(meta_ns_mkdir(ns, d, longname, 0755, 0, 0, &T0, &a), -ENAMETOOLONG);
		longname[255] = '\0';
		assert_int_equal(meta_ns_mknod(ns, d, longname, S_IFREG, 0, 0, 0, &T0, &a), 0);
	}
	/* Devices and fifos keep their type and rdev. */
	assert_int_equal(meta_ns_mknod(ns, d, "c", S_IFCHR | 0600, 0x0501, 0, 0, &T0, &a), 0);
	assert_true(S_ISCHR(a.mode));
	assert_int_equal(a.rdev, 0x0501);
	assert_int_equal(meta_ns_mknod(ns, d, "p", S_IFIFO | 0600, 0, 0, 0, &T0, &a), 0);
	assert_true(S_ISFIFO(a.mode));
	meta_ns_free(ns);
}

static void test_mkdir_links_and_setgid(void **state)
{
	struct meta_ns *ns = ns_new();
	struct casfs_attr a;
	uint64_t d;

	(void)state;
	d = mkdir_(ns, 1, "d");
	meta_ns_getattr(ns, 1, &a);
	assert_int_equal(a.nlink, 3);
	meta_ns_getattr(ns, d, &a);
	assert_int_equal(a.nlink, 2);
	assert_int_equal(a.goal, 2);
	assert_int_equal(a.block_size, 1u << 20);
	assert_int_equal(meta_ns_setattr(ns, d, MSG_SETATTR_MODE | MSG_SETATTR_GID, S_ISGID | 0775,
					 0, 77, 0, NULL, NULL, &T1, &a), 0);
	assert_int_equal(meta_ns_mkdir(ns, d, "sub", 0755, 5, 6, &T1, &a), 0);
	assert_int_equal(a.gid, 77);
	assert_true(a.mode & S_ISGID);
	assert_int_equal(meta_ns_mknod(ns, d, "f", S_IFREG | 0644, 0, 5, 6, &T1, &a), 0);
	assert_int_equal(a.gid, 77);
	assert_false(a.mode & S_ISGID);
	meta_ns_free(ns);
}

static void test_unlink_rmdir_errors(void **state)
{
	struct meta_ns *ns = ns_new();
	struct casfs_attr a;
	uint64_t d, f;

	(void)state;
	d = mkdir_(ns, 1, "d");
	f = mkfile(ns, d, "f");
	assert_int_equal(meta_ns_unlink(ns, 1, "d", &T1), -EISDIR);
	assert_int_equal(meta_ns_unlink(ns, 1, "zz", &T1), -ENOENT);
	assert_int_equal(meta_ns_unlink(ns, f, "zz", &T1), -ENOTDIR);
	assert_int_equal(meta_ns_rmdir(ns, 1, "d", &T1), -ENOTEMPTY);
	assert_int_equal(meta_ns_rmdir(ns, d, "f", &T1), -ENOTDIR);
	assert_int_equal(meta_ns_rmdir(ns, 1, "zz", &T1), -ENOENT);
	assert_int_equal(meta_ns_rmdir(ns, d, ".", &T1), -EINVAL);
	assert_int_equal(meta_ns_unlink(ns, d, "f", &T1), 0);
	assert_int_equal(meta_ns_getattr(ns, f, &a), -ENOENT);
	assert_int_equal(meta_ns_rmdir(ns, 1, "d", &T1), 0);
	meta_ns_getattr(ns, 1, &a);
	assert_int_equal(a.nlink, 2);
	assert_int_equal(a.mtime.sec, T1.sec);
	assert_int_equal(meta_ns_inode_count(ns), 1);
	meta_ns_free(ns);
}

static void test_open_unlinked_stays(void **state)
{
	struct meta_ns *ns = ns_new();
	struct casfs_attr a;
	uint64_t f;

	(void)state;
	f = mkfile(ns, 1, "f");
	assert_int_equal(meta_ns_open(ns, f, O_RDWR, &T0, &a), 0);
	assert_int_equal(meta_ns_open(ns, f, O_RDONLY, &T0, &a), 0);
	assert_int_equal(meta_ns_unlink(ns, 1, "f", &T1), 0);
	assert_int_equal(meta_ns_getattr(ns, f, &a), 0);
	assert_int_equal(a.nlink, 0);
	assert_int_equal(meta_ns_lookup(ns, 1, "f", &a), -ENOENT);
	/* No new links to an inode that has none. */
	assert_int_equal(meta_ns_link(ns, f, 1, "g", &T1, &a), -ENOENT);
	meta_ns_release(ns, f);
	assert_int_equal(meta_ns_getattr(ns, f, &a), 0);
	meta_ns_release(ns, f);
	assert_int_equal(meta_ns_getattr(ns, f, &a), -ENOENT);
	assert_int_equal(meta_ns_open(ns, 1, O_WRONLY, &T0, &a), -EISDIR);
	assert_int_equal(meta_ns_open(ns, 999, O_RDONLY, &T0, &a), -ENOENT);
	meta_ns_free(ns);
}

static void test_link_errors(void **state)
{
	struct meta_ns *ns = ns_new();
	struct casfs_attr a;
	uint64_t d, f;

	(void)state;
	d = mkdir_(ns, 1, "d");
	f = mkfile(ns, 1, "f");
	assert_int_equal(meta_ns_link(ns, d, 1, "d2", &T1, &a), -EPERM);
	assert_int_equal(meta_ns_link(ns, f, 1, "d", &T1, &a), -EEXIST);
	assert_int_equal(meta_ns_link(ns, f, f, "x", &T1, &a), -ENOTDIR);
	assert_int_equal(meta_ns_link(ns, 999, 1, "x", &T1, &a), -ENOENT);
	assert_int_equal(meta_ns_link(ns, f, d, "f2", &T1, &a), 0);
	assert_int_equal(a.nlink, 2);
	assert_int_equal(a.ctime.sec, T1.sec);
	assert_int_equal(meta_ns_unlink(ns, 1, "f", &T1), 0);
	assert_int_equal(meta_ns_lookup(ns, d, "f2", &a), 0);
	assert_int_equal(a.nlink, 1);
	meta_ns_free(ns);
}

static void test_rename_cases(void **state)
{
	struct meta_ns *ns = ns_new();
	struct casfs_attr a, b;
	uint64_t d, e, sub, f, g;

	(void)state;
	d = mkdir_(ns, 1, "d");
	e = mkdir_(ns, 1, "e");
	sub = mkdir_(ns, d, "sub");
	f = mkfile(ns, 1, "f");
	g = mkfile(ns, 1, "g");
	mkfile(ns, e, "inside");
	assert_int_equal(meta_ns_rename(ns, 1, "nope", 1, "x", 0, &T1), -ENOENT);
	assert_int_equal(meta_ns_rename(ns, 1, "d", sub, "x", 0, &T1), -EINVAL);
	assert_int_equal(meta_ns_rename(ns, 1, "d", d, "x", 0, &T1), -EINVAL);
	assert_int_equal(meta_ns_rename(ns, 1, "f", 1, "d", 0, &T1), -EISDIR);
	assert_int_equal(meta_ns_rename(ns, 1, "d", 1, "f", 0, &T1), -ENOTDIR);
	assert_int_equal(meta_ns_rename(ns, 1, "d", 1, "e", 0, &T1), -ENOTEMPTY);
	assert_int_equal(meta_ns_rename(ns, 1, "f", 1, "g", MSG_RENAME_NOREPLACE, &T1), -EEXIST);
	assert_int_equal(meta_ns_rename(ns, 1, "f", 1, "zz", MSG_RENAME_EXCHANGE, &T1), -ENOENT);
	assert_int_equal(meta_ns_rename(ns, 1, "f", 1, "g", 3, &T1), -EINVAL);
	assert_int_equal(meta_ns_rename(ns, 1, "f", 1, "g", 0x10, &T1), -EINVAL);
	assert_int_equal(meta_ns_rename(ns, f, "x", 1, "g", 0, &T1), -ENOTDIR);
	/* Over an existing file: the old target goes. */
	assert_int_equal(meta_ns_rename(ns, 1, "f", 1, "g", 0, &T1), 0);
	assert_int_equal(meta_ns_getattr(ns, g, &a), -ENOENT);
	assert_int_equal(meta_ns_lookup(ns, 1, "g", &a), 0);
	assert_int_equal(a.ino, f);
	assert_int_equal(meta_ns_lookup(ns, 1, "f", &a), -ENOENT);
	/* Exchange a file and a directory across parents. */
	assert_int_equal(meta_ns_rename(ns, 1, "g", d, "sub", MSG_RENAME_EXCHANGE, &T1), 0);
	assert_int_equal(meta_ns_lookup(ns, 1, "g", &a), 0);
	assert_int_equal(a.ino, sub);
	assert_int_equal(meta_ns_lookup(ns, d, "sub", &b), 0);
	assert_int_equal(b.ino, f);
	assert_int_equal(meta_ns_lookup(ns, sub, "..", &a), 0);
	assert_int_equal(a.ino, 1);
	meta_ns_getattr(ns, d, &a);
	assert_int_equal(a.nlink, 2);
	meta_ns_getattr(ns, 1, &a);
	assert_int_equal(a.nlink, 5);
	/* Directory over an empty directory. */
	assert_int_equal(meta_ns_rmdir(ns, e, "inside", &T1), -ENOTDIR);
	assert_int_equal(meta_ns_unlink(ns, e, "inside", &T1), 0);
	assert_int_equal(meta_ns_rename(ns, 1, "g", 1, "e", 0, &T1), 0);
	assert_int_equal(meta_ns_getattr(ns, e, &a), -ENOENT);
	meta_ns_getattr(ns, 1, &a);
	assert_int_equal(a.nlink, 4);
	/* Renaming onto itself (hard links to one inode) changes nothing. */
	assert_int_equal(meta_ns_link(ns, f, d, "f2", &T1, &a), 0);
	assert_int_equal(meta_ns_rename(ns, d, "sub", d, "f2", 0, &T1), 0);
	assert_int_equal(meta_ns_lookup(ns, d, "sub", &a), 0);
	meta_ns_free(ns);
}

struct rd {
	char names[64][16];
	uint64_t last;
	int n;
};

static int rd_cb(void *ud, uint64_t seq, const char *name, const struct casfs_attr *a)
{
	struct rd *r = ud;

	(void)a;
	if (r->n == 2)
		return 1;
	strcpy(r->names[r->n++], name);
	r->last = seq;
	return 0;
}

static void test_readdir_cursor_stable(void **state)
{
	struct meta_ns *ns = ns_new();
	struct rd r = { .n = 0 };
	uint64_t f;
	char name[16];

	(void)state;
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		mkfile(ns, 1, name);
	}
	assert_int_equal(meta_ns_readdir(ns, 1, 0, rd_cb, &r), 0);
	assert_string_equal(r.names[0], "n0");
	assert_string_equal(r.names[1], "n1");
	/* Entries before and after the cursor change: the cursor still works
	 * and nothing after it is skipped. */
	assert_int_equal(meta_ns_unlink(ns, 1, "n0", &T1), 0);
	assert_int_equal(meta_ns_unlink(ns, 1, "n2", &T1), 0);
	mkfile(ns, 1, "late");
	r.n = 0;
	assert_int_equal(meta_ns_readdir(ns, 1, r.last, rd_cb, &r), 0);
	assert_string_equal(r.names[0], "n3");
	assert_string_equal(r.names[1], "n4");
	r.n = 0;
	assert_int_equal(meta_ns_readdir(ns, 1, r.last, rd_cb, &r), 0);
	assert_string_equal(r.names[0], "n5");
	assert_string_equal(r.names[1], "late");
	f = mkfile(ns, 1, "file");
	assert_int_equal(meta_ns_readdir(ns, f, 0, rd_cb, &r), -ENOTDIR);
	assert_int_equal(meta_ns_readdir(ns, 4242, 0, rd_cb, &r), -ENOENT);
	meta_ns_free(ns);
}

static void test_setattr_rules(void **state)
{
	struct meta_ns *ns = ns_new();
	struct casfs_time at = { 5, 6 }, mt = { 7, 8 };
	struct casfs_attr a;
	uint64_t d, f, l;

	(void)state;
	d = mkdir_(ns, 1, "d");
	f = mkfile(ns, 1, "f");
	assert_int_equal(meta_ns_symlink(ns, 1, "l", "target", 0, 0, &T0, &a), 0);
	l = a.ino;
	assert_int_equal(a.size, 6);
	assert_int_equal(meta_ns_setattr(ns, d, MSG_SETATTR_SIZE, 0, 0, 0, 10, NULL, NULL, &T1, &a),
			 -EISDIR);
	assert_int_equal(meta_ns_setattr(ns, l, MSG_SETATTR_SIZE, 0, 0, 0, 10, NULL, NULL, &T1, &a),
			 -EINVAL);
	assert_int_equal(meta_ns_setattr(ns, 999, MSG_SETATTR_MODE, 0, 0, 0, 0, NULL, NULL, &T1, &a),
			 -ENOENT);
	assert_int_equal(meta_ns_setattr(ns, f, MSG_SETATTR_SIZE, 0, 0, 0, 1ULL << 62, NULL, NULL,
					 &T1, &a), -EFBIG);
	assert_int_equal(meta_ns_setattr(ns, f, MSG_SETATTR_MODE | MSG_SETATTR_UID | MSG_SETATTR_ATIME |
					 MSG_SETATTR_MTIME | MSG_SETATTR_SIZE,
					 S_IFDIR | 04700, 9, 0, 4096, &at, &mt, &T1, &a), 0);
	assert_true(S_ISREG(a.mode));
	assert_int_equal(a.mode & 07777, 04700);
	assert_int_equal(a.uid, 9);
	assert_int_equal(a.gid, 2);
	assert_int_equal(a.size, 4096);
	assert_int_equal(a.atime.sec, 5);
	assert_int_equal(a.mtime.sec, 7);
	assert_int_equal(a.ctime.sec, T1.sec);
	assert_int_equal(meta_ns_setattr(ns, f, MSG_SETATTR_ATIME_NOW | MSG_SETATTR_MTIME_NOW, 0, 0, 0,
					 0, &at, &mt, &T1, &a), 0);
	assert_int_equal(a.atime.sec, T1.sec);
	assert_int_equal(a.mtime.nsec, T1.nsec);
	assert_int_equal(meta_ns_readlink(ns, f, &(const char *){ NULL }), -EINVAL);
	meta_ns_free(ns);
}

static void test_xattr_errors(void **state)
{
	struct meta_ns *ns = ns_new();
	static char big[(64 << 10) + 1];
	const void *v;
	uint32_t vlen;
	uint64_t f;

	(void)state;
	f = mkfile(ns, 1, "f");
	assert_int_equal(meta_ns_getxattr(ns, f, "user.a", &v, &vlen), -ENODATA);
	assert_int_equal(meta_ns_setxattr(ns, f, "user.a", "x", 1, 2, &T1), -ENODATA);
	assert_int_equal(meta_ns_setxattr(ns, f, "user.a", "xy", 2, 1, &T1), 0);
	assert_int_equal(meta_ns_setxattr(ns, f, "user.a", "z", 1, 1, &T1), -EEXIST);
	assert_int_equal(meta_ns_setxattr(ns, f, "user.a", "z", 1, 2, &T1), 0);
	assert_int_equal(meta_ns_getxattr(ns, f, "user.a", &v, &vlen), 0);
	assert_int_equal(vlen, 1);
	assert_memory_equal(v, "z", 1);
	assert_int_equal(meta_ns_setxattr(ns, f, "user.b", big, sizeof(big), 0, &T1), -E2BIG);
	assert_int_equal(meta_ns_setxattr(ns, f, "", "x", 1, 0, &T1), -EINVAL);
	assert_int_equal(meta_ns_removexattr(ns, f, "user.zz", &T1), -ENODATA);
	assert_int_equal(meta_ns_removexattr(ns, f, "user.a", &T1), 0);
	assert_int_equal(meta_ns_getxattr(ns, f, "user.a", &v, &vlen), -ENODATA);
	assert_int_equal(meta_ns_setxattr(ns, 999, "user.a", "x", 1, 0, &T1), -ENOENT);
	meta_ns_free(ns);
}

static struct blk_id bid(int n)
{
	struct blk_id id = { .alg = BLK_ALG_XXH3_128K };

	memset(id.hash, n, sizeof(id.hash));
	return id;
}

static void test_commit_refcounts_truncate(void **state)
{
	struct meta_ns *ns = ns_new();
	struct meta_blk_table *t = meta_ns_blocks(ns);
	struct meta_commit_ent e[3];
	struct casfs_attr a;
	struct blk_id id;
	uint64_t f, g, d;

	(void)state;
	f = mkfile(ns, 1, "f");
	g = mkfile(ns, 1, "g");
	d = mkdir_(ns, 1, "d");
	e[0] = (struct meta_commit_ent){ 0, bid(1), 1u << 20 };
	e[1] = (struct meta_commit_ent){ 1, bid(2), 1u << 20 };
	e[2] = (struct meta_commit_ent){ 3, bid(3), 100 };
	assert_int_equal(meta_ns_commit(ns, d, 10, &T1, 0, e, 1, &T1, &a), -EISDIR);
	assert_int_equal(meta_ns_commit(ns, 999, 10, &T1, 0, e, 1, &T1, &a), -ENOENT);
	e[0].length = (1u << 20) + 1;
	assert_int_equal(meta_ns_commit(ns, f, 10, &T1, 0, e, 1, &T1, &a), -EINVAL);
	e[0].length = 1u << 20;
	assert_int_equal(meta_ns_commit(ns, f, 10, &T1, 4, e, 1, &T1, &a), -EINVAL);
	assert_int_equal(meta_ns_commit(ns, f, 3 * (1u << 20) + 100, &T1, 0, e, 3, &T1, &a), 0);
	assert_int_equal(a.size, 3 * (1u << 20) + 100);
	assert_int_equal(a.blocks, 2 * 2048 + 1);
	assert_int_equal(meta_blk_find(t, &e[0].id)->refs, 1);
	assert_int_equal(meta_blk_find(t, &e[1].id)->refs, 1);
	assert_int_equal(meta_blk_find(t, &e[0].id)->goal, 2);
	/* A smaller size never shrinks without SIZE_EXACT. */
	assert_int_equal(meta_ns_commit(ns, f, 5, &T1, 0, NULL, 0, &T1, &a), 0);
	assert_int_equal(a.size, 3 * (1u << 20) + 100);
	/* copy_range shares references. */
	assert_int_equal(meta_ns_copy_range(ns, f, 0, g, 0, 2, 2u << 20, &T1, &a), 0);
	assert_int_equal(meta_blk_find(t, &e[1].id)->refs, 2);
	assert_int_equal(meta_blk_find(t, &e[0].id)->refs, 2);
	assert_int_equal(a.size, 2u << 20);
	/* Truncate drops blocks past the new end; a hole stays a hole. */
	assert_int_equal(meta_ns_setattr(ns, f, MSG_SETATTR_SIZE, 0, 0, 0, 10, NULL, NULL, &T1, &a), 0);
	assert_int_equal(meta_blk_find(t, &e[0].id)->refs, 2);
	assert_int_equal(meta_blk_find(t, &e[1].id)->refs, 1);
	assert_int_equal(meta_blk_find(t, &e[2].id)->refs, 0);
	assert_int_equal(meta_ns_block_at(ns, f, 3, &id), 0);
	assert_true(blk_id_is_null(&id));
	/* Unlinking the copy drops its references; the entries stay for GC. */
	assert_int_equal(meta_ns_unlink(ns, 1, "g", &T1), 0);
	assert_int_equal(meta_blk_find(t, &e[1].id)->refs, 0);
	assert_int_equal(meta_blk_find(t, &e[0].id)->refs, 1);
	/* O_TRUNC on open, whatever the access mode: Linux truncates on
	 * O_RDONLY | O_TRUNC too once the kernel has checked write access. */
	assert_int_equal(meta_ns_open(ns, f, O_RDONLY | O_TRUNC, &T1, &a), 0);
	assert_int_equal(a.size, 0);
	assert_int_equal(meta_blk_find(t, &e[0].id)->refs, 0);
	meta_ns_release(ns, f);
	assert_int_equal(meta_ns_open(ns, f, O_WRONLY | O_TRUNC, &T1, &a), 0);
	assert_int_equal(a.size, 0);
	meta_ns_release(ns, f);
	assert_int_equal(meta_ns_copy_range(ns, d, 0, f, 0, 1, 0, &T1, &a), -EISDIR);
	meta_ns_free(ns);
}

static void test_goal_and_block_size(void **state)
{
	struct meta_ns *ns = ns_new();
	struct casfs_attr a;
	uint64_t d, f, n;

	(void)state;
	d = mkdir_(ns, 1, "d");
	assert_int_equal(meta_ns_set_block_size(ns, d, 65536), 0);
	assert_int_equal(meta_ns_set_block_size(ns, d, 65537), -EINVAL);
	assert_int_equal(meta_ns_set_block_size(ns, d, 16u << 20), -EINVAL);
	assert_int_equal(meta_ns_set_goal(ns, d, 3, 0, &n), 0);
	assert_int_equal(meta_ns_set_goal(ns, d, 0, 0, &n), -EINVAL);
	assert_int_equal(meta_ns_set_goal(ns, d, 10, 0, &n), -EINVAL);
	assert_int_equal(meta_ns_mknod(ns, d, "f", S_IFREG | 0644, 0, 0, 0, &T0, &a), 0);
	f = a.ino;
	assert_int_equal(a.goal, 3);
	assert_int_equal(a.block_size, 65536);
	assert_int_equal(meta_ns_set_block_size(ns, f, 65536), -ENOTDIR);
	assert_int_equal(meta_ns_set_goal(ns, 1, 1, 1, &n), 0);
	assert_int_equal(n, 3);
	meta_ns_getattr(ns, f, &a);
	assert_int_equal(a.goal, 1);
	meta_ns_free(ns);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup_errors),
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_mkdir_links_and_setgid),
		cmocka_unit_test(test_unlink_rmdir_errors),
		cmocka_unit_test(test_open_unlinked_stays),
		cmocka_unit_test(test_link_errors),
		cmocka_unit_test(test_rename_cases),
		cmocka_unit_test(test_readdir_cursor_stable),
		cmocka_unit_test(test_setattr_rules),
		cmocka_unit_test(test_xattr_errors),
		cmocka_unit_test(test_commit_refcounts_truncate),
		cmocka_unit_test(test_goal_and_block_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
