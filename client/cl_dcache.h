/* cl_dcache: whole directory listings fetched in one round trip, so the
 * LOOKUPs of a directory's names that follow are answered without one each
 * (a tree walk: git status, find, ls -l, rsync). */
#ifndef CASFS_CL_DCACHE_H
#define CASFS_CL_DCACHE_H

#include <stdint.h>

#include "fs/attr.h"

struct cl_dcache;
struct cl_dlist;

/* timeout_s: how long a listing answers (the shorter of the entry and
 * attribute timeouts; 0 disables). */
struct cl_dcache *cl_dcache_new(double timeout_s);
void cl_dcache_free(struct cl_dcache *d);

/* Every change this mount makes to metad's namespace or attributes sits
 * between a begin and an end: no listing fetched before or during it
 * answers afterwards. */
void cl_dcache_change_begin(struct cl_dcache *d);
void cl_dcache_change_end(struct cl_dcache *d);

/* 0 with *a: name is in dir; -ENOENT: it is not; -EAGAIN: no listing of dir
 * answers. *ttl_s is how much longer the answer holds. */
int cl_dcache_lookup(struct cl_dcache *d, uint64_t dir, const char *name, struct casfs_attr *a,
		     double *ttl_s);

/* Called on a LOOKUP that found no listing: a new listing of dir for the
 * caller to fill when it should fetch dir now (the second such LOOKUP in
 * dir within the timeout with no change by this mount since the first,
 * nobody else fetching it), else NULL. */
struct cl_dlist *cl_dcache_want(struct cl_dcache *d, uint64_t dir);
/* Adds one entry (the caller's listing, no lock); -E2BIG past the size a
 * listing may have: stop and end the fetch as incomplete. */
int cl_dcache_fill(struct cl_dlist *l, const char *name, const struct casfs_attr *a);
/* Ends the fetch and takes l: rc 0, the listing is complete and answers
 * from now on, unless this mount changed something since cl_dcache_want;
 * otherwise it is dropped, and after -E2BIG the directory is not fetched
 * again for a while. */
void cl_dcache_fill_end(struct cl_dcache *d, struct cl_dlist *l, int rc);

#endif
