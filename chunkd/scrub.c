/* chunk_scrub: walks every block held, reads and verifies it, and lets the
 * store quarantine and report (CS_BAD through the store's bad-block
 * callback) any copy that no longer matches its id.
 *
 * One thread. A pass starts scrub_interval_s after the previous one ended
 * (and after start-up), works from a snapshot of the index (blocks deleted
 * meanwhile are skipped as missing), and sleeps between blocks so its reads
 * stay under scrub_rate bytes per second: the default 32 MiB/s leaves a
 * disk's bandwidth to clients while still covering a 1 TB disk in ~9 hours.
 * Blocks are not read before the cluster key is known. */
#include "chunkd/scrub.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "chunkd/peer.h"
#include "fs/log.h"
#include "fs/xmalloc.h"

struct chunk_scrub {
	pthread_t thread;
	pthread_mutex_t lock;	/* with cond: the stop wake-up */
	pthread_cond_t cond;
	int is_stopping;	/* guarded by lock */
};

/* Waits ms (or until stop); 1 if stopping. */
static int scrub_wait(struct chunk_scrub *s, int64_t ms)
{
	struct timespec ts;
	int stopping;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&s->lock);
	while (!s->is_stopping)
		if (pthread_cond_timedwait(&s->cond, &s->lock, &ts) == ETIMEDOUT)
			break;
	stopping = s->is_stopping;
	pthread_mutex_unlock(&s->lock);
	return stopping;
}

static void *scrub_main(void *arg)
{
	struct chunkd *cd = arg;
	struct chunk_scrub *s = cd->scrub;
	uint8_t *buf = xmalloc(CHUNK_BLOCK_MAX);

	while (!scrub_wait(s, (int64_t)cd->conf.scrub_interval_s * 1000)) {
		struct chunk_store_ent *v = NULL;
		size_t n, nbad = 0;
		uint64_t bytes = 0;
		int64_t start = chunk_now_ms();

		if (!chunkd_wait_registered(cd, 0))
			continue;
		chunk_store_list(cd->store, &v, &n);
		for (size_t i = 0; i < n; i++) {
			uint32_t len;
			int64_t due;
			int rc;

			rc = chunk_store_read(cd->store, &v[i].id, buf, CHUNK_BLOCK_MAX, &len);
			if (rc == -EIO)
				nbad++;
			bytes += v[i].len;
			/* the time by which this many bytes may have been read */
			due = start + (int64_t)(bytes * 1000 / cd->conf.scrub_rate);
			if (due > chunk_now_ms() && scrub_wait(s, due - chunk_now_ms()))
				break;
		}
		free(v);
		v = NULL;
		log_info("scrub pass: %zu blocks, %llu bytes, %zu bad, %lld ms", n,
			 (unsigned long long)bytes, nbad, (long long)(chunk_now_ms() - start));
	}
	free(buf);
	buf = NULL;
	return NULL;
}

int chunk_scrub_start(struct chunkd *cd)
{
	struct chunk_scrub *s = xcalloc(1, sizeof(*s));
	int rc;

	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	cd->scrub = s;
	rc = pthread_create(&s->thread, NULL, scrub_main, cd);
	if (rc) {
		cd->scrub = NULL;
		pthread_cond_destroy(&s->cond);
		pthread_mutex_destroy(&s->lock);
		free(s);
	}
	return -rc;
}

void chunk_scrub_stop(struct chunkd *cd)
{
	struct chunk_scrub *s = cd->scrub;

	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->is_stopping = 1;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	cd->scrub = NULL;
	free(s);
}
