/* garbage_lies: the hostile-peer tool's lying requests (see garbage.c):
 * well-formed frames whose content lies — wrong hashes and forged chains to
 * a chunk server; impossible names, sizes, indices, roles and huge
 * READDIR/PLACE to metad; a namespace dump to compare across restarts; and
 * a fake chunk server that claims blocks it does not hold and serves wrong
 * bytes. */
#include "tests/tools/garbage.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/msg.h"
#include "fs/net.h"
#include "fs/xmalloc.h"

/* ---- lying peers toward chunkd ---- */

struct put_res {
	int32_t st;
	int n;
	uint32_t id[32];
	int32_t cst[32];
};

struct hop {
	uint32_t id;
	const char *addr;
};

static int blk_put(struct g_conn *c, const struct blk_id *id, const struct hop *chain, int nchain,
		   const void *data, uint32_t len, struct put_res *pr)
{
	struct proto_wbuf w;
	struct proto_rbuf r;
	uint32_t n;
	size_t at;
	int rc;

	proto_wbuf_init(&w);
	proto_put_blkid(&w, id);
	proto_put_u32(&w, 0);
	at = proto_put_array_begin(&w);
	for (int i = 0; i < nchain; i++) {
		proto_put_u32(&w, chain[i].id);
		proto_put_str(&w, chain[i].addr);
	}
	proto_put_array_end(&w, at, (uint32_t)nchain);
	proto_put_bytes(&w, data, len);
	rc = g_call(c, MSG_BLK_PUT, &w, &pr->st, &r);
	proto_wbuf_free(&w);
	pr->n = 0;
	if (rc || pr->st)
		return rc;
	proto_get_count(&r, 8, &n);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t sid;
		int32_t s;

		proto_get_u32(&r, &sid);
		proto_get_i32(&r, &s);
		if (pr->n < 32) {
			pr->id[pr->n] = sid;
			pr->cst[pr->n++] = s;
		}
	}
	return proto_get_end(&r);
}

static int blk_have(struct g_conn *c, const struct blk_id *id)
{
	struct proto_wbuf *w = g_wb();
	struct proto_rbuf r;
	uint32_t n;
	uint8_t present = 2;
	int32_t st;

	proto_put_u32(w, 1);
	proto_put_blkid(w, id);
	if (g_call(c, MSG_BLK_HAVE, w, &st, &r) || st)
		return -1;
	proto_get_count(&r, 1, &n);
	proto_get_u8(&r, &present);
	return proto_get_end(&r) ? -1 : present;
}

static int blk_get(struct g_conn *c, const struct blk_id *id, uint32_t off, uint32_t len,
		   int32_t *st, const uint8_t **data, uint32_t *got)
{
	struct proto_wbuf *w = g_wb();
	struct proto_rbuf r;
	int rc;

	proto_put_blkid(w, id);
	proto_put_u32(w, off);
	proto_put_u32(w, len);
	rc = g_call(c, MSG_BLK_GET, w, st, &r);
	if (rc || *st)
		return rc;
	proto_get_bytes(&r, data, got);
	return proto_get_end(&r);
}

int cmd_chunk_lies(void)
{
	struct g_hello_out ho;
	struct blk_key key;
	struct blk_id id, other;
	struct put_res pr;
	struct g_conn m, c;
	const uint8_t *d;
	uint8_t *data = xmalloc(70000), *big;
	uint32_t got;
	int32_t st;
	int rc;

	if (!g_opts.meta || g_login(&m, g_opts.meta, &ho) || ho.seed_len == 0)
		return g_bad("chunk-lies: no key seed from metad (--meta)"), 1;
	g_close(&m);
	blk_key_init(&key, ho.seed, ho.seed_len);
	if (g_login(&c, g_opts.server, NULL))
		return g_bad("chunk-lies: login failed"), 1;

	/* data that does not hash to its id */
	g_rnd_fill(data, 70000);
	blk_hash(&key, data, 70000, &id);
	data[100] ^= 1;
	blk_hash(&key, data, 70000, &other);
	data[100] ^= 1;
	rc = blk_put(&c, &other, NULL, 0, data, 70000, &pr);
	if (rc)
		g_bad("chunk-lies: PUT with a wrong id: transport error %d", rc);
	else
		g_expect("PUT whose data does not hash to its id", pr.st, 1, -EBADMSG);
	if (blk_have(&c, &other) != 0 || blk_have(&c, &id) != 0)
		g_bad("chunk-lies: a refused PUT stored something");
	else
		g_ok("refused PUT stored nothing");

	/* the null id */
	memset(&other, 0, sizeof(other));
	rc = blk_put(&c, &other, NULL, 0, data, 100, &pr);
	if (!rc)
		g_expect("PUT of the null id", pr.st, 1, ANY_NEG);

	/* a forged chain: a server that does not exist, and garbage addresses */
	{
		const struct hop chain[] = { { 999999, "127.0.0.1:1" }, { 999998, "no-such-host-x:7" },
					     { 999997, "127.0.0.1:99999" }, { 999996, "" } };

		rc = blk_put(&c, &id, chain, 4, data, 70000, &pr);
		if (rc) {
			g_bad("forged chain: transport error %d", rc);
		} else if (g_expect("PUT down a forged chain answers", pr.st, 1, 0)) {
			int neg = 0;

			for (int i = 1; i < pr.n; i++)
				neg += pr.cst[i] < 0;
			if (pr.n == 5 && pr.cst[0] == 0 && neg == 4)
				g_ok("forged chain: own copy 0, every fake server a negative status");
			else
				g_bad("forged chain: %d copies, own %d, %d negative (want 5, 0, 4)", pr.n,
				    pr.n ? pr.cst[0] : 1, neg);
		}
		if (blk_have(&c, &id) == 1)
			g_ok("forged chain: the receiver's own copy is stored");
		else
			g_bad("forged chain: the receiver did not keep its copy");
	}
	/* a chain longer than any goal, every hop back to the receiver itself */
	{
		struct hop loop[20];

		for (int i = 0; i < 20; i++)
			loop[i] = (struct hop){ (uint32_t)(500 + i), g_opts.server };
		rc = blk_put(&c, &id, loop, 20, data, 70000, &pr);
		if (rc)
			g_bad("chain of 20 hops back to the receiver: transport error %d", rc);
		else
			g_ok("chain of 20 hops back to the receiver answered (status %d, %d copies)",
			   pr.st, pr.n);
	}

	/* reads past the end and offsets that overflow u32 arithmetic */
	rc = blk_get(&c, &id, 70001, 10, &st, &d, &got);
	if (!rc)
		g_expect("GET at offset past the end", st, 1, ANY_NEG);
	rc = blk_get(&c, &id, UINT32_MAX, UINT32_MAX, &st, &d, &got);
	if (!rc)
		g_expect("GET at offset 0xffffffff length 0xffffffff", st, 1, ANY_NEG);
	rc = blk_get(&c, &id, 0xfffffff0u, 0x20, &st, &d, &got);
	if (!rc)
		g_expect("GET where offset + length wraps u32", st, 1, ANY_NEG);
	rc = blk_get(&c, &id, 10, 0xfffffff0u, &st, &d, &got);
	if (rc || st)
		g_bad("GET of a too-long range: %d/%d", rc, st);
	else if (got == 70000 - 10 && !memcmp(d, data + 10, got))
		g_ok("GET of a too-long range is clamped to the block (%u bytes, right bytes)", got);
	else
		g_bad("GET of a too-long range returned %u bytes", got);
	rc = blk_get(&c, &id, 70000, 0, &st, &d, &got);
	if (!rc && (st < 0 || got == 0))
		g_ok("GET at exactly the end: status %d, %u bytes", st, st ? 0 : got);
	else
		g_bad("GET at exactly the end: %d/%d, %u bytes", rc, st, got);
	g_rnd_id(&other);
	rc = blk_get(&c, &other, 0, 0, &st, &d, &got);
	if (!rc)
		g_expect("GET of an unknown id", st, 1, -ENOENT);
	memset(&other, 0, sizeof(other));
	rc = blk_get(&c, &other, 0, 0, &st, &d, &got);
	if (!rc)
		g_expect("GET of the null id", st, 1, ANY_NEG);

	/* a block over the 8 MiB maximum with a correct id */
	big = xmalloc((8u << 20) + 1);
	g_rnd_fill(big, 4096);
	memset(big + 4096, 0x33, (8u << 20) + 1 - 4096);
	blk_hash(&key, big, (8u << 20) + 1, &other);
	rc = blk_put(&c, &other, NULL, 0, big, (8u << 20) + 1, &pr);
	if (rc)
		g_bad("PUT of 8 MiB + 1: transport error %d", rc);
	else if (pr.st < 0)
		g_ok("PUT of 8 MiB + 1 refused (status %d)", pr.st);
	else
		printf("note: PUT of a block over 8 MiB was accepted (status %d)\n", pr.st);
	free(big);
	big = NULL;

	if (g_call(&c, MSG_PING, NULL, &st, NULL) || st)
		g_bad("chunk-lies: connection unusable afterwards");
	g_close(&c);
	free(data);
	data = NULL;
	return 0;
}

/* ---- lying peers toward metad ---- */

static int meta_req(struct g_conn *c, uint16_t type, struct proto_wbuf *w, int32_t *st,
		    struct casfs_attr *a)
{
	struct proto_rbuf r;
	int rc = g_call(c, type, w, st, &r);

	if (rc) {
		g_bad("%s: transport error %d", msg_lookup(type)->name, rc);
		return rc;
	}
	if (!*st && a && proto_get_attr(&r, a))
		return -EBADMSG;
	return 0;
}

static int32_t m_entry(struct g_conn *c, uint16_t type, uint64_t parent, const char *name,
		       uint32_t mode, struct casfs_attr *a)
{
	struct proto_wbuf *w = g_wb();
	int32_t st = -EIO;

	proto_put_u64(w, parent);
	proto_put_str(w, name);
	proto_put_u32(w, mode);
	if (type == MSG_MKNOD)
		proto_put_u32(w, 0);
	proto_put_u32(w, 0);
	proto_put_u32(w, 0);
	if (type == MSG_CREATE)
		proto_put_u32(w, 02 | 0100);
	meta_req(c, type, w, &st, a);
	return st;
}

static int32_t m_name_op(struct g_conn *c, uint16_t type, uint64_t parent, const char *name,
			 struct casfs_attr *a)
{
	struct proto_wbuf *w = g_wb();
	int32_t st = -EIO;

	proto_put_u64(w, parent);
	proto_put_str(w, name);
	meta_req(c, type, w, &st, a);
	return st;
}

static int32_t m_ino_op(struct g_conn *c, uint16_t type, uint64_t ino, struct casfs_attr *a)
{
	struct proto_wbuf *w = g_wb();
	int32_t st = -EIO;

	proto_put_u64(w, ino);
	meta_req(c, type, w, &st, a);
	return st;
}

static int32_t m_rename_flags(struct g_conn *c, uint64_t p1, const char *n1, uint64_t p2,
			       const char *n2, uint32_t flags)
{
	struct proto_wbuf *w = g_wb();
	int32_t st = -EIO;

	proto_put_u64(w, p1);
	proto_put_str(w, n1);
	proto_put_u64(w, p2);
	proto_put_str(w, n2);
	proto_put_u32(w, flags);
	meta_req(c, MSG_RENAME, w, &st, NULL);
	return st;
}

static int32_t m_rename(struct g_conn *c, uint64_t p1, const char *n1, uint64_t p2, const char *n2)
{
	return m_rename_flags(c, p1, n1, p2, n2, 0);
}

static int32_t m_setmode(struct g_conn *c, uint64_t ino, uint32_t mode, struct casfs_attr *a)
{
	struct proto_wbuf *w = g_wb();
	struct casfs_time t = { 0, 0 };
	int32_t st = -EIO;

	proto_put_u64(w, ino);
	proto_put_u32(w, MSG_SETATTR_MODE);
	proto_put_u32(w, mode);
	proto_put_u32(w, 0);
	proto_put_u32(w, 0);
	proto_put_u64(w, 0);
	proto_put_time(w, &t);
	proto_put_time(w, &t);
	meta_req(c, MSG_SETATTR, w, &st, a);
	return st;
}

static int32_t m_link(struct g_conn *c, uint64_t ino, uint64_t parent, const char *name)
{
	struct proto_wbuf *w = g_wb();
	int32_t st = -EIO;

	proto_put_u64(w, ino);
	proto_put_u64(w, parent);
	proto_put_str(w, name);
	meta_req(c, MSG_LINK, w, &st, NULL);
	return st;
}

static int32_t m_setsize(struct g_conn *c, uint64_t ino, uint64_t size, struct casfs_attr *a)
{
	struct proto_wbuf *w = g_wb();
	struct casfs_time t = { 0, 0 };
	int32_t st = -EIO;

	proto_put_u64(w, ino);
	proto_put_u32(w, MSG_SETATTR_SIZE);
	proto_put_u32(w, 0);
	proto_put_u32(w, 0);
	proto_put_u32(w, 0);
	proto_put_u64(w, size);
	proto_put_time(w, &t);
	proto_put_time(w, &t);
	meta_req(c, MSG_SETATTR, w, &st, a);
	return st;
}

/* COMMIT of one block reference. */
static int32_t m_commit(struct g_conn *c, uint64_t ino, uint64_t size, uint64_t index,
			const struct blk_id *id, uint32_t len, const uint32_t *holders, int nh,
			struct casfs_attr *a)
{
	struct proto_wbuf *w = g_wb();
	struct casfs_time t = { 1700000000, 0 };
	int32_t st = -EIO;

	proto_put_u64(w, ino);
	proto_put_u64(w, size);
	proto_put_time(w, &t);
	proto_put_u32(w, 0);
	proto_put_u32(w, 1);
	proto_put_u64(w, index);
	proto_put_blkid(w, id);
	proto_put_u32(w, len);
	proto_put_u32(w, (uint32_t)nh);
	for (int i = 0; i < nh; i++)
		proto_put_u32(w, holders[i]);
	meta_req(c, MSG_COMMIT, w, &st, a);
	return st;
}

/* READDIR of a whole directory with the given max per call; checks that
 * every reply fits in a frame, cursors advance, no "." or "..". */
static int m_readdir_all(struct g_conn *c, uint64_t ino, uint32_t max, uint64_t *count,
			 int (*each)(const char *name, const struct casfs_attr *a, void *arg),
			 void *arg)
{
	uint64_t cursor = 0;
	uint8_t eof = 0;

	*count = 0;
	while (!eof) {
		struct proto_wbuf *w = g_wb();
		struct proto_rbuf r;
		uint32_t n;
		int32_t st;
		int rc;

		proto_put_u64(w, ino);
		proto_put_u64(w, cursor);
		proto_put_u32(w, max);
		rc = g_call(c, MSG_READDIR, w, &st, &r);
		if (rc)
			return rc;
		if (st)
			return st;
		proto_get_u8(&r, &eof);
		proto_get_count(&r, 8 + 3 + PROTO_ATTR_SIZE, &n);
		if (n == 0 && !eof)
			return -ELOOP;
		for (uint32_t i = 0; i < n; i++) {
			char name[PROTO_NAME_MAX + 1];
			struct casfs_attr a;
			uint64_t next;

			proto_get_u64(&r, &next);
			proto_get_name(&r, name);
			proto_get_attr(&r, &a);
			if (r.err)
				return -EBADMSG;
			if (!strcmp(name, ".") || !strcmp(name, ".."))
				return -EEXIST;
			if (next <= cursor && next != 0)
				return -ELOOP;
			cursor = next;
			(*count)++;
			if (each && each(name, &a, arg))
				return -ECANCELED;
		}
		if (proto_get_end(&r))
			return -EBADMSG;
	}
	return 0;
}

int cmd_meta_lies(void)
{
	struct casfs_attr root, dir, file, a;
	struct g_conn c;
	struct blk_id id;
	uint64_t n;
	int32_t st;
	char name[64];

	if (g_login(&c, g_opts.server, NULL))
		return g_bad("meta-lies: login failed"), 1;
	snprintf(name, sizeof(name), "lies-%llu", (unsigned long long)(g_rnd() % 1000000));
	if (m_ino_op(&c, MSG_GETATTR, CASFS_ROOT_INO, &root))
		return g_bad("meta-lies: GETATTR root"), 1;
	if (m_entry(&c, MSG_MKDIR, CASFS_ROOT_INO, name, 040755, &dir))
		return g_bad("meta-lies: MKDIR %s failed", name), 1;
	if (m_entry(&c, MSG_CREATE, dir.ino, "file", 0100644, &file))
		return g_bad("meta-lies: CREATE failed"), 1;
	m_ino_op(&c, MSG_RELEASE, file.ino, NULL);

	/* names "." and ".." never become entries */
	g_expect("MKDIR \".\"", m_entry(&c, MSG_MKDIR, dir.ino, ".", 040755, &a), 1, ANY_NEG);
	g_expect("MKDIR \"..\"", m_entry(&c, MSG_MKDIR, dir.ino, "..", 040755, &a), 1, ANY_NEG);
	g_expect("CREATE \".\"", m_entry(&c, MSG_CREATE, dir.ino, ".", 0100644, &a), 1, ANY_NEG);
	g_expect("MKNOD \"..\"", m_entry(&c, MSG_MKNOD, dir.ino, "..", 0010644, &a), 1, ANY_NEG);
	g_expect("LINK to \"..\"", m_link(&c, file.ino, dir.ino, ".."), 1, ANY_NEG);
	g_expect("UNLINK \".\"", m_name_op(&c, MSG_UNLINK, dir.ino, ".", NULL), 1, ANY_NEG);
	g_expect("RMDIR \".\"", m_name_op(&c, MSG_RMDIR, dir.ino, ".", NULL), 1, ANY_NEG);
	g_expect("RMDIR \"..\"", m_name_op(&c, MSG_RMDIR, dir.ino, "..", NULL), 1, ANY_NEG);
	{
		struct proto_wbuf *w = g_wb();

		proto_put_u64(w, dir.ino);
		proto_put_str(w, ".");
		proto_put_str(w, "target");
		proto_put_u32(w, 0);
		proto_put_u32(w, 0);
		meta_req(&c, MSG_SYMLINK, w, &st, &a);
		g_expect("SYMLINK \".\"", st, 1, ANY_NEG);
	}
	/* the root cannot be renamed, moved or linked */
	g_expect("RENAME \".\" of the root", m_rename(&c, CASFS_ROOT_INO, ".", dir.ino, "x"), 1,
	       ANY_NEG);
	g_expect("RENAME \"..\" of the root", m_rename(&c, CASFS_ROOT_INO, "..", dir.ino, "x"), 1,
	       ANY_NEG);
	g_expect("RENAME \"..\" of a dir", m_rename(&c, dir.ino, "..", CASFS_ROOT_INO, "y"), 1,
	       ANY_NEG);
	g_expect("RENAME over \".\"", m_rename(&c, dir.ino, "file", dir.ino, "."), 1, ANY_NEG);
	g_expect("RENAME a dir into itself", m_rename(&c, CASFS_ROOT_INO, name, dir.ino, "sub"), 1,
	       -EINVAL);
	g_expect("RENAME from a missing parent", m_rename(&c, 0x7fffffff0ULL, "a", dir.ino, "b"), 1,
	       ANY_NEG);
	g_expect("LINK to a directory", m_link(&c, dir.ino, CASFS_ROOT_INO, "dirlink"), 1, -EPERM);
	g_expect("LINK to the root", m_link(&c, CASFS_ROOT_INO, dir.ino, "rootlink"), 1, -EPERM);
	/* exchanges and type changes that would break the tree */
	{
		struct casfs_attr sub, odd;

		if (m_entry(&c, MSG_MKDIR, dir.ino, "sub", 040755, &sub))
			return g_bad("meta-lies: MKDIR sub failed"), 1;
		g_expect("RENAME_EXCHANGE of a dir with its own child",
			 m_rename_flags(&c, CASFS_ROOT_INO, name, dir.ino, "sub",
					MSG_RENAME_EXCHANGE), 1, -EINVAL);
		g_expect("RENAME_EXCHANGE of a child with its parent",
			 m_rename_flags(&c, dir.ino, "sub", CASFS_ROOT_INO, name,
					MSG_RENAME_EXCHANGE), 1, -EINVAL);
		g_expect("RENAME with NOREPLACE|EXCHANGE",
			 m_rename_flags(&c, dir.ino, "file", dir.ino, "sub",
					MSG_RENAME_NOREPLACE | MSG_RENAME_EXCHANGE), 1, -EINVAL);
		g_expect("RENAME with unknown flag 0x80",
			 m_rename_flags(&c, dir.ino, "file", dir.ino, "f2", 0x80), 1, -EINVAL);
		g_expect("RENAME a dir over a file", m_rename(&c, dir.ino, "sub", dir.ino, "file"), 1,
			 -ENOTDIR);
		g_expect("RENAME a file over a dir", m_rename(&c, dir.ino, "file", dir.ino, "sub"), 1,
			 -EISDIR);
		g_expect("RENAME onto itself", m_rename(&c, dir.ino, "file", dir.ino, "file"), 1, 0);
		g_expect("MKNOD with a directory mode",
			 m_entry(&c, MSG_MKNOD, dir.ino, "nod", 040755, &odd), 2, -EINVAL, -EPERM);
		g_expect("MKNOD with a symlink mode",
			 m_entry(&c, MSG_MKNOD, dir.ino, "nol", 0120777, &odd), 2, -EINVAL, -EPERM);
		g_expect("MKNOD with type bits 0170000",
			 m_entry(&c, MSG_MKNOD, dir.ino, "nox", 0170644, &odd), 2, -EINVAL, -EPERM);
		st = m_entry(&c, MSG_CREATE, dir.ino, "cre", 040755, &odd);
		if (st == 0 && (odd.mode & S_IFMT) != S_IFREG)
			g_bad("CREATE with a directory mode made type %o", odd.mode & S_IFMT);
		else
			g_ok("CREATE with a directory mode: status %d, a regular file if made", st);
		if (st == 0)
			m_ino_op(&c, MSG_RELEASE, odd.ino, NULL);
		st = m_setmode(&c, file.ino, 040755, &a);
		if (st == 0 && (a.mode & S_IFMT) != S_IFREG)
			g_bad("SETATTR mode 040755 turned a file into type %o", a.mode & S_IFMT);
		else
			g_ok("SETATTR mode with other type bits keeps the file a file (status %d)", st);
		st = m_setmode(&c, sub.ino, 0100644, &a);
		if (st == 0 && (a.mode & S_IFMT) != S_IFDIR)
			g_bad("SETATTR mode 0100644 turned a directory into type %o", a.mode & S_IFMT);
		else
			g_ok("SETATTR mode with other type bits keeps the dir a dir (status %d)", st);
		m_setmode(&c, file.ino, 0644, &a);
		m_setmode(&c, sub.ino, 0755, &a);
		{
			uint64_t cnt;
			int rc = m_readdir_all(&c, sub.ino, 100, &cnt, NULL, NULL);

			g_expect("READDIR of the dir after the mode games", rc, 1, 0);
		}
	}
	g_expect("MKDIR under a file", m_entry(&c, MSG_MKDIR, file.ino, "d", 040755, &a), 1,
	       -ENOTDIR);
	g_expect("GETATTR of inode 0", m_ino_op(&c, MSG_GETATTR, 0, &a), 1, ANY_NEG);
	g_expect("GETATTR of inode 2^64-1", m_ino_op(&c, MSG_GETATTR, UINT64_MAX, &a), 1, ANY_NEG);

	/* sizes near 2^63 */
	g_expect("SETATTR size 2^64-1", m_setsize(&c, file.ino, UINT64_MAX, &a), 1, ANY_NEG);
	g_expect("SETATTR size 2^63", m_setsize(&c, file.ino, 1ULL << 63, &a), 1, ANY_NEG);
	st = m_setsize(&c, file.ino, INT64_MAX, &a);
	if (st == 0 && a.size != (uint64_t)INT64_MAX)
		g_bad("SETATTR size 2^63-1 answered 0 but size is %" PRIu64, a.size);
	else
		g_ok("SETATTR size 2^63-1: status %d", st);
	g_expect("SETATTR size back to 0", m_setsize(&c, file.ino, 0, &a), 1, 0);

	/* lying COMMITs */
	g_rnd_id(&id);
	{
		const uint32_t ghosts[] = { 77777, 0, UINT32_MAX };

		st = m_commit(&c, file.ino, 4096, 0, &id, 4096, ghosts, 3, &a);
		g_ok("COMMIT naming servers that do not exist: status %d", st);
	}
	st = m_commit(&c, file.ino, 0, UINT64_MAX, &id, 4096, NULL, 0, &a);
	if (st == 0 && a.size > (uint64_t)INT64_MAX)
		g_bad("COMMIT at index 2^64-1 made the size %" PRIu64, a.size);
	else
		g_ok("COMMIT at index 2^64-1: status %d", st);
	st = m_commit(&c, file.ino, UINT64_MAX, UINT64_MAX / 2, &id, 4096, NULL, 0, &a);
	g_expect("COMMIT with size 2^64-1", st, 1, ANY_NEG);
	st = m_commit(&c, file.ino, 0, (uint64_t)INT64_MAX / file.block_size, &id,
		      file.block_size, NULL, 0, &a);
	if (st == 0 && a.size > (uint64_t)INT64_MAX)
		g_bad("COMMIT at the last index before 2^63 made the size %" PRIu64, a.size);
	else
		g_ok("COMMIT at index 2^63/bs: status %d", st);
	g_expect("COMMIT of a block of 8 MiB + 1",
	       m_commit(&c, file.ino, 0, 1, &id, (8u << 20) + 1, NULL, 0, &a), 1, ANY_NEG);
	g_expect("COMMIT of a block of 2^32-1 bytes",
	       m_commit(&c, file.ino, 0, 2, &id, UINT32_MAX, NULL, 0, &a), 1, ANY_NEG);
	g_expect("COMMIT to a directory", m_commit(&c, dir.ino, 0, 0, &id, 10, NULL, 0, &a), 1,
	       ANY_NEG);
	if (m_ino_op(&c, MSG_GETATTR, file.ino, &a) == 0 && a.size <= (uint64_t)INT64_MAX)
		g_ok("file size still sane after lying COMMITs (%" PRIu64 ")", a.size);
	else
		g_bad("file size after lying COMMITs: %" PRIu64, a.size);
	/* BMAP must only name live servers, each with an address */
	{
		struct proto_wbuf *w = g_wb();
		struct proto_rbuf r;
		uint32_t nb, nh, ns, sid;
		int ghosts = 0;

		proto_put_u64(w, file.ino);
		proto_put_u64(w, 0);
		proto_put_u32(w, 16);
		if (g_call(&c, MSG_BMAP, w, &st, &r) || st) {
			g_bad("BMAP after a lying COMMIT failed (%d)", st);
		} else {
			char addr[PROTO_STR_MAX + 1];
			struct blk_id bid;
			uint64_t idx;
			uint32_t len;

			proto_get_attr(&r, &a);
			proto_get_count(&r, 8 + BLK_ID_SIZE + 8, &nb);
			for (uint32_t i = 0; i < nb; i++) {
				proto_get_u64(&r, &idx);
				proto_get_blkid(&r, &bid);
				proto_get_u32(&r, &len);
				proto_get_count(&r, 4, &nh);
				for (uint32_t j = 0; j < nh; j++) {
					proto_get_u32(&r, &sid);
					ghosts += sid == 77777 || sid == UINT32_MAX;
				}
			}
			proto_get_count(&r, 6, &ns);
			for (uint32_t i = 0; i < ns; i++) {
				proto_get_u32(&r, &sid);
				proto_get_str(&r, addr, sizeof(addr));
			}
			if (proto_get_end(&r) || ghosts)
				g_bad("BMAP lists servers that do not exist (%d)", ghosts);
			else
				g_ok("BMAP after a lying COMMIT names no ghost server");
		}
	}

	/* READDIR with a huge max, and of a file */
	if (m_readdir_all(&c, CASFS_ROOT_INO, UINT32_MAX, &n, NULL, NULL))
		g_bad("READDIR of the root with max 2^32-1 failed");
	else
		g_ok("READDIR of the root with max 2^32-1: %" PRIu64 " entries, no . or ..", n);
	{
		int rc = (int)m_readdir_all(&c, file.ino, 10, &n, NULL, NULL);

		g_expect("READDIR of a file", rc, 1, -ENOTDIR);
	}

	/* PLACE of thousands of blocks, and of impossible ones */
	for (int round = 0; round < 2; round++) {
		uint32_t nblk = round ? 100000 : 5000, nch;
		struct proto_wbuf w;
		struct proto_rbuf r;

		proto_wbuf_init(&w);
		proto_put_u64(&w, file.ino);
		proto_put_u32(&w, nblk);
		for (uint32_t i = 0; i < nblk; i++) {
			g_rnd_id(&id);
			proto_put_blkid(&w, &id);
			proto_put_u32(&w, 65536);
		}
		if (g_call(&c, MSG_PLACE, &w, &st, &r)) {
			g_bad("PLACE of %u blocks: transport error", nblk);
		} else if (st == 0) {
			proto_get_count(&r, 4, &nch);
			if (nch == nblk)
				g_ok("PLACE of %u blocks in one frame: %u chains", nblk, nch);
			else
				g_bad("PLACE of %u blocks answered %u chains", nblk, nch);
		} else {
			g_ok("PLACE of %u blocks in one frame: status %d", nblk, st);
		}
		proto_wbuf_free(&w);
	}
	{
		static const uint32_t lens[] = { (8u << 20) + 1, UINT32_MAX };

		for (int i = 0; i < 2; i++) {
			struct proto_wbuf *w = g_wb();

			proto_put_u64(w, file.ino);
			proto_put_u32(w, 1);
			g_rnd_id(&id);
			proto_put_blkid(w, &id);
			proto_put_u32(w, lens[i]);
			meta_req(&c, MSG_PLACE, w, &st, NULL);
			/* COMMIT and chunkd refuse them, so PLACE does too */
			g_expect("PLACE of a block over 8 MiB", st, 1, -EINVAL);
		}
	}
	/* COPY_RANGE with counts and indices that overflow */
	{
		struct proto_wbuf *w = g_wb();

		proto_put_u64(w, file.ino);
		proto_put_u64(w, UINT64_MAX - 1);
		proto_put_u64(w, file.ino);
		proto_put_u64(w, UINT64_MAX - 2);
		proto_put_u32(w, UINT32_MAX);
		proto_put_u64(w, 0);
		meta_req(&c, MSG_COPY_RANGE, w, &st, &a);
		g_ok("COPY_RANGE with wrapping indices: status %d", st);
	}
	/* LOCK with an inverted range, unknown kind and type */
	for (int i = 0; i < 3; i++) {
		struct proto_wbuf *w = g_wb();

		proto_put_u64(w, file.ino);
		proto_put_u64(w, 1);
		proto_put_u8(w, i == 1 ? 9 : MSG_LOCK_POSIX);
		proto_put_u8(w, i == 2 ? 7 : MSG_LOCK_WRITE);
		proto_put_u64(w, i == 0 ? 100 : 0);
		proto_put_u64(w, i == 0 ? 10 : 10);
		proto_put_u32(w, 1);
		proto_put_u8(w, 0);
		meta_req(&c, MSG_LOCK, w, &st, NULL);
		g_expect(i == 0 ? "LOCK start > end" : i == 1 ? "LOCK kind 9" : "LOCK type 7", st, 1,
		       ANY_NEG);
	}
	/* an xattr value over 64 KiB */
	{
		struct proto_wbuf *w = g_wb();
		uint8_t *v = xcalloc(1, 65537);

		proto_put_u64(w, file.ino);
		proto_put_str(w, "user.big");
		proto_put_bytes(w, v, 65537);
		proto_put_u32(w, 0);
		meta_req(&c, MSG_SETXATTR, w, &st, NULL);
		g_expect("SETXATTR of 64 KiB + 1", st, 1, -E2BIG);
		free(v);
		v = NULL;
	}
	/* a client may not speak for chunk servers or administrators */
	{
		static const uint16_t types[] = { MSG_CS_REGISTER, MSG_CS_INVENTORY, MSG_CS_ADDED,
						  MSG_CS_BAD, MSG_CS_HEARTBEAT, MSG_ADM_CS_REMOVE,
						  MSG_ADM_SET_GOAL, MSG_ADM_SET_BLOCKSIZE,
						  MSG_ADM_CS_DRAIN };

		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
			struct proto_wbuf *w = g_wb();

			g_rnd_id(&id);
			switch (types[i]) {
			case MSG_CS_REGISTER:
				proto_put_u32(w, 0);
				proto_put_str(w, "127.0.0.1:1");
				proto_put_u64(w, 1ULL << 40);
				proto_put_u64(w, 1ULL << 40);
				proto_put_u32(w, 0);
				break;
			case MSG_CS_INVENTORY:
				proto_put_u8(w, 1);
				/* fall through */
			case MSG_CS_ADDED:
				proto_put_u32(w, 1);
				proto_put_blkid(w, &id);
				proto_put_u32(w, 100);
				break;
			case MSG_CS_BAD: proto_put_blkid(w, &id); break;
			case MSG_CS_HEARTBEAT:
				for (int j = 0; j < 4; j++)
					proto_put_u64(w, 1);
				proto_put_u32(w, 0);
				proto_put_u32(w, 0);
				break;
			case MSG_ADM_SET_GOAL:
				proto_put_u64(w, CASFS_ROOT_INO);
				proto_put_u8(w, 9);
				proto_put_u8(w, 1);
				break;
			case MSG_ADM_SET_BLOCKSIZE:
				proto_put_u64(w, CASFS_ROOT_INO);
				proto_put_u32(w, 65536);
				break;
			default:
				proto_put_u32(w, 1);
				proto_put_u8(w, 1);
				break;
			}
			meta_req(&c, types[i], w, &st, NULL);
			snprintf(name, sizeof(name), "%s from a client session",
				 msg_lookup(types[i])->name);
			g_expect(name, st, 1, ANY_NEG);
		}
	}
	if (m_ino_op(&c, MSG_GETATTR, root.ino, &a) || a.goal != root.goal ||
	    a.block_size != root.block_size)
		g_bad("the root's goal or block size changed");
	else
		g_ok("the root's goal and block size are unchanged");
	g_close(&c);
	return 0;
}

/* Admin-role lies: impossible goals, block sizes, server ids. */
int cmd_adm_lies(void)
{
	struct g_conn c;
	struct proto_wbuf *w;
	int32_t st;
	char what[64];

	g_opts.role = PROTO_ROLE_ADMIN;
	if (g_login(&c, g_opts.server, NULL))
		return g_bad("adm-lies: login failed"), 1;
	for (int g = 0; g < 3; g++) {
		static const uint8_t goals[] = { 0, 10, 255 };

		w = g_wb();
		proto_put_u64(w, CASFS_ROOT_INO);
		proto_put_u8(w, goals[g]);
		proto_put_u8(w, 0);
		meta_req(&c, MSG_ADM_SET_GOAL, w, &st, NULL);
		snprintf(what, sizeof(what), "SET_GOAL %u", goals[g]);
		g_expect(what, st, 1, ANY_NEG);
	}
	for (int b = 0; b < 4; b++) {
		static const uint32_t sizes[] = { 0, 3000, 32768, 16u << 20 };

		w = g_wb();
		proto_put_u64(w, CASFS_ROOT_INO);
		proto_put_u32(w, sizes[b]);
		meta_req(&c, MSG_ADM_SET_BLOCKSIZE, w, &st, NULL);
		snprintf(what, sizeof(what), "SET_BLOCKSIZE %u", sizes[b]);
		g_expect(what, st, 1, ANY_NEG);
	}
	w = g_wb();
	proto_put_u64(w, UINT64_MAX);
	proto_put_u8(w, 2);
	proto_put_u8(w, 1);
	meta_req(&c, MSG_ADM_SET_GOAL, w, &st, NULL);
	g_expect("SET_GOAL of inode 2^64-1", st, 1, ANY_NEG);
	for (int i = 0; i < 2; i++) {
		w = g_wb();
		proto_put_u32(w, 999999);
		proto_put_u8(w, 1);
		meta_req(&c, i ? MSG_ADM_CS_REMOVE : MSG_ADM_CS_DRAIN, w, &st, NULL);
		g_expect(i ? "CS_REMOVE of an unknown server" : "CS_DRAIN of an unknown server", st, 1,
		       ANY_NEG);
	}
	g_close(&c);
	return 0;
}

/* Many entries with long names, then READDIR with max 2^32-1: the reply
 * must stay within a frame and the walk must see every entry once. */
int cmd_bigdir(void)
{
	int n = g_opts.count ? g_opts.count : 20000, window = 64, sent = 0, done = 0, failed = 0;
	struct casfs_attr dir;
	struct g_conn c;
	uint64_t count;
	char name[PROTO_NAME_MAX + 1];
	int rc;

	if (g_login(&c, g_opts.server, NULL))
		return g_bad("bigdir: login failed"), 1;
	snprintf(name, sizeof(name), "bigdir-%llu", (unsigned long long)(g_rnd() % 1000000));
	if (m_entry(&c, MSG_MKDIR, CASFS_ROOT_INO, name, 040755, &dir))
		return g_bad("bigdir: MKDIR failed"), 1;
	/* pipelined MKNODs: window requests in flight */
	while (done < n) {
		while (sent < n && sent - done < window) {
			struct proto_wbuf *w = g_wb();
			uint64_t reqid;

			memset(name, 'x', PROTO_NAME_MAX);
			snprintf(name, 12, "%010d", sent);
			name[10] = 'x';
			name[PROTO_NAME_MAX] = 0;
			proto_put_u64(w, dir.ino);
			proto_put_str(w, name);
			proto_put_u32(w, 0100644);
			proto_put_u32(w, 0);
			proto_put_u32(w, 0);
			proto_put_u32(w, 0);
			if (g_send(&c, MSG_MKNOD, w->data, w->len, &reqid))
				return g_bad("bigdir: send failed"), 1;
			sent++;
		}
		for (;;) {
			struct proto_hdr h;
			struct proto_rbuf r;
			int32_t st;

			if (net_frame_read(c.fd, PROTO_FRAME_MAX, &h, &c.in))
				return g_bad("bigdir: connection lost"), 1;
			if (!(h.flags & PROTO_F_REPLY) || h.type != MSG_MKNOD)
				continue;
			proto_rbuf_init(&r, c.in.data, c.in.len);
			proto_get_i32(&r, &st);
			failed += st != 0;
			done++;
			break;
		}
	}
	if (failed)
		return g_bad("bigdir: %d of %d MKNODs failed", failed, n), 1;
	rc = m_readdir_all(&c, dir.ino, UINT32_MAX, &count, NULL, NULL);
	if (rc)
		g_bad("bigdir: READDIR with max 2^32-1 over %d long names: %d", n, rc);
	else if (count != (uint64_t)n)
		g_bad("bigdir: READDIR saw %" PRIu64 " of %d entries", count, n);
	else
		g_ok("bigdir: READDIR max 2^32-1 over %d entries of 255 bytes: every entry once, frames"
		   " within the limit", n);
	g_close(&c);
	return 0;
}

/* A chunk-server session that lies to metad about itself: reports before
 * registering, registering twice, taking a connected server's id, ids at
 * the top of the u32 range, absurd capacities and inventories. */
static int32_t cs_register(struct g_conn *c, uint32_t id, const char *addr, uint32_t *got)
{
	struct proto_wbuf *w = g_wb();
	struct proto_rbuf r;
	int32_t st = -EIO;

	proto_put_u32(w, id);
	proto_put_str(w, addr);
	proto_put_u64(w, 1ULL << 30);
	proto_put_u64(w, 1ULL << 31);	/* more free than total */
	proto_put_u32(w, 0);
	*got = 0;
	if (g_call(c, MSG_CS_REGISTER, w, &st, &r) == 0 && st == 0)
		proto_get_u32(&r, got);
	return st;
}

int cmd_cs_lies(void)
{
	struct g_conn c;
	struct proto_wbuf *w;
	struct blk_id id;
	uint32_t got, first;
	int32_t st;

	g_opts.role = PROTO_ROLE_CHUNKD;
	if (g_login(&c, g_opts.server, NULL))
		return g_bad("cs-lies: login failed"), 1;
	w = g_wb();
	proto_put_u8(w, 1);
	proto_put_u32(w, 0);
	g_call(&c, MSG_CS_INVENTORY, w, &st, NULL);
	g_expect("CS_INVENTORY before CS_REGISTER", st, 1, ANY_NEG);
	g_expect("CS_REGISTER as server 1, which is connected", cs_register(&c, 1, "127.0.0.1:9", &got),
		 1, -EEXIST);
	st = cs_register(&c, 0, "127.0.0.1:9", &first);
	g_expect("CS_REGISTER as a new server", st, 1, 0);
	st = cs_register(&c, 0, "127.0.0.1:10", &got);
	printf("note: a second CS_REGISTER on one connection: status %d, id %u (first %u)\n", st,
	       got, first);
	w = g_wb();
	proto_put_u8(w, 1);
	proto_put_u32(w, 3);
	for (int i = 0; i < 3; i++) {
		g_rnd_id(&id);
		proto_put_blkid(w, &id);
		proto_put_u32(w, i == 0 ? 0 : i == 1 ? (8u << 20) + 1 : UINT32_MAX);
	}
	g_call(&c, MSG_CS_INVENTORY, w, &st, NULL);
	g_ok("inventory of impossible lengths: status %d", st);
	w = g_wb();
	for (int i = 0; i < 4; i++)
		proto_put_u64(w, UINT64_MAX - (uint64_t)i);
	proto_put_u32(w, UINT32_MAX);
	proto_put_u32(w, UINT32_MAX);
	g_call(&c, MSG_CS_HEARTBEAT, w, &st, NULL);
	g_ok("heartbeat with capacities near 2^64 and every flag: status %d", st);
	g_close(&c);
	/* Ids metad never issued are refused; new ids are never 0, never
	 * wrap and never repeat. */
	{
		uint32_t a = 0, b = 0;

		if (g_login(&c, g_opts.server, NULL))
			return g_bad("cs-lies: login failed"), 1;
		g_expect("CS_REGISTER with an id metad never issued (2^32-1)",
			 cs_register(&c, UINT32_MAX, "127.0.0.1:11", &got), 1, -ENOENT);
		g_expect("CS_REGISTER with an id metad never issued (first + 1000)",
			 cs_register(&c, first + 1000, "127.0.0.1:11", &got), 1, -ENOENT);
		g_expect("CS_REGISTER after the refusals", cs_register(&c, 0, "127.0.0.1:11", &a),
			 1, 0);
		g_close(&c);
		if (g_login(&c, g_opts.server, NULL))
			return g_bad("cs-lies: login failed"), 1;
		g_expect("another new CS_REGISTER", cs_register(&c, 0, "127.0.0.1:12", &b), 1, 0);
		g_close(&c);
		if (a == 0 || b == 0 || a == b || a == first || b == first || a <= first || b <= a)
			g_bad("new ids %u and %u after %u: 0, repeated or not increasing", a, b, first);
		else
			g_ok("new ids after forged ones: %u then %u (first %u)", a, b, first);
	}
	return 0;
}

/* Registers with the given id (u32, may be the top of the range) and
 * leaves: the id allocator must not be bent by it. */
int cmd_cs_register(void)
{
	struct g_conn c;
	uint32_t got;
	int32_t st;

	g_opts.role = PROTO_ROLE_CHUNKD;
	if (g_login(&c, g_opts.server, NULL))
		return g_bad("cs-register: login failed"), 1;
	st = cs_register(&c, (uint32_t)g_opts.count, "127.0.0.1:9", &got);
	printf("cs-register %u: status %d, id %u\n", (uint32_t)g_opts.count, st, got);
	g_close(&c);
	return 0;
}

/* ---- namespace dump, for comparing before and after a restart ---- */

struct dump_ctx {
	struct g_conn *c;
	char path[8192];
};

static int dump_dir(struct dump_ctx *d, uint64_t ino);

static int dump_one(const char *name, const struct casfs_attr *a, void *arg)
{
	struct dump_ctx *d = arg;
	size_t at = strlen(d->path);
	int rc = 0;

	if (at + strlen(name) + 2 >= sizeof(d->path))
		return -ENAMETOOLONG;
	snprintf(d->path + at, sizeof(d->path) - at, "/%s", name);
	printf("%s ino=%" PRIu64 " mode=%o nlink=%u uid=%u gid=%u size=%" PRIu64
	       " mtime=%" PRIu64 ".%09u ctime=%" PRIu64 ".%09u goal=%u bs=%u\n",
	       d->path, a->ino, a->mode, a->nlink, a->uid, a->gid, a->size, a->mtime.sec,
	       a->mtime.nsec, a->ctime.sec, a->ctime.nsec, a->goal, a->block_size);
	d->path[at] = 0;
	(void)rc;
	return 0;
}

struct dir_list {
	uint64_t *ino;
	char (*name)[PROTO_NAME_MAX + 1];
	size_t n, cap;
};

static int collect_dirs(const char *name, const struct casfs_attr *a, void *arg)
{
	struct dir_list *l = arg;

	if ((a->mode & S_IFMT) != S_IFDIR)
		return 0;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		l->ino = xrealloc(l->ino, l->cap * sizeof(*l->ino));
		l->name = xrealloc(l->name, l->cap * sizeof(*l->name));
	}
	l->ino[l->n] = a->ino;
	snprintf(l->name[l->n++], PROTO_NAME_MAX + 1, "%s", name);
	return 0;
}

struct both {
	struct dump_ctx *d;
	struct dir_list *l;
};

static int dump_and_collect(const char *name, const struct casfs_attr *a, void *arg)
{
	struct both *b = arg;

	dump_one(name, a, b->d);
	return collect_dirs(name, a, b->l);
}

static int dump_dir(struct dump_ctx *d, uint64_t ino)
{
	struct dir_list l = { 0 };
	struct both b = { d, &l };
	uint64_t n;
	int rc = m_readdir_all(d->c, ino, 1000, &n, dump_and_collect, &b);

	for (size_t i = 0; !rc && i < l.n; i++) {
		size_t at = strlen(d->path);

		snprintf(d->path + at, sizeof(d->path) - at, "/%s", l.name[i]);
		rc = dump_dir(d, l.ino[i]);
		d->path[at] = 0;
	}
	free(l.ino);
	l.ino = NULL;
	free(l.name);
	l.name = NULL;
	return rc;
}

int cmd_dump(void)
{
	struct dump_ctx d = { 0 };
	struct g_conn c;
	int rc;

	if (g_login(&c, g_opts.server, NULL))
		return g_bad("dump: login failed"), 1;
	d.c = &c;
	rc = dump_dir(&d, CASFS_ROOT_INO);
	g_close(&c);
	if (rc)
		return g_bad("dump: walk failed: %d", rc), 1;
	return 0;
}

/* ---- a lying chunk server ----
 * Registers with metad as a chunk server, claims to hold the blocks listed
 * in --ids (plus some that exist nowhere), says "stored" to every
 * CS_REPLICATE, BLK_PUT and CS_DELETE, and answers every BLK_GET with
 * random bytes of the right length. Readers must never return its bytes.
 * One thread per block connection; all joined before exit. */

#define FAKE_MAX_CONNS 64

struct fake {
	int lfd;
	volatile int stop;
	uint32_t id;
	struct casfs_uuid uuid;
	pthread_mutex_t lock;
	unsigned gets, puts;
	pthread_t threads[FAKE_MAX_CONNS];
	int fds[FAKE_MAX_CONNS];
	int nthreads;
};

struct fake_conn {
	struct fake *f;
	int fd;
};

static int fake_reply(int fd, uint16_t type, uint64_t reqid, int32_t st, const void *fields,
		      size_t len)
{
	struct proto_wbuf w;
	int rc;

	proto_wbuf_init(&w);
	proto_reply_begin(&w, type, reqid, st);
	proto_put_raw(&w, fields, len);
	rc = proto_frame_finish(&w);
	if (!rc)
		rc = net_frame_write(fd, &w);
	proto_wbuf_free(&w);
	return rc;
}

static void *fake_conn_main(void *arg)
{
	struct fake_conn *fc = arg;
	struct fake *f = fc->f;
	struct proto_wbuf in, out;

	proto_wbuf_init(&in);
	proto_wbuf_init(&out);
	while (!f->stop) {
		struct pollfd pfd = { .fd = fc->fd, .events = POLLIN };
		struct proto_hdr h;
		struct proto_rbuf r;
		int rc;

		if (poll(&pfd, 1, 200) <= 0)
			continue;
		if (net_frame_read(fc->fd, PROTO_FRAME_MAX, &h, &in))
			break;
		if ((h.flags & PROTO_F_REPLY) || msg_check(h.type, 0, in.data, in.len)) {
			fake_reply(fc->fd, h.type, h.reqid, -EBADMSG, NULL, 0);
			continue;
		}
		proto_rbuf_init(&r, in.data, in.len);
		proto_wbuf_reset(&out);
		switch (h.type) {
		case MSG_HELLO:
			proto_put_u16(&out, PROTO_VERSION);
			proto_put_uuid(&out, &f->uuid);
			proto_put_u64(&out, 0);
			proto_put_bytes(&out, NULL, 0);
			proto_put_u32(&out, 60000);
			rc = fake_reply(fc->fd, h.type, h.reqid, 0, out.data, out.len);
			break;
		case MSG_BLK_GET: {
			struct blk_id id;
			uint32_t off, len;
			uint8_t *junk;

			proto_get_blkid(&r, &id);
			proto_get_u32(&r, &off);
			proto_get_u32(&r, &len);
			if (len == 0 || len > (1u << 20))
				len = 1u << 20;
			junk = xmalloc(len);
			memset(junk, 0xa5, len);
			proto_put_bytes(&out, junk, len);
			free(junk);
			junk = NULL;
			pthread_mutex_lock(&f->lock);
			f->gets++;
			pthread_mutex_unlock(&f->lock);
			rc = fake_reply(fc->fd, h.type, h.reqid, 0, out.data, out.len);
			break;
		}
		case MSG_BLK_HAVE: {
			uint32_t n;

			proto_get_count(&r, BLK_ID_SIZE, &n);
			proto_put_u32(&out, n);
			for (uint32_t i = 0; i < n; i++)
				proto_put_u8(&out, 1);
			rc = fake_reply(fc->fd, h.type, h.reqid, 0, out.data, out.len);
			break;
		}
		case MSG_BLK_PUT:
			proto_put_u32(&out, 1);
			proto_put_u32(&out, f->id);
			proto_put_i32(&out, 0);
			pthread_mutex_lock(&f->lock);
			f->puts++;
			pthread_mutex_unlock(&f->lock);
			rc = fake_reply(fc->fd, h.type, h.reqid, 0, out.data, out.len);
			break;
		default:
			rc = fake_reply(fc->fd, h.type, h.reqid, 0, NULL, 0);
			break;
		}
		if (rc)
			break;
	}
	proto_wbuf_free(&in);
	proto_wbuf_free(&out);
	free(fc);
	return NULL;
}

static void *fake_accept_main(void *arg)
{
	struct fake *f = arg;

	while (!f->stop) {
		struct pollfd pfd = { .fd = f->lfd, .events = POLLIN };
		struct fake_conn *fc;
		int fd;

		if (poll(&pfd, 1, 200) <= 0)
			continue;
		fd = accept(f->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		if (f->nthreads == FAKE_MAX_CONNS) {
			close(fd);
			continue;
		}
		net_set_timeouts(fd, G_TIMEOUT_MS);
		fc = xcalloc(1, sizeof(*fc));
		fc->f = f;
		fc->fd = fd;
		f->fds[f->nthreads] = fd;
		pthread_create(&f->threads[f->nthreads++], NULL, fake_conn_main, fc);
	}
	return NULL;
}

int cmd_fake_cs(const char *ids_path)
{
	struct fake f = { .lfd = -1 };
	struct g_hello_out ho;
	struct proto_wbuf w;
	struct proto_rbuf r;
	struct proto_hdr h;
	struct g_conn m;
	pthread_t acc;
	char addr[64], line[128];
	unsigned replicates = 0, deletes = 0;
	uint16_t port;
	uint32_t n = 0;
	size_t at;
	int64_t end, next_hb = 0;
	int32_t st;
	FILE *ids;
	int rc;

	pthread_mutex_init(&f.lock, NULL);
	rc = net_listen("127.0.0.1:0", 64, &f.lfd, &port);
	if (rc)
		return g_bad("fake-cs: listen: %s", strerror(-rc)), 1;
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	g_opts.role = PROTO_ROLE_CHUNKD;
	if (g_login(&m, g_opts.server, &ho))
		return g_bad("fake-cs: HELLO to metad failed"), 1;
	f.uuid = ho.uuid;
	proto_wbuf_init(&w);
	proto_put_u32(&w, 0);
	proto_put_str(&w, addr);
	proto_put_u64(&w, 1ULL << 40);
	proto_put_u64(&w, 1ULL << 40);
	proto_put_u32(&w, 0);
	rc = g_call(&m, MSG_CS_REGISTER, &w, &st, &r);
	if (rc || st || proto_get_u32(&r, &f.id))
		return g_bad("fake-cs: CS_REGISTER failed: %d/%d", rc, st), 1;
	/* the inventory: the real blocks named in --ids, and ids that exist
	 * nowhere with lengths no block can have */
	proto_wbuf_reset(&w);
	proto_put_u8(&w, 1);
	at = proto_put_array_begin(&w);
	ids = ids_path ? fopen(ids_path, "r") : NULL;
	while (ids && fgets(line, sizeof(line), ids)) {
		struct blk_id id;
		char hex[BLK_ID_HEX_LEN + 1];
		unsigned len;

		if (sscanf(line, "%34s %u", hex, &len) != 2 || blk_id_parse(hex, &id))
			continue;
		proto_put_blkid(&w, &id);
		proto_put_u32(&w, len);
		n++;
	}
	if (ids)
		fclose(ids);
	for (int i = 0; i < 3; i++, n++) {
		struct blk_id id;

		g_rnd_id(&id);
		proto_put_blkid(&w, &id);
		proto_put_u32(&w, i == 0 ? 0 : i == 1 ? (8u << 20) + 1 : UINT32_MAX);
	}
	proto_put_array_end(&w, at, n);
	rc = g_call(&m, MSG_CS_INVENTORY, &w, &st, &r);
	proto_wbuf_free(&w);
	if (rc)
		return g_bad("fake-cs: CS_INVENTORY: transport error %d", rc), 1;
	printf("fake-cs: registered as server %u at %s claiming %u blocks (inventory status %d)\n",
	       f.id, addr, n, st);
	fflush(stdout);
	pthread_create(&acc, NULL, fake_accept_main, &f);
	end = g_now_ms() + (g_opts.seconds ? g_opts.seconds : 10) * 1000;
	while (g_now_ms() < end) {
		struct pollfd pfd = { .fd = m.fd, .events = POLLIN };

		if (g_now_ms() >= next_hb) {
			proto_wbuf_init(&w);
			proto_put_u64(&w, 1ULL << 40);
			proto_put_u64(&w, 1ULL << 40);
			proto_put_u64(&w, 0);
			proto_put_u64(&w, n);
			proto_put_u32(&w, 0);
			proto_put_u32(&w, 0);
			g_send(&m, MSG_CS_HEARTBEAT, w.data, w.len, &(uint64_t){ 0 });
			proto_wbuf_free(&w);
			next_hb = g_now_ms() + 1000;
		}
		if (poll(&pfd, 1, 200) <= 0)
			continue;
		if (net_frame_read(m.fd, PROTO_FRAME_MAX, &h, &m.in)) {
			g_bad("fake-cs: metad closed our connection");
			break;
		}
		if (h.flags & PROTO_F_REPLY)
			continue;
		if (h.type == MSG_CS_REPLICATE)
			replicates++;
		if (h.type == MSG_CS_DELETE)
			deletes++;
		fake_reply(m.fd, h.type, h.reqid, 0, NULL, 0);
	}
	f.stop = 1;
	pthread_join(acc, NULL);
	for (int i = 0; i < f.nthreads; i++)
		pthread_join(f.threads[i], NULL);
	for (int i = 0; i < f.nthreads; i++)
		close(f.fds[i]);
	close(f.lfd);
	g_close(&m);
	printf("fake-cs: served %u GETs with wrong bytes, %u PUTs, %u CS_REPLICATE, %u CS_DELETE\n",
	       f.gets, f.puts, replicates, deletes);
	g_ok("fake-cs: metad kept the lying server's connection for the whole run");
	pthread_mutex_destroy(&f.lock);
	return 0;
}
