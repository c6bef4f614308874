"""Scoped search (a channel's subfolder, WENDA_CHANNEL_CORPORA) against an unfiltered one, same questions.

Lays the synthetic corpus of bench/make_corpus.py out in subfolders by article number: p1/ holds 1 %
of the articles, p10/ 10 %, rest/ the others. Each question is asked as the bot asks it (distinct
texts, k = 4) unscoped, in p10 and in p1, in a rotating order, so that load on the machine falls on
all three alike.

Usage::

    python bench/make_corpus.py --sizes 100k
    python bench/scoped_search.py --size 100k
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from wenda.retrieval.store import Library, StoreSettings

DATA = Path(__file__).resolve().parent / "data"
SCOPES = (None, "p10", "p1")


def folder_of(article_no: int) -> str:
    share = article_no % 100
    return "p1" if share == 0 else "p10" if 10 <= share < 20 else "rest"


def lay_out(size: str) -> Path:
    """The size's corpus in subfolders (written once; the library's cache then lives beside it)."""
    root = DATA / f"scoped-{size}"
    if root.exists():
        return root
    lines: dict[str, list[str]] = {"p1": [], "p10": [], "rest": []}
    article_no = 0
    for source in sorted((DATA / size).glob("articles-*.jsonl")):
        for line in source.read_text(encoding="utf-8").splitlines():
            lines[folder_of(article_no)].append(line)
            article_no += 1
    for folder, articles in lines.items():
        (root / folder).mkdir(parents=True)
        (root / folder / "articles.jsonl").write_text("\n".join(articles) + "\n", encoding="utf-8")
    return root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="100k")
    ap.add_argument("--rounds", type=int, default=3, help="times each question is asked in each scope")
    args = ap.parse_args()
    tick = time.perf_counter()
    library = Library.open(lay_out(args.size), StoreSettings())
    opened = time.perf_counter() - tick
    searcher = library.searcher
    questions = [q["question"] for q in json.loads((DATA / "questions.json").read_text(encoding="utf-8"))]
    shares = {scope: float(searcher.within(scope).allowed.mean()) for scope in SCOPES if scope}
    for q in questions[:20]:  # warm-up: term statistics, scope filters
        for scope in SCOPES:
            searcher.search(q, 4, distinct=True, scope=scope)
    times: dict[str | None, list[float]] = {scope: [] for scope in SCOPES}
    for r in range(args.rounds):
        for i, q in enumerate(questions):
            turn = (i + r) % len(SCOPES)
            for scope in SCOPES[turn:] + SCOPES[:turn]:
                start = time.perf_counter()
                searcher.search(q, 4, distinct=True, scope=scope)
                times[scope].append((time.perf_counter() - start) * 1e3)
    base = statistics.median(times[None])
    rows = {}
    for scope, values in times.items():
        rows[scope or "all"] = {
            "share": round(shares.get(scope, 1.0), 4),
            "median_ms": round(statistics.median(values), 2),
            "p95_ms": round(statistics.quantiles(values, n=20)[-1], 2),
            "x_unfiltered_median": round(statistics.median(values) / base, 2),
        }
    print(json.dumps({"passages": library.passage_count, "open_s": round(opened, 1), "searches": rows}, indent=1))


if __name__ == "__main__":
    main()
