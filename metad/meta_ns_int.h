/* Internals of the namespace shared by meta_ns.c (operations) and
 * meta_ckpt.c (checkpoint save/load). Nobody else includes this. */
#ifndef CASFS_META_NS_INT_H
#define CASFS_META_NS_INT_H

#include <stdint.h>

#include "fs/ids.h"
#include "metad/meta_blk.h"
#include "metad/meta_htab.h"

/* A directory entry. Tombstones (ino 0) stay in the seq-ordered vector until
 * the next compaction so cursors keep working. */
struct meta_dent {
	uint64_t seq;		/* insertion sequence number: the READDIR cursor */
	uint64_t ino;
	uint32_t hash;
	uint8_t len;
	char name[];		/* NUL-terminated */
};

struct meta_dir {
	uint64_t parent;
	uint64_t next_seq;
	struct meta_dent **ents;	/* ordered by seq */
	uint32_t n, cap, live;
	struct meta_htab names;		/* live entries by name */
};

struct meta_fmap {
	uint64_t bytes;		/* sum of the lengths of the blocks referenced */
	uint32_t n, cap;
	struct blk_id ids[];
};

struct meta_xattr {
	struct meta_xattr *next;
	uint32_t vlen;
	uint8_t nlen;
	char data[];		/* name, NUL, value */
};

struct meta_inode {
	uint64_t ino;
	uint64_t size;
	uint64_t atime_s, mtime_s, ctime_s;
	uint32_t atime_ns, mtime_ns, ctime_ns;
	uint32_t mode, nlink, uid, gid;
	uint32_t aux;		/* block size (files, dirs), rdev (devices) */
	uint32_t nopen;		/* opens held by all sessions */
	uint8_t goal;
	union {
		struct meta_dir *dir;
		struct meta_fmap *map;
		char *target;
		void *any;
	} u;
	struct meta_xattr *xattrs;
};

struct meta_ns {
	struct meta_htab inodes;
	struct meta_blk_table blocks;
	uint64_t next_ino;
	uint64_t logical_bytes;	/* sum of regular files' sizes */
	uint8_t default_goal;
	uint32_t default_block_size;
};

/* A namespace without even a root, for the checkpoint loader. */
struct meta_ns *meta_ns_new_empty(uint8_t default_goal, uint32_t default_block_size);
struct meta_inode *meta_ns_inode(const struct meta_ns *ns, uint64_t ino);
/* Used by the checkpoint loader to rebuild the tree. */
struct meta_inode *meta_ns_inode_alloc(struct meta_ns *ns, uint64_t ino, uint32_t mode);
void meta_ns_dir_add(struct meta_dir *d, const char *name, uint64_t ino, uint64_t seq);
void meta_ns_map_set(struct meta_ns *ns, struct meta_inode *in, uint64_t idx,
		     const struct blk_id *id, uint32_t length);

#endif
