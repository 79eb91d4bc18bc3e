/* graph_html.c - the graph as one self-contained interactive HTML page.
 *
 * The page is: our style sheet, a toolbar (physics toggle, colour switch,
 * URL search), a canvas, the graph as JSON in a <script
 * type="application/json"> element, and our script (graph_page.js), all
 * inline.  Nothing refers to another file or host, so the page works
 * offline and from file://; its Content-Security-Policy (default-src
 * 'none', inline script and style only) makes the browser refuse any
 * request the page might still try.  Strings in the JSON are written html-safe
 * (< > & escaped as \u003c ...), so no title or URL can close the script
 * element; the page title is escaped as XML text.
 *
 * Positions are the graph's layout if it has one, else a default layout
 * computed here; they are rounded to 1/1000 of an edge length to keep the
 * file small (5,000 nodes give about 0.6 MB).
 */
#include <stdlib.h>

#include "graph_int.h"
#include "ungil/graph.h"
#include "ungil/error.h"

/* Appends one JSON array of the nodes' strings at `offset` in ug__gnode. */
static void string_array(const ug_graph *g, ug__gbuf *b, const char *name,
                         size_t offset) {
    ug__gbuf_printf(b, ",\n\"%s\": [", name);
    for (size_t i = 0; i < g->n; i++) {
        const char *s = *(char *const *)((const char *)&g->nodes[i] + offset);
        if (i)
            ug__gbuf_puts(b, ",");
        ug__gbuf_json_string(b, s, true);
    }
    ug__gbuf_puts(b, "]");
}

int ug__graph_write_html(const ug_graph *g, const char *title, ug__gbuf *b) {
    double *xy = NULL;
    int rc = ug__graph_positions(g, &xy);
    if (rc)
        return rc;
    ug__gbuf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
                     "<meta charset=\"utf-8\">\n"
                     "<meta http-equiv=\"Content-Security-Policy\" "
                     "content=\"default-src 'none'; script-src 'unsafe-inline'; "
                     "style-src 'unsafe-inline'\">\n"
                     "<meta name=\"viewport\" content=\"width=device-width, "
                     "initial-scale=1\">\n<title>");
    ug__gbuf_xml_text(b, title);
    ug__gbuf_puts(b, "</title>\n<style>\n");
    ug__gbuf_puts(b, ug__graph_page_css);
    ug__gbuf_puts(b, "</style>\n</head>\n<body>\n<div id=\"bar\">"
                     "<span class=\"name\">");
    ug__gbuf_xml_text(b, title);
    ug__gbuf_puts(
        b, "</span>\n"
           "<label><input type=\"checkbox\" id=\"physics\"> physics</label>\n"
           "<label>colour by <select id=\"colour\">"
           "<option value=\"depth\">depth</option>"
           "<option value=\"status\">status</option></select></label>\n"
           "<input type=\"search\" id=\"search\" placeholder=\"search URL\" "
           "aria-label=\"search URL\">\n"
           "<span class=\"info\" id=\"info\"></span>\n</div>\n"
           "<div id=\"legend\"></div>\n<canvas id=\"graph\"></canvas>\n"
           "<div id=\"tip\" hidden></div>\n"
           "<script type=\"application/json\" id=\"graph-data\">{\"n\": ");
    ug__gbuf_printf(b, "%zu", g->n);
    string_array(g, b, "url", offsetof(ug__gnode, url));
    string_array(g, b, "title", offsetof(ug__gnode, title));
    string_array(g, b, "error", offsetof(ug__gnode, error));
    static const char *const ints[] = {"status", "depth", "in_degree"};
    for (size_t k = 0; k < 3; k++) {
        ug__gbuf_printf(b, ",\n\"%s\": [", ints[k]);
        for (size_t i = 0; i < g->n; i++) {
            const ug__gnode *nd = &g->nodes[i];
            long long v = k == 0 ? nd->status
                          : k == 1 ? nd->depth
                                   : (long long)nd->in_degree;
            ug__gbuf_printf(b, "%s%lld", i ? "," : "", v);
        }
        ug__gbuf_puts(b, "]");
    }
    for (size_t axis = 0; axis < 2; axis++) {
        ug__gbuf_printf(b, ",\n\"%s\": [", axis ? "y" : "x");
        for (size_t i = 0; i < g->n; i++)
            ug__gbuf_printf(b, "%s%.3f", i ? "," : "", xy[2 * i + axis]);
        ug__gbuf_puts(b, "]");
    }
    ug__gbuf_puts(b, ",\n\"edges\": [");
    for (size_t j = 0; j < g->m; j++)
        ug__gbuf_printf(b, "%s%zu,%zu", j ? "," : "", g->edges[j].from,
                        g->edges[j].to);
    ug__gbuf_puts(b, "]}</script>\n<script>\n");
    ug__gbuf_puts(b, ug__graph_page_js);
    ug__gbuf_puts(b, "</script>\n</body>\n</html>\n");
    free(xy);
    return 0;
}
