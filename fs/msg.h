/* The message catalogue: every message type of the system and the schema of
 * its request and reply payloads. fs/README.md documents the fields; the
 * table in msg.c is the authority, and msg_check() validates a payload
 * against it before any handler decodes it.
 *
 * Schema letters (all little-endian):
 *   1 u8   2 u16   4 u32   8 u64   i i32
 *   s string: u16 length + bytes, at most PROTO_STR_MAX, no NUL
 *   n name: like s, 1..255 bytes, no '/' or NUL
 *   d data: u32 length + bytes
 *   k block id (17 bytes)   u cluster uuid (16 bytes)
 *   t time: u64 seconds + u32 nanoseconds (< 1e9)
 *   a attribute record (PROTO_ATTR_SIZE bytes, see proto_put_attr)
 *   [ ... ] array: u32 count, then count records of the enclosed fields
 * A reply payload is always an i32 status (0 or a negative errno) followed,
 * on success only, by the fields of its reply schema. */
#ifndef CASFS_MSG_H
#define CASFS_MSG_H

#include <stddef.h>
#include <stdint.h>

enum msg_type {
	/* session, any peer */
	MSG_HELLO = 1,
	MSG_PING = 2,

	/* namespace: client -> metad */
	MSG_LOOKUP = 10,
	MSG_GETATTR = 11,
	MSG_SETATTR = 12,
	MSG_MKNOD = 13,
	MSG_MKDIR = 14,
	MSG_UNLINK = 15,
	MSG_RMDIR = 16,
	MSG_SYMLINK = 17,
	MSG_READLINK = 18,
	MSG_RENAME = 19,
	MSG_LINK = 20,
	MSG_READDIR = 21,
	MSG_OPEN = 22,
	MSG_RELEASE = 23,
	MSG_STATFS = 24,
	MSG_SETXATTR = 25,
	MSG_GETXATTR = 26,
	MSG_LISTXATTR = 27,
	MSG_REMOVEXATTR = 28,
	MSG_FSYNC = 29,
	MSG_LOCK = 30,
	MSG_GETLK = 31,
	MSG_CREATE = 32,

	/* file data: client -> metad */
	MSG_BMAP = 40,
	MSG_PLACE = 41,
	MSG_COMMIT = 42,
	MSG_COPY_RANGE = 43,
	MSG_REPORT_BAD = 44,

	/* chunk servers <-> metad */
	MSG_CS_REGISTER = 60,
	MSG_CS_INVENTORY = 61,
	MSG_CS_HEARTBEAT = 62,
	MSG_CS_ADDED = 63,
	MSG_CS_BAD = 64,
	MSG_CS_REPLICATE = 65,	/* metad -> chunkd */
	MSG_CS_DELETE = 66,	/* metad -> chunkd */

	/* blocks: client or chunkd -> chunkd */
	MSG_BLK_PUT = 80,
	MSG_BLK_GET = 81,
	MSG_BLK_SYNC = 82,
	MSG_BLK_HAVE = 83,
	MSG_BLK_OPEN = 84,	/* local socket only: the reply carries the file */

	/* administration: casfs CLI -> metad */
	MSG_ADM_STATUS = 100,
	MSG_ADM_CS_LIST = 101,
	MSG_ADM_CS_DRAIN = 102,
	MSG_ADM_CS_REMOVE = 103,
	MSG_ADM_SESSIONS = 104,
	MSG_ADM_SET_GOAL = 105,
	MSG_ADM_SET_BLOCKSIZE = 106,
};

/* SETATTR valid bits. */
#define MSG_SETATTR_MODE 0x01
#define MSG_SETATTR_UID 0x02
#define MSG_SETATTR_GID 0x04
#define MSG_SETATTR_SIZE 0x08
#define MSG_SETATTR_ATIME 0x10
#define MSG_SETATTR_MTIME 0x20
#define MSG_SETATTR_ATIME_NOW 0x40
#define MSG_SETATTR_MTIME_NOW 0x80

/* RENAME flags: the values of linux's RENAME_NOREPLACE and RENAME_EXCHANGE. */
#define MSG_RENAME_NOREPLACE 0x1
#define MSG_RENAME_EXCHANGE 0x2

/* LOCK kinds and types. */
#define MSG_LOCK_FLOCK 1
#define MSG_LOCK_POSIX 2
#define MSG_LOCK_READ 1
#define MSG_LOCK_WRITE 2
#define MSG_LOCK_UNLOCK 3

/* COMMIT flags. */
#define MSG_COMMIT_SIZE_EXACT 0x1	/* set size as given, else max(old, given) */

/* BLK_PUT flags. */
#define MSG_PUT_SYNC 0x1		/* fdatasync before acknowledging */

/* CS_HEARTBEAT flags. */
#define MSG_CS_FULL 0x1
#define MSG_CS_DISK_FAILED 0x2

/* Chunk-server states in ADM_CS_LIST. */
#define MSG_CS_STATE_UP 1
#define MSG_CS_STATE_DOWN 2
#define MSG_CS_STATE_DRAINING 3

struct msg_info {
	uint16_t type;
	const char *name;
	const char *req;	/* request schema */
	const char *rep;	/* success reply schema, after the status */
};

/* The catalogue entry for type, or NULL if type is unknown. */
const struct msg_info *msg_lookup(uint16_t type);
/* The whole catalogue; *count receives its length. */
const struct msg_info *msg_catalogue(size_t *count);
/* Checks that payload[0..len) matches schema exactly (every field within its
 * limits, nothing left over). 0, or -EBADMSG. */
int msg_check_schema(const char *schema, const void *payload, size_t len);
/* Checks a frame's payload against the catalogue: requests against req,
 * replies against the status and, when it is 0, rep. 0, -EBADMSG, or
 * -EPROTO for an unknown type. */
int msg_check(uint16_t type, int is_reply, const void *payload, size_t len);

#endif
