/* chunk_meta: the chunk server's link to metad: registration, inventory,
 * heartbeats, block reports, and metad's replicate/delete requests. */
#ifndef CHUNKD_META_H
#define CHUNKD_META_H

#include <stdint.h>

#include "chunkd/chunkd_int.h"

/* Starts the meta thread and the workers. 0 or -errno. */
int chunk_meta_start(struct chunkd *cd);
/* Stops them and waits; pending reports are dropped (metad rebuilds from the
 * inventory at the next registration). */
void chunk_meta_stop(struct chunkd *cd);
/* Queues a CS_ADDED report for a block newly stored by a PUT. Any thread. */
void chunk_meta_added(struct chunkd *cd, const struct blk_id *id, uint32_t len);
/* Queues a CS_BAD report; the signature of a chunk_store_bad_fn (ud = cd). */
void chunk_meta_bad(void *cd, const struct blk_id *id);

#endif
