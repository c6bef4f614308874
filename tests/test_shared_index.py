"""One corpus index shared by several processes (bots running different shards): one segments, the others take up.

Each Library here stands for a process of its own: each opens the cache lock anew, and flock's locks
belong to an open file, so two libraries of one process exclude each other as two processes would.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import news_article

from wenda.retrieval import cache, store
from wenda.retrieval.store import Library
from wenda.retrieval.watch import CorpusWatcher

pytestmark = pytest.mark.usefixtures("fast_jieba")

WAIT = 60.0  # a bound on waiting for another thread or process, never a claim about speed
NEW_FILE = "harbour.txt"
NEW_TEXT = "新港区码头扩建完工\n新港区码头扩建后年吞吐能力达到八百万标准箱。\n"
NEW_QUESTION = "新港区码头扩建后吞吐能力是多少？"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    for n in range(3):
        (root / f"news{n}.txt").write_text(news_article(n), encoding="utf-8")
    return root


class Segmentations:
    """Every call to the segmentation entry point (store.build_segment), by the thread that made it."""

    def __init__(self) -> None:
        self.threads: list[str] = []
        self.passages: list[int] = []

    def by(self, thread: str) -> int:
        return self.threads.count(thread)


@pytest.fixture
def segmentations(monkeypatch: pytest.MonkeyPatch) -> Segmentations:
    seen = Segmentations()
    real = store.build_segment

    def counting(texts, *args, **kwargs):
        seen.threads.append(threading.current_thread().name)
        seen.passages.append(len(texts))
        return real(texts, *args, **kwargs)

    monkeypatch.setattr(store, "build_segment", counting)
    return seen


class Waiting(logging.Handler):
    """Set when a library logs that another process holds the cache lock and it waits for it."""

    def __init__(self) -> None:
        super().__init__()
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "waiting for it" in record.getMessage():
            self.event.set()


@pytest.fixture
def waiting() -> Iterator[threading.Event]:
    handler = Waiting()
    logger = logging.getLogger(store.__name__)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.event
    logger.removeHandler(handler)
    logger.setLevel(level)


def top_file(library: Library, question: str) -> str:
    return library.searcher.search(question, 1).hits[0].passage.file


def in_thread(name: str, work) -> tuple[threading.Thread, list]:
    """Run work() in a thread of its own name; its result lands in the returned list."""
    out: list = []
    thread = threading.Thread(target=lambda: out.append(work()), name=name)
    thread.start()
    return thread, out


def test_a_library_takes_up_the_new_segments_another_saved_without_segmenting(
    corpus: Path, segmentations: Segmentations
):
    writer, follower = Library.open(corpus), Library.open(corpus)
    (corpus / NEW_FILE).write_text(NEW_TEXT, encoding="utf-8")
    before = len(segmentations.threads)

    written = writer.refresh()
    followed = follower.refresh()

    assert written.added == (NEW_FILE,) and written.segmented == 1
    assert followed.taken_up and followed.segmented == 0 and not followed.touched
    assert len(segmentations.threads) == before + 1
    assert top_file(follower, NEW_QUESTION) == NEW_FILE
    assert follower.searcher.index.n_docs == writer.searcher.index.n_docs


def test_take_up_reads_no_file_and_segments_nothing(corpus: Path, segmentations: Segmentations, reads: list[str]):
    writer, follower = Library.open(corpus), Library.open(corpus)
    (corpus / NEW_FILE).write_text(NEW_TEXT, encoding="utf-8")
    writer.refresh()
    reads.clear()
    before = len(segmentations.threads)

    result = follower.take_up()

    assert result.taken_up
    assert reads == [] and len(segmentations.threads) == before
    assert NEW_FILE in follower.files and top_file(follower, NEW_QUESTION) == NEW_FILE


def test_take_up_without_a_new_manifest_changes_nothing(corpus: Path):
    library = Library.open(corpus)
    searcher = library.searcher

    assert not library.take_up().taken_up
    assert library.searcher is searcher


def test_a_refresh_that_finds_the_lock_held_waits_for_the_writer_and_segments_nothing(
    corpus: Path, segmentations: Segmentations, waiting: threading.Event, monkeypatch: pytest.MonkeyPatch
):
    writer, follower = Library.open(corpus), Library.open(corpus)
    (corpus / NEW_FILE).write_text(NEW_TEXT, encoding="utf-8")
    segmenting, finish = threading.Event(), threading.Event()
    counting = store.build_segment

    def held_up(texts, *args, **kwargs):
        segmenting.set()
        assert finish.wait(WAIT)
        return counting(texts, *args, **kwargs)

    monkeypatch.setattr(store, "build_segment", held_up)
    writing, _ = in_thread("writer", writer.refresh)
    assert segmenting.wait(WAIT)  # the writer holds the lock, mid-segmentation
    following, followed = in_thread("follower", follower.refresh)
    assert waiting.wait(WAIT)
    finish.set()
    writing.join(WAIT)
    following.join(WAIT)

    assert segmentations.by("writer") == 1 and segmentations.by("follower") == 0
    assert followed[0].taken_up and followed[0].segmented == 0
    assert top_file(follower, NEW_QUESTION) == NEW_FILE


HOLD_LOCK = """
import fcntl, sys
lock = open(sys.argv[1], "a+b")
fcntl.flock(lock, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""


def test_when_the_writer_dies_a_follower_takes_over(
    corpus: Path, segmentations: Segmentations, waiting: threading.Event
):
    follower = Library.open(corpus)
    (corpus / NEW_FILE).write_text(NEW_TEXT, encoding="utf-8")
    lock = cache.index_folder(corpus) / cache.LOCK_NAME
    # A writer that took the lock and dies before it saves anything: killed, it never lets go in an orderly way.
    with subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(lock)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as writer:
        try:
            assert writer.stdout.readline().strip() == "locked"
            following, followed = in_thread("follower", follower.refresh)
            assert waiting.wait(WAIT)
        finally:
            writer.kill()
    following.join(WAIT)

    assert followed[0].added == (NEW_FILE,) and followed[0].segmented == 1
    assert segmentations.by("follower") == 1
    assert top_file(follower, NEW_QUESTION) == NEW_FILE


def test_two_libraries_opened_at_once_on_a_new_corpus_segment_it_once(
    corpus: Path, segmentations: Segmentations, monkeypatch: pytest.MonkeyPatch
):
    # The second library found no cache when it opened; the first builds and saves one before the
    # second's first refresh, which must take that up rather than segment the corpus again.
    found_none, go = threading.Event(), threading.Event()
    refresh = Library.refresh
    paused: list[Library] = []

    def first_refresh_waits(self: Library, progress=None):
        if not paused:
            paused.append(self)
            found_none.set()
            assert go.wait(WAIT)
        return refresh(self, progress)

    monkeypatch.setattr(Library, "refresh", first_refresh_waits)
    opening, opened = in_thread("second", lambda: Library.open(corpus))
    assert found_none.wait(WAIT)
    first = Library.open(corpus)
    go.set()
    opening.join(WAIT)

    assert segmentations.by("second") == 0 and segmentations.by("MainThread") >= 1
    assert opened[0].last_refresh.taken_up and opened[0].passage_count == first.passage_count


def test_a_rebuild_re_reads_every_file_even_after_another_process_saved(corpus: Path, reads: list[str]):
    library = Library.open(corpus)
    Library.open(corpus).rebuild()  # another process
    reads.clear()

    library.rebuild()

    assert sorted(reads) == sorted(p.name for p in corpus.glob("*.txt"))


class Followed:
    """A watcher's on_refresh: wakes the test when the library holds a file."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self.changed = threading.Condition()
        self.taken_up = 0

    def __call__(self, result: store.Refresh) -> None:
        with self.changed:
            self.taken_up += result.taken_up
            self.changed.notify_all()

    def wait_for(self, file: str) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: file in self.library.files, WAIT)


def test_two_watched_libraries_segment_a_dropped_file_once_and_both_answer_it(
    corpus: Path, segmentations: Segmentations
):
    first, second = Library.open(corpus), Library.open(corpus)
    followers = [Followed(first), Followed(second)]
    watchers = [CorpusWatcher(lib, on_refresh=f) for lib, f in zip((first, second), followers, strict=True)]
    for watcher in watchers:
        watcher.start()
    try:
        for watcher in watchers:
            assert watcher.ready.wait(WAIT)
        before = len(segmentations.passages)
        (corpus / NEW_FILE).write_text(NEW_TEXT, encoding="utf-8")
        assert all(f.wait_for(NEW_FILE) for f in followers)
    finally:
        for watcher in watchers:
            watcher.stop()

    assert segmentations.passages[before:] == [1]  # the new file's one passage, by one of the two
    assert top_file(first, NEW_QUESTION) == top_file(second, NEW_QUESTION) == NEW_FILE
    assert sum(f.taken_up for f in followers) >= 1


def test_a_watcher_takes_up_an_index_another_process_rebuilt(corpus: Path, segmentations: Segmentations):
    library = Library.open(corpus)
    followed = Followed(library)
    with CorpusWatcher(library, on_refresh=followed) as watcher:
        assert watcher.ready.wait(WAIT)
        other = Library.open(corpus)
        other.rebuild()  # `wenda index --rebuild` or /reindex elsewhere: only the manifest changes
        before = len(segmentations.threads)
        with followed.changed:
            assert followed.changed.wait_for(lambda: followed.taken_up, WAIT)

    assert len(segmentations.threads) == before
    assert library.searcher.index.n_docs == other.searcher.index.n_docs
    assert sorted(library.files) == sorted(other.files)
