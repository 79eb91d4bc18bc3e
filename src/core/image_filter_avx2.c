/* image_filter_avx2.c - the AVX2 loops of ug_image_filter.
 *
 * Sixteen neighbouring samples of one output row at a time, in two 256-bit
 * registers: lane j computes sample i + j with the very operations of the
 * portable loop (image_filter_portable.c), in the same order, each a
 * correctly rounded float32 multiply or add; so the bytes are the same.
 * The neighbours of a sample are `d` floats away in the float rows, so the
 * three (or five) products of a kernel row are unaligned loads at -d, 0,
 * +d (and +-2d), whatever the channel count.
 *
 * Only "avx2" is enabled for these functions, not "fma", and contraction
 * is off: a fused multiply-add would round once instead of twice and
 * change some bytes.  Clamping is max(x, 0) then min(x, 255): MAXPS
 * returns its second operand when the first is NaN, so NaN gives 0 as in
 * Pillow.  A row shorter than 16 samples, and the last partial step, are
 * handled by recomputing the final 16 samples (overlapping writes of equal
 * values), or by the portable loop below 16 samples.
 *
 * The int16 loops (see image_filter_isa.h) do 32 samples per step in two
 * registers: a low-half multiply and an add per weight (exact, so their
 * order is free), an arithmetic shift (floor), and a pack with unsigned
 * saturation, which is the clamp to 0..255.
 *
 * Compiled only for x86; the dispatcher calls it only when the CPU has
 * AVX2.
 */
#include "ungil/image.h"

#include "image_filter_isa.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define AVX2 __attribute__((target("avx2")))

enum { STEP = 16 };

/* The loops over kernel rows and columns below have constant trip counts;
 * unrolled, their weights stay in registers and no loop control runs. */
#define UNROLL_(n) _Pragma(#n)
#define UNROLL(n) UNROLL_(GCC unroll n)

AVX2 static void convert(const unsigned char *in, float *out, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i b = _mm_loadl_epi64((const __m128i *)(const void *)(in + i));
        _mm256_storeu_ps(out + i, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b)));
    }
    for (; i < n; i++)
        out[i] = (float)in[i];
}

/* Products of one kernel row for 8 samples starting at p, left to right;
 * k holds the row's weights, broadcast. */
AVX2 static inline __m256 prod3(const float *p, ptrdiff_t d, const __m256 *k) {
    __m256 s = _mm256_mul_ps(_mm256_loadu_ps(p - d), k[0]);
    s = _mm256_add_ps(s, _mm256_mul_ps(_mm256_loadu_ps(p), k[1]));
    return _mm256_add_ps(s, _mm256_mul_ps(_mm256_loadu_ps(p + d), k[2]));
}

AVX2 static inline __m256 prod5(const float *p, ptrdiff_t d, const __m256 *k) {
    __m256 s = _mm256_mul_ps(_mm256_loadu_ps(p - 2 * d), k[0]);
    s = _mm256_add_ps(s, _mm256_mul_ps(_mm256_loadu_ps(p - d), k[1]));
    s = _mm256_add_ps(s, _mm256_mul_ps(_mm256_loadu_ps(p), k[2]));
    s = _mm256_add_ps(s, _mm256_mul_ps(_mm256_loadu_ps(p + d), k[3]));
    return _mm256_add_ps(s, _mm256_mul_ps(_mm256_loadu_ps(p + 2 * d), k[4]));
}

/* Clamps 16 sums to 0..255, truncates them and stores them as bytes. */
AVX2 static inline void store16(unsigned char *out, __m256 a, __m256 b) {
    const __m256 lo = _mm256_setzero_ps(), hi = _mm256_set1_ps(255.0f);
    __m256i ia = _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(a, lo), hi));
    __m256i ib = _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(b, lo), hi));
    /* packs works within 128-bit lanes: a0-3 b0-3 | a4-7 b4-7; reorder the
     * 64-bit quarters to a0-3 a4-7 | b0-3 b4-7 before the final pack. */
    __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(ia, ib), 0xD8);
    __m128i bytes = _mm_packus_epi16(_mm256_castsi256_si128(w),
                                     _mm256_extracti128_si256(w, 1));
    _mm_storeu_si128((__m128i *)(void *)out, bytes);
}

AVX2 static void rows3(const float *const *rows, ptrdiff_t d, const float *w,
                       float start, unsigned char *out, size_t n) {
    if (n < STEP) {
        ug__filter_ops_portable.rows3(rows, d, w, start, out, n);
        return;
    }
    /* Local copies: `out` may alias anything, so values read through
     * pointers would be reloaded after every store. */
    const float *r0 = rows[0], *r1 = rows[1], *r2 = rows[2];
    __m256 k[9];
    for (int j = 0; j < 9; j++)
        k[j] = _mm256_set1_ps(w[j]);
    const __m256 s0 = _mm256_set1_ps(start);
    for (size_t i = 0;; i += STEP) {
        if (i > n - STEP)
            i = n - STEP;
        __m256 a = _mm256_add_ps(s0, prod3(r0 + i, d, k + 0));
        __m256 b = _mm256_add_ps(s0, prod3(r0 + i + 8, d, k + 0));
        a = _mm256_add_ps(a, prod3(r1 + i, d, k + 3));
        b = _mm256_add_ps(b, prod3(r1 + i + 8, d, k + 3));
        a = _mm256_add_ps(a, prod3(r2 + i, d, k + 6));
        b = _mm256_add_ps(b, prod3(r2 + i + 8, d, k + 6));
        store16(out + i, a, b);
        if (i == n - STEP)
            break;
    }
}

AVX2 static void rows5(const float *const *rows, ptrdiff_t d, const float *w,
                       float start, unsigned char *out, size_t n) {
    if (n < STEP) {
        ug__filter_ops_portable.rows5(rows, d, w, start, out, n);
        return;
    }
    const float *r[5] = {rows[0], rows[1], rows[2], rows[3], rows[4]};
    __m256 k[25];
    for (int j = 0; j < 25; j++)
        k[j] = _mm256_set1_ps(w[j]);
    const __m256 s0 = _mm256_set1_ps(start);
    for (size_t i = 0;; i += STEP) {
        if (i > n - STEP)
            i = n - STEP;
        __m256 a = s0, b = s0;
        UNROLL(5)
        for (int j = 0; j < 5; j++) {
            a = _mm256_add_ps(a, prod5(r[j] + i, d, k + 5 * j));
            b = _mm256_add_ps(b, prod5(r[j] + i + 8, d, k + 5 * j));
        }
        store16(out + i, a, b);
        if (i == n - STEP)
            break;
    }
}

AVX2 static void convert16(const unsigned char *in, int16_t *out, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(in + i));
        _mm256_storeu_si256((__m256i *)(void *)(out + i), _mm256_cvtepu8_epi16(b));
    }
    for (; i < n; i++)
        out[i] = in[i];
}

/* One weight's term for 16 samples at p: p * m, added to acc. */
AVX2 static inline __m256i term16(__m256i acc, const int16_t *p, __m256i m) {
    __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)p);
    return _mm256_add_epi16(acc, _mm256_mullo_epi16(v, m));
}

/* floor(acc / 2^shift) for 32 sums, saturated to 0..255, stored. */
AVX2 static inline void store32(unsigned char *out, __m256i a, __m256i b,
                                __m128i shift) {
    a = _mm256_sra_epi16(a, shift);
    b = _mm256_sra_epi16(b, shift);
    /* packus works within 128-bit lanes: a0-7 b0-7 | a8-15 b8-15. */
    __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi16(a, b), 0xD8);
    _mm256_storeu_si256((__m256i *)(void *)out, p);
}

AVX2 static void rows3_16(const int16_t *const *rows, ptrdiff_t d,
                          const int16_t *m, int16_t start, int shift,
                          unsigned char *out, size_t n) {
    if (n < 32) {
        ug__filter_ops_portable.rows3_16(rows, d, m, start, shift, out, n);
        return;
    }
    const int16_t *r[3] = {rows[0], rows[1], rows[2]};
    __m256i k[9];
    for (int j = 0; j < 9; j++)
        k[j] = _mm256_set1_epi16(m[j]);
    const __m256i s0 = _mm256_set1_epi16(start);
    const __m128i sh = _mm_cvtsi32_si128(shift);
    for (size_t i = 0;; i += 32) {
        if (i > n - 32)
            i = n - 32;
        __m256i a = s0, b = s0;
        UNROLL(3)
        for (int j = 0; j < 3; j++) {
            const int16_t *p = r[j] + i;
            a = term16(a, p - d, k[3 * j]);
            b = term16(b, p + 16 - d, k[3 * j]);
            a = term16(a, p, k[3 * j + 1]);
            b = term16(b, p + 16, k[3 * j + 1]);
            a = term16(a, p + d, k[3 * j + 2]);
            b = term16(b, p + 16 + d, k[3 * j + 2]);
        }
        store32(out + i, a, b, sh);
        if (i == n - 32)
            break;
    }
}

AVX2 static void rows5_16(const int16_t *const *rows, ptrdiff_t d,
                          const int16_t *m, int16_t start, int shift,
                          unsigned char *out, size_t n) {
    if (n < 32) {
        ug__filter_ops_portable.rows5_16(rows, d, m, start, shift, out, n);
        return;
    }
    const int16_t *r[5] = {rows[0], rows[1], rows[2], rows[3], rows[4]};
    __m256i k[25];
    for (int j = 0; j < 25; j++)
        k[j] = _mm256_set1_epi16(m[j]);
    const __m256i s0 = _mm256_set1_epi16(start);
    const __m128i sh = _mm_cvtsi32_si128(shift);
    for (size_t i = 0;; i += 32) {
        if (i > n - 32)
            i = n - 32;
        __m256i a = s0, b = s0;
        UNROLL(5)
        for (int j = 0; j < 5; j++) {
            UNROLL(5)
            for (int x = -2; x <= 2; x++) {
                const int16_t *p = r[j] + i + x * d;
                a = term16(a, p, k[5 * j + x + 2]);
                b = term16(b, p + 16, k[5 * j + x + 2]);
            }
        }
        store32(out + i, a, b, sh);
        if (i == n - 32)
            break;
    }
}

const struct ug__filter_ops ug__filter_ops_avx2 = {
    convert, rows3, rows5, convert16, rows3_16, rows5_16};

#endif
