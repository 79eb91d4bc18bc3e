/* fetch_queue.c - hosts by key, the ring of ready hosts, the delay heap.
 * See fetch_queue.h.
 *
 * The ring holds every host that is ready (a request waiting, fewer than
 * per_host in flight) and may hold a host that stopped being ready: a host
 * leaves the ring only when fetch_queue_take finds it there, so readiness is
 * checked where it is used, and every change that can make a host ready
 * (a push, a release) puts it back if it is out.
 */
#include "fetch_queue.h"

#include <stdlib.h>
#include <string.h>

#include "fetch_internal.h"
#include "ungil/error.h"
#include "ungil/fetch.h"

void fetch_queue_init(fetch_queue *q, unsigned per_host) {
    *q = (fetch_queue){.per_host = per_host};
}

void fetch_queue_free(fetch_queue *q) {
    for (size_t i = 0; i < q->nhosts; i++) {
        free(q->hosts[i]->key);
        free(q->hosts[i]);
    }
    free(q->hosts);
    ug__key_index_free(&q->by_key);
    free(q->heap);
    *q = (fetch_queue){.per_host = q->per_host};
}

/* ---- hosts by key ----------------------------------------------------- */

static const char *host_key(const void *hosts, size_t i) {
    return ((fetch_host *const *)hosts)[i]->key;
}

fetch_host *fetch_queue_host(fetch_queue *q, const char *key) {
    long found = ug__key_index_find(&q->by_key, key, host_key, q->hosts);
    if (found >= 0)
        return q->hosts[found];
    fetch_host **hosts = fetch_reserve(q->hosts, q->nhosts, &q->hosts_cap,
                                       sizeof *hosts);
    if (!hosts)
        return NULL;
    q->hosts = hosts;
    fetch_host *h = calloc(1, sizeof *h);
    if (!h || !(h->key = strdup(key))) {
        free(h);
        return NULL;
    }
    q->hosts[q->nhosts] = h;
    if (ug__key_index_add(&q->by_key, q->nhosts, host_key, q->hosts)) {
        free(h->key);
        free(h);
        return NULL;
    }
    q->nhosts++;
    return h;
}

/* ---- the ring of ready hosts ------------------------------------------ */

static bool ready(const fetch_queue *q, const fetch_host *h) {
    return h->waiting.head && h->active < q->per_host;
}

/* Puts a ready host that is out of the ring back in, last in turn. */
static void ring_add(fetch_queue *q, fetch_host *h) {
    if (h->in_ring || !ready(q, h))
        return;
    h->in_ring = true;
    h->ring_next = NULL;
    if (q->ring_tail)
        q->ring_tail->ring_next = h;
    else
        q->ring_head = h;
    q->ring_tail = h;
}

static fetch_host *ring_pop(fetch_queue *q) {
    fetch_host *h = q->ring_head;
    if (h) {
        if (!(q->ring_head = h->ring_next))
            q->ring_tail = NULL;
        h->in_ring = false;
    }
    return h;
}

/* ---- host FIFOs ------------------------------------------------------- */

void fetch_fifo_push(fetch_fifo *fifo, fetch_entry *e) {
    e->next = NULL;
    if (fifo->tail)
        fifo->tail->next = e;
    else
        fifo->head = e;
    fifo->tail = e;
}

fetch_entry *fetch_fifo_pop(fetch_fifo *fifo) {
    fetch_entry *e = fifo->head;
    if (e && !(fifo->head = e->next))
        fifo->tail = NULL;
    return e;
}

/* Puts `e` in the FIFO of its host `h`: last, or first with `first`. */
static void join(fetch_queue *q, fetch_host *h, fetch_entry *e, bool first) {
    e->host = h;
    if (first && h->waiting.head) {
        e->next = h->waiting.head;
        h->waiting.head = e;
    } else {
        fetch_fifo_push(&h->waiting, e);
    }
    q->queued++;
    ring_add(q, h);
}

void fetch_queue_push(fetch_queue *q, fetch_host *h, fetch_entry *e) {
    join(q, h, e, false);
}

fetch_entry *fetch_queue_take(fetch_queue *q) {
    fetch_host *h;
    while ((h = ring_pop(q)) && !ready(q, h))
        ; /* stopped being ready while in the ring: drop it */
    if (!h)
        return NULL;
    fetch_entry *e = fetch_fifo_pop(&h->waiting);
    q->queued--;
    h->active++;
    ring_add(q, h); /* its next request waits for the others' turn */
    return e;
}

void fetch_queue_untake(fetch_queue *q, fetch_entry *e) {
    e->host->active--;
    join(q, e->host, e, true);
}

void fetch_queue_release(fetch_queue *q, fetch_host *h) {
    h->active--;
    ring_add(q, h);
}

void fetch_queue_release_all(fetch_queue *q) {
    for (size_t i = 0; i < q->nhosts; i++) {
        q->hosts[i]->active = 0;
        ring_add(q, q->hosts[i]);
    }
}

/* ---- the delay heap --------------------------------------------------- */

static void heap_swap(fetch_entry **heap, size_t i, size_t j) {
    fetch_entry *t = heap[i];
    heap[i] = heap[j];
    heap[j] = t;
}

int fetch_queue_delay(fetch_queue *q, fetch_entry *e, uint64_t due_ns) {
    fetch_entry **heap = fetch_reserve(q->heap, q->ndelayed, &q->heap_cap,
                                    sizeof *heap);
    if (!heap)
        return UG_ENOMEM;
    q->heap = heap;
    e->due_ns = due_ns;
    size_t i = q->ndelayed++;
    heap[i] = e;
    while (i && heap[(i - 1) / 2]->due_ns > heap[i]->due_ns) {
        heap_swap(heap, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    return 0;
}

static fetch_entry *heap_pop(fetch_queue *q) {
    fetch_entry **heap = q->heap, *top = heap[0];
    heap[0] = heap[--q->ndelayed];
    for (size_t i = 0;;) {
        size_t least = i, l = 2 * i + 1, r = l + 1;
        if (l < q->ndelayed && heap[l]->due_ns < heap[least]->due_ns)
            least = l;
        if (r < q->ndelayed && heap[r]->due_ns < heap[least]->due_ns)
            least = r;
        if (least == i)
            break;
        heap_swap(heap, i, least);
        i = least;
    }
    return top;
}

uint64_t fetch_queue_release_due(fetch_queue *q, uint64_t now) {
    while (q->ndelayed && q->heap[0]->due_ns <= now) {
        fetch_entry *e = heap_pop(q);
        join(q, e->host, e, true);
    }
    return q->ndelayed ? q->heap[0]->due_ns : UINT64_MAX;
}
