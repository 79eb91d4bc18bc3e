/* fetch.c - the download engine: one libcurl multi loop, many transfers.
 *
 * ug_fetch_add keeps its work small (the file name is claimed there, in
 * input order): the URL is parsed later, by the loop, when it looks for
 * something to start (prepare()), so transfers begin before a long batch
 * is parsed and several loops parse their shares in parallel.
 *
 * Requests wait in per-host FIFO queues; a transfer starts when a global
 * slot and a slot of its host are free (our own per-host cap, so a queued
 * transfer never burns its timeout inside libcurl's pending list).  The
 * loop drives libcurl with curl_multi_socket_action on an epoll set
 * (fetch_events.c): run what is due, collect finished transfers, start the
 * next ones at once, and only then wait (at most 100 ms, so cancellation
 * and retries due are noticed).  Easy handles are recycled with their
 * shared options set once; connections, DNS answers and TLS sessions stay
 * in the multi handle's caches.  A connection stays open after its
 * transfer by keep_connection()'s rule, which counts the requests each URL
 * authority has yet to start from the moment they are added.
 *
 * A finished attempt is classified once (classify()): success, a retryable
 * failure (connection errors, timeouts, truncated bodies, 5xx, 429), or a
 * final failure.  Retries wait in a heap by due time: exponential backoff
 * with jitter, or the server's Retry-After, clamped.
 *
 * Bodies stream through write_body(): the size cap (on decoded bytes), the
 * data callback, the SHA-256, then the ".part" file or the memory buffer.
 * finish_file() renames "<name>.part" to "<name>" inside the destination
 * directory's descriptor, only after the length and digest checks; files
 * are opened and renamed through ungil/path.h, so a link planted in the
 * directory cannot redirect a write.
 *
 * The waiting requests (host FIFOs, the ready hosts, the delayed retries)
 * live in fetch_queue.c.  Known limit: one easy handle per transfer slot.
 */
#include "ungil/fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fetch_events.h"
#include "fetch_internal.h"
#include "fetch_queue.h"
#include "url_internal.h"
#include "ungil/error.h"
#include "ungil/path.h"
#include "ungil/ungil.h"

/* RECV_BUFFER: libcurl's receive buffer (its default is 16 KiB).  At 64 KiB
 * a small body (a 20 KiB picture) arrives in one recv instead of two.
 * libcurl still hands it to write_body in pieces of at most 16 KiB; gathering
 * them to write once cost more (a copy, more memory touched) than the write
 * it saved. */
enum { POLL_MAX_MS = 100, SHA256_LEN = 32, RECV_BUFFER = 65536 };

struct request {
    fetch_entry q;   /* in the unparsed FIFO, a host FIFO or the delay
                      * heap (fetch_queue.c) */
    char *url;
    CURLU *uh;    /* the parsed URL, handed to libcurl */
    char *name;   /* safe file name (file mode), NULL until claimed */
    char *host;   /* "scheme://host:port" key, NULL for a bad URL */
    uint64_t authority; /* ug__url_authority_hash(url), in authorities */
    void *user;
    size_t index;
    unsigned attempts;
    int url_error;        /* UG_EURL for a URL we refuse to fetch */
    const char *url_message;
    bool has_sha;
    unsigned char sha[SHA256_LEN];
    struct request *next; /* in the bad list */
};

struct transfer {
    ug_fetch *f;
    struct request *req;     /* NULL when the slot is free */
    CURL *easy;
    int fd;                 /* the .part file, -1 in memory mode */
    char *part;             /* "<name>.part" */
    uint64_t resume_from;   /* bytes already in .part at the start */
    uint64_t bytes;         /* body bytes, resume_from included */
    unsigned char *buf;     /* memory mode */
    size_t cap;
    size_t header_bytes;
    int abort_error;        /* set by a callback that stopped the transfer */
    const char *abort_message;
    EVP_MD_CTX *sha;
    char *cd_name;          /* from Content-Disposition, if asked */
    int64_t content_length; /* of the current response, -1 if none yet */
    bool encoded;           /* the current response has Content-Encoding */
    unsigned slot;
    uint64_t start_ns;
    char errbuf[CURL_ERROR_SIZE];
};

struct ug_fetch {
    ug_fetch_options opts;
    char *user_agent;
    struct curl_slist *headers; /* sent with every request (common_headers) */
    char *ca_file;
    char *proxy;            /* opts.proxy, or "" when neither it nor the
                             * environment names one (proxy_in_env); NULL:
                             * libcurl reads the environment */
    fetch_shards *shards;   /* several loops: this engine is only a front */
    int dirfd;              /* destination directory, -1 in memory mode */
    ug_names *names;
    bool own_names;         /* names is ours to free */
    CURLM *multi;
    fetch_events ev;        /* the epoll set driving `multi` */

    struct request **reqs;  /* by index; NULL once reported (and freed) */
    size_t nreqs, reqs_cap;
    size_t done, failed;

    fetch_queue queue;      /* parsed requests waiting, and retries */
    fetch_fifo unparsed;    /* added, URL not yet parsed (through q) */
    struct request *bad;    /* requests failing before any transfer */
    ug__counts *authorities; /* requests yet to start, per authority */

    struct transfer *slots; /* `concurrency` of them */
    CURL **spare;           /* recycled easy handles */
    size_t nspare;
    unsigned active;
    bool held;              /* the admit callback refused the last start */

    uint64_t bytes_total;
    uint64_t last_progress_ns, last_progress_bytes, start_ns;
    uint32_t rng;
    ug_trace_lane **lanes;  /* one per slot when tracing */
    uint32_t trace_label;
};

/* ---- small helpers ---------------------------------------------------- */

static uint32_t next_random(ug_fetch *f) {
    /* xorshift32: jitter only, not security. */
    uint32_t x = f->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return f->rng = x;
}

static int hex_digest(const char *hex, unsigned char out[SHA256_LEN]) {
    if (strlen(hex) != 2 * SHA256_LEN)
        return UG_EINVAL;
    for (int i = 0; i < SHA256_LEN; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = hex[2 * i + k];
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= (unsigned)(c - '0');
            else if (c >= 'a' && c <= 'f')
                v |= (unsigned)(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                v |= (unsigned)(c - 'A' + 10);
            else
                return UG_EINVAL;
        }
        out[i] = (unsigned char)v;
    }
    return 0;
}

void ug_fetch_options_init(ug_fetch_options *o) {
    memset(o, 0, sizeof *o);
    o->concurrency = 64;
    o->per_host = 8;
    o->retries = 3;
    o->backoff_ms = 200;
    o->backoff_max_ms = 10000;
    o->retry_after_max_s = 30;
    o->connect_timeout_ms = 10000;
    o->low_speed_bytes = 1;
    o->low_speed_s = 30;
    o->max_redirects = 10;
    o->max_header_bytes = 64 * 1024;
    o->dns_cache_s = 60;
    o->progress_interval_ms = 200;
    o->threads = 1;
}

/* ---- requests and hosts ------------------------------------------------ */

/* Parses the URL once: refuses what is not http(s), builds the host key
 * used for the per-host cap, and keeps the parse for libcurl, which would
 * otherwise parse the URL again for every attempt. */
static void parse_url(struct request *r) {
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    if (!u) {
        r->url_error = UG_ENOMEM;
        r->url_message = "out of memory";
        return;
    }
    if (curl_url_set(u, CURLUPART_URL, r->url, 0) ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT)) {
        r->url_error = UG_EURL;
        r->url_message = "malformed URL";
    } else if (strcmp(scheme, "http") && strcmp(scheme, "https")) {
        r->url_error = UG_EURL;
        r->url_message = "unsupported scheme (only http and https)";
    } else {
        for (char *c = host; *c; c++) /* one key for "Host" and "host" */
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        /* "scheme://host:port", without snprintf's cost on every URL. */
        size_t ls = strlen(scheme), lh = strlen(host), lp = strlen(port);
        char *key = r->host = malloc(ls + lh + lp + 5);
        if (key) {
            memcpy(key, scheme, ls);
            memcpy(key + ls, "://", 3);
            memcpy(key + ls + 3, host, lh);
            key[ls + 3 + lh] = ':';
            memcpy(key + ls + 4 + lh, port, lp + 1);
        } else {
            r->url_error = UG_ENOMEM;
            r->url_message = "out of memory";
        }
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    if (r->url_error)
        curl_url_cleanup(u);
    else
        r->uh = u;
}

/* Whether the URL starts with "http://" or "https://", in any case. */
static bool http_prefix(const char *url) {
    return !strncasecmp(url, "http://", 7) || !strncasecmp(url, "https://", 8);
}

void *fetch_reserve(void *array, size_t count, size_t *cap, size_t size) {
    if (count < *cap)
        return array;
    size_t n = *cap ? 2 * *cap : 16;
    void *grown = realloc(array, n * size);
    if (grown)
        *cap = n;
    return grown;
}

/* The request that holds queue entry `e`. */
static struct request *request_of(fetch_entry *e) {
    return (struct request *)((char *)e - offsetof(struct request, q));
}

long ug_fetch_add(ug_fetch *f, const char *url, const char *name,
                  const char *sha256, void *user) {
    if (f->shards)
        return fetch_shards_add(f->shards, url, name, sha256, user);
    struct request **reqs = fetch_reserve(f->reqs, f->nreqs, &f->reqs_cap,
                                    sizeof *reqs);
    if (!reqs)
        return UG_ENOMEM;
    f->reqs = reqs;
    struct request *r = calloc(1, sizeof *r);
    if (!r || !(r->url = strdup(url ? url : ""))) {
        free(r);
        return UG_ENOMEM;
    }
    r->index = f->nreqs;
    r->user = user;
    /* A URL that is plainly not http(s) is parsed (and refused) at once,
     * before it could claim a file name; the others wait for prepare(). */
    if (!http_prefix(r->url))
        parse_url(r);
    if (!r->url_error && sha256 && hex_digest(sha256, r->sha)) {
        r->url_error = UG_EINVAL;
        r->url_message = "the expected SHA-256 is not 64 hex digits";
    }
    r->has_sha = sha256 != NULL;
    if (!r->url_error && f->dirfd >= 0) {
        char safe[UG_PATH_NAME_MAX + 1];
        int rc = name ? ug_path_sanitize(name, safe, sizeof safe) : UG_ENONAME;
        if (rc == UG_ENONAME) /* nothing usable given: name it after the URL */
            rc = ug_path_from_url(r->url, safe, sizeof safe);
        if (!rc)
            rc = ug_names_claim(f->names, safe, safe, sizeof safe);
        if (rc || !(r->name = strdup(safe))) {
            r->url_error = rc ? rc : UG_ENOMEM;
            r->url_message = "no file name could be made for this URL";
        }
    }
    if (!r->url_error &&
        !ug__counts_bump(f->authorities,
                         r->authority = ug__url_authority_hash(r->url))) {
        r->url_error = UG_ENOMEM;
        r->url_message = "out of memory";
    }
    f->reqs[f->nreqs++] = r;
    if (r->url_error) {
        r->next = f->bad;
        f->bad = r;
    } else {
        fetch_fifo_push(&f->unparsed, &r->q);
    }
    return (long)r->index;
}

/* Parses up to `n` added requests, in input order, into their host queues
 * (or the list of bad ones).  Returns how many it took. */
static size_t prepare(ug_fetch *f, size_t n) {
    size_t k = 0;
    for (; k < n && f->unparsed.head; k++) {
        struct request *r = request_of(fetch_fifo_pop(&f->unparsed));
        if (!r->host)
            parse_url(r);
        fetch_host *h =
            r->url_error ? NULL : fetch_queue_host(&f->queue, r->host);
        if (!r->url_error && !h) {
            r->url_error = UG_ENOMEM;
            r->url_message = "out of memory";
        }
        if (h) {
            fetch_queue_push(&f->queue, h, &r->q);
        } else {
            ug__counts_take(f->authorities, r->authority);
            r->next = f->bad;
            f->bad = r;
        }
    }
    return k;
}

/* ---- creating and freeing ---------------------------------------------- */

int ug_fetch_new(const ug_fetch_options *opts, ug_fetch **out) {
    if (!opts || !opts->on_done || !out || opts->dns_cache_s < -1)
        return UG_EINVAL;
    unsigned loops = fetch_loops_for(opts);
    if (loops <= 1)
        return fetch_new_loop(opts, 0, NULL, out);
    *out = NULL;
    ug_fetch *f = calloc(1, sizeof *f);
    if (!f)
        return UG_ENOMEM;
    f->dirfd = -1;
    f->ev = (fetch_events){.epfd = -1, .wakefd = -1};
    int rc = fetch_shards_new(opts, loops, &f->shards);
    if (rc) {
        free(f);
        return rc;
    }
    *out = f;
    return 0;
}

/* The User-Agent and Accept-Encoding headers, as one list for
 * CURLOPT_HTTPHEADER.  Given as options, libcurl 7.88 prints each into a
 * line of its own for every request, one character at a time, then prints
 * that line into the request; a header of the list is printed once.  The
 * encodings are those libcurl decodes, as CURLOPT_ACCEPT_ENCODING "" lists
 * them (that option stays set: it turns the decoding on).  NULL when out
 * of memory. */
static struct curl_slist *common_headers(const char *user_agent) {
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    char accept[64] = "Accept-Encoding: ";
    const char *sep = "";
    if (v->features & CURL_VERSION_LIBZ) {
        strcat(accept, "deflate, gzip");
        sep = ", ";
    }
    if (v->features & CURL_VERSION_BROTLI) {
        strcat(strcat(accept, sep), "br");
        sep = ", ";
    }
    if (v->features & CURL_VERSION_ZSTD) {
        strcat(strcat(accept, sep), "zstd");
        sep = ", ";
    }
    if (!*sep)
        strcat(accept, "identity");
    struct curl_slist *list = curl_slist_append(NULL, accept);
    if (list && *user_agent) { /* an empty agent: no User-Agent at all */
        size_t n = strlen(user_agent);
        char *line = malloc(n + sizeof "User-Agent: ");
        struct curl_slist *more = NULL;
        if (line) {
            memcpy(line, "User-Agent: ", sizeof "User-Agent: " - 1);
            memcpy(line + sizeof "User-Agent: " - 1, user_agent, n + 1);
            more = curl_slist_append(list, line);
            free(line);
        }
        if (!more) {
            curl_slist_free_all(list);
            return NULL;
        }
    }
    return list;
}

/* Whether the environment names a proxy for http or https, as libcurl
 * reads it: http_proxy (lower case only), https_proxy or HTTPS_PROXY, and
 * all_proxy or ALL_PROXY; a variable set empty names none.  Without one,
 * libcurl still reads five variables for every transfer (no_proxy among
 * them) to find that out, so the engine asks once and tells it. */
static bool proxy_in_env(void) {
    static const char *const names[] = {"http_proxy", "https_proxy",
                                        "HTTPS_PROXY", "all_proxy",
                                        "ALL_PROXY"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const char *v = getenv(names[i]);
        if (v && *v)
            return true;
    }
    return false;
}

int fetch_new_loop(const ug_fetch_options *opts, unsigned first_slot,
                   ug_names *names, ug_fetch **out) {
    *out = NULL;
    ug_fetch *f = calloc(1, sizeof *f);
    if (!f)
        return UG_ENOMEM;
    f->opts = *opts;
    if (!f->opts.concurrency)
        f->opts.concurrency = 1;
    if (!f->opts.per_host)
        f->opts.per_host = f->opts.concurrency;
    fetch_queue_init(&f->queue, f->opts.per_host);
    f->dirfd = -1;
    f->ev = (fetch_events){.epfd = -1, .wakefd = -1};
    int rc = UG_ENOMEM;
    char agent[64];
    snprintf(agent, sizeof agent, "ungil/%s", UG_VERSION);
    f->user_agent = strdup(opts->user_agent ? opts->user_agent : agent);
    f->slots = calloc(f->opts.concurrency, sizeof *f->slots);
    f->spare = calloc(f->opts.concurrency, sizeof *f->spare);
    if (!f->user_agent || !f->slots || !f->spare ||
        ug__counts_new(&f->authorities))
        goto fail;
    for (unsigned i = 0; i < f->opts.concurrency; i++)
        f->slots[i].fd = -1;
    f->opts.user_agent = f->user_agent;
    if (opts->ca_file && !(f->ca_file = strdup(opts->ca_file)))
        goto fail;
    f->opts.ca_file = f->ca_file;
    const char *proxy = opts->proxy  ? opts->proxy
                        : proxy_in_env() ? NULL
                                         : "";
    if (proxy && !(f->proxy = strdup(proxy)))
        goto fail;
    f->opts.proxy = f->proxy;
    f->opts.dest_dir = NULL; /* not kept: the descriptor is */
    if (opts->dest_dir) {
        f->dirfd = open(opts->dest_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (f->dirfd < 0) {
            rc = errno == ENOENT || errno == ENOTDIR ? UG_EINVAL : UG_EIO;
            goto fail;
        }
        f->names = names;
        if (!names) {
            if ((rc = ug_names_new(-1, &f->names)))
                goto fail;
            f->own_names = true;
        }
        rc = UG_ENOMEM;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
        rc = UG_EIO;
        goto fail;
    }
    if (!(f->multi = curl_multi_init())) {
        curl_global_cleanup();
        goto fail;
    }
    if (!(f->headers = common_headers(f->user_agent)))
        goto fail;
    if ((rc = fetch_events_init(&f->ev, f->multi)))
        goto fail;
    rc = UG_ENOMEM;
    curl_multi_setopt(f->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                      (long)f->opts.concurrency);
    curl_multi_setopt(f->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                      (long)f->opts.per_host);
    curl_multi_setopt(f->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    curl_multi_setopt(f->multi, CURLMOPT_MAXCONNECTS,
                      (long)f->opts.concurrency * 2);
    if (f->opts.trace) {
        f->lanes = calloc(f->opts.concurrency, sizeof *f->lanes);
        if (!f->lanes)
            goto fail;
        for (unsigned i = 0; i < f->opts.concurrency; i++) {
            char name[32];
            snprintf(name, sizeof name, "transfer %u", first_slot + i);
            f->lanes[i] = ug_trace_named_lane(f->opts.trace, name);
        }
        f->trace_label = ug_trace_label(f->opts.trace, "transfer");
    }
    f->rng = opts->seed ? opts->seed : (uint32_t)ug_clock_ns() | 1u;
    *out = f;
    return 0;
fail:
    ug_fetch_free(f);
    return rc;
}

static void request_free(struct request *r) {
    if (!r)
        return;
    curl_url_cleanup(r->uh);
    free(r->url);
    free(r->name);
    free(r->host);
    free(r);
}

void ug_fetch_free(ug_fetch *f) {
    if (!f)
        return;
    fetch_shards_free(f->shards);
    for (unsigned i = 0; f->slots && i < f->opts.concurrency; i++) {
        struct transfer *t = &f->slots[i];
        if (t->easy) {
            curl_multi_remove_handle(f->multi, t->easy);
            curl_easy_cleanup(t->easy);
        }
        if (t->fd >= 0)
            close(t->fd);
        free(t->part);
        free(t->buf);
        free(t->cd_name);
        EVP_MD_CTX_free(t->sha);
    }
    for (size_t i = 0; i < f->nspare; i++)
        curl_easy_cleanup(f->spare[i]);
    if (f->multi) {
        curl_multi_cleanup(f->multi); /* may close sockets through f->ev */
        curl_global_cleanup();
    }
    fetch_events_free(&f->ev);
    for (size_t i = 0; i < f->nreqs; i++)
        request_free(f->reqs[i]);
    fetch_queue_free(&f->queue);
    ug__counts_free(f->authorities);
    if (f->dirfd >= 0)
        close(f->dirfd);
    if (f->own_names)
        ug_names_free(f->names);
    free(f->reqs);
    free(f->slots);
    free(f->spare);
    free(f->lanes);
    curl_slist_free_all(f->headers);
    free(f->user_agent);
    free(f->ca_file);
    free(f->proxy);
    free(f);
}

/* ---- the body and header callbacks ------------------------------------ */

/* Stops the transfer from inside a callback, remembering why. */
static size_t abort_with(struct transfer *t, int error, const char *message) {
    t->abort_error = error;
    t->abort_message = message;
    return 0; /* a short count makes libcurl fail with CURLE_WRITE_ERROR */
}

static int write_all(int fd, const unsigned char *data, size_t size) {
    while (size) {
        ssize_t n = write(fd, data, size);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        data += n;
        size -= (size_t)n;
    }
    return 0;
}

static size_t write_body(char *ptr, size_t size, size_t nmemb, void *arg) {
    struct transfer *t = arg;
    ug_fetch *f = t->f;
    const unsigned char *data = (const unsigned char *)ptr;
    size_t n = size * nmemb;
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 300 || status < 200)
        return n; /* an error page: counted by nobody, kept nowhere */
    if (f->opts.max_bytes && t->bytes + n > f->opts.max_bytes)
        return abort_with(t, UG_ETOOBIG, "body larger than the size limit");
    if (f->opts.on_data &&
        f->opts.on_data(f->opts.ctx, t->req->index, t->req->user, data, n))
        return abort_with(t, UG_ECANCELED, "stopped by the data callback");
    if (t->sha && !EVP_DigestUpdate(t->sha, data, n))
        return abort_with(t, UG_ENOMEM, "digest failed");
    if (t->fd >= 0) {
        if (write_all(t->fd, data, n))
            return abort_with(t, UG_EIO, strerror(errno));
    } else if (!f->opts.drop_bodies) {
        size_t have = (size_t)t->bytes;
        if (have + n > t->cap) {
            size_t cap = t->cap ? t->cap : 16384;
            while (cap < have + n)
                cap *= 2;
            unsigned char *grown = realloc(t->buf, cap);
            if (!grown)
                return abort_with(t, UG_ENOMEM, "out of memory for the body");
            t->buf = grown;
            t->cap = cap;
        }
        memcpy(t->buf + have, data, n);
    }
    t->bytes += n;
    f->bytes_total += n;
    return n;
}

static bool header_is(const char *line, size_t n, const char *name) {
    size_t k = strlen(name);
    return n > k && !strncasecmp(line, name, k) && line[k] == ':';
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *arg) {
    struct transfer *t = arg;
    ug_fetch *f = t->f;
    size_t n = size * nmemb;
    t->header_bytes += n;
    if (t->header_bytes > f->opts.max_header_bytes)
        return abort_with(t, UG_EPROTOCOL, "response headers too large");
    if (n >= 5 && !strncmp(ptr, "HTTP/", 5)) {
        /* A new response (after a redirect or a 100): forget the last. */
        free(t->cd_name);
        t->cd_name = NULL;
        t->content_length = -1;
        t->encoded = false;
    } else if (header_is(ptr, n, "Content-Length")) {
        char *end;
        long long v = strtoll(ptr + 15, &end, 10);
        if (end == ptr + 15 || v < 0 || (*end && *end != '\r' && *end != '\n' && *end != ' '))
            return abort_with(t, UG_EPROTOCOL, "malformed Content-Length");
        if (t->content_length >= 0 && t->content_length != v)
            return abort_with(t, UG_EPROTOCOL,
                              "conflicting Content-Length headers");
        t->content_length = v;
    } else if (header_is(ptr, n, "Content-Encoding")) {
        t->encoded = true;
    } else if (n <= 2 && (ptr[0] == '\r' || ptr[0] == '\n')) {
        /* End of the headers: refuse a plain body announced over the cap
         * now (an encoded one is counted as it decodes). */
        long status = 0;
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
        if (f->opts.on_response) {
            ug_fetch_response head = {.status = status,
                                      .content_length = t->content_length};
            char *url = NULL, *type = NULL;
            curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &url);
            curl_easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &type);
            head.url = url ? url : t->req->url;
            head.content_type = type;
            if (f->opts.on_response(f->opts.ctx, t->req->index, t->req->user,
                                    &head))
                return abort_with(t, UG_ECANCELED,
                                  "stopped by the response callback");
        }
        if (f->opts.max_bytes && !t->encoded && status >= 200 &&
            status < 300 && t->content_length >= 0 &&
            (uint64_t)t->content_length + t->resume_from > f->opts.max_bytes)
            return abort_with(t, UG_ETOOBIG, "body larger than the size limit");
    } else if (f->opts.content_disposition &&
               header_is(ptr, n, "Content-Disposition")) {
        const char *v = ptr + 20, *end = ptr + n;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n'))
            end--;
        char *value = strndup(v, (size_t)(end - v));
        char name[UG_PATH_NAME_MAX + 1];
        if (!value)
            return abort_with(t, UG_ENOMEM, "out of memory");
        if (!ug_path_from_content_disposition(value, name, sizeof name)) {
            free(t->cd_name);
            t->cd_name = strdup(name);
        }
        free(value);
    }
    return n;
}

/* ---- starting a transfer ---------------------------------------------- */

/* Opens "<name>.part" for this attempt: continued when resuming and the
 * file has bytes, emptied otherwise.  Returns 0 or UG_EIO / UG_ENOMEM. */
static int open_part(ug_fetch *f, struct transfer *t) {
    size_t len = strlen(t->req->name);
    if (!(t->part = malloc(len + sizeof UG_PATH_PART_SUFFIX)))
        return UG_ENOMEM;
    memcpy(t->part, t->req->name, len);
    memcpy(t->part + len, UG_PATH_PART_SUFFIX, sizeof UG_PATH_PART_SUFFIX);
    int rc = ug_path_open(f->dirfd, t->part,
                          f->opts.resume ? UG_PATH_APPEND : UG_PATH_REPLACE,
                          &t->fd);
    if (rc || !f->opts.resume)
        return rc;
    struct stat st;
    if (fstat(t->fd, &st))
        return UG_EIO;
    t->resume_from = (uint64_t)st.st_size;
    return 0;
}

/* Feeds the bytes already in the .part file to the digest. */
static int hash_existing(struct transfer *t) {
    unsigned char buf[65536];
    if (lseek(t->fd, 0, SEEK_SET) < 0)
        return UG_EIO;
    for (uint64_t left = t->resume_from; left;) {
        ssize_t r = read(t->fd, buf, left < sizeof buf ? left : sizeof buf);
        if (r <= 0)
            return UG_EIO;
        EVP_DigestUpdate(t->sha, buf, (size_t)r);
        left -= (uint64_t)r;
    }
    return 0; /* the descriptor appends, wherever its offset is */
}

/* A new easy handle with the options every transfer shares; set once,
 * since handles are recycled without curl_easy_reset. */
static CURL *new_easy(ug_fetch *f) {
    CURL *e = curl_easy_init();
    if (!e)
        return NULL;
    const ug_fetch_options *o = &f->opts;
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, (long)RECV_BUFFER);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_body);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, f->headers);
    if (o->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)o->max_redirects);
    curl_easy_setopt(e, CURLOPT_UNRESTRICTED_AUTH, 0L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)o->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, (long)o->low_speed_bytes);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)o->low_speed_s);
    curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, o->dns_cache_s);
    if (o->proxy) { /* NULL: libcurl reads the environment */
        curl_easy_setopt(e, CURLOPT_PROXY, o->proxy);
        if (!*o->proxy) /* none at all: no need to read no_proxy either */
            curl_easy_setopt(e, CURLOPT_NOPROXY, "");
    }
    fetch_events_easy(&f->ev, e);
    return e;
}

/* Whether the connection of the transfer of `r` starting now stays open
 * when it ends: the reuse callback says, or else the engine's rule.  That
 * keeps every connection while each authority met could have per_host of
 * them open within the total cap (libcurl evicts an idle connection only
 * to open one past that cap).  Past that, it keeps one only for a request
 * that will come in reach: its authority has at least as many requests
 * yet to start (`others`, from `authorities`) as it has transfers in
 * flight, this one included, each of which wants a successor; and its
 * share of all the requests yet to start puts its next one, on average,
 * within twice the total cap further on.  Once at the cap, libcurl evicts
 * an idle connection for each one it opens, so a connection kept for a
 * request further away is evicted unused.  libcurl 7.88 leaves an empty
 * entry behind for each host whose idle connection it evicts, and walks
 * all of them on every later eviction and curl_multi_remove_handle; a
 * connection closed as its transfer ends leaves nothing behind. */
static bool keep_connection(ug_fetch *f, struct request *r, uint32_t others) {
    const ug_fetch_options *o = &f->opts;
    if (o->reuse)
        return o->reuse(o->ctx, r->index, r->user);
    if (ug__counts_keys(f->authorities) * o->per_host <= o->concurrency)
        return true;
    return others >= r->q.host->active &&
           (uint64_t)others * 2 * o->concurrency >=
               ug__counts_total(f->authorities);
}

/* The options that change from one transfer to the next. */
static void setup_easy(struct transfer *t, bool keep) {
    CURL *e = t->easy;
    /* libcurl connects by the parse (CURLOPT_CURLU takes precedence), and
     * takes the string, the same URL, as the effective URL instead of
     * printing one from the parse.  In this order: newer libcurl clears
     * the string when given a parse. */
    curl_easy_setopt(e, CURLOPT_CURLU, t->req->uh);
    curl_easy_setopt(e, CURLOPT_URL, t->req->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    /* Waiting to multiplex pays only where ALPN can offer HTTP/2: on
     * http:// it held every transfer to a host behind the first one. */
    curl_easy_setopt(e, CURLOPT_PIPEWAIT,
                     (long)!strncmp(t->req->host, "https:", 6));
    curl_easy_setopt(e, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)t->resume_from);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, (long)!keep);
}

/* Frees what one attempt used, keeping the easy handle for reuse. */
static void transfer_reset(ug_fetch *f, struct transfer *t) {
    if (t->easy) {
        curl_multi_remove_handle(f->multi, t->easy);
        curl_easy_setopt(t->easy, CURLOPT_CURLU, NULL); /* freed with its request */
        f->spare[f->nspare++] = t->easy;
    }
    if (t->fd >= 0)
        close(t->fd);
    free(t->part);
    free(t->buf);
    free(t->cd_name);
    EVP_MD_CTX_free(t->sha);
    *t = (struct transfer){.fd = -1, .f = f};
}

static void report(ug_fetch *f, struct request *r, struct transfer *t,
                   int error, const char *message, const char *path);

/* Starts `r` in the free slot `t`.  A failure to start is final for the
 * request (reported at once). */
static void start(ug_fetch *f, struct transfer *t, struct request *r) {
    *t = (struct transfer){.f = f, .req = r, .fd = -1, .content_length = -1,
                           .slot = (unsigned)(t - f->slots)};
    r->attempts++;
    uint32_t others = ug__counts_take(f->authorities, r->authority);
    int rc = UG_ENOMEM;
    const char *why = "out of memory";
    t->easy = f->nspare ? f->spare[--f->nspare] : new_easy(f);
    if (!t->easy)
        goto fail;
    if (r->has_sha && (!(t->sha = EVP_MD_CTX_new()) ||
                       !EVP_DigestInit_ex(t->sha, EVP_sha256(), NULL)))
        goto fail;
    if (f->dirfd >= 0) {
        rc = open_part(f, t);
        if (!rc && t->sha && t->resume_from)
            rc = hash_existing(t);
        if (rc) {
            why = "cannot open the .part file";
            goto fail;
        }
        t->bytes = t->resume_from;
    }
    setup_easy(t, keep_connection(f, r, others));
    if (curl_multi_add_handle(f->multi, t->easy) != CURLM_OK)
        goto fail;
    t->start_ns = ug_clock_ns();
    f->active++;
    return;
fail:
    report(f, r, t, rc, why, NULL);
    transfer_reset(f, t);
}

/* Starts queued requests while slots are free, parsing added ones as
 * needed: only when nothing parsed can start (a short batch, one per free
 * slot), so every request that could start does, as if all were parsed. */
static void fill_slots(ug_fetch *f) {
    f->held = false;
    while (f->active < f->opts.concurrency) {
        fetch_entry *e = fetch_queue_take(&f->queue);
        if (!e) {
            if (!prepare(f, f->opts.concurrency - f->active))
                return;
            continue;
        }
        struct request *r = request_of(e);
        if (f->opts.admit && !f->opts.admit(f->opts.ctx, r->index, r->user)) {
            fetch_queue_untake(&f->queue, e);
            f->held = true;
            return;
        }
        /* active < concurrency, so some slot is free. */
        struct transfer *t = f->slots;
        while (t->req)
            t++;
        fetch_host *h = e->host; /* a request that fails to start is freed */
        start(f, t, r);
        if (!t->req)
            fetch_queue_release(&f->queue, h);
    }
}

/* ---- finishing -------------------------------------------------------- */

static double info_time(CURL *e, CURLINFO what) {
    curl_off_t us = 0;
    if (!e || curl_easy_getinfo(e, what, &us) != CURLE_OK)
        return 0;
    return (double)us / 1e6;
}

/* Hands the result of `r` to the caller.  `t` is its last attempt, or NULL
 * (or a slot without a handle) when no transfer ran. */
static void report(ug_fetch *f, struct request *r, struct transfer *t,
                   int error, const char *message, const char *path) {
    ug_fetch_result res = {.index = r->index, .url = r->url, .user = r->user,
                           .attempts = r->attempts, .error = error,
                           .message = message, .path = path};
    CURL *e = t && t->start_ns ? t->easy : NULL; /* NULL: it never ran */
    if (e) {
        char *final_url = NULL, *type = NULL;
        curl_easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &final_url);
        curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &type);
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &res.status);
        long version = 0;
        curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &version);
        res.http_version = version == CURL_HTTP_VERSION_3   ? 3
                           : version == CURL_HTTP_VERSION_2_0 ? 2
                           : version                          ? 1
                                                              : 0;
        res.final_url = final_url;
        res.content_type = type;
        res.dns_s = info_time(e, CURLINFO_NAMELOOKUP_TIME_T);
        res.connect_s = info_time(e, CURLINFO_CONNECT_TIME_T);
        res.tls_s = info_time(e, CURLINFO_APPCONNECT_TIME_T);
        res.first_byte_s = info_time(e, CURLINFO_STARTTRANSFER_TIME_T);
        res.total_s = info_time(e, CURLINFO_TOTAL_TIME_T);
        res.bytes = t->bytes;
        if (f->dirfd < 0 && !error && !f->opts.drop_bodies)
            res.body = t->buf ? t->buf : (const unsigned char *)"";
        if (f->lanes && t->start_ns)
            ug_trace_record_lane(f->opts.trace, f->lanes[t->slot],
                                 f->trace_label, t->start_ns, ug_clock_ns(),
                                 t->bytes);
    }
    f->done++;
    if (error)
        f->failed++;
    f->opts.on_done(f->opts.ctx, &res);
    /* Final: nothing needs the request again, and a long batch holds only
     * the requests still to finish. */
    f->reqs[r->index] = NULL;
    request_free(r);
}

/* What to do with a finished attempt. */
enum verdict { DONE, RETRY, RESTART, FAIL };

/* Decides from libcurl's code, our callbacks' abort reason and the HTTP
 * status whether the attempt succeeded, may be retried, or failed for good
 * (setting *error and *message). */
static enum verdict classify(struct transfer *t, CURLcode cc, long status,
                             int *error, const char **message) {
    *message = t->errbuf[0] ? t->errbuf : curl_easy_strerror(cc);
    if (t->abort_error) {
        *error = t->abort_error;
        *message = t->abort_message;
        return FAIL;
    }
    switch (cc) {
    case CURLE_OK:
        break;
    case CURLE_RANGE_ERROR:
        /* The server cannot continue the .part: start it over. */
        return t->resume_from ? RESTART : (*error = UG_EPROTOCOL, FAIL);
    case CURLE_RECV_ERROR:
        /* libcurl reports broken chunked framing with the code of a broken
         * connection; only its message tells them apart. */
        if (strstr(t->errbuf, "chunked-encoding")) {
            *error = UG_EPROTOCOL;
            return FAIL;
        }
        *error = UG_ENET;
        return RETRY;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
        *error = UG_ENET; /* an untrusted certificate stays untrusted */
        return FAIL;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
        *error = UG_ENET;
        return RETRY;
    case CURLE_OPERATION_TIMEDOUT:
        *error = UG_ETIMEDOUT;
        return RETRY;
    case CURLE_PARTIAL_FILE:
        *error = UG_EPROTOCOL; /* shorter than announced: maybe transient */
        return RETRY;
    case CURLE_TOO_MANY_REDIRECTS:
        *error = UG_EREDIRECT;
        return FAIL;
    case CURLE_UNSUPPORTED_PROTOCOL:
        /* After a 3xx: a redirect to a refused scheme.  Otherwise the
         * reply was not HTTP at all (libcurl refuses HTTP/0.9). */
        *error = status >= 300 && status < 400 ? UG_EREDIRECT : UG_EPROTOCOL;
        return FAIL;
    case CURLE_OUT_OF_MEMORY:
        /* libcurl's own cap: a header line over 100 kB ends this way. */
        *error = UG_EPROTOCOL;
        *message = "response header too large (or out of memory)";
        return FAIL;
    case CURLE_URL_MALFORMAT:
        *error = UG_EURL;
        return FAIL;
    default:
        *error = UG_EPROTOCOL;
        return FAIL;
    }
    if (status == 416 && t->resume_from)
        return RESTART;
    if (status >= 200 && status < 300)
        return DONE;
    *error = UG_EHTTP;
    *message = NULL; /* report() callers print the status */
    return status >= 500 || status == 429 ? RETRY : FAIL;
}

/* Checks and renames a complete .part file.  Returns 0 or an error. */
static int finish_file(ug_fetch *f, struct transfer *t, const char **message) {
    if (t->sha) {
        unsigned char got[EVP_MAX_MD_SIZE];
        unsigned n = 0;
        if (!EVP_DigestFinal_ex(t->sha, got, &n) || n != SHA256_LEN ||
            memcmp(got, t->req->sha, SHA256_LEN)) {
            *message = "SHA-256 of the body does not match";
            return UG_ECHECKSUM;
        }
    }
    if (t->fd >= 0) {
        int rc = close(t->fd);
        t->fd = -1;
        if (rc) {
            *message = strerror(errno);
            return UG_EIO;
        }
        const char *final = t->req->name;
        char *claimed = NULL;
        if (t->cd_name) {
            char safe[UG_PATH_NAME_MAX + 1];
            if (!ug_names_claim(f->names, t->cd_name, safe, sizeof safe))
                final = claimed = strdup(safe);
            if (!final)
                final = t->req->name;
        }
        rc = ug_path_rename(f->dirfd, t->part, final, 1);
        if (!rc && claimed) {
            free(t->req->name);
            t->req->name = claimed;
            claimed = NULL;
        }
        free(claimed);
        if (rc) {
            *message = "cannot rename the .part file to its final name";
            return rc;
        }
    }
    return 0;
}

/* Closes the .part file of a failed or cancelled transfer and removes it,
 * unless resuming is on and it holds bytes a later run can continue (the
 * transfer broke off; `error` 0 for a cancel).  A 404, a checksum or size
 * failure leaves nothing worth continuing. */
static void drop_part(ug_fetch *f, struct transfer *t, int error) {
    if (t->fd >= 0) {
        close(t->fd);
        t->fd = -1;
    }
    bool resumable = error == 0 || error == UG_ENET ||
                     error == UG_ETIMEDOUT || error == UG_EPROTOCOL;
    if (t->part && !(f->opts.resume && resumable && t->bytes > 0))
        unlinkat(f->dirfd, t->part, 0);
}

static uint64_t retry_delay_ns(ug_fetch *f, struct transfer *t, long status) {
    curl_off_t after = -1;
    if ((status == 429 || status == 503) &&
        curl_easy_getinfo(t->easy, CURLINFO_RETRY_AFTER, &after) == CURLE_OK &&
        after >= 0) {
        if ((uint64_t)after > f->opts.retry_after_max_s)
            after = f->opts.retry_after_max_s;
        return (uint64_t)after * 1000000000u;
    }
    /* Exponential backoff with "equal jitter": half fixed, half random. */
    uint64_t ms = f->opts.backoff_ms;
    for (unsigned i = 1; i < t->req->attempts && ms < f->opts.backoff_max_ms; i++)
        ms *= 2;
    if (ms > f->opts.backoff_max_ms)
        ms = f->opts.backoff_max_ms;
    uint64_t jitter = ms / 2 ? next_random(f) % (ms / 2 + 1) : 0;
    return (ms - ms / 2 + jitter) * 1000000u;
}

static void finish(ug_fetch *f, struct transfer *t, CURLcode cc) {
    struct request *r = t->req;
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    int error = 0;
    const char *message = NULL;
    char http_message[64];
    enum verdict v = classify(t, cc, status, &error, &message);
    if (v == DONE) {
        error = finish_file(f, t, &message);
        v = error ? FAIL : DONE;
    }
    if (v == RETRY && r->attempts > f->opts.retries)
        v = FAIL;
    if (error == UG_EHTTP && !message) {
        snprintf(http_message, sizeof http_message, "HTTP status %ld", status);
        message = http_message;
    }
    f->active--;
    fetch_queue_release(&f->queue, r->q.host);
    if (v == RESTART && t->fd >= 0 && ftruncate(t->fd, 0) == 0)
        r->attempts--; /* not the server's fault: a free attempt */
    if ((v == RESTART || v == RETRY) &&
        fetch_queue_delay(&f->queue, &r->q,
                 ug_clock_ns() +
                     (v == RETRY ? retry_delay_ns(f, t, status) : 0))) {
        v = FAIL;
        error = UG_ENOMEM;
        message = "out of memory";
    }
    if (v == RESTART || v == RETRY) /* counted before: cannot fail */
        ug__counts_bump(f->authorities, r->authority);
    if (v == DONE) {
        report(f, r, t, 0, NULL, f->dirfd >= 0 ? r->name : NULL);
    } else if (v == FAIL) {
        drop_part(f, t, error);
        report(f, r, t, error, message, NULL);
    }
    transfer_reset(f, t);
}

/* Reports the requests that failed before any transfer (bad URLs). */
static void report_bad(ug_fetch *f) {
    while (f->bad) {
        struct request *r = f->bad;
        f->bad = r->next;
        report(f, r, NULL, r->url_error, r->url_message, NULL);
    }
}

static void progress(ug_fetch *f, bool force) {
    if (!f->opts.on_progress)
        return;
    uint64_t now = ug_clock_ns();
    uint64_t interval = (uint64_t)f->opts.progress_interval_ms * 1000000u;
    if (!force && now - f->last_progress_ns < interval)
        return;
    double dt = (now - f->last_progress_ns) / 1e9;
    ug_fetch_progress p = {
        .done = f->done, .total = f->nreqs, .failed = f->failed,
        .active = f->active, .bytes = f->bytes_total,
        .rate = dt > 0 ? (f->bytes_total - f->last_progress_bytes) / dt : 0,
        .elapsed_s = (now - f->start_ns) / 1e9,
    };
    f->last_progress_ns = now;
    f->last_progress_bytes = f->bytes_total;
    f->opts.on_progress(f->opts.ctx, &p);
}

/* Stops every transfer at once; the requests stay without results. */
static void abort_all(ug_fetch *f) {
    for (unsigned i = 0; i < f->opts.concurrency; i++) {
        struct transfer *t = &f->slots[i];
        if (!t->req)
            continue;
        drop_part(f, t, 0);
        f->active--;
        transfer_reset(f, t);
    }
    fetch_queue_release_all(&f->queue);
}

static bool cancelled(const int *flag) {
    return flag && __atomic_load_n(flag, __ATOMIC_RELAXED);
}

/* Hands every finished transfer to finish() and starts the next ones at
 * once (a slot left idle until the next wait costs throughput); then
 * reports progress, whose callback may add requests (the crawler adds a
 * whole level from it), and starts those too.  Returns how many finished. */
static size_t collect(ug_fetch *f) {
    size_t n = 0;
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(f->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct transfer *t = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        finish(f, t, msg->data.result);
        fill_slots(f);
        n++;
    }
    progress(f, false);
    fill_slots(f);
    return n;
}

int ug_fetch_run(ug_fetch *f, const int *cancel) {
    if (f->shards)
        return fetch_shards_run(f->shards, cancel);
    f->start_ns = f->last_progress_ns = ug_clock_ns();
    f->last_progress_bytes = f->bytes_total;
    for (;;) {
        report_bad(f);
        if (cancelled(cancel)) {
            abort_all(f);
            return UG_ECANCELED;
        }
        uint64_t now = ug_clock_ns();
        uint64_t next_due = fetch_queue_release_due(&f->queue, now);
        fill_slots(f);
        if (!f->active && !f->queue.queued && !f->unparsed.head &&
            !f->queue.ndelayed && !f->bad)
            break;
        /* Transfers just added are due at once; those that finish start
         * others, so go on until nothing is due. */
        do
            fetch_events_run_timer(&f->ev);
        while (collect(f));
        long wait_ms = fetch_events_timeout_ms(&f->ev, POLL_MAX_MS);
        /* Rounded up: a retry due in 0.3 ms must not make a busy loop of
         * waits of 0 ms. */
        uint64_t due_ms = next_due == UINT64_MAX
                              ? UINT64_MAX
                              : (next_due - now + 999999u) / 1000000u;
        if (due_ms < (uint64_t)wait_ms)
            wait_ms = (long)due_ms;
        /* Nothing in flight and no admit refusal to be woken from: wait
         * only when the retries are all that is left. */
        if (!f->active && !f->held &&
            (f->queue.queued || f->unparsed.head || f->bad ||
             !f->queue.ndelayed))
            continue;
        int rc = fetch_events_wait(&f->ev, wait_ms);
        if (rc) {
            abort_all(f);
            return rc;
        }
        collect(f);
    }
    progress(f, true);
    return 0;
}

void ug_fetch_wake(ug_fetch *f) {
    if (f->shards)
        fetch_shards_wake(f->shards);
    else
        fetch_events_wake(&f->ev);
}
