/* error.c - messages and names for the UG_E... codes of ungil/error.h.
 * Both functions are generated from the one X-macro table. */
#include "ungil/error.h"

const char *ug_strerror(int code) {
    switch (code) {
    case 0:
        return "success";
#define UG__ERROR_MESSAGE(name, value, message)                               \
    case value:                                                               \
        return message;
        UG_ERRORS(UG__ERROR_MESSAGE)
#undef UG__ERROR_MESSAGE
    }
    return "unknown error";
}

const char *ug_err_name(int code) {
    switch (code) {
    case 0:
        return "UG_OK";
#define UG__ERROR_NAME(name, value, message)                                  \
    case value:                                                               \
        return #name;
        UG_ERRORS(UG__ERROR_NAME)
#undef UG__ERROR_NAME
    }
    return "UG_EUNKNOWN";
}
