"""An edited userdict.txt takes effect without a full re-index: only the files holding a changed word are read."""

from __future__ import annotations

import errno
import json
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import news_article, news_name

from wenda.retrieval import cache, store
from wenda.retrieval.cache import CACHE_DIR
from wenda.retrieval.corpus import Passage, read_file
from wenda.retrieval.search import Searcher
from wenda.retrieval.store import USERDICT_NAME, Library, Refresh, StoreSettings
from wenda.retrieval.text import BIGRAM, UNIGRAM, Analyzer
from wenda.retrieval.watch import CorpusWatcher

pytestmark = pytest.mark.usefixtures("fast_jieba")

WORD = "运河公园"  # jieba cuts it 运河 / 公园 by default
# news_article(n) is about PLACES[n % 10]: news00 and news10 hold the word, the others do not.
HOLDING = ["news00.txt", "news10.txt", "notes.txt"]
QUESTIONS = ("运河公园什么时候完工", "运河公园", "公园", "本市图书馆第2期工程", "kx003p1", "运河的历史")
TIMEOUT = 10.0
# An article with every citation field: the word in its first section, not in its second.
CANAL_MD = """\
---
title: 运河新貌
source: 城市日报
url: https://example.com/canal
date: 2024-05-01
---

## 改造

运河公园新增了三条骑行步道。

## 历史

运河的历史很长，两岸的老街保存完好。
"""


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    for n in range(12):
        (root / news_name(n)).write_text(news_article(n), encoding="utf-8")
    # The word only in a passage's text, not its title; and in a sub-folder.
    (root / "notes.txt").write_text("城市笔记\n周末去了运河公园散步。\n运河的历史很长。\n", encoding="utf-8")
    return root


def slots_of(library: Library, rel: str) -> list[int]:
    """The slots of one file's passages in file order, checked against the live passages of the index."""
    passages = library.searcher.passages
    slots = library.slots_of(rel)
    assert sorted(slots) == [slot for slot in np.flatnonzero(library.searcher.index.live) if passages[slot].file == rel]
    return slots


def passages_of(library: Library, rel: str) -> list[Passage]:
    """The passages of one file, in file order."""
    return [library.searcher.passages[slot] for slot in slots_of(library, rel)]


def stored_cuts(library: Library, rel: str) -> list[tuple[Passage, bytes | None, bytes | None]]:
    """Each passage of one file, in file order, with the cuts of its text and title stored beside it."""
    passages = library.searcher.passages
    return [(passages[slot], passages.cut(slot), passages.title_cut(slot)) for slot in slots_of(library, rel)]


def teach(root: Path, lines: str) -> None:
    (root / USERDICT_NAME).write_text(lines, encoding="utf-8")


def runs_by_file(root: Path) -> dict[str, list[list]]:
    """Each file's runs ([segment, first, count]) as the saved manifest records them."""
    data = json.loads((root / CACHE_DIR / "index" / "manifest.json").read_text(encoding="utf-8"))
    return {rel: entry["runs"] for rel, entry in data["files"].items()}


def holding_passages(root: Path, rels: list[str]) -> int:
    return sum(WORD in p.text or WORD in p.title for rel in rels for p in read_file(root / rel, root).passages)


def scores_by_passage(searcher: Searcher, tokens: list[str]) -> dict[tuple[str, int, str], float]:
    """get_scores keyed by passage (file, paragraph, text), so slot order does not matter."""
    live = np.flatnonzero(searcher.index.live)
    scores = searcher.index.get_scores(tokens)
    out = {}
    for slot, score in zip(live.tolist(), scores.tolist(), strict=True):
        p = searcher.passages[slot]
        out[(p.file, p.paragraph, p.text)] = score
    return out


def assert_scores_like_a_clean_rebuild(library: Library, tmp_path: Path) -> None:
    """Every question scores every passage as a library built from nothing, with the same userdict, does.

    Re-read files move to the end of the slot order, which changes the order of a few float sums
    (the average idf), so scores agree to rounding: a single token more or less in a passage
    moves its score by far more than that.
    """
    copy = tmp_path / "clean"
    shutil.copytree(library.root, copy, ignore=shutil.ignore_patterns(CACHE_DIR))
    clean = Library.open(copy, StoreSettings(cache=False))
    assert library.analyzer.user_words == clean.analyzer.user_words
    queries = [clean.analyzer.tokens(q) for q in QUESTIONS]
    assert [library.analyzer.tokens(q) for q in QUESTIONS] == queries
    for tokens in [*queries, *([t] for t in (WORD, "运河", "公园", UNIGRAM + "园", BIGRAM + "河公"))]:
        ours, theirs = scores_by_passage(library.searcher, tokens), scores_by_passage(clean.searcher, tokens)
        assert ours == pytest.approx(theirs, rel=1e-12, abs=1e-12), tokens


def test_a_new_user_word_makes_a_question_find_it_as_one_word(corpus: Path):
    library = Library.open(corpus)
    assert WORD not in library.searcher.search("周末去运河公园", k=1).hits[0].matched
    teach(corpus, f"{WORD} 1000 n\n")

    library.refresh()

    hit = library.searcher.search("周末去运河公园", k=1).hits[0]
    assert hit.passage.file == "notes.txt" and WORD in hit.matched


def test_only_the_passages_holding_a_new_user_word_move_and_no_file_is_read(corpus: Path, reads: list[str]):
    library = Library.open(corpus)
    before = runs_by_file(corpus)
    reads.clear()
    teach(corpus, f"{WORD} 1000 n\n")

    result = library.refresh()

    # The holding files' content is as indexed (same sha256): their passages holding the word are
    # taken from the index as stored, cut again and moved to one new segment; the rest stays put.
    assert sorted(result.changed) == HOLDING and reads == []
    assert result.user_words == (WORD,) and not result.added and not result.removed
    after = runs_by_file(corpus)
    assert {rel for rel in before if after[rel] != before[rel]} == set(HOLDING)
    old = {run[0] for runs in before.values() for run in runs}
    (new,) = {run[0] for rel in HOLDING for run in after[rel]} - old
    moved = sum(count for rel in HOLDING for segment, _, count in after[rel] if segment == new)
    assert moved == result.segmented == holding_passages(corpus, HOLDING)
    for rel in HOLDING:
        assert sum(run[2] for run in after[rel]) == sum(run[2] for run in before[rel])


def test_only_the_texts_holding_a_new_user_word_are_cut_again(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    library = Library.open(corpus)
    cut: list[str] = []
    real = Analyzer._cut_normalised

    def recording(self: Analyzer, normalised: str, fast: bool = False):
        cut.append(normalised)
        return real(self, normalised, fast)

    monkeypatch.setattr(Analyzer, "_cut_normalised", recording)
    teach(corpus, f"{WORD} 1000 n\n")

    result = library.refresh()

    assert sorted(result.changed) == HOLDING
    # notes.txt changes, but its passage without the word (运河的历史很长。) is taken from its old
    # segment, not cut again: only passages that hold the word are cut with the new dictionary.
    notes = read_file(corpus / "notes.txt", corpus).passages
    assert len(notes) == 2 and WORD in notes[0].text and WORD not in notes[1].text
    assert any(WORD in text for text in cut)
    assert not any("历史" in text for text in cut)
    assert result.segmented == holding_passages(corpus, HOLDING)
    assert_scores_like_a_clean_rebuild(library, tmp_path)


def test_an_index_updated_for_a_new_word_scores_like_a_clean_rebuild(corpus: Path, tmp_path: Path):
    library = Library.open(corpus)
    teach(corpus, f"{WORD} 1000 n\n城市笔记\n")

    library.refresh()

    assert_scores_like_a_clean_rebuild(library, tmp_path)


def test_removing_a_user_word_reverts_its_passages(corpus: Path, tmp_path: Path, reads: list[str]):
    teach(corpus, f"{WORD} 1000 n\n")
    library = Library.open(corpus)
    assert library.analyzer.words(WORD) == [WORD]
    reads.clear()
    (corpus / USERDICT_NAME).unlink()

    result = library.refresh()

    assert sorted(result.changed) == HOLDING and reads == [] and result.user_words == (WORD,)
    assert library.analyzer.words(WORD) == ["运河", "公园"]
    assert WORD not in library.searcher.search("周末去运河公园", k=1).hits[0].matched
    assert_scores_like_a_clean_rebuild(library, tmp_path)


def test_a_changed_frequency_rereads_the_files_holding_the_word(corpus: Path, reads: list[str]):
    teach(corpus, f"{WORD} 1000 n\n")
    library = Library.open(corpus)
    reads.clear()
    teach(corpus, f"{WORD} 3 n\n")

    assert sorted(library.refresh().changed) == HOLDING


def test_a_user_dictionary_edited_between_runs_is_caught_up_at_open(corpus: Path, tmp_path: Path, reads: list[str]):
    Library.open(corpus)
    teach(corpus, f"{WORD} 1000 n\n")
    reads.clear()

    library = Library.open(corpus)

    assert sorted(library.last_refresh.changed) == HOLDING and reads == []
    assert_scores_like_a_clean_rebuild(library, tmp_path)


def test_a_recut_files_passages_keep_their_citations(corpus: Path, reads: list[str]):
    (corpus / "canal.md").write_text(CANAL_MD, encoding="utf-8")
    library = Library.open(corpus)
    before = passages_of(library, "canal.md")
    assert {p.heading for p in before} == {"改造", "历史"} and any(WORD in p.text for p in before)
    reads.clear()
    teach(corpus, f"{WORD} 1000 n\n")

    result = library.refresh()

    assert "canal.md" in result.changed and reads == []
    # Passage equality: file, paragraph, title, source, url, date, heading and text.
    assert passages_of(library, "canal.md") == before
    hit = library.searcher.search("运河公园的骑行步道", k=1).hits[0]
    assert hit.passage == before[0] and WORD in hit.matched


def test_a_recut_file_keeps_the_cuts_a_clean_rebuild_stores(corpus: Path, tmp_path: Path):
    (corpus / "canal.md").write_text(CANAL_MD, encoding="utf-8")
    library = Library.open(corpus)
    teach(corpus, f"{WORD} 1000 n\n{WORD[:2]}新 5 n\n")

    library.refresh()

    copy = tmp_path / "clean"
    shutil.copytree(corpus, copy, ignore=shutil.ignore_patterns(CACHE_DIR))
    clean = Library.open(copy, StoreSettings(cache=False))
    for rel in [*HOLDING, "canal.md"]:
        ours, theirs = stored_cuts(library, rel), stored_cuts(clean, rel)
        assert ours == theirs and len(ours) == library.files[rel].count


def test_a_recut_file_touched_meanwhile_records_its_new_stat(corpus: Path, reads: list[str]):
    library = Library.open(corpus)
    stamp = (corpus / "notes.txt").stat().st_mtime_ns + 10**9
    os.utime(corpus / "notes.txt", ns=(stamp, stamp))
    teach(corpus, f"{WORD} 1000 n\n")

    assert "notes.txt" in library.refresh().changed
    reads.clear()

    assert library.files["notes.txt"].mtime_ns == stamp
    assert not library.refresh().touched and reads == []


def test_a_user_word_no_passage_holds_reads_nothing_but_cuts_questions(corpus: Path, reads: list[str]):
    library = Library.open(corpus)
    reads.clear()
    teach(corpus, "量子纠缠态 1000 n\n")

    result = library.refresh()

    assert reads == [] and result.user_words == ("量子纠缠态",)
    assert library.searcher.analyzer.words("量子纠缠态") == ["量子纠缠态"]
    reads.clear()
    assert Library.open(corpus).analyzer.user_words == {"量子纠缠态": "1000 n"}
    assert reads == []  # the manifest recorded the new words


def test_a_user_dictionary_saved_while_watching_is_searchable(corpus: Path):
    library = Library.open(corpus)
    refreshed = threading.Event()
    seen: list[Refresh] = []

    def on_refresh(result: Refresh) -> None:
        seen.append(result)
        if result.user_words:
            refreshed.set()

    with CorpusWatcher(library, on_refresh=on_refresh) as watcher:
        assert watcher.ready.wait(TIMEOUT)
        teach(corpus, f"{WORD} 1000 n\n")
        assert refreshed.wait(TIMEOUT)

    assert WORD in library.searcher.search("周末去运河公园", k=1).hits[0].matched


# -- a file whose passages a user word split across segments --------------------------------------


def split_notes(corpus: Path) -> Library:
    """A library in which notes.txt's passage holding WORD has moved to a segment of its own."""
    library = Library.open(corpus)
    teach(corpus, f"{WORD} 1000 n\n")
    library.refresh()
    (holding, _), (other, _) = [(run[0], run[2]) for run in runs_by_file(corpus)["notes.txt"]]
    assert holding != other
    return library


def test_a_split_file_lists_its_passages_in_file_order(corpus: Path):
    before = [p.text for p in read_file(corpus / "notes.txt", corpus).passages]

    library = split_notes(corpus)

    assert [p.text for p in passages_of(library, "notes.txt")] == before
    assert library.files["notes.txt"].count == 2 and len(library.files["notes.txt"].runs) == 2


def test_a_split_file_removed_takes_all_its_passages(corpus: Path, tmp_path: Path):
    library = split_notes(corpus)
    (corpus / "notes.txt").unlink()

    result = library.refresh()

    assert result.removed == ("notes.txt",) and "notes.txt" not in library.files
    live = np.flatnonzero(library.searcher.index.live)
    assert all(library.searcher.passages[slot].file != "notes.txt" for slot in live)
    assert_scores_like_a_clean_rebuild(library, tmp_path)


def test_a_split_file_edited_is_read_again_whole(corpus: Path, tmp_path: Path, reads: list[str]):
    library = split_notes(corpus)
    reads.clear()
    (corpus / "notes.txt").write_text("城市笔记\n运河的历史很长。\n又去了运河公园。\n新的一段。\n", encoding="utf-8")

    result = library.refresh()

    assert result.changed == ("notes.txt",) and reads == ["notes.txt"]
    assert [p.text for p in passages_of(library, "notes.txt")] == ["运河的历史很长。", "又去了运河公园。", "新的一段。"]
    assert len(library.files["notes.txt"].runs) == 1
    assert_scores_like_a_clean_rebuild(library, tmp_path)


def test_a_split_file_is_taken_up_as_split_after_a_restart(corpus: Path, tmp_path: Path, reads: list[str]):
    library = split_notes(corpus)
    order = passages_of(library, "notes.txt")
    reads.clear()

    reopened = Library.open(corpus)

    assert reads == [] and reopened.files == library.files
    assert passages_of(reopened, "notes.txt") == order
    assert_scores_like_a_clean_rebuild(reopened, tmp_path)


def test_a_word_removed_again_moves_the_moved_passages_once_more(corpus: Path, tmp_path: Path, reads: list[str]):
    library = split_notes(corpus)
    before = {rel: passages_of(library, rel) for rel in HOLDING}
    reads.clear()
    (corpus / USERDICT_NAME).unlink()

    result = library.refresh()

    assert sorted(result.changed) == HOLDING and reads == []
    assert {rel: passages_of(library, rel) for rel in HOLDING} == before
    assert_scores_like_a_clean_rebuild(library, tmp_path / "removed")
    teach(corpus, f"{WORD} 1000 n\n城市笔记 1000 n\n")  # a title word: every passage of notes.txt moves

    library.refresh()

    assert {rel: passages_of(library, rel) for rel in HOLDING} == before
    assert_scores_like_a_clean_rebuild(library, tmp_path / "taught")


def test_a_merge_keeps_the_runs_of_a_split_file(corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    library = split_notes(corpus)
    before = {rel: passages_of(library, rel) for rel in HOLDING}
    # One segment at most: the next refresh merges the original segment with the moved passages'.
    monkeypatch.setattr(store, "MAX_SEGMENTS", 1)
    (corpus / "extra.txt").write_text("补充\n与运河无关的一段。\n", encoding="utf-8")

    library.refresh()

    assert len(library.searcher.index.segments) == 1
    assert {rel: passages_of(library, rel) for rel in HOLDING} == before
    assert_scores_like_a_clean_rebuild(library, tmp_path)
    assert passages_of(Library.open(corpus), "notes.txt") == before["notes.txt"]


def test_a_manifest_of_the_format_before_runs_is_read_without_reading_a_file(corpus: Path, reads: list[str]):
    library = Library.open(corpus)
    path = corpus / CACHE_DIR / "index" / "manifest.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    for entry in data["files"].values():
        ((segment, first, count),) = entry.pop("runs") or ((None, 0, 0),)
        entry.update(first=first, count=count, segment=segment)
    data["format"] = 9
    body = {key: value for key, value in data.items() if key != "checksum"}
    data["checksum"] = cache._body_checksum(body)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    reads.clear()

    reopened = Library.open(corpus)

    assert reads == [] and reopened.files == library.files


def test_a_recut_whose_manifest_could_not_be_saved_is_done_again_at_the_next_start(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reads: list[str]
):
    library = Library.open(corpus)
    index = corpus / CACHE_DIR / "index"
    before = sorted(p.name for p in index.iterdir() if p.is_dir())
    real = cache.write_manifest

    def refused(cache_dir: Path, manifest) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cache, "write_manifest", refused)
    teach(corpus, f"{WORD} 1000 n\n")
    library.refresh()  # served from memory; the moved passages' segment is not left behind
    assert WORD in library.searcher.search("周末去运河公园", k=1).hits[0].matched
    assert sorted(p.name for p in index.iterdir() if p.is_dir()) == before
    monkeypatch.setattr(cache, "write_manifest", real)
    reads.clear()

    reopened = Library.open(corpus)

    assert reads == [] and sorted(reopened.last_refresh.changed) == HOLDING
    assert passages_of(reopened, "notes.txt") == passages_of(library, "notes.txt")
    assert_scores_like_a_clean_rebuild(reopened, tmp_path)
