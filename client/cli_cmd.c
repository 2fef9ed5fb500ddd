/* The casfs CLI's cluster-wide commands: status, chunkserver
 * list/show/drain/undrain/remove, df and sessions, plus the decoders of the
 * admin replies they (and `casfs local`) share. Each command makes one admin
 * connection, asks, prints a table or --json, and exits; drain polls
 * ADM_CS_LIST until the server is empty, drawing progress only on a
 * terminal. Single-threaded. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/cli_int.h"
#include "fs/conf.h"
#include "fs/msg.h"
#include "fs/xmalloc.h"

int cli_status_get(struct cli_conn *conn, struct cli_status *st)
{
	struct proto_rbuf r;
	int rc;

	cli_conn_begin(conn, MSG_ADM_STATUS);
	rc = cli_conn_call(conn, &r);
	if (rc)
		return rc;
	proto_get_uuid(&r, &st->cluster);
	proto_get_u32(&r, &st->up);
	proto_get_u32(&r, &st->down);
	proto_get_u32(&r, &st->draining);
	proto_get_u64(&r, &st->total);
	proto_get_u64(&r, &st->used);
	proto_get_u64(&r, &st->free);
	proto_get_u64(&r, &st->inodes);
	proto_get_u64(&r, &st->blocks);
	proto_get_u64(&r, &st->under_goal);
	proto_get_u64(&r, &st->missing);
	proto_get_u64(&r, &st->over_goal);
	proto_get_u64(&r, &st->sessions);
	proto_get_u64(&r, &st->logical);
	proto_get_u64(&r, &st->unique);
	return proto_get_end(&r) ? -EPROTO : 0;
}

void cli_cs_free(struct cli_cs *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++) {
		for (uint32_t k = 0; k < v[i].nlabels; k++)
			free(v[i].labels[k]), v[i].labels[k] = NULL;
		free(v[i].labels), v[i].labels = NULL;
		free(v[i].addr), v[i].addr = NULL;
	}
	free(v);
}

int cli_cs_list(struct cli_conn *conn, struct cli_cs **out, size_t *nout)
{
	char str[PROTO_STR_MAX + 1];
	struct cli_cs *v = NULL;
	struct proto_rbuf r;
	uint32_t n = 0, i;
	int rc;

	*out = NULL;
	*nout = 0;
	cli_conn_begin(conn, MSG_ADM_CS_LIST);
	rc = cli_conn_call(conn, &r);
	if (rc)
		return rc;
	/* msg_check has validated the reply, so the count is bounded by it. */
	proto_get_count(&r, 4 + 2 + 1 + 8 * 4 + 4 + 8 + 8 + 4, &n);
	v = xcalloc(n ? n : 1, sizeof(*v));
	for (i = 0; i < n && !r.err; i++) {
		struct cli_cs *cs = &v[i];

		proto_get_u32(&r, &cs->id);
		if (proto_get_str(&r, str, sizeof(str)) == 0)
			cs->addr = xstrdup(str);
		proto_get_u8(&r, &cs->state);
		proto_get_u64(&r, &cs->total);
		proto_get_u64(&r, &cs->used);
		proto_get_u64(&r, &cs->free);
		proto_get_u64(&r, &cs->blocks);
		proto_get_u32(&r, &cs->load);
		proto_get_u64(&r, &cs->silent_ms);
		proto_get_u64(&r, &cs->to_move);
		if (proto_get_count(&r, 2, &cs->nlabels))
			cs->nlabels = 0;
		cs->labels = xcalloc(cs->nlabels ? cs->nlabels : 1, sizeof(char *));
		for (uint32_t k = 0; k < cs->nlabels; k++)
			cs->labels[k] = xstrdup(proto_get_str(&r, str, sizeof(str)) ? "" : str);
	}
	if (proto_get_end(&r)) {
		cli_cs_free(v, i);
		return -EPROTO;
	}
	*out = v;
	*nout = n;
	return 0;
}

const char *cli_cs_state_name(uint8_t state)
{
	switch (state) {
	case MSG_CS_STATE_UP: return "up";
	case MSG_CS_STATE_DOWN: return "down";
	case MSG_CS_STATE_DRAINING: return "draining";
	default: return "unknown";
	}
}

int cli_set_goal(struct cli_conn *conn, uint64_t ino, unsigned goal, int recursive,
		 uint64_t *changed)
{
	struct proto_wbuf *w = cli_conn_begin(conn, MSG_ADM_SET_GOAL);
	struct proto_rbuf r;
	int rc;

	proto_put_u64(w, ino);
	proto_put_u8(w, (uint8_t)goal);
	proto_put_u8(w, recursive ? 1 : 0);
	rc = cli_conn_call(conn, &r);
	if (rc)
		return rc;
	proto_get_u64(&r, changed);
	return proto_get_end(&r) ? -EPROTO : 0;
}

static void cli_uuid_format(const struct casfs_uuid *u, char out[37])
{
	char hex[33];

	casfs_hex_format(u->b, 16, hex);
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

/* Opens the connection for a command that takes no path. */
static int cli_open(struct cli_ctx *c, struct cli_conn *conn)
{
	const char *addr = cli_meta_addr(c);

	return addr ? cli_connect(c, addr, conn) : 1;
}

static int cli_no_args(const char *cmd, int argc, char **argv)
{
	if (argc > 1)
		return cli_usage(cmd, "unexpected argument '%s'", argv[1]);
	return 0;
}

int cli_cmd_status(struct cli_ctx *c, int argc, char **argv)
{
	struct cli_status st;
	struct cli_conn conn;
	struct cli_json j;
	char uuid[37], tot[16], used[16], fr[16];
	const char *health;
	int rc;

	rc = cli_no_args("status", argc, argv);
	if (rc || (rc = cli_open(c, &conn)))
		return rc;
	rc = cli_status_get(&conn, &st);
	if (rc) {
		cli_conn_close(&conn);
		return cli_err("status from metad at %s: %s", conn.addr, cli_strerror(rc));
	}
	cli_uuid_format(&st.cluster, uuid);
	health = st.missing ? "degraded: blocks missing"
		 : st.under_goal ? "degraded: blocks under goal (repairing)"
		 : st.up == 0 ? "no chunk servers up"
		 : st.down ? "healthy, but some chunk servers are down" : "healthy";
	if (c->json) {
		cli_json_init(&j, stdout);
		cli_json_obj_begin(&j, NULL);
		cli_json_str(&j, "cluster", uuid);
		cli_json_obj_begin(&j, "metad");
		cli_json_str(&j, "address", conn.addr);
		cli_json_bool(&j, "up", 1);
		cli_json_obj_end(&j);
		cli_json_obj_begin(&j, "servers");
		cli_json_u64(&j, "up", st.up);
		cli_json_u64(&j, "down", st.down);
		cli_json_u64(&j, "draining", st.draining);
		cli_json_obj_end(&j);
		cli_json_obj_begin(&j, "capacity");
		cli_json_u64(&j, "total", st.total);
		cli_json_u64(&j, "used", st.used);
		cli_json_u64(&j, "free", st.free);
		cli_json_obj_end(&j);
		cli_json_u64(&j, "inodes", st.inodes);
		cli_json_obj_begin(&j, "blocks");
		cli_json_u64(&j, "total", st.blocks);
		cli_json_u64(&j, "under_goal", st.under_goal);
		cli_json_u64(&j, "missing", st.missing);
		cli_json_u64(&j, "over_goal", st.over_goal);
		cli_json_obj_end(&j);
		cli_json_u64(&j, "sessions", st.sessions);
		cli_json_u64(&j, "logical_bytes", st.logical);
		cli_json_u64(&j, "unique_bytes", st.unique);
		cli_json_str(&j, "health", health);
		cli_json_obj_end(&j);
		cli_json_finish(&j);
	} else {
		cli_fmt_size(st.total, tot, sizeof(tot));
		cli_fmt_size(st.used, used, sizeof(used));
		cli_fmt_size(st.free, fr, sizeof(fr));
		printf("cluster   %s\n", uuid);
		printf("health    %s\n", health);
		printf("metad     %s (up)\n", conn.addr);
		printf("servers   %" PRIu32 " up, %" PRIu32 " down, %" PRIu32 " draining\n",
		       st.up, st.down, st.draining);
		printf("capacity  %s total, %s used, %s free (%.1f%% used)\n", tot, used, fr,
		       st.total ? 100.0 * (double)st.used / (double)st.total : 0.0);
		printf("files     %" PRIu64 " inodes, %" PRIu64 " blocks\n", st.inodes, st.blocks);
		printf("blocks    %" PRIu64 " under goal, %" PRIu64 " missing, %" PRIu64
		       " over goal\n", st.under_goal, st.missing, st.over_goal);
		printf("sessions  %" PRIu64 "\n", st.sessions);
	}
	cli_conn_close(&conn);
	return 0;
}

static void cli_cs_json(struct cli_json *j, const struct cli_cs *cs)
{
	cli_json_obj_begin(j, NULL);
	cli_json_u64(j, "id", cs->id);
	cli_json_str(j, "address", cs->addr);
	cli_json_str(j, "state", cli_cs_state_name(cs->state));
	cli_json_u64(j, "total", cs->total);
	cli_json_u64(j, "used", cs->used);
	cli_json_u64(j, "free", cs->free);
	cli_json_u64(j, "blocks", cs->blocks);
	cli_json_u64(j, "load", cs->load);
	cli_json_u64(j, "silent_ms", cs->silent_ms);
	cli_json_u64(j, "to_move", cs->to_move);
	cli_json_arr_begin(j, "labels");
	for (uint32_t k = 0; k < cs->nlabels; k++)
		cli_json_str(j, NULL, cs->labels[k]);
	cli_json_arr_end(j);
	cli_json_obj_end(j);
}

static void cli_labels_join(const struct cli_cs *cs, char *out, size_t outlen)
{
	size_t at = 0;

	out[0] = '\0';
	for (uint32_t k = 0; k < cs->nlabels && at < outlen; k++)
		at += (size_t)snprintf(out + at, outlen - at, "%s%s", k ? "," : "", cs->labels[k]);
	if (!cs->nlabels)
		snprintf(out, outlen, "-");
}

static int cs_list(struct cli_ctx *c, struct cli_conn *conn)
{
	static const char *const hdr[] = { ">ID", "ADDRESS", "STATE", ">TOTAL", ">USED", ">FREE",
					   ">BLOCKS", ">LOAD", ">TO-MOVE", "LABELS" };
	struct cli_table *t;
	struct cli_cs *v;
	struct cli_json j;
	char a[16], b[16], f[16], labels[1024];
	size_t n;
	int rc;

	rc = cli_cs_list(conn, &v, &n);
	if (rc)
		return cli_err("chunk-server list from %s: %s", conn->addr, cli_strerror(rc));
	if (c->json) {
		cli_json_init(&j, stdout);
		cli_json_arr_begin(&j, NULL);
		for (size_t i = 0; i < n; i++)
			cli_cs_json(&j, &v[i]);
		cli_json_arr_end(&j);
		cli_json_finish(&j);
	} else {
		t = cli_table_new(10, hdr);
		for (size_t i = 0; i < n; i++) {
			cli_fmt_size(v[i].total, a, sizeof(a));
			cli_fmt_size(v[i].used, b, sizeof(b));
			cli_fmt_size(v[i].free, f, sizeof(f));
			cli_labels_join(&v[i], labels, sizeof(labels));
			cli_table_cell(t, "%" PRIu32, v[i].id);
			cli_table_cell(t, "%s", v[i].addr);
			cli_table_cell(t, "%s", cli_cs_state_name(v[i].state));
			cli_table_cell(t, "%s", a);
			cli_table_cell(t, "%s", b);
			cli_table_cell(t, "%s", f);
			cli_table_cell(t, "%" PRIu64, v[i].blocks);
			cli_table_cell(t, "%" PRIu32, v[i].load);
			cli_table_cell(t, "%" PRIu64, v[i].to_move);
			cli_table_cell(t, "%s", labels);
		}
		cli_table_print(t, stdout);
		cli_table_free(t);
	}
	cli_cs_free(v, n);
	return 0;
}

static int cli_parse_id(const char *s, uint32_t *id)
{
	uint64_t v;

	if (conf_parse_u64(s, 1, UINT32_MAX, &v))
		return cli_usage("chunkserver", "'%s' is not a chunk-server id", s);
	*id = (uint32_t)v;
	return 0;
}

/* Finds id in a fresh list; 1 with an error printed if it is unknown. */
static int cs_fetch(struct cli_conn *conn, uint32_t id, struct cli_cs **v, size_t *n,
		    struct cli_cs **cs)
{
	int rc = cli_cs_list(conn, v, n);

	if (rc)
		return cli_err("chunk-server list from %s: %s", conn->addr, cli_strerror(rc));
	for (size_t i = 0; i < *n; i++) {
		if ((*v)[i].id == id) {
			*cs = &(*v)[i];
			return 0;
		}
	}
	cli_cs_free(*v, *n);
	*v = NULL;
	return cli_err("no chunk server with id %" PRIu32, id);
}

static int cs_show(struct cli_ctx *c, struct cli_conn *conn, uint32_t id)
{
	struct cli_cs *v, *cs;
	struct cli_json j;
	char a[16], b[16], f[16], labels[1024];
	size_t n;
	int rc;

	rc = cs_fetch(conn, id, &v, &n, &cs);
	if (rc)
		return rc;
	if (c->json) {
		cli_json_init(&j, stdout);
		cli_cs_json(&j, cs);
		cli_json_finish(&j);
	} else {
		cli_fmt_size(cs->total, a, sizeof(a));
		cli_fmt_size(cs->used, b, sizeof(b));
		cli_fmt_size(cs->free, f, sizeof(f));
		cli_labels_join(cs, labels, sizeof(labels));
		printf("id         %" PRIu32 "\n", cs->id);
		printf("address    %s\n", cs->addr);
		printf("state      %s\n", cli_cs_state_name(cs->state));
		printf("capacity   %s total, %s used, %s free\n", a, b, f);
		printf("blocks     %" PRIu64 "\n", cs->blocks);
		printf("load       %" PRIu32 "\n", cs->load);
		printf("last seen  %.1f s ago\n", (double)cs->silent_ms / 1000.0);
		printf("to move    %" PRIu64 " blocks\n", cs->to_move);
		printf("labels     %s\n", labels);
	}
	cli_cs_free(v, n);
	return 0;
}

static int cs_drain_set(struct cli_conn *conn, uint32_t id, int on)
{
	struct proto_wbuf *w = cli_conn_begin(conn, MSG_ADM_CS_DRAIN);
	struct proto_rbuf r;
	int rc;

	proto_put_u32(w, id);
	proto_put_u8(w, on ? 1 : 0);
	rc = cli_conn_call(conn, &r);
	if (rc == -ENOENT)
		return cli_err("no chunk server with id %" PRIu32, id);
	if (rc)
		return cli_err("%s chunk server %" PRIu32 ": %s", on ? "drain" : "undrain", id,
			       cli_strerror(rc));
	return 0;
}

static double cli_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Polls until server id holds nothing and nothing is left to move (a down
 * server's count is stale, so for it "nothing to move" is enough). */
static int cs_drain_wait(struct cli_ctx *c, struct cli_conn *conn, uint32_t id,
			 uint64_t timeout_s)
{
	double start = cli_now(), now;
	uint64_t first = 0, left, moved;
	struct cli_cs *v, *cs;
	struct cli_json j;
	char eta[16], took[16];
	size_t n;
	int rc, shown = 0, done;

	for (;;) {
		rc = cs_fetch(conn, id, &v, &n, &cs);
		if (rc)
			return rc;
		left = cs->to_move > cs->blocks ? cs->to_move : cs->blocks;
		done = cs->to_move == 0 && (cs->blocks == 0 || cs->state == MSG_CS_STATE_DOWN);
		cli_cs_free(v, n);
		if (left > first)
			first = left;
		moved = first - left;
		now = cli_now();
		if (done)
			break;
		if (timeout_s && now - start > (double)timeout_s) {
			if (shown)
				fputc('\n', stdout);
			return cli_err("chunk server %" PRIu32 " still holds %" PRIu64
				       " blocks after %" PRIu64 " s; it keeps draining", id, left,
				       timeout_s);
		}
		if (c->is_tty && !c->json) {
			if (moved > 0)
				cli_fmt_duration((uint64_t)((now - start) / (double)moved *
							    (double)left) + 1, eta, sizeof(eta));
			else
				snprintf(eta, sizeof(eta), "unknown");
			printf("\rdraining chunk server %" PRIu32 ": %" PRIu64 " of %" PRIu64
			       " blocks moved, %" PRIu64 " left, ETA %s   ", id, moved, first, left,
			       eta);
			fflush(stdout);
			shown = 1;
		}
		/* Half a second keeps a terminal lively without loading metad. */
		usleep(500000);
	}
	if (shown)
		fputs("\r\033[K", stdout);
	cli_fmt_duration((uint64_t)(now - start), took, sizeof(took));
	if (c->json) {
		cli_json_init(&j, stdout);
		cli_json_obj_begin(&j, NULL);
		cli_json_u64(&j, "id", id);
		cli_json_bool(&j, "drained", 1);
		cli_json_u64(&j, "blocks_moved", first);
		cli_json_double(&j, "seconds", now - start);
		cli_json_obj_end(&j);
		cli_json_finish(&j);
	} else {
		printf("chunk server %" PRIu32 " drained: %" PRIu64 " blocks moved in %s\n", id,
		       first, took);
	}
	return 0;
}

static int cs_remove(struct cli_ctx *c, struct cli_conn *conn, uint32_t id, int force)
{
	struct proto_wbuf *w = cli_conn_begin(conn, MSG_ADM_CS_REMOVE);
	struct proto_rbuf r;
	struct cli_json j;
	int rc;

	proto_put_u32(w, id);
	proto_put_u8(w, force ? 1 : 0);
	rc = cli_conn_call(conn, &r);
	if (rc == -EBUSY)
		return cli_err("chunk server %" PRIu32 " still holds the only copy of some blocks; "
			       "drain it first (casfs chunkserver drain %" PRIu32 ") or use --force",
			       id, id);
	if (rc == -ENOENT)
		return cli_err("no chunk server with id %" PRIu32, id);
	if (rc)
		return cli_err("remove chunk server %" PRIu32 ": %s", id, cli_strerror(rc));
	if (c->json) {
		cli_json_init(&j, stdout);
		cli_json_obj_begin(&j, NULL);
		cli_json_u64(&j, "id", id);
		cli_json_bool(&j, "removed", 1);
		cli_json_obj_end(&j);
		cli_json_finish(&j);
	} else {
		printf("chunk server %" PRIu32 " removed\n", id);
	}
	return 0;
}

int cli_cmd_chunkserver(struct cli_ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "no-wait", no_argument, NULL, 'W' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	int force = 0, no_wait = 0, rc, o;
	uint64_t timeout_s = 0;
	struct cli_conn conn;
	struct cli_json j;
	const char *act;
	uint32_t id = 0;

	if (argc < 2)
		return cli_usage("chunkserver", "which action? list, show, drain, undrain, remove, "
				 "deploy, start, stop, restart or logs");
	act = argv[1];
	if (!strcmp(act, "deploy") || !strcmp(act, "start") || !strcmp(act, "stop") ||
	    !strcmp(act, "restart") || !strcmp(act, "logs"))
		return cli_cmd_cs_ssh(c, argc - 1, argv + 1);
	if (strcmp(act, "list") && strcmp(act, "show") && strcmp(act, "drain") &&
	    strcmp(act, "undrain") && strcmp(act, "remove"))
		return cli_usage("chunkserver", "unknown action '%s'", act);
	optind = 0;
	opterr = 0;
	while ((o = getopt_long(argc - 1, argv + 1, "f", opts, NULL)) != -1) {
		switch (o) {
		case 'f': force = 1; break;
		case 'W': no_wait = 1; break;
		case 't':
			if (conf_parse_u64(optarg, 1, UINT32_MAX, &timeout_s))
				return cli_usage("chunkserver", "bad --timeout '%s'", optarg);
			break;
		default:
			return cli_usage("chunkserver", "unknown option '%s'", argv[optind]);
		}
	}
	argc = argc - 1 - optind;
	argv = argv + 1 + optind;
	if (strcmp(act, "list")) {
		if (argc != 1)
			return cli_usage("chunkserver", "%s needs exactly one ID", act);
		rc = cli_parse_id(argv[0], &id);
		if (rc)
			return rc;
	} else if (argc != 0) {
		return cli_usage("chunkserver", "unexpected argument '%s'", argv[0]);
	}
	rc = cli_open(c, &conn);
	if (rc)
		return rc;
	if (!strcmp(act, "list")) {
		rc = cs_list(c, &conn);
	} else if (!strcmp(act, "show")) {
		rc = cs_show(c, &conn, id);
	} else if (!strcmp(act, "remove")) {
		rc = cs_remove(c, &conn, id, force);
	} else {
		int on = !strcmp(act, "drain");

		rc = cs_drain_set(&conn, id, on);
		if (!rc && on && !no_wait) {
			rc = cs_drain_wait(c, &conn, id, timeout_s);
		} else if (!rc && c->json) {
			cli_json_init(&j, stdout);
			cli_json_obj_begin(&j, NULL);
			cli_json_u64(&j, "id", id);
			cli_json_bool(&j, "draining", on);
			cli_json_obj_end(&j);
			cli_json_finish(&j);
		} else if (!rc) {
			printf("chunk server %" PRIu32 " %s\n", id,
			       on ? "is draining" : "no longer draining");
		}
	}
	cli_conn_close(&conn);
	return rc;
}

int cli_cmd_df(struct cli_ctx *c, int argc, char **argv)
{
	struct cli_status st;
	struct cli_conn conn;
	struct cli_json j;
	char tot[16], used[16], fr[16], lg[16], un[16], sv[16];
	uint64_t saved;
	int rc;

	rc = cli_no_args("df", argc, argv);
	if (rc || (rc = cli_open(c, &conn)))
		return rc;
	rc = cli_status_get(&conn, &st);
	cli_conn_close(&conn);
	if (rc)
		return cli_err("status from metad: %s", cli_strerror(rc));
	saved = st.logical > st.unique ? st.logical - st.unique : 0;
	if (c->json) {
		cli_json_init(&j, stdout);
		cli_json_obj_begin(&j, NULL);
		cli_json_u64(&j, "total", st.total);
		cli_json_u64(&j, "used", st.used);
		cli_json_u64(&j, "free", st.free);
		cli_json_u64(&j, "logical_bytes", st.logical);
		cli_json_u64(&j, "unique_bytes", st.unique);
		cli_json_u64(&j, "dedup_saved_bytes", saved);
		cli_json_double(&j, "dedup_ratio",
				st.unique ? (double)st.logical / (double)st.unique : 1.0);
		cli_json_obj_end(&j);
		cli_json_finish(&j);
		return 0;
	}
	cli_fmt_size(st.total, tot, sizeof(tot));
	cli_fmt_size(st.used, used, sizeof(used));
	cli_fmt_size(st.free, fr, sizeof(fr));
	cli_fmt_size(st.logical, lg, sizeof(lg));
	cli_fmt_size(st.unique, un, sizeof(un));
	cli_fmt_size(saved, sv, sizeof(sv));
	printf("capacity      %s\n", tot);
	printf("used          %s (%.1f%%, all replicas)\n", used,
	       st.total ? 100.0 * (double)st.used / (double)st.total : 0.0);
	printf("free          %s\n", fr);
	printf("file data     %s (sum of file sizes)\n", lg);
	printf("unique data   %s (each block once)\n", un);
	printf("dedup saves   %s (ratio %.2fx)\n", sv,
	       st.unique ? (double)st.logical / (double)st.unique : 1.0);
	return 0;
}

static const char *cli_role_name(uint8_t role)
{
	switch (role) {
	case PROTO_ROLE_CLIENT: return "client";
	case PROTO_ROLE_CHUNKD: return "chunkd";
	case PROTO_ROLE_ADMIN: return "admin";
	default: return "unknown";
	}
}

int cli_cmd_sessions(struct cli_ctx *c, int argc, char **argv)
{
	static const char *const hdr[] = { ">SESSION", "ROLE", "NAME", ">AGE", ">OPEN-FILES" };
	char name[PROTO_STR_MAX + 1], age[16];
	uint64_t sid, age_ms, open_files;
	struct cli_table *t = NULL;
	struct cli_conn conn;
	struct proto_rbuf r;
	struct cli_json j;
	uint32_t n = 0;
	uint8_t role;
	int rc;

	rc = cli_no_args("sessions", argc, argv);
	if (rc || (rc = cli_open(c, &conn)))
		return rc;
	cli_conn_begin(&conn, MSG_ADM_SESSIONS);
	rc = cli_conn_call(&conn, &r);
	if (rc) {
		cli_conn_close(&conn);
		return cli_err("sessions from metad: %s", cli_strerror(rc));
	}
	proto_get_count(&r, 8 + 1 + 2 + 8 + 8, &n);
	if (c->json) {
		cli_json_init(&j, stdout);
		cli_json_arr_begin(&j, NULL);
	} else {
		t = cli_table_new(5, hdr);
	}
	for (uint32_t i = 0; i < n && !r.err; i++) {
		proto_get_u64(&r, &sid);
		proto_get_u8(&r, &role);
		if (proto_get_str(&r, name, sizeof(name)))
			name[0] = '\0';
		proto_get_u64(&r, &age_ms);
		proto_get_u64(&r, &open_files);
		if (c->json) {
			cli_json_obj_begin(&j, NULL);
			cli_json_u64(&j, "session", sid);
			cli_json_str(&j, "role", cli_role_name(role));
			cli_json_str(&j, "name", name);
			cli_json_u64(&j, "age_ms", age_ms);
			cli_json_u64(&j, "open_files", open_files);
			cli_json_obj_end(&j);
		} else {
			cli_fmt_duration(age_ms / 1000, age, sizeof(age));
			cli_table_cell(t, "%" PRIu64, sid);
			cli_table_cell(t, "%s", cli_role_name(role));
			cli_table_cell(t, "%s", name);
			cli_table_cell(t, "%s", age);
			cli_table_cell(t, "%" PRIu64, open_files);
		}
	}
	rc = proto_get_end(&r);
	if (c->json) {
		cli_json_arr_end(&j);
		cli_json_finish(&j);
	} else {
		cli_table_print(t, stdout);
		cli_table_free(t);
	}
	cli_conn_close(&conn);
	return rc ? cli_err("malformed session list from metad") : 0;
}
