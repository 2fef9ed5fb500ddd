/* meta_ns: the namespace (see meta_ns.h). One hash table holds every inode
 * by number; a directory keeps its entries in a vector ordered by insertion
 * sequence (the READDIR cursor, stable while entries come and go) plus a
 * hash of live names. Operations validate everything first and change
 * state only once nothing can fail, so a failed call leaves no trace and
 * changelog replay of the successful calls is exact. Owned by the event-loop
 * thread. */
#include "metad/meta_ns.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "fs/msg.h"
#include "fs/proto.h"
#include "fs/xmalloc.h"
#include "metad/meta_ns_int.h"

static uint64_t ino_hash(const void *e)
{
	return meta_htab_mix(((const struct meta_inode *)e)->ino);
}

static int ino_match(const void *e, const void *key)
{
	return ((const struct meta_inode *)e)->ino == *(const uint64_t *)key;
}

static uint32_t name_hash(const char *name, size_t len)
{
	return (uint32_t)XXH3_64bits(name, len);
}

static uint64_t dent_hash(const void *e)
{
	return meta_htab_mix(((const struct meta_dent *)e)->hash);
}

struct name_key {
	const char *name;
	size_t len;
	uint32_t hash;
};

static int dent_match(const void *e, const void *key)
{
	const struct meta_dent *d = e;
	const struct name_key *k = key;

	return d->hash == k->hash && d->len == k->len && memcmp(d->name, k->name, k->len) == 0;
}

struct meta_inode *meta_ns_inode(const struct meta_ns *ns, uint64_t ino)
{
	return meta_htab_find(&ns->inodes, meta_htab_mix(ino), ino_match, &ino);
}

static void set_time(uint64_t *s, uint32_t *ns, const struct casfs_time *t)
{
	*s = t->sec;
	*ns = t->nsec;
}

struct meta_inode *meta_ns_inode_alloc(struct meta_ns *ns, uint64_t ino, uint32_t mode)
{
	struct meta_inode *in = xcalloc(1, sizeof(*in));

	in->ino = ino;
	in->mode = mode;
	if (S_ISDIR(mode)) {
		in->u.dir = xcalloc(1, sizeof(*in->u.dir));
		in->u.dir->next_seq = 1;
		meta_htab_init(&in->u.dir->names, dent_hash);
	}
	meta_htab_insert(&ns->inodes, in);
	if (ino >= ns->next_ino)
		ns->next_ino = ino + 1;
	return in;
}

struct meta_ns *meta_ns_new_empty(uint8_t default_goal, uint32_t default_block_size)
{
	struct meta_ns *ns = xcalloc(1, sizeof(*ns));

	meta_htab_init(&ns->inodes, ino_hash);
	meta_blk_init(&ns->blocks);
	ns->next_ino = CASFS_ROOT_INO;
	ns->default_goal = default_goal;
	ns->default_block_size = default_block_size;
	return ns;
}

struct meta_ns *meta_ns_new(uint8_t default_goal, uint32_t default_block_size,
			    const struct casfs_time *now)
{
	struct meta_ns *ns = meta_ns_new_empty(default_goal, default_block_size);
	struct meta_inode *root;

	root = meta_ns_inode_alloc(ns, CASFS_ROOT_INO, S_IFDIR | 0755);
	root->nlink = 2;
	root->goal = default_goal;
	root->aux = default_block_size;
	root->u.dir->parent = CASFS_ROOT_INO;
	set_time(&root->atime_s, &root->atime_ns, now);
	set_time(&root->mtime_s, &root->mtime_ns, now);
	set_time(&root->ctime_s, &root->ctime_ns, now);
	return ns;
}

static void map_unref_from(struct meta_ns *ns, struct meta_inode *in, uint64_t from);

static void inode_destroy(struct meta_ns *ns, struct meta_inode *in)
{
	struct meta_xattr *x, *next;

	meta_htab_remove(&ns->inodes, in);
	if (S_ISDIR(in->mode)) {
		for (uint32_t i = 0; i < in->u.dir->n; i++)
			free(in->u.dir->ents[i]);
		free(in->u.dir->ents);
		meta_htab_free(&in->u.dir->names);
		free(in->u.dir);
	} else if (S_ISREG(in->mode)) {
		if (in->u.map)
			map_unref_from(ns, in, 0);
		ns->logical_bytes -= in->size;
		free(in->u.map);
	} else {
		free(in->u.any);
	}
	for (x = in->xattrs; x; x = next) {
		next = x->next;
		free(x);
	}
	free(in);
}

void meta_ns_free(struct meta_ns *ns)
{
	if (!ns)
		return;
	for (uint32_t i = 0; i < ns->inodes.cap; i++) {
		struct meta_inode *in = ns->inodes.slots[i];

		if (!in)
			continue;
		if (S_ISDIR(in->mode)) {
			for (uint32_t k = 0; k < in->u.dir->n; k++)
				free(in->u.dir->ents[k]);
			free(in->u.dir->ents);
			meta_htab_free(&in->u.dir->names);
		}
		for (struct meta_xattr *x = in->xattrs, *next; x; x = next) {
			next = x->next;
			free(x);
		}
		free(in->u.any);
		free(in);
	}
	meta_htab_free(&ns->inodes);
	meta_blk_free(&ns->blocks);
	free(ns);
}

struct meta_blk_table *meta_ns_blocks(struct meta_ns *ns)
{
	return &ns->blocks;
}

uint64_t meta_ns_inode_count(const struct meta_ns *ns)
{
	return ns->inodes.n;
}

uint64_t meta_ns_logical_bytes(const struct meta_ns *ns)
{
	return ns->logical_bytes;
}

static void fill_attr(const struct meta_inode *in, struct casfs_attr *a)
{
	a->ino = in->ino;
	a->mode = in->mode;
	a->nlink = in->nlink;
	a->uid = in->uid;
	a->gid = in->gid;
	a->rdev = (S_ISCHR(in->mode) || S_ISBLK(in->mode)) ? in->aux : 0;
	a->size = in->size;
	if (S_ISREG(in->mode))
		a->blocks = in->u.map ? (in->u.map->bytes + 511) / 512 : 0;
	else if (S_ISDIR(in->mode))
		a->blocks = 8;
	else
		a->blocks = 0;
	a->atime.sec = in->atime_s;
	a->atime.nsec = in->atime_ns;
	a->mtime.sec = in->mtime_s;
	a->mtime.nsec = in->mtime_ns;
	a->ctime.sec = in->ctime_s;
	a->ctime.nsec = in->ctime_ns;
	a->goal = in->goal;
	a->block_size = (S_ISREG(in->mode) || S_ISDIR(in->mode)) ? in->aux : 0;
}

static void attr_out(const struct meta_inode *in, struct casfs_attr *out)
{
	if (out)
		fill_attr(in, out);
}

int meta_ns_getattr(struct meta_ns *ns, uint64_t ino, struct casfs_attr *out)
{
	struct meta_inode *in = meta_ns_inode(ns, ino);

	if (!in)
		return -ENOENT;
	attr_out(in, out);
	return 0;
}

/* ---- directories ---- */

static struct meta_dent *dir_find(const struct meta_dir *d, const char *name)
{
	struct name_key k = { name, strlen(name), 0 };

	k.hash = name_hash(name, k.len);
	return meta_htab_find(&d->names, meta_htab_mix(k.hash), dent_match, &k);
}

void meta_ns_dir_add(struct meta_dir *d, const char *name, uint64_t ino, uint64_t seq)
{
	size_t len = strlen(name);
	struct meta_dent *e = xmalloc(sizeof(*e) + len + 1);

	e->seq = seq;
	e->ino = ino;
	e->len = (uint8_t)len;
	e->hash = name_hash(name, len);
	memcpy(e->name, name, len + 1);
	if (seq >= d->next_seq)
		d->next_seq = seq + 1;
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 4;
		d->ents = xrealloc(d->ents, d->cap * sizeof(*d->ents));
	}
	d->ents[d->n++] = e;
	d->live++;
	meta_htab_insert(&d->names, e);
}

static void dir_insert(struct meta_dir *d, const char *name, uint64_t ino)
{
	meta_ns_dir_add(d, name, ino, d->next_seq);
}

/* Index of the first vector slot with seq > cursor. */
static uint32_t dir_seek(const struct meta_dir *d, uint64_t cursor)
{
	uint32_t lo = 0, hi = d->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (d->ents[mid]->seq <= cursor)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void dir_compact(struct meta_dir *d)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < d->n; i++) {
		if (d->ents[i]->ino)
			d->ents[k++] = d->ents[i];
		else
			free(d->ents[i]);
	}
	d->n = k;
	if (d->cap > 8 && d->n < d->cap / 4) {
		d->cap = d->n < 4 ? 4 : d->n * 2;
		d->ents = xrealloc(d->ents, d->cap * sizeof(*d->ents));
	}
}

static void dir_remove(struct meta_dir *d, struct meta_dent *e)
{
	meta_htab_remove(&d->names, e);
	e->ino = 0;
	d->live--;
	/* Tombstones keep cursors valid; compacting once they are half the
	 * vector bounds the waste to one pointer per live entry. */
	if (d->n - d->live > 16 && d->n - d->live > d->live)
		dir_compact(d);
}

static int get_dir(struct meta_ns *ns, uint64_t ino, struct meta_inode **out)
{
	struct meta_inode *in = meta_ns_inode(ns, ino);

	if (!in)
		return -ENOENT;
	if (!S_ISDIR(in->mode))
		return -ENOTDIR;
	*out = in;
	return 0;
}

static int is_dot(const char *name)
{
	return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

int meta_ns_lookup(struct meta_ns *ns, uint64_t parent, const char *name,
		   struct casfs_attr *out)
{
	struct meta_inode *dir, *in;
	struct meta_dent *e;
	int rc = get_dir(ns, parent, &dir);

	if (rc)
		return rc;
	if (strcmp(name, ".") == 0) {
		in = dir;
	} else if (strcmp(name, "..") == 0) {
		in = meta_ns_inode(ns, dir->u.dir->parent);
		if (!in)
			return -ENOENT;
	} else {
		e = dir_find(dir->u.dir, name);
		if (!e)
			return -ENOENT;
		in = meta_ns_inode(ns, e->ino);
		if (!in)
			return -EIO;
	}
	attr_out(in, out);
	return 0;
}

static void touch_dir(struct meta_inode *dir, const struct casfs_time *now)
{
	set_time(&dir->mtime_s, &dir->mtime_ns, now);
	set_time(&dir->ctime_s, &dir->ctime_ns, now);
}

/* Checks that a new entry may be made in parent: the parent is a live
 * directory and the name is free. */
static int check_new_entry(struct meta_ns *ns, uint64_t parent, const char *name,
			   struct meta_inode **dirp)
{
	struct meta_inode *dir;
	int rc = get_dir(ns, parent, &dir);

	if (rc)
		return rc;
	if (is_dot(name))
		return -EEXIST;
	if (dir->nlink == 0)
		return -ENOENT;
	if (strlen(name) > PROTO_NAME_MAX)
		return -ENAMETOOLONG;
	if (dir_find(dir->u.dir, name))
		return -EEXIST;
	*dirp = dir;
	return 0;
}

static struct meta_inode *new_inode(struct meta_ns *ns, struct meta_inode *dir, uint32_t mode,
				    uint32_t uid, uint32_t gid, const struct casfs_time *now)
{
	struct meta_inode *in = meta_ns_inode_alloc(ns, ns->next_ino, mode);

	in->uid = uid;
	in->gid = gid;
	if (dir->mode & S_ISGID) {
		in->gid = dir->gid;
		if (S_ISDIR(mode))
			in->mode |= S_ISGID;
	}
	in->nlink = 1;
	in->goal = dir->goal;
	set_time(&in->atime_s, &in->atime_ns, now);
	set_time(&in->mtime_s, &in->mtime_ns, now);
	set_time(&in->ctime_s, &in->ctime_ns, now);
	return in;
}

int meta_ns_mknod(struct meta_ns *ns, uint64_t parent, const char *name, uint32_t mode,
		  uint32_t rdev, uint32_t uid, uint32_t gid, const struct casfs_time *now,
		  struct casfs_attr *out)
{
	struct meta_inode *dir, *in;
	int rc;

	switch (mode & S_IFMT) {
	case 0:
		mode |= S_IFREG;
		break;
	case S_IFREG: case S_IFIFO: case S_IFSOCK: case S_IFCHR: case S_IFBLK:
		break;
	default:
		return -EINVAL;
	}
	rc = check_new_entry(ns, parent, name, &dir);
	if (rc)
		return rc;
	in = new_inode(ns, dir, mode & (S_IFMT | 07777), uid, gid, now);
	if (S_ISREG(mode))
		in->aux = dir->aux;
	else if (S_ISCHR(mode) || S_ISBLK(mode))
		in->aux = rdev;
	dir_insert(dir->u.dir, name, in->ino);
	touch_dir(dir, now);
	attr_out(in, out);
	return 0;
}

int meta_ns_mkdir(struct meta_ns *ns, uint64_t parent, const char *name, uint32_t mode,
		  uint32_t uid, uint32_t gid, const struct casfs_time *now,
		  struct casfs_attr *out)
{
	struct meta_inode *dir, *in;
	int rc = check_new_entry(ns, parent, name, &dir);

	if (rc)
		return rc;
	if (dir->nlink >= META_MAX_LINKS)
		return -EMLINK;
	in = new_inode(ns, dir, S_IFDIR | (mode & 07777), uid, gid, now);
	in->nlink = 2;
	in->aux = dir->aux;
	in->u.dir->parent = dir->ino;
	dir->nlink++;
	dir_insert(dir->u.dir, name, in->ino);
	touch_dir(dir, now);
	attr_out(in, out);
	return 0;
}

int meta_ns_symlink(struct meta_ns *ns, uint64_t parent, const char *name, const char *target,
		    uint32_t uid, uint32_t gid, const struct casfs_time *now,
		    struct casfs_attr *out)
{
	struct meta_inode *dir, *in;
	size_t len = strlen(target);
	int rc;

	if (len == 0)
		return -ENOENT;
	if (len >= PROTO_STR_MAX)
		return -ENAMETOOLONG;
	rc = check_new_entry(ns, parent, name, &dir);
	if (rc)
		return rc;
	in = new_inode(ns, dir, S_IFLNK | 0777, uid, gid, now);
	in->u.target = xstrdup(target);
	in->size = len;
	dir_insert(dir->u.dir, name, in->ino);
	touch_dir(dir, now);
	attr_out(in, out);
	return 0;
}

int meta_ns_readlink(struct meta_ns *ns, uint64_t ino, const char **target)
{
	struct meta_inode *in = meta_ns_inode(ns, ino);

	if (!in)
		return -ENOENT;
	if (!S_ISLNK(in->mode))
		return -EINVAL;
	*target = in->u.target;
	return 0;
}

/* Drops one link; the inode dies once it has neither links nor opens. */
static void drop_link(struct meta_ns *ns, struct meta_inode *in, const struct casfs_time *now)
{
	if (S_ISDIR(in->mode))
		in->nlink = 0;
	else if (in->nlink)
		in->nlink--;
	set_time(&in->ctime_s, &in->ctime_ns, now);
	if (in->nlink == 0 && in->nopen == 0)
		inode_destroy(ns, in);
}

int meta_ns_unlink(struct meta_ns *ns, uint64_t parent, const char *name,
		   const struct casfs_time *now)
{
	struct meta_inode *dir, *in;
	struct meta_dent *e;
	int rc = get_dir(ns, parent, &dir);

	if (rc)
		return rc;
	if (is_dot(name))
		return -EISDIR;
	e = dir_find(dir->u.dir, name);
	if (!e)
		return -ENOENT;
	in = meta_ns_inode(ns, e->ino);
	if (!in)
		return -EIO;
	if (S_ISDIR(in->mode))
		return -EISDIR;
	dir_remove(dir->u.dir, e);
	touch_dir(dir, now);
	drop_link(ns, in, now);
	return 0;
}

int meta_ns_rmdir(struct meta_ns *ns, uint64_t parent, const char *name,
		  const struct casfs_time *now)
{
	struct meta_inode *dir, *in;
	struct meta_dent *e;
	int rc = get_dir(ns, parent, &dir);

	if (rc)
		return rc;
	if (strcmp(name, ".") == 0)
		return -EINVAL;
	if (strcmp(name, "..") == 0)
		return -ENOTEMPTY;
	e = dir_find(dir->u.dir, name);
	if (!e)
		return -ENOENT;
	in = meta_ns_inode(ns, e->ino);
	if (!in)
		return -EIO;
	if (!S_ISDIR(in->mode))
		return -ENOTDIR;
	if (in->u.dir->live)
		return -ENOTEMPTY;
	dir_remove(dir->u.dir, e);
	dir->nlink--;
	touch_dir(dir, now);
	drop_link(ns, in, now);
	return 0;
}

/* 1 if directory a is d or one of d's ancestors. */
static int is_ancestor(struct meta_ns *ns, uint64_t a, uint64_t d)
{
	for (;;) {
		struct meta_inode *in;

		if (d == a)
			return 1;
		if (d == CASFS_ROOT_INO)
			return 0;
		in = meta_ns_inode(ns, d);
		if (!in || !S_ISDIR(in->mode))
			return 0;
		d = in->u.dir->parent;
	}
}

int meta_ns_rename(struct meta_ns *ns, uint64_t parent, const char *name, uint64_t newparent,
		   const char *newname, uint32_t flags, const struct casfs_time *now)
{
	struct meta_inode *sdir, *ddir, *src, *dst = NULL;
	struct meta_dent *se, *de;
	uint64_t src_ino;
	int rc;

	if (flags & ~(uint32_t)(MSG_RENAME_NOREPLACE | MSG_RENAME_EXCHANGE))
		return -EINVAL;
	if ((flags & MSG_RENAME_NOREPLACE) && (flags & MSG_RENAME_EXCHANGE))
		return -EINVAL;
	rc = get_dir(ns, parent, &sdir);
	if (rc)
		return rc;
	rc = get_dir(ns, newparent, &ddir);
	if (rc)
		return rc;
	if (is_dot(name) || is_dot(newname))
		return -EBUSY;
	se = dir_find(sdir->u.dir, name);
	if (!se)
		return -ENOENT;
	src = meta_ns_inode(ns, se->ino);
	if (!src)
		return -EIO;
	if (ddir->nlink == 0)
		return -ENOENT;
	de = dir_find(ddir->u.dir, newname);
	if (de) {
		dst = meta_ns_inode(ns, de->ino);
		if (!dst)
			return -EIO;
	}
	if (flags & MSG_RENAME_NOREPLACE && de)
		return -EEXIST;
	if (flags & MSG_RENAME_EXCHANGE) {
		if (!de)
			return -ENOENT;
		if (S_ISDIR(src->mode) && src->ino != dst->ino && is_ancestor(ns, src->ino, newparent))
			return -EINVAL;
		if (S_ISDIR(dst->mode) && src->ino != dst->ino && is_ancestor(ns, dst->ino, parent))
			return -EINVAL;
		if (src == dst)
			return 0;
		if (S_ISDIR(src->mode) != S_ISDIR(dst->mode) && sdir != ddir) {
			if (S_ISDIR(src->mode) && ddir->nlink >= META_MAX_LINKS)
				return -EMLINK;
			if (S_ISDIR(dst->mode) && sdir->nlink >= META_MAX_LINKS)
				return -EMLINK;
		}
		se->ino = dst->ino;
		de->ino = src->ino;
		if (S_ISDIR(src->mode)) {
			src->u.dir->parent = ddir->ino;
			sdir->nlink--;
			ddir->nlink++;
		}
		if (S_ISDIR(dst->mode)) {
			dst->u.dir->parent = sdir->ino;
			ddir->nlink--;
			sdir->nlink++;
		}
		set_time(&src->ctime_s, &src->ctime_ns, now);
		set_time(&dst->ctime_s, &dst->ctime_ns, now);
		touch_dir(sdir, now);
		touch_dir(ddir, now);
		return 0;
	}
	if (S_ISDIR(src->mode) && is_ancestor(ns, src->ino, newparent))
		return -EINVAL;
	if (dst) {
		if (dst == src)
			return 0;
		if (S_ISDIR(src->mode) && !S_ISDIR(dst->mode))
			return -ENOTDIR;
		if (!S_ISDIR(src->mode) && S_ISDIR(dst->mode))
			return -EISDIR;
		if (S_ISDIR(dst->mode) && dst->u.dir->live)
			return -ENOTEMPTY;
	} else if (S_ISDIR(src->mode) && sdir != ddir && ddir->nlink >= META_MAX_LINKS) {
		return -EMLINK;
	}
	/* Nothing can fail from here on. */
	src_ino = src->ino;
	dir_remove(sdir->u.dir, se);
	if (dst) {
		dir_remove(ddir->u.dir, de);
		if (S_ISDIR(dst->mode))
			ddir->nlink--;
		drop_link(ns, dst, now);
	}
	dir_insert(ddir->u.dir, newname, src_ino);
	if (S_ISDIR(src->mode)) {
		src->u.dir->parent = ddir->ino;
		sdir->nlink--;
		ddir->nlink++;
	}
	set_time(&src->ctime_s, &src->ctime_ns, now);
	touch_dir(sdir, now);
	touch_dir(ddir, now);
	return 0;
}

int meta_ns_link(struct meta_ns *ns, uint64_t ino, uint64_t newparent, const char *newname,
		 const struct casfs_time *now, struct casfs_attr *out)
{
	struct meta_inode *in = meta_ns_inode(ns, ino), *dir;
	int rc;

	if (!in)
		return -ENOENT;
	if (S_ISDIR(in->mode))
		return -EPERM;
	rc = check_new_entry(ns, newparent, newname, &dir);
	if (rc)
		return rc;
	if (in->nlink == 0)
		return -ENOENT;
	if (in->nlink >= META_MAX_LINKS)
		return -EMLINK;
	in->nlink++;
	set_time(&in->ctime_s, &in->ctime_ns, now);
	dir_insert(dir->u.dir, newname, in->ino);
	touch_dir(dir, now);
	attr_out(in, out);
	return 0;
}

int meta_ns_readdir(struct meta_ns *ns, uint64_t ino, uint64_t cursor, meta_ns_dirent_fn fn,
		    void *ud)
{
	struct meta_inode *dir;
	struct casfs_attr a;
	int rc = get_dir(ns, ino, &dir);

	if (rc)
		return rc;
	for (uint32_t i = dir_seek(dir->u.dir, cursor); i < dir->u.dir->n; i++) {
		struct meta_dent *e = dir->u.dir->ents[i];
		struct meta_inode *in;

		if (!e->ino)
			continue;
		in = meta_ns_inode(ns, e->ino);
		if (!in)
			continue;
		fill_attr(in, &a);
		if (fn(ud, e->seq, e->name, &a))
			break;
	}
	return 0;
}

/* ---- regular files ---- */

static struct meta_fmap *map_reserve(struct meta_fmap *m, uint32_t n)
{
	uint32_t cap = m ? m->cap : 0;
	int fresh = !m;

	if (cap >= n)
		return m;
	if (!cap)
		cap = 1;
	while (cap < n)
		cap = cap < (1u << 20) ? cap * 2 : cap + (1u << 20);
	m = xrealloc(m, sizeof(*m) + (size_t)cap * sizeof(struct blk_id));
	if (fresh) {
		m->bytes = 0;
		m->n = 0;
	}
	m->cap = cap;
	return m;
}

/* Drops the references of map slots [from, n) and shortens the map. */
static void map_unref_from(struct meta_ns *ns, struct meta_inode *in, uint64_t from)
{
	struct meta_fmap *m = in->u.map;

	if (!m)
		return;
	for (uint64_t i = from; i < m->n; i++) {
		struct meta_block *b;

		if (blk_id_is_null(&m->ids[i]))
			continue;
		b = meta_blk_find(&ns->blocks, &m->ids[i]);
		if (b) {
			m->bytes -= b->length;
			meta_blk_unref(&ns->blocks, b);
		}
	}
	if (from < m->n)
		m->n = (uint32_t)from;
}

void meta_ns_map_set(struct meta_ns *ns, struct meta_inode *in, uint64_t idx,
		     const struct blk_id *id, uint32_t length)
{
	struct meta_fmap *m;
	struct meta_block *nb = NULL, *ob;

	if (!blk_id_is_null(id)) {
		nb = meta_blk_get(&ns->blocks, id, length);
		meta_blk_ref(&ns->blocks, nb, in->goal);
	}
	if (!in->u.map && !nb)
		return;
	m = in->u.map = map_reserve(in->u.map, (uint32_t)idx + 1);
	while (m->n <= idx)
		memset(&m->ids[m->n++], 0, sizeof(struct blk_id));
	if (!blk_id_is_null(&m->ids[idx])) {
		ob = meta_blk_find(&ns->blocks, &m->ids[idx]);
		if (ob) {
			m->bytes -= ob->length;
			meta_blk_unref(&ns->blocks, ob);
		}
	}
	if (nb) {
		m->ids[idx] = *id;
		m->bytes += nb->length;
	} else {
		memset(&m->ids[idx], 0, sizeof(struct blk_id));
	}
}

static void map_trim(struct meta_inode *in)
{
	struct meta_fmap *m = in->u.map;

	while (m && m->n && blk_id_is_null(&m->ids[m->n - 1]))
		m->n--;
	if (m && m->n == 0) {
		free(in->u.map), in->u.map = NULL;
	}
}

static int check_size(const struct meta_inode *in, uint64_t size)
{
	if (size / in->aux + (size % in->aux != 0) > META_MAX_BLOCKS)
		return -EFBIG;
	return 0;
}

static void set_size(struct meta_ns *ns, struct meta_inode *in, uint64_t size)
{
	if (size < in->size)
		map_unref_from(ns, in, size / in->aux + (size % in->aux != 0));
	map_trim(in);
	ns->logical_bytes = ns->logical_bytes - in->size + size;
	in->size = size;
}

int meta_ns_setattr(struct meta_ns *ns, uint64_t ino, uint32_t valid, uint32_t mode,
		    uint32_t uid, uint32_t gid, uint64_t size, const struct casfs_time *atime,
		    const struct casfs_time *mtime, const struct casfs_time *now,
		    struct casfs_attr *out)
{
	struct meta_inode *in = meta_ns_inode(ns, ino);

	if (!in)
		return -ENOENT;
	if (valid & MSG_SETATTR_SIZE) {
		if (S_ISDIR(in->mode))
			return -EISDIR;
		if (!S_ISREG(in->mode))
			return -EINVAL;
		if (check_size(in, size))
			return -EFBIG;
	}
	if (valid & MSG_SETATTR_MODE)
		in->mode = (in->mode & S_IFMT) | (mode & 07777);
	if (valid & MSG_SETATTR_UID)
		in->uid = uid;
	if (valid & MSG_SETATTR_GID)
		in->gid = gid;
	if (valid & MSG_SETATTR_SIZE) {
		set_size(ns, in, size);
		set_time(&in->mtime_s, &in->mtime_ns, now);
	}
	if (valid & MSG_SETATTR_ATIME_NOW)
		set_time(&in->atime_s, &in->atime_ns, now);
	else if (valid & MSG_SETATTR_ATIME)
		set_time(&in->atime_s, &in->atime_ns, atime);
	if (valid & MSG_SETATTR_MTIME_NOW)
		set_time(&in->mtime_s, &in->mtime_ns, now);
	else if (valid & MSG_SETATTR_MTIME)
		set_time(&in->mtime_s, &in->mtime_ns, mtime);
	set_time(&in->ctime_s, &in->ctime_ns, now);
	attr_out(in, out);
	return 0;
}

int meta_ns_open(struct meta_ns *ns, uint64_t ino, uint32_t flags, const struct casfs_time *now,
		 struct casfs_attr *out)
{
	struct meta_inode *in = meta_ns_inode(ns, ino);

	if (!in)
		return -ENOENT;
	if (S_ISDIR(in->mode) && ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)))
		return -EISDIR;
	/* As a local file system: the kernel checked write access for any
	 * O_TRUNC, O_RDONLY | O_TRUNC included. */
	if ((flags & O_TRUNC) && S_ISREG(in->mode) && in->size) {
		set_size(ns, in, 0);
		set_time(&in->mtime_s, &in->mtime_ns, now);
		set_time(&in->ctime_s, &in->ctime_ns, now);
	}
	in->nopen++;
	attr_out(in, out);
	return 0;
}

void meta_ns_release(struct meta_ns *ns, uint64_t ino)
{
	struct meta_inode *in = meta_ns_inode(ns, ino);

	if (!in || !in->nopen)
		return;
	if (--in->nopen == 0 && in->nlink == 0)
		inode_destroy(ns, in);
}

static int get_file(struct meta_ns *ns, uint64_t ino, struct meta_inode **out)
{
	struct meta_inode *in = meta_ns_inode(ns, ino);

	if (!in)
		return -ENOENT;
	if (S_ISDIR(in->mode))
		return -EISDIR;
	if (!S_ISREG(in->mode))
		return -EINVAL;
	*out = in;
	return 0;
}

int meta_ns_commit(struct meta_ns *ns, uint64_t ino, uint64_t size,
		   const struct casfs_time *mtime, uint32_t flags,
		   const struct meta_commit_ent *ents, uint32_t n, const struct casfs_time *now,
		   struct casfs_attr *out)
{
	struct meta_inode *in;
	uint64_t newsize;
	int rc = get_file(ns, ino, &in);

	if (rc)
		return rc;
	if (flags & ~(uint32_t)MSG_COMMIT_SIZE_EXACT)
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++) {
		if (ents[i].index >= META_MAX_BLOCKS)
			return -EFBIG;
		if (!blk_id_is_null(&ents[i].id) && ents[i].length > in->aux)
			return -EINVAL;
	}
	newsize = (flags & MSG_COMMIT_SIZE_EXACT) || size > in->size ? size : in->size;
	if (check_size(in, newsize))
		return -EFBIG;
	for (uint32_t i = 0; i < n; i++)
		meta_ns_map_set(ns, in, ents[i].index, &ents[i].id, ents[i].length);
	set_size(ns, in, newsize);
	set_time(&in->mtime_s, &in->mtime_ns, mtime);
	set_time(&in->ctime_s, &in->ctime_ns, now);
	attr_out(in, out);
	return 0;
}

int meta_ns_copy_range(struct meta_ns *ns, uint64_t src, uint64_t src_idx, uint64_t dst,
		       uint64_t dst_idx, uint32_t count, uint64_t dst_size,
		       const struct casfs_time *now, struct casfs_attr *out)
{
	struct meta_inode *si, *di;
	struct blk_id *ids;
	uint32_t *lens;
	uint64_t newsize;
	int rc = get_file(ns, src, &si);

	if (rc)
		return rc;
	rc = get_file(ns, dst, &di);
	if (rc)
		return rc;
	if (si->aux != di->aux)
		return -EINVAL;
	if (src_idx >= META_MAX_BLOCKS || dst_idx >= META_MAX_BLOCKS ||
	    count > META_MAX_BLOCKS - dst_idx || count > META_MAX_BLOCKS - src_idx)
		return -EFBIG;
	newsize = dst_size > di->size ? dst_size : di->size;
	if (check_size(di, newsize))
		return -EFBIG;
	/* Copy first: source and destination may be the same file. */
	ids = xcalloc(count ? count : 1, sizeof(*ids));
	lens = xcalloc(count ? count : 1, sizeof(*lens));
	for (uint32_t i = 0; i < count; i++) {
		if (si->u.map && src_idx + i < si->u.map->n) {
			struct meta_block *b;

			ids[i] = si->u.map->ids[src_idx + i];
			b = blk_id_is_null(&ids[i]) ? NULL : meta_blk_find(&ns->blocks, &ids[i]);
			lens[i] = b ? b->length : 0;
		}
	}
	for (uint32_t i = 0; i < count; i++)
		meta_ns_map_set(ns, di, dst_idx + i, &ids[i], lens[i]);
	free(ids);
	free(lens);
	set_size(ns, di, newsize);
	set_time(&di->mtime_s, &di->mtime_ns, now);
	set_time(&di->ctime_s, &di->ctime_ns, now);
	attr_out(di, out);
	return 0;
}

int meta_ns_block_at(struct meta_ns *ns, uint64_t ino, uint64_t idx, struct blk_id *id)
{
	struct meta_inode *in;
	int rc = get_file(ns, ino, &in);

	if (rc)
		return rc;
	if (in->u.map && idx < in->u.map->n)
		*id = in->u.map->ids[idx];
	else
		memset(id, 0, sizeof(*id));
	return 0;
}

uint64_t meta_ns_map_len(struct meta_ns *ns, uint64_t ino)
{
	struct meta_inode *in = meta_ns_inode(ns, ino);

	if (!in || !S_ISREG(in->mode) || !in->u.map)
		return 0;
	return in->u.map->n;
}

static void goal_apply(struct meta_ns *ns, struct meta_inode *in, uint8_t goal)
{
	in->goal = goal;
	if (S_ISREG(in->mode) && in->u.map) {
		for (uint32_t i = 0; i < in->u.map->n; i++) {
			struct meta_block *b;

			if (blk_id_is_null(&in->u.map->ids[i]))
				continue;
			b = meta_blk_find(&ns->blocks, &in->u.map->ids[i]);
			/* A block shared by other files keeps the highest goal
			 * seen; one owned by this file alone follows it down. */
			if (b && (b->refs <= 1 || goal > b->goal))
				b->goal = goal;
		}
	}
}

static uint64_t goal_walk(struct meta_ns *ns, struct meta_inode *in, uint8_t goal, int depth)
{
	uint64_t n = 1;

	goal_apply(ns, in, goal);
	if (!S_ISDIR(in->mode) || depth > 4096)
		return n;
	for (uint32_t i = 0; i < in->u.dir->n; i++) {
		struct meta_dent *e = in->u.dir->ents[i];
		struct meta_inode *c;

		if (!e->ino)
			continue;
		c = meta_ns_inode(ns, e->ino);
		if (c)
			n += goal_walk(ns, c, goal, depth + 1);
	}
	return n;
}

int meta_ns_set_goal(struct meta_ns *ns, uint64_t ino, uint8_t goal, int recursive,
		     uint64_t *changed)
{
	struct meta_inode *in = meta_ns_inode(ns, ino);

	if (!in)
		return -ENOENT;
	if (goal < 1 || goal > 9)
		return -EINVAL;
	if (recursive) {
		*changed = goal_walk(ns, in, goal, 0);
	} else {
		goal_apply(ns, in, goal);
		*changed = 1;
	}
	return 0;
}

int meta_ns_set_block_size(struct meta_ns *ns, uint64_t ino, uint32_t bs)
{
	struct meta_inode *in;
	int rc = get_dir(ns, ino, &in);

	if (rc)
		return rc;
	if (bs < META_BS_MIN || bs > META_BS_MAX || (bs & (bs - 1)))
		return -EINVAL;
	in->aux = bs;
	return 0;
}

/* ---- xattrs ---- */

static struct meta_xattr **xattr_find(struct meta_inode *in, const char *name)
{
	struct meta_xattr **pp;

	for (pp = &in->xattrs; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->data, name) == 0)
			return pp;
	return NULL;
}

int meta_ns_setxattr(struct meta_ns *ns, uint64_t ino, const char *name, const void *value,
		     uint32_t vlen, uint32_t flags, const struct casfs_time *now)
{
	struct meta_inode *in = meta_ns_inode(ns, ino);
	struct meta_xattr **pp, *x;
	size_t nlen = strlen(name);

	if (!in)
		return -ENOENT;
	if (nlen == 0 || flags > 2)
		return -EINVAL;
	if (nlen > 255)
		return -ERANGE;
	if (vlen > META_XATTR_VALUE_MAX)
		return -E2BIG;
	pp = xattr_find(in, name);
	if (pp && flags == 1)
		return -EEXIST;
	if (!pp && flags == 2)
		return -ENODATA;
	x = xmalloc(sizeof(*x) + nlen + 1 + vlen);
	x->nlen = (uint8_t)nlen;
	x->vlen = vlen;
	memcpy(x->data, name, nlen + 1);
	if (vlen)
		memcpy(x->data + nlen + 1, value, vlen);
	if (pp) {
		x->next = (*pp)->next;
		free(*pp);
		*pp = x;
	} else {
		x->next = in->xattrs;
		in->xattrs = x;
	}
	set_time(&in->ctime_s, &in->ctime_ns, now);
	return 0;
}

int meta_ns_getxattr(struct meta_ns *ns, uint64_t ino, const char *name, const void **value,
		     uint32_t *vlen)
{
	struct meta_inode *in = meta_ns_inode(ns, ino);
	struct meta_xattr **pp;

	if (!in)
		return -ENOENT;
	pp = xattr_find(in, name);
	if (!pp)
		return -ENODATA;
	*value = (*pp)->data + (*pp)->nlen + 1;
	*vlen = (*pp)->vlen;
	return 0;
}

int meta_ns_listxattr(struct meta_ns *ns, uint64_t ino, void (*fn)(void *ud, const char *name),
		      void *ud)
{
	struct meta_inode *in = meta_ns_inode(ns, ino);

	if (!in)
		return -ENOENT;
	for (struct meta_xattr *x = in->xattrs; x; x = x->next)
		fn(ud, x->data);
	return 0;
}

int meta_ns_removexattr(struct meta_ns *ns, uint64_t ino, const char *name,
			const struct casfs_time *now)
{
	struct meta_inode *in = meta_ns_inode(ns, ino);
	struct meta_xattr **pp, *x;

	if (!in)
		return -ENOENT;
	pp = xattr_find(in, name);
	if (!pp)
		return -ENODATA;
	x = *pp;
	*pp = x->next;
	free(x);
	set_time(&in->ctime_s, &in->ctime_ns, now);
	return 0;
}
