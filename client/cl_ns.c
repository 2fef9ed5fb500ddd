/* cl_ns: the namespace half of the client library. Every function is one
 * round trip through cl_meta_call: encode, wait, decode. Stateless, so safe
 * from any thread; attribute caching is the kernel's (entry/attr timeouts). */
#include "client/cl_ns.h"

#include <errno.h>
#include <string.h>

#include "fs/msg.h"

/* A request and its reply buffer, on the caller's stack. */
struct ns_call {
	struct proto_wbuf req, rep;
	struct proto_rbuf r;
};

static void call_begin(struct ns_call *c, uint16_t type)
{
	proto_wbuf_init(&c->req);
	proto_wbuf_init(&c->rep);
	proto_frame_begin(&c->req, type, 0, 0);
}

/* Sends, waits, and points c->r at the reply fields. */
static int call_run(struct cl_meta *m, struct ns_call *c)
{
	int rc = cl_meta_call(m, &c->req, &c->rep);

	proto_rbuf_init(&c->r, c->rep.data, c->rep.len);
	return rc;
}

static void call_end(struct ns_call *c)
{
	proto_wbuf_free(&c->req);
	proto_wbuf_free(&c->rep);
}

/* Runs a call whose reply is one attribute record. */
static int call_attr(struct cl_meta *m, struct ns_call *c, struct casfs_attr *a)
{
	struct casfs_attr tmp;
	int rc = call_run(m, c);

	if (!rc) {
		proto_get_attr(&c->r, a ? a : &tmp);
		if (proto_get_end(&c->r))
			rc = -EPROTO;
	}
	call_end(c);
	return rc;
}

static int call_plain(struct cl_meta *m, struct ns_call *c)
{
	int rc = call_run(m, c);

	call_end(c);
	return rc;
}

int cl_ns_lookup(struct cl_meta *m, uint64_t parent, const char *name, struct casfs_attr *a)
{
	struct ns_call c;

	call_begin(&c, MSG_LOOKUP);
	proto_put_u64(&c.req, parent);
	proto_put_str(&c.req, name);
	return call_attr(m, &c, a);
}

int cl_ns_getattr(struct cl_meta *m, uint64_t ino, struct casfs_attr *a)
{
	struct ns_call c;

	call_begin(&c, MSG_GETATTR);
	proto_put_u64(&c.req, ino);
	return call_attr(m, &c, a);
}

int cl_ns_setattr(struct cl_meta *m, uint64_t ino, uint32_t valid, uint32_t mode, uint32_t uid,
		  uint32_t gid, uint64_t size, const struct casfs_time *atime,
		  const struct casfs_time *mtime, struct casfs_attr *a)
{
	static const struct casfs_time zero;
	struct ns_call c;

	call_begin(&c, MSG_SETATTR);
	proto_put_u64(&c.req, ino);
	proto_put_u32(&c.req, valid);
	proto_put_u32(&c.req, mode);
	proto_put_u32(&c.req, uid);
	proto_put_u32(&c.req, gid);
	proto_put_u64(&c.req, size);
	proto_put_time(&c.req, atime ? atime : &zero);
	proto_put_time(&c.req, mtime ? mtime : &zero);
	return call_attr(m, &c, a);
}

int cl_ns_mknod(struct cl_meta *m, uint64_t parent, const char *name, uint32_t mode,
		uint32_t rdev, uint32_t uid, uint32_t gid, struct casfs_attr *a)
{
	struct ns_call c;

	call_begin(&c, MSG_MKNOD);
	proto_put_u64(&c.req, parent);
	proto_put_str(&c.req, name);
	proto_put_u32(&c.req, mode);
	proto_put_u32(&c.req, rdev);
	proto_put_u32(&c.req, uid);
	proto_put_u32(&c.req, gid);
	return call_attr(m, &c, a);
}

int cl_ns_open(struct cl_meta *m, uint64_t ino, uint32_t flags, struct casfs_attr *a)
{
	struct ns_call c;

	call_begin(&c, MSG_OPEN);
	proto_put_u64(&c.req, ino);
	proto_put_u32(&c.req, flags);
	return call_attr(m, &c, a);
}

int cl_ns_create(struct cl_meta *m, uint64_t parent, const char *name, uint32_t mode,
		 uint32_t uid, uint32_t gid, uint32_t flags, struct casfs_attr *a)
{
	struct ns_call c;

	call_begin(&c, MSG_CREATE);
	proto_put_u64(&c.req, parent);
	proto_put_str(&c.req, name);
	proto_put_u32(&c.req, mode);
	proto_put_u32(&c.req, uid);
	proto_put_u32(&c.req, gid);
	proto_put_u32(&c.req, flags);
	return call_attr(m, &c, a);
}

int cl_ns_mkdir(struct cl_meta *m, uint64_t parent, const char *name, uint32_t mode,
		uint32_t uid, uint32_t gid, struct casfs_attr *a)
{
	struct ns_call c;

	call_begin(&c, MSG_MKDIR);
	proto_put_u64(&c.req, parent);
	proto_put_str(&c.req, name);
	proto_put_u32(&c.req, mode);
	proto_put_u32(&c.req, uid);
	proto_put_u32(&c.req, gid);
	return call_attr(m, &c, a);
}

static int ns_entry_op(struct cl_meta *m, uint16_t type, uint64_t parent, const char *name)
{
	struct ns_call c;

	call_begin(&c, type);
	proto_put_u64(&c.req, parent);
	proto_put_str(&c.req, name);
	return call_plain(m, &c);
}

int cl_ns_unlink(struct cl_meta *m, uint64_t parent, const char *name)
{
	return ns_entry_op(m, MSG_UNLINK, parent, name);
}

int cl_ns_rmdir(struct cl_meta *m, uint64_t parent, const char *name)
{
	return ns_entry_op(m, MSG_RMDIR, parent, name);
}

int cl_ns_symlink(struct cl_meta *m, uint64_t parent, const char *name, const char *target,
		  uint32_t uid, uint32_t gid, struct casfs_attr *a)
{
	struct ns_call c;

	if (strlen(target) > PROTO_STR_MAX)
		return -ENAMETOOLONG;
	call_begin(&c, MSG_SYMLINK);
	proto_put_u64(&c.req, parent);
	proto_put_str(&c.req, name);
	proto_put_str(&c.req, target);
	proto_put_u32(&c.req, uid);
	proto_put_u32(&c.req, gid);
	return call_attr(m, &c, a);
}

int cl_ns_readlink(struct cl_meta *m, uint64_t ino, char *out, size_t cap)
{
	struct ns_call c;
	int rc;

	call_begin(&c, MSG_READLINK);
	proto_put_u64(&c.req, ino);
	rc = call_run(m, &c);
	if (!rc) {
		proto_get_str(&c.r, out, cap);
		if (proto_get_end(&c.r))
			rc = -EPROTO;
	}
	call_end(&c);
	return rc;
}

int cl_ns_rename(struct cl_meta *m, uint64_t parent, const char *name, uint64_t newparent,
		 const char *newname, uint32_t flags)
{
	struct ns_call c;

	call_begin(&c, MSG_RENAME);
	proto_put_u64(&c.req, parent);
	proto_put_str(&c.req, name);
	proto_put_u64(&c.req, newparent);
	proto_put_str(&c.req, newname);
	proto_put_u32(&c.req, flags);
	return call_plain(m, &c);
}

int cl_ns_link(struct cl_meta *m, uint64_t ino, uint64_t newparent, const char *newname,
	       struct casfs_attr *a)
{
	struct ns_call c;

	call_begin(&c, MSG_LINK);
	proto_put_u64(&c.req, ino);
	proto_put_u64(&c.req, newparent);
	proto_put_str(&c.req, newname);
	return call_attr(m, &c, a);
}

int cl_ns_readdir(struct cl_meta *m, uint64_t ino, uint64_t cursor, uint32_t max,
		  cl_ns_dirent_fn fn, void *ud, int *eof)
{
	char name[PROTO_NAME_MAX + 1];
	struct casfs_attr a;
	struct ns_call c;
	uint32_t count;
	uint64_t next;
	uint8_t end;
	int rc;

	*eof = 0;
	call_begin(&c, MSG_READDIR);
	proto_put_u64(&c.req, ino);
	proto_put_u64(&c.req, cursor);
	proto_put_u32(&c.req, max);
	rc = call_run(m, &c);
	if (rc)
		goto out;
	proto_get_u8(&c.r, &end);
	if (proto_get_count(&c.r, 8 + 2 + PROTO_ATTR_SIZE, &count)) {
		rc = -EPROTO;
		goto out;
	}
	*eof = end != 0;
	for (uint32_t i = 0; i < count; i++) {
		proto_get_u64(&c.r, &next);
		proto_get_name(&c.r, name);
		proto_get_attr(&c.r, &a);
		if (c.r.err) {
			rc = -EPROTO;
			goto out;
		}
		if (fn(ud, next, name, &a)) {
			*eof = 0;
			goto out;
		}
	}
out:
	call_end(&c);
	return rc;
}

int cl_ns_statfs(struct cl_meta *m, struct cl_statfs *out)
{
	struct ns_call c;
	int rc;

	call_begin(&c, MSG_STATFS);
	rc = call_run(m, &c);
	if (!rc) {
		proto_get_u64(&c.r, &out->total);
		proto_get_u64(&c.r, &out->free);
		proto_get_u64(&c.r, &out->avail);
		proto_get_u64(&c.r, &out->files);
		proto_get_u64(&c.r, &out->ffree);
		if (proto_get_end(&c.r))
			rc = -EPROTO;
	}
	call_end(&c);
	return rc;
}

int cl_ns_setxattr(struct cl_meta *m, uint64_t ino, const char *name, const void *value,
		   uint32_t size, uint32_t flags)
{
	struct ns_call c;

	call_begin(&c, MSG_SETXATTR);
	proto_put_u64(&c.req, ino);
	proto_put_str(&c.req, name);
	proto_put_bytes(&c.req, value, size);
	proto_put_u32(&c.req, flags);
	return call_plain(m, &c);
}

static int ns_get_data(struct cl_meta *m, struct ns_call *c, struct proto_wbuf *out)
{
	const uint8_t *p;
	uint32_t len;
	int rc = call_run(m, c);

	if (!rc) {
		proto_get_bytes(&c->r, &p, &len);
		if (proto_get_end(&c->r))
			rc = -EPROTO;
		else {
			proto_wbuf_reset(out);
			proto_put_raw(out, p, len);
		}
	}
	call_end(c);
	return rc;
}

int cl_ns_getxattr(struct cl_meta *m, uint64_t ino, const char *name, struct proto_wbuf *out)
{
	struct ns_call c;

	call_begin(&c, MSG_GETXATTR);
	proto_put_u64(&c.req, ino);
	proto_put_str(&c.req, name);
	return ns_get_data(m, &c, out);
}

int cl_ns_listxattr(struct cl_meta *m, uint64_t ino, struct proto_wbuf *out)
{
	struct ns_call c;

	call_begin(&c, MSG_LISTXATTR);
	proto_put_u64(&c.req, ino);
	return ns_get_data(m, &c, out);
}

int cl_ns_removexattr(struct cl_meta *m, uint64_t ino, const char *name)
{
	struct ns_call c;

	call_begin(&c, MSG_REMOVEXATTR);
	proto_put_u64(&c.req, ino);
	proto_put_str(&c.req, name);
	return call_plain(m, &c);
}

int cl_ns_fsync(struct cl_meta *m, uint64_t ino)
{
	struct ns_call c;

	call_begin(&c, MSG_FSYNC);
	proto_put_u64(&c.req, ino);
	return call_plain(m, &c);
}

int cl_ns_lock(struct cl_meta *m, uint64_t ino, uint64_t owner, uint8_t kind, uint8_t type,
	       uint64_t start, uint64_t end, uint32_t pid, int wait)
{
	struct ns_call c;

	call_begin(&c, MSG_LOCK);
	proto_put_u64(&c.req, ino);
	proto_put_u64(&c.req, owner);
	proto_put_u8(&c.req, kind);
	proto_put_u8(&c.req, type);
	proto_put_u64(&c.req, start);
	proto_put_u64(&c.req, end);
	proto_put_u32(&c.req, pid);
	proto_put_u8(&c.req, wait ? 1 : 0);
	return call_plain(m, &c);
}

int cl_ns_getlk(struct cl_meta *m, uint64_t ino, uint64_t owner, uint8_t *type,
		uint64_t *start, uint64_t *end, uint32_t *pid)
{
	struct ns_call c;
	int rc;

	call_begin(&c, MSG_GETLK);
	proto_put_u64(&c.req, ino);
	proto_put_u64(&c.req, owner);
	proto_put_u8(&c.req, *type);
	proto_put_u64(&c.req, *start);
	proto_put_u64(&c.req, *end);
	proto_put_u32(&c.req, *pid);
	rc = call_run(m, &c);
	if (!rc) {
		proto_get_u8(&c.r, type);
		proto_get_u64(&c.r, start);
		proto_get_u64(&c.r, end);
		proto_get_u32(&c.r, pid);
		if (proto_get_end(&c.r))
			rc = -EPROTO;
	}
	call_end(&c);
	return rc;
}
