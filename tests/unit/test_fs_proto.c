/* Unit tests for the codec (fs/proto.c) and whole-frame reads (fs/net.c):
 * the header layout, every put/get pair and its limits, sticky errors,
 * truncation, and length fields that lie, both in memory and over a
 * socketpair, where an oversized frame must be refused before anything is
 * allocated for it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "fs/msg.h"
#include "fs/net.h"
#include "fs/proto.h"
#include "fs/xmalloc.h"

static void test_hdr_layout(void **state)
{
	static const uint8_t want[PROTO_HDR_SIZE] = {
		0x04, 0x03, 0x02, 0x01,		/* len */
		0x2a, 0x00,			/* type */
		0x01, 0x00,			/* flags */
		0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
	};
	struct proto_hdr h = { .len = 0x01020304, .type = 42, .flags = PROTO_F_REPLY,
			       .reqid = 0x0102030405060708ULL };
	struct proto_hdr g;
	uint8_t buf[PROTO_HDR_SIZE];

	(void)state;
	proto_hdr_encode(&h, buf);
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(proto_hdr_decode(buf, UINT32_MAX, &g), -EMSGSIZE);
	h.len = 77;
	proto_hdr_encode(&h, buf);
	assert_int_equal(proto_hdr_decode(buf, PROTO_FRAME_MAX, &g), 0);
	assert_int_equal(g.len, 77);
	assert_int_equal(g.type, 42);
	assert_int_equal(g.flags, PROTO_F_REPLY);
	assert_true(g.reqid == h.reqid);
}

static void test_hdr_limits(void **state)
{
	struct proto_hdr h = { .type = MSG_PING }, g;
	uint8_t buf[PROTO_HDR_SIZE];

	(void)state;
	h.len = 100;
	proto_hdr_encode(&h, buf);
	assert_int_equal(proto_hdr_decode(buf, 100, &g), 0);
	assert_int_equal(proto_hdr_decode(buf, 99, &g), -EMSGSIZE);
	/* PROTO_FRAME_MAX binds even when the caller allows more. */
	h.len = PROTO_FRAME_MAX;
	proto_hdr_encode(&h, buf);
	assert_int_equal(proto_hdr_decode(buf, UINT32_MAX, &g), 0);
	h.len = PROTO_FRAME_MAX + 1;
	proto_hdr_encode(&h, buf);
	assert_int_equal(proto_hdr_decode(buf, UINT32_MAX, &g), -EMSGSIZE);
	h.len = UINT32_MAX;
	proto_hdr_encode(&h, buf);
	assert_int_equal(proto_hdr_decode(buf, UINT32_MAX, &g), -EMSGSIZE);
	/* Only the reply bit is defined. */
	h.len = 0;
	for (int bit = 1; bit < 16; bit++) {
		h.flags = (uint16_t)(1u << bit);
		proto_hdr_encode(&h, buf);
		assert_int_equal(proto_hdr_decode(buf, PROTO_FRAME_MAX, &g), -EBADMSG);
	}
}

static void test_ints(void **state)
{
	struct proto_wbuf w;
	struct proto_rbuf r;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	int32_t i32;

	(void)state;
	proto_wbuf_init(&w);
	proto_put_u8(&w, 0xfe);
	proto_put_u16(&w, 0xfedc);
	proto_put_u32(&w, 0xfedcba98u);
	proto_put_u64(&w, 0xfedcba9876543210ULL);
	proto_put_i32(&w, -ENOENT);
	proto_put_i32(&w, INT32_MIN);
	proto_put_u64(&w, UINT64_MAX);
	assert_int_equal(w.len, 1 + 2 + 4 + 8 + 4 + 4 + 8);
	/* Little-endian on the wire whatever the host is. */
	assert_int_equal(w.data[1], 0xdc);
	assert_int_equal(w.data[2], 0xfe);
	assert_int_equal(w.data[3], 0x98);
	assert_int_equal(w.data[7], 0x10);

	proto_rbuf_init(&r, w.data, w.len);
	assert_int_equal(proto_get_u8(&r, &u8), 0);
	assert_int_equal(u8, 0xfe);
	assert_int_equal(proto_get_u16(&r, &u16), 0);
	assert_int_equal(u16, 0xfedc);
	assert_int_equal(proto_get_u32(&r, &u32), 0);
	assert_int_equal(u32, 0xfedcba98u);
	assert_int_equal(proto_get_u64(&r, &u64), 0);
	assert_true(u64 == 0xfedcba9876543210ULL);
	assert_int_equal(proto_get_i32(&r, &i32), 0);
	assert_int_equal(i32, -ENOENT);
	assert_int_equal(proto_get_i32(&r, &i32), 0);
	assert_int_equal(i32, INT32_MIN);
	assert_int_equal(proto_get_u64(&r, &u64), 0);
	assert_true(u64 == UINT64_MAX);
	assert_int_equal(proto_get_end(&r), 0);
	/* Past the end. */
	assert_int_equal(proto_get_u8(&r, &u8), -EBADMSG);
	proto_wbuf_free(&w);
}

static void test_bytes_and_raw(void **state)
{
	static const uint8_t blob[5] = { 0, 1, 0, 2, 0 };
	struct proto_wbuf w;
	struct proto_rbuf r;
	const uint8_t *p;
	uint32_t len;
	uint8_t raw[3];

	(void)state;
	proto_wbuf_init(&w);
	proto_put_bytes(&w, blob, sizeof(blob));
	proto_put_bytes(&w, NULL, 0);
	proto_put_raw(&w, "xyz", 3);
	proto_rbuf_init(&r, w.data, w.len);
	assert_int_equal(proto_get_bytes(&r, &p, &len), 0);
	assert_int_equal(len, sizeof(blob));
	assert_memory_equal(p, blob, sizeof(blob));
	assert_int_equal(proto_get_bytes(&r, &p, &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(proto_get_raw(&r, raw, 3), 0);
	assert_memory_equal(raw, "xyz", 3);
	assert_int_equal(proto_get_end(&r), 0);

	/* A data length past the end of the buffer, up to UINT32_MAX. */
	for (int k = 0; k < 2; k++) {
		uint32_t lie = k ? UINT32_MAX : sizeof(blob) + 1;

		proto_wbuf_reset(&w);
		proto_put_u32(&w, lie);
		proto_put_raw(&w, blob, sizeof(blob));
		proto_rbuf_init(&r, w.data, w.len);
		assert_int_equal(proto_get_bytes(&r, &p, &len), -EBADMSG);
		assert_null(p);
		assert_int_equal(len, 0);
	}
	proto_wbuf_free(&w);
}

/* Encodes a u16-length string of n copies of c (bypassing proto_put_str,
 * which cannot produce out-of-limit strings). */
static void put_raw_str(struct proto_wbuf *w, size_t n, char c)
{
	char *s = xmalloc(n + 1);

	memset(s, c, n);
	proto_put_u16(w, (uint16_t)n);
	proto_put_raw(w, s, n);
	free(s), s = NULL;
}

static int get_str_of(struct proto_wbuf *w, size_t cap)
{
	struct proto_rbuf r;
	char *out = xmalloc(cap);
	int rc;

	proto_rbuf_init(&r, w->data, w->len);
	rc = proto_get_str(&r, out, cap);
	if (rc == 0)
		rc = proto_get_end(&r);
	free(out), out = NULL;
	return rc;
}

static int get_name_of(struct proto_wbuf *w, char out[PROTO_NAME_MAX + 1])
{
	struct proto_rbuf r;

	proto_rbuf_init(&r, w->data, w->len);
	if (proto_get_name(&r, out))
		return r.err;
	return proto_get_end(&r);
}

static void test_strings(void **state)
{
	struct proto_wbuf w;
	struct proto_rbuf r;
	char out[PROTO_STR_MAX + 1];

	(void)state;
	proto_wbuf_init(&w);
	proto_put_str(&w, "");
	proto_put_str(&w, "hello");
	proto_rbuf_init(&r, w.data, w.len);
	assert_int_equal(proto_get_str(&r, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(proto_get_str(&r, out, sizeof(out)), 0);
	assert_string_equal(out, "hello");
	assert_int_equal(proto_get_end(&r), 0);

	proto_wbuf_reset(&w);
	put_raw_str(&w, PROTO_STR_MAX, 'x');
	assert_int_equal(get_str_of(&w, PROTO_STR_MAX + 1), 0);
	/* One byte short of room for the NUL. */
	assert_int_equal(get_str_of(&w, PROTO_STR_MAX), -EBADMSG);
	proto_wbuf_reset(&w);
	put_raw_str(&w, PROTO_STR_MAX + 1, 'x');
	assert_int_equal(get_str_of(&w, PROTO_STR_MAX + 2), -EBADMSG);
	/* Embedded NUL. */
	proto_wbuf_reset(&w);
	proto_put_u16(&w, 3);
	proto_put_raw(&w, "a\0b", 3);
	assert_int_equal(get_str_of(&w, sizeof(out)), -EBADMSG);
	/* Length past the buffer. */
	proto_wbuf_reset(&w);
	proto_put_u16(&w, 10);
	proto_put_raw(&w, "abc", 3);
	assert_int_equal(get_str_of(&w, sizeof(out)), -EBADMSG);
	proto_wbuf_free(&w);
}

static void test_names(void **state)
{
	struct proto_wbuf w;
	char out[PROTO_NAME_MAX + 1];

	(void)state;
	proto_wbuf_init(&w);
	put_raw_str(&w, 1, 'a');
	assert_int_equal(get_name_of(&w, out), 0);
	assert_string_equal(out, "a");
	proto_wbuf_reset(&w);
	put_raw_str(&w, PROTO_NAME_MAX, 'n');
	assert_int_equal(get_name_of(&w, out), 0);
	assert_int_equal(strlen(out), PROTO_NAME_MAX);
	proto_wbuf_reset(&w);
	put_raw_str(&w, PROTO_NAME_MAX + 1, 'n');
	assert_int_equal(get_name_of(&w, out), -EBADMSG);
	proto_wbuf_reset(&w);
	put_raw_str(&w, 0, 'n');
	assert_int_equal(get_name_of(&w, out), -EBADMSG);
	proto_wbuf_reset(&w);
	proto_put_str(&w, "a/b");
	assert_int_equal(get_name_of(&w, out), -EBADMSG);
	assert_string_equal(out, "");
	proto_wbuf_reset(&w);
	proto_put_str(&w, "/");
	assert_int_equal(get_name_of(&w, out), -EBADMSG);
	proto_wbuf_reset(&w);
	proto_put_u16(&w, 3);
	proto_put_raw(&w, "a\0b", 3);
	assert_int_equal(get_name_of(&w, out), -EBADMSG);
	/* "." and ".." are legal on the wire; metad refuses them itself. */
	proto_wbuf_reset(&w);
	proto_put_str(&w, "..");
	assert_int_equal(get_name_of(&w, out), 0);
	proto_wbuf_free(&w);
}

static void test_records(void **state)
{
	struct blk_id id = { .alg = BLK_ALG_XXH3_128K }, nid = { .alg = BLK_ALG_NONE }, gid;
	struct casfs_uuid u, gu;
	struct casfs_time t = { .sec = UINT64_MAX, .nsec = 999999999u }, gt;
	struct casfs_attr a = {
		.ino = 1, .mode = 0100644, .nlink = 2, .uid = 3, .gid = 4, .rdev = 5,
		.size = 1ULL << 40, .blocks = 7, .atime = { 8, 9 }, .mtime = { 10, 11 },
		.ctime = { 12, 999999999u }, .goal = 3, .block_size = 1u << 20,
	}, ga;
	struct proto_wbuf w;
	struct proto_rbuf r;

	(void)state;
	for (int i = 0; i < 16; i++) {
		id.hash[i] = (uint8_t)(i * 17);
		u.b[i] = (uint8_t)(255 - i);
	}
	proto_wbuf_init(&w);
	proto_put_blkid(&w, &id);
	proto_put_blkid(&w, &nid);
	proto_put_uuid(&w, &u);
	proto_put_time(&w, &t);
	proto_put_attr(&w, &a);
	assert_int_equal(w.len, 2 * BLK_ID_SIZE + 16 + 12 + PROTO_ATTR_SIZE);
	proto_rbuf_init(&r, w.data, w.len);
	assert_int_equal(proto_get_blkid(&r, &gid), 0);
	assert_true(blk_id_equal(&gid, &id));
	assert_int_equal(proto_get_blkid(&r, &gid), 0);
	assert_true(blk_id_is_null(&gid));
	assert_int_equal(proto_get_uuid(&r, &gu), 0);
	assert_memory_equal(gu.b, u.b, 16);
	assert_int_equal(proto_get_time(&r, &gt), 0);
	assert_true(gt.sec == t.sec && gt.nsec == t.nsec);
	memset(&ga, 0, sizeof(ga));
	assert_int_equal(proto_get_attr(&r, &ga), 0);
	assert_true(ga.ino == a.ino && ga.mode == a.mode && ga.nlink == a.nlink &&
		    ga.uid == a.uid && ga.gid == a.gid && ga.rdev == a.rdev &&
		    ga.size == a.size && ga.blocks == a.blocks);
	assert_true(ga.atime.sec == 8 && ga.atime.nsec == 9 && ga.mtime.sec == 10 &&
		    ga.mtime.nsec == 11 && ga.ctime.sec == 12 && ga.ctime.nsec == 999999999u);
	assert_int_equal(ga.goal, 3);
	assert_int_equal(ga.block_size, 1u << 20);
	assert_int_equal(proto_get_end(&r), 0);

	/* Nanoseconds must be below one second. */
	proto_wbuf_reset(&w);
	t.nsec = 1000000000u;
	proto_put_time(&w, &t);
	proto_rbuf_init(&r, w.data, w.len);
	assert_int_equal(proto_get_time(&r, &gt), -EBADMSG);
	/* ... inside an attribute record too. */
	proto_wbuf_reset(&w);
	a.mtime.nsec = 1000000000u;
	proto_put_attr(&w, &a);
	proto_rbuf_init(&r, w.data, w.len);
	assert_int_equal(proto_get_attr(&r, &ga), -EBADMSG);
	/* Unknown block-id tags. */
	for (int tag = 2; tag < 256; tag++) {
		id.alg = (uint8_t)tag;
		proto_wbuf_reset(&w);
		proto_put_blkid(&w, &id);
		proto_rbuf_init(&r, w.data, w.len);
		assert_int_equal(proto_get_blkid(&r, &gid), -EBADMSG);
	}
	proto_wbuf_free(&w);
}

static void test_arrays(void **state)
{
	struct proto_wbuf w;
	struct proto_rbuf r;
	uint32_t n, v;
	size_t at;

	(void)state;
	proto_wbuf_init(&w);
	at = proto_put_array_begin(&w);
	for (uint32_t i = 0; i < 3; i++)
		proto_put_u32(&w, i * 10);
	proto_put_array_end(&w, at, 3);
	proto_rbuf_init(&r, w.data, w.len);
	assert_int_equal(proto_get_count(&r, 4, &n), 0);
	assert_int_equal(n, 3);
	for (uint32_t i = 0; i < n; i++) {
		assert_int_equal(proto_get_u32(&r, &v), 0);
		assert_int_equal(v, i * 10);
	}
	assert_int_equal(proto_get_end(&r), 0);

	/* Three 4-byte records cannot be 5-byte ones. */
	proto_rbuf_init(&r, w.data, w.len);
	assert_int_equal(proto_get_count(&r, 5, &n), -EBADMSG);
	assert_int_equal(n, 0);
	/* A count that lies, up to UINT32_MAX, even with tiny records. */
	for (int k = 0; k < 3; k++) {
		static const uint32_t lies[] = { 4, 1u << 20, UINT32_MAX };

		proto_wbuf_reset(&w);
		proto_put_u32(&w, lies[k]);
		proto_put_raw(&w, "abc", 3);
		proto_rbuf_init(&r, w.data, w.len);
		assert_int_equal(proto_get_count(&r, 1, &n), -EBADMSG);
		assert_int_equal(n, 0);
		proto_rbuf_init(&r, w.data, w.len);
		assert_int_equal(proto_get_count(&r, 0, &n), -EBADMSG);
	}
	/* An empty array. */
	proto_wbuf_reset(&w);
	proto_put_u32(&w, 0);
	proto_rbuf_init(&r, w.data, w.len);
	assert_int_equal(proto_get_count(&r, 100, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(proto_get_end(&r), 0);
	proto_wbuf_free(&w);
}

static void test_sticky_errors(void **state)
{
	static const uint8_t buf[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
	struct proto_rbuf r;
	uint64_t u64;
	uint32_t u32;
	uint8_t u8;

	(void)state;
	proto_rbuf_init(&r, buf, sizeof(buf));
	assert_int_equal(proto_get_u64(&r, &u64), 0);
	assert_int_equal(proto_get_u32(&r, &u32), -EBADMSG);
	/* Two bytes remain, but the reader has failed. */
	assert_int_equal(proto_get_u8(&r, &u8), -EBADMSG);
	assert_int_equal(u8, 0);
	assert_int_equal(proto_get_end(&r), -EBADMSG);

	/* A limit violation is sticky as well. */
	{
		struct proto_wbuf w;
		char name[PROTO_NAME_MAX + 1];

		proto_wbuf_init(&w);
		proto_put_str(&w, "a/b");
		proto_put_u8(&w, 7);
		proto_rbuf_init(&r, w.data, w.len);
		assert_int_equal(proto_get_name(&r, name), -EBADMSG);
		assert_int_equal(proto_get_u8(&r, &u8), -EBADMSG);
		assert_int_equal(proto_get_end(&r), -EBADMSG);
		proto_wbuf_free(&w);
	}
}

static void test_trailing_bytes(void **state)
{
	static const uint8_t buf[5] = { 0 };
	struct proto_rbuf r;
	uint32_t u32;

	(void)state;
	proto_rbuf_init(&r, buf, sizeof(buf));
	assert_int_equal(proto_get_u32(&r, &u32), 0);
	assert_int_equal(proto_get_end(&r), -EBADMSG);
	proto_rbuf_init(&r, buf, 0);
	assert_int_equal(proto_get_end(&r), 0);
}

static void test_frame_build(void **state)
{
	struct proto_wbuf w;
	struct proto_hdr h;
	struct proto_rbuf r;
	int32_t status;

	(void)state;
	proto_wbuf_init(&w);
	proto_reply_begin(&w, MSG_GETATTR, 99, -ENOENT);
	assert_int_equal(proto_frame_finish(&w), 0);
	assert_int_equal(w.len, PROTO_HDR_SIZE + 4);
	assert_int_equal(proto_hdr_decode(w.data, PROTO_FRAME_MAX, &h), 0);
	assert_int_equal(h.len, 4);
	assert_int_equal(h.type, MSG_GETATTR);
	assert_int_equal(h.flags, PROTO_F_REPLY);
	assert_int_equal(h.reqid, 99);
	proto_rbuf_init(&r, w.data + PROTO_HDR_SIZE, h.len);
	assert_int_equal(proto_get_i32(&r, &status), 0);
	assert_int_equal(status, -ENOENT);
	assert_int_equal(msg_check(h.type, 1, w.data + PROTO_HDR_SIZE, h.len), 0);

	/* frame_begin discards what was in the buffer. */
	proto_frame_begin(&w, MSG_PING, 0, 5);
	assert_int_equal(proto_frame_finish(&w), 0);
	assert_int_equal(w.len, PROTO_HDR_SIZE);

	/* A payload over the limit cannot be framed. */
	proto_frame_begin(&w, MSG_BLK_PUT, 0, 6);
	{
		uint8_t *big = xcalloc(1, PROTO_FRAME_MAX + 1);

		proto_put_raw(&w, big, PROTO_FRAME_MAX);
		assert_int_equal(proto_frame_finish(&w), 0);
		proto_put_u8(&w, 0);
		assert_int_equal(proto_frame_finish(&w), -EMSGSIZE);
		free(big), big = NULL;
	}
	proto_wbuf_free(&w);
	assert_null(w.data);
}

/* A valid, non-trivial frame: a COMMIT request with two entries. */
static void build_commit(struct proto_wbuf *w)
{
	struct casfs_time t = { 1700000000, 5 };
	struct blk_id id = { .alg = BLK_ALG_XXH3_128K, .hash = { 1, 2, 3 } };
	size_t at, at2;

	proto_frame_begin(w, MSG_COMMIT, 0, 0x1122334455667788ULL);
	proto_put_u64(w, 42);
	proto_put_u64(w, 3u << 20);
	proto_put_time(w, &t);
	proto_put_u32(w, 0);
	at = proto_put_array_begin(w);
	for (uint32_t i = 0; i < 2; i++) {
		proto_put_u64(w, i);
		proto_put_blkid(w, &id);
		proto_put_u32(w, 1u << 20);
		at2 = proto_put_array_begin(w);
		proto_put_u32(w, 7);
		proto_put_u32(w, 9);
		proto_put_array_end(w, at2, 2);
	}
	proto_put_array_end(w, at, 2);
	assert_int_equal(proto_frame_finish(w), 0);
}

/* Every truncation of a valid frame is refused: with the header's length
 * left as is (the stream ends early) and with the header patched to the
 * shorter length (the payload itself is incomplete). */
static void test_truncated_frames(void **state)
{
	struct proto_wbuf w, payload;
	struct proto_hdr h;

	(void)state;
	proto_wbuf_init(&w);
	proto_wbuf_init(&payload);
	build_commit(&w);
	assert_int_equal(msg_check(MSG_COMMIT, 0, w.data + PROTO_HDR_SIZE,
				   w.len - PROTO_HDR_SIZE), 0);
	for (size_t k = 0; k < w.len; k++) {
		int sv[2];

		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		assert_int_equal(net_write_full(sv[0], w.data, k), 0);
		close(sv[0]);
		assert_int_equal(net_frame_read(sv[1], PROTO_FRAME_MAX, &h, &payload),
				 -ECONNRESET);
		close(sv[1]);
		if (k >= PROTO_HDR_SIZE)
			assert_int_equal(msg_check(MSG_COMMIT, 0, w.data + PROTO_HDR_SIZE,
						   k - PROTO_HDR_SIZE), -EBADMSG);
	}
	proto_wbuf_free(&payload);
	proto_wbuf_free(&w);
}

static void test_net_frame_read(void **state)
{
	struct proto_wbuf w, payload;
	struct proto_hdr h = { 0 }, g;
	uint8_t hb[PROTO_HDR_SIZE];
	int sv[2];

	(void)state;
	proto_wbuf_init(&w);
	proto_wbuf_init(&payload);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);

	/* Two frames back to back arrive whole and in order. */
	build_commit(&w);
	assert_int_equal(net_frame_write(sv[0], &w), 0);
	proto_frame_begin(&w, MSG_PING, 0, 3);
	assert_int_equal(proto_frame_finish(&w), 0);
	assert_int_equal(net_frame_write(sv[0], &w), 0);
	assert_int_equal(net_frame_read(sv[1], PROTO_FRAME_MAX, &g, &payload), 0);
	assert_int_equal(g.type, MSG_COMMIT);
	assert_true(g.reqid == 0x1122334455667788ULL);
	assert_int_equal(payload.len, g.len);
	assert_int_equal(msg_check(g.type, 0, payload.data, payload.len), 0);
	assert_int_equal(net_frame_read(sv[1], PROTO_FRAME_MAX, &g, &payload), 0);
	assert_int_equal(g.type, MSG_PING);
	assert_int_equal(payload.len, 0);

	/* A header announcing more than the reader's limit: refused before a
	 * byte of payload is read or allocated. */
	proto_wbuf_free(&payload);
	h.type = MSG_BLK_PUT;
	h.len = 4096;
	proto_hdr_encode(&h, hb);
	assert_int_equal(net_write_full(sv[0], hb, sizeof(hb)), 0);
	assert_int_equal(net_frame_read(sv[1], 4095, &g, &payload), -EMSGSIZE);
	assert_null(payload.data);
	assert_int_equal(payload.cap, 0);
	/* ... and more than PROTO_FRAME_MAX, whatever the caller allows. */
	h.len = UINT32_MAX;
	proto_hdr_encode(&h, hb);
	assert_int_equal(net_write_full(sv[0], hb, sizeof(hb)), 0);
	assert_int_equal(net_frame_read(sv[1], UINT32_MAX, &g, &payload), -EMSGSIZE);
	assert_null(payload.data);
	h.len = PROTO_FRAME_MAX + 1;
	proto_hdr_encode(&h, hb);
	assert_int_equal(net_write_full(sv[0], hb, sizeof(hb)), 0);
	assert_int_equal(net_frame_read(sv[1], UINT32_MAX, &g, &payload), -EMSGSIZE);
	assert_null(payload.data);
	/* Unknown flag bits. */
	h.len = 0;
	h.flags = 0x8000;
	proto_hdr_encode(&h, hb);
	assert_int_equal(net_write_full(sv[0], hb, sizeof(hb)), 0);
	assert_int_equal(net_frame_read(sv[1], PROTO_FRAME_MAX, &g, &payload), -EBADMSG);

	close(sv[0]);
	close(sv[1]);
	proto_wbuf_free(&payload);
	proto_wbuf_free(&w);
}

/* An argument selects tests by name (cmocka's * and ? wildcards). */
int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hdr_layout),
		cmocka_unit_test(test_hdr_limits),
		cmocka_unit_test(test_ints),
		cmocka_unit_test(test_bytes_and_raw),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_arrays),
		cmocka_unit_test(test_sticky_errors),
		cmocka_unit_test(test_trailing_bytes),
		cmocka_unit_test(test_frame_build),
		cmocka_unit_test(test_truncated_frames),
		cmocka_unit_test(test_net_frame_read),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("fs_proto", tests, NULL, NULL);
}
