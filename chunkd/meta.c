/* chunk_meta: the chunk server's one connection to metad.
 *
 * The meta thread owns the connection: it connects, says HELLO (role
 * chunkd; the reply carries the cluster uuid and key seed), registers
 * (server id 0 the first time; the id and uuid are then kept in every data
 * folder), streams the inventory, and then loops: it reads frames from metad
 * and every heartbeat_ms sends CS_HEARTBEAT plus the batched CS_ADDED and
 * CS_BAD reports. metad's own requests (CS_REPLICATE, CS_DELETE) arrive on
 * the same connection; they are queued to worker threads so a slow copy
 * never delays a heartbeat, and the worker answers with the request's id.
 * Writes to the connection from the meta thread and the workers are
 * serialized by wlock; a worker's answer is dropped if the connection it
 * came from is gone (gen changed): metad re-asks what it still needs.
 *
 * If metad goes away the thread reconnects with backoff, registers again
 * with the same id and re-sends the inventory; block traffic keeps being
 * served meanwhile (the key stays known). A folder that belongs to another
 * cluster is fatal: the daemon exits with a clear line. */
#include "chunkd/meta.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chunkd/peer.h"
#include "fs/log.h"
#include "fs/msg.h"
#include "fs/net.h"
#include "fs/xmalloc.h"

/* CS_INVENTORY frames carry at most this many blocks (fs/README.md). */
#define META_INV_BATCH 65536
/* Reconnect backoff: from 100 ms, doubling, up to 5 s. */
#define META_BACKOFF_MIN_MS 100
#define META_BACKOFF_MAX_MS 5000

struct meta_req {
	struct meta_req *next;
	uint16_t type;
	uint64_t reqid;
	uint64_t gen;
	uint8_t *payload;
	uint32_t len;
};

struct chunk_meta {
	pthread_t thread;
	pthread_t *workers;
	int nworkers;
	int stop_fd;		/* eventfd: wakes the meta thread's waits */

	pthread_mutex_t lock;	/* guards everything below */
	pthread_cond_t cond;	/* work queued, or stopping */
	struct chunk_store_ent *added;
	size_t nadded, cap_added;
	struct blk_id *bad;
	size_t nbad, cap_bad;
	struct meta_req *head, **tail;

	pthread_mutex_t wlock;	/* serializes writes on fd; guards fd, gen, setup_fd */
	int fd;
	int setup_fd;		/* being connected (HELLO, REGISTER): not yet fd */
	uint64_t gen;
	uint64_t next_reqid;	/* meta thread only */
};

void chunk_meta_added(struct chunkd *cd, const struct blk_id *id, uint32_t len)
{
	struct chunk_meta *m = cd->meta;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	if (m->nadded == m->cap_added) {
		m->cap_added = m->cap_added ? 2 * m->cap_added : 256;
		m->added = xrealloc(m->added, m->cap_added * sizeof(*m->added));
	}
	m->added[m->nadded].id = *id;
	m->added[m->nadded].len = len;
	m->nadded++;
	pthread_mutex_unlock(&m->lock);
}

void chunk_meta_bad(void *ud, const struct blk_id *id)
{
	struct chunkd *cd = ud;
	struct chunk_meta *m = cd->meta;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	if (m->nbad == m->cap_bad) {
		m->cap_bad = m->cap_bad ? 2 * m->cap_bad : 64;
		m->bad = xrealloc(m->bad, m->cap_bad * sizeof(*m->bad));
	}
	m->bad[m->nbad++] = *id;
	pthread_mutex_unlock(&m->lock);
}

/* Writes a finished frame if the connection of generation gen is still the
 * current one (gen 0 = whatever is current). */
static int meta_write(struct chunk_meta *m, uint64_t gen, const struct proto_wbuf *w)
{
	int rc = -ENOTCONN;

	pthread_mutex_lock(&m->wlock);
	if (m->fd >= 0 && (gen == 0 || gen == m->gen))
		rc = net_frame_write(m->fd, w);
	pthread_mutex_unlock(&m->wlock);
	return rc;
}

/* Sleeps ms unless stopping; 1 if stopping. */
static int meta_sleep(struct chunkd *cd, int ms)
{
	struct pollfd pfd = { .fd = cd->meta->stop_fd, .events = POLLIN };

	if (atomic_load(&cd->is_stopping))
		return 1;
	poll(&pfd, 1, ms);
	return atomic_load(&cd->is_stopping);
}

/* ---- session set-up ---- */

static int meta_register(struct chunkd *cd, int fd, uint32_t *id)
{
	struct chunk_store_stats st;
	struct proto_wbuf w;
	struct proto_rbuf r;
	int32_t status;
	size_t at;
	int rc;

	chunk_store_stats(cd->store, &st);
	proto_wbuf_init(&w);
	proto_frame_begin(&w, MSG_CS_REGISTER, 0, 2);
	proto_put_u32(&w, *id);
	proto_put_str(&w, cd->self_addr);
	proto_put_u64(&w, st.total);
	proto_put_u64(&w, st.free);
	at = proto_put_array_begin(&w);
	for (int i = 0; i < cd->conf.nlabels; i++)
		proto_put_str(&w, cd->conf.labels[i]);
	proto_put_array_end(&w, at, (uint32_t)cd->conf.nlabels);
	rc = proto_frame_finish(&w);
	if (!rc)
		rc = net_frame_write(fd, &w);
	if (!rc)
		rc = chunk_wire_read_reply(fd, MSG_CS_REGISTER, 2, &w, &status);
	if (!rc)
		rc = status;
	if (!rc) {
		proto_rbuf_init(&r, w.data + 4, w.len - 4);
		proto_get_u32(&r, id);
		rc = proto_get_end(&r);
		if (!rc && *id == 0)
			rc = -EBADMSG;
	}
	proto_wbuf_free(&w);
	return rc;
}

static int meta_send_inventory(struct chunkd *cd)
{
	struct chunk_meta *m = cd->meta;
	struct chunk_store_ent *v = NULL;
	struct proto_wbuf w;
	size_t n, i = 0;
	int rc = 0;

	/* the snapshot covers every block added so far: drop the queue first so
	 * nothing is lost between the two */
	pthread_mutex_lock(&m->lock);
	m->nadded = 0;
	pthread_mutex_unlock(&m->lock);
	chunk_store_list(cd->store, &v, &n);
	proto_wbuf_init(&w);
	do {
		size_t k = n - i < META_INV_BATCH ? n - i : META_INV_BATCH;
		size_t at;

		proto_frame_begin(&w, MSG_CS_INVENTORY, 0, m->next_reqid++);
		proto_put_u8(&w, i + k == n);
		at = proto_put_array_begin(&w);
		for (size_t j = i; j < i + k; j++) {
			proto_put_blkid(&w, &v[j].id);
			proto_put_u32(&w, v[j].len);
		}
		proto_put_array_end(&w, at, (uint32_t)k);
		rc = proto_frame_finish(&w);
		if (!rc)
			rc = meta_write(m, 0, &w);
		i += k;
	} while (!rc && i < n);
	proto_wbuf_free(&w);
	free(v);
	v = NULL;
	log_info("inventory sent to metad: %zu blocks", n);
	return rc;
}

/* Connects, says HELLO, registers; on success publishes the connection. */
static int meta_connect(struct chunkd *cd)
{
	struct chunk_meta *m = cd->meta;
	struct casfs_uuid want = { 0 }, got;
	uint8_t seed[BLK_KEY_SEED_SIZE];
	uint32_t seed_len = 0, id = 0, stored_id;
	int has, fd, rc, was_registered;
	struct blk_key *key = NULL;

	rc = chunk_store_ident_load(cd->store, &want, &id, &has);
	if (rc) {
		chunkd_request_exit(cd, 1);
		return rc;
	}
	stored_id = id;
	rc = net_connect(cd->conf.meta_addr, cd->conf.timeout_ms, &fd);
	if (rc)
		return rc;
	net_set_timeouts(fd, cd->conf.timeout_ms);
	pthread_mutex_lock(&m->wlock);
	m->setup_fd = fd;
	pthread_mutex_unlock(&m->wlock);
	if (atomic_load(&cd->is_stopping)) {
		rc = -ESHUTDOWN;
		goto fail;
	}
	rc = chunk_wire_hello(fd, PROTO_ROLE_CHUNKD, &want, cd->conf.auth_key, cd->self_addr, &got,
			      seed, &seed_len);
	if (rc == -EXDEV || (!rc && has && memcmp(got.b, want.b, sizeof(want.b)))) {
		log_error("data folders belong to another cluster than metad %s: refusing to "
			  "serve them", cd->conf.meta_addr);
		chunkd_request_exit(cd, 1);
		rc = -EXDEV;
		goto fail;
	}
	if (rc == -EACCES) {
		log_error("metad %s refused our auth_key", cd->conf.meta_addr);
		goto fail;
	}
	if (!rc && seed_len == 0) {
		log_error("metad %s sent no key seed", cd->conf.meta_addr);
		rc = -EPROTO;
	}
	if (rc)
		goto fail;
	rc = meta_register(cd, fd, &id);
	if (rc) {
		log_warn("metad %s refused registration: %s", cd->conf.meta_addr, strerror(-rc));
		goto fail;
	}
	if (!has || id != stored_id) {
		rc = chunk_store_ident_save(cd->store, &got, id);
		if (rc)
			goto fail;
	}
	key = xmalloc(sizeof(*key));
	blk_key_init(key, seed, seed_len);
	chunk_store_set_key(cd->store, key);
	pthread_mutex_lock(&cd->lock);
	was_registered = cd->is_registered;
	cd->uuid = got;
	cd->server_id = id;
	cd->key = *key;
	cd->is_registered = 1;
	pthread_cond_broadcast(&cd->cond);
	pthread_mutex_unlock(&cd->lock);
	free(key);
	key = NULL;
	pthread_mutex_lock(&m->wlock);
	m->fd = fd;
	m->setup_fd = -1;
	m->gen++;
	pthread_mutex_unlock(&m->wlock);
	log_info("%s with metad %s as server %u", was_registered ? "registered again" : "registered",
		 cd->conf.meta_addr, id);
	return 0;
fail:
	pthread_mutex_lock(&m->wlock);
	m->setup_fd = -1;
	pthread_mutex_unlock(&m->wlock);
	close(fd);
	return rc;
}

static void meta_disconnect(struct chunk_meta *m)
{
	pthread_mutex_lock(&m->wlock);
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	m->gen++;
	pthread_mutex_unlock(&m->wlock);
}

/* ---- the running session ---- */

static int meta_send_reports(struct chunkd *cd)
{
	struct chunk_meta *m = cd->meta;
	struct chunk_store_stats st;
	struct chunk_store_ent *added;
	struct blk_id *bad;
	size_t nadded, nbad, at;
	struct proto_wbuf w;
	uint32_t flags = 0;
	int rc;

	chunk_store_stats(cd->store, &st);
	if (st.is_full)
		flags |= MSG_CS_FULL;
	if (st.has_failed)
		flags |= MSG_CS_DISK_FAILED;
	proto_wbuf_init(&w);
	proto_frame_begin(&w, MSG_CS_HEARTBEAT, 0, m->next_reqid++);
	proto_put_u64(&w, st.total);
	proto_put_u64(&w, st.free);
	proto_put_u64(&w, st.used);
	proto_put_u64(&w, st.blocks);
	proto_put_u32(&w, (uint32_t)atomic_load(&cd->load));
	proto_put_u32(&w, flags);
	rc = proto_frame_finish(&w);
	if (!rc)
		rc = meta_write(m, 0, &w);

	pthread_mutex_lock(&m->lock);
	added = m->added;
	nadded = m->nadded;
	m->added = NULL;
	m->nadded = m->cap_added = 0;
	bad = m->bad;
	nbad = m->nbad;
	m->bad = NULL;
	m->nbad = m->cap_bad = 0;
	pthread_mutex_unlock(&m->lock);

	for (size_t i = 0; i < nadded && !rc; i += META_INV_BATCH) {
		size_t k = nadded - i < META_INV_BATCH ? nadded - i : META_INV_BATCH;

		proto_frame_begin(&w, MSG_CS_ADDED, 0, m->next_reqid++);
		at = proto_put_array_begin(&w);
		for (size_t j = i; j < i + k; j++) {
			proto_put_blkid(&w, &added[j].id);
			proto_put_u32(&w, added[j].len);
		}
		proto_put_array_end(&w, at, (uint32_t)k);
		rc = proto_frame_finish(&w);
		if (!rc)
			rc = meta_write(m, 0, &w);
	}
	for (size_t i = 0; i < nbad && !rc; i++) {
		proto_frame_begin(&w, MSG_CS_BAD, 0, m->next_reqid++);
		proto_put_blkid(&w, &bad[i]);
		rc = proto_frame_finish(&w);
		if (!rc)
			rc = meta_write(m, 0, &w);
	}
	if (rc && nbad) {
		/* CS_BAD is not rebuilt by the inventory (the copy is simply absent
		 * from it), but metad learns the same from the next inventory;
		 * keep them anyway so the report is explicit */
		pthread_mutex_lock(&m->lock);
		for (size_t i = 0; i < nbad; i++) {
			if (m->nbad == m->cap_bad) {
				m->cap_bad = m->cap_bad ? 2 * m->cap_bad : 64;
				m->bad = xrealloc(m->bad, m->cap_bad * sizeof(*m->bad));
			}
			m->bad[m->nbad++] = bad[i];
		}
		pthread_mutex_unlock(&m->lock);
	}
	free(added);
	added = NULL;
	free(bad);
	bad = NULL;
	proto_wbuf_free(&w);
	return rc;
}

static void meta_queue_req(struct chunk_meta *m, const struct proto_hdr *h,
			   const struct proto_wbuf *in)
{
	struct meta_req *q = xcalloc(1, sizeof(*q));

	q->type = h->type;
	q->reqid = h->reqid;
	q->len = (uint32_t)in->len;
	q->payload = xmalloc(in->len ? in->len : 1);
	memcpy(q->payload, in->data, in->len);
	pthread_mutex_lock(&m->wlock);
	q->gen = m->gen;
	pthread_mutex_unlock(&m->wlock);
	pthread_mutex_lock(&m->lock);
	*m->tail = q;
	m->tail = &q->next;
	pthread_cond_signal(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

static void meta_reply_status(struct chunk_meta *m, uint64_t gen, uint16_t type, uint64_t reqid,
			      int32_t status)
{
	struct proto_wbuf w;

	proto_wbuf_init(&w);
	proto_reply_begin(&w, type, reqid, status);
	if (!proto_frame_finish(&w))
		meta_write(m, gen, &w);
	proto_wbuf_free(&w);
}

/* Handles one frame from metad; a negative return drops the connection. */
static int meta_on_frame(struct chunkd *cd, const struct proto_hdr *h, struct proto_wbuf *in)
{
	struct chunk_meta *m = cd->meta;
	const struct msg_info *info = msg_lookup(h->type);
	int is_reply = (h->flags & PROTO_F_REPLY) != 0;
	int rc = msg_check(h->type, is_reply, in->data, in->len);
	struct proto_rbuf r;
	int32_t status;

	if (is_reply) {
		if (rc) {
			log_warn("metad sent a malformed reply (type %u): reconnecting", h->type);
			return -EBADMSG;
		}
		proto_rbuf_init(&r, in->data, in->len);
		proto_get_i32(&r, &status);
		if (status)
			log_warn("metad refused %s: %s", info->name, strerror(-status));
		return 0;
	}
	if (rc) {
		meta_reply_status(m, 0, h->type, h->reqid, rc);
		return 0;
	}
	switch (h->type) {
	case MSG_CS_REPLICATE:
	case MSG_CS_DELETE:
		meta_queue_req(m, h, in);
		return 0;
	case MSG_PING:
		meta_reply_status(m, 0, h->type, h->reqid, 0);
		return 0;
	default:
		meta_reply_status(m, 0, h->type, h->reqid, -EOPNOTSUPP);
		return 0;
	}
}

/* Runs one connected session until it fails or the daemon stops. */
static void meta_run(struct chunkd *cd)
{
	struct chunk_meta *m = cd->meta;
	struct proto_wbuf in;
	int64_t next_hb = chunk_now_ms(), last_rx = chunk_now_ms();
	int fd, rc;

	pthread_mutex_lock(&m->wlock);
	fd = m->fd;
	pthread_mutex_unlock(&m->wlock);
	proto_wbuf_init(&in);
	rc = meta_send_inventory(cd);
	while (!rc && !atomic_load(&cd->is_stopping)) {
		struct pollfd pfd[2] = { { .fd = fd, .events = POLLIN },
					 { .fd = m->stop_fd, .events = POLLIN } };
		int64_t now = chunk_now_ms();

		if (now >= next_hb) {
			rc = meta_send_reports(cd);
			next_hb = now + cd->conf.heartbeat_ms;
			if (rc)
				break;
		}
		if (now - last_rx > cd->conf.timeout_ms) {
			log_warn("metad silent for %d ms: reconnecting", cd->conf.timeout_ms);
			break;
		}
		rc = poll(pfd, 2, (int)(next_hb - now));
		if (rc < 0 && errno != EINTR) {
			rc = -errno;
			break;
		}
		rc = 0;
		if (pfd[0].revents) {
			struct proto_hdr h;

			rc = net_frame_read(fd, PROTO_FRAME_MAX, &h, &in);
			if (!rc)
				rc = meta_on_frame(cd, &h, &in);
			last_rx = chunk_now_ms();
		}
	}
	if (rc && !atomic_load(&cd->is_stopping))
		log_warn("lost metad %s: %s", cd->conf.meta_addr, strerror(-rc));
	proto_wbuf_free(&in);
	meta_disconnect(m);
}

static void *meta_main(void *arg)
{
	struct chunkd *cd = arg;
	int backoff = META_BACKOFF_MIN_MS, rc, logged = 0;

	while (!atomic_load(&cd->is_stopping)) {
		rc = meta_connect(cd);
		if (rc == 0) {
			logged = 0;
			backoff = META_BACKOFF_MIN_MS;
			meta_run(cd);
			continue;
		}
		/* a refused folder or identity already said why and asked main
		 * to exit: retrying would only add a misleading line */
		if (atomic_load(&cd->exit_code))
			break;
		if (!logged++)
			log_warn("cannot reach metad %s: %s; retrying", cd->conf.meta_addr,
				 strerror(-rc));
		if (meta_sleep(cd, backoff))
			break;
		backoff = backoff * 2 > META_BACKOFF_MAX_MS ? META_BACKOFF_MAX_MS : backoff * 2;
	}
	return NULL;
}

/* ---- workers: metad's requests ---- */

static int32_t do_replicate(struct chunkd *cd, struct proto_rbuf *r)
{
	struct blk_id id;
	struct blk_key *key;
	uint32_t len, n, have;
	int32_t rc;

	proto_get_blkid(r, &id);
	proto_get_u32(r, &len);
	if (proto_get_count(r, 6, &n))
		return -EBADMSG;
	if (chunk_store_has(cd->store, &id, &have)) {
		/* held already: answer for it only if it still verifies (a bad
		 * copy is quarantined by the read, and fetched again below) */
		uint8_t *buf = xmalloc(have ? have : 1);
		uint32_t got;

		rc = chunk_store_read(cd->store, &id, buf, have, &got);
		free(buf);
		buf = NULL;
		if (rc == 0)
			return 0;
	}
	key = xmalloc(sizeof(*key));
	pthread_mutex_lock(&cd->lock);
	*key = cd->key;
	pthread_mutex_unlock(&cd->lock);
	rc = -EHOSTUNREACH;
	for (uint32_t i = 0; i < n; i++) {
		char addr[CHUNKD_ADDR_MAX], hex[BLK_ID_HEX_LEN + 1];
		uint8_t *data = NULL;
		uint32_t sid, got;
		int is_new;

		proto_get_u32(r, &sid);
		proto_get_str(r, addr, sizeof(addr));
		if (r->err) {
			rc = -EBADMSG;
			break;
		}
		rc = chunk_peer_fetch(cd, addr, key, &id, &data, &got);
		if (!rc)
			rc = chunk_store_put_verified(cd->store, &id, data, got, &is_new);
		free(data);
		data = NULL;
		blk_id_format(&id, hex);
		if (!rc) {
			log_info("replicated %s from server %u", hex, sid);
			break;
		}
		log_warn("replicate %s from server %u (%s): %s", hex, sid, addr, strerror(-rc));
		if (rc == -ENOSPC || rc == -EILSEQ)
			break;
	}
	free(key);
	key = NULL;
	return rc;
}

static int32_t do_delete(struct chunkd *cd, struct proto_rbuf *r)
{
	struct blk_id id;
	uint32_t n;
	int32_t rc = 0;

	if (proto_get_count(r, BLK_ID_SIZE, &n))
		return -EBADMSG;
	for (uint32_t i = 0; i < n; i++) {
		int e;

		proto_get_blkid(r, &id);
		e = chunk_store_delete(cd->store, &id);
		if (e && !rc)
			rc = e;
	}
	return rc;
}

static void *worker_main(void *arg)
{
	struct chunkd *cd = arg;
	struct chunk_meta *m = cd->meta;

	for (;;) {
		struct meta_req *q;
		struct proto_rbuf r;
		int32_t status;

		pthread_mutex_lock(&m->lock);
		while (!m->head && !atomic_load(&cd->is_stopping))
			pthread_cond_wait(&m->cond, &m->lock);
		q = m->head;
		if (!q || atomic_load(&cd->is_stopping)) {
			pthread_mutex_unlock(&m->lock);
			break;
		}
		m->head = q->next;
		if (!m->head)
			m->tail = &m->head;
		pthread_mutex_unlock(&m->lock);
		proto_rbuf_init(&r, q->payload, q->len);
		status = q->type == MSG_CS_REPLICATE ? do_replicate(cd, &r) : do_delete(cd, &r);
		meta_reply_status(m, q->gen, q->type, q->reqid, status);
		free(q->payload);
		q->payload = NULL;
		free(q);
	}
	return NULL;
}

int chunk_meta_start(struct chunkd *cd)
{
	struct chunk_meta *m = xcalloc(1, sizeof(*m));
	int rc;

	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->wlock, NULL);
	pthread_cond_init(&m->cond, NULL);
	m->tail = &m->head;
	m->fd = -1;
	m->setup_fd = -1;
	m->next_reqid = 10;
	m->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (m->stop_fd < 0) {
		rc = -errno;
		free(m);
		return rc;
	}
	cd->meta = m;
	m->workers = xcalloc((size_t)cd->conf.workers, sizeof(*m->workers));
	for (int i = 0; i < cd->conf.workers; i++) {
		if (pthread_create(&m->workers[i], NULL, worker_main, cd))
			break;
		m->nworkers++;
	}
	rc = pthread_create(&m->thread, NULL, meta_main, cd);
	return -rc;
}

void chunk_meta_stop(struct chunkd *cd)
{
	struct chunk_meta *m = cd->meta;
	uint64_t one = 1;
	struct meta_req *q, *next;

	if (!m)
		return;
	if (write(m->stop_fd, &one, sizeof(one)) < 0)
		log_warn("meta stop: %s", strerror(errno));
	/* a thread blocked on metad's socket returns at once */
	pthread_mutex_lock(&m->wlock);
	if (m->setup_fd >= 0)
		shutdown(m->setup_fd, SHUT_RDWR);
	if (m->fd >= 0)
		shutdown(m->fd, SHUT_RDWR);
	pthread_mutex_unlock(&m->wlock);
	pthread_mutex_lock(&m->lock);
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	pthread_join(m->thread, NULL);
	for (int i = 0; i < m->nworkers; i++)
		pthread_join(m->workers[i], NULL);
	for (q = m->head; q; q = next) {
		next = q->next;
		free(q->payload);
		free(q);
	}
	meta_disconnect(m);
	close(m->stop_fd);
	free(m->workers);
	free(m->added);
	free(m->bad);
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->wlock);
	pthread_mutex_destroy(&m->lock);
	cd->meta = NULL;
	free(m);
}
