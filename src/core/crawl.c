/* crawl.c - the crawler: levels, politeness, streaming parse, the graph.
 *
 * The run is a loop over breadth-first levels.  For each level:
 *   1. robots: every host of the level not met before gets its robots.txt
 *      fetched (all at once, through the engine) and parsed;
 *   2. finalise: the level's URLs, in order, are checked against robots
 *      and the page budget, and threaded into per-host queues;
 *   3. drive: pages start when a global slot and a slot of their host are
 *      free and the host's delay has passed (dispatch(), called again from
 *      every completion and from the engine's 50 ms progress tick); each
 *      body streams into an HTML parser as it arrives (on_data); at
 *      completion the page becomes a graph node with edges to its links,
 *      and its followable links are kept, per page, for the barrier;
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
 * Known limits: hosts are found by scanning (a crawl has as many hosts as
 * seeds); the fetch engine keeps a small record per request until the
 * crawl ends; a node's followable flag takes one byte per graph node.
 */
#include "ungil/crawl.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "crawl_internal.h"
#include "crawl_scope.h"
#include "ungil/error.h"
#include "ungil/fetch.h"
#include "ungil/html.h"
#include "ungil/robots.h"
#include "ungil/trace.h"
#include "ungil/url.h"

enum { TICK_MS = 50 };

static const char *const WHY_DEPTH = "beyond the depth limit";
static const char *const WHY_PAGES = "beyond the page limit";
static const char *const WHY_QUERY = "too many query variants of this path";
static const char *const WHY_ROBOTS = "disallowed by robots.txt";
static const char *const WHY_REDIRECT = "reached by a redirect";
static const char *const WHY_TYPE = "content type not accepted";

enum robots_state { ROBOTS_NONE, ROBOTS_FETCHING, ROBOTS_READY };

struct chost {
    char *key;             /* "host:port" */
    ug_robots *robots;     /* NULL: everything allowed */
    enum robots_state state;
    uint64_t delay_ns, next_start_ns;
    unsigned active;
    uint32_t head, tail;   /* queue of entries of the current level */
};

enum job_kind { JOB_PAGE, JOB_ROBOTS };

/* One request in flight: a page, or a host's robots.txt. */
struct job {
    enum job_kind kind;
    uint32_t host;
    uint32_t entry;       /* index in the current level (pages) */
    ug_crawl *c;
    ug_html *html;        /* while a 2xx HTML body streams */
    bool refused;         /* stopped for its content type */
    bool parse_error;
    char *buf;            /* links, NUL-separated; or the robots.txt body */
    size_t len, cap, nlinks;
    struct job *prev, *next; /* in the crawl's list of live jobs */
};

struct ug_crawl {
    ug_crawl_options o;
    char *user_agent, *ca_file;
    char **content_types;
    ug__scope *scope;
    ug__seen *seen;
    ug__counts *variants;
    ug_graph *graph;
    ug_fetch *fetch;
    const int *cancel;
    struct job *jobs;        /* live jobs, freed by ug_crawl_free after a
                              * cancel left them without a result */

    struct chost *hosts;
    size_t nhosts, hosts_cap, next_host;

    ug__frontier cur, next;  /* this level and the one being built */
    int depth;               /* of `cur` */
    size_t queued;           /* entries of cur waiting in host queues */
    unsigned active;         /* pages in flight */
    size_t budget_used;      /* pages given to the engine, all levels */

    /* Followable links found on the pages of the current level, as graph
     * node numbers, grouped per page: page i's are follow[off[i] ..
     * off[i] + len[i]). */
    uint32_t *follow;
    size_t nfollow, follow_cap;
    size_t *follow_off;
    uint32_t *follow_len;

    unsigned char *followable; /* per graph node: 1 if in scope and depth */
    size_t followable_cap;

    size_t pages, failed;
    uint64_t bytes;
    uint64_t start_ns, last_progress_ns;
    int status;              /* first fatal error of a callback (ENOMEM) */
    bool started;
};

static void job_free(struct job *j);

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
    o->max_bytes = 10u << 20;
    o->max_query_variants = 1000;
    o->progress_interval_ms = 200;
}

static char *dup_or_null(const char *s, bool *failed) {
    if (!s)
        return NULL;
    char *copy = strdup(s);
    if (!copy)
        *failed = true;
    return copy;
}

int ug_crawl_new(const ug_crawl_options *opts, ug_crawl **out) {
    if (!opts || !out || !opts->concurrency || !opts->per_host ||
        opts->max_depth < UG_CRAWL_ANY_DEPTH ||
        (opts->ncontent_types && !opts->content_types))
        return UG_EINVAL;
    *out = NULL;
    ug_crawl *c = calloc(1, sizeof *c);
    if (!c)
        return UG_ENOMEM;
    c->o = *opts;
    bool failed = false;
    c->user_agent = dup_or_null(opts->user_agent ? opts->user_agent
                                                 : UG_CRAWL_USER_AGENT, &failed);
    c->ca_file = dup_or_null(opts->ca_file, &failed);
    c->o.user_agent = c->user_agent;
    c->o.ca_file = c->ca_file;
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
            c->content_types[i] = dup_or_null(opts->content_types[i], &failed);
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
        job_free(c->jobs);
    for (size_t i = 0; i < c->nhosts; i++) {
        free(c->hosts[i].key);
        ug_robots_free(c->hosts[i].robots);
    }
    free(c->hosts);
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

/* The index of the host of `url` (created if new), or a negative code. */
static long host_of(ug_crawl *c, const char *url) {
    char *key = NULL;
    int rc = ug_url_host(url, &key);
    if (rc)
        return rc;
    for (size_t i = 0; i < c->nhosts; i++)
        if (!strcmp(c->hosts[i].key, key)) {
            free(key);
            return (long)i;
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
    return (long)c->nhosts++;
}

/* Records the followable flag of node i. */
static int set_followable(ug_crawl *c, size_t i, bool yes) {
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
static int link_node(ug_crawl *c, const char *url, int depth, size_t *node) {
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
        rc = set_followable(c, *node, !why);
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
            rc = set_followable(c, node, true);
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
        c->queued++;
    }
    return 0;
}

/* ---- starting requests ------------------------------------------------- */

static void fail(ug_crawl *c, int rc) {
    if (!c->status)
        c->status = rc;
}

static bool accepted_type(ug_crawl *c, const char *type) {
    if (!c->o.ncontent_types)
        return true;
    for (size_t i = 0; type && i < c->o.ncontent_types; i++)
        if (!strncasecmp(type, c->content_types[i], strlen(c->content_types[i])))
            return true;
    return false;
}

static bool is_html(const char *type) {
    if (!type)
        return false;
    while (*type == ' ')
        type++;
    return !strncasecmp(type, "text/html", 9) ||
           !strncasecmp(type, "application/xhtml+xml", 21);
}

static struct job *new_job(ug_crawl *c, enum job_kind kind, uint32_t host) {
    struct job *j = calloc(1, sizeof *j);
    if (j) {
        j->kind = kind;
        j->host = host;
        j->c = c;
        j->next = c->jobs;
        if (c->jobs)
            c->jobs->prev = j;
        c->jobs = j;
    }
    return j;
}

static void job_free(struct job *j) {
    if (!j)
        return;
    if (j->prev)
        j->prev->next = j->next;
    else
        j->c->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    ug_html_free(j->html);
    free(j->buf);
    free(j);
}

/* Starts every queued page whose host has a free slot and whose delay has
 * passed, round-robin over hosts, while global slots are free.  Returns
 * the nanoseconds until a host's delay ends (UINT64_MAX: none waits). */
static uint64_t dispatch(ug_crawl *c) {
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
            c->queued--;
            struct job *j = new_job(c, JOB_PAGE, (uint32_t)hi);
            long rc = j ? ug_fetch_add(c->fetch, ug__frontier_url(&c->cur, i),
                                       NULL, NULL, j)
                        : UG_ENOMEM;
            if (rc < 0) {
                job_free(j);
                fail(c, (int)rc);
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

/* ---- engine callbacks -------------------------------------------------- */

static void on_link(void *ctx, const char *url, const char *tag) {
    struct job *j = ctx;
    size_t n = strlen(url) + 1;
    if (j->len + n > j->cap) {
        size_t cap = j->cap ? j->cap : 4096;
        while (cap < j->len + n)
            cap *= 2;
        char *grown = realloc(j->buf, cap);
        if (!grown) {
            j->parse_error = true;
            return;
        }
        j->buf = grown;
        j->cap = cap;
    }
    memcpy(j->buf + j->len, url, n);
    j->len += n;
    j->nlinks++;
}

static int on_response(void *ctx, size_t index, void *user,
                       const ug_fetch_response *r) {
    struct job *j = user;
    if (j->kind != JOB_PAGE || r->status < 200 || r->status >= 300)
        return 0;
    /* A new attempt (a retry) starts the page over. */
    ug_html_free(j->html);
    j->html = NULL;
    j->len = j->nlinks = 0;
    j->parse_error = false;
    if (!accepted_type(j->c, r->content_type)) {
        j->refused = true;
        return 1;
    }
    if (is_html(r->content_type) &&
        ug_html_new(r->url, on_link, j, &j->html) == UG_ENOMEM)
        j->parse_error = true;
    return 0;
}

static int on_data(void *ctx, size_t index, void *user,
                   const unsigned char *data, size_t size) {
    struct job *j = user;
    ug_crawl *c = ctx;
    c->bytes += size;
    if (j->kind == JOB_ROBOTS) {
        size_t room = UG_ROBOTS_MAX_BYTES - j->len;
        size_t n = size < room ? size : room;
        if (!n)
            return 0;
        if (!j->buf && !(j->buf = malloc(UG_ROBOTS_MAX_BYTES)))
            return 1;
        memcpy(j->buf + j->len, data, n);
        j->len += n;
        return 0;
    }
    if (j->html && ug_html_feed(j->html, (const char *)data, size))
        j->parse_error = true;
    return 0;
}

static void robots_done(ug_crawl *c, struct job *j, const ug_fetch_result *r) {
    struct chost *h = &c->hosts[j->host];
    ug_robots *rules = NULL;
    int rc = r->status >= 200 && r->status < 300 && !r->error
                 ? ug_robots_parse(j->buf, j->len, c->user_agent, &rules)
                 : ug_robots_for_status((int)r->status, &rules);
    if (rc) {
        fail(c, rc);
        return;
    }
    h->robots = rules;
    h->state = ROBOTS_READY;
    double delay = ug_robots_crawl_delay(rules);
    if (delay > 0) {
        double cap_ms = c->o.max_crawl_delay_ms;
        double ms = delay * 1000 < cap_ms ? delay * 1000 : cap_ms;
        if ((uint64_t)(ms * 1e6) > h->delay_ns)
            h->delay_ns = (uint64_t)(ms * 1e6);
    }
}

/* The distinct links of a page with their counts, first-seen order. */
struct link_set {
    const char **urls;
    uint32_t *counts;
    size_t n;
};

static int distinct_links(const struct job *j, struct link_set *out) {
    size_t cap = 16;
    while (cap < 2 * j->nlinks)
        cap *= 2;
    size_t *table = malloc(cap * sizeof *table); /* index + 1; 0 = empty */
    out->urls = malloc((j->nlinks ? j->nlinks : 1) * sizeof *out->urls);
    out->counts = malloc((j->nlinks ? j->nlinks : 1) * sizeof *out->counts);
    out->n = 0;
    if (!table || !out->urls || !out->counts) {
        free(table);
        return UG_ENOMEM;
    }
    memset(table, 0, cap * sizeof *table);
    const char *p = j->buf;
    for (size_t k = 0; k < j->nlinks; k++) {
        size_t len = strlen(p);
        size_t s = (size_t)ug__hash64(p, len, 0) & (cap - 1);
        while (table[s] && strcmp(out->urls[table[s] - 1], p))
            s = (s + 1) & (cap - 1);
        if (table[s]) {
            out->counts[table[s] - 1]++;
        } else {
            out->urls[out->n] = p;
            out->counts[out->n] = 1;
            table[s] = ++out->n;
        }
        p += len + 1;
    }
    free(table);
    return 0;
}

/* Adds the page's edges and keeps its followable links for the barrier. */
static int record_links(ug_crawl *c, size_t from, const struct job *j,
                        const struct link_set *links) {
    c->follow_off[j->entry] = c->nfollow;
    for (size_t k = 0; k < links->n; k++) {
        size_t to;
        int rc = link_node(c, links->urls[k], c->depth + 1, &to);
        for (uint32_t m = 0; rc >= 0 && m < links->counts[k]; m++)
            rc = ug_graph_add_edge(c->graph, from, to);
        if (rc < 0)
            return rc;
        if (to >= c->followable_cap || !c->followable[to])
            continue;
        if (c->nfollow == c->follow_cap) {
            size_t cap = c->follow_cap ? 2 * c->follow_cap : 4096;
            uint32_t *grown = realloc(c->follow, cap * sizeof *grown);
            if (!grown)
                return UG_ENOMEM;
            c->follow = grown;
            c->follow_cap = cap;
        }
        c->follow[c->nfollow++] = (uint32_t)to;
        c->follow_len[j->entry]++;
    }
    return 0;
}

/* The final URL of a redirected page (`final_url` as libcurl reports it):
 * seen, and a node with an edge from the requested URL `url`. */
static int record_redirect(ug_crawl *c, size_t from, const char *url,
                           const char *final_url) {
    char *norm = NULL;
    size_t to;
    int rc = ug_url_normalize(final_url, &norm);
    if (rc || !strcmp(norm, url)) {
        free(norm);
        return rc == UG_EURL ? 0 : rc;
    }
    int added = ug__seen_add(c->seen, norm, strlen(norm)) < 0
                    ? UG_ENOMEM
                    : ug_graph_add_node(c->graph, norm, &to);
    ug_graph_node n;
    rc = added < 0 ? added : ug_graph_node_get(c->graph, to, &n);
    if (!rc && added)
        rc = ug_graph_set_depth(c->graph, to, c->depth);
    if (!rc && added)
        rc = set_followable(c, to, false);
    if (!rc && !n.status && !n.error)
        rc = ug_graph_set_error(c->graph, to, WHY_REDIRECT);
    if (!rc && ug_graph_add_edge(c->graph, from, to) < 0)
        rc = UG_ENOMEM;
    free(norm);
    return rc;
}

static void page_done(ug_crawl *c, struct job *j, const ug_fetch_result *r) {
    const char *url = ug__frontier_url(&c->cur, j->entry);
    int error = r->error;
    const char *message = r->message;
    if (j->refused) {
        error = UG_ESCOPE;
        message = WHY_TYPE;
    }
    bool parsed = j->html && (!error || error == UG_ETOOBIG);
    if (parsed && ug_html_finish(j->html))
        j->parse_error = true;
    const char *title = j->html ? ug_html_title(j->html) : NULL;
    struct link_set links = {0};
    int rc = parsed && !j->parse_error ? distinct_links(j, &links) : 0;
    size_t node;
    if (!rc && ug_graph_find(c->graph, url, &node) != 1)
        rc = UG_ENOMEM; /* every queued URL has a node */
    if (!rc)
        rc = ug_graph_set_status(c->graph, node, (int)r->status);
    if (!rc)
        rc = ug_graph_set_bytes(c->graph, node, (int64_t)r->bytes);
    if (!rc)
        rc = ug_graph_set_title(c->graph, node, title);
    if (!rc)
        rc = ug_graph_set_content_type(c->graph, node, r->content_type);
    if (!rc)
        rc = ug_graph_set_error(c->graph, node,
                                error ? (message ? message : ug_strerror(error))
                                      : NULL);
    if (!rc)
        rc = record_links(c, node, j, &links);
    if (!rc && error != UG_EREDIRECT && r->final_url)
        rc = record_redirect(c, node, url, r->final_url);
    if (rc) {
        fail(c, rc);
    } else if (c->o.on_page) {
        ug_crawl_page page = {
            .index = c->pages, .url = url,
            .final_url = r->final_url ? r->final_url : url,
            .status = r->status, .depth = c->depth, .title = title,
            .content_type = r->content_type, .bytes = r->bytes,
            .links = links.urls, .counts = links.counts, .nlinks = links.n,
            .error = error, .message = error ? message : NULL};
        c->o.on_page(c->o.ctx, &page);
    }
    free(links.urls);
    free(links.counts);
    c->pages++;
    c->failed += error != 0;
}

static void progress(ug_crawl *c, bool force) {
    uint64_t now = ug_clock_ns();
    if (!c->o.on_progress ||
        (!force && now - c->last_progress_ns <
                       (uint64_t)c->o.progress_interval_ms * 1000000u))
        return;
    c->last_progress_ns = now;
    ug_crawl_progress p = {
        .pages = c->pages, .failed = c->failed, .queued = c->queued,
        .active = c->active, .seen = ug__seen_count(c->seen),
        .depth = c->depth, .bytes = c->bytes,
        .elapsed_s = (now - c->start_ns) / 1e9};
    c->o.on_progress(c->o.ctx, &p);
}

static void on_done(void *ctx, const ug_fetch_result *r) {
    ug_crawl *c = ctx;
    struct job *j = r->user;
    if (j->kind == JOB_ROBOTS) {
        robots_done(c, j, r);
    } else {
        page_done(c, j, r);
        c->hosts[j->host].active--;
        c->active--;
        dispatch(c);
    }
    job_free(j);
    progress(c, false);
}

static void on_tick(void *ctx, const ug_fetch_progress *p) {
    ug_crawl *c = ctx;
    dispatch(c);
    progress(c, false);
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
        struct job *j = rc ? NULL : new_job(c, JOB_ROBOTS, hi);
        long idx = j ? ug_fetch_add(c->fetch, robots_url, NULL, NULL, j)
                     : (rc ? rc : UG_ENOMEM);
        free(robots_url);
        if (idx < 0) {
            job_free(j);
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
        uint64_t wait = dispatch(c);
        if (c->status)
            return c->status;
        if (cancelled(c->cancel))
            return UG_ECANCELED;
        if (!c->active) {
            if (!c->queued)
                return 0;
            nap(c, wait);
            progress(c, false);
            continue;
        }
        int rc = ug_fetch_run(c->fetch, c->cancel);
        if (rc)
            return rc;
    }
}

static int new_engine(ug_crawl *c) {
    ug_fetch_options fo;
    ug_fetch_options_init(&fo);
    fo.concurrency = c->o.concurrency;
    fo.per_host = c->o.per_host;
    fo.retries = c->o.retries;
    fo.timeout_ms = c->o.timeout_ms;
    fo.connect_timeout_ms = c->o.connect_timeout_ms;
    fo.max_bytes = c->o.max_bytes;
    fo.max_redirects = c->o.max_redirects;
    fo.user_agent = c->user_agent;
    fo.ca_file = c->ca_file;
    fo.drop_bodies = 1;
    fo.on_done = on_done;
    fo.on_data = on_data;
    fo.on_response = on_response;
    fo.on_progress = on_tick;
    fo.progress_interval_ms = TICK_MS;
    fo.ctx = c;
    return ug_fetch_new(&fo, &c->fetch);
}

int ug_crawl_run(ug_crawl *c, const int *cancel) {
    if (c->started)
        return UG_EBUSY;
    if (!c->next.count || !c->graph)
        return UG_EINVAL;
    c->started = true;
    c->cancel = cancel;
    c->start_ns = ug_clock_ns();
    int rc = new_engine(c);
    while (!rc) {
        if ((rc = fetch_robots(c)) || (rc = c->status) ||
            (rc = finalise_level(c)) || (rc = drive(c)) || (rc = barrier(c)))
            break;
        if (!c->next.count)
            break;
        c->depth++;
    }
    progress(c, true);
    return rc;
}
