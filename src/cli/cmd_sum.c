/* cmd_sum.c - `ungil sum N [-j THREADS] [--time]`: the course's sum_upto.
 *
 * Adds 1 + 2 + ... + N with ug_sum_upto, the range split over THREADS
 * threads (default: one per online CPU), and prints the exact sum, which
 * may need up to 39 digits.  With --time it also reports on stderr how long
 * the loop took ("2 thread(s): 0.512 s"), so that runs with different -j
 * compare directly.  Ctrl-C sets the loop's cancel flag; every thread sees
 * it within a few milliseconds, and the command exits with status 130.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ungil/ungil.h"

enum { MAX_THREADS = 4096 }; /* the pool's own limit */

struct sum_options {
    uint64_t n;
    unsigned threads; /* 0 = one per online CPU */
    bool time;
    bool help;
};

static void usage(FILE *out) {
    fputs("usage: ungil sum N [-j THREADS] [--time]\n"
          "\n"
          "Adds 1 + 2 + ... + N (N from 0 to 18446744073709551615) with a\n"
          "native loop split over THREADS threads and prints the exact sum.\n"
          "\n"
          "  -j, --threads THREADS  threads to use (default: one per CPU)\n"
          "      --time             print the loop's wall time on stderr\n"
          "  -h, --help             show this help\n",
          out);
}

static int parse_threads(const char *s, unsigned *out) {
    uint64_t v;
    if (cli_parse_u64(s, &v) != 0 || v < 1 || v > MAX_THREADS) {
        fprintf(stderr, "ungil sum: THREADS must be a number from 1 to %d, "
                        "not '%s'\n", MAX_THREADS, s);
        return CLI_USAGE;
    }
    *out = (unsigned)v;
    return CLI_OK;
}

static int parse_n(const char *s, uint64_t *out) {
    int rc = cli_parse_u64(s, out);
    if (rc == UG_ERANGE)
        fprintf(stderr, "ungil sum: N is too large: '%s' is over "
                        "18446744073709551615 (2^64 - 1)\n", s);
    else if (rc)
        fprintf(stderr, "ungil sum: N must be a whole number from 0 to "
                        "18446744073709551615, not '%s'\n", s);
    return rc ? CLI_USAGE : CLI_OK;
}

/* Fills *o from the arguments after "sum".  Options may come before or
 * after N; "--" ends the options.  Returns CLI_OK or CLI_USAGE after
 * printing why. */
static int parse_args(int argc, char **argv, struct sum_options *o) {
    memset(o, 0, sizeof *o);
    const char *n_text = NULL;
    bool options = true;
    int status = CLI_OK;
    for (int i = 1; i < argc && status == CLI_OK; i++) {
        const char *a = argv[i];
        /* "-5" is a (negative) N, for a clear message, not an option. */
        bool is_option = options && a[0] == '-' && a[1] &&
                         !(a[1] >= '0' && a[1] <= '9');
        if (!is_option) {
            if (n_text) {
                fprintf(stderr, "ungil sum: unexpected argument '%s'\n", a);
                status = CLI_USAGE;
            }
            n_text = a;
        } else if (!strcmp(a, "--")) {
            options = false;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            o->help = true;
            return CLI_OK;
        } else if (!strcmp(a, "--time")) {
            o->time = true;
        } else if (!strcmp(a, "-j") || !strcmp(a, "--threads")) {
            if (i + 1 == argc) {
                fprintf(stderr, "ungil sum: %s needs a number of threads\n", a);
                status = CLI_USAGE;
            } else {
                status = parse_threads(argv[++i], &o->threads);
            }
        } else if (!strncmp(a, "-j", 2)) {
            status = parse_threads(a + 2, &o->threads);
        } else if (!strncmp(a, "--threads=", 10)) {
            status = parse_threads(a + 10, &o->threads);
        } else {
            fprintf(stderr, "ungil sum: unknown option '%s'\n", a);
            status = CLI_USAGE;
        }
    }
    if (status == CLI_OK && !n_text) {
        fputs("ungil sum: missing N\n", stderr);
        status = CLI_USAGE;
    }
    if (status == CLI_OK)
        status = parse_n(n_text, &o->n);
    if (status != CLI_OK)
        fputs("Run 'ungil sum --help' for usage.\n", stderr);
    return status;
}

int cmd_sum(int argc, char **argv) {
    struct sum_options o;
    int status = parse_args(argc, argv, &o);
    if (status != CLI_OK)
        return status;
    if (o.help) {
        usage(stdout);
        return CLI_OK;
    }

    ug_pool *pool = NULL;
    status = CLI_ERROR;
    const int *cancel = cli_catch_interrupt();
    if (!cancel) {
        perror("ungil sum: cannot catch Ctrl-C");
        goto out;
    }
    ug_pool_options opts;
    ug_pool_options_init(&opts);
    opts.workers = o.threads;
    int rc = ug_pool_new(&opts, &pool);
    if (rc) {
        fprintf(stderr, "ungil sum: cannot start the threads: %s\n",
                ug_strerror(rc));
        goto out;
    }
    /* The caller works inside ug_sum_upto too, so THREADS parts keep
     * exactly THREADS threads busy. */
    unsigned threads = ug_pool_workers(pool);
    ug_u128 sum;
    uint64_t t0 = ug_clock_ns();
    rc = ug_sum_upto(pool, o.n, threads, cancel, &sum);
    double seconds = (double)(ug_clock_ns() - t0) / 1e9;
    if (rc == UG_ECANCELED) {
        fputs("ungil sum: interrupted\n", stderr);
        status = CLI_INTERRUPTED;
        goto out;
    }
    if (rc) {
        fprintf(stderr, "ungil sum: %s\n", ug_strerror(rc));
        goto out;
    }
    char digits[40];
    ug_u128_format(sum, digits);
    printf("%s\n", digits);
    if (fflush(stdout) != 0) {
        perror("ungil sum: cannot write the result");
        goto out;
    }
    if (o.time)
        fprintf(stderr, "%u thread(s): %.3f s\n", threads, seconds);
    status = CLI_OK;
out:
    ug_pool_free(pool);
    return status;
}
