"""ungil: GIL-free concurrency for Python, with a C engine.

ungil runs both kinds of work on native threads with the GIL released:
waiting (downloads) and computing (loops, image filters).

- Pool: a concurrent.futures.Executor on native worker threads.
- sum_upto: the course's GIL demo loop, in C, on every core.
- Trace: a timeline of which thread ran what, saved as SVG or Chrome JSON.
"""

from ._pool import Future, Pool
from ._ungil import C_VERSION, Trace, sum_upto

__version__ = "0.1.0"

__all__ = ["C_VERSION", "Future", "Pool", "Trace", "sum_upto", "__version__"]
