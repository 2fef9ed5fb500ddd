/* casfs chunkserver deploy|start|stop|restart|logs: chunk-server hosts
 * managed over SSH (transport in ssh.c).
 *
 * A deployment lives in the remote data folder DIR: chunkd.conf (data,
 * meta, listen, addr_file, labels), chunkd.addr (written by chunkd once
 * bound), chunkd.log, and either a systemd unit (casfs-chunkd-ESCAPED-DIR
 * .service, when systemd runs there) or a small shell supervisor
 * (supervise.sh, pid in chunkd.pid) that restarts chunkd when it dies. With
 * --copy-binary this machine's casfs-chunkd goes to DIR/casfs-chunkd over
 * SFTP. Deploy is done when metad lists the server (matched by the address
 * chunkd wrote) as up. This machine remembers each deployment in
 * ~/.config/casfs/deployed/USER@HOST:PORT.conf so start/stop/logs need only
 * the host; --data DIR names the folder explicitly. Single-threaded. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client/cli_int.h"
#include "client/ssh.h"
#include "fs/conf.h"
#include "fs/msg.h"
#include "fs/xmalloc.h"

#define CSSH_MAX_LABELS 32
/* SSH connect and per-exchange timeout; deploy's waits are separate. */
#define CSSH_TIMEOUT_MS 15000
/* How long a deployed chunkd gets to bind and to register with metad. */
#define CSSH_REGISTER_S 30

struct cs_ssh {
	char user[128];
	char host[256];
	uint16_t port;
	const char *keyfile;
	const char *data;
	const char *listen;
	const char *labels[CSSH_MAX_LABELS];
	int nlabels;
	int accept_new;
	int copy_binary;
	int no_systemd;
	int no_wait;
	unsigned lines;
	/* from the deployment record */
	char dir[PATH_MAX];
	char mode[16];		/* "systemd" or "supervisor" */
	char unit[300];
};

int cli_ssh_parse_url(const char *url, char *user, size_t userlen, char *host, size_t hostlen,
		      uint16_t *portp)
{
	const char *p = url, *at, *colon;
	const char *envuser = getenv("USER");
	uint64_t port = 22;
	size_t hl;

	if (!strncmp(p, "ssh://", 6))
		p += 6;
	at = strchr(p, '@');
	if (at) {
		if ((size_t)(at - p) >= userlen || at == p)
			return -EINVAL;
		memcpy(user, p, (size_t)(at - p));
		user[at - p] = '\0';
		p = at + 1;
	} else if (snprintf(user, userlen, "%s", envuser ? envuser : "root") >= (int)userlen) {
		return -EINVAL;
	}
	if (*p == '[') {
		colon = strchr(p, ']');
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - p - 1);
		p++;
		colon = colon[1] == ':' ? colon + 1 : NULL;
	} else {
		colon = strchr(p, ':');
		hl = colon ? (size_t)(colon - p) : strlen(p);
	}
	if (hl == 0 || hl >= hostlen || strchr(p, '/') || strchr(p, '@'))
		return -EINVAL;
	memcpy(host, p, hl);
	host[hl] = '\0';
	if (colon && conf_parse_u64(colon + 1, 1, 65535, &port))
		return -EINVAL;
	*portp = (uint16_t)port;
	return 0;
}

static int cs_connect(struct cs_ssh *h, cssh_t **s)
{
	struct cssh_opts o = {
		.user = h->user,
		.host = h->host,
		.port = h->port,
		.keyfile = h->keyfile,
		.accept_new_host_key = h->accept_new,
		.timeout_ms = CSSH_TIMEOUT_MS,
	};
	char err[1024];

	if (cssh_open(&o, s, err, sizeof(err)))
		return cli_err("%s", err);
	return 0;
}

/* Runs cmd remotely; on failure prints "HOST: what: reason" and returns 1. */
static int cs_run(struct cs_ssh *h, cssh_t *s, const char *what, const char *cmd, char **out)
{
	if (cssh_run(s, cmd, out))
		return cli_err("%s: %s: %s", h->host, what, cssh_error(s));
	return 0;
}

static void cs_record_path(const struct cs_ssh *h, char *out)
{
	const char *home = getenv("HOME");

	snprintf(out, PATH_MAX, "%s/.config/casfs/deployed/%s@%s:%u.conf", home ? home : "",
		 h->user, h->host, h->port);
}

static int cs_record_cb(void *ud, const char *key, const char *value, char *why, size_t whylen)
{
	struct cs_ssh *h = ud;

	(void)why;
	(void)whylen;
	if (!strcmp(key, "dir"))
		snprintf(h->dir, sizeof(h->dir), "%s", value);
	else if (!strcmp(key, "mode"))
		snprintf(h->mode, sizeof(h->mode), "%s", value);
	else if (!strcmp(key, "unit"))
		snprintf(h->unit, sizeof(h->unit), "%s", value);
	return 0;
}

/* mkdir -p for the record's folder. */
static void cs_mkdirs(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(path, 0700);
		*p = '/';
	}
}

static int cs_record_save(const struct cs_ssh *h)
{
	char path[PATH_MAX], text[PATH_MAX + 512];
	FILE *f;

	cs_record_path(h, path);
	cs_mkdirs(path);
	snprintf(text, sizeof(text),
		 "# written by 'casfs chunkserver deploy'\ndir = %s\nmode = %s\nunit = %s\n",
		 h->dir, h->mode, h->unit);
	f = fopen(path, "w");
	if (!f || fputs(text, f) < 0) {
		if (f)
			fclose(f);
		return cli_err("cannot write %s: %s", path, strerror(errno));
	}
	fclose(f);
	return 0;
}

/* Finds where the host's chunkd lives: --data, else the deployment record. */
static int cs_record_load(struct cs_ssh *h)
{
	char path[PATH_MAX], err[PATH_MAX + 64];
	int rc;

	cs_record_path(h, path);
	rc = conf_load_file(path, cs_record_cb, h, err, sizeof(err));
	if (h->data)
		snprintf(h->dir, sizeof(h->dir), "%s", h->data);
	if (rc && !h->data)
		return cli_err("no deployment recorded for %s@%s:%u (%s); give --data DIR",
			       h->user, h->host, h->port, rc == -ENOENT ? "run deploy first" : err);
	return 0;
}

/* Detects the mode on the host when no record says it (--data given). */
static int cs_detect_mode(struct cs_ssh *h, cssh_t *s)
{
	char *q = cssh_quote(h->dir), cmd[PATH_MAX + 512], *out = NULL;
	int rc;

	if (h->mode[0]) {
		free(q), q = NULL;
		return 0;
	}
	snprintf(cmd, sizeof(cmd),
		 "if [ -f %s/supervise.sh ]; then echo supervisor; "
		 "else echo systemd; systemd-escape --path %s; fi", q, q);
	free(q), q = NULL;
	rc = cs_run(h, s, "inspect deployment", cmd, &out);
	if (!rc) {
		char *nl = strchr(out, '\n');

		if (nl)
			*nl = '\0';
		snprintf(h->mode, sizeof(h->mode), "%s", out);
		if (nl && !strcmp(h->mode, "systemd")) {
			nl[1 + strcspn(nl + 1, "\n")] = '\0';
			snprintf(h->unit, sizeof(h->unit), "casfs-chunkd-%s.service", nl + 1);
		}
	}
	free(out), out = NULL;
	return rc;
}

/* The supervisor: restarts chunkd when it dies; SIGTERM stops both. The pid
 * file is written by the supervisor itself so it is always the right pid. */
static char *cs_supervisor_script(const char *qdir, const char *qbin)
{
	char *s = NULL;

	if (asprintf(&s,
		     "#!/bin/sh\n"
		     "# casfs-chunkd supervisor, written by 'casfs chunkserver deploy'.\n"
		     "# Restarts the chunk server when it exits; SIGTERM stops both.\n"
		     "D=%s\n"
		     "BIN=%s\n"
		     "echo $$ >\"$D/chunkd.pid\"\n"
		     "child=\n"
		     "stop() {\n"
		     "\t[ -n \"$child\" ] && kill -TERM \"$child\" 2>/dev/null && wait \"$child\"\n"
		     "\trm -f \"$D/chunkd.pid\" \"$D/chunkd.child\"\n"
		     "\texit 0\n"
		     "}\n"
		     "trap stop TERM INT\n"
		     "while :; do\n"
		     "\t\"$BIN\" --config \"$D/chunkd.conf\" >>\"$D/chunkd.log\" 2>&1 &\n"
		     "\tchild=$!\n"
		     "\techo \"$child\" >\"$D/chunkd.child\"\n"
		     "\twait \"$child\"\n"
		     "\techo \"supervisor: casfs-chunkd exited with status $?; restarting in 2 s\" "
		     ">>\"$D/chunkd.log\"\n"
		     "\tchild=\n"
		     "\tsleep 2\n"
		     "done\n", qdir, qbin) < 0)
		abort();
	return s;
}

/* Shell: is the supervisor whose pid is in $D/chunkd.pid alive? (A zombie
 * or a recycled pid has no supervise.sh in its command line.) */
#define CS_SH_ALIVE \
	"alive() { p=$(cat \"$D/chunkd.pid\" 2>/dev/null) && [ -n \"$p\" ] && " \
	"grep -q supervise.sh \"/proc/$p/cmdline\" 2>/dev/null; }; "

static int cs_start(struct cs_ssh *h, cssh_t *s)
{
	char *q = cssh_quote(h->dir), *cmd = NULL, *u = cssh_quote(h->unit);
	int rc;

	if (!strcmp(h->mode, "systemd")) {
		if (asprintf(&cmd, "rm -f %s/chunkd.addr; systemctl start %s", q, u) < 0)
			abort();
	} else if (asprintf(&cmd,
			    "D=%s; " CS_SH_ALIVE
			    "if alive; then exit 0; fi; "
			    "rm -f \"$D/chunkd.addr\" \"$D/chunkd.pid\"; "
			    "setsid nohup sh \"$D/supervise.sh\" </dev/null >/dev/null 2>&1 & "
			    "i=0; while ! alive && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; "
			    "alive || { echo 'the supervisor did not start' >&2; exit 1; }",
			    q) < 0) {
		abort();
	}
	rc = cs_run(h, s, "start casfs-chunkd", cmd, NULL);
	free(cmd), cmd = NULL;
	free(q), q = NULL;
	free(u), u = NULL;
	return rc;
}

static int cs_stop(struct cs_ssh *h, cssh_t *s)
{
	char *q = cssh_quote(h->dir), *cmd = NULL, *u = cssh_quote(h->unit);
	int rc;

	if (!strcmp(h->mode, "systemd")) {
		if (asprintf(&cmd, "systemctl stop %s", u) < 0)
			abort();
	} else if (asprintf(&cmd,
			    "D=%s; " CS_SH_ALIVE
			    "alive || exit 0; kill -TERM \"$p\"; "
			    "i=0; while alive && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done; "
			    "if alive; then kill -KILL \"$p\"; c=$(cat \"$D/chunkd.child\" 2>/dev/null); "
			    "[ -n \"$c\" ] && grep -q casfs-chunkd \"/proc/$c/cmdline\" 2>/dev/null && "
			    "kill -KILL \"$c\"; rm -f \"$D/chunkd.pid\"; fi; exit 0",
			    q) < 0) {
		abort();
	}
	rc = cs_run(h, s, "stop casfs-chunkd", cmd, NULL);
	free(cmd), cmd = NULL;
	free(q), q = NULL;
	free(u), u = NULL;
	return rc;
}

/* Waits for chunkd's address file on the host; on failure shows the tail of
 * its log. */
static int cs_wait_addr(struct cs_ssh *h, cssh_t *s, char *addr, size_t len)
{
	char *q = cssh_quote(h->dir), *cmd = NULL, *out = NULL, *log = NULL;
	int rc, st = 0;

	if (asprintf(&cmd,
		     "D=%s; i=0; while [ ! -s \"$D/chunkd.addr\" ] && [ $i -lt %d ]; do sleep 0.1; "
		     "i=$((i+1)); done; cat \"$D/chunkd.addr\"", q, CSSH_REGISTER_S * 10) < 0)
		abort();
	rc = cssh_exec(s, cmd, &out, NULL, &st);
	free(cmd), cmd = NULL;
	if (rc) {
		rc = cli_err("%s: %s", h->host, cssh_error(s));
	} else if (st != 0 || !out[0]) {
		if (asprintf(&cmd, "tail -n 3 %s/chunkd.log 2>/dev/null | tr '\\n' ' '", q) < 0)
			abort();
		cssh_exec(s, cmd, &log, NULL, &st);
		rc = cli_err("%s: casfs-chunkd did not start within %d s: %s", h->host,
			     CSSH_REGISTER_S, log && log[0] ? log : "(empty log)");
	} else {
		out[strcspn(out, "\r\n")] = '\0';
		snprintf(addr, len, "%s", out);
	}
	free(cmd), cmd = NULL;
	free(log), log = NULL;
	free(out), out = NULL;
	free(q), q = NULL;
	return rc;
}

/* Waits until metad lists a server at addr as up; *id receives its id. */
static int cs_wait_registered(struct cli_ctx *c, const char *meta, const char *addr, uint32_t *id)
{
	struct cli_conn conn;
	struct cli_cs *v;
	size_t n;
	int rc;

	rc = cli_connect(c, meta, &conn);
	if (rc)
		return rc;
	for (int t = 0; t < CSSH_REGISTER_S * 5; t++) {
		rc = cli_cs_list(&conn, &v, &n);
		if (rc) {
			cli_conn_close(&conn);
			return cli_err("chunk-server list from %s: %s", meta, cli_strerror(rc));
		}
		for (size_t i = 0; i < n; i++) {
			if (!strcmp(v[i].addr, addr) && v[i].state == MSG_CS_STATE_UP) {
				*id = v[i].id;
				cli_cs_free(v, n);
				cli_conn_close(&conn);
				return 0;
			}
		}
		cli_cs_free(v, n);
		usleep(200000);
	}
	cli_conn_close(&conn);
	return cli_err("casfs-chunkd at %s did not register with metad %s within %d s", addr, meta,
		       CSSH_REGISTER_S);
}

/* Reads a whole local file (the binary to copy). */
static int cs_slurp(const char *path, char **data, size_t *len)
{
	struct stat st;
	ssize_t n;
	size_t at = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return cli_err("%s: %s", path, strerror(errno));
	}
	*data = xmalloc((size_t)st.st_size + 1);
	while (at < (size_t)st.st_size && (n = read(fd, *data + at, (size_t)st.st_size - at)) > 0)
		at += (size_t)n;
	close(fd);
	*len = at;
	return 0;
}

static int cs_deploy(struct cli_ctx *c, struct cs_ssh *h, cssh_t *s)
{
	char *qdir = NULL, *qbin = NULL, *cmd = NULL, *out = NULL, *text = NULL, *tmp = NULL;
	char bin[PATH_MAX], rbin[PATH_MAX + 32], path[PATH_MAX + 32], addr[300], listen[300];
	const char *meta = cli_meta_addr(c);
	int rc = 1, has_systemd;
	struct cli_json j;
	uint32_t id = 0;
	size_t len = 0, at;

	if (!meta)
		return 1;
	if (h->data[0] != '/')
		return cli_usage("chunkserver", "--data must be an absolute path on the host");
	snprintf(h->dir, sizeof(h->dir), "%s", h->data);
	qdir = cssh_quote(h->dir);
	if (asprintf(&cmd, "mkdir -p %s || exit 1; command -v casfs-chunkd; "
			   "if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; "
			   "then echo SYSTEMD; systemd-escape --path %s; fi", qdir, qdir) < 0)
		abort();
	if (cs_run(h, s, "prepare the data folder", cmd, &out))
		goto out;
	free(cmd), cmd = NULL;
	/* out: [path of an installed casfs-chunkd]\n[SYSTEMD\nESCAPED]\n */
	rbin[0] = '\0';
	if (out[0] == '/') {
		len = strcspn(out, "\n");
		snprintf(rbin, sizeof(rbin), "%.*s", (int)len, out);
	}
	tmp = strstr(out, "SYSTEMD\n");
	has_systemd = tmp && !h->no_systemd;
	if (has_systemd) {
		tmp += 8;
		tmp[strcspn(tmp, "\n")] = '\0';
		snprintf(h->unit, sizeof(h->unit), "casfs-chunkd-%s.service", tmp);
	}
	tmp = NULL;
	snprintf(h->mode, sizeof(h->mode), "%s", has_systemd ? "systemd" : "supervisor");
	if (h->copy_binary) {
		if (cli_find_bin("casfs-chunkd", bin) || cs_slurp(bin, &tmp, &len))
			goto out;
		snprintf(rbin, sizeof(rbin), "%s/casfs-chunkd", h->dir);
		if (!c->json && c->is_tty)
			printf("copying %s to %s:%s (%zu bytes)\n", bin, h->host, rbin, len);
		rc = cssh_put(s, rbin, tmp, len, 0755);
		free(tmp), tmp = NULL;
		if (rc) {
			rc = cli_err("%s: copy casfs-chunkd: %s", h->host, cssh_error(s));
			goto out;
		}
		rc = 1;
	} else if (!rbin[0]) {
		cli_err("%s: casfs-chunkd is not installed there (install it, or use --copy-binary)",
			h->host);
		goto out;
	}
	/* The config. */
	snprintf(listen, sizeof(listen), "%s", h->listen ? h->listen : "");
	if (!listen[0])
		snprintf(listen, sizeof(listen), "%s:9422", h->host);
	if (asprintf(&text, "# written by 'casfs chunkserver deploy'\n"
			    "data = %s\nmeta = %s\nlisten = %s\naddr_file = %s/chunkd.addr\n",
		     h->dir, meta, listen, h->dir) < 0)
		abort();
	for (int i = 0; i < h->nlabels; i++) {
		at = strlen(text);
		text = xrealloc(text, at + strlen(h->labels[i]) + 16);
		sprintf(text + at, "label = %s\n", h->labels[i]);
	}
	if (c->auth[0]) {
		at = strlen(text);
		text = xrealloc(text, at + strlen(c->auth) + 16);
		sprintf(text + at, "auth_key = %s\n", c->auth);
	}
	snprintf(path, sizeof(path), "%s/chunkd.conf", h->dir);
	if (cssh_put(s, path, text, strlen(text), 0600)) {
		cli_err("%s: write %s: %s", h->host, path, cssh_error(s));
		goto out;
	}
	free(text), text = NULL;
	qbin = cssh_quote(rbin);
	if (has_systemd) {
		if (asprintf(&text, "[Unit]\nDescription=casfs chunk server (%s), deployed by casfs\n"
				    "After=network-online.target\nWants=network-online.target\n\n"
				    "[Service]\nType=simple\nExecStart=%s --config %s/chunkd.conf\n"
				    "KillSignal=SIGTERM\nTimeoutStopSec=60\nRestart=on-failure\n"
				    "RestartSec=2\nLimitNOFILE=65536\n\n[Install]\n"
				    "WantedBy=multi-user.target\n", h->dir, rbin, h->dir) < 0)
			abort();
		snprintf(path, sizeof(path), "/etc/systemd/system/%s", h->unit);
		if (cssh_put(s, path, text, strlen(text), 0644)) {
			cli_err("%s: write %s: %s", h->host, path, cssh_error(s));
			goto out;
		}
		if (asprintf(&cmd, "systemctl daemon-reload && systemctl enable %s", h->unit) < 0)
			abort();
		if (cs_run(h, s, "enable the systemd unit", cmd, NULL))
			goto out;
		free(cmd), cmd = NULL;
	} else {
		free(text), text = NULL;
		text = cs_supervisor_script(qdir, qbin);
		snprintf(path, sizeof(path), "%s/supervise.sh", h->dir);
		if (cssh_put(s, path, text, strlen(text), 0755)) {
			cli_err("%s: write %s: %s", h->host, path, cssh_error(s));
			goto out;
		}
	}
	/* A redeploy restarts chunkd so it reads the new config and binary. */
	if (cs_stop(h, s) || cs_start(h, s) || cs_record_save(h))
		goto out;
	if (h->no_wait) {
		addr[0] = '\0';
	} else {
		if (cs_wait_addr(h, s, addr, sizeof(addr)) ||
		    cs_wait_registered(c, meta, addr, &id))
			goto out;
	}
	if (c->json) {
		cli_json_init(&j, stdout);
		cli_json_obj_begin(&j, NULL);
		cli_json_str(&j, "host", h->host);
		cli_json_str(&j, "dir", h->dir);
		cli_json_str(&j, "mode", h->mode);
		cli_json_str(&j, "binary", rbin);
		cli_json_str(&j, "address", addr[0] ? addr : NULL);
		if (id)
			cli_json_u64(&j, "id", id);
		else
			cli_json_null(&j, "id");
		cli_json_obj_end(&j);
		cli_json_finish(&j);
	} else if (id) {
		printf("chunk server %" PRIu32 " at %s is up on %s (%s, data in %s)\n", id, addr,
		       h->host, h->mode, h->dir);
	} else {
		printf("casfs-chunkd started on %s (%s, data in %s)\n", h->host, h->mode, h->dir);
	}
	rc = 0;
out:
	free(tmp), tmp = NULL;
	free(text), text = NULL;
	free(out), out = NULL;
	free(cmd), cmd = NULL;
	free(qbin), qbin = NULL;
	free(qdir), qdir = NULL;
	return rc;
}

static int cs_logs(struct cs_ssh *h, cssh_t *s)
{
	char *q = cssh_quote(h->dir), *u = cssh_quote(h->unit), *cmd = NULL, *out = NULL;
	int rc;

	if (!strcmp(h->mode, "systemd")) {
		if (asprintf(&cmd, "journalctl --no-pager -n %u -u %s", h->lines, u) < 0)
			abort();
	} else if (asprintf(&cmd, "tail -n %u %s/chunkd.log", h->lines, q) < 0) {
		abort();
	}
	rc = cs_run(h, s, "read the log", cmd, &out);
	if (!rc)
		fputs(out, stdout);
	free(out), out = NULL;
	free(cmd), cmd = NULL;
	free(u), u = NULL;
	free(q), q = NULL;
	return rc;
}

int cli_cmd_cs_ssh(struct cli_ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "label", required_argument, NULL, 'l' },
		{ "listen", required_argument, NULL, 'L' },
		{ "accept-new-host-key", no_argument, NULL, 'A' },
		{ "copy-binary", no_argument, NULL, 'C' },
		{ "no-systemd", no_argument, NULL, 'S' },
		{ "no-wait", no_argument, NULL, 'W' },
		{ "lines", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct cs_ssh h = { .lines = 50 };
	const char *act = argv[0], *url = NULL;
	struct cli_json j;
	cssh_t *s = NULL;
	uint64_t v;
	int rc, o, is_deploy = !strcmp(act, "deploy");

	optind = 0;
	opterr = 0;
	while ((o = getopt_long(argc, argv, "i:n:", opts, NULL)) != -1) {
		switch (o) {
		case 'i': h.keyfile = optarg; break;
		case 'd': h.data = optarg; break;
		case 'L': h.listen = optarg; break;
		case 'A': h.accept_new = 1; break;
		case 'C': h.copy_binary = 1; break;
		case 'S': h.no_systemd = 1; break;
		case 'W': h.no_wait = 1; break;
		case 'l':
			if (!strchr(optarg, '=') || optarg[0] == '=')
				return cli_usage("chunkserver", "--label takes K=V, not '%s'", optarg);
			if (h.nlabels == CSSH_MAX_LABELS)
				return cli_usage("chunkserver", "at most %d labels", CSSH_MAX_LABELS);
			h.labels[h.nlabels++] = optarg;
			break;
		case 'n':
			if (conf_parse_u64(optarg, 1, 1000000, &v))
				return cli_usage("chunkserver", "-n takes a line count");
			h.lines = (unsigned)v;
			break;
		default:
			return cli_usage("chunkserver", "unknown option or missing value '%s'",
					 argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return cli_usage("chunkserver", "%s takes one ssh://USER@HOST[:PORT]", act);
	url = argv[optind];
	if (cli_ssh_parse_url(url, h.user, sizeof(h.user), h.host, sizeof(h.host), &h.port))
		return cli_usage("chunkserver", "'%s' is not ssh://USER@HOST[:PORT]", url);
	if (is_deploy && !h.data)
		return cli_usage("chunkserver", "deploy needs --data DIR (on the host)");
	if (!is_deploy && (rc = cs_record_load(&h)))
		return rc;
	rc = cs_connect(&h, &s);
	if (rc)
		return rc;
	if (is_deploy) {
		rc = cs_deploy(c, &h, s);
	} else if ((rc = cs_detect_mode(&h, s))) {
		;
	} else if (!strcmp(act, "logs")) {
		rc = cs_logs(&h, s);
	} else {
		if (!strcmp(act, "stop") || !strcmp(act, "restart"))
			rc = cs_stop(&h, s);
		if (!rc && (!strcmp(act, "start") || !strcmp(act, "restart")))
			rc = cs_start(&h, s);
		if (!rc && c->json) {
			cli_json_init(&j, stdout);
			cli_json_obj_begin(&j, NULL);
			cli_json_str(&j, "host", h.host);
			cli_json_str(&j, "dir", h.dir);
			cli_json_str(&j, "action", act);
			cli_json_bool(&j, "ok", 1);
			cli_json_obj_end(&j);
			cli_json_finish(&j);
		} else if (!rc) {
			printf("casfs-chunkd on %s: %s done (%s, %s)\n", h.host, act, h.mode, h.dir);
		}
	}
	cssh_close(s);
	return rc;
}
