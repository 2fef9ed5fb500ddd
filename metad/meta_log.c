/* meta_log: changelog segments and the fsync thread (see meta_log.h).
 *
 * Record framing: u32 body length, body, u64 XXH3-64 of the body. The loop
 * writes each record with one write(2) on an O_APPEND descriptor before the
 * reply is queued. Durability requests name a sequence number; the fsync
 * thread takes the highest requested, runs one fdatasync covering every
 * record written so far, publishes the new synced position and pokes a pipe
 * the loop listens on, so every reply waiting at that moment shares that one
 * fsync (group commit). Rotation happens on the loop thread under the mutex,
 * after waiting for an fsync in progress. */
#include "metad/meta_log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "fs/log.h"
#include "fs/proto.h"
#include "fs/xmalloc.h"

struct meta_log {
	char *dir;
	int fd;
	uint64_t segno;
	uint64_t last_seq;	/* loop thread only */
	struct proto_wbuf buf;	/* loop thread only */

	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;	/* wakes the thread; signals "not busy" */
	uint64_t written_seq;	/* mu: last seq written to fd */
	uint64_t want_seq;	/* mu: highest seq someone waits for */
	uint64_t synced_seq;	/* mu: last seq known durable */
	int busy;		/* mu: an fdatasync is running on fd */
	int stop;		/* mu */
	int pipe_rd, pipe_wr;
};

static int seg_path(char *out, size_t len, const char *dir, uint64_t segno)
{
	return snprintf(out, len, "%s/changelog.%llu", dir, (unsigned long long)segno);
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int seg_create(const char *dir, uint64_t segno, int *fdp)
{
	char path[4096];
	uint8_t hdr[META_LOG_HDR_SIZE];
	int fd, rc;

	seg_path(path, sizeof(path), dir, segno);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	memcpy(hdr, META_LOG_MAGIC, 8);
	for (int i = 0; i < 8; i++)
		hdr[8 + i] = (uint8_t)(segno >> (8 * i));
	if (write(fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr) || fdatasync(fd) < 0) {
		rc = errno ? -errno : -EIO;
		close(fd);
		return rc;
	}
	rc = fsync_dir(dir);
	if (rc) {
		close(fd);
		return rc;
	}
	*fdp = fd;
	return 0;
}

static void *log_thread(void *arg)
{
	struct meta_log *log = arg;

	pthread_mutex_lock(&log->mu);
	for (;;) {
		uint64_t target;
		int fd, rc;
		char c = 1;

		while (!log->stop && log->want_seq <= log->synced_seq)
			pthread_cond_wait(&log->cond, &log->mu);
		if (log->stop)
			break;
		target = log->written_seq;
		fd = log->fd;
		log->busy = 1;
		pthread_mutex_unlock(&log->mu);
		rc = fdatasync(fd);
		pthread_mutex_lock(&log->mu);
		log->busy = 0;
		pthread_cond_broadcast(&log->cond);
		if (rc < 0) {
			/* A failed fsync may have dropped dirty pages: nothing
			 * after it can be promised durable (PostgreSQL's
			 * fsyncgate lesson), so stop the daemon. */
			log_error("changelog fdatasync failed: %s; stopping", strerror(errno));
			abort();
		}
		if (target > log->synced_seq)
			log->synced_seq = target;
		if (write(log->pipe_wr, &c, 1) < 0 && errno != EAGAIN)
			log_warn("changelog notify: %s", strerror(errno));
	}
	pthread_mutex_unlock(&log->mu);
	return NULL;
}

int meta_log_open(const char *dir, uint64_t segno, uint64_t next_seq, struct meta_log **out)
{
	struct meta_log *log = xcalloc(1, sizeof(*log));
	int p[2], rc;

	rc = seg_create(dir, segno, &log->fd);
	if (rc) {
		free(log);
		return rc;
	}
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
		rc = -errno;
		close(log->fd);
		free(log);
		return rc;
	}
	log->pipe_rd = p[0];
	log->pipe_wr = p[1];
	log->dir = xstrdup(dir);
	log->segno = segno;
	log->last_seq = next_seq - 1;
	log->written_seq = log->synced_seq = log->want_seq = next_seq - 1;
	proto_wbuf_init(&log->buf);
	pthread_mutex_init(&log->mu, NULL);
	pthread_cond_init(&log->cond, NULL);
	pthread_create(&log->thread, NULL, log_thread, log);
	*out = log;
	return 0;
}

void meta_log_close(struct meta_log *log)
{
	if (!log)
		return;
	pthread_mutex_lock(&log->mu);
	log->stop = 1;
	pthread_cond_broadcast(&log->cond);
	pthread_mutex_unlock(&log->mu);
	pthread_join(log->thread, NULL);
	if (fdatasync(log->fd) < 0)
		log_error("changelog fdatasync at close: %s", strerror(errno));
	close(log->fd);
	close(log->pipe_rd);
	close(log->pipe_wr);
	pthread_mutex_destroy(&log->mu);
	pthread_cond_destroy(&log->cond);
	proto_wbuf_free(&log->buf);
	free(log->dir);
	free(log);
}

int meta_log_append(struct meta_log *log, uint16_t op, uint64_t session, uint64_t reqid,
		    const struct casfs_time *time, const void *payload, uint32_t len,
		    uint64_t *seq)
{
	struct proto_wbuf *w = &log->buf;
	uint64_t s = log->last_seq + 1;
	size_t off = 0;

	if (len > META_REC_MAX - META_REC_FIXED)
		return -EMSGSIZE;
	proto_wbuf_reset(w);
	proto_put_u32(w, META_REC_FIXED + len);
	proto_put_u8(w, META_LOG_VERSION);
	proto_put_u8(w, 0);
	proto_put_u16(w, op);
	proto_put_u64(w, s);
	proto_put_u64(w, session);
	proto_put_u64(w, reqid);
	proto_put_time(w, time);
	proto_put_raw(w, payload, len);
	proto_put_u64(w, XXH3_64bits(w->data + 4, w->len - 4));
	while (off < w->len) {
		ssize_t n = write(log->fd, w->data + off, w->len - off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += (size_t)n;
	}
	log->last_seq = s;
	pthread_mutex_lock(&log->mu);
	log->written_seq = s;
	pthread_mutex_unlock(&log->mu);
	*seq = s;
	return 0;
}

int meta_log_rotate(struct meta_log *log, uint64_t segno)
{
	int fd, rc;

	rc = seg_create(log->dir, segno, &fd);
	if (rc)
		return rc;
	pthread_mutex_lock(&log->mu);
	while (log->busy)
		pthread_cond_wait(&log->cond, &log->mu);
	if (fdatasync(log->fd) < 0) {
		log_error("changelog fdatasync at rotation: %s; stopping", strerror(errno));
		abort();
	}
	close(log->fd);
	log->fd = fd;
	log->segno = segno;
	log->synced_seq = log->written_seq;
	pthread_mutex_unlock(&log->mu);
	return 0;
}

uint64_t meta_log_segno(const struct meta_log *log)
{
	return log->segno;
}

uint64_t meta_log_last_seq(const struct meta_log *log)
{
	return log->last_seq;
}

uint64_t meta_log_synced_seq(struct meta_log *log)
{
	uint64_t s;

	pthread_mutex_lock(&log->mu);
	s = log->synced_seq;
	pthread_mutex_unlock(&log->mu);
	return s;
}

void meta_log_request_sync(struct meta_log *log, uint64_t seq)
{
	pthread_mutex_lock(&log->mu);
	if (seq > log->want_seq) {
		log->want_seq = seq;
		pthread_cond_broadcast(&log->cond);
	}
	pthread_mutex_unlock(&log->mu);
}

int meta_log_notify_fd(const struct meta_log *log)
{
	return log->pipe_rd;
}

void meta_log_drain_notify(struct meta_log *log)
{
	char buf[64];

	while (read(log->pipe_rd, buf, sizeof(buf)) > 0)
		;
}

/* ---- replay ---- */

static int read_file(const char *path, uint8_t **data, size_t *len)
{
	struct stat st;
	ssize_t n;
	size_t off = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	*data = xmalloc((size_t)st.st_size + 1);
	while (off < (size_t)st.st_size) {
		n = read(fd, *data + off, (size_t)st.st_size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	*len = off;
out:
	close(fd);
	return rc;
}

static int all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/* Parses one record at data[off]; 0 and *next, or -EBADMSG. */
static int rec_parse(const uint8_t *data, size_t len, size_t off, struct meta_rec *rec,
		     size_t *next, int *incomplete)
{
	struct proto_rbuf r;
	uint32_t blen;
	uint8_t ver, pad;
	uint64_t sum;

	*incomplete = 0;
	if (len - off < 4) {
		*incomplete = 1;
		return -EBADMSG;
	}
	proto_rbuf_init(&r, data + off, len - off);
	proto_get_u32(&r, &blen);
	if (blen < META_REC_FIXED || blen > META_REC_MAX)
		return -EBADMSG;
	if (len - off < 4 + (size_t)blen + 8) {
		*incomplete = 1;
		return -EBADMSG;
	}
	proto_rbuf_init(&r, data + off + 4 + blen, 8);
	proto_get_u64(&r, &sum);
	if (sum != XXH3_64bits(data + off + 4, blen))
		return -EBADMSG;
	proto_rbuf_init(&r, data + off + 4, blen);
	proto_get_u8(&r, &ver);
	proto_get_u8(&r, &pad);
	proto_get_u16(&r, &rec->op);
	proto_get_u64(&r, &rec->seq);
	proto_get_u64(&r, &rec->session);
	proto_get_u64(&r, &rec->reqid);
	proto_get_time(&r, &rec->time);
	if (r.err || ver != META_LOG_VERSION)
		return -EBADMSG;
	rec->payload = data + off + 4 + META_REC_FIXED;
	rec->len = blen - META_REC_FIXED;
	*next = off + 4 + blen + 8;
	return 0;
}

static int seg_list(const char *dir, uint64_t first, uint64_t **out, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		unsigned long long v;
		char *end;

		if (strncmp(e->d_name, "changelog.", 10))
			continue;
		v = strtoull(e->d_name + 10, &end, 10);
		if (*end || end == e->d_name + 10 || v < first)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			*out = xrealloc(*out, cap * sizeof(uint64_t));
		}
		(*out)[(*n)++] = v;
	}
	closedir(d);
	for (size_t i = 1; i < *n; i++)
		for (size_t k = i; k > 0 && (*out)[k - 1] > (*out)[k]; k--) {
			uint64_t t = (*out)[k];

			(*out)[k] = (*out)[k - 1];
			(*out)[k - 1] = t;
		}
	return 0;
}

int meta_log_replay(const char *dir, uint64_t first_segno, uint64_t after_seq, meta_log_fn fn,
		    void *ud, uint64_t *last_seq, uint64_t *last_segno, char *err, size_t errlen)
{
	uint64_t *segs, expect = after_seq + 1;
	size_t nsegs;
	int rc = seg_list(dir, first_segno, &segs, &nsegs);

	if (rc) {
		snprintf(err, errlen, "%s: %s", dir, strerror(-rc));
		return rc;
	}
	for (size_t i = 0; i < nsegs && !rc; i++) {
		char path[4096];
		uint8_t *data = NULL;
		size_t len = 0, off = META_LOG_HDR_SIZE;
		int is_last = i + 1 == nsegs;

		*last_segno = segs[i];
		seg_path(path, sizeof(path), dir, segs[i]);
		rc = read_file(path, &data, &len);
		if (rc) {
			snprintf(err, errlen, "%s: %s", path, strerror(-rc));
			break;
		}
		if (len < META_LOG_HDR_SIZE || memcmp(data, META_LOG_MAGIC, 8)) {
			if (is_last && (len < META_LOG_HDR_SIZE || all_zero(data, len))) {
				/* A segment whose header never reached the disk. */
				free(data);
				break;
			}
			snprintf(err, errlen, "%s: not a casfs changelog segment", path);
			rc = -EINVAL;
			free(data);
			break;
		}
		while (off < len) {
			struct meta_rec rec;
			size_t next;
			int incomplete;

			if (rec_parse(data, len, off, &rec, &next, &incomplete)) {
				int cut = is_last && (incomplete || all_zero(data + off, len - off));

				if (!cut && is_last) {
					uint32_t blen = (uint32_t)data[off] | (uint32_t)data[off + 1] << 8 |
							(uint32_t)data[off + 2] << 16 |
							(uint32_t)data[off + 3] << 24;

					cut = (uint64_t)off + 4 + blen + 8 == len;
				}
				if (!cut) {
					snprintf(err, errlen, "%s: corrupt record at offset %zu", path,
						 off);
					rc = -EBADMSG;
					break;
				}
				log_warn("%s: dropping torn record at offset %zu (%zu bytes)", path, off,
					 len - off);
				if (truncate(path, (off_t)off) < 0)
					log_warn("%s: truncate: %s", path, strerror(errno));
				break;
			}
			if (rec.seq <= after_seq) {
				off = next;
				continue;
			}
			if (rec.seq != expect) {
				snprintf(err, errlen, "%s: record at offset %zu has seq %llu, expected %llu",
					 path, off, (unsigned long long)rec.seq,
					 (unsigned long long)expect);
				rc = -EBADMSG;
				break;
			}
			rc = fn(ud, &rec);
			if (rc) {
				snprintf(err, errlen, "%s: record at offset %zu (op %u) cannot be applied: %s",
					 path, off, rec.op, strerror(-rc));
				break;
			}
			expect++;
			off = next;
		}
		free(data);
	}
	if (!rc)
		*last_seq = expect - 1;
	free(segs);
	return rc;
}

void meta_log_remove_before(const char *dir, uint64_t segno)
{
	uint64_t *segs;
	size_t n;
	char path[4096];

	if (seg_list(dir, 0, &segs, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		if (segs[i] >= segno)
			continue;
		seg_path(path, sizeof(path), dir, segs[i]);
		if (unlink(path) < 0)
			log_warn("%s: %s", path, strerror(errno));
	}
	free(segs);
}
