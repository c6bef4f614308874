"""Bad article files beside a good one: each is read or reported once, by name, and the good file still answers."""

from __future__ import annotations

import codecs
import io
import json
import logging
import os
import pathlib
import random
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from wenda.bot.answer import answer
from wenda.retrieval.store import Library, StoreSettings

GOOD = "park.txt"
GOOD_TEXT = """\
运河公园改造完成
通州区大运河森林公园的改造工程于今年五月全部完工，新增了三条骑行步道。
公园管理处表示，夏季开放时间延长到晚上十点。
园内新建的湿地观鸟台每天吸引上千名游客。
"""
GOOD_QUESTION = "大运河森林公园的改造工程什么时候完工？"
GOOD_ANSWER = "通州区大运河森林公园的改造工程于今年五月全部完工"

# The article each readable bad file holds, in whatever encoding or layout the test gives it.
PORT_TITLE = "港口码头扩建"
PORT_PARAGRAPHS = (
    "新港区三号码头扩建工程投入使用后，年吞吐能力提高到八百万吨。",
    "码头工人实行四班三运转，每班工作八小时。",
)
PORT_TEXT = "\n".join([PORT_TITLE, *PORT_PARAGRAPHS]) + "\n"
PORT_QUESTION = "三号码头扩建后年吞吐能力是多少？"

# Every Library makes its own jieba tokenizer; the fixture saves each a second of dictionary loading.
pytestmark = pytest.mark.usefixtures("fast_jieba")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A temp corpus folder holding one good article file."""
    root = tmp_path / "corpus"
    root.mkdir()
    (root / GOOD).write_text(GOOD_TEXT, encoding="utf-8")
    return root


def open_library(root: Path) -> Library:
    """The corpus as the bot opens it: index cache beside the corpus (here, in the temp folder)."""
    return Library.open(root, StoreSettings())


def top_passage(library: Library, question: str) -> str:
    ans = answer(library.searcher, question)
    assert ans.answered, f"{question!r} was not answered"
    return ans.hits[0].passage.text


def assert_good_file_answers(library: Library) -> None:
    assert top_passage(library, GOOD_QUESTION).startswith(GOOD_ANSWER)


def reports(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    """The warnings and errors logged that name a file."""
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and name in r.getMessage()]


def assert_reported_once(
    library: Library, caplog: pytest.LogCaptureFixture, name: str, why: str, line: int | None = None
) -> None:
    """One log line names the file (and line) and says why; library.problems holds that one problem."""
    where = name if line is None else f"{name}:{line}"
    [logged] = reports(caplog, name)
    assert "\n" not in logged
    assert f"{where}: " in logged
    assert why in logged
    [problem] = [p for p in library.problems if p.file == name]
    assert (problem.line, why in problem.reason) == (line, True)


def assert_not_reported(library: Library, caplog: pytest.LogCaptureFixture, name: str) -> None:
    assert reports(caplog, name) == []
    assert [p for p in library.problems if p.file == name] == []


# -- encodings and layouts that load ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "encode"),
    [
        ("gbk.txt", lambda text: text.encode("gbk")),
        ("utf16le.txt", lambda text: codecs.BOM_UTF16_LE + text.encode("utf-16-le")),
        ("utf16be.txt", lambda text: codecs.BOM_UTF16_BE + text.encode("utf-16-be")),
        ("bom.txt", lambda text: codecs.BOM_UTF8 + text.encode("utf-8")),
    ],
    ids=["gbk", "utf-16-le", "utf-16-be", "utf-8-bom"],
)
def test_file_in_another_encoding_is_read(
    corpus: Path, caplog: pytest.LogCaptureFixture, name: str, encode: Callable[[str], bytes]
) -> None:
    (corpus / name).write_bytes(encode(PORT_TEXT))
    library = open_library(corpus)
    assert [a.title for a in library.articles if a.file == name] == [PORT_TITLE]  # no BOM in the title
    assert top_passage(library, PORT_QUESTION) == PORT_PARAGRAPHS[0]
    assert_good_file_answers(library)
    assert_not_reported(library, caplog, name)


def test_gb18030_characters_outside_gbk_are_read(corpus: Path, caplog: pytest.LogCaptureFixture) -> None:
    # 䶮 (CJK Extension A) and 𠀀 (Extension B) have four-byte GB18030 codes and no GBK code at all.
    text = PORT_TEXT.replace("三号码头", "䶮𠀀号码头")
    (corpus / "gb18030.txt").write_bytes(text.encode("gb18030"))
    library = open_library(corpus)
    assert top_passage(library, "䶮𠀀号码头扩建后年吞吐能力是多少？").startswith("新港区䶮𠀀号码头")
    assert_not_reported(library, caplog, "gb18030.txt")


def test_mixed_line_endings_make_the_same_paragraphs(corpus: Path, caplog: pytest.LogCaptureFixture) -> None:
    title, first, second = PORT_TEXT.splitlines()
    (corpus / "mixed.txt").write_bytes(f"{title}\r\n{first}\r{second}\n".encode())
    library = open_library(corpus)
    texts = [library.searcher.passages[i].text for i in range(library.searcher.index.n_slots)]
    assert [t for t in texts if "码头" in t] == list(PORT_PARAGRAPHS)
    assert not any("\r" in t for t in texts)
    assert top_passage(library, PORT_QUESTION) == PORT_PARAGRAPHS[0]
    assert_not_reported(library, caplog, "mixed.txt")


def test_lone_surrogate_escape_in_jsonl_is_replaced_not_fatal(corpus: Path, caplog: pytest.LogCaptureFixture) -> None:
    # JSON can spell a lone surrogate; no UTF-8 index can store one, and OpenCC raised on it.
    record = {"title": PORT_TITLE + "\\ud800", "paragraphs": [PORT_PARAGRAPHS[0] + "\\udc00"]}
    (corpus / "escaped.jsonl").write_text(json.dumps(record, ensure_ascii=False).replace("\\\\", "\\") + "\n")
    library = open_library(corpus)
    assert [a.title for a in library.articles if a.file == "escaped.jsonl"] == [PORT_TITLE + "\ufffd"]
    assert top_passage(library, PORT_QUESTION) == PORT_PARAGRAPHS[0] + "\ufffd"
    assert_good_file_answers(library)
    assert_not_reported(library, caplog, "escaped.jsonl")


# -- files that cannot be read, or only in part -------------------------------------------------


def test_file_whose_name_is_not_utf8_is_reported_once(corpus: Path, caplog: pytest.LogCaptureFixture) -> None:
    # 你好.txt named in GBK, as a zip made on Chinese Windows unpacks on Linux: the name decodes to
    # lone surrogates, which the index cache, the logs and Discord cannot carry.
    try:
        (corpus / os.fsdecode("你好.txt".encode("gbk"))).write_text(PORT_TEXT, encoding="utf-8")
    except OSError:
        pytest.skip("this file system only takes UTF-8 file names")
    library = open_library(corpus)
    [line] = reports(caplog, "the file name is not UTF-8")
    assert "\\xc4\\xe3\\xba\\xc3.txt" in line  # the bytes, so the operator can find the file
    assert [a.file for a in library.articles] == [GOOD]
    assert_good_file_answers(library)


def test_empty_file_is_reported_once(corpus: Path, caplog: pytest.LogCaptureFixture) -> None:
    (corpus / "empty.txt").write_bytes(b"")
    library = open_library(corpus)
    assert_reported_once(library, caplog, "empty.txt", "empty")
    assert_good_file_answers(library)


def test_binary_file_named_txt_is_reported_once(corpus: Path, caplog: pytest.LogCaptureFixture) -> None:
    png = b"\x89PNG\r\n\x1a\n" + random.Random(6).randbytes(64 * 1024)
    (corpus / "photo.txt").write_bytes(png)
    library = open_library(corpus)
    assert_reported_once(library, caplog, "photo.txt", "binary")
    assert_good_file_answers(library)


def test_broken_jsonl_line_is_reported_and_the_other_lines_load(corpus: Path, caplog: pytest.LogCaptureFixture) -> None:
    lines = [
        json.dumps({"title": PORT_TITLE, "paragraphs": list(PORT_PARAGRAPHS)}, ensure_ascii=False),
        '{"title": "断掉的一行", "paragraphs": ["这一行没有写完',
        json.dumps({"title": "社区食堂开业", "text": "街道第一家社区食堂在和平里开业，老年人就餐可享受八折优惠。"}),
    ]
    (corpus / "articles.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    library = open_library(corpus)
    assert_reported_once(library, caplog, "articles.jsonl", "not valid JSON", line=2)
    assert [a.title for a in library.articles if a.file == "articles.jsonl"] == [PORT_TITLE, "社区食堂开业"]
    assert top_passage(library, PORT_QUESTION) == PORT_PARAGRAPHS[0]
    assert top_passage(library, "社区食堂老年人就餐有什么优惠？").startswith("街道第一家社区食堂")


def test_markdown_with_invalid_front_matter_is_reported_and_its_body_loads(
    corpus: Path, caplog: pytest.LogCaptureFixture
) -> None:
    body = "\n\n".join([f"# {PORT_TITLE}", *PORT_PARAGRAPHS])
    (corpus / "port.md").write_text(f"---\ntitle: [没有闭合\nsource: 港口日报\n---\n\n{body}\n", encoding="utf-8")
    library = open_library(corpus)
    assert_reported_once(library, caplog, "port.md", "front matter ignored, it is not valid YAML", line=1)
    assert [a.title for a in library.articles if a.file == "port.md"] == [PORT_TITLE]
    assert top_passage(library, PORT_QUESTION) == PORT_PARAGRAPHS[0]


def test_markdown_front_matter_without_closing_line_is_reported_not_taken_as_title(
    corpus: Path, caplog: pytest.LogCaptureFixture
) -> None:
    body = "\n\n".join([f"# {PORT_TITLE}", *PORT_PARAGRAPHS])
    (corpus / "port.md").write_text(f"---\ntitle: {PORT_TITLE}\nsource: 港口日报\n\n{body}\n", encoding="utf-8")
    library = open_library(corpus)
    assert_reported_once(library, caplog, "port.md", "no closing --- line", line=1)
    assert [a.title for a in library.articles if a.file == "port.md"] == [PORT_TITLE]
    assert top_passage(library, PORT_QUESTION) == PORT_PARAGRAPHS[0]


def test_deeply_nested_jsonl_line_is_reported_and_the_other_lines_load(
    corpus: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Nesting deeper than Python's recursion limit: json.loads raised RecursionError, not a JSON error.
    deep = '{"title": "嵌套", "paragraphs": ' + "[" * 100_000 + "]" * 100_000 + "}"
    good = json.dumps({"title": PORT_TITLE, "paragraphs": list(PORT_PARAGRAPHS)}, ensure_ascii=False)
    (corpus / "deep.jsonl").write_text(f"{deep}\n{good}\n", encoding="utf-8")
    library = open_library(corpus)
    assert_reported_once(library, caplog, "deep.jsonl", "nested too deeply", line=1)
    assert top_passage(library, PORT_QUESTION) == PORT_PARAGRAPHS[0]
    assert_good_file_answers(library)


def test_deeply_nested_front_matter_is_reported_and_its_body_loads(
    corpus: Path, caplog: pytest.LogCaptureFixture
) -> None:
    body = "\n\n".join([f"# {PORT_TITLE}", *PORT_PARAGRAPHS])
    front_matter = "title: " + "[" * 5_000 + "]" * 5_000
    (corpus / "port.md").write_text(f"---\n{front_matter}\n---\n\n{body}\n", encoding="utf-8")
    library = open_library(corpus)
    assert_reported_once(library, caplog, "port.md", "nested too deeply", line=1)
    assert top_passage(library, PORT_QUESTION) == PORT_PARAGRAPHS[0]


def test_front_matter_aliases_do_not_blow_up_into_a_title(corpus: Path, caplog: pytest.LogCaptureFixture) -> None:
    # A "billion laughs": n levels of nine aliases are 9**n strings once str() expands the list. Five
    # keep a regression quick to fail (a 400,000-character title); nine would be gigabytes.
    levels = ["l0: &l0 [哈, 哈, 哈, 哈, 哈, 哈, 哈, 哈, 哈]"]
    levels += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, 5)]
    body = "\n\n".join([f"# {PORT_TITLE}", *PORT_PARAGRAPHS])
    (corpus / "port.md").write_text("---\n" + "\n".join(levels) + "\ntitle: *l4\n---\n\n" + body, "utf-8")
    library = open_library(corpus)
    assert [a.title for a in library.articles if a.file == "port.md"] == [PORT_TITLE]
    assert top_passage(library, PORT_QUESTION) == PORT_PARAGRAPHS[0]


def test_file_removed_while_being_read_is_reported_once(
    corpus: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = corpus / "port.txt"
    victim.write_text(PORT_TEXT, encoding="utf-8")
    read_bytes = pathlib.Path.read_bytes

    def vanishing(self: Path) -> bytes:
        if self == victim:
            self.unlink()  # another process removed it between listing and reading
        return read_bytes(self)

    monkeypatch.setattr(pathlib.Path, "read_bytes", vanishing)
    library = open_library(corpus)
    assert_reported_once(library, caplog, "port.txt", "No such file or directory")
    assert_good_file_answers(library)
    library.refresh()  # the next look finds it gone, and forgets the problem
    assert [p for p in library.problems if p.file == "port.txt"] == []
    assert_good_file_answers(library)


def test_unreadable_file_is_reported_once(
    corpus: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = corpus / "secret.txt"
    victim.write_text(PORT_TEXT, encoding="utf-8")
    deny_opening(monkeypatch, victim)
    library = open_library(corpus)
    [line] = reports(caplog, "secret.txt")
    assert "Permission denied" in line
    assert "\n" not in line
    assert_good_file_answers(library)


def deny_opening(monkeypatch: pytest.MonkeyPatch, victim: Path) -> None:
    """Opening victim raises PermissionError, as chmod 000 would for anyone but root (the tests' user)."""
    builtin_open, path_open = io.open, pathlib.Path.open

    def denied(path: object) -> bool:
        return isinstance(path, str | Path) and Path(path) == victim

    def guarded_open(file: object, *args: object, **kwargs: object) -> object:
        if denied(file):
            raise PermissionError(13, "Permission denied", str(file))
        return builtin_open(file, *args, **kwargs)

    def guarded_path_open(self: Path, *args: object, **kwargs: object) -> object:
        if denied(self):
            raise PermissionError(13, "Permission denied", str(self))
        return path_open(self, *args, **kwargs)

    monkeypatch.setattr("builtins.open", guarded_open)
    monkeypatch.setattr(pathlib.Path, "open", guarded_path_open)


# -- nothing that was indexed is lost to a bad file ------------------------------------------


def write_empty(root: Path, _: pytest.MonkeyPatch) -> str:
    (root / "empty.txt").write_bytes(b"")
    return "empty.txt"


def write_binary(root: Path, _: pytest.MonkeyPatch) -> str:
    (root / "blob.txt").write_bytes(random.Random(7).randbytes(32 * 1024))
    return "blob.txt"


def write_broken_jsonl(root: Path, _: pytest.MonkeyPatch) -> str:
    (root / "broken.jsonl").write_text('{"title": "断"\n[1, 2]\n', encoding="utf-8")
    return "broken.jsonl"


def write_broken_front_matter(root: Path, _: pytest.MonkeyPatch) -> str:
    (root / "broken.md").write_text("---\n: : :\n---\n\n# 标题\n\n正文一段。\n", encoding="utf-8")
    return "broken.md"


def write_surrogates(root: Path, _: pytest.MonkeyPatch) -> str:
    (root / "escaped.jsonl").write_text('{"title": "\\ud800", "paragraphs": ["\\udfff\\ud800"]}\n', encoding="utf-8")
    return "escaped.jsonl"


def write_unreadable(root: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (root / "secret.txt").write_text(PORT_TEXT, encoding="utf-8")
    deny_opening(monkeypatch, root / "secret.txt")
    return "secret.txt"


def write_vanishing(root: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    victim = root / "gone.txt"
    victim.write_text(PORT_TEXT, encoding="utf-8")
    read_bytes = pathlib.Path.read_bytes

    def vanishing(self: Path) -> bytes:
        if self == victim:
            self.unlink(missing_ok=True)
            raise FileNotFoundError(2, "No such file or directory", str(self))
        return read_bytes(self)

    monkeypatch.setattr(pathlib.Path, "read_bytes", vanishing)
    return "gone.txt"


@pytest.mark.parametrize(
    "write_bad_file",
    [
        write_empty,
        write_binary,
        write_broken_jsonl,
        write_broken_front_matter,
        write_surrogates,
        write_unreadable,
        write_vanishing,
    ],
    ids=lambda f: f.__name__.removeprefix("write_"),
)
def test_bad_file_added_later_leaves_the_index_serving(
    corpus: Path, monkeypatch: pytest.MonkeyPatch, write_bad_file: Callable[[Path, pytest.MonkeyPatch], str]
) -> None:
    library = open_library(corpus)
    before = library.passage_count
    assert_good_file_answers(library)
    write_bad_file(corpus, monkeypatch)
    library.refresh()
    assert library.passage_count >= before
    assert_good_file_answers(library)
    # A fresh start reads the same folder, from the cache beside it, bad file and all.
    reopened = open_library(corpus)
    assert reopened.passage_count == library.passage_count
    assert_good_file_answers(reopened)


# -- a very large file --------------------------------------------------------------------------

FAR_END = "结尾标记：蓝鲸观测站位于东海之滨。"
# Runs in a fresh interpreter, so that the peak resident size it reports belongs to opening this
# corpus and not to whatever the test session held before. One segmenting process (workers=1), so
# that all the work, segmentation included, is measured in this one process.
_OPEN_BIG_CORPUS = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    from wenda.retrieval.store import Library, StoreSettings
    from wenda.retrieval.text import Analyzer

    def resident() -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def high_water_mark() -> int:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmHWM in /proc/self/status")

    def main():
        Analyzer().tokens("预热")  # imports and a first jieba dictionary load are not the file's cost
        before = resident()
        library = Library.open(Path(sys.argv[1]), StoreSettings(cache=False, workers=1))
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child spawned by a big
        # pytest process would report the parent's size as its own peak.
        peak = high_water_mark()
        passages = [library.searcher.passages[i] for i in range(library.searcher.index.n_slots)]
        hit = library.searcher.search(sys.argv[2], 1).hits[0].passage
        print(json.dumps({
            "growth": peak - before,
            "passages": len(passages),
            "longest": max(len(p.text) for p in passages),
            "chars": sum(len(p.text) for p in passages),
            "hit": hit.text[-60:],
            "problems": [str(p) for p in library.problems],
        }))

    if __name__ == "__main__":
        main()
    """
)


def test_fifty_megabyte_file_is_split_and_read_in_bounded_memory(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    # Few, huge paragraphs. The sentences are mostly emoji: four bytes each in UTF-8 and skipped by
    # the segmenter almost for free, so 50 MB are read and split in seconds. 50 MB of common Chinese
    # would be the same work for the reader but over a minute of jieba on two cores.
    sentence = "🌊" * 40 + "。"
    paragraph = sentence * 105_000
    paragraphs = ["开头标记：灰雁湖每年秋天迎来候鸟。" + paragraph, paragraph, paragraph + FAR_END]
    text = "\n".join(["巨型文章", *paragraphs]) + "\n"
    path = root / "huge.txt"
    path.write_text(text, encoding="utf-8")
    size = path.stat().st_size
    assert size >= 50 * 10**6
    script = tmp_path / "open_big_corpus.py"
    script.write_text(_OPEN_BIG_CORPUS, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script), str(root), "蓝鲸观测站在哪里？"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["problems"] == []
    assert result["growth"] < 10 * size, f"{result['growth'] / 2**20:.0f} MiB for a {size / 2**20:.0f} MiB file"
    # Split into passages of at most 3,000 characters, and nothing dropped on the way.
    assert result["longest"] <= 3000
    assert result["chars"] == sum(len(p) for p in paragraphs)
    assert result["hit"].endswith(FAR_END)
