/* graph_layout.c - force-directed layout: Barnes-Hut repulsion on the pool.
 *
 * The model is Fruchterman-Reingold with an ideal edge length of 1: nodes
 * repel with k^2/d, edges pull with d^2/k, and a linear pull toward the
 * centre keeps separate components near the main one (1/d repulsion
 * against linear gravity settles into a disc of radius about sqrt(n)).
 * Each step moves a node along its total force by at most a temperature
 * that cools geometrically, so early steps untangle and late ones polish.
 *
 * Repulsion uses a quadtree rebuilt every iteration (O(n log n) on the
 * calling thread): a cell far enough away (size / distance < theta) acts
 * as one body at its centre of mass.  The force on every node is then
 * computed independently from the previous positions (a Jacobi step), so
 * ug_parallel_for can spread nodes over the pool's threads and the result
 * is the same bit for bit whatever the number of threads.
 *
 * Start positions come from a breadth-first search: roots (node 0 and the
 * nodes nobody links to) on the inner ring, each BFS depth on its own ring,
 * in BFS order so that siblings sit side by side, with a little seeded
 * jitter.  A crawl is such a tree with cross links, so the start is already
 * close to the answer and a few hundred iterations suffice.
 *
 * Known limits: coincident nodes are separated by a deterministic nudge;
 * leaves keep a short list of bodies (all of them at the maximum depth)
 * and sum it exactly.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "graph_int.h"
#include "ungil/graph.h"
#include "ungil/error.h"

enum { MAX_DEPTH = 48, LEAF_BODIES = 8, STACK = 4 * MAX_DEPTH + 8 };

static const double GRAVITY = 0.5;

/* A quadtree cell.  Children are numbered after their parent, so a pass
 * from the last cell to the first sums children before parents. */
typedef struct cell {
    double x0, y0, size;  /* the square [x0, x0+size) x [y0, y0+size) */
    double mx, my, mass;  /* centre of mass and number of bodies */
    int32_t child[4];     /* -1 = none */
    int32_t first;        /* bodies of a leaf, chained through next[]; -1 = none */
    int32_t count;        /* bodies in a leaf */
    int32_t leaf;         /* 1 until the cell is split */
} cell;

typedef struct layout {
    size_t n;
    double *x, *y;         /* current positions */
    double *nx, *ny;       /* next positions, written by the step */
    size_t *adj_start;     /* CSR of undirected neighbours, n + 1 entries */
    size_t *adj;
    cell *cells;
    size_t ncells, cell_cap;
    int32_t *next;         /* body chains of leaves */
    double theta2, temp;
} layout;

/* A reproducible number in [0, 1) for (seed, i). */
static double unit_random(uint64_t seed, uint64_t i) {
    uint64_t z = seed * 0x9E3779B97F4A7C15u + i * 0xD1B54A32D192ED03u + 1;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

/* Undirected neighbour lists without self links (a pair linked both ways
 * appears twice, which doubles its spring: such pairs belong together). */
static int build_adjacency(const ug_graph *g, layout *L) {
    L->adj_start = calloc(g->n + 1, sizeof *L->adj_start);
    L->adj = malloc((2 * g->m + 1) * sizeof *L->adj);
    if (!L->adj_start || !L->adj)
        return UG_ENOMEM;
    for (size_t j = 0; j < g->m; j++) {
        const ug_graph_edge *e = &g->edges[j];
        if (e->from != e->to) {
            L->adj_start[e->from + 1]++;
            L->adj_start[e->to + 1]++;
        }
    }
    for (size_t i = 0; i < g->n; i++)
        L->adj_start[i + 1] += L->adj_start[i];
    size_t *fill = malloc((g->n + 1) * sizeof *fill);
    if (!fill)
        return UG_ENOMEM;
    memcpy(fill, L->adj_start, g->n * sizeof *fill);
    for (size_t j = 0; j < g->m; j++) {
        const ug_graph_edge *e = &g->edges[j];
        if (e->from != e->to) {
            L->adj[fill[e->from]++] = e->to;
            L->adj[fill[e->to]++] = e->from;
        }
    }
    free(fill);
    return 0;
}

/* Start positions on BFS rings (see the top of the file).  Uses out-links
 * for depth; nodes no root reaches start new searches in index order. */
static int initial_rings(const ug_graph *g, layout *L, uint64_t seed) {
    size_t n = g->n;
    int rc = UG_ENOMEM;
    size_t *out_start = calloc(n + 1, sizeof *out_start);
    size_t *out = malloc((g->m + 1) * sizeof *out);
    size_t *order = malloc(n * sizeof *order); /* BFS order */
    size_t *depth = malloc(n * sizeof *depth);
    size_t *per_depth = calloc(n + 1, sizeof *per_depth);
    size_t *seen_at_depth = calloc(n + 1, sizeof *seen_at_depth);
    double *radius = malloc((n + 1) * sizeof *radius);
    if (!out_start || !out || !order || !depth || !per_depth ||
        !seen_at_depth || !radius)
        goto fail;
    for (size_t j = 0; j < g->m; j++)
        out_start[g->edges[j].from + 1]++;
    for (size_t i = 0; i < n; i++)
        out_start[i + 1] += out_start[i];
    memcpy(depth, out_start, n * sizeof *depth); /* fill cursors for now */
    for (size_t j = 0; j < g->m; j++)
        out[depth[g->edges[j].from]++] = g->edges[j].to;
    for (size_t i = 0; i < n; i++)
        depth[i] = SIZE_MAX;

    size_t head = 0, tail = 0;
    for (size_t i = 0; i < n; i++) { /* the roots */
        if (i == 0 || g->nodes[i].in_degree == 0) {
            depth[i] = 0;
            order[tail++] = i;
        }
    }
    size_t next_seed = 0;
    while (tail < n || head < tail) {
        if (head == tail) { /* unreached nodes: a new search */
            while (depth[next_seed] != SIZE_MAX)
                next_seed++;
            depth[next_seed] = 0;
            order[tail++] = next_seed;
        }
        size_t u = order[head++];
        for (size_t k = out_start[u]; k < out_start[u + 1]; k++) {
            size_t v = out[k];
            if (depth[v] == SIZE_MAX) {
                depth[v] = depth[u] + 1;
                order[tail++] = v;
            }
        }
    }
    size_t max_depth = 0;
    for (size_t i = 0; i < n; i++) {
        per_depth[depth[i]]++;
        if (depth[i] > max_depth)
            max_depth = depth[i];
    }
    /* Ring d encloses the area that the nodes of depth <= d fill at the
     * layout's resting density, so that the rings form the disc (radius
     * about sqrt(n / GRAVITY)) the forces settle into, and each ring is at
     * least half an edge outside the one before it. */
    const double two_pi = 6.283185307179586;
    double disc = sqrt((double)n / GRAVITY), r = 0.0;
    size_t inside = 0;
    for (size_t d = 0; d <= max_depth; d++) {
        double before = (double)inside;
        inside += per_depth[d];
        double mid = 0.5 * (before + (double)inside); /* the ring's middle */
        double want = disc * sqrt(mid / (double)n);
        r = d == 0 && per_depth[0] == 1 ? 0.0 : fmax(want, r + 0.5);
        radius[d] = r;
    }
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k], d = depth[i];
        double slot = (double)seen_at_depth[d]++;
        double a = two_pi * (slot + 0.25 + 0.5 * unit_random(seed, i)) /
                   (double)per_depth[d];
        double rr = radius[d] + 0.3 * unit_random(seed ^ 0x5bd1e995u, i);
        L->x[i] = rr * cos(a);
        L->y[i] = rr * sin(a);
    }
    rc = 0;
fail:
    free(out_start);
    free(out);
    free(order);
    free(depth);
    free(per_depth);
    free(seen_at_depth);
    free(radius);
    return rc;
}

/* Appends a cell covering the given square; returns its index or -1. */
static int32_t new_cell(layout *L, double x0, double y0, double size) {
    if (L->ncells == L->cell_cap) {
        size_t cap = 2 * L->cell_cap;
        cell *fresh = realloc(L->cells, cap * sizeof *fresh);
        if (!fresh)
            return -1;
        L->cells = fresh;
        L->cell_cap = cap;
    }
    cell *c = &L->cells[L->ncells];
    *c = (cell){.x0 = x0, .y0 = y0, .size = size, .first = -1, .leaf = 1};
    c->child[0] = c->child[1] = c->child[2] = c->child[3] = -1;
    return (int32_t)L->ncells++;
}

static int quadrant(const cell *c, double x, double y) {
    double h = c->size * 0.5;
    return (x >= c->x0 + h) + 2 * (y >= c->y0 + h);
}

/* The child of cell ci in quadrant q, created if missing; -1 if out of
 * memory. */
static int32_t child_of(layout *L, int32_t ci, int q) {
    if (L->cells[ci].child[q] >= 0)
        return L->cells[ci].child[q];
    const cell c = L->cells[ci];
    double h = c.size * 0.5;
    int32_t k = new_cell(L, c.x0 + (q & 1) * h, c.y0 + (q >> 1) * h, h);
    if (k >= 0)
        L->cells[ci].child[q] = k;
    return k;
}

/* Inserts body b into the subtree of cell ci at `depth`.  A leaf holds up
 * to LEAF_BODIES bodies (summed exactly, which is cheaper than more cells);
 * one more splits it, unless it is at MAX_DEPTH, where it keeps them all. */
static int insert(layout *L, int32_t b, int32_t ci, int depth) {
    double x = L->x[b], y = L->y[b];
    for (;; depth++) {
        cell *c = &L->cells[ci];
        if (!c->leaf) {
            if ((ci = child_of(L, ci, quadrant(c, x, y))) < 0)
                return UG_ENOMEM;
            continue;
        }
        if (c->count < LEAF_BODIES || depth >= MAX_DEPTH) {
            L->next[b] = c->first;
            c->first = b;
            c->count++;
            return 0;
        }
        /* Split: the bodies here move down one level, then b goes on. */
        int32_t old = c->first;
        c->first = -1;
        c->count = 0;
        c->leaf = 0;
        while (old >= 0) {
            int32_t after = L->next[old];
            int32_t k = child_of(L, ci, quadrant(&L->cells[ci], L->x[old],
                                                 L->y[old]));
            if (k < 0)
                return UG_ENOMEM;
            L->next[old] = L->cells[k].first;
            L->cells[k].first = old;
            L->cells[k].count++;
            old = after;
        }
    }
}

static int build_tree(layout *L) {
    double x0 = L->x[0], x1 = x0, y0 = L->y[0], y1 = y0;
    for (size_t i = 1; i < L->n; i++) {
        x0 = fmin(x0, L->x[i]), x1 = fmax(x1, L->x[i]);
        y0 = fmin(y0, L->y[i]), y1 = fmax(y1, L->y[i]);
    }
    double size = fmax(x1 - x0, y1 - y0) * 1.0001 + 1e-9;
    L->ncells = 0;
    if (new_cell(L, x0, y0, size) < 0)
        return UG_ENOMEM;
    for (size_t i = 0; i < L->n; i++) {
        int rc = insert(L, (int32_t)i, 0, 0);
        if (rc)
            return rc;
    }
    for (size_t k = L->ncells; k-- > 0;) {
        cell *c = &L->cells[k];
        double mx = 0, my = 0, mass = 0;
        if (c->leaf) {
            for (int32_t b = c->first; b >= 0; b = L->next[b])
                mx += L->x[b], my += L->y[b], mass += 1;
        } else {
            for (int q = 0; q < 4; q++) {
                if (c->child[q] < 0)
                    continue;
                const cell *d = &L->cells[c->child[q]];
                mx += d->mx * d->mass, my += d->my * d->mass, mass += d->mass;
            }
        }
        c->mass = mass;
        c->mx = mass > 0 ? mx / mass : 0;
        c->my = mass > 0 ? my / mass : 0;
    }
    return 0;
}

/* The push between coincident bodies: a small deterministic direction that
 * depends on the pair (kept out of line: it is rare). */
static __attribute__((noinline)) void repel_coincident(double mass, size_t i,
                                                       size_t b, double *fx,
                                                       double *fy) {
    double a = 6.283185307179586 * unit_random(i, b);
    *fx += 1e-3 * cos(a) * mass / 1e-6;
    *fy += 1e-3 * sin(a) * mass / 1e-6;
}

/* Adds the repulsion of a body at distance (dx, dy) with weight `mass`:
 * magnitude mass * k^2 / d along (dx, dy) / d, with k = 1. */
static inline void repel(double dx, double dy, double mass, size_t i,
                         size_t b, double *fx, double *fy) {
    double d2 = dx * dx + dy * dy;
    if (d2 < 1e-12) {
        repel_coincident(mass, i, b, fx, fy);
        return;
    }
    double f = mass / d2;
    *fx += dx * f;
    *fy += dy * f;
}

/* One node's move: repulsion through the tree, springs, gravity. */
static void step_node(const layout *L, size_t i) {
    double xi = L->x[i], yi = L->y[i], fx = 0, fy = 0;
    int32_t stack[STACK];
    int top = 0;
    stack[top++] = 0;
    while (top > 0) {
        const cell *c = &L->cells[stack[--top]];
        if (c->leaf) {
            for (int32_t b = c->first; b >= 0; b = L->next[b])
                if ((size_t)b != i)
                    repel(xi - L->x[b], yi - L->y[b], 1.0, i, (size_t)b, &fx,
                          &fy);
            continue;
        }
        double dx = xi - c->mx, dy = yi - c->my;
        bool inside = xi >= c->x0 && xi < c->x0 + c->size && yi >= c->y0 &&
                      yi < c->y0 + c->size;
        if (!inside && c->size * c->size < L->theta2 * (dx * dx + dy * dy)) {
            repel(dx, dy, c->mass, i, SIZE_MAX, &fx, &fy);
            continue;
        }
        for (int q = 0; q < 4; q++)
            if (c->child[q] >= 0)
                stack[top++] = c->child[q];
    }
    for (size_t k = L->adj_start[i]; k < L->adj_start[i + 1]; k++) {
        size_t j = L->adj[k];
        double dx = L->x[j] - xi, dy = L->y[j] - yi;
        double d = sqrt(dx * dx + dy * dy);
        fx += dx * d, fy += dy * d;
    }
    fx -= GRAVITY * xi, fy -= GRAVITY * yi;
    double f = sqrt(fx * fx + fy * fy);
    double s = f > L->temp ? L->temp / f : 1.0;
    if (!(f > 0) || !isfinite(f))
        s = 0;
    L->nx[i] = xi + fx * s;
    L->ny[i] = yi + fy * s;
}

static int step_range(void *ctx, size_t begin, size_t end) {
    for (size_t i = begin; i < end; i++)
        step_node(ctx, i);
    return 0;
}

void ug_graph_layout_options_init(ug_graph_layout_options *opts) {
    *opts = (ug_graph_layout_options){
        .iterations = 100, .seed = 1, .theta = 1.2, .pool = NULL};
}

int ug__graph_layout_compute(const ug_graph *g,
                             const ug_graph_layout_options *opts, double *xy) {
    ug_graph_layout_options defaults;
    if (!opts) {
        ug_graph_layout_options_init(&defaults);
        opts = &defaults;
    }
    if (!g || !xy || !(opts->theta >= 0) || opts->theta > 2)
        return UG_EINVAL;
    size_t n = g->n;
    if (n == 0)
        return 0;
    if (n > INT32_MAX / 8)
        return UG_ERANGE;
    layout L = {.n = n, .theta2 = opts->theta * opts->theta};
    int rc = UG_ENOMEM;
    L.x = malloc(n * sizeof *L.x);
    L.y = malloc(n * sizeof *L.y);
    L.nx = malloc(n * sizeof *L.nx);
    L.ny = malloc(n * sizeof *L.ny);
    L.next = malloc(n * sizeof *L.next);
    L.cell_cap = 2 * n + 16;
    L.cells = malloc(L.cell_cap * sizeof *L.cells);
    if (!L.x || !L.y || !L.nx || !L.ny || !L.next || !L.cells)
        goto fail;
    if ((rc = build_adjacency(g, &L)) || (rc = initial_rings(g, &L, opts->seed)))
        goto fail;
    /* Cooling from about a tenth of the disc's radius down to 1/200 of the
     * first step. */
    double t0 = fmax(1.0, 0.1 * sqrt((double)n / GRAVITY));
    unsigned iters = opts->iterations;
    for (unsigned it = 0; it < iters; it++) {
        L.temp = t0 * pow(0.005, (double)it / (double)iters);
        if ((rc = build_tree(&L)))
            goto fail;
        if ((rc = ug_parallel_for(opts->pool, n, 0, step_range, &L)))
            goto fail;
        double *t = L.x;
        L.x = L.nx, L.nx = t;
        t = L.y;
        L.y = L.ny, L.ny = t;
    }
    double cx = 0, cy = 0;
    for (size_t i = 0; i < n; i++)
        cx += L.x[i], cy += L.y[i];
    cx /= (double)n, cy /= (double)n;
    for (size_t i = 0; i < n; i++) {
        xy[2 * i] = L.x[i] - cx;
        xy[2 * i + 1] = L.y[i] - cy;
    }
    rc = 0;
fail:
    free(L.x);
    free(L.y);
    free(L.nx);
    free(L.ny);
    free(L.next);
    free(L.cells);
    free(L.adj_start);
    free(L.adj);
    return rc;
}

int ug_graph_layout(ug_graph *g, const ug_graph_layout_options *opts) {
    if (!g)
        return UG_EINVAL;
    double *xy = malloc((2 * g->n + 1) * sizeof *xy);
    if (!xy)
        return UG_ENOMEM;
    int rc = ug__graph_layout_compute(g, opts, xy);
    if (!rc) {
        for (size_t i = 0; i < g->n; i++) {
            g->nodes[i].x = xy[2 * i];
            g->nodes[i].y = xy[2 * i + 1];
            g->nodes[i].placed = true;
        }
        g->placed = g->n;
    }
    free(xy);
    return rc;
}

int ug__graph_positions(const ug_graph *g, double **xy) {
    *xy = malloc((2 * g->n + 1) * sizeof **xy);
    if (!*xy)
        return UG_ENOMEM;
    if (ug_graph_has_layout(g)) {
        for (size_t i = 0; i < g->n; i++) {
            (*xy)[2 * i] = g->nodes[i].x;
            (*xy)[2 * i + 1] = g->nodes[i].y;
        }
        return 0;
    }
    int rc = ug__graph_layout_compute(g, NULL, *xy);
    if (rc) {
        free(*xy);
        *xy = NULL;
    }
    return rc;
}
