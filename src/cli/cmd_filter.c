/* cmd_filter.c - `ungil filter`: filter many image files at once.
 *
 *   ungil filter FILTER IN... -o DIR [-j N] [--format F] [--quality Q]
 *                [--compress-level L] [--quiet]
 *
 * FILTER is one of Pillow's built-in filters (BLUR, FIND_EDGES, ...; any
 * case) or "none" to only re-encode.  Every input is decoded, filtered,
 * encoded and written into DIR by the image batch engine (see
 * ungil/image_batch.h): one file per thread, outputs named after the
 * inputs, each appearing under its final name only when complete.  On a
 * terminal a progress line counts the files; at the end a summary says how
 * many succeeded and lists every failure with its reason.  Exit status: 0
 * when every file succeeded, 1 when any failed, 2 for a bad command line,
 * 130 after Ctrl-C.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "ungil/ungil.h"

struct filter_state {
    bool tty, quiet;
    size_t done, failed, total;
};

static void usage(FILE *out) {
    fputs("usage: ungil filter FILTER IN... -o DIR [-j N] [--format F]\n"
          "                    [--quality Q] [--compress-level L] [--quiet]\n"
          "\n"
          "Decodes every JPEG or PNG file IN, applies FILTER with Pillow's exact\n"
          "bytes, and writes the result into DIR under the input's file name.\n"
          "FILTER is one of BLUR, CONTOUR, DETAIL, EDGE_ENHANCE,\n"
          "EDGE_ENHANCE_MORE, EMBOSS, FIND_EDGES, SHARPEN, SMOOTH, SMOOTH_MORE\n"
          "(any case), or 'none' to only re-encode.\n"
          "\n"
          "  -o, --output DIR        directory for the results (created if missing)\n"
          "  -j, --jobs N            files at once (default: one per CPU)\n"
          "  -f, --format F          write jpeg or png (default: by the name's\n"
          "                          extension, else the input's format)\n"
          "      --quality Q         JPEG quality 1..100 (default 75)\n"
          "      --compress-level L  PNG compression 0..9 (default 6)\n"
          "  -q, --quiet             no progress line and no summary (failures\n"
          "                          are still listed)\n"
          "  -h, --help              show this help\n",
          out);
}

static void on_done(void *ctx, const ug_image_batch_result *r) {
    struct filter_state *st = ctx;
    if (r->error == UG_ECANCELED)
        return; /* skipped after Ctrl-C: neither done nor failed */
    st->done++;
    if (r->error)
        st->failed++;
    if (!st->tty || st->quiet)
        return;
    fprintf(stderr, CLI_CLEAR_LINE "[%zu/%zu]%s", st->done, st->total,
            st->failed ? "  (some failed)" : "");
    fflush(stderr);
}

int cmd_filter(int argc, char **argv) {
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"jobs", required_argument, NULL, 'j'},
        {"format", required_argument, NULL, 'f'},
        {"quality", required_argument, NULL, 'Q'},
        {"compress-level", required_argument, NULL, 'L'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct filter_state st = {.tty = isatty(STDERR_FILENO)};
    ug_image_batch_options o;
    ug_image_batch_options_init(&o);
    const char *dir = NULL;
    unsigned jobs = 0, value;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:j:f:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            dir = optarg;
            break;
        case 'j':
            if (cli_parse_unsigned("filter", "-j", optarg, 1, 4096, &jobs))
                return CLI_USAGE;
            break;
        case 'f':
            if (cli_parse_format(optarg, &o.format)) {
                fprintf(stderr, "ungil filter: --format is jpeg or png, not "
                                "'%s'\n", optarg);
                return CLI_USAGE;
            }
            break;
        case 'Q':
            if (cli_parse_unsigned("filter", "--quality", optarg, 1, 100,
                                   &value))
                return CLI_USAGE;
            o.quality = (int)value;
            break;
        case 'L':
            if (cli_parse_unsigned("filter", "--compress-level", optarg, 0,
                                   9, &value))
                return CLI_USAGE;
            o.compress_level = (int)value;
            break;
        case 'q':
            st.quiet = true;
            break;
        case 'h':
            usage(stdout);
            return CLI_OK;
        default:
            usage(stderr);
            return CLI_USAGE;
        }
    }
    if (argc - optind < 2) {
        fputs("ungil filter: need a FILTER and at least one input file\n",
              stderr);
        usage(stderr);
        return CLI_USAGE;
    }
    if (!dir) {
        fputs("ungil filter: no output directory (use -o DIR)\n", stderr);
        return CLI_USAGE;
    }
    const char *name = argv[optind];
    ug_kernel kernel;
    if (strcasecmp(name, "none") != 0) {
        if (ug_kernel_builtin(name, &kernel)) {
            fprintf(stderr, "ungil filter: unknown filter '%s' (try 'ungil "
                            "filter --help')\n", name);
            return CLI_USAGE;
        }
        o.kernel = &kernel;
    }
    if (cli_make_dir("filter", dir))
        return CLI_ERROR;

    ug_pool_options po;
    ug_pool_options_init(&po);
    po.workers = jobs;
    po.name = "filter";
    ug_pool *pool = NULL;
    int rc = ug_pool_new(&po, &pool);
    if (rc) {
        fprintf(stderr, "ungil filter: %s\n", ug_strerror(rc));
        return CLI_ERROR;
    }
    o.out_dir = dir;
    o.threads = jobs ? jobs : ug_pool_workers(pool);
    o.cancel = cli_catch_interrupt();
    o.on_done = on_done;
    o.ctx = &st;
    const char *const *inputs = (const char *const *)argv + optind + 1;
    size_t n = (size_t)(argc - optind - 1);
    st.total = n;
    ug_image_batch_result *results = NULL;
    uint64_t start = ug_clock_ns();
    rc = ug_image_batch_run(pool, &o, inputs, n, &results);
    int run_errno = errno;
    double secs = (double)(ug_clock_ns() - start) / 1e9;
    ug_pool_free(pool);
    if (st.tty && !st.quiet)
        fputs(CLI_CLEAR_LINE, stderr);
    if (rc && rc != UG_ECANCELED) {
        fprintf(stderr, "ungil filter: %s: %s\n", dir,
                rc == UG_EIO ? strerror(run_errno) : ug_strerror(rc));
        return CLI_ERROR;
    }
    if (rc == UG_ECANCELED) {
        fprintf(stderr, "ungil filter: interrupted after %zu of %zu files\n",
                st.done, n);
        ug_image_batch_results_free(results);
        return CLI_INTERRUPTED;
    }
    if (!st.quiet) {
        fprintf(stderr, "%zu of %zu files written to %s in %.2f s (%.1f files/s)",
                n - st.failed, n, dir, secs, secs > 0 ? (double)n / secs : 0.0);
        fprintf(stderr, st.failed ? "; %zu failed:\n" : "\n", st.failed);
    }
    for (size_t i = 0; i < n; i++)
        if (results[i].error)
            fprintf(stderr, "  %s: %s\n", results[i].input, results[i].message);
    ug_image_batch_results_free(results);
    return st.failed ? CLI_ERROR : CLI_OK;
}
