/* metabench: a load generator and test client for casfs-metad over the real
 * protocol.
 *
 *   metabench [--quick]
 *       the same with casfs-metad from metabench's own folder (make bench).
 *   metabench bench --metad BIN [--dir DIR] [--conns 64] [--files N]
 *       formats DIR, starts BIN, and measures mutations/s (MKNOD + SETATTR +
 *       UNLINK), lookups/s (LOOKUP + GETATTR), RSS per file at N files and
 *       restart time with N files; then the same mutations under
 *       sync = always.
 *   metabench writer --meta ADDR --id K --log FILE [--count N]
 *       crash-test client: creates t_K_n, renames it to f_K_n, appends
 *       "n" to FILE after each acknowledged rename; exits when the
 *       connection breaks.
 *   metabench put --meta ADDR --name NAME --blocks N [--commit 0]
 *       writes NAME in the root through the real data path (CREATE, PLACE,
 *       BLK_PUT down each chain, COMMIT, RELEASE); --commit 0 stores the
 *       blocks but never commits them (a client that died).
 *   metabench bmap --meta ADDR --name NAME
 *       prints "index holder..." per block.
 *   metabench adm --meta ADDR
 *       prints ADM_STATUS as key=value and one "cs ID STATE BLOCKS TOMOVE"
 *       line per chunk server.
 *   metabench goal --meta ADDR --name NAME --goal G | unlink --name NAME
 *   metabench drain|remove --meta ADDR --name SERVER_ID --on 0|1
 *       ADM_CS_DRAIN on/off, or ADM_CS_REMOVE with force = --on.
 *   metabench selftest --meta ADDR --goal SECONDS
 *       protocol, session, re-send, lock and expiry checks against a metad
 *       whose session_timeout_ms is SECONDS * 1000.
 *   metabench garbage --meta ADDR [--count N]
 *       random frames (known and unknown types, random payloads, random
 *       roles); metad must answer or close, and still serve afterwards.
 *   metabench session --meta ADDR          prints a new client session id
 *   metabench lock --meta ADDR --name NAME --goal 1|2
 *       a new session opens NAME and takes a read/write flock without
 *       waiting, then leaves; exit 0 granted, 3 refused (EAGAIN).
 *   metabench resume --meta ADDR --id S    exits 0 if session S resumes
 *   metabench verify --meta ADDR --id K --log FILE
 *       checks that every acknowledged rename is present (f_K_n exists,
 *       t_K_n does not) and that no pair is half-applied (never both).
 *
 * Every connection is a blocking socket; a thread drives its connections in
 * lock step (send one request on each, then read each reply), so 64
 * connections keep 64 requests in flight with two threads. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fs/msg.h"
#include "fs/net.h"
#include "fs/proto.h"
#include "fs/ids.h"
#include "fs/xmalloc.h"

struct mc {
	int fd;
	uint64_t reqid;
	uint64_t last_reply;	/* request id of the last reply read */
	uint64_t session;
	struct proto_wbuf w;
	struct proto_wbuf in;
	struct proto_rbuf r;	/* reply fields after the status */
	int is_batching;	/* mc_send queues into out until mc_flush */
	struct proto_wbuf out;
	uint8_t seed[BLK_KEY_SEED_SIZE];	/* from metad's HELLO reply */
	uint32_t seed_len;
	uint8_t *ib;		/* bytes read ahead */
	size_t ib_len, ib_off;
};

#define MC_READ_AHEAD (256u << 10)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void mc_begin(struct mc *c, uint16_t type)
{
	proto_frame_begin(&c->w, type, 0, ++c->reqid);
}

static int mc_send(struct mc *c)
{
	proto_frame_finish(&c->w);
	if (c->is_batching) {
		proto_put_raw(&c->out, c->w.data, c->w.len);
		return 0;
	}
	return net_frame_write(c->fd, &c->w);
}

static int mc_flush(struct mc *c)
{
	int rc = c->out.len ? net_write_full(c->fd, c->out.data, c->out.len) : 0;

	proto_wbuf_reset(&c->out);
	return rc;
}

/* Reads exactly n bytes through the read-ahead buffer. */
static int mc_read(struct mc *c, void *p, size_t n)
{
	uint8_t *dst = p;

	while (n) {
		size_t k;

		if (c->ib_off == c->ib_len) {
			ssize_t got = read(c->fd, c->ib, MC_READ_AHEAD);

			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0)
				return -ECONNRESET;
			c->ib_len = (size_t)got;
			c->ib_off = 0;
		}
		k = c->ib_len - c->ib_off < n ? c->ib_len - c->ib_off : n;
		memcpy(dst, c->ib + c->ib_off, k);
		c->ib_off += k;
		dst += k;
		n -= k;
	}
	return 0;
}

/* Reads one reply; returns its status (or a transport error < -4095). */
static int mc_recv(struct mc *c, int32_t *status)
{
	uint8_t hb[PROTO_HDR_SIZE];
	struct proto_hdr h;
	int rc = mc_read(c, hb, sizeof(hb));

	if (!rc)
		rc = proto_hdr_decode(hb, PROTO_FRAME_MAX, &h);
	if (rc)
		return rc;
	proto_wbuf_reset(&c->in);
	if (h.len) {
		if (c->in.cap < h.len) {
			c->in.data = xrealloc(c->in.data, h.len);
			c->in.cap = h.len;
		}
		rc = mc_read(c, c->in.data, h.len);
		if (rc)
			return rc;
	}
	c->in.len = h.len;
	if (!(h.flags & PROTO_F_REPLY) || msg_check(h.type, 1, c->in.data, c->in.len))
		return -EBADMSG;
	c->last_reply = h.reqid;
	proto_rbuf_init(&c->r, c->in.data, c->in.len);
	proto_get_i32(&c->r, status);
	return 0;
}

static int mc_call(struct mc *c, int32_t *status)
{
	int rc = mc_send(c);

	return rc ? rc : mc_recv(c, status);
}

static int mc_hello(struct mc *c, const char *addr, uint8_t role, uint64_t session,
		    const struct casfs_uuid *uuid, uint16_t version);

static int mc_connect(struct mc *c, const char *addr, uint8_t role)
{
	struct casfs_uuid zero = { { 0 } };

	return mc_hello(c, addr, role, 0, &zero, PROTO_VERSION);
}

/* Connects and says HELLO with the given fields; 0, a transport error, or
 * the HELLO status. */
static int mc_hello(struct mc *c, const char *addr, uint8_t role, uint64_t session,
		    const struct casfs_uuid *uuid, uint16_t version)
{
	int32_t st;
	uint16_t ver;
	int rc;

	memset(c, 0, sizeof(*c));
	proto_wbuf_init(&c->w);
	proto_wbuf_init(&c->in);
	proto_wbuf_init(&c->out);
	c->ib = xmalloc(MC_READ_AHEAD);
	rc = net_connect(addr, 5000, &c->fd);
	if (rc)
		return rc;
	mc_begin(c, MSG_HELLO);
	proto_put_u16(&c->w, version);
	proto_put_u8(&c->w, role);
	proto_put_uuid(&c->w, uuid);
	proto_put_str(&c->w, "");
	proto_put_u64(&c->w, session);
	proto_put_str(&c->w, "metabench");
	rc = mc_call(c, &st);
	if (rc)
		return rc;
	if (st)
		return st;
	proto_get_u16(&c->r, &ver);
	{
		struct casfs_uuid u;

		proto_get_uuid(&c->r, &u);
	}
	proto_get_u64(&c->r, &c->session);
	{
		const uint8_t *seed;
		uint32_t n;

		proto_get_bytes(&c->r, &seed, &n);
		if (n <= sizeof(c->seed)) {
			memcpy(c->seed, seed, n);
			c->seed_len = n;
		}
	}
	return 0;
}

static void mc_close(struct mc *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	proto_wbuf_free(&c->w);
	proto_wbuf_free(&c->in);
	proto_wbuf_free(&c->out);
	free(c->ib), c->ib = NULL;
}

static void put_mknod(struct mc *c, uint64_t parent, const char *name)
{
	mc_begin(c, MSG_MKNOD);
	proto_put_u64(&c->w, parent);
	proto_put_str(&c->w, name);
	proto_put_u32(&c->w, S_IFREG | 0644);
	proto_put_u32(&c->w, 0);
	proto_put_u32(&c->w, 0);
	proto_put_u32(&c->w, 0);
}

static void put_name_op(struct mc *c, uint16_t type, uint64_t parent, const char *name)
{
	mc_begin(c, type);
	proto_put_u64(&c->w, parent);
	proto_put_str(&c->w, name);
}

static void put_rename(struct mc *c, uint64_t p, const char *a, uint64_t np, const char *b)
{
	mc_begin(c, MSG_RENAME);
	proto_put_u64(&c->w, p);
	proto_put_str(&c->w, a);
	proto_put_u64(&c->w, np);
	proto_put_str(&c->w, b);
	proto_put_u32(&c->w, 0);
}

static void put_setattr(struct mc *c, uint64_t ino, uint32_t mode)
{
	struct casfs_time t = { 0, 0 };

	mc_begin(c, MSG_SETATTR);
	proto_put_u64(&c->w, ino);
	proto_put_u32(&c->w, MSG_SETATTR_MODE | MSG_SETATTR_MTIME_NOW);
	proto_put_u32(&c->w, mode);
	proto_put_u32(&c->w, 0);
	proto_put_u32(&c->w, 0);
	proto_put_u64(&c->w, 0);
	proto_put_time(&c->w, &t);
	proto_put_time(&c->w, &t);
}

static void put_getattr(struct mc *c, uint64_t ino)
{
	mc_begin(c, MSG_GETATTR);
	proto_put_u64(&c->w, ino);
}

/* MKDIR or LOOKUP of an existing directory: its inode. */
static int mkdir_p(struct mc *c, uint64_t parent, const char *name, uint64_t *ino)
{
	struct casfs_attr a;
	int32_t st;
	int rc;

	mc_begin(c, MSG_MKDIR);
	proto_put_u64(&c->w, parent);
	proto_put_str(&c->w, name);
	proto_put_u32(&c->w, 0755);
	proto_put_u32(&c->w, 0);
	proto_put_u32(&c->w, 0);
	rc = mc_call(c, &st);
	if (rc)
		return rc;
	if (st == -EEXIST) {
		put_name_op(c, MSG_LOOKUP, parent, name);
		rc = mc_call(c, &st);
		if (rc)
			return rc;
	}
	if (st)
		return st;
	proto_get_attr(&c->r, &a);
	*ino = a.ino;
	return 0;
}

/* ---- crash-test writer and verifier ---- */

static int cmd_writer(const char *addr, int id, const char *logpath, long count)
{
	long start = 0;
	struct mc c;
	uint64_t dir;
	char name[64], name2[64], dname[32];
	int32_t st;
	FILE *log;
	int rc;

	rc = mc_connect(&c, addr, PROTO_ROLE_CLIENT);
	if (rc) {
		fprintf(stderr, "writer %d: connect: %s\n", id, strerror(-rc));
		return 1;
	}
	snprintf(dname, sizeof(dname), "w%d", id);
	if (mkdir_p(&c, 1, dname, &dir)) {
		fprintf(stderr, "writer %d: mkdir failed\n", id);
		return 1;
	}
	/* Continue after the last acknowledged rename of an earlier run. */
	log = fopen(logpath, "r");
	if (log) {
		long v;

		while (fscanf(log, "%ld", &v) == 1)
			if (v + 1 > start)
				start = v + 1;
		fclose(log);
	}
	log = fopen(logpath, "a");
	if (!log)
		return 1;
	for (long n = start; count < 0 || n < start + count; n++) {
		/* A rename applied but never acknowledged: skip it. */
		snprintf(name, sizeof(name), "t_%d_%ld", id, n);
		snprintf(name2, sizeof(name2), "f_%d_%ld", id, n);
		put_name_op(&c, MSG_LOOKUP, dir, name2);
		if (mc_call(&c, &st))
			break;
		if (st == 0)
			continue;
		put_mknod(&c, dir, name);
		if (mc_call(&c, &st))
			break;
		if (st && st != -EEXIST) {
			fprintf(stderr, "writer %d: mknod %s: %s\n", id, name, strerror(-st));
			return 1;
		}
		put_rename(&c, dir, name, dir, name2);
		if (mc_call(&c, &st))
			break;
		if (st) {
			fprintf(stderr, "writer %d: rename %s: %s\n", id, name, strerror(-st));
			return 1;
		}
		fprintf(log, "%ld\n", n);
		fflush(log);
	}
	fclose(log);
	mc_close(&c);
	return 0;
}

static int exists(struct mc *c, uint64_t dir, const char *name, int *yes)
{
	int32_t st;
	int rc;

	put_name_op(c, MSG_LOOKUP, dir, name);
	rc = mc_call(c, &st);
	if (rc)
		return rc;
	if (st && st != -ENOENT)
		return st;
	*yes = st == 0;
	return 0;
}

static int cmd_verify(const char *addr, int id, const char *logpath)
{
	struct mc c;
	uint64_t dir;
	char name[64], dname[32];
	long n, max = -1, acked = 0, bad = 0;
	char *seen;
	FILE *log;
	int rc;

	rc = mc_connect(&c, addr, PROTO_ROLE_CLIENT);
	if (rc) {
		fprintf(stderr, "verify %d: connect: %s\n", id, strerror(-rc));
		return 1;
	}
	snprintf(dname, sizeof(dname), "w%d", id);
	if (mkdir_p(&c, 1, dname, &dir))
		return 1;
	log = fopen(logpath, "r");
	if (!log)
		return 0;
	seen = xcalloc(1 << 22, 1);
	while (fscanf(log, "%ld", &n) == 1) {
		int f, t;

		if (n < 0 || n >= (1 << 22))
			continue;
		seen[n] = 1;
		if (n > max)
			max = n;
		acked++;
		snprintf(name, sizeof(name), "f_%d_%ld", id, n);
		if (exists(&c, dir, name, &f))
			return 1;
		snprintf(name, sizeof(name), "t_%d_%ld", id, n);
		if (exists(&c, dir, name, &t))
			return 1;
		if (!f || t) {
			fprintf(stderr, "verify %d: acknowledged rename %ld lost (f=%d t=%d)\n", id, n,
				f, t);
			bad++;
		}
	}
	fclose(log);
	/* Unacknowledged ones: either side, never both. */
	for (n = 0; n <= max + 2; n++) {
		int f, t;

		if (n < (1 << 22) && seen[n])
			continue;
		snprintf(name, sizeof(name), "f_%d_%ld", id, n);
		if (exists(&c, dir, name, &f))
			return 1;
		snprintf(name, sizeof(name), "t_%d_%ld", id, n);
		if (exists(&c, dir, name, &t))
			return 1;
		if (f && t) {
			fprintf(stderr, "verify %d: rename %ld half-applied\n", id, n);
			bad++;
		}
	}
	free(seen);
	mc_close(&c);
	printf("verify %d: %ld acknowledged renames checked, %ld bad\n", id, acked, bad);
	return bad ? 1 : 0;
}

/* ---- data-path and admin tools for the integration tests ---- */

static int lookup_root(struct mc *c, const char *name, struct casfs_attr *a)
{
	int32_t st;
	int rc;

	put_name_op(c, MSG_LOOKUP, 1, name);
	rc = mc_call(c, &st);
	if (rc || st)
		return rc ? rc : st;
	return proto_get_attr(&c->r, a);
}

static int put_block(struct mc *c, const uint8_t *data, uint32_t len, const struct blk_id *id,
		     uint64_t ino, uint32_t *holders, uint32_t *nholders)
{
	uint32_t nchains, clen, chain[16], naddr, ids[64];
	char addrs[64][256];
	struct mc cs;
	int32_t st;
	int rc;

	mc_begin(c, MSG_PLACE);
	proto_put_u64(&c->w, ino);
	proto_put_u32(&c->w, 1);
	proto_put_blkid(&c->w, id);
	proto_put_u32(&c->w, len);
	rc = mc_call(c, &st);
	if (rc || st)
		return rc ? rc : st;
	proto_get_u32(&c->r, &nchains);
	proto_get_u32(&c->r, &clen);
	for (uint32_t k = 0; k < clen && k < 16; k++)
		proto_get_u32(&c->r, &chain[k]);
	proto_get_u32(&c->r, &naddr);
	for (uint32_t k = 0; k < naddr && k < 64; k++) {
		proto_get_u32(&c->r, &ids[k]);
		proto_get_str(&c->r, addrs[k], sizeof(addrs[k]));
	}
	if (c->r.err || nchains != 1 || !clen)
		return -EBADMSG;
	/* The chain's first server receives; the rest follow in the request. */
	for (uint32_t a = 0; a < naddr; a++) {
		if (ids[a] != chain[0])
			continue;
		rc = mc_connect(&cs, addrs[a], PROTO_ROLE_CLIENT);
		if (rc)
			return rc;
		mc_begin(&cs, MSG_BLK_PUT);
		proto_put_blkid(&cs.w, id);
		proto_put_u32(&cs.w, 0);
		proto_put_u32(&cs.w, clen - 1);
		for (uint32_t k = 1; k < clen; k++)
			for (uint32_t b = 0; b < naddr; b++)
				if (ids[b] == chain[k]) {
					proto_put_u32(&cs.w, ids[b]);
					proto_put_str(&cs.w, addrs[b]);
				}
		proto_put_bytes(&cs.w, data, len);
		rc = mc_call(&cs, &st);
		if (!rc && !st) {
			uint32_t n, sid;
			int32_t one;

			*nholders = 0;
			proto_get_u32(&cs.r, &n);
			for (uint32_t k = 0; k < n; k++) {
				proto_get_u32(&cs.r, &sid);
				proto_get_i32(&cs.r, &one);
				if (one == 0 && *nholders < 16)
					holders[(*nholders)++] = sid;
			}
		}
		mc_close(&cs);
		return rc ? rc : st;
	}
	return -ENOENT;
}

static int cmd_put(const char *addr, const char *name, int nblocks, int commit)
{
	struct blk_key key;
	struct casfs_attr a;
	struct mc c;
	uint32_t len = 100000;
	uint8_t *data = xmalloc(len);
	int32_t st;
	int rc = mc_connect(&c, addr, PROTO_ROLE_CLIENT);

	if (rc)
		goto out;
	blk_key_init(&key, c.seed, c.seed_len);
	mc_begin(&c, MSG_CREATE);
	proto_put_u64(&c.w, 1);
	proto_put_str(&c.w, name);
	proto_put_u32(&c.w, 0644);
	proto_put_u32(&c.w, 0);
	proto_put_u32(&c.w, 0);
	proto_put_u32(&c.w, O_RDWR);
	rc = mc_call(&c, &st);
	if (rc || st) {
		rc = rc ? rc : st;
		goto out;
	}
	proto_get_attr(&c.r, &a);
	for (int i = 0; i < nblocks; i++) {
		struct blk_id id;
		uint32_t holders[16], nh = 0;
		struct casfs_time mt = { 1, 0 };

		casfs_random(data, len);
		blk_hash(&key, data, len, &id);
		rc = put_block(&c, data, len, &id, a.ino, holders, &nh);
		if (rc)
			goto out;
		if (!commit)
			continue;
		mc_begin(&c, MSG_COMMIT);
		proto_put_u64(&c.w, a.ino);
		proto_put_u64(&c.w, (uint64_t)(i + 1) * a.block_size);
		proto_put_time(&c.w, &mt);
		proto_put_u32(&c.w, 0);
		proto_put_u32(&c.w, 1);
		proto_put_u64(&c.w, (uint64_t)i);
		proto_put_blkid(&c.w, &id);
		proto_put_u32(&c.w, len);
		proto_put_u32(&c.w, nh);
		for (uint32_t k = 0; k < nh; k++)
			proto_put_u32(&c.w, holders[k]);
		rc = mc_call(&c, &st);
		if (rc || st) {
			rc = rc ? rc : st;
			goto out;
		}
	}
	mc_begin(&c, MSG_RELEASE);
	proto_put_u64(&c.w, a.ino);
	rc = mc_call(&c, &st);
out:
	if (rc)
		fprintf(stderr, "metabench put: %s\n", strerror(-rc));
	free(data);
	mc_close(&c);
	return rc ? 1 : 0;
}

static int cmd_bmap(const char *addr, const char *name)
{
	struct casfs_attr a;
	struct mc c;
	uint32_t n, nl, len, sid;
	uint64_t idx;
	struct blk_id id;
	int32_t st;
	int rc = mc_connect(&c, addr, PROTO_ROLE_CLIENT);

	if (!rc)
		rc = lookup_root(&c, name, &a);
	if (rc)
		goto out;
	mc_begin(&c, MSG_BMAP);
	proto_put_u64(&c.w, a.ino);
	proto_put_u64(&c.w, 0);
	proto_put_u32(&c.w, 100000);
	rc = mc_call(&c, &st);
	if (rc || st) {
		rc = rc ? rc : st;
		goto out;
	}
	proto_get_attr(&c.r, &a);
	proto_get_u32(&c.r, &n);
	for (uint32_t i = 0; i < n; i++) {
		proto_get_u64(&c.r, &idx);
		proto_get_blkid(&c.r, &id);
		proto_get_u32(&c.r, &len);
		proto_get_u32(&c.r, &nl);
		printf("%llu", (unsigned long long)idx);
		for (uint32_t k = 0; k < nl; k++) {
			proto_get_u32(&c.r, &sid);
			printf(" %u", sid);
		}
		printf("\n");
	}
out:
	if (rc)
		fprintf(stderr, "metabench bmap: %s\n", strerror(-rc));
	mc_close(&c);
	return rc ? 1 : 0;
}

static int cmd_adm(const char *addr)
{
	static const char *const keys[] = { "up", "down", "draining", "total", "used", "free",
					    "inodes", "blocks", "under", "missing", "over",
					    "sessions", "logical", "unique" };
	struct casfs_uuid u;
	struct mc c;
	uint32_t v32, n, nl;
	uint64_t v64, blocks, tomove;
	uint8_t state;
	char str[PROTO_STR_MAX + 1];
	int32_t st;
	int rc = mc_connect(&c, addr, PROTO_ROLE_ADMIN);

	if (rc)
		goto out;
	mc_begin(&c, MSG_ADM_STATUS);
	rc = mc_call(&c, &st);
	if (rc || st) {
		rc = rc ? rc : st;
		goto out;
	}
	proto_get_uuid(&c.r, &u);
	for (int i = 0; i < 14; i++) {
		if (i < 3) {
			proto_get_u32(&c.r, &v32);
			v64 = v32;
		} else {
			proto_get_u64(&c.r, &v64);
		}
		printf("%s=%llu\n", keys[i], (unsigned long long)v64);
	}
	mc_begin(&c, MSG_ADM_CS_LIST);
	rc = mc_call(&c, &st);
	if (rc || st) {
		rc = rc ? rc : st;
		goto out;
	}
	proto_get_u32(&c.r, &n);
	for (uint32_t i = 0; i < n; i++) {
		proto_get_u32(&c.r, &v32);
		proto_get_str(&c.r, str, sizeof(str));
		proto_get_u8(&c.r, &state);
		proto_get_u64(&c.r, &v64);
		proto_get_u64(&c.r, &v64);
		proto_get_u64(&c.r, &v64);
		proto_get_u64(&c.r, &blocks);
		proto_get_u32(&c.r, &nl);
		proto_get_u64(&c.r, &v64);
		proto_get_u64(&c.r, &tomove);
		proto_get_u32(&c.r, &nl);
		for (uint32_t k = 0; k < nl; k++)
			proto_get_str(&c.r, str, sizeof(str));
		printf("cs %u %s %llu %llu\n", v32, state == 1 ? "up" : state == 2 ? "down" : "draining",
		       (unsigned long long)blocks, (unsigned long long)tomove);
	}
out:
	if (rc)
		fprintf(stderr, "metabench adm: %s\n", strerror(-rc));
	mc_close(&c);
	return rc ? 1 : 0;
}

/* goal (ADM_SET_GOAL), unlink, drain (ADM_CS_DRAIN) or remove
 * (ADM_CS_REMOVE); for the last two name is the server id. */
static int cmd_simple(const char *what, const char *addr, const char *name, int value)
{
	struct casfs_attr a;
	struct mc c;
	int32_t st = 0;
	int rc = mc_connect(&c, addr, PROTO_ROLE_ADMIN);

	if (rc)
		goto out;
	if (!strcmp(what, "drain") || !strcmp(what, "remove")) {
		mc_begin(&c, what[0] == 'd' ? MSG_ADM_CS_DRAIN : MSG_ADM_CS_REMOVE);
		proto_put_u32(&c.w, (uint32_t)atoi(name));
		proto_put_u8(&c.w, (uint8_t)value);
	} else if (!strcmp(what, "goal")) {
		rc = lookup_root(&c, name, &a);
		if (rc)
			goto out;
		mc_begin(&c, MSG_ADM_SET_GOAL);
		proto_put_u64(&c.w, a.ino);
		proto_put_u8(&c.w, (uint8_t)value);
		proto_put_u8(&c.w, 0);
	} else {
		put_name_op(&c, MSG_UNLINK, 1, name);
	}
	rc = mc_call(&c, &st);
	if (!rc)
		rc = st;
out:
	if (rc)
		fprintf(stderr, "metabench %s: %s\n", what, strerror(-rc));
	mc_close(&c);
	return rc ? 1 : 0;
}

/* ---- protocol and session self-test (tests/integration/metad_session.sh) ---- */

#define ST_CHECK(cond, ...)                                         \
	do {                                                        \
		if (!(cond)) {                                      \
			fprintf(stderr, "selftest: " __VA_ARGS__);  \
			fprintf(stderr, " (line %d)\n", __LINE__);  \
			return 1;                                   \
		}                                                   \
	} while (0)

static int st_create(struct mc *c, const char *name, uint64_t *ino)
{
	struct casfs_attr a;
	int32_t st;

	mc_begin(c, MSG_CREATE);
	proto_put_u64(&c->w, 1);
	proto_put_str(&c->w, name);
	proto_put_u32(&c->w, 0644);
	proto_put_u32(&c->w, 0);
	proto_put_u32(&c->w, 0);
	proto_put_u32(&c->w, O_RDWR);
	if (mc_call(c, &st))
		return -EIO;
	if (st)
		return st;
	proto_get_attr(&c->r, &a);
	*ino = a.ino;
	return 0;
}

static void st_lock(struct mc *c, uint64_t ino, uint64_t owner, uint8_t kind, uint8_t type,
		    uint64_t start, uint64_t end, uint8_t wait)
{
	mc_begin(c, MSG_LOCK);
	proto_put_u64(&c->w, ino);
	proto_put_u64(&c->w, owner);
	proto_put_u8(&c->w, kind);
	proto_put_u8(&c->w, type);
	proto_put_u64(&c->w, start);
	proto_put_u64(&c->w, end);
	proto_put_u32(&c->w, 42);
	proto_put_u8(&c->w, wait);
}

static int st_status(struct mc *c)
{
	int32_t st;

	if (mc_call(c, &st))
		return -EIO;
	return st;
}

static int cmd_selftest(const char *addr, int timeout_ms)
{
	struct casfs_uuid zero = { { 0 } }, other;
	struct mc a, b, x;
	uint64_t ino, ino2, ino3, sess_a, wait_reqid;
	int32_t st;
	uint8_t junk[64];

	/* Garbage framing closes that connection only. */
	ST_CHECK(net_connect(addr, 2000, &x.fd) == 0, "connect");
	memset(junk, 0xff, sizeof(junk));
	net_write_full(x.fd, junk, sizeof(junk));
	ST_CHECK(read(x.fd, junk, 1) <= 0, "garbage frame did not close the connection");
	close(x.fd);
	/* A request before HELLO is refused. */
	ST_CHECK(mc_connect(&x, addr, 1) == 0, "connect");
	close(x.fd);
	ST_CHECK(net_connect(addr, 2000, &x.fd) == 0, "connect");
	mc_begin(&x, MSG_GETATTR);
	proto_put_u64(&x.w, 1);
	ST_CHECK(mc_call(&x, &st) == 0 && st == -EPROTO, "request before HELLO: %d", st);
	mc_close(&x);
	/* HELLO checks. */
	ST_CHECK(mc_hello(&x, addr, 1, 0, &zero, 99) == -EPROTO, "bad version accepted");
	mc_close(&x);
	memset(&other, 0x5a, sizeof(other));
	ST_CHECK(mc_hello(&x, addr, 1, 0, &other, PROTO_VERSION) == -EXDEV, "other cluster accepted");
	mc_close(&x);
	ST_CHECK(mc_hello(&x, addr, 1, 987654321, &zero, PROTO_VERSION) == -ESTALE,
		 "unknown session resumed");
	mc_close(&x);
	ST_CHECK(mc_hello(&x, addr, 9, 0, &zero, PROTO_VERSION) == -EPROTO, "bad role accepted");
	mc_close(&x);

	/* A re-sent mutation after a reconnect is answered, not applied twice. */
	ST_CHECK(mc_connect(&a, addr, 1) == 0, "connect a");
	sess_a = a.session;
	a.reqid = 1000;
	ST_CHECK(st_create(&a, "dedup", &ino) == 0, "create");
	mc_close(&a);
	ST_CHECK(mc_hello(&a, addr, 1, sess_a, &zero, PROTO_VERSION) == 0, "resume a");
	ST_CHECK(a.session == sess_a, "resumed a different session");
	a.reqid = 1000;
	ST_CHECK(st_create(&a, "dedup", &ino2) == 0, "re-sent create was not deduplicated");
	ST_CHECK(ino2 == ino, "re-sent create answered another inode");
	ST_CHECK(st_create(&a, "dedup", &ino2) == -EEXIST, "a new create must fail");
	ST_CHECK(mc_connect(&b, addr, 1) == 0, "connect b");
	ST_CHECK(b.session != a.session, "sessions must differ");

	/* ADM is for admin connections. */
	mc_begin(&b, MSG_ADM_STATUS);
	ST_CHECK(st_status(&b) == -EPERM, "ADM_STATUS from a client");
	mc_begin(&b, MSG_STATFS);
	ST_CHECK(st_status(&b) == 0, "STATFS");
	mc_begin(&b, MSG_FSYNC);
	proto_put_u64(&b.w, ino);
	ST_CHECK(st_status(&b) == 0, "FSYNC");

	/* flock: exclusive between sessions, blocking waits granted on unlock. */
	st_lock(&a, ino, 1, MSG_LOCK_FLOCK, MSG_LOCK_WRITE, 0, 0, 0);
	ST_CHECK(st_status(&a) == 0, "flock a");
	st_lock(&b, ino, 1, MSG_LOCK_FLOCK, MSG_LOCK_READ, 0, 0, 0);
	ST_CHECK(st_status(&b) == -EAGAIN, "conflicting flock granted");
	st_lock(&b, ino, 1, MSG_LOCK_FLOCK, MSG_LOCK_WRITE, 0, 0, 1);
	ST_CHECK(mc_send(&b) == 0, "send");
	mc_begin(&b, MSG_PING);
	ST_CHECK(mc_call(&b, &st) == 0 && st == 0, "ping b");
	st_lock(&a, ino, 1, MSG_LOCK_FLOCK, MSG_LOCK_UNLOCK, 0, 0, 0);
	ST_CHECK(st_status(&a) == 0, "unlock a");
	ST_CHECK(mc_recv(&b, &st) == 0 && st == 0, "waiting flock not granted: %d", st);
	/* A waiter is cancelled by its own UNLOCK (-EINTR). */
	st_lock(&a, ino, 7, MSG_LOCK_FLOCK, MSG_LOCK_WRITE, 0, 0, 1);
	ST_CHECK(mc_send(&a) == 0, "send");
	st_lock(&a, ino, 7, MSG_LOCK_FLOCK, MSG_LOCK_UNLOCK, 0, 0, 0);
	ST_CHECK(mc_send(&a) == 0, "send");
	ST_CHECK(mc_recv(&a, &st) == 0 && st == -EINTR, "cancelled wait: %d", st);
	ST_CHECK(mc_recv(&a, &st) == 0 && st == 0, "unlock: %d", st);
	st_lock(&b, ino, 1, MSG_LOCK_FLOCK, MSG_LOCK_UNLOCK, 0, 0, 0);
	ST_CHECK(st_status(&b) == 0, "unlock b");

	/* POSIX byte ranges and GETLK. */
	st_lock(&a, ino, 1, MSG_LOCK_POSIX, MSG_LOCK_WRITE, 0, 99, 0);
	ST_CHECK(st_status(&a) == 0, "posix a");
	st_lock(&b, ino, 2, MSG_LOCK_POSIX, MSG_LOCK_READ, 50, 60, 0);
	ST_CHECK(st_status(&b) == -EAGAIN, "overlapping posix granted");
	st_lock(&b, ino, 2, MSG_LOCK_POSIX, MSG_LOCK_READ, 100, 200, 0);
	ST_CHECK(st_status(&b) == 0, "disjoint posix refused");
	mc_begin(&b, MSG_GETLK);
	proto_put_u64(&b.w, ino);
	proto_put_u64(&b.w, 2);
	proto_put_u8(&b.w, MSG_LOCK_WRITE);
	proto_put_u64(&b.w, 0);
	proto_put_u64(&b.w, UINT64_MAX);
	proto_put_u32(&b.w, 1);
	ST_CHECK(mc_call(&b, &st) == 0 && st == 0, "getlk");
	{
		uint8_t type;
		uint64_t s0, e0;

		proto_get_u8(&b.r, &type);
		proto_get_u64(&b.r, &s0);
		proto_get_u64(&b.r, &e0);
		ST_CHECK(type == MSG_LOCK_WRITE && s0 == 0 && e0 == 99, "getlk answer %u %llu %llu",
			 type, (unsigned long long)s0, (unsigned long long)e0);
	}

	/* A POSIX wait that would close a cycle fails with EDEADLK. */
	st_lock(&a, ino, 5, MSG_LOCK_POSIX, MSG_LOCK_WRITE, 1000, 1009, 0);
	ST_CHECK(st_status(&a) == 0, "posix a 1000");
	st_lock(&b, ino, 6, MSG_LOCK_POSIX, MSG_LOCK_WRITE, 2000, 2009, 0);
	ST_CHECK(st_status(&b) == 0, "posix b 2000");
	st_lock(&a, ino, 5, MSG_LOCK_POSIX, MSG_LOCK_WRITE, 2000, 2009, 1);
	ST_CHECK(mc_send(&a) == 0, "send");
	/* A PING answered on a's connection proves a's wait is registered. */
	mc_begin(&a, MSG_PING);
	ST_CHECK(mc_call(&a, &st) == 0 && st == 0, "ping a");
	st_lock(&b, ino, 6, MSG_LOCK_POSIX, MSG_LOCK_WRITE, 1000, 1009, 1);
	ST_CHECK(st_status(&b) == -EDEADLK, "deadlock not detected");
	st_lock(&b, ino, 6, MSG_LOCK_POSIX, MSG_LOCK_UNLOCK, 2000, 2009, 0);
	ST_CHECK(st_status(&b) == 0, "unlock b 2000");
	ST_CHECK(mc_recv(&a, &st) == 0 && st == 0, "a's wait not granted after the unlock: %d", st);
	st_lock(&a, ino, 5, MSG_LOCK_POSIX, MSG_LOCK_UNLOCK, 0, UINT64_MAX, 0);
	ST_CHECK(st_status(&a) == 0, "unlock a");

	/* Session loss: a's lock and a's open of an unlinked file go when its
	 * session expires, and b's blocked lock is then granted. */
	ST_CHECK(st_create(&a, "doomed", &ino3) == 0, "create doomed");
	put_name_op(&a, MSG_UNLINK, 1, "doomed");
	ST_CHECK(st_status(&a) == 0, "unlink doomed");
	put_getattr(&b, ino3);
	ST_CHECK(st_status(&b) == 0, "open unlinked inode must live");
	st_lock(&b, ino, 2, MSG_LOCK_POSIX, MSG_LOCK_WRITE, 0, 10, 1);
	ST_CHECK(mc_send(&b) == 0, "send");
	wait_reqid = b.reqid;
	mc_begin(&b, MSG_PING);
	ST_CHECK(mc_call(&b, &st) == 0 && st == 0, "ping b");
	close(a.fd);
	a.fd = -1;
	{
		double t0 = now_s();
		uint64_t lock_reqid = wait_reqid;
		int granted = 0;

		/* b keeps its own session alive with PINGs while it waits. */
		while (!granted && now_s() - t0 < 20) {
			usleep(300000);
			mc_begin(&b, MSG_PING);
			ST_CHECK(mc_send(&b) == 0, "ping");
			for (int k = 0; k < 2 && !granted; k++) {
				ST_CHECK(mc_recv(&b, &st) == 0, "b lost its connection");
				if (b.last_reply == lock_reqid) {
					ST_CHECK(st == 0, "lock wait answered %d", st);
					granted = 1;
				} else {
					break;
				}
			}
		}
		ST_CHECK(granted, "lock of an expired session not released");
		ST_CHECK(now_s() - t0 > timeout_ms / 2000.0, "lock released before the session expired");
		/* The PING sent last may still be unanswered: read it. */
		mc_begin(&b, MSG_PING);
		ST_CHECK(mc_send(&b) == 0, "ping");
		while (mc_recv(&b, &st) == 0 && b.last_reply != b.reqid)
			;
	}
	put_getattr(&b, ino3);
	ST_CHECK(st_status(&b) == -ENOENT, "unlinked inode outlived its session");
	ST_CHECK(mc_hello(&x, addr, 1, sess_a, &zero, PROTO_VERSION) == -ESTALE,
		 "expired session resumed");
	mc_close(&x);
	mc_close(&a);
	mc_close(&b);
	printf("selftest: ok\n");
	return 0;
}

/* Sends count frames of random types (catalogue and unknown) with random
 * payloads, half of them after a HELLO of a random role, reconnecting
 * whenever metad closes the connection. metad must survive all of it. */
static int cmd_garbage(const char *addr, long count)
{
	size_t ncat;
	const struct msg_info *cat = msg_catalogue(&ncat);
	unsigned seed = 4242;
	struct mc c;
	long closes = 0, replies = 0;

	memset(&c, 0, sizeof(c));
	c.fd = -1;
	for (long i = 0; i < count; i++) {
		uint8_t payload[256];
		uint32_t len = (uint32_t)rand_r(&seed) % sizeof(payload);
		uint16_t type = rand_r(&seed) % 8 ? cat[rand_r(&seed) % ncat].type
						  : (uint16_t)rand_r(&seed);
		int32_t st;

		if (c.fd < 0) {
			int rc = rand_r(&seed) % 2 ? mc_connect(&c, addr, (uint8_t)(1 + rand_r(&seed) % 3))
						   : net_connect(addr, 2000, &c.fd);

			if (rc && c.fd < 0)
				return 1;
			if (!c.ib) {
				proto_wbuf_init(&c.w);
				proto_wbuf_init(&c.in);
				proto_wbuf_init(&c.out);
				c.ib = xmalloc(MC_READ_AHEAD);
			}
		}
		for (uint32_t k = 0; k < len; k++)
			payload[k] = (uint8_t)(rand_r(&seed) % 4 ? rand_r(&seed) % 4 : rand_r(&seed));
		mc_begin(&c, type);
		proto_put_raw(&c.w, payload, len);
		if (mc_call(&c, &st)) {
			closes++;
			mc_close(&c);
			c.fd = -1;
			continue;
		}
		replies++;
	}
	mc_close(&c);
	if (mc_connect(&c, addr, PROTO_ROLE_CLIENT)) {
		fprintf(stderr, "garbage: metad no longer answers\n");
		return 1;
	}
	mc_close(&c);
	printf("garbage: %ld replies, %ld closed connections, metad alive\n", replies, closes);
	return 0;
}

/* ---- benchmark ---- */

enum bench_phase { PH_MUTATE, PH_POPULATE, PH_LOOKUP };

/* Requests in flight per connection: each lane works on its own file, so a
 * connection pipelines LANES independent requests (the protocol is
 * multiplexed, as a FUSE client's connection is). */
#define LANES 8

struct lane {
	long i;			/* file number */
	int step;		/* position in the op cycle */
	uint64_t ino;		/* inode of the current file */
	uint64_t reqid;
};

struct bconn {
	struct mc c;
	uint64_t dir;
	struct lane lane[LANES];
	long next;		/* next file number to hand to a lane */
	long done;		/* operations completed */
	long limit;		/* populate: files to create */
	int failed;
};

struct bthread {
	pthread_t t;
	struct bconn *conns;
	int n;
	enum bench_phase phase;
	double deadline;
	long files_per_conn;	/* lookup: files available per conn */
	unsigned seed;
	int round;		/* distinct names for each mutation phase */
};

static int lane_active(struct bthread *bt, struct bconn *b, struct lane *l)
{
	return !(bt->phase == PH_POPULATE && l->i >= b->limit);
}

static void b_send(struct bthread *bt, struct bconn *b, struct lane *l)
{
	char name[32];

	switch (bt->phase) {
	case PH_MUTATE:
		snprintf(name, sizeof(name), "m%d_%ld", bt->round, l->i);
		if (l->step == 0)
			put_mknod(&b->c, b->dir, name);
		else if (l->step == 1)
			put_setattr(&b->c, l->ino, 0600);
		else
			put_name_op(&b->c, MSG_UNLINK, b->dir, name);
		break;
	case PH_POPULATE:
		snprintf(name, sizeof(name), "p%ld", l->i);
		put_mknod(&b->c, b->dir, name);
		break;
	case PH_LOOKUP:
		if (l->step == 0) {
			l->i = rand_r(&bt->seed) % bt->files_per_conn;
			snprintf(name, sizeof(name), "p%ld", l->i);
			put_name_op(&b->c, MSG_LOOKUP, b->dir, name);
		} else {
			put_getattr(&b->c, l->ino);
		}
		break;
	}
	l->reqid = b->c.reqid;
	if (mc_send(&b->c))
		b->failed = 1;
}

static void b_recv(struct bthread *bt, struct bconn *b)
{
	struct casfs_attr a;
	struct lane *l = NULL;
	int32_t st;
	uint64_t reqid;

	if (b->failed || mc_recv(&b->c, &st) || st) {
		b->failed = 1;
		return;
	}
	reqid = b->c.last_reply;
	for (int k = 0; k < LANES; k++)
		if (b->lane[k].reqid == reqid)
			l = &b->lane[k];
	if (!l) {
		b->failed = 1;
		return;
	}
	b->done++;
	switch (bt->phase) {
	case PH_MUTATE:
		if (l->step == 0) {
			proto_get_attr(&b->c.r, &a);
			l->ino = a.ino;
		}
		if (++l->step == 3) {
			l->step = 0;
			l->i = b->next++;
		}
		break;
	case PH_POPULATE:
		l->i = b->next++;
		break;
	case PH_LOOKUP:
		if (l->step == 0) {
			proto_get_attr(&b->c.r, &a);
			l->ino = a.ino;
		}
		l->step ^= 1;
		break;
	}
}

static void *b_thread(void *arg)
{
	struct bthread *bt = arg;

	for (;;) {
		int active = 0;

		if (bt->phase != PH_POPULATE && now_s() >= bt->deadline)
			break;
		for (int k = 0; k < bt->n; k++) {
			struct bconn *b = &bt->conns[k];

			b->c.is_batching = 1;
			for (int j = 0; j < LANES && !b->failed; j++) {
				if (!lane_active(bt, b, &b->lane[j]))
					continue;
				b_send(bt, b, &b->lane[j]);
				active++;
			}
			b->c.is_batching = 0;
			if (mc_flush(&b->c))
				b->failed = 1;
		}
		if (!active)
			break;
		for (int k = 0; k < bt->n; k++) {
			struct bconn *b = &bt->conns[k];

			for (int j = 0; j < LANES; j++)
				if (lane_active(bt, b, &b->lane[j]))
					b_recv(bt, b);
		}
	}
	return NULL;
}

/* Runs one phase on all connections; returns operations per second. */
static double b_run(struct bconn *conns, int nconns, int nthreads, enum bench_phase ph,
		    double secs, long files_per_conn, long *total)
{
	static int round;
	struct bthread bt[16];
	double t0 = now_s(), dt;
	long before = 0, after = 0;

	for (int k = 0; k < nconns; k++) {
		before += conns[k].done;
		for (int j = 0; j < LANES; j++) {
			conns[k].lane[j].step = 0;
			conns[k].lane[j].i = conns[k].next++;
		}
	}
	for (int i = 0; i < nthreads; i++) {
		bt[i].conns = conns + i * (nconns / nthreads);
		bt[i].n = nconns / nthreads;
		bt[i].phase = ph;
		bt[i].deadline = t0 + secs;
		bt[i].files_per_conn = files_per_conn;
		bt[i].seed = 12345u + (unsigned)i;
		bt[i].round = round;
		pthread_create(&bt[i].t, NULL, b_thread, &bt[i]);
	}
	for (int i = 0; i < nthreads; i++)
		pthread_join(bt[i].t, NULL);
	round++;
	dt = now_s() - t0;
	for (int k = 0; k < nconns; k++) {
		after += conns[k].done;
		if (conns[k].failed) {
			fprintf(stderr, "metabench: a request failed on connection %d\n", k);
			exit(1);
		}
	}
	if (total)
		*total = after - before;
	return (after - before) / dt;
}

static pid_t bench_metad_pid;

/* Whatever way metabench exits, the metad it started goes too. */
static void kill_bench_metad(void)
{
	if (bench_metad_pid > 0) {
		kill(bench_metad_pid, SIGKILL);
		waitpid(bench_metad_pid, NULL, 0);
		bench_metad_pid = 0;
	}
}

static pid_t start_metad(const char *bin, const char *dir, const char *addrfile, const char *extra1,
			 const char *extra2)
{
	static int registered;
	pid_t pid;

	if (!registered) {
		atexit(kill_bench_metad);
		registered = 1;
	}
	unlink(addrfile);
	pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		dup2(fd, 2);
		execl(bin, bin, "--data", dir, "--listen", "127.0.0.1:0", "--addr-file", addrfile,
		      "--log-level", "warn", extra1, extra2, (char *)NULL);
		_exit(127);
	}
	bench_metad_pid = pid;
	return pid;
}

static int read_addr(const char *addrfile, char *addr, size_t len, double timeout)
{
	double end = now_s() + timeout;

	while (now_s() < end) {
		FILE *f = fopen(addrfile, "r");

		if (f) {
			int ok = fgets(addr, (int)len, f) != NULL;

			fclose(f);
			if (ok) {
				addr[strcspn(addr, "\n")] = '\0';
				return 0;
			}
		}
		usleep(2000);
	}
	return -ETIMEDOUT;
}

static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static int b_connect_all(struct bconn *conns, int n, const char *addr)
{
	for (int k = 0; k < n; k++) {
		char dname[32];
		int rc = mc_connect(&conns[k].c, addr, PROTO_ROLE_CLIENT);

		if (rc) {
			fprintf(stderr, "metabench: connect %s: %s\n", addr, strerror(-rc));
			return rc;
		}
		snprintf(dname, sizeof(dname), "d%d", k);
		rc = mkdir_p(&conns[k].c, 1, dname, &conns[k].dir);
		if (rc)
			return rc;
		conns[k].failed = 0;
	}
	return 0;
}

static void b_close_all(struct bconn *conns, int n)
{
	for (int k = 0; k < n; k++)
		mc_close(&conns[k].c);
}

static void stop_metad(pid_t pid, int sig)
{
	int status;

	kill(pid, sig);
	waitpid(pid, &status, 0);
	if (pid == bench_metad_pid)
		bench_metad_pid = 0;
}

static int cmd_bench(const char *bin, const char *dir, int nconns, long nfiles, double secs)
{
	struct bconn *conns = xcalloc((size_t)nconns, sizeof(*conns));
	char addrfile[4200], addr[128], cmd[8400];
	double mut, mut_sync, look, t0, restart;
	long rss0, rss1, made;
	int nthreads = 2;
	pid_t pid;
	struct mc probe;
	int32_t st;

	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && '%s' --format --data '%s' >/dev/null", dir, bin,
		 dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "metabench: format failed\n");
		return 1;
	}
	snprintf(addrfile, sizeof(addrfile), "%s.addr", dir);
	pid = start_metad(bin, dir, addrfile, NULL, NULL);
	if (read_addr(addrfile, addr, sizeof(addr), 20))
		return 1;
	if (b_connect_all(conns, nconns, addr))
		return 1;
	rss0 = rss_kib(pid);
	mut = b_run(conns, nconns, nthreads, PH_MUTATE, secs, 0, NULL);
	printf("mutations/s (MKNOD+SETATTR+UNLINK, %d conns, sync=interval): %.0f\n", nconns, mut);
	fflush(stdout);
	for (int k = 0; k < nconns; k++) {
		conns[k].next = 0;
		conns[k].limit = nfiles / nconns;
	}
	t0 = now_s();
	b_run(conns, nconns, nthreads, PH_POPULATE, 0, 0, &made);
	rss1 = rss_kib(pid);
	printf("created %ld files in %.1f s; RSS %ld -> %ld KiB: %.0f bytes/file\n", made,
	       now_s() - t0, rss0, rss1, (rss1 - rss0) * 1024.0 / (made ? made : 1));
	fflush(stdout);
	look = b_run(conns, nconns, nthreads, PH_LOOKUP, secs, nfiles / nconns, NULL);
	printf("lookups/s (LOOKUP+GETATTR, %d conns): %.0f\n", nconns, look);
	fflush(stdout);
	b_close_all(conns, nconns);

	stop_metad(pid, SIGKILL);
	t0 = now_s();
	pid = start_metad(bin, dir, addrfile, NULL, NULL);
	if (read_addr(addrfile, addr, sizeof(addr), 120) || mc_connect(&probe, addr, 1))
		return 1;
	put_getattr(&probe, 1);
	if (mc_call(&probe, &st) || st)
		return 1;
	restart = now_s() - t0;
	mc_close(&probe);
	printf("restart after kill -9 with %ld files: %.2f s\n", made, restart);
	fflush(stdout);
	stop_metad(pid, SIGTERM);

	pid = start_metad(bin, dir, addrfile, "--sync", "always");
	if (read_addr(addrfile, addr, sizeof(addr), 120))
		return 1;
	if (b_connect_all(conns, nconns, addr))
		return 1;
	mut_sync = b_run(conns, nconns, nthreads, PH_MUTATE, secs, 0, NULL);
	printf("mutations/s (sync=always, %d conns): %.0f\n", nconns, mut_sync);
	b_close_all(conns, nconns);
	stop_metad(pid, SIGTERM);
	free(conns);
	return 0;
}

int main(int argc, char **argv)
{
	const char *meta = NULL, *logpath = NULL, *bin = NULL, *dir = "/tmp/metabench.data";
	const char *name = NULL;
	long count = -1, files = 1000000;
	int id = 0, conns = 64, blocks = 4, commit = 1, goal = 2, on = 1;
	double secs = 5;

	signal(SIGPIPE, SIG_IGN);
	if (argc < 2 || !strcmp(argv[1], "--quick")) {
		static char path[4096];
		const char *slash = strrchr(argv[0], '/');

		snprintf(path, sizeof(path), "%.*scasfs-metad", slash ? (int)(slash - argv[0] + 1) : 0,
			 argv[0]);
		if (argc >= 2)
			return cmd_bench(path, dir, conns, 100000, 2);
		return cmd_bench(path, dir, conns, files, secs);
	}
	for (int i = 2; i < argc; i += 2) {
		if (i + 1 >= argc) {
			fprintf(stderr, "metabench: %s needs a value\n", argv[i]);
			return 2;
		}
		if (!strcmp(argv[i], "--meta"))
			meta = argv[i + 1];
		else if (!strcmp(argv[i], "--id"))
			id = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--log"))
			logpath = argv[i + 1];
		else if (!strcmp(argv[i], "--count"))
			count = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--metad"))
			bin = argv[i + 1];
		else if (!strcmp(argv[i], "--dir"))
			dir = argv[i + 1];
		else if (!strcmp(argv[i], "--conns"))
			conns = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--files"))
			files = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--seconds"))
			secs = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--name"))
			name = argv[i + 1];
		else if (!strcmp(argv[i], "--blocks"))
			blocks = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--commit"))
			commit = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--goal"))
			goal = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--on"))
			on = atoi(argv[i + 1]);
		else {
			fprintf(stderr, "metabench: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (conns < 2 || conns % 2)
		conns = 64;
	if (!strcmp(argv[1], "writer") && meta && logpath)
		return cmd_writer(meta, id, logpath, count);
	if (!strcmp(argv[1], "verify") && meta && logpath)
		return cmd_verify(meta, id, logpath);
	if (!strcmp(argv[1], "put") && meta && name)
		return cmd_put(meta, name, blocks, commit);
	if (!strcmp(argv[1], "bmap") && meta && name)
		return cmd_bmap(meta, name);
	if (!strcmp(argv[1], "adm") && meta)
		return cmd_adm(meta);
	if (!strcmp(argv[1], "goal") && meta && name)
		return cmd_simple("goal", meta, name, goal);
	if (!strcmp(argv[1], "unlink") && meta && name)
		return cmd_simple("unlink", meta, name, 0);
	if (!strcmp(argv[1], "drain") && meta && name)
		return cmd_simple("drain", meta, name, on);
	if (!strcmp(argv[1], "remove") && meta && name)
		return cmd_simple("remove", meta, name, on);
	if (!strcmp(argv[1], "session") && meta) {
		struct mc c;
		int rc = mc_connect(&c, meta, PROTO_ROLE_CLIENT);

		if (!rc)
			printf("%llu\n", (unsigned long long)c.session);
		mc_close(&c);
		return rc ? 1 : 0;
	}
	if (!strcmp(argv[1], "resume") && meta) {
		struct casfs_uuid zero = { { 0 } };
		struct mc c;
		int rc = mc_hello(&c, meta, PROTO_ROLE_CLIENT, (uint64_t)id, &zero, PROTO_VERSION);

		if (rc)
			fprintf(stderr, "metabench resume %d: %s\n", id, strerror(-rc));
		mc_close(&c);
		return rc ? 1 : 0;
	}
	if (!strcmp(argv[1], "lock") && meta && name) {
		/* Opens NAME (creating it) and takes a flock of type --goal
		 * (1 read, 2 write) without waiting, then leaves: the session
		 * keeps the open and the lock. Exit 0 granted, 3 EAGAIN. */
		struct mc c;
		uint64_t ino;
		int32_t st;
		int rc = mc_connect(&c, meta, PROTO_ROLE_CLIENT);

		if (rc)
			return 1;
		rc = st_create(&c, name, &ino);
		if (rc == -EEXIST) {
			struct casfs_attr a;

			rc = lookup_root(&c, name, &a);
			ino = a.ino;
			if (!rc) {
				mc_begin(&c, MSG_OPEN);
				proto_put_u64(&c.w, ino);
				proto_put_u32(&c.w, O_RDONLY);
				rc = st_status(&c);
			}
		}
		if (rc)
			return 1;
		st_lock(&c, ino, 1, MSG_LOCK_FLOCK, (uint8_t)goal, 0, 0, 0);
		rc = mc_call(&c, &st);
		printf("%llu\n", (unsigned long long)c.session);
		mc_close(&c);
		return rc ? 1 : st == 0 ? 0 : st == -EAGAIN ? 3 : 1;
	}
	if (!strcmp(argv[1], "garbage") && meta)
		return cmd_garbage(meta, count < 0 ? 20000 : count);
	if (!strcmp(argv[1], "selftest") && meta)
		return cmd_selftest(meta, goal * 1000);
	if (!strcmp(argv[1], "bench") && bin)
		return cmd_bench(bin, dir, conns, files, secs);
	fprintf(stderr, "metabench: missing options\n");
	return 2;
}
