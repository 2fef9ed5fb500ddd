/* The casfs CLI's path commands: goal get/set, blocksize set, info. A path
 * names an inode on a mounted casfs: the mount is found in /proc/self/mounts
 * (fs type fuse.casfs, fsname "casfs#HOST:PORT"), and stat()'s st_ino is
 * metad's inode number, so the CLI talks to that metad about that inode.
 * --meta overrides the mount's address; "ino:NUMBER" names an inode
 * directly for scripts that have no mount. Single-threaded. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <mntent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "client/cli_int.h"
#include "fs/conf.h"
#include "fs/msg.h"
#include "fs/xmalloc.h"

/* Where a path lives: which metad and which inode. */
struct cli_target {
	char addr[256];
	uint64_t ino;
};

/* Undoes the kernel's octal escapes in /proc/mounts fields in place
 * ("casfs\043host:port" is "casfs#host:port"); getmntent decodes only
 * space, tab, newline and backslash. */
static void cli_mnt_unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') << 6 | (r[2] - '0') << 3 | (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

/* The casfs mount containing rp (an absolute, resolved path): the longest
 * matching mount point wins. Returns 0 and the metad address, or -ENOENT. */
static int cli_find_mount(const char *rp, char *addr, size_t addrlen)
{
	FILE *f = setmntent("/proc/self/mounts", "r");
	size_t best = 0;
	struct mntent *m;
	int rc = -ENOENT;

	if (!f)
		return -errno;
	while ((m = getmntent(f))) {
		size_t l;

		cli_mnt_unescape(m->mnt_fsname);
		cli_mnt_unescape(m->mnt_dir);
		l = strlen(m->mnt_dir);
		if (strcmp(m->mnt_type, "fuse.casfs") || strncmp(m->mnt_fsname, "casfs#", 6))
			continue;
		if (strcmp(m->mnt_dir, "/") &&
		    (strncmp(rp, m->mnt_dir, l) || (rp[l] != '/' && rp[l] != '\0')))
			continue;
		if (l >= best) {
			best = l;
			snprintf(addr, addrlen, "%s", m->mnt_fsname + 6);
			rc = 0;
		}
	}
	endmntent(f);
	return rc;
}

/* Resolves a path argument; prints the error and returns 1 on failure. */
static int cli_resolve(struct cli_ctx *c, const char *path, struct cli_target *t)
{
	char rp[PATH_MAX], maddr[256];
	const char *addr;
	struct stat st;

	if (!strncmp(path, "ino:", 4)) {
		if (conf_parse_u64(path + 4, 1, UINT64_MAX, &t->ino))
			return cli_usage(NULL, "'%s' is not ino:NUMBER", path);
		addr = cli_meta_addr(c);
		if (!addr)
			return 1;
		snprintf(t->addr, sizeof(t->addr), "%s", addr);
		return 0;
	}
	if (!realpath(path, rp) || stat(rp, &st) < 0)
		return cli_err("%s: %s", path, strerror(errno));
	t->ino = (uint64_t)st.st_ino;
	if (c->meta_opt) {
		snprintf(t->addr, sizeof(t->addr), "%s", c->meta_opt);
		return 0;
	}
	if (cli_find_mount(rp, maddr, sizeof(maddr)))
		return cli_err("%s is not on a casfs mount (give --meta and ino:NUMBER instead)",
			       path);
	snprintf(t->addr, sizeof(t->addr), "%s", maddr);
	return 0;
}

static int cli_getattr(struct cli_conn *conn, uint64_t ino, struct casfs_attr *a)
{
	struct proto_wbuf *w = cli_conn_begin(conn, MSG_GETATTR);
	struct proto_rbuf r;
	int rc;

	proto_put_u64(w, ino);
	rc = cli_conn_call(conn, &r);
	if (rc)
		return rc;
	proto_get_attr(&r, a);
	return proto_get_end(&r) ? -EPROTO : 0;
}

/* Resolves path and connects; 0, or 1 with the error printed. */
static int cli_open_path(struct cli_ctx *c, const char *path, struct cli_target *t,
			 struct cli_conn *conn)
{
	int rc = cli_resolve(c, path, t);

	return rc ? rc : cli_connect(c, t->addr, conn);
}

static const char *cli_type_name(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "file";
	case S_IFDIR: return "directory";
	case S_IFLNK: return "symlink";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	case S_IFCHR: return "char device";
	case S_IFBLK: return "block device";
	default: return "unknown";
	}
}

static int goal_get(struct cli_ctx *c, const char *path)
{
	struct cli_target t;
	struct cli_conn conn;
	struct casfs_attr a;
	struct cli_json j;
	int rc;

	rc = cli_open_path(c, path, &t, &conn);
	if (rc)
		return rc;
	rc = cli_getattr(&conn, t.ino, &a);
	cli_conn_close(&conn);
	if (rc)
		return cli_err("%s: %s", path, cli_strerror(rc));
	if (c->json) {
		cli_json_init(&j, stdout);
		cli_json_obj_begin(&j, NULL);
		cli_json_str(&j, "path", path);
		cli_json_u64(&j, "ino", t.ino);
		cli_json_u64(&j, "goal", a.goal);
		cli_json_obj_end(&j);
		cli_json_finish(&j);
	} else {
		printf("%s: goal %u\n", path, a.goal);
	}
	return 0;
}

static int goal_set(struct cli_ctx *c, const char *path, unsigned goal, int recursive)
{
	struct cli_target t;
	struct cli_conn conn;
	struct cli_json j;
	uint64_t changed = 0;
	int rc, shown = 0;

	rc = cli_open_path(c, path, &t, &conn);
	if (rc)
		return rc;
	/* One request does the whole tree inside metad; on a terminal say what
	 * is happening while it runs. */
	if (recursive && c->is_tty && !c->json) {
		printf("setting goal %u on %s and everything below it...", goal, path);
		fflush(stdout);
		shown = 1;
	}
	rc = cli_set_goal(&conn, t.ino, goal, recursive, &changed);
	cli_conn_close(&conn);
	if (shown)
		printf("\r\033[K");
	if (rc == -ENOTDIR)
		return cli_err("%s: -r needs a directory", path);
	if (rc)
		return cli_err("%s: set goal: %s", path, cli_strerror(rc));
	if (c->json) {
		cli_json_init(&j, stdout);
		cli_json_obj_begin(&j, NULL);
		cli_json_str(&j, "path", path);
		cli_json_u64(&j, "ino", t.ino);
		cli_json_u64(&j, "goal", goal);
		cli_json_bool(&j, "recursive", recursive);
		cli_json_u64(&j, "changed", changed);
		cli_json_obj_end(&j);
		cli_json_finish(&j);
	} else {
		printf("%s: goal %u (%" PRIu64 " inode%s changed)\n", path, goal, changed,
		       changed == 1 ? "" : "s");
	}
	return 0;
}

int cli_cmd_goal(struct cli_ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "recursive", no_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	int recursive = 0, o;
	uint64_t goal;
	const char *act;

	if (argc < 2)
		return cli_usage("goal", "which action? get or set");
	act = argv[1];
	optind = 0;
	opterr = 0;
	while ((o = getopt_long(argc - 1, argv + 1, "r", opts, NULL)) != -1) {
		if (o != 'r')
			return cli_usage("goal", "unknown option '%s'", argv[optind]);
		recursive = 1;
	}
	argc = argc - 1 - optind;
	argv = argv + 1 + optind;
	if (!strcmp(act, "get")) {
		if (argc != 1 || recursive)
			return cli_usage("goal", "goal get takes one PATH");
		return goal_get(c, argv[0]);
	}
	if (strcmp(act, "set"))
		return cli_usage("goal", "unknown action '%s'", act);
	if (argc != 2)
		return cli_usage("goal", "goal set takes N and PATH");
	if (conf_parse_u64(argv[0], 1, 9, &goal))
		return cli_usage("goal", "goal must be a number from 1 to 9, not '%s'", argv[0]);
	return goal_set(c, argv[1], (unsigned)goal, recursive);
}

int cli_cmd_blocksize(struct cli_ctx *c, int argc, char **argv)
{
	struct proto_wbuf *w;
	struct cli_target t;
	struct cli_conn conn;
	struct proto_rbuf r;
	struct cli_json j;
	uint64_t size;
	int rc;

	if (argc != 4 || strcmp(argv[1], "set"))
		return cli_usage("blocksize", "usage: casfs blocksize set PATH SIZE");
	if (conf_parse_size(argv[3], &size) || size < (64u << 10) || size > (8u << 20) ||
	    (size & (size - 1)))
		return cli_usage("blocksize", "block size must be a power of two from 64K to 8M, "
				 "not '%s'", argv[3]);
	rc = cli_open_path(c, argv[2], &t, &conn);
	if (rc)
		return rc;
	w = cli_conn_begin(&conn, MSG_ADM_SET_BLOCKSIZE);
	proto_put_u64(w, t.ino);
	proto_put_u32(w, (uint32_t)size);
	rc = cli_conn_call(&conn, &r);
	cli_conn_close(&conn);
	if (rc == -ENOTDIR)
		return cli_err("%s: not a directory (block size applies to new files in a "
			       "directory)", argv[2]);
	if (rc)
		return cli_err("%s: set block size: %s", argv[2], cli_strerror(rc));
	if (c->json) {
		cli_json_init(&j, stdout);
		cli_json_obj_begin(&j, NULL);
		cli_json_str(&j, "path", argv[2]);
		cli_json_u64(&j, "ino", t.ino);
		cli_json_u64(&j, "block_size", size);
		cli_json_obj_end(&j);
		cli_json_finish(&j);
	} else {
		printf("%s: new files get %" PRIu64 " KiB blocks\n", argv[2], size >> 10);
	}
	return 0;
}

/* The id -> address map that BMAP replies carry, merged across pages. */
struct cli_srv {
	uint32_t id;
	char *addr;
};

struct cli_srvmap {
	struct cli_srv *v;
	size_t n;
};

static const char *srvmap_get(const struct cli_srvmap *m, uint32_t id)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].id == id)
			return m->v[i].addr;
	return "?";
}

static void srvmap_put(struct cli_srvmap *m, uint32_t id, const char *addr)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].id == id)
			return;
	m->v = xrealloc(m->v, (m->n + 1) * sizeof(*m->v));
	m->v[m->n].id = id;
	m->v[m->n].addr = xstrdup(addr);
	m->n++;
}

static void srvmap_free(struct cli_srvmap *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].addr), m->v[i].addr = NULL;
	free(m->v), m->v = NULL;
	m->n = 0;
}

/* One block of the map as the BMAP reply gives it. */
struct cli_blk {
	uint64_t index;
	struct blk_id id;
	uint32_t length;
	uint32_t nsrv;
	uint32_t *srv;
};

/* Blocks per BMAP request: a 1024-entry reply stays far below the frame
 * limit even at goal 9 (about 70 KB). */
#define CLI_BMAP_PAGE 1024

/* Reads the whole block map of ino into *out (*nout entries). */
static int cli_bmap_all(struct cli_conn *conn, uint64_t ino, uint64_t nblocks,
			struct cli_blk **out, size_t *nout, struct cli_srvmap *m)
{
	char addr[PROTO_STR_MAX + 1];
	struct cli_blk *v = NULL;
	size_t n = 0;
	int rc = 0;

	for (uint64_t first = 0; first < nblocks; first += CLI_BMAP_PAGE) {
		uint64_t left = nblocks - first;
		struct proto_wbuf *w = cli_conn_begin(conn, MSG_BMAP);
		struct casfs_attr a;
		struct proto_rbuf r;
		uint32_t cnt = 0, ns = 0, sid;

		proto_put_u64(w, ino);
		proto_put_u64(w, first);
		proto_put_u32(w, left < CLI_BMAP_PAGE ? (uint32_t)left : CLI_BMAP_PAGE);
		rc = cli_conn_call(conn, &r);
		if (rc)
			break;
		proto_get_attr(&r, &a);
		proto_get_count(&r, 8 + BLK_ID_SIZE + 4 + 4, &cnt);
		v = xrealloc(v, (n + cnt + 1) * sizeof(*v));
		for (uint32_t i = 0; i < cnt && !r.err; i++) {
			struct cli_blk *b = &v[n];

			memset(b, 0, sizeof(*b));
			proto_get_u64(&r, &b->index);
			proto_get_blkid(&r, &b->id);
			proto_get_u32(&r, &b->length);
			if (proto_get_count(&r, 4, &b->nsrv))
				b->nsrv = 0;
			b->srv = xcalloc(b->nsrv + 1, sizeof(uint32_t));
			for (uint32_t k = 0; k < b->nsrv; k++)
				proto_get_u32(&r, &b->srv[k]);
			n++;
		}
		proto_get_count(&r, 4 + 2, &ns);
		for (uint32_t i = 0; i < ns && !r.err; i++) {
			proto_get_u32(&r, &sid);
			if (proto_get_str(&r, addr, sizeof(addr)) == 0)
				srvmap_put(m, sid, addr);
		}
		if (proto_get_end(&r)) {
			rc = -EPROTO;
			break;
		}
	}
	*out = v;
	*nout = n;
	return rc;
}

static void cli_blks_free(struct cli_blk *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].srv), v[i].srv = NULL;
	free(v);
}

static void info_print(struct cli_ctx *c, const char *path, const struct casfs_attr *a,
		       const struct cli_blk *v, size_t n, const struct cli_srvmap *m)
{
	static const char *const hdr[] = { ">INDEX", "BLOCK-ID", ">LENGTH", "SERVERS",
					   ">MISSING" };
	char hex[BLK_ID_HEX_LEN + 1], size[16], servers[2048];
	struct cli_table *t;
	struct cli_json j;
	uint64_t under = 0;

	for (size_t i = 0; i < n; i++)
		if (v[i].nsrv < a->goal)
			under++;
	if (c->json) {
		cli_json_init(&j, stdout);
		cli_json_obj_begin(&j, NULL);
		cli_json_str(&j, "path", path);
		cli_json_u64(&j, "ino", a->ino);
		cli_json_str(&j, "type", cli_type_name(a->mode));
		cli_json_u64(&j, "size", a->size);
		cli_json_u64(&j, "goal", a->goal);
		cli_json_u64(&j, "block_size", a->block_size);
		cli_json_u64(&j, "blocks_under_goal", under);
		cli_json_arr_begin(&j, "blocks");
		for (size_t i = 0; i < n; i++) {
			blk_id_format(&v[i].id, hex);
			cli_json_obj_begin(&j, NULL);
			cli_json_u64(&j, "index", v[i].index);
			cli_json_str(&j, "id", hex);
			cli_json_u64(&j, "length", v[i].length);
			cli_json_arr_begin(&j, "servers");
			for (uint32_t k = 0; k < v[i].nsrv; k++) {
				cli_json_obj_begin(&j, NULL);
				cli_json_u64(&j, "id", v[i].srv[k]);
				cli_json_str(&j, "address", srvmap_get(m, v[i].srv[k]));
				cli_json_obj_end(&j);
			}
			cli_json_arr_end(&j);
			cli_json_u64(&j, "missing", v[i].nsrv < a->goal ? a->goal - v[i].nsrv : 0);
			cli_json_obj_end(&j);
		}
		cli_json_arr_end(&j);
		cli_json_obj_end(&j);
		cli_json_finish(&j);
		return;
	}
	cli_fmt_size(a->size, size, sizeof(size));
	printf("path        %s\n", path);
	printf("inode       %" PRIu64 " (%s)\n", a->ino, cli_type_name(a->mode));
	printf("size        %" PRIu64 " bytes (%s)\n", a->size, size);
	printf("goal        %u\n", a->goal);
	printf("block size  %" PRIu32 " KiB\n", a->block_size >> 10);
	if ((a->mode & S_IFMT) != S_IFREG)
		return;
	printf("blocks      %zu stored, %" PRIu64 " under goal\n", n, under);
	if (!n)
		return;
	fputc('\n', stdout);
	t = cli_table_new(5, hdr);
	for (size_t i = 0; i < n; i++) {
		size_t at = 0;

		blk_id_format(&v[i].id, hex);
		servers[0] = '\0';
		for (uint32_t k = 0; k < v[i].nsrv && at < sizeof(servers); k++)
			at += (size_t)snprintf(servers + at, sizeof(servers) - at, "%s%" PRIu32 "@%s",
					       k ? "," : "", v[i].srv[k], srvmap_get(m, v[i].srv[k]));
		cli_table_cell(t, "%" PRIu64, v[i].index);
		cli_table_cell(t, "%s", hex);
		cli_table_cell(t, "%" PRIu32, v[i].length);
		cli_table_cell(t, "%s", v[i].nsrv ? servers : "(none)");
		cli_table_cell(t, "%u", v[i].nsrv < a->goal ? a->goal - v[i].nsrv : 0);
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
}

int cli_cmd_info(struct cli_ctx *c, int argc, char **argv)
{
	struct cli_srvmap m = { 0 };
	struct cli_blk *v = NULL;
	struct cli_target t;
	struct cli_conn conn;
	struct casfs_attr a;
	uint64_t nblocks = 0;
	size_t n = 0;
	int rc;

	if (argc != 2)
		return cli_usage("info", "info takes one PATH");
	rc = cli_open_path(c, argv[1], &t, &conn);
	if (rc)
		return rc;
	rc = cli_getattr(&conn, t.ino, &a);
	if (rc) {
		cli_conn_close(&conn);
		return cli_err("%s: %s", argv[1], cli_strerror(rc));
	}
	if ((a.mode & S_IFMT) == S_IFREG && a.block_size)
		nblocks = (a.size + a.block_size - 1) / a.block_size;
	rc = cli_bmap_all(&conn, t.ino, nblocks, &v, &n, &m);
	cli_conn_close(&conn);
	if (rc)
		rc = cli_err("%s: block map: %s", argv[1], cli_strerror(rc));
	else
		info_print(c, argv[1], &a, v, n, &m);
	cli_blks_free(v, n);
	srvmap_free(&m);
	return rc;
}
