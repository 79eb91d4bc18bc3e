/* image_filter_isa.h - internal: the per-instruction-set loops behind
 * ug_image_filter, and a way to choose one.
 *
 * The driver (image_filter.c) converts each source row of a column tile to
 * float32 once, into a small ring of rows on its stack, and hands a few of
 * those float rows to a row function, which writes one output row segment.
 * Every row function computes each output sample with exactly the same
 * float32 operations in the same order (see image_filter.c), so all of
 * them give the same bytes; they differ only in how many samples they do
 * at once.
 *
 * Not part of the public API: the tests reach ug__image_filter_isa (C
 * directly, Python through ctypes on libungil.so) to run each path on the
 * same data.  Everything here is thread-safe and keeps no state.
 */
#ifndef UNGIL_IMAGE_FILTER_ISA_H
#define UNGIL_IMAGE_FILTER_ISA_H

#include <stddef.h>

#include "ungil/image.h"

/* The code paths, slowest first.  Values are stable (the tests use them). */
enum ug__filter_isa {
    UG__ISA_PORTABLE = 0, /* plain C, any CPU */
    UG__ISA_SSE2 = 1,     /* x86 SSE2, 16 samples per step */
    UG__ISA_AVX2 = 2,     /* x86 AVX2, 16 samples per step in 256-bit registers */
    UG__ISA_COUNT
};

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

/* One instruction set's loops. */
struct ug__filter_ops {
    ug__convert_fn convert;
    ug__rows_fn rows3, rows5;
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

/* ug_image_filter on path `isa`.  Returns what ug_image_filter returns, or
 * UG_EINVAL if `isa` is unknown or not supported here. */
int ug__image_filter_isa(ug_pool *pool, const ug_image *src, ug_image *dst,
                         const ug_kernel *kernel, int isa);

#endif
