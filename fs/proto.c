/* proto: frames and the codec. Every byte that crosses the wire is written
 * by a proto_put_* and read by a proto_get_*; nothing casts a struct onto a
 * buffer. Integers are little-endian and fixed-width. Readers treat input as
 * hostile: every get checks the bytes remaining first, lengths are checked
 * against their limits before use, and errors are sticky so a decoder may
 * read a whole record and test once. Used by every part, from any thread;
 * no global state. */
#include "proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

void proto_hdr_encode(const struct proto_hdr *h, uint8_t out[PROTO_HDR_SIZE])
{
	put_le(out, h->len, 4);
	put_le(out + 4, h->type, 2);
	put_le(out + 6, h->flags, 2);
	put_le(out + 8, h->reqid, 8);
}

int proto_hdr_decode(const uint8_t in[PROTO_HDR_SIZE], uint32_t max_len, struct proto_hdr *h)
{
	h->len = (uint32_t)get_le(in, 4);
	h->type = (uint16_t)get_le(in + 4, 2);
	h->flags = (uint16_t)get_le(in + 6, 2);
	h->reqid = get_le(in + 8, 8);
	if (h->len > max_len || h->len > PROTO_FRAME_MAX)
		return -EMSGSIZE;
	if (h->flags & ~PROTO_F_REPLY)
		return -EBADMSG;
	return 0;
}

void proto_wbuf_init(struct proto_wbuf *w)
{
	w->data = NULL;
	w->len = 0;
	w->cap = 0;
}

void proto_wbuf_free(struct proto_wbuf *w)
{
	free(w->data), w->data = NULL;
	w->len = 0;
	w->cap = 0;
}

void proto_wbuf_reset(struct proto_wbuf *w)
{
	w->len = 0;
}

static uint8_t *wbuf_grow(struct proto_wbuf *w, size_t n)
{
	uint8_t *p;

	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : 256;

		while (cap < w->len + n)
			cap *= 2;
		w->data = xrealloc(w->data, cap);
		w->cap = cap;
	}
	p = w->data + w->len;
	w->len += n;
	return p;
}

void proto_frame_begin(struct proto_wbuf *w, uint16_t type, uint16_t flags, uint64_t reqid)
{
	struct proto_hdr h = { .len = 0, .type = type, .flags = flags, .reqid = reqid };

	w->len = 0;
	proto_hdr_encode(&h, wbuf_grow(w, PROTO_HDR_SIZE));
}

void proto_reply_begin(struct proto_wbuf *w, uint16_t type, uint64_t reqid, int32_t status)
{
	proto_frame_begin(w, type, PROTO_F_REPLY, reqid);
	proto_put_i32(w, status);
}

int proto_frame_finish(struct proto_wbuf *w)
{
	size_t len = w->len - PROTO_HDR_SIZE;

	if (len > PROTO_FRAME_MAX)
		return -EMSGSIZE;
	put_le(w->data, len, 4);
	return 0;
}

void proto_put_u8(struct proto_wbuf *w, uint8_t v)
{
	*wbuf_grow(w, 1) = v;
}

void proto_put_u16(struct proto_wbuf *w, uint16_t v)
{
	put_le(wbuf_grow(w, 2), v, 2);
}

void proto_put_u32(struct proto_wbuf *w, uint32_t v)
{
	put_le(wbuf_grow(w, 4), v, 4);
}

void proto_put_u64(struct proto_wbuf *w, uint64_t v)
{
	put_le(wbuf_grow(w, 8), v, 8);
}

void proto_put_i32(struct proto_wbuf *w, int32_t v)
{
	proto_put_u32(w, (uint32_t)v);
}

void proto_put_raw(struct proto_wbuf *w, const void *p, size_t len)
{
	if (len)
		memcpy(wbuf_grow(w, len), p, len);
}

void proto_put_bytes(struct proto_wbuf *w, const void *p, uint32_t len)
{
	proto_put_u32(w, len);
	proto_put_raw(w, p, len);
}

void proto_put_str(struct proto_wbuf *w, const char *s)
{
	size_t n = strlen(s);

	if (n > PROTO_STR_MAX)
		n = PROTO_STR_MAX;
	proto_put_u16(w, (uint16_t)n);
	proto_put_raw(w, s, n);
}

void proto_put_blkid(struct proto_wbuf *w, const struct blk_id *id)
{
	proto_put_u8(w, id->alg);
	proto_put_raw(w, id->hash, sizeof(id->hash));
}

void proto_put_uuid(struct proto_wbuf *w, const struct casfs_uuid *u)
{
	proto_put_raw(w, u->b, sizeof(u->b));
}

void proto_put_time(struct proto_wbuf *w, const struct casfs_time *t)
{
	proto_put_u64(w, t->sec);
	proto_put_u32(w, t->nsec);
}

void proto_put_attr(struct proto_wbuf *w, const struct casfs_attr *a)
{
	proto_put_u64(w, a->ino);
	proto_put_u32(w, a->mode);
	proto_put_u32(w, a->nlink);
	proto_put_u32(w, a->uid);
	proto_put_u32(w, a->gid);
	proto_put_u32(w, a->rdev);
	proto_put_u64(w, a->size);
	proto_put_u64(w, a->blocks);
	proto_put_time(w, &a->atime);
	proto_put_time(w, &a->mtime);
	proto_put_time(w, &a->ctime);
	proto_put_u8(w, a->goal);
	proto_put_u32(w, a->block_size);
}

size_t proto_put_array_begin(struct proto_wbuf *w)
{
	size_t at = w->len;

	proto_put_u32(w, 0);
	return at;
}

void proto_put_array_end(struct proto_wbuf *w, size_t at, uint32_t count)
{
	put_le(w->data + at, count, 4);
}

void proto_rbuf_init(struct proto_rbuf *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
	r->err = 0;
}

/* Returns a pointer to the next n bytes and consumes them, or NULL (and sets
 * the sticky error) when fewer remain. */
static const uint8_t *rbuf_take(struct proto_rbuf *r, size_t n)
{
	const uint8_t *p;

	if (r->err || n > r->len - r->off) {
		r->err = -EBADMSG;
		return NULL;
	}
	p = r->p + r->off;
	r->off += n;
	return p;
}

static int get_int(struct proto_rbuf *r, int n, uint64_t *v)
{
	const uint8_t *p = rbuf_take(r, (size_t)n);

	if (!p)
		return r->err;
	*v = get_le(p, n);
	return 0;
}

int proto_get_u8(struct proto_rbuf *r, uint8_t *v)
{
	uint64_t x = 0;
	int rc = get_int(r, 1, &x);

	*v = (uint8_t)x;
	return rc;
}

int proto_get_u16(struct proto_rbuf *r, uint16_t *v)
{
	uint64_t x = 0;
	int rc = get_int(r, 2, &x);

	*v = (uint16_t)x;
	return rc;
}

int proto_get_u32(struct proto_rbuf *r, uint32_t *v)
{
	uint64_t x = 0;
	int rc = get_int(r, 4, &x);

	*v = (uint32_t)x;
	return rc;
}

int proto_get_u64(struct proto_rbuf *r, uint64_t *v)
{
	*v = 0;
	return get_int(r, 8, v);
}

int proto_get_i32(struct proto_rbuf *r, int32_t *v)
{
	uint32_t x;
	int rc = proto_get_u32(r, &x);

	*v = (int32_t)x;
	return rc;
}

int proto_get_raw(struct proto_rbuf *r, void *out, size_t len)
{
	const uint8_t *p = rbuf_take(r, len);

	if (!p) {
		memset(out, 0, len);
		return r->err;
	}
	memcpy(out, p, len);
	return 0;
}

int proto_get_bytes(struct proto_rbuf *r, const uint8_t **p, uint32_t *len)
{
	uint32_t n;

	*p = NULL;
	*len = 0;
	if (proto_get_u32(r, &n))
		return r->err;
	*p = rbuf_take(r, n);
	if (!*p)
		return r->err;
	*len = n;
	return 0;
}

static int fail(struct proto_rbuf *r)
{
	r->err = -EBADMSG;
	return r->err;
}

int proto_get_str(struct proto_rbuf *r, char *out, size_t cap)
{
	const uint8_t *p;
	uint16_t n;

	out[0] = '\0';
	if (proto_get_u16(r, &n))
		return r->err;
	if (n > PROTO_STR_MAX || (size_t)n + 1 > cap)
		return fail(r);
	p = rbuf_take(r, n);
	if (!p)
		return r->err;
	if (memchr(p, '\0', n))
		return fail(r);
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

int proto_get_name(struct proto_rbuf *r, char out[PROTO_NAME_MAX + 1])
{
	if (proto_get_str(r, out, PROTO_NAME_MAX + 1))
		return r->err;
	if (out[0] == '\0' || strchr(out, '/')) {
		out[0] = '\0';
		return fail(r);
	}
	return 0;
}

int proto_get_blkid(struct proto_rbuf *r, struct blk_id *id)
{
	if (proto_get_u8(r, &id->alg) || proto_get_raw(r, id->hash, sizeof(id->hash)))
		return r->err;
	if (id->alg != BLK_ALG_NONE && id->alg != BLK_ALG_XXH3_128K)
		return fail(r);
	return 0;
}

int proto_get_uuid(struct proto_rbuf *r, struct casfs_uuid *u)
{
	return proto_get_raw(r, u->b, sizeof(u->b));
}

int proto_get_time(struct proto_rbuf *r, struct casfs_time *t)
{
	if (proto_get_u64(r, &t->sec) || proto_get_u32(r, &t->nsec))
		return r->err;
	if (t->nsec > 999999999u)
		return fail(r);
	return 0;
}

int proto_get_attr(struct proto_rbuf *r, struct casfs_attr *a)
{
	proto_get_u64(r, &a->ino);
	proto_get_u32(r, &a->mode);
	proto_get_u32(r, &a->nlink);
	proto_get_u32(r, &a->uid);
	proto_get_u32(r, &a->gid);
	proto_get_u32(r, &a->rdev);
	proto_get_u64(r, &a->size);
	proto_get_u64(r, &a->blocks);
	proto_get_time(r, &a->atime);
	proto_get_time(r, &a->mtime);
	proto_get_time(r, &a->ctime);
	proto_get_u8(r, &a->goal);
	proto_get_u32(r, &a->block_size);
	return r->err;
}

int proto_get_count(struct proto_rbuf *r, size_t min_elem, uint32_t *count)
{
	if (proto_get_u32(r, count))
		return r->err;
	if (min_elem == 0)
		min_elem = 1;
	if ((uint64_t)*count * min_elem > r->len - r->off) {
		*count = 0;
		return fail(r);
	}
	return 0;
}

int proto_get_end(struct proto_rbuf *r)
{
	if (r->err)
		return r->err;
	if (r->off != r->len)
		return fail(r);
	return 0;
}
