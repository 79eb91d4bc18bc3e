/* trace_write.c - renders a trace as Chrome trace JSON or as an SVG timeline.
 *
 * Both writers walk the events with ug_trace_foreach, so they see every
 * event published when they start and may run while others still record.
 *
 * The SVG draws one lane per thread and one bar per event, with the time
 * axis in seconds.  Each bar carries a tooltip (<title>) with its label,
 * start and duration; bars wide enough also show them as text, like the
 * course's hand-drawn timelines ("starts at 0, takes 0.5 seconds"); rows
 * are sorted by thread name.  Runs of
 * events thinner than a pixel that touch each other merge into one bar
 * whose tooltip counts them, so a million tiny tasks give a small file.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ungil/error.h"
#include "ungil/trace.h"

/* ---- shared helpers --------------------------------------------------- */

static void put_json_string(FILE *out, const char *s) {
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

static void put_xml_text(FILE *out, const char *s, size_t max_chars) {
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (max_chars && n == max_chars) {
            fputs("\xe2\x80\xa6", out); /* an ellipsis */
            return;
        }
        /* Count characters, not UTF-8 continuation bytes. */
        if ((*p & 0xC0) != 0x80)
            n++;
        switch (*p) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        default:
            if (*p >= 0x20 || *p == '\t')
                fputc(*p, out);
        }
    }
}

/* Formats a duration with a unit fitting its size: "0.500 s", "12.3 ms",
 * "45.0 µs", "800 ns". */
static void fmt_time(char *buf, size_t size, double ns) {
    if (ns >= 1e9)
        snprintf(buf, size, "%.3f s", ns / 1e9);
    else if (ns >= 1e6)
        snprintf(buf, size, "%.3g ms", ns / 1e6);
    else if (ns >= 1e3)
        snprintf(buf, size, "%.3g \xc2\xb5s", ns / 1e3);
    else
        snprintf(buf, size, "%.0f ns", ns);
}

/* ---- JSON ------------------------------------------------------------- */

struct json_ctx {
    FILE *out;
    bool first;
    int lane; /* the lane whose thread_name record was written last */
};

static int json_event(const ug_trace_event *ev, void *arg) {
    struct json_ctx *c = arg;
    if ((int)ev->lane != c->lane) {
        /* Lanes come one after another: name each before its events. */
        c->lane = (int)ev->lane;
        fprintf(c->out, "%s\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,"
                        "\"tid\":%u,\"args\":{\"name\":",
                c->first ? "" : ",", ev->lane);
        put_json_string(c->out, ev->lane_name);
        fputs("}}", c->out);
        c->first = false;
    }
    fputs(",\n{\"name\":", c->out);
    put_json_string(c->out, ev->label);
    fprintf(c->out,
            ",\"cat\":\"ungil\",\"ph\":\"X\",\"pid\":1,\"tid\":%u,"
            "\"ts\":%.3f,\"dur\":%.3f,\"args\":{\"arg\":%llu}}",
            ev->lane, ev->start_ns / 1e3,
            (ev->end_ns >= ev->start_ns ? ev->end_ns - ev->start_ns : 0) / 1e3,
            (unsigned long long)ev->arg);
    return 0;
}

int ug_trace_write_json(ug_trace *t, FILE *out) {
    struct json_ctx c = {.out = out, .first = true, .lane = -1};
    fputs("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[", out);
    ug_trace_foreach(t, json_event, &c);
    fputs("\n]}\n", out);
    return ferror(out) ? UG_EIO : 0;
}

/* ---- SVG -------------------------------------------------------------- */

enum {
    SVG_WIDTH = 1200,
    SVG_LEFT = 140,
    SVG_RIGHT = 30,
    SVG_TOP = 64,
    LANE_H = 40,
    BAR_H = 30,
};

static const char *const palette[] = {
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
};

static const char *label_colour(const char *label) {
    unsigned h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)label; *p; p++)
        h = (h ^ *p) * 16777619u;
    return palette[h % (sizeof palette / sizeof *palette)];
}

/* What the first pass learns: the time span, and the lanes' names so that
 * rows can be drawn in natural order ("worker 2" before "worker 10")
 * rather than in the racy order in which threads started. */
struct extent {
    uint64_t end;
    unsigned lanes;
    char **names; /* by lane index, NULL for lanes without events */
    unsigned names_cap;
    bool oom;
};

static int extent_event(const ug_trace_event *ev, void *arg) {
    struct extent *x = arg;
    if (ev->end_ns > x->end)
        x->end = ev->end_ns;
    if (ev->lane + 1 > x->lanes)
        x->lanes = ev->lane + 1;
    if (ev->lane >= x->names_cap) {
        unsigned cap = ev->lane + 16;
        char **grown = realloc(x->names, cap * sizeof *grown);
        if (!grown) {
            x->oom = true;
            return 1;
        }
        memset(grown + x->names_cap, 0, (cap - x->names_cap) * sizeof *grown);
        x->names = grown;
        x->names_cap = cap;
    }
    if (!x->names[ev->lane] && !(x->names[ev->lane] = strdup(ev->lane_name))) {
        x->oom = true;
        return 1;
    }
    return 0;
}

/* Sorts lane indices by name; an insertion sort, as lanes are few. */
static void sort_lanes(unsigned *order, unsigned n, char *const *names) {
    for (unsigned i = 1; i < n; i++) {
        unsigned v = order[i], j = i;
        const char *name = names[v] ? names[v] : "";
        while (j > 0 &&
               strverscmp(names[order[j - 1]] ? names[order[j - 1]] : "", name) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
}

/* A bar waiting to be drawn, possibly several merged thin events. */
struct bar {
    bool open;
    unsigned lane;
    double x0, x1;
    uint64_t start, end;
    size_t count;
    const char *label; /* of the first event; owned by the trace */
};

struct svg_ctx {
    FILE *out;
    double scale; /* pixels per nanosecond */
    const unsigned *row; /* row of each lane */
    unsigned lanes;      /* lanes seen by the first pass */
    uint64_t end;        /* end of the time axis */
    struct bar bar;
    int lane_seen; /* last lane whose name was drawn, -1 before any */
};

static void svg_flush(struct svg_ctx *c) {
    struct bar *b = &c->bar;
    if (!b->open)
        return;
    b->open = false;
    double y = SVG_TOP + c->row[b->lane] * LANE_H + (LANE_H - BAR_H) / 2.0;
    double w = b->x1 - b->x0 < 1.0 ? 1.0 : b->x1 - b->x0;
    char at[32], took[32];
    fmt_time(at, sizeof at, (double)b->start);
    fmt_time(took, sizeof took, (double)(b->end - b->start));
    FILE *out = c->out;
    fprintf(out, "<g><rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%d\" "
                 "fill=\"%s\" stroke=\"#fff\" stroke-width=\"0.5\"/><title>",
            b->x0, y, w, BAR_H, label_colour(b->label));
    if (b->count > 1) {
        fprintf(out, "%zu events (", b->count);
        put_xml_text(out, b->label, 0);
        fprintf(out, "\xe2\x80\xa6) from %s, spanning %s</title>", at, took);
    } else {
        put_xml_text(out, b->label, 0);
        fprintf(out, ": starts at %s, takes %s</title>", at, took);
    }
    if (w >= 60) {
        size_t chars = (size_t)(w / 6.5);
        fprintf(out, "<text x=\"%.2f\" y=\"%.1f\" class=\"l\">", b->x0 + 3,
                y + 12);
        if (b->count > 1)
            fprintf(out, "%zu\xc3\x97 ", b->count);
        put_xml_text(out, b->label, chars);
        fprintf(out, "</text><text x=\"%.2f\" y=\"%.1f\" class=\"t\">", b->x0 + 3,
                y + 25);
        char line[96];
        snprintf(line, sizeof line, "starts at %s, takes %s", at, took);
        put_xml_text(out, line, chars);
        fputs("</text>", out);
    }
    fputs("</g>\n", out);
}

static int svg_event(const ug_trace_event *ev, void *arg) {
    struct svg_ctx *c = arg;
    /* Events recorded after the first pass are not on the axes: skip them. */
    if (ev->lane >= c->lanes || ev->end_ns > c->end)
        return 0;
    if ((int)ev->lane != c->lane_seen) {
        svg_flush(c);
        c->lane_seen = (int)ev->lane;
        fprintf(c->out, "<text x=\"%d\" y=\"%.1f\" class=\"n\">", SVG_LEFT - 8,
                SVG_TOP + c->row[ev->lane] * LANE_H + LANE_H / 2.0 + 4);
        put_xml_text(c->out, ev->lane_name, 18);
        fputs("</text>\n", c->out);
    }
    uint64_t end = ev->end_ns >= ev->start_ns ? ev->end_ns : ev->start_ns;
    double x0 = SVG_LEFT + ev->start_ns * c->scale;
    double x1 = SVG_LEFT + end * c->scale;
    struct bar *b = &c->bar;
    bool thin = x1 - x0 < 1.0;
    /* An open bar always began thin (wide ones are flushed at once). */
    if (thin && b->open && b->lane == ev->lane && x0 <= b->x1 + 1.0) {
        /* Thin and touching the open bar: merge. */
        if (x1 > b->x1)
            b->x1 = x1;
        if (end > b->end)
            b->end = end;
        b->count++;
        return 0;
    }
    svg_flush(c);
    *b = (struct bar){.open = true, .lane = ev->lane, .x0 = x0, .x1 = x1,
                      .start = ev->start_ns, .end = end, .count = 1,
                      .label = ev->label};
    if (!thin)
        svg_flush(c); /* wide bars never absorb others */
    return 0;
}

static double nice_step(double span) {
    double raw = span / 10;
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

int ug_trace_write_svg(ug_trace *t, FILE *out, const char *title) {
    struct extent x = {0};
    unsigned *order = NULL, *row = NULL;
    int rc = UG_ENOMEM;
    ug_trace_foreach(t, extent_event, &x);
    if (x.oom)
        goto out;
    order = malloc((x.lanes + 1) * sizeof *order);
    row = malloc((x.lanes + 1) * sizeof *row);
    if (!order || !row)
        goto out;
    for (unsigned i = 0; i < x.lanes; i++)
        order[i] = i;
    sort_lanes(order, x.lanes, x.names);
    for (unsigned i = 0; i < x.lanes; i++)
        row[order[i]] = i;
    if (x.end == 0)
        x.end = 1000000; /* an empty trace still gets a 1 ms axis */
    unsigned lanes = x.lanes ? x.lanes : 1;
    int height = SVG_TOP + (int)lanes * LANE_H + 30;
    double plot_w = SVG_WIDTH - SVG_LEFT - SVG_RIGHT;

    fprintf(out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n"
            "<style>.n{font-size:13px;text-anchor:end;fill:#222}"
            ".l{font-size:11px;fill:#fff;font-weight:bold}"
            ".t{font-size:10px;fill:#fff}.a{font-size:11px;fill:#555;"
            "text-anchor:middle}.h{font-size:16px;fill:#111}</style>\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n",
            SVG_WIDTH, height, SVG_WIDTH, height);
    fputs("<text x=\"10\" y=\"22\" class=\"h\">", out);
    put_xml_text(out, title && *title ? title : "ungil timeline", 0);
    fprintf(out, "</text>\n<text x=\"10\" y=\"40\" class=\"a\" "
                 "style=\"text-anchor:start\">%zu events on %u threads; "
                 "time in seconds from the start of the trace</text>\n",
            ug_trace_count(t), x.lanes);

    /* Lane backgrounds, then the time axis with a grid line per tick. */
    for (unsigned i = 0; i < lanes; i++)
        fprintf(out, "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%d\" "
                     "fill=\"%s\"/>\n",
                SVG_LEFT, SVG_TOP + (int)i * LANE_H, plot_w, LANE_H,
                i % 2 ? "#f4f4f4" : "#eaeaea");
    double span_s = x.end / 1e9;
    double step = nice_step(span_s);
    int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    for (int k = 0; k * step <= span_s * (1 + 1e-9); k++) {
        double px = SVG_LEFT + k * step * 1e9 * (plot_w / x.end);
        fprintf(out, "<line x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" y2=\"%d\" "
                     "stroke=\"#ccc\"/><text x=\"%.2f\" y=\"%d\" class=\"a\">"
                     "%.*f</text>\n",
                px, SVG_TOP - 4, px, SVG_TOP + (int)lanes * LANE_H, px,
                SVG_TOP + (int)lanes * LANE_H + 16, decimals, k * step);
    }
    fprintf(out, "<text x=\"%d\" y=\"%d\" class=\"a\" style=\"text-anchor:end\">"
                 "s</text>\n",
            SVG_WIDTH - 8, SVG_TOP + (int)lanes * LANE_H + 16);

    struct svg_ctx c = {.out = out, .scale = plot_w / x.end, .row = row,
                        .lanes = x.lanes, .end = x.end, .lane_seen = -1};
    ug_trace_foreach(t, svg_event, &c);
    svg_flush(&c);
    fputs("</svg>\n", out);
    rc = ferror(out) ? UG_EIO : 0;
out:
    for (unsigned i = 0; i < x.names_cap; i++)
        free(x.names[i]);
    free(x.names);
    free(order);
    free(row);
    return rc;
}

/* ---- saving ----------------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcasecmp(s + n - k, suffix);
}

int ug_trace_save(ug_trace *t, const char *path, const char *title) {
    bool svg = ends_with(path, ".svg");
    if (!svg && !ends_with(path, ".json"))
        return UG_EINVAL;
    size_t n = strlen(path);
    char *tmp = malloc(n + 16);
    if (!tmp)
        return UG_ENOMEM;
    snprintf(tmp, n + 16, "%s.tmp.XXXXXX", path);
    int rc = UG_EIO;
    int fd = mkstemp(tmp);
    if (fd < 0)
        goto out;
    fchmod(fd, 0644); /* mkstemp makes 0600; a saved trace is for sharing */
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(tmp);
        goto out;
    }
    rc = svg ? ug_trace_write_svg(t, f, title) : ug_trace_write_json(t, f);
    if (fclose(f) != 0 && !rc)
        rc = UG_EIO;
    if (!rc && rename(tmp, path) != 0)
        rc = UG_EIO;
    if (rc)
        unlink(tmp);
out:
    free(tmp);
    return rc;
}
