/* casfs-chunkd: the chunk server daemon. This file parses the command line
 * and config, opens the store, binds the listening socket (and publishes
 * the bound address in --addr-file), starts the subsystems and waits for
 * SIGTERM/SIGINT, then shuts them down in reverse order:
 *   server (accept + connection threads), scrubber, meta thread + workers,
 *   peer pool, store.
 * Signals are blocked in every thread; the main thread takes them with
 * sigwait, so no handler ever runs inside library code. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chunkd/chunkd_int.h"
#include "chunkd/meta.h"
#include "chunkd/peer.h"
#include "chunkd/scrub.h"
#include "chunkd/server.h"
#include "fs/conf.h"
#include "fs/log.h"
#include "fs/net.h"
#include "fs/xmalloc.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: casfs-chunkd --data DIR [--data DIR2 ...] --meta HOST:PORT\n"
		"                    [--listen HOST:PORT] [--addr-file FILE] [--label K=V ...]\n"
		"                    [--config FILE] [--log-level error|warn|info|debug]\n"
		"                    [--KEY VALUE ...]   (any config key)\n"
		"config keys: data, meta, listen, addr_file, label, auth_key, log_level,\n"
		"  timeout_ms (30000), idle_timeout_ms (300000), hello_timeout_ms (5000),\n"
		"  heartbeat_ms (1000),\n"
		"  max_conns (256), workers (2), scrub_rate (MiB/s, 32),\n"
		"  scrub_interval_s (3600), reserve_bytes (0 = reserve_pct of the folder),\n"
		"  reserve_pct (1), direct_io (yes: block writes bypass the page cache),\n"
		"  create_data (no: a missing data folder is refused, since it is usually\n"
		"  an unmounted disk), local_reads (yes: clients on this host read block\n"
		"  files through a local socket instead of TCP)\n");
}

static void add_str(char ***v, int *n, const char *s)
{
	*v = xrealloc(*v, (size_t)(*n + 1) * sizeof(**v));
	(*v)[(*n)++] = xstrdup(s);
}

static int set_int(const char *value, uint64_t min, uint64_t max, int *out, char *why,
		   size_t whylen)
{
	uint64_t v;

	if (conf_parse_u64(value, min, max, &v)) {
		snprintf(why, whylen, "'%s' is not a number in %llu..%llu", value,
			 (unsigned long long)min, (unsigned long long)max);
		return -EINVAL;
	}
	*out = (int)v;
	return 0;
}

static int conf_cb(void *ud, const char *key, const char *value, char *why, size_t whylen)
{
	struct chunkd_conf *c = ud;
	uint64_t v;
	int iv;

	if (!strcmp(key, "data")) {
		add_str(&c->data_dirs, &c->ndata, value);
	} else if (!strcmp(key, "label")) {
		if (!strchr(value, '=') || value[0] == '=' || strlen(value) > PROTO_STR_MAX) {
			snprintf(why, whylen, "label '%s' is not KEY=VALUE", value);
			return -EINVAL;
		}
		add_str(&c->labels, &c->nlabels, value);
	} else if (!strcmp(key, "meta") || !strcmp(key, "listen")) {
		char host[CHUNKD_ADDR_MAX];
		uint16_t port;

		if (conf_parse_addr(value, host, sizeof(host), &port)) {
			snprintf(why, whylen, "'%s' is not HOST:PORT", value);
			return -EINVAL;
		}
		snprintf(key[0] == 'm' ? c->meta_addr : c->listen_addr, CHUNKD_ADDR_MAX, "%s",
			 value);
	} else if (!strcmp(key, "addr_file") || !strcmp(key, "addr-file")) {
		free(c->addr_file);
		c->addr_file = xstrdup(value);
	} else if (!strcmp(key, "auth_key")) {
		free(c->auth_key);
		c->auth_key = value[0] ? xstrdup(value) : NULL;
	} else if (!strcmp(key, "log_level") || !strcmp(key, "log-level")) {
		enum log_level lvl;

		if (log_level_parse(value, &lvl)) {
			snprintf(why, whylen, "log level '%s' is not error, warn, info or debug",
				 value);
			return -EINVAL;
		}
		log_init("casfs-chunkd", lvl, 0);
	} else if (!strcmp(key, "timeout_ms")) {
		return set_int(value, 100, 3600000, &c->timeout_ms, why, whylen);
	} else if (!strcmp(key, "idle_timeout_ms")) {
		return set_int(value, 1000, 86400000, &c->idle_timeout_ms, why, whylen);
	} else if (!strcmp(key, "hello_timeout_ms")) {
		return set_int(value, 100, 3600000, &c->hello_timeout_ms, why, whylen);
	} else if (!strcmp(key, "heartbeat_ms")) {
		return set_int(value, 10, 600000, &c->heartbeat_ms, why, whylen);
	} else if (!strcmp(key, "max_conns")) {
		return set_int(value, 1, 100000, &c->max_conns, why, whylen);
	} else if (!strcmp(key, "workers")) {
		return set_int(value, 1, 64, &c->workers, why, whylen);
	} else if (!strcmp(key, "scrub_rate")) {
		if (set_int(value, 1, 1000000, &iv, why, whylen))
			return -EINVAL;
		c->scrub_rate = (uint64_t)iv << 20;
	} else if (!strcmp(key, "scrub_interval_s")) {
		return set_int(value, 1, 100000000, &c->scrub_interval_s, why, whylen);
	} else if (!strcmp(key, "reserve_bytes")) {
		if (conf_parse_size(value, &v)) {
			snprintf(why, whylen, "'%s' is not a size", value);
			return -EINVAL;
		}
		c->store.reserve_bytes = v;
	} else if (!strcmp(key, "direct_io")) {
		if (conf_parse_bool(value, &c->store.is_direct)) {
			snprintf(why, whylen, "'%s' is not yes or no", value);
			return -EINVAL;
		}
	} else if (!strcmp(key, "local_reads")) {
		if (conf_parse_bool(value, &c->is_local_reads)) {
			snprintf(why, whylen, "'%s' is not yes or no", value);
			return -EINVAL;
		}
	} else if (!strcmp(key, "create_data")) {
		if (conf_parse_bool(value, &c->store.is_create)) {
			snprintf(why, whylen, "'%s' is not yes or no", value);
			return -EINVAL;
		}
	} else if (!strcmp(key, "reserve_pct")) {
		if (set_int(value, 0, 50, &iv, why, whylen))
			return -EINVAL;
		c->store.reserve_pct = (unsigned)iv;
	} else {
		snprintf(why, whylen, "unknown key '%s'", key);
		return -EINVAL;
	}
	return 0;
}

static void conf_defaults(struct chunkd_conf *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->listen_addr, sizeof(c->listen_addr), "127.0.0.1:9422");
	c->timeout_ms = 30000;
	c->idle_timeout_ms = 300000;
	c->hello_timeout_ms = 5000;
	c->heartbeat_ms = 1000;
	c->max_conns = 256;
	c->workers = 2;
	c->scrub_rate = 32ull << 20;
	c->scrub_interval_s = 3600;
	c->store.reserve_pct = 1;
	c->store.is_direct = 1;
	c->is_local_reads = 1;
}

static void conf_free(struct chunkd_conf *c)
{
	for (int i = 0; i < c->ndata; i++)
		free(c->data_dirs[i]);
	free(c->data_dirs);
	c->data_dirs = NULL;
	for (int i = 0; i < c->nlabels; i++)
		free(c->labels[i]);
	free(c->labels);
	c->labels = NULL;
	free(c->addr_file);
	c->addr_file = NULL;
	free(c->auth_key);
	c->auth_key = NULL;
}

/* 0, 1 for --help, or -EINVAL after printing one line. */
static int parse_args(int argc, char **argv, struct chunkd_conf *c)
{
	char err[512], key[128];

	/* the config file first, so the command line overrides it */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return 1;
		if (!strcmp(argv[i], "--config") && i + 1 < argc) {
			if (conf_load_file(argv[i + 1], conf_cb, c, err, sizeof(err))) {
				fprintf(stderr, "casfs-chunkd: %s\n", err);
				return -EINVAL;
			}
		}
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strncmp(a, "--", 2) || i + 1 >= argc) {
			fprintf(stderr, "casfs-chunkd: bad argument '%s' (try --help)\n", a);
			return -EINVAL;
		}
		if (!strcmp(a, "--config")) {
			i++;
			continue;
		}
		snprintf(key, sizeof(key), "%s", a + 2);
		for (char *p = key; *p; p++)
			if (*p == '-')
				*p = '_';
		if (conf_set(key, argv[++i], conf_cb, c, err, sizeof(err))) {
			fprintf(stderr, "casfs-chunkd: %s\n", err);
			return -EINVAL;
		}
	}
	if (c->ndata == 0 || !c->meta_addr[0]) {
		fprintf(stderr, "casfs-chunkd: --data DIR and --meta HOST:PORT are required\n");
		return -EINVAL;
	}
	if (c->ndata > 64) {
		fprintf(stderr, "casfs-chunkd: at most 64 data folders\n");
		return -EINVAL;
	}
	return 0;
}

static int write_addr_file(const char *path, const char *addr)
{
	char tmp[4200];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "%s\n", addr);
	if (fclose(f) != 0 || rename(tmp, path) < 0)
		return -errno;
	return 0;
}

int chunkd_wait_registered(struct chunkd *cd, int timeout_ms)
{
	struct timespec ts;
	int ok;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&cd->lock);
	while (!cd->is_registered && !atomic_load(&cd->is_stopping) && timeout_ms > 0)
		if (pthread_cond_timedwait(&cd->cond, &cd->lock, &ts) == ETIMEDOUT)
			break;
	ok = cd->is_registered;
	pthread_mutex_unlock(&cd->lock);
	return ok;
}

void chunkd_request_exit(struct chunkd *cd, int code)
{
	atomic_store(&cd->exit_code, code);
	kill(getpid(), SIGTERM);
}

/* Opens the local socket clients on this host read block files through.
 * Without it they read over TCP as remote clients do, so a failure is a
 * warning, not a reason to stop. */
static void listen_local(struct chunkd *cd)
{
	char name[CHUNKD_ADDR_MAX + 32];
	int rc;

	if (!cd->conf.is_local_reads)
		return;
	snprintf(name, sizeof(name), NET_LOCAL_CHUNKD, cd->self_addr);
	rc = net_local_listen(name, 128, &cd->local_fd);
	if (rc)
		log_warn("local socket @%s: %s: clients on this host read over TCP", name,
			 strerror(-rc));
	else
		log_info("local reads on @%s", name);
}

int main(int argc, char **argv)
{
	struct chunkd *cd = xcalloc(1, sizeof(*cd));
	char host[CHUNKD_ADDR_MAX - 8];
	sigset_t sigs;
	uint16_t port;
	int rc, sig;

	xmalloc_keep_big();
	log_init("casfs-chunkd", LOG_LVL_INFO, 0);
	conf_defaults(&cd->conf);
	cd->listen_fd = -1;
	cd->local_fd = -1;
	rc = parse_args(argc, argv, &cd->conf);
	if (rc) {
		if (rc > 0)
			usage(stdout);
		conf_free(&cd->conf);
		free(cd);
		return rc > 0 ? 0 : 2;
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	pthread_mutex_init(&cd->lock, NULL);
	pthread_cond_init(&cd->cond, NULL);

	rc = chunk_store_open(cd->conf.data_dirs, cd->conf.ndata, &cd->conf.store, &cd->store);
	if (rc) {
		/* the store logged which folder and why */
		rc = 1;
		goto out;
	}
	{
		struct casfs_uuid u;
		uint32_t id;
		int has;

		if (chunk_store_ident_load(cd->store, &u, &id, &has)) {
			fprintf(stderr, "casfs-chunkd: data folders disagree about their cluster\n");
			rc = 1;
			goto out;
		}
		if (has)
			cd->server_id = id;
	}
	chunk_store_set_bad_fn(cd->store, chunk_meta_bad, cd);
	rc = net_listen(cd->conf.listen_addr, 128, &cd->listen_fd, &port);
	if (rc) {
		fprintf(stderr, "casfs-chunkd: cannot listen on %s: %s\n", cd->conf.listen_addr,
			strerror(-rc));
		rc = 1;
		goto out;
	}
	conf_parse_addr(cd->conf.listen_addr, host, sizeof(host), &(uint16_t){ 0 });
	snprintf(cd->self_addr, sizeof(cd->self_addr), "%s:%u", host, port);
	if (cd->conf.addr_file && write_addr_file(cd->conf.addr_file, cd->self_addr)) {
		fprintf(stderr, "casfs-chunkd: cannot write %s: %s\n", cd->conf.addr_file,
			strerror(errno));
		rc = 1;
		goto out;
	}
	log_info("listening on %s, %d data folder(s), metad %s", cd->self_addr, cd->conf.ndata,
		 cd->conf.meta_addr);
	listen_local(cd);
	chunk_peers_init(cd);
	if (chunk_meta_start(cd) || chunk_server_start(cd) || chunk_scrub_start(cd)) {
		log_error("cannot start threads");
		atomic_store(&cd->exit_code, 1);
	} else {
		do
			rc = sigwait(&sigs, &sig);
		while (rc == EINTR);
		log_info("signal %d: shutting down", sig);
	}
	rc = atomic_load(&cd->exit_code);
	atomic_store(&cd->is_stopping, 1);
	pthread_mutex_lock(&cd->lock);
	pthread_cond_broadcast(&cd->cond);
	pthread_mutex_unlock(&cd->lock);
	if (cd->peers)
		chunk_peers_abort(cd);
	chunk_server_stop(cd);
	chunk_scrub_stop(cd);
	chunk_meta_stop(cd);
	chunk_peers_free(cd);
out:
	if (cd->listen_fd >= 0)
		close(cd->listen_fd);
	if (cd->local_fd >= 0)
		close(cd->local_fd);
	chunk_store_close(cd->store);
	cd->store = NULL;
	conf_free(&cd->conf);
	pthread_cond_destroy(&cd->cond);
	pthread_mutex_destroy(&cd->lock);
	free(cd);
	return rc;
}
