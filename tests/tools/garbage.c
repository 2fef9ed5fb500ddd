/* garbage: a hostile peer for the integration tests of invariant 6 ("bad
 * input gets a clear error and never crashes a daemon"). It connects to a
 * real casfs-metad or casfs-chunkd and sends what a broken or lying peer
 * would: random bytes, oversized and truncated frames, unknown flags and
 * types, every catalogue request with a payload that fails its schema, bad
 * HELLOs, stalled half-frames, connection churn, and well-formed requests
 * that lie (wrong hashes, forged chains, impossible indices and sizes).
 * This file holds the connection helpers, the framing and schema attacks,
 * the well-formed fuzz and main(); garbage_lies.c the lying requests and
 * the fake chunk server.
 *
 * Each command checks the answers it gets and prints "ok ..." or
 * "FAIL ...", one line per check; it exits 1 if any check failed. Whether
 * the daemon survived (same pid, no sanitizer report, log lines) is checked
 * by the calling script, which also runs "health" after every attack.
 *
 * Test code: blocking sockets with timeouts, one thread (the fake chunk
 * server adds one per block connection, all joined before exit). */
#include "tests/tools/garbage.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs/msg.h"
#include "fs/net.h"
#include "fs/xmalloc.h"

struct g_opts g_opts = { .role = PROTO_ROLE_CLIENT, .auth = "", .count = 0, .seed = 1 };
static int n_fail, n_ok;

/* ---- reporting ---- */

void g_ok(const char *fmt, ...)
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

void g_bad(const char *fmt, ...)
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
int g_expect(const char *what, int32_t st, int n, ...)
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
		g_ok("%s (status %d)", what, st);
	else
		g_bad("%s: unexpected status %d (%s)", what, st, st < 0 ? strerror(-st) : "success");
	return hit;
}

/* ---- random values ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

uint64_t g_rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

void g_rnd_fill(void *p, size_t n)
{
	uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)g_rnd();
}

int64_t g_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- connections ---- */

int g_open(struct g_conn *c, const char *addr)
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

void g_close(struct g_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	proto_wbuf_free(&c->in);
}

int g_send_raw(struct g_conn *c, uint16_t type, uint16_t flags, uint64_t reqid,
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

int g_send(struct g_conn *c, uint16_t type, const void *p, size_t len, uint64_t *reqid)
{
	*reqid = ++c->reqid;
	return g_send_raw(c, type, 0, *reqid, (uint32_t)len, p, len);
}

/* Reads frames until the reply to reqid; *r is left after the status. A
 * reply to a type the catalogue does not know may only carry a status. */
int g_reply(struct g_conn *c, uint16_t type, uint64_t reqid, int32_t *st,
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
int g_call(struct g_conn *c, uint16_t type, const struct proto_wbuf *req, int32_t *st,
		  struct proto_rbuf *r)
{
	struct proto_rbuf dummy;
	uint64_t reqid;
	int rc = g_send(c, type, req ? req->data : NULL, req ? req->len : 0, &reqid);

	return rc ? rc : g_reply(c, type, reqid, st, r ? r : &dummy);
}

static int g_hello_ex(struct g_conn *c, const struct g_hello_in *hi, int32_t *st, struct g_hello_out *ho)
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

static void hello_defaults(struct g_hello_in *hi)
{
	memset(hi, 0, sizeof(*hi));
	hi->version = PROTO_VERSION;
	hi->role = g_opts.role;
	hi->auth = g_opts.auth;
}

/* Connects to addr and says a correct HELLO; 0 or a negative errno. */
int g_login(struct g_conn *c, const char *addr, struct g_hello_out *ho)
{
	struct g_hello_in hi;
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
int g_wait_closed(int fd, int ms)
{
	int64_t end = g_now_ms() + ms;
	uint8_t buf[4096];

	for (;;) {
		int64_t left = end - g_now_ms();
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

void g_put_name_raw(struct proto_wbuf *w, const void *p, uint16_t len)
{
	proto_put_u16(w, len);
	proto_put_raw(w, p, len);
}

struct proto_wbuf *g_wb(void)
{
	static struct proto_wbuf w;
	static int init;

	if (!init)
		proto_wbuf_init(&w);
	init = 1;
	proto_wbuf_reset(&w);
	return &w;
}

void g_rnd_id(struct blk_id *id)
{
	id->alg = BLK_ALG_XXH3_128K;
	g_rnd_fill(id->hash, sizeof(id->hash));
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
	switch (g_rnd() % 10) {
	case 7: return g_rnd();
	case 8: return UINT64_MAX - g_rnd() % 3;
	case 9: return 1ULL << (g_rnd() % 64);
	default: return g_rnd() % 24;
	}
}

static uint32_t bias32(void)
{
	static const uint32_t modes[] = { 040755, 0100644, 0120777, 0010644, 0140755, 0 };

	switch (g_rnd() % 10) {
	case 6: return modes[g_rnd() % 6];
	case 7: return (uint32_t)g_rnd();
	case 8: return UINT32_MAX;
	case 9: return 1u << (g_rnd() % 32);
	default: return (uint32_t)(g_rnd() % 24);
	}
}

/* A few block ids, so that references, dedup and refcounts meet. */
static void pool_id(struct blk_id *id)
{
	uint64_t k = g_rnd() % 8;

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
		case '1': proto_put_u8(w, (uint8_t)(g->is_biased ? g_rnd() % 4 : g_rnd())); break;
		case '2': proto_put_u16(w, (uint16_t)g_rnd()); break;
		case '4': case 'i':
			proto_put_u32(w, g->is_biased ? bias32() : (uint32_t)g_rnd());
			break;
		case '8': proto_put_u64(w, g->is_biased ? bias64() : g_rnd()); break;
		case 's':
		case 'n':
			n = g->is_biased ? 1 : 1 + g_rnd() % 12;
			for (size_t j = 0; j < n; j++)
				txt[j] = (char)('a' + g_rnd() % (g->is_biased ? 5 : 26));
			if (gen_pick(g, g->kind == M_STR_LONG && s[i] == 's'))
				g_put_name_raw(w, big, PROTO_STR_MAX + 1);
			else if (gen_pick(g, g->kind == M_STR_NUL))
				g_put_name_raw(w, "ab\0cd", 5);
			else if (gen_pick(g, g->kind == M_NAME_EMPTY && s[i] == 'n'))
				g_put_name_raw(w, "", 0);
			else if (gen_pick(g, g->kind == M_NAME_LONG && s[i] == 'n'))
				g_put_name_raw(w, big, PROTO_NAME_MAX + 1);
			else if (gen_pick(g, g->kind == M_NAME_SLASH && s[i] == 'n'))
				g_put_name_raw(w, "a/b", 3);
			else
				g_put_name_raw(w, txt, (uint16_t)n);
			break;
		case 'd':
			n = g_rnd() % 16;
			g_rnd_fill(txt, n);
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
				g_rnd_id(&id);
			if (gen_pick(g, g->kind == M_BLK_TAG))
				id.alg = 0x7f;
			proto_put_raw(w, &id.alg, 1);
			proto_put_raw(w, id.hash, sizeof(id.hash));
			break;
		}
		case 'u': g_rnd_fill(txt, 16); proto_put_raw(w, txt, 16); break;
		case 't':
			proto_put_u64(w, g_rnd() >> 30);
			proto_put_u32(w, gen_pick(g, g->kind == M_NSEC) ? 1000000000u
								  : (uint32_t)(g_rnd() % 1000000000));
			break;
		case 'a': {
			struct casfs_attr a = { .ino = g_rnd(), .mode = 0100644, .nlink = 1 };

			proto_put_attr(w, &a);
			break;
		}
		case '[': {
			size_t end = schema_close(s, i);
			uint32_t count = g->is_biased ? (uint32_t)(g_rnd() % 4) : 1;

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
			g_bad("schema %s %s (%zu bytes): %s %d", msg_lookup(type)->name, what, len,
			    rc ? "transport error" : "status", rc ? rc : st);
		if (rc) {
			g_close(c);
			if (g_login(c, g_opts.server, NULL))
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
	if (g_login(&c, g_opts.server, NULL)) {
		g_bad("schema: cannot log in");
		return 1;
	}
	for (size_t t = 0; t < ncat; t++) {
		const char *s = cat[t].req;

		gen_payload(&w, s, M_NONE, 0, &hit);
		if (msg_check(cat[t].type, 0, w.data, w.len)) {
			g_bad("schema generator made an invalid %s", cat[t].name);
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
		g_bad("schema: %d of %zu bad requests not answered -EBADMSG", nbad, frames);
	else
		g_ok("schema: %zu bad requests over %zu message types all answered -EBADMSG", frames,
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
	int n = g_opts.count ? g_opts.count : 2000, answered = 0, dropped = 0;
	int st_hist[4] = { 0 };	/* 0, ENOENT, EINVAL, other */

	cat = msg_catalogue(&ncat);
	proto_wbuf_init(&w);
	if (g_login(&c, g_opts.server, NULL))
		return g_bad("fuzz: login failed"), 1;
	for (int i = 0; i < n; i++) {
		const struct msg_info *mi = &cat[g_rnd() % ncat];
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
			g_bad("fuzz: generator made an invalid %s", mi->name);
			continue;
		}
		rc = g_send(&c, mi->type, w.data, w.len, &reqid);
		if (!rc)
			rc = g_reply(&c, mi->type, reqid, &st, &r);
		if (rc) {
			if (g_opts.role != PROTO_ROLE_CHUNKD && dropped < 5)
				g_bad("fuzz: a well-formed %s (request %d) got no answer: %d", mi->name, i,
				    rc);
			dropped++;
			g_close(&c);
			if (g_login(&c, g_opts.server, NULL))
				return g_bad("fuzz: cannot log in again after request %d", i), 1;
			continue;
		}
		answered++;
		st_hist[st == 0 ? 0 : st == -ENOENT ? 1 : st == -EINVAL ? 2 : 3]++;
	}
	g_ok("fuzz: %d well-formed requests answered (%d ok, %d ENOENT, %d EINVAL, %d other), "
	   "%d connections dropped", answered, st_hist[0], st_hist[1], st_hist[2], st_hist[3],
	   dropped);
	g_close(&c);
	proto_wbuf_free(&w);
	return 0;
}

/* ---- framing attacks ---- */

static int cmd_random(void)
{
	int rounds = g_opts.count ? g_opts.count : 100, closed = 0;
	uint8_t buf[4096];

	for (int i = 0; i < rounds; i++) {
		struct g_conn c;
		size_t n = 1 + g_rnd() % sizeof(buf);

		if (i % 2 ? g_login(&c, g_opts.server, NULL) : g_open(&c, g_opts.server)) {
			g_bad("random: connect %d failed", i);
			return 1;
		}
		g_rnd_fill(buf, n);
		net_write_full(c.fd, buf, n);
		shutdown(c.fd, SHUT_WR);
		closed += g_wait_closed(c.fd, 3000);
		g_close(&c);
	}
	g_ok("random: %d connections of random bytes sent (%d closed by the daemon in time)", rounds,
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
			int rc = i % 2 ? g_login(&c[n], g_opts.server, NULL) : g_open(&c[n], g_opts.server);

			if (rc) {
				g_bad("oversize: connect failed: %s", strerror(-rc));
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
		g_ok("oversize: all %d connections announcing > PROTO_FRAME_MAX were closed", n);
	else
		g_bad("oversize: only %d of %d oversized frames closed their connection", closed, n);
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
	proto_put_u8(&p, g_opts.role);
	proto_put_uuid(&p, &(struct casfs_uuid){ { 0 } });
	proto_put_str(&p, g_opts.auth);
	proto_put_u64(&p, 0);
	proto_put_str(&p, "garbage-trunc");
	frame_bytes(&f, MSG_HELLO, 1, &p);
	proto_put_raw(&all, f.data, f.len);
	proto_wbuf_reset(&p);
	if (is_meta) {
		proto_put_u64(&p, CASFS_ROOT_INO);
		g_put_name_raw(&p, "nothing-here", 12);
		frame_bytes(&f, MSG_LOOKUP, 2, &p);
	} else {
		g_rnd_id(&id);
		proto_put_u32(&p, 1);
		proto_put_blkid(&p, &id);
		frame_bytes(&f, MSG_BLK_HAVE, 2, &p);
	}
	proto_put_raw(&all, f.data, f.len);
	for (size_t cut = 1; cut < all.len; cut++, n++) {
		struct g_conn c;

		if (g_open(&c, g_opts.server)) {
			g_bad("truncate: connect failed at %zu bytes", cut);
			return 1;
		}
		net_write_full(c.fd, all.data, cut);
		g_close(&c);
	}
	g_ok("truncate: %d truncated frames sent, each followed by a close", n);
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

		if (g_login(&c, g_opts.server, NULL)) {
			g_bad("flags: login failed");
			return 1;
		}
		g_send_raw(&c, MSG_PING, flags, 9, 0, NULL, 0);
		if (g_wait_closed(c.fd, 5000))
			closed++;
		else
			g_bad("flags: 0x%04x left the connection open", flags);
		g_close(&c);
	}
	if (closed == n)
		g_ok("flags: %d frames with unknown flag bits each closed their connection", n);
	return 0;
}

/* Unknown types answer -EPROTO and leave the connection usable. */
static int cmd_types(void)
{
	static const uint16_t types[] = { 0, 3, 9, 33, 39, 45, 59, 67, 79, 85, 99, 107, 255,
					  1000, 4096, 65535 };
	struct g_conn c;
	uint8_t junk[32];
	int32_t st;

	if (g_login(&c, g_opts.server, NULL)) {
		g_bad("types: login failed");
		return 1;
	}
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct proto_rbuf r;
		uint64_t reqid;
		size_t n = i % 2 ? sizeof(junk) : 0;
		int rc;

		g_rnd_fill(junk, sizeof(junk));
		rc = g_send(&c, types[i], junk, n, &reqid);
		if (!rc)
			rc = g_reply(&c, types[i], reqid, &st, &r);
		if (rc) {
			g_bad("types: unknown type %u: transport error %d", types[i], rc);
			return 1;
		}
		if (st != -EPROTO)
			g_bad("types: unknown type %u answered %d, not -EPROTO", types[i], st);
	}
	if (g_call(&c, MSG_PING, NULL, &st, NULL) || st)
		g_bad("types: PING after unknown types failed");
	else
		g_ok("types: unknown message types answered -EPROTO, connection still serves");
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

		w = g_wb();
		if (g_open(&c, g_opts.server))
			return g_bad("prehello: connect failed"), 1;
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
				g_rnd_id(&id);
				proto_put_u32(w, 1);
				proto_put_blkid(w, &id);
			}
			break;
		case 2:
			type = is_meta ? MSG_GETATTR : MSG_BLK_GET;
			if (is_meta) {
				proto_put_u64(w, CASFS_ROOT_INO);
			} else {
				g_rnd_id(&id);
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
			g_ok("prehello: %s before HELLO closed the connection", msg_lookup(type)->name);
		else if (rc)
			g_bad("prehello: %s before HELLO: transport error %d", msg_lookup(type)->name, rc);
		else
			g_expect(msg_lookup(type)->name, st, 1, -EPROTO);
		g_close(&c);
	}
	return 0;
}

/* Bad HELLOs: wrong version, role, cluster, auth, session. A refused HELLO
 * must leave the connection unable to do anything. */
static int cmd_hello(int is_meta)
{
	struct g_hello_in hi;
	struct g_hello_out ho;
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
			g_rnd_fill(hi.uuid.b, sizeof(hi.uuid.b));
			want = -EXDEV;
			snprintf(what, sizeof(what), "another cluster's uuid");
			break;
		case 6:
			if (!g_opts.auth[0])
				continue;
			hi.auth = "not-the-key";
			want = -EACCES;
			snprintf(what, sizeof(what), "wrong auth key");
			break;
		default:
			if (!is_meta || g_opts.role == PROTO_ROLE_CHUNKD)
				continue;
			hi.session = 0xdeadbeef12345ULL;
			want = -ESTALE;
			snprintf(what, sizeof(what), "resume of an unknown session");
			break;
		}
		if (g_open(&c, g_opts.server))
			return g_bad("hello: connect failed"), 1;
		if (g_hello_ex(&c, &hi, &st, &ho)) {
			g_bad("hello: %s: no reply", what);
		} else if (g_expect(what, st, 1, want)) {
			int32_t st2 = 0;
			int rc = g_call(&c, MSG_PING, NULL, &st2, NULL);

			if (!rc && st2 == 0)
				g_bad("hello: after a refused HELLO (%s) a PING was served", what);
		}
		g_close(&c);
	}
	if (g_opts.auth[0]) {
		hello_defaults(&hi);
		hi.auth = "";
		if (g_open(&c, g_opts.server))
			return g_bad("hello: connect failed"), 1;
		if (!g_hello_ex(&c, &hi, &st, &ho))
			g_expect("empty auth key", st, 1, -EACCES);
		g_close(&c);
	}
	if (is_meta) {
		/* a second HELLO on a live connection */
		if (g_login(&c, g_opts.server, NULL))
			return g_bad("hello: login failed"), 1;
		hello_defaults(&hi);
		if (!g_hello_ex(&c, &hi, &st, &ho))
			g_expect("second HELLO on one connection", st, 1, -EPROTO);
		g_close(&c);
	}
	return 0;
}

/* A reply frame where a request is expected (both before and after
 * HELLO); the daemon may ignore it or close, but must keep serving. */
static int cmd_reply(void)
{
	struct g_conn c;
	struct proto_wbuf *w = g_wb();
	struct casfs_attr a = { .ino = 1, .mode = 040755, .nlink = 2 };
	int32_t st;

	proto_put_i32(w, 0);
	proto_put_attr(w, &a);
	for (int i = 0; i < 3; i++) {
		int rc = i ? g_login(&c, g_opts.server, NULL) : g_open(&c, g_opts.server);

		if (rc)
			return g_bad("reply: connect failed"), 1;
		g_send_raw(&c, MSG_GETATTR, PROTO_F_REPLY, 4242, (uint32_t)w->len, w->data, w->len);
		/* a malformed reply too */
		if (i == 2)
			g_send_raw(&c, MSG_GETATTR, PROTO_F_REPLY, 4243, 3, "abc", 3);
		rc = g_call(&c, MSG_PING, NULL, &st, NULL);
		if (rc && rc != -ECONNRESET && rc != -EPIPE)
			g_bad("reply: transport error %d after a reply frame", rc);
		g_close(&c);
	}
	g_ok("reply: reply frames sent as requests (ignored or closed)");
	return 0;
}

/* Half-frames that stall, held while another connection must be served
 * with normal latency. */
static int cmd_slowloris(int is_meta)
{
	int n = g_opts.count ? g_opts.count : 20, secs = g_opts.seconds ? g_opts.seconds : 5;
	struct g_conn *stall = xcalloc((size_t)n, sizeof(*stall));
	struct g_conn c;
	int64_t worst = 0, end;
	int served = 0;

	for (int i = 0; i < n; i++) {
		uint8_t hb[PROTO_HDR_SIZE];
		struct proto_hdr h = { .len = 100, .type = MSG_PING, .reqid = 1 };
		int rc = i % 2 ? g_login(&stall[i], g_opts.server, NULL) : g_open(&stall[i], g_opts.server);

		if (rc)
			return g_bad("slowloris: connect %d failed: %s", i, strerror(-rc)), 1;
		proto_hdr_encode(&h, hb);
		/* half a header, or a whole header and part of its payload */
		net_write_full(stall[i].fd, hb, i % 3 ? 8 : sizeof(hb));
		if (i % 3 == 0)
			net_write_full(stall[i].fd, hb, 10);
	}
	if (g_login(&c, g_opts.server, NULL))
		return g_bad("slowloris: a well-behaved peer could not log in while %d stalled", n), 1;
	end = g_now_ms() + secs * 1000;
	while (g_now_ms() < end) {
		struct proto_wbuf *w = g_wb();
		struct proto_rbuf r;
		int64_t t0 = g_now_ms();
		int32_t st;
		int rc;

		if (is_meta) {
			proto_put_u64(w, CASFS_ROOT_INO);
			rc = g_call(&c, MSG_GETATTR, w, &st, &r);
		} else {
			rc = g_call(&c, MSG_PING, NULL, &st, &r);
		}
		if (rc || st) {
			g_bad("slowloris: request failed while %d peers stalled: %d/%d", n, rc, st);
			break;
		}
		served++;
		if (g_now_ms() - t0 > worst)
			worst = g_now_ms() - t0;
		usleep(50000);
	}
	if (served && worst < 2000)
		g_ok("slowloris: %d requests served while %d peers stalled mid-frame, worst %" PRId64
		   " ms", served, n, worst);
	else if (served)
		g_bad("slowloris: worst latency %" PRId64 " ms while %d peers stalled", worst, n);
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
	int n = g_opts.count ? g_opts.count : 300;
	struct g_conn *cs = xcalloc((size_t)n, sizeof(*cs));
	int opened = 0;

	for (int round = 0; round < 2; round++) {
		opened = 0;
		for (int i = 0; i < n; i++) {
			int rc = i % 4 == 1 ? g_login(&cs[i], g_opts.server, NULL) : g_open(&cs[i], g_opts.server);

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
	g_ok("churn: 2 rounds of %d connections opened and dropped (%d connected in the last)", n,
	   opened);
	return 0;
}

/* One HELLO + PING on a fresh connection; its time in *ms. */
static int hold_probe(int64_t *ms)
{
	struct g_conn c;
	int64_t t0 = g_now_ms();
	int32_t st = 0;
	int rc = g_login(&c, g_opts.server, NULL);

	if (!rc) {
		rc = g_call(&c, MSG_PING, NULL, &st, NULL);
		rc = rc ? rc : st;
		g_close(&c);
	}
	*ms = g_now_ms() - t0;
	return rc;
}

/* Connection slots: --count (300) silent sockets that never say HELLO, then
 * as many logged-in connections left idle. While either set is held open,
 * a new client must be served at once: the daemon has to make room. */
static int cmd_hold(void)
{
	int n = g_opts.count ? g_opts.count : 300, opened = 0, rc;
	struct g_conn *cs = xcalloc((size_t)n, sizeof(*cs));
	int64_t ms;

	for (int i = 0; i < n; i++)
		if (g_open(&cs[i], g_opts.server))
			cs[i].fd = -1;
		else
			opened++;
	rc = hold_probe(&ms);
	if (rc)
		g_bad("hold: with %d silent connections open a client failed: %s", opened,
		      strerror(-rc));
	else if (ms > 5000)
		g_bad("hold: with %d silent connections open a client waited %" PRId64 " ms", opened,
		      ms);
	else
		g_ok("hold: with %d silent connections open a client was served in %" PRId64 " ms",
		     opened, ms);
	for (int i = 0; i < n; i++)
		g_close(&cs[i]);
	opened = 0;
	for (int i = 0; i < n; i++)
		if (g_login(&cs[i], g_opts.server, NULL))
			cs[i].fd = -1;
		else
			opened++;
	/* the oldest idle ones must have been idle a while to be cut */
	poll(NULL, 0, 1500);
	rc = hold_probe(&ms);
	if (rc)
		g_bad("hold: with %d idle logged-in connections open a client failed: %s", opened,
		      strerror(-rc));
	else
		g_ok("hold: with %d idle logged-in connections open a client was served in %" PRId64
		     " ms", opened, ms);
	for (int i = 0; i < n; i++)
		g_close(&cs[i]);
	free(cs);
	return 0;
}

/* Slow readers: connections that pipeline requests as fast as the daemon
 * takes them and never read a reply. The daemon must stop reading from
 * them (bounded output per connection) and keep serving a normal peer. */
static int cmd_slowread(int is_meta)
{
	int n = g_opts.count ? g_opts.count : 8;
	struct g_conn *cs = xcalloc((size_t)n, sizeof(*cs));
	struct proto_wbuf batch, *w = g_wb();
	struct g_conn c;
	size_t total = 0;
	int64_t worst = 0;

	proto_wbuf_init(&batch);
	if (is_meta)
		proto_put_u64(w, CASFS_ROOT_INO);
	/* 64 KiB of back-to-back GETATTR (metad) or PING (chunkd) frames */
	while (batch.len + PROTO_HDR_SIZE + w->len <= 65536) {
		struct proto_hdr h = { .len = (uint32_t)w->len,
				       .type = is_meta ? MSG_GETATTR : MSG_PING,
				       .reqid = batch.len + 1000 };
		uint8_t hb[PROTO_HDR_SIZE];

		proto_hdr_encode(&h, hb);
		proto_put_raw(&batch, hb, sizeof(hb));
		proto_put_raw(&batch, w->data, w->len);
	}
	for (int i = 0; i < n; i++) {
		int64_t stuck_since = 0;
		size_t sent = 0, off = 0;

		if (g_login(&cs[i], g_opts.server, NULL))
			return g_bad("slowread: login %d failed", i), 1;
		/* until the daemon has not taken a byte for half a second, or 256 MiB */
		while (sent < (256u << 20)) {
			ssize_t k = send(cs[i].fd, batch.data + off, batch.len - off,
					 MSG_DONTWAIT | MSG_NOSIGNAL);

			if (k > 0) {
				sent += (size_t)k;
				off = (off + (size_t)k) % batch.len;
				stuck_since = 0;
				continue;
			}
			if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
				return g_bad("slowread: send: %s", strerror(errno)), 1;
			if (!stuck_since)
				stuck_since = g_now_ms();
			else if (g_now_ms() - stuck_since > 500)
				break;
			usleep(10000);
		}
		total += sent;
	}
	if (g_login(&c, g_opts.server, NULL))
		return g_bad("slowread: a normal peer cannot log in beside %d slow readers", n), 1;
	for (int i = 0; i < 20; i++) {
		struct proto_wbuf *q = g_wb();
		int64_t t0 = g_now_ms();
		int32_t st;
		int rc;

		if (is_meta)
			proto_put_u64(q, CASFS_ROOT_INO);
		rc = g_call(&c, is_meta ? MSG_GETATTR : MSG_PING, is_meta ? q : NULL, &st, NULL);
		if (rc || st)
			return g_bad("slowread: a normal request failed beside slow readers: %d/%d", rc,
				     st), 1;
		if (g_now_ms() - t0 > worst)
			worst = g_now_ms() - t0;
	}
	printf("slowread: %d connections pushed %zu MiB of requests without reading\n", n,
	       total >> 20);
	if (worst < 2000)
		g_ok("slowread: a normal peer was served beside %d slow readers (worst %" PRId64
		     " ms)", n, worst);
	else
		g_bad("slowread: worst latency %" PRId64 " ms beside slow readers", worst);
	g_close(&c);
	for (int i = 0; i < n; i++)
		g_close(&cs[i]);
	free(cs);
	proto_wbuf_free(&batch);
	return 0;
}

/* ---- health: the daemon still answers a well-formed request ---- */

static int cmd_health(int is_meta)
{
	struct g_conn c;
	struct proto_wbuf *w = g_wb();
	struct proto_rbuf r;
	struct casfs_attr a;
	int32_t st;
	int rc = g_login(&c, g_opts.server, NULL);

	if (rc)
		return g_bad("health: HELLO failed: %s", strerror(-rc)), 1;
	if (is_meta) {
		proto_put_u64(w, CASFS_ROOT_INO);
		rc = g_call(&c, MSG_GETATTR, w, &st, &r);
		if (!rc && !st) {
			proto_get_attr(&r, &a);
			rc = proto_get_end(&r);
		}
		if (rc || st || a.ino != CASFS_ROOT_INO || (a.mode & S_IFMT) != S_IFDIR)
			return g_bad("health: GETATTR of the root failed (%d/%d)", rc, st), 1;
	} else {
		struct blk_id id;
		uint32_t n;
		uint8_t present = 1;

		g_rnd_id(&id);
		proto_put_u32(w, 1);
		proto_put_blkid(w, &id);
		rc = g_call(&c, MSG_BLK_HAVE, w, &st, &r);
		if (!rc && !st) {
			proto_get_count(&r, 1, &n);
			proto_get_u8(&r, &present);
			rc = proto_get_end(&r);
		}
		if (rc || st || present)
			return g_bad("health: BLK_HAVE failed (%d/%d)", rc, st), 1;
	}
	g_close(&c);
	g_ok("health: daemon answers correctly");
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
		"          slowloris slowread churn schema fuzz | chunk: lies hold\n"
		"          | meta: lies adm-lies bigdir dump\n"
		"          fake-cs [--ids FILE of 'HEXID LEN' lines] cs-lies\n"
		"          cs-register --count ID\n");
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
		if (!strcmp(a, "--server")) g_opts.server = v, i++;
		else if (!strcmp(a, "--meta")) g_opts.meta = v, i++;
		else if (!strcmp(a, "--auth")) g_opts.auth = v, i++;
		else if (!strcmp(a, "--count")) g_opts.count = (int)strtoul(v, NULL, 0), i++;
		else if (!strcmp(a, "--seconds")) g_opts.seconds = atoi(v), i++;
		else if (!strcmp(a, "--seed")) g_opts.seed = strtoull(v, NULL, 0), i++;
		else if (!strcmp(a, "--ids")) ids = v, i++;
		else if (!strcmp(a, "--role")) {
			g_opts.role = !strcmp(v, "chunkd") ? PROTO_ROLE_CHUNKD
				 : !strcmp(v, "admin") ? PROTO_ROLE_ADMIN : PROTO_ROLE_CLIENT;
			i++;
		} else if (!target) target = a;
		else if (!cmd) cmd = a;
		else usage();
	}
	if (!g_opts.server || !target || !cmd)
		usage();
	rng ^= g_opts.seed * 0x2545f4914f6cdd1dULL;
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
	else if (!strcmp(cmd, "hold") && !is_meta) rc = cmd_hold();
	else if (!strcmp(cmd, "slowread")) rc = cmd_slowread(is_meta);
	else if (!strcmp(cmd, "schema")) rc = cmd_schema();
	else if (!strcmp(cmd, "fuzz")) rc = cmd_fuzz();
	else if (!strcmp(cmd, "lies") && !is_meta) rc = cmd_chunk_lies();
	else if (!strcmp(cmd, "lies")) rc = cmd_meta_lies();
	else if (!strcmp(cmd, "adm-lies") && is_meta) rc = cmd_adm_lies();
	else if (!strcmp(cmd, "bigdir") && is_meta) rc = cmd_bigdir();
	else if (!strcmp(cmd, "dump") && is_meta) rc = cmd_dump();
	else if (!strcmp(cmd, "fake-cs") && is_meta) rc = cmd_fake_cs(ids);
	else if (!strcmp(cmd, "cs-lies") && is_meta) rc = cmd_cs_lies();
	else if (!strcmp(cmd, "cs-register") && is_meta) rc = cmd_cs_register();
	else usage();
	return rc || n_fail ? 1 : 0;
}
