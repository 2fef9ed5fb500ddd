/* Unit tests for the name table under the client's directory caches
 * (cl_ntab): payloads found by name across growth, removal from any spot
 * of a chain, payloads zeroed and aligned. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "client/cl_ntab.h"

static void test_payloads_survive_growth(void **state)
{
	struct cl_ntab t;
	char name[32];
	int is_new;

	(void)state;
	cl_ntab_init(&t, sizeof(uint64_t));
	for (uint64_t i = 0; i < 20000; i++) {
		uint64_t *p;

		snprintf(name, sizeof(name), "n%llu", (unsigned long long)i);
		p = cl_ntab_put(&t, name, &is_new);
		assert_true(is_new);
		assert_int_equal(*p, 0);
		assert_int_equal((uintptr_t)p % sizeof(uint64_t), 0);
		*p = i * 3;
	}
	assert_int_equal(t.n, 20000);
	for (uint64_t i = 0; i < 20000; i++) {
		uint64_t *p;

		snprintf(name, sizeof(name), "n%llu", (unsigned long long)i);
		p = cl_ntab_find(&t, name);
		assert_non_null(p);
		assert_int_equal(*p, i * 3);
	}
	assert_null(cl_ntab_find(&t, "n20000"));
	assert_int_equal(*(uint64_t *)cl_ntab_put(&t, "n7", &is_new), 21);
	assert_false(is_new);
	assert_int_equal(t.n, 20000);
	cl_ntab_clear(&t);
}

static void test_remove_anywhere(void **state)
{
	struct cl_ntab t;
	char name[32];

	(void)state;
	cl_ntab_init(&t, 0);
	/* 60 names in 64 buckets: some share a chain. */
	for (int i = 0; i < 60; i++) {
		snprintf(name, sizeof(name), "x%d", i);
		cl_ntab_put(&t, name, NULL);
	}
	for (int i = 0; i < 60; i += 3) {
		snprintf(name, sizeof(name), "x%d", i);
		assert_int_equal(cl_ntab_remove(&t, name), 0);
		assert_int_equal(cl_ntab_remove(&t, name), -ENOENT);
	}
	assert_int_equal(t.n, 40);
	for (int i = 0; i < 60; i++) {
		snprintf(name, sizeof(name), "x%d", i);
		if (i % 3)
			assert_non_null(cl_ntab_find(&t, name));
		else
			assert_null(cl_ntab_find(&t, name));
	}
	assert_int_equal(cl_ntab_remove(&t, ""), -ENOENT);
	cl_ntab_put(&t, "", NULL);	/* any string is a name here */
	assert_non_null(cl_ntab_find(&t, ""));
	cl_ntab_clear(&t);
	assert_int_equal(t.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_payloads_survive_growth),
		cmocka_unit_test(test_remove_anywhere),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
