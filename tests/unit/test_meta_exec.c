/* Random-request test of meta_exec: thousands of schema-valid requests of
 * every namespace type with hostile field values (unknown inodes, "." and
 * "..", huge indexes and sizes, bad flags) must never crash, must leave the
 * namespace consistent (links, parents, refcounts, byte counts), and must
 * replay from the changelog to exactly the same state. */
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
#include "metad/meta_ns_int.h"

static unsigned seed;
static uint64_t ino_hint = 2;	/* inode numbers in use are below this */

static uint32_t rnd(uint32_t n)
{
	return (uint32_t)rand_r(&seed) % n;
}

static uint64_t r64(void)
{
	static const uint64_t special[] = { 0, 1, UINT64_MAX, 1ULL << 40, 4096, 1u << 20 };

	switch (rnd(6)) {
	case 0: return special[rnd(6)];
	case 1: return ((uint64_t)rand_r(&seed) << 32) | (uint64_t)rand_r(&seed);
	case 2: return 1;
	default: return 1 + rnd((uint32_t)ino_hint);	/* mostly existing inodes */
	}
}

static uint32_t r32(void)
{
	static const uint32_t special[] = { 0, 1, 2, 3, S_IFREG | 0644, S_IFDIR | 0755,
					    S_IFLNK | 0777, S_IFCHR | 0600, O_RDWR | O_TRUNC,
					    0xff, 65536, 1u << 20, UINT32_MAX };

	return rnd(2) ? special[rnd(13)] : (uint32_t)rand_r(&seed);
}

static void gen(struct proto_wbuf *w, const char *schema, size_t from, size_t to);

static size_t close_of(const char *s, size_t at)
{
	int depth = 0;

	for (size_t i = at;; i++) {
		if (s[i] == '[')
			depth++;
		else if (s[i] == ']' && --depth == 0)
			return i;
	}
}

static void gen(struct proto_wbuf *w, const char *s, size_t from, size_t to)
{
	static const char *const names[] = { "a", "b", "c", "d", ".", "..", "user.x", "trusted.y" };

	for (size_t i = from; i < to; i++) {
		switch (s[i]) {
		case '1': proto_put_u8(w, (uint8_t)(rnd(3) ? rnd(4) : rnd(256))); break;
		case '2': proto_put_u16(w, (uint16_t)rnd(3)); break;
		case '4': proto_put_u32(w, r32()); break;
		case '8': proto_put_u64(w, r64()); break;
		case 'i': proto_put_i32(w, -(int32_t)rnd(3)); break;
		case 's': case 'n': proto_put_str(w, names[rnd(s[i] == 'n' ? 6 : 8)]); break;
		case 'd': {
			uint8_t b[16];

			memset(b, (int)rnd(256), sizeof(b));
			proto_put_bytes(w, b, rnd(17));
			break;
		}
		case 'k': {
			struct blk_id id = { .alg = (uint8_t)rnd(2) };

			if (id.alg)
				memset(id.hash, (int)rnd(8), sizeof(id.hash));
			proto_put_blkid(w, &id);
			break;
		}
		case 't': {
			struct casfs_time t = { r64() & 0xffffffff, rnd(1000000000) };

			proto_put_time(w, &t);
			break;
		}
		case '[': {
			size_t end = close_of(s, i);
			uint32_t n = rnd(4);

			proto_put_u32(w, n);
			for (uint32_t k = 0; k < n; k++)
				gen(w, s, i + 1, end);
			i = end;
			break;
		}
		default:
			fail_msg("schema letter %c", s[i]);
		}
	}
}

/* Checks what must hold whatever requests came in. */
static void check_consistent(struct meta_ns *ns)
{
	uint64_t logical = 0, unique = 0;
	struct meta_blk_table counts;

	meta_blk_init(&counts);
	for (uint32_t i = 0; i < ns->inodes.cap; i++) {
		struct meta_inode *in = ns->inodes.slots[i];

		if (!in)
			continue;
		assert_true(in->nlink > 0 || in->nopen > 0);
		if (S_ISDIR(in->mode)) {
			uint32_t subdirs = 0, live = 0;

			for (uint32_t k = 0; k < in->u.dir->n; k++) {
				struct meta_dent *e = in->u.dir->ents[k];
				struct meta_inode *c;

				if (k)
					assert_true(in->u.dir->ents[k - 1]->seq < e->seq);
				if (!e->ino)
					continue;
				live++;
				c = meta_ns_inode(ns, e->ino);
				assert_non_null(c);
				if (S_ISDIR(c->mode)) {
					subdirs++;
					assert_int_equal(c->u.dir->parent, in->ino);
				}
			}
			assert_int_equal(live, in->u.dir->live);
			if (in->nlink)
				assert_int_equal(in->nlink, 2 + subdirs);
		} else if (S_ISREG(in->mode)) {
			uint64_t bytes = 0;

			logical += in->size;
			for (uint32_t k = 0; in->u.map && k < in->u.map->n; k++) {
				struct meta_block *b, *cb;

				if (blk_id_is_null(&in->u.map->ids[k]))
					continue;
				b = meta_blk_find(&ns->blocks, &in->u.map->ids[k]);
				assert_non_null(b);
				bytes += b->length;
				cb = meta_blk_get(&counts, &b->id, b->length);
				cb->refs++;
			}
			if (in->u.map)
				assert_int_equal(bytes, in->u.map->bytes);
		}
	}
	assert_int_equal(logical, ns->logical_bytes);
	for (uint32_t i = 0; i < ns->blocks.h.cap; i++) {
		struct meta_block *b = ns->blocks.h.slots[i], *cb;

		if (!b)
			continue;
		cb = meta_blk_find(&counts, &b->id);
		assert_int_equal(b->refs, cb ? cb->refs : 0);
		if (b->refs)
			unique += b->length;
	}
	assert_int_equal(unique, ns->blocks.unique_bytes);
	meta_blk_free(&counts);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Every inode, sorted, with everything that is persistent. */
static char *dump(struct meta_ns *ns)
{
	struct proto_wbuf w;
	uint64_t *inos = xcalloc(ns->inodes.n + 1, sizeof(uint64_t));
	size_t n = 0;
	char *s;

	proto_wbuf_init(&w);
	for (uint32_t i = 0; i < ns->inodes.cap; i++)
		if (ns->inodes.slots[i])
			inos[n++] = ((struct meta_inode *)ns->inodes.slots[i])->ino;
	qsort(inos, n, sizeof(uint64_t), cmp_u64);
	for (size_t i = 0; i < n; i++) {
		struct meta_inode *in = meta_ns_inode(ns, inos[i]);
		char line[512];

		snprintf(line, sizeof(line), "%llu %o %u %u %u %u %llu %llu.%u %llu.%u %llu.%u g%u open%u\n",
			 (unsigned long long)in->ino, in->mode, in->nlink, in->uid, in->gid, in->aux,
			 (unsigned long long)in->size, (unsigned long long)in->atime_s, in->atime_ns,
			 (unsigned long long)in->mtime_s, in->mtime_ns, (unsigned long long)in->ctime_s,
			 in->ctime_ns, in->goal, in->nopen);
		proto_put_raw(&w, line, strlen(line));
		if (S_ISDIR(in->mode)) {
			for (uint32_t k = 0; k < in->u.dir->n; k++) {
				struct meta_dent *e = in->u.dir->ents[k];

				if (!e->ino)
					continue;
				snprintf(line, sizeof(line), " %llu %s %llu\n", (unsigned long long)e->seq,
					 e->name, (unsigned long long)e->ino);
				proto_put_raw(&w, line, strlen(line));
			}
		} else if (S_ISREG(in->mode) && in->u.map) {
			for (uint32_t k = 0; k < in->u.map->n; k++) {
				char hex[BLK_ID_HEX_LEN + 1];

				blk_id_format(&in->u.map->ids[k], hex);
				snprintf(line, sizeof(line), " b%u %s\n", k, hex);
				proto_put_raw(&w, line, strlen(line));
			}
		} else if (S_ISLNK(in->mode)) {
			proto_put_raw(&w, in->u.target, strlen(in->u.target));
		}
		for (struct meta_xattr *x = in->xattrs; x; x = x->next) {
			snprintf(line, sizeof(line), " x %s %u\n", x->data, x->vlen);
			proto_put_raw(&w, line, strlen(line));
		}
	}
	proto_put_u8(&w, 0);
	s = (char *)w.data;
	free(inos);
	return s;
}

static int replay_cb(void *ud, const struct meta_rec *rec)
{
	uint32_t cs = 0;

	return meta_exec_apply_record(ud, rec, &cs);
}

static void run(unsigned s, int nops)
{
	static const uint16_t types[] = {
		MSG_LOOKUP, MSG_GETATTR, MSG_SETATTR, MSG_MKNOD, MSG_MKDIR, MSG_UNLINK, MSG_RMDIR,
		MSG_SYMLINK, MSG_READLINK, MSG_RENAME, MSG_LINK, MSG_READDIR, MSG_OPEN, MSG_RELEASE,
		MSG_SETXATTR, MSG_GETXATTR, MSG_LISTXATTR, MSG_REMOVEXATTR, MSG_CREATE, MSG_COMMIT,
		MSG_COPY_RANGE, MSG_ADM_SET_GOAL, MSG_ADM_SET_BLOCKSIZE,
	};
	char dir[64], err[512], *live, *again, cmd[128];
	struct casfs_time now = { 1700000000, 0 };
	struct meta_sessions ss, ss2;
	struct meta_ckpt_state st = { 0 };
	struct meta_exec x = { 0 };
	struct proto_wbuf p, out, rec;
	struct meta_log *log;
	uint64_t seq, last_seq, last_segno, applied = 0;

	seed = s;
	snprintf(dir, sizeof(dir), "/tmp/test_meta_exec.XXXXXX");
	assert_non_null(mkdtemp(dir));
	meta_sess_init(&ss);
	x.ns = meta_ns_new(2, 1u << 20, &now);
	x.ss = &ss;
	st = (struct meta_ckpt_state){ x.ns, &ss, 1, 0, 1 };
	assert_int_equal(meta_ckpt_write(dir, &st), 0);
	assert_int_equal(meta_log_open(dir, 1, 1, &log), 0);
	x.sess = meta_sess_new(&ss, 0, 1, "fuzz", 0);
	x.sess->is_persistent = 1;
	proto_wbuf_init(&rec);
	proto_put_u8(&rec, 1);
	proto_put_str(&rec, "fuzz");
	assert_int_equal(meta_log_append(log, META_REC_SESSION_NEW, x.sess->id, 0, &now, rec.data,
					 (uint32_t)rec.len, &seq), 0);
	proto_wbuf_free(&rec);
	proto_wbuf_init(&p);
	proto_wbuf_init(&out);
	for (int i = 0; i < nops; i++) {
		uint16_t type = types[rnd(sizeof(types) / sizeof(types[0]))];
		const struct msg_info *info = msg_lookup(type);
		uint64_t result;
		int mutated, rc;

		proto_wbuf_reset(&p);
		proto_wbuf_reset(&out);
		gen(&p, info->req, 0, strlen(info->req));
		if (msg_check(type, 0, p.data, p.len))
			continue;	/* e.g. "." is fine, but a name may not be */
		now.sec++;
		x.now = now;
		ino_hint = x.ns->next_ino;
		rc = meta_exec_run(&x, type, p.data, p.len, &out, &mutated, &result);
		assert_true(rc <= 0);
		if (rc == 0)
			assert_int_equal(msg_check_schema(info->rep, out.data, out.len), 0);
		if (mutated) {
			applied++;
			assert_int_equal(meta_log_append(log, type, x.sess->id, (uint64_t)i, &now, p.data,
							 (uint32_t)p.len, &seq), 0);
		}
		if (i % 500 == 0)
			check_consistent(x.ns);
	}
	check_consistent(x.ns);
	assert_true(applied > (uint64_t)nops / 20);
	live = dump(x.ns);
	meta_log_close(log);
	meta_ns_free(x.ns);
	meta_sess_free_all(&ss);

	meta_sess_init(&ss2);
	memset(&st, 0, sizeof(st));
	st.ss = &ss2;
	assert_int_equal(meta_ckpt_load(dir, 2, 1u << 20, 0, &st, err, sizeof(err)), 0);
	x.ns = st.ns;
	x.ss = &ss2;
	if (meta_log_replay(dir, st.segno, st.last_seq, replay_cb, &x, &last_seq, &last_segno, err,
			    sizeof(err)))
		fail_msg("replay: %s", err);
	again = dump(st.ns);
	assert_string_equal(live, again);
	free(live);
	free(again);
	meta_ns_free(st.ns);
	meta_sess_free_all(&ss2);
	proto_wbuf_free(&p);
	proto_wbuf_free(&out);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_random_requests(void **state)
{
	(void)state;
	for (unsigned s = 1; s <= 30; s++)
		run(s, 5000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_requests),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
