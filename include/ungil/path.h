/* ungil/path.h - safe file names inside one directory.
 *
 * The downloader writes every body into one output directory under a name
 * that comes from the URL, from the caller, or (opt-in) from the server's
 * Content-Disposition header.  Every such name passes through the one
 * sanitiser below, which turns any bytes into ONE harmless file name
 * component:
 *
 *   1. bytes that are not well-formed UTF-8 become '_', one per byte;
 *   2. these characters become '_': C0 controls, DEL and C1 controls (so
 *      NUL, CR, LF, ESC), / and \, the Windows-forbidden : * ? " < > |,
 *      the Unicode bidirectional controls (U+061C, U+200E/F, U+202A-E,
 *      U+2066-9), U+200B, U+2028/9 and U+FEFF, and the slash look-alikes
 *      U+2044, U+2215, U+29F8/9, U+FF0F and U+FF3C;
 *   3. leading dots and spaces are removed, so no name is hidden and none
 *      is "." or ".." (".bashrc" gives "bashrc"); trailing dots and spaces
 *      are removed too (Windows drops them, and "a.exe." misleads);
 *   4. a name longer than UG_PATH_NAME_MAX bytes is cut at a character
 *      boundary, keeping its extension (the part from the last dot, when it
 *      is at most 20 bytes), e.g. 300 x "a" + ".jpg" gives 196 x "a" + ".jpg";
 *   5. a Windows device name (CON, PRN, AUX, NUL, CONIN$, CONOUT$, COM0-9,
 *      LPT0-9, COM and LPT with a superscript digit), in any case, with or
 *      without an extension, gets a '_' in front ("con.txt" gives
 *      "_con.txt");
 *   6. if nothing is left, there is no name (UG_ENONAME), and the caller
 *      falls back (the URL function itself falls back to "index.html").
 *
 * So a name is never empty, ".", "..", never holds '/', '\', NUL or a
 * control character, is valid UTF-8, and is at most UG_PATH_NAME_MAX (200)
 * bytes: room is left under NAME_MAX (255) for a collision suffix and
 * UG_PATH_PART_SUFFIX.  Sanitising a sanitised name changes nothing.
 * Nothing is percent-decoded here: the URL function decodes exactly once
 * before sanitising, the Content-Disposition function decodes only
 * filename*.
 *
 * A name set (ug_names) hands each claimed name out once: "a.jpg", then
 * "a (1).jpg", "a (2).jpg"... in claim order, so the same inputs give the
 * same names every time.  A claim also reserves "<name>.part", so one
 * download's temporary file can never be another's final name.  By default
 * the set ignores what is already in the directory, and the downloader
 * overwrites an existing file like curl -O; a set made with a directory
 * descriptor also steps over names present there.
 *
 * ug_path_open and ug_path_rename touch files strictly inside a directory
 * descriptor: one component only, never following a symbolic link, never
 * writing through a hard link or into a FIFO or device.
 *
 * Known limits: no Unicode normalisation (the NFC and NFD spellings of one
 * accented letter are two names); the name set is case-sensitive, so
 * "A.jpg" and "a.jpg" are different names even on a case-insensitive file
 * system; names may start with '-' or '~'.  The directory itself must not
 * be writable by someone hostile: such a user could swap a ".part" file
 * for a link between our write and our rename.
 *
 * Thread-safety: the ug_path_* functions keep no state and may be called
 * from any thread.  A ug_names set must be used by one thread at a time.
 */
#ifndef UNGIL_PATH_H
#define UNGIL_PATH_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The longest name any function here produces, in bytes, without the
 * terminating NUL.  Output buffers need UG_PATH_NAME_MAX + 1 bytes. */
#define UG_PATH_NAME_MAX 200

/* What the downloader appends to a name while the body is incomplete. */
#define UG_PATH_PART_SUFFIX ".part"

/* The name of a URL whose path gives nothing usable ("http://host/"). */
#define UG_PATH_FALLBACK_NAME "index.html"

/* Turns `raw` (any bytes up to its NUL) into a safe name, written to `out`,
 * which has room for `size` bytes.  Returns 0, UG_ENONAME when nothing
 * usable is left (out is then ""), UG_EINVAL if an argument is NULL or
 * size < UG_PATH_NAME_MAX + 1, or UG_ENOMEM.  Thread-safe. */
int ug_path_sanitize(const char *raw, char *out, size_t size);

/* The name for a download of `url`: its last non-empty path segment
 * (query and fragment ignored, an authority after "//" skipped),
 * percent-decoded exactly once ("%252e" gives "%2e"), then sanitised.  A
 * URL with no usable segment ("http://host/", "http://host/a/..") gives
 * UG_PATH_FALLBACK_NAME.  The scheme is not checked: that is the caller's
 * job.  Writes to `out` (room for `size` bytes).  Returns 0, UG_EINVAL (as
 * for ug_path_sanitize) or UG_ENOMEM; never UG_ENONAME.  Thread-safe. */
int ug_path_from_url(const char *url, char *out, size_t size);

/* The name a Content-Disposition header value proposes, e.g.
 * `attachment; filename="a.pdf"; filename*=UTF-8''%E2%82%AC.pdf`.  Follows
 * RFC 6266: a disposition type, then parameters; `filename` is a token or
 * a quoted string (backslash escapes undone, nothing percent-decoded);
 * `filename*` is an RFC 8187 ext-value in UTF-8 or ISO-8859-1 and is
 * preferred when both are present and it yields a name.  Of whatever path
 * the value holds, only what follows the last '/' or '\' is kept, then
 * sanitised.  Any syntax error, or the same parameter twice, makes the
 * whole header give no name; a filename* that is quoted, malformed or in
 * another charset is ignored in favour of filename.  Surrounding
 * whitespace and a trailing CR LF are allowed.  Writes to `out` (room for
 * `size` bytes).  Returns 0, UG_ENONAME (no usable name: out is ""),
 * UG_EINVAL (as for ug_path_sanitize) or UG_ENOMEM.  Thread-safe. */
int ug_path_from_content_disposition(const char *value, char *out,
                                     size_t size);

typedef struct ug_names ug_names;

/* Creates an empty name set.  If `avoid_dirfd` is a directory descriptor
 * (>= 0), a name whose entry exists in that directory (of any type, links
 * included) counts as taken; the descriptor is borrowed and must stay open
 * while the set is used.  Pass -1 to ignore the directory's contents.
 * Returns 0 and sets *out, UG_EINVAL or UG_ENOMEM.  Free with
 * ug_names_free. */
int ug_names_new(int avoid_dirfd, ug_names **out);

/* Frees the set.  NULL is harmless. */
void ug_names_free(ug_names *names);

/* Claims a unique name based on `name`, which must be one component (not
 * empty, ".", "..", no '/', at most UG_PATH_NAME_MAX bytes; usually the
 * output of the functions above).  The first claim of a name gets it as it
 * is; later ones get "stem (1).ext", "stem (2).ext"... (the extension is
 * the part from the last dot, if that dot is not the first byte and the
 * part is at most 20 bytes; the stem is shortened to keep the result
 * within UG_PATH_NAME_MAX).  A candidate is taken if it, or
 * "<candidate>.part", was handed out before, or, for a set with a
 * directory, if the candidate exists there.  Writes the result to `out`
 * (room for `size` bytes), which may be the same buffer as `name`.
 * Returns 0, UG_EINVAL (bad name or arguments, size < UG_PATH_NAME_MAX +
 * 1), UG_ENOMEM, or UG_EIO when the directory cannot be checked (errno
 * says why).  Not thread-safe: one thread at a time per set. */
int ug_names_claim(ug_names *names, const char *name, char *out,
                   size_t size);

/* How ug_path_open treats an existing entry. */
enum ug_path_open_mode {
    UG_PATH_CREATE = 0,  /* create; UG_EEXIST if the name exists (even as
                          * a link or a dangling link) */
    UG_PATH_REPLACE = 1, /* remove the entry (a file or a link, never what
                          * a link points to), then create */
    UG_PATH_APPEND = 2   /* open an existing regular file to continue it
                          * (resume), or create it */
};

/* Opens the file `name` inside the directory `dirfd` for reading and
 * writing, in `mode` (enum ug_path_open_mode), with O_NOFOLLOW and
 * O_CLOEXEC; writes always go to the end in UG_PATH_APPEND mode.  New
 * files get mode 0666 less the umask.  `name` must be one component (not
 * empty, ".", "..", no '/', at most NAME_MAX bytes).  The result is always
 * a regular file with one link, so a symbolic link, a hard link to a file
 * elsewhere, a FIFO or a device planted under `name` is refused, never
 * written through.  Returns 0 and sets *fd (the caller closes it);
 * UG_EINVAL; UG_EEXIST (CREATE and the name exists); UG_EUNSAFE (a link,
 * directory, hard-linked file or special file is in the way); UG_ENOMEM;
 * or UG_EIO for other failures (errno says why).  Thread-safe. */
int ug_path_open(int dirfd, const char *name, int mode, int *fd);

/* Renames `from` to `to`, both single components inside `dirfd` (checked
 * as for ug_path_open).  A link named `from` is moved, never followed; an
 * existing `to` (a file or a link, never its target) is replaced if
 * `replace` is non-zero, and gives UG_EEXIST otherwise.  Returns 0,
 * UG_EINVAL, UG_EEXIST, UG_EUNSAFE (`to` is a directory) or UG_EIO (errno
 * says why).  Thread-safe. */
int ug_path_rename(int dirfd, const char *from, const char *to, int replace);

#ifdef __cplusplus
}
#endif

#endif
