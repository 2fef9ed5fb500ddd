/* The chunk server's shared state and the internals its subsystems share
 * (server.c, peer.c, meta.c, scrub.c, main.c). Not a public API. */
#ifndef CHUNKD_INT_H
#define CHUNKD_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "chunkd/store.h"
#include "fs/ids.h"
#include "fs/proto.h"

#define CHUNKD_ADDR_MAX 256

/* Settings: written by main before any thread starts, read-only after. */
struct chunkd_conf {
	char **data_dirs;
	int ndata;
	char **labels;
	int nlabels;
	char meta_addr[CHUNKD_ADDR_MAX];
	char listen_addr[CHUNKD_ADDR_MAX];
	char *addr_file;
	char *auth_key;
	int timeout_ms;		/* every peer operation */
	int idle_timeout_ms;	/* an idle client connection is closed after this */
	int hello_timeout_ms;	/* a connection must complete HELLO within this */
	int heartbeat_ms;
	int max_conns;
	uint64_t scrub_rate;	/* bytes per second */
	int scrub_interval_s;
	int workers;		/* threads running metad's replicate/delete */
	int is_local_reads;	/* hand block files to clients on this host */
	struct chunk_store_opts store;
};

struct chunk_peers;
struct chunk_meta;
struct chunk_scrub;
struct chunk_server;

struct chunkd {
	struct chunkd_conf conf;
	struct chunk_store *store;
	char self_addr[CHUNKD_ADDR_MAX]; /* address registered with metad */
	int listen_fd;
	int local_fd;		/* the local socket (BLK_OPEN), or -1 */

	/* Identity: set by the meta thread at registration. */
	pthread_mutex_t lock;		/* guards the fields below */
	pthread_cond_t cond;		/* signalled when is_registered changes */
	int is_registered;
	struct casfs_uuid uuid;
	uint32_t server_id;
	struct blk_key key;

	atomic_int is_stopping;
	atomic_int exit_code;		/* set by a thread that wants the daemon down */
	atomic_int load;		/* requests being served right now */

	struct chunk_peers *peers;
	struct chunk_meta *meta;
	struct chunk_scrub *scrub;
	struct chunk_server *server;
};

/* Waits up to timeout_ms for registration; 1 when registered. */
int chunkd_wait_registered(struct chunkd *cd, int timeout_ms);
/* Asks main to shut the daemon down with exit status code. */
void chunkd_request_exit(struct chunkd *cd, int code);

/* ---- wire helpers (peer.c) ---- */

/* Writes every byte of iov[0..n) (sendmsg, MSG_NOSIGNAL); 0 or -errno
 * (-EAGAIN on timeout). */
int chunk_wire_sendv(int fd, struct iovec *iov, int n);
/* Sends a frame whose payload is w's content after the header followed by
 * data[0..len) (a block, sent without copying). w was begun with
 * proto_frame_begin/proto_reply_begin. */
int chunk_wire_send_with_data(int fd, struct proto_wbuf *w, const void *data, uint32_t len);
/* The same with len bytes of file from off (sendfile: the page cache goes
 * to the socket without a copy through user space). A file shorter than
 * off + len cuts the frame: -EIO, and the connection must be closed. */
int chunk_wire_send_with_file(int fd, struct proto_wbuf *w, int file, uint64_t off, uint32_t len);
/* Reads one reply frame for request reqid of the given type, validated with
 * msg_check; the payload is left in buf, the status in *status.
 * -EBADMSG/-EPROTO on a bad frame, or the I/O error. */
int chunk_wire_read_reply(int fd, uint16_t type, uint64_t reqid, struct proto_wbuf *buf,
			  int32_t *status);
/* Runs the client side of HELLO on fd: role, cluster uuid (zeros = any),
 * auth; on success *uuid and the key seed (seed_len may be 0) come back.
 * Returns 0, the peer's negative status, or an I/O error. */
int chunk_wire_hello(int fd, uint8_t role, const struct casfs_uuid *want, const char *auth,
		     const char *name, struct casfs_uuid *uuid, uint8_t *seed, uint32_t *seed_len);

#endif
