/* test_image_batch.c - ug_image_batch_run (ungil/image_batch.h).
 *
 * Inputs are written by the codec itself into a fresh directory under
 * /tmp: smooth pictures as PNG and JPEG, plus broken files (not an image,
 * truncated, missing, a directory).  Checks: every good file's output
 * holds exactly decode -> ug_image_filter -> encode of its input (PNG is
 * lossless, so pixels compare exactly), broken files get their error and
 * message without stopping the batch, names are decided in input order
 * (collisions "a (1).png"), a forced format changes the extension, a
 * symbolic link planted under an output name is replaced and never
 * followed, no ".part" file is left, cancelling skips unstarted files, and
 * many files on a pool (the TSan run) give the same bytes as one thread.
 */
#include "check.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "ungil/image.h"
#include "ungil/image_batch.h"
#include "ungil/pool.h"

enum { W = 37, H = 29 };

/* A smooth RGB picture: gradients, a square, a little structured noise. */
static void paint(ug_image *im, int seed) {
    for (int y = 0; y < im->height; y++)
        for (int x = 0; x < im->width; x++) {
            unsigned char *p = im->data + (size_t)y * im->stride +
                               (size_t)x * (size_t)im->channels;
            int inside = x > 8 && x < 20 && y > 5 && y < 18;
            for (int c = 0; c < im->channels; c++)
                p[c] = (unsigned char)(inside ? 200 - 40 * c
                                              : (x * 7 + y * 3 * (c + 1) +
                                                 seed * 31 + ((x * y) % 5)));
        }
}

/* Writes `size` bytes to dir/name. */
static void write_file(const char *dir, const char *name, const void *data,
                       size_t size) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!CHECK_NOT_NULL(f))
        return;
    CHECK_UINT_EQ(fwrite(data, 1, size, f), size);
    fclose(f);
}

/* Encodes a painted picture of `mode` as `format` into dir/name; returns
 * its encoded bytes (free them) and their size. */
static unsigned char *make_picture(const char *dir, const char *name,
                                   ug_image_mode mode, ug_image_format format,
                                   int seed, size_t *size) {
    ug_image im = {0};
    CHECK_RC(ug_image_alloc(&im, W, H, ug_image_mode_channels(mode)), 0);
    paint(&im, seed);
    ug_encode_options eo;
    ug_encode_options_init(&eo);
    eo.format = format;
    unsigned char *out = NULL;
    CHECK_RC(ug_image_encode(&im, mode, &eo, &out, size), 0);
    ug_image_release(&im);
    if (out)
        write_file(dir, name, out, *size);
    return out;
}

static bool make_tmpdir(char dir[64]) {
    snprintf(dir, 64, "/tmp/ungil-test-batch-XXXXXX");
    return CHECK_NOT_NULL(mkdtemp(dir));
}

/* Removes `dir` and the files, links and empty directories in it. */
static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!CHECK_NOT_NULL(d))
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (e->d_type == DT_DIR) {
            char sub[512];
            snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
            remove_tree(sub);
        } else {
            CHECK_INT_EQ(unlinkat(dirfd(d), e->d_name, 0), 0);
        }
    }
    closedir(d);
    CHECK_INT_EQ(rmdir(dir), 0);
}

/* Whether dir holds an entry whose name ends in ".part". */
static bool has_part_file(const char *dir) {
    DIR *d = opendir(dir);
    bool found = false;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        found = found || (n > 5 && !strcmp(e->d_name + n - 5, ".part"));
    }
    if (d)
        closedir(d);
    return found;
}

/* Decodes dir/name into *out (release it). */
static bool decode_at(const char *dir, const char *name, ug_image *out,
                      ug_image_info *info) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return CHECK_RC(ug_image_decode_file(path, NULL, out, info), 0);
}

static bool same_pixels(const ug_image *a, const ug_image *b) {
    if (a->width != b->width || a->height != b->height ||
        a->channels != b->channels)
        return false;
    size_t row = (size_t)a->width * (size_t)a->channels;
    for (int y = 0; y < a->height; y++)
        if (memcmp(a->data + (size_t)y * a->stride,
                   b->data + (size_t)y * b->stride, row))
            return false;
    return true;
}

/* The expected output for a lossless pipeline: the decoded input,
 * filtered with `k` on the calling thread. */
static bool expected_pixels(const char *dir, const char *name,
                            const ug_kernel *k, ug_image *out) {
    ug_image in = {0};
    ug_image_info info;
    if (!decode_at(dir, name, &in, &info))
        return false;
    CHECK_RC(ug_image_alloc(out, in.width, in.height, in.channels), 0);
    CHECK_RC(ug_image_filter(NULL, &in, out, k), 0);
    ug_image_release(&in);
    return true;
}

static ug_kernel builtin(const char *name) {
    ug_kernel k;
    CHECK_RC(ug_kernel_builtin(name, &k), 0);
    return k;
}

/* A result collector for on_done. */
struct seen {
    size_t calls, failed;
    bool index_seen[64];
};

static void count_done(void *ctx, const ug_image_batch_result *r) {
    struct seen *s = ctx;
    s->calls++;
    s->failed += r->error != 0;
    if (r->index < 64)
        s->index_seen[r->index] = true;
}

static void test_mixed_batch(void) {
    char in[64], out[64];
    if (!make_tmpdir(in) || !make_tmpdir(out))
        return;
    size_t size;
    free(make_picture(in, "a.png", UG_MODE_RGB, UG_FORMAT_PNG, 1, &size));
    free(make_picture(in, "grey.png", UG_MODE_L, UG_FORMAT_PNG, 2, &size));
    unsigned char *png = make_picture(in, "alpha.png", UG_MODE_RGBA,
                                      UG_FORMAT_PNG, 3, &size);
    write_file(in, "cut.png", png, size / 2);
    free(png);
    free(make_picture(in, "photo.jpg", UG_MODE_RGB, UG_FORMAT_JPEG, 4, &size));
    write_file(in, "text.jpg", "not a picture", 13);
    char sub[128];
    snprintf(sub, sizeof sub, "%s/folder.png", in);
    CHECK_INT_EQ(mkdir(sub, 0755), 0);

    char paths[9][160];
    const char *names[9] = {"a.png",   "grey.png", "alpha.png",
                            "cut.png", "text.jpg", "missing.png",
                            "folder.png", "photo.jpg", "a.png"};
    const char *inputs[9];
    for (int i = 0; i < 9; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/%s", in, names[i]);
        inputs[i] = paths[i];
    }
    ug_pool *pool = NULL;
    CHECK_RC(ug_pool_new(NULL, &pool), 0);
    ug_kernel k = builtin("FIND_EDGES");
    struct seen seen = {0};
    ug_image_batch_options o;
    ug_image_batch_options_init(&o);
    o.out_dir = out;
    o.kernel = &k;
    o.threads = 3;
    o.on_done = count_done;
    o.ctx = &seen;
    ug_image_batch_result *r = NULL;
    CHECK_RC(ug_image_batch_run(pool, &o, inputs, 9, &r), 0);
    ug_pool_free(pool);
    if (!CHECK_NOT_NULL(r))
        return;
    CHECK_UINT_EQ(seen.calls, 9);
    CHECK_UINT_EQ(seen.failed, 4);
    for (size_t i = 0; i < 9; i++) {
        CHECK(seen.index_seen[i]);
        CHECK_UINT_EQ(r[i].index, i);
        CHECK_PTR_EQ(r[i].input, inputs[i]);
    }
    const char *ok_names[] = {"a.png", "grey.png", "alpha.png", NULL, NULL,
                              NULL,    NULL,       "photo.jpg", "a (1).png"};
    for (int i = 0; i < 9; i++) {
        if (ok_names[i]) {
            CHECK_RC(r[i].error, 0);
            CHECK_STR_EQ(r[i].output, ok_names[i]);
            CHECK_STR_EQ(r[i].message, "");
        } else {
            CHECK_STR_EQ(r[i].output, "");
        }
    }
    CHECK_RC(r[3].error, UG_ECORRUPT);
    CHECK_STR_EQ(r[3].message, "image file is truncated or corrupt");
    CHECK_RC(r[4].error, UG_EFORMAT);
    CHECK_STR_EQ(r[4].message, "cannot identify image file");
    CHECK_RC(r[5].error, UG_EIO);
    CHECK_STR_EQ(r[5].message, "No such file or directory");
    CHECK_RC(r[6].error, UG_EIO);
    CHECK_STR_EQ(r[6].message, "Is a directory");

    /* PNG outputs hold exactly the filtered input. */
    const char *lossless[] = {"a.png", "grey.png", "alpha.png"};
    for (int i = 0; i < 3; i++) {
        ug_image want = {0}, got = {0};
        ug_image_info info;
        if (expected_pixels(in, lossless[i], &k, &want) &&
            decode_at(out, lossless[i], &got, &info))
            CHECK(same_pixels(&want, &got));
        ug_image_release(&want);
        ug_image_release(&got);
    }
    /* The duplicate got the same bytes under the next name. */
    ug_image a = {0}, a1 = {0};
    ug_image_info info;
    if (decode_at(out, "a.png", &a, &info) && decode_at(out, "a (1).png", &a1, &info))
        CHECK(same_pixels(&a, &a1));
    ug_image_release(&a);
    ug_image_release(&a1);
    /* The JPEG output is a JPEG of the right size. */
    ug_image j = {0};
    if (decode_at(out, "photo.jpg", &j, &info)) {
        CHECK_INT_EQ(info.format, UG_FORMAT_JPEG);
        CHECK_INT_EQ(j.width, W);
        CHECK_INT_EQ(j.height, H);
    }
    ug_image_release(&j);
    CHECK(!has_part_file(out));
    ug_image_batch_results_free(r);
    remove_tree(in);
    remove_tree(out);
}

static void test_forced_format_and_names(void) {
    char in[64], out[64];
    if (!make_tmpdir(in) || !make_tmpdir(out))
        return;
    size_t size;
    free(make_picture(in, "x.jpg", UG_MODE_RGB, UG_FORMAT_JPEG, 5, &size));
    free(make_picture(in, "x.png", UG_MODE_RGB, UG_FORMAT_PNG, 6, &size));
    free(make_picture(in, ".hidden", UG_MODE_L, UG_FORMAT_PNG, 7, &size));
    char p[3][160];
    snprintf(p[0], sizeof p[0], "%s/x.jpg", in);
    snprintf(p[1], sizeof p[1], "%s/x.png", in);
    snprintf(p[2], sizeof p[2], "%s/.hidden", in);
    const char *inputs[] = {p[0], p[1], p[2]};
    ug_image_batch_options o;
    ug_image_batch_options_init(&o);
    o.out_dir = out;
    o.format = UG_FORMAT_PNG;
    ug_image_batch_result *r = NULL;
    CHECK_RC(ug_image_batch_run(NULL, &o, inputs, 3, &r), 0);
    if (!CHECK_NOT_NULL(r))
        return;
    CHECK_STR_EQ(r[0].output, "x.png");
    CHECK_STR_EQ(r[1].output, "x (1).png");
    CHECK_STR_EQ(r[2].output, "hidden.png");
    for (int i = 0; i < 3; i++) {
        ug_image im = {0};
        ug_image_info info;
        if (decode_at(out, r[i].output, &im, &info))
            CHECK_INT_EQ(info.format, UG_FORMAT_PNG);
        ug_image_release(&im);
    }
    /* Without a kernel a PNG round trip is lossless. */
    ug_image src = {0}, dst = {0};
    ug_image_info info;
    if (decode_at(in, "x.png", &src, &info) &&
        decode_at(out, "x (1).png", &dst, &info))
        CHECK(same_pixels(&src, &dst));
    ug_image_release(&src);
    ug_image_release(&dst);
    ug_image_batch_results_free(r);
    remove_tree(in);
    remove_tree(out);
}

static void test_refusals(void) {
    char in[64], out[64];
    if (!make_tmpdir(in) || !make_tmpdir(out))
        return;
    size_t size;
    free(make_picture(in, "rgba.png", UG_MODE_RGBA, UG_FORMAT_PNG, 8, &size));
    /* A palette image: Pillow refuses to filter it, and so do we. */
    ug_image pal = {0};
    CHECK_RC(ug_image_alloc(&pal, 4, 4, 1), 0);
    memset(pal.data, 1, 16);
    unsigned char entries[2][4] = {{0, 0, 0, 255}, {255, 0, 0, 255}};
    ug_encode_options eo;
    ug_encode_options_init(&eo);
    eo.format = UG_FORMAT_PNG;
    eo.palette = (const unsigned char(*)[4])entries;
    eo.palette_size = 2;
    unsigned char *buf = NULL;
    CHECK_RC(ug_image_encode(&pal, UG_MODE_P, &eo, &buf, &size), 0);
    write_file(in, "pal.png", buf, size);
    free(buf);
    ug_image_release(&pal);

    char p[2][160];
    snprintf(p[0], sizeof p[0], "%s/rgba.png", in);
    snprintf(p[1], sizeof p[1], "%s/pal.png", in);
    const char *inputs[] = {p[0], p[1]};
    ug_kernel k = builtin("BLUR");
    ug_image_batch_options o;
    ug_image_batch_options_init(&o);
    o.out_dir = out;
    o.kernel = &k;
    o.format = UG_FORMAT_JPEG;
    ug_image_batch_result *r = NULL;
    CHECK_RC(ug_image_batch_run(NULL, &o, inputs, 2, &r), 0);
    if (CHECK_NOT_NULL(r)) {
        CHECK_RC(r[0].error, UG_EMODE);
        CHECK_STR_EQ(r[0].message, "cannot write mode RGBA as JPEG");
        CHECK_RC(r[1].error, UG_EMODE);
        CHECK_STR_EQ(r[1].message, "cannot filter palette images");
    }
    ug_image_batch_results_free(r);

    /* A pixel limit below the picture's size. */
    o.format = UG_FORMAT_AUTO;
    o.max_pixels = 100;
    CHECK_RC(ug_image_batch_run(NULL, &o, inputs, 1, &r), 0);
    if (CHECK_NOT_NULL(r)) {
        CHECK_RC(r[0].error, UG_EBOMB);
        CHECK_CONTAINS(r[0].message, "1073 pixels");
    }
    ug_image_batch_results_free(r);

    /* Bad arguments and a missing directory fail the whole call. */
    o.max_pixels = 0;
    o.quality = 0;
    CHECK_RC(ug_image_batch_run(NULL, &o, inputs, 2, &r), UG_EINVAL);
    CHECK_NULL(r);
    o.quality = 75;
    CHECK_RC(ug_image_batch_run(NULL, &o, NULL, 2, &r), UG_EINVAL);
    CHECK_RC(ug_image_batch_run(NULL, &o, inputs, 2, NULL), UG_EINVAL);
    char missing[128];
    snprintf(missing, sizeof missing, "%s/nope", out);
    o.out_dir = missing;
    CHECK_RC(ug_image_batch_run(NULL, &o, inputs, 2, &r), UG_EIO);
    CHECK_NULL(r);
    /* No inputs: nothing to do. */
    o.out_dir = out;
    CHECK_RC(ug_image_batch_run(NULL, &o, inputs, 0, &r), 0);
    ug_image_batch_results_free(r);
    remove_tree(in);
    remove_tree(out);
}

static void test_link_in_the_way(void) {
    char in[64], out[64];
    if (!make_tmpdir(in) || !make_tmpdir(out))
        return;
    size_t size;
    free(make_picture(in, "v.png", UG_MODE_RGB, UG_FORMAT_PNG, 9, &size));
    /* A link named like the output, pointing at a file outside out_dir. */
    char victim[128], link_path[128];
    snprintf(victim, sizeof victim, "%s/victim.txt", in);
    write_file(in, "victim.txt", "keep me", 7);
    snprintf(link_path, sizeof link_path, "%s/v.png", out);
    CHECK_INT_EQ(symlink(victim, link_path), 0);
    char part_link[128];
    snprintf(part_link, sizeof part_link, "%s/v.png.part", out);
    CHECK_INT_EQ(symlink(victim, part_link), 0);

    char p[160];
    snprintf(p, sizeof p, "%s/v.png", in);
    const char *inputs[] = {p};
    ug_image_batch_options o;
    ug_image_batch_options_init(&o);
    o.out_dir = out;
    ug_image_batch_result *r = NULL;
    CHECK_RC(ug_image_batch_run(NULL, &o, inputs, 1, &r), 0);
    if (CHECK_NOT_NULL(r))
        CHECK_RC(r[0].error, 0);
    ug_image_batch_results_free(r);
    struct stat st;
    CHECK_INT_EQ(lstat(link_path, &st), 0);
    CHECK(S_ISREG(st.st_mode));
    char buf[16] = {0};
    FILE *f = fopen(victim, "rb");
    if (CHECK_NOT_NULL(f)) {
        CHECK_UINT_EQ(fread(buf, 1, sizeof buf, f), 7);
        fclose(f);
    }
    CHECK_STR_EQ(buf, "keep me");
    CHECK(!has_part_file(out));
    remove_tree(in);
    remove_tree(out);
}

static void test_cancel(void) {
    char in[64], out[64];
    if (!make_tmpdir(in) || !make_tmpdir(out))
        return;
    size_t size;
    free(make_picture(in, "c.png", UG_MODE_RGB, UG_FORMAT_PNG, 10, &size));
    char p[160];
    snprintf(p, sizeof p, "%s/c.png", in);
    const char *inputs[] = {p, p, p, p};
    ug_pool *pool = NULL;
    CHECK_RC(ug_pool_new(NULL, &pool), 0);
    int cancel = 1;
    struct seen seen = {0};
    ug_image_batch_options o;
    ug_image_batch_options_init(&o);
    o.out_dir = out;
    o.cancel = &cancel;
    o.on_done = count_done;
    o.ctx = &seen;
    ug_image_batch_result *r = NULL;
    CHECK_RC(ug_image_batch_run(pool, &o, inputs, 4, &r), UG_ECANCELED);
    ug_pool_free(pool);
    CHECK_UINT_EQ(seen.calls, 4);
    if (CHECK_NOT_NULL(r))
        for (int i = 0; i < 4; i++) {
            CHECK_RC(r[i].error, UG_ECANCELED);
            CHECK_STR_EQ(r[i].message, "cancelled");
        }
    ug_image_batch_results_free(r);
    remove_tree(in);
    remove_tree(out);
}

/* Many files on a busy pool: the same bytes as the calling thread alone,
 * and a batch run from a worker of its own pool finishes too. */
struct nested {
    ug_pool *pool;
    const ug_image_batch_options *o;
    const char *const *inputs;
    size_t n;
    ug_image_batch_result *r;
    int rc;
};

static int nested_run(void *arg) {
    struct nested *t = arg;
    t->rc = ug_image_batch_run(t->pool, t->o, t->inputs, t->n, &t->r);
    return 0;
}

static void test_many_files_on_a_pool(void) {
    enum { N = CHECK_SANITIZED ? 12 : 40 };
    char in[64], serial[64], parallel[64], nested_dir[64];
    if (!make_tmpdir(in) || !make_tmpdir(serial) || !make_tmpdir(parallel) ||
        !make_tmpdir(nested_dir))
        return;
    static char paths[N][160];
    const char *inputs[N];
    for (int i = 0; i < N; i++) {
        char name[32];
        size_t size;
        snprintf(name, sizeof name, "f%02d.%s", i, i % 3 ? "png" : "jpg");
        free(make_picture(in, name, i % 2 ? UG_MODE_RGB : UG_MODE_L,
                          i % 3 ? UG_FORMAT_PNG : UG_FORMAT_JPEG, i, &size));
        snprintf(paths[i], sizeof paths[i], "%s/%s", in, name);
        inputs[i] = paths[i];
    }
    ug_kernel k = builtin("SMOOTH_MORE");
    ug_image_batch_options o;
    ug_image_batch_options_init(&o);
    o.kernel = &k;
    o.out_dir = serial;
    ug_image_batch_result *r1 = NULL, *r2 = NULL;
    CHECK_RC(ug_image_batch_run(NULL, &o, inputs, N, &r1), 0);

    ug_pool_options po;
    ug_pool_options_init(&po);
    po.workers = 3;
    ug_pool *pool = NULL;
    CHECK_RC(ug_pool_new(&po, &pool), 0);
    o.out_dir = parallel;
    o.threads = 8;
    CHECK_RC(ug_image_batch_run(pool, &o, inputs, N, &r2), 0);

    struct nested t = {.pool = pool, .o = &o, .inputs = inputs, .n = N};
    ug_image_batch_options o2 = o;
    o2.out_dir = nested_dir;
    t.o = &o2;
    ug_future *f = NULL;
    CHECK_RC(ug_pool_submit(pool, &(ug_task){.fn = nested_run, .arg = &t}, &f),
             0);
    CHECK_RC(ug_future_wait(f, -1), 0);
    ug_future_release(f);
    ug_pool_free(pool);
    CHECK_RC(t.rc, 0);

    for (int i = 0; i < N && r1 && r2 && t.r; i++) {
        CHECK_RC(r1[i].error, 0);
        CHECK_RC(r2[i].error, 0);
        CHECK_STR_EQ(r1[i].output, r2[i].output);
        ug_image a = {0}, b = {0}, c = {0};
        ug_image_info info;
        if (decode_at(serial, r1[i].output, &a, &info) &&
            decode_at(parallel, r2[i].output, &b, &info) &&
            decode_at(nested_dir, t.r[i].output, &c, &info)) {
            CHECK(same_pixels(&a, &b));
            CHECK(same_pixels(&a, &c));
        }
        ug_image_release(&a);
        ug_image_release(&b);
        ug_image_release(&c);
    }
    ug_image_batch_results_free(r1);
    ug_image_batch_results_free(r2);
    ug_image_batch_results_free(t.r);
    remove_tree(in);
    remove_tree(serial);
    remove_tree(parallel);
    remove_tree(nested_dir);
}

int main(int argc, char **argv) {
    static const check_test tests[] = {
        CHECK_TEST(test_mixed_batch),
        CHECK_TEST(test_forced_format_and_names),
        CHECK_TEST(test_refusals),
        CHECK_TEST(test_link_in_the_way),
        CHECK_TEST(test_cancel),
        CHECK_TEST(test_many_files_on_a_pool),
    };
    return check_main(argc, argv, tests, sizeof tests / sizeof *tests);
}
