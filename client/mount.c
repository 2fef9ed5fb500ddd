/* mount: FUSE low-level operations -> client library calls.
 *
 * Inode numbers are metad's, except that the mounted subdirectory (root) is
 * shown as FUSE_ROOT_ID. Nothing here speaks the protocol: namespace calls
 * go through cl_ns, data through cl_file. The kernel keeps lookup counts; we
 * keep no inode table (metad's inode numbers are stable), so forget is a
 * no-op. Permission checks are the kernel's (default_permissions).
 *
 * Threads: libfuse's worker threads call these handlers concurrently; all
 * shared state lives in the library, which does its own locking. A blocking
 * lock request holds its worker thread until granted or interrupted.
 */
#include "client/mount.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "client/cl_ns.h"
#include "fs/log.h"
#include "fs/msg.h"
#include "fs/xmalloc.h"

/* Reported as st_blksize: tools size their I/O by it, and a whole block per
 * call is what the data path likes best. */
#define MNT_BLKSIZE (1u << 20)
#define MNT_MAX_WRITE (1u << 20)
/* From this size up a WRITE shows which way writes arrive (libfuse reads
 * one of under a page into memory even when it can splice). */
#define MNT_SPLICE_MIN (64u << 10)

static struct mnt_ctx *ctx_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static uint64_t ino_in(struct mnt_ctx *c, fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? c->root : ino;
}

static fuse_ino_t ino_out(struct mnt_ctx *c, uint64_t ino)
{
	return ino == c->root ? FUSE_ROOT_ID : ino;
}

static struct cl_file *file_of(struct fuse_file_info *fi)
{
	return (struct cl_file *)(uintptr_t)fi->fh;
}

static void attr_to_stat(struct mnt_ctx *c, const struct casfs_attr *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino_out(c, a->ino);
	st->st_mode = a->mode;
	st->st_nlink = a->nlink;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_rdev = a->rdev;
	st->st_size = (off_t)a->size;
	st->st_blocks = (blkcnt_t)a->blocks;
	st->st_blksize = MNT_BLKSIZE;
	st->st_atim.tv_sec = (time_t)a->atime.sec;
	st->st_atim.tv_nsec = a->atime.nsec;
	st->st_mtim.tv_sec = (time_t)a->mtime.sec;
	st->st_mtim.tv_nsec = a->mtime.nsec;
	st->st_ctim.tv_sec = (time_t)a->ctime.sec;
	st->st_ctim.tv_nsec = a->ctime.nsec;
}

/* The kernel lets FUSE names reach 1024 bytes; casfs names stop at 255. */
static int name_bad(fuse_req_t req, const char *name)
{
	if (strlen(name) <= PROTO_NAME_MAX)
		return 0;
	fuse_reply_err(req, ENAMETOOLONG);
	return 1;
}

static void fill_entry(struct mnt_ctx *c, const struct casfs_attr *a, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino_out(c, a->ino);
	e->generation = 1;
	e->attr_timeout = c->attr_timeout;
	e->entry_timeout = c->entry_timeout;
	attr_to_stat(c, a, &e->attr);
}

/* An entry the kernel may keep for at most ttl seconds (an answer from a
 * directory listing holds only as long as the listing would). */
static void reply_entry_for(fuse_req_t req, int rc, struct casfs_attr *a, double ttl)
{
	struct mnt_ctx *c = ctx_of(req);
	struct fuse_entry_param e;

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	cl_file_overlay(c->files, a);
	cl_dattr_told(c->dattr, a);
	fill_entry(c, a, &e);
	if (e.entry_timeout > ttl)
		e.entry_timeout = ttl;
	if (e.attr_timeout > ttl)
		e.attr_timeout = ttl;
	fuse_reply_entry(req, &e);
}

/* No bound past the mount's own timeouts. */
static double ttl_any(const struct mnt_ctx *c)
{
	return c->entry_timeout > c->attr_timeout ? c->entry_timeout : c->attr_timeout;
}

static void reply_entry(fuse_req_t req, int rc, struct casfs_attr *a)
{
	reply_entry_for(req, rc, a, ttl_any(ctx_of(req)));
}

static void reply_attr(fuse_req_t req, int rc, struct casfs_attr *a)
{
	struct mnt_ctx *c = ctx_of(req);
	struct stat st;

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	cl_file_overlay(c->files, a);
	cl_dattr_told(c->dattr, a);
	attr_to_stat(c, a, &st);
	fuse_reply_attr(req, &st, c->attr_timeout);
}

static void mnt_init(void *userdata, struct fuse_conn_info *conn)
{
	struct mnt_ctx *c = userdata;

	/* use_writeback says from here on whether the kernel caches writes. */
	c->use_writeback = c->use_writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE);
	if (c->use_writeback)
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	if (conn->capable & FUSE_CAP_FLOCK_LOCKS)
		conn->want |= FUSE_CAP_FLOCK_LOCKS;
	if (conn->capable & FUSE_CAP_POSIX_LOCKS)
		conn->want |= FUSE_CAP_POSIX_LOCKS;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)
		conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
	/* The kernel clears setuid bits on write itself (through SETATTR),
	 * so metad need not know about writes. */
	conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
	conn->max_write = MNT_MAX_WRITE;
	conn->max_readahead = MNT_MAX_WRITE;
	/* Enough queued writeback for several blocks in flight. */
	conn->max_background = 64;
	conn->congestion_threshold = 48;
}

struct list_fetch {
	struct cl_dlist *list;		/* what is filled: a listing, */
	struct cl_dnset *names;		/* or a name set */
	uint64_t cursor;
	int is_full;
};

static int list_add(void *ud, uint64_t next, const char *name, const struct casfs_attr *a)
{
	struct list_fetch *lf = ud;

	lf->cursor = next;
	lf->is_full = cl_dcache_fill(lf->list, name, a) != 0;
	return lf->is_full;
}

/* Pages through dir's entries, page names a READDIR, handing each to fn
 * with lf (a listing or a name set): 0 once all are in, -E2BIG when fn
 * found it full. */
static int dir_fetch(struct mnt_ctx *c, uint64_t dir, uint32_t page, cl_ns_dirent_fn fn,
		     struct list_fetch *lf)
{
	int rc, eof = 0;

	do {
		rc = cl_ns_readdir(c->meta, dir, lf->cursor, page, fn, lf, &eof);
	} while (!rc && !eof && !lf->is_full);
	return rc ? rc : lf->is_full ? -E2BIG : 0;
}

/* Fetches dir's listing into l: 0 once it is complete. */
static int list_fetch(struct mnt_ctx *c, uint64_t dir, struct cl_dlist *l)
{
	struct list_fetch lf = { .list = l };

	return dir_fetch(c, dir, 1024, list_add, &lf);
}

/* LOOKUP from a listing of parent (fetched here when the walk asks for it):
 * -EAGAIN when none answers. */
static int lookup_listed(struct mnt_ctx *c, uint64_t parent, const char *name,
			 struct casfs_attr *a, double *ttl)
{
	struct cl_dlist *l;
	int rc = cl_dcache_lookup(c->dcache, parent, name, a, ttl);

	if (rc != -EAGAIN)
		return rc;
	l = cl_dcache_want(c->dcache, parent);
	if (!l)
		return -EAGAIN;
	cl_dcache_fill_end(c->dcache, l, list_fetch(c, parent, l));
	return cl_dcache_lookup(c->dcache, parent, name, a, ttl);
}

static int names_add(void *ud, uint64_t next, const char *name, const struct casfs_attr *a)
{
	struct list_fetch *nf = ud;

	(void)a;
	nf->cursor = next;
	nf->is_full = cl_dnames_fill(nf->names, name) != 0;
	return nf->is_full;
}

/* After metad answered that a name is not in dir: fetches dir's names
 * when a writer seems to be at work there (cl_dnames), so that the
 * LOOKUPs before its next creates need no round trip. */
static void names_fetch(struct mnt_ctx *c, uint64_t dir)
{
	struct list_fetch nf = { .names = cl_dnames_want(c->dnames, dir) };

	if (nf.names)
		cl_dnames_fill_end(c->dnames, nf.names,
				   dir_fetch(c, dir, CL_DNAMES_PAGE, names_add, &nf));
}

static void mnt_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct mnt_ctx *c = ctx_of(req);
	struct casfs_attr a;
	double ttl;
	int rc;

	if (name_bad(req, name))
		return;
	rc = lookup_listed(c, ino_in(c, parent), name, &a, &ttl);
	if (rc == -EAGAIN)
		rc = cl_dnames_absent(c->dnames, ino_in(c, parent), name, &ttl);
	if (rc == -EAGAIN) {
		ttl = ttl_any(c);
		rc = cl_ns_lookup(c->meta, ino_in(c, parent), name, &a);
		if (rc == -ENOENT)
			names_fetch(c, ino_in(c, parent));
	}
	if (rc == -ENOENT && c->entry_timeout > 0) {
		struct fuse_entry_param e;

		/* A zero inode is a negative entry the kernel keeps for
		 * entry_timeout, like a positive one: tools probe many absent
		 * names (git, make, compilers' include paths). A create on
		 * this mount replaces it at once; another mount's create is
		 * seen once it expires, as for every other name change. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = ttl < c->entry_timeout ? ttl : c->entry_timeout;
		fuse_reply_entry(req, &e);
		return;
	}
	reply_entry_for(req, rc, &a, ttl);
}

static void mnt_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	(void)ino;
	(void)nlookup;
	fuse_reply_none(req);
}

static void mnt_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	(void)count;
	(void)forgets;
	fuse_reply_none(req);
}

static void mnt_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mnt_ctx *c = ctx_of(req);
	struct casfs_attr a;

	double age;

	(void)fi;
	if (!cl_dattr_take(c->dattr, ino_in(c, ino), c->attr_timeout, &a, &age)) {
		struct stat st;

		/* Fetched behind this mount's own change: as current as a
		 * GETATTR now, give or take other mounts' changes, which the
		 * timeout (shortened by its age) bounds as usual. */
		cl_dattr_told(c->dattr, &a);
		attr_to_stat(c, &a, &st);
		fuse_reply_attr(req, &st, c->attr_timeout - age);
		return;
	}
	/* Asked again only because a read dropped atime (metad does not
	 * track it): the OPEN's answer is still the file's state. */
	if (!cl_dattr_open_attr(c->dattr, ino_in(c, ino), c->attr_timeout, &a, &age) &&
	    cl_file_is_clean(c->files, &a)) {
		struct stat st;

		attr_to_stat(c, &a, &st);
		fuse_reply_attr(req, &st, c->attr_timeout - age);
		return;
	}
	reply_attr(req, cl_ns_getattr(c->meta, ino_in(c, ino), &a), &a);
}

static void mnt_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			struct fuse_file_info *fi)
{
	struct mnt_ctx *c = ctx_of(req);
	struct casfs_time at = { 0 }, mt = { 0 };
	struct casfs_attr a;
	uint32_t valid = 0;

	(void)fi;
	if (to_set & FUSE_SET_ATTR_MODE)
		valid |= MSG_SETATTR_MODE;
	if (to_set & FUSE_SET_ATTR_UID)
		valid |= MSG_SETATTR_UID;
	if (to_set & FUSE_SET_ATTR_GID)
		valid |= MSG_SETATTR_GID;
	if (to_set & FUSE_SET_ATTR_SIZE)
		valid |= MSG_SETATTR_SIZE;
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		valid |= MSG_SETATTR_ATIME_NOW;
	else if (to_set & FUSE_SET_ATTR_ATIME)
		valid |= MSG_SETATTR_ATIME;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		valid |= MSG_SETATTR_MTIME_NOW;
	else if (to_set & FUSE_SET_ATTR_MTIME)
		valid |= MSG_SETATTR_MTIME;
	at.sec = (uint64_t)attr->st_atim.tv_sec;
	at.nsec = (uint32_t)attr->st_atim.tv_nsec;
	mt.sec = (uint64_t)attr->st_mtim.tv_sec;
	mt.nsec = (uint32_t)attr->st_mtim.tv_nsec;
	cl_dattr_forget(c->dattr, ino_in(c, ino));
	cl_dattr_changed(c->dattr);
	if (!valid) {
		/* ctime only: metad updates it on any change; just answer. */
		reply_attr(req, cl_ns_getattr(c->meta, ino_in(c, ino), &a), &a);
		return;
	}
	reply_attr(req,
		   cl_file_setattr(c->files, ino_in(c, ino), valid, attr->st_mode & 07777,
				   attr->st_uid, attr->st_gid, (uint64_t)attr->st_size, &at, &mt,
				   &a),
		   &a);
}

static void mnt_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct mnt_ctx *c = ctx_of(req);
	char *buf = xmalloc(PROTO_STR_MAX + 1);
	int rc = cl_ns_readlink(c->meta, ino_in(c, ino), buf, PROTO_STR_MAX + 1);

	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_readlink(req, buf);
	free(buf);
	buf = NULL;
}

/* ---- adding names: cl_dnames_add goes before each request; a create
 * that meets a name after all ---- */

/* An add refused with -EEXIST followed a LOOKUP answered "absent" from
 * something stale (a name set or the kernel's negative entry): the
 * directory's set is not to be trusted any more. */
static void names_added(struct mnt_ctx *c, uint64_t dir, int rc)
{
	if (rc == -EEXIST)
		cl_dnames_drop(c->dnames, dir);
}

static int in_groups(fuse_req_t req, uint32_t gid)
{
	gid_t groups[256];
	int n = fuse_req_getgroups(req, 256, groups);

	for (int i = 0; i < n && i < 256; i++)
		if (groups[i] == gid)
			return 1;
	return 0;
}

/* open(2)'s permission check of an existing file, which the kernel skips
 * for a file it believes it has just created. */
static int may_open_existing(fuse_req_t req, const struct casfs_attr *a, int flags)
{
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	uint32_t want = 0, bits;

	if ((flags & O_ACCMODE) != O_WRONLY)
		want |= 4;
	if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC))
		want |= 2;
	if (fc->uid == 0)
		return 0;
	if (fc->uid == a->uid)
		bits = a->mode >> 6;
	else if (fc->gid == a->gid || in_groups(req, a->gid))
		bits = a->mode >> 3;
	else
		bits = a->mode;
	return (bits & want) == want ? 0 : -EACCES;
}

/* CREATE without O_EXCL of a name that exists after all (another mount
 * created it after this one's answer that it was absent): open it, as
 * open(2) would have. */
static int create_existing(fuse_req_t req, uint64_t parent, const char *name,
			   struct fuse_file_info *fi, struct casfs_attr *a, struct cl_file **f)
{
	struct mnt_ctx *c = ctx_of(req);
	int rc = cl_ns_lookup(c->meta, parent, name, a);

	if (rc)
		return rc == -ENOENT ? -EEXIST : rc;
	if (S_ISDIR(a->mode))
		return -EISDIR;
	if (!S_ISREG(a->mode))
		return -EEXIST;
	rc = may_open_existing(req, a, fi->flags);
	if (rc)
		return rc;
	rc = cl_file_open(c->files, a->ino, (uint32_t)fi->flags & ~(uint32_t)(O_CREAT | O_EXCL), a,
			  f);
	if (!rc)
		cl_file_overlay(c->files, a);
	return rc;
}

static void mnt_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      dev_t rdev)
{
	struct mnt_ctx *c = ctx_of(req);
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	struct casfs_attr a;
	int rc;

	if (name_bad(req, name))
		return;
	cl_dnames_add(c->dnames, ino_in(c, parent), name);
	cl_dattr_begin(c->dattr, ino_in(c, parent));
	rc = cl_ns_mknod(c->meta, ino_in(c, parent), name, mode, (uint32_t)rdev, fc->uid, fc->gid,
			 &a);
	cl_dattr_end();
	names_added(c, ino_in(c, parent), rc);
	reply_entry(req, rc, &a);
}

static void mnt_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct mnt_ctx *c = ctx_of(req);
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	struct casfs_attr a;
	double sent = cl_dnames_now();
	int rc;

	if (name_bad(req, name))
		return;
	cl_dnames_add(c->dnames, ino_in(c, parent), name);
	cl_dattr_begin(c->dattr, ino_in(c, parent));
	rc = cl_ns_mkdir(c->meta, ino_in(c, parent), name, S_IFDIR | (mode & 07777), fc->uid,
			 fc->gid, &a);
	cl_dattr_end();
	names_added(c, ino_in(c, parent), rc);
	/* Before the reply: nobody can add to the new directory yet. */
	if (!rc)
		cl_dnames_made(c->dnames, a.ino, sent);
	reply_entry(req, rc, &a);
}

static void mnt_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct mnt_ctx *c = ctx_of(req);
	int rc;

	if (name_bad(req, name))
		return;
	cl_dattr_changed(c->dattr);
	cl_dattr_begin(c->dattr, ino_in(c, parent));
	rc = cl_ns_unlink(c->meta, ino_in(c, parent), name);
	cl_dattr_end();
	if (!rc)
		cl_dnames_remove(c->dnames, ino_in(c, parent), name);
	fuse_reply_err(req, -rc);
}

static void mnt_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct mnt_ctx *c = ctx_of(req);
	int rc;

	if (name_bad(req, name))
		return;
	cl_dattr_changed(c->dattr);
	cl_dattr_begin(c->dattr, ino_in(c, parent));
	rc = cl_ns_rmdir(c->meta, ino_in(c, parent), name);
	cl_dattr_end();
	if (!rc)
		cl_dnames_remove(c->dnames, ino_in(c, parent), name);
	fuse_reply_err(req, -rc);
}

static void mnt_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct mnt_ctx *c = ctx_of(req);
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	struct casfs_attr a;
	int rc;

	if (name_bad(req, name))
		return;
	cl_dnames_add(c->dnames, ino_in(c, parent), name);
	cl_dattr_begin(c->dattr, ino_in(c, parent));
	rc = cl_ns_symlink(c->meta, ino_in(c, parent), name, link, fc->uid, fc->gid, &a);
	cl_dattr_end();
	names_added(c, ino_in(c, parent), rc);
	reply_entry(req, rc, &a);
}

static void mnt_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		       const char *newname, unsigned int flags)
{
	struct mnt_ctx *c = ctx_of(req);
	int rc;

	if (name_bad(req, name) || name_bad(req, newname))
		return;
	if (flags & ~(unsigned int)(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	/* One follow-up per call: the source directory; a second target
	 * directory is simply asked again. */
	cl_dattr_changed(c->dattr);
	cl_dnames_add(c->dnames, ino_in(c, newparent), newname);
	cl_dattr_begin(c->dattr, ino_in(c, parent));
	rc = cl_ns_rename(c->meta, ino_in(c, parent), name, ino_in(c, newparent), newname, flags);
	cl_dattr_end();
	names_added(c, ino_in(c, newparent), rc);
	if (!rc && !(flags & RENAME_EXCHANGE))
		cl_dnames_remove(c->dnames, ino_in(c, parent), name);
	if (newparent != parent)
		cl_dattr_forget(c->dattr, ino_in(c, newparent));
	fuse_reply_err(req, -rc);
}

static void mnt_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct mnt_ctx *c = ctx_of(req);
	struct casfs_attr a;
	int rc;

	if (name_bad(req, newname))
		return;
	cl_dattr_changed(c->dattr);
	cl_dnames_add(c->dnames, ino_in(c, newparent), newname);
	cl_dattr_begin(c->dattr, ino_in(c, newparent));
	rc = cl_ns_link(c->meta, ino_in(c, ino), ino_in(c, newparent), newname, &a);
	cl_dattr_end();
	names_added(c, ino_in(c, newparent), rc);
	reply_entry(req, rc, &a);
}

static void open_flags(struct mnt_ctx *c, struct fuse_file_info *fi)
{
	fi->direct_io = c->is_direct;
	/* close-to-open: the page cache is dropped at every open, so data
	 * another client committed is seen. */
	fi->keep_cache = 0;
}

static void mnt_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mnt_ctx *c = ctx_of(req);
	struct casfs_attr a;
	struct cl_file *f;
	int rc;

	rc = cl_file_open(c->files, ino_in(c, ino), (uint32_t)fi->flags, &a, &f);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)f;
	open_flags(c, fi);
	cl_file_overlay(c->files, &a);
	/* close-to-open: the kernel's attributes may predate another
	 * client's close; drop them so the next access asks again, unless
	 * they are what metad just answered. */
	if (c->se && c->attr_timeout > 0 && !cl_dattr_is_told(c->dattr, &a))
		fuse_lowlevel_notify_inval_inode(c->se, ino, -1, 0);
	cl_dattr_opened(c->dattr, &a);
	if (fuse_reply_open(req, fi) == -ENOENT)
		cl_file_release(f);	/* interrupted: the kernel forgot it */
}

static void mnt_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		       struct fuse_file_info *fi)
{
	struct mnt_ctx *c = ctx_of(req);
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	struct fuse_entry_param e;
	struct casfs_attr a;
	struct cl_file *f;
	int rc;

	if (name_bad(req, name))
		return;
	cl_dnames_add(c->dnames, ino_in(c, parent), name);
	cl_dattr_begin(c->dattr, ino_in(c, parent));
	rc = cl_file_create(c->files, ino_in(c, parent), name, S_IFREG | (mode & 07777), fc->uid,
			    fc->gid, (uint32_t)fi->flags, &a, &f);
	cl_dattr_end();
	names_added(c, ino_in(c, parent), rc);
	if (rc == -EEXIST && !(fi->flags & O_EXCL))
		rc = create_existing(req, ino_in(c, parent), name, fi, &a, &f);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)f;
	open_flags(c, fi);
	cl_dattr_told(c->dattr, &a);
	fill_entry(c, &a, &e);
	if (fuse_reply_create(req, &e, fi) == -ENOENT)
		cl_file_release(f);
}

static void mnt_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct mnt_ctx *c = ctx_of(req);
	struct cl_file *f = file_of(fi);
	const void *p;
	uint8_t *buf;
	void *pin;
	size_t got;
	int rc;

	(void)ino;
	/* Sequential reads are served from the block cache (read ahead):
	 * replying from it saves copying every byte once more. */
	if (!cl_file_read_pinned(f, (uint64_t)off, size, &p, &got, &pin)) {
		fuse_reply_buf(req, p, got);	/* after this, f may be gone */
		cl_file_read_done(c->files, pin);
		return;
	}
	buf = xmalloc(size ? size : 1);
	rc = cl_file_read(f, (uint64_t)off, size, buf, &got);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, (const char *)buf, got);
	free(buf);
	buf = NULL;
}

/* Copies a WRITE's next n bytes out of its buffer vector, which advances. */
static int mnt_fill(void *arg, void *dst, size_t n)
{
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(n);
	ssize_t got;

	out.buf[0].mem = dst;
	got = fuse_buf_copy(&out, arg, 0);
	if (got < 0)
		return (int)got;
	return (size_t)got == n ? 0 : -EIO;
}

/* Says once which way large writes arrive. libfuse splices only with a
 * pipe of max_write + 4 KiB, past the default fs.pipe-max-size (1 MiB)
 * unless the mount has CAP_SYS_RESOURCE (root on most hosts). */
static void tell_write_path(struct mnt_ctx *c, const struct fuse_bufvec *in, size_t size)
{
	/* A load first: every large WRITE passes here, and an exchange would
	 * bounce the flag's cache line between the FUSE threads each time. */
	if (size < MNT_SPLICE_MIN || __atomic_load_n(&c->has_told_write_path, __ATOMIC_RELAXED) ||
	    __atomic_exchange_n(&c->has_told_write_path, 1, __ATOMIC_RELAXED))
		return;
	if (in->buf[in->idx].flags & FUSE_BUF_IS_FD)
		log_info("writes arrive spliced from the kernel (copied once)");
	else
		log_info("writes arrive copied (libfuse has no pipe of %u bytes: raise "
			 "fs.pipe-max-size or give the mount CAP_SYS_RESOURCE)",
			 MNT_MAX_WRITE + 4096);
}

/* write_buf rather than write: libfuse then splices a large WRITE from
 * /dev/fuse into a pipe (the kernel passes references to the page-cache
 * pages, no copy) and its bytes are copied once, straight into the block
 * buffers. With write they were read() into libfuse's buffer and copied
 * again (a 512 MiB write + fsync at goal 1: 507-582 -> 572-743 MiB/s). */
static void mnt_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in, off_t off,
			  struct fuse_file_info *fi)
{
	struct cl_src src = { mnt_fill, in };
	size_t size = fuse_buf_size(in);
	int rc;

	(void)ino;
	tell_write_path(ctx_of(req), in, size);
	rc = cl_file_write_src(file_of(fi), (uint64_t)off, size, &src);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_write(req, size);
}

static void mnt_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mnt_ctx *c = ctx_of(req);
	int rc;

	rc = cl_file_flush(file_of(fi));
	/* POSIX locks of this owner end at its close. */
	if (cl_file_has_locks(file_of(fi)))
		cl_ns_lock(c->meta, ino_in(c, ino), fi->lock_owner, MSG_LOCK_POSIX,
			   MSG_LOCK_UNLOCK, 0, UINT64_MAX, 0, 0);
	fuse_reply_err(req, -rc);
}

static void mnt_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mnt_ctx *c = ctx_of(req);

	if (fi->flock_release)
		cl_ns_lock(c->meta, ino_in(c, ino), fi->lock_owner, MSG_LOCK_FLOCK,
			   MSG_LOCK_UNLOCK, 0, UINT64_MAX, 0, 0);
	cl_file_release(file_of(fi));
	fuse_reply_err(req, 0);
}

static void mnt_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	fuse_reply_err(req, -cl_file_fsync(file_of(fi)));
}

static void mnt_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct mnt_ctx *c = ctx_of(req);

	(void)datasync;
	(void)fi;
	fuse_reply_err(req, -cl_ns_fsync(c->meta, ino_in(c, ino)));
}

struct dir_fill {
	fuse_req_t req;
	struct mnt_ctx *c;
	char *buf;
	size_t size, pos;
	int is_plus;
};

static int dir_add(struct dir_fill *d, const char *name, const struct casfs_attr *a,
		   fuse_ino_t ino, mode_t mode, off_t next)
{
	size_t n;

	if (d->is_plus) {
		struct fuse_entry_param e;

		if (a) {
			cl_dattr_told(d->c->dattr, a);
			fill_entry(d->c, a, &e);
		} else {
			memset(&e, 0, sizeof(e));
			e.attr.st_ino = ino;
			e.attr.st_mode = mode;
		}
		n = fuse_add_direntry_plus(d->req, d->buf + d->pos, d->size - d->pos, name, &e,
					   next);
	} else {
		struct stat st;

		memset(&st, 0, sizeof(st));
		st.st_ino = a ? ino_out(d->c, a->ino) : ino;
		st.st_mode = a ? a->mode : mode;
		n = fuse_add_direntry(d->req, d->buf + d->pos, d->size - d->pos, name, &st,
				      next);
	}
	if (n > d->size - d->pos)
		return 1;
	d->pos += n;
	return 0;
}

/* Offsets: 1 after ".", 2 after "..", cursor + 2 after a metad entry. */
static int dir_entry(void *ud, uint64_t next, const char *name, const struct casfs_attr *a)
{
	return dir_add(ud, name, a, 0, 0, (off_t)(next + 2));
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int is_plus)
{
	struct dir_fill d = { .req = req, .c = ctx_of(req), .size = size, .is_plus = is_plus };
	uint64_t cursor;
	int rc = 0, eof = 0;

	d.buf = xmalloc(size ? size : 1);
	if (off == 0 && dir_add(&d, ".", NULL, ino, S_IFDIR, 1))
		goto reply;
	if (off <= 1 && dir_add(&d, "..", NULL, FUSE_ROOT_ID, S_IFDIR, 2))
		goto reply;
	cursor = off >= 2 ? (uint64_t)off - 2 : 0;
	/* Entries are at least ~32 bytes in the reply; ask for about what fits. */
	rc = cl_ns_readdir(d.c->meta, ino_in(d.c, ino), cursor, (uint32_t)(size / 32 + 1),
			   dir_entry, &d, &eof);
reply:
	if (rc && d.pos == 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, d.buf, d.pos);
	free(d.buf);
	d.buf = NULL;
}

static void mnt_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, 0);
}

static void mnt_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			    struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, 1);
}

static void mnt_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct mnt_ctx *c = ctx_of(req);
	struct cl_statfs s;
	struct statvfs st;
	int rc;

	(void)ino;
	rc = cl_ns_statfs(c->meta, &s);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	memset(&st, 0, sizeof(st));
	st.f_bsize = MNT_BLKSIZE;
	st.f_frsize = 4096;
	st.f_blocks = s.total / 4096;
	st.f_bfree = s.free / 4096;
	st.f_bavail = s.avail / 4096;
	st.f_files = s.files;
	st.f_ffree = s.ffree;
	st.f_favail = s.ffree;
	st.f_namemax = PROTO_NAME_MAX;
	fuse_reply_statfs(req, &st);
}

/* POSIX ACLs are not supported: stored as plain xattrs they would not
 * change the mode, and cp -a sets modes through them. Refusing them makes
 * tools fall back to chmod. */
static int is_acl_name(const char *name)
{
	return !strncmp(name, "system.posix_acl_", 17);
}

static void mnt_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			 size_t size, int flags)
{
	struct mnt_ctx *c = ctx_of(req);

	if (is_acl_name(name)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (strlen(name) > PROTO_NAME_MAX) {
		fuse_reply_err(req, ERANGE);
		return;
	}
	if (size > 65536) {
		fuse_reply_err(req, E2BIG);
		return;
	}
	cl_dattr_forget(c->dattr, ino_in(c, ino));
	cl_dattr_changed(c->dattr);
	fuse_reply_err(req, -cl_ns_setxattr(c->meta, ino_in(c, ino), name, value, (uint32_t)size,
					    (uint32_t)flags & (XATTR_CREATE | XATTR_REPLACE)));
}

static void reply_xattr_data(fuse_req_t req, int rc, struct proto_wbuf *v, size_t size)
{
	if (rc)
		fuse_reply_err(req, -rc);
	else if (size == 0)
		fuse_reply_xattr(req, v->len);
	else if (v->len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, (const char *)v->data, v->len);
}

static void mnt_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct mnt_ctx *c = ctx_of(req);
	struct proto_wbuf v;

	/* The kernel asks for security.capability before every write; file
	 * capabilities are not supported, so answer without a round trip. */
	if (!strcmp(name, "security.capability")) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	if (is_acl_name(name)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (strlen(name) > PROTO_NAME_MAX) {
		fuse_reply_err(req, ERANGE);
		return;
	}
	proto_wbuf_init(&v);
	reply_xattr_data(req, cl_ns_getxattr(c->meta, ino_in(c, ino), name, &v), &v, size);
	proto_wbuf_free(&v);
}

static void mnt_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct mnt_ctx *c = ctx_of(req);
	struct proto_wbuf v;

	proto_wbuf_init(&v);
	reply_xattr_data(req, cl_ns_listxattr(c->meta, ino_in(c, ino), &v), &v, size);
	proto_wbuf_free(&v);
}

static void mnt_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct mnt_ctx *c = ctx_of(req);

	if (strlen(name) > PROTO_NAME_MAX) {
		fuse_reply_err(req, ERANGE);
		return;
	}
	cl_dattr_forget(c->dattr, ino_in(c, ino));
	cl_dattr_changed(c->dattr);
	fuse_reply_err(req, -cl_ns_removexattr(c->meta, ino_in(c, ino), name));
}

static uint8_t lock_type(short t)
{
	return t == F_RDLCK ? MSG_LOCK_READ : t == F_WRLCK ? MSG_LOCK_WRITE : MSG_LOCK_UNLOCK;
}

static void lock_range(const struct flock *l, uint64_t *start, uint64_t *end)
{
	*start = (uint64_t)l->l_start;
	*end = l->l_len == 0 ? UINT64_MAX : (uint64_t)(l->l_start + l->l_len - 1);
}

static void mnt_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		      struct flock *lock)
{
	struct mnt_ctx *c = ctx_of(req);
	uint64_t start, end;
	uint8_t type = lock_type(lock->l_type);
	uint32_t pid = (uint32_t)lock->l_pid;
	int rc;

	lock_range(lock, &start, &end);
	rc = cl_ns_getlk(c->meta, ino_in(c, ino), fi->lock_owner, &type, &start, &end, &pid);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (type == MSG_LOCK_UNLOCK) {
		lock->l_type = F_UNLCK;
	} else {
		lock->l_type = type == MSG_LOCK_READ ? F_RDLCK : F_WRLCK;
		lock->l_start = (off_t)start;
		lock->l_len = end == UINT64_MAX ? 0 : (off_t)(end - start + 1);
		lock->l_pid = (pid_t)pid;
	}
	fuse_reply_lock(req, lock);
}

/* What an interrupted blocking lock needs to cancel itself. */
struct lock_wait {
	struct mnt_ctx *c;
	uint64_t ino, owner, start, end;
	uint8_t kind;
};

static void lock_interrupt(fuse_req_t req, void *data)
{
	struct lock_wait *w = data;

	(void)req;
	/* metad answers the pending LOCK with -EINTR. */
	cl_ns_lock(w->c->meta, w->ino, w->owner, w->kind, MSG_LOCK_UNLOCK, w->start, w->end, 0, 0);
}

static void do_lock(fuse_req_t req, uint64_t ino, uint64_t owner, uint8_t kind, uint8_t type,
		    uint64_t start, uint64_t end, uint32_t pid, int wait)
{
	struct mnt_ctx *c = ctx_of(req);
	struct lock_wait w = { c, ino, owner, start, end, kind };
	int rc;

	if (wait && type != MSG_LOCK_UNLOCK)
		fuse_req_interrupt_func(req, lock_interrupt, &w);
	rc = cl_ns_lock(c->meta, ino, owner, kind, type, start, end, pid, wait);
	if (wait && type != MSG_LOCK_UNLOCK)
		fuse_req_interrupt_func(req, NULL, NULL);
	fuse_reply_err(req, -rc);
}

static void mnt_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		      struct flock *lock, int sleep)
{
	struct mnt_ctx *c = ctx_of(req);
	uint64_t start, end;

	lock_range(lock, &start, &end);
	cl_file_note_locks(file_of(fi));
	do_lock(req, ino_in(c, ino), fi->lock_owner, MSG_LOCK_POSIX, lock_type(lock->l_type), start,
		end, (uint32_t)lock->l_pid, sleep);
}

static void mnt_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op)
{
	struct mnt_ctx *c = ctx_of(req);
	uint8_t type = (op & LOCK_UN) ? MSG_LOCK_UNLOCK
		       : (op & LOCK_EX) ? MSG_LOCK_WRITE : MSG_LOCK_READ;

	do_lock(req, ino_in(c, ino), fi->lock_owner, MSG_LOCK_FLOCK, type, 0, UINT64_MAX, 0,
		!(op & LOCK_NB));
}

static void mnt_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			  struct fuse_file_info *fi)
{
	(void)ino;
	if (off < 0 || len <= 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	fuse_reply_err(req, -cl_file_fallocate(file_of(fi), mode, (uint64_t)off, (uint64_t)len));
}

static void mnt_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		      struct fuse_file_info *fi)
{
	uint64_t out;
	int rc;

	(void)ino;
	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	/* With the kernel's writeback cache, written pages and the size they
	 * grew to may still be only in the kernel, which sends LSEEK without
	 * flushing them: ENOSYS makes it answer from its own size, all data. */
	if (ctx_of(req)->use_writeback) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	rc = cl_file_seek(file_of(fi), (uint64_t)off, whence, &out);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_lseek(req, (off_t)out);
}

static void mnt_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
				struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
				struct fuse_file_info *fi_out, size_t len, int flags)
{
	uint64_t copied;
	int rc;

	(void)ino_in;
	(void)ino_out;
	if (flags) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	rc = cl_file_copy_range(file_of(fi_in), (uint64_t)off_in, file_of(fi_out),
				(uint64_t)off_out, len, &copied);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_write(req, copied);
}

/* ---- changes this mount makes, bracketed so no directory listing
 * fetched before or during one answers after it (cl_dcache) ---- */

static struct cl_dcache *chg_begin(fuse_req_t req)
{
	struct cl_dcache *d = ctx_of(req)->dcache;

	cl_dcache_change_begin(d);
	return d;
}

/* For calls that change something only sometimes (a truncating open, a
 * writable handle's flush): NULL, for chg_end_if, when this one does not. */
static struct cl_dcache *chg_begin_if(fuse_req_t req, int is_change)
{
	return is_change ? chg_begin(req) : NULL;
}

static void chg_end_if(struct cl_dcache *d)
{
	if (d)
		cl_dcache_change_end(d);
}

static void chg_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			struct fuse_file_info *fi)
{
	struct cl_dcache *d = chg_begin(req);

	mnt_setattr(req, ino, attr, to_set, fi);
	cl_dcache_change_end(d);
}

static void chg_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      dev_t rdev)
{
	struct cl_dcache *d = chg_begin(req);

	mnt_mknod(req, parent, name, mode, rdev);
	cl_dcache_change_end(d);
}

static void chg_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct cl_dcache *d = chg_begin(req);

	mnt_mkdir(req, parent, name, mode);
	cl_dcache_change_end(d);
}

static void chg_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct cl_dcache *d = chg_begin(req);

	mnt_unlink(req, parent, name);
	cl_dcache_change_end(d);
}

static void chg_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct cl_dcache *d = chg_begin(req);

	mnt_rmdir(req, parent, name);
	cl_dcache_change_end(d);
}

static void chg_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct cl_dcache *d = chg_begin(req);

	mnt_symlink(req, link, parent, name);
	cl_dcache_change_end(d);
}

static void chg_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		       const char *newname, unsigned int flags)
{
	struct cl_dcache *d = chg_begin(req);

	mnt_rename(req, parent, name, newparent, newname, flags);
	cl_dcache_change_end(d);
}

static void chg_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct cl_dcache *d = chg_begin(req);

	mnt_link(req, ino, newparent, newname);
	cl_dcache_change_end(d);
}

static void chg_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		       struct fuse_file_info *fi)
{
	struct cl_dcache *d = chg_begin(req);

	mnt_create(req, parent, name, mode, fi);
	cl_dcache_change_end(d);
}

/* Opens, flushes and releases change something only when they truncate or
 * may commit writes; a reader's must not drop every listing. */
static void chg_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cl_dcache *d = chg_begin_if(req, (fi->flags & O_TRUNC) != 0);

	mnt_open(req, ino, fi);
	chg_end_if(d);
}

static int may_write(const struct fuse_file_info *fi)
{
	return (fi->flags & O_ACCMODE) != O_RDONLY;
}

static void chg_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cl_dcache *d = chg_begin_if(req, may_write(fi));

	mnt_flush(req, ino, fi);
	chg_end_if(d);
}

static void chg_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cl_dcache *d = chg_begin_if(req, may_write(fi));

	mnt_release(req, ino, fi);
	chg_end_if(d);
}

static void chg_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct cl_dcache *d = chg_begin(req);

	mnt_fsync(req, ino, datasync, fi);
	cl_dcache_change_end(d);
}

static void chg_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			 size_t size, int flags)
{
	struct cl_dcache *d = chg_begin(req);

	mnt_setxattr(req, ino, name, value, size, flags);
	cl_dcache_change_end(d);
}

static void chg_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct cl_dcache *d = chg_begin(req);

	mnt_removexattr(req, ino, name);
	cl_dcache_change_end(d);
}

static void chg_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			  struct fuse_file_info *fi)
{
	struct cl_dcache *d = chg_begin(req);

	mnt_fallocate(req, ino, mode, off, len, fi);
	cl_dcache_change_end(d);
}

static void chg_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
				struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
				struct fuse_file_info *fi_out, size_t len, int flags)
{
	struct cl_dcache *d = chg_begin(req);

	mnt_copy_file_range(req, ino_in, off_in, fi_in, ino_out, off_out, fi_out, len, flags);
	cl_dcache_change_end(d);
}

static const struct fuse_lowlevel_ops mnt_ops_table = {
	.init = mnt_init,
	.lookup = mnt_lookup,
	.forget = mnt_forget,
	.forget_multi = mnt_forget_multi,
	.getattr = mnt_getattr,
	.setattr = chg_setattr,
	.readlink = mnt_readlink,
	.mknod = chg_mknod,
	.mkdir = chg_mkdir,
	.unlink = chg_unlink,
	.rmdir = chg_rmdir,
	.symlink = chg_symlink,
	.rename = chg_rename,
	.link = chg_link,
	.open = chg_open,
	.create = chg_create,
	.read = mnt_read,
	.write_buf = mnt_write_buf,
	.flush = chg_flush,
	.release = chg_release,
	.fsync = chg_fsync,
	.fsyncdir = mnt_fsyncdir,
	.readdir = mnt_readdir,
	.readdirplus = mnt_readdirplus,
	.statfs = mnt_statfs,
	.setxattr = chg_setxattr,
	.getxattr = mnt_getxattr,
	.listxattr = mnt_listxattr,
	.removexattr = chg_removexattr,
	.getlk = mnt_getlk,
	.setlk = mnt_setlk,
	.flock = mnt_flock,
	.fallocate = chg_fallocate,
	.lseek = mnt_lseek,
	.copy_file_range = chg_copy_file_range,
};

const struct fuse_lowlevel_ops *mnt_ops(void)
{
	return &mnt_ops_table;
}
