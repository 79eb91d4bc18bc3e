/* image_codec.c - the format-independent half of JPEG/PNG coding.
 *
 * Modes and their names, owned pixel buffers, format detection by
 * signature and by file extension, reading whole files, and saving
 * through "<path>.part" + rename.  The byte work happens in image_jpeg.c
 * (libjpeg-turbo) and image_png.c (libspng); this file only checks arguments
 * and dispatches.  Nothing here keeps state between calls.
 */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_codec.h"
#include "ungil/error.h"
#include "ungil/image.h"

/* Indexed by ug_image_mode: Pillow's name and bytes per pixel. */
static const struct {
    const char *name;
    int channels;
} modes[] = {
    [UG_MODE_NONE] = {NULL, 0},  [UG_MODE_1] = {"1", 1},
    [UG_MODE_L] = {"L", 1},      [UG_MODE_LA] = {"LA", 2},
    [UG_MODE_P] = {"P", 1},      [UG_MODE_PA] = {"PA", 2},
    [UG_MODE_RGB] = {"RGB", 3},  [UG_MODE_RGBA] = {"RGBA", 4},
    [UG_MODE_CMYK] = {"CMYK", 4}, [UG_MODE_I16] = {"I;16", 2},
};
enum { MODE_COUNT = sizeof modes / sizeof modes[0] };

/* How much of a file ug_image_read_info_file reads first; headers almost
 * always fit, and the whole file is read when they do not. */
enum { INFO_PREFIX = 64 * 1024 };

const char *ug_image_mode_name(ug_image_mode mode) {
    if ((int)mode < 0 || (int)mode >= MODE_COUNT)
        return NULL;
    return modes[mode].name;
}

ug_image_mode ug_image_mode_from_name(const char *name) {
    if (name == NULL)
        return UG_MODE_NONE;
    for (int m = 1; m < MODE_COUNT; m++)
        if (strcmp(modes[m].name, name) == 0)
            return (ug_image_mode)m;
    return UG_MODE_NONE;
}

int ug_image_mode_channels(ug_image_mode mode) {
    if ((int)mode < 0 || (int)mode >= MODE_COUNT)
        return 0;
    return modes[mode].channels;
}

int ug_image_mode_can_filter(ug_image_mode mode, const char **message) {
    const char *why = NULL;
    if (mode == UG_MODE_P)
        why = "cannot filter palette images";
    else if (mode == UG_MODE_I16)
        why = "ungil cannot filter mode I;16";
    else if (ug_image_mode_name(mode) == NULL)
        why = "unknown image mode";
    if (why == NULL)
        return 0;
    if (message != NULL)
        *message = why;
    return UG_EMODE;
}

int ug_image_alloc(ug_image *img, int width, int height, int channels) {
    if (img == NULL)
        return UG_EINVAL;
    memset(img, 0, sizeof *img);
    if (width < 0 || height < 0 || channels < 1 || channels > 4)
        return UG_EINVAL;
    size_t stride = (size_t)width * (size_t)channels;
    /* Objects past PTRDIFF_MAX bytes break pointer arithmetic. */
    if (height > 0 && stride > (size_t)PTRDIFF_MAX / (size_t)height)
        return UG_ERANGE;
    size_t size = stride * (size_t)height;
    unsigned char *data = NULL;
    if (size > 0 && (data = malloc(size)) == NULL)
        return UG_ENOMEM;
    img->width = width;
    img->height = height;
    img->channels = channels;
    img->stride = stride;
    img->data = data;
    return 0;
}

void ug_image_release(ug_image *img) {
    if (img == NULL)
        return;
    free(img->data);
    memset(img, 0, sizeof *img);
}

int ug__image_check_pixels(int width, int height, size_t max_pixels) {
    if (max_pixels == 0 || width <= 0 || height <= 0)
        return 0;
    if ((size_t)width > max_pixels / (size_t)height)
        return UG_EBOMB;
    return 0;
}

const char *ug_image_format_name(ug_image_format format) {
    switch (format) {
    case UG_FORMAT_JPEG: return "JPEG";
    case UG_FORMAT_PNG: return "PNG";
    default: return NULL;
    }
}

int ug_image_format_from_path(const char *path) {
    static const struct {
        const char *ext;
        ug_image_format format;
    } exts[] = {{".jpg", UG_FORMAT_JPEG},  {".jpeg", UG_FORMAT_JPEG},
                {".jpe", UG_FORMAT_JPEG},  {".jfif", UG_FORMAT_JPEG},
                {".png", UG_FORMAT_PNG}};
    if (path == NULL)
        return UG_EINVAL;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    if (dot == NULL)
        return UG_EFORMAT;
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (strcasecmp(dot, exts[i].ext) == 0)
            return exts[i].format;
    return UG_EFORMAT;
}

ug_image_format ug__image_output_format(ug_image_format wanted,
                                        const char *name,
                                        ug_image_format input) {
    if (wanted != UG_FORMAT_AUTO)
        return wanted;
    int by_name = name ? ug_image_format_from_path(name) : UG_EINVAL;
    return by_name > 0 ? (ug_image_format)by_name : input;
}

int ug_image_format_detect(const void *data, size_t size) {
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const unsigned char *p = data;
    if (p == NULL)
        return UG_EFORMAT;
    if (size >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
        return UG_FORMAT_JPEG;
    if (size >= 8 && memcmp(p, png_sig, 8) == 0)
        return UG_FORMAT_PNG;
    return UG_EFORMAT;
}

void ug_decode_options_init(ug_decode_options *opts) {
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof *opts);
    opts->max_pixels = UG_IMAGE_MAX_PIXELS_DEFAULT;
}

void ug_encode_options_init(ug_encode_options *opts) {
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof *opts);
    opts->format = UG_FORMAT_AUTO;
    opts->quality = 75;
    opts->subsampling = 2;
    opts->compress_level = 6;
}

int ug_image_read_info(const void *data, size_t size, ug_image_info *info) {
    if (data == NULL || info == NULL)
        return UG_EINVAL;
    memset(info, 0, sizeof *info);
    int format = ug_image_format_detect(data, size);
    if (format == UG_FORMAT_JPEG)
        return ug__jpeg_info(data, size, info);
    if (format == UG_FORMAT_PNG)
        return ug__png_info(data, size, info);
    return format;
}

int ug_image_decode(const void *data, size_t size, const ug_decode_options *opts,
                    ug_image *out, ug_image_info *info) {
    ug_image_info local;
    ug_decode_options defaults;
    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (info == NULL)
        info = &local;
    memset(info, 0, sizeof *info);
    if (data == NULL || out == NULL)
        return UG_EINVAL;
    if (opts == NULL) {
        ug_decode_options_init(&defaults);
        opts = &defaults;
    }
    int format = ug_image_format_detect(data, size);
    if (format == UG_FORMAT_JPEG)
        return ug__jpeg_decode(data, size, opts->max_pixels, out, info);
    if (format == UG_FORMAT_PNG)
        return ug__png_decode(data, size, opts->max_pixels, out, info);
    return format;
}

/* Reads up to `limit` bytes of the file at `path` (all of it when limit
 * is 0) into a malloc'd buffer; *whole says whether that is the entire
 * file.  Returns 0, UG_EIO or UG_ENOMEM. */
static int read_file(const char *path, size_t limit, unsigned char **buf,
                     size_t *size, int *whole) {
    int rc = UG_EIO;
    unsigned char *data = NULL;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        goto out;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        goto out;
    if ((uintmax_t)st.st_size > SIZE_MAX - 1) {
        rc = UG_ENOMEM;
        goto out;
    }
    size_t want = (size_t)st.st_size;
    if (limit != 0 && want > limit)
        want = limit;
    if ((data = malloc(want ? want : 1)) == NULL) {
        rc = UG_ENOMEM;
        goto out;
    }
    size_t got = 0;
    while (got < want) {
        ssize_t n = read(fd, data + got, want - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got < want)
        goto out;
    *buf = data;
    *size = got;
    *whole = got == (size_t)st.st_size;
    data = NULL;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    free(data);
    return rc;
}

int ug_image_read_info_file(const char *path, ug_image_info *info) {
    unsigned char *buf = NULL;
    size_t size = 0;
    int whole = 0;
    if (path == NULL || info == NULL)
        return UG_EINVAL;
    memset(info, 0, sizeof *info);
    int rc = read_file(path, INFO_PREFIX, &buf, &size, &whole);
    if (rc == 0)
        rc = ug_image_read_info(buf, size, info);
    if (rc == UG_ECORRUPT && !whole) {
        free(buf);
        buf = NULL;
        rc = read_file(path, 0, &buf, &size, &whole);
        if (rc == 0)
            rc = ug_image_read_info(buf, size, info);
    }
    free(buf);
    return rc;
}

int ug_image_decode_file(const char *path, const ug_decode_options *opts,
                         ug_image *out, ug_image_info *info) {
    unsigned char *buf = NULL;
    size_t size = 0;
    int whole = 0;
    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (info != NULL)
        memset(info, 0, sizeof *info);
    if (path == NULL || out == NULL)
        return UG_EINVAL;
    int rc = read_file(path, 0, &buf, &size, &whole);
    if (rc == 0)
        rc = ug_image_decode(buf, size, opts, out, info);
    free(buf);
    return rc;
}

/* Checks an image to encode against its mode.  Returns 0 or UG_EINVAL. */
static int check_source(const ug_image *img, ug_image_mode mode) {
    int channels = ug_image_mode_channels(mode);
    if (channels == 0 || img->channels != channels)
        return UG_EINVAL;
    if (img->width <= 0 || img->height <= 0 || img->data == NULL)
        return UG_EINVAL;
    if (img->stride < (size_t)img->width * (size_t)channels)
        return UG_EINVAL;
    return 0;
}

int ug_image_encode(const ug_image *img, ug_image_mode mode,
                    const ug_encode_options *opts, unsigned char **out,
                    size_t *out_size) {
    ug_encode_options defaults;
    if (out != NULL)
        *out = NULL;
    if (out_size != NULL)
        *out_size = 0;
    if (img == NULL || out == NULL || out_size == NULL)
        return UG_EINVAL;
    if (opts == NULL) {
        ug_encode_options_init(&defaults);
        opts = &defaults;
    }
    int rc = check_source(img, mode);
    if (rc != 0)
        return rc;
    if (opts->format == UG_FORMAT_JPEG)
        return ug__jpeg_encode(img, mode, opts, out, out_size);
    if (opts->format == UG_FORMAT_PNG)
        return ug__png_encode(img, mode, opts, out, out_size);
    return UG_EINVAL;
}

/* Writes all of buf to fd.  Returns 0 or UG_EIO. */
static int write_all(int fd, const unsigned char *buf, size_t size) {
    while (size > 0) {
        ssize_t n = write(fd, buf, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return UG_EIO;
        buf += n;
        size -= (size_t)n;
    }
    return 0;
}

int ug_image_save(const char *path, const ug_image *img, ug_image_mode mode,
                  const ug_encode_options *opts) {
    ug_encode_options local;
    unsigned char *bytes = NULL;
    size_t size = 0;
    char *part = NULL;
    int fd = -1, rc;
    if (path == NULL || img == NULL)
        return UG_EINVAL;
    if (opts == NULL)
        ug_encode_options_init(&local);
    else
        local = *opts;
    if (local.format == UG_FORMAT_AUTO) {
        int format = ug_image_format_from_path(path);
        if (format < 0)
            return format;
        local.format = (ug_image_format)format;
    }
    rc = ug_image_encode(img, mode, &local, &bytes, &size);
    if (rc != 0)
        goto out;
    size_t len = strlen(path);
    if ((part = malloc(len + sizeof ".part")) == NULL) {
        rc = UG_ENOMEM;
        goto out;
    }
    memcpy(part, path, len);
    memcpy(part + len, ".part", sizeof ".part");
    fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (fd < 0) {
        rc = UG_EIO;
        goto out;
    }
    rc = write_all(fd, bytes, size);
    if (close(fd) != 0 && rc == 0)
        rc = UG_EIO;
    fd = -1;
    if (rc == 0 && rename(part, path) != 0)
        rc = UG_EIO;
    if (rc != 0)
        unlink(part);
out:
    if (fd >= 0) {
        close(fd);
        unlink(part);
    }
    free(part);
    free(bytes);
    return rc;
}
