/* fetch_events.h - libcurl's socket interface on epoll (private to fetch.c).
 *
 * The fetch engine drives its multi handle with curl_multi_socket_action:
 * libcurl says which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when
 * its next timeout is due (CURLMOPT_TIMERFUNCTION); this module keeps an
 * epoll set to match and hands each ready socket back to libcurl with its
 * readiness, so libcurl neither polls every socket itself nor walks every
 * transfer on each turn.
 *
 * Changes to the epoll set are gathered during a turn and applied just
 * before waiting: a connection that finishes one transfer and starts the
 * next in the same turn (libcurl removes its socket, then adds it back)
 * costs no epoll_ctl at all.  That is only safe for sockets whose closing
 * we see, so libcurl opens and closes its connection sockets through our
 * callbacks (fetch_events_easy); any other socket it shows us (a resolver's
 * socket pair) is updated at once.
 *
 * An eventfd in the same set lets another thread end a wait
 * (fetch_events_wake).
 */
#ifndef UNGIL_FETCH_EVENTS_H
#define UNGIL_FETCH_EVENTS_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fetch_socket {
    uint32_t want;  /* epoll events libcurl asks for; 0 = none */
    uint32_t have;  /* events registered in the epoll set; 0 = none */
    bool owned;     /* opened by us for libcurl: we see it close */
    bool dirty;     /* in the change list */
};

typedef struct fetch_events {
    CURLM *multi;
    int epfd;
    int wakefd;
    struct fetch_socket *socks; /* indexed by descriptor */
    size_t nsocks;
    int *changed;               /* descriptors with want != have, maybe */
    size_t nchanged, changed_cap;
    uint64_t timer_due_ns;      /* libcurl's next timeout; UINT64_MAX none */
    bool failed;                /* out of memory in a callback */
} fetch_events;

/* Creates the epoll set and the wake eventfd and installs the socket and
 * timer callbacks on `multi`.  Returns 0, UG_ENOMEM or UG_EIO. */
int fetch_events_init(fetch_events *ev, CURLM *multi);

/* Frees the epoll set; call after curl_multi_cleanup (which may still
 * close sockets through our callback). */
void fetch_events_free(fetch_events *ev);

/* Routes an easy handle's connection sockets through our open and close
 * callbacks; call once per easy handle. */
void fetch_events_easy(fetch_events *ev, CURL *easy);

/* Milliseconds until libcurl's timer is due (0 when it is), capped at
 * `cap_ms`. */
long fetch_events_timeout_ms(const fetch_events *ev, long cap_ms);

/* Runs libcurl's timeouts if they are due (this also starts transfers
 * just added). */
void fetch_events_run_timer(fetch_events *ev);

/* Applies the gathered epoll changes, waits at most `wait_ms` for events,
 * and hands every ready socket to libcurl, then its due timeouts.
 * Returns 0, or UG_ENOMEM / UG_EIO if the event set could not be kept in
 * step (the transfers cannot go on). */
int fetch_events_wait(fetch_events *ev, long wait_ms);

/* Ends a wait in progress (or the next one) from any thread. */
void fetch_events_wake(fetch_events *ev);

#endif
