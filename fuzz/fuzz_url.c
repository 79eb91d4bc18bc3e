/* fuzz_url.c - libFuzzer harness for URL resolution (ungil/url.h).
 *
 * The input is cut at its first newline into a base and a reference (NUL
 * bytes end each, as the API takes C strings).  The reference is resolved
 * against the base, against the base's own normalised form and alone.
 * Every URL that comes back must: normalise to itself (idempotence), hold
 * only printable ASCII without '#' or a space, start with "http://" or
 * "https://", and give a host key, a path starting with '/' and a
 * robots.txt URL.  A broken promise aborts, which libFuzzer reports as a
 * crash.  `make fuzz-url` builds and runs it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ungil/error.h"
#include "ungil/url.h"

#define REQUIRE(cond)                                                         \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "fuzz_url: broken promise: %s (line %d)\n",       \
                    #cond, __LINE__);                                         \
            abort();                                                          \
        }                                                                     \
    } while (0)

static void check_url(const char *url) {
    REQUIRE(strncmp(url, "http://", 7) == 0 ||
            strncmp(url, "https://", 8) == 0);
    for (const char *p = url; *p; p++)
        REQUIRE(*p > 0x20 && *p < 0x7f && *p != '#');
    char *again = NULL, *host = NULL, *path = NULL, *robots = NULL;
    REQUIRE(ug_url_normalize(url, &again) == 0);
    if (strcmp(again, url) != 0) {
        fprintf(stderr, "fuzz_url: not idempotent:\n  %s\n  %s\n", url,
                again);
        abort();
    }
    REQUIRE(ug_url_host(url, &host) == 0 && strchr(host, ':'));
    REQUIRE(ug_url_path_query(url, &path) == 0 && path[0] == '/');
    REQUIRE(ug_url_robots(url, &robots) == 0);
    REQUIRE(strlen(robots) > strlen("/robots.txt"));
    free(again);
    free(host);
    free(path);
    free(robots);
}

/* Resolves and checks; returns the result (caller frees) or NULL. */
static char *resolve(const char *base, const char *ref) {
    char *out = NULL;
    int rc = ug_url_resolve(base, ref, &out);
    REQUIRE(rc == 0 || rc == UG_EURL || rc == UG_ENOMEM);
    REQUIRE((rc == 0) == (out != NULL));
    if (out)
        check_url(out);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *nl = memchr(text, '\n', size);
    const char *base = text, *ref = "";
    if (nl) {
        *nl = '\0';
        ref = nl + 1;
    }
    free(resolve(base, ref));
    char *clean_base = resolve(NULL, base);
    if (clean_base)
        free(resolve(clean_base, ref));
    free(clean_base);
    free(resolve(NULL, ref));
    free(text);
    return 0;
}
