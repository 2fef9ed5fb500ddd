/* meta_cs: the chunk-server registry, placement, and the background work
 * that keeps blocks at their goal: repair (fewest copies first, at most
 * repair_per_server copies in flight per source or target), trimming of
 * extra copies, draining, and garbage collection after the grace period.
 * Data never passes through metad: it tells a target server to fetch a block
 * from a holder (CS_REPLICATE) and a holder to drop copies (CS_DELETE).
 * Replica locations are soft state rebuilt from inventories. Owned by the
 * event-loop thread. */
#include "metad/meta_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/msg.h"
#include "fs/xmalloc.h"
#include "metad/meta_blk.h"

/* A whole block-table pass per tick up to this many slots, then the rest on
 * later ticks, so a huge table never stalls the loop (≈ 5 ms per pass). */
#define META_SCAN_SLOTS (1u << 18)
/* A CS_REPLICATE unanswered this long counts as failed, so one stuck copy
 * cannot hold a block's repair and the servers' rate limit forever (an
 * 8 MiB block takes well under a second on any working link). */
#define META_REPLICATE_TIMEOUT_MS 60000
/* BMAP answers at most this many blocks per call (≈ 1 MiB reply). */
#define META_BMAP_MAX 16384u

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng_next(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

struct meta_cs *meta_cs_find(struct meta_srv *srv, uint32_t id)
{
	for (uint32_t i = 0; i < srv->ncs; i++)
		if (srv->cs[i]->id == id)
			return srv->cs[i];
	return NULL;
}

static int cs_live(const struct meta_cs *cs)
{
	return cs && cs->is_up;
}

/* Whether new copies may go to cs. */
static int cs_usable(const struct meta_cs *cs)
{
	return cs && cs->is_up && cs->conn && !cs->is_draining &&
	       !(cs->flags & (MSG_CS_FULL | MSG_CS_DISK_FAILED)) && cs->free > 0;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Free space is only a claim: one server saying it has a petabyte free
 * must not attract every new copy and every repair (a lying or broken
 * server would then collect the cluster's blocks). No server weighs more
 * than twice the lower median of the usable servers' free space; the cap
 * is recomputed every tick and on every registration. */
static void update_weight_cap(struct meta_srv *srv)
{
	uint64_t *w = xmalloc((srv->ncs + 1) * sizeof(*w));
	uint32_t n = 0;

	for (uint32_t i = 0; i < srv->ncs; i++)
		if (cs_usable(srv->cs[i]))
			w[n++] = (srv->cs[i]->free >> 20) + 1;
	if (n) {
		qsort(w, n, sizeof(*w), u64_cmp);
		srv->weight_cap = 2 * w[(n - 1) / 2];
	} else {
		srv->weight_cap = UINT64_MAX;
	}
	free(w);
}

/* A server's weight in MiB (so sums cannot overflow), capped. */
static uint64_t cs_weight(const struct meta_srv *srv, const struct meta_cs *cs)
{
	uint64_t w = (cs->free >> 20) + 1;

	return srv->weight_cap && w > srv->weight_cap ? srv->weight_cap : w;
}

static void cs_forget_locs(struct meta_srv *srv, struct meta_cs *cs)
{
	struct meta_blk_table *t = meta_ns_blocks(srv->ns);

	for (uint32_t i = 0; i < t->h.cap; i++) {
		struct meta_block *b = t->h.slots[i];

		if (b)
			meta_blk_loc_del(b, cs->id);
	}
	cs->nloc = 0;
}

struct meta_pdel {
	struct blk_id id;
	uint32_t count;
};

static uint64_t pdel_hash(const void *e)
{
	return blk_id_hash64(&((const struct meta_pdel *)e)->id);
}

static int pdel_match(const void *e, const void *key)
{
	return blk_id_equal(&((const struct meta_pdel *)e)->id, key);
}

static struct meta_pdel *pdel_find(const struct meta_cs *cs, const struct blk_id *id)
{
	return meta_htab_find(&cs->pending_dels, blk_id_hash64(id), pdel_match, id);
}

static void pdel_add(struct meta_cs *cs, const struct blk_id *id)
{
	struct meta_pdel *p = pdel_find(cs, id);

	if (!p) {
		p = xcalloc(1, sizeof(*p));
		p->id = *id;
		meta_htab_insert(&cs->pending_dels, p);
	}
	p->count++;
}

static void pdel_done(struct meta_cs *cs, const struct blk_id *id)
{
	struct meta_pdel *p = pdel_find(cs, id);

	if (p && --p->count == 0) {
		meta_htab_remove(&cs->pending_dels, p);
		free(p);
	}
}

static void pdel_clear(struct meta_cs *cs)
{
	for (uint32_t i = 0; i < cs->pending_dels.cap; i++)
		free(cs->pending_dels.slots[i]);
	meta_htab_free(&cs->pending_dels);
}

static void cs_add_block(struct meta_srv *srv, struct meta_cs *cs, const struct blk_id *id,
			 uint32_t len)
{
	struct meta_block *b;

	if (blk_id_is_null(id) || pdel_find(cs, id))
		return;
	b = meta_blk_get(meta_ns_blocks(srv->ns), id, len);
	if (meta_blk_loc_add(b, cs->id))
		cs->nloc++;
}

/* A chunk server's space figures are claims: clamp the impossible ones
 * (free or used above total, totals no disk has) so placement, statfs and
 * `chunkserver list` never use them, with one log line when a server starts
 * claiming them. */
static void cs_set_space(struct meta_cs *cs, uint64_t total, uint64_t fr, uint64_t used,
			 int has_used)
{
	uint64_t t = total < META_CS_TOTAL_MAX ? total : META_CS_TOTAL_MAX;
	uint64_t f = fr < t ? fr : t;
	uint64_t u = has_used ? used : t - f;
	int bad = t != total || f != fr;

	if (u > t - f)
		u = t - f, bad = 1;
	if (bad && !cs->is_space_clamped)
		log_warn("chunk server %u (%s) claims impossible space (total %llu, free %llu, used "
			 "%llu): clamped", cs->id, cs->addr, (unsigned long long)total,
			 (unsigned long long)fr, (unsigned long long)used);
	cs->is_space_clamped = bad;
	cs->total = t;
	cs->free = f;
	cs->used = u;
}

static int do_register(struct meta_conn *conn, struct proto_rbuf *r, struct proto_wbuf *out)
{
	struct meta_srv *srv = conn->srv;
	char addr[PROTO_STR_MAX + 1], label[PROTO_STR_MAX + 1];
	struct meta_cs *cs;
	uint64_t total, fr;
	uint32_t id, n;
	struct casfs_time now;

	proto_get_u32(r, &id);
	proto_get_str(r, addr, sizeof(addr));
	proto_get_u64(r, &total);
	proto_get_u64(r, &fr);
	if (conn->cs)
		return -EALREADY;
	if (strlen(addr) >= sizeof(cs->addr))
		return -ENAMETOOLONG;
	/* Only ids this metad issued: a chunkd keeps its id beside the
	 * cluster uuid, and a new id is durable before it is handed out (the
	 * reply waits for the fsync), so an unknown id is a forgery or a
	 * folder from elsewhere. */
	if (id && id >= srv->next_cs_id) {
		log_warn("%s: CS_REGISTER with id %u, which this metad never issued: refused",
			 conn->peer, id);
		return -ENOENT;
	}
	cs = id ? meta_cs_find(srv, id) : NULL;
	if (cs && cs->conn)
		return -EEXIST;
	meta_now(&now);
	if (!id) {
		struct proto_wbuf rec;

		/* Never 0 (it means "assign one"), never wrapped. */
		if (srv->next_cs_id == 0 || srv->next_cs_id >= META_CS_ID_MAX) {
			log_error("%s: no chunk-server id left to issue", conn->peer);
			return -ENOSPC;
		}
		id = srv->next_cs_id++;
		proto_wbuf_init(&rec);
		proto_put_u32(&rec, srv->next_cs_id);
		srv->cs_id_seq = meta_srv_log(srv, META_REC_CS_ID, 0, 0, &now, rec.data,
					      (uint32_t)rec.len);
		proto_wbuf_free(&rec);
	}
	if (!cs) {
		cs = xcalloc(1, sizeof(*cs));
		cs->id = id;
		meta_htab_init(&cs->pending_dels, pdel_hash);
		srv->cs = xrealloc(srv->cs, (srv->ncs + 1) * sizeof(*srv->cs));
		srv->cs[srv->ncs++] = cs;
	} else {
		/* Its inventory follows and is the whole truth. */
		cs_forget_locs(srv, cs);
	}
	for (uint32_t i = 0; i < cs->nlabels; i++)
		free(cs->labels[i]);
	free(cs->labels), cs->labels = NULL;
	cs->nlabels = 0;
	proto_get_count(r, 2, &n);
	for (uint32_t i = 0; i < n && !r->err; i++) {
		proto_get_str(r, label, sizeof(label));
		cs->labels = xrealloc(cs->labels, (cs->nlabels + 1) * sizeof(char *));
		cs->labels[cs->nlabels++] = xstrdup(label);
	}
	memcpy(cs->addr, addr, strlen(addr) + 1);
	cs_set_space(cs, total, fr, 0, 0);
	cs->is_up = 1;
	cs->has_inventory = 0;
	cs->flags = 0;
	cs->last_ms = meta_now_ms();
	cs->conn = conn;
	conn->cs = cs;
	proto_put_u32(out, id);
	update_weight_cap(srv);
	log_info("chunk server %u registered at %s (%llu bytes free)", id, addr,
		 (unsigned long long)cs->free);
	return 0;
}

int meta_cs_handle(struct meta_conn *conn, uint16_t type, uint64_t reqid,
		   const uint8_t *payload, size_t len, struct proto_wbuf *out)
{
	struct meta_srv *srv = conn->srv;
	struct meta_cs *cs = conn->cs;
	struct proto_rbuf r;
	struct blk_id id;
	uint32_t n, blen;
	uint8_t last;

	(void)reqid;
	proto_rbuf_init(&r, payload, len);
	if (type == MSG_CS_REGISTER)
		return do_register(conn, &r, out);
	if (!cs)
		return type >= MSG_CS_REGISTER && type <= MSG_CS_BAD ? -ENOTCONN : -EPROTO;
	cs->last_ms = meta_now_ms();
	meta_blk_table_now(srv);
	switch (type) {
	case MSG_CS_INVENTORY:
	case MSG_CS_ADDED: {
		uint32_t nbad = 0;

		last = 0;
		if (type == MSG_CS_INVENTORY)
			proto_get_u8(&r, &last);
		proto_get_count(&r, BLK_ID_SIZE + 4, &n);
		for (uint32_t i = 0; i < n && !r.err; i++) {
			proto_get_blkid(&r, &id);
			proto_get_u32(&r, &blen);
			if (blen > META_BLK_MAX_LEN)
				nbad++;
			else
				cs_add_block(srv, cs, &id, blen);
		}
		if (nbad)
			log_warn("chunk server %u (%s) listed %u blocks longer than %u bytes: ignored",
				 cs->id, cs->addr, nbad, META_BLK_MAX_LEN);
		if (last)
			cs->has_inventory = 1;
		return 0;
	}
	case MSG_CS_HEARTBEAT: {
		uint64_t total, fr, used;

		proto_get_u64(&r, &total);
		proto_get_u64(&r, &fr);
		proto_get_u64(&r, &used);
		proto_get_u64(&r, &cs->blocks);
		proto_get_u32(&r, &cs->load);
		proto_get_u32(&r, &cs->flags);
		cs_set_space(cs, total, fr, used, 1);
		return 0;
	}
	case MSG_CS_BAD: {
		struct meta_block *b;

		proto_get_blkid(&r, &id);
		b = meta_blk_find(meta_ns_blocks(srv->ns), &id);
		if (b && meta_blk_loc_del(b, cs->id))
			cs->nloc--;
		return 0;
	}
	default:
		return -EPROTO;
	}
}

void meta_cs_reply(struct meta_conn *conn, struct meta_out_req *req, int32_t status)
{
	struct meta_srv *srv = conn->srv;
	struct meta_cs *target = meta_cs_find(srv, req->target);
	struct meta_cs *source = meta_cs_find(srv, req->source);
	struct meta_block *b;

	if (req->type == MSG_CS_DELETE) {
		for (uint32_t i = 0; target && i < req->nids; i++)
			pdel_done(target, &req->ids[i]);
		free(req->ids), req->ids = NULL;
		return;
	}
	if (req->type != MSG_CS_REPLICATE)
		return;
	if (target && target->inflight)
		target->inflight--;
	if (source && source->inflight)
		source->inflight--;
	b = meta_blk_find(meta_ns_blocks(srv->ns), &req->id);
	if (!b)
		return;
	b->flags &= (uint8_t)~META_BLK_REPAIRING;
	/* The target fetched the bytes and checked them against the id. */
	if (status == 0 && target && meta_blk_loc_verify(b, target->id))
		target->nloc++;
	if (status)
		log_info("replication to server %u failed: %s", req->target, strerror(-status));
}

void meta_cs_conn_lost(struct meta_conn *conn)
{
	struct meta_out_req *r;

	for (r = conn->outs; r; r = r->next)
		meta_cs_reply(conn, r, -ECONNRESET);
	if (conn->cs) {
		conn->cs->conn = NULL;
		conn->cs = NULL;
	}
}

/* ---- BMAP, PLACE, COMMIT locations ---- */

struct cs_set {
	uint32_t ids[64];
	uint32_t n;
};

static void set_add(struct cs_set *s, uint32_t id)
{
	for (uint32_t i = 0; i < s->n; i++)
		if (s->ids[i] == id)
			return;
	if (s->n < 64)
		s->ids[s->n++] = id;
}

static void put_addrs(struct meta_srv *srv, const struct cs_set *s, struct proto_wbuf *out)
{
	proto_put_u32(out, s->n);
	for (uint32_t i = 0; i < s->n; i++) {
		struct meta_cs *cs = meta_cs_find(srv, s->ids[i]);

		proto_put_u32(out, s->ids[i]);
		proto_put_str(out, cs ? cs->addr : "");
	}
}

int meta_cs_bmap(struct meta_srv *srv, const uint8_t *payload, size_t len, struct proto_wbuf *out)
{
	struct meta_blk_table *t = meta_ns_blocks(srv->ns);
	struct cs_set set = { .n = 0 };
	struct casfs_attr a;
	struct proto_rbuf r;
	uint64_t ino, first, maplen;
	uint32_t count, n = 0;
	size_t at;
	int rc;

	proto_rbuf_init(&r, payload, len);
	proto_get_u64(&r, &ino);
	proto_get_u64(&r, &first);
	proto_get_u32(&r, &count);
	rc = meta_ns_getattr(srv->ns, ino, &a);
	if (rc)
		return rc;
	if (S_ISDIR(a.mode))
		return -EISDIR;
	if (!S_ISREG(a.mode))
		return -EINVAL;
	proto_put_attr(out, &a);
	at = proto_put_array_begin(out);
	maplen = meta_ns_map_len(srv->ns, ino);
	if (count > META_BMAP_MAX)
		count = META_BMAP_MAX;
	for (uint64_t i = first; i < maplen && i - first < count; i++) {
		struct meta_block *b;
		struct blk_id id;
		size_t lat;
		uint32_t nl = 0;

		meta_ns_block_at(srv->ns, ino, i, &id);
		if (blk_id_is_null(&id))
			continue;
		b = meta_blk_find(t, &id);
		proto_put_u64(out, i);
		proto_put_blkid(out, &id);
		proto_put_u32(out, b ? b->length : 0);
		lat = proto_put_array_begin(out);
		for (unsigned k = 0; b && k < b->nloc; k++) {
			struct meta_cs *cs = meta_cs_find(srv, b->locs[k]);

			if (!cs_live(cs))
				continue;
			proto_put_u32(out, cs->id);
			set_add(&set, cs->id);
			nl++;
		}
		proto_put_array_end(out, lat, nl);
		n++;
	}
	proto_put_array_end(out, at, n);
	put_addrs(srv, &set, out);
	return 0;
}

/* Picks a usable server not in chain[0..n), weighted by (capped) free
 * space so equal servers share the load; NULL if there is none. */
static struct meta_cs *pick_server(struct meta_srv *srv, const uint32_t *chain, uint32_t n,
				   uint32_t need, int limit_inflight, const struct blk_id *id)
{
	uint64_t total = 0, x = 0;

	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < srv->ncs; i++) {
			struct meta_cs *cs = srv->cs[i];
			int taken = 0;

			if (!cs_usable(cs) || cs->free < need)
				continue;
			if (limit_inflight && cs->inflight >= srv->conf.repair_per_server)
				continue;
			/* It is about to delete this very block: a copy stored
			 * there now could vanish under the delete. */
			if (pdel_find(cs, id))
				continue;
			for (uint32_t k = 0; k < n; k++)
				taken |= chain[k] == cs->id;
			if (taken)
				continue;
			if (pass == 0) {
				total += cs_weight(srv, cs);
			} else {
				uint64_t w = cs_weight(srv, cs);

				if (x < w)
					return cs;
				x -= w;
			}
		}
		if (!total)
			return NULL;
		x = rng_next() % total;
	}
	return NULL;
}

/* No server can take a block. Right after a restart that is usually
 * because the chunk servers have not registered again yet (a mount
 * reconnects within 50 ms, they retry every 100 ms or more): until a
 * server that was alive before would have been declared dead, the client
 * is told to try again (-EAGAIN, retried for up to a minute) rather than
 * that the cluster is full, which would fail its close(). */
static int place_none(const struct meta_srv *srv)
{
	if (srv->next_cs_id > 1 &&
	    meta_now_ms() - srv->started_ms < (int64_t)srv->conf.cs_dead_timeout_ms)
		return -EAGAIN;
	return -ENOSPC;
}

int meta_cs_place(struct meta_srv *srv, const uint8_t *payload, size_t len, struct proto_wbuf *out)
{
	struct meta_blk_table *t = meta_ns_blocks(srv->ns);
	struct cs_set set = { .n = 0 };
	struct casfs_attr a;
	struct proto_rbuf r;
	uint64_t ino;
	uint32_t n;
	int rc;

	proto_rbuf_init(&r, payload, len);
	proto_get_u64(&r, &ino);
	proto_get_count(&r, BLK_ID_SIZE + 4, &n);
	rc = meta_ns_getattr(srv->ns, ino, &a);
	if (rc)
		return rc;
	if (!S_ISREG(a.mode))
		return S_ISDIR(a.mode) ? -EISDIR : -EINVAL;
	proto_put_u32(out, n);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t chain[16], cn = 0, goal = a.goal ? a.goal : 1, blen;
		struct meta_block *b;
		struct blk_id id;

		proto_get_blkid(&r, &id);
		proto_get_u32(&r, &blen);
		/* COMMIT and every chunkd refuse it: do not place it either. */
		if (blen > META_BLK_MAX_LEN)
			return -EINVAL;
		if (goal > 16)
			goal = 16;
		b = meta_blk_find(t, &id);
		/* A client is about to reference it again: restart its GC grace
		 * so its copies are not deleted before the COMMIT arrives. */
		if (b && !b->refs)
			b->zero_since_ms = meta_now_ms();
		for (unsigned k = 0; b && k < b->nloc && cn < goal; k++) {
			struct meta_cs *cs = meta_cs_find(srv, b->locs[k]);

			if (cs_usable(cs))
				chain[cn++] = cs->id;
		}
		while (cn < goal) {
			struct meta_cs *cs = pick_server(srv, chain, cn, blen, 0, &id);

			if (!cs)
				break;
			chain[cn++] = cs->id;
		}
		if (!cn)
			return place_none(srv);
		proto_put_u32(out, cn);
		for (uint32_t k = 0; k < cn; k++) {
			proto_put_u32(out, chain[k]);
			set_add(&set, chain[k]);
		}
	}
	put_addrs(srv, &set, out);
	return 0;
}

void meta_cs_commit_locs(struct meta_srv *srv, const uint8_t *payload, size_t len)
{
	struct meta_blk_table *t = meta_ns_blocks(srv->ns);
	struct casfs_time mt;
	struct proto_rbuf r;
	uint64_t u64;
	uint32_t flags, n, nl, cs_id, blen;
	struct blk_id id;

	proto_rbuf_init(&r, payload, len);
	proto_get_u64(&r, &u64);
	proto_get_u64(&r, &u64);
	proto_get_time(&r, &mt);
	proto_get_u32(&r, &flags);
	proto_get_count(&r, 8 + BLK_ID_SIZE + 8, &n);
	for (uint32_t i = 0; i < n && !r.err; i++) {
		struct meta_block *b;

		proto_get_u64(&r, &u64);
		proto_get_blkid(&r, &id);
		proto_get_u32(&r, &blen);
		proto_get_count(&r, 4, &nl);
		b = blk_id_is_null(&id) ? NULL : meta_blk_find(t, &id);
		for (uint32_t k = 0; k < nl && !r.err; k++) {
			struct meta_cs *cs;

			proto_get_u32(&r, &cs_id);
			cs = meta_cs_find(srv, cs_id);
			/* A copy a pending CS_DELETE will remove does not count;
			 * the others acknowledged the PUT down the chain. */
			if (b && cs && !pdel_find(cs, &id) && meta_blk_loc_verify(b, cs->id))
				cs->nloc++;
		}
	}
}

int meta_cs_report_bad(struct meta_srv *srv, const uint8_t *payload, size_t len)
{
	struct proto_rbuf r;
	struct blk_id id;
	struct meta_block *b;
	struct meta_cs *cs;
	uint32_t cs_id;

	proto_rbuf_init(&r, payload, len);
	proto_get_blkid(&r, &id);
	proto_get_u32(&r, &cs_id);
	b = meta_blk_find(meta_ns_blocks(srv->ns), &id);
	cs = meta_cs_find(srv, cs_id);
	if (b && cs && meta_blk_loc_del(b, cs_id)) {
		cs->nloc--;
		log_warn("block copy on server %u reported bad; repairing", cs_id);
	}
	return 0;
}

void meta_cs_statfs(struct meta_srv *srv, struct proto_wbuf *out)
{
	uint64_t total = 0, fr = 0, files = meta_ns_inode_count(srv->ns);

	for (uint32_t i = 0; i < srv->ncs; i++) {
		if (!cs_live(srv->cs[i]) || srv->cs[i]->is_draining)
			continue;
		total += srv->cs[i]->total;
		fr += srv->cs[i]->free;
	}
	proto_put_u64(out, total);
	proto_put_u64(out, fr);
	proto_put_u64(out, fr);
	proto_put_u64(out, files);
	/* No fixed inode table: report a large, constant-ish headroom. */
	proto_put_u64(out, (1ULL << 32) - (files < (1ULL << 32) ? files : 0));
}

/* ---- scheduling: repair, trim, drain, GC ---- */

struct repair_cand {
	struct meta_block *b;
	uint32_t good;
};

static int cand_cmp(const void *a, const void *b)
{
	const struct repair_cand *x = a, *y = b;

	return (x->good > y->good) - (x->good < y->good);
}

static void queue_delete(struct meta_cs *cs, const struct blk_id *id)
{
	if (!cs || !cs->conn)
		return;
	if (cs->ndels == cs->capdels) {
		cs->capdels = cs->capdels ? cs->capdels * 2 : 64;
		cs->dels = xrealloc(cs->dels, cs->capdels * sizeof(*cs->dels));
	}
	cs->dels[cs->ndels++] = *id;
}

static void flush_deletes(struct meta_srv *srv)
{
	struct proto_wbuf w;

	proto_wbuf_init(&w);
	for (uint32_t i = 0; i < srv->ncs; i++) {
		struct meta_cs *cs = srv->cs[i];
		struct meta_out_req what = { .target = cs->id };

		if (!cs->ndels)
			continue;
		if (cs->conn) {
			/* Batches of 65,536 ids keep each frame near 1 MiB. */
			for (uint32_t at = 0; at < cs->ndels; at += 65536) {
				uint32_t n = cs->ndels - at < 65536 ? cs->ndels - at : 65536;

				proto_wbuf_reset(&w);
				proto_put_u32(&w, n);
				for (uint32_t k = 0; k < n; k++) {
					proto_put_blkid(&w, &cs->dels[at + k]);
					pdel_add(cs, &cs->dels[at + k]);
				}
				what.ids = xmalloc(n * sizeof(*what.ids));
				memcpy(what.ids, cs->dels + at, n * sizeof(*what.ids));
				what.nids = n;
				meta_conn_request(cs->conn, MSG_CS_DELETE, &w, &what);
			}
		}
		cs->ndels = 0;
	}
	proto_wbuf_free(&w);
}

static void start_repair(struct meta_srv *srv, struct meta_block *b)
{
	struct meta_cs *target, *source = NULL;
	struct meta_out_req what;
	struct proto_wbuf w;
	uint32_t chain[256], n = 0, nsrc = 0;
	size_t at;

	for (unsigned k = 0; k < b->nloc; k++) {
		struct meta_cs *cs = meta_cs_find(srv, b->locs[k]);

		chain[n++] = b->locs[k];
		if (cs && cs->is_up && cs->conn && !source &&
		    cs->inflight < srv->conf.repair_per_server)
			source = cs;
	}
	if (!source)
		return;
	target = pick_server(srv, chain, n, b->length, 1, &b->id);
	if (!target)
		return;
	proto_wbuf_init(&w);
	proto_put_blkid(&w, &b->id);
	proto_put_u32(&w, b->length);
	at = proto_put_array_begin(&w);
	/* The chosen source first, then every other live holder as fallback. */
	proto_put_u32(&w, source->id);
	proto_put_str(&w, source->addr);
	nsrc++;
	for (unsigned k = 0; k < b->nloc; k++) {
		struct meta_cs *cs = meta_cs_find(srv, b->locs[k]);

		if (cs && cs != source && cs->is_up && cs->conn) {
			proto_put_u32(&w, cs->id);
			proto_put_str(&w, cs->addr);
			nsrc++;
		}
	}
	proto_put_array_end(&w, at, nsrc);
	memset(&what, 0, sizeof(what));
	what.id = b->id;
	what.target = target->id;
	what.source = source->id;
	meta_conn_request(target->conn, MSG_CS_REPLICATE, &w, &what);
	proto_wbuf_free(&w);
	target->inflight++;
	source->inflight++;
	b->flags |= META_BLK_REPAIRING;
	log_debug("replicating a block from server %u to %u", source->id, target->id);
}

/* Copies on up servers that count toward the goal, and all copies on up
 * servers (draining ones included). */
static void count_copies(struct meta_srv *srv, const struct meta_block *b, uint32_t *good,
			 uint32_t *up)
{
	*good = *up = 0;
	for (unsigned k = 0; k < b->nloc; k++) {
		struct meta_cs *cs = meta_cs_find(srv, b->locs[k]);

		if (!cs_live(cs))
			continue;
		(*up)++;
		if (!cs->is_draining)
			(*good)++;
	}
}

static int block_gc(struct meta_srv *srv, struct meta_block *b, int64_t now_ms)
{
	if (b->refs || (b->flags & META_BLK_REPAIRING))
		return 0;
	if (now_ms - b->zero_since_ms < (int64_t)srv->conf.gc_grace_s * 1000)
		return 0;
	for (unsigned k = 0; k < b->nloc; k++) {
		struct meta_cs *cs = meta_cs_find(srv, b->locs[k]);

		if (cs) {
			queue_delete(cs, &b->id);
			if (cs->nloc)
				cs->nloc--;
		}
	}
	meta_blk_remove(meta_ns_blocks(srv->ns), b);
	return 1;
}

/* Drops the least established live copy (a draining holder's when
 * draining_only): locations are kept most established first, so the victim
 * is the last one in the list. A verified copy goes only when every live
 * copy is verified, and then at least goal + 1 of them are. */
static void trim_one(struct meta_srv *srv, struct meta_block *b, int draining_only)
{
	struct meta_cs *victim = NULL;

	for (unsigned k = b->nloc; k-- > 0 && !victim;) {
		struct meta_cs *cs = meta_cs_find(srv, b->locs[k]);

		if (!cs_live(cs) || !cs->conn)
			continue;
		if (draining_only && !cs->is_draining)
			continue;
		victim = cs;
	}
	if (!victim)
		return;
	log_debug("trimming a%s copy on server %u", meta_blk_loc_is_verified(b, victim->id) ?
		  " verified" : "n unverified", victim->id);
	queue_delete(victim, &b->id);
	meta_blk_loc_del(b, victim->id);
	if (victim->nloc)
		victim->nloc--;
}

static void expire_requests(struct meta_srv *srv, int64_t now_ms)
{
	for (uint32_t i = 0; i < srv->ncs; i++) {
		struct meta_conn *conn = srv->cs[i]->conn;
		struct meta_out_req **pp;

		for (pp = conn ? &conn->outs : NULL; pp && *pp;) {
			struct meta_out_req *r = *pp;

			if (now_ms - r->sent_ms < META_REPLICATE_TIMEOUT_MS) {
				pp = &r->next;
				continue;
			}
			*pp = r->next;
			meta_cs_reply(conn, r, -ETIMEDOUT);
			free(r);
		}
	}
}

void meta_cs_tick(struct meta_srv *srv, int64_t now_ms)
{
	struct meta_blk_table *t = meta_ns_blocks(srv->ns);
	struct repair_cand *cands = NULL;
	uint32_t ncand = 0, capcand = 0, scanned = 0;

	expire_requests(srv, now_ms);
	update_weight_cap(srv);
	for (uint32_t i = 0; i < srv->ncs; i++) {
		struct meta_cs *cs = srv->cs[i];

		if (cs->is_up && now_ms - cs->last_ms > (int64_t)srv->conf.cs_dead_timeout_ms) {
			log_warn("chunk server %u (%s) is dead: silent for %lld ms", cs->id, cs->addr,
				 (long long)(now_ms - cs->last_ms));
			cs->is_up = 0;
			if (cs->conn)
				meta_conn_close(cs->conn, "chunk server declared dead");
		}
	}
	if (!t->h.cap)
		goto out;
	while (scanned < t->h.cap && scanned < META_SCAN_SLOTS) {
		uint32_t slot = srv->scan_pos++ & (t->h.cap - 1);
		struct meta_block *b = t->h.slots[slot];
		uint32_t good, up, goal;

		scanned++;
		if (!b)
			continue;
		if (!b->refs) {
			if (block_gc(srv, b, now_ms))
				/* Backward shift may have moved a block into
				 * this slot: look at it again. */
				srv->scan_pos--;
			continue;
		}
		if (b->flags & META_BLK_REPAIRING)
			continue;
		count_copies(srv, b, &good, &up);
		goal = b->goal ? b->goal : 1;
		if (good < goal && up > 0) {
			if (ncand == capcand) {
				capcand = capcand ? capcand * 2 : 64;
				cands = xrealloc(cands, capcand * sizeof(*cands));
			}
			cands[ncand].b = b;
			cands[ncand++].good = good;
		} else if (good > goal) {
			trim_one(srv, b, 0);
		} else if (good >= goal && up > good) {
			trim_one(srv, b, 1);
		}
	}
	if (srv->scan_pos > t->h.cap)
		srv->scan_pos &= t->h.cap - 1;
	if (ncand) {
		qsort(cands, ncand, sizeof(*cands), cand_cmp);
		for (uint32_t i = 0; i < ncand; i++)
			start_repair(srv, cands[i].b);
	}
	free(cands);
out:
	flush_deletes(srv);
}

/* ---- administration ---- */

static int cs_holds_only_copy(struct meta_srv *srv, struct meta_cs *cs)
{
	struct meta_blk_table *t = meta_ns_blocks(srv->ns);

	for (uint32_t i = 0; i < t->h.cap; i++) {
		struct meta_block *b = t->h.slots[i];
		uint32_t others = 0;

		if (!b || !b->refs || !meta_blk_has_loc(b, cs->id))
			continue;
		for (unsigned k = 0; k < b->nloc; k++) {
			struct meta_cs *o = meta_cs_find(srv, b->locs[k]);

			others += o && o != cs && o->is_up;
		}
		if (!others)
			return 1;
	}
	return 0;
}

static void cs_remove(struct meta_srv *srv, struct meta_cs *cs)
{
	if (cs->conn)
		meta_conn_close(cs->conn, "chunk server removed");
	cs_forget_locs(srv, cs);
	for (uint32_t i = 0; i < srv->ncs; i++) {
		if (srv->cs[i] == cs) {
			srv->cs[i] = srv->cs[--srv->ncs];
			break;
		}
	}
	for (uint32_t i = 0; i < cs->nlabels; i++)
		free(cs->labels[i]);
	free(cs->labels);
	free(cs->dels);
	pdel_clear(cs);
	free(cs);
}

void meta_cs_free_all(struct meta_srv *srv)
{
	while (srv->ncs)
		cs_remove(srv, srv->cs[0]);
	free(srv->cs), srv->cs = NULL;
}

static void adm_status(struct meta_srv *srv, struct proto_wbuf *out)
{
	struct meta_blk_table *t = meta_ns_blocks(srv->ns);
	uint32_t up = 0, down = 0, draining = 0;
	uint64_t total = 0, used = 0, fr = 0, nblocks = 0, under = 0, missing = 0, over = 0;
	uint64_t nsess = 0;

	for (uint32_t i = 0; i < srv->ncs; i++) {
		struct meta_cs *cs = srv->cs[i];

		if (!cs->is_up) {
			down++;
			continue;
		}
		if (cs->is_draining)
			draining++;
		else
			up++;
		total += cs->total;
		used += cs->used;
		fr += cs->free;
	}
	for (uint32_t i = 0; i < t->h.cap; i++) {
		struct meta_block *b = t->h.slots[i];
		uint32_t good, u, goal;

		if (!b || !b->refs)
			continue;
		nblocks++;
		count_copies(srv, b, &good, &u);
		goal = b->goal ? b->goal : 1;
		if (u == 0)
			missing++;
		else if (good < goal)
			under++;
		else if (good > goal)
			over++;
	}
	for (uint32_t i = 0; i < srv->ss.h.cap; i++)
		nsess += srv->ss.h.slots[i] != NULL;
	proto_put_uuid(out, &srv->cluster);
	proto_put_u32(out, up);
	proto_put_u32(out, down);
	proto_put_u32(out, draining);
	proto_put_u64(out, total);
	proto_put_u64(out, used);
	proto_put_u64(out, fr);
	proto_put_u64(out, meta_ns_inode_count(srv->ns));
	proto_put_u64(out, nblocks);
	proto_put_u64(out, under);
	proto_put_u64(out, missing);
	proto_put_u64(out, over);
	proto_put_u64(out, nsess);
	proto_put_u64(out, meta_ns_logical_bytes(srv->ns));
	proto_put_u64(out, t->unique_bytes);
}

static void adm_cs_list(struct meta_srv *srv, struct proto_wbuf *out)
{
	int64_t now = meta_now_ms();

	proto_put_u32(out, srv->ncs);
	for (uint32_t i = 0; i < srv->ncs; i++) {
		struct meta_cs *cs = srv->cs[i];
		uint8_t state = !cs->is_up ? MSG_CS_STATE_DOWN
			      : cs->is_draining ? MSG_CS_STATE_DRAINING : MSG_CS_STATE_UP;

		proto_put_u32(out, cs->id);
		proto_put_str(out, cs->addr);
		proto_put_u8(out, state);
		proto_put_u64(out, cs->total);
		proto_put_u64(out, cs->used);
		proto_put_u64(out, cs->free);
		proto_put_u64(out, cs->blocks ? cs->blocks : cs->nloc);
		proto_put_u32(out, cs->load);
		proto_put_u64(out, (uint64_t)(now - cs->last_ms));
		proto_put_u64(out, cs->is_draining ? cs->nloc : 0);
		proto_put_u32(out, cs->nlabels);
		for (uint32_t k = 0; k < cs->nlabels; k++)
			proto_put_str(out, cs->labels[k]);
	}
}

static void adm_sessions(struct meta_srv *srv, struct proto_wbuf *out)
{
	int64_t now = meta_now_ms();
	size_t at = proto_put_array_begin(out);
	uint32_t n = 0;

	for (uint32_t i = 0; i < srv->ss.h.cap; i++) {
		struct meta_sess *s = srv->ss.h.slots[i];

		if (!s)
			continue;
		proto_put_u64(out, s->id);
		proto_put_u8(out, s->role);
		proto_put_str(out, s->name);
		proto_put_u64(out, (uint64_t)(now - s->created_ms));
		proto_put_u64(out, s->nopen);
		n++;
	}
	proto_put_array_end(out, at, n);
}

int meta_cs_admin(struct meta_srv *srv, uint16_t type, const uint8_t *payload, size_t len,
		  struct proto_wbuf *out)
{
	struct proto_rbuf r;
	struct meta_cs *cs;
	uint32_t id;
	uint8_t flag;

	proto_rbuf_init(&r, payload, len);
	switch (type) {
	case MSG_ADM_STATUS:
		adm_status(srv, out);
		return 0;
	case MSG_ADM_CS_LIST:
		adm_cs_list(srv, out);
		return 0;
	case MSG_ADM_SESSIONS:
		adm_sessions(srv, out);
		return 0;
	case MSG_ADM_CS_DRAIN:
		proto_get_u32(&r, &id);
		proto_get_u8(&r, &flag);
		cs = meta_cs_find(srv, id);
		if (!cs)
			return -ENOENT;
		cs->is_draining = flag != 0;
		log_info("chunk server %u: drain %s", id, flag ? "on" : "off");
		return 0;
	case MSG_ADM_CS_REMOVE:
		proto_get_u32(&r, &id);
		proto_get_u8(&r, &flag);
		cs = meta_cs_find(srv, id);
		if (!cs)
			return -ENOENT;
		if (!flag && cs_holds_only_copy(srv, cs))
			return -EBUSY;
		log_info("chunk server %u removed", id);
		cs_remove(srv, cs);
		return 0;
	default:
		return -EPROTO;
	}
}
