/* cl_file: the data path of the client.
 *
 * Every open inode has one struct cl_file shared by all its handles. Writes
 * land in per-block buffers (struct cl_dirty), each holding the block's whole
 * current content: a write that covers part of a block first reads the old
 * block (read-modify-write). A block written from its start to its end
 * leaves at once; the rest leave on flush. Upload workers hash a block,
 * PLACE it, stream it down its chain with BLK_PUT (several blocks in flight)
 * and record the copies stored; flush waits for them and commits every new
 * block reference in one COMMIT. A block whose chain loses servers is
 * committed with the copies that were stored (metad repairs the rest); one
 * with no copy is re-placed and retried until a deadline, then the flush
 * returns -EIO. Acknowledged data is never dropped silently.
 *
 * Reads serve buffered blocks first, then the block map (BMAP, cached per
 * open inode and reloaded at open when nobody else had it open:
 * close-to-open), then the block cache, then the replicas in order, each
 * copy verified with blk_verify; a missing or bad copy is reported with
 * REPORT_BAD and the next replica tried. A replica on a chunk server of
 * this host is read from the block file that server hands over (pread, no
 * TCP, no daemon in the way), still verified here; a local copy that does
 * not verify is read again over TCP, where the server checks it too.
 * Sequential readers prefetch the next blocks into the cache through the
 * same workers; a block being fetched is listed in fs->fetching so that
 * nobody fetches it twice (a reader that overtakes read-ahead waits for
 * it).
 *
 * Locking: fs->mu guards the inode table, the server table and the job
 * queue; fs->fetch_mu only the fetching list, and nothing is taken under
 * it (a waiter may hold f->mu; the fetcher releases before taking it). f->mu guards everything in a cl_file; it may be held while taking
 * fs->mu, never the other way round. f->mu is held across the network only
 * while filling a block for read-modify-write (so a block is filled once).
 * A buffer being uploaded (is_uploading) is read-only: writers to that block
 * wait for the upload to finish, so uploads of one block never overlap and
 * the last one wins.
 */
#include "client/cl_file_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/cl_ns.h"
#include "fs/log.h"
#include "fs/msg.h"
#include "fs/xmalloc.h"

uint32_t cl_file_block_len(uint64_t size, uint32_t bs, uint64_t index)
{
	uint64_t start = index * bs;

	if (size <= start)
		return 0;
	return size - start >= bs ? bs : (uint32_t)(size - start);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---- server table ---- */

static void servers_learn(struct cl_files *fs, uint32_t id, const char *addr)
{
	size_t i;

	pthread_mutex_lock(&fs->mu);
	for (i = 0; i < fs->nservers; i++)
		if (fs->servers[i].id == id)
			break;
	if (i == fs->nservers) {
		if (fs->nservers == fs->capservers) {
			fs->capservers = fs->capservers ? 2 * fs->capservers : 16;
			fs->servers = xrealloc(fs->servers, fs->capservers * sizeof(*fs->servers));
		}
		fs->nservers++;
	}
	fs->servers[i].id = id;
	size_t n = strlen(addr);

	if (n >= CL_ADDR_MAX)
		n = CL_ADDR_MAX - 1;
	memcpy(fs->servers[i].addr, addr, n);
	fs->servers[i].addr[n] = '\0';
	pthread_mutex_unlock(&fs->mu);
}

static int servers_addr(struct cl_files *fs, uint32_t id, char *out)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&fs->mu);
	for (size_t i = 0; i < fs->nservers; i++) {
		if (fs->servers[i].id == id) {
			memcpy(out, fs->servers[i].addr, CL_ADDR_MAX);
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&fs->mu);
	return rc;
}

/* Reads the trailing [server id, address] array of BMAP and PLACE. */
static int servers_decode(struct cl_files *fs, struct proto_rbuf *r)
{
	char addr[PROTO_STR_MAX + 1];
	uint32_t n, id;

	if (proto_get_count(r, 6, &n))
		return -EPROTO;
	for (uint32_t i = 0; i < n; i++) {
		proto_get_u32(r, &id);
		proto_get_str(r, addr, sizeof(addr));
		if (r->err || strlen(addr) >= CL_ADDR_MAX)
			return -EPROTO;
		servers_learn(fs, id, addr);
	}
	return proto_get_end(r) ? -EPROTO : 0;
}

/* ---- block maps (f->mu held) ---- */

size_t cl_file_map_search(const struct cl_bent *v, size_t n, uint64_t index)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid].index < index)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct cl_bent *cl_file_map_find(struct cl_file *f, uint64_t index)
{
	size_t i = cl_file_map_search(f->map, f->nmap, index);

	return i < f->nmap && f->map[i].index == index ? &f->map[i] : NULL;
}

/* A BMAP written right behind an OPEN (cl_meta_follow), so that the first
 * read after a cold open needs no round trip of its own. Shared by the
 * completion (cl_meta's reader) and the file until both let go. */
struct cl_map_pre {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	int refs;
	int is_done;
	int status;
	struct proto_wbuf rep;
};

static void map_pre_put(struct cl_map_pre *p)
{
	int left;

	pthread_mutex_lock(&p->mu);
	left = --p->refs;
	pthread_mutex_unlock(&p->mu);
	if (left)
		return;
	proto_wbuf_free(&p->rep);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cond);
	free(p);
}

static void map_pre_done(void *arg, int status, struct proto_wbuf *rep)
{
	struct cl_map_pre *p = arg;

	pthread_mutex_lock(&p->mu);
	p->status = status;
	if (!status)
		proto_put_raw(&p->rep, rep->data, rep->len);
	p->is_done = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->mu);
	map_pre_put(p);
}

void cl_file_map_pre_drop(struct cl_file *f)
{
	if (f->map_pre)
		map_pre_put(f->map_pre);
	f->map_pre = NULL;
}

/* Takes the open's BMAP answer into rep if there is a usable one (f->mu
 * held; the answer follows the OPEN's at once, so the wait is short). */
static int map_pre_take(struct cl_file *f, struct proto_wbuf *rep)
{
	struct cl_map_pre *p = f->map_pre;
	int ok;

	if (!p)
		return 0;
	f->map_pre = NULL;
	pthread_mutex_lock(&p->mu);
	while (!p->is_done)
		pthread_cond_wait(&p->cond, &p->mu);
	ok = p->status == 0;
	if (ok) {
		proto_wbuf_reset(rep);
		proto_put_raw(rep, p->rep.data, p->rep.len);
	}
	pthread_mutex_unlock(&p->mu);
	map_pre_put(p);
	return ok;
}

/* Inserts or replaces e; a null id removes the entry (a hole). */
void cl_file_map_set(struct cl_file *f, const struct cl_bent *e)
{
	size_t i;

	cl_file_map_pre_drop(f);
	if (!f->is_map_valid)
		return;
	i = cl_file_map_search(f->map, f->nmap, e->index);
	if (i < f->nmap && f->map[i].index == e->index) {
		if (blk_id_is_null(&e->id)) {
			memmove(&f->map[i], &f->map[i + 1], (f->nmap - i - 1) * sizeof(*f->map));
			f->nmap--;
		} else {
			f->map[i] = *e;
		}
		return;
	}
	if (blk_id_is_null(&e->id))
		return;
	if (f->nmap == f->capmap) {
		f->capmap = f->capmap ? 2 * f->capmap : 64;
		f->map = xrealloc(f->map, f->capmap * sizeof(*f->map));
	}
	memmove(&f->map[i + 1], &f->map[i], (f->nmap - i) * sizeof(*f->map));
	f->map[i] = *e;
	f->nmap++;
}

void cl_file_bent_append(struct cl_bent **v, size_t *n, size_t *cap, const struct cl_bent *e)
{
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 64;
		*v = xrealloc(*v, *cap * sizeof(**v));
	}
	(*v)[(*n)++] = *e;
}

/* Loads the whole block map with BMAP (f->mu held; it is a metad round trip,
 * kept under the lock so that a map is never half loaded). */
int cl_file_map_load(struct cl_file *f)
{
	struct proto_wbuf req, rep;
	struct proto_rbuf r;
	struct casfs_attr a;
	uint64_t first = 0, nblocks;
	uint32_t n, nsrv;
	int rc = 0, has_pre;

	proto_wbuf_init(&req);
	proto_wbuf_init(&rep);
	has_pre = map_pre_take(f, &rep);
	f->nmap = 0;
	f->is_map_valid = 1;
	nblocks = (f->size + f->bs - 1) / f->bs;
	do {
		uint32_t count = nblocks - first > CL_BMAP_BATCH ? CL_BMAP_BATCH
								 : (uint32_t)(nblocks - first);

		if (!has_pre) {
			proto_frame_begin(&req, MSG_BMAP, 0, 0);
			proto_put_u64(&req, f->ino);
			proto_put_u64(&req, first);
			proto_put_u32(&req, count ? count : 1);
			rc = cl_meta_call(f->fs->meta, &req, &rep);
			if (rc)
				break;
		}
		has_pre = 0;
		proto_rbuf_init(&r, rep.data, rep.len);
		proto_get_attr(&r, &a);
		if (proto_get_count(&r, 8 + BLK_ID_SIZE + 4 + 4, &n)) {
			rc = -EPROTO;
			break;
		}
		for (uint32_t i = 0; i < n && !r.err; i++) {
			struct cl_bent e = { 0 };

			proto_get_u64(&r, &e.index);
			proto_get_blkid(&r, &e.id);
			proto_get_u32(&r, &e.len);
			if (proto_get_count(&r, 4, &nsrv))
				break;
			for (uint32_t k = 0; k < nsrv && !r.err; k++) {
				uint32_t sid;

				proto_get_u32(&r, &sid);
				if (e.nsrv < CL_CHAIN_MAX)
					e.srv[e.nsrv++] = sid;
			}
			if (!blk_id_is_null(&e.id) && e.len <= f->bs)
				cl_file_map_set(f, &e);
		}
		if (r.err || (rc = servers_decode(f->fs, &r)) != 0) {
			rc = -EPROTO;
			break;
		}
		first += CL_BMAP_BATCH;
	} while (first < nblocks);
	if (rc) {
		f->is_map_valid = 0;
		cl_file_map_pre_drop(f);
		log_warn("BMAP of inode %llu failed: %s", (unsigned long long)f->ino,
			 strerror(-rc));
	}
	proto_wbuf_free(&req);
	proto_wbuf_free(&rep);
	return rc;
}

/* ---- fetching blocks (no lock held) ---- */

static void report_bad(struct cl_files *fs, const struct blk_id *id, uint32_t sid)
{
	struct proto_wbuf req, rep;

	proto_wbuf_init(&req);
	proto_wbuf_init(&rep);
	proto_frame_begin(&req, MSG_REPORT_BAD, 0, 0);
	proto_put_blkid(&req, id);
	proto_put_u32(&req, sid);
	cl_meta_call(fs->meta, &req, &rep);
	proto_wbuf_free(&req);
	proto_wbuf_free(&rep);
}

static int fetching_find(const struct cl_files *fs, const struct blk_id *id)
{
	for (int i = 0; i < fs->nfetching; i++)
		if (blk_id_equal(&fs->fetching[i], id))
			return i;
	return -1;
}

/* Waits until nobody fetches block id (fs->fetch_mu held); whether there
 * was a fetch. */
static int fetch_wait_locked(struct cl_files *fs, const struct blk_id *id)
{
	int waited = 0;

	while (fetching_find(fs, id) >= 0) {
		waited = 1;
		pthread_cond_wait(&fs->fetch_cond, &fs->fetch_mu);
	}
	return waited;
}

/* Whether block e is in the cache; copied into out too when out is given. */
static int fetch_cached(struct cl_files *fs, const struct cl_bent *e, uint8_t *out)
{
	uint32_t got;

	if (!out)
		return cl_cache_has(fs->cache, &e->id);
	return cl_cache_read(fs->cache, &e->id, 0, out, e->len, &got) == 0;
}

/* Claims the fetch of e, or waits while another thread fetches it (a
 * prefetch the reader caught up with). 1 when the block turned up in the
 * cache meanwhile (copied into out if given), or for a prefetch (out NULL)
 * when another thread has it in hand; 0 when the caller fetches it
 * (claimed if there was room: *claimed). */
static int fetch_claim(struct cl_files *fs, const struct cl_bent *e, uint8_t *out, int *claimed)
{
	int found = 0;

	*claimed = 0;
	pthread_mutex_lock(&fs->fetch_mu);
	if (out)
		fetch_wait_locked(fs, &e->id);
	else
		found = fetching_find(fs, &e->id) >= 0;
	found = found || fetch_cached(fs, e, out);
	if (!found && fs->nfetching < CL_FETCHING_MAX) {
		fs->fetching[fs->nfetching++] = e->id;
		*claimed = 1;
	}
	pthread_mutex_unlock(&fs->fetch_mu);
	return found;
}

static void fetch_release(struct cl_files *fs, const struct blk_id *id)
{
	int i;

	pthread_mutex_lock(&fs->fetch_mu);
	i = fetching_find(fs, id);
	if (i >= 0)
		fs->fetching[i] = fs->fetching[--fs->nfetching];
	pthread_cond_broadcast(&fs->fetch_cond);
	pthread_mutex_unlock(&fs->fetch_mu);
}

/* Whether block id is being fetched right now. */
static int fetch_busy(struct cl_files *fs, const struct blk_id *id)
{
	int busy;

	pthread_mutex_lock(&fs->fetch_mu);
	busy = fetching_find(fs, id) >= 0;
	pthread_mutex_unlock(&fs->fetch_mu);
	return busy;
}

/* Hands a fetched block (data->data + off) to the cache, and to out when a
 * reader waits for it; data is empty again after. */
static void fetch_keep(struct cl_files *fs, const struct cl_bent *e, uint8_t *out,
		       struct proto_wbuf *data, size_t off)
{
	if (out) {
		memcpy(out, data->data + off, e->len);
		cl_cache_put_own(fs->cache, &e->id, data->data, data->data + off, e->len);
	} else {
		cl_cache_put_ahead(fs->cache, &e->id, data->data, data->data + off, e->len);
	}
	proto_wbuf_init(data);	/* the cache has it now */
}

/* Reads block e from the file a chunk server on this host hands over into
 * data (reset first), and verifies it. -EREMOTE when addr is not on this
 * host; -EBADMSG when the bytes do not verify. */
static int fetch_local(struct cl_files *fs, const char *addr, const struct cl_bent *e,
		       struct proto_wbuf *data)
{
	uint32_t len;
	size_t got = 0;
	int fd, rc;

	rc = cl_chunk_open(fs->chunk, addr, &e->id, &fd, &len);
	if (rc)
		return rc;
	proto_wbuf_reset(data);
	if (data->cap < e->len || !data->data) {
		data->data = xrealloc(data->data, e->len ? e->len : 1);
		data->cap = e->len;
	}
	while (len == e->len && got < len) {
		ssize_t n = pread(fd, data->data + got, len - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (len != e->len || got != len ||
	    blk_verify(cl_meta_key(fs->meta), data->data, len, &e->id))
		return -EBADMSG;
	data->len = len;
	return 0;
}

/* Reads block e from server addr over TCP into data (the block at
 * data->data + *off), verified. */
static int fetch_remote(struct cl_files *fs, const char *addr, const struct cl_bent *e,
			struct proto_wbuf *data, size_t *off)
{
	uint32_t len;
	int r;

	r = cl_chunk_get(fs->chunk, addr, &e->id, data, off, &len);
	if (!r && (len != e->len ||
		   blk_verify(cl_meta_key(fs->meta), data->data + *off, len, &e->id)))
		r = -EBADMSG;
	return r;
}

/* What a failed local read says: -ENOENT or -EIO are the server's own
 * answer about its copy (TCP would say the same), so the copy is bad; the
 * rest (not on this host, a socket error, bytes that did not verify) leave
 * the copy to be read over TCP, where the server checks it too. */
static int local_failed(const struct cl_bent *e, const char *addr, int r)
{
	char hex[BLK_ID_HEX_LEN + 1];

	if (r == -ENOENT || r == -EIO)
		return 1;
	blk_id_format(&e->id, hex);
	if (r == -EBADMSG) {
		log_warn("block %s from %s's local socket did not verify: reading it over TCP",
			 hex, addr);
	} else if (r != -EREMOTE) {
		log_warn("block %s: %s's local socket: %s: reading it over TCP", hex, addr,
			 strerror(-r));
	}
	return 0;
}

/* The replicas of e on servers that did not answer lately, as a mask:
 * those are tried last. */
static uint32_t replicas_late(struct cl_files *fs, const struct cl_bent *e)
{
	char addr[CL_ADDR_MAX];
	uint32_t late = 0;

	for (uint32_t i = 0; i < e->nsrv; i++)
		if (!servers_addr(fs, e->srv[i], addr) && cl_chunk_is_down(fs->chunk, addr))
			late |= 1u << i;
	return late;
}

/* Gets block e into the cache and, when out is given, into out (bs bytes;
 * NULL for a prefetch). Tries the replicas on this host first, then each
 * over TCP in turn, those on servers that did not answer lately after all
 * the others; a copy that is missing or does not verify is reported and
 * not tried again. 0, or -EIO when no copy was good. */
static int block_fetch(struct cl_files *fs, const struct cl_bent *e, uint8_t *out)
{
	char addr[CL_ADDR_MAX];
	struct proto_wbuf data;
	uint32_t bad = 0, late = replicas_late(fs, e);
	size_t off = 0;
	int rc = -EIO, claimed;

	if (fetch_claim(fs, e, out, &claimed))
		return 0;
	proto_wbuf_init(&data);
	for (int pass = 0; pass < 4 && rc; pass++) {
		uint32_t want_late = pass >= 2;
		int is_tcp = pass & 1;

		for (uint32_t i = 0; i < e->nsrv; i++) {
			int r;

			if ((bad & (1u << i)) || ((late >> i) & 1) != want_late ||
			    servers_addr(fs, e->srv[i], addr))
				continue;
			if (is_tcp) {
				r = fetch_remote(fs, addr, e, &data, &off);
			} else {
				off = 0;
				r = fetch_local(fs, addr, e, &data);
				if (r && !local_failed(e, addr, r))
					continue;
			}
			if (!r) {
				fetch_keep(fs, e, out, &data, off);
				atomic_fetch_add(is_tcp ? &fs->nread_remote : &fs->nread_local, 1);
				rc = 0;
				break;
			}
			/* A server not reached is logged by cl_chunk, once while
			 * it stays away; a bad copy is news every time. */
			if (r == -ENOENT || r == -EIO || r == -EBADMSG) {
				log_warn("block read from %s failed: %s", addr, strerror(-r));
				report_bad(fs, &e->id, e->srv[i]);
				bad |= 1u << i;
			} else {
				log_debug("block read from %s failed: %s", addr, strerror(-r));
			}
		}
	}
	proto_wbuf_free(&data);
	if (claimed)
		fetch_release(fs, &e->id);
	return rc;
}

/* Copies bytes [off, off + len) of block e into out (zeros past its stored
 * length). Drops and retakes f->mu around the network; reloads the map once
 * when every replica failed (locations move when servers die). */
static int block_read(struct cl_file *f, const struct cl_bent *e0, uint32_t off, uint32_t len,
		      uint8_t *out, int keep_lock)
{
	struct cl_files *fs = f->fs;
	struct cl_bent e = *e0;
	uint32_t got = 0;
	uint8_t *tmp = NULL;
	int rc = 0;

	for (int attempt = 0; attempt < 2; attempt++) {
		if (!cl_cache_read(fs->cache, &e.id, off, out, len, &got))
			goto fill;
		if (!keep_lock)
			pthread_mutex_unlock(&f->mu);
		if (!tmp)
			tmp = xmalloc(f->bs);
		rc = block_fetch(fs, &e, tmp);
		if (!keep_lock)
			pthread_mutex_lock(&f->mu);
		if (!rc) {
			if (!cl_cache_read(fs->cache, &e.id, off, out, len, &got))
				goto fill;
			got = off >= e.len ? 0 : e.len - off;
			if (got > len)
				got = len;
			memcpy(out, tmp + off, got);
			goto fill;
		}
		if (attempt == 0) {
			const struct cl_bent *ne;

			/* Locations move when servers die: ask metad again. */
			if (cl_file_map_load(f))
				break;
			ne = cl_file_map_find(f, e.index);
			if (!ne) {
				memset(out, 0, len);
				rc = 0;
				goto out;
			}
			e = *ne;
		}
	}
	log_error("inode %llu block %llu: no readable copy", (unsigned long long)f->ino,
		  (unsigned long long)e.index);
	rc = -EIO;
	goto out;
fill:
	rc = 0;
	if (got < len)
		memset(out + got, 0, len - got);
out:
	free(tmp);
	tmp = NULL;
	return rc;
}

/* ---- jobs ---- */

static void job_push(struct cl_files *fs, struct cl_job *j)
{
	pthread_mutex_lock(&fs->mu);
	j->f->refs++;
	j->next = NULL;
	if (fs->tail)
		fs->tail->next = j;
	else
		fs->head = j;
	fs->tail = j;
	pthread_cond_signal(&fs->job_cond);
	pthread_mutex_unlock(&fs->mu);
}

/* Starts uploading d (f->mu held). */
static void upload_start(struct cl_file *f, struct cl_dirty *d)
{
	struct cl_job *j = xcalloc(1, sizeof(*j));

	d->is_uploading = 1;
	f->inflight++;
	j->f = f;
	j->d = d;
	job_push(f->fs, j);
}


/* PLACE for one block: fills chain[0..*n). */
static int block_place(struct cl_file *f, const struct blk_id *id, uint32_t len,
		       struct cl_server *chain, uint32_t *n)
{
	struct proto_wbuf req, rep;
	struct proto_rbuf r;
	uint32_t nchains, nsrv, sid;
	size_t at;
	int rc;

	proto_wbuf_init(&req);
	proto_wbuf_init(&rep);
	proto_frame_begin(&req, MSG_PLACE, 0, 0);
	proto_put_u64(&req, f->ino);
	at = proto_put_array_begin(&req);
	proto_put_blkid(&req, id);
	proto_put_u32(&req, len);
	proto_put_array_end(&req, at, 1);
	rc = cl_meta_call(f->fs->meta, &req, &rep);
	if (rc)
		goto out;
	proto_rbuf_init(&r, rep.data, rep.len);
	*n = 0;
	if (proto_get_count(&r, 4, &nchains) || nchains != 1 || proto_get_count(&r, 4, &nsrv)) {
		rc = -EPROTO;
		goto out;
	}
	for (uint32_t k = 0; k < nsrv && !r.err; k++) {
		proto_get_u32(&r, &sid);
		if (*n < CL_CHAIN_MAX)
			chain[(*n)++].id = sid;
	}
	rc = r.err ? -EPROTO : servers_decode(f->fs, &r);
	for (uint32_t k = 0; k < *n && !rc; k++)
		if (servers_addr(f->fs, chain[k].id, chain[k].addr))
			rc = -EPROTO;
	if (!rc && *n == 0)
		rc = -ENOSPC;
out:
	proto_wbuf_free(&req);
	proto_wbuf_free(&rep);
	return rc;
}

/* Drops from chain[0..n) the servers that did not answer lately, unless
 * none would be left; the new length. Until metad stops placing blocks on
 * a dead server, each block would otherwise try it first: a failed
 * connect, which takes seconds where a dead host sends no reset. The
 * copies it misses are metad's to make again, as after a failed PUT. */
static uint32_t chain_skip_down(struct cl_files *fs, struct cl_server *chain, uint32_t n)
{
	struct cl_server up[CL_CHAIN_MAX];
	uint32_t k = 0;

	for (uint32_t i = 0; i < n; i++)
		if (!cl_chunk_is_down(fs->chunk, chain[i].addr))
			up[k++] = chain[i];
	if (k == 0 || k == n)
		return n;
	memcpy(chain, up, k * sizeof(*chain));
	return k;
}

/* Stores one block on as many servers of a chain as will take it: when the
 * receiver cannot be reached the chain is retried without it; when no copy
 * was stored the block is placed again. Fills e's servers. */
static int block_store(struct cl_file *f, const uint8_t *data, struct cl_bent *e)
{
	struct cl_server chain[CL_CHAIN_MAX];
	int status[CL_CHAIN_MAX];
	time_t deadline = time(NULL) + CL_PUT_DEADLINE_S;
	int backoff = 100, rc;
	uint32_t n;

	for (;;) {
		rc = block_place(f, &e->id, e->len, chain, &n);
		if (rc == -ENOSPC || rc == -EPROTO || rc == -ESHUTDOWN || rc == -ESTALE ||
		    rc == -ENOENT)
			return rc;
		if (rc)
			log_warn("inode %llu: PLACE of block %llu: %s; retrying",
				 (unsigned long long)f->ino, (unsigned long long)e->index,
				 strerror(-rc));
		if (!rc)
			n = chain_skip_down(f->fs, chain, n);
		while (!rc && n > 0) {
			rc = cl_chunk_put(f->fs->chunk, &e->id, 0, chain, n, data, e->len, status);
			if (!rc) {
				e->nsrv = 0;
				for (uint32_t k = 0; k < n; k++)
					if (status[k] == 0)
						e->srv[e->nsrv++] = chain[k].id;
				if (e->nsrv)
					return 0;
				if (status[0] == -EILSEQ || status[0] == -EBADMSG) {
					log_error("inode %llu: a chunk server refused block %llu: %s",
						  (unsigned long long)f->ino,
						  (unsigned long long)e->index, strerror(-status[0]));
					return -EIO;
				}
				log_warn("inode %llu: chunk server %s could not store block %llu: %s",
					 (unsigned long long)f->ino, chain[0].addr,
					 (unsigned long long)e->index, strerror(-status[0]));
			}
			/* The receiver is unreachable or failed its own copy:
			 * the rest of the chain may still take the block. */
			memmove(chain, chain + 1, (n - 1) * sizeof(*chain));
			n--;
			rc = 0;
		}
		if (time(NULL) >= deadline)
			return -EIO;
		sleep_ms(backoff);
		backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
	}
}

/* Frees a buffer already off f->dirty and returns its bytes to the
 * mount-wide write budget. */
static void dirty_free(struct cl_file *f, struct cl_dirty *d)
{
	__atomic_sub_fetch(&f->fs->dirty_bytes, f->bs, __ATOMIC_RELAXED);
	free(d->buf);
	d->buf = NULL;
	free(d);
}

static void job_upload(struct cl_file *f, struct cl_dirty *d)
{
	struct cl_files *fs = f->fs;
	struct cl_bent e = { .index = d->index };
	struct cl_dirty **pp;
	int rc = 0;

	pthread_mutex_lock(&f->mu);
	e.len = cl_file_block_len(f->size, f->bs, d->index);
	cl_file_dirty_fill(d, e.len);
	pthread_mutex_unlock(&f->mu);
	if (e.len) {
		blk_hash(cl_meta_key(fs->meta), d->buf, e.len, &e.id);
		rc = block_store(f, d->buf, &e);
	}
	pthread_mutex_lock(&f->mu);
	f->inflight--;
	if (rc) {
		/* Keep the buffer: the next flush tries again, and until then
		 * reads still see the data. */
		log_error("inode %llu: block %llu could not be stored: %s",
			  (unsigned long long)f->ino, (unsigned long long)d->index, strerror(-rc));
		if (!f->err)
			f->err = -EIO;
		d->is_uploading = 0;
		pthread_cond_broadcast(&f->cond);
		pthread_mutex_unlock(&f->mu);
		return;
	}
	for (size_t i = 0;; i++) {
		if (i == f->ndone) {
			cl_file_bent_append(&f->done, &f->ndone, &f->capdone, &e);
			break;
		}
		if (f->done[i].index == e.index) {
			f->done[i] = e;
			break;
		}
	}
	cl_file_map_set(f, &e);
	for (pp = &f->dirty; *pp; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			f->ndirty--;
			break;
		}
	}
	/* Off the list, nobody reads the buffer: the cache takes it as is,
	 * on its written list (a streaming writer must not push out what
	 * readers fetched), unless the block fills less than half of it. The
	 * cache counts a block by its length, so a small file's block kept its
	 * whole buffer (a 4 KiB file held 1 MiB, and an untar of /usr/include
	 * ran the heap into gigabytes); a copy of its own size goes in instead,
	 * and the buffer goes back to the heap for the next writer. */
	if (e.len && e.len < f->bs / 2) {
		cl_cache_put(fs->cache, &e.id, d->buf, e.len);
	} else if (e.len) {
		cl_cache_put_written(fs->cache, &e.id, d->buf, e.len);
		d->buf = NULL;
	}
	dirty_free(f, d);
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->mu);
}

static void job_prefetch(struct cl_file *f, const struct cl_bent *e)
{
	block_fetch(f->fs, e, NULL);
	pthread_mutex_lock(&f->mu);
	f->prefetching--;
	pthread_mutex_unlock(&f->mu);
}

static void *worker_main(void *arg)
{
	struct cl_files *fs = arg;
	struct cl_job *j;

	for (;;) {
		pthread_mutex_lock(&fs->mu);
		while (!fs->head && !fs->is_stopping)
			pthread_cond_wait(&fs->job_cond, &fs->mu);
		j = fs->head;
		if (!j) {
			pthread_mutex_unlock(&fs->mu);
			return NULL;
		}
		fs->head = j->next;
		if (!fs->head)
			fs->tail = NULL;
		pthread_mutex_unlock(&fs->mu);
		if (j->d)
			job_upload(j->f, j->d);
		else
			job_prefetch(j->f, &j->e);
		cl_file_put(j->f);
		free(j);
		j = NULL;
	}
}

/* ---- the inode table ---- */

struct cl_files *cl_files_new(struct cl_meta *meta, struct cl_chunk *chunk,
			      struct cl_cache *cache, int nworkers, uint64_t write_cache)
{
	struct cl_files *fs = xcalloc(1, sizeof(*fs));

	fs->write_cache = write_cache;
	fs->meta = meta;
	fs->chunk = chunk;
	fs->cache = cache;
	pthread_mutex_init(&fs->mu, NULL);
	pthread_cond_init(&fs->job_cond, NULL);
	pthread_mutex_init(&fs->fetch_mu, NULL);
	pthread_cond_init(&fs->fetch_cond, NULL);
	fs->nworkers = nworkers > 0 ? nworkers : 1;
	fs->workers = xcalloc((size_t)fs->nworkers, sizeof(*fs->workers));
	for (int i = 0; i < fs->nworkers; i++)
		pthread_create(&fs->workers[i], NULL, worker_main, fs);
	return fs;
}

void cl_files_free(struct cl_files *fs)
{
	struct cl_file **open = NULL;
	size_t n = 0, cap = 0;

	if (!fs)
		return;
	pthread_mutex_lock(&fs->mu);
	for (int b = 0; b < CL_FILE_BUCKETS; b++) {
		for (struct cl_file *f = fs->table[b]; f; f = f->hnext) {
			if (n == cap) {
				cap = cap ? 2 * cap : 16;
				open = xrealloc(open, cap * sizeof(*open));
			}
			f->refs++;
			open[n++] = f;
		}
	}
	pthread_mutex_unlock(&fs->mu);
	for (size_t i = 0; i < n; i++) {
		if (cl_file_flush(open[i]))
			log_error("inode %llu: buffered data lost at unmount",
				  (unsigned long long)open[i]->ino);
		cl_file_put(open[i]);
	}
	free(open);
	open = NULL;
	pthread_mutex_lock(&fs->mu);
	fs->is_stopping = 1;
	pthread_cond_broadcast(&fs->job_cond);
	pthread_mutex_unlock(&fs->mu);
	for (int i = 0; i < fs->nworkers; i++)
		pthread_join(fs->workers[i], NULL);
	log_info("blocks fetched: %llu from chunk servers on this host, %llu over TCP; "
		 "%llu read-ahead jobs queued",
		 (unsigned long long)atomic_load(&fs->nread_local),
		 (unsigned long long)atomic_load(&fs->nread_remote),
		 (unsigned long long)atomic_load(&fs->nahead));
	for (int b = 0; b < CL_FILE_BUCKETS; b++) {
		while (fs->table[b]) {
			struct cl_file *f = fs->table[b];

			/* Handles the kernel never released: free them. */
			fs->table[b] = f->hnext;
			f->hnext = NULL;
			f->refs = 1;
			cl_file_put(f);
		}
	}
	free(fs->workers);
	fs->workers = NULL;
	free(fs->servers);
	fs->servers = NULL;
	pthread_mutex_destroy(&fs->mu);
	pthread_cond_destroy(&fs->job_cond);
	pthread_mutex_destroy(&fs->fetch_mu);
	pthread_cond_destroy(&fs->fetch_cond);
	free(fs);
}

/* Finds the open state of ino and takes a reference; NULL if not open. */
struct cl_file *cl_file_find(struct cl_files *fs, uint64_t ino)
{
	struct cl_file *f;

	pthread_mutex_lock(&fs->mu);
	for (f = fs->table[ino % CL_FILE_BUCKETS]; f; f = f->hnext)
		if (f->ino == ino)
			break;
	if (f)
		f->refs++;
	pthread_mutex_unlock(&fs->mu);
	return f;
}

/* Finds or creates; *is_new says whether this caller created it. */
struct cl_file *cl_file_get(struct cl_files *fs, uint64_t ino, int *is_new)
{
	struct cl_file *f, *nf = xcalloc(1, sizeof(*nf));

	pthread_mutex_lock(&fs->mu);
	for (f = fs->table[ino % CL_FILE_BUCKETS]; f; f = f->hnext)
		if (f->ino == ino)
			break;
	if (f) {
		f->refs++;
		*is_new = 0;
		pthread_mutex_unlock(&fs->mu);
		free(nf);
		nf = NULL;
		return f;
	}
	nf->fs = fs;
	nf->ino = ino;
	nf->refs = 1;
	nf->bs = CL_BS_DEFAULT;
	pthread_mutex_init(&nf->mu, NULL);
	pthread_cond_init(&nf->cond, NULL);
	pthread_mutex_init(&nf->flush_mu, NULL);
	nf->hnext = fs->table[ino % CL_FILE_BUCKETS];
	fs->table[ino % CL_FILE_BUCKETS] = nf;
	*is_new = 1;
	pthread_mutex_unlock(&fs->mu);
	return nf;
}

void cl_file_put(struct cl_file *f)
{
	struct cl_files *fs = f->fs;
	struct cl_file **pp;

	pthread_mutex_lock(&fs->mu);
	if (--f->refs > 0) {
		pthread_mutex_unlock(&fs->mu);
		return;
	}
	for (pp = &fs->table[f->ino % CL_FILE_BUCKETS]; *pp; pp = &(*pp)->hnext) {
		if (*pp == f) {
			*pp = f->hnext;
			break;
		}
	}
	pthread_mutex_unlock(&fs->mu);
	while (f->dirty) {
		struct cl_dirty *d = f->dirty;

		f->dirty = d->next;
		dirty_free(f, d);
	}
	free(f->done);
	f->done = NULL;
	free(f->unsynced);
	f->unsynced = NULL;
	cl_file_map_pre_drop(f);
	free(f->map);
	f->map = NULL;
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->flush_mu);
	free(f);
}

static void file_take_attr(struct cl_file *f, const struct casfs_attr *a, int is_new)
{
	pthread_mutex_lock(&f->mu);
	if (a->block_size >= 4096)
		f->bs = a->block_size;
	/* close-to-open: a fresh open sees metad's size and map, unless this
	 * mount has unflushed writes of its own. */
	if (is_new || (!f->need_commit && !f->ndirty && !f->inflight)) {
		if (is_new || f->size != a->size || f->mtime.sec != a->mtime.sec ||
		    f->mtime.nsec != a->mtime.nsec)
			f->is_map_valid = 0;
		f->size = a->size;
		f->mtime = a->mtime;
	}
	pthread_mutex_unlock(&f->mu);
}

void cl_file_note_locks(struct cl_file *f)
{
	pthread_mutex_lock(&f->mu);
	f->has_locks = 1;
	pthread_mutex_unlock(&f->mu);
}

int cl_file_has_locks(struct cl_file *f)
{
	int has;

	pthread_mutex_lock(&f->mu);
	has = f->has_locks;
	pthread_mutex_unlock(&f->mu);
	return has;
}

/* Arms a BMAP of ino's first blocks to follow this thread's next metad
 * call; NULL when the map is known already. The caller holds one
 * reference, the completion the other. */
static struct cl_map_pre *map_pre_arm(struct cl_files *fs, uint64_t ino)
{
	struct cl_file *f = cl_file_find(fs, ino);
	struct cl_map_pre *p;
	struct proto_wbuf req;
	int known = 0;

	if (f) {
		pthread_mutex_lock(&f->mu);
		known = f->is_map_valid;
		pthread_mutex_unlock(&f->mu);
		cl_file_put(f);
	}
	if (known)
		return NULL;
	p = xcalloc(1, sizeof(*p));
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cond, NULL);
	proto_wbuf_init(&p->rep);
	p->refs = 2;
	proto_wbuf_init(&req);
	proto_frame_begin(&req, MSG_BMAP, 0, 0);
	proto_put_u64(&req, ino);
	proto_put_u64(&req, 0);
	proto_put_u32(&req, CL_BMAP_BATCH);
	if (cl_meta_follow(&req, map_pre_done, p))
		map_pre_done(p, -EMSGSIZE, NULL);
	proto_wbuf_free(&req);
	return p;
}

int cl_file_open(struct cl_files *fs, uint64_t ino, uint32_t flags, struct casfs_attr *a,
		 struct cl_file **out)
{
	struct cl_file *f, *old = NULL;
	struct cl_map_pre *pre = NULL;
	int rc, is_new;

	/* O_TRUNC truncates on metad: commit this mount's buffered writes
	 * first so none lands after the truncation. */
	if (flags & O_TRUNC)
		old = cl_file_find(fs, ino);
	if (old) {
		pthread_mutex_lock(&old->flush_mu);
		cl_file_flush_locked(old);
	}
	/* A reader's first read needs the block map: fetch it in the OPEN's
	 * round trip (metad answers it after the OPEN, so it is as fresh). */
	if (!(flags & O_TRUNC) && (flags & O_ACCMODE) != O_WRONLY)
		pre = map_pre_arm(fs, ino);
	rc = cl_ns_open(fs->meta, ino, flags, a);
	if (old) {
		pthread_mutex_lock(&old->mu);
		old->is_map_valid = 0;
		cl_file_map_pre_drop(old);
		if (!rc)
			old->size = a->size;
		pthread_mutex_unlock(&old->mu);
		pthread_mutex_unlock(&old->flush_mu);
		cl_file_put(old);
	}
	if (rc) {
		if (pre)
			map_pre_put(pre);
		return rc;
	}
	cl_meta_note_open(fs->meta, ino, 1);
	f = cl_file_get(fs, ino, &is_new);
	file_take_attr(f, a, is_new);
	if (pre) {
		pthread_mutex_lock(&f->mu);
		if (!f->is_map_valid && !f->ndirty && !f->inflight && !f->ndone) {
			cl_file_map_pre_drop(f);
			f->map_pre = pre;
			pre = NULL;
		}
		pthread_mutex_unlock(&f->mu);
		if (pre)
			map_pre_put(pre);
	}
	*out = f;
	return 0;
}

int cl_file_create(struct cl_files *fs, uint64_t parent, const char *name, uint32_t mode,
		   uint32_t uid, uint32_t gid, uint32_t flags, struct casfs_attr *a,
		   struct cl_file **out)
{
	struct cl_file *f;
	int rc, is_new;

	rc = cl_ns_create(fs->meta, parent, name, mode, uid, gid, flags, a);
	if (rc)
		return rc;
	cl_meta_note_open(fs->meta, a->ino, 1);
	f = cl_file_get(fs, a->ino, &is_new);
	file_take_attr(f, a, 1);
	pthread_mutex_lock(&f->mu);
	f->is_map_valid = 1;	/* a new file has no blocks */
	f->nmap = 0;
	pthread_mutex_unlock(&f->mu);
	*out = f;
	return 0;
}

int cl_file_release(struct cl_file *f)
{
	struct cl_files *fs = f->fs;
	struct proto_wbuf req;
	int rc, r2;

	rc = cl_file_flush(f);
	proto_wbuf_init(&req);
	proto_frame_begin(&req, MSG_RELEASE, 0, 0);
	proto_put_u64(&req, f->ino);
	cl_meta_note_open(fs->meta, f->ino, -1);
	/* Nothing waits on a RELEASE: close returns after the flush. */
	r2 = cl_meta_post(fs->meta, &req);
	if (r2 && r2 != -ESHUTDOWN)
		log_warn("RELEASE of inode %llu: %s", (unsigned long long)f->ino, strerror(-r2));
	proto_wbuf_free(&req);
	cl_file_put(f);
	return rc;
}

/* ---- read and write ---- */

struct cl_dirty *cl_file_dirty_find(struct cl_file *f, uint64_t index)
{
	struct cl_dirty *d;

	for (d = f->dirty; d; d = d->next)
		if (d->index == index)
			return d;
	return NULL;
}

/* Queues the fetch of the blocks from next_index on (f->mu held). A block
 * is queued once per pass of the reader: a second job for it would only
 * wait on the first, holding a worker the next block needs. READs arrive
 * a little out of order, so the pass goes on from where it queued up to
 * while that is within two windows; a reader further back than that went
 * back on purpose and starts a new pass. */
static void file_readahead(struct cl_file *f, uint64_t next_index)
{
	uint64_t i = next_index;

	if (f->ahead_end > i && f->ahead_end <= i + 2 * CL_READAHEAD)
		i = f->ahead_end;
	for (; i < next_index + CL_READAHEAD; i++) {
		const struct cl_bent *e;
		struct cl_job *j;

		if (f->prefetching >= CL_READAHEAD || i * f->bs >= f->size)
			return;
		e = cl_file_map_find(f, i);
		if (!e || cl_file_dirty_find(f, i) || cl_cache_has(f->fs->cache, &e->id) ||
		    fetch_busy(f->fs, &e->id))
			continue;
		j = xcalloc(1, sizeof(*j));
		j->f = f;
		j->e = *e;
		f->prefetching++;
		f->ahead_end = i + 1;
		atomic_fetch_add(&f->fs->nahead, 1);
		job_push(f->fs, j);
	}
}

/* Notes a read of [off, end) (f->mu held): a sequential reader gets the
 * next blocks prefetched. The kernel reads ahead with several requests at
 * once, so they may arrive a little out of order: near the last end counts
 * as sequential. */
static void read_track(struct cl_file *f, uint64_t off, uint64_t end)
{
	if (off == 0 || (off + f->bs >= f->seq_next && off <= f->seq_next + f->bs))
		file_readahead(f, (end + f->bs - 1) / f->bs);
	if (end > f->seq_next || off + f->bs < f->seq_next)
		f->seq_next = end;
}

int cl_file_read(struct cl_file *f, uint64_t off, size_t len, void *buf, size_t *got)
{
	uint8_t *out = buf;
	uint64_t end, pos;
	int rc = 0;

	*got = 0;
	pthread_mutex_lock(&f->mu);
	if (off >= f->size)
		goto out;
	end = off + len > f->size ? f->size : off + len;
	if (!f->is_map_valid && (rc = cl_file_map_load(f)) != 0)
		goto out;
	for (pos = off; pos < end;) {
		uint64_t index = pos / f->bs;
		uint32_t boff = pos % f->bs;
		uint32_t n = f->bs - boff;
		struct cl_dirty *d;
		const struct cl_bent *e;

		if (n > end - pos)
			n = end - pos;
		d = cl_file_dirty_find(f, index);
		if (d) {
			cl_file_dirty_fill(d, boff + n);
			memcpy(out + (pos - off), d->buf + boff, n);
		} else if (!(e = cl_file_map_find(f, index))) {
			memset(out + (pos - off), 0, n);
		} else {
			struct cl_bent copy = *e;

			rc = block_read(f, &copy, boff, n, out + (pos - off), 0);
			if (rc)
				goto out;
			/* The size may have shrunk while the lock was dropped. */
			if (end > f->size)
				end = f->size > pos ? f->size : pos;
		}
		pos += n;
	}
	*got = end > off ? end - off : 0;
	read_track(f, off, end);
out:
	pthread_mutex_unlock(&f->mu);
	return rc;
}

/* Waits until nobody fetches block id; whether there was a fetch. */
static int fetch_wait(struct cl_files *fs, const struct blk_id *id)
{
	int waited;

	pthread_mutex_lock(&fs->fetch_mu);
	waited = fetch_wait_locked(fs, id);
	pthread_mutex_unlock(&fs->fetch_mu);
	return waited;
}

int cl_file_read_pinned(struct cl_file *f, uint64_t off, size_t len, const void **p,
			size_t *got, void **pin)
{
	const struct cl_bent *e = NULL;
	struct blk_id id;
	uint64_t index, end;
	const uint8_t *at;
	uint32_t n = 0;

	*pin = NULL;
	for (int attempt = 0; attempt < 2; attempt++) {
		pthread_mutex_lock(&f->mu);
		index = off / f->bs;
		end = off + len > f->size ? f->size : off + len;
		/* One stored block, not buffered here, whole in the cache;
		 * anything else (holes, short blocks, several blocks) takes
		 * the copying path. */
		e = NULL;
		if (off < end && f->is_map_valid && (end - 1) / f->bs == index &&
		    !cl_file_dirty_find(f, index) && (e = cl_file_map_find(f, index)) != NULL)
			*pin = cl_cache_pin(f->fs->cache, &e->id, (uint32_t)(off % f->bs),
					    (uint32_t)(end - off), &at, &n);
		if (*pin && n < end - off) {
			cl_cache_unpin(f->fs->cache, *pin);
			*pin = NULL;
		}
		if (*pin || !e || attempt)
			break;
		/* A reader that caught up with read-ahead waits for that
		 * fetch, then takes the block from the cache. */
		id = e->id;
		pthread_mutex_unlock(&f->mu);
		if (!fetch_wait(f->fs, &id))
			return -EAGAIN;
	}
	if (*pin) {
		*p = at;
		*got = n;
		read_track(f, off, end);
	}
	pthread_mutex_unlock(&f->mu);
	return *pin ? 0 : -EAGAIN;
}

void cl_file_read_done(struct cl_files *fs, void *pin)
{
	cl_cache_unpin(fs->cache, pin);
}

/* Whether one more buffer for f would pass the mount's write budget. A
 * random writer keeps every block it touched buffered up to that budget,
 * so re-writing a block costs a memcpy, not a block read and a chain
 * write; past it, the writer's own buffers leave (each writer pays for its
 * own pressure, and a file nobody writes keeps its few buffers). */
static int write_cache_full(const struct cl_file *f)
{
	uint64_t used = __atomic_load_n(&f->fs->dirty_bytes, __ATOMIC_RELAXED);

	return used + f->bs > f->fs->write_cache;
}

/* Pushes out every buffered block that is not leaving yet (f->mu held). */
static void upload_all(struct cl_file *f)
{
	for (struct cl_dirty *d = f->dirty; d; d = d->next)
		if (!d->is_uploading)
			upload_start(f, d);
}

/* A buffer for block index holding its current content (f->mu held).
 * A block not in the map (a new file's, or past the end) starts with
 * nothing set: a small file's write then costs its own bytes, not the
 * zeroing of a whole block (and, in a fresh process, faulting in its
 * pages: untar of /usr/include into a new cluster ran at half speed). */
int cl_file_dirty_new(struct cl_file *f, uint64_t index, int is_full, struct cl_dirty **out)
{
	struct cl_dirty *d = xcalloc(1, sizeof(*d));
	const struct cl_bent *e;
	int rc;

	d->index = index;
	d->buf = xmalloc(f->bs);
	if (!is_full) {
		if (!f->is_map_valid && (rc = cl_file_map_load(f)) != 0)
			goto fail;
		e = cl_file_map_find(f, index);
		if (e) {
			struct cl_bent copy = *e;

			rc = block_read(f, &copy, 0, f->bs, d->buf, 1);
			if (rc)
				goto fail;
			d->init = f->bs;
		}
		/* Bytes past the end of file read as zeros, whatever the old
		 * block held there (a truncate shortened it). */
		if (f->size < (index + 1) * f->bs) {
			uint32_t keep = cl_file_block_len(f->size, f->bs, index);

			if (d->init > keep)
				d->init = keep;
		}
	}
	d->next = f->dirty;
	f->dirty = d;
	f->ndirty++;
	__atomic_add_fetch(&f->fs->dirty_bytes, f->bs, __ATOMIC_RELAXED);
	*out = d;
	return 0;
fail:
	free(d->buf);
	d->buf = NULL;
	free(d);
	return rc;
}

void cl_file_dirty_fill(struct cl_dirty *d, uint32_t upto)
{
	if (upto > d->init) {
		memset(d->buf + d->init, 0, upto - d->init);
		d->init = upto;
	}
}

static int fill_mem(void *arg, void *dst, size_t n)
{
	const uint8_t **in = arg;

	memcpy(dst, *in, n);
	*in += n;
	return 0;
}

int cl_file_write(struct cl_file *f, uint64_t off, const void *buf, size_t len)
{
	const uint8_t *in = buf;
	struct cl_src src = { fill_mem, &in };

	return cl_file_write_src(f, off, len, &src);
}

int cl_file_write_src(struct cl_file *f, uint64_t off, size_t len, const struct cl_src *src)
{
	int rc = 0;

	pthread_mutex_lock(&f->mu);
	while (len > 0) {
		uint64_t index = off / f->bs;
		uint32_t boff = off % f->bs;
		uint32_t n = f->bs - boff;
		struct cl_dirty *d;
		int is_fresh = 0;

		if (n > len)
			n = len;
		for (;;) {
			d = cl_file_dirty_find(f, index);
			if (!d || !d->is_uploading)
				break;
			pthread_cond_wait(&f->cond, &f->mu);
		}
		if (!d) {
			if (f->ndirty > (size_t)f->inflight && write_cache_full(f))
				upload_all(f);
			while (f->inflight >= CL_INFLIGHT_MAX)
				pthread_cond_wait(&f->cond, &f->mu);
			/* Waiting may have let another writer create it. */
			d = cl_file_dirty_find(f, index);
			if (d && d->is_uploading)
				continue;
			if (!d) {
				is_fresh = boff == 0 && n == f->bs;
				rc = cl_file_dirty_new(f, index, is_fresh, &d);
				if (rc)
					break;
			}
		}
		cl_file_dirty_fill(d, boff);
		rc = src->fill(src->arg, d->buf + boff, n);
		if (rc) {
			/* A buffer made for a whole-block write holds none of the
			 * block's old bytes: it must not stand for the block.
			 * Any other keeps what was filled, as after a short write
			 * (bytes past d->init are never read). */
			if (is_fresh) {
				f->dirty = d->next;	/* d was pushed first; f->mu held since */
				f->ndirty--;
				dirty_free(f, d);
				d = NULL;
			}
			break;
		}
		if (boff + n > d->init)
			d->init = boff + n;
		if (boff <= d->cov && boff + n > d->cov)
			d->cov = boff + n;
		if (off + n > f->size)
			f->size = off + n;
		f->need_commit = 1;
		if (d->cov == f->bs)
			upload_start(f, d);
		off += n;
		len -= n;
	}
	pthread_mutex_unlock(&f->mu);
	return rc;
}

int cl_file_commit(struct cl_file *f, struct cl_bent *v, size_t n, uint64_t size,
		       uint32_t flags, struct casfs_attr *a)
{
	struct proto_wbuf req, rep;
	struct proto_rbuf r;
	struct casfs_time now;
	struct timespec ts;
	size_t at, at2;
	int rc;

	clock_gettime(CLOCK_REALTIME, &ts);
	now.sec = (uint64_t)ts.tv_sec;
	now.nsec = (uint32_t)ts.tv_nsec;
	proto_wbuf_init(&req);
	proto_wbuf_init(&rep);
	proto_frame_begin(&req, MSG_COMMIT, 0, 0);
	proto_put_u64(&req, f->ino);
	proto_put_u64(&req, size);
	proto_put_time(&req, &now);
	proto_put_u32(&req, flags);
	at = proto_put_array_begin(&req);
	for (size_t i = 0; i < n; i++) {
		proto_put_u64(&req, v[i].index);
		proto_put_blkid(&req, &v[i].id);
		proto_put_u32(&req, v[i].len);
		at2 = proto_put_array_begin(&req);
		for (uint32_t k = 0; k < v[i].nsrv; k++)
			proto_put_u32(&req, v[i].srv[k]);
		proto_put_array_end(&req, at2, v[i].nsrv);
	}
	proto_put_array_end(&req, at, (uint32_t)n);
	rc = cl_meta_call(f->fs->meta, &req, &rep);
	if (!rc) {
		proto_rbuf_init(&r, rep.data, rep.len);
		proto_get_attr(&r, a);
		if (proto_get_end(&r))
			rc = -EPROTO;
	}
	proto_wbuf_free(&req);
	proto_wbuf_free(&rep);
	return rc;
}

/* The flush itself; the caller holds f->flush_mu. */
int cl_file_flush_locked(struct cl_file *f)
{
	struct cl_bent *done = NULL;
	struct casfs_attr a;
	size_t ndone = 0;
	uint64_t size;
	int rc = 0, need;

	pthread_mutex_lock(&f->mu);
	upload_all(f);
	while (f->inflight > 0)
		pthread_cond_wait(&f->cond, &f->mu);
	rc = f->err;
	f->err = 0;
	if (rc) {
		/* Commit nothing, so no other client sees a size whose data is
		 * missing; the buffers stay for the next attempt. */
		pthread_mutex_unlock(&f->mu);
		return rc;
	}
	need = f->need_commit;
	f->need_commit = 0;
	done = f->done;
	ndone = f->ndone;
	f->done = NULL;
	f->ndone = f->capdone = 0;
	size = f->size;
	pthread_mutex_unlock(&f->mu);
	for (size_t at = 0; need || at < ndone;) {
		size_t n = ndone - at > CL_COMMIT_BATCH ? CL_COMMIT_BATCH : ndone - at;
		int crc = cl_file_commit(f, done + at, n, size, 0, &a);

		need = 0;
		pthread_mutex_lock(&f->mu);
		if (crc) {
			log_error("COMMIT of inode %llu failed: %s", (unsigned long long)f->ino,
				  strerror(-crc));
			/* Keep the references for the next flush to retry. */
			for (size_t i = at; i < ndone; i++)
				cl_file_bent_append(&f->done, &f->ndone, &f->capdone, &done[i]);
			f->need_commit = 1;
			rc = crc == -ENOENT || crc == -ESTALE ? crc : -EIO;
			pthread_mutex_unlock(&f->mu);
			break;
		}
		for (size_t i = at; i < at + n; i++)
			cl_file_bent_append(&f->unsynced, &f->nunsynced, &f->capunsynced, &done[i]);
		f->mtime = a.mtime;
		if (!f->need_commit && !f->ndirty && a.size > f->size)
			f->size = a.size;
		pthread_mutex_unlock(&f->mu);
		at += n;
	}
	free(done);
	done = NULL;
	return rc;
}

int cl_file_flush(struct cl_file *f)
{
	int rc;

	pthread_mutex_lock(&f->flush_mu);
	rc = cl_file_flush_locked(f);
	pthread_mutex_unlock(&f->flush_mu);
	return rc;
}

static size_t sid_index(const uint32_t *sids, size_t n, uint32_t sid)
{
	size_t i = 0;

	while (i < n && sids[i] != sid)
		i++;
	return i;
}

struct cl_sync {
	struct cl_files *fs;
	uint32_t sid;
	struct blk_id *ids;
	uint32_t nids;
	int rc;
	int has_thread;
	pthread_t th;
};

static void *sync_run(void *arg)
{
	struct cl_sync *j = arg;
	char addr[CL_ADDR_MAX];

	j->rc = servers_addr(j->fs, j->sid, addr);
	if (!j->rc)
		j->rc = cl_chunk_sync(j->fs->chunk, addr, j->ids, j->nids);
	if (j->rc)
		log_warn("BLK_SYNC of %u blocks on server %u: %s", j->nids, j->sid,
			 strerror(-j->rc));
	return NULL;
}

/* Runs j[0..n), up to CL_SYNC_PAR at once: an fsync waits for its slowest
 * server, not for the sum of them (each is a disk flush on its own host).
 * The last of each wave runs on the calling thread; a thread that cannot
 * be started runs there too. */
static void sync_run_all(struct cl_sync *j, size_t n)
{
	for (size_t at = 0; at < n; at += CL_SYNC_PAR) {
		size_t end = n - at > CL_SYNC_PAR ? at + CL_SYNC_PAR : n;

		for (size_t s = at; s + 1 < end; s++)
			j[s].has_thread = !pthread_create(&j[s].th, NULL, sync_run, &j[s]);
		sync_run(&j[end - 1]);
		for (size_t s = at; s + 1 < end; s++) {
			if (j[s].has_thread)
				pthread_join(j[s].th, NULL);
			else
				sync_run(&j[s]);
		}
	}
}

/* Has every server that stored blocks of v[0..n) sync them to disk, one
 * BLK_SYNC per server naming its blocks, the servers in parallel. A block
 * is durable once any of its copies is: a server that died after storing
 * its copies leaves those blocks under goal, which metad repairs, and the
 * fsync holds as long as each block has a synced copy elsewhere. -EIO when
 * one has none. */
static int sync_servers(struct cl_files *fs, uint64_t ino, const struct cl_bent *v, size_t n)
{
	struct cl_sync *jobs;
	uint32_t *sids = NULL;
	size_t nsids = 0, cap = 0;
	int rc = 0;

	for (size_t i = 0; i < n; i++)
		for (uint32_t k = 0; k < v[i].nsrv; k++) {
			if (sid_index(sids, nsids, v[i].srv[k]) < nsids)
				continue;
			if (nsids == cap) {
				cap = cap ? 2 * cap : 8;
				sids = xrealloc(sids, cap * sizeof(*sids));
			}
			sids[nsids++] = v[i].srv[k];
		}
	jobs = xcalloc(nsids ? nsids : 1, sizeof(*jobs));
	for (size_t s = 0; s < nsids; s++) {
		jobs[s].fs = fs;
		jobs[s].sid = sids[s];
		jobs[s].ids = xmalloc(n * sizeof(*jobs[s].ids));
		for (size_t i = 0; i < n; i++)
			if (sid_index(v[i].srv, v[i].nsrv, sids[s]) < v[i].nsrv)
				jobs[s].ids[jobs[s].nids++] = v[i].id;
	}
	sync_run_all(jobs, nsids);
	for (size_t i = 0; i < n && !rc; i++) {
		int has_copy = v[i].nsrv == 0;

		for (uint32_t k = 0; k < v[i].nsrv; k++)
			has_copy |= !jobs[sid_index(sids, nsids, v[i].srv[k])].rc;
		if (!has_copy) {
			char hex[BLK_ID_HEX_LEN + 1];

			blk_id_format(&v[i].id, hex);
			log_error("fsync of inode %llu: no copy of block %s could be synced",
				  (unsigned long long)ino, hex);
			rc = -EIO;
		}
	}
	for (size_t s = 0; s < nsids; s++) {
		free(jobs[s].ids);
		jobs[s].ids = NULL;
	}
	free(jobs);
	jobs = NULL;
	free(sids);
	sids = NULL;
	return rc;
}

int cl_file_fsync(struct cl_file *f)
{
	struct cl_files *fs = f->fs;
	struct cl_bent *v;
	size_t n;
	int rc;

	rc = cl_file_flush(f);
	if (rc)
		return rc;
	pthread_mutex_lock(&f->mu);
	v = f->unsynced;
	n = f->nunsynced;
	f->unsynced = NULL;
	f->nunsynced = f->capunsynced = 0;
	pthread_mutex_unlock(&f->mu);
	rc = sync_servers(fs, f->ino, v, n);
	if (rc) {
		/* A later fsync tries them again: it must not succeed
		 * without them (one that failed says nothing is lost yet). */
		pthread_mutex_lock(&f->mu);
		for (size_t i = 0; i < n; i++)
			cl_file_bent_append(&f->unsynced, &f->nunsynced, &f->capunsynced, &v[i]);
		pthread_mutex_unlock(&f->mu);
	}
	free(v);
	v = NULL;
	if (!rc)
		rc = cl_ns_fsync(fs->meta, f->ino);
	return rc;
}

