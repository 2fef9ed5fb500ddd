/* Unit tests for operator logging (fs/log.c): level names, filtering, and
 * the one-line-per-event format, captured by pointing stderr at a pipe. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "fs/log.h"

static void test_level_parse(void **state)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	static const char *const bad[] = {
		"", "ERROR", "Warn", "warning", "inf", "debug ", " error", "4", "trace",
	};
	enum log_level lvl;

	(void)state;
	for (int i = 0; i < 4; i++) {
		lvl = (enum log_level)-1;
		assert_int_equal(log_level_parse(names[i], &lvl), 0);
		assert_int_equal(lvl, i);
	}
	assert_int_equal(LOG_LVL_ERROR, 0);
	assert_true(LOG_LVL_ERROR < LOG_LVL_WARN && LOG_LVL_WARN < LOG_LVL_INFO &&
		    LOG_LVL_INFO < LOG_LVL_DEBUG);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(log_level_parse(bad[i], &lvl), -EINVAL);
}

/* Runs the logging calls of which with stderr on a pipe and returns what
 * was written (NUL-terminated, in out). */
static size_t capture(void (*which)(void), char *out, size_t cap)
{
	int p[2], saved;
	ssize_t n;
	size_t got = 0;

	assert_int_equal(pipe(p), 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(p[1], STDERR_FILENO) >= 0);
	which();
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	close(p[1]);
	while (got + 1 < cap && (n = read(p[0], out + got, cap - 1 - got)) > 0)
		got += (size_t)n;
	close(p[0]);
	out[got] = '\0';
	return got;
}

static void log_some(void)
{
	log_init("unit", LOG_LVL_WARN, 0);
	log_debug("hidden %d", 1);
	log_info("hidden %d", 2);
	log_warn("shown %d", 3);
	log_error("shown %s", "four");
}

static void test_filter_and_format(void **state)
{
	char out[4096], want[64];
	char *nl;

	(void)state;
	capture(log_some, out, sizeof(out));
	assert_null(strstr(out, "hidden"));
	/* Two lines, each "TIMESTAMP unit[PID] LEVEL message". */
	nl = strchr(out, '\n');
	assert_non_null(nl);
	assert_non_null(strchr(nl + 1, '\n'));
	assert_int_equal(nl[1 + strcspn(nl + 1, "\n") + 1], '\0');
	snprintf(want, sizeof(want), " unit[%d] WARN shown 3\n", (int)getpid());
	assert_non_null(strstr(out, want));
	snprintf(want, sizeof(want), " unit[%d] ERROR shown four\n", (int)getpid());
	assert_non_null(strstr(out, want));
	/* An ISO 8601 UTC timestamp with milliseconds starts the line. */
	assert_true(strlen(out) > 24);
	assert_int_equal(out[4], '-');
	assert_int_equal(out[10], 'T');
	assert_int_equal(out[19], '.');
	assert_int_equal(out[23], 'Z');
}

static void log_long(void)
{
	static char big[3000];

	memset(big, 'x', sizeof(big) - 1);
	log_init("unit", LOG_LVL_DEBUG, 0);
	log_debug("%s", big);
	log_info("after");
}

/* An event too long for the line buffer is cut, still as one line. */
static void test_long_line(void **state)
{
	char out[8192];
	size_t n;
	char *nl;

	(void)state;
	n = capture(log_long, out, sizeof(out));
	nl = strchr(out, '\n');
	assert_non_null(nl);
	assert_true((size_t)(nl - out) < 1024);
	assert_non_null(strstr(nl + 1, "INFO after\n"));
	assert_int_equal(out[n - 1], '\n');
}

/* An argument selects tests by name (cmocka's * and ? wildcards). */
static void log_forged(void)
{
	log_init("unit", LOG_LVL_INFO, 0);
	log_warn("bad name '%s' from peer", "x\n2026-01-01T00:00:00.000Z metad[1] ERROR forged\r\x1b[2J\x7f");
}

/* Peer-supplied text cannot start a log line of its own or send terminal
 * escapes: control characters become '?'. */
static void test_no_forged_lines(void **state)
{
	char out[4096];
	size_t n;

	(void)state;
	n = capture(log_forged, out, sizeof(out));
	assert_true(n > 0);
	assert_ptr_equal(strchr(out, '\n'), out + n - 1);
	assert_null(strchr(out, '\x1b'));
	assert_null(strchr(out, '\r'));
	assert_non_null(strstr(out, "WARN bad name 'x?2026-01-01T00:00:00.000Z metad[1] ERROR "
				    "forged??[2J?' from peer\n"));
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_level_parse),
		cmocka_unit_test(test_filter_and_format),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_no_forged_lines),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("fs_log", tests, NULL, NULL);
}
