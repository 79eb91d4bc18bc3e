/* image_filter_isa.h - internal: the per-instruction-set loops behind
 * ug_image_filter, and a way to choose one.
 *
 * The driver (image_filter.c) converts each source row of a column tile
 * once, into a small ring of rows on its stack, and hands a few of those
 * rows to a row function, which writes one output row segment.  There are
 * two arithmetics, each in every instruction set:
 *   - float32, Pillow's own: every row function computes each output
 *     sample with exactly the same float32 operations in the same order
 *     (see image_filter.c), so all of them give the same bytes;
 *   - int16, for kernels whose float32 weights and start (offset + 0.5)
 *     are all multiples of 2^-shift with small enough sums (FIND_EDGES,
 *     BLUR, SHARPEN, ...): there every float32 operation above is exact,
 *     so Pillow's result is floor(T / 2^shift) clamped to 0..255, where T
 *     is the same sum in integers scaled by 2^shift, which int16 holds
 *     without overflow in any order (image_filter.c proves the bound).
 *
 * Not part of the public API: the tests reach ug__image_filter_isa (C
 * directly, Python through ctypes on libungil.so) to run each path on the
 * same data.  Everything here is thread-safe and keeps no state.
 */
#ifndef UNGIL_IMAGE_FILTER_ISA_H
#define UNGIL_IMAGE_FILTER_ISA_H

#include <stddef.h>
#include <stdint.h>

#include "ungil/image.h"

/* The code paths, slowest first.  Values are stable (the tests use them). */
enum ug__filter_isa {
    UG__ISA_PORTABLE = 0, /* plain C, any CPU */
    UG__ISA_SSE2 = 1,     /* x86 SSE2, 16 samples per step */
    UG__ISA_AVX2 = 2,     /* x86 AVX2, 16 samples per step in 256-bit registers */
    UG__ISA_COUNT
};

/* Or-ed into the `isa` of ug__image_filter_isa: use float32 even where
 * the int16 arithmetic would give the same bytes. */
enum { UG__FILTER_FLOAT_ONLY = 0x100 };

/* Converts n 8-bit samples to float32. */
typedef void (*ug__convert_fn)(const unsigned char *in, float *out, size_t n);

/* Writes n output samples of one row.  rows[k] is the float row that
 * kernel row k meets (rows[0] is the image row furthest below the output
 * row), positioned at the first output sample; samples up to
 * (size / 2) * d before and after the segment are readable.  w holds the
 * size x size weights already divided by the scale, start is offset + 0.5,
 * d the distance between neighbouring pixels' samples (the channel
 * count). */
typedef void (*ug__rows_fn)(const float *const *rows, ptrdiff_t d,
                            const float *w, float start, unsigned char *out,
                            size_t n);

/* Converts n 8-bit samples to int16. */
typedef void (*ug__convert16_fn)(const unsigned char *in, int16_t *out,
                                 size_t n);

/* The int16 twin of ug__rows_fn: m holds the weights times 2^shift, start
 * is (offset + 0.5) times 2^shift; each output sample is
 * clamp(floor(sum / 2^shift), 0, 255).  The caller guarantees that no
 * partial sum leaves the int16 range. */
typedef void (*ug__rows16_fn)(const int16_t *const *rows, ptrdiff_t d,
                              const int16_t *m, int16_t start, int shift,
                              unsigned char *out, size_t n);

/* One instruction set's loops. */
struct ug__filter_ops {
    ug__convert_fn convert;
    ug__rows_fn rows3, rows5;
    ug__convert16_fn convert16;
    ug__rows16_fn rows3_16, rows5_16;
};

extern const struct ug__filter_ops ug__filter_ops_portable;
#if defined(__x86_64__) || defined(__i386__)
extern const struct ug__filter_ops ug__filter_ops_sse2;
extern const struct ug__filter_ops ug__filter_ops_avx2;
#endif

/* Whether this build and this CPU can run path `isa`: 1 or 0. */
int ug__image_filter_isa_supported(int isa);

/* The fastest supported path. */
int ug__image_filter_best_isa(void);

/* ug_image_filter on path `isa` (an enum ug__filter_isa, optionally or-ed
 * with UG__FILTER_FLOAT_ONLY).  Returns what ug_image_filter returns, or
 * UG_EINVAL if `isa` is unknown or not supported here. */
int ug__image_filter_isa(ug_pool *pool, const ug_image *src, ug_image *dst,
                         const ug_kernel *kernel, int isa);

#endif
