/* cl_file_ops: the operations of the data layer built on the block map
 * rather than on buffered bytes: SETATTR (flush first, trim the tail block
 * on truncate), fallocate and PUNCH_HOLE, SEEK_DATA/SEEK_HOLE, and
 * copy_file_range by block reference (COPY_RANGE: no data moves). Same
 * locking as cl_file.c: f->flush_mu orders commits, f->mu guards state.
 */
#include "client/cl_file_int.h"

#include <errno.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/cl_ns.h"
#include "fs/msg.h"
#include "fs/xmalloc.h"

/* After a truncate to size: the block holding the new end of file may
 * still store bytes past it, which a later extension would expose. Rewrite
 * it short (f->flush_mu held). */
static int file_trim_tail(struct cl_file *f, uint64_t size)
{
	const struct cl_bent *e;
	struct cl_dirty *d;
	uint64_t index;
	int rc = 0;

	pthread_mutex_lock(&f->mu);
	f->size = size;
	f->is_map_valid = 0;
	cl_file_map_pre_drop(f);
	index = size / f->bs;
	if (size % f->bs == 0 || cl_file_dirty_find(f, index))
		goto out;
	rc = cl_file_map_load(f);
	if (rc)
		goto out;
	e = cl_file_map_find(f, index);
	if (!e || e->len <= size - index * f->bs)
		goto out;
	rc = cl_file_dirty_new(f, index, 0, &d);
	if (rc)
		goto out;
	f->need_commit = 1;
	pthread_mutex_unlock(&f->mu);
	return cl_file_flush_locked(f);
out:
	pthread_mutex_unlock(&f->mu);
	return rc;
}

int cl_file_setattr(struct cl_files *fs, uint64_t ino, uint32_t valid, uint32_t mode,
		    uint32_t uid, uint32_t gid, uint64_t size, const struct casfs_time *atime,
		    const struct casfs_time *mtime, struct casfs_attr *a)
{
	struct cl_file *f = cl_file_find(fs, ino);
	int rc = 0, is_new;

	if (!f && (valid & MSG_SETATTR_SIZE)) {
		/* Not open here: a temporary state to trim the tail block. */
		f = cl_file_get(fs, ino, &is_new);
		pthread_mutex_lock(&f->mu);
		if (is_new)
			f->size = UINT64_MAX;
		pthread_mutex_unlock(&f->mu);
	}
	if (f) {
		/* Held through SETATTR so no commit of older writes lands after
		 * the new size. */
		pthread_mutex_lock(&f->flush_mu);
		rc = cl_file_flush_locked(f);
	}
	if (!rc)
		rc = cl_ns_setattr(fs->meta, ino, valid, mode, uid, gid, size, atime, mtime, a);
	if (f) {
		if (!rc && (valid & MSG_SETATTR_SIZE)) {
			pthread_mutex_lock(&f->mu);
			if (a->block_size >= 4096)
				f->bs = a->block_size;
			pthread_mutex_unlock(&f->mu);
			rc = file_trim_tail(f, a->size);
			if (!rc)
				rc = cl_ns_getattr(fs->meta, ino, a);
		}
		pthread_mutex_lock(&f->mu);
		if (!rc)
			f->mtime = a->mtime;
		pthread_mutex_unlock(&f->mu);
		pthread_mutex_unlock(&f->flush_mu);
		cl_file_put(f);
	}
	return rc;
}

int cl_file_is_clean(struct cl_files *fs, const struct casfs_attr *a)
{
	struct cl_file *f = cl_file_find(fs, a->ino);
	int clean;

	if (!f)
		return 0;
	pthread_mutex_lock(&f->mu);
	clean = !f->need_commit && !f->ndirty && !f->inflight && !f->ndone &&
		f->size == a->size && f->mtime.sec == a->mtime.sec &&
		f->mtime.nsec == a->mtime.nsec;
	pthread_mutex_unlock(&f->mu);
	cl_file_put(f);
	return clean;
}

void cl_file_overlay(struct cl_files *fs, struct casfs_attr *a)
{
	struct cl_file *f = cl_file_find(fs, a->ino);

	if (!f)
		return;
	pthread_mutex_lock(&f->mu);
	if ((f->need_commit || f->ndirty) && f->size > a->size)
		a->size = f->size;
	pthread_mutex_unlock(&f->mu);
	cl_file_put(f);
}

static int file_zero(struct cl_file *f, uint64_t off, uint64_t len)
{
	static const uint8_t zeros[65536];
	int rc = 0;

	while (len > 0 && !rc) {
		size_t n = len > sizeof(zeros) ? sizeof(zeros) : len;

		rc = cl_file_write(f, off, zeros, n);
		off += n;
		len -= n;
	}
	return rc;
}

int cl_file_fallocate(struct cl_file *f, int mode, uint64_t off, uint64_t len)
{
	struct cl_bent *holes = NULL;
	size_t nholes = 0, cap = 0;
	struct casfs_attr a;
	uint64_t size, first, last, hs, he;
	int rc;

	if (mode == 0) {
		pthread_mutex_lock(&f->mu);
		if (off + len > f->size) {
			f->size = off + len;
			f->need_commit = 1;
		}
		pthread_mutex_unlock(&f->mu);
		return cl_file_flush(f);
	}
	if (mode != (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE))
		return -EOPNOTSUPP;
	pthread_mutex_lock(&f->mu);
	size = f->size;
	pthread_mutex_unlock(&f->mu);
	if (off >= size || len == 0)
		return 0;
	if (off + len > size)
		len = size - off;
	/* Whole blocks inside the range become holes; the edges are zeroed. */
	first = (off + f->bs - 1) / f->bs;
	last = (off + len) / f->bs;	/* exclusive */
	if ((off + len) == size)
		last = (size + f->bs - 1) / f->bs;
	if (first >= last) {
		rc = file_zero(f, off, len);
		return rc ? rc : cl_file_flush(f);
	}
	hs = first * f->bs;
	he = last * f->bs < off + len ? last * f->bs : off + len;
	rc = file_zero(f, off, hs - off);
	if (!rc && he < off + len)
		rc = file_zero(f, he, off + len - he);
	if (!rc)
		rc = cl_file_flush(f);
	if (rc)
		return rc;
	pthread_mutex_lock(&f->flush_mu);
	pthread_mutex_lock(&f->mu);
	if (!f->is_map_valid)
		cl_file_map_load(f);
	for (uint64_t i = first; i < last; i++) {
		if (f->is_map_valid && !cl_file_map_find(f, i))
			continue;
		struct cl_bent e = { .index = i };

		cl_file_bent_append(&holes, &nholes, &cap, &e);
	}
	size = f->size;
	pthread_mutex_unlock(&f->mu);
	if (nholes)
		rc = cl_file_commit(f, holes, nholes, size, 0, &a);
	pthread_mutex_lock(&f->mu);
	for (size_t i = 0; i < nholes && !rc; i++)
		cl_file_map_set(f, &holes[i]);
	pthread_mutex_unlock(&f->mu);
	pthread_mutex_unlock(&f->flush_mu);
	free(holes);
	holes = NULL;
	return rc;
}

int cl_file_seek(struct cl_file *f, uint64_t off, int whence, uint64_t *out)
{
	uint64_t index, nblocks;
	int rc;

	rc = cl_file_flush(f);
	if (rc)
		return rc;
	pthread_mutex_lock(&f->mu);
	if (off >= f->size) {
		rc = -ENXIO;
		goto out;
	}
	if (!f->is_map_valid && (rc = cl_file_map_load(f)) != 0)
		goto out;
	nblocks = (f->size + f->bs - 1) / f->bs;
	index = off / f->bs;
	if (whence == SEEK_DATA) {
		size_t i = cl_file_map_search(f->map, f->nmap, index);

		if (i == f->nmap) {
			rc = -ENXIO;
			goto out;
		}
		*out = f->map[i].index == index ? off : f->map[i].index * f->bs;
		if (*out >= f->size)
			rc = -ENXIO;
	} else {
		while (index < nblocks && cl_file_map_find(f, index))
			index++;
		*out = index == off / f->bs ? off : index * f->bs;
		if (*out > f->size)
			*out = f->size;
	}
out:
	pthread_mutex_unlock(&f->mu);
	return rc;
}

int cl_file_copy_range(struct cl_file *src, uint64_t off_in, struct cl_file *dst,
		       uint64_t off_out, uint64_t len, uint64_t *copied)
{
	struct proto_wbuf req, rep;
	struct proto_rbuf r;
	struct casfs_attr a;
	uint64_t ssize, dsize, count;
	uint32_t bs;
	int rc;

	rc = cl_file_flush(src);
	if (!rc && dst != src)
		rc = cl_file_flush(dst);
	if (rc)
		return rc;
	pthread_mutex_lock(&src->mu);
	ssize = src->size;
	bs = src->bs;
	pthread_mutex_unlock(&src->mu);
	pthread_mutex_lock(&dst->mu);
	dsize = dst->size;
	pthread_mutex_unlock(&dst->mu);
	if (off_in >= ssize) {
		*copied = 0;
		return 0;
	}
	if (off_in + len > ssize)
		len = ssize - off_in;
	if (dst->bs != bs || off_in % bs || off_out % bs || src == dst ||
	    (len % bs && off_out + len < dsize))
		return -EOPNOTSUPP;
	count = (len + bs - 1) / bs;
	if (count > UINT32_MAX)
		return -EOPNOTSUPP;
	proto_wbuf_init(&req);
	proto_wbuf_init(&rep);
	proto_frame_begin(&req, MSG_COPY_RANGE, 0, 0);
	proto_put_u64(&req, src->ino);
	proto_put_u64(&req, off_in / bs);
	proto_put_u64(&req, dst->ino);
	proto_put_u64(&req, off_out / bs);
	proto_put_u32(&req, (uint32_t)count);
	proto_put_u64(&req, off_out + len);
	pthread_mutex_lock(&dst->flush_mu);
	rc = cl_meta_call(src->fs->meta, &req, &rep);
	if (!rc) {
		proto_rbuf_init(&r, rep.data, rep.len);
		proto_get_attr(&r, &a);
		if (proto_get_end(&r))
			rc = -EPROTO;
	}
	if (!rc) {
		pthread_mutex_lock(&dst->mu);
		dst->is_map_valid = 0;
		cl_file_map_pre_drop(dst);
		if (a.size > dst->size)
			dst->size = a.size;
		dst->mtime = a.mtime;
		pthread_mutex_unlock(&dst->mu);
		*copied = len;
	}
	pthread_mutex_unlock(&dst->flush_mu);
	proto_wbuf_free(&req);
	proto_wbuf_free(&rep);
	return rc;
}
