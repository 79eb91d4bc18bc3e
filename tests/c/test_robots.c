/* test_robots.c - robots.txt rules (ungil/robots.h, RFC 9309).
 *
 * Each case is a robots.txt, a crawler name, and paths with the verdict
 * they must get: group choice and merging, longest match and ties,
 * wildcards and the end anchor, percent-encoding, line endings, comments,
 * garbage, the size cap, Crawl-delay, and the status-code rules.
 */
#include "check.h"

#include "ungil/robots.h"

typedef struct {
    const char *path;
    int allowed;
} verdict;

static void check_verdicts(const char *text, const char *agent,
                           const verdict *v, size_t count) {
    ug_robots *r = NULL;
    if (!CHECK_RC(ug_robots_parse(text, strlen(text), agent, &r), 0))
        return;
    for (size_t i = 0; i < count; i++)
        if (!CHECK_INT_EQ(ug_robots_allowed(r, v[i].path), v[i].allowed))
            printf("    agent %s, path \"%s\", robots:\n%s\n", agent,
                   v[i].path, text);
    ug_robots_free(r);
}

#define VERDICTS(text, agent, ...)                                            \
    do {                                                                      \
        static const verdict v_[] = {__VA_ARGS__};                            \
        check_verdicts(text, agent, v_, sizeof v_ / sizeof *v_);              \
    } while (0)

static void test_groups(void) {
    const char *text = "User-agent: *\nDisallow: /all\n\n"
                       "User-agent: ungil\nUser-agent: other\n"
                       "Disallow: /mine\n\n"
                       "User-agent: third\nDisallow: /\n";
    VERDICTS(text, "ungil", {"/all", 1}, {"/mine", 0}, {"/x", 1});
    VERDICTS(text, "UNGIL/1.0 (+https://example.com)", {"/mine", 0});
    VERDICTS(text, "other", {"/mine", 0}, {"/all", 1});
    VERDICTS(text, "third", {"/x", 0}, {"/robots.txt", 1});
    VERDICTS(text, "nobody", {"/all", 0}, {"/mine", 1});
    /* the same agent in two groups: merged */
    VERDICTS("user-agent: ungil\ndisallow: /a\nuser-agent: x\ndisallow: /x\n"
             "USER-AGENT: Ungil\ndisallow: /b\n",
             "ungil", {"/a", 0}, {"/b", 0}, {"/x", 1});
    /* a group naming us with no rules beats the * group */
    VERDICTS("user-agent: *\ndisallow: /\nuser-agent: ungil\n", "ungil",
             {"/", 1}, {"/x", 1});
    /* the product token of the line is compared, not a prefix */
    VERDICTS("user-agent: ungilbot\ndisallow: /\n"
             "user-agent: ungil/2.0\ndisallow: /v\n", "ungil", {"/", 1},
             {"/v", 0});
    VERDICTS("user-agent: ung\ndisallow: /\n", "ungil", {"/", 1});
    /* rules before any user-agent belong to nobody */
    VERDICTS("disallow: /\nuser-agent: *\ndisallow: /x\n", "ungil", {"/", 1},
             {"/x", 0});
    /* sitemap and unknown lines do not end a group */
    VERDICTS("user-agent: a\nsitemap: http://x/s.xml\nfoo: bar\n"
             "user-agent: ungil\ndisallow: /p\n", "ungil", {"/p", 0});
    /* a no-rules file allows everything */
    VERDICTS("", "ungil", {"/", 1}, {"/anything?x", 1});
}

static void test_longest_match(void) {
    const char *text = "user-agent: *\n"
                       "disallow: /shop\n"
                       "allow: /shop/public\n"
                       "disallow: /shop/public/secret\n"
                       "allow: /page\n"
                       "disallow: /page\n"
                       "disallow: /tie$\n"
                       "allow: /tie*\n";
    VERDICTS(text, "ungil", {"/shop", 0}, {"/shop/x", 0},
             {"/shop/public", 1}, {"/shop/public/x", 1},
             {"/shop/public/secret/1", 0}, {"/shopping", 0}, {"/page", 1},
             {"/pages", 1}, {"/tie", 1}, {"/Shop", 1}, {"/", 1});
    /* longest by pattern length, wildcards counted */
    VERDICTS("user-agent: *\nallow: /a*b\ndisallow: /a\n", "ungil",
             {"/axxb", 1}, {"/axx", 0});
    VERDICTS("user-agent: *\nallow: /\ndisallow: /*.gif$\n", "ungil",
             {"/x.gif", 0}, {"/x.gif?y", 1}, {"/x.gifs", 1}, {"/x", 1});
}

static void test_wildcards(void) {
    const char *text = "user-agent: *\n"
                       "disallow: /*.php$\n"
                       "disallow: /fish*\n"
                       "disallow: /*?sid=\n"
                       "disallow: /a*b*c\n"
                       "disallow: /end$\n"
                       "disallow: /mid$dle\n"
                       "disallow: ****/stars\n";
    VERDICTS(text, "ungil", {"/index.php", 0}, {"/dir/x.php", 0},
             {"/x.php?y", 1}, {"/x.php5", 1}, {"/fish", 0},
             {"/fish.html", 0}, {"/Fish", 1}, {"/catfish", 1},
             {"/p?sid=1", 0}, {"/p?x=1&sid=2", 1}, {"/axbyc", 0},
             {"/abc", 0}, {"/acb", 1}, {"/end", 0}, {"/end/", 1},
             {"/mid$dle", 0}, {"/middle", 1}, {"/x/stars", 0});
    /* a lone '*' and "/$" */
    VERDICTS("user-agent: *\ndisallow: *\nallow: /$\n", "ungil", {"/", 1},
             {"/x", 0});
}

static void test_percent_encoding(void) {
    const char *text = "user-agent: *\n"
                       "disallow: /%7Euser\n"
                       "disallow: /caf\xc3\xa9\n"
                       "disallow: /a%2fb\n"
                       "disallow: /sp ace\n"
                       "disallow: /%41BC\n";
    VERDICTS(text, "ungil", {"/~user", 0}, {"/%7euser/x", 0},
             {"/caf%C3%A9", 0}, {"/caf%c3%a9", 0}, {"/caf\xc3\xa9", 0},
             {"/a%2Fb", 0}, {"/a/b", 1}, {"/sp%20ace", 0}, {"/ABC", 0},
             {"/abc", 1});
}

static void test_syntax(void) {
    /* BOM, CR LF and CR endings, comments, spacing, case of keys */
    VERDICTS("\xEF\xBB\xBFUser-Agent: *\r\nDisallow: /a # comment\r\n"
             "# Disallow: /b\r  disallow  :   /c   \rALLOW: /c/ok\n",
             "ungil", {"/a", 0}, {"/b", 1}, {"/c", 0}, {"/c/ok", 1});
    /* garbage and missing colons; common misspellings */
    VERDICTS("<html>garbage</html>\n\x01\x02\nuser-agent *\n"
             "disallow /x\ndissallow: /y\nthis is not a line\n"
             "disallow /two words\n", "ungil",
             {"/x", 0}, {"/y", 0}, {"/two", 1}, {"/q", 1});
    VERDICTS("user-agent: *\ndisallow: /\nuseragent: ungil\n"
             "disallow: /z extra words\ndisallow:\n", "ungil",
             {"/z", 1}, {"/z%20extra%20words", 0}, {"/q", 1});
    /* an empty disallow allows everything */
    VERDICTS("user-agent: *\ndisallow:\n", "ungil", {"/", 1}, {"/a", 1});
    /* NUL bytes inside the file do not stop the parse */
    static const char nul_text[] = "user-agent: *\ndisallow: /a\0b\n"
                                   "disallow: /after\n";
    ug_robots *r = NULL;
    if (CHECK_RC(ug_robots_parse(nul_text, sizeof nul_text - 1, "ungil",
                                 &r), 0)) {
        CHECK_INT_EQ(ug_robots_allowed(r, "/after"), 0);
        CHECK_INT_EQ(ug_robots_allowed(r, "/a%00b"), 0);
        CHECK_INT_EQ(ug_robots_allowed(r, "/a"), 1);
    }
    ug_robots_free(r);
    /* /robots.txt is always allowed */
    VERDICTS("user-agent: *\ndisallow: /\n", "ungil", {"/robots.txt", 1},
             {"/robots.txt?x", 0}, {"", 0}, {"/", 0});
}

static void test_size_cap(void) {
    size_t n = UG_ROBOTS_MAX_BYTES + 100;
    char *text = malloc(n + 64);
    strcpy(text, "user-agent: *\ndisallow: /early\n");
    size_t len = strlen(text);
    while (len < UG_ROBOTS_MAX_BYTES - 10)
        text[len++] = '\n';
    strcpy(text + len, "disallow: /late\n");
    ug_robots *r = NULL;
    if (CHECK_RC(ug_robots_parse(text, strlen(text), "ungil", &r), 0)) {
        CHECK_INT_EQ(ug_robots_allowed(r, "/early"), 0);
        CHECK_INT_EQ(ug_robots_allowed(r, "/late"), 1);
    }
    ug_robots_free(r);
    free(text);
}

static void test_crawl_delay(void) {
    static const struct {
        const char *text;
        double want;
    } cases[] = {
        {"user-agent: *\ncrawl-delay: 5\n", 5},
        {"user-agent: *\nCrawl-Delay: 0.5\ncrawl-delay: 9\n", 0.5},
        {"user-agent: *\ncrawl-delay: soon\ncrawl-delay: 2\n", 2},
        {"user-agent: *\ncrawl-delay: -3\n", -1},
        {"user-agent: *\ndisallow: /\n", -1},
        {"user-agent: other\ncrawl-delay: 7\n", -1},
        {"user-agent: *\ncrawl-delay: 3\nuser-agent: ungil\n"
         "crawl-delay: 1.25\n", 1.25},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ug_robots *r = NULL;
        if (!CHECK_RC(ug_robots_parse(cases[i].text, strlen(cases[i].text),
                                      "ungil", &r), 0))
            continue;
        if (cases[i].want < 0)
            CHECK_DBL(ug_robots_crawl_delay(r), <, 0);
        else
            CHECK_DBL(ug_robots_crawl_delay(r), ==, cases[i].want);
        ug_robots_free(r);
    }
}

static void test_status(void) {
    static const struct {
        int status, allowed;
    } cases[] = {{404, 1}, {403, 1}, {401, 1}, {410, 1}, {301, 1},
                 {429, 0}, {500, 0}, {503, 0}, {0, 0},   {-1, 0},
                 {100, 0}, {600, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ug_robots *r = NULL;
        if (!CHECK_RC(ug_robots_for_status(cases[i].status, &r), 0))
            continue;
        if (!CHECK_INT_EQ(ug_robots_allowed(r, "/x"), cases[i].allowed))
            printf("    status %d\n", cases[i].status);
        CHECK_INT_EQ(ug_robots_allowed(r, "/robots.txt"), 1);
        CHECK_DBL(ug_robots_crawl_delay(r), <, 0);
        ug_robots_free(r);
    }
    ug_robots *r = NULL;
    CHECK_RC(ug_robots_for_status(200, &r), UG_EINVAL);
    CHECK_RC(ug_robots_for_status(404, NULL), UG_EINVAL);
}

static void test_arguments(void) {
    ug_robots *r = NULL;
    CHECK_RC(ug_robots_parse("x", 1, NULL, &r), UG_EINVAL);
    CHECK_RC(ug_robots_parse("x", 1, "ungil", NULL), UG_EINVAL);
    CHECK_RC(ug_robots_parse(NULL, 1, "ungil", &r), UG_EINVAL);
    CHECK_RC(ug_robots_parse("x", 1, "/1.0", &r), UG_EINVAL);
    CHECK_NULL(r);
    CHECK_RC(ug_robots_parse(NULL, 0, "ungil", &r), 0);
    CHECK_INT_EQ(ug_robots_allowed(r, NULL), 1);
    ug_robots_free(r);
    ug_robots_free(NULL);
    CHECK_INT_EQ(ug_robots_allowed(NULL, "/x"), 1);
}

/* Long paths and many stars stay correct (and fast). */
static void test_long_inputs(void) {
    size_t n = 100000;
    char *path = malloc(n + 2);
    path[0] = '/';
    memset(path + 1, 'a', n);
    path[n] = 'b';
    path[n + 1] = '\0';
    VERDICTS("user-agent: *\ndisallow: /*a*a*a*a*a*a*a*a*c\n"
             "disallow: /*b$\n", "ungil", {"/aaab", 0}, {"/aaac", 1}, {"/aaaaaaaaac", 0});
    ug_robots *r = NULL;
    const char *text = "user-agent: *\ndisallow: /*a*a*a*a*a*a*a*a*c\n";
    if (CHECK_RC(ug_robots_parse(text, strlen(text), "ungil", &r), 0))
        CHECK_INT_EQ(ug_robots_allowed(r, path), 1);
    ug_robots_free(r);
    free(path);
}

int main(int argc, char **argv) {
    static const check_test tests[] = {
        CHECK_TEST(test_groups),
        CHECK_TEST(test_longest_match),
        CHECK_TEST(test_wildcards),
        CHECK_TEST(test_percent_encoding),
        CHECK_TEST(test_syntax),
        CHECK_TEST(test_size_cap),
        CHECK_TEST(test_crawl_delay),
        CHECK_TEST(test_status),
        CHECK_TEST(test_arguments),
        CHECK_TEST(test_long_inputs),
    };
    return check_main(argc, argv, tests, sizeof tests / sizeof *tests);
}
