/* ungil/fetch.h - many HTTP(S) transfers at once from one thread (or one
 * per core).
 *
 * A fetch engine drives every transfer from one libcurl multi loop on the
 * thread that calls ug_fetch_run: hundreds at once, connections reused
 * (keep-alive), HTTP/2 multiplexed where the server offers it.  With
 * options.threads above 1, the requests are dealt out in turn to that many
 * loops, each on its own thread with its share of the caps, for batches
 * whose bodies arrive faster than one core can take them in.  The caller
 * adds requests (before or during the run), and gets one result per request
 * through a callback, in completion order, each carrying its input index.
 *
 * Policy, on by default: a cap on transfers in total and per host; connect,
 * total and low-speed timeouts; retries with exponential backoff and jitter
 * on connection errors, 5xx and 429 (honouring Retry-After, clamped); no
 * retry on other 4xx; redirects only to http/https and at most
 * max_redirects of them; no credentials carried to another host; the size
 * cap counted on decoded bytes (a gzip bomb stops at the cap); a cap on
 * response header bytes; malformed framing rejected.  Proxies come from
 * options.proxy, or else from the environment as curl reads them
 * (http_proxy, https_proxy, all_proxy, no_proxy), checked once, when the
 * engine is made.
 *
 * Files: with a destination directory, each body streams to "<name>.part"
 * inside it and is renamed to <name> only when complete and verified
 * (length, optional SHA-256), so a final name never holds a truncated body.
 * Names come from the URL or the caller (or, opt-in, Content-Disposition),
 * made safe by ungil/path.h; nothing is written outside the directory.
 * Without a directory, bodies are kept in memory and handed to the callback.
 *
 * Backpressure: an optional admit callback is asked before each transfer
 * starts; while it says no, queued requests wait (transfers already running
 * go on) and the loop sleeps until ug_fetch_wake or 100 ms pass.  The
 * picture pipeline uses it to stop downloading while CPU work piles up.
 *
 * Thread-safety: one engine is driven by one thread.  ug_fetch_add may be
 * called from that thread (also from inside the callbacks) or before the
 * run; no other call is thread-safe, except ug_fetch_wake.  The cancel flag
 * may be set from any thread.  With several loops, requests are added
 * before the run only, and the callbacks run on the loops' threads, one at
 * a time (never concurrently).
 */
#ifndef UNGIL_FETCH_H
#define UNGIL_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "ungil/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ug_fetch ug_fetch;

/* One finished request, valid only during the callback that receives it:
 * copy what you keep.  Times are seconds from the start of the last
 * attempt, from libcurl's getinfo (0 when the phase did not happen). */
typedef struct ug_fetch_result {
    size_t index;            /* order of ug_fetch_add, from 0 */
    const char *url;         /* as added */
    const char *final_url;   /* after redirects; NULL if never connected */
    long status;             /* last HTTP status, 0 if none arrived */
    int http_version;        /* 1 (1.0 and 1.1), 2 or 3; 0 if none */
    uint64_t bytes;          /* body bytes after decoding */
    const char *path;        /* name of the file written inside dest_dir;
                              * NULL in memory mode or on error */
    const unsigned char *body; /* memory mode: the body (bytes long) */
    const char *content_type; /* or NULL */
    double dns_s, connect_s, tls_s, first_byte_s, total_s;
    unsigned attempts;       /* 1 when no retry was needed; 0 when the
                              * request never started (bad URL, no name) */
    int error;               /* 0, or a UG_E... code saying why it failed */
    const char *message;     /* a sentence on the failure, or NULL */
    void *user;              /* as given to ug_fetch_add */
} ug_fetch_result;

/* Progress, reported at most every progress_interval_ms. */
typedef struct ug_fetch_progress {
    size_t done, total;      /* requests finished / added */
    size_t failed;
    size_t active;           /* transfers in flight */
    uint64_t bytes;          /* body bytes received so far, all requests */
    double rate;             /* bytes per second over the last interval */
    double elapsed_s;
} ug_fetch_progress;

typedef void (*ug_fetch_done_fn)(void *ctx, const ug_fetch_result *result);
typedef void (*ug_fetch_progress_fn)(void *ctx, const ug_fetch_progress *p);
/* Receives body bytes as they arrive (after decoding), before they are
 * written; returning non-zero aborts that transfer.  Used by the crawler to
 * parse pages while they stream. */
typedef int (*ug_fetch_data_fn)(void *ctx, size_t index, void *user,
                                const unsigned char *data, size_t size);
/* Asked on the engine's thread just before the request `index` starts a
 * transfer (first attempts and retries alike); returning 1 starts it,
 * returning 0 puts it back at the head of its queue and holds every queued
 * request back until the engine is woken (ug_fetch_wake) or its next poll
 * (at most 100 ms later), when it asks again.  A retry whose backoff has
 * passed goes to the head of its host's queue, so a caller that admits
 * retries of requests it already let in is never stuck behind new ones. */
typedef int (*ug_fetch_admit_fn)(void *ctx, size_t index, void *user);
/* Asked on the engine's thread as the request `index` starts a transfer:
 * returning 0 closes the transfer's connection when it ends (nothing of
 * its host is to follow), non-zero keeps it for the next request to that
 * host.  A connection closed this way leaves libcurl's connection cache
 * whole; one left idle is evicted later, and libcurl 7.88 then keeps an
 * empty entry for its host that every later eviction walks over (a
 * quarter of the CPU of a crawl over thousands of hosts).  Without it,
 * the engine keeps every connection while each URL authority (scheme,
 * host and port as written) added so far could have per_host of them
 * open within the concurrency cap.  Past that it keeps one only while its
 * authority has as many requests yet to start as transfers in flight, and
 * enough of them that the next comes, on average, within twice the cap
 * further on (a connection kept for a request further away is evicted
 * before it comes).  The crawler, which adds its URLs level by level,
 * sets its own. */
typedef int (*ug_fetch_reuse_fn)(void *ctx, size_t index, void *user);

/* The head of one response, valid only during the callback. */
typedef struct ug_fetch_response {
    long status;              /* of this response (a 3xx before a redirect) */
    const char *url;          /* the URL this response answers */
    const char *content_type; /* or NULL */
    int64_t content_length;   /* -1 when not announced */
} ug_fetch_response;

/* Called when the headers of each response have arrived (once per hop of
 * a redirect chain, the last call for the response whose body follows);
 * returning non-zero stops that transfer, which then fails with
 * UG_ECANCELED.  Used by the crawler to learn a page's type and base URL
 * before its body, and to skip bodies it does not want. */
typedef int (*ug_fetch_response_fn)(void *ctx, size_t index, void *user,
                                    const ug_fetch_response *response);

typedef struct ug_fetch_options {
    unsigned concurrency;        /* transfers in flight, default 64 */
    unsigned per_host;           /* per host:port, default 8 */
    unsigned retries;            /* extra attempts, default 3 */
    unsigned backoff_ms;         /* first backoff, default 200; doubles */
    unsigned backoff_max_ms;     /* default 10000 */
    unsigned retry_after_max_s;  /* Retry-After clamp, default 30 */
    unsigned connect_timeout_ms; /* default 10000 */
    unsigned timeout_ms;         /* whole attempt, 0 = none (default) */
    unsigned low_speed_bytes;    /* abort when slower than this ... */
    unsigned low_speed_s;        /* ... for this long; default 1 B/s, 30 s */
    uint64_t max_bytes;          /* decoded body cap, 0 = none */
    unsigned max_redirects;      /* default 10 */
    size_t max_header_bytes;     /* all response headers, default 64 KiB */
    long dns_cache_s;            /* how long a DNS answer is reused: default
                                  * 60 s (libcurl's); -1 for the whole run,
                                  * 0 not at all.  libcurl walks its whole
                                  * DNS cache after every transfer to expire
                                  * answers, which -1 skips: with thousands
                                  * of hosts that walk is a fifth of the CPU */
    const char *dest_dir;        /* NULL = keep bodies in memory */
    int content_disposition;     /* take names from the header (opt-in) */
    int resume;                  /* continue a "<name>.part" with Range */
    const char *user_agent;      /* default "ungil/<version>" */
    const char *ca_file;         /* PEM bundle to trust instead of the
                                  * system's, or NULL */
    const char *proxy;           /* NULL: from the environment, as curl
                                  * reads it (above); "": none, whatever
                                  * the environment says; else the proxy
                                  * for every transfer, as curl's --proxy
                                  * takes it ("http://host:port",
                                  * "socks5h://host"; no_proxy from the
                                  * environment still applies) */
    ug_trace *trace;             /* one bar per transfer, or NULL */
    ug_fetch_done_fn on_done;    /* required */
    ug_fetch_progress_fn on_progress;
    unsigned progress_interval_ms; /* default 200 */
    ug_fetch_data_fn on_data;
    ug_fetch_response_fn on_response;
    int drop_bodies;             /* memory mode: hand bodies to on_data
                                  * only, keep none (result body NULL) */
    ug_fetch_admit_fn admit;     /* NULL = always admit */
    ug_fetch_reuse_fn reuse;     /* NULL = the engine's rule (above) */
    void *ctx;                   /* passed to the callbacks */
    uint32_t seed;               /* backoff jitter; 0 = from the clock */
    unsigned threads;            /* loops on their own threads, default 1:
                                  * the most, up to this, that divide both
                                  * concurrency and per_host evenly; one
                                  * whenever admit, reuse, on_data or
                                  * on_response is set or
                                  * content_disposition is on */
} ug_fetch_options;

/* Fills `opts` with the defaults. */
void ug_fetch_options_init(ug_fetch_options *opts);

/* Creates an engine.  Copies what it needs from `opts` (dest_dir,
 * user_agent and ca_file included).  Returns 0, UG_EINVAL (no on_done, a
 * dns_cache_s below -1, or a dest_dir that cannot be opened as a
 * directory), UG_ENOMEM or UG_EIO. */
int ug_fetch_new(const ug_fetch_options *opts, ug_fetch **out);

/* Frees the engine; requests never run are dropped without results.  NULL
 * is harmless.  Not from inside a callback. */
void ug_fetch_free(ug_fetch *fetch);

/* Adds a request.  `name` is the file name to use (made safe), or NULL to
 * take it from the URL; `sha256` is an expected digest in hex, or NULL.
 * Names are claimed in the order of the calls, so collisions ("a.jpg",
 * "a (1).jpg") resolve the same way every time.  A malformed URL is not an
 * error here: it comes back as a failed result.  Returns the request's index
 * (>= 0) or UG_ENOMEM. */
long ug_fetch_add(ug_fetch *fetch, const char *url, const char *name,
                  const char *sha256, void *user);

/* Runs until every added request has a result, delivered through on_done;
 * requests added meanwhile run too.  If `cancel` becomes non-zero, every
 * transfer stops within about 100 ms: partial files keep their ".part" name
 * (or are removed, without resume), requests not finished get no result,
 * and the call returns UG_ECANCELED; the engine can then only be freed.
 * With several loops, this thread runs the first and waits for the others.
 * With resume, a failed transfer keeps its ".part" only when a later run
 * could continue it (it broke off after receiving bytes).
 * Returns 0 or UG_ECANCELED.  Blocks. */
int ug_fetch_run(ug_fetch *fetch, const int *cancel);

/* Wakes the engine's loop from any thread, so that it asks the admit
 * callback again at once instead of at its next poll.  Harmless when the
 * engine is not waiting.  Thread-safe. */
void ug_fetch_wake(ug_fetch *fetch);

#ifdef __cplusplus
}
#endif

#endif
