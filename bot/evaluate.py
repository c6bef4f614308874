"""`wenda eval`: passage-retrieval figures on a SQuAD-style reading-comprehension file."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from retrieval.corpus import Passage
from retrieval.index import BM25Params
from retrieval.search import Searcher
from retrieval.text import Analyzer

CUTOFFS = (1, 3, 5, 10)


@dataclass(frozen=True)
class EvalSet:
    passages: list[Passage]
    questions: list[tuple[str, int]]  # (question, index of the gold passage)


class BadEvalFile(Exception):
    """The file is not SQuAD-style JSON; the message says what is missing."""


def load_squad(path: Path) -> EvalSet:
    """Every paragraph of the file becomes a passage; each question's gold is the paragraph it was asked on."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))["data"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadEvalFile(f"{path} is not a readable SQuAD-style JSON file ({exc})") from exc
    passages: list[Passage] = []
    questions: list[tuple[str, int]] = []
    for number, article in enumerate(data, start=1):
        title = str(article.get("title") or f"article {number}")
        for position, paragraph in enumerate(article.get("paragraphs", []), start=1):
            gold = len(passages)
            passages.append(Passage(paragraph["context"], title, path.name, position))
            questions.extend((qa["question"], gold) for qa in paragraph.get("qas", []))
    if not questions:
        raise BadEvalFile(f"{path} holds no questions")
    return EvalSet(passages, questions)


def evaluate(eval_set: EvalSet, params: BM25Params | None = None) -> dict:
    """Recall@1/3/5/10 and MRR@10 of the default search over the set's own paragraphs."""
    started = time.perf_counter()
    searcher = Searcher.build(eval_set.passages, Analyzer(), params)
    built = time.perf_counter()
    hits_at = dict.fromkeys(CUTOFFS, 0)
    reciprocal = 0.0
    for question, gold in eval_set.questions:
        ranked = [doc for doc, _ in searcher.rank(question, max(CUTOFFS))]
        if gold in ranked:
            position = ranked.index(gold) + 1
            reciprocal += 1 / position
            for cutoff in CUTOFFS:
                hits_at[cutoff] += position <= cutoff
    n = len(eval_set.questions)
    report = {"questions": n, "passages": len(eval_set.passages)}
    report.update({f"recall@{c}": round(hits_at[c] / n, 4) for c in CUTOFFS})
    report["mrr@10"] = round(reciprocal / n, 4)
    report["index_seconds"] = round(built - started, 2)
    report["query_ms_mean"] = round((time.perf_counter() - built) / n * 1000, 2)
    return report
