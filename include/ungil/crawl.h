/* ungil/crawl.h - a concurrent, polite, breadth-first web crawler.
 *
 * A crawl starts from one or more seed URLs and follows links level by
 * level (depth 0, then every page at depth 1, ...), all transfers on one
 * fetch engine (ungil/fetch.h) driven by the thread that calls
 * ug_crawl_run.  Pages are parsed while they stream in (ungil/html.h); only
 * HTML responses (text/html, application/xhtml+xml) are parsed, other
 * bodies are counted and dropped, never kept.
 *
 * Determinism: a level starts only when the one before it is finished, and
 * the next level is the links of this level's pages taken in the order of
 * their pages in the level, then in document order, without repeats.  So
 * the pages fetched, their depths, and which ones a page limit cuts off are
 * those of a sequential breadth-first crawl, whatever order the responses
 * arrive in (for the same server answers).
 *
 * Scope: a link is followed when it is http(s), on a seed's host
 * (UG_CRAWL_HOST) or under a seed's directory (UG_CRAWL_PREFIX: the seed
 * URL up to its last '/'), matches one of the include patterns (if any)
 * and none of the exclude patterns (POSIX extended regular expressions,
 * searched anywhere in the normalised URL), and is within max_depth.
 * A guard against query-string explosions (infinite calendars) follows at
 * most max_query_variants distinct URLs per host and path.
 *
 * Politeness: robots.txt of each host is fetched (through the engine)
 * before any page of that host; a 2xx body is parsed for this user agent,
 * other answers follow ug_robots_for_status (4xx: everything allowed; 5xx,
 * 429 or unreachable: nothing allowed).  Disallowed URLs are not fetched:
 * they become graph nodes with status 0 and the error "disallowed by
 * robots.txt".  Requests to one host start at least `delay_ms` apart, or
 * the host's Crawl-delay if larger (clamped to max_crawl_delay_ms), and at
 * most per_host at once.
 *
 * The graph (ungil/graph.h) gets a node per URL met: fetched pages with
 * status, depth, title, content type, bytes and error; links not followed
 * with status 0 and the reason as their error ("outside the crawl scope",
 * "excluded by pattern", "beyond the depth limit", "beyond the page limit",
 * "too many query variants of this path", "disallowed by robots.txt").
 * Edges count how often a page links to a URL.  Links are followed only
 * from 2xx HTML pages; error pages (4xx, 5xx) are nodes with their status
 * and no out-links.  After redirects, the page's data belong to the URL
 * that was requested; the final URL is marked seen (it will not be fetched
 * again) and gets a node with an edge from the requested URL.
 *
 * Ownership: the crawler copies the options' strings and compiles the
 * patterns.  It owns its graph until ug_crawl_take_graph hands it over.
 *
 * Thread-safety: one crawler is used by one thread; the callbacks run on
 * the thread inside ug_crawl_run.  The cancel flag may be set from any
 * thread.
 */
#ifndef UNGIL_CRAWL_H
#define UNGIL_CRAWL_H

#include <stddef.h>
#include <stdint.h>

#include "ungil/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ug_crawl ug_crawl;

enum ug_crawl_scope {
    UG_CRAWL_HOST = 0,   /* the seeds' hosts */
    UG_CRAWL_PREFIX = 1  /* under a seed's directory */
};

/* No depth limit. */
#define UG_CRAWL_ANY_DEPTH (-1)

/* One fetched page, valid only during the callback that receives it. */
typedef struct ug_crawl_page {
    size_t index;              /* order of fetching, from 0 */
    const char *url;           /* normalised, as requested */
    const char *final_url;     /* after redirects (== url without any) */
    long status;               /* last HTTP status; 0 if none arrived */
    int depth;                 /* link distance from a seed */
    const char *title;         /* or NULL */
    const char *content_type;  /* or NULL */
    uint64_t bytes;            /* body bytes received (2xx only) */
    const char *const *links;  /* distinct out-links, first-seen order */
    const uint32_t *counts;    /* how often each link appears */
    size_t nlinks;
    int error;                 /* 0 or a UG_E... code */
    const char *message;       /* the reason in words, or NULL */
} ug_crawl_page;

/* Progress, reported at most every progress_interval_ms. */
typedef struct ug_crawl_progress {
    size_t pages;      /* pages finished */
    size_t failed;     /* of which with an error */
    size_t queued;     /* waiting in the current level */
    size_t active;     /* transfers in flight */
    size_t seen;       /* distinct URLs in the seen-set */
    int depth;         /* the level being fetched */
    uint64_t bytes;    /* body bytes received so far */
    double elapsed_s;
} ug_crawl_progress;

typedef void (*ug_crawl_page_fn)(void *ctx, const ug_crawl_page *page);
typedef void (*ug_crawl_progress_fn)(void *ctx, const ug_crawl_progress *p);

typedef struct ug_crawl_options {
    unsigned concurrency;          /* transfers at once, default 64 */
    unsigned per_host;             /* per host, default 8 */
    size_t max_pages;              /* pages fetched, default 1000; 0 = none */
    int max_depth;                 /* default UG_CRAWL_ANY_DEPTH */
    int scope;                     /* enum ug_crawl_scope, default HOST */
    const char *const *include;    /* patterns, ninclude of them */
    size_t ninclude;
    const char *const *exclude;
    size_t nexclude;
    const char *const *content_types; /* type prefixes to download
                                       * ("text/html", "image/"); others
                                       * stop after the headers; NULL = all */
    size_t ncontent_types;
    int robots;                    /* obey robots.txt, default 1 */
    const char *user_agent;        /* default UG_CRAWL_USER_AGENT */
    unsigned delay_ms;             /* between starts per host, default 0 */
    unsigned max_crawl_delay_ms;   /* Crawl-delay clamp, default 10000 */
    unsigned timeout_ms;           /* whole transfer, default 30000 */
    unsigned connect_timeout_ms;   /* default 10000 */
    unsigned retries;              /* on 5xx/network errors, default 1 */
    unsigned max_redirects;        /* default 10 */
    long dns_cache_s;              /* default -1: DNS answers kept for the
                                    * whole crawl, as Scrapy's cache keeps
                                    * them (ug_fetch_options.dns_cache_s) */
    uint64_t max_bytes;            /* body cap, default 10 MiB; 0 = none */
    unsigned max_query_variants;   /* per host+path, default 1000; 0 = none */
    const char *ca_file;
    const char *proxy;             /* as ug_fetch_options.proxy */
    ug_crawl_page_fn on_page;
    ug_crawl_progress_fn on_progress;
    unsigned progress_interval_ms; /* default 200 */
    void *ctx;
    uint64_t seed;                 /* seen-set hash seed; 0 = from the clock */
} ug_crawl_options;

/* The default user agent; its product token for robots.txt is "ungil". */
#define UG_CRAWL_USER_AGENT \
    "ungil/0.1 (+https://github.com/ungil/ungil/blob/main/docs/crawl.md)"

/* Fills `opts` with the defaults. */
void ug_crawl_options_init(ug_crawl_options *opts);

/* Checks one pattern as ug_crawl_new would compile it.  Returns 0, or
 * UG_EINVAL with regcomp's explanation in `message` (size bytes). */
int ug_crawl_check_pattern(const char *pattern, char *message, size_t size);

/* Creates a crawler.  Returns 0, UG_EINVAL (a bad pattern or option) or
 * UG_ENOMEM. */
int ug_crawl_new(const ug_crawl_options *opts, ug_crawl **out);

/* Adds a start URL (depth 0), before the run.  Returns 0, UG_EURL (not
 * an http(s) URL), UG_EBUSY (the run has started) or UG_ENOMEM. */
int ug_crawl_add_seed(ug_crawl *c, const char *url);

/* Crawls until the frontier is empty or max_pages pages were fetched.
 * If `cancel` becomes non-zero, stops within about 100 ms and returns
 * UG_ECANCELED; the graph keeps what was learned.  Returns 0,
 * UG_ECANCELED, UG_EINVAL (no seed, or the graph was taken), UG_EBUSY (run twice) or UG_ENOMEM.
 * Blocks. */
int ug_crawl_run(ug_crawl *c, const int *cancel);

/* The graph built so far (borrowed; do not change it during the run). */
const ug_graph *ug_crawl_graph(const ug_crawl *c);

/* Hands the graph over to the caller (who frees it with ug_graph_free);
 * the crawler keeps none.  Not during the run. */
ug_graph *ug_crawl_take_graph(ug_crawl *c);

/* Bytes held by the seen-set and the frontier levels now. */
size_t ug_crawl_memory(const ug_crawl *c);

/* Frees the crawler (and its graph unless taken).  NULL is harmless. */
void ug_crawl_free(ug_crawl *c);

#ifdef __cplusplus
}
#endif

#endif
