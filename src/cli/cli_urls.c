/* cli_urls.c - the `-i FILE|-` URL lists and the output directory.
 *
 * A URL list has one URL a line; blank lines, surrounding spaces and tabs,
 * and lines starting with '#' are skipped; "-" is standard input.  The
 * helpers print their own one-line error ("ungil CMD: ...") to stderr.
 * See cli.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

int cli_inputs_add(const char *cmd, struct cli_inputs *in, const char *path) {
    if (in->n == CLI_MAX_INPUTS) {
        fprintf(stderr, "ungil %s: too many -i options\n", cmd);
        return -1;
    }
    in->paths[in->n++] = path;
    return 0;
}

int cli_check_inputs(const char *cmd, const struct cli_inputs *in) {
    for (size_t i = 0; i < in->n; i++)
        if (strcmp(in->paths[i], "-") && access(in->paths[i], R_OK)) {
            fprintf(stderr, "ungil %s: cannot read %s: %s\n", cmd,
                    in->paths[i], strerror(errno));
            return -1;
        }
    return 0;
}

long cli_read_urls(const char *cmd, const char *path,
                   int (*add)(void *ctx, const char *url), void *ctx) {
    FILE *in = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!in) {
        fprintf(stderr, "ungil %s: cannot read %s: %s\n", cmd, path,
                strerror(errno));
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
        if (add(ctx, url) < 0) {
            count = -1;
            fprintf(stderr, "ungil %s: out of memory\n", cmd);
            break;
        }
        count++;
    }
    free(line);
    if (in != stdin)
        fclose(in);
    return count;
}

int cli_make_dir(const char *cmd, const char *dir) {
    if (mkdir(dir, 0755) && errno != EEXIST) {
        fprintf(stderr, "ungil %s: cannot create %s: %s\n", cmd, dir,
                strerror(errno));
        return -1;
    }
    return 0;
}
