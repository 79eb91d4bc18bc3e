/* graph.c - the link graph model: nodes by URL, counted edges, attributes.
 *
 * Nodes and edges live in growable arrays, numbered in insertion order.
 * Two open-addressing hash tables (linear probing, at most half full) map a
 * URL to its node and a (from, to) pair to its edge, so adding a node or an
 * edge is amortised O(1) however large the crawl grows.
 *
 * Every string is cleaned on entry: invalid UTF-8 becomes U+FFFD, tab,
 * newline and carriage return become a space, other control characters
 * (C0, DEL, C1) and the non-characters U+FFFE/U+FFFF become U+FFFD.  The
 * writers can then trust the text and only escape their own syntax, and
 * every export of one graph shows the same strings.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "graph_int.h"
#include "ungil/graph.h"
#include "ungil/error.h"

enum { MIN_NODES = 16, MIN_INDEX = 32 };

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if it is invalid
 * (overlong forms, surrogates and code points past U+10FFFF included). */
static size_t utf8_valid(const unsigned char *s, uint32_t *cp) {
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[k] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

/* A cleaned copy of s (see the top of the file), or NULL if out of memory.
 * Shared with the writers, which clean the caller's title the same way. */
char *ug__graph_clean(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1); /* each input byte gives at most 3 */
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = utf8_valid(p + i, &cp);
        if (len == 0) {
            cp = 0xFFFD, len = 1;
        } else if (cp == '\t' || cp == '\n' || cp == '\r') {
            cp = ' ';
        } else if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0xFFFE ||
                   cp == 0xFFFF) {
            cp = 0xFFFD;
        }
        if (cp == 0xFFFD) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
        } else if (cp == ' ') {
            out[o++] = ' ';
        } else {
            memcpy(out + o, p + i, len);
            o += len;
        }
        i += len;
    }
    out[o] = '\0';
    char *shrunk = realloc(out, o + 1);
    return shrunk ? shrunk : out;
}

/* FNV-1a, then a final mix so that the low bits used by the table vary. */
static uint64_t hash_str(const char *s) {
    uint64_t h = 0xcbf29ce484222325u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3u;
    return h ^ (h >> 29);
}

static uint64_t hash_pair(size_t a, size_t b) {
    uint64_t h = (uint64_t)a * 0x9E3779B97F4A7C15u ^ (uint64_t)b;
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9u;
    return h ^ (h >> 27);
}

int ug_graph_new(ug_graph **out) {
    if (!out)
        return UG_EINVAL;
    *out = calloc(1, sizeof **out);
    return *out ? 0 : UG_ENOMEM;
}

void ug_graph_free(ug_graph *g) {
    if (!g)
        return;
    for (size_t i = 0; i < g->n; i++) {
        free(g->nodes[i].url);
        free(g->nodes[i].title);
        free(g->nodes[i].content_type);
        free(g->nodes[i].error);
    }
    free(g->nodes);
    free(g->edges);
    free(g->url_index);
    free(g->edge_index);
    free(g);
}

/* Slot of `url` in the URL index: its node's slot, or the empty slot where
 * it would go. */
static size_t url_slot(const ug_graph *g, const char *url) {
    size_t mask = g->url_cap - 1;
    size_t s = hash_str(url) & mask;
    while (g->url_index[s] && strcmp(g->nodes[g->url_index[s] - 1].url, url))
        s = (s + 1) & mask;
    return s;
}

static size_t edge_slot(const ug_graph *g, size_t from, size_t to) {
    size_t mask = g->edge_index_cap - 1;
    size_t s = hash_pair(from, to) & mask;
    while (g->edge_index[s]) {
        const ug_graph_edge *e = &g->edges[g->edge_index[s] - 1];
        if (e->from == from && e->to == to)
            break;
        s = (s + 1) & mask;
    }
    return s;
}

/* Rebuilds the URL index with twice the room. */
static int grow_url_index(ug_graph *g) {
    size_t cap = g->url_cap ? 2 * g->url_cap : MIN_INDEX;
    size_t *fresh = calloc(cap, sizeof *fresh);
    if (!fresh)
        return UG_ENOMEM;
    free(g->url_index);
    g->url_index = fresh;
    g->url_cap = cap;
    for (size_t i = 0; i < g->n; i++)
        g->url_index[url_slot(g, g->nodes[i].url)] = i + 1;
    return 0;
}

static int grow_edge_index(ug_graph *g) {
    size_t cap = g->edge_index_cap ? 2 * g->edge_index_cap : MIN_INDEX;
    size_t *fresh = calloc(cap, sizeof *fresh);
    if (!fresh)
        return UG_ENOMEM;
    free(g->edge_index);
    g->edge_index = fresh;
    g->edge_index_cap = cap;
    for (size_t j = 0; j < g->m; j++)
        g->edge_index[edge_slot(g, g->edges[j].from, g->edges[j].to)] = j + 1;
    return 0;
}

/* Makes room for one more element in an array of `size`-byte elements. */
static int reserve(void **arr, size_t *cap, size_t used, size_t size) {
    if (used < *cap)
        return 0;
    size_t cap2 = *cap ? 2 * *cap : MIN_NODES;
    void *fresh = realloc(*arr, cap2 * size);
    if (!fresh)
        return UG_ENOMEM;
    *arr = fresh;
    *cap = cap2;
    return 0;
}

int ug_graph_add_node(ug_graph *g, const char *url, size_t *index) {
    if (!g || !url)
        return UG_EINVAL;
    char *clean = ug__graph_clean(url);
    if (!clean)
        return UG_ENOMEM;
    int rc = UG_ENOMEM;
    if (g->url_cap) {
        size_t s = url_slot(g, clean);
        if (g->url_index[s]) {
            if (index)
                *index = g->url_index[s] - 1;
            rc = 0;
            goto out;
        }
    }
    if (2 * (g->n + 1) > g->url_cap && grow_url_index(g))
        goto out;
    if (reserve((void **)&g->nodes, &g->node_cap, g->n, sizeof *g->nodes))
        goto out;
    g->nodes[g->n] = (ug__gnode){.url = clean, .depth = -1, .bytes = -1};
    clean = NULL;
    g->url_index[url_slot(g, g->nodes[g->n].url)] = g->n + 1;
    if (index)
        *index = g->n;
    g->n++;
    rc = 1;
out:
    free(clean);
    return rc;
}

int ug_graph_find(const ug_graph *g, const char *url, size_t *index) {
    if (!g || !url || !g->url_cap)
        return 0;
    char *clean = ug__graph_clean(url);
    if (!clean)
        return 0;
    size_t s = url_slot(g, clean);
    free(clean);
    if (!g->url_index[s])
        return 0;
    if (index)
        *index = g->url_index[s] - 1;
    return 1;
}

static int node_at(ug_graph *g, size_t i, ug__gnode **out) {
    if (!g)
        return UG_EINVAL;
    if (i >= g->n)
        return UG_ERANGE;
    *out = &g->nodes[i];
    return 0;
}

int ug_graph_set_status(ug_graph *g, size_t i, int status) {
    ug__gnode *nd;
    int rc = node_at(g, i, &nd);
    if (!rc)
        nd->status = status;
    return rc;
}

int ug_graph_set_depth(ug_graph *g, size_t i, int depth) {
    ug__gnode *nd;
    int rc = node_at(g, i, &nd);
    if (!rc)
        nd->depth = depth < 0 ? -1 : depth;
    return rc;
}

int ug_graph_set_bytes(ug_graph *g, size_t i, int64_t bytes) {
    ug__gnode *nd;
    int rc = node_at(g, i, &nd);
    if (!rc)
        nd->bytes = bytes < 0 ? -1 : bytes;
    return rc;
}

/* Replaces *field with a cleaned copy of text (NULL clears it). */
static int set_text(ug_graph *g, size_t i, size_t offset, const char *text) {
    ug__gnode *nd;
    int rc = node_at(g, i, &nd);
    if (rc)
        return rc;
    char *copy = NULL;
    if (text && !(copy = ug__graph_clean(text)))
        return UG_ENOMEM;
    char **field = (char **)((char *)nd + offset);
    free(*field);
    *field = copy;
    return 0;
}

int ug_graph_set_title(ug_graph *g, size_t i, const char *title) {
    return set_text(g, i, offsetof(ug__gnode, title), title);
}

int ug_graph_set_content_type(ug_graph *g, size_t i, const char *type) {
    return set_text(g, i, offsetof(ug__gnode, content_type), type);
}

int ug_graph_set_error(ug_graph *g, size_t i, const char *error) {
    return set_text(g, i, offsetof(ug__gnode, error), error);
}

int ug_graph_set_position(ug_graph *g, size_t i, double x, double y) {
    ug__gnode *nd;
    int rc = node_at(g, i, &nd);
    if (rc)
        return rc;
    if (!isfinite(x) || !isfinite(y))
        return UG_EINVAL;
    nd->x = x;
    nd->y = y;
    if (!nd->placed) {
        nd->placed = true;
        g->placed++;
    }
    return 0;
}

int ug_graph_add_edge(ug_graph *g, size_t from, size_t to) {
    if (!g)
        return UG_EINVAL;
    if (from >= g->n || to >= g->n)
        return UG_ERANGE;
    if (g->edge_index_cap) {
        size_t s = edge_slot(g, from, to);
        if (g->edge_index[s]) {
            g->edges[g->edge_index[s] - 1].count++;
            return 0;
        }
    }
    if (2 * (g->m + 1) > g->edge_index_cap && grow_edge_index(g))
        return UG_ENOMEM;
    if (reserve((void **)&g->edges, &g->edge_cap, g->m, sizeof *g->edges))
        return UG_ENOMEM;
    g->edges[g->m] = (ug_graph_edge){.from = from, .to = to, .count = 1};
    g->edge_index[edge_slot(g, from, to)] = g->m + 1;
    g->m++;
    g->nodes[from].out_degree++;
    g->nodes[to].in_degree++;
    return 1;
}

size_t ug_graph_node_count(const ug_graph *g) {
    return g ? g->n : 0;
}

size_t ug_graph_edge_count(const ug_graph *g) {
    return g ? g->m : 0;
}

int ug_graph_node_get(const ug_graph *g, size_t i, ug_graph_node *out) {
    if (!g || !out)
        return UG_EINVAL;
    if (i >= g->n)
        return UG_ERANGE;
    const ug__gnode *nd = &g->nodes[i];
    *out = (ug_graph_node){
        .url = nd->url,
        .title = nd->title,
        .content_type = nd->content_type,
        .error = nd->error,
        .status = nd->status,
        .depth = nd->depth,
        .bytes = nd->bytes,
        .in_degree = nd->in_degree,
        .out_degree = nd->out_degree,
        .x = nd->x,
        .y = nd->y,
    };
    return 0;
}

int ug_graph_edge_get(const ug_graph *g, size_t j, ug_graph_edge *out) {
    if (!g || !out)
        return UG_EINVAL;
    if (j >= g->m)
        return UG_ERANGE;
    *out = g->edges[j];
    return 0;
}

size_t ug_graph_in_degree(const ug_graph *g, size_t i) {
    return g && i < g->n ? g->nodes[i].in_degree : 0;
}

int ug_graph_has_layout(const ug_graph *g) {
    return g && g->n > 0 && g->placed == g->n;
}
