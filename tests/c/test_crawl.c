/* test_crawl.c - the crawler's own data structures (src/core/crawl_*.c).
 *
 * The seen-set against an exact reference (every URL added once is found,
 * every second add says "not new", URLs never added are absent), its
 * growth and its memory per URL for a million URLs; the hash's spread;
 * the per-key counters; the frontier's arena and entries; the scope's
 * hosts, prefixes and patterns; pattern checking.  The crawl itself runs
 * against a real server in tests/python/test_crawl.py.
 */
#include "check.h"

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

static void counts_bump(void) {
    ug__counts *c = NULL;
    if (!CHECK_RC(ug__counts_new(&c), 0))
        return;
    for (uint64_t k = 0; k < 5000; k++)
        for (uint64_t r = 0; r <= k % 4; r++)
            ug__counts_bump(c, k * 0x9e3779b97f4a7c15ull);
    CHECK_UINT_EQ(ug__counts_bump(c, 0), 2);          /* key 0 seen once */
    CHECK_UINT_EQ(ug__counts_bump(c, 3 * 0x9e3779b97f4a7c15ull), 5);
    CHECK_UINT_EQ(ug__counts_bump(c, 12345), 1);
    ug__counts_free(c);
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

int main(int argc, char **argv) {
    static const check_test tests[] = {
        CHECK_TEST(seen_exact),         CHECK_TEST(million_urls_memory),
        CHECK_TEST(hash_spread),        CHECK_TEST(counts_bump),
        CHECK_TEST(frontier_reuse),     CHECK_TEST(scope_rules),
        CHECK_TEST(patterns),           CHECK_TEST(seeds_and_run_errors),
    };
    return check_main(argc, argv, tests, sizeof tests / sizeof *tests);
}
