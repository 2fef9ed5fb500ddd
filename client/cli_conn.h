/* cli_conn: the admin CLI's connection to metad. One blocking TCP
 * connection, HELLO as role 3 (admin), then strictly one request and one
 * reply at a time. Used only by the casfs CLI, from its single thread. */
#ifndef CASFS_CLI_CONN_H
#define CASFS_CLI_CONN_H

#include <stdint.h>

#include "fs/proto.h"

struct cli_conn {
	int fd;
	uint64_t next_reqid;
	uint16_t type;			/* type of the request being built */
	struct proto_wbuf out;		/* request being built */
	struct proto_wbuf in;		/* last reply payload */
	struct casfs_uuid cluster;	/* from the HELLO reply */
	uint64_t session;
	char addr[256];
};

/* Connects to metad at addr ("HOST:PORT") and says HELLO as an admin with
 * the given auth key ("" for none). timeout_ms bounds the connect and every
 * later read/write. Returns 0, or -ECONNREFUSED/-ETIMEDOUT/-EHOSTUNREACH
 * (connect), -EACCES (auth refused), -EPROTO (version or bad reply). On
 * failure c needs no cli_conn_close. */
int cli_conn_open(struct cli_conn *c, const char *addr, const char *auth, int timeout_ms);
void cli_conn_close(struct cli_conn *c);

/* Starts a request of type; append its payload with proto_put_* on the
 * returned buffer, then call cli_conn_call. */
struct proto_wbuf *cli_conn_begin(struct cli_conn *c, uint16_t type);
/* Sends the request and reads its reply. The reply is validated with
 * msg_check before anything is decoded. Returns the reply's status (0 or a
 * negative errno from metad) with r positioned after it on success, or
 * -EPROTO/-EBADMSG for a malformed reply, -ECONNRESET/-EAGAIN for I/O. r
 * points into c->in and is valid until the next call. */
int cli_conn_call(struct cli_conn *c, struct proto_rbuf *r);

#endif
