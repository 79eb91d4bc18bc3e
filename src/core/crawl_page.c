/* crawl_page.c - the crawler's side of the fetch engine: the callbacks
 * that stream each page body into an HTML parser, and the graph work done
 * when a page is complete.
 *
 * A finished page gives its slot back and the next pages start at once
 * (on_done); its graph work (node facts, edges, followable links kept for
 * the barrier, on_page) runs at the next turn of the engine's loop
 * (on_tick), after the new requests were sent, so that the per-page CPU
 * overlaps the transfers instead of delaying them.  crawl.c calls
 * ug__crawl_flush before a level's barrier, so the graph and the next
 * level are the same as without the delay.
 */
#include "ungil/crawl.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crawl_state.h"
#include "ungil/error.h"
#include "ungil/trace.h"
#include "ungil/url.h"

static const char *const WHY_REDIRECT = "reached by a redirect";
static const char *const WHY_TYPE = "content type not accepted";

/* ---- jobs --------------------------------------------------------------- */

struct job *ug__crawl_job_new(ug_crawl *c, enum job_kind kind, uint32_t host) {
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

void ug__crawl_job_free(struct job *j) {
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
    free(j->final_url);
    free(j->content_type);
    free(j->message);
    free(j);
}

/* ---- content types ------------------------------------------------------ */

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
        ug__crawl_fail(c, rc);
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
        int rc = ug__crawl_link_node(c, links->urls[k], c->depth + 1, &to);
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
        rc = ug__crawl_set_followable(c, to, false);
    if (!rc && !n.status && !n.error)
        rc = ug_graph_set_error(c->graph, to, WHY_REDIRECT);
    if (!rc && ug_graph_add_edge(c->graph, from, to) < 0)
        rc = UG_ENOMEM;
    free(norm);
    return rc;
}

/* The graph work of a finished page: its node's facts, its links as
 * edges (and, if followable, kept for the barrier), the final URL of a
 * redirect, and on_page. */
static void page_done(ug_crawl *c, struct job *j) {
    const char *url = ug__frontier_url(&c->cur, j->entry);
    int error = j->error;
    const char *message = j->message;
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
        rc = ug_graph_set_status(c->graph, node, (int)j->status);
    if (!rc)
        rc = ug_graph_set_bytes(c->graph, node, (int64_t)j->bytes);
    if (!rc)
        rc = ug_graph_set_title(c->graph, node, title);
    if (!rc)
        rc = ug_graph_set_content_type(c->graph, node, j->content_type);
    if (!rc)
        rc = ug_graph_set_error(c->graph, node,
                                error ? (message ? message : ug_strerror(error))
                                      : NULL);
    if (!rc)
        rc = record_links(c, node, j, &links);
    if (!rc && error != UG_EREDIRECT && j->final_url)
        rc = record_redirect(c, node, url, j->final_url);
    if (rc) {
        ug__crawl_fail(c, rc);
    } else if (c->o.on_page) {
        ug_crawl_page page = {
            .index = c->pages, .url = url,
            .final_url = j->final_url ? j->final_url : url,
            .status = j->status, .depth = c->depth, .title = title,
            .content_type = j->content_type, .bytes = j->bytes,
            .links = links.urls, .counts = links.counts, .nlinks = links.n,
            .error = error, .message = error ? message : NULL};
        c->o.on_page(c->o.ctx, &page);
    }
    free(links.urls);
    free(links.counts);
    c->pages++;
    c->failed += error != 0;
}

/* Keeps what the page's graph work needs from the engine's result (valid
 * only during on_done) and queues the page, stamped with this tick. */
static int defer_page(ug_crawl *c, struct job *j, const ug_fetch_result *r) {
    bool failed = false;
    j->status = r->status;
    j->bytes = r->bytes;
    j->error = r->error;
    j->final_url = ug__crawl_strdup(r->final_url, &failed);
    j->content_type = ug__crawl_strdup(r->content_type, &failed);
    j->message = ug__crawl_strdup(r->message, &failed);
    if (failed)
        return UG_ENOMEM;
    j->tick = c->tick;
    j->done_next = NULL;
    if (c->done_tail)
        c->done_tail->done_next = j;
    else
        c->done_head = j;
    c->done_tail = j;
    return 0;
}

/* Does the graph work of the queued pages that finished before tick
 * `before`, oldest first. */
static void run_pages(ug_crawl *c, uint64_t before) {
    while (c->done_head && c->done_head->tick < before) {
        struct job *j = c->done_head;
        c->done_head = j->done_next;
        if (!c->done_head)
            c->done_tail = NULL;
        if (!c->status)
            page_done(c, j);
        ug__crawl_job_free(j);
    }
}

void ug__crawl_flush(ug_crawl *c) { run_pages(c, UINT64_MAX); }

void ug__crawl_progress(ug_crawl *c, bool force) {
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

/* A request is complete.  A page's slot is given back and the next pages
 * are started before its graph work, which waits for the next tick: the
 * engine sends the new requests first, and the work overlaps them. */
static void on_done(void *ctx, const ug_fetch_result *r) {
    ug_crawl *c = ctx;
    struct job *j = r->user;
    if (j->kind == JOB_ROBOTS) {
        robots_done(c, j, r);
        ug__crawl_job_free(j);
        return;
    }
    c->hosts[j->host].active--;
    c->active--;
    int rc = defer_page(c, j, r);
    if (rc) {
        ug__crawl_fail(c, rc);
        ug__crawl_job_free(j);
        return;
    }
    ug__crawl_dispatch(c);
}

/* The engine asks as a request starts whether its connection is to be
 * kept.  While every host met could have per_host connections open within
 * the total cap, none is ever evicted: all are kept, for the next level
 * too.  Beyond that, a page's is kept while its host has at least as many
 * pages waiting as it has in flight (this one included); otherwise its
 * host needs fewer connections from now on this level, and closing this
 * one keeps libcurl's connection cache small (see ug_fetch_reuse_fn).  A
 * robots.txt is followed by its host's pages. */
static int reuse(void *ctx, size_t index, void *user) {
    (void)index;
    const ug_crawl *c = ctx;
    const struct job *j = user;
    if (j->kind == JOB_ROBOTS ||
        (uint64_t)c->nhosts * c->o.per_host <= c->o.concurrency)
        return 1;
    const struct chost *h = &c->hosts[j->host];
    return h->queued >= h->active;
}

/* Called once per turn of the engine's loop, after the turn's new
 * requests were handed to libcurl: runs the graph work of the pages that
 * finished in earlier turns (their successors are on the wire by now),
 * then starts pages whose host delay has passed. */
static void on_tick(void *ctx, const ug_fetch_progress *p) {
    (void)p;
    ug_crawl *c = ctx;
    run_pages(c, c->tick);
    c->tick++;
    ug__crawl_dispatch(c);
    ug__crawl_progress(c, false);
}

int ug__crawl_engine_new(ug_crawl *c) {
    ug_fetch_options fo;
    ug_fetch_options_init(&fo);
    fo.concurrency = c->o.concurrency;
    fo.per_host = c->o.per_host;
    fo.retries = c->o.retries;
    fo.timeout_ms = c->o.timeout_ms;
    fo.connect_timeout_ms = c->o.connect_timeout_ms;
    fo.max_bytes = c->o.max_bytes;
    fo.max_redirects = c->o.max_redirects;
    fo.dns_cache_s = c->o.dns_cache_s;
    fo.user_agent = c->user_agent;
    fo.ca_file = c->ca_file;
    fo.proxy = c->proxy;
    fo.drop_bodies = 1;
    fo.on_done = on_done;
    fo.reuse = reuse;
    fo.on_data = on_data;
    fo.on_response = on_response;
    fo.on_progress = on_tick;
    fo.progress_interval_ms = 0; /* every turn of the loop */
    fo.ctx = c;
    return ug_fetch_new(&fo, &c->fetch);
}
