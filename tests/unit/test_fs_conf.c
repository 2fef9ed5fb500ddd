/* Unit tests for the config format (fs/conf.c): the error contract (the
 * first bad line stops the load, and the message names file:line and the
 * reason), sections and comments, command-line overrides, and the value
 * parsers' edge cases. Config files are written to a fresh temp folder. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "fs/conf.h"

/* What a daemon's callback would do: known keys are recorded, "port"
 * must be a number, anything else is an unknown key. */
struct seen {
	int calls;
	char keys[16][64];
	char values[16][256];
};

static int test_cb(void *ud, const char *key, const char *value, char *why, size_t whylen)
{
	struct seen *s = ud;
	uint64_t v;

	if (s->calls < 16) {
		snprintf(s->keys[s->calls], sizeof(s->keys[0]), "%s", key);
		snprintf(s->values[s->calls], sizeof(s->values[0]), "%s", value);
	}
	s->calls++;
	if (strcmp(key, "port") == 0) {
		if (conf_parse_u64(value, 0, 65535, &v)) {
			snprintf(why, whylen, "port: '%s' is not a port number", value);
			return -EINVAL;
		}
		return 0;
	}
	if (strcmp(key, "silent") == 0)
		return -EINVAL;	/* fails without a reason */
	if (strcmp(key, "name") == 0 || strcmp(key, "net.listen") == 0 ||
	    strcmp(key, "empty") == 0)
		return 0;
	snprintf(why, whylen, "unknown key '%s'", key);
	return -EINVAL;
}

static char tmpdir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/casfs-conf.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Writes text to tmpdir/name; path receives the file's path. */
static void write_conf(const char *name, const char *text, char *path, size_t pathlen)
{
	FILE *f;

	snprintf(path, pathlen, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static int load(const char *text, struct seen *s, char *err, size_t errlen, char *path,
		size_t pathlen)
{
	memset(s, 0, sizeof(*s));
	err[0] = '\0';
	write_conf("test.conf", text, path, pathlen);
	return conf_load_file(path, test_cb, s, err, errlen);
}

static void test_good_file(void **state)
{
	struct seen s;
	char err[512], path[128];

	(void)state;
	assert_int_equal(load("# comment\n; another\n\nname = metad one\nport=9400\n"
			      "[net]\nlisten = 127.0.0.1:0  ; inline comment\n"
			      "[]\nempty =\n",
			      &s, err, sizeof(err), path, sizeof(path)), 0);
	assert_int_equal(s.calls, 4);
	assert_string_equal(s.keys[0], "name");
	assert_string_equal(s.values[0], "metad one");
	assert_string_equal(s.keys[1], "port");
	assert_string_equal(s.values[1], "9400");
	assert_string_equal(s.keys[2], "net.listen");
	assert_string_equal(s.values[2], "127.0.0.1:0");
	/* An empty section name means no prefix. */
	assert_string_equal(s.keys[3], "empty");
	assert_string_equal(s.values[3], "");
	assert_string_equal(err, "");
}

/* An indented line is a setting of its own, not the continuation of the
 * value above it (libinih's default). */
static void test_indented_lines(void **state)
{
	struct seen s;
	char err[512], path[128];

	(void)state;
	assert_int_equal(load("name = x\n    port = 99\n\tname = y\n", &s, err, sizeof(err),
			      path, sizeof(path)), 0);
	assert_int_equal(s.calls, 3);
	assert_string_equal(s.keys[0], "name");
	assert_string_equal(s.values[0], "x");
	assert_string_equal(s.keys[1], "port");
	assert_string_equal(s.values[1], "99");
	assert_string_equal(s.keys[2], "name");
	assert_string_equal(s.values[2], "y");
}

static void test_bad_value_names_line(void **state)
{
	struct seen s;
	char err[512], path[128], want[512];

	(void)state;
	assert_int_equal(load("name = x\n\nport = ninety\nname = y\n", &s, err, sizeof(err),
			      path, sizeof(path)), -EINVAL);
	snprintf(want, sizeof(want), "%s:3: port: 'ninety' is not a port number", path);
	assert_string_equal(err, want);
	/* The first bad line stops the load. */
	assert_int_equal(s.calls, 2);
}

static void test_unknown_key(void **state)
{
	struct seen s;
	char err[512], path[128], want[512];

	(void)state;
	assert_int_equal(load("name = x\nprot = 1\n", &s, err, sizeof(err), path,
			      sizeof(path)), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: unknown key 'prot'", path);
	assert_string_equal(err, want);
	/* Keys inside a section are named with it. */
	assert_int_equal(load("[disk]\npath = /x\n", &s, err, sizeof(err), path,
			      sizeof(path)), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: unknown key 'disk.path'", path);
	assert_string_equal(err, want);
	/* A callback that gives no reason still yields file:line. */
	assert_int_equal(load("\n\n\nsilent = 1\n", &s, err, sizeof(err), path,
			      sizeof(path)), -EINVAL);
	snprintf(want, sizeof(want), "%s:4: bad setting 'silent'", path);
	assert_string_equal(err, want);
}

static void test_syntax_error(void **state)
{
	struct seen s;
	char err[512], path[128], want[512];

	(void)state;
	assert_int_equal(load("name = x\nthis line has no equals sign\n", &s, err, sizeof(err),
			      path, sizeof(path)), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: syntax error (expected 'key = value')", path);
	assert_string_equal(err, want);
	assert_int_equal(load("[unclosed\nname = x\n", &s, err, sizeof(err), path,
			      sizeof(path)), -EINVAL);
	snprintf(want, sizeof(want), "%s:1: syntax error (expected 'key = value')", path);
	assert_string_equal(err, want);
}

/* A syntax error stops the load: a later bad setting must neither be
 * applied nor be the one reported. */
static void test_first_error_wins(void **state)
{
	struct seen s;
	char err[512], path[128], want[512];

	(void)state;
	assert_int_equal(load("name = a\ngarbage\nname = b\nport = x\n", &s, err, sizeof(err),
			      path, sizeof(path)), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: syntax error (expected 'key = value')", path);
	assert_string_equal(err, want);
	assert_int_equal(s.calls, 1);
	/* A bad setting before a syntax error is the one reported. */
	assert_int_equal(load("port = x\ngarbage\n", &s, err, sizeof(err), path,
			      sizeof(path)), -EINVAL);
	snprintf(want, sizeof(want), "%s:1: port: 'x' is not a port number", path);
	assert_string_equal(err, want);
}

/* Long lines are read whole (libinih alone splits them at 200 bytes and
 * parses the tail as a line of its own); one too long for the reader is
 * an error on its own line. */
static void test_long_lines(void **state)
{
	struct seen s;
	char err[512], path[128], want[512];
	static char text[12000];

	(void)state;
	strcpy(text, "name = ");
	memset(text + 7, 'v', 4000);
	strcpy(text + 4007, "\nport = 1\n");
	assert_int_equal(load(text, &s, err, sizeof(err), path, sizeof(path)), 0);
	assert_int_equal(s.calls, 2);
	assert_string_equal(s.keys[1], "port");

	strcpy(text, "port = 1\n\nname = ");
	memset(text + 17, 'v', 9000);
	strcpy(text + 9017, "\nport = 1\n");
	assert_int_equal(load(text, &s, err, sizeof(err), path, sizeof(path)), -EINVAL);
	snprintf(want, sizeof(want), "%s:3: line longer than", path);
	assert_memory_equal(err, want, strlen(want));
	assert_int_equal(s.calls, 1);

}

static void test_missing_file(void **state)
{
	struct seen s = { 0 };
	char err[512], path[160], want[512];

	(void)state;
	snprintf(path, sizeof(path), "%s/nonexistent.conf", tmpdir);
	assert_int_equal(conf_load_file(path, test_cb, &s, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "%s: %s", path, strerror(ENOENT));
	assert_string_equal(err, want);
	assert_int_equal(s.calls, 0);
	/* A directory is not a config file. */
	assert_true(conf_load_file(tmpdir, test_cb, &s, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, tmpdir));
}

static void test_conf_set(void **state)
{
	struct seen s = { 0 };
	char err[512] = "";

	(void)state;
	assert_int_equal(conf_set("port", "9400", test_cb, &s, err, sizeof(err)), 0);
	assert_int_equal(conf_set("port", "x", test_cb, &s, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "command line: port: port: 'x' is not a port number");
	assert_int_equal(conf_set("prot", "1", test_cb, &s, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "command line: prot: unknown key 'prot'");
	assert_int_equal(conf_set("silent", "1", test_cb, &s, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "command line: silent: bad setting");
	assert_int_equal(s.calls, 4);
}

static void test_parse_u64(void **state)
{
	uint64_t v = 7;

	(void)state;
	assert_int_equal(conf_parse_u64("0", 0, 10, &v), 0);
	assert_true(v == 0);
	assert_int_equal(conf_parse_u64("10", 0, 10, &v), 0);
	assert_true(v == 10);
	assert_int_equal(conf_parse_u64("11", 0, 10, &v), -ERANGE);
	assert_int_equal(conf_parse_u64("4", 5, 10, &v), -ERANGE);
	assert_int_equal(conf_parse_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_true(conf_parse_u64("18446744073709551616", 0, UINT64_MAX, &v) < 0);
	assert_int_equal(conf_parse_u64("", 0, 10, &v), -EINVAL);
	assert_int_equal(conf_parse_u64("-1", 0, UINT64_MAX, &v), -EINVAL);
	assert_int_equal(conf_parse_u64("5x", 0, 10, &v), -EINVAL);
	assert_int_equal(conf_parse_u64("x", 0, 10, &v), -EINVAL);
	assert_int_equal(conf_parse_u64("5 ", 0, 10, &v), -EINVAL);
	/* strtoull would accept these: a sign or blank hidden after a space
	 * must not turn into a huge number. */
	assert_int_equal(conf_parse_u64(" -1", 0, UINT64_MAX, &v), -EINVAL);
	assert_int_equal(conf_parse_u64(" 5", 0, 10, &v), -EINVAL);
	assert_int_equal(conf_parse_u64("+5", 0, 10, &v), -EINVAL);
	assert_true(v == UINT64_MAX);
}

static void test_parse_size(void **state)
{
	static const struct { const char *s; uint64_t v; } good[] = {
		{ "0", 0 }, { "1", 1 }, { "512", 512 }, { "1K", 1024 }, { "1k", 1024 },
		{ "64K", 64 << 10 }, { "4M", 4 << 20 }, { "4MB", 4 << 20 },
		{ "4MiB", 4 << 20 }, { "2G", 2ULL << 30 }, { "3T", 3ULL << 40 },
		{ "16777215T", 16777215ULL << 40 },
		{ "18446744073709551615", UINT64_MAX },
	};
	static const char *const bad[] = {
		"", "K", "-1", " -1", "+1", "1X", "1KK", "1 K", "1Kb", "1KiBx", "1.5M", "M1",
		" 1",
	};
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 0;
		assert_int_equal(conf_parse_size(good[i].s, &v), 0);
		assert_true(v == good[i].v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (conf_parse_size(bad[i], &v) != -EINVAL)
			fail_msg("conf_parse_size accepted \"%s\"", bad[i]);
	/* 2^64 does not fit. */
	assert_int_equal(conf_parse_size("16777216T", &v), -ERANGE);
	assert_int_equal(conf_parse_size("17179869184G", &v), -ERANGE);
}

static void test_parse_bool(void **state)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	static const char *const bad[] = { "", "2", "y", "n", "yess", "YES", "True", " on" };
	int v;

	(void)state;
	for (int i = 0; i < 4; i++) {
		v = 0;
		assert_int_equal(conf_parse_bool(yes[i], &v), 0);
		assert_int_equal(v, 1);
		assert_int_equal(conf_parse_bool(no[i], &v), 0);
		assert_int_equal(v, 0);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(conf_parse_bool(bad[i], &v), -EINVAL);
}

static void test_parse_addr(void **state)
{
	char host[64];
	uint16_t port = 1;

	(void)state;
	assert_int_equal(conf_parse_addr("127.0.0.1:0", host, sizeof(host), &port), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 0);
	assert_int_equal(conf_parse_addr("meta.example:65535", host, sizeof(host), &port), 0);
	assert_string_equal(host, "meta.example");
	assert_int_equal(port, 65535);
	/* The last colon separates the port, so bracketed IPv6 works. */
	assert_int_equal(conf_parse_addr("[::1]:9400", host, sizeof(host), &port), 0);
	assert_string_equal(host, "[::1]");
	assert_int_equal(port, 9400);
	assert_int_equal(conf_parse_addr("host", host, sizeof(host), &port), -EINVAL);
	assert_int_equal(conf_parse_addr(":80", host, sizeof(host), &port), -EINVAL);
	assert_int_equal(conf_parse_addr("host:", host, sizeof(host), &port), -EINVAL);
	assert_int_equal(conf_parse_addr("host:65536", host, sizeof(host), &port), -EINVAL);
	assert_int_equal(conf_parse_addr("host:-1", host, sizeof(host), &port), -EINVAL);
	assert_int_equal(conf_parse_addr("host:8x", host, sizeof(host), &port), -EINVAL);
	assert_int_equal(conf_parse_addr("", host, sizeof(host), &port), -EINVAL);
	/* A host that does not fit is refused, not truncated. */
	assert_int_equal(conf_parse_addr("abcd:1", host, 4, &port), -EINVAL);
	assert_int_equal(conf_parse_addr("abc:1", host, 4, &port), 0);
	assert_string_equal(host, "abc");
}

/* An argument selects tests by name (cmocka's * and ? wildcards). */
int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_indented_lines),
		cmocka_unit_test(test_bad_value_names_line),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_first_error_wins),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_conf_set),
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_bool),
		cmocka_unit_test(test_parse_addr),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("fs_conf", tests, setup, teardown);
}
