/* Unit tests for the casfs CLI's metad connection and reply decoders,
 * against a scripted fake metad on a loopback socket: HELLO as an admin,
 * a good ADM_CS_LIST decoded field by field, metad's error statuses passed
 * through, and replies that must be refused (wrong request id, wrong type,
 * a payload that fails msg_check, a lying array count). Also the parsing of
 * ssh://USER@HOST[:PORT]. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/cli_int.h"
#include "fs/msg.h"
#include "fs/net.h"

enum fake_mode {
	FAKE_CS_LIST,		/* a good two-server list */
	FAKE_STATUS_EBUSY,	/* answers -EBUSY */
	FAKE_WRONG_REQID,
	FAKE_WRONG_TYPE,
	FAKE_TRUNCATED,		/* status 0 but the fields are cut short */
	FAKE_LYING_COUNT,	/* array count far above what the frame holds */
	FAKE_HELLO_EACCES,	/* refuses the HELLO */
};

struct fake {
	int lfd;
	enum fake_mode mode;
	uint8_t role;		/* the role the client said HELLO with */
	char auth[64];
};

static void fake_reply(int fd, uint16_t type, uint64_t reqid, int32_t status,
		       const struct proto_wbuf *fields)
{
	struct proto_wbuf w;

	proto_wbuf_init(&w);
	proto_reply_begin(&w, type, reqid, status);
	if (fields)
		proto_put_raw(&w, fields->data, fields->len);
	assert_int_equal(proto_frame_finish(&w), 0);
	assert_int_equal(net_frame_write(fd, &w), 0);
	proto_wbuf_free(&w);
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	struct proto_wbuf in, out;
	struct proto_hdr h;
	struct proto_rbuf r;
	struct casfs_uuid u = { { 7 } };
	uint16_t ver;
	int fd = accept(f->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	proto_wbuf_init(&in);
	proto_wbuf_init(&out);
	if (net_frame_read(fd, PROTO_FRAME_MAX, &h, &in) || h.type != MSG_HELLO ||
	    msg_check(h.type, 0, in.data, in.len))
		goto out;
	proto_rbuf_init(&r, in.data, in.len);
	proto_get_u16(&r, &ver);
	proto_get_u8(&r, &f->role);
	proto_get_uuid(&r, &u);
	proto_get_str(&r, f->auth, sizeof(f->auth));
	if (f->mode == FAKE_HELLO_EACCES) {
		fake_reply(fd, MSG_HELLO, h.reqid, -EACCES, NULL);
		goto out;
	}
	proto_put_u16(&out, PROTO_VERSION);
	proto_put_uuid(&out, &u);
	proto_put_u64(&out, 42);
	proto_put_bytes(&out, "seedseedseedseedseedseedseedseed", 32);
	proto_put_u32(&out, 10000);
	fake_reply(fd, MSG_HELLO, h.reqid, 0, &out);
	if (net_frame_read(fd, PROTO_FRAME_MAX, &h, &in))
		goto out;
	proto_wbuf_reset(&out);
	switch (f->mode) {
	case FAKE_CS_LIST:
	case FAKE_LYING_COUNT: {
		size_t at = proto_put_array_begin(&out), lat;

		for (uint32_t i = 1; i <= 2; i++) {
			proto_put_u32(&out, i);
			proto_put_str(&out, i == 1 ? "127.0.0.1:9001" : "h\"x:2");
			proto_put_u8(&out, i == 1 ? MSG_CS_STATE_UP : MSG_CS_STATE_DRAINING);
			proto_put_u64(&out, 1000 * i);
			proto_put_u64(&out, 100 * i);
			proto_put_u64(&out, 900 * i);
			proto_put_u64(&out, 10 * i);
			proto_put_u32(&out, 3);
			proto_put_u64(&out, 250);
			proto_put_u64(&out, i == 2 ? 7 : 0);
			lat = proto_put_array_begin(&out);
			if (i == 2)
				proto_put_str(&out, "rack=a");
			proto_put_array_end(&out, lat, i == 2 ? 1 : 0);
		}
		proto_put_array_end(&out, at, f->mode == FAKE_LYING_COUNT ? 1000000 : 2);
		fake_reply(fd, h.type, h.reqid, 0, &out);
		break;
	}
	case FAKE_STATUS_EBUSY:
		fake_reply(fd, h.type, h.reqid, -EBUSY, NULL);
		break;
	case FAKE_WRONG_REQID:
		proto_put_u32(&out, 0);
		fake_reply(fd, h.type, h.reqid + 1, 0, &out);
		break;
	case FAKE_WRONG_TYPE:
		fake_reply(fd, MSG_PING, h.reqid, 0, NULL);
		break;
	case FAKE_TRUNCATED:
		proto_put_u32(&out, 1);
		proto_put_u32(&out, 5);
		fake_reply(fd, h.type, h.reqid, 0, &out);
		break;
	case FAKE_HELLO_EACCES:
		break;
	}
out:
	proto_wbuf_free(&in);
	proto_wbuf_free(&out);
	close(fd);
	return NULL;
}

struct fake_run {
	struct fake f;
	pthread_t th;
	char addr[64];
};

static void fake_start(struct fake_run *fr, enum fake_mode mode)
{
	uint16_t port;

	memset(fr, 0, sizeof(*fr));
	fr->f.mode = mode;
	assert_int_equal(net_listen("127.0.0.1:0", 4, &fr->f.lfd, &port), 0);
	snprintf(fr->addr, sizeof(fr->addr), "127.0.0.1:%u", port);
	assert_int_equal(pthread_create(&fr->th, NULL, fake_main, &fr->f), 0);
}

static void fake_stop(struct fake_run *fr)
{
	pthread_join(fr->th, NULL);
	close(fr->f.lfd);
}

static void test_cs_list_decodes(void **state)
{
	struct fake_run fr;
	struct cli_conn c;
	struct cli_cs *v;
	size_t n;

	(void)state;
	fake_start(&fr, FAKE_CS_LIST);
	assert_int_equal(cli_conn_open(&c, fr.addr, "sekrit", 2000), 0);
	assert_int_equal(c.session, 42);
	assert_int_equal(cli_cs_list(&c, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(v[0].id, 1);
	assert_string_equal(v[0].addr, "127.0.0.1:9001");
	assert_string_equal(cli_cs_state_name(v[0].state), "up");
	assert_int_equal(v[0].nlabels, 0);
	assert_int_equal(v[1].total, 2000);
	assert_int_equal(v[1].used, 200);
	assert_int_equal(v[1].free, 1800);
	assert_int_equal(v[1].blocks, 20);
	assert_int_equal(v[1].load, 3);
	assert_int_equal(v[1].silent_ms, 250);
	assert_int_equal(v[1].to_move, 7);
	assert_string_equal(cli_cs_state_name(v[1].state), "draining");
	assert_int_equal(v[1].nlabels, 1);
	assert_string_equal(v[1].labels[0], "rack=a");
	cli_cs_free(v, n);
	cli_conn_close(&c);
	fake_stop(&fr);
	assert_int_equal(fr.f.role, PROTO_ROLE_ADMIN);
	assert_string_equal(fr.f.auth, "sekrit");
}

/* Opens a connection to a fake in mode and returns what cli_cs_list says. */
static int list_against(enum fake_mode mode)
{
	struct fake_run fr;
	struct cli_conn c;
	struct cli_cs *v = NULL;
	size_t n = 0;
	int rc;

	fake_start(&fr, mode);
	assert_int_equal(cli_conn_open(&c, fr.addr, "", 2000), 0);
	rc = cli_cs_list(&c, &v, &n);
	if (rc == 0)
		cli_cs_free(v, n);
	else
		assert_null(v);
	cli_conn_close(&c);
	fake_stop(&fr);
	return rc;
}

static void test_error_status_passes_through(void **state)
{
	(void)state;
	assert_int_equal(list_against(FAKE_STATUS_EBUSY), -EBUSY);
}

static void test_bad_replies_refused(void **state)
{
	(void)state;
	assert_int_equal(list_against(FAKE_WRONG_REQID), -EPROTO);
	assert_int_equal(list_against(FAKE_WRONG_TYPE), -EPROTO);
	assert_int_equal(list_against(FAKE_TRUNCATED), -EBADMSG);
	assert_int_equal(list_against(FAKE_LYING_COUNT), -EBADMSG);
}

static void test_hello_refused(void **state)
{
	struct fake_run fr;
	struct cli_conn c;

	(void)state;
	fake_start(&fr, FAKE_HELLO_EACCES);
	assert_int_equal(cli_conn_open(&c, fr.addr, "wrong", 2000), -EACCES);
	fake_stop(&fr);
}

static void test_connect_refused(void **state)
{
	struct cli_conn c;
	uint16_t port;
	char addr[64];
	int fd;

	(void)state;
	/* A port that was free a moment ago and has nobody listening. */
	assert_int_equal(net_listen("127.0.0.1:0", 1, &fd, &port), 0);
	close(fd);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	assert_int_equal(cli_conn_open(&c, addr, "", 2000), -ECONNREFUSED);
}

static void test_ssh_url(void **state)
{
	char user[32], host[64];
	uint16_t port = 0;

	(void)state;
	assert_int_equal(cli_ssh_parse_url("ssh://root@10.0.0.5:2222", user, sizeof(user), host,
					   sizeof(host), &port), 0);
	assert_string_equal(user, "root");
	assert_string_equal(host, "10.0.0.5");
	assert_int_equal(port, 2222);
	assert_int_equal(cli_ssh_parse_url("admin@node7", user, sizeof(user), host, sizeof(host),
					   &port), 0);
	assert_string_equal(user, "admin");
	assert_string_equal(host, "node7");
	assert_int_equal(port, 22);
	assert_int_equal(cli_ssh_parse_url("ssh://u@[::1]:2200", user, sizeof(user), host,
					   sizeof(host), &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 2200);
	assert_int_equal(cli_ssh_parse_url("ssh://u@h:0", user, sizeof(user), host, sizeof(host),
					   &port), -EINVAL);
	assert_int_equal(cli_ssh_parse_url("ssh://u@h:99999", user, sizeof(user), host,
					   sizeof(host), &port), -EINVAL);
	assert_int_equal(cli_ssh_parse_url("ssh://@h", user, sizeof(user), host, sizeof(host),
					   &port), -EINVAL);
	assert_int_equal(cli_ssh_parse_url("ssh://u@", user, sizeof(user), host, sizeof(host),
					   &port), -EINVAL);
	assert_int_equal(cli_ssh_parse_url("ssh://u@h/path", user, sizeof(user), host,
					   sizeof(host), &port), -EINVAL);
	assert_int_equal(cli_ssh_parse_url("ssh://u@[::1", user, sizeof(user), host, sizeof(host),
					   &port), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cs_list_decodes),
		cmocka_unit_test(test_error_status_passes_through),
		cmocka_unit_test(test_bad_replies_refused),
		cmocka_unit_test(test_hello_refused),
		cmocka_unit_test(test_connect_refused),
		cmocka_unit_test(test_ssh_url),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
