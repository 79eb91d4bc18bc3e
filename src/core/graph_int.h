/* graph_int.h - what the files of the graph module share (not public).
 *
 * graph.c owns the model (nodes, edges, the two hash indexes);
 * graph_layout.c computes positions; graph_export.c renders JSON, GraphML
 * and DOT; graph_html.c renders the interactive page.  The writers build
 * text in a growable buffer (ug__gbuf).  Strings in the model are already
 * clean UTF-8 without control characters (graph.c cleans them on entry),
 * so writers only escape what their format reserves.
 */
#ifndef UNGIL_GRAPH_INT_H
#define UNGIL_GRAPH_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ungil/graph.h"

/* One node of the model. */
typedef struct ug__gnode {
    char *url, *title, *content_type, *error; /* owned; only url is never NULL */
    int status, depth;
    int64_t bytes;
    size_t in_degree, out_degree;
    double x, y;
    bool placed; /* x, y were computed or set */
} ug__gnode;

struct ug_graph {
    ug__gnode *nodes;
    size_t n, node_cap;
    size_t placed; /* nodes with placed set */
    ug_graph_edge *edges;
    size_t m, edge_cap;
    /* Open-addressing indexes holding (node or edge number + 1); 0 = empty.
     * Capacities are powers of two, kept at most half full. */
    size_t *url_index, url_cap;
    size_t *edge_index, edge_index_cap;
};

/* A cleaned copy of s (see graph.c: invalid UTF-8 and control characters
 * replaced), to free(); NULL if out of memory. */
char *ug__graph_clean(const char *s);

/* A growable text buffer.  `failed` sticks after the first allocation
 * failure, so writers append freely and check once at the end. */
typedef struct ug__gbuf {
    char *data;
    size_t len, cap;
    bool failed;
} ug__gbuf;

void ug__gbuf_append(ug__gbuf *b, const char *s, size_t n);
void ug__gbuf_puts(ug__gbuf *b, const char *s);
void ug__gbuf_printf(ug__gbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included; NULL gives null.
 * `html_safe` also escapes <, >, & and U+2028/U+2029 so that the literal can
 * sit inside an HTML <script> element. */
void ug__gbuf_json_string(ug__gbuf *b, const char *s, bool html_safe);
/* Appends s escaped for XML text and attribute values. */
void ug__gbuf_xml_text(ug__gbuf *b, const char *s);

/* Computes the layout that ug_graph_layout stores into xy (2n doubles, x0,
 * y0, x1, y1, ...) without changing the graph.  Returns 0, UG_EINVAL,
 * UG_ERANGE or UG_ENOMEM. */
int ug__graph_layout_compute(const ug_graph *g,
                             const ug_graph_layout_options *opts, double *xy);

/* Positions for every node, without changing the graph: the graph's own if
 * it has a layout, else a default layout computed on the calling thread.
 * *xy receives 2n doubles (x0, y0, x1, y1, ...), freed by the caller.
 * Returns 0 or an error of ug__graph_layout_compute. */
int ug__graph_positions(const ug_graph *g, double **xy);

/* The renderers behind ug_graph_write.  Each appends to `b`. */
void ug__graph_write_json(const ug_graph *g, ug__gbuf *b);
void ug__graph_write_graphml(const ug_graph *g, const char *title, ug__gbuf *b);
void ug__graph_write_dot(const ug_graph *g, const char *title, ug__gbuf *b);
int ug__graph_write_html(const ug_graph *g, const char *title, ug__gbuf *b);

/* The page's script and style sheet, generated at build time from
 * graph_page.js and graph_page.css. */
extern const char ug__graph_page_js[];
extern const char ug__graph_page_css[];

#endif
