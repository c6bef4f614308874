"""heap.py: freed heap goes back to the system, and a searcher gives it back now and then."""

from __future__ import annotations

from pathlib import Path

import pytest

from wenda.retrieval import heap


def _resident_anonymous_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no RssAnon in /proc/self/status")


def test_freed_heap_goes_back_to_the_system():
    if heap._TRIM is None:  # not glibc: nothing to give back, and nothing may fail
        heap.release_freed_memory()
        return
    # Blocks below glibc's mmap threshold come from the heap; the one kept after them stops glibc
    # from shrinking the heap by itself when they are freed. Only malloc_trim hands them back.
    blocks = [bytes(100_000) for _ in range(600)]
    kept = bytes(100_000)
    del blocks
    held = _resident_anonymous_mb()
    heap.release_freed_memory()
    assert held - _resident_anonymous_mb() > 30  # of the 60 MB freed
    assert len(kept) == 100_000


def test_every_releases_once_in_every_n_ticks(monkeypatch: pytest.MonkeyPatch):
    calls = []
    monkeypatch.setattr(heap, "release_freed_memory", lambda: calls.append(1))
    every = heap.Every(3)
    for _ in range(7):
        every.tick()
    assert len(calls) == 2


def test_a_searcher_releases_freed_heap_every_so_many_searches(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from wenda.retrieval.store import Library, StoreSettings

    article = "城市副中心******\n北京城市副中心的行政办公区在2019年投入使用。\n"
    (tmp_path / "news.txt").write_text(article, encoding="utf-8")
    library = Library.open(tmp_path, StoreSettings(cache=False))
    calls = []
    monkeypatch.setattr(heap, "release_freed_memory", lambda: calls.append(1))
    for _ in range(heap.RELEASE_EVERY * 2):
        library.searcher.search("行政办公区什么时候投入使用？")
    assert len(calls) == 2
