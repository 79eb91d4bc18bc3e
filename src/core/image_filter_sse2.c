/* image_filter_sse2.c - the SSE2 loops of ug_image_filter.
 *
 * The same scheme as image_filter_avx2.c with 128-bit registers: sixteen
 * neighbouring samples of one output row per step, in four registers of
 * four lanes, each lane doing the portable loop's float32 operations in
 * the portable loop's order (image_filter_portable.c), so the bytes are
 * the same.  SSE2 has no byte-to-int widening instruction, so conversion
 * unpacks with zeros; clamping relies on MAXPS returning its second
 * operand (0) for a NaN first operand.  Rows shorter than 16 samples go to
 * the portable loop; the last partial step recomputes the final 16
 * samples.
 *
 * The int16 loops (see image_filter_isa.h) do 16 samples per step in two
 * registers: low-half multiplies and adds (exact, in any order), an
 * arithmetic shift (floor) and a pack with unsigned saturation (the
 * clamp).
 *
 * SSE2 is part of x86-64, so on 64-bit x86 this path always runs; on
 * 32-bit x86 the dispatcher checks the CPU first.
 */
#include "ungil/image.h"

#include "image_filter_isa.h"

#if defined(__x86_64__) || defined(__i386__)

#include <emmintrin.h>

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define SSE2 __attribute__((target("sse2")))

enum { STEP = 16 };

/* The loops over kernel rows and columns below have constant trip counts;
 * unrolled, their weights stay in registers and no loop control runs. */
#define UNROLL_(n) _Pragma(#n)
#define UNROLL(n) UNROLL_(GCC unroll n)

SSE2 static void convert(const unsigned char *in, float *out, size_t n) {
    const __m128i z = _mm_setzero_si128();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(in + i));
        __m128i lo = _mm_unpacklo_epi8(b, z), hi = _mm_unpackhi_epi8(b, z);
        _mm_storeu_ps(out + i, _mm_cvtepi32_ps(_mm_unpacklo_epi16(lo, z)));
        _mm_storeu_ps(out + i + 4, _mm_cvtepi32_ps(_mm_unpackhi_epi16(lo, z)));
        _mm_storeu_ps(out + i + 8, _mm_cvtepi32_ps(_mm_unpacklo_epi16(hi, z)));
        _mm_storeu_ps(out + i + 12, _mm_cvtepi32_ps(_mm_unpackhi_epi16(hi, z)));
    }
    for (; i < n; i++)
        out[i] = (float)in[i];
}

/* Products of one kernel row for 4 samples starting at p, left to right. */
SSE2 static inline __m128 prod3(const float *p, ptrdiff_t d, const float *k) {
    __m128 s = _mm_mul_ps(_mm_loadu_ps(p - d), _mm_set1_ps(k[0]));
    s = _mm_add_ps(s, _mm_mul_ps(_mm_loadu_ps(p), _mm_set1_ps(k[1])));
    return _mm_add_ps(s, _mm_mul_ps(_mm_loadu_ps(p + d), _mm_set1_ps(k[2])));
}

SSE2 static inline __m128 prod5(const float *p, ptrdiff_t d, const float *k) {
    __m128 s = _mm_mul_ps(_mm_loadu_ps(p - 2 * d), _mm_set1_ps(k[0]));
    s = _mm_add_ps(s, _mm_mul_ps(_mm_loadu_ps(p - d), _mm_set1_ps(k[1])));
    s = _mm_add_ps(s, _mm_mul_ps(_mm_loadu_ps(p), _mm_set1_ps(k[2])));
    s = _mm_add_ps(s, _mm_mul_ps(_mm_loadu_ps(p + d), _mm_set1_ps(k[3])));
    return _mm_add_ps(s, _mm_mul_ps(_mm_loadu_ps(p + 2 * d), _mm_set1_ps(k[4])));
}

/* Clamps 4 sums to 0..255 and truncates them to 32-bit integers. */
SSE2 static inline __m128i clip4(__m128 v) {
    v = _mm_min_ps(_mm_max_ps(v, _mm_setzero_ps()), _mm_set1_ps(255.0f));
    return _mm_cvttps_epi32(v);
}

SSE2 static inline void store16(unsigned char *out, const __m128 *v) {
    __m128i ab = _mm_packs_epi32(clip4(v[0]), clip4(v[1]));
    __m128i cd = _mm_packs_epi32(clip4(v[2]), clip4(v[3]));
    _mm_storeu_si128((__m128i *)(void *)out, _mm_packus_epi16(ab, cd));
}

SSE2 static void rows3(const float *const *rows, ptrdiff_t d, const float *w,
                       float start, unsigned char *out, size_t n) {
    if (n < STEP) {
        ug__filter_ops_portable.rows3(rows, d, w, start, out, n);
        return;
    }
    const __m128 s0 = _mm_set1_ps(start);
    for (size_t i = 0;; i += STEP) {
        if (i > n - STEP)
            i = n - STEP;
        __m128 v[4];
        UNROLL(4)
        for (int j = 0; j < 4; j++) {
            v[j] = _mm_add_ps(s0, prod3(rows[0] + i + 4 * j, d, w + 0));
            v[j] = _mm_add_ps(v[j], prod3(rows[1] + i + 4 * j, d, w + 3));
            v[j] = _mm_add_ps(v[j], prod3(rows[2] + i + 4 * j, d, w + 6));
        }
        store16(out + i, v);
        if (i == n - STEP)
            break;
    }
}

SSE2 static void rows5(const float *const *rows, ptrdiff_t d, const float *w,
                       float start, unsigned char *out, size_t n) {
    if (n < STEP) {
        ug__filter_ops_portable.rows5(rows, d, w, start, out, n);
        return;
    }
    const __m128 s0 = _mm_set1_ps(start);
    for (size_t i = 0;; i += STEP) {
        if (i > n - STEP)
            i = n - STEP;
        __m128 v[4];
        UNROLL(4)
        for (int j = 0; j < 4; j++) {
            v[j] = s0;
            UNROLL(5)
            for (int k = 0; k < 5; k++)
                v[j] = _mm_add_ps(v[j], prod5(rows[k] + i + 4 * j, d, w + 5 * k));
        }
        store16(out + i, v);
        if (i == n - STEP)
            break;
    }
}

SSE2 static void convert16(const unsigned char *in, int16_t *out, size_t n) {
    const __m128i z = _mm_setzero_si128();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(in + i));
        _mm_storeu_si128((__m128i *)(void *)(out + i), _mm_unpacklo_epi8(b, z));
        _mm_storeu_si128((__m128i *)(void *)(out + i + 8), _mm_unpackhi_epi8(b, z));
    }
    for (; i < n; i++)
        out[i] = in[i];
}

/* One weight's term for 8 samples at p: p * m, added to acc. */
SSE2 static inline __m128i term8(__m128i acc, const int16_t *p, __m128i m) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    return _mm_add_epi16(acc, _mm_mullo_epi16(v, m));
}

/* floor(acc / 2^shift) for 16 sums, saturated to 0..255, stored. */
SSE2 static inline void store16i(unsigned char *out, __m128i a, __m128i b,
                                 __m128i shift) {
    __m128i p = _mm_packus_epi16(_mm_sra_epi16(a, shift), _mm_sra_epi16(b, shift));
    _mm_storeu_si128((__m128i *)(void *)out, p);
}

SSE2 static void rows3_16(const int16_t *const *rows, ptrdiff_t d,
                          const int16_t *m, int16_t start, int shift,
                          unsigned char *out, size_t n) {
    if (n < 16) {
        ug__filter_ops_portable.rows3_16(rows, d, m, start, shift, out, n);
        return;
    }
    const int16_t *r[3] = {rows[0], rows[1], rows[2]};
    __m128i k[9];
    for (int j = 0; j < 9; j++)
        k[j] = _mm_set1_epi16(m[j]);
    const __m128i s0 = _mm_set1_epi16(start);
    const __m128i sh = _mm_cvtsi32_si128(shift);
    for (size_t i = 0;; i += 16) {
        if (i > n - 16)
            i = n - 16;
        __m128i a = s0, b = s0;
        UNROLL(3)
        for (int j = 0; j < 3; j++) {
            UNROLL(3)
            for (int x = -1; x <= 1; x++) {
                const int16_t *p = r[j] + i + x * d;
                a = term8(a, p, k[3 * j + x + 1]);
                b = term8(b, p + 8, k[3 * j + x + 1]);
            }
        }
        store16i(out + i, a, b, sh);
        if (i == n - 16)
            break;
    }
}

SSE2 static void rows5_16(const int16_t *const *rows, ptrdiff_t d,
                          const int16_t *m, int16_t start, int shift,
                          unsigned char *out, size_t n) {
    if (n < 16) {
        ug__filter_ops_portable.rows5_16(rows, d, m, start, shift, out, n);
        return;
    }
    const int16_t *r[5] = {rows[0], rows[1], rows[2], rows[3], rows[4]};
    __m128i k[25];
    for (int j = 0; j < 25; j++)
        k[j] = _mm_set1_epi16(m[j]);
    const __m128i s0 = _mm_set1_epi16(start);
    const __m128i sh = _mm_cvtsi32_si128(shift);
    for (size_t i = 0;; i += 16) {
        if (i > n - 16)
            i = n - 16;
        __m128i a = s0, b = s0;
        UNROLL(5)
        for (int j = 0; j < 5; j++) {
            UNROLL(5)
            for (int x = -2; x <= 2; x++) {
                const int16_t *p = r[j] + i + x * d;
                a = term8(a, p, k[5 * j + x + 2]);
                b = term8(b, p + 8, k[5 * j + x + 2]);
            }
        }
        store16i(out + i, a, b, sh);
        if (i == n - 16)
            break;
    }
}

const struct ug__filter_ops ug__filter_ops_sse2 = {
    convert, rows3, rows5, convert16, rows3_16, rows5_16};

#endif
