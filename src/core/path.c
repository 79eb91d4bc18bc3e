/* path.c - safe file names inside one directory (ungil/path.h).
 *
 * Design.  Every name, whatever its source, goes through clean_name(),
 * which runs the six steps listed in the header on a private buffer, in
 * place: mapping a character never makes it longer (a valid sequence is
 * copied, anything else becomes one '_'), so the write position never
 * passes the read position.  The URL and Content-Disposition parsers only
 * find and decode bytes; they never judge them, so there is exactly one
 * place that decides what is safe.  The only allocation is that buffer:
 * input length is unbounded and the cut in step 4 needs both ends of the
 * name (the stem's start and the extension).
 *
 * The name set is a chained hash table of strings.  Each entry is "taken"
 * (handed out, or the ".part" of a name handed out) or only remembers, for
 * a base name, the next " (k)" to try, so claiming the same name n times
 * costs O(n) probes in all instead of O(n^2).  Entries are never removed:
 * a name handed out stays taken, which is what makes the numbering
 * deterministic.
 *
 * Files are opened with openat(O_NOFOLLOW), then checked with fstat on the
 * descriptor itself (regular, one link), so what is checked is what is
 * written.  O_NONBLOCK during the open keeps a FIFO from blocking us; it
 * is cleared afterwards.
 */
#include "ungil/path.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ungil/error.h"

enum {
    EXT_MAX = 20,     /* longest extension, dot included, kept by a cut */
    SUFFIX_SIZE = 24, /* " (" + up to 20 digits + ")" + NUL */
    PART_LEN = sizeof UG_PATH_PART_SUFFIX - 1,
    INITIAL_BUCKETS = 64
};

/* ---- characters --------------------------------------------------------- */

static bool is_alpha(unsigned c) {
    return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

static bool is_digit(unsigned c) {
    return c >= '0' && c <= '9';
}

static int hex_value(unsigned c) {
    if (is_digit(c))
        return (int)(c - '0');
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? (int)(c - 'a' + 10) : -1;
}

static unsigned char ascii_lower(unsigned char c) {
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c | 0x20) : c;
}

/* Do the n bytes at s equal `word` (ASCII letters in any case)? */
static bool equal_nocase(const unsigned char *s, size_t n, const char *word) {
    size_t k = strlen(word);
    if (n != k)
        return false;
    for (size_t i = 0; i < k; i++)
        if (ascii_lower(s[i]) != ascii_lower((unsigned char)word[i]))
            return false;
    return true;
}

/* The length of the well-formed UTF-8 sequence at s (n bytes available),
 * storing its code point in *cp, or 0 if none starts there.  Overlong
 * forms, surrogates and values above U+10FFFF are not well-formed. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned char b = s[0], lo = 0x80, hi = 0xbf;
    size_t len;
    uint32_t c;
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    if (b >= 0xc2 && b <= 0xdf) {
        len = 2;
        c = b & 0x1f;
    } else if (b >= 0xe0 && b <= 0xef) {
        len = 3;
        c = b & 0x0f;
        if (b == 0xe0)
            lo = 0xa0;
        else if (b == 0xed)
            hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
        len = 4;
        c = b & 0x07;
        if (b == 0xf0)
            lo = 0x90;
        else if (b == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if (s[i] < lo || s[i] > hi)
            return 0;
        lo = 0x80;
        hi = 0xbf;
        c = c << 6 | (s[i] & 0x3f);
    }
    *cp = c;
    return len;
}

/* Code points that become '_' (step 2 in the header). */
static bool is_unsafe(uint32_t c) {
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f))
        return true;
    switch (c) {
    case '/': case '\\': case ':': case '*': case '?':
    case '"': case '<': case '>': case '|':
    case 0x061c:                             /* Arabic letter mark */
    case 0x200b:                             /* zero width space */
    case 0x200e: case 0x200f:                /* left/right-to-left marks */
    case 0x2044: case 0x2215:                /* fraction, division slash */
    case 0x29f8: case 0x29f9:                /* big solidus, reverse */
    case 0xfeff:                             /* byte order mark */
    case 0xff0f: case 0xff3c:                /* fullwidth solidus, reverse */
        return true;
    }
    return (c >= 0x2028 && c <= 0x202e) ||   /* separators, embeddings */
           (c >= 0x2066 && c <= 0x2069);     /* bidi isolates */
}

/* Dots and spaces may not begin or end a name. */
static bool is_trimmed(unsigned char c) {
    return c == '.' || c == ' ';
}

/* ---- the sanitiser ------------------------------------------------------ */

/* Steps 1 and 2: maps buf[0..n) in place; returns the new length. */
static size_t map_chars(unsigned char *buf, size_t n) {
    size_t r = 0, w = 0;
    while (r < n) {
        uint32_t cp = 0;
        size_t k = utf8_next(buf + r, n - r, &cp);
        if (!k || is_unsafe(cp)) {
            buf[w++] = '_';
            r += k ? k : 1;
        } else {
            memmove(buf + w, buf + r, k);
            w += k;
            r += k;
        }
    }
    return w;
}

/* Where the extension of s[0..n) starts: its last dot, unless that is the
 * first byte; n when there is none. */
static size_t ext_start(const unsigned char *s, size_t n) {
    for (size_t i = n; i > 1; i--)
        if (s[i - 1] == '.')
            return i - 1;
    return n;
}

/* Moves `cut` back to the start of the UTF-8 sequence it falls into (at
 * most three bytes back, so bytes that are not UTF-8 cannot stall it). */
static size_t char_boundary(const unsigned char *s, size_t cut) {
    for (int i = 0; i < 3 && cut > 0 && (s[cut] & 0xc0) == 0x80; i++)
        cut--;
    return cut;
}

/* Step 4: cuts buf[0..n), valid UTF-8 that neither starts nor ends with a
 * dot or a space, to at most `max` bytes, keeping a short extension, and
 * removes the dots and spaces the cut may leave at the end of the stem.
 * Returns the new length, at least 1. */
static size_t fit(unsigned char *buf, size_t n, size_t max) {
    if (n <= max)
        return n;
    size_t ext = ext_start(buf, n);
    size_t ext_len = n - ext;
    if (ext_len > EXT_MAX)
        ext_len = 0;
    size_t stem = char_boundary(buf, max - ext_len);
    while (stem > 1 && is_trimmed(buf[stem - 1]))
        stem--;
    memmove(buf + stem, buf + n - ext_len, ext_len);
    return stem + ext_len;
}

/* Step 5: is s[0..n) a Windows device name?  Windows looks at what comes
 * before the first dot, ignoring trailing spaces. */
static bool is_reserved(const unsigned char *s, size_t n) {
    static const char *const devices[] = {"CON", "PRN", "AUX", "NUL",
                                          "CONIN$", "CONOUT$"};
    size_t stem = 0;
    while (stem < n && s[stem] != '.')
        stem++;
    while (stem > 0 && s[stem - 1] == ' ')
        stem--;
    for (size_t i = 0; i < sizeof devices / sizeof *devices; i++)
        if (equal_nocase(s, stem, devices[i]))
            return true;
    if (stem < 4 || (!equal_nocase(s, 3, "COM") && !equal_nocase(s, 3, "LPT")))
        return false;
    if (stem == 4)
        return is_digit(s[3]);
    /* superscript one, two and three: U+00B9, U+00B2, U+00B3 */
    return stem == 5 && s[3] == 0xc2 &&
           (s[4] == 0xb9 || s[4] == 0xb2 || s[4] == 0xb3);
}

/* Runs the whole pipeline on buf[0..n), which it may scribble on, and
 * writes the name to out (room for UG_PATH_NAME_MAX + 1 bytes).  Returns
 * the name's length, 0 when nothing usable is left (out is then ""). */
static size_t clean_name(unsigned char *buf, size_t n, char *out) {
    n = map_chars(buf, n);
    while (n > 0 && is_trimmed(*buf)) {
        buf++;
        n--;
    }
    while (n > 0 && is_trimmed(buf[n - 1]))
        n--;
    size_t prefix = 0;
    if (n > 0) {
        n = fit(buf, n, UG_PATH_NAME_MAX);
        if (is_reserved(buf, n)) {
            out[0] = '_';
            prefix = 1;
            n = fit(buf, n, UG_PATH_NAME_MAX - 1);
        }
    }
    memcpy(out + prefix, buf, n);
    out[prefix + n] = '\0';
    return prefix + n;
}

/* Sanitises the last component of the path in buf[0..n) (after the last
 * '/' or '\').  Returns the name's length, 0 if none. */
static size_t clean_last_component(unsigned char *buf, size_t n, char *out) {
    size_t start = n;
    while (start > 0 && buf[start - 1] != '/' && buf[start - 1] != '\\')
        start--;
    return clean_name(buf + start, n - start, out);
}

int ug_path_sanitize(const char *raw, char *out, size_t size) {
    if (!raw || !out || size < UG_PATH_NAME_MAX + 1)
        return UG_EINVAL;
    out[0] = '\0';
    size_t n = strlen(raw);
    unsigned char *buf = malloc(n + 1);
    if (!buf)
        return UG_ENOMEM;
    memcpy(buf, raw, n);
    int rc = clean_name(buf, n, out) ? 0 : UG_ENONAME;
    free(buf);
    return rc;
}

/* ---- URLs --------------------------------------------------------------- */

/* Finds the last non-empty segment of the path of url[0..n): after an
 * optional "scheme:" and an optional "//authority", before any '?' or
 * '#'.  Sets [*begin, *end), empty when there is none. */
static void last_segment(const char *url, size_t n, size_t *begin,
                         size_t *end) {
    size_t i = 0;
    if (n > 0 && is_alpha((unsigned char)url[0])) {
        size_t s = 1;
        while (s < n && (is_alpha((unsigned char)url[s]) ||
                         is_digit((unsigned char)url[s]) || url[s] == '+' ||
                         url[s] == '-' || url[s] == '.'))
            s++;
        if (s < n && url[s] == ':')
            i = s + 1;
    }
    if (i + 1 < n && url[i] == '/' && url[i + 1] == '/') {
        i += 2;
        while (i < n && url[i] != '/' && url[i] != '?' && url[i] != '#')
            i++;
    }
    size_t e = i;
    while (e < n && url[e] != '?' && url[e] != '#')
        e++;
    while (e > i && url[e - 1] == '/')
        e--;
    size_t b = e;
    while (b > i && url[b - 1] != '/')
        b--;
    *begin = b;
    *end = e;
}

/* Percent-decodes s[0..n) into out (room for n bytes), once: "%41" gives
 * "A", "%2541" gives "%41", and a '%' not followed by two hex digits stays.
 * Returns the decoded length. */
static size_t percent_decode(const char *s, size_t n, unsigned char *out) {
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n &&
            (hi = hex_value((unsigned char)s[i + 1])) >= 0 &&
            (lo = hex_value((unsigned char)s[i + 2])) >= 0) {
            out[w++] = (unsigned char)(hi << 4 | lo);
            i += 2;
        } else {
            out[w++] = (unsigned char)s[i];
        }
    }
    return w;
}

int ug_path_from_url(const char *url, char *out, size_t size) {
    if (!url || !out || size < UG_PATH_NAME_MAX + 1)
        return UG_EINVAL;
    out[0] = '\0';
    size_t begin, end;
    last_segment(url, strlen(url), &begin, &end);
    unsigned char *buf = malloc(end - begin + 1);
    if (!buf)
        return UG_ENOMEM;
    size_t n = percent_decode(url + begin, end - begin, buf);
    if (!clean_name(buf, n, out))
        memcpy(out, UG_PATH_FALLBACK_NAME, sizeof UG_PATH_FALLBACK_NAME);
    free(buf);
    return 0;
}

/* ---- Content-Disposition ------------------------------------------------ */

/* A parameter value as it stands in the header: a token, or a quoted
 * string with its quotes. */
struct param {
    const unsigned char *value; /* NULL when absent */
    size_t len;
    bool quoted;
};

/* RFC 9110 token characters. */
static bool is_tchar(unsigned char c) {
    return is_alpha(c) || is_digit(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* RFC 8187 attr-char: what may stand unencoded in an ext-value. */
static bool is_attr_char(unsigned char c) {
    return is_alpha(c) || is_digit(c) || (c && strchr("!#$&+-.^_`|~", c));
}

/* Characters a quoted string may hold, escaped or not: HTAB, SP, visible
 * ASCII and bytes >= 0x80 (obs-text); the quote itself only escaped. */
static bool is_qdchar(unsigned char c) {
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static size_t skip_ows(const unsigned char *s, size_t i, size_t n) {
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    return i;
}

static size_t skip_token(const unsigned char *s, size_t i, size_t n) {
    while (i < n && is_tchar(s[i]))
        i++;
    return i;
}

/* Skips the quoted string that opens at s[i].  Returns the index after its
 * closing quote, or 0 if it is malformed or unterminated. */
static size_t skip_quoted(const unsigned char *s, size_t i, size_t n) {
    for (i++; i < n; i++) {
        if (s[i] == '"')
            return i + 1;
        if (s[i] == '\\' && ++i == n)
            return 0;
        if (!is_qdchar(s[i]))
            return 0;
    }
    return 0;
}

/* Parses `type *( ";" param )` in s[0..n), recording the filename and
 * filename* parameters.  Empty parameters (";;", a trailing ";") are
 * allowed.  Returns false on any syntax error or a repeated parameter. */
static bool parse_disposition(const unsigned char *s, size_t n,
                              struct param *plain, struct param *ext) {
    size_t i = skip_ows(s, 0, n);
    size_t type = i;
    i = skip_token(s, i, n);
    if (i == type)
        return false;
    for (;;) {
        i = skip_ows(s, i, n);
        if (i == n)
            return true;
        if (s[i] != ';')
            return false;
        i = skip_ows(s, i + 1, n);
        if (i == n || s[i] == ';')
            continue;
        size_t name = i;
        i = skip_token(s, i, n);
        if (i == name)
            return false;
        size_t name_len = i - name;
        i = skip_ows(s, i, n);
        if (i == n || s[i] != '=')
            return false;
        size_t value = skip_ows(s, i + 1, n);
        bool quoted = value < n && s[value] == '"';
        i = quoted ? skip_quoted(s, value, n) : skip_token(s, value, n);
        if (i == 0 || i == value)
            return false;
        struct param *p = NULL;
        if (equal_nocase(s + name, name_len, "filename"))
            p = plain;
        else if (equal_nocase(s + name, name_len, "filename*"))
            p = ext;
        if (p) {
            if (p->value)
                return false;
            *p = (struct param){s + value, i - value, quoted};
        }
    }
}

/* Decodes a filename parameter into out (room for p->len bytes): the
 * token as it is, or the quoted string without its quotes and escapes. */
static size_t decode_plain(const struct param *p, unsigned char *out) {
    if (!p->quoted) {
        memcpy(out, p->value, p->len);
        return p->len;
    }
    size_t w = 0;
    for (size_t i = 1; i + 1 < p->len; i++) {
        if (p->value[i] == '\\')
            i++;
        out[w++] = p->value[i];
    }
    return w;
}

/* Decodes an RFC 8187 ext-value, charset'language'value-chars, into UTF-8
 * in out (room for 2 * n bytes: ISO-8859-1 may double).  Returns false if
 * it is malformed or in a charset other than UTF-8 and ISO-8859-1. */
static bool decode_ext(const unsigned char *s, size_t n, unsigned char *out,
                       size_t *out_len) {
    size_t q1 = 0;
    while (q1 < n && s[q1] != '\'')
        q1++;
    bool latin1 = equal_nocase(s, q1, "ISO-8859-1");
    if (q1 == n || (!latin1 && !equal_nocase(s, q1, "UTF-8")))
        return false;
    size_t q2 = q1 + 1;
    while (q2 < n && (is_alpha(s[q2]) || is_digit(s[q2]) || s[q2] == '-'))
        q2++;
    if (q2 == n || s[q2] != '\'')
        return false;
    size_t w = 0;
    for (size_t i = q2 + 1; i < n; i++) {
        unsigned b = s[i];
        if (b == '%') {
            int hi = i + 2 < n ? hex_value(s[i + 1]) : -1;
            int lo = i + 2 < n ? hex_value(s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return false;
            b = (unsigned)(hi << 4 | lo);
            i += 2;
        } else if (!is_attr_char((unsigned char)b)) {
            return false;
        }
        if (latin1 && b >= 0x80) {
            out[w++] = (unsigned char)(0xc0 | b >> 6);
            out[w++] = (unsigned char)(0x80 | (b & 0x3f));
        } else {
            out[w++] = (unsigned char)b;
        }
    }
    *out_len = w;
    return true;
}

int ug_path_from_content_disposition(const char *value, char *out,
                                     size_t size) {
    if (!value || !out || size < UG_PATH_NAME_MAX + 1)
        return UG_EINVAL;
    out[0] = '\0';
    const unsigned char *s = (const unsigned char *)value;
    size_t n = strlen(value);
    while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == '\n' ||
                     s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    struct param plain = {0}, ext = {0};
    if (!parse_disposition(s, n, &plain, &ext) || (!plain.value && !ext.value))
        return UG_ENONAME;
    if (n > (SIZE_MAX - 1) / 2)
        return UG_ENOMEM;
    unsigned char *buf = malloc(2 * n + 1);
    if (!buf)
        return UG_ENOMEM;
    int rc = UG_ENONAME;
    size_t len = 0;
    if (ext.value && !ext.quoted && decode_ext(ext.value, ext.len, buf, &len) &&
        clean_last_component(buf, len, out))
        rc = 0;
    else if (plain.value &&
             clean_last_component(buf, decode_plain(&plain, buf), out))
        rc = 0;
    free(buf);
    return rc;
}

/* ---- the name set ------------------------------------------------------- */

struct entry {
    struct entry *next;
    size_t hash;
    unsigned long next_suffix; /* the " (k)" to try next for this base */
    bool taken;                /* handed out, or the .part of one that was */
    char key[];
};

/* Entries live in blocks of at least ARENA_BLOCK bytes, never freed one by
 * one: a batch of 100,000 names is let go of in a few dozen frees. */
enum { ARENA_BLOCK = 65536 };

struct block {
    struct block *next;
    max_align_t data[];
};

struct ug_names {
    struct entry **buckets;
    size_t mask;  /* number of buckets - 1; a power of two minus one */
    size_t count;
    int dirfd;    /* -1, or a directory whose entries count as taken */
    struct block *blocks;   /* newest first */
    char *room;             /* free bytes in blocks->data */
    size_t room_left;
};

/* `size` bytes for an entry, aligned like malloc's; NULL when out of
 * memory. */
static void *arena_alloc(ug_names *names, size_t size) {
    size = (size + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
    if (size > names->room_left) {
        size_t cap = size > ARENA_BLOCK ? size : ARENA_BLOCK;
        struct block *b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->next = names->blocks;
        names->blocks = b;
        names->room = (char *)b->data;
        names->room_left = cap;
    }
    void *p = names->room;
    names->room += size;
    names->room_left -= size;
    return p;
}

/* Is `name` one path component of at most `max` bytes? */
static bool is_component(const char *name, size_t max) {
    size_t n = strnlen(name, max + 1);
    return n > 0 && n <= max && !memchr(name, '/', n) &&
           strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/* FNV-1a. */
static size_t hash_of(const char *s) {
    uint64_t h = 0xcbf29ce484222325u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3u;
    return (size_t)h;
}

static struct entry *lookup(const ug_names *names, const char *key) {
    size_t h = hash_of(key);
    for (struct entry *e = names->buckets[h & names->mask]; e; e = e->next)
        if (e->hash == h && !strcmp(e->key, key))
            return e;
    return NULL;
}

/* Doubles the table once it holds more entries than buckets.  Returns 0 or
 * UG_ENOMEM (the table still works, only slower). */
static int grow(ug_names *names) {
    size_t buckets = (names->mask + 1) * 2;
    struct entry **grown = calloc(buckets, sizeof *grown);
    if (!grown)
        return UG_ENOMEM;
    for (size_t i = 0; i <= names->mask; i++) {
        struct entry *e = names->buckets[i];
        while (e) {
            struct entry *next = e->next;
            e->next = grown[e->hash & (buckets - 1)];
            grown[e->hash & (buckets - 1)] = e;
            e = next;
        }
    }
    free(names->buckets);
    names->buckets = grown;
    names->mask = buckets - 1;
    return 0;
}

/* Finds `key`, adding it (not taken) if absent.  NULL when out of memory. */
static struct entry *intern(ug_names *names, const char *key) {
    struct entry *e = lookup(names, key);
    if (e)
        return e;
    if (names->count > names->mask && grow(names) != 0)
        return NULL;
    size_t len = strlen(key);
    e = arena_alloc(names, sizeof *e + len + 1);
    if (!e)
        return NULL;
    e->hash = hash_of(key);
    e->next_suffix = 1;
    e->taken = false;
    memcpy(e->key, key, len + 1);
    e->next = names->buckets[e->hash & names->mask];
    names->buckets[e->hash & names->mask] = e;
    names->count++;
    return e;
}

/* Writes "<name>.part" to out (room for UG_PATH_NAME_MAX + PART_LEN + 1). */
static void part_name(const char *name, char *out) {
    size_t n = strlen(name);
    memcpy(out, name, n);
    memcpy(out + n, UG_PATH_PART_SUFFIX, PART_LEN + 1);
}

/* Returns 1 if `cand` may be handed out, 0 if it is taken, UG_EIO if the
 * directory cannot be checked. */
static int is_free(const ug_names *names, const char *cand) {
    char part[UG_PATH_NAME_MAX + PART_LEN + 1];
    const struct entry *e = lookup(names, cand);
    if (e && e->taken)
        return 0;
    part_name(cand, part);
    e = lookup(names, part);
    if (e && e->taken)
        return 0;
    if (names->dirfd >= 0) {
        struct stat st;
        if (fstatat(names->dirfd, cand, &st, AT_SYMLINK_NOFOLLOW) == 0)
            return 0;
        if (errno != ENOENT)
            return UG_EIO;
    }
    return 1;
}

/* Marks `cand` and "<cand>.part" taken: both or, out of memory, neither. */
static int take(ug_names *names, const char *cand) {
    char part[UG_PATH_NAME_MAX + PART_LEN + 1];
    part_name(cand, part);
    struct entry *e = intern(names, cand);
    struct entry *p = e ? intern(names, part) : NULL;
    if (!p)
        return UG_ENOMEM;
    e->taken = p->taken = true;
    return 0;
}

/* Writes "stem (k).ext" for base[0..n) to out (room for UG_PATH_NAME_MAX +
 * 1), shortening the stem at a character boundary to stay within
 * UG_PATH_NAME_MAX; a base without a short extension gets the suffix at
 * its end. */
static void with_suffix(const char *base, size_t n, unsigned long k,
                        char *out) {
    char suffix[SUFFIX_SIZE];
    size_t suffix_len = (size_t)snprintf(suffix, sizeof suffix, " (%lu)", k);
    size_t ext = ext_start((const unsigned char *)base, n);
    if (n - ext > EXT_MAX)
        ext = n;
    size_t ext_len = n - ext, stem = ext;
    if (stem + suffix_len + ext_len > UG_PATH_NAME_MAX)
        stem = char_boundary((const unsigned char *)base,
                             UG_PATH_NAME_MAX - suffix_len - ext_len);
    memcpy(out, base, stem);
    memcpy(out + stem, suffix, suffix_len);
    memcpy(out + stem + suffix_len, base + ext, ext_len);
    out[stem + suffix_len + ext_len] = '\0';
}

int ug_names_new(int avoid_dirfd, ug_names **out) {
    if (!out)
        return UG_EINVAL;
    *out = NULL;
    ug_names *names = calloc(1, sizeof *names);
    if (!names)
        return UG_ENOMEM;
    names->buckets = calloc(INITIAL_BUCKETS, sizeof *names->buckets);
    if (!names->buckets) {
        free(names);
        return UG_ENOMEM;
    }
    names->mask = INITIAL_BUCKETS - 1;
    names->dirfd = avoid_dirfd >= 0 ? avoid_dirfd : -1;
    *out = names;
    return 0;
}

void ug_names_free(ug_names *names) {
    if (!names)
        return;
    while (names->blocks) {
        struct block *next = names->blocks->next;
        free(names->blocks);
        names->blocks = next;
    }
    free(names->buckets);
    free(names);
}

int ug_names_claim(ug_names *names, const char *name, char *out,
                   size_t size) {
    if (!names || !name || !out || size < UG_PATH_NAME_MAX + 1 ||
        !is_component(name, UG_PATH_NAME_MAX))
        return UG_EINVAL;
    char base[UG_PATH_NAME_MAX + 1], cand[UG_PATH_NAME_MAX + 1];
    size_t n = strlen(name);
    memcpy(base, name, n + 1); /* out may be name */
    memcpy(cand, base, n + 1);
    struct entry *e = intern(names, base);
    if (!e)
        return UG_ENOMEM;
    unsigned long k = e->next_suffix;
    int rc = is_free(names, cand);
    while (rc == 0) {
        with_suffix(base, n, k++, cand);
        rc = is_free(names, cand);
    }
    if (rc < 0)
        return rc;
    e->next_suffix = k;
    rc = take(names, cand);
    if (rc == 0)
        memcpy(out, cand, strlen(cand) + 1);
    return rc;
}

/* ---- files inside a directory ------------------------------------------- */

/* The UG_E... code for a failed file system call. */
static int code_of(int err) {
    switch (err) {
    case EEXIST:
        return UG_EEXIST;
    case ELOOP:   /* O_NOFOLLOW met a symbolic link */
    case EISDIR:
    case ENXIO:   /* a FIFO without a reader */
        return UG_EUNSAFE;
    case ENOMEM:
        return UG_ENOMEM;
    default:
        return UG_EIO;
    }
}

/* Creates `name` afresh.  O_CREAT|O_EXCL neither follows a link nor opens
 * anything that exists, so the result is a new regular file with one link
 * and needs no further checks. */
static int create_new(int dirfd, const char *name, int *fd) {
    *fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                 0666);
    return *fd >= 0 ? 0 : code_of(errno);
}

/* Opens an existing regular file, or creates it, to append to it.  What is
 * found under the name is checked: never a link, never a FIFO or device
 * (O_NONBLOCK keeps a FIFO from blocking the open), never a file with
 * other hard links. */
static int open_append(int dirfd, const char *name, int *fd) {
    int flags = O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
    int rc = UG_EIO;
    int f = openat(dirfd, name, flags, 0666);
    if (f < 0)
        return code_of(errno);
    struct stat st;
    if (fstat(f, &st) != 0)
        goto out;
    if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
        rc = UG_EUNSAFE;
        goto out;
    }
    if (fcntl(f, F_SETFL, O_APPEND) != 0) /* drops O_NONBLOCK */
        goto out;
    *fd = f;
    f = -1;
    rc = 0;
out:
    if (f >= 0) {
        int saved = errno;
        close(f);
        errno = saved;
    }
    return rc;
}

int ug_path_open(int dirfd, const char *name, int mode, int *fd) {
    if (!fd)
        return UG_EINVAL;
    *fd = -1;
    if (!name || !is_component(name, NAME_MAX))
        return UG_EINVAL;
    int rc;
    switch (mode) {
    case UG_PATH_CREATE:
        return create_new(dirfd, name, fd);
    case UG_PATH_REPLACE:
        /* Create first: the usual case (nothing there) costs one call. */
        rc = create_new(dirfd, name, fd);
        if (rc != UG_EEXIST)
            return rc;
        if (unlinkat(dirfd, name, 0) != 0 && errno != ENOENT)
            return code_of(errno);
        return create_new(dirfd, name, fd);
    case UG_PATH_APPEND:
        return open_append(dirfd, name, fd);
    default:
        return UG_EINVAL;
    }
}

int ug_path_rename(int dirfd, const char *from, const char *to, int replace) {
    if (!from || !to || !is_component(from, NAME_MAX) ||
        !is_component(to, NAME_MAX))
        return UG_EINVAL;
    if (replace)
        return renameat(dirfd, from, dirfd, to) == 0 ? 0 : code_of(errno);
    if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return code_of(errno);
    /* The file system cannot rename without replacing: a hard link fails
     * if `to` exists, which is the check we need. */
    if (linkat(dirfd, from, dirfd, to, 0) != 0)
        return code_of(errno);
    return unlinkat(dirfd, from, 0) == 0 ? 0 : code_of(errno);
}
