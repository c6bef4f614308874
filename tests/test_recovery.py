"""Faults outside the cache's bytes: bad files, interrupted writes, full disks, other processes, odd paths."""

from __future__ import annotations

import errno
import logging
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import news_article, seed_and_news

from wenda.bot.answer import Answer, Status
from wenda.bot.feedback import FeedbackStore
from wenda.bot.settings import Settings
from wenda.retrieval import cache, intake, store
from wenda.retrieval.cache import CACHE_DIR
from wenda.retrieval.corpus import read_file
from wenda.retrieval.intake import add_bytes, add_file, safe_name
from wenda.retrieval.passages import PassageTable
from wenda.retrieval.store import Library, StoreSettings

pytestmark = pytest.mark.usefixtures("fast_jieba")

MARKDOWN = "---\ntitle: 运河公园\ndate: {date}\n---\n\n运河公园今天正式开放，市民可以前往游玩。\n"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return seed_and_news(tmp_path, 3)


def index_dir(root: Path) -> Path:
    return root / CACHE_DIR / "index"


def dead_pid() -> int:
    """The pid of a process that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def files_of(library: Library) -> set[str]:
    return {rel for rel, e in library.files.items() if e.count}


# ---------------------------------------------------------------------------------------------
# one file never stops the rest


def test_an_impossible_front_matter_date_is_a_warning_and_the_article_is_read(tmp_path: Path):
    (tmp_path / "a.md").write_text(MARKDOWN.format(date="2024-02-30"), encoding="utf-8")

    report = read_file(tmp_path / "a.md", tmp_path)

    assert [a.title for a in report.articles] == ["运河公园"]
    assert report.articles[0].date is None  # no such day: not a date to show (citations.iso_date)
    assert [(p.file, p.line) for p in report.problems] == [("a.md", 1)]
    assert "2024-02-30" in report.problems[0].reason


def test_a_real_front_matter_date_is_read_as_before(tmp_path: Path):
    (tmp_path / "a.md").write_text(MARKDOWN.format(date="2024-02-01"), encoding="utf-8")

    report = read_file(tmp_path / "a.md", tmp_path)

    assert report.articles[0].date == "2024-02-01" and report.problems == ()


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("huge.jsonl", '{"title": "公园", "text": "运河公园今天开放。", "n": ' + "9" * 5000 + "}\n"),
        ("huge.md", "---\ntitle: 公园\nn: " + "9" * 5000 + "\n---\n\n运河公园今天开放。\n"),
    ],
)
def test_a_huge_integer_in_a_field_nobody_reads_neither_stops_its_file_nor_the_corpus(
    corpus: Path, name: str, text: str
):
    (corpus / name).write_text(text, encoding="utf-8")

    library = Library.open(corpus)

    # The integer stays text (int() refuses over 4,300 digits), so its own article is read too.
    assert {"news01.txt", name} <= files_of(library)


def test_an_unexpected_error_reading_one_file_is_its_problem_with_a_traceback_in_the_log(
    corpus: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    from wenda.retrieval import corpus as corpus_module

    real = corpus_module._read_txt

    def broken(text: str, rel: str):
        if rel == "news01.txt":
            raise RuntimeError("a bug in a reader")
        return real(text, rel)

    monkeypatch.setattr(corpus_module, "_read_txt", broken)

    library = Library.open(corpus)

    assert [p.file for p in library.problems] == ["news01.txt"]
    assert "RuntimeError" in library.problems[0].reason
    assert {"news00.txt", "news02.txt"} <= files_of(library)
    assert any(r.exc_info and "news01.txt" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------------------------------------
# recovering by itself


def test_leftovers_of_a_dead_writer_are_removed_at_the_next_start(corpus: Path):
    Library.open(corpus)
    pid = dead_pid()
    leftovers = [
        index_dir(corpus) / f".seg-18eb4714467cab1e.{pid}-18eb.tmp",
        index_dir(corpus) / f".manifest.json.{pid}.tmp",
        corpus / f".adding.{pid}-k2j3h4",
    ]
    leftovers[0].mkdir()
    for path in leftovers[1:]:
        path.write_text("half", encoding="utf-8")

    Library.open(corpus)

    assert [p for p in leftovers if p.exists()] == []


def test_a_leftover_of_a_live_writer_is_kept(corpus: Path):
    Library.open(corpus)
    live = corpus / f".adding.{os.getpid()}-k2j3h4"  # this process: perhaps an /add in another thread
    live.write_text("half", encoding="utf-8")

    Library.open(corpus)

    assert live.exists()


def _disk_full_on_segment_write(monkeypatch: pytest.MonkeyPatch) -> None:
    def full(self, folder: Path) -> None:
        (folder / "texts.bin").write_bytes(b"part of")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(PassageTable, "save", full)


def test_a_full_disk_leaves_no_temporary_folder_and_the_warning_says_disk_full(
    corpus: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    library = Library.open(corpus)
    _disk_full_on_segment_write(monkeypatch)
    (corpus / "new.txt").write_text(news_article(7), encoding="utf-8")
    caplog.set_level(logging.INFO, logger=store.__name__)

    library.refresh()

    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "disk full" in warnings[0] and str(index_dir(corpus)) in warnings[0]
    assert [p.name for p in index_dir(corpus).iterdir() if p.name.endswith(".tmp")] == []
    assert "new.txt" in files_of(library)


def test_freeing_space_is_enough_to_recover(corpus: Path, monkeypatch: pytest.MonkeyPatch):
    library = Library.open(corpus)
    with monkeypatch.context() as full:
        _disk_full_on_segment_write(full)
        (corpus / "new.txt").write_text(news_article(7), encoding="utf-8")
        library.refresh()

    Library.open(corpus)  # space freed: this start saves what could not be saved
    reopened = Library.open(corpus)

    assert "new.txt" in files_of(reopened) and not reopened.last_refresh.touched


def test_segments_written_for_a_manifest_that_could_not_be_saved_are_removed(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
):
    Library.open(corpus)
    before = {p.name for p in index_dir(corpus).iterdir()}

    def refused(cache_dir: Path, manifest) -> None:
        raise OSError(errno.EISDIR, "Is a directory")

    monkeypatch.setattr(cache, "write_manifest", refused)
    for n in range(3):
        (corpus / f"new{n}.txt").write_text(news_article(10 + n), encoding="utf-8")
        Library.open(corpus)

    assert {p.name for p in index_dir(corpus).iterdir()} == before


def test_a_folder_in_place_of_the_manifest_is_replaced_and_the_cache_saved(corpus: Path):
    Library.open(corpus)
    manifest = index_dir(corpus) / "manifest.json"
    manifest.unlink()
    manifest.mkdir()

    Library.open(corpus)
    reopened = Library.open(corpus)

    assert manifest.is_file() and not reopened.last_refresh.touched


# ---------------------------------------------------------------------------------------------
# processes side by side


def test_a_long_session_stays_readable_after_another_process_rebuilds(corpus: Path, caplog: pytest.LogCaptureFixture):
    session = Library.open(corpus)
    Library.open(corpus).rebuild()  # `wenda index --rebuild` in another process
    (corpus / "new.txt").write_text(news_article(7), encoding="utf-8")
    session.refresh()
    caplog.clear()
    caplog.set_level(logging.INFO, logger=store.__name__)

    later = Library.open(corpus)

    assert not [r for r in caplog.records if "rebuilding" in r.getMessage()]
    assert not later.last_refresh.touched and "new.txt" in files_of(later)


def test_opening_waits_for_the_cache_lock(corpus: Path):
    import fcntl

    Library.open(corpus)
    other = open(index_dir(corpus) / ".lock", "a+b")  # noqa: SIM115 - stands for another process
    fcntl.flock(other, fcntl.LOCK_EX)
    done = threading.Event()
    worker = threading.Thread(target=lambda: (Library.open(corpus), done.set()))
    worker.start()
    try:
        assert not done.wait(0.5)  # the load itself waits, not just the refresh after it
    finally:
        fcntl.flock(other, fcntl.LOCK_UN)
        other.close()
    assert done.wait(30)
    worker.join()


def _open_and_record(path: str, barrier) -> None:
    barrier.wait()
    store_ = FeedbackStore(Path(path))
    store_.record_answer(Answer(question="问题", status=Status.ANSWERED), 1)
    store_.close()


def test_several_processes_create_the_feedback_database_at_once(tmp_path: Path):
    path = str(tmp_path / "feedback.sqlite3")
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4)
    workers = [context.Process(target=_open_and_record, args=(path, barrier)) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)

    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    rows = sqlite3.connect(path).execute("SELECT COUNT(*) FROM answers").fetchone()
    assert rows == (4,)


def test_a_writer_holding_the_feedback_lock_does_not_fail_the_answer(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    path = tmp_path / "feedback.sqlite3"
    feedback = FeedbackStore(path, busy_timeout=0.05)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        recorded = feedback.record_answer(Answer(question="问题", status=Status.ANSWERED), 1)
    finally:
        other.execute("ROLLBACK")

    assert recorded is None
    assert any("could not record an answer" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------------------------------------
# bounded reads in `wenda add`


def test_a_link_to_a_device_is_refused_without_reading_it(corpus: Path, tmp_path: Path):
    link = tmp_path / "zero.txt"
    link.symlink_to("/dev/zero")

    result = add_file(corpus, link)

    assert not result.ok and "not a regular file" in result.reason


def test_a_fifo_is_refused_without_waiting(corpus: Path, tmp_path: Path):
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    results = []
    done = threading.Event()
    threading.Thread(target=lambda: (results.append(add_file(corpus, fifo)), done.set()), daemon=True).start()

    assert done.wait(10), "add_file hung on a FIFO"
    assert not results[0].ok and "not a regular file" in results[0].reason


def test_the_suffix_is_checked_before_anything_is_opened(corpus: Path, tmp_path: Path):
    fifo = tmp_path / "pipe.pdf"
    os.mkfifo(fifo)

    result = add_file(corpus, fifo)

    assert not result.ok and ".pdf" in result.reason


def test_a_file_that_grows_while_read_is_refused(corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "growing.txt"
    path.write_text(news_article(1), encoding="utf-8")
    real = intake._read_at_most

    def growing(fd: int, n: int) -> bytes:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write("又一段。\n" * 10)
        return real(fd, n)

    monkeypatch.setattr(intake, "_read_at_most", growing)

    result = add_file(corpus, path)

    assert not result.ok and "changed while it was read" in result.reason


def test_a_name_of_four_byte_characters_is_cut_to_the_file_systems_byte_limit(corpus: Path):
    name = "𠀀" * 80 + ".txt"

    result = add_bytes(corpus, name, news_article(5).encode("utf-8"))

    assert result.ok and len(result.added_as.encode("utf-8")) <= 255
    assert len(safe_name(name).encode("utf-8")) <= 255


@pytest.mark.parametrize(("code", "said"), [(errno.ENOSPC, "disk full"), (errno.EROFS, "read-only")])
def test_a_corpus_that_cannot_be_written_refuses_the_file_in_one_sentence(
    corpus: Path, monkeypatch: pytest.MonkeyPatch, code: int, said: str
):
    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(intake.tempfile, "mkstemp", refuse)

    result = add_bytes(corpus, "new.txt", news_article(5).encode("utf-8"))

    assert not result.ok and said in result.reason and str(corpus) in result.reason


# ---------------------------------------------------------------------------------------------
# symbolic links


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    path = tmp_path / "outside.txt"
    path.write_text(news_article(9), encoding="utf-8")
    return path


def test_a_link_out_of_the_corpus_is_skipped_and_reported(corpus: Path, outside: Path):
    (corpus / "passwd.txt").symlink_to(outside)

    library = Library.open(corpus)

    assert "passwd.txt" not in files_of(library)
    assert any(p.file == "passwd.txt" and "outside" in p.reason for p in library.problems)


def test_a_link_inside_the_corpus_is_followed(corpus: Path):
    (corpus / "sub").mkdir()
    (corpus / "sub" / "alias.txt").symlink_to(corpus / "news01.txt")

    library = Library.open(corpus)

    assert "sub/alias.txt" in files_of(library)


def test_a_link_out_of_the_corpus_is_read_when_the_setting_allows_it(corpus: Path, outside: Path):
    (corpus / "linked.txt").symlink_to(outside)

    library = Library.open(corpus, StoreSettings(follow_external_links=True))

    assert "linked.txt" in files_of(library)


def test_wenda_follow_links_turns_the_setting_on():
    assert Settings.from_env({"WENDA_FOLLOW_LINKS": "1"}, dotenv=None).store.follow_external_links
    assert not Settings.from_env({}, dotenv=None).store.follow_external_links
