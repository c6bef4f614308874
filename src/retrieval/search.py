"""Question → ranked hits, each with its relevance, the spans to highlight and its best sentence (highlight.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .corpus import Passage
from .followup import read_follow_up, supported_top_k
from .highlight import Asked, best_sentence
from .index import TUNED_PARAMS, BM25Index, BM25Params
from .relevance import max_score, relevance, top_relevance
from .rerank import RERANK_DEPTH, best_sentence_score, rerank
from .sentences import Sentences
from .text import Analyzer


@dataclass(frozen=True)
class Hit:
    """One ranked passage. Spans index into passage.text, the original, unnormalised text."""

    passage: Passage
    score: float
    rank: int
    matched: tuple[str, ...]  # the question's words (not n-grams) found in the passage
    # score / the most any passage could score for this question (0..1): relevance.py
    relevance: float
    term_spans: tuple[tuple[int, int], ...]
    sentence: tuple[int, int] | None


@dataclass(frozen=True)
class SearchResult:
    question: str
    terms: tuple[str, ...]
    hits: tuple[Hit, ...]
    max_score: float


# A title is indexed with every passage of its article, so only its head: a file whose "title" is
# really a long first paragraph would otherwise swamp every passage and the segmenter.
INDEXED_TITLE_CHARS = 100


def indexed_text(passage: Passage, title_repeat: int = 2) -> str:
    """The text a passage is indexed under: its article's title (title_repeat times), then its own text.

    Newlines keep words and n-grams from running across the joins.
    """
    return "\n".join([passage.title[:INDEXED_TITLE_CHARS]] * title_repeat + [passage.text])


class Searcher:
    """Holds passages, the analyzer that made their terms and the index over those terms.

    sentence_weight > 0 turns on the second stage of rerank.py (off by default).
    """

    def __init__(
        self, passages: Sequence[Passage], analyzer: Analyzer, index: BM25Index, sentence_weight: float = 0.0
    ) -> None:
        if len(passages) != index.n_slots:
            raise ValueError(f"{len(passages)} passages but {index.n_slots} index slots")
        self.passages = passages
        self.analyzer = analyzer
        self.index = index
        self.sentence_weight = sentence_weight

    @classmethod
    def build(
        cls,
        passages: Sequence[Passage],
        analyzer: Analyzer | None = None,
        params: BM25Params | None = None,
        sentence_weight: float = 0.0,
    ) -> Searcher:
        """Index passages in memory. Without params, wenda's tuned ones (TUNED_PARAMS), as the library
        uses: a bare BM25Index keeps rank-bm25's own defaults, which score differently (k1 1.5)."""
        analyzer = analyzer or Analyzer()
        params = params or TUNED_PARAMS
        repeat = analyzer.settings.title_repeat
        index = BM25Index.build((analyzer.tokens(indexed_text(p, repeat)) for p in passages), params)
        return cls(passages, analyzer, index, sentence_weight)

    def ranked(self, question: str, k: int, context: Sequence[str] = ()) -> tuple[list[str], list[tuple[int, float]]]:
        """question's query tokens (with repeats) and its k best (passage number, score) pairs.

        context: the earlier questions of its conversation, oldest first; a follow-up that leaves its
        subject to them is read with them (followup.py). Without context, exactly
        analyzer.query_tokens(question) and top_k of it.
        """
        query, first = self._conversation(question, context, k)
        return query, self._top_k(query, k, first=first)[0]

    def _conversation(
        self, question: str, context: Sequence[str], k: int
    ) -> tuple[list[str], list[tuple[int, float]] | None]:
        """The query tokens to score with and, for a follow-up, its first-stage ranking."""
        follow_up = read_follow_up(self.analyzer, question, context) if context else None
        if follow_up is not None:
            first = supported_top_k(self.index, follow_up, max(k, RERANK_DEPTH))
            if first is not None:
                return follow_up.tokens, first
        return self.analyzer.query_tokens(question), None

    def rank(self, question: str, k: int, context: Sequence[str] = ()) -> list[tuple[int, float]]:
        """Only the k best (passage number, score) pairs: what evaluation needs, without highlights."""
        return self.ranked(question, k, context)[1]

    def top_k(self, query: Sequence[str], k: int) -> list[tuple[int, float]]:
        """The k best (passage number, BM25 score) pairs for query tokens, through the second stage
        when sentence_weight is on."""
        return self._top_k(query, k)[0]

    def _top_k(
        self,
        query: Sequence[str],
        k: int,
        idf: Mapping[str, float] | None = None,
        first: list[tuple[int, float]] | None = None,
    ) -> tuple[list[tuple[int, float]], dict[int, Sentences]]:
        """top_k, and the passages the second stage cut into sentences (by number), which the
        highlighter then reads instead of cutting them again. idf: of each query term, if the
        caller has it already. first: the first stage's ranking (at least max(k, RERANK_DEPTH)
        deep), when it is not the index's top_k of query (a follow-up's)."""
        if self.sentence_weight <= 0:
            return (self.index.top_k(query, k) if first is None else first[:k]), {}
        ranked = self.index.top_k(query, max(k, RERANK_DEPTH)) if first is None else first
        # Only the first RERANK_DEPTH are re-ordered, whatever k: the bot's top 3 and eval's top 10
        # then begin alike.
        head, tail = ranked[:RERANK_DEPTH], ranked[RERANK_DEPTH:]
        weights = Counter(query)
        if idf is None:
            idf = {term: self.index.idf(term) for term in weights}
        cuts = {slot: Sentences.of(self.analyzer, self.passages[slot].text) for slot, _ in head}
        sentence_scores = [
            best_sentence_score(
                cuts[slot],
                self.analyzer.tokens(self.passages[slot].title[:INDEXED_TITLE_CHARS]),
                weights,
                idf,
                self.index.params,
            )
            for slot, _ in head
        ]
        return (rerank(head, sentence_scores, self.sentence_weight) + tail)[:k], cuts

    def top_relevance(self, question: str, context: Sequence[str] = ()) -> float:
        """The relevance of the passage question would be answered with (what the decline rule reads),
        without building hits."""
        query, ranked = self.ranked(question, 1, context)
        return top_relevance(self.index, query, ranked)

    def search(self, question: str, k: int = 3, context: Sequence[str] = ()) -> SearchResult:
        """question's k best passages; context: the earlier questions of its conversation, oldest first."""
        # The question is analysed here once, for the ranking, the relevance and every hit's marks.
        query, first = self._conversation(question, context, k)  # with repeats: a repeat weighs twice
        terms = list(dict.fromkeys(query))
        idf = {t: self.index.idf(t) for t in terms}
        ranked, cuts = self._top_k(query, k, idf, first)
        best = max_score(self.index, query)
        asked = Asked.of(question, terms, idf)
        wanted = set(terms)
        hits = []
        for rank, (slot, score) in enumerate(ranked, start=1):
            passage = self.passages[slot]
            # The passage's own text (the index also holds its title), read once: its words, what to
            # highlight and its sentences' terms.
            sentences = cuts.get(slot)
            if sentences is None:
                sentences = Sentences.of(self.analyzer, passage.text)
            words, spans = self.analyzer.matches(sentences.reading, wanted)
            hits.append(
                Hit(
                    passage=passage,
                    score=score,
                    rank=rank,
                    matched=tuple(t for t in terms if t in words),
                    relevance=relevance(score, best),
                    term_spans=tuple(spans),
                    sentence=best_sentence(self.analyzer, passage, asked, sentences),
                )
            )
        return SearchResult(question, tuple(terms), tuple(hits), best)
