"""What the optional sentence stage (src/retrieval/rerank.py) costs a search, side by side.

    python bench/sentence_stage.py [--questions 400] [--weight 0.4]

On each evaluation set's own paragraphs, one in-memory index serves two Searchers: the first stage
alone and with the sentence stage at --weight. Each question is asked of both in turn (interleaved,
so drift on a shared machine hits both alike), `search(k=3)` timed as the bot calls it. Prints the
medians and p95 per set and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from wenda.bot.evaluate import load_squad
from wenda.retrieval.search import Searcher

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
SETS = {"CMRC": EVAL / "cmrc2018_trial.json", "DRCD": EVAL / "drcd_test.json"}


def _ms(searcher: Searcher, question: str) -> float:
    started = time.perf_counter()
    searcher.search(question, k=3)
    return (time.perf_counter() - started) * 1000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=400)
    parser.add_argument("--weight", type=float, default=0.4)
    args = parser.parse_args()
    print(f"search(k=3), first {args.questions} questions of each set; sentence weight {args.weight}")
    print("| set | first stage: median / p95 ms | + sentence stage: median / p95 ms | ratio of medians |")
    print("|---|---|---|---|")
    for name, path in SETS.items():
        eval_set = load_squad(path)
        plain = Searcher.build(eval_set.passages)
        staged = Searcher(plain.passages, plain.analyzer, plain.index, sentence_weight=args.weight)
        questions = [q.text for q in eval_set.questions[: args.questions]]
        for q in questions[:20]:  # warm-up: jieba's dictionary, the tagger, numpy paths
            plain.search(q, k=3)
            staged.search(q, k=3)
        times: dict[str, list[float]] = {"plain": [], "staged": []}
        for q in questions:
            times["plain"].append(_ms(plain, q))
            times["staged"].append(_ms(staged, q))
        cells = []
        for kind in ("plain", "staged"):
            ordered = sorted(times[kind])
            cells.append(f"{statistics.median(ordered):.1f} / {ordered[int(0.95 * (len(ordered) - 1))]:.1f}")
        ratio = statistics.median(times["staged"]) / statistics.median(times["plain"])
        print(f"| {name} | {cells[0]} | {cells[1]} | {ratio:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
