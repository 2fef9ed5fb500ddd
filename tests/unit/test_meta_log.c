/* Changelog and checkpoint files: records round-trip; a torn last record
 * (cut short, zero-filled, or with a bad checksum at the very end) is
 * dropped and everything before it kept; a damaged record in the middle is
 * a hard error naming the offset; a sequence gap is an error; a damaged
 * checkpoint falls back to an older one. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <poll.h>
#include <unistd.h>
#include <cmocka.h>

#include "fs/proto.h"
#include "metad/meta_ckpt.h"
#include "metad/meta_log.h"
#include "metad/meta_sess.h"

struct seen {
	uint64_t seqs[64];
	int n;
};

static int collect(void *ud, const struct meta_rec *rec)
{
	struct seen *s = ud;

	assert_true(s->n < 64);
	assert_int_equal(rec->len, 5);
	assert_memory_equal(rec->payload, "hello", 5);
	s->seqs[s->n++] = rec->seq;
	return 0;
}

static char *mkdir_tmp(void)
{
	static char dir[64];

	snprintf(dir, sizeof(dir), "/tmp/test_meta_log.XXXXXX");
	assert_non_null(mkdtemp(dir));
	return dir;
}

static void rm_tmp(const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* Writes n records into segment 1 (and m into segment 2 when m > 0). */
static void write_log(const char *dir, int n, int m)
{
	struct meta_log *log;
	struct casfs_time t = { 1, 2 };
	uint64_t seq;

	assert_int_equal(meta_log_open(dir, 1, 1, &log), 0);
	for (int i = 0; i < n; i++) {
		assert_int_equal(meta_log_append(log, 12, 7, (uint64_t)i, &t, "hello", 5, &seq), 0);
		assert_int_equal(seq, (uint64_t)i + 1);
	}
	if (m) {
		assert_int_equal(meta_log_rotate(log, 2), 0);
		for (int i = 0; i < m; i++)
			assert_int_equal(meta_log_append(log, 12, 7, 0, &t, "hello", 5, &seq), 0);
	}
	meta_log_request_sync(log, meta_log_last_seq(log));
	meta_log_close(log);
}

static off_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static void append(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_APPEND);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static void patch(const char *path, off_t off, uint8_t x)
{
	int fd = open(path, O_RDWR);
	uint8_t b;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= x;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

static int replay(const char *dir, uint64_t after, struct seen *s, char *err, size_t errlen)
{
	uint64_t last_seq = 0, last_segno = 0;

	s->n = 0;
	return meta_log_replay(dir, 1, after, collect, s, &last_seq, &last_segno, err, errlen);
}

/* Each record of write_log is 4 + 40 + 5 + 8 bytes. */
#define REC 57

static void test_roundtrip_and_segments(void **state)
{
	char *dir = mkdir_tmp(), err[512];
	struct seen s;

	(void)state;
	write_log(dir, 10, 5);
	assert_int_equal(replay(dir, 0, &s, err, sizeof(err)), 0);
	assert_int_equal(s.n, 15);
	for (int i = 0; i < 15; i++)
		assert_int_equal(s.seqs[i], (uint64_t)i + 1);
	/* Records up to a checkpoint's last_seq are skipped. */
	assert_int_equal(replay(dir, 12, &s, err, sizeof(err)), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.seqs[0], 13);
	rm_tmp(dir);
}

static void test_torn_tail_dropped(void **state)
{
	char *dir = mkdir_tmp(), path[128], err[512];
	static const uint8_t zeros[200];
	struct seen s;
	off_t size;

	(void)state;
	write_log(dir, 10, 0);
	snprintf(path, sizeof(path), "%s/changelog.1", dir);
	size = file_size(path);
	assert_int_equal(size, META_LOG_HDR_SIZE + 10 * REC);
	/* Half a record. */
	append(path, "\x39\x00\x00\x00\x01\x00", 6);
	assert_int_equal(replay(dir, 0, &s, err, sizeof(err)), 0);
	assert_int_equal(s.n, 10);
	assert_int_equal(file_size(path), size);
	/* A zero-filled tail (the file grew but the data never landed). */
	append(path, zeros, sizeof(zeros));
	assert_int_equal(replay(dir, 0, &s, err, sizeof(err)), 0);
	assert_int_equal(s.n, 10);
	assert_int_equal(file_size(path), size);
	/* The last whole record with a bad checksum is torn too. */
	patch(path, size - 10, 0x40);
	assert_int_equal(replay(dir, 0, &s, err, sizeof(err)), 0);
	assert_int_equal(s.n, 9);
	assert_int_equal(file_size(path), size - REC);
	rm_tmp(dir);
}

static void test_corrupt_middle_is_error(void **state)
{
	char *dir = mkdir_tmp(), path[128], err[512], want[64];
	struct seen s;

	(void)state;
	write_log(dir, 10, 0);
	snprintf(path, sizeof(path), "%s/changelog.1", dir);
	patch(path, META_LOG_HDR_SIZE + 4 * REC + 30, 0x01);
	assert_int_equal(replay(dir, 0, &s, err, sizeof(err)), -EBADMSG);
	snprintf(want, sizeof(want), "corrupt record at offset %d", META_LOG_HDR_SIZE + 4 * REC);
	assert_non_null(strstr(err, want));
	/* A damaged older segment is an error even at its end. */
	rm_tmp(dir);
	dir = mkdir_tmp();
	write_log(dir, 3, 3);
	snprintf(path, sizeof(path), "%s/changelog.1", dir);
	patch(path, META_LOG_HDR_SIZE + 2 * REC + 20, 0x01);
	assert_int_equal(replay(dir, 0, &s, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "changelog.1"));
	rm_tmp(dir);
}

static void test_sequence_gap_is_error(void **state)
{
	char *dir, err[512];
	struct seen s;

	(void)state;
	dir = mkdir_tmp();
	{
		struct meta_log *log;
		struct casfs_time t = { 1, 2 };
		uint64_t seq;

		/* Starts at seq 5: replay after 2 finds a gap. */
		assert_int_equal(meta_log_open(dir, 1, 5, &log), 0);
		assert_int_equal(meta_log_append(log, 12, 7, 0, &t, "hello", 5, &seq), 0);
		meta_log_close(log);
	}
	assert_int_equal(replay(dir, 2, &s, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "expected 3"));
	rm_tmp(dir);
}

static void test_checkpoint_fallback(void **state)
{
	char *dir = mkdir_tmp(), path[128], err[512];
	struct casfs_time now = { 5, 0 };
	struct meta_sessions ss, ss2;
	struct meta_ckpt_state st = { .ss = &ss }, got = { .ss = &ss2 };

	(void)state;
	meta_sess_init(&ss);
	meta_sess_init(&ss2);
	assert_int_equal(meta_ckpt_load(dir, 2, 1u << 20, 0, &got, err, sizeof(err)), -ENOENT);
	st.ns = meta_ns_new(2, 1u << 20, &now);
	st.segno = 1;
	st.next_cs_id = 3;
	assert_int_equal(meta_ckpt_write(dir, &st), 0);
	st.segno = 4;
	st.last_seq = 9;
	assert_int_equal(meta_ckpt_write(dir, &st), 0);
	assert_int_equal(meta_ckpt_load(dir, 2, 1u << 20, 0, &got, err, sizeof(err)), 0);
	assert_int_equal(got.segno, 4);
	assert_int_equal(got.last_seq, 9);
	assert_int_equal(got.next_cs_id, 3);
	meta_ns_free(got.ns);
	/* Damage the newest: the older one is used. */
	snprintf(path, sizeof(path), "%s/checkpoint.4", dir);
	patch(path, 30, 0xff);
	assert_int_equal(meta_ckpt_load(dir, 2, 1u << 20, 0, &got, err, sizeof(err)), 0);
	assert_int_equal(got.segno, 1);
	meta_ns_free(got.ns);
	meta_ckpt_remove_before(dir, 4);
	snprintf(path, sizeof(path), "%s/checkpoint.1", dir);
	assert_int_not_equal(access(path, F_OK), 0);
	assert_int_not_equal(meta_ckpt_load(dir, 2, 1u << 20, 0, &got, err, sizeof(err)), 0);
	meta_ns_free(st.ns);
	meta_sess_free_all(&ss);
	meta_sess_free_all(&ss2);
	rm_tmp(dir);
}

/* Group commit: one request covers everything written before it; the
 * thread reports through the notify descriptor. */
static void test_fsync_thread_reports(void **state)
{
	char *dir = mkdir_tmp();
	struct casfs_time t = { 1, 2 };
	struct meta_log *log;
	struct pollfd pfd;
	uint64_t seq = 0;

	(void)state;
	assert_int_equal(meta_log_open(dir, 1, 1, &log), 0);
	assert_int_equal(meta_log_synced_seq(log), 0);
	for (int i = 0; i < 20; i++)
		assert_int_equal(meta_log_append(log, 12, 7, 0, &t, "hello", 5, &seq), 0);
	assert_int_equal(meta_log_last_seq(log), 20);
	meta_log_request_sync(log, 5);
	pfd.fd = meta_log_notify_fd(log);
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 10000), 1);
	meta_log_drain_notify(log);
	/* The fsync covered all 20 records, not just the 5 asked for. */
	assert_int_equal(meta_log_synced_seq(log), 20);
	/* Rotation leaves everything synced. */
	assert_int_equal(meta_log_append(log, 12, 7, 0, &t, "hello", 5, &seq), 0);
	assert_int_equal(meta_log_rotate(log, 2), 0);
	assert_int_equal(meta_log_synced_seq(log), 21);
	assert_int_equal(meta_log_segno(log), 2);
	meta_log_close(log);
	rm_tmp(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_and_segments),
		cmocka_unit_test(test_torn_tail_dropped),
		cmocka_unit_test(test_corrupt_middle_is_error),
		cmocka_unit_test(test_sequence_gap_is_error),
		cmocka_unit_test(test_checkpoint_fallback),
		cmocka_unit_test(test_fsync_thread_reports),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
