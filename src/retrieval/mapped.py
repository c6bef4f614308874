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
        _read_scattered(array)
    return array


def load_blob(path: Path) -> np.ndarray | bytes:
    """A file of bytes (passages' texts, their cuts) memory-mapped read-only, b"" if empty. An
    answer reads a few dozen passages at scattered places, so the kernel is asked not to read ahead:
    read-around made each of them cost ~128 KB, and at 1M passages in a 1 GB cgroup the copy
    check's 20 candidates then spent more time waiting on the disk than all the rest of an answer."""
    if not path.stat().st_size:
        return b""
    blob = np.memmap(path, dtype=np.uint8, mode="r")
    _read_scattered(blob)
    return blob


def _read_scattered(array: np.ndarray) -> None:
    advise = getattr(getattr(array, "_mmap", None), "madvise", None)  # np.memmap's mmap object
    if advise is not None and hasattr(mmap, "MADV_RANDOM"):
        with contextlib.suppress(OSError, ValueError):
            advise(mmap.MADV_RANDOM)
