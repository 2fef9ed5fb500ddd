/* cl_ntab: chained hash table of names (FNV-1a), each entry one
 * allocation holding the payload then the name. The table grows fourfold
 * when it holds as many names as buckets, so chains stay short for the
 * directories of tens of thousands of names the caches keep. Payloads
 * are 8-byte aligned, enough for struct casfs_attr. */
#include "client/cl_ntab.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs/xmalloc.h"

#define CL_NTAB_FIRST_BUCKETS 64

struct cl_nent {
	struct cl_nent *next;
	uint64_t payload[];		/* then the name */
};

static char *name_of(const struct cl_ntab *t, struct cl_nent *e)
{
	return (char *)e->payload + t->payload;
}

static uint32_t name_hash(const char *name)
{
	uint32_t h = 2166136261u;

	while (*name)
		h = (h ^ (uint8_t)*name++) * 16777619u;
	return h;
}

void cl_ntab_init(struct cl_ntab *t, size_t payload)
{
	t->n = 0;
	t->nbuckets = CL_NTAB_FIRST_BUCKETS;
	t->payload = payload;
	t->buckets = xcalloc(t->nbuckets, sizeof(*t->buckets));
}

void cl_ntab_clear(struct cl_ntab *t)
{
	for (uint32_t i = 0; i < t->nbuckets; i++) {
		struct cl_nent *e = t->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(t->buckets);
	t->buckets = NULL;
	t->n = t->nbuckets = 0;
}

/* The link that points at name's entry, or at the NULL ending its chain. */
static struct cl_nent **link_of(const struct cl_ntab *t, const char *name)
{
	struct cl_nent **p = &t->buckets[name_hash(name) % t->nbuckets];

	while (*p && strcmp(name_of(t, *p), name))
		p = &(*p)->next;
	return p;
}

void *cl_ntab_find(const struct cl_ntab *t, const char *name)
{
	struct cl_nent *e = *link_of(t, name);

	return e ? e->payload : NULL;
}

static void grow(struct cl_ntab *t)
{
	uint32_t nb = t->nbuckets * 4;
	struct cl_nent **b = xcalloc(nb, sizeof(*b));

	for (uint32_t i = 0; i < t->nbuckets; i++) {
		struct cl_nent *e = t->buckets[i], *next;

		for (; e; e = next) {
			uint32_t h = name_hash(name_of(t, e)) % nb;

			next = e->next;
			e->next = b[h];
			b[h] = e;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = nb;
}

void *cl_ntab_put(struct cl_ntab *t, const char *name, int *is_new)
{
	size_t len = strlen(name);
	struct cl_nent **p = link_of(t, name), *e = *p;

	if (is_new)
		*is_new = !e;
	if (e)
		return e->payload;
	if (t->n >= t->nbuckets) {
		grow(t);
		p = link_of(t, name);
	}
	e = xcalloc(1, sizeof(*e) + t->payload + len + 1);
	memcpy(name_of(t, e), name, len + 1);
	*p = e;
	t->n++;
	return e->payload;
}

int cl_ntab_remove(struct cl_ntab *t, const char *name)
{
	struct cl_nent **p = link_of(t, name), *e = *p;

	if (!e)
		return -ENOENT;
	*p = e->next;
	free(e);
	t->n--;
	return 0;
}
