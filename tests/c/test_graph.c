/* test_graph.c - the link graph: model, text cleaning, exports, layout.
 *
 * Layout tests check determinism (same seed: the same bits on 1 and 2
 * threads), sanity (finite, bounded, centred) and quality (nodes joined by
 * an edge end up closer than random pairs).  The pool runs the layout's
 * node loop on threads, so this file is also the module's TSan test. */
#include <math.h>

#include "check.h"
#include "ungil/graph.h"
#include "ungil/pool.h"

static ug_graph *new_graph(void) {
    ug_graph *g = NULL;
    CHECK_RC(ug_graph_new(&g), 0);
    return g;
}

static size_t node(ug_graph *g, const char *url) {
    size_t i = SIZE_MAX;
    int rc = ug_graph_add_node(g, url, &i);
    CHECK(rc == 0 || rc == 1);
    return i;
}

static void test_nodes_and_edges(void) {
    ug_graph *g = new_graph();
    size_t a = 99, b = 99;
    CHECK_INT_EQ(ug_graph_add_node(g, "http://x/a", &a), 1);
    CHECK_INT_EQ(ug_graph_add_node(g, "http://x/b", &b), 1);
    CHECK_UINT_EQ(a, 0);
    CHECK_UINT_EQ(b, 1);
    size_t again = 99;
    CHECK_INT_EQ(ug_graph_add_node(g, "http://x/a", &again), 0);
    CHECK_UINT_EQ(again, 0);
    CHECK_INT_EQ(ug_graph_find(g, "http://x/b", &again), 1);
    CHECK_UINT_EQ(again, 1);
    CHECK_INT_EQ(ug_graph_find(g, "http://x/zz", &again), 0);
    CHECK_INT_EQ(ug_graph_add_edge(g, a, b), 1);
    CHECK_INT_EQ(ug_graph_add_edge(g, a, b), 0);
    CHECK_INT_EQ(ug_graph_add_edge(g, a, b), 0);
    CHECK_INT_EQ(ug_graph_add_edge(g, b, a), 1);
    CHECK_INT_EQ(ug_graph_add_edge(g, b, b), 1);
    CHECK_RC(ug_graph_add_edge(g, a, 7), UG_ERANGE);
    CHECK_UINT_EQ(ug_graph_node_count(g), 2);
    CHECK_UINT_EQ(ug_graph_edge_count(g), 3);
    ug_graph_edge e;
    CHECK_RC(ug_graph_edge_get(g, 0, &e), 0);
    CHECK_UINT_EQ(e.from, a);
    CHECK_UINT_EQ(e.to, b);
    CHECK_UINT_EQ(e.count, 3);
    CHECK_RC(ug_graph_edge_get(g, 3, &e), UG_ERANGE);
    CHECK_UINT_EQ(ug_graph_in_degree(g, b), 2);
    CHECK_UINT_EQ(ug_graph_in_degree(g, a), 1);
    CHECK_UINT_EQ(ug_graph_in_degree(g, 5), 0);

    CHECK_RC(ug_graph_set_status(g, a, 200), 0);
    CHECK_RC(ug_graph_set_depth(g, a, 0), 0);
    CHECK_RC(ug_graph_set_bytes(g, a, 1234), 0);
    CHECK_RC(ug_graph_set_title(g, a, "Home"), 0);
    CHECK_RC(ug_graph_set_title(g, a, "Home page"), 0);
    CHECK_RC(ug_graph_set_content_type(g, a, "text/html"), 0);
    CHECK_RC(ug_graph_set_error(g, b, "timed out"), 0);
    CHECK_RC(ug_graph_set_status(g, 2, 200), UG_ERANGE);
    CHECK_RC(ug_graph_set_title(NULL, 0, "x"), UG_EINVAL);
    ug_graph_node nd;
    CHECK_RC(ug_graph_node_get(g, a, &nd), 0);
    CHECK_STR_EQ(nd.url, "http://x/a");
    CHECK_STR_EQ(nd.title, "Home page");
    CHECK_STR_EQ(nd.content_type, "text/html");
    CHECK_NULL(nd.error);
    CHECK_INT_EQ(nd.status, 200);
    CHECK_INT_EQ(nd.depth, 0);
    CHECK_INT_EQ(nd.bytes, 1234);
    CHECK_UINT_EQ(nd.out_degree, 1);
    CHECK_RC(ug_graph_node_get(g, b, &nd), 0);
    CHECK_STR_EQ(nd.error, "timed out");
    CHECK_NULL(nd.title);
    CHECK_INT_EQ(nd.depth, -1);
    CHECK_INT_EQ(nd.bytes, -1);
    CHECK_INT_EQ(nd.status, 0);
    CHECK_RC(ug_graph_set_title(g, a, NULL), 0);
    CHECK_RC(ug_graph_node_get(g, a, &nd), 0);
    CHECK_NULL(nd.title);
    CHECK_RC(ug_graph_node_get(g, 9, &nd), UG_ERANGE);
    CHECK_RC(ug_graph_add_node(g, NULL, NULL), UG_EINVAL);
    CHECK_RC(ug_graph_add_node(NULL, "x", NULL), UG_EINVAL);
    ug_graph_free(g);
    ug_graph_free(NULL);
}

static void test_many_nodes(void) {
    ug_graph *g = new_graph();
    char url[64];
    for (size_t i = 0; i < 20000; i++) {
        snprintf(url, sizeof url, "http://site/%zu", i);
        CHECK_UINT_EQ(node(g, url), i);
        if (i)
            ug_graph_add_edge(g, i / 3, i);
    }
    CHECK_UINT_EQ(ug_graph_node_count(g), 20000);
    CHECK_UINT_EQ(ug_graph_edge_count(g), 19999);
    size_t k = 0;
    CHECK_INT_EQ(ug_graph_find(g, "http://site/12345", &k), 1);
    CHECK_UINT_EQ(k, 12345);
    CHECK_INT_EQ(ug_graph_add_edge(g, 4, 12), 0);
    ug_graph_edge e;
    CHECK_RC(ug_graph_edge_get(g, 11, &e), 0);
    CHECK_UINT_EQ(e.count, 2);
    ug_graph_free(g);
}

static void test_cleaning(void) {
    ug_graph *g = new_graph();
    size_t a = node(g, "http://x/\xff");
    /* Invalid bytes, an overlong form, a surrogate, C0/C1 controls, DEL,
     * tab and newline, U+FFFF: all cleaned; valid UTF-8 kept. */
    CHECK_RC(ug_graph_set_title(g, a,
                                "a\xc3\xa9\tb\nc\x01\x7f\xc2\x85"
                                "\xc0\xaf\xed\xa0\x80\xef\xbf\xbf\xe2\x82\xac"),
             0);
    ug_graph_node nd;
    CHECK_RC(ug_graph_node_get(g, a, &nd), 0);
    CHECK_STR_EQ(nd.url, "http://x/\xef\xbf\xbd");
    CHECK_STR_EQ(nd.title, "a\xc3\xa9 b c\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                           "\xef\xbf\xbd\xef\xbf\xbd"
                           "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                           "\xef\xbf\xbd\xe2\x82\xac");
    size_t same = 9;
    CHECK_INT_EQ(ug_graph_find(g, "http://x/\xff", &same), 1);
    CHECK_UINT_EQ(same, a);
    ug_graph_free(g);
}

/* Renders g in `format`; the caller frees. */
static char *render(const ug_graph *g, int format) {
    char *out = NULL;
    size_t len = 0;
    if (!CHECK_RC(ug_graph_write(g, format, "t<&>\"", &out, &len), 0))
        return NULL;
    CHECK_UINT_EQ(strlen(out), len);
    return out;
}

static void test_exports_escape(void) {
    ug_graph *g = new_graph();
    size_t a = node(g, "http://x/?a=1&b=\"2\"");
    size_t b = node(g, "http://x/</script><b>");
    ug_graph_set_title(g, a, "Tom & \"Jerry\" <3 \\ end\\");
    ug_graph_set_title(g, b, "</script><script>alert(1)</script>\xe2\x80\xa8");
    ug_graph_add_edge(g, a, b);

    char *json = render(g, UG_GRAPH_JSON);
    CHECK_CONTAINS(json, "\"url\": \"http://x/?a=1&b=\\\"2\\\"\"");
    CHECK_CONTAINS(json, "\"title\": \"Tom & \\\"Jerry\\\" <3 \\\\ end\\\\\"");
    CHECK_CONTAINS(json, "{\"source\": 0, \"target\": 1, \"count\": 1}");
    CHECK_CONTAINS(json, "\"depth\": null");
    free(json);

    char *xml = render(g, UG_GRAPH_GRAPHML);
    CHECK_CONTAINS(xml, "Tom &amp; &quot;Jerry&quot; &lt;3 \\ end\\");
    CHECK_CONTAINS(xml, "http://x/?a=1&amp;b=&quot;2&quot;");
    CHECK_CONTAINS(xml, "attr.name=\"bytes\" attr.type=\"long\"");
    CHECK_CONTAINS(xml, "<data key=\"name\">t&lt;&amp;&gt;&quot;</data>");
    CHECK(!strstr(xml, "<script>"));
    free(xml);

    char *dot = render(g, UG_GRAPH_DOT);
    CHECK_CONTAINS(dot, "title=\"Tom & \\\"Jerry\\\" <3 \\\\ end\\\\\"");
    CHECK_CONTAINS(dot, "n0 -> n1 [count=\"1\"];");
    CHECK_CONTAINS(dot, "label=\"t<&>\\\"\"");
    free(dot);

    char *html = render(g, UG_GRAPH_HTML);
    /* The hostile title never closes the data element; the only </script>
     * are the two the page itself writes. */
    size_t closes = 0;
    for (const char *p = html; (p = strstr(p, "</script>")); p++)
        closes++;
    CHECK_UINT_EQ(closes, 2);
    CHECK_CONTAINS(html, "\\u003c/script\\u003e\\u003cscript\\u003e");
    CHECK_CONTAINS(html, "\\u2028");
    CHECK_CONTAINS(html, "<title>t&lt;&amp;&gt;&quot;</title>");
    CHECK(!strstr(html, "http://") || !strstr(html, "src=\"http"));
    CHECK(!strstr(html, "href="));
    CHECK_CONTAINS(html, "id=\"physics\"");
    free(html);
    ug_graph_free(g);
}

/* True if s is valid UTF-8 without control characters other than '\n'
 * (no C0 but newline, no DEL, no C1), as every export must be. */
static bool clean_text(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        size_t len = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2
                   : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        if (!len || (c < 0x20 && c != '\n') || c == 0x7F)
            return false;
        uint32_t cp = len == 1 ? c : c & (0x7F >> len);
        for (size_t k = 1; k < len; k++) {
            if ((p[k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (p[k] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF ||
            (cp >= 0x80 && cp <= 0x9F))
            return false;
        p += len;
    }
    return true;
}

/* Random bytes as URLs, titles and errors: every export stays clean text
 * and names every node. */
static void test_random_bytes_export_clean(void) {
    ug_graph *g = new_graph();
    uint64_t s = 1234;
    char text[48];
    for (size_t i = 0; i < 400; i++) {
        size_t len = 1 + check_random(&s) % (sizeof text - 1);
        for (size_t k = 0; k < len; k++)
            text[k] = (char)(1 + check_random(&s) % 255);
        text[len] = '\0';
        size_t a = node(g, text);
        ug_graph_set_title(g, a, text + len / 2);
        ug_graph_set_error(g, a, text + len / 3);
        if (a)
            ug_graph_add_edge(g, a - 1, a);
    }
    for (int f = UG_GRAPH_JSON; f <= UG_GRAPH_HTML; f++) {
        char *out = render(g, f);
        CHECK(out && clean_text(out));
        free(out);
    }
    ug_graph_node nd;
    for (size_t i = 0; i < ug_graph_node_count(g); i++) {
        ug_graph_node_get(g, i, &nd);
        CHECK(clean_text(nd.url) && !strchr(nd.url, '\n'));
    }
    ug_graph_free(g);
}

static void test_formats_and_save(void) {
    CHECK_INT_EQ(ug_graph_format_from_name("site.GraphML"), UG_GRAPH_GRAPHML);
    CHECK_INT_EQ(ug_graph_format_from_name("json"), UG_GRAPH_JSON);
    CHECK_INT_EQ(ug_graph_format_from_name(".gv"), UG_GRAPH_DOT);
    CHECK_INT_EQ(ug_graph_format_from_name("a.b.htm"), UG_GRAPH_HTML);
    CHECK_RC(ug_graph_format_from_name("x.png"), UG_EINVAL);
    CHECK_RC(ug_graph_format_from_name(NULL), UG_EINVAL);

    ug_graph *g = new_graph();
    node(g, "http://x/");
    char dir[] = "/tmp/ug_graph_XXXXXX";
    if (!CHECK_NOT_NULL(mkdtemp(dir)))
        return;
    char path[128], part[160];
    snprintf(path, sizeof path, "%s/g.json", dir);
    snprintf(part, sizeof part, "%s.part", path);
    CHECK_RC(ug_graph_save(g, UG_GRAPH_JSON, NULL, path), 0);
    CHECK(access(path, F_OK) == 0);
    CHECK(access(part, F_OK) != 0);
    CHECK_RC(ug_graph_save(g, 42, NULL, path), UG_EINVAL);
    char missing[160];
    snprintf(missing, sizeof missing, "%s/no/such/dir.json", dir);
    CHECK_RC(ug_graph_save(g, UG_GRAPH_JSON, NULL, missing), UG_EIO);
    unlink(path);
    rmdir(dir);
    ug_graph_free(g);
}

/* A crawl-like graph: a tree of fan-out 4 with a cross link per node. */
static ug_graph *crawl_like(size_t n, uint64_t seed) {
    ug_graph *g = new_graph();
    char url[64];
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        snprintf(url, sizeof url, "http://site/%zu", i);
        node(g, url);
        if (i) {
            ug_graph_add_edge(g, (i - 1) / 4, i);
            ug_graph_add_edge(g, i, check_random(&s) % i);
        }
    }
    return g;
}

static void layout_on(ug_graph *g, ug_pool *pool, double *xy) {
    ug_graph_layout_options o;
    ug_graph_layout_options_init(&o);
    o.pool = pool;
    o.seed = 7;
    o.iterations = CHECK_SANITIZED ? 40 : 150;
    CHECK_RC(ug_graph_layout(g, &o), 0);
    for (size_t i = 0; i < ug_graph_node_count(g); i++) {
        ug_graph_node nd;
        ug_graph_node_get(g, i, &nd);
        xy[2 * i] = nd.x;
        xy[2 * i + 1] = nd.y;
    }
}

static void test_layout_deterministic(void) {
    size_t n = CHECK_SANITIZED ? 300 : 2000;
    ug_graph *g = crawl_like(n, 11);
    CHECK_INT_EQ(ug_graph_has_layout(g), 0);
    double *a = malloc(2 * n * sizeof *a), *b = malloc(2 * n * sizeof *b);
    double *c = malloc(2 * n * sizeof *c);
    ug_pool_options po;
    ug_pool_options_init(&po);
    po.workers = 2;
    ug_pool *pool = NULL;
    CHECK_RC(ug_pool_new(&po, &pool), 0);
    layout_on(g, NULL, a);
    CHECK_INT_EQ(ug_graph_has_layout(g), 1);
    layout_on(g, pool, b);
    layout_on(g, pool, c);
    CHECK(memcmp(a, b, 2 * n * sizeof *a) == 0);
    CHECK(memcmp(b, c, 2 * n * sizeof *a) == 0);
    ug_pool_free(pool);
    free(a);
    free(b);
    free(c);
    ug_graph_free(g);
}

static double dist(const double *xy, size_t i, size_t j) {
    return hypot(xy[2 * i] - xy[2 * j], xy[2 * i + 1] - xy[2 * j + 1]);
}

/* Checks finiteness, bounds and that edges are `factor` times shorter than
 * random pairs on average. */
static void check_layout_sane(ug_graph *g, ug_pool *pool, double factor) {
    size_t n = ug_graph_node_count(g), m = ug_graph_edge_count(g);
    double *xy = malloc(2 * n * sizeof *xy);
    layout_on(g, pool, xy);
    double cx = 0, cy = 0, far = 0;
    bool finite = true;
    for (size_t i = 0; i < n; i++) {
        finite = finite && isfinite(xy[2 * i]) && isfinite(xy[2 * i + 1]);
        cx += xy[2 * i], cy += xy[2 * i + 1];
        far = fmax(far, hypot(xy[2 * i], xy[2 * i + 1]));
    }
    CHECK(finite);
    CHECK_DBL(fabs(cx / (double)n), <, 1e-6);
    CHECK_DBL(fabs(cy / (double)n), <, 1e-6);
    CHECK_DBL(far, <, 10.0 * sqrt((double)n) + 10);
    double edges = 0, pairs = 0;
    for (size_t j = 0; j < m; j++) {
        ug_graph_edge e;
        ug_graph_edge_get(g, j, &e);
        edges += dist(xy, e.from, e.to);
    }
    uint64_t s = 99;
    for (size_t k = 0; k < 4 * n; k++)
        pairs += dist(xy, check_random(&s) % n, check_random(&s) % n);
    edges /= (double)m;
    pairs /= (double)(4 * n);
    printf("    n=%zu mean edge %.2f, mean pair %.2f, radius %.1f\n", n, edges,
           pairs, far);
    CHECK_DBL(edges * factor, <, pairs);
    free(xy);
}

static void test_layout_sane(void) {
    size_t n = CHECK_SANITIZED ? 300 : 3000;
    ug_pool *pool = NULL;
    CHECK_RC(ug_pool_new(NULL, &pool), 0);
    ug_graph *tree = crawl_like(n, 3);
    check_layout_sane(tree, pool, 1.5);
    ug_graph_free(tree);
    /* A sparse random graph, and one with many coincident start points: a
     * star of 200 leaves whose centre is node 0. */
    ug_graph *rnd = new_graph();
    char url[64];
    uint64_t s = 5;
    for (size_t i = 0; i < n; i++) {
        snprintf(url, sizeof url, "u%zu", i);
        node(rnd, url);
    }
    for (size_t j = 0; j < 2 * n; j++)
        ug_graph_add_edge(rnd, check_random(&s) % n, check_random(&s) % n);
    check_layout_sane(rnd, pool, 2.0);
    ug_graph_free(rnd);
    ug_graph *star = new_graph();
    node(star, "c");
    for (size_t i = 1; i <= 200; i++) {
        snprintf(url, sizeof url, "l%zu", i);
        ug_graph_add_edge(star, 0, node(star, url));
    }
    check_layout_sane(star, pool, 1.0);
    ug_graph_free(star);
    ug_pool_free(pool);
}

static void test_layout_edge_cases(void) {
    ug_graph *g = new_graph();
    CHECK_RC(ug_graph_layout(g, NULL), 0);
    CHECK_INT_EQ(ug_graph_has_layout(g), 0);
    size_t a = node(g, "only");
    CHECK_RC(ug_graph_layout(g, NULL), 0);
    ug_graph_node nd;
    ug_graph_node_get(g, a, &nd);
    CHECK_DBL(nd.x, ==, 0.0);
    CHECK_INT_EQ(ug_graph_has_layout(g), 1);
    node(g, "second");
    CHECK_INT_EQ(ug_graph_has_layout(g), 0);
    CHECK_RC(ug_graph_set_position(g, 1, 3.0, NAN), UG_EINVAL);
    CHECK_RC(ug_graph_set_position(g, 1, 3.0, 4.0), 0);
    CHECK_INT_EQ(ug_graph_has_layout(g), 1);
    ug_graph_layout_options o;
    ug_graph_layout_options_init(&o);
    o.theta = -1;
    CHECK_RC(ug_graph_layout(g, &o), UG_EINVAL);
    ug_graph_node_get(g, 1, &nd);
    CHECK_DBL(nd.y, ==, 4.0);
    CHECK_RC(ug_graph_layout(NULL, NULL), UG_EINVAL);
    ug_graph_free(g);
}

int main(int argc, char **argv) {
    static const check_test tests[] = {
        CHECK_TEST(test_nodes_and_edges),
        CHECK_TEST(test_many_nodes),
        CHECK_TEST(test_cleaning),
        CHECK_TEST(test_exports_escape),
        CHECK_TEST(test_random_bytes_export_clean),
        CHECK_TEST(test_formats_and_save),
        CHECK_TEST(test_layout_deterministic),
        CHECK_TEST(test_layout_sane),
        CHECK_TEST(test_layout_edge_cases),
    };
    return check_main(argc, argv, tests, sizeof tests / sizeof *tests);
}
