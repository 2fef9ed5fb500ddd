/* Sessions: one per HELLO from a client, chunk server or admin tool. A
 * client or admin session owns its opens (which keep unlinked inodes alive)
 * and its locks, and remembers the outcome of its recent mutations so that a
 * request re-sent after a reconnect is answered, not applied twice. Client
 * and admin sessions are persistent (logged and checkpointed); chunk-server
 * sessions are not. Owned by the event-loop thread. */
#ifndef CASFS_META_SESS_H
#define CASFS_META_SESS_H

#include <stdint.h>

#include "metad/meta_htab.h"

/* Outcomes remembered per session. A client re-sends only what was in
 * flight when its connection broke (at most a few hundred requests), so
 * 1024 covers it with room to spare at 32 KiB per session. */
#define META_DEDUP_SIZE 1024

struct meta_dedup {
	uint64_t reqid;
	uint64_t fp;		/* fingerprint of type + payload */
	uint64_t result;	/* inode the reply's attr describes, or a count */
	int32_t status;
	uint16_t type;
};

struct meta_sess {
	uint64_t id;
	uint8_t role;
	uint8_t is_persistent;
	char *name;
	int64_t created_ms;
	int64_t last_ms;	/* last frame heard: the expiry clock */
	void *conn;		/* the connection serving it, if any */
	struct meta_htab opens;	/* struct meta_open by inode */
	uint64_t nopen;
	struct meta_dedup *dedup;	/* ring, allocated on first use */
	uint32_t dedup_pos;
	uint64_t max_reqid;	/* highest request id remembered */
};

struct meta_open {
	uint64_t ino;
	uint32_t count;
};

struct meta_sessions {
	struct meta_htab h;
	uint64_t next_id;
};

void meta_sess_init(struct meta_sessions *ss);
/* Frees every session (not their inodes' opens: the namespace goes too). */
void meta_sess_free_all(struct meta_sessions *ss);
struct meta_sess *meta_sess_find(const struct meta_sessions *ss, uint64_t id);
/* Creates a session with the given id (0 = the next free one). */
struct meta_sess *meta_sess_new(struct meta_sessions *ss, uint64_t id, uint8_t role,
				const char *name, int64_t now_ms);
void meta_sess_delete(struct meta_sessions *ss, struct meta_sess *s);
/* Open counting per session: add returns the new count; del returns 0 if
 * the session held ino open, -ENOENT otherwise. */
uint32_t meta_sess_open_add(struct meta_sess *s, uint64_t ino, uint32_t n);
int meta_sess_open_del(struct meta_sess *s, uint64_t ino);
uint32_t meta_sess_open_count(const struct meta_sess *s, uint64_t ino);
/* Remembers / looks up the outcome of a mutation. */
void meta_sess_dedup_put(struct meta_sess *s, uint64_t reqid, uint16_t type, uint64_t fp,
			 int32_t status, uint64_t result);
const struct meta_dedup *meta_sess_dedup_get(const struct meta_sess *s, uint64_t reqid,
					     uint16_t type, uint64_t fp);

#endif
