/* url.c - resolving and normalising crawl URLs (ungil/url.h).
 *
 * Design.  A reference goes through three steps:
 *   1. prepare(): the browser-like clean-up libcurl does not do: trim
 *      whitespace and controls at both ends, drop tabs and newlines, cut
 *      the fragment, turn '\' into '/' before the query (what browsers do
 *      for http URLs) and percent-encode the bytes libcurl would refuse
 *      (space, controls, non-ASCII) after the authority.  The authority is
 *      left alone so that libcurl judges the host.
 *   2. libcurl's URL API parses the base, resolves the reference against
 *      it (RFC 3986 merge, dot segments) and validates the host and port.
 *   3. build(): the URL is written again from its parts: scheme and host
 *      lower-case, IPv6 addresses in their canonical text form, default
 *      port dropped, path and query percent-normalised, then dot segments
 *      removed once more (decoding "%2E" can create new ones).
 * Step 3 is idempotent: its output contains only bytes that step 1 keeps,
 * no dot segments, and escapes that normalise to themselves.
 *
 * Internationalised host names (UTF-8, or percent-encoded UTF-8) become
 * punycode through libidn2, whatever the process locale.
 *
 * Known limits: IPv6 zone identifiers are refused.  An empty query ("?" alone) is
 * dropped, so "/a?" and "/a" are the same URL here.
 */
#include "ungil/url.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <idn2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ungil/error.h"
#include "url_internal.h"

/* ---- percent-encoding --------------------------------------------------- */

static int hex_value(unsigned c) {
    if (c >= '0' && c <= '9')
        return (int)(c - '0');
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? (int)(c - 'a' + 10) : -1;
}

static bool is_unreserved(unsigned c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

/* Bytes that never appear literally in a normalised URL. */
static bool must_encode(unsigned c) {
    return c <= 0x20 || c >= 0x7f || strchr("\"<>\\^`{|}", (int)c) != NULL;
}

static const char HEX[] = "0123456789ABCDEF";

size_t ug__url_pct_normalize(const char *s, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned c = (unsigned char)s[i];
        int hi, lo;
        if (c == '%' && i + 2 < n &&
            (hi = hex_value((unsigned char)s[i + 1])) >= 0 &&
            (lo = hex_value((unsigned char)s[i + 2])) >= 0) {
            unsigned v = (unsigned)(hi * 16 + lo);
            if (is_unreserved(v)) {
                out[o++] = (char)v;
            } else {
                out[o++] = '%';
                out[o++] = HEX[v >> 4];
                out[o++] = HEX[v & 15];
            }
            i += 2;
        } else if (c == '%' || must_encode(c)) {
            out[o++] = '%';
            out[o++] = HEX[c >> 4];
            out[o++] = HEX[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return o;
}

/* ---- growing strings ---------------------------------------------------- */

typedef struct {
    char *p;
    size_t len, cap;
    bool failed;
} sbuf;

static void sb_reserve(sbuf *b, size_t more) {
    if (b->failed || b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = true;
        return;
    }
    b->p = p;
    b->cap = cap;
}

static void sb_add(sbuf *b, const char *s, size_t n) {
    sb_reserve(b, n);
    if (b->failed)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s) {
    sb_add(b, s, strlen(s));
}

/* Appends the n bytes at s percent-normalised. */
static void sb_pct(sbuf *b, const char *s, size_t n) {
    sb_reserve(b, 3 * n);
    if (b->failed)
        return;
    b->len += ug__url_pct_normalize(s, n, b->p + b->len);
}

/* ---- step 1: browser-like clean-up -------------------------------------- */

static bool is_scheme_char(unsigned c, bool first) {
    bool alpha = (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
    return alpha || (!first && ((c >= '0' && c <= '9') || c == '+' ||
                                c == '-' || c == '.'));
}

/* The length of the scheme and its ':' at the start of s, or 0. */
static size_t scheme_length(const char *s, size_t n) {
    size_t i = 0;
    while (i < n && is_scheme_char((unsigned char)s[i], i == 0))
        i++;
    return i > 0 && i < n && s[i] == ':' ? i + 1 : 0;
}

/* Appends the host (and port) of an authority, with the escapes of bytes
 * that may be part of a host name decoded, as browsers do before reading
 * the name.  libcurl decodes them too, but only after it has read IPv4
 * numbers, so "%36" would become "6" now and "0.0.0.6" on the next parse.
 * Escapes of other bytes stay for libcurl to refuse. */
static void add_host(sbuf *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n &&
            (hi = hex_value((unsigned char)s[i + 1])) >= 0 &&
            (lo = hex_value((unsigned char)s[i + 2])) >= 0) {
            unsigned v = (unsigned)(hi * 16 + lo);
            if (is_unreserved(v) || v >= 0x80) {
                char c = (char)v;
                sb_add(b, &c, 1);
                i += 2;
                continue;
            }
        }
        sb_add(b, &s[i], 1);
    }
}

/* Writes the cleaned-up `ref` to b (see the design note). */
static void prepare(sbuf *b, const char *ref) {
    size_t n = strlen(ref), start = 0;
    while (start < n && (unsigned char)ref[start] <= 0x20)
        start++;
    while (n > start && (unsigned char)ref[n - 1] <= 0x20)
        n--;
    sbuf t = {0};
    for (size_t i = start; i < n && ref[i] != '#'; i++)
        if (ref[i] != '\t' && ref[i] != '\n' && ref[i] != '\r')
            sb_add(&t, &ref[i], 1);
    if (t.failed) {
        b->failed = true;
        return;
    }
    const char *s = t.p ? t.p : "";
    size_t len = t.len, i = scheme_length(s, len);
    bool slashes = len - i >= 2 && (s[i] == '/' || s[i] == '\\') &&
                   (s[i + 1] == '/' || s[i + 1] == '\\');
    sb_add(b, s, i);
    if (slashes) {
        sb_add(b, "//", 2);
        i += 2;
        size_t end = i, host = i;
        while (end < len && !strchr("/\\?", s[end]))
            if (s[end++] == '@')
                host = end;
        sb_add(b, s + i, host - i);
        add_host(b, s + host, end - host);
        i = end;
    }
    for (size_t k = i; k < len && s[k] != '?'; k++)
        if (s[k] == '\\')
            t.p[k] = '/';
    sb_pct(b, s + i, len - i);
    sb_add(b, "", 0);
    free(t.p);
}

/* ---- step 3: writing the URL from its parts ----------------------------- */

/* Removes dot segments from the NUL-terminated absolute path p, in place
 * (RFC 3986 section 5.2.4, for a path that starts with '/'). */
static void remove_dots(char *p) {
    char *in = p, *out = p;
    while (*in) {
        if (in[0] == '/' && in[1] == '.' && (in[2] == '/' || !in[2])) {
            in += 2;
            if (!*in)
                *out++ = '/';
        } else if (in[0] == '/' && in[1] == '.' && in[2] == '.' &&
                   (in[3] == '/' || !in[3])) {
            in += 3;
            while (out > p && *--out != '/')
                ;
            if (!*in)
                *out++ = '/';
        } else {
            do
                *out++ = *in++;
            while (*in && *in != '/');
        }
    }
    if (out == p)
        *out++ = '/';
    *out = '\0';
}

static void lower(char *s) {
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s | 0x20);
}

/* The parts of a parsed URL, each malloc'd (NULL when absent). */
typedef struct {
    char *scheme, *user, *password, *host, *port, *path, *query;
} parts;

static void parts_free(parts *u) {
    free(u->scheme);
    free(u->user);
    free(u->password);
    free(u->host);
    free(u->port);
    free(u->path);
    free(u->query);
}

/* Copies one part to *out; an absent optional part leaves it NULL. */
static int get_part(CURLU *h, CURLUPart what, unsigned flags, char **out) {
    char *value = NULL;
    CURLUcode rc = curl_url_get(h, what, &value, flags);
    *out = NULL;
    if (rc == CURLUE_NO_USER || rc == CURLUE_NO_PASSWORD ||
        rc == CURLUE_NO_PORT || rc == CURLUE_NO_QUERY ||
        rc == CURLUE_NO_ZONEID)
        return 0;
    if (rc == CURLUE_OUT_OF_MEMORY && what != CURLUPART_HOST)
        return UG_ENOMEM;
    if (rc != CURLUE_OK)
        return UG_EURL; /* includes a host libcurl cannot convert (IDN) */
    *out = strdup(value);
    curl_free(value);
    return *out ? 0 : UG_ENOMEM;
}

/* Is s (NUL-terminated) well-formed UTF-8? */
static bool valid_utf8(const unsigned char *s) {
    while (*s) {
        unsigned c = *s, len = c < 0x80 ? 1 : c >= 0xC2 && c < 0xE0 ? 2
                                          : c >= 0xE0 && c < 0xF0   ? 3
                                          : c >= 0xF0 && c < 0xF5   ? 4
                                                                    : 0;
        if (!len)
            return false;
        for (unsigned k = 1; k < len; k++)
            if ((s[k] & 0xC0) != 0x80)
                return false;
        if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0) ||
            (c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] >= 0x90))
            return false;
        s += len;
    }
    return true;
}

/* Copies the host to *out, an internationalised name (valid UTF-8) in
 * its punycode form.  The conversion is libidn2's (IDNA 2008, as
 * libcurl's), called directly: through libcurl it depends on the process
 * locale, and libcurl 7.88 leaks memory when it fails. */
static int get_host(CURLU *h, char **out) {
    int rc = get_part(h, CURLUPART_HOST, 0, out);
    if (rc < 0 || !*out)
        return rc < 0 ? rc : UG_EURL;
    bool ascii = true;
    for (const char *p = *out; *p; p++)
        ascii = ascii && (unsigned char)*p < 0x80;
    if (ascii)
        return 0;
    char *ace = NULL;
    rc = UG_EURL;
    if (valid_utf8((const unsigned char *)*out) &&
        (idn2_to_ascii_8z(*out, &ace, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL) ==
             IDN2_OK ||
         idn2_to_ascii_8z(*out, &ace, IDN2_NFC_INPUT | IDN2_TRANSITIONAL) ==
             IDN2_OK)) {
        free(*out);
        *out = strdup(ace);
        rc = *out ? 0 : UG_ENOMEM;
    } else {
        free(*out);
        *out = NULL;
    }
    idn2_free(ace);
    return rc;
}

/* Does the host hold only letters, digits, '-', '.' and '_'?  libcurl
 * decodes escapes in a host, and lets a few more bytes through (DEL, a
 * decoded '%'), which would not survive a second parse unchanged. */
static bool plain_host(const char *host) {
    for (const unsigned char *p = (const unsigned char *)host; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '.' || *p == '_'))
            return false;
    return true;
}

/* Replaces the bracketed IPv6 literal *host by its canonical text form. */
static int canonical_ipv6(char **host) {
    char inner[64], text[INET6_ADDRSTRLEN + 2];
    unsigned char addr[16];
    size_t n = strlen(*host);
    if (n < 3 || n - 2 >= sizeof inner || (*host)[n - 1] != ']')
        return UG_EURL;
    memcpy(inner, *host + 1, n - 2);
    inner[n - 2] = '\0';
    if (inet_pton(AF_INET6, inner, addr) != 1 ||
        !inet_ntop(AF_INET6, addr, text + 1, INET6_ADDRSTRLEN))
        return UG_EURL;
    text[0] = '[';
    strcat(text, "]");
    char *copy = strdup(text);
    if (!copy)
        return UG_ENOMEM;
    free(*host);
    *host = copy;
    return 0;
}

static int curl_error(CURLUcode rc) {
    return rc == CURLUE_OK              ? 0
           : rc == CURLUE_OUT_OF_MEMORY ? UG_ENOMEM
                                        : UG_EURL;
}

static bool is_http(const char *scheme) {
    return strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0;
}

/* Sets h to the prepared form of url (resolved against what h holds). */
static int set_url(CURLU *h, const char *url) {
    sbuf b = {0};
    prepare(&b, url);
    int rc = b.failed ? UG_ENOMEM : 0;
    if (rc == 0 && b.len == 0)
        rc = UG_EURL;
    if (rc == 0)
        rc = curl_error(curl_url_set(h, CURLUPART_URL, b.p, 0));
    free(b.p);
    return rc;
}

/* Sets h to the absolute http(s) URL `base`. */
static int set_base(CURLU *h, const char *base) {
    int rc = set_url(h, base);
    if (rc < 0)
        return rc;
    char *scheme = NULL;
    rc = get_part(h, CURLUPART_SCHEME, 0, &scheme);
    bool ok = rc == 0 && is_http(scheme);
    free(scheme);
    return rc < 0 ? rc : ok ? 0 : UG_EURL;
}

/* Parses `ref` resolved against what h holds (a base when has_base) into
 * normalised parts (see the design note).  h is changed, not freed. */
static int parse_in(CURLU *h, bool has_base, const char *ref, parts *u) {
    int rc;
    char *zone = NULL, *path = NULL, *query = NULL;
    memset(u, 0, sizeof *u);
    rc = set_url(h, ref);
    if (rc == UG_EURL && has_base) {
        /* an empty (or fragment-only) reference is the base itself */
        sbuf b = {0};
        prepare(&b, ref);
        rc = b.failed ? UG_ENOMEM : b.len == 0 ? 0 : UG_EURL;
        free(b.p);
    }
    if (rc < 0)
        goto fail;
    if ((rc = get_part(h, CURLUPART_SCHEME, 0, &u->scheme)) < 0 ||
        (rc = get_part(h, CURLUPART_USER, 0, &u->user)) < 0 ||
        (rc = get_part(h, CURLUPART_PASSWORD, 0, &u->password)) < 0 ||
        (rc = get_host(h, &u->host)) < 0 ||
        (rc = get_part(h, CURLUPART_ZONEID, 0, &zone)) < 0 ||
        (rc = get_part(h, CURLUPART_PORT, CURLU_NO_DEFAULT_PORT,
                       &u->port)) < 0 ||
        (rc = get_part(h, CURLUPART_PATH, 0, &path)) < 0 ||
        (rc = get_part(h, CURLUPART_QUERY, 0, &query)) < 0)
        goto fail;
    lower(u->scheme);
    rc = UG_EURL;
    if (!is_http(u->scheme) || zone || !u->host || !u->host[0])
        goto fail;
    lower(u->host);
    if (u->host[0] == '[' ? (rc = canonical_ipv6(&u->host)) < 0
                          : !plain_host(u->host))
        goto fail;
    rc = UG_ENOMEM;
    size_t n = path ? strlen(path) : 0;
    if (!(u->path = malloc(3 * n + 2)))
        goto fail;
    u->path[0] = '/';
    size_t skip = n > 0 && path[0] == '/' ? 1 : 0;
    ug__url_pct_normalize(path + skip, n - skip, u->path + 1);
    remove_dots(u->path);
    if (query && query[0]) {
        n = strlen(query);
        if (!(u->query = malloc(3 * n + 1)))
            goto fail;
        ug__url_pct_normalize(query, n, u->query);
    }
    rc = 0;
fail:
    if (rc < 0)
        parts_free(u);
    free(zone);
    free(path);
    free(query);
    return rc;
}

/* Parses `ref` resolved against `base` (may be NULL) into normalised
 * parts. */
static int parse(const char *base, const char *ref, parts *u) {
    memset(u, 0, sizeof *u);
    CURLU *h = curl_url();
    if (!h)
        return UG_ENOMEM;
    int rc = base ? set_base(h, base) : 0;
    if (rc == 0)
        rc = parse_in(h, base != NULL, ref, u);
    curl_url_cleanup(h);
    return rc;
}

/* Writes scheme://[userinfo@]host[:port] to b. */
static void add_origin(sbuf *b, const parts *u, bool userinfo) {
    sb_str(b, u->scheme);
    sb_str(b, "://");
    if (userinfo && u->user) {
        sb_pct(b, u->user, strlen(u->user));
        if (u->password) {
            sb_str(b, ":");
            sb_pct(b, u->password, strlen(u->password));
        }
        sb_str(b, "@");
    }
    sb_str(b, u->host);
    if (u->port) {
        sb_str(b, ":");
        sb_str(b, u->port);
    }
}

/* Hands the finished b to *out. */
static int finish(sbuf *b, char **out) {
    if (b->failed || !b->p) {
        free(b->p);
        return UG_ENOMEM;
    }
    *out = b->p;
    return 0;
}

/* Writes the normalised URL of u to *out and frees u. */
static int write_url(parts *u, char **out) {
    sbuf b = {0};
    add_origin(&b, u, true);
    sb_str(&b, u->path);
    if (u->query) {
        sb_str(&b, "?");
        sb_str(&b, u->query);
    }
    parts_free(u);
    return finish(&b, out);
}

/* ---- a parsed base, for many references (url_internal.h) --------------- */

struct ug__url_base {
    CURLU *h;
};

int ug__url_base_new(const char *url, ug__url_base **out) {
    ug__url_base *b = calloc(1, sizeof *b);
    if (!b || !(b->h = curl_url())) {
        free(b);
        return UG_ENOMEM;
    }
    int rc = set_base(b->h, url);
    if (rc < 0) {
        ug__url_base_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

int ug__url_base_resolve(const ug__url_base *base, const char *ref,
                         char **out) {
    CURLU *h = curl_url_dup(base->h);
    if (!h)
        return UG_ENOMEM;
    parts u;
    int rc = parse_in(h, true, ref, &u);
    curl_url_cleanup(h);
    return rc < 0 ? rc : write_url(&u, out);
}

void ug__url_base_free(ug__url_base *base) {
    if (!base)
        return;
    curl_url_cleanup(base->h);
    free(base);
}

/* ---- public functions ---------------------------------------------------- */

/* Resolves ref against base and normalises it (see url.h). */
int ug_url_resolve(const char *base, const char *ref, char **out) {
    if (!ref || !out)
        return UG_EINVAL;
    parts u;
    int rc = parse(base, ref, &u);
    return rc < 0 ? rc : write_url(&u, out);
}

/* Normalises an absolute URL (see url.h). */
int ug_url_normalize(const char *url, char **out) {
    return ug_url_resolve(NULL, url, out);
}

/* Parses the absolute URL `url`, lets `emit` write the part wanted into a
 * buffer, and returns that in a new string *out: the shared body of the
 * accessors below. */
static int url_part(const char *url, char **out,
                    void (*emit)(sbuf *b, const parts *u)) {
    if (!url || !out)
        return UG_EINVAL;
    parts u;
    int rc = parse(NULL, url, &u);
    if (rc < 0)
        return rc;
    sbuf b = {0};
    emit(&b, &u);
    parts_free(&u);
    return finish(&b, out);
}

static void emit_host(sbuf *b, const parts *u) {
    sb_str(b, u->host);
    sb_str(b, ":");
    sb_str(b, u->port ? u->port : strcmp(u->scheme, "https") == 0 ? "443"
                                                                   : "80");
}

/* "host:port", the port always written (see url.h). */
int ug_url_host(const char *url, char **host_port) {
    return url_part(url, host_port, emit_host);
}

static void emit_path_query(sbuf *b, const parts *u) {
    sb_str(b, u->path);
    if (u->query) {
        sb_str(b, "?");
        sb_str(b, u->query);
    }
}

/* The normalised path and query (see url.h). */
int ug_url_path_query(const char *url, char **path_query) {
    return url_part(url, path_query, emit_path_query);
}

static void emit_robots(sbuf *b, const parts *u) {
    add_origin(b, u, false);
    sb_str(b, "/robots.txt");
}

/* scheme://host[:port]/robots.txt (see url.h). */
int ug_url_robots(const char *url, char **robots_url) {
    return url_part(url, robots_url, emit_robots);
}
