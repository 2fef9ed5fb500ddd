/* chunk_server: the listening side of the chunk server: one thread per
 * client or peer connection, answering HELLO and the BLK_* messages. */
#ifndef CHUNKD_SERVER_H
#define CHUNKD_SERVER_H

#include "chunkd/chunkd_int.h"

/* Starts the accept thread on cd->listen_fd. 0 or -errno. */
int chunk_server_start(struct chunkd *cd);
/* Stops accepting, closes every connection and waits for their threads. */
void chunk_server_stop(struct chunkd *cd);

#endif
