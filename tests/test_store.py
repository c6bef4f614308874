"""The index cache beside a corpus: reused if nothing changed, updated file by file, rebuilt if it cannot be trusted.

After every update the scores must still be rank-bm25's BM25Okapi over the live passages in slot
order, bit for bit: the reference is computed from scratch in each test.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from pathlib import Path

import jieba
import numpy as np
import pytest
from conftest import SEED_FILE, news_article, news_name, seed_and_news
from rank_bm25 import BM25Okapi

from wenda.retrieval import cache, store
from wenda.retrieval.cache import CACHE_DIR, FileEntry
from wenda.retrieval.corpus import Passage
from wenda.retrieval.index import BM25Index
from wenda.retrieval.search import Searcher, indexed_text
from wenda.retrieval.store import MAX_DELETED_SHARE, MAX_SEGMENTS, USERDICT_NAME, Library, StoreSettings

pytestmark = pytest.mark.usefixtures("fast_jieba")

# Eight news files of five paragraphs: 本市 is in 40 of the 66 passages, so its idf is negative and
# rank-bm25's epsilon floor (the average idf, summed in corpus order) decides part of every score.
NEWS = 8
PARAGRAPHS = 5
QUESTIONS = (
    "北京城市副中心政务服务中心什么时候投入运行？",
    "智慧城市建设的核心目标是什么",
    "本市运河公园工程几月完工",
    "项目代号kx003p1",
    "本市第2期工程",
    "习近平 二十大 精神",
)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """The seed file and eight small news files."""
    return seed_and_news(tmp_path, NEWS, PARAGRAPHS)


def cache_dir(root: Path) -> Path:
    return root / CACHE_DIR / "index"


def manifest(root: Path) -> dict:
    return json.loads((cache_dir(root) / "manifest.json").read_text(encoding="utf-8"))


def live_passages(searcher: Searcher) -> list[Passage]:
    return [searcher.passages[int(slot)] for slot in np.flatnonzero(searcher.index.live)]


def answers(searcher: Searcher) -> list[list[tuple[Passage, float]]]:
    return [[(h.passage, h.score) for h in searcher.search(q, k=5).hits] for q in QUESTIONS]


def assert_scores_are_rank_bm25s(searcher: Searcher) -> None:
    """Every question's scores equal BM25Okapi's over the live passages in slot order, exactly."""
    repeat = searcher.analyzer.settings.title_repeat
    docs = [searcher.analyzer.tokens(indexed_text(p, repeat)) for p in live_passages(searcher)]
    params = searcher.index.params
    reference = BM25Okapi(docs, k1=params.k1, b=params.b, epsilon=params.epsilon)
    df: dict[str, int] = {}
    for doc in docs:
        for term in set(doc):
            df[term] = df.get(term, 0) + 1
    by_df = sorted(df, key=lambda t: (-df[t], t))
    assert 2 * df[by_df[0]] > len(docs), "no term with a negative idf: the epsilon floor goes untested"
    common = " ".join(by_df[:3])
    for question in (*QUESTIONS, common):
        terms = searcher.analyzer.tokens(question)
        np.testing.assert_array_equal(searcher.index.get_scores(terms), reference.get_scores(terms), err_msg=question)


def passages_by_file(searcher: Searcher) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in live_passages(searcher):
        out.setdefault(p.file, []).append(p.text)
    return out


def fresh_passages(root: Path) -> dict[str, list[str]]:
    """What a library built from nothing, in memory, holds for the folder as it is now."""
    return passages_by_file(Library.open(root, StoreSettings(cache=False)).searcher)


def store_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == store.__name__ and r.levelno >= logging.WARNING]


# ---------------------------------------------------------------------------------------------
# reuse and incremental updates


def test_a_second_open_of_an_unchanged_corpus_reads_no_file_and_answers_the_same(corpus: Path, reads: list[str]):
    first = Library.open(corpus)
    reads.clear()

    second = Library.open(corpus)

    assert reads == []
    assert not second.last_refresh.touched
    assert second.passage_count == first.passage_count == 26 + NEWS * PARAGRAPHS
    assert answers(second.searcher) == answers(first.searcher)


def test_adding_a_file_reads_only_that_file_and_keeps_rank_bm25_scores(corpus: Path, reads: list[str]):
    library = Library.open(corpus)
    reads.clear()
    (corpus / "added.txt").write_text(news_article(20, PARAGRAPHS), encoding="utf-8")

    result = library.refresh()

    assert reads == ["added.txt"]
    assert (result.added, result.changed, result.removed) == (("added.txt",), (), ())
    assert library.passage_count == 26 + (NEWS + 1) * PARAGRAPHS
    assert_scores_are_rank_bm25s(library.searcher)


def test_changing_a_file_reads_only_that_file_and_keeps_rank_bm25_scores(corpus: Path, reads: list[str]):
    library = Library.open(corpus)
    reads.clear()
    (corpus / news_name(3)).write_text(news_article(3, PARAGRAPHS + 2, version=1), encoding="utf-8")

    result = library.refresh()

    assert reads == [news_name(3)]
    assert (result.added, result.changed, result.removed) == ((), (news_name(3),), ())
    assert passages_by_file(library.searcher) == fresh_passages(corpus)
    assert_scores_are_rank_bm25s(library.searcher)


def test_removing_a_file_reads_nothing_and_keeps_rank_bm25_scores(corpus: Path, reads: list[str]):
    library = Library.open(corpus)
    reads.clear()
    (corpus / news_name(5)).unlink()

    result = library.refresh()

    assert reads == []
    assert (result.added, result.changed, result.removed) == ((), (), (news_name(5),))
    assert_scores_are_rank_bm25s(library.searcher)


def test_removing_a_file_drops_its_passages(corpus: Path):
    library = Library.open(corpus)
    (corpus / news_name(3)).unlink()

    library.refresh()

    assert news_name(3) not in passages_by_file(library.searcher)
    assert passages_by_file(library.searcher) == fresh_passages(corpus)
    assert news_name(3) not in {a.file for a in library.articles}
    assert all(h.passage.file != news_name(3) for h in library.searcher.search("项目代号kx003p1", k=10).hits)


def test_a_reopened_cache_with_deletions_answers_like_the_live_library(corpus: Path, reads: list[str]):
    library = Library.open(corpus)
    (corpus / news_name(3)).write_text(news_article(3, PARAGRAPHS, version=1), encoding="utf-8")
    (corpus / news_name(6)).unlink()
    library.refresh()
    reads.clear()

    reopened = Library.open(corpus)

    assert reads == []
    assert answers(reopened.searcher) == answers(library.searcher)
    assert_scores_are_rank_bm25s(reopened.searcher)


def test_a_file_touched_without_a_content_change_is_not_read_again(
    corpus: Path, reads: list[str], monkeypatch: pytest.MonkeyPatch
):
    library = Library.open(corpus)
    before = answers(library.searcher)
    reads.clear()
    st = (corpus / news_name(2)).stat()
    os.utime(corpus / news_name(2), ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))

    result = library.refresh()

    assert reads == []
    assert not result.touched
    assert answers(library.searcher) == before
    # The new mtime is remembered, so the next open does not even hash the file again.
    hashed: list[Path] = []
    real = store._sha256
    monkeypatch.setattr(store, "_sha256", lambda path: hashed.append(path) or real(path))
    Library.open(corpus)
    assert hashed == [] and reads == []


def test_the_cache_holds_only_what_its_manifest_names_after_updates(corpus: Path):  # and its lock file
    library = Library.open(corpus)
    (corpus / news_name(1)).unlink()  # a deletion mask
    library.refresh()
    for n in (2, 3):  # touched, not changed: only the manifest is rewritten
        st = (corpus / news_name(n)).stat()
        os.utime(corpus / news_name(n), ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        library.refresh()

    named = {"manifest.json", ".lock"}  # .lock: the lock file that serialises writers across processes
    for entry in manifest(corpus)["segments"]:
        named |= {entry["name"], entry["deleted"]} - {None}
    assert {p.name for p in cache_dir(corpus).iterdir()} == named


@pytest.mark.parametrize("edit", ["touched", "changed"])
def test_a_cache_that_cannot_be_written_is_logged_and_serving_goes_on(
    corpus: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, edit: str
):
    library = Library.open(corpus)
    path = corpus / news_name(2)
    if edit == "changed":
        path.write_text(news_article(2, PARAGRAPHS, version=5), encoding="utf-8")
    else:
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))

    def disk_full(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache, "_fsync_write", disk_full)
    caplog.set_level(logging.INFO, logger=store.__name__)

    library.refresh()

    warnings = store_warnings(caplog)
    assert len(warnings) == 1 and "No space left on device" in warnings[0]
    assert passages_by_file(library.searcher) == fresh_passages(corpus)


# ---------------------------------------------------------------------------------------------
# what invalidates the whole cache (and what, like the user dictionary, does not)


def test_a_user_dictionary_written_while_open_recuts_only_the_files_holding_its_words(corpus: Path, reads: list[str]):
    library = Library.open(corpus)
    assert library.analyzer.words("运河公园") == ["运河", "公园"]
    holding = sorted(rel for rel, texts in fresh_passages(corpus).items() if any("运河公园" in t for t in texts))
    reads.clear()
    (corpus / USERDICT_NAME).write_text("运河公园 1000 n\n", encoding="utf-8")

    result = library.refresh()

    # Changed in the index, but not read: their content is as indexed (test_userwords.py).
    assert sorted(result.changed) == holding == [news_name(0)] and reads == []
    assert library.analyzer.words("运河公园") == ["运河公园"]
    assert "运河公园" in library.searcher.search("运河公园", k=1).hits[0].matched
    assert_scores_are_rank_bm25s(library.searcher)


def test_a_user_dictionary_added_between_runs_recuts_only_the_files_holding_its_words(corpus: Path, reads: list[str]):
    Library.open(corpus)
    (corpus / USERDICT_NAME).write_text("运河公园 1000 n\n", encoding="utf-8")
    reads.clear()

    library = Library.open(corpus)

    assert library.last_refresh.changed == (news_name(0),) and reads == []
    assert library.searcher.search("运河公园", k=1).hits[0].matched == ("运河公园",)
    reads.clear()
    Library.open(corpus)
    assert reads == []  # and the updated cache, with its user words recorded, is reused


def _newer_reader(monkeypatch: pytest.MonkeyPatch) -> StoreSettings:
    monkeypatch.setattr(store, "READER_VERSION", store.READER_VERSION + 1)
    return StoreSettings()


def _newer_jieba(monkeypatch: pytest.MonkeyPatch) -> StoreSettings:
    monkeypatch.setattr(jieba, "__version__", jieba.__version__ + ".post1")
    return StoreSettings()


def _other_stopwords(monkeypatch: pytest.MonkeyPatch) -> StoreSettings:
    return StoreSettings(stopwords=False)


@pytest.mark.parametrize("change", [_newer_reader, _newer_jieba, _other_stopwords], ids=lambda f: f.__name__[1:])
def test_a_changed_cache_key_rereads_every_file(corpus: Path, reads: list[str], monkeypatch, change):
    Library.open(corpus)
    reads.clear()
    settings = change(monkeypatch)

    library = Library.open(corpus, settings)

    assert len(reads) == 1 + NEWS
    assert_scores_are_rank_bm25s(library.searcher)
    reads.clear()
    Library.open(corpus, settings)
    assert reads == []  # the cache rebuilt under the new key is the one reused


def test_without_the_cache_nothing_is_written_beside_the_corpus(corpus: Path):
    before = sorted(p.relative_to(corpus) for p in corpus.parent.rglob("*"))
    library = Library.open(corpus, StoreSettings(cache=False))
    (corpus / news_name(1)).unlink()
    st = (corpus / news_name(2)).stat()
    os.utime(corpus / news_name(2), ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    library.refresh()
    library.rebuild()

    after = sorted(p.relative_to(corpus) for p in corpus.parent.rglob("*"))
    assert after == [p for p in before if p != Path(news_name(1))]
    assert not (corpus / CACHE_DIR).exists()


# ---------------------------------------------------------------------------------------------
# a cache that cannot be trusted is rebuilt, never a crash


def _first_segment(root: Path) -> Path:
    return cache_dir(root) / manifest(root)["segments"][0]["name"]


def _truncate_segment_file(root: Path) -> None:
    path = _first_segment(root) / "posting_codes.npy"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _corrupt_segment_file(root: Path) -> None:
    path = _first_segment(root) / "texts.bin"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _remove_segment_folder(root: Path) -> None:
    shutil.rmtree(_first_segment(root))


def _garbage_manifest(root: Path) -> None:
    (cache_dir(root) / "manifest.json").write_bytes(os.urandom(300))


def _truncated_manifest(root: Path) -> None:
    path = cache_dir(root) / "manifest.json"
    path.write_bytes(path.read_bytes()[:100])


def _manifest_of_another_shape(root: Path) -> None:
    (cache_dir(root) / "manifest.json").write_text("[1, 2, 3]", encoding="utf-8")


def _manifest_without_files(root: Path) -> None:
    data = manifest(root)
    del data["files"]
    (cache_dir(root) / "manifest.json").write_text(json.dumps(data), encoding="utf-8")


def _remove_deletion_mask(root: Path) -> None:
    (cache_dir(root) / manifest(root)["segments"][0]["deleted"]).unlink()


def _truncate_deletion_mask(root: Path) -> None:
    path = cache_dir(root) / manifest(root)["segments"][0]["deleted"]
    path.write_bytes(path.read_bytes()[:-10])


def _deletion_mask_of_another_length(root: Path) -> None:
    with open(cache_dir(root) / manifest(root)["segments"][0]["deleted"], "wb") as fh:
        np.save(fh, np.zeros(3, dtype=bool))


DAMAGE = [
    _truncate_segment_file,
    _corrupt_segment_file,
    _remove_segment_folder,
    _garbage_manifest,
    _truncated_manifest,
    _manifest_of_another_shape,
    _manifest_without_files,
    _remove_deletion_mask,
    _truncate_deletion_mask,
    _deletion_mask_of_another_length,
]


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda f: f.__name__[1:])
def test_a_damaged_cache_is_reported_in_one_line_and_rebuilt_from_the_corpus(
    corpus: Path, reads: list[str], caplog: pytest.LogCaptureFixture, damage
):
    library = Library.open(corpus)
    (corpus / news_name(6)).unlink()  # a deletion, so the cache holds a deletion mask too
    library.refresh()
    expected = answers(library.searcher)
    damage(corpus)
    reads.clear()
    caplog.set_level(logging.INFO, logger=store.__name__)

    reopened = Library.open(corpus)

    warnings = store_warnings(caplog)
    assert len(warnings) == 1 and "\n" not in warnings[0], warnings
    assert "rebuilding" in warnings[0]
    assert len(reads) == NEWS  # every file, read afresh
    assert passages_by_file(reopened.searcher) == fresh_passages(corpus)
    assert_scores_are_rank_bm25s(reopened.searcher)
    assert [[p.text for p, _ in hits] for hits in answers(reopened.searcher)] == [
        [p.text for p, _ in hits] for hits in expected
    ]
    # The rebuilt cache is whole again: the next open reads nothing and warns of nothing.
    reads.clear()
    caplog.clear()
    Library.open(corpus)
    assert reads == [] and store_warnings(caplog) == []


def test_a_temp_folder_left_by_a_crashed_write_is_ignored(corpus: Path, reads: list[str], caplog):
    library = Library.open(corpus)
    expected = answers(library.searcher)
    leftover = cache_dir(corpus) / ".seg-18eb4714467cab1e.tmp"
    leftover.mkdir()
    (leftover / "posting_codes.npy").write_bytes(b"\x93NUMPY half a")
    (cache_dir(corpus) / ".manifest.json.4242.tmp").write_text('{"format": 1, "segm', encoding="utf-8")
    reads.clear()
    caplog.set_level(logging.INFO, logger=store.__name__)

    reopened = Library.open(corpus)

    assert reads == [] and store_warnings(caplog) == []
    assert answers(reopened.searcher) == expected


def test_a_stale_temp_folder_left_by_a_crashed_write_is_cleaned_up(corpus: Path):
    library = Library.open(corpus)
    leftover = cache_dir(corpus) / ".seg-18eb4714467cab1e.tmp"
    leftover.mkdir()
    (leftover / "posting_codes.npy").write_bytes(b"\x93NUMPY half a")
    stale = (leftover / "posting_codes.npy").stat().st_mtime - 2 * 86400
    os.utime(leftover / "posting_codes.npy", (stale, stale))
    os.utime(leftover, (stale, stale))
    in_progress = cache_dir(corpus) / ".seg-18eb4714467cab1f.tmp"  # another process's write, just begun
    in_progress.mkdir()
    (corpus / "added.txt").write_text(news_article(20), encoding="utf-8")

    library.refresh()

    assert not leftover.exists()
    assert in_progress.exists()


# ---------------------------------------------------------------------------------------------
# merges


def test_beyond_max_segments_the_smallest_adjacent_pair_is_merged(corpus: Path, reads: list[str]):
    library = Library.open(corpus)
    counts = [len(library.searcher.index.segments)]
    for n in range(MAX_SEGMENTS):
        (corpus / f"added{n}.txt").write_text(news_article(20 + n, 2), encoding="utf-8")
        library.refresh()
        counts.append(len(library.searcher.index.segments))

    assert counts == [*range(1, MAX_SEGMENTS + 1), MAX_SEGMENTS]
    # The big first segment is left alone; two one-file segments became one.
    merged = [seg for seg in {_segment_of(e) for e in library.files.values()} if _files_in(library, seg) > 1]
    assert len(merged) == 2 and any(_files_in(library, seg) == 2 for seg in merged)
    assert library.passage_count == 26 + NEWS * PARAGRAPHS + MAX_SEGMENTS * 2
    assert passages_by_file(library.searcher) == fresh_passages(corpus)
    assert_scores_are_rank_bm25s(library.searcher)
    assert len(manifest(corpus)["segments"]) == MAX_SEGMENTS
    assert sorted(p.name for p in cache_dir(corpus).iterdir() if p.is_dir()) == sorted(
        e["name"] for e in manifest(corpus)["segments"]
    )
    reads.clear()
    assert answers(Library.open(corpus).searcher) == answers(library.searcher) and reads == []


def _segment_of(entry: FileEntry) -> str | None:
    """The one segment holding a file read in one go (no user word moved any of its passages)."""
    (run,) = entry.runs or (None,)
    return run.segment if run else None


def _files_in(library: Library, segment: str | None) -> int:
    return sum(1 for e in library.files.values() if _segment_of(e) == segment)


def test_deleting_over_the_max_share_of_slots_merges_into_one_segment(corpus: Path):
    library = Library.open(corpus)
    assert 26 / library.passage_count > MAX_DELETED_SHARE

    (corpus / SEED_FILE).unlink()
    library.refresh()

    index = library.searcher.index
    assert len(index.segments) == 1 and index.deleted == (None,)
    assert index.n_slots == index.n_docs == NEWS * PARAGRAPHS
    assert passages_by_file(library.searcher) == fresh_passages(corpus)
    assert_scores_are_rank_bm25s(library.searcher)


def test_a_merge_comes_after_the_change_is_served(corpus: Path, monkeypatch: pytest.MonkeyPatch):
    library = Library.open(corpus)
    served: list[bool] = []
    real = Library._merge

    def merging(self: Library, *args):
        live = np.flatnonzero(self.searcher.index.live).tolist()
        served.append(all(self.searcher.passages[slot].file != SEED_FILE for slot in live))
        return real(self, *args)

    monkeypatch.setattr(Library, "_merge", merging)
    (corpus / SEED_FILE).unlink()  # over a quarter of the one segment: it is rewritten

    library.refresh()

    assert served == [True]
    assert len(library.searcher.index.segments) == 1 and library.searcher.index.deleted == (None,)


def test_a_small_deletion_is_a_mask_not_a_merge(corpus: Path):
    library = Library.open(corpus)

    (corpus / news_name(1)).unlink()
    library.refresh()

    index = library.searcher.index
    assert PARAGRAPHS / (26 + NEWS * PARAGRAPHS) <= MAX_DELETED_SHARE
    assert len(index.segments) == 1 and index.n_slots - index.n_docs == PARAGRAPHS


@pytest.mark.parametrize("reopen", [False, True], ids=["live", "reopened"])
def test_file_ranges_stay_right_after_a_merge(corpus: Path, reopen: bool):
    library = Library.open(corpus)
    for n in range(MAX_SEGMENTS):
        (corpus / f"added{n}.txt").write_text(news_article(20 + n, 2), encoding="utf-8")
        library.refresh()
    (corpus / news_name(2)).unlink()  # over a quarter of nothing: only masked
    library.refresh()
    pair = next(seg for seg in {_segment_of(e) for e in library.files.values()} if _files_in(library, seg) == 2)
    in_merged = sorted(rel for rel, e in library.files.items() if _segment_of(e) == pair)
    if reopen:
        library = Library.open(corpus)

    # The second file of the merged pair sits in the middle of its segment's slots.
    for name in (in_merged[1], in_merged[0], news_name(5), SEED_FILE):
        (corpus / name).unlink()
        library.refresh()
        assert name not in passages_by_file(library.searcher)
        assert passages_by_file(library.searcher) == fresh_passages(corpus)
    assert_scores_are_rank_bm25s(library.searcher)


# ---------------------------------------------------------------------------------------------
# snapshots and remembered problems


def test_a_searcher_taken_before_a_refresh_keeps_answering_from_its_snapshot(corpus: Path):
    library = Library.open(corpus)
    old = library.searcher
    expected = answers(old)
    # Enough removed that the refresh merges and deletes the old segment's folder from the cache.
    (corpus / SEED_FILE).unlink()
    (corpus / news_name(3)).write_text(news_article(3, 2, version=4), encoding="utf-8")
    (corpus / "added.txt").write_text(news_article(20), encoding="utf-8")
    library.refresh()
    assert library.searcher is not old
    assert SEED_FILE not in passages_by_file(library.searcher)

    assert answers(old) == expected
    assert old.index.n_docs == 26 + NEWS * PARAGRAPHS
    assert_scores_are_rank_bm25s(old)


def test_problems_are_remembered_and_reported_on_the_next_open_without_rereading(corpus: Path, reads: list[str]):
    (corpus / "binary.txt").write_bytes(bytes(range(256)) * 8)
    (corpus / "notitle.txt").write_text("只有一行。\n", encoding="utf-8")
    first = Library.open(corpus)
    assert sorted(p.file for p in first.problems) == ["binary.txt", "notitle.txt"]
    reads.clear()

    second = Library.open(corpus)

    assert reads == []
    assert second.problems == first.problems
    assert {"binary.txt", "notitle.txt"}.isdisjoint(a.file for a in second.articles)


def test_a_second_process_waits_for_the_cache_lock_before_refreshing(corpus: Path):
    import fcntl  # wenda's cache lock is POSIX flock; CI runs on Linux

    library = Library.open(corpus)
    (corpus / "late.txt").write_text("迟到的文章\n运河公园的迟到文章今天发表。\n", encoding="utf-8")
    other = open(cache_dir(corpus) / ".lock", "a+b")  # noqa: SIM115 - stands for another process
    fcntl.flock(other, fcntl.LOCK_EX)
    done = threading.Event()
    worker = threading.Thread(target=lambda: (library.refresh(), done.set()))
    worker.start()
    try:
        # While another process holds the lock, the refresh must not proceed.
        assert not done.wait(0.5)
    finally:
        fcntl.flock(other, fcntl.LOCK_UN)
        other.close()
    assert done.wait(10)
    worker.join()
    assert "late.txt" in library.files


def test_a_big_first_build_takes_larger_batches_to_stay_under_the_segment_target(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
):
    # Batches of ~one small file would make a segment per file; the build sizes them up instead.
    for n in range(NEWS, 40):
        (corpus / news_name(n)).write_text(news_article(n, PARAGRAPHS), encoding="utf-8")
    file_size = (corpus / news_name(0)).stat().st_size
    monkeypatch.setattr(store, "BATCH_BYTES", file_size)
    monkeypatch.setattr(store, "MAX_BATCH_BYTES", 100 * file_size)

    library = Library.open(corpus)

    target = MAX_SEGMENTS - store.SEGMENTS_HEADROOM
    assert 1 < len(library.searcher.index.segments) <= target
    assert len(manifest(corpus)["segments"]) == len(library.searcher.index.segments)
    assert passages_by_file(library.searcher) == fresh_passages(corpus)
    assert_scores_are_rank_bm25s(library.searcher)


def test_batches_never_grow_past_the_largest_size(corpus: Path, monkeypatch: pytest.MonkeyPatch):
    # Memory first: past MAX_BATCH_BYTES a build makes more segments and merges them later.
    file_size = (corpus / news_name(0)).stat().st_size
    monkeypatch.setattr(store, "BATCH_BYTES", file_size)
    monkeypatch.setattr(store, "MAX_BATCH_BYTES", file_size)

    library = Library.open(corpus)

    assert len(library.searcher.index.segments) >= NEWS
    assert_scores_are_rank_bm25s(library.searcher)


# ---------------------------------------------------------------------------------------------
# citations: url and date kept beside the index

DATED_MD = (
    "---\ntitle: 港口码头扩建\ndate: 2024/3/5\nurl: https://example.org/port\n---\n\n三号码头扩建工程今天开工。\n"
)


def test_a_reopened_cache_keeps_each_passages_url_and_date(corpus: Path, reads: list[str]):
    (corpus / "port.md").write_text(DATED_MD, encoding="utf-8")
    Library.open(corpus)
    reads.clear()

    library = Library.open(corpus)

    assert reads == []
    (port,) = [p for p in library.searcher.passages if p.file == "port.md"]
    assert (port.url, port.date) == ("https://example.org/port", "2024-03-05")
    (article,) = [a for a in library.articles if a.file == "port.md"]
    assert (article.url, article.date) == ("https://example.org/port", "2024-03-05")


def test_a_cache_of_the_format_before_dates_is_rebuilt(corpus: Path, reads: list[str]):
    (corpus / "port.md").write_text(DATED_MD, encoding="utf-8")
    Library.open(corpus)
    old = manifest(corpus)
    old["format"] = cache.FORMAT - 1
    for entry in old["files"].values():
        for article in entry["articles"]:
            del article["url"], article["date"]
    (cache_dir(corpus) / "manifest.json").write_text(json.dumps(old), encoding="utf-8")
    reads.clear()

    library = Library.open(corpus)

    assert len(reads) == 2 + NEWS
    assert [a.date for a in library.articles if a.file == "port.md"] == ["2024-03-05"]


def test_a_refresh_publishes_an_index_whose_vocabulary_statistics_are_computed(
    seed_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = Library.open(seed_corpus, StoreSettings())
    computed: list[int] = []
    real = BM25Index._live_dfs_in_first_occurrence_order

    def counted(self: BM25Index) -> np.ndarray:
        computed.append(self.n_docs)
        return real(self)

    monkeypatch.setattr(BM25Index, "_live_dfs_in_first_occurrence_order", counted)
    port = "港口码头扩建\n新港区三号码头扩建工程投入使用后，年吞吐能力提高到八百万吨。\n"
    (seed_corpus / "port.txt").write_text(port, encoding="utf-8")
    library.refresh()
    assert len(computed) == 1  # by the refresh, before it swapped the new index in
    library.searcher.search("三号码头扩建后年吞吐能力是多少？", 3)  # common enough terms to need it
    assert len(computed) == 1  # not again by the first question after the refresh


def test_follow_loads_what_another_library_saved_and_reads_no_file(seed_corpus: Path, reads: list[str]) -> None:
    keeper = Library.open(seed_corpus, StoreSettings())
    follower = Library.open(seed_corpus, StoreSettings())
    port = "港口码头扩建\n新港区三号码头扩建工程投入使用后，年吞吐能力提高到八百万吨。\n"
    (seed_corpus / "port.txt").write_text(port, encoding="utf-8")
    keeper.refresh()
    # Written after the keeper's refresh: reading it is the keeper's next refresh's work, not the follower's.
    (seed_corpus / "harbour.txt").write_text("另一座港口\n新港区五号码头正在建设。\n", encoding="utf-8")
    reads.clear()
    assert follower.follow()
    assert reads == []
    assert sorted(follower.files) == sorted(keeper.files) == [SEED_FILE, "port.txt"]
    [hit, *_] = follower.searcher.search("三号码头扩建后年吞吐能力是多少？", 3).hits
    assert hit.passage.file == "port.txt"
    assert not follower.follow()  # nothing saved since


def test_follow_sees_another_librarys_deletions_and_keeps_serving_a_damaged_cache(seed_corpus: Path) -> None:
    keeper = Library.open(seed_corpus, StoreSettings())
    follower = Library.open(seed_corpus, StoreSettings())
    port = "港口码头扩建\n新港区三号码头扩建工程投入使用后，年吞吐能力提高到八百万吨。\n"
    (seed_corpus / "port.txt").write_text(port, encoding="utf-8")
    keeper.refresh()
    follower.follow()
    (seed_corpus / "port.txt").unlink()
    keeper.refresh()
    assert follower.follow()
    assert "port.txt" not in follower.files
    assert all(h.passage.file != "port.txt" for h in follower.searcher.search("三号码头年吞吐能力", 3).hits)
    (seed_corpus / "port.txt").write_text(port, encoding="utf-8")
    keeper.refresh()
    manifest = cache.index_folder(seed_corpus) / "manifest.json"
    manifest.write_bytes(manifest.read_bytes().replace(b"port.txt", b"p0rt.txt"))  # its checksum no longer fits
    assert not follower.follow()
    assert "port.txt" not in follower.files  # the last good snapshot still serves
