/* Unit tests for fs/xmalloc.c: how a process that keeps block buffers in
 * its heap (xmalloc_keep_big) advises that heap for transparent huge pages.
 * sbrk and madvise are wrapped (see tests/build.mk): the tests move a fake
 * program break and record every advice, so each case is exact whatever
 * allocator the build uses (the sanitizers bring their own). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "fs/xmalloc.h"

#define MIB ((uintptr_t)1 << 20)
#define HUGE (2 * MIB)

void *__real_sbrk(intptr_t inc);
void *__wrap_sbrk(intptr_t inc);
int __wrap_madvise(void *addr, size_t len, int advice);

static uintptr_t fake_brk;	/* what sbrk(0) answers; 0 = the real one */
static struct advice {
	uintptr_t addr;
	size_t len;
	int advice;
} advised[16];
static int nadvised;

void *__wrap_sbrk(intptr_t inc)
{
	if (inc == 0 && fake_brk)
		return (void *)fake_brk;
	return __real_sbrk(inc);
}

int __wrap_madvise(void *addr, size_t len, int advice)
{
	assert_true(nadvised < 16);
	advised[nadvised++] = (struct advice){ (uintptr_t)addr, len, advice };
	return 0;
}

static void alloc_big(void)
{
	free(xmalloc(1 << 20));
}

/* Runs first: a process that never asked for it gets no advice. */
static void test_off_by_default(void **state)
{
	(void)state;
	fake_brk = 0x100000000 + 5 * MIB;
	alloc_big();
	free(xrealloc(NULL, 2 << 20));
	fake_brk += 64 * MIB;
	alloc_big();
	assert_int_equal(nadvised, 0);
}

/* The heap is advised from the first huge-page boundary above where it
 * ended at start, up to the last boundary below its end, once per stretch
 * it grew by, and only after allocations of block size. */
static void test_grows_advised_once(void **state)
{
	uintptr_t start = 0x100000000 + 5 * MIB + 4096;

	(void)state;
	fake_brk = start;
	nadvised = 0;
	xmalloc_keep_big();
	alloc_big();
	assert_int_equal(nadvised, 0);	/* not grown past a boundary yet */

	fake_brk = start + 65 * MIB;
	free(xmalloc(100));		/* small: not a block buffer */
	assert_int_equal(nadvised, 0);
	alloc_big();
	assert_int_equal(nadvised, 1);
	assert_int_equal(advised[0].addr, 0x100000000 + 6 * MIB);
	assert_int_equal(advised[0].addr + advised[0].len, 0x100000000 + 70 * MIB);
	assert_int_equal(advised[0].advice, MADV_HUGEPAGE);

	alloc_big();			/* no growth: nothing new */
	assert_int_equal(nadvised, 1);

	fake_brk += 64 * MIB;		/* grown again, seen by a realloc */
	free(xrealloc(xmalloc(16), 64 << 10));
	assert_int_equal(nadvised, 2);
	assert_int_equal(advised[1].addr, 0x100000000 + 70 * MIB);
	assert_int_equal(advised[1].addr + advised[1].len, 0x100000000 + 134 * MIB);
	assert_int_equal(advised[1].advice, MADV_HUGEPAGE);
	for (int i = 0; i < nadvised; i++) {
		assert_int_equal(advised[i].addr % HUGE, 0);
		assert_int_equal(advised[i].len % HUGE, 0);
	}
}

/* A trimmed heap that grows back is a new mapping: advised again. */
static void test_trim_then_grow(void **state)
{
	(void)state;
	nadvised = 0;
	fake_brk = 0x100000000 + 40 * MIB + 12345;
	alloc_big();
	assert_int_equal(nadvised, 0);
	fake_brk = 0x100000000 + 100 * MIB;
	alloc_big();
	assert_int_equal(nadvised, 1);
	assert_int_equal(advised[0].addr, 0x100000000 + 40 * MIB);
	assert_int_equal(advised[0].addr + advised[0].len, 0x100000000 + 100 * MIB);
	fake_brk = 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_off_by_default),
		cmocka_unit_test(test_grows_advised_once),
		cmocka_unit_test(test_trim_then_grow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
