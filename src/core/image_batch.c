/* image_batch.c - read, decode, filter, encode and write many image files.
 *
 * The batch is one shared structure: the inputs, their results and output
 * names (all decided before any work starts, so they do not depend on
 * timing), the output directory's descriptor and an atomic counter.
 * Runners - the calling thread and helper tasks on the pool - take the
 * next index from the counter until it passes the end, so the work spreads
 * itself over whoever is free.  Each file is handled whole by one runner:
 * decoding and encoding a picture are serial anyway, and files in
 * parallel keep every core busy without splitting one image into bands.
 * Only when there are fewer files than threads does a file's filter use
 * the pool's bands as well.
 *
 * Deadlock freedom: the caller runs the loop itself, so the batch finishes
 * even if no helper ever starts (all workers busy, say, with other
 * batches waiting for their own helpers).  Afterwards each helper that has
 * not started is cancelled rather than waited for; only helpers already
 * running are waited for, and they are finishing their last file.
 *
 * Input files are read whole into memory first (only regular files: a
 * FIFO would block forever), so that errors name their cause (errno) and
 * the decoder works on a buffer.  Known limit: a huge input costs its
 * size in memory on top of its pixels.
 */
#include "ungil/image_batch.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_codec.h"
#include "ungil/error.h"

struct batch {
    const ug_image_batch_options *opts;
    ug_image_batch_result *results;
    size_t n;
    int dirfd;
    ug_pool *filter_pool;  /* pool for a file's filter bands, or NULL */
    size_t next;           /* next input to take; atomic */
    pthread_mutex_t done_lock; /* serialises on_done */
};

void ug_image_batch_options_init(ug_image_batch_options *opts) {
    memset(opts, 0, sizeof *opts);
    opts->format = UG_FORMAT_AUTO;
    opts->quality = 75;
    opts->compress_level = 6;
    opts->max_pixels = UG_IMAGE_MAX_PIXELS_DEFAULT;
}

/* Sets r->error and a message in printf style. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int fail(ug_image_batch_result *r, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
    r->error = code;
    return code;
}

/* Reads the regular file `path` whole into a new buffer (*data, which the
 * caller frees).  Returns 0, UG_EIO or UG_ENOMEM, with r's message set. */
static int read_input(ug_image_batch_result *r, unsigned char **data,
                      size_t *size) {
    *data = NULL;
    *size = 0;
    int fd = open(r->input, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return fail(r, UG_EIO, "%s", strerror(errno));
    int rc = 0;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = fail(r, UG_EIO, "%s", strerror(errno));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = fail(r, UG_EIO, "%s", strerror(EISDIR));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = fail(r, UG_EIO, "not a regular file");
        goto out;
    }
    size_t cap = (size_t)st.st_size + 1; /* +1 sees a file that grew */
    unsigned char *buf = malloc(cap);
    if (!buf) {
        rc = fail(r, UG_ENOMEM, "out of memory");
        goto out;
    }
    size_t got = 0;
    while (got < cap) {
        ssize_t k = read(fd, buf + got, cap - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            free(buf);
            rc = fail(r, UG_EIO, "%s", strerror(errno));
            goto out;
        }
        if (k == 0)
            break;
        got += (size_t)k;
    }
    *data = buf;
    *size = got;
out:
    close(fd);
    return rc;
}

/* Writes `size` bytes to "<name>.part" in the output directory, then
 * renames it to `name`.  Returns 0 or UG_EIO/UG_EUNSAFE/UG_ENOMEM with r's
 * message set; on failure no .part file is left behind. */
static int write_output(struct batch *b, ug_image_batch_result *r,
                        const unsigned char *data, size_t size) {
    char part[UG_PATH_NAME_MAX + sizeof UG_PATH_PART_SUFFIX];
    snprintf(part, sizeof part, "%s%s", r->output, UG_PATH_PART_SUFFIX);
    int fd = -1;
    int rc = ug_path_open(b->dirfd, part, UG_PATH_REPLACE, &fd);
    if (rc) {
        if (rc == UG_EIO)
            return fail(r, rc, "cannot create %s: %s", part, strerror(errno));
        return fail(r, rc, "cannot create %s: %s", part, ug_strerror(rc));
    }
    size_t done = 0;
    while (done < size) {
        ssize_t k = write(fd, data + done, size - done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            rc = fail(r, UG_EIO, "cannot write %s: %s", part, strerror(errno));
            close(fd);
            goto fail;
        }
        done += (size_t)k;
    }
    if (close(fd) != 0) {
        rc = fail(r, UG_EIO, "cannot write %s: %s", part, strerror(errno));
        goto fail;
    }
    rc = ug_path_rename(b->dirfd, part, r->output, 1);
    if (rc) {
        if (rc == UG_EIO)
            fail(r, rc, "cannot rename %s: %s", part, strerror(errno));
        else
            fail(r, rc, "cannot rename %s: %s", part, ug_strerror(rc));
        goto fail;
    }
    return 0;
fail:
    unlinkat(b->dirfd, part, 0);
    return rc;
}

/* Explains a decoding failure of `data` in Pillow's words. */
static int decode_failed(ug_image_batch_result *r, int rc,
                         const unsigned char *data, size_t size,
                         size_t max_pixels) {
    ug_image_info info;
    switch (rc) {
    case UG_EFORMAT:
        return fail(r, rc, "cannot identify image file");
    case UG_ECORRUPT:
        return fail(r, rc, "image file is truncated or corrupt");
    case UG_EBOMB:
        if (ug_image_read_info(data, size, &info) == 0)
            return fail(r, rc,
                        "image size (%llu pixels) exceeds limit of %zu "
                        "pixels, could be decompression bomb DOS attack",
                        (unsigned long long)info.width *
                            (unsigned long long)info.height,
                        max_pixels);
        return fail(r, rc, "image exceeds the limit of %zu pixels",
                    max_pixels);
    default:
        return fail(r, rc, "%s", ug_strerror(rc));
    }
}

/* The whole pipeline for input i; the result says how it went. */
static void process(struct batch *b, size_t i) {
    const ug_image_batch_options *o = b->opts;
    ug_image_batch_result *r = &b->results[i];
    unsigned char *file = NULL, *encoded = NULL;
    size_t file_size = 0, encoded_size = 0;
    ug_image img = {0}, filtered = {0};
    ug_image_info info;
    const char *why = NULL;

    if (read_input(r, &file, &file_size))
        goto out;
    ug_decode_options dopts;
    ug_decode_options_init(&dopts);
    dopts.max_pixels = o->max_pixels;
    int rc = ug_image_decode(file, file_size, &dopts, &img, &info);
    if (rc) {
        decode_failed(r, rc, file, file_size, o->max_pixels);
        goto out;
    }
    free(file);
    file = NULL;

    if (o->kernel) {
        if ((rc = ug_image_mode_can_filter(info.mode, &why))) {
            fail(r, rc, "%s", why);
            goto out;
        }
        rc = ug_image_alloc(&filtered, img.width, img.height, img.channels);
        if (!rc)
            rc = ug_image_filter(b->filter_pool, &img, &filtered, o->kernel);
        if (rc) {
            fail(r, rc, "%s", ug_strerror(rc));
            goto out;
        }
        ug_image_release(&img);
        img = filtered;
        memset(&filtered, 0, sizeof filtered);
    }

    ug_encode_options eopts;
    ug_encode_options_init(&eopts);
    eopts.format = ug__image_output_format(o->format, r->output, info.format);
    eopts.quality = o->quality;
    eopts.compress_level = o->compress_level;
    if (info.mode == UG_MODE_P || info.mode == UG_MODE_PA) {
        eopts.palette = (const unsigned char (*)[4])info.palette;
        eopts.palette_size = info.palette_size;
    }
    rc = ug_image_encode(&img, info.mode, &eopts, &encoded, &encoded_size);
    if (rc == UG_EMODE) {
        fail(r, rc, "cannot write mode %s as %s", ug_image_mode_name(info.mode),
             ug_image_format_name(eopts.format));
        goto out;
    }
    if (rc) {
        fail(r, rc, "cannot encode: %s", ug_strerror(rc));
        goto out;
    }
    write_output(b, r, encoded, encoded_size);
out:
    if (r->error)
        r->output[0] = '\0';
    free(file);
    free(encoded);
    ug_image_release(&img);
    ug_image_release(&filtered);
}

static int cancelled(const struct batch *b) {
    return b->opts->cancel && __atomic_load_n(b->opts->cancel, __ATOMIC_RELAXED);
}

/* A runner: takes inputs from the shared counter until none is left.  Used
 * as the helpers' task function too (the batch is shared, not owned). */
static int run_files(void *arg) {
    struct batch *b = arg;
    for (;;) {
        size_t i = __atomic_fetch_add(&b->next, 1, __ATOMIC_RELAXED);
        if (i >= b->n)
            return 0;
        ug_image_batch_result *r = &b->results[i];
        if (cancelled(b))
            fail(r, UG_ECANCELED, "cancelled");
        else
            process(b, i);
        if (b->opts->on_done) {
            pthread_mutex_lock(&b->done_lock);
            b->opts->on_done(b->opts->ctx, r);
            pthread_mutex_unlock(&b->done_lock);
        }
    }
}

/* Decides every output name, in input order. */
static int name_outputs(struct batch *b, const char *const *inputs) {
    ug_names *names = NULL;
    int rc = ug_names_new(-1, &names);
    if (rc)
        return rc;
    const char *ext = b->opts->format == UG_FORMAT_JPEG  ? ".jpg"
                      : b->opts->format == UG_FORMAT_PNG ? ".png"
                                                         : NULL;
    for (size_t i = 0; i < b->n && !rc; i++) {
        ug_image_batch_result *r = &b->results[i];
        r->index = i;
        r->input = inputs[i];
        const char *base = strrchr(inputs[i], '/');
        base = base ? base + 1 : inputs[i];
        char safe[UG_PATH_NAME_MAX + 1];
        rc = ug_path_sanitize(base, safe, sizeof safe);
        if (rc == UG_ENONAME)
            rc = ug_path_sanitize("image", safe, sizeof safe);
        if (rc)
            break;
        if (ext && ug_image_format_from_path(safe) != (int)b->opts->format) {
            char *dot = strrchr(safe, '.');
            if (dot && dot != safe)
                *dot = '\0';
            char with_ext[UG_PATH_NAME_MAX + 8];
            snprintf(with_ext, sizeof with_ext, "%s%s", safe, ext);
            /* Cuts an over-long stem, keeping the new extension. */
            rc = ug_path_sanitize(with_ext, safe, sizeof safe);
            if (rc)
                break;
        }
        rc = ug_names_claim(names, safe, r->output, sizeof r->output);
    }
    ug_names_free(names);
    return rc;
}

static int valid_options(const ug_image_batch_options *o) {
    if (!o->out_dir || o->quality < 1 || o->quality > 100 ||
        o->compress_level < 0 || o->compress_level > 9)
        return 0;
    if (o->format != UG_FORMAT_AUTO && o->format != UG_FORMAT_JPEG &&
        o->format != UG_FORMAT_PNG)
        return 0;
    return !o->kernel || o->kernel->size == 3 || o->kernel->size == 5;
}

int ug_image_batch_run(ug_pool *pool, const ug_image_batch_options *opts,
                       const char *const *inputs, size_t n,
                       ug_image_batch_result **results) {
    if (!results)
        return UG_EINVAL;
    *results = NULL;
    if (!opts || (n && !inputs) || !valid_options(opts))
        return UG_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!inputs[i])
            return UG_EINVAL;

    int rc = UG_ENOMEM;
    ug_future **helpers = NULL;
    size_t nhelpers = 0;
    struct batch b = {.opts = opts, .n = n, .dirfd = -1};
    pthread_mutex_init(&b.done_lock, NULL);
    b.results = calloc(n ? n : 1, sizeof *b.results);
    if (!b.results)
        goto fail;
    b.dirfd = open(opts->out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (b.dirfd < 0) {
        rc = UG_EIO;
        goto fail;
    }
    if ((rc = name_outputs(&b, inputs)))
        goto fail;

    size_t threads = opts->threads ? opts->threads
                                   : pool ? ug_pool_workers(pool) : 1;
    if (!pool)
        threads = 1;
    if (threads > 1 && n < threads)
        b.filter_pool = pool;
    size_t want = (threads < n ? threads : n);
    want = want ? want - 1 : 0;
    rc = UG_ENOMEM;
    if (want && !(helpers = calloc(want, sizeof *helpers)))
        goto fail;
    for (; nhelpers < want; nhelpers++) {
        ug_task task = {.fn = run_files, .arg = &b};
        /* Never block for room: a full queue just means fewer helpers. */
        if (ug_pool_try_submit(pool, &task, &helpers[nhelpers]))
            break;
    }
    run_files(&b);
    for (size_t i = 0; i < nhelpers; i++) {
        if (ug_future_cancel(helpers[i]) != 0)
            ug_future_wait(helpers[i], -1);
        ug_future_release(helpers[i]);
    }
    free(helpers);
    close(b.dirfd);
    pthread_mutex_destroy(&b.done_lock);
    *results = b.results;
    for (size_t i = 0; i < n; i++)
        if (b.results[i].error == UG_ECANCELED)
            return UG_ECANCELED;
    return 0;
fail:
    {
        int saved = errno;
        free(helpers);
        if (b.dirfd >= 0)
            close(b.dirfd);
        free(b.results);
        pthread_mutex_destroy(&b.done_lock);
        errno = saved;
    }
    return rc;
}

void ug_image_batch_results_free(ug_image_batch_result *results) {
    free(results);
}
