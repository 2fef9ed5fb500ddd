/* chunk_peer: pooled connections from this chunk server to other chunk
 * servers (chain forwarding, replication fetches). Thread-safe. */
#ifndef CHUNKD_PEER_H
#define CHUNKD_PEER_H

#include <stdint.h>

#include "chunkd/chunkd_int.h"

/* One connection, used by one thread at a time between get and release. */
struct chunk_peer_conn {
	int fd;
	char addr[CHUNKD_ADDR_MAX];
	uint64_t next_reqid;
	int64_t idle_since_ms;
	struct proto_wbuf buf;	/* frames and replies; kept for reuse */
	struct chunk_peer_conn *next;	/* in the idle list */
	struct chunk_peer_conn *next_busy, **pprev_busy; /* in the busy list */
};

void chunk_peers_init(struct chunkd *cd);
/* Closes every idle connection. */
void chunk_peers_free(struct chunkd *cd);
/* Shuts down every connection in use and refuses new ones (-ESHUTDOWN),
 * so threads blocked on a peer return at once. For shutdown. */
void chunk_peers_abort(struct chunkd *cd);
/* A connection to addr that has done HELLO: pooled, or new. -errno
 * (-ETIMEDOUT, -ECONNREFUSED, -EXDEV for another cluster...). */
int chunk_peer_get(struct chunkd *cd, const char *addr, struct chunk_peer_conn **out);
/* Returns c to the pool when is_reusable (its request/reply exchange is
 * complete), else closes it. c is gone after this call. */
void chunk_peer_release(struct chunkd *cd, struct chunk_peer_conn *c, int is_reusable);
/* Fetches the whole block id from addr with BLK_GET and verifies it under
 * key. *data is xmalloc'ed; the caller frees it. */
int chunk_peer_fetch(struct chunkd *cd, const char *addr, const struct blk_key *key,
		     const struct blk_id *id, uint8_t **data, uint32_t *len);
int64_t chunk_now_ms(void);

#endif
