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
 *
 * The integer twins (see image_filter_isa.h) sum in int, where order does
 * not matter, and floor by testing the sign first (right-shifting a
 * negative int is implementation-defined in C; a sum <= 0 gives 0
 * anyway).
 */
#include "ungil/image.h"

#include "image_filter_isa.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/* Samples per chunk: each loop below runs a constant 64 times on full
 * chunks, which lets the compiler vectorise it even at -O2 (GCC's
 * "very cheap" cost model wants a trip count that is a multiple of the
 * vector width); the last partial chunk runs the same loops with its own
 * count. */
enum { CHUNK = 64 };

/* The helpers below take the kernel size as a parameter; inlined into
 * rows3 and rows5 it becomes a constant, and the loops simple enough to
 * vectorise. */
#if defined(__GNUC__)
#define INLINE static inline __attribute__((always_inline))
#else
#define INLINE static inline
#endif

/* Pillow's clip, written with selects so that it vectorises: NaN and
 * anything <= 0 give 0, >= 255 gives 255, the rest is truncated.
 * (Pillow converts NaN to an integer, which x86 makes 0.) */
static inline unsigned char clip8(float v) {
    v = v > 0.0f ? v : 0.0f;
    v = v < 255.0f ? v : 255.0f;
    return (unsigned char)(int)v;
}

static void convert(const unsigned char *in, float *out, size_t n) {
    for (size_t i = 0; i < n; i++)
        out[i] = (float)in[i];
}

/* acc[i] += the products of one kernel row of `size` weights k, for m
 * samples starting at p, summed left to right. */
INLINE void row_sum(float *restrict acc, const float *p, ptrdiff_t d,
                           const float *k, int size, size_t m) {
    for (size_t i = 0; i < m; i++) {
        const float *q = p + i;
        float s;
        if (size == 3)
            s = q[-d] * k[0] + q[0] * k[1] + q[d] * k[2];
        else
            s = q[-2 * d] * k[0] + q[-d] * k[1] + q[0] * k[2] + q[d] * k[3] +
                q[2 * d] * k[4];
        acc[i] += s;
    }
}

/* One chunk of m <= CHUNK samples: the sum starts at `start`, adds kernel
 * row 0's partial sum first, then the others in order. */
INLINE void chunk(const float *const *rows, size_t at, ptrdiff_t d,
                         const float *w, float start, int size,
                         unsigned char *out, size_t m) {
    float acc[CHUNK];
    for (size_t i = 0; i < m; i++)
        acc[i] = start;
    for (int k = 0; k < size; k++)
        row_sum(acc, rows[k] + at, d, w + size * k, size, m);
    for (size_t i = 0; i < m; i++)
        out[at + i] = clip8(acc[i]);
}

INLINE void rows_any(const float *const *rows, ptrdiff_t d, const float *w,
                     float start, int size, unsigned char *out, size_t n) {
    size_t at = 0;
    for (; at + CHUNK <= n; at += CHUNK)
        chunk(rows, at, d, w, start, size, out, CHUNK);
    if (at < n)
        chunk(rows, at, d, w, start, size, out, n - at);
}

static void rows3(const float *const *rows, ptrdiff_t d, const float *w,
                  float start, unsigned char *out, size_t n) {
    rows_any(rows, d, w, start, 3, out, n);
}

static void rows5(const float *const *rows, ptrdiff_t d, const float *w,
                  float start, unsigned char *out, size_t n) {
    rows_any(rows, d, w, start, 5, out, n);
}

static void convert16(const unsigned char *in, int16_t *out, size_t n) {
    for (size_t i = 0; i < n; i++)
        out[i] = in[i];
}

/* clamp(floor(sum / 2^shift), 0, 255), with selects. */
static inline unsigned char clip16(int sum, int shift) {
    sum = sum > 0 ? sum >> shift : 0;
    return (unsigned char)(sum < 255 ? sum : 255);
}

/* acc[i] += q[i] * mk for count samples. */
INLINE void add_term(int *restrict acc, const int16_t *q, int mk, size_t count) {
    for (size_t i = 0; i < count; i++)
        acc[i] += q[i] * mk;
}

/* The int16 twin of chunk(): any order of the exact integer sums. */
INLINE void chunk16(const int16_t *const *rows, size_t at, ptrdiff_t d,
                           const int16_t *m, int start, int shift, int size,
                           unsigned char *out, size_t count) {
    int acc[CHUNK];
    for (size_t i = 0; i < count; i++)
        acc[i] = start;
    for (int k = 0; k < size; k++) {
        const int16_t *p = rows[k] + at;
        for (int x = -(size / 2); x <= size / 2; x++)
            add_term(acc, p + x * d, m[size * k + x + size / 2], count);
    }
    for (size_t i = 0; i < count; i++)
        out[at + i] = clip16(acc[i], shift);
}

INLINE void rows16_any(const int16_t *const *rows, ptrdiff_t d,
                       const int16_t *m, int start, int shift, int size,
                       unsigned char *out, size_t n) {
    size_t at = 0;
    for (; at + CHUNK <= n; at += CHUNK)
        chunk16(rows, at, d, m, start, shift, size, out, CHUNK);
    if (at < n)
        chunk16(rows, at, d, m, start, shift, size, out, n - at);
}

static void rows3_16(const int16_t *const *rows, ptrdiff_t d, const int16_t *m,
                     int16_t start, int shift, unsigned char *out, size_t n) {
    rows16_any(rows, d, m, start, shift, 3, out, n);
}

static void rows5_16(const int16_t *const *rows, ptrdiff_t d, const int16_t *m,
                     int16_t start, int shift, unsigned char *out, size_t n) {
    rows16_any(rows, d, m, start, shift, 5, out, n);
}

const struct ug__filter_ops ug__filter_ops_portable = {
    convert, rows3, rows5, convert16, rows3_16, rows5_16};
