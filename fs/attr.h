/* POSIX attributes as every part sees them (types only, no functions). */
#ifndef CASFS_ATTR_H
#define CASFS_ATTR_H

#include <stdint.h>

struct casfs_time {
	uint64_t sec;
	uint32_t nsec;
};

struct casfs_attr {
	uint64_t ino;
	uint32_t mode;		/* S_IFMT type bits | permission bits */
	uint32_t nlink;
	uint32_t uid;
	uint32_t gid;
	uint32_t rdev;
	uint64_t size;
	uint64_t blocks;	/* 512-byte units actually referenced */
	struct casfs_time atime;
	struct casfs_time mtime;
	struct casfs_time ctime;
	uint8_t goal;		/* replication goal */
	uint32_t block_size;	/* regular files: bytes per block; dirs: for new files */
};

#endif
