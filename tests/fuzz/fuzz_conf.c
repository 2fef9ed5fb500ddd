/* libFuzzer target for the config decoder: conf_load_file() on arbitrary
 * file contents (written to a memfd, loaded through /proc/self/fd) with a
 * callback that runs every value parser, plus the parsers on the raw input.
 * Checks that a failed load always explains itself as "path:line: ..." or
 * "path: ...". Corpus: corpus/conf. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fs/conf.h"
#include "fs/log.h"

static void parse_all(const char *s)
{
	char host[256];
	uint64_t v;
	uint16_t port;
	int b;
	enum log_level lvl;

	conf_parse_u64(s, 0, UINT64_MAX, &v);
	conf_parse_u64(s, 10, 100, &v);
	if (conf_parse_size(s, &v) == 0 && (s[0] < '0' || s[0] > '9'))
		abort();
	conf_parse_bool(s, &b);
	if (conf_parse_addr(s, host, sizeof(host), &port) == 0 && strlen(host) >= sizeof(host))
		abort();
	log_level_parse(s, &lvl);
}

static int fuzz_cb(void *ud, const char *key, const char *value, char *why, size_t whylen)
{
	(void)ud;
	parse_all(value);
	if (key[0] == 'x') {
		snprintf(why, whylen, "unknown key '%s'", key);
		return -EINVAL;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	char path[64], err[512];
	char *s;
	int rc;

	if (fd < 0) {
		fd = memfd_create("fuzz_conf", 0);
		if (fd < 0)
			abort();
	}
	if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	err[0] = '\0';
	rc = conf_load_file(path, fuzz_cb, NULL, err, sizeof(err));
	if (rc > 0 || (rc < 0 && strncmp(err, path, strlen(path)) != 0))
		abort();

	s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	parse_all(s);
	conf_set("key", s, fuzz_cb, NULL, err, sizeof(err));
	free(s), s = NULL;
	return 0;
}
