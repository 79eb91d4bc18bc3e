/* cli.h - what the subcommands of the `ungil` tool share with main.c.
 *
 * Each subcommand lives in its own cmd_<name>.c with one entry point,
 * `int cmd_<name>(int argc, char **argv)`, where argv[0] is the subcommand's
 * name; it returns the process exit status.  main.c holds the table that
 * maps names to entry points, and the few helpers below.  The tool uses
 * only the public headers of libungil (include/ungil/), like any other
 * program would.
 */
#ifndef UNGIL_CLI_H
#define UNGIL_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ungil/image.h"

/* Exit statuses, as shells and scripts expect them. */
enum cli_status {
    CLI_OK = 0,
    CLI_ERROR = 1,         /* the work failed */
    CLI_USAGE = 2,         /* bad command line */
    CLI_INTERRUPTED = 130  /* stopped by Ctrl-C (128 + SIGINT) */
};

/* Parses a decimal number from 0 to 2^64 - 1: digits only, no sign, no
 * spaces.  Returns 0 and sets *out, UG_EINVAL if `s` is not such a number
 * or UG_ERANGE if it is too large. */
int cli_parse_u64(const char *s, uint64_t *out);

/* Makes the first Ctrl-C (SIGINT) set a flag instead of killing the
 * process, and returns that flag for the `cancel` argument of library
 * calls; a second Ctrl-C kills as usual.  Returns NULL if the handler
 * cannot be installed. */
const int *cli_catch_interrupt(void);

/* ---- option values (cli_args.c) ----------------------------------------
 * `cmd` is the subcommand's name and `opt` the option as the user knows it
 * ("-j", "--timeout"); on a bad value these print "ungil CMD: OPT needs
 * ..., not 'S'" to stderr and return -1, else they set *out and return 0. */

/* A decimal number from `min` to `max`. */
int cli_parse_count(const char *cmd, const char *opt, const char *s,
                    uint64_t min, uint64_t max, uint64_t *out);

/* The same for an unsigned int option (max must fit in unsigned). */
int cli_parse_unsigned(const char *cmd, const char *opt, const char *s,
                       unsigned min, unsigned max, unsigned *out);

/* Seconds (a decimal fraction, at most 4e6; 0 only if `allow_zero`) into
 * milliseconds in *ms, at least 1 for any positive value. */
int cli_parse_seconds(const char *cmd, const char *opt, const char *s,
                      bool allow_zero, unsigned *ms);

/* --dns-cache: whole seconds, or "run" (-1: answers kept for the run). */
int cli_parse_dns_cache(const char *cmd, const char *s, long *out);

/* A byte size, at least 1. */
int cli_parse_bytes(const char *cmd, const char *opt, const char *s,
                    uint64_t *out);

/* "png", "jpeg" or "jpg" (any case) into *format; returns -1 for anything
 * else without printing (the subcommands word that message themselves). */
int cli_parse_format(const char *s, ug_image_format *format);

/* ---- URL lists and directories (cli_urls.c) ----------------------------- */

/* The `-i FILE|-` options of one command line, in order. */
enum { CLI_MAX_INPUTS = 64 };
struct cli_inputs {
    const char *paths[CLI_MAX_INPUTS];
    size_t n;
};

/* Appends `path` to `in`; prints "ungil CMD: too many -i options" and
 * returns -1 when it is full. */
int cli_inputs_add(const char *cmd, struct cli_inputs *in, const char *path);

/* Checks that every path of `in` but "-" is readable, before any work
 * starts; prints why not and returns -1 at the first that is not. */
int cli_check_inputs(const char *cmd, const struct cli_inputs *in);

/* Reads the URL list `path` ("-": stdin): one URL a line, surrounding
 * spaces and tabs trimmed, blank lines and lines starting with '#'
 * skipped; calls add(ctx, url) for each (url is valid during the call
 * only; add returns < 0 for out of memory).  Returns the number of URLs,
 * or -1 after printing why the file cannot be read or what failed. */
long cli_read_urls(const char *cmd, const char *path,
                   int (*add)(void *ctx, const char *url), void *ctx);

/* Creates directory `dir` unless it exists; prints why not and returns -1
 * on failure. */
int cli_make_dir(const char *cmd, const char *dir);

/* ---- output for people (cli_human.c) ------------------------------------ */

/* Erases the progress line on a terminal (carriage return, clear line). */
#define CLI_CLEAR_LINE "\r\033[K"

/* Writes `n` bytes as "512 B", "1.5 kB", "12.3 MB"... (powers of 1000)
 * into buf. */
void cli_human(char *buf, size_t size, double n);

/* The subcommands. */
int cmd_filter(int argc, char **argv);
int cmd_crawl(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_pictures(int argc, char **argv);
int cmd_sum(int argc, char **argv);

#endif
