/* ungil/image_batch.h - decode, filter, encode and save many image files.
 *
 * ug_image_batch_run takes a list of input files and, for each one, reads
 * it, decodes it (JPEG or PNG, as ungil/image.h does), applies one kernel
 * (or none), encodes the result and writes it into one output directory.
 * Files are processed in parallel, one whole file per thread at a time:
 * the calling thread and up to `threads - 1` helper tasks on a pool pull
 * the next input from a shared counter, so a slow file never holds up the
 * others.  Every file gets its own result (an output name, or an error
 * code and a message); one bad file never stops the batch.
 *
 * Output names are decided before any work starts, in input order, so
 * they do not depend on timing: the input's last path component,
 * sanitised by ug_path_sanitize ("image" if nothing usable is left), with
 * its extension replaced when an output format is forced and the
 * extension says otherwise ("a.jpg" as PNG is "a.png"), then made unique
 * with a ug_names set ("a.png", "a (1).png", ...).  Existing files in the
 * directory are replaced, like `cp` would; an input that lives in the
 * output directory is therefore replaced by its filtered self once it has
 * been read.  Each output is written to "<name>.part" and renamed when
 * complete, strictly inside the directory (ug_path_open: no symbolic link
 * is followed, nothing is written outside it).
 *
 * The output format is opts->format if set; otherwise the one the output
 * name's extension asks for (.jpg, .png), as Pillow's Image.save does;
 * otherwise the input's own format.
 *
 * Ownership: the caller owns the options, the kernel and the input
 * strings, which must stay valid during the call; the results array
 * belongs to the caller afterwards (ug_image_batch_results_free).
 *
 * Thread-safety: ug_image_batch_run may be called from any thread,
 * including a worker of `pool` (it works itself and never waits for a
 * helper that has not started), and several batches may run at once.
 */
#ifndef UNGIL_IMAGE_BATCH_H
#define UNGIL_IMAGE_BATCH_H

#include <stddef.h>

#include "ungil/image.h"
#include "ungil/path.h"
#include "ungil/pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What happened to one input. */
typedef struct ug_image_batch_result {
    size_t index;                       /* position in the inputs */
    const char *input;                  /* the caller's input string (borrowed) */
    int error;                          /* 0 or a negative UG_E... code */
    char output[UG_PATH_NAME_MAX + 1];  /* name inside the output directory;
                                           "" when error != 0 */
    char message[256];                  /* "" or a sentence saying what failed */
} ug_image_batch_result;

/* Called once per finished file (done, failed or cancelled), from the
 * thread that processed it; calls are serialised, so the callback needs
 * no lock of its own.  It must not call back into the batch. */
typedef void (*ug_image_batch_done_fn)(void *ctx,
                                       const ug_image_batch_result *result);

typedef struct ug_image_batch_options {
    const char *out_dir;       /* required: an existing directory */
    const ug_kernel *kernel;   /* the filter, or NULL to only re-encode */
    ug_image_format format;    /* output format; UG_FORMAT_AUTO: see above */
    int quality;               /* JPEG 1..100, default 75 */
    int compress_level;        /* PNG 0..9, default 6 */
    size_t max_pixels;         /* decoding limit (UG_EBOMB above it);
                                  default UG_IMAGE_MAX_PIXELS_DEFAULT,
                                  0 = no limit */
    unsigned threads;          /* files at once, the calling thread included;
                                  0 = one per pool worker (1 without a pool) */
    const int *cancel;         /* if not NULL and *cancel becomes non-zero
                                  (read atomically), files not started yet
                                  are given up as UG_ECANCELED */
    ug_image_batch_done_fn on_done; /* may be NULL */
    void *ctx;                 /* for on_done */
} ug_image_batch_options;

/* Fills `opts` with the defaults (no kernel, format AUTO, quality 75,
 * compress_level 6, the default pixel limit, threads 0, no callback). */
void ug_image_batch_options_init(ug_image_batch_options *opts);

/* Processes inputs[0..n) as described at the top of this file, on the
 * calling thread and on helper tasks of `pool` (NULL: the calling thread
 * only).  Blocks until every file has a result.  On return *results
 * (when the call got as far as allocating it: always on 0 and
 * UG_ECANCELED) is an array of n results in input order, which the caller
 * frees with ug_image_batch_results_free.  Returns 0 when every file has
 * its result (however many failed), UG_ECANCELED if the cancel flag
 * stopped the batch (unstarted files then have error UG_ECANCELED), or,
 * with *results NULL, UG_EINVAL (NULL pointers, no out_dir, bad quality
 * or compress level, a kernel that is not 3x3 or 5x5), UG_EIO (out_dir
 * cannot be opened as a directory; errno says why) or UG_ENOMEM. */
int ug_image_batch_run(ug_pool *pool, const ug_image_batch_options *opts,
                       const char *const *inputs, size_t n,
                       ug_image_batch_result **results);

/* Frees what ug_image_batch_run returned.  NULL is harmless. */
void ug_image_batch_results_free(ug_image_batch_result *results);

#ifdef __cplusplus
}
#endif

#endif
