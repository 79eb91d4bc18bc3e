/* test_fetch.c - the download engine (ungil/fetch.h) against a real server.
 *
 * The server is part of this program, so the sanitizers watch both ends:
 * a small HTTP/1.1 server on 127.0.0.1 (port 0, backlog 1024, TCP_NODELAY)
 * with an accepting thread and one thread per connection, keep-alive, and a
 * handful of behaviours chosen by path (see handle()).  Every blocking call
 * of the server polls a "wake" pipe as well, so server_stop() interrupts
 * reads, drips and delays at once and joins every thread it started.
 *
 * The server counts requests in flight and remembers the most it saw.  A
 * request stops counting just before the last byte of its response is
 * sent, so the client cannot start its next request before the count went
 * down: the maximum is then never more than the client's real concurrency,
 * and "max_active <= per_host" is an exact test, not a likely one.
 *
 * Bodies are deterministic (pattern_byte(i) at offset i), so a body that is
 * shifted, truncated or stitched wrongly on resume shows as a mismatch.
 * Results are copied out of the on_done callback into one slot per index,
 * which also counts how often each index was reported.
 */
#include "check.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "ungil/fetch.h"
#include "ungil/path.h"
#include "ungil/trace.h"

/* ---- content ------------------------------------------------------------ */

/* Byte `i` of every /bytes body: depends on the position, so an offset
 * error cannot go unnoticed. */
static unsigned char pattern_byte(uint64_t i) {
    return (unsigned char)(((uint32_t)i * 2654435761u) >> 24);
}

static void fill_pattern(unsigned char *p, size_t n, uint64_t from) {
    for (size_t i = 0; i < n; i++)
        p[i] = pattern_byte(from + i);
}

/* Does p[0..n) equal the pattern from offset `from`? */
static bool is_pattern(const unsigned char *p, uint64_t n, uint64_t from) {
    for (uint64_t i = 0; i < n; i++)
        if (p[i] != pattern_byte(from + i))
            return false;
    return true;
}

/* gzip -9 (mtime 0) of GZIP_TEXT repeated GZIP_REPEAT times: 249 bytes on
 * the wire, 140000 once decoded. */
#define GZIP_TEXT "ungil! "
enum { GZIP_REPEAT = 20000, GZIP_DECODED = 7 * GZIP_REPEAT };
static const unsigned char GZIP_BODY[] = {
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xed, 0xc5,
    0xb1, 0x09, 0x00, 0x30, 0x08, 0x00, 0xb0, 0x57, 0xf4, 0x3a, 0x29, 0x14,
    0x37, 0xff, 0xf7, 0x0d, 0x87, 0x64, 0xc9, 0x74, 0xbd, 0x9f, 0x31, 0x92,
    0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92,
    0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92,
    0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92,
    0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92,
    0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92,
    0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92,
    0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92,
    0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92,
    0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92,
    0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92,
    0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92,
    0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92,
    0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92,
    0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92,
    0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92,
    0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92,
    0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x5d, 0x6e,
    0x01, 0x9f, 0xea, 0xb3, 0x2e, 0xe0, 0x22, 0x02, 0x00,
};

static bool is_gzip_text(const unsigned char *p, uint64_t n, uint64_t from) {
    for (uint64_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)GZIP_TEXT[(from + i) % 7])
            return false;
    return true;
}

/* The SHA-256 of the first n pattern bytes, in hex (lower case unless
 * `upper`). */
static void pattern_sha256(size_t n, bool upper, char hex[65]) {
    unsigned char *p = malloc(n ? n : 1), md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    fill_pattern(p, n, 0);
    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, upper ? "%02X" : "%02x", md[i]);
    free(p);
}

/* ---- the server --------------------------------------------------------- */

enum { MAX_PATHS = 256, HEAD_MAX = 8192 };

/* What the server saw of one request target. */
struct path_stat {
    char target[512];
    unsigned hits;
    char range[64]; /* the last Range header, "" if none */
};

struct server {
    int lfd;
    int wake[2];             /* written once by server_stop */
    unsigned port;
    pthread_t acceptor;
    pthread_mutex_t lock;    /* guards every field below */
    pthread_t *threads;      /* one per connection, joined at the end */
    size_t nthreads, threads_cap;
    unsigned active, max_active; /* requests in flight, and the most seen */
    unsigned requests, connections;
    unsigned open;           /* connections the client has not closed */
    struct path_stat paths[MAX_PATHS];
    size_t npaths;
};

struct conn {
    struct server *srv;
    int fd;
    bool counted;            /* this request is in srv->active */
    size_t len;              /* bytes in buf */
    char buf[HEAD_MAX];      /* what was read and not handled yet */
};

/* Waits `ms` milliseconds, or less if the server stops: returns false
 * then. */
static bool pause_ms(struct server *s, unsigned ms) {
    struct pollfd p = {s->wake[0], POLLIN, 0};
    int n;
    while ((n = poll(&p, 1, (int)ms)) < 0 && errno == EINTR)
        continue;
    return n == 0;
}

static bool send_all(int fd, const void *data, size_t n) {
    const char *p = data;
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

/* Counts a request in: its target's hits, its Range header, the number in
 * flight.  Returns how often this target was asked for, this time
 * included. */
static unsigned enter(struct conn *c, const char *target, const char *range) {
    struct server *s = c->srv;
    pthread_mutex_lock(&s->lock);
    s->requests++;
    if (++s->active > s->max_active)
        s->max_active = s->active;
    c->counted = true;
    struct path_stat *ps = NULL;
    for (size_t i = 0; i < s->npaths && !ps; i++)
        if (!strcmp(s->paths[i].target, target))
            ps = &s->paths[i];
    if (!ps && s->npaths < MAX_PATHS) {
        ps = &s->paths[s->npaths++];
        snprintf(ps->target, sizeof ps->target, "%s", target);
    }
    unsigned hits = 0;
    if (ps) {
        hits = ++ps->hits;
        snprintf(ps->range, sizeof ps->range, "%s", range);
    }
    pthread_mutex_unlock(&s->lock);
    return hits;
}

/* The request is over (as far as the count goes).  Idempotent. */
static void leave(struct conn *c) {
    if (!c->counted)
        return;
    pthread_mutex_lock(&c->srv->lock);
    c->srv->active--;
    pthread_mutex_unlock(&c->srv->lock);
    c->counted = false;
}

static const char *reason(int status) {
    switch (status) {
    case 200: return "OK";
    case 206: return "Partial Content";
    case 302: return "Found";
    case 404: return "Not Found";
    case 416: return "Range Not Satisfiable";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Whatever";
    }
}

/* Sends a whole response: status line, Content-Length, `headers` (each
 * ending in CRLF), blank line, body.  The request leaves the count just
 * before the last byte goes out. */
static bool respond(struct conn *c, int status, const char *headers,
                    const void *body, size_t len) {
    const char *format = "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n%s\r\n";
    int h = snprintf(NULL, 0, format, status, reason(status), len, headers);
    size_t total = (size_t)h + len;
    unsigned char *all = malloc(total + 1);
    if (!all)
        return false;
    snprintf((char *)all, (size_t)h + 1, format, status, reason(status), len,
             headers);
    if (len)
        memcpy(all + h, body, len);
    bool ok = send_all(c->fd, all, total - 1);
    leave(c);
    ok = ok && send_all(c->fd, all + total - 1, 1);
    free(all);
    return ok;
}

/* /bytes/N and /plain/N: N pattern bytes.  With `ranges`, a "Range:
 * bytes=K-" header gets 206 and the bytes from K (416 if K >= N). */
static bool send_bytes(struct conn *c, uint64_t n, const char *range,
                       bool ranges) {
    unsigned long long k = 0;
    uint64_t from = 0;
    int status = 200;
    char headers[256];
    int h = snprintf(headers, sizeof headers,
                     "Content-Type: application/octet-stream\r\n");
    if (ranges && sscanf(range, "bytes=%llu-", &k) == 1) {
        if (k >= n) {
            snprintf(headers + h, sizeof headers - (size_t)h,
                     "Content-Range: bytes */%llu\r\n", (unsigned long long)n);
            return respond(c, 416, headers, NULL, 0);
        }
        from = k;
        status = 206;
        snprintf(headers + h, sizeof headers - (size_t)h,
                 "Content-Range: bytes %llu-%llu/%llu\r\n", k,
                 (unsigned long long)n - 1, (unsigned long long)n);
    }
    size_t len = (size_t)(n - from);
    unsigned char *body = malloc(len ? len : 1);
    if (!body)
        return false;
    fill_pattern(body, len, from);
    bool ok = respond(c, status, headers, body, len);
    free(body);
    return ok;
}

/* /reset/N and /short/N: headers announcing N bytes, half the body, then
 * an abortive close (RST, by SO_LINGER 0) or an orderly one (FIN). */
static bool send_broken(struct conn *c, uint64_t n, bool reset) {
    char head[256];
    int h = snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\nContent-Length: %llu\r\n"
                     "Content-Type: application/octet-stream\r\n\r\n",
                     (unsigned long long)n);
    size_t half = (size_t)(n / 2);
    unsigned char *body = malloc(half ? half : 1);
    if (!body)
        return false;
    fill_pattern(body, half, 0);
    leave(c);
    if (send_all(c->fd, head, (size_t)h) && send_all(c->fd, body, half))
        pause_ms(c->srv, 20); /* let the client read the part it got */
    free(body);
    if (reset) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(c->fd);
    c->fd = -1;
    return false;
}

/* /slow/MS: 100 pattern bytes in ten pieces, MS/10 ms apart. */
static bool send_slow(struct conn *c, unsigned ms) {
    unsigned char body[100];
    fill_pattern(body, sizeof body, 0);
    char head[256];
    int h = snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n"
                     "Content-Type: application/octet-stream\r\n\r\n");
    if (!send_all(c->fd, head, (size_t)h) || !send_all(c->fd, body, 10))
        return false;
    for (int i = 1; i < 10; i++) {
        if (!pause_ms(c->srv, ms / 10))
            return false;
        if (i == 9)
            leave(c);
        if (!send_all(c->fd, body + 10 * i, 10))
            return false;
    }
    return true;
}

/* Does `target` start with `prefix`, followed by a number and then nothing
 * or "/anything"?  "/bytes/10/a.txt" matches "/bytes/" with 10: the tail
 * only gives the client a file name. */
static bool number_after(const char *target, const char *prefix,
                         unsigned long long *n) {
    size_t k = strlen(prefix);
    if (strncmp(target, prefix, k) || target[k] < '0' || target[k] > '9')
        return false;
    char *end;
    *n = strtoull(target + k, &end, 10);
    return *end == '\0' || *end == '/';
}

/* Copies the value of header `name` in `head` to `out` ("" if absent). */
static void header_value(const char *head, const char *name, char *out,
                         size_t size) {
    out[0] = '\0';
    size_t k = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, k) || line[k] != ':')
            continue;
        const char *v = line + k + 1;
        while (*v == ' ')
            v++;
        size_t len = strcspn(v, "\r\n");
        snprintf(out, size, "%.*s", (int)len, v);
        return;
    }
}

/* Answers one request.  Returns whether the connection stays open.
 *
 *   /bytes/N[/name]      N pattern bytes; honours "Range: bytes=K-"
 *   /plain/N[/name]      the same, ignoring Range (200 and all of it)
 *   /status/N            status N with a short text body
 *   /fail-once/N[/name]  500 the first time (per target), then /bytes/N
 *   /retry-after/N       429 with "Retry-After: 1" once, then /bytes/N
 *   /retry-after-long/N  429 with "Retry-After: 3600" once, then /bytes/N
 *   /reset/N             N announced, N/2 sent, then RST
 *   /short/N             N announced, N/2 sent, then FIN
 *   /slow/MS             100 pattern bytes dripped over MS ms
 *   /redirect/N          302 to /redirect/N-1; /redirect/0 says "done"
 *   /loop                302 to itself
 *   /to-ftp              302 to an ftp:// URL
 *   /gzip                GZIP_BODY with Content-Encoding: gzip
 *   /cd/N[/name]         /bytes/N, named "cd.bin" by Content-Disposition
 *   /big-header          a 2000-byte header line, then "x"
 */
static bool handle(struct conn *c, const char *head) {
    char method[16], target[512], range[64], extra[128];
    if (sscanf(head, "%15s %511s", method, target) != 2)
        return false;
    header_value(head, "Range", range, sizeof range);
    unsigned hits = enter(c, target, range);
    unsigned long long n = 0;
    if (number_after(target, "/bytes/", &n))
        return send_bytes(c, n, range, true);
    if (number_after(target, "/plain/", &n))
        return send_bytes(c, n, range, false);
    if (number_after(target, "/status/", &n)) {
        char body[32];
        int len = snprintf(body, sizeof body, "status %llu\n", n);
        return respond(c, (int)n, "Content-Type: text/plain\r\n", body,
                       (size_t)len);
    }
    if (number_after(target, "/fail-once/", &n))
        return hits == 1 ? respond(c, 500, "", "try again\n", 10)
                         : send_bytes(c, n, range, true);
    if (number_after(target, "/retry-after/", &n))
        return hits == 1 ? respond(c, 429, "Retry-After: 1\r\n", "later\n", 6)
                         : send_bytes(c, n, range, true);
    if (number_after(target, "/retry-after-long/", &n))
        return hits == 1 ? respond(c, 429, "Retry-After: 3600\r\n", NULL, 0)
                         : send_bytes(c, n, range, true);
    if (number_after(target, "/reset/", &n))
        return send_broken(c, n, true);
    if (number_after(target, "/short/", &n))
        return send_broken(c, n, false);
    if (number_after(target, "/slow/", &n))
        return send_slow(c, (unsigned)n);
    if (number_after(target, "/redirect/", &n)) {
        if (!n)
            return respond(c, 200, "Content-Type: text/plain\r\n", "done", 4);
        snprintf(extra, sizeof extra, "Location: /redirect/%llu\r\n", n - 1);
        return respond(c, 302, extra, NULL, 0);
    }
    if (!strcmp(target, "/loop"))
        return respond(c, 302, "Location: /loop\r\n", NULL, 0);
    if (!strcmp(target, "/to-ftp")) {
        snprintf(extra, sizeof extra, "Location: ftp://127.0.0.1:%u/x\r\n",
                 c->srv->port);
        return respond(c, 302, extra, NULL, 0);
    }
    if (number_after(target, "/cd/", &n)) {
        unsigned char *body = malloc(n ? n : 1);
        if (!body)
            return false;
        fill_pattern(body, n, 0);
        bool ok = respond(c, 200,
                          "Content-Disposition: attachment; "
                          "filename=\"cd.bin\"\r\n",
                          body, n);
        free(body);
        return ok;
    }
    if (!strcmp(target, "/big-header")) {
        char big[2100];
        memset(big, 'a', sizeof big);
        memcpy(big, "X-Big: ", 7);
        memcpy(big + 2000, "\r\n", 3);
        return respond(c, 200, big, "x", 1);
    }
    if (!strcmp(target, "/gzip"))
        return respond(c, 200,
                       "Content-Type: text/plain\r\n"
                       "Content-Encoding: gzip\r\n",
                       GZIP_BODY, sizeof GZIP_BODY);
    return respond(c, 404, "Content-Type: text/plain\r\n", "no such path\n",
                   13);
}

/* Reads until buf holds a whole request head; returns its length (blank
 * line included), or 0 when the client closed, the head is too long or the
 * server stops. */
static size_t read_head(struct conn *c) {
    for (;;) {
        char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (end)
            return (size_t)(end - c->buf) + 4;
        if (c->len == sizeof c->buf)
            return 0;
        struct pollfd p[2] = {{c->fd, POLLIN, 0},
                              {c->srv->wake[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return 0;
        }
        if (p[1].revents)
            return 0;
        ssize_t k = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
        if (k <= 0)
            return 0;
        c->len += (size_t)k;
    }
}

/* One connection: requests one after the other (keep-alive). */
static void *serve_conn(void *arg) {
    struct conn *c = arg;
    char head[HEAD_MAX + 1];
    for (;;) {
        size_t n = read_head(c);
        if (!n)
            break;
        memcpy(head, c->buf, n);
        head[n] = '\0';
        memmove(c->buf, c->buf + n, c->len - n);
        c->len -= n;
        bool keep = handle(c, head);
        leave(c);
        if (!keep)
            break;
    }
    if (c->fd >= 0)
        close(c->fd);
    pthread_mutex_lock(&c->srv->lock);
    c->srv->open--;
    pthread_mutex_unlock(&c->srv->lock);
    free(c);
    return NULL;
}

static void *accept_loop(void *arg) {
    struct server *s = arg;
    for (;;) {
        struct pollfd p[2] = {{s->lfd, POLLIN, 0}, {s->wake[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[1].revents)
            break;
        if (!p[0].revents)
            continue;
        int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = calloc(1, sizeof *c);
        pthread_mutex_lock(&s->lock);
        if (c && s->nthreads == s->threads_cap) {
            size_t cap = s->threads_cap ? 2 * s->threads_cap : 64;
            pthread_t *grown = realloc(s->threads, cap * sizeof *grown);
            if (grown) {
                s->threads = grown;
                s->threads_cap = cap;
            }
        }
        bool started = false;
        if (c && s->nthreads < s->threads_cap) {
            *c = (struct conn){.srv = s, .fd = fd};
            started = !pthread_create(&s->threads[s->nthreads], NULL,
                                      serve_conn, c);
        }
        if (started) {
            s->nthreads++;
            s->connections++;
            s->open++;
        }
        pthread_mutex_unlock(&s->lock);
        if (!started) {
            close(fd);
            free(c);
        }
    }
    return NULL;
}

/* Starts a server on 127.0.0.1 and a random port; NULL after a failed
 * check. */
static struct server *server_start(void) {
    struct server *s = calloc(1, sizeof *s);
    if (!CHECK_NOT_NULL(s))
        return NULL;
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    bool ok = CHECK_INT(s->lfd, >=, 0) &&
              CHECK_INT_EQ(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0) &&
              CHECK_INT_EQ(listen(s->lfd, 1024), 0) &&
              CHECK_INT_EQ(getsockname(s->lfd, (struct sockaddr *)&a, &alen),
                           0) &&
              CHECK_INT_EQ(pipe2(s->wake, O_CLOEXEC), 0);
    if (!ok) {
        if (s->lfd >= 0)
            close(s->lfd);
        free(s);
        return NULL;
    }
    s->port = ntohs(a.sin_port);
    pthread_mutex_init(&s->lock, NULL);
    if (!CHECK_INT_EQ(pthread_create(&s->acceptor, NULL, accept_loop, s), 0))
        abort(); /* nothing sensible to clean up against */
    return s;
}

/* Stops the server: wakes every thread, joins them all, frees it. */
static void server_stop(struct server *s) {
    if (!s)
        return;
    CHECK_INT_EQ(write(s->wake[1], "x", 1), 1);
    pthread_join(s->acceptor, NULL);
    /* The acceptor is gone: the thread list no longer changes. */
    for (size_t i = 0; i < s->nthreads; i++)
        pthread_join(s->threads[i], NULL);
    close(s->lfd);
    close(s->wake[0]);
    close(s->wake[1]);
    pthread_mutex_destroy(&s->lock);
    free(s->threads);
    free(s);
}

/* A snapshot of the server's counters. */
struct server_counts {
    unsigned active, max_active, requests, connections;
};

static struct server_counts server_counts(struct server *s) {
    pthread_mutex_lock(&s->lock);
    struct server_counts n = {s->active, s->max_active, s->requests,
                              s->connections};
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* Waits up to 5 s for the server to hold `want` connections open; returns
 * how many it holds then. */
static unsigned server_open(struct server *s, unsigned want) {
    unsigned open = 0;
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&s->lock);
        open = s->open;
        pthread_mutex_unlock(&s->lock);
        if (open == want)
            break;
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    }
    return open;
}

/* How often `target` was requested; its last Range header into `range`
 * (when not NULL). */
static unsigned server_hits(struct server *s, const char *target,
                            char range[64]) {
    unsigned hits = 0;
    if (range)
        range[0] = '\0';
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->npaths; i++)
        if (!strcmp(s->paths[i].target, target)) {
            hits = s->paths[i].hits;
            if (range)
                memcpy(range, s->paths[i].range, 64);
        }
    pthread_mutex_unlock(&s->lock);
    return hits;
}

/* "http://127.0.0.1:PORT" + path, in a static buffer per call site
 * (fetch copies the URL it is given). */
static const char *url_of(struct server *s, char buf[256], const char *path) {
    snprintf(buf, 256, "http://127.0.0.1:%u%s", s->port, path);
    return buf;
}

/* ---- the client side: results per index --------------------------------- */

/* A copy of one ug_fetch_result, and how often its index was reported. */
struct outcome {
    unsigned reports;
    int error;
    long status;
    uint64_t bytes;
    unsigned attempts;
    bool had_body;
    char *url, *final_url, *path, *content_type, *message;
    unsigned char *body;
    void *user;
};

struct results {
    struct outcome *out;
    size_t cap;               /* slots in out */
    size_t reports;           /* on_done calls */
    ug_fetch *fetch;          /* for hooks that add requests */
    /* Called after each result is recorded (NULL for none). */
    void (*then)(struct results *rs, const ug_fetch_result *r);
    void *extra;              /* the hooks' own state */
};

static char *dup_or_null(const char *s) {
    return s ? strdup(s) : NULL;
}

static void outcome_clear(struct outcome *o) {
    free(o->url);
    free(o->final_url);
    free(o->path);
    free(o->content_type);
    free(o->message);
    free(o->body);
}

static void record_result(void *ctx, const ug_fetch_result *r) {
    struct results *rs = ctx;
    rs->reports++;
    if (r->index >= rs->cap) {
        size_t cap = rs->cap ? rs->cap : 64;
        while (cap <= r->index)
            cap *= 2;
        struct outcome *grown = realloc(rs->out, cap * sizeof *grown);
        if (!grown)
            abort();
        memset(grown + rs->cap, 0, (cap - rs->cap) * sizeof *grown);
        rs->out = grown;
        rs->cap = cap;
    }
    struct outcome *o = &rs->out[r->index];
    unsigned reports = o->reports;
    outcome_clear(o);
    *o = (struct outcome){
        .reports = reports + 1, .error = r->error, .status = r->status,
        .bytes = r->bytes, .attempts = r->attempts, .had_body = r->body != NULL,
        .url = dup_or_null(r->url), .final_url = dup_or_null(r->final_url),
        .path = dup_or_null(r->path),
        .content_type = dup_or_null(r->content_type),
        .message = dup_or_null(r->message), .user = r->user};
    if (r->body && r->bytes) {
        o->body = malloc((size_t)r->bytes);
        memcpy(o->body, r->body, (size_t)r->bytes);
    }
    if (rs->then)
        rs->then(rs, r);
}

/* The outcome of index i (a zeroed one if it was never reported). */
static struct outcome *outcome(struct results *rs, size_t i) {
    static struct outcome none;
    if (i >= rs->cap) {
        memset(&none, 0, sizeof none);
        return &none;
    }
    return &rs->out[i];
}

static void results_free(struct results *rs) {
    for (size_t i = 0; i < rs->cap; i++)
        outcome_clear(&rs->out[i]);
    free(rs->out);
}

/* Loops per engine in test_options(); test_loops_sharded() runs tests
 * again with several. */
static unsigned test_loops = 1;

/* Options every test starts from: short backoffs (so retries cost
 * milliseconds), a fixed jitter seed, and timeouts that end a hang. */
static void test_options(ug_fetch_options *o) {
    ug_fetch_options_init(o);
    o->threads = test_loops;
    o->backoff_ms = 5;
    o->backoff_max_ms = 20;
    o->seed = 12345;
    o->connect_timeout_ms = 5000;
    o->timeout_ms = 30000;
}

/* Creates an engine whose results land in `rs`; NULL after a failed
 * check. */
static ug_fetch *new_fetch(ug_fetch_options *o, struct results *rs) {
    o->on_done = record_result;
    o->ctx = rs;
    ug_fetch *f = NULL;
    if (!CHECK_RC(ug_fetch_new(o, &f), 0))
        return NULL;
    rs->fetch = f;
    return f;
}

/* Adds server path `path`; checks the index is `want`. */
static void add_path(ug_fetch *f, struct server *s, const char *path,
                     const char *name, const char *sha, long want) {
    char buf[256];
    CHECK_INT_EQ(ug_fetch_add(f, url_of(s, buf, path), name, sha, NULL), want);
}

/* Checks a successful in-memory result of /bytes/n. */
static bool check_bytes_outcome(const struct outcome *o, uint64_t n) {
    bool ok = CHECK_UINT_EQ(o->reports, 1);
    ok = CHECK_RC(o->error, 0) && ok;
    ok = CHECK_INT_EQ(o->status, 200) && ok;
    ok = CHECK_UINT_EQ(o->bytes, n) && ok;
    ok = CHECK_UINT_EQ(o->attempts, 1) && ok;
    if (n)
        ok = CHECK(o->body && is_pattern(o->body, n, 0)) && ok;
    return ok;
}

/* ---- files -------------------------------------------------------------- */

/* Creates a fresh directory under /tmp into `dir`; false after a failed
 * check. */
static bool make_tmpdir(char dir[64]) {
    snprintf(dir, 64, "/tmp/ungil-test-fetch-XXXXXX");
    return CHECK_NOT_NULL(mkdtemp(dir));
}

/* Removes `dir` and what is in it: files, links, empty directories. */
static void remove_tmpdir(const char *dir) {
    DIR *d = opendir(dir);
    if (!CHECK_NOT_NULL(d))
        return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            CHECK_INT_EQ(unlinkat(dirfd(d), e->d_name,
                                  e->d_type == DT_DIR ? AT_REMOVEDIR : 0),
                         0);
    closedir(d);
    CHECK_INT_EQ(rmdir(dir), 0);
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in `dir`, sorted and joined with '|' ("" for none); free it. */
static char *dir_listing(const char *dir) {
    char *names[512], *out = NULL;
    size_t n = 0, len = 0;
    DIR *d = opendir(dir);
    if (!d)
        return strdup("(cannot open)");
    struct dirent *e;
    while ((e = readdir(d)) && n < 512)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, compare_names);
    FILE *m = open_memstream(&out, &len);
    for (size_t i = 0; i < n; i++) {
        fprintf(m, "%s%s", i ? "|" : "", names[i]);
        free(names[i]);
    }
    fclose(m);
    return out;
}

/* Checks that dir holds exactly `want` ('|'-joined, sorted). */
static bool check_listing(const char *dir, const char *want) {
    char *got = dir_listing(dir);
    bool ok = CHECK_STR_EQ(got, want);
    free(got);
    return ok;
}

/* The contents of dir/name (free it), its size in *size; NULL if it cannot
 * be read. */
static unsigned char *read_file(const char *dir, const char *name,
                                size_t *size) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 65536;
            buf = realloc(buf, cap);
        }
        size_t k = fread(buf + n, 1, cap - n, f);
        n += k;
        if (!k)
            break;
    }
    fclose(f);
    *size = n;
    return buf;
}

/* Checks that dir/name holds exactly the first n pattern bytes. */
static bool check_pattern_file(const char *dir, const char *name, size_t n) {
    size_t size = 0;
    unsigned char *p = read_file(dir, name, &size);
    bool ok = CHECK_NOT_NULL(p);
    if (ok) {
        ok = CHECK_UINT_EQ(size, n);
        ok = ok && CHECK(is_pattern(p, n, 0));
    }
    if (!ok)
        printf("    file: %s/%s\n", dir, name);
    free(p);
    return ok;
}

/* Writes the first n pattern bytes to dir/name. */
static void write_pattern_file(const char *dir, const char *name, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unsigned char *p = malloc(n ? n : 1);
    fill_pattern(p, n, 0);
    FILE *f = fopen(path, "wb");
    if (CHECK_NOT_NULL(f)) {
        CHECK_UINT_EQ(fwrite(p, 1, n, f), n);
        fclose(f);
    }
    free(p);
}

/* ---- options and arguments ---------------------------------------------- */

static void ignore_result(void *ctx, const ug_fetch_result *r) {
    (void)ctx;
    (void)r;
}

static void test_options_and_new(void) {
    ug_fetch_options o;
    ug_fetch_options_init(&o);
    CHECK_UINT_EQ(o.concurrency, 64);
    CHECK_UINT_EQ(o.per_host, 8);
    CHECK_UINT_EQ(o.retries, 3);
    CHECK_UINT_EQ(o.backoff_ms, 200);
    CHECK_UINT_EQ(o.backoff_max_ms, 10000);
    CHECK_UINT_EQ(o.retry_after_max_s, 30);
    CHECK_UINT_EQ(o.connect_timeout_ms, 10000);
    CHECK_UINT_EQ(o.timeout_ms, 0);
    CHECK_UINT_EQ(o.low_speed_bytes, 1);
    CHECK_UINT_EQ(o.low_speed_s, 30);
    CHECK_UINT_EQ(o.max_bytes, 0);
    CHECK_UINT_EQ(o.max_redirects, 10);
    CHECK_UINT_EQ(o.max_header_bytes, 64 * 1024);
    CHECK_UINT_EQ(o.progress_interval_ms, 200);
    CHECK_INT(o.dns_cache_s, ==, 60);
    CHECK_NULL(o.dest_dir);
    CHECK_NULL(o.on_done);

    ug_fetch *f = NULL;
    CHECK_RC(ug_fetch_new(&o, &f), UG_EINVAL); /* no on_done */
    CHECK_RC(ug_fetch_new(NULL, &f), UG_EINVAL);
    o.on_done = ignore_result;
    CHECK_RC(ug_fetch_new(&o, NULL), UG_EINVAL);
    o.dns_cache_s = -2; /* -1 (for the whole run) is the lowest */
    CHECK_RC(ug_fetch_new(&o, &f), UG_EINVAL);
    o.dns_cache_s = 60;
    o.dest_dir = "/nonexistent/ungil-test-fetch";
    f = NULL;
    CHECK_RC(ug_fetch_new(&o, &f), UG_EINVAL);
    CHECK_NULL(f);
    o.dest_dir = "/dev/null"; /* not a directory */
    CHECK_RC(ug_fetch_new(&o, &f), UG_EINVAL);
    CHECK_NULL(f);
    ug_fetch_free(NULL);

    /* An engine with nothing to do returns at once. */
    o.dest_dir = NULL;
    if (!CHECK_RC(ug_fetch_new(&o, &f), 0))
        return;
    uint64_t t0 = ug_clock_ns();
    CHECK_RC(ug_fetch_run(f, NULL), 0);
    CHECK_UINT(ug_clock_ns() - t0, <, 1000000000u);
    ug_fetch_free(f);

    /* An engine freed with requests that never ran. */
    CHECK_RC(ug_fetch_new(&o, &f), 0);
    CHECK_INT_EQ(ug_fetch_add(f, "http://127.0.0.1:9/x", NULL, NULL, NULL), 0);
    CHECK_INT_EQ(ug_fetch_add(f, "not a url", NULL, NULL, NULL), 1);
    ug_fetch_free(f);
}

/* ---- memory mode -------------------------------------------------------- */

/* The size of body i in the memory-mode batches: 0, a few large ones,
 * the rest scattered below 20000. */
static size_t batch_size(size_t i) {
    if (i == 0)
        return 0;
    if (i % 16 == 1)
        return 300000 + i;
    return (i * 7919) % 20000;
}

static void test_memory_mode(void) {
    const unsigned levels[] = {1, 4, 64};
    size_t n = CHECK_SANITIZED ? 80 : 200;
    for (size_t l = 0; l < 3; l++) {
        unsigned conc = levels[l];
        struct server *srv = server_start();
        if (!srv)
            return;
        struct results rs = {0};
        ug_fetch_options o;
        test_options(&o);
        o.concurrency = conc;
        o.per_host = conc;
        ug_fetch *f = new_fetch(&o, &rs);
        if (!f) {
            server_stop(srv);
            return;
        }
        char path[64], buf[256];
        for (size_t i = 0; i < n; i++) {
            snprintf(path, sizeof path, "/bytes/%zu", batch_size(i));
            CHECK_INT_EQ(ug_fetch_add(f, url_of(srv, buf, path), NULL, NULL,
                                      (void *)(uintptr_t)(i + 1)),
                         (long)i);
        }
        CHECK_RC(ug_fetch_run(f, NULL), 0);
        CHECK_UINT_EQ(rs.reports, n);
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) {
            struct outcome *o1 = outcome(&rs, i);
            snprintf(path, sizeof path, "/bytes/%zu", batch_size(i));
            url_of(srv, buf, path);
            bool ok = check_bytes_outcome(o1, batch_size(i));
            ok = CHECK_STR_EQ(o1->url, buf) && ok;
            ok = CHECK_STR_EQ(o1->final_url, buf) && ok;
            ok = CHECK_NULL(o1->path) && ok;
            ok = CHECK_NULL(o1->message) && ok;
            ok = CHECK_STR_EQ(o1->content_type, "application/octet-stream") &&
                 ok;
            ok = CHECK_PTR_EQ(o1->user, (void *)(uintptr_t)(i + 1)) && ok;
            if (batch_size(i))
                ok = CHECK(o1->had_body) && ok;
            bad += !ok;
            if (!ok)
                printf("    index %zu, concurrency %u\n", i, conc);
            if (bad > 3)
                break;
        }
        ug_fetch_free(f);
        struct server_counts sc = server_counts(srv);
        CHECK_UINT_EQ(sc.requests, n);
        CHECK_UINT(sc.max_active, <=, conc);
        CHECK_UINT(sc.max_active, >=, 1);
        /* Keep-alive: never more connections than transfers at once. */
        CHECK_UINT(sc.connections, <=, conc);
        server_stop(srv);
        results_free(&rs);
    }
}

/* ---- file mode ---------------------------------------------------------- */

static void test_file_mode(void) {
    char dir[64];
    if (!make_tmpdir(dir))
        return;
    struct server *srv = server_start();
    if (!srv) {
        remove_tmpdir(dir);
        return;
    }
    struct results rs = {0};
    ug_fetch_options o;
    test_options(&o);
    o.concurrency = 4;
    o.dest_dir = dir;
    ug_fetch *f = new_fetch(&o, &rs);
    if (!f)
        goto out;
    /* Index, path, given name -> expected file name and size. */
    static const struct {
        const char *path, *name, *want;
        size_t size;
    } files[] = {
        {"/bytes/1000/a.txt", NULL, "a.txt", 1000},
        {"/bytes/2000/a.txt", NULL, "a (1).txt", 2000},
        {"/bytes/3000/a.txt?q=1#frag", NULL, "a (2).txt", 3000},
        {"/bytes/500", NULL, "500", 500},
        {"/bytes/10/", NULL, "10", 10},
        {"/bytes/0/empty", NULL, "empty", 0},
        {"/bytes/200000/big.bin", NULL, "big.bin", 200000},
        {"/bytes/70", "given.bin", "given.bin", 70},
        {"/bytes/71", "a.txt", "a (3).txt", 71},
        {"/bytes/72", "../escape.txt", "_escape.txt", 72},
        {"/bytes/73/", "", "73", 73}, /* nothing usable given: the URL's */
        {"/status/404", NULL, NULL, 0},
        {"/bytes/74/a%20b.txt", NULL, "a b.txt", 74},
        {"/bytes/75/%2e%2e", NULL, "index.html", 75},
    };
    size_t n = sizeof files / sizeof *files;
    for (size_t i = 0; i < n; i++)
        add_path(f, srv, files[i].path, files[i].name, NULL, (long)i);
    CHECK_RC(ug_fetch_run(f, NULL), 0);
    ug_fetch_free(f);
    CHECK_UINT_EQ(rs.reports, n);
    for (size_t i = 0; i < n; i++) {
        struct outcome *r = outcome(&rs, i);
        CHECK_UINT_EQ(r->reports, 1);
        CHECK_NULL(r->body);
        if (!files[i].want) {
            CHECK_INT(r->error, !=, 0);
            CHECK_NULL(r->path);
            continue;
        }
        bool ok = CHECK_RC(r->error, 0);
        ok = CHECK_STR_EQ(r->path, files[i].want) && ok;
        ok = CHECK_UINT_EQ(r->bytes, files[i].size) && ok;
        ok = check_pattern_file(dir, files[i].want, files[i].size) && ok;
        if (!ok)
            printf("    index %zu: %s\n", i, files[i].path);
    }
    CHECK_RC(outcome(&rs, 11)->error, UG_EHTTP);
    CHECK_INT_EQ(outcome(&rs, 11)->status, 404);
    /* Exactly the final names: no .part, nothing for the 404. */
    check_listing(dir, "10|500|73|_escape.txt|a (1).txt|a (2).txt|a (3).txt|"
                       "a b.txt|a.txt|big.bin|empty|given.bin|index.html");
out:
    server_stop(srv);
    results_free(&rs);
    remove_tmpdir(dir);
}

/* An existing file of the same name is overwritten (like curl -O), and a
 * second engine on the same directory claims names afresh. */
static void test_file_overwrite(void) {
    char dir[64];
    if (!make_tmpdir(dir))
        return;
    struct server *srv = server_start();
    if (!srv) {
        remove_tmpdir(dir);
        return;
    }
    write_pattern_file(dir, "x.bin", 5); /* old and short */
    for (int round = 0; round < 2; round++) {
        struct results rs = {0};
        ug_fetch_options o;
        test_options(&o);
        o.dest_dir = dir;
        ug_fetch *f = new_fetch(&o, &rs);
        if (!f)
            break;
        add_path(f, srv, "/bytes/4000/x.bin", NULL, NULL, 0);
        CHECK_RC(ug_fetch_run(f, NULL), 0);
        ug_fetch_free(f);
        CHECK_RC(outcome(&rs, 0)->error, 0);
        CHECK_STR_EQ(outcome(&rs, 0)->path, "x.bin");
        results_free(&rs);
    }
    check_pattern_file(dir, "x.bin", 4000);
    check_listing(dir, "x.bin");
    server_stop(srv);
    remove_tmpdir(dir);
}

/* Links and directories planted in the destination: a link named
 * "<name>.part" or "<name>" is replaced, never written through; a
 * directory in the way fails that one request. */
static void test_file_safety(void) {
    char dir[64], path[128];
    if (!make_tmpdir(dir))
        return;
    struct server *srv = server_start();
    if (!srv) {
        remove_tmpdir(dir);
        return;
    }
    write_pattern_file(dir, "victim", 3);
    snprintf(path, sizeof path, "%s/link.bin.part", dir);
    CHECK_INT_EQ(symlink("victim", path), 0);
    snprintf(path, sizeof path, "%s/final.bin", dir);
    CHECK_INT_EQ(symlink("victim", path), 0);
    snprintf(path, sizeof path, "%s/blocked.bin.part", dir);
    CHECK_INT_EQ(mkdir(path, 0700), 0);
    struct results rs = {0};
    ug_fetch_options o;
    test_options(&o);
    o.dest_dir = dir;
    ug_fetch *f = new_fetch(&o, &rs);
    if (f) {
        add_path(f, srv, "/bytes/1000", "link.bin", NULL, 0);
        add_path(f, srv, "/bytes/2000", "final.bin", NULL, 1);
        add_path(f, srv, "/bytes/300", "blocked.bin", NULL, 2);
        add_path(f, srv, "/bytes/400", "fine.bin", NULL, 3);
        CHECK_RC(ug_fetch_run(f, NULL), 0);
        ug_fetch_free(f);
        CHECK_RC(outcome(&rs, 0)->error, 0);
        CHECK_RC(outcome(&rs, 1)->error, 0);
        CHECK_RC(outcome(&rs, 2)->error, UG_EUNSAFE);
        CHECK_UINT_EQ(outcome(&rs, 2)->attempts, 1);
        CHECK_NULL(outcome(&rs, 2)->path);
        CHECK_RC(outcome(&rs, 3)->error, 0);
        check_pattern_file(dir, "link.bin", 1000);
        check_pattern_file(dir, "final.bin", 2000);
        check_pattern_file(dir, "fine.bin", 400);
        check_pattern_file(dir, "victim", 3); /* untouched */
        struct stat st;
        snprintf(path, sizeof path, "%s/final.bin", dir);
        CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode));
        check_listing(dir,
                      "blocked.bin.part|final.bin|fine.bin|link.bin|victim");
        CHECK_UINT_EQ(server_counts(srv).requests, 3);
    }
    server_stop(srv);
    results_free(&rs);
    remove_tmpdir(dir);
}

/* Names from Content-Disposition, only when asked for, claimed in
 * completion order (one transfer at a time here, so that is fixed). */
static void test_content_disposition(void) {
    char dir[64];
    if (!make_tmpdir(dir))
        return;
    struct server *srv = server_start();
    if (!srv) {
        remove_tmpdir(dir);
        return;
    }
    for (int cd = 1; cd >= 0; cd--) {
        struct results rs = {0};
        ug_fetch_options o;
        test_options(&o);
        o.concurrency = 1;
        o.dest_dir = dir;
        o.content_disposition = cd;
        ug_fetch *f = new_fetch(&o, &rs);
        if (!f)
            break;
        add_path(f, srv, "/cd/100/x", NULL, NULL, 0);
        add_path(f, srv, "/cd/200/y", NULL, NULL, 1);
        add_path(f, srv, "/bytes/300/z", NULL, NULL, 2);
        CHECK_RC(ug_fetch_run(f, NULL), 0);
        ug_fetch_free(f);
        const char *want[] = {cd ? "cd.bin" : "x", cd ? "cd (1).bin" : "y",
                              "z"};
        for (size_t i = 0; i < 3; i++) {
            CHECK_RC(outcome(&rs, i)->error, 0);
            CHECK_STR_EQ(outcome(&rs, i)->path, want[i]);
            check_pattern_file(dir, want[i], 100 * (i + 1));
        }
        check_listing(dir, cd ? "cd (1).bin|cd.bin|z"
                              : "cd (1).bin|cd.bin|x|y|z");
        results_free(&rs);
    }
    server_stop(srv);
    remove_tmpdir(dir);
}

/* ---- per-host cap ------------------------------------------------------- */

static void test_per_host_cap(void) {
    const unsigned caps[] = {1, 3};
    for (int k = 0; k < 2; k++) {
        struct server *srv = server_start();
        if (!srv)
            return;
        struct results rs = {0};
        ug_fetch_options o;
        test_options(&o);
        o.concurrency = 64;
        o.per_host = caps[k];
        ug_fetch *f = new_fetch(&o, &rs);
        if (!f) {
            server_stop(srv);
            return;
        }
        size_t n = caps[k] == 1 ? 6 : 24;
        for (size_t i = 0; i < n; i++)
            add_path(f, srv, "/slow/40", NULL, NULL, (long)i);
        CHECK_RC(ug_fetch_run(f, NULL), 0);
        ug_fetch_free(f);
        CHECK_UINT_EQ(rs.reports, n);
        for (size_t i = 0; i < n; i++)
            check_bytes_outcome(outcome(&rs, i), 100);
        struct server_counts sc = server_counts(srv);
        CHECK_UINT_EQ(sc.requests, n);
        CHECK_UINT(sc.max_active, <=, caps[k]);
        if (caps[k] > 1) /* and the cap was actually used */
            CHECK_UINT(sc.max_active, >=, 2);
        server_stop(srv);
        results_free(&rs);
    }
}

/* reuse(): every connection is kept but that of request 1. */
static int keep_all_but_1(void *ctx, size_t index, void *user) {
    (void)ctx;
    (void)user;
    return index != 1;
}

/* A transfer whose connection reuse() declines closes it when it ends:
 * the next request to its host opens another.  Without the callback one
 * connection serves every request, one after the other. */
static void test_reuse_declined(void) {
    for (int declining = 0; declining < 2; declining++) {
        struct server *srv = server_start();
        if (!srv)
            return;
        struct results rs = {0};
        ug_fetch_options o;
        test_options(&o);
        o.concurrency = 1;
        o.reuse = declining ? keep_all_but_1 : NULL;
        ug_fetch *f = new_fetch(&o, &rs);
        if (!f) {
            server_stop(srv);
            return;
        }
        for (long i = 0; i < 4; i++)
            add_path(f, srv, "/bytes/100", NULL, NULL, i);
        CHECK_RC(ug_fetch_run(f, NULL), 0);
        ug_fetch_free(f);
        for (size_t i = 0; i < 4; i++)
            check_bytes_outcome(outcome(&rs, i), 100);
        struct server_counts sc = server_counts(srv);
        CHECK_UINT_EQ(sc.requests, 4);
        CHECK_UINT_EQ(sc.connections, declining ? 2 : 1);
        server_stop(srv);
        results_free(&rs);
    }
}

static int keep_all(void *ctx, size_t index, void *user) {
    (void)ctx;
    (void)index;
    (void)user;
    return 1;
}

/* Runs an engine (`concurrency`, `per_host`, reuse callback `reuse`) on
 * the test server's paths[i] under hosts[i], in order, and checks that
 * each gave 100 bytes; returns the engine, run but not freed (freeing it
 * closes the connections it kept), or NULL after a failed check.  Names
 * under .localhost reach the loopback: libcurl resolves them itself. */
static ug_fetch *run_on_hosts(struct server *srv, struct results *rs,
                              const char *const *hosts,
                              const char *const *paths, size_t n,
                              unsigned concurrency, unsigned per_host,
                              ug_fetch_reuse_fn reuse) {
    ug_fetch_options o;
    test_options(&o);
    o.concurrency = concurrency;
    o.per_host = per_host;
    o.reuse = reuse;
    ug_fetch *f = new_fetch(&o, rs);
    if (!f)
        return NULL;
    char url[256];
    for (size_t i = 0; i < n; i++) {
        snprintf(url, sizeof url, "http://%s:%u%s", hosts[i], srv->port,
                 paths[i]);
        CHECK_INT_EQ(ug_fetch_add(f, url, NULL, NULL, NULL), (long)i);
    }
    bool ok = CHECK_RC(ug_fetch_run(f, NULL), 0);
    for (size_t i = 0; i < n; i++)
        ok = check_bytes_outcome(outcome(rs, i), 100) && ok;
    if (!ok) {
        ug_fetch_free(f);
        return NULL;
    }
    return f;
}

/* Without a reuse callback, once the authorities met could not all keep
 * per_host connections within the total cap, the engine keeps a
 * connection only while its authority has requests yet to start.  Three
 * authorities here, and the first 127.0.0.1 request is slow: it keeps its
 * connection for the last request, which reuses it, while the two others
 * close theirs.  Nothing is left open after the run.  Keeping every
 * connection leaves some open, for libcurl to evict later. */
static void test_reuse_rule(void) {
    const char *hosts[] = {"127.0.0.1", "localhost", "a.localhost",
                           "127.0.0.1"};
    const char *paths[] = {"/slow/400", "/bytes/100", "/bytes/100",
                           "/bytes/100"};
    for (int keeping = 0; keeping < 2; keeping++) {
        struct server *srv = server_start();
        if (!srv)
            return;
        struct results rs = {0};
        ug_fetch *f = run_on_hosts(srv, &rs, hosts, paths, 4, 2, 1,
                                   keeping ? keep_all : NULL);
        if (f) {
            CHECK_UINT_EQ(server_counts(srv).connections, 3);
            if (keeping)
                CHECK_UINT(server_open(srv, 2), >, 0);
            else
                CHECK_UINT_EQ(server_open(srv, 0), 0);
            ug_fetch_free(f);
        }
        server_stop(srv);
        results_free(&rs);
    }
    /* Two authorities fit (2 x per_host 1 within concurrency 2): both
     * connections stay open though nothing is left to fetch. */
    struct server *srv = server_start();
    if (!srv)
        return;
    struct results rs = {0};
    const char *two[] = {"127.0.0.1", "localhost", "127.0.0.1"};
    const char *fast[] = {"/bytes/100", "/bytes/100", "/bytes/100"};
    ug_fetch *f = run_on_hosts(srv, &rs, two, fast, 3, 2, 1, NULL);
    if (f) {
        CHECK_UINT_EQ(server_counts(srv).connections, 2);
        CHECK_UINT_EQ(server_open(srv, 2), 2);
        ug_fetch_free(f);
    }
    server_stop(srv);
    results_free(&rs);
}

/* A connection is kept only for a request that comes in reach: here the
 * slow first 127.0.0.1 request has one more (the last) behind `between`
 * requests to hosts of their own, with concurrency 4.  Behind 6 of them,
 * within twice the cap, it keeps its connection and the last request
 * reuses it; behind 8, it closes it, and the last opens its own. */
static void test_reuse_rule_far(void) {
    const char *hosts[10] = {"127.0.0.1"}, *paths[10] = {"/slow/300"};
    char names[8][16];
    for (size_t i = 0; i < 8; i++)
        snprintf(names[i], sizeof names[i], "%c.localhost", (char)('a' + i));
    for (size_t between = 6; between <= 8; between += 2) {
        for (size_t i = 0; i < between; i++) {
            hosts[1 + i] = names[i];
            paths[1 + i] = "/bytes/100";
        }
        hosts[1 + between] = "127.0.0.1";
        paths[1 + between] = "/bytes/100";
        struct server *srv = server_start();
        if (!srv)
            return;
        struct results rs = {0};
        ug_fetch *f = run_on_hosts(srv, &rs, hosts, paths, between + 2, 4, 1,
                                   NULL);
        if (f) {
            CHECK_UINT_EQ(server_counts(srv).connections,
                          between == 6 ? between + 1 : between + 2);
            ug_fetch_free(f);
        }
        server_stop(srv);
        results_free(&rs);
    }
}

/* A connection is kept only while its authority has a request yet to
 * start for each of its transfers in flight.  Two 127.0.0.1 requests run
 * at once (per_host 2) with one more behind them: the first keeps its
 * connection, which the third reuses once the first is done; the second,
 * which ends last, closes its own, so nothing is left open. */
static void test_reuse_rule_successors(void) {
    const char *hosts[] = {"127.0.0.1", "127.0.0.1", "127.0.0.1",
                           "localhost"};
    const char *paths[] = {"/slow/200", "/slow/400", "/bytes/100",
                           "/bytes/100"};
    struct server *srv = server_start();
    if (!srv)
        return;
    struct results rs = {0};
    ug_fetch *f = run_on_hosts(srv, &rs, hosts, paths, 4, 3, 2, NULL);
    if (f) {
        CHECK_UINT_EQ(server_counts(srv).connections, 3);
        CHECK_UINT_EQ(server_open(srv, 0), 0);
        ug_fetch_free(f);
    }
    server_stop(srv);
    results_free(&rs);
}

/* Adds one more /bytes/100 after the first result (extra: the server). */
static void add_one_more(struct results *rs, const ug_fetch_result *r) {
    char buf[256];
    if (r->index == 0)
        CHECK_INT_EQ(ug_fetch_add(rs->fetch, url_of(rs->extra, buf,
                                                     "/bytes/100"),
                                  NULL, NULL, NULL),
                     1);
}

/* While every authority met fits in the cache, a connection stays open
 * even when nothing of its authority waits yet: a request added after
 * the first one finished still finds it. */
static void test_reuse_rule_keeps_what_fits(void) {
    struct server *srv = server_start();
    if (!srv)
        return;
    struct results rs = {.then = add_one_more, .extra = srv};
    ug_fetch_options o;
    test_options(&o);
    o.concurrency = 1;
    o.per_host = 1;
    ug_fetch *f = new_fetch(&o, &rs);
    if (f) {
        add_path(f, srv, "/bytes/100", NULL, NULL, 0);
        CHECK_RC(ug_fetch_run(f, NULL), 0);
        ug_fetch_free(f);
        check_bytes_outcome(outcome(&rs, 0), 100);
        check_bytes_outcome(outcome(&rs, 1), 100);
        struct server_counts sc = server_counts(srv);
        CHECK_UINT_EQ(sc.requests, 2);
        CHECK_UINT_EQ(sc.connections, 1);
    }
    server_stop(srv);
    results_free(&rs);
}

/* Transfers to one host start together, up to per_host, from the first
 * batch on.  (libcurl's PIPEWAIT once held all but the first back until
 * the first finished, on http:// where no HTTP/2 can ever come.) */
static void test_one_host_in_parallel(void) {
    struct server *srv = server_start();
    if (!srv)
        return;
    struct results rs = {0};
    ug_fetch_options o;
    test_options(&o);
    o.per_host = 4;
    ug_fetch *f = new_fetch(&o, &rs);
    if (f) {
        for (long i = 0; i < 4; i++)
            add_path(f, srv, "/slow/400", NULL, NULL, i);
        CHECK_RC(ug_fetch_run(f, NULL), 0);
        ug_fetch_free(f);
        for (size_t i = 0; i < 4; i++)
            check_bytes_outcome(outcome(&rs, i), 100);
        struct server_counts sc = server_counts(srv);
        CHECK_UINT_EQ(sc.max_active, 4);
        CHECK_UINT_EQ(sc.connections, 4);
    }
    server_stop(srv);
    results_free(&rs);
}

/* Records the order in which results arrive (extra: a struct order). */
struct order {
    size_t index[8];
    size_t n;
};

static void note_order(struct results *rs, const ug_fetch_result *r) {
    struct order *o = rs->extra;
    if (o->n < sizeof o->index / sizeof *o->index)
        o->index[o->n++] = r->index;
}

/* The loop parses added URLs only as it needs them, yet never leaves a
 * slot idle that a later request could fill: one for a second host, added
 * after three for a first host held to one transfer at a time, starts with
 * the first of them and finishes before the last. */
static void test_later_host_not_held(void) {
    struct server *a = server_start();
    struct server *b = a ? server_start() : NULL;
    struct order order = {0};
    struct results rs = {.then = note_order, .extra = &order};
    ug_fetch_options o;
    test_options(&o);
    o.concurrency = 4;
    o.per_host = 1;
    ug_fetch *f = b ? new_fetch(&o, &rs) : NULL;
    if (f) {
        for (long i = 0; i < 3; i++)
            add_path(f, a, "/slow/300", NULL, NULL, i);
        add_path(f, b, "/slow/300", NULL, NULL, 3);
        CHECK_RC(ug_fetch_run(f, NULL), 0);
        ug_fetch_free(f);
        CHECK_UINT_EQ(order.n, 4);
        CHECK_UINT_EQ(order.index[3], 2); /* the first host's last */
        CHECK_UINT_EQ(server_counts(a).max_active, 1);
    }
    server_stop(b);
    server_stop(a);
    results_free(&rs);
}

/* ---- proxies from the environment --------------------------------------- */

/* Clears every variable libcurl reads for a proxy. */
static void clear_proxy_env(void) {
    static const char *const names[] = {"http_proxy", "https_proxy",
                                        "HTTPS_PROXY", "all_proxy",
                                        "ALL_PROXY", "no_proxy", "NO_PROXY"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        unsetenv(names[i]);
}

/* Runs one request for `url` on an engine with options.proxy `proxy`, made
 * with the environment as it is now; `then_env`, when not NULL, is set as
 * http_proxy after the engine is made and before it runs.  Returns the
 * result's status. */
static long status_via(const char *url, const char *proxy,
                       const char *then_env) {
    struct results rs = {0};
    ug_fetch_options o;
    test_options(&o);
    o.retries = 0;
    o.proxy = proxy;
    ug_fetch *f = new_fetch(&o, &rs);
    long status = -1;
    if (f) {
        CHECK_INT_EQ(ug_fetch_add(f, url, NULL, NULL, NULL), 0);
        if (then_env)
            setenv("http_proxy", then_env, 1);
        CHECK_RC(ug_fetch_run(f, NULL), 0);
        ug_fetch_free(f);
        CHECK_UINT_EQ(outcome(&rs, 0)->reports, 1);
        status = outcome(&rs, 0)->status;
    }
    results_free(&rs);
    return status;
}

/* Two test servers, one to be the proxy, and the environment cleared of
 * proxy variables; proxy_url names the proxy, direct the origin's
 * /bytes/10. */
struct proxy_setup {
    struct server *proxy, *origin;
    char proxy_url[64], direct[256];
};

static bool proxy_setup_start(struct proxy_setup *p) {
    p->proxy = server_start();
    p->origin = p->proxy ? server_start() : NULL;
    if (!p->origin) {
        server_stop(p->proxy);
        return false;
    }
    snprintf(p->proxy_url, sizeof p->proxy_url, "http://127.0.0.1:%u",
             p->proxy->port);
    url_of(p->origin, p->direct, "/bytes/10");
    clear_proxy_env();
    return true;
}

static void proxy_setup_stop(struct proxy_setup *p) {
    clear_proxy_env();
    server_stop(p->origin);
    server_stop(p->proxy);
}

/* The environment's proxy variables, as curl reads them, checked when the
 * engine is made: http_proxy sends a request to the proxy in absolute
 * form; no_proxy, or a variable set empty, sends it direct; a variable set
 * only after the engine is made is not seen. */
static void test_proxy_from_env(void) {
    struct proxy_setup p;
    if (!proxy_setup_start(&p))
        return;

    setenv("http_proxy", p.proxy_url, 1);
    /* Only a proxy can answer for a .invalid host: the proxy's server sees
     * the whole URL as its target, which it does not serve. */
    CHECK_INT_EQ(status_via("http://origin.invalid/bytes/10", NULL, NULL),
                 404);
    CHECK_UINT_EQ(
        server_hits(p.proxy, "http://origin.invalid/bytes/10", NULL), 1);
    setenv("no_proxy", "127.0.0.1", 1);
    CHECK_INT_EQ(status_via(p.direct, NULL, NULL), 200);
    CHECK_UINT_EQ(server_hits(p.origin, "/bytes/10", NULL), 1);

    clear_proxy_env();
    setenv("all_proxy", "", 1); /* set empty: no proxy */
    CHECK_INT_EQ(status_via(p.direct, NULL, NULL), 200);
    CHECK_UINT_EQ(server_hits(p.origin, "/bytes/10", NULL), 2);
    CHECK_INT_EQ(status_via(p.direct, NULL, p.proxy_url), 200);
    CHECK_UINT_EQ(server_hits(p.origin, "/bytes/10", NULL), 3);
    CHECK_UINT_EQ(server_counts(p.proxy).requests, 1); /* the .invalid one */

    proxy_setup_stop(&p);
}

/* options.proxy: a proxy for every transfer, whatever the environment
 * says; "" for none, even when the environment names one. */
static void test_proxy_option(void) {
    struct proxy_setup p;
    if (!proxy_setup_start(&p))
        return;
    setenv("http_proxy", "http://127.0.0.1:1", 1); /* nothing listens */
    CHECK_INT_EQ(
        status_via("http://origin.invalid/bytes/10", p.proxy_url, NULL), 404);
    CHECK_UINT_EQ(
        server_hits(p.proxy, "http://origin.invalid/bytes/10", NULL), 1);
    CHECK_INT_EQ(status_via(p.direct, "", NULL), 200);
    CHECK_UINT_EQ(server_hits(p.origin, "/bytes/10", NULL), 1);
    proxy_setup_stop(&p);
}

/* ---- retries ------------------------------------------------------------ */

static void test_retries(void) {
    char dir[64];
    if (!make_tmpdir(dir))
        return;
    struct server *srv = server_start();
    if (!srv) {
        remove_tmpdir(dir);
        return;
    }
    struct results rs = {0};
    ug_fetch_options o;
    test_options(&o);
    o.retries = 2;
    o.dest_dir = dir;
    ug_fetch *f = new_fetch(&o, &rs);
    if (!f)
        goto out;
    add_path(f, srv, "/fail-once/1000/once.bin", NULL, NULL, 0);
    add_path(f, srv, "/status/404", NULL, NULL, 1);
    add_path(f, srv, "/status/503", NULL, NULL, 2);
    add_path(f, srv, "/status/429", NULL, NULL, 3);
    add_path(f, srv, "/reset/100000/reset.bin", NULL, NULL, 4);
    add_path(f, srv, "/short/100000/short.bin", NULL, NULL, 5);
    add_path(f, srv, "/status/403", NULL, NULL, 6);
    CHECK_RC(ug_fetch_run(f, NULL), 0);
    ug_fetch_free(f);
    CHECK_UINT_EQ(rs.reports, 7);

    struct outcome *r = outcome(&rs, 0);
    CHECK_RC(r->error, 0);
    CHECK_UINT_EQ(r->attempts, 2);
    CHECK_INT_EQ(r->status, 200);
    CHECK_UINT_EQ(r->bytes, 1000);
    CHECK_STR_EQ(r->path, "once.bin");
    check_pattern_file(dir, "once.bin", 1000);
    CHECK_UINT_EQ(server_hits(srv, "/fail-once/1000/once.bin", NULL), 2);

    r = outcome(&rs, 1); /* a 4xx is final */
    CHECK_RC(r->error, UG_EHTTP);
    CHECK_UINT_EQ(r->attempts, 1);
    CHECK_INT_EQ(r->status, 404);
    CHECK_STR_EQ(r->message, "HTTP status 404");
    CHECK_NULL(r->path);
    CHECK_UINT_EQ(server_hits(srv, "/status/404", NULL), 1);
    r = outcome(&rs, 6);
    CHECK_RC(r->error, UG_EHTTP);
    CHECK_UINT_EQ(r->attempts, 1);
    CHECK_INT_EQ(r->status, 403);

    for (size_t i = 2; i <= 3; i++) { /* 5xx and 429 are retried */
        r = outcome(&rs, i);
        CHECK_RC(r->error, UG_EHTTP);
        CHECK_UINT_EQ(r->attempts, 3);
        CHECK_INT_EQ(r->status, i == 2 ? 503 : 429);
    }
    CHECK_UINT_EQ(server_hits(srv, "/status/503", NULL), 3);
    CHECK_UINT_EQ(server_hits(srv, "/status/429", NULL), 3);

    r = outcome(&rs, 4); /* reset mid-body */
    CHECK_RC(r->error, UG_ENET);
    CHECK_UINT_EQ(r->attempts, 3);
    CHECK_NULL(r->path);
    CHECK_UINT(server_hits(srv, "/reset/100000/reset.bin", NULL), >=, 3);

    r = outcome(&rs, 5); /* shorter than Content-Length */
    CHECK_RC(r->error, UG_EPROTOCOL);
    CHECK_UINT_EQ(r->attempts, 3);
    CHECK_NULL(r->path);
    CHECK_UINT(r->bytes, <, 100000);

    /* Only the one success has a file; no .part survives a failure. */
    check_listing(dir, "once.bin");
out:
    server_stop(srv);
    results_free(&rs);
    remove_tmpdir(dir);
}

/* Retry-After is honoured (the backoff alone would be 1 ms), and clamped
 * to retry_after_max_s. */
static void test_retry_after(void) {
    struct server *srv = server_start();
    if (!srv)
        return;
    struct results rs = {0};
    ug_fetch_options o;
    test_options(&o);
    o.backoff_ms = 1;
    o.backoff_max_ms = 1;
    o.retry_after_max_s = 1;
    ug_fetch *f = new_fetch(&o, &rs);
    if (!f) {
        server_stop(srv);
        return;
    }
    add_path(f, srv, "/retry-after/300", NULL, NULL, 0);
    add_path(f, srv, "/retry-after-long/301", NULL, NULL, 1); /* 3600 s */
    uint64_t t0 = ug_clock_ns();
    CHECK_RC(ug_fetch_run(f, NULL), 0);
    double took = (double)(ug_clock_ns() - t0) / 1e9;
    ug_fetch_free(f);
    CHECK_DBL(took, >=, 0.99);
    CHECK_DBL(took, <, 5.0);
    for (size_t i = 0; i < 2; i++) {
        struct outcome *r = outcome(&rs, i);
        CHECK_RC(r->error, 0);
        CHECK_UINT_EQ(r->attempts, 2);
        CHECK_UINT_EQ(r->bytes, 300 + i);
        CHECK(r->body && is_pattern(r->body, 300 + i, 0));
    }
    server_stop(srv);
    results_free(&rs);
}

/* timeout_ms bounds each attempt; a timeout is retried. */
static void test_timeout(void) {
    struct server *srv = server_start();
    if (!srv)
        return;
    struct results rs = {0};
    ug_fetch_options o;
    test_options(&o);
    o.retries = 1;
    o.timeout_ms = 200;
    ug_fetch *f = new_fetch(&o, &rs);
    if (f) {
        add_path(f, srv, "/slow/5000", NULL, NULL, 0);
        add_path(f, srv, "/bytes/10", NULL, NULL, 1);
        uint64_t t0 = ug_clock_ns();
        CHECK_RC(ug_fetch_run(f, NULL), 0);
        double took = (double)(ug_clock_ns() - t0) / 1e9;
        ug_fetch_free(f);
        struct outcome *r = outcome(&rs, 0);
        CHECK_RC(r->error, UG_ETIMEDOUT);
        CHECK_UINT_EQ(r->attempts, 2);
        CHECK_UINT_EQ(server_hits(srv, "/slow/5000", NULL), 2);
        CHECK_DBL(took, >=, 0.4);
        CHECK_DBL(took, <, 3.0);
        check_bytes_outcome(outcome(&rs, 1), 10);
    }
    server_stop(srv);
    results_free(&rs);
}

/* ---- size caps and content encoding ------------------------------------- */

static void test_gzip_decoded(void) {
    struct server *srv = server_start();
    if (!srv)
        return;
    struct results rs = {0};
    ug_fetch_options o;
    test_options(&o);
    ug_fetch *f = new_fetch(&o, &rs);
    if (f) {
        add_path(f, srv, "/gzip", NULL, NULL, 0);
        CHECK_RC(ug_fetch_run(f, NULL), 0);
        ug_fetch_free(f);
        struct outcome *r = outcome(&rs, 0);
        CHECK_RC(r->error, 0);
        CHECK_UINT_EQ(r->bytes, GZIP_DECODED);
        CHECK(r->body && is_gzip_text(r->body, GZIP_DECODED, 0));
        CHECK_STR_EQ(r->content_type, "text/plain");
    }
    server_stop(srv);
    results_free(&rs);
}

static void test_max_bytes(void) {
    char dir[64];
    if (!make_tmpdir(dir))
        return;
    struct server *srv = server_start();
    if (!srv) {
        remove_tmpdir(dir);
        return;
    }
    for (int files = 0; files < 2; files++) {
        struct results rs = {0};
        ug_fetch_options o;
        test_options(&o);
        o.max_bytes = 50000;
        o.dest_dir = files ? dir : NULL;
        ug_fetch *f = new_fetch(&o, &rs);
        if (!f)
            break;
        add_path(f, srv, "/bytes/50000/exact", NULL, NULL, 0);
        add_path(f, srv, "/bytes/50001/over", NULL, NULL, 1);
        /* 249 bytes on the wire, 140000 decoded: the cap is on decoded
         * bytes, so a gzip bomb stops at the cap. */
        add_path(f, srv, "/gzip", NULL, NULL, 2);
        add_path(f, srv, "/bytes/49999/under", NULL, NULL, 3);
        CHECK_RC(ug_fetch_run(f, NULL), 0);
        ug_fetch_free(f);
        CHECK_RC(outcome(&rs, 0)->error, 0);
        CHECK_UINT_EQ(outcome(&rs, 0)->bytes, 50000);
        CHECK_RC(outcome(&rs, 3)->error, 0);
        for (size_t i = 1; i <= 2; i++) {
            struct outcome *r = outcome(&rs, i);
            CHECK_RC(r->error, UG_ETOOBIG);
            CHECK_UINT_EQ(r->attempts, 1);
            CHECK_UINT(r->bytes, <=, 50000);
            CHECK_NULL(r->path);
            CHECK_NULL(r->body);
        }
        if (files) {
            check_pattern_file(dir, "exact", 50000);
            check_pattern_file(dir, "under", 49999);
            check_listing(dir, "exact|under");
        }
        results_free(&rs);
    }
    server_stop(srv);
    remove_tmpdir(dir);
}

static void test_header_cap(void) {
    struct server *srv = server_start();
    if (!srv)
        return;
    for (int capped = 0; capped < 2; capped++) {
        struct results rs = {0};
        ug_fetch_options o;
        test_options(&o);
        if (capped)
            o.max_header_bytes = 1024;
        ug_fetch *f = new_fetch(&o, &rs);
        if (!f)
            break;
        add_path(f, srv, "/big-header", NULL, NULL, 0);
        add_path(f, srv, "/bytes/10", NULL, NULL, 1);
        CHECK_RC(ug_fetch_run(f, NULL), 0);
        ug_fetch_free(f);
        struct outcome *r = outcome(&rs, 0);
        if (capped) {
            CHECK_RC(r->error, UG_EPROTOCOL);
            CHECK_UINT_EQ(r->attempts, 1);
        } else {
            CHECK_RC(r->error, 0);
            CHECK_UINT_EQ(r->bytes, 1);
        }
        check_bytes_outcome(outcome(&rs, 1), 10);
        results_free(&rs);
    }
    server_stop(srv);
}

/* ---- redirects ---------------------------------------------------------- */

static void test_redirects(void) {
    struct server *srv = server_start();
    if (!srv)
        return;
    struct results rs = {0};
    ug_fetch_options o;
    test_options(&o);
    o.max_redirects = 3;
    ug_fetch *f = new_fetch(&o, &rs);
    if (!f) {
        server_stop(srv);
        return;
    }
    add_path(f, srv, "/redirect/3", NULL, NULL, 0);
    add_path(f, srv, "/redirect/4", NULL, NULL, 1);
    add_path(f, srv, "/loop", NULL, NULL, 2);
    add_path(f, srv, "/to-ftp", NULL, NULL, 3);
    add_path(f, srv, "/redirect/0", NULL, NULL, 4);
    CHECK_RC(ug_fetch_run(f, NULL), 0);
    ug_fetch_free(f);
    char buf[256];
    struct outcome *r = outcome(&rs, 0);
    CHECK_RC(r->error, 0);
    CHECK_INT_EQ(r->status, 200);
    CHECK_STR_EQ(r->url, url_of(srv, buf, "/redirect/3"));
    CHECK_STR_EQ(r->final_url, url_of(srv, buf, "/redirect/0"));
    CHECK_UINT_EQ(r->bytes, 4);
    CHECK(r->body && !memcmp(r->body, "done", 4));
    CHECK_UINT_EQ(r->attempts, 1);
    CHECK_STR_EQ(outcome(&rs, 4)->final_url, url_of(srv, buf, "/redirect/0"));
    for (size_t i = 1; i <= 3; i++) {
        r = outcome(&rs, i);
        CHECK_RC(r->error, UG_EREDIRECT);
        CHECK_UINT_EQ(r->attempts, 1);
        CHECK_NOT_NULL(r->message);
    }
    /* One more request than max_redirects allows, and never ftp. */
    CHECK_UINT_EQ(server_hits(srv, "/loop", NULL), 4);
    CHECK_UINT_EQ(server_hits(srv, "/redirect/0", NULL), 2);
    server_stop(srv);
    results_free(&rs);
}

/* ---- bad URLs ----------------------------------------------------------- */

static void test_bad_urls(void) {
    struct server *srv = server_start();
    if (!srv)
        return;
    struct results rs = {0};
    ug_fetch_options o;
    test_options(&o);
    ug_fetch *f = new_fetch(&o, &rs);
    if (!f) {
        server_stop(srv);
        return;
    }
    char buf[256];
    snprintf(buf, sizeof buf, "ftp://127.0.0.1:%u/bytes/10", srv->port);
    const char *bad[] = {"not a url", buf, "", "http://", "file:///etc/passwd",
                         "gopher://127.0.0.1/"};
    size_t nbad = sizeof bad / sizeof *bad;
    add_path(f, srv, "/bytes/10", NULL, NULL, 0);
    for (size_t i = 0; i < nbad; i++)
        CHECK_INT_EQ(ug_fetch_add(f, bad[i], NULL, NULL, NULL), (long)(1 + i));
    CHECK_INT_EQ(ug_fetch_add(f, NULL, NULL, NULL, NULL), (long)(1 + nbad));
    add_path(f, srv, "/bytes/11", NULL, "abc", (long)(2 + nbad)); /* bad hex */
    add_path(f, srv, "/bytes/12", NULL, NULL, (long)(3 + nbad));
    char upper[256]; /* schemes are case-insensitive */
    snprintf(upper, sizeof upper, "HTTP://127.0.0.1:%u/bytes/13", srv->port);
    CHECK_INT_EQ(ug_fetch_add(f, upper, NULL, NULL, NULL), (long)(4 + nbad));
    CHECK_RC(ug_fetch_run(f, NULL), 0);
    ug_fetch_free(f);
    CHECK_UINT_EQ(rs.reports, 5 + nbad);
    check_bytes_outcome(outcome(&rs, 0), 10);
    check_bytes_outcome(outcome(&rs, 3 + nbad), 12);
    check_bytes_outcome(outcome(&rs, 4 + nbad), 13);
    for (size_t i = 1; i <= 1 + nbad; i++) {
        struct outcome *r = outcome(&rs, i);
        bool ok = CHECK_UINT_EQ(r->reports, 1);
        ok = CHECK_RC(r->error, UG_EURL) && ok;
        ok = CHECK_UINT_EQ(r->attempts, 0) && ok;
        ok = CHECK_INT_EQ(r->status, 0) && ok;
        ok = CHECK_NULL(r->final_url) && ok;
        ok = CHECK_NOT_NULL(r->message) && ok;
        if (!ok)
            printf("    url: \"%s\"\n", i <= nbad ? bad[i - 1] : "(null)");
    }
    CHECK_STR_EQ(outcome(&rs, 2)->url, buf);
    CHECK_CONTAINS(outcome(&rs, 2)->message, "scheme");
    CHECK_RC(outcome(&rs, 2 + nbad)->error, UG_EINVAL);
    CHECK_UINT_EQ(outcome(&rs, 2 + nbad)->attempts, 0);
    /* Nothing but the good ones reached the server. */
    CHECK_UINT_EQ(server_counts(srv).requests, 3);
    server_stop(srv);
    results_free(&rs);
}

/* ---- the data callback -------------------------------------------------- */

enum { DATA_N = 6, DATA_ABORTED = 3 };

struct data_seen {
    uint64_t seen[DATA_N];   /* bytes seen per index */
    unsigned calls[DATA_N];
    unsigned wrong;          /* bytes not where the pattern says */
    unsigned wrong_user;
    unsigned after_abort;    /* calls for it after it said stop */
    bool stopped;
};

/* Body sizes; index 5 is the gzip body. */
static const size_t data_sizes[DATA_N] = {0, 1, 1000, 300000, 70000,
                                          GZIP_DECODED};

static int on_data(void *ctx, size_t index, void *user,
                   const unsigned char *data, size_t size) {
    struct data_seen *d = ((struct results *)ctx)->extra;
    if (index >= DATA_N)
        return 1;
    if (user != (void *)(uintptr_t)(index + 100))
        d->wrong_user++;
    bool right = index == 5 ? is_gzip_text(data, size, d->seen[index])
                            : is_pattern(data, size, d->seen[index]);
    d->wrong += !right;
    d->calls[index]++;
    d->seen[index] += size;
    if (index == DATA_ABORTED) {
        if (d->stopped)
            d->after_abort++;
        if (d->seen[index] > 100000) {
            d->stopped = true;
            return 1;
        }
    }
    return 0;
}

static void test_data_callback(void) {
    struct server *srv = server_start();
    if (!srv)
        return;
    struct data_seen d = {0};
    struct results rs = {.extra = &d};
    ug_fetch_options o;
    test_options(&o);
    o.concurrency = 4;
    o.on_data = on_data;
    ug_fetch *f = new_fetch(&o, &rs);
    if (!f) {
        server_stop(srv);
        return;
    }
    char path[64], buf[256];
    for (size_t i = 0; i < DATA_N; i++) {
        snprintf(path, sizeof path, "/bytes/%zu", data_sizes[i]);
        CHECK_INT_EQ(ug_fetch_add(f, url_of(srv, buf, i == 5 ? "/gzip" : path),
                                  NULL, NULL, (void *)(uintptr_t)(i + 100)),
                     (long)i);
    }
    /* Error pages are not body data. */
    CHECK_INT_EQ(ug_fetch_add(f, url_of(srv, buf, "/status/404"), NULL, NULL,
                              (void *)(uintptr_t)(DATA_N + 100)),
                 DATA_N);
    CHECK_RC(ug_fetch_run(f, NULL), 0);
    ug_fetch_free(f);
    CHECK_UINT_EQ(d.wrong, 0);
    CHECK_UINT_EQ(d.wrong_user, 0);
    CHECK_UINT_EQ(d.after_abort, 0);
    for (size_t i = 0; i < DATA_N; i++) {
        struct outcome *r = outcome(&rs, i);
        if (i == DATA_ABORTED) {
            CHECK_RC(r->error, UG_ECANCELED);
            CHECK_UINT_EQ(r->attempts, 1);
            CHECK_UINT(d.seen[i], >, 100000);
            CHECK_UINT(d.seen[i], <, data_sizes[i]);
            continue;
        }
        CHECK_RC(r->error, 0);
        CHECK_UINT_EQ(r->bytes, data_sizes[i]);
        CHECK_UINT_EQ(d.seen[i], data_sizes[i]);
    }
    CHECK_UINT_EQ(d.calls[0], 0); /* an empty body: no call */
    CHECK_RC(outcome(&rs, DATA_N)->error, UG_EHTTP);
    server_stop(srv);
    results_free(&rs);
}

/* ---- progress ----------------------------------------------------------- */

struct progress_seen {
    unsigned calls;
    unsigned not_monotonic;  /* done or bytes went down */
    unsigned wrong_total;
    size_t max_active;
    ug_fetch_progress last;
};

static void on_progress(void *ctx, const ug_fetch_progress *p) {
    struct progress_seen *ps = ((struct results *)ctx)->extra;
    if (ps->calls && (p->done < ps->last.done || p->bytes < ps->last.bytes ||
                      p->elapsed_s < ps->last.elapsed_s))
        ps->not_monotonic++;
    if (p->total != 21 || p->done > p->total || p->failed > p->done)
        ps->wrong_total++;
    if (p->active > ps->max_active)
        ps->max_active = p->active;
    ps->calls++;
    ps->last = *p;
}

static void test_progress(void) {
    struct server *srv = server_start();
    if (!srv)
        return;
    struct progress_seen ps = {0};
    struct results rs = {.extra = &ps};
    ug_fetch_options o;
    test_options(&o);
    o.concurrency = 8;
    o.on_progress = on_progress;
    o.progress_interval_ms = 10;
    ug_fetch *f = new_fetch(&o, &rs);
    if (!f) {
        server_stop(srv);
        return;
    }
    for (long i = 0; i < 20; i++)
        add_path(f, srv, "/slow/100", NULL, NULL, i);
    add_path(f, srv, "/status/404", NULL, NULL, 20);
    CHECK_RC(ug_fetch_run(f, NULL), 0);
    ug_fetch_free(f);
    CHECK_UINT(ps.calls, >=, 3);
    CHECK_UINT_EQ(ps.not_monotonic, 0);
    CHECK_UINT_EQ(ps.wrong_total, 0);
    CHECK_UINT(ps.max_active, <=, 8);
    CHECK_UINT(ps.max_active, >=, 1);
    CHECK_UINT_EQ(ps.last.done, 21);
    CHECK_UINT_EQ(ps.last.total, 21);
    CHECK_UINT_EQ(ps.last.failed, 1);
    CHECK_UINT_EQ(ps.last.active, 0);
    CHECK_UINT_EQ(ps.last.bytes, 20 * 100);
    CHECK_DBL(ps.last.elapsed_s, >, 0.05);
    CHECK_DBL(ps.last.rate, >=, 0);
    CHECK_UINT_EQ(rs.reports, 21);
    server_stop(srv);
    results_free(&rs);
}

/* ---- cancel ------------------------------------------------------------- */

struct canceller {
    int flag;                /* what ug_fetch_run watches */
    unsigned delay_ms;
    struct server *srv;
    unsigned active_then;    /* requests the server was serving */
    uint64_t set_ns;         /* when the flag was set */
};

static void *cancel_later(void *arg) {
    struct canceller *c = arg;
    check_sleep_ms(c->delay_ms);
    c->active_then = server_counts(c->srv).active;
    c->set_ns = ug_clock_ns();
    __atomic_store_n(&c->flag, 1, __ATOMIC_RELAXED);
    return NULL;
}

static void test_cancel(void) {
    for (int resume = 0; resume < 2; resume++) {
        char dir[64];
        if (!make_tmpdir(dir))
            return;
        struct server *srv = server_start();
        if (!srv) {
            remove_tmpdir(dir);
            return;
        }
        struct results rs = {0};
        ug_fetch_options o;
        test_options(&o);
        o.dest_dir = dir;
        o.resume = resume;
        ug_fetch *f = new_fetch(&o, &rs);
        if (!f)
            goto next;
        char name[16];
        for (long i = 0; i < 4; i++) {
            snprintf(name, sizeof name, "s%ld", i);
            add_path(f, srv, "/slow/20000", name, NULL, i); /* 20 s each */
        }
        struct canceller c = {.delay_ms = 300, .srv = srv};
        pthread_t th;
        pthread_create(&th, NULL, cancel_later, &c);
        CHECK_RC(ug_fetch_run(f, &c.flag), UG_ECANCELED);
        uint64_t returned = ug_clock_ns();
        pthread_join(th, NULL);
        CHECK_UINT_EQ(c.active_then, 4);
        CHECK_DBL((double)(returned - c.set_ns) / 1e9, <, 0.5);
        CHECK_UINT_EQ(rs.reports, 0);
        ug_fetch_free(f);
        if (!resume) {
            check_listing(dir, ""); /* no final name, no .part */
        } else {
            /* Partial files keep their .part name and hold a prefix. */
            check_listing(dir, "s0.part|s1.part|s2.part|s3.part");
            for (int i = 0; i < 4; i++) {
                size_t size = 0;
                snprintf(name, sizeof name, "s%d.part", i);
                unsigned char *p = read_file(dir, name, &size);
                CHECK(p && size >= 10 && size < 100 && is_pattern(p, size, 0));
                free(p);
            }
            /* A second run continues them. */
            struct results again = {0};
            if ((f = new_fetch(&o, &again))) {
                for (long i = 0; i < 4; i++) {
                    snprintf(name, sizeof name, "s%ld", i);
                    add_path(f, srv, "/bytes/100/x", name, NULL, i);
                }
                CHECK_RC(ug_fetch_run(f, NULL), 0);
                ug_fetch_free(f);
                for (int i = 0; i < 4; i++) {
                    snprintf(name, sizeof name, "s%d", i);
                    CHECK_RC(outcome(&again, (size_t)i)->error, 0);
                    check_pattern_file(dir, name, 100);
                }
                char range[64];
                server_hits(srv, "/bytes/100/x", range);
                CHECK_STR_EQ(range, "bytes=10-");
                check_listing(dir, "s0|s1|s2|s3");
            }
            results_free(&again);
        }
    next:
        server_stop(srv);
        results_free(&rs);
        remove_tmpdir(dir);
    }
}

/* ---- adding requests from on_done (the crawler's pattern) --------------- */

static void add_next(struct results *rs, const ug_fetch_result *r) {
    struct server *srv = rs->extra;
    char path[64], buf[256];
    size_t depth = (size_t)(uintptr_t)r->user;
    if (r->error == 0 && depth < 5) {
        snprintf(path, sizeof path, "/bytes/%zu", 100 * (depth + 2));
        long i = ug_fetch_add(rs->fetch, url_of(srv, buf, path), NULL, NULL,
                              (void *)(uintptr_t)(depth + 1));
        CHECK_INT(i, >, 0);
    }
    if (r->index == 0) /* and one that fails before any transfer */
        CHECK_INT(ug_fetch_add(rs->fetch, "ftp://127.0.0.1/x", NULL, NULL,
                               (void *)(uintptr_t)99),
                  >, 0);
}

static void test_add_from_on_done(void) {
    struct server *srv = server_start();
    if (!srv)
        return;
    struct results rs = {.then = add_next, .extra = srv};
    ug_fetch_options o;
    test_options(&o);
    ug_fetch *f = new_fetch(&o, &rs);
    if (!f) {
        server_stop(srv);
        return;
    }
    char buf[256];
    CHECK_INT_EQ(ug_fetch_add(f, url_of(srv, buf, "/bytes/100"), NULL, NULL,
                              (void *)(uintptr_t)0),
                 0);
    CHECK_RC(ug_fetch_run(f, NULL), 0);
    ug_fetch_free(f);
    /* 0 (depth 0) adds 1 (depth 1) and 2 (the ftp URL); then a chain. */
    CHECK_UINT_EQ(rs.reports, 7);
    size_t sizes[7] = {0}, bad = 0;
    for (size_t i = 0; i < 7; i++) {
        struct outcome *r = outcome(&rs, i);
        CHECK_UINT_EQ(r->reports, 1);
        if (r->user == (void *)(uintptr_t)99) {
            CHECK_RC(r->error, UG_EURL);
            bad++;
            continue;
        }
        size_t depth = (size_t)(uintptr_t)r->user;
        if (CHECK_UINT(depth, <, 7)) {
            sizes[depth] = 100 * (depth + 1);
            check_bytes_outcome(r, sizes[depth]);
        }
    }
    CHECK_UINT_EQ(bad, 1);
    for (size_t d = 0; d <= 5; d++)
        CHECK_UINT_EQ(sizes[d], 100 * (d + 1));
    server_stop(srv);
    results_free(&rs);
}

/* ---- backpressure: the admit callback ----------------------------------- */

struct gate {
    unsigned limit;      /* admit while fewer than this are unreported */
    unsigned admitted;   /* starts the callback allowed */
    atomic_int open;     /* 0: refuse everything (second part) */
    unsigned asked_closed; /* refusals while closed */
    struct results *rs;
};

static int admit_limited(void *ctx, size_t index, void *user) {
    struct results *rs = ctx;
    struct gate *g = rs->extra;
    if (!atomic_load(&g->open)) {
        g->asked_closed++;
        return 0;
    }
    if (g->admitted - rs->reports >= g->limit)
        return 0;
    g->admitted++;
    return 1;
}

struct opener {
    ug_fetch *f;
    struct gate *g;
    struct server *srv;
    unsigned requests_while_closed;
};

/* Waits a little, checks that nothing reached the server, then opens the
 * gate and wakes the engine. */
static void *open_later(void *arg) {
    struct opener *op = arg;
    struct timespec ts = {0, 150 * 1000 * 1000};
    nanosleep(&ts, NULL);
    op->requests_while_closed = server_counts(op->srv).requests;
    atomic_store(&op->g->open, 1);
    ug_fetch_wake(op->f);
    return NULL;
}

static void test_admit(void) {
    for (int part = 0; part < 2; part++) {
        struct server *srv = server_start();
        if (!srv)
            return;
        struct results rs = {0};
        struct gate g = {.limit = 2, .rs = &rs};
        atomic_init(&g.open, part == 0);
        rs.extra = &g;
        ug_fetch_options o;
        test_options(&o);
        o.concurrency = 8;
        o.per_host = 8;
        o.admit = admit_limited;
        ug_fetch *f = new_fetch(&o, &rs);
        if (!f) {
            server_stop(srv);
            return;
        }
        for (long i = 0; i < 20; i++)
            add_path(f, srv, "/slow/20", NULL, NULL, i);
        struct opener op = {.f = f, .g = &g, .srv = srv};
        pthread_t th;
        if (part == 1 && !CHECK_INT_EQ(pthread_create(&th, NULL, open_later, &op), 0)) {
            ug_fetch_free(f);
            server_stop(srv);
            return;
        }
        CHECK_RC(ug_fetch_run(f, NULL), 0);
        if (part == 1) {
            pthread_join(th, NULL);
            CHECK_UINT_EQ(op.requests_while_closed, 0);
            CHECK_UINT(g.asked_closed, >=, 1);
        }
        ug_fetch_free(f);
        CHECK_UINT_EQ(rs.reports, 20);
        CHECK_UINT_EQ(g.admitted, 20);
        for (size_t i = 0; i < 20; i++)
            CHECK_RC(outcome(&rs, i)->error, 0);
        struct server_counts sc = server_counts(srv);
        CHECK_UINT_EQ(sc.requests, 20);
        CHECK_UINT(sc.max_active, <=, 2);
        server_stop(srv);
        results_free(&rs);
    }
}

/* Admits request 0 at once and every other one only after a result came
 * back: request 0 fails once, and its retry must not queue behind the
 * requests that are being held back. */
static int admit_after_first(void *ctx, size_t index, void *user) {
    struct results *rs = ctx;
    return index == 0 || rs->reports >= 1;
}

static void *cancel_after_10s(void *arg) {
    for (int i = 0; i < 1000 && !atomic_load((atomic_int *)arg + 1); i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    atomic_store((atomic_int *)arg, 1);
    return NULL;
}

static void test_admit_retry_first(void) {
    struct server *srv = server_start();
    if (!srv)
        return;
    struct results rs = {0};
    ug_fetch_options o;
    test_options(&o);
    o.admit = admit_after_first;
    ug_fetch *f = new_fetch(&o, &rs);
    if (!f) {
        server_stop(srv);
        return;
    }
    add_path(f, srv, "/fail-once/100/first.bin", NULL, NULL, 0);
    for (long i = 1; i < 6; i++)
        add_path(f, srv, "/bytes/100", NULL, NULL, i);
    /* [0]: the cancel flag, set after 10 s if the run hangs; [1]: done. */
    atomic_int flags[2];
    atomic_init(&flags[0], 0);
    atomic_init(&flags[1], 0);
    pthread_t th;
    pthread_create(&th, NULL, cancel_after_10s, flags);
    CHECK_RC(ug_fetch_run(f, (const int *)&flags[0]), 0);
    atomic_store(&flags[1], 1);
    pthread_join(th, NULL);
    ug_fetch_free(f);
    CHECK_UINT_EQ(rs.reports, 6);
    CHECK_UINT_EQ(outcome(&rs, 0)->attempts, 2);
    for (size_t i = 0; i < 6; i++)
        CHECK_RC(outcome(&rs, i)->error, 0);
    server_stop(srv);
    results_free(&rs);
}

/* ---- trace -------------------------------------------------------------- */

struct trace_seen {
    unsigned events, wrong_lane, wrong_label, backwards;
    uint64_t bytes;
};

static int count_event(const ug_trace_event *ev, void *ctx) {
    struct trace_seen *t = ctx;
    unsigned k = 0;
    char tail;
    t->events++;
    if (sscanf(ev->lane_name, "transfer %u%c", &k, &tail) != 1 || k >= 4)
        t->wrong_lane++;
    if (strcmp(ev->label, "transfer"))
        t->wrong_label++;
    if (ev->end_ns < ev->start_ns)
        t->backwards++;
    t->bytes += ev->arg;
    return 0;
}

static void test_trace(void) {
    struct server *srv = server_start();
    if (!srv)
        return;
    ug_trace *trace = NULL;
    if (!CHECK_RC(ug_trace_new(&trace), 0)) {
        server_stop(srv);
        return;
    }
    struct results rs = {0};
    ug_fetch_options o;
    test_options(&o);
    o.concurrency = 4;
    o.trace = trace;
    ug_fetch *f = new_fetch(&o, &rs);
    if (f) {
        char path[64];
        uint64_t total = 0;
        for (long i = 0; i < 12; i++) {
            snprintf(path, sizeof path, "/bytes/%ld", 1000 * i + 7);
            total += (uint64_t)(1000 * i + 7);
            add_path(f, srv, path, NULL, NULL, i);
        }
        CHECK_RC(ug_fetch_run(f, NULL), 0);
        ug_fetch_free(f);
        CHECK_UINT_EQ(rs.reports, 12);
        CHECK_UINT_EQ(ug_trace_count(trace), 12);
        struct trace_seen t = {0};
        CHECK_INT_EQ(ug_trace_foreach(trace, count_event, &t), 0);
        CHECK_UINT_EQ(t.events, 12);
        CHECK_UINT_EQ(t.wrong_lane, 0);
        CHECK_UINT_EQ(t.wrong_label, 0);
        CHECK_UINT_EQ(t.backwards, 0);
        CHECK_UINT_EQ(t.bytes, total);
    }
    ug_trace_free(trace);
    server_stop(srv);
    results_free(&rs);
}

/* ---- SHA-256 ------------------------------------------------------------ */

static void test_sha256(void) {
    char dir[64];
    if (!make_tmpdir(dir))
        return;
    struct server *srv = server_start();
    if (!srv) {
        remove_tmpdir(dir);
        return;
    }
    char right[65], upper[65], wrong[65];
    pattern_sha256(5000, false, right);
    pattern_sha256(5000, true, upper);
    pattern_sha256(4999, false, wrong);
    for (int files = 0; files < 2; files++) {
        struct results rs = {0};
        ug_fetch_options o;
        test_options(&o);
        o.dest_dir = files ? dir : NULL;
        ug_fetch *f = new_fetch(&o, &rs);
        if (!f)
            break;
        add_path(f, srv, "/bytes/5000/right.bin", NULL, right, 0);
        add_path(f, srv, "/bytes/5000/upper.bin", NULL, upper, 1);
        add_path(f, srv, "/bytes/5000/wrong.bin", NULL, wrong, 2);
        CHECK_RC(ug_fetch_run(f, NULL), 0);
        ug_fetch_free(f);
        CHECK_RC(outcome(&rs, 0)->error, 0);
        CHECK_RC(outcome(&rs, 1)->error, 0);
        struct outcome *r = outcome(&rs, 2);
        CHECK_RC(r->error, UG_ECHECKSUM);
        CHECK_UINT_EQ(r->attempts, 1);
        CHECK_NULL(r->path);
        CHECK_NULL(r->body);
        CHECK_NOT_NULL(r->message);
        if (files) {
            check_pattern_file(dir, "right.bin", 5000);
            check_listing(dir, "right.bin|upper.bin");
        } else {
            check_bytes_outcome(outcome(&rs, 0), 5000);
        }
        results_free(&rs);
    }
    server_stop(srv);
    remove_tmpdir(dir);
}

/* ---- resume ------------------------------------------------------------- */

static void test_resume(void) {
    char dir[64];
    if (!make_tmpdir(dir))
        return;
    struct server *srv = server_start();
    if (!srv) {
        remove_tmpdir(dir);
        return;
    }
    enum { N = 60000 };
    char sha[65];
    pattern_sha256(N, false, sha);
    write_pattern_file(dir, "half.bin.part", N / 2);
    write_pattern_file(dir, "hashed.bin.part", N / 3);
    write_pattern_file(dir, "full.bin.part", N);         /* nothing left */
    write_pattern_file(dir, "norange.bin.part", N / 2); /* server ignores */
    struct results rs = {0};
    ug_fetch_options o;
    test_options(&o);
    o.dest_dir = dir;
    o.resume = 1;
    ug_fetch *f = new_fetch(&o, &rs);
    if (!f)
        goto out;
    add_path(f, srv, "/bytes/60000/a", "half.bin", NULL, 0);
    add_path(f, srv, "/bytes/60000/b", "hashed.bin", sha, 1);
    add_path(f, srv, "/bytes/60000/c", "fresh.bin", NULL, 2);
    add_path(f, srv, "/bytes/60000/d", "full.bin", NULL, 3);
    add_path(f, srv, "/plain/60000/e", "norange.bin", sha, 4);
    CHECK_RC(ug_fetch_run(f, NULL), 0);
    ug_fetch_free(f);
    static const char *names[] = {"half.bin", "hashed.bin", "fresh.bin",
                                  "full.bin", "norange.bin"};
    for (size_t i = 0; i < 5; i++) {
        struct outcome *r = outcome(&rs, i);
        bool ok = CHECK_RC(r->error, 0);
        ok = CHECK_STR_EQ(r->path, names[i]) && ok;
        ok = CHECK_UINT_EQ(r->bytes, N) && ok;
        ok = CHECK_UINT_EQ(r->attempts, 1) && ok;
        ok = check_pattern_file(dir, names[i], N) && ok;
        if (!ok)
            printf("    index %zu (%s): %s\n", i, names[i],
                   r->message ? r->message : "");
    }
    char range[64];
    CHECK_UINT_EQ(server_hits(srv, "/bytes/60000/a", range), 1);
    CHECK_STR_EQ(range, "bytes=30000-");
    CHECK_INT_EQ(outcome(&rs, 0)->status, 206);
    CHECK_UINT_EQ(server_hits(srv, "/bytes/60000/b", range), 1);
    CHECK_STR_EQ(range, "bytes=20000-");
    CHECK_UINT_EQ(server_hits(srv, "/bytes/60000/c", range), 1);
    CHECK_STR_EQ(range, "");
    CHECK_INT_EQ(outcome(&rs, 2)->status, 200);
    /* A server without ranges: the .part is started over, for free. */
    CHECK_UINT_EQ(server_hits(srv, "/plain/60000/e", range), 2);
    CHECK_STR_EQ(range, "");
    check_listing(dir, "fresh.bin|full.bin|half.bin|hashed.bin|norange.bin");
out:
    server_stop(srv);
    results_free(&rs);
    remove_tmpdir(dir);
}

/* ---- several loops -------------------------------------------------------- */

static void try_add(struct results *rs, const ug_fetch_result *r) {
    (void)r;
    CHECK_INT_EQ(ug_fetch_add(rs->fetch, "http://127.0.0.1:1/x", NULL, NULL,
                              NULL),
                 UG_EINVAL);
}

/* The same behaviour on several loops (four where the caps divide by
 * four, fewer where they do not): names and indexes as with one (files
 * are named in the order of ug_fetch_add), caps shared out, progress added
 * up, a cancel reaching every loop; requests cannot be added while the
 * loops run. */
static void test_loops_sharded(void) {
    test_loops = 4;
    test_memory_mode();
    test_file_mode();
    test_file_safety();
    test_per_host_cap();
    test_one_host_in_parallel();
    test_retries();
    test_bad_urls();
    test_progress();
    test_cancel();
    test_trace();
    test_sha256();
    test_resume();
    struct server *srv = server_start();
    if (srv) {
        struct results rs = {.then = try_add};
        ug_fetch_options o;
        test_options(&o);
        ug_fetch *f = new_fetch(&o, &rs);
        if (f) {
            for (long i = 0; i < 4; i++)
                add_path(f, srv, "/bytes/10", NULL, NULL, i);
            CHECK_RC(ug_fetch_run(f, NULL), 0);
            ug_fetch_free(f);
            CHECK_UINT_EQ(rs.reports, 4);
        }
        server_stop(srv);
        results_free(&rs);
    }
    test_loops = 1;
}

int main(int argc, char **argv) {
    static const check_test tests[] = {
        CHECK_TEST(test_options_and_new),
        CHECK_TEST(test_memory_mode),
        CHECK_TEST(test_file_mode),
        CHECK_TEST(test_file_overwrite),
        CHECK_TEST(test_file_safety),
        CHECK_TEST(test_content_disposition),
        CHECK_TEST(test_per_host_cap),
        CHECK_TEST(test_one_host_in_parallel),
        CHECK_TEST(test_later_host_not_held),
        CHECK_TEST(test_proxy_from_env),
        CHECK_TEST(test_proxy_option),
        CHECK_TEST(test_retries),
        CHECK_TEST(test_retry_after),
        CHECK_TEST(test_timeout),
        CHECK_TEST(test_gzip_decoded),
        CHECK_TEST(test_max_bytes),
        CHECK_TEST(test_header_cap),
        CHECK_TEST(test_redirects),
        CHECK_TEST(test_bad_urls),
        CHECK_TEST(test_data_callback),
        CHECK_TEST(test_progress),
        CHECK_TEST(test_cancel),
        CHECK_TEST(test_add_from_on_done),
        CHECK_TEST(test_admit),
        CHECK_TEST(test_reuse_declined),
        CHECK_TEST(test_reuse_rule),
        CHECK_TEST(test_reuse_rule_keeps_what_fits),
        CHECK_TEST(test_reuse_rule_far),
        CHECK_TEST(test_reuse_rule_successors),
        CHECK_TEST(test_admit_retry_first),
        CHECK_TEST(test_trace),
        CHECK_TEST(test_sha256),
        CHECK_TEST(test_resume),
        CHECK_TEST(test_loops_sharded),
    };
    return check_main(argc, argv, tests, sizeof tests / sizeof *tests);
}
