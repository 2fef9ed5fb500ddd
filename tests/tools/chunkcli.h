/* chunkcli: a minimal block client and a stand-in metad, for chunkd's tests
 * and benchmark. The client speaks HELLO and BLK_PUT/GET/SYNC/HAVE over one
 * blocking connection; the stand-in metad ("fakemeta") answers chunk
 * servers' HELLO with a key seed, assigns server ids, acknowledges their
 * reports, prints them as events, and can send them CS_REPLICATE/CS_DELETE. */
#ifndef TESTS_CHUNKCLI_H
#define TESTS_CHUNKCLI_H

#include <stdint.h>
#include <stdio.h>

#include "fs/ids.h"
#include "fs/proto.h"

struct ccli {
	int fd;
	uint64_t reqid;
	struct proto_wbuf buf;
};

struct ccli_hop {
	uint32_t id;
	char addr[256];
};

struct ccli_status {
	uint32_t id;
	int32_t status;
};

/* Connects and says HELLO; *uuid in/out (zeros = any), seed may be NULL. */
int ccli_connect(struct ccli *c, const char *addr, uint8_t role, struct casfs_uuid *uuid,
		 uint8_t *seed, uint32_t *seed_len, int timeout_ms);
void ccli_close(struct ccli *c);
/* BLK_PUT; returns the reply status; st receives up to *nst copies. */
int ccli_put(struct ccli *c, const struct blk_id *id, uint32_t flags, const struct ccli_hop *chain,
	     int nchain, const void *data, uint32_t len, struct ccli_status *st, int *nst);
/* BLK_GET into buf (cap bytes); *got receives the length. */
int ccli_get(struct ccli *c, const struct blk_id *id, uint32_t off, uint32_t len, void *buf,
	     uint32_t cap, uint32_t *got);
int ccli_sync(struct ccli *c, const struct blk_id *ids, uint32_t n);
int ccli_have(struct ccli *c, const struct blk_id *id, int *present);

/* ---- stand-in metad ---- */
struct fakemeta;

/* Listens on addr (port 0 = any); *bound receives "127.0.0.1:PORT". Events
 * are printed to out, one line each, flushed. */
int fakemeta_start(const char *addr, const uint8_t seed[BLK_KEY_SEED_SIZE],
		   const struct casfs_uuid *uuid, FILE *out, struct fakemeta **fm, char bound[64]);
void fakemeta_stop(struct fakemeta *fm);
/* Servers registered so far. */
int fakemeta_count(struct fakemeta *fm);
/* Runs one command line: "replicate SID HEXID LEN SRCID@ADDR" or
 * "delete SID HEXID". 0, or -errno. */
int fakemeta_command(struct fakemeta *fm, const char *line);

#endif
