/* chunk_scrub: the background scrubber: re-verifies every stored block at a
 * bounded rate, so silent corruption is found before a reader needs it. */
#ifndef CHUNKD_SCRUB_H
#define CHUNKD_SCRUB_H

#include "chunkd/chunkd_int.h"

/* Starts the scrub thread (conf.scrub_rate bytes/s, a pass every
 * conf.scrub_interval_s). 0 or -errno. */
int chunk_scrub_start(struct chunkd *cd);
void chunk_scrub_stop(struct chunkd *cd);

#endif
