"""Handing freed heap back to the system, where the C library would keep it (glibc; elsewhere a no-op).

glibc keeps what a program frees for later use, and as the heap fragments much of it is never used
again. A first build of 100k passages grew by about 100 MB a batch without giving it back (a
quarter of that with a release after each batch). Serving 1M passages, opening the index left
108 MB freed but held (reading the manifest and the article lists), and the first 200 answers
another 52 MB. A process serving a large index wants that memory in the page cache, holding posting
lists: inside a 1 GB memory cgroup, the cold first stage at 1M took twice its unconstrained time
with 1 GB and its unconstrained time with 1.15 GB (docs/benchmarks.md, "Serving 1M in a 1 GB
memory cgroup").

`malloc_trim(0)` gives back every free page of every arena. It took 0.1–1.3 ms on that heap, so it
runs after a build batch, after an index is published, and every RELEASE_EVERY searches.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import sys
from collections.abc import Callable

# Searches between two releases: the cost (≤ 1.3 ms) spread over them is lost in the noise, and a
# search's own garbage is mostly reused by the next one, so releasing more often gains little.
RELEASE_EVERY = 32


def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    with contextlib.suppress(OSError, AttributeError):
        return ctypes.CDLL("libc.so.6").malloc_trim  # musl has no libc.so.6: no-op there
    return None


_TRIM = _malloc_trim()


def release_freed_memory() -> None:
    """Give the heap's free pages back to the system (glibc's malloc_trim); nothing elsewhere."""
    if _TRIM is not None:
        _TRIM(0)


class Every:
    """Calls release_freed_memory once in every `every` calls of tick(); safe from several threads
    (itertools.count's next is atomic under the GIL)."""

    def __init__(self, every: int = RELEASE_EVERY) -> None:
        self._every = every
        self._count = itertools.count(1)

    def tick(self) -> None:
        if next(self._count) % self._every == 0:
            release_freed_memory()
