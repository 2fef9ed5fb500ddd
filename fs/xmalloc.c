/* xmalloc: the single place where running out of memory is handled. A file
 * system daemon that cannot allocate cannot keep its invariants, so it says
 * so on stderr and aborts rather than limping on with half-built state.
 *
 * It is also where block buffers get their memory. A process that calls
 * xmalloc_keep_big() (the mount and the chunk server) keeps every block
 * buffer in one heap (the brk area) and advises that heap for transparent
 * huge pages as it grows: each 1 MiB buffer touched for the first time cost
 * 256 page faults, and a cold 512 MiB read through a new mount spent more
 * time in those faults than in the copies (see heap_advise). */
#include "xmalloc.h"

#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The size of a transparent huge page on x86-64 and arm64 (4 KiB pages). */
#define XM_HUGE ((uintptr_t)2 << 20)
/* Allocations from here up are block buffers, or frames carrying one
 * (the smallest block size is 64 KiB); smaller ones never grow the heap
 * by much. */
#define XM_BIG ((size_t)64 << 10)
/* Heap growth step: large enough that a new stretch of heap is advised
 * before most of it is touched (only the new top chunk's header is). */
#define XM_TOP_PAD (64 << 20)

static pthread_mutex_t heap_mu = PTHREAD_MUTEX_INITIALIZER;
static int is_heap_huge;	/* set once, before any thread starts */
static uintptr_t heap_end;	/* guarded by heap_mu: the break when last seen */
static uintptr_t heap_advised;	/* guarded by heap_mu: advised up to here */

/* Advises the part of the heap that grew since the last call. The heap only
 * grows at its end (brk), and a stretch added by brk is a mapping of its
 * own, without the advice, so each new stretch is advised once, before
 * the caller touches the buffer that grew it. A trimmed heap moves the mark
 * back, so what grows again is advised again. */
static void heap_advise(void)
{
	uintptr_t brk, end;

	if (!is_heap_huge)
		return;
	brk = (uintptr_t)sbrk(0);
	end = brk & ~(XM_HUGE - 1);
	pthread_mutex_lock(&heap_mu);
	if (brk < heap_end && end < heap_advised)
		heap_advised = end;
	heap_end = brk;
	if (end > heap_advised) {
		/* Nothing to do if it fails: small pages work, only slower. */
		(void)madvise((void *)heap_advised, end - heap_advised, MADV_HUGEPAGE);
		heap_advised = end;
	}
	pthread_mutex_unlock(&heap_mu);
}

static void xmalloc_oom(size_t size)
{
	fprintf(stderr, "casfs: out of memory allocating %zu bytes\n", size);
	abort();
}

void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (!p)
		xmalloc_oom(size);
	if (size >= XM_BIG)
		heap_advise();
	return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (!p)
		xmalloc_oom(nmemb * size);
	return p;
}

void *xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size ? size : 1);

	if (!p)
		xmalloc_oom(size);
	if (size >= XM_BIG)
		heap_advise();
	return p;
}

char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = xmalloc(n);

	memcpy(p, s, n);
	return p;
}

void xmalloc_keep_big(void)
{
	/* Above the largest frame, so no block buffer is ever mmap'd; the
	 * trim threshold keeps freed buffers for the next block. */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	mallopt(M_TOP_PAD, XM_TOP_PAD);
	/* One arena: the others are mmap'd 64 MiB heaps that are unmapped
	 * whenever they empty, so a block freed on one thread (the cache
	 * evicting) and allocated on another (a fetch) faulted its pages in
	 * anew every time. Small allocations still come from each thread's
	 * cache without the arena's lock. */
	mallopt(M_ARENA_MAX, 1);
	heap_end = (uintptr_t)sbrk(0);
	heap_advised = (heap_end + XM_HUGE - 1) & ~(XM_HUGE - 1);
	is_heap_huge = 1;
}
