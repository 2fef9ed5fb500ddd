/* cl_dnames: directories' name sets that answer the LOOKUP of absent names.
 *
 * The kernel LOOKUPs every name before it creates it (open(O_CREAT),
 * mkdir, mknod, symlink, link, rename's target), and each of those was a
 * metad round trip answering "no such name": half of a create's cost at
 * metad, with CREATE itself the other half. Here a directory's set of
 * names answers those LOOKUPs instead. A set comes from this mount's own
 * mkdir, which knows the new directory is empty, or from READDIR, one
 * round trip per CL_DNAMES_PAGE names: a fetch is made when it should pay
 * for itself, that is when metad answered "no such name" in the directory
 * more times within the timeout than the fetch would cost (twice for a
 * directory not seen yet), or at once when the directory's last set saved
 * that many round trips before it ran out.
 *
 * Freshness is the kernel's own: a set answers until its fetch began (or
 * the mkdir was sent) plus the entry timeout, as a negative entry metad
 * gave then would hold in the kernel, so another mount's new name is seen
 * as late as through the kernel's entry cache, not later. Names another
 * mount removed stay in the set; that only costs the metad LOOKUP a name
 * in the set gets anyway (only absence is answered here).
 *
 * This mount's own names are never hidden: every name it adds goes into
 * its directory's set before the request is sent (a name in the set that
 * failed to appear costs a round trip, nothing else), and a set being
 * fetched while this mount adds to its directory is thrown away, since the
 * fetch may have read past the spot where the new name lands. A removal
 * takes the name out once metad has done it.
 *
 * One set per slot (direct-mapped by directory), each at most
 * CL_DNAMES_MAX_NAMES names and all at most CL_DNAMES_MAX_TOTAL, so memory
 * stays bounded; a bigger directory is asked the old way (and not fetched
 * again for a minute).
 */
#include "client/cl_dnames.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "client/cl_ntab.h"
#include "fs/xmalloc.h"

#define CL_DNAMES_SLOTS 256
#define CL_DNAMES_MAX_NAMES 65536
/* All sets together (~40 bytes a name): about 10 MiB. */
#define CL_DNAMES_MAX_TOTAL 262144
/* A directory found too big is not fetched again for this long. */
#define CL_DNAMES_BIG_HOLD_S 60.0

struct cl_dnset {
	uint64_t dir;
	double since;		/* when the fetch began or the mkdir was sent */
	uint32_t hits;		/* absent names it answered */
	int is_spoilt;		/* this mount added to dir while it was fetched */
	struct cl_ntab names;	/* no payload */
};

struct cl_dnslot {
	struct cl_dnset *set;		/* answers until since + timeout */
	struct cl_dnset *fetching;	/* being filled by a LOOKUP */
	uint64_t miss_dir;	/* "no such name" from metad here: in which */
	double miss_at;		/* directory, since when, */
	uint32_t misses;	/* how many */
	uint64_t big_dir;	/* the last directory too big for a set */
	double big_at;
};

struct cl_dnames {
	pthread_mutex_t mu;
	double timeout;
	uint32_t names;		/* in all installed sets */
	struct cl_dnslot slots[CL_DNAMES_SLOTS];
};

double cl_dnames_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct cl_dnset *set_new(uint64_t dir, double since)
{
	struct cl_dnset *s = xcalloc(1, sizeof(*s));

	s->dir = dir;
	s->since = since;
	cl_ntab_init(&s->names, 0);
	return s;
}

static void set_free(struct cl_dnset *s)
{
	if (!s)
		return;
	cl_ntab_clear(&s->names);
	free(s);
}

struct cl_dnames *cl_dnames_new(double timeout_s)
{
	struct cl_dnames *n = xcalloc(1, sizeof(*n));

	n->timeout = timeout_s;
	pthread_mutex_init(&n->mu, NULL);
	return n;
}

void cl_dnames_free(struct cl_dnames *n)
{
	if (!n)
		return;
	for (int i = 0; i < CL_DNAMES_SLOTS; i++) {
		set_free(n->slots[i].set);
		n->slots[i].set = NULL;
	}
	pthread_mutex_destroy(&n->mu);
	free(n);
}

static struct cl_dnslot *slot_of(struct cl_dnames *n, uint64_t dir)
{
	return &n->slots[(dir * 0x9E3779B97F4A7C15ull) >> 56];
}

/* dir's installed set, fresh or not, or NULL (mu held). */
static struct cl_dnset *set_of(struct cl_dnames *n, uint64_t dir)
{
	struct cl_dnset *s = slot_of(n, dir)->set;

	return s && s->dir == dir ? s : NULL;
}

/* Installs s in its slot if the total allows, freeing whatever it
 * replaces or s itself (mu held). */
static void set_install(struct cl_dnames *n, struct cl_dnset *s)
{
	struct cl_dnslot *sl = slot_of(n, s->dir);
	uint32_t old = sl->set ? sl->set->names.n : 0;

	if (n->names - old + s->names.n > CL_DNAMES_MAX_TOTAL) {
		set_free(s);
		return;
	}
	n->names = n->names - old + s->names.n;
	set_free(sl->set);
	sl->set = s;
}

static void set_uninstall(struct cl_dnames *n, struct cl_dnslot *sl)
{
	n->names -= sl->set->names.n;
	set_free(sl->set);
	sl->set = NULL;
}

int cl_dnames_absent(struct cl_dnames *n, uint64_t dir, const char *name, double *ttl_s)
{
	struct cl_dnset *s;
	int rc = -EAGAIN;

	pthread_mutex_lock(&n->mu);
	s = set_of(n, dir);
	if (s) {
		*ttl_s = s->since + n->timeout - cl_dnames_now();
		if (*ttl_s > 0 && !cl_ntab_find(&s->names, name)) {
			s->hits++;
			rc = -ENOENT;
		}
	}
	pthread_mutex_unlock(&n->mu);
	return rc;
}

struct cl_dnset *cl_dnames_want(struct cl_dnames *n, uint64_t dir)
{
	struct cl_dnset *s = NULL, *old;
	struct cl_dnslot *sl;
	double now = cl_dnames_now();
	uint32_t cost;

	if (n->timeout <= 0)
		return NULL;
	pthread_mutex_lock(&n->mu);
	sl = slot_of(n, dir);
	old = set_of(n, dir);
	/* A fresh set that lacked the name answered already; one that has
	 * it was told of no removal (another mount's): not worth a fetch. */
	if (old && old->since + n->timeout > now)
		goto out;
	if (sl->miss_dir != dir || now - sl->miss_at >= n->timeout) {
		sl->miss_dir = dir;
		sl->miss_at = now;
		sl->misses = 0;
	}
	sl->misses++;
	/* A fetch costs a round trip per page; it is made when the last set
	 * saved as many while it answered, or when metad was asked that
	 * many times in one timeout (twice for a directory not seen yet). */
	cost = old ? 1 + old->names.n / CL_DNAMES_PAGE : 1;
	if (((old && old->hits >= cost) || sl->misses > cost) && !sl->fetching &&
	    !(sl->big_dir == dir && now - sl->big_at < CL_DNAMES_BIG_HOLD_S)) {
		s = set_new(dir, now);
		sl->fetching = s;
		sl->misses = 0;
	}
out:
	pthread_mutex_unlock(&n->mu);
	return s;
}

int cl_dnames_fill(struct cl_dnset *s, const char *name)
{
	if (s->names.n >= CL_DNAMES_MAX_NAMES)
		return -E2BIG;
	cl_ntab_put(&s->names, name, NULL);
	return 0;
}

void cl_dnames_fill_end(struct cl_dnames *n, struct cl_dnset *s, int rc)
{
	struct cl_dnslot *sl;

	pthread_mutex_lock(&n->mu);
	sl = slot_of(n, s->dir);
	sl->fetching = NULL;	/* one fetch per slot at a time */
	if (rc == -E2BIG) {
		sl->big_dir = s->dir;
		sl->big_at = cl_dnames_now();
	}
	if (!rc && !s->is_spoilt) {
		set_install(n, s);
		s = NULL;
	}
	pthread_mutex_unlock(&n->mu);
	set_free(s);
}

void cl_dnames_made(struct cl_dnames *n, uint64_t dir, double since)
{
	if (n->timeout <= 0)
		return;
	pthread_mutex_lock(&n->mu);
	set_install(n, set_new(dir, since));
	pthread_mutex_unlock(&n->mu);
}

void cl_dnames_add(struct cl_dnames *n, uint64_t dir, const char *name)
{
	struct cl_dnslot *sl;
	struct cl_dnset *s;
	int is_new;

	pthread_mutex_lock(&n->mu);
	sl = slot_of(n, dir);
	if (sl->fetching && sl->fetching->dir == dir)
		sl->fetching->is_spoilt = 1;
	s = set_of(n, dir);
	if (s && (s->names.n >= CL_DNAMES_MAX_NAMES || n->names >= CL_DNAMES_MAX_TOTAL)) {
		set_uninstall(n, sl);	/* it cannot stay complete */
		sl->big_dir = dir;
		sl->big_at = cl_dnames_now();
	} else if (s) {
		cl_ntab_put(&s->names, name, &is_new);
		n->names += (uint32_t)is_new;
	}
	pthread_mutex_unlock(&n->mu);
}

void cl_dnames_remove(struct cl_dnames *n, uint64_t dir, const char *name)
{
	struct cl_dnset *s;

	pthread_mutex_lock(&n->mu);
	s = set_of(n, dir);
	if (s && !cl_ntab_remove(&s->names, name))
		n->names--;
	pthread_mutex_unlock(&n->mu);
}

void cl_dnames_drop(struct cl_dnames *n, uint64_t dir)
{
	struct cl_dnslot *sl;

	pthread_mutex_lock(&n->mu);
	sl = slot_of(n, dir);
	if (sl->fetching && sl->fetching->dir == dir)
		sl->fetching->is_spoilt = 1;
	if (set_of(n, dir))
		set_uninstall(n, sl);
	pthread_mutex_unlock(&n->mu);
}
