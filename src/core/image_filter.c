/* image_filter.c - Pillow-exact 3x3 and 5x5 convolution on 8-bit images.
 *
 * Exactness comes from doing the arithmetic in Pillow's order, in float32:
 * the weights are divided by the scale once, each output sample starts
 * from offset + 0.5, adds one partial sum per kernel row (kernel row 0
 * against the image row below the pixel, the last kernel row against the
 * row above), each partial sum being the products of one image row summed
 * left to right; then the total is clamped to 0..255 and truncated.  Any
 * other order (double, integers, fused multiply-adds) rounds differently
 * on some pixels: DETAIL and SMOOTH_MORE show it within a few images.
 *
 * Fused multiply-adds must therefore be off for this file, whatever the
 * build's flags.  Clang honours the standard pragma below (unless forced
 * with -ffp-contract=fast, which overrides it: a known limit).  GCC
 * ignores that pragma but honours its own optimize pragma, which wins even
 * over -std=gnu11 and an explicit -ffp-contract=fast on an FMA machine
 * (checked: no vfmadd in the object code with -mfma in either case).
 *
 * Rows are independent, so the work is split into bands of rows with
 * ug_parallel_for.  This is portable scalar code; SIMD comes later and
 * must keep the same order of operations per sample.
 */
#include "ungil/image.h"

#include <stdint.h>
#include <string.h>

#include "ungil/error.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/* Below this many bytes of output, a pool costs more than it saves. */
enum { PARALLEL_MIN_BYTES = 1 << 16 };

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
    int size;           /* 3 or 5 */
    float w[25];        /* weights already divided by the scale */
    float start;        /* offset + 0.5 */
    size_t row_bytes;   /* width * channels */
    int copy_all;       /* image smaller than the kernel: copy it */
};

/* Pillow's clip: NaN and anything <= 0 give 0, >= 255 gives 255, the rest
 * is truncated.  (Pillow converts NaN to an integer, which x86 makes 0.) */
static inline unsigned char clip8(float v) {
    if (!(v > 0.0f))
        return 0;
    if (v >= 255.0f)
        return 255;
    return (unsigned char)v;
}

/* Products of three samples d bytes apart, centred on p, summed left to
 * right. */
static inline float row3(const unsigned char *p, ptrdiff_t d, const float *k) {
    return (float)p[-d] * k[0] + (float)p[0] * k[1] + (float)p[d] * k[2];
}

static inline float row5(const unsigned char *p, ptrdiff_t d, const float *k) {
    return (float)p[-2 * d] * k[0] + (float)p[-d] * k[1] + (float)p[0] * k[2] +
           (float)p[d] * k[3] + (float)p[2 * d] * k[4];
}

/* Filters the interior samples of row y (the caller copies the border). */
static void filter_row3(const struct filter_job *job, int y) {
    const ug_image *s = job->src;
    const ptrdiff_t d = s->channels;
    const unsigned char *above = s->data + (size_t)(y - 1) * s->stride;
    const unsigned char *here = above + s->stride;
    const unsigned char *below = here + s->stride;
    unsigned char *out = job->dst->data + (size_t)y * job->dst->stride;
    const size_t end = job->row_bytes - (size_t)d;
    for (size_t i = (size_t)d; i < end; i++) {
        float ss = job->start;
        ss += row3(below + i, d, job->w + 0);
        ss += row3(here + i, d, job->w + 3);
        ss += row3(above + i, d, job->w + 6);
        out[i] = clip8(ss);
    }
}

static void filter_row5(const struct filter_job *job, int y) {
    const ug_image *s = job->src;
    const ptrdiff_t d = s->channels;
    const unsigned char *r0 = s->data + (size_t)(y - 2) * s->stride;
    const unsigned char *r1 = r0 + s->stride, *r2 = r1 + s->stride;
    const unsigned char *r3 = r2 + s->stride, *r4 = r3 + s->stride;
    unsigned char *out = job->dst->data + (size_t)y * job->dst->stride;
    const size_t end = job->row_bytes - 2 * (size_t)d;
    for (size_t i = 2 * (size_t)d; i < end; i++) {
        float ss = job->start;
        ss += row5(r4 + i, d, job->w + 0);
        ss += row5(r3 + i, d, job->w + 5);
        ss += row5(r2 + i, d, job->w + 10);
        ss += row5(r1 + i, d, job->w + 15);
        ss += row5(r0 + i, d, job->w + 20);
        out[i] = clip8(ss);
    }
}

/* ug_range_fn over rows [begin, end). */
static int filter_rows(void *ctx, size_t begin, size_t end) {
    const struct filter_job *job = ctx;
    const ug_image *s = job->src;
    ug_image *o = job->dst;
    const int r = job->size / 2;
    const size_t edge = (size_t)r * (size_t)s->channels;
    for (size_t yy = begin; yy < end; yy++) {
        int y = (int)yy;
        const unsigned char *in = s->data + yy * s->stride;
        unsigned char *out = o->data + yy * o->stride;
        if (job->copy_all || y < r || y >= s->height - r) {
            memcpy(out, in, job->row_bytes);
            continue;
        }
        memcpy(out, in, edge);
        memcpy(out + job->row_bytes - edge, in + job->row_bytes - edge, edge);
        if (job->size == 3)
            filter_row3(job, y);
        else
            filter_row5(job, y);
    }
    return 0;
}

/* Checks one view; sets *bytes to the span its rows cover. */
static int valid_view(const ug_image *im, size_t *bytes) {
    if (!im || im->width < 0 || im->height < 0)
        return 0;
    if (im->channels != 1 && im->channels != 3 && im->channels != 4)
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

int ug_image_filter(ug_pool *pool, const ug_image *src, ug_image *dst,
                    const ug_kernel *kernel) {
    size_t src_bytes, dst_bytes;
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
        .size = kernel->size,
        .row_bytes = (size_t)src->width * (size_t)src->channels,
        .copy_all = src->width < kernel->size || src->height < kernel->size,
    };
    /* float / float, as Pillow divides its float32 weights by its float32
     * scale; offset + 0.5 is exact for any sensible offset. */
    for (int i = 0; i < kernel->size * kernel->size; i++)
        job.w[i] = kernel->weights[i] / kernel->scale;
    job.start = (float)((double)kernel->offset + 0.5);

    size_t rows = (size_t)src->height;
    if (!pool || job.row_bytes * rows < PARALLEL_MIN_BYTES)
        return filter_rows(&job, 0, rows);
    /* Bands of at least 16 rows keep the per-chunk overhead small. */
    size_t grain = rows / (4 * (size_t)ug_pool_workers(pool) + 4);
    if (grain < 16)
        grain = 16;
    return ug_parallel_for(pool, rows, grain, filter_rows, &job);
}
