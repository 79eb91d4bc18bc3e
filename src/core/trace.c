/* trace.c - per-thread event lanes and the label table.
 *
 * Each thread that records gets a lane: a chain of blocks of BLOCK_EVENTS
 * events that only that thread appends to.  The lane's `published` count is
 * stored with release order after the event (and any new block link) is
 * written, so readers that load it with acquire order may read that many
 * events without a lock.  A thread finds its lane through a one-entry
 * thread-local cache keyed by the trace's unique id; on a miss it searches
 * the lane list under the trace's lock, by a per-thread token (the address
 * of a thread-local variable).  A thread that exits leaves its lane behind;
 * a later thread with the same token continues it, which is safe because
 * the lane still has one writer at a time.  Named lanes (token NULL) belong
 * to no thread; their single writer is whoever the caller says.
 *
 * The writers (JSON and SVG) are in trace_write.c.
 */
#include "ungil/trace.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ungil/error.h"

enum { BLOCK_EVENTS = 1024 };

struct event {
    uint64_t start, end, arg;
    uint32_t label;
};

struct block {
    struct block *next;
    struct event ev[BLOCK_EVENTS];
};

struct ug_trace_lane {
    const void *token; /* the owning thread's, or NULL for a named lane */
    char *name;        /* guarded by the trace lock */
    struct block *head, *tail;
    size_t tail_used;  /* writer-private */
    atomic_size_t published;
};

struct ug_trace {
    uint64_t id;
    uint64_t origin;
    pthread_mutex_t lock; /* lanes array, lane names, labels */
    struct ug_trace_lane **lanes;
    unsigned nlanes, lanes_cap;
    char **labels;
    uint32_t nlabels, labels_cap;
    atomic_size_t dropped;
};

static atomic_uint_fast64_t next_trace_id = 1;
static _Thread_local char thread_token;
static _Thread_local struct {
    uint64_t trace_id;
    struct ug_trace_lane *lane;
} lane_cache;

uint64_t ug_clock_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int ug_trace_new(ug_trace **out) {
    ug_trace *t = calloc(1, sizeof *t);
    if (!t)
        return UG_ENOMEM;
    t->labels = malloc(8 * sizeof *t->labels);
    char *task = strdup("task");
    if (!t->labels || !task) {
        free(t->labels);
        free(task);
        free(t);
        return UG_ENOMEM;
    }
    t->labels[0] = task;
    t->nlabels = 1;
    t->labels_cap = 8;
    pthread_mutex_init(&t->lock, NULL);
    t->id = atomic_fetch_add(&next_trace_id, 1);
    t->origin = ug_clock_ns();
    *out = t;
    return 0;
}

static void lane_free_blocks(struct ug_trace_lane *l) {
    struct block *b = l->head;
    while (b) {
        struct block *next = b->next;
        free(b);
        b = next;
    }
    l->head = l->tail = NULL;
    l->tail_used = 0;
    atomic_store(&l->published, 0);
}

void ug_trace_free(ug_trace *t) {
    if (!t)
        return;
    for (unsigned i = 0; i < t->nlanes; i++) {
        lane_free_blocks(t->lanes[i]);
        free(t->lanes[i]->name);
        free(t->lanes[i]);
    }
    for (uint32_t i = 0; i < t->nlabels; i++)
        free(t->labels[i]);
    free(t->lanes);
    free(t->labels);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

uint32_t ug_trace_label(ug_trace *t, const char *label) {
    uint32_t id = 0;
    pthread_mutex_lock(&t->lock);
    for (uint32_t i = 0; i < t->nlabels; i++) {
        if (!strcmp(t->labels[i], label)) {
            id = i;
            goto out;
        }
    }
    if (t->nlabels == t->labels_cap) {
        char **grown = realloc(t->labels, 2 * t->labels_cap * sizeof *grown);
        if (!grown)
            goto out;
        t->labels = grown;
        t->labels_cap *= 2;
    }
    char *copy = strdup(label);
    if (!copy)
        goto out;
    id = t->nlabels;
    t->labels[t->nlabels++] = copy;
out:
    pthread_mutex_unlock(&t->lock);
    return id;
}

/* Appends an empty lane, with t->lock held; NULL if memory runs out. */
static struct ug_trace_lane *lane_add_locked(ug_trace *t) {
    if (t->nlanes == t->lanes_cap) {
        unsigned cap = t->lanes_cap ? 2 * t->lanes_cap : 8;
        struct ug_trace_lane **grown = realloc(t->lanes, cap * sizeof *grown);
        if (!grown)
            return NULL;
        t->lanes = grown;
        t->lanes_cap = cap;
    }
    struct ug_trace_lane *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    t->lanes[t->nlanes++] = l;
    return l;
}

/* Finds or creates the calling thread's lane, with t->lock held. */
static struct ug_trace_lane *lane_locked(ug_trace *t) {
    for (unsigned i = 0; i < t->nlanes; i++)
        if (t->lanes[i]->token == &thread_token)
            return t->lanes[i];
    struct ug_trace_lane *l = lane_add_locked(t);
    if (l)
        l->token = &thread_token;
    return l;
}

ug_trace_lane *ug_trace_named_lane(ug_trace *t, const char *name) {
    ug_trace_lane *l = NULL;
    pthread_mutex_lock(&t->lock);
    for (unsigned i = 0; i < t->nlanes; i++) {
        if (!t->lanes[i]->token && !strcmp(t->lanes[i]->name, name)) {
            l = t->lanes[i];
            goto out;
        }
    }
    char *copy = strdup(name);
    if (copy && (l = lane_add_locked(t)))
        l->name = copy;
    else
        free(copy);
out:
    pthread_mutex_unlock(&t->lock);
    return l;
}

static struct ug_trace_lane *my_lane(ug_trace *t) {
    if (lane_cache.trace_id == t->id)
        return lane_cache.lane;
    pthread_mutex_lock(&t->lock);
    struct ug_trace_lane *l = lane_locked(t);
    pthread_mutex_unlock(&t->lock);
    if (l) {
        lane_cache.trace_id = t->id;
        lane_cache.lane = l;
    }
    return l;
}

int ug_trace_name_thread(ug_trace *t, const char *name) {
    char *copy = strdup(name);
    if (!copy)
        return UG_ENOMEM;
    pthread_mutex_lock(&t->lock);
    struct ug_trace_lane *l = lane_locked(t);
    if (l) {
        free(l->name);
        l->name = copy;
        copy = NULL;
    }
    pthread_mutex_unlock(&t->lock);
    if (copy) {
        free(copy);
        return UG_ENOMEM;
    }
    return 0;
}

void ug_trace_record_lane(ug_trace *t, ug_trace_lane *l, uint32_t label,
                          uint64_t start_ns, uint64_t end_ns, uint64_t arg) {
    if (!l) {
        atomic_fetch_add_explicit(&t->dropped, 1, memory_order_relaxed);
        return;
    }
    if (!l->tail || l->tail_used == BLOCK_EVENTS) {
        struct block *b = malloc(sizeof *b);
        if (!b) {
            atomic_fetch_add_explicit(&t->dropped, 1, memory_order_relaxed);
            return;
        }
        b->next = NULL;
        if (l->tail)
            l->tail->next = b;
        else
            l->head = b;
        l->tail = b;
        l->tail_used = 0;
    }
    struct event *e = &l->tail->ev[l->tail_used++];
    e->start = start_ns;
    e->end = end_ns;
    e->arg = arg;
    e->label = label;
    size_t n = atomic_load_explicit(&l->published, memory_order_relaxed);
    atomic_store_explicit(&l->published, n + 1, memory_order_release);
}

void ug_trace_record(ug_trace *t, uint32_t label, uint64_t start_ns,
                     uint64_t end_ns, uint64_t arg) {
    ug_trace_record_lane(t, my_lane(t), label, start_ns, end_ns, arg);
}

size_t ug_trace_count(ug_trace *t) {
    size_t n = 0;
    pthread_mutex_lock(&t->lock);
    for (unsigned i = 0; i < t->nlanes; i++)
        n += atomic_load_explicit(&t->lanes[i]->published, memory_order_acquire);
    pthread_mutex_unlock(&t->lock);
    return n;
}

size_t ug_trace_dropped(ug_trace *t) { return atomic_load(&t->dropped); }

unsigned ug_trace_lanes(ug_trace *t) {
    pthread_mutex_lock(&t->lock);
    unsigned n = t->nlanes;
    pthread_mutex_unlock(&t->lock);
    return n;
}

int ug_trace_foreach(ug_trace *t,
                     int (*fn)(const ug_trace_event *ev, void *ctx), void *ctx) {
    int rc = 0;
    char fallback[32];
    pthread_mutex_lock(&t->lock);
    for (unsigned li = 0; li < t->nlanes && !rc; li++) {
        struct ug_trace_lane *l = t->lanes[li];
        size_t n = atomic_load_explicit(&l->published, memory_order_acquire);
        const char *lane_name = l->name;
        if (!lane_name) {
            snprintf(fallback, sizeof fallback, "thread %u", li);
            lane_name = fallback;
        }
        /* `head` may be read only after `published` says it is written: a
         * lane's first event stores it while we may be here. */
        struct block *b = NULL;
        for (size_t i = 0; i < n && !rc; i++) {
            if (i % BLOCK_EVENTS == 0)
                b = i ? b->next : l->head;
            const struct event *e = &b->ev[i % BLOCK_EVENTS];
            ug_trace_event ev = {
                .lane = li,
                .lane_name = lane_name,
                .label = e->label < t->nlabels ? t->labels[e->label] : "task",
                .start_ns = e->start > t->origin ? e->start - t->origin : 0,
                .end_ns = e->end > t->origin ? e->end - t->origin : 0,
                .arg = e->arg,
            };
            rc = fn(&ev, ctx);
        }
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

void ug_trace_clear(ug_trace *t) {
    pthread_mutex_lock(&t->lock);
    for (unsigned i = 0; i < t->nlanes; i++)
        lane_free_blocks(t->lanes[i]);
    atomic_store(&t->dropped, 0);
    pthread_mutex_unlock(&t->lock);
}
