"""ungil.Image and ungil.filter_files against real Pillow and NumPy.

Every constructor (open, frombytes, fromarray, from_pil, Image(...)), the
round trips with Pillow and NumPy (and proof that fromarray shares memory:
writes through the array show in the Image and back), filters equal to
PIL.Image.filter byte for byte for every built-in filter on L/LA/RGB/RGBA
and for Kernel objects and tuples, threads=1 and None giving the same
bytes, modes refused as Pillow refuses them, the exceptions for unknown,
truncated, corrupt and oversized files (the same files make Pillow raise
its matching exceptions), save/open round trips, the GIL released while a
big filter runs, and filter_files on a mix of good and broken files, with
outputs compared to Pillow's own open -> filter -> save pipeline.
"""

import copy
import io
import os
import pathlib
import pickle
import signal
import struct
import threading
import time
import zlib

import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import ImageFilter

import ungil

BUILTINS = ["BLUR", "CONTOUR", "DETAIL", "EDGE_ENHANCE", "EDGE_ENHANCE_MORE",
            "EMBOSS", "FIND_EDGES", "SHARPEN", "SMOOTH", "SMOOTH_MORE"]
FILTER_MODES = ["L", "LA", "RGB", "RGBA"]


def photo(width, height, seed=0):
    """A photo-like RGBA array: gradients, a disc, a bar, mild noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r = 255 * x / max(width - 1, 1)
    g = 255 * y / max(height - 1, 1)
    b = 128 + 100 * np.sin((x + 2 * y + seed * 13) / 9)
    disc = (x - width * 0.6) ** 2 + (y - height * 0.4) ** 2 < (min(width, height) / 4) ** 2
    r = np.where(disc, 230, r)
    g = np.where(disc, 40 + seed, g)
    bar = (x > width * 0.15) & (x < width * 0.3)
    b = np.where(bar, 20, b)
    a = 255 - 120 * (x / max(width - 1, 1)) * (y / max(height - 1, 1))
    img = np.stack([r, g, b, a], axis=-1)
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def pil_photo(mode, width=61, height=47, seed=0):
    return PILImage.fromarray(photo(width, height, seed)).convert(mode)


def pil_open(path):
    """PIL.Image.open, loaded (which closes the file)."""
    im = PILImage.open(path)
    im.load()
    return im


def png_chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def bomb_png(width=20000, height=20000):
    """A PNG whose header claims width x height pixels, with one tiny
    IDAT: both Pillow and ungil must refuse it from the header alone."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) +
            png_chunk(b"IDAT", zlib.compress(b"\0" * 16)) + png_chunk(b"IEND", b""))


# ---------------------------------------------------------------------------
# constructors and conversions

@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "PA", "RGB", "RGBA",
                                  "CMYK", "I;16"])
def test_frombytes_and_tobytes_match_pillow(mode):
    pil = pil_photo("RGB").convert(mode) if mode not in ("PA", "I;16") else \
        PILImage.frombytes(mode, (61, 47), photo(61, 47)[..., :2].tobytes())
    img = ungil.Image.frombytes(mode, pil.size, pil.tobytes())
    assert (img.mode, img.size, img.width, img.height) == (mode, (61, 47), 61, 47)
    assert img.tobytes() == pil.tobytes()
    back = img.to_pil()
    assert back.mode == mode and back.size == pil.size
    assert back.tobytes() == pil.tobytes()


def test_frombytes_errors_like_pillow():
    with pytest.raises(ValueError, match="not enough image data"):
        ungil.Image.frombytes("RGB", (4, 4), b"\0" * 47)
    with pytest.raises(ValueError, match="not enough image data"):
        PILImage.frombytes("RGB", (4, 4), b"\0" * 47)
    with pytest.raises(ValueError, match="must be >= 0"):
        ungil.Image.frombytes("L", (-1, 4), b"")
    with pytest.raises(ValueError, match="unrecognized image mode"):
        ungil.Image.frombytes("XYZ", (1, 1), b"\0")
    with pytest.raises(ValueError, match="unrecognized image mode 'F'"):
        ungil.Image.frombytes("F", (1, 1), b"\0" * 4)
    with pytest.raises(TypeError):
        ungil.Image.frombytes("L", (2, 2), "text")
    # Extra bytes are ignored, as Pillow ignores them.
    assert ungil.Image.frombytes("L", (2, 1), b"abcdef").tobytes() == b"ab"
    empty = ungil.Image.frombytes("RGB", (0, 0), b"")
    assert empty.size == (0, 0) and empty.tobytes() == b""
    assert np.asarray(empty).shape == (0, 0, 3)


def test_direct_construction_is_refused_with_a_hint():
    with pytest.raises(TypeError, match="fromarray"):
        ungil._ungil.Image()
    with pytest.raises(TypeError, match="at most 2 arguments|argument"):
        ungil.Image.frombytes("L", (1, 1), b"\0").filter("BLUR", 1, 2)


@pytest.mark.parametrize("shape,mode", [((5, 7), "L"), ((5, 7, 1), "L"),
                                        ((5, 7, 2), "LA"), ((5, 7, 3), "RGB"),
                                        ((5, 7, 4), "RGBA")])
def test_fromarray_shares_memory_both_ways(shape, mode):
    a = np.arange(np.prod(shape), dtype=np.uint8).reshape(shape)
    img = ungil.Image.fromarray(a)
    assert img.mode == mode and img.size == (7, 5)
    assert img.shares is a and not img.readonly
    assert img.tobytes() == a.tobytes()
    a[2, 3] = 200  # a write through NumPy shows in the Image
    assert np.asarray(img).reshape(shape)[2, 3].tolist() == a[2, 3].tolist()
    assert img.tobytes() == a.tobytes()
    view = np.asarray(img)  # and a write through the Image shows in NumPy
    assert view.flags.writeable
    view[0, 0] = 17
    assert a.reshape(5, 7, -1)[0, 0, 0] == 17
    assert np.shares_memory(view, a)


def test_fromarray_row_strided_views_are_shared_not_copied():
    a = photo(40, 30)[..., :3].copy()
    window = a[5:25, 10:30]  # rows 120 bytes apart, 60 bytes used per row
    img = ungil.Image.fromarray(window)
    assert img.shares is window
    assert np.shares_memory(np.asarray(img), a)
    assert np.asarray(img).strides == window.strides
    got = img.filter("FIND_EDGES").tobytes()
    want = PILImage.fromarray(np.ascontiguousarray(window)).filter(
        ImageFilter.FIND_EDGES).tobytes()
    assert got == want
    a[10, 15] = [1, 2, 3]
    assert np.asarray(img)[5, 5].tolist() == [1, 2, 3]


def test_fromarray_copies_other_layouts():
    a = photo(20, 16)[..., :3].copy()
    for other in (a[:, ::2], a[::-1], a.transpose(1, 0, 2), a[..., ::-1]):
        img = ungil.Image.fromarray(other)
        assert img.shares is None
        assert img.tobytes() == np.ascontiguousarray(other).tobytes()
        assert not np.shares_memory(np.asarray(img), a)


def test_fromarray_readonly_and_other_buffers():
    a = photo(8, 6)[..., :3].copy()
    a.flags.writeable = False
    img = ungil.Image.fromarray(a)
    assert img.readonly and img.shares is a
    assert not np.asarray(img).flags.writeable
    assert memoryview(img).readonly
    with pytest.raises(TypeError, match="read-write"):
        io.BytesIO(b"x").readinto(img)  # asks for a writable buffer
    data = bytearray(range(12))
    grey = ungil.Image.fromarray(memoryview(data).cast("B", (3, 4)))
    assert (grey.mode, grey.size) == ("L", (4, 3))
    data[5] = 99
    assert grey.tobytes()[5] == 99
    cmyk = ungil.Image.fromarray(photo(4, 3), mode="CMYK")
    assert cmyk.mode == "CMYK"
    with pytest.raises(ValueError, match="bytes per pixel"):
        ungil.Image.fromarray(photo(4, 3), mode="RGB")
    with pytest.raises(TypeError, match="uint8"):
        ungil.Image.fromarray(np.zeros((3, 3), np.float32))
    with pytest.raises(ValueError, match="2-D"):
        ungil.Image.fromarray(np.zeros(9, np.uint8))
    with pytest.raises(ValueError, match="1 to 4 channels"):
        ungil.Image.fromarray(np.zeros((3, 3, 5), np.uint8))


def test_buffer_protocol_shapes():
    rgb = ungil.Image.from_pil(pil_photo("RGB"))
    m = memoryview(rgb)
    assert (m.shape, m.format, m.readonly) == ((47, 61, 3), "B", False)
    assert np.array_equal(np.asarray(rgb), np.asarray(pil_photo("RGB")))
    grey = ungil.Image.from_pil(pil_photo("L"))
    assert memoryview(grey).shape == (47, 61)
    wide = PILImage.frombytes("I;16", (5, 3), bytes(range(30)))
    arr = np.asarray(ungil.Image.from_pil(wide))
    assert arr.dtype == np.dtype("<u2") and arr.shape == (3, 5)
    assert np.array_equal(arr, np.asarray(wide))
    assert bytes(memoryview(rgb)) == rgb.tobytes()


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK"])
def test_from_pil_and_back(mode):
    pil = pil_photo("RGBA").convert(mode) if mode != "LA" else pil_photo("LA")
    for img in (ungil.Image.from_pil(pil), ungil.Image(pil)):
        assert isinstance(img, ungil.Image)
        assert (img.mode, img.size) == (pil.mode, pil.size)
        assert img.tobytes() == pil.tobytes()
        back = img.to_pil()
        assert isinstance(back, PILImage.Image)
        assert back.tobytes() == pil.tobytes()
        if mode == "P":
            assert img.getpalette() == pil.getpalette()
            assert back.getpalette() == pil.getpalette()
            assert back.convert("RGB").tobytes() == pil.convert("RGB").tobytes()
        else:
            assert img.getpalette() is None


def test_palette_transparency_survives_from_pil():
    pil = PILImage.frombytes("P", (3, 1), b"\0\1\2")
    pil.putpalette([10, 20, 30, 40, 50, 60, 70, 80, 90])
    pil.info["transparency"] = 1
    img = ungil.Image.from_pil(pil)
    assert img.getpalette("RGBA")[:12] == [10, 20, 30, 255, 40, 50, 60, 0,
                                           70, 80, 90, 255]
    assert img.to_pil().convert("RGBA").tobytes() == pil.convert("RGBA").tobytes()


def test_copy_and_pickle_own_their_pixels():
    a = photo(9, 4)[..., :3].copy()
    img = ungil.Image.fromarray(a)
    pal = ungil.Image.from_pil(pil_photo("P", 9, 4))
    for original in (img, pal):
        for clone in (original.copy(), copy.copy(original),
                      pickle.loads(pickle.dumps(original))):
            assert type(clone) is ungil.Image and clone.shares is None
            assert (clone.mode, clone.size) == (original.mode, original.size)
            assert clone.tobytes() == original.tobytes()
            assert clone.getpalette() == original.getpalette()
    clone = img.copy()
    a[0, 0] = [1, 2, 3]
    assert img.tobytes()[:3] == b"\x01\x02\x03"
    assert clone.tobytes()[:3] != b"\x01\x02\x03"


def test_image_from_array_and_repr():
    a = photo(9, 4)[..., :3].copy()
    img = ungil.Image(a)
    assert img.shares is a
    assert repr(img).startswith("<ungil.Image image mode=RGB size=9x4 at 0x")
    pil_repr = repr(PILImage.fromarray(a))
    assert pil_repr.startswith("<PIL.Image.Image image mode=RGB size=9x4 at 0x")
    assert img.format is None


# ---------------------------------------------------------------------------
# filters

@pytest.mark.parametrize("mode", FILTER_MODES)
def test_every_builtin_filter_matches_pillow(mode):
    pil = pil_photo(mode, 61, 47, seed=3)
    img = ungil.Image.from_pil(pil)
    for name in BUILTINS:
        want = pil.filter(getattr(ImageFilter, name)).tobytes()
        assert img.filter(name).tobytes() == want, name
        assert img.filter(name.lower()).tobytes() == want, name
        assert img.filter(getattr(ImageFilter, name)).tobytes() == want, name
        assert img.filter(getattr(ImageFilter, name)()).tobytes() == want, name


def test_filter_result_is_a_new_owned_image():
    a = photo(30, 20)[..., :3].copy()
    img = ungil.Image.fromarray(a)
    out = img.filter("SMOOTH")
    assert isinstance(out, ungil.Image) and out.shares is None
    assert (out.mode, out.size) == ("RGB", (30, 20))
    assert not np.shares_memory(np.asarray(out), a)
    tiny = ungil.Image.frombytes("L", (2, 2), b"abcd")
    assert tiny.filter("SMOOTH_MORE").tobytes() == b"abcd"  # smaller than 5x5


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_kernel_objects_and_tuples_match_pillow(mode):
    pil = pil_photo(mode, 40, 33, seed=5)
    img = ungil.Image.from_pil(pil)
    weights3 = [0.1, -0.7, 0.3, 1.9, 0.2, -0.4, 0.05, 0.6, -0.15]
    weights5 = [((i * 7) % 11) - 5 for i in range(25)]
    kernels = [
        ImageFilter.Kernel((3, 3), weights3),
        ImageFilter.Kernel((3, 3), weights3, scale=0.7, offset=13),
        ImageFilter.Kernel((5, 5), weights5, scale=9, offset=-4),
        ImageFilter.Kernel((5, 5), [1] * 25),
    ]
    for k in kernels:
        want = pil.filter(k).tobytes()
        assert img.filter(k).tobytes() == want
        size, scale, offset, weights = k.filterargs
        assert img.filter((size[0], weights, scale, offset)).tobytes() == want
        assert img.filter((size, tuple(weights), scale, offset)).tobytes() == want
    # scale None in a tuple is the weights' sum, summed as Pillow sums them.
    want = pil.filter(ImageFilter.Kernel((3, 3), weights3)).tobytes()
    assert img.filter((3, weights3, None, 0)).tobytes() == want


def test_bad_kernels_are_refused():
    img = ungil.Image.from_pil(pil_photo("L", 10, 10))
    with pytest.raises(ValueError, match="not enough coefficients"):
        img.filter((3, [1] * 8, None, 0))
    with pytest.raises(ValueError, match="bad kernel size"):
        img.filter((7, [1] * 49, None, 0))
    with pytest.raises(ValueError, match="bad kernel size"):
        img.filter(((3, 5), [1] * 15, None, 0))
    with pytest.raises(ValueError, match="unknown filter 'FIND_EDGE'"):
        img.filter("FIND_EDGE")
    with pytest.raises(TypeError, match="GaussianBlur"):
        img.filter(ImageFilter.GaussianBlur(2))
    with pytest.raises(TypeError, match="MedianFilter"):
        img.filter(ImageFilter.MedianFilter)
    with pytest.raises(ValueError, match="threads"):
        img.filter("BLUR", threads=0)
    with pytest.raises(TypeError, match="threads"):
        img.filter("BLUR", threads=1.5)


def test_threads_give_the_same_bytes():
    img = ungil.Image.fromarray(photo(900, 700, seed=7))
    for name in ("SMOOTH_MORE", "FIND_EDGES"):
        one = img.filter(name, threads=1).tobytes()
        assert img.filter(name, threads=None).tobytes() == one
        assert img.filter(name, threads=3).tobytes() == one
    pil = PILImage.fromarray(photo(900, 700, seed=7))
    assert img.filter("SMOOTH_MORE").tobytes() == \
        pil.filter(ImageFilter.SMOOTH_MORE).tobytes()


def test_modes_refused_like_pillow():
    pal = pil_photo("P", 12, 9)
    with pytest.raises(ValueError, match="^cannot filter palette images$"):
        pal.filter(ImageFilter.BLUR)
    with pytest.raises(ValueError, match="^cannot filter palette images$"):
        ungil.Image.from_pil(pal).filter(ImageFilter.BLUR)
    wide = ungil.Image.frombytes("I;16", (4, 4), bytes(32))
    with pytest.raises(ValueError, match="I;16"):
        wide.filter("BLUR")
    # Modes Pillow filters, ungil filters identically.
    for mode in ("1", "CMYK", "PA"):
        pil = pil_photo("RGBA", 20, 15).convert(mode) if mode != "PA" else \
            PILImage.frombytes("PA", (20, 15), photo(20, 15)[..., :2].tobytes())
        got = ungil.Image.from_pil(pil).filter("EDGE_ENHANCE").to_pil()
        assert got.tobytes() == pil.filter(ImageFilter.EDGE_ENHANCE).tobytes(), mode


def test_gil_is_released_while_filtering():
    """Another Python thread runs while a long filter call is in the middle
    of its work: the loop's timestamps fall inside the call's middle half,
    which a thread holding the GIL for the whole call would not allow."""
    img = ungil.Image.fromarray(np.zeros((2500, 3000, 4), np.uint8))
    stamps, stop = [], threading.Event()

    def spin():
        while not stop.is_set():
            stamps.append(time.perf_counter())

    t = threading.Thread(target=spin)
    t.start()
    try:
        start = time.perf_counter()
        img.filter("BLUR", threads=1)
        end = time.perf_counter()
    finally:
        stop.set()
        t.join()
    quarter = (end - start) / 4
    inside = [s for s in stamps if start + quarter < s < end - quarter]
    assert inside, f"no progress of the other thread during {end - start:.3f} s"


# ---------------------------------------------------------------------------
# open and save

@pytest.fixture
def pictures(tmp_path):
    """JPEG and PNG files written by Pillow, in several modes."""
    files = {}
    for mode in ("L", "RGB"):
        p = tmp_path / f"{mode}.jpg"
        pil_photo(mode, 64, 48, seed=1).save(p, quality=85)
        files[p.name] = p
    for mode in ("L", "LA", "RGB", "RGBA", "P"):
        p = tmp_path / f"{mode}.png"
        pil_photo(mode, 64, 48, seed=2).save(p)
        files[p.name] = p
    return files


def test_open_matches_pillow(pictures):
    for name, path in pictures.items():
        pil = pil_open(path)
        for source in (path, str(path), os.fsencode(path)):
            img = ungil.Image.open(source)
            assert (img.mode, img.size) == (pil.mode, pil.size), name
            assert img.tobytes() == pil.tobytes(), name
            assert img.format == pil.format, name
        with open(path, "rb") as f:
            assert ungil.Image.open(f).tobytes() == pil.tobytes()
        if pil.mode == "P":
            assert ungil.Image.open(path).getpalette() == pil.getpalette()


def test_open_errors_like_pillow(tmp_path, pictures):
    text = tmp_path / "notes.png"
    text.write_bytes(b"this is not a picture\n" * 10)
    with pytest.raises(ungil.UnidentifiedImageError,
                       match="cannot identify image file") as info:
        ungil.Image.open(text)
    assert isinstance(info.value, OSError)
    assert str(text) in str(info.value)
    with pytest.raises(PILImage.UnidentifiedImageError):
        PILImage.open(text)

    for name in ("RGB.jpg", "RGBA.png"):
        data = pictures[name].read_bytes()
        cut = tmp_path / ("cut-" + name)
        cut.write_bytes(data[: len(data) // 2])
        with pytest.raises(OSError, match="truncated or corrupt"):
            ungil.Image.open(cut)
        with pytest.raises(OSError), PILImage.open(cut) as im:
            im.load()
    broken = bytearray(pictures["RGB.png"].read_bytes())
    broken[60:90] = b"\xff" * 30  # inside the first IDAT: bad zlib data
    bad = tmp_path / "bad.png"
    bad.write_bytes(bytes(broken))
    with pytest.raises(OSError, match="truncated or corrupt"):
        ungil.Image.open(bad)

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(bomb_png())
    with pytest.raises(ungil.DecompressionBombError,
                       match=r"400000000 pixels.*178956970 pixels"):
        ungil.Image.open(bomb)
    with pytest.raises(PILImage.DecompressionBombError):
        PILImage.open(bomb)
    assert not issubclass(ungil.DecompressionBombError, OSError)
    with pytest.raises(ungil.DecompressionBombError, match="3072 pixels"):
        ungil.Image.open(pictures["RGB.png"], max_pixels=1000)
    assert ungil.Image.open(pictures["RGB.png"], max_pixels=None).size == (64, 48)

    with pytest.raises(FileNotFoundError):
        ungil.Image.open(tmp_path / "missing.png")
    with pytest.raises(TypeError, match="path or a binary file"):
        ungil.Image.open(42)


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "P", "1"])
def test_png_save_open_round_trip_is_exact(tmp_path, mode):
    pil = pil_photo(mode, 33, 21, seed=4) if mode != "LA" else pil_photo("LA", 33, 21)
    img = ungil.Image.from_pil(pil)
    path = tmp_path / "out.png"
    img.save(path)
    assert sorted(os.listdir(tmp_path)) == ["out.png"]
    again = ungil.Image.open(path)
    assert (again.mode, again.tobytes()) == (mode, pil.tobytes())
    assert pil_open(path).tobytes() == pil.tobytes()
    img.save(tmp_path / "levels.png", compress_level=0)
    img.save(tmp_path / "levels9.png", compress_level=9)
    assert pil_open(tmp_path / "levels9.png").tobytes() == pil.tobytes()
    assert (tmp_path / "levels.png").stat().st_size > (tmp_path / "levels9.png").stat().st_size


def test_jpeg_save_decodes_in_pillow(tmp_path):
    pil = pil_photo("RGB", 80, 60, seed=6)
    img = ungil.Image.from_pil(pil)
    img.save(tmp_path / "a.jpg")
    img.save(tmp_path / "b.JPEG", quality=30)
    img.save(tmp_path / "c.bin", format="jpeg")
    for name in ("a.jpg", "b.JPEG", "c.bin"):
        back = pil_open(tmp_path / name)
        assert (back.format, back.mode, back.size) == ("JPEG", "RGB", (80, 60))
        assert ungil.Image.open(tmp_path / name).tobytes() == back.tobytes()
    exact = np.asarray(pil).astype(int)
    err75 = np.abs(np.asarray(pil_open(tmp_path / "a.jpg")).astype(int) - exact).mean()
    err30 = np.abs(np.asarray(pil_open(tmp_path / "b.JPEG")).astype(int) - exact).mean()
    buf = io.BytesIO()
    pil.save(buf, "JPEG")
    pillow75 = np.abs(np.asarray(pil_open(buf)).astype(int) - exact).mean()
    assert err75 < err30
    assert err75 <= 1.25 * pillow75 + 0.25  # as faithful as Pillow's own
    out = io.BytesIO()
    img.save(out, format="PNG")
    assert pil_open(io.BytesIO(out.getvalue())).tobytes() == pil.tobytes()
    with open(tmp_path / "named.png", "wb") as f:
        img.save(f)
    assert pil_open(tmp_path / "named.png").tobytes() == pil.tobytes()


def test_save_errors_like_pillow(tmp_path):
    rgba = ungil.Image.from_pil(pil_photo("RGBA", 8, 8))
    with pytest.raises(OSError, match="^cannot write mode RGBA as JPEG$"):
        rgba.save(tmp_path / "x.jpg")
    with pytest.raises(OSError, match="^cannot write mode RGBA as JPEG$"):
        pil_photo("RGBA", 8, 8).save(tmp_path / "y.jpg")
    with pytest.raises(ValueError, match="^unknown file extension: .xyz$"):
        rgba.save(tmp_path / "x.xyz")
    with pytest.raises(ValueError, match="unknown format 'GIF'"):
        rgba.save(tmp_path / "x.gif", format="GIF")
    with pytest.raises(FileNotFoundError):
        rgba.save(tmp_path / "no" / "such" / "dir.png")
    with pytest.raises(ValueError, match="quality"):
        rgba.save(tmp_path / "q.jpg", quality=0)
    with pytest.raises(ValueError, match="format is needed"):
        rgba.save(io.BytesIO())
    assert os.listdir(tmp_path) == []  # nothing half-written is left


# ---------------------------------------------------------------------------
# filter_files

def pillow_pipeline(path, filter_name):
    return pil_open(path).filter(getattr(ImageFilter, filter_name))


@pytest.fixture
def batch(tmp_path):
    """Inputs for filter_files: good files of several kinds, broken ones,
    and a name that appears twice."""
    src = tmp_path / "in"
    (src / "other").mkdir(parents=True)
    good = []
    for i, mode in enumerate(("RGB", "L", "RGBA", "LA")):
        p = src / f"png{i}.png"
        pil_photo(mode, 70 + i, 50, seed=i).save(p)
        good.append(p)
    for i, mode in enumerate(("RGB", "L")):
        p = src / f"jpg{i}.jpg"
        pil_photo(mode, 64, 48, seed=10 + i).save(p, quality=90)
        good.append(p)
    dup = src / "other" / "png0.png"
    pil_photo("RGB", 30, 20, seed=99).save(dup)
    text = src / "text.png"
    text.write_bytes(b"hello")
    cut = src / "cut.jpg"
    cut.write_bytes(good[4].read_bytes()[:200])
    palette = src / "pal.png"
    pil_photo("P", 20, 20).save(palette)
    return {"dir": src, "good": good, "dup": dup, "text": text, "cut": cut,
            "palette": palette, "missing": src / "missing.png"}


def test_filter_files_mixed_batch_matches_pillow(tmp_path, batch):
    out = tmp_path / "out"
    paths = [batch["good"][0], batch["text"], *batch["good"][1:],
             batch["missing"], batch["cut"], batch["palette"], batch["dup"],
             batch["dir"]]
    results = ungil.filter_files(paths, ImageFilter.FIND_EDGES, out)
    assert [r.input for r in results] == paths  # input order, as given
    errors = {pathlib.Path(r.input).name: r.error for r in results if not r.ok}
    assert errors == {
        "text.png": "cannot identify image file",
        "missing.png": "No such file or directory",
        "cut.jpg": "image file is truncated or corrupt",
        "pal.png": "cannot filter palette images",
        "in": "Is a directory",
    }
    assert all(r.output is None for r in results if not r.ok)
    names = {pathlib.Path(r.input).name if r.input != batch["dup"] else "dup":
             pathlib.Path(r.output).name for r in results if r.ok}
    assert names == {"png0.png": "png0.png", "png1.png": "png1.png",
                     "png2.png": "png2.png", "png3.png": "png3.png",
                     "jpg0.jpg": "jpg0.jpg", "jpg1.jpg": "jpg1.jpg",
                     "dup": "png0 (1).png"}
    assert sorted(os.listdir(out)) == sorted(names.values())
    for r in results:
        if not r.ok:
            continue
        assert pathlib.Path(r.output).parent == out
        want = pillow_pipeline(r.input, "FIND_EDGES")
        got = pil_open(r.output)
        assert (got.mode, got.size) == (want.mode, want.size)
        if r.output.endswith(".png"):
            assert got.tobytes() == want.tobytes()  # PNG: exact
        else:
            # JPEG: what Pillow decodes from ungil's file is what ungil
            # decodes, and as close to the exact filter as Pillow's own
            # encoder gets.
            assert ungil.Image.open(r.output).tobytes() == got.tobytes()
            buf = io.BytesIO()
            want.save(buf, "JPEG")
            exact = np.asarray(want).astype(int)
            ours = np.abs(np.asarray(got).astype(int) - exact).mean()
            theirs = np.abs(np.asarray(pil_open(buf)).astype(int) - exact).mean()
            assert ours <= 1.25 * theirs + 0.25


def test_filter_files_threads_and_formats(tmp_path, batch):
    good = batch["good"]
    one = ungil.filter_files(good, "sharpen", tmp_path / "one", threads=1)
    many = ungil.filter_files(good, "SHARPEN", tmp_path / "many", threads=None)
    three = ungil.filter_files(good, ImageFilter.SHARPEN(), tmp_path / "three",
                               threads=3)
    for a, b, c in zip(one, many, three):
        assert a.ok and b.ok and c.ok
        data = pathlib.Path(a.output).read_bytes()
        assert pathlib.Path(b.output).read_bytes() == data
        assert pathlib.Path(c.output).read_bytes() == data
    as_png = ungil.filter_files(good, "SMOOTH", tmp_path / "png", format="PNG")
    assert [pathlib.Path(r.output).name for r in as_png] == [
        "png0.png", "png1.png", "png2.png", "png3.png", "jpg0.png", "jpg1.png"]
    for r in as_png:
        got = pil_open(r.output)
        assert got.format == "PNG"
        assert got.tobytes() == pillow_pipeline(r.input, "SMOOTH").tobytes()
    as_jpeg = ungil.filter_files(good[:3], "SMOOTH", tmp_path / "jpg",
                                 format="JPEG", quality=95)
    assert [r.error for r in as_jpeg] == [None, None,
                                          "cannot write mode RGBA as JPEG"]
    assert pil_open(as_jpeg[0].output).format == "JPEG"
    plain = ungil.filter_files(good[:1], None, tmp_path / "plain")
    assert pil_open(plain[0].output).tobytes() == \
        pil_open(good[0]).tobytes()
    bomb = ungil.filter_files(good[:1], "BLUR", tmp_path / "bomb", max_pixels=100)
    assert "exceeds limit of 100 pixels" in bomb[0].error
    assert ungil.filter_files([], "BLUR", tmp_path / "none") == []
    with pytest.raises(ValueError, match="unknown filter"):
        ungil.filter_files(good, "NOPE", tmp_path / "nope")
    with pytest.raises(NotADirectoryError):
        ungil.filter_files(good, "BLUR", good[0])


def test_filter_files_progress(tmp_path, batch, capsys):
    paths = [*batch["good"], batch["text"]] * 4
    calls = []
    results = ungil.filter_files(paths, "BLUR", tmp_path / "a", threads=1,
                                 progress=lambda *args: calls.append(args))
    assert sum(not r.ok for r in results) == 4
    assert calls[-1] == (len(paths), 4, len(paths))  # the final state
    assert all(c[2] == len(paths) for c in calls)
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)
    ungil.filter_files(batch["good"][:2], "BLUR", tmp_path / "b",
                       progress="plain")
    assert capsys.readouterr().err.endswith("\r2/2 files \n")

    def stop(done, failed, total):
        raise RuntimeError("enough")

    with pytest.raises(RuntimeError, match="enough"):
        ungil.filter_files(paths, "BLUR", tmp_path / "c", progress=stop)
    with pytest.raises(TypeError, match="callable"):
        ungil._ungil._filter_files([], "BLUR", str(tmp_path), progress=3)


def test_filter_files_writes_nothing_outside_out_dir(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    names = ["..png", " .png", "a\\..\\b.png", "-rf.png", "CON.png",
             "\u202egnp.exe.png", "x" * 250 + ".png"]
    paths = []
    for i, name in enumerate(names):
        p = src / name
        pil_photo("RGB", 12, 10, seed=i).save(p, format="PNG")
        paths.append(p)
    out = tmp_path / "out"
    out.mkdir()
    outside = tmp_path / "victim.png"
    outside.write_bytes(b"keep")
    (out / "-rf.png").symlink_to(outside)  # planted: replaced, not followed
    before = sorted(os.listdir(tmp_path))
    results = ungil.filter_files(paths, "BLUR", out)
    assert all(r.ok for r in results), results
    assert sorted(os.listdir(tmp_path)) == before
    assert outside.read_bytes() == b"keep"
    written = os.listdir(out)
    assert len(written) == len(names)
    for r in results:
        p = pathlib.Path(r.output)
        assert p.parent == out and p.is_file() and not p.is_symlink()
        assert len(p.name.encode()) <= 200
        assert "\\" not in p.name and "\u202e" not in p.name
        assert not p.name.startswith(".")
        assert pil_open(p).tobytes() == pillow_pipeline(r.input, "BLUR").tobytes()


def test_filter_files_ctrl_c_cancels_promptly(child, tmp_path):
    src = tmp_path / "one.png"
    pil_photo("RGB", 640, 480, seed=1).save(src)
    proc, started = child.start(f"""
        import os, ungil
        paths = [{str(src)!r}] * 3000
        print("ready", flush=True)
        try:
            ungil.filter_files(paths, "SMOOTH_MORE", {str(tmp_path / 'out')!r},
                               threads=1, format="PNG", compress_level=1)
        except KeyboardInterrupt:
            print("interrupted", len(os.listdir({str(tmp_path / 'out')!r})))
        else:
            print("finished")
    """)
    out = tmp_path / "out"
    with proc:
        child.wait_for_line(proc, "ready")
        deadline = time.monotonic() + child.timeout
        while not (out.is_dir() and os.listdir(out)):  # some files are done
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        result = child.finish(proc, child.timeout, started)
    assert result.returncode == 0, result
    word, count = result.stdout.split()
    assert word == "interrupted"
    assert 0 < int(count) < 3000
    assert not any(n.endswith(".part") for n in os.listdir(tmp_path / "out"))
