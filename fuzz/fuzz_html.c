/* fuzz_html.c - libFuzzer harness for streaming link extraction
 * (ungil/html.h).
 *
 * The first input byte seeds the chunk sizes; the rest is the page.  The
 * page is parsed twice: whole, and fed in chunks of pseudo-random sizes
 * (1 to 64 bytes).  Both parses must report the same links in the same
 * order and the same title; every link must be an absolute http(s) URL of
 * printable ASCII that normalises to itself, with tag "a", "area" or
 * "link"; the title, if any, must be valid UTF-8 of at most
 * UG_HTML_TITLE_MAX bytes.  A broken promise aborts.  `make fuzz-html`
 * builds and runs it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ungil/error.h"
#include "ungil/html.h"
#include "ungil/url.h"

#define REQUIRE(cond)                                                         \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "fuzz_html: broken promise: %s (line %d)\n",      \
                    #cond, __LINE__);                                         \
            abort();                                                          \
        }                                                                     \
    } while (0)

typedef struct {
    char *text;
    size_t len;
} found;

static void on_link(void *ctx, const char *url, const char *tag) {
    REQUIRE(!strcmp(tag, "a") || !strcmp(tag, "area") || !strcmp(tag, "link"));
    REQUIRE(!strncmp(url, "http://", 7) || !strncmp(url, "https://", 8));
    for (const char *p = url; *p; p++)
        REQUIRE(*p > 0x20 && *p < 0x7f && *p != '#');
    char *again = NULL;
    REQUIRE(ug_url_normalize(url, &again) == 0 && !strcmp(again, url));
    free(again);
    found *f = ctx;
    size_t add = strlen(tag) + strlen(url) + 2;
    char *text = realloc(f->text, f->len + add + 1);
    REQUIRE(text);
    f->text = text;
    sprintf(f->text + f->len, "%s %s\n", tag, url);
    f->len += add;
}

/* Is s well-formed UTF-8 (no overlongs, surrogates or values past
 * U+10FFFF)? */
static int valid_utf8(const unsigned char *s) {
    while (*s) {
        unsigned c = *s, len = c < 0x80 ? 1 : c >= 0xC2 && c < 0xE0 ? 2
                                          : c >= 0xE0 && c < 0xF0   ? 3
                                          : c >= 0xF0 && c < 0xF5   ? 4
                                                                    : 0;
        if (!len)
            return 0;
        for (unsigned k = 1; k < len; k++)
            if ((s[k] & 0xC0) != 0x80)
                return 0;
        if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0) ||
            (c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] >= 0x90))
            return 0;
        s += len;
    }
    return 1;
}

/* Parses page in chunks (all at once when seed is 0); returns the links
 * and a copy of the title. */
static char *parse(const uint8_t *page, size_t n, unsigned seed,
                   char **title) {
    found f = {calloc(1, 1), 0};
    REQUIRE(f.text);
    ug_html *h = NULL;
    REQUIRE(ug_html_new("http://fuzz.example/dir/page.html", on_link, &f,
                        &h) == 0);
    uint32_t state = seed * 2654435761u + 1;
    for (size_t i = 0; i < n;) {
        size_t chunk = n - i;
        if (seed) {
            state = state * 1103515245u + 12345u;
            chunk = 1 + (state >> 16) % 64;
            if (chunk > n - i)
                chunk = n - i;
        }
        REQUIRE(ug_html_feed(h, (const char *)page + i, chunk) == 0);
        i += chunk;
    }
    REQUIRE(ug_html_finish(h) == 0);
    const char *t = ug_html_title(h);
    if (t) {
        REQUIRE(t[0] && strlen(t) <= UG_HTML_TITLE_MAX);
        REQUIRE(valid_utf8((const unsigned char *)t));
    }
    *title = t ? strdup(t) : NULL;
    ug_html_free(h);
    return f.text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0)
        return 0;
    char *title1 = NULL, *title2 = NULL;
    char *whole = parse(data + 1, size - 1, 0, &title1);
    char *chunked = parse(data + 1, size - 1, data[0] | 0x100u, &title2);
    REQUIRE(strcmp(whole, chunked) == 0);
    REQUIRE(title1 && title2 ? strcmp(title1, title2) == 0 : title1 == title2);
    free(whole);
    free(chunked);
    free(title1);
    free(title2);
    return 0;
}
