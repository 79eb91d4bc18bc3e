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

#include <stdint.h>

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

/* The subcommands. */
int cmd_get(int argc, char **argv);
int cmd_pictures(int argc, char **argv);
int cmd_sum(int argc, char **argv);

#endif
