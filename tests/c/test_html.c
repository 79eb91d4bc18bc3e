/* test_html.c - streaming link extraction (ungil/html.h).
 *
 * Pages with the exact links (tag and URL, in document order) and title
 * they must give: base href, entities, uppercase tags, unquoted and
 * duplicated attributes, comments of every odd shape, raw-text elements,
 * malformed markup, NUL bytes, bytes that are not UTF-8, the caps.  Every
 * page is also fed split at every position and byte by byte, and must give
 * the same result.  Last, several threads parse at once (run under TSan).
 */
#include "check.h"

#include <pthread.h>

#include "ungil/html.h"

static const char *PAGE_URL = "http://ex.com/dir/page.html";

/* The links a parse found, as "tag url\n" lines. */
typedef struct {
    char *text;
    size_t len;
} found;

static void on_link(void *ctx, const char *url, const char *tag) {
    found *f = ctx;
    size_t add = strlen(tag) + strlen(url) + 2;
    f->text = realloc(f->text, f->len + add + 1);
    if (!f->text)
        abort();
    sprintf(f->text + f->len, "%s %s\n", tag, url);
    f->len += add;
}

/* Parses `n` bytes of `page` in chunks of `chunk` bytes (0: in two parts
 * split at `split`).  Returns the links; *title gets a copy of the title. */
static char *parse(const char *page, size_t n, size_t chunk, size_t split,
                   char **title) {
    found f = {calloc(1, 1), 0};
    ug_html *h = NULL;
    if (!CHECK_RC(ug_html_new(PAGE_URL, on_link, &f, &h), 0))
        return f.text;
    if (chunk == 0) {
        CHECK_RC(ug_html_feed(h, page, split), 0);
        CHECK_RC(ug_html_feed(h, page + split, n - split), 0);
    } else {
        for (size_t i = 0; i < n; i += chunk)
            CHECK_RC(ug_html_feed(h, page + i, n - i < chunk ? n - i : chunk),
                     0);
    }
    CHECK_RC(ug_html_finish(h), 0);
    if (title) {
        const char *t = ug_html_title(h);
        *title = t ? strdup(t) : NULL;
    }
    ug_html_free(h);
    return f.text;
}

typedef struct {
    const char *page, *links, *title;
} page_case;

/* Checks one page whole, then at every split and byte by byte. */
static void check_page(const char *page, size_t n, const char *links,
                       const char *title) {
    char *got_title = NULL;
    char *whole = parse(page, n, n ? n : 1, 0, &got_title);
    if (!CHECK_STR_EQ(whole, links) || !CHECK_STR_EQ(got_title, title))
        printf("    page: \"%.300s\"\n", page);
    for (size_t split = 0; split <= n; split++) {
        char *t = NULL, *got = parse(page, n, 0, split, &t);
        bool same = strcmp(got, whole) == 0 &&
                    (t && got_title ? strcmp(t, got_title) == 0
                                    : t == got_title);
        if (!CHECK(same)) {
            printf("    split at %zu of \"%.200s\":\n%s", split, page, got);
            free(got);
            free(t);
            break;
        }
        free(got);
        free(t);
    }
    char *bytes = parse(page, n, 1, 0, NULL);
    CHECK_STR_EQ(bytes, whole);
    free(bytes);
    free(whole);
    free(got_title);
}

static void check_cases(const page_case *cases, size_t count) {
    for (size_t i = 0; i < count; i++)
        check_page(cases[i].page, strlen(cases[i].page), cases[i].links,
                   cases[i].title);
}

static void test_basic_links(void) {
    static const page_case cases[] = {
        {"<a href=\"x.html\">x</a>", "a http://ex.com/dir/x.html\n", NULL},
        {"<A HREF='/Y'>y</A><AREA Href=z><LiNk hReF=\"//other.org\">",
         "a http://ex.com/Y\narea http://ex.com/dir/z\n"
         "link http://other.org/\n", NULL},
        {"<a href=a1><a href=a2 class=x><a class=x href=a3/>",
         "a http://ex.com/dir/a1\na http://ex.com/dir/a2\n"
         "a http://ex.com/dir/a3/\n", NULL},
        {"<a\nhref\n=\n\"n\"\n>", "a http://ex.com/dir/n\n", NULL},
        {"<a href=\"first\" href=\"second\">", "a http://ex.com/dir/first\n",
         NULL},
        {"<a href>no value</a><a href=\"\"><a href=\"  \"><a name=x>", "",
         NULL},
        {"<a href=\"mailto:me@ex.com\"><a href=\"javascript:go()\">"
         "<a href=\"data:,x\"><a href=\"ftp://ex.com/\"><a href=ok>",
         "a http://ex.com/dir/ok\n", NULL},
        {"<img src=no.png><script src=no.js></script><form action=no>"
         "<abbr href=no><ab href=no><areas href=no><a2 href=no>", "", NULL},
        {"</a href=no><a href=yes>", "a http://ex.com/dir/yes\n", NULL},
        {"<a href=\"#top\"><a href=\"?q=1\"><a href=\"../up\">",
         "a http://ex.com/dir/page.html\na http://ex.com/dir/page.html?q=1\n"
         "a http://ex.com/up\n", NULL},
        {"<a href='  \t\n spaced.html \n '>", "a http://ex.com/dir/spaced.html\n",
         NULL},
        {"<a href=\"a b\xc3\xa9\">", "a http://ex.com/dir/a%20b%C3%A9\n", NULL},
        {"<a title='>' href=after>", "a http://ex.com/dir/after\n", NULL},
        {"<a href=\"x\"title=y>", "a http://ex.com/dir/x\n", NULL},
        {"<a =href=no href=yes>", "a http://ex.com/dir/yes\n", NULL},
        {"<a/href=slash>", "a http://ex.com/dir/slash\n", NULL},
    };
    check_cases(cases, sizeof cases / sizeof *cases);
}

static void test_base_href(void) {
    static const page_case cases[] = {
        {"<a href=before><base href=\"/b/\"><a href=after>",
         "a http://ex.com/dir/before\na http://ex.com/b/after\n", NULL},
        {"<base href=\"http://cdn.org/x/\"><base href=\"/ignored/\">"
         "<a href=y>", "a http://cdn.org/x/y\n", NULL},
        {"<base target=_blank><base href=\"sub/\"><a href=y>",
         "a http://ex.com/dir/sub/y\n", NULL},
        {"<base href=\"javascript:x\"><a href=y>", "a http://ex.com/dir/y\n",
         NULL},
        {"<BASE HREF=//cdn.org><link href=s.css>", "link http://cdn.org/s.css\n",
         NULL},
    };
    check_cases(cases, sizeof cases / sizeof *cases);
}

static void test_entities(void) {
    static const page_case cases[] = {
        {"<a href=\"a?b=1&amp;c=2\">", "a http://ex.com/dir/a?b=1&c=2\n", NULL},
        {"<a href=\"a?b=1&c=2&copy=3&not=4\">",
         "a http://ex.com/dir/a?b=1&c=2&copy=3&not=4\n", NULL},
        {"<a href=\"&copy;&copy &notin; &notit;\">",
         "a http://ex.com/dir/%C2%A9%C2%A9%20%E2%88%89%20&notit;\n", NULL},
        {"<a href=\"&#47;x&#x2F;y&#X2f;z\">", "a http://ex.com/x/y/z\n", NULL},
        {"<a href=\"&#65&#x42;&#0;&#x110000;&#xD800;&#128;\">",
         "a http://ex.com/dir/AB%EF%BF%BD%EF%BF%BD%EF%BF%BD%E2%82%AC\n", NULL},
        {"<a href=\"x&bogus;&;&?&#x;y\">", "a http://ex.com/dir/x&bogus;&;&?&\n",
         NULL},
        {"<p>&notit; &copy=</p><a href=\"?&notin;&notit=&copy=\">",
         "a http://ex.com/dir/page.html?%E2%88%89&notit=&copy=\n", NULL},
        {"<a href=\"&AMP;&Amp;&lt;\">", "a http://ex.com/dir/&&Amp;%3C\n", NULL},
        {"<a href=&#32;&#32;lead>", "a http://ex.com/dir/lead\n", NULL},
        {"<a href=\"&#x1F600;\">", "a http://ex.com/dir/%F0%9F%98%80\n", NULL},
    };
    check_cases(cases, sizeof cases / sizeof *cases);
}

static void test_ignored_regions(void) {
    static const page_case cases[] = {
        {"<!-- <a href=no1> --><a href=y1>", "a http://ex.com/dir/y1\n", NULL},
        {"<!--><a href=y2>", "a http://ex.com/dir/y2\n", NULL},
        {"<!---><a href=y3>", "a http://ex.com/dir/y3\n", NULL},
        {"<!-- a -- b <a href=no> --!><a href=y4>", "a http://ex.com/dir/y4\n",
         NULL},
        {"<!-- <!-- nested --> <a href=y5>", "a http://ex.com/dir/y5\n", NULL},
        {"<!----><a href=y6><!-- unterminated <a href=no>", 
         "a http://ex.com/dir/y6\n", NULL},
        {"<!DOCTYPE html><?xml x?><![CDATA[ <a href=cd> ]]><a href=y7>",
         "a http://ex.com/dir/y7\n", NULL},
        {"<script>document.write('<a href=\"no\">');</script ><a href=y8>",
         "a http://ex.com/dir/y8\n", NULL},
        {"<SCRIPT type=x>if (a</b) '</scrip' + '<a href=no>'</ScRiPt>"
         "<a href=y9>", "a http://ex.com/dir/y9\n", NULL},
        {"<style>a[href='<a href=no>']{}</style><a href=y10>",
         "a http://ex.com/dir/y10\n", NULL},
        {"<textarea><a href=no></textarea><xmp><a href=no></xmp>"
         "<iframe><a href=no></iframe><noembed><a href=no></noembed>"
         "<noframes><a href=no></noframes><a href=y11>",
         "a http://ex.com/dir/y11\n", NULL},
        {"<script><a href=no></scriptx><a href=no></script/><a href=y12>",
         "a http://ex.com/dir/y12\n", NULL},
        {"<noscript><a href=ns></noscript>", "a http://ex.com/dir/ns\n", NULL},
        {"<a href=y13><plaintext><a href=no></plaintext><a href=no>",
         "a http://ex.com/dir/y13\n", NULL},
        {"<script>never closed <a href=no>", "", NULL},
    };
    check_cases(cases, sizeof cases / sizeof *cases);
}

static void test_malformed(void) {
    static const page_case cases[] = {
        {"< a href=no>1 < 2 <a href=y1>", "a http://ex.com/dir/y1\n", NULL},
        {"<<a href=y2>>", "a http://ex.com/dir/y2\n", NULL},
        {"<a href=\"unterminated><a href=no>", "", NULL},
        {"<a href=\"x\"<a href=\"y\">", "a http://ex.com/dir/x\n", NULL},
        {"<div><a href=y3><p></div></a></p></b><a href=y4>",
         "a http://ex.com/dir/y3\na http://ex.com/dir/y4\n", NULL},
        {"<a href=cut", "", NULL},
        {"<a href=y5 <a href=no>", "a http://ex.com/dir/y5\n", NULL},
        {"</>x</ a href=no><a href=y6>", "a http://ex.com/dir/y6\n", NULL},
        {"<a href='x'y=1 href=z>", "a http://ex.com/dir/x\n", NULL},
    };
    check_cases(cases, sizeof cases / sizeof *cases);
}

static void test_title(void) {
    static const page_case cases[] = {
        {"<title>Hello</title>", "", "Hello"},
        {"<TITLE>\n  Two\t words &amp; &lt;more&gt;  </TITLE>", "",
         "Two words & <more>"},
        {"<title>A <b>bold</b> <a href=no></title><a href=y>",
         "a http://ex.com/dir/y\n", "A <b>bold</b> <a href=no>"},
        {"<title>first</title><title>second</title>", "", "first"},
        {"<title>  </title>", "", NULL},
        {"<title></title  ><title>x</title>", "", NULL},
        {"<title>almost </titl </title>", "", "almost </titl"},
        {"<title>unclosed <", "", "unclosed <"},
        {"<title>unclosed </tit", "", "unclosed </tit"},
        {"<title>bad \xff\xfe utf8 \xc3\xa9</title>", "",
         "bad \xef\xbf\xbd\xef\xbf\xbd utf8 \xc3\xa9"},
        {"<title>&copy 2024&nbsp;x</title>", "", "\xc2\xa9 2024\xc2\xa0x"},
        {"<!-- <title>no</title> --><title>yes</title>", "", "yes"},
        {"no title <a href=x>", "a http://ex.com/dir/x\n", NULL},
    };
    check_cases(cases, sizeof cases / sizeof *cases);
}

static void test_odd_bytes(void) {
    static const char nul_page[] = "<a href=\"a\0b\"><a\0 href=c><a href=d>";
    check_page(nul_page, sizeof nul_page - 1,
               "a http://ex.com/dir/a%EF%BF%BDb\na http://ex.com/dir/d\n",
               NULL);
    static const char latin1[] = "<a href=\"caf\xe9\"><title>caf\xe9</title>";
    check_page(latin1, sizeof latin1 - 1, "a http://ex.com/dir/caf%E9\n",
               "caf\xef\xbf\xbd");
}

static void test_caps(void) {
    size_t big = UG_HTML_ATTR_MAX + 10;
    char *page = malloc(big + 200);
    strcpy(page, "<a href=\"");
    memset(page + 9, 'x', big);
    strcpy(page + 9 + big, "\"><a href=after>");
    char *links = parse(page, strlen(page), 4096, 0, NULL);
    CHECK_STR_EQ(links, "a http://ex.com/dir/after\n");
    free(links);
    /* at the cap exactly the link is kept */
    strcpy(page, "<a href=\"");
    memset(page + 9, 'y', UG_HTML_ATTR_MAX);
    strcpy(page + 9 + UG_HTML_ATTR_MAX, "\">");
    links = parse(page, strlen(page), 1000, 0, NULL);
    CHECK_UINT_EQ(strlen(links), strlen("a http://ex.com/dir/\n") +
                                     UG_HTML_ATTR_MAX);
    free(links);
    free(page);
    size_t n = 3 * UG_HTML_TITLE_MAX;
    page = malloc(n + 100);
    strcpy(page, "<title>");
    for (size_t i = 0; i < n; i += 3)
        memcpy(page + 7 + i, "\xe2\x82\xac", 3);
    strcpy(page + 7 + n, "</title>");
    char *title = NULL;
    free(parse(page, strlen(page), 777, 0, &title));
    CHECK_UINT(strlen(title), <=, UG_HTML_TITLE_MAX);
    CHECK_UINT(strlen(title), >=, UG_HTML_TITLE_MAX - 3);
    CHECK_UINT_EQ(strlen(title) % 3, 0);
    free(title);
    free(page);
}

static void test_arguments(void) {
    ug_html *h = NULL;
    CHECK_RC(ug_html_new(NULL, on_link, NULL, &h), UG_EINVAL);
    CHECK_RC(ug_html_new(PAGE_URL, on_link, NULL, NULL), UG_EINVAL);
    CHECK_RC(ug_html_new("mailto:x@y", on_link, NULL, &h), UG_EURL);
    CHECK_RC(ug_html_new("/relative", on_link, NULL, &h), UG_EURL);
    CHECK_NULL(h);
    CHECK_RC(ug_html_feed(NULL, "x", 1), UG_EINVAL);
    CHECK_RC(ug_html_finish(NULL), UG_EINVAL);
    CHECK_NULL(ug_html_title(NULL));
    ug_html_free(NULL);
    if (!CHECK_RC(ug_html_new(PAGE_URL, NULL, NULL, &h), 0))
        return;
    CHECK_RC(ug_html_feed(h, NULL, 1), UG_EINVAL);
    CHECK_RC(ug_html_feed(h, NULL, 0), 0);
    CHECK_RC(ug_html_feed(h, "<title>t</title><a href=x>", 26), 0);
    CHECK_STR_EQ(ug_html_title(h), "t");
    CHECK_RC(ug_html_finish(h), 0);
    CHECK_RC(ug_html_feed(h, "x", 1), UG_EINVAL);
    CHECK_RC(ug_html_finish(h), UG_EINVAL);
    ug_html_free(h);
}

/* A generated page with `links` links and some of everything around. */
static char *generated_page(uint64_t seed, int links, char **expected) {
    static const char *const filler[] = {
        "<p class=\"x\">text &amp; more</p>\n", "<!-- <a href=no> -->",
        "<script>var s = '<a href=\"no\">';</script>", "<div><span>t</span>",
        "<style>p { color: red }</style>", "<img src=\"i.png\" alt='<a'>",
        "</div>\n", "<br/>", "text with < and > signs "};
    size_t cap = (size_t)links * 300 + 1000;
    char *page = malloc(cap), *want = malloc(cap);
    size_t n = 0, w = 0;
    n += (size_t)sprintf(page, "<!DOCTYPE html><html><head><title>Page "
                               "%d</title></head><body>\n", links);
    want[0] = '\0';
    for (int i = 0; i < links; i++) {
        n += (size_t)sprintf(page + n, "%s",
                             filler[check_random(&seed) % 9]);
        switch (check_random(&seed) % 4) {
        case 0:
            n += (size_t)sprintf(page + n, "<a href=\"/p/%d.html\">l</a>", i);
            w += (size_t)sprintf(want + w, "a http://ex.com/p/%d.html\n", i);
            break;
        case 1:
            n += (size_t)sprintf(page + n, "<A HREF=rel%d?a=1&amp;b=2>", i);
            w += (size_t)sprintf(want + w,
                                 "a http://ex.com/dir/rel%d?a=1&b=2\n", i);
            break;
        case 2:
            n += (size_t)sprintf(page + n,
                                 "<link rel=x href='//cdn.ex.com/%d.css'>", i);
            w += (size_t)sprintf(want + w, "link http://cdn.ex.com/%d.css\n",
                                 i);
            break;
        default:
            n += (size_t)sprintf(page + n,
                                 "<area shape=rect href=\"../%%7e%d\">", i);
            w += (size_t)sprintf(want + w, "area http://ex.com/~%d\n", i);
        }
    }
    strcpy(page + n, "</body></html>\n");
    *expected = want;
    return page;
}

static void test_generated_pages_random_chunks(void) {
    uint64_t seed = 42;
    for (int k = 0; k < 20; k++) {
        char *want = NULL;
        char *page = generated_page(seed + (uint64_t)k, 50 + k * 10, &want);
        size_t n = strlen(page);
        found f = {calloc(1, 1), 0};
        ug_html *h = NULL;
        if (!CHECK_RC(ug_html_new(PAGE_URL, on_link, &f, &h), 0))
            return;
        for (size_t i = 0; i < n;) {
            size_t chunk = 1 + check_random(&seed) % 64;
            if (chunk > n - i)
                chunk = n - i;
            CHECK_RC(ug_html_feed(h, page + i, chunk), 0);
            i += chunk;
        }
        CHECK_RC(ug_html_finish(h), 0);
        CHECK_STR_EQ(f.text, want);
        char title[32];
        sprintf(title, "Page %d", 50 + k * 10);
        CHECK_STR_EQ(ug_html_title(h), title);
        ug_html_free(h);
        free(f.text);
        free(page);
        free(want);
    }
}

typedef struct {
    const char *page, *want;
    int rounds;
    bool ok;
} thread_job;

static void *parse_thread(void *arg) {
    thread_job *job = arg;
    job->ok = true;
    for (int r = 0; r < job->rounds; r++) {
        found f = {calloc(1, 1), 0};
        ug_html *h = NULL;
        if (ug_html_new(PAGE_URL, on_link, &f, &h) != 0) {
            job->ok = false;
            free(f.text);
            break;
        }
        size_t n = strlen(job->page);
        for (size_t i = 0; i < n; i += 97)
            ug_html_feed(h, job->page + i, n - i < 97 ? n - i : 97);
        ug_html_finish(h);
        job->ok = job->ok && strcmp(f.text, job->want) == 0;
        ug_html_free(h);
        free(f.text);
    }
    return NULL;
}

/* Several parsers at once on several threads (TSan checks this). */
static void test_threads(void) {
    enum { THREADS = 6 };
    pthread_t threads[THREADS];
    thread_job jobs[THREADS];
    char *pages[THREADS], *wants[THREADS];
    for (int t = 0; t < THREADS; t++) {
        pages[t] = generated_page(1000 + (uint64_t)t, 200, &wants[t]);
        jobs[t] = (thread_job){pages[t], wants[t],
                               CHECK_SANITIZED ? 5 : 30, false};
        CHECK_INT_EQ(pthread_create(&threads[t], NULL, parse_thread,
                                    &jobs[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
        CHECK(jobs[t].ok);
        free(pages[t]);
        free(wants[t]);
    }
}

int main(int argc, char **argv) {
    static const check_test tests[] = {
        CHECK_TEST(test_basic_links),
        CHECK_TEST(test_base_href),
        CHECK_TEST(test_entities),
        CHECK_TEST(test_ignored_regions),
        CHECK_TEST(test_malformed),
        CHECK_TEST(test_title),
        CHECK_TEST(test_odd_bytes),
        CHECK_TEST(test_caps),
        CHECK_TEST(test_arguments),
        CHECK_TEST(test_generated_pages_random_chunks),
        CHECK_TEST(test_threads),
    };
    return check_main(argc, argv, tests, sizeof tests / sizeof *tests);
}
