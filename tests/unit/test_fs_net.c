/* Unit tests for the socket helpers (fs/net.c) on real loopback TCP:
 * listen on a free port, connect, frames both ways, refused connections,
 * read timeouts and bad addresses. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "fs/msg.h"
#include "fs/net.h"
#include "fs/proto.h"

static void listen_any(int *lfd, char *addr, size_t addrlen)
{
	uint16_t port = 0;

	assert_int_equal(net_listen("127.0.0.1:0", 16, lfd, &port), 0);
	assert_int_not_equal(port, 0);
	snprintf(addr, addrlen, "127.0.0.1:%u", port);
}

static void test_connect_and_frames(void **state)
{
	struct proto_wbuf w, payload;
	struct proto_hdr h;
	char addr[64];
	int lfd, cfd, sfd;

	(void)state;
	proto_wbuf_init(&w);
	proto_wbuf_init(&payload);
	listen_any(&lfd, addr, sizeof(addr));
	assert_int_equal(net_connect(addr, 2000, &cfd), 0);
	sfd = accept(lfd, NULL, NULL);
	assert_true(sfd >= 0);
	/* The connected socket is blocking. */
	assert_int_equal(fcntl(cfd, F_GETFL) & O_NONBLOCK, 0);

	proto_frame_begin(&w, MSG_GETATTR, 0, 7);
	proto_put_u64(&w, 1);
	assert_int_equal(proto_frame_finish(&w), 0);
	assert_int_equal(net_frame_write(cfd, &w), 0);
	assert_int_equal(net_frame_read(sfd, PROTO_FRAME_MAX, &h, &payload), 0);
	assert_int_equal(h.type, MSG_GETATTR);
	assert_int_equal(h.reqid, 7);
	assert_int_equal(msg_check(h.type, 0, payload.data, payload.len), 0);

	proto_reply_begin(&w, MSG_GETATTR, 7, -ENOENT);
	assert_int_equal(proto_frame_finish(&w), 0);
	assert_int_equal(net_frame_write(sfd, &w), 0);
	assert_int_equal(net_frame_read(cfd, PROTO_FRAME_MAX, &h, &payload), 0);
	assert_int_equal(h.flags, PROTO_F_REPLY);
	assert_int_equal(msg_check(h.type, 1, payload.data, payload.len), 0);

	/* The peer going away is -ECONNRESET, not a short read. */
	close(sfd);
	assert_int_equal(net_frame_read(cfd, PROTO_FRAME_MAX, &h, &payload), -ECONNRESET);
	close(cfd);
	close(lfd);
	proto_wbuf_free(&payload);
	proto_wbuf_free(&w);
}

/* A name no other test run can hold: the abstract namespace is shared by
 * every process of the network namespace. */
static void local_name(char *out, size_t len, const char *what)
{
	snprintf(out, len, "casfs-test/%d/%s", (int)getpid(), what);
}

static void test_local_names(void **state)
{
	char name[NET_LOCAL_NAME_MAX + 2];
	int lfd, fd;

	(void)state;
	local_name(name, sizeof(name), "names");
	assert_int_equal(net_local_connect(name, &fd), -ECONNREFUSED);
	assert_int_equal(net_local_listen(name, 4, &lfd), 0);
	/* a second owner of the name is refused: a chunk server that finds
	 * its name taken reads over TCP instead */
	assert_int_equal(net_local_listen(name, 4, &fd), -EADDRINUSE);
	close(lfd);
	/* the name goes with the socket: no file left behind to clean up */
	assert_int_equal(net_local_listen(name, 4, &lfd), 0);
	close(lfd);
	memset(name, 'x', NET_LOCAL_NAME_MAX + 1);
	name[NET_LOCAL_NAME_MAX + 1] = 0;
	assert_int_equal(net_local_listen(name, 4, &lfd), -ENAMETOOLONG);
	assert_int_equal(net_local_connect("", &fd), -ENAMETOOLONG);
}

/* A pipe's read end sent with a frame; whether what comes out of the
 * received descriptor is what went into the pipe. */
static void test_local_frame_fd(void **state)
{
	struct proto_wbuf w, payload;
	struct proto_hdr h;
	char name[NET_LOCAL_NAME_MAX + 1], got[8] = { 0 };
	int lfd, cfd, sfd, p[2], passed;

	(void)state;
	proto_wbuf_init(&w);
	proto_wbuf_init(&payload);
	local_name(name, sizeof(name), "fd");
	assert_int_equal(net_local_listen(name, 4, &lfd), 0);
	assert_int_equal(net_local_connect(name, &cfd), 0);
	sfd = accept(lfd, NULL, NULL);
	assert_true(sfd >= 0);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "block", 5), 5);
	close(p[1]);

	proto_reply_begin(&w, MSG_BLK_OPEN, 9, 0);
	proto_put_u32(&w, 5);
	assert_int_equal(proto_frame_finish(&w), 0);
	assert_int_equal(net_frame_write_fd(sfd, &w, p[0]), 0);
	close(p[0]);
	assert_int_equal(net_frame_read_fd(cfd, PROTO_FRAME_MAX, &h, &payload, &passed), 0);
	assert_int_equal(h.type, MSG_BLK_OPEN);
	assert_int_equal(h.reqid, 9);
	assert_int_equal(msg_check(h.type, 1, payload.data, payload.len), 0);
	assert_true(passed >= 0);
	assert_int_equal(read(passed, got, sizeof(got)), 5);
	assert_memory_equal(got, "block", 5);
	assert_true(fcntl(passed, F_GETFD) & FD_CLOEXEC);
	close(passed);

	/* a frame without one says so */
	assert_int_equal(net_frame_write(sfd, &w), 0);
	assert_int_equal(net_frame_read_fd(cfd, PROTO_FRAME_MAX, &h, &payload, &passed), 0);
	assert_int_equal(passed, -1);

	/* a frame cut short delivers no descriptor to leak */
	assert_int_equal(pipe(p), 0);
	w.len = PROTO_HDR_SIZE + 2;
	assert_int_equal(net_frame_write_fd(sfd, &w, p[0]), 0);
	close(p[0]);
	close(p[1]);
	close(sfd);
	assert_int_equal(net_frame_read_fd(cfd, PROTO_FRAME_MAX, &h, &payload, &passed),
			 -ECONNRESET);
	assert_int_equal(passed, -1);
	close(cfd);
	close(lfd);
	proto_wbuf_free(&payload);
	proto_wbuf_free(&w);
}

static void test_refused(void **state)
{
	char addr[64];
	int lfd, fd = -1;

	(void)state;
	/* A port that was free a moment ago and is closed now. */
	listen_any(&lfd, addr, sizeof(addr));
	close(lfd);
	assert_int_equal(net_connect(addr, 2000, &fd), -ECONNREFUSED);
	assert_int_equal(fd, -1);
}

static void test_bad_addresses(void **state)
{
	int fd = -1;

	(void)state;
	assert_int_equal(net_connect("127.0.0.1", 100, &fd), -EINVAL);
	assert_int_equal(net_connect("127.0.0.1:99999", 100, &fd), -EINVAL);
	assert_int_equal(net_listen(":0", 1, &fd, NULL), -EINVAL);
	assert_int_equal(net_listen("127.0.0.1:70000", 1, &fd, NULL), -EINVAL);
	assert_int_equal(net_listen("127.0.0.1:0x10", 1, &fd, NULL), -EINVAL);
	assert_int_equal(fd, -1);
}

static void test_read_timeout(void **state)
{
	struct timespec a, b;
	char addr[64], c;
	int lfd, cfd, sfd;
	long ms;

	(void)state;
	listen_any(&lfd, addr, sizeof(addr));
	assert_int_equal(net_connect(addr, 2000, &cfd), 0);
	sfd = accept(lfd, NULL, NULL);
	assert_true(sfd >= 0);
	assert_int_equal(net_set_timeouts(cfd, 150), 0);
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(net_read_full(cfd, &c, 1), -EAGAIN);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	assert_true(ms >= 100 && ms < 5000);

	/* Non-blocking mode: nothing to read is -EAGAIN at once. */
	assert_int_equal(net_set_nonblock(cfd, 1), 0);
	assert_int_equal(fcntl(cfd, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
	assert_int_equal(net_read_full(cfd, &c, 1), -EAGAIN);
	assert_int_equal(net_set_nonblock(cfd, 0), 0);
	assert_int_equal(fcntl(cfd, F_GETFL) & O_NONBLOCK, 0);
	close(sfd);
	close(cfd);
	close(lfd);
}

static void test_write_to_closed(void **state)
{
	static char buf[1 << 16];
	int sv[2], rc = 0;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	/* No SIGPIPE: the error comes back as a value. */
	for (int i = 0; i < 4 && rc == 0; i++)
		rc = net_write_full(sv[0], buf, sizeof(buf));
	assert_int_equal(rc, -EPIPE);
	close(sv[0]);
}

/* A frame of type t with n payload bytes of value t, appended to w. */
static void put_frame(struct proto_wbuf *w, uint16_t t, size_t n)
{
	struct proto_wbuf f;
	uint8_t body[300000];

	memset(body, t, n);
	proto_wbuf_init(&f);
	proto_frame_begin(&f, t, PROTO_F_REPLY, t);
	proto_put_raw(&f, body, n);
	assert_int_equal(proto_frame_finish(&f), 0);
	proto_put_raw(w, f.data, f.len);
	proto_wbuf_free(&f);
}

static void expect_frame(int fd, struct net_rbuf *rb, uint16_t t, size_t n)
{
	const uint8_t *p;
	struct proto_hdr h;

	assert_int_equal(net_rbuf_frame(fd, rb, PROTO_FRAME_MAX, &h, &p), 0);
	assert_int_equal(h.type, t);
	assert_int_equal(h.reqid, t);
	assert_int_equal(h.len, n);
	for (size_t i = 0; i < n; i++)
		if (p[i] != (uint8_t)t)
			fail_msg("frame %u byte %zu is %u", t, i, p[i]);
}

/* The buffered reader: several frames from one write, a frame cut across
 * writes, one larger than the buffer, an oversized header refused, and EOF
 * in the middle of a frame. */
static void test_rbuf_frames(void **state)
{
	struct proto_wbuf w;
	struct net_rbuf rb;
	const uint8_t *p;
	struct proto_hdr h;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	net_rbuf_init(&rb);
	proto_wbuf_init(&w);
	put_frame(&w, 1, 10);
	put_frame(&w, 2, 0);
	put_frame(&w, 3, 1000);
	assert_int_equal(net_write_full(sv[1], w.data, w.len), 0);
	expect_frame(sv[0], &rb, 1, 10);
	assert_true(net_rbuf_has_frame(&rb));	/* the rest came with it */
	expect_frame(sv[0], &rb, 2, 0);
	expect_frame(sv[0], &rb, 3, 1000);
	assert_false(net_rbuf_has_frame(&rb));

	proto_wbuf_reset(&w);
	put_frame(&w, 4, 5000);
	put_frame(&w, 5, 200000);	/* more than the buffer's first size */
	assert_int_equal(net_write_full(sv[1], w.data, 7), 0);	/* a cut header */
	assert_false(net_rbuf_has_frame(&rb));
	if (fork() == 0) {
		usleep(20000);
		_exit(net_write_full(sv[1], w.data + 7, w.len - 7) ? 1 : 0);
	}
	expect_frame(sv[0], &rb, 4, 5000);
	expect_frame(sv[0], &rb, 5, 200000);

	proto_wbuf_reset(&w);
	put_frame(&w, 6, 100);
	assert_int_equal(net_write_full(sv[1], w.data, 50), 0);	/* then EOF */
	close(sv[1]);
	assert_int_equal(net_rbuf_frame(sv[0], &rb, PROTO_FRAME_MAX, &h, &p), -ECONNRESET);
	close(sv[0]);

	/* A header announcing more than max_len is refused at once. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	net_rbuf_free(&rb);
	proto_wbuf_reset(&w);
	put_frame(&w, 7, 100);
	assert_int_equal(net_write_full(sv[1], w.data, w.len), 0);
	assert_int_equal(net_rbuf_frame(sv[0], &rb, 50, &h, &p), -EMSGSIZE);
	assert_true(rb.cap < 1u << 20);
	close(sv[0]);
	close(sv[1]);
	net_rbuf_free(&rb);
	proto_wbuf_free(&w);
}

/* An argument selects tests by name (cmocka's * and ? wildcards). */
int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_and_frames),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_bad_addresses),
		cmocka_unit_test(test_read_timeout),
		cmocka_unit_test(test_write_to_closed),
		cmocka_unit_test(test_rbuf_frames),
		cmocka_unit_test(test_local_names),
		cmocka_unit_test(test_local_frame_fd),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("fs_net", tests, NULL, NULL);
}
