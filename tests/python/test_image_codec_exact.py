"""ungil's JPEG/PNG decoders and encoders against real Pillow, byte for byte.

libungil.so is loaded with ctypes from the meson build directory named by
UNGIL_BUILD.  Decoding must give numpy.asarray(PIL.Image.open(f)) exactly
(Pillow's 0/255 storage for mode "1") and the same mode, for JPEGs that
Pillow writes (grey, RGB at every subsampling, several qualities,
progressive, CMYK, odd sizes) and for PNGs of every colour type and bit
depth, with and without tRNS, interlaced or not, written here by a small
independent PNG writer.  What ungil encodes must decode in Pillow to
ungil's own pixels (PNG: the pixels encoded; JPEG: what ungil decodes).
"""

import ctypes
import io
import os
import pathlib
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

UG_EFORMAT, UG_ECORRUPT, UG_EBOMB, UG_EMODE = -22, -23, -24, -25
UG_FORMAT_JPEG, UG_FORMAT_PNG = 1, 2
MODES = ["", "1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "I;16"]


class UgImage(ctypes.Structure):
    _fields_ = [("width", ctypes.c_int), ("height", ctypes.c_int),
                ("channels", ctypes.c_int), ("stride", ctypes.c_size_t),
                ("data", ctypes.c_void_p)]


class UgImageInfo(ctypes.Structure):
    _fields_ = [("format", ctypes.c_int), ("width", ctypes.c_int),
                ("height", ctypes.c_int), ("mode", ctypes.c_int),
                ("bit_depth", ctypes.c_int), ("interlaced", ctypes.c_int),
                ("palette_size", ctypes.c_int),
                ("palette", (ctypes.c_ubyte * 4) * 256),
                ("has_transparency", ctypes.c_int),
                ("transparency", ctypes.c_ushort * 3)]


class UgDecodeOptions(ctypes.Structure):
    _fields_ = [("max_pixels", ctypes.c_size_t)]


class UgEncodeOptions(ctypes.Structure):
    _fields_ = [("format", ctypes.c_int), ("quality", ctypes.c_int),
                ("subsampling", ctypes.c_int), ("progressive", ctypes.c_int),
                ("compress_level", ctypes.c_int),
                ("palette", ctypes.c_void_p), ("palette_size", ctypes.c_int)]


def _load():
    build = os.environ.get("UNGIL_BUILD")
    assert build, "set UNGIL_BUILD to the meson build directory"
    lib = ctypes.CDLL(str(pathlib.Path(build) / "libungil.so"))
    P = ctypes.POINTER
    lib.ug_image_decode.argtypes = [ctypes.c_char_p, ctypes.c_size_t,
                                    P(UgDecodeOptions), P(UgImage),
                                    P(UgImageInfo)]
    lib.ug_image_read_info.argtypes = [ctypes.c_char_p, ctypes.c_size_t,
                                       P(UgImageInfo)]
    lib.ug_image_release.argtypes = [P(UgImage)]
    lib.ug_image_release.restype = None
    lib.ug_encode_options_init.argtypes = [P(UgEncodeOptions)]
    lib.ug_encode_options_init.restype = None
    lib.ug_image_encode.argtypes = [P(UgImage), ctypes.c_int,
                                    P(UgEncodeOptions),
                                    P(ctypes.c_void_p), P(ctypes.c_size_t)]
    lib.ug_image_mode_name.argtypes = [ctypes.c_int]
    lib.ug_image_mode_name.restype = ctypes.c_char_p
    lib.free.argtypes = [ctypes.c_void_p]
    lib.free.restype = None
    return lib


LIB = _load()


def decode(data, max_pixels=None):
    img, info = UgImage(), UgImageInfo()
    opts = None
    if max_pixels is not None:
        opts = ctypes.byref(UgDecodeOptions(max_pixels))
    rc = LIB.ug_image_decode(data, len(data), opts, ctypes.byref(img),
                             ctypes.byref(info))
    if rc != 0:
        assert img.data is None
        return rc, None, info
    try:
        n = img.stride * img.height
        raw = ctypes.string_at(img.data, n) if n else b""
        shape = (img.height, img.width, img.channels)
        arr = np.frombuffer(raw, np.uint8).reshape(shape).copy()
    finally:
        LIB.ug_image_release(ctypes.byref(img))
    assert img.data is None and img.width == 0
    return rc, arr, info


def mode_of(info):
    return LIB.ug_image_mode_name(info.mode).decode()


def pillow_bytes(im):
    """Pillow's pixel storage as an (h, w, bytes-per-pixel) uint8 array."""
    if im.mode == "1":
        arr = np.frombuffer(im.tobytes("raw", "L"), np.uint8)
    else:
        arr = np.ascontiguousarray(np.asarray(im)).view(np.uint8)
    return arr.reshape(im.height, im.width, -1)


def assert_like_pillow(data):
    rc, arr, info = decode(data)
    assert rc == 0
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        assert mode_of(info) == im.mode
        assert (info.width, info.height) == im.size
        np.testing.assert_array_equal(arr, pillow_bytes(im))
        if im.mode == "P":
            pal = im.getpalette()
            n = info.palette_size
            ours = np.array(info.palette, np.uint8)[:n]
            assert ours[:, :3].ravel().tolist() == pal[:3 * n]
            trns = im.info.get("transparency")
            alpha = [255] * n
            if isinstance(trns, int):
                alpha[trns] = 0
            elif trns is not None:
                alpha[:len(trns)] = list(trns)[:n]
            assert ours[:, 3].tolist() == alpha
        elif "transparency" in im.info:
            assert info.has_transparency == 1
            t = im.info["transparency"]
            if im.mode == "RGB":
                assert tuple(info.transparency) == t
            elif im.mode != "1":
                assert info.transparency[0] == t
    head = UgImageInfo()
    assert LIB.ug_image_read_info(data, len(data), ctypes.byref(head)) == 0
    assert (head.width, head.height, head.mode) == (info.width, info.height,
                                                    info.mode)
    return arr, info


def rng_image(seed, h, w, c, smooth=False):
    rng = np.random.default_rng(seed)
    if smooth:
        y, x = np.mgrid[0:h, 0:w]
        base = (x * 255 // max(w - 1, 1) + y * 3) % 256
        img = np.stack([(base + 40 * k) % 256 for k in range(c)], -1)
        img = img + rng.integers(-6, 7, img.shape)
        return np.clip(img, 0, 255).astype(np.uint8)
    return rng.integers(0, 256, (h, w, c), dtype=np.uint8)


# ---- JPEG written by Pillow ----

JPEG_SIZES = [(1, 1), (2, 3), (7, 5), (8, 8), (9, 9), (16, 16), (17, 13),
              (640, 480)]


@pytest.mark.parametrize("w,h", JPEG_SIZES)
@pytest.mark.parametrize("mode,sub", [("L", 0), ("RGB", 0), ("RGB", 1),
                                      ("RGB", 2)])
def test_jpeg_sizes_and_subsampling(w, h, mode, sub):
    arr = rng_image(w * 31 + h, h, w, 1 if mode == "L" else 3, smooth=True)
    im = Image.fromarray(arr[..., 0] if mode == "L" else arr, mode)
    buf = io.BytesIO()
    im.save(buf, "JPEG", subsampling=sub)
    assert_like_pillow(buf.getvalue())


@pytest.mark.parametrize("quality", [1, 10, 50, 75, 95, 100])
@pytest.mark.parametrize("progressive", [False, True])
def test_jpeg_quality_and_progressive(quality, progressive):
    arr = rng_image(quality, 45, 61, 3)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=quality,
                              progressive=progressive)
    _, info = assert_like_pillow(buf.getvalue())
    assert info.interlaced == int(progressive)


def test_jpeg_cmyk_written_by_pillow():
    arr = rng_image(7, 19, 23, 4, smooth=True)
    buf = io.BytesIO()
    Image.fromarray(arr, "CMYK").save(buf, "JPEG", quality=90)
    out, info = assert_like_pillow(buf.getvalue())
    assert mode_of(info) == "CMYK"


def test_jpeg_truncated_is_refused_like_pillow():
    arr = rng_image(3, 64, 64, 3)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG")
    data = buf.getvalue()
    for cut in (len(data) // 3, len(data) // 2, len(data) - 40):
        with pytest.raises(OSError):
            Image.open(io.BytesIO(data[:cut])).load()
        assert decode(data[:cut])[0] == UG_ECORRUPT


# ---- PNG written by an independent writer ----

ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
         (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _chunk(kind, body):
    return (struct.pack(">I", len(body)) + kind + body
            + struct.pack(">I", zlib.crc32(kind + body)))


def _pack_row(samples, depth):
    flat = samples.reshape(-1).astype(np.uint32)
    if depth == 16:
        return flat.astype(">u2").tobytes()
    if depth == 8:
        return flat.astype(np.uint8).tobytes()
    per = 8 // depth
    pad = (-len(flat)) % per
    flat = np.concatenate([flat, np.zeros(pad, np.uint32)]).reshape(-1, per)
    shifts = np.array([8 - depth * (i + 1) for i in range(per)], np.uint32)
    return (flat << shifts).sum(axis=1).astype(np.uint8).tobytes()


def _filter(kind, row, prev, bpp):
    r = np.frombuffer(row, np.uint8).astype(np.int32)
    p = np.frombuffer(prev, np.uint8).astype(np.int32)
    a = np.concatenate([np.zeros(bpp, np.int32), r[:-bpp]])[:len(r)]
    c = np.concatenate([np.zeros(bpp, np.int32), p[:-bpp]])[:len(r)]
    if kind == 0:
        pred = np.zeros_like(r)
    elif kind == 1:
        pred = a
    elif kind == 2:
        pred = p
    elif kind == 3:
        pred = (a + p) // 2
    else:
        pa, pb, pc = abs(p - c), abs(a - c), abs(a + p - 2 * c)
        pred = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, p, c))
    return bytes([kind]) + ((r - pred) % 256).astype(np.uint8).tobytes()


def make_png(samples, color_type, depth, palette=None, trns=None,
             interlace=False):
    """A PNG of `samples` (h, w, channels) with every filter type in turn."""
    h, w = samples.shape[:2]
    bpp = max(1, CHANNELS[color_type] * depth // 8)
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    raw = bytearray()
    n = 0
    for x0, y0, dx, dy in passes:
        sub = samples[y0::dy, x0::dx]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue
        prev = bytes(len(_pack_row(sub[0], depth)))
        for row in sub:
            packed = _pack_row(row, depth)
            raw += _filter(n % 5, packed, prev, bpp)
            prev = packed
            n += 1
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(
        ">IIBBBBB", w, h, depth, color_type, 0, 0, int(interlace)))
    if palette is not None:
        out += _chunk(b"PLTE", bytes(np.asarray(palette, np.uint8).ravel()))
    if trns is not None:
        out += _chunk(b"tRNS", trns)
    out += _chunk(b"IDAT", zlib.compress(bytes(raw), 6))
    return out + _chunk(b"IEND", b"")


PNG_KINDS = [(0, 1), (0, 2), (0, 4), (0, 8), (0, 16), (2, 8), (2, 16),
             (3, 1), (3, 2), (3, 4), (3, 8), (4, 8), (4, 16), (6, 8), (6, 16)]
PNG_SIZES = [(1, 1), (3, 2), (7, 9), (17, 13), (33, 8)]


def _png_case(color_type, depth, w, h, seed, trns=False, interlace=False):
    rng = np.random.default_rng(seed)
    top = 1 << depth
    samples = rng.integers(0, top, (h, w, CHANNELS[color_type]))
    palette, chunk = None, None
    if color_type == 3:
        entries = rng.integers(1, top + 1) if top < 256 else 256
        samples %= entries
        palette = rng.integers(0, 256, (entries, 3))
        if trns:
            chunk = bytes(rng.integers(0, 256, max(1, entries // 2)).tolist())
    elif trns and color_type == 0:
        chunk = struct.pack(">H", int(samples[0, 0, 0]))
    elif trns and color_type == 2:
        chunk = struct.pack(">HHH", *(int(v) for v in samples[0, 0]))
    return make_png(samples, color_type, depth, palette, chunk, interlace)


@pytest.mark.parametrize("color_type,depth", PNG_KINDS)
@pytest.mark.parametrize("interlace", [False, True])
def test_png_every_kind(color_type, depth, interlace):
    for i, (w, h) in enumerate(PNG_SIZES):
        data = _png_case(color_type, depth, w, h, seed=depth * 100 + i,
                         interlace=interlace)
        _, info = assert_like_pillow(data)
        assert info.bit_depth == depth and info.interlaced == int(interlace)


@pytest.mark.parametrize("color_type,depth", [(0, 1), (0, 8), (0, 16),
                                              (2, 8), (2, 16), (3, 2),
                                              (3, 8)])
def test_png_with_trns(color_type, depth):
    data = _png_case(color_type, depth, 13, 7, seed=5, trns=True)
    assert_like_pillow(data)


def test_png_written_by_pillow():
    for mode, c in [("L", 1), ("LA", 2), ("RGB", 3), ("RGBA", 4)]:
        arr = rng_image(c, 37, 29, c, smooth=True)
        buf = io.BytesIO()
        Image.fromarray(arr[..., 0] if c == 1 else arr, mode).save(buf, "PNG")
        assert_like_pillow(buf.getvalue())
    big = rng_image(9, 480, 640, 3, smooth=True)
    wide = big[..., 0].astype(np.uint16) * 251
    for im in (Image.fromarray(big).quantize(200),
               Image.fromarray(big).convert("1"),
               Image.fromarray(big).convert("L"),
               Image.fromarray(wide)):
        buf = io.BytesIO()
        im.save(buf, "PNG")
        assert_like_pillow(buf.getvalue())


def test_png_truncated_is_refused_like_pillow():
    data = _png_case(2, 8, 40, 30, seed=11)
    idat = data.index(b"IDAT")
    for cut in (idat + 20, idat + 200, len(data) - 30):
        with pytest.raises((OSError, SyntaxError, ValueError)):
            Image.open(io.BytesIO(data[:cut])).load()
        assert decode(data[:cut])[0] == UG_ECORRUPT


def test_bomb_and_format():
    data = _png_case(2, 8, 40, 30, seed=1)
    assert decode(data, max_pixels=40 * 30)[0] == 0
    assert decode(data, max_pixels=40 * 30 - 1)[0] == UG_EBOMB
    assert decode(b"GIF89a" + bytes(40))[0] == UG_EFORMAT


# ---- ungil's encoders, read back by Pillow ----

def encode(arr, mode, fmt, **kw):
    opts = UgEncodeOptions()
    LIB.ug_encode_options_init(ctypes.byref(opts))
    opts.format = fmt
    palette = kw.pop("palette", None)
    for k, v in kw.items():
        setattr(opts, k, v)
    if palette is not None:
        pal = np.ascontiguousarray(palette, np.uint8)
        opts.palette = pal.ctypes.data
        opts.palette_size = len(pal)
    arr = np.ascontiguousarray(arr)
    h, w, c = arr.shape
    img = UgImage(w, h, c, w * c, arr.ctypes.data)
    out, size = ctypes.c_void_p(), ctypes.c_size_t()
    rc = LIB.ug_image_encode(ctypes.byref(img), MODES.index(mode),
                             ctypes.byref(opts), ctypes.byref(out),
                             ctypes.byref(size))
    if rc != 0:
        return rc, None
    data = ctypes.string_at(out, size.value)
    LIB.free(out)
    return rc, data


@pytest.mark.parametrize("mode,c", [("1", 1), ("L", 1), ("LA", 2), ("P", 1),
                                    ("I;16", 2), ("RGB", 3), ("RGBA", 4)])
@pytest.mark.parametrize("level", [0, 1, 6, 9])
def test_our_png_reads_back_in_pillow(mode, c, level):
    arr = rng_image(c + level, 23, 31, c)
    palette = None
    if mode == "1":
        arr = np.where(arr > 127, 255, 0).astype(np.uint8)
    if mode == "P":
        palette = np.random.default_rng(1).integers(0, 256, (200, 4))
        palette[50:, 3] = 255
        arr %= 200
    rc, data = encode(arr, mode, UG_FORMAT_PNG, compress_level=level,
                      palette=palette)
    assert rc == 0
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode == mode
        np.testing.assert_array_equal(pillow_bytes(im), arr)
    rc, back, info = decode(data)
    assert rc == 0 and mode_of(info) == mode
    np.testing.assert_array_equal(back, arr)
    if mode == "P":
        np.testing.assert_array_equal(np.array(info.palette)[:200], palette)


@pytest.mark.parametrize("mode,c,sub", [("L", 1, 2), ("RGB", 3, 0),
                                        ("RGB", 3, 1), ("RGB", 3, 2),
                                        ("CMYK", 4, 2), ("1", 1, 2)])
@pytest.mark.parametrize("quality", [30, 75, 100])
@pytest.mark.parametrize("progressive", [0, 1])
def test_our_jpeg_reads_back_in_pillow(mode, c, sub, quality, progressive):
    arr = rng_image(quality + c, 27, 35, c, smooth=True)
    rc, data = encode(arr, mode, UG_FORMAT_JPEG, quality=quality,
                      subsampling=sub, progressive=progressive)
    assert rc == 0
    ours, info = assert_like_pillow(data)
    assert mode_of(info) == ("L" if mode == "1" else mode)
    # As close to the source as Pillow's own encoder at the same settings.
    buf = io.BytesIO()
    src = Image.fromarray(arr[..., 0] if c == 1 else arr,
                          "L" if c == 1 else mode)
    src.save(buf, "JPEG", quality=quality, subsampling=sub,
             progressive=bool(progressive))
    theirs = pillow_bytes(Image.open(buf))
    err = np.abs(ours.astype(int) - arr).mean()
    assert err <= np.abs(theirs.astype(int) - arr).mean() + 0.5


def test_jpeg_refuses_modes_pillow_refuses():
    arr = rng_image(1, 8, 8, 4)
    for mode in ("RGBA", "LA", "P", "I;16"):
        c = {"RGBA": 4, "LA": 2, "P": 1, "I;16": 2}[mode]
        assert encode(arr[..., :c], mode, UG_FORMAT_JPEG)[0] == UG_EMODE
        with pytest.raises(OSError):
            Image.new(mode, (8, 8)).save(io.BytesIO(), "JPEG")
    assert encode(arr, "CMYK", UG_FORMAT_PNG)[0] == UG_EMODE
    with pytest.raises(OSError):
        Image.new("CMYK", (8, 8)).save(io.BytesIO(), "PNG")
