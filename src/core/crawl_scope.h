/* crawl_scope.h - the crawl scope shared by crawl.c and crawl_scope.c.
 *
 * A scope holds the seeds' hosts and directory prefixes and the compiled
 * include/exclude patterns, and tells whether a normalised URL is to be
 * followed.  Immutable during the run; used by one thread.
 */
#ifndef UNGIL_CRAWL_SCOPE_H
#define UNGIL_CRAWL_SCOPE_H

#include <stddef.h>

typedef struct ug__scope ug__scope;

/* The reasons ug__scope_check gives (static strings). */
extern const char *const UG__OUT_OF_SCOPE;
extern const char *const UG__EXCLUDED;

/* A scope of `mode` (enum ug_crawl_scope) with the given patterns.
 * Returns 0, UG_EINVAL (a pattern regcomp refuses, or a bad mode) or
 * UG_ENOMEM. */
int ug__scope_new(int mode, const char *const *include, size_t ninclude,
                  const char *const *exclude, size_t nexclude,
                  ug__scope **out);
void ug__scope_free(ug__scope *s);

/* Adds a seed (a normalised http(s) URL): its host and directory join the
 * scope.  Returns 0, UG_EURL or UG_ENOMEM. */
int ug__scope_add_seed(ug__scope *s, const char *url);

/* NULL when `url` (normalised) is to be followed, else the reason. */
const char *ug__scope_check(const ug__scope *s, const char *url);

#endif
