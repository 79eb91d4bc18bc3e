/* crawl_scope.c - which links a crawl follows: hosts, prefixes, patterns.
 *
 * The scope is fixed before the run: the seeds' host keys ("host:port",
 * from ug_url_host) and directory prefixes, and the include and exclude
 * patterns compiled once with regcomp (POSIX extended, no sub-match
 * reports).  ug__scope_check answers with the reason a URL is not
 * followed, or NULL.  The start hosts are found through an index, however
 * many seeds there are; the prefixes (one per seed) are scanned.
 */
#include "crawl_scope.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "ungil/crawl.h"
#include "ungil/error.h"
#include "ungil/url.h"
#include "url_internal.h"

struct ug__scope {
    int mode;
    char **hosts, **prefixes; /* one of each per seed */
    size_t nseeds, cap;
    ug__key_index by_host;    /* the first seed of each host */
    regex_t *include, *exclude;
    size_t ninclude, nexclude;
};

const char *const UG__OUT_OF_SCOPE = "outside the crawl scope";
const char *const UG__EXCLUDED = "excluded by pattern";

int ug_crawl_check_pattern(const char *pattern, char *message, size_t size) {
    regex_t re;
    if (!pattern)
        return UG_EINVAL;
    int rc = regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB);
    if (rc) {
        if (message && size)
            regerror(rc, &re, message, size);
        return UG_EINVAL;
    }
    regfree(&re);
    if (message && size)
        message[0] = '\0';
    return 0;
}

static int compile_all(const char *const *patterns, size_t n, regex_t **out,
                       size_t *count) {
    if (!n)
        return 0;
    if (!patterns || !(*out = calloc(n, sizeof **out)))
        return patterns ? UG_ENOMEM : UG_EINVAL;
    for (; *count < n; (*count)++)
        if (!patterns[*count] ||
            regcomp(&(*out)[*count], patterns[*count], REG_EXTENDED | REG_NOSUB))
            return UG_EINVAL;
    return 0;
}

int ug__scope_new(int mode, const char *const *include, size_t ninclude,
                  const char *const *exclude, size_t nexclude,
                  ug__scope **out) {
    if (mode != UG_CRAWL_HOST && mode != UG_CRAWL_PREFIX)
        return UG_EINVAL;
    ug__scope *s = calloc(1, sizeof *s);
    if (!s)
        return UG_ENOMEM;
    s->mode = mode;
    int rc = compile_all(include, ninclude, &s->include, &s->ninclude);
    if (!rc)
        rc = compile_all(exclude, nexclude, &s->exclude, &s->nexclude);
    if (rc) {
        ug__scope_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void ug__scope_free(ug__scope *s) {
    if (!s)
        return;
    for (size_t i = 0; i < s->nseeds; i++) {
        free(s->hosts[i]);
        free(s->prefixes[i]);
    }
    free(s->hosts);
    free(s->prefixes);
    ug__key_index_free(&s->by_host);
    for (size_t i = 0; i < s->ninclude; i++)
        regfree(&s->include[i]);
    for (size_t i = 0; i < s->nexclude; i++)
        regfree(&s->exclude[i]);
    free(s->include);
    free(s->exclude);
    free(s);
}

/* The seed's directory: everything up to the last '/' of its path (the
 * query is not part of it).  `url` is normalised, so it has a path. */
static char *prefix_of(const char *url) {
    const char *path = strstr(url, "://");
    path = path ? strchr(path + 3, '/') : NULL;
    if (!path)
        return NULL;
    size_t end = strcspn(path, "?#");
    size_t n = (size_t)(path - url);
    for (size_t i = 0; i < end; i++)
        if (path[i] == '/')
            n = (size_t)(path - url) + i + 1;
    return strndup(url, n);
}

static const char *seed_host(const void *hosts, size_t i) {
    return ((char *const *)hosts)[i];
}

int ug__scope_add_seed(ug__scope *s, const char *url) {
    char *host = NULL, *prefix = NULL;
    int rc = ug_url_host(url, &host);
    if (rc)
        return rc;
    if (!(prefix = prefix_of(url))) {
        free(host);
        return UG_EURL;
    }
    if (s->nseeds == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 4;
        char **h = realloc(s->hosts, cap * sizeof *h);
        if (h)
            s->hosts = h;
        char **p = h ? realloc(s->prefixes, cap * sizeof *p) : NULL;
        if (p)
            s->prefixes = p;
        if (!h || !p) {
            free(host);
            free(prefix);
            return UG_ENOMEM;
        }
        s->cap = cap;
    }
    s->hosts[s->nseeds] = host;
    s->prefixes[s->nseeds] = prefix;
    if (ug__key_index_find(&s->by_host, host, seed_host, s->hosts) < 0 &&
        ug__key_index_add(&s->by_host, s->nseeds, seed_host, s->hosts)) {
        free(host);
        free(prefix);
        return UG_ENOMEM;
    }
    s->nseeds++;
    return 0;
}

const char *ug__scope_check(const ug__scope *s, const char *url) {
    int inside = 0;
    if (s->mode == UG_CRAWL_PREFIX) {
        for (size_t i = 0; i < s->nseeds && !inside; i++)
            inside = !strncmp(url, s->prefixes[i], strlen(s->prefixes[i]));
    } else {
        char *host = NULL;
        if (ug_url_host(url, &host))
            return UG__OUT_OF_SCOPE;
        inside =
            ug__key_index_find(&s->by_host, host, seed_host, s->hosts) >= 0;
        free(host);
    }
    if (!inside)
        return UG__OUT_OF_SCOPE;
    for (size_t i = 0; i < s->nexclude; i++)
        if (!regexec(&s->exclude[i], url, 0, NULL, 0))
            return UG__EXCLUDED;
    for (size_t i = 0; i < s->ninclude; i++)
        if (!regexec(&s->include[i], url, 0, NULL, 0))
            return NULL;
    return s->ninclude ? UG__EXCLUDED : NULL;
}
