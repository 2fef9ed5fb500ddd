/* Configuration: one format for every daemon. Files are "key = value" lines
 * (# and ; comments; an optional [section] prefixes keys as "section.key"),
 * parsed by libinih; command-line "--key value" overrides go through the same
 * callback so they obey the same rules. */
#ifndef CASFS_CONF_H
#define CASFS_CONF_H

#include <stddef.h>
#include <stdint.h>

/* Called once per setting. Returns 0, or a negative errno and (optionally)
 * a reason in why[0..whylen) that the caller puts into the error message. */
typedef int (*conf_fn)(void *ud, const char *key, const char *value, char *why, size_t whylen);

/* Parses path, calling fn for every key. On error returns a negative errno
 * and writes "path:line: reason" into err. -ENOENT if the file is missing. */
int conf_load_file(const char *path, conf_fn fn, void *ud, char *err, size_t errlen);
/* Applies one setting from the command line; on error err says
 * "command line: key: reason". */
int conf_set(const char *key, const char *value, conf_fn fn, void *ud, char *err, size_t errlen);

/* Value parsers: 0 or -EINVAL (-ERANGE when out of range). */
int conf_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* Sizes take an optional K, M, G or T suffix (powers of 1024). */
int conf_parse_size(const char *s, uint64_t *out);
/* yes/no, true/false, on/off, 1/0. */
int conf_parse_bool(const char *s, int *out);
/* "HOST:PORT"; host is copied into host[0..hostlen). */
int conf_parse_addr(const char *s, char *host, size_t hostlen, uint16_t *port);

#endif
