"""Question → ranked hits, each with the spans to highlight and the sentence most likely to answer."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .corpus import Passage, sentence_spans
from .index import BM25Index, BM25Params
from .text import Analyzer


@dataclass(frozen=True)
class Hit:
    """One ranked passage. Spans index into passage.text, the original, unnormalised text."""

    passage: Passage
    score: float
    rank: int
    matched: tuple[str, ...]
    # Share of the question's idf mass that this passage contains (0..1): how much of what the
    # question asks about is here at all, whatever the corpus size.
    coverage: float
    term_spans: tuple[tuple[int, int], ...]
    sentence: tuple[int, int] | None


@dataclass(frozen=True)
class SearchResult:
    question: str
    terms: tuple[str, ...]
    hits: tuple[Hit, ...]


def indexed_text(passage: Passage) -> str:
    """The text a passage is indexed under."""
    return passage.text


class Searcher:
    """Holds passages, the analyzer that made their terms and the index over those terms."""

    def __init__(self, passages: Sequence[Passage], analyzer: Analyzer, index: BM25Index) -> None:
        if len(passages) != index.n_slots:
            raise ValueError(f"{len(passages)} passages but {index.n_slots} index slots")
        self.passages = passages
        self.analyzer = analyzer
        self.index = index

    @classmethod
    def build(
        cls,
        passages: Sequence[Passage],
        analyzer: Analyzer | None = None,
        params: BM25Params | None = None,
    ) -> Searcher:
        analyzer = analyzer or Analyzer()
        index = BM25Index.build((analyzer.tokens(indexed_text(p)) for p in passages), params)
        return cls(passages, analyzer, index)

    def rank(self, question: str, k: int) -> list[tuple[int, float]]:
        """Only the k best (passage number, score) pairs: what evaluation needs, without highlights."""
        return self.index.top_k(self.analyzer.tokens(question), k)

    def search(self, question: str, k: int = 3) -> SearchResult:
        terms = self.analyzer.tokens(question)
        ranked = self.index.top_k(terms, k)
        distinct = list(dict.fromkeys(terms))
        weights = {t: self._term_weight(t) for t in distinct}
        total = sum(weights.values())
        hits = []
        for rank, (doc, score) in enumerate(ranked, start=1):
            passage = self.passages[doc]
            matched = tuple(t for t in distinct if self.index.contains(t, doc))
            coverage = sum(weights[t] for t in matched) / total if total > 0 else 0.0
            spans = self.analyzer.spans(passage.text, set(matched))
            hits.append(
                Hit(
                    passage=passage,
                    score=score,
                    rank=rank,
                    matched=matched,
                    coverage=coverage,
                    term_spans=tuple(spans),
                    sentence=self._best_sentence(passage.text, spans, weights),
                )
            )
        return SearchResult(question, tuple(terms), tuple(hits))

    def _term_weight(self, term: str) -> float:
        """How much a term says about relevance: its idf, and a term the corpus never saw counts fully."""
        df = self.index.doc_freq(term)
        n = self.index.n_docs
        return max(math.log(n - df + 0.5) - math.log(df + 0.5), 0.0) if df else math.log(n + 0.5) - math.log(0.5)

    def _best_sentence(
        self, text: str, spans: list[tuple[int, int]], weights: dict[str, float]
    ) -> tuple[int, int] | None:
        """The sentence holding the most highlighted characters (a simple first cut)."""
        best: tuple[int, int] | None = None
        best_covered = 0
        for start, end in sentence_spans(text):
            covered = sum(max(0, min(end, e) - max(start, s)) for s, e in spans)
            if covered > best_covered:
                best, best_covered = (start, end), covered
        return best
