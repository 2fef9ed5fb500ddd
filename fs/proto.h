/* Wire protocol: frames and the bounds-checked codec every message goes
 * through. The message catalogue (types and payload schemas) is in msg.h. */
#ifndef CASFS_PROTO_H
#define CASFS_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "attr.h"
#include "ids.h"

#define PROTO_VERSION 1
#define PROTO_HDR_SIZE 16
/* Largest block (8 MiB) plus room for its id, chain and framing. */
#define PROTO_FRAME_MAX (9u << 20)
#define PROTO_NAME_MAX 255
#define PROTO_STR_MAX 4096
#define PROTO_ATTR_SIZE 85

/* Header flags. */
#define PROTO_F_REPLY 0x0001

/* Peer roles, sent in HELLO. */
enum proto_role {
	PROTO_ROLE_CLIENT = 1,
	PROTO_ROLE_CHUNKD = 2,
	PROTO_ROLE_ADMIN = 3,
};

struct proto_hdr {
	uint32_t len;	/* payload bytes after the header */
	uint16_t type;	/* enum msg_type */
	uint16_t flags;
	uint64_t reqid;
};

/* Encodes a header into 16 bytes. */
void proto_hdr_encode(const struct proto_hdr *h, uint8_t out[PROTO_HDR_SIZE]);
/* Decodes 16 bytes; -EMSGSIZE if len exceeds max_len (checked before anyone
 * allocates), -EBADMSG for unknown flag bits. */
int proto_hdr_decode(const uint8_t in[PROTO_HDR_SIZE], uint32_t max_len, struct proto_hdr *h);

/* A growable output buffer. Owns data; free with proto_wbuf_free. */
struct proto_wbuf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

void proto_wbuf_init(struct proto_wbuf *w);
void proto_wbuf_free(struct proto_wbuf *w);
void proto_wbuf_reset(struct proto_wbuf *w);

/* Starts a frame in w (discarding its content): reserves the header. */
void proto_frame_begin(struct proto_wbuf *w, uint16_t type, uint16_t flags, uint64_t reqid);
/* Starts a reply frame; its payload begins with the i32 status. */
void proto_reply_begin(struct proto_wbuf *w, uint16_t type, uint64_t reqid, int32_t status);
/* Writes the payload length into the header; -EMSGSIZE if over the limit. */
int proto_frame_finish(struct proto_wbuf *w);

void proto_put_u8(struct proto_wbuf *w, uint8_t v);
void proto_put_u16(struct proto_wbuf *w, uint16_t v);
void proto_put_u32(struct proto_wbuf *w, uint32_t v);
void proto_put_u64(struct proto_wbuf *w, uint64_t v);
void proto_put_i32(struct proto_wbuf *w, int32_t v);
void proto_put_raw(struct proto_wbuf *w, const void *p, size_t len);
/* u32 length + bytes. */
void proto_put_bytes(struct proto_wbuf *w, const void *p, uint32_t len);
/* u16 length + bytes, no NUL. Strings and names use the same encoding; names
 * are checked more strictly on decode. The caller checks the length first:
 * a string over PROTO_STR_MAX is cut there, never sent whole (the client
 * answers ENAMETOOLONG/ERANGE before it gets here). */
void proto_put_str(struct proto_wbuf *w, const char *s);
void proto_put_blkid(struct proto_wbuf *w, const struct blk_id *id);
void proto_put_uuid(struct proto_wbuf *w, const struct casfs_uuid *u);
void proto_put_time(struct proto_wbuf *w, const struct casfs_time *t);
void proto_put_attr(struct proto_wbuf *w, const struct casfs_attr *a);
/* Arrays: begin reserves the u32 count and returns its offset; end fills it. */
size_t proto_put_array_begin(struct proto_wbuf *w);
void proto_put_array_end(struct proto_wbuf *w, size_t at, uint32_t count);

/* A reader over untrusted bytes. Errors are sticky: once a get fails every
 * later get fails too, so a decoder can read all fields and check once. */
struct proto_rbuf {
	const uint8_t *p;
	size_t len;
	size_t off;
	int err;
};

void proto_rbuf_init(struct proto_rbuf *r, const void *p, size_t len);
/* Every get returns 0 or -EBADMSG (truncated, over a limit, malformed). */
int proto_get_u8(struct proto_rbuf *r, uint8_t *v);
int proto_get_u16(struct proto_rbuf *r, uint16_t *v);
int proto_get_u32(struct proto_rbuf *r, uint32_t *v);
int proto_get_u64(struct proto_rbuf *r, uint64_t *v);
int proto_get_i32(struct proto_rbuf *r, int32_t *v);
int proto_get_raw(struct proto_rbuf *r, void *out, size_t len);
/* Points *p into the buffer (no copy); valid while the buffer is. */
int proto_get_bytes(struct proto_rbuf *r, const uint8_t **p, uint32_t *len);
/* Copies a string of at most PROTO_STR_MAX bytes into out (cap bytes incl.
 * NUL); rejects embedded NULs and strings that do not fit. */
int proto_get_str(struct proto_rbuf *r, char *out, size_t cap);
/* A path component: 1..255 bytes, no '/' and no NUL; out holds 256 bytes. */
int proto_get_name(struct proto_rbuf *r, char out[PROTO_NAME_MAX + 1]);
int proto_get_blkid(struct proto_rbuf *r, struct blk_id *id);
int proto_get_uuid(struct proto_rbuf *r, struct casfs_uuid *u);
int proto_get_time(struct proto_rbuf *r, struct casfs_time *t);
int proto_get_attr(struct proto_rbuf *r, struct casfs_attr *a);
/* An array count, rejected when count * min_elem exceeds what is left, so a
 * lying count can never make a decoder allocate more than the frame holds. */
int proto_get_count(struct proto_rbuf *r, size_t min_elem, uint32_t *count);
/* 0 if everything was read without error and nothing is left over. */
int proto_get_end(struct proto_rbuf *r);

#endif
