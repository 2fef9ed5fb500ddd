/* Unit tests for the directory listings that answer LOOKUPs (cl_dcache):
 * when a listing is fetched, what it answers, and every way it stops
 * answering (this mount's changes, age, size). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "client/cl_dcache.h"

static struct casfs_attr attr_of(uint64_t ino)
{
	struct casfs_attr a;

	memset(&a, 0, sizeof(a));
	a.ino = ino;
	a.mode = 0100644;
	a.size = ino * 10;
	return a;
}

/* The second LOOKUP without a listing asks for one; n names f0..f(n-1),
 * inodes 100.., go in. Returns fill_end's outcome as the caller saw it. */
static int list_dir(struct cl_dcache *d, uint64_t dir, int n)
{
	struct cl_dlist *l;
	char name[32];
	int rc = 0;

	assert_null(cl_dcache_want(d, dir));
	l = cl_dcache_want(d, dir);
	assert_non_null(l);
	for (int i = 0; i < n && !rc; i++) {
		struct casfs_attr a = attr_of(100 + (uint64_t)i);

		snprintf(name, sizeof(name), "f%d", i);
		rc = cl_dcache_fill(l, name, &a);
	}
	cl_dcache_fill_end(d, l, rc);
	return rc;
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

	nanosleep(&ts, NULL);
}

static void test_answers_after_second_miss(void **state)
{
	struct cl_dcache *d = cl_dcache_new(10);
	struct casfs_attr a;
	double ttl;

	(void)state;
	assert_int_equal(cl_dcache_lookup(d, 7, "f1", &a, &ttl), -EAGAIN);
	assert_int_equal(list_dir(d, 7, 300), 0);
	assert_int_equal(cl_dcache_lookup(d, 7, "f250", &a, &ttl), 0);
	assert_int_equal(a.ino, 350);
	assert_int_equal(a.size, 3500);
	assert_true(ttl > 9 && ttl <= 10);
	assert_int_equal(cl_dcache_lookup(d, 7, "nope", &a, &ttl), -ENOENT);
	assert_int_equal(cl_dcache_lookup(d, 8, "f1", &a, &ttl), -EAGAIN);	/* another dir */
	cl_dcache_free(d);
}

/* A change of this mount: nothing fetched before it answers after it, no
 * fetch is granted while it runs, and one granted before it is dropped. */
static void test_changes_silence_listings(void **state)
{
	struct cl_dcache *d = cl_dcache_new(10);
	struct casfs_attr a = attr_of(1);
	struct cl_dlist *l;
	double ttl;

	(void)state;
	assert_int_equal(list_dir(d, 7, 3), 0);
	cl_dcache_change_begin(d);
	assert_int_equal(cl_dcache_lookup(d, 7, "f1", &a, &ttl), -EAGAIN);
	assert_null(cl_dcache_want(d, 9));
	assert_null(cl_dcache_want(d, 9));	/* in flight: never granted */
	cl_dcache_change_end(d);
	assert_int_equal(cl_dcache_lookup(d, 7, "f1", &a, &ttl), -EAGAIN);

	assert_null(cl_dcache_want(d, 9));	/* the change came between */
	l = cl_dcache_want(d, 9);
	assert_non_null(l);
	assert_int_equal(cl_dcache_fill(l, "x", &a), 0);
	cl_dcache_change_begin(d);
	cl_dcache_change_end(d);
	cl_dcache_fill_end(d, l, 0);
	assert_int_equal(cl_dcache_lookup(d, 9, "x", &a, &ttl), -EAGAIN);

	/* A change between two misses: a writer, not a walk; no fetch. */
	assert_null(cl_dcache_want(d, 11));
	cl_dcache_change_begin(d);
	cl_dcache_change_end(d);
	assert_null(cl_dcache_want(d, 11));
	assert_non_null(l = cl_dcache_want(d, 11));
	cl_dcache_fill_end(d, l, -EIO);

	/* One at a time per directory; a failed fetch answers nothing. */
	assert_null(cl_dcache_want(d, 9));
	l = cl_dcache_want(d, 9);
	assert_non_null(l);
	assert_null(cl_dcache_want(d, 9));
	cl_dcache_fill_end(d, l, -EIO);
	assert_int_equal(cl_dcache_lookup(d, 9, "x", &a, &ttl), -EAGAIN);
	cl_dcache_free(d);
}

/* An answer holds until the fetch plus the timeout, never longer; a zero
 * timeout turns listings off. */
static void test_listing_ages(void **state)
{
	struct cl_dcache *d = cl_dcache_new(0.2), *off = cl_dcache_new(0);
	struct casfs_attr a;
	double ttl;

	(void)state;
	assert_int_equal(list_dir(d, 7, 3), 0);
	assert_int_equal(cl_dcache_lookup(d, 7, "f2", &a, &ttl), 0);
	assert_true(ttl > 0 && ttl <= 0.2);
	sleep_s(0.25);
	assert_int_equal(cl_dcache_lookup(d, 7, "f2", &a, &ttl), -EAGAIN);
	/* Misses too far apart never ask for a listing. */
	assert_null(cl_dcache_want(d, 8));
	sleep_s(0.25);
	assert_null(cl_dcache_want(d, 8));
	assert_null(cl_dcache_want(off, 8));
	assert_null(cl_dcache_want(off, 8));
	cl_dcache_free(d);
	cl_dcache_free(off);
}

/* A directory past the size a listing may have is walked the old way, and
 * not fetched again on the next misses. */
static void test_big_directory(void **state)
{
	struct cl_dcache *d = cl_dcache_new(10);
	struct casfs_attr a;
	double ttl;

	(void)state;
	assert_int_equal(list_dir(d, 7, 5000), -E2BIG);
	assert_int_equal(cl_dcache_lookup(d, 7, "f1", &a, &ttl), -EAGAIN);
	assert_null(cl_dcache_want(d, 7));
	assert_null(cl_dcache_want(d, 7));
	assert_int_equal(list_dir(d, 8, 4096), 0);	/* the largest kept */
	assert_int_equal(cl_dcache_lookup(d, 8, "f4095", &a, &ttl), 0);
	cl_dcache_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answers_after_second_miss),
		cmocka_unit_test(test_changes_silence_listings),
		cmocka_unit_test(test_listing_ages),
		cmocka_unit_test(test_big_directory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
