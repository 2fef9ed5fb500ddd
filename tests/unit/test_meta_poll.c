/* metad's polling policy: it polls while requests keep coming within the
 * window, stops after a few empty windows, tries again only now and then,
 * and never polls when poll_us is 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "metad/meta_poll.h"

static void test_off_never_polls(void **state)
{
	struct meta_poll p;

	(void)state;
	meta_poll_init(&p, 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(meta_poll_window(&p), 0);
}

static void test_hits_keep_polling(void **state)
{
	struct meta_poll p;

	(void)state;
	meta_poll_init(&p, 200);
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(meta_poll_window(&p), 200);
		meta_poll_result(&p, 1);
	}
	/* a long run of hits leaves room for a few misses, not many */
	int windows = 0;

	while (meta_poll_window(&p) && windows < 100) {
		meta_poll_result(&p, 0);
		windows++;
	}
	assert_true(windows >= 2);
	assert_true(windows <= 5);
}

/* A slow stream (one request per millisecond, window 200 µs) misses every
 * window: after the first few it polls once per 64 turns. */
static void test_misses_stop_polling(void **state)
{
	struct meta_poll p;
	int polled = 0;

	(void)state;
	meta_poll_init(&p, 200);
	for (int i = 0; i < 6400; i++) {
		if (meta_poll_window(&p)) {
			polled++;
			meta_poll_result(&p, 0);
		}
	}
	assert_true(polled >= 100);
	assert_true(polled <= 102);
}

/* A retry that catches a request brings polling back at once. */
static void test_retry_hit_resumes(void **state)
{
	struct meta_poll p;
	int i;

	(void)state;
	meta_poll_init(&p, 50);
	while (meta_poll_window(&p))
		meta_poll_result(&p, 0);
	for (i = 1; !meta_poll_window(&p); i++)
		assert_true(i < 64);
	meta_poll_result(&p, 1);
	for (i = 0; i < 10; i++) {
		assert_int_equal(meta_poll_window(&p), 50);
		meta_poll_result(&p, 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_off_never_polls),
		cmocka_unit_test(test_hits_keep_polling),
		cmocka_unit_test(test_misses_stop_polling),
		cmocka_unit_test(test_retry_hit_resumes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
