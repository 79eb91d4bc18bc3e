"""ungil: GIL-free concurrency for Python, with a C engine.

ungil runs both kinds of work on native threads with the GIL released:
waiting (downloads) and computing (loops, image filters).

- Pool: a concurrent.futures.Executor on native worker threads.
- download, download_iter, fetch: hundreds of HTTP transfers at once.
- download_pictures: download, filter and save pictures in one native pipeline.
- sum_upto: the course's GIL demo loop, in C, on every core.
- Image, filter_files: JPEG/PNG images with Pillow-exact filters, in C.
- crawl, crawl_iter: a concurrent, polite crawler that maps a site.
- Graph: a link graph of URLs; layout in C, JSON/GraphML/DOT/HTML exports.
- Trace: a timeline of which thread ran what, saved as SVG or Chrome JSON.
"""

from ._crawl import Crawl, Page, crawl, crawl_iter
from ._download import DownloadError, Result, download, download_iter, fetch
from ._graph import Edge, Node
from ._image import (MAX_IMAGE_PIXELS, DecompressionBombError, FilterResult,
                     Image, UnidentifiedImageError, filter_files)
from ._pictures import PictureResult, PictureResults, download_pictures
from ._pool import Future, Pool
from ._ungil import C_VERSION, Graph, Trace, sum_upto

__version__ = "0.1.0"

__all__ = ["C_VERSION", "Crawl", "DecompressionBombError", "DownloadError",
           "Edge", "FilterResult", "Future", "Graph", "Image",
           "MAX_IMAGE_PIXELS", "Node", "Page", "PictureResult",
           "PictureResults", "Pool", "Result", "Trace",
           "UnidentifiedImageError", "__version__", "crawl", "crawl_iter",
           "download", "download_iter", "download_pictures", "fetch",
           "filter_files", "sum_upto"]
