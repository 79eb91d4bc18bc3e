/* graph_export.c - the graph as JSON, GraphML and DOT; writing and saving.
 *
 * Each writer appends to a growable buffer; ug_graph_write hands the buffer
 * over and ug_graph_save writes it through "<path>.part" and a rename.  The
 * model's strings are clean UTF-8 without control characters (graph.c), so
 * each writer escapes only its own syntax:
 *   JSON     " \ and any control character as \uXXXX (and, for a page,
 *            < > & U+2028 U+2029 so that no "</script>" can appear);
 *   GraphML  & < > " ' as entities; typed <key>s (string, int, long,
 *            double) that networkx.read_graphml and Gephi read back;
 *   DOT      every value quoted, " and \ escaped; node ids are n0, n1, ...
 * Unknown values (no title, depth -1, bytes -1) are null in JSON and left
 * out of GraphML and DOT.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "graph_int.h"
#include "ungil/graph.h"
#include "ungil/error.h"

static const char DEFAULT_TITLE[] = "ungil link graph";

static bool gbuf_reserve(ug__gbuf *b, size_t more) {
    if (b->failed)
        return false;
    if (b->len + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *fresh = realloc(b->data, cap);
    if (!fresh) {
        b->failed = true;
        return false;
    }
    b->data = fresh;
    b->cap = cap;
    return true;
}

void ug__gbuf_append(ug__gbuf *b, const char *s, size_t n) {
    if (!gbuf_reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void ug__gbuf_puts(ug__gbuf *b, const char *s) {
    ug__gbuf_append(b, s, strlen(s));
}

void ug__gbuf_printf(ug__gbuf *b, const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        ug__gbuf_append(b, small, (size_t)n);
        return;
    }
    if (!gbuf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void ug__gbuf_json_string(ug__gbuf *b, const char *s, bool html_safe) {
    if (!s) {
        ug__gbuf_puts(b, "null");
        return;
    }
    ug__gbuf_puts(b, "\"");
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *run = p; /* start of bytes copied as they are */
    for (; *p; p++) {
        const char *esc = NULL;
        char hex[8];
        if (*p == '"') {
            esc = "\\\"";
        } else if (*p == '\\') {
            esc = "\\\\";
        } else if (*p < 0x20 || (html_safe && (*p == '<' || *p == '>' ||
                                               *p == '&'))) {
            snprintf(hex, sizeof hex, "\\u%04x", *p);
            esc = hex;
        } else if (html_safe && p[0] == 0xE2 && p[1] == 0x80 &&
                   (p[2] == 0xA8 || p[2] == 0xA9)) {
            esc = p[2] == 0xA8 ? "\\u2028" : "\\u2029";
            ug__gbuf_append(b, (const char *)run, (size_t)(p - run));
            ug__gbuf_puts(b, esc);
            p += 2;
            run = p + 1;
            continue;
        }
        if (esc) {
            ug__gbuf_append(b, (const char *)run, (size_t)(p - run));
            ug__gbuf_puts(b, esc);
            run = p + 1;
        }
    }
    ug__gbuf_append(b, (const char *)run, (size_t)(p - run));
    ug__gbuf_puts(b, "\"");
}

void ug__gbuf_xml_text(ug__gbuf *b, const char *s) {
    const char *run = s;
    for (; *s; s++) {
        const char *esc = NULL;
        switch (*s) {
        case '&': esc = "&amp;"; break;
        case '<': esc = "&lt;"; break;
        case '>': esc = "&gt;"; break;
        case '"': esc = "&quot;"; break;
        case '\'': esc = "&apos;"; break;
        default: break;
        }
        if (esc) {
            ug__gbuf_append(b, run, (size_t)(s - run));
            ug__gbuf_puts(b, esc);
            run = s + 1;
        }
    }
    ug__gbuf_append(b, run, (size_t)(s - run));
}

/* Appends s as a DOT quoted string. */
static void dot_string(ug__gbuf *b, const char *s) {
    ug__gbuf_puts(b, "\"");
    const char *run = s;
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            ug__gbuf_append(b, run, (size_t)(s - run));
            ug__gbuf_puts(b, *s == '"' ? "\\\"" : "\\\\");
            run = s + 1;
        }
    }
    ug__gbuf_append(b, run, (size_t)(s - run));
    ug__gbuf_puts(b, "\"");
}

void ug__graph_write_json(const ug_graph *g, ug__gbuf *b) {
    bool xy = ug_graph_has_layout(g);
    ug__gbuf_puts(b, "{\"directed\": true, \"nodes\": [");
    for (size_t i = 0; i < g->n; i++) {
        const ug__gnode *nd = &g->nodes[i];
        ug__gbuf_printf(b, "%s\n{\"id\": %zu, \"url\": ", i ? "," : "", i);
        ug__gbuf_json_string(b, nd->url, false);
        ug__gbuf_printf(b, ", \"status\": %d, \"depth\": ", nd->status);
        if (nd->depth >= 0)
            ug__gbuf_printf(b, "%d", nd->depth);
        else
            ug__gbuf_puts(b, "null");
        ug__gbuf_puts(b, ", \"title\": ");
        ug__gbuf_json_string(b, nd->title, false);
        ug__gbuf_puts(b, ", \"content_type\": ");
        ug__gbuf_json_string(b, nd->content_type, false);
        ug__gbuf_puts(b, ", \"bytes\": ");
        if (nd->bytes >= 0)
            ug__gbuf_printf(b, "%lld", (long long)nd->bytes);
        else
            ug__gbuf_puts(b, "null");
        ug__gbuf_puts(b, ", \"error\": ");
        ug__gbuf_json_string(b, nd->error, false);
        ug__gbuf_printf(b, ", \"in_degree\": %zu, \"out_degree\": %zu",
                        nd->in_degree, nd->out_degree);
        if (xy)
            ug__gbuf_printf(b, ", \"x\": %.17g, \"y\": %.17g", nd->x, nd->y);
        ug__gbuf_puts(b, "}");
    }
    ug__gbuf_puts(b, "],\n\"edges\": [");
    for (size_t j = 0; j < g->m; j++) {
        const ug_graph_edge *e = &g->edges[j];
        ug__gbuf_printf(b,
                        "%s\n{\"source\": %zu, \"target\": %zu, \"count\": %llu}",
                        j ? "," : "", e->from, e->to,
                        (unsigned long long)e->count);
    }
    ug__gbuf_puts(b, "]}\n");
}

/* One GraphML <data> element with escaped text. */
static void graphml_data(ug__gbuf *b, const char *key, const char *text) {
    ug__gbuf_printf(b, "<data key=\"%s\">", key);
    ug__gbuf_xml_text(b, text);
    ug__gbuf_puts(b, "</data>");
}

void ug__graph_write_graphml(const ug_graph *g, const char *title,
                             ug__gbuf *b) {
    static const char *const keys[][4] = {
        /* id, for, attr.name, attr.type */
        {"name", "graph", "name", "string"},
        {"url", "node", "url", "string"},
        {"status", "node", "status", "int"},
        {"depth", "node", "depth", "int"},
        {"title", "node", "title", "string"},
        {"content_type", "node", "content_type", "string"},
        {"bytes", "node", "bytes", "long"},
        {"error", "node", "error", "string"},
        {"in_degree", "node", "in_degree", "int"},
        {"out_degree", "node", "out_degree", "int"},
        {"x", "node", "x", "double"},
        {"y", "node", "y", "double"},
        {"count", "edge", "count", "long"},
    };
    bool xy = ug_graph_has_layout(g);
    ug__gbuf_puts(b,
                  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                  "<graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\" "
                  "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
                  "xsi:schemaLocation=\"http://graphml.graphdrawing.org/xmlns "
                  "http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd\">\n");
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        if (!xy && (!strcmp(keys[k][0], "x") || !strcmp(keys[k][0], "y")))
            continue;
        ug__gbuf_printf(b,
                        "<key id=\"%s\" for=\"%s\" attr.name=\"%s\" "
                        "attr.type=\"%s\"/>\n",
                        keys[k][0], keys[k][1], keys[k][2], keys[k][3]);
    }
    ug__gbuf_puts(b, "<graph id=\"G\" edgedefault=\"directed\">\n");
    graphml_data(b, "name", title);
    ug__gbuf_puts(b, "\n");
    for (size_t i = 0; i < g->n; i++) {
        const ug__gnode *nd = &g->nodes[i];
        ug__gbuf_printf(b, "<node id=\"n%zu\">", i);
        graphml_data(b, "url", nd->url);
        ug__gbuf_printf(b, "<data key=\"status\">%d</data>", nd->status);
        if (nd->depth >= 0)
            ug__gbuf_printf(b, "<data key=\"depth\">%d</data>", nd->depth);
        if (nd->title)
            graphml_data(b, "title", nd->title);
        if (nd->content_type)
            graphml_data(b, "content_type", nd->content_type);
        if (nd->bytes >= 0)
            ug__gbuf_printf(b, "<data key=\"bytes\">%lld</data>",
                            (long long)nd->bytes);
        if (nd->error)
            graphml_data(b, "error", nd->error);
        ug__gbuf_printf(b,
                        "<data key=\"in_degree\">%zu</data>"
                        "<data key=\"out_degree\">%zu</data>",
                        nd->in_degree, nd->out_degree);
        if (xy)
            ug__gbuf_printf(b,
                            "<data key=\"x\">%.17g</data>"
                            "<data key=\"y\">%.17g</data>",
                            nd->x, nd->y);
        ug__gbuf_puts(b, "</node>\n");
    }
    for (size_t j = 0; j < g->m; j++) {
        const ug_graph_edge *e = &g->edges[j];
        ug__gbuf_printf(b,
                        "<edge source=\"n%zu\" target=\"n%zu\">"
                        "<data key=\"count\">%llu</data></edge>\n",
                        e->from, e->to, (unsigned long long)e->count);
    }
    ug__gbuf_puts(b, "</graph>\n</graphml>\n");
}

/* One DOT attribute `name="text"`, preceded by a comma unless first. */
static void dot_attr(ug__gbuf *b, const char *name, const char *text,
                     bool *first) {
    ug__gbuf_printf(b, "%s%s=", *first ? "" : ", ", name);
    dot_string(b, text);
    *first = false;
}

void ug__graph_write_dot(const ug_graph *g, const char *title, ug__gbuf *b) {
    bool xy = ug_graph_has_layout(g);
    char num[64];
    ug__gbuf_puts(b, "digraph G {\n  graph [label=");
    dot_string(b, title);
    ug__gbuf_puts(b, "];\n  node [shape=ellipse];\n");
    for (size_t i = 0; i < g->n; i++) {
        const ug__gnode *nd = &g->nodes[i];
        bool first = true;
        ug__gbuf_printf(b, "  n%zu [", i);
        dot_attr(b, "label", nd->title ? nd->title : nd->url, &first);
        dot_attr(b, "URL", nd->url, &first);
        dot_attr(b, "url", nd->url, &first);
        snprintf(num, sizeof num, "%d", nd->status);
        dot_attr(b, "status", num, &first);
        if (nd->depth >= 0) {
            snprintf(num, sizeof num, "%d", nd->depth);
            dot_attr(b, "depth", num, &first);
        }
        if (nd->title)
            dot_attr(b, "title", nd->title, &first);
        if (nd->content_type)
            dot_attr(b, "content_type", nd->content_type, &first);
        if (nd->bytes >= 0) {
            snprintf(num, sizeof num, "%lld", (long long)nd->bytes);
            dot_attr(b, "bytes", num, &first);
        }
        if (nd->error)
            dot_attr(b, "error", nd->error, &first);
        snprintf(num, sizeof num, "%zu", nd->in_degree);
        dot_attr(b, "in_degree", num, &first);
        if (xy) {
            snprintf(num, sizeof num, "%.3f,%.3f", nd->x, nd->y);
            dot_attr(b, "pos", num, &first);
        }
        ug__gbuf_puts(b, "];\n");
    }
    for (size_t j = 0; j < g->m; j++) {
        const ug_graph_edge *e = &g->edges[j];
        ug__gbuf_printf(b, "  n%zu -> n%zu [count=\"%llu\"];\n", e->from,
                        e->to, (unsigned long long)e->count);
    }
    ug__gbuf_puts(b, "}\n");
}

int ug_graph_format_from_name(const char *name) {
    static const struct {
        const char *ext;
        int format;
    } table[] = {
        {"json", UG_GRAPH_JSON}, {"graphml", UG_GRAPH_GRAPHML},
        {"dot", UG_GRAPH_DOT},   {"gv", UG_GRAPH_DOT},
        {"html", UG_GRAPH_HTML}, {"htm", UG_GRAPH_HTML},
    };
    if (!name)
        return UG_EINVAL;
    const char *dot = strrchr(name, '.');
    const char *ext = dot ? dot + 1 : name;
    for (size_t k = 0; k < sizeof table / sizeof table[0]; k++)
        if (!strcasecmp(ext, table[k].ext))
            return table[k].format;
    return UG_EINVAL;
}

int ug_graph_write(const ug_graph *g, int format, const char *title,
                   char **out, size_t *len) {
    if (!g || !out || !len)
        return UG_EINVAL;
    if (format < UG_GRAPH_JSON || format > UG_GRAPH_HTML)
        return UG_EINVAL;
    /* The title comes from the caller, not the model: clean it too. */
    char *clean = ug__graph_clean(title ? title : DEFAULT_TITLE);
    if (!clean)
        return UG_ENOMEM;
    ug__gbuf b = {0};
    int rc = 0;
    switch (format) {
    case UG_GRAPH_JSON: ug__graph_write_json(g, &b); break;
    case UG_GRAPH_GRAPHML: ug__graph_write_graphml(g, clean, &b); break;
    case UG_GRAPH_DOT: ug__graph_write_dot(g, clean, &b); break;
    default: rc = ug__graph_write_html(g, clean, &b); break;
    }
    free(clean);
    if (!rc && (b.failed || !b.data))
        rc = UG_ENOMEM;
    if (rc) {
        free(b.data);
        return rc;
    }
    *out = b.data;
    *len = b.len;
    return 0;
}

/* Writes all of data to fd; 0 or UG_EIO. */
static int write_all(int fd, const char *data, size_t len) {
    while (len > 0) {
        ssize_t k = write(fd, data, len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return UG_EIO;
        data += k;
        len -= (size_t)k;
    }
    return 0;
}

int ug_graph_save(const ug_graph *g, int format, const char *title,
                  const char *path) {
    if (!g || !path || !*path)
        return UG_EINVAL;
    char *data = NULL, *part = NULL;
    size_t len = 0;
    int fd = -1;
    bool opened = false; /* the .part is ours to remove on failure */
    int rc = ug_graph_write(g, format, title, &data, &len);
    if (rc)
        goto out;
    size_t n = strlen(path);
    rc = UG_ENOMEM;
    if (!(part = malloc(n + sizeof ".part")))
        goto out;
    memcpy(part, path, n);
    memcpy(part + n, ".part", sizeof ".part");
    rc = UG_EIO;
    fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
              0666);
    if (fd < 0)
        goto out;
    opened = true;
    if ((rc = write_all(fd, data, len)))
        goto out;
    rc = UG_EIO;
    if (fsync(fd) != 0)
        goto out;
    int closed = close(fd);
    fd = -1;
    if (closed != 0 || rename(part, path) != 0)
        goto out;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (rc && opened) {
        int saved = errno;
        unlink(part);
        errno = saved;
    }
    free(part);
    free(data);
    return rc;
}
