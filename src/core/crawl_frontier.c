/* crawl_frontier.c - one breadth-first level of URLs, stored compactly.
 *
 * The URLs of a level live back to back in one growing string arena, each
 * with its NUL; a 16-byte entry per URL holds its offset, its host and the
 * link that threads it into its host's queue.  A level is filled once (at
 * the barrier between two levels), read while its pages are fetched, then
 * cleared and reused for the level after next, so the memory of a crawl is
 * that of its two widest levels.
 */
#include "crawl_internal.h"

#include <stdlib.h>
#include <string.h>

#include "ungil/crawl.h"
#include "ungil/error.h"

long ug__frontier_push(ug__frontier *f, const char *url, size_t n,
                       uint32_t host) {
    if (f->used + n + 1 > f->cap) {
        size_t cap = f->cap ? f->cap : 65536;
        while (cap < f->used + n + 1)
            cap *= 2;
        char *grown = realloc(f->arena, cap);
        if (!grown)
            return UG_ENOMEM;
        f->arena = grown;
        f->cap = cap;
    }
    if (f->count == f->entries_cap) {
        size_t cap = f->entries_cap ? 2 * f->entries_cap : 1024;
        ug__frontier_entry *grown = realloc(f->entries, cap * sizeof *grown);
        if (!grown)
            return UG_ENOMEM;
        f->entries = grown;
        f->entries_cap = cap;
    }
    memcpy(f->arena + f->used, url, n);
    f->arena[f->used + n] = '\0';
    f->entries[f->count] = (ug__frontier_entry){
        .offset = f->used, .host = host, .next = UG__NONE};
    f->used += n + 1;
    return (long)f->count++;
}

void ug__frontier_clear(ug__frontier *f) {
    f->used = 0;
    f->count = 0;
}

void ug__frontier_free(ug__frontier *f) {
    free(f->arena);
    free(f->entries);
    memset(f, 0, sizeof *f);
}

size_t ug__frontier_bytes(const ug__frontier *f) {
    return f->cap + f->entries_cap * sizeof *f->entries;
}
