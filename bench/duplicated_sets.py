"""Copies quoted once, measured: each evaluation set with every paragraph stored twice, the copy reworded.

    python bench/duplicated_sets.py [../shared/eval/cmrc2018_trial.json ../shared/eval/drcd_test.json]

The second copy of each paragraph has its punctuation changed (，→, 。→． 、 dropped “”→「」) and
sits under another title and file, as a republished wire story would. Reported per set:

- Recall@1 of the undoubled set (what `wenda eval` reports) and of the doubled one, where the top
  passage counts if it is the gold paragraph or its copy;
- Recall@3 over the three best distinct texts (what an answer draws on) beside plain top-3 ranking,
  where a copy takes a place;
- the share of top-3 answers that quote one paragraph twice, without dedup (plain ranking, the
  same bar for later passages) and with it (answer()); it must be 0;
- page 2 (offset 3) showing a paragraph of page 1, and hits grouped with a different paragraph;
- the ms dedup adds per question: Searcher.distinct(query, 3) minus top_k(query, 3), interleaved
  on the same question, shingle cache warming as questions go (as in a running bot).

The evaluation files are read where they are, never copied into the repository.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from wenda.bot.answer import answer
from wenda.bot.evaluate import evaluate, load_squad
from wenda.retrieval.corpus import Passage
from wenda.retrieval.relevance import MIN_RELEVANCE, declined, further_bar
from wenda.retrieval.search import Searcher
from wenda.retrieval.text import Analyzer

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
DEFAULT_SETS = [EVAL / "cmrc2018_trial.json", EVAL / "drcd_test.json"]
K = 3


def reworded(text: str) -> str:
    """A copy as another paper prints it: the same words, other punctuation."""
    return text.replace("，", ",").replace("。", "．").replace("、", "").replace("“", "「").replace("”", "」")


def doubled(passages: list[Passage]) -> list[Passage]:
    """passages, then a reworded copy of each under another title and file (slot i + n copies slot i)."""
    copies = [Passage(reworded(p.text), f"转载｜{p.title}", f"转载-{p.file}", p.paragraph) for p in passages]
    return passages + copies


def measure(path: Path) -> dict:
    eval_set = load_squad(path)
    n = len(eval_set.passages)
    plain_report = evaluate(eval_set)  # the undoubled figures, exactly as `wenda eval` computes them
    passages = doubled(eval_set.passages)
    searcher = Searcher.build(passages, Analyzer())
    original = {(p.file, p.title, p.paragraph): i % n for i, p in enumerate(passages)}

    def gold_of(p: Passage) -> int:
        return original[(p.file, p.title, p.paragraph)]

    top1 = at3_plain = at3_distinct = twice_plain = twice_dedup = page2_repeats = wrong_groups = 0
    added_ms: list[float] = []
    for q in eval_set.questions:
        query = searcher.analyzer.query_tokens(q.text)
        started = time.perf_counter()
        ranked = searcher.top_k(query, K)
        plain_s = time.perf_counter() - started
        started = time.perf_counter()
        leaders = searcher.distinct(query, K)[0]
        distinct_s = time.perf_counter() - started
        added_ms.append((distinct_s - plain_s) * 1000)

        top1 += bool(ranked) and ranked[0][0] % n == q.gold
        at3_plain += any(slot % n == q.gold for slot, _ in ranked)
        at3_distinct += any(slot % n == q.gold for slot, _ in leaders)
        # Plain ranking as answer() quoted it before dedup: later passages must clear the same bar.
        hits = searcher.search(q.text, K).hits
        if hits and not declined(hits[0].relevance):
            bar = further_bar(hits[0].relevance, MIN_RELEVANCE)
            golds = [gold_of(h.passage) for h in hits if h.rank == 1 or h.relevance >= bar]
            twice_plain += len(set(golds)) < len(golds)

        ans = answer(searcher, q.text, K)
        golds = [gold_of(h.passage) for h in ans.hits]
        twice_dedup += len(set(golds)) < len(golds)
        wrong_groups += sum(gold_of(d) != gold_of(h.passage) for h in ans.hits for d in h.duplicates)
        if ans.answered:
            more = answer(searcher, q.text, K, offset=K)
            page2_repeats += any(gold_of(h.passage) in golds for h in more.hits)
    questions = len(eval_set.questions)
    return {
        "set": path.name,
        "questions": questions,
        "passages": n,
        "recall@1 undoubled": plain_report["recall@1"],
        "recall@1 doubled": round(top1 / questions, 4),
        "recall@3 undoubled": plain_report["recall@3"],
        "recall@3 doubled, plain top-3": round(at3_plain / questions, 4),
        "recall@3 doubled, distinct texts": round(at3_distinct / questions, 4),
        "answers quoting a text twice, plain": round(twice_plain / questions, 4),
        "answers quoting a text twice, dedup": round(twice_dedup / questions, 4),
        "page 2 repeating page 1": page2_repeats,
        "hits grouped with another paragraph": wrong_groups,
        "added ms mean": round(statistics.fmean(added_ms), 3),
        "added ms median": round(statistics.median(added_ms), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", type=Path, default=DEFAULT_SETS)
    args = parser.parse_args()
    rows = [measure(path) for path in args.sets]
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
