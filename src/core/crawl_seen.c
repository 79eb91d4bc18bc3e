/* crawl_seen.c - the crawler's seen-set, and the hash it is built on.
 *
 * An open-addressing table with linear probing over a power-of-two array,
 * grown to twice the size when 3/4 full.  The seen-set keeps only a
 * 64-bit hash per URL (0 marks an empty slot, so a hash of 0 is stored as
 * 1): a million URLs take 16 MiB whatever their length.  The odds of a
 * false "already seen" are in crawl_internal.h.  The hash reads the key 8
 * bytes at a time, each word multiplied, rotated and multiplied into the
 * state (a round in the style of xxHash's), then the murmur3 finaliser
 * mixes every bit into every other.
 */
#include "crawl_internal.h"

#include <stdlib.h>
#include <string.h>

#include "ungil/crawl.h"
#include "ungil/error.h"

enum { FIRST_CAP = 1024 };

static const uint64_t K1 = 0x9e3779b97f4a7c15ull, K2 = 0xc2b2ae3d27d4eb4full,
                      K3 = 0x165667b19e3779f9ull;

static uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static uint64_t fmix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

uint64_t ug__hash64(const void *data, size_t n, uint64_t seed) {
    const unsigned char *p = data;
    uint64_t h = seed ^ ((uint64_t)n * K1);
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h ^= rotl(w * K2, 31) * K1;
        h = rotl(h, 27) * K1 + K3;
    }
    uint64_t tail = 0;
    for (size_t i = 0; i < n; i++)
        tail |= (uint64_t)p[i] << (8 * i);
    h ^= rotl(tail * K3, 29) * K2;
    return fmix64(h);
}

/* ---- the seen-set ------------------------------------------------------ */

struct ug__seen {
    uint64_t seed;
    uint64_t *slots; /* 0 = empty */
    size_t cap, count;
};

int ug__seen_new(uint64_t seed, ug__seen **out) {
    ug__seen *s = calloc(1, sizeof *s);
    if (!s || !(s->slots = calloc(FIRST_CAP, sizeof *s->slots))) {
        free(s);
        return UG_ENOMEM;
    }
    s->seed = seed;
    s->cap = FIRST_CAP;
    *out = s;
    return 0;
}

void ug__seen_free(ug__seen *s) {
    if (!s)
        return;
    free(s->slots);
    free(s);
}

/* The slot holding `h`, or the empty slot where it would go. */
static size_t find(const uint64_t *slots, size_t cap, uint64_t h) {
    size_t mask = cap - 1, i = (size_t)h & mask;
    while (slots[i] && slots[i] != h)
        i = (i + 1) & mask;
    return i;
}

static int grow(uint64_t **slots, size_t *cap) {
    size_t ncap = *cap * 2;
    uint64_t *grown = calloc(ncap, sizeof *grown);
    if (!grown)
        return UG_ENOMEM;
    for (size_t i = 0; i < *cap; i++)
        if ((*slots)[i])
            grown[find(grown, ncap, (*slots)[i])] = (*slots)[i];
    free(*slots);
    *slots = grown;
    *cap = ncap;
    return 0;
}

static uint64_t key_of(const ug__seen *s, const char *url, size_t n) {
    uint64_t h = ug__hash64(url, n, s->seed);
    return h ? h : 1;
}

int ug__seen_add(ug__seen *s, const char *url, size_t n) {
    uint64_t h = key_of(s, url, n);
    size_t i = find(s->slots, s->cap, h);
    if (s->slots[i])
        return 0;
    if ((s->count + 1) * 4 > s->cap * 3) {
        if (grow(&s->slots, &s->cap))
            return UG_ENOMEM;
        i = find(s->slots, s->cap, h);
    }
    s->slots[i] = h;
    s->count++;
    return 1;
}

int ug__seen_has(const ug__seen *s, const char *url, size_t n) {
    return s->slots[find(s->slots, s->cap, key_of(s, url, n))] != 0;
}

size_t ug__seen_count(const ug__seen *s) { return s->count; }

size_t ug__seen_bytes(const ug__seen *s) {
    return sizeof *s + s->cap * sizeof *s->slots;
}
