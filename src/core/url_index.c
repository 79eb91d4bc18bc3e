/* url_index.c - a hash index from host keys to the numbers of a caller's
 * table (url_internal.h): the fetch loop's hosts, the crawler's hosts and
 * the crawl scope's start hosts, found in O(1) however many there are.
 *
 * Open addressing with linear probing, at most half full; a slot holds a
 * number + 1 (0: empty).  The keys stay in the caller's table and are read
 * through key_of, so the index owns only its slots. */
#include "url_internal.h"

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
