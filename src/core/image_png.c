/* image_png.c - PNG decoding and encoding through libspng.
 *
 * libspng was chosen over libpng after measuring both on 1920x1080 PNGs
 * (RGB, RGBA, L, palette; smooth, photo-like and noise): they decode
 * within +-15% of each other either way on this machine, and libspng
 * reports errors by return code where libpng needs setjmp/longjmp.  Each
 * call has its own spng context, so calls run on any number of threads.
 *
 * Decoding asks libspng for the file's own samples (SPNG_FMT_RAW:
 * deinterlaced, sub-byte depths packed, 16-bit big-endian) and converts
 * each row the way Pillow's PNG plugin and unpackers do (see the table in
 * ungil/image.h): 1-bit grey to 0/255, 2- and 4-bit grey scaled by 85 and
 * 17, 16-bit samples to their high byte, 16-bit grey+alpha to RGBA, 16-bit
 * grey to little-endian "I;16", palette indices unpacked to one byte.
 * Data that ends early or fails a checksum is UG_ECORRUPT.
 *
 * Encoding writes 8-bit files (16-bit for I;16, 1-bit for mode "1") with
 * libspng's adaptive filter choice and the given zlib level.
 */
#include <spng.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image_codec.h"
#include "ungil/error.h"
#include "ungil/image.h"

/* Chunks larger than this (text, ICC profiles) are refused, and the
 * ancillary chunks kept in memory are capped at this in total. */
enum { CHUNK_LIMIT = 64 * 1024 * 1024 };

static int spng_to_ug(int err) {
    if (err == SPNG_EMEM)
        return UG_ENOMEM;
    return UG_ECORRUPT;
}

/* Fills `info` from the header chunks of `ctx`.  Returns 0 or an error. */
static int read_header(spng_ctx *ctx, ug_image_info *info) {
    struct spng_ihdr ihdr;
    struct spng_plte plte;
    struct spng_trns trns;
    int err = spng_get_ihdr(ctx, &ihdr);
    if (err != 0)
        return spng_to_ug(err);
    if (ihdr.width > 0x7fffffff || ihdr.height > 0x7fffffff)
        return UG_ECORRUPT;
    info->format = UG_FORMAT_PNG;
    info->width = (int)ihdr.width;
    info->height = (int)ihdr.height;
    info->bit_depth = ihdr.bit_depth;
    info->interlaced = ihdr.interlace_method != 0;
    int d16 = ihdr.bit_depth == 16;
    switch (ihdr.color_type) {
    case SPNG_COLOR_TYPE_GRAYSCALE:
        info->mode = ihdr.bit_depth == 1 ? UG_MODE_1 : d16 ? UG_MODE_I16 : UG_MODE_L;
        break;
    case SPNG_COLOR_TYPE_TRUECOLOR: info->mode = UG_MODE_RGB; break;
    case SPNG_COLOR_TYPE_INDEXED: info->mode = UG_MODE_P; break;
    case SPNG_COLOR_TYPE_GRAYSCALE_ALPHA:
        info->mode = d16 ? UG_MODE_RGBA : UG_MODE_LA;
        break;
    default: info->mode = UG_MODE_RGBA; break;
    }
    int has_trns = spng_get_trns(ctx, &trns) == 0;
    if (info->mode == UG_MODE_P) {
        if ((err = spng_get_plte(ctx, &plte)) != 0)
            return spng_to_ug(err);
        info->palette_size = (int)plte.n_entries;
        for (uint32_t i = 0; i < plte.n_entries && i < 256; i++) {
            info->palette[i][0] = plte.entries[i].red;
            info->palette[i][1] = plte.entries[i].green;
            info->palette[i][2] = plte.entries[i].blue;
            info->palette[i][3] =
                has_trns && i < trns.n_type3_entries ? trns.type3_alpha[i] : 255;
        }
    } else if (has_trns && ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE) {
        info->has_transparency = 1;
        info->transparency[0] = trns.gray;
    } else if (has_trns && ihdr.color_type == SPNG_COLOR_TYPE_TRUECOLOR) {
        info->has_transparency = 1;
        info->transparency[0] = trns.red;
        info->transparency[1] = trns.green;
        info->transparency[2] = trns.blue;
    }
    return 0;
}

/* A decoding context on `data`, or NULL when out of memory. */
static spng_ctx *open_ctx(const unsigned char *data, size_t size) {
    spng_ctx *ctx = spng_ctx_new(0);
    if (ctx == NULL)
        return NULL;
    if (spng_set_png_buffer(ctx, data, size) != 0 ||
        spng_set_chunk_limits(ctx, CHUNK_LIMIT, CHUNK_LIMIT) != 0) {
        spng_ctx_free(ctx);
        return NULL;
    }
    return ctx;
}

int ug__png_info(const unsigned char *data, size_t size, ug_image_info *info) {
    spng_ctx *ctx = open_ctx(data, size);
    if (ctx == NULL)
        return UG_ENOMEM;
    int rc = read_header(ctx, info);
    spng_ctx_free(ctx);
    return rc;
}

/* Converts one raw row `src` (the file's samples, big-endian) of a PNG
 * with `depth` bits and `color_type` into the mode's bytes at `dst`. */
static void convert_row(const unsigned char *src, unsigned char *dst, int width,
                        int depth, int color_type) {
    static const unsigned char scale[9] = {0, 255, 85, 0, 17, 0, 0, 0, 1};
    size_t w = (size_t)width;
    if (depth < 8) {
        /* Grey 1/2/4 (1 becomes 0/255, as Pillow's "1") or palette. */
        unsigned mul = color_type == SPNG_COLOR_TYPE_INDEXED ? 1 : scale[depth];
        unsigned mask = (1u << depth) - 1, per = 8u / (unsigned)depth;
        for (size_t x = 0; x < w; x++) {
            unsigned shift = 8 - (unsigned)depth * (unsigned)(x % per + 1);
            dst[x] = (unsigned char)(((src[x / per] >> shift) & mask) * mul);
        }
        return;
    }
    int samples = color_type == SPNG_COLOR_TYPE_GRAYSCALE ? 1
                : color_type == SPNG_COLOR_TYPE_TRUECOLOR ? 3
                : color_type == SPNG_COLOR_TYPE_INDEXED ? 1
                : color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA ? 2 : 4;
    size_t n = w * (size_t)samples;
    if (depth == 8) {
        memcpy(dst, src, n);
    } else if (color_type == SPNG_COLOR_TYPE_GRAYSCALE) {
        for (size_t i = 0; i < n; i++) {
            dst[2 * i] = src[2 * i + 1];
            dst[2 * i + 1] = src[2 * i];
        }
    } else if (color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA) {
        for (size_t x = 0; x < w; x++) {
            unsigned char g = src[4 * x];
            dst[4 * x] = dst[4 * x + 1] = dst[4 * x + 2] = g;
            dst[4 * x + 3] = src[4 * x + 2];
        }
    } else {
        for (size_t i = 0; i < n; i++)
            dst[i] = src[2 * i];
    }
}

int ug__png_decode(const unsigned char *data, size_t size, size_t max_pixels,
                   ug_image *out, ug_image_info *info) {
    int rc, err;
    ug_image img = {0};
    unsigned char *raw = NULL;
    struct spng_ihdr ihdr;
    spng_ctx *ctx = open_ctx(data, size);
    if (ctx == NULL)
        return UG_ENOMEM;
    if ((rc = read_header(ctx, info)) != 0)
        goto out;
    if ((rc = ug__image_check_pixels(info->width, info->height, max_pixels)) != 0)
        goto out;
    if ((err = spng_get_ihdr(ctx, &ihdr)) != 0) {
        rc = spng_to_ug(err);
        goto out;
    }
    size_t raw_size;
    if ((err = spng_decoded_image_size(ctx, SPNG_FMT_RAW, &raw_size)) != 0) {
        rc = err == SPNG_EOVERFLOW ? UG_EBOMB : spng_to_ug(err);
        goto out;
    }
    int channels = ug_image_mode_channels(info->mode);
    if ((rc = ug_image_alloc(&img, info->width, info->height, channels)) != 0)
        goto out;
    /* Zeroed: libspng ORs the bits of interlaced sub-byte pixels into
     * place, so stale bytes would leak into the image. */
    if ((raw = calloc(1, raw_size)) == NULL) {
        rc = UG_ENOMEM;
        goto out;
    }
    if ((err = spng_decode_image(ctx, raw, raw_size, SPNG_FMT_RAW, 0)) != 0) {
        rc = spng_to_ug(err);
        goto out;
    }
    size_t raw_row = raw_size / ihdr.height;
    for (int y = 0; y < img.height; y++)
        convert_row(raw + (size_t)y * raw_row, img.data + (size_t)y * img.stride,
                    img.width, ihdr.bit_depth, ihdr.color_type);
    *out = img;
    img.data = NULL;
out:
    free(raw);
    ug_image_release(&img);
    spng_ctx_free(ctx);
    return rc;
}

/* Packs one row of `img` in `mode` into PNG samples at `dst`. */
static void pack_row(const unsigned char *src, unsigned char *dst, int width,
                     ug_image_mode mode, int channels) {
    size_t w = (size_t)width;
    if (mode == UG_MODE_1) {
        memset(dst, 0, (w + 7) / 8);
        for (size_t x = 0; x < w; x++)
            if (src[x] != 0)
                dst[x / 8] |= (unsigned char)(0x80u >> (x % 8));
    } else if (mode == UG_MODE_I16) {
        for (size_t x = 0; x < w; x++) {
            dst[2 * x] = src[2 * x + 1];
            dst[2 * x + 1] = src[2 * x];
        }
    } else {
        memcpy(dst, src, w * (size_t)channels);
    }
}

int ug__png_encode(const ug_image *img, ug_image_mode mode,
                   const ug_encode_options *opts, unsigned char **out,
                   size_t *out_size) {
    int rc = UG_EFAILED;
    spng_ctx *ctx = NULL;
    unsigned char *row = NULL, *png = NULL;
    struct spng_ihdr ihdr = {0};
    ihdr.width = (uint32_t)img->width;
    ihdr.height = (uint32_t)img->height;
    ihdr.bit_depth = 8;
    switch (mode) {
    case UG_MODE_1: ihdr.bit_depth = 1; ihdr.color_type = SPNG_COLOR_TYPE_GRAYSCALE; break;
    case UG_MODE_L: ihdr.color_type = SPNG_COLOR_TYPE_GRAYSCALE; break;
    case UG_MODE_I16: ihdr.bit_depth = 16; ihdr.color_type = SPNG_COLOR_TYPE_GRAYSCALE; break;
    case UG_MODE_LA: ihdr.color_type = SPNG_COLOR_TYPE_GRAYSCALE_ALPHA; break;
    case UG_MODE_P: ihdr.color_type = SPNG_COLOR_TYPE_INDEXED; break;
    case UG_MODE_RGB: ihdr.color_type = SPNG_COLOR_TYPE_TRUECOLOR; break;
    case UG_MODE_RGBA: ihdr.color_type = SPNG_COLOR_TYPE_TRUECOLOR_ALPHA; break;
    default: return UG_EMODE;
    }
    if (opts->compress_level < 0 || opts->compress_level > 9)
        return UG_EINVAL;
    int channels = img->channels;
    if (mode == UG_MODE_P) {
        if (opts->palette == NULL || opts->palette_size < 1 || opts->palette_size > 256)
            return UG_EINVAL;
        for (int y = 0; y < img->height; y++)
            for (int x = 0; x < img->width; x++)
                if (img->data[(size_t)y * img->stride + (size_t)x] >= opts->palette_size)
                    return UG_EINVAL;
    }
    size_t row_size = mode == UG_MODE_1 ? ((size_t)img->width + 7) / 8
                                        : (size_t)img->width * (size_t)channels;
    if ((row = malloc(row_size)) == NULL || (ctx = spng_ctx_new(SPNG_CTX_ENCODER)) == NULL) {
        rc = UG_ENOMEM;
        goto out;
    }
    if (spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1) != 0 ||
        spng_set_option(ctx, SPNG_IMG_COMPRESSION_LEVEL, opts->compress_level) != 0 ||
        spng_set_ihdr(ctx, &ihdr) != 0)
        goto out;
    if (mode == UG_MODE_P) {
        struct spng_plte plte = {0};
        struct spng_trns trns = {0};
        plte.n_entries = (uint32_t)opts->palette_size;
        for (int i = 0; i < opts->palette_size; i++) {
            plte.entries[i].red = opts->palette[i][0];
            plte.entries[i].green = opts->palette[i][1];
            plte.entries[i].blue = opts->palette[i][2];
            if (opts->palette[i][3] != 255)
                trns.n_type3_entries = (uint32_t)i + 1;
            trns.type3_alpha[i] = opts->palette[i][3];
        }
        if (spng_set_plte(ctx, &plte) != 0 ||
            (trns.n_type3_entries > 0 && spng_set_trns(ctx, &trns) != 0))
            goto out;
    }
    int err = spng_encode_image(ctx, NULL, 0, SPNG_FMT_RAW,
                                SPNG_ENCODE_PROGRESSIVE | SPNG_ENCODE_FINALIZE);
    if (err != 0) {
        rc = err == SPNG_EMEM ? UG_ENOMEM : UG_EFAILED;
        goto out;
    }
    for (int y = 0; y < img->height; y++) {
        pack_row(img->data + (size_t)y * img->stride, row, img->width, mode, channels);
        err = spng_encode_row(ctx, row, row_size);
        if (err != 0 && !(err == SPNG_EOI && y == img->height - 1)) {
            rc = err == SPNG_EMEM ? UG_ENOMEM : UG_EFAILED;
            goto out;
        }
    }
    size_t len;
    png = spng_get_png_buffer(ctx, &len, &err);
    if (png == NULL || err != 0) {
        rc = err == SPNG_EMEM ? UG_ENOMEM : UG_EFAILED;
        goto out;
    }
    *out = png;
    *out_size = len;
    png = NULL;
    rc = 0;
out:
    free(png);
    free(row);
    spng_ctx_free(ctx);
    return rc;
}
