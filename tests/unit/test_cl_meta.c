/* Unit tests for the metad session: request-id matching with replies out of
 * order, and re-sending with the same request id after the connection drops
 * (a fake metad on loopback plays the server). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <endian.h>

#include "client/cl_meta.h"
#include "fs/msg.h"
#include "fs/net.h"

struct fake {
	int lfd;
	char addr[64];
	int mode;		/* 0: reverse order, 1: drop then answer, 2: expire,
				 * 3: a call and its follow-up */
	int pair_in_one_read;
	uint64_t reopened_ino;
	uint64_t first_reqid, resent_reqid;
	uint64_t resumed_session;
	int hellos;
};

static void reply_frame(int fd, uint16_t type, uint64_t reqid, const struct casfs_attr *a)
{
	struct proto_wbuf w;

	proto_wbuf_init(&w);
	proto_reply_begin(&w, type, reqid, 0);
	if (a)
		proto_put_attr(&w, a);
	proto_frame_finish(&w);
	assert_int_equal(net_frame_write(fd, &w), 0);
	proto_wbuf_free(&w);
}

/* Answers one HELLO on fd; records the session the client asked for. With
 * is_stale, a resume is refused with -ESTALE (the session expired). */
static void serve_hello_ex(struct fake *f, int fd, int is_stale, uint64_t new_session)
{
	struct proto_wbuf in, w;
	struct proto_hdr h;
	struct proto_rbuf r;
	struct casfs_uuid u = { { 0 } };
	uint8_t seed[32] = { 1, 2, 3 };
	uint16_t ver;
	uint8_t role;
	char auth[64];
	uint64_t session;

	proto_wbuf_init(&in);
	proto_wbuf_init(&w);
	assert_int_equal(net_frame_read(fd, PROTO_FRAME_MAX, &h, &in), 0);
	assert_int_equal(h.type, MSG_HELLO);
	assert_int_equal(msg_check(h.type, 0, in.data, in.len), 0);
	proto_rbuf_init(&r, in.data, in.len);
	proto_get_u16(&r, &ver);
	proto_get_u8(&r, &role);
	proto_get_uuid(&r, &u);
	proto_get_str(&r, auth, sizeof(auth));
	proto_get_u64(&r, &session);
	f->resumed_session = session;
	f->hellos++;
	if (is_stale && session) {
		proto_reply_begin(&w, MSG_HELLO, h.reqid, -ESTALE);
		goto send;
	}
	proto_reply_begin(&w, MSG_HELLO, h.reqid, 0);
	proto_put_u16(&w, PROTO_VERSION);
	proto_put_uuid(&w, &u);
	proto_put_u64(&w, new_session);
	proto_put_bytes(&w, seed, sizeof(seed));
	proto_put_u32(&w, 30000);
send:
	proto_frame_finish(&w);
	assert_int_equal(net_frame_write(fd, &w), 0);
	proto_wbuf_free(&in);
	proto_wbuf_free(&w);
}

static void serve_hello(struct fake *f, int fd)
{
	serve_hello_ex(f, fd, 0, 7);
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	struct proto_wbuf in;
	struct proto_hdr h[2];
	struct casfs_attr a;
	int fd;

	proto_wbuf_init(&in);
	fd = accept(f->lfd, NULL, NULL);
	serve_hello(f, fd);
	if (f->mode == 0) {
		/* Two GETATTRs: answer the second first; each reply carries
		 * the inode asked about so the test can check the match. */
		uint64_t ino[2];

		for (int i = 0; i < 2; i++) {
			struct proto_rbuf r;

			assert_int_equal(net_frame_read(fd, PROTO_FRAME_MAX, &h[i], &in), 0);
			proto_rbuf_init(&r, in.data, in.len);
			proto_get_u64(&r, &ino[i]);
		}
		for (int i = 1; i >= 0; i--) {
			memset(&a, 0, sizeof(a));
			a.ino = ino[i];
			reply_frame(fd, MSG_GETATTR, h[i].reqid, &a);
		}
	} else if (f->mode == 3) {
		/* The call and its follow-up come in one write; the follow-up
		 * is answered later, the caller must still get it first. */
		uint8_t buf[256];
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_PEEK);
		uint32_t len0, len1;

		assert_true(n >= PROTO_HDR_SIZE);
		memcpy(&len0, buf, 4);
		len0 = PROTO_HDR_SIZE + le32toh(len0);
		if ((size_t)n >= len0 + PROTO_HDR_SIZE) {
			memcpy(&len1, buf + len0, 4);
			f->pair_in_one_read = (size_t)n == len0 + PROTO_HDR_SIZE + le32toh(len1);
		}
		for (int i = 0; i < 2; i++) {
			assert_int_equal(net_frame_read(fd, PROTO_FRAME_MAX, &h[i], &in), 0);
			assert_int_equal(h[i].type, MSG_GETATTR);
		}
		memset(&a, 0, sizeof(a));
		a.ino = 100;
		reply_frame(fd, MSG_GETATTR, h[0].reqid, &a);
		usleep(100 * 1000);
		a.ino = 200;
		reply_frame(fd, MSG_GETATTR, h[1].reqid, &a);
	} else if (f->mode == 2) {
		struct proto_rbuf r;

		assert_int_equal(net_frame_read(fd, PROTO_FRAME_MAX, &h[0], &in), 0);
		f->first_reqid = h[0].reqid;
		close(fd);
		/* The resume is refused; the client opens session 8 and
		 * re-opens what it had open before re-sending. */
		fd = accept(f->lfd, NULL, NULL);
		serve_hello_ex(f, fd, 1, 0);
		close(fd);
		fd = accept(f->lfd, NULL, NULL);
		serve_hello_ex(f, fd, 1, 8);
		assert_int_equal(net_frame_read(fd, PROTO_FRAME_MAX, &h[1], &in), 0);
		assert_int_equal(h[1].type, MSG_OPEN);
		proto_rbuf_init(&r, in.data, in.len);
		proto_get_u64(&r, &f->reopened_ino);
		memset(&a, 0, sizeof(a));
		a.ino = f->reopened_ino;
		reply_frame(fd, MSG_OPEN, h[1].reqid, &a);
		assert_int_equal(net_frame_read(fd, PROTO_FRAME_MAX, &h[1], &in), 0);
		f->resent_reqid = h[1].reqid;
		memset(&a, 0, sizeof(a));
		a.ino = 42;
		reply_frame(fd, MSG_GETATTR, h[1].reqid, &a);
	} else {
		assert_int_equal(net_frame_read(fd, PROTO_FRAME_MAX, &h[0], &in), 0);
		f->first_reqid = h[0].reqid;
		close(fd);	/* metad "crashes" with the request in flight */
		fd = accept(f->lfd, NULL, NULL);
		serve_hello(f, fd);
		assert_int_equal(net_frame_read(fd, PROTO_FRAME_MAX, &h[1], &in), 0);
		f->resent_reqid = h[1].reqid;
		memset(&a, 0, sizeof(a));
		a.ino = 42;
		reply_frame(fd, MSG_GETATTR, h[1].reqid, &a);
	}
	/* Keep the connection until the client closes it. */
	while (net_frame_read(fd, PROTO_FRAME_MAX, &h[0], &in) == 0)
		;
	close(fd);
	proto_wbuf_free(&in);
	return NULL;
}

static void fake_start(struct fake *f, pthread_t *t)
{
	uint16_t port;

	assert_int_equal(net_listen("127.0.0.1:0", 4, &f->lfd, &port), 0);
	snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%u", port);
	pthread_create(t, NULL, fake_main, f);
}

static int getattr(struct cl_meta *m, uint64_t ino, uint64_t *got)
{
	struct proto_wbuf req, rep;
	struct proto_rbuf r;
	struct casfs_attr a;
	int rc;

	proto_wbuf_init(&req);
	proto_wbuf_init(&rep);
	proto_frame_begin(&req, MSG_GETATTR, 0, 0);
	proto_put_u64(&req, ino);
	rc = cl_meta_call(m, &req, &rep);
	if (!rc) {
		proto_rbuf_init(&r, rep.data, rep.len);
		proto_get_attr(&r, &a);
		assert_int_equal(proto_get_end(&r), 0);
		*got = a.ino;
	}
	proto_wbuf_free(&req);
	proto_wbuf_free(&rep);
	return rc;
}

struct caller {
	struct cl_meta *m;
	uint64_t ino, got;
	int rc;
};

static void *caller_main(void *arg)
{
	struct caller *c = arg;

	c->rc = getattr(c->m, c->ino, &c->got);
	return NULL;
}

static void test_out_of_order_replies(void **state)
{
	struct fake f = { .mode = 0 };
	struct cl_meta_opts o = { 0 };
	struct caller c[2];
	struct cl_meta *m;
	pthread_t t, ct[2];

	(void)state;
	fake_start(&f, &t);
	o.addr = f.addr;
	assert_int_equal(cl_meta_open(&o, &m), 0);
	assert_int_equal(cl_meta_session(m), 7);
	for (int i = 0; i < 2; i++) {
		c[i] = (struct caller){ .m = m, .ino = 100 + (uint64_t)i };
		pthread_create(&ct[i], NULL, caller_main, &c[i]);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(ct[i], NULL);
		assert_int_equal(c[i].rc, 0);
		assert_int_equal(c[i].got, c[i].ino);
	}
	cl_meta_close(m);
	pthread_join(t, NULL);
	close(f.lfd);
}

static void follow_done(void *arg, int status, struct proto_wbuf *rep)
{
	uint64_t *got = arg;
	struct proto_rbuf r;
	struct casfs_attr a;

	*got = (uint64_t)status;
	if (status)
		return;
	proto_rbuf_init(&r, rep->data, rep->len);
	proto_get_attr(&r, &a);
	*got = a.ino;
}

/* A follow-up goes out in the same write as the call it follows, and the
 * call returns only once the follow-up's answer is in (the kernel asks for
 * it right after), even when that answer comes later. */
static void test_follow_up_answered_before_return(void **state)
{
	struct fake f = { .mode = 3 };
	struct cl_meta_opts o = { 0 };
	struct proto_wbuf fw;
	struct cl_meta *m;
	uint64_t got = 0, fgot = 1;
	pthread_t t;

	(void)state;
	fake_start(&f, &t);
	o.addr = f.addr;
	assert_int_equal(cl_meta_open(&o, &m), 0);
	proto_wbuf_init(&fw);
	proto_frame_begin(&fw, MSG_GETATTR, 0, 0);
	proto_put_u64(&fw, 200);
	assert_int_equal(cl_meta_follow(&fw, follow_done, &fgot), 0);
	proto_wbuf_free(&fw);
	assert_int_equal(getattr(m, 100, &got), 0);
	assert_int_equal(got, 100);
	assert_int_equal(fgot, 200);
	assert_true(f.pair_in_one_read);
	cl_meta_close(m);
	pthread_join(t, NULL);
	close(f.lfd);
}

static void test_resend_after_drop(void **state)
{
	struct fake f = { .mode = 1 };
	struct cl_meta_opts o = { 0 };
	struct cl_meta *m;
	uint64_t got = 0;
	pthread_t t;

	(void)state;
	fake_start(&f, &t);
	o.addr = f.addr;
	assert_int_equal(cl_meta_open(&o, &m), 0);
	assert_int_equal(getattr(m, 42, &got), 0);
	assert_int_equal(got, 42);
	assert_int_equal(f.hellos, 2);
	assert_int_equal(f.resumed_session, 7);		/* HELLO resumed the session */
	assert_int_equal(f.resent_reqid, f.first_reqid);	/* same request id */
	assert_int_equal(cl_meta_reconnects(m), 1);
	cl_meta_close(m);
	pthread_join(t, NULL);
	close(f.lfd);
}

static void test_expired_session(void **state)
{
	struct fake f = { .mode = 2 };
	struct cl_meta_opts o = { 0 };
	struct cl_meta *m;
	uint64_t got = 0;
	pthread_t t;

	(void)state;
	fake_start(&f, &t);
	o.addr = f.addr;
	assert_int_equal(cl_meta_open(&o, &m), 0);
	cl_meta_note_open(m, 55, 1);
	assert_int_equal(getattr(m, 42, &got), 0);
	assert_int_equal(got, 42);
	assert_int_equal(cl_meta_session(m), 8);		/* a new session */
	assert_int_equal(f.reopened_ino, 55);		/* open inode re-opened */
	assert_int_equal(f.resent_reqid, f.first_reqid);
	cl_meta_close(m);
	pthread_join(t, NULL);
	close(f.lfd);
}

static void test_unreachable(void **state)
{
	struct cl_meta_opts o = { .addr = "127.0.0.1:1" };
	struct cl_meta *m = NULL;

	(void)state;
	assert_int_equal(cl_meta_open(&o, &m), -ECONNREFUSED);
	assert_null(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_out_of_order_replies),
		cmocka_unit_test(test_follow_up_answered_before_return),
		cmocka_unit_test(test_resend_after_drop),
		cmocka_unit_test(test_expired_session),
		cmocka_unit_test(test_unreachable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
