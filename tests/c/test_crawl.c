/* test_crawl.c - the crawler (ungil/crawl.h and src/core/crawl_*.c).
 *
 * The seen-set against an exact reference (every URL added once is found,
 * every second add says "not new", URLs never added are absent), its
 * growth and its memory per URL for a million URLs; the hash's spread;
 * the per-key counters; the frontier's arena and entries; the scope's
 * hosts, prefixes and patterns; pattern checking.  Then whole crawls
 * against a small site served by this program (so the sanitizers watch
 * both ends and LeakSanitizer checks every path of the engine): the exact
 * graph, and a cancel raised from another thread.  The big synthetic site
 * and its traps are in tests/python/test_crawl.py.
 */
#include "check.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>

#include "../../src/core/crawl_internal.h"
#include "../../src/core/crawl_scope.h"
#include "ungil/crawl.h"

static void url_of(char *buf, size_t size, uint64_t i) {
    snprintf(buf, size, "https://example.com/section/%llu/page.html?id=%llu",
             (unsigned long long)(i % 977), (unsigned long long)i);
}

static void seen_exact(void) {
    ug__seen *s = NULL;
    if (!CHECK_RC(ug__seen_new(42, &s), 0))
        return;
    size_t n = CHECK_SANITIZED ? 20000 : 200000;
    char url[128];
    size_t fresh = 0, again = 0;
    for (size_t i = 0; i < n; i++) {
        url_of(url, sizeof url, i);
        fresh += ug__seen_add(s, url, strlen(url)) == 1;
    }
    for (size_t i = 0; i < n; i += 3) {
        url_of(url, sizeof url, i);
        again += ug__seen_add(s, url, strlen(url)) == 0;
    }
    CHECK_UINT_EQ(fresh, n);
    CHECK_UINT_EQ(again, (n + 2) / 3);
    CHECK_UINT_EQ(ug__seen_count(s), n);
    size_t present = 0, absent = 0;
    for (size_t i = 0; i < n; i++) {
        url_of(url, sizeof url, i);
        present += ug__seen_has(s, url, strlen(url));
        url_of(url, sizeof url, i + n);
        absent += !ug__seen_has(s, url, strlen(url));
    }
    CHECK_UINT_EQ(present, n);
    CHECK_UINT_EQ(absent, n);
    /* A prefix of a URL is a different URL. */
    CHECK_INT_EQ(ug__seen_add(s, "https://example.com/a", 21), 1);
    CHECK_INT_EQ(ug__seen_add(s, "https://example.com/a", 20), 1);
    CHECK_INT_EQ(ug__seen_add(s, "", 0), 1);
    CHECK_INT_EQ(ug__seen_add(s, "", 0), 0);
    ug__seen_free(s);
}

/* Memory of the seen-set and a frontier holding a million URLs. */
static void million_urls_memory(void) {
    ug__seen *s = NULL;
    ug__frontier f = {0};
    if (!CHECK_RC(ug__seen_new(7, &s), 0))
        return;
    size_t n = CHECK_SANITIZED ? 100000 : 1000000, url_bytes = 0;
    char url[128];
    for (size_t i = 0; i < n; i++) {
        url_of(url, sizeof url, i);
        size_t len = strlen(url);
        url_bytes += len + 1;
        if (ug__seen_add(s, url, len) != 1 ||
            ug__frontier_push(&f, url, len, 0) != (long)i) {
            CHECK(!"add failed");
            break;
        }
    }
    double seen_per = (double)ug__seen_bytes(s) / (double)n;
    double frontier_per = (double)ug__frontier_bytes(&f) / (double)n;
    printf("    %zu URLs (%.1f bytes long on average): seen-set %.1f bytes "
           "per URL, frontier %.1f bytes per URL\n",
           n, (double)url_bytes / (double)n, seen_per, frontier_per);
    CHECK_DBL(seen_per, <=, 22.0);
    /* Arena (at most twice the text) plus 16-byte entries (at most twice
     * their number). */
    CHECK_DBL(frontier_per, <=, 2.0 * (double)url_bytes / (double)n + 32.0);
    url_of(url, sizeof url, n / 2);
    CHECK_STR_EQ(ug__frontier_url(&f, n / 2), url);
    ug__frontier_free(&f);
    ug__seen_free(s);
}

/* Low bits of the hash (the table index) are spread evenly even for URLs
 * that differ in one character. */
static void hash_spread(void) {
    enum { BUCKETS = 256, N = 256 * 200 };
    static unsigned counts[BUCKETS];
    memset(counts, 0, sizeof counts);
    char url[128];
    for (unsigned i = 0; i < N; i++) {
        snprintf(url, sizeof url, "http://h/%u", i);
        counts[ug__hash64(url, strlen(url), 1) % BUCKETS]++;
    }
    unsigned lo = N, hi = 0;
    for (int b = 0; b < BUCKETS; b++) {
        lo = counts[b] < lo ? counts[b] : lo;
        hi = counts[b] > hi ? counts[b] : hi;
    }
    /* 200 expected per bucket; a fair hash stays within about 4 sigma. */
    CHECK_UINT(lo, >, 140);
    CHECK_UINT(hi, <, 260);
    CHECK_UINT(ug__hash64("abc", 3, 1), !=, ug__hash64("abc", 3, 2));
    CHECK_UINT(ug__hash64("abcdefgh1", 9, 1), !=, ug__hash64("abcdefgh2", 9, 1));
}

static void frontier_reuse(void) {
    ug__frontier f = {0};
    CHECK_INT_EQ(ug__frontier_push(&f, "http://a/", 9, 3), 0);
    CHECK_INT_EQ(ug__frontier_push(&f, "http://b/xyz", 9, 4), 1);
    CHECK_STR_EQ(ug__frontier_url(&f, 0), "http://a/");
    CHECK_STR_EQ(ug__frontier_url(&f, 1), "http://b/");
    CHECK_UINT_EQ(f.entries[1].host, 4);
    CHECK_UINT_EQ(f.entries[1].next, UG__NONE);
    size_t bytes = ug__frontier_bytes(&f);
    ug__frontier_clear(&f);
    CHECK_UINT_EQ(f.count, 0);
    CHECK_INT_EQ(ug__frontier_push(&f, "http://c/", 9, 0), 0);
    CHECK_STR_EQ(ug__frontier_url(&f, 0), "http://c/");
    CHECK_UINT_EQ(ug__frontier_bytes(&f), bytes);
    ug__frontier_free(&f);
    CHECK_UINT_EQ(ug__frontier_bytes(&f), 0);
}

static void scope_rules(void) {
    const char *inc[] = {"/docs/"};
    const char *exc[] = {"\\.pdf$", "[?&]print="};
    ug__scope *s = NULL;
    if (!CHECK_RC(ug__scope_new(UG_CRAWL_HOST, inc, 1, exc, 2, &s), 0))
        return;
    CHECK_RC(ug__scope_add_seed(s, "http://example.com/docs/index.html"), 0);
    CHECK_NULL(ug__scope_check(s, "http://example.com/docs/a.html"));
    CHECK_PTR_EQ(ug__scope_check(s, "http://example.com/blog/"), UG__EXCLUDED);
    CHECK_PTR_EQ(ug__scope_check(s, "http://example.com/docs/a.pdf"),
                 UG__EXCLUDED);
    CHECK_PTR_EQ(ug__scope_check(s, "http://example.com/docs/a?print=1"),
                 UG__EXCLUDED);
    CHECK_PTR_EQ(ug__scope_check(s, "http://example.org/docs/a.html"),
                 UG__OUT_OF_SCOPE);
    CHECK_PTR_EQ(ug__scope_check(s, "https://example.com:8443/docs/"),
                 UG__OUT_OF_SCOPE);
    ug__scope_free(s);

    if (!CHECK_RC(ug__scope_new(UG_CRAWL_PREFIX, NULL, 0, NULL, 0, &s), 0))
        return;
    CHECK_RC(ug__scope_add_seed(s, "http://example.com/a/b/start.html?x=/y/"), 0);
    CHECK_NULL(ug__scope_check(s, "http://example.com/a/b/"));
    CHECK_NULL(ug__scope_check(s, "http://example.com/a/b/c/d.html"));
    CHECK_PTR_EQ(ug__scope_check(s, "http://example.com/a/"), UG__OUT_OF_SCOPE);
    CHECK_PTR_EQ(ug__scope_check(s, "http://example.com/a/bc"),
                 UG__OUT_OF_SCOPE);
    ug__scope_free(s);
}

static void patterns(void) {
    char msg[128];
    CHECK_RC(ug_crawl_check_pattern("^https?://[^/]+/(a|b)+$", msg, sizeof msg), 0);
    CHECK_RC(ug_crawl_check_pattern("(unclosed", msg, sizeof msg), UG_EINVAL);
    CHECK(msg[0] != '\0');
    const char *bad[] = {"[z-a]"};
    ug__scope *s = NULL;
    CHECK_RC(ug__scope_new(UG_CRAWL_HOST, bad, 1, NULL, 0, &s), UG_EINVAL);
    CHECK_RC(ug__scope_new(7, NULL, 0, NULL, 0, &s), UG_EINVAL);
    ug_crawl_options o;
    ug_crawl_options_init(&o);
    o.exclude = bad;
    o.nexclude = 1;
    ug_crawl *c = NULL;
    CHECK_RC(ug_crawl_new(&o, &c), UG_EINVAL);
    CHECK_NULL(c);

    ug_crawl_options_init(&o);
    CHECK_INT(o.dns_cache_s, ==, -1); /* for the whole crawl */
    o.dns_cache_s = -2;
    CHECK_RC(ug_crawl_new(&o, &c), UG_EINVAL);
    CHECK_NULL(c);
}

static void seeds_and_run_errors(void) {
    ug_crawl_options o;
    ug_crawl_options_init(&o);
    ug_crawl *c = NULL;
    if (!CHECK_RC(ug_crawl_new(&o, &c), 0))
        return;
    CHECK_RC(ug_crawl_run(c, NULL), UG_EINVAL); /* no seed */
    CHECK_RC(ug_crawl_add_seed(c, "ftp://example.com/"), UG_EURL);
    CHECK_RC(ug_crawl_add_seed(c, "not a url"), UG_EURL);
    CHECK_RC(ug_crawl_add_seed(c, "HTTP://Example.COM:80/a/../b#frag"), 0);
    const ug_graph *g = ug_crawl_graph(c);
    size_t i;
    CHECK_INT_EQ(ug_graph_find(g, "http://example.com/b", &i), 1);
    CHECK_UINT(ug_crawl_memory(c), >, 0);
    ug_graph *taken = ug_crawl_take_graph(c);
    CHECK_NOT_NULL(taken);
    CHECK_NULL(ug_crawl_graph(c));
    ug_graph_free(taken);
    ug_crawl_free(c);
    ug_crawl_free(NULL);
}


/* ---- a small site ---------------------------------------------------------
 *
 * One thread accepts, one thread per connection serves (keep-alive).  Every
 * wait polls a wake pipe too, so site_stop() ends everything at once.
 * Pages:
 *   /robots.txt   Disallow: /private
 *   /             links /a, /b, /a, /private, /c, /missing, http://other.invalid/
 *   /a            links /b, /a#x (itself)
 *   /b            links /, /slow/0
 *   /c            302 to /a
 *   /missing      404
 *   /slow/N       waits 20 ms, links /slow/N+1 (forever)
 */

enum { SITE_MAX_THREADS = 256 };

struct site {
    int lfd, wake[2], port;
    pthread_t acceptor, threads[SITE_MAX_THREADS];
    size_t nthreads;
    pthread_mutex_t lock;
    unsigned requests;
};

struct site_conn {
    struct site *site;
    int fd;
};

/* Waits for fd to be readable; false when woken or on error. */
static bool site_wait(struct site *s, int fd, int timeout_ms) {
    struct pollfd p[2] = {{fd, POLLIN, 0}, {s->wake[0], POLLIN, 0}};
    int n = poll(p, 2, timeout_ms);
    return n > 0 && !p[1].revents && p[0].revents;
}

static void site_reply(int fd, int status, const char *extra,
                       const char *type, const char *body) {
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n"
                     "Content-Type: %s\r\n%s\r\n",
                     status, strlen(body), type, extra);
    if (write(fd, head, (size_t)n) != n ||
        write(fd, body, strlen(body)) != (ssize_t)strlen(body))
        return;
}

static void site_page(struct site *s, int fd, const char *path) {
    char body[512];
    const char *html = "text/html";
    if (!strcmp(path, "/robots.txt")) {
        site_reply(fd, 200, "", "text/plain",
                   "User-agent: *\nDisallow: /private\n");
    } else if (!strcmp(path, "/")) {
        site_reply(fd, 200, "", html,
                   "<title>Home</title><a href=/a>1</a><a href=\"b\">2</a>"
                   "<a href=/a>3</a><a href=/private>4</a><a href=/c>5</a>"
                   "<a href=/missing>6</a><a href=http://other.invalid/>7</a>");
    } else if (!strcmp(path, "/a")) {
        site_reply(fd, 200, "", html,
                   "<title>A</title><a href=/b>b</a><a href=/a#x>self</a>");
    } else if (!strcmp(path, "/b")) {
        site_reply(fd, 200, "", html, "<a href=/>home</a><a href=/slow/0>s</a>");
    } else if (!strcmp(path, "/c")) {
        site_reply(fd, 302, "Location: /a\r\n", html, "moved");
    } else if (!strncmp(path, "/slow/", 6)) {
        site_wait(s, s->wake[0], 20); /* a short pause, cut by stop */
        snprintf(body, sizeof body, "<a href=/slow/%ld>next</a>",
                 strtol(path + 6, NULL, 10) + 1);
        site_reply(fd, 200, "", html, body);
    } else {
        site_reply(fd, 404, "", html, "<a href=/never>no</a>");
    }
}

static void *site_serve(void *arg) {
    struct site_conn *c = arg;
    char buf[4096];
    size_t len = 0;
    for (;;) {
        char *end = memmem(buf, len, "\r\n\r\n", 4);
        if (!end) {
            ssize_t n = len < sizeof buf && site_wait(c->site, c->fd, 10000)
                            ? read(c->fd, buf + len, sizeof buf - len)
                            : 0;
            if (n <= 0)
                break;
            len += (size_t)n;
            continue;
        }
        char path[256] = "";
        sscanf(buf, "GET %255s", path);
        pthread_mutex_lock(&c->site->lock);
        c->site->requests++;
        pthread_mutex_unlock(&c->site->lock);
        site_page(c->site, c->fd, path);
        size_t used = (size_t)(end + 4 - buf);
        memmove(buf, buf + used, len - used);
        len -= used;
    }
    close(c->fd);
    free(c);
    return NULL;
}

static void *site_accept(void *arg) {
    struct site *s = arg;
    while (site_wait(s, s->lfd, -1)) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct site_conn *c = malloc(sizeof *c);
        if (c && s->nthreads < SITE_MAX_THREADS) {
            *c = (struct site_conn){s, fd};
            if (!pthread_create(&s->threads[s->nthreads], NULL, site_serve, c)) {
                s->nthreads++;
                continue;
            }
        }
        free(c);
        close(fd);
    }
    return NULL;
}

static struct site *site_start(void) {
    struct site *s = calloc(1, sizeof *s);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (!CHECK_NOT_NULL(s))
        return NULL;
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (!CHECK_INT(s->lfd, >=, 0) ||
        !CHECK_INT_EQ(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0) ||
        !CHECK_INT_EQ(listen(s->lfd, 1024), 0) ||
        !CHECK_INT_EQ(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0) ||
        !CHECK_INT_EQ(pipe2(s->wake, O_CLOEXEC), 0))
        abort();
    s->port = ntohs(a.sin_port);
    pthread_mutex_init(&s->lock, NULL);
    if (!CHECK_INT_EQ(pthread_create(&s->acceptor, NULL, site_accept, s), 0))
        abort();
    return s;
}

/* Stops the site; returns how many connections it served (a thread
 * each). */
static size_t site_stop(struct site *s) {
    CHECK_INT_EQ(write(s->wake[1], "x", 1), 1);
    pthread_join(s->acceptor, NULL);
    size_t connections = s->nthreads;
    for (size_t i = 0; i < s->nthreads; i++)
        pthread_join(s->threads[i], NULL);
    close(s->lfd);
    close(s->wake[0]);
    close(s->wake[1]);
    pthread_mutex_destroy(&s->lock);
    free(s);
    return connections;
}

static unsigned site_requests(struct site *s) {
    pthread_mutex_lock(&s->lock);
    unsigned n = s->requests;
    pthread_mutex_unlock(&s->lock);
    return n;
}

static const char *site_url(struct site *s, char buf[128], const char *path) {
    snprintf(buf, 128, "http://127.0.0.1:%d%s", s->port, path);
    return buf;
}

struct pages_seen {
    size_t count;
    long status_sum;
};

static void count_page(void *ctx, const ug_crawl_page *p) {
    struct pages_seen *seen = ctx;
    seen->count++;
    seen->status_sum += p->status;
}

/* The node of `path`: its status, depth and error (NULL when absent). */
static bool node_is(const ug_graph *g, struct site *s, const char *path,
                    int status, int depth, const char *error) {
    char url[128];
    size_t i;
    ug_graph_node n;
    if (!CHECK_INT_EQ(ug_graph_find(g, site_url(s, url, path), &i), 1) ||
        !CHECK_RC(ug_graph_node_get(g, i, &n), 0))
        return false;
    return CHECK_INT_EQ(n.status, status) & CHECK_INT_EQ(n.depth, depth) &
           CHECK_STR_EQ(n.error, error);
}

static uint64_t edge_count(const ug_graph *g, struct site *s, const char *from,
                           const char *to) {
    char a[128], b[128];
    size_t i, j;
    if (ug_graph_find(g, site_url(s, a, from), &i) != 1 ||
        ug_graph_find(g, to[0] == '/' ? site_url(s, b, to) : to, &j) != 1)
        return 0;
    for (size_t k = 0; k < ug_graph_edge_count(g); k++) {
        ug_graph_edge e;
        ug_graph_edge_get(g, k, &e);
        if (e.from == i && e.to == j)
            return e.count;
    }
    return 0;
}

static void crawl_small_site(void) {
    struct site *s = site_start();
    ug_crawl_options o;
    ug_crawl_options_init(&o);
    o.max_depth = 2;
    o.concurrency = 4;
    o.retries = 0;
    struct pages_seen seen = {0};
    o.on_page = count_page;
    o.ctx = &seen;
    ug_crawl *c = NULL;
    char url[128];
    if (!CHECK_RC(ug_crawl_new(&o, &c), 0) ||
        !CHECK_RC(ug_crawl_add_seed(c, site_url(s, url, "/")), 0))
        goto out;
    CHECK_RC(ug_crawl_run(c, NULL), 0);
    CHECK_RC(ug_crawl_run(c, NULL), UG_EBUSY);
    CHECK_RC(ug_crawl_add_seed(c, site_url(s, url, "/b")), UG_EBUSY);
    const ug_graph *g = ug_crawl_graph(c);
    /* Fetched: / a b c missing slow/0; not: private, other, slow/1. */
    CHECK_UINT_EQ(seen.count, 6);
    CHECK_UINT_EQ(seen.status_sum, 200 * 5 + 404);
    CHECK_UINT_EQ(ug_graph_node_count(g), 9);
    node_is(g, s, "/", 200, 0, NULL);
    node_is(g, s, "/a", 200, 1, NULL);
    node_is(g, s, "/c", 200, 1, NULL);
    node_is(g, s, "/missing", 404, 1, "HTTP status 404");
    node_is(g, s, "/private", 0, 1, "disallowed by robots.txt");
    node_is(g, s, "/slow/0", 200, 2, NULL);
    node_is(g, s, "/slow/1", 0, 3, "beyond the depth limit");
    CHECK_UINT_EQ(edge_count(g, s, "/", "/a"), 2);
    CHECK_UINT_EQ(edge_count(g, s, "/", "/b"), 1);
    CHECK_UINT_EQ(edge_count(g, s, "/", "http://other.invalid/"), 1);
    CHECK_UINT_EQ(edge_count(g, s, "/a", "/a"), 1);
    CHECK_UINT_EQ(edge_count(g, s, "/c", "/a"), 2); /* redirect + link */
    CHECK_UINT_EQ(edge_count(g, s, "/missing", "/never"), 0);
    CHECK_UINT_EQ(ug_graph_edge_count(g), 13);
    CHECK_UINT_EQ(site_requests(s), 8); /* robots.txt, 6 pages, /c ->/a again */
out:
    ug_crawl_free(c);
    site_stop(s);
}

/* Which connections a crawl keeps.  The site's "/" links to five more
 * pages of its host, fetched one at a time (concurrency 1).  With
 * per_host 1 every host met can have its connections within the total
 * cap: one connection serves the crawl.  With per_host 2 it cannot, and
 * a page's connection is closed once its host has fewer pages waiting
 * than in flight: "/", alone in its level, closes its own, and the next
 * level opens one that serves its five pages. */
static void crawl_connections(void) {
    for (unsigned per_host = 1; per_host <= 2; per_host++) {
        struct site *s = site_start();
        ug_crawl_options o;
        ug_crawl_options_init(&o);
        o.max_depth = 1;
        o.concurrency = 1;
        o.per_host = per_host;
        o.robots = 0;
        o.retries = 0;
        struct pages_seen seen = {0};
        o.on_page = count_page;
        o.ctx = &seen;
        ug_crawl *c = NULL;
        char url[128];
        if (CHECK_RC(ug_crawl_new(&o, &c), 0) &&
            CHECK_RC(ug_crawl_add_seed(c, site_url(s, url, "/")), 0))
            CHECK_RC(ug_crawl_run(c, NULL), 0);
        ug_crawl_free(c);
        unsigned requests = site_requests(s);
        CHECK_UINT_EQ(site_stop(s), per_host);
        /* / a b private c missing, and /c's redirect to /a. */
        CHECK_UINT_EQ(seen.count, 6);
        CHECK_UINT_EQ(requests, 7);
    }
}

struct canceller {
    int *flag;
    struct site *site;
};

static void *cancel_later(void *arg) {
    struct canceller *k = arg;
    while (site_requests(k->site) < 10)
        check_sleep_ms(5);
    __atomic_store_n(k->flag, 1, __ATOMIC_RELAXED);
    return NULL;
}

static void crawl_cancel(void) {
    struct site *s = site_start();
    ug_crawl_options o;
    ug_crawl_options_init(&o);
    o.max_pages = 0;
    o.robots = 0;
    ug_crawl *c = NULL;
    char url[128];
    int flag = 0;
    struct canceller k = {&flag, s};
    pthread_t t;
    if (!CHECK_RC(ug_crawl_new(&o, &c), 0) ||
        !CHECK_RC(ug_crawl_add_seed(c, site_url(s, url, "/slow/0")), 0) ||
        !CHECK_INT_EQ(pthread_create(&t, NULL, cancel_later, &k), 0))
        goto out;
    CHECK_RC(ug_crawl_run(c, &flag), UG_ECANCELED);
    pthread_join(t, NULL);
    const ug_graph *g = ug_crawl_graph(c);
    size_t n = ug_graph_node_count(g);
    CHECK_UINT(n, >=, 10);
    node_is(g, s, "/slow/0", 200, 0, NULL);
out:
    ug_crawl_free(c);
    site_stop(s);
}

int main(int argc, char **argv) {
    static const check_test tests[] = {
        CHECK_TEST(seen_exact),         CHECK_TEST(million_urls_memory),
        CHECK_TEST(hash_spread),
        CHECK_TEST(frontier_reuse),     CHECK_TEST(scope_rules),
        CHECK_TEST(patterns),           CHECK_TEST(seeds_and_run_errors),
        CHECK_TEST(crawl_connections),
        CHECK_TEST(crawl_small_site),   CHECK_TEST(crawl_cancel),
    };
    return check_main(argc, argv, tests, sizeof tests / sizeof *tests);
}
