"""Adding files to the corpus: safe names, refusals with a reason, no overwrites, no duplicates, no temp files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import SMALL_MD, SMALL_TXT, news_article, wenda

from wenda.retrieval import intake
from wenda.retrieval.corpus import corpus_files, read_file
from wenda.retrieval.intake import add_bytes, add_file, safe_name
from wenda.retrieval.store import USERDICT_NAME

GOOD = SMALL_TXT.encode("utf-8")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "railway.md").write_text(SMALL_MD, encoding="utf-8")
    return root


def listing(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


# ---------------------------------------------------------------------------------------------
# safe_name


@pytest.mark.parametrize(
    ("offered", "safe"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("a/b\\c.md", "c.md"),
        ("C:\\Users\\me\\文章.TXT", "文章.txt"),
        ("/absolute/path/x.jsonl", "x.jsonl"),
    ],
)
def test_safe_name_keeps_only_the_last_path_component(offered: str, safe: str):
    assert safe_name(offered) == safe


@pytest.mark.parametrize(
    ("offered", "safe"),
    [
        ("my file (1)?.txt", "my_file_1.txt"),
        ('a<b>c:"d"|e*.md', "a_b_c_d_e.md"),
        ("新闻 稿；终版！.txt", "新闻_稿_终版.txt"),
        ("ｆｕｌｌｗｉｄｔｈ.txt", "fullwidth.txt"),
        ("tab\tand\nnewline.txt", "tab_and_newline.txt"),
    ],
)
def test_safe_name_replaces_odd_characters(offered: str, safe: str):
    assert safe_name(offered) == safe


@pytest.mark.parametrize(
    ("offered", "safe"), [(".hidden.txt", "hidden.txt"), ("...txt", "article.txt"), ("..", "article")]
)
def test_safe_name_has_no_leading_dots(offered: str, safe: str):
    assert safe_name(offered) == safe


# ---------------------------------------------------------------------------------------------
# refusals


def test_an_unsupported_suffix_is_refused(corpus: Path):
    before = listing(corpus)

    result = add_bytes(corpus, "report.pdf", GOOD)

    assert not result.ok
    assert ".pdf" in result.reason and ".txt" in result.reason
    assert listing(corpus) == before


def test_a_file_over_the_size_limit_is_refused(corpus: Path):
    before = listing(corpus)

    result = add_bytes(corpus, "big.txt", GOOD + "很长的段落。".encode() * 2000, max_bytes=16 * 1024)

    assert not result.ok
    assert "limit" in result.reason and "16 KB" in result.reason
    assert listing(corpus) == before


def test_a_file_on_disk_over_the_size_limit_is_refused_before_it_is_read(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    big = tmp_path / "big.txt"
    big.write_bytes(GOOD * 100)
    monkeypatch.setattr(intake, "MAX_ADD_BYTES", 1024)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail(f"read {self}"))

    result = add_file(corpus, big)

    assert not result.ok and "limit" in result.reason


@pytest.mark.parametrize(
    ("name", "data", "why"),
    [
        ("binary.txt", bytes(range(256)) * 16, "binary"),
        ("empty.txt", b"", "empty"),
        ("blank.md", b"  \n\n \n", "empty"),
        ("title-only.txt", "只有标题\n".encode(), "title line and at least one paragraph"),
        ("nothing.jsonl", b'{"foo": 1}\n', 'needs "title"'),
    ],
)
def test_a_file_without_an_article_is_refused_with_the_reason(corpus: Path, name: str, data: bytes, why: str):
    before = listing(corpus)

    result = add_bytes(corpus, name, data)

    assert not result.ok
    assert why in result.reason or any(why in str(p) for p in result.problems), result
    assert listing(corpus) == before


def test_an_unreadable_path_is_refused_with_the_reason(corpus: Path, tmp_path: Path):
    result = add_file(corpus, tmp_path / "missing.txt")

    assert not result.ok and "cannot be read" in result.reason


# ---------------------------------------------------------------------------------------------
# adding


def test_a_good_file_is_added_and_read_by_the_corpus_reader(corpus: Path):
    result = add_bytes(corpus, "../park.txt", GOOD)

    assert result.ok and result.added_as == "park.txt" and result.reason is None
    assert (corpus / "park.txt").read_bytes() == GOOD
    report = read_file(corpus / "park.txt", corpus)
    assert [a.title for a in report.articles] == ["运河公园改造完成"]
    assert (result.articles, result.passages) == (1, len(report.passages)) == (1, 3)


def test_the_same_content_again_is_reported_and_not_copied(corpus: Path):
    add_bytes(corpus, "park.txt", GOOD)
    before = listing(corpus)

    again = add_bytes(corpus, "park.txt", GOOD)

    assert again.ok and again.added_as == "park.txt"
    assert again.reason == "already in the corpus"
    assert listing(corpus) == before


def test_the_same_content_under_another_name_is_reported_and_not_copied(corpus: Path):
    add_bytes(corpus, "park.txt", GOOD)
    before = listing(corpus)

    again = add_bytes(corpus, "公园 (副本).txt", GOOD)

    assert again.ok and again.added_as == "park.txt"
    assert again.reason == "already in the corpus"
    assert listing(corpus) == before


@pytest.mark.parametrize("name", ["userdict.txt", "README.md", "readme.md", "sub/UserDict.TXT"])
def test_a_file_offered_under_a_reserved_name_is_added_as_an_article(corpus: Path, name: str):
    data = GOOD if name.lower().endswith(".txt") else SMALL_MD.encode("utf-8")

    result = add_bytes(corpus, name, data)

    assert result.ok
    assert not (corpus / USERDICT_NAME).exists()
    assert (corpus / result.added_as) in corpus_files(corpus)
    assert (corpus / result.added_as).read_bytes() == data


def test_a_different_file_of_the_same_name_gets_a_numbered_name(corpus: Path):
    add_bytes(corpus, "park.txt", GOOD)
    other = news_article(1).encode("utf-8")

    second = add_bytes(corpus, "park.txt", other)
    third = add_bytes(corpus, "park.txt", news_article(2).encode("utf-8"))

    assert (second.added_as, third.added_as) == ("park-1.txt", "park-2.txt")
    assert "park-1.txt" in second.reason
    assert (corpus / "park.txt").read_bytes() == GOOD
    assert (corpus / "park-1.txt").read_bytes() == other
    assert add_bytes(corpus, "park.txt", other).reason == "already in the corpus"


def test_no_temporary_file_is_left_behind(corpus: Path):
    add_bytes(corpus, "park.txt", GOOD)
    add_bytes(corpus, "park.txt", GOOD)
    add_bytes(corpus, "park.txt", news_article(1).encode("utf-8"))
    add_bytes(corpus, "bad.txt", b"")

    assert listing(corpus) == ["park-1.txt", "park.txt", "railway.md"]


def test_a_name_taken_at_the_last_moment_is_refused_not_overwritten(corpus: Path, monkeypatch: pytest.MonkeyPatch):
    real_link = os.link

    def someone_else_first(src, dst):
        Path(dst).write_text("别人的文件", encoding="utf-8")
        return real_link(src, dst)

    monkeypatch.setattr(intake.os, "link", someone_else_first)

    result = add_bytes(corpus, "park.txt", GOOD)

    assert not result.ok and "meanwhile" in result.reason
    assert (corpus / "park.txt").read_text(encoding="utf-8") == "别人的文件"
    assert listing(corpus) == ["park.txt", "railway.md"]


# ---------------------------------------------------------------------------------------------
# `wenda add`


def test_wenda_add_reports_each_file_fails_if_any_is_refused_and_the_good_one_is_answered(corpus: Path, tmp_path: Path):
    offered = tmp_path / "offered"
    offered.mkdir()
    (offered / "park.txt").write_bytes(GOOD)
    (offered / "photo.png").write_bytes(b"\x89PNG\r\n")
    (offered / "empty.txt").write_bytes(b"")

    added = wenda(
        "add",
        "--corpus",
        str(corpus),
        *(str(offered / n) for n in ("park.txt", "photo.png", "empty.txt")),
        cwd=tmp_path,
    )

    assert added.returncode == 1, added.stderr
    lines = added.stdout.splitlines()
    assert lines[:3] == [
        "added park.txt as park.txt: 1 article, 3 passages",
        "refused photo.png: unsupported file type .png; use one of .txt, .md, .markdown, .jsonl",
        "refused empty.txt: the file is empty",
    ]
    assert "Traceback" not in added.stderr
    assert sorted(p.name for p in corpus.iterdir() if p.is_file()) == ["park.txt", "railway.md"]

    asked = wenda("ask", "--json", "--corpus", str(corpus), "湿地观鸟台每天吸引多少游客", cwd=tmp_path)

    assert asked.returncode == 0, asked.stderr
    quotes = json.dumps(json.loads(asked.stdout), ensure_ascii=False)
    assert "园内新建的湿地观鸟台每天吸引上千名游客。" in quotes
    assert "park.txt" in quotes


def test_wenda_add_of_good_files_exits_zero(corpus: Path, tmp_path: Path):
    (tmp_path / "park.txt").write_bytes(GOOD)

    added = wenda("add", "--corpus", str(corpus), str(tmp_path / "park.txt"), cwd=tmp_path)

    assert added.returncode == 0, added.stderr
    assert "the index now holds 5 passages" in added.stdout
