/* image_jpeg.c - JPEG decoding (libjpeg API) and encoding (TurboJPEG).
 *
 * Decoding uses libjpeg-turbo's libjpeg API, as Pillow does, because only
 * its message hook tells reliably whether the data ran out: TurboJPEG
 * keeps just the last message and reports a fatal error that follows any
 * warning as a warning, so a truncated file could pass for a damaged but
 * complete one.  Pillow refuses truncated files ("image file is
 * truncated"), so libjpeg's "Premature end of JPEG file" (JWRN_JPEG_EOF),
 * whenever it occurs, makes the decode UG_ECORRUPT; other warnings (stray
 * bytes between markers, a scan cut short but closed by a marker) are
 * accepted, as Pillow accepts them.  Progressive files with more than 500
 * scans are refused, TurboJPEG's guard against scan bombs, which Pillow
 * lacks.
 *
 * libjpeg reports fatal errors through error_exit, which must not return:
 * ours longjmps back to the setjmp in decode_jpeg, across libjpeg's frames
 * only (the memory source and our hooks never hold resources).  Everything
 * that changes after the setjmp lives in a heap `job`, so nothing depends
 * on the values of non-volatile locals after the jump.  Nothing is printed.
 *
 * Decoding matches Pillow's JPEG plugin: the mode comes from the number of
 * components (1 -> L, 3 -> RGB, 4 -> CMYK, others refused), libjpeg's
 * defaults (accurate integer DCT, fancy upsampling) are kept, and CMYK is
 * inverted, as Pillow's "CMYK;I" raw mode assumes Adobe polarity.
 *
 * Encoding goes through TurboJPEG, a handle per call (well under a
 * microsecond, measured in tests/c/test_image_codec.c), with Pillow's
 * defaults (quality 75, 4:2:0, baseline).  CMYK is the exception:
 * TurboJPEG can only write it as YCCK, and with chroma subsampling that
 * loses far more than Pillow's plain CMYK, so CMYK is always written 4:4:4.
 *
 * Every call has its own handles, so calls run on any number of threads.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>
#include <turbojpeg.h>

#include "image_codec.h"
#include "ungil/error.h"
#include "ungil/image.h"

/* TurboJPEG's limit (TJFLAG_LIMITSCANS). */
enum { MAX_SCANS = 500 };

/* One decode.  The error manager comes first so that libjpeg's
 * cinfo->err leads back to the job. */
typedef struct job {
    struct jpeg_error_mgr err;
    struct jpeg_progress_mgr progress;
    struct jpeg_decompress_struct cinfo;
    jmp_buf jump;
    int created;      /* jpeg_create_decompress succeeded */
    int ran_out;      /* libjpeg asked for bytes past the end */
    int too_many_scans;
    ug_image img;
} job;

static void on_error(j_common_ptr cinfo) {
    job *j = (job *)cinfo->err;
    longjmp(j->jump, 1);
}

static void on_message(j_common_ptr cinfo, int level) {
    job *j = (job *)cinfo->err;
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF)
        j->ran_out = 1;
}

static void on_output(j_common_ptr cinfo) {
    (void)cinfo;
}

static void on_progress(j_common_ptr cinfo) {
    job *j = (job *)cinfo->err;
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->progressive_mode && d->input_scan_number > MAX_SCANS) {
        j->too_many_scans = 1;
        longjmp(j->jump, 1);
    }
}

/* Reads the header into `info`; with `pixels`, decodes into j->img too,
 * refusing more than max_pixels.  Returns 0 or an error; the caller
 * cleans up `j` (free_job) either way. */
static int decode_jpeg(job *j, const unsigned char *data, size_t size,
                       size_t max_pixels, int pixels, ug_image_info *info) {
    j_decompress_ptr cinfo = &j->cinfo;
    if (setjmp(j->jump)) {
        if (j->err.msg_code == JERR_OUT_OF_MEMORY && !j->ran_out && !j->too_many_scans)
            return UG_ENOMEM;
        return UG_ECORRUPT;
    }
    cinfo->err = jpeg_std_error(&j->err);
    j->err.error_exit = on_error;
    j->err.emit_message = on_message;
    j->err.output_message = on_output;
    jpeg_create_decompress(cinfo);
    j->created = 1;
    j->progress.progress_monitor = on_progress;
    cinfo->progress = &j->progress;
    jpeg_mem_src(cinfo, data, (unsigned long)size);
    jpeg_read_header(cinfo, TRUE);
    if (j->ran_out || cinfo->data_precision != 8 || cinfo->image_width == 0 ||
        cinfo->image_height == 0 || cinfo->image_width > 0x7fffffff ||
        cinfo->image_height > 0x7fffffff)
        return UG_ECORRUPT;
    info->format = UG_FORMAT_JPEG;
    info->width = (int)cinfo->image_width;
    info->height = (int)cinfo->image_height;
    info->bit_depth = 8;
    info->interlaced = cinfo->progressive_mode ? 1 : 0;
    switch (cinfo->num_components) {
    case 1: info->mode = UG_MODE_L; cinfo->out_color_space = JCS_GRAYSCALE; break;
    case 3: info->mode = UG_MODE_RGB; cinfo->out_color_space = JCS_RGB; break;
    case 4: info->mode = UG_MODE_CMYK; cinfo->out_color_space = JCS_CMYK; break;
    default: return UG_ECORRUPT;
    }
    if (!pixels)
        return 0;
    int rc = ug__image_check_pixels(info->width, info->height, max_pixels);
    if (rc != 0)
        return rc;
    rc = ug_image_alloc(&j->img, info->width, info->height,
                        ug_image_mode_channels(info->mode));
    if (rc != 0)
        return rc;
    jpeg_start_decompress(cinfo);
    if (cinfo->output_width != cinfo->image_width ||
        cinfo->output_height != cinfo->image_height ||
        cinfo->output_components != j->img.channels)
        return UG_ECORRUPT;
    while (cinfo->output_scanline < cinfo->output_height) {
        JSAMPROW row = j->img.data + (size_t)cinfo->output_scanline * j->img.stride;
        if (jpeg_read_scanlines(cinfo, &row, 1) != 1 || j->ran_out)
            return UG_ECORRUPT;
    }
    jpeg_finish_decompress(cinfo);
    if (j->ran_out)
        return UG_ECORRUPT;
    if (info->mode == UG_MODE_CMYK) {
        size_t n = j->img.stride * (size_t)j->img.height;
        for (size_t i = 0; i < n; i++)
            j->img.data[i] = (unsigned char)(255 - j->img.data[i]);
    }
    return 0;
}

static void free_job(job *j) {
    if (j->created)
        jpeg_destroy_decompress(&j->cinfo);
    ug_image_release(&j->img);
    free(j);
}

int ug__jpeg_info(const unsigned char *data, size_t size, ug_image_info *info) {
    job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return UG_ENOMEM;
    int rc = decode_jpeg(j, data, size, 0, 0, info);
    free_job(j);
    return rc;
}

int ug__jpeg_decode(const unsigned char *data, size_t size, size_t max_pixels,
                    ug_image *out, ug_image_info *info) {
    job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return UG_ENOMEM;
    int rc = decode_jpeg(j, data, size, max_pixels, 1, info);
    if (rc == 0) {
        *out = j->img;
        memset(&j->img, 0, sizeof j->img);
    }
    free_job(j);
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
