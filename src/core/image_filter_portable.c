/* image_filter_portable.c - the plain C loops of ug_image_filter: the
 * reference for the SIMD paths, the path on CPUs without them, and the
 * tails the SIMD loops leave over.
 *
 * One output sample, as Pillow computes it in float32: start at
 * offset + 0.5, add one partial sum per kernel row (kernel row 0 first;
 * it meets the image row below the pixel), each partial sum being that
 * row's products summed left to right; clamp to 0..255, truncate.  The
 * compiler may vectorise these loops, which keeps every sample's
 * operations and their order; it must not fuse a multiply and an add,
 * hence the pragmas (see image_filter.c).
 */
#include "image_filter_isa.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/* Pillow's clip: NaN and anything <= 0 give 0, >= 255 gives 255, the rest
 * is truncated.  (Pillow converts NaN to an integer, which x86 makes 0.) */
static inline unsigned char clip8(float v) {
    if (!(v > 0.0f))
        return 0;
    if (v >= 255.0f)
        return 255;
    return (unsigned char)v;
}

static void convert(const unsigned char *in, float *out, size_t n) {
    for (size_t i = 0; i < n; i++)
        out[i] = (float)in[i];
}

/* Products of three samples d apart, centred on p, summed left to right. */
static inline float row3(const float *p, ptrdiff_t d, const float *k) {
    return p[-d] * k[0] + p[0] * k[1] + p[d] * k[2];
}

static inline float row5(const float *p, ptrdiff_t d, const float *k) {
    return p[-2 * d] * k[0] + p[-d] * k[1] + p[0] * k[2] + p[d] * k[3] +
           p[2 * d] * k[4];
}

static void rows3(const float *const *rows, ptrdiff_t d, const float *w,
                  float start, unsigned char *out, size_t n) {
    const float *r0 = rows[0], *r1 = rows[1], *r2 = rows[2];
    for (size_t i = 0; i < n; i++) {
        float ss = start;
        ss += row3(r0 + i, d, w + 0);
        ss += row3(r1 + i, d, w + 3);
        ss += row3(r2 + i, d, w + 6);
        out[i] = clip8(ss);
    }
}

static void rows5(const float *const *rows, ptrdiff_t d, const float *w,
                  float start, unsigned char *out, size_t n) {
    const float *r0 = rows[0], *r1 = rows[1], *r2 = rows[2];
    const float *r3 = rows[3], *r4 = rows[4];
    for (size_t i = 0; i < n; i++) {
        float ss = start;
        ss += row5(r0 + i, d, w + 0);
        ss += row5(r1 + i, d, w + 5);
        ss += row5(r2 + i, d, w + 10);
        ss += row5(r3 + i, d, w + 15);
        ss += row5(r4 + i, d, w + 20);
        out[i] = clip8(ss);
    }
}

const struct ug__filter_ops ug__filter_ops_portable = {convert, rows3, rows5};
