/* Unit tests for cl_dattr: which remembered attributes may answer the
 * kernel, and which must not (no cluster needed: a follow-up that is armed
 * but never sent completes as cancelled). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "client/cl_dattr.h"

static struct casfs_attr attr(uint64_t ino, uint64_t size, uint64_t mtime)
{
	struct casfs_attr a;

	memset(&a, 0, sizeof(a));
	a.ino = ino;
	a.mode = 0100644;
	a.nlink = 1;
	a.size = size;
	a.mtime.sec = mtime;
	a.ctime.sec = mtime;
	return a;
}

static void test_told_matches_only_same_attrs(void **state)
{
	struct cl_dattr *d = cl_dattr_new();
	struct casfs_attr a = attr(42, 100, 7), b;

	(void)state;
	b = a;
	assert_false(cl_dattr_is_told(d, &a));
	cl_dattr_told(d, &a);
	assert_true(cl_dattr_is_told(d, &b));
	b.size = 101;
	assert_false(cl_dattr_is_told(d, &b));
	b = a;
	b.ctime.nsec = 1;
	assert_false(cl_dattr_is_told(d, &b));
	b = a;
	b.atime.sec = 99;	/* atime is not compared: metad does not track reads */
	assert_true(cl_dattr_is_told(d, &b));
	b = attr(43, 100, 7);
	assert_false(cl_dattr_is_told(d, &b));
	cl_dattr_free(d);
}

static void test_open_answer_until_a_change(void **state)
{
	struct cl_dattr *d = cl_dattr_new();
	struct casfs_attr a = attr(5, 10, 3), out;
	double age;

	(void)state;
	assert_int_equal(cl_dattr_open_attr(d, 5, 1.0, &out, &age), -ENOENT);
	cl_dattr_opened(d, &a);
	assert_true(cl_dattr_is_told(d, &a));
	assert_int_equal(cl_dattr_open_attr(d, 5, 1.0, &out, &age), 0);
	assert_int_equal(out.size, 10);
	assert_true(age >= 0 && age < 1.0);
	/* too old for the caller's timeout */
	assert_int_equal(cl_dattr_open_attr(d, 5, 0.0, &out, &age), -ENOENT);
	/* an unlink/rename/link by this mount: no longer trusted */
	cl_dattr_changed(d);
	assert_int_equal(cl_dattr_open_attr(d, 5, 1.0, &out, &age), -ENOENT);
	cl_dattr_opened(d, &a);
	assert_int_equal(cl_dattr_open_attr(d, 5, 1.0, &out, &age), 0);
	cl_dattr_free(d);
}

static void test_cancelled_fetch_is_not_waited_for(void **state)
{
	struct cl_dattr *d = cl_dattr_new();
	struct casfs_attr out;
	struct timespec t0, t1;
	double age;

	(void)state;
	assert_int_equal(cl_dattr_take(d, 9, 1.0, &out, &age), -ENOENT);
	cl_dattr_begin(d, 9);
	cl_dattr_end();	/* the change never reached metad */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(cl_dattr_take(d, 9, 1.0, &out, &age), -ENOENT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 1);
	cl_dattr_forget(d, 9);
	assert_int_equal(cl_dattr_take(d, 9, 1.0, &out, &age), -ENOENT);
	cl_dattr_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_told_matches_only_same_attrs),
		cmocka_unit_test(test_open_answer_until_a_change),
		cmocka_unit_test(test_cancelled_fetch_is_not_waited_for),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
