/* test_url.c - resolving and normalising crawl URLs (ungil/url.h).
 *
 * A table of references with the exact URL each must become (RFC 3986's
 * resolution examples among them), the refusals (other schemes, malformed
 * hosts), groups of spellings of one URL that must all give the same
 * string, the helpers (host key, path and query, robots.txt URL),
 * idempotence on many generated URL-like strings from a fixed seed, and
 * the index of host keys (url_index.c).
 */
#include "check.h"

#include "../../src/core/url_internal.h"
#include "ungil/url.h"

static const char *BASE = "http://a/b/c/d;p?q";

typedef struct {
    const char *base, *ref, *want; /* want NULL: UG_EURL */
} resolve_case;

static void check_resolve(const resolve_case *c) {
    char *out = NULL;
    int rc = ug_url_resolve(c->base, c->ref, &out);
    if (c->want) {
        if (!CHECK_RC(rc, 0))
            printf("    ref: \"%s\"\n", c->ref);
        else if (!CHECK_STR_EQ(out, c->want))
            printf("    ref: \"%s\"\n", c->ref);
    } else if (!CHECK_RC(rc, UG_EURL)) {
        printf("    ref: \"%s\" gave \"%s\"\n", c->ref, out ? out : "");
    }
    free(out);
}

/* RFC 3986 section 5.4: normal and abnormal examples (fragments dropped). */
static void test_rfc3986_examples(void) {
    static const resolve_case cases[] = {
        {NULL, "g", "http://a/b/c/g"},
        {NULL, "./g", "http://a/b/c/g"},
        {NULL, "g/", "http://a/b/c/g/"},
        {NULL, "/g", "http://a/g"},
        {NULL, "//g", "http://g/"},
        {NULL, "?y", "http://a/b/c/d;p?y"},
        {NULL, "g?y", "http://a/b/c/g?y"},
        {NULL, "#s", "http://a/b/c/d;p?q"},
        {NULL, "g#s", "http://a/b/c/g"},
        {NULL, "g?y#s", "http://a/b/c/g?y"},
        {NULL, ";x", "http://a/b/c/;x"},
        {NULL, "g;x", "http://a/b/c/g;x"},
        {NULL, "g;x?y#s", "http://a/b/c/g;x?y"},
        {NULL, "", "http://a/b/c/d;p?q"},
        {NULL, ".", "http://a/b/c/"},
        {NULL, "./", "http://a/b/c/"},
        {NULL, "..", "http://a/b/"},
        {NULL, "../", "http://a/b/"},
        {NULL, "../g", "http://a/b/g"},
        {NULL, "../..", "http://a/"},
        {NULL, "../../", "http://a/"},
        {NULL, "../../g", "http://a/g"},
        {NULL, "../../../g", "http://a/g"},
        {NULL, "../../../../g", "http://a/g"},
        {NULL, "/./g", "http://a/g"},
        {NULL, "/../g", "http://a/g"},
        {NULL, "g.", "http://a/b/c/g."},
        {NULL, ".g", "http://a/b/c/.g"},
        {NULL, "g..", "http://a/b/c/g.."},
        {NULL, "..g", "http://a/b/c/..g"},
        {NULL, "./../g", "http://a/b/g"},
        {NULL, "./g/.", "http://a/b/c/g/"},
        {NULL, "g/./h", "http://a/b/c/g/h"},
        {NULL, "g/../h", "http://a/b/c/h"},
        {NULL, "g;x=1/./y", "http://a/b/c/g;x=1/y"},
        {NULL, "g;x=1/../y", "http://a/b/c/y"},
        {NULL, "g?y/./x", "http://a/b/c/g?y/./x"},
        {NULL, "g?y/../x", "http://a/b/c/g?y/../x"},
        {NULL, "g#s/./x", "http://a/b/c/g"},
        {NULL, "g#s/../x", "http://a/b/c/g"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        resolve_case c = cases[i];
        c.base = BASE;
        check_resolve(&c);
    }
}

static void test_normalisation(void) {
    static const resolve_case cases[] = {
        {NULL, "HTTP://EXAMPLE.COM", "http://example.com/"},
        {NULL, "https://Example.COM:443/A", "https://example.com/A"},
        {NULL, "http://example.com:80/", "http://example.com/"},
        {NULL, "http://example.com:0080/", "http://example.com/"},
        {NULL, "https://example.com:80/", "https://example.com:80/"},
        {NULL, "http://example.com:443/", "http://example.com:443/"},
        {NULL, "http://example.com:/x", "http://example.com/x"},
        {NULL, "http://example.com?q", "http://example.com/?q"},
        {NULL, "http://example.com/a?", "http://example.com/a"},
        {NULL, "http://example.com/a#", "http://example.com/a"},
        {NULL, "http://example.com/%7euser", "http://example.com/~user"},
        {NULL, "http://example.com/%41%62%2d%2E%5f", "http://example.com/Ab-._"},
        {NULL, "http://example.com/a%2fb", "http://example.com/a%2Fb"},
        {NULL, "http://example.com/a%2Fb", "http://example.com/a%2Fb"},
        {NULL, "http://example.com/%e2%82%ac", "http://example.com/%E2%82%AC"},
        {NULL, "http://example.com/\xe2\x82\xac", "http://example.com/%E2%82%AC"},
        {NULL, "http://example.com/a b", "http://example.com/a%20b"},
        {NULL, "http://example.com/a\"<>^`{|}b",
         "http://example.com/a%22%3C%3E%5E%60%7B%7C%7Db"},
        {NULL, "http://example.com/100%", "http://example.com/100%25"},
        {NULL, "http://example.com/%zz%4", "http://example.com/%25zz%254"},
        {NULL, "http://example.com/a/%2e%2E/b", "http://example.com/b"},
        {NULL, "http://example.com/a/%2e/b", "http://example.com/a/b"},
        {NULL, "http://example.com/a//b", "http://example.com/a//b"},
        {NULL, "http://example.com/a[b]:@!$&'()*+,;=", 
         "http://example.com/a[b]:@!$&'()*+,;="},
        {NULL, "http://example.com/?a=%41&b=%2b+c&d=%3D",
         "http://example.com/?a=A&b=%2B+c&d=%3D"},
        {NULL, "http://example.com/?q=\xff\x01x", "http://example.com/?q=%FF%01x"},
        {NULL, "http:///x", "http://x/"},
        {NULL, "http://example.com/a\\b\\c?d\\e",
         "http://example.com/a/b/c?d%5Ce"},
        {NULL, "  \t http://example.com/x \n ", "http://example.com/x"},
        {NULL, "ht\ttp://exa\nmple.com/a\rb", "http://example.com/ab"},
        {NULL, "http://user:pw@Example.com/", "http://user:pw@example.com/"},
        {NULL, "http://[::FFFF:1.2.3.4]:8080/x",
         "http://[::ffff:1.2.3.4]:8080/x"},
        {NULL, "http://[0:0:0:0:0:0:0:1]/", "http://[::1]/"},
        {NULL, "http://0x7f.1/", "http://127.0.0.1/"},
        {NULL, "http://%36/", "http://0.0.0.6/"},
        {NULL, "http://%31%32%37.0.0.1:81/", "http://127.0.0.1:81/"},
        {NULL, "http://Ex%41mple.com/", "http://example.com/"},
        {NULL, "http://u%40x:p%3A@h/", "http://u%40x:p%3A@h/"},
        {NULL, "http://127.0.0.1:8000", "http://127.0.0.1:8000/"},
        {NULL, "http://example.com./", "http://example.com./"},
        {NULL, "http://B\xc3\xbc" "cher.de/x", "http://xn--bcher-kva.de/x"},
        {NULL, "http://b%C3%BCcher.de/", "http://xn--bcher-kva.de/"},
        {NULL, "https://xn--bcher-kva.DE", "https://xn--bcher-kva.de/"},
        {"http://a/b", "//Other.Example/x", "http://other.example/x"},
        {"https://a/b", "//Other.Example/x", "https://other.example/x"},
        {"http://a/b/c", "HTTPS://B/", "https://b/"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_resolve(&cases[i]);
}

static void test_refused(void) {
    static const char *const refs[] = {
        "mailto:someone@example.com", "javascript:alert(1)",
        "JavaScript:void(0)", "data:text/html,<b>x</b>", "ftp://example.com/",
        "file:///etc/passwd", "tel:+1234", "about:blank", "ws://example.com/",
        "http://exa mple.com/", "http://example.com:99999/",
        "http://example.com:-1/", "http://[::1/", "http://[fe80::1%25eth0]/",
        "http://", "http://@/", "http://a{b}.com/", "http://a\xff.com/",
        "http://a%25b.com/", "http://a%7Fb.com/", "http://a%00b.com/",
    };
    for (size_t i = 0; i < sizeof refs / sizeof *refs; i++) {
        resolve_case c = {BASE, refs[i], NULL};
        check_resolve(&c);
    }
    /* no base: a relative reference is refused */
    static const char *const relative[] = {"g", "/g", "//", "", "#x", "?q",
                                           "example.com/x"};
    for (size_t i = 0; i < sizeof relative / sizeof *relative; i++) {
        resolve_case c = {NULL, relative[i], NULL};
        check_resolve(&c);
    }
    /* a base that is not http(s) */
    resolve_case c = {"ftp://a/b", "g", NULL};
    check_resolve(&c);
    c = (resolve_case){"not a url", "g", NULL};
    check_resolve(&c);
}

static void test_arguments(void) {
    char *out = NULL;
    CHECK_RC(ug_url_resolve(BASE, NULL, &out), UG_EINVAL);
    CHECK_RC(ug_url_resolve(BASE, "g", NULL), UG_EINVAL);
    CHECK_RC(ug_url_normalize(NULL, &out), UG_EINVAL);
    CHECK_RC(ug_url_host(NULL, &out), UG_EINVAL);
    CHECK_RC(ug_url_host("http://a/", NULL), UG_EINVAL);
    CHECK_RC(ug_url_path_query(NULL, &out), UG_EINVAL);
    CHECK_RC(ug_url_robots(NULL, &out), UG_EINVAL);
    CHECK_NULL(out);
}

/* Every spelling in a group normalises to the group's first URL. */
static void test_equivalent_spellings(void) {
    static const char *const groups[][6] = {
        {"http://example.com/~a/b?x=1", "HTTP://EXAMPLE.com:80/%7Ea/b?x=1",
         "http://example.com/%7ea/./c/../b?x=1#top",
         "http://Example.COM/~%61/b?x=%31", " http://example.com/~a/b?x=1 "},
        {"https://example.com/", "https://example.com",
         "HTTPS://example.com:443", "https://example.com/.",
         "https://example.com/a/.."},
        {"http://example.com/%C3%A9", "http://example.com/\xc3\xa9",
         "http://example.com/%c3%a9", "http://example.com/%C3%a9"},
    };
    for (size_t g = 0; g < sizeof groups / sizeof *groups; g++) {
        for (size_t i = 0; i < 6 && groups[g][i]; i++) {
            resolve_case c = {NULL, groups[g][i], groups[g][0]};
            check_resolve(&c);
        }
    }
}

static void test_helpers(void) {
    static const struct {
        const char *url, *host, *path, *robots;
    } cases[] = {
        {"http://Example.com/a?b#c", "example.com:80", "/a?b",
         "http://example.com/robots.txt"},
        {"https://example.com", "example.com:443", "/",
         "https://example.com/robots.txt"},
        {"http://u:p@example.com:8080/x/../y?%7e", "example.com:8080", "/y?~",
         "http://example.com:8080/robots.txt"},
        {"https://[::1]:8443/p", "[::1]:8443", "/p",
         "https://[::1]:8443/robots.txt"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *host = NULL, *path = NULL, *robots = NULL;
        if (CHECK_RC(ug_url_host(cases[i].url, &host), 0))
            CHECK_STR_EQ(host, cases[i].host);
        if (CHECK_RC(ug_url_path_query(cases[i].url, &path), 0))
            CHECK_STR_EQ(path, cases[i].path);
        if (CHECK_RC(ug_url_robots(cases[i].url, &robots), 0))
            CHECK_STR_EQ(robots, cases[i].robots);
        free(host);
        free(path);
        free(robots);
    }
    char *out = NULL;
    CHECK_RC(ug_url_host("mailto:a@b", &out), UG_EURL);
    CHECK_RC(ug_url_path_query("ftp://a/", &out), UG_EURL);
    CHECK_RC(ug_url_robots("/relative", &out), UG_EURL);
    CHECK_NULL(out);
}

/* Generated references against generated bases: whatever comes out
 * normalises to itself, holds only printable ASCII and no fragment. */
static void test_idempotent_generated(void) {
    static const char *const parts[] = {
        "/", "a", "B", ".", "..", "%", "%2e", "%2E", "%7e", "%41", "%2f",
        "%zz", "?", "#", "&", "=", " ", "\t", "\\", "\xc3\xa9", "\xff", "~",
        "*", "[", "]", "@", ":", "//", "http://", "HTTPS://x.Y", ":8080",
        "%00", "\"", "<", "{", "+", ";", "!"};
    static const char *const bases[] = {
        "http://a/b/c/d;p?q", "https://EX.com:443/x/", "http://[::1]:81/",
        "http://u@h/%7e/..%2f?q#f"};
    uint64_t seed = 0x5eed;
    int count = CHECK_SANITIZED ? 3000 : 30000;
    int resolved = 0;
    for (int k = 0; k < count; k++) {
        char ref[256] = "";
        int n = (int)(check_random(&seed) % 10);
        for (int i = 0; i < n; i++)
            strcat(ref, parts[check_random(&seed) %
                              (sizeof parts / sizeof *parts)]);
        const char *base = bases[check_random(&seed) % 4];
        char *once = NULL, *twice = NULL;
        int rc = ug_url_resolve(base, ref, &once);
        if (rc != 0) {
            CHECK_RC(rc, UG_EURL);
            continue;
        }
        resolved++;
        if (CHECK_RC(ug_url_normalize(once, &twice), 0) &&
            !CHECK_STR_EQ(twice, once))
            printf("    base \"%s\" ref \"%s\"\n", base, ref);
        bool clean = !strchr(once, '#');
        for (const char *p = once; *p; p++)
            clean = clean && *p > 0x20 && *p < 0x7f;
        if (!CHECK(clean))
            printf("    \"%s\" from base \"%s\" ref \"%s\"\n", once, base,
                   ref);
        free(once);
        free(twice);
    }
    CHECK_INT(resolved, >, count / 2);
}

static const char *key_at(const void *table, size_t i) {
    return ((char *const *)table)[i];
}

/* The index of host keys (url_index.c): every key added is found with its
 * number through several growths, keys never added are not, and lookups
 * change nothing. */
static void test_key_index(void) {
    enum { N = 3000 };
    char **keys = calloc(N, sizeof *keys);
    ug__key_index x = {0};
    CHECK_INT_EQ(ug__key_index_find(&x, "a:80", key_at, keys), -1);
    for (size_t i = 0; i < N; i++) {
        char key[48];
        snprintf(key, sizeof key, "h%zu.example:%zu", i, 80 + i % 3);
        keys[i] = strdup(key);
        if (!CHECK_RC(ug__key_index_add(&x, i, key_at, keys), 0))
            break;
    }
    CHECK_UINT_EQ(x.count, N);
    CHECK_UINT(x.cap, >=, 2 * N); /* at most half full */
    int right = 0;
    for (size_t i = 0; i < N; i++)
        right += ug__key_index_find(&x, keys[i], key_at, keys) == (long)i;
    CHECK_INT_EQ(right, N);
    CHECK_INT_EQ(ug__key_index_find(&x, "h3000.example:80", key_at, keys),
                 -1);
    CHECK_INT_EQ(ug__key_index_find(&x, "h1.example:80", key_at, keys), -1);
    CHECK_INT_EQ(ug__key_index_find(&x, "", key_at, keys), -1);
    CHECK_UINT_EQ(x.count, N);
    ug__key_index_free(&x);
    CHECK_INT_EQ(ug__key_index_find(&x, keys[0], key_at, keys), -1);
    for (size_t i = 0; i < N; i++)
        free(keys[i]);
    free(keys);
}

/* Counts per 64-bit key (url_index.c): bumps and takes per key through
 * several growths, key 0 like any other, nothing below zero, unknown keys
 * at zero, and the sum of all counts kept along. */
static void test_counts(void) {
    ug__counts *c = NULL;
    if (!CHECK_RC(ug__counts_new(&c), 0))
        return;
    enum { N = 5000 };
    uint64_t sum = 0;
    for (uint64_t k = 0; k < N; k++)
        for (uint64_t r = 0; r <= k % 4; r++, sum++)
            ug__counts_bump(c, k * 0x9e3779b97f4a7c15ull);
    CHECK_UINT_EQ(ug__counts_keys(c), N);
    CHECK_UINT_EQ(ug__counts_total(c), sum);
    CHECK_UINT_EQ(ug__counts_bump(c, 0), 2); /* key 0 counted once */
    CHECK_UINT_EQ(ug__counts_bump(c, 3 * 0x9e3779b97f4a7c15ull), 5);
    CHECK_UINT_EQ(ug__counts_bump(c, 12345), 1);
    CHECK_UINT_EQ(ug__counts_keys(c), N + 1);
    int right = 0;
    for (uint64_t k = 1; k < N; k++) {
        uint64_t key = k * 0x9e3779b97f4a7c15ull;
        uint32_t want = (uint32_t)(k % 4) + 1 + (k == 3);
        bool ok = true;
        while (want)
            ok = ug__counts_take(c, key) == --want && ok;
        right += ok && ug__counts_take(c, key) == 0;
    }
    CHECK_INT_EQ(right, N - 1);
    CHECK_UINT_EQ(ug__counts_take(c, 99), 0); /* never counted */
    CHECK_UINT_EQ(ug__counts_keys(c), N + 1); /* takes leave the keys */
    CHECK_UINT_EQ(ug__counts_total(c), 3); /* key 0 twice, 12345 once */
    CHECK_UINT_EQ(ug__counts_bump(c, 1 * 0x9e3779b97f4a7c15ull), 1);
    CHECK_UINT_EQ(ug__counts_total(c), 4);
    ug__counts_free(c);
}

/* One authority hash per scheme, host and port as written, whatever the
 * case, the path, the query or the fragment. */
static void test_authority_hash(void) {
    uint64_t a = ug__url_authority_hash("http://Example.COM:8080/a/b?x#y");
    CHECK(a == ug__url_authority_hash("HTTP://example.com:8080"));
    CHECK(a == ug__url_authority_hash("http://example.com:8080?q"));
    CHECK(a == ug__url_authority_hash("http://example.com:8080#f"));
    CHECK(a != ug__url_authority_hash("https://example.com:8080/a"));
    CHECK(a != ug__url_authority_hash("http://example.com:8081/a"));
    CHECK(a != ug__url_authority_hash("http://example.org:8080/a"));
    CHECK(a != ug__url_authority_hash("http://example.com/a"));
    CHECK(ug__url_authority_hash(NULL) == ug__url_authority_hash(""));
}

int main(int argc, char **argv) {
    static const check_test tests[] = {
        CHECK_TEST(test_rfc3986_examples),
        CHECK_TEST(test_normalisation),
        CHECK_TEST(test_refused),
        CHECK_TEST(test_arguments),
        CHECK_TEST(test_equivalent_spellings),
        CHECK_TEST(test_helpers),
        CHECK_TEST(test_idempotent_generated),
        CHECK_TEST(test_key_index),
        CHECK_TEST(test_counts),
        CHECK_TEST(test_authority_hash),
    };
    return check_main(argc, argv, tests, sizeof tests / sizeof *tests);
}
