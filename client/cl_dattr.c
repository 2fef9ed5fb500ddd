/* cl_dattr: directory attributes prefetched behind a mutation.
 *
 * With default_permissions the kernel checks a directory's mode on every
 * path walk, and every create/unlink/rename in it drops the directory's
 * cached attributes, so each metadata operation in a loop would cost an
 * extra GETATTR round trip. Instead the mutation carries a GETATTR of the
 * directory right behind it on the metad connection (cl_meta_follow);
 * metad handles a connection's frames in order, so the answer already
 * includes the mutation, and the kernel's GETATTR is answered from it.
 *
 * Invariants: a slot is trusted only if no later change by this mount
 * touched that directory (gen), the answer was not re-sent across a
 * reconnect (cl_meta reports -EAGAIN), and it is younger than the
 * caller's attribute timeout; it is used once. A slot collision just
 * forgets the older directory. Another mount's changes are seen as they
 * would be through the kernel's own attribute cache.
 *
 * The "told" table remembers the attributes of the last reply for each
 * inode (size, times, mode, owner, links; not atime). At open, when metad's
 * attributes equal them, the kernel already holds them (a later change by
 * this mount would have gone through a reply or changed metad's copy), so
 * close-to-open holds without dropping them and asking again.
 *
 * The "opened" table keeps metad's answer to each OPEN: the kernel drops
 * atime after every read and then asks GETATTR although nothing else
 * changed; that is answered from the OPEN (as fresh as close-to-open
 * needs) while the mount made no namespace change since and the file has
 * no writes of this mount (the caller checks).
 *
 * Locking: mu guards the tables; the completion runs on cl_meta's reader
 * thread under cl_meta's lock and takes only mu.
 */
#include "client/cl_dattr.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "fs/msg.h"
#include "fs/proto.h"
#include "fs/xmalloc.h"

#define DATTR_SLOTS 256
#define DATTR_TOLD 4096
/* A fetch still in flight is waited for at most this long. */
#define DATTR_WAIT_MS 200

enum { DATTR_NONE, DATTR_PENDING, DATTR_READY };

struct dattr_slot {
	uint64_t ino, gen;
	int state;
	struct casfs_attr a;
	struct timespec at;
};

struct cl_dattr {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	uint64_t next_gen;
	struct dattr_slot slots[DATTR_SLOTS];
	struct casfs_attr told[DATTR_TOLD];
	struct dattr_open {
		uint64_t ino, epoch;
		struct casfs_attr a;
		struct timespec at;
	} opened[DATTR_TOLD];
	uint64_t epoch;			/* bumped by every cl_dattr_changed */
};

struct dattr_fetch {
	struct cl_dattr *d;
	uint64_t ino, gen;
};

struct cl_dattr *cl_dattr_new(void)
{
	struct cl_dattr *d = xcalloc(1, sizeof(*d));
	pthread_condattr_t ca;

	pthread_mutex_init(&d->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cond, &ca);
	pthread_condattr_destroy(&ca);
	return d;
}

void cl_dattr_free(struct cl_dattr *d)
{
	if (!d)
		return;
	pthread_mutex_destroy(&d->mu);
	pthread_cond_destroy(&d->cond);
	free(d);
}

static struct dattr_slot *slot_of(struct cl_dattr *d, uint64_t ino)
{
	return &d->slots[(ino * 0x9e3779b97f4a7c15ull) >> 56];
}

static double secs_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

static void fetch_done(void *arg, int status, struct proto_wbuf *rep)
{
	struct dattr_fetch *fe = arg;
	struct cl_dattr *d = fe->d;
	struct dattr_slot *s;
	struct casfs_attr a;
	struct proto_rbuf r;

	if (!status) {
		proto_rbuf_init(&r, rep->data, rep->len);
		proto_get_attr(&r, &a);
		if (proto_get_end(&r))
			status = -EPROTO;
	}
	pthread_mutex_lock(&d->mu);
	s = slot_of(d, fe->ino);
	if (s->ino == fe->ino && s->gen == fe->gen && s->state == DATTR_PENDING) {
		s->state = status ? DATTR_NONE : DATTR_READY;
		if (!status) {
			s->a = a;
			clock_gettime(CLOCK_MONOTONIC, &s->at);
		}
		pthread_cond_broadcast(&d->cond);
	}
	pthread_mutex_unlock(&d->mu);
	free(fe);
}

void cl_dattr_forget(struct cl_dattr *d, uint64_t ino)
{
	struct dattr_slot *s;

	pthread_mutex_lock(&d->mu);
	s = slot_of(d, ino);
	if (s->ino == ino) {
		s->gen = ++d->next_gen;
		s->state = DATTR_NONE;
		pthread_cond_broadcast(&d->cond);
	}
	pthread_mutex_unlock(&d->mu);
}

void cl_dattr_begin(struct cl_dattr *d, uint64_t ino)
{
	struct dattr_fetch *fe = xmalloc(sizeof(*fe));
	struct proto_wbuf req;
	struct dattr_slot *s;

	pthread_mutex_lock(&d->mu);
	s = slot_of(d, ino);
	s->ino = ino;
	s->gen = ++d->next_gen;
	s->state = DATTR_PENDING;
	pthread_cond_broadcast(&d->cond);
	fe->d = d;
	fe->ino = ino;
	fe->gen = s->gen;
	pthread_mutex_unlock(&d->mu);
	proto_wbuf_init(&req);
	proto_frame_begin(&req, MSG_GETATTR, 0, 0);
	proto_put_u64(&req, ino);
	if (cl_meta_follow(&req, fetch_done, fe))
		fetch_done(fe, -EMSGSIZE, NULL);
	proto_wbuf_free(&req);
}

void cl_dattr_end(void)
{
	cl_meta_follow_cancel();
}

int cl_dattr_take(struct cl_dattr *d, uint64_t ino, double max_age_s, struct casfs_attr *a,
		  double *age_s)
{
	struct dattr_slot *s;
	struct timespec until;
	int rc = -ENOENT;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_nsec += DATTR_WAIT_MS * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&d->mu);
	s = slot_of(d, ino);
	while (s->ino == ino && s->state == DATTR_PENDING)
		if (pthread_cond_timedwait(&d->cond, &d->mu, &until))
			break;
	if (s->ino == ino && s->state == DATTR_READY) {
		*age_s = secs_since(&s->at);
		s->state = DATTR_NONE;
		if (*age_s < max_age_s) {
			*a = s->a;
			rc = 0;
		}
	}
	pthread_mutex_unlock(&d->mu);
	return rc;
}

static struct casfs_attr *told_of(struct cl_dattr *d, uint64_t ino)
{
	return &d->told[(ino * 0x9e3779b97f4a7c15ull) >> 52];
}

static int same_time(const struct casfs_time *a, const struct casfs_time *b)
{
	return a->sec == b->sec && a->nsec == b->nsec;
}

void cl_dattr_told(struct cl_dattr *d, const struct casfs_attr *a)
{
	pthread_mutex_lock(&d->mu);
	*told_of(d, a->ino) = *a;
	pthread_mutex_unlock(&d->mu);
}

int cl_dattr_is_told(struct cl_dattr *d, const struct casfs_attr *b)
{
	const struct casfs_attr *a;
	int same;

	pthread_mutex_lock(&d->mu);
	a = told_of(d, b->ino);
	same = a->ino == b->ino && b->ino && a->mode == b->mode && a->nlink == b->nlink &&
	       a->uid == b->uid && a->gid == b->gid && a->rdev == b->rdev &&
	       a->size == b->size && a->blocks == b->blocks && same_time(&a->mtime, &b->mtime) &&
	       same_time(&a->ctime, &b->ctime);
	pthread_mutex_unlock(&d->mu);
	return same;
}

void cl_dattr_opened(struct cl_dattr *d, const struct casfs_attr *a)
{
	struct dattr_open *o;

	pthread_mutex_lock(&d->mu);
	*told_of(d, a->ino) = *a;
	o = &d->opened[(a->ino * 0x9e3779b97f4a7c15ull) >> 52];
	o->ino = a->ino;
	o->epoch = d->epoch;
	o->a = *a;
	clock_gettime(CLOCK_MONOTONIC, &o->at);
	pthread_mutex_unlock(&d->mu);
}

int cl_dattr_open_attr(struct cl_dattr *d, uint64_t ino, double max_age_s, struct casfs_attr *a,
		       double *age_s)
{
	struct dattr_open *o;
	int rc = -ENOENT;

	pthread_mutex_lock(&d->mu);
	o = &d->opened[(ino * 0x9e3779b97f4a7c15ull) >> 52];
	if (o->ino == ino && ino && o->epoch == d->epoch) {
		*age_s = secs_since(&o->at);
		if (*age_s < max_age_s) {
			*a = o->a;
			rc = 0;
		}
	}
	pthread_mutex_unlock(&d->mu);
	return rc;
}

void cl_dattr_changed(struct cl_dattr *d)
{
	pthread_mutex_lock(&d->mu);
	d->epoch++;
	pthread_mutex_unlock(&d->mu);
}
