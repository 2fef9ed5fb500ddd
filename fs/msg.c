/* msg: the catalogue of every message and a validator that walks a payload
 * against its schema. Servers call msg_check() on every frame before
 * dispatching it, so handlers decode payloads already known to be well
 * formed; the unit tests round-trip every entry and the fuzz target feeds the
 * validator garbage. Read-only tables; safe from any thread. */
#include "msg.h"

#include <errno.h>
#include <string.h>

#include "proto.h"

static const struct msg_info msg_table[] = {
	{ MSG_HELLO, "HELLO", "21us8s", "2u8d4" },
	{ MSG_PING, "PING", "", "" },

	{ MSG_LOOKUP, "LOOKUP", "8n", "a" },
	{ MSG_GETATTR, "GETATTR", "8", "a" },
	{ MSG_SETATTR, "SETATTR", "844448tt", "a" },
	{ MSG_MKNOD, "MKNOD", "8n4444", "a" },
	{ MSG_MKDIR, "MKDIR", "8n444", "a" },
	{ MSG_UNLINK, "UNLINK", "8n", "" },
	{ MSG_RMDIR, "RMDIR", "8n", "" },
	{ MSG_SYMLINK, "SYMLINK", "8ns44", "a" },
	{ MSG_READLINK, "READLINK", "8", "s" },
	{ MSG_RENAME, "RENAME", "8n8n4", "" },
	{ MSG_LINK, "LINK", "88n", "a" },
	{ MSG_READDIR, "READDIR", "884", "1[8na]" },
	{ MSG_OPEN, "OPEN", "84", "a" },
	{ MSG_RELEASE, "RELEASE", "8", "" },
	{ MSG_STATFS, "STATFS", "", "88888" },
	{ MSG_SETXATTR, "SETXATTR", "8sd4", "" },
	{ MSG_GETXATTR, "GETXATTR", "8s", "d" },
	{ MSG_LISTXATTR, "LISTXATTR", "8", "d" },
	{ MSG_REMOVEXATTR, "REMOVEXATTR", "8s", "" },
	{ MSG_FSYNC, "FSYNC", "8", "" },
	{ MSG_LOCK, "LOCK", "88118841", "" },
	{ MSG_GETLK, "GETLK", "881884", "1884" },
	{ MSG_CREATE, "CREATE", "8n4444", "a" },

	{ MSG_BMAP, "BMAP", "884", "a[8k4[4]][4s]" },
	{ MSG_PLACE, "PLACE", "8[k4]", "[[4]][4s]" },
	{ MSG_COMMIT, "COMMIT", "88t4[8k4[4]]", "a" },
	{ MSG_COPY_RANGE, "COPY_RANGE", "888848", "a" },
	{ MSG_REPORT_BAD, "REPORT_BAD", "k4", "" },

	{ MSG_CS_REGISTER, "CS_REGISTER", "4s88[s]", "4" },
	{ MSG_CS_INVENTORY, "CS_INVENTORY", "1[k4]", "" },
	{ MSG_CS_HEARTBEAT, "CS_HEARTBEAT", "888844", "" },
	{ MSG_CS_ADDED, "CS_ADDED", "[k4]", "" },
	{ MSG_CS_BAD, "CS_BAD", "k", "" },
	{ MSG_CS_REPLICATE, "CS_REPLICATE", "k4[4s]", "" },
	{ MSG_CS_DELETE, "CS_DELETE", "[k]", "" },

	{ MSG_BLK_PUT, "BLK_PUT", "k4[4s]d", "[4i]" },
	{ MSG_BLK_GET, "BLK_GET", "k44", "d" },
	{ MSG_BLK_SYNC, "BLK_SYNC", "[k]", "" },
	{ MSG_BLK_HAVE, "BLK_HAVE", "[k]", "[1]" },
	{ MSG_BLK_OPEN, "BLK_OPEN", "k", "4" },

	{ MSG_ADM_STATUS, "ADM_STATUS", "", "u44488888888888" },
	{ MSG_ADM_CS_LIST, "ADM_CS_LIST", "", "[4s18888488[s]]" },
	{ MSG_ADM_CS_DRAIN, "ADM_CS_DRAIN", "41", "" },
	{ MSG_ADM_CS_REMOVE, "ADM_CS_REMOVE", "41", "" },
	{ MSG_ADM_SESSIONS, "ADM_SESSIONS", "", "[81s88]" },
	{ MSG_ADM_SET_GOAL, "ADM_SET_GOAL", "811", "8" },
	{ MSG_ADM_SET_BLOCKSIZE, "ADM_SET_BLOCKSIZE", "84", "" },
};

const struct msg_info *msg_lookup(uint16_t type)
{
	for (size_t i = 0; i < sizeof(msg_table) / sizeof(msg_table[0]); i++)
		if (msg_table[i].type == type)
			return &msg_table[i];
	return NULL;
}

const struct msg_info *msg_catalogue(size_t *count)
{
	*count = sizeof(msg_table) / sizeof(msg_table[0]);
	return msg_table;
}

/* Returns the index just past the ']' matching the '[' at schema[at]. */
static size_t schema_close(const char *schema, size_t at)
{
	int depth = 0;

	for (size_t i = at;; i++) {
		if (schema[i] == '[')
			depth++;
		else if (schema[i] == ']' && --depth == 0)
			return i + 1;
	}
}

/* Smallest encoded size of the fields schema[from..to): bounds array counts
 * (an array of records each at least this big). */
static size_t schema_min(const char *schema, size_t from, size_t to)
{
	size_t n = 0;

	for (size_t i = from; i < to; i++) {
		switch (schema[i]) {
		case '1': n += 1; break;
		case '2': case 's': case 'n': n += 2; break;
		case '4': case 'i': case 'd': n += 4; break;
		case '8': n += 8; break;
		case 'k': n += BLK_ID_SIZE; break;
		case 'u': n += 16; break;
		case 't': n += 12; break;
		case 'a': n += PROTO_ATTR_SIZE; break;
		case '[': n += 4; i = schema_close(schema, i) - 1; break;
		default: break;
		}
	}
	return n;
}

static int check_fields(struct proto_rbuf *r, const char *schema, size_t from, size_t to,
			int depth)
{
	char str[PROTO_STR_MAX + 1];
	uint64_t u64;
	uint32_t u32, n;
	uint16_t u16;
	uint8_t u8;
	int32_t i32;
	const uint8_t *p;
	struct blk_id id;
	struct casfs_uuid uuid;
	struct casfs_time t;
	struct casfs_attr a;

	for (size_t i = from; i < to && !r->err; i++) {
		switch (schema[i]) {
		case '1': proto_get_u8(r, &u8); break;
		case '2': proto_get_u16(r, &u16); break;
		case '4': proto_get_u32(r, &u32); break;
		case '8': proto_get_u64(r, &u64); break;
		case 'i': proto_get_i32(r, &i32); break;
		case 's': proto_get_str(r, str, sizeof(str)); break;
		case 'n': proto_get_name(r, str); break;
		case 'd': proto_get_bytes(r, &p, &u32); break;
		case 'k': proto_get_blkid(r, &id); break;
		case 'u': proto_get_uuid(r, &uuid); break;
		case 't': proto_get_time(r, &t); break;
		case 'a': proto_get_attr(r, &a); break;
		case '[': {
			size_t end = schema_close(schema, i);

			if (depth > 4)
				return -EBADMSG;
			if (proto_get_count(r, schema_min(schema, i + 1, end - 1), &n))
				break;
			for (uint32_t k = 0; k < n && !r->err; k++)
				check_fields(r, schema, i + 1, end - 1, depth + 1);
			i = end - 1;
			break;
		}
		default:
			return -EBADMSG;
		}
	}
	return r->err;
}

int msg_check_schema(const char *schema, const void *payload, size_t len)
{
	struct proto_rbuf r;

	proto_rbuf_init(&r, payload, len);
	if (check_fields(&r, schema, 0, strlen(schema), 0))
		return -EBADMSG;
	return proto_get_end(&r);
}

int msg_check(uint16_t type, int is_reply, const void *payload, size_t len)
{
	const struct msg_info *info = msg_lookup(type);
	struct proto_rbuf r;
	int32_t status;

	if (!info)
		return -EPROTO;
	if (!is_reply)
		return msg_check_schema(info->req, payload, len);
	proto_rbuf_init(&r, payload, len);
	if (proto_get_i32(&r, &status))
		return -EBADMSG;
	if (status > 0 || status < -4095)
		return -EBADMSG;
	if (status != 0)
		return proto_get_end(&r);
	return msg_check_schema(info->rep, (const uint8_t *)payload + 4, len - 4);
}
