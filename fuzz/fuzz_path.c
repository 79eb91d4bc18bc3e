/* fuzz_path.c - libFuzzer harness for the file-name sanitiser (ungil/path.h).
 *
 * Each input, cut at its first NUL (the API takes C strings), is read three
 * ways: as a URL, as a Content-Disposition value and as a raw name.  Every
 * name that comes back is checked against the header's promises by code of
 * this file, written apart from the library's: non-empty, at most
 * UG_PATH_NAME_MAX bytes, not "." or "..", no '/', '\', control character
 * or Windows-forbidden character, well-formed UTF-8 without C1 controls or
 * bidirectional controls, no leading or trailing dot or space, no Windows
 * device name, and unchanged by a second sanitising.  Each name is then
 * claimed twice in a fresh name set: the first claim must return it as it
 * is, the second a different name that keeps the same promises, and
 * "<name>.part" must no longer be available as it is.
 *
 * A broken promise prints which one and aborts, which libFuzzer reports as
 * a crash and saves the input.  `make fuzz` builds and runs it.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ungil/error.h"
#include "ungil/path.h"

#include "name_rules.h"

#define REQUIRE(cond)                                                         \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "fuzz_path: broken promise: %s (line %d)\n",      \
                    #cond, __LINE__);                                         \
            abort();                                                          \
        }                                                                     \
    } while (0)

static void check_name(const char *name) {
    const char *problem = name_problem(name);
    if (problem) {
        fprintf(stderr, "fuzz_path: broken promise: %s\n", problem);
        abort();
    }
}

/* Claims `name` twice in a fresh set, and its ".part" once. */
static void check_claims(const char *name) {
    ug_names *names = NULL;
    char first[UG_PATH_NAME_MAX + 1], second[UG_PATH_NAME_MAX + 1];
    char part[UG_PATH_NAME_MAX + 16], third[UG_PATH_NAME_MAX + 1];
    REQUIRE(ug_names_new(-1, &names) == 0);
    REQUIRE(ug_names_claim(names, name, first, sizeof first) == 0);
    REQUIRE(!strcmp(first, name));
    REQUIRE(ug_names_claim(names, name, second, sizeof second) == 0);
    REQUIRE(strcmp(second, first) != 0);
    check_name(second);
    snprintf(part, sizeof part, "%s%s", name, UG_PATH_PART_SUFFIX);
    if (strlen(part) <= UG_PATH_NAME_MAX) {
        REQUIRE(ug_names_claim(names, part, third, sizeof third) == 0);
        REQUIRE(strcmp(third, part) != 0);
        REQUIRE(strcmp(third, second) != 0);
        check_name(third);
    }
    ug_names_free(names);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    char name[UG_PATH_NAME_MAX + 1];
    REQUIRE(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';

    REQUIRE(ug_path_from_url(text, name, sizeof name) == 0);
    check_name(name);
    check_claims(name);

    int rc = ug_path_from_content_disposition(text, name, sizeof name);
    REQUIRE(rc == 0 || rc == UG_ENONAME);
    if (rc == 0) {
        check_name(name);
        check_claims(name);
    } else {
        REQUIRE(name[0] == '\0');
    }

    rc = ug_path_sanitize(text, name, sizeof name);
    REQUIRE(rc == 0 || rc == UG_ENONAME);
    if (rc == 0)
        check_name(name);
    else
        REQUIRE(name[0] == '\0');

    free(text);
    return 0;
}
