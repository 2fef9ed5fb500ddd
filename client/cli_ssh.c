#include "client/cli_int.h"

int cli_cmd_cs_ssh(struct cli_ctx *c, int argc, char **argv)
{
	(void)c;
	(void)argc;
	return cli_err("chunkserver %s: not built yet", argv[0]);
}
