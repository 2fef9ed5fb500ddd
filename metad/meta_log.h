/* The changelog: every mutation as one checksummed record, appended with
 * write(2) before its reply leaves (so kill -9 loses nothing acknowledged),
 * plus the fsync thread that makes it durable with group commit. The format
 * is documented in metad/README.md; a standby will follow it. The loop
 * thread owns appends and rotation; the fsync thread only fdatasyncs and
 * publishes how far it got (guarded by the log's mutex). */
#ifndef CASFS_META_LOG_H
#define CASFS_META_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "fs/attr.h"

#define META_LOG_VERSION 1
#define META_LOG_MAGIC "CASFSCL1"
#define META_LOG_HDR_SIZE 16	/* magic + u64 segment number */
/* Record body: version u8, reserved u8, op u16, seq u64, session u64,
 * reqid u64, time (u64 sec, u32 nsec). */
#define META_REC_FIXED 40
#define META_REC_MAX (16u << 20)

/* Internal record types (wire message types are below 1000). */
enum meta_rec_op {
	META_REC_SESSION_NEW = 1000,	/* payload: role u8, name s */
	META_REC_SESSION_END = 1001,	/* payload: empty */
	META_REC_CS_ID = 1002,		/* payload: next chunk-server id u32 */
	META_REC_LOCK = 1003,		/* payload: ino, owner u64, kind u8, type u8,
					 * start, end u64, pid u32 (a grant or unlock) */
	META_REC_LOCK_DROP = 1004,	/* payload: ino u64 (the session's flocks on it) */
};

struct meta_rec {
	uint16_t op;
	uint64_t seq;
	uint64_t session;
	uint64_t reqid;
	struct casfs_time time;
	const uint8_t *payload;
	uint32_t len;
};

struct meta_log;

/* Creates segment DIR/changelog.<segno> (which must not exist) and starts
 * the fsync thread; records continue from seq next_seq. */
int meta_log_open(const char *dir, uint64_t segno, uint64_t next_seq, struct meta_log **out);
/* Fsyncs and closes. */
void meta_log_close(struct meta_log *log);
/* Appends one record; *seq receives its sequence number. -errno when the
 * write failed (the caller must treat this as fatal: state and log would
 * disagree). */
int meta_log_append(struct meta_log *log, uint16_t op, uint64_t session, uint64_t reqid,
		    const struct casfs_time *time, const void *payload, uint32_t len,
		    uint64_t *seq);
/* Syncs the current segment and starts changelog.<segno>. */
int meta_log_rotate(struct meta_log *log, uint64_t segno);
uint64_t meta_log_segno(const struct meta_log *log);
/* The last sequence number appended, and the last one known on disk. */
uint64_t meta_log_last_seq(const struct meta_log *log);
uint64_t meta_log_synced_seq(struct meta_log *log);
/* Asks the fsync thread to sync up to at least seq (group commit). */
void meta_log_request_sync(struct meta_log *log, uint64_t seq);
/* A file descriptor that becomes readable when the synced position moves;
 * call meta_log_drain_notify() when it does. */
int meta_log_notify_fd(const struct meta_log *log);
void meta_log_drain_notify(struct meta_log *log);

/* Replays DIR/changelog.<n> for n >= first_segno in order, calling fn for
 * each record with seq > after_seq (records must continue without gaps).
 * A torn tail of the newest segment is cut off; any other damage is an
 * error naming the file and offset (in err). *last_seq and *last_segno
 * receive where the log ended (unchanged if there was nothing). */
typedef int (*meta_log_fn)(void *ud, const struct meta_rec *rec);
int meta_log_replay(const char *dir, uint64_t first_segno, uint64_t after_seq, meta_log_fn fn,
		    void *ud, uint64_t *last_seq, uint64_t *last_segno, char *err, size_t errlen);
/* Removes changelog segments older than segno. */
void meta_log_remove_before(const char *dir, uint64_t segno);

#endif
