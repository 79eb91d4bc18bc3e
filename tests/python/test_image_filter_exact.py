"""ug_image_filter against real Pillow, byte for byte.

libungil.so is loaded with ctypes from the meson build directory named by
UNGIL_BUILD; images are NumPy arrays wrapped as ug_image views.  Every
built-in filter, modes L/RGB/RGBA, tiny and odd sizes, noise and smooth
images, and random user kernels (negative weights, odd scales and offsets,
scale 0) must give exactly Image.filter's bytes.
"""

import ctypes
import os
import pathlib
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFilter

BUILTINS = [
    "BLUR", "CONTOUR", "DETAIL", "EDGE_ENHANCE", "EDGE_ENHANCE_MORE",
    "EMBOSS", "FIND_EDGES", "SHARPEN", "SMOOTH", "SMOOTH_MORE",
]
MODES = {"L": 1, "RGB": 3, "RGBA": 4}
SIZES = [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (7, 3), (3, 7), (2, 9),
         (9, 4), (64, 48), (101, 37)]
UG_EINVAL = -2


class UgImage(ctypes.Structure):
    _fields_ = [("width", ctypes.c_int), ("height", ctypes.c_int),
                ("channels", ctypes.c_int), ("stride", ctypes.c_size_t),
                ("data", ctypes.c_void_p)]


class UgKernel(ctypes.Structure):
    _fields_ = [("size", ctypes.c_int), ("weights", ctypes.c_float * 25),
                ("scale", ctypes.c_float), ("offset", ctypes.c_float)]


def _load():
    build = os.environ.get("UNGIL_BUILD")
    assert build, "set UNGIL_BUILD to the meson build directory"
    lib = ctypes.CDLL(str(pathlib.Path(build) / "libungil.so"))
    lib.ug_image_filter.argtypes = [ctypes.c_void_p, ctypes.POINTER(UgImage),
                                    ctypes.POINTER(UgImage),
                                    ctypes.POINTER(UgKernel)]
    lib.ug_image_filter.restype = ctypes.c_int
    lib.ug_kernel_builtin.argtypes = [ctypes.c_char_p, ctypes.POINTER(UgKernel)]
    lib.ug_kernel_builtin.restype = ctypes.c_int
    lib.ug_kernel_builtin_name.argtypes = [ctypes.c_size_t]
    lib.ug_kernel_builtin_name.restype = ctypes.c_char_p
    lib.ug_pool_new.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
    lib.ug_pool_new.restype = ctypes.c_int
    lib.ug_pool_free.argtypes = [ctypes.c_void_p]
    lib.ug_pool_free.restype = None
    return lib


LIB = _load()


@pytest.fixture(scope="module")
def pool():
    p = ctypes.c_void_p()
    assert LIB.ug_pool_new(None, ctypes.byref(p)) == 0
    yield p
    LIB.ug_pool_free(p)


def view(arr):
    assert arr.dtype == np.uint8 and arr.flags.c_contiguous
    h, w = arr.shape[:2]
    c = 1 if arr.ndim == 2 else arr.shape[2]
    return UgImage(w, h, c, arr.strides[0], arr.ctypes.data)


def ug_filter(arr, kernel, pool=None):
    out = np.full_like(arr, 0xA5)
    src, dst = view(arr), view(out)
    rc = LIB.ug_image_filter(pool, ctypes.byref(src), ctypes.byref(dst),
                             ctypes.byref(kernel))
    assert rc == 0
    return out


def builtin(name):
    k = UgKernel()
    assert LIB.ug_kernel_builtin(name.encode(), ctypes.byref(k)) == 0
    return k


def user_kernel(size, weights, scale, offset):
    k = UgKernel()
    k.size = size
    for i, w in enumerate(weights):
        k.weights[i] = w
    k.scale = scale
    k.offset = offset
    return k


def pillow_filter(arr, mode, filt):
    im = Image.fromarray(arr, mode)
    return np.asarray(im.filter(filt))


def make_image(kind, w, h, c, rng):
    shape = (h, w) if c == 1 else (h, w, c)
    if kind == "noise":
        return rng.integers(0, 256, shape, dtype=np.uint8)
    if kind == "smooth":
        y, x = np.mgrid[0:h, 0:w].astype(np.float64)
        base = 127.5 + 100 * np.sin(x / 7.0 + rng.random() * 6) * np.cos(y / 5.0)
        base = base + 20 * (x + y) / max(w + h, 1)
        if c > 1:
            base = np.stack([base + 13 * i for i in range(c)], axis=-1)
        return np.clip(base, 0, 255).astype(np.uint8)
    if kind == "extremes":  # saturates both ends of the clamp
        return (rng.integers(0, 2, shape) * 255).astype(np.uint8)
    raise ValueError(kind)


def assert_same(got, want, what):
    if not np.array_equal(got, want):
        bad = np.argwhere(got != want)
        raise AssertionError(f"{what}: {len(bad)} samples differ, first at "
                             f"{bad[0].tolist()}: got {got[tuple(bad[0])]}, "
                             f"Pillow {want[tuple(bad[0])]}")


def test_builtin_names_match_pillow():
    names = []
    i = 0
    while (n := LIB.ug_kernel_builtin_name(i)) is not None:
        names.append(n.decode())
        i += 1
    assert names == BUILTINS
    for name in BUILTINS:
        k = builtin(name)
        (size, _), scale, offset, weights = getattr(ImageFilter, name).filterargs
        assert k.size == size
        assert k.scale == scale and k.offset == offset
        assert list(k.weights)[:size * size] == list(weights)
    assert LIB.ug_kernel_builtin(b"find_edges", ctypes.byref(UgKernel())) == 0
    assert LIB.ug_kernel_builtin(b"NOPE", ctypes.byref(UgKernel())) == UG_EINVAL


@pytest.mark.parametrize("name", BUILTINS)
@pytest.mark.parametrize("mode", list(MODES))
def test_builtin_filters_exact(name, mode):
    rng = np.random.default_rng(zlib.crc32(f"{name} {mode}".encode()))
    c = MODES[mode]
    k = builtin(name)
    filt = getattr(ImageFilter, name)
    for w, h in SIZES:
        for kind in ("noise", "smooth", "extremes"):
            arr = make_image(kind, w, h, c, rng)
            assert_same(ug_filter(arr, k), pillow_filter(arr, mode, filt),
                        f"{name} {mode} {w}x{h} {kind}")


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_filters_large_pooled(name, pool):
    rng = np.random.default_rng(7)
    for mode, c in MODES.items():
        for kind in ("noise", "smooth"):
            arr = make_image(kind, 317, 211, c, rng)
            want = pillow_filter(arr, mode, getattr(ImageFilter, name))
            k = builtin(name)
            assert_same(ug_filter(arr, k), want, f"{name} {mode} serial")
            assert_same(ug_filter(arr, k, pool), want, f"{name} {mode} pooled")


def random_kernel(rng, size):
    n = size * size
    style = rng.integers(0, 3)
    if style == 0:  # small integers, negative too
        weights = rng.integers(-9, 10, n).tolist()
    elif style == 1:  # arbitrary floats
        weights = [float(x) for x in rng.normal(0, 3, n).astype(np.float32)]
    else:  # a blur-like positive kernel with an odd scale
        weights = rng.integers(0, 7, n).tolist()
    scale = None
    if rng.random() < 0.6:
        scale = float(np.float32(rng.choice([1, 3, 7, 9.5, -4, 0.37, 13])))
    offset = float(np.float32(rng.choice([0, 0, 1, 128, -30.25, 255, 17.5])))
    return weights, scale, offset


def test_user_kernels_exact():
    rng = np.random.default_rng(2024)
    lib_init = LIB.ug_kernel_init
    lib_init.argtypes = [ctypes.POINTER(UgKernel), ctypes.c_int,
                         ctypes.POINTER(ctypes.c_float),
                         ctypes.POINTER(ctypes.c_float), ctypes.c_float]
    lib_init.restype = ctypes.c_int
    for trial in range(60):
        size = 3 if trial % 2 else 5
        weights, scale, offset = random_kernel(rng, size)
        filt = ImageFilter.Kernel((size, size), weights, scale, offset)
        fw = (ctypes.c_float * 25)(*weights)
        fs = ctypes.c_float(scale) if scale is not None else None
        k = UgKernel()
        assert lib_init(ctypes.byref(k), size, fw,
                        ctypes.byref(fs) if fs is not None else None,
                        offset) == 0
        assert k.scale == np.float32(filt.filterargs[1])
        mode = list(MODES)[trial % 3]
        for w, h in [(5, 5), (23, 17), (64, 48)]:
            arr = make_image("noise" if trial % 4 < 2 else "smooth", w, h,
                             MODES[mode], rng)
            assert_same(ug_filter(arr, k), pillow_filter(arr, mode, filt),
                        f"trial {trial} {weights} {scale} {offset} {mode} {w}x{h}")


@pytest.mark.parametrize("weights", [
    [1] * 9, [-1] * 9, [1] * 8 + [-1], [2, -1, -1, 1, 1, -1, 1, -1, -1],
    [1, 0, 0, 0, 0, 0, 0, 0, 0],
])
def test_scale_zero_like_pillow(weights):
    # Pillow keeps a scale of 0: weights become +-inf or NaN; inf clamps
    # and NaN comes out as 0.
    rng = np.random.default_rng(5)
    filt = ImageFilter.Kernel((3, 3), weights, 0, 3)
    k = user_kernel(3, weights, 0.0, 3.0)
    for kind in ("noise", "smooth", "extremes"):
        arr = make_image(kind, 12, 9, 1, rng)
        assert_same(ug_filter(arr, k), pillow_filter(arr, "L", filt),
                    f"scale 0 {weights} {kind}")


def test_padded_stride():
    # A view into a wider array: only the viewed bytes are read or written.
    rng = np.random.default_rng(11)
    big = rng.integers(0, 256, (40, 70, 3), dtype=np.uint8)
    sub = big[3:33, 5:55]
    out_big = np.zeros((40, 80, 3), np.uint8)
    src = UgImage(50, 30, 3, big.strides[0], sub.ctypes.data)
    dst = UgImage(50, 30, 3, out_big.strides[0], out_big[2:, 4:].ctypes.data)
    k = builtin("DETAIL")
    assert LIB.ug_image_filter(None, ctypes.byref(src), ctypes.byref(dst),
                               ctypes.byref(k)) == 0
    want = pillow_filter(np.ascontiguousarray(sub), "RGB", ImageFilter.DETAIL)
    assert_same(out_big[2:32, 4:54], want, "strided DETAIL")
    out_big[2:32, 4:54] = 0
    assert not out_big.any()


def test_pillow_refuses_palette_and_we_refuse_other_channel_counts():
    with pytest.raises(ValueError):
        Image.new("P", (8, 8)).filter(ImageFilter.BLUR)
    arr = np.zeros((8, 8, 2), np.uint8)
    out = np.zeros_like(arr)
    src, dst = view(arr), view(out)
    k = builtin("BLUR")
    assert LIB.ug_image_filter(None, ctypes.byref(src), ctypes.byref(dst),
                               ctypes.byref(k)) == UG_EINVAL
