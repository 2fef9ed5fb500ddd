/* libFuzzer target for everything a daemon does with a frame from a peer:
 * the header decoder, msg_check() of the payload as a request and as a
 * reply of the type the header names, and the proto_get_* record decoders
 * driven by the input. Besides "no crash, no sanitizer report" it checks
 * the validator's promises: a payload it accepts is rejected once a byte is
 * cut off or added, and the header round-trips.
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

static void check_accepted(uint16_t type, int is_reply, const uint8_t *p, size_t len)
{
	uint8_t *longer;

	if (msg_check(type, is_reply, p, len) != 0)
		return;
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
