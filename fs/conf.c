/* conf: the config format shared by every daemon, on top of libinih (a small,
 * well-kept parser in Debian) rather than a hand-written one. What this file
 * adds is the error contract: the first bad line stops the load and the
 * message names the file, the line and the reason, so an operator can fix a
 * broken config from one log line. */
#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest config line: room for a PROTO_STR_MAX value and its key. */
#define CONF_LINE_MAX 4400

struct conf_ctx {
	conf_fn fn;
	void *ud;
	FILE *f;
	int lineno;		/* lines read so far */
	int too_long;		/* line lineno did not fit in CONF_LINE_MAX */
	int rc;
	char why[320];
};

/* libinih's line reader, counting lines and refusing one that does not fit:
 * libinih would otherwise parse its tail as a line of its own. */
static char *conf_read_line(char *str, int num, void *stream)
{
	struct conf_ctx *c = stream;
	size_t n;
	int ch;

	if (!fgets(str, num, c->f))
		return NULL;
	c->lineno++;
	n = strlen(str);
	if (n == (size_t)num - 1 && str[n - 1] != '\n') {
		ch = fgetc(c->f);
		if (ch != EOF) {
			c->too_long = 1;
			return NULL;
		}
	}
	return str;
}

static int conf_ini_cb(void *user, const char *section, const char *name, const char *value)
{
	struct conf_ctx *c = user;
	char key[256];

	if (c->rc)
		return 0;
	if (section && section[0])
		snprintf(key, sizeof(key), "%s.%s", section, name);
	else
		snprintf(key, sizeof(key), "%s", name);
	if (!value)
		value = "";
	c->why[0] = '\0';
	c->rc = c->fn(c->ud, key, value, c->why, sizeof(c->why));
	if (c->rc && !c->why[0])
		snprintf(c->why, sizeof(c->why), "bad setting '%s'", key);
	return c->rc == 0;
}

int conf_load_file(const char *path, conf_fn fn, void *ud, char *err, size_t errlen)
{
	struct conf_ctx c = { .fn = fn, .ud = ud };
	int line;

	c.f = fopen(path, "r");
	if (!c.f) {
		int e = errno;

		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	/* libinih's defaults, changed through run-time switches of Debian's
	 * build: it goes on parsing after a syntax error (later lines would be
	 * applied, and a later bad setting reported against the syntax
	 * error's line); it splits lines longer than 200 bytes; and it takes
	 * an indented line as the continuation of the previous value, so an
	 * indented "port = 1" would silently become part of another key. */
	ini_stop_on_first_error = true;
	ini_max_line = CONF_LINE_MAX;
	ini_allow_multiline = false;
	errno = 0;
	line = ini_parse_stream(conf_read_line, &c, conf_ini_cb, &c);
	/* A read error (a directory, an I/O error) looks like end of file to
	 * libinih; it must not pass for an empty config. */
	if (ferror(c.f)) {
		int e = errno ? errno : EIO;

		fclose(c.f);
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	fclose(c.f);
	if (c.too_long && !c.rc && line == 0) {
		snprintf(err, errlen, "%s:%d: line longer than %d bytes", path, c.lineno,
			 CONF_LINE_MAX - 2);
		return -EINVAL;
	}
	if (line == 0)
		return 0;
	if (line < 0) {
		snprintf(err, errlen, "%s: cannot read", path);
		return -EIO;
	}
	if (!c.rc) {
		snprintf(err, errlen, "%s:%d: syntax error (expected 'key = value')", path, line);
		return -EINVAL;
	}
	snprintf(err, errlen, "%s:%d: %s", path, line, c.why);
	return c.rc;
}

int conf_set(const char *key, const char *value, conf_fn fn, void *ud, char *err, size_t errlen)
{
	char why[320] = "";
	int rc = fn(ud, key, value, why, sizeof(why));

	if (rc)
		snprintf(err, errlen, "command line: %s: %s", key, why[0] ? why : "bad setting");
	return rc;
}

/* strtoull skips blanks and takes a sign, so " -1" would become 2^64 - 1:
 * a number must start with a digit. */
int conf_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int conf_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	case 't': case 'T': shift = 40; break;
	default: return -EINVAL;
	}
	if (*end && strcmp(end + 1, "") && strcmp(end + 1, "B") && strcmp(end + 1, "iB"))
		return -EINVAL;
	if (shift && v > (~0ULL >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

int conf_parse_bool(const char *s, int *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (int i = 0; i < 4; i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -EINVAL;
}

int conf_parse_addr(const char *s, char *host, size_t hostlen, uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	uint64_t p;
	size_t n;

	if (!colon || colon == s)
		return -EINVAL;
	n = (size_t)(colon - s);
	if (n + 1 > hostlen)
		return -EINVAL;
	if (conf_parse_u64(colon + 1, 0, 65535, &p))
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = '\0';
	*port = (uint16_t)p;
	return 0;
}
