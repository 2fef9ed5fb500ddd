/* garbage: a hostile peer for the integration tests of invariant 6 ("bad
 * input gets a clear error and never crashes a daemon"). It connects to a
 * real casfs-metad or casfs-chunkd and sends what a broken or lying peer
 * would: random bytes, oversized and truncated frames, unknown flags and
 * types, every catalogue request with a payload that fails its schema, bad
 * HELLOs, stalled half-frames, connection churn, and well-formed requests
 * that lie (wrong hashes, forged chains, impossible indices and sizes).
 *
 * Each command checks the answers it gets and prints "ok ..." or
 * "FAIL ...", one line per check; it exits 1 if any check failed. Whether
 * the daemon survived (same pid, no sanitizer report, log lines) is checked
 * by the calling script, which also runs "health" after every attack.
 *
 * Test code: blocking sockets with timeouts, one thread, except "slowloris"
 * which only holds idle sockets while it measures another connection. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs/ids.h"
#include "fs/msg.h"
#include "fs/net.h"
#include "fs/proto.h"
#include "fs/xmalloc.h"

#define G_TIMEOUT_MS 10000
#define ANY_NEG INT32_MIN	/* in an expected-status list: any negative errno */

struct opts {
	const char *server;
	const char *meta;	/* metad, for the cluster's key seed */
	const char *auth;
	uint8_t role;
	int count;
	int seconds;
	uint64_t seed;
};

static struct opts o = { .role = PROTO_ROLE_CLIENT, .auth = "", .count = 0, .seed = 1 };
static int n_fail, n_ok;

struct g_conn {
	int fd;
	uint64_t reqid;
	struct proto_wbuf in;
};

/* ---- reporting ---- */

static void ok(const char *fmt, ...)
{
	va_list ap;

	n_ok++;
	printf("ok ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static void bad(const char *fmt, ...)
{
	va_list ap;

	n_fail++;
	printf("FAIL ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* Checks st against the expected statuses (ANY_NEG = any negative). */
static int expect(const char *what, int32_t st, int n, ...)
{
	va_list ap;
	int hit = 0;

	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		int32_t want = va_arg(ap, int32_t);

		if (want == st || (want == ANY_NEG && st < 0))
			hit = 1;
	}
	va_end(ap);
	if (hit)
		ok("%s (status %d)", what, st);
	else
		bad("%s: unexpected status %d (%s)", what, st, st < 0 ? strerror(-st) : "success");
	return hit;
}

/* ---- random values ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void rnd_fill(void *p, size_t n)
{
	uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)rnd();
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- connections ---- */

static int g_open(struct g_conn *c, const char *addr)
{
	int rc;

	memset(c, 0, sizeof(*c));
	proto_wbuf_init(&c->in);
	c->fd = -1;
	c->reqid = 100;
	rc = net_connect(addr, G_TIMEOUT_MS, &c->fd);
	if (!rc)
		rc = net_set_timeouts(c->fd, G_TIMEOUT_MS);
	return rc;
}

static void g_close(struct g_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	proto_wbuf_free(&c->in);
}

static int g_send_raw(struct g_conn *c, uint16_t type, uint16_t flags, uint64_t reqid,
		      uint32_t hdr_len, const void *p, size_t len)
{
	struct proto_hdr h = { .len = hdr_len, .type = type, .flags = flags, .reqid = reqid };
	uint8_t hb[PROTO_HDR_SIZE];
	int rc;

	proto_hdr_encode(&h, hb);
	rc = net_write_full(c->fd, hb, sizeof(hb));
	if (!rc && len)
		rc = net_write_full(c->fd, p, len);
	return rc;
}

static int g_send(struct g_conn *c, uint16_t type, const void *p, size_t len, uint64_t *reqid)
{
	*reqid = ++c->reqid;
	return g_send_raw(c, type, 0, *reqid, (uint32_t)len, p, len);
}

/* Reads frames until the reply to reqid; *r is left after the status. A
 * reply to a type the catalogue does not know may only carry a status. */
static int g_reply(struct g_conn *c, uint16_t type, uint64_t reqid, int32_t *st,
		   struct proto_rbuf *r)
{
	struct proto_hdr h;
	int rc;

	for (;;) {
		rc = net_frame_read(c->fd, PROTO_FRAME_MAX, &h, &c->in);
		if (rc)
			return rc;
		if ((h.flags & PROTO_F_REPLY) && h.reqid == reqid)
			break;
	}
	if (h.type != type)
		return -EPROTO;
	if (msg_lookup(type)) {
		rc = msg_check(type, 1, c->in.data, c->in.len);
		if (rc)
			return rc;
	} else if (c->in.len != 4) {
		return -EBADMSG;
	}
	proto_rbuf_init(r, c->in.data, c->in.len);
	return proto_get_i32(r, st);
}

/* One request, one reply. Returns 0 and *st, or a transport error. */
static int g_call(struct g_conn *c, uint16_t type, const struct proto_wbuf *req, int32_t *st,
		  struct proto_rbuf *r)
{
	struct proto_rbuf dummy;
	uint64_t reqid;
	int rc = g_send(c, type, req ? req->data : NULL, req ? req->len : 0, &reqid);

	return rc ? rc : g_reply(c, type, reqid, st, r ? r : &dummy);
}

struct hello_in {
	uint16_t version;
	uint8_t role;
	struct casfs_uuid uuid;
	const char *auth;
	uint64_t session;
};

struct hello_out {
	struct casfs_uuid uuid;
	uint64_t session;
	uint8_t seed[BLK_KEY_SEED_SIZE];
	uint32_t seed_len;
};

static int g_hello_ex(struct g_conn *c, const struct hello_in *hi, int32_t *st, struct hello_out *ho)
{
	struct proto_wbuf w;
	struct proto_rbuf r;
	const uint8_t *sp;
	uint32_t sl, tmo;
	uint16_t ver;
	int rc;

	proto_wbuf_init(&w);
	proto_put_u16(&w, hi->version);
	proto_put_u8(&w, hi->role);
	proto_put_uuid(&w, &hi->uuid);
	proto_put_str(&w, hi->auth);
	proto_put_u64(&w, hi->session);
	proto_put_str(&w, "garbage");
	rc = g_call(c, MSG_HELLO, &w, st, &r);
	proto_wbuf_free(&w);
	if (rc || *st || !ho)
		return rc;
	proto_get_u16(&r, &ver);
	proto_get_uuid(&r, &ho->uuid);
	proto_get_u64(&r, &ho->session);
	proto_get_bytes(&r, &sp, &sl);
	proto_get_u32(&r, &tmo);
	if (proto_get_end(&r))
		return -EBADMSG;
	ho->seed_len = sl < BLK_KEY_SEED_SIZE ? sl : BLK_KEY_SEED_SIZE;
	memcpy(ho->seed, sp, ho->seed_len);
	return 0;
}

static void hello_defaults(struct hello_in *hi)
{
	memset(hi, 0, sizeof(*hi));
	hi->version = PROTO_VERSION;
	hi->role = o.role;
	hi->auth = o.auth;
}

/* Connects to addr and says a correct HELLO; 0 or a negative errno. */
static int g_login(struct g_conn *c, const char *addr, struct hello_out *ho)
{
	struct hello_in hi;
	int32_t st;
	int rc = g_open(c, addr);

	hello_defaults(&hi);
	if (!rc)
		rc = g_hello_ex(c, &hi, &st, ho);
	if (!rc)
		rc = st;
	if (rc)
		g_close(c);
	return rc;
}

/* 1 if the peer closes fd within ms (whatever it sends before), else 0. */
static int g_wait_closed(int fd, int ms)
{
	int64_t end = now_ms() + ms;
	uint8_t buf[4096];

	for (;;) {
		int64_t left = end - now_ms();
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (left <= 0)
			return 0;
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return 1;
	}
}

/* ---- payload helpers ---- */

static void put_name_raw(struct proto_wbuf *w, const void *p, uint16_t len)
{
	proto_put_u16(w, len);
	proto_put_raw(w, p, len);
}

static struct proto_wbuf *wb(void)
{
	static struct proto_wbuf w;
	static int init;

	if (!init)
		proto_wbuf_init(&w);
	init = 1;
	proto_wbuf_reset(&w);
	return &w;
}

static void rnd_id(struct blk_id *id)
{
	id->alg = BLK_ALG_XXH3_128K;
	rnd_fill(id->hash, sizeof(id->hash));
}

/* ---- schema-driven payloads with one planted defect ---- */

enum mut {
	M_NONE,
	M_COUNT_PLUS,	/* array count one more than the records */
	M_COUNT_HUGE,	/* array count 0xffffffff */
	M_COUNT_ZERO,	/* count 0 followed by a record */
	M_STR_LONG,	/* string of PROTO_STR_MAX + 1 bytes */
	M_STR_NUL,	/* string or name with a NUL inside */
	M_NAME_EMPTY,
	M_NAME_LONG,	/* 256 bytes */
	M_NAME_SLASH,
	M_DATA_LIE,	/* data length 0xffffffff */
	M_BLK_TAG,	/* unknown block-id tag */
	M_NSEC,		/* nanoseconds = 1e9 */
	M_COUNT_
};

static const char *const mut_names[] = {
	"none", "count+1", "count 0xffffffff", "count 0 with a record", "string 4097 bytes",
	"NUL in string", "empty name", "name 256 bytes", "name with '/'", "data length lies",
	"block-id tag 0x7f", "nsec 1e9",
};

struct gen {
	enum mut kind;
	int target;	/* plant the defect in the target-th eligible field */
	int seen;
	int hit;
	int is_biased;	/* valid values aimed at what exists: small inodes, few names */
};

/* Mostly small numbers (inode numbers, server ids, indices that exist),
 * sometimes the extremes. */
static uint64_t bias64(void)
{
	switch (rnd() % 10) {
	case 7: return rnd();
	case 8: return UINT64_MAX - rnd() % 3;
	case 9: return 1ULL << (rnd() % 64);
	default: return rnd() % 24;
	}
}

static uint32_t bias32(void)
{
	static const uint32_t modes[] = { 040755, 0100644, 0120777, 0010644, 0140755, 0 };

	switch (rnd() % 10) {
	case 6: return modes[rnd() % 6];
	case 7: return (uint32_t)rnd();
	case 8: return UINT32_MAX;
	case 9: return 1u << (rnd() % 32);
	default: return (uint32_t)(rnd() % 24);
	}
}

/* A few block ids, so that references, dedup and refcounts meet. */
static void pool_id(struct blk_id *id)
{
	uint64_t k = rnd() % 8;

	id->alg = k == 7 ? BLK_ALG_NONE : BLK_ALG_XXH3_128K;
	memset(id->hash, 0, sizeof(id->hash));
	if (k != 7)
		memcpy(id->hash, &k, sizeof(k));
}

/* Is this the field that gets the defect? */
static int gen_pick(struct gen *g, int eligible)
{
	if (!eligible)
		return 0;
	if (g->seen++ != g->target)
		return 0;
	g->hit = 1;
	return 1;
}

static size_t schema_close(const char *s, size_t at)
{
	int depth = 0;

	for (;; at++) {
		if (s[at] == '[')
			depth++;
		if (s[at] == ']' && --depth == 0)
			return at;
	}
}

static void gen_fields(struct proto_wbuf *w, const char *s, size_t from, size_t to, struct gen *g)
{
	static char big[PROTO_STR_MAX + 2];
	char txt[32];
	size_t n;

	memset(big, 'a', sizeof(big));
	for (size_t i = from; i < to; i++) {
		switch (s[i]) {
		case '1': proto_put_u8(w, (uint8_t)(g->is_biased ? rnd() % 4 : rnd())); break;
		case '2': proto_put_u16(w, (uint16_t)rnd()); break;
		case '4': case 'i':
			proto_put_u32(w, g->is_biased ? bias32() : (uint32_t)rnd());
			break;
		case '8': proto_put_u64(w, g->is_biased ? bias64() : rnd()); break;
		case 's':
		case 'n':
			n = g->is_biased ? 1 : 1 + rnd() % 12;
			for (size_t j = 0; j < n; j++)
				txt[j] = (char)('a' + rnd() % (g->is_biased ? 5 : 26));
			if (gen_pick(g, g->kind == M_STR_LONG && s[i] == 's'))
				put_name_raw(w, big, PROTO_STR_MAX + 1);
			else if (gen_pick(g, g->kind == M_STR_NUL))
				put_name_raw(w, "ab\0cd", 5);
			else if (gen_pick(g, g->kind == M_NAME_EMPTY && s[i] == 'n'))
				put_name_raw(w, "", 0);
			else if (gen_pick(g, g->kind == M_NAME_LONG && s[i] == 'n'))
				put_name_raw(w, big, PROTO_NAME_MAX + 1);
			else if (gen_pick(g, g->kind == M_NAME_SLASH && s[i] == 'n'))
				put_name_raw(w, "a/b", 3);
			else
				put_name_raw(w, txt, (uint16_t)n);
			break;
		case 'd':
			n = rnd() % 16;
			rnd_fill(txt, n);
			if (gen_pick(g, g->kind == M_DATA_LIE)) {
				proto_put_u32(w, UINT32_MAX);
				proto_put_raw(w, txt, n);
			} else {
				proto_put_bytes(w, txt, (uint32_t)n);
			}
			break;
		case 'k': {
			struct blk_id id;

			if (g->is_biased)
				pool_id(&id);
			else
				rnd_id(&id);
			if (gen_pick(g, g->kind == M_BLK_TAG))
				id.alg = 0x7f;
			proto_put_raw(w, &id.alg, 1);
			proto_put_raw(w, id.hash, sizeof(id.hash));
			break;
		}
		case 'u': rnd_fill(txt, 16); proto_put_raw(w, txt, 16); break;
		case 't':
			proto_put_u64(w, rnd() >> 30);
			proto_put_u32(w, gen_pick(g, g->kind == M_NSEC) ? 1000000000u
								  : (uint32_t)(rnd() % 1000000000));
			break;
		case 'a': {
			struct casfs_attr a = { .ino = rnd(), .mode = 0100644, .nlink = 1 };

			proto_put_attr(w, &a);
			break;
		}
		case '[': {
			size_t end = schema_close(s, i);
			uint32_t count = g->is_biased ? (uint32_t)(rnd() % 4) : 1;

			proto_put_u32(w, count);
			if (gen_pick(g, g->kind == M_COUNT_PLUS))
				count--;
			else if (gen_pick(g, g->kind == M_COUNT_HUGE))
				w->len -= 4, proto_put_u32(w, UINT32_MAX);
			else if (gen_pick(g, g->kind == M_COUNT_ZERO))
				w->len -= 4, proto_put_u32(w, 0);
			for (uint32_t k = 0; k < count; k++)
				gen_fields(w, s, i + 1, end, g);
			i = end;
			break;
		}
		default:
			fprintf(stderr, "garbage: unknown schema letter '%c'\n", s[i]);
			exit(2);
		}
	}
}

static void gen_payload(struct proto_wbuf *w, const char *schema, enum mut kind, int target,
			int *hit)
{
	struct gen g = { .kind = kind, .target = target };

	proto_wbuf_reset(w);
	gen_fields(w, schema, 0, strlen(schema), &g);
	*hit = g.hit;
}

/* Sends one bad request of type on c and expects -EBADMSG back on the same,
 * still open connection. Reconnects if the daemon dropped it. */
static void schema_probe(struct g_conn *c, uint16_t type, const uint8_t *p, size_t len,
			 const char *what, int *nbad)
{
	struct proto_rbuf r;
	uint64_t reqid;
	int32_t st = 0;
	int rc;

	if (msg_check(type, 0, p, len) == 0)
		return;	/* the defect happened to be harmless: not an attack */
	rc = g_send(c, type, p, len, &reqid);
	if (!rc)
		rc = g_reply(c, type, reqid, &st, &r);
	if (rc || st != -EBADMSG) {
		if ((*nbad)++ < 10)
			bad("schema %s %s (%zu bytes): %s %d", msg_lookup(type)->name, what, len,
			    rc ? "transport error" : "status", rc ? rc : st);
		if (rc) {
			g_close(c);
			if (g_login(c, o.server, NULL))
				exit(1);
		}
	}
}

static int cmd_schema(void)
{
	const struct msg_info *cat;
	struct proto_wbuf w, x;
	struct g_conn c;
	size_t ncat, frames = 0;
	int nbad = 0, hit;

	cat = msg_catalogue(&ncat);
	proto_wbuf_init(&w);
	proto_wbuf_init(&x);
	if (g_login(&c, o.server, NULL)) {
		bad("schema: cannot log in");
		return 1;
	}
	for (size_t t = 0; t < ncat; t++) {
		const char *s = cat[t].req;

		gen_payload(&w, s, M_NONE, 0, &hit);
		if (msg_check(cat[t].type, 0, w.data, w.len)) {
			bad("schema generator made an invalid %s", cat[t].name);
			continue;
		}
		for (size_t cut = 0; cut < w.len; cut++, frames++)
			schema_probe(&c, cat[t].type, w.data, cut, "truncated", &nbad);
		proto_wbuf_reset(&x);
		proto_put_raw(&x, w.data, w.len);
		proto_put_u8(&x, 0);
		schema_probe(&c, cat[t].type, x.data, x.len, "trailing byte", &nbad);
		frames++;
		for (int k = M_NONE + 1; k < M_COUNT_; k++) {
			for (int target = 0;; target++) {
				gen_payload(&x, s, (enum mut)k, target, &hit);
				if (!hit)
					break;
				schema_probe(&c, cat[t].type, x.data, x.len, mut_names[k], &nbad);
				frames++;
			}
		}
	}
	if (nbad)
		bad("schema: %d of %zu bad requests not answered -EBADMSG", nbad, frames);
	else
		ok("schema: %zu bad requests over %zu message types all answered -EBADMSG", frames,
		   ncat);
	g_close(&c);
	proto_wbuf_free(&w);
	proto_wbuf_free(&x);
	return 0;
}

/* Well-formed requests of every type with values aimed at what exists
 * (small inode numbers, five names, eight block ids) and sometimes at the
 * extremes: they pass msg_check, so they reach the handlers. Each must get
 * an answer; only a chunk-server session may be dropped by metad. */
static int cmd_fuzz(void)
{
	const struct msg_info *cat;
	struct proto_wbuf w;
	struct g_conn c;
	size_t ncat;
	int n = o.count ? o.count : 2000, answered = 0, dropped = 0;
	int st_hist[4] = { 0 };	/* 0, ENOENT, EINVAL, other */

	cat = msg_catalogue(&ncat);
	proto_wbuf_init(&w);
	if (g_login(&c, o.server, NULL))
		return bad("fuzz: login failed"), 1;
	for (int i = 0; i < n; i++) {
		const struct msg_info *mi = &cat[rnd() % ncat];
		struct gen g = { .is_biased = 1 };
		struct proto_rbuf r;
		uint64_t reqid;
		int32_t st;
		int rc;

		/* FSYNC waits for the periodic sync; HELLO is covered elsewhere */
		if (mi->type == MSG_FSYNC || mi->type == MSG_HELLO)
			continue;
		proto_wbuf_reset(&w);
		gen_fields(&w, mi->req, 0, strlen(mi->req), &g);
		if (mi->type == MSG_LOCK)
			w.data[w.len - 1] = 0;	/* never wait: the answer must come now */
		if (msg_check(mi->type, 0, w.data, w.len)) {
			bad("fuzz: generator made an invalid %s", mi->name);
			continue;
		}
		rc = g_send(&c, mi->type, w.data, w.len, &reqid);
		if (!rc)
			rc = g_reply(&c, mi->type, reqid, &st, &r);
		if (rc) {
			if (o.role != PROTO_ROLE_CHUNKD && dropped < 5)
				bad("fuzz: a well-formed %s (request %d) got no answer: %d", mi->name, i,
				    rc);
			dropped++;
			g_close(&c);
			if (g_login(&c, o.server, NULL))
				return bad("fuzz: cannot log in again after request %d", i), 1;
			continue;
		}
		answered++;
		st_hist[st == 0 ? 0 : st == -ENOENT ? 1 : st == -EINVAL ? 2 : 3]++;
	}
	ok("fuzz: %d well-formed requests answered (%d ok, %d ENOENT, %d EINVAL, %d other), "
	   "%d connections dropped", answered, st_hist[0], st_hist[1], st_hist[2], st_hist[3],
	   dropped);
	g_close(&c);
	proto_wbuf_free(&w);
	return 0;
}

/* ---- framing attacks ---- */

static int cmd_random(void)
{
	int rounds = o.count ? o.count : 100, closed = 0;
	uint8_t buf[4096];

	for (int i = 0; i < rounds; i++) {
		struct g_conn c;
		size_t n = 1 + rnd() % sizeof(buf);

		if (i % 2 ? g_login(&c, o.server, NULL) : g_open(&c, o.server)) {
			bad("random: connect %d failed", i);
			return 1;
		}
		rnd_fill(buf, n);
		net_write_full(c.fd, buf, n);
		shutdown(c.fd, SHUT_WR);
		closed += g_wait_closed(c.fd, 3000);
		g_close(&c);
	}
	ok("random: %d connections of random bytes sent (%d closed by the daemon in time)", rounds,
	   closed);
	return 0;
}

/* Headers announcing more than PROTO_FRAME_MAX: the daemon must close each
 * connection without waiting for (or allocating) the payload. The sockets
 * are held open together so that an allocation per frame would show. */
static int cmd_oversize(void)
{
	static const uint32_t lens[] = { PROTO_FRAME_MAX + 1, 0x7fffffffu, UINT32_MAX };
	enum { PER = 10 };
	struct g_conn c[3 * PER];
	uint8_t junk[65536];
	int n = 0, closed = 0;

	memset(junk, 0x5a, sizeof(junk));
	for (int l = 0; l < 3; l++) {
		for (int i = 0; i < PER; i++, n++) {
			int rc = i % 2 ? g_login(&c[n], o.server, NULL) : g_open(&c[n], o.server);

			if (rc) {
				bad("oversize: connect failed: %s", strerror(-rc));
				return 1;
			}
			g_send_raw(&c[n], MSG_PING, 0, 7, lens[l], NULL, 0);
			/* may fail once the daemon has closed: that is the point */
			send(c[n].fd, junk, sizeof(junk), MSG_NOSIGNAL | MSG_DONTWAIT);
		}
	}
	for (int i = 0; i < n; i++) {
		closed += g_wait_closed(c[i].fd, 5000);
		g_close(&c[i]);
	}
	if (closed == n)
		ok("oversize: all %d connections announcing > PROTO_FRAME_MAX were closed", n);
	else
		bad("oversize: only %d of %d oversized frames closed their connection", closed, n);
	return 0;
}

static void frame_bytes(struct proto_wbuf *f, uint16_t type, uint64_t reqid,
			const struct proto_wbuf *payload)
{
	proto_frame_begin(f, type, 0, reqid);
	proto_put_raw(f, payload->data, payload->len);
	proto_frame_finish(f);
}

/* Every prefix of HELLO + one request, then close. */
static int cmd_truncate(int is_meta)
{
	struct proto_wbuf p, all, f;
	struct blk_id id;
	int n = 0;

	proto_wbuf_init(&p);
	proto_wbuf_init(&all);
	proto_wbuf_init(&f);
	proto_put_u16(&p, PROTO_VERSION);
	proto_put_u8(&p, o.role);
	proto_put_uuid(&p, &(struct casfs_uuid){ { 0 } });
	proto_put_str(&p, o.auth);
	proto_put_u64(&p, 0);
	proto_put_str(&p, "garbage-trunc");
	frame_bytes(&f, MSG_HELLO, 1, &p);
	proto_put_raw(&all, f.data, f.len);
	proto_wbuf_reset(&p);
	if (is_meta) {
		proto_put_u64(&p, CASFS_ROOT_INO);
		put_name_raw(&p, "nothing-here", 12);
		frame_bytes(&f, MSG_LOOKUP, 2, &p);
	} else {
		rnd_id(&id);
		proto_put_u32(&p, 1);
		proto_put_blkid(&p, &id);
		frame_bytes(&f, MSG_BLK_HAVE, 2, &p);
	}
	proto_put_raw(&all, f.data, f.len);
	for (size_t cut = 1; cut < all.len; cut++, n++) {
		struct g_conn c;

		if (g_open(&c, o.server)) {
			bad("truncate: connect failed at %zu bytes", cut);
			return 1;
		}
		net_write_full(c.fd, all.data, cut);
		g_close(&c);
	}
	ok("truncate: %d truncated frames sent, each followed by a close", n);
	proto_wbuf_free(&p);
	proto_wbuf_free(&all);
	proto_wbuf_free(&f);
	return 0;
}

/* Unknown flag bits are a framing error: the connection must be closed. */
static int cmd_flags(void)
{
	int closed = 0, n = 0;

	for (int bit = 1; bit <= 16; bit++, n++) {
		uint16_t flags = bit == 16 ? 0xffff : (uint16_t)(1u << bit);
		struct g_conn c;

		if (g_login(&c, o.server, NULL)) {
			bad("flags: login failed");
			return 1;
		}
		g_send_raw(&c, MSG_PING, flags, 9, 0, NULL, 0);
		if (g_wait_closed(c.fd, 5000))
			closed++;
		else
			bad("flags: 0x%04x left the connection open", flags);
		g_close(&c);
	}
	if (closed == n)
		ok("flags: %d frames with unknown flag bits each closed their connection", n);
	return 0;
}

/* Unknown types answer -EPROTO and leave the connection usable. */
static int cmd_types(void)
{
	static const uint16_t types[] = { 0, 3, 9, 33, 39, 45, 59, 67, 79, 84, 99, 107, 255,
					  1000, 4096, 65535 };
	struct g_conn c;
	uint8_t junk[32];
	int32_t st;

	if (g_login(&c, o.server, NULL)) {
		bad("types: login failed");
		return 1;
	}
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct proto_rbuf r;
		uint64_t reqid;
		size_t n = i % 2 ? sizeof(junk) : 0;
		int rc;

		rnd_fill(junk, sizeof(junk));
		rc = g_send(&c, types[i], junk, n, &reqid);
		if (!rc)
			rc = g_reply(&c, types[i], reqid, &st, &r);
		if (rc) {
			bad("types: unknown type %u: transport error %d", types[i], rc);
			return 1;
		}
		if (st != -EPROTO)
			bad("types: unknown type %u answered %d, not -EPROTO", types[i], st);
	}
	if (g_call(&c, MSG_PING, NULL, &st, NULL) || st)
		bad("types: PING after unknown types failed");
	else
		ok("types: unknown message types answered -EPROTO, connection still serves");
	g_close(&c);
	return 0;
}

/* Requests before HELLO are refused with -EPROTO (or the connection is
 * closed) and do nothing. */
static int cmd_prehello(int is_meta)
{
	struct g_conn c;
	struct proto_wbuf *w;
	struct proto_rbuf r;
	struct blk_id id;
	uint64_t reqid;
	int32_t st;
	int rc;

	for (int i = 0; i < 4; i++) {
		uint16_t type;

		w = wb();
		if (g_open(&c, o.server))
			return bad("prehello: connect failed"), 1;
		switch (i) {
		case 0: type = MSG_PING; break;
		case 1:
			type = is_meta ? MSG_MKDIR : MSG_BLK_HAVE;
			if (is_meta) {
				proto_put_u64(w, CASFS_ROOT_INO);
				proto_put_str(w, "made-before-hello");
				proto_put_u32(w, 040755);
				proto_put_u32(w, 0);
				proto_put_u32(w, 0);
			} else {
				rnd_id(&id);
				proto_put_u32(w, 1);
				proto_put_blkid(w, &id);
			}
			break;
		case 2:
			type = is_meta ? MSG_GETATTR : MSG_BLK_GET;
			if (is_meta) {
				proto_put_u64(w, CASFS_ROOT_INO);
			} else {
				rnd_id(&id);
				proto_put_blkid(w, &id);
				proto_put_u32(w, 0);
				proto_put_u32(w, 0);
			}
			break;
		default:
			type = is_meta ? MSG_ADM_STATUS : MSG_BLK_SYNC;
			if (!is_meta)
				proto_put_u32(w, 0);
			break;
		}
		rc = g_send(&c, type, w->data, w->len, &reqid);
		if (!rc)
			rc = g_reply(&c, type, reqid, &st, &r);
		if (rc == -ECONNRESET)
			ok("prehello: %s before HELLO closed the connection", msg_lookup(type)->name);
		else if (rc)
			bad("prehello: %s before HELLO: transport error %d", msg_lookup(type)->name, rc);
		else
			expect(msg_lookup(type)->name, st, 1, -EPROTO);
		g_close(&c);
	}
	return 0;
}

/* Bad HELLOs: wrong version, role, cluster, auth, session. A refused HELLO
 * must leave the connection unable to do anything. */
static int cmd_hello(int is_meta)
{
	struct hello_in hi;
	struct hello_out ho;
	struct g_conn c;
	int32_t st;
	char what[96];

	for (int i = 0; i < 8; i++) {
		int32_t want = ANY_NEG;

		hello_defaults(&hi);
		switch (i) {
		case 0: hi.version = 0; want = -EPROTO; snprintf(what, sizeof(what), "version 0"); break;
		case 1: hi.version = PROTO_VERSION + 1; want = -EPROTO; snprintf(what, sizeof(what), "version %d", PROTO_VERSION + 1); break;
		case 2: hi.version = 0xffff; want = -EPROTO; snprintf(what, sizeof(what), "version 65535"); break;
		case 3: hi.role = 0; snprintf(what, sizeof(what), "role 0"); break;
		case 4: hi.role = 0xff; snprintf(what, sizeof(what), "role 255"); break;
		case 5:
			rnd_fill(hi.uuid.b, sizeof(hi.uuid.b));
			want = -EXDEV;
			snprintf(what, sizeof(what), "another cluster's uuid");
			break;
		case 6:
			if (!o.auth[0])
				continue;
			hi.auth = "not-the-key";
			want = -EACCES;
			snprintf(what, sizeof(what), "wrong auth key");
			break;
		default:
			if (!is_meta || o.role == PROTO_ROLE_CHUNKD)
				continue;
			hi.session = 0xdeadbeef12345ULL;
			want = -ESTALE;
			snprintf(what, sizeof(what), "resume of an unknown session");
			break;
		}
		if (g_open(&c, o.server))
			return bad("hello: connect failed"), 1;
		if (g_hello_ex(&c, &hi, &st, &ho)) {
			bad("hello: %s: no reply", what);
		} else if (expect(what, st, 1, want)) {
			int32_t st2 = 0;
			int rc = g_call(&c, MSG_PING, NULL, &st2, NULL);

			if (!rc && st2 == 0)
				bad("hello: after a refused HELLO (%s) a PING was served", what);
		}
		g_close(&c);
	}
	if (o.auth[0]) {
		hello_defaults(&hi);
		hi.auth = "";
		if (g_open(&c, o.server))
			return bad("hello: connect failed"), 1;
		if (!g_hello_ex(&c, &hi, &st, &ho))
			expect("empty auth key", st, 1, -EACCES);
		g_close(&c);
	}
	if (is_meta) {
		/* a second HELLO on a live connection */
		if (g_login(&c, o.server, NULL))
			return bad("hello: login failed"), 1;
		hello_defaults(&hi);
		if (!g_hello_ex(&c, &hi, &st, &ho))
			expect("second HELLO on one connection", st, 1, -EPROTO);
		g_close(&c);
	}
	return 0;
}

/* A reply frame where a request is expected (both before and after
 * HELLO); the daemon may ignore it or close, but must keep serving. */
static int cmd_reply(void)
{
	struct g_conn c;
	struct proto_wbuf *w = wb();
	struct casfs_attr a = { .ino = 1, .mode = 040755, .nlink = 2 };
	int32_t st;

	proto_put_i32(w, 0);
	proto_put_attr(w, &a);
	for (int i = 0; i < 3; i++) {
		int rc = i ? g_login(&c, o.server, NULL) : g_open(&c, o.server);

		if (rc)
			return bad("reply: connect failed"), 1;
		g_send_raw(&c, MSG_GETATTR, PROTO_F_REPLY, 4242, (uint32_t)w->len, w->data, w->len);
		/* a malformed reply too */
		if (i == 2)
			g_send_raw(&c, MSG_GETATTR, PROTO_F_REPLY, 4243, 3, "abc", 3);
		rc = g_call(&c, MSG_PING, NULL, &st, NULL);
		if (rc && rc != -ECONNRESET)
			bad("reply: transport error %d after a reply frame", rc);
		g_close(&c);
	}
	ok("reply: reply frames sent as requests (ignored or closed)");
	return 0;
}

/* Half-frames that stall, held while another connection must be served
 * with normal latency. */
static int cmd_slowloris(int is_meta)
{
	int n = o.count ? o.count : 20, secs = o.seconds ? o.seconds : 5;
	struct g_conn *stall = xcalloc((size_t)n, sizeof(*stall));
	struct g_conn c;
	int64_t worst = 0, end;
	int served = 0;

	for (int i = 0; i < n; i++) {
		uint8_t hb[PROTO_HDR_SIZE];
		struct proto_hdr h = { .len = 100, .type = MSG_PING, .reqid = 1 };
		int rc = i % 2 ? g_login(&stall[i], o.server, NULL) : g_open(&stall[i], o.server);

		if (rc)
			return bad("slowloris: connect %d failed: %s", i, strerror(-rc)), 1;
		proto_hdr_encode(&h, hb);
		/* half a header, or a whole header and part of its payload */
		net_write_full(stall[i].fd, hb, i % 3 ? 8 : sizeof(hb));
		if (i % 3 == 0)
			net_write_full(stall[i].fd, hb, 10);
	}
	if (g_login(&c, o.server, NULL))
		return bad("slowloris: a well-behaved peer could not log in while %d stalled", n), 1;
	end = now_ms() + secs * 1000;
	while (now_ms() < end) {
		struct proto_wbuf *w = wb();
		struct proto_rbuf r;
		int64_t t0 = now_ms();
		int32_t st;
		int rc;

		if (is_meta) {
			proto_put_u64(w, CASFS_ROOT_INO);
			rc = g_call(&c, MSG_GETATTR, w, &st, &r);
		} else {
			rc = g_call(&c, MSG_PING, NULL, &st, &r);
		}
		if (rc || st) {
			bad("slowloris: request failed while %d peers stalled: %d/%d", n, rc, st);
			break;
		}
		served++;
		if (now_ms() - t0 > worst)
			worst = now_ms() - t0;
		usleep(50000);
	}
	if (served && worst < 2000)
		ok("slowloris: %d requests served while %d peers stalled mid-frame, worst %" PRId64
		   " ms", served, n, worst);
	else if (served)
		bad("slowloris: worst latency %" PRId64 " ms while %d peers stalled", worst, n);
	g_close(&c);
	for (int i = 0; i < n; i++)
		g_close(&stall[i]);
	free(stall);
	return 0;
}

/* Hundreds of connections opened together and dropped: some silent, some
 * after HELLO, some mid-frame, some with a reset. */
static int cmd_churn(void)
{
	int n = o.count ? o.count : 300;
	struct g_conn *cs = xcalloc((size_t)n, sizeof(*cs));
	int opened = 0;

	for (int round = 0; round < 2; round++) {
		opened = 0;
		for (int i = 0; i < n; i++) {
			int rc = i % 4 == 1 ? g_login(&cs[i], o.server, NULL) : g_open(&cs[i], o.server);

			if (rc) {
				cs[i].fd = -1;
				continue;
			}
			opened++;
			if (i % 4 == 2)
				net_write_full(cs[i].fd, "\x10\x00\x00", 3);
			if (i % 4 == 3) {
				struct linger lg = { .l_onoff = 1, .l_linger = 0 };

				setsockopt(cs[i].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			}
		}
		for (int i = 0; i < n; i++)
			g_close(&cs[i]);
	}
	free(cs);
	ok("churn: 2 rounds of %d connections opened and dropped (%d connected in the last)", n,
	   opened);
	return 0;
}

/* ---- health: the daemon still answers a well-formed request ---- */

static int cmd_health(int is_meta)
{
	struct g_conn c;
	struct proto_wbuf *w = wb();
	struct proto_rbuf r;
	struct casfs_attr a;
	int32_t st;
	int rc = g_login(&c, o.server, NULL);

	if (rc)
		return bad("health: HELLO failed: %s", strerror(-rc)), 1;
	if (is_meta) {
		proto_put_u64(w, CASFS_ROOT_INO);
		rc = g_call(&c, MSG_GETATTR, w, &st, &r);
		if (!rc && !st) {
			proto_get_attr(&r, &a);
			rc = proto_get_end(&r);
		}
		if (rc || st || a.ino != CASFS_ROOT_INO || (a.mode & S_IFMT) != S_IFDIR)
			return bad("health: GETATTR of the root failed (%d/%d)", rc, st), 1;
	} else {
		struct blk_id id;
		uint32_t n;
		uint8_t present = 1;

		rnd_id(&id);
		proto_put_u32(w, 1);
		proto_put_blkid(w, &id);
		rc = g_call(&c, MSG_BLK_HAVE, w, &st, &r);
		if (!rc && !st) {
			proto_get_count(&r, 1, &n);
			proto_get_u8(&r, &present);
			rc = proto_get_end(&r);
		}
		if (rc || st || present)
			return bad("health: BLK_HAVE failed (%d/%d)", rc, st), 1;
	}
	g_close(&c);
	ok("health: daemon answers correctly");
	return 0;
}

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
	struct proto_wbuf *w = wb();
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
	struct proto_wbuf *w = wb();
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

static int cmd_chunk_lies(void)
{
	struct hello_out ho;
	struct blk_key key;
	struct blk_id id, other;
	struct put_res pr;
	struct g_conn m, c;
	const uint8_t *d;
	uint8_t *data = xmalloc(70000), *big;
	uint32_t got;
	int32_t st;
	int rc;

	if (!o.meta || g_login(&m, o.meta, &ho) || ho.seed_len == 0)
		return bad("chunk-lies: no key seed from metad (--meta)"), 1;
	g_close(&m);
	blk_key_init(&key, ho.seed, ho.seed_len);
	if (g_login(&c, o.server, NULL))
		return bad("chunk-lies: login failed"), 1;

	/* data that does not hash to its id */
	rnd_fill(data, 70000);
	blk_hash(&key, data, 70000, &id);
	data[100] ^= 1;
	blk_hash(&key, data, 70000, &other);
	data[100] ^= 1;
	rc = blk_put(&c, &other, NULL, 0, data, 70000, &pr);
	if (rc)
		bad("chunk-lies: PUT with a wrong id: transport error %d", rc);
	else
		expect("PUT whose data does not hash to its id", pr.st, 1, -EBADMSG);
	if (blk_have(&c, &other) != 0 || blk_have(&c, &id) != 0)
		bad("chunk-lies: a refused PUT stored something");
	else
		ok("refused PUT stored nothing");

	/* the null id */
	memset(&other, 0, sizeof(other));
	rc = blk_put(&c, &other, NULL, 0, data, 100, &pr);
	if (!rc)
		expect("PUT of the null id", pr.st, 1, ANY_NEG);

	/* a forged chain: a server that does not exist, and garbage addresses */
	{
		const struct hop chain[] = { { 999999, "127.0.0.1:1" }, { 999998, "no-such-host-x:7" },
					     { 999997, "127.0.0.1:99999" }, { 999996, "" } };

		rc = blk_put(&c, &id, chain, 4, data, 70000, &pr);
		if (rc) {
			bad("forged chain: transport error %d", rc);
		} else if (expect("PUT down a forged chain answers", pr.st, 1, 0)) {
			int neg = 0;

			for (int i = 1; i < pr.n; i++)
				neg += pr.cst[i] < 0;
			if (pr.n == 5 && pr.cst[0] == 0 && neg == 4)
				ok("forged chain: own copy 0, every fake server a negative status");
			else
				bad("forged chain: %d copies, own %d, %d negative (want 5, 0, 4)", pr.n,
				    pr.n ? pr.cst[0] : 1, neg);
		}
		if (blk_have(&c, &id) == 1)
			ok("forged chain: the receiver's own copy is stored");
		else
			bad("forged chain: the receiver did not keep its copy");
	}
	/* a chain longer than any goal, every hop back to the receiver itself */
	{
		struct hop loop[20];

		for (int i = 0; i < 20; i++)
			loop[i] = (struct hop){ (uint32_t)(500 + i), o.server };
		rc = blk_put(&c, &id, loop, 20, data, 70000, &pr);
		if (rc)
			bad("chain of 20 hops back to the receiver: transport error %d", rc);
		else
			ok("chain of 20 hops back to the receiver answered (status %d, %d copies)",
			   pr.st, pr.n);
	}

	/* reads past the end and offsets that overflow u32 arithmetic */
	rc = blk_get(&c, &id, 70001, 10, &st, &d, &got);
	if (!rc)
		expect("GET at offset past the end", st, 1, ANY_NEG);
	rc = blk_get(&c, &id, UINT32_MAX, UINT32_MAX, &st, &d, &got);
	if (!rc)
		expect("GET at offset 0xffffffff length 0xffffffff", st, 1, ANY_NEG);
	rc = blk_get(&c, &id, 0xfffffff0u, 0x20, &st, &d, &got);
	if (!rc)
		expect("GET where offset + length wraps u32", st, 1, ANY_NEG);
	rc = blk_get(&c, &id, 10, 0xfffffff0u, &st, &d, &got);
	if (rc || st)
		bad("GET of a too-long range: %d/%d", rc, st);
	else if (got == 70000 - 10 && !memcmp(d, data + 10, got))
		ok("GET of a too-long range is clamped to the block (%u bytes, right bytes)", got);
	else
		bad("GET of a too-long range returned %u bytes", got);
	rc = blk_get(&c, &id, 70000, 0, &st, &d, &got);
	if (!rc && (st < 0 || got == 0))
		ok("GET at exactly the end: status %d, %u bytes", st, st ? 0 : got);
	else
		bad("GET at exactly the end: %d/%d, %u bytes", rc, st, got);
	rnd_id(&other);
	rc = blk_get(&c, &other, 0, 0, &st, &d, &got);
	if (!rc)
		expect("GET of an unknown id", st, 1, -ENOENT);
	memset(&other, 0, sizeof(other));
	rc = blk_get(&c, &other, 0, 0, &st, &d, &got);
	if (!rc)
		expect("GET of the null id", st, 1, ANY_NEG);

	/* a block over the 8 MiB maximum with a correct id */
	big = xmalloc((8u << 20) + 1);
	rnd_fill(big, 4096);
	memset(big + 4096, 0x33, (8u << 20) + 1 - 4096);
	blk_hash(&key, big, (8u << 20) + 1, &other);
	rc = blk_put(&c, &other, NULL, 0, big, (8u << 20) + 1, &pr);
	if (rc)
		bad("PUT of 8 MiB + 1: transport error %d", rc);
	else if (pr.st < 0)
		ok("PUT of 8 MiB + 1 refused (status %d)", pr.st);
	else
		printf("note: PUT of a block over 8 MiB was accepted (status %d)\n", pr.st);
	free(big);
	big = NULL;

	if (g_call(&c, MSG_PING, NULL, &st, NULL) || st)
		bad("chunk-lies: connection unusable afterwards");
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
		bad("%s: transport error %d", msg_lookup(type)->name, rc);
		return rc;
	}
	if (!*st && a && proto_get_attr(&r, a))
		return -EBADMSG;
	return 0;
}

static int32_t m_entry(struct g_conn *c, uint16_t type, uint64_t parent, const char *name,
		       uint32_t mode, struct casfs_attr *a)
{
	struct proto_wbuf *w = wb();
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
	struct proto_wbuf *w = wb();
	int32_t st = -EIO;

	proto_put_u64(w, parent);
	proto_put_str(w, name);
	meta_req(c, type, w, &st, a);
	return st;
}

static int32_t m_ino_op(struct g_conn *c, uint16_t type, uint64_t ino, struct casfs_attr *a)
{
	struct proto_wbuf *w = wb();
	int32_t st = -EIO;

	proto_put_u64(w, ino);
	meta_req(c, type, w, &st, a);
	return st;
}

static int32_t m_rename(struct g_conn *c, uint64_t p1, const char *n1, uint64_t p2, const char *n2)
{
	struct proto_wbuf *w = wb();
	int32_t st = -EIO;

	proto_put_u64(w, p1);
	proto_put_str(w, n1);
	proto_put_u64(w, p2);
	proto_put_str(w, n2);
	proto_put_u32(w, 0);
	meta_req(c, MSG_RENAME, w, &st, NULL);
	return st;
}

static int32_t m_link(struct g_conn *c, uint64_t ino, uint64_t parent, const char *name)
{
	struct proto_wbuf *w = wb();
	int32_t st = -EIO;

	proto_put_u64(w, ino);
	proto_put_u64(w, parent);
	proto_put_str(w, name);
	meta_req(c, MSG_LINK, w, &st, NULL);
	return st;
}

static int32_t m_setsize(struct g_conn *c, uint64_t ino, uint64_t size, struct casfs_attr *a)
{
	struct proto_wbuf *w = wb();
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
	struct proto_wbuf *w = wb();
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
		struct proto_wbuf *w = wb();
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

static int cmd_meta_lies(void)
{
	struct casfs_attr root, dir, file, a;
	struct g_conn c;
	struct blk_id id;
	uint64_t n;
	int32_t st;
	char name[64];

	if (g_login(&c, o.server, NULL))
		return bad("meta-lies: login failed"), 1;
	snprintf(name, sizeof(name), "lies-%llu", (unsigned long long)(rnd() % 1000000));
	if (m_ino_op(&c, MSG_GETATTR, CASFS_ROOT_INO, &root))
		return bad("meta-lies: GETATTR root"), 1;
	if (m_entry(&c, MSG_MKDIR, CASFS_ROOT_INO, name, 040755, &dir))
		return bad("meta-lies: MKDIR %s failed", name), 1;
	if (m_entry(&c, MSG_CREATE, dir.ino, "file", 0100644, &file))
		return bad("meta-lies: CREATE failed"), 1;
	m_ino_op(&c, MSG_RELEASE, file.ino, NULL);

	/* names "." and ".." never become entries */
	expect("MKDIR \".\"", m_entry(&c, MSG_MKDIR, dir.ino, ".", 040755, &a), 1, ANY_NEG);
	expect("MKDIR \"..\"", m_entry(&c, MSG_MKDIR, dir.ino, "..", 040755, &a), 1, ANY_NEG);
	expect("CREATE \".\"", m_entry(&c, MSG_CREATE, dir.ino, ".", 0100644, &a), 1, ANY_NEG);
	expect("MKNOD \"..\"", m_entry(&c, MSG_MKNOD, dir.ino, "..", 0010644, &a), 1, ANY_NEG);
	expect("LINK to \"..\"", m_link(&c, file.ino, dir.ino, ".."), 1, ANY_NEG);
	expect("UNLINK \".\"", m_name_op(&c, MSG_UNLINK, dir.ino, ".", NULL), 1, ANY_NEG);
	expect("RMDIR \".\"", m_name_op(&c, MSG_RMDIR, dir.ino, ".", NULL), 1, ANY_NEG);
	expect("RMDIR \"..\"", m_name_op(&c, MSG_RMDIR, dir.ino, "..", NULL), 1, ANY_NEG);
	{
		struct proto_wbuf *w = wb();

		proto_put_u64(w, dir.ino);
		proto_put_str(w, ".");
		proto_put_str(w, "target");
		proto_put_u32(w, 0);
		proto_put_u32(w, 0);
		meta_req(&c, MSG_SYMLINK, w, &st, &a);
		expect("SYMLINK \".\"", st, 1, ANY_NEG);
	}
	/* the root cannot be renamed, moved or linked */
	expect("RENAME \".\" of the root", m_rename(&c, CASFS_ROOT_INO, ".", dir.ino, "x"), 1,
	       ANY_NEG);
	expect("RENAME \"..\" of the root", m_rename(&c, CASFS_ROOT_INO, "..", dir.ino, "x"), 1,
	       ANY_NEG);
	expect("RENAME \"..\" of a dir", m_rename(&c, dir.ino, "..", CASFS_ROOT_INO, "y"), 1,
	       ANY_NEG);
	expect("RENAME over \".\"", m_rename(&c, dir.ino, "file", dir.ino, "."), 1, ANY_NEG);
	expect("RENAME a dir into itself", m_rename(&c, CASFS_ROOT_INO, name, dir.ino, "sub"), 1,
	       -EINVAL);
	expect("RENAME from a missing parent", m_rename(&c, 0x7fffffff0ULL, "a", dir.ino, "b"), 1,
	       ANY_NEG);
	expect("LINK to a directory", m_link(&c, dir.ino, CASFS_ROOT_INO, "dirlink"), 1, -EPERM);
	expect("LINK to the root", m_link(&c, CASFS_ROOT_INO, dir.ino, "rootlink"), 1, -EPERM);
	expect("MKDIR under a file", m_entry(&c, MSG_MKDIR, file.ino, "d", 040755, &a), 1,
	       -ENOTDIR);
	expect("GETATTR of inode 0", m_ino_op(&c, MSG_GETATTR, 0, &a), 1, ANY_NEG);
	expect("GETATTR of inode 2^64-1", m_ino_op(&c, MSG_GETATTR, UINT64_MAX, &a), 1, ANY_NEG);

	/* sizes near 2^63 */
	expect("SETATTR size 2^64-1", m_setsize(&c, file.ino, UINT64_MAX, &a), 1, ANY_NEG);
	expect("SETATTR size 2^63", m_setsize(&c, file.ino, 1ULL << 63, &a), 1, ANY_NEG);
	st = m_setsize(&c, file.ino, INT64_MAX, &a);
	if (st == 0 && a.size != (uint64_t)INT64_MAX)
		bad("SETATTR size 2^63-1 answered 0 but size is %" PRIu64, a.size);
	else
		ok("SETATTR size 2^63-1: status %d", st);
	expect("SETATTR size back to 0", m_setsize(&c, file.ino, 0, &a), 1, 0);

	/* lying COMMITs */
	rnd_id(&id);
	{
		const uint32_t ghosts[] = { 77777, 0, UINT32_MAX };

		st = m_commit(&c, file.ino, 4096, 0, &id, 4096, ghosts, 3, &a);
		ok("COMMIT naming servers that do not exist: status %d", st);
	}
	st = m_commit(&c, file.ino, 0, UINT64_MAX, &id, 4096, NULL, 0, &a);
	if (st == 0 && a.size > (uint64_t)INT64_MAX)
		bad("COMMIT at index 2^64-1 made the size %" PRIu64, a.size);
	else
		ok("COMMIT at index 2^64-1: status %d", st);
	st = m_commit(&c, file.ino, UINT64_MAX, UINT64_MAX / 2, &id, 4096, NULL, 0, &a);
	expect("COMMIT with size 2^64-1", st, 1, ANY_NEG);
	st = m_commit(&c, file.ino, 0, (uint64_t)INT64_MAX / file.block_size, &id,
		      file.block_size, NULL, 0, &a);
	if (st == 0 && a.size > (uint64_t)INT64_MAX)
		bad("COMMIT at the last index before 2^63 made the size %" PRIu64, a.size);
	else
		ok("COMMIT at index 2^63/bs: status %d", st);
	expect("COMMIT of a block of 8 MiB + 1",
	       m_commit(&c, file.ino, 0, 1, &id, (8u << 20) + 1, NULL, 0, &a), 1, ANY_NEG);
	expect("COMMIT of a block of 2^32-1 bytes",
	       m_commit(&c, file.ino, 0, 2, &id, UINT32_MAX, NULL, 0, &a), 1, ANY_NEG);
	expect("COMMIT to a directory", m_commit(&c, dir.ino, 0, 0, &id, 10, NULL, 0, &a), 1,
	       ANY_NEG);
	if (m_ino_op(&c, MSG_GETATTR, file.ino, &a) == 0 && a.size <= (uint64_t)INT64_MAX)
		ok("file size still sane after lying COMMITs (%" PRIu64 ")", a.size);
	else
		bad("file size after lying COMMITs: %" PRIu64, a.size);
	/* BMAP must only name live servers, each with an address */
	{
		struct proto_wbuf *w = wb();
		struct proto_rbuf r;
		uint32_t nb, nh, ns, sid;
		int ghosts = 0;

		proto_put_u64(w, file.ino);
		proto_put_u64(w, 0);
		proto_put_u32(w, 16);
		if (g_call(&c, MSG_BMAP, w, &st, &r) || st) {
			bad("BMAP after a lying COMMIT failed (%d)", st);
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
				bad("BMAP lists servers that do not exist (%d)", ghosts);
			else
				ok("BMAP after a lying COMMIT names no ghost server");
		}
	}

	/* READDIR with a huge max, and of a file */
	if (m_readdir_all(&c, CASFS_ROOT_INO, UINT32_MAX, &n, NULL, NULL))
		bad("READDIR of the root with max 2^32-1 failed");
	else
		ok("READDIR of the root with max 2^32-1: %" PRIu64 " entries, no . or ..", n);
	{
		int rc = (int)m_readdir_all(&c, file.ino, 10, &n, NULL, NULL);

		expect("READDIR of a file", rc, 1, -ENOTDIR);
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
			rnd_id(&id);
			proto_put_blkid(&w, &id);
			proto_put_u32(&w, 65536);
		}
		if (g_call(&c, MSG_PLACE, &w, &st, &r)) {
			bad("PLACE of %u blocks: transport error", nblk);
		} else if (st == 0) {
			proto_get_count(&r, 4, &nch);
			if (nch == nblk)
				ok("PLACE of %u blocks in one frame: %u chains", nblk, nch);
			else
				bad("PLACE of %u blocks answered %u chains", nblk, nch);
		} else {
			ok("PLACE of %u blocks in one frame: status %d", nblk, st);
		}
		proto_wbuf_free(&w);
	}
	{
		static const uint32_t lens[] = { (8u << 20) + 1, UINT32_MAX };

		for (int i = 0; i < 2; i++) {
			struct proto_wbuf *w = wb();

			proto_put_u64(w, file.ino);
			proto_put_u32(w, 1);
			rnd_id(&id);
			proto_put_blkid(w, &id);
			proto_put_u32(w, lens[i]);
			meta_req(&c, MSG_PLACE, w, &st, NULL);
			/* the catalogue does not bound PLACE lengths; COMMIT refuses them */
			if (st >= 0)
				printf("note: PLACE of a block of %u bytes accepted\n", lens[i]);
			else
				ok("PLACE of a block of %u bytes refused (status %d)", lens[i], st);
		}
	}
	/* COPY_RANGE with counts and indices that overflow */
	{
		struct proto_wbuf *w = wb();

		proto_put_u64(w, file.ino);
		proto_put_u64(w, UINT64_MAX - 1);
		proto_put_u64(w, file.ino);
		proto_put_u64(w, UINT64_MAX - 2);
		proto_put_u32(w, UINT32_MAX);
		proto_put_u64(w, 0);
		meta_req(&c, MSG_COPY_RANGE, w, &st, &a);
		ok("COPY_RANGE with wrapping indices: status %d", st);
	}
	/* LOCK with an inverted range, unknown kind and type */
	for (int i = 0; i < 3; i++) {
		struct proto_wbuf *w = wb();

		proto_put_u64(w, file.ino);
		proto_put_u64(w, 1);
		proto_put_u8(w, i == 1 ? 9 : MSG_LOCK_POSIX);
		proto_put_u8(w, i == 2 ? 7 : MSG_LOCK_WRITE);
		proto_put_u64(w, i == 0 ? 100 : 0);
		proto_put_u64(w, i == 0 ? 10 : 10);
		proto_put_u32(w, 1);
		proto_put_u8(w, 0);
		meta_req(&c, MSG_LOCK, w, &st, NULL);
		expect(i == 0 ? "LOCK start > end" : i == 1 ? "LOCK kind 9" : "LOCK type 7", st, 1,
		       ANY_NEG);
	}
	/* an xattr value over 64 KiB */
	{
		struct proto_wbuf *w = wb();
		uint8_t *v = xcalloc(1, 65537);

		proto_put_u64(w, file.ino);
		proto_put_str(w, "user.big");
		proto_put_bytes(w, v, 65537);
		proto_put_u32(w, 0);
		meta_req(&c, MSG_SETXATTR, w, &st, NULL);
		expect("SETXATTR of 64 KiB + 1", st, 1, -E2BIG);
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
			struct proto_wbuf *w = wb();

			rnd_id(&id);
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
			expect(name, st, 1, ANY_NEG);
		}
	}
	if (m_ino_op(&c, MSG_GETATTR, root.ino, &a) || a.goal != root.goal ||
	    a.block_size != root.block_size)
		bad("the root's goal or block size changed");
	else
		ok("the root's goal and block size are unchanged");
	g_close(&c);
	return 0;
}

/* Admin-role lies: impossible goals, block sizes, server ids. */
static int cmd_adm_lies(void)
{
	struct g_conn c;
	struct proto_wbuf *w;
	int32_t st;
	char what[64];

	o.role = PROTO_ROLE_ADMIN;
	if (g_login(&c, o.server, NULL))
		return bad("adm-lies: login failed"), 1;
	for (int g = 0; g < 3; g++) {
		static const uint8_t goals[] = { 0, 10, 255 };

		w = wb();
		proto_put_u64(w, CASFS_ROOT_INO);
		proto_put_u8(w, goals[g]);
		proto_put_u8(w, 0);
		meta_req(&c, MSG_ADM_SET_GOAL, w, &st, NULL);
		snprintf(what, sizeof(what), "SET_GOAL %u", goals[g]);
		expect(what, st, 1, ANY_NEG);
	}
	for (int b = 0; b < 4; b++) {
		static const uint32_t sizes[] = { 0, 3000, 32768, 16u << 20 };

		w = wb();
		proto_put_u64(w, CASFS_ROOT_INO);
		proto_put_u32(w, sizes[b]);
		meta_req(&c, MSG_ADM_SET_BLOCKSIZE, w, &st, NULL);
		snprintf(what, sizeof(what), "SET_BLOCKSIZE %u", sizes[b]);
		expect(what, st, 1, ANY_NEG);
	}
	w = wb();
	proto_put_u64(w, UINT64_MAX);
	proto_put_u8(w, 2);
	proto_put_u8(w, 1);
	meta_req(&c, MSG_ADM_SET_GOAL, w, &st, NULL);
	expect("SET_GOAL of inode 2^64-1", st, 1, ANY_NEG);
	for (int i = 0; i < 2; i++) {
		w = wb();
		proto_put_u32(w, 999999);
		proto_put_u8(w, 1);
		meta_req(&c, i ? MSG_ADM_CS_REMOVE : MSG_ADM_CS_DRAIN, w, &st, NULL);
		expect(i ? "CS_REMOVE of an unknown server" : "CS_DRAIN of an unknown server", st, 1,
		       ANY_NEG);
	}
	g_close(&c);
	return 0;
}

/* Many entries with long names, then READDIR with max 2^32-1: the reply
 * must stay within a frame and the walk must see every entry once. */
static int cmd_bigdir(void)
{
	int n = o.count ? o.count : 20000, window = 64, sent = 0, done = 0, failed = 0;
	struct casfs_attr dir;
	struct g_conn c;
	uint64_t count;
	char name[PROTO_NAME_MAX + 1];
	int rc;

	if (g_login(&c, o.server, NULL))
		return bad("bigdir: login failed"), 1;
	snprintf(name, sizeof(name), "bigdir-%llu", (unsigned long long)(rnd() % 1000000));
	if (m_entry(&c, MSG_MKDIR, CASFS_ROOT_INO, name, 040755, &dir))
		return bad("bigdir: MKDIR failed"), 1;
	/* pipelined MKNODs: window requests in flight */
	while (done < n) {
		while (sent < n && sent - done < window) {
			struct proto_wbuf *w = wb();
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
				return bad("bigdir: send failed"), 1;
			sent++;
		}
		for (;;) {
			struct proto_hdr h;
			struct proto_rbuf r;
			int32_t st;

			if (net_frame_read(c.fd, PROTO_FRAME_MAX, &h, &c.in))
				return bad("bigdir: connection lost"), 1;
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
		return bad("bigdir: %d of %d MKNODs failed", failed, n), 1;
	rc = m_readdir_all(&c, dir.ino, UINT32_MAX, &count, NULL, NULL);
	if (rc)
		bad("bigdir: READDIR with max 2^32-1 over %d long names: %d", n, rc);
	else if (count != (uint64_t)n)
		bad("bigdir: READDIR saw %" PRIu64 " of %d entries", count, n);
	else
		ok("bigdir: READDIR max 2^32-1 over %d entries of 255 bytes: every entry once, frames"
		   " within the limit", n);
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

static int cmd_dump(void)
{
	struct dump_ctx d = { 0 };
	struct g_conn c;
	int rc;

	if (g_login(&c, o.server, NULL))
		return bad("dump: login failed"), 1;
	d.c = &c;
	rc = dump_dir(&d, CASFS_ROOT_INO);
	g_close(&c);
	if (rc)
		return bad("dump: walk failed: %d", rc), 1;
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

static int cmd_fake_cs(const char *ids_path)
{
	struct fake f = { .lfd = -1 };
	struct hello_out ho;
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
		return bad("fake-cs: listen: %s", strerror(-rc)), 1;
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	o.role = PROTO_ROLE_CHUNKD;
	if (g_login(&m, o.server, &ho))
		return bad("fake-cs: HELLO to metad failed"), 1;
	f.uuid = ho.uuid;
	proto_wbuf_init(&w);
	proto_put_u32(&w, 0);
	proto_put_str(&w, addr);
	proto_put_u64(&w, 1ULL << 40);
	proto_put_u64(&w, 1ULL << 40);
	proto_put_u32(&w, 0);
	rc = g_call(&m, MSG_CS_REGISTER, &w, &st, &r);
	if (rc || st || proto_get_u32(&r, &f.id))
		return bad("fake-cs: CS_REGISTER failed: %d/%d", rc, st), 1;
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

		rnd_id(&id);
		proto_put_blkid(&w, &id);
		proto_put_u32(&w, i == 0 ? 0 : i == 1 ? (8u << 20) + 1 : UINT32_MAX);
	}
	proto_put_array_end(&w, at, n);
	rc = g_call(&m, MSG_CS_INVENTORY, &w, &st, &r);
	proto_wbuf_free(&w);
	if (rc)
		return bad("fake-cs: CS_INVENTORY: transport error %d", rc), 1;
	printf("fake-cs: registered as server %u at %s claiming %u blocks (inventory status %d)\n",
	       f.id, addr, n, st);
	fflush(stdout);
	pthread_create(&acc, NULL, fake_accept_main, &f);
	end = now_ms() + (o.seconds ? o.seconds : 10) * 1000;
	while (now_ms() < end) {
		struct pollfd pfd = { .fd = m.fd, .events = POLLIN };

		if (now_ms() >= next_hb) {
			proto_wbuf_init(&w);
			proto_put_u64(&w, 1ULL << 40);
			proto_put_u64(&w, 1ULL << 40);
			proto_put_u64(&w, 0);
			proto_put_u64(&w, n);
			proto_put_u32(&w, 0);
			proto_put_u32(&w, 0);
			g_send(&m, MSG_CS_HEARTBEAT, w.data, w.len, &(uint64_t){ 0 });
			proto_wbuf_free(&w);
			next_hb = now_ms() + 1000;
		}
		if (poll(&pfd, 1, 200) <= 0)
			continue;
		if (net_frame_read(m.fd, PROTO_FRAME_MAX, &h, &m.in)) {
			bad("fake-cs: metad closed our connection");
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
	ok("fake-cs: metad kept the lying server's connection for the whole run");
	pthread_mutex_destroy(&f.lock);
	return 0;
}

/* ---- main ---- */

static void usage(void)
{
	fprintf(stderr,
		"usage: garbage --server HOST:PORT [--meta HOST:PORT] [--auth KEY]\n"
		"               [--role client|chunkd|admin] [--count N] [--seconds N] [--seed N]\n"
		"               meta|chunk COMMAND\n"
		"commands: health random oversize truncate flags types prehello hello reply\n"
		"          slowloris churn schema fuzz | chunk: lies | meta: lies adm-lies bigdir dump\n"
		"          fake-cs [--ids FILE of 'HEXID LEN' lines]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *target = NULL, *cmd = NULL, *ids = NULL;
	int is_meta, rc = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (a[0] == '-' && a[1] == '-' && !v)
			usage();
		if (!strcmp(a, "--server")) o.server = v, i++;
		else if (!strcmp(a, "--meta")) o.meta = v, i++;
		else if (!strcmp(a, "--auth")) o.auth = v, i++;
		else if (!strcmp(a, "--count")) o.count = atoi(v), i++;
		else if (!strcmp(a, "--seconds")) o.seconds = atoi(v), i++;
		else if (!strcmp(a, "--seed")) o.seed = strtoull(v, NULL, 0), i++;
		else if (!strcmp(a, "--ids")) ids = v, i++;
		else if (!strcmp(a, "--role")) {
			o.role = !strcmp(v, "chunkd") ? PROTO_ROLE_CHUNKD
				 : !strcmp(v, "admin") ? PROTO_ROLE_ADMIN : PROTO_ROLE_CLIENT;
			i++;
		} else if (!target) target = a;
		else if (!cmd) cmd = a;
		else usage();
	}
	if (!o.server || !target || !cmd)
		usage();
	rng ^= o.seed * 0x2545f4914f6cdd1dULL;
	if (!rng)
		rng = 1;
	is_meta = !strcmp(target, "meta");
	if (!is_meta && strcmp(target, "chunk"))
		usage();
	if (!strcmp(cmd, "health")) rc = cmd_health(is_meta);
	else if (!strcmp(cmd, "random")) rc = cmd_random();
	else if (!strcmp(cmd, "oversize")) rc = cmd_oversize();
	else if (!strcmp(cmd, "truncate")) rc = cmd_truncate(is_meta);
	else if (!strcmp(cmd, "flags")) rc = cmd_flags();
	else if (!strcmp(cmd, "types")) rc = cmd_types();
	else if (!strcmp(cmd, "prehello")) rc = cmd_prehello(is_meta);
	else if (!strcmp(cmd, "hello")) rc = cmd_hello(is_meta);
	else if (!strcmp(cmd, "reply")) rc = cmd_reply();
	else if (!strcmp(cmd, "slowloris")) rc = cmd_slowloris(is_meta);
	else if (!strcmp(cmd, "churn")) rc = cmd_churn();
	else if (!strcmp(cmd, "schema")) rc = cmd_schema();
	else if (!strcmp(cmd, "fuzz")) rc = cmd_fuzz();
	else if (!strcmp(cmd, "lies") && !is_meta) rc = cmd_chunk_lies();
	else if (!strcmp(cmd, "lies")) rc = cmd_meta_lies();
	else if (!strcmp(cmd, "adm-lies") && is_meta) rc = cmd_adm_lies();
	else if (!strcmp(cmd, "bigdir") && is_meta) rc = cmd_bigdir();
	else if (!strcmp(cmd, "dump") && is_meta) rc = cmd_dump();
	else if (!strcmp(cmd, "fake-cs") && is_meta) rc = cmd_fake_cs(ids);
	else usage();
	return rc || n_fail ? 1 : 0;
}
