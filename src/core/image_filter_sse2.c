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
 * SSE2 is part of x86-64, so on 64-bit x86 this path always runs; on
 * 32-bit x86 the dispatcher checks the CPU first.
 */
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
        for (int j = 0; j < 4; j++) {
            v[j] = s0;
            for (int k = 0; k < 5; k++)
                v[j] = _mm_add_ps(v[j], prod5(rows[k] + i + 4 * j, d, w + 5 * k));
        }
        store16(out + i, v);
        if (i == n - STEP)
            break;
    }
}

const struct ug__filter_ops ug__filter_ops_sse2 = {convert, rows3, rows5};

#endif
