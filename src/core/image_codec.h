/* image_codec.h - what image_codec.c shares with the JPEG and PNG halves.
 *
 * Internal to libungil.  image_codec.c checks arguments, detects formats,
 * reads files and writes .part files; image_jpeg.c and image_png.c turn
 * bytes into pixels and back.  The batch and pictures jobs take their
 * output format rule from here too.  The format functions may assume non-NULL,
 * validated arguments; each fills `info` completely, checks the pixel
 * limit from the header before allocating, and leaves *out zeroed on
 * failure.  All are thread-safe (a codec handle per call).
 */
#ifndef UNGIL_SRC_CORE_IMAGE_CODEC_H
#define UNGIL_SRC_CORE_IMAGE_CODEC_H

#include <stddef.h>

#include "ungil/image.h"

/* The format to write a picture read as `input` under `name`: `wanted`,
 * or for UG_FORMAT_AUTO the one the name's extension asks for, as
 * Pillow's save(path) does, and the input's for a name without an image
 * extension (or no name). */
ug_image_format ug__image_output_format(ug_image_format wanted,
                                        const char *name,
                                        ug_image_format input);

/* UG_EBOMB if width * height exceeds max_pixels (0 means no limit). */
int ug__image_check_pixels(int width, int height, size_t max_pixels);

int ug__jpeg_info(const unsigned char *data, size_t size, ug_image_info *info);
int ug__jpeg_decode(const unsigned char *data, size_t size, size_t max_pixels,
                    ug_image *out, ug_image_info *info);
int ug__jpeg_encode(const ug_image *img, ug_image_mode mode,
                    const ug_encode_options *opts, unsigned char **out,
                    size_t *out_size);

int ug__png_info(const unsigned char *data, size_t size, ug_image_info *info);
int ug__png_decode(const unsigned char *data, size_t size, size_t max_pixels,
                   ug_image *out, ug_image_info *info);
int ug__png_encode(const ug_image *img, ug_image_mode mode,
                   const ug_encode_options *opts, unsigned char **out,
                   size_t *out_size);

#endif
