/* url_index.c - hash tables keyed by URLs or their parts
 * (url_internal.h), shared by the fetch loop and the crawler.
 *
 * The index of host keys maps a key to the number of an entry of a
 * caller's table: the fetch loop's hosts, the crawler's hosts and the
 * crawl scope's start hosts, found in O(1) however many there are.  Open
 * addressing with linear probing, at most half full; a slot holds a
 * number + 1 (0: empty).  The keys stay in the caller's table and are read
 * through key_of, so the index owns only its slots.
 *
 * The counts map a 64-bit key (a hash: 0 is stored as 1) to a count: the
 * crawler's URLs per query-less variant, the fetch loop's requests yet to
 * start per authority.  Linear probing too, grown to twice the size when
 * 3/4 full. */
#include "url_internal.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ungil/error.h"
#include "ungil/url.h"

static size_t hash_key(const char *key) {
    uint64_t h = 14695981039346656037u; /* FNV-1a */
    for (; *key; key++)
        h = (h ^ (unsigned char)*key) * 1099511628211u;
    return (size_t)h;
}

/* The slot holding `key`, or the empty slot where it would go. */
static uint32_t *slot_of(uint32_t *slots, size_t cap, const char *key,
                         ug__key_of key_of, const void *table) {
    size_t i = hash_key(key) & (cap - 1);
    while (slots[i] && strcmp(key_of(table, slots[i] - 1), key))
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

long ug__key_index_find(const ug__key_index *x, const char *key,
                        ug__key_of key_of, const void *table) {
    if (!x->cap)
        return -1;
    uint32_t found = *slot_of(x->slots, x->cap, key, key_of, table);
    return found ? (long)found - 1 : -1;
}

int ug__key_index_add(ug__key_index *x, size_t number, ug__key_of key_of,
                      const void *table) {
    if (number >= UINT32_MAX)
        return UG_ENOMEM;
    if ((x->count + 1) * 2 > x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 16;
        uint32_t *slots = calloc(cap, sizeof *slots);
        if (!slots)
            return UG_ENOMEM;
        for (size_t i = 0; i < x->cap; i++)
            if (x->slots[i])
                *slot_of(slots, cap, key_of(table, x->slots[i] - 1), key_of,
                         table) = x->slots[i];
        free(x->slots);
        x->slots = slots;
        x->cap = cap;
    }
    *slot_of(x->slots, x->cap, key_of(table, number), key_of, table) =
        (uint32_t)number + 1;
    x->count++;
    return 0;
}

void ug__key_index_free(ug__key_index *x) {
    free(x->slots);
    *x = (ug__key_index){0};
}

/* ---- counts per 64-bit key -------------------------------------------- */

enum { COUNTS_FIRST_CAP = 1024 };

struct ug__counts {
    uint64_t *keys; /* 0 = empty; a key of 0 is stored as 1 */
    uint32_t *values;
    size_t cap, count;
    uint64_t total; /* the sum of the values */
};

/* The slot holding `key`, or the empty slot where it would go. */
static size_t counts_find(const uint64_t *keys, size_t cap, uint64_t key) {
    size_t mask = cap - 1, i = (size_t)key & mask;
    while (keys[i] && keys[i] != key)
        i = (i + 1) & mask;
    return i;
}

int ug__counts_new(ug__counts **out) {
    ug__counts *c = calloc(1, sizeof *c);
    if (!c)
        return UG_ENOMEM;
    c->keys = calloc(COUNTS_FIRST_CAP, sizeof *c->keys);
    c->values = calloc(COUNTS_FIRST_CAP, sizeof *c->values);
    if (!c->keys || !c->values) {
        ug__counts_free(c);
        return UG_ENOMEM;
    }
    c->cap = COUNTS_FIRST_CAP;
    *out = c;
    return 0;
}

void ug__counts_free(ug__counts *c) {
    if (!c)
        return;
    free(c->keys);
    free(c->values);
    free(c);
}

static int counts_grow(ug__counts *c) {
    size_t ncap = c->cap * 2;
    uint64_t *keys = calloc(ncap, sizeof *keys);
    uint32_t *values = calloc(ncap, sizeof *values);
    if (!keys || !values) {
        free(keys);
        free(values);
        return UG_ENOMEM;
    }
    for (size_t i = 0; i < c->cap; i++)
        if (c->keys[i]) {
            size_t j = counts_find(keys, ncap, c->keys[i]);
            keys[j] = c->keys[i];
            values[j] = c->values[i];
        }
    free(c->keys);
    free(c->values);
    c->keys = keys;
    c->values = values;
    c->cap = ncap;
    return 0;
}

uint32_t ug__counts_bump(ug__counts *c, uint64_t key) {
    key = key ? key : 1;
    size_t i = counts_find(c->keys, c->cap, key);
    if (!c->keys[i]) {
        if ((c->count + 1) * 4 > c->cap * 3) {
            if (counts_grow(c))
                return 0;
            i = counts_find(c->keys, c->cap, key);
        }
        c->keys[i] = key;
        c->count++;
    }
    if (c->values[i] < UINT32_MAX) {
        c->values[i]++;
        c->total++;
    }
    return c->values[i];
}

uint32_t ug__counts_take(ug__counts *c, uint64_t key) {
    key = key ? key : 1;
    size_t i = counts_find(c->keys, c->cap, key);
    if (!c->keys[i] || !c->values[i])
        return 0;
    c->total--;
    return --c->values[i];
}

size_t ug__counts_keys(const ug__counts *c) { return c->count; }

uint64_t ug__counts_total(const ug__counts *c) { return c->total; }

uint64_t ug__url_authority_hash(const char *url) {
    const char *p = url ? url : "";
    const char *sep = strstr(p, "://");
    const char *authority = sep ? sep + 3 : p;
    uint64_t h = 14695981039346656037u; /* FNV-1a */
    for (; *p && (p < authority || (*p != '/' && *p != '?' && *p != '#'));
         p++)
        h = (h ^ (uint64_t)tolower((unsigned char)*p)) * 1099511628211u;
    return h;
}
