/* cl_meta: the client's session with metad.
 *
 * One TCP connection carries every request of the mount. Callers on any
 * thread build a request, get a unique request id and block on their own
 * wait object (struct cl_req, on the caller's stack). Whoever holds the
 * read token reads replies, checks each with msg_check() and hands it to
 * the waiter with that id. A caller takes the token itself when it is free,
 * so a lone request costs no thread switch on the way back (on 2 cores each
 * switch is a tenth of a metadata round trip); when it has its answer it
 * passes the token to another waiting caller, or to the reader thread when
 * only async requests (RELEASE, follow-ups) wait. A ping thread sends PING
 * every session timeout / 3.
 *
 * A follow-up (cl_meta_follow: a directory's GETATTR behind a create) goes
 * out in the same write as the call it follows, so metad reads both at
 * once and answers both in one write, and the caller keeps the token until
 * the follow-up's answer is in too: the kernel asks for those attributes
 * right after the call, and would otherwise wait for the reader thread to
 * wake and read them (a create loop spent ~50 µs of its ~250 µs there).
 *
 * When the connection breaks, the reader thread reconnects with backoff,
 * HELLO-resumes the session id (on -ESTALE it opens a new session and
 * re-opens the inodes this mount has open), then re-sends every request still
 * waiting, with the same request id: metad deduplicates re-sent mutations by
 * (session, request id), so callers simply keep waiting. Request ids are
 * unique for the life of the session, never reused across connections.
 *
 * Locking: mu guards the pending list, fd/gen, the read token, the session
 * and the open table; send_mu serialises writes on the socket. Order:
 * send_mu, then mu. Only the token holder reads the socket or touches rb,
 * and the connection is closed only by the token holder or while nobody
 * holds it.
 * A request is written only by the thread that saw the connection generation
 * it was queued under, so each request goes out exactly once per connection.
 */
#include "client/cl_meta.h"

#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fs/log.h"
#include "fs/msg.h"
#include "fs/net.h"
#include "fs/xmalloc.h"

/* At close, how long to wait for async requests (RELEASE) to be answered. */
#define CL_META_DRAIN_MS 2000
/* Connect attempts back off from 50 ms to 1 s: a restarted metad is usually
 * back within a second, and a second is short next to a FUSE timeout. */
#define CL_META_BACKOFF_MIN_MS 50
#define CL_META_BACKOFF_MAX_MS 1000
#define CL_META_CONNECT_MS 5000

struct cl_req {
	uint64_t reqid;
	uint16_t type;
	struct proto_wbuf *frame;
	struct proto_wbuf *rep;
	int done;
	int status;
	int is_async;			/* nobody waits: the reader frees it */
	int is_resent;
	cl_meta_done_fn done_fn;	/* async: told the outcome, then freed */
	void *done_arg;
	struct proto_wbuf own_frame;	/* async: the request and reply */
	struct proto_wbuf own_rep;
	pthread_cond_t cond;
	struct cl_req *follow;		/* a caller's follow-up, until answered */
	struct cl_req *owner;		/* a follow-up's caller, while it waits */
	struct cl_req *prev, *next;
};

struct cl_open {
	uint64_t ino;
	int count;
};

struct cl_meta {
	char *addr, *auth, *name;
	int role;
	pthread_mutex_t mu;
	pthread_mutex_t send_mu;
	pthread_cond_t ping_cond;
	int fd;			/* -1 while disconnected */
	uint64_t gen;		/* bumped on every connect and loss */
	uint64_t session;
	uint64_t next_reqid;
	uint32_t timeout_ms;
	uint64_t reconnects;
	int is_stopping;
	int nasync;			/* async requests not answered yet */
	pthread_cond_t async_cond;
	int is_reading;			/* the read token is taken */
	struct net_rbuf rb;		/* the token holder's read buffer */
	uint64_t rb_gen;		/* the connection rb's bytes came from */
	pthread_cond_t reader_cond;	/* the reader thread waits here */
	struct cl_req *pending;
	struct cl_open *opens;
	size_t nopens, capopens;
	struct blk_key key;
	struct casfs_uuid cluster;
	pthread_t reader, pinger;
};

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* One synchronous request/reply on a connection nobody else uses yet
 * (HELLO and re-opens before the connection is published). */
static int sync_call(int fd, struct proto_wbuf *req, uint64_t reqid, struct proto_wbuf *rep)
{
	struct proto_hdr h;
	struct proto_rbuf r;
	int32_t status;
	int rc;

	memcpy(req->data + 8, &(uint64_t){ reqid }, 8);
	rc = net_frame_write(fd, req);
	if (rc)
		return rc;
	for (;;) {
		rc = net_frame_read(fd, PROTO_FRAME_MAX, &h, rep);
		if (rc)
			return rc;
		if (!(h.flags & PROTO_F_REPLY) || h.reqid != reqid)
			continue;
		break;
	}
	if (msg_check(h.type, 1, rep->data, rep->len))
		return -EPROTO;
	proto_rbuf_init(&r, rep->data, rep->len);
	proto_get_i32(&r, &status);
	if (status)
		return status;
	memmove(rep->data, rep->data + 4, rep->len - 4);
	rep->len -= 4;
	return 0;
}

/* Connects and says HELLO with *session (0 = new). On success *fdp is the
 * connection and *session the session metad gave. */
static int meta_hello(struct cl_meta *m, uint64_t *session, int *fdp)
{
	struct proto_wbuf req, rep;
	struct proto_rbuf r;
	struct casfs_uuid uuid;
	uint16_t version;
	uint64_t sid;
	uint32_t timeout, seedlen;
	const uint8_t *seed;
	int fd = -1, rc;

	proto_wbuf_init(&req);
	proto_wbuf_init(&rep);
	rc = net_connect(m->addr, CL_META_CONNECT_MS, &fd);
	if (rc)
		goto out;
	net_set_timeouts(fd, CL_META_CONNECT_MS);
	proto_frame_begin(&req, MSG_HELLO, 0, 0);
	proto_put_u16(&req, PROTO_VERSION);
	proto_put_u8(&req, (uint8_t)m->role);
	proto_put_uuid(&req, &m->cluster);
	proto_put_str(&req, m->auth);
	proto_put_u64(&req, *session);
	proto_put_str(&req, m->name);
	proto_frame_finish(&req);
	pthread_mutex_lock(&m->mu);
	sid = m->next_reqid++;
	pthread_mutex_unlock(&m->mu);
	rc = sync_call(fd, &req, sid, &rep);
	if (rc)
		goto out;
	proto_rbuf_init(&r, rep.data, rep.len);
	proto_get_u16(&r, &version);
	proto_get_uuid(&r, &uuid);
	proto_get_u64(&r, &sid);
	proto_get_bytes(&r, &seed, &seedlen);
	proto_get_u32(&r, &timeout);
	if (proto_get_end(&r) || seedlen == 0) {
		rc = -EPROTO;
		goto out;
	}
	pthread_mutex_lock(&m->mu);
	m->cluster = uuid;
	blk_key_init(&m->key, seed, seedlen);
	m->timeout_ms = timeout ? timeout : 10000;
	pthread_mutex_unlock(&m->mu);
	net_set_timeouts(fd, 0);
	*session = sid;
	*fdp = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	proto_wbuf_free(&req);
	proto_wbuf_free(&rep);
	return rc;
}

/* After a new session replaced an expired one: OPEN again every inode the
 * mount has open so that unlinked-but-open files stay alive. */
static int meta_reopen(struct cl_meta *m, int fd)
{
	struct proto_wbuf req, rep;
	struct cl_open *opens;
	size_t n;
	int rc = 0;

	pthread_mutex_lock(&m->mu);
	n = m->nopens;
	opens = xmalloc((n ? n : 1) * sizeof(*opens));
	memcpy(opens, m->opens, n * sizeof(*opens));
	pthread_mutex_unlock(&m->mu);
	proto_wbuf_init(&req);
	proto_wbuf_init(&rep);
	for (size_t i = 0; i < n && !rc; i++) {
		for (int k = 0; k < opens[i].count && !rc; k++) {
			uint64_t id;

			proto_frame_begin(&req, MSG_OPEN, 0, 0);
			proto_put_u64(&req, opens[i].ino);
			proto_put_u32(&req, 0);
			proto_frame_finish(&req);
			pthread_mutex_lock(&m->mu);
			id = m->next_reqid++;
			pthread_mutex_unlock(&m->mu);
			rc = sync_call(fd, &req, id, &rep);
			if (rc == -ENOENT || rc == -ESTALE)
				rc = 0;	/* died while we were away */
		}
	}
	proto_wbuf_free(&req);
	proto_wbuf_free(&rep);
	free(opens);
	opens = NULL;
	return rc;
}

/* Publishes a new connection and re-sends every waiting request on it. */
static void meta_publish(struct cl_meta *m, int fd)
{
	struct cl_req *r;
	int rc = 0;

	pthread_mutex_lock(&m->send_mu);
	pthread_mutex_lock(&m->mu);
	m->fd = fd;
	m->gen++;
	for (r = m->pending; r && !rc; r = r->next) {
		/* Re-sent newest first: a follow-up may now overtake the
		 * request it was to follow, so its answer is not trusted. */
		r->is_resent = 1;
		rc = net_frame_write(fd, r->frame);
	}
	pthread_mutex_unlock(&m->mu);
	pthread_mutex_unlock(&m->send_mu);
}

/* Reconnects until it works or we are closing. */
static void meta_reconnect(struct cl_meta *m)
{
	int backoff = CL_META_BACKOFF_MIN_MS, fd, rc;
	uint64_t session;

	for (;;) {
		pthread_mutex_lock(&m->mu);
		session = m->session;
		if (m->is_stopping) {
			pthread_mutex_unlock(&m->mu);
			return;
		}
		pthread_mutex_unlock(&m->mu);
		rc = meta_hello(m, &session, &fd);
		if (rc == -ESTALE) {
			log_warn("metad: session %llu expired, opening a new one",
				 (unsigned long long)session);
			session = 0;
			rc = meta_hello(m, &session, &fd);
			if (!rc && (rc = meta_reopen(m, fd)) != 0)
				close(fd);
		}
		if (!rc) {
			pthread_mutex_lock(&m->mu);
			m->session = session;
			m->reconnects++;
			pthread_mutex_unlock(&m->mu);
			log_info("metad: reconnected to %s, session %llu", m->addr,
				 (unsigned long long)session);
			meta_publish(m, fd);
			return;
		}
		if (rc == -EXDEV || rc == -EACCES)
			log_error("metad at %s refuses this mount: %s", m->addr, strerror(-rc));
		sleep_ms(backoff);
		backoff = backoff * 2 > CL_META_BACKOFF_MAX_MS ? CL_META_BACKOFF_MAX_MS : backoff * 2;
	}
}

/* The follow-up armed by cl_meta_follow on this thread, if any. */
static __thread struct cl_req *follow_next;

/* Frees an answered or abandoned async request (m->mu held). */
static void req_free_async(struct cl_meta *m, struct cl_req *r)
{
	if (r->status && r->status != -ESHUTDOWN)
		log_debug("metad: async request %u failed: %s", r->type, strerror(-r->status));
	if (r->done_fn && r->is_resent && !r->status)
		r->status = -EAGAIN;
	if (r->done_fn)
		r->done_fn(r->done_arg, r->status, r->status ? NULL : r->rep);
	if (r->owner) {
		r->owner->follow = NULL;
		pthread_cond_signal(&r->owner->cond);
	}
	proto_wbuf_free(&r->own_frame);
	proto_wbuf_free(&r->own_rep);
	free(r);
	m->nasync--;
	pthread_cond_broadcast(&m->async_cond);
}

/* Hands reply frame h to its waiter (m->mu held). */
static void reply_dispatch(struct cl_meta *m, const struct proto_hdr *h, const uint8_t *payload)
{
	struct cl_req *r;
	int32_t status;

	for (r = m->pending; r; r = r->next)
		if (r->reqid == h->reqid)
			break;
	if (!r || r->type != h->type)
		return;
	memcpy(&status, payload, 4);
	r->status = (int32_t)le32toh((uint32_t)status);
	proto_wbuf_reset(r->rep);
	if (!r->status && h->len > 4)
		proto_put_raw(r->rep, payload + 4, h->len - 4);
	r->done = 1;
	if (r->prev)
		r->prev->next = r->next;
	else
		m->pending = r->next;
	if (r->next)
		r->next->prev = r->prev;
	if (r->is_async)
		req_free_async(m, r);
	else
		pthread_cond_signal(&r->cond);
}

/* A caller waiting for its answer with nobody reading for it (m->mu held). */
static struct cl_req *sync_waiter(struct cl_meta *m)
{
	for (struct cl_req *r = m->pending; r; r = r->next)
		if (!r->is_async)
			return r;
	return NULL;
}

/* Passes the free read token on (m->mu held): to a waiting caller, else to
 * the reader thread if async answers are due or the connection is gone. */
static void reader_handoff(struct cl_meta *m)
{
	struct cl_req *r = sync_waiter(m);

	if (m->fd < 0)
		pthread_cond_signal(&m->reader_cond);	/* reconnect first */
	else if (r)
		pthread_cond_signal(&r->cond);
	else if (m->pending)
		pthread_cond_signal(&m->reader_cond);
}

/* The connection of generation gen failed under the token holder. */
static void reader_lost(struct cl_meta *m, uint64_t gen, int rc)
{
	pthread_mutex_lock(&m->send_mu);
	pthread_mutex_lock(&m->mu);
	if (m->gen == gen) {
		if (!m->is_stopping)
			log_warn("metad: connection lost (%s), reconnecting", strerror(-rc));
		if (m->fd >= 0) {
			shutdown(m->fd, SHUT_RDWR);
			close(m->fd);
			m->fd = -1;
		}
		m->gen++;
	}
	pthread_mutex_unlock(&m->mu);
	pthread_mutex_unlock(&m->send_mu);
}

/* Reads and dispatches answers while holding the read token (m->mu held,
 * token free, connected): until own is answered and nothing more is
 * buffered, or for the reader thread (own NULL) one frame at a time while
 * no caller waits. Returns with the token passed on. */
static void reader_run(struct cl_meta *m, struct cl_req *own)
{
	uint64_t gen = m->gen;
	int fd = m->fd, rc = 0;

	m->is_reading = 1;
	if (m->rb_gen != gen) {
		m->rb.off = m->rb.len = 0;
		m->rb_gen = gen;
	}
	do {
		const uint8_t *payload;
		struct proto_hdr h;

		pthread_mutex_unlock(&m->mu);
		rc = net_rbuf_frame(fd, &m->rb, PROTO_FRAME_MAX, &h, &payload);
		if (!rc && !(h.flags & PROTO_F_REPLY))
			rc = -EPROTO;	/* metad sends clients no requests */
		if (!rc && msg_check(h.type, 1, payload, h.len))
			rc = -EBADMSG;
		if (rc)
			reader_lost(m, gen, rc);
		pthread_mutex_lock(&m->mu);
		if (!rc)
			reply_dispatch(m, &h, payload);
	} while (!rc && !m->is_stopping &&
		 (own ? !own->done || own->follow || net_rbuf_has_frame(&m->rb) :
			m->pending && !sync_waiter(m)));
	m->is_reading = 0;
	reader_handoff(m);
}

/* Reconnects when the connection is gone and reads the answers nobody
 * else reads (async requests with no caller waiting). */
static void *meta_reader(void *arg)
{
	struct cl_meta *m = arg;

	pthread_mutex_lock(&m->mu);
	while (!m->is_stopping) {
		if (m->fd < 0 && !m->is_reading) {
			pthread_mutex_unlock(&m->mu);
			meta_reconnect(m);
			pthread_mutex_lock(&m->mu);
			if (!m->is_reading)
				reader_handoff(m);
		} else if (!m->is_reading && m->pending && !sync_waiter(m)) {
			reader_run(m, NULL);
		} else {
			pthread_cond_wait(&m->reader_cond, &m->mu);
		}
	}
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

static void *meta_pinger(void *arg)
{
	struct cl_meta *m = arg;
	struct proto_wbuf req, rep;
	struct timespec ts;

	proto_wbuf_init(&req);
	proto_wbuf_init(&rep);
	pthread_mutex_lock(&m->mu);
	while (!m->is_stopping) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)(m->timeout_ms / 3 % 1000) * 1000000L;
		ts.tv_sec += m->timeout_ms / 3 / 1000 + ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&m->ping_cond, &m->mu, &ts);
		if (m->is_stopping || m->fd < 0)
			continue;
		pthread_mutex_unlock(&m->mu);
		proto_frame_begin(&req, MSG_PING, 0, 0);
		cl_meta_call(m, &req, &rep);
		pthread_mutex_lock(&m->mu);
	}
	pthread_mutex_unlock(&m->mu);
	proto_wbuf_free(&req);
	proto_wbuf_free(&rep);
	return NULL;
}

/* Fails every waiting request with -ESHUTDOWN and stops reconnecting
 * (m->mu held). */
static void meta_stop_locked(struct cl_meta *m)
{
	struct cl_req *r, *next;

	m->is_stopping = 1;
	pthread_cond_broadcast(&m->ping_cond);
	pthread_cond_broadcast(&m->reader_cond);
	for (r = m->pending; r; r = next) {
		next = r->next;
		r->status = -ESHUTDOWN;
		r->done = 1;
		if (r->is_async)
			req_free_async(m, r);
		else
			pthread_cond_signal(&r->cond);
	}
	m->pending = NULL;
	if (m->fd >= 0)
		shutdown(m->fd, SHUT_RDWR);
}

void cl_meta_abort(struct cl_meta *m)
{
	pthread_mutex_lock(&m->mu);
	if (!m->is_stopping)
		log_error("metad %s: giving up, pending calls fail", m->addr);
	meta_stop_locked(m);
	pthread_mutex_unlock(&m->mu);
}

int cl_meta_open(const struct cl_meta_opts *opts, struct cl_meta **out)
{
	struct cl_meta *m = xcalloc(1, sizeof(*m));
	uint64_t session = 0;
	int fd, rc;

	m->addr = xstrdup(opts->addr);
	m->auth = xstrdup(opts->auth_key ? opts->auth_key : "");
	m->name = xstrdup(opts->name ? opts->name : "casfs-client");
	m->role = opts->role ? opts->role : PROTO_ROLE_CLIENT;
	m->fd = -1;
	m->next_reqid = 1;
	pthread_mutex_init(&m->mu, NULL);
	pthread_mutex_init(&m->send_mu, NULL);
	pthread_cond_init(&m->ping_cond, NULL);
	pthread_cond_init(&m->async_cond, NULL);
	pthread_cond_init(&m->reader_cond, NULL);
	net_rbuf_init(&m->rb);
	rc = meta_hello(m, &session, &fd);
	if (rc) {
		m->is_stopping = 1;
		cl_meta_close(m);
		return rc;
	}
	m->session = session;
	m->fd = fd;
	m->gen = 1;
	pthread_create(&m->reader, NULL, meta_reader, m);
	pthread_create(&m->pinger, NULL, meta_pinger, m);
	*out = m;
	return 0;
}

void cl_meta_close(struct cl_meta *m)
{
	int had_threads;
	struct timespec ts;

	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += CL_META_DRAIN_MS / 1000;
	while (m->nasync > 0 && m->fd >= 0 && !m->is_stopping &&
	       pthread_cond_timedwait(&m->async_cond, &m->mu, &ts) == 0)
		;
	had_threads = m->gen != 0;
	meta_stop_locked(m);
	pthread_mutex_unlock(&m->mu);
	if (had_threads) {
		pthread_join(m->reader, NULL);
		pthread_join(m->pinger, NULL);
	}
	if (m->fd >= 0)
		close(m->fd);
	pthread_mutex_destroy(&m->mu);
	pthread_mutex_destroy(&m->send_mu);
	pthread_cond_destroy(&m->ping_cond);
	pthread_cond_destroy(&m->async_cond);
	pthread_cond_destroy(&m->reader_cond);
	net_rbuf_free(&m->rb);
	free(m->opens);
	m->opens = NULL;
	free(m->addr);
	m->addr = NULL;
	free(m->auth);
	m->auth = NULL;
	free(m->name);
	m->name = NULL;
	free(m);
}

const struct blk_key *cl_meta_key(const struct cl_meta *m)
{
	return &m->key;
}

const struct casfs_uuid *cl_meta_cluster(const struct cl_meta *m)
{
	return &m->cluster;
}

uint64_t cl_meta_session(struct cl_meta *m)
{
	uint64_t s;

	pthread_mutex_lock(&m->mu);
	s = m->session;
	pthread_mutex_unlock(&m->mu);
	return s;
}

uint64_t cl_meta_reconnects(struct cl_meta *m)
{
	uint64_t n;

	pthread_mutex_lock(&m->mu);
	n = m->reconnects;
	pthread_mutex_unlock(&m->mu);
	return n;
}

/* Queues r (its frame finished) under a fresh request id, written into
 * r's frame and into wire_hdr, the start of the copy that will be written
 * (an async r may be answered and freed by the reader at any moment once
 * queued). m->mu held; the caller checks is_stopping. */
static void meta_queue(struct cl_meta *m, struct cl_req *r, uint8_t *wire_hdr)
{
	uint64_t le;

	memcpy(&r->type, r->frame->data + 4, 2);
	r->type = le16toh(r->type);
	r->reqid = m->next_reqid++;
	le = htole64(r->reqid);
	memcpy(r->frame->data + 8, &le, 8);
	memcpy(wire_hdr + 8, &le, 8);
	r->prev = NULL;
	r->next = m->pending;
	if (m->pending)
		m->pending->prev = r;
	m->pending = r;
	if (r->is_async) {
		m->nasync++;
		/* A follow-up is read by the caller it follows; a lone async
		 * request needs the reader thread. */
		if (!m->is_reading && !sync_waiter(m))
			pthread_cond_signal(&m->reader_cond);
	}
}

/* Writes wire (the frames queued at connection generation gen) unless
 * the connection changed since, or r was answered already: the reconnect
 * re-sent them then. */
static void meta_write(struct cl_meta *m, uint64_t gen, struct cl_req *r,
		       const struct proto_wbuf *wire)
{
	pthread_mutex_lock(&m->send_mu);
	pthread_mutex_lock(&m->mu);
	if (m->fd >= 0 && m->gen == gen && !r->done) {
		int fd = m->fd;

		pthread_mutex_unlock(&m->mu);
		/* A failed write is noticed by the reader, which reconnects and
		 * re-sends this request. */
		if (net_frame_write(fd, wire))
			shutdown(fd, SHUT_RDWR);
	} else {
		pthread_mutex_unlock(&m->mu);
	}
	pthread_mutex_unlock(&m->send_mu);
}

/* Queues r and writes it when connected; otherwise the reconnect will.
 * The write goes from wire, the caller's copy of the frame. -ESHUTDOWN
 * when closing. */
static int meta_submit(struct cl_meta *m, struct cl_req *r, struct proto_wbuf *wire)
{
	uint64_t gen;

	pthread_mutex_lock(&m->mu);
	if (m->is_stopping) {
		pthread_mutex_unlock(&m->mu);
		return -ESHUTDOWN;
	}
	meta_queue(m, r, wire->data);
	gen = m->gen;
	pthread_mutex_unlock(&m->mu);
	meta_write(m, gen, r, wire);
	return 0;
}

/* Queues r and its follow-up fw together and writes both in one write, so
 * that metad reads them at once and answers both in one write: fw's answer
 * comes in the same read as r's, and the caller takes it before returning
 * (the kernel asks for it right after). fw is written from a copy: the
 * reader may free it as soon as it is answered. */
static int meta_submit_pair(struct cl_meta *m, struct cl_req *r, struct cl_req *fw,
			    uint64_t *gen)
{
	struct proto_wbuf wire;

	proto_wbuf_init(&wire);
	proto_put_raw(&wire, r->frame->data, r->frame->len);
	proto_put_raw(&wire, fw->frame->data, fw->frame->len);
	pthread_mutex_lock(&m->mu);
	if (m->is_stopping) {
		pthread_mutex_unlock(&m->mu);
		proto_wbuf_free(&wire);
		return -ESHUTDOWN;
	}
	meta_queue(m, r, wire.data);
	meta_queue(m, fw, wire.data + r->frame->len);
	r->follow = fw;
	fw->owner = r;
	*gen = m->gen;
	pthread_mutex_unlock(&m->mu);
	meta_write(m, *gen, r, &wire);
	proto_wbuf_free(&wire);
	return 0;
}

static void follow_drop(struct cl_req *r)
{
	if (r->done_fn)
		r->done_fn(r->done_arg, -ECANCELED, NULL);
	proto_wbuf_free(&r->own_frame);
	proto_wbuf_free(&r->own_rep);
	free(r);
}

int cl_meta_call(struct cl_meta *m, struct proto_wbuf *req, struct proto_wbuf *rep)
{
	struct cl_req r = { .frame = req, .rep = rep };
	struct cl_req *fw = follow_next;
	uint64_t gen = 0;
	int rc;

	follow_next = NULL;
	rc = proto_frame_finish(req);
	if (rc)
		goto fail;
	pthread_cond_init(&r.cond, NULL);
	rc = fw ? meta_submit_pair(m, &r, fw, &gen) : meta_submit(m, &r, req);
	if (rc) {
		pthread_cond_destroy(&r.cond);
		goto fail;
	}
	/* The follow-up is waited for only on the connection it went out on:
	 * after a reconnect it comes back on its own. */
	pthread_mutex_lock(&m->mu);
	while (!r.done || (r.follow && m->gen == gen && !m->is_stopping)) {
		if (!m->is_reading && m->fd >= 0 && !m->is_stopping)
			reader_run(m, &r);
		else
			pthread_cond_wait(&r.cond, &m->mu);
	}
	if (r.follow)
		r.follow->owner = NULL;
	pthread_mutex_unlock(&m->mu);
	pthread_cond_destroy(&r.cond);
	return r.status;
fail:
	if (fw)
		follow_drop(fw);
	return rc;
}

int cl_meta_follow(struct proto_wbuf *req, cl_meta_done_fn fn, void *arg)
{
	struct cl_req *r;
	int rc;

	cl_meta_follow_cancel();
	rc = proto_frame_finish(req);
	if (rc)
		return rc;
	r = xcalloc(1, sizeof(*r));
	r->is_async = 1;
	r->done_fn = fn;
	r->done_arg = arg;
	proto_wbuf_init(&r->own_frame);
	proto_wbuf_init(&r->own_rep);
	proto_put_raw(&r->own_frame, req->data, req->len);
	r->frame = &r->own_frame;
	r->rep = &r->own_rep;
	follow_next = r;
	return 0;
}

void cl_meta_follow_cancel(void)
{
	struct cl_req *r = follow_next;

	follow_next = NULL;
	if (r)
		follow_drop(r);
}

int cl_meta_post(struct cl_meta *m, struct proto_wbuf *req)
{
	struct cl_req *r;
	int rc;

	rc = proto_frame_finish(req);
	if (rc)
		return rc;
	r = xcalloc(1, sizeof(*r));
	r->is_async = 1;
	proto_wbuf_init(&r->own_frame);
	proto_wbuf_init(&r->own_rep);
	proto_put_raw(&r->own_frame, req->data, req->len);
	r->frame = &r->own_frame;
	r->rep = &r->own_rep;
	rc = meta_submit(m, r, req);
	if (rc) {
		proto_wbuf_free(&r->own_frame);
		proto_wbuf_free(&r->own_rep);
		free(r);
	}
	return rc;
}

void cl_meta_note_open(struct cl_meta *m, uint64_t ino, int delta)
{
	size_t i;

	pthread_mutex_lock(&m->mu);
	for (i = 0; i < m->nopens; i++)
		if (m->opens[i].ino == ino)
			break;
	if (i == m->nopens) {
		if (delta < 0)
			goto out;
		if (m->nopens == m->capopens) {
			m->capopens = m->capopens ? 2 * m->capopens : 16;
			m->opens = xrealloc(m->opens, m->capopens * sizeof(*m->opens));
		}
		m->opens[m->nopens++] = (struct cl_open){ ino, 0 };
	}
	m->opens[i].count += delta;
	if (m->opens[i].count <= 0)
		m->opens[i] = m->opens[--m->nopens];
out:
	pthread_mutex_unlock(&m->mu);
}
