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

#define REQUIRE(cond)                                                         \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "fuzz_path: broken promise: %s (line %d)\n",      \
                    #cond, __LINE__);                                         \
            abort();                                                          \
        }                                                                     \
    } while (0)

/* Decodes one strict UTF-8 character at s; returns its length, 0 if the
 * bytes are not well-formed. */
static size_t decode_utf8(const unsigned char *s, uint32_t *cp) {
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 0;
    if (!len || s[0] > 0xf4)
        return 0;
    uint32_t c = s[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3f);
    }
    static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < least[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

static bool is_bidi_or_invisible(uint32_t c) {
    return c == 0x061c || c == 0x200b || c == 0x200e || c == 0x200f ||
           (c >= 0x2028 && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) ||
           c == 0xfeff || c == 0x2044 || c == 0x2215 || c == 0x29f8 ||
           c == 0x29f9 || c == 0xff0f || c == 0xff3c;
}

static bool is_device(const char *name) {
    static const char *const devices[] = {
        "con", "prn", "aux", "nul", "conin$", "conout$",
        "com0", "com1", "com2", "com3", "com4", "com5", "com6", "com7",
        "com8", "com9", "lpt0", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5",
        "lpt6", "lpt7", "lpt8", "lpt9", "com\xc2\xb9", "com\xc2\xb2",
        "com\xc2\xb3", "lpt\xc2\xb9", "lpt\xc2\xb2", "lpt\xc2\xb3"};
    char stem[UG_PATH_NAME_MAX + 1];
    size_t n = 0;
    while (name[n] && name[n] != '.') {
        char c = name[n];
        stem[n++] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
    }
    while (n > 0 && stem[n - 1] == ' ')
        n--;
    stem[n] = '\0';
    for (size_t i = 0; i < sizeof devices / sizeof *devices; i++)
        if (!strcmp(stem, devices[i]))
            return true;
    return false;
}

static void check_name(const char *name) {
    size_t n = strnlen(name, UG_PATH_NAME_MAX + 1);
    REQUIRE(n >= 1 && n <= UG_PATH_NAME_MAX);
    REQUIRE(n + strlen(UG_PATH_PART_SUFFIX) <= 255);
    REQUIRE(strcmp(name, ".") != 0 && strcmp(name, "..") != 0);
    REQUIRE(name[0] != '.' && name[0] != ' ');
    REQUIRE(name[n - 1] != '.' && name[n - 1] != ' ');
    const unsigned char *s = (const unsigned char *)name;
    for (size_t i = 0; i < n;) {
        uint32_t c = 0;
        size_t k = decode_utf8(s + i, &c);
        REQUIRE(k > 0);
        REQUIRE(c >= 0x20 && !(c >= 0x7f && c <= 0x9f));
        REQUIRE(c >= 0x80 || !strchr("/\\:*?\"<>|", (int)c));
        REQUIRE(!is_bidi_or_invisible(c));
        i += k;
    }
    REQUIRE(!is_device(name));
    char again[UG_PATH_NAME_MAX + 1];
    REQUIRE(ug_path_sanitize(name, again, sizeof again) == 0);
    REQUIRE(!strcmp(again, name));
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
