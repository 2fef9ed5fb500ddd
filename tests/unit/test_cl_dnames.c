/* Unit tests for the name sets that answer the LOOKUP of absent names
 * (cl_dnames): when a set is fetched, what it answers, how this mount's
 * own changes keep it complete, and every way it stops answering (age,
 * a change during its fetch, size, a stale proof). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "client/cl_dnames.h"

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

	nanosleep(&ts, NULL);
}

static int absent(struct cl_dnames *n, uint64_t dir, const char *name)
{
	double ttl = -1;
	int rc = cl_dnames_absent(n, dir, name, &ttl);

	if (rc == -ENOENT)
		assert_true(ttl > 0);
	return rc;
}

/* Fills s with f0..f(count-1) and ends the fetch with what filling gave. */
static int fill(struct cl_dnames *n, struct cl_dnset *s, int count)
{
	char name[32];
	int rc = 0;

	for (int i = 0; i < count && !rc; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		rc = cl_dnames_fill(s, name);
	}
	cl_dnames_fill_end(n, s, rc);
	return rc;
}

/* A directory not seen yet is fetched at its second miss: that fetch. */
static struct cl_dnset *second_miss(struct cl_dnames *n, uint64_t dir)
{
	struct cl_dnset *s;

	assert_null(cl_dnames_want(n, dir));
	s = cl_dnames_want(n, dir);
	assert_non_null(s);
	return s;
}

static void test_made_dir_answers_and_own_changes_show(void **state)
{
	struct cl_dnames *n = cl_dnames_new(10);

	(void)state;
	assert_int_equal(absent(n, 7, "a"), -EAGAIN);
	cl_dnames_made(n, 7, cl_dnames_now());
	assert_int_equal(absent(n, 7, "a"), -ENOENT);
	assert_int_equal(absent(n, 8, "a"), -EAGAIN);
	cl_dnames_add(n, 7, "a");
	assert_int_equal(absent(n, 7, "a"), -EAGAIN);
	assert_int_equal(absent(n, 7, "b"), -ENOENT);
	cl_dnames_add(n, 7, "a");	/* twice is once */
	cl_dnames_remove(n, 7, "a");
	assert_int_equal(absent(n, 7, "a"), -ENOENT);
	cl_dnames_remove(n, 7, "never");
	cl_dnames_free(n);
}

static void test_answers_only_within_timeout(void **state)
{
	struct cl_dnames *n = cl_dnames_new(0.2);
	double ttl;

	(void)state;
	cl_dnames_made(n, 7, cl_dnames_now());
	assert_int_equal(cl_dnames_absent(n, 7, "a", &ttl), -ENOENT);
	assert_true(ttl > 0 && ttl <= 0.2);
	sleep_s(0.25);
	assert_int_equal(absent(n, 7, "a"), -EAGAIN);
	/* The time a mkdir was sent counts, not when its answer came. */
	cl_dnames_made(n, 9, cl_dnames_now() - 0.3);
	assert_int_equal(absent(n, 9, "a"), -EAGAIN);
	cl_dnames_free(n);
}

static void test_second_miss_fetches(void **state)
{
	struct cl_dnames *n = cl_dnames_new(10);
	struct cl_dnset *s;

	(void)state;
	s = second_miss(n, 5);
	assert_null(cl_dnames_want(n, 5));	/* one fetch at a time */
	assert_int_equal(fill(n, s, 3), 0);
	assert_int_equal(absent(n, 5, "f1"), -EAGAIN);
	assert_int_equal(absent(n, 5, "f3"), -ENOENT);
	/* A fresh set is not fetched again, even when metad finds a name of
	 * it gone. */
	assert_null(cl_dnames_want(n, 5));
	assert_null(cl_dnames_want(n, 5));
	cl_dnames_free(n);
}

/* A directory that shares 5's slot (slots are direct-mapped by a
 * multiplicative hash's top byte). */
static uint64_t slot_mate_of_5(void)
{
	uint64_t slot = (5 * 0x9E3779B97F4A7C15ull) >> 56;

	for (uint64_t d = 6;; d++)
		if ((d * 0x9E3779B97F4A7C15ull) >> 56 == slot)
			return d;
}

static void test_misses_counted_per_directory(void **state)
{
	struct cl_dnames *n = cl_dnames_new(10);
	uint64_t mate = slot_mate_of_5();
	struct cl_dnset *s;

	(void)state;
	assert_null(cl_dnames_want(n, 5));
	assert_null(cl_dnames_want(n, mate));
	assert_null(cl_dnames_want(n, 5));	/* its count started over */
	s = cl_dnames_want(n, 5);
	assert_non_null(s);
	assert_int_equal(fill(n, s, 0), 0);
	cl_dnames_free(n);
}

static void test_own_add_during_fetch_spoils_it(void **state)
{
	struct cl_dnames *n = cl_dnames_new(10);
	struct cl_dnset *s;

	(void)state;
	s = second_miss(n, 5);
	cl_dnames_add(n, 5, "new");
	assert_int_equal(fill(n, s, 3), 0);
	assert_int_equal(absent(n, 5, "f3"), -EAGAIN);
	assert_int_equal(absent(n, 5, "new"), -EAGAIN);
	/* An add elsewhere does not. */
	s = second_miss(n, 6);
	cl_dnames_add(n, 5, "other");
	assert_int_equal(fill(n, s, 3), 0);
	assert_int_equal(absent(n, 6, "f3"), -ENOENT);
	cl_dnames_free(n);
}

static void test_failed_fetch_answers_nothing(void **state)
{
	struct cl_dnames *n = cl_dnames_new(10);
	struct cl_dnset *s;

	(void)state;
	s = second_miss(n, 5);
	assert_int_equal(cl_dnames_fill(s, "a"), 0);
	cl_dnames_fill_end(n, s, -EIO);
	assert_int_equal(absent(n, 5, "b"), -EAGAIN);
	cl_dnames_free(n);
}

static void test_expired_set_refetched_when_it_paid(void **state)
{
	struct cl_dnames *n = cl_dnames_new(0.2);
	struct cl_dnset *s;

	(void)state;
	/* A set that answered: the first miss after it ran out fetches. */
	cl_dnames_made(n, 7, cl_dnames_now());
	assert_int_equal(absent(n, 7, "a"), -ENOENT);
	sleep_s(0.25);
	s = cl_dnames_want(n, 7);
	assert_non_null(s);
	assert_int_equal(fill(n, s, 2000), 0);
	assert_int_equal(absent(n, 7, "f1999"), -EAGAIN);
	assert_int_equal(absent(n, 7, "g"), -ENOENT);
	/* This one saved one round trip and costs two pages: three misses
	 * within the timeout (more than it costs) fetch it again. */
	sleep_s(0.25);
	assert_null(cl_dnames_want(n, 7));
	assert_null(cl_dnames_want(n, 7));
	s = cl_dnames_want(n, 7);
	assert_non_null(s);
	assert_int_equal(fill(n, s, 1), 0);
	assert_int_equal(absent(n, 7, "f1"), -ENOENT);
	cl_dnames_free(n);
}

static void test_too_big_is_left_alone(void **state)
{
	struct cl_dnames *n = cl_dnames_new(10);
	struct cl_dnset *s;

	(void)state;
	s = second_miss(n, 5);
	assert_int_equal(fill(n, s, 70000), -E2BIG);
	assert_int_equal(absent(n, 5, "zz"), -EAGAIN);
	for (int i = 0; i < 10; i++)
		assert_null(cl_dnames_want(n, 5));
	cl_dnames_free(n);
}

static void test_set_that_outgrows_its_size_is_dropped(void **state)
{
	struct cl_dnames *n = cl_dnames_new(10);
	struct cl_dnset *s;
	char name[32];

	(void)state;
	s = second_miss(n, 5);
	assert_int_equal(fill(n, s, 65536), 0);
	assert_int_equal(absent(n, 5, "zz"), -ENOENT);
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "g%d", i);
		cl_dnames_add(n, 5, name);
	}
	assert_int_equal(absent(n, 5, "zz"), -EAGAIN);
	assert_int_equal(absent(n, 5, "g0"), -EAGAIN);
	/* Nor is it fetched again soon: it would not fit. */
	for (int i = 0; i < 10; i++)
		assert_null(cl_dnames_want(n, 5));
	cl_dnames_free(n);
}

/* All sets together hold at most 262,144 names. A set past that is not
 * installed, and an add that would pass it drops its directory's set.
 * (Directories 1000..6000 fall in different slots.) */
static void test_total_bounded(void **state)
{
	struct cl_dnames *n = cl_dnames_new(10);

	(void)state;
	for (uint64_t d = 1000; d <= 4000; d += 1000)
		assert_int_equal(fill(n, second_miss(n, d), 65535), 0);
	assert_int_equal(fill(n, second_miss(n, 5000), 4), 0);	/* 262,144 */
	assert_int_equal(absent(n, 5000, "zz"), -ENOENT);
	assert_int_equal(fill(n, second_miss(n, 6000), 1), 0);	/* one too many */
	assert_int_equal(absent(n, 6000, "zz"), -EAGAIN);
	cl_dnames_add(n, 1000, "new");
	assert_int_equal(absent(n, 1000, "zz"), -EAGAIN);
	cl_dnames_add(n, 2000, "new");	/* room again since 1000 went */
	assert_int_equal(absent(n, 2000, "zz"), -ENOENT);
	assert_int_equal(absent(n, 2000, "new"), -EAGAIN);
	cl_dnames_free(n);
}

static void test_drop_forgets_and_spoils(void **state)
{
	struct cl_dnames *n = cl_dnames_new(10);
	struct cl_dnset *s;

	(void)state;
	cl_dnames_made(n, 7, cl_dnames_now());
	cl_dnames_drop(n, 7);
	assert_int_equal(absent(n, 7, "a"), -EAGAIN);
	s = second_miss(n, 5);
	cl_dnames_drop(n, 5);
	assert_int_equal(fill(n, s, 2), 0);
	assert_int_equal(absent(n, 5, "x"), -EAGAIN);
	cl_dnames_free(n);
}

static void test_zero_timeout_disables(void **state)
{
	struct cl_dnames *n = cl_dnames_new(0);

	(void)state;
	cl_dnames_made(n, 7, cl_dnames_now());
	assert_int_equal(absent(n, 7, "a"), -EAGAIN);
	for (int i = 0; i < 5; i++)
		assert_null(cl_dnames_want(n, 5));
	cl_dnames_free(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_made_dir_answers_and_own_changes_show),
		cmocka_unit_test(test_answers_only_within_timeout),
		cmocka_unit_test(test_second_miss_fetches),
		cmocka_unit_test(test_misses_counted_per_directory),
		cmocka_unit_test(test_own_add_during_fetch_spoils_it),
		cmocka_unit_test(test_failed_fetch_answers_nothing),
		cmocka_unit_test(test_expired_set_refetched_when_it_paid),
		cmocka_unit_test(test_too_big_is_left_alone),
		cmocka_unit_test(test_set_that_outgrows_its_size_is_dropped),
		cmocka_unit_test(test_total_bounded),
		cmocka_unit_test(test_drop_forgets_and_spoils),
		cmocka_unit_test(test_zero_timeout_disables),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
