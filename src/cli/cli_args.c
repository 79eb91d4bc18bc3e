/* cli_args.c - option values the subcommands parse the same way.
 *
 * Counts, durations in seconds, byte sizes and output formats, each
 * checked against its range; on a bad value the helper prints one line,
 * "ungil CMD: OPT needs ..., not 'VALUE'", to stderr and returns -1, so the
 * subcommand only has to return CLI_USAGE.  See cli.h.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "cli.h"
#include "ungil/ungil.h"

int cli_parse_count(const char *cmd, const char *opt, const char *s,
                    uint64_t min, uint64_t max, uint64_t *out) {
    if (cli_parse_u64(s, out) || *out < min || *out > max) {
        fprintf(stderr, "ungil %s: %s needs a number from %llu to %llu, "
                        "not '%s'\n", cmd, opt, (unsigned long long)min,
                (unsigned long long)max, s);
        return -1;
    }
    return 0;
}

int cli_parse_unsigned(const char *cmd, const char *opt, const char *s,
                       unsigned min, unsigned max, unsigned *out) {
    uint64_t v;
    if (cli_parse_count(cmd, opt, s, min, max, &v))
        return -1;
    *out = (unsigned)v;
    return 0;
}

int cli_parse_seconds(const char *cmd, const char *opt, const char *s,
                      bool allow_zero, unsigned *ms) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(allow_zero ? v >= 0 : v > 0) || v > 4e6) {
        fprintf(stderr, "ungil %s: %s needs seconds, not '%s'\n", cmd, opt, s);
        return -1;
    }
    *ms = v > 0 && v < 0.001 ? 1 : (unsigned)(v * 1000);
    return 0;
}

int cli_parse_dns_cache(const char *cmd, const char *s, long *out) {
    if (!strcasecmp(s, "run")) {
        *out = -1;
        return 0;
    }
    uint64_t v;
    if (cli_parse_u64(s, &v) || v > 100000000) {
        fprintf(stderr, "ungil %s: --dns-cache needs whole seconds or 'run', "
                        "not '%s'\n", cmd, s);
        return -1;
    }
    *out = (long)v;
    return 0;
}

int cli_parse_bytes(const char *cmd, const char *opt, const char *s,
                    uint64_t *out) {
    if (cli_parse_u64(s, out) || !*out) {
        fprintf(stderr, "ungil %s: %s needs bytes, not '%s'\n", cmd, opt, s);
        return -1;
    }
    return 0;
}

int cli_parse_format(const char *s, ug_image_format *format) {
    if (!strcasecmp(s, "png"))
        *format = UG_FORMAT_PNG;
    else if (!strcasecmp(s, "jpeg") || !strcasecmp(s, "jpg"))
        *format = UG_FORMAT_JPEG;
    else
        return -1;
    return 0;
}
