/* url_internal.h - what url.c shares inside libungil: the
 * percent-encoding normalisation (robots.c compares robots.txt rules and
 * paths in the same form as crawl URLs) and a parsed base URL that many
 * references are resolved against (html.c, one per page), which saves
 * parsing the base again for every link. */
#ifndef UNGIL_URL_INTERNAL_H
#define UNGIL_URL_INTERNAL_H

#include <stddef.h>

/* Writes the `n` bytes at `s` with percent-encoding normalised (escapes of
 * unreserved characters decoded, other escapes' hex upper-case, bytes that
 * may not appear literally in a URL encoded as %XX) to `out`, which must
 * have room for 3 * n + 1 bytes.  Returns the length written (a NUL
 * follows).  Thread-safe. */
size_t ug__url_pct_normalize(const char *s, size_t n, char *out);

typedef struct ug__url_base ug__url_base;

/* Parses the absolute http(s) URL `url` for use as a base.  Returns 0 and
 * sets *out, UG_EURL or UG_ENOMEM.  Free with ug__url_base_free. */
int ug__url_base_new(const char *url, ug__url_base **out);

/* The same as ug_url_resolve(url, ref, out) for the base's url.  The base
 * is only read: one base may serve several threads at once. */
int ug__url_base_resolve(const ug__url_base *base, const char *ref,
                         char **out);

/* Frees the base.  NULL is harmless. */
void ug__url_base_free(ug__url_base *base);

#endif
