/* url_internal.h - percent-encoding normalisation shared by url.c and
 * robots.c (robots.txt rules and paths are compared in the same form as
 * crawl URLs).  Internal to libungil. */
#ifndef UNGIL_URL_INTERNAL_H
#define UNGIL_URL_INTERNAL_H

#include <stddef.h>

/* Writes the `n` bytes at `s` with percent-encoding normalised (escapes of
 * unreserved characters decoded, other escapes' hex upper-case, bytes that
 * may not appear literally in a URL encoded as %XX) to `out`, which must
 * have room for 3 * n + 1 bytes.  Returns the length written (a NUL
 * follows).  `keep` lists extra ASCII characters written as they are even
 * if they would be encoded ("" for none). */
size_t ug__url_pct_normalize(const char *s, size_t n, const char *keep,
                             char *out);

#endif
