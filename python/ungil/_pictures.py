"""ungil.download_pictures: the course's download_picture, as one native
pipeline.

Downloads run on libcurl's multi loop, each body goes in memory to a pool
of native CPU threads that decode it, filter it (Pillow-exact kernels) and
save the result (see src/core/pictures.c).  This module turns arguments into
options, waits interruptibly, draws progress and shapes the results.
"""

import os
from typing import NamedTuple

from . import _ungil
from ._download import _make_bar
from ._image import _kernel_spec

__all__ = ["PictureResult", "PictureResults", "download_pictures"]


class PictureResult(NamedTuple):
    """What happened to one picture URL.

    index: position in the input.  url / final_url: as given / after
    redirects.  status: last HTTP status (0 if none).  bytes: body size.
    attempts: transfers tried.  first_byte, total: download seconds.
    path: the file written (None unless saved).  width, height, mode
    ("L", "RGB", ...): of the decoded picture (0, 0, None if it was not
    decoded).  input_format / format: "JPEG" or "PNG", read / written.
    out_bytes: size of the file.  decode, filter, encode, save: seconds
    spent in each CPU step.  error: None, or "url", "network", "http",
    "too_big", "redirect", "protocol", "timeout", "format" (not a JPEG or
    PNG), "corrupt" (corrupt or truncated), "bomb" (over the pixel limit),
    "mode" (a mode the filter or format refuses), "io", "memory",
    "cancelled".  stage: where it failed ("download", "decode", "filter",
    "encode", "save").  message: the reason in words.
    """

    index: int
    url: str
    final_url: str | None
    status: int
    bytes: int
    attempts: int
    first_byte: float
    total: float
    path: str | None
    width: int
    height: int
    mode: str | None
    input_format: str | None
    format: str | None
    out_bytes: int
    decode: float
    filter: float
    encode: float
    save: float
    error: str | None
    stage: str | None
    message: str | None

    @property
    def ok(self):
        """True when the filtered picture was saved."""
        return self.error is None


class PictureResults(list):
    """The list of PictureResult, in input order, with the run's totals in
    .summary: total, saved, failed, bytes_in, bytes_out, peak_held_bytes,
    peak_held_pictures, elapsed, and the summed seconds download, decode,
    filter, encode, save."""

    summary: dict


def download_pictures(urls, dest, *, filter="FIND_EDGES", concurrency=64,
                      per_host=8, threads=None, format=None, trace=None,
                      retries=3, timeout=None, connect_timeout=10.0,
                      max_bytes=100_000_000, max_pixels=None, quality=75,
                      max_held_bytes=256 << 20, max_held_pictures=None,
                      progress=False):
    """Download every picture, apply `filter`, save it into `dest`.

    The course's download_picture (requests.get, Image.open,
    .filter(ImageFilter.FIND_EDGES), save) for all `urls` at once, with
    the GIL released throughout: `concurrency` transfers (`per_host` per
    host) on one native loop, and `threads` native CPU threads (default:
    one per CPU) decoding, filtering and saving as bodies arrive.

    filter: a built-in name ("FIND_EDGES", "BLUR", ...), a PIL.ImageFilter
    built-in or Kernel (3x3 or 5x5), or (size, weights[, scale[, offset]]).
    The pixels are byte for byte Pillow's.  format: None writes each picture
    in the format its file name's extension says, as Pillow's save(path)
    does (a PNG served as "a.jpg" is saved as a JPEG), and keeps the
    input's format for a name without an image extension; "png" or "jpeg"
    converts (the file extension follows).  quality: JPEG quality (Pillow's default 75).
    trace: an ungil.Trace that gets the transfers and the decode, filter,
    encode and save steps on one timeline.  retries, timeout (seconds per
    attempt, None: no limit), connect_timeout, max_bytes (per body): as
    for ungil.download.  max_pixels: refuse bigger pictures (default:
    Pillow's decompression-bomb limit).  max_held_bytes and
    max_held_pictures cap what waits between download and save: while
    they are reached, no new transfer starts.  progress: True for a
    progress bar (tqdm when installed), "plain" for a plain one.

    Returns a PictureResults list (one PictureResult per URL, in input
    order; .summary holds the totals, peak held memory included).  One
    failed URL never stops the others.  Files appear under their final
    names only when complete; Ctrl-C stops everything within a second and
    raises KeyboardInterrupt.
    """
    urls = [u if isinstance(u, str) else os.fspath(u) for u in urls]
    dest = os.fspath(dest)
    os.makedirs(dest, exist_ok=True)
    if concurrency < 1 or per_host < 1:
        raise ValueError("concurrency and per_host must be at least 1")
    if threads is not None and threads < 1:
        raise ValueError("threads must be at least 1")
    if format is not None and format not in ("png", "jpeg"):
        raise ValueError(f"format must be None, 'png' or 'jpeg', not {format!r}")
    if not 1 <= quality <= 100:
        raise ValueError("quality must be from 1 to 100")
    options = {
        "kernel": _kernel_spec(filter), "concurrency": concurrency,
        "per_host": per_host, "threads": threads, "format": format,
        "trace": trace, "retries": retries, "timeout": timeout,
        "connect_timeout": connect_timeout, "max_bytes": max_bytes,
        "max_pixels": max_pixels, "quality": quality,
        "max_held_bytes": max_held_bytes,
        "max_held_pictures": max_held_pictures,
    }
    job = _ungil._Pictures(urls, dest, options)
    bar = _make_bar(progress, len(urls)) if progress else None
    try:
        while not job.wait(0.2 if bar else None):
            _, _, done, failed, nbytes, _, _, elapsed = job.progress()
            bar.update(done, failed, nbytes, nbytes / elapsed if elapsed else 0)
        results = PictureResults(PictureResult._make(row)
                                 for row in job.results())
        results.summary = job.summary()
        if bar:
            summary = results.summary
            bar.update(summary["total"], summary["failed"],
                       summary["bytes_in"],
                       summary["bytes_in"] / summary["elapsed"]
                       if summary["elapsed"] else 0)
        return results
    finally:
        job.close()
        if bar:
            bar.close()
