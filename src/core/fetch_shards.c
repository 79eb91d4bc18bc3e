/* fetch_shards.c - one fetch engine as several loops on their own threads.
 *
 * When one core cannot take in the bodies as fast as the server sends them
 * (many small files from a near server), ug_fetch_new with threads above 1
 * builds this: `loops` ordinary one-loop engines (fetch.c), each with an
 * equal share of the total and per-host caps (the count of loops divides
 * both).  Each host's requests are dealt
 * out in turn, so every loop gets its share of every host (and can use its
 * share of that host's cap); each loop keeps the whole batch's index of
 * its requests.  File names are claimed in one shared set in the order of
 * ug_fetch_add, exactly as with one loop.
 *
 * The caller's callbacks run on the loops' threads under one mutex, so
 * they are never concurrent; results carry the whole batch's index, and
 * progress adds up the loops' latest snapshots.  This file owns the loops,
 * their threads and the shared name set.
 */
#include "fetch_internal.h"
#include "url_internal.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ungil/error.h"
#include "ungil/fetch.h"

/* Hosts are told apart by ug__url_authority_hash into this many
 * buckets: two hosts sharing a bucket are dealt out together, which only
 * evens out the loops a little less well. */
enum { HOST_BUCKETS = 256 };

struct loop {
    fetch_shards *s;
    unsigned k;               /* this loop's number */
    ug_fetch *fetch;
    size_t *index;            /* its request j is request index[j] */
    size_t nindex, index_cap;
    ug_fetch_progress last;   /* its latest progress snapshot */
    const int *cancel;
    int rc;                   /* what its ug_fetch_run returned */
};

struct fetch_shards {
    ug_fetch_options opts;    /* the caller's callbacks and ctx */
    unsigned count;
    struct loop *loops;
    ug_names *names;          /* file mode: shared by the loops */
    size_t added;
    size_t dealt[HOST_BUCKETS]; /* requests dealt out per host bucket */
    bool running;
    pthread_mutex_t lock;     /* serialises the caller's callbacks */
};

unsigned fetch_loops_for(const ug_fetch_options *o) {
    if (o->admit || o->reuse || o->on_data || o->on_response ||
        o->content_disposition)
        return 1;
    unsigned concurrency = o->concurrency ? o->concurrency : 1;
    unsigned per_host = o->per_host ? o->per_host : concurrency;
    unsigned n = o->threads ? o->threads : 1;
    while (n > 1 && (per_host % n || concurrency % n))
        n--;
    return n;
}

static void loop_done(void *ctx, const ug_fetch_result *res) {
    struct loop *l = ctx;
    fetch_shards *s = l->s;
    ug_fetch_result r = *res;
    r.index = l->index[res->index];
    pthread_mutex_lock(&s->lock);
    s->opts.on_done(s->opts.ctx, &r);
    pthread_mutex_unlock(&s->lock);
}

static void loop_progress(void *ctx, const ug_fetch_progress *p) {
    struct loop *l = ctx;
    fetch_shards *s = l->s;
    pthread_mutex_lock(&s->lock);
    l->last = *p;
    ug_fetch_progress sum = {.total = s->added};
    for (unsigned k = 0; k < s->count; k++) {
        const ug_fetch_progress *q = &s->loops[k].last;
        sum.done += q->done;
        sum.failed += q->failed;
        sum.active += q->active;
        sum.bytes += q->bytes;
        sum.rate += q->rate;
        if (q->elapsed_s > sum.elapsed_s)
            sum.elapsed_s = q->elapsed_s;
    }
    s->opts.on_progress(s->opts.ctx, &sum);
    pthread_mutex_unlock(&s->lock);
}

int fetch_shards_new(const ug_fetch_options *opts, unsigned loops,
                     fetch_shards **out) {
    *out = NULL;
    fetch_shards *s = calloc(1, sizeof *s);
    if (!s)
        return UG_ENOMEM;
    s->opts = *opts;
    s->count = loops;
    pthread_mutex_init(&s->lock, NULL);
    int rc = UG_ENOMEM;
    if (!(s->loops = calloc(loops, sizeof *s->loops)))
        goto fail;
    if (opts->dest_dir && (rc = ug_names_new(-1, &s->names)))
        goto fail;
    unsigned concurrency = opts->concurrency ? opts->concurrency : 1;
    unsigned per_host = opts->per_host ? opts->per_host : concurrency;
    unsigned first_slot = 0;
    for (unsigned k = 0; k < loops; k++) {
        struct loop *l = &s->loops[k];
        l->s = s;
        l->k = k;
        ug_fetch_options o = *opts;
        o.threads = 1;
        o.concurrency = concurrency / loops; /* fetch_loops_for: exact */
        o.per_host = per_host / loops;
        o.on_done = loop_done;
        o.on_progress = opts->on_progress ? loop_progress : NULL;
        o.ctx = l;
        if (opts->seed)
            o.seed = opts->seed + k;
        if ((rc = fetch_new_loop(&o, first_slot, s->names, &l->fetch)))
            goto fail;
        first_slot += o.concurrency;
    }
    *out = s;
    return 0;
fail:
    fetch_shards_free(s);
    return rc;
}

void fetch_shards_free(fetch_shards *s) {
    if (!s)
        return;
    for (unsigned k = 0; s->loops && k < s->count; k++) {
        ug_fetch_free(s->loops[k].fetch);
        free(s->loops[k].index);
    }
    ug_names_free(s->names);
    free(s->loops);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

long fetch_shards_add(fetch_shards *s, const char *url, const char *name,
                      const char *sha256, void *user) {
    if (s->running)
        return UG_EINVAL; /* a loop's thread may be inside its engine */
    unsigned bucket = (unsigned)(ug__url_authority_hash(url) % HOST_BUCKETS);
    struct loop *l = &s->loops[s->dealt[bucket] % s->count];
    size_t *index = fetch_reserve(l->index, l->nindex, &l->index_cap,
                                  sizeof *index);
    if (!index)
        return UG_ENOMEM;
    l->index = index;
    long local = ug_fetch_add(l->fetch, url, name, sha256, user);
    if (local < 0)
        return local;
    l->index[l->nindex++] = s->added;
    s->dealt[bucket]++;
    return (long)s->added++;
}

static void *loop_main(void *arg) {
    struct loop *l = arg;
    l->rc = ug_fetch_run(l->fetch, l->cancel);
    return NULL;
}

int fetch_shards_run(fetch_shards *s, const int *cancel) {
    s->running = true;
    pthread_t *threads = calloc(s->count, sizeof *threads);
    bool *started = calloc(s->count, sizeof *started);
    for (unsigned k = 0; k < s->count; k++)
        s->loops[k].cancel = cancel;
    for (unsigned k = 1; threads && started && k < s->count; k++)
        started[k] = !pthread_create(&threads[k], NULL, loop_main, &s->loops[k]);
    loop_main(&s->loops[0]);
    int rc = s->loops[0].rc;
    for (unsigned k = 1; k < s->count; k++) {
        if (started && started[k])
            pthread_join(threads[k], NULL);
        else
            loop_main(&s->loops[k]); /* no thread for it: run it here */
        if (!rc)
            rc = s->loops[k].rc;
    }
    free(threads);
    free(started);
    return rc;
}

void fetch_shards_wake(fetch_shards *s) {
    for (unsigned k = 0; k < s->count; k++)
        ug_fetch_wake(s->loops[k].fetch);
}
