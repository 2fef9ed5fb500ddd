/* cli_out: JSON emitter, text tables and human number formats for the casfs
 * CLI. The JSON writer is streaming and keeps only a comma counter per
 * level, so output is produced in one pass; callers are trusted to nest
 * begin/end correctly (a mistake is a programming error, caught by the unit
 * tests, not by runtime checks). */
#include "client/cli_out.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "fs/xmalloc.h"

void cli_json_init(struct cli_json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
}

static void json_indent(struct cli_json *j)
{
	for (int i = 0; i < j->depth; i++)
		fputs("  ", j->f);
}

static void json_escape(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		case '\b': fputs("\\b", f); break;
		case '\f': fputs("\\f", f); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

/* Writes the separator, indentation and key that precede any value. */
static void json_member(struct cli_json *j, const char *key)
{
	if (j->depth > 0) {
		if (j->count[j->depth]++)
			fputc(',', j->f);
		fputc('\n', j->f);
		json_indent(j);
	}
	if (key) {
		json_escape(j->f, key);
		fputs(": ", j->f);
	}
}

static void json_open(struct cli_json *j, const char *key, char c)
{
	json_member(j, key);
	fputc(c, j->f);
	if (j->depth + 1 < CLI_JSON_DEPTH)
		j->depth++;
	j->count[j->depth] = 0;
}

static void json_close(struct cli_json *j, char c)
{
	int had = j->count[j->depth];

	if (j->depth > 0)
		j->depth--;
	if (had) {
		fputc('\n', j->f);
		json_indent(j);
	}
	fputc(c, j->f);
}

void cli_json_obj_begin(struct cli_json *j, const char *key) { json_open(j, key, '{'); }
void cli_json_obj_end(struct cli_json *j) { json_close(j, '}'); }
void cli_json_arr_begin(struct cli_json *j, const char *key) { json_open(j, key, '['); }
void cli_json_arr_end(struct cli_json *j) { json_close(j, ']'); }

void cli_json_str(struct cli_json *j, const char *key, const char *s)
{
	json_member(j, key);
	if (s)
		json_escape(j->f, s);
	else
		fputs("null", j->f);
}

void cli_json_u64(struct cli_json *j, const char *key, uint64_t v)
{
	json_member(j, key);
	fprintf(j->f, "%llu", (unsigned long long)v);
}

void cli_json_i64(struct cli_json *j, const char *key, int64_t v)
{
	json_member(j, key);
	fprintf(j->f, "%lld", (long long)v);
}

void cli_json_bool(struct cli_json *j, const char *key, int v)
{
	json_member(j, key);
	fputs(v ? "true" : "false", j->f);
}

void cli_json_null(struct cli_json *j, const char *key)
{
	json_member(j, key);
	fputs("null", j->f);
}

void cli_json_double(struct cli_json *j, const char *key, double v)
{
	json_member(j, key);
	if (isfinite(v))
		fprintf(j->f, "%.6g", v);
	else
		fputs("null", j->f);
}

void cli_json_finish(struct cli_json *j)
{
	fputc('\n', j->f);
	fflush(j->f);
}

struct cli_table {
	int ncols;
	char **headers;
	char **cells;	/* row-major, ncells entries */
	size_t ncells;
	size_t cap;
};

struct cli_table *cli_table_new(int ncols, const char *const *headers)
{
	struct cli_table *t = xcalloc(1, sizeof(*t));

	t->ncols = ncols;
	t->headers = xcalloc((size_t)ncols, sizeof(char *));
	for (int i = 0; i < ncols; i++)
		t->headers[i] = xstrdup(headers[i]);
	return t;
}

void cli_table_free(struct cli_table *t)
{
	if (!t)
		return;
	for (int i = 0; i < t->ncols; i++)
		free(t->headers[i]), t->headers[i] = NULL;
	for (size_t i = 0; i < t->ncells; i++)
		free(t->cells[i]), t->cells[i] = NULL;
	free(t->headers), t->headers = NULL;
	free(t->cells), t->cells = NULL;
	free(t);
}

void cli_table_cell(struct cli_table *t, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		s = xstrdup("?");
	if (t->ncells == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 64;
		t->cells = xrealloc(t->cells, t->cap * sizeof(char *));
	}
	t->cells[t->ncells++] = s;
}

static const char *table_header(const struct cli_table *t, int c, int *right)
{
	const char *h = t->headers[c];

	*right = h[0] == '>';
	return *right ? h + 1 : h;
}

static void table_row(const struct cli_table *t, const size_t *w, char *const *cells, int ncells,
		      int is_header, FILE *f)
{
	int right;

	for (int c = 0; c < ncells; c++) {
		const char *s = is_header ? table_header(t, c, &right) : cells[c];
		int last = c == ncells - 1;

		table_header(t, c, &right);
		if (right)
			fprintf(f, "%*s", (int)w[c], s);
		else if (last)
			fputs(s, f);
		else
			fprintf(f, "%-*s", (int)w[c], s);
		fputs(last ? "\n" : "  ", f);
	}
}

void cli_table_print(const struct cli_table *t, FILE *f)
{
	size_t *w = xcalloc((size_t)t->ncols, sizeof(size_t));
	size_t nc = (size_t)t->ncols;
	int right;

	for (int c = 0; c < t->ncols; c++)
		w[c] = strlen(table_header(t, c, &right));
	for (size_t i = 0; i < t->ncells; i++) {
		size_t l = strlen(t->cells[i]);

		if (l > w[i % nc])
			w[i % nc] = l;
	}
	table_row(t, w, NULL, t->ncols, 1, f);
	for (size_t i = 0; i < t->ncells; i += nc) {
		size_t n = t->ncells - i < nc ? t->ncells - i : nc;

		table_row(t, w, t->cells + i, (int)n, 0, f);
	}
	free(w), w = NULL;
}

void cli_fmt_size(uint64_t bytes, char *out, size_t outlen)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)bytes;
	int u = -1;

	if (bytes < 1024) {
		snprintf(out, outlen, "%llu B", (unsigned long long)bytes);
		return;
	}
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(out, outlen, "%.1f %s", v, units[u]);
}

void cli_fmt_duration(uint64_t s, char *out, size_t outlen)
{
	if (s < 60)
		snprintf(out, outlen, "%llus", (unsigned long long)s);
	else if (s < 3600)
		snprintf(out, outlen, "%llum%02llus", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60));
	else if (s < 86400)
		snprintf(out, outlen, "%lluh%02llum", (unsigned long long)(s / 3600),
			 (unsigned long long)(s % 3600 / 60));
	else
		snprintf(out, outlen, "%llud%02lluh", (unsigned long long)(s / 86400),
			 (unsigned long long)(s % 86400 / 3600));
}
