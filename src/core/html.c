/* html.c - streaming link extraction (ungil/html.h).
 *
 * Design.  A hand-written tokenizer that follows the states of the HTML
 * standard's tokenizer (section 13.2.5) for the parts that decide where
 * links are: tags and their attributes, comments, bogus comments and
 * declarations, raw-text and RCDATA elements, plaintext.  It keeps its
 * whole position in `state` plus a few small fields, so input may be split
 * anywhere: every byte is consumed exactly once and nothing is buffered
 * except the href value of the current tag and the title text, each
 * capped.  Text between tags is skipped with memchr.  Character
 * references are decoded only when a value is complete, so a reference
 * split between two chunks needs no special case.
 *
 * No tree is built: where a link sits in the tree does not change whether
 * it is a link, and document order is token order.  Raw text is decided
 * by the start tag alone, as browsers' tokenizers do.
 *
 * Why not libxml2's HTML push parser: measured on the same pages, this
 * tokenizer is several times faster (see docs/crawl-parsing.md), and
 * libxml2 2.9 follows HTML 4 rather than the HTML standard: it reports
 * links inside <title>, <textarea> and <iframe>, and reads "<!-->" as a
 * comment that swallows the rest of the page.
 *
 * Known limits: no "script data double escaped" state (a "</script>"
 * inside "<!--<script>" inside a script ends the script here, while
 * browsers continue); SVG/MathML foreign content is tokenized as HTML;
 * <noscript> is parsed as markup (as with scripting disabled).
 */
#include "ungil/html.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "html_entities.h"
#include "ungil/error.h"
#include "ungil/url.h"
#include "url_internal.h"

enum state {
    S_DATA,
    S_TAG_OPEN,       /* after '<' */
    S_END_TAG_OPEN,   /* after "</" */
    S_TAG_NAME,
    S_BEFORE_ATTR_NAME,
    S_ATTR_NAME,
    S_AFTER_ATTR_NAME,
    S_BEFORE_ATTR_VALUE,
    S_VALUE_DQ,
    S_VALUE_SQ,
    S_VALUE_UNQ,
    S_AFTER_VALUE_QUOTED,
    S_SELF_CLOSING,
    S_MARKUP_DECL,    /* after "<!" */
    S_MARKUP_DASH,    /* after "<!-" */
    S_BOGUS_COMMENT,
    S_COMMENT_START,
    S_COMMENT_START_DASH,
    S_COMMENT,
    S_COMMENT_END_DASH,
    S_COMMENT_END,
    S_COMMENT_END_BANG,
    S_RAW,            /* inside script, style, title, textarea... */
    S_RAW_LT,         /* '<' inside raw text */
    S_RAW_END,        /* "</" and part of the element's name */
    S_PLAINTEXT,
    S_DONE
};

/* The tags that matter. */
enum kind {
    K_OTHER,
    K_A,
    K_AREA,
    K_LINK,
    K_BASE,
    K_TITLE,     /* RCDATA, text kept */
    K_RAW,       /* script, style, textarea, xmp, iframe, noembed, noframes */
    K_PLAINTEXT
};

enum { NAME_MAX_LEN = 16, ATTR_NAME_MAX_LEN = 8,
       TITLE_RAW_MAX = 4 * UG_HTML_TITLE_MAX };

/* A capped byte buffer. */
typedef struct {
    char *p;
    size_t len, cap, limit;
    bool overflow;
} buf;

struct ug_html {
    ug_html_link_fn on_link;
    void *ctx;
    char *page_url;
    ug__url_base *base; /* the page URL, or the first <base href> */
    bool base_seen, title_done, in_title, failed;
    enum state state;
    /* the current tag */
    bool is_end;
    char name[NAME_MAX_LEN + 1];
    size_t name_len;
    enum kind kind;
    char attr[ATTR_NAME_MAX_LEN + 1];
    size_t attr_len;
    bool attr_is_href, href_seen;
    buf href;
    /* raw text: the element's name, and how much of "</name" matched */
    char raw_name[NAME_MAX_LEN + 1];
    size_t raw_len, raw_matched;
    buf title_raw;
    char *title;
};

/* ---- small helpers ------------------------------------------------------- */

static bool is_space(unsigned c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

static bool is_alpha(unsigned c) {
    return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

static bool is_alnum(unsigned c) {
    return is_alpha(c) || (c >= '0' && c <= '9');
}

static unsigned char lower(unsigned c) {
    return (unsigned char)(c >= 'A' && c <= 'Z' ? c | 0x20 : c);
}

/* A byte of a tag or attribute name as compared: lower-case, and NUL
 * (U+FFFD in the standard) as a byte that no name we look for holds. */
static unsigned char name_char(unsigned c) {
    return c == 0 ? 0xFF : lower(c);
}

/* Appends n bytes; past the limit sets overflow and keeps nothing more. */
static int buf_add(buf *b, const char *s, size_t n) {
    if (b->overflow)
        return 0;
    if (b->len + n > b->limit) {
        b->overflow = true;
        return 0;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return UG_ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static void buf_clear(buf *b) {
    b->len = 0;
    b->overflow = false;
}

/* ---- character references ------------------------------------------------ */

/* Code points 0x80-0x9F in a numeric reference mean windows-1252. */
static const uint16_t WIN1252[32] = {
    0x20AC, 0x81,   0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D,   0x017D, 0x8F,
    0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D,   0x017E, 0x0178};

/* Writes the UTF-8 form of cp to out; returns its length. */
static size_t put_utf8(uint32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The entity named by exactly the n bytes at s, or NULL. */
static const char *find_entity(const char *s, size_t n) {
    size_t lo = 0, hi = sizeof HTML_ENTITIES / sizeof HTML_ENTITIES[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *name = HTML_ENTITIES[mid].name;
        size_t len = strlen(name);
        int c = memcmp(name, s, len < n ? len : n);
        if (c == 0)
            c = (len > n) - (len < n);
        if (c == 0)
            return HTML_ENTITIES[mid].utf8;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Decodes the reference after the '&' at s[0] (n bytes in all).  Writes
 * the replacement to out (room for 8 bytes) and returns the number of
 * input bytes it replaces, or 0 when the '&' stays as it is. */
static size_t decode_ref(const char *s, size_t n, bool in_attr, char *out,
                         size_t *out_len) {
    size_t i = 1;
    if (i < n && s[i] == '#') {
        i++;
        bool hex = i < n && (s[i] | 0x20) == 'x';
        i += hex;
        size_t digits = i;
        uint32_t cp = 0;
        bool big = false;
        for (; i < n; i++) {
            int d = s[i] >= '0' && s[i] <= '9' ? s[i] - '0'
                    : hex && (s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'f'
                        ? (s[i] | 0x20) - 'a' + 10
                        : -1;
            if (d < 0)
                break;
            cp = cp * (hex ? 16 : 10) + (uint32_t)d;
            if (cp > 0x10FFFF) {
                big = true;
                cp = 0x110000;
            }
        }
        if (i == digits)
            return 0;
        if (i < n && s[i] == ';')
            i++;
        if (big || cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            cp = 0xFFFD;
        else if (cp >= 0x80 && cp <= 0x9F)
            cp = WIN1252[cp - 0x80];
        *out_len = put_utf8(cp, out);
        return i;
    }
    size_t avail = n - 1 < HTML_ENTITY_NAME_MAX ? n - 1 : HTML_ENTITY_NAME_MAX;
    for (size_t len = avail; len > 0; len--) {
        const char *value = find_entity(s + 1, len);
        if (!value)
            continue;
        if (in_attr && s[len] != ';' && 1 + len < n &&
            (s[1 + len] == '=' || is_alnum((unsigned char)s[1 + len])))
            return 0;
        *out_len = strlen(value);
        memcpy(out, value, *out_len);
        return 1 + len;
    }
    return 0;
}

/* Returns a malloc'd copy of the n bytes at s with character references
 * decoded and NUL bytes replaced by U+FFFD, or NULL (no memory). */
static char *decode_text(const char *s, size_t n, bool in_attr) {
    char *out = malloc(3 * n + 1), tmp[8];
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t used, len;
        if (s[i] == '&' && (used = decode_ref(s + i, n - i, in_attr, tmp,
                                              &len)) > 0) {
            /* no reference's text is longer than 3 bytes per byte of the
             * reference, so the 3n allocation holds */
            memcpy(out + o, tmp, len);
            o += len;
            i += used;
        } else if (s[i] == '\0') {
            o += put_utf8(0xFFFD, out + o);
            i++;
        } else {
            out[o++] = s[i++];
        }
    }
    out[o] = '\0';
    return out;
}

/* ---- links and title --------------------------------------------------- */

static const char *tag_name(enum kind k) {
    return k == K_A ? "a" : k == K_AREA ? "area" : "link";
}

/* Handles the completed href of the current start tag. */
static int take_href(ug_html *h) {
    if (h->href.overflow)
        return 0;
    char *value = decode_text(h->href.p ? h->href.p : "", h->href.len, true);
    if (!value)
        return UG_ENOMEM;
    char *url = NULL;
    int rc = 0;
    size_t start = 0;
    while (value[start] && (unsigned char)value[start] <= 0x20)
        start++;
    if (h->kind == K_BASE) {
        if (!h->base_seen) {
            h->base_seen = true;
            ug__url_base *base = NULL;
            rc = ug_url_resolve(h->page_url, value, &url);
            if (rc == 0)
                rc = ug__url_base_new(url, &base);
            if (rc == 0) {
                ug__url_base_free(h->base);
                h->base = base;
            }
            free(url);
            url = NULL;
            rc = rc == UG_ENOMEM ? rc : 0;
        }
    } else if (value[start]) {
        rc = ug__url_base_resolve(h->base, value, &url);
        if (rc == 0 && h->on_link)
            h->on_link(h->ctx, url, tag_name(h->kind));
        free(url);
        rc = rc == UG_ENOMEM ? rc : 0;
    }
    free(value);
    return rc;
}

/* Decodes the collected title into h->title (see ug_html_title). */
static int finish_title(ug_html *h) {
    h->in_title = false;
    h->title_done = true;
    char *text = decode_text(h->title_raw.p ? h->title_raw.p : "",
                             h->title_raw.len, false);
    if (!text)
        return UG_ENOMEM;
    /* collapse whitespace and replace invalid UTF-8, in one pass */
    size_t n = strlen(text), o = 0;
    char *out = malloc(3 * n + 1);
    if (!out) {
        free(text);
        return UG_ENOMEM;
    }
    bool space = false;
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (is_space(c)) {
            space = o > 0;
            i++;
            continue;
        }
        if (space)
            out[o++] = ' ';
        space = false;
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3
                                   : (c >> 3) == 30 ? 4 : 0;
        uint32_t cp = len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
        bool ok = len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++) {
            ok = (s[i + k] & 0xC0) == 0x80;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        ok = ok && (len < 2 || cp >= (len == 2 ? 0x80u : len == 3 ? 0x800u
                                                                   : 0x10000u));
        ok = ok && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
        if (!ok) {
            o += put_utf8(0xFFFD, out + o);
            i++;
            continue;
        }
        if (o + len > UG_HTML_TITLE_MAX)
            break;
        memcpy(out + o, s + i, len);
        o += len;
        i += len;
    }
    out[o] = '\0';
    free(text);
    free(h->title);
    h->title = o ? out : NULL;
    if (!o)
        free(out);
    return 0;
}

/* ---- tags ---------------------------------------------------------------- */

static enum kind classify(const char *name) {
    static const struct {
        const char *name;
        enum kind kind;
    } table[] = {
        {"a", K_A},         {"area", K_AREA},         {"link", K_LINK},
        {"base", K_BASE},   {"title", K_TITLE},       {"script", K_RAW},
        {"style", K_RAW},   {"textarea", K_RAW},      {"xmp", K_RAW},
        {"iframe", K_RAW},  {"noembed", K_RAW},       {"noframes", K_RAW},
        {"plaintext", K_PLAINTEXT}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(name, table[i].name) == 0)
            return table[i].kind;
    return K_OTHER;
}

static void begin_tag(ug_html *h, bool is_end) {
    h->is_end = is_end;
    h->name_len = 0;
    h->name[0] = '\0';
    h->kind = K_OTHER;
    h->href_seen = false;
    h->attr_is_href = false;
}

/* Called when the tag name is complete. */
static void end_tag_name(ug_html *h) {
    h->name[h->name_len < NAME_MAX_LEN ? h->name_len : NAME_MAX_LEN] = '\0';
    h->kind = h->name_len <= NAME_MAX_LEN ? classify(h->name) : K_OTHER;
}

static void begin_attr(ug_html *h) {
    h->attr_len = 0;
    h->attr_is_href = false;
}

/* Called when an attribute name is complete. */
static void end_attr_name(ug_html *h) {
    bool wants = !h->is_end && !h->href_seen &&
                 (h->kind == K_A || h->kind == K_AREA || h->kind == K_LINK ||
                  h->kind == K_BASE);
    h->attr_is_href = wants && h->attr_len == 4 &&
                      memcmp(h->attr, "href", 4) == 0;
    if (h->attr_is_href) {
        h->href_seen = true;
        buf_clear(&h->href);
    }
}

/* Called on the '>' that completes a tag. */
static int emit_tag(ug_html *h) {
    h->state = S_DATA;
    if (h->is_end) {
        if (h->in_title)
            return finish_title(h);
        return 0;
    }
    int rc = 0;
    if (h->href_seen)
        rc = take_href(h);
    if (h->kind == K_TITLE || h->kind == K_RAW) {
        h->state = S_RAW;
        memcpy(h->raw_name, h->name, h->name_len + 1);
        h->raw_len = h->name_len;
        if (h->kind == K_TITLE && !h->title_done) {
            h->in_title = true;
            buf_clear(&h->title_raw);
        }
    } else if (h->kind == K_PLAINTEXT) {
        h->state = S_PLAINTEXT;
    }
    return rc;
}

/* Adds raw text to the title when one is being collected. */
static int title_text(ug_html *h, const char *s, size_t n) {
    return h->in_title ? buf_add(&h->title_raw, s, n) : 0;
}

/* ---- the tokenizer ------------------------------------------------------- */

/* Runs the tokenizer over n bytes. */
static int run(ug_html *h, const unsigned char *s, size_t n) {
    int rc = 0;
    size_t i = 0;
    while (i < n && rc == 0) {
        unsigned c = s[i];
        switch (h->state) {
        case S_DATA: {
            const unsigned char *lt = memchr(s + i, '<', n - i);
            if (!lt)
                return 0;
            i = (size_t)(lt - s) + 1;
            h->state = S_TAG_OPEN;
            continue;
        }
        case S_TAG_OPEN:
            if (c == '!') {
                h->state = S_MARKUP_DECL;
            } else if (c == '/') {
                h->state = S_END_TAG_OPEN;
            } else if (is_alpha(c)) {
                begin_tag(h, false);
                h->state = S_TAG_NAME;
                continue;
            } else if (c == '?') {
                h->state = S_BOGUS_COMMENT;
            } else {
                h->state = S_DATA;
                continue;
            }
            break;
        case S_END_TAG_OPEN:
            if (is_alpha(c)) {
                begin_tag(h, true);
                h->state = S_TAG_NAME;
                continue;
            }
            h->state = c == '>' ? S_DATA : S_BOGUS_COMMENT;
            break;
        case S_TAG_NAME:
            if (is_space(c) || c == '/' || c == '>') {
                end_tag_name(h);
                h->state = c == '>' ? S_DATA
                           : c == '/' ? S_SELF_CLOSING
                                      : S_BEFORE_ATTR_NAME;
                if (c == '>')
                    rc = emit_tag(h);
            } else {
                if (h->name_len < NAME_MAX_LEN)
                    h->name[h->name_len] = (char)name_char(c);
                if (h->name_len <= NAME_MAX_LEN)
                    h->name_len++;
            }
            break;
        case S_BEFORE_ATTR_NAME:
            if (is_space(c))
                break;
            if (c == '/' || c == '>') {
                h->state = S_AFTER_ATTR_NAME;
                continue;
            }
            begin_attr(h);
            if (h->attr_len < ATTR_NAME_MAX_LEN)
                h->attr[h->attr_len] = (char)name_char(c);
            h->attr_len++;
            h->state = S_ATTR_NAME;
            break;
        case S_ATTR_NAME:
            if (is_space(c) || c == '/' || c == '>' || c == '=') {
                end_attr_name(h);
                h->state = c == '=' ? S_BEFORE_ATTR_VALUE : S_AFTER_ATTR_NAME;
                if (c != '=')
                    continue;
            } else if (h->attr_len <= ATTR_NAME_MAX_LEN) {
                if (h->attr_len < ATTR_NAME_MAX_LEN)
                    h->attr[h->attr_len] = (char)name_char(c);
                h->attr_len++;
            }
            break;
        case S_AFTER_ATTR_NAME:
            if (is_space(c))
                break;
            if (c == '/') {
                h->state = S_SELF_CLOSING;
            } else if (c == '=') {
                h->state = S_BEFORE_ATTR_VALUE;
            } else if (c == '>') {
                rc = emit_tag(h);
            } else {
                h->state = S_BEFORE_ATTR_NAME;
                continue;
            }
            break;
        case S_BEFORE_ATTR_VALUE:
            if (is_space(c))
                break;
            if (c == '"') {
                h->state = S_VALUE_DQ;
            } else if (c == '\'') {
                h->state = S_VALUE_SQ;
            } else if (c == '>') {
                rc = emit_tag(h);
            } else {
                h->state = S_VALUE_UNQ;
                continue;
            }
            break;
        case S_VALUE_DQ:
        case S_VALUE_SQ: {
            const unsigned char *q =
                memchr(s + i, h->state == S_VALUE_DQ ? '"' : '\'', n - i);
            size_t end = q ? (size_t)(q - s) : n;
            if (h->attr_is_href)
                rc = buf_add(&h->href, (const char *)s + i, end - i);
            i = end;
            if (q) {
                h->state = S_AFTER_VALUE_QUOTED;
                i++;
            }
            continue;
        }
        case S_VALUE_UNQ:
            if (is_space(c)) {
                h->state = S_BEFORE_ATTR_NAME;
            } else if (c == '>') {
                rc = emit_tag(h);
            } else if (h->attr_is_href) {
                rc = buf_add(&h->href, (const char *)s + i, 1);
            }
            break;
        case S_AFTER_VALUE_QUOTED:
            if (is_space(c)) {
                h->state = S_BEFORE_ATTR_NAME;
            } else if (c == '/') {
                h->state = S_SELF_CLOSING;
            } else if (c == '>') {
                rc = emit_tag(h);
            } else {
                h->state = S_BEFORE_ATTR_NAME;
                continue;
            }
            break;
        case S_SELF_CLOSING:
            if (c == '>') {
                rc = emit_tag(h);
            } else {
                h->state = S_BEFORE_ATTR_NAME;
                continue;
            }
            break;
        case S_MARKUP_DECL:
            if (c == '-') {
                h->state = S_MARKUP_DASH;
            } else {
                h->state = S_BOGUS_COMMENT;
                continue;
            }
            break;
        case S_MARKUP_DASH:
            h->state = c == '-' ? S_COMMENT_START : S_BOGUS_COMMENT;
            if (c != '-')
                continue;
            break;
        case S_BOGUS_COMMENT: {
            const unsigned char *gt = memchr(s + i, '>', n - i);
            if (!gt)
                return 0;
            i = (size_t)(gt - s) + 1;
            h->state = S_DATA;
            continue;
        }
        case S_COMMENT_START:
            h->state = c == '-' ? S_COMMENT_START_DASH
                       : c == '>' ? S_DATA
                                  : S_COMMENT;
            if (c != '-' && c != '>')
                continue;
            break;
        case S_COMMENT_START_DASH:
            h->state = c == '-' ? S_COMMENT_END : c == '>' ? S_DATA : S_COMMENT;
            if (c != '-' && c != '>')
                continue;
            break;
        case S_COMMENT: {
            const unsigned char *dash = memchr(s + i, '-', n - i);
            if (!dash)
                return 0;
            i = (size_t)(dash - s) + 1;
            h->state = S_COMMENT_END_DASH;
            continue;
        }
        case S_COMMENT_END_DASH:
            h->state = c == '-' ? S_COMMENT_END : S_COMMENT;
            if (c != '-')
                continue;
            break;
        case S_COMMENT_END:
            if (c == '>')
                h->state = S_DATA;
            else if (c == '!')
                h->state = S_COMMENT_END_BANG;
            else if (c != '-') {
                h->state = S_COMMENT;
                continue;
            }
            break;
        case S_COMMENT_END_BANG:
            if (c == '-') {
                h->state = S_COMMENT_END_DASH;
            } else if (c == '>') {
                h->state = S_DATA;
            } else {
                h->state = S_COMMENT;
                continue;
            }
            break;
        case S_RAW: {
            const unsigned char *lt = memchr(s + i, '<', n - i);
            size_t end = lt ? (size_t)(lt - s) : n;
            rc = title_text(h, (const char *)s + i, end - i);
            i = end;
            if (lt) {
                h->state = S_RAW_LT;
                i++;
            }
            continue;
        }
        case S_RAW_LT:
            if (c == '/') {
                h->state = S_RAW_END;
                h->raw_matched = 0;
            } else {
                rc = title_text(h, "<", 1);
                h->state = S_RAW;
                continue;
            }
            break;
        case S_RAW_END:
            if (h->raw_matched < h->raw_len) {
                if (lower(c) == (unsigned char)h->raw_name[h->raw_matched]) {
                    h->raw_matched++;
                    break;
                }
            } else if (is_space(c) || c == '/' || c == '>') {
                begin_tag(h, true);
                memcpy(h->name, h->raw_name, h->raw_len + 1);
                h->name_len = h->raw_len;
                h->state = S_TAG_NAME;
                continue;
            }
            /* not the end tag: what matched is text */
            rc = title_text(h, "</", 2);
            if (rc == 0)
                rc = title_text(h, h->raw_name, h->raw_matched);
            h->state = S_RAW;
            continue;
        case S_PLAINTEXT:
        case S_DONE:
            return 0;
        }
        i++;
    }
    return rc;
}

/* ---- public functions ---------------------------------------------------- */

/* Creates a parser (see html.h). */
int ug_html_new(const char *page_url, ug_html_link_fn on_link, void *ctx,
                ug_html **out) {
    if (!page_url || !out)
        return UG_EINVAL;
    ug_html *h = calloc(1, sizeof *h);
    if (!h)
        return UG_ENOMEM;
    int rc = ug_url_normalize(page_url, &h->page_url);
    if (rc < 0)
        goto fail;
    rc = ug__url_base_new(h->page_url, &h->base);
    if (rc < 0)
        goto fail;
    h->on_link = on_link;
    h->ctx = ctx;
    h->state = S_DATA;
    h->href.limit = UG_HTML_ATTR_MAX;
    h->title_raw.limit = TITLE_RAW_MAX;
    *out = h;
    return 0;
fail:
    ug_html_free(h);
    return rc;
}

/* Parses the next n bytes (see html.h). */
int ug_html_feed(ug_html *h, const char *data, size_t n) {
    if (!h || h->state == S_DONE || (!data && n))
        return UG_EINVAL;
    if (h->failed)
        return UG_ENOMEM;
    int rc = run(h, (const unsigned char *)data, n);
    if (rc < 0)
        h->failed = true;
    return rc;
}

/* Ends the page (see html.h). */
int ug_html_finish(ug_html *h) {
    if (!h || h->state == S_DONE)
        return UG_EINVAL;
    if (h->failed)
        return UG_ENOMEM;
    /* text cut off in the middle of a raw end tag still belongs to it */
    int rc = 0;
    if (h->state == S_RAW_LT)
        rc = title_text(h, "<", 1);
    else if (h->state == S_RAW_END && (rc = title_text(h, "</", 2)) == 0)
        rc = title_text(h, h->raw_name, h->raw_matched);
    if (rc == 0 && h->in_title)
        rc = finish_title(h);
    h->state = S_DONE;
    return rc;
}

/* The first title (see html.h). */
const char *ug_html_title(const ug_html *h) {
    return h ? h->title : NULL;
}

/* Frees the parser (see html.h). */
void ug_html_free(ug_html *h) {
    if (!h)
        return;
    free(h->page_url);
    ug__url_base_free(h->base);
    free(h->href.p);
    free(h->title_raw.p);
    free(h->title);
    free(h);
}
