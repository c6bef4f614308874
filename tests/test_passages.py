"""passages.py: stored passages read back as they were written, in the format articles.json always had."""

from __future__ import annotations

import json
from pathlib import Path

from wenda.retrieval.corpus import Passage
from wenda.retrieval.passages import ArticleRecord, PassageTable


def _passage(title: str, file: str, paragraph: int, **extra: str) -> Passage:
    return Passage(text=f"{title}的第{paragraph}段。", title=title, file=file, paragraph=paragraph, **extra)


PASSAGES = [
    _passage("副中心", "a.txt", 1, url="https://example.com/1", date="2024-03-05"),
    _passage("副中心", "a.txt", 2, url="https://example.com/1", date="2024-03-05"),
    _passage("集体学习", "a.txt", 1, source="新华社"),
    _passage("数据要素", "sub/b.md", 1),
]
TITLE_CUTS = {"副中心": bytes([1, 2]), "集体学习": bytes([2, 2])}


def test_a_saved_table_reads_back_passage_for_passage(tmp_path: Path):
    PassageTable.from_passages(PASSAGES, title_cuts=TITLE_CUTS).save(tmp_path)
    loaded = PassageTable.load(tmp_path)
    assert list(loaded) == PASSAGES
    assert [loaded.title_cut(i) for i in range(len(loaded))] == [b"\x01\x02", b"\x01\x02", b"\x02\x02", None]


def test_articles_json_keeps_its_format(tmp_path: Path):
    # Caches written before the records became tuples must read back, and new ones read by old code:
    # the same keys in the same order, and "cut" only where a title's cut is stored.
    PassageTable.from_passages(PASSAGES, title_cuts=TITLE_CUTS).save(tmp_path)
    stored = json.loads((tmp_path / "articles.json").read_text(encoding="utf-8"))["articles"]
    assert stored == [
        {
            "title": "副中心",
            "file": "a.txt",
            "source": None,
            "url": "https://example.com/1",
            "date": "2024-03-05",
            "cut": [1, 2],
        },
        {"title": "集体学习", "file": "a.txt", "source": "新华社", "url": None, "date": None, "cut": [2, 2]},
        {"title": "数据要素", "file": "sub/b.md", "source": None, "url": None, "date": None},
    ]
    assert [list(a) for a in stored] == [["title", "file", "source", "url", "date", "cut"]] * 2 + [
        ["title", "file", "source", "url", "date"]
    ]


def test_the_articles_of_a_file_share_its_name(tmp_path: Path):
    PassageTable.from_passages(PASSAGES).save(tmp_path)
    first, second, _ = PassageTable.load(tmp_path).articles
    assert first.file == second.file == "a.txt" and first.file is second.file


def test_a_title_cut_is_replaced_or_dropped():
    table = PassageTable.from_passages(PASSAGES, title_cuts=TITLE_CUTS)
    recut = table.with_cuts({}, {"副中心": bytes([3]), "集体学习": None})
    assert [recut.title_cut(i) for i in range(len(recut))] == [b"\x03", b"\x03", None, None]
    assert list(recut) == PASSAGES
    assert recut.articles[2] == ArticleRecord("数据要素", "sub/b.md", None, None, None)
