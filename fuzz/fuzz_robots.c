/* fuzz_robots.c - libFuzzer harness for robots.txt rules
 * (ungil/robots.h).
 *
 * The input's first line is a path to test; the rest is a robots.txt.  It
 * is parsed for two crawler names; for each, the path, a few fixed paths
 * and "/robots.txt" are matched.  Verdicts must be 0 or 1, repeatable,
 * the same for a path and its percent-normalised spelling (the library's
 * own normaliser, whose output the URL tests check), and
 * "/robots.txt" must always be allowed; the crawl delay must be negative
 * or a finite number.  A broken promise aborts.  `make fuzz-robots`
 * builds and runs it.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ungil/error.h"
#include "ungil/robots.h"
#include "ungil/url.h"

#include "../src/core/url_internal.h"

#define REQUIRE(cond)                                                         \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "fuzz_robots: broken promise: %s (line %d)\n",    \
                    #cond, __LINE__);                                         \
            abort();                                                          \
        }                                                                     \
    } while (0)

static void check_path(const ug_robots *r, const char *path) {
    int verdict = ug_robots_allowed(r, path);
    REQUIRE(verdict == 0 || verdict == 1);
    REQUIRE(ug_robots_allowed(r, path) == verdict);
    /* percent-encoding spellings are equivalent */
    size_t n = strlen(path);
    char *normal = malloc(3 * n + 1);
    REQUIRE(normal);
    ug__url_pct_normalize(path, n, normal);
    if (ug_robots_allowed(r, normal) != verdict) {
        fprintf(stderr, "fuzz_robots: \"%s\" and \"%s\" differ\n", path,
                normal);
        abort();
    }
    free(normal);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    const char *nl = memchr(text, '\n', size);
    size_t path_len = nl ? (size_t)(nl - text) : 0;
    char *path = malloc(path_len + 1);
    if (!path)
        return 0;
    memcpy(path, text, path_len);
    path[path_len] = '\0';
    const char *body = nl ? nl + 1 : text;
    size_t body_len = size - (size_t)(body - text);
    static const char *const agents[] = {"ungil", "Googlebot/2.1"};
    static const char *const fixed[] = {"/", "/a", "/a/b?c=d", "/%7e", "",
                                        "/index.php$"};
    for (int a = 0; a < 2; a++) {
        ug_robots *r = NULL;
        int rc = ug_robots_parse(body, body_len, agents[a], &r);
        REQUIRE(rc == 0 || rc == UG_ENOMEM);
        if (rc)
            continue;
        check_path(r, path);
        for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
            check_path(r, fixed[i]);
        REQUIRE(ug_robots_allowed(r, "/robots.txt") == 1);
        double delay = ug_robots_crawl_delay(r);
        REQUIRE(delay < 0 || isfinite(delay));
        ug_robots_free(r);
    }
    free(path);
    return 0;
}
