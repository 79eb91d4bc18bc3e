"""ungil.Image and ungil.filter_files: Pillow-compatible images in C.

ungil.Image subclasses the extension's Image type (src/python/image.c),
which holds the pixels and does the heavy work with the GIL released:
decoding, Pillow-exact filtering, encoding, saving.  This module adds what
is easier in Python: reading files with Python's own I/O (which releases
the GIL as well), conversions to and from PIL.Image, and accepting
PIL.ImageFilter objects.  Pillow is never imported unless one of its
objects is handed in or to_pil() is called.

Exceptions, chosen to match what a Pillow user already catches:
  - a file that is not JPEG or PNG: UnidentifiedImageError (an OSError,
    like PIL.UnidentifiedImageError), "cannot identify image file ...";
  - a truncated or corrupt file: OSError ("image file is truncated or
    corrupt: ...");
  - more pixels than max_pixels: DecompressionBombError (an Exception, like
    PIL.Image.DecompressionBombError);
  - a missing or unreadable file: FileNotFoundError, PermissionError...;
  - filtering a palette image: ValueError("cannot filter palette images");
  - saving a mode the format cannot hold: OSError("cannot write mode RGBA
    as JPEG"); an unknown extension: ValueError("unknown file extension").
"""

import errno
import os
import sys
from typing import NamedTuple

from . import _ungil
from ._ungil import MAX_IMAGE_PIXELS, DecompressionBombError, UnidentifiedImageError

__all__ = ["MAX_IMAGE_PIXELS", "DecompressionBombError", "FilterResult",
           "Image", "UnidentifiedImageError", "filter_files"]

_EXTENSIONS = {".jpg": "JPEG", ".jpeg": "JPEG", ".jpe": "JPEG",
               ".jfif": "JPEG", ".png": "PNG"}


def _kernel_spec(filter):
    """What the extension takes for `filter`: a built-in name, a
    (size, weights[, scale[, offset]]) tuple, or a PIL.ImageFilter Kernel or
    built-in filter (class or instance), read through its filterargs."""
    if isinstance(filter, str):
        return filter
    if isinstance(filter, tuple) and 2 <= len(filter) <= 4:
        return filter + (None, 0)[len(filter) - 2:]  # scale None, offset 0
    if callable(filter):  # Pillow instantiates filter classes the same way
        filter = filter()
    args = getattr(filter, "filterargs", None)
    if args is None:
        raise TypeError(
            f"ungil cannot apply {type(filter).__name__}: it filters with a "
            f"built-in name, a (size, weights, scale, offset) tuple, or "
            f"PIL.ImageFilter.Kernel and the built-in kernel filters")
    size, scale, offset, weights = args
    return (size, tuple(weights), scale, offset)


def _is_pil(obj):
    module = type(obj).__module__ or ""
    return module.startswith("PIL.") and hasattr(obj, "tobytes") and \
        hasattr(obj, "mode")


class Image(_ungil.Image):
    """An 8-bit image in one of Pillow's modes (1, L, LA, P, PA, RGB, RGBA,
    CMYK, I;16), filtered with Pillow's exact bytes on native threads.

    Build one with Image.open(path), Image.frombytes(mode, size, data),
    Image.fromarray(array) (shares the array's memory when it can),
    Image.from_pil(pil_image) or Image(source) (a PIL image or an array).
    NumPy sees the pixels through the buffer protocol: numpy.asarray(img)
    has shape (height, width) for one sample per pixel, else (height,
    width, channels), dtype uint8 (I;16: '<u2'), and is writable unless
    the Image shares read-only memory.
    """

    __slots__ = ("_format",)

    def __new__(cls, source):
        if _is_pil(source):
            return cls.from_pil(source)
        return cls.fromarray(source)

    @property
    def format(self):
        """"JPEG" or "PNG" for an image from Image.open, else None."""
        return getattr(self, "_format", None)

    @classmethod
    def open(cls, fp, max_pixels=MAX_IMAGE_PIXELS):
        """Read and decode a JPEG or PNG file: a path or a binary file
        object.  The pixels are what PIL.Image.open(fp) gives, in the mode
        it reports.  Reading and decoding release the GIL.  An image of
        more than `max_pixels` pixels (None: no limit) raises
        DecompressionBombError before any pixel memory is allocated."""
        if isinstance(fp, (str, bytes, os.PathLike)):
            name = os.fsdecode(fp)
            with open(fp, "rb") as f:
                data = f.read()
        elif hasattr(fp, "read"):
            name = getattr(fp, "name", None)
            data = fp.read()
        else:
            raise TypeError(f"open() needs a path or a binary file object, "
                            f"not {type(fp).__name__}")
        image, fmt = cls._decode(data, name, max_pixels)
        image._format = fmt
        return image

    @classmethod
    def from_pil(cls, im):
        """A copy of the PIL.Image `im` (Pillow does not share its pixel
        memory), palette and palette transparency included."""
        image = cls.frombytes(im.mode, im.size, im.tobytes())
        if im.mode in ("P", "PA"):
            palette = im.getpalette("RGBA")
            if palette:
                transparency = im.info.get("transparency")
                if isinstance(transparency, int) and \
                        4 * transparency < len(palette):
                    palette[4 * transparency + 3] = 0
                elif isinstance(transparency, bytes):
                    for i, alpha in enumerate(transparency[:len(palette) // 4]):
                        palette[4 * i + 3] = alpha
                image.putpalette(bytes(palette), "RGBA")
        return image

    def to_pil(self):
        """A PIL.Image.Image with the same mode, size, bytes and palette."""
        from PIL import Image as PILImage

        im = PILImage.frombytes(self.mode, self.size, self.tobytes())
        if self.mode in ("P", "PA"):
            palette = self.getpalette("RGBA")
            if palette:
                im.putpalette(palette, "RGBA")
        return im

    def copy(self):
        """A copy that owns its pixels (and palette), like PIL's copy()."""
        image = type(self).frombytes(self.mode, self.size, self.tobytes())
        if self.mode in ("P", "PA"):
            image.putpalette(bytes(self.getpalette("RGBA")), "RGBA")
        return image

    __copy__ = copy

    def __reduce__(self):
        palette = self.getpalette("RGBA")
        return (_rebuild, (type(self), self.mode, self.size, self.tobytes(),
                           None if palette is None else bytes(palette)))

    def filter(self, filter, threads=None):
        """A new Image, filtered exactly as PIL.Image.filter would.

        `filter` is a built-in name ("FIND_EDGES", any case), a
        PIL.ImageFilter built-in filter (class or instance) or Kernel, or a
        (size, weights, scale, offset) tuple.  threads=None uses every core,
        threads=1 only the calling thread.  The GIL is released while
        filtering."""
        return super().filter(_kernel_spec(filter), threads)

    def save(self, fp, format=None, quality=75, compress_level=6):
        """Encode as JPEG or PNG (format None: from the file name's
        extension) and write to `fp`, a path or a binary file object.  A
        path is written atomically: to "<path>.part", renamed when
        complete.  quality is for JPEG (1..100), compress_level for PNG
        (0..9), with Pillow's defaults.  The GIL is released."""
        if isinstance(fp, (str, bytes, os.PathLike)):
            self._save(fp, format, quality, compress_level)
            return
        if format is None:
            name = getattr(fp, "name", None)
            if not isinstance(name, str):
                raise ValueError("a format is needed to write to a file "
                                 "object without a name")
            ext = os.path.splitext(name)[1]
            format = _EXTENSIONS.get(ext.lower())
            if format is None:
                raise ValueError(f"unknown file extension: {ext}")
        fp.write(self._encode(format, quality, compress_level))


def _rebuild(cls, mode, size, data, palette):
    """Unpickles an Image (see Image.__reduce__)."""
    image = cls.frombytes(mode, size, data)
    if palette is not None:
        image.putpalette(palette, "RGBA")
    return image


class FilterResult(NamedTuple):
    """What filter_files did with one input: the path as given, the file
    written (None on failure) and why it failed (None on success)."""

    input: object
    output: object
    error: str | None

    @property
    def ok(self):
        return self.error is None


class _Progress:
    """A progress display for filter_files: tqdm when installed (and not
    asked for "plain"), else one line on stderr, redrawn in place."""

    def __init__(self, kind, total):
        self.bar = None
        if kind != "plain":
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, unit="file", dynamic_ncols=True)

    def __call__(self, done, failed, total):
        if self.bar is not None:
            self.bar.n = done
            self.bar.set_postfix_str(f"{failed} failed" if failed else "",
                                     refresh=False)
            self.bar.refresh()
            return
        failed_text = f", {failed} failed" if failed else ""
        sys.stderr.write(f"\r{done}/{total} files{failed_text} ")
        sys.stderr.flush()

    def close(self):
        if self.bar is not None:
            self.bar.close()
        else:
            sys.stderr.write("\n")
            sys.stderr.flush()


def filter_files(paths, filter, out_dir, threads=None, format=None,
                 quality=75, compress_level=6, max_pixels=MAX_IMAGE_PIXELS,
                 progress=False):
    """Decode, filter, encode and save every file of `paths` into
    `out_dir` (created if missing), in parallel on native threads with the
    GIL released; return one FilterResult per input, in input order.

    `filter` is what Image.filter takes, or None to only re-encode.  Each
    output is named after its input's file name (sanitised, inside
    out_dir only; duplicates become "a (1).png", "a (2).png" in input
    order); `format` ("JPEG" or "PNG") forces the output format and
    extension, otherwise the extension decides, as with Image.save.  A
    broken file gets its error message and never stops the others.
    threads=None uses every core.  Ctrl-C stops promptly: files not yet
    started are skipped and KeyboardInterrupt is raised.  progress: True
    for a progress bar (tqdm when installed), "plain" for a plain line on
    stderr, or a callable(done, failed, total) called about every 100 ms
    and once at the end (an exception from it cancels the batch)."""
    paths = list(paths)
    kernel = None if filter is None else _kernel_spec(filter)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(errno.ENOTDIR, "not a directory",
                                 os.fspath(out_dir)) from None
    bar = None
    if callable(progress):
        report = progress
    elif progress:
        report = bar = _Progress(progress, len(paths))
    else:
        report = None
    try:
        raw = _ungil._filter_files([os.fspath(p) for p in paths], kernel,
                                   out_dir, threads, format, quality,
                                   compress_level, max_pixels, report)
    finally:
        if bar is not None:
            bar.close()
    directory = os.fspath(out_dir)
    results = []
    for path, (name, error) in zip(paths, raw):
        output = None
        if name is not None:
            if isinstance(directory, bytes):
                name = os.fsencode(name)
            output = os.path.join(directory, name)
        results.append(FilterResult(path, output, error))
    return results


# Shown as ungil.Image in reprs and tracebacks, like PIL.Image.Image.
Image.__module__ = FilterResult.__module__ = "ungil"
