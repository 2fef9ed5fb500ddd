/* meta_exec: decodes a namespace request and applies it to the namespace and
 * the caller's session. The live server calls it for every client request
 * and logs the ones that mutated; replay calls it with the logged payloads.
 * It never reads a clock or a chunk-server table, so replay is exact. Owned
 * by the event-loop thread. */
#include "metad/meta_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <xxhash.h>

#include "fs/log.h"
#include "fs/msg.h"
#include "fs/xmalloc.h"
#include "metad/meta_lock.h"

int meta_exec_is_mutation(uint16_t type)
{
	switch (type) {
	case MSG_SETATTR: case MSG_MKNOD: case MSG_MKDIR: case MSG_UNLINK: case MSG_RMDIR:
	case MSG_SYMLINK: case MSG_RENAME: case MSG_LINK: case MSG_OPEN: case MSG_RELEASE:
	case MSG_SETXATTR: case MSG_REMOVEXATTR: case MSG_CREATE: case MSG_COMMIT:
	case MSG_COPY_RANGE: case MSG_ADM_SET_GOAL: case MSG_ADM_SET_BLOCKSIZE:
		return 1;
	default:
		return 0;
	}
}

int meta_exec_handles(uint16_t type)
{
	switch (type) {
	case MSG_LOOKUP: case MSG_GETATTR: case MSG_READLINK: case MSG_READDIR:
	case MSG_GETXATTR: case MSG_LISTXATTR:
		return 1;
	default:
		return meta_exec_is_mutation(type);
	}
}

struct readdir_ctx {
	struct proto_wbuf *out;
	uint32_t max, n;
	int more;
};

/* Replies stay well under the frame limit and the client's buffers. */
#define READDIR_REPLY_MAX (256u << 10)

static int readdir_cb(void *ud, uint64_t seq, const char *name, const struct casfs_attr *a)
{
	struct readdir_ctx *c = ud;

	if (c->n >= c->max || c->out->len > READDIR_REPLY_MAX) {
		c->more = 1;
		return 1;
	}
	proto_put_u64(c->out, seq);
	proto_put_str(c->out, name);
	proto_put_attr(c->out, a);
	c->n++;
	return 0;
}

static void listxattr_cb(void *ud, const char *name)
{
	struct proto_wbuf *w = ud;

	proto_put_raw(w, name, strlen(name) + 1);
}

static void put_attr_of(struct meta_exec *x, uint64_t ino, struct proto_wbuf *out)
{
	struct casfs_attr a;

	if (!out)
		return;
	memset(&a, 0, sizeof(a));
	if (meta_ns_getattr(x->ns, ino, &a))
		a.ino = ino;
	proto_put_attr(out, &a);
}

static int do_readdir(struct meta_exec *x, struct proto_rbuf *r, struct proto_wbuf *out)
{
	struct readdir_ctx c = { 0 };
	struct proto_wbuf tmp;
	uint64_t ino, cursor;
	uint32_t max;
	int rc;

	proto_get_u64(r, &ino);
	proto_get_u64(r, &cursor);
	proto_get_u32(r, &max);
	proto_wbuf_init(&tmp);
	c.out = &tmp;
	/* 0 asks for "as many as fit". */
	c.max = max ? max : UINT32_MAX;
	rc = meta_ns_readdir(x->ns, ino, cursor, readdir_cb, &c);
	if (!rc && out) {
		proto_put_u8(out, !c.more);
		proto_put_u32(out, c.n);
		proto_put_raw(out, tmp.data, tmp.len);
	}
	proto_wbuf_free(&tmp);
	return rc;
}

static int do_commit(struct meta_exec *x, struct proto_rbuf *r, uint64_t *result)
{
	struct meta_commit_ent *ents;
	struct casfs_time mtime;
	uint64_t ino, size;
	uint32_t flags, n, nloc, loc;
	int rc;

	proto_get_u64(r, &ino);
	proto_get_u64(r, &size);
	proto_get_time(r, &mtime);
	proto_get_u32(r, &flags);
	proto_get_count(r, 8 + BLK_ID_SIZE + 4 + 4, &n);
	ents = xcalloc(n ? n : 1, sizeof(*ents));
	for (uint32_t i = 0; i < n; i++) {
		proto_get_u64(r, &ents[i].index);
		proto_get_blkid(r, &ents[i].id);
		proto_get_u32(r, &ents[i].length);
		proto_get_count(r, 4, &nloc);
		for (uint32_t k = 0; k < nloc; k++)
			proto_get_u32(r, &loc);
	}
	rc = r->err ? -EBADMSG : meta_ns_commit(x->ns, ino, size, &mtime, flags, ents, n, &x->now,
						 NULL);
	free(ents);
	*result = ino;
	return rc;
}

int meta_exec_run(struct meta_exec *x, uint16_t type, const uint8_t *payload, size_t len,
		  struct proto_wbuf *out, int *mutated, uint64_t *result)
{
	char name[PROTO_NAME_MAX + 1], name2[PROTO_NAME_MAX + 1], str[PROTO_STR_MAX + 1];
	struct casfs_time at, mt;
	struct casfs_attr a;
	struct proto_rbuf r;
	uint64_t ino = 0, ino2, u64;
	uint32_t mode, uid, gid, rdev, flags, valid, u32;
	const uint8_t *data;
	const void *cvalue;
	const char *target;
	uint8_t u8, u8b;
	int rc;

	*mutated = 0;
	*result = 0;
	proto_rbuf_init(&r, payload, len);
	memset(&a, 0, sizeof(a));
	switch (type) {
	case MSG_LOOKUP:
		proto_get_u64(&r, &ino);
		proto_get_name(&r, name);
		rc = meta_ns_lookup(x->ns, ino, name, &a);
		if (!rc && out)
			proto_put_attr(out, &a);
		return rc;
	case MSG_GETATTR:
		proto_get_u64(&r, &ino);
		rc = meta_ns_getattr(x->ns, ino, &a);
		if (!rc && out)
			proto_put_attr(out, &a);
		return rc;
	case MSG_READLINK:
		proto_get_u64(&r, &ino);
		rc = meta_ns_readlink(x->ns, ino, &target);
		if (!rc && out)
			proto_put_str(out, target);
		return rc;
	case MSG_READDIR:
		return do_readdir(x, &r, out);
	case MSG_GETXATTR:
		proto_get_u64(&r, &ino);
		proto_get_str(&r, str, sizeof(str));
		rc = meta_ns_getxattr(x->ns, ino, str, &cvalue, &u32);
		if (!rc && out)
			proto_put_bytes(out, cvalue, u32);
		return rc;
	case MSG_LISTXATTR: {
		struct proto_wbuf tmp;

		proto_get_u64(&r, &ino);
		proto_wbuf_init(&tmp);
		rc = meta_ns_listxattr(x->ns, ino, listxattr_cb, &tmp);
		if (!rc && out)
			proto_put_bytes(out, tmp.data, (uint32_t)tmp.len);
		proto_wbuf_free(&tmp);
		return rc;
	}
	case MSG_SETATTR:
		proto_get_u64(&r, &ino);
		proto_get_u32(&r, &valid);
		proto_get_u32(&r, &mode);
		proto_get_u32(&r, &uid);
		proto_get_u32(&r, &gid);
		proto_get_u64(&r, &u64);
		proto_get_time(&r, &at);
		proto_get_time(&r, &mt);
		rc = meta_ns_setattr(x->ns, ino, valid, mode, uid, gid, u64, &at, &mt, &x->now, &a);
		break;
	case MSG_MKNOD:
	case MSG_CREATE:
		proto_get_u64(&r, &ino2);
		proto_get_name(&r, name);
		proto_get_u32(&r, &mode);
		if (type == MSG_MKNOD) {
			proto_get_u32(&r, &rdev);
		} else {
			rdev = 0;
			mode = S_IFREG | (mode & 07777);
		}
		proto_get_u32(&r, &uid);
		proto_get_u32(&r, &gid);
		if (type == MSG_CREATE)
			proto_get_u32(&r, &flags);
		rc = meta_ns_mknod(x->ns, ino2, name, mode, rdev, uid, gid, &x->now, &a);
		if (rc)
			return rc;
		ino = a.ino;
		if (type == MSG_CREATE) {
			meta_ns_open(x->ns, ino, O_RDONLY, &x->now, &a);
			meta_sess_open_add(x->sess, ino, 1);
		}
		break;
	case MSG_MKDIR:
		proto_get_u64(&r, &ino2);
		proto_get_name(&r, name);
		proto_get_u32(&r, &mode);
		proto_get_u32(&r, &uid);
		proto_get_u32(&r, &gid);
		rc = meta_ns_mkdir(x->ns, ino2, name, mode, uid, gid, &x->now, &a);
		ino = a.ino;
		break;
	case MSG_SYMLINK:
		proto_get_u64(&r, &ino2);
		proto_get_name(&r, name);
		proto_get_str(&r, str, sizeof(str));
		proto_get_u32(&r, &uid);
		proto_get_u32(&r, &gid);
		rc = meta_ns_symlink(x->ns, ino2, name, str, uid, gid, &x->now, &a);
		ino = a.ino;
		break;
	case MSG_UNLINK:
	case MSG_RMDIR:
		proto_get_u64(&r, &ino2);
		proto_get_name(&r, name);
		rc = type == MSG_UNLINK ? meta_ns_unlink(x->ns, ino2, name, &x->now)
					: meta_ns_rmdir(x->ns, ino2, name, &x->now);
		break;
	case MSG_RENAME:
		proto_get_u64(&r, &ino);
		proto_get_name(&r, name);
		proto_get_u64(&r, &ino2);
		proto_get_name(&r, name2);
		proto_get_u32(&r, &flags);
		rc = meta_ns_rename(x->ns, ino, name, ino2, name2, flags, &x->now);
		ino = 0;
		break;
	case MSG_LINK:
		proto_get_u64(&r, &ino);
		proto_get_u64(&r, &ino2);
		proto_get_name(&r, name);
		rc = meta_ns_link(x->ns, ino, ino2, name, &x->now, &a);
		break;
	case MSG_OPEN:
		proto_get_u64(&r, &ino);
		proto_get_u32(&r, &flags);
		rc = meta_ns_open(x->ns, ino, flags, &x->now, &a);
		if (!rc)
			meta_sess_open_add(x->sess, ino, 1);
		break;
	case MSG_RELEASE:
		proto_get_u64(&r, &ino);
		if (meta_sess_open_del(x->sess, ino))
			return 0;
		meta_ns_release(x->ns, ino);
		rc = 0;
		ino = 0;
		break;
	case MSG_SETXATTR:
		proto_get_u64(&r, &ino);
		proto_get_str(&r, str, sizeof(str));
		proto_get_bytes(&r, &data, &u32);
		proto_get_u32(&r, &flags);
		rc = meta_ns_setxattr(x->ns, ino, str, data, u32, flags, &x->now);
		ino = 0;
		break;
	case MSG_REMOVEXATTR:
		proto_get_u64(&r, &ino);
		proto_get_str(&r, str, sizeof(str));
		rc = meta_ns_removexattr(x->ns, ino, str, &x->now);
		ino = 0;
		break;
	case MSG_COMMIT:
		rc = do_commit(x, &r, &ino);
		break;
	case MSG_COPY_RANGE: {
		uint64_t src, sidx, didx, dsize;

		proto_get_u64(&r, &src);
		proto_get_u64(&r, &sidx);
		proto_get_u64(&r, &ino);
		proto_get_u64(&r, &didx);
		proto_get_u32(&r, &u32);
		proto_get_u64(&r, &dsize);
		rc = meta_ns_copy_range(x->ns, src, sidx, ino, didx, u32, dsize, &x->now, &a);
		break;
	}
	case MSG_ADM_SET_GOAL:
		proto_get_u64(&r, &ino2);
		proto_get_u8(&r, &u8);
		proto_get_u8(&r, &u8b);
		rc = meta_ns_set_goal(x->ns, ino2, u8, u8b, &ino);
		break;
	case MSG_ADM_SET_BLOCKSIZE:
		proto_get_u64(&r, &ino2);
		proto_get_u32(&r, &u32);
		rc = meta_ns_set_block_size(x->ns, ino2, u32);
		break;
	default:
		return -EPROTO;
	}
	if (rc)
		return rc;
	*mutated = 1;
	*result = ino;
	if (out)
		meta_exec_replay_reply(x, type, ino, out);
	return 0;
}

void meta_exec_replay_reply(struct meta_exec *x, uint16_t type, uint64_t result,
			    struct proto_wbuf *out)
{
	switch (type) {
	case MSG_SETATTR: case MSG_MKNOD: case MSG_MKDIR: case MSG_SYMLINK: case MSG_LINK:
	case MSG_OPEN: case MSG_CREATE: case MSG_COMMIT: case MSG_COPY_RANGE:
		put_attr_of(x, result, out);
		break;
	case MSG_ADM_SET_GOAL:
		proto_put_u64(out, result);
		break;
	default:
		break;
	}
}

void meta_exec_session_end(struct meta_exec *x, struct meta_sess *sess)
{
	if (x->locks)
		meta_lock_drop(x->locks, sess->id, 0);
	for (uint32_t i = 0; i < sess->opens.cap; i++) {
		struct meta_open *o = sess->opens.slots[i];

		if (!o)
			continue;
		for (uint32_t k = 0; k < o->count; k++)
			meta_ns_release(x->ns, o->ino);
	}
	meta_sess_delete(x->ss, sess);
}

int meta_exec_apply_record(struct meta_exec *x, const struct meta_rec *rec, uint32_t *next_cs_id)
{
	char name[PROTO_STR_MAX + 1];
	struct proto_rbuf r;
	struct meta_sess *s;
	struct timespec ts;
	uint64_t result;
	uint32_t u32;
	uint8_t role;
	int mutated, rc;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	x->now = rec->time;
	proto_rbuf_init(&r, rec->payload, rec->len);
	switch (rec->op) {
	case META_REC_SESSION_NEW:
		proto_get_u8(&r, &role);
		proto_get_str(&r, name, sizeof(name));
		if (proto_get_end(&r) || !rec->session || meta_sess_find(x->ss, rec->session))
			return -EBADMSG;
		/* A replayed session gets a full timeout to reconnect. */
		s = meta_sess_new(x->ss, rec->session, role, name,
				  (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
		s->is_persistent = 1;
		return 0;
	case META_REC_SESSION_END:
		s = meta_sess_find(x->ss, rec->session);
		if (s)
			meta_exec_session_end(x, s);
		return 0;
	case META_REC_LOCK: {
		struct meta_lk_rec lk = { .session = rec->session };

		proto_get_u64(&r, &lk.ino);
		proto_get_u64(&r, &lk.owner);
		proto_get_u8(&r, &lk.kind);
		proto_get_u8(&r, &lk.type);
		proto_get_u64(&r, &lk.start);
		proto_get_u64(&r, &lk.end);
		proto_get_u32(&r, &lk.pid);
		if (proto_get_end(&r) || lk.type < 1 || lk.type > 3 || lk.start > lk.end)
			return -EBADMSG;
		if (x->locks)
			meta_lock_apply(x->locks, &lk);
		return 0;
	}
	case META_REC_LOCK_DROP: {
		uint64_t ino;

		proto_get_u64(&r, &ino);
		if (proto_get_end(&r))
			return -EBADMSG;
		if (x->locks)
			meta_lock_drop(x->locks, rec->session, ino);
		return 0;
	}
	case META_REC_CS_ID:
		proto_get_u32(&r, &u32);
		if (proto_get_end(&r))
			return -EBADMSG;
		if (u32 > *next_cs_id)
			*next_cs_id = u32;
		return 0;
	default:
		break;
	}
	if (!meta_exec_is_mutation(rec->op) || msg_check(rec->op, 0, rec->payload, rec->len))
		return -EBADMSG;
	s = meta_sess_find(x->ss, rec->session);
	if (!s)
		return -ESTALE;
	x->sess = s;
	rc = meta_exec_run(x, rec->op, rec->payload, rec->len, NULL, &mutated, &result);
	if (rc)
		log_warn("replay: record %llu (op %u) failed: %s", (unsigned long long)rec->seq,
			 rec->op, strerror(-rc));
	else
		meta_sess_dedup_put(s, rec->reqid, rec->op,
				    XXH3_64bits_withSeed(rec->payload, rec->len, rec->op), 0, result);
	return 0;
}
