/* cli_out: what the casfs CLI prints. A small JSON emitter (for --json: every
 * string escaped per RFC 8259, so any name a server reports stays valid
 * JSON), aligned text tables for people, and human formats for sizes and
 * durations. Single-threaded; each object belongs to its caller. */
#ifndef CASFS_CLI_OUT_H
#define CASFS_CLI_OUT_H

#include <stdint.h>
#include <stdio.h>

#define CLI_JSON_DEPTH 16

/* A streaming JSON writer. key is the member name inside an object and must
 * be NULL inside an array (and for the top-level value). Pretty-printed with
 * two-space indentation and "key": value members. */
struct cli_json {
	FILE *f;
	int depth;
	int count[CLI_JSON_DEPTH];	/* members written at each level */
};

void cli_json_init(struct cli_json *j, FILE *f);
void cli_json_obj_begin(struct cli_json *j, const char *key);
void cli_json_obj_end(struct cli_json *j);
void cli_json_arr_begin(struct cli_json *j, const char *key);
void cli_json_arr_end(struct cli_json *j);
/* s may be NULL (written as null); bytes >= 0x80 pass through unchanged,
 * control characters, quotes and backslashes are escaped. */
void cli_json_str(struct cli_json *j, const char *key, const char *s);
void cli_json_u64(struct cli_json *j, const char *key, uint64_t v);
void cli_json_i64(struct cli_json *j, const char *key, int64_t v);
void cli_json_bool(struct cli_json *j, const char *key, int v);
void cli_json_null(struct cli_json *j, const char *key);
/* Finite values only (NaN/inf become null: JSON has no spelling for them). */
void cli_json_double(struct cli_json *j, const char *key, double v);
/* Ends the document with a newline. */
void cli_json_finish(struct cli_json *j);

/* A text table: a header row, then rows of cells, printed with every column
 * padded to its widest cell. Columns whose header starts with '>' are right
 * aligned (numbers); the '>' is not printed. */
struct cli_table;

struct cli_table *cli_table_new(int ncols, const char *const *headers);
void cli_table_free(struct cli_table *t);
/* Appends one cell to the current row; a new row starts after ncols cells. */
void cli_table_cell(struct cli_table *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void cli_table_print(const struct cli_table *t, FILE *f);

/* "0 B", "512 B", "1.5 KiB", "3.0 GiB": binary units, one decimal. out holds
 * at least 16 bytes. */
void cli_fmt_size(uint64_t bytes, char *out, size_t outlen);
/* "45s", "3m05s", "2h01m", "3d04h". out holds at least 16 bytes. */
void cli_fmt_duration(uint64_t seconds, char *out, size_t outlen);

#endif
