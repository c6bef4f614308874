"""Fault sweep: random damage to every kind of index-cache file, and what wenda does next.

A small corpus is indexed once (with a deleted file, so the cache holds a deletion mask); each trial
copies that folder, damages one cache file chosen at random (a kind of file first: manifest, seal,
deletion mask or segment file, then one of that kind; a bit flip, a truncation, a deletion,
or a type swap: a JSON file replaced by `[]`/`1`/`null`, any other file by a folder), opens it with
`Library.open` and asks a fixed set of questions. Each trial is one of:

* survived     the answers equal those of a clean in-memory build (the damage was noticed and the
               cache rebuilt, or it touched nothing an answer depends on);
* silent wrong the answers differ and nothing was logged;
* traceback    opening or asking raised;
* hang         no result within --timeout seconds.

Usage::

    python bench/fault_sweep.py --trials 200 --seed 1
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import jieba

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from wenda.retrieval.cache import CACHE_DIR  # noqa: E402
from wenda.retrieval.dictionary import CachedTokenizer  # noqa: E402
from wenda.retrieval.store import Library, StoreSettings  # noqa: E402

PLACES = ("运河公园", "地铁新线", "图书馆", "体育中心", "港口码头", "老街区")
QUESTIONS = ("本市运河公园工程几月完工", "图书馆第2期工程", "项目代号kx003p1", "项目代号kx005p2", "体育中心新闻")
OUTCOMES = ("survived", "silent wrong", "traceback", "hang")


def news_article(n: int, paragraphs: int = 4) -> str:
    place = PLACES[n % len(PLACES)]
    body = [f"本市{place}第{i + 1}期工程于{n % 9 + 3}月完工，项目代号kx{n:03d}p{i}。" for i in range(paragraphs)]
    return "\n".join([f"{place}新闻第{n}号", *body]) + "\n"


def share_jieba_dictionary() -> None:
    """Each Library loads jieba's dictionary (~1 s); every trial starts from one loaded copy instead."""
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    freq, total = tokenizer.FREQ, tokenizer.total
    initialize = jieba.Tokenizer.initialize

    def from_copy(self: jieba.Tokenizer, dictionary: str | None = None) -> None:
        if dictionary is None and self.dictionary == jieba.DEFAULT_DICT:
            with self.lock:
                if not self.initialized:
                    self.FREQ, self.total = dict(freq), total
                    self.initialized = True
            return
        initialize(self, dictionary)

    jieba.Tokenizer.initialize = from_copy
    CachedTokenizer.initialize = from_copy  # wenda's tokenizers load from a cache of their own


def answers(library: Library) -> list[list[tuple[str, str]]]:
    return [[(h.passage.file, h.passage.text) for h in library.searcher.search(q, k=5).hits] for q in QUESTIONS]


def build(folder: Path, files: int) -> tuple[Path, list]:
    root = folder / "corpus"
    root.mkdir()
    for n in range(files):
        (root / f"news{n:02d}.txt").write_text(news_article(n), encoding="utf-8")
    # Two batches would make two segments; one file at a time through refresh makes several.
    library = Library.open(root)
    (root / "late.txt").write_text(news_article(files + 1), encoding="utf-8")
    library.refresh()
    (root / "news05.txt").unlink()  # a deletion mask
    library.refresh()
    return root, answers(Library.open(root, StoreSettings(cache=False)))


def kind_of(path: Path) -> str:
    if path.name == "manifest.json":
        return "manifest"
    if ".deleted-" in path.name:
        return "deletion mask"
    if path.name == "seal.json":
        return "seal"
    return "segment file"


def damage(path: Path, rng: random.Random) -> str:
    how = rng.choice(("bit flip", "truncation", "deletion", "type swap"))
    data = path.read_bytes()
    if how == "bit flip" and data:
        bit = rng.randrange(len(data) * 8)
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        path.write_bytes(bytes(flipped))
    elif how == "truncation" or (how == "bit flip" and not data):
        how = "truncation"
        path.write_bytes(data[: rng.randrange(len(data))] if data else b"")
    elif how == "deletion":
        path.unlink()
    elif path.suffix == ".json":
        path.write_text(json.dumps(rng.choice(([], 1, None))), encoding="utf-8")
    else:
        path.unlink()
        path.mkdir()
    return how


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def trial(clean: Path, expected: list, work: Path, rng: random.Random, timeout: float) -> tuple[str, str, str]:
    root = work / "corpus"
    shutil.copytree(clean, root)
    files = sorted(p for p in (root / CACHE_DIR / "index").rglob("*") if p.is_file() and p.name != ".lock")
    # A kind of file first, then a file of it: segment files outnumber the rest twenty to one.
    kinds = sorted({kind_of(f) for f in files})
    wanted = rng.choice(kinds)
    target = rng.choice([f for f in files if kind_of(f) == wanted])
    kind, how = kind_of(target), damage(target, rng)
    handler = Lines()
    logging.getLogger("wenda").addHandler(handler)
    result: list = []

    def run() -> None:
        try:
            result.append(answers(Library.open(root)))
        except Exception as exc:  # the sweep counts it
            result.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout)
    logging.getLogger("wenda").removeHandler(handler)
    if worker.is_alive():
        return kind, how, "hang"
    if isinstance(result[0], Exception):
        return kind, how, "traceback"
    if result[0] == expected:
        return kind, how, "survived"
    noticed = any("rebuilding" in r.getMessage() for r in handler.records)
    return kind, how, "wrong but logged" if noticed else "silent wrong"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--files", type=int, default=8, help="articles in the corpus")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds before a trial counts as a hang")
    args = parser.parse_args()
    logging.getLogger("wenda").setLevel(logging.INFO)
    logging.getLogger("wenda").propagate = False
    share_jieba_dictionary()
    rng = random.Random(args.seed)
    counts: dict[tuple[str, str], Counter] = defaultdict(Counter)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="wenda-faults-") as tmp:
        (Path(tmp) / "clean").mkdir()
        clean, expected = build(Path(tmp) / "clean", args.files)
        for n in range(args.trials):
            work = Path(tmp) / f"trial-{n}"
            work.mkdir()
            kind, how, outcome = trial(clean, expected, work, rng, args.timeout)
            counts[(kind, how)][outcome] += 1
            shutil.rmtree(work, ignore_errors=True)
    columns = (*OUTCOMES[:2], "wrong but logged", *OUTCOMES[2:])
    print(f"{args.trials} trials, seed {args.seed}, {time.perf_counter() - started:.0f} s\n")
    print("| file | damage | trials | " + " | ".join(columns) + " |")
    print("|---|---|---:|" + "---:|" * len(columns))
    total: Counter = Counter()
    for (kind, how), c in sorted(counts.items()):
        total.update(c)
        print(f"| {kind} | {how} | {sum(c.values())} | " + " | ".join(str(c[o]) for o in columns) + " |")
    print(f"| **all** | | {sum(total.values())} | " + " | ".join(f"**{total[o]}**" for o in columns) + " |")
    return 0 if total["survived"] == sum(total.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
