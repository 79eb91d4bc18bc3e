/* crawl_state.h - the crawl's state, shared by crawl.c (levels, hosts,
 * dispatch, the run) and crawl_page.c (the engine callbacks and the work
 * done when a page is complete).
 *
 * One crawl is driven by one thread (the caller of ug_crawl_run, which is
 * also the fetch engine's thread); nothing here is locked.
 */
#ifndef UNGIL_CRAWL_STATE_H
#define UNGIL_CRAWL_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "crawl_internal.h"
#include "crawl_scope.h"
#include "url_internal.h"
#include "ungil/crawl.h"
#include "ungil/fetch.h"
#include "ungil/html.h"
#include "ungil/robots.h"

enum robots_state { ROBOTS_NONE, ROBOTS_FETCHING, ROBOTS_READY };

struct chost {
    char *key;             /* "host:port" */
    ug_robots *robots;     /* NULL: everything allowed */
    enum robots_state state;
    uint64_t delay_ns, next_start_ns;
    unsigned active;
    uint32_t head, tail;   /* queue of entries of the current level */
    uint32_t queued;       /* entries in that queue */
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

    /* A finished page waiting for its graph work (see crawl_page.c): the
     * engine's result, copied, and the tick it finished in. */
    uint64_t tick;
    long status;
    uint64_t bytes;
    int error;
    char *final_url, *content_type, *message;
    struct job *done_next;
};

struct ug_crawl {
    ug_crawl_options o;
    char *user_agent, *ca_file, *proxy;
    char **content_types;
    ug__scope *scope;
    ug__seen *seen;
    ug__counts *variants;
    ug_graph *graph;
    ug_fetch *fetch;
    const int *cancel;
    struct job *jobs;        /* live jobs, freed by ug_crawl_free after a
                              * cancel left them without a result */
    struct job *done_head, *done_tail; /* finished pages, oldest first */
    uint64_t tick;           /* engine loop turns seen by on_tick */

    struct chost *hosts;
    size_t nhosts, hosts_cap, next_host;
    ug__key_index hosts_by_key; /* numbers in `hosts` by key */

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


/* Keeps the first fatal error; the run stops at its next check. */
static inline void ug__crawl_fail(ug_crawl *c, int rc) {
    if (!c->status)
        c->status = rc;
}

/* crawl.c */

/* A copy of s (NULL for NULL); sets *failed when memory runs out. */
char *ug__crawl_strdup(const char *s, bool *failed);

/* Records whether graph node i may be followed.  0 or UG_ENOMEM. */
int ug__crawl_set_followable(ug_crawl *c, size_t i, bool yes);
/* The node of a link found at `depth`, added and classified if new. */
int ug__crawl_link_node(ug_crawl *c, const char *url, int depth, size_t *node);
/* Starts the queued pages that may start; returns the nanoseconds until a
 * host's delay ends (UINT64_MAX: none waits). */
uint64_t ug__crawl_dispatch(ug_crawl *c);

/* crawl_page.c */

/* A new job, linked into c->jobs; NULL when memory runs out. */
struct job *ug__crawl_job_new(ug_crawl *c, enum job_kind kind, uint32_t host);
/* Unlinks and frees a job (NULL is ignored). */
void ug__crawl_job_free(struct job *j);
/* The crawl's fetch engine, with the crawler's callbacks. */
int ug__crawl_engine_new(ug_crawl *c);
/* Does the graph work of every finished page still waiting for it. */
void ug__crawl_flush(ug_crawl *c);
/* Calls on_progress if its interval has passed (or `force`). */
void ug__crawl_progress(ug_crawl *c, bool force);

#endif
