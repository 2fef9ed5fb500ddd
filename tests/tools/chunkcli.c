/* chunkcli: see chunkcli.h. Test code: simple blocking I/O, one thread per
 * stand-in metad connection, every frame still validated with msg_check. */
#include "tests/tools/chunkcli.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fs/msg.h"
#include "fs/net.h"
#include "fs/xmalloc.h"

static int sendv_all(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
		ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
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

/* Reads the reply to reqid; *r is positioned after the status. */
static int read_reply(struct ccli *c, uint16_t type, uint64_t reqid, struct proto_rbuf *r,
		      int32_t *status)
{
	struct proto_hdr h;
	int rc = net_frame_read(c->fd, PROTO_FRAME_MAX, &h, &c->buf);

	if (rc)
		return rc;
	if (!(h.flags & PROTO_F_REPLY) || h.type != type || h.reqid != reqid)
		return -EPROTO;
	rc = msg_check(type, 1, c->buf.data, c->buf.len);
	if (rc)
		return rc;
	proto_rbuf_init(r, c->buf.data, c->buf.len);
	proto_get_i32(r, status);
	return 0;
}

int ccli_connect(struct ccli *c, const char *addr, uint8_t role, struct casfs_uuid *uuid,
		 uint8_t *seed, uint32_t *seed_len, int timeout_ms)
{
	struct proto_rbuf r;
	const uint8_t *sp;
	uint32_t sl, tmo;
	uint64_t session;
	uint16_t version;
	int32_t status;
	int rc;

	memset(c, 0, sizeof(*c));
	proto_wbuf_init(&c->buf);
	c->fd = -1;
	rc = net_connect(addr, timeout_ms, &c->fd);
	if (rc)
		return rc;
	net_set_timeouts(c->fd, timeout_ms);
	c->reqid = 1;
	proto_frame_begin(&c->buf, MSG_HELLO, 0, c->reqid);
	proto_put_u16(&c->buf, PROTO_VERSION);
	proto_put_u8(&c->buf, role);
	proto_put_uuid(&c->buf, uuid);
	proto_put_str(&c->buf, "");
	proto_put_u64(&c->buf, 0);
	proto_put_str(&c->buf, "chunkcli");
	proto_frame_finish(&c->buf);
	rc = net_frame_write(c->fd, &c->buf);
	if (!rc)
		rc = read_reply(c, MSG_HELLO, c->reqid, &r, &status);
	if (!rc)
		rc = status;
	if (rc)
		return rc;
	proto_get_u16(&r, &version);
	proto_get_uuid(&r, uuid);
	proto_get_u64(&r, &session);
	proto_get_bytes(&r, &sp, &sl);
	proto_get_u32(&r, &tmo);
	if (proto_get_end(&r))
		return -EBADMSG;
	if (seed && seed_len) {
		*seed_len = sl < BLK_KEY_SEED_SIZE ? sl : BLK_KEY_SEED_SIZE;
		memcpy(seed, sp, *seed_len);
	}
	return 0;
}

void ccli_close(struct ccli *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	proto_wbuf_free(&c->buf);
}

int ccli_put(struct ccli *c, const struct blk_id *id, uint32_t flags, const struct ccli_hop *chain,
	     int nchain, const void *data, uint32_t len, struct ccli_status *st, int *nst)
{
	struct proto_hdr h;
	struct proto_rbuf r;
	struct iovec iov[2];
	uint8_t hb[PROTO_HDR_SIZE];
	uint64_t reqid = ++c->reqid;
	int32_t status;
	uint32_t n;
	size_t at;
	int rc, max = *nst;

	*nst = 0;
	proto_frame_begin(&c->buf, MSG_BLK_PUT, 0, reqid);
	proto_put_blkid(&c->buf, id);
	proto_put_u32(&c->buf, flags);
	at = proto_put_array_begin(&c->buf);
	for (int i = 0; i < nchain; i++) {
		proto_put_u32(&c->buf, chain[i].id);
		proto_put_str(&c->buf, chain[i].addr);
	}
	proto_put_array_end(&c->buf, at, (uint32_t)nchain);
	proto_put_u32(&c->buf, len);
	h.len = (uint32_t)(c->buf.len - PROTO_HDR_SIZE + len);
	h.type = MSG_BLK_PUT;
	h.flags = 0;
	h.reqid = reqid;
	proto_hdr_encode(&h, hb);
	memcpy(c->buf.data, hb, sizeof(hb));
	iov[0].iov_base = c->buf.data;
	iov[0].iov_len = c->buf.len;
	iov[1].iov_base = (void *)data;
	iov[1].iov_len = len;
	rc = sendv_all(c->fd, iov, len ? 2 : 1);
	if (!rc)
		rc = read_reply(c, MSG_BLK_PUT, reqid, &r, &status);
	if (rc)
		return rc;
	if (status)
		return status;
	proto_get_count(&r, 8, &n);
	for (uint32_t i = 0; i < n; i++) {
		struct ccli_status s;

		proto_get_u32(&r, &s.id);
		proto_get_i32(&r, &s.status);
		if (*nst < max)
			st[(*nst)++] = s;
	}
	return proto_get_end(&r);
}

int ccli_get(struct ccli *c, const struct blk_id *id, uint32_t off, uint32_t len, void *buf,
	     uint32_t cap, uint32_t *got)
{
	struct proto_rbuf r;
	const uint8_t *p;
	uint64_t reqid = ++c->reqid;
	int32_t status;
	uint32_t n;
	int rc;

	proto_frame_begin(&c->buf, MSG_BLK_GET, 0, reqid);
	proto_put_blkid(&c->buf, id);
	proto_put_u32(&c->buf, off);
	proto_put_u32(&c->buf, len);
	proto_frame_finish(&c->buf);
	rc = net_frame_write(c->fd, &c->buf);
	if (!rc)
		rc = read_reply(c, MSG_BLK_GET, reqid, &r, &status);
	if (rc)
		return rc;
	if (status)
		return status;
	proto_get_bytes(&r, &p, &n);
	if (proto_get_end(&r))
		return -EBADMSG;
	if (n > cap)
		return -ENOBUFS;
	memcpy(buf, p, n);
	*got = n;
	return 0;
}

int ccli_sync(struct ccli *c, const struct blk_id *ids, uint32_t n)
{
	struct proto_rbuf r;
	uint64_t reqid = ++c->reqid;
	int32_t status;
	size_t at;
	int rc;

	proto_frame_begin(&c->buf, MSG_BLK_SYNC, 0, reqid);
	at = proto_put_array_begin(&c->buf);
	for (uint32_t i = 0; i < n; i++)
		proto_put_blkid(&c->buf, &ids[i]);
	proto_put_array_end(&c->buf, at, n);
	proto_frame_finish(&c->buf);
	rc = net_frame_write(c->fd, &c->buf);
	if (!rc)
		rc = read_reply(c, MSG_BLK_SYNC, reqid, &r, &status);
	return rc ? rc : status;
}

int ccli_have(struct ccli *c, const struct blk_id *id, int *present)
{
	struct proto_rbuf r;
	uint64_t reqid = ++c->reqid;
	int32_t status;
	uint32_t n;
	uint8_t v = 0;
	size_t at;
	int rc;

	proto_frame_begin(&c->buf, MSG_BLK_HAVE, 0, reqid);
	at = proto_put_array_begin(&c->buf);
	proto_put_blkid(&c->buf, id);
	proto_put_array_end(&c->buf, at, 1);
	proto_frame_finish(&c->buf);
	rc = net_frame_write(c->fd, &c->buf);
	if (!rc)
		rc = read_reply(c, MSG_BLK_HAVE, reqid, &r, &status);
	if (rc || status)
		return rc ? rc : status;
	proto_get_count(&r, 1, &n);
	proto_get_u8(&r, &v);
	if (proto_get_end(&r) || n != 1)
		return -EBADMSG;
	*present = v;
	return 0;
}

/* ---- stand-in metad ---- */

#define FM_MAX_SERVERS 64

struct fm_conn {
	struct fakemeta *fm;
	int fd;
	uint32_t server_id;
	pthread_t thread;
	pthread_mutex_t wlock;
};

struct fakemeta {
	int listen_fd;
	pthread_t accept_thread;
	uint8_t seed[BLK_KEY_SEED_SIZE];
	struct casfs_uuid uuid;
	FILE *out;
	pthread_mutex_t lock;	/* guards conns, nconns, next_id, out */
	struct fm_conn *conns[256];
	int nconns;
	uint32_t next_id;
	int nregistered;
	uint64_t next_reqid;
	int is_stopping;
};

static void fm_event(struct fakemeta *fm, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fm_event(struct fakemeta *fm, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&fm->lock);
	va_start(ap, fmt);
	vfprintf(fm->out, fmt, ap);
	va_end(ap);
	fputc('\n', fm->out);
	fflush(fm->out);
	pthread_mutex_unlock(&fm->lock);
}

static int fm_write(struct fm_conn *fc, struct proto_wbuf *w)
{
	int rc;

	proto_frame_finish(w);
	pthread_mutex_lock(&fc->wlock);
	rc = net_frame_write(fc->fd, w);
	pthread_mutex_unlock(&fc->wlock);
	return rc;
}

static void *fm_conn_main(void *arg)
{
	struct fm_conn *fc = arg;
	struct fakemeta *fm = fc->fm;
	struct proto_wbuf in, out;
	struct proto_hdr h;

	proto_wbuf_init(&in);
	proto_wbuf_init(&out);
	while (net_frame_read(fc->fd, PROTO_FRAME_MAX, &h, &in) == 0) {
		int is_reply = (h.flags & PROTO_F_REPLY) != 0;
		struct proto_rbuf r;
		char hex[BLK_ID_HEX_LEN + 1];
		struct blk_id id;
		uint32_t n, u32;
		int32_t st;

		if (msg_check(h.type, is_reply, in.data, in.len)) {
			fm_event(fm, "badframe %u", h.type);
			break;
		}
		proto_rbuf_init(&r, in.data, in.len);
		if (is_reply) {
			proto_get_i32(&r, &st);
			fm_event(fm, "reply %u %s %d", fc->server_id, msg_lookup(h.type)->name, st);
			continue;
		}
		switch (h.type) {
		case MSG_HELLO:
			proto_reply_begin(&out, h.type, h.reqid, 0);
			proto_put_u16(&out, PROTO_VERSION);
			proto_put_uuid(&out, &fm->uuid);
			proto_put_u64(&out, 1);
			proto_put_bytes(&out, fm->seed, sizeof(fm->seed));
			proto_put_u32(&out, 10000);
			break;
		case MSG_CS_REGISTER: {
			char addr[PROTO_STR_MAX + 1];

			proto_get_u32(&r, &u32);
			proto_get_str(&r, addr, sizeof(addr));
			pthread_mutex_lock(&fm->lock);
			if (u32 == 0)
				u32 = ++fm->next_id;
			else if (u32 > fm->next_id)
				fm->next_id = u32;
			fc->server_id = u32;
			fm->nregistered++;
			pthread_mutex_unlock(&fm->lock);
			fm_event(fm, "registered %u %s", u32, addr);
			proto_reply_begin(&out, h.type, h.reqid, 0);
			proto_put_u32(&out, u32);
			break;
		}
		case MSG_CS_INVENTORY:
		case MSG_CS_ADDED: {
			uint8_t last = 0;

			if (h.type == MSG_CS_INVENTORY)
				proto_get_u8(&r, &last);
			proto_get_count(&r, 21, &n);
			for (uint32_t i = 0; i < n; i++) {
				proto_get_blkid(&r, &id);
				proto_get_u32(&r, &u32);
				blk_id_format(&id, hex);
				fm_event(fm, "%s %u %s %u", h.type == MSG_CS_ADDED ? "added" : "have",
					 fc->server_id, hex, u32);
			}
			if (h.type == MSG_CS_INVENTORY && last)
				fm_event(fm, "inventory %u done", fc->server_id);
			proto_reply_begin(&out, h.type, h.reqid, 0);
			break;
		}
		case MSG_CS_HEARTBEAT: {
			uint64_t total, free_b, used, blocks;
			uint32_t load, flags;

			proto_get_u64(&r, &total);
			proto_get_u64(&r, &free_b);
			proto_get_u64(&r, &used);
			proto_get_u64(&r, &blocks);
			proto_get_u32(&r, &load);
			proto_get_u32(&r, &flags);
			fm_event(fm, "heartbeat %u blocks %llu used %llu free %llu flags %u",
				 fc->server_id, (unsigned long long)blocks,
				 (unsigned long long)used, (unsigned long long)free_b, flags);
			proto_reply_begin(&out, h.type, h.reqid, 0);
			break;
		}
		case MSG_CS_BAD:
			proto_get_blkid(&r, &id);
			blk_id_format(&id, hex);
			fm_event(fm, "bad %u %s", fc->server_id, hex);
			proto_reply_begin(&out, h.type, h.reqid, 0);
			break;
		default:
			proto_reply_begin(&out, h.type, h.reqid, -EOPNOTSUPP);
			break;
		}
		if (fm_write(fc, &out))
			break;
	}
	if (fc->server_id)
		fm_event(fm, "disconnected %u", fc->server_id);
	pthread_mutex_lock(&fm->lock);
	if (fc->server_id)
		fm->nregistered--;
	fc->server_id = 0;
	pthread_mutex_unlock(&fm->lock);
	proto_wbuf_free(&in);
	proto_wbuf_free(&out);
	return NULL;
}

static void *fm_accept_main(void *arg)
{
	struct fakemeta *fm = arg;

	for (;;) {
		int fd = accept4(fm->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		struct fm_conn *fc;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break;
		}
		pthread_mutex_lock(&fm->lock);
		if (fm->is_stopping || fm->nconns == 256) {
			pthread_mutex_unlock(&fm->lock);
			close(fd);
			continue;
		}
		fc = xcalloc(1, sizeof(*fc));
		fc->fm = fm;
		fc->fd = fd;
		pthread_mutex_init(&fc->wlock, NULL);
		fm->conns[fm->nconns++] = fc;
		pthread_create(&fc->thread, NULL, fm_conn_main, fc);
		pthread_mutex_unlock(&fm->lock);
	}
	return NULL;
}

int fakemeta_start(const char *addr, const uint8_t seed[BLK_KEY_SEED_SIZE],
		   const struct casfs_uuid *uuid, FILE *out, struct fakemeta **fmp, char bound[64])
{
	struct fakemeta *fm = xcalloc(1, sizeof(*fm));
	uint16_t port;
	int rc;

	rc = net_listen(addr, 64, &fm->listen_fd, &port);
	if (rc) {
		free(fm);
		return rc;
	}
	memcpy(fm->seed, seed, sizeof(fm->seed));
	fm->uuid = *uuid;
	fm->out = out;
	fm->next_reqid = 1000;
	pthread_mutex_init(&fm->lock, NULL);
	snprintf(bound, 64, "127.0.0.1:%u", port);
	pthread_create(&fm->accept_thread, NULL, fm_accept_main, fm);
	*fmp = fm;
	return 0;
}

void fakemeta_stop(struct fakemeta *fm)
{
	pthread_mutex_lock(&fm->lock);
	fm->is_stopping = 1;
	pthread_mutex_unlock(&fm->lock);
	shutdown(fm->listen_fd, SHUT_RDWR);
	pthread_join(fm->accept_thread, NULL);
	close(fm->listen_fd);
	for (int i = 0; i < fm->nconns; i++) {
		shutdown(fm->conns[i]->fd, SHUT_RDWR);
		pthread_join(fm->conns[i]->thread, NULL);
		close(fm->conns[i]->fd);
		pthread_mutex_destroy(&fm->conns[i]->wlock);
		free(fm->conns[i]);
	}
	pthread_mutex_destroy(&fm->lock);
	free(fm);
}

int fakemeta_count(struct fakemeta *fm)
{
	int n;

	pthread_mutex_lock(&fm->lock);
	n = fm->nregistered;
	pthread_mutex_unlock(&fm->lock);
	return n;
}

static struct fm_conn *fm_find(struct fakemeta *fm, uint32_t sid)
{
	struct fm_conn *fc = NULL;

	pthread_mutex_lock(&fm->lock);
	for (int i = 0; i < fm->nconns; i++)
		if (fm->conns[i]->server_id == sid)
			fc = fm->conns[i];
	pthread_mutex_unlock(&fm->lock);
	return fc;
}

int fakemeta_command(struct fakemeta *fm, const char *line)
{
	char cmd[32], hex[80], src[300];
	struct proto_wbuf w;
	struct fm_conn *fc;
	struct blk_id id;
	unsigned sid, len, src_id;
	size_t at;
	int rc;

	if (sscanf(line, "%31s %u %79s", cmd, &sid, hex) != 3 || blk_id_parse(hex, &id))
		return -EINVAL;
	fc = fm_find(fm, sid);
	if (!fc)
		return -ENOENT;
	proto_wbuf_init(&w);
	if (!strcmp(cmd, "replicate")) {
		if (sscanf(line, "%*s %*u %*s %u %u@%299s", &len, &src_id, src) != 3) {
			proto_wbuf_free(&w);
			return -EINVAL;
		}
		proto_frame_begin(&w, MSG_CS_REPLICATE, 0, ++fm->next_reqid);
		proto_put_blkid(&w, &id);
		proto_put_u32(&w, len);
		at = proto_put_array_begin(&w);
		proto_put_u32(&w, src_id);
		proto_put_str(&w, src);
		proto_put_array_end(&w, at, 1);
	} else if (!strcmp(cmd, "delete")) {
		proto_frame_begin(&w, MSG_CS_DELETE, 0, ++fm->next_reqid);
		at = proto_put_array_begin(&w);
		proto_put_blkid(&w, &id);
		proto_put_array_end(&w, at, 1);
	} else {
		proto_wbuf_free(&w);
		return -EINVAL;
	}
	rc = fm_write(fc, &w);
	proto_wbuf_free(&w);
	return rc;
}
