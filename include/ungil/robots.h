/* ungil/robots.h - robots.txt rules (RFC 9309).
 *
 * A ug_robots holds the rules of one site that apply to one crawler: the
 * group of the file whose user-agent line matches the crawler's product
 * token (case-insensitive; all groups naming it are merged), or else the
 * "*" group(s), or else nothing (everything allowed).
 *
 * Matching follows RFC 9309 as Google's parser does:
 *   - the rule with the longest matching path wins; on a tie Allow wins;
 *   - '*' in a rule matches any run of characters, '$' at the end of a rule
 *     anchors it at the end of the path;
 *   - paths and rules are compared after percent-encoding normalisation
 *     (escapes of unreserved characters decoded, hex upper-case, other
 *     non-ASCII bytes encoded), so "/%7Ea" matches "/~a";
 *   - an empty Disallow allows everything; "/robots.txt" is always
 *     allowed;
 *   - lines may end in LF, CR LF or CR; a UTF-8 BOM, comments ('#'),
 *     blank lines and lines that are not "key: value" are ignored; key
 *     names are case-insensitive and the common misspellings "dissallow",
 *     "disalow", "useragent", "user agent" are accepted;
 *   - only the first 500 KiB of the file are read (as Google does).
 * Crawl-delay (non-standard) is read from the chosen group: a
 * non-negative decimal number of seconds, the first valid one wins.
 *
 * Ownership: a ug_robots owns copies of everything it needs; free it with
 * ug_robots_free.
 *
 * Thread-safety: parsing keeps no shared state.  A finished ug_robots is
 * immutable: ug_robots_allowed and ug_robots_crawl_delay may be called on
 * it from many threads at once.
 */
#ifndef UNGIL_ROBOTS_H
#define UNGIL_ROBOTS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The most bytes of a robots.txt file that are parsed. */
#define UG_ROBOTS_MAX_BYTES (500 * 1024)

typedef struct ug_robots ug_robots;

/* Parses the `n` bytes of `text` (not NUL-terminated; NUL bytes are
 * tolerated) for the crawler `user_agent`.  Only its product token counts:
 * the leading run of letters, '-' and '_' ("ungil/0.1 (+https://x)" gives
 * "ungil").  `text` may be NULL when n is 0.  Returns 0 and sets *out;
 * UG_EINVAL (NULL user_agent or out, or no product token); UG_ENOMEM. */
int ug_robots_parse(const char *text, size_t n, const char *user_agent,
                    ug_robots **out);

/* The rules to use when robots.txt could not be fetched as a 2xx:
 * `http_status` 300-499 (robots.txt unavailable, including after too many
 * redirects) allows everything, except 429 (Too Many Requests), which like
 * 5xx, other codes and a value <= 0 (unreachable: DNS, connection, timeout)
 * disallows everything.  A 2xx status is UG_EINVAL: parse the body.
 * Returns 0 and sets *out; UG_EINVAL; UG_ENOMEM. */
int ug_robots_for_status(int http_status, ug_robots **out);

/* Whether the crawler may fetch `path_and_query` ("/a/b?x=1", as
 * ug_url_path_query gives it; NULL or "" mean "/").  Returns 1 if allowed,
 * 0 if not. */
int ug_robots_allowed(const ug_robots *r, const char *path_and_query);

/* The Crawl-delay of the chosen group in seconds, or a negative value
 * when there is none. */
double ug_robots_crawl_delay(const ug_robots *r);

/* Frees the rules.  NULL is harmless. */
void ug_robots_free(ug_robots *r);

#ifdef __cplusplus
}
#endif

#endif
