/* cl_dnames: the names a directory holds, kept through this mount's own
 * changes, so that the LOOKUP the kernel sends before every create (of a
 * name that is not there) is answered without a metad round trip. */
#ifndef CASFS_CL_DNAMES_H
#define CASFS_CL_DNAMES_H

#include <stdint.h>

/* Names a fetch asks for per READDIR. */
#define CL_DNAMES_PAGE 1024

struct cl_dnames;
struct cl_dnset;

/* timeout_s: how long a fetched set answers (the entry timeout; 0
 * disables). */
struct cl_dnames *cl_dnames_new(double timeout_s);
void cl_dnames_free(struct cl_dnames *n);

/* Monotonic seconds, for cl_dnames_made. */
double cl_dnames_now(void);

/* -ENOENT: name is not in dir, an answer that holds *ttl_s longer; -EAGAIN:
 * no set of dir answers (ask metad). */
int cl_dnames_absent(struct cl_dnames *n, uint64_t dir, const char *name, double *ttl_s);

/* Called when metad answered that a name is not in dir: a new set for the
 * caller to fill when dir should be fetched now (the fetch would pay for
 * itself), else NULL. */
struct cl_dnset *cl_dnames_want(struct cl_dnames *n, uint64_t dir);
/* Adds one name (the caller's set, no lock); -E2BIG past the size a set may
 * have: stop and end the fetch as incomplete. */
int cl_dnames_fill(struct cl_dnset *s, const char *name);
/* Ends the fetch and takes s: with rc 0 it answers from now on, unless
 * this mount added a name to its directory meanwhile. After -E2BIG the
 * directory is not fetched again for a while. */
void cl_dnames_fill_end(struct cl_dnames *n, struct cl_dnset *s, int rc);

/* dir, made by this mount with a request sent at since, is empty. */
void cl_dnames_made(struct cl_dnames *n, uint64_t dir, double since);
/* This mount is about to add name to dir (create, mkdir, mknod, symlink,
 * link, rename's target): called before the request is sent. */
void cl_dnames_add(struct cl_dnames *n, uint64_t dir, const char *name);
/* This mount removed name from dir (called once metad said so). */
void cl_dnames_remove(struct cl_dnames *n, uint64_t dir, const char *name);
/* dir's set proved wrong (metad found a name it lacks): forget it. */
void cl_dnames_drop(struct cl_dnames *n, uint64_t dir);

#endif
