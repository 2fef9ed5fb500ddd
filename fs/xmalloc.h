/* Allocation that cannot fail: out of memory aborts here, in one place, so
 * the rest of the code never checks for NULL (Redis's zmalloc, git's xmalloc). */
#ifndef CASFS_XMALLOC_H
#define CASFS_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);

#endif
