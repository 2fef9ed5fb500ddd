/* cl_dattr: attribute knowledge that saves round trips: a directory's
 * attributes fetched in the same round trip as a mutation inside it, for
 * the GETATTR the kernel sends right after; and what the kernel was last
 * told about each inode, so an open need not drop current attributes. */
#ifndef CASFS_CL_DATTR_H
#define CASFS_CL_DATTR_H

#include <stdint.h>

#include "client/cl_meta.h"
#include "fs/attr.h"

struct cl_dattr;

struct cl_dattr *cl_dattr_new(void);
void cl_dattr_free(struct cl_dattr *d);

/* Before a mutation that changes directory ino (an entry added or removed,
 * its own attributes): forgets what is known of it and arms a GETATTR of
 * it to follow this thread's next cl_meta_call. cl_dattr_end after the
 * mutation (drops the follow-up if the mutation never reached metad). */
void cl_dattr_begin(struct cl_dattr *d, uint64_t ino);
void cl_dattr_end(void);
/* Forgets ino without fetching anything (a change whose GETATTR the kernel
 * does not ask for at once). */
void cl_dattr_forget(struct cl_dattr *d, uint64_t ino);

/* The attributes fetched after this mount's last change to ino, taken
 * once; waits for a fetch still in flight. 0 and *a and *age_s, or
 * -ENOENT (ask metad). */
int cl_dattr_take(struct cl_dattr *d, uint64_t ino, double max_age_s, struct casfs_attr *a,
		  double *age_s);

/* What the kernel was last told about a->ino (every attribute reply),
 * and whether b (metad's answer to OPEN) matches it: then the kernel's
 * cached attributes are current and need not be dropped at open. Only a
 * hint: a forgotten inode never matches. */
void cl_dattr_told(struct cl_dattr *d, const struct casfs_attr *a);
int cl_dattr_is_told(struct cl_dattr *d, const struct casfs_attr *b);
/* Records metad's answer to an OPEN of a->ino (also as told). */
void cl_dattr_opened(struct cl_dattr *d, const struct casfs_attr *a);
/* The attributes of the last OPEN of ino, if no namespace change by this
 * mount happened since (cl_dattr_changed) and they are younger than
 * max_age_s: 0, *a and *age_s, else -ENOENT. */
int cl_dattr_open_attr(struct cl_dattr *d, uint64_t ino, double max_age_s, struct casfs_attr *a,
		       double *age_s);
/* A namespace change (unlink, rename, link, xattrs) whose inode is not
 * known here: no OPEN answer recorded before it is used any more. */
void cl_dattr_changed(struct cl_dattr *d);

#endif
