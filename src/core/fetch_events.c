/* fetch_events.c - libcurl's socket interface on epoll.  See
 * fetch_events.h; the engine (fetch.c) owns the fetch_events value, this
 * file owns the epoll set, the eventfd and the socket table. */
#include "fetch_events.h"
#include "fetch_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ungil/error.h"
#include "ungil/fetch.h"
#include "ungil/ungil.h"

enum { MAX_EVENTS = 256 };

/* The entry of descriptor `fd`, growing the table; NULL without memory. */
static struct fetch_socket *entry(fetch_events *ev, int fd) {
    if (fd < 0)
        return NULL;
    if ((size_t)fd >= ev->nsocks) {
        size_t n = ev->nsocks ? ev->nsocks : 64;
        while (n <= (size_t)fd)
            n *= 2;
        struct fetch_socket *grown = realloc(ev->socks, n * sizeof *grown);
        if (!grown)
            return NULL;
        memset(grown + ev->nsocks, 0, (n - ev->nsocks) * sizeof *grown);
        ev->socks = grown;
        ev->nsocks = n;
    }
    return &ev->socks[fd];
}

/* Makes the epoll set hold what libcurl wants for `fd`.  A socket may have
 * been closed behind our back only if it is not ours, and those are
 * applied at once, while still open. */
static int apply(fetch_events *ev, int fd) {
    struct fetch_socket *k = &ev->socks[fd];
    if (k->want == k->have)
        return 0;
    struct epoll_event e = {.events = k->want, .data.fd = fd};
    if (!k->want) {
        epoll_ctl(ev->epfd, EPOLL_CTL_DEL, fd, NULL); /* fails if closed */
        k->have = 0;
        return 0;
    }
    int rc = epoll_ctl(ev->epfd, k->have ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &e);
    if (rc && (errno == ENOENT || errno == EEXIST))
        rc = epoll_ctl(ev->epfd, errno == ENOENT ? EPOLL_CTL_ADD : EPOLL_CTL_MOD,
                       fd, &e);
    if (rc)
        return UG_EIO;
    k->have = k->want;
    return 0;
}

/* CURLMOPT_SOCKETFUNCTION: note what libcurl wants watched. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
                     void *socketp) {
    (void)easy;
    (void)socketp;
    fetch_events *ev = userp;
    struct fetch_socket *k = entry(ev, fd);
    if (!k) {
        ev->failed = true;
        return -1;
    }
    k->want = (what == CURL_POLL_IN || what == CURL_POLL_INOUT ? EPOLLIN : 0) |
              (what == CURL_POLL_OUT || what == CURL_POLL_INOUT ? EPOLLOUT : 0);
    if (!k->owned) {
        if (apply(ev, fd))
            ev->failed = true;
        return 0;
    }
    if (k->dirty)
        return 0;
    int *changed = fetch_reserve(ev->changed, ev->nchanged, &ev->changed_cap,
                                 sizeof *changed);
    if (!changed) {
        if (apply(ev, fd))
            ev->failed = true;
        return 0;
    }
    ev->changed = changed;
    k->dirty = true;
    ev->changed[ev->nchanged++] = fd;
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: remember when libcurl wants to run next. */
static int on_timer(CURLM *multi, long timeout_ms, void *userp) {
    (void)multi;
    fetch_events *ev = userp;
    ev->timer_due_ns = timeout_ms < 0
                           ? UINT64_MAX
                           : ug_clock_ns() + (uint64_t)timeout_ms * 1000000u;
    return 0;
}

/* CURLOPT_OPENSOCKETFUNCTION: a fresh socket is in no epoll set. */
static curl_socket_t on_open(void *clientp, curlsocktype purpose,
                             struct curl_sockaddr *addr) {
    (void)purpose;
    fetch_events *ev = clientp;
    int fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
    struct fetch_socket *k = entry(ev, fd);
    if (k) {
        k->want = k->have = 0;
        k->owned = true;
    }
    return fd < 0 ? CURL_SOCKET_BAD : fd;
}

/* CURLOPT_CLOSESOCKETFUNCTION: closing drops it from the epoll set. */
static int on_close(void *clientp, curl_socket_t fd) {
    fetch_events *ev = clientp;
    if (fd >= 0 && (size_t)fd < ev->nsocks) {
        struct fetch_socket *k = &ev->socks[fd];
        k->want = k->have = 0;
        k->owned = false;
    }
    return close(fd);
}

int fetch_events_init(fetch_events *ev, CURLM *multi) {
    *ev = (fetch_events){.epfd = -1, .wakefd = -1, .timer_due_ns = UINT64_MAX};
    ev->epfd = epoll_create1(EPOLL_CLOEXEC);
    ev->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event e = {.events = EPOLLIN, .data.fd = ev->wakefd};
    if (ev->epfd < 0 || ev->wakefd < 0 ||
        epoll_ctl(ev->epfd, EPOLL_CTL_ADD, ev->wakefd, &e)) {
        fetch_events_free(ev);
        return UG_EIO;
    }
    ev->multi = multi;
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, ev);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, ev);
    return 0;
}

void fetch_events_free(fetch_events *ev) {
    if (ev->epfd >= 0)
        close(ev->epfd);
    if (ev->wakefd >= 0)
        close(ev->wakefd);
    free(ev->socks);
    free(ev->changed);
    *ev = (fetch_events){.epfd = -1, .wakefd = -1};
}

void fetch_events_easy(fetch_events *ev, CURL *easy) {
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, on_open);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, ev);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, on_close);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, ev);
}

long fetch_events_timeout_ms(const fetch_events *ev, long cap_ms) {
    if (ev->timer_due_ns == UINT64_MAX)
        return cap_ms;
    uint64_t now = ug_clock_ns();
    if (ev->timer_due_ns <= now)
        return 0;
    uint64_t ms = (ev->timer_due_ns - now + 999999u) / 1000000u;
    return ms < (uint64_t)cap_ms ? (long)ms : cap_ms;
}

void fetch_events_run_timer(fetch_events *ev) {
    if (ev->timer_due_ns > ug_clock_ns())
        return;
    ev->timer_due_ns = UINT64_MAX; /* libcurl sets the next one */
    int running;
    curl_multi_socket_action(ev->multi, CURL_SOCKET_TIMEOUT, 0, &running);
}

int fetch_events_wait(fetch_events *ev, long wait_ms) {
    for (size_t i = 0; i < ev->nchanged; i++) {
        int fd = ev->changed[i];
        ev->socks[fd].dirty = false;
        if (apply(ev, fd))
            ev->failed = true;
    }
    ev->nchanged = 0;
    if (ev->failed)
        return UG_ENOMEM;
    struct epoll_event events[MAX_EVENTS];
    int n = epoll_wait(ev->epfd, events, MAX_EVENTS, (int)wait_ms);
    for (int i = 0; i < n; i++) {
        int fd = events[i].data.fd;
        uint32_t e = events[i].events;
        if (fd == ev->wakefd) {
            uint64_t count;
            if (read(fd, &count, sizeof count) < 0 && errno != EAGAIN)
                return UG_EIO;
            continue;
        }
        int bits = (e & (EPOLLIN | EPOLLHUP) ? CURL_CSELECT_IN : 0) |
                   (e & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                   (e & EPOLLERR ? CURL_CSELECT_ERR : 0);
        int running;
        curl_multi_socket_action(ev->multi, fd, bits, &running);
    }
    fetch_events_run_timer(ev);
    return ev->failed ? UG_ENOMEM : 0;
}

void fetch_events_wake(fetch_events *ev) {
    uint64_t one = 1;
    ssize_t rc = write(ev->wakefd, &one, sizeof one);
    (void)rc; /* EAGAIN: the counter is full, so a wake is pending anyway */
}
