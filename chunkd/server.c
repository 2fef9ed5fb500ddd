/* chunk_server: the chunk server's listening side.
 *
 * Threads: one accept thread, and one thread per connection doing blocking
 * I/O under socket timeouts (conf.timeout_ms), so a slow or stalled peer
 * stalls only its own thread. Connections are capped (conf.max_conns); one
 * over the cap is closed at once. A connection's requests are served in
 * order, one at a time (replies keep the request id); clients get
 * parallelism from several connections. Between requests a connection may
 * stay idle up to conf.idle_timeout_ms; one that has not completed HELLO
 * gets conf.hello_timeout_ms from accept, so silent sockets cannot hold
 * the slots. At the cap the accept thread makes room instead of refusing:
 * it cuts the oldest connection still without HELLO, else the one idle
 * longest (at least SERVER_BUSY_MS, never one mid-request), so a peer
 * holding many connections cannot lock the others out.
 *
 * Log lines about a peer (bad frames, refused HELLOs, cut frames) name its
 * address and are rate-limited per connection (a burst, then one a second),
 * so a flood over one connection cannot fill the disk.
 *
 * Every connection starts with HELLO (role client or chunkd, our cluster
 * uuid or zeros); block traffic is refused until the meta thread has
 * registered us and knows the cluster's key, since nothing can be verified
 * before that. Every frame is checked with msg_check before decoding; a
 * broken frame closes that connection with one log line.
 *
 * BLK_PUT: verify the id, send the block on to the next server of the chain
 * (pooled peer connection), store our copy while the rest of the chain
 * works, then collect the chain's answer. If the next server fails, we try
 * the one after it directly, so one dead server costs one copy, not the
 * rest of the chain; every server gets a status in the reply.
 *
 * The local socket (an abstract Unix name made from our registered address,
 * so only processes on this host reach it) serves the same frames, plus
 * BLK_OPEN: the reply carries the block's file, opened read-only, so a
 * client on this host reads it with pread instead of through two TCP
 * stacks and this daemon (a 512 MiB read about 15 % faster with the files
 * on disk, 45 % from the page cache; client/README.md). The file is
 * handed over only once its bytes have been hashed (the same stamp check
 * as a sendfile GET), the client hashes what it reads anyway, and only
 * root or our own user may connect: block files hold every user's data. */
#include "chunkd/server.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chunkd/meta.h"
#include "chunkd/peer.h"
#include "fs/log.h"
#include "fs/msg.h"
#include "fs/net.h"
#include "fs/xmalloc.h"

/* The longest chain we forward: goals are 1..9. */
#define SERVER_CHAIN_MAX 16
/* A connection silent this long is idle: its block buffers (up to 2 x 8
 * MiB) are freed. 1 s is far above the gap between a streaming client's
 * requests (well under a millisecond), so streams never reallocate. */
#define SERVER_BUSY_MS 1000
/* Log lines about one connection: a burst of SERVER_LOG_BURST, then one a
 * second at most. */
#define SERVER_LOG_BURST 20

struct conn {
	struct chunkd *cd;
	int fd;
	int is_local;		/* came in on the local socket */
	char peer[64];
	atomic_int has_hello;
	atomic_int is_busy;		/* between a frame's first byte and its reply */
	atomic_int is_evicted;		/* cut by the accept thread to make room */
	_Atomic int64_t since_ms;	/* accept, or the end of the last request */
	int log_tokens;		/* lines it may log now */
	int is_log_muted;	/* said that lines are being dropped */
	int64_t log_refill_ms;
	uint8_t *in_mem;	/* holds the request being served, ... */
	size_t in_cap;		/* ... in_cap bytes, 4 KiB aligned */
	const uint8_t *in;	/* its payload, in in_mem (see conn_read_frame) */
	uint32_t in_len;
	struct proto_wbuf out;	/* the reply being built */
	uint8_t *blk;		/* GET buffer, grown as needed */
	uint32_t blk_cap;
	struct conn *next, **pprev;
};

/* A listening socket and its accept thread. */
struct listener {
	struct chunkd *cd;
	int fd;
	int is_local;
	int is_running;
	pthread_t thread;
};

struct chunk_server {
	struct listener tcp, local;
	pthread_mutex_t lock;	/* guards conns, nconns */
	pthread_cond_t cond;	/* signalled when a connection ends */
	struct conn *conns;
	int nconns;
	int nevicted;		/* conns cut to make room, not yet gone */
};

struct hop {
	uint32_t id;
	char addr[CHUNKD_ADDR_MAX];
	int32_t status;
};

__attribute__((format(printf, 2, 3)))
static void conn_log(struct conn *c, const char *fmt, ...)
{
	int64_t now = chunk_now_ms();
	char msg[512];
	va_list ap;

	if (now - c->log_refill_ms >= 1000) {
		c->log_tokens += (int)((now - c->log_refill_ms) / 1000);
		if (c->log_tokens > SERVER_LOG_BURST)
			c->log_tokens = SERVER_LOG_BURST;
		c->log_refill_ms = now;
	}
	if (c->log_tokens <= 0) {
		if (!c->is_log_muted)
			log_warn("%s: too many problems: logging one a second", c->peer);
		c->is_log_muted = 1;
		return;
	}
	c->log_tokens--;
	c->is_log_muted = 0;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warn("%s: %s", c->peer, msg);
}

static int send_status(struct conn *c, const struct proto_hdr *h, int32_t status)
{
	int rc;

	proto_reply_begin(&c->out, h->type, h->reqid, status);
	rc = proto_frame_finish(&c->out);
	return rc ? rc : net_frame_write(c->fd, &c->out);
}

/* ---- HELLO ---- */

static int handle_hello(struct conn *c, const struct proto_hdr *h, struct proto_rbuf *r)
{
	struct chunkd *cd = c->cd;
	struct casfs_uuid want, ours, zero = { 0 };
	char auth[PROTO_STR_MAX + 1], name[PROTO_STR_MAX + 1];
	uint64_t session;
	uint16_t version;
	uint8_t role;
	int rc;

	proto_get_u16(r, &version);
	proto_get_u8(r, &role);
	proto_get_uuid(r, &want);
	proto_get_str(r, auth, sizeof(auth));
	proto_get_u64(r, &session);
	proto_get_str(r, name, sizeof(name));
	if (proto_get_end(r)) {
		conn_log(c, "HELLO refused: malformed");
		return send_status(c, h, -EBADMSG);
	}
	if (version != PROTO_VERSION) {
		conn_log(c, "HELLO refused: protocol version %u (we speak %u)", version,
			 PROTO_VERSION);
		return send_status(c, h, -EPROTO);
	}
	if (role != PROTO_ROLE_CLIENT && role != PROTO_ROLE_CHUNKD) {
		conn_log(c, "HELLO refused: role %u is not client or chunkd", role);
		return send_status(c, h, -EPERM);
	}
	if (cd->conf.auth_key && strcmp(auth, cd->conf.auth_key) != 0) {
		conn_log(c, "HELLO refused: wrong auth key");
		return send_status(c, h, -EACCES);
	}
	if (!chunkd_wait_registered(cd, cd->conf.timeout_ms)) {
		conn_log(c, "HELLO refused: not registered with metad yet");
		return send_status(c, h, -EAGAIN);
	}
	pthread_mutex_lock(&cd->lock);
	ours = cd->uuid;
	pthread_mutex_unlock(&cd->lock);
	if (memcmp(want.b, zero.b, sizeof(zero.b)) && memcmp(want.b, ours.b, sizeof(ours.b))) {
		conn_log(c, "HELLO refused: another cluster's uuid");
		return send_status(c, h, -EXDEV);
	}
	if (!atomic_load(&c->has_hello))
		net_set_timeouts(c->fd, cd->conf.timeout_ms);
	atomic_store(&c->has_hello, 1);
	proto_reply_begin(&c->out, MSG_HELLO, h->reqid, 0);
	proto_put_u16(&c->out, PROTO_VERSION);
	proto_put_uuid(&c->out, &ours);
	proto_put_u64(&c->out, 0);
	proto_put_bytes(&c->out, NULL, 0);
	proto_put_u32(&c->out, (uint32_t)cd->conf.idle_timeout_ms);
	rc = proto_frame_finish(&c->out);
	return rc ? rc : net_frame_write(c->fd, &c->out);
}

/* ---- PUT and its chain ---- */

static int32_t io_status(int rc)
{
	return rc == -EAGAIN ? -ETIMEDOUT : rc;
}

/* Sends the block to hops[from], or the first later hop that takes it, with
 * the rest of the chain after it. Hops skipped get their error. Returns the
 * index reached (and *pc, *reqid), or -1. */
static int fwd_send(struct chunkd *cd, struct hop *hops, int n, int from, const struct blk_id *id,
		    uint32_t flags, const uint8_t *data, uint32_t len, struct chunk_peer_conn **pc,
		    uint64_t *reqid)
{
	for (int i = from; i < n; i++) {
		struct chunk_peer_conn *p;
		size_t at;
		int rc;

		rc = chunk_peer_get(cd, hops[i].addr, &p);
		if (rc) {
			hops[i].status = io_status(rc);
			continue;
		}
		*reqid = p->next_reqid++;
		proto_frame_begin(&p->buf, MSG_BLK_PUT, 0, *reqid);
		proto_put_blkid(&p->buf, id);
		proto_put_u32(&p->buf, flags);
		at = proto_put_array_begin(&p->buf);
		for (int k = i + 1; k < n; k++) {
			proto_put_u32(&p->buf, hops[k].id);
			proto_put_str(&p->buf, hops[k].addr);
		}
		proto_put_array_end(&p->buf, at, (uint32_t)(n - i - 1));
		proto_put_u32(&p->buf, len);
		rc = chunk_wire_send_with_data(p->fd, &p->buf, data, len);
		if (rc) {
			hops[i].status = io_status(rc);
			chunk_peer_release(cd, p, 0);
			continue;
		}
		*pc = p;
		return i;
	}
	return -1;
}

/* Collects the reply of hops[at] (which answers for hops[at..n)); on
 * failure marks hops[at] and resends to the hops after it. */
static void fwd_finish(struct chunkd *cd, struct hop *hops, int n, int at, const struct blk_id *id,
		       uint32_t flags, const uint8_t *data, uint32_t len, struct chunk_peer_conn *pc,
		       uint64_t reqid)
{
	while (at >= 0) {
		struct proto_rbuf r;
		int32_t status;
		uint32_t count;
		int rc;

		rc = chunk_wire_read_reply(pc->fd, MSG_BLK_PUT, reqid, &pc->buf, &status);
		if (rc) {
			log_warn("chain: server %u (%s) failed: %s", hops[at].id, hops[at].addr,
				 strerror(-rc));
			hops[at].status = io_status(rc);
			chunk_peer_release(cd, pc, 0);
		} else if (status) {
			hops[at].status = status;
			chunk_peer_release(cd, pc, 1);
		} else {
			proto_rbuf_init(&r, pc->buf.data + 4, pc->buf.len - 4);
			proto_get_count(&r, 8, &count);
			/* one entry per copy, in chain order from hops[at] */
			for (uint32_t k = 0; k < count && !r.err; k++) {
				uint32_t sid;
				int32_t st;

				proto_get_u32(&r, &sid);
				proto_get_i32(&r, &st);
				if (at + (int)k < n && !r.err)
					hops[at + k].status = st;
			}
			chunk_peer_release(cd, pc, 1);
			return;
		}
		at = fwd_send(cd, hops, n, at + 1, id, flags, data, len, &pc, &reqid);
	}
}

static int handle_put(struct conn *c, const struct proto_hdr *h, struct proto_rbuf *r)
{
	struct chunkd *cd = c->cd;
	struct hop hops[SERVER_CHAIN_MAX];
	struct chunk_peer_conn *pc = NULL;
	struct blk_id id;
	struct blk_key *key = NULL;
	const uint8_t *data;
	uint64_t reqid = 0;
	uint32_t flags, n, len, self;
	int is_new = 0, at = -1, rc;
	int32_t own;
	size_t arr;

	proto_get_blkid(r, &id);
	proto_get_u32(r, &flags);
	proto_get_count(r, 6, &n);
	if (n > SERVER_CHAIN_MAX)
		return send_status(c, h, -EINVAL);
	for (uint32_t i = 0; i < n; i++) {
		proto_get_u32(r, &hops[i].id);
		proto_get_str(r, hops[i].addr, sizeof(hops[i].addr));
		hops[i].status = -EHOSTUNREACH;
	}
	proto_get_bytes(r, &data, &len);
	if (proto_get_end(r))
		return send_status(c, h, -EBADMSG);
	if (len > CHUNK_BLOCK_MAX)
		return send_status(c, h, -EFBIG);
	key = xmalloc(sizeof(*key));
	pthread_mutex_lock(&cd->lock);
	*key = cd->key;
	self = cd->server_id;
	pthread_mutex_unlock(&cd->lock);
	/* a wrong id stops here: it is never stored nor forwarded */
	if (blk_verify(key, data, len, &id)) {
		char hex[BLK_ID_HEX_LEN + 1];

		blk_id_format(&id, hex);
		log_warn("PUT from %s: data does not match id %s: refused", c->peer, hex);
		rc = send_status(c, h, -EBADMSG);
		goto out;
	}
	if (n > 0)
		at = fwd_send(cd, hops, (int)n, 0, &id, flags, data, len, &pc, &reqid);
	own = chunk_store_put_verified(cd->store, &id, data, len, &is_new);
	if (!own && (flags & MSG_PUT_SYNC))
		own = chunk_store_sync(cd->store, &id, 1);
	if (at >= 0)
		fwd_finish(cd, hops, (int)n, at, &id, flags, data, len, pc, reqid);
	if (is_new)
		chunk_meta_added(cd, &id, len);
	if (own) {
		rc = send_status(c, h, own);
		goto out;
	}
	proto_reply_begin(&c->out, MSG_BLK_PUT, h->reqid, 0);
	arr = proto_put_array_begin(&c->out);
	proto_put_u32(&c->out, self);
	proto_put_i32(&c->out, 0);
	for (uint32_t i = 0; i < n; i++) {
		proto_put_u32(&c->out, hops[i].id);
		proto_put_i32(&c->out, hops[i].status);
	}
	proto_put_array_end(&c->out, arr, n + 1);
	rc = proto_frame_finish(&c->out);
	if (!rc)
		rc = net_frame_write(c->fd, &c->out);
out:
	free(key);
	key = NULL;
	return rc;
}

/* ---- GET, SYNC, HAVE ---- */

/* Answers a GET from a block file that holds hashed bytes (see
 * chunk_store_open_verified); closes fd. */
static int get_send_file(struct conn *c, const struct proto_hdr *h, int fd, uint32_t off,
			 uint32_t want, uint32_t len)
{
	int rc;

	if (off > len) {
		close(fd);
		return send_status(c, h, -EINVAL);
	}
	if (want == 0 || want > len - off)
		want = len - off;
	proto_reply_begin(&c->out, MSG_BLK_GET, h->reqid, 0);
	proto_put_u32(&c->out, want);
	rc = chunk_wire_send_with_file(c->fd, &c->out, fd, off, want);
	close(fd);
	return rc;
}

/* Reads and verifies block id (*len bytes long, as far as the index
 * knows) into c->blk, which grows as needed. */
static int conn_read_block(struct conn *c, const struct blk_id *id, uint32_t *len)
{
	int rc = -EIO;

	for (int attempt = 0; attempt < 2; attempt++) {
		if (*len > c->blk_cap || !c->blk) {
			free(c->blk);
			c->blk = xmalloc(*len ? *len : 1);
			c->blk_cap = *len;
		}
		rc = chunk_store_read(c->cd->store, id, c->blk, c->blk_cap, len);
		if (rc != -ENOBUFS)
			break;
	}
	return rc == -ENOBUFS ? -EIO : rc;
}

static int handle_get(struct conn *c, const struct proto_hdr *h, struct proto_rbuf *r)
{
	struct blk_id id;
	uint32_t off, want, len = 0;
	int fd, rc;

	proto_get_blkid(r, &id);
	proto_get_u32(r, &off);
	proto_get_u32(r, &want);
	if (proto_get_end(r))
		return send_status(c, h, -EBADMSG);
	if (!chunk_store_has(c->cd->store, &id, &len))
		return send_status(c, h, -ENOENT);
	if (chunk_store_open_verified(c->cd->store, &id, &fd, &len) == 0)
		return get_send_file(c, h, fd, off, want, len);
	rc = conn_read_block(c, &id, &len);
	if (rc)
		return send_status(c, h, rc);
	if (off > len)
		return send_status(c, h, -EINVAL);
	if (want == 0 || want > len - off)
		want = len - off;
	proto_reply_begin(&c->out, MSG_BLK_GET, h->reqid, 0);
	proto_put_u32(&c->out, want);
	return chunk_wire_send_with_data(c->fd, &c->out, c->blk + off, want);
}

/* Hands a client on this host the block's file (see the top comment). A
 * copy not hashed since start is read and verified first, as a GET would. */
static int handle_open(struct conn *c, const struct proto_hdr *h, struct proto_rbuf *r)
{
	struct blk_id id;
	uint32_t len = 0;
	int fd, rc;

	proto_get_blkid(r, &id);
	if (proto_get_end(r))
		return send_status(c, h, -EBADMSG);
	if (!c->is_local) {
		conn_log(c, "BLK_OPEN over TCP refused");
		return send_status(c, h, -EOPNOTSUPP);
	}
	if (!chunk_store_has(c->cd->store, &id, &len))
		return send_status(c, h, -ENOENT);
	rc = chunk_store_open_verified(c->cd->store, &id, &fd, &len);
	if (rc == -ESTALE) {
		rc = conn_read_block(c, &id, &len);
		if (!rc)
			rc = chunk_store_open_verified(c->cd->store, &id, &fd, &len);
	}
	if (rc)
		return send_status(c, h, rc == -ESTALE ? -EIO : rc);
	proto_reply_begin(&c->out, MSG_BLK_OPEN, h->reqid, 0);
	proto_put_u32(&c->out, len);
	rc = proto_frame_finish(&c->out);
	if (!rc)
		rc = net_frame_write_fd(c->fd, &c->out, fd);
	close(fd);
	return rc;
}

/* Decodes an array of block ids; *ids is xmalloc'ed. */
static int get_ids(struct proto_rbuf *r, struct blk_id **ids, uint32_t *n)
{
	if (proto_get_count(r, BLK_ID_SIZE, n))
		return -EBADMSG;
	*ids = xmalloc((*n ? *n : 1) * sizeof(**ids));
	for (uint32_t i = 0; i < *n; i++)
		proto_get_blkid(r, &(*ids)[i]);
	return proto_get_end(r);
}

static int handle_sync(struct conn *c, const struct proto_hdr *h, struct proto_rbuf *r)
{
	struct blk_id *ids = NULL;
	uint32_t n;
	int rc;

	rc = get_ids(r, &ids, &n);
	if (!rc)
		rc = chunk_store_sync(c->cd->store, ids, n);
	free(ids);
	ids = NULL;
	return send_status(c, h, rc);
}

static int handle_have(struct conn *c, const struct proto_hdr *h, struct proto_rbuf *r)
{
	struct blk_id *ids = NULL;
	uint32_t n, len;
	size_t at;
	int rc;

	rc = get_ids(r, &ids, &n);
	if (rc) {
		rc = send_status(c, h, rc);
		goto out;
	}
	proto_reply_begin(&c->out, MSG_BLK_HAVE, h->reqid, 0);
	at = proto_put_array_begin(&c->out);
	for (uint32_t i = 0; i < n; i++)
		proto_put_u8(&c->out, (uint8_t)chunk_store_has(c->cd->store, &ids[i], &len));
	proto_put_array_end(&c->out, at, n);
	rc = proto_frame_finish(&c->out);
	if (!rc)
		rc = net_frame_write(c->fd, &c->out);
out:
	free(ids);
	ids = NULL;
	return rc;
}

/* ---- connection threads ---- */

/* Serves one request; a negative return closes the connection. */
/* Where a BLK_PUT's block bytes start in its payload, from the first n
 * bytes of it; 0 when they do not reach that far. */
static size_t put_data_offset(const uint8_t *p, size_t n)
{
	struct proto_rbuf r;
	struct blk_id id;
	char addr[CHUNKD_ADDR_MAX];
	uint32_t flags, count, sid, len;

	proto_rbuf_init(&r, p, n);
	proto_get_blkid(&r, &id);
	proto_get_u32(&r, &flags);
	if (proto_get_count(&r, 6, &count) || count > SERVER_CHAIN_MAX)
		return 0;
	for (uint32_t i = 0; i < count; i++) {
		proto_get_u32(&r, &sid);
		proto_get_str(&r, addr, sizeof(addr));
	}
	proto_get_u32(&r, &len);
	return r.err ? 0 : r.off;
}

/* Reads one request into the connection's buffer. A BLK_PUT's block bytes
 * land on a 4 KiB boundary, so the store writes them with O_DIRECT from
 * where they are: the first PUT_PREFIX bytes (the id and the chain) are
 * read, the block's offset found, and that prefix moved up so the block
 * will be aligned before the rest is read in after it. Otherwise the store
 * copies every block to an aligned buffer first (7 % of all CPU in a
 * goal-1 write). */
#define PUT_PREFIX 1024
#define IN_ALIGN 4096

static int conn_read_frame(struct conn *c, struct proto_hdr *h)
{
	uint8_t hb[PROTO_HDR_SIZE];
	size_t pre, at, shift = 0;
	int rc;

	rc = net_read_full(c->fd, hb, sizeof(hb));
	if (!rc)
		rc = proto_hdr_decode(hb, PROTO_FRAME_MAX, h);
	if (rc)
		return rc;
	if ((size_t)h->len + IN_ALIGN > c->in_cap || !c->in_mem) {
		void *m;

		if (posix_memalign(&m, IN_ALIGN, (size_t)h->len + IN_ALIGN))
			return -ENOMEM;
		free(c->in_mem);
		c->in_mem = m;
		c->in_cap = (size_t)h->len + IN_ALIGN;
	}
	pre = h->type == MSG_BLK_PUT && h->len > PUT_PREFIX ? PUT_PREFIX : h->len;
	rc = net_read_full(c->fd, c->in_mem, pre);
	if (rc)
		return rc;
	if (pre < h->len && (at = put_data_offset(c->in_mem, pre)) != 0) {
		shift = (IN_ALIGN - at % IN_ALIGN) % IN_ALIGN;
		memmove(c->in_mem + shift, c->in_mem, pre);
	}
	c->in = c->in_mem + shift;
	c->in_len = h->len;
	return pre < h->len ? net_read_full(c->fd, c->in_mem + shift + pre, h->len - pre) : 0;
}

static int conn_serve(struct conn *c, const struct proto_hdr *h)
{
	struct proto_rbuf r;
	int rc;

	if (h->flags & PROTO_F_REPLY) {
		log_warn("%s: unexpected reply frame (type %u): closing", c->peer, h->type);
		return -EPROTO;
	}
	rc = msg_check(h->type, 0, c->in, c->in_len);
	if (rc) {
		conn_log(c, "bad request (type %u): %s", h->type, strerror(-rc));
		return send_status(c, h, rc);
	}
	proto_rbuf_init(&r, c->in, c->in_len);
	if (h->type == MSG_HELLO)
		return handle_hello(c, h, &r);
	if (!atomic_load(&c->has_hello)) {
		conn_log(c, "request %u before HELLO: closing", h->type);
		send_status(c, h, -EPROTO);
		return -EPROTO;
	}
	switch (h->type) {
	case MSG_PING: return send_status(c, h, 0);
	case MSG_BLK_PUT: return handle_put(c, h, &r);
	case MSG_BLK_GET: return handle_get(c, h, &r);
	case MSG_BLK_SYNC: return handle_sync(c, h, &r);
	case MSG_BLK_HAVE: return handle_have(c, h, &r);
	case MSG_BLK_OPEN: return handle_open(c, h, &r);
	default:
		conn_log(c, "request type %u (%s) is not served here", h->type,
			 msg_lookup(h->type) ? msg_lookup(h->type)->name : "?");
		return send_status(c, h, -EOPNOTSUPP);
	}
}

static void conn_release_buffers(struct conn *c)
{
	free(c->in_mem);
	c->in_mem = NULL;
	c->in = NULL;
	c->in_cap = c->in_len = 0;
	proto_wbuf_free(&c->out);
	proto_wbuf_init(&c->out);
	free(c->blk);
	c->blk = NULL;
	c->blk_cap = 0;
}

static void conn_unlink(struct chunkd *cd, struct conn *c)
{
	struct chunk_server *s = cd->server;

	pthread_mutex_lock(&s->lock);
	*c->pprev = c->next;
	if (c->next)
		c->next->pprev = c->pprev;
	s->nconns--;
	if (atomic_load(&c->is_evicted))
		s->nevicted--;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct chunkd *cd = c->cd;
	struct proto_hdr h;
	int rc;

	/* before HELLO a frame may take no longer than the HELLO deadline */
	net_set_timeouts(c->fd, cd->conf.hello_timeout_ms < cd->conf.timeout_ms ?
					cd->conf.hello_timeout_ms : cd->conf.timeout_ms);
	for (;;) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		ssize_t n;
		char byte;

		if (!atomic_load(&c->has_hello)) {
			int64_t left = atomic_load(&c->since_ms) + cd->conf.hello_timeout_ms -
				       chunk_now_ms();

			rc = left > 0 ? poll(&pfd, 1, (int)left) : 0;
			if (rc == 0) {
				conn_log(c, "no HELLO within %d ms: closing",
					 cd->conf.hello_timeout_ms);
				break;
			}
		} else {
			/* a busy stream keeps its block buffers; a connection idle
			 * for a while gives them back, so pooled idle connections
			 * cost little */
			rc = poll(&pfd, 1, SERVER_BUSY_MS);
			if (rc == 0) {
				conn_release_buffers(c);
				rc = poll(&pfd, 1, cd->conf.idle_timeout_ms);
			}
		}
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0 || atomic_load(&cd->is_stopping) || atomic_load(&c->is_evicted))
			break;
		/* end of stream between frames is a normal close */
		n = recv(c->fd, &byte, 1, MSG_PEEK);
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
			break;
		atomic_store(&c->is_busy, 1);
		rc = conn_read_frame(c, &h);
		if (rc) {
			if (atomic_load(&c->is_evicted) || atomic_load(&cd->is_stopping))
				break;
			if (rc == -ECONNRESET)
				conn_log(c, "closed mid-frame");
			else
				conn_log(c, "%s: closing",
					 rc == -EAGAIN ? "timed out mid-frame" : strerror(-rc));
			break;
		}
		atomic_fetch_add(&cd->load, 1);
		rc = conn_serve(c, &h);
		atomic_fetch_sub(&cd->load, 1);
		atomic_store(&c->since_ms, chunk_now_ms());
		atomic_store(&c->is_busy, 0);
		if (rc) {
			if (rc != -EPROTO && rc != -ECONNRESET && rc != -EPIPE)
				conn_log(c, "%s: closing", strerror(-rc));
			break;
		}
	}
	conn_unlink(cd, c);
	close(c->fd);
	free(c->in_mem);
	proto_wbuf_free(&c->out);
	free(c->blk);
	c->blk = NULL;
	free(c);
	return NULL;
}

static void format_peer(const struct sockaddr *sa, socklen_t len, char *out, size_t outlen)
{
	char host[INET6_ADDRSTRLEN + 2] = "?";
	unsigned port = 0;

	(void)len;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(out, outlen, "%s:%u", host, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		snprintf(out, outlen, "[%s]:%u", host, port);
	} else {
		snprintf(out, outlen, "peer ?");
	}
}

/* At the cap, under s->lock: cuts the oldest connection without HELLO, else
 * the one idle longest (idle at least SERVER_BUSY_MS). The victim's thread
 * sees its socket shut down and leaves; until then it counts in nevicted. */
static void server_make_room(struct chunkd *cd)
{
	struct chunk_server *s = cd->server;
	struct conn *victim = NULL;
	int64_t now = chunk_now_ms();
	int victim_hello = 1;

	for (struct conn *c = s->conns; c; c = c->next) {
		int hello = atomic_load(&c->has_hello);
		int64_t since = atomic_load(&c->since_ms);

		if (atomic_load(&c->is_evicted))
			continue;
		if (hello && (atomic_load(&c->is_busy) || now - since < SERVER_BUSY_MS))
			continue;
		if (!victim || hello < victim_hello ||
		    (hello == victim_hello && since < atomic_load(&victim->since_ms))) {
			victim = c;
			victim_hello = hello;
		}
	}
	if (!victim)
		return;
	log_warn("%s: closed to make room (%d connections; %s for %lld ms)", victim->peer,
		 cd->conf.max_conns, victim_hello ? "idle" : "no HELLO",
		 (long long)(now - atomic_load(&victim->since_ms)));
	atomic_store(&victim->is_evicted, 1);
	s->nevicted++;
	shutdown(victim->fd, SHUT_RDWR);
}

/* Admits a connection on the local socket from root or our own user only:
 * block files hold every user's data. */
static int local_peer_ok(int fd, char *peer, size_t peerlen)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
		log_warn("local connection: SO_PEERCRED: %s", strerror(errno));
		return 0;
	}
	snprintf(peer, peerlen, "local pid %d uid %u", (int)cr.pid, (unsigned)cr.uid);
	if (cr.uid != 0 && cr.uid != geteuid()) {
		log_warn("%s: refused: only root or uid %u may read block files", peer,
			 (unsigned)geteuid());
		return 0;
	}
	return 1;
}

static void *accept_main(void *arg)
{
	struct listener *l = arg;
	struct chunkd *cd = l->cd;
	struct chunk_server *s = cd->server;

	while (!atomic_load(&cd->is_stopping)) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct conn *c;
		pthread_attr_t attr;
		pthread_t t;
		char peer[64];
		int fd, one = 1;

		fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (atomic_load(&cd->is_stopping))
				break;
			log_warn("accept: %s", strerror(errno));
			usleep(100 * 1000);
			continue;
		}
		if (l->is_local && !local_peer_ok(fd, peer, sizeof(peer))) {
			close(fd);
			continue;
		}
		if (!l->is_local) {
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			format_peer((struct sockaddr *)&ss, sl, peer, sizeof(peer));
		}
		pthread_mutex_lock(&s->lock);
		if (s->nconns - s->nevicted >= cd->conf.max_conns && !atomic_load(&cd->is_stopping))
			server_make_room(cd);
		if (s->nconns - s->nevicted >= cd->conf.max_conns || atomic_load(&cd->is_stopping)) {
			pthread_mutex_unlock(&s->lock);
			log_warn("connection refused: %d connections already, all busy",
				 cd->conf.max_conns);
			close(fd);
			continue;
		}
		c = xcalloc(1, sizeof(*c));
		c->cd = cd;
		c->fd = fd;
		c->is_local = l->is_local;
		atomic_store(&c->since_ms, chunk_now_ms());
		c->log_tokens = SERVER_LOG_BURST;
		c->log_refill_ms = atomic_load(&c->since_ms);
		proto_wbuf_init(&c->out);
		snprintf(c->peer, sizeof(c->peer), "%s", peer);
		c->next = s->conns;
		if (s->conns)
			s->conns->pprev = &c->next;
		c->pprev = &s->conns;
		s->conns = c;
		s->nconns++;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, conn_main, c)) {
			*c->pprev = c->next;
			if (c->next)
				c->next->pprev = c->pprev;
			s->nconns--;
			pthread_mutex_unlock(&s->lock);
			close(fd);
			proto_wbuf_free(&c->out);
			free(c);
			log_warn("cannot start a connection thread");
			pthread_attr_destroy(&attr);
			continue;
		}
		pthread_mutex_unlock(&s->lock);
		pthread_attr_destroy(&attr);
	}
	return NULL;
}

static int listener_start(struct chunkd *cd, struct listener *l, int fd, int is_local)
{
	int rc;

	l->cd = cd;
	l->fd = fd;
	l->is_local = is_local;
	rc = pthread_create(&l->thread, NULL, accept_main, l);
	l->is_running = rc == 0;
	return -rc;
}

static void listener_stop(struct listener *l)
{
	if (!l->is_running)
		return;
	shutdown(l->fd, SHUT_RDWR);
	pthread_join(l->thread, NULL);
	l->is_running = 0;
}

int chunk_server_start(struct chunkd *cd)
{
	struct chunk_server *s = xcalloc(1, sizeof(*s));
	int rc;

	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	cd->server = s;
	rc = listener_start(cd, &s->tcp, cd->listen_fd, 0);
	if (!rc && cd->local_fd >= 0)
		rc = listener_start(cd, &s->local, cd->local_fd, 1);
	if (rc) {
		chunk_server_stop(cd);
		return rc;
	}
	return 0;
}

void chunk_server_stop(struct chunkd *cd)
{
	struct chunk_server *s = cd->server;

	if (!s)
		return;
	listener_stop(&s->tcp);
	listener_stop(&s->local);
	pthread_mutex_lock(&s->lock);
	for (struct conn *c = s->conns; c; c = c->next)
		shutdown(c->fd, SHUT_RDWR);
	while (s->nconns > 0)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
	cd->server = NULL;
}
