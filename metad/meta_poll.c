/* meta_poll: adaptive polling of metad's sockets.
 *
 * A metadata operation is a chain of round trips (lookup, create, flush,
 * getattr ...) issued one after another by one process, and on a virtual
 * machine most of each round trip is spent waking sleepers: the client's
 * request wakes metad out of epoll_wait, the reply wakes the client. When
 * requests follow each other within a fraction of a millisecond, metad
 * gains more by polling its sockets for a short window after each turn
 * than it pays in CPU (a loop of `mdbench` creates goes from ~3,500 to
 * ~6,500/s here), as network stacks do with busy polling.
 *
 * It only pays while requests do come within the window. Streams that
 * arrive slower (block placement during large writes, heartbeats, an idle
 * mount's pings) would only burn a core, so each window is scored: a hit
 * raises the score by one (up to POLL_SCORE_MAX), a miss lowers it by
 * POLL_MISS_COST. Polling stops at zero, and only every POLL_RETRY-th turn
 * tries one window again, so a workload that stops paying costs at most
 * one wasted window per POLL_RETRY turns. */
#include "metad/meta_poll.h"

#define POLL_SCORE_START 4
#define POLL_SCORE_MAX 16
#define POLL_MISS_COST 4
#define POLL_RETRY 64

void meta_poll_init(struct meta_poll *p, uint32_t window_us)
{
	p->window_us = window_us;
	p->score = POLL_SCORE_START;
	p->idle_windows = 0;
}

uint32_t meta_poll_window(struct meta_poll *p)
{
	if (!p->window_us)
		return 0;
	if (p->score > 0)
		return p->window_us;
	if (++p->idle_windows < POLL_RETRY)
		return 0;
	p->idle_windows = 0;
	return p->window_us;
}

void meta_poll_result(struct meta_poll *p, int hit)
{
	if (hit) {
		/* a retry that catches a request starts over with some credit */
		p->score = p->score < 1 ? 1 : p->score + 1;
		if (p->score > POLL_SCORE_MAX)
			p->score = POLL_SCORE_MAX;
	} else {
		p->score -= POLL_MISS_COST;
		if (p->score < 0)
			p->score = 0;
	}
}
