"""`wenda eval`: retrieval, answer-sentence and decline figures on a SQuAD-style reading-comprehension file."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from wenda.retrieval.corpus import Passage
from wenda.retrieval.highlight import Asked, best_sentence
from wenda.retrieval.index import BM25Params
from wenda.retrieval.relevance import MIN_RELEVANCE, declined_share
from wenda.retrieval.rerank import SENTENCE_WEIGHT
from wenda.retrieval.search import Searcher
from wenda.retrieval.sentences import sentence_spans
from wenda.retrieval.text import Analyzer, TextSettings

CUTOFFS = (1, 3, 5, 10)
CURVE = (0.05, 0.1, 0.125, 0.15, 0.17, 0.2, 0.21, 0.22, 0.25, 0.3)


@dataclass(frozen=True)
class Question:
    text: str
    gold: int  # index of the passage it was asked on
    answers: tuple[str, ...]
    # The earlier questions of its conversation, oldest first: it is asked after them.
    context: tuple[str, ...] = ()


@dataclass(frozen=True)
class EvalSet:
    passages: list[Passage]
    questions: list[Question]


class BadEvalFile(Exception):
    """The file is not SQuAD-style JSON; the message says what is missing."""


def load_squad(path: Path) -> EvalSet:
    """Every paragraph of the file becomes a passage; each question's gold is the paragraph it was asked on."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))["data"]
        passages: list[Passage] = []
        questions: list[Question] = []
        for number, article in enumerate(data, start=1):
            title = str(article.get("title") or f"article {number}")
            for position, paragraph in enumerate(article.get("paragraphs", []), start=1):
                gold = len(passages)
                passages.append(Passage(paragraph["context"], title, path.name, position))
                for qa in paragraph.get("qas", []):
                    if qa["question"].strip():  # CMRC's trial set has one empty question
                        answers = tuple(a["text"] for a in qa.get("answers", []) if a.get("text"))
                        earlier = qa.get("context") or ()
                        context = (earlier,) if isinstance(earlier, str) else tuple(str(c) for c in earlier)
                        questions.append(Question(qa["question"], gold, answers, context))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BadEvalFile(f"{path} is not a readable SQuAD-style JSON file ({exc})") from exc
    if not questions:
        raise BadEvalFile(f"{path} holds no questions")
    return EvalSet(passages, questions)


def evaluate(
    eval_set: EvalSet,
    params: BM25Params | None = None,
    text: TextSettings | None = None,
    *,
    out_of_corpus: EvalSet | None = None,
    threshold: float = MIN_RELEVANCE,
    sentence_weight: float = SENTENCE_WEIGHT,
) -> dict:
    """Recall@k, MRR@10, highlight@1 and the decline figures of search over the set's own paragraphs.

    highlight@1: of the questions whose top passage is the gold one, the share whose gold answer
    lies inside the marked sentence (and the same for the simple baseline: most question words).
    declined_in_corpus: share of the set's own questions declined (wrongly). declined_out_of_corpus:
    share of another set's questions, asked of this corpus, declined (rightly).
    """
    started = time.perf_counter()
    searcher = Searcher.build(eval_set.passages, Analyzer(text or TextSettings()), params, sentence_weight)
    built = time.perf_counter()
    hits_at = dict.fromkeys(CUTOFFS, 0)
    reciprocal = 0.0
    marked = baseline_marked = top_gold = 0
    relevance_in: list[float] = []
    for q in eval_set.questions:
        query, ranked = searcher.ranked(q.text, max(CUTOFFS), q.context)
        terms = list(query.tokens)
        relevance_in.append(searcher.relevance_of(q.text, query, ranked))
        docs = [doc for doc, _ in ranked]
        if q.gold not in docs:
            continue
        position = docs.index(q.gold) + 1
        reciprocal += 1 / position
        for cutoff in CUTOFFS:
            hits_at[cutoff] += position <= cutoff
        if position == 1 and q.answers:
            top_gold += 1
            passage = eval_set.passages[q.gold]
            idf = {t: searcher.index.idf(t) for t in terms}
            s, e = best_sentence(searcher.analyzer, passage, Asked.of(q.text, terms, idf)) or (0, 0)
            marked += any(a in passage.text[s:e] for a in q.answers)
            s, e = _baseline_sentence(searcher.analyzer, passage.text, q.text)
            baseline_marked += any(a in passage.text[s:e] for a in q.answers)
    n = len(eval_set.questions)
    report: dict = {"questions": n, "passages": len(eval_set.passages)}
    report.update({f"recall@{c}": round(hits_at[c] / n, 4) for c in CUTOFFS})
    report["mrr@10"] = round(reciprocal / n, 4)
    report["highlight@1"] = round(marked / top_gold, 4) if top_gold else None
    report["highlight@1_baseline"] = round(baseline_marked / top_gold, 4) if top_gold else None
    report["threshold"] = threshold
    report["sentence_weight"] = sentence_weight
    report["declined_in_corpus"] = round(declined_share(relevance_in, threshold), 4)
    relevance_out: list[float] = []
    if out_of_corpus is not None:
        relevance_out = [searcher.top_relevance(q.text, q.context) for q in out_of_corpus.questions]
        report["declined_out_of_corpus"] = round(declined_share(relevance_out, threshold), 4)
    report["curve"] = [
        {
            "threshold": t,
            "declined_in_corpus": round(declined_share(relevance_in, t), 4),
            "declined_out_of_corpus": round(declined_share(relevance_out, t), 4) if relevance_out else None,
        }
        for t in CURVE
    ]
    report["index_seconds"] = round(built - started, 2)
    report["query_ms_mean"] = round((time.perf_counter() - built) / max(1, n + len(relevance_out)) * 1000, 2)
    return report


def _baseline_sentence(analyzer: Analyzer, text: str, question: str) -> tuple[int, int]:
    """The simple baseline: the sentence holding the most distinct question words, the first on ties."""
    words = set(analyzer.words(question))
    best, best_count = (0, 0), -1
    for s, e in sentence_spans(text):
        count = len(words & set(analyzer.words(text[s:e])))
        if count > best_count:
            best, best_count = (s, e), count
    return best
