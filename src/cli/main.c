/* main.c - the `ungil` command: finds the subcommand and runs it.
 *
 * `ungil <command> [arguments]` looks <command> up in the table below and
 * hands it the rest of the command line; adding a subcommand is one row
 * here plus its cmd_<name>.c.  Exit statuses follow enum cli_status: 0
 * done, 1 failed, 2 bad command line, 130 interrupted.  This file also
 * holds the helpers the subcommands share (see cli.h).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ungil/ungil.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *args;    /* shown after the name in the usage */
    const char *summary;
};

static const struct command commands[] = {
    {"get", cmd_get,
     "[URL...] [-i FILE|-] [-o DIR] [-j N] [--per-host N] [--retry N]\n"
     "          [--timeout S] [--max-size BYTES] [--quiet]",
     "download many URLs at once into DIR"},
    {"pictures", cmd_pictures,
     "[URL...] [-i FILE|-] -o DIR [--filter NAME] [-j N] [--per-host N]\n"
     "          [--threads N] [--format png|jpeg] [--trace FILE.svg|FILE.json]\n"
     "          [--quiet]",
     "download pictures, filter them (FIND_EDGES) and save them into DIR"},
    {"sum", cmd_sum, "N [-j THREADS] [--time]",
     "add 1 + 2 + ... + N with a native loop on THREADS threads"},
};

enum { NCOMMANDS = sizeof commands / sizeof *commands };

static void usage(FILE *out) {
    fputs("usage: ungil <command> [arguments]\n"
          "       ungil --help | --version\n"
          "\ncommands:\n",
          out);
    for (int i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %s %s\n      %s\n", commands[i].name, commands[i].args,
                commands[i].summary);
    fputs("\nRun 'ungil <command> --help' for the options of a command.\n",
          out);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") ||
        !strcmp(name, "help")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "-V")) {
        printf("ungil %s\n", UG_VERSION);
        return CLI_OK;
    }
    for (int i = 0; i < NCOMMANDS; i++)
        if (!strcmp(name, commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "ungil: unknown command '%s'\n\n", name);
    usage(stderr);
    return CLI_USAGE;
}

/* ---- helpers shared by the subcommands ---------------------------------- */

int cli_parse_u64(const char *s, uint64_t *out) {
    if (!*s)
        return UG_EINVAL;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return UG_EINVAL;
        unsigned digit = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - digit) / 10) {
            /* Still tell "123x" with a huge prefix apart from a number. */
            while (*++p)
                if (*p < '0' || *p > '9')
                    return UG_EINVAL;
            return UG_ERANGE;
        }
        v = v * 10 + digit;
    }
    *out = v;
    return 0;
}

/* Set by the SIGINT handler; read atomically by library loops. */
static int interrupted;

static void on_sigint(int sig) {
    __atomic_store_n(&interrupted, 1, __ATOMIC_RELAXED);
}

const int *cli_catch_interrupt(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C kills at once */
    if (sigaction(SIGINT, &sa, NULL) != 0)
        return NULL;
    return &interrupted;
}
