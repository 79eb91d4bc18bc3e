/* pictures.c - the download -> decode -> filter -> encode -> save pipeline.
 *
 * One fetch engine in memory mode runs on the thread of ug_pictures_run;
 * its callbacks (on_data, admit, on_done) run there too and are the only
 * code that touches a picture before its body is whole.  A whole body is
 * copied into a task for the job's own pool; a worker then owns that
 * picture's result until it calls finish().  So each result has one writer
 * at a time, handed over through the pool's queue; the counters shared by
 * the threads are atomics, and `lock` guards only the count of tasks not
 * yet finished, which the run thread waits on.
 *
 * Backpressure (see ungil/pictures.h): admit() refuses new transfers while
 * the held caps are reached.  It raises `paused` before it reads the
 * counters and a worker reads `paused` after it lowered them, so one of the
 * two always sees the other: either admit sees the room, or the worker
 * sees the flag and wakes the engine (ug_fetch_wake).  A missed wake would
 * cost at most the engine's 100 ms poll.
 *
 * Known limits: a filter call uses one worker (pictures run in parallel,
 * the bands of one picture do not), so one huge picture takes one core;
 * held bytes count body and pixel bytes, not allocator slack.
 */
#include "ungil/pictures.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "image_codec.h"
#include "ungil/error.h"
#include "ungil/path.h"
#include "ungil/pool.h"

enum { WAIT_SLICE_MS = 50 };

/* One URL. */
struct item {
    ug_pictures_result res; /* its strings are owned (see item_free) */
    char *name;             /* the claimed output name, NULL if none */
    uint64_t inflight;      /* body bytes held by the running transfer
                             * (engine thread only) */
    bool admitted;          /* counted in held_pictures (engine thread) */
    bool finished;          /* has its result */
};

/* A whole body on its way through a worker. */
struct task {
    ug_pictures *job;
    size_t index;
    unsigned char *body;
    size_t size;
    uint64_t held;          /* bytes this picture holds now */
};

struct ug_pictures {
    ug_pictures_options opts;
    int dirfd;
    ug_names *names;
    ug_fetch *fetch;
    ug_pool *pool;
    struct item *items;
    size_t n, cap;
    bool ran;
    const int *cancel;
    size_t max_pictures;

    atomic_uint_fast64_t held_bytes, peak_bytes, bytes_in;
    atomic_size_t held_pictures, peak_pictures;
    atomic_size_t downloaded, done, failed;
    atomic_int paused;      /* admit() refused: wake the engine on room */

    pthread_mutex_t lock;   /* guards tasks_left */
    pthread_cond_t cond;
    size_t tasks_left;      /* submitted and not finished */

    uint64_t start_ns, end_ns, last_progress_ns;
    uint32_t label_decode, label_filter, label_encode, label_save;
};

const char *ug_pictures_stage_name(ug_pictures_stage stage) {
    switch (stage) {
    case UG_STAGE_DOWNLOAD: return "download";
    case UG_STAGE_DECODE: return "decode";
    case UG_STAGE_FILTER: return "filter";
    case UG_STAGE_ENCODE: return "encode";
    case UG_STAGE_SAVE: return "save";
    default: return NULL;
    }
}

void ug_pictures_options_init(ug_pictures_options *o) {
    memset(o, 0, sizeof *o);
    ug_fetch_options_init(&o->fetch);
    ug_kernel_builtin("FIND_EDGES", &o->kernel);
    o->format = UG_FORMAT_AUTO;
    o->jpeg_quality = 75;
    o->max_held_bytes = (uint64_t)256 << 20;
    o->max_pixels = UG_IMAGE_MAX_PIXELS_DEFAULT;
    o->progress_interval_ms = 200;
}

/* ---- counters ----------------------------------------------------------- */

static bool cancelled(const ug_pictures *job) {
    return job->cancel && __atomic_load_n(job->cancel, __ATOMIC_RELAXED);
}

static void raise_peak(atomic_uint_fast64_t *peak, uint64_t now) {
    uint64_t seen = atomic_load(peak);
    while (now > seen && !atomic_compare_exchange_weak(peak, &seen, now))
        ;
}

/* Adds `delta` (may be negative) to the held bytes, tracking the peak. */
static void hold(ug_pictures *job, int64_t delta) {
    uint64_t now = atomic_fetch_add(&job->held_bytes, (uint64_t)delta) +
                   (uint64_t)delta;
    if (delta > 0)
        raise_peak(&job->peak_bytes, now);
}

static void task_hold(struct task *t, int64_t delta) {
    t->held += (uint64_t)delta;
    hold(t->job, delta);
}

/* Gives a failure to `it`: code, stage and an owned copy of the message. */
static void fail(struct item *it, int code, ug_pictures_stage stage,
                 const char *message) {
    it->res.error = code;
    it->res.stage = stage;
    free((char *)it->res.message);
    it->res.message = strdup(message ? message : ug_strerror(code));
}

/* Marks `it` finished: counters, the held picture it was, and the wake-up
 * of an engine that waits for room.  `task` says a worker finished it. */
static void finish(ug_pictures *job, struct item *it, bool task) {
    it->finished = true;
    if (it->res.error)
        atomic_fetch_add(&job->failed, 1);
    atomic_fetch_add(&job->done, 1);
    if (it->admitted) {
        atomic_fetch_sub(&job->held_pictures, 1);
        if (atomic_exchange(&job->paused, 0))
            ug_fetch_wake(job->fetch);
    }
    if (task) {
        pthread_mutex_lock(&job->lock);
        if (--job->tasks_left == 0)
            pthread_cond_broadcast(&job->cond);
        pthread_mutex_unlock(&job->lock);
    }
}

/* ---- the CPU steps (on a worker) ---------------------------------------- */

static double seconds_since(uint64_t t0, uint64_t *now) {
    *now = ug_clock_ns();
    return (double)(*now - t0) / 1e9;
}

static void trace_step(ug_pictures *job, uint32_t label, uint64_t t0,
                       uint64_t t1, size_t index) {
    if (job->opts.trace)
        ug_trace_record(job->opts.trace, label, t0, t1, index);
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

/* Writes `data` to "<name>.part" inside the destination and renames it to
 * `name`; on failure removes the .part file and sets *why. */
static int save_file(ug_pictures *job, const char *name,
                     const unsigned char *data, size_t size,
                     const char **why) {
    char part[UG_PATH_NAME_MAX + sizeof UG_PATH_PART_SUFFIX];
    snprintf(part, sizeof part, "%s%s", name, UG_PATH_PART_SUFFIX);
    int fd = -1;
    int rc = ug_path_open(job->dirfd, part, UG_PATH_REPLACE, &fd);
    if (rc) {
        *why = rc == UG_EUNSAFE ? "refused: a link or special file is in the way"
                                : "cannot create the .part file";
        return rc;
    }
    bool bad = write_all(fd, data, size) != 0;
    bad = close(fd) != 0 || bad;
    if (bad) {
        *why = "cannot write the file";
        unlinkat(job->dirfd, part, 0);
        return UG_EIO;
    }
    rc = ug_path_rename(job->dirfd, part, name, 1);
    if (rc) {
        *why = "cannot rename the .part file to its final name";
        unlinkat(job->dirfd, part, 0);
    }
    return rc;
}

/* Says why decoding failed, in a sentence. */
static void decode_failed(struct item *it, const struct task *t, int rc,
                          size_t max_pixels) {
    char msg[160];
    const char *why = NULL;
    ug_image_info info;
    switch (rc) {
    case UG_EFORMAT:
        why = "not a JPEG or PNG image (cannot identify image file)";
        break;
    case UG_ECORRUPT:
        why = "corrupt or truncated image";
        break;
    case UG_EBOMB:
        if (!ug_image_read_info(t->body, t->size, &info)) {
            snprintf(msg, sizeof msg,
                     "image of %d x %d pixels is over the limit of %zu pixels "
                     "(decompression bomb)",
                     info.width, info.height, max_pixels);
            why = msg;
        }
        break;
    default:
        break;
    }
    fail(it, rc, UG_STAGE_DECODE, why);
}

static int process(void *arg) {
    struct task *t = arg;
    ug_pictures *job = t->job;
    struct item *it = &job->items[t->index];
    ug_pictures_result *r = &it->res;
    ug_image src = {0}, dst = {0};
    unsigned char *out = NULL;
    size_t out_size = 0;
    const char *why = NULL;
    uint64_t t0 = ug_clock_ns(), t1;
    int rc;

    if (cancelled(job)) {
        fail(it, UG_ECANCELED, UG_STAGE_DECODE, NULL);
        goto out;
    }
    ug_decode_options dopts;
    ug_decode_options_init(&dopts);
    dopts.max_pixels = job->opts.max_pixels;
    ug_image_info info;
    rc = ug_image_decode(t->body, t->size, &dopts, &src, &info);
    r->decode_s = seconds_since(t0, &t1);
    trace_step(job, job->label_decode, t0, t1, t->index);
    if (rc) {
        decode_failed(it, t, rc, job->opts.max_pixels);
        goto out;
    }
    r->width = info.width;
    r->height = info.height;
    r->mode = info.mode;
    r->format_in = info.format;
    free(t->body);
    t->body = NULL;
    uint64_t pixels = (uint64_t)src.stride * (uint64_t)src.height;
    task_hold(t, (int64_t)(2 * pixels) - (int64_t)t->size);

    if ((rc = ug_image_mode_can_filter(info.mode, &why))) {
        fail(it, rc, UG_STAGE_FILTER, why);
        goto out;
    }
    if (cancelled(job)) {
        fail(it, UG_ECANCELED, UG_STAGE_FILTER, NULL);
        goto out;
    }
    t0 = ug_clock_ns();
    rc = ug_image_alloc(&dst, src.width, src.height, src.channels);
    if (!rc)
        rc = ug_image_filter(NULL, &src, &dst, &job->opts.kernel);
    r->filter_s = seconds_since(t0, &t1);
    trace_step(job, job->label_filter, t0, t1, t->index);
    ug_image_release(&src);
    task_hold(t, -(int64_t)pixels);
    if (rc) {
        fail(it, rc, UG_STAGE_FILTER, NULL);
        goto out;
    }

    if (cancelled(job)) {
        fail(it, UG_ECANCELED, UG_STAGE_ENCODE, NULL);
        goto out;
    }
    t0 = ug_clock_ns();
    ug_encode_options eopts;
    ug_encode_options_init(&eopts);
    eopts.format =
        ug__image_output_format(job->opts.format, it->name, info.format);
    eopts.quality = job->opts.jpeg_quality;
    r->format_out = eopts.format;
    rc = ug_image_encode(&dst, info.mode, &eopts, &out, &out_size);
    r->encode_s = seconds_since(t0, &t1);
    trace_step(job, job->label_encode, t0, t1, t->index);
    ug_image_release(&dst);
    task_hold(t, (int64_t)out_size - (int64_t)pixels);
    if (rc) {
        char msg[96];
        if (rc == UG_EMODE) {
            snprintf(msg, sizeof msg, "cannot write mode %s as %s",
                     ug_image_mode_name(info.mode),
                     ug_image_format_name(eopts.format));
            why = msg;
        }
        fail(it, rc, UG_STAGE_ENCODE, rc == UG_EMODE ? why : NULL);
        goto out;
    }

    if (cancelled(job)) {
        fail(it, UG_ECANCELED, UG_STAGE_SAVE, NULL);
        goto out;
    }
    t0 = ug_clock_ns();
    why = NULL;
    rc = it->name ? save_file(job, it->name, out, out_size, &why) : UG_ENOMEM;
    r->save_s = seconds_since(t0, &t1);
    trace_step(job, job->label_save, t0, t1, t->index);
    if (rc) {
        fail(it, rc, UG_STAGE_SAVE, why);
        goto out;
    }
    r->name = it->name;
    r->out_bytes = out_size;
out:
    ug_image_release(&src);
    ug_image_release(&dst);
    free(out);
    free(t->body);
    hold(job, -(int64_t)t->held);
    finish(job, it, true);
    free(t);
    return 0;
}

/* A queued task dropped by a cancel. */
static void discard(void *arg) {
    struct task *t = arg;
    ug_pictures *job = t->job;
    struct item *it = &job->items[t->index];
    fail(it, UG_ECANCELED, UG_STAGE_DECODE, NULL);
    free(t->body);
    hold(job, -(int64_t)t->held);
    finish(job, it, true);
    free(t);
}

/* ---- the fetch engine's callbacks (on the run's thread) ----------------- */

static int on_data(void *ctx, size_t index, void *user,
                   const unsigned char *data, size_t size) {
    ug_pictures *job = ctx;
    job->items[index].inflight += size;
    hold(job, (int64_t)size);
    return 0;
}

static int admit(void *ctx, size_t index, void *user) {
    ug_pictures *job = ctx;
    struct item *it = &job->items[index];
    if (it->inflight) { /* a retry: the last attempt's bytes are gone */
        hold(job, -(int64_t)it->inflight);
        it->inflight = 0;
    }
    if (it->admitted)
        return 1; /* already counted */
    atomic_store(&job->paused, 1);
    if (atomic_load(&job->held_pictures) >= job->max_pictures ||
        atomic_load(&job->held_bytes) >= job->opts.max_held_bytes)
        return 0;
    atomic_store(&job->paused, 0);
    it->admitted = true;
    size_t now = atomic_fetch_add(&job->held_pictures, 1) + 1;
    size_t seen = atomic_load(&job->peak_pictures);
    while (now > seen &&
           !atomic_compare_exchange_weak(&job->peak_pictures, &seen, now))
        ;
    return 1;
}

static char *copy_str(const char *s) { return s ? strdup(s) : NULL; }

static void on_done(void *ctx, const ug_fetch_result *res) {
    ug_pictures *job = ctx;
    struct item *it = &job->items[res->index];
    ug_pictures_result *r = &it->res;
    r->final_url = copy_str(res->final_url);
    r->content_type = copy_str(res->content_type);
    r->status = res->status;
    r->bytes = res->bytes;
    r->first_byte_s = res->first_byte_s;
    r->total_s = res->total_s;
    r->attempts = res->attempts;
    uint64_t held = it->inflight;
    it->inflight = 0;
    if (res->error) {
        hold(job, -(int64_t)held);
        fail(it, res->error, UG_STAGE_DOWNLOAD, res->message);
        finish(job, it, false);
        return;
    }
    atomic_fetch_add(&job->downloaded, 1);
    atomic_fetch_add(&job->bytes_in, res->bytes);
    struct task *t = calloc(1, sizeof *t);
    size_t size = (size_t)res->bytes;
    if (t && !(t->body = malloc(size ? size : 1))) {
        free(t);
        t = NULL;
    }
    if (!t) {
        hold(job, -(int64_t)held);
        fail(it, UG_ENOMEM, UG_STAGE_DECODE, "out of memory for the body");
        finish(job, it, false);
        return;
    }
    memcpy(t->body, res->body, size);
    t->job = job;
    t->index = res->index;
    t->size = size;
    t->held = held;
    pthread_mutex_lock(&job->lock);
    job->tasks_left++;
    pthread_mutex_unlock(&job->lock);
    ug_task task = {.fn = process, .arg = t, .discard = discard,
                    .label = UG_TRACE_NONE};
    int rc = ug_pool_submit(job->pool, &task, NULL);
    if (rc) {
        free(t->body);
        free(t);
        hold(job, -(int64_t)held);
        fail(it, rc, UG_STAGE_DECODE, NULL);
        finish(job, it, true);
    }
}

/* ---- progress ----------------------------------------------------------- */

void ug_pictures_progress_get(ug_pictures *job, ug_pictures_progress *p) {
    uint64_t start = __atomic_load_n(&job->start_ns, __ATOMIC_RELAXED);
    *p = (ug_pictures_progress){
        .total = job->n,
        .downloaded = atomic_load(&job->downloaded),
        .done = atomic_load(&job->done),
        .failed = atomic_load(&job->failed),
        .bytes_in = atomic_load(&job->bytes_in),
        .held_bytes = atomic_load(&job->held_bytes),
        .held_pictures = atomic_load(&job->held_pictures),
        .elapsed_s = start ? (double)(ug_clock_ns() - start) / 1e9 : 0,
    };
}

static void report_progress(ug_pictures *job, bool force) {
    if (!job->opts.on_progress)
        return;
    uint64_t now = ug_clock_ns();
    uint64_t every = (uint64_t)job->opts.progress_interval_ms * 1000000u;
    if (!force && now - job->last_progress_ns < every)
        return;
    job->last_progress_ns = now;
    ug_pictures_progress p;
    ug_pictures_progress_get(job, &p);
    job->opts.on_progress(job->opts.ctx, &p);
}

static void on_fetch_progress(void *ctx, const ug_fetch_progress *fp) {
    report_progress(ctx, false);
}

/* ---- the job ------------------------------------------------------------ */

int ug_pictures_new(const ug_pictures_options *opts, ug_pictures **out) {
    if (!opts || !out || !opts->dest_dir ||
        (opts->kernel.size != 3 && opts->kernel.size != 5) ||
        (opts->format != UG_FORMAT_AUTO && opts->format != UG_FORMAT_JPEG &&
         opts->format != UG_FORMAT_PNG) ||
        opts->jpeg_quality < 1 || opts->jpeg_quality > 100)
        return UG_EINVAL;
    *out = NULL;
    ug_pictures *job = calloc(1, sizeof *job);
    if (!job)
        return UG_ENOMEM;
    job->opts = *opts;
    job->opts.dest_dir = NULL; /* not kept: the descriptor is */
    job->dirfd = -1;
    pthread_mutex_init(&job->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&job->cond, &ca);
    pthread_condattr_destroy(&ca);
    int rc;
    job->dirfd = open(opts->dest_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (job->dirfd < 0) {
        rc = errno == ENOENT || errno == ENOTDIR ? UG_EINVAL : UG_EIO;
        goto fail;
    }
    if ((rc = ug_names_new(-1, &job->names)))
        goto fail;
    ug_pool_options popts;
    ug_pool_options_init(&popts);
    popts.workers = opts->threads;
    popts.trace = opts->trace;
    if ((rc = ug_pool_new(&popts, &job->pool)))
        goto fail;
    unsigned workers = ug_pool_workers(job->pool);
    ug_fetch_options fo = opts->fetch;
    fo.dest_dir = NULL;
    fo.content_disposition = 0;
    fo.resume = 0;
    fo.trace = opts->trace;
    fo.on_done = on_done;
    fo.on_data = on_data;
    fo.admit = admit;
    fo.on_progress = opts->on_progress ? on_fetch_progress : NULL;
    fo.progress_interval_ms = opts->progress_interval_ms;
    fo.ctx = job;
    if ((rc = ug_fetch_new(&fo, &job->fetch)))
        goto fail;
    unsigned concurrency = fo.concurrency ? fo.concurrency : 1;
    job->max_pictures = opts->max_held_pictures
                            ? opts->max_held_pictures
                            : (size_t)concurrency + 2 * (size_t)workers;
    if (opts->trace) {
        job->label_decode = ug_trace_label(opts->trace, "decode");
        job->label_filter = ug_trace_label(opts->trace, "filter");
        job->label_encode = ug_trace_label(opts->trace, "encode");
        job->label_save = ug_trace_label(opts->trace, "save");
    }
    *out = job;
    return 0;
fail:
    ug_pictures_free(job);
    return rc;
}

void ug_pictures_free(ug_pictures *job) {
    if (!job)
        return;
    ug_pool_free(job->pool); /* runs or discards what is queued: none left */
    ug_fetch_free(job->fetch);
    for (size_t i = 0; i < job->n; i++) {
        struct item *it = &job->items[i];
        free((char *)it->res.url);
        free((char *)it->res.final_url);
        free((char *)it->res.content_type);
        free((char *)it->res.message);
        free(it->name);
    }
    free(job->items);
    ug_names_free(job->names);
    if (job->dirfd >= 0)
        close(job->dirfd);
    pthread_mutex_destroy(&job->lock);
    pthread_cond_destroy(&job->cond);
    free(job);
}

/* The output name for `url`: the downloader's name, its extension made to
 * match an explicit output format. */
static int output_name(const char *url, ug_image_format format, char *out,
                       size_t size) {
    int rc = ug_path_from_url(url, out, size);
    if (rc || format == UG_FORMAT_AUTO || ug_image_format_from_path(out) == (int)format)
        return rc;
    char wanted[UG_PATH_NAME_MAX + 8];
    size_t stem = strlen(out);
    const char *dot = strrchr(out, '.');
    if (dot && dot != out && ug_image_format_from_path(out) > 0)
        stem = (size_t)(dot - out);
    snprintf(wanted, sizeof wanted, "%.*s%s", (int)stem, out,
             format == UG_FORMAT_JPEG ? ".jpg" : ".png");
    return ug_path_sanitize(wanted, out, size);
}

long ug_pictures_add(ug_pictures *job, const char *url) {
    if (job->ran)
        return UG_EBUSY;
    if (job->n == job->cap) {
        size_t cap = job->cap ? 2 * job->cap : 64;
        struct item *grown = realloc(job->items, cap * sizeof *grown);
        if (!grown)
            return UG_ENOMEM;
        job->items = grown;
        job->cap = cap;
    }
    struct item *it = &job->items[job->n];
    *it = (struct item){0};
    it->res.index = job->n;
    if (!(it->res.url = strdup(url ? url : "")))
        return UG_ENOMEM;
    char name[UG_PATH_NAME_MAX + 1];
    if (!output_name(it->res.url, job->opts.format, name, sizeof name) &&
        !ug_names_claim(job->names, name, name, sizeof name))
        it->name = strdup(name); /* NULL: the save step reports it */
    long idx = ug_fetch_add(job->fetch, it->res.url, NULL, NULL, NULL);
    if (idx < 0) {
        free((char *)it->res.url);
        free(it->name);
        return idx;
    }
    job->n++;
    return idx;
}

/* Waits until every task has finished, reporting progress and passing a
 * cancel on to the queue. */
static void drain(ug_pictures *job) {
    pthread_mutex_lock(&job->lock);
    while (job->tasks_left) {
        uint64_t deadline = ug_clock_ns() + WAIT_SLICE_MS * 1000000ull;
        struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000000u),
                              .tv_nsec = (long)(deadline % 1000000000u)};
        pthread_cond_timedwait(&job->cond, &job->lock, &ts);
        if (!job->tasks_left)
            break;
        pthread_mutex_unlock(&job->lock);
        if (cancelled(job))
            ug_pool_cancel_pending(job->pool);
        report_progress(job, false);
        pthread_mutex_lock(&job->lock);
    }
    pthread_mutex_unlock(&job->lock);
}

int ug_pictures_run(ug_pictures *job, const int *cancel) {
    if (job->ran)
        return UG_EBUSY;
    job->ran = true;
    job->cancel = cancel;
    __atomic_store_n(&job->start_ns, ug_clock_ns(), __ATOMIC_RELAXED);
    job->last_progress_ns = job->start_ns;
    int rc = ug_fetch_run(job->fetch, cancel);
    if (rc == UG_ECANCELED)
        ug_pool_cancel_pending(job->pool);
    drain(job);
    for (size_t i = 0; i < job->n; i++) {
        struct item *it = &job->items[i];
        if (!it->finished) { /* its transfer was stopped by the cancel */
            if (it->inflight)
                hold(job, -(int64_t)it->inflight);
            it->inflight = 0;
            fail(it, UG_ECANCELED, UG_STAGE_DOWNLOAD, NULL);
            finish(job, it, false);
        }
        if (it->res.error == UG_ECANCELED) /* also when cancelled late */
            rc = UG_ECANCELED;
    }
    job->end_ns = ug_clock_ns();
    report_progress(job, true);
    return rc;
}

size_t ug_pictures_count(const ug_pictures *job) { return job->n; }

const ug_pictures_result *ug_pictures_result_at(const ug_pictures *job,
                                                size_t index) {
    return index < job->n ? &job->items[index].res : NULL;
}

void ug_pictures_summary_get(const ug_pictures *job, ug_pictures_summary *s) {
    *s = (ug_pictures_summary){
        .total = job->n,
        .peak_held_bytes = atomic_load(&job->peak_bytes),
        .peak_held_pictures = atomic_load(&job->peak_pictures),
        .elapsed_s = job->end_ns > job->start_ns
                         ? (double)(job->end_ns - job->start_ns) / 1e9 : 0,
    };
    for (size_t i = 0; i < job->n; i++) {
        const ug_pictures_result *r = &job->items[i].res;
        if (r->error) {
            s->failed++;
        } else {
            s->saved++;
            s->bytes_in += r->bytes;
            s->bytes_out += r->out_bytes;
        }
        s->download_s += r->total_s;
        s->decode_s += r->decode_s;
        s->filter_s += r->filter_s;
        s->encode_s += r->encode_s;
        s->save_s += r->save_s;
    }
}
