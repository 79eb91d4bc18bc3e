/* ungil/url.h - resolving and normalising crawl URLs.
 *
 * The crawler compares URLs as strings (the seen-set, the link graph), so
 * every URL it meets goes through one normalisation, and two URLs that
 * mean the same resource give the same string:
 *
 *   - only http and https are accepted; anything else (mailto:,
 *     javascript:, data:, ftp:, no scheme without a base) is UG_EURL;
 *   - relative references are resolved against a base (RFC 3986, done by
 *     libcurl's URL API), dot segments removed, the fragment dropped;
 *   - scheme and host lower-case, the default port (80 for http, 443 for
 *     https) removed, an empty path becomes "/", an empty query ("?"
 *     alone) is dropped, and '\' before the query becomes '/' (as
 *     browsers read http URLs);
 *   - percent-encoding normalised in the path and query: hex digits
 *     upper-case, escapes of unreserved characters (A-Z a-z 0-9 - . _ ~)
 *     decoded, and every byte that may not appear literally (controls,
 *     space, non-ASCII bytes, " < > \ ^ ` { | } and a '%' not starting an
 *     escape) encoded as %XX.  Reserved characters (/ ? # [ ] @ ! $ & ' ( )
 *     * + , ; = :) keep their form, encoded or not, since encoding them
 *     may change the meaning;
 *   - user name and password are percent-normalised like the path.
 *
 * Internationalised host names are written in punycode ("xn--..."), as
 * libidn2 converts them (IDNA 2008).  Hosts that libcurl or libidn2 refuse
 * (bad characters, malformed IPv6, invalid IDN) are UG_EURL.  The result is idempotent: normalising a
 * normalised URL gives it back unchanged.
 *
 * Ownership: every char ** output is malloc'd and owned by the caller
 * (free()); it is set only on success.
 *
 * Thread-safety: no state; every function may be called from any thread.
 */
#ifndef UNGIL_URL_H
#define UNGIL_URL_H

#ifdef __cplusplus
extern "C" {
#endif

/* Resolves `ref` (absolute, or relative such as "../a?b#c", "//host/x")
 * against the absolute URL `base` and normalises the result as described
 * above.  `base` may be NULL, then `ref` must be absolute.  Leading and
 * trailing ASCII whitespace and control characters of `ref` are ignored
 * and tabs/newlines inside it removed, as browsers do.  Returns 0 and sets
 * *out; UG_EURL (malformed, or not http/https); UG_EINVAL (NULL `ref` or
 * `out`); UG_ENOMEM. */
int ug_url_resolve(const char *base, const char *ref, char **out);

/* Normalises the absolute URL `url`: the same as ug_url_resolve(NULL, url,
 * out). */
int ug_url_normalize(const char *url, char **out);

/* The per-host key of an absolute http(s) URL: "host:port", host
 * lower-case (IPv6 in brackets), port always written (80 or 443 when the
 * URL has none), e.g. "example.com:443".  The scheme is not part of the
 * key.  Returns 0 and sets *host_port; UG_EURL; UG_EINVAL; UG_ENOMEM. */
int ug_url_host(const char *url, char **host_port);

/* The path and query of an absolute http(s) URL, normalised, as robots.txt
 * rules are matched against: "/a/b?x=1" ("/" at least).  Returns 0 and
 * sets *path_query; UG_EURL; UG_EINVAL; UG_ENOMEM. */
int ug_url_path_query(const char *url, char **path_query);

/* The robots.txt URL for the site of an absolute http(s) URL:
 * "scheme://host[:port]/robots.txt" (no user info).  Returns 0 and sets
 * *robots_url; UG_EURL; UG_EINVAL; UG_ENOMEM. */
int ug_url_robots(const char *url, char **robots_url);

#ifdef __cplusplus
}
#endif

#endif
