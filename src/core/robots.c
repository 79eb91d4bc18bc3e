/* robots.c - robots.txt rules (ungil/robots.h, RFC 9309).
 *
 * Design.  One pass over the lines collects two rule lists: the rules of
 * the groups that name our product token and those of the "*" groups.  A
 * group is a run of user-agent lines followed by rule lines; a user-agent
 * line after a rule line starts the next group, so rules before the first
 * user-agent line belong to nobody.  When any group names us, its rules
 * (all such groups merged) are kept, even if there are none; otherwise the
 * "*" rules are kept.
 *
 * Patterns and paths are compared in one percent-encoding form
 * (ug__url_pct_normalize, as for crawl URLs).  A pattern is matched with
 * the classic greedy wildcard algorithm, backtracking to the last '*':
 * linear for one star, O(pattern x path) at worst, no allocation.  An
 * unanchored pattern matches a prefix, which is the same as a match of the
 * pattern followed by '*'.
 *
 * Known limits: "Allow: /dir/index.html" is not widened to "/dir/" (Google
 * does this); the Sitemap lines are not kept.
 */
#include "ungil/robots.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ungil/error.h"
#include "url_internal.h"

enum mode { RULES, ALLOW_ALL, DISALLOW_ALL };

typedef struct {
    char *pattern;   /* normalised, without a final '$' */
    size_t priority; /* length of the pattern as written, '$' included */
    bool allow, anchored;
} rule;

typedef struct {
    rule *items;
    size_t n, cap;
    double delay;
} rule_list;

struct ug_robots {
    enum mode mode;
    rule_list rules;
};

/* ---- lines --------------------------------------------------------------- */

static bool is_blank(unsigned c) {
    return c == ' ' || c == '\t' || c == '\v' || c == '\f';
}

static bool is_token_char(unsigned c) {
    return ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c == '-' || c == '_';
}

/* The length of the product token at the start of s (n bytes). */
static size_t token_length(const char *s, size_t n) {
    size_t i = 0;
    while (i < n && is_token_char((unsigned char)s[i]))
        i++;
    return i;
}

static bool equal_nocase(const char *a, size_t n, const char *b, size_t m) {
    if (n != m)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned x = (unsigned char)a[i], y = (unsigned char)b[i];
        if ((x >= 'A' && x <= 'Z' ? x | 0x20 : x) !=
            (y >= 'A' && y <= 'Z' ? y | 0x20 : y))
            return false;
    }
    return true;
}

static bool key_is(const char *key, size_t n, const char *const *names) {
    for (; *names; names++)
        if (equal_nocase(key, n, *names, strlen(*names)))
            return true;
    return false;
}

static const char *const USER_AGENT[] = {"user-agent", "useragent",
                                         "user agent", NULL};
static const char *const ALLOW[] = {"allow", NULL};
static const char *const DISALLOW[] = {"disallow", "dissallow", "dissalow",
                                       "disalow", "diasllow", "disallaw",
                                       NULL};
static const char *const CRAWL_DELAY[] = {"crawl-delay", "crawldelay",
                                          "crawl delay", NULL};

/* Splits the line s (n bytes, comment removed) into a trimmed key and
 * value.  "key: value", or "key value" when there is no colon and the
 * value is one word.  Returns false for lines that are neither. */
static bool split_line(const char *s, size_t n, const char **key,
                       size_t *key_len, const char **value,
                       size_t *value_len) {
    while (n && is_blank((unsigned char)s[0]))
        s++, n--;
    while (n && is_blank((unsigned char)s[n - 1]))
        n--;
    const char *colon = memchr(s, ':', n);
    size_t k, v;
    if (colon) {
        k = (size_t)(colon - s);
        v = k + 1;
    } else {
        /* "user agent" and "crawl delay" have a blank inside the key */
        k = 0;
        while (k < n && !is_blank((unsigned char)s[k]))
            k++;
        if (k < n && (key_is(s, k, (const char *const[]){"user", "crawl",
                                                         NULL}))) {
            while (k < n && is_blank((unsigned char)s[k]))
                k++;
            while (k < n && !is_blank((unsigned char)s[k]))
                k++;
        }
        v = k;
        for (size_t i = k; i < n && is_blank((unsigned char)s[i]); i++)
            v = i + 1;
        if (v == k || v >= n)
            return false;
        for (size_t i = v; i < n; i++)
            if (is_blank((unsigned char)s[i]))
                return false;
    }
    while (k && is_blank((unsigned char)s[k - 1]))
        k--;
    while (v < n && is_blank((unsigned char)s[v]))
        v++;
    if (k == 0)
        return false;
    *key = s;
    *key_len = k;
    *value = s + v;
    *value_len = n - v;
    return true;
}

/* A non-negative decimal number ("10", "0.5", "2."), or -1. */
static double parse_delay(const char *s, size_t n) {
    double value = 0, scale = 1;
    bool digits = false, dot = false;
    for (size_t i = 0; i < n; i++) {
        unsigned c = (unsigned char)s[i];
        if (c >= '0' && c <= '9') {
            digits = true;
            if (dot)
                value += (c - '0') * (scale /= 10);
            else
                value = value * 10 + (c - '0');
        } else if (c == '.' && !dot) {
            dot = true;
        } else {
            return -1;
        }
    }
    return digits ? value : -1;
}

/* ---- rules --------------------------------------------------------------- */

static int add_rule(rule_list *l, bool allow, const char *s, size_t n) {
    if (n == 0)
        return 0; /* an empty rule matches nothing */
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        rule *items = realloc(l->items, cap * sizeof *items);
        if (!items)
            return UG_ENOMEM;
        l->items = items;
        l->cap = cap;
    }
    bool anchored = s[n - 1] == '$';
    char *pattern = malloc(3 * n + 1);
    if (!pattern)
        return UG_ENOMEM;
    size_t len = ug__url_pct_normalize(s, n - anchored, pattern);
    l->items[l->n++] = (rule){pattern, len + anchored, allow, anchored};
    return 0;
}

static void list_free(rule_list *l) {
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i].pattern);
    free(l->items);
}

/* Does `pattern` ('*' wildcards) match all of `path` (anchored) or a
 * prefix of it? */
static bool matches(const char *pattern, const char *path, bool anchored) {
    const char *p = pattern, *s = path, *star = NULL, *mark = NULL;
    while (*s) {
        if (!anchored && !*p)
            return true;
        if (*p == '*') {
            star = p++;
            mark = s;
        } else if (*p && *p == *s) {
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++mark;
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return !*p;
}

/* ---- public functions ---------------------------------------------------- */

static int make(enum mode mode, ug_robots **out) {
    ug_robots *r = calloc(1, sizeof *r);
    if (!r)
        return UG_ENOMEM;
    r->mode = mode;
    r->rules.delay = -1;
    *out = r;
    return 0;
}

/* Parses robots.txt for one crawler (see robots.h). */
int ug_robots_parse(const char *text, size_t n, const char *user_agent,
                    ug_robots **out) {
    if (!user_agent || !out || (!text && n))
        return UG_EINVAL;
    size_t me_len = token_length(user_agent, strlen(user_agent));
    if (me_len == 0)
        return UG_EINVAL;
    rule_list mine = {.delay = -1}, global = {.delay = -1};
    bool named = false;   /* some group names us */
    bool in_mine = false, in_global = false, after_rules = false;
    int rc = 0;
    if (n > UG_ROBOTS_MAX_BYTES)
        n = UG_ROBOTS_MAX_BYTES;
    size_t i = n >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    while (i < n && rc == 0) {
        size_t end = i;
        while (end < n && text[end] != '\n' && text[end] != '\r')
            end++;
        const char *line = text + i;
        const char *hash = memchr(line, '#', end - i);
        size_t len = hash ? (size_t)(hash - line) : end - i;
        i = end + (end < n && text[end] == '\r' && end + 1 < n &&
                   text[end + 1] == '\n') + 1;
        const char *key, *value;
        size_t key_len, value_len;
        if (!split_line(line, len, &key, &key_len, &value, &value_len))
            continue;
        if (key_is(key, key_len, USER_AGENT)) {
            if (after_rules)
                in_mine = in_global = after_rules = false;
            size_t t = token_length(value, value_len);
            if (value_len && value[0] == '*') {
                in_global = true;
            } else if (t && equal_nocase(value, t, user_agent, me_len)) {
                in_mine = named = true;
            }
            continue;
        }
        bool allow = key_is(key, key_len, ALLOW);
        bool delay = key_is(key, key_len, CRAWL_DELAY);
        if (!allow && !delay && !key_is(key, key_len, DISALLOW))
            continue; /* sitemap and unknown lines end nothing */
        after_rules = true;
        rule_list *lists[2] = {in_mine ? &mine : NULL,
                               in_global ? &global : NULL};
        for (int k = 0; k < 2 && rc == 0; k++) {
            if (!lists[k])
                continue;
            if (!delay) {
                rc = add_rule(lists[k], allow, value, value_len);
            } else if (lists[k]->delay < 0) {
                lists[k]->delay = parse_delay(value, value_len);
            }
        }
    }
    if (rc == 0)
        rc = make(RULES, out);
    if (rc == 0) {
        (*out)->rules = named ? mine : global;
        if (named)
            mine = (rule_list){0};
        else
            global = (rule_list){0};
    }
    list_free(&mine);
    list_free(&global);
    return rc;
}

/* Rules for a robots.txt that was not a 2xx (see robots.h). */
int ug_robots_for_status(int http_status, ug_robots **out) {
    if (!out || (http_status >= 200 && http_status <= 299))
        return UG_EINVAL;
    bool allow = http_status >= 300 && http_status <= 499 &&
                 http_status != 429;
    return make(allow ? ALLOW_ALL : DISALLOW_ALL, out);
}

/* Whether a path may be fetched (see robots.h). */
int ug_robots_allowed(const ug_robots *r, const char *path_and_query) {
    if (!r || r->mode == ALLOW_ALL)
        return 1;
    if (!path_and_query || !path_and_query[0])
        path_and_query = "/";
    size_t n = strlen(path_and_query);
    char small[512], *path = 3 * n + 1 <= sizeof small ? small
                                                         : malloc(3 * n + 1);
    if (!path)
        return 0; /* no memory: the safe answer */
    ug__url_pct_normalize(path_and_query, n, path);
    int allowed = 1;
    if (strcmp(path, "/robots.txt") == 0) {
        allowed = 1;
    } else if (r->mode == DISALLOW_ALL) {
        allowed = 0;
    } else {
        size_t best = 0;
        for (size_t i = 0; i < r->rules.n; i++) {
            const rule *x = &r->rules.items[i];
            if (x->priority < best || (x->priority == best && !x->allow))
                continue;
            if (matches(x->pattern, path, x->anchored)) {
                if (x->priority > best || x->allow)
                    allowed = x->allow;
                best = x->priority;
            }
        }
    }
    if (path != small)
        free(path);
    return allowed;
}

/* The Crawl-delay in seconds, < 0 when none (see robots.h). */
double ug_robots_crawl_delay(const ug_robots *r) {
    return r && r->mode == RULES ? r->rules.delay : -1;
}

/* Frees the rules (see robots.h). */
void ug_robots_free(ug_robots *r) {
    if (!r)
        return;
    list_free(&r->rules);
    free(r);
}
