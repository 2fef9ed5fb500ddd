/* mount: the FUSE low-level operations of casfs-mount, mapping each request
 * onto the client library. */
#ifndef CASFS_MOUNT_H
#define CASFS_MOUNT_H

#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>

#include "client/cl_dattr.h"
#include "client/cl_dcache.h"
#include "client/cl_dnames.h"
#include "client/cl_file.h"
#include "client/cl_meta.h"

/* The userdata of the FUSE session. */
struct mnt_ctx {
	struct cl_meta *meta;
	struct cl_files *files;
	struct cl_dattr *dattr;		/* directory attributes fetched behind mutations */
	struct cl_dcache *dcache;	/* directory listings that answer LOOKUPs */
	struct cl_dnames *dnames;	/* name sets that answer absent names */
	uint64_t root;			/* metad inode shown as the mount's root */
	double attr_timeout;
	double entry_timeout;
	int is_direct;			/* no client data cache */
	int use_writeback;		/* kernel writeback cache (granted, after init) */
	struct fuse_session *se;	/* for cache invalidations */
	int has_told_write_path;	/* atomic: the log says how writes arrive */
};

/* The operation table; every request is answered exactly once. */
const struct fuse_lowlevel_ops *mnt_ops(void);

#endif
