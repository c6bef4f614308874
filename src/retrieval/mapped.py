"""Loading the index's .npy arrays memory-mapped, with the kernel told how queries read them."""

from __future__ import annotations

import contextlib
import mmap
from pathlib import Path

import numpy as np


def load_array(path: Path, mapped: bool = True, scattered: bool = True) -> np.ndarray:
    """An array saved by np.save: memory-mapped read-only (or read whole if not mapped).

    scattered: queries read it a few entries at a time at scattered places (posting lists of the
    question's terms, binary searches in term tables, per-term offsets), so the kernel is asked
    not to read ahead around each page fault. Read-around brings in ~128 KB a fault; for a probe
    that needs one 4 KB page that is 32x the memory: at 1M passages, before this advice, the
    postings and forward lists kept 2.9 GB of pages resident and a 1 GB cgroup thrashed.
    """
    array = np.load(path, mmap_mode="r" if mapped else None)
    if scattered:
        advise = getattr(getattr(array, "_mmap", None), "madvise", None)  # np.memmap's mmap object
        if advise is not None and hasattr(mmap, "MADV_RANDOM"):
            with contextlib.suppress(OSError, ValueError):
                advise(mmap.MADV_RANDOM)
    return array
