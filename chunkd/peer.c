/* chunk_peer: connections from this chunk server to its peers, and the wire
 * helpers every chunkd subsystem uses (HELLO, frames with a block attached,
 * reply reading).
 *
 * A pooled connection has completed HELLO and has no request in flight. Each
 * get hands a connection to one thread, which does one request/reply
 * exchange and gives it back; any error on it closes it instead, so a
 * connection in the pool is never out of step with its peer. Idle pooled
 * connections that the peer may have closed are checked (poll for EOF) and
 * dropped past half the idle timeout. The pool's lock guards only the list.
 * Every operation runs under the socket timeouts (conf.timeout_ms), so a
 * stalled peer costs the calling thread at most that long; at shutdown
 * chunk_peers_abort cuts every connection in use, so no thread waits that
 * long to stop. */
#include "chunkd/peer.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fs/log.h"
#include "fs/msg.h"
#include "fs/net.h"
#include "fs/xmalloc.h"

/* Idle connections kept per daemon: a chain server talks to a few peers,
 * each from up to a few concurrent PUT streams. */
#define PEER_POOL_MAX 64

static void conn_close(struct chunk_peer_conn *c);

struct chunk_peers {
	pthread_mutex_t lock;	/* guards everything below */
	struct chunk_peer_conn *idle;
	int nidle;
	struct chunk_peer_conn *busy;	/* handed out: shut down on abort */
	int is_aborted;
};

static void busy_add(struct chunk_peers *p, struct chunk_peer_conn *c)
{
	c->next_busy = p->busy;
	if (p->busy)
		p->busy->pprev_busy = &c->next_busy;
	c->pprev_busy = &p->busy;
	p->busy = c;
}

static void busy_del(struct chunk_peer_conn *c)
{
	if (!c->pprev_busy)
		return;
	*c->pprev_busy = c->next_busy;
	if (c->next_busy)
		c->next_busy->pprev_busy = c->pprev_busy;
	c->pprev_busy = NULL;
	c->next_busy = NULL;
}

/* Hands c to the caller, unless the pool was aborted (then c is closed). */
static int hand_out(struct chunk_peers *p, struct chunk_peer_conn *c,
		    struct chunk_peer_conn **out)
{
	int is_aborted;

	pthread_mutex_lock(&p->lock);
	is_aborted = p->is_aborted;
	if (!is_aborted)
		busy_add(p, c);
	pthread_mutex_unlock(&p->lock);
	if (is_aborted) {
		conn_close(c);
		return -ESHUTDOWN;
	}
	c->next = NULL;
	*out = c;
	return 0;
}

int64_t chunk_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- wire helpers ---- */

int chunk_wire_sendv(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
		ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
		}
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* Rewrites the header reserved by proto_frame_begin so that its length
 * counts len more bytes sent after w's content. */
static int wire_extend(struct proto_wbuf *w, uint32_t len)
{
	struct proto_hdr h;
	uint8_t hb[PROTO_HDR_SIZE];
	uint64_t total = w->len - PROTO_HDR_SIZE + (uint64_t)len;

	if (total > PROTO_FRAME_MAX)
		return -EMSGSIZE;
	if (proto_hdr_decode(w->data, PROTO_FRAME_MAX, &h))
		return -EINVAL;
	h.len = (uint32_t)total;
	proto_hdr_encode(&h, hb);
	memcpy(w->data, hb, sizeof(hb));
	return 0;
}

int chunk_wire_send_with_data(int fd, struct proto_wbuf *w, const void *data, uint32_t len)
{
	struct iovec iov[2];
	int rc = wire_extend(w, len);

	if (rc)
		return rc;
	iov[0].iov_base = w->data;
	iov[0].iov_len = w->len;
	iov[1].iov_base = (void *)data;
	iov[1].iov_len = len;
	return chunk_wire_sendv(fd, iov, len ? 2 : 1);
}

int chunk_wire_send_with_file(int fd, struct proto_wbuf *w, int file, uint64_t off, uint32_t len)
{
	off_t pos = (off_t)off;
	size_t sent = 0;
	int rc = wire_extend(w, len);

	while (!rc && sent < w->len) {
		ssize_t n = send(fd, w->data + sent, w->len - sent, MSG_NOSIGNAL | MSG_MORE);

		if (n < 0 && errno != EINTR)
			rc = errno == EWOULDBLOCK ? -EAGAIN : -errno;
		else if (n > 0)
			sent += (size_t)n;
	}
	while (!rc && len > 0) {
		ssize_t n = sendfile(fd, file, &pos, len);

		if (n < 0 && errno != EINTR)
			rc = errno == EWOULDBLOCK ? -EAGAIN : -errno;
		else if (n == 0)
			rc = -EIO;	/* the file shrank under us: the frame is cut */
		else if (n > 0)
			len -= (uint32_t)n;
	}
	return rc;
}

int chunk_wire_read_reply(int fd, uint16_t type, uint64_t reqid, struct proto_wbuf *buf,
			  int32_t *status)
{
	struct proto_hdr h;
	struct proto_rbuf r;
	int rc;

	rc = net_frame_read(fd, PROTO_FRAME_MAX, &h, buf);
	if (rc)
		return rc;
	if (!(h.flags & PROTO_F_REPLY) || h.type != type || h.reqid != reqid)
		return -EPROTO;
	rc = msg_check(h.type, 1, buf->data, buf->len);
	if (rc)
		return rc;
	proto_rbuf_init(&r, buf->data, buf->len);
	proto_get_i32(&r, status);
	return 0;
}

int chunk_wire_hello(int fd, uint8_t role, const struct casfs_uuid *want, const char *auth,
		     const char *name, struct casfs_uuid *uuid, uint8_t *seed, uint32_t *seed_len)
{
	struct proto_wbuf w;
	struct proto_rbuf r;
	const uint8_t *sp;
	uint32_t sl = 0, tmo;
	uint64_t session;
	uint16_t version;
	int32_t status;
	int rc;

	proto_wbuf_init(&w);
	proto_frame_begin(&w, MSG_HELLO, 0, 1);
	proto_put_u16(&w, PROTO_VERSION);
	proto_put_u8(&w, role);
	proto_put_uuid(&w, want);
	proto_put_str(&w, auth ? auth : "");
	proto_put_u64(&w, 0);
	proto_put_str(&w, name);
	rc = proto_frame_finish(&w);
	if (!rc)
		rc = net_frame_write(fd, &w);
	if (!rc)
		rc = chunk_wire_read_reply(fd, MSG_HELLO, 1, &w, &status);
	if (rc)
		goto out;
	if (status) {
		rc = status;
		goto out;
	}
	proto_rbuf_init(&r, w.data + 4, w.len - 4);
	proto_get_u16(&r, &version);
	proto_get_uuid(&r, uuid);
	proto_get_u64(&r, &session);
	proto_get_bytes(&r, &sp, &sl);
	proto_get_u32(&r, &tmo);
	if (proto_get_end(&r)) {
		rc = -EBADMSG;
		goto out;
	}
	if (seed_len) {
		if (sl > BLK_KEY_SEED_SIZE)
			sl = BLK_KEY_SEED_SIZE;
		memcpy(seed, sp, sl);
		*seed_len = sl;
	}
out:
	proto_wbuf_free(&w);
	return rc;
}

/* ---- pool ---- */

void chunk_peers_init(struct chunkd *cd)
{
	cd->peers = xcalloc(1, sizeof(*cd->peers));
	pthread_mutex_init(&cd->peers->lock, NULL);
}

static void conn_close(struct chunk_peer_conn *c)
{
	close(c->fd);
	proto_wbuf_free(&c->buf);
	free(c);
}

void chunk_peers_free(struct chunkd *cd)
{
	struct chunk_peer_conn *c, *next;

	if (!cd->peers)
		return;
	for (c = cd->peers->idle; c; c = next) {
		next = c->next;
		conn_close(c);
	}
	pthread_mutex_destroy(&cd->peers->lock);
	free(cd->peers);
	cd->peers = NULL;
}

/* A pooled connection is usable if the peer has not closed it: nothing may
 * be readable on an idle connection. */
static int conn_is_alive(struct chunkd *cd, struct chunk_peer_conn *c)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };

	if (chunk_now_ms() - c->idle_since_ms > cd->conf.idle_timeout_ms / 2)
		return 0;
	return poll(&pfd, 1, 0) == 0;
}

int chunk_peer_get(struct chunkd *cd, const char *addr, struct chunk_peer_conn **out)
{
	struct chunk_peers *p = cd->peers;
	struct chunk_peer_conn **pp, *c = NULL;
	struct casfs_uuid uuid, got;
	int fd, rc;

	for (;;) {
		pthread_mutex_lock(&p->lock);
		for (pp = &p->idle; *pp && strcmp((*pp)->addr, addr); pp = &(*pp)->next)
			;
		c = *pp;
		if (c) {
			*pp = c->next;
			p->nidle--;
		}
		pthread_mutex_unlock(&p->lock);
		if (!c)
			break;
		if (conn_is_alive(cd, c))
			return hand_out(p, c, out);
		conn_close(c);
	}
	rc = net_connect(addr, cd->conf.timeout_ms, &fd);
	if (rc)
		return rc;
	net_set_timeouts(fd, cd->conf.timeout_ms);
	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	snprintf(c->addr, sizeof(c->addr), "%s", addr);
	c->next_reqid = 2;
	proto_wbuf_init(&c->buf);
	/* busy from here on, so an abort also cuts a HELLO that hangs */
	rc = hand_out(p, c, &c);
	if (rc)
		return rc;
	pthread_mutex_lock(&cd->lock);
	uuid = cd->uuid;
	pthread_mutex_unlock(&cd->lock);
	rc = chunk_wire_hello(fd, PROTO_ROLE_CHUNKD, &uuid, cd->conf.auth_key, cd->self_addr, &got,
			      NULL, NULL);
	if (rc) {
		log_warn("peer %s refused HELLO: %s", addr, strerror(-rc));
		chunk_peer_release(cd, c, 0);
		return rc;
	}
	*out = c;
	return 0;
}

void chunk_peer_release(struct chunkd *cd, struct chunk_peer_conn *c, int is_reusable)
{
	struct chunk_peers *p = cd->peers;

	pthread_mutex_lock(&p->lock);
	busy_del(c);
	pthread_mutex_unlock(&p->lock);
	if (!is_reusable || atomic_load(&cd->is_stopping)) {
		conn_close(c);
		return;
	}
	/* a 8 MiB buffer per idle connection adds up: keep small ones only */
	if (c->buf.cap > (1u << 20) + 4096) {
		proto_wbuf_free(&c->buf);
		proto_wbuf_init(&c->buf);
	}
	c->idle_since_ms = chunk_now_ms();
	pthread_mutex_lock(&p->lock);
	if (p->nidle < PEER_POOL_MAX) {
		c->next = p->idle;
		p->idle = c;
		p->nidle++;
		c = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	if (c)
		conn_close(c);
}

void chunk_peers_abort(struct chunkd *cd)
{
	struct chunk_peers *p = cd->peers;

	pthread_mutex_lock(&p->lock);
	p->is_aborted = 1;
	for (struct chunk_peer_conn *c = p->busy; c; c = c->next_busy)
		shutdown(c->fd, SHUT_RDWR);
	pthread_mutex_unlock(&p->lock);
}

int chunk_peer_fetch(struct chunkd *cd, const char *addr, const struct blk_key *key,
		     const struct blk_id *id, uint8_t **data, uint32_t *len)
{
	struct chunk_peer_conn *c;
	struct proto_rbuf r;
	const uint8_t *p;
	uint64_t reqid;
	int32_t status;
	uint32_t n;
	int rc;

	rc = chunk_peer_get(cd, addr, &c);
	if (rc)
		return rc;
	reqid = c->next_reqid++;
	proto_frame_begin(&c->buf, MSG_BLK_GET, 0, reqid);
	proto_put_blkid(&c->buf, id);
	proto_put_u32(&c->buf, 0);
	proto_put_u32(&c->buf, 0);
	rc = proto_frame_finish(&c->buf);
	if (!rc)
		rc = net_frame_write(c->fd, &c->buf);
	if (!rc)
		rc = chunk_wire_read_reply(c->fd, MSG_BLK_GET, reqid, &c->buf, &status);
	if (rc) {
		chunk_peer_release(cd, c, 0);
		return rc;
	}
	if (status) {
		chunk_peer_release(cd, c, 1);
		return status;
	}
	proto_rbuf_init(&r, c->buf.data + 4, c->buf.len - 4);
	proto_get_bytes(&r, &p, &n);
	rc = proto_get_end(&r);
	if (!rc && blk_verify(key, p, n, id))
		rc = -EBADMSG;
	if (!rc) {
		*data = xmalloc(n ? n : 1);
		memcpy(*data, p, n);
		*len = n;
	}
	chunk_peer_release(cd, c, 1);
	return rc;
}
