/* Allocation that cannot fail: out of memory aborts here, in one place, so
 * the rest of the code never checks for NULL (Redis's zmalloc, git's xmalloc). */
#ifndef CASFS_XMALLOC_H
#define CASFS_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
/* For processes that allocate and free block buffers (1 MiB) all the time:
 * keeps them in one heap for reuse instead of an mmap and munmap each, whose
 * page faults, zeroing and TLB shootdowns cost more than the copy itself,
 * and backs that heap with transparent huge pages as it grows. Call it once,
 * before starting any thread. */
void xmalloc_keep_big(void);

#endif
