/* test_pictures.c - the pictures pipeline (ungil/pictures.h) end to end.
 *
 * A tiny HTTP/1.0-style server in this program (one thread, one request
 * per connection, an optional delay before each response) serves pictures
 * that the test encodes with the codec, plus broken ones.  The pipeline's
 * files are decoded again and compared with ug_image_filter applied to the
 * decoded bodies, so the test checks the plumbing (every picture, right
 * name, right pixels, right errors, no stray files) with the sanitizers
 * watching the engine thread and the workers at once.
 */
#include "check.h"

#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "ungil/image.h"
#include "ungil/pictures.h"
#include "ungil/trace.h"

/* ---- the server ------------------------------------------------------- */

struct file {
    char path[64];
    unsigned char *body;
    size_t size;
};

struct server {
    int fd;
    unsigned port;
    unsigned delay_ms;
    atomic_int stop;
    pthread_t thread;
    struct file files[64];
    size_t nfiles;
};

static void send_all(int fd, const void *data, size_t n) {
    const char *p = data;
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0)
            return;
        p += k;
        n -= (size_t)k;
    }
}

static void serve(struct server *s, int fd) {
    char req[4096] = "";
    size_t have = 0;
    while (have < sizeof req - 1 && !strstr(req, "\r\n\r\n")) {
        ssize_t k = recv(fd, req + have, sizeof req - 1 - have, 0);
        if (k <= 0)
            return;
        have += (size_t)k;
        req[have] = '\0';
    }
    char path[64] = "";
    sscanf(req, "GET %63s", path);
    for (unsigned waited = 0; waited < s->delay_ms && !atomic_load(&s->stop);
         waited += 10) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    const struct file *f = NULL;
    for (size_t i = 0; i < s->nfiles; i++)
        if (!strcmp(s->files[i].path, path))
            f = &s->files[i];
    char head[128];
    int n = f ? snprintf(head, sizeof head,
                         "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
                         "Connection: close\r\n\r\n", f->size)
              : snprintf(head, sizeof head,
                         "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                         "Connection: close\r\n\r\n");
    send_all(fd, head, (size_t)n);
    if (f)
        send_all(fd, f->body, f->size);
}

static void *accept_loop(void *arg) {
    struct server *s = arg;
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, 20) <= 0)
            continue;
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            continue;
        serve(s, c);
        close(c);
    }
    return NULL;
}

static struct server *server_start(unsigned delay_ms) {
    struct server *s = calloc(1, sizeof *s);
    s->delay_ms = delay_ms;
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (!CHECK_INT_EQ(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0) ||
        !CHECK_INT_EQ(listen(s->fd, 256), 0) ||
        !CHECK_INT_EQ(getsockname(s->fd, (struct sockaddr *)&a, &len), 0)) {
        close(s->fd);
        free(s);
        return NULL;
    }
    s->port = ntohs(a.sin_port);
    return s;
}

static void server_run(struct server *s) {
    pthread_create(&s->thread, NULL, accept_loop, s);
}

static void server_stop(struct server *s) {
    atomic_store(&s->stop, 1);
    pthread_join(s->thread, NULL);
    close(s->fd);
    for (size_t i = 0; i < s->nfiles; i++)
        free(s->files[i].body);
    free(s);
}

static void serve_file(struct server *s, const char *path,
                       const unsigned char *body, size_t size) {
    struct file *f = &s->files[s->nfiles++];
    snprintf(f->path, sizeof f->path, "%s", path);
    f->body = malloc(size ? size : 1);
    memcpy(f->body, body, size);
    f->size = size;
}

/* ---- pictures ----------------------------------------------------------- */

/* Encodes a w x h gradient-with-noise picture of `mode` as `format`. */
static void make_picture(int w, int h, ug_image_mode mode,
                         ug_image_format format, uint64_t seed,
                         unsigned char **out, size_t *size) {
    ug_image img;
    int ch = ug_image_mode_channels(mode);
    CHECK_RC(ug_image_alloc(&img, w, h, ch), 0);
    uint64_t x = seed | 1;
    for (int y = 0; y < h; y++)
        for (int i = 0; i < w * ch; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            img.data[(size_t)y * img.stride + (size_t)i] =
                (unsigned char)((i * 3 + y * 5) % 256 / 2 + x % 64);
        }
    ug_encode_options eo;
    ug_encode_options_init(&eo);
    eo.format = format;
    CHECK_RC(ug_image_encode(&img, mode, &eo, out, size), 0);
    ug_image_release(&img);
}

/* Does the file `dir`/`name` hold the filtered pixels of `body`? */
static bool check_output(const char *dir, const char *name,
                         const unsigned char *body, size_t size) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ug_image src = {0}, want = {0}, got = {0};
    ug_image_info info;
    bool ok = CHECK_RC(ug_image_decode(body, size, NULL, &src, &info), 0);
    ok = ok && CHECK_RC(ug_image_decode_file(path, NULL, &got, NULL), 0);
    ok = ok && CHECK_RC(ug_image_alloc(&want, src.width, src.height,
                                       src.channels), 0);
    ug_kernel k;
    ug_kernel_builtin("FIND_EDGES", &k);
    ok = ok && CHECK_RC(ug_image_filter(NULL, &src, &want, &k), 0);
    ok = ok && CHECK_INT_EQ(got.width, want.width) &&
         CHECK_INT_EQ(got.height, want.height) &&
         CHECK_INT_EQ(got.channels, want.channels);
    for (int y = 0; ok && y < want.height; y++)
        ok = CHECK(!memcmp(got.data + (size_t)y * got.stride,
                           want.data + (size_t)y * want.stride,
                           (size_t)want.width * (size_t)want.channels));
    ug_image_release(&src);
    ug_image_release(&want);
    ug_image_release(&got);
    return ok;
}

static bool make_tmpdir(char dir[64]) {
    snprintf(dir, 64, "/tmp/ungil-test-pictures-XXXXXX");
    return CHECK_NOT_NULL(mkdtemp(dir));
}

/* Removes `dir` and its files; counts the names ending in ".part". */
static size_t remove_tmpdir(const char *dir, size_t *files) {
    size_t parts = 0;
    *files = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        size_t n = strlen(e->d_name);
        parts += n > 5 && !strcmp(e->d_name + n - 5, ".part");
        (*files)++;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
    return parts;
}

static void url_of(const struct server *s, const char *path, char out[128]) {
    snprintf(out, 128, "http://127.0.0.1:%u%s", s->port, path);
}

/* ---- tests -------------------------------------------------------------- */

static void test_new_errors(void) {
    ug_pictures_options o;
    ug_pictures_options_init(&o);
    ug_pictures *job = NULL;
    CHECK_RC(ug_pictures_new(&o, &job), UG_EINVAL); /* no dest */
    o.dest_dir = "/nonexistent/ungil";
    CHECK_RC(ug_pictures_new(&o, &job), UG_EINVAL);
    o.dest_dir = "/tmp";
    o.kernel.size = 4;
    CHECK_RC(ug_pictures_new(&o, &job), UG_EINVAL);
    ug_kernel_builtin("BLUR", &o.kernel);
    o.jpeg_quality = 0;
    CHECK_RC(ug_pictures_new(&o, &job), UG_EINVAL);
    CHECK_NULL(job);
    CHECK_STR_EQ(ug_pictures_stage_name(UG_STAGE_DECODE), "decode");
    CHECK_NULL(ug_pictures_stage_name(UG_STAGE_NONE));
}

enum { N_GOOD = 30 };

static void test_pipeline(void) {
    struct server *srv = server_start(0);
    if (!srv)
        return;
    static const ug_image_mode modes[] = {UG_MODE_RGB, UG_MODE_L, UG_MODE_RGBA};
    unsigned char *bodies[N_GOOD];
    size_t sizes[N_GOOD];
    char path[64];
    for (int i = 0; i < N_GOOD; i++) {
        ug_image_format fmt = i % 3 == 1 ? UG_FORMAT_JPEG : UG_FORMAT_PNG;
        make_picture(30 + i, 20 + i, modes[i % 3], fmt, (uint64_t)i + 1,
                     &bodies[i], &sizes[i]);
        snprintf(path, sizeof path, "/p/%02d.%s", i, i % 3 == 1 ? "jpg" : "png");
        serve_file(srv, path, bodies[i], sizes[i]);
    }
    serve_file(srv, "/bad/truncated.jpg", bodies[1], sizes[1] / 2);
    serve_file(srv, "/bad/page.jpg", (const unsigned char *)"<html>", 6);
    server_run(srv);

    char dir[64];
    if (!make_tmpdir(dir)) {
        server_stop(srv);
        return;
    }
    ug_trace *trace = NULL;
    CHECK_RC(ug_trace_new(&trace), 0);
    ug_pictures_options o;
    ug_pictures_options_init(&o);
    o.dest_dir = dir;
    o.format = UG_FORMAT_PNG;
    o.threads = 3;
    o.fetch.concurrency = 6;
    o.trace = trace;
    ug_pictures *job = NULL;
    if (!CHECK_RC(ug_pictures_new(&o, &job), 0)) {
        server_stop(srv);
        return;
    }
    char url[128];
    for (int i = 0; i < N_GOOD; i++) {
        snprintf(path, sizeof path, "/p/%02d.%s", i, i % 3 == 1 ? "jpg" : "png");
        url_of(srv, path, url);
        CHECK_INT_EQ(ug_pictures_add(job, url), i);
    }
    const char *bad[] = {"/bad/truncated.jpg", "/bad/page.jpg", "/missing.png"};
    for (int i = 0; i < 3; i++) {
        url_of(srv, bad[i], url);
        CHECK_INT_EQ(ug_pictures_add(job, url), N_GOOD + i);
    }
    CHECK_INT_EQ(ug_pictures_add(job, "ftp://x/y.png"), N_GOOD + 3);
    CHECK_RC(ug_pictures_run(job, NULL), 0);
    CHECK_RC(ug_pictures_run(job, NULL), UG_EBUSY);
    CHECK_INT_EQ(ug_pictures_add(job, url), UG_EBUSY);
    CHECK_UINT_EQ(ug_pictures_count(job), N_GOOD + 4);
    for (int i = 0; i < N_GOOD; i++) {
        const ug_pictures_result *r = ug_pictures_result_at(job, (size_t)i);
        char want[32];
        snprintf(want, sizeof want, "%02d.png", i);
        if (!CHECK_RC(r->error, 0) || !CHECK_STR_EQ(r->name, want))
            continue;
        CHECK_INT_EQ(r->status, 200);
        CHECK_UINT_EQ(r->bytes, sizes[i]);
        CHECK_INT_EQ(r->mode, modes[i % 3]);
        CHECK_INT_EQ(r->format_out, UG_FORMAT_PNG);
        CHECK_INT_EQ(r->width, 30 + i);
        check_output(dir, r->name, bodies[i], sizes[i]);
    }
    const struct { int error; ug_pictures_stage stage; } want[] = {
        {UG_ECORRUPT, UG_STAGE_DECODE}, {UG_EFORMAT, UG_STAGE_DECODE},
        {UG_EHTTP, UG_STAGE_DOWNLOAD}, {UG_EURL, UG_STAGE_DOWNLOAD}};
    for (int i = 0; i < 4; i++) {
        const ug_pictures_result *r = ug_pictures_result_at(job, N_GOOD + (size_t)i);
        CHECK_RC(r->error, want[i].error);
        CHECK_INT_EQ(r->stage, want[i].stage);
        CHECK_NULL(r->name);
        CHECK_NOT_NULL(r->message);
    }
    CHECK_NULL(ug_pictures_result_at(job, N_GOOD + 4));
    ug_pictures_summary s;
    ug_pictures_summary_get(job, &s);
    CHECK_UINT_EQ(s.saved, N_GOOD);
    CHECK_UINT_EQ(s.failed, 4);
    CHECK_UINT(s.peak_held_pictures, <=, 6 + 2 * 3);
    CHECK_UINT(s.peak_held_bytes, >, 0);
    ug_pictures_progress p;
    ug_pictures_progress_get(job, &p);
    CHECK_UINT_EQ(p.held_bytes, 0);
    CHECK_UINT_EQ(p.held_pictures, 0);
    CHECK_UINT_EQ(p.done, N_GOOD + 4);
    ug_pictures_free(job);
    /* transfers, then decode + filter + encode + save per good picture and
     * decode for the two broken bodies. */
    CHECK_UINT_EQ(ug_trace_count(trace), (N_GOOD + 3) + 4 * N_GOOD + 2);
    ug_trace_free(trace);
    size_t files;
    CHECK_UINT_EQ(remove_tmpdir(dir, &files), 0);
    CHECK_UINT_EQ(files, N_GOOD);
    for (int i = 0; i < N_GOOD; i++)
        free(bodies[i]);
    server_stop(srv);
}

static void test_backpressure(void) {
    struct server *srv = server_start(0);
    if (!srv)
        return;
    unsigned char *body;
    size_t size;
    make_picture(64, 48, UG_MODE_RGB, UG_FORMAT_JPEG, 7, &body, &size);
    serve_file(srv, "/a.jpg", body, size);
    server_run(srv);
    char dir[64];
    if (!make_tmpdir(dir)) {
        server_stop(srv);
        return;
    }
    ug_pictures_options o;
    ug_pictures_options_init(&o);
    o.dest_dir = dir;
    o.threads = 1;
    o.fetch.concurrency = 8;
    o.max_held_pictures = 2;
    ug_pictures *job = NULL;
    if (CHECK_RC(ug_pictures_new(&o, &job), 0)) {
        char url[128];
        url_of(srv, "/a.jpg", url);
        for (int i = 0; i < 20; i++)
            ug_pictures_add(job, url);
        CHECK_RC(ug_pictures_run(job, NULL), 0);
        ug_pictures_summary s;
        ug_pictures_summary_get(job, &s);
        CHECK_UINT_EQ(s.saved, 20);
        CHECK_UINT(s.peak_held_pictures, <=, 2);
        CHECK_STR_EQ(ug_pictures_result_at(job, 1)->name, "a (1).jpg");
    }
    ug_pictures_free(job);
    size_t files;
    CHECK_UINT_EQ(remove_tmpdir(dir, &files), 0);
    CHECK_UINT_EQ(files, 20);
    free(body);
    server_stop(srv);
}

struct canceller {
    int flag;
};

static void *cancel_later(void *arg) {
    struct canceller *c = arg;
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    __atomic_store_n(&c->flag, 1, __ATOMIC_RELAXED);
    return NULL;
}

static void test_cancel(void) {
    struct server *srv = server_start(50);
    if (!srv)
        return;
    unsigned char *body;
    size_t size;
    make_picture(200, 150, UG_MODE_RGB, UG_FORMAT_PNG, 9, &body, &size);
    serve_file(srv, "/b.png", body, size);
    server_run(srv);
    char dir[64];
    if (!make_tmpdir(dir)) {
        server_stop(srv);
        return;
    }
    ug_pictures_options o;
    ug_pictures_options_init(&o);
    o.dest_dir = dir;
    o.threads = 2;
    o.fetch.concurrency = 4;
    ug_pictures *job = NULL;
    if (CHECK_RC(ug_pictures_new(&o, &job), 0)) {
        char url[128];
        url_of(srv, "/b.png", url);
        for (int i = 0; i < 60; i++)
            ug_pictures_add(job, url);
        struct canceller c = {0};
        pthread_t th;
        pthread_create(&th, NULL, cancel_later, &c);
        uint64_t t0 = ug_clock_ns();
        CHECK_RC(ug_pictures_run(job, &c.flag), UG_ECANCELED);
        pthread_join(th, NULL);
        CHECK_UINT(ug_clock_ns() - t0, <, 10000000000ull); /* hang guard */
        ug_pictures_summary s;
        ug_pictures_summary_get(job, &s);
        CHECK_UINT(s.saved, <, 60);
        CHECK_UINT_EQ(s.saved + s.failed, 60);
        size_t cancelled = 0;
        for (size_t i = 0; i < 60; i++) {
            const ug_pictures_result *r = ug_pictures_result_at(job, i);
            cancelled += r->error == UG_ECANCELED;
            if (!r->error)
                check_output(dir, r->name, body, size);
        }
        CHECK_UINT_EQ(cancelled, s.failed);
        ug_pictures_progress p;
        ug_pictures_progress_get(job, &p);
        CHECK_UINT_EQ(p.held_bytes, 0);
        CHECK_UINT_EQ(p.held_pictures, 0);
    }
    ug_pictures_free(job);
    size_t files;
    CHECK_UINT_EQ(remove_tmpdir(dir, &files), 0);
    free(body);
    server_stop(srv);
}

int main(int argc, char **argv) {
    static const check_test tests[] = {
        CHECK_TEST(test_new_errors),
        CHECK_TEST(test_pipeline),
        CHECK_TEST(test_backpressure),
        CHECK_TEST(test_cancel),
    };
    return check_main(argc, argv, tests, sizeof tests / sizeof *tests);
}
