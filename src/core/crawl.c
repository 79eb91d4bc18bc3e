/* crawl.c - the crawler: levels, hosts and politeness, starting pages.
 *
 * The run is a loop over breadth-first levels.  For each level:
 *   1. robots: every host of the level not met before gets its robots.txt
 *      fetched (all at once, through the engine) and parsed;
 *   2. finalise: the level's URLs, in order, are checked against robots
 *      and the page budget, and threaded into per-host queues;
 *   3. drive: pages start when a global slot and a slot of their host are
 *      free and the host's delay has passed (ug__crawl_dispatch(), called
 *      again from every completion and every turn of the engine's loop);
 *      crawl_page.c streams each body into an HTML parser and, one engine
 *      turn after completion, makes the page a graph node with edges to
 *      its links, keeping its followable links for the barrier;
 *   4. barrier: the next level is built from those links, page by page in
 *      level order, each URL kept if new to the seen-set and under the
 *      query-variant guard.
 * Because the next level is built only at the barrier, in a fixed order,
 * the crawl fetches the same pages as a sequential breadth-first crawl
 * would.  The cost is a short idle time at each level's tail, when fewer
 * pages than slots are left.
 *
 * The engine runs until it has nothing in flight; when every queued page
 * waits for a host's delay, drive() sleeps (in 50 ms slices, watching the
 * cancel flag) and runs the engine again.
 *
 * Known limits: the start of each request looks at the hosts round-robin
 * from where the last one left off, so it scans the hosts with nothing to
 * start; the fetch engine keeps a small record per request until the
 * crawl ends; a node's followable flag takes one byte per graph node.
 */
#include "ungil/crawl.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crawl_state.h"
#include "ungil/error.h"
#include "ungil/trace.h"
#include "ungil/url.h"

enum { TICK_MS = 50 };

static const char *const WHY_DEPTH = "beyond the depth limit";
static const char *const WHY_PAGES = "beyond the page limit";
static const char *const WHY_QUERY = "too many query variants of this path";
static const char *const WHY_ROBOTS = "disallowed by robots.txt";

/* ---- options and set-up ------------------------------------------------ */

void ug_crawl_options_init(ug_crawl_options *o) {
    memset(o, 0, sizeof *o);
    o->concurrency = 64;
    o->per_host = 8;
    o->max_pages = 1000;
    o->max_depth = UG_CRAWL_ANY_DEPTH;
    o->scope = UG_CRAWL_HOST;
    o->robots = 1;
    o->max_crawl_delay_ms = 10000;
    o->timeout_ms = 30000;
    o->connect_timeout_ms = 10000;
    o->retries = 1;
    o->max_redirects = 10;
    o->dns_cache_s = -1;
    o->max_bytes = 10u << 20;
    o->max_query_variants = 1000;
    o->progress_interval_ms = 200;
}

char *ug__crawl_strdup(const char *s, bool *failed) {
    if (!s)
        return NULL;
    char *copy = strdup(s);
    if (!copy)
        *failed = true;
    return copy;
}

int ug_crawl_new(const ug_crawl_options *opts, ug_crawl **out) {
    if (!opts || !out || !opts->concurrency || !opts->per_host ||
        opts->max_depth < UG_CRAWL_ANY_DEPTH || opts->dns_cache_s < -1 ||
        (opts->ncontent_types && !opts->content_types))
        return UG_EINVAL;
    *out = NULL;
    ug_crawl *c = calloc(1, sizeof *c);
    if (!c)
        return UG_ENOMEM;
    c->o = *opts;
    bool failed = false;
    c->user_agent = ug__crawl_strdup(opts->user_agent ? opts->user_agent
                                                 : UG_CRAWL_USER_AGENT, &failed);
    c->ca_file = ug__crawl_strdup(opts->ca_file, &failed);
    c->proxy = ug__crawl_strdup(opts->proxy, &failed);
    c->o.user_agent = c->user_agent;
    c->o.ca_file = c->ca_file;
    c->o.proxy = c->proxy;
    c->o.include = c->o.exclude = NULL;
    c->o.content_types = NULL;
    int rc = UG_ENOMEM;
    if (opts->ncontent_types) {
        c->content_types = calloc(opts->ncontent_types, sizeof *c->content_types);
        failed |= !c->content_types;
        for (size_t i = 0; !failed && i < opts->ncontent_types; i++) {
            if (!opts->content_types[i]) {
                rc = UG_EINVAL;
                goto fail;
            }
            c->content_types[i] = ug__crawl_strdup(opts->content_types[i], &failed);
        }
    }
    if (failed)
        goto fail;
    if ((rc = ug__scope_new(opts->scope, opts->include, opts->ninclude,
                            opts->exclude, opts->nexclude, &c->scope)))
        goto fail;
    uint64_t seed = opts->seed ? opts->seed
                               : ug_clock_ns() ^ (uint64_t)(uintptr_t)c;
    if ((rc = ug__seen_new(seed, &c->seen)) ||
        (rc = ug__counts_new(&c->variants)) || (rc = ug_graph_new(&c->graph)))
        goto fail;
    *out = c;
    return 0;
fail:
    ug_crawl_free(c);
    return rc;
}

void ug_crawl_free(ug_crawl *c) {
    if (!c)
        return;
    ug_fetch_free(c->fetch); /* frees the jobs' requests, not the jobs */
    while (c->jobs)
        ug__crawl_job_free(c->jobs);
    for (size_t i = 0; i < c->nhosts; i++) {
        free(c->hosts[i].key);
        ug_robots_free(c->hosts[i].robots);
    }
    free(c->hosts);
    ug__key_index_free(&c->hosts_by_key);
    for (size_t i = 0; c->content_types && i < c->o.ncontent_types; i++)
        free(c->content_types[i]);
    free(c->content_types);
    ug__scope_free(c->scope);
    ug__seen_free(c->seen);
    ug__counts_free(c->variants);
    ug_graph_free(c->graph);
    ug__frontier_free(&c->cur);
    ug__frontier_free(&c->next);
    free(c->follow);
    free(c->follow_off);
    free(c->follow_len);
    free(c->followable);
    free(c->user_agent);
    free(c->ca_file);
    free(c->proxy);
    free(c);
}

const ug_graph *ug_crawl_graph(const ug_crawl *c) { return c->graph; }

ug_graph *ug_crawl_take_graph(ug_crawl *c) {
    ug_graph *g = c->graph;
    c->graph = NULL;
    return g;
}

size_t ug_crawl_memory(const ug_crawl *c) {
    return ug__seen_bytes(c->seen) + ug__frontier_bytes(&c->cur) +
           ug__frontier_bytes(&c->next);
}

/* ---- hosts, nodes, levels ---------------------------------------------- */

static const char *host_key(const void *hosts, size_t i) {
    return ((const struct chost *)hosts)[i].key;
}

/* The index of the host of `url` (created if new), or a negative code. */
static long host_of(ug_crawl *c, const char *url) {
    char *key = NULL;
    int rc = ug_url_host(url, &key);
    if (rc)
        return rc;
    long found = ug__key_index_find(&c->hosts_by_key, key, host_key, c->hosts);
    if (found >= 0) {
        free(key);
        return found;
    }
    if (c->nhosts == c->hosts_cap) {
        size_t cap = c->hosts_cap ? 2 * c->hosts_cap : 4;
        struct chost *grown = realloc(c->hosts, cap * sizeof *grown);
        if (!grown) {
            free(key);
            return UG_ENOMEM;
        }
        c->hosts = grown;
        c->hosts_cap = cap;
    }
    c->hosts[c->nhosts] = (struct chost){
        .key = key, .head = UG__NONE, .tail = UG__NONE,
        .state = c->o.robots ? ROBOTS_NONE : ROBOTS_READY,
        .delay_ns = (uint64_t)c->o.delay_ms * 1000000u};
    if (ug__key_index_add(&c->hosts_by_key, c->nhosts, host_key, c->hosts)) {
        free(key);
        return UG_ENOMEM;
    }
    return (long)c->nhosts++;
}

/* Records the followable flag of node i. */
int ug__crawl_set_followable(ug_crawl *c, size_t i, bool yes) {
    if (i >= c->followable_cap) {
        size_t cap = c->followable_cap ? c->followable_cap : 4096;
        while (cap <= i)
            cap *= 2;
        unsigned char *grown = realloc(c->followable, cap);
        if (!grown)
            return UG_ENOMEM;
        memset(grown + c->followable_cap, 0, cap - c->followable_cap);
        c->followable = grown;
        c->followable_cap = cap;
    }
    c->followable[i] = yes;
    return 0;
}

/* The node of a link found at `depth`, added and classified if new:
 * followable, or not with its reason as the node's error. */
int ug__crawl_link_node(ug_crawl *c, const char *url, int depth, size_t *node) {
    int added = ug_graph_add_node(c->graph, url, node);
    if (added <= 0)
        return added;
    const char *why = ug__scope_check(c->scope, url);
    if (!why && c->o.max_depth != UG_CRAWL_ANY_DEPTH && depth > c->o.max_depth)
        why = WHY_DEPTH;
    int rc = ug_graph_set_depth(c->graph, *node, depth);
    if (!rc && why)
        rc = ug_graph_set_error(c->graph, *node, why);
    if (!rc)
        rc = ug__crawl_set_followable(c, *node, !why);
    return rc;
}

static const char *node_url(ug_crawl *c, size_t i) {
    ug_graph_node n;
    return ug_graph_node_get(c->graph, i, &n) ? NULL : n.url;
}

static int mark_node(ug_crawl *c, const char *url, const char *why) {
    size_t i;
    if (ug_graph_find(c->graph, url, &i) != 1)
        return 0;
    return ug_graph_set_error(c->graph, i, why);
}

/* Query-variant guard: true when `url` has a query and its host and path
 * already had max_query_variants distinct URLs. */
static bool too_many_variants(ug_crawl *c, const char *url) {
    const char *q = strchr(url, '?');
    if (!q || !c->o.max_query_variants)
        return false;
    uint64_t key = ug__hash64(url, (size_t)(q - url), 0x7175657279ull);
    uint32_t n = ug__counts_bump(c->variants, key);
    return n == 0 || n > c->o.max_query_variants;
}

/* Adds `url` to the level being built, if new to the seen-set. */
static int push_next(ug_crawl *c, const char *url) {
    size_t n = strlen(url);
    int fresh = ug__seen_add(c->seen, url, n);
    if (fresh <= 0)
        return fresh;
    if (too_many_variants(c, url))
        return mark_node(c, url, WHY_QUERY);
    long host = host_of(c, url);
    if (host < 0)
        return host == UG_EURL ? mark_node(c, url, UG__OUT_OF_SCOPE) : (int)host;
    long rc = ug__frontier_push(&c->next, url, n, (uint32_t)host);
    return rc < 0 ? (int)rc : 0;
}

int ug_crawl_add_seed(ug_crawl *c, const char *url) {
    if (c->started)
        return UG_EBUSY;
    char *norm = NULL;
    size_t node;
    int rc = ug_url_normalize(url, &norm);
    if (!rc)
        rc = ug__scope_add_seed(c->scope, norm);
    if (!rc && (rc = ug_graph_add_node(c->graph, norm, &node)) >= 0) {
        rc = ug_graph_set_depth(c->graph, node, 0);
        if (!rc)
            rc = ug__crawl_set_followable(c, node, true);
        if (!rc)
            rc = push_next(c, norm);
    }
    free(norm);
    return rc;
}

/* Builds the next level from the followable links of this one, page by
 * page in level order.  Past the page budget, new URLs are only marked. */
static int barrier(ug_crawl *c) {
    bool full = c->o.max_pages && c->budget_used >= c->o.max_pages;
    for (size_t i = 0; i < c->cur.count; i++)
        for (uint32_t k = 0; k < c->follow_len[i]; k++) {
            const char *url = node_url(c, c->follow[c->follow_off[i] + k]);
            if (!url)
                return UG_ENOMEM;
            int rc;
            if (full) {
                rc = ug__seen_add(c->seen, url, strlen(url));
                if (rc > 0)
                    rc = mark_node(c, url, WHY_PAGES);
            } else {
                rc = push_next(c, url);
            }
            if (rc < 0)
                return rc;
        }
    return 0;
}

/* Moves the built level into `cur` and queues its pages per host; URLs
 * that robots.txt disallows or that exceed the page budget are marked. */
static int finalise_level(ug_crawl *c) {
    ug__frontier swap = c->cur;
    c->cur = c->next;
    c->next = swap;
    ug__frontier_clear(&c->next);
    c->nfollow = 0;
    free(c->follow_off);
    free(c->follow_len);
    c->follow_off = calloc(c->cur.count ? c->cur.count : 1, sizeof *c->follow_off);
    c->follow_len = calloc(c->cur.count ? c->cur.count : 1, sizeof *c->follow_len);
    if (!c->follow_off || !c->follow_len)
        return UG_ENOMEM;
    for (size_t i = 0; i < c->cur.count; i++) {
        ug__frontier_entry *e = &c->cur.entries[i];
        struct chost *h = &c->hosts[e->host];
        const char *url = ug__frontier_url(&c->cur, i);
        int rc = 0;
        if (h->robots) {
            char *path = NULL;
            rc = ug_url_path_query(url, &path);
            bool allowed = !rc && ug_robots_allowed(h->robots, path);
            free(path);
            if (rc == UG_ENOMEM)
                return rc;
            if (!allowed) {
                if ((rc = mark_node(c, url, WHY_ROBOTS)))
                    return rc;
                continue;
            }
        }
        if (c->o.max_pages && c->budget_used >= c->o.max_pages) {
            if ((rc = mark_node(c, url, WHY_PAGES)))
                return rc;
            continue;
        }
        c->budget_used++;
        e->next = UG__NONE;
        if (h->tail == UG__NONE)
            h->head = (uint32_t)i;
        else
            c->cur.entries[h->tail].next = (uint32_t)i;
        h->tail = (uint32_t)i;
        h->queued++;
        c->queued++;
    }
    return 0;
}

/* ---- starting requests ------------------------------------------------- */

/* Starts every queued page whose host has a free slot and whose delay has
 * passed, round-robin over hosts, while global slots are free.  Returns
 * the nanoseconds until a host's delay ends (UINT64_MAX: none waits). */
uint64_t ug__crawl_dispatch(ug_crawl *c) {
    uint64_t wait = UINT64_MAX;
    bool progress = true;
    while (progress && c->queued && c->active < c->o.concurrency && !c->status) {
        progress = false;
        uint64_t now = ug_clock_ns();
        wait = UINT64_MAX;
        for (size_t k = 0; k < c->nhosts && c->active < c->o.concurrency; k++) {
            size_t hi = (c->next_host + k) % c->nhosts;
            struct chost *h = &c->hosts[hi];
            if (h->head == UG__NONE || h->active >= c->o.per_host)
                continue;
            if (h->next_start_ns > now) {
                if (h->next_start_ns - now < wait)
                    wait = h->next_start_ns - now;
                continue;
            }
            uint32_t i = h->head;
            h->head = c->cur.entries[i].next;
            if (h->head == UG__NONE)
                h->tail = UG__NONE;
            h->queued--;
            c->queued--;
            struct job *j = ug__crawl_job_new(c, JOB_PAGE, (uint32_t)hi);
            long rc = j ? ug_fetch_add(c->fetch, ug__frontier_url(&c->cur, i),
                                       NULL, NULL, j)
                        : UG_ENOMEM;
            if (rc < 0) {
                ug__crawl_job_free(j);
                ug__crawl_fail(c, (int)rc);
                return UINT64_MAX;
            }
            j->entry = i;
            h->active++;
            c->active++;
            h->next_start_ns = now + h->delay_ns;
            c->next_host = hi + 1;
            progress = true;
        }
    }
    return wait;
}

/* ---- the run ----------------------------------------------------------- */

static bool cancelled(const int *flag) {
    return flag && __atomic_load_n(flag, __ATOMIC_RELAXED);
}

/* Sleeps `ns` nanoseconds at most, in slices that watch the cancel flag. */
static void nap(ug_crawl *c, uint64_t ns) {
    uint64_t slice = (uint64_t)TICK_MS * 1000000u;
    if (ns > slice)
        ns = slice;
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u),
                          .tv_nsec = (long)(ns % 1000000000u)};
    nanosleep(&ts, NULL);
}

/* Fetches robots.txt of every host of the level being built that has
 * none yet, and waits for them. */
static int fetch_robots(ug_crawl *c) {
    bool any = false;
    for (size_t i = 0; i < c->next.count; i++) {
        uint32_t hi = c->next.entries[i].host;
        struct chost *h = &c->hosts[hi];
        if (h->state != ROBOTS_NONE)
            continue;
        char *robots_url = NULL;
        int rc = ug_url_robots(ug__frontier_url(&c->next, i), &robots_url);
        struct job *j = rc ? NULL : ug__crawl_job_new(c, JOB_ROBOTS, hi);
        long idx = j ? ug_fetch_add(c->fetch, robots_url, NULL, NULL, j)
                     : (rc ? rc : UG_ENOMEM);
        free(robots_url);
        if (idx < 0) {
            ug__crawl_job_free(j);
            return (int)idx;
        }
        h->state = ROBOTS_FETCHING;
        any = true;
    }
    return any ? ug_fetch_run(c->fetch, c->cancel) : 0;
}

/* Fetches the pages of the current level. */
static int drive(ug_crawl *c) {
    for (;;) {
        uint64_t wait = ug__crawl_dispatch(c);
        if (c->status)
            return c->status;
        if (cancelled(c->cancel))
            return UG_ECANCELED;
        if (!c->active) {
            if (!c->queued)
                return 0;
            nap(c, wait);
            ug__crawl_progress(c, false);
            continue;
        }
        int rc = ug_fetch_run(c->fetch, c->cancel);
        ug__crawl_flush(c); /* the pages of the engine's last turns */
        if (rc)
            return rc;
    }
}

int ug_crawl_run(ug_crawl *c, const int *cancel) {
    if (c->started)
        return UG_EBUSY;
    if (!c->next.count || !c->graph)
        return UG_EINVAL;
    c->started = true;
    c->cancel = cancel;
    c->start_ns = ug_clock_ns();
    int rc = ug__crawl_engine_new(c);
    while (!rc) {
        if ((rc = fetch_robots(c)) || (rc = c->status) ||
            (rc = finalise_level(c)) || (rc = drive(c)) || (rc = barrier(c)))
            break;
        if (!c->next.count)
            break;
        c->depth++;
    }
    ug__crawl_progress(c, true);
    return rc;
}
