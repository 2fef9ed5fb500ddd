/* cli: what every casfs command shares: where the metad address comes from
 * (--meta > $CASFS_META > config file; path commands put the path's own
 * mount right after --meta), the config file, the auth key, connecting, and
 * the one-line error convention: exit 0 on success, otherwise non-zero with
 * exactly one "casfs: ..." line on stderr (2 for bad usage). main() and the
 * command table are in cli_main.c. Single-threaded. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/cli_int.h"
#include "fs/conf.h"
#include "fs/log.h"
#include "fs/net.h"
#include "fs/xmalloc.h"

int cli_err(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("casfs: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("casfs: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (cmd)
		fprintf(stderr, " (see 'casfs %s --help')\n", cmd);
	else
		fputs(" (see 'casfs help')\n", stderr);
	return 2;
}

const char *cli_strerror(int rc)
{
	switch (rc) {
	case -EACCES: return "permission denied (wrong or missing auth key)";
	case -EPROTO: return "protocol error (unexpected reply from metad)";
	case -EBADMSG: return "malformed reply from metad";
	case -EAGAIN: return "metad did not answer in time";
	case -ECONNRESET: return "metad closed the connection";
	default: return strerror(-rc);
	}
}

static int cli_conf_cb(void *ud, const char *key, const char *value, char *why, size_t whylen)
{
	struct cli_ctx *c = ud;

	if (!strcmp(key, "meta")) {
		if (strlen(value) >= sizeof(c->conf_meta)) {
			snprintf(why, whylen, "meta address too long");
			return -EINVAL;
		}
		snprintf(c->conf_meta, sizeof(c->conf_meta), "%s", value);
	} else if (!strcmp(key, "auth_key")) {
		if (!getenv("CASFS_AUTH"))
			snprintf(c->auth, sizeof(c->auth), "%s", value);
	}
	/* Other keys belong to the daemons sharing the file. */
	return 0;
}

/* Loads the config: --config if given (must exist), else the system file
 * then the user's, the user's winning. */
int cli_load_config(struct cli_ctx *c)
{
	char err[512], path[4096];
	const char *home = getenv("HOME");
	int rc;

	if (c->config) {
		rc = conf_load_file(c->config, cli_conf_cb, c, err, sizeof(err));
		if (rc)
			return cli_err("%s", err);
		return 0;
	}
	rc = conf_load_file("/etc/casfs/casfs.conf", cli_conf_cb, c, err, sizeof(err));
	if (rc && rc != -ENOENT)
		return cli_err("%s", err);
	if (home) {
		snprintf(path, sizeof(path), "%s/.config/casfs/casfs.conf", home);
		rc = conf_load_file(path, cli_conf_cb, c, err, sizeof(err));
		if (rc && rc != -ENOENT)
			return cli_err("%s", err);
	}
	return 0;
}

const char *cli_meta_addr(struct cli_ctx *c)
{
	const char *env = getenv("CASFS_META");

	if (c->meta_opt)
		return c->meta_opt;
	if (env && env[0])
		return env;
	if (c->conf_meta[0])
		return c->conf_meta;
	cli_err("no metad address: give --meta HOST:PORT, set CASFS_META, or put "
		"'meta = HOST:PORT' in ~/.config/casfs/casfs.conf");
	return NULL;
}

int cli_connect(struct cli_ctx *c, const char *addr, struct cli_conn *conn)
{
	/* A live metad answers HELLO in milliseconds; 5 s tells a dead address
	 * apart without making a typo hang. */
	int rc = cli_conn_open(conn, addr, c->auth, 5000);

	if (rc == -EACCES)
		return cli_err("metad at %s refused the auth key (set CASFS_AUTH or auth_key)", addr);
	if (rc)
		return cli_err("cannot talk to metad at %s: %s", addr, cli_strerror(rc));
	net_set_timeouts(conn->fd, CLI_TIMEOUT_MS);
	return 0;
}

/* Finds a casfs binary: next to this casfs first, then on $PATH. */
int cli_find_bin(const char *name, char *out)
{
	char self[PATH_MAX], *path, *save = NULL, *d;
	const char *env = getenv("PATH");
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		self[n] = '\0';
		snprintf(out, PATH_MAX, "%s/%s", dirname(self), name);
		if (access(out, X_OK) == 0)
			return 0;
	}
	path = xstrdup(env ? env : "/usr/local/bin:/usr/bin:/bin");
	for (d = strtok_r(path, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		snprintf(out, PATH_MAX, "%s/%s", d, name);
		if (access(out, X_OK) == 0) {
			free(path), path = NULL;
			return 0;
		}
	}
	free(path), path = NULL;
	return cli_err("cannot find %s next to casfs or on PATH (build it with make)", name);
}
