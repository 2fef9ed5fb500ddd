/* meta_lock: cluster-wide flock and POSIX byte-range locks, held by metad
 * per (session, owner). flock and POSIX locks do not interact (as on
 * Linux). A LOCK that cannot be granted either fails with -EAGAIN or, with
 * wait set, has its reply parked here until it can be granted; an UNLOCK by
 * the same owner cancels that wait (-EINTR); a POSIX wait that would close
 * a cycle of waiters fails with -EDEADLK. Everything a session holds or
 * waits for goes when the session ends, so a dead client never wedges
 * others. Every change to the held locks is logged before its reply (see
 * meta_lock.h), so locks survive restarts; waits do not (the client's
 * re-sent LOCK waits again). Owned by the event-loop thread. */
#include "metad/meta_int.h"
#include "metad/meta_lock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs/msg.h"
#include "fs/xmalloc.h"

struct meta_lk {
	struct meta_lk *next;
	uint64_t ino, session, owner, start, end;
	uint32_t pid;
	uint8_t kind, type;
	/* waiters only */
	struct meta_conn *conn;
	uint64_t reqid;
};

struct meta_lock_table {
	struct meta_lk *held;
	struct meta_lk *waiting;	/* FIFO */
};

static void lk_log(struct meta_srv *srv, const struct meta_lk *l, uint8_t type)
{
	struct proto_wbuf w;
	struct casfs_time now;

	proto_wbuf_init(&w);
	proto_put_u64(&w, l->ino);
	proto_put_u64(&w, l->owner);
	proto_put_u8(&w, l->kind);
	proto_put_u8(&w, type);
	proto_put_u64(&w, l->start);
	proto_put_u64(&w, l->end);
	proto_put_u32(&w, l->pid);
	meta_now(&now);
	meta_srv_log(srv, META_REC_LOCK, l->session, 0, &now, w.data, (uint32_t)w.len);
	proto_wbuf_free(&w);
}

struct meta_lock_table *meta_lock_new(void)
{
	return xcalloc(1, sizeof(struct meta_lock_table));
}

static void lk_free_list(struct meta_lk *l)
{
	while (l) {
		struct meta_lk *n = l->next;

		free(l);
		l = n;
	}
}

void meta_lock_free(struct meta_lock_table *t)
{
	if (!t)
		return;
	lk_free_list(t->held);
	lk_free_list(t->waiting);
	free(t);
}

static int same_owner(const struct meta_lk *a, const struct meta_lk *b)
{
	return a->session == b->session && a->owner == b->owner;
}

static int conflicts(const struct meta_lk *a, const struct meta_lk *b)
{
	if (a->ino != b->ino || a->kind != b->kind || same_owner(a, b))
		return 0;
	if (a->type != MSG_LOCK_WRITE && b->type != MSG_LOCK_WRITE)
		return 0;
	return a->start <= b->end && b->start <= a->end;
}

static struct meta_lk *find_conflict(struct meta_lock_table *t, const struct meta_lk *want)
{
	for (struct meta_lk *l = t->held; l; l = l->next)
		if (conflicts(l, want))
			return l;
	return NULL;
}

/* Removes the owner's locks of this kind over [start, end], splitting
 * ranges that stick out. */
static void cut_range(struct meta_lock_table *t, const struct meta_lk *who)
{
	struct meta_lk **pp = &t->held;

	while (*pp) {
		struct meta_lk *l = *pp;

		if (l->ino != who->ino || l->kind != who->kind || !same_owner(l, who) ||
		    l->end < who->start || who->end < l->start) {
			pp = &l->next;
			continue;
		}
		if (l->start < who->start && l->end > who->end) {
			struct meta_lk *tail = xmalloc(sizeof(*tail));

			*tail = *l;
			tail->start = who->end + 1;
			l->end = who->start - 1;
			tail->next = l->next;
			l->next = tail;
			pp = &tail->next;
		} else if (l->start < who->start) {
			l->end = who->start - 1;
			pp = &l->next;
		} else if (l->end > who->end) {
			l->start = who->end + 1;
			pp = &l->next;
		} else {
			*pp = l->next;
			free(l);
		}
	}
}

/* 1 if the owner of `from` waits, directly or through other waiters, for a
 * POSIX lock that target's owner holds. Depth-bounded: real wait chains
 * are short, and a bound keeps a hostile pattern from costing much. */
static int waits_for(struct meta_lock_table *t, const struct meta_lk *from,
		     const struct meta_lk *target, int depth)
{
	if (depth > 8)
		return 0;
	for (struct meta_lk *w = t->waiting; w; w = w->next) {
		if (w->kind != MSG_LOCK_POSIX || !same_owner(w, from))
			continue;
		for (struct meta_lk *l = t->held; l; l = l->next) {
			if (!conflicts(l, w))
				continue;
			if (same_owner(l, target) || waits_for(t, l, target, depth + 1))
				return 1;
		}
	}
	return 0;
}

/* POSIX only (as on Linux): would want waiting close a cycle? */
static int would_deadlock(struct meta_lock_table *t, const struct meta_lk *want)
{
	if (want->kind != MSG_LOCK_POSIX)
		return 0;
	for (struct meta_lk *l = t->held; l; l = l->next)
		if (conflicts(l, want) && waits_for(t, l, want, 0))
			return 1;
	return 0;
}

static void grant(struct meta_lock_table *t, const struct meta_lk *want)
{
	struct meta_lk *l = xmalloc(sizeof(*l));

	cut_range(t, want);
	*l = *want;
	l->conn = NULL;
	l->next = t->held;
	t->held = l;
}

static void send_status(struct meta_conn *conn, uint64_t reqid, int32_t st)
{
	struct proto_wbuf f;

	proto_wbuf_init(&f);
	proto_reply_begin(&f, MSG_LOCK, reqid, st);
	proto_frame_finish(&f);
	meta_conn_send(conn, &f);
	proto_wbuf_free(&f);
}

/* Grants every waiter that no longer conflicts, oldest first. */
static void wake(struct meta_srv *srv)
{
	struct meta_lock_table *t = srv->locks;
	struct meta_lk **pp = &t->waiting;

	while (*pp) {
		struct meta_lk *w = *pp;

		if (find_conflict(t, w)) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		grant(t, w);
		lk_log(srv, w, w->type);
		send_status(w->conn, w->reqid, 0);
		free(w);
		pp = &t->waiting;
	}
}

static void decode(struct proto_rbuf *r, struct meta_lk *l, int is_getlk, uint8_t *wait)
{
	proto_get_u64(r, &l->ino);
	proto_get_u64(r, &l->owner);
	if (is_getlk) {
		l->kind = MSG_LOCK_POSIX;
	} else {
		proto_get_u8(r, &l->kind);
	}
	proto_get_u8(r, &l->type);
	proto_get_u64(r, &l->start);
	proto_get_u64(r, &l->end);
	proto_get_u32(r, &l->pid);
	if (!is_getlk)
		proto_get_u8(r, wait);
}

int meta_lock_lock(struct meta_srv *srv, struct meta_conn *conn, uint64_t reqid,
		   const uint8_t *payload, size_t len)
{
	struct meta_lock_table *t = srv->locks;
	struct meta_lk want;
	struct proto_rbuf r;
	uint8_t wait = 0;

	memset(&want, 0, sizeof(want));
	proto_rbuf_init(&r, payload, len);
	decode(&r, &want, 0, &wait);
	want.session = conn->sess->id;
	if (want.kind != MSG_LOCK_FLOCK && want.kind != MSG_LOCK_POSIX)
		return -EINVAL;
	if (want.type < MSG_LOCK_READ || want.type > MSG_LOCK_UNLOCK || want.start > want.end)
		return -EINVAL;
	if (meta_ns_getattr(srv->ns, want.ino, NULL))
		return -ENOENT;
	if (want.kind == MSG_LOCK_FLOCK) {
		want.start = 0;
		want.end = UINT64_MAX;
	}
	if (want.type == MSG_LOCK_UNLOCK) {
		struct meta_lk **pp = &t->waiting;

		while (*pp) {
			struct meta_lk *w = *pp;

			if (w->ino == want.ino && w->kind == want.kind && same_owner(w, &want)) {
				*pp = w->next;
				send_status(w->conn, w->reqid, -EINTR);
				free(w);
			} else {
				pp = &w->next;
			}
		}
		cut_range(t, &want);
		lk_log(srv, &want, MSG_LOCK_UNLOCK);
		wake(srv);
		return 0;
	}
	if (!find_conflict(t, &want)) {
		grant(t, &want);
		lk_log(srv, &want, want.type);
		/* A downgrade or a split may unblock others. */
		wake(srv);
		return 0;
	}
	if (!wait)
		return -EAGAIN;
	if (would_deadlock(t, &want))
		return -EDEADLK;
	{
		struct meta_lk *w = xmalloc(sizeof(*w)), **pp = &t->waiting;

		*w = want;
		w->conn = conn;
		w->reqid = reqid;
		w->next = NULL;
		while (*pp)
			pp = &(*pp)->next;
		*pp = w;
	}
	return 1;
}

int meta_lock_getlk(struct meta_srv *srv, struct meta_conn *conn, const uint8_t *payload,
		    size_t len, struct proto_wbuf *out)
{
	struct meta_lk want, *c;
	struct proto_rbuf r;

	memset(&want, 0, sizeof(want));
	proto_rbuf_init(&r, payload, len);
	decode(&r, &want, 1, NULL);
	want.session = conn->sess->id;
	if (want.type < MSG_LOCK_READ || want.type > MSG_LOCK_WRITE || want.start > want.end)
		return -EINVAL;
	if (meta_ns_getattr(srv->ns, want.ino, NULL))
		return -ENOENT;
	c = find_conflict(srv->locks, &want);
	if (!c) {
		proto_put_u8(out, MSG_LOCK_UNLOCK);
		proto_put_u64(out, want.start);
		proto_put_u64(out, want.end);
		proto_put_u32(out, want.pid);
	} else {
		proto_put_u8(out, c->type);
		proto_put_u64(out, c->start);
		proto_put_u64(out, c->end);
		proto_put_u32(out, c->pid);
	}
	return 0;
}

int meta_lock_drop(struct meta_lock_table *t, uint64_t session, uint64_t ino)
{
	struct meta_lk **pp;
	int n = 0;

	for (pp = &t->held; *pp;) {
		struct meta_lk *l = *pp;

		if (l->session == session &&
		    (!ino || (l->ino == ino && l->kind == MSG_LOCK_FLOCK))) {
			*pp = l->next;
			free(l);
			n++;
		} else {
			pp = &l->next;
		}
	}
	return n;
}

void meta_lock_apply(struct meta_lock_table *t, const struct meta_lk_rec *r)
{
	struct meta_lk l;

	memset(&l, 0, sizeof(l));
	l.ino = r->ino;
	l.session = r->session;
	l.owner = r->owner;
	l.start = r->start;
	l.end = r->end;
	l.pid = r->pid;
	l.kind = r->kind;
	l.type = r->type;
	if (l.type == MSG_LOCK_UNLOCK)
		cut_range(t, &l);
	else
		grant(t, &l);
}

void meta_lock_foreach(const struct meta_lock_table *t,
		       void (*fn)(void *ud, const struct meta_lk_rec *r), void *ud)
{
	for (const struct meta_lk *l = t->held; l; l = l->next) {
		struct meta_lk_rec r = { l->ino, l->session, l->owner, l->start, l->end, l->pid,
					 l->kind, l->type };

		fn(ud, &r);
	}
}

void meta_lock_release_session(struct meta_srv *srv, uint64_t session, uint64_t ino)
{
	struct meta_lock_table *t = srv->locks;
	struct meta_lk **pp;
	int changed = meta_lock_drop(t, session, ino);

	if (changed && ino) {
		/* A whole session's locks go with its SESSION_END record; a
		 * last RELEASE's flocks need their own. */
		struct proto_wbuf w;
		struct casfs_time now;

		proto_wbuf_init(&w);
		proto_put_u64(&w, ino);
		meta_now(&now);
		meta_srv_log(srv, META_REC_LOCK_DROP, session, 0, &now, w.data, (uint32_t)w.len);
		proto_wbuf_free(&w);
	}
	for (pp = &t->waiting; !ino && *pp;) {
		struct meta_lk *w = *pp;

		if (w->session == session) {
			*pp = w->next;
			send_status(w->conn, w->reqid, -EINTR);
			free(w);
		} else {
			pp = &w->next;
		}
	}
	if (changed)
		wake(srv);
}

void meta_lock_conn_lost(struct meta_srv *srv, struct meta_conn *conn)
{
	struct meta_lk **pp = &srv->locks->waiting;

	while (*pp) {
		struct meta_lk *w = *pp;

		if (w->conn == conn) {
			*pp = w->next;
			free(w);
		} else {
			pp = &w->next;
		}
	}
}
