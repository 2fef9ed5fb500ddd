/* cl_ns: namespace calls to metad (one function per catalogue message),
 * each encoding its request and decoding its reply. */
#ifndef CASFS_CL_NS_H
#define CASFS_CL_NS_H

#include <stddef.h>
#include <stdint.h>

#include "client/cl_meta.h"
#include "fs/attr.h"

struct cl_statfs {
	uint64_t total, free, avail, files, ffree;
};

/* Called per directory entry; next is the cursor that resumes after it.
 * Returns non-zero to stop (the entry was not consumed). */
typedef int (*cl_ns_dirent_fn)(void *ud, uint64_t next, const char *name,
			       const struct casfs_attr *a);

/* All return 0 or the negative errno metad answered (see fs/README.md),
 * -EPROTO for a malformed reply. Attribute out-parameters may be NULL. */
int cl_ns_lookup(struct cl_meta *m, uint64_t parent, const char *name, struct casfs_attr *a);
int cl_ns_getattr(struct cl_meta *m, uint64_t ino, struct casfs_attr *a);
/* valid: MSG_SETATTR_* bits; fields not named in valid are ignored. */
int cl_ns_setattr(struct cl_meta *m, uint64_t ino, uint32_t valid, uint32_t mode, uint32_t uid,
		  uint32_t gid, uint64_t size, const struct casfs_time *atime,
		  const struct casfs_time *mtime, struct casfs_attr *a);
int cl_ns_mknod(struct cl_meta *m, uint64_t parent, const char *name, uint32_t mode,
		uint32_t rdev, uint32_t uid, uint32_t gid, struct casfs_attr *a);
/* OPEN counts the open in the session (one RELEASE each); CREATE is MKNOD of
 * a regular file plus OPEN in one round trip. */
int cl_ns_open(struct cl_meta *m, uint64_t ino, uint32_t flags, struct casfs_attr *a);
int cl_ns_create(struct cl_meta *m, uint64_t parent, const char *name, uint32_t mode,
		 uint32_t uid, uint32_t gid, uint32_t flags, struct casfs_attr *a);
int cl_ns_mkdir(struct cl_meta *m, uint64_t parent, const char *name, uint32_t mode,
		uint32_t uid, uint32_t gid, struct casfs_attr *a);
int cl_ns_unlink(struct cl_meta *m, uint64_t parent, const char *name);
int cl_ns_rmdir(struct cl_meta *m, uint64_t parent, const char *name);
int cl_ns_symlink(struct cl_meta *m, uint64_t parent, const char *name, const char *target,
		  uint32_t uid, uint32_t gid, struct casfs_attr *a);
/* out holds at least PROTO_STR_MAX + 1 bytes. */
int cl_ns_readlink(struct cl_meta *m, uint64_t ino, char *out, size_t cap);
int cl_ns_rename(struct cl_meta *m, uint64_t parent, const char *name, uint64_t newparent,
		 const char *newname, uint32_t flags);
int cl_ns_link(struct cl_meta *m, uint64_t ino, uint64_t newparent, const char *newname,
	       struct casfs_attr *a);
/* Reads up to max entries from cursor, calling fn for each until it asks to
 * stop; *eof is set when the directory has no more entries after those. */
int cl_ns_readdir(struct cl_meta *m, uint64_t ino, uint64_t cursor, uint32_t max,
		  cl_ns_dirent_fn fn, void *ud, int *eof);
int cl_ns_statfs(struct cl_meta *m, struct cl_statfs *out);
int cl_ns_setxattr(struct cl_meta *m, uint64_t ino, const char *name, const void *value,
		   uint32_t size, uint32_t flags);
/* The value (or, for listxattr, the NUL-terminated names) goes to out. */
int cl_ns_getxattr(struct cl_meta *m, uint64_t ino, const char *name, struct proto_wbuf *out);
int cl_ns_listxattr(struct cl_meta *m, uint64_t ino, struct proto_wbuf *out);
int cl_ns_removexattr(struct cl_meta *m, uint64_t ino, const char *name);
int cl_ns_fsync(struct cl_meta *m, uint64_t ino);
/* LOCK: kind MSG_LOCK_FLOCK/POSIX, type MSG_LOCK_READ/WRITE/UNLOCK, end
 * inclusive (UINT64_MAX = to EOF). With wait, blocks until granted. */
int cl_ns_lock(struct cl_meta *m, uint64_t ino, uint64_t owner, uint8_t kind, uint8_t type,
	       uint64_t start, uint64_t end, uint32_t pid, int wait);
/* GETLK: on return *type is MSG_LOCK_UNLOCK when nothing conflicts, else
 * the conflicting lock's type, range and pid. */
int cl_ns_getlk(struct cl_meta *m, uint64_t ino, uint64_t owner, uint8_t *type,
		uint64_t *start, uint64_t *end, uint32_t *pid);

#endif
