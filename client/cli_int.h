/* Internals shared by the casfs CLI's files (cli*.c, local.c, cli_ssh.c):
 * the invocation context, error helpers and the decoded admin replies. Not
 * a public API: nothing outside the CLI includes it. */
#ifndef CASFS_CLI_INT_H
#define CASFS_CLI_INT_H

#include <stdint.h>

#include "client/cli_conn.h"
#include "client/cli_out.h"
#include "fs/ids.h"

/* How long any single exchange with metad may take before the command
 * fails: long enough for a recursive goal change on a big tree. */
#define CLI_TIMEOUT_MS 60000

struct cli_ctx {
	const char *meta_opt;	/* --meta, or NULL */
	const char *config;	/* --config, or NULL */
	int json;		/* --json */
	int is_tty;		/* stdout is a terminal: progress allowed */
	char conf_meta[256];	/* "meta" from a config file */
	char auth[256];		/* $CASFS_AUTH or config "auth_key" */
};


/* Prints "casfs: MESSAGE" on stderr and returns 1 (the exit status). */
int cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* For bad arguments: the message and a pointer to help; returns 2. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Loads the config: --config if given (must exist), else
 * /etc/casfs/casfs.conf then ~/.config/casfs/casfs.conf. 0, or 1 with the
 * error printed. */
int cli_load_config(struct cli_ctx *c);

/* The metad address for commands that take no path: --meta, $CASFS_META,
 * then the config file. NULL (and an error printed) if none is known. */
const char *cli_meta_addr(struct cli_ctx *c);
/* Opens an admin connection to addr; prints one clear line and returns 1
 * on failure, 0 on success. */
int cli_connect(struct cli_ctx *c, const char *addr, struct cli_conn *conn);
/* Finds a casfs binary (out: PATH_MAX bytes): next to this casfs first
 * (/proc/self/exe), then on $PATH. 0, or 1 with the error printed. */
int cli_find_bin(const char *name, char *out);
/* The text for a metad error status in this context ("permission denied"). */
const char *cli_strerror(int rc);

/* Decoded ADM_STATUS. */
struct cli_status {
	struct casfs_uuid cluster;
	uint32_t up, down, draining;
	uint64_t total, used, free, inodes, blocks;
	uint64_t under_goal, missing, over_goal, sessions, logical, unique;
};

/* One ADM_CS_LIST entry; addr and labels are owned by the list. */
struct cli_cs {
	uint32_t id;
	char *addr;
	uint8_t state;
	uint64_t total, used, free, blocks;
	uint32_t load;
	uint64_t silent_ms, to_move;
	char **labels;
	uint32_t nlabels;
};

int cli_status_get(struct cli_conn *conn, struct cli_status *st);
/* Fetches the chunk-server list; free with cli_cs_free. Returns 0 or a
 * negative errno (-EPROTO for a reply that does not decode). */
int cli_cs_list(struct cli_conn *conn, struct cli_cs **out, size_t *n);
void cli_cs_free(struct cli_cs *v, size_t n);
const char *cli_cs_state_name(uint8_t state);
/* ADM_SET_GOAL; *changed receives the number of inodes changed. */
int cli_set_goal(struct cli_conn *conn, uint64_t ino, unsigned goal, int recursive,
		 uint64_t *changed);

/* Commands, each in the file that implements it. argv[0] is the command. */
int cli_cmd_status(struct cli_ctx *c, int argc, char **argv);
int cli_cmd_chunkserver(struct cli_ctx *c, int argc, char **argv);
int cli_cmd_df(struct cli_ctx *c, int argc, char **argv);
int cli_cmd_sessions(struct cli_ctx *c, int argc, char **argv);
int cli_cmd_goal(struct cli_ctx *c, int argc, char **argv);
int cli_cmd_blocksize(struct cli_ctx *c, int argc, char **argv);
int cli_cmd_info(struct cli_ctx *c, int argc, char **argv);
int cli_cmd_local(struct cli_ctx *c, int argc, char **argv);
/* Parses ssh://USER@HOST[:PORT] (scheme and user optional; the user
 * defaults to $USER, the port to 22; IPv6 hosts in brackets). 0 or -EINVAL. */
int cli_ssh_parse_url(const char *url, char *user, size_t userlen, char *host, size_t hostlen,
		      uint16_t *port);
/* chunkserver deploy|start|stop|restart|logs (SSH), argv[0] the action. */
int cli_cmd_cs_ssh(struct cli_ctx *c, int argc, char **argv);

#endif
