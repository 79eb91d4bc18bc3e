/* test_path.c - safe file names inside one directory (ungil/path.h).
 *
 * Three layers.  Tables give each hostile input (dot segments, encoded and
 * doubly encoded slashes, NUL and control characters, invalid UTF-8,
 * bidirectional overrides, device names, over-long names, Content-
 * Disposition tricks) with the exact name it must become.  Properties are
 * then checked over many generated inputs, random bytes and random
 * URL-like and header-like strings, by name_problem(), which restates the
 * header's promises without sharing code with the library.  Last, files:
 * a scratch directory holds "dest" and "outside"; links, hard links, FIFOs
 * and directories are planted in dest, and after every attempt "outside"
 * must hold exactly what it held before.
 *
 * Generated inputs come from a fixed-seed generator, so a failure repeats.
 */
#include "check.h"
#include "name_rules.h"

#include <fcntl.h>
#include <ftw.h>
#include <dirent.h>
#include <sys/stat.h>

#include "ungil/path.h"

enum { NAME_SIZE = UG_PATH_NAME_MAX + 1 };

/* ---- helpers ------------------------------------------------------------ */

/* Strings built by rep() and cat() live until the test calls arena_free,
 * so a table may hold many of them at once. */
static char *arena[512];
static size_t arena_len;

static const char *keep(char *s) {
    if (!s || arena_len == sizeof arena / sizeof *arena) {
        printf("test_path: out of arena\n");
        exit(EXIT_FAILURE);
    }
    return arena[arena_len++] = s;
}

static void arena_free(void) {
    while (arena_len > 0)
        free(arena[--arena_len]);
}

/* n copies of `unit`. */
static const char *rep(const char *unit, size_t n) {
    size_t k = strlen(unit);
    char *b = malloc(k * n + 1);
    if (b) {
        for (size_t i = 0; i < n; i++)
            memcpy(b + i * k, unit, k);
        b[k * n] = '\0';
    }
    return keep(b);
}

/* a followed by b. */
static const char *cat(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    char *out = malloc(na + nb + 1);
    if (out) {
        memcpy(out, a, na);
        memcpy(out + na, b, nb + 1);
    }
    return keep(out);
}

/* Prints s with bytes outside printable ASCII as \xNN. */
static void print_escaped(const char *label, const char *s) {
    printf("    %s: \"", label);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p >= 0x20 && *p < 0x7f && *p != '\\' && *p != '"')
            putchar(*p);
        else
            printf("\\x%02x", *p);
    }
    printf("\"\n");
}

static unsigned reported;

/* Checks name_problem(name) and prints the input the first few times. */
static void check_valid(const char *name, const char *input) {
    const char *problem = name_problem(name);
    if (!CHECK(problem == NULL) && reported++ < 10) {
        printf("    problem: %s\n", problem);
        print_escaped("input", input);
        print_escaped("name", name);
    }
}

/* Seeded the same every run so failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void) { return check_random(&rng_state); }

/* A string of `n` fragments picked from `pool` (at most 4000 bytes). */
static void random_text(char *out, size_t size, const char *const *pool,
                        size_t pool_len, size_t n) {
    size_t w = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *f = pool[rng() % pool_len];
        size_t k = strlen(f);
        if (w + k + 1 > size)
            break;
        memcpy(out + w, f, k + 1);
        w += k;
    }
}

static int iterations(void) {
    return CHECK_SANITIZED ? 3000 : 20000;
}

/* ---- the sanitiser ------------------------------------------------------ */

struct name_case {
    const char *in;
    const char *want; /* NULL: UG_ENONAME */
};

static void check_sanitize_case(const struct name_case *c) {
    char out[NAME_SIZE];
    int rc = ug_path_sanitize(c->in, out, sizeof out);
    bool ok = c->want ? rc == 0 && !strcmp(out, c->want)
                      : rc == UG_ENONAME && out[0] == '\0';
    if (!CHECK(ok)) {
        print_escaped("input", c->in);
        print_escaped("got", rc == 0 ? out : ug_err_name(rc));
        print_escaped("want", c->want ? c->want : "UG_ENONAME");
    }
}

static void test_sanitize_table(void) {
    static const struct name_case cases[] = {
        {"a.jpg", "a.jpg"},
        {"a b.txt", "a b.txt"},
        {"a..b", "a..b"},
        {"_", "_"},
        {"-rf", "-rf"},
        {"~", "~"},
        /* nothing usable */
        {"", NULL},
        {".", NULL},
        {"..", NULL},
        {"...", NULL},
        {". .", NULL},
        {"   ", NULL},
        /* separators and paths */
        {"/", "_"},
        {"\\", "_"},
        {"a/b", "a_b"},
        {"../x", "_x"},
        {"..\\x", "_x"},
        {"../../etc/passwd", "_.._etc_passwd"},
        {"/etc/passwd", "_etc_passwd"},
        {"C:\\Windows\\win.ini", "C__Windows_win.ini"},
        /* nothing is decoded here */
        {"%2e%2e%2f", "%2e%2e%2f"},
        {"%252e", "%252e"},
        {"%00", "%00"},
        /* control characters: C0, DEL, C1 */
        {"\x01\x1f\x7f", "___"},
        {"a\tb\nc\rd", "a_b_c_d"},
        {"\x1b[31mred", "_[31mred"},
        {"\xc2\x80\xc2\x85\xc2\x9f", "___"},
        {"\xc2\xa0x", "\xc2\xa0x"},
        /* Windows-forbidden characters */
        {"a:b*c?d\"e<f>g|h", "a_b_c_d_e_f_g_h"},
        /* invalid UTF-8: one '_' per byte */
        {"\xff\xfe", "__"},
        {"a\x80" "b", "a_b"},
        {"\xc0\xaf", "__"},              /* overlong '/' */
        {"\xe0\x80\xaf", "___"},         /* overlong '/' */
        {"\xed\xa0\x80", "___"},         /* a surrogate */
        {"\xf4\x90\x80\x80", "____"},    /* above U+10FFFF */
        {"\xf8\x88\x80\x80\x80", "_____"},
        {"\xe2\x82", "__"},              /* cut short */
        {"\xe2\x82x", "__x"},
        /* valid UTF-8 stays */
        {"caf\xc3\xa9.txt", "caf\xc3\xa9.txt"},
        {"\xe6\x97\xa5\xe6\x9c\xac.pdf", "\xe6\x97\xa5\xe6\x9c\xac.pdf"},
        {"\xf0\x9f\x98\x80.png", "\xf0\x9f\x98\x80.png"},
        {"a\xe2\x80\x8d" "b", "a\xe2\x80\x8d" "b"},   /* ZWJ is kept */
        /* bidi controls, invisible characters, slash look-alikes */
        {"evil\xe2\x80\xaegpj.exe", "evil_gpj.exe"},   /* U+202E */
        {"\xe2\x80\x8f" "abc", "_abc"},                /* U+200F */
        {"a\xe2\x81\xa6" "b", "a_b"},                  /* U+2066 */
        {"a\xd8\x9c" "b", "a_b"},                      /* U+061C */
        {"a\xe2\x80\xa8" "b", "a_b"},                  /* U+2028 */
        {"a\xe2\x80\x8b" "b", "a_b"},                  /* U+200B */
        {"\xef\xbb\xbfx", "_x"},                       /* U+FEFF */
        {"a\xef\xbc\x8f" "b", "a_b"},                  /* U+FF0F */
        {"a\xef\xbc\xbc" "b", "a_b"},                  /* U+FF3C */
        {"a\xe2\x88\x95" "b", "a_b"},                  /* U+2215 */
        {"a\xe2\x81\x84" "b", "a_b"},                  /* U+2044 */
        {"a\xe2\xa7\xb8" "b", "a_b"},                  /* U+29F8 */
        /* leading and trailing dots and spaces */
        {".bashrc", "bashrc"},
        {"..hidden", "hidden"},
        {" x", "x"},
        {". x", "x"},
        {"x.", "x"},
        {"x ", "x"},
        {"x. . ", "x"},
        {"a.exe.", "a.exe"},
        /* Windows device names */
        {"CON", "_CON"},
        {"con", "_con"},
        {"con.txt", "_con.txt"},
        {"Com1.tar.gz", "_Com1.tar.gz"},
        {"LPT9", "_LPT9"},
        {"com0", "_com0"},
        {"nul ", "_nul"},
        {"PRN.", "_PRN"},
        {"aux .h", "_aux .h"},
        {".con", "_con"},
        {"COM\xc2\xb9.txt", "_COM\xc2\xb9.txt"},
        {"lpt\xc2\xb3", "_lpt\xc2\xb3"},
        {"CONIN$", "_CONIN$"},
        {"conout$.log", "_conout$.log"},
        {"COM10", "COM10"},
        {"CONSOLE", "CONSOLE"},
        {"con1", "con1"},
        {"com", "com"},
        {"lpt", "lpt"},
        {"nul_", "nul_"},
        {"con:", "con_"},
        {"_con", "_con"},
        {"xcon", "xcon"},
        {"COM\xc2\xb4", "COM\xc2\xb4"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_sanitize_case(&cases[i]);
}

static void test_sanitize_long_names(void) {
    const char *e = "\xc3\xa9", *smile = "\xf0\x9f\x98\x80";
    const struct name_case cases[] = {
        {rep("a", 300), rep("a", 200)},
        {rep("a", 201), rep("a", 200)},
        {rep("a", 200), rep("a", 200)},
        {cat(rep("a", 300), ".jpg"), cat(rep("a", 196), ".jpg")},
        {cat(rep(e, 150), ".txt"), cat(rep(e, 98), ".txt")},
        /* the cut falls inside a character and moves back */
        {cat(cat("a", rep(e, 150)), ".txt"), cat(cat("a", rep(e, 97)), ".txt")},
        /* an extension over 20 bytes is not kept */
        {cat(rep("a", 300), cat(".", rep("b", 30))), rep("a", 200)},
        {cat(rep("a", 300), cat(".", rep("b", 19))),
         cat(rep("a", 180), cat(".", rep("b", 19)))},
        /* a cut that leaves a space or dot at the end of the stem */
        {cat(cat(rep("a", 199), " "), rep("b", 100)), rep("a", 199)},
        {cat(cat(rep("a", 195), " "), cat(rep("b", 100), ".jpg")),
         cat(rep("a", 195), ".jpg")},
        /* a cut that reveals a device name */
        {cat(cat("con", rep(" ", 300)), "x"), "_con"},
        {cat("con.", rep("x", 300)), cat("_con.", rep("x", 195))},
        {rep("\xff", 300), rep("_", 200)},
        {rep(smile, 60), rep(smile, 50)},
        {cat("x", rep(smile, 60)), cat("x", rep(smile, 49))},
        {rep(".", 300), NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        check_sanitize_case(&cases[i]);
        char out[NAME_SIZE];
        if (ug_path_sanitize(cases[i].in, out, sizeof out) == 0)
            check_valid(out, cases[i].in);
    }
    arena_free();
}

static void test_arguments(void) {
    char out[NAME_SIZE], small[NAME_SIZE - 1];
    strcpy(out, "junk");
    CHECK_RC(ug_path_sanitize("..", out, sizeof out), UG_ENONAME);
    CHECK_STR_EQ(out, "");
    CHECK_RC(ug_path_sanitize(NULL, out, sizeof out), UG_EINVAL);
    CHECK_RC(ug_path_sanitize("a", NULL, sizeof out), UG_EINVAL);
    CHECK_RC(ug_path_sanitize("a", small, sizeof small), UG_EINVAL);
    CHECK_RC(ug_path_from_url(NULL, out, sizeof out), UG_EINVAL);
    CHECK_RC(ug_path_from_url("http://h/a", small, sizeof small), UG_EINVAL);
    CHECK_RC(ug_path_from_content_disposition(NULL, out, sizeof out),
             UG_EINVAL);
    CHECK_RC(ug_path_from_content_disposition("attachment", small,
                                              sizeof small),
             UG_EINVAL);
    strcpy(out, "junk");
    CHECK_RC(ug_path_from_content_disposition("attachment", out, sizeof out),
             UG_ENONAME);
    CHECK_STR_EQ(out, "");
}

/* ---- URLs --------------------------------------------------------------- */

static void test_url_table(void) {
    static const struct name_case cases[] = {
        {"http://example.com/a.jpg", "a.jpg"},
        {"https://example.com/dir/file.tar.gz?x=1&y=/z#frag", "file.tar.gz"},
        {"HTTPS://EXAMPLE.COM/UPPER.JPG", "UPPER.JPG"},
        {"ftp://example.com/f.txt", "f.txt"},
        {"http://user:pw@example.com:8080/p.png", "p.png"},
        {"http://[::1]:8080/p.png", "p.png"},
        {"http://example.com/a/b/", "b"},
        {"http://example.com//a//", "a"},
        {"http://example.com/a/b?c/d#e/f", "b"},
        {"http://example.com/x.jpg?", "x.jpg"},
        {"http://example.com/x.jpg#/../y", "x.jpg"},
        {"http://example.com/a+b.txt", "a+b.txt"},
        {"file.txt", "file.txt"},
        {"/abs/path/file.txt", "file.txt"},
        /* the fallback */
        {"", "index.html"},
        {"http://example.com", "index.html"},
        {"http://example.com/", "index.html"},
        {"http://example.com/?q=/x.jpg", "index.html"},
        {"http://example.com/a/..", "index.html"},
        {"http://example.com/a/.", "index.html"},
        {"http://example.com/..", "index.html"},
        {"http://example.com/%2e", "index.html"},
        {"http://example.com/%2e%2e", "index.html"},
        {"http://example.com/%2e%2e%2e", "index.html"},
        {"http://example.com/%20%20", "index.html"},
        {"http://example.com\\..\\..\\x", "index.html"},
        /* dot segments and separators, plain and encoded */
        {"http://example.com/../../etc/passwd", "passwd"},
        {"http:///etc/passwd", "passwd"},
        {"http://example.com//etc/passwd", "passwd"},
        {"http://example.com/%2e%2e%2f", "_"},
        {"http://example.com/%2E%2E%2Fsecret", "_secret"},
        {"http://example.com/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
         "_.._etc_passwd"},
        {"http://example.com/..%2f..%2f", "_.._"},
        {"http://example.com/%2fetc%2fpasswd", "_etc_passwd"},
        {"http://example.com/a%2fb", "a_b"},
        {"http://example.com/a%2Fb", "a_b"},
        {"http://example.com/a%5cb", "a_b"},
        {"http://example.com/..%5c..%5cwin.ini", "_.._win.ini"},
        {"http://example.com/a\\..\\..\\x", "a_.._.._x"},
        {"http://example.com/%EF%BC%8Fetc%EF%BC%8Fpasswd", "_etc_passwd"},
        /* decoded exactly once */
        {"http://example.com/%252e%252e%252f", "%2e%2e%2f"},
        {"http://example.com/%252e", "%2e"},
        {"http://example.com/a%zzb", "a%zzb"},
        {"http://example.com/a%2", "a%2"},
        {"http://example.com/a%", "a%"},
        /* NUL, controls, invalid UTF-8 */
        {"http://example.com/evil%00.jpg", "evil_.jpg"},
        {"http://example.com/a%0d%0aSet-Cookie:x", "a__Set-Cookie_x"},
        {"http://example.com/%1b%5b31m", "_[31m"},
        {"http://example.com/%7f%c2%85x", "__x"},
        {"http://example.com/%ff%fe.bin", "__.bin"},
        {"http://example.com/caf%C3%A9.txt", "caf\xc3\xa9.txt"},
        {"http://example.com/caf%E9.txt", "caf_.txt"},
        {"http://example.com/%E2%80%AEgpj.exe", "_gpj.exe"},
        /* hidden files, trailing dots, devices, forbidden characters */
        {"http://example.com/.htaccess", "htaccess"},
        {"http://example.com/%2ebashrc", "bashrc"},
        {"http://example.com/%20x%20", "x"},
        {"http://example.com/a%2e", "a"},
        {"http://example.com/CON", "_CON"},
        {"http://example.com/nul.txt", "_nul.txt"},
        {"http://example.com/com1%2Etxt", "_com1.txt"},
        {"http://example.com/a:b", "a_b"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char out[NAME_SIZE];
        int rc = ug_path_from_url(cases[i].in, out, sizeof out);
        if (!CHECK(rc == 0 && !strcmp(out, cases[i].want))) {
            print_escaped("url", cases[i].in);
            print_escaped("got", rc == 0 ? out : ug_err_name(rc));
            print_escaped("want", cases[i].want);
        }
    }
}

static void test_url_long(void) {
    char out[NAME_SIZE];
    const char *base = "http://example.com/dir/";
    CHECK_RC(ug_path_from_url(cat(base, rep("a", 300)), out, sizeof out), 0);
    CHECK_STR_EQ(out, rep("a", 200));
    CHECK_RC(ug_path_from_url(cat(base, rep("%41", 300)), out, sizeof out), 0);
    CHECK_STR_EQ(out, rep("A", 200));
    CHECK_RC(ug_path_from_url(cat(base, cat(rep("b", 300), ".jpg?x=1")), out,
                              sizeof out),
             0);
    CHECK_STR_EQ(out, cat(rep("b", 196), ".jpg"));
    CHECK_RC(ug_path_from_url(cat(base, rep("%2e%2e%2f", 300)), out,
                              sizeof out),
             0);
    check_valid(out, "300 x %2e%2e%2f");
    arena_free();
}

/* ---- Content-Disposition ------------------------------------------------ */

static void test_disposition_table(void) {
    static const struct name_case cases[] = {
        /* plain filename */
        {"attachment; filename=a.txt", "a.txt"},
        {"attachment;filename=a.txt", "a.txt"},
        {"attachment; filename=\"a b.txt\"", "a b.txt"},
        {"inline; filename=\"x.pdf\"", "x.pdf"},
        {"INLINE; FILENAME= \"x.pdf\"", "x.pdf"},
        {"  attachment ; filename = a.txt ; ", "a.txt"},
        {"attachment; filename=a.txt\r\n", "a.txt"},
        {"attachment; filename=a.txt;", "a.txt"},
        {"attachment;; filename=a.txt", "a.txt"},
        {"attachment; size=123; filename=a.txt; foo=\"bar;baz\"", "a.txt"},
        /* quoted strings: escapes undone, nothing percent-decoded */
        {"attachment; filename=\"a\\\"b.txt\"", "a_b.txt"},
        {"attachment; filename=\"\\a\\b\\c.txt\"", "abc.txt"},
        {"attachment; filename=\"a%2fb\"", "a%2fb"},
        {"attachment; filename=\"foo-%41.html\"", "foo-%41.html"},
        {"attachment; filename=\"caf\xc3\xa9.txt\"", "caf\xc3\xa9.txt"},
        {"attachment; filename=\"caf\xe9.txt\"", "caf_.txt"},
        {"attachment; filename=\"a:b|c\"", "a_b_c"},
        /* paths inside the value: only the last component */
        {"attachment; filename=\"a\\\\b.txt\"", "b.txt"},
        {"attachment; filename=\"..\\\\..\\\\boot.ini\"", "boot.ini"},
        {"attachment; filename=\"..\\..\\boot.ini\"", "boot.ini"},
        {"attachment; filename=\"../../etc/passwd\"", "passwd"},
        {"attachment; filename=\"/etc/passwd\"", "passwd"},
        {"attachment; filename=\"C:\\\\Windows\\\\evil.dll\"", "evil.dll"},
        {"attachment; filename=\".htaccess\"", "htaccess"},
        {"attachment; filename=\"CON.txt\"", "_CON.txt"},
        {"attachment; filename=\"dir/\"", NULL},
        {"attachment; filename=\"..\"", NULL},
        {"attachment; filename=\"\"", NULL},
        /* filename*: UTF-8 and ISO-8859-1 */
        {"attachment; filename*=UTF-8''%E2%82%AC%20rates.pdf",
         "\xe2\x82\xac rates.pdf"},
        {"attachment; filename*=utf-8'en'caf%C3%A9.txt", "caf\xc3\xa9.txt"},
        {"attachment; filename*=ISO-8859-1''caf%E9.txt", "caf\xc3\xa9.txt"},
        {"attachment; filename*=iso-8859-1'de'%A3%20rates", "\xc2\xa3 rates"},
        {"attachment; filename*=ISO-8859-1''a%85b", "a_b"},
        {"attachment; filename*=ISO-8859-1''a%2Fb%5Cc.txt", "c.txt"},
        {"attachment; filename*=UTF-8''%FF.txt", "_.txt"},
        {"attachment; filename*=UTF-8''x%00.txt", "x_.txt"},
        {"attachment; filename*=UTF-8''evil%E2%80%AEtxt.exe", "evil_txt.exe"},
        {"attachment; filename*=UTF-8''..%2F..%2Fetc%2Fpasswd", "passwd"},
        {"attachment; filename*=UTF-8''..%5C..%5Cboot.ini", "boot.ini"},
        {"attachment; filename*=UTF-8''%2e%2e", NULL},
        /* both: filename* wins when it gives a name */
        {"attachment; filename=\"fallback.txt\"; filename*=UTF-8''real.txt",
         "real.txt"},
        {"attachment; filename*=UTF-8''real.txt; filename=\"fallback.txt\"",
         "real.txt"},
        {"attachment; filename*=UTF-8''%2e%2e; filename=ok.txt", "ok.txt"},
        /* a filename* we cannot use is ignored */
        {"attachment; filename*=KOI8-R''x.txt; filename=y.txt", "y.txt"},
        {"attachment; filename*=KOI8-R''x.txt", NULL},
        {"attachment; filename*=\"UTF-8''x.txt\"; filename=y.txt", "y.txt"},
        {"attachment; filename*=UTF-8''%zz; filename=y.txt", "y.txt"},
        {"attachment; filename*=UTF-8''a%2; filename=y.txt", "y.txt"},
        {"attachment; filename*=UTF-8''a*b; filename=y.txt", "y.txt"},
        {"attachment; filename*=UTF-8'x.txt; filename=y.txt", "y.txt"},
        {"attachment; filename*=''x.txt; filename=y.txt", "y.txt"},
        {"attachment; filename*0=\"foo.\"; filename*1=\"html\"", NULL},
        {"attachment; foo=\"filename=evil.txt\"", NULL},
        /* malformed: no name at all */
        {"", NULL},
        {"attachment", NULL},
        {"attachment;", NULL},
        {"attachment; filename", NULL},
        {"attachment; filename=", NULL},
        {"attachment; =a.txt", NULL},
        {"attachment; filename=\"unterminated", NULL},
        {"attachment; filename=\"a\\\"", NULL},
        {"attachment; filename=a b.txt", NULL},
        {"attachment; filename=/etc/passwd", NULL},
        {"attachment; filename=\xc3\xa9.txt", NULL},
        {"attachment; filename=\"a\"; filename=\"b\"", NULL},
        {"attachment; filename*=UTF-8''a; FILENAME*=UTF-8''b", NULL},
        {"; filename=a.txt", NULL},
        {"filename=a.txt", NULL},
        {"\"attachment\"; filename=a.txt", NULL},
        {"attachment filename=a.txt", NULL},
        {"attachment; filename=\"a.txt\" junk", NULL},
        {"attachment; filename=\"a\x01" "b\"", NULL},
        {"attachment; filename=\"a\r\nb\"", NULL},
        {"attachment; filename=a.txt\r\nX-Evil: 1", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char out[NAME_SIZE];
        int rc = ug_path_from_content_disposition(cases[i].in, out,
                                                  sizeof out);
        bool ok = cases[i].want ? rc == 0 && !strcmp(out, cases[i].want)
                                : rc == UG_ENONAME && out[0] == '\0';
        if (!CHECK(ok)) {
            print_escaped("header", cases[i].in);
            print_escaped("got", rc == 0 ? out : ug_err_name(rc));
            print_escaped("want", cases[i].want ? cases[i].want
                                                : "UG_ENONAME");
        }
    }
}

static void test_disposition_long(void) {
    char out[NAME_SIZE];
    const char *h = cat("attachment; filename=\"", cat(rep("a", 300),
                                                       ".pdf\""));
    CHECK_RC(ug_path_from_content_disposition(h, out, sizeof out), 0);
    CHECK_STR_EQ(out, cat(rep("a", 196), ".pdf"));
    h = cat("attachment; filename*=ISO-8859-1''", rep("%E9", 300));
    CHECK_RC(ug_path_from_content_disposition(h, out, sizeof out), 0);
    CHECK_STR_EQ(out, rep("\xc3\xa9", 100));
    arena_free();
}

/* ---- properties over generated inputs ----------------------------------- */

static void test_properties_random_bytes(void) {
    char in[512], out[NAME_SIZE];
    for (int i = 0; i < iterations(); i++) {
        size_t n = rng() % 400;
        for (size_t k = 0; k < n; k++)
            in[k] = (char)(1 + rng() % 255);
        in[n] = '\0';
        if (CHECK_RC(ug_path_from_url(in, out, sizeof out), 0))
            check_valid(out, in);
        int rc = ug_path_sanitize(in, out, sizeof out);
        if (rc == 0)
            check_valid(out, in);
        else
            CHECK(rc == UG_ENONAME && out[0] == '\0');
        rc = ug_path_from_content_disposition(in, out, sizeof out);
        if (rc == 0)
            check_valid(out, in);
        else
            CHECK(rc == UG_ENONAME && out[0] == '\0');
    }
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* URL-like strings: every name is valid, and one set claims them all
 * without handing any out twice. */
static void test_properties_urls(void) {
    static const char *const pool[] = {
        "http://", "https://", "h", "example.com", "/", "/", "/", "//", "..",
        ".", "%2e", "%2E", "%2f", "%2F", "%5c", "%00", "%25", "%", "%zz",
        "?", "#", "\\", ":", "*", "CON", "nul", "com1", "a", "b.jpg",
        ".tar.gz", " ", "%20", "\xc3\xa9", "%C3%A9", "%E9", "\xff", "%ff",
        "%E2%80%AE", "%c2%85", "%0a", "%7f", "\xe2\x80\xae", "~", "-", "_",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41"};
    int n = iterations();
    char **claimed = calloc((size_t)n, sizeof *claimed);
    ug_names *names = NULL;
    if (!CHECK_NOT_NULL(claimed) || !CHECK_RC(ug_names_new(-1, &names), 0)) {
        free(claimed);
        return;
    }
    char in[4096], out[NAME_SIZE];
    int kept = 0;
    for (int i = 0; i < n; i++) {
        random_text(in, sizeof in, pool, sizeof pool / sizeof *pool,
                    1 + rng() % 40);
        if (!CHECK_RC(ug_path_from_url(in, out, sizeof out), 0))
            continue;
        check_valid(out, in);
        if (!CHECK_RC(ug_names_claim(names, out, out, sizeof out), 0))
            continue;
        check_valid(out, in);
        if (CHECK_NOT_NULL(claimed[kept] = strdup(out)))
            kept++;
    }
    qsort(claimed, (size_t)kept, sizeof *claimed, compare_names);
    int repeats = 0;
    for (int i = 1; i < kept; i++)
        repeats += !strcmp(claimed[i], claimed[i - 1]);
    CHECK_INT_EQ(repeats, 0);
    for (int i = 0; i < kept; i++)
        free(claimed[i]);
    free(claimed);
    ug_names_free(names);
}

/* Appends a random pick from pool to out (size bytes), if it fits. */
static void append_pick(char *out, size_t size, const char *const *pool,
                        size_t pool_len) {
    const char *f = pool[rng() % pool_len];
    size_t n = strlen(out), k = strlen(f);
    if (n + k < size)
        memcpy(out + n, f, k + 1);
}

#define PICK(out, pool)                                                       \
    append_pick(out, sizeof out, pool, sizeof pool / sizeof *pool)

/* Header-like strings: a type, then parameters whose values are built from
 * hostile pieces, now and then with a stray piece that breaks the syntax,
 * so both the named and the malformed paths are exercised. */
static void test_properties_dispositions(void) {
    static const char *const types[] = {"attachment", "inline", "INLINE",
                                        "x-custom"};
    static const char *const seps[] = {"; ", ";", " ; ", ";\t"};
    static const char *const params[] = {"filename=", "filename*=",
                                         "FILENAME = ", "filename*=",
                                         "size=", "filename*0="};
    static const char *const charsets[] = {"UTF-8'", "utf-8'", "ISO-8859-1'",
                                           "KOI8-R'", "'"};
    static const char *const langs[] = {"'", "en'", "de-DE'", ""};
    static const char *const ext_pieces[] = {
        "a", ".txt", "%2F", "%5C", "%2e", "%2E%2E", "%00", "%0A", "%7F",
        "%85", "%E9", "%C3%A9", "%E2%80%AE", "%EF%BC%8F", "%FF", "CON",
        "%20", "-", "~", "%", "*"};
    static const char *const quoted_pieces[] = {
        "a", ".txt", "/", "\\\\", "\\\"", "\\a", "..", ".", " ", "CON",
        "nul.", "\xc3\xa9", "\xff", "\xe2\x80\xae", ":", "|", "%2f"};
    static const char *const token_pieces[] = {"a", ".txt", "..", "CON",
                                               "%2e", "~", "!", "'", "*"};
    static const char *const strays[] = {"\"", "\\", "/", " ", "\x01", "=",
                                         "\xc3\xa9", "\r\n", ";"};
    char in[1024], out[NAME_SIZE];
    int named = 0;
    for (int i = 0; i < iterations(); i++) {
        in[0] = '\0';
        PICK(in, types);
        for (uint64_t p = rng() % 4; p > 0; p--) {
            PICK(in, seps);
            size_t at = strlen(in);
            PICK(in, params);
            bool ext = strchr(in + at, '*') != NULL;
            bool quoted = !ext && rng() % 2;
            if (ext) {
                PICK(in, charsets);
                PICK(in, langs);
            } else if (quoted) {
                strcat(in, "\"");
            }
            for (uint64_t k = 1 + rng() % 8; k > 0; k--) {
                if (ext)
                    PICK(in, ext_pieces);
                else if (quoted)
                    PICK(in, quoted_pieces);
                else
                    PICK(in, token_pieces);
            }
            if (quoted && strlen(in) + 1 < sizeof in)
                strcat(in, "\"");
            if (rng() % 8 == 0)
                PICK(in, strays);
        }
        int rc = ug_path_from_content_disposition(in, out, sizeof out);
        if (rc == 0) {
            named++;
            check_valid(out, in);
        } else {
            CHECK(rc == UG_ENONAME && out[0] == '\0');
        }
    }
    /* The generator must reach names, not only errors. */
    CHECK_INT(named, >, iterations() / 10);
}

/* ---- the name set ------------------------------------------------------- */

/* Claims each of names[] in turn and compares with want[]. */
static void check_claims(ug_names *set, const char *const *names,
                         const char *const *want, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char out[NAME_SIZE];
        int rc = ug_names_claim(set, names[i], out, sizeof out);
        if (!CHECK(rc == 0 && !strcmp(out, want[i]))) {
            print_escaped("claim", names[i]);
            print_escaped("got", rc == 0 ? out : ug_err_name(rc));
            print_escaped("want", want[i]);
        }
    }
}

static void test_claim_sequences(void) {
    static const char *const names[] = {
        "a.jpg", "a.jpg", "a.jpg", "a (1).jpg", "a.jpg", "README", "README",
        "README", "A.jpg", "archive.tar.gz", "archive.tar.gz", ".x", ".x",
        "z (1)", "z", "z", "z"};
    static const char *const want[] = {
        "a.jpg", "a (1).jpg", "a (2).jpg", "a (1) (1).jpg", "a (3).jpg",
        "README", "README (1)", "README (2)", "A.jpg", "archive.tar.gz",
        "archive.tar (1).gz", ".x", ".x (1)", "z (1)", "z", "z (2)",
        "z (3)"};
    ug_names *set = NULL;
    if (!CHECK_RC(ug_names_new(-1, &set), 0))
        return;
    check_claims(set, names, want, sizeof names / sizeof *names);
    ug_names_free(set);
    ug_names_free(NULL);
}

/* A name's ".part" is never another download's final name. */
static void test_claim_part_names(void) {
    static const char *const names[] = {"x", "x.part", "y.part", "y",
                                        "y (1).part", "x.part.part"};
    static const char *const want[] = {"x", "x (1).part", "y.part", "y (1)",
                                       "y (1) (1).part", "x.part.part"};
    ug_names *set = NULL;
    if (!CHECK_RC(ug_names_new(-1, &set), 0))
        return;
    check_claims(set, names, want, sizeof names / sizeof *names);
    ug_names_free(set);
}

static void test_claim_long_names(void) {
    ug_names *set = NULL;
    if (!CHECK_RC(ug_names_new(-1, &set), 0))
        return;
    const char *e = "\xc3\xa9";
    const char *names[] = {
        cat(rep("a", 196), ".jpg"), cat(rep("a", 196), ".jpg"),
        rep("b", 200), rep("b", 200), cat("c.", rep("d", 30)),
        cat("c.", rep("d", 30)), rep(e, 100), rep(e, 100),
        cat("f", rep(e, 99)), cat("f", rep(e, 99))};
    const char *want[] = {
        cat(rep("a", 196), ".jpg"), cat(rep("a", 192), " (1).jpg"),
        rep("b", 200), cat(rep("b", 196), " (1)"), cat("c.", rep("d", 30)),
        cat(cat("c.", rep("d", 30)), " (1)"), rep(e, 100),
        cat(rep(e, 98), " (1)"), cat("f", rep(e, 99)),
        cat(cat("f", rep(e, 97)), " (1)")};
    check_claims(set, names, want, sizeof names / sizeof *names);
    char out[NAME_SIZE];
    for (int i = 0; i < 50; i++) {
        if (CHECK_RC(ug_names_claim(set, names[2], out, sizeof out), 0))
            check_valid(out, names[2]);
    }
    ug_names_free(set);
    arena_free();
}

static void test_claim_invalid(void) {
    ug_names *set = NULL;
    if (!CHECK_RC(ug_names_new(-1, &set), 0))
        return;
    char out[NAME_SIZE], small[NAME_SIZE - 1];
    static const char *const bad[] = {"", ".", "..", "a/b", "/", "a/"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK_RC(ug_names_claim(set, bad[i], out, sizeof out), UG_EINVAL);
    CHECK_RC(ug_names_claim(set, rep("a", 201), out, sizeof out), UG_EINVAL);
    CHECK_RC(ug_names_claim(set, NULL, out, sizeof out), UG_EINVAL);
    CHECK_RC(ug_names_claim(set, "a", NULL, sizeof out), UG_EINVAL);
    CHECK_RC(ug_names_claim(NULL, "a", out, sizeof out), UG_EINVAL);
    CHECK_RC(ug_names_claim(set, "a", small, sizeof small), UG_EINVAL);
    arena_free();
    CHECK_RC(ug_names_new(-1, NULL), UG_EINVAL);
    /* The buffer may be both the name and the result. */
    char buf[NAME_SIZE] = "same.txt";
    CHECK_RC(ug_names_claim(set, buf, buf, sizeof buf), 0);
    CHECK_STR_EQ(buf, "same.txt");
    CHECK_RC(ug_names_claim(set, buf, buf, sizeof buf), 0);
    CHECK_STR_EQ(buf, "same (1).txt");
    ug_names_free(set);
}

/* Thousands of claims of one name: numbered in order, quickly. */
static void test_claim_many(void) {
    ug_names *set = NULL;
    if (!CHECK_RC(ug_names_new(-1, &set), 0))
        return;
    int n = CHECK_SANITIZED ? 5000 : 50000, wrong = 0;
    char out[NAME_SIZE], want[NAME_SIZE];
    for (int i = 0; i < n; i++) {
        if (i == 0)
            snprintf(want, sizeof want, "index.html");
        else
            snprintf(want, sizeof want, "index (%d).html", i);
        wrong += ug_names_claim(set, "index.html", out, sizeof out) != 0 ||
                 strcmp(out, want) != 0;
    }
    CHECK_INT_EQ(wrong, 0);
    ug_names_free(set);
}

/* The same claims in the same order give the same names. */
static void test_claim_deterministic(void) {
    static const char *const pool[] = {"a.jpg", "a (1).jpg", "b", "b.part",
                                       "index.html", "index (2).html", "c"};
    ug_names *one = NULL, *two = NULL;
    if (!CHECK_RC(ug_names_new(-1, &one), 0) ||
        !CHECK_RC(ug_names_new(-1, &two), 0)) {
        ug_names_free(one);
        return;
    }
    int differ = 0;
    for (int i = 0; i < 2000; i++) {
        const char *name = pool[rng() % (sizeof pool / sizeof *pool)];
        char a[NAME_SIZE], b[NAME_SIZE];
        differ += ug_names_claim(one, name, a, sizeof a) != 0 ||
                  ug_names_claim(two, name, b, sizeof b) != 0 ||
                  strcmp(a, b) != 0;
    }
    CHECK_INT_EQ(differ, 0);
    ug_names_free(one);
    ug_names_free(two);
}

/* ---- files -------------------------------------------------------------- */

/* A scratch directory holding dest/ (where names go) and outside/ (which
 * must never change), with outside/secret. */
struct scratch {
    char root[64];
    int dest, outside;
};

static bool scratch_new(struct scratch *s) {
    const char *tmp = getenv("TMPDIR");
    snprintf(s->root, sizeof s->root, "%s/ug_path_XXXXXX",
             tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    s->dest = s->outside = -1;
    if (!CHECK_NOT_NULL(mkdtemp(s->root)))
        return false;
    int root = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    bool ok = CHECK_INT(root, >=, 0) &&
              CHECK_INT_EQ(mkdirat(root, "dest", 0700), 0) &&
              CHECK_INT_EQ(mkdirat(root, "outside", 0700), 0);
    if (ok) {
        s->dest = openat(root, "dest", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        s->outside = openat(root, "outside",
                            O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int fd = openat(s->outside, "secret", O_WRONLY | O_CREAT | O_CLOEXEC,
                        0600);
        ok = CHECK_INT(s->dest, >=, 0) && CHECK_INT(s->outside, >=, 0) &&
             CHECK_INT(fd, >=, 0) && CHECK_INT_EQ(write(fd, "secret\n", 7), 7);
        if (fd >= 0)
            close(fd);
    }
    if (root >= 0)
        close(root);
    return ok;
}

static int remove_entry(const char *path, const struct stat *st, int type,
                        struct FTW *ftw) {
    return remove(path);
}

static void scratch_free(struct scratch *s) {
    if (s->dest >= 0)
        close(s->dest);
    if (s->outside >= 0)
        close(s->outside);
    CHECK_INT_EQ(nftw(s->root, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* The content of dirfd/name (at most 255 bytes), or "(unreadable)". */
static const char *read_file(int dirfd, const char *name) {
    static char buf[256];
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return "(unreadable)";
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return n >= 0 ? buf : "(unreadable)";
}

static int count_entries(int dirfd) {
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* outside/ holds exactly "secret", unchanged. */
static void check_outside_intact(const struct scratch *s) {
    CHECK_INT_EQ(count_entries(s->outside), 1);
    CHECK_STR_EQ(read_file(s->outside, "secret"), "secret\n");
}

static bool is_regular_at(int dirfd, const char *name) {
    struct stat st;
    return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
           S_ISREG(st.st_mode);
}

static bool is_link_at(int dirfd, const char *name) {
    struct stat st;
    return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
           S_ISLNK(st.st_mode);
}

/* Writes `text` through fd and closes it. */
static void write_close(int fd, const char *text) {
    size_t n = strlen(text);
    CHECK_INT_EQ(write(fd, text, n), (ssize_t)n);
    CHECK_INT_EQ(close(fd), 0);
}

static void test_open_modes(void) {
    struct scratch s;
    if (!scratch_new(&s))
        return;
    int fd = -1;
    CHECK_RC(ug_path_open(s.dest, "a.part", UG_PATH_CREATE, &fd), 0);
    if (CHECK_INT(fd, >=, 0)) {
        CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        CHECK(!(fcntl(fd, F_GETFL) & O_NONBLOCK));
        write_close(fd, "one");
    }
    CHECK_RC(ug_path_open(s.dest, "a.part", UG_PATH_CREATE, &fd), UG_EEXIST);
    CHECK_INT_EQ(fd, -1);
    /* resume: appends to what is there, and can read it back */
    CHECK_RC(ug_path_open(s.dest, "a.part", UG_PATH_APPEND, &fd), 0);
    if (CHECK_INT(fd, >=, 0)) {
        char head[4] = {0};
        CHECK_INT_EQ(pread(fd, head, 3, 0), 3);
        CHECK_STR_EQ(head, "one");
        write_close(fd, "two");
    }
    CHECK_STR_EQ(read_file(s.dest, "a.part"), "onetwo");
    CHECK_RC(ug_path_open(s.dest, "a.part", UG_PATH_REPLACE, &fd), 0);
    if (CHECK_INT(fd, >=, 0))
        write_close(fd, "new");
    CHECK_STR_EQ(read_file(s.dest, "a.part"), "new");
    /* APPEND creates a missing file; REPLACE a missing one too */
    CHECK_RC(ug_path_open(s.dest, "b", UG_PATH_APPEND, &fd), 0);
    if (CHECK_INT(fd, >=, 0))
        close(fd);
    CHECK_RC(ug_path_open(s.dest, "c", UG_PATH_REPLACE, &fd), 0);
    if (CHECK_INT(fd, >=, 0))
        close(fd);
    CHECK(is_regular_at(s.dest, "b") && is_regular_at(s.dest, "c"));
    check_outside_intact(&s);
    scratch_free(&s);
}

static void test_open_invalid(void) {
    int fd = 123;
    static const char *const bad[] = {"", ".", "..", "a/b", "/etc/passwd",
                                      "../outside/secret", "a/"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_RC(ug_path_open(AT_FDCWD, bad[i], UG_PATH_CREATE, &fd),
                 UG_EINVAL);
        CHECK_INT_EQ(fd, -1);
        CHECK_RC(ug_path_rename(AT_FDCWD, bad[i], "x", 1), UG_EINVAL);
        CHECK_RC(ug_path_rename(AT_FDCWD, "x", bad[i], 1), UG_EINVAL);
    }
    CHECK_RC(ug_path_open(AT_FDCWD, rep("a", 256), UG_PATH_CREATE, &fd),
             UG_EINVAL);
    CHECK_RC(ug_path_open(AT_FDCWD, NULL, UG_PATH_CREATE, &fd), UG_EINVAL);
    CHECK_RC(ug_path_open(AT_FDCWD, "x", UG_PATH_CREATE, NULL), UG_EINVAL);
    CHECK_RC(ug_path_open(AT_FDCWD, "x", 7, &fd), UG_EINVAL);
    CHECK_RC(ug_path_rename(AT_FDCWD, NULL, "x", 1), UG_EINVAL);
    arena_free();
}

/* A symbolic link planted under the name: never followed, in any mode. */
static void test_open_refuses_symlink(void) {
    struct scratch s;
    if (!scratch_new(&s))
        return;
    int fd = -1;
    CHECK_INT_EQ(symlinkat("../outside/secret", s.dest, "a.part"), 0);
    CHECK_RC(ug_path_open(s.dest, "a.part", UG_PATH_CREATE, &fd), UG_EEXIST);
    CHECK_RC(ug_path_open(s.dest, "a.part", UG_PATH_APPEND, &fd), UG_EUNSAFE);
    CHECK_INT_EQ(fd, -1);
    check_outside_intact(&s);
    CHECK(is_link_at(s.dest, "a.part"));
    /* REPLACE removes the link itself, then creates a file in its place */
    CHECK_RC(ug_path_open(s.dest, "a.part", UG_PATH_REPLACE, &fd), 0);
    if (CHECK_INT(fd, >=, 0))
        write_close(fd, "mine");
    CHECK(is_regular_at(s.dest, "a.part"));
    CHECK_STR_EQ(read_file(s.dest, "a.part"), "mine");
    check_outside_intact(&s);

    /* a dangling link must not create its target outside */
    CHECK_INT_EQ(symlinkat("../outside/created", s.dest, "b.part"), 0);
    CHECK_RC(ug_path_open(s.dest, "b.part", UG_PATH_CREATE, &fd), UG_EEXIST);
    CHECK_RC(ug_path_open(s.dest, "b.part", UG_PATH_APPEND, &fd), UG_EUNSAFE);
    check_outside_intact(&s);

    /* an absolute link, and a link to a directory */
    CHECK_INT_EQ(symlinkat("/etc/passwd", s.dest, "c"), 0);
    CHECK_RC(ug_path_open(s.dest, "c", UG_PATH_APPEND, &fd), UG_EUNSAFE);
    CHECK_INT_EQ(symlinkat("../outside", s.dest, "d"), 0);
    CHECK_RC(ug_path_open(s.dest, "d", UG_PATH_APPEND, &fd), UG_EUNSAFE);
    CHECK_RC(ug_path_open(s.dest, "d", UG_PATH_REPLACE, &fd), 0);
    if (CHECK_INT(fd, >=, 0))
        close(fd);
    CHECK(is_regular_at(s.dest, "d"));
    check_outside_intact(&s);
    scratch_free(&s);
}

/* Hard links, FIFOs and directories under the name. */
static void test_open_refuses_special_files(void) {
    struct scratch s;
    if (!scratch_new(&s))
        return;
    int fd = -1;
    CHECK_INT_EQ(linkat(s.outside, "secret", s.dest, "h.part", 0), 0);
    CHECK_RC(ug_path_open(s.dest, "h.part", UG_PATH_APPEND, &fd), UG_EUNSAFE);
    CHECK_RC(ug_path_open(s.dest, "h.part", UG_PATH_CREATE, &fd), UG_EEXIST);
    CHECK_RC(ug_path_open(s.dest, "h.part", UG_PATH_REPLACE, &fd), 0);
    if (CHECK_INT(fd, >=, 0))
        write_close(fd, "mine");
    check_outside_intact(&s);

    /* a FIFO without a reader: refused at once, not a hang */
    CHECK_INT_EQ(mkfifoat(s.dest, "f.part", 0600), 0);
    CHECK_RC(ug_path_open(s.dest, "f.part", UG_PATH_APPEND, &fd), UG_EUNSAFE);
    CHECK_RC(ug_path_open(s.dest, "f.part", UG_PATH_CREATE, &fd), UG_EEXIST);
    /* a FIFO with a reader: opened, then refused as not a regular file */
    int reader = openat(s.dest, "f.part", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (CHECK_INT(reader, >=, 0)) {
        CHECK_RC(ug_path_open(s.dest, "f.part", UG_PATH_APPEND, &fd),
                 UG_EUNSAFE);
        close(reader);
    }

    CHECK_INT_EQ(mkdirat(s.dest, "d", 0700), 0);
    CHECK_RC(ug_path_open(s.dest, "d", UG_PATH_APPEND, &fd), UG_EUNSAFE);
    CHECK_RC(ug_path_open(s.dest, "d", UG_PATH_REPLACE, &fd), UG_EUNSAFE);
    CHECK_RC(ug_path_open(s.dest, "d", UG_PATH_CREATE, &fd), UG_EEXIST);
    CHECK_INT_EQ(fd, -1);
    check_outside_intact(&s);
    scratch_free(&s);
}

static void test_rename(void) {
    struct scratch s;
    if (!scratch_new(&s))
        return;
    int fd = -1;
    CHECK_RC(ug_path_open(s.dest, "a.part", UG_PATH_CREATE, &fd), 0);
    if (CHECK_INT(fd, >=, 0))
        write_close(fd, "body");
    CHECK_RC(ug_path_rename(s.dest, "a.part", "a", 1), 0);
    CHECK_STR_EQ(read_file(s.dest, "a"), "body");
    CHECK(!is_regular_at(s.dest, "a.part"));

    /* a link at the final name is replaced, its target untouched */
    CHECK_INT_EQ(symlinkat("../outside/secret", s.dest, "b"), 0);
    CHECK_RC(ug_path_open(s.dest, "b.part", UG_PATH_CREATE, &fd), 0);
    if (CHECK_INT(fd, >=, 0))
        write_close(fd, "bbb");
    CHECK_RC(ug_path_rename(s.dest, "b.part", "b", 1), 0);
    CHECK(is_regular_at(s.dest, "b"));
    CHECK_STR_EQ(read_file(s.dest, "b"), "bbb");
    check_outside_intact(&s);

    /* without replace, an existing name (or link) stays */
    CHECK_RC(ug_path_open(s.dest, "c.part", UG_PATH_CREATE, &fd), 0);
    if (CHECK_INT(fd, >=, 0))
        write_close(fd, "ccc");
    CHECK_RC(ug_path_rename(s.dest, "c.part", "a", 0), UG_EEXIST);
    CHECK_STR_EQ(read_file(s.dest, "a"), "body");
    CHECK_INT_EQ(symlinkat("../outside/nothing", s.dest, "dangling"), 0);
    CHECK_RC(ug_path_rename(s.dest, "c.part", "dangling", 0), UG_EEXIST);
    CHECK(is_link_at(s.dest, "dangling"));
    CHECK_RC(ug_path_rename(s.dest, "c.part", "c", 0), 0);
    CHECK_STR_EQ(read_file(s.dest, "c"), "ccc");

    /* a directory in the way, and a missing source */
    CHECK_INT_EQ(mkdirat(s.dest, "dir", 0700), 0);
    CHECK_RC(ug_path_rename(s.dest, "c", "dir", 1), UG_EUNSAFE);
    CHECK_RC(ug_path_rename(s.dest, "missing", "m", 1), UG_EIO);
    CHECK_INT_EQ(errno, ENOENT);
    check_outside_intact(&s);
    scratch_free(&s);
}

/* A set made with the directory steps over what is already there. */
static void test_claim_avoids_directory(void) {
    struct scratch s;
    if (!scratch_new(&s))
        return;
    int fd = -1;
    static const char *const present[] = {"a.jpg", "a (1).jpg"};
    for (size_t i = 0; i < 2; i++) {
        CHECK_RC(ug_path_open(s.dest, present[i], UG_PATH_CREATE, &fd), 0);
        if (fd >= 0)
            close(fd);
    }
    CHECK_INT_EQ(symlinkat("../outside/nothing", s.dest, "b"), 0);
    ug_names *avoid = NULL, *plain = NULL;
    if (CHECK_RC(ug_names_new(s.dest, &avoid), 0) &&
        CHECK_RC(ug_names_new(-1, &plain), 0)) {
        static const char *const names[] = {"a.jpg", "b", "c", "a.jpg"};
        static const char *const avoided[] = {"a (2).jpg", "b (1)", "c",
                                              "a (3).jpg"};
        static const char *const overwritten[] = {"a.jpg", "b", "c",
                                                  "a (1).jpg"};
        check_claims(avoid, names, avoided, 4);
        check_claims(plain, names, overwritten, 4);
    }
    ug_names_free(avoid);
    ug_names_free(plain);
    scratch_free(&s);
}

/* The downloader's whole sequence for hostile URLs and headers: name,
 * claim, write "<name>.part", rename.  Nothing may appear outside dest,
 * and every file must be where its name says. */
static void test_hostile_end_to_end(void) {
    static const char *const urls[] = {
        "http://h/../../outside/secret", "http://h/%2e%2e%2foutside%2fsecret",
        "http://h/%252e%252e%252f", "http://h/..%5c..%5csecret",
        "http://h/%2fetc%2fpasswd", "http://h/evil%00.jpg", "http://h/a/..",
        "http://h/", "http://h/.", "http://h/CON", "http://h/%0d%0a",
        "http://h/.bashrc", "http://h/x.part", "http://h/x",
        "http://h/x.part", "http://h/secret", "http://h/passwd"};
    static const char *const headers[] = {
        "attachment; filename=\"../../outside/secret\"",
        "attachment; filename*=UTF-8''..%2F..%2Foutside%2Fsecret",
        "attachment; filename=\"..\\\\..\\\\outside\\\\secret\"",
        "attachment; filename=\"/etc/passwd\"",
        "attachment; filename*=UTF-8''%2e%2e",
        "attachment; filename=\"a\"; filename=\"b\""};
    struct scratch s;
    if (!scratch_new(&s))
        return;
    /* links planted where the names will land */
    CHECK_INT_EQ(symlinkat("../outside/secret", s.dest, "secret"), 0);
    CHECK_INT_EQ(symlinkat("../outside/secret", s.dest, "passwd.part"), 0);
    CHECK_INT_EQ(symlinkat("../outside", s.dest, "outside"), 0);
    ug_names *set = NULL;
    if (!CHECK_RC(ug_names_new(-1, &set), 0)) {
        scratch_free(&s);
        return;
    }
    size_t nurls = sizeof urls / sizeof *urls;
    size_t nheaders = sizeof headers / sizeof *headers;
    char names[32][NAME_SIZE];
    for (size_t i = 0; i < nurls + nheaders; i++) {
        char name[NAME_SIZE], part[NAME_SIZE + 8];
        const char *url = urls[i % nurls];
        if (i < nurls ||
            ug_path_from_content_disposition(headers[i - nurls], name,
                                             sizeof name) != 0)
            CHECK_RC(ug_path_from_url(url, name, sizeof name), 0);
        if (!CHECK_RC(ug_names_claim(set, name, names[i], NAME_SIZE), 0))
            continue;
        snprintf(part, sizeof part, "%.*s%s", UG_PATH_NAME_MAX, names[i],
                 UG_PATH_PART_SUFFIX);
        int fd = -1;
        int rc = ug_path_open(s.dest, part, UG_PATH_CREATE, &fd);
        if (rc == UG_EEXIST) /* a planted link: the engine starts over */
            rc = ug_path_open(s.dest, part, UG_PATH_REPLACE, &fd);
        if (!CHECK_RC(rc, 0))
            continue;
        write_close(fd, names[i]);
        CHECK_RC(ug_path_rename(s.dest, part, names[i], 1), 0);
    }
    for (size_t i = 0; i < nurls + nheaders; i++) {
        CHECK(is_regular_at(s.dest, names[i]));
        CHECK_STR_EQ(read_file(s.dest, names[i]), names[i]);
        check_valid(names[i], "end to end");
    }
    /* dest: our files plus the link named "outside", nothing else */
    CHECK_INT_EQ(count_entries(s.dest), (int)(nurls + nheaders) + 1);
    check_outside_intact(&s);
    int root = open(s.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK_INT_EQ(count_entries(root), 2);
    if (root >= 0)
        close(root);
    ug_names_free(set);
    scratch_free(&s);
}

int main(int argc, char **argv) {
    static const check_test tests[] = {
        CHECK_TEST(test_sanitize_table),
        CHECK_TEST(test_sanitize_long_names),
        CHECK_TEST(test_arguments),
        CHECK_TEST(test_url_table),
        CHECK_TEST(test_url_long),
        CHECK_TEST(test_disposition_table),
        CHECK_TEST(test_disposition_long),
        CHECK_TEST(test_properties_random_bytes),
        CHECK_TEST(test_properties_urls),
        CHECK_TEST(test_properties_dispositions),
        CHECK_TEST(test_claim_sequences),
        CHECK_TEST(test_claim_part_names),
        CHECK_TEST(test_claim_long_names),
        CHECK_TEST(test_claim_invalid),
        CHECK_TEST(test_claim_many),
        CHECK_TEST(test_claim_deterministic),
        CHECK_TEST(test_open_modes),
        CHECK_TEST(test_open_invalid),
        CHECK_TEST(test_open_refuses_symlink),
        CHECK_TEST(test_open_refuses_special_files),
        CHECK_TEST(test_rename),
        CHECK_TEST(test_claim_avoids_directory),
        CHECK_TEST(test_hostile_end_to_end),
    };
    return check_main(argc, argv, tests, sizeof tests / sizeof *tests);
}
