/* image_filter.c - Pillow-exact 3x3 and 5x5 convolution on 8-bit images:
 * the kernels, argument checks, bands of rows, column tiles, and the choice
 * of SIMD loops.
 *
 * Exactness comes from doing the arithmetic in Pillow's order, in float32:
 * the weights are divided by the scale once, each output sample starts
 * from offset + 0.5, adds one partial sum per kernel row (kernel row 0
 * against the image row below the pixel, the last kernel row against the
 * row above), each partial sum being the products of one image row summed
 * left to right; then the total is clamped to 0..255 and truncated.  Any
 * other order (double, integers, fused multiply-adds) rounds differently
 * on some pixels: DETAIL and SMOOTH_MORE show it within a few images.
 * The loops that do it live in image_filter_portable.c, _sse2.c and
 * _avx2.c (see image_filter_isa.h); all give the same bytes.
 *
 * Fused multiply-adds must therefore be off in all of those files,
 * whatever the build's flags.  Clang honours the standard pragma (unless
 * forced with -ffp-contract=fast, which overrides it: a known limit).  GCC
 * ignores that pragma but honours its own optimize pragma, which wins even
 * over -std=gnu11 and an explicit -ffp-contract=fast on an FMA machine
 * (checked: no vfmadd in the object code with -mfma in either case).
 *
 * Data flow: rows are independent, so the image is split into bands of
 * rows run with ug_parallel_for.  Within a band, the row is cut into
 * column tiles of at most TILE samples; for each tile the driver walks
 * down the band keeping the last 3 (or 5) source rows of the tile, plus
 * the neighbours the kernel needs on either side, as float32 in a ring on
 * the stack: each source sample is converted once per tile and reused by
 * every output row that needs it, and the ring stays in the core's caches.
 * Channels stay interleaved: a pixel's neighbour is `channels` samples
 * away, so RGB, RGBA and LA need no de-interleaving.
 */
#include "ungil/image.h"

#include "image_filter_isa.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ungil/error.h"

/* Below this many bytes of output, a pool costs more than it saves. */
enum { PARALLEL_MIN_BYTES = 1 << 16 };

/* Output samples per column tile.  The ring takes 5 * (TILE + 16)
 * floats, 80 KB of stack (any thread's stack has room: glibc's default is
 * 8 MB, musl's 128 KB).  Longer tiles keep the hardware prefetcher on a
 * stream longer; 4096 measured faster than 1024 and 2048 on a
 * 4096-pixel-wide RGB image. */
enum { TILE = 4096, MAX_HALO = 2 * 4 };

static const char *const builtin_names[] = {
    "BLUR",   "CONTOUR",    "DETAIL",  "EDGE_ENHANCE", "EDGE_ENHANCE_MORE",
    "EMBOSS", "FIND_EDGES", "SHARPEN", "SMOOTH",       "SMOOTH_MORE",
};

/* PIL.ImageFilter's built-in kernels: size, scale, offset, weights. */
static const ug_kernel builtin_kernels[] = {
    {5, {1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1},
     16, 0},
    {3, {-1, -1, -1, -1, 8, -1, -1, -1, -1}, 1, 255},
    {3, {0, -1, 0, -1, 10, -1, 0, -1, 0}, 6, 0},
    {3, {-1, -1, -1, -1, 10, -1, -1, -1, -1}, 2, 0},
    {3, {-1, -1, -1, -1, 9, -1, -1, -1, -1}, 1, 0},
    {3, {-1, 0, 0, 0, 1, 0, 0, 0, 0}, 1, 128},
    {3, {-1, -1, -1, -1, 8, -1, -1, -1, -1}, 1, 0},
    {3, {-2, -2, -2, -2, 32, -2, -2, -2, -2}, 16, 0},
    {3, {1, 1, 1, 1, 5, 1, 1, 1, 1}, 13, 0},
    {5, {1, 1, 1, 1, 1, 1, 5, 5, 5, 1, 1, 5, 44, 5, 1, 1, 5, 5, 5, 1, 1, 1, 1, 1, 1},
     100, 0},
};

enum { BUILTIN_COUNT = sizeof builtin_names / sizeof *builtin_names };
_Static_assert(sizeof builtin_kernels / sizeof *builtin_kernels == BUILTIN_COUNT,
               "one kernel per name");

int ug_kernel_init(ug_kernel *out, int size, const float *weights,
                   const float *scale, float offset) {
    if (!out || !weights || (size != 3 && size != 5))
        return UG_EINVAL;
    memset(out, 0, sizeof *out);
    out->size = size;
    /* Python sums the weights in double and Pillow rounds the sum to
     * float once; a float sum would differ in the last bit. */
    double sum = 0;
    for (int i = 0; i < size * size; i++) {
        out->weights[i] = weights[i];
        sum += weights[i];
    }
    out->scale = scale ? *scale : (float)sum;
    out->offset = offset;
    return 0;
}

/* ASCII case-insensitive equality, independent of the locale. */
static int same_name(const char *a, const char *b) {
    for (;; a++, b++) {
        unsigned char ca = (unsigned char)*a, cb = (unsigned char)*b;
        if (ca >= 'a' && ca <= 'z')
            ca = (unsigned char)(ca - 'a' + 'A');
        if (ca != cb)
            return 0;
        if (!ca)
            return 1;
    }
}

int ug_kernel_builtin(const char *name, ug_kernel *out) {
    if (!name || !out)
        return UG_EINVAL;
    for (size_t i = 0; i < BUILTIN_COUNT; i++) {
        if (same_name(name, builtin_names[i])) {
            *out = builtin_kernels[i];
            return 0;
        }
    }
    return UG_EINVAL;
}

const char *ug_kernel_builtin_name(size_t index) {
    return index < BUILTIN_COUNT ? builtin_names[index] : NULL;
}

/* One filter call, shared by every band. */
struct filter_job {
    const ug_image *src;
    ug_image *dst;
    const struct ug__filter_ops *ops;
    int size;           /* 3 or 5 */
    float w[25];        /* weights already divided by the scale */
    float start;        /* offset + 0.5 */
    int exact16;        /* use the int16 loops: m, start16, shift are set */
    int16_t m[25];      /* w * 2^shift, integers */
    int16_t start16;    /* start * 2^shift */
    int shift;
    size_t row_bytes;   /* width * channels */
    int copy_all;       /* image smaller than the kernel: copy it */
};

/* Sets job->exact16 (and m, start16, shift) when the int16 loops give
 * Pillow's bytes.  Why they do: if every float32 weight w and the start
 * are multiples of 2^-shift, every product (w times an integer sample)
 * and every partial sum Pillow forms is a multiple of 2^-shift bounded by
 * B = |start| + 255 * sum |w|; when B * 2^shift < 2^15 (< 2^24 would do
 * for float32), all of them are exactly representable in float32, so no
 * operation rounds and Pillow's sum is the exact value F = T / 2^shift,
 * with T the integer sum of m * sample + start16.  Pillow then gives 0
 * for F <= 0, 255 for F >= 255, else trunc(F) = floor(F); that is
 * clamp(floor(T / 2^shift), 0, 255).  The same bound keeps every int16
 * partial sum, in any order, from overflowing. */
static int is_int16(double x) {
    /* NaN and infinities fail the range test. */
    return x >= -INT16_MAX && x <= INT16_MAX && x == floor(x);
}

static void plan_exact16(struct filter_job *job) {
    const int n = job->size * job->size;
    job->exact16 = 0;
    for (int shift = 0; shift <= 14; shift++) {
        const double scale = (double)(1 << shift);
        /* x * scale is exact in double for any float x. */
        double start = (double)job->start * scale;
        if (!is_int16(start))
            continue;
        double bound = fabs(start);
        int i = 0;
        for (; i < n; i++) {
            double m = (double)job->w[i] * scale;
            if (!is_int16(m))
                break;
            bound += 255 * fabs(m);
        }
        if (i < n)
            continue;
        if (bound > INT16_MAX)
            return; /* larger shifts only make it larger */
        for (i = 0; i < n; i++)
            job->m[i] = (int16_t)((double)job->w[i] * scale);
        job->start16 = (int16_t)start;
        job->shift = shift;
        job->exact16 = 1;
        return;
    }
}

/* The ring of converted rows: float32 or int16, one at a time. */
union ring {
    float f[5][TILE + 2 * MAX_HALO];
    int16_t i[5][TILE + 2 * MAX_HALO];
};

/* Converts n samples at in into slot `slot` of the ring. */
static void convert_row(const struct filter_job *job, union ring *ring,
                        int slot, const unsigned char *in, size_t n) {
    if (job->exact16)
        job->ops->convert16(in, ring->i[slot], n);
    else
        job->ops->convert(in, ring->f[slot], n);
}

/* Filters n samples of one output row; slots[i] is the ring slot of the
 * row that kernel row i meets, halo the samples before the first output
 * sample in each slot. */
static void filter_segment(const struct filter_job *job, union ring *ring,
                           const int *slots, size_t halo, unsigned char *out,
                           size_t n) {
    const ptrdiff_t d = job->src->channels;
    if (job->exact16) {
        const int16_t *rows[5];
        for (int i = 0; i < job->size; i++)
            rows[i] = ring->i[slots[i]] + halo;
        if (job->size == 3)
            job->ops->rows3_16(rows, d, job->m, job->start16, job->shift, out, n);
        else
            job->ops->rows5_16(rows, d, job->m, job->start16, job->shift, out, n);
    } else {
        const float *rows[5];
        for (int i = 0; i < job->size; i++)
            rows[i] = ring->f[slots[i]] + halo;
        if (job->size == 3)
            job->ops->rows3(rows, d, job->w, job->start, out, n);
        else
            job->ops->rows5(rows, d, job->w, job->start, out, n);
    }
}

/* Filters the interior samples of rows [y0, y1), which are all at least
 * size / 2 rows away from the top and bottom edges. */
static void filter_band(const struct filter_job *job, int y0, int y1) {
    _Alignas(32) union ring ring;
    const ug_image *s = job->src;
    const int r = job->size / 2, k = job->size;
    const size_t halo = (size_t)r * (size_t)s->channels;
    const size_t first = halo, last = job->row_bytes - halo;
    int slots[5];
    for (size_t x0 = first; x0 < last; x0 += TILE) {
        size_t n = last - x0 < TILE ? last - x0 : TILE;
        const unsigned char *col = s->data + (x0 - halo);
        for (int y = y0 - r; y < y0 + r; y++)
            convert_row(job, &ring, y % k, col + (size_t)y * s->stride,
                        n + 2 * halo);
        for (int y = y0; y < y1; y++) {
            const unsigned char *in = col + (size_t)(y + r) * s->stride;
            /* The hardware prefetcher loses the stream at every tile row
             * (a new page): ask for the next row's source segment now.
             * (Prefetching the output for writing measured slower.) */
            if (y + 1 < y1)
                for (size_t b = 0; b < n + 2 * halo; b += 64)
                    __builtin_prefetch(in + s->stride + b);
            convert_row(job, &ring, (y + r) % k, in, n + 2 * halo);
            /* Kernel row i meets image row y + r - i. */
            for (int i = 0; i < k; i++)
                slots[i] = (y + r - i) % k;
            filter_segment(job, &ring, slots, halo,
                           job->dst->data + (size_t)y * job->dst->stride + x0, n);
        }
    }
}

/* ug_range_fn over rows [begin, end): copies the border, filters the
 * rest. */
static int filter_rows(void *ctx, size_t begin, size_t end) {
    const struct filter_job *job = ctx;
    const ug_image *s = job->src;
    ug_image *o = job->dst;
    const int r = job->size / 2;
    const size_t edge = (size_t)r * (size_t)s->channels;
    int lo = (int)begin, hi = (int)end;
    for (int y = lo; y < hi; y++) {
        const unsigned char *in = s->data + (size_t)y * s->stride;
        unsigned char *out = o->data + (size_t)y * o->stride;
        if (job->copy_all || y < r || y >= s->height - r) {
            memcpy(out, in, job->row_bytes);
            continue;
        }
        memcpy(out, in, edge);
        memcpy(out + job->row_bytes - edge, in + job->row_bytes - edge, edge);
    }
    if (job->copy_all)
        return 0;
    if (lo < r)
        lo = r;
    if (hi > s->height - r)
        hi = s->height - r;
    if (lo < hi)
        filter_band(job, lo, hi);
    return 0;
}

/* Checks one view; sets *bytes to the span its rows cover. */
static int valid_view(const ug_image *im, size_t *bytes) {
    if (!im || im->width < 0 || im->height < 0)
        return 0;
    if (im->channels < 1 || im->channels > 4)
        return 0;
    if (im->width == 0 || im->height == 0) {
        *bytes = 0;
        return 1;
    }
    size_t row = (size_t)im->width * (size_t)im->channels;
    if (!im->data || im->stride < row)
        return 0;
    if ((size_t)(im->height - 1) > (SIZE_MAX - row) / im->stride)
        return 0;
    *bytes = (size_t)(im->height - 1) * im->stride + row;
    return 1;
}

static const struct ug__filter_ops *isa_ops(int isa) {
    switch (isa) {
    case UG__ISA_PORTABLE:
        return &ug__filter_ops_portable;
#if defined(__x86_64__) || defined(__i386__)
    case UG__ISA_SSE2:
        return &ug__filter_ops_sse2;
    case UG__ISA_AVX2:
        return &ug__filter_ops_avx2;
#endif
    default:
        return NULL;
    }
}

int ug__image_filter_isa_supported(int isa) {
    if (!isa_ops(isa))
        return 0;
#if defined(__x86_64__) || defined(__i386__)
    /* Reads what libgcc (or compiler-rt) found out about the CPU once, at
     * load time; __builtin_cpu_init only makes sure that has happened. */
    __builtin_cpu_init();
    if (isa == UG__ISA_SSE2)
        return __builtin_cpu_supports("sse2") != 0;
    if (isa == UG__ISA_AVX2)
        return __builtin_cpu_supports("avx2") != 0;
#endif
    return 1;
}

int ug__image_filter_best_isa(void) {
    int best = UG__ISA_PORTABLE;
    for (int isa = UG__ISA_PORTABLE + 1; isa < UG__ISA_COUNT; isa++)
        if (ug__image_filter_isa_supported(isa))
            best = isa;
    return best;
}

int ug__image_filter_isa(ug_pool *pool, const ug_image *src, ug_image *dst,
                         const ug_kernel *kernel, int isa) {
    size_t src_bytes, dst_bytes;
    const int base = isa & ~UG__FILTER_FLOAT_ONLY;
    if (isa < 0 || !ug__image_filter_isa_supported(base))
        return UG_EINVAL;
    if (!kernel || (kernel->size != 3 && kernel->size != 5))
        return UG_EINVAL;
    if (!valid_view(src, &src_bytes) || !valid_view(dst, &dst_bytes))
        return UG_EINVAL;
    if (src->width != dst->width || src->height != dst->height ||
        src->channels != dst->channels)
        return UG_EINVAL;
    if (src_bytes == 0)
        return 0;
    uintptr_t s0 = (uintptr_t)src->data, d0 = (uintptr_t)dst->data;
    if (s0 < d0 + dst_bytes && d0 < s0 + src_bytes)
        return UG_EINVAL;

    struct filter_job job = {
        .src = src,
        .dst = dst,
        .ops = isa_ops(base),
        .size = kernel->size,
        .row_bytes = (size_t)src->width * (size_t)src->channels,
        .copy_all = src->width < kernel->size || src->height < kernel->size,
    };
    /* float / float, as Pillow divides its float32 weights by its float32
     * scale; offset + 0.5 is exact for any sensible offset. */
    for (int i = 0; i < kernel->size * kernel->size; i++)
        job.w[i] = kernel->weights[i] / kernel->scale;
    job.start = (float)((double)kernel->offset + 0.5);
    if (!(isa & UG__FILTER_FLOAT_ONLY))
        plan_exact16(&job);

    size_t rows = (size_t)src->height;
    if (!pool || job.row_bytes * rows < PARALLEL_MIN_BYTES)
        return filter_rows(&job, 0, rows);
    /* About 16 bands per thread (the workers and the caller): threads take
     * bands as they finish, so a thread slowed by another process leaves
     * at most a small band for the end.  Each band converts size - 1 rows
     * more than it outputs, so bands stay at least 32 rows tall. */
    size_t grain = rows / (16 * ((size_t)ug_pool_workers(pool) + 1));
    if (grain < 32)
        grain = 32;
    return ug_parallel_for(pool, rows, grain, filter_rows, &job);
}

int ug_image_filter(ug_pool *pool, const ug_image *src, ug_image *dst,
                    const ug_kernel *kernel) {
    return ug__image_filter_isa(pool, src, dst, kernel,
                                ug__image_filter_best_isa());
}
