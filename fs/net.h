/* Networking helpers: TCP listen/connect with timeouts, whole-frame I/O on
 * blocking sockets. Event-loop code uses proto_hdr_decode on its own
 * buffers instead of the frame calls here. */
#ifndef CASFS_NET_H
#define CASFS_NET_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* Listens on "HOST:PORT" (port 0 picks a free one); *port_out receives the
 * bound port when not NULL. Returns 0 and *fd, or -errno. */
int net_listen(const char *addr, int backlog, int *fd, uint16_t *port_out);
/* Connects to "HOST:PORT" within timeout_ms. TCP_NODELAY is set. */
int net_connect(const char *addr, int timeout_ms, int *fd);
/* Send and receive timeouts for a blocking socket (0 = none). */
int net_set_timeouts(int fd, int timeout_ms);
int net_set_nonblock(int fd, int on);
/* Reads or writes exactly len bytes; -ECONNRESET on EOF, -EAGAIN on timeout. */
int net_read_full(int fd, void *buf, size_t len);
int net_write_full(int fd, const void *buf, size_t len);
/* Reads one frame. The payload goes into payload (reset first). A frame over
 * max_len is refused with -EMSGSIZE before any allocation. */
int net_frame_read(int fd, uint32_t max_len, struct proto_hdr *h, struct proto_wbuf *payload);
/* A read buffer for a stream of frames: one read() brings in as many
 * frames as have arrived (pipelined replies cost one syscall, not two per
 * frame). */
struct net_rbuf {
	uint8_t *data;
	size_t cap, off, len;	/* unread bytes are data[off .. off + len) */
};

void net_rbuf_init(struct net_rbuf *rb);
void net_rbuf_free(struct net_rbuf *rb);
/* Next frame from fd through rb: *h and *payload (h->len bytes, valid until
 * the next call). A frame over max_len is refused with -EMSGSIZE before the
 * buffer grows for it; -ECONNRESET on EOF. */
int net_rbuf_frame(int fd, struct net_rbuf *rb, uint32_t max_len, struct proto_hdr *h,
		   const uint8_t **payload);
/* Whether a whole frame is already buffered (the next call reads nothing). */
int net_rbuf_has_frame(const struct net_rbuf *rb);
/* Writes a frame built with proto_frame_begin/finish. */
int net_frame_write(int fd, const struct proto_wbuf *frame);

/* Local sockets: Unix stream sockets in the abstract namespace, which
 * belongs to the network namespace, so a peer that reaches one runs on the
 * same host as its owner. The name is printf'ed from NET_LOCAL_CHUNKD and
 * a chunk server's registered address. */
#define NET_LOCAL_CHUNKD "casfs-chunkd/%s"
#define NET_LOCAL_NAME_MAX 100
/* -EADDRINUSE when another process holds the name. */
int net_local_listen(const char *name, int backlog, int *fd);
/* -ECONNREFUSED when nobody listens on name. */
int net_local_connect(const char *name, int *fd);
/* Writes frame with one descriptor riding along (SCM_RIGHTS). */
int net_frame_write_fd(int fd, const struct proto_wbuf *frame, int pass);
/* net_frame_read for a frame that may carry a descriptor: *passed gets it
 * (the caller closes it), or -1 when none came. Extra descriptors a
 * misbehaving peer sends are closed. */
int net_frame_read_fd(int fd, uint32_t max_len, struct proto_hdr *h, struct proto_wbuf *payload,
		      int *passed);

#endif
