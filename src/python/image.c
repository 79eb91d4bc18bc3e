/* image.c - the _ungil.Image type and the _filter_files function.
 *
 * An Image is a ug_image view plus a mode and, for P and PA, a palette.
 * Its pixels are either owned (decoded, filtered, copied: allocated with
 * ug_image_alloc and writable) or borrowed from a buffer exporter such as
 * a NumPy array (fromarray): then the object keeps the exporter's
 * Py_buffer, and so the exporter itself, until it dies, and is writable
 * exactly when the exporter is.  Pixels are never reallocated, so buffers
 * exported by the Image stay valid without export counting.
 *
 * Every call that touches many pixels (decoding, filtering, encoding,
 * saving) runs with the GIL released, after the arguments are checked and
 * the output is allocated.  While it runs, the source Image is kept alive
 * by the call itself; another thread may write to the same pixels through
 * a buffer, which gives mixed bytes but never touches freed memory.
 *
 * python/ungil/_image.py subclasses this type as ungil.Image and adds what
 * needs Python: open() (the file is read by Python's own I/O, which
 * releases the GIL too), Pillow conversions and ImageFilter objects.
 * Constructors here build instances of whichever class they are called on.
 */
#include "binding.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "ungil/image_batch.h"

typedef struct {
    PyObject_HEAD
    ug_image img;
    ug_image_mode mode;
    int owned;               /* img.data comes from ug_image_alloc */
    int readonly;
    Py_buffer source;        /* the exporter's buffer when borrowed */
    Py_ssize_t shape[3], strides[3];
    int palette_size;        /* P and PA: entries used (0..256) */
    unsigned char palette[256][4]; /* RGBA */
} ImageObject;

/* ---- construction helpers --------------------------------------------- */

/* Fills the NumPy-style shape and strides of the buffer view (I;16 uses
 * the first two: one 2-byte item per pixel). */
static void set_layout(ImageObject *self) {
    int c = self->img.channels;
    self->shape[0] = self->img.height;
    self->shape[1] = self->img.width;
    self->shape[2] = c;
    self->strides[0] = (Py_ssize_t)self->img.stride;
    self->strides[1] = c;
    self->strides[2] = 1;
}

/* Number of dimensions of the buffer view: (h, w) for one sample per
 * pixel, (h, w, c) otherwise. */
static int view_ndim(const ImageObject *self) {
    return self->img.channels == 1 || self->mode == UG_MODE_I16 ? 2 : 3;
}

/* A new, empty object of class `cls` (no pixels yet). */
static ImageObject *image_bare(PyTypeObject *cls, ug_image_mode mode) {
    ImageObject *self = (ImageObject *)cls->tp_alloc(cls, 0);
    if (self)
        self->mode = mode;
    return self;
}

static PyObject *raise_alloc(int rc) {
    if (rc == UG_ERANGE) {
        PyErr_SetString(PyExc_OverflowError, "image too large");
        return NULL;
    }
    return ub_raise(rc);
}

/* A new object of class `cls` owning uninitialised pixels. */
static ImageObject *image_new_owned(PyTypeObject *cls, ug_image_mode mode,
                                    int width, int height) {
    ImageObject *self = image_bare(cls, mode);
    if (!self)
        return NULL;
    int rc = ug_image_alloc(&self->img, width, height,
                            ug_image_mode_channels(mode));
    if (rc) {
        Py_DECREF(self);
        return (ImageObject *)raise_alloc(rc);
    }
    self->owned = 1;
    set_layout(self);
    return self;
}

static void copy_palette(ImageObject *dst, const ImageObject *src) {
    dst->palette_size = src->palette_size;
    memcpy(dst->palette, src->palette, sizeof dst->palette);
}

/* Parses a mode name into a mode ungil holds. */
static int parse_mode(PyObject *name, ug_image_mode *out) {
    if (!PyUnicode_Check(name)) {
        PyErr_Format(PyExc_TypeError, "mode must be a str, not %.100s",
                     Py_TYPE(name)->tp_name);
        return -1;
    }
    const char *s = PyUnicode_AsUTF8(name);
    if (!s)
        return -1;
    *out = ug_image_mode_from_name(s);
    if (*out == UG_MODE_NONE) {
        PyErr_Format(PyExc_ValueError,
                     "unrecognized image mode %R (ungil.Image holds 1, L, LA, "
                     "P, PA, RGB, RGBA, CMYK and I;16)", name);
        return -1;
    }
    return 0;
}

/* Parses (width, height). */
static int parse_size(PyObject *size, int *w, int *h) {
    if (!PyTuple_Check(size) && !PyList_Check(size)) {
        PyErr_SetString(PyExc_TypeError, "size must be a (width, height) pair");
        return -1;
    }
    PyObject *seq = PySequence_Tuple(size);
    if (!seq)
        return -1;
    long lw = -1, lh = -1;
    int ok = PyTuple_GET_SIZE(seq) == 2;
    if (ok) {
        lw = PyLong_AsLong(PyTuple_GET_ITEM(seq, 0));
        lh = PyLong_AsLong(PyTuple_GET_ITEM(seq, 1));
    }
    Py_DECREF(seq);
    if (!ok) {
        PyErr_SetString(PyExc_TypeError, "size must be a (width, height) pair");
        return -1;
    }
    if (PyErr_Occurred())
        return -1;
    if (lw < 0 || lh < 0) {
        PyErr_SetString(PyExc_ValueError, "Width and height must be >= 0");
        return -1;
    }
    if (lw > INT32_MAX || lh > INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "image too large");
        return -1;
    }
    *w = (int)lw;
    *h = (int)lh;
    return 0;
}

/* ---- exceptions ------------------------------------------------------- */

/* Raises the exception a Pillow user expects for a decoding failure of
 * `name` (a str, or None for data from memory).  `data` is the encoded
 * file, used to report the pixel count of a decompression bomb. */
static PyObject *raise_decode(ub_state *st, int rc, PyObject *name,
                              const void *data, size_t size,
                              size_t max_pixels) {
    PyObject *what = name != Py_None ? PyObject_Repr(name)
                                     : PyUnicode_FromString("<data>");
    if (!what)
        return NULL;
    ug_image_info info;
    switch (rc) {
    case UG_EFORMAT:
        PyErr_Format(st->unidentified_image_error,
                     "cannot identify image file %U", what);
        break;
    case UG_ECORRUPT:
        PyErr_Format(PyExc_OSError, "image file is truncated or corrupt: %U",
                     what);
        break;
    case UG_EBOMB:
        if (ug_image_read_info(data, size, &info) == 0)
            PyErr_Format(st->decompression_bomb_error,
                         "Image size (%llu pixels) exceeds limit of %zu "
                         "pixels, could be decompression bomb DOS attack.",
                         (unsigned long long)info.width *
                             (unsigned long long)info.height,
                         max_pixels);
        else
            PyErr_Format(st->decompression_bomb_error,
                         "Image exceeds limit of %zu pixels, could be "
                         "decompression bomb DOS attack.", max_pixels);
        break;
    default:
        ub_raise(rc);
        break;
    }
    Py_DECREF(what);
    return NULL;
}

/* ---- constructors ----------------------------------------------------- */

PyDoc_STRVAR(frombytes_doc,
"frombytes(mode, size, data)\n--\n\n"
"A new Image of `mode` and `size` (width, height) holding a copy of the\n"
"pixels in `data` (any bytes-like object), laid out as Pillow's\n"
"Image.frombytes expects them: rows top to bottom, interleaved 8-bit\n"
"samples (I;16: two bytes per pixel, little-endian; 1: eight pixels per\n"
"byte, most significant bit first, each row padded to a whole byte).\n"
"Extra bytes are ignored; too few raise ValueError (\"not enough image\n"
"data\"), as in Pillow.  P and PA images start with an empty palette\n"
"(see putpalette).");

static PyObject *image_frombytes(PyTypeObject *cls, PyObject *args,
                                 PyObject *kw) {
    static char *kwlist[] = {"mode", "size", "data", NULL};
    PyObject *mode_obj, *size_obj, *data_obj;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOO:frombytes", kwlist,
                                     &mode_obj, &size_obj, &data_obj))
        return NULL;
    ug_image_mode mode;
    int w, h;
    if (parse_mode(mode_obj, &mode) < 0 || parse_size(size_obj, &w, &h) < 0)
        return NULL;
    Py_buffer data;
    if (PyObject_GetBuffer(data_obj, &data, PyBUF_SIMPLE) < 0)
        return NULL;
    ImageObject *self = NULL;
    size_t c = (size_t)ug_image_mode_channels(mode);
    size_t row = mode == UG_MODE_1 ? ((size_t)w + 7) / 8 : (size_t)w * c;
    if (row && (size_t)data.len / row < (size_t)h) {
        PyErr_SetString(PyExc_ValueError, "not enough image data");
        goto out;
    }
    self = image_new_owned(cls, mode, w, h);
    if (!self)
        goto out;
    const unsigned char *in = data.buf;
    for (int y = 0; y < h; y++) {
        unsigned char *out = self->img.data + (size_t)y * self->img.stride;
        const unsigned char *src = in + (size_t)y * row;
        if (mode == UG_MODE_1) {
            for (int x = 0; x < w; x++)
                out[x] = (src[x >> 3] >> (7 - (x & 7))) & 1 ? 255 : 0;
        } else {
            memcpy(out, src, row);
        }
    }
out:
    PyBuffer_Release(&data);
    return (PyObject *)self;
}

/* Whether `format` (a struct-module format string) is one unsigned byte. */
static int is_u8_format(const char *format) {
    if (!format)
        return 1;
    if (*format == '@' || *format == '=' || *format == '<' || *format == '>' ||
        *format == '!')
        format++;
    return !strcmp(format, "B");
}

PyDoc_STRVAR(fromarray_doc,
"fromarray(obj, mode=None)\n--\n\n"
"An Image sharing the memory of `obj`: a NumPy array or any object with\n"
"the buffer protocol, of unsigned bytes, shaped (height, width) or\n"
"(height, width, channels) with 1 to 4 channels.  The mode defaults to\n"
"L, LA, RGB or RGBA by channel count; any other mode with the same\n"
"number of bytes per pixel may be named (\"CMYK\", \"P\", ...).\n\n"
"No copy is made when each pixel's samples are adjacent and rows are\n"
"evenly spaced (any C-contiguous array, or a slice of rows or columns of\n"
"one): the Image keeps a reference to `obj`, sees later writes to it, and\n"
"is writable exactly when `obj` is.  Any other layout (negative or\n"
"interleaved strides, a transposed array) is copied into memory the\n"
"Image owns.");

static PyObject *image_fromarray(PyTypeObject *cls, PyObject *args,
                                 PyObject *kw) {
    static char *kwlist[] = {"obj", "mode", NULL};
    PyObject *obj, *mode_obj = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O:fromarray", kwlist, &obj,
                                     &mode_obj))
        return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(obj, &view, PyBUF_RECORDS_RO) < 0)
        return NULL;
    ImageObject *self = NULL;
    if (!is_u8_format(view.format) || view.itemsize != 1) {
        PyErr_Format(PyExc_TypeError,
                     "fromarray needs unsigned bytes (uint8), not format '%s'",
                     view.format ? view.format : "B");
        goto fail;
    }
    if (view.ndim != 2 && view.ndim != 3) {
        PyErr_Format(PyExc_ValueError,
                     "fromarray needs a 2-D (height, width) or 3-D (height, "
                     "width, channels) buffer, not %d-D; for flat bytes use "
                     "frombytes(mode, size, data)", view.ndim);
        goto fail;
    }
    Py_ssize_t h = view.shape[0], w = view.shape[1];
    Py_ssize_t c = view.ndim == 3 ? view.shape[2] : 1;
    if (c < 1 || c > 4) {
        PyErr_Format(PyExc_ValueError,
                     "fromarray needs 1 to 4 channels, not %zd", c);
        goto fail;
    }
    if (h > INT32_MAX || w > INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "image too large");
        goto fail;
    }
    static const ug_image_mode by_channels[] = {UG_MODE_L, UG_MODE_LA,
                                                UG_MODE_RGB, UG_MODE_RGBA};
    ug_image_mode mode = by_channels[c - 1];
    if (mode_obj != Py_None) {
        if (parse_mode(mode_obj, &mode) < 0)
            goto fail;
        if (ug_image_mode_channels(mode) != c) {
            PyErr_Format(PyExc_ValueError,
                         "mode %U has %d bytes per pixel, the buffer %zd",
                         mode_obj, ug_image_mode_channels(mode), c);
            goto fail;
        }
    }
    Py_ssize_t s0 = view.strides[0], s1 = view.strides[1];
    Py_ssize_t s2 = view.ndim == 3 ? view.strides[2] : 1;
    int shareable = h > 0 && w > 0 && s2 == 1 && (s1 == c || w == 1) &&
                    (s0 >= w * c || h == 1);
    if (shareable) {
        self = image_bare(cls, mode);
        if (!self)
            goto fail;
        self->source = view; /* keeps view.obj alive */
        self->readonly = view.readonly;
        self->img.width = (int)w;
        self->img.height = (int)h;
        self->img.channels = (int)c;
        self->img.stride = h == 1 ? (size_t)(w * c) : (size_t)s0;
        self->img.data = view.buf;
        set_layout(self);
        return (PyObject *)self;
    }
    self = image_new_owned(cls, mode, (int)w, (int)h);
    if (!self)
        goto fail;
    for (Py_ssize_t y = 0; y < h; y++) {
        unsigned char *out = self->img.data + (size_t)y * self->img.stride;
        const char *row = (const char *)view.buf + y * s0;
        for (Py_ssize_t x = 0; x < w; x++)
            for (Py_ssize_t k = 0; k < c; k++)
                out[x * c + k] = (unsigned char)row[x * s1 + k * s2];
    }
    PyBuffer_Release(&view);
    return (PyObject *)self;
fail:
    PyBuffer_Release(&view);
    return NULL;
}

PyDoc_STRVAR(decode_doc,
"_decode(data, name, max_pixels)\n--\n\n"
"Decode JPEG or PNG `data` with the GIL released (used by Image.open).");

static PyObject *image_decode(PyTypeObject *cls, PyTypeObject *defining,
                              PyObject *const *args, size_t nargsf,
                              PyObject *kwnames) {
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs != 3 || kwnames) {
        PyErr_SetString(PyExc_TypeError,
                        "_decode() takes 3 positional arguments");
        return NULL;
    }
    ub_state *st = ub_state_of_type(defining);
    PyObject *name = args[1];
    size_t max_pixels = 0;
    if (args[2] != Py_None) {
        max_pixels = PyLong_AsSize_t(args[2]);
        if (max_pixels == (size_t)-1 && PyErr_Occurred())
            return NULL;
    }
    Py_buffer data;
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0)
        return NULL;
    ug_decode_options opts;
    ug_decode_options_init(&opts);
    opts.max_pixels = max_pixels;
    ug_image img = {0};
    ug_image_info info;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ug_image_decode(data.buf, (size_t)data.len, &opts, &img, &info);
    Py_END_ALLOW_THREADS
    ImageObject *self = NULL;
    if (rc) {
        raise_decode(st, rc, name, data.buf, (size_t)data.len, max_pixels);
        goto out;
    }
    self = image_bare(cls, info.mode);
    if (!self) {
        ug_image_release(&img);
        goto out;
    }
    self->img = img;
    self->owned = 1;
    set_layout(self);
    if (info.mode == UG_MODE_P || info.mode == UG_MODE_PA) {
        self->palette_size = info.palette_size;
        memcpy(self->palette, info.palette, sizeof self->palette);
    }
out:
    PyBuffer_Release(&data);
    if (!self)
        return NULL;
    return Py_BuildValue("(Ns)", (PyObject *)self,
                         ug_image_format_name(info.format));
}

static PyObject *image_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    PyErr_Format(PyExc_TypeError,
                 "cannot create '%.100s' instances directly: use "
                 "ungil.Image.open, frombytes, fromarray or from_pil",
                 type->tp_name);
    return NULL;
}

static void image_dealloc(ImageObject *self) {
    PyTypeObject *tp = Py_TYPE(self);
    if (self->owned)
        ug_image_release(&self->img);
    if (self->source.obj)
        PyBuffer_Release(&self->source);
    tp->tp_free(self);
    Py_DECREF(tp);
}

/* ---- kernels ---------------------------------------------------------- */

int ub_parse_kernel(PyObject *spec, ug_kernel *k) {
    if (PyUnicode_Check(spec)) {
        const char *name = PyUnicode_AsUTF8(spec);
        if (!name)
            return -1;
        if (ug_kernel_builtin(name, k) == 0)
            return 0;
        PyObject *names = PyList_New(0);
        for (size_t i = 0; names && ug_kernel_builtin_name(i); i++) {
            PyObject *s = PyUnicode_FromString(ug_kernel_builtin_name(i));
            if (!s || PyList_Append(names, s) < 0)
                Py_CLEAR(names);
            Py_XDECREF(s);
        }
        if (names)
            PyErr_Format(PyExc_ValueError,
                         "unknown filter %R; the built-in filters are %R", spec,
                         names);
        Py_XDECREF(names);
        return -1;
    }
    if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) != 4) {
        PyErr_Format(PyExc_TypeError,
                     "a filter is a built-in name or a (size, weights, scale, "
                     "offset) tuple, not %.100s", Py_TYPE(spec)->tp_name);
        return -1;
    }
    PyObject *size_obj = PyTuple_GET_ITEM(spec, 0);
    long size = -1;
    if (PyTuple_Check(size_obj) && PyTuple_GET_SIZE(size_obj) == 2) {
        long a = PyLong_AsLong(PyTuple_GET_ITEM(size_obj, 0));
        long b = PyLong_AsLong(PyTuple_GET_ITEM(size_obj, 1));
        if (PyErr_Occurred())
            return -1;
        size = a == b ? a : -1;
    } else {
        size = PyLong_AsLong(size_obj);
        if (size == -1 && PyErr_Occurred())
            return -1;
    }
    if (size != 3 && size != 5) {
        PyErr_SetString(PyExc_ValueError,
                        "bad kernel size: ungil filters with 3x3 and 5x5 "
                        "kernels");
        return -1;
    }
    PyObject *weights = PySequence_Fast(PyTuple_GET_ITEM(spec, 1),
                                        "kernel weights must be a sequence");
    if (!weights)
        return -1;
    if (PySequence_Fast_GET_SIZE(weights) != size * size) {
        Py_DECREF(weights);
        PyErr_SetString(PyExc_ValueError, "not enough coefficients in kernel");
        return -1;
    }
    float w[25];
    double sum = 0;
    for (long i = 0; i < size * size; i++) {
        double v = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(weights, i));
        if (v == -1.0 && PyErr_Occurred()) {
            Py_DECREF(weights);
            return -1;
        }
        w[i] = (float)v;
        sum += v;
    }
    Py_DECREF(weights);
    PyObject *scale_obj = PyTuple_GET_ITEM(spec, 2);
    double scale = sum;
    if (scale_obj != Py_None) {
        scale = PyFloat_AsDouble(scale_obj);
        if (scale == -1.0 && PyErr_Occurred())
            return -1;
    }
    double offset = PyFloat_AsDouble(PyTuple_GET_ITEM(spec, 3));
    if (offset == -1.0 && PyErr_Occurred())
        return -1;
    float fscale = (float)scale;
    return ug_kernel_init(k, (int)size, w, &fscale, (float)offset) ? -1 : 0;
}

/* Reads threads=None|int (1..4096); 0 means None. */
static int parse_threads(PyObject *obj, unsigned *out) {
    *out = 0;
    if (obj == Py_None)
        return 0;
    if (PyBool_Check(obj) || !PyLong_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "threads must be an int or None, not "
                     "%.100s", Py_TYPE(obj)->tp_name);
        return -1;
    }
    long v = PyLong_AsLong(obj);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (v < 1 || v > 4096) {
        PyErr_SetString(PyExc_ValueError, "threads must be between 1 and 4096");
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

static void free_call_pool(ug_pool *pool) {
    if (!pool)
        return;
    Py_BEGIN_ALLOW_THREADS
    ug_pool_free(pool);
    Py_END_ALLOW_THREADS
}

/* ---- methods ---------------------------------------------------------- */

PyDoc_STRVAR(filter_doc,
"filter(kernel, threads=None)\n--\n\n"
"A new Image: this one filtered as PIL.Image.filter would, byte for byte.\n"
"`kernel` is a built-in filter name (\"FIND_EDGES\", case-insensitive) or\n"
"a (size, weights, scale, offset) tuple (size 3 or 5, or (3, 3)/(5, 5);\n"
"scale None = the sum of the weights).  threads=None uses every core (the\n"
"module's compute pool), threads=1 only the calling thread, threads=n a\n"
"pool of n-1 helpers made for the call plus the calling thread.  The GIL\n"
"is released while filtering.  Palette images raise ValueError (\"cannot\n"
"filter palette images\"), as in Pillow.");

static PyObject *image_filter(ImageObject *self, PyTypeObject *defining,
                              PyObject *const *args, size_t nargsf,
                              PyObject *kwnames) {
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *spec = NULL, *threads_obj = Py_None;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "filter() takes at most 2 arguments");
        return NULL;
    }
    if (nargs >= 1)
        spec = args[0];
    if (nargs == 2)
        threads_obj = args[1];
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, i);
        if (!spec && PyUnicode_CompareWithASCIIString(key, "kernel") == 0)
            spec = args[nargs + i];
        else if (nargs < 2 &&
                 PyUnicode_CompareWithASCIIString(key, "threads") == 0)
            threads_obj = args[nargs + i];
        else {
            PyErr_Format(PyExc_TypeError,
                         "filter() got an unexpected keyword argument %R", key);
            return NULL;
        }
    }
    if (!spec) {
        PyErr_SetString(PyExc_TypeError, "filter() missing argument 'kernel'");
        return NULL;
    }
    const char *why = NULL;
    if (ug_image_mode_can_filter(self->mode, &why)) {
        PyErr_SetString(PyExc_ValueError, why);
        return NULL;
    }
    ug_kernel kernel;
    unsigned threads;
    if (ub_parse_kernel(spec, &kernel) < 0 || parse_threads(threads_obj, &threads) < 0)
        return NULL;
    ub_state *st = ub_state_of_type(defining);
    ug_pool *pool = NULL, *own = NULL;
    if (threads == 0 && !(pool = ub_compute_pool(st)))
        return NULL;
    if (threads > 1 && !(pool = own = ub_new_pool(threads - 1, "filter")))
        return NULL;
    ImageObject *out = image_new_owned(Py_TYPE(self), self->mode,
                                       self->img.width, self->img.height);
    if (!out) {
        free_call_pool(own);
        return NULL;
    }
    copy_palette(out, self);
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ug_image_filter(pool, &self->img, &out->img, &kernel);
    Py_END_ALLOW_THREADS
    free_call_pool(own);
    if (rc) {
        Py_DECREF(out);
        return ub_raise(rc);
    }
    return (PyObject *)out;
}

/* Resolves a format argument (None, "JPEG", "JPG", "PNG", any case). */
static int parse_format(PyObject *obj, ug_image_format *out) {
    *out = UG_FORMAT_AUTO;
    if (obj == Py_None)
        return 0;
    if (!PyUnicode_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "format must be a str or None, not "
                     "%.100s", Py_TYPE(obj)->tp_name);
        return -1;
    }
    const char *s = PyUnicode_AsUTF8(obj);
    if (!s)
        return -1;
    if (!strcasecmp(s, "JPEG") || !strcasecmp(s, "JPG"))
        *out = UG_FORMAT_JPEG;
    else if (!strcasecmp(s, "PNG"))
        *out = UG_FORMAT_PNG;
    else {
        PyErr_Format(PyExc_ValueError,
                     "unknown format %R: ungil writes JPEG and PNG", obj);
        return -1;
    }
    return 0;
}

/* Fills encoder options from the arguments of save/_encode.  The palette
 * is copied into `palette`, so that putpalette on another thread cannot
 * change it while the encoder runs without the GIL. */
static int encode_options(ImageObject *self, PyObject *format, int quality,
                          int compress_level, ug_encode_options *o,
                          unsigned char palette[256][4]) {
    ug_encode_options_init(o);
    if (parse_format(format, &o->format) < 0)
        return -1;
    if (quality < 1 || quality > 100) {
        PyErr_SetString(PyExc_ValueError, "quality must be between 1 and 100");
        return -1;
    }
    if (compress_level < 0 || compress_level > 9) {
        PyErr_SetString(PyExc_ValueError,
                        "compress_level must be between 0 and 9");
        return -1;
    }
    o->quality = quality;
    o->compress_level = compress_level;
    if (self->mode == UG_MODE_P || self->mode == UG_MODE_PA) {
        memcpy(palette, self->palette, sizeof self->palette);
        o->palette = (const unsigned char (*)[4])palette;
        o->palette_size = self->palette_size;
    }
    return 0;
}

/* Raises what Pillow would for an encoding failure. */
static PyObject *raise_encode(ImageObject *self, int rc,
                              ug_image_format format, PyObject *path) {
    if (rc == UG_EMODE) {
        PyErr_Format(PyExc_OSError, "cannot write mode %s as %s",
                     ug_image_mode_name(self->mode),
                     ug_image_format_name(format));
        return NULL;
    }
    if (rc == UG_EINVAL && (self->img.width == 0 || self->img.height == 0)) {
        PyErr_SetString(PyExc_ValueError, "cannot write an empty image");
        return NULL;
    }
    if (rc == UG_EINVAL && (self->mode == UG_MODE_P || self->mode == UG_MODE_PA) &&
        self->palette_size == 0) {
        PyErr_SetString(PyExc_ValueError, "palette image has no palette: "
                                          "call putpalette first");
        return NULL;
    }
    if (rc == UG_EIO && path) {
        if (errno)
            return PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path);
        PyErr_Format(PyExc_OSError, "cannot write %R", path);
        return NULL;
    }
    return ub_raise(rc);
}

PyDoc_STRVAR(encode_doc,
"_encode(format, quality, compress_level)\n--\n\n"
"The image encoded as JPEG or PNG, as bytes (GIL released).");

static PyObject *image_encode(ImageObject *self, PyObject *args) {
    PyObject *format;
    int quality, compress_level;
    if (!PyArg_ParseTuple(args, "Oii:_encode", &format, &quality,
                          &compress_level))
        return NULL;
    ug_encode_options o;
    unsigned char palette[256][4];
    if (encode_options(self, format, quality, compress_level, &o, palette) < 0)
        return NULL;
    if (o.format == UG_FORMAT_AUTO) {
        PyErr_SetString(PyExc_ValueError, "a format is needed to write to a "
                                          "file object");
        return NULL;
    }
    unsigned char *buf = NULL;
    size_t size = 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ug_image_encode(&self->img, self->mode, &o, &buf, &size);
    Py_END_ALLOW_THREADS
    if (rc)
        return raise_encode(self, rc, o.format, NULL);
    PyObject *bytes = PyBytes_FromStringAndSize((const char *)buf,
                                                (Py_ssize_t)size);
    free(buf);
    return bytes;
}

PyDoc_STRVAR(save_doc,
"_save(path, format, quality, compress_level)\n--\n\n"
"Encode and save atomically to `path` (GIL released).");

static PyObject *image_save(ImageObject *self, PyObject *args) {
    PyObject *path, *format, *path_bytes = NULL;
    int quality, compress_level;
    if (!PyArg_ParseTuple(args, "OOii:_save", &path, &format, &quality,
                          &compress_level))
        return NULL;
    ug_encode_options o;
    unsigned char palette[256][4];
    if (encode_options(self, format, quality, compress_level, &o, palette) < 0)
        return NULL;
    if (!PyUnicode_FSConverter(path, &path_bytes))
        return NULL;
    const char *p = PyBytes_AS_STRING(path_bytes);
    PyObject *result = NULL;
    if (o.format == UG_FORMAT_AUTO) {
        int f = ug_image_format_from_path(p);
        if (f < 0) {
            const char *slash = strrchr(p, '/');
            const char *dot = strrchr(slash ? slash : p, '.');
            PyErr_Format(PyExc_ValueError, "unknown file extension: %s",
                         dot ? dot : "");
            goto out;
        }
        o.format = (ug_image_format)f;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    errno = 0;
    rc = ug_image_save(p, &self->img, self->mode, &o);
    Py_END_ALLOW_THREADS
    if (rc) {
        raise_encode(self, rc, o.format, path);
        goto out;
    }
    result = Py_NewRef(Py_None);
out:
    Py_DECREF(path_bytes);
    return result;
}

PyDoc_STRVAR(tobytes_doc,
"tobytes()\n--\n\n"
"The pixels as bytes, laid out as PIL.Image.tobytes() gives them (see\n"
"frombytes; mode 1 is packed eight pixels per byte, any non-zero sample\n"
"counting as set).");

static PyObject *image_tobytes(ImageObject *self, PyObject *unused) {
    const ug_image *im = &self->img;
    size_t row = self->mode == UG_MODE_1 ? ((size_t)im->width + 7) / 8
                                         : (size_t)im->width * im->channels;
    PyObject *bytes = PyBytes_FromStringAndSize(NULL,
                                                (Py_ssize_t)(row * im->height));
    if (!bytes)
        return NULL;
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(bytes);
    for (int y = 0; y < im->height; y++, out += row) {
        const unsigned char *in = im->data + (size_t)y * im->stride;
        if (self->mode != UG_MODE_1) {
            memcpy(out, in, row);
            continue;
        }
        memset(out, 0, row);
        for (int x = 0; x < im->width; x++)
            if (in[x])
                out[x >> 3] |= (unsigned char)(0x80 >> (x & 7));
    }
    return bytes;
}

static int has_palette_mode(const ImageObject *self) {
    return self->mode == UG_MODE_P || self->mode == UG_MODE_PA;
}

/* Parses rawmode "RGB" or "RGBA" into a sample count. */
static int palette_rawmode(const char *rawmode) {
    if (!strcmp(rawmode, "RGB"))
        return 3;
    if (!strcmp(rawmode, "RGBA"))
        return 4;
    PyErr_Format(PyExc_ValueError,
                 "unsupported palette mode %s (use RGB or RGBA)", rawmode);
    return -1;
}

PyDoc_STRVAR(getpalette_doc,
"getpalette(rawmode='RGB')\n--\n\n"
"The palette of a P or PA image as a flat list of ints (RGB or RGBA per\n"
"entry), as PIL.Image.getpalette; None for other modes.");

static PyObject *image_getpalette(ImageObject *self, PyObject *args,
                                  PyObject *kw) {
    static char *kwlist[] = {"rawmode", NULL};
    const char *rawmode = "RGB";
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|s:getpalette", kwlist,
                                     &rawmode))
        return NULL;
    int n = palette_rawmode(rawmode);
    if (n < 0)
        return NULL;
    if (!has_palette_mode(self))
        Py_RETURN_NONE;
    PyObject *list = PyList_New((Py_ssize_t)self->palette_size * n);
    for (int i = 0; list && i < self->palette_size; i++)
        for (int k = 0; k < n; k++) {
            PyObject *v = PyLong_FromLong(self->palette[i][k]);
            if (!v) {
                Py_CLEAR(list);
                break;
            }
            PyList_SET_ITEM(list, (Py_ssize_t)i * n + k, v);
        }
    return list;
}

PyDoc_STRVAR(putpalette_doc,
"putpalette(data, rawmode='RGB')\n--\n\n"
"Set the palette of a P or PA image from a bytes-like object or a list of\n"
"ints, three (RGB) or four (RGBA) per entry, at most 256 entries; RGB\n"
"entries are opaque.  ValueError for other modes, as in Pillow.");

static PyObject *image_putpalette(ImageObject *self, PyObject *args,
                                  PyObject *kw) {
    static char *kwlist[] = {"data", "rawmode", NULL};
    PyObject *data;
    const char *rawmode = "RGB";
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|s:putpalette", kwlist, &data,
                                     &rawmode))
        return NULL;
    if (!has_palette_mode(self)) {
        PyErr_SetString(PyExc_ValueError, "illegal image mode");
        return NULL;
    }
    int n = palette_rawmode(rawmode);
    if (n < 0)
        return NULL;
    PyObject *bytes = PyBytes_FromObject(data);
    if (!bytes)
        return NULL;
    Py_ssize_t len = PyBytes_GET_SIZE(bytes);
    if (len % n || len / n > 256) {
        Py_DECREF(bytes);
        PyErr_Format(PyExc_ValueError,
                     "a palette is at most 256 entries of %d bytes", n);
        return NULL;
    }
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(bytes);
    self->palette_size = (int)(len / n);
    memset(self->palette, 0, sizeof self->palette);
    for (int i = 0; i < self->palette_size; i++) {
        memcpy(self->palette[i], p + (size_t)i * n, (size_t)n);
        if (n == 3)
            self->palette[i][3] = 255;
    }
    Py_DECREF(bytes);
    Py_RETURN_NONE;
}

/* As Pillow's: <ungil.Image image mode=RGB size=64x48 at 0x...>. */
static PyObject *image_repr(ImageObject *self) {
    PyTypeObject *tp = Py_TYPE(self);
    PyObject *module = PyObject_GetAttrString((PyObject *)tp, "__module__");
    PyObject *name = PyObject_GetAttrString((PyObject *)tp, "__qualname__");
    PyObject *r = NULL;
    if (module && name)
        r = PyUnicode_FromFormat("<%S.%S image mode=%s size=%dx%d at %p>",
                                 module, name, ug_image_mode_name(self->mode),
                                 self->img.width, self->img.height, self);
    Py_XDECREF(module);
    Py_XDECREF(name);
    return r;
}

static PyObject *image_get_mode(ImageObject *self, void *closure) {
    return PyUnicode_FromString(ug_image_mode_name(self->mode));
}

static PyObject *image_get_size(ImageObject *self, void *closure) {
    return Py_BuildValue("(ii)", self->img.width, self->img.height);
}

static PyObject *image_get_width(ImageObject *self, void *closure) {
    return PyLong_FromLong(self->img.width);
}

static PyObject *image_get_height(ImageObject *self, void *closure) {
    return PyLong_FromLong(self->img.height);
}

static PyObject *image_get_readonly(ImageObject *self, void *closure) {
    return PyBool_FromLong(self->readonly);
}

static PyObject *image_get_shares(ImageObject *self, void *closure) {
    return Py_NewRef(self->source.obj ? self->source.obj : Py_None);
}

/* ---- the buffer protocol ---------------------------------------------- */

static int image_getbuffer(ImageObject *self, Py_buffer *view, int flags) {
    const ug_image *im = &self->img;
    int wide = self->mode == UG_MODE_I16;
    size_t row = (size_t)im->width * im->channels;
    int contiguous = im->height <= 1 || im->stride == row;
    if ((flags & PyBUF_WRITABLE) == PyBUF_WRITABLE && self->readonly) {
        PyErr_SetString(PyExc_BufferError,
                        "the image shares read-only memory");
        return -1;
    }
    if (!contiguous && ((flags & PyBUF_STRIDES) != PyBUF_STRIDES ||
                        (flags & PyBUF_ANY_CONTIGUOUS) == PyBUF_ANY_CONTIGUOUS ||
                        (flags & PyBUF_C_CONTIGUOUS) == PyBUF_C_CONTIGUOUS ||
                        (flags & PyBUF_F_CONTIGUOUS) == PyBUF_F_CONTIGUOUS)) {
        PyErr_SetString(PyExc_BufferError,
                        "the image's rows are not contiguous");
        return -1;
    }
    if ((flags & PyBUF_F_CONTIGUOUS) == PyBUF_F_CONTIGUOUS &&
        (flags & PyBUF_ANY_CONTIGUOUS) != PyBUF_ANY_CONTIGUOUS &&
        im->height > 1 && im->width > 0) {
        PyErr_SetString(PyExc_BufferError, "the image is not Fortran-ordered");
        return -1;
    }
    view->obj = Py_NewRef(self);
    /* An empty image has no data: any valid address will do for 0 bytes. */
    view->buf = im->data ? (void *)im->data : (void *)self->shape;
    view->len = (Py_ssize_t)(row * (size_t)im->height);
    view->readonly = self->readonly;
    view->itemsize = wide ? 2 : 1;
    view->format = (flags & PyBUF_FORMAT) ? (wide ? "<H" : "B") : NULL;
    view->suboffsets = NULL;
    view->internal = NULL;
    if ((flags & PyBUF_ND) == PyBUF_ND) {
        view->ndim = view_ndim(self);
        view->shape = self->shape;
        view->strides = (flags & PyBUF_STRIDES) == PyBUF_STRIDES ? self->strides
                                                                 : NULL;
    } else {
        view->ndim = 1;
        view->shape = NULL;
        view->strides = NULL;
    }
    return 0;
}

static void image_releasebuffer(ImageObject *self, Py_buffer *view) {}

/* ---- filter_files ----------------------------------------------------- */

typedef struct {
    ug_pool *pool;
    ug_image_batch_options opts;
    const char **inputs;
    size_t n;
    ug_image_batch_result *results;
    int cancel;
    int rc;
    size_t done, failed; /* counted by on_done; read atomically */
} BatchCall;

/* Counts finished files for the progress callback (runs on workers). */
static void count_done(void *ctx, const ug_image_batch_result *r) {
    BatchCall *c = ctx;
    if (r->error == UG_ECANCELED)
        return;
    if (r->error)
        __atomic_add_fetch(&c->failed, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&c->done, 1, __ATOMIC_RELAXED);
}

/* Calls progress(done, failed, total); -1 if it raised. */
static int report_progress(PyObject *progress, BatchCall *c) {
    if (progress == Py_None)
        return 0;
    PyObject *r = PyObject_CallFunction(
        progress, "nnn", (Py_ssize_t)__atomic_load_n(&c->done, __ATOMIC_RELAXED),
        (Py_ssize_t)__atomic_load_n(&c->failed, __ATOMIC_RELAXED),
        (Py_ssize_t)c->n);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

static int batch_task(void *arg) {
    BatchCall *c = arg;
    c->rc = ug_image_batch_run(c->pool, &c->opts, c->inputs, c->n, &c->results);
    return 0;
}

static int poll_future(void *ctx, int64_t slice_ns) {
    return ug_future_wait(ctx, slice_ns) == 0;
}

enum { PROGRESS_NS = 100 * 1000 * 1000 };

/* Waits for the batch's future, calling `progress` (or None) about every
 * 100 ms and once at the end.  On Ctrl-C, or an exception from progress,
 * raises the cancel flag, waits for the runners to finish their current
 * files, and returns -1 with the exception set. */
static int wait_batch(BatchCall *call, ug_future *f, PyObject *progress) {
    for (;;) {
        uint64_t deadline =
            progress != Py_None ? ug_clock_ns() + PROGRESS_NS : 0;
        int w = ub_wait(poll_future, f, deadline);
        if (w == 1 && report_progress(progress, call) == 0)
            return 0;
        if (w == 1)
            return -1; /* finished, but the last progress call raised */
        if (w < 0 || report_progress(progress, call) < 0)
            break;
    }
    __atomic_store_n(&call->cancel, 1, __ATOMIC_RELAXED);
    Py_BEGIN_ALLOW_THREADS
    ug_future_wait(f, -1);
    Py_END_ALLOW_THREADS
    return -1;
}

PyObject *ub_filter_files(PyObject *module, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"paths", "kernel", "out_dir", "threads", "format",
                             "quality", "compress_level", "max_pixels",
                             "progress", NULL};
    PyObject *paths, *spec, *out_dir, *threads_obj = Py_None,
             *format_obj = Py_None, *max_obj = Py_None, *progress = Py_None;
    int quality = 75, compress_level = 6;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!OO|OOiiOO:_filter_files",
                                     kwlist, &PyList_Type, &paths, &spec,
                                     &out_dir, &threads_obj, &format_obj,
                                     &quality, &compress_level, &max_obj,
                                     &progress))
        return NULL;
    if (progress != Py_None && !PyCallable_Check(progress)) {
        PyErr_SetString(PyExc_TypeError, "progress must be callable or None");
        return NULL;
    }
    BatchCall call = {0};
    ug_image_batch_options_init(&call.opts);
    ug_kernel kernel;
    if (spec != Py_None) {
        if (ub_parse_kernel(spec, &kernel) < 0)
            return NULL;
        call.opts.kernel = &kernel;
    }
    unsigned threads;
    if (parse_threads(threads_obj, &threads) < 0 ||
        parse_format(format_obj, &call.opts.format) < 0)
        return NULL;
    if (quality < 1 || quality > 100 || compress_level < 0 ||
        compress_level > 9) {
        PyErr_SetString(PyExc_ValueError, "quality must be 1..100 and "
                                          "compress_level 0..9");
        return NULL;
    }
    call.opts.quality = quality;
    call.opts.compress_level = compress_level;
    call.opts.max_pixels = 0; /* None: no limit */
    if (max_obj != Py_None) {
        call.opts.max_pixels = PyLong_AsSize_t(max_obj);
        if (call.opts.max_pixels == (size_t)-1 && PyErr_Occurred())
            return NULL;
    }

    PyObject *dir_bytes = NULL, *encoded = NULL, *result = NULL;
    ug_pool *own = NULL;
    ug_future *f = NULL;
    if (!PyUnicode_FSConverter(out_dir, &dir_bytes))
        return NULL;
    call.opts.out_dir = PyBytes_AS_STRING(dir_bytes);
    call.n = (size_t)PyList_GET_SIZE(paths);
    encoded = PyList_New((Py_ssize_t)call.n);
    call.inputs = PyMem_Calloc(call.n ? call.n : 1, sizeof *call.inputs);
    if (!encoded || !call.inputs) {
        PyErr_NoMemory();
        goto out;
    }
    for (size_t i = 0; i < call.n; i++) {
        PyObject *b = NULL;
        if (!PyUnicode_FSConverter(PyList_GET_ITEM(paths, (Py_ssize_t)i), &b))
            goto out;
        PyList_SET_ITEM(encoded, (Py_ssize_t)i, b);
        call.inputs[i] = PyBytes_AS_STRING(b);
    }

    ub_state *st = ub_state_of_module(module);
    ug_pool *pool = ub_compute_pool(st);
    if (!pool)
        goto out;
    if (threads > ug_pool_workers(pool)) {
        if (!(pool = own = ub_new_pool(threads, "filter_files")))
            goto out;
    }
    call.pool = pool;
    call.opts.threads = threads ? threads : ug_pool_workers(pool);
    call.opts.cancel = &call.cancel;
    call.opts.on_done = count_done;
    call.opts.ctx = &call;

    ug_task task = {.fn = batch_task, .arg = &call};
    int rc = ug_pool_try_submit(pool, &task, &f);
    if (rc == UG_EFULL) {
        Py_BEGIN_ALLOW_THREADS
        rc = ug_pool_submit(pool, &task, &f);
        Py_END_ALLOW_THREADS
    }
    if (rc) {
        ub_raise(rc);
        goto out;
    }
    if (wait_batch(&call, f, progress) < 0)
        goto out;
    if (call.rc == UG_EIO) {
        PyErr_Format(PyExc_NotADirectoryError, "cannot use %R as the output "
                     "directory: not an existing directory", out_dir);
        goto out;
    }
    if (call.rc && call.rc != UG_ECANCELED) {
        ub_raise(call.rc);
        goto out;
    }
    result = PyList_New((Py_ssize_t)call.n);
    for (size_t i = 0; result && i < call.n; i++) {
        const ug_image_batch_result *r = &call.results[i];
        PyObject *item = r->error
            ? Py_BuildValue("(Os)", Py_None, r->message)
            : Py_BuildValue("(NO)", PyUnicode_DecodeFSDefault(r->output),
                            Py_None);
        if (!item)
            Py_CLEAR(result);
        else
            PyList_SET_ITEM(result, (Py_ssize_t)i, item);
    }
out:
    ug_future_release(f);
    free_call_pool(own);
    ug_image_batch_results_free(call.results);
    PyMem_Free(call.inputs);
    Py_XDECREF(encoded);
    Py_XDECREF(dir_bytes);
    return result;
}

/* ---- the type --------------------------------------------------------- */

static PyMethodDef image_methods[] = {
    {"frombytes", (PyCFunction)(void (*)(void))image_frombytes,
     METH_CLASS | METH_VARARGS | METH_KEYWORDS, frombytes_doc},
    {"fromarray", (PyCFunction)(void (*)(void))image_fromarray,
     METH_CLASS | METH_VARARGS | METH_KEYWORDS, fromarray_doc},
    {"_decode", (PyCFunction)(void (*)(void))image_decode,
     METH_CLASS | METH_METHOD | METH_FASTCALL | METH_KEYWORDS, decode_doc},
    {"filter", (PyCFunction)(void (*)(void))image_filter,
     METH_METHOD | METH_FASTCALL | METH_KEYWORDS, filter_doc},
    {"_encode", (PyCFunction)image_encode, METH_VARARGS, encode_doc},
    {"_save", (PyCFunction)image_save, METH_VARARGS, save_doc},
    {"tobytes", (PyCFunction)image_tobytes, METH_NOARGS, tobytes_doc},
    {"getpalette", (PyCFunction)(void (*)(void))image_getpalette,
     METH_VARARGS | METH_KEYWORDS, getpalette_doc},
    {"putpalette", (PyCFunction)(void (*)(void))image_putpalette,
     METH_VARARGS | METH_KEYWORDS, putpalette_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef image_getset[] = {
    {"mode", (getter)image_get_mode, NULL, "Pillow's mode name (\"RGB\").", NULL},
    {"size", (getter)image_get_size, NULL, "(width, height) in pixels.", NULL},
    {"width", (getter)image_get_width, NULL, "Width in pixels.", NULL},
    {"height", (getter)image_get_height, NULL, "Height in pixels.", NULL},
    {"readonly", (getter)image_get_readonly, NULL,
     "True when the pixels are shared read-only memory.", NULL},
    {"shares", (getter)image_get_shares, NULL,
     "The object whose memory the pixels are (fromarray), or None when the "
     "Image owns its pixels.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot image_slots[] = {
    {Py_tp_new, image_new},
    {Py_tp_dealloc, image_dealloc},
    {Py_tp_repr, image_repr},
    {Py_tp_methods, image_methods},
    {Py_tp_getset, image_getset},
    {Py_bf_getbuffer, image_getbuffer},
    {Py_bf_releasebuffer, image_releasebuffer},
    {Py_tp_doc,
     "An 8-bit image in one of Pillow's modes, with Pillow-exact filters.\n\n"
     "Build one with ungil.Image.open, frombytes, fromarray or from_pil;\n"
     "see ungil.Image."},
    {0, NULL},
};

static PyType_Spec image_spec = {
    .name = "ungil._ungil.Image",
    .basicsize = sizeof(ImageObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE |
             Py_TPFLAGS_IMMUTABLETYPE,
    .slots = image_slots,
};

int ub_image_init_type(PyObject *module, ub_state *st) {
    st->unidentified_image_error = PyErr_NewExceptionWithDoc(
        "ungil.UnidentifiedImageError",
        "Image.open found no JPEG or PNG signature (an OSError, like "
        "PIL.UnidentifiedImageError).",
        PyExc_OSError, NULL);
    st->decompression_bomb_error = PyErr_NewExceptionWithDoc(
        "ungil.DecompressionBombError",
        "An image has more pixels than the limit (like "
        "PIL.Image.DecompressionBombError).",
        PyExc_Exception, NULL);
    if (!st->unidentified_image_error || !st->decompression_bomb_error)
        return -1;
    if (PyModule_AddObjectRef(module, "UnidentifiedImageError",
                              st->unidentified_image_error) < 0 ||
        PyModule_AddObjectRef(module, "DecompressionBombError",
                              st->decompression_bomb_error) < 0)
        return -1;
    PyTypeObject *tp =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, &image_spec, NULL);
    if (!tp)
        return -1;
    st->image_type = tp;
    if (PyModule_AddIntConstant(module, "MAX_IMAGE_PIXELS",
                                (long)UG_IMAGE_MAX_PIXELS_DEFAULT) < 0)
        return -1;
    return PyModule_AddType(module, tp);
}
