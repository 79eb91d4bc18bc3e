/* url_internal.h - what url.c shares inside libungil: the
 * percent-encoding normalisation (robots.c compares robots.txt rules and
 * paths in the same form as crawl URLs) and a parsed base URL that many
 * references are resolved against (html.c, one per page), which saves
 * parsing the base again for every link.  And (url_index.c) an index of
 * host keys and counts per 64-bit key, for the fetch loop and the
 * crawler. */
#ifndef UNGIL_URL_INTERNAL_H
#define UNGIL_URL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Writes the `n` bytes at `s` with percent-encoding normalised (escapes of
 * unreserved characters decoded, other escapes' hex upper-case, bytes that
 * may not appear literally in a URL encoded as %XX) to `out`, which must
 * have room for 3 * n + 1 bytes.  Returns the length written (a NUL
 * follows).  Thread-safe. */
size_t ug__url_pct_normalize(const char *s, size_t n, char *out);

typedef struct ug__url_base ug__url_base;

/* Parses the absolute http(s) URL `url` for use as a base.  Returns 0 and
 * sets *out, UG_EURL or UG_ENOMEM.  Free with ug__url_base_free. */
int ug__url_base_new(const char *url, ug__url_base **out);

/* The same as ug_url_resolve(url, ref, out) for the base's url.  The base
 * is only read: one base may serve several threads at once. */
int ug__url_base_resolve(const ug__url_base *base, const char *ref,
                         char **out);

/* Frees the base.  NULL is harmless. */
void ug__url_base_free(ug__url_base *base);

/* ---- an index of host keys (url_index.c) ---------------------------- */

/* The key of entry i of a caller's table. */
typedef const char *(*ug__key_of)(const void *table, size_t i);

/* A hash index from keys to the numbers of entries in a caller's table,
 * which keeps the keys.  Zeroed, it is empty. */
typedef struct {
    uint32_t *slots; /* a number + 1, or 0: empty */
    size_t cap, count;
} ug__key_index;

/* The number of the entry whose key is `key`, or -1. */
long ug__key_index_find(const ug__key_index *x, const char *key,
                        ug__key_of key_of, const void *table);

/* Adds entry `number` of `table` (whose key must not be in the index
 * yet).  Returns 0 or UG_ENOMEM (the index is then unchanged). */
int ug__key_index_add(ug__key_index *x, size_t number, ug__key_of key_of,
                      const void *table);

void ug__key_index_free(ug__key_index *x);

/* ---- counts per 64-bit key (url_index.c) ---------------------------- */

typedef struct ug__counts ug__counts;

int ug__counts_new(ug__counts **out);
void ug__counts_free(ug__counts *c);
/* Adds one to the count of `key` and returns the new count (>= 1), or 0
 * when memory runs out (never for a key counted before). */
uint32_t ug__counts_bump(ug__counts *c, uint64_t key);
/* Takes one from the count of `key` and returns what is left: 0 for a key
 * whose count is 0 or that was never counted. */
uint32_t ug__counts_take(ug__counts *c, uint64_t key);
/* How many keys were ever counted. */
size_t ug__counts_keys(const ug__counts *c);
/* The sum of every key's count. */
uint64_t ug__counts_total(const ug__counts *c);

/* A hash of `url` from its start to the end of its authority (the first
 * '/', '?' or '#' after "://"), without case: one key per scheme, host and
 * port as written, without a parse.  The fetch loop counts its requests
 * by it, and deals them out to its threads. */
uint64_t ug__url_authority_hash(const char *url);

#endif
