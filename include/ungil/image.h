/* ungil/image.h - 8-bit image views and Pillow-exact convolution filters.
 *
 * An ug_image is a view: it describes pixels that the caller owns (a NumPy
 * array, a Pillow buffer, a decoder's output) and never frees them.  Pixels
 * are interleaved 8-bit samples, `channels` per pixel: 1 (Pillow's "L"),
 * 2 ("LA"), 3 ("RGB") or 4 ("RGBA").  Rows are `stride` bytes apart, top
 * row first.
 *
 * ug_image_filter applies a 3x3 or 5x5 kernel with the same bytes as
 * Pillow's Image.filter(ImageFilter.Kernel(...)) and its built-in filters
 * (BLUR, FIND_EDGES, ...).  What Pillow does, as verified against Pillow
 * 13 and reproduced here:
 *   - every channel is filtered the same way, alpha included;
 *   - the outermost row and column (two of each for 5x5) are copied
 *     unfiltered;
 *   - an image narrower or shorter than the kernel is copied unchanged;
 *   - arithmetic is float32: each weight is divided by the scale first,
 *     the sum starts at offset + 0.5, kernel row 0 meets the image row
 *     below the pixel (the kernel is flipped vertically, not horizontally),
 *     and the sum is clamped to 0..255 and then truncated.  A sum that is
 *     not a number (a scale of 0 makes weights infinite or NaN) gives 0.
 * The loops are SSE2 or AVX2, whichever is the best the CPU has (checked
 * at run time), or portable C elsewhere; every path does the same float32
 * operations in the same order for each sample (no fused multiply-add),
 * so the bytes never depend on the CPU.  Kernels whose float32 arithmetic
 * provably never rounds (FIND_EDGES, BLUR, SHARPEN, ...: see
 * docs/images.md) run in exact 16-bit integers instead, with the same
 * bytes.
 *
 * Thread-safety: every function here is thread-safe; ug_image_filter only
 * reads `src` and writes `dst`, so calls on distinct outputs may run at
 * once.  Nothing here allocates.
 */
#ifndef UNGIL_IMAGE_H
#define UNGIL_IMAGE_H

#include <stddef.h>

#include "ungil/pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A view of caller-owned pixels. */
typedef struct ug_image {
    int width, height;    /* pixels; 0 is allowed (an empty image) */
    int channels;         /* 1 to 4 interleaved 8-bit samples per pixel */
    size_t stride;        /* bytes from one row to the next, >= width * channels */
    unsigned char *data;  /* top-left sample; may be NULL when the image is empty */
} ug_image;

/* A convolution kernel, as PIL.ImageFilter.Kernel(size, weights, scale,
 * offset).  Weights are row-major, `size` x `size`; the result for a pixel
 * is sum(weight / scale * sample) + offset.  Unlike the Python class, scale
 * has no "None" here: ug_kernel_init computes it from the weights. */
typedef struct ug_kernel {
    int size;            /* 3 or 5 */
    float weights[25];   /* the first size * size are used */
    float scale;
    float offset;
} ug_kernel;

/* Fills *out as PIL.ImageFilter.Kernel does: `size` is 3 or 5, `weights`
 * holds size * size values, `scale` NULL means the sum of the weights
 * (summed in double, in order, then rounded to float, as Python sums them
 * and Pillow stores the result).  A scale of 0 is kept, as Pillow keeps it.
 * Returns 0 or UG_EINVAL (bad size, NULL weights or out). */
int ug_kernel_init(ug_kernel *out, int size, const float *weights,
                   const float *scale, float offset);

/* Fills *out with one of Pillow's built-in filters, named as in
 * PIL.ImageFilter, case-insensitively: "BLUR", "CONTOUR", "DETAIL",
 * "EDGE_ENHANCE", "EDGE_ENHANCE_MORE", "EMBOSS", "FIND_EDGES", "SHARPEN",
 * "SMOOTH", "SMOOTH_MORE".  Returns 0, or UG_EINVAL for an unknown name or
 * NULL arguments. */
int ug_kernel_builtin(const char *name, ug_kernel *out);

/* The name of built-in filter number `index` (0, 1, ... in the order
 * above), or NULL past the last one.  The string is static. */
const char *ug_kernel_builtin_name(size_t index);

/* Writes the filtered `src` into `dst`, byte for byte what Pillow's
 * Image.filter gives (see the top of this file).  `dst` must have the same
 * width, height and channels as `src`, be allocated by the caller, and not
 * overlap it; only its first width * channels bytes of each row are
 * written.  With a pool, bands of rows run on its workers and on the
 * calling thread (small images stay on the calling thread); with pool
 * NULL, the calling thread does everything.  Blocks until done.
 * Returns 0, or UG_EINVAL (NULL pointers, channels other than 1 to 4,
 * negative sizes, a stride too small, NULL data on a non-empty image,
 * mismatched or overlapping images, a kernel size other than 3 or 5), or
 * UG_ENOMEM from the pool. */
int ug_image_filter(ug_pool *pool, const ug_image *src, ug_image *dst,
                    const ug_kernel *kernel);

#ifdef __cplusplus
}
#endif

#endif
