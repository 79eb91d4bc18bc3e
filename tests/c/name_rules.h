/* name_rules.h - an independent check of what ungil/path.h promises about
 * every name it produces, shared by tests/c/test_path.c and the fuzz
 * harness fuzz/fuzz_path.c.  Written apart from path.c on purpose: it
 * restates the header's rules instead of calling the code under test
 * (except to check that sanitising twice changes nothing).
 */
#ifndef UNGIL_TEST_NAME_RULES_H
#define UNGIL_TEST_NAME_RULES_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "ungil/path.h"

/* Decodes one strict UTF-8 character; returns its length, 0 if invalid. */
static size_t utf8_char(const unsigned char *s, uint32_t *cp) {
    static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
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
    if (c < least[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

/* The bidirectional controls, invisible characters and slash look-alikes
 * that path.h promises to replace. */
static bool is_bidi_or_invisible(uint32_t c) {
    return c == 0x061c || c == 0x200b || c == 0x200e || c == 0x200f ||
           (c >= 0x2028 && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) ||
           c == 0xfeff || c == 0x2044 || c == 0x2215 || c == 0x29f8 ||
           c == 0x29f9 || c == 0xff0f || c == 0xff3c;
}

static bool is_windows_device(const char *name) {
    static const char *const devices[] = {
        "con", "prn", "aux", "nul", "conin$", "conout$",
        "com0", "com1", "com2", "com3", "com4", "com5", "com6", "com7",
        "com8", "com9", "lpt0", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5",
        "lpt6", "lpt7", "lpt8", "lpt9", "com\xc2\xb9", "com\xc2\xb2",
        "com\xc2\xb3", "lpt\xc2\xb9", "lpt\xc2\xb2", "lpt\xc2\xb3"};
    char stem[UG_PATH_NAME_MAX + 1];
    size_t n = 0;
    while (name[n] && name[n] != '.' && n < UG_PATH_NAME_MAX) {
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

/* Which promise of the header `name` breaks, or NULL if none. */
static const char *name_problem(const char *name) {
    size_t n = strnlen(name, UG_PATH_NAME_MAX + 1);
    if (n == 0)
        return "empty";
    if (n > UG_PATH_NAME_MAX)
        return "too long";
    if (n + strlen(UG_PATH_PART_SUFFIX) > 255)
        return "no room for .part";
    if (!strcmp(name, ".") || !strcmp(name, ".."))
        return "dot name";
    if (name[0] == '.' || name[0] == ' ')
        return "leading dot or space";
    if (name[n - 1] == '.' || name[n - 1] == ' ')
        return "trailing dot or space";
    const unsigned char *s = (const unsigned char *)name;
    for (size_t i = 0; i < n;) {
        uint32_t c = 0;
        size_t k = utf8_char(s + i, &c);
        if (!k)
            return "invalid UTF-8";
        if (c < 0x20 || (c >= 0x7f && c <= 0x9f))
            return "control character";
        if (c < 0x80 && strchr("/\\:*?\"<>|", (int)c))
            return "forbidden character";
        if (is_bidi_or_invisible(c))
            return "bidi control, invisible or slash look-alike";
        i += k;
    }
    if (is_windows_device(name))
        return "Windows device name";
    char again[UG_PATH_NAME_MAX + 1];
    if (ug_path_sanitize(name, again, sizeof again) != 0 ||
        strcmp(again, name) != 0)
        return "changed by a second sanitising";
    return NULL;
}

#endif
