/* cl_chunk: the client side of the chunk-server protocol.
 *
 * Each call borrows a connection to the server from an idle pool (or opens
 * one and says HELLO), sends one request, reads its reply and gives the
 * connection back; a call that fails closes its connection instead. One
 * request is in flight per connection, so parallelism comes from the number
 * of threads calling (the upload workers and FUSE workers), each on its own
 * connection. A pooled connection may have died with its server: the first
 * attempt on a pooled connection is retried once on a fresh one.
 *
 * A chunk server on this host also answers on a local socket (an abstract
 * Unix name made from its address), where BLK_OPEN hands over the block's
 * file itself. Whether a server is local is learnt by trying: an address
 * whose local socket refused is not tried again for CL_CHUNK_REMOTE_MS, so
 * remote servers cost one failed connect() now and then.
 *
 * A server that cannot be reached over TCP is logged once when it goes and
 * once when it answers again, and for CL_CHUNK_DOWN_MS after each failure
 * cl_chunk_is_down() says so, so that readers try its copies last instead
 * of waiting on it (and logging) for every block until metad stops naming
 * it.
 *
 * Locking: mu guards the idle list and the remote and down tables;
 * connections in use belong to the calling thread.
 */
#include "client/cl_chunk.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fs/log.h"
#include "fs/msg.h"
#include "fs/net.h"
#include "fs/xmalloc.h"

/* A block of 8 MiB crosses loopback in well under a second; 30 s leaves room
 * for a chain of slow disks while still failing over from a hung server. */
#define CL_CHUNK_IO_MS 30000
#define CL_CHUNK_CONNECT_MS 3000
/* Idle connections kept, all servers together: enough for the upload
 * workers and FUSE readers of a handful of servers. */
#define CL_CHUNK_IDLE_MAX 32
/* A server whose local socket refused is taken for remote this long: long
 * enough that a remote server costs nothing measurable, short enough that
 * a local one restarted with its socket is used again soon. */
#define CL_CHUNK_REMOTE_MS 30000
/* Addresses remembered as remote; past it the oldest entry is reused. */
#define CL_CHUNK_REMOTE_MAX 64
/* A server that could not be reached is read last this long (metad takes
 * ~10 s to mark a dead server down and stop naming it in block maps). */
#define CL_CHUNK_DOWN_MS 10000

struct cl_conn {
	int fd;
	int is_local;
	char addr[CL_ADDR_MAX];
	struct cl_conn *next;
};

/* Addresses and until when each holds: the remote table (local socket
 * refused) and the down table (not reachable at all). used counts the
 * entries, so that asking an empty table (every block's read and write
 * asks the down table) takes no lock. */
struct cl_table {
	struct {
		char addr[CL_ADDR_MAX];
		int64_t until_ms;
	} e[CL_CHUNK_REMOTE_MAX];
	atomic_int used;
};

struct cl_chunk {
	char *auth;
	struct casfs_uuid cluster;
	int is_local_reads;
	pthread_mutex_t mu;
	struct cl_conn *idle;
	size_t nidle;
	uint64_t next_reqid;
	struct cl_table remote, down;
};

struct cl_chunk *cl_chunk_new(const char *auth, const struct casfs_uuid *cluster)
{
	struct cl_chunk *c = xcalloc(1, sizeof(*c));

	c->auth = xstrdup(auth ? auth : "");
	c->cluster = *cluster;
	c->is_local_reads = 1;
	c->next_reqid = 1;
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

void cl_chunk_free(struct cl_chunk *c)
{
	struct cl_conn *k;

	if (!c)
		return;
	while ((k = c->idle)) {
		c->idle = k->next;
		close(k->fd);
		free(k);
		k = NULL;
	}
	pthread_mutex_destroy(&c->mu);
	free(c->auth);
	c->auth = NULL;
	free(c);
}

static uint64_t chunk_reqid(struct cl_chunk *c)
{
	uint64_t id;

	pthread_mutex_lock(&c->mu);
	id = c->next_reqid++;
	pthread_mutex_unlock(&c->mu);
	return id;
}

/* A reply's fields start after its status word; they are parsed in place,
 * not moved to the front (a BLK_GET reply carries a whole block). */
#define REPLY_BODY 4

/* Sends the finished frame req on k and reads the matching reply into rep;
 * returns the reply status, with rep holding the reply (fields from
 * REPLY_BODY on). Any transport or framing error marks the connection
 * unusable (*broken = 1). With passed, a descriptor the reply carries lands
 * there (-1 if none; the caller closes it whatever the status). */
static int conn_call(struct cl_conn *k, struct proto_wbuf *req, struct proto_wbuf *rep,
		     int *broken, int *passed)
{
	struct proto_hdr h, sent;
	struct proto_rbuf r;
	int32_t status;
	int rc;

	*broken = 1;
	proto_hdr_decode(req->data, PROTO_FRAME_MAX, &sent);
	rc = net_frame_write(k->fd, req);
	if (rc)
		return rc;
	if (passed)
		rc = net_frame_read_fd(k->fd, PROTO_FRAME_MAX, &h, rep, passed);
	else
		rc = net_frame_read(k->fd, PROTO_FRAME_MAX, &h, rep);
	if (rc)
		return rc;
	if (!(h.flags & PROTO_F_REPLY) || h.reqid != sent.reqid || h.type != sent.type ||
	    msg_check(h.type, 1, rep->data, rep->len)) {
		log_warn("chunkd %s: bad reply to %u, closing", k->addr, sent.type);
		return -EPROTO;
	}
	*broken = 0;
	proto_rbuf_init(&r, rep->data, rep->len);
	if (proto_get_i32(&r, &status))
		return -EPROTO;
	return status;
}

void cl_chunk_set_local_reads(struct cl_chunk *c, int on)
{
	c->is_local_reads = on;
}

static int64_t chunk_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The index of addr's entry in t, or -1 (mu held). */
static int table_find(const struct cl_table *t, const char *addr)
{
	for (int i = 0; i < CL_CHUNK_REMOTE_MAX; i++)
		if (!strcmp(t->e[i].addr, addr))
			return i;
	return -1;
}

/* Whether addr's entry in t holds now. */
static int table_holds(struct cl_chunk *c, struct cl_table *t, const char *addr)
{
	int i, holds;

	if (!atomic_load(&t->used))
		return 0;
	pthread_mutex_lock(&c->mu);
	i = table_find(t, addr);
	holds = i >= 0 && t->e[i].until_ms > chunk_now_ms();
	pthread_mutex_unlock(&c->mu);
	return holds;
}

/* Enters addr in t for ms from now (the oldest entry makes room); whether
 * it held already. */
static int table_note(struct cl_chunk *c, struct cl_table *t, const char *addr, int64_t ms)
{
	int64_t now = chunk_now_ms();
	int i, held;

	pthread_mutex_lock(&c->mu);
	i = table_find(t, addr);
	held = i >= 0 && t->e[i].until_ms > now;
	if (i < 0) {
		i = 0;
		for (int j = 1; j < CL_CHUNK_REMOTE_MAX; j++)
			if (t->e[j].until_ms < t->e[i].until_ms)
				i = j;
		if (!t->e[i].addr[0])
			atomic_fetch_add(&t->used, 1);
	}
	snprintf(t->e[i].addr, sizeof(t->e[i].addr), "%s", addr);
	t->e[i].until_ms = now + ms;
	pthread_mutex_unlock(&c->mu);
	return held;
}

/* Removes addr from t; whether it was there. */
static int table_drop(struct cl_chunk *c, struct cl_table *t, const char *addr)
{
	int i;

	if (!atomic_load(&t->used))
		return 0;
	pthread_mutex_lock(&c->mu);
	i = table_find(t, addr);
	if (i >= 0) {
		memset(&t->e[i], 0, sizeof(t->e[i]));
		atomic_fetch_sub(&t->used, 1);
	}
	pthread_mutex_unlock(&c->mu);
	return i >= 0;
}

int cl_chunk_is_down(struct cl_chunk *c, const char *addr)
{
	return table_holds(c, &c->down, addr);
}

/* The outcome of a call to addr over TCP: a server that could not be
 * reached is logged once, when it goes, and once when it answers again,
 * not once per block while it stays away. */
static void down_track(struct cl_chunk *c, const char *addr, int answered, int rc)
{
	if (answered) {
		if (table_drop(c, &c->down, addr))
			log_info("chunk server %s answers again", addr);
	} else if (!table_note(c, &c->down, addr, CL_CHUNK_DOWN_MS)) {
		log_warn("chunk server %s unreachable: %s; its copies are tried last for %d s",
			 addr, strerror(-rc), CL_CHUNK_DOWN_MS / 1000);
	}
}

static int conn_connect(const char *addr, int is_local, int *fd)
{
	char name[CL_ADDR_MAX + 32];

	if (!is_local)
		return net_connect(addr, CL_CHUNK_CONNECT_MS, fd);
	snprintf(name, sizeof(name), NET_LOCAL_CHUNKD, addr);
	return net_local_connect(name, fd);
}

static int conn_open(struct cl_chunk *c, const char *addr, int is_local, struct cl_conn **out)
{
	struct cl_conn *k = xcalloc(1, sizeof(*k));
	struct proto_wbuf req, rep;
	int rc, broken;

	snprintf(k->addr, sizeof(k->addr), "%s", addr);
	k->is_local = is_local;
	proto_wbuf_init(&req);
	proto_wbuf_init(&rep);
	rc = conn_connect(addr, is_local, &k->fd);
	if (rc) {
		free(k);
		k = NULL;
		goto out;
	}
	net_set_timeouts(k->fd, CL_CHUNK_IO_MS);
	proto_frame_begin(&req, MSG_HELLO, 0, chunk_reqid(c));
	proto_put_u16(&req, PROTO_VERSION);
	proto_put_u8(&req, PROTO_ROLE_CLIENT);
	proto_put_uuid(&req, &c->cluster);
	proto_put_str(&req, c->auth);
	proto_put_u64(&req, 0);
	proto_put_str(&req, "casfs-client");
	proto_frame_finish(&req);
	rc = conn_call(k, &req, &rep, &broken, NULL);
	if (rc) {
		close(k->fd);
		free(k);
		k = NULL;
		goto out;
	}
	*out = k;
out:
	proto_wbuf_free(&req);
	proto_wbuf_free(&rep);
	return rc;
}

/* Borrows an idle connection to addr (its local socket when is_local);
 * *pooled says whether it came from the pool (and so may be stale). */
static int conn_get(struct cl_chunk *c, const char *addr, int is_local, struct cl_conn **out,
		    int *pooled)
{
	struct cl_conn **pp;

	pthread_mutex_lock(&c->mu);
	for (pp = &c->idle; *pp; pp = &(*pp)->next) {
		if ((*pp)->is_local == is_local && !strcmp((*pp)->addr, addr)) {
			*out = *pp;
			*pp = (*pp)->next;
			c->nidle--;
			pthread_mutex_unlock(&c->mu);
			*pooled = 1;
			return 0;
		}
	}
	pthread_mutex_unlock(&c->mu);
	*pooled = 0;
	return conn_open(c, addr, is_local, out);
}

static void conn_put(struct cl_chunk *c, struct cl_conn *k, int broken)
{
	pthread_mutex_lock(&c->mu);
	if (!broken && c->nidle < CL_CHUNK_IDLE_MAX) {
		k->next = c->idle;
		c->idle = k;
		c->nidle++;
		k = NULL;
	}
	pthread_mutex_unlock(&c->mu);
	if (k) {
		close(k->fd);
		free(k);
		k = NULL;
	}
}

/* One request to addr with a retry on a fresh connection when a pooled one
 * turns out dead. req is a frame begun but not finished. */
static int chunk_call(struct cl_chunk *c, const char *addr, struct proto_wbuf *req,
		      struct proto_wbuf *rep, int *answered)
{
	struct cl_conn *k;
	int rc, pooled, broken = 1;

	if (answered)
		*answered = 0;
	memcpy(req->data + 8, &(uint64_t){ htole64(chunk_reqid(c)) }, 8);
	rc = proto_frame_finish(req);
	if (rc)
		return rc;
	for (int attempt = 0; attempt < 2; attempt++) {
		rc = conn_get(c, addr, 0, &k, &pooled);
		if (rc)
			break;
		rc = conn_call(k, req, rep, &broken, NULL);
		conn_put(c, k, broken);
		if (!broken || !pooled)
			break;
	}
	down_track(c, addr, !broken, rc);
	if (answered)
		*answered = !broken;
	return rc;
}

int cl_chunk_put(struct cl_chunk *c, const struct blk_id *id, uint32_t flags,
		 const struct cl_server *chain, uint32_t n, const void *data, uint32_t len,
		 int *status)
{
	struct proto_wbuf req, rep;
	struct proto_rbuf r;
	uint32_t count, sid;
	int32_t st;
	size_t at;
	int rc, answered;

	for (uint32_t i = 0; i < n; i++)
		status[i] = -EHOSTUNREACH;
	proto_wbuf_init(&req);
	proto_wbuf_init(&rep);
	proto_frame_begin(&req, MSG_BLK_PUT, 0, 0);
	proto_put_blkid(&req, id);
	proto_put_u32(&req, flags);
	at = proto_put_array_begin(&req);
	for (uint32_t i = 1; i < n; i++) {
		proto_put_u32(&req, chain[i].id);
		proto_put_str(&req, chain[i].addr);
	}
	proto_put_array_end(&req, at, n ? n - 1 : 0);
	proto_put_bytes(&req, data, len);
	rc = chunk_call(c, chain[0].addr, &req, &rep, &answered);
	if (rc) {
		/* A failed reply means the receiver's own copy failed; the rest
		 * of the chain is unknown. (A receiver not reached at all was
		 * logged by chunk_call, once while it stays away.) */
		if (answered) {
			log_warn("chunkd %s: BLK_PUT failed: %s", chain[0].addr, strerror(-rc));
			status[0] = rc;
			rc = 0;
		}
		goto out;
	}
	proto_rbuf_init(&r, rep.data + REPLY_BODY, rep.len - REPLY_BODY);
	if (proto_get_count(&r, 8, &count))
		goto bad;
	for (uint32_t k = 0; k < count; k++) {
		proto_get_u32(&r, &sid);
		proto_get_i32(&r, &st);
		for (uint32_t i = 0; i < n; i++)
			if (chain[i].id == sid)
				status[i] = st;
	}
	if (proto_get_end(&r))
		goto bad;
	goto out;
bad:
	rc = -EPROTO;
out:
	proto_wbuf_free(&req);
	proto_wbuf_free(&rep);
	return rc;
}

int cl_chunk_get(struct cl_chunk *c, const char *addr, const struct blk_id *id,
		 struct proto_wbuf *out, size_t *off, uint32_t *len)
{
	struct proto_wbuf req;
	struct proto_rbuf r;
	const uint8_t *p;
	int rc;

	proto_wbuf_init(&req);
	proto_frame_begin(&req, MSG_BLK_GET, 0, 0);
	proto_put_blkid(&req, id);
	proto_put_u32(&req, 0);
	proto_put_u32(&req, 0);
	rc = chunk_call(c, addr, &req, out, NULL);
	if (rc)
		goto out;
	proto_rbuf_init(&r, out->data + REPLY_BODY, out->len - REPLY_BODY);
	proto_get_bytes(&r, &p, len);
	if (proto_get_end(&r)) {
		rc = -EPROTO;
		goto out;
	}
	*off = (size_t)(p - out->data);
out:
	proto_wbuf_free(&req);
	return rc;
}

int cl_chunk_sync(struct cl_chunk *c, const char *addr, const struct blk_id *ids, uint32_t n)
{
	struct proto_wbuf req, rep;
	size_t at;
	int rc;

	proto_wbuf_init(&req);
	proto_wbuf_init(&rep);
	proto_frame_begin(&req, MSG_BLK_SYNC, 0, 0);
	at = proto_put_array_begin(&req);
	for (uint32_t i = 0; i < n; i++)
		proto_put_blkid(&req, &ids[i]);
	proto_put_array_end(&req, at, n);
	rc = chunk_call(c, addr, &req, &rep, NULL);
	proto_wbuf_free(&req);
	proto_wbuf_free(&rep);
	return rc;
}

/* Sends BLK_OPEN on k and takes the file the reply carries. */
static int conn_open_block(struct cl_chunk *c, struct cl_conn *k, const struct blk_id *id,
			   int *fd, uint32_t *len, int *broken)
{
	struct proto_wbuf req, rep;
	struct proto_rbuf r;
	int rc;

	proto_wbuf_init(&req);
	proto_wbuf_init(&rep);
	proto_frame_begin(&req, MSG_BLK_OPEN, 0, chunk_reqid(c));
	proto_put_blkid(&req, id);
	proto_frame_finish(&req);
	rc = conn_call(k, &req, &rep, broken, fd);
	if (!rc) {
		proto_rbuf_init(&r, rep.data + REPLY_BODY, rep.len - REPLY_BODY);
		if (proto_get_u32(&r, len) || proto_get_end(&r) || *fd < 0)
			rc = -EPROTO;
	}
	if (rc && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	proto_wbuf_free(&req);
	proto_wbuf_free(&rep);
	return rc;
}

int cl_chunk_open(struct cl_chunk *c, const char *addr, const struct blk_id *id, int *fd,
		  uint32_t *len)
{
	struct cl_conn *k;
	int rc, pooled, broken = 1;

	*fd = -1;
	if (!c->is_local_reads || table_holds(c, &c->remote, addr))
		return -EREMOTE;
	for (int attempt = 0; attempt < 2; attempt++) {
		rc = conn_get(c, addr, 1, &k, &pooled);
		if (rc)
			break;
		rc = conn_open_block(c, k, id, fd, len, &broken);
		conn_put(c, k, broken);
		if (!broken || !pooled)
			break;
	}
	if (rc && broken) {
		/* nobody listens (a remote server), or the socket does not
		 * work for us (a mount run by another user is refused): TCP
		 * for a while, said once per server */
		if (!table_note(c, &c->remote, addr, CL_CHUNK_REMOTE_MS) && rc != -ECONNREFUSED)
			log_warn("chunkd %s: local socket: %s: reading over TCP", addr,
				 strerror(-rc));
		return -EREMOTE;
	}
	return rc;
}
