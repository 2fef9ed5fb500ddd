/* cl_ntab: a hash table of names, each with a fixed-size payload the
 * caller defines, for the client's caches of directory contents. Not
 * locked: its owner's lock covers it. */
#ifndef CASFS_CL_NTAB_H
#define CASFS_CL_NTAB_H

#include <stddef.h>
#include <stdint.h>

struct cl_nent;

struct cl_ntab {
	uint32_t n, nbuckets;
	size_t payload;			/* bytes each entry carries */
	struct cl_nent **buckets;
};

void cl_ntab_init(struct cl_ntab *t, size_t payload);
void cl_ntab_clear(struct cl_ntab *t);
/* name's payload, or NULL when name is not in t. */
void *cl_ntab_find(const struct cl_ntab *t, const char *name);
/* name's payload, added (zeroed) when name was not in t; *is_new says
 * which (may be NULL). */
void *cl_ntab_put(struct cl_ntab *t, const char *name, int *is_new);
/* 0, or -ENOENT when name was not in t. */
int cl_ntab_remove(struct cl_ntab *t, const char *name);

#endif
