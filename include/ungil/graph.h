/* ungil/graph.h - a directed link graph of URLs, its layout and its exports.
 *
 * A graph holds nodes (one per distinct URL, numbered 0, 1, ... in the order
 * they were added) with the attributes a crawl learns about a page, and
 * directed edges (from, to) that count how often the link was seen.  The
 * crawler builds one while it runs; Python code can build one too.
 *
 * A force-directed layout (Barnes-Hut, O(n log n) per iteration, node work
 * spread over a pool) gives every node a position; the exports write the
 * graph as JSON, GraphML (typed keys, reads back in networkx and Gephi),
 * Graphviz DOT, or one self-contained interactive HTML page (no network:
 * our own canvas renderer, zoom, pan, drag, physics toggle, colours by
 * depth or status, search) that draws the precomputed positions at once.
 *
 * Text: URLs, titles, content types and error texts (NUL-terminated bytes)
 * are cleaned when they are stored: invalid UTF-8 becomes U+FFFD, tab,
 * newline and carriage return become a space, other control characters and
 * U+FFFE/U+FFFF become U+FFFD.  Every writer then escapes its own syntax
 * (quotes, <, &, backslashes), so hostile titles cannot break or inject
 * into a file, and all exports show the same text.  URLs are compared after
 * cleaning (a crawler's normalised URLs are ASCII and unchanged by it).
 *
 * Ownership: the graph owns copies of every string it is given; the
 * pointers that ug_graph_node_get hands out are borrowed and stay valid
 * until that node's attribute is set again or the graph is freed.  Buffers
 * returned by ug_graph_write belong to the caller (free()).
 *
 * Thread-safety: a graph is not locked.  Calls that change it (add, set,
 * layout) must come from one thread at a time, with no reader running;
 * the crawler makes them from its one engine thread only.  Calls that only
 * read it (counts, get, find, write, save) may run from several threads at
 * once while nobody changes it.  ug_graph_layout spreads its own work over
 * the pool it is given; that is internal and needs nothing from the caller.
 */
#ifndef UNGIL_GRAPH_H
#define UNGIL_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "ungil/pool.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ug_graph ug_graph;

/* A node as readers see it.  Strings are borrowed from the graph; NULL
 * means "not set". */
typedef struct ug_graph_node {
    const char *url;          /* never NULL */
    const char *title;        /* the page's <title>, or NULL */
    const char *content_type; /* the response's Content-Type, or NULL */
    const char *error;        /* why the page failed, or NULL */
    int status;               /* HTTP status; 0 = not fetched (yet) */
    int depth;                /* link distance from a start URL; -1 = unknown */
    int64_t bytes;            /* body size; -1 = unknown */
    size_t in_degree;         /* distinct edges into the node (repeats count once) */
    size_t out_degree;        /* distinct edges out of the node */
    double x, y;              /* position from the layout; 0, 0 before one */
} ug_graph_node;

/* An edge: a link from node `from` to node `to`, seen `count` times. */
typedef struct ug_graph_edge {
    size_t from;
    size_t to;
    uint64_t count;
} ug_graph_edge;

/* Export formats. */
enum ug_graph_format {
    UG_GRAPH_JSON = 0,
    UG_GRAPH_GRAPHML = 1,
    UG_GRAPH_DOT = 2,
    UG_GRAPH_HTML = 3
};

/* Creates an empty graph.  Returns 0 and sets *out, UG_EINVAL (out is
 * NULL) or UG_ENOMEM.  Free with ug_graph_free. */
int ug_graph_new(ug_graph **out);

/* Frees the graph and everything it owns.  NULL is harmless. */
void ug_graph_free(ug_graph *g);

/* Finds the node for `url`, adding it (status 0, depth -1, bytes -1, no
 * title) if it is new; *index (may be NULL) receives its number.  URLs are
 * compared byte for byte: the caller normalises them first.  Returns 1 when
 * the node was added, 0 when it existed, UG_EINVAL (NULL g or url) or
 * UG_ENOMEM.  Amortised O(1).  Changes the graph (see thread-safety). */
int ug_graph_add_node(ug_graph *g, const char *url, size_t *index);

/* Looks `url` up without adding it.  Returns 1 and sets *index (may be
 * NULL) if found, 0 if not.  Only reads the graph. */
int ug_graph_find(const ug_graph *g, const char *url, size_t *index);

/* Attribute setters for node `i`.  Strings are copied (cleaned); NULL
 * clears them; a negative depth or byte count means unknown (-1).
 * Each returns 0, UG_ERANGE (no node i), UG_EINVAL (NULL g) or UG_ENOMEM.
 * They change the graph (see thread-safety). */
int ug_graph_set_status(ug_graph *g, size_t i, int status);
int ug_graph_set_depth(ug_graph *g, size_t i, int depth);
int ug_graph_set_bytes(ug_graph *g, size_t i, int64_t bytes);
int ug_graph_set_title(ug_graph *g, size_t i, const char *title);
int ug_graph_set_content_type(ug_graph *g, size_t i, const char *type);
int ug_graph_set_error(ug_graph *g, size_t i, const char *error);
/* Sets the position of node i by hand (a layout overwrites it); x and y
 * must be finite (UG_EINVAL otherwise). */
int ug_graph_set_position(ug_graph *g, size_t i, double x, double y);

/* Adds the edge from -> to, or counts it once more if it exists (self
 * links are kept like any other).  Returns 1 when the edge is new, 0 when
 * it was counted again, UG_ERANGE (no such node), UG_EINVAL or UG_ENOMEM.
 * Amortised O(1).  Changes the graph (see thread-safety). */
int ug_graph_add_edge(ug_graph *g, size_t from, size_t to);

/* Numbers of nodes and of distinct edges.  0 for NULL. */
size_t ug_graph_node_count(const ug_graph *g);
size_t ug_graph_edge_count(const ug_graph *g);

/* Copies node i's attributes into *out (strings borrowed, see above).
 * Returns 0, UG_ERANGE or UG_EINVAL. */
int ug_graph_node_get(const ug_graph *g, size_t i, ug_graph_node *out);

/* Copies edge j (edges are numbered in the order they were first added)
 * into *out.  Returns 0, UG_ERANGE or UG_EINVAL. */
int ug_graph_edge_get(const ug_graph *g, size_t j, ug_graph_edge *out);

/* Distinct edges into node i; 0 if there is no node i. */
size_t ug_graph_in_degree(const ug_graph *g, size_t i);

/* Layout settings; ug_graph_layout_options_init gives the defaults. */
typedef struct ug_graph_layout_options {
    unsigned iterations; /* force iterations; default 100 */
    uint64_t seed;       /* jitter of the initial rings; default 1 */
    double theta;        /* Barnes-Hut opening angle, 0..2; default 1.2 (0 = exact) */
    ug_pool *pool;       /* spreads node work; borrowed; NULL = calling thread */
} ug_graph_layout_options;

/* Fills `opts` with the defaults. */
void ug_graph_layout_options_init(ug_graph_layout_options *opts);

/* Computes a force-directed layout and stores it as the nodes' positions.
 * Nodes start on rings by BFS depth from the roots (nodes without
 * incoming edges, else node 0), then move under edge springs and
 * Barnes-Hut repulsion with a cooling step.  The result depends only on
 * the graph, the options' iterations, seed and theta - not on the pool or
 * its number of threads.  Positions are finite and centred on 0, 0, with
 * a scale of about 1 unit per average edge length times sqrt(n).
 * Blocks until done.  Returns 0, UG_EINVAL (bad theta), UG_ERANGE (more
 * than 2^28 nodes) or UG_ENOMEM; positions are unchanged on failure.
 * Changes the graph (see thread-safety). */
int ug_graph_layout(ug_graph *g, const ug_graph_layout_options *opts);

/* 1 once positions were computed or set for every node, else 0. */
int ug_graph_has_layout(const ug_graph *g);

/* The format for a name or a file name's extension ("json", "graphml",
 * "dot", "gv", "html", "htm"; ".json" or "site.graphml" work too),
 * case-insensitively.  Returns the enum ug_graph_format or UG_EINVAL. */
int ug_graph_format_from_name(const char *name);

/* Renders the graph in `format` into a new buffer: *out (NUL-terminated,
 * free() it) and *len (without the NUL).  The HTML page needs positions:
 * if the graph has no layout, a default one is computed for the page only
 * (on the calling thread), leaving the graph unchanged.  `title` names the
 * page and the GraphML/DOT graph; NULL gives "ungil link graph".  Returns
 * 0, UG_EINVAL, UG_ENOMEM or UG_ERANGE (a page of more than 2^28 nodes).
 * Only reads the graph. */
int ug_graph_write(const ug_graph *g, int format, const char *title,
                   char **out, size_t *len);

/* Writes the graph as ug_graph_write does to `path`, atomically: into
 * "<path>.part", flushed, then renamed over `path`, so `path` never holds a
 * partial file; the ".part" is removed on failure.  Returns 0, UG_EINVAL,
 * UG_ENOMEM or UG_EIO (errno says why).  Blocks on the disk.  Only reads the
 * graph. */
int ug_graph_save(const ug_graph *g, int format, const char *title,
                  const char *path);

#ifdef __cplusplus
}
#endif

#endif
