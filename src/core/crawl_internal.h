/* crawl_internal.h - the parts of the crawler shared between its files.
 *
 * crawl_seen.c: the seen-set, an open-addressing table of 64-bit hashes of
 * normalised URLs (8 bytes a slot, at most 3/4 full, so 10.7 to 21.3 bytes
 * a URL).  Two different URLs share a hash with probability 2^-64 per pair:
 * for n URLs the odds that any new URL is wrongly taken as seen are about
 * n^2 / 2^65 (3e-8 for a million URLs, 3e-4 for a hundred million), and a
 * random seed per crawl keeps a hostile site from aiming at a collision.
 *
 * crawl_frontier.c: one breadth-first level of URLs, stored as one string
 * arena plus a 16-byte entry per URL (its offset, host and a link to the
 * next entry of the same host's queue).
 *
 * crawl_count.c: a table from a 64-bit key to a count (query variants per
 * path), same layout as the seen-set.
 *
 * Nothing here is thread-safe: one crawl uses them from one thread.
 */
#ifndef UNGIL_CRAWL_INTERNAL_H
#define UNGIL_CRAWL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* A 64-bit hash of n bytes, keyed by `seed` (well mixed: every input bit
 * affects every output bit). */
uint64_t ug__hash64(const void *data, size_t n, uint64_t seed);

typedef struct ug__seen ug__seen;

/* An empty seen-set hashing with `seed`.  Returns 0 or UG_ENOMEM. */
int ug__seen_new(uint64_t seed, ug__seen **out);
void ug__seen_free(ug__seen *s);
/* Adds the n bytes of `url`: 1 if it was new, 0 if already present,
 * UG_ENOMEM if the table could not grow. */
int ug__seen_add(ug__seen *s, const char *url, size_t n);
/* 1 if `url` was added before, else 0. */
int ug__seen_has(const ug__seen *s, const char *url, size_t n);
size_t ug__seen_count(const ug__seen *s);
/* Bytes of memory the set holds (table and header). */
size_t ug__seen_bytes(const ug__seen *s);

/* ---- a frontier level -------------------------------------------------- */

enum { UG__NONE = UINT32_MAX };

typedef struct ug__frontier_entry {
    uint64_t offset; /* of the URL (NUL-terminated) in the arena */
    uint32_t host;   /* index into the crawl's host table */
    uint32_t next;   /* next entry of the same host's queue, or UG__NONE */
} ug__frontier_entry;

typedef struct ug__frontier {
    char *arena;
    size_t used, cap;
    ug__frontier_entry *entries;
    size_t count, entries_cap;
} ug__frontier;

/* Appends `url` (n bytes, copied with a NUL) for `host`.  Returns the new
 * entry's index (>= 0) or UG_ENOMEM. */
long ug__frontier_push(ug__frontier *f, const char *url, size_t n,
                       uint32_t host);
/* The URL of entry i; valid until the next push or clear. */
static inline const char *ug__frontier_url(const ug__frontier *f, size_t i) {
    return f->arena + f->entries[i].offset;
}
/* Empties the level, keeping its memory for the next one. */
void ug__frontier_clear(ug__frontier *f);
/* Frees the memory; the frontier is then empty and reusable. */
void ug__frontier_free(ug__frontier *f);
/* Bytes of memory the level holds. */
size_t ug__frontier_bytes(const ug__frontier *f);

#endif
