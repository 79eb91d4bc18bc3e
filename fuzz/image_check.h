/* image_check.h - the body shared by fuzz_jpeg.c and fuzz_png.c.
 *
 * An input is decoded by ungil's own entry points (ug_image_read_info and
 * ug_image_decode) with a small pixel limit, so big headers are refused
 * cheaply and the fuzzer spends its time in the parsers.  Whatever
 * happens must be a return code: 0 or UG_EFORMAT / UG_ECORRUPT / UG_EBOMB
 * / UG_ENOMEM.  A decoded image must agree with its header, and is then
 * encoded as PNG and as JPEG when the mode allows and decoded again: the
 * PNG must give back exactly the same pixels and mode, the JPEG its size.
 * A broken promise prints which one and aborts, which libFuzzer reports
 * as a crash.
 */
#ifndef UNGIL_FUZZ_IMAGE_CHECK_H
#define UNGIL_FUZZ_IMAGE_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ungil/error.h"
#include "ungil/image.h"

#define REQUIRE(cond)                                                         \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "fuzz image: broken promise: %s (line %d)\n",     \
                    #cond, __LINE__);                                         \
            abort();                                                          \
        }                                                                     \
    } while (0)

/* Small enough that one decode stays well under a millisecond or two. */
enum { FUZZ_MAX_PIXELS = 256 * 256 };

static int fuzz_expected_error(int rc) {
    return rc == UG_EFORMAT || rc == UG_ECORRUPT || rc == UG_EBOMB || rc == UG_ENOMEM;
}

static void fuzz_reencode(const ug_image *img, const ug_image_info *info) {
    ug_encode_options eo;
    ug_decode_options dopts;
    unsigned char *bytes = NULL;
    size_t size = 0;
    ug_image back;
    ug_image_info binfo;
    ug_encode_options_init(&eo);
    ug_decode_options_init(&dopts);
    dopts.max_pixels = FUZZ_MAX_PIXELS;
    eo.format = UG_FORMAT_PNG;
    eo.compress_level = 1;
    eo.palette = (const unsigned char (*)[4])info->palette;
    eo.palette_size = info->palette_size;
    int rc = ug_image_encode(img, info->mode, &eo, &bytes, &size);
    /* PNG has no CMYK; a palette image may use indices past its palette. */
    REQUIRE(rc == 0 || (info->mode == UG_MODE_CMYK && rc == UG_EMODE) ||
            (info->mode == UG_MODE_P && rc == UG_EINVAL));
    if (rc == 0) {
        REQUIRE(ug_image_decode(bytes, size, &dopts, &back, &binfo) == 0);
        REQUIRE(binfo.mode == info->mode);
        REQUIRE(back.width == img->width && back.height == img->height);
        for (int y = 0; y < img->height; y++)
            REQUIRE(memcmp(back.data + (size_t)y * back.stride,
                           img->data + (size_t)y * img->stride,
                           (size_t)img->width * (size_t)img->channels) == 0);
        ug_image_release(&back);
        free(bytes);
    }
    eo.format = UG_FORMAT_JPEG;
    rc = ug_image_encode(img, info->mode, &eo, &bytes, &size);
    if (info->mode == UG_MODE_L || info->mode == UG_MODE_RGB ||
        info->mode == UG_MODE_CMYK || info->mode == UG_MODE_1) {
        REQUIRE(rc == 0);
        REQUIRE(ug_image_decode(bytes, size, &dopts, &back, &binfo) == 0);
        REQUIRE(back.width == img->width && back.height == img->height);
        ug_image_release(&back);
        free(bytes);
    } else {
        REQUIRE(rc == UG_EMODE && bytes == NULL);
    }
}

static void fuzz_image(const uint8_t *data, size_t size) {
    ug_image_info head, info;
    ug_image img;
    ug_decode_options opts;
    ug_decode_options_init(&opts);
    opts.max_pixels = FUZZ_MAX_PIXELS;
    int hrc = ug_image_read_info(data, size, &head);
    REQUIRE(hrc == 0 || fuzz_expected_error(hrc));
    int rc = ug_image_decode(data, size, &opts, &img, &info);
    REQUIRE(rc == 0 || fuzz_expected_error(rc));
    if (rc != 0) {
        REQUIRE(img.data == NULL && img.width == 0);
        return;
    }
    REQUIRE(hrc == 0);
    REQUIRE(head.width == info.width && head.height == info.height &&
            head.mode == info.mode);
    REQUIRE(img.width == info.width && img.height == info.height);
    REQUIRE(img.channels == ug_image_mode_channels(info.mode));
    REQUIRE((size_t)img.width * (size_t)img.height <= FUZZ_MAX_PIXELS);
    fuzz_reencode(&img, &info);
    ug_image_release(&img);
}

#endif
