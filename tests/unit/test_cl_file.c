/* Unit tests for cl_file_write_src (client/cl_file.c) when its source fails
 * part way (the FUSE layer's source is a pipe libfuse spliced the WRITE
 * into): a buffer made for a whole-block write must not survive the
 * failure, since it holds none of the block's old bytes; a partial write
 * into a buffer keeps what it had, as after a short write. No metad or
 * chunk server is needed: no block here is complete enough to upload and
 * the file's (empty) block map counts as loaded. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "client/cl_file_int.h"

struct failing {
	int calls;
	size_t good;	/* bytes filled before the failure */
};

static int fill_then_fail(void *arg, void *dst, size_t n)
{
	struct failing *s = arg;

	s->calls++;
	memset(dst, 0xab, s->good < n ? s->good : n);
	return -EIO;
}

static struct cl_files *fs;
static struct cl_file *f;

static int setup(void **state)
{
	int is_new;

	(void)state;
	fs = cl_files_new(NULL, NULL, NULL, 1, 64 << 20);
	f = cl_file_get(fs, 42, &is_new);
	f->is_map_valid = 1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	cl_file_put(f);
	f = NULL;
	cl_files_free(fs);
	fs = NULL;
	return 0;
}

static void test_whole_block_dropped(void **state)
{
	struct failing s = { 0, 4096 };
	struct cl_src src = { fill_then_fail, &s };

	(void)state;
	assert_int_equal(cl_file_write_src(f, 0, f->bs, &src), -EIO);
	assert_int_equal(s.calls, 1);
	assert_null(f->dirty);
	assert_int_equal(f->ndirty, 0);
	assert_int_equal(__atomic_load_n(&fs->dirty_bytes, __ATOMIC_RELAXED), 0);
	assert_int_equal(f->size, 0);
	assert_int_equal(f->need_commit, 0);
}

static void test_partial_keeps_earlier_bytes(void **state)
{
	struct failing s = { 0, 3 };
	struct cl_src src = { fill_then_fail, &s };
	struct cl_dirty *d;

	(void)state;
	assert_int_equal(cl_file_write(f, 0, "hello", 5), 0);
	assert_int_equal(cl_file_write_src(f, 5, 10, &src), -EIO);
	assert_int_equal(s.calls, 1);
	d = cl_file_dirty_find(f, 0);
	assert_non_null(d);
	assert_int_equal(f->ndirty, 1);
	assert_int_equal(d->init, 5);	/* the failed bytes are not part of it */
	assert_int_equal(d->cov, 5);
	assert_memory_equal(d->buf, "hello", 5);
	assert_int_equal(f->size, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_whole_block_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_keeps_earlier_bytes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
