"""Fault injection into every kind of cache file: whatever the damage, one log line and the answers of a clean build.

The cache is built once (with a deleted file, so it holds a deletion mask), copied per case, damaged
one way, and opened: wenda must notice (checksums cover the manifest, each seal, each deletion mask
and through the seals each segment file), say "rebuilding" once, and answer exactly as a library built
from the corpus in memory does.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import SEED_CORPUS, SEED_FILE, news_article

from wenda.retrieval import store
from wenda.retrieval.cache import CACHE_DIR
from wenda.retrieval.store import Library, StoreSettings

pytestmark = pytest.mark.usefixtures("fast_jieba")

QUESTIONS = (
    "北京城市副中心政务服务中心什么时候投入运行？",
    "本市运河公园工程几月完工",
    "本市第2期工程",
    "项目代号kx002p1",  # in the deleted file only: a cache that forgets the deletion quotes it
)
DELETED = "news02.txt"


def _answers(library: Library) -> list[list[tuple[str, str]]]:
    return [[(h.passage.file, h.passage.text) for h in library.searcher.search(q, k=5).hits] for q in QUESTIONS]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    """A corpus folder with a cache holding a deletion mask, and the answers of a clean build of it."""
    root = tmp_path_factory.mktemp("faults") / "corpus"
    root.mkdir()
    shutil.copyfile(SEED_CORPUS / SEED_FILE, root / SEED_FILE)
    for n in range(4):
        (root / f"news{n:02d}.txt").write_text(news_article(n, 3), encoding="utf-8")
    library = Library.open(root)
    (root / DELETED).unlink()
    library.refresh()
    expected = _answers(Library.open(root, StoreSettings(cache=False)))
    assert any(hits for hits in expected)
    return root, expected


def index_dir(root: Path) -> Path:
    return root / CACHE_DIR / "index"


def _manifest(root: Path) -> dict:
    return json.loads((index_dir(root) / "manifest.json").read_text(encoding="utf-8"))


def _segment_with_mask(root: Path) -> dict:
    return next(s for s in _manifest(root)["segments"] if s["deleted"])


# Each target names the path of one kind of cache file in a built cache.
TARGETS: dict[str, Callable[[Path], Path]] = {
    "manifest": lambda root: index_dir(root) / "manifest.json",
    "deletion_mask": lambda root: index_dir(root) / _segment_with_mask(root)["deleted"],
    "seal": lambda root: index_dir(root) / _segment_with_mask(root)["name"] / "seal.json",
    "postings": lambda root: index_dir(root) / _segment_with_mask(root)["name"] / "posting_codes.npy",
    "passage_texts": lambda root: index_dir(root) / _segment_with_mask(root)["name"] / "texts.bin",
    "articles": lambda root: index_dir(root) / _segment_with_mask(root)["name"] / "articles.json",
}


def _flip(seed: int) -> Callable[[Path], None]:
    def flip(path: Path) -> None:
        data = bytearray(path.read_bytes())
        rng = random.Random(seed)
        bit = rng.randrange(len(data) * 8)
        data[bit // 8] ^= 1 << (bit % 8)
        path.write_bytes(bytes(data))

    flip.__name__ = f"bit_flip_{seed}"
    return flip


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def empty(path: Path) -> None:
    path.write_bytes(b"")


def delete(path: Path) -> None:
    path.unlink()


def folder_in_place(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _json(value: object) -> Callable[[Path], None]:
    def swap(path: Path) -> None:
        path.write_text(json.dumps(value), encoding="utf-8")

    swap.__name__ = f"json_{json.dumps(value)}"
    return swap


DAMAGES = [_flip(1), _flip(2), _flip(3), truncate, empty, delete, folder_in_place, _json([]), _json(1), _json(None)]
CASES = [
    pytest.param(target, damage, id=f"{target}-{damage.__name__}")
    for target in TARGETS
    for damage in DAMAGES
    if not damage.__name__.startswith("json_") or target in ("manifest", "seal", "articles")
]


def _reopen_after(built: tuple[Path, list], tmp_path: Path, caplog: pytest.LogCaptureFixture, damage) -> Library:
    root = tmp_path / "corpus"
    shutil.copytree(built[0], root)
    damage(root)
    caplog.set_level(logging.INFO, logger=store.__name__)
    return Library.open(root)


def _rebuild_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == store.__name__ and "rebuilding" in r.getMessage()]


@pytest.mark.parametrize(("target", "damage"), CASES)
def test_damage_to_a_cache_file_gives_one_log_line_and_the_answers_of_a_clean_build(
    built: tuple[Path, list], tmp_path: Path, caplog: pytest.LogCaptureFixture, target: str, damage
):
    library = _reopen_after(built, tmp_path, caplog, lambda root: damage(TARGETS[target](root)))

    lines = _rebuild_lines(caplog)
    assert len(lines) == 1 and "\n" not in lines[0], lines
    assert _answers(library) == built[1]


def _zero_mask(root: Path) -> None:
    path = TARGETS["deletion_mask"](root)
    header = len(path.read_bytes()) - len(np.load(path))
    data = bytearray(path.read_bytes())
    data[header:] = bytes(len(data) - header)
    path.write_bytes(bytes(data))


def _edit_manifest(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        data = _manifest(root)
        change(data)
        (index_dir(root) / "manifest.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")

    return edit


def _shift_first(data: dict) -> None:
    run = next(run for e in data["files"].values() for run in e["runs"] if run[1] > 0)
    run[1] += 1


def _rename_a_key(data: dict) -> None:
    entry = next(iter(data["files"].values()))
    entry["rnus"] = entry.pop("runs")


@pytest.mark.parametrize(
    "damage",
    [_zero_mask, _edit_manifest(_shift_first), _edit_manifest(_rename_a_key)],
    ids=["zeroed_deletion_mask", "first_of_a_file_plus_one", "renamed_key_in_an_entry"],
)
def test_damage_that_still_parses_gives_one_log_line_and_the_answers_of_a_clean_build(
    built: tuple[Path, list], tmp_path: Path, caplog: pytest.LogCaptureFixture, damage
):
    library = _reopen_after(built, tmp_path, caplog, damage)

    assert len(_rebuild_lines(caplog)) == 1
    assert _answers(library) == built[1]


def test_a_rebuilt_cache_is_whole_again(built: tuple[Path, list], tmp_path: Path, caplog: pytest.LogCaptureFixture):
    _reopen_after(built, tmp_path, caplog, _zero_mask)
    caplog.clear()

    library = Library.open(tmp_path / "corpus")

    assert _rebuild_lines(caplog) == []
    assert _answers(library) == built[1]
