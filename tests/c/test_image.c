/* test_image.c - kernels and ug_image_filter (ungil/image.h).
 *
 * Small cases are worked out by hand here (and agree with Pillow); the
 * byte-for-byte comparison with Pillow on many images lives in
 * tests/python/test_image_filter_exact.py.  This file checks the rules
 * around the arithmetic: borders copied, images smaller than the kernel
 * copied, alpha filtered like any channel, strides honoured, bad arguments
 * refused; that every code path (portable, SSE2, AVX2: the internal
 * ug__image_filter_isa) gives the portable path's bytes on random images
 * and random kernels; and that a pool of threads gives the same bytes as
 * the calling thread alone (this one also runs under TSan).
 */
#include "check.h"

#include <math.h>

#include "ungil/image.h"
#include "ungil/pool.h"

#include "../../src/core/image_filter_isa.h"

/* Seeded the same every run so failures reproduce. */
static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rng_next(void) { return check_random(&rng_state); }

/* A contiguous image with random samples; free its data with free(). */
static ug_image random_image(int w, int h, int c) {
    ug_image im = {w, h, c, (size_t)w * (size_t)c, NULL};
    size_t n = im.stride * (size_t)h;
    im.data = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++)
        im.data[i] = (unsigned char)(rng_next() >> 56);
    return im;
}

/* An image like `src`, filled with 0xA5 so that unwritten bytes show. */
static ug_image blank_like(const ug_image *src) {
    ug_image im = *src;
    size_t n = im.stride * (size_t)im.height;
    im.data = malloc(n ? n : 1);
    memset(im.data, 0xA5, n);
    return im;
}

static ug_kernel builtin(const char *name) {
    ug_kernel k;
    memset(&k, 0, sizeof k);
    CHECK_RC(ug_kernel_builtin(name, &k), 0);
    return k;
}

static void test_builtin_lookup(void) {
    static const char *const names[] = {
        "BLUR",   "CONTOUR",    "DETAIL",  "EDGE_ENHANCE", "EDGE_ENHANCE_MORE",
        "EMBOSS", "FIND_EDGES", "SHARPEN", "SMOOTH",       "SMOOTH_MORE"};
    for (size_t i = 0; i < 10; i++)
        CHECK_STR_EQ(ug_kernel_builtin_name(i), names[i]);
    CHECK_NULL(ug_kernel_builtin_name(10));

    ug_kernel k = builtin("find_edges");
    CHECK_INT_EQ(k.size, 3);
    CHECK_DBL(k.weights[4], ==, 8);
    CHECK_DBL(k.weights[0], ==, -1);
    CHECK_DBL(k.scale, ==, 1);
    CHECK_DBL(k.offset, ==, 0);
    k = builtin("SMOOTH_MORE");
    CHECK_INT_EQ(k.size, 5);
    CHECK_DBL(k.weights[12], ==, 44);
    CHECK_DBL(k.scale, ==, 100);
    k = builtin("Contour");
    CHECK_DBL(k.offset, ==, 255);
    k = builtin("EMBOSS");
    CHECK_DBL(k.offset, ==, 128);

    CHECK_RC(ug_kernel_builtin("FIND_EDGE", &k), UG_EINVAL);
    CHECK_RC(ug_kernel_builtin("", &k), UG_EINVAL);
    CHECK_RC(ug_kernel_builtin(NULL, &k), UG_EINVAL);
    CHECK_RC(ug_kernel_builtin("BLUR", NULL), UG_EINVAL);
}

static void test_kernel_init(void) {
    float w[9] = {1, 2, 3, 4, 5, 6, 7, 8, -9};
    ug_kernel k;
    CHECK_RC(ug_kernel_init(&k, 3, w, NULL, 7), 0);
    CHECK_INT_EQ(k.size, 3);
    CHECK_DBL(k.scale, ==, 27);
    CHECK_DBL(k.offset, ==, 7);
    CHECK_DBL(k.weights[8], ==, -9);
    CHECK_DBL(k.weights[9], ==, 0);
    float scale = 0;
    CHECK_RC(ug_kernel_init(&k, 3, w, &scale, 0), 0);
    CHECK_DBL(k.scale, ==, 0); /* kept, as Pillow keeps it */
    CHECK_RC(ug_kernel_init(&k, 4, w, NULL, 0), UG_EINVAL);
    CHECK_RC(ug_kernel_init(&k, 3, NULL, NULL, 0), UG_EINVAL);
    CHECK_RC(ug_kernel_init(NULL, 3, w, NULL, 0), UG_EINVAL);
}

/* Filters a 5x5 L image given row by row; returns the result in out. */
static void filter_5x5(const char *name, const unsigned char in[25],
                       unsigned char out[25]) {
    ug_image src = {5, 5, 1, 5, (unsigned char *)in};
    ug_image dst = {5, 5, 1, 5, out};
    ug_kernel k = builtin(name);
    CHECK_RC(ug_image_filter(NULL, &src, &dst, &k), 0);
}

static void check_bytes(const unsigned char *got, const unsigned char *want,
                        size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!CHECK_UINT_EQ(got[i], want[i]))
            printf("    at byte %zu\n", i);
}

/* A flat 20 with a 40 at (x 3, y 1) and a 25 at the centre. */
static const unsigned char bump[25] = {
    20, 20, 20, 20, 20, /**/ 20, 20, 20, 40, 20, /**/ 20, 20, 25, 20, 20,
    20, 20, 20, 20, 20, /**/ 20, 20, 20, 20, 20};

static void test_find_edges_by_hand(void) {
    /* 8 * centre - the 8 neighbours, clamped: (x3,y1) 320-165 = 155,
     * centre 200-180 = 20, everything else in the interior negative. */
    static const unsigned char want[25] = {
        20, 20, 20, 20, 20, /**/ 20, 0, 0, 155, 20, /**/ 20, 0, 20, 0, 20,
        20, 0, 0, 0, 20,    /**/ 20, 20, 20, 20, 20};
    unsigned char out[25];
    filter_5x5("FIND_EDGES", bump, out);
    check_bytes(out, want, 25);
}

static void test_contour_and_smooth_by_hand(void) {
    /* CONTOUR is FIND_EDGES + 255: -5 -> 250, -25 -> 230. */
    static const unsigned char contour[25] = {
        20, 20, 20, 20, 20,    /**/ 20, 250, 230, 255, 20, /**/
        20, 250, 255, 230, 20, /**/ 20, 250, 250, 250, 20, /**/
        20, 20, 20, 20, 20};
    unsigned char out[25];
    filter_5x5("CONTOUR", bump, out);
    check_bytes(out, contour, 25);
    /* SMOOTH is (5 * centre + the 8 neighbours) / 13, + 0.5, truncated:
     * centre (5*25 + 7*20 + 40) / 13 = 23.46 -> 23; (x1,y1) (5*20 + 7*20 +
     * 25) / 13 = 20.38 -> 20. */
    filter_5x5("SMOOTH", bump, out);
    CHECK_UINT_EQ(out[12], 23);
    CHECK_UINT_EQ(out[6], 20);
    /* (x3,y1): (5*40 + 7*20 + 25) / 13 = 28.08 -> 28. */
    CHECK_UINT_EQ(out[8], 28);
}

static void test_emboss_flips_rows_not_columns(void) {
    /* in(x, y) = 10x + 3y^2.  Pillow's EMBOSS puts -1 in the kernel's
     * top-left, which meets the pixel below-left: out = in(x, y) -
     * in(x-1, y+1) + 128 = 10 - 3(2y+1) + 128 = 135 - 6y.  Meeting the
     * pixel above-left would give 129 + 6y instead. */
    unsigned char in[25], out[25];
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 5; x++)
            in[y * 5 + x] = (unsigned char)(10 * x + 3 * y * y);
    filter_5x5("EMBOSS", in, out);
    for (int y = 1; y < 4; y++)
        for (int x = 1; x < 4; x++)
            CHECK_UINT_EQ(out[y * 5 + x], 135 - 6 * y);
}

/* Checks that the outer r rows and columns of dst equal src. */
static void check_border(const ug_image *src, const ug_image *dst, int r) {
    size_t c = (size_t)src->channels;
    for (int y = 0; y < src->height; y++) {
        for (int x = 0; x < src->width; x++) {
            if (x >= r && x < src->width - r && y >= r && y < src->height - r)
                continue;
            const unsigned char *a = src->data + y * src->stride + x * c;
            const unsigned char *b = dst->data + y * dst->stride + x * c;
            if (!CHECK(memcmp(a, b, c) == 0))
                printf("    border pixel x %d y %d, r %d\n", x, y, r);
        }
    }
}

static void test_border_copied(void) {
    for (int c = 1; c <= 4; c++) {
        ug_image src = random_image(13, 11, c);
        ug_image dst = blank_like(&src);
        ug_kernel k = builtin("FIND_EDGES");
        CHECK_RC(ug_image_filter(NULL, &src, &dst, &k), 0);
        check_border(&src, &dst, 1);
        k = builtin("BLUR");
        CHECK_RC(ug_image_filter(NULL, &src, &dst, &k), 0);
        check_border(&src, &dst, 2);
        free(src.data);
        free(dst.data);
    }
}

static void test_small_images_copied(void) {
    /* Narrower or shorter than the kernel: Pillow returns a copy. */
    static const int sizes[][2] = {{1, 1}, {2, 2}, {2, 9}, {9, 2},
                                   {3, 4}, {4, 4}, {4, 9}, {9, 4}};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        int w = sizes[i][0], h = sizes[i][1];
        ug_image src = random_image(w, h, 4);
        ug_image dst = blank_like(&src);
        ug_kernel k = builtin(w < 3 || h < 3 ? "FIND_EDGES" : "SMOOTH_MORE");
        CHECK_RC(ug_image_filter(NULL, &src, &dst, &k), 0);
        if (!CHECK(memcmp(src.data, dst.data, src.stride * (size_t)h) == 0))
            printf("    %dx%d\n", w, h);
        free(src.data);
        free(dst.data);
    }
    /* 3x3 with a 3x3 kernel filters its one centre pixel. */
    unsigned char in[9] = {0, 0, 0, 0, 9, 0, 0, 0, 0}, out[9];
    ug_image src = {3, 3, 1, 3, in}, dst = {3, 3, 1, 3, out};
    ug_kernel k = builtin("FIND_EDGES");
    CHECK_RC(ug_image_filter(NULL, &src, &dst, &k), 0);
    CHECK_UINT_EQ(out[4], 72);
    CHECK_UINT_EQ(out[0], 0);
    /* Empty images are fine and touch nothing. */
    ug_image e = {0, 0, 1, 0, NULL};
    CHECK_RC(ug_image_filter(NULL, &e, &e, &k), 0);
}

static void test_alpha_filtered_like_any_channel(void) {
    ug_image rgba = random_image(17, 12, 4);
    ug_image out = blank_like(&rgba);
    ug_image alpha = {17, 12, 1, 17, malloc(17 * 12)};
    ug_image alpha_out = blank_like(&alpha);
    for (int i = 0; i < 17 * 12; i++)
        alpha.data[i] = rgba.data[i * 4 + 3];
    for (size_t f = 0; ug_kernel_builtin_name(f); f++) {
        ug_kernel k = builtin(ug_kernel_builtin_name(f));
        CHECK_RC(ug_image_filter(NULL, &rgba, &out, &k), 0);
        CHECK_RC(ug_image_filter(NULL, &alpha, &alpha_out, &k), 0);
        int same = 1;
        for (int i = 0; i < 17 * 12; i++)
            same &= out.data[i * 4 + 3] == alpha_out.data[i];
        if (!CHECK(same))
            printf("    %s\n", ug_kernel_builtin_name(f));
    }
    free(rgba.data);
    free(out.data);
    free(alpha.data);
    free(alpha_out.data);
}

static void test_stride_honoured(void) {
    /* 6x6 RGB views inside 10-pixel-wide buffers: the padding is neither
     * read (poisoned with 255 in src) nor written (0xA5 stays). */
    unsigned char src_buf[6 * 30], dst_buf[6 * 30];
    ug_image packed = random_image(6, 6, 3);
    memset(src_buf, 255, sizeof src_buf);
    memset(dst_buf, 0xA5, sizeof dst_buf);
    for (int y = 0; y < 6; y++)
        memcpy(src_buf + y * 30, packed.data + y * 18, 18);
    ug_image src = {6, 6, 3, 30, src_buf}, dst = {6, 6, 3, 30, dst_buf};
    ug_image want = blank_like(&packed);
    ug_kernel k = builtin("SHARPEN");
    CHECK_RC(ug_image_filter(NULL, &packed, &want, &k), 0);
    CHECK_RC(ug_image_filter(NULL, &src, &dst, &k), 0);
    for (int y = 0; y < 6; y++) {
        CHECK(memcmp(dst_buf + y * 30, want.data + y * 18, 18) == 0);
        for (int i = 18; i < 30; i++)
            CHECK_UINT_EQ(dst_buf[y * 30 + i], 0xA5);
    }
    free(packed.data);
    free(want.data);
}

static void test_bad_arguments(void) {
    ug_image src = random_image(8, 8, 3);
    ug_image dst = blank_like(&src);
    ug_kernel k = builtin("BLUR");
    CHECK_RC(ug_image_filter(NULL, NULL, &dst, &k), UG_EINVAL);
    CHECK_RC(ug_image_filter(NULL, &src, NULL, &k), UG_EINVAL);
    CHECK_RC(ug_image_filter(NULL, &src, &dst, NULL), UG_EINVAL);
    CHECK_RC(ug_image_filter(NULL, &src, &src, &k), UG_EINVAL); /* in place */
    ug_image overlap = dst;
    overlap.data = src.data + 5;
    CHECK_RC(ug_image_filter(NULL, &src, &overlap, &k), UG_EINVAL);

    static const int bad_channels[] = {0, 5, 6, -1};
    for (size_t i = 0; i < 4; i++) {
        ug_image s = src, d = dst;
        s.channels = d.channels = bad_channels[i];
        CHECK_RC(ug_image_filter(NULL, &s, &d, &k), UG_EINVAL);
    }
    ug_image s = src;
    s.stride = 23; /* < 8 * 3 */
    CHECK_RC(ug_image_filter(NULL, &s, &dst, &k), UG_EINVAL);
    s = src;
    s.width = -1;
    CHECK_RC(ug_image_filter(NULL, &s, &dst, &k), UG_EINVAL);
    s = src;
    s.data = NULL;
    CHECK_RC(ug_image_filter(NULL, &s, &dst, &k), UG_EINVAL);
    ug_image d = dst;
    d.height = 7;
    CHECK_RC(ug_image_filter(NULL, &src, &d, &k), UG_EINVAL);
    d = dst;
    d.channels = 4;
    d.stride = 32;
    CHECK_RC(ug_image_filter(NULL, &src, &d, &k), UG_EINVAL);
    ug_kernel bad = k;
    bad.size = 4;
    CHECK_RC(ug_image_filter(NULL, &src, &dst, &bad), UG_EINVAL);
    bad.size = 7;
    CHECK_RC(ug_image_filter(NULL, &src, &dst, &bad), UG_EINVAL);
    /* Nothing was written by the refused calls. */
    for (size_t i = 0; i < dst.stride * 8; i++)
        if (!CHECK_UINT_EQ(dst.data[i], 0xA5))
            break;
    free(src.data);
    free(dst.data);
}

static void test_isa_arguments(void) {
    CHECK_INT_EQ(ug__image_filter_isa_supported(UG__ISA_PORTABLE), 1);
    CHECK_INT_EQ(ug__image_filter_isa_supported(-1), 0);
    CHECK_INT_EQ(ug__image_filter_isa_supported(UG__ISA_COUNT), 0);
    int best = ug__image_filter_best_isa();
    CHECK_INT_EQ(ug__image_filter_isa_supported(best), 1);
    for (int isa = best + 1; isa < UG__ISA_COUNT; isa++)
        CHECK_INT_EQ(ug__image_filter_isa_supported(isa), 0);
#if defined(__x86_64__)
    /* SSE2 is part of x86-64. */
    CHECK_INT_EQ(ug__image_filter_isa_supported(UG__ISA_SSE2), 1);
#endif
    ug_image src = random_image(9, 9, 3);
    ug_image dst = blank_like(&src);
    ug_kernel k = builtin("SHARPEN");
    CHECK_RC(ug__image_filter_isa(NULL, &src, &dst, &k, -1), UG_EINVAL);
    CHECK_RC(ug__image_filter_isa(NULL, &src, &dst, &k, UG__ISA_COUNT), UG_EINVAL);
    CHECK_RC(ug__image_filter_isa(NULL, &src, &dst, &k,
                                  UG__ISA_COUNT | UG__FILTER_FLOAT_ONLY), UG_EINVAL);
    CHECK_RC(ug__image_filter_isa(NULL, &src, &dst, &k, -UG__FILTER_FLOAT_ONLY),
             UG_EINVAL);
    for (int isa = 0; isa < UG__ISA_COUNT; isa++) {
        if (!ug__image_filter_isa_supported(isa))
            continue;
        CHECK_RC(ug__image_filter_isa(NULL, &src, &dst, NULL, isa), UG_EINVAL);
        CHECK_RC(ug__image_filter_isa(NULL, &src, &src, &k, isa), UG_EINVAL);
    }
    for (size_t i = 0; i < dst.stride * 9; i++)
        if (!CHECK_UINT_EQ(dst.data[i], 0xA5))
            break;
    free(src.data);
    free(dst.data);
}

/* Filters src on every supported path, with and without the int16
 * shortcut, and checks each against the portable float32 path's bytes. */
static void check_paths_equal(const ug_image *src, const ug_kernel *k,
                              const char *what) {
    ug_image want = blank_like(src), got = blank_like(src);
    size_t n = src->stride * (size_t)src->height;
    CHECK_RC(ug__image_filter_isa(NULL, src, &want, k,
                                  UG__ISA_PORTABLE | UG__FILTER_FLOAT_ONLY), 0);
    for (int isa = UG__ISA_PORTABLE; isa < UG__ISA_COUNT; isa++) {
        if (!ug__image_filter_isa_supported(isa))
            continue;
        for (int flags = 0; flags <= UG__FILTER_FLOAT_ONLY;
             flags += UG__FILTER_FLOAT_ONLY) {
            memset(got.data, 0xA5, n);
            CHECK_RC(ug__image_filter_isa(NULL, src, &got, k, isa | flags), 0);
            if (!CHECK(memcmp(want.data, got.data, n) == 0))
                printf("    path %#x, %s, %dx%d, %d channels\n", isa | flags,
                       what, src->width, src->height, src->channels);
        }
    }
    free(want.data);
    free(got.data);
}

static void test_paths_equal_on_builtins(void) {
    /* Widths around the 16-sample SIMD step and past one column tile. */
    static const int sizes[][2] = {{3, 3},  {5, 5},  {6, 4},  {7, 9},
                                   {9, 6},  {10, 5}, {19, 8}, {33, 7},
                                   {4099, 6}, {1367, 5}};
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        for (int c = 1; c <= 4; c++) {
            ug_image src = random_image(sizes[si][0], sizes[si][1], c);
            for (size_t f = 0; ug_kernel_builtin_name(f); f++) {
                ug_kernel k = builtin(ug_kernel_builtin_name(f));
                check_paths_equal(&src, &k, ug_kernel_builtin_name(f));
            }
            free(src.data);
        }
    }
}

/* A random float in [-1, 1). */
static float unit_random(void) {
    return (float)((double)(rng_next() >> 11) / 9007199254740992.0 * 2 - 1);
}

static void test_paths_equal_on_random_kernels(void) {
    for (int trial = 0; trial < 200; trial++) {
        int size = trial % 2 ? 3 : 5;
        float w[25];
        for (int i = 0; i < size * size; i++) {
            switch (rng_next() % 4) {
            case 0: w[i] = 0; break;
            case 1: w[i] = (float)((int)(rng_next() % 19) - 9); break;
            default: w[i] = unit_random() * powf(10, (float)(rng_next() % 7) - 3);
            }
        }
        /* Powers of two and integer offsets let the int16 loops run. */
        static const float scales[] = {1, 3, 0.37f, -4, 1e-6f, 13, 0, 2, 16, 0.25f};
        float scale = scales[rng_next() % 10];
        float offset = unit_random() * 300;
        if (rng_next() % 2)
            offset = roundf(offset);
        ug_kernel k;
        CHECK_RC(ug_kernel_init(&k, size, w, rng_next() % 3 ? &scale : NULL,
                                offset), 0);
        int width = size + (int)(rng_next() % 60);
        int height = size + (int)(rng_next() % 9);
        ug_image src = random_image(width, height, 1 + (int)(rng_next() % 4));
        char what[32];
        snprintf(what, sizeof what, "random kernel %d", trial);
        check_paths_equal(&src, &k, what);
        free(src.data);
    }
}

static void test_parallel_equals_serial(void) {
    ug_pool_options opts;
    ug_pool_options_init(&opts);
    opts.workers = 2;
    ug_pool *pool = NULL;
    if (!CHECK_RC(ug_pool_new(&opts, &pool), 0))
        return;
    int w = CHECK_SANITIZED ? 301 : 1031, h = CHECK_SANITIZED ? 157 : 517;
    static const int channels[] = {1, 2, 3, 4};
    for (size_t ci = 0; ci < 4; ci++) {
        ug_image src = random_image(w, h, channels[ci]);
        ug_image serial = blank_like(&src), pooled = blank_like(&src);
        for (size_t f = 0; ug_kernel_builtin_name(f); f++) {
            ug_kernel k = builtin(ug_kernel_builtin_name(f));
            memset(pooled.data, 0xA5, pooled.stride * (size_t)h);
            CHECK_RC(ug_image_filter(NULL, &src, &serial, &k), 0);
            CHECK_RC(ug_image_filter(pool, &src, &pooled, &k), 0);
            if (!CHECK(memcmp(serial.data, pooled.data,
                              serial.stride * (size_t)h) == 0))
                printf("    %s, %d channels\n", ug_kernel_builtin_name(f),
                       channels[ci]);
        }
        free(src.data);
        free(serial.data);
        free(pooled.data);
    }
    ug_pool_free(pool);
}

int main(int argc, char **argv) {
    static const check_test tests[] = {
        CHECK_TEST(test_builtin_lookup),
        CHECK_TEST(test_kernel_init),
        CHECK_TEST(test_find_edges_by_hand),
        CHECK_TEST(test_contour_and_smooth_by_hand),
        CHECK_TEST(test_emboss_flips_rows_not_columns),
        CHECK_TEST(test_border_copied),
        CHECK_TEST(test_small_images_copied),
        CHECK_TEST(test_alpha_filtered_like_any_channel),
        CHECK_TEST(test_stride_honoured),
        CHECK_TEST(test_bad_arguments),
        CHECK_TEST(test_isa_arguments),
        CHECK_TEST(test_paths_equal_on_builtins),
        CHECK_TEST(test_paths_equal_on_random_kernels),
        CHECK_TEST(test_parallel_equals_serial),
    };
    return check_main(argc, argv, tests, sizeof tests / sizeof *tests);
}
