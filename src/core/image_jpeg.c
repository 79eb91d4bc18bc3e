/* image_jpeg.c - JPEG decoding and encoding through TurboJPEG.
 *
 * Each call makes its own TurboJPEG handle (a few microseconds, measured
 * in tests/c/test_image_codec.c), so calls never share state and run on
 * any number of threads.  TurboJPEG reports errors by return code; its
 * libjpeg error handler longjmps only inside TurboJPEG's own frames.
 *
 * Decoding matches Pillow's JPEG plugin: the default (accurate integer)
 * DCT and fancy upsampling, grey -> L, YCbCr/RGB -> RGB, CMYK/YCCK ->
 * CMYK with the ink inverted, as Pillow's "CMYK;I" raw mode assumes Adobe
 * polarity.  Pillow refuses a truncated file ("image file is truncated"),
 * so libjpeg's "Premature end of JPEG file" warning is an error here;
 * other warnings (stray bytes between markers) are accepted, as Pillow
 * accepts them.  Progressive files with more than 500 scans are refused
 * (TJFLAG_LIMITSCANS), a guard against scan bombs that Pillow lacks.
 *
 * Encoding follows Pillow's defaults (quality 75, 4:2:0, baseline).  CMYK
 * is the exception: TurboJPEG can only write it as YCCK, and with chroma
 * subsampling that loses far more than Pillow's plain CMYK, so CMYK is
 * always written 4:4:4.
 */
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "image_codec.h"
#include "ungil/error.h"
#include "ungil/image.h"

/* Walks the markers up to the first start-of-frame and reports whether it
 * is a progressive one (SOF2, SOF6, SOF10, SOF14), as Pillow's
 * info["progressive"].  Returns 1, 0, or 0 when no frame is found. */
static int is_progressive(const unsigned char *p, size_t size) {
    size_t i = 2;
    while (i + 4 <= size) {
        if (p[i] != 0xff) {
            i++;
            continue;
        }
        unsigned m = p[i + 1];
        if (m == 0xff || m == 0x01 || (m >= 0xd0 && m <= 0xd8)) {
            i += m == 0xff ? 1 : 2;
            continue;
        }
        if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc)
            return m == 0xc2 || m == 0xc6 || m == 0xca || m == 0xce;
        i += 2 + ((size_t)p[i + 2] << 8 | p[i + 3]);
    }
    return 0;
}

/* Maps an error or warning of `handle` to ungil's codes. */
static int jpeg_error(tjhandle handle) {
    const char *msg = tjGetErrorStr2(handle);
    if (msg != NULL && strstr(msg, "emory") != NULL)
        return UG_ENOMEM;
    return UG_ECORRUPT;
}

/* Reads the header with `handle` into `info`.  Returns 0 or UG_ECORRUPT. */
static int read_header(tjhandle handle, const unsigned char *data, size_t size,
                       ug_image_info *info) {
    /* Preset: for a tables-only stream TurboJPEG 2.1 returns success
     * without writing any of these (found by fuzz_jpeg). */
    int width = 0, height = 0, subsamp = -1, colorspace = -1;
    if (size > (unsigned long)-1 ||
        tjDecompressHeader3(handle, data, (unsigned long)size, &width, &height,
                            &subsamp, &colorspace) != 0)
        return UG_ECORRUPT;
    if (width <= 0 || height <= 0)
        return UG_ECORRUPT;
    info->format = UG_FORMAT_JPEG;
    info->width = width;
    info->height = height;
    info->bit_depth = 8;
    info->interlaced = is_progressive(data, size);
    switch (colorspace) {
    case TJCS_GRAY: info->mode = UG_MODE_L; break;
    case TJCS_CMYK:
    case TJCS_YCCK: info->mode = UG_MODE_CMYK; break;
    default: info->mode = UG_MODE_RGB; break;
    }
    return 0;
}

int ug__jpeg_info(const unsigned char *data, size_t size, ug_image_info *info) {
    tjhandle handle = tjInitDecompress();
    if (handle == NULL)
        return UG_ENOMEM;
    int rc = read_header(handle, data, size, info);
    tjDestroy(handle);
    return rc;
}

int ug__jpeg_decode(const unsigned char *data, size_t size, size_t max_pixels,
                    ug_image *out, ug_image_info *info) {
    int rc;
    ug_image img = {0};
    tjhandle handle = tjInitDecompress();
    if (handle == NULL)
        return UG_ENOMEM;
    if ((rc = read_header(handle, data, size, info)) != 0)
        goto out;
    if ((rc = ug__image_check_pixels(info->width, info->height, max_pixels)) != 0)
        goto out;
    int channels = ug_image_mode_channels(info->mode);
    if ((rc = ug_image_alloc(&img, info->width, info->height, channels)) != 0)
        goto out;
    int pf = info->mode == UG_MODE_L ? TJPF_GRAY
           : info->mode == UG_MODE_CMYK ? TJPF_CMYK : TJPF_RGB;
    if (tjDecompress2(handle, data, (unsigned long)size, img.data, img.width,
                      (int)img.stride, img.height, pf, TJFLAG_LIMITSCANS) != 0) {
        const char *msg = tjGetErrorStr2(handle);
        if (tjGetErrorCode(handle) != TJERR_WARNING ||
            (msg != NULL && strstr(msg, "Premature end") != NULL)) {
            rc = jpeg_error(handle);
            goto out;
        }
    }
    if (info->mode == UG_MODE_CMYK) {
        size_t n = img.stride * (size_t)img.height;
        for (size_t i = 0; i < n; i++)
            img.data[i] = (unsigned char)(255 - img.data[i]);
    }
    *out = img;
    img.data = NULL;
out:
    ug_image_release(&img);
    tjDestroy(handle);
    return rc;
}

int ug__jpeg_encode(const ug_image *img, ug_image_mode mode,
                    const ug_encode_options *opts, unsigned char **out,
                    size_t *out_size) {
    static const int samp[3] = {TJSAMP_444, TJSAMP_422, TJSAMP_420};
    int rc, pf, sub;
    tjhandle handle = NULL;
    unsigned char *buf = NULL, *inverted = NULL;
    const unsigned char *src = img->data;
    if (opts->quality < 1 || opts->quality > 100 || opts->subsampling < 0 ||
        opts->subsampling > 2 || img->width > 65535 || img->height > 65535)
        return UG_EINVAL;
    switch (mode) {
    case UG_MODE_1:
    case UG_MODE_L: pf = TJPF_GRAY; sub = TJSAMP_GRAY; break;
    case UG_MODE_RGB: pf = TJPF_RGB; sub = samp[opts->subsampling]; break;
    case UG_MODE_CMYK: pf = TJPF_CMYK; sub = TJSAMP_444; break;
    default: return UG_EMODE;
    }
    if (mode == UG_MODE_CMYK) {
        /* Pillow writes CMYK inverted ("CMYK;I"); its reader inverts back. */
        size_t row = (size_t)img->width * 4;
        if ((inverted = malloc(row * (size_t)img->height)) == NULL)
            return UG_ENOMEM;
        for (int y = 0; y < img->height; y++)
            for (size_t x = 0; x < row; x++)
                inverted[(size_t)y * row + x] =
                    (unsigned char)(255 - img->data[(size_t)y * img->stride + x]);
        src = inverted;
    }
    unsigned long cap = tjBufSize(img->width, img->height, sub);
    if (cap == (unsigned long)-1) {
        rc = UG_EINVAL;
        goto out;
    }
    if ((buf = malloc(cap)) == NULL || (handle = tjInitCompress()) == NULL) {
        rc = UG_ENOMEM;
        goto out;
    }
    unsigned char *dst = buf;
    unsigned long len = cap;
    int pitch = src == inverted ? img->width * 4 : (int)img->stride;
    int flags = TJFLAG_NOREALLOC | (opts->progressive ? TJFLAG_PROGRESSIVE : 0);
    if (tjCompress2(handle, src, img->width, pitch, img->height, pf, &dst, &len,
                    sub, opts->quality, flags) != 0) {
        rc = UG_EFAILED;
        goto out;
    }
    *out = buf;
    *out_size = len;
    buf = NULL;
    rc = 0;
out:
    if (handle != NULL)
        tjDestroy(handle);
    free(buf);
    free(inverted);
    return rc;
}
