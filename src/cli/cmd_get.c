/* cmd_get.c - `ungil get`: download many URLs at once.
 *
 *   ungil get [URL...] [-i FILE|-] [-o DIR] [-j N] [--per-host N]
 *             [--retry N] [--timeout S] [--max-size BYTES] [--quiet]
 *
 * URLs come from the command line and from FILE (one per line; blank lines
 * and lines starting with '#' are skipped; "-" reads standard input).  All
 * transfers run on the fetch engine; each file appears in DIR under its
 * final name only when complete.  On a terminal, a progress line shows
 * files, bytes, rate and ETA; at the end a summary lists every failure with
 * its reason.  Exit status: 0 when every URL succeeded, 1 when any failed,
 * 2 for a bad command line, 130 after Ctrl-C.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "ungil/ungil.h"

struct get_state {
    bool tty, quiet;
    size_t failed;
    /* Failures, kept to list them after the progress line is done. */
    char **failures;
    size_t nfailures, cap;
    uint64_t bytes;
    size_t done, total;
    uint64_t start_ns;
};

static void usage(FILE *out) {
    fputs("usage: ungil get [URL...] [-i FILE|-] [-o DIR] [-j N] [--per-host N]\n"
          "                 [--retry N] [--timeout S] [--max-size BYTES] [--quiet]\n"
          "\n"
          "Downloads every URL concurrently into DIR (default: the current\n"
          "directory).  Files appear under their final names only when complete.\n"
          "\n"
          "  -i, --input FILE    read URLs from FILE, one per line ('-': stdin)\n"
          "  -o, --output DIR    directory for the files (created if missing)\n"
          "  -j, --jobs N        transfers at once (default 64)\n"
          "      --per-host N    transfers at once per host (default 8)\n"
          "      --retry N       extra attempts on transient errors (default 3)\n"
          "      --timeout S     seconds for a whole attempt (default: none)\n"
          "      --max-size B    refuse bodies over B bytes\n"
          "  -q, --quiet         no progress line and no summary (failures are\n"
          "                      still listed)\n"
          "  -h, --help          show this help\n",
          out);
}

static void human(char *buf, size_t size, double n) {
    const char *units[] = {"B", "kB", "MB", "GB", "TB"};
    int u = 0;
    while (n >= 1000 && u < 4) {
        n /= 1000;
        u++;
    }
    snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", n, units[u]);
}

static void on_progress(void *ctx, const ug_fetch_progress *p) {
    struct get_state *st = ctx;
    if (!st->tty || st->quiet)
        return;
    char bytes[32], rate[32], eta[32] = "--:--";
    human(bytes, sizeof bytes, (double)p->bytes);
    human(rate, sizeof rate, p->rate);
    if (p->done && p->done < p->total) {
        double left = p->elapsed_s / (double)p->done * (double)(p->total - p->done);
        snprintf(eta, sizeof eta, "%u:%02u", (unsigned)(left / 60),
                 (unsigned)left % 60);
    }
    fprintf(stderr, "\r\033[K[%zu/%zu] %s  %s/s  ETA %s%s", p->done, p->total,
            bytes, rate, eta, p->failed ? "  (some failed)" : "");
    fflush(stderr);
}

static void on_done(void *ctx, const ug_fetch_result *r) {
    struct get_state *st = ctx;
    st->done++;
    st->bytes += r->error ? 0 : r->bytes;
    if (!r->error)
        return;
    st->failed++;
    if (st->nfailures == st->cap) {
        size_t cap = st->cap ? 2 * st->cap : 16;
        char **grown = realloc(st->failures, cap * sizeof *grown);
        if (!grown)
            return;
        st->failures = grown;
        st->cap = cap;
    }
    char line[4096];
    if (r->error == UG_EHTTP)
        snprintf(line, sizeof line, "%s: HTTP %ld", r->url, r->status);
    else
        snprintf(line, sizeof line, "%s: %s (%s)", r->url,
                 r->message ? r->message : ug_strerror(r->error),
                 ug_strerror(r->error));
    char *copy = strdup(line);
    if (copy)
        st->failures[st->nfailures++] = copy;
}

/* Adds the URLs of `path` ("-" = stdin) to the engine.  Returns the count,
 * or -1 after printing why the file cannot be read. */
static long add_file(ug_fetch *f, const char *path) {
    FILE *in = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!in) {
        fprintf(stderr, "ungil get: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    long count = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, in)) >= 0) {
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' ||
                       line[len - 1] == ' ' || line[len - 1] == '\t'))
            line[--len] = '\0';
        char *url = line;
        while (*url == ' ' || *url == '\t')
            url++;
        if (!*url || *url == '#')
            continue;
        if (ug_fetch_add(f, url, NULL, NULL, NULL) < 0) {
            count = -1;
            fputs("ungil get: out of memory\n", stderr);
            break;
        }
        count++;
    }
    free(line);
    if (in != stdin)
        fclose(in);
    return count;
}

/* Parses a count from `min` to 100000 for option `opt`. */
static int parse_count(const char *opt, const char *s, unsigned min,
                       unsigned *out) {
    uint64_t v;
    if (cli_parse_u64(s, &v) || v < min || v > 100000) {
        fprintf(stderr, "ungil get: %s needs a number from %u to 100000, not "
                        "'%s'\n", opt, min, s);
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

int cmd_get(int argc, char **argv) {
    static const struct option longopts[] = {
        {"input", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},
        {"jobs", required_argument, NULL, 'j'},
        {"per-host", required_argument, NULL, 'H'},
        {"retry", required_argument, NULL, 'r'},
        {"timeout", required_argument, NULL, 't'},
        {"max-size", required_argument, NULL, 'm'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct get_state st = {.tty = isatty(STDERR_FILENO)};
    ug_fetch_options o;
    ug_fetch_options_init(&o);
    const char *inputs[64];
    size_t ninputs = 0;
    const char *dir = ".";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "i:o:j:qh", longopts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'i':
            if (ninputs == sizeof inputs / sizeof *inputs) {
                fputs("ungil get: too many -i options\n", stderr);
                return CLI_USAGE;
            }
            inputs[ninputs++] = optarg;
            break;
        case 'o':
            dir = optarg;
            break;
        case 'j':
            if (parse_count("-j", optarg, 1, &o.concurrency))
                return CLI_USAGE;
            break;
        case 'H':
            if (parse_count("--per-host", optarg, 1, &o.per_host))
                return CLI_USAGE;
            break;
        case 'r':
            if (parse_count("--retry", optarg, 0, &o.retries))
                return CLI_USAGE;
            break;
        case 't': {
            double s = strtod(optarg, &end);
            if (end == optarg || *end || !(s > 0) || s > 4e6) {
                fprintf(stderr, "ungil get: --timeout needs seconds, not '%s'\n",
                        optarg);
                return CLI_USAGE;
            }
            o.timeout_ms = (unsigned)(s * 1000) ? (unsigned)(s * 1000) : 1;
            break;
        }
        case 'm':
            if (cli_parse_u64(optarg, &o.max_bytes) || !o.max_bytes) {
                fprintf(stderr, "ungil get: --max-size needs bytes, not '%s'\n",
                        optarg);
                return CLI_USAGE;
            }
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
    if (optind == argc && !ninputs) {
        fputs("ungil get: no URL given (use URL arguments or -i FILE)\n", stderr);
        return CLI_USAGE;
    }
    for (size_t i = 0; i < ninputs; i++) {
        if (strcmp(inputs[i], "-") && access(inputs[i], R_OK)) {
            fprintf(stderr, "ungil get: cannot read %s: %s\n", inputs[i],
                    strerror(errno));
            return CLI_USAGE;
        }
    }
    if (mkdir(dir, 0755) && errno != EEXIST) {
        fprintf(stderr, "ungil get: cannot create %s: %s\n", dir, strerror(errno));
        return CLI_ERROR;
    }
    o.dest_dir = dir;
    o.on_done = on_done;
    o.on_progress = on_progress;
    o.ctx = &st;
    ug_fetch *f = NULL;
    int rc = ug_fetch_new(&o, &f);
    if (rc) {
        fprintf(stderr, "ungil get: %s: %s\n", dir, ug_strerror(rc));
        return CLI_ERROR;
    }
    int status = CLI_OK;
    for (int i = optind; i < argc; i++)
        if (ug_fetch_add(f, argv[i], NULL, NULL, NULL) < 0) {
            status = CLI_ERROR;
            goto out;
        }
    for (size_t i = 0; i < ninputs; i++)
        if (add_file(f, inputs[i]) < 0) {
            status = CLI_USAGE;
            goto out;
        }
    const int *cancel = cli_catch_interrupt();
    st.start_ns = ug_clock_ns();
    rc = ug_fetch_run(f, cancel);
    if (st.tty && !st.quiet)
        fputs("\r\033[K", stderr);
    if (rc == UG_ECANCELED) {
        fprintf(stderr, "ungil get: interrupted after %zu files\n", st.done);
        status = CLI_INTERRUPTED;
        goto out;
    }
    if (!st.quiet) {
        double secs = (ug_clock_ns() - st.start_ns) / 1e9;
        char bytes[32], rate[32];
        human(bytes, sizeof bytes, (double)st.bytes);
        human(rate, sizeof rate, secs > 0 ? st.bytes / secs : 0);
        fprintf(stderr, "%zu of %zu files, %s in %.2f s (%s/s)", st.done - st.failed,
                st.done, bytes, secs, rate);
        fprintf(stderr, st.failed ? "; %zu failed:\n" : "\n", st.failed);
    }
    for (size_t i = 0; i < st.nfailures; i++)
        fprintf(stderr, "  %s\n", st.failures[i]);
    if (st.failed)
        status = CLI_ERROR;
out:
    for (size_t i = 0; i < st.nfailures; i++)
        free(st.failures[i]);
    free(st.failures);
    ug_fetch_free(f);
    return status;
}
