/* Unit tests for the message catalogue (fs/msg.c). For every entry, random
 * field values are generated from its request and reply schemas (nested
 * arrays included), encoded with the proto_put_* calls, validated with
 * msg_check(), decoded with the proto_get_* calls and compared; every
 * truncated prefix and any trailing byte must be rejected. The generator is
 * driven by the schema strings, so a message added to the table is covered
 * without touching this file.
 *
 * An argument selects tests by name ("roundtrip_B*"). Run with "--corpus
 * DIR" instead of as a test to write the seed corpus of the frame fuzz
 * target (one valid frame per request and per reply with fields).
 * CASFS_TEST_SEED=N changes the random seed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "fs/msg.h"
#include "fs/proto.h"
#include "fs/xmalloc.h"

/* One generated field, in encoding order. Array counts are recorded as
 * kind '#'. */
struct val {
	char kind;
	uint64_t u;
	uint8_t *buf;	/* s, n, d: owned */
	size_t len;
	struct blk_id id;
	struct casfs_uuid uuid;
	struct casfs_time t;
	struct casfs_attr a;
};

struct vals {
	struct val *v;
	size_t n;
	size_t cap;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	/* xorshift64*: reproducible from the seed, good enough for test data. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static void rnd_seed(uint64_t seed)
{
	const char *env = getenv("CASFS_TEST_SEED");

	if (env)
		seed ^= strtoull(env, NULL, 0);
	rng_state = seed ? seed : 1;
}

/* An integer of the given width: often an edge value, otherwise random. */
static uint64_t rnd_int(int bytes)
{
	uint64_t max = bytes == 8 ? UINT64_MAX : (1ULL << (8 * bytes)) - 1;

	switch (rnd() % 4) {
	case 0: return 0;
	case 1: return max;
	default: return rnd() & max;
	}
}

static struct val *vals_push(struct vals *vs, char kind)
{
	struct val *v;

	if (vs->n == vs->cap) {
		vs->cap = vs->cap ? 2 * vs->cap : 32;
		vs->v = xrealloc(vs->v, vs->cap * sizeof(*vs->v));
	}
	v = &vs->v[vs->n++];
	memset(v, 0, sizeof(*v));
	v->kind = kind;
	return v;
}

static void vals_free(struct vals *vs)
{
	for (size_t i = 0; i < vs->n; i++)
		free(vs->v[i].buf), vs->v[i].buf = NULL;
	free(vs->v), vs->v = NULL;
	vs->n = vs->cap = 0;
}

static void rnd_time(struct casfs_time *t)
{
	t->sec = rnd_int(8);
	t->nsec = rnd() % 2 ? 999999999u : (uint32_t)(rnd() % 1000000000u);
}

static void rnd_attr(struct casfs_attr *a)
{
	a->ino = rnd_int(8);
	a->mode = (uint32_t)rnd_int(4);
	a->nlink = (uint32_t)rnd_int(4);
	a->uid = (uint32_t)rnd_int(4);
	a->gid = (uint32_t)rnd_int(4);
	a->rdev = (uint32_t)rnd_int(4);
	a->size = rnd_int(8);
	a->blocks = rnd_int(8);
	rnd_time(&a->atime);
	rnd_time(&a->mtime);
	rnd_time(&a->ctime);
	a->goal = (uint8_t)rnd_int(1);
	a->block_size = (uint32_t)rnd_int(4);
}

/* Bytes of a string (no NUL) or a name (no NUL, no '/'). */
static uint8_t *rnd_text(size_t len, int is_name)
{
	uint8_t *p = xmalloc(len + 1);

	for (size_t i = 0; i < len; i++) {
		do
			p[i] = (uint8_t)rnd();
		while (p[i] == 0 || (is_name && p[i] == '/'));
	}
	p[len] = 0;
	return p;
}

static size_t schema_end(const char *schema, size_t at)
{
	int depth = 0;

	for (size_t i = at;; i++) {
		assert_true(schema[i] != '\0');
		if (schema[i] == '[')
			depth++;
		else if (schema[i] == ']' && --depth == 0)
			return i + 1;
	}
}

/* The smallest encoding of schema[from..to), recomputed here from the
 * format rules rather than taken from msg.c. */
static size_t rec_min(const char *schema, size_t from, size_t to)
{
	size_t n = 0;

	for (size_t i = from; i < to; i++) {
		switch (schema[i]) {
		case '1': n += 1; break;
		case '2': case 's': case 'n': n += 2; break;
		case '4': case 'i': case 'd': case '[': n += 4; break;
		case '8': n += 8; break;
		case 'k': n += 17; break;
		case 'u': n += 16; break;
		case 't': n += 12; break;
		case 'a': n += PROTO_ATTR_SIZE; break;
		}
		if (schema[i] == '[')
			i = schema_end(schema, i) - 1;
	}
	return n;
}

static void gen_fields(struct proto_wbuf *w, struct vals *vs, const char *schema, size_t from,
		       size_t to, int depth)
{
	for (size_t i = from; i < to; i++) {
		struct val *v = vals_push(vs, schema[i]);

		switch (schema[i]) {
		case '1': v->u = rnd_int(1); proto_put_u8(w, (uint8_t)v->u); break;
		case '2': v->u = rnd_int(2); proto_put_u16(w, (uint16_t)v->u); break;
		case '4': v->u = rnd_int(4); proto_put_u32(w, (uint32_t)v->u); break;
		case '8': v->u = rnd_int(8); proto_put_u64(w, v->u); break;
		case 'i': v->u = rnd_int(4); proto_put_i32(w, (int32_t)(uint32_t)v->u); break;
		case 's':
			v->len = rnd() % 16 == 0 ? PROTO_STR_MAX : rnd() % 3 == 0 ? 0 : rnd() % 40;
			v->buf = rnd_text(v->len, 0);
			proto_put_str(w, (const char *)v->buf);
			break;
		case 'n':
			v->len = rnd() % 8 == 0 ? PROTO_NAME_MAX : 1 + rnd() % 30;
			v->buf = rnd_text(v->len, 1);
			proto_put_str(w, (const char *)v->buf);
			break;
		case 'd':
			v->len = rnd() % 3 == 0 ? 0 : rnd() % 300;
			v->buf = xmalloc(v->len + 1);
			for (size_t k = 0; k < v->len; k++)
				v->buf[k] = (uint8_t)rnd();
			proto_put_bytes(w, v->buf, (uint32_t)v->len);
			break;
		case 'k':
			v->id.alg = rnd() % 4 ? BLK_ALG_XXH3_128K : BLK_ALG_NONE;
			for (size_t k = 0; k < sizeof(v->id.hash); k++)
				v->id.hash[k] = (uint8_t)rnd();
			proto_put_blkid(w, &v->id);
			break;
		case 'u':
			for (size_t k = 0; k < sizeof(v->uuid.b); k++)
				v->uuid.b[k] = (uint8_t)rnd();
			proto_put_uuid(w, &v->uuid);
			break;
		case 't': rnd_time(&v->t); proto_put_time(w, &v->t); break;
		case 'a': rnd_attr(&v->a); proto_put_attr(w, &v->a); break;
		case '[': {
			size_t end = schema_end(schema, i);
			size_t at = proto_put_array_begin(w);
			/* Keep nested arrays small so frames stay short. */
			uint64_t count = rnd() % (depth ? 3 : 5);

			v->kind = '#';
			v->u = count;
			for (uint64_t k = 0; k < count; k++)
				gen_fields(w, vs, schema, i + 1, end - 1, depth + 1);
			proto_put_array_end(w, at, (uint32_t)count);
			i = end - 1;
			break;
		}
		default:
			fail_msg("unknown schema letter '%c' in \"%s\"", schema[i], schema);
		}
	}
}

static int attr_equal(const struct casfs_attr *x, const struct casfs_attr *y)
{
	return x->ino == y->ino && x->mode == y->mode && x->nlink == y->nlink &&
	       x->uid == y->uid && x->gid == y->gid && x->rdev == y->rdev &&
	       x->size == y->size && x->blocks == y->blocks &&
	       x->atime.sec == y->atime.sec && x->atime.nsec == y->atime.nsec &&
	       x->mtime.sec == y->mtime.sec && x->mtime.nsec == y->mtime.nsec &&
	       x->ctime.sec == y->ctime.sec && x->ctime.nsec == y->ctime.nsec &&
	       x->goal == y->goal && x->block_size == y->block_size;
}

/* Decodes schema[from..to) with the proto_get_* calls and compares each
 * field with the generated value at *idx. */
static void cmp_fields(struct proto_rbuf *r, const struct vals *vs, size_t *idx,
		       const char *schema, size_t from, size_t to)
{
	char str[PROTO_STR_MAX + 1];

	for (size_t i = from; i < to; i++) {
		const struct val *v;
		uint64_t u = 0;

		assert_true(*idx < vs->n);
		v = &vs->v[(*idx)++];
		switch (schema[i]) {
		case '1': { uint8_t x; assert_int_equal(proto_get_u8(r, &x), 0); u = x; break; }
		case '2': { uint16_t x; assert_int_equal(proto_get_u16(r, &x), 0); u = x; break; }
		case '4': { uint32_t x; assert_int_equal(proto_get_u32(r, &x), 0); u = x; break; }
		case '8': assert_int_equal(proto_get_u64(r, &u), 0); break;
		case 'i': {
			int32_t x;

			assert_int_equal(proto_get_i32(r, &x), 0);
			u = (uint32_t)x;
			break;
		}
		case 's':
			assert_int_equal(proto_get_str(r, str, sizeof(str)), 0);
			assert_int_equal(strlen(str), v->len);
			assert_memory_equal(str, v->buf, v->len);
			break;
		case 'n':
			assert_int_equal(proto_get_name(r, str), 0);
			assert_int_equal(strlen(str), v->len);
			assert_memory_equal(str, v->buf, v->len);
			break;
		case 'd': {
			const uint8_t *p;
			uint32_t len;

			assert_int_equal(proto_get_bytes(r, &p, &len), 0);
			assert_int_equal(len, v->len);
			if (len)
				assert_memory_equal(p, v->buf, len);
			break;
		}
		case 'k': {
			struct blk_id id;

			assert_int_equal(proto_get_blkid(r, &id), 0);
			assert_true(blk_id_equal(&id, &v->id));
			break;
		}
		case 'u': {
			struct casfs_uuid uu;

			assert_int_equal(proto_get_uuid(r, &uu), 0);
			assert_memory_equal(uu.b, v->uuid.b, sizeof(uu.b));
			break;
		}
		case 't': {
			struct casfs_time t;

			assert_int_equal(proto_get_time(r, &t), 0);
			assert_true(t.sec == v->t.sec && t.nsec == v->t.nsec);
			break;
		}
		case 'a': {
			struct casfs_attr a;

			assert_int_equal(proto_get_attr(r, &a), 0);
			assert_true(attr_equal(&a, &v->a));
			break;
		}
		case '[': {
			size_t end = schema_end(schema, i);
			uint32_t n;

			assert_int_equal(v->kind, '#');
			assert_int_equal(proto_get_count(r, rec_min(schema, i + 1, end - 1), &n), 0);
			assert_int_equal(n, v->u);
			for (uint32_t k = 0; k < n; k++)
				cmp_fields(r, vs, idx, schema, i + 1, end - 1);
			i = end - 1;
			continue;
		}
		}
		if (strchr("124i8", schema[i]))
			assert_true(u == v->u);
	}
}

/* Builds one random frame for info (a request, or a successful reply). */
static void gen_frame(const struct msg_info *info, int is_reply, struct proto_wbuf *w,
		      struct vals *vs)
{
	const char *schema = is_reply ? info->rep : info->req;

	if (is_reply)
		proto_reply_begin(w, info->type, rnd(), 0);
	else
		proto_frame_begin(w, info->type, 0, rnd());
	gen_fields(w, vs, schema, 0, strlen(schema), 0);
	assert_int_equal(proto_frame_finish(w), 0);
}

/* Every proper prefix of the payload must fail validation. Long payloads
 * are sampled (both ends densely, the middle sparsely) to keep the ASan run
 * short. */
static void check_prefixes(const struct msg_info *info, int is_reply, const uint8_t *p,
			   size_t len)
{
	size_t step = len > 1024 ? 61 : 1;

	for (size_t k = 0; k < len; k += (k < 256 || len - k < 256) ? 1 : step) {
		int rc = msg_check(info->type, is_reply, p, k);

		if (rc != -EBADMSG)
			fail_msg("%s %s: prefix %zu of %zu gave %d, want -EBADMSG", info->name,
				 is_reply ? "reply" : "request", k, len, rc);
	}
}

static void roundtrip_one(const struct msg_info *info, int is_reply)
{
	const char *schema = is_reply ? info->rep : info->req;
	struct proto_wbuf w, extra;
	struct proto_hdr h;
	struct proto_rbuf r;
	struct vals vs = { 0 };
	size_t idx = 0;
	int32_t status;

	proto_wbuf_init(&w);
	proto_wbuf_init(&extra);
	gen_frame(info, is_reply, &w, &vs);

	assert_int_equal(proto_hdr_decode(w.data, PROTO_FRAME_MAX, &h), 0);
	assert_int_equal(h.type, info->type);
	assert_int_equal(h.flags, is_reply ? PROTO_F_REPLY : 0);
	assert_int_equal(h.len, w.len - PROTO_HDR_SIZE);
	assert_int_equal(msg_check(h.type, is_reply, w.data + PROTO_HDR_SIZE, h.len), 0);

	proto_rbuf_init(&r, w.data + PROTO_HDR_SIZE, h.len);
	if (is_reply) {
		assert_int_equal(proto_get_i32(&r, &status), 0);
		assert_int_equal(status, 0);
	}
	cmp_fields(&r, &vs, &idx, schema, 0, strlen(schema));
	assert_int_equal(idx, vs.n);
	assert_int_equal(proto_get_end(&r), 0);

	check_prefixes(info, is_reply, w.data + PROTO_HDR_SIZE, h.len);

	/* One trailing byte after a complete payload. */
	proto_put_raw(&extra, w.data + PROTO_HDR_SIZE, h.len);
	proto_put_u8(&extra, 0);
	assert_int_equal(msg_check(info->type, is_reply, extra.data, extra.len), -EBADMSG);

	proto_wbuf_free(&extra);
	proto_wbuf_free(&w);
	vals_free(&vs);
}

/* One cmocka test per catalogue entry; state points at its msg_info. */
static void test_roundtrip(void **state)
{
	const struct msg_info *info = *state;

	rnd_seed(0x1234567ULL * info->type + 1);
	for (int round = 0; round < 100; round++) {
		roundtrip_one(info, 0);
		roundtrip_one(info, 1);
	}
}

static void test_catalogue_wellformed(void **state)
{
	const struct msg_info *cat;
	size_t n;

	(void)state;
	cat = msg_catalogue(&n);
	assert_true(n > 40);
	for (size_t i = 0; i < n; i++) {
		const char *sch[2] = { cat[i].req, cat[i].rep };

		assert_ptr_equal(msg_lookup(cat[i].type), &cat[i]);
		assert_non_null(cat[i].name);
		for (size_t j = 0; j < i; j++) {
			assert_int_not_equal(cat[i].type, cat[j].type);
			assert_string_not_equal(cat[i].name, cat[j].name);
		}
		/* msg.c walks schemas without bounds checks: they must be
		 * balanced and use only known letters. */
		for (int s = 0; s < 2; s++) {
			int depth = 0;

			for (const char *c = sch[s]; *c; c++) {
				if (!strchr("1248isndkuta[]", *c))
					fail_msg("%s: bad letter '%c'", cat[i].name, *c);
				depth += *c == '[' ? 1 : *c == ']' ? -1 : 0;
				assert_true(depth >= 0 && depth <= 4);
				if (*c == '[')
					assert_int_not_equal(c[1], ']');
			}
			assert_int_equal(depth, 0);
		}
	}
}

/* fs/README.md is the documented contract: every entry must appear in it as
 * "NAME TYPE". Skipped when the tests do not run from the source tree. */
static void test_catalogue_documented(void **state)
{
	const struct msg_info *cat;
	FILE *f = fopen("fs/README.md", "r");
	char *doc;
	size_t n;
	long sz;

	(void)state;
	if (!f)
		skip();
	fseek(f, 0, SEEK_END);
	sz = ftell(f);
	rewind(f);
	doc = xcalloc(1, (size_t)sz + 1);
	assert_int_equal(fread(doc, 1, (size_t)sz, f), (size_t)sz);
	fclose(f);
	cat = msg_catalogue(&n);
	for (size_t i = 0; i < n; i++) {
		char want[64];

		snprintf(want, sizeof(want), "| %s %u |", cat[i].name, cat[i].type);
		if (!strstr(doc, want))
			fail_msg("fs/README.md lacks \"%s\"", want);
	}
	free(doc), doc = NULL;
}

static void test_unknown_type(void **state)
{
	static const uint8_t payload[8] = { 0 };

	(void)state;
	for (uint32_t t = 0; t <= UINT16_MAX; t++) {
		if (msg_lookup((uint16_t)t))
			continue;
		assert_int_equal(msg_check((uint16_t)t, 0, payload, 0), -EPROTO);
		assert_int_equal(msg_check((uint16_t)t, 1, payload, 4), -EPROTO);
		assert_int_equal(msg_check((uint16_t)t, 0, payload, sizeof(payload)), -EPROTO);
	}
}

static void put_status(struct proto_wbuf *w, int32_t status)
{
	proto_wbuf_reset(w);
	proto_put_i32(w, status);
}

static void test_error_replies(void **state)
{
	const struct msg_info *cat;
	struct proto_wbuf w;
	size_t n;

	(void)state;
	proto_wbuf_init(&w);
	cat = msg_catalogue(&n);
	for (size_t i = 0; i < n; i++) {
		uint16_t t = cat[i].type;

		put_status(&w, -ENOENT);
		assert_int_equal(msg_check(t, 1, w.data, w.len), 0);
		/* A failed reply carries nothing but its status. */
		proto_put_u8(&w, 0);
		assert_int_equal(msg_check(t, 1, w.data, w.len), -EBADMSG);
		put_status(&w, -ENOENT);
		proto_put_u64(&w, 1);
		assert_int_equal(msg_check(t, 1, w.data, w.len), -EBADMSG);
		/* Statuses are 0 or a negative errno. */
		put_status(&w, 1);
		assert_int_equal(msg_check(t, 1, w.data, w.len), -EBADMSG);
		put_status(&w, -4096);
		assert_int_equal(msg_check(t, 1, w.data, w.len), -EBADMSG);
		put_status(&w, INT32_MIN);
		assert_int_equal(msg_check(t, 1, w.data, w.len), -EBADMSG);
		put_status(&w, -4095);
		assert_int_equal(msg_check(t, 1, w.data, w.len), 0);
		/* No status at all. */
		for (size_t k = 0; k < 4; k++)
			assert_int_equal(msg_check(t, 1, w.data, k), -EBADMSG);
		/* A success reply is checked against its schema. */
		put_status(&w, 0);
		assert_int_equal(msg_check(t, 1, w.data, w.len), cat[i].rep[0] ? -EBADMSG : 0);
	}
	proto_wbuf_free(&w);
}

/* A count that claims more records than the payload holds is refused by
 * the validator before it walks them. */
static void test_lying_counts(void **state)
{
	struct proto_wbuf w;
	struct blk_id id = { .alg = BLK_ALG_XXH3_128K };

	(void)state;
	proto_wbuf_init(&w);
	proto_put_u32(&w, 2);
	proto_put_blkid(&w, &id);
	proto_put_blkid(&w, &id);
	assert_int_equal(msg_check(MSG_CS_DELETE, 0, w.data, w.len), 0);
	w.data[0] = 3;
	assert_int_equal(msg_check(MSG_CS_DELETE, 0, w.data, w.len), -EBADMSG);
	w.data[0] = 1;
	assert_int_equal(msg_check(MSG_CS_DELETE, 0, w.data, w.len), -EBADMSG);
	w.data[0] = 0xff;
	w.data[1] = 0xff;
	w.data[2] = 0xff;
	w.data[3] = 0xff;
	assert_int_equal(msg_check(MSG_CS_DELETE, 0, w.data, w.len), -EBADMSG);
	proto_wbuf_free(&w);
}

/* Writes one valid frame per request and per reply with fields, for the
 * frame fuzz target's seed corpus. */
static int write_corpus(const char *dir)
{
	const struct msg_info *cat;
	size_t n, files = 0;

	mkdir(dir, 0755);
	cat = msg_catalogue(&n);
	for (size_t i = 0; i < n; i++) {
		for (int is_reply = 0; is_reply < 2; is_reply++) {
			const char *schema = is_reply ? cat[i].rep : cat[i].req;
			struct proto_wbuf w;
			struct vals vs = { 0 };
			char path[512];
			FILE *f;

			if (is_reply && !strpbrk(schema, "[asnd"))
				continue;
			rnd_seed(0xc0ffeeULL * cat[i].type + (uint64_t)is_reply);
			proto_wbuf_init(&w);
			gen_frame(&cat[i], is_reply, &w, &vs);
			snprintf(path, sizeof(path), "%s/%s-%s", dir, is_reply ? "rep" : "req",
				 cat[i].name);
			f = fopen(path, "wb");
			if (!f || fwrite(w.data, 1, w.len, f) != w.len || fclose(f)) {
				perror(path);
				return 1;
			}
			files++;
			proto_wbuf_free(&w);
			vals_free(&vs);
		}
	}
	printf("%zu files written to %s\n", files, dir);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_catalogue_wellformed),
		cmocka_unit_test(test_catalogue_documented),
		cmocka_unit_test(test_unknown_type),
		cmocka_unit_test(test_error_replies),
		cmocka_unit_test(test_lying_counts),
	};
	const size_t nfixed = sizeof(fixed) / sizeof(fixed[0]);
	const struct msg_info *cat;
	struct CMUnitTest *tests;
	char (*names)[64];
	size_t n;
	int rc;

	if (argc == 3 && strcmp(argv[1], "--corpus") == 0)
		return write_corpus(argv[2]);
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	cat = msg_catalogue(&n);
	tests = xcalloc(n + nfixed, sizeof(*tests));
	names = xcalloc(n, sizeof(*names));
	memcpy(tests, fixed, sizeof(fixed));
	for (size_t i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "roundtrip_%s", cat[i].name);
		tests[nfixed + i].name = names[i];
		tests[nfixed + i].test_func = test_roundtrip;
		tests[nfixed + i].initial_state = (void *)&cat[i];
	}
	rc = _cmocka_run_group_tests("fs_msg", tests, n + nfixed, NULL, NULL);
	free(names), names = NULL;
	free(tests), tests = NULL;
	return rc;
}
