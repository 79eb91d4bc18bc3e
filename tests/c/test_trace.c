/* test_trace.c - the trace recorder and its writers (ungil/trace.h).
 *
 * Recording is checked through ug_trace_foreach: which lane, which label,
 * which times, in which order.  The writers are checked on their text: the
 * JSON goes through a small syntax checker written here (not a full
 * parser, but it catches a missing comma, quote or bracket), and the SVG is
 * checked for one bar per wide event and for merging many tiny ones into a
 * small file.  A pool recording into a trace is tested last.
 */
#include "check.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sys/stat.h>

#include "ungil/pool.h"
#include "ungil/trace.h"

/* ---- helpers ------------------------------------------------------------ */

static size_t count_substr(const char *hay, const char *needle) {
    size_t n = 0, k = strlen(needle);
    for (const char *p = strstr(hay, needle); p; p = strstr(p + k, needle))
        n++;
    return n;
}

/* The writers' output as a NUL-terminated string (free it); *size gets its
 * length.  `svg` picks the writer. */
static char *render(ug_trace *t, bool svg, const char *title, size_t *size) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!CHECK_NOT_NULL(f))
        return NULL;
    int rc = svg ? ug_trace_write_svg(t, f, title) : ug_trace_write_json(t, f);
    CHECK_RC(rc, 0);
    fclose(f);
    if (size)
        *size = len;
    return buf;
}

/* A JSON syntax check: one value, nothing but blanks after it. */
static bool json_value(const char **p, int depth);

static void json_blank(const char **p) {
    while (**p == ' ' || **p == '\n' || **p == '\r' || **p == '\t')
        (*p)++;
}

static bool json_string(const char **p) {
    if (**p != '"')
        return false;
    for ((*p)++; **p != '"'; (*p)++) {
        unsigned char c = (unsigned char)**p;
        if (c < 0x20) /* includes the end of the text */
            return false;
        if (c == '\\') {
            (*p)++;
            if (**p == 'u') {
                for (int i = 0; i < 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", *++*p) || !**p)
                        return false;
            } else if (!**p || !strchr("\"\\/bfnrt", **p)) {
                return false;
            }
        }
    }
    (*p)++;
    return true;
}

static bool json_number(const char **p) {
    if (**p != '-' && !(**p >= '0' && **p <= '9'))
        return false;
    char *end;
    strtod(*p, &end);
    *p = end;
    return true;
}

static bool json_literal(const char **p, const char *word) {
    size_t n = strlen(word);
    if (strncmp(*p, word, n) != 0)
        return false;
    *p += n;
    return true;
}

/* An object or array: open, values (key: value for objects), close. */
static bool json_container(const char **p, int depth, bool object) {
    (*p)++;
    json_blank(p);
    char close = object ? '}' : ']';
    if (**p == close) {
        (*p)++;
        return true;
    }
    for (;;) {
        json_blank(p);
        if (object) {
            if (!json_string(p))
                return false;
            json_blank(p);
            if (*(*p)++ != ':')
                return false;
        }
        if (!json_value(p, depth + 1))
            return false;
        json_blank(p);
        char c = *(*p)++;
        if (c == close)
            return true;
        if (c != ',')
            return false;
    }
}

static bool json_value(const char **p, int depth) {
    if (depth > 64)
        return false;
    json_blank(p);
    switch (**p) {
    case '{':
        return json_container(p, depth, true);
    case '[':
        return json_container(p, depth, false);
    case '"':
        return json_string(p);
    case 't':
        return json_literal(p, "true");
    case 'f':
        return json_literal(p, "false");
    case 'n':
        return json_literal(p, "null");
    default:
        return json_number(p);
    }
}

static bool json_valid(const char *text) {
    const char *p = text;
    if (!json_value(&p, 0))
        return false;
    json_blank(&p);
    return *p == '\0';
}

/* Collects what foreach reports, copying the strings. */
struct seen {
    size_t n, cap;
    struct seen_event {
        ug_trace_event ev;
        char lane_name[64];
        char label[64];
    } *ev;
    size_t stop_after; /* 0 = never stop */
};

static int collect(const ug_trace_event *ev, void *arg) {
    struct seen *s = arg;
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->ev = realloc(s->ev, s->cap * sizeof *s->ev);
        if (!s->ev)
            abort();
    }
    struct seen_event *e = &s->ev[s->n++];
    e->ev = *ev;
    snprintf(e->lane_name, sizeof e->lane_name, "%s", ev->lane_name);
    snprintf(e->label, sizeof e->label, "%s", ev->label);
    return s->stop_after && s->n == s->stop_after ? 7 : 0;
}

/* The i-th event collected, its strings pointing at the copies (which move
 * when the array grows). */
static const ug_trace_event *seen_at(struct seen *s, size_t i) {
    struct seen_event *e = &s->ev[i];
    e->ev.lane_name = e->lane_name;
    e->ev.label = e->label;
    return &e->ev;
}

/* ---- labels, lanes, events ---------------------------------------------- */

static void test_clock(void) {
    uint64_t a = ug_clock_ns(), b = ug_clock_ns();
    CHECK_UINT(b, >=, a);
    CHECK_UINT(a, >, 0);
}

static void test_labels(void) {
    ug_trace *t = NULL;
    if (!CHECK_RC(ug_trace_new(&t), 0))
        return;
    CHECK_UINT_EQ(ug_trace_label(t, "task"), 0);
    char text[32] = "alpha";
    uint32_t alpha = ug_trace_label(t, text);
    strcpy(text, "beta"); /* the trace keeps its own copy */
    uint32_t beta = ug_trace_label(t, text);
    CHECK_UINT(alpha, >, 0);
    CHECK_UINT(beta, >, 0);
    CHECK_UINT(alpha, !=, beta);
    CHECK_UINT_EQ(ug_trace_label(t, "alpha"), alpha);
    CHECK_UINT_EQ(ug_trace_label(t, "beta"), beta);
    CHECK_UINT_EQ(ug_trace_label(t, "task"), 0);
    /* Enough labels to grow the table several times. */
    uint32_t ids[100];
    for (int i = 0; i < 100; i++) {
        snprintf(text, sizeof text, "label %d", i);
        ids[i] = ug_trace_label(t, text);
    }
    for (int i = 0; i < 100; i++) {
        snprintf(text, sizeof text, "label %d", i);
        CHECK_UINT_EQ(ug_trace_label(t, text), ids[i]);
        if (i)
            CHECK_UINT(ids[i], !=, ids[i - 1]);
    }
    CHECK_UINT_EQ(ug_trace_label(t, "alpha"), alpha);

    /* Events come back with the interned text; an unknown id reads as
     * "task". */
    uint64_t now = ug_clock_ns();
    ug_trace_record(t, alpha, now, now + 10, 0);
    ug_trace_record(t, ids[99], now, now + 10, 1);
    ug_trace_record(t, 0, now, now + 10, 2);
    ug_trace_record(t, 999999, now, now + 10, 3);
    struct seen s = {0};
    ug_trace_foreach(t, collect, &s);
    if (CHECK_UINT_EQ(s.n, 4)) {
        CHECK_STR_EQ(seen_at(&s, 0)->label, "alpha");
        CHECK_STR_EQ(seen_at(&s, 1)->label, "label 99");
        CHECK_STR_EQ(seen_at(&s, 2)->label, "task");
        CHECK_STR_EQ(seen_at(&s, 3)->label, "task");
    }
    free(s.ev);
    ug_trace_free(t);
}

static void test_foreach_fields_and_order(void) {
    uint64_t before = ug_clock_ns();
    ug_trace *t = NULL;
    if (!CHECK_RC(ug_trace_new(&t), 0))
        return;
    uint64_t after = ug_clock_ns();
    uint32_t work = ug_trace_label(t, "work");
    CHECK_UINT_EQ(ug_trace_count(t), 0);
    CHECK_UINT_EQ(ug_trace_lanes(t), 0);

    /* Times relative to an origin taken somewhere in [before, after]. */
    ug_trace_record(t, work, after + 1000, after + 3000, 11);
    ug_trace_record(t, 0, after + 5000, after + 5000, 22);
    ug_trace_record(t, work, before - 500, after + 100, 33); /* before origin */
    CHECK_UINT_EQ(ug_trace_count(t), 3);
    CHECK_UINT_EQ(ug_trace_lanes(t), 1);
    CHECK_UINT_EQ(ug_trace_dropped(t), 0);

    struct seen s = {0};
    CHECK_INT_EQ(ug_trace_foreach(t, collect, &s), 0);
    uint64_t slack = after - before;
    if (CHECK_UINT_EQ(s.n, 3)) {
        const ug_trace_event *e = seen_at(&s, 0);
        CHECK_UINT_EQ(e->lane, 0);
        CHECK_STR_EQ(e->lane_name, "thread 0");
        CHECK_STR_EQ(e->label, "work");
        CHECK_UINT(e->start_ns, >=, 1000);
        CHECK_UINT(e->start_ns, <=, 1000 + slack);
        CHECK_UINT_EQ(e->end_ns - e->start_ns, 2000);
        CHECK_UINT_EQ(e->arg, 11);
        e = seen_at(&s, 1);
        CHECK_STR_EQ(e->label, "task");
        CHECK_UINT_EQ(e->end_ns, e->start_ns);
        CHECK_UINT_EQ(e->arg, 22);
        e = seen_at(&s, 2);
        CHECK_UINT_EQ(e->start_ns, 0); /* clamped to the origin */
        CHECK_UINT(e->end_ns, >=, 100);
        CHECK_UINT_EQ(e->arg, 33);
    }

    /* A non-zero return stops the walk and comes back. */
    struct seen stop = {.stop_after = 2};
    CHECK_INT_EQ(ug_trace_foreach(t, collect, &stop), 7);
    CHECK_UINT_EQ(stop.n, 2);
    free(stop.ev);
    free(s.ev);
    ug_trace_free(t);
}

static void test_name_thread(void) {
    ug_trace *t = NULL;
    if (!CHECK_RC(ug_trace_new(&t), 0))
        return;
    /* Naming creates the lane even before the first event. */
    char name[32] = "main lane";
    CHECK_RC(ug_trace_name_thread(t, name), 0);
    strcpy(name, "overwritten");
    CHECK_UINT_EQ(ug_trace_lanes(t), 1);
    uint64_t now = ug_clock_ns();
    ug_trace_record(t, 0, now, now + 1, 0);
    struct seen s = {0};
    ug_trace_foreach(t, collect, &s);
    if (CHECK_UINT_EQ(s.n, 1))
        CHECK_STR_EQ(seen_at(&s, 0)->lane_name, "main lane");
    /* Renaming replaces the name for every event of the lane. */
    CHECK_RC(ug_trace_name_thread(t, "renamed"), 0);
    s.n = 0;
    ug_trace_foreach(t, collect, &s);
    if (CHECK_UINT_EQ(s.n, 1))
        CHECK_STR_EQ(seen_at(&s, 0)->lane_name, "renamed");
    CHECK_UINT_EQ(ug_trace_lanes(t), 1);
    free(s.ev);
    ug_trace_free(t);
}

/* Several threads record at once, each into its own lane. */
enum { RECORDERS = 4, PER_RECORDER = 2500 }; /* more than one block each */

struct recorder {
    ug_trace *trace;
    pthread_barrier_t *barrier;
    unsigned index;
    uint32_t label;
};

static void *record_many(void *arg) {
    struct recorder *r = arg;
    char name[32];
    if (r->index != 0) { /* recorder 0 stays unnamed */
        snprintf(name, sizeof name, "recorder %u", r->index);
        ug_trace_name_thread(r->trace, name);
    }
    for (unsigned i = 0; i < PER_RECORDER * (r->index + 1); i++) {
        uint64_t t0 = ug_clock_ns();
        ug_trace_record(r->trace, r->label, t0, t0 + i, i);
    }
    /* Stay alive until all have recorded, so no two threads can share a
     * thread-local token (and thus a lane). */
    pthread_barrier_wait(r->barrier);
    return NULL;
}

static void test_threads_get_lanes(void) {
    ug_trace *t = NULL;
    if (!CHECK_RC(ug_trace_new(&t), 0))
        return;
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, RECORDERS);
    struct recorder r[RECORDERS];
    pthread_t th[RECORDERS];
    uint32_t label = ug_trace_label(t, "rec");
    for (unsigned i = 0; i < RECORDERS; i++) {
        r[i] = (struct recorder){t, &barrier, i, label};
        pthread_create(&th[i], NULL, record_many, &r[i]);
    }
    for (unsigned i = 0; i < RECORDERS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&barrier);

    size_t total = 0;
    for (unsigned i = 0; i < RECORDERS; i++)
        total += PER_RECORDER * (i + 1);
    CHECK_UINT_EQ(ug_trace_lanes(t), RECORDERS);
    CHECK_UINT_EQ(ug_trace_count(t), total);
    CHECK_UINT_EQ(ug_trace_dropped(t), 0);

    /* Lane by lane, each in recording order: the args count up from 0. */
    struct seen s = {0};
    ug_trace_foreach(t, collect, &s);
    CHECK_UINT_EQ(s.n, total);
    size_t per_lane[RECORDERS] = {0};
    unsigned prev_lane = 0;
    size_t bad_order = 0;
    for (size_t i = 0; i < s.n; i++) {
        const ug_trace_event *e = seen_at(&s, i);
        if (e->lane >= RECORDERS || e->lane < prev_lane) {
            bad_order++;
            continue;
        }
        prev_lane = e->lane;
        if (e->arg != per_lane[e->lane] || strcmp(e->label, "rec") ||
            e->end_ns - e->start_ns != e->arg)
            bad_order++;
        per_lane[e->lane]++;
    }
    CHECK_UINT_EQ(bad_order, 0);
    /* Which thread owns which lane is a race; match them by name. */
    bool recorder_seen[RECORDERS] = {false};
    for (size_t i = 0; i < s.n; i++) {
        const ug_trace_event *e = seen_at(&s, i);
        if (i && e->lane == seen_at(&s, i - 1)->lane)
            continue;
        unsigned who = 0;
        char unnamed[32];
        snprintf(unnamed, sizeof unnamed, "thread %u", e->lane);
        if (strcmp(e->lane_name, unnamed) != 0 &&
            !CHECK(sscanf(e->lane_name, "recorder %u", &who) == 1 && who > 0 &&
                   who < RECORDERS))
            continue;
        CHECK(!recorder_seen[who]);
        recorder_seen[who] = true;
        CHECK_UINT_EQ(per_lane[e->lane], PER_RECORDER * (who + 1));
    }
    for (unsigned i = 0; i < RECORDERS; i++)
        CHECK(recorder_seen[i]);
    free(s.ev);
    ug_trace_free(t);
}

/* Readers may run while a thread records: they see a growing prefix. */
struct busy_recorder {
    ug_trace *trace;
    atomic_int done;
};

static void *record_while_read(void *arg) {
    struct busy_recorder *b = arg;
    for (uint64_t i = 0; i < 20000; i++)
        ug_trace_record(b->trace, 0, i, i + 1, i);
    atomic_store(&b->done, 1);
    return NULL;
}

static int check_prefix(const ug_trace_event *ev, void *arg) {
    uint64_t *next = arg;
    return ev->arg == (*next)++ ? 0 : 1;
}

static void test_read_while_recording(void) {
    ug_trace *t = NULL;
    if (!CHECK_RC(ug_trace_new(&t), 0))
        return;
    struct busy_recorder b = {.trace = t};
    pthread_t th;
    pthread_create(&th, NULL, record_while_read, &b);
    size_t last = 0, not_growing = 0, bad_prefix = 0;
    unsigned rounds = 0;
    while (!atomic_load(&b.done) || rounds < 2) {
        size_t n = ug_trace_count(t);
        if (n < last)
            not_growing++;
        last = n;
        uint64_t next = 0;
        if (ug_trace_foreach(t, check_prefix, &next) != 0)
            bad_prefix++;
        if (next < n)
            bad_prefix++;
        rounds++;
    }
    pthread_join(th, NULL);
    CHECK_UINT_EQ(not_growing, 0);
    CHECK_UINT_EQ(bad_prefix, 0);
    CHECK_UINT_EQ(ug_trace_count(t), 20000);
    ug_trace_free(t);
}

static void test_clear(void) {
    ug_trace *t = NULL;
    if (!CHECK_RC(ug_trace_new(&t), 0))
        return;
    uint32_t label = ug_trace_label(t, "kept");
    ug_trace_name_thread(t, "kept lane");
    for (int i = 0; i < 3000; i++)
        ug_trace_record(t, label, 1, 2, (uint64_t)i);
    CHECK_UINT_EQ(ug_trace_count(t), 3000);
    ug_trace_clear(t);
    CHECK_UINT_EQ(ug_trace_count(t), 0);
    CHECK_UINT_EQ(ug_trace_lanes(t), 1);
    struct seen s = {0};
    CHECK_INT_EQ(ug_trace_foreach(t, collect, &s), 0);
    CHECK_UINT_EQ(s.n, 0);
    /* Lanes and labels stay; recording goes on as before. */
    CHECK_UINT_EQ(ug_trace_label(t, "kept"), label);
    uint64_t now = ug_clock_ns();
    ug_trace_record(t, label, now, now + 5, 42);
    ug_trace_foreach(t, collect, &s);
    if (CHECK_UINT_EQ(s.n, 1)) {
        CHECK_STR_EQ(seen_at(&s, 0)->label, "kept");
        CHECK_STR_EQ(seen_at(&s, 0)->lane_name, "kept lane");
        CHECK_UINT_EQ(seen_at(&s, 0)->arg, 42);
    }
    free(s.ev);
    ug_trace_free(t);
    ug_trace_free(NULL);
}

/* ---- writers ------------------------------------------------------------ */

static void test_json_syntax_checker(void) {
    /* The checker must reject what it is there to catch. */
    CHECK(json_valid("{\"a\":[1,2.5e3,-3,\"x\\\"y\",true,null,{}]}"));
    CHECK(!json_valid("{\"a\":[1,2}"));
    CHECK(!json_valid("{\"a\":1,}"));
    CHECK(!json_valid("{\"a\" 1}"));
    CHECK(!json_valid("[1 2]"));
    CHECK(!json_valid("[\"unterminated]"));
    CHECK(!json_valid("[\"bad \\q escape\"]"));
    CHECK(!json_valid("{} {}"));
}

static void test_json(void) {
    ug_trace *t = NULL;
    if (!CHECK_RC(ug_trace_new(&t), 0))
        return;
    /* An empty trace is still a valid document. */
    char *text = render(t, false, NULL, NULL);
    if (CHECK_NOT_NULL(text)) {
        CHECK(json_valid(text));
        CHECK_CONTAINS(text, "\"traceEvents\"");
    }
    free(text);

    /* Names that need escaping. */
    ug_trace_name_thread(t, "lane \"one\" \\ \n");
    uint32_t load = ug_trace_label(t, "load <image>");
    uint64_t now = ug_clock_ns();
    ug_trace_record(t, load, now, now + 2000, 123);
    ug_trace_record(t, 0, now + 3000, now + 4000, 0);
    ug_trace_record(t, load, now + 5000, now + 9000, 7);
    text = render(t, false, NULL, NULL);
    if (CHECK_NOT_NULL(text)) {
        CHECK(json_valid(text));
        CHECK_CONTAINS(text, "\"traceEvents\"");
        CHECK_CONTAINS(text, "\"thread_name\"");
        CHECK_CONTAINS(text, "\"lane \\\"one\\\" \\\\ \\u000a\"");
        CHECK_CONTAINS(text, "\"load <image>\"");
        CHECK_CONTAINS(text, "\"dur\":2.000");
        CHECK_CONTAINS(text, "\"dur\":4.000");
        CHECK_CONTAINS(text, "\"arg\":123");
        CHECK_UINT_EQ(count_substr(text, "\"ph\":\"X\""), 3);
        CHECK_UINT_EQ(count_substr(text, "\"ph\":\"M\""), 1);
    }
    free(text);
    ug_trace_free(t);
}

static void *record_in_second_lane(void *arg) {
    ug_trace *t = arg;
    ug_trace_name_thread(t, "second");
    uint64_t now = ug_clock_ns();
    ug_trace_record(t, 0, now, now + 1000, 0);
    return NULL;
}

static void test_json_lanes(void) {
    ug_trace *t = NULL;
    if (!CHECK_RC(ug_trace_new(&t), 0))
        return;
    ug_trace_name_thread(t, "first");
    uint64_t now = ug_clock_ns();
    ug_trace_record(t, 0, now, now + 1000, 0);
    pthread_t th;
    pthread_create(&th, NULL, record_in_second_lane, t);
    pthread_join(th, NULL);
    char *text = render(t, false, NULL, NULL);
    if (CHECK_NOT_NULL(text)) {
        CHECK(json_valid(text));
        CHECK_CONTAINS(text, "\"tid\":0,\"args\":{\"name\":\"first\"}");
        CHECK_CONTAINS(text, "\"tid\":1,\"args\":{\"name\":\"second\"}");
        CHECK_UINT_EQ(count_substr(text, "\"ph\":\"X\""), 2);
    }
    free(text);
    ug_trace_free(t);
}

static void test_svg_wide_events(void) {
    ug_trace *t = NULL;
    if (!CHECK_RC(ug_trace_new(&t), 0))
        return;
    ug_trace_name_thread(t, "painter");
    uint32_t label = ug_trace_label(t, "download");
    uint64_t base = ug_clock_ns();
    /* Five bars of 50 ms, 100 ms apart: each far wider than a pixel. */
    for (uint64_t i = 0; i < 5; i++)
        ug_trace_record(t, label, base + i * 100000000,
                        base + i * 100000000 + 50000000, i);
    size_t size = 0;
    char *svg = render(t, true, "fish & <chips>", &size);
    if (CHECK_NOT_NULL(svg)) {
        CHECK(!strncmp(svg, "<?xml", 5));
        CHECK_CONTAINS(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\"");
        CHECK_CONTAINS(svg, "</svg>\n");
        CHECK_CONTAINS(svg, "fish &amp; &lt;chips&gt;");
        CHECK_CONTAINS(svg, ">painter</text>");
        CHECK_CONTAINS(svg, "download: starts at");
        CHECK_CONTAINS(svg, "takes 50 ms");
        /* One bar per event, plus the page and one lane background. */
        CHECK_UINT_EQ(count_substr(svg, "<g><rect"), 5);
        CHECK_UINT_EQ(count_substr(svg, "<rect"), 5 + 1 + 1);
        CHECK_UINT_EQ(count_substr(svg, "<title>"), 5);
        CHECK_UINT_EQ(size, strlen(svg));
    }
    free(svg);
    ug_trace_free(t);
}

static void test_svg_merges_tiny_events(void) {
    ug_trace *t = NULL;
    if (!CHECK_RC(ug_trace_new(&t), 0))
        return;
    uint64_t base = ug_clock_ns();
    /* 100000 events of 500 ns every microsecond: 0.1 s in all, about 100
     * events per pixel. */
    for (uint64_t i = 0; i < 100000; i++)
        ug_trace_record(t, 0, base + i * 1000, base + i * 1000 + 500, i);
    CHECK_UINT_EQ(ug_trace_count(t), 100000);
    size_t size = 0;
    char *svg = render(t, true, NULL, &size);
    if (CHECK_NOT_NULL(svg)) {
        CHECK_UINT(size, <, 20000);
        CHECK_UINT(count_substr(svg, "<g><rect"), >=, 1);
        CHECK_UINT(count_substr(svg, "<g><rect"), <=, 10);
        CHECK_CONTAINS(svg, "100000 events on 1 threads");
        CHECK_CONTAINS(svg, "ungil timeline"); /* the default title */
        CHECK_CONTAINS(svg, "</svg>\n");
    }
    free(svg);
    ug_trace_free(t);
}

/* ---- saving ------------------------------------------------------------- */

/* Number of entries in `dir`, without . and .. */
static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 20);
    if (buf)
        buf[fread(buf, 1, (1 << 20) - 1, f)] = '\0';
    fclose(f);
    return buf;
}

static void test_save(void) {
    ug_trace *t = NULL;
    if (!CHECK_RC(ug_trace_new(&t), 0))
        return;
    ug_trace_name_thread(t, "saver");
    uint64_t now = ug_clock_ns();
    ug_trace_record(t, 0, now, now + 1000000, 0);

    const char *tmp = getenv("TMPDIR");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/ungil-test-trace-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (!CHECK_NOT_NULL(mkdtemp(dir)))
        goto out_trace;
    char path[600];

    snprintf(path, sizeof path, "%s/t.json", dir);
    CHECK_RC(ug_trace_save(t, path, NULL), 0);
    char *text = read_file(path);
    if (CHECK_NOT_NULL(text)) {
        CHECK(json_valid(text));
        CHECK_CONTAINS(text, "\"saver\"");
    }
    free(text);
    struct stat st;
    if (CHECK_INT_EQ(stat(path, &st), 0))
        CHECK_UINT_EQ(st.st_mode & 0777, 0644);
    /* Saving again replaces the file. */
    CHECK_RC(ug_trace_save(t, path, NULL), 0);
    unlink(path);

    snprintf(path, sizeof path, "%s/t.svg", dir);
    CHECK_RC(ug_trace_save(t, path, "saved"), 0);
    text = read_file(path);
    if (CHECK_NOT_NULL(text)) {
        CHECK(!strncmp(text, "<?xml", 5));
        CHECK_CONTAINS(text, ">saved</text>");
    }
    free(text);
    unlink(path);

    snprintf(path, sizeof path, "%s/T.SVG", dir); /* case does not matter */
    CHECK_RC(ug_trace_save(t, path, NULL), 0);
    text = read_file(path);
    if (CHECK_NOT_NULL(text))
        CHECK_CONTAINS(text, "<svg");
    free(text);
    unlink(path);
    CHECK_INT_EQ(count_entries(dir), 0);

    /* Other names are refused before anything is written. */
    const char *bad[] = {"t.txt", "t", "t.json.bak", "svg", ".jsonx"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, bad[i]);
        CHECK_RC(ug_trace_save(t, path, NULL), UG_EINVAL);
    }
    CHECK_INT_EQ(count_entries(dir), 0);

    /* A missing directory, and a directory in the way of the rename: both
     * fail without leaving a temporary file. */
    snprintf(path, sizeof path, "%s/missing/t.json", dir);
    CHECK_RC(ug_trace_save(t, path, NULL), UG_EIO);
    snprintf(path, sizeof path, "%s/taken.svg", dir);
    if (CHECK_INT_EQ(mkdir(path, 0755), 0)) {
        CHECK_RC(ug_trace_save(t, path, NULL), UG_EIO);
        CHECK_INT_EQ(count_entries(dir), 1);
        rmdir(path);
    }
    CHECK_INT_EQ(rmdir(dir), 0);
out_trace:
    ug_trace_free(t);
}

/* ---- a pool recording into a trace -------------------------------------- */

static int nothing(void *arg) { return 0; }

static int busy_body(void *ctx, size_t begin, size_t end) {
    atomic_size_t *covered = ctx;
    atomic_fetch_add(covered, end - begin);
    return 0;
}

struct pool_events {
    size_t tasks, labelled, untraced, chunks;
    size_t not_on_worker_lane;
    bool worker_seen[2]; /* lanes "<prefix>0" and "<prefix>1" */
    char chunk_seen[100];
    size_t chunk_bad;
    const char *prefix;
};

static int classify(const ug_trace_event *ev, void *arg) {
    struct pool_events *pe = arg;
    size_t k = strlen(pe->prefix);
    unsigned index;
    char extra;
    bool on_worker = !strncmp(ev->lane_name, pe->prefix, k) &&
                     sscanf(ev->lane_name + k, "%u%c", &index, &extra) == 1 &&
                     index < 2;
    if (!strcmp(ev->label, "parallel_for")) {
        pe->chunks++;
        if (ev->arg < 100 && !pe->chunk_seen[ev->arg])
            pe->chunk_seen[ev->arg] = 1;
        else
            pe->chunk_bad++;
        return 0;
    }
    if (on_worker)
        pe->worker_seen[index] = true;
    else
        pe->not_on_worker_lane++;
    if (!strcmp(ev->label, "task"))
        pe->tasks++;
    else if (!strcmp(ev->label, "resize"))
        pe->labelled++;
    else
        pe->untraced++;
    return 0;
}

static void check_pool_trace(const char *name, const char *prefix) {
    ug_trace *t = NULL;
    if (!CHECK_RC(ug_trace_new(&t), 0))
        return;
    ug_pool_options opts;
    ug_pool_options_init(&opts);
    opts.workers = 2;
    opts.trace = t;
    opts.name = name;
    ug_pool *pool = NULL;
    if (!CHECK_RC(ug_pool_new(&opts, &pool), 0))
        goto out;
    uint32_t resize = ug_trace_label(t, "resize");
    ug_task plain = {.fn = nothing};
    ug_task labelled = {.fn = nothing, .label = resize};
    ug_task untraced = {.fn = nothing, .label = UG_TRACE_NONE};
    for (int i = 0; i < 50; i++)
        CHECK_RC(ug_pool_submit(pool, &plain, NULL), 0);
    for (int i = 0; i < 30; i++)
        CHECK_RC(ug_pool_submit(pool, &labelled, NULL), 0);
    for (int i = 0; i < 20; i++)
        CHECK_RC(ug_pool_submit(pool, &untraced, NULL), 0);
    CHECK_RC(ug_pool_wait_idle(pool, -1), 0);
    atomic_size_t covered = 0;
    CHECK_RC(ug_parallel_for(pool, 1000, 10, busy_body, &covered), 0);
    CHECK_UINT_EQ(atomic_load(&covered), 1000);
    ug_pool_free(pool);

    CHECK_UINT_EQ(ug_trace_count(t), 50 + 30 + 100);
    struct pool_events pe = {.prefix = prefix};
    ug_trace_foreach(t, classify, &pe);
    CHECK_UINT_EQ(pe.tasks, 50);
    CHECK_UINT_EQ(pe.labelled, 30);
    CHECK_UINT_EQ(pe.untraced, 0);
    CHECK_UINT_EQ(pe.not_on_worker_lane, 0);
    CHECK_UINT_EQ(pe.chunks, 100);
    CHECK_UINT_EQ(pe.chunk_bad, 0);
    /* Two named worker lanes, and perhaps this thread's, which ran chunks
     * of the parallel_for itself. */
    CHECK_UINT(ug_trace_lanes(t), >=, 2);
    CHECK_UINT(ug_trace_lanes(t), <=, 3);
    CHECK(pe.worker_seen[0] || pe.worker_seen[1]);
    char *json = render(t, false, NULL, NULL);
    if (CHECK_NOT_NULL(json)) {
        CHECK(json_valid(json));
        char lane[64];
        for (int i = 0; i < 2; i++) {
            snprintf(lane, sizeof lane, "\"%s%d\"", prefix, i);
            if (pe.worker_seen[i])
                CHECK_CONTAINS(json, lane);
        }
    }
    free(json);
out:
    ug_trace_free(t);
}

static void test_pool_records_tasks(void) {
    check_pool_trace(NULL, "worker ");
    check_pool_trace("io", "io ");
}

int main(int argc, char **argv) {
    static const check_test tests[] = {
        CHECK_TEST(test_clock),
        CHECK_TEST(test_labels),
        CHECK_TEST(test_foreach_fields_and_order),
        CHECK_TEST(test_name_thread),
        CHECK_TEST(test_threads_get_lanes),
        CHECK_TEST(test_read_while_recording),
        CHECK_TEST(test_clear),
        CHECK_TEST(test_json_syntax_checker),
        CHECK_TEST(test_json),
        CHECK_TEST(test_json_lanes),
        CHECK_TEST(test_svg_wide_events),
        CHECK_TEST(test_svg_merges_tiny_events),
        CHECK_TEST(test_save),
        CHECK_TEST(test_pool_records_tasks),
    };
    return check_main(argc, argv, tests, sizeof tests / sizeof *tests);
}
