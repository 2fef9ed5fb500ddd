/* Unit tests for the casfs CLI's output: the JSON emitter (structure,
 * separators, escaping of every control character, quotes and backslashes),
 * text tables and the human size/duration formats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/cli_out.h"

/* Runs fn with a memory stream and returns what it wrote (caller frees). */
static char *capture(void (*fn)(FILE *f))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	fn(f);
	fclose(f);
	return buf;
}

static void emit_nested(FILE *f)
{
	struct cli_json j;

	cli_json_init(&j, f);
	cli_json_obj_begin(&j, NULL);
	cli_json_str(&j, "name", "a");
	cli_json_u64(&j, "big", UINT64_MAX);
	cli_json_i64(&j, "neg", -5);
	cli_json_bool(&j, "yes", 1);
	cli_json_null(&j, "none");
	cli_json_arr_begin(&j, "list");
	cli_json_u64(&j, NULL, 1);
	cli_json_obj_begin(&j, NULL);
	cli_json_obj_end(&j);
	cli_json_arr_begin(&j, NULL);
	cli_json_arr_end(&j);
	cli_json_arr_end(&j);
	cli_json_double(&j, "ratio", 1.5);
	cli_json_obj_end(&j);
	cli_json_finish(&j);
}

static void test_json_structure(void **state)
{
	char *s = capture(emit_nested);

	(void)state;
	assert_string_equal(s, "{\n"
			       "  \"name\": \"a\",\n"
			       "  \"big\": 18446744073709551615,\n"
			       "  \"neg\": -5,\n"
			       "  \"yes\": true,\n"
			       "  \"none\": null,\n"
			       "  \"list\": [\n"
			       "    1,\n"
			       "    {},\n"
			       "    []\n"
			       "  ],\n"
			       "  \"ratio\": 1.5\n"
			       "}\n");
	free(s);
}

static void emit_escapes(FILE *f)
{
	struct cli_json j;
	char ctl[40];

	for (int i = 1; i < 32; i++)
		ctl[i - 1] = (char)i;
	ctl[31] = '\0';
	cli_json_init(&j, f);
	cli_json_obj_begin(&j, NULL);
	cli_json_str(&j, "q\"k", "a\"b\\c/d");
	cli_json_str(&j, "ctl", ctl);
	cli_json_str(&j, "utf8", "h\xc3\xa9 \x7f");
	cli_json_str(&j, "null", NULL);
	cli_json_double(&j, "nan", 0.0 / 0.0);
	cli_json_obj_end(&j);
	cli_json_finish(&j);
}

static void test_json_escapes(void **state)
{
	char *s = capture(emit_escapes);

	(void)state;
	assert_non_null(strstr(s, "\"q\\\"k\": \"a\\\"b\\\\c/d\""));
	assert_non_null(strstr(s, "\"ctl\": \"\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007"
				  "\\b\\t\\n\\u000b\\f\\r\\u000e"));
	assert_non_null(strstr(s, "\\u001f\""));
	assert_non_null(strstr(s, "\"utf8\": \"h\xc3\xa9 \\u007f\""));
	assert_non_null(strstr(s, "\"null\": null"));
	assert_non_null(strstr(s, "\"nan\": null"));
	/* No raw control character survives anywhere but the newlines of the
	 * pretty-printing. */
	for (const char *p = s; *p; p++)
		assert_true((unsigned char)*p >= 0x20 || *p == '\n');
	free(s);
}

static void emit_top_array(FILE *f)
{
	struct cli_json j;

	cli_json_init(&j, f);
	cli_json_arr_begin(&j, NULL);
	cli_json_arr_end(&j);
	cli_json_finish(&j);
}

static void test_json_empty_array(void **state)
{
	char *s = capture(emit_top_array);

	(void)state;
	assert_string_equal(s, "[]\n");
	free(s);
}

static void emit_table(FILE *f)
{
	static const char *const hdr[] = { ">ID", "ADDRESS", "STATE" };
	struct cli_table *t = cli_table_new(3, hdr);

	cli_table_cell(t, "%d", 1);
	cli_table_cell(t, "%s", "127.0.0.1:4000");
	cli_table_cell(t, "up");
	cli_table_cell(t, "%d", 12);
	cli_table_cell(t, "h:1");
	cli_table_cell(t, "draining");
	cli_table_print(t, f);
	cli_table_free(t);
}

static void test_table(void **state)
{
	char *s = capture(emit_table);

	(void)state;
	assert_string_equal(s, "ID  ADDRESS         STATE\n"
			       " 1  127.0.0.1:4000  up\n"
			       "12  h:1             draining\n");
	free(s);
}

static void emit_empty_table(FILE *f)
{
	static const char *const hdr[] = { "A", ">B" };
	struct cli_table *t = cli_table_new(2, hdr);

	cli_table_print(t, f);
	cli_table_free(t);
}

static void test_table_empty(void **state)
{
	char *s = capture(emit_empty_table);

	(void)state;
	assert_string_equal(s, "A  B\n");
	free(s);
}

static void test_sizes(void **state)
{
	char b[16];

	(void)state;
	cli_fmt_size(0, b, sizeof(b));
	assert_string_equal(b, "0 B");
	cli_fmt_size(1023, b, sizeof(b));
	assert_string_equal(b, "1023 B");
	cli_fmt_size(1536, b, sizeof(b));
	assert_string_equal(b, "1.5 KiB");
	cli_fmt_size(3ull << 30, b, sizeof(b));
	assert_string_equal(b, "3.0 GiB");
	cli_fmt_size(UINT64_MAX, b, sizeof(b));
	assert_string_equal(b, "16.0 EiB");
}

static void test_durations(void **state)
{
	char b[16];

	(void)state;
	cli_fmt_duration(45, b, sizeof(b));
	assert_string_equal(b, "45s");
	cli_fmt_duration(185, b, sizeof(b));
	assert_string_equal(b, "3m05s");
	cli_fmt_duration(7260, b, sizeof(b));
	assert_string_equal(b, "2h01m");
	cli_fmt_duration(3 * 86400 + 4 * 3600, b, sizeof(b));
	assert_string_equal(b, "3d04h");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_structure),
		cmocka_unit_test(test_json_escapes),
		cmocka_unit_test(test_json_empty_array),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_table_empty),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_durations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
