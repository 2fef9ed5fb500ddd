/* meta_ckpt: checkpoint files (see meta_ckpt.h). Layout, all little-endian
 * through the fs/ codec: magic "CASFSCK1", u32 version, u64 segno, u64
 * last_seq, u64 next_ino, u64 next_session, u32 next_cs_id, u64 inode count,
 * the inodes, u64 session count, the sessions, u64 lock count, the held
 * locks, and a trailing XXH3-64 of everything before it. Refcounts and inode open counts are not stored: the
 * loader rebuilds them from the block maps and the sessions' opens. The
 * writer runs in a forked child and touches nothing but its copy of memory
 * and its own file. */
#include "metad/meta_ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "fs/log.h"
#include "fs/proto.h"
#include "fs/xmalloc.h"
#include "metad/meta_ns_int.h"

struct ckw {
	const struct meta_ns *ns;
	int fd;
	int err;
	XXH3_state_t *xx;
	struct proto_wbuf w;
};

static void ckw_flush(struct ckw *c)
{
	size_t off = 0;

	XXH3_64bits_update(c->xx, c->w.data, c->w.len);
	while (off < c->w.len && !c->err) {
		ssize_t n = write(c->fd, c->w.data + off, c->w.len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			c->err = -errno;
		else
			off += (size_t)n;
	}
	proto_wbuf_reset(&c->w);
}

static void ckw_maybe_flush(struct ckw *c)
{
	/* 1 MiB writes: large enough that syscalls cost nothing next to the
	 * serialisation itself. */
	if (c->w.len >= (1u << 20))
		ckw_flush(c);
}

static void put_inode(struct ckw *c, const struct meta_inode *in)
{
	struct proto_wbuf *w = &c->w;
	struct casfs_time t;
	uint32_t nx = 0;

	proto_put_u64(w, in->ino);
	proto_put_u32(w, in->mode);
	proto_put_u32(w, in->nlink);
	proto_put_u32(w, in->uid);
	proto_put_u32(w, in->gid);
	proto_put_u32(w, in->aux);
	proto_put_u64(w, in->size);
	t = (struct casfs_time){ in->atime_s, in->atime_ns };
	proto_put_time(w, &t);
	t = (struct casfs_time){ in->mtime_s, in->mtime_ns };
	proto_put_time(w, &t);
	t = (struct casfs_time){ in->ctime_s, in->ctime_ns };
	proto_put_time(w, &t);
	proto_put_u8(w, in->goal);
	if (S_ISDIR(in->mode)) {
		const struct meta_dir *d = in->u.dir;

		proto_put_u64(w, d->parent);
		proto_put_u64(w, d->next_seq);
		proto_put_u32(w, d->live);
		for (uint32_t i = 0; i < d->n; i++) {
			if (!d->ents[i]->ino)
				continue;
			proto_put_u64(w, d->ents[i]->seq);
			proto_put_u64(w, d->ents[i]->ino);
			proto_put_str(w, d->ents[i]->name);
			ckw_maybe_flush(c);
		}
	} else if (S_ISREG(in->mode)) {
		const struct meta_fmap *m = in->u.map;
		uint32_t n = m ? m->n : 0;

		proto_put_u32(w, n);
		for (uint32_t i = 0; i < n; i++) {
			struct meta_block *b = NULL;

			proto_put_blkid(w, &m->ids[i]);
			if (!blk_id_is_null(&m->ids[i]))
				b = meta_blk_find(&c->ns->blocks, &m->ids[i]);
			proto_put_u32(w, b ? b->length : 0);
			ckw_maybe_flush(c);
		}
	} else if (S_ISLNK(in->mode)) {
		proto_put_str(w, in->u.target);
	}
	for (const struct meta_xattr *x = in->xattrs; x; x = x->next)
		nx++;
	proto_put_u32(w, nx);
	for (const struct meta_xattr *x = in->xattrs; x; x = x->next) {
		proto_put_str(w, x->data);
		proto_put_bytes(w, x->data + x->nlen + 1, x->vlen);
	}
	ckw_maybe_flush(c);
}

static void put_session(struct ckw *c, const struct meta_sess *s)
{
	struct proto_wbuf *w = &c->w;
	uint32_t nd = 0;

	proto_put_u64(w, s->id);
	proto_put_u8(w, s->role);
	proto_put_str(w, s->name);
	proto_put_u32(w, s->opens.n);
	for (uint32_t i = 0; i < s->opens.cap; i++) {
		const struct meta_open *o = s->opens.slots[i];

		if (o) {
			proto_put_u64(w, o->ino);
			proto_put_u32(w, o->count);
		}
	}
	if (s->dedup)
		for (uint32_t i = 0; i < META_DEDUP_SIZE; i++)
			nd += s->dedup[i].type != 0;
	proto_put_u32(w, nd);
	for (uint32_t k = 0; s->dedup && k < META_DEDUP_SIZE; k++) {
		/* Oldest first, so the loader's ring ends in the same order. */
		const struct meta_dedup *d = &s->dedup[(s->dedup_pos + k) % META_DEDUP_SIZE];

		if (!d->type)
			continue;
		proto_put_u64(w, d->reqid);
		proto_put_u64(w, d->fp);
		proto_put_u64(w, d->result);
		proto_put_i32(w, d->status);
		proto_put_u16(w, d->type);
	}
	ckw_maybe_flush(c);
}

static void put_lock(void *ud, const struct meta_lk_rec *l)
{
	struct ckw *c = ud;

	proto_put_u64(&c->w, l->session);
	proto_put_u64(&c->w, l->ino);
	proto_put_u64(&c->w, l->owner);
	proto_put_u64(&c->w, l->start);
	proto_put_u64(&c->w, l->end);
	proto_put_u32(&c->w, l->pid);
	proto_put_u8(&c->w, l->kind);
	proto_put_u8(&c->w, l->type);
	ckw_maybe_flush(c);
}

static void count_lock(void *ud, const struct meta_lk_rec *l)
{
	(void)l;
	(*(uint64_t *)ud)++;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int meta_ckpt_write(const char *dir, const struct meta_ckpt_state *st)
{
	char path[4096], tmp[4200];
	struct ckw c = { .ns = st->ns };
	uint64_t nsess = 0;
	uint8_t sum[8];
	uint64_t h;

	snprintf(path, sizeof(path), "%s/checkpoint.%llu", dir, (unsigned long long)st->segno);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	c.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (c.fd < 0)
		return -errno;
	c.xx = XXH3_createState();
	XXH3_64bits_reset(c.xx);
	proto_wbuf_init(&c.w);
	proto_put_raw(&c.w, META_CKPT_MAGIC, 8);
	proto_put_u32(&c.w, META_CKPT_VERSION);
	proto_put_u64(&c.w, st->segno);
	proto_put_u64(&c.w, st->last_seq);
	proto_put_u64(&c.w, st->ns->next_ino);
	proto_put_u64(&c.w, st->ss->next_id);
	proto_put_u32(&c.w, st->next_cs_id);
	proto_put_u64(&c.w, st->ns->inodes.n);
	for (uint32_t i = 0; i < st->ns->inodes.cap && !c.err; i++)
		if (st->ns->inodes.slots[i])
			put_inode(&c, st->ns->inodes.slots[i]);
	for (uint32_t i = 0; i < st->ss->h.cap; i++) {
		const struct meta_sess *s = st->ss->h.slots[i];

		nsess += s && s->is_persistent;
	}
	proto_put_u64(&c.w, nsess);
	for (uint32_t i = 0; i < st->ss->h.cap && !c.err; i++) {
		const struct meta_sess *s = st->ss->h.slots[i];

		if (s && s->is_persistent)
			put_session(&c, s);
	}
	{
		uint64_t nlocks = 0;

		if (st->locks)
			meta_lock_foreach(st->locks, count_lock, &nlocks);
		proto_put_u64(&c.w, nlocks);
		if (st->locks)
			meta_lock_foreach(st->locks, put_lock, &c);
	}
	ckw_flush(&c);
	h = XXH3_64bits_digest(c.xx);
	for (int i = 0; i < 8; i++)
		sum[i] = (uint8_t)(h >> (8 * i));
	if (!c.err && write(c.fd, sum, 8) != 8)
		c.err = -EIO;
	if (!c.err && fsync(c.fd) < 0)
		c.err = -errno;
	close(c.fd);
	XXH3_freeState(c.xx);
	proto_wbuf_free(&c.w);
	if (!c.err && rename(tmp, path) < 0)
		c.err = -errno;
	if (!c.err)
		c.err = fsync_dir(dir);
	if (c.err)
		unlink(tmp);
	return c.err;
}

static int get_inode(struct proto_rbuf *r, struct meta_ns *ns)
{
	struct meta_inode *in;
	struct casfs_time at, mt, ct;
	uint64_t ino, size;
	uint32_t mode, nlink, uid, gid, aux, nx;
	uint8_t goal;

	proto_get_u64(r, &ino);
	proto_get_u32(r, &mode);
	proto_get_u32(r, &nlink);
	proto_get_u32(r, &uid);
	proto_get_u32(r, &gid);
	proto_get_u32(r, &aux);
	proto_get_u64(r, &size);
	proto_get_time(r, &at);
	proto_get_time(r, &mt);
	proto_get_time(r, &ct);
	proto_get_u8(r, &goal);
	if (r->err || !ino || meta_ns_inode(ns, ino))
		return -EBADMSG;
	if ((S_ISREG(mode) || S_ISDIR(mode)) && !aux)
		return -EBADMSG;
	in = meta_ns_inode_alloc(ns, ino, mode);
	in->nlink = nlink;
	in->uid = uid;
	in->gid = gid;
	in->aux = aux;
	in->goal = goal;
	in->atime_s = at.sec;
	in->atime_ns = at.nsec;
	in->mtime_s = mt.sec;
	in->mtime_ns = mt.nsec;
	in->ctime_s = ct.sec;
	in->ctime_ns = ct.nsec;
	if (S_ISDIR(mode)) {
		uint64_t seq, child, next_seq;
		uint32_t n;
		char name[PROTO_NAME_MAX + 1];

		proto_get_u64(r, &in->u.dir->parent);
		proto_get_u64(r, &next_seq);
		proto_get_count(r, 8 + 8 + 2, &n);
		meta_htab_reserve(&in->u.dir->names, n);
		if (n) {
			in->u.dir->ents = xrealloc(in->u.dir->ents, n * sizeof(*in->u.dir->ents));
			in->u.dir->cap = n;
		}
		for (uint32_t i = 0; i < n && !r->err; i++) {
			proto_get_u64(r, &seq);
			proto_get_u64(r, &child);
			proto_get_name(r, name);
			if (!r->err)
				meta_ns_dir_add(in->u.dir, name, child, seq);
		}
		if (next_seq > in->u.dir->next_seq)
			in->u.dir->next_seq = next_seq;
	} else if (S_ISREG(mode)) {
		struct blk_id id;
		uint32_t n, len;

		proto_get_count(r, BLK_ID_SIZE + 4, &n);
		for (uint32_t i = 0; i < n && !r->err; i++) {
			proto_get_blkid(r, &id);
			proto_get_u32(r, &len);
			if (!r->err && !blk_id_is_null(&id))
				meta_ns_map_set(ns, in, i, &id, len);
		}
		in->size = size;
		ns->logical_bytes += size;
	} else if (S_ISLNK(mode)) {
		char target[PROTO_STR_MAX + 1];

		proto_get_str(r, target, sizeof(target));
		in->u.target = xstrdup(target);
		in->size = size;
	} else {
		in->size = size;
	}
	proto_get_count(r, 2 + 4, &nx);
	for (uint32_t i = 0; i < nx && !r->err; i++) {
		char name[PROTO_STR_MAX + 1];
		const uint8_t *v;
		uint32_t vlen;
		struct casfs_time now = ct;

		proto_get_str(r, name, sizeof(name));
		proto_get_bytes(r, &v, &vlen);
		if (!r->err && meta_ns_setxattr(ns, ino, name, v, vlen, 0, &now))
			return -EBADMSG;
		in->ctime_s = ct.sec;
		in->ctime_ns = ct.nsec;
	}
	return r->err;
}

static int get_session(struct proto_rbuf *r, struct meta_ckpt_state *st, int64_t now_ms)
{
	char name[PROTO_STR_MAX + 1];
	struct meta_sess *s;
	uint64_t id;
	uint32_t n;
	uint8_t role;

	proto_get_u64(r, &id);
	proto_get_u8(r, &role);
	proto_get_str(r, name, sizeof(name));
	if (r->err || !id || meta_sess_find(st->ss, id))
		return -EBADMSG;
	s = meta_sess_new(st->ss, id, role, name, now_ms);
	s->is_persistent = 1;
	proto_get_count(r, 12, &n);
	for (uint32_t i = 0; i < n && !r->err; i++) {
		struct meta_inode *in;
		uint64_t ino;
		uint32_t count;

		proto_get_u64(r, &ino);
		proto_get_u32(r, &count);
		in = meta_ns_inode(st->ns, ino);
		if (r->err || !in || !count)
			return -EBADMSG;
		meta_sess_open_add(s, ino, count);
		in->nopen += count;
	}
	proto_get_count(r, 30, &n);
	for (uint32_t i = 0; i < n && !r->err; i++) {
		uint64_t reqid, fp, result;
		int32_t status;
		uint16_t type;

		proto_get_u64(r, &reqid);
		proto_get_u64(r, &fp);
		proto_get_u64(r, &result);
		proto_get_i32(r, &status);
		proto_get_u16(r, &type);
		if (!r->err)
			meta_sess_dedup_put(s, reqid, type, fp, status, result);
	}
	return r->err;
}

static int ckpt_parse(const uint8_t *p, size_t len, uint8_t goal, uint32_t bs, int64_t now_ms,
		      struct meta_ckpt_state *st)
{
	struct proto_rbuf r;
	uint64_t n, next_ino, next_sess, h = 0;
	uint32_t ver;
	int rc = 0;

	if (len < 8 + 8 || memcmp(p, META_CKPT_MAGIC, 8))
		return -EBADMSG;
	for (int i = 0; i < 8; i++)
		h |= (uint64_t)p[len - 8 + i] << (8 * i);
	if (h != XXH3_64bits(p, len - 8))
		return -EBADMSG;
	proto_rbuf_init(&r, p + 8, len - 16);
	proto_get_u32(&r, &ver);
	proto_get_u64(&r, &st->segno);
	proto_get_u64(&r, &st->last_seq);
	proto_get_u64(&r, &next_ino);
	proto_get_u64(&r, &next_sess);
	proto_get_u32(&r, &st->next_cs_id);
	proto_get_u64(&r, &n);
	if (r.err || ver != META_CKPT_VERSION)
		return -EBADMSG;
	st->ns = meta_ns_new_empty(goal, bs);
	if (n < (1ULL << 31))
		meta_htab_reserve(&st->ns->inodes, (uint32_t)n);
	for (uint64_t i = 0; i < n && !rc; i++)
		rc = get_inode(&r, st->ns);
	if (!rc && !meta_ns_inode(st->ns, CASFS_ROOT_INO))
		rc = -EBADMSG;
	if (next_ino > st->ns->next_ino)
		st->ns->next_ino = next_ino;
	proto_get_u64(&r, &n);
	for (uint64_t i = 0; i < n && !rc; i++)
		rc = get_session(&r, st, now_ms);
	if (next_sess > st->ss->next_id)
		st->ss->next_id = next_sess;
	proto_get_u64(&r, &n);
	for (uint64_t i = 0; i < n && !rc && !r.err; i++) {
		struct meta_lk_rec l;

		proto_get_u64(&r, &l.session);
		proto_get_u64(&r, &l.ino);
		proto_get_u64(&r, &l.owner);
		proto_get_u64(&r, &l.start);
		proto_get_u64(&r, &l.end);
		proto_get_u32(&r, &l.pid);
		proto_get_u8(&r, &l.kind);
		proto_get_u8(&r, &l.type);
		if (r.err || l.start > l.end || l.type < 1 || l.type > 2)
			rc = -EBADMSG;
		else if (st->locks)
			meta_lock_apply(st->locks, &l);
	}
	if (!rc)
		rc = proto_get_end(&r);
	if (rc) {
		meta_sess_free_all(st->ss);
		meta_sess_init(st->ss);
		meta_ns_free(st->ns), st->ns = NULL;
		return -EBADMSG;
	}
	return 0;
}

/* Lists checkpoint.<n> numbers in dir, newest first. */
static size_t ckpt_list(const char *dir, uint64_t **out)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0, cap = 0;

	*out = NULL;
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		unsigned long long v;
		char *end;

		if (strncmp(e->d_name, "checkpoint.", 11))
			continue;
		v = strtoull(e->d_name + 11, &end, 10);
		if (*end || end == e->d_name + 11)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			*out = xrealloc(*out, cap * sizeof(uint64_t));
		}
		(*out)[n++] = v;
	}
	closedir(d);
	for (size_t i = 1; i < n; i++)
		for (size_t k = i; k > 0 && (*out)[k - 1] < (*out)[k]; k--) {
			uint64_t t = (*out)[k];

			(*out)[k] = (*out)[k - 1];
			(*out)[k - 1] = t;
		}
	return n;
}

int meta_ckpt_load(const char *dir, uint8_t default_goal, uint32_t default_block_size,
		   int64_t now_ms, struct meta_ckpt_state *st, char *err, size_t errlen)
{
	uint64_t *list;
	size_t n = ckpt_list(dir, &list);
	int rc = -ENOENT;

	snprintf(err, errlen, "%s: no checkpoint", dir);
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		struct stat sb;
		void *map;
		int fd;

		snprintf(path, sizeof(path), "%s/checkpoint.%llu", dir, (unsigned long long)list[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &sb) < 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			if (fd >= 0)
				close(fd);
			continue;
		}
		map = sb.st_size ? mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0)
				 : MAP_FAILED;
		close(fd);
		if (map == MAP_FAILED) {
			rc = -EBADMSG;
			snprintf(err, errlen, "%s: empty or unreadable", path);
			log_warn("%s", err);
			continue;
		}
		madvise(map, (size_t)sb.st_size, MADV_SEQUENTIAL);
		rc = ckpt_parse(map, (size_t)sb.st_size, default_goal, default_block_size, now_ms, st);
		munmap(map, (size_t)sb.st_size);
		if (!rc && st->segno != list[i])
			rc = -EBADMSG;
		if (!rc)
			break;
		snprintf(err, errlen, "%s: damaged checkpoint", path);
		log_warn("%s; trying an older one", err);
	}
	free(list);
	return rc;
}

void meta_ckpt_remove_before(const char *dir, uint64_t segno)
{
	uint64_t *list;
	size_t n = ckpt_list(dir, &list);
	char path[4096];

	for (size_t i = 0; i < n; i++) {
		if (list[i] >= segno)
			continue;
		snprintf(path, sizeof(path), "%s/checkpoint.%llu", dir, (unsigned long long)list[i]);
		if (unlink(path) < 0)
			log_warn("%s: %s", path, strerror(errno));
	}
	free(list);
}
