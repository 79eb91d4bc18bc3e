"""ug_image_filter against real Pillow, byte for byte, on every code path.

libungil.so is loaded with ctypes from the meson build directory named by
UNGIL_BUILD; images are NumPy arrays wrapped as ug_image views.  Each
comparison runs on every path this CPU supports (portable C, SSE2, AVX2),
each both with the int16 shortcut allowed (taken where it is exact, e.g.
FIND_EDGES, BLUR, SHARPEN) and in float32 only, chosen through the internal
entry point ug__image_filter_isa; and on the public ug_image_filter (which
picks the fastest path).  Every built-in
filter, modes L, LA, RGB and RGBA, tiny, odd and large sizes, rows wider
than one column tile, noise, smooth and saturating images, and hundreds of
random user kernels (zeros, negatives, tiny scales, scale from the weights,
odd offsets) must give exactly Image.filter's bytes.
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
MODES = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}
SIZES = [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 7), (17, 9), (64, 33),
         (7, 3), (3, 7), (2, 9), (9, 4)]
LARGE = (1023, 771)
UG_EINVAL = -2
ISA_NAMES = {0: "portable", 1: "sse2", 2: "avx2"}
FLOAT_ONLY = 0x100  # UG__FILTER_FLOAT_ONLY


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
    img, ker = ctypes.POINTER(UgImage), ctypes.POINTER(UgKernel)
    lib.ug_image_filter.argtypes = [ctypes.c_void_p, img, img, ker]
    lib.ug_image_filter.restype = ctypes.c_int
    lib.ug__image_filter_isa.argtypes = [ctypes.c_void_p, img, img, ker,
                                         ctypes.c_int]
    lib.ug__image_filter_isa.restype = ctypes.c_int
    lib.ug__image_filter_isa_supported.argtypes = [ctypes.c_int]
    lib.ug__image_filter_isa_supported.restype = ctypes.c_int
    lib.ug__image_filter_best_isa.argtypes = []
    lib.ug__image_filter_best_isa.restype = ctypes.c_int
    lib.ug_kernel_builtin.argtypes = [ctypes.c_char_p, ker]
    lib.ug_kernel_builtin.restype = ctypes.c_int
    lib.ug_kernel_builtin_name.argtypes = [ctypes.c_size_t]
    lib.ug_kernel_builtin_name.restype = ctypes.c_char_p
    lib.ug_kernel_init.argtypes = [ker, ctypes.c_int,
                                   ctypes.POINTER(ctypes.c_float),
                                   ctypes.POINTER(ctypes.c_float),
                                   ctypes.c_float]
    lib.ug_kernel_init.restype = ctypes.c_int
    lib.ug_pool_new.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
    lib.ug_pool_new.restype = ctypes.c_int
    lib.ug_pool_free.argtypes = [ctypes.c_void_p]
    lib.ug_pool_free.restype = None
    return lib


LIB = _load()


def cpu_flags():
    """The x86 feature flags of the first CPU in /proc/cpuinfo."""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def expected_isas():
    """The paths this machine should run, from the kernel's view of the CPU
    (independent of the library's own detection)."""
    flags = cpu_flags()
    isas = [0]
    if "sse2" in flags:
        isas.append(1)
    if "avx2" in flags:
        isas.append(2)
    return isas


ISAS = [i for i in ISA_NAMES if LIB.ug__image_filter_isa_supported(i)]


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


def ug_filter(arr, kernel, isa=None, pool=None):
    """Filters with path `isa`, or with the public function for None."""
    out = np.full_like(arr, 0xA5)
    src, dst = view(arr), view(out)
    if isa is None:
        rc = LIB.ug_image_filter(pool, ctypes.byref(src), ctypes.byref(dst),
                                 ctypes.byref(kernel))
    else:
        rc = LIB.ug__image_filter_isa(pool, ctypes.byref(src),
                                      ctypes.byref(dst), ctypes.byref(kernel),
                                      isa)
    assert rc == 0
    return out


def builtin(name):
    k = UgKernel()
    assert LIB.ug_kernel_builtin(name.encode(), ctypes.byref(k)) == 0
    return k


def user_kernel(size, weights, scale, offset):
    """A ug_kernel through ug_kernel_init, as ImageFilter.Kernel makes it."""
    fw = (ctypes.c_float * 25)(*weights)
    fs = ctypes.c_float(scale) if scale is not None else None
    k = UgKernel()
    assert LIB.ug_kernel_init(ctypes.byref(k), size, fw,
                              ctypes.byref(fs) if fs is not None else None,
                              offset) == 0
    return k


def pillow_filter(arr, mode, filt):
    """Image.filter's bytes, shaped like arr.  Goes through bytes so that
    LA (stored by Pillow in 4-byte pixels) is the 2-sample layout."""
    h, w = arr.shape[:2]
    im = Image.frombytes(mode, (w, h), arr.tobytes())
    out = im.filter(filt)
    assert out.mode == mode and out.size == (w, h)
    return np.frombuffer(out.tobytes(), np.uint8).reshape(arr.shape)


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


def assert_all_paths(arr, kernel, want, what, pool=None):
    """Every supported path, with and without the int16 shortcut, and the
    public function, give `want`."""
    for isa in ISAS:
        assert_same(ug_filter(arr, kernel, isa, pool), want,
                    f"{what} [{ISA_NAMES[isa]}]")
        assert_same(ug_filter(arr, kernel, isa | FLOAT_ONLY, pool), want,
                    f"{what} [{ISA_NAMES[isa]}, float32 only]")
    assert_same(ug_filter(arr, kernel, None, pool), want, f"{what} [public]")


def test_paths_match_the_cpu():
    assert ISAS == expected_isas()
    assert LIB.ug__image_filter_best_isa() == ISAS[-1]
    arr = np.zeros((8, 8), np.uint8)
    out = np.zeros_like(arr)
    src, dst = view(arr), view(out)
    k = builtin("BLUR")
    for isa in (-1, 3, 99, FLOAT_ONLY | 3, -FLOAT_ONLY):
        assert not LIB.ug__image_filter_isa_supported(isa)
        assert LIB.ug__image_filter_isa(None, ctypes.byref(src),
                                        ctypes.byref(dst), ctypes.byref(k),
                                        isa) == UG_EINVAL


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
            assert_all_paths(arr, k, pillow_filter(arr, mode, filt),
                             f"{name} {mode} {w}x{h} {kind}")


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_filters_large_odd(name, pool):
    # 1023x771: odd width and height, RGB rows of 3069 samples (SIMD steps
    # of 16 leave a remainder), bands of rows on the pool.
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    filt = getattr(ImageFilter, name)
    k = builtin(name)
    for mode, c in MODES.items():
        for kind in ("noise", "smooth"):
            arr = make_image(kind, *LARGE, c, rng)
            want = pillow_filter(arr, mode, filt)
            what = f"{name} {mode} {LARGE[0]}x{LARGE[1]} {kind}"
            assert_all_paths(arr, k, want, what)
            assert_same(ug_filter(arr, k, None, pool), want, what + " pooled")


@pytest.mark.parametrize("name", ["FIND_EDGES", "SMOOTH_MORE"])
def test_rows_wider_than_a_tile(name, pool):
    # Rows of 4100 to 16400 samples span several column tiles of the
    # driver; the tile seams must not show.
    rng = np.random.default_rng(3)
    filt = getattr(ImageFilter, name)
    k = builtin(name)
    for mode, w in (("L", 4100), ("LA", 4097), ("RGB", 2731), ("RGBA", 4100)):
        arr = make_image("noise", w, 11, MODES[mode], rng)
        want = pillow_filter(arr, mode, filt)
        assert_all_paths(arr, k, want, f"{name} {mode} {w}x11")
        assert_all_paths(arr, k, want, f"{name} {mode} {w}x11 pooled", pool)


def random_kernel(rng, size):
    n = size * size
    style = rng.integers(0, 5)
    if style == 0:  # small integers, negative too
        weights = rng.integers(-9, 10, n).tolist()
    elif style == 1:  # arbitrary floats
        weights = [float(x) for x in rng.normal(0, 3, n).astype(np.float32)]
    elif style == 2:  # a blur-like positive kernel with zeros
        weights = rng.integers(0, 7, n).tolist()
    elif style == 3:  # mostly zeros
        weights = (rng.integers(-5, 6, n) * (rng.random(n) < 0.3)).tolist()
    else:  # floats of very different magnitudes
        weights = [float(x) for x in
                   (rng.normal(0, 1, n) * 10.0 ** rng.integers(-6, 4, n))
                   .astype(np.float32)]
    scale = None
    if rng.random() < 0.6:
        scale = float(np.float32(rng.choice(
            [1, 3, 7, 9.5, -4, 0.37, 13, 1e-6, 3e-4, 1e5, 2, 16, 0.5, -8,
             64])))
    if scale is None and sum(weights) == 0:
        weights[0] += 1  # Pillow itself would divide by zero in Python
    offset = float(np.float32(rng.choice(
        [0, 0, 1, 128, -30.25, 255, 17.5, -0.5, 1e3, rng.normal(0, 50)])))
    return weights, scale, offset


def test_user_kernels_exact():
    rng = np.random.default_rng(2024)
    for trial in range(240):
        size = 3 if trial % 2 else 5
        weights, scale, offset = random_kernel(rng, size)
        filt = ImageFilter.Kernel((size, size), weights, scale, offset)
        k = user_kernel(size, weights, scale, offset)
        assert k.scale == np.float32(filt.filterargs[1])
        mode = list(MODES)[trial % 4]
        w, h = int(rng.integers(size, 70)), int(rng.integers(size, 24))
        kind = ("noise", "smooth", "extremes")[trial % 3]
        arr = make_image(kind, w, h, MODES[mode], rng)
        assert_all_paths(arr, k, pillow_filter(arr, mode, filt),
                         f"trial {trial} {weights} {scale} {offset} {mode} "
                         f"{w}x{h} {kind}")


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
    for mode in ("L", "RGB"):
        for kind in ("noise", "smooth", "extremes"):
            arr = make_image(kind, 37, 9, MODES[mode], rng)
            assert_all_paths(arr, k, pillow_filter(arr, mode, filt),
                             f"scale 0 {weights} {mode} {kind}")


@pytest.mark.parametrize("sign", ["+", "-", "+-"])
def test_int16_bound_edges(sign):
    # Weights 2 * 8 (shift 1 for the half in offset + 0.5) and a start of
    # 2 * offset + 1: offset 63 puts the largest possible sum at exactly
    # 32767, the int16 limit (int16 loops); offset 64 is one past it
    # (float32 loops).  Saturated images reach those sums.
    rng = np.random.default_rng(13)
    signs = {"+": [1] * 8, "-": [-1] * 8, "+-": [1, -1] * 4}[sign]
    weights = [8 * s for s in signs[:4]] + [0] + [8 * s for s in signs[4:]]
    for offset in (63, 64, -63, -64):
        filt = ImageFilter.Kernel((3, 3), weights, 1, offset)
        k = user_kernel(3, weights, 1.0, offset)
        for kind in ("extremes", "noise"):
            arr = make_image(kind, 40, 6, 1, rng)
            if kind == "extremes":
                arr[:] = 255
                arr[2:4, 5:30:3] = 0
            assert_all_paths(arr, k, pillow_filter(arr, "L", filt),
                             f"bound {weights} offset {offset} {kind}")


def test_la_filters_each_band():
    # Pillow stores LA in 4-byte pixels; its filter must treat L and A as
    # two independent bands, which is what 2 interleaved channels give.
    rng = np.random.default_rng(9)
    la = make_image("noise", 29, 13, 2, rng)
    k = builtin("DETAIL")
    got = ug_filter(la, k)
    assert_same(got, pillow_filter(la, "LA", ImageFilter.DETAIL), "LA")
    for band in range(2):
        alone = np.ascontiguousarray(la[:, :, band])
        assert_same(got[:, :, band], ug_filter(alone, k), f"LA band {band}")


def test_padded_stride():
    # A view into a wider array: only the viewed bytes are read or written.
    rng = np.random.default_rng(11)
    big = rng.integers(0, 256, (40, 70, 3), dtype=np.uint8)
    sub = big[3:33, 5:55]
    want = pillow_filter(np.ascontiguousarray(sub), "RGB", ImageFilter.DETAIL)
    k = builtin("DETAIL")
    for isa in ISAS + [i | FLOAT_ONLY for i in ISAS]:
        out_big = np.zeros((40, 80, 3), np.uint8)
        src = UgImage(50, 30, 3, big.strides[0], sub.ctypes.data)
        dst = UgImage(50, 30, 3, out_big.strides[0], out_big[2:, 4:].ctypes.data)
        assert LIB.ug__image_filter_isa(None, ctypes.byref(src),
                                        ctypes.byref(dst), ctypes.byref(k),
                                        isa) == 0
        assert_same(out_big[2:32, 4:54], want, f"strided [{isa:#x}]")
        out_big[2:32, 4:54] = 0
        assert not out_big.any()


def test_pillow_refuses_palette_and_we_refuse_other_channel_counts():
    with pytest.raises(ValueError):
        Image.new("P", (8, 8)).filter(ImageFilter.BLUR)
    k = builtin("BLUR")
    for c in (0, 5, -1):
        arr = np.zeros((8, 8, 5), np.uint8)
        out = np.zeros_like(arr)
        src = UgImage(8, 8, c, arr.strides[0], arr.ctypes.data)
        dst = UgImage(8, 8, c, out.strides[0], out.ctypes.data)
        assert LIB.ug_image_filter(None, ctypes.byref(src), ctypes.byref(dst),
                                   ctypes.byref(k)) == UG_EINVAL
        assert not out.any()
