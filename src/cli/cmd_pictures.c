/* cmd_pictures.c - `ungil pictures`: download pictures, filter, save.
 *
 *   ungil pictures [URL...] [-i FILE|-] -o DIR [--filter NAME] [-j N]
 *                  [--per-host N] [--threads N] [--format png|jpeg]
 *                  [--trace FILE] [--quiet]
 *
 * The course's download_picture for many URLs: every transfer on the fetch
 * engine, every picture decoded, filtered (a Pillow built-in kernel,
 * FIND_EDGES by default) and saved by a pool of CPU threads as soon as its
 * body arrives (ungil/pictures.h).  URLs come from the arguments and from
 * FILE (one per line; blank lines and '#' comments skipped; "-" is stdin).
 * On a terminal a progress line shows pictures, bytes and held memory; at
 * the end a summary gives files, bytes and the peak memory held, then every
 * failure with its reason.  Exit status: 0 when every picture was saved, 1
 * when any failed, 2 for a bad command line, 130 after Ctrl-C.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ungil/ungil.h"

static void usage(FILE *out) {
    fputs("usage: ungil pictures [URL...] [-i FILE|-] -o DIR [--filter NAME] [-j N]\n"
          "                      [--per-host N] [--threads N] [--format png|jpeg]\n"
          "                      [--trace FILE] [--quiet]\n"
          "\n"
          "Downloads every picture (JPEG or PNG) concurrently, applies a filter\n"
          "with Pillow's exact arithmetic and saves the result into DIR.\n"
          "\n"
          "  -i, --input FILE    read URLs from FILE, one per line ('-': stdin)\n"
          "  -o, --output DIR    directory for the pictures (created if missing)\n"
          "  -f, --filter NAME   a Pillow built-in filter (default FIND_EDGES):\n"
          "                      BLUR, CONTOUR, DETAIL, EDGE_ENHANCE,\n"
          "                      EDGE_ENHANCE_MORE, EMBOSS, FIND_EDGES, SHARPEN,\n"
          "                      SMOOTH, SMOOTH_MORE\n"
          "  -j, --jobs N        transfers at once (default 64)\n"
          "      --per-host N    transfers at once per host (default 8)\n"
          "      --threads N     CPU threads (default: one per CPU)\n"
          "      --format F      png or jpeg (default: as the file name's extension\n"
          "                      says, else the input's format)\n"
          "      --trace FILE    save a timeline as SVG (.svg) or Chrome JSON (.json)\n"
          "  -q, --quiet         no progress line and no summary (failures are\n"
          "                      still listed)\n"
          "  -h, --help          show this help\n",
          out);
}

static void on_progress(void *ctx, const ug_pictures_progress *p) {
    char bytes[32], held[32];
    cli_human(bytes, sizeof bytes, (double)p->bytes_in);
    cli_human(held, sizeof held, (double)p->held_bytes);
    fprintf(stderr, CLI_CLEAR_LINE "[%zu/%zu] downloaded %zu, %s, holding %s%s",
            p->done, p->total, p->downloaded, bytes, held,
            p->failed ? "  (some failed)" : "");
    fflush(stderr);
}

/* Adds one URL of a -i list to the job. */
static int add_url(void *job, const char *url) {
    return ug_pictures_add(job, url);
}

/* Prints the summary line and every failure. */
static void report(ug_pictures *job, bool quiet) {
    ug_pictures_summary s;
    ug_pictures_summary_get(job, &s);
    if (!quiet) {
        char in[32], out[32], peak[32];
        cli_human(in, sizeof in, (double)s.bytes_in);
        cli_human(out, sizeof out, (double)s.bytes_out);
        cli_human(peak, sizeof peak, (double)s.peak_held_bytes);
        fprintf(stderr, "%zu of %zu pictures saved, %s downloaded, %s written "
                        "in %.2f s; peak held %s (%zu pictures)",
                s.saved, s.total, in, out, s.elapsed_s, peak,
                s.peak_held_pictures);
        fprintf(stderr, s.failed ? "; %zu failed:\n" : "\n", s.failed);
    }
    for (size_t i = 0; i < ug_pictures_count(job); i++) {
        const ug_pictures_result *r = ug_pictures_result_at(job, i);
        if (r->error)
            fprintf(stderr, "  %s: %s failed: %s\n", r->url,
                    ug_pictures_stage_name(r->stage),
                    r->message ? r->message : ug_strerror(r->error));
    }
}

int cmd_pictures(int argc, char **argv) {
    static const struct option longopts[] = {
        {"input", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},
        {"filter", required_argument, NULL, 'f'},
        {"jobs", required_argument, NULL, 'j'},
        {"per-host", required_argument, NULL, 'H'},
        {"threads", required_argument, NULL, 'T'},
        {"format", required_argument, NULL, 'F'},
        {"trace", required_argument, NULL, 't'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    ug_pictures_options o;
    ug_pictures_options_init(&o);
    struct cli_inputs inputs = {.n = 0};
    const char *dir = NULL, *trace_path = NULL;
    bool quiet = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "i:o:f:j:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'i':
            if (cli_inputs_add("pictures", &inputs, optarg))
                return CLI_USAGE;
            break;
        case 'o':
            dir = optarg;
            break;
        case 'f':
            if (ug_kernel_builtin(optarg, &o.kernel)) {
                fprintf(stderr, "ungil pictures: unknown filter '%s'\n", optarg);
                return CLI_USAGE;
            }
            break;
        case 'j':
            if (cli_parse_unsigned("pictures", "-j", optarg, 1, 100000,
                                   &o.fetch.concurrency))
                return CLI_USAGE;
            break;
        case 'H':
            if (cli_parse_unsigned("pictures", "--per-host", optarg, 1, 100000,
                                   &o.fetch.per_host))
                return CLI_USAGE;
            break;
        case 'T':
            if (cli_parse_unsigned("pictures", "--threads", optarg, 1, 100000,
                                   &o.threads))
                return CLI_USAGE;
            break;
        case 'F':
            if (cli_parse_format(optarg, &o.format)) {
                fprintf(stderr, "ungil pictures: --format is png or jpeg, not "
                                "'%s'\n", optarg);
                return CLI_USAGE;
            }
            break;
        case 't': {
            size_t n = strlen(optarg);
            if ((n < 4 || strcmp(optarg + n - 4, ".svg")) &&
                (n < 5 || strcmp(optarg + n - 5, ".json"))) {
                fprintf(stderr, "ungil pictures: --trace needs a .svg or .json "
                                "file name, not '%s'\n", optarg);
                return CLI_USAGE;
            }
            trace_path = optarg;
            break;
        }
        case 'q':
            quiet = true;
            break;
        case 'h':
            usage(stdout);
            return CLI_OK;
        default:
            usage(stderr);
            return CLI_USAGE;
        }
    }
    if (!dir) {
        fputs("ungil pictures: no output directory (use -o DIR)\n", stderr);
        return CLI_USAGE;
    }
    if (optind == argc && !inputs.n) {
        fputs("ungil pictures: no URL given (use URL arguments or -i FILE)\n",
              stderr);
        return CLI_USAGE;
    }
    if (cli_check_inputs("pictures", &inputs))
        return CLI_USAGE;
    if (cli_make_dir("pictures", dir))
        return CLI_ERROR;
    ug_trace *trace = NULL;
    if (trace_path && ug_trace_new(&trace)) {
        fputs("ungil pictures: out of memory\n", stderr);
        return CLI_ERROR;
    }
    bool tty = isatty(STDERR_FILENO);
    o.dest_dir = dir;
    o.trace = trace;
    o.on_progress = tty && !quiet ? on_progress : NULL;
    ug_pictures *job = NULL;
    int status = CLI_OK;
    int rc = ug_pictures_new(&o, &job);
    if (rc) {
        fprintf(stderr, "ungil pictures: %s: %s\n", dir, ug_strerror(rc));
        status = CLI_ERROR;
        goto out;
    }
    for (int i = optind; i < argc; i++)
        if (ug_pictures_add(job, argv[i]) < 0) {
            fputs("ungil pictures: out of memory\n", stderr);
            status = CLI_ERROR;
            goto out;
        }
    for (size_t i = 0; i < inputs.n; i++)
        if (cli_read_urls("pictures", inputs.paths[i], add_url, job) < 0) {
            status = CLI_USAGE;
            goto out;
        }
    rc = ug_pictures_run(job, cli_catch_interrupt());
    if (o.on_progress)
        fputs(CLI_CLEAR_LINE, stderr);
    if (rc == UG_ECANCELED) {
        ug_pictures_progress p;
        ug_pictures_progress_get(job, &p);
        fprintf(stderr, "ungil pictures: interrupted after %zu pictures\n",
                p.done - p.failed);
        status = CLI_INTERRUPTED;
        goto out;
    }
    report(job, quiet);
    ug_pictures_summary s;
    ug_pictures_summary_get(job, &s);
    if (s.failed)
        status = CLI_ERROR;
    if (trace && (rc = ug_trace_save(trace, trace_path, "ungil pictures"))) {
        fprintf(stderr, "ungil pictures: cannot write %s: %s\n", trace_path,
                ug_strerror(rc));
        status = CLI_ERROR;
    }
out:
    ug_pictures_free(job);
    ug_trace_free(trace);
    return status;
}
