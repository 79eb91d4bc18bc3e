/* test_fetch_queue.c - the fetch loop's waiting room (src/core/fetch_queue.c):
 * hosts by key, round-robin over the hosts that may start a transfer,
 * the per-host cap, and retries leaving the delay heap in time order. */
#include <stdlib.h>
#include <string.h>

#include "check.h"

#include "../../src/core/fetch_queue.h"

/* A request as the engine embeds it: the entry and a number to tell it. */
struct req {
    fetch_entry e;
    int id;
};

static int id_of(fetch_entry *e) { return e ? ((struct req *)e)->id : -1; }

static void test_host_lookup(void) {
    fetch_queue q;
    fetch_queue_init(&q, 4);
    enum { N = 5000 }; /* the table grows several times */
    fetch_host **seen = calloc(N, sizeof *seen);
    char key[64];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "http://h%d.example:80", i);
        seen[i] = fetch_queue_host(&q, key);
        if (!CHECK_NOT_NULL(seen[i]))
            break;
        CHECK_STR_EQ(seen[i]->key, key);
    }
    CHECK_UINT_EQ(q.nhosts, N);
    int same = 0;
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "http://h%d.example:80", i);
        same += fetch_queue_host(&q, key) == seen[i];
    }
    CHECK_INT_EQ(same, N);
    CHECK_UINT_EQ(q.nhosts, N); /* looking up made no new host */
    free(seen);
    fetch_queue_free(&q);
}

static void test_round_robin(void) {
    fetch_queue q;
    fetch_queue_init(&q, 8);
    fetch_host *a = fetch_queue_host(&q, "http://a:80");
    fetch_host *b = fetch_queue_host(&q, "http://b:80");
    fetch_host *c = fetch_queue_host(&q, "http://c:80");
    struct req r[7];
    for (int i = 0; i < 7; i++)
        r[i].id = i;
    /* a: 0 1 2 3, b: 4 5, c: 6 */
    for (int i = 0; i < 4; i++)
        fetch_queue_push(&q, a, &r[i].e);
    fetch_queue_push(&q, b, &r[4].e);
    fetch_queue_push(&q, b, &r[5].e);
    fetch_queue_push(&q, c, &r[6].e);
    CHECK_UINT_EQ(q.queued, 7);
    int want[] = {0, 4, 6, 1, 5, 2, 3};
    for (int i = 0; i < 7; i++)
        CHECK_INT_EQ(id_of(fetch_queue_take(&q)), want[i]);
    CHECK_NULL(fetch_queue_take(&q));
    CHECK_UINT_EQ(q.queued, 0);
    CHECK_UINT_EQ(a->active, 4);
    CHECK_UINT_EQ(b->active, 2);
    CHECK_UINT_EQ(c->active, 1);
    fetch_queue_free(&q);
}

static void test_per_host_cap(void) {
    fetch_queue q;
    fetch_queue_init(&q, 2);
    fetch_host *a = fetch_queue_host(&q, "http://a:80");
    fetch_host *b = fetch_queue_host(&q, "http://b:80");
    struct req r[6];
    for (int i = 0; i < 6; i++) {
        r[i].id = i;
        fetch_queue_push(&q, i < 5 ? a : b, &r[i].e);
    }
    /* a may have two in flight: after 0 and 1, only b's 5 can start. */
    CHECK_INT_EQ(id_of(fetch_queue_take(&q)), 0);
    CHECK_INT_EQ(id_of(fetch_queue_take(&q)), 5);
    CHECK_INT_EQ(id_of(fetch_queue_take(&q)), 1);
    CHECK_NULL(fetch_queue_take(&q));
    CHECK_UINT_EQ(a->active, 2);
    /* One of a's ends: the next of a's may start, and only one. */
    fetch_queue_release(&q, a);
    CHECK_INT_EQ(id_of(fetch_queue_take(&q)), 2);
    CHECK_NULL(fetch_queue_take(&q));
    /* Releasing a host with nothing waiting makes nothing startable. */
    fetch_queue_release(&q, b);
    CHECK_NULL(fetch_queue_take(&q));
    fetch_queue_release(&q, a);
    fetch_queue_release(&q, a);
    CHECK_INT_EQ(id_of(fetch_queue_take(&q)), 3);
    CHECK_INT_EQ(id_of(fetch_queue_take(&q)), 4);
    CHECK_NULL(fetch_queue_take(&q));
    fetch_queue_free(&q);
}

static void test_untake(void) {
    fetch_queue q;
    fetch_queue_init(&q, 1);
    fetch_host *a = fetch_queue_host(&q, "http://a:80");
    struct req r[2] = {{.id = 0}, {.id = 1}};
    fetch_queue_push(&q, a, &r[0].e);
    fetch_queue_push(&q, a, &r[1].e);
    fetch_entry *e = fetch_queue_take(&q);
    CHECK_INT_EQ(id_of(e), 0);
    CHECK_NULL(fetch_queue_take(&q)); /* the cap of one is taken */
    fetch_queue_untake(&q, e);
    CHECK_UINT_EQ(a->active, 0);
    CHECK_UINT_EQ(q.queued, 2);
    CHECK_INT_EQ(id_of(fetch_queue_take(&q)), 0); /* still first */
    fetch_queue_release_all(&q);
    CHECK_UINT_EQ(a->active, 0);
    CHECK_INT_EQ(id_of(fetch_queue_take(&q)), 1);
    fetch_queue_free(&q);
}

static void test_delay_order(void) {
    fetch_queue q;
    fetch_queue_init(&q, 1000);
    enum { N = 1000 };
    fetch_host *h = fetch_queue_host(&q, "http://a:80");
    struct req *r = calloc(N, sizeof *r);
    uint32_t x = 12345;
    for (int i = 0; i < N; i++) {
        x = x * 1103515245u + 12345u; /* due times in random order */
        r[i].id = (int)(x >> 8) % 100000;
        r[i].e.host = h;
        CHECK_RC(fetch_queue_delay(&q, &r[i].e, (uint64_t)r[i].id + 1), 0);
    }
    CHECK_UINT_EQ(q.ndelayed, N);
    CHECK_UINT_EQ(q.queued, 0);
    CHECK_NULL(fetch_queue_take(&q)); /* nothing is due yet */
    /* Release step by step; each step frees exactly the ones due. */
    uint64_t now = 0, last = 0;
    size_t out = 0;
    bool ordered = true, all_due = true;
    while (q.ndelayed) {
        uint64_t next = fetch_queue_release_due(&q, now);
        fetch_entry *e;
        while ((e = fetch_queue_take(&q))) {
            uint64_t due = (uint64_t)id_of(e) + 1;
            all_due = all_due && due <= now;
            ordered = ordered && due >= last;
            last = due;
            out++;
            fetch_queue_release(&q, h);
        }
        if (q.ndelayed)
            CHECK_UINT(next, >, now);
        now = next;
    }
    CHECK_UINT_EQ(out, N);
    CHECK(ordered);
    CHECK(all_due);
    CHECK_UINT_EQ(fetch_queue_release_due(&q, now), UINT64_MAX);
    free(r);
    fetch_queue_free(&q);
}

static void test_retry_goes_first(void) {
    fetch_queue q;
    fetch_queue_init(&q, 1);
    fetch_host *a = fetch_queue_host(&q, "http://a:80");
    struct req r[3] = {{.id = 0}, {.id = 1}, {.id = 2}};
    fetch_queue_push(&q, a, &r[0].e);
    fetch_queue_push(&q, a, &r[1].e);
    fetch_queue_push(&q, a, &r[2].e);
    fetch_entry *e = fetch_queue_take(&q);
    CHECK_INT_EQ(id_of(e), 0);
    fetch_queue_release(&q, a);
    CHECK_RC(fetch_queue_delay(&q, e, 50), 0);
    CHECK_UINT_EQ(fetch_queue_release_due(&q, 49), 50);
    CHECK_UINT_EQ(fetch_queue_release_due(&q, 50), UINT64_MAX);
    /* The retry keeps its turn ahead of the requests that never ran. */
    CHECK_INT_EQ(id_of(fetch_queue_take(&q)), 0);
    fetch_queue_free(&q);
}

int main(int argc, char **argv) {
    static const check_test tests[] = {
        CHECK_TEST(test_host_lookup),  CHECK_TEST(test_round_robin),
        CHECK_TEST(test_per_host_cap), CHECK_TEST(test_untake),
        CHECK_TEST(test_delay_order),  CHECK_TEST(test_retry_goes_first),
    };
    return check_main(argc, argv, tests, sizeof tests / sizeof *tests);
}
