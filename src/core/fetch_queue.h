/* fetch_queue.h - where requests wait inside one fetch loop (private).
 *
 * Hosts are found by key ("scheme://host:port") in a hash table; each has
 * a FIFO of waiting requests and a count of transfers in flight.  The
 * hosts that could start a transfer now (a request waiting, fewer than
 * per_host in flight) sit in a ring, taken round-robin.  Retries wait for
 * their time in a min-heap by due time.  Every operation is O(1) or
 * O(log n), so a crawl over thousands of hosts, or a batch of thousands of
 * failing URLs, costs no more per request than a small batch.
 *
 * The queue links requests through a fetch_entry embedded in each; it
 * owns the hosts and its arrays, never the requests.
 */
#ifndef UNGIL_FETCH_QUEUE_H
#define UNGIL_FETCH_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "url_internal.h"

typedef struct fetch_host fetch_host;

/* The queue's part of a request. */
typedef struct fetch_entry {
    struct fetch_entry *next; /* in a FIFO */
    fetch_host *host;         /* set when the request first joins a host */
    uint64_t due_ns;          /* when a delayed retry may start */
} fetch_entry;

/* A FIFO of entries, linked through their `next`. */
typedef struct {
    fetch_entry *head, *tail;
} fetch_fifo;

struct fetch_host {
    char *key;
    unsigned active;          /* transfers in flight */
    fetch_fifo waiting;       /* requests, oldest first */
    fetch_host *ring_next;
    bool in_ring;
};

typedef struct {
    unsigned per_host;
    fetch_host **hosts;       /* every host, in order of arrival */
    size_t nhosts, hosts_cap;
    ug__key_index by_key;     /* numbers in `hosts` by key */
    fetch_host *ring_head, *ring_tail;
    size_t queued;            /* requests in host FIFOs */
    fetch_entry **heap;       /* delayed requests, soonest first */
    size_t ndelayed, heap_cap;
} fetch_queue;

/* Appends `e` to `fifo`. */
void fetch_fifo_push(fetch_fifo *fifo, fetch_entry *e);

/* Takes the oldest entry of `fifo`, or NULL. */
fetch_entry *fetch_fifo_pop(fetch_fifo *fifo);

/* An empty queue; at most per_host transfers in flight for each host. */
void fetch_queue_init(fetch_queue *q, unsigned per_host);

/* Frees the hosts and the arrays (not the requests). */
void fetch_queue_free(fetch_queue *q);

/* The host with this key, created on first use; NULL when memory runs
 * out. */
fetch_host *fetch_queue_host(fetch_queue *q, const char *key);

/* Appends `e` to the FIFO of host `h`. */
void fetch_queue_push(fetch_queue *q, fetch_host *h, fetch_entry *e);

/* Takes the oldest request of the next host in turn and counts it in
 * flight on its host; NULL when no host can start one. */
fetch_entry *fetch_queue_take(fetch_queue *q);

/* Undoes fetch_queue_take for `e`, which did not start: it is first in
 * its host's FIFO again. */
void fetch_queue_untake(fetch_queue *q, fetch_entry *e);

/* A transfer of host `h` ended: one fewer in flight. */
void fetch_queue_release(fetch_queue *q, fetch_host *h);

/* Forgets every transfer in flight (after aborting them all). */
void fetch_queue_release_all(fetch_queue *q);

/* Puts `e` aside until due_ns.  Returns 0, or UG_ENOMEM (then `e` is not
 * queued anywhere). */
int fetch_queue_delay(fetch_queue *q, fetch_entry *e, uint64_t due_ns);

/* Moves the delayed requests due by `now` to the front of their hosts'
 * FIFOs (a retry keeps its turn).  Returns the due time of the next one
 * still waiting, or UINT64_MAX. */
uint64_t fetch_queue_release_due(fetch_queue *q, uint64_t now);

#endif
