"""Does one decline threshold mean the same on a small corpus? Measured on random sub-corpora.

    python bench/decline_by_size.py [--sizes 30 100] [--draws 10]

For each size, `--draws` random sub-corpora of that many paragraphs are drawn from each evaluation
set. Asked of a sub-corpus: the questions written on its paragraphs (a decline is wrong) and every
question of the other set (a decline is right). Relevance and threshold are the shipped ones
(`wenda.retrieval.relevance`), so the figures are comparable with `wenda eval` on the full sets.
"""

from __future__ import annotations

import argparse
import random
import statistics
from pathlib import Path

from wenda.bot.evaluate import load_squad
from wenda.retrieval.relevance import MIN_RELEVANCE, declined_share
from wenda.retrieval.search import Searcher
from wenda.retrieval.text import Analyzer

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
SETS = {"CMRC": EVAL / "cmrc2018_trial.json", "DRCD": EVAL / "drcd_test.json"}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[30, 100])
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--threshold", type=float, default=MIN_RELEVANCE)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    sets = {name: load_squad(path) for name, path in SETS.items()}
    analyzer = Analyzer()
    rng = random.Random(args.seed)
    print(f"threshold {args.threshold}; {args.draws} draws per size; median over draws (min–max)")
    print("| corpus | paragraphs | wrongly declined (own questions) | rightly declined (other set's questions) |")
    print("|---|---|---|---|")
    for name, own in sets.items():
        other = next(s for n, s in sets.items() if n != name)
        for size in args.sizes:
            if size >= len(own.passages):
                print(f"| {name} | {size} | (the set has only {len(own.passages)} paragraphs) | |")
                continue
            wrong, right = [], []
            for _ in range(args.draws):
                chosen = rng.sample(range(len(own.passages)), size)
                searcher = Searcher.build([own.passages[i] for i in chosen], analyzer)
                inside = set(chosen)
                asked = [q.text for q in own.questions if q.gold in inside]
                wrong.append(declined_share([searcher.top_relevance(q) for q in asked], args.threshold))
                right.append(declined_share([searcher.top_relevance(q.text) for q in other.questions], args.threshold))
            print(
                f"| {name} | {size} | {statistics.median(wrong):.3f} ({min(wrong):.3f}–{max(wrong):.3f}) "
                f"| {statistics.median(right):.3f} ({min(right):.3f}–{max(right):.3f}) |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
