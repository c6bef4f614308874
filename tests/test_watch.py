"""The corpus watcher: a real watchfiles thread on a temp folder keeps a Library in step with its files.

Nothing here sleeps to wait for the watcher: every wait is on a condition the watcher's on_refresh
callback signals, with a timeout.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import watchfiles
from conftest import news_article

from wenda.retrieval import watch
from wenda.retrieval.store import Library, Refresh, StoreSettings
from wenda.retrieval.watch import CorpusWatcher

pytestmark = pytest.mark.usefixtures("fast_jieba")

TIMEOUT = 10.0


@dataclass(frozen=True)
class Snapshot:
    """What the library held right after one refresh that changed something."""

    refresh: Refresh
    files: dict[str, int]  # file -> passages
    texts: dict[str, tuple[str, ...]]  # file -> its passages' texts


class Recorder:
    """The on_refresh callback: keeps a snapshot per refresh and wakes whoever waits for a state."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self.snapshots: list[Snapshot] = []
        self._changed = threading.Condition()

    def __call__(self, refresh: Refresh) -> None:
        searcher = self.library.searcher
        live = searcher.index.live
        texts: dict[str, list[str]] = {}
        for slot in range(len(searcher.passages)):
            if live[slot]:
                p = searcher.passages[slot]
                texts.setdefault(p.file, []).append(p.text)
        with self._changed:
            self.snapshots.append(
                Snapshot(
                    refresh,
                    {f: e.count for f, e in self.library.files.items()},
                    {f: tuple(t) for f, t in texts.items()},
                )
            )
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
        with self._changed:
            return self._changed.wait_for(predicate, timeout)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "first.txt").write_text(news_article(0), encoding="utf-8")
    return root


@pytest.fixture
def library(corpus: Path) -> Library:
    return Library.open(corpus, StoreSettings())


@pytest.fixture
def recorder(library: Library) -> Recorder:
    return Recorder(library)


@pytest.fixture
def watcher(library: Library, recorder: Recorder):
    watcher = CorpusWatcher(library, on_refresh=recorder).start()
    assert watcher.ready.wait(TIMEOUT)
    yield watcher
    watcher.stop()
    assert not watcher._thread.is_alive()


def answers_from(library: Library, question: str, file: str) -> bool:
    hits = library.searcher.search(question, k=1).hits
    return bool(hits) and hits[0].passage.file == file


def test_a_new_file_is_answered_within_two_seconds(corpus: Path, library: Library, recorder: Recorder, watcher):
    started = time.monotonic()
    (corpus / "new.txt").write_text(news_article(7), encoding="utf-8")

    assert recorder.wait_for(lambda: answers_from(library, "项目代号kx007p1", "new.txt"))
    assert time.monotonic() - started < 2.0


def test_a_file_written_while_the_watch_is_being_set_up_is_answered(
    corpus: Path, library: Library, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
):
    # Setting up the watch of a big corpus tree takes a while; hold it up until the file is written.
    setting_up, written = threading.Event(), threading.Event()
    real_watch = watch.watchfiles.watch

    def slow_watch(*args, **kwargs):
        setting_up.set()
        written.wait(TIMEOUT)
        yield from real_watch(*args, **kwargs)

    monkeypatch.setattr(watch.watchfiles, "watch", slow_watch)
    with CorpusWatcher(library, on_refresh=recorder) as watcher:
        assert setting_up.wait(TIMEOUT)
        (corpus / "early.txt").write_text(news_article(6), encoding="utf-8")
        written.set()

        assert watcher.ready.wait(TIMEOUT)
        assert recorder.wait_for(lambda: answers_from(library, "项目代号kx006p1", "early.txt"), timeout=3.0)


def test_a_changed_file_is_answered_with_its_new_text(corpus: Path, library: Library, recorder: Recorder, watcher):
    (corpus / "first.txt").write_text(news_article(0, paragraphs=5, version=4), encoding="utf-8")

    assert recorder.wait_for(lambda: library.files["first.txt"].count == 5)
    assert answers_from(library, "项目代号kx000p4", "first.txt")
    assert recorder.snapshots[-1].refresh.changed == ("first.txt",)
    assert "7月完工" in library.searcher.search("项目代号kx000p4", k=1).hits[0].passage.text


def test_a_removed_file_is_no_longer_answered(corpus: Path, library: Library, recorder: Recorder, watcher):
    (corpus / "second.txt").write_text(news_article(1), encoding="utf-8")
    assert recorder.wait_for(lambda: "second.txt" in library.files)

    (corpus / "first.txt").unlink()

    assert recorder.wait_for(lambda: "first.txt" not in library.files)
    assert library.searcher.index.doc_freq("kx000p1") == 0
    assert {h.passage.file for h in library.searcher.search("项目代号kx000p1", k=10).hits} == {"second.txt"}
    assert library.passage_count == 3


def test_a_burst_of_a_hundred_files_is_one_refresh(
    corpus: Path, tmp_path: Path, library: Library, recorder: Recorder, watcher
):
    staging = tmp_path / "staging"
    staging.mkdir()
    for n in range(100):
        (staging / f"burst{n:03d}.txt").write_text(news_article(100 + n, 2), encoding="utf-8")

    for path in sorted(staging.iterdir()):
        shutil.copyfile(path, corpus / path.name)

    assert recorder.wait_for(lambda: len(library.files) == 101)
    watcher.stop()
    assert len(recorder.snapshots) <= 2, [len(s.refresh.added) for s in recorder.snapshots]
    assert sum(len(s.refresh.added) for s in recorder.snapshots) == 100
    assert library.passage_count == 3 + 200


def test_hidden_and_temporary_files_are_ignored(corpus: Path, library: Library, recorder: Recorder, watcher):
    ignored = [".foo.txt", "x.txt~", "x.tmp", "x.txt.part", ".x.txt.swp", "~$x.txt", "#x.txt#"]
    for n, name in enumerate(ignored):
        (corpus / name).write_text(news_article(50 + n), encoding="utf-8")
    (corpus / "real.txt").write_text(news_article(8), encoding="utf-8")

    assert recorder.wait_for(lambda: "real.txt" in library.files)
    assert set(library.files) == {"first.txt", "real.txt"}
    assert all(s.refresh.added == ("real.txt",) for s in recorder.snapshots)
    assert all(library.searcher.index.doc_freq(f"kx{50 + n:03d}p1") == 0 for n in range(len(ignored)))


def test_a_file_copied_slowly_is_never_indexed_half(corpus: Path, library: Library, recorder: Recorder, watcher):
    text = news_article(9, paragraphs=6)
    half = len(text) // 2
    half = text.index("\n", half) + 1  # the first half alone is a whole article of three paragraphs
    with open(corpus / "slow.txt", "w", encoding="utf-8") as fh:
        fh.write(text[:half])
        fh.flush()
        time.sleep(0.1)  # the slow copier's pause, not a wait for the watcher
        fh.write(text[half:])

    assert recorder.wait_for(lambda: getattr(library.files.get("slow.txt"), "count", None) == 6)
    whole = tuple(text.splitlines()[1:])
    held = [s.texts["slow.txt"] for s in recorder.snapshots if "slow.txt" in s.texts]
    assert held and all(texts == whole for texts in held), held


def test_a_file_still_growing_when_its_event_arrives_is_read_only_once_whole(
    corpus: Path, library: Library, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
):
    # The event for the first half arrives at once (as it may on a busy disk or a slow network copy).
    half_written = threading.Event()

    def events(root, *, stop_event: threading.Event, **kwargs):
        yield set()  # the watch is in place
        half_written.wait(TIMEOUT)
        yield {(watchfiles.Change.added, str(corpus / "slow.txt"))}
        stop_event.wait(TIMEOUT)

    monkeypatch.setattr(watch.watchfiles, "watch", events)
    text = news_article(9, paragraphs=6)
    half = text.index("\n", len(text) // 2) + 1
    with CorpusWatcher(library, on_refresh=recorder) as watcher:
        assert watcher.ready.wait(TIMEOUT)
        with open(corpus / "slow.txt", "w", encoding="utf-8") as fh:
            fh.write(text[:half])
            fh.flush()
            half_written.set()
            time.sleep(0.1)  # the slow copier's pause, not a wait for the watcher
            fh.write(text[half:])

        assert recorder.wait_for(lambda: "slow.txt" in library.files)
    assert [s.files.get("slow.txt") for s in recorder.snapshots] == [6]


def test_queries_during_twenty_updates_see_the_old_or_the_new_index(corpus: Path):
    library = Library.open(corpus, StoreSettings(cache=False))  # the snapshots are in memory either way
    base = library.passage_count
    seen: set[int] = set()
    errors: list[BaseException] = []
    done = threading.Event()

    def ask() -> None:
        while not done.is_set():
            try:
                searcher = library.searcher
                seen.add(searcher.index.n_docs)
                # The newest update this snapshot holds is answered from its own file: passages and
                # index of one snapshot belong together.
                newest = (searcher.index.n_docs - base) // 2 - 1
                code, file = (
                    (f"kx{300 + newest:03d}p1", f"update{newest:02d}.txt") if newest >= 0 else ("kx000p1", "first.txt")
                )
                hits = searcher.search(f"项目代号{code}", k=1).hits
                assert hits and hits[0].passage.file == file, (code, hits)
                done.wait(0.001)  # leave the updating thread the interpreter now and then
            except BaseException as exc:
                errors.append(exc)
                return

    thread = threading.Thread(target=ask)
    thread.start()
    try:
        for n in range(20):
            (corpus / f"update{n:02d}.txt").write_text(news_article(300 + n, 2), encoding="utf-8")
            library.refresh()
    finally:
        done.set()
        thread.join(TIMEOUT)

    assert errors == []
    assert seen <= {base + 2 * n for n in range(21)}
    assert len(seen) > 1
    assert library.passage_count == base + 40


def test_stop_returns_promptly(library: Library):
    watcher = CorpusWatcher(library).start()
    assert watcher.ready.wait(TIMEOUT)

    started = time.monotonic()
    watcher.stop()

    assert time.monotonic() - started < 1.0
    assert not watcher._thread.is_alive()
