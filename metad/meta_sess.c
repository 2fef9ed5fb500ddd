/* meta_sess: the session table (see meta_sess.h). Ids are issued in order
 * from next_id, which the checkpoint keeps, so an id is never reused within a
 * cluster's life and a stale resume can only get -ESTALE. Owned by the
 * event-loop thread. */
#include "metad/meta_sess.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs/xmalloc.h"

static uint64_t sess_hash(const void *e)
{
	return meta_htab_mix(((const struct meta_sess *)e)->id);
}

static int sess_match(const void *e, const void *key)
{
	return ((const struct meta_sess *)e)->id == *(const uint64_t *)key;
}

static uint64_t open_hash(const void *e)
{
	return meta_htab_mix(((const struct meta_open *)e)->ino);
}

static int open_match(const void *e, const void *key)
{
	return ((const struct meta_open *)e)->ino == *(const uint64_t *)key;
}

void meta_sess_init(struct meta_sessions *ss)
{
	meta_htab_init(&ss->h, sess_hash);
	ss->next_id = 1;
}

static void sess_free(struct meta_sess *s)
{
	for (uint32_t i = 0; i < s->opens.cap; i++)
		free(s->opens.slots[i]);
	meta_htab_free(&s->opens);
	free(s->dedup), s->dedup = NULL;
	free(s->name), s->name = NULL;
	free(s);
}

void meta_sess_free_all(struct meta_sessions *ss)
{
	for (uint32_t i = 0; i < ss->h.cap; i++)
		if (ss->h.slots[i])
			sess_free(ss->h.slots[i]);
	meta_htab_free(&ss->h);
}

struct meta_sess *meta_sess_find(const struct meta_sessions *ss, uint64_t id)
{
	return meta_htab_find(&ss->h, meta_htab_mix(id), sess_match, &id);
}

struct meta_sess *meta_sess_new(struct meta_sessions *ss, uint64_t id, uint8_t role,
				const char *name, int64_t now_ms)
{
	struct meta_sess *s = xcalloc(1, sizeof(*s));

	if (!id)
		id = ss->next_id;
	if (id >= ss->next_id)
		ss->next_id = id + 1;
	s->id = id;
	s->role = role;
	s->name = xstrdup(name);
	s->created_ms = now_ms;
	s->last_ms = now_ms;
	meta_htab_init(&s->opens, open_hash);
	meta_htab_insert(&ss->h, s);
	return s;
}

void meta_sess_delete(struct meta_sessions *ss, struct meta_sess *s)
{
	meta_htab_remove(&ss->h, s);
	sess_free(s);
}

uint32_t meta_sess_open_add(struct meta_sess *s, uint64_t ino, uint32_t n)
{
	struct meta_open *o = meta_htab_find(&s->opens, meta_htab_mix(ino), open_match, &ino);

	if (!o) {
		o = xcalloc(1, sizeof(*o));
		o->ino = ino;
		meta_htab_insert(&s->opens, o);
	}
	o->count += n;
	s->nopen += n;
	return o->count;
}

int meta_sess_open_del(struct meta_sess *s, uint64_t ino)
{
	struct meta_open *o = meta_htab_find(&s->opens, meta_htab_mix(ino), open_match, &ino);

	if (!o)
		return -ENOENT;
	s->nopen--;
	if (--o->count == 0) {
		meta_htab_remove(&s->opens, o);
		free(o);
	}
	return 0;
}

uint32_t meta_sess_open_count(const struct meta_sess *s, uint64_t ino)
{
	const struct meta_open *o = meta_htab_find(&s->opens, meta_htab_mix(ino), open_match, &ino);

	return o ? o->count : 0;
}

void meta_sess_dedup_put(struct meta_sess *s, uint64_t reqid, uint16_t type, uint64_t fp,
			 int32_t status, uint64_t result)
{
	struct meta_dedup *d;

	if (!s->dedup)
		s->dedup = xcalloc(META_DEDUP_SIZE, sizeof(*s->dedup));
	d = &s->dedup[s->dedup_pos];
	s->dedup_pos = (s->dedup_pos + 1) % META_DEDUP_SIZE;
	d->reqid = reqid;
	d->type = type;
	d->fp = fp;
	d->status = status;
	d->result = result;
	if (reqid > s->max_reqid)
		s->max_reqid = reqid;
}

const struct meta_dedup *meta_sess_dedup_get(const struct meta_sess *s, uint64_t reqid,
					     uint16_t type, uint64_t fp)
{
	if (!s->dedup)
		return NULL;
	for (uint32_t i = 0; i < META_DEDUP_SIZE; i++) {
		const struct meta_dedup *d = &s->dedup[i];

		if (d->type && d->reqid == reqid && d->type == type && d->fp == fp)
			return d;
	}
	return NULL;
}
