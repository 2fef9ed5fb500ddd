/* casfs: the administrator's command line. main() takes the global options
 * (--meta, --json, --config) from anywhere on the line, finds the command
 * in the table below (which also holds every help text) and runs it. The
 * commands live in cli_cmd.c (cluster), cli_path.c (paths), local.c (local
 * cluster) and cli_ssh.c (hosts over SSH). Single-threaded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/cli_int.h"
#include "fs/log.h"

struct cli_cmd {
	const char *name;
	int (*run)(struct cli_ctx *c, int argc, char **argv);
	const char *usage;	/* one line per form, without "casfs " */
	const char *help;	/* what it does, a few lines */
};

static const struct cli_cmd cli_cmds[] = {
	{ "status", cli_cmd_status, "status",
	  "Cluster health at a glance: metad, chunk servers up/down/draining,\n"
	  "capacity and use, blocks under goal / missing / over goal, sessions." },
	{ "chunkserver", cli_cmd_chunkserver,
	  "chunkserver list\n"
	  "chunkserver show ID\n"
	  "chunkserver drain ID [--no-wait]\n"
	  "chunkserver undrain ID\n"
	  "chunkserver remove ID [--force]\n"
	  "chunkserver deploy ssh://USER@HOST[:PORT] --data DIR [--meta HOST:PORT]\n"
	  "        [--label K=V]... [-i KEYFILE] [--accept-new-host-key] [--copy-binary]\n"
	  "        [--listen HOST:PORT] [--no-systemd] [--no-wait]\n"
	  "chunkserver start|stop|restart ssh://USER@HOST[:PORT] [-i KEYFILE]\n"
	  "chunkserver logs ssh://USER@HOST[:PORT] [-n LINES] [-i KEYFILE]",
	  "Manage chunk servers. drain moves every block away and waits until the\n"
	  "server holds nothing (progress and ETA on a terminal); remove refuses\n"
	  "while the server holds the only copy of a block unless --force.\n"
	  "deploy installs and starts casfs-chunkd on a host over SSH (keys from\n"
	  "ssh-agent or -i; the host key must be in ~/.ssh/known_hosts unless\n"
	  "--accept-new-host-key) and waits until metad sees it register." },
	{ "goal", cli_cmd_goal, "goal get PATH\ngoal set [-r] N PATH",
	  "Show or set the replication goal (1..9) of a file or directory; -r\n"
	  "applies it to everything below a directory. PATH is on a casfs mount,\n"
	  "or ino:NUMBER together with --meta." },
	{ "blocksize", cli_cmd_blocksize, "blocksize set PATH SIZE",
	  "Set the block size for new files created in directory PATH (a power\n"
	  "of two from 64K to 8M, e.g. 4M)." },
	{ "info", cli_cmd_info, "info PATH",
	  "A file's size, goal and block size, and for each block its id, length,\n"
	  "the servers holding it and how many copies are missing." },
	{ "df", cli_cmd_df, "df", "Cluster capacity, use, and the space dedup saves." },
	{ "sessions", cli_cmd_sessions, "sessions", "Clients and tools connected to metad." },
	{ "local", cli_cmd_local,
	  "local up --dir DIR [--chunkservers N] [--goal G] [--mount MOUNTPOINT]\n"
	  "local down --dir DIR\n"
	  "local status --dir DIR",
	  "A whole cluster on this machine: metad and N chunk servers (default 3)\n"
	  "on free loopback ports with their data under DIR, optionally mounted.\n"
	  "down unmounts and stops exactly those processes and keeps the data;\n"
	  "up on the same DIR brings the same cluster back with its files." },
};

#define CLI_NCMDS (sizeof(cli_cmds) / sizeof(cli_cmds[0]))

static const struct cli_cmd *cli_find(const char *name)
{
	for (size_t i = 0; i < CLI_NCMDS; i++)
		if (!strcmp(cli_cmds[i].name, name))
			return &cli_cmds[i];
	return NULL;
}

static void cli_print_usage_lines(const char *usage, FILE *f)
{
	const char *p = usage;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		fprintf(f, "%s%.*s\n", p[0] == ' ' ? "" : "  casfs ", (int)n, p);
		p += n + (nl ? 1 : 0);
	}
}

static void cli_print_help(const char *name, FILE *f)
{
	const struct cli_cmd *cmd = name ? cli_find(name) : NULL;

	if (cmd) {
		fputs("usage:\n", f);
		cli_print_usage_lines(cmd->usage, f);
		fprintf(f, "\n%s\n", cmd->help);
		return;
	}
	fputs("usage: casfs [--meta HOST:PORT] [--json] [--config FILE] COMMAND ...\n\n"
	      "Run and inspect a casfs cluster. The metad address comes from --meta,\n"
	      "$CASFS_META, or 'meta = HOST:PORT' in /etc/casfs/casfs.conf or\n"
	      "~/.config/casfs/casfs.conf; path commands also find it from the mount.\n"
	      "--json prints machine-readable output. $CASFS_AUTH or 'auth_key' in the\n"
	      "config gives metad's auth key when it requires one.\n\ncommands:\n", f);
	for (size_t i = 0; i < CLI_NCMDS; i++)
		cli_print_usage_lines(cli_cmds[i].usage, f);
	fputs("  casfs help [COMMAND]\n\nRun 'casfs COMMAND --help' for details.\n", f);
}

/* Takes the global options out of argv wherever they appear (before the
 * first "--"), so "casfs --json status" and "casfs status --json" both work.
 * Returns 0, or 2 after printing a usage error. */
static int cli_global_opts(struct cli_ctx *c, int *argc, char **argv)
{
	int out = 1, i;

	for (i = 1; i < *argc; i++) {
		char *a = argv[i];

		if (!strcmp(a, "--")) {
			break;
		} else if (!strcmp(a, "--json")) {
			c->json = 1;
		} else if (!strcmp(a, "--meta") || !strcmp(a, "--config")) {
			if (i + 1 >= *argc)
				return cli_usage(NULL, "%s needs a value", a);
			if (a[2] == 'm')
				c->meta_opt = argv[++i];
			else
				c->config = argv[++i];
		} else if (!strncmp(a, "--meta=", 7)) {
			c->meta_opt = a + 7;
		} else if (!strncmp(a, "--config=", 9)) {
			c->config = a + 9;
		} else {
			argv[out++] = a;
		}
	}
	for (; i < *argc; i++)
		argv[out++] = argv[i];
	argv[out] = NULL;
	*argc = out;
	return 0;
}

int main(int argc, char **argv)
{
	struct cli_ctx c = { 0 };
	const struct cli_cmd *cmd;
	const char *auth = getenv("CASFS_AUTH");
	int rc;

	log_init("casfs", LOG_LVL_WARN, 0);
	c.is_tty = isatty(STDOUT_FILENO);
	if (auth)
		snprintf(c.auth, sizeof(c.auth), "%s", auth);
	rc = cli_global_opts(&c, &argc, argv);
	if (rc)
		return rc;
	if (argc < 2) {
		cli_print_help(NULL, stderr);
		return 2;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		if (argc > 2 && !cli_find(argv[2]))
			return cli_usage(NULL, "unknown command '%s'", argv[2]);
		cli_print_help(argc > 2 ? argv[2] : NULL, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("casfs protocol %d\n", PROTO_VERSION);
		return 0;
	}
	cmd = cli_find(argv[1]);
	if (!cmd)
		return cli_usage(NULL, "unknown command '%s'", argv[1]);
	for (int i = 2; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			cli_print_help(cmd->name, stdout);
			return 0;
		}
	}
	rc = cli_load_config(&c);
	if (rc)
		return rc;
	return cmd->run(&c, argc - 1, argv + 1);
}
