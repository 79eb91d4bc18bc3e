/* ungil/image.h - 8-bit image views, Pillow-exact convolution filters, and
 * JPEG/PNG decoding and encoding (the codec section at the end).
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
 * once.  The filter allocates nothing.
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


/* ---- Codec: owned pixel buffers, modes, JPEG/PNG decode and encode ----
 *
 * Decoding gives the pixels that Pillow 13 gives for the same file: the
 * bytes of numpy.asarray(PIL.Image.open(f)) (for mode "1": of
 * Image.tobytes("raw", "L"), i.e. Pillow's own 0/255 storage), in the mode
 * PIL.Image.open(f).mode reports.  How each source type is decoded:
 *   JPEG  grey -> L;  YCbCr/RGB -> RGB;  CMYK/YCCK -> CMYK, stored as
 *         Pillow stores it (Adobe files hold inverted ink; Pillow and
 *         ungil both undo that);
 *   PNG   grey 1 bit -> "1" (0 or 255);  grey 2/4/8 bit -> L (scaled to
 *         0..255 as Pillow does, x85 and x17);  grey 16 bit -> "I;16"
 *         (native 16-bit samples, little-endian, two bytes per pixel);
 *         grey+alpha 8/16 -> LA;  RGB 8/16 -> RGB;  RGBA 8/16 -> RGBA
 *         (16-bit samples reduced to their high byte, as Pillow does);
 *         palette 1/2/4/8 bit -> P (one index byte per pixel; the
 *         palette, with tRNS alpha, is in ug_image_info).  A tRNS colour
 *         on grey or RGB does not change the mode (Pillow keeps it too);
 *         it is reported in ug_image_info.
 * Pillow never opens a PNG or JPEG as "PA"; the mode exists so that
 * callers can describe Pillow images they made themselves.
 *
 * Filtering: Pillow refuses only "P" ("cannot filter palette images").
 * ungil filters every mode whose samples are 8-bit (1, L, LA, PA, RGB,
 * RGBA, CMYK) with the same bytes as Pillow; it refuses P like Pillow and
 * I;16, which Pillow filters but ungil does not (see
 * ug_image_mode_can_filter).
 *
 * The pixel limit: Pillow warns above Image.MAX_IMAGE_PIXELS (89,478,485)
 * and raises DecompressionBombError above twice that.  ungil's default
 * limit is that error threshold, UG_IMAGE_MAX_PIXELS_DEFAULT =
 * 178,956,970: an image with more pixels is refused with UG_EBOMB from its
 * header, before any pixel memory is allocated.
 *
 * Bad input: truncated or corrupt data gives UG_ECORRUPT (Pillow raises
 * "image file is truncated" by default, and so does ungil: data that ends
 * before the last pixel row is an error, not a grey tail), an unknown
 * signature UG_EFORMAT.  The decoders never crash on bad data and never
 * longjmp across ungil's frames.
 *
 * Thread-safety: every codec function is thread-safe and keeps no state
 * between calls (each call has its own TurboJPEG or libspng handle), so
 * any number of threads may decode and encode at once.  All of them block
 * until done.
 */

/* The largest width * height a decoder accepts by default (see above). */
#define UG_IMAGE_MAX_PIXELS_DEFAULT ((size_t)178956970)

/* Pillow's image modes that ungil can hold.  Values are stable. */
typedef enum ug_image_mode {
    UG_MODE_NONE = 0, /* unknown / not set */
    UG_MODE_1,        /* bilevel; one byte per pixel, 0 or 255 */
    UG_MODE_L,        /* 8-bit grey */
    UG_MODE_LA,       /* grey + alpha */
    UG_MODE_P,        /* palette index; the palette travels separately */
    UG_MODE_PA,       /* palette index + alpha */
    UG_MODE_RGB,
    UG_MODE_RGBA,
    UG_MODE_CMYK,
    UG_MODE_I16       /* "I;16": one 16-bit little-endian sample (2 bytes) */
} ug_image_mode;

/* Pillow's name of `mode` ("RGB", "I;16"), or NULL for UG_MODE_NONE and
 * values outside the enum.  The string is static. */
const char *ug_image_mode_name(ug_image_mode mode);

/* The mode named `name` exactly as Pillow spells it ("RGB"), or
 * UG_MODE_NONE for a name ungil does not hold. */
ug_image_mode ug_image_mode_from_name(const char *name);

/* Bytes per pixel of `mode` (the `channels` of its ug_image): 1 for 1, L
 * and P; 2 for LA, PA and I;16; 3 for RGB; 4 for RGBA and CMYK; 0 for
 * UG_MODE_NONE and unknown values. */
int ug_image_mode_channels(ug_image_mode mode);

/* Whether ug_image_filter can filter images of `mode` with Pillow's bytes.
 * Returns 0 if it can, else UG_EMODE and, when `message` is not NULL,
 * sets *message to a static sentence for the user: Pillow's own
 * "cannot filter palette images" for P, "ungil cannot filter mode I;16"
 * for I;16, "unknown image mode" otherwise. */
int ug_image_mode_can_filter(ug_image_mode mode, const char **message);

/* Owned pixels.  ug_image_alloc makes `img` own a new, uninitialised
 * buffer of width x height pixels of `channels` bytes, with stride =
 * width * channels (data is NULL when the image is empty).  Release it
 * with ug_image_release, which frees the data and zeroes *img; releasing a
 * zeroed ug_image is harmless.  Never release a view of someone else's
 * pixels.  Returns 0, UG_EINVAL (NULL img, negative sizes, channels not
 * 1..4), UG_ERANGE (size overflows) or UG_ENOMEM. */
int ug_image_alloc(ug_image *img, int width, int height, int channels);
void ug_image_release(ug_image *img);

/* Container formats. */
typedef enum ug_image_format {
    UG_FORMAT_AUTO = 0, /* decode: detect from the signature; save: from the extension */
    UG_FORMAT_JPEG,
    UG_FORMAT_PNG
} ug_image_format;

/* "JPEG" or "PNG" (Pillow's Image.format), or NULL.  Static string. */
const char *ug_image_format_name(ug_image_format format);

/* The format a file name asks for by its extension, case-insensitively:
 * .jpg .jpeg .jpe .jfif -> JPEG, .png -> PNG.  Returns the format (> 0),
 * or UG_EFORMAT for another or no extension, UG_EINVAL for NULL. */
int ug_image_format_from_path(const char *path);

/* The format of encoded data from its signature (JPEG: FF D8 FF; PNG: the
 * 8-byte PNG signature).  Returns the format (> 0) or UG_EFORMAT. */
int ug_image_format_detect(const void *data, size_t size);

/* What a header says.  Filled by ug_image_read_info and by the decoders. */
typedef struct ug_image_info {
    ug_image_format format;
    int width, height;
    ug_image_mode mode;           /* the mode decoding gives (see above) */
    int bit_depth;                /* bits per sample in the file (JPEG: 8) */
    int interlaced;               /* PNG Adam7 or progressive JPEG: 1, else 0 */
    int palette_size;             /* P: palette entries (1..256), else 0 */
    unsigned char palette[256][4];/* P: RGBA entries, alpha from tRNS (255 without) */
    int has_transparency;         /* L/RGB/I;16 with a tRNS colour: 1 */
    unsigned short transparency[3]; /* that colour as stored (grey in [0]) */
} ug_image_info;

/* Decoder options; ug_decode_options_init sets the defaults.  A NULL
 * options pointer means the defaults. */
typedef struct ug_decode_options {
    size_t max_pixels;   /* refuse width * height above this (UG_EBOMB);
                            default UG_IMAGE_MAX_PIXELS_DEFAULT; 0 = no limit */
} ug_decode_options;

void ug_decode_options_init(ug_decode_options *opts);

/* Reads width, height, mode and palette from the header of encoded data
 * (or of the file at `path`, reading only its first bytes as needed)
 * without decoding pixels.  Returns 0, UG_EINVAL (NULL arguments),
 * UG_EFORMAT, UG_ECORRUPT (bad or short header), UG_EIO (the file cannot
 * be read), or UG_ENOMEM.  Does not apply a pixel limit. */
int ug_image_read_info(const void *data, size_t size, ug_image_info *info);
int ug_image_read_info_file(const char *path, ug_image_info *info);

/* Decodes JPEG or PNG `data` (format from its signature) into `out`,
 * which receives newly allocated pixels (ug_image_alloc; the caller
 * releases them with ug_image_release) with channels =
 * ug_image_mode_channels(info->mode).  `info` (may be NULL) receives the
 * header facts, palette included.  On failure *out is zeroed and nothing
 * is left allocated.  Returns 0, UG_EINVAL, UG_EFORMAT, UG_EBOMB (more
 * pixels than opts->max_pixels, refused before allocating), UG_ECORRUPT,
 * or UG_ENOMEM.  The _file variant reads the file at `path` (UG_EIO if it
 * cannot). */
int ug_image_decode(const void *data, size_t size, const ug_decode_options *opts,
                    ug_image *out, ug_image_info *info);
int ug_image_decode_file(const char *path, const ug_decode_options *opts,
                         ug_image *out, ug_image_info *info);

/* Encoder options; ug_encode_options_init sets Pillow's defaults.  A NULL
 * options pointer means the defaults. */
typedef struct ug_encode_options {
    ug_image_format format;   /* AUTO: from the path's extension (required
                                 for ug_image_encode) */
    int quality;              /* JPEG 1..100, default 75 (Pillow's) */
    int subsampling;          /* JPEG chroma, as Pillow's `subsampling`:
                                 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0 (default);
                                 CMYK is always written 4:4:4 */
    int progressive;          /* JPEG: 1 writes a progressive file; default 0 */
    int compress_level;       /* PNG zlib level 0..9, default 6 (Pillow's) */
    const unsigned char (*palette)[4]; /* P: RGBA entries (alpha < 255 adds tRNS) */
    int palette_size;         /* P: 1..256 entries */
} ug_encode_options;

void ug_encode_options_init(ug_encode_options *opts);

/* Encodes `img`, whose pixels are in `mode` (channels must equal
 * ug_image_mode_channels(mode); any stride >= width * channels), as
 * opts->format.  JPEG takes L, 1 (written as L, as Pillow does), RGB and
 * CMYK; PNG takes 1, L, LA, P, I;16, RGB and RGBA.  Other pairs give
 * UG_EMODE (Pillow: "cannot write mode RGBA as JPEG").  On success *out
 * is a malloc'd buffer of *out_size bytes that the caller frees with
 * free().  Returns 0, UG_EINVAL (NULL pointers, bad sizes or options,
 * UG_FORMAT_AUTO, empty image, P without a palette), UG_EMODE, UG_ENOMEM,
 * or UG_EFAILED (the codec library failed). */
int ug_image_encode(const ug_image *img, ug_image_mode mode,
                    const ug_encode_options *opts,
                    unsigned char **out, size_t *out_size);

/* Encodes as ug_image_encode and saves to `path`: the bytes go to
 * "<path>.part" in the same directory, which is renamed to `path` once it
 * is completely written (no fsync); on any error the .part file is removed
 * and `path` is left untouched.  The format comes from opts->format or, if
 * AUTO, from the extension (UG_EFORMAT if neither says).  Returns what
 * ug_image_encode returns, or UG_EIO (cannot create, write or rename: a
 * missing directory, no permission, a full disk). */
int ug_image_save(const char *path, const ug_image *img, ug_image_mode mode,
                  const ug_encode_options *opts);

#ifdef __cplusplus
}
#endif

#endif
