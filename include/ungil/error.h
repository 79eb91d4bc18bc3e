/* ungil/error.h - the one error space of libungil.
 *
 * Every fallible function returns 0 on success or a negative UG_E... code.
 * The codes, their names and their messages come from the single X-macro
 * table below, so the three can never drift apart.  Per-item failures (a
 * failed URL, a corrupt image) are data inside results, not these codes.
 *
 * Thread-safety: every function here is thread-safe and returns static
 * strings that the caller must not free.
 */
#ifndef UNGIL_ERROR_H
#define UNGIL_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, message) */
#define UG_ERRORS(X)                                                          \
    X(UG_ENOMEM, -1, "out of memory")                                         \
    X(UG_EINVAL, -2, "invalid argument")                                      \
    X(UG_EFULL, -3, "the task queue is full")                                 \
    X(UG_ESHUTDOWN, -4, "the pool is shut down")                              \
    X(UG_ETIMEDOUT, -5, "timed out")                                          \
    X(UG_ECANCELED, -6, "cancelled")                                          \
    X(UG_EBUSY, -7, "already running or finished")                            \
    X(UG_ETHREAD, -8, "could not start a thread")                             \
    X(UG_EIO, -9, "input/output error")                                       \
    X(UG_ERANGE, -10, "value out of range")                                   \
    X(UG_EFAILED, -11, "the task failed")                                     \
    X(UG_EURL, -12, "malformed or unsupported URL")                           \
    X(UG_ENET, -13, "network error")                                          \
    X(UG_EHTTP, -14, "HTTP error status")                                     \
    X(UG_ETOOBIG, -15, "body larger than the size limit")                     \
    X(UG_EREDIRECT, -16, "too many or forbidden redirects")                   \
    X(UG_EPROTOCOL, -17, "malformed response")                                \
    X(UG_ECHECKSUM, -18, "checksum mismatch")                                 \
    X(UG_ENONAME, -19, "no usable file name")                                 \
    X(UG_EEXIST, -20, "the file already exists")                              \
    X(UG_EUNSAFE, -21, "refused: a link or special file is in the way")       \
    X(UG_EFORMAT, -22, "not a supported image format")                        \
    X(UG_ECORRUPT, -23, "corrupt or truncated image")                         \
    X(UG_EBOMB, -24, "image larger than the pixel limit")                     \
    X(UG_EMODE, -25, "not supported for this image mode")                     \
    X(UG_EROBOTS, -26, "disallowed by robots.txt")                            \
    X(UG_ESCOPE, -27, "outside the crawl scope")

enum ug_error {
#define UG__ERROR_ENUM(name, value, message) name = value,
    UG_ERRORS(UG__ERROR_ENUM)
#undef UG__ERROR_ENUM
};

/* A sentence explaining `code` ("out of memory"); "success" for 0 and
 * "unknown error" for a code outside the table. */
const char *ug_strerror(int code);

/* The symbolic name of `code` ("UG_ENOMEM"); "UG_OK" for 0 and
 * "UG_EUNKNOWN" for a code outside the table. */
const char *ug_err_name(int code);

#ifdef __cplusplus
}
#endif

#endif
