/* libFuzzer target for everything a daemon does with a frame from a peer:
 * the header decoder, msg_check() of the payload as a request and as a
 * reply of the type the header names, and the proto_get_* record decoders
 * driven by the input. Besides "no crash, no sanitizer report" it checks
 * the validator's promises: a payload it accepts decodes field by field
 * with the proto_get_* calls and re-encodes to the same bytes, and is
 * rejected once a byte is cut off or added; the header round-trips.
 *
 * Input: a 16-byte frame header followed by the payload (the seed corpus in
 * corpus/frame holds valid frames of every type). Build with
 * `make BUILD=build/fuzz fuzz-targets`. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs/msg.h"
#include "fs/proto.h"

static size_t schema_end(const char *schema, size_t at)
{
	int depth = 0;

	for (size_t i = at;; i++) {
		if (schema[i] == '[')
			depth++;
		else if (schema[i] == ']' && --depth == 0)
			return i + 1;
	}
}

/* Decodes schema[from..to) with the proto_get_* calls and writes every
 * field back with the matching proto_put_*; the codec has one encoding per
 * value, so an accepted payload must come back byte for byte. */
static void reencode(struct proto_rbuf *r, struct proto_wbuf *w, const char *schema, size_t from,
		     size_t to)
{
	char str[PROTO_STR_MAX + 1];

	for (size_t i = from; i < to; i++) {
		switch (schema[i]) {
		case '1': { uint8_t v; if (proto_get_u8(r, &v)) abort(); proto_put_u8(w, v); break; }
		case '2': { uint16_t v; if (proto_get_u16(r, &v)) abort(); proto_put_u16(w, v); break; }
		case '4': { uint32_t v; if (proto_get_u32(r, &v)) abort(); proto_put_u32(w, v); break; }
		case '8': { uint64_t v; if (proto_get_u64(r, &v)) abort(); proto_put_u64(w, v); break; }
		case 'i': { int32_t v; if (proto_get_i32(r, &v)) abort(); proto_put_i32(w, v); break; }
		case 's':
			if (proto_get_str(r, str, sizeof(str)))
				abort();
			proto_put_str(w, str);
			break;
		case 'n':
			if (proto_get_name(r, str))
				abort();
			proto_put_str(w, str);
			break;
		case 'd': {
			const uint8_t *p;
			uint32_t n;

			if (proto_get_bytes(r, &p, &n))
				abort();
			proto_put_bytes(w, p, n);
			break;
		}
		case 'k': { struct blk_id v; if (proto_get_blkid(r, &v)) abort(); proto_put_blkid(w, &v); break; }
		case 'u': { struct casfs_uuid v; if (proto_get_uuid(r, &v)) abort(); proto_put_uuid(w, &v); break; }
		case 't': { struct casfs_time v; if (proto_get_time(r, &v)) abort(); proto_put_time(w, &v); break; }
		case 'a': { struct casfs_attr v; if (proto_get_attr(r, &v)) abort(); proto_put_attr(w, &v); break; }
		case '[': {
			size_t end = schema_end(schema, i);
			size_t at;
			uint32_t n;

			/* msg_check accepted the count; any record size is a
			 * lower bound the count already met. */
			if (proto_get_count(r, 1, &n))
				abort();
			at = proto_put_array_begin(w);
			for (uint32_t k = 0; k < n; k++)
				reencode(r, w, schema, i + 1, end - 1);
			proto_put_array_end(w, at, n);
			i = end - 1;
			break;
		}
		default:
			abort();
		}
	}
}

static void check_roundtrip(uint16_t type, int is_reply, const uint8_t *p, size_t len)
{
	const struct msg_info *info = msg_lookup(type);
	const char *schema = is_reply ? info->rep : info->req;
	struct proto_rbuf r;
	struct proto_wbuf w;
	int32_t status = 0;

	proto_rbuf_init(&r, p, len);
	proto_wbuf_init(&w);
	if (is_reply) {
		if (proto_get_i32(&r, &status))
			abort();
		proto_put_i32(&w, status);
	}
	if (status == 0)
		reencode(&r, &w, schema, 0, strlen(schema));
	if (proto_get_end(&r) != 0 || w.len != len || (len && memcmp(w.data, p, len) != 0))
		abort();
	proto_wbuf_free(&w);
}

static void check_accepted(uint16_t type, int is_reply, const uint8_t *p, size_t len)
{
	uint8_t *longer;

	if (msg_check(type, is_reply, p, len) != 0)
		return;
	check_roundtrip(type, is_reply, p, len);
	/* The encoding is self-delimiting: no proper prefix is valid... */
	if (len > 0 && msg_check(type, is_reply, p, len - 1) != -EBADMSG)
		abort();
	/* ... and nothing may follow a complete payload. */
	longer = malloc(len + 1);
	if (!longer)
		abort();
	if (len)
		memcpy(longer, p, len);
	longer[len] = 0;
	if (msg_check(type, is_reply, longer, len + 1) != -EBADMSG)
		abort();
	free(longer), longer = NULL;
}

/* Decodes records of the kinds the selector bytes ask for until the input
 * runs out; exercises every getter on arbitrary bytes. */
static void decode_records(const uint8_t *p, size_t len)
{
	char str[PROTO_STR_MAX + 1];
	struct proto_rbuf r;
	struct casfs_attr a;
	struct casfs_time t;
	struct casfs_uuid u;
	struct blk_id id;
	const uint8_t *bytes;
	uint32_t n, blen;
	uint64_t u64;
	uint8_t sel;

	proto_rbuf_init(&r, p, len);
	while (proto_get_u8(&r, &sel) == 0) {
		switch (sel % 10) {
		case 0: proto_get_attr(&r, &a); break;
		case 1: proto_get_name(&r, str); break;
		case 2: proto_get_str(&r, str, sizeof(str)); break;
		case 3: proto_get_str(&r, str, 16); break;
		case 4: proto_get_blkid(&r, &id); break;
		case 5: proto_get_time(&r, &t); break;
		case 6: proto_get_uuid(&r, &u); break;
		case 7:
			if (proto_get_bytes(&r, &bytes, &blen) == 0 &&
			    (bytes + blen > p + len || bytes < p))
				abort();
			break;
		case 8:
			if (proto_get_count(&r, 1 + sel / 10, &n) == 0 &&
			    (uint64_t)n * (1 + sel / 10) > len)
				abort();
			break;
		default: proto_get_u64(&r, &u64); break;
		}
		if (r.off > r.len)
			abort();
	}
	proto_get_end(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_hdr h, g;
	uint8_t again[PROTO_HDR_SIZE];
	const uint8_t *payload;
	size_t len;
	int rc;

	if (size < PROTO_HDR_SIZE)
		return 0;
	rc = proto_hdr_decode(data, PROTO_FRAME_MAX, &h);
	if (rc == -EMSGSIZE && h.len <= PROTO_FRAME_MAX)
		abort();
	if (rc)
		return 0;
	proto_hdr_encode(&h, again);
	if (memcmp(again, data, PROTO_HDR_SIZE) != 0 ||
	    proto_hdr_decode(again, h.len, &g) != 0)
		abort();

	/* The payload is what follows the header; a length field that
	 * disagrees is what a reader would see as a truncated stream, so
	 * validate exactly what is there. */
	payload = data + PROTO_HDR_SIZE;
	len = size - PROTO_HDR_SIZE;
	check_accepted(h.type, 0, payload, len);
	check_accepted(h.type, 1, payload, len);
	if (msg_lookup(h.type) == NULL && (msg_check(h.type, 0, payload, len) != -EPROTO ||
					   msg_check(h.type, 1, payload, len) != -EPROTO))
		abort();
	decode_records(payload, len);
	return 0;
}
