/* chunktool: drives chunk servers from shell tests.
 *
 *   chunktool fakemeta --addr-file F [--listen A] [--state F]
 *       a stand-in metad on 127.0.0.1 (cluster key and uuid kept in --state): prints events (registered, have,
 *       added, bad, heartbeat, reply ...) on stdout and runs commands read
 *       from stdin ("replicate SID HEXID LEN SRCID@ADDR", "delete SID HEXID")
 *       until stdin closes or SIGTERM.
 *   chunktool --meta ADDR CMD ...      (HELLO to metad for the cluster key)
 *   chunktool --state F CMD ...        (the key from a fakemeta state file)
 *     hash FILE                            print the block id of FILE
 *     put --server A [--chain ID@ADDR,...] [--sync] [--id HEX] FILE
 *         prints "copy SID STATUS" per copy; exit 1 and "status N" when the
 *         receiver refused
 *     get --server A --id HEX [--off N] [--len N]    data to stdout
 *     have --server A --id HEX             prints 1 or 0
 *     sync --server A --id HEX
 *     stream --server A [--chain ...] --count N [--size B] [--delay-ms D]
 *         PUTs N random blocks, one line each: "block I HEX SID:ST ..." or
 *         "block I HEX error N"; reconnects after a broken connection.
 * Exit status: 0 ok, 1 refused or failed, 2 usage. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/msg.h"
#include "fs/xmalloc.h"
#include "tests/tools/chunkcli.h"

#define TIMEOUT_MS 20000

static const char *opt(int argc, char **argv, const char *name, const char *def)
{
	for (int i = 0; i + 1 < argc; i++)
		if (!strcmp(argv[i], name))
			return argv[i + 1];
	return def;
}

static int has_flag(int argc, char **argv, const char *name)
{
	for (int i = 0; i < argc; i++)
		if (!strcmp(argv[i], name))
			return 1;
	return 0;
}

static int parse_chain(const char *s, struct ccli_hop *hops, int max)
{
	int n = 0;

	while (s && *s && n < max) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);
		char item[300];
		unsigned id;

		snprintf(item, sizeof(item), "%.*s", (int)len, s);
		if (sscanf(item, "%u@%255s", &id, hops[n].addr) != 2)
			return -1;
		hops[n++].id = id;
		s = comma ? comma + 1 : NULL;
	}
	return n;
}

static int read_file(const char *path, uint8_t **data, uint32_t *len)
{
	FILE *f = fopen(path, "rb");
	struct stat st;

	if (!f || fstat(fileno(f), &st) < 0 || st.st_size > (8 << 20)) {
		if (f)
			fclose(f);
		return -1;
	}
	*data = xmalloc((size_t)st.st_size + 1);
	*len = (uint32_t)fread(*data, 1, (size_t)st.st_size, f);
	fclose(f);
	return 0;
}

/* The stand-in metad's cluster key and uuid, kept in path (when given) so
 * a restarted stand-in is the same cluster: "SEEDHEX UUIDHEX". */
static int load_or_make_state(const char *path, uint8_t seed[BLK_KEY_SEED_SIZE],
			      struct casfs_uuid *uuid)
{
	char shex[2 * BLK_KEY_SEED_SIZE + 1], uhex[33];
	FILE *f = path ? fopen(path, "r") : NULL;

	if (f) {
		int ok = fscanf(f, "%64s %32s", shex, uhex) == 2 &&
			 !casfs_hex_parse(shex, seed, BLK_KEY_SEED_SIZE) &&
			 !casfs_hex_parse(uhex, uuid->b, sizeof(uuid->b));

		fclose(f);
		return ok ? 0 : -EINVAL;
	}
	casfs_random(seed, BLK_KEY_SEED_SIZE);
	casfs_random(uuid->b, sizeof(uuid->b));
	if (!path)
		return 0;
	f = fopen(path, "w");
	if (!f)
		return -errno;
	casfs_hex_format(seed, BLK_KEY_SEED_SIZE, shex);
	casfs_hex_format(uuid->b, sizeof(uuid->b), uhex);
	fprintf(f, "%s %s\n", shex, uhex);
	fclose(f);
	return 0;
}

static int run_fakemeta(int argc, char **argv)
{
	const char *addr_file = opt(argc, argv, "--addr-file", NULL);
	uint8_t seed[BLK_KEY_SEED_SIZE];
	struct casfs_uuid uuid;
	struct fakemeta *fm;
	char bound[64], line[1024], tmp[4200];
	FILE *f, *cmds;

	if (!addr_file)
		return 2;
	if (load_or_make_state(opt(argc, argv, "--state", NULL), seed, &uuid))
		return 1;
	if (fakemeta_start(opt(argc, argv, "--listen", "127.0.0.1:0"), seed, &uuid, stdout, &fm,
			   bound))
		return 1;
	snprintf(tmp, sizeof(tmp), "%s.tmp", addr_file);
	f = fopen(tmp, "w");
	if (!f)
		return 1;
	fprintf(f, "%s\n", bound);
	fclose(f);
	rename(tmp, addr_file);
	cmds = opt(argc, argv, "--commands", NULL) ? fopen(opt(argc, argv, "--commands", NULL), "r")
						      : stdin;
	if (!cmds)
		return 1;
	while (fgets(line, sizeof(line), cmds)) {
		int rc;

		line[strcspn(line, "\n")] = '\0';
		if (!line[0])
			continue;
		rc = fakemeta_command(fm, line);
		printf("command %s: %d\n", line, rc);
		fflush(stdout);
	}
	fakemeta_stop(fm);
	return 0;
}

static void print_copies(const struct ccli_status *st, int n)
{
	for (int i = 0; i < n; i++)
		printf("copy %u %d\n", st[i].id, st[i].status);
}

static int run_stream(int argc, char **argv, const struct blk_key *key, struct casfs_uuid *uuid,
		      const char *server, const struct ccli_hop *hops, int nhops)
{
	int count = atoi(opt(argc, argv, "--count", "10"));
	uint32_t size = (uint32_t)atoi(opt(argc, argv, "--size", "65536"));
	int delay_ms = atoi(opt(argc, argv, "--delay-ms", "0"));
	uint8_t *data = xmalloc(size);
	struct ccli c = { .fd = -1 };
	int connected = 0, failures = 0;

	for (int i = 0; i < count; i++) {
		struct ccli_status st[16];
		char hex[BLK_ID_HEX_LEN + 1];
		struct blk_id id;
		int nst = 16, rc;

		casfs_random(data, size);
		blk_hash(key, data, size, &id);
		blk_id_format(&id, hex);
		if (!connected) {
			rc = ccli_connect(&c, server, PROTO_ROLE_CLIENT, uuid, NULL, NULL, TIMEOUT_MS);
			if (rc) {
				ccli_close(&c);
				printf("block %d %s error %d\n", i, hex, rc);
				failures++;
				continue;
			}
			connected = 1;
		}
		rc = ccli_put(&c, &id, 0, hops, nhops, data, size, st, &nst);
		if (rc) {
			printf("block %d %s error %d\n", i, hex, rc);
			failures++;
			ccli_close(&c);
			connected = 0;
		} else {
			printf("block %d %s", i, hex);
			for (int k = 0; k < nst; k++)
				printf(" %u:%d", st[k].id, st[k].status);
			printf("\n");
		}
		fflush(stdout);
		if (delay_ms)
			usleep((useconds_t)delay_ms * 1000);
	}
	if (connected)
		ccli_close(&c);
	free(data);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *meta, *cmd, *server, *hexid;
	struct casfs_uuid uuid = { 0 };
	uint8_t seed[BLK_KEY_SEED_SIZE];
	uint32_t seed_len = 0;
	struct ccli_hop hops[16];
	struct blk_key key;
	struct blk_id id;
	struct ccli c;
	int nhops, rc, argi = 1;

	signal(SIGPIPE, SIG_IGN);
	if (argc >= 2 && !strcmp(argv[1], "fakemeta"))
		return run_fakemeta(argc, argv);
	if (argc < 4 || (strcmp(argv[1], "--meta") && strcmp(argv[1], "--state"))) {
		fprintf(stderr, "usage: see the top of tests/tools/chunktool.c\n");
		return 2;
	}
	meta = argv[2];
	cmd = argv[3];
	if (!strcmp(argv[1], "--state")) {
		/* the key from a stand-in metad's state file: works while it is down */
		rc = load_or_make_state(meta, seed, &uuid);
		if (rc) {
			fprintf(stderr, "chunktool: %s: %s\n", meta, strerror(-rc));
			return 1;
		}
		seed_len = BLK_KEY_SEED_SIZE;
	} else {
		rc = ccli_connect(&c, meta, PROTO_ROLE_CLIENT, &uuid, seed, &seed_len,
				  TIMEOUT_MS);
		ccli_close(&c);
		if (rc || seed_len == 0) {
			fprintf(stderr, "chunktool: HELLO to metad %s: %s\n", meta, strerror(-rc));
			return 1;
		}
	}
	argi = 4;
	argc -= argi;
	argv += argi;
	blk_key_init(&key, seed, seed_len);
	server = opt(argc, argv, "--server", NULL);
	hexid = opt(argc, argv, "--id", NULL);
	nhops = parse_chain(opt(argc, argv, "--chain", NULL), hops, 16);
	if (nhops < 0 || (hexid && blk_id_parse(hexid, &id))) {
		fprintf(stderr, "chunktool: bad --chain or --id\n");
		return 2;
	}
	if (!strcmp(cmd, "hash")) {
		char hex[BLK_ID_HEX_LEN + 1];
		uint8_t *data;
		uint32_t len;

		if (argc < 1 || read_file(argv[argc - 1], &data, &len))
			return 2;
		blk_hash(&key, data, len, &id);
		blk_id_format(&id, hex);
		printf("%s\n", hex);
		free(data);
		return 0;
	}
	if (!server)
		return 2;
	if (!strcmp(cmd, "stream"))
		return run_stream(argc, argv, &key, &uuid, server, hops, nhops);
	rc = ccli_connect(&c, server, PROTO_ROLE_CLIENT, &uuid, NULL, NULL, TIMEOUT_MS);
	if (rc) {
		fprintf(stderr, "chunktool: HELLO to %s: %s\n", server, strerror(-rc));
		printf("status %d\n", rc);
		ccli_close(&c);
		return 1;
	}
	if (!strcmp(cmd, "put")) {
		struct ccli_status st[16];
		char hex[BLK_ID_HEX_LEN + 1];
		uint8_t *data;
		uint32_t len;
		int nst = 16;

		if (argc < 1 || read_file(argv[argc - 1], &data, &len))
			return 2;
		if (!hexid)
			blk_hash(&key, data, len, &id);
		blk_id_format(&id, hex);
		printf("id %s\n", hex);
		rc = ccli_put(&c, &id, has_flag(argc, argv, "--sync") ? MSG_PUT_SYNC : 0, hops,
			      nhops, data, len, st, &nst);
		free(data);
		if (!rc)
			print_copies(st, nst);
	} else if (!strcmp(cmd, "get") && hexid) {
		uint8_t *buf = xmalloc(9 << 20);
		uint32_t got;

		rc = ccli_get(&c, &id, (uint32_t)atoi(opt(argc, argv, "--off", "0")),
			      (uint32_t)atoi(opt(argc, argv, "--len", "0")), buf, 9 << 20, &got);
		if (!rc)
			fwrite(buf, 1, got, stdout);
		free(buf);
	} else if (!strcmp(cmd, "have") && hexid) {
		int present = 0;

		rc = ccli_have(&c, &id, &present);
		if (!rc)
			printf("%d\n", present);
	} else if (!strcmp(cmd, "sync") && hexid) {
		rc = ccli_sync(&c, &id, 1);
	} else {
		ccli_close(&c);
		return 2;
	}
	ccli_close(&c);
	if (rc) {
		printf("status %d\n", rc);
		fflush(stdout);
		fprintf(stderr, "chunktool: %s: %s\n", cmd, strerror(-rc));
		return 1;
	}
	return 0;
}
