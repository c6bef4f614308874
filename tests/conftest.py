"""Fixtures shared by the tests: the bundled seed corpus, one searcher over it, and small temp corpora."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import jieba
import pytest

from wenda.retrieval import store
from wenda.retrieval.dictionary import CachedTokenizer
from wenda.retrieval.search import Searcher
from wenda.retrieval.store import Library, StoreSettings
from wenda.retrieval.text import Analyzer

REPO = Path(__file__).resolve().parents[1]
SEED_CORPUS = REPO / "corpus"
SEED_FILE = "000_7b005711537558e1.txt"
SMART_CITY = "智慧城市建设加速释放数据要素红利"
XI_TITLE_START = "习近平:全面学习把握落实党的二十大精神"
# Questions about the seed corpus, and how the paragraph that answers each begins.
BEIJING = "北京城市副中心政务服务中心什么时候投入运行？"
BEIJING_GOLD = "2021年9月,北京城市副中心政务服务中心正式投入运行"
QUZHOU = "衢州市副市长是谁？"
QUZHOU_GOLD = "衢州市副市长田俊表示"
# An article to add to the seed corpus, a question only it answers, and how its answer begins.
PORT_TEXT = (
    "港口码头扩建\n"
    "新港区三号码头扩建工程投入使用后，年吞吐能力提高到八百万吨。\n"
    "码头工人实行四班三运转，每班工作八小时。\n"
)
PORT_QUESTION = "三号码头扩建后年吞吐能力是多少？"
PORT_GOLD = "新港区三号码头扩建工程投入使用后"

# A small corpus of our own, in three formats. Enough passages that a word found in one of them has a
# positive idf (with two passages, BM25's idf of such a word is exactly zero).
SMALL_TXT = """\
运河公园改造完成
通州区大运河森林公园的改造工程于今年五月全部完工，新增了三条骑行步道。
公园管理处表示，夏季开放时间延长到晚上十点。
园内新建的湿地观鸟台每天吸引上千名游客。
"""
SMALL_MD = """\
---
title: 高原铁路通车
source: 西部日报
date: 2023-07-01
---

拉林铁路全线通车后，拉萨到林芝的车程缩短到三个半小时。

沿线设有三十四座车站，其中九座办理客运业务。
"""
SMALL_JSONL = (
    '{"title": "古城墙修缮", "source": "古都晚报", "paragraphs": '
    '["南门瓮城的城砖修缮采用传统糯米灰浆工艺。", "修缮期间城墙步道分段封闭，预计十月重新开放。"]}\n'
    '{"title": "社区食堂开业", "text": "街道第一家社区食堂在和平里开业。\\n老年人就餐可享受八折优惠。"}\n'
)


@pytest.fixture(scope="session")
def seed_library() -> Library:
    """The bundled corpus, read and indexed once for the whole run, in memory (no cache beside the repo's corpus)."""
    return Library.open(SEED_CORPUS, StoreSettings(cache=False))


@pytest.fixture(scope="session")
def seed_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temp folder holding the bundled seed file, for commands that write their index cache beside the corpus."""
    root = tmp_path_factory.mktemp("seed") / "corpus"
    root.mkdir()
    shutil.copyfile(SEED_CORPUS / SEED_FILE, root / SEED_FILE)
    return root


@pytest.fixture(scope="session")
def seed_searcher(seed_library: Library) -> Searcher:
    return seed_library.searcher


SEED_COPY_FILE = "copy_of_seed.txt"


@pytest.fixture(scope="session")
def doubled_seed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temp corpus holding the seed file twice, as a second file: every passage has an exact copy."""
    root = tmp_path_factory.mktemp("doubled") / "corpus"
    root.mkdir()
    shutil.copyfile(SEED_CORPUS / SEED_FILE, root / SEED_FILE)
    shutil.copyfile(SEED_CORPUS / SEED_FILE, root / SEED_COPY_FILE)
    return root


@pytest.fixture(scope="session")
def doubled_searcher(doubled_seed: Path) -> Searcher:
    return Library.open(doubled_seed, StoreSettings(cache=False)).searcher


@pytest.fixture(scope="session")
def analyzer(seed_searcher: Searcher) -> Analyzer:
    """An analyzer with the default settings (the seed library's: building another costs a second)."""
    return seed_searcher.analyzer


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    """A temp corpus folder with a one-article .txt, a Markdown article and a two-article .jsonl."""
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "park.txt").write_text(SMALL_TXT, encoding="utf-8")
    (root / "railway.md").write_text(SMALL_MD, encoding="utf-8")
    (root / "city.jsonl").write_text(SMALL_JSONL, encoding="utf-8")
    return root


PLACES = (
    "运河公园",
    "高原铁路",
    "古城墙",
    "社区食堂",
    "湿地保护区",
    "科技馆",
    "图书馆",
    "体育中心",
    "港口码头",
    "老街区",
)


def news_article(n: int, paragraphs: int = 3, version: int = 0) -> str:
    """A one-article .txt numbered n: every paragraph holds 本市 (a word in most passages, so its idf is
    floored) and a code kx{n}p{i} found nowhere else, so a question can name exactly one passage."""
    place = PLACES[n % len(PLACES)]
    body = [f"本市{place}第{i + 1}期工程于{version % 9 + 3}月完工，项目代号kx{n:03d}p{i}。" for i in range(paragraphs)]
    return "\n".join([f"{place}新闻第{n}号", *body]) + "\n"


def news_name(n: int) -> str:
    """The file name news_article n is stored under."""
    return f"news{n:02d}.txt"


def seed_and_news(tmp_path: Path, files: int, paragraphs: int = 3) -> Path:
    """A corpus folder under tmp_path: the seed file and news_article 0..files-1 of that many paragraphs."""
    root = tmp_path / "corpus"
    root.mkdir()
    shutil.copyfile(SEED_CORPUS / SEED_FILE, root / SEED_FILE)
    for n in range(files):
        (root / news_name(n)).write_text(news_article(n, paragraphs), encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def _jieba_dictionary() -> tuple[dict[str, int], int]:
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer.FREQ, tokenizer.total


@pytest.fixture
def fast_jieba(monkeypatch: pytest.MonkeyPatch, _jieba_dictionary: tuple[dict[str, int], int]) -> None:
    """Every new jieba tokenizer starts from a copy of one loaded dictionary instead of loading its own.

    Each Library makes its own Analyzer, and each Analyzer its own jieba tokenizer, whose dictionary
    load takes a fifth of a second from our cache (dictionary.py; a second from jieba's); tests that
    open many libraries would spend much of their time there. The copy is the same dictionary, and a
    user dictionary is still loaded on top of it.
    """
    freq, total = _jieba_dictionary
    initialize = jieba.Tokenizer.initialize

    def from_copy(self: jieba.Tokenizer, dictionary: str | None = None) -> None:
        if dictionary is None and self.dictionary == jieba.DEFAULT_DICT:
            with self.lock:
                if not self.initialized:
                    self.FREQ, self.total = dict(freq), total
                    self.initialized = True
            return
        initialize(self, dictionary)

    monkeypatch.setattr(jieba.Tokenizer, "initialize", from_copy)
    monkeypatch.setattr(CachedTokenizer, "initialize", from_copy)


def wenda(*args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str = "") -> subprocess.CompletedProcess:
    """Run `python -m wenda` in cwd with no WENDA_* settings but those given, and stdin a pipe."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WENDA_") and k not in ("COLUMNS", "LINES")}
    environ["PYTHONIOENCODING"] = "utf-8"
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "wenda", *args],
        cwd=cwd,
        env=environ,
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )


@pytest.fixture
def seed_corpus(tmp_path: Path) -> Path:
    """A temp corpus folder holding a copy of the seed corpus file, for tests that change the corpus."""
    root = tmp_path / "corpus"
    root.mkdir()
    shutil.copy(SEED_CORPUS / SEED_FILE, root / SEED_FILE)
    return root


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files the library reads from now on, by relative path, in order."""
    seen: list[str] = []
    real = store.read_file

    def counting(path: Path, root: Path | None = None):
        seen.append(path.relative_to(root).as_posix() if root else path.name)
        return real(path, root)

    monkeypatch.setattr(store, "read_file", counting)
    return seen
