/* net: the few socket operations every part needs, with the error
 * conventions of the rest of the code (0 or -errno). Connections are plain
 * TCP; frames are written with one write where possible so small requests
 * leave in one segment (TCP_NODELAY is on everywhere). Local sockets (Unix,
 * abstract names) carry the same frames plus descriptors, for peers on one
 * host. */
#include "net.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "conf.h"
#include "xmalloc.h"

static int net_resolve(const char *addr, struct sockaddr_storage *ss, socklen_t *sslen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res;
	char host[256], port[8];
	uint16_t p;
	int rc;

	if (conf_parse_addr(addr, host, sizeof(host), &p))
		return -EINVAL;
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	snprintf(port, sizeof(port), "%u", p);
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc)
		return -EHOSTUNREACH;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sslen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int net_listen(const char *addr, int backlog, int *fd, uint16_t *port_out)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int one = 1, s, rc;

	rc = net_resolve(addr, &ss, &sslen);
	if (rc)
		return rc;
	s = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (struct sockaddr *)&ss, sslen) < 0 || listen(s, backlog) < 0) {
		rc = -errno;
		close(s);
		return rc;
	}
	if (port_out) {
		sslen = sizeof(ss);
		getsockname(s, (struct sockaddr *)&ss, &sslen);
		*port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							   : ((struct sockaddr_in *)&ss)->sin_port);
	}
	*fd = s;
	return 0;
}

int net_connect(const char *addr, int timeout_ms, int *fd)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct pollfd pfd;
	int one = 1, s, rc, err = 0;
	socklen_t errlen = sizeof(err);

	rc = net_resolve(addr, &ss, &sslen);
	if (rc)
		return rc;
	s = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&ss, sslen) < 0) {
		if (errno != EINPROGRESS) {
			rc = -errno;
			goto fail;
		}
		pfd.fd = s;
		pfd.events = POLLOUT;
		do
			rc = poll(&pfd, 1, timeout_ms);
		while (rc < 0 && errno == EINTR);
		if (rc == 0) {
			rc = -ETIMEDOUT;
			goto fail;
		}
		getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &errlen);
		if (err) {
			rc = -err;
			goto fail;
		}
	}
	net_set_nonblock(s, 0);
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*fd = s;
	return 0;
fail:
	close(s);
	return rc;
}

int net_set_timeouts(int fd, int timeout_ms)
{
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	return 0;
}

int net_set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -errno;
	fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	return fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0;
}

/* One read() of up to len bytes: the count, or -ECONNRESET at EOF, -EAGAIN
 * on a receive timeout, -errno otherwise (EINTR is retried). */
static ssize_t read_some(int fd, void *p, size_t len)
{
	for (;;) {
		ssize_t n = read(fd, p, len);

		if (n > 0)
			return n;
		if (n == 0)
			return -ECONNRESET;
		if (errno != EINTR)
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
}

int net_read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = read_some(fd, p, len);

		if (n < 0)
			return (int)n;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int net_write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Decodes header hb and reads the payload it announces. */
static int frame_payload(int fd, const uint8_t *hb, uint32_t max_len, struct proto_hdr *h,
			 struct proto_wbuf *payload)
{
	int rc = proto_hdr_decode(hb, max_len, h);

	if (rc)
		return rc;
	proto_wbuf_reset(payload);
	if (h->len > payload->cap) {
		payload->data = xrealloc(payload->data, h->len);
		payload->cap = h->len;
	}
	payload->len = h->len;
	return h->len ? net_read_full(fd, payload->data, h->len) : 0;
}

int net_frame_read(int fd, uint32_t max_len, struct proto_hdr *h, struct proto_wbuf *payload)
{
	uint8_t hb[PROTO_HDR_SIZE];
	int rc;

	rc = net_read_full(fd, hb, sizeof(hb));
	return rc ? rc : frame_payload(fd, hb, max_len, h, payload);
}

/* Small frames (replies, requests) fit many to a read; a larger one grows
 * the buffer to exactly what it needs. */
#define NET_RBUF_MIN (64u << 10)

void net_rbuf_init(struct net_rbuf *rb)
{
	memset(rb, 0, sizeof(*rb));
}

void net_rbuf_free(struct net_rbuf *rb)
{
	free(rb->data);
	memset(rb, 0, sizeof(*rb));
}

/* Makes room for need bytes from rb->off on, keeping what is unread. */
static void rbuf_reserve(struct net_rbuf *rb, size_t need)
{
	if (rb->off && rb->off + need > rb->cap) {
		memmove(rb->data, rb->data + rb->off, rb->len);
		rb->off = 0;
	}
	if (need > rb->cap) {
		size_t cap = need > NET_RBUF_MIN ? need : NET_RBUF_MIN;

		rb->data = xrealloc(rb->data, cap);
		rb->cap = cap;
	}
}

/* Reads until at least need bytes are unread. */
static int rbuf_fill(int fd, struct net_rbuf *rb, size_t need)
{
	rbuf_reserve(rb, need);
	while (rb->len < need) {
		ssize_t n = read_some(fd, rb->data + rb->off + rb->len,
				      rb->cap - rb->off - rb->len);

		if (n < 0)
			return (int)n;
		rb->len += (size_t)n;
	}
	return 0;
}

int net_rbuf_frame(int fd, struct net_rbuf *rb, uint32_t max_len, struct proto_hdr *h,
		   const uint8_t **payload)
{
	int rc = rbuf_fill(fd, rb, PROTO_HDR_SIZE);

	if (rc)
		return rc;
	rc = proto_hdr_decode(rb->data + rb->off, max_len, h);
	if (rc)
		return rc;
	rc = rbuf_fill(fd, rb, PROTO_HDR_SIZE + (size_t)h->len);
	if (rc)
		return rc;
	*payload = rb->data + rb->off + PROTO_HDR_SIZE;
	rb->off += PROTO_HDR_SIZE + (size_t)h->len;
	rb->len -= PROTO_HDR_SIZE + (size_t)h->len;
	if (!rb->len)
		rb->off = 0;
	return 0;
}

int net_rbuf_has_frame(const struct net_rbuf *rb)
{
	uint32_t len;

	if (rb->len < PROTO_HDR_SIZE)
		return 0;
	memcpy(&len, rb->data + rb->off, 4);
	return rb->len >= PROTO_HDR_SIZE + (size_t)le32toh(len);
}

int net_frame_write(int fd, const struct proto_wbuf *frame)
{
	return net_write_full(fd, frame->data, frame->len);
}

/* A Unix stream socket, and name's address in the abstract namespace. */
static int local_socket(const char *name, struct sockaddr_un *un, socklen_t *len, int *s)
{
	size_t n = strlen(name);

	if (n == 0 || n > NET_LOCAL_NAME_MAX || n + 1 > sizeof(un->sun_path))
		return -ENAMETOOLONG;
	memset(un, 0, sizeof(*un));
	un->sun_family = AF_UNIX;
	memcpy(un->sun_path + 1, name, n);	/* sun_path[0] = 0: abstract */
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	*s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	return *s < 0 ? -errno : 0;
}

int net_local_listen(const char *name, int backlog, int *fd)
{
	struct sockaddr_un un;
	socklen_t len;
	int s, rc;

	rc = local_socket(name, &un, &len, &s);
	if (!rc && (bind(s, (struct sockaddr *)&un, len) < 0 || listen(s, backlog) < 0)) {
		rc = -errno;
		close(s);
	}
	if (!rc)
		*fd = s;
	return rc;
}

int net_local_connect(const char *name, int *fd)
{
	struct sockaddr_un un;
	socklen_t len;
	int s, rc;

	rc = local_socket(name, &un, &len, &s);
	if (!rc && connect(s, (struct sockaddr *)&un, len) < 0) {
		rc = -errno;
		close(s);
	}
	if (!rc)
		*fd = s;
	return rc;
}

int net_frame_write_fd(int fd, const struct proto_wbuf *frame, int pass)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = frame->data, .iov_len = frame->len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	ssize_t n;

	memset(&ctl, 0, sizeof(ctl));
	m.msg_control = ctl.buf;
	m.msg_controllen = sizeof(ctl.buf);
	c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &pass, sizeof(int));
	do
		n = sendmsg(fd, &m, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	/* the descriptor went with the first byte; the rest goes plainly */
	return net_write_full(fd, frame->data + n, frame->len - (size_t)n);
}

/* Takes the descriptors of one control message: the first into *passed
 * (if still empty), the rest closed. */
static void local_take_fds(struct msghdr *m, int *passed)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int got;

			memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*passed < 0)
				*passed = got;
			else
				close(got);
		}
	}
}

int net_frame_read_fd(int fd, uint32_t max_len, struct proto_hdr *h, struct proto_wbuf *payload,
		      int *passed)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(4 * sizeof(int))];
	} ctl;
	uint8_t hb[PROTO_HDR_SIZE];
	struct iovec iov = { .iov_base = hb, .iov_len = sizeof(hb) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;
	int rc;

	*passed = -1;
	m.msg_control = ctl.buf;
	m.msg_controllen = sizeof(ctl.buf);
	do
		n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	local_take_fds(&m, passed);
	if (n == 0)
		rc = -ECONNRESET;
	else
		rc = net_read_full(fd, hb + n, sizeof(hb) - (size_t)n);
	if (!rc)
		rc = frame_payload(fd, hb, max_len, h, payload);
	if (rc && *passed >= 0) {
		close(*passed);
		*passed = -1;
	}
	return rc;
}
