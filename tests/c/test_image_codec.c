/* test_image_codec.c - JPEG/PNG decoding, encoding and saving (ungil/image.h).
 *
 * Agreement with Pillow is checked in tests/python/test_image_codec_exact.py;
 * this file checks the promises of the C API: modes and buffers, round trips
 * for every mode (PNG exact, JPEG close), every prefix of a file and random
 * byte flips failing cleanly, decompression bombs refused from the header,
 * bad arguments, .part files never left behind, and many threads decoding
 * and encoding at once (run under TSan as well).
 */
#include <pthread.h>
#include <sys/stat.h>
#include <turbojpeg.h>

#include "check.h"

#include "ungil/image.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static unsigned rng_byte(void) { return (unsigned)(check_random(&rng_state) >> 56); }

/* An owned image of random samples, or with `smooth` (for JPEG, and for
 * images at most 64 x 48) a gentle ramp with a little noise. */
static ug_image make_image(int w, int h, int c, int smooth) {
    ug_image im;
    if (ug_image_alloc(&im, w, h, c) != 0)
        abort();
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w * c; x++)
            im.data[(size_t)y * im.stride + (size_t)x] =
                smooth ? (unsigned char)((x / c) * 2 + y * 2 + (x % c) * 10 +
                                         (int)(rng_byte() % 5))
                       : (unsigned char)rng_byte();
    return im;
}

static int same_pixels(const ug_image *a, const ug_image *b) {
    if (a->width != b->width || a->height != b->height || a->channels != b->channels)
        return 0;
    for (int y = 0; y < a->height; y++)
        if (memcmp(a->data + (size_t)y * a->stride, b->data + (size_t)y * b->stride,
                   (size_t)a->width * (size_t)a->channels) != 0)
            return 0;
    return 1;
}

static double mean_abs_diff(const ug_image *a, const ug_image *b) {
    double sum = 0;
    for (int y = 0; y < a->height; y++)
        for (int x = 0; x < a->width * a->channels; x++) {
            int d = a->data[(size_t)y * a->stride + (size_t)x] -
                    b->data[(size_t)y * b->stride + (size_t)x];
            sum += d < 0 ? -d : d;
        }
    return sum / ((double)a->width * a->height * a->channels);
}

static unsigned char palette[200][4];

/* Encodes `im` in `mode` as `format` with defaults (and the test palette). */
static int encode(const ug_image *im, ug_image_mode mode, ug_image_format format,
                  unsigned char **out, size_t *size) {
    ug_encode_options o;
    ug_encode_options_init(&o);
    o.format = format;
    o.palette = (const unsigned char (*)[4])palette;
    o.palette_size = 200;
    return ug_image_encode(im, mode, &o, out, size);
}

/* A mode's pixels made valid for it: 0/255 for "1", indices < 200 for P. */
static ug_image make_mode_image(ug_image_mode mode, int w, int h) {
    ug_image im = make_image(w, h, ug_image_mode_channels(mode), 0);
    for (size_t i = 0; i < im.stride * (size_t)h; i++) {
        if (mode == UG_MODE_1)
            im.data[i] = im.data[i] & 1 ? 255 : 0;
        else if (mode == UG_MODE_P)
            im.data[i] = (unsigned char)(im.data[i] % 200);
    }
    return im;
}

static void test_modes(void) {
    static const struct {
        ug_image_mode mode;
        const char *name;
        int channels, filterable;
    } want[] = {{UG_MODE_1, "1", 1, 1},       {UG_MODE_L, "L", 1, 1},
                {UG_MODE_LA, "LA", 2, 1},     {UG_MODE_P, "P", 1, 0},
                {UG_MODE_PA, "PA", 2, 1},     {UG_MODE_RGB, "RGB", 3, 1},
                {UG_MODE_RGBA, "RGBA", 4, 1}, {UG_MODE_CMYK, "CMYK", 4, 1},
                {UG_MODE_I16, "I;16", 2, 0}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        CHECK_STR_EQ(ug_image_mode_name(want[i].mode), want[i].name);
        CHECK_INT_EQ(ug_image_mode_from_name(want[i].name), want[i].mode);
        CHECK_INT_EQ(ug_image_mode_channels(want[i].mode), want[i].channels);
        const char *msg = NULL;
        CHECK_RC(ug_image_mode_can_filter(want[i].mode, &msg),
                 want[i].filterable ? 0 : UG_EMODE);
        CHECK(want[i].filterable ? msg == NULL : msg != NULL);
    }
    const char *msg = NULL;
    CHECK_RC(ug_image_mode_can_filter(UG_MODE_P, &msg), UG_EMODE);
    CHECK_STR_EQ(msg, "cannot filter palette images");
    CHECK_RC(ug_image_mode_can_filter(UG_MODE_NONE, NULL), UG_EMODE);
    CHECK_NULL(ug_image_mode_name(UG_MODE_NONE));
    CHECK_NULL(ug_image_mode_name((ug_image_mode)99));
    CHECK_INT_EQ(ug_image_mode_channels((ug_image_mode)-1), 0);
    CHECK_INT_EQ(ug_image_mode_from_name("rgb"), UG_MODE_NONE);
    CHECK_INT_EQ(ug_image_mode_from_name(NULL), UG_MODE_NONE);
}

static void test_alloc_release(void) {
    ug_image im;
    CHECK_RC(ug_image_alloc(&im, 5, 3, 3), 0);
    CHECK_UINT_EQ(im.stride, 15);
    CHECK_NOT_NULL(im.data);
    memset(im.data, 1, 45);
    ug_image_release(&im);
    CHECK_NULL(im.data);
    CHECK_INT_EQ(im.width, 0);
    ug_image_release(&im);
    ug_image_release(NULL);
    CHECK_RC(ug_image_alloc(&im, 0, 7, 1), 0);
    CHECK_NULL(im.data);
    ug_image_release(&im);
    CHECK_RC(ug_image_alloc(NULL, 1, 1, 1), UG_EINVAL);
    CHECK_RC(ug_image_alloc(&im, -1, 1, 1), UG_EINVAL);
    CHECK_RC(ug_image_alloc(&im, 1, 1, 5), UG_EINVAL);
    CHECK_RC(ug_image_alloc(&im, 1, 1, 0), UG_EINVAL);
    CHECK_NULL(im.data);
    if (sizeof(size_t) == 8) {
        CHECK_RC(ug_image_alloc(&im, 0x7fffffff, 0x7fffffff, 4), UG_ERANGE);
        CHECK_NULL(im.data);
    }
}

static void test_formats(void) {
    CHECK_INT_EQ(ug_image_format_from_path("a/b.JPG"), UG_FORMAT_JPEG);
    CHECK_INT_EQ(ug_image_format_from_path("x.jpeg"), UG_FORMAT_JPEG);
    CHECK_INT_EQ(ug_image_format_from_path("x.jfif"), UG_FORMAT_JPEG);
    CHECK_INT_EQ(ug_image_format_from_path("x.Png"), UG_FORMAT_PNG);
    CHECK_RC(ug_image_format_from_path("x.gif"), UG_EFORMAT);
    CHECK_RC(ug_image_format_from_path("dir.png/file"), UG_EFORMAT);
    CHECK_RC(ug_image_format_from_path("png"), UG_EFORMAT);
    CHECK_RC(ug_image_format_from_path(NULL), UG_EINVAL);
    CHECK_INT_EQ(ug_image_format_detect("\xff\xd8\xff\xe0", 4), UG_FORMAT_JPEG);
    CHECK_INT_EQ(ug_image_format_detect("\x89PNG\r\n\x1a\n", 8), UG_FORMAT_PNG);
    CHECK_RC(ug_image_format_detect("\x89PNG\r\n\x1a", 7), UG_EFORMAT);
    CHECK_RC(ug_image_format_detect("GIF89a", 6), UG_EFORMAT);
    CHECK_RC(ug_image_format_detect(NULL, 0), UG_EFORMAT);
    CHECK_STR_EQ(ug_image_format_name(UG_FORMAT_PNG), "PNG");
    CHECK_STR_EQ(ug_image_format_name(UG_FORMAT_JPEG), "JPEG");
    CHECK_NULL(ug_image_format_name(UG_FORMAT_AUTO));
    ug_image im = {0};
    ug_image_info info;
    CHECK_RC(ug_image_decode("GIF89a....", 10, NULL, &im, &info), UG_EFORMAT);
    CHECK_RC(ug_image_decode("", 0, NULL, &im, NULL), UG_EFORMAT);
    CHECK_RC(ug_image_read_info("BM......", 8, &info), UG_EFORMAT);
}

static void test_png_round_trip_every_mode(void) {
    static const ug_image_mode modes[] = {UG_MODE_1, UG_MODE_L, UG_MODE_LA,
                                          UG_MODE_P, UG_MODE_I16, UG_MODE_RGB,
                                          UG_MODE_RGBA};
    static const int sizes[][2] = {{1, 1}, {2, 3}, {9, 1}, {17, 13}, {64, 48}};
    for (int i = 0; i < 200; i++)
        for (int k = 0; k < 4; k++)
            palette[i][k] = (unsigned char)(k == 3 && i > 20 ? 255 : rng_byte());
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            ug_image src = make_mode_image(modes[m], sizes[s][0], sizes[s][1]);
            unsigned char *png = NULL;
            size_t size = 0;
            if (!CHECK_RC(encode(&src, modes[m], UG_FORMAT_PNG, &png, &size), 0))
                continue;
            ug_image back;
            ug_image_info info;
            CHECK_RC(ug_image_decode(png, size, NULL, &back, &info), 0);
            CHECK_INT_EQ(info.mode, modes[m]);
            CHECK_INT_EQ(info.format, UG_FORMAT_PNG);
            CHECK(same_pixels(&src, &back));
            if (modes[m] == UG_MODE_P) {
                CHECK_INT_EQ(info.palette_size, 200);
                CHECK(memcmp(info.palette, palette, sizeof palette) == 0);
            }
            ug_image_release(&back);
            free(png);
            ug_image_release(&src);
        }
}

static void test_png_stride_and_levels(void) {
    ug_image big = make_image(40, 20, 3, 1);
    ug_image view = {31, 17, 3, big.stride, big.data + 3};
    unsigned char *first = NULL;
    size_t first_size = 0;
    for (int level = 0; level <= 9; level++) {
        ug_encode_options o;
        ug_encode_options_init(&o);
        CHECK_INT_EQ(o.compress_level, 6);
        o.format = UG_FORMAT_PNG;
        o.compress_level = level;
        unsigned char *png = NULL;
        size_t size = 0;
        if (!CHECK_RC(ug_image_encode(&view, UG_MODE_RGB, &o, &png, &size), 0))
            continue;
        ug_image back;
        CHECK_RC(ug_image_decode(png, size, NULL, &back, NULL), 0);
        CHECK(same_pixels(&view, &back));
        ug_image_release(&back);
        if (level == 0) {
            first = png;
            first_size = size;
            continue;
        }
        CHECK_UINT(size, <, first_size);
        free(png);
    }
    free(first);
    ug_image_release(&big);
}

static void test_jpeg_round_trip(void) {
    static const struct {
        ug_image_mode mode;
        ug_image_mode decoded;
    } cases[] = {{UG_MODE_L, UG_MODE_L}, {UG_MODE_1, UG_MODE_L},
                 {UG_MODE_RGB, UG_MODE_RGB}, {UG_MODE_CMYK, UG_MODE_CMYK}};
    static const int sizes[][2] = {{1, 1}, {7, 5}, {17, 13}, {64, 48}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            for (int sub = 0; sub <= 2; sub++)
                for (int progressive = 0; progressive <= 1; progressive++) {
                    ug_image_mode mode = cases[c].mode;
                    ug_image src = make_image(sizes[s][0], sizes[s][1],
                                              ug_image_mode_channels(mode), 1);
                    if (mode == UG_MODE_1)
                        for (size_t i = 0; i < src.stride * (size_t)src.height; i++)
                            src.data[i] = src.data[i] & 0x80 ? 255 : 0;
                    ug_encode_options o;
                    ug_encode_options_init(&o);
                    CHECK_INT_EQ(o.quality, 75);
                    CHECK_INT_EQ(o.subsampling, 2);
                    o.format = UG_FORMAT_JPEG;
                    o.quality = 92;
                    o.subsampling = sub;
                    o.progressive = progressive;
                    unsigned char *jpg = NULL;
                    size_t size = 0;
                    if (!CHECK_RC(ug_image_encode(&src, mode, &o, &jpg, &size), 0))
                        continue;
                    ug_image back;
                    ug_image_info info;
                    CHECK_RC(ug_image_decode(jpg, size, NULL, &back, &info), 0);
                    CHECK_INT_EQ(info.mode, cases[c].decoded);
                    CHECK_INT_EQ(info.interlaced, progressive);
                    CHECK_INT_EQ(back.width, src.width);
                    CHECK_INT_EQ(back.height, src.height);
                    if (back.data != NULL)
                        CHECK_DBL(mean_abs_diff(&src, &back), <,
                                  mode == UG_MODE_1 ? 12.0 : 4.0);
                    ug_image_release(&back);
                    free(jpg);
                    ug_image_release(&src);
                }
}

/* A small file of each kind for the damage tests. */
static void small_files(unsigned char **png, size_t *png_size, unsigned char **jpg,
                        size_t *jpg_size) {
    ug_image src = make_image(23, 17, 3, 1);
    if (encode(&src, UG_MODE_RGB, UG_FORMAT_PNG, png, png_size) != 0 ||
        encode(&src, UG_MODE_RGB, UG_FORMAT_JPEG, jpg, jpg_size) != 0)
        abort();
    ug_image_release(&src);
}

static int acceptable(int rc) {
    return rc == 0 || rc == UG_ECORRUPT || rc == UG_EFORMAT;
}

static void test_every_prefix(void) {
    unsigned char *files[2];
    size_t sizes[2];
    small_files(&files[0], &sizes[0], &files[1], &sizes[1]);
    for (int f = 0; f < 2; f++) {
        int bad = 0, refused = 0;
        for (size_t n = 0; n < sizes[f]; n++) {
            /* A copy of exactly n bytes, so ASan sees any read past it. */
            unsigned char *cut = malloc(n ? n : 1);
            memcpy(cut, files[f], n);
            ug_image im;
            ug_image_info info;
            int rc = ug_image_decode(cut, n, NULL, &im, &info);
            bad += !acceptable(rc);
            refused += rc != 0;
            if (rc != 0 && im.data != NULL)
                bad++;
            ug_image_release(&im);
            rc = ug_image_read_info(cut, n, &info);
            bad += !acceptable(rc);
            free(cut);
        }
        CHECK_INT_EQ(bad, 0);
        /* All but the last few bytes are needed: JPEG's EOI; PNG's IEND
         * chunk and the CRC of the last IDAT (Pillow, which stops once it
         * has every pixel, needs four bytes fewer still). */
        CHECK_INT(refused, >=, (int)sizes[f] - 16);
        free(files[f]);
    }
}

static void test_random_flips(void) {
    unsigned char *files[2];
    size_t sizes[2];
    small_files(&files[0], &sizes[0], &files[1], &sizes[1]);
    int rounds = CHECK_SANITIZED ? 300 : 1500, bad = 0;
    for (int f = 0; f < 2; f++) {
        unsigned char *copy = malloc(sizes[f]);
        for (int r = 0; r < rounds; r++) {
            memcpy(copy, files[f], sizes[f]);
            int flips = 1 + (int)(rng_byte() % 8);
            for (int i = 0; i < flips; i++)
                copy[check_random(&rng_state) % sizes[f]] ^=
                    (unsigned char)(1u << (rng_byte() % 8));
            ug_image im;
            ug_decode_options o;
            ug_decode_options_init(&o);
            o.max_pixels = 1 << 20;
            int rc = ug_image_decode(copy, sizes[f], &o, &im, NULL);
            bad += !(acceptable(rc) || rc == UG_EBOMB);
            ug_image_release(&im);
        }
        free(copy);
        free(files[f]);
    }
    CHECK_INT_EQ(bad, 0);
}

static uint32_t crc32_of(const unsigned char *p, size_t n) {
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
    }
    return ~crc;
}

static void put32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void test_bombs_refused_from_header(void) {
    /* A PNG whose IHDR claims 100000 x 100000 RGB, with a tiny IDAT. */
    unsigned char png[8 + 25 + 12 + 20 + 12];
    memcpy(png, "\x89PNG\r\n\x1a\n", 8);
    put32(png + 8, 13);
    memcpy(png + 12, "IHDR", 4);
    put32(png + 16, 100000);
    put32(png + 20, 100000);
    memcpy(png + 24, "\x08\x02\x00\x00\x00", 5);
    put32(png + 29, crc32_of(png + 12, 17));
    put32(png + 33, 8);
    memcpy(png + 37, "IDAT\x78\x9c\x63\x00\x00\x00\x01\x00", 12);
    put32(png + 49, crc32_of(png + 37, 12));
    put32(png + 53, 0);
    memcpy(png + 57, "IEND", 4);
    put32(png + 61, crc32_of(png + 57, 4));
    size_t png_size = 65;
    ug_image im;
    ug_image_info info;
    CHECK_RC(ug_image_read_info(png, png_size, &info), 0);
    CHECK_INT_EQ(info.width, 100000);
    CHECK_INT_EQ(info.height, 100000);
    CHECK_RC(ug_image_decode(png, png_size, NULL, &im, &info), UG_EBOMB);
    CHECK_NULL(im.data);
    ug_decode_options o;
    ug_decode_options_init(&o);
    CHECK_UINT_EQ(o.max_pixels, 178956970u);
    o.max_pixels = (size_t)100000 * 100000 - 1;
    CHECK_RC(ug_image_decode(png, png_size, &o, &im, &info), UG_EBOMB);

    /* A real JPEG whose frame header is rewritten to 65000 x 65000. */
    unsigned char *files[2];
    size_t sizes[2];
    small_files(&files[0], &sizes[0], &files[1], &sizes[1]);
    unsigned char *jpg = files[1];
    size_t sof = 0;
    for (size_t i = 2; i + 9 < sizes[1]; i++)
        if (jpg[i] == 0xff && jpg[i + 1] == 0xc0) {
            sof = i;
            break;
        }
    if (CHECK_UINT(sof, >, 0)) {
        jpg[sof + 5] = jpg[sof + 7] = 0xfd;
        jpg[sof + 6] = jpg[sof + 8] = 0xe8;
        CHECK_RC(ug_image_read_info(jpg, sizes[1], &info), 0);
        CHECK_INT_EQ(info.width, 65000);
        CHECK_RC(ug_image_decode(jpg, sizes[1], NULL, &im, &info), UG_EBOMB);
        CHECK_NULL(im.data);
    }
    /* The limit is width * height: the exact count passes, one less fails. */
    o.max_pixels = 23 * 17;
    CHECK_RC(ug_image_decode(files[0], sizes[0], &o, &im, NULL), 0);
    ug_image_release(&im);
    o.max_pixels = 23 * 17 - 1;
    CHECK_RC(ug_image_decode(files[0], sizes[0], &o, &im, NULL), UG_EBOMB);
    free(files[0]);
    free(files[1]);
}

static void test_damaged_files(void) {
    /* SOI + one quantisation table + EOI: a tables-only stream, for which
     * TurboJPEG reports success without a size (found by fuzz_jpeg). */
    unsigned char tables[2 + 4 + 65 + 2] = {0xff, 0xd8, 0xff, 0xdb, 0x00, 0x43, 0x00};
    for (int i = 0; i < 64; i++)
        tables[7 + i] = 1;
    tables[71] = 0xff;
    tables[72] = 0xd9;
    ug_image im;
    ug_image_info info;
    CHECK_RC(ug_image_read_info(tables, sizeof tables, &info), UG_ECORRUPT);
    CHECK_RC(ug_image_decode(tables, sizeof tables, NULL, &im, &info), UG_ECORRUPT);
    CHECK_NULL(im.data);

    unsigned char *png, *jpg;
    size_t png_size, jpg_size;
    small_files(&png, &png_size, &jpg, &jpg_size);
    /* A flipped bit inside the compressed data fails the PNG's CRC. */
    png[png_size - 20] ^= 0x10;
    CHECK_RC(ug_image_decode(png, png_size, NULL, &im, NULL), UG_ECORRUPT);
    /* A JPEG cut in its entropy-coded data is truncated, as Pillow says. */
    CHECK_RC(ug_image_decode(jpg, jpg_size * 2 / 3, NULL, &im, NULL), UG_ECORRUPT);
    free(png);
    free(jpg);
}

static void test_bad_arguments(void) {
    ug_image src = make_image(4, 4, 3, 0), im;
    unsigned char *out = (unsigned char *)&src;
    size_t size = 1;
    ug_encode_options o;
    ug_encode_options_init(&o);
    CHECK_RC(ug_image_encode(&src, UG_MODE_RGB, &o, &out, &size), UG_EINVAL);
    CHECK_NULL(out);
    CHECK_UINT_EQ(size, 0);
    o.format = UG_FORMAT_PNG;
    CHECK_RC(ug_image_encode(NULL, UG_MODE_RGB, &o, &out, &size), UG_EINVAL);
    CHECK_RC(ug_image_encode(&src, UG_MODE_RGB, &o, NULL, &size), UG_EINVAL);
    CHECK_RC(ug_image_encode(&src, UG_MODE_RGBA, &o, &out, &size), UG_EINVAL);
    CHECK_RC(ug_image_encode(&src, UG_MODE_NONE, &o, &out, &size), UG_EINVAL);
    CHECK_RC(ug_image_encode(&src, UG_MODE_P, &o, &out, &size), UG_EINVAL);
    o.compress_level = 10;
    CHECK_RC(ug_image_encode(&src, UG_MODE_RGB, &o, &out, &size), UG_EINVAL);
    o.compress_level = 6;
    ug_image narrow = src;
    narrow.stride = 11;
    CHECK_RC(ug_image_encode(&narrow, UG_MODE_RGB, &o, &out, &size), UG_EINVAL);
    ug_image empty = {0, 4, 3, 0, NULL};
    CHECK_RC(ug_image_encode(&empty, UG_MODE_RGB, &o, &out, &size), UG_EINVAL);
    ug_image cmyk = make_image(4, 4, 4, 0);
    CHECK_RC(ug_image_encode(&cmyk, UG_MODE_CMYK, &o, &out, &size), UG_EMODE);
    o.format = UG_FORMAT_JPEG;
    CHECK_RC(ug_image_encode(&cmyk, UG_MODE_RGBA, &o, &out, &size), UG_EMODE);
    o.quality = 0;
    CHECK_RC(ug_image_encode(&src, UG_MODE_RGB, &o, &out, &size), UG_EINVAL);
    o.quality = 101;
    CHECK_RC(ug_image_encode(&src, UG_MODE_RGB, &o, &out, &size), UG_EINVAL);
    o.quality = 75;
    o.subsampling = 3;
    CHECK_RC(ug_image_encode(&src, UG_MODE_RGB, &o, &out, &size), UG_EINVAL);
    /* A palette index past the palette is refused, not written. */
    ug_image idx = make_image(4, 4, 1, 0);
    unsigned char two[2][4] = {{0, 0, 0, 255}, {255, 255, 255, 255}};
    o.format = UG_FORMAT_PNG;
    o.palette = (const unsigned char (*)[4])two;
    o.palette_size = 2;
    memset(idx.data, 1, 16);
    idx.data[5] = 2;
    CHECK_RC(ug_image_encode(&idx, UG_MODE_P, &o, &out, &size), UG_EINVAL);
    CHECK_NULL(out);

    CHECK_RC(ug_image_decode(NULL, 4, NULL, &im, NULL), UG_EINVAL);
    CHECK_RC(ug_image_decode("\xff\xd8\xff", 3, NULL, NULL, NULL), UG_EINVAL);
    CHECK_RC(ug_image_read_info(NULL, 4, NULL), UG_EINVAL);
    CHECK_RC(ug_image_decode_file(NULL, NULL, &im, NULL), UG_EINVAL);
    CHECK_RC(ug_image_save(NULL, &src, UG_MODE_RGB, NULL), UG_EINVAL);
    ug_decode_options_init(NULL);
    ug_encode_options_init(NULL);
    ug_image_release(&idx);
    ug_image_release(&cmyk);
    ug_image_release(&src);
}

/* A fresh directory under /tmp; the caller removes it. */
static void make_dir(char *dir, size_t size) {
    snprintf(dir, size, "/tmp/ug_codec_XXXXXX");
    if (mkdtemp(dir) == NULL)
        abort();
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static void test_save_and_files(void) {
    char dir[64], path[128], part[160];
    make_dir(dir, sizeof dir);
    ug_image src = make_image(30, 20, 3, 1), rgba = make_image(30, 20, 4, 0), back;
    ug_image_info info;

    snprintf(path, sizeof path, "%s/out.PNG", dir);
    snprintf(part, sizeof part, "%s.part", path);
    CHECK_RC(ug_image_save(path, &src, UG_MODE_RGB, NULL), 0);
    CHECK(!exists(part));
    CHECK_RC(ug_image_read_info_file(path, &info), 0);
    CHECK_INT_EQ(info.format, UG_FORMAT_PNG);
    CHECK_RC(ug_image_decode_file(path, NULL, &back, &info), 0);
    CHECK(same_pixels(&src, &back));
    ug_image_release(&back);
    /* A failed save (RGBA has no JPEG form; here forced onto out.PNG)
     * leaves the existing file and no .part. */
    ug_encode_options o;
    ug_encode_options_init(&o);
    o.format = UG_FORMAT_JPEG;
    CHECK_RC(ug_image_save(path, &rgba, UG_MODE_RGBA, &o), UG_EMODE);
    CHECK(!exists(part));
    CHECK_RC(ug_image_decode_file(path, NULL, &back, NULL), 0);
    CHECK(same_pixels(&src, &back));
    ug_image_release(&back);
    unlink(path);

    snprintf(path, sizeof path, "%s/out.jpg", dir);
    CHECK_RC(ug_image_save(path, &src, UG_MODE_RGB, NULL), 0);
    CHECK_RC(ug_image_decode_file(path, NULL, &back, &info), 0);
    CHECK_INT_EQ(info.format, UG_FORMAT_JPEG);
    CHECK_INT_EQ(info.mode, UG_MODE_RGB);
    ug_image_release(&back);
    unlink(path);

    snprintf(path, sizeof path, "%s/out.gif", dir);
    CHECK_RC(ug_image_save(path, &src, UG_MODE_RGB, NULL), UG_EFORMAT);
    CHECK(!exists(path));
    snprintf(path, sizeof path, "%s/missing/out.png", dir);
    snprintf(part, sizeof part, "%s.part", path);
    CHECK_RC(ug_image_save(path, &src, UG_MODE_RGB, NULL), UG_EIO);
    CHECK(!exists(path) && !exists(part));
    /* The final name is a directory: the rename fails, the .part goes. */
    snprintf(path, sizeof path, "%s/taken.png", dir);
    snprintf(part, sizeof part, "%s.part", path);
    mkdir(path, 0700);
    CHECK_RC(ug_image_save(path, &src, UG_MODE_RGB, NULL), UG_EIO);
    CHECK(!exists(part));
    rmdir(path);

    CHECK_RC(ug_image_decode_file(dir, NULL, &back, NULL), UG_EIO);
    snprintf(path, sizeof path, "%s/none.png", dir);
    CHECK_RC(ug_image_decode_file(path, NULL, &back, NULL), UG_EIO);
    CHECK_RC(ug_image_read_info_file(path, &info), UG_EIO);
    CHECK_NULL(back.data);

    /* Headers past the first 64 KiB: two big APP segments before the
     * frame; the info call then reads the whole file. */
    unsigned char *jpg;
    size_t jpg_size;
    if (CHECK_RC(encode(&src, UG_MODE_RGB, UG_FORMAT_JPEG, &jpg, &jpg_size), 0)) {
        size_t pad = 2 * 40000;
        unsigned char *big = calloc(1, jpg_size + pad);
        memcpy(big, jpg, 2);
        for (int s = 0; s < 2; s++) {
            unsigned char *seg = big + 2 + (size_t)s * 40000;
            seg[0] = 0xff;
            seg[1] = 0xe5;
            seg[2] = (unsigned char)(39998 >> 8);
            seg[3] = (unsigned char)(39998 & 0xff);
        }
        memcpy(big + 2 + pad, jpg + 2, jpg_size - 2);
        snprintf(path, sizeof path, "%s/app.jpg", dir);
        FILE *f = fopen(path, "wb");
        fwrite(big, 1, jpg_size + pad, f);
        fclose(f);
        CHECK_RC(ug_image_read_info_file(path, &info), 0);
        CHECK_INT_EQ(info.width, 30);
        CHECK_RC(ug_image_decode_file(path, NULL, &back, NULL), 0);
        ug_image_release(&back);
        unlink(path);
        free(big);
        free(jpg);
    }
    CHECK_INT_EQ(rmdir(dir), 0);
    ug_image_release(&src);
    ug_image_release(&rgba);
}

/* Threads that each encode and decode their own images, compared with
 * what the main thread got for the same inputs. */
typedef struct worker {
    const unsigned char *png, *jpg;
    size_t png_size, jpg_size;
    const ug_image *want_png, *want_jpg;
    int failures;
} worker;

static void *work(void *arg) {
    worker *w = arg;
    for (int r = 0; r < (CHECK_SANITIZED ? 8 : 40); r++) {
        ug_image a, b;
        if (ug_image_decode(w->png, w->png_size, NULL, &a, NULL) != 0 ||
            ug_image_decode(w->jpg, w->jpg_size, NULL, &b, NULL) != 0) {
            w->failures++;
            continue;
        }
        w->failures += !same_pixels(&a, w->want_png) + !same_pixels(&b, w->want_jpg);
        unsigned char *out;
        size_t size;
        if (encode(&a, UG_MODE_RGB, UG_FORMAT_JPEG, &out, &size) != 0)
            w->failures++;
        else
            free(out);
        ug_image_release(&a);
        ug_image_release(&b);
    }
    return NULL;
}

static void test_threads(void) {
    unsigned char *png, *jpg;
    size_t png_size, jpg_size;
    small_files(&png, &png_size, &jpg, &jpg_size);
    ug_image want_png, want_jpg;
    CHECK_RC(ug_image_decode(png, png_size, NULL, &want_png, NULL), 0);
    CHECK_RC(ug_image_decode(jpg, jpg_size, NULL, &want_jpg, NULL), 0);
    enum { N = 4 };
    pthread_t t[N];
    worker w[N];
    for (int i = 0; i < N; i++) {
        w[i] = (worker){png, jpg, png_size, jpg_size, &want_png, &want_jpg, 0};
        CHECK_INT_EQ(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        CHECK_INT_EQ(w[i].failures, 0);
    }
    ug_image_release(&want_png);
    ug_image_release(&want_jpg);
    free(png);
    free(jpg);
}

/* Not a check: how much a TurboJPEG handle per call costs, next to the
 * decode of a small file, printed for the record. */
static void test_handle_cost(void) {
    unsigned char *png, *jpg;
    size_t png_size, jpg_size;
    small_files(&png, &png_size, &jpg, &jpg_size);
    enum { ROUNDS = 2000 };
    struct timespec t0, t1, t2;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < ROUNDS; i++) {
        tjhandle h = tjInitDecompress();
        CHECK(h != NULL);
        tjDestroy(h);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    for (int i = 0; i < ROUNDS; i++) {
        ug_image im;
        CHECK_RC(ug_image_decode(jpg, jpg_size, NULL, &im, NULL), 0);
        ug_image_release(&im);
    }
    clock_gettime(CLOCK_MONOTONIC, &t2);
    double handle = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / ROUNDS;
    double decode = ((double)(t2.tv_sec - t1.tv_sec) * 1e9 + (double)(t2.tv_nsec - t1.tv_nsec)) / ROUNDS;
    printf("    TurboJPEG handle: %.1f us; whole decode of a 23x17 JPEG: %.1f us\n",
           handle / 1e3, decode / 1e3);
    free(png);
    free(jpg);
}

int main(int argc, char **argv) {
    static const check_test tests[] = {
        CHECK_TEST(test_modes),
        CHECK_TEST(test_alloc_release),
        CHECK_TEST(test_formats),
        CHECK_TEST(test_png_round_trip_every_mode),
        CHECK_TEST(test_png_stride_and_levels),
        CHECK_TEST(test_jpeg_round_trip),
        CHECK_TEST(test_every_prefix),
        CHECK_TEST(test_random_flips),
        CHECK_TEST(test_bombs_refused_from_header),
        CHECK_TEST(test_damaged_files),
        CHECK_TEST(test_bad_arguments),
        CHECK_TEST(test_save_and_files),
        CHECK_TEST(test_threads),
        CHECK_TEST(test_handle_cost),
    };
    return check_main(argc, argv, tests, sizeof tests / sizeof *tests);
}
