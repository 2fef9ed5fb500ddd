/* casfs-mount: option parsing, session set-up, daemonising and signals.
 *
 *   casfs-mount [-f] [-d] [-o OPTS] HOST:PORT[:/subdir] MOUNTPOINT
 *
 * Without -f the process forks first (before any thread exists) and the
 * parent exits only once the child reports the mount up (0) or failed, so
 * `casfs-mount ... && ls MOUNTPOINT` works. SIGTERM/SIGINT/SIGHUP go to a
 * signal thread that first syncs the file system (the kernel's dirty pages
 * come down to us and are committed), then ends the FUSE loop; after the
 * loop every buffered write is flushed before the process exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client/cl_cache.h"
#include "client/cl_chunk.h"
#include "client/cl_file.h"
#include "client/cl_meta.h"
#include "client/cl_ns.h"
#include "client/mount.h"
#include "fs/conf.h"
#include "fs/log.h"
#include "fs/xmalloc.h"

/* 256 MiB of verified blocks: a working set of a few big files. */
#define MNT_CACHE_DEFAULT (256ull << 20)
/* Written blocks buffered before writers push them out, mount-wide: a
 * random writer's working set of this size is re-written in memory. */
#define MNT_WRITE_CACHE_DEFAULT (256ull << 20)
/* Upload and prefetch threads: 4 keep 2 cores and a 3-server chain busy. */
#define MNT_WORKERS_DEFAULT 4

struct mnt_conf {
	char *cache_size;
	char *write_cache;
	char *auth_key;
	char *log_level;
	double attr_timeout;
	double entry_timeout;
	int direct;
	int writeback;
	int nolocal;
	unsigned int workers;
	int foreground;
	int debug;
	int has_fsname;
	char *source;
	char *mountpoint;
};

enum { KEY_FG, KEY_DEBUG, KEY_HELP, KEY_VERSION, KEY_FSNAME };

#define MNT_OPT(t, p, v) { t, offsetof(struct mnt_conf, p), v }
static const struct fuse_opt mnt_opt_spec[] = {
	MNT_OPT("cache_size=%s", cache_size, 0),
	MNT_OPT("write_cache=%s", write_cache, 0),
	MNT_OPT("auth_key=%s", auth_key, 0),
	MNT_OPT("log_level=%s", log_level, 0),
	MNT_OPT("attr_timeout=%lf", attr_timeout, 0),
	MNT_OPT("entry_timeout=%lf", entry_timeout, 0),
	MNT_OPT("direct", direct, 1),
	MNT_OPT("writeback", writeback, 1),
	MNT_OPT("nolocal", nolocal, 1),
	MNT_OPT("workers=%u", workers, 0),
	FUSE_OPT_KEY("-f", KEY_FG),
	FUSE_OPT_KEY("-d", KEY_DEBUG),
	FUSE_OPT_KEY("debug", KEY_DEBUG),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_KEY("fsname=", KEY_FSNAME),
	FUSE_OPT_END
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: casfs-mount [-f] [-d] [-o OPTIONS] HOST:PORT[:/subdir] MOUNTPOINT\n"
		"  -f                  stay in the foreground (log to stderr)\n"
		"  -d                  FUSE debug output (implies -f)\n"
		"  -o cache_size=SIZE  client block cache (default 256M; 0 = none)\n"
		"  -o write_cache=SIZE written blocks buffered before they are pushed out\n"
		"                      early, all files together (default 256M)\n"
		"  -o attr_timeout=S   kernel attribute cache time (default 1)\n"
		"  -o entry_timeout=S  kernel name cache time (default 1)\n"
		"  -o direct           no kernel page cache: every read and write goes\n"
		"                      through casfs (the block cache stays: it holds\n"
		"                      verified immutable blocks and is never stale)\n"
		"  -o writeback        kernel writeback cache: faster small writes, but\n"
		"                      size changes by other clients are not seen while\n"
		"                      the kernel caches the inode (single-client use)\n"
		"  -o nolocal          read every block over TCP, also from chunk servers\n"
		"                      on this host (which otherwise hand over the file)\n"
		"  -o auth_key=KEY     metad's auth_key\n"
		"  -o log_level=L      error|warn|info|debug (default warn)\n"
		"  -o workers=N        upload/prefetch threads (default 4)\n"
		"  other -o options go to FUSE (allow_other, ro, fsname=, ...)\n");
}

static int mnt_opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct mnt_conf *conf = data;

	(void)outargs;
	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		if (!conf->source) {
			conf->source = xstrdup(arg);
			return 0;
		}
		if (!conf->mountpoint) {
			conf->mountpoint = xstrdup(arg);
			return 0;
		}
		fprintf(stderr, "casfs-mount: unexpected argument '%s'\n", arg);
		return -1;
	case KEY_FG:
		conf->foreground = 1;
		return 0;
	case KEY_DEBUG:
		conf->foreground = 1;
		conf->debug = 1;
		return 0;
	case KEY_HELP:
		usage(stdout);
		exit(0);
	case KEY_VERSION:
		printf("casfs-mount protocol %d, libfuse %s\n", PROTO_VERSION, fuse_pkgversion());
		exit(0);
	case KEY_FSNAME:
		conf->has_fsname = 1;
		return 1;
	default:
		return 1;
	}
}

/* Walks /a/b/c from the cluster root; the result must be a directory. */
static int resolve_subdir(struct cl_meta *m, const char *path, uint64_t *ino)
{
	char *copy = xstrdup(path), *save = NULL, *name;
	struct casfs_attr a = { .ino = CASFS_ROOT_INO, .mode = S_IFDIR };
	int rc = 0;

	for (name = strtok_r(copy, "/", &save); name; name = strtok_r(NULL, "/", &save)) {
		rc = cl_ns_lookup(m, a.ino, name, &a);
		if (rc)
			goto out;
	}
	if (!S_ISDIR(a.mode))
		rc = -ENOTDIR;
	*ino = a.ino;
out:
	free(copy);
	copy = NULL;
	return rc;
}

struct sig_ctx {
	struct fuse_session *se;
	struct cl_meta *meta;
	const char *mountpoint;
	pthread_t main_thread;
	sigset_t set;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	int is_synced;
	int is_loop_done;
};

/* Seconds a SIGTERM waits for buffered data to reach the cluster before
 * giving up on an unreachable metad (the process must end eventually). */
#define MNT_STOP_GRACE_S 20

static void on_wake(int sig)
{
	(void)sig;
}

static void *sync_main(void *arg)
{
	struct sig_ctx *s = arg;
	int fd = open(s->mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		syncfs(fd);
		close(fd);
	}
	pthread_mutex_lock(&s->mu);
	s->is_synced = 1;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Flushes the kernel's dirty pages through the still-running loop, then
 * ends the loop (the main thread is woken from its wait by SIGUSR1). When
 * metad stays unreachable past the grace time, pending calls are failed so
 * that the process can end. */
static void *signal_main(void *arg)
{
	struct sig_ctx *s = arg;
	struct timespec ts;
	pthread_t syncer;
	int sig;

	if (sigwait(&s->set, &sig))
		return NULL;
	pthread_mutex_lock(&s->mu);
	if (s->is_loop_done) {
		pthread_mutex_unlock(&s->mu);
		return NULL;	/* unmounted: main asked us to quit */
	}
	pthread_mutex_unlock(&s->mu);
	log_info("signal %d: flushing and unmounting %s", sig, s->mountpoint);
	pthread_create(&syncer, NULL, sync_main, s);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += MNT_STOP_GRACE_S;
	pthread_mutex_lock(&s->mu);
	while (!s->is_synced && pthread_cond_timedwait(&s->cond, &s->mu, &ts) == 0)
		;
	if (!s->is_synced) {
		log_error("data could not be flushed within %d s; giving up", MNT_STOP_GRACE_S);
		cl_meta_abort(s->meta);
	}
	pthread_mutex_unlock(&s->mu);
	fuse_session_exit(s->se);
	pthread_kill(s->main_thread, SIGUSR1);
	/* The loop ends once its workers return; one stuck waiting for an
	 * unreachable metad is released by giving up on metad. */
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += MNT_STOP_GRACE_S;
	pthread_mutex_lock(&s->mu);
	while (!s->is_loop_done && pthread_cond_timedwait(&s->cond, &s->mu, &ts) == 0)
		;
	if (!s->is_loop_done)
		cl_meta_abort(s->meta);
	pthread_mutex_unlock(&s->mu);
	pthread_join(syncer, NULL);
	return NULL;
}

/* Forks; the parent waits for the child's verdict and exits with it. */
static int daemonize(int *notify_fd)
{
	int p[2];
	pid_t pid;
	char st = 1;

	if (pipe(p) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &st, 1) != 1)
			st = 1;
		_exit(st);
	}
	close(p[0]);
	setsid();
	*notify_fd = p[1];
	return 0;
}

static void daemon_ready(int notify_fd, char status)
{
	int null;

	if (notify_fd < 0)
		return;
	if (write(notify_fd, &status, 1) != 1)
		log_warn("could not notify the parent");
	close(notify_fd);
	if (status)
		return;
	if (chdir("/") < 0)
		log_warn("chdir /: %s", strerror(errno));
	null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (null > 2)
			close(null);
	}
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_args fargs = FUSE_ARGS_INIT(0, NULL);
	struct mnt_conf conf = { .attr_timeout = 1.0, .entry_timeout = 1.0 };
	struct mnt_ctx ctx = { 0 };
	struct cl_meta_opts mo = { 0 };
	struct fuse_session *se = NULL;
	struct fuse_loop_config lcfg = { .clone_fd = 0, .max_idle_threads = 16 };
	struct sig_ctx sctx;
	struct cl_chunk *chunk = NULL;
	struct cl_cache *cache = NULL;
	struct sigaction sa;
	enum log_level level = LOG_LVL_WARN;
	uint64_t cache_size = MNT_CACHE_DEFAULT;
	uint64_t write_cache = MNT_WRITE_CACHE_DEFAULT;
	pthread_t sig_thread;
	char *subdir, *opts = NULL, name[300];
	int notify_fd = -1, rc, status = 1, has_sig_thread = 0;

	xmalloc_keep_big();
	/* Every thread created from here on inherits these blocked signals;
	 * only the signal thread takes them. */
	sigemptyset(&sctx.set);
	sigaddset(&sctx.set, SIGTERM);
	sigaddset(&sctx.set, SIGINT);
	sigaddset(&sctx.set, SIGHUP);
	sigaddset(&sctx.set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &sctx.set, NULL);
	sigdelset(&sctx.set, SIGUSR1);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_wake;
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Bad usage is status 2, through out: like every other exit, so
	 * nothing parsed so far leaks. */
	status = 2;
	if (fuse_opt_parse(&args, &conf, mnt_opt_spec, mnt_opt_proc) < 0)
		goto out;
	if (!conf.source || !conf.mountpoint) {
		usage(stderr);
		goto out;
	}
	if (conf.log_level && log_level_parse(conf.log_level, &level)) {
		fprintf(stderr, "casfs-mount: bad log_level '%s'\n", conf.log_level);
		goto out;
	}
	if (conf.cache_size && conf_parse_size(conf.cache_size, &cache_size)) {
		fprintf(stderr, "casfs-mount: bad cache_size '%s'\n", conf.cache_size);
		goto out;
	}
	if (conf.write_cache && conf_parse_size(conf.write_cache, &write_cache)) {
		fprintf(stderr, "casfs-mount: bad write_cache '%s'\n", conf.write_cache);
		goto out;
	}
	status = 1;
	subdir = strstr(conf.source, ":/");
	if (subdir)
		*subdir++ = '\0';

	if (!conf.foreground && daemonize(&notify_fd)) {
		fprintf(stderr, "casfs-mount: fork: %s\n", strerror(errno));
		return 1;
	}
	log_init("casfs-mount", level, !conf.foreground);

	snprintf(name, sizeof(name), "mount:%s", conf.mountpoint);
	mo.addr = conf.source;
	mo.auth_key = conf.auth_key;
	mo.name = name;
	mo.role = PROTO_ROLE_CLIENT;
	rc = cl_meta_open(&mo, &ctx.meta);
	if (rc) {
		log_error("cannot reach metad at %s: %s", conf.source, strerror(-rc));
		fprintf(stderr, "casfs-mount: cannot reach metad at %s: %s\n", conf.source,
			strerror(-rc));
		goto out;
	}
	ctx.root = CASFS_ROOT_INO;
	if (subdir && (rc = resolve_subdir(ctx.meta, subdir, &ctx.root)) != 0) {
		fprintf(stderr, "casfs-mount: %s: %s\n", subdir, strerror(-rc));
		goto out;
	}
	chunk = cl_chunk_new(conf.auth_key, cl_meta_cluster(ctx.meta));
	cl_chunk_set_local_reads(chunk, !conf.nolocal);
	cache = cl_cache_new(cache_size);
	ctx.files = cl_files_new(ctx.meta, chunk, cache,
				 conf.workers ? (int)conf.workers : MNT_WORKERS_DEFAULT, write_cache);
	ctx.dattr = cl_dattr_new();
	ctx.attr_timeout = conf.attr_timeout;
	ctx.entry_timeout = conf.entry_timeout;
	/* A listing's attributes must be no staler than a LOOKUP's. */
	ctx.dcache = cl_dcache_new(conf.entry_timeout < conf.attr_timeout ? conf.entry_timeout
									 : conf.attr_timeout);
	ctx.dnames = cl_dnames_new(conf.entry_timeout);
	ctx.is_direct = conf.direct;
	ctx.use_writeback = conf.writeback && !conf.direct;

	/* FUSE's own arguments: ours first so the user's -o can override. */
	fuse_opt_add_arg(&fargs, argv[0]);
	fuse_opt_add_opt(&opts, "default_permissions,subtype=casfs");
	if (geteuid() == 0)
		fuse_opt_add_opt(&opts, "allow_other");
	if (!conf.has_fsname) {
		char fsname[300];

		snprintf(fsname, sizeof(fsname), "fsname=casfs#%s%s%s", conf.source,
			 subdir ? ":" : "", subdir ? subdir : "");
		fuse_opt_add_opt_escaped(&opts, fsname);
	}
	fuse_opt_add_arg(&fargs, "-o");
	fuse_opt_add_arg(&fargs, opts);
	for (int i = 1; i < args.argc; i++)
		fuse_opt_add_arg(&fargs, args.argv[i]);
	if (conf.debug)
		fuse_opt_add_arg(&fargs, "-d");

	se = fuse_session_new(&fargs, mnt_ops(), sizeof(*mnt_ops()), &ctx);
	if (!se) {
		fprintf(stderr, "casfs-mount: bad FUSE options\n");
		goto out;
	}
	if (fuse_session_mount(se, conf.mountpoint)) {
		fprintf(stderr, "casfs-mount: cannot mount at %s\n", conf.mountpoint);
		fuse_session_destroy(se);
		se = NULL;
		goto out;
	}
	ctx.se = se;
	sctx.se = se;
	sctx.meta = ctx.meta;
	sctx.is_synced = 0;
	sctx.is_loop_done = 0;
	pthread_mutex_init(&sctx.mu, NULL);
	pthread_cond_init(&sctx.cond, NULL);
	sctx.mountpoint = conf.mountpoint;
	sctx.main_thread = pthread_self();
	pthread_create(&sig_thread, NULL, signal_main, &sctx);
	has_sig_thread = 1;
	log_info("mounted %s at %s (session %llu)", conf.source, conf.mountpoint,
		 (unsigned long long)cl_meta_session(ctx.meta));
	daemon_ready(notify_fd, 0);
	notify_fd = -1;
	{
		sigset_t wake;

		sigemptyset(&wake);
		sigaddset(&wake, SIGUSR1);
		pthread_sigmask(SIG_UNBLOCK, &wake, NULL);
	}
	rc = fuse_session_loop_mt(se, &lcfg);
	status = rc < 0 ? 1 : 0;
	pthread_mutex_lock(&sctx.mu);
	sctx.is_loop_done = 1;
	pthread_cond_broadcast(&sctx.cond);
	pthread_mutex_unlock(&sctx.mu);
	fuse_session_unmount(se);
out:
	if (has_sig_thread) {
		/* Wakes its sigwait if no signal came (fusermount3 -u); not
		 * cancelled, as it may be giving up on metad for us. */
		pthread_kill(sig_thread, SIGTERM);
		pthread_join(sig_thread, NULL);
		pthread_mutex_destroy(&sctx.mu);
		pthread_cond_destroy(&sctx.cond);
	}
	cl_files_free(ctx.files);
	ctx.files = NULL;
	cl_cache_free(cache);
	cache = NULL;
	cl_chunk_free(chunk);
	chunk = NULL;
	cl_meta_close(ctx.meta);
	ctx.meta = NULL;
	/* After the close: it completes the fetches still in flight. */
	cl_dattr_free(ctx.dattr);
	ctx.dattr = NULL;
	cl_dcache_free(ctx.dcache);
	ctx.dcache = NULL;
	cl_dnames_free(ctx.dnames);
	ctx.dnames = NULL;
	if (se)
		fuse_session_destroy(se);
	daemon_ready(notify_fd, 1);
	fuse_opt_free_args(&args);
	fuse_opt_free_args(&fargs);
	free(opts);
	free(conf.source);
	free(conf.mountpoint);
	free(conf.cache_size);
	free(conf.write_cache);
	free(conf.auth_key);
	free(conf.log_level);
	return status;
}
