/* casfs local: a whole cluster on this machine, for trying casfs and for
 * `make run`. `up` starts one metad and N chunk servers on free loopback
 * ports (port 0 + --addr-file) with all their data under DIR, waits until
 * metad lists N servers up, sets the root goal and mounts; `down` unmounts
 * and stops exactly the processes it recorded; `status` reports them.
 *
 * Invariants: everything lives in DIR (data folders meta/ and csN/, NAME.pid,
 * NAME.addr, NAME.log, local.conf), so a second `up` on the same DIR brings
 * back the same cluster with its files, metad on its last address (the
 * chunk servers' ports may change). A pid file is
 * trusted only while /proc/PID/cmdline still names DIR (or the mount point):
 * a recycled pid is never signalled. Daemons are detached (own session,
 * output to their log), so they outlive this command. Single-threaded. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <libgen.h>
#include <mntent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/cli_int.h"
#include "fs/conf.h"
#include "fs/msg.h"
#include "fs/net.h"
#include "fs/xmalloc.h"

#define LOCAL_MAX_CS 64
/* Room in PATH_MAX for "/cs64.addr.tmp" and the like. */
#define LOCAL_DIR_MAX (PATH_MAX - 64)
/* How long daemons get to come up, and to stop after SIGTERM before
 * SIGKILL: a sanitizer build of metad replaying a changelog takes seconds,
 * never tens of seconds. */
#define LOCAL_START_S 30
#define LOCAL_STOP_S 10

struct local {
	char dir[PATH_MAX];
	char mnt[PATH_MAX];	/* "" when not mounted */
	unsigned ncs;
	unsigned goal;
	char meta_addr[256];
};

/* DIR/NAME.EXT into out (PATH_MAX bytes). local_parse keeps DIR short
 * enough (LOCAL_DIR_MAX) that this never truncates. */
static void local_path(const struct local *l, char *out, const char *name, const char *ext)
{
	if (snprintf(out, PATH_MAX, "%s/%s%s", l->dir, name, ext) >= PATH_MAX)
		out[0] = '\0';
}

/* Absolute form of path without needing it to exist or be reachable (a dead
 * FUSE mount fails realpath): its parent is resolved, the last component
 * kept. */
static int local_abspath(const char *path, char *out)
{
	char tmp[PATH_MAX], dir[PATH_MAX], *d, *b;

	if (realpath(path, out))
		return 0;
	snprintf(tmp, sizeof(tmp), "%s", path);
	d = dirname(tmp);
	if (!realpath(d, dir))
		return -errno;
	snprintf(tmp, sizeof(tmp), "%s", path);
	b = basename(tmp);
	if (snprintf(out, PATH_MAX, "%s/%s", strcmp(dir, "/") ? dir : "", b) >= PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

static int local_read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	buf[n] = '\0';
	return 0;
}

/* Writes path atomically (temp file + rename). */
static int local_write_file(const char *path, const char *text)
{
	char tmp[PATH_MAX + 8];
	size_t len = strlen(text);
	int fd, rc = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len)
		rc = -EIO;
	close(fd);
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}

/* A process is ours when it is alive (not a zombie) and its command line
 * contains tag (DIR or the mount point). */
static int local_pid_is_ours(pid_t pid, const char *tag)
{
	char path[64], buf[8192], st[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (local_read_file(path, st, sizeof(st)))
		return 0;
	p = strrchr(st, ')');
	if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
	/* The tag must be a whole path or a prefix ending at '/': /tmp/a is
	 * not /tmp/ab. */
	for (const char *p = strstr(buf, tag); p; p = strstr(p + 1, tag)) {
		char next = p[strlen(tag)];

		if (next == '/' || next == ' ' || next == '\0')
			return 1;
	}
	return 0;
}

/* The recorded pid of NAME if that process is still ours, else 0. */
static pid_t local_running(const struct local *l, const char *name, const char *tag)
{
	char path[PATH_MAX], buf[64];
	uint64_t v;

	local_path(l, path, name, ".pid");
	if (local_read_file(path, buf, sizeof(buf)))
		return 0;
	buf[strcspn(buf, "\n")] = '\0';
	if (conf_parse_u64(buf, 1, INT32_MAX, &v))
		return 0;
	return local_pid_is_ours((pid_t)v, tag) ? (pid_t)v : 0;
}

static int local_read_addr(const struct local *l, const char *name, char *out, size_t len)
{
	char path[PATH_MAX], buf[300];
	int rc;

	local_path(l, path, name, ".addr");
	rc = local_read_file(path, buf, sizeof(buf));
	if (rc)
		return rc;
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!buf[0])
		return -ENOENT;
	if (strlen(buf) >= len)
		return -ENAMETOOLONG;
	memcpy(out, buf, strlen(buf) + 1);
	return 0;
}

/* Starts argv detached (new session, stdin /dev/null, output appended to
 * DIR/NAME.log) and records its pid in DIR/NAME.pid. */
static int local_spawn(const struct local *l, const char *name, char *const argv[], pid_t *pid)
{
	char log[PATH_MAX], pidf[PATH_MAX], buf[32];
	pid_t p;
	int fd;

	local_path(l, log, name, ".log");
	local_path(l, pidf, name, ".pid");
	fflush(stdout);
	fflush(stderr);
	p = fork();
	if (p < 0)
		return cli_err("fork: %s", strerror(errno));
	if (p == 0) {
		setsid();
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0) {
			dup2(fd, 0);
			close(fd);
		}
		fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execv(argv[0], argv);
		fprintf(stderr, "casfs local: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	snprintf(buf, sizeof(buf), "%d\n", (int)p);
	if (local_write_file(pidf, buf))
		return cli_err("cannot write %s", pidf);
	*pid = p;
	return 0;
}

/* The last non-empty line of DIR/NAME.log, for error messages. */
static void local_log_tail(const struct local *l, const char *name, char *out, size_t len)
{
	char path[PATH_MAX], buf[4096];
	off_t size;
	ssize_t n;
	char *e, *s;
	int fd;

	snprintf(out, len, "(no output)");
	local_path(l, path, name, ".log");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	n = pread(fd, buf, sizeof(buf) - 1, size > (off_t)sizeof(buf) - 1 ?
		  size - (off_t)sizeof(buf) + 1 : 0);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	e = buf + n;
	while (e > buf && (e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	s = strrchr(buf, '\n');
	snprintf(out, len, "%s", s ? s + 1 : buf);
}

/* Reaps pid if it is our child and has exited; returns 1 if it is gone. */
static int local_child_died(pid_t pid)
{
	int status;

	return waitpid(pid, &status, WNOHANG) == pid;
}

static void local_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Waits for DIR/NAME.addr while the child stays alive. */
static int local_wait_addr(const struct local *l, const char *addrname, const char *name,
			   pid_t pid, char *addr, size_t len)
{
	char tail[512];

	for (int i = 0; i < LOCAL_START_S * 10; i++) {
		if (local_read_addr(l, addrname, addr, len) == 0)
			return 0;
		if (local_child_died(pid)) {
			local_log_tail(l, name, tail, sizeof(tail));
			return cli_err("%s exited while starting: %s (see %s/%s.log)", name, tail,
				       l->dir, name);
		}
		local_sleep_ms(100);
	}
	return cli_err("%s did not start within %d s (see %s/%s.log)", name, LOCAL_START_S,
		       l->dir, name);
}

static int local_conf_cb(void *ud, const char *key, const char *value, char *why, size_t whylen)
{
	struct local *l = ud;
	uint64_t v;

	if (!strcmp(key, "chunkservers") || !strcmp(key, "goal")) {
		if (conf_parse_u64(value, 1, !strcmp(key, "goal") ? 9 : LOCAL_MAX_CS, &v)) {
			snprintf(why, whylen, "bad %s", key);
			return -EINVAL;
		}
		if (key[0] == 'c')
			l->ncs = (unsigned)v;
		else
			l->goal = (unsigned)v;
	} else if (!strcmp(key, "mount")) {
		snprintf(l->mnt, sizeof(l->mnt), "%s", value);
	}
	return 0;
}

/* Reads DIR/local.conf (what the last `up` used) if there is one. */
static int local_load(struct local *l)
{
	char path[PATH_MAX], err[PATH_MAX + 64];
	int rc;

	local_path(l, path, "local.conf", "");
	rc = conf_load_file(path, local_conf_cb, l, err, sizeof(err));
	if (rc == -ENOENT)
		return 0;
	return rc ? cli_err("%s", err) : 0;
}

static int local_save(const struct local *l)
{
	char path[PATH_MAX], text[PATH_MAX + 128];

	local_path(l, path, "local.conf", "");
	snprintf(text, sizeof(text),
		 "# written by 'casfs local up'; read by up, down and status\n"
		 "chunkservers = %u\ngoal = %u\nmount = %s\n", l->ncs, l->goal, l->mnt);
	return local_write_file(path, text) ? cli_err("cannot write %s", path) : 0;
}

/* Is mnt (absolute) a casfs mount right now? */
static int local_is_mounted(const char *mnt)
{
	FILE *f = setmntent("/proc/self/mounts", "r");
	struct mntent *m;
	int found = 0;

	if (!f)
		return 0;
	while ((m = getmntent(f)))
		if (!strcmp(m->mnt_dir, mnt) && !strncmp(m->mnt_type, "fuse", 4))
			found = 1;
	endmntent(f);
	return found;
}

/* Runs argv and waits; returns its exit status (or -errno). Output of the
 * tool goes to /dev/null unless show is set. */
static int local_run(char *const argv[], int show)
{
	pid_t p;
	int status, fd;

	fflush(stdout);
	p = fork();
	if (p < 0)
		return -errno;
	if (p == 0) {
		if (!show && (fd = open("/dev/null", O_WRONLY)) >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(p, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* Counts the servers metad lists as up, over an open admin connection. */
static int local_count_up(struct cli_conn *conn, unsigned *up)
{
	struct cli_cs *v;
	size_t n;
	int rc;

	*up = 0;
	rc = cli_cs_list(conn, &v, &n);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++)
		if (v[i].state == MSG_CS_STATE_UP)
			(*up)++;
	cli_cs_free(v, n);
	return 0;
}

static int local_parse(const char *cmd, int argc, char **argv, struct local *l,
		       int *ncs_given, int *goal_given, const char **mnt)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "chunkservers", required_argument, NULL, 'n' },
		{ "goal", required_argument, NULL, 'g' },
		{ "mount", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL;
	int is_up = !strcmp(cmd, "up"), o;
	uint64_t v;

	optind = 0;
	opterr = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'd':
			dir = optarg;
			break;
		case 'n':
			if (!is_up || conf_parse_u64(optarg, 1, LOCAL_MAX_CS, &v))
				return cli_usage("local", "--chunkservers takes 1..%d (with up)",
						 LOCAL_MAX_CS);
			l->ncs = (unsigned)v;
			*ncs_given = 1;
			break;
		case 'g':
			if (!is_up || conf_parse_u64(optarg, 1, 9, &v))
				return cli_usage("local", "--goal takes 1..9 (with up)");
			l->goal = (unsigned)v;
			*goal_given = 1;
			break;
		case 'm':
			if (!is_up)
				return cli_usage("local", "--mount goes with up");
			*mnt = optarg;
			break;
		default:
			return cli_usage("local", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage("local", "unexpected argument '%s'", argv[optind]);
	if (!dir)
		return cli_usage("local", "local %s needs --dir DIR", cmd);
	if (is_up && mkdir(dir, 0755) < 0 && errno != EEXIST)
		return cli_err("cannot create %s: %s", dir, strerror(errno));
	if (!realpath(dir, l->dir))
		return cli_err("%s: %s", dir, strerror(errno));
	if (strlen(l->dir) > LOCAL_DIR_MAX)
		return cli_err("%s: path too long for a local cluster", dir);
	return 0;
}

/* Whether a chunk server or the mount of this cluster still runs. */
static int local_others_run(const struct local *l)
{
	char name[16];

	for (unsigned i = 1; i <= l->ncs; i++) {
		snprintf(name, sizeof(name), "cs%u", i);
		if (local_running(l, name, l->dir))
			return 1;
	}
	return l->mnt[0] && local_running(l, "mount", l->mnt);
}

/* Where a restarted metad listens: where it last did, since chunk servers
 * and mounts still running know it only by that address (and users by
 * CASFS_META). A port something else took meanwhile moves it to a free one
 * when nothing of the cluster runs; otherwise that is an error. */
static int local_metad_listen(const struct local *l, char *out, size_t len)
{
	char last[256];
	int fd;

	snprintf(out, len, "127.0.0.1:0");
	if (local_read_addr(l, "meta", last, sizeof(last)))
		return 0;
	if (net_listen(last, 1, &fd, NULL) == 0) {
		close(fd);
		snprintf(out, len, "%s", last);
		return 0;
	}
	if (local_others_run(l))
		return cli_err("metad's address %s is taken by another process, and chunk servers "
			       "or the mount of %s still expect metad there: stop them with 'casfs "
			       "local down --dir %s', then run up again", last, l->dir, l->dir);
	fprintf(stderr, "casfs: metad's last address %s is taken; it moves to a free port\n",
		last);
	return 0;
}

static int local_start_metad(struct cli_ctx *c, struct local *l)
{
	char bin[PATH_MAX], data[PATH_MAX], addrf[PATH_MAX], mark[PATH_MAX], listen[256];
	char *fmt_argv[] = { bin, "--format", "--data", data, NULL };
	char *argv[] = { bin, "--data", data, "--listen", listen, "--addr-file", addrf, NULL };
	pid_t pid = local_running(l, "metad", l->dir);
	int rc;

	(void)c;
	if (pid)
		return local_read_addr(l, "meta", l->meta_addr, sizeof(l->meta_addr)) ?
		       cli_err("metad (pid %d) runs but %s/meta.addr is missing", (int)pid, l->dir) : 0;
	rc = cli_find_bin("casfs-metad", bin);
	if (rc)
		return rc;
	local_path(l, data, "meta", "");
	local_path(l, addrf, "meta", ".addr");
	local_path(l, mark, ".meta-formatted", "");
	if (access(mark, F_OK) < 0) {
		if (mkdir(data, 0755) < 0 && errno != EEXIST)
			return cli_err("cannot create %s: %s", data, strerror(errno));
		if (local_spawn(l, "metad", fmt_argv, &pid))
			return 1;
		while (waitpid(pid, &rc, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(rc) || WEXITSTATUS(rc)) {
			local_log_tail(l, "metad", mark, sizeof(mark));
			return cli_err("casfs-metad --format failed: %s (see %s/metad.log)", mark,
				       l->dir);
		}
		if (local_write_file(mark, "formatted\n"))
			return cli_err("cannot write %s", mark);
	}
	if (local_metad_listen(l, listen, sizeof(listen)))
		return 1;
	unlink(addrf);
	if (local_spawn(l, "metad", argv, &pid))
		return 1;
	return local_wait_addr(l, "meta", "metad", pid, l->meta_addr, sizeof(l->meta_addr));
}

static int local_start_chunkd(struct local *l, unsigned i, pid_t *pid)
{
	char bin[PATH_MAX], data[PATH_MAX], addrf[PATH_MAX], name[16];
	char *argv[] = { bin, "--data", data, "--meta", l->meta_addr, "--listen", "127.0.0.1:0",
			 "--addr-file", addrf, NULL };
	int rc;

	snprintf(name, sizeof(name), "cs%u", i);
	*pid = 0;
	if (local_running(l, name, l->dir))
		return 0;
	rc = cli_find_bin("casfs-chunkd", bin);
	if (rc)
		return rc;
	local_path(l, data, name, "");
	local_path(l, addrf, name, ".addr");
	if (mkdir(data, 0755) < 0 && errno != EEXIST)
		return cli_err("cannot create %s: %s", data, strerror(errno));
	unlink(addrf);
	return local_spawn(l, name, argv, pid);
}

static int local_mount(struct cli_ctx *c, struct local *l)
{
	char bin[PATH_MAX], tail[512];
	char *argv[] = { bin, "-f", l->meta_addr, l->mnt, NULL };
	char *umount[] = { "fusermount3", "-uz", l->mnt, NULL };
	pid_t pid = local_running(l, "mount", l->mnt);
	int rc;

	(void)c;
	if (pid && local_is_mounted(l->mnt))
		return 0;
	/* A mount left by a crashed casfs-mount answers ENOTCONN: clear it. */
	if (local_is_mounted(l->mnt))
		local_run(umount, 0);
	if (mkdir(l->mnt, 0755) < 0 && errno != EEXIST)
		return cli_err("cannot create %s: %s", l->mnt, strerror(errno));
	rc = cli_find_bin("casfs-mount", bin);
	if (rc)
		return rc;
	if (local_spawn(l, "mount", argv, &pid))
		return 1;
	for (int i = 0; i < LOCAL_START_S * 10; i++) {
		if (local_is_mounted(l->mnt))
			return 0;
		if (local_child_died(pid)) {
			local_log_tail(l, "mount", tail, sizeof(tail));
			return cli_err("casfs-mount exited: %s (see %s/mount.log)", tail, l->dir);
		}
		local_sleep_ms(100);
	}
	return cli_err("%s was not mounted within %d s (see %s/mount.log)", l->mnt, LOCAL_START_S,
		       l->dir);
}

/* Sends SIGTERM to every pid, waits up to LOCAL_STOP_S for all, then
 * SIGKILLs what is left. tags[i] identifies pids[i] (see local_pid_is_ours). */
static void local_stop_pids(const pid_t *pids, char *const *tags, size_t n)
{
	int left;

	for (size_t i = 0; i < n; i++)
		if (pids[i])
			kill(pids[i], SIGTERM);
	for (int t = 0; t < LOCAL_STOP_S * 10; t++) {
		left = 0;
		for (size_t i = 0; i < n; i++)
			if (pids[i] && local_pid_is_ours(pids[i], tags[i]))
				left++;
		if (!left)
			return;
		local_sleep_ms(100);
	}
	for (size_t i = 0; i < n; i++)
		if (pids[i] && local_pid_is_ours(pids[i], tags[i]))
			kill(pids[i], SIGKILL);
}

/* Prints where everything is (table or JSON). */
static void local_report(struct cli_ctx *c, const struct local *l, const char *what)
{
	char maddr[256], addr[256], name[16], data[PATH_MAX], log[PATH_MAX], self[PATH_MAX];
	unsigned up = 0;
	int meta_ok, mounted = l->mnt[0] && local_is_mounted(l->mnt);
	struct cli_conn conn;
	struct cli_json j;
	pid_t pid;

	pid = local_running(l, "metad", l->dir);
	meta_ok = pid && local_read_addr(l, "meta", maddr, sizeof(maddr)) == 0;
	if (!meta_ok)
		snprintf(maddr, sizeof(maddr), "-");
	if (meta_ok && cli_conn_open(&conn, maddr, c->auth, 2000) == 0) {
		if (local_count_up(&conn, &up))
			up = 0;
		cli_conn_close(&conn);
	}
	if (c->json) {
		cli_json_init(&j, stdout);
		cli_json_obj_begin(&j, NULL);
		cli_json_str(&j, "dir", l->dir);
		cli_json_u64(&j, "goal", l->goal);
		cli_json_obj_begin(&j, "metad");
		cli_json_bool(&j, "running", pid != 0);
		cli_json_i64(&j, "pid", pid);
		cli_json_str(&j, "address", meta_ok ? maddr : NULL);
		local_path(l, data, "meta", "");
		cli_json_str(&j, "data", data);
		local_path(l, log, "metad", ".log");
		cli_json_str(&j, "log", log);
		cli_json_obj_end(&j);
		cli_json_u64(&j, "servers_up", up);
		cli_json_arr_begin(&j, "chunkservers");
		for (unsigned i = 1; i <= l->ncs; i++) {
			snprintf(name, sizeof(name), "cs%u", i);
			pid = local_running(l, name, l->dir);
			cli_json_obj_begin(&j, NULL);
			cli_json_str(&j, "name", name);
			cli_json_bool(&j, "running", pid != 0);
			cli_json_i64(&j, "pid", pid);
			cli_json_str(&j, "address",
				     pid && !local_read_addr(l, name, addr, sizeof(addr)) ? addr : NULL);
			local_path(l, data, name, "");
			cli_json_str(&j, "data", data);
			local_path(l, log, name, ".log");
			cli_json_str(&j, "log", log);
			cli_json_obj_end(&j);
		}
		cli_json_arr_end(&j);
		cli_json_obj_begin(&j, "mount");
		cli_json_str(&j, "path", l->mnt[0] ? l->mnt : NULL);
		cli_json_bool(&j, "mounted", mounted);
		pid = l->mnt[0] ? local_running(l, "mount", l->mnt) : 0;
		cli_json_i64(&j, "pid", pid);
		cli_json_obj_end(&j);
		cli_json_obj_end(&j);
		cli_json_finish(&j);
		return;
	}
	printf("casfs local cluster in %s (goal %u): %s\n", l->dir, l->goal, what);
	printf("  %-6s %-22s %-10s %s\n", "NAME", "ADDRESS", "PID", "DATA / LOG");
	local_path(l, data, "meta", "");
	local_path(l, log, "metad", ".log");
	if (pid)
		printf("  %-6s %-22s %-10d %s  %s\n", "metad", maddr, (int)pid, data, log);
	else
		printf("  %-6s %-22s %-10s %s  %s\n", "metad", "-", "stopped", data, log);
	for (unsigned i = 1; i <= l->ncs; i++) {
		snprintf(name, sizeof(name), "cs%u", i);
		pid = local_running(l, name, l->dir);
		if (!pid || local_read_addr(l, name, addr, sizeof(addr)))
			snprintf(addr, sizeof(addr), "-");
		local_path(l, data, name, "");
		local_path(l, log, name, ".log");
		if (pid)
			printf("  %-6s %-22s %-10d %s  %s\n", name, addr, (int)pid, data, log);
		else
			printf("  %-6s %-22s %-10s %s  %s\n", name, "-", "stopped", data, log);
	}
	if (l->mnt[0]) {
		pid = local_running(l, "mount", l->mnt);
		local_path(l, log, "mount", ".log");
		if (pid)
			printf("  %-6s %-22s %-10d %s  %s\n", "mount", mounted ? "mounted" : "not mounted",
			       (int)pid, l->mnt, log);
		else
			printf("  %-6s %-22s %-10s %s  %s\n", "mount", mounted ? "mounted" : "-",
			       "stopped", l->mnt, log);
	}
	if (meta_ok) {
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

		if (n > 0)
			self[n] = '\0';
		else
			snprintf(self, sizeof(self), "casfs");
		printf("%u of %u chunk servers up. Try:\n", up, l->ncs);
		if (mounted)
			printf("  ls %s\n", l->mnt);
		printf("  export CASFS_META=%s; %s status\n", maddr, self);
		printf("  %s local down --dir %s\n", self, l->dir);
	}
}

static int local_up(struct cli_ctx *c, int argc, char **argv)
{
	struct local l = { .ncs = 3, .goal = 1 };
	struct local req = { .ncs = 3, .goal = 1 };
	int ncs_given = 0, goal_given = 0, first, rc;
	const char *mnt = NULL;
	char mark[PATH_MAX];
	pid_t pids[LOCAL_MAX_CS + 1];
	struct cli_conn conn;
	uint64_t changed;
	unsigned up = 0;

	rc = local_parse("up", argc, argv, &req, &ncs_given, &goal_given, &mnt);
	if (rc)
		return rc;
	snprintf(l.dir, sizeof(l.dir), "%s", req.dir);
	local_path(&l, mark, ".meta-formatted", "");
	first = access(mark, F_OK) < 0;
	rc = local_load(&l);
	if (rc)
		return rc;
	/* Fewer servers than last time would leave their blocks missing. */
	if (ncs_given && req.ncs < l.ncs && !first)
		fprintf(stderr, "casfs: %s has %u chunk servers; starting all of them\n", l.dir, l.ncs);
	else if (ncs_given)
		l.ncs = req.ncs;
	if (goal_given)
		l.goal = req.goal;
	if (mnt && local_abspath(mnt, l.mnt))
		return cli_err("%s: %s", mnt, strerror(errno));
	rc = local_save(&l);
	if (rc)
		return rc;
	rc = local_start_metad(c, &l);
	if (rc)
		return rc;
	for (unsigned i = 1; i <= l.ncs; i++) {
		rc = local_start_chunkd(&l, i, &pids[i]);
		if (rc)
			return rc;
	}
	/* metad has bound (its address file exists), so it answers now; one
	 * connection serves the whole wait and the goal. */
	rc = cli_connect(c, l.meta_addr, &conn);
	if (rc)
		return rc;
	for (int t = 0; t < LOCAL_START_S * 10; t++) {
		if (local_count_up(&conn, &up) == 0 && up >= l.ncs)
			break;
		for (unsigned i = 1; i <= l.ncs; i++) {
			char name[16], tail[512];

			snprintf(name, sizeof(name), "cs%u", i);
			if (pids[i] && local_child_died(pids[i])) {
				local_log_tail(&l, name, tail, sizeof(tail));
				cli_conn_close(&conn);
				return cli_err("%s exited while starting: %s (see %s/%s.log)", name,
					       tail, l.dir, name);
			}
		}
		local_sleep_ms(100);
	}
	if (up < l.ncs) {
		cli_conn_close(&conn);
		return cli_err("only %u of %u chunk servers registered with metad within %d s "
			       "(see %s/cs*.log)", up, l.ncs, LOCAL_START_S, l.dir);
	}
	rc = first || goal_given ? cli_set_goal(&conn, CASFS_ROOT_INO, l.goal, 0, &changed) : 0;
	cli_conn_close(&conn);
	if (rc)
		return cli_err("set root goal %u: %s", l.goal, cli_strerror(rc));
	if (l.mnt[0]) {
		rc = local_mount(c, &l);
		if (rc)
			return rc;
	}
	local_report(c, &l, "up");
	return 0;
}

static int local_down(struct cli_ctx *c, int argc, char **argv)
{
	struct local l = { .ncs = 3, .goal = 1 };
	char *fu[] = { "fusermount3", "-u", l.mnt, NULL };
	char *fuz[] = { "fusermount3", "-uz", l.mnt, NULL };
	char *tags[LOCAL_MAX_CS + 1], path[PATH_MAX], name[16];
	pid_t pids[LOCAL_MAX_CS + 1];
	int dummy, rc, stopped = 0;
	const char *mnt = NULL;

	rc = local_parse("down", argc, argv, &l, &dummy, &dummy, &mnt);
	if (rc)
		return rc;
	rc = local_load(&l);
	if (rc)
		return rc;
	if (l.mnt[0]) {
		pids[0] = local_running(&l, "mount", l.mnt);
		/* Unmounting makes casfs-mount exit by itself after flushing;
		 * a busy mount is detached lazily rather than left behind. */
		if (local_is_mounted(l.mnt) && local_run(fu, 0) != 0 && local_run(fuz, 1) != 0)
			cli_err("could not unmount %s", l.mnt);
		tags[0] = l.mnt;
		if (pids[0])
			stopped++;
		local_stop_pids(pids, tags, 1);
		local_path(&l, path, "mount", ".pid");
		unlink(path);
	}
	for (unsigned i = 1; i <= l.ncs; i++) {
		snprintf(name, sizeof(name), "cs%u", i);
		pids[i - 1] = local_running(&l, name, l.dir);
		tags[i - 1] = l.dir;
		stopped += pids[i - 1] != 0;
	}
	local_stop_pids(pids, tags, l.ncs);
	for (unsigned i = 1; i <= l.ncs; i++) {
		snprintf(name, sizeof(name), "cs%u", i);
		local_path(&l, path, name, ".pid");
		unlink(path);
		local_path(&l, path, name, ".addr");
		unlink(path);
	}
	pids[0] = local_running(&l, "metad", l.dir);
	tags[0] = l.dir;
	stopped += pids[0] != 0;
	local_stop_pids(pids, tags, 1);
	local_path(&l, path, "metad", ".pid");
	unlink(path);
	local_path(&l, path, "meta", ".addr");
	unlink(path);
	if (c->json) {
		struct cli_json j;

		cli_json_init(&j, stdout);
		cli_json_obj_begin(&j, NULL);
		cli_json_str(&j, "dir", l.dir);
		cli_json_u64(&j, "stopped", (uint64_t)stopped);
		cli_json_obj_end(&j);
		cli_json_finish(&j);
	} else {
		printf("casfs local cluster in %s: stopped %d process%s; data kept\n", l.dir,
		       stopped, stopped == 1 ? "" : "es");
	}
	return 0;
}

static int local_status(struct cli_ctx *c, int argc, char **argv)
{
	struct local l = { .ncs = 3, .goal = 1 };
	const char *mnt = NULL;
	int dummy, rc;

	rc = local_parse("status", argc, argv, &l, &dummy, &dummy, &mnt);
	if (rc)
		return rc;
	rc = local_load(&l);
	if (rc)
		return rc;
	local_report(c, &l, local_running(&l, "metad", l.dir) ? "running" : "stopped");
	return 0;
}

int cli_cmd_local(struct cli_ctx *c, int argc, char **argv)
{
	if (argc < 2)
		return cli_usage("local", "which action? up, down or status");
	if (!strcmp(argv[1], "up"))
		return local_up(c, argc - 1, argv + 1);
	if (!strcmp(argv[1], "down"))
		return local_down(c, argc - 1, argv + 1);
	if (!strcmp(argv[1], "status"))
		return local_status(c, argc - 1, argv + 1);
	return cli_usage("local", "unknown action '%s'", argv[1]);
}
