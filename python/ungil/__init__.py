"""ungil: GIL-free concurrency for Python, with a C engine.

ungil runs both kinds of work on native threads with the GIL released:
waiting (downloads) and computing (loops, image filters).

- Pool: a concurrent.futures.Executor on native worker threads.
- download, download_iter, fetch: hundreds of HTTP transfers at once.
- download_pictures: download, filter and save pictures in one native pipeline.
- sum_upto: the course's GIL demo loop, in C, on every core.
- Trace: a timeline of which thread ran what, saved as SVG or Chrome JSON.
"""

from ._download import DownloadError, Result, download, download_iter, fetch
from ._pictures import PictureResult, PictureResults, download_pictures
from ._pool import Future, Pool
from ._ungil import C_VERSION, Trace, sum_upto

__version__ = "0.1.0"

__all__ = ["C_VERSION", "DownloadError", "Future", "PictureResult",
           "PictureResults", "Pool", "Result", "Trace", "__version__",
           "download", "download_iter", "download_pictures", "fetch",
           "sum_upto"]
