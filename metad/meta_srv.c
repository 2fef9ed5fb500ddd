/* meta_srv: connections, HELLO and sessions, and request dispatch. Every
 * frame is validated with msg_check() before any handler decodes it; a
 * broken frame closes that connection with one log line. A mutation is
 * applied, appended to the changelog and only then answered; under
 * sync = always (and for FSYNC) its reply is parked until the fsync thread
 * reports the changelog durable up to its record. Owned by the event-loop
 * thread.
 *
 * Connection I/O is done here rather than by bufferevents, because a
 * metadata op is one round trip and its cost is the syscalls around it: a
 * bufferevent sizes each read with ioctl(FIONREAD) and turns EV_WRITE on and
 * off for each reply (two epoll_ctl and a second loop turn). Here a
 * connection's EV_READ stays added; one read(2) of up to META_READ_SIZE
 * into srv->rbuf (shared: only one connection is being read at a time)
 * yields every whole frame in it, and only a cut tail is copied into the
 * connection's own buffer. Output is queued and written with one
 * nonblocking write per connection at the end of the loop turn that made it
 * (all replies to one read's frames, all replies one group commit
 * releases, lock grants, requests to chunk servers), before the loop waits
 * again. EV_WRITE is added only while output waits for socket room. So a
 * request costs one epoll_wait, one read and one write. */
#include "metad/meta_int.h"
#include "metad/meta_poll.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "fs/msg.h"
#include "fs/net.h"
#include "fs/xmalloc.h"
#include "metad/meta_exec.h"

int64_t meta_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void meta_now(struct casfs_time *t)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	t->sec = (uint64_t)ts.tv_sec;
	t->nsec = (uint32_t)ts.tv_nsec;
}

void meta_blk_table_now(struct meta_srv *srv)
{
	meta_ns_blocks(srv->ns)->now_ms = meta_now_ms();
}

/* The input buffer goes with the last reference, not with the close: a
 * handler may close the connection whose buffer holds the frame it runs. */
static void conn_unref(struct meta_conn *conn)
{
	if (--conn->refs == 0) {
		free(conn->in), conn->in = NULL;
		free(conn);
	}
}

/* Output is written at the end of the loop turn that queued it (srv_flush_cb
 * runs after the turn's other callbacks), so every reply to the frames of
 * one read, and every reply a group commit releases, leave a connection in
 * one write; and no sender is ever inside a close (callers walk lists that
 * closing a connection changes). Output waiting for EV_WRITE needs no
 * turn-end write. */
static void conn_want_flush(struct meta_conn *conn)
{
	struct meta_srv *srv = conn->srv;

	if (conn->is_flush_queued || event_pending(conn->ev_write, EV_WRITE, NULL))
		return;
	conn->is_flush_queued = 1;
	conn->refs++;
	if (!srv->flush_head)
		event_active(srv->ev_flush, 0, 1);
	conn->flush_next = srv->flush_head;
	srv->flush_head = conn;
}

void meta_conn_send(struct meta_conn *conn, const struct proto_wbuf *frame)
{
	if (conn->is_closed)
		return;
	evbuffer_add(conn->out, frame->data, frame->len);
	conn->srv->out_bytes += frame->len;
	conn_want_flush(conn);
}

void meta_conn_request(struct meta_conn *conn, uint16_t type, const struct proto_wbuf *payload,
		       const struct meta_out_req *what)
{
	struct meta_out_req *req;
	struct proto_wbuf f;

	if (conn->is_closed) {
		free(what->ids);
		return;
	}
	req = xmalloc(sizeof(*req));
	*req = *what;
	req->type = type;
	req->reqid = ++conn->next_reqid;
	req->sent_ms = meta_now_ms();
	req->next = conn->outs;
	conn->outs = req;
	proto_wbuf_init(&f);
	proto_frame_begin(&f, type, 0, req->reqid);
	proto_put_raw(&f, payload->data, payload->len);
	proto_frame_finish(&f);
	meta_conn_send(conn, &f);
	proto_wbuf_free(&f);
}

uint64_t meta_srv_log(struct meta_srv *srv, uint16_t op, uint64_t session, uint64_t reqid,
		      const struct casfs_time *now, const void *payload, uint32_t len)
{
	uint64_t seq = 0;
	int rc = meta_log_append(srv->log, op, session, reqid, now, payload, len, &seq);

	if (rc) {
		/* Memory already changed: going on would acknowledge what the
		 * changelog does not have. Restart replays a consistent log. */
		log_error("changelog append failed: %s; stopping", strerror(-rc));
		abort();
	}
	srv->changes_since_ckpt++;
	return seq;
}

static void park(struct meta_srv *srv, struct meta_conn *conn, uint64_t seq,
		 const struct proto_wbuf *frame)
{
	struct meta_parked *p = xcalloc(1, sizeof(*p));

	p->conn = conn;
	conn->refs++;
	p->seq = seq;
	proto_wbuf_init(&p->frame);
	proto_put_raw(&p->frame, frame->data, frame->len);
	if (srv->parked_tail)
		srv->parked_tail->next = p;
	else
		srv->parked_head = p;
	srv->parked_tail = p;
	meta_log_request_sync(srv->log, seq);
}

void meta_srv_release_parked(struct meta_srv *srv)
{
	uint64_t synced = meta_log_synced_seq(srv->log);

	while (srv->parked_head && srv->parked_head->seq <= synced) {
		struct meta_parked *p = srv->parked_head;

		srv->parked_head = p->next;
		if (!srv->parked_head)
			srv->parked_tail = NULL;
		meta_conn_send(p->conn, &p->frame);
		conn_unref(p->conn);
		proto_wbuf_free(&p->frame);
		free(p);
	}
}

void meta_srv_session_end(struct meta_srv *srv, struct meta_sess *s, int log_it)
{
	struct meta_exec x = { .ns = srv->ns, .ss = &srv->ss, .sess = s, .locks = srv->locks };

	meta_now(&x.now);
	if (log_it && s->is_persistent)
		meta_srv_log(srv, META_REC_SESSION_END, s->id, 0, &x.now, NULL, 0);
	if (s->conn)
		((struct meta_conn *)s->conn)->sess = NULL;
	meta_lock_release_session(srv, s->id, 0);
	meta_blk_table_now(srv);
	meta_exec_session_end(&x, s);
}

void meta_conn_close(struct meta_conn *conn, const char *why)
{
	struct meta_srv *srv = conn->srv;

	if (conn->is_closed)
		return;
	if (why)
		log_info("%s: closing connection: %s", conn->peer, why);
	conn->is_closed = 1;
	meta_lock_conn_lost(srv, conn);
	if (conn->role == PROTO_ROLE_CHUNKD)
		meta_cs_conn_lost(conn);
	while (conn->outs) {
		struct meta_out_req *r = conn->outs;

		conn->outs = r->next;
		free(r);
	}
	if (conn->sess) {
		struct meta_sess *s = conn->sess;

		s->conn = NULL;
		conn->sess = NULL;
		/* Clients keep their session to reconnect; admin tools and chunk
		 * servers are done. */
		if (s->role != PROTO_ROLE_CLIENT)
			meta_srv_session_end(srv, s, 1);
	}
	/* What it never read no longer counts toward the total. */
	srv->out_bytes -= evbuffer_get_length(conn->out);
	evbuffer_free(conn->out), conn->out = NULL;
	event_free(conn->ev_read), conn->ev_read = NULL;
	event_free(conn->ev_write), conn->ev_write = NULL;
	close(conn->fd), conn->fd = -1;
	if (conn->prev)
		conn->prev->next = conn->next;
	else
		srv->conns = conn->next;
	if (conn->next)
		conn->next->prev = conn->prev;
	conn->prev = conn->next = NULL;
	conn_unref(conn);
}

void meta_srv_expire_sessions(struct meta_srv *srv, int64_t now_ms)
{
	for (uint32_t i = 0; i < srv->ss.h.cap; i++) {
		struct meta_sess *s = srv->ss.h.slots[i];

		if (!s || now_ms - s->last_ms <= (int64_t)srv->conf.session_timeout_ms)
			continue;
		log_info("session %llu (%s) expired", (unsigned long long)s->id, s->name);
		if (s->conn) {
			struct meta_conn *c = s->conn;

			s->conn = NULL;
			c->sess = NULL;
			meta_conn_close(c, "session expired");
		}
		meta_srv_session_end(srv, s, 1);
		/* The table changed under us: restart from the beginning. */
		i = (uint32_t)-1;
	}
}

static void reply_status(struct meta_conn *conn, uint16_t type, uint64_t reqid, int32_t st)
{
	struct proto_wbuf f;

	proto_wbuf_init(&f);
	proto_reply_begin(&f, type, reqid, st);
	proto_frame_finish(&f);
	meta_conn_send(conn, &f);
	proto_wbuf_free(&f);
}

static void reply_fields(struct meta_conn *conn, uint16_t type, uint64_t reqid, int32_t st,
			 const struct proto_wbuf *fields)
{
	struct proto_wbuf *f = &conn->srv->scratch;

	proto_reply_begin(f, type, reqid, st);
	if (st == 0)
		proto_put_raw(f, fields->data, fields->len);
	if (proto_frame_finish(f)) {
		reply_status(conn, type, reqid, -EOVERFLOW);
		return;
	}
	meta_conn_send(conn, f);
}

static int do_hello(struct meta_conn *conn, uint64_t reqid, const uint8_t *p, size_t len)
{
	struct meta_srv *srv = conn->srv;
	char auth[PROTO_STR_MAX + 1], name[PROTO_STR_MAX + 1];
	static const struct casfs_uuid zero;
	struct casfs_uuid uuid;
	struct proto_rbuf r;
	struct proto_wbuf w;
	struct meta_sess *s;
	uint64_t sid;
	uint16_t ver;
	uint8_t role;
	int64_t now = meta_now_ms();

	proto_rbuf_init(&r, p, len);
	proto_get_u16(&r, &ver);
	proto_get_u8(&r, &role);
	proto_get_uuid(&r, &uuid);
	proto_get_str(&r, auth, sizeof(auth));
	proto_get_u64(&r, &sid);
	proto_get_str(&r, name, sizeof(name));
	if (ver != PROTO_VERSION) {
		log_warn("%s: HELLO refused: protocol version %u (this metad speaks %u)", conn->peer,
			 ver, PROTO_VERSION);
		return -EPROTO;
	}
	if (role < PROTO_ROLE_CLIENT || role > PROTO_ROLE_ADMIN) {
		log_warn("%s: HELLO refused: unknown role %u", conn->peer, role);
		return -EPROTO;
	}
	if (srv->conf.auth_key[0] && strcmp(auth, srv->conf.auth_key)) {
		log_warn("%s: HELLO refused: wrong auth key (role %u, %s)", conn->peer, role, name);
		return -EACCES;
	}
	if (memcmp(&uuid, &zero, sizeof(zero)) && memcmp(&uuid, &srv->cluster, sizeof(uuid))) {
		log_warn("%s: HELLO refused: another cluster's uuid (role %u, %s)", conn->peer, role,
			 name);
		return -EXDEV;
	}
	if (role == PROTO_ROLE_CHUNKD) {
		s = meta_sess_new(&srv->ss, 0, role, name, now);
	} else if (sid) {
		s = meta_sess_find(&srv->ss, sid);
		if (!s || s->role == PROTO_ROLE_CHUNKD) {
			log_warn("%s: HELLO refused: no session %llu to resume (%s)", conn->peer,
				 (unsigned long long)sid, name);
			return -ESTALE;
		}
		if (s->conn) {
			struct meta_conn *old = s->conn;

			old->sess = NULL;
			s->conn = NULL;
			meta_conn_close(old, "session resumed elsewhere");
		}
		conn->is_resumed = 1;
	} else {
		struct casfs_time t;
		struct proto_wbuf rec;

		s = meta_sess_new(&srv->ss, 0, role, name, now);
		s->is_persistent = 1;
		meta_now(&t);
		proto_wbuf_init(&rec);
		proto_put_u8(&rec, role);
		proto_put_str(&rec, name);
		meta_srv_log(srv, META_REC_SESSION_NEW, s->id, reqid, &t, rec.data, (uint32_t)rec.len);
		proto_wbuf_free(&rec);
	}
	s->last_ms = now;
	s->conn = conn;
	conn->sess = s;
	conn->role = role;
	conn->has_hello = 1;
	proto_wbuf_init(&w);
	proto_put_u16(&w, PROTO_VERSION);
	proto_put_uuid(&w, &srv->cluster);
	proto_put_u64(&w, s->id);
	/* Every peer verifies blocks, chunk servers included. */
	proto_put_bytes(&w, srv->seed, sizeof(srv->seed));
	proto_put_u32(&w, srv->conf.session_timeout_ms);
	reply_fields(conn, MSG_HELLO, reqid, 0, &w);
	proto_wbuf_free(&w);
	log_debug("%s: HELLO role %u session %llu (%s)", conn->peer, role,
		  (unsigned long long)s->id, name);
	return 1;
}

static void do_namespace(struct meta_conn *conn, uint16_t type, uint64_t reqid,
			 const uint8_t *p, size_t len)
{
	struct meta_srv *srv = conn->srv;
	struct meta_exec x = { .ns = srv->ns, .ss = &srv->ss, .sess = conn->sess };
	struct proto_wbuf out;
	int is_mut = meta_exec_is_mutation(type), mutated = 0, rc;
	uint64_t fp = 0, result = 0, seq = 0;

	proto_wbuf_init(&out);
	if (is_mut) {
		fp = XXH3_64bits_withSeed(p, len, type);
		/* Only a resumed session can re-send, and a re-sent request is
		 * never newer than what was applied. */
		if (conn->is_resumed && reqid <= conn->sess->max_reqid) {
			const struct meta_dedup *d = meta_sess_dedup_get(conn->sess, reqid, type, fp);

			if (d) {
				if (d->status == 0)
					meta_exec_replay_reply(&x, type, d->result, &out);
				reply_fields(conn, type, reqid, d->status, &out);
				proto_wbuf_free(&out);
				return;
			}
		}
	}
	meta_now(&x.now);
	meta_blk_table_now(srv);
	rc = meta_exec_run(&x, type, p, len, &out, &mutated, &result);
	if (mutated) {
		seq = meta_srv_log(srv, type, conn->sess->id, reqid, &x.now, p, (uint32_t)len);
		meta_sess_dedup_put(conn->sess, reqid, type, fp, rc, result);
		if (type == MSG_COMMIT)
			meta_cs_commit_locs(srv, p, len);
	}
	if (type == MSG_RELEASE && rc == 0) {
		struct proto_rbuf r;
		uint64_t ino;

		proto_rbuf_init(&r, p, len);
		proto_get_u64(&r, &ino);
		if (!meta_sess_open_count(conn->sess, ino))
			meta_lock_release_session(srv, conn->sess->id, ino);
	}
	if (mutated && srv->conf.sync_always) {
		struct proto_wbuf *f = &srv->scratch;

		proto_reply_begin(f, type, reqid, rc);
		if (rc == 0)
			proto_put_raw(f, out.data, out.len);
		proto_frame_finish(f);
		park(srv, conn, seq, f);
	} else {
		reply_fields(conn, type, reqid, rc, &out);
	}
	proto_wbuf_free(&out);
}

static void do_fsync(struct meta_conn *conn, uint64_t reqid)
{
	struct meta_srv *srv = conn->srv;
	uint64_t seq = meta_log_last_seq(srv->log);
	struct proto_wbuf *f = &srv->scratch;

	proto_reply_begin(f, MSG_FSYNC, reqid, 0);
	proto_frame_finish(f);
	if (meta_log_synced_seq(srv->log) >= seq)
		meta_conn_send(conn, f);
	else
		park(srv, conn, seq, f);
}

static void dispatch(struct meta_conn *conn, uint16_t type, uint64_t reqid, const uint8_t *p,
		     size_t len)
{
	struct meta_srv *srv = conn->srv;
	struct proto_wbuf out;
	int rc;

	if (type == MSG_PING) {
		reply_status(conn, type, reqid, 0);
		return;
	}
	if (conn->role == PROTO_ROLE_CHUNKD) {
		proto_wbuf_init(&out);
		srv->cs_id_seq = 0;
		rc = meta_cs_handle(conn, type, reqid, p, len, &out);
		if (!conn->is_closed && srv->cs_id_seq && rc == 0) {
			/* A new id is handed out only once it is durable, so
			 * metad can refuse every id it does not know. */
			struct proto_wbuf *f = &srv->scratch;

			proto_reply_begin(f, type, reqid, rc);
			proto_put_raw(f, out.data, out.len);
			proto_frame_finish(f);
			park(srv, conn, srv->cs_id_seq, f);
		} else if (!conn->is_closed) {
			reply_fields(conn, type, reqid, rc, &out);
		}
		proto_wbuf_free(&out);
		return;
	}
	if (meta_exec_handles(type) && (type < MSG_ADM_STATUS || conn->role == PROTO_ROLE_ADMIN)) {
		do_namespace(conn, type, reqid, p, len);
		return;
	}
	proto_wbuf_init(&out);
	switch (type) {
	case MSG_BMAP:
		rc = meta_cs_bmap(srv, p, len, &out);
		break;
	case MSG_PLACE:
		rc = meta_cs_place(srv, p, len, &out);
		break;
	case MSG_REPORT_BAD:
		rc = meta_cs_report_bad(srv, p, len);
		break;
	case MSG_STATFS:
		meta_cs_statfs(srv, &out);
		rc = 0;
		break;
	case MSG_FSYNC:
		do_fsync(conn, reqid);
		goto out;
	case MSG_LOCK:
		rc = meta_lock_lock(srv, conn, reqid, p, len);
		if (rc == 1)
			goto out;
		break;
	case MSG_GETLK:
		rc = meta_lock_getlk(srv, conn, p, len, &out);
		break;
	case MSG_ADM_STATUS: case MSG_ADM_CS_LIST: case MSG_ADM_CS_DRAIN: case MSG_ADM_CS_REMOVE:
	case MSG_ADM_SESSIONS:
		rc = conn->role == PROTO_ROLE_ADMIN ? meta_cs_admin(srv, type, p, len, &out) : -EPERM;
		break;
	default:
		rc = -EPROTO;
		break;
	}
	reply_fields(conn, type, reqid, rc, &out);
out:
	proto_wbuf_free(&out);
}

static void handle_frame(struct meta_conn *conn, const struct proto_hdr *h, const uint8_t *p)
{
	int rc;

	if (h->flags & PROTO_F_REPLY) {
		struct meta_out_req **pp, *req;

		if (msg_check(h->type, 1, p, h->len)) {
			meta_conn_close(conn, "malformed reply");
			return;
		}
		for (pp = &conn->outs; *pp; pp = &(*pp)->next) {
			if ((*pp)->reqid == h->reqid && (*pp)->type == h->type) {
				struct proto_rbuf r;
				int32_t st;

				req = *pp;
				*pp = req->next;
				proto_rbuf_init(&r, p, h->len);
				proto_get_i32(&r, &st);
				meta_cs_reply(conn, req, st);
				free(req);
				return;
			}
		}
		log_warn("%s: reply (type %u) to unknown request %llu: ignored", conn->peer, h->type,
			 (unsigned long long)h->reqid);
		return;
	}
	rc = msg_check(h->type, 0, p, h->len);
	if (rc) {
		log_warn("%s: bad request (type %u): %s", conn->peer, h->type, strerror(-rc));
		reply_status(conn, h->type, h->reqid, rc);
		return;
	}
	if (!conn->has_hello) {
		if (h->type != MSG_HELLO) {
			log_warn("%s: request %u before HELLO", conn->peer, h->type);
			reply_status(conn, h->type, h->reqid, -EPROTO);
			return;
		}
		rc = do_hello(conn, h->reqid, p, h->len);
		if (rc < 0)
			reply_status(conn, h->type, h->reqid, rc);
		return;
	}
	if (h->type == MSG_HELLO) {
		log_warn("%s: second HELLO on one connection: refused", conn->peer);
		reply_status(conn, h->type, h->reqid, -EPROTO);
		return;
	}
	if (!conn->sess) {
		meta_conn_close(conn, "session gone");
		return;
	}
	conn->sess->last_ms = meta_now_ms();
	dispatch(conn, h->type, h->reqid, p, h->len);
}

/* A peer that sends requests without reading the replies stops being read
 * once this much output waits for it, so it cannot make metad buffer
 * without bound (4 MiB holds hundreds of the largest ordinary replies). */
#define META_OUT_MAX (4u << 20)
/* And all connections together: above this, a connection with more than
 * META_OUT_MIN unread is not read from either. Peers that read their
 * replies keep little queued and go on being served. */
#define META_OUT_TOTAL_MAX (64u << 20)
#define META_OUT_MIN (64u << 10)

static int conn_out_full(const struct meta_conn *conn)
{
	size_t n = evbuffer_get_length(conn->out);

	return n > META_OUT_MAX || (n > META_OUT_MIN && conn->srv->out_bytes > META_OUT_TOTAL_MAX);
}

/* A read takes at most this much into srv->rbuf: one 64 KiB read holds a
 * few thousand pipelined metadata requests (most are under 100 bytes), so
 * a busy client's whole backlog comes in one call. */
#define META_READ_SIZE (64u << 10)

/* Handles every whole frame in data[0, len); returns the bytes used. Stops
 * early once conn is closed, or once its output is full (reading stops
 * until it drains: conn_write). */
static size_t conn_handle_frames(struct meta_conn *conn, const uint8_t *data, size_t len)
{
	size_t off = 0;

	while (!conn->is_closed) {
		struct proto_hdr h;

		if (conn_out_full(conn)) {
			conn->is_read_stopped = 1;
			event_del(conn->ev_read);
			break;
		}
		if (len - off < PROTO_HDR_SIZE)
			break;
		if (proto_hdr_decode(data + off, PROTO_FRAME_MAX, &h)) {
			meta_conn_close(conn, "bad frame header");
			break;
		}
		if (len - off < PROTO_HDR_SIZE + (size_t)h.len)
			break;
		off += PROTO_HDR_SIZE + h.len;
		handle_frame(conn, &h, data + off - h.len);
	}
	return off;
}

/* Keeps rest[0, n) (what conn_handle_frames left) in conn->in; rest is
 * inside conn->in when is_own, else in srv->rbuf. An idle connection holds
 * no input buffer. */
static void conn_keep(struct meta_conn *conn, const uint8_t *rest, size_t n, int is_own)
{
	if (!n) {
		free(conn->in), conn->in = NULL;
		conn->in_len = conn->in_cap = 0;
		return;
	}
	if (is_own) {
		memmove(conn->in, rest, n);
	} else {
		conn->in = xrealloc(conn->in, n);
		conn->in_cap = n;
		memcpy(conn->in, rest, n);
	}
	conn->in_len = n;
}

/* Makes room in conn->in for the next read: META_READ_SIZE more, or the
 * rest of the frame it holds the start of when that is larger (at most
 * PROTO_HDR_SIZE + PROTO_FRAME_MAX). */
static void conn_reserve(struct meta_conn *conn)
{
	size_t want = conn->in_len + META_READ_SIZE;
	struct proto_hdr h;

	if (conn->in_len >= PROTO_HDR_SIZE && !proto_hdr_decode(conn->in, PROTO_FRAME_MAX, &h) &&
	    PROTO_HDR_SIZE + (size_t)h.len > want)
		want = PROTO_HDR_SIZE + h.len;
	if (want > conn->in_cap) {
		conn->in = xrealloc(conn->in, want);
		conn->in_cap = want;
	}
}

/* Handles the frames in data (srv->rbuf or conn->in) and keeps the rest.
 * The reference keeps conn alive through a handler that closes it. */
static void conn_batch(struct meta_conn *conn, const uint8_t *data, size_t len)
{
	size_t used;

	conn->refs++;
	used = conn_handle_frames(conn, data, len);
	if (!conn->is_closed)
		conn_keep(conn, data + used, len - used, data == conn->in);
	conn_unref(conn);
}

static void conn_eof(struct meta_conn *conn)
{
	size_t left = conn->in_len;
	struct proto_hdr h;
	char why[128];

	if (!left) {
		meta_conn_close(conn, NULL);
		return;
	}
	/* Whole frames left unread belong to a peer we stopped reading (it did
	 * not read its replies); anything else is a cut frame. */
	if (left >= PROTO_HDR_SIZE && !proto_hdr_decode(conn->in, PROTO_FRAME_MAX, &h) &&
	    left >= PROTO_HDR_SIZE + (size_t)h.len)
		snprintf(why, sizeof(why), "peer closed with %zu bytes of requests unread", left);
	else
		snprintf(why, sizeof(why), "peer closed mid-frame (%zu of its bytes cut short)", left);
	meta_conn_close(conn, why);
}

/* One read per wake-up: EV_READ is persistent and level-triggered, so data
 * left in the socket wakes the loop again, and no read is spent learning
 * that the socket is empty. The replies go out at the end of the turn. */
static void conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct meta_conn *conn = arg;
	uint8_t *buf = conn->srv->rbuf;
	size_t room = META_READ_SIZE;
	ssize_t n;

	(void)what;
	if (conn->in_len) {
		conn_reserve(conn);
		buf = conn->in + conn->in_len;
		room = conn->in_cap - conn->in_len;
	}
	n = read(fd, buf, room);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			meta_conn_close(conn, strerror(errno));
		return;
	}
	if (n == 0) {
		conn_eof(conn);
		return;
	}
	conn->srv->nreads++;
	if (conn->in_len) {
		conn->in_len += (size_t)n;
		conn_batch(conn, conn->in, conn->in_len);
	} else {
		conn_batch(conn, buf, (size_t)n);
	}
}

/* One write(2) of what conn has queued, without blocking; what the socket
 * does not take waits for EV_WRITE. Once output that had stopped reading is
 * gone, reads again and handles the frames it held back. */
static void conn_write(struct meta_conn *conn)
{
	int n = evbuffer_write(conn->out, conn->fd);

	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		meta_conn_close(conn, strerror(errno));
		return;
	}
	if (n > 0)
		conn->srv->out_bytes -= (uint64_t)n;
	if (evbuffer_get_length(conn->out)) {
		event_add(conn->ev_write, NULL);
		return;
	}
	if (!conn->is_read_stopped)
		return;
	conn->is_read_stopped = 0;
	event_add(conn->ev_read, NULL);
	if (conn->in_len)
		conn_batch(conn, conn->in, conn->in_len);
}

static void conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_write(arg);
}

/* The end of a loop turn (see conn_want_flush). */
static void srv_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct meta_srv *srv = arg;

	(void)fd;
	(void)what;
	while (srv->flush_head) {
		struct meta_conn *conn = srv->flush_head;

		srv->flush_head = conn->flush_next;
		conn->flush_next = NULL;
		conn->is_flush_queued = 0;
		if (!conn->is_closed)
			conn_write(conn);
		conn_unref(conn);
	}
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	struct meta_srv *srv = arg;
	struct meta_conn *conn = xcalloc(1, sizeof(*conn));
	int one = 1;

	(void)l;
	(void)salen;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	evutil_make_socket_nonblocking(fd);
	conn->srv = srv;
	conn->refs = 1;
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)sa;
		char ip[32];

		evutil_inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		snprintf(conn->peer, sizeof(conn->peer), "%s:%u", ip, ntohs(sin->sin_port));
	} else {
		snprintf(conn->peer, sizeof(conn->peer), "peer");
	}
	conn->fd = fd;
	conn->out = evbuffer_new();
	conn->ev_read = event_new(srv->base, fd, EV_READ | EV_PERSIST, conn_read_cb, conn);
	conn->ev_write = event_new(srv->base, fd, EV_WRITE, conn_write_cb, conn);
	if (!conn->out || !conn->ev_read || !conn->ev_write) {
		log_error("out of memory for a connection; stopping");
		abort();
	}
	event_add(conn->ev_read, NULL);
	conn->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = conn;
	srv->conns = conn;
}

int meta_srv_listen(struct meta_srv *srv, const char *addr, uint16_t *port)
{
	int fd, rc = net_listen(addr, 512, &fd, port);

	if (rc)
		return rc;
	evutil_make_socket_nonblocking(fd);
	if (!srv->rbuf) {
		srv->rbuf = xmalloc(META_READ_SIZE);
		srv->ev_flush = event_new(srv->base, -1, 0, srv_flush_cb, srv);
		if (!srv->ev_flush) {
			close(fd);
			return -ENOMEM;
		}
	}
	srv->listener = evconnlistener_new(srv->base, accept_cb, srv, LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (!srv->listener) {
		close(fd);
		return -ENOMEM;
	}
	return 0;
}

void meta_srv_close_all(struct meta_srv *srv)
{
	while (srv->conns) {
		struct meta_conn *c = srv->conns;

		/* Keep client sessions: they resume after a restart. */
		if (c->sess && c->sess->role == PROTO_ROLE_CLIENT) {
			c->sess->conn = NULL;
			c->sess = NULL;
		}
		meta_conn_close(c, NULL);
	}
	while (srv->parked_head) {
		struct meta_parked *p = srv->parked_head;

		srv->parked_head = p->next;
		conn_unref(p->conn);
		proto_wbuf_free(&p->frame);
		free(p);
	}
	srv->parked_tail = NULL;
	srv_flush_cb(-1, 0, srv);
	if (srv->ev_flush)
		event_free(srv->ev_flush), srv->ev_flush = NULL;
	free(srv->rbuf), srv->rbuf = NULL;
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* After a turn that read requests, the loop polls (epoll_wait with no
 * timeout) for up to poll_us before it sleeps again, while meta_poll finds
 * that it pays (see meta_poll.c). */
void meta_srv_run(struct meta_srv *srv)
{
	struct meta_poll poll;
	int64_t until = 0;

	meta_poll_init(&poll, srv->conf.poll_us);
	for (;;) {
		uint64_t seen = srv->nreads;
		int polling = until != 0;
		uint32_t w;

		if (event_base_loop(srv->base, polling ? EVLOOP_NONBLOCK : EVLOOP_ONCE) < 0 ||
		    event_base_got_exit(srv->base) || event_base_got_break(srv->base))
			return;
		if (srv->nreads != seen) {
			if (polling)
				meta_poll_result(&poll, 1);
			w = meta_poll_window(&poll);
			until = w ? now_us() + w : 0;
		} else if (polling && now_us() >= until) {
			meta_poll_result(&poll, 0);
			until = 0;
		}
	}
}
