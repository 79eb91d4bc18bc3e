/* cmd_get.c - `ungil get`: download many URLs at once.
 *
 *   ungil get [URL...] [-i FILE|-] [-o DIR] [-j N] [--per-host N]
 *             [--threads N] [--retry N] [--timeout S] [--max-size BYTES]
 *             [--dns-cache S|run] [-x PROXY] [--quiet]
 *
 * URLs come from the command line and from FILE (one per line; blank lines
 * and lines starting with '#' are skipped; "-" reads standard input).  All
 * transfers run on the fetch engine; each file appears in DIR under its
 * final name only when complete.  On a terminal, a progress line shows
 * files, bytes, rate and ETA; at the end a summary lists every failure with
 * its reason.  Exit status: 0 when every URL succeeded, 1 when any failed,
 * 2 for a bad command line, 130 after Ctrl-C.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
          "                 [--threads N] [--retry N] [--timeout S]\n"
          "                 [--max-size BYTES] [--dns-cache S|run] [-x PROXY]\n"
          "                 [--quiet]\n"
          "\n"
          "Downloads every URL concurrently into DIR (default: the current\n"
          "directory).  Files appear under their final names only when complete.\n"
          "\n"
          "  -i, --input FILE    read URLs from FILE, one per line ('-': stdin)\n"
          "  -o, --output DIR    directory for the files (created if missing)\n"
          "  -j, --jobs N        transfers at once (default 64)\n"
          "      --per-host N    transfers at once per host (default 8)\n"
          "      --threads N     transfer loops, each on its own thread, sharing\n"
          "                      the caps (default: one per CPU)\n"
          "      --retry N       extra attempts on transient errors (default 3)\n"
          "      --timeout S     seconds for a whole attempt (default: none)\n"
          "      --max-size B    refuse bodies over B bytes\n"
          "      --dns-cache S   seconds a DNS answer is reused (default 60;\n"
          "                      run: for the whole run)\n"
          "  -x, --proxy PROXY   proxy for every transfer, as curl takes it\n"
          "                      (\"\": none; default: from http_proxy,\n"
          "                      https_proxy, all_proxy and no_proxy)\n"
          "  -q, --quiet         no progress line and no summary (failures are\n"
          "                      still listed)\n"
          "  -h, --help          show this help\n",
          out);
}

static void on_progress(void *ctx, const ug_fetch_progress *p) {
    struct get_state *st = ctx;
    if (!st->tty || st->quiet)
        return;
    char bytes[32], rate[32], eta[32] = "--:--";
    cli_human(bytes, sizeof bytes, (double)p->bytes);
    cli_human(rate, sizeof rate, p->rate);
    if (p->done && p->done < p->total) {
        double left = p->elapsed_s / (double)p->done * (double)(p->total - p->done);
        snprintf(eta, sizeof eta, "%u:%02u", (unsigned)(left / 60),
                 (unsigned)left % 60);
    }
    fprintf(stderr, CLI_CLEAR_LINE "[%zu/%zu] %s  %s/s  ETA %s%s", p->done,
            p->total, bytes, rate, eta, p->failed ? "  (some failed)" : "");
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

/* Adds one URL of a -i list to the engine. */
static int add_url(void *f, const char *url) {
    return ug_fetch_add(f, url, NULL, NULL, NULL);
}

int cmd_get(int argc, char **argv) {
    static const struct option longopts[] = {
        {"input", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},
        {"jobs", required_argument, NULL, 'j'},
        {"per-host", required_argument, NULL, 'H'},
        {"threads", required_argument, NULL, 'T'},
        {"retry", required_argument, NULL, 'r'},
        {"timeout", required_argument, NULL, 't'},
        {"max-size", required_argument, NULL, 'm'},
        {"dns-cache", required_argument, NULL, 'N'},
        {"proxy", required_argument, NULL, 'x'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct get_state st = {.tty = isatty(STDERR_FILENO)};
    ug_fetch_options o;
    ug_fetch_options_init(&o);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    o.threads = cpus > 0 ? (unsigned)cpus : 1;
    struct cli_inputs inputs = {.n = 0};
    const char *dir = ".";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "i:o:j:x:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'i':
            if (cli_inputs_add("get", &inputs, optarg))
                return CLI_USAGE;
            break;
        case 'o':
            dir = optarg;
            break;
        case 'j':
            if (cli_parse_unsigned("get", "-j", optarg, 1, 100000,
                                   &o.concurrency))
                return CLI_USAGE;
            break;
        case 'H':
            if (cli_parse_unsigned("get", "--per-host", optarg, 1, 100000,
                                   &o.per_host))
                return CLI_USAGE;
            break;
        case 'T':
            if (cli_parse_unsigned("get", "--threads", optarg, 1, 1024,
                                   &o.threads))
                return CLI_USAGE;
            break;
        case 'r':
            if (cli_parse_unsigned("get", "--retry", optarg, 0, 100000,
                                   &o.retries))
                return CLI_USAGE;
            break;
        case 't':
            if (cli_parse_seconds("get", "--timeout", optarg, false,
                                  &o.timeout_ms))
                return CLI_USAGE;
            break;
        case 'm':
            if (cli_parse_bytes("get", "--max-size", optarg, &o.max_bytes))
                return CLI_USAGE;
            break;
        case 'N':
            if (cli_parse_dns_cache("get", optarg, &o.dns_cache_s))
                return CLI_USAGE;
            break;
        case 'x':
            o.proxy = optarg;
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
    if (optind == argc && !inputs.n) {
        fputs("ungil get: no URL given (use URL arguments or -i FILE)\n", stderr);
        return CLI_USAGE;
    }
    if (cli_check_inputs("get", &inputs))
        return CLI_USAGE;
    if (cli_make_dir("get", dir))
        return CLI_ERROR;
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
    for (size_t i = 0; i < inputs.n; i++)
        if (cli_read_urls("get", inputs.paths[i], add_url, f) < 0) {
            status = CLI_USAGE;
            goto out;
        }
    const int *cancel = cli_catch_interrupt();
    st.start_ns = ug_clock_ns();
    rc = ug_fetch_run(f, cancel);
    if (st.tty && !st.quiet)
        fputs(CLI_CLEAR_LINE, stderr);
    if (rc == UG_ECANCELED) {
        fprintf(stderr, "ungil get: interrupted after %zu files\n", st.done);
        status = CLI_INTERRUPTED;
        goto out;
    }
    if (!st.quiet) {
        double secs = (ug_clock_ns() - st.start_ns) / 1e9;
        char bytes[32], rate[32];
        cli_human(bytes, sizeof bytes, (double)st.bytes);
        cli_human(rate, sizeof rate, secs > 0 ? st.bytes / secs : 0);
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
