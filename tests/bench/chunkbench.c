/* chunkbench: chunk-server throughput over the real protocol on loopback.
 *
 * Starts a stand-in metad in-process and three casfs-chunkd processes (the
 * binary next to this one, data in a temp folder), then measures PUT and GET
 * of 1 MiB blocks with 1 and 8 client streams, chains of 1 and 3, and the
 * CPU seconds per GiB moved: the chunk servers' (from /proc) and this
 * client's. Every block is distinct (a counter in its first bytes) so PUTs
 * store new data rather than compare duplicates; GETs read blocks just put,
 * so they are served from the page cache. Stops everything it started.
 *
 * usage: chunkbench [--seconds S] [--block BYTES] [--streams N (8)] [--keep] */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fs/xmalloc.h"
#include "tests/tools/chunkcli.h"

#define NSERVERS 3
#define MAX_STREAMS 64
#define MAX_BLOCKS (1 << 16)
/* 256 blocks: a cached working set that fits any test machine's memory */
#define GET_WORKING_SET 256

static char server_addr[NSERVERS][64];
static pid_t server_pid[NSERVERS];
static struct blk_key bench_key;
static struct casfs_uuid bench_uuid;
static uint32_t block_size = 1 << 20;
static double run_seconds = 3.0;
static int many_streams = 8;

/* Blocks put so far, for the GET runs: written by PUT threads at distinct
 * indexes (next_block hands them out), read after they are joined. */
static struct blk_id put_ids[MAX_BLOCKS];
static int put_srv[MAX_BLOCKS];	/* bit i: server i holds it */
static atomic_int next_block;
/* GET runs read blocks [get_lo, get_hi) */
static int get_lo, get_hi;

struct run {
	int is_put, chain, streams, index;
	double deadline;
	atomic_uint_fast64_t bytes;
	atomic_int errors;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* utime + stime of a process, in seconds. */
static double proc_cpu(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return 0;
	}
	fclose(f);
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
			 &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void *stream_main(void *arg)
{
	struct run *r = arg;
	int head = r->index % NSERVERS;
	uint8_t *buf = xmalloc(block_size);
	struct ccli_hop hops[NSERVERS];
	struct ccli c;
	struct casfs_uuid uuid = bench_uuid;
	uint64_t seq = 0;
	int k = r->index;

	memset(buf, 0x5a, block_size);
	for (uint32_t i = 0; i < block_size; i += 4096)
		buf[i] = (uint8_t)(i * 7 + r->index);
	if (ccli_connect(&c, server_addr[head], 1, &uuid, NULL, NULL, 30000)) {
		atomic_fetch_add(&r->errors, 1);
		goto out;
	}
	for (int i = 1; i < r->chain; i++) {
		hops[i - 1].id = 0;
		snprintf(hops[i - 1].addr, sizeof(hops[i - 1].addr), "%s",
			 server_addr[(head + i) % NSERVERS]);
	}
	while (now_s() < r->deadline) {
		struct ccli_status st[NSERVERS];
		int nst = NSERVERS, rc;
		uint32_t got;

		if (r->is_put) {
			int slot = atomic_fetch_add(&next_block, 1);
			struct blk_id id;

			seq++;
			memcpy(buf, &seq, sizeof(seq));
			memcpy(buf + 8, &slot, sizeof(slot));
			memcpy(buf + 12, &r->index, sizeof(r->index));
			blk_hash(&bench_key, buf, block_size, &id);
			rc = ccli_put(&c, &id, 0, hops, r->chain - 1, buf, block_size, st, &nst);
			for (int j = 0; !rc && j < nst; j++)
				if (st[j].status)
					rc = st[j].status;
			if (slot < MAX_BLOCKS) {
				put_ids[slot] = id;
				put_srv[slot] = r->chain == NSERVERS ? (1 << NSERVERS) - 1 : 1 << head;
			}
		} else {
			int n = get_hi - get_lo, tries = 0;

			/* only blocks held by this stream's server */
			do
				k = get_lo + (k - get_lo + 1 + n) % n;
			while (!(put_srv[k] & (1 << head)) && ++tries < n);
			rc = ccli_get(&c, &put_ids[k], 0, 0, buf, block_size, &got);
			if (!rc && blk_verify(&bench_key, buf, got, &put_ids[k]))
				rc = -EBADMSG;
		}
		if (rc) {
			atomic_fetch_add(&r->errors, 1);
			break;
		}
		atomic_fetch_add(&r->bytes, block_size);
	}
	ccli_close(&c);
out:
	free(buf);
	return NULL;
}

static void run_one(const char *what, int is_put, int chain, int streams)
{
	struct run r[MAX_STREAMS];
	pthread_t t[MAX_STREAMS];
	double srv0 = 0, srv1 = 0, cli0, cli1, t0, t1, gib;
	uint64_t bytes = 0;
	int errors = 0;

	for (int i = 0; i < NSERVERS; i++)
		srv0 += proc_cpu(server_pid[i]);
	cli0 = self_cpu();
	t0 = now_s();
	for (int i = 0; i < streams; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].is_put = is_put;
		r[i].chain = chain;
		r[i].streams = streams;
		r[i].index = i;
		r[i].deadline = t0 + run_seconds;
		pthread_create(&t[i], NULL, stream_main, &r[i]);
	}
	for (int i = 0; i < streams; i++) {
		pthread_join(t[i], NULL);
		bytes += atomic_load(&r[i].bytes);
		errors += atomic_load(&r[i].errors);
	}
	t1 = now_s();
	cli1 = self_cpu();
	for (int i = 0; i < NSERVERS; i++)
		srv1 += proc_cpu(server_pid[i]);
	gib = (double)bytes / (1 << 30);
	printf("%-10s chain=%d streams=%d  %8.1f MiB/s  server cpu %5.2f s/GiB  client cpu %5.2f "
	       "s/GiB%s\n",
	       what, chain, streams, (double)bytes / (1 << 20) / (t1 - t0),
	       gib > 0 ? (srv1 - srv0) / gib : 0, gib > 0 ? (cli1 - cli0) / gib : 0,
	       errors ? "  (errors!)" : "");
	fflush(stdout);
}

/* Reads every block of the working set from every server holding it. */
static void warm_up(void)
{
	uint8_t *buf = xmalloc(block_size);

	for (int i = 0; i < NSERVERS; i++) {
		struct casfs_uuid uuid = bench_uuid;
		struct ccli c;
		uint32_t got;

		if (ccli_connect(&c, server_addr[i], 1, &uuid, NULL, NULL, 30000) == 0)
			for (int k = get_lo; k < get_hi; k++)
				if (put_srv[k] & (1 << i))
					ccli_get(&c, &put_ids[k], 0, 0, buf, block_size, &got);
		ccli_close(&c);
	}
	free(buf);
}

static int start_servers(const char *bin, const char *dir, const char *meta)
{
	for (int i = 0; i < NSERVERS; i++) {
		char data[4200], addr_file[4200];
		pid_t pid;

		snprintf(data, sizeof(data), "%s/cs%d", dir, i);
		snprintf(addr_file, sizeof(addr_file), "%s/cs%d.addr", dir, i);
		/* chunkd refuses a data folder that does not exist. */
		if (mkdir(data, 0755) && errno != EEXIST)
			return -errno;
		pid = fork();
		if (pid < 0)
			return -errno;
		if (pid == 0) {
			execl(bin, bin, "--data", data, "--meta", meta, "--listen", "127.0.0.1:0",
			      "--addr-file", addr_file, "--log-level", "warn", (char *)NULL);
			_exit(127);
		}
		server_pid[i] = pid;
	}
	for (int i = 0; i < NSERVERS; i++) {
		char addr_file[4200];
		FILE *f = NULL;

		snprintf(addr_file, sizeof(addr_file), "%s/cs%d.addr", dir, i);
		for (int tries = 0; tries < 200 && !f; tries++) {
			f = fopen(addr_file, "r");
			if (!f)
				usleep(50 * 1000);
		}
		if (!f || !fgets(server_addr[i], sizeof(server_addr[i]), f)) {
			if (f)
				fclose(f);
			return -ETIMEDOUT;
		}
		fclose(f);
		server_addr[i][strcspn(server_addr[i], "\n")] = '\0';
	}
	return 0;
}

int main(int argc, char **argv)
{
	char bin[4200], dir[] = "/tmp/chunkbench.XXXXXX", meta[64], cmd[4300];
	uint8_t seed[BLK_KEY_SEED_SIZE];
	struct fakemeta *fm;
	FILE *devnull;
	int keep = 0, rc = 1;
	char *slash;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			run_seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--block") && i + 1 < argc)
			block_size = (uint32_t)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--streams") && i + 1 < argc)
			many_streams = atoi(argv[++i]) < 1 ? 1 : atoi(argv[i]) > MAX_STREAMS
										? MAX_STREAMS : atoi(argv[i]);
		else if (!strcmp(argv[i], "--keep"))
			keep = 1;
		else {
			fprintf(stderr, "usage: chunkbench [--seconds S] [--block BYTES] [--streams N] "
					"[--keep]\n");
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	snprintf(bin, sizeof(bin), "%s", argv[0]);
	slash = strrchr(bin, '/');
	snprintf(slash ? slash + 1 : bin, sizeof(bin) - (size_t)(slash ? slash + 1 - bin : 0),
		 "casfs-chunkd");
	if (!mkdtemp(dir))
		return 1;
	casfs_random(seed, sizeof(seed));
	casfs_random(bench_uuid.b, sizeof(bench_uuid.b));
	blk_key_init(&bench_key, seed, sizeof(seed));
	devnull = fopen("/dev/null", "w");
	if (fakemeta_start("127.0.0.1:0", seed, &bench_uuid, devnull, &fm, meta))
		goto out;
	if (start_servers(bin, dir, meta)) {
		fprintf(stderr, "chunkbench: chunk servers did not start (%s)\n", bin);
		goto stop;
	}
	for (int tries = 0; tries < 200 && fakemeta_count(fm) < NSERVERS; tries++)
		usleep(50 * 1000);
	printf("chunkbench: %u-byte blocks, %.0f s per run, 3 chunk servers on loopback, %ld "
	       "cores\n", block_size, run_seconds, sysconf(_SC_NPROCESSORS_ONLN));
	run_one("PUT", 1, 1, 1);
	run_one("PUT", 1, 1, many_streams);
	run_one("PUT", 1, 3, 1);
	run_one("PUT", 1, 3, many_streams);
	/* cold: blocks not read since written (writes bypass the page cache) */
	get_hi = atomic_load(&next_block) < MAX_BLOCKS ? atomic_load(&next_block) : MAX_BLOCKS;
	run_one("GET cold", 0, 1, 1);
	/* cached: a 256 MiB working set of chain-3 blocks, read once first */
	get_lo = get_hi > GET_WORKING_SET ? get_hi - GET_WORKING_SET : 0;
	warm_up();
	run_one("GET cached", 0, 1, 1);
	run_one("GET cached", 0, 1, many_streams);
	rc = 0;
stop:
	for (int i = 0; i < NSERVERS; i++)
		if (server_pid[i] > 0)
			kill(server_pid[i], SIGTERM);
	for (int i = 0; i < NSERVERS; i++)
		if (server_pid[i] > 0)
			waitpid(server_pid[i], NULL, 0);
	fakemeta_stop(fm);
out:
	fclose(devnull);
	if (!keep) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "chunkbench: could not remove %s\n", dir);
	}
	return rc;
}
