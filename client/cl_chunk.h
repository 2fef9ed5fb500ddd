/* cl_chunk: pooled blocking connections to chunk servers and the three block
 * calls a client makes (BLK_PUT down a chain, BLK_GET, BLK_SYNC). */
#ifndef CASFS_CL_CHUNK_H
#define CASFS_CL_CHUNK_H

#include <stdint.h>

#include "fs/ids.h"
#include "fs/proto.h"

/* Replication chains are at most 9 long (goal 1..9). */
#define CL_CHAIN_MAX 9
#define CL_ADDR_MAX 128

struct cl_server {
	uint32_t id;
	char addr[CL_ADDR_MAX];
};

struct cl_chunk;

/* auth and cluster go into each connection's HELLO; copied. */
struct cl_chunk *cl_chunk_new(const char *auth, const struct casfs_uuid *cluster);
void cl_chunk_free(struct cl_chunk *c);

/* Streams data down chain[0..n): chain[0] receives it and forwards it.
 * status[i] receives chain[i]'s result (0 = stored; -EHOSTUNREACH when the
 * reply did not mention it). Returns 0 when the receiver answered (its own
 * copy may still have failed: see status[0]), or -errno when chain[0] could
 * not be reached or answered garbage. */
int cl_chunk_put(struct cl_chunk *c, const struct blk_id *id, uint32_t flags,
		 const struct cl_server *chain, uint32_t n, const void *data, uint32_t len,
		 int *status);
/* Reads block id from server addr: the reply frame lands in out (reset
 * first) and the block is out->data[*off .. *off + *len) (left in place, so
 * it can be handed on without a copy). Does not verify: the caller does.
 * -ENOENT, -EIO, or a connection error. */
int cl_chunk_get(struct cl_chunk *c, const char *addr, const struct blk_id *id,
		 struct proto_wbuf *out, size_t *off, uint32_t *len);
/* Opens block id's file held by the chunk server at addr when it runs on
 * this host (its local socket answers): 0 with *fd (read-only, the caller
 * closes it) and the block's *len. Does not verify: the caller does.
 * -EREMOTE when addr is not on this host (or local reads are off): read it
 * with cl_chunk_get. -ENOENT, -EIO, or a connection error otherwise. */
int cl_chunk_open(struct cl_chunk *c, const char *addr, const struct blk_id *id, int *fd,
		  uint32_t *len);
/* Whether the server at addr failed to answer over TCP in the last few
 * seconds (its copies are best tried last). */
int cl_chunk_is_down(struct cl_chunk *c, const char *addr);
/* Local reads are on by default; off, cl_chunk_open always says -EREMOTE. */
void cl_chunk_set_local_reads(struct cl_chunk *c, int on);
/* Asks addr to make ids[0..n) durable. */
int cl_chunk_sync(struct cl_chunk *c, const char *addr, const struct blk_id *ids, uint32_t n);

#endif
