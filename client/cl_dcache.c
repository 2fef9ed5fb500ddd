/* cl_dcache: directory listings that answer LOOKUPs.
 *
 * A tree walk (git status's lstat of every indexed file, find, ls -l,
 * rsync) sends the kernel's LOOKUP for every name once its one-second
 * entry has expired, and each was a metad round trip: on a 2-core VM
 * most of a round trip's cost is system calls and wake-ups, so git status
 * of /usr/include (~9,900 lstats) took 0.8 s against MooseFS's 1.3-1.8 s,
 * whose client keeps directory listings for the same purpose. Here the
 * second LOOKUP missing in a directory within the timeout fetches
 * the directory whole (READDIR carries every entry's attributes) and the
 * next LOOKUPs in it are answered from that listing.
 *
 * Freshness is the kernel's own: an answer holds until the listing's fetch
 * began plus the timeout (the caller gives the shorter of its entry and
 * attribute timeouts), as if metad had answered then, so another mount's
 * change is seen as late as it would be through the kernel's caches, not
 * later. Only a walk asks for a listing: two LOOKUPs missing in one
 * directory with no change by this mount between them. A writer's LOOKUPs
 * (each before its create, in an untar) never do: every create would make
 * the listing fetched before it useless.
 *
 * This mount's own changes are never hidden: every one runs between
 * change_begin and change_end, each bumping gen; a listing answers only
 * while gen is what it was when its fetch was granted (a change begun
 * since has bumped it), and a fetch is granted only while no change is in
 * flight. Buffered writes to an open
 * file change no listing: the caller overlays open files' attributes on
 * every answer, as on metad's.
 *
 * One listing per slot (direct-mapped by directory), each at most
 * CL_DCACHE_MAX_NAMES entries and all at most CL_DCACHE_MAX_TOTAL: memory
 * stays bounded, and a huge directory is walked the old way (and not
 * fetched again for a minute).
 */
#include "client/cl_dcache.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "client/cl_ntab.h"
#include "fs/xmalloc.h"

#define CL_DCACHE_SLOTS 256
#define CL_DCACHE_MAX_NAMES 4096
/* All listings together (~200 bytes a name): about 13 MiB. */
#define CL_DCACHE_MAX_TOTAL 65536
/* A directory found too big is not fetched again for this long. */
#define CL_DCACHE_BIG_HOLD_S 60.0

struct cl_dlist {
	uint64_t dir;
	uint64_t gen;		/* cl_dcache's gen when the fetch was granted */
	double fetched;		/* when the fetch was granted (monotonic s) */
	struct cl_ntab names;	/* each with its struct casfs_attr */
};

struct cl_dslot {
	struct cl_dlist *list;
	uint64_t miss_dir;	/* the last LOOKUP in this slot without a listing */
	uint64_t miss_gen;
	double miss_at;
	uint64_t big_dir;	/* the last directory too big to list here */
	double big_at;
	int is_fetching;
};

struct cl_dcache {
	pthread_mutex_t mu;
	double timeout;
	uint64_t gen;
	int changing;		/* changes in flight */
	uint32_t names;		/* in all listings */
	struct cl_dslot slots[CL_DCACHE_SLOTS];
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void dlist_free(struct cl_dlist *l)
{
	if (!l)
		return;
	cl_ntab_clear(&l->names);
	free(l);
}

struct cl_dcache *cl_dcache_new(double timeout_s)
{
	struct cl_dcache *d = xcalloc(1, sizeof(*d));

	d->timeout = timeout_s;
	pthread_mutex_init(&d->mu, NULL);
	return d;
}

void cl_dcache_free(struct cl_dcache *d)
{
	if (!d)
		return;
	for (int i = 0; i < CL_DCACHE_SLOTS; i++) {
		dlist_free(d->slots[i].list);
		d->slots[i].list = NULL;
	}
	pthread_mutex_destroy(&d->mu);
	free(d);
}

static struct cl_dslot *slot_of(struct cl_dcache *d, uint64_t dir)
{
	return &d->slots[(dir * 0x9E3779B97F4A7C15ull) >> 56];
}

void cl_dcache_change_begin(struct cl_dcache *d)
{
	pthread_mutex_lock(&d->mu);
	d->gen++;
	d->changing++;
	pthread_mutex_unlock(&d->mu);
}

void cl_dcache_change_end(struct cl_dcache *d)
{
	pthread_mutex_lock(&d->mu);
	d->gen++;
	d->changing--;
	pthread_mutex_unlock(&d->mu);
}

/* The listing of dir that may answer now, or NULL (mu held). */
static struct cl_dlist *list_fresh(struct cl_dcache *d, uint64_t dir, double now, double *ttl)
{
	struct cl_dlist *l = slot_of(d, dir)->list;

	if (!l || l->dir != dir || l->gen != d->gen)
		return NULL;
	*ttl = l->fetched + d->timeout - now;
	return *ttl > 0 ? l : NULL;
}

int cl_dcache_lookup(struct cl_dcache *d, uint64_t dir, const char *name, struct casfs_attr *a,
		     double *ttl_s)
{
	struct cl_dlist *l;
	struct casfs_attr *e;
	int rc = -EAGAIN;

	pthread_mutex_lock(&d->mu);
	l = list_fresh(d, dir, now_s(), ttl_s);
	if (l) {
		e = cl_ntab_find(&l->names, name);
		rc = e ? 0 : -ENOENT;
		if (e)
			*a = *e;
	}
	pthread_mutex_unlock(&d->mu);
	return rc;
}

struct cl_dlist *cl_dcache_want(struct cl_dcache *d, uint64_t dir)
{
	struct cl_dlist *l = NULL;
	struct cl_dslot *s;
	double now = now_s();

	if (d->timeout <= 0)
		return NULL;
	pthread_mutex_lock(&d->mu);
	s = slot_of(d, dir);
	if (s->miss_dir == dir && s->miss_gen == d->gen && now - s->miss_at < d->timeout &&
	    !s->is_fetching && !d->changing &&
	    !(s->big_dir == dir && now - s->big_at < CL_DCACHE_BIG_HOLD_S)) {
		l = xcalloc(1, sizeof(*l));
		l->dir = dir;
		l->gen = d->gen;
		l->fetched = now;
		cl_ntab_init(&l->names, sizeof(struct casfs_attr));
		s->is_fetching = 1;
	}
	s->miss_dir = dir;
	s->miss_gen = d->gen;
	s->miss_at = now;
	pthread_mutex_unlock(&d->mu);
	return l;
}

int cl_dcache_fill(struct cl_dlist *l, const char *name, const struct casfs_attr *a)
{
	struct casfs_attr *e;

	if (l->names.n >= CL_DCACHE_MAX_NAMES)
		return -E2BIG;
	e = cl_ntab_put(&l->names, name, NULL);
	*e = *a;
	return 0;
}

void cl_dcache_fill_end(struct cl_dcache *d, struct cl_dlist *l, int rc)
{
	struct cl_dlist *old = NULL;
	struct cl_dslot *s;

	pthread_mutex_lock(&d->mu);
	s = slot_of(d, l->dir);
	s->is_fetching = 0;	/* one fetch per slot at a time */
	if (rc == -E2BIG) {
		s->big_dir = l->dir;
		s->big_at = now_s();
	}
	if (!rc && l->gen == d->gen &&
	    d->names - (s->list ? s->list->names.n : 0) + l->names.n <= CL_DCACHE_MAX_TOTAL) {
		old = s->list;
		d->names -= old ? old->names.n : 0;
		d->names += l->names.n;
		s->list = l;
		l = NULL;
	}
	pthread_mutex_unlock(&d->mu);
	dlist_free(old);
	dlist_free(l);
}
