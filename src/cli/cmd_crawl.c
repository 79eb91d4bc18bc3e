/* cmd_crawl.c - `ungil crawl`: map a site and save its link graph.
 *
 *   ungil crawl URL... [--max-pages N] [--depth D] [-j N] [--per-host N]
 *               [--scope host|prefix] [--include RE] [--exclude RE]
 *               [--no-robots] [--user-agent S] [--delay S] [--timeout S]
 *               [--max-size BYTES] [--dns-cache S|run] [-x PROXY] [--html F]
 *               [--graphml F] [--json F] [--dot F] [--quiet]
 *
 * The crawl runs on the crawl engine (ungil/crawl.h).  On a terminal a
 * progress line shows pages, depth, queue and rate.  Without an output
 * file, each page is printed to stdout as it completes (status, depth,
 * URL, title, tab-separated); the graph files are written (atomically)
 * when the crawl ends, also after Ctrl-C with what was learned.  The
 * summary counts pages per status.  Exit status: 0 when the crawl ran
 * (pages that failed are part of the map), 1 when no start page could be
 * fetched or a file could not be written, 2 for a bad command line, 130
 * after Ctrl-C.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ungil/ungil.h"

enum { MAX_PATTERNS = 64, MAX_OUTPUTS = 8, NSTATUS = 600 };

struct crawl_state {
    bool tty, quiet, list;
    size_t pages, ok_seeds, failed;
    size_t by_status[NSTATUS]; /* index 0: no response */
    uint64_t bytes;
};

struct output {
    const char *path;
    int format;
};

static void usage(FILE *out) {
    fputs("usage: ungil crawl URL... [--max-pages N] [--depth D] [-j N]\n"
          "                   [--per-host N] [--scope host|prefix]\n"
          "                   [--include RE] [--exclude RE] [--no-robots]\n"
          "                   [--user-agent S] [--delay S] [--timeout S]\n"
          "                   [--max-size BYTES] [--dns-cache S|run]\n"
          "                   [-x PROXY] [--html F] [--graphml F] [--json F]\n"
          "                   [--dot F] [--quiet]\n"
          "\n"
          "Crawls breadth-first from URL and saves the link graph.  Without\n"
          "an output file, prints each page (status, depth, URL, title).\n"
          "\n"
          "  -n, --max-pages N   pages to fetch at most (default 1000; 0: no limit)\n"
          "  -d, --depth D       link distance from URL at most (default: none)\n"
          "  -j, --jobs N        transfers at once (default 64)\n"
          "      --per-host N    transfers at once per host (default 8)\n"
          "      --scope S       host (default): URL's host; prefix: under URL's\n"
          "                      directory\n"
          "      --include RE    follow only URLs matching RE (POSIX extended;\n"
          "                      repeatable: any of them)\n"
          "      --exclude RE    never follow URLs matching RE (repeatable)\n"
          "      --no-robots     ignore robots.txt (default: obey it)\n"
          "      --user-agent S  User-Agent header (default: " UG_CRAWL_USER_AGENT ")\n"
          "      --delay S       seconds between requests to one host (default 0)\n"
          "      --timeout S     seconds per transfer (default 30)\n"
          "      --max-size B    cut bodies at B bytes (default 10 MiB)\n"
          "      --dns-cache S   seconds a DNS answer is reused (default run:\n"
          "                      for the whole crawl)\n"
          "  -x, --proxy PROXY   proxy for every transfer, as curl takes it\n"
          "                      (\"\": none; default: from http_proxy,\n"
          "                      https_proxy, all_proxy and no_proxy)\n"
          "      --html F        write an interactive page (offline) to F\n"
          "      --graphml F     write GraphML (networkx, Gephi) to F\n"
          "      --json F        write JSON to F\n"
          "      --dot F         write Graphviz DOT to F\n"
          "  -q, --quiet         no progress, no page list, no summary\n"
          "  -h, --help          show this help\n",
          out);
}

static void on_progress(void *ctx, const ug_crawl_progress *p) {
    struct crawl_state *st = ctx;
    if (!st->tty || st->quiet)
        return;
    char bytes[32];
    cli_human(bytes, sizeof bytes, (double)p->bytes);
    double rate = p->elapsed_s > 0 ? (double)p->pages / p->elapsed_s : 0;
    fprintf(stderr, CLI_CLEAR_LINE "[depth %d] %zu pages, %zu queued, %zu active, "
                    "%s, %.0f pages/s%s",
            p->depth, p->pages, p->queued, p->active, bytes, rate,
            p->failed ? "  (some failed)" : "");
    fflush(stderr);
}

/* Prints a field for the page list: tabs and line breaks become spaces. */
static void print_field(const char *s) {
    for (; s && *s; s++)
        putchar(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s);
}

static void on_page(void *ctx, const ug_crawl_page *p) {
    struct crawl_state *st = ctx;
    st->pages++;
    st->bytes += p->bytes;
    st->failed += p->error != 0;
    st->by_status[p->status > 0 && p->status < NSTATUS ? p->status : 0]++;
    if (p->depth == 0 && !p->error)
        st->ok_seeds++;
    if (!st->list)
        return;
    if (st->tty && !st->quiet)
        fputs(CLI_CLEAR_LINE, stderr);
    printf("%ld\t%d\t", p->status, p->depth);
    print_field(p->url);
    putchar('\t');
    print_field(p->title ? p->title : (p->error ? p->message : ""));
    putchar('\n');
    fflush(stdout);
}

static int add_pattern(const char *opt, const char *re, const char **list,
                       size_t *n) {
    char message[256];
    if (*n == MAX_PATTERNS) {
        fprintf(stderr, "ungil crawl: too many %s options\n", opt);
        return -1;
    }
    if (ug_crawl_check_pattern(re, message, sizeof message)) {
        fprintf(stderr, "ungil crawl: bad %s pattern '%s': %s\n", opt, re,
                message);
        return -1;
    }
    list[(*n)++] = re;
    return 0;
}

static void summary(const struct crawl_state *st, const ug_graph *g,
                    double secs) {
    fprintf(stderr, "%zu pages in %.2f s (%.0f pages/s), ", st->pages, secs,
            secs > 0 ? (double)st->pages / secs : 0);
    char bytes[32];
    cli_human(bytes, sizeof bytes, (double)st->bytes);
    fprintf(stderr, "%s; graph: %zu nodes, %zu edges\n  status:", bytes,
            ug_graph_node_count(g), ug_graph_edge_count(g));
    for (int s = 1; s < NSTATUS; s++)
        if (st->by_status[s])
            fprintf(stderr, " %d x%zu", s, st->by_status[s]);
    if (st->by_status[0])
        fprintf(stderr, " no response x%zu", st->by_status[0]);
    fputc('\n', stderr);
}

int cmd_crawl(int argc, char **argv) {
    static const struct option longopts[] = {
        {"max-pages", required_argument, NULL, 'n'},
        {"depth", required_argument, NULL, 'd'},
        {"jobs", required_argument, NULL, 'j'},
        {"per-host", required_argument, NULL, 'H'},
        {"scope", required_argument, NULL, 's'},
        {"include", required_argument, NULL, 'I'},
        {"exclude", required_argument, NULL, 'X'},
        {"no-robots", no_argument, NULL, 'R'},
        {"user-agent", required_argument, NULL, 'A'},
        {"delay", required_argument, NULL, 'D'},
        {"timeout", required_argument, NULL, 't'},
        {"max-size", required_argument, NULL, 'm'},
        {"dns-cache", required_argument, NULL, 'N'},
        {"proxy", required_argument, NULL, 'x'},
        {"html", required_argument, NULL, 'h' + 256},
        {"graphml", required_argument, NULL, 'g'},
        {"json", required_argument, NULL, 'J'},
        {"dot", required_argument, NULL, 'G'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct crawl_state st = {.tty = isatty(STDERR_FILENO)};
    ug_crawl_options o;
    ug_crawl_options_init(&o);
    const char *include[MAX_PATTERNS], *exclude[MAX_PATTERNS];
    struct output outputs[MAX_OUTPUTS];
    size_t noutputs = 0;
    uint64_t v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "n:d:j:x:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (cli_parse_count("crawl", "--max-pages", optarg, 0, SIZE_MAX,
                                &v))
                return CLI_USAGE;
            o.max_pages = (size_t)v;
            break;
        case 'd':
            if (cli_parse_count("crawl", "--depth", optarg, 0, 1000000, &v))
                return CLI_USAGE;
            o.max_depth = (int)v;
            break;
        case 'j':
            if (cli_parse_count("crawl", "-j", optarg, 1, 100000, &v))
                return CLI_USAGE;
            o.concurrency = (unsigned)v;
            break;
        case 'H':
            if (cli_parse_count("crawl", "--per-host", optarg, 1, 100000, &v))
                return CLI_USAGE;
            o.per_host = (unsigned)v;
            break;
        case 's':
            if (!strcmp(optarg, "host"))
                o.scope = UG_CRAWL_HOST;
            else if (!strcmp(optarg, "prefix"))
                o.scope = UG_CRAWL_PREFIX;
            else {
                fprintf(stderr, "ungil crawl: --scope is host or prefix, not "
                                "'%s'\n", optarg);
                return CLI_USAGE;
            }
            break;
        case 'I':
            if (add_pattern("--include", optarg, include, &o.ninclude))
                return CLI_USAGE;
            break;
        case 'X':
            if (add_pattern("--exclude", optarg, exclude, &o.nexclude))
                return CLI_USAGE;
            break;
        case 'R':
            o.robots = 0;
            break;
        case 'A':
            o.user_agent = optarg;
            break;
        case 'x':
            o.proxy = optarg;
            break;
        case 'D':
            if (cli_parse_seconds("crawl", "--delay", optarg, true,
                                  &o.delay_ms))
                return CLI_USAGE;
            break;
        case 't':
            if (cli_parse_seconds("crawl", "--timeout", optarg, true,
                                  &o.timeout_ms))
                return CLI_USAGE;
            break;
        case 'm':
            if (cli_parse_bytes("crawl", "--max-size", optarg, &o.max_bytes))
                return CLI_USAGE;
            break;
        case 'N':
            if (cli_parse_dns_cache("crawl", optarg, &o.dns_cache_s))
                return CLI_USAGE;
            break;
        case 'h' + 256:
        case 'g':
        case 'J':
        case 'G':
            if (noutputs == MAX_OUTPUTS) {
                fputs("ungil crawl: too many output files\n", stderr);
                return CLI_USAGE;
            }
            outputs[noutputs].path = optarg;
            outputs[noutputs++].format = c == 'g'   ? UG_GRAPH_GRAPHML
                                         : c == 'J' ? UG_GRAPH_JSON
                                         : c == 'G' ? UG_GRAPH_DOT
                                                    : UG_GRAPH_HTML;
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
    if (optind == argc) {
        fputs("ungil crawl: no start URL given\n", stderr);
        return CLI_USAGE;
    }
    o.include = include;
    o.exclude = exclude;
    o.on_page = on_page;
    o.on_progress = on_progress;
    o.ctx = &st;
    st.list = !noutputs && !st.quiet;
    ug_crawl *crawl = NULL;
    int rc = ug_crawl_new(&o, &crawl);
    if (rc) {
        fprintf(stderr, "ungil crawl: %s\n", ug_strerror(rc));
        return CLI_ERROR;
    }
    int status = CLI_OK;
    for (int i = optind; i < argc; i++) {
        rc = ug_crawl_add_seed(crawl, argv[i]);
        if (rc) {
            fprintf(stderr, "ungil crawl: %s: %s\n", argv[i],
                    rc == UG_EURL ? "not an http(s) URL" : ug_strerror(rc));
            status = rc == UG_EURL ? CLI_USAGE : CLI_ERROR;
            goto out;
        }
    }
    const int *cancel = cli_catch_interrupt();
    uint64_t start = ug_clock_ns();
    rc = ug_crawl_run(crawl, cancel);
    double secs = (ug_clock_ns() - start) / 1e9;
    if (st.tty && !st.quiet)
        fputs(CLI_CLEAR_LINE, stderr);
    if (rc == UG_ECANCELED) {
        fprintf(stderr, "ungil crawl: interrupted after %zu pages\n", st.pages);
        status = CLI_INTERRUPTED;
    } else if (rc) {
        fprintf(stderr, "ungil crawl: %s\n", ug_strerror(rc));
        status = CLI_ERROR;
    }
    const ug_graph *g = ug_crawl_graph(crawl);
    for (size_t i = 0; i < noutputs; i++) {
        int wrc = ug_graph_save(g, outputs[i].format, argv[optind],
                                outputs[i].path);
        if (wrc) {
            fprintf(stderr, "ungil crawl: cannot write %s: %s\n",
                    outputs[i].path, ug_strerror(wrc));
            status = status == CLI_OK ? CLI_ERROR : status;
        } else if (!st.quiet) {
            fprintf(stderr, "wrote %s\n", outputs[i].path);
        }
    }
    if (!st.quiet)
        summary(&st, g, secs);
    if (status == CLI_OK && !st.ok_seeds) {
        fputs("ungil crawl: no start page could be fetched\n", stderr);
        status = CLI_ERROR;
    }
out:
    ug_crawl_free(crawl);
    return status;
}
