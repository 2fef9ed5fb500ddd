/* The namespace: inodes, directories, block maps and block refcounts, with
 * POSIX semantics. Pure in-memory state with no I/O and no clock of its own
 * (callers pass "now"), so that the same calls replayed from the changelog in
 * the same order rebuild exactly the same state. Every operation either
 * fails with nothing changed or succeeds completely. Owned by the event-loop
 * thread. */
#ifndef CASFS_META_NS_H
#define CASFS_META_NS_H

#include <stddef.h>
#include <stdint.h>

#include "fs/attr.h"
#include "fs/ids.h"
#include "metad/meta_blk.h"

struct meta_ns;

#define META_MAX_LINKS 65000u
#define META_XATTR_VALUE_MAX (64u << 10)
#define META_MAX_BLOCKS (1u << 24)	/* 16 TiB files at 1 MiB blocks */
#define META_BS_MIN (64u << 10)
#define META_BS_MAX (8u << 20)

struct meta_commit_ent {
	uint64_t index;
	struct blk_id id;	/* null = hole */
	uint32_t length;
};

/* A new namespace holding only the root directory (mode 0755, owner 0). */
struct meta_ns *meta_ns_new(uint8_t default_goal, uint32_t default_block_size,
			    const struct casfs_time *now);
void meta_ns_free(struct meta_ns *ns);
struct meta_blk_table *meta_ns_blocks(struct meta_ns *ns);
uint64_t meta_ns_inode_count(const struct meta_ns *ns);
uint64_t meta_ns_logical_bytes(const struct meta_ns *ns);

int meta_ns_getattr(struct meta_ns *ns, uint64_t ino, struct casfs_attr *out);
/* "." names the parent itself and ".." its parent. -ENOENT, -ENOTDIR. */
int meta_ns_lookup(struct meta_ns *ns, uint64_t parent, const char *name,
		   struct casfs_attr *out);
/* -ENOENT, -EISDIR (size on a directory), -EINVAL (size on a non-file),
 * -EFBIG. ctime becomes now. */
int meta_ns_setattr(struct meta_ns *ns, uint64_t ino, uint32_t valid, uint32_t mode,
		    uint32_t uid, uint32_t gid, uint64_t size, const struct casfs_time *atime,
		    const struct casfs_time *mtime, const struct casfs_time *now,
		    struct casfs_attr *out);
/* Creates a regular file, fifo, socket or device (mkdir/symlink have their
 * own calls). -ENOENT, -ENOTDIR, -EEXIST, -EINVAL, -EMLINK. */
int meta_ns_mknod(struct meta_ns *ns, uint64_t parent, const char *name, uint32_t mode,
		  uint32_t rdev, uint32_t uid, uint32_t gid, const struct casfs_time *now,
		  struct casfs_attr *out);
int meta_ns_mkdir(struct meta_ns *ns, uint64_t parent, const char *name, uint32_t mode,
		  uint32_t uid, uint32_t gid, const struct casfs_time *now,
		  struct casfs_attr *out);
/* -ENAMETOOLONG when the target is 4096 bytes or more. */
int meta_ns_symlink(struct meta_ns *ns, uint64_t parent, const char *name, const char *target,
		    uint32_t uid, uint32_t gid, const struct casfs_time *now,
		    struct casfs_attr *out);
/* *target points into the namespace until the next change. -EINVAL. */
int meta_ns_readlink(struct meta_ns *ns, uint64_t ino, const char **target);
/* -ENOENT, -ENOTDIR, -EISDIR. The inode lives on while open. *ino_out
 * receives the unlinked inode (may be NULL). */
int meta_ns_unlink(struct meta_ns *ns, uint64_t parent, const char *name,
		   const struct casfs_time *now);
int meta_ns_rmdir(struct meta_ns *ns, uint64_t parent, const char *name,
		  const struct casfs_time *now);
/* flags: MSG_RENAME_NOREPLACE, MSG_RENAME_EXCHANGE. -ENOENT, -ENOTDIR,
 * -EISDIR, -EEXIST, -ENOTEMPTY, -EINVAL (into own subtree, bad flags). */
int meta_ns_rename(struct meta_ns *ns, uint64_t parent, const char *name, uint64_t newparent,
		   const char *newname, uint32_t flags, const struct casfs_time *now);
/* -EPERM on directories, -EEXIST, -EMLINK, -ENOENT. */
int meta_ns_link(struct meta_ns *ns, uint64_t ino, uint64_t newparent, const char *newname,
		 const struct casfs_time *now, struct casfs_attr *out);

/* Called for each entry with seq > cursor, in seq order, until it returns
 * non-zero. -ENOENT, -ENOTDIR. */
typedef int (*meta_ns_dirent_fn)(void *ud, uint64_t seq, const char *name,
				 const struct casfs_attr *attr);
int meta_ns_readdir(struct meta_ns *ns, uint64_t ino, uint64_t cursor, meta_ns_dirent_fn fn,
		    void *ud);

/* Open counting: an inode with no links dies when its last open goes.
 * open: -ENOENT; O_TRUNC truncates (-EISDIR on a directory). */
int meta_ns_open(struct meta_ns *ns, uint64_t ino, uint32_t flags, const struct casfs_time *now,
		 struct casfs_attr *out);
void meta_ns_release(struct meta_ns *ns, uint64_t ino);

/* flags: 1 create, 2 replace. -ENODATA, -EEXIST, -E2BIG, -EINVAL. */
int meta_ns_setxattr(struct meta_ns *ns, uint64_t ino, const char *name, const void *value,
		     uint32_t vlen, uint32_t flags, const struct casfs_time *now);
int meta_ns_getxattr(struct meta_ns *ns, uint64_t ino, const char *name, const void **value,
		     uint32_t *vlen);
/* Calls fn for each name. */
int meta_ns_listxattr(struct meta_ns *ns, uint64_t ino, void (*fn)(void *ud, const char *name),
		      void *ud);
int meta_ns_removexattr(struct meta_ns *ns, uint64_t ino, const char *name,
			const struct casfs_time *now);

/* Replaces map entries and adjusts refcounts (see COMMIT in fs/README.md).
 * -ENOENT, -EISDIR/-EINVAL (not a regular file), -EFBIG, -EINVAL (length
 * over the block size). */
int meta_ns_commit(struct meta_ns *ns, uint64_t ino, uint64_t size,
		   const struct casfs_time *mtime, uint32_t flags,
		   const struct meta_commit_ent *ents, uint32_t n, const struct casfs_time *now,
		   struct casfs_attr *out);
/* Copies count block references from src to dst (same block size needed:
 * -EINVAL otherwise). */
int meta_ns_copy_range(struct meta_ns *ns, uint64_t src, uint64_t src_idx, uint64_t dst,
		       uint64_t dst_idx, uint32_t count, uint64_t dst_size,
		       const struct casfs_time *now, struct casfs_attr *out);
/* Block idx of a regular file: its id (null for a hole or past the end). */
int meta_ns_block_at(struct meta_ns *ns, uint64_t ino, uint64_t idx, struct blk_id *id);
/* Number of map slots of a regular file (0 otherwise). */
uint64_t meta_ns_map_len(struct meta_ns *ns, uint64_t ino);
/* Sets the goal of ino (and of everything below it when recursive);
 * *changed counts the inodes. */
int meta_ns_set_goal(struct meta_ns *ns, uint64_t ino, uint8_t goal, int recursive,
		     uint64_t *changed);
/* Block size for new files created in directory ino. -ENOTDIR, -EINVAL. */
int meta_ns_set_block_size(struct meta_ns *ns, uint64_t ino, uint32_t bs);

#endif
