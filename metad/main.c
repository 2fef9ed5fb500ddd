/* casfs-metad: start-up, configuration, the data folder, checkpoints and
 * timers. `--format` makes a new cluster; serving loads the newest
 * checkpoint, replays the changelog after it, and runs one libevent loop
 * that owns all state (see meta_int.h); a second thread only fsyncs the
 * changelog (meta_log.c), and checkpoints are written by a forked child. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "fs/conf.h"
#include "fs/log.h"
#include "fs/msg.h"
#include "fs/xmalloc.h"
#include "metad/meta_ckpt.h"
#include "metad/meta_exec.h"
#include "metad/meta_int.h"

#define META_FORMAT_VERSION 1
/* The scheduler and expiry tick: fast enough that repair starts within a
 * fraction of a second, cheap enough to be invisible (one pass ≤ 5 ms). */
#define META_TICK_MS 200

static void conf_defaults(struct meta_conf *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->listen, sizeof(c->listen), "127.0.0.1:9400");
	c->fsync_interval_ms = 1000;
	c->checkpoint_interval_s = 3600;
	/* 1M records ≈ 60 MB of changelog, replayed in about a second. */
	c->checkpoint_changes = 1000000;
	c->session_timeout_ms = 30000;
	c->cs_dead_timeout_ms = 10000;
	c->gc_grace_s = 300;
	c->repair_per_server = 4;
	c->poll_us = 200;
	c->default_goal = 2;
	c->default_block_size = 1u << 20;
	c->log_level = LOG_LVL_INFO;
}

static int conf_u32(const char *v, uint64_t min, uint64_t max, uint32_t *out, char *why,
		    size_t whylen)
{
	uint64_t x;
	int rc = conf_parse_u64(v, min, max, &x);

	if (rc) {
		snprintf(why, whylen, "expected a number in %llu..%llu", (unsigned long long)min,
			 (unsigned long long)max);
		return -EINVAL;
	}
	*out = (uint32_t)x;
	return 0;
}

static int conf_cb(void *ud, const char *key, const char *value, char *why, size_t whylen)
{
	struct meta_conf *c = ud;
	uint32_t u32;
	uint64_t u64;

	if (strcmp(key, "listen") == 0) {
		char host[256];
		uint16_t port;

		if (conf_parse_addr(value, host, sizeof(host), &port) ||
		    strlen(value) >= sizeof(c->listen)) {
			snprintf(why, whylen, "expected HOST:PORT");
			return -EINVAL;
		}
		snprintf(c->listen, sizeof(c->listen), "%s", value);
	} else if (strcmp(key, "auth_key") == 0) {
		if (strlen(value) >= sizeof(c->auth_key)) {
			snprintf(why, whylen, "too long");
			return -EINVAL;
		}
		snprintf(c->auth_key, sizeof(c->auth_key), "%s", value);
	} else if (strcmp(key, "sync") == 0) {
		if (strcmp(value, "always") == 0) {
			c->sync_always = 1;
		} else if (strcmp(value, "interval") == 0) {
			c->sync_always = 0;
		} else {
			snprintf(why, whylen, "expected 'interval' or 'always'");
			return -EINVAL;
		}
	} else if (strcmp(key, "fsync_interval_ms") == 0) {
		return conf_u32(value, 1, 3600000, &c->fsync_interval_ms, why, whylen);
	} else if (strcmp(key, "checkpoint_interval_s") == 0) {
		return conf_u32(value, 1, 86400 * 7, &c->checkpoint_interval_s, why, whylen);
	} else if (strcmp(key, "checkpoint_changes") == 0) {
		if (conf_parse_u64(value, 1, UINT64_MAX, &u64)) {
			snprintf(why, whylen, "expected a positive number");
			return -EINVAL;
		}
		c->checkpoint_changes = u64;
	} else if (strcmp(key, "session_timeout_ms") == 0) {
		return conf_u32(value, 100, 86400000, &c->session_timeout_ms, why, whylen);
	} else if (strcmp(key, "cs_dead_timeout_ms") == 0) {
		return conf_u32(value, 100, 86400000, &c->cs_dead_timeout_ms, why, whylen);
	} else if (strcmp(key, "gc_grace_s") == 0) {
		return conf_u32(value, 0, 86400 * 30, &c->gc_grace_s, why, whylen);
	} else if (strcmp(key, "poll_us") == 0) {
		return conf_u32(value, 0, 100000, &c->poll_us, why, whylen);
	} else if (strcmp(key, "repair_per_server") == 0) {
		return conf_u32(value, 1, 1024, &c->repair_per_server, why, whylen);
	} else if (strcmp(key, "default_goal") == 0) {
		if (conf_u32(value, 1, 9, &u32, why, whylen))
			return -EINVAL;
		c->default_goal = (uint8_t)u32;
	} else if (strcmp(key, "default_block_size") == 0) {
		if (conf_parse_size(value, &u64) || u64 < META_BS_MIN || u64 > META_BS_MAX ||
		    (u64 & (u64 - 1))) {
			snprintf(why, whylen, "expected a power of two between 64K and 8M");
			return -EINVAL;
		}
		c->default_block_size = (uint32_t)u64;
	} else if (strcmp(key, "log_level") == 0) {
		if (log_level_parse(value, &c->log_level)) {
			snprintf(why, whylen, "expected error, warn, info or debug");
			return -EINVAL;
		}
	} else {
		snprintf(why, whylen, "unknown setting");
		return -EINVAL;
	}
	return 0;
}

/* ---- the data folder ---- */

struct cluster_file {
	int has_format, has_uuid, has_seed;
	uint32_t format;
	struct casfs_uuid uuid;
	uint8_t seed[BLK_KEY_SEED_SIZE];
};

static int cluster_cb(void *ud, const char *key, const char *value, char *why, size_t whylen)
{
	struct cluster_file *c = ud;
	uint64_t v;

	if (strcmp(key, "format") == 0) {
		if (conf_parse_u64(value, 1, 1000, &v))
			goto bad;
		c->format = (uint32_t)v;
		c->has_format = 1;
	} else if (strcmp(key, "uuid") == 0) {
		if (casfs_hex_parse(value, c->uuid.b, sizeof(c->uuid.b)))
			goto bad;
		c->has_uuid = 1;
	} else if (strcmp(key, "key_seed") == 0) {
		if (casfs_hex_parse(value, c->seed, sizeof(c->seed)))
			goto bad;
		c->has_seed = 1;
	} else {
		goto bad;
	}
	return 0;
bad:
	snprintf(why, whylen, "bad '%s'", key);
	return -EINVAL;
}

static int write_file_atomic(const char *dir, const char *name, const char *text)
{
	char path[4096], tmp[4200];
	size_t len = strlen(text);
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0)
		rc = errno ? -errno : -EIO;
	close(fd);
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	return rc;
}

/* Takes DIR/lock (flock, held for the process's life): two daemons on one
 * folder would interleave their changelogs. *fd stays open on success. */
static int lock_folder(const char *dir, int *fd, char *err, size_t errlen)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/lock", dir);
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (*fd < 0) {
		snprintf(err, errlen, "%.400s: %s", path, strerror(errno));
		return -errno;
	}
	if (flock(*fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;

		close(*fd);
		*fd = -1;
		snprintf(err, errlen, "%.400s is in use by another casfs-metad", dir);
		return -e;
	}
	return 0;
}

static void remove_state_files(const char *dir)
{
	meta_ckpt_remove_before(dir, UINT64_MAX);
	meta_log_remove_before(dir, UINT64_MAX);
}

static int do_format(const char *dir, int force, const struct meta_conf *conf)
{
	struct cluster_file old = { 0 };
	struct meta_sessions ss;
	struct meta_ckpt_state st = { 0 };
	struct casfs_time now;
	char path[4096], err[512], text[512], uuid_hex[33], seed_hex[65];
	uint8_t uuid[16], seed[BLK_KEY_SEED_SIZE];
	struct stat sb;
	int rc, lockfd;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "casfs-metad: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	if (lock_folder(dir, &lockfd, err, sizeof(err))) {
		fprintf(stderr, "casfs-metad: %s\n", err);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/cluster", dir);
	if (stat(path, &sb) == 0 && !force) {
		conf_load_file(path, cluster_cb, &old, err, sizeof(err));
		casfs_hex_format(old.uuid.b, 16, uuid_hex);
		fprintf(stderr, "casfs-metad: %s already holds cluster %s; refusing to format it "
			"(add --force to destroy it)\n", dir, old.has_uuid ? uuid_hex : "(unreadable)");
		return 1;
	}
	unlink(path);
	remove_state_files(dir);
	if (casfs_random(uuid, sizeof(uuid)) || casfs_random(seed, sizeof(seed))) {
		fprintf(stderr, "casfs-metad: no random source\n");
		return 1;
	}
	meta_now(&now);
	meta_sess_init(&ss);
	st.locks = NULL;
	st.ns = meta_ns_new(conf->default_goal, conf->default_block_size, &now);
	st.ss = &ss;
	st.segno = 1;
	st.next_cs_id = 1;
	rc = meta_ckpt_write(dir, &st);
	meta_ns_free(st.ns);
	meta_sess_free_all(&ss);
	if (rc) {
		fprintf(stderr, "casfs-metad: %s: cannot write the first checkpoint: %s\n", dir,
			strerror(-rc));
		return 1;
	}
	casfs_hex_format(uuid, sizeof(uuid), uuid_hex);
	casfs_hex_format(seed, sizeof(seed), seed_hex);
	snprintf(text, sizeof(text),
		 "# casfs-metad cluster identity: never edit or copy between clusters\n"
		 "format = %d\nuuid = %s\nkey_seed = %s\n",
		 META_FORMAT_VERSION, uuid_hex, seed_hex);
	/* Written last: its presence marks a completely formatted folder. */
	rc = write_file_atomic(dir, "cluster", text);
	if (rc) {
		fprintf(stderr, "casfs-metad: %s/cluster: %s\n", dir, strerror(-rc));
		return 1;
	}
	printf("formatted %s: cluster %s\n", dir, uuid_hex);
	return 0;
}

static int read_cluster(struct meta_srv *srv, char *err, size_t errlen)
{
	struct cluster_file c = { 0 };
	char path[400], e[256];
	struct stat sb;

	if (stat(srv->dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "%s: no such data folder (make one with --format --data %s)",
			 srv->dir, srv->dir);
		return -ENOENT;
	}
	snprintf(path, sizeof(path), "%.380s/cluster", srv->dir);
	if (stat(path, &sb) < 0) {
		snprintf(err, errlen, "%s: not a formatted casfs-metad data folder (no cluster file)",
			 srv->dir);
		return -ENOENT;
	}
	if (conf_load_file(path, cluster_cb, &c, e, sizeof(e))) {
		snprintf(err, errlen, "%s: not a casfs-metad cluster file (%s)", path, e);
		return -EINVAL;
	}
	if (!c.has_format || !c.has_uuid || !c.has_seed) {
		snprintf(err, errlen, "%s: incomplete cluster file", path);
		return -EINVAL;
	}
	if (c.format != META_FORMAT_VERSION) {
		snprintf(err, errlen, "%s: data format %u, this metad reads format %d", path,
			 c.format, META_FORMAT_VERSION);
		return -EINVAL;
	}
	srv->cluster = c.uuid;
	memcpy(srv->seed, c.seed, sizeof(srv->seed));
	return 0;
}

/* ---- replay ---- */

static int replay_rec(void *ud, const struct meta_rec *rec)
{
	struct meta_srv *srv = ud;
	struct meta_exec x = { .ns = srv->ns, .ss = &srv->ss, .locks = srv->locks };

	return meta_exec_apply_record(&x, rec, &srv->next_cs_id);
}

static int load_state(struct meta_srv *srv, char *err, size_t errlen)
{
	struct meta_ckpt_state st = { 0 };
	uint64_t last_seq, last_segno = 0, segno;
	int64_t t0 = meta_now_ms(), t1;
	int rc;

	st.ss = &srv->ss;
	st.locks = srv->locks;
	rc = meta_ckpt_load(srv->dir, srv->conf.default_goal, srv->conf.default_block_size,
			    meta_now_ms(), &st, err, errlen);
	if (rc == -ENOENT) {
		snprintf(err, errlen, "%s: half-written data folder (cluster file but no checkpoint); "
			 "re-run --format --force", srv->dir);
		return rc;
	}
	if (rc)
		return rc;
	srv->ns = st.ns;
	srv->next_cs_id = st.next_cs_id;
	t1 = meta_now_ms();
	meta_ns_blocks(srv->ns)->now_ms = meta_now_ms();
	last_seq = st.last_seq;
	rc = meta_log_replay(srv->dir, st.segno, st.last_seq, replay_rec, srv, &last_seq,
			     &last_segno, err, errlen);
	if (rc)
		return rc;
	segno = last_segno >= st.segno ? last_segno + 1 : st.segno;
	rc = meta_log_open(srv->dir, segno, last_seq + 1, &srv->log);
	if (rc) {
		snprintf(err, errlen, "%s: cannot start changelog segment %llu: %s", srv->dir,
			 (unsigned long long)segno, strerror(-rc));
		return rc;
	}
	srv->ckpt_segno = st.segno;
	srv->changes_since_ckpt = last_seq - st.last_seq;
	log_info("loaded checkpoint %llu (%lld ms) + %llu changelog records (%lld ms): %llu inodes, "
		 "%u sessions", (unsigned long long)st.segno, (long long)(t1 - t0),
		 (unsigned long long)(last_seq - st.last_seq), (long long)(meta_now_ms() - t1),
		 (unsigned long long)meta_ns_inode_count(srv->ns), srv->ss.h.n);
	return 0;
}

/* ---- checkpoints ---- */

static void ckpt_start(struct meta_srv *srv)
{
	struct meta_ckpt_state st;
	uint64_t segno = meta_log_segno(srv->log) + 1;
	pid_t pid;
	int rc = meta_log_rotate(srv->log, segno);

	if (rc) {
		log_error("checkpoint: cannot start changelog segment %llu: %s",
			  (unsigned long long)segno, strerror(-rc));
		return;
	}
	st.ns = srv->ns;
	st.ss = &srv->ss;
	st.locks = srv->locks;
	st.segno = segno;
	st.last_seq = meta_log_last_seq(srv->log);
	st.next_cs_id = srv->next_cs_id;
	pid = fork();
	if (pid < 0) {
		log_error("checkpoint: fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		/* The child sees a frozen copy of the state (copy-on-write). It
		 * must not keep the folder locked, nor outlive a killed parent
		 * while a new metad starts on the folder. */
		close(srv->lock_fd);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			_exit(1);
		rc = meta_ckpt_write(srv->dir, &st);
		if (rc)
			log_error("checkpoint %llu: %s", (unsigned long long)segno, strerror(-rc));
		_exit(rc ? 1 : 0);
	}
	srv->ckpt_pid = pid;
	srv->ckpt_segno = segno;
	srv->changes_since_ckpt = 0;
	srv->last_ckpt_ms = meta_now_ms();
	log_debug("checkpoint %llu started (pid %d)", (unsigned long long)segno, (int)pid);
}

static void ckpt_reap(struct meta_srv *srv, int block)
{
	int status;
	pid_t pid;

	if (!srv->ckpt_pid)
		return;
	pid = waitpid(srv->ckpt_pid, &status, block ? 0 : WNOHANG);
	if (pid == 0 || (pid < 0 && errno == EINTR))
		return;
	srv->ckpt_pid = 0;
	if (pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		meta_log_remove_before(srv->dir, srv->ckpt_segno);
		meta_ckpt_remove_before(srv->dir, srv->ckpt_segno);
		log_info("checkpoint %llu written", (unsigned long long)srv->ckpt_segno);
	} else {
		log_error("checkpoint %llu failed; the changelog keeps everything",
			  (unsigned long long)srv->ckpt_segno);
	}
}

/* A clean shutdown leaves a checkpoint of everything, so the next start
 * has nothing to replay. Written in-process: nothing else runs now. */
static void ckpt_final(struct meta_srv *srv)
{
	struct meta_ckpt_state st;
	uint64_t segno = meta_log_segno(srv->log) + 1;
	int rc = meta_log_rotate(srv->log, segno);

	if (rc) {
		log_warn("final checkpoint skipped: %s", strerror(-rc));
		return;
	}
	st.ns = srv->ns;
	st.ss = &srv->ss;
	st.locks = srv->locks;
	st.segno = segno;
	st.last_seq = meta_log_last_seq(srv->log);
	st.next_cs_id = srv->next_cs_id;
	rc = meta_ckpt_write(srv->dir, &st);
	if (rc) {
		log_warn("final checkpoint failed: %s; the changelog keeps everything", strerror(-rc));
		return;
	}
	meta_log_remove_before(srv->dir, segno);
	meta_ckpt_remove_before(srv->dir, segno);
	log_info("checkpoint %llu written at shutdown", (unsigned long long)segno);
}

/* ---- timers and signals ---- */

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct meta_srv *srv = arg;
	int64_t now = meta_now_ms();

	(void)fd;
	(void)what;
	meta_srv_expire_sessions(srv, now);
	meta_blk_table_now(srv);
	meta_cs_tick(srv, now);
	ckpt_reap(srv, 0);
	if (!srv->ckpt_pid && srv->changes_since_ckpt &&
	    (srv->changes_since_ckpt >= srv->conf.checkpoint_changes ||
	     now - srv->last_ckpt_ms >= (int64_t)srv->conf.checkpoint_interval_s * 1000))
		ckpt_start(srv);
}

static void fsync_cb(evutil_socket_t fd, short what, void *arg)
{
	struct meta_srv *srv = arg;

	(void)fd;
	(void)what;
	meta_log_request_sync(srv->log, meta_log_last_seq(srv->log));
}

static void notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct meta_srv *srv = arg;

	(void)fd;
	(void)what;
	meta_log_drain_notify(srv->log);
	meta_srv_release_parked(srv);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct meta_srv *srv = arg;

	(void)what;
	log_info("signal %d: shutting down", (int)sig);
	event_base_loopexit(srv->base, NULL);
}

static int write_addr_file(const char *path, const char *listen, uint16_t port)
{
	char host[256], text[300], tmp[4200];
	uint16_t p;
	FILE *f;

	conf_parse_addr(listen, host, sizeof(host), &p);
	if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	snprintf(text, sizeof(text), "%s:%u\n", host, port);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fputs(text, f);
	if (fclose(f) != 0 || rename(tmp, path) < 0)
		return -errno;
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: casfs-metad --format --data DIR [--force]\n"
		"       casfs-metad --data DIR [--listen HOST:PORT] [--config FILE]\n"
		"                   [--addr-file FILE] [--log-level LEVEL] [--KEY VALUE]...\n"
		"Serves the casfs namespace. Keys (config file or --key value): listen, auth_key,\n"
		"sync (interval|always), fsync_interval_ms, checkpoint_interval_s,\n"
		"checkpoint_changes, session_timeout_ms, cs_dead_timeout_ms, gc_grace_s,\n"
		"repair_per_server, poll_us, default_goal, default_block_size, log_level.\n");
}

int main(int argc, char **argv)
{
	static struct meta_srv srv;
	const char *dir = NULL, *config = NULL, *addr_file = NULL;
	int format = 0, force = 0, rc = 1;
	char err[1024];
	uint16_t port = 0;

	log_init("casfs-metad", LOG_LVL_INFO, 0);
	conf_defaults(&srv.conf);
	srv.lock_fd = -1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			config = argv[++i];
		}
	}
	if (config && conf_load_file(config, conf_cb, &srv.conf, err, sizeof(err))) {
		fprintf(stderr, "casfs-metad: %s\n", err);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--format") == 0) {
			format = 1;
		} else if (strcmp(a, "--force") == 0) {
			force = 1;
		} else if (strncmp(a, "--", 2) == 0 && i + 1 < argc) {
			char key[128];
			size_t k;

			if (strcmp(a, "--config") == 0) {
				i++;
				continue;
			}
			if (strcmp(a, "--data") == 0) {
				dir = argv[++i];
				continue;
			}
			if (strcmp(a, "--addr-file") == 0) {
				addr_file = argv[++i];
				continue;
			}
			snprintf(key, sizeof(key), "%s", a + 2);
			for (k = 0; key[k]; k++)
				if (key[k] == '-')
					key[k] = '_';
			if (conf_set(key, argv[++i], conf_cb, &srv.conf, err, sizeof(err))) {
				fprintf(stderr, "casfs-metad: %s\n", err);
				return 2;
			}
		} else {
			fprintf(stderr, "casfs-metad: unexpected argument '%s' (see --help)\n", a);
			return 2;
		}
	}
	if (!dir) {
		fprintf(stderr, "casfs-metad: --data DIR is required (see --help)\n");
		return 2;
	}
	log_init("casfs-metad", srv.conf.log_level, 0);
	if (format)
		return do_format(dir, force, &srv.conf);

	signal(SIGPIPE, SIG_IGN);
	srv.dir = xstrdup(dir);
	meta_sess_init(&srv.ss);
	proto_wbuf_init(&srv.scratch);
	srv.locks = meta_lock_new();
	srv.next_cs_id = 1;
	if (read_cluster(&srv, err, sizeof(err)) || lock_folder(dir, &srv.lock_fd, err, sizeof(err)) ||
	    load_state(&srv, err, sizeof(err))) {
		fprintf(stderr, "casfs-metad: %s\n", err);
		goto out;
	}
	srv.last_ckpt_ms = meta_now_ms();
	srv.started_ms = meta_now_ms();
	srv.base = event_base_new();
	if (meta_srv_listen(&srv, srv.conf.listen, &port)) {
		fprintf(stderr, "casfs-metad: cannot listen on %s: %s\n", srv.conf.listen,
			strerror(errno));
		goto out;
	}
	if (addr_file && write_addr_file(addr_file, srv.conf.listen, port)) {
		fprintf(stderr, "casfs-metad: %s: %s\n", addr_file, strerror(errno));
		goto out;
	}
	{
		struct timeval tick = { 0, META_TICK_MS * 1000 };
		struct timeval fs = { srv.conf.fsync_interval_ms / 1000,
				      (srv.conf.fsync_interval_ms % 1000) * 1000 };

		srv.ev_tick = event_new(srv.base, -1, EV_PERSIST, tick_cb, &srv);
		event_add(srv.ev_tick, &tick);
		srv.ev_fsync = event_new(srv.base, -1, EV_PERSIST, fsync_cb, &srv);
		event_add(srv.ev_fsync, &fs);
		srv.ev_notify = event_new(srv.base, meta_log_notify_fd(srv.log), EV_READ | EV_PERSIST,
					  notify_cb, &srv);
		event_add(srv.ev_notify, NULL);
		srv.ev_sigterm = evsignal_new(srv.base, SIGTERM, signal_cb, &srv);
		event_add(srv.ev_sigterm, NULL);
		srv.ev_sigint = evsignal_new(srv.base, SIGINT, signal_cb, &srv);
		event_add(srv.ev_sigint, NULL);
	}
	log_info("serving %s on port %u (sync = %s)", dir, port,
		 srv.conf.sync_always ? "always" : "interval");
	meta_srv_run(&srv);
	rc = 0;
out:
	if (srv.listener)
		evconnlistener_free(srv.listener);
	meta_srv_close_all(&srv);
	ckpt_reap(&srv, 1);
	if (rc == 0 && srv.changes_since_ckpt)
		ckpt_final(&srv);
	meta_log_close(srv.log);
	if (srv.ev_tick)
		event_free(srv.ev_tick);
	if (srv.ev_fsync)
		event_free(srv.ev_fsync);
	if (srv.ev_notify)
		event_free(srv.ev_notify);
	if (srv.ev_sigterm)
		event_free(srv.ev_sigterm);
	if (srv.ev_sigint)
		event_free(srv.ev_sigint);
	meta_cs_free_all(&srv);
	meta_lock_free(srv.locks);
	meta_sess_free_all(&srv.ss);
	meta_ns_free(srv.ns);
	proto_wbuf_free(&srv.scratch);
	if (srv.base)
		event_base_free(srv.base);
	free(srv.dir);
	if (srv.lock_fd >= 0)
		close(srv.lock_fd);
	return rc;
}
