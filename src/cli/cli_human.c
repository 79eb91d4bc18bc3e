/* cli_human.c - numbers for people on the progress line and in summaries.
 * See cli.h.
 */
#include <stdio.h>

#include "cli.h"

void cli_human(char *buf, size_t size, double n) {
    const char *units[] = {"B", "kB", "MB", "GB", "TB"};
    int u = 0;
    while (n >= 1000 && u < 4) {
        n /= 1000;
        u++;
    }
    snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", n, units[u]);
}
