/* png_decoders.c - libpng against libspng on the same PNG files.
 *
 * Usage: png_decoders [--rounds N] FILE.png...
 *
 * The measurement behind ungil's choice of PNG library (docs/images.md).
 * Each file is read into memory once; then, N times (default 7), libpng
 * and libspng each decode it from memory to the file's own samples
 * (deinterlaced, no conversion), alternating A B A B so that a noisy
 * machine hurts both alike.  Prints one JSON object per file: the best
 * and median milliseconds of each library.  Not run by the tests.
 */
#include <png.h>
#include <setjmp.h>
#include <spng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { MAX_ROUNDS = 101 };

typedef struct reader {
    const unsigned char *data;
    size_t size, pos;
} reader;

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void read_cb(png_structp png, png_bytep out, png_size_t n) {
    reader *r = png_get_io_ptr(png);
    if (n > r->size - r->pos)
        png_error(png, "unexpected end of data");
    memcpy(out, r->data + r->pos, n);
    r->pos += n;
}

/* Decodes with libpng; returns 0 or -1. */
static int decode_libpng(const unsigned char *data, size_t size) {
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    unsigned char *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    reader r = {data, size, 0};
    int rc = -1;
    if (info == NULL)
        goto out;
    if (setjmp(png_jmpbuf(png)))
        goto out;
    png_set_read_fn(png, &r, read_cb);
    png_read_info(png, info);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    png_uint_32 h = png_get_image_height(png, info);
    size_t row_bytes = png_get_rowbytes(png, info);
    pixels = malloc(row_bytes * h);
    rows = malloc(sizeof *rows * h);
    if (pixels == NULL || rows == NULL)
        goto out;
    for (png_uint_32 y = 0; y < h; y++)
        rows[y] = pixels + row_bytes * y;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    rc = 0;
out:
    png_destroy_read_struct(&png, &info, NULL);
    free(pixels);
    free(rows);
    return rc;
}

/* Decodes with libspng; returns 0 or -1. */
static int decode_libspng(const unsigned char *data, size_t size) {
    spng_ctx *ctx = spng_ctx_new(0);
    unsigned char *pixels = NULL;
    size_t n;
    int rc = -1;
    if (ctx == NULL || spng_set_png_buffer(ctx, data, size) != 0 ||
        spng_decoded_image_size(ctx, SPNG_FMT_RAW, &n) != 0 ||
        (pixels = malloc(n)) == NULL)
        goto out;
    if (spng_decode_image(ctx, pixels, n, SPNG_FMT_RAW, 0) == 0)
        rc = 0;
out:
    free(pixels);
    spng_ctx_free(ctx);
    return rc;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static unsigned char *read_whole(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    unsigned char *data = NULL;
    long n;
    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (data = malloc((size_t)n)) != NULL && fread(data, 1, (size_t)n, f) != (size_t)n) {
        free(data);
        data = NULL;
    }
    if (data != NULL)
        *size = (size_t)n;
    fclose(f);
    return data;
}

int main(int argc, char **argv) {
    int rounds = 7, first = 1;
    if (argc > 2 && strcmp(argv[1], "--rounds") == 0) {
        rounds = atoi(argv[2]);
        first = 3;
    }
    if (rounds < 1 || rounds > MAX_ROUNDS || first >= argc) {
        fprintf(stderr, "usage: png_decoders [--rounds 1..%d] FILE.png...\n", MAX_ROUNDS);
        return 2;
    }
    for (int a = first; a < argc; a++) {
        size_t size = 0;
        unsigned char *data = read_whole(argv[a], &size);
        if (data == NULL) {
            fprintf(stderr, "png_decoders: cannot read %s\n", argv[a]);
            return 1;
        }
        double t[2][MAX_ROUNDS];
        for (int r = 0; r < rounds; r++)
            for (int lib = 0; lib < 2; lib++) {
                double start = now_ms();
                int rc = lib == 0 ? decode_libpng(data, size) : decode_libspng(data, size);
                t[lib][r] = now_ms() - start;
                if (rc != 0) {
                    fprintf(stderr, "png_decoders: %s fails on %s\n",
                            lib == 0 ? "libpng" : "libspng", argv[a]);
                    free(data);
                    return 1;
                }
            }
        qsort(t[0], (size_t)rounds, sizeof(double), cmp_double);
        qsort(t[1], (size_t)rounds, sizeof(double), cmp_double);
        printf("{\"file\": \"%s\", \"bytes\": %zu, \"libpng_best_ms\": %.2f, "
               "\"libpng_median_ms\": %.2f, \"libspng_best_ms\": %.2f, "
               "\"libspng_median_ms\": %.2f}\n",
               argv[a], size, t[0][0], t[0][rounds / 2], t[1][0], t[1][rounds / 2]);
        free(data);
    }
    return 0;
}
