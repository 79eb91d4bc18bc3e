/* ungil/pictures.h - download pictures, filter them, save them: one native
 * pipeline with I/O and CPU overlapped.
 *
 * The course's download_picture(url) (requests.get, Image.open,
 * filter(ImageFilter.FIND_EDGES), save) run for many URLs at once.  A
 * pictures job drives every transfer from one fetch engine (ungil/fetch.h)
 * on the thread that calls ug_pictures_run, bodies kept in memory; each body
 * that arrives becomes a task for a pool of CPU threads (ungil/pool.h):
 * decode -> filter -> encode -> save.  No temporary file holds a body.
 *
 * Files: each picture is written as "<name>.part" inside the destination
 * directory and renamed to <name> when complete, through ungil/path.h (one
 * component, no link followed), so nothing lands outside the directory and
 * a final name never holds a partial file.  Names come from the URL as the
 * downloader makes them (ug_path_from_url), claimed in the order of
 * ug_pictures_add, so collisions ("a.jpg", "a (1).jpg") resolve the same way
 * every run.  With an explicit output format the extension follows it:
 * "a.jpg" saved as PNG is "a.png"; a name without an image extension gets
 * one appended ("img.php" gives "img.php.png").  With UG_FORMAT_AUTO the
 * name is the URL's as it is and, as with Pillow's save(path), its
 * extension picks the format: a PNG served under "a.jpg" is written as a
 * JPEG; a name without an image extension keeps the input's format.
 *
 * Memory is bounded by backpressure.  A picture is "held" from the start
 * of its transfer until its file is saved or it failed; held bytes are its
 * body bytes received so far plus, while a worker processes it, its decoded
 * and filtered pixels.  Before a new transfer starts, the job checks both
 * caps (held pictures, held bytes); when either is reached the fetch engine
 * starts nothing new (transfers already running finish) until CPU work
 * drains.  So held pictures never exceed max_held_pictures; held bytes may
 * exceed max_held_bytes by what the running transfers still receive.  The
 * summary reports the peaks.
 *
 * Trace: with a trace, each transfer is a bar on a "transfer N" lane (drawn
 * by the fetch engine) and each picture's decode, filter, encode and save
 * steps are bars on its worker's lane, all on one timeline.
 *
 * Thread-safety: a job is built (ug_pictures_new, ug_pictures_add) and run
 * by one thread; ug_pictures_progress_get may be called from any thread
 * while it runs; the results and the summary may be read once
 * ug_pictures_run has returned.  The cancel flag may be set from any thread.
 */
#ifndef UNGIL_PICTURES_H
#define UNGIL_PICTURES_H

#include <stddef.h>
#include <stdint.h>

#include "ungil/fetch.h"
#include "ungil/image.h"
#include "ungil/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ug_pictures ug_pictures;

/* Where a picture's processing stopped. */
typedef enum ug_pictures_stage {
    UG_STAGE_NONE = 0,     /* saved: no failure */
    UG_STAGE_DOWNLOAD = 1, /* the transfer failed (a 404, a reset, a bad URL) */
    UG_STAGE_DECODE = 2,   /* not an image, corrupt, truncated, a bomb */
    UG_STAGE_FILTER = 3,   /* a mode the filter refuses (P) */
    UG_STAGE_ENCODE = 4,   /* a mode the output format refuses (RGBA as JPEG) */
    UG_STAGE_SAVE = 5      /* the file could not be written */
} ug_pictures_stage;

/* The name of a stage ("download", "decode", ...); NULL for
 * UG_STAGE_NONE and unknown values.  Static string. */
const char *ug_pictures_stage_name(ug_pictures_stage stage);

/* The outcome of one URL.  Strings are owned by the job and live until
 * ug_pictures_free. */
typedef struct ug_pictures_result {
    size_t index;             /* order of ug_pictures_add, from 0 */
    const char *url;
    /* The download, as ug_fetch_result reports it. */
    const char *final_url;    /* after redirects; NULL if never connected */
    long status;              /* last HTTP status, 0 if none */
    uint64_t bytes;           /* body bytes */
    const char *content_type; /* or NULL */
    double first_byte_s, total_s; /* seconds from the start of the attempt */
    unsigned attempts;
    /* The image. */
    const char *name;         /* file name inside dest_dir; NULL unless saved */
    int width, height;        /* of the decoded picture; 0 if not decoded */
    ug_image_mode mode;       /* its mode; UG_MODE_NONE if not decoded */
    ug_image_format format_in, format_out; /* UG_FORMAT_AUTO if unknown */
    uint64_t out_bytes;       /* size of the saved file */
    double decode_s, filter_s, encode_s, save_s; /* CPU steps, seconds */
    /* The failure, if any. */
    int error;                /* 0, or a UG_E... code */
    ug_pictures_stage stage;  /* where it failed; UG_STAGE_NONE if saved */
    const char *message;      /* a sentence on the failure, or NULL */
} ug_pictures_result;

/* Counters while the job runs. */
typedef struct ug_pictures_progress {
    size_t total;          /* URLs added */
    size_t downloaded;     /* bodies received whole */
    size_t done;           /* URLs finished: saved or failed */
    size_t failed;
    uint64_t bytes_in;     /* body bytes received so far */
    uint64_t held_bytes;   /* held now (see the top of this file) */
    size_t held_pictures;
    double elapsed_s;
} ug_pictures_progress;

/* After the run. */
typedef struct ug_pictures_summary {
    size_t total, saved, failed;
    uint64_t bytes_in;         /* body bytes of the saved pictures */
    uint64_t bytes_out;        /* bytes of the files written */
    uint64_t peak_held_bytes;  /* most bytes held at once */
    size_t peak_held_pictures; /* most pictures held at once */
    double elapsed_s;          /* wall time of ug_pictures_run */
    double download_s;         /* sum of the transfers' total times */
    double decode_s, filter_s, encode_s, save_s; /* sums over pictures */
} ug_pictures_summary;

typedef void (*ug_pictures_progress_fn)(void *ctx,
                                        const ug_pictures_progress *p);

typedef struct ug_pictures_options {
    /* Transfers: concurrency, per_host, retries, backoff, timeouts,
     * max_bytes, max_redirects, user_agent, ca_file, seed.  Its dest_dir,
     * callbacks, ctx and trace are the pipeline's own and ignored here. */
    ug_fetch_options fetch;
    const char *dest_dir;       /* required: an existing directory */
    ug_kernel kernel;           /* default FIND_EDGES */
    ug_image_format format;     /* output; AUTO (default): by the name's
                                 * extension, else the input's */
    int jpeg_quality;           /* 1..100, default 75 (Pillow's) */
    unsigned threads;           /* CPU workers; 0 = one per online CPU */
    uint64_t max_held_bytes;    /* default 256 MiB */
    size_t max_held_pictures;   /* 0 = concurrency + 2 x threads */
    size_t max_pixels;          /* per picture, default
                                 * UG_IMAGE_MAX_PIXELS_DEFAULT; 0 = none */
    ug_trace *trace;            /* borrowed, or NULL */
    ug_pictures_progress_fn on_progress; /* on the run's thread, or NULL */
    unsigned progress_interval_ms; /* default 200 */
    void *ctx;                  /* for on_progress */
} ug_pictures_options;

/* Fills `opts` with the defaults. */
void ug_pictures_options_init(ug_pictures_options *opts);

/* Creates a job: opens dest_dir and starts the CPU workers.  Copies what
 * it needs from `opts`.  Returns 0 and sets *out, or UG_EINVAL (no
 * dest_dir or not a directory, a bad kernel, format or quality), UG_ENOMEM,
 * UG_ETHREAD or UG_EIO. */
int ug_pictures_new(const ug_pictures_options *opts, ug_pictures **out);

/* Stops the workers and frees the job and its results.  NULL is
 * harmless. */
void ug_pictures_free(ug_pictures *job);

/* Adds a URL before the run and claims its file name.  A URL that cannot
 * be fetched or named is not an error here: it gets a failed result.
 * Returns the index (>= 0), UG_ENOMEM, or UG_EBUSY once the job has run. */
long ug_pictures_add(ug_pictures *job, const char *url);

/* Downloads, filters and saves every URL added; blocks until each has a
 * result.  If `cancel` becomes non-zero, transfers stop within about 100
 * ms, queued pictures are dropped, pictures being processed stop at their
 * next step, no final-named partial file is left, and the call returns
 * UG_ECANCELED (the results of unfinished URLs say UG_ECANCELED).
 * Returns 0, UG_ECANCELED, UG_EBUSY (run twice) or UG_ENOMEM. */
int ug_pictures_run(ug_pictures *job, const int *cancel);

/* Number of URLs added, and the result of URL `index` (NULL past the
 * end).  Valid after ug_pictures_run has returned. */
size_t ug_pictures_count(const ug_pictures *job);
const ug_pictures_result *ug_pictures_result_at(const ug_pictures *job,
                                                size_t index);

/* Fills *out with the totals of the run.  After ug_pictures_run. */
void ug_pictures_summary_get(const ug_pictures *job, ug_pictures_summary *out);

/* A snapshot of the counters; thread-safe, also while the job runs. */
void ug_pictures_progress_get(ug_pictures *job, ug_pictures_progress *out);

#ifdef __cplusplus
}
#endif

#endif
