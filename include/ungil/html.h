/* ungil/html.h - streaming link extraction from HTML.
 *
 * A parser is fed a page in chunks as they arrive from the network (any
 * sizes, split anywhere, even inside a tag, an attribute or an entity) and
 * reports every link in document order through a callback, as soon as the
 * tag holding it is complete.  Links are the href attributes of <a>,
 * <area> and <link> elements.  Each href is decoded like a browser does
 * (named, decimal and hexadecimal character references; leading and
 * trailing ASCII whitespace trimmed), resolved against the document's base
 * URL and normalised with ug_url_resolve (ungil/url.h).  The base URL is
 * the page URL, or the href of the first <base href> element resolved
 * against the page URL, in effect for the links after it.  Links that do
 * not resolve to an http(s) URL (mailto:, javascript:, malformed) and
 * empty or missing hrefs are skipped.
 *
 * Nothing is reported from inside comments, <script>, <style> (or the
 * other raw-text elements <textarea>, <title>, <xmp>, <iframe>, <noembed>,
 * <noframes>, <plaintext>).  Malformed HTML is tolerated as browsers
 * tolerate it: uppercase or mixed-case names, unquoted or duplicated
 * attributes (the first wins), missing end tags, stray '<'.  NUL bytes
 * and bytes that are not UTF-8 pass through into the URL, where
 * normalisation percent-encodes them.  An attribute value longer than
 * UG_HTML_ATTR_MAX bytes is dropped (its link is not reported), and the
 * title keeps at most UG_HTML_TITLE_MAX bytes; memory per parser stays
 * bounded by these caps, whatever the input.
 *
 * The page's text encoding is not converted: URLs in ASCII-compatible
 * encodings come out right; an encoding such as UTF-16 does not.
 *
 * Ownership: the parser copies `page_url`; the strings given to the
 * callback are valid only during the call (copy them to keep them).
 *
 * Thread-safety: one parser is used by one thread at a time; different
 * parsers may run on different threads at once.
 */
#ifndef UNGIL_HTML_H
#define UNGIL_HTML_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The longest attribute value kept, in bytes. */
#define UG_HTML_ATTR_MAX 16384

/* The most bytes of title text kept (after whitespace collapsing). */
#define UG_HTML_TITLE_MAX 4096

typedef struct ug_html ug_html;

/* Receives one link: `url` is absolute and normalised, `tag` is "a",
 * "area" or "link".  Called on the thread that feeds the parser, from
 * inside ug_html_feed or ug_html_finish; it must not call back into the
 * same parser. */
typedef void (*ug_html_link_fn)(void *ctx, const char *url, const char *tag);

/* Creates a parser for the page at the absolute http(s) URL `page_url`,
 * reporting links to `on_link` (may be NULL, to get only the title) with
 * `ctx`.  Returns 0 and sets *out; UG_EURL (page_url is not an http(s)
 * URL); UG_EINVAL; UG_ENOMEM.  Free with ug_html_free. */
int ug_html_new(const char *page_url, ug_html_link_fn on_link, void *ctx,
                ug_html **out);

/* Parses the next `n` bytes of the page.  Links completed by these bytes
 * are reported before it returns.  Returns 0; UG_EINVAL (NULL parser, or
 * called after ug_html_finish); UG_ENOMEM. */
int ug_html_feed(ug_html *h, const char *data, size_t n);

/* Ends the page: a tag left open at the end of the input is dropped, as
 * browsers drop it.  Returns 0, UG_EINVAL or UG_ENOMEM. */
int ug_html_finish(ug_html *h);

/* The text of the first <title> element, entities decoded, whitespace
 * collapsed to single spaces and trimmed, invalid UTF-8 replaced by
 * U+FFFD; NULL when there is none (yet) or it is empty.  Owned by the
 * parser, valid until the next feed/finish/free. */
const char *ug_html_title(const ug_html *h);

/* Frees the parser.  NULL is harmless. */
void ug_html_free(ug_html *h);

#ifdef __cplusplus
}
#endif

#endif
