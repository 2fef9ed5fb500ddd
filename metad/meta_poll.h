/* meta_poll: when metad should poll its sockets instead of sleeping. */
#ifndef CASFS_META_POLL_H
#define CASFS_META_POLL_H

#include <stdint.h>

struct meta_poll {
	uint32_t window_us;	/* 0: never poll */
	int score;		/* recent windows that caught a request, less misses */
	uint32_t idle_windows;	/* windows skipped since the last try */
};

void meta_poll_init(struct meta_poll *p, uint32_t window_us);
/* After a loop turn that read requests: microseconds to keep polling, 0 to
 * sleep in epoll_wait at once. */
uint32_t meta_poll_window(struct meta_poll *p);
/* How the window just given ended: hit when a request came during it. */
void meta_poll_result(struct meta_poll *p, int hit);

#endif
