/* fetch_internal.h - what fetch.c and fetch_shards.c share (private).
 *
 * ug_fetch_new makes either one loop (fetch.c) or, with options.threads
 * above 1, a set of loops on their own threads (fetch_shards.c), each an
 * ordinary one-loop engine made by fetch_new_loop.  fetch_events.c uses
 * its array helper too.
 */
#ifndef UNGIL_FETCH_INTERNAL_H
#define UNGIL_FETCH_INTERNAL_H

#include "ungil/fetch.h"
#include "ungil/path.h"

/* Returns `array` (count used of *cap elements of `size` bytes) with room
 * for one more, doubled when full; NULL when memory runs out (the array is
 * then unchanged). */
void *fetch_reserve(void *array, size_t count, size_t *cap, size_t size);

/* A one-loop engine.  Its trace lanes are named "transfer <first_slot>"
 * on; with `names` (file mode), file names are claimed in that shared set,
 * which the caller owns and frees after the engine; NULL: its own set. */
int fetch_new_loop(const ug_fetch_options *opts, unsigned first_slot,
                   ug_names *names, ug_fetch **out);

/* The loops of a sharded engine (fetch_shards.c). */
typedef struct fetch_shards fetch_shards;

/* How many loops `opts` gets: one when a callback other than on_done and
 * on_progress is set, or names come from Content-Disposition (claimed
 * while running); otherwise the largest count up to options.threads that
 * divides both the total and the per-host cap, so that every loop gets an
 * equal share of each. */
unsigned fetch_loops_for(const ug_fetch_options *opts);

int fetch_shards_new(const ug_fetch_options *opts, unsigned loops,
                     fetch_shards **out);
void fetch_shards_free(fetch_shards *s);
long fetch_shards_add(fetch_shards *s, const char *url, const char *name,
                      const char *sha256, void *user);
int fetch_shards_run(fetch_shards *s, const int *cancel);
void fetch_shards_wake(fetch_shards *s);

#endif
