/* test_error.c - the error table of ungil/error.h.
 *
 * Every code must have its own name and message, the names must match the
 * enum identifiers, 0 must read as success and anything outside the table
 * as unknown.  The codes are walked through the same X-macro the library
 * uses, so a code added to the table is tested without editing this file.
 */
#include "check.h"

#include "ungil/error.h"

#define ROW(name, value, message) {name, #name, message},
static const struct {
    int code;
    const char *name;
    const char *message;
} table[] = {UG_ERRORS(ROW)};
#undef ROW

enum { NCODES = sizeof table / sizeof *table };

static void test_names_and_messages(void) {
    for (int i = 0; i < NCODES; i++) {
        CHECK_INT(table[i].code, <, 0);
        CHECK_STR_EQ(ug_err_name(table[i].code), table[i].name);
        CHECK_STR_EQ(ug_strerror(table[i].code), table[i].message);
        CHECK_INT(strlen(ug_strerror(table[i].code)), >, 0);
    }
}

static void test_all_distinct(void) {
    for (int i = 0; i < NCODES; i++) {
        for (int j = i + 1; j < NCODES; j++) {
            CHECK_INT(table[i].code, !=, table[j].code);
            CHECK_STR_NE(table[i].name, table[j].name);
            CHECK_STR_NE(table[i].message, table[j].message);
        }
    }
}

static void test_known_values(void) {
    /* The binding and the CLI rely on these exact spellings. */
    CHECK_STR_EQ(ug_err_name(UG_ENOMEM), "UG_ENOMEM");
    CHECK_STR_EQ(ug_strerror(UG_ENOMEM), "out of memory");
    CHECK_STR_EQ(ug_err_name(UG_ETIMEDOUT), "UG_ETIMEDOUT");
    CHECK_STR_EQ(ug_err_name(UG_ECANCELED), "UG_ECANCELED");
    CHECK_INT_EQ(UG_ENOMEM, -1);
    CHECK_INT(NCODES, >=, 11);
}

static void test_success_and_unknown(void) {
    CHECK_STR_EQ(ug_err_name(0), "UG_OK");
    CHECK_STR_EQ(ug_strerror(0), "success");
    const int unknown[] = {1, 42, -1000, -(NCODES + 1), -2147483647 - 1,
                           2147483647};
    for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++) {
        CHECK_STR_EQ(ug_err_name(unknown[i]), "UG_EUNKNOWN");
        CHECK_STR_EQ(ug_strerror(unknown[i]), "unknown error");
    }
    /* Neither 0 nor unknown may collide with a real code. */
    for (int i = 0; i < NCODES; i++) {
        CHECK_STR_NE(ug_err_name(table[i].code), "UG_OK");
        CHECK_STR_NE(ug_err_name(table[i].code), "UG_EUNKNOWN");
        CHECK_STR_NE(ug_strerror(table[i].code), "success");
        CHECK_STR_NE(ug_strerror(table[i].code), "unknown error");
    }
}

int main(int argc, char **argv) {
    static const check_test tests[] = {
        CHECK_TEST(test_names_and_messages),
        CHECK_TEST(test_all_distinct),
        CHECK_TEST(test_known_values),
        CHECK_TEST(test_success_and_unknown),
    };
    return check_main(argc, argv, tests, sizeof tests / sizeof *tests);
}
