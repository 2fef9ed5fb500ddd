/* libFuzzer target for chunkd's identity file: chunk_store_ident_load() on
 * arbitrary chunkd.id contents (a damaged or foreign data folder). It must
 * return 0 with *has set, or a negative errno, never crash; what it accepts
 * must survive chunk_store_ident_save() and load back unchanged. One store
 * on a temporary folder is opened once and reused; only chunkd.id changes
 * between inputs. Corpus: corpus/chunk_ident. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chunkd/store.h"
#include "fs/log.h"

static struct chunk_store *store;
static char tmp_dir[] = "/tmp/fuzz_chunk_ident.XXXXXX";
static char id_path[256];

static void cleanup(void)
{
	char cmd[300];

	chunk_store_close(store);
	store = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_chunk_ident: could not remove %s\n", tmp_dir);
}

static void open_store(void)
{
	struct chunk_store_opts opts = { .reserve_pct = 1, .is_create = 1 };
	char data[300], *dirs[1] = { data };

	if (!mkdtemp(tmp_dir))
		abort();
	atexit(cleanup);
	snprintf(data, sizeof(data), "%s/d", tmp_dir);
	snprintf(id_path, sizeof(id_path), "%s/chunkd.id", data);
	/* errors only: the open's info lines are noise here */
	log_init("fuzz", LOG_LVL_ERROR, 0);
	if (chunk_store_open(dirs, 1, &opts, &store))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct casfs_uuid u, u2;
	uint32_t id = 0, id2 = 0;
	int fd, has = 0, has2 = 0, rc;

	if (!store)
		open_store();
	fd = open(id_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
		abort();
	close(fd);
	rc = chunk_store_ident_load(store, &u, &id, &has);
	if (rc > 0 || (rc == 0 && !has) || (rc < 0 && has))
		abort();
	if (rc == 0) {
		if (chunk_store_ident_save(store, &u, id))
			abort();
		if (chunk_store_ident_load(store, &u2, &id2, &has2) || !has2 ||
		    memcmp(u.b, u2.b, sizeof(u.b)) || id != id2)
			abort();
	}
	return 0;
}
