/* Model test: random sequences of namespace operations are applied to metad
 * (through meta_exec, the code the server runs, with changelog records
 * written as the server writes them) and to a tiny in-test model; every
 * status must match and the trees must agree. Then the state is rebuilt
 * twice, from the mid-run checkpoint + changelog and from the first
 * checkpoint + the whole changelog, and must equal the live state exactly
 * (attributes, times, block maps, xattrs, opens). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "fs/msg.h"
#include "fs/proto.h"
#include "fs/xmalloc.h"
#include "metad/meta_ckpt.h"
#include "metad/meta_exec.h"
#include "metad/meta_log.h"
#include "metad/meta_ns.h"
#include "metad/meta_sess.h"

#define MN 3000
#define ME 6000
#define BS (1u << 20)

struct mnode {
	int used, type;		/* 1 dir, 2 file, 3 symlink */
	int nlink, parent;
	uint64_t size, ino;
};

struct ment {
	int used, dir, node;
	char name[8];
};

struct env {
	char dir[64];
	struct meta_ns *ns;
	struct meta_sessions ss;
	struct meta_sess *sess;
	struct meta_log *log;
	uint64_t reqid;
	struct casfs_time now;
	struct mnode n[MN];
	struct ment e[ME];
	unsigned seed;
};

static int rnd(struct env *v, int n)
{
	return (int)(rand_r(&v->seed) % (unsigned)n);
}

/* Runs one request as the server does: exec, then log if it mutated. */
static int run(struct env *v, uint16_t type, struct proto_wbuf *p, struct casfs_attr *out)
{
	struct meta_exec x = { .ns = v->ns, .ss = &v->ss, .sess = v->sess };
	struct proto_wbuf reply;
	struct proto_rbuf r;
	uint64_t result, seq;
	int mutated, rc;

	assert_int_equal(msg_check(type, 0, p->data, p->len), 0);
	v->now.sec++;
	v->now.nsec = (uint32_t)(v->now.sec * 7919 % 1000000000);
	x.now = v->now;
	proto_wbuf_init(&reply);
	rc = meta_exec_run(&x, type, p->data, p->len, &reply, &mutated, &result);
	if (mutated) {
		assert_int_equal(meta_log_append(v->log, type, v->sess->id, ++v->reqid, &v->now, p->data,
						 (uint32_t)p->len, &seq), 0);
		meta_sess_dedup_put(v->sess, v->reqid, type, 0, rc, result);
	}
	if (rc == 0 && out && reply.len >= PROTO_ATTR_SIZE) {
		proto_rbuf_init(&r, reply.data, reply.len);
		assert_int_equal(proto_get_attr(&r, out), 0);
	}
	proto_wbuf_free(&reply);
	proto_wbuf_reset(p);
	return rc;
}

static int m_find(struct env *v, int dir, const char *name)
{
	for (int i = 0; i < ME; i++)
		if (v->e[i].used && v->e[i].dir == dir && strcmp(v->e[i].name, name) == 0)
			return i;
	return -1;
}

static int m_children(struct env *v, int dir)
{
	int n = 0;

	for (int i = 0; i < ME; i++)
		n += v->e[i].used && v->e[i].dir == dir;
	return n;
}

static int m_new_node(struct env *v, int type)
{
	for (int i = 1; i < MN; i++) {
		if (!v->n[i].used) {
			memset(&v->n[i], 0, sizeof(v->n[i]));
			v->n[i].used = 1;
			v->n[i].type = type;
			return i;
		}
	}
	return -1;
}

static void m_add(struct env *v, int dir, const char *name, int node)
{
	for (int i = 0; i < ME; i++) {
		if (!v->e[i].used) {
			v->e[i].used = 1;
			v->e[i].dir = dir;
			v->e[i].node = node;
			snprintf(v->e[i].name, sizeof(v->e[i].name), "%s", name);
			return;
		}
	}
	fail();
}

static int m_is_ancestor(struct env *v, int a, int d)
{
	for (;;) {
		if (d == a)
			return 1;
		if (d == 0)
			return 0;
		d = v->n[d].parent;
	}
}

static void m_drop(struct env *v, int node)
{
	if (v->n[node].type == 1 || --v->n[node].nlink == 0)
		v->n[node].used = 0;
}

static int pick_node(struct env *v, int type)
{
	int cand[MN], n = 0;

	for (int i = 0; i < MN; i++)
		if (v->n[i].used && (!type || v->n[i].type == type))
			cand[n++] = i;
	return n ? cand[rnd(v, n)] : 0;
}

static void put_name_req(struct proto_wbuf *p, uint64_t parent, const char *name)
{
	proto_put_u64(p, parent);
	proto_put_str(p, name);
}

static void one_op(struct env *v, struct proto_wbuf *p)
{
	static const char *const names[] = { "a", "b", "c", "d", "e" };
	const char *name = names[rnd(v, 5)], *name2 = names[rnd(v, 5)];
	int d = pick_node(v, 1), d2 = pick_node(v, 1), op = rnd(v, 10), want = 0, rc, ei, de;
	struct casfs_attr a;

	switch (op) {
	case 0: case 1: case 2:	/* mkdir, mknod, symlink */
		ei = m_find(v, d, name);
		want = ei >= 0 ? -EEXIST : 0;
		put_name_req(p, v->n[d].ino, name);
		if (op == 0) {
			proto_put_u32(p, 0755);
			proto_put_u32(p, 1);
			proto_put_u32(p, 2);
			rc = run(v, MSG_MKDIR, p, &a);
		} else if (op == 1) {
			proto_put_u32(p, S_IFREG | 0640);
			proto_put_u32(p, 0);
			proto_put_u32(p, 3);
			proto_put_u32(p, 4);
			rc = run(v, MSG_MKNOD, p, &a);
		} else {
			proto_put_str(p, "tgt");
			proto_put_u32(p, 5);
			proto_put_u32(p, 6);
			rc = run(v, MSG_SYMLINK, p, &a);
		}
		assert_int_equal(rc, want);
		if (!rc) {
			int n = m_new_node(v, op == 0 ? 1 : op == 1 ? 2 : 3);

			assert_true(n > 0);
			v->n[n].ino = a.ino;
			v->n[n].nlink = op == 0 ? 2 : 1;
			v->n[n].size = op == 2 ? 3 : 0;
			v->n[n].parent = d;
			if (op == 0)
				v->n[d].nlink++;
			m_add(v, d, name, n);
		}
		break;
	case 3:	/* unlink */
		ei = m_find(v, d, name);
		want = ei < 0 ? -ENOENT : v->n[v->e[ei].node].type == 1 ? -EISDIR : 0;
		put_name_req(p, v->n[d].ino, name);
		assert_int_equal(run(v, MSG_UNLINK, p, NULL), want);
		if (!want) {
			v->e[ei].used = 0;
			m_drop(v, v->e[ei].node);
		}
		break;
	case 4:	/* rmdir */
		ei = m_find(v, d, name);
		want = ei < 0 ? -ENOENT : v->n[v->e[ei].node].type != 1 ? -ENOTDIR
		     : m_children(v, v->e[ei].node) ? -ENOTEMPTY : 0;
		put_name_req(p, v->n[d].ino, name);
		assert_int_equal(run(v, MSG_RMDIR, p, NULL), want);
		if (!want) {
			v->e[ei].used = 0;
			v->n[d].nlink--;
			m_drop(v, v->e[ei].node);
		}
		break;
	case 5: {	/* link */
		int node = pick_node(v, 0);

		want = v->n[node].type == 1 ? -EPERM : m_find(v, d, name) >= 0 ? -EEXIST : 0;
		proto_put_u64(p, v->n[node].ino);
		put_name_req(p, v->n[d].ino, name);
		assert_int_equal(run(v, MSG_LINK, p, &a), want);
		if (!want) {
			v->n[node].nlink++;
			m_add(v, d, name, node);
		}
		break;
	}
	case 6: case 7: {	/* rename */
		uint32_t flags = rnd(v, 3) == 0 ? MSG_RENAME_NOREPLACE : rnd(v, 3) == 0 ? MSG_RENAME_EXCHANGE : 0;
		int src, dst = -1;

		ei = m_find(v, d, name);
		de = m_find(v, d2, name2);
		src = ei >= 0 ? v->e[ei].node : -1;
		if (de >= 0)
			dst = v->e[de].node;
		if (ei < 0)
			want = -ENOENT;
		else if ((flags & MSG_RENAME_NOREPLACE) && de >= 0)
			want = -EEXIST;
		else if (flags & MSG_RENAME_EXCHANGE)
			want = de < 0 ? -ENOENT
			     : (v->n[src].type == 1 && src != dst && m_is_ancestor(v, src, d2)) ? -EINVAL
			     : (v->n[dst].type == 1 && src != dst && m_is_ancestor(v, dst, d)) ? -EINVAL : 0;
		else if (v->n[src].type == 1 && m_is_ancestor(v, src, d2))
			want = -EINVAL;
		else if (de >= 0 && dst == src)
			want = 0;
		else if (de >= 0 && v->n[src].type == 1 && v->n[dst].type != 1)
			want = -ENOTDIR;
		else if (de >= 0 && v->n[src].type != 1 && v->n[dst].type == 1)
			want = -EISDIR;
		else if (de >= 0 && v->n[dst].type == 1 && m_children(v, dst))
			want = -ENOTEMPTY;
		put_name_req(p, v->n[d].ino, name);
		put_name_req(p, v->n[d2].ino, name2);
		proto_put_u32(p, flags);
		assert_int_equal(run(v, MSG_RENAME, p, NULL), want);
		if (want || src == dst)
			break;
		if (flags & MSG_RENAME_EXCHANGE) {
			v->e[ei].node = dst;
			v->e[de].node = src;
			if (v->n[src].type == 1) {
				v->n[src].parent = d2;
				v->n[d].nlink--;
				v->n[d2].nlink++;
			}
			if (v->n[dst].type == 1) {
				v->n[dst].parent = d;
				v->n[d2].nlink--;
				v->n[d].nlink++;
			}
			break;
		}
		v->e[ei].used = 0;
		if (de >= 0) {
			v->e[de].used = 0;
			if (v->n[dst].type == 1)
				v->n[d2].nlink--;
			m_drop(v, dst);
		}
		m_add(v, d2, name2, src);
		if (v->n[src].type == 1) {
			v->n[src].parent = d2;
			v->n[d].nlink--;
			v->n[d2].nlink++;
		}
		break;
	}
	case 8: {	/* setattr size + mode */
		int node = pick_node(v, 0);
		uint64_t size = (uint64_t)rnd(v, 4) * 700000;
		struct casfs_time t = { 77, 88 };

		want = v->n[node].type == 1 ? -EISDIR : v->n[node].type == 3 ? -EINVAL : 0;
		proto_put_u64(p, v->n[node].ino);
		proto_put_u32(p, MSG_SETATTR_SIZE | MSG_SETATTR_MODE | MSG_SETATTR_ATIME);
		proto_put_u32(p, (uint32_t)rnd(v, 0777));
		proto_put_u32(p, 0);
		proto_put_u32(p, 0);
		proto_put_u64(p, size);
		proto_put_time(p, &t);
		proto_put_time(p, &t);
		assert_int_equal(run(v, MSG_SETATTR, p, &a), want);
		if (!want)
			v->n[node].size = size;
		break;
	}
	case 9: {	/* commit a block reference */
		int node = pick_node(v, 0);
		struct blk_id id = { .alg = BLK_ALG_XXH3_128K };
		uint64_t idx = (uint64_t)rnd(v, 4), end;
		uint32_t len = 1000u * (1 + (uint32_t)rnd(v, 5));
		struct casfs_time mt = { 99, 1 };

		memset(id.hash, rnd(v, 6), sizeof(id.hash));
		if (id.hash[0] == 5)
			id.alg = BLK_ALG_NONE, memset(id.hash, 0, sizeof(id.hash)), len = 0;
		else
			len = 1000u * (1 + id.hash[0]);	/* one length per id */
		want = v->n[node].type == 1 ? -EISDIR : v->n[node].type == 3 ? -EINVAL : 0;
		end = idx * BS + len;
		proto_put_u64(p, v->n[node].ino);
		proto_put_u64(p, end);
		proto_put_time(p, &mt);
		proto_put_u32(p, 0);
		proto_put_u32(p, 1);
		proto_put_u64(p, idx);
		proto_put_blkid(p, &id);
		proto_put_u32(p, len);
		proto_put_u32(p, 1);
		proto_put_u32(p, 1);
		assert_int_equal(run(v, MSG_COMMIT, p, &a), want);
		if (!want && end > v->n[node].size)
			v->n[node].size = end;
		break;
	}
	}
}

struct rd_ctx {
	struct env *v;
	int dir;
	int count;
};

static int rd_check(void *ud, uint64_t seq, const char *name, const struct casfs_attr *a)
{
	struct rd_ctx *c = ud;
	int ei = m_find(c->v, c->dir, name);
	struct mnode *n;

	(void)seq;
	assert_true(ei >= 0);
	n = &c->v->n[c->v->e[ei].node];
	assert_int_equal(a->ino, n->ino);
	assert_int_equal(a->nlink, n->nlink);
	assert_int_equal(a->size, n->size);
	assert_int_equal(S_ISDIR(a->mode), n->type == 1);
	c->count++;
	return 0;
}

static void compare_model(struct env *v)
{
	for (int i = 0; i < MN; i++) {
		struct rd_ctx c = { v, i, 0 };
		struct casfs_attr a;

		if (!v->n[i].used || v->n[i].type != 1)
			continue;
		assert_int_equal(meta_ns_readdir(v->ns, v->n[i].ino, 0, rd_check, &c), 0);
		assert_int_equal(c.count, m_children(v, i));
		assert_int_equal(meta_ns_getattr(v->ns, v->n[i].ino, &a), 0);
		assert_int_equal(a.nlink, v->n[i].nlink);
	}
}

/* ---- canonical dump of a whole state ---- */

struct dump {
	char *s;
	size_t len, cap;
	struct meta_ns *ns;
};

static void dputs(struct dump *d, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (d->len + (size_t)n + 1 > d->cap) {
		d->cap = (d->cap + (size_t)n + 1) * 2;
		d->s = xrealloc(d->s, d->cap);
	}
	memcpy(d->s + d->len, line, (size_t)n + 1);
	d->len += (size_t)n;
}

static void dump_attr(struct dump *d, const struct casfs_attr *a)
{
	dputs(d, " ino=%llu mode=%o nlink=%u uid=%u gid=%u rdev=%u size=%llu blocks=%llu "
	      "a=%llu.%u m=%llu.%u c=%llu.%u goal=%u bs=%u\n", (unsigned long long)a->ino, a->mode,
	      a->nlink, a->uid, a->gid, a->rdev, (unsigned long long)a->size,
	      (unsigned long long)a->blocks, (unsigned long long)a->atime.sec, a->atime.nsec,
	      (unsigned long long)a->mtime.sec, a->mtime.nsec, (unsigned long long)a->ctime.sec,
	      a->ctime.nsec, a->goal, a->block_size);
}

static void dump_ino(struct dump *d, uint64_t ino);

static int dump_cb(void *ud, uint64_t seq, const char *name, const struct casfs_attr *a)
{
	struct dump *d = ud;

	dputs(d, "entry seq=%llu name=%s ->", (unsigned long long)seq, name);
	dump_attr(d, a);
	if (S_ISDIR(a->mode))
		dump_ino(d, a->ino);
	return 0;
}

static void xattr_cb(void *ud, const char *name)
{
	dputs(ud, "  xattr %s\n", name);
}

static void dump_ino(struct dump *d, uint64_t ino)
{
	struct casfs_attr a;
	const char *target;

	assert_int_equal(meta_ns_getattr(d->ns, ino, &a), 0);
	dputs(d, "inode");
	dump_attr(d, &a);
	meta_ns_listxattr(d->ns, ino, xattr_cb, d);
	if (S_ISREG(a.mode)) {
		for (uint64_t i = 0; i < meta_ns_map_len(d->ns, ino); i++) {
			struct blk_id id;
			char hex[BLK_ID_HEX_LEN + 1];

			meta_ns_block_at(d->ns, ino, i, &id);
			blk_id_format(&id, hex);
			dputs(d, "  block %llu %s\n", (unsigned long long)i, hex);
		}
	} else if (S_ISLNK(a.mode)) {
		meta_ns_readlink(d->ns, ino, &target);
		dputs(d, "  target %s\n", target);
	} else if (S_ISDIR(a.mode)) {
		meta_ns_readdir(d->ns, ino, 0, dump_cb, d);
	}
}

static char *dump_state(struct meta_ns *ns, struct meta_sessions *ss)
{
	struct dump d = { .ns = ns };

	dump_ino(&d, CASFS_ROOT_INO);
	dputs(&d, "inodes=%llu logical=%llu unique=%llu\n",
	      (unsigned long long)meta_ns_inode_count(ns),
	      (unsigned long long)meta_ns_logical_bytes(ns),
	      (unsigned long long)meta_ns_blocks(ns)->unique_bytes);
	for (uint32_t i = 0; i < ss->h.cap; i++) {
		struct meta_sess *s = ss->h.slots[i];

		if (s)
			dputs(&d, "session %llu role %u name %s opens %llu\n", (unsigned long long)s->id,
			      s->role, s->name, (unsigned long long)s->nopen);
	}
	return d.s;
}

static int replay_cb(void *ud, const struct meta_rec *rec)
{
	struct meta_exec *x = ud;
	uint32_t cs = 0;

	return meta_exec_apply_record(x, rec, &cs);
}

static char *reload(const char *dir, uint64_t *segno_out)
{
	struct meta_sessions ss;
	struct meta_ckpt_state st = { .ss = &ss };
	struct meta_exec x;
	uint64_t last_seq = 0, last_segno = 0;
	char err[512], *s;

	meta_sess_init(&ss);
	assert_int_equal(meta_ckpt_load(dir, 2, BS, 0, &st, err, sizeof(err)), 0);
	*segno_out = st.segno;
	x.ns = st.ns;
	x.ss = &ss;
	if (meta_log_replay(dir, st.segno, st.last_seq, replay_cb, &x, &last_seq, &last_segno, err,
			    sizeof(err)))
		fail_msg("replay: %s", err);
	s = dump_state(st.ns, &ss);
	meta_ns_free(st.ns);
	meta_sess_free_all(&ss);
	return s;
}

static void run_model(unsigned seed, int nops)
{
	struct env *v = xcalloc(1, sizeof(*v));
	struct meta_ckpt_state st;
	struct proto_wbuf p, rec;
	char cmd[128], *live, *again;
	uint64_t seq, segno;

	v->seed = seed;
	v->now.sec = 1700000000;
	snprintf(v->dir, sizeof(v->dir), "/tmp/test_meta_model.XXXXXX");
	assert_non_null(mkdtemp(v->dir));
	meta_sess_init(&v->ss);
	v->ns = meta_ns_new(2, BS, &v->now);
	st = (struct meta_ckpt_state){ v->ns, &v->ss, 1, 0, 1 };
	assert_int_equal(meta_ckpt_write(v->dir, &st), 0);
	assert_int_equal(meta_log_open(v->dir, 1, 1, &v->log), 0);
	v->sess = meta_sess_new(&v->ss, 0, 1, "model", 0);
	v->sess->is_persistent = 1;
	proto_wbuf_init(&rec);
	proto_put_u8(&rec, 1);
	proto_put_str(&rec, "model");
	assert_int_equal(meta_log_append(v->log, META_REC_SESSION_NEW, v->sess->id, 0, &v->now,
					 rec.data, (uint32_t)rec.len, &seq), 0);
	proto_wbuf_free(&rec);
	v->n[0] = (struct mnode){ 1, 1, 2, 0, 0, CASFS_ROOT_INO };
	proto_wbuf_init(&p);
	for (int i = 0; i < nops; i++) {
		one_op(v, &p);
		if (i % 100 == 99)
			compare_model(v);
		if (i == nops / 2) {
			/* Checkpoint mid-run, as the server does. */
			assert_int_equal(meta_log_rotate(v->log, 2), 0);
			st = (struct meta_ckpt_state){ v->ns, &v->ss, 2, meta_log_last_seq(v->log), 1 };
			assert_int_equal(meta_ckpt_write(v->dir, &st), 0);
		}
	}
	/* An open file survives in the session across checkpoint + replay. */
	{
		int node = pick_node(v, 2);

		if (node) {
			proto_put_u64(&p, v->n[node].ino);
			proto_put_u32(&p, O_RDWR);
			assert_int_equal(run(v, MSG_OPEN, &p, NULL), 0);
		}
	}
	compare_model(v);
	/* The random mix must mostly succeed, or the test proves little. */
	assert_true(v->reqid > (uint64_t)nops / 5);
	live = dump_state(v->ns, &v->ss);
	meta_log_close(v->log);
	again = reload(v->dir, &segno);
	assert_int_equal(segno, 2);
	assert_string_equal(live, again);
	free(again);
	/* The same from the very first checkpoint and the whole changelog. */
	snprintf(cmd, sizeof(cmd), "%s/checkpoint.2", v->dir);
	assert_int_equal(unlink(cmd), 0);
	again = reload(v->dir, &segno);
	assert_int_equal(segno, 1);
	assert_string_equal(live, again);
	free(again);
	free(live);
	proto_wbuf_free(&p);
	meta_ns_free(v->ns);
	meta_sess_free_all(&v->ss);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", v->dir);
	assert_int_equal(system(cmd), 0);
	free(v);
}

static void test_model_small(void **state)
{
	(void)state;
	for (unsigned seed = 1; seed <= 20; seed++)
		run_model(seed, 300);
}

static void test_model_long(void **state)
{
	(void)state;
	run_model(4242, 5000);
	run_model(777, 20000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model_small),
		cmocka_unit_test(test_model_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
