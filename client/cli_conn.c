/* cli_conn: blocking request/reply to metad for the admin CLI. The CLI needs
 * no multiplexing, so a request is written and the very next frame must be
 * its reply: a frame of another type or request id is a protocol error and
 * the command fails (it never guesses). Every reply goes through msg_check
 * before it is decoded with proto_get_*. */
#include "client/cli_conn.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fs/msg.h"
#include "fs/net.h"

int cli_conn_open(struct cli_conn *c, const char *addr, const char *auth, int timeout_ms)
{
	char host[200], name[300];
	struct proto_wbuf *w;
	struct proto_rbuf r;
	const uint8_t *seed;
	uint32_t seedlen, tmo;
	uint16_t version;
	int rc;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	proto_wbuf_init(&c->out);
	proto_wbuf_init(&c->in);
	snprintf(c->addr, sizeof(c->addr), "%s", addr);
	rc = net_connect(addr, timeout_ms, &c->fd);
	if (rc)
		goto fail;
	net_set_timeouts(c->fd, timeout_ms);
	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	snprintf(name, sizeof(name), "casfs@%s", host);
	w = cli_conn_begin(c, MSG_HELLO);
	proto_put_u16(w, PROTO_VERSION);
	proto_put_u8(w, PROTO_ROLE_ADMIN);
	proto_put_uuid(w, &c->cluster);
	proto_put_str(w, auth ? auth : "");
	proto_put_u64(w, 0);
	proto_put_str(w, name);
	rc = cli_conn_call(c, &r);
	if (rc)
		goto fail;
	proto_get_u16(&r, &version);
	proto_get_uuid(&r, &c->cluster);
	proto_get_u64(&r, &c->session);
	proto_get_bytes(&r, &seed, &seedlen);
	proto_get_u32(&r, &tmo);
	if (proto_get_end(&r)) {
		rc = -EPROTO;
		goto fail;
	}
	return 0;
fail:
	cli_conn_close(c);
	return rc;
}

void cli_conn_close(struct cli_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	proto_wbuf_free(&c->out);
	proto_wbuf_free(&c->in);
}

struct proto_wbuf *cli_conn_begin(struct cli_conn *c, uint16_t type)
{
	c->type = type;
	proto_frame_begin(&c->out, type, 0, ++c->next_reqid);
	return &c->out;
}

int cli_conn_call(struct cli_conn *c, struct proto_rbuf *r)
{
	struct proto_hdr h;
	int32_t status;
	int rc;

	if (c->fd < 0)
		return -ENOTCONN;
	rc = proto_frame_finish(&c->out);
	if (rc)
		return rc;
	rc = net_frame_write(c->fd, &c->out);
	if (rc)
		return rc;
	rc = net_frame_read(c->fd, PROTO_FRAME_MAX, &h, &c->in);
	if (rc)
		return rc == -EMSGSIZE ? -EPROTO : rc;
	if (!(h.flags & PROTO_F_REPLY) || h.type != c->type || h.reqid != c->next_reqid)
		return -EPROTO;
	rc = msg_check(h.type, 1, c->in.data, c->in.len);
	if (rc)
		return rc;
	proto_rbuf_init(r, c->in.data, c->in.len);
	proto_get_i32(r, &status);
	return status;
}
