/* garbage: shared parts of the hostile-peer test tool (see garbage.c):
 * options, blocking connections that speak just enough of the protocol,
 * check reporting, and random values. Test code, one thread except for the
 * lying chunk server's block connections. */
#ifndef TESTS_GARBAGE_H
#define TESTS_GARBAGE_H

#include <stddef.h>
#include <stdint.h>

#include "fs/ids.h"
#include "fs/proto.h"

#define G_TIMEOUT_MS 10000
#define ANY_NEG INT32_MIN	/* in an expected-status list: any negative errno */

struct g_opts {
	const char *server;
	const char *meta;	/* metad, for the cluster's key seed */
	const char *auth;
	uint8_t role;
	int count;
	int seconds;
	uint64_t seed;
};

extern struct g_opts g_opts;

struct g_conn {
	int fd;
	uint64_t reqid;
	struct proto_wbuf in;
};

struct g_hello_in {
	uint16_t version;
	uint8_t role;
	struct casfs_uuid uuid;
	const char *auth;
	uint64_t session;
};

struct g_hello_out {
	struct casfs_uuid uuid;
	uint64_t session;
	uint8_t seed[BLK_KEY_SEED_SIZE];
	uint32_t seed_len;
};

/* One "ok ..." / "FAIL ..." line per check; FAIL makes the exit status 1. */
void g_ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void g_bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Checks st against n expected statuses (int32_t; ANY_NEG = any negative
 * errno); 1 if it matched. */
int g_expect(const char *what, int32_t st, int n, ...);

uint64_t g_rnd(void);
void g_rnd_fill(void *p, size_t n);
void g_rnd_id(struct blk_id *id);
int64_t g_now_ms(void);

int g_open(struct g_conn *c, const char *addr);
void g_close(struct g_conn *c);
/* Connects and says a correct HELLO (g_opts role and auth); ho may be NULL. */
int g_login(struct g_conn *c, const char *addr, struct g_hello_out *ho);
int g_send_raw(struct g_conn *c, uint16_t type, uint16_t flags, uint64_t reqid, uint32_t hdr_len,
	       const void *p, size_t len);
int g_send(struct g_conn *c, uint16_t type, const void *p, size_t len, uint64_t *reqid);
/* Reads frames until the reply to reqid; *r is left after the status. */
int g_reply(struct g_conn *c, uint16_t type, uint64_t reqid, int32_t *st, struct proto_rbuf *r);
/* One request, one reply: 0 and *st, or a transport error. */
int g_call(struct g_conn *c, uint16_t type, const struct proto_wbuf *req, int32_t *st,
	   struct proto_rbuf *r);
/* 1 if the peer closes fd within ms, else 0. */
int g_wait_closed(int fd, int ms);
/* A string field of exactly these bytes (NULs and '/' included). */
void g_put_name_raw(struct proto_wbuf *w, const void *p, uint16_t len);
/* A scratch payload buffer, emptied on every call. */
struct proto_wbuf *g_wb(void);

/* garbage_lies.c: well-formed requests that lie. */
int cmd_chunk_lies(void);
int cmd_meta_lies(void);
int cmd_adm_lies(void);
int cmd_bigdir(void);
int cmd_dump(void);
int cmd_fake_cs(const char *ids_path);
int cmd_cs_lies(void);
int cmd_cs_register(void);

#endif
