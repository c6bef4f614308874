"""Question → ranked hits, each with the spans to highlight and the sentence most likely to answer."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from .corpus import Passage
from .index import TUNED_PARAMS, BM25Index, BM25Params
from .relevance import max_score, relevance, top_relevance
from .rerank import RERANK_DEPTH, best_sentence_score, rerank
from .sentences import Sentences
from .text import BIGRAM, Analyzer, normalise

# Questions asking for a quantity or a time: the sentence holding a number the question does not
# already contain is more likely to be the answer.
_NUMBER_QUESTION = re.compile(
    r"多少|几|何时|哪一?年|哪一?个?年代|哪一?天|哪一?月|什么时候|多久|多长|多大|多高|多远|多重|多深|多宽|多老"
    r"|年份|日期|时间|数量|人口|面积|比例|百分"
)
_NUMERAL = re.compile(r"[0-9〇一二三四五六七八九十百千万亿两]")
# Questions asking for a person or a place: the sentence naming one the question does not name is
# more likely to be the answer (耶律乞奴被谁所杀 → 被耶律金山所杀; 是哪个国家的演员 → 日本喜剧演员).
_NAME_QUESTIONS = (
    (re.compile(r"谁|哪一?位|什么人|何人"), "person"),
    (re.compile(r"哪里|哪儿|什么地方|何处|何地|在哪|哪一?个?(?:国家|国|城市|地区|省|州|县|市)"), "place"),
)
# Weight of a question term that names the article: a term of its title, or a bigram touching one
# of the title's characters (袋鼠的 of 尤金袋鼠的体重). It says which passage, not which sentence;
# 0 measured best, 0.1 and 0.05 below it (docs/quality.md).
TITLE_TERM_WEIGHT = 0.0
NUMBER_BONUS = 1.5
NAME_BONUS = 1.5


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

    def rank(self, question: str, k: int) -> list[tuple[int, float]]:
        """Only the k best (passage number, score) pairs: what evaluation needs, without highlights."""
        return self.top_k(self.analyzer.query_tokens(question), k)

    def top_k(self, query: Sequence[str], k: int) -> list[tuple[int, float]]:
        """The k best (passage number, BM25 score) pairs for query tokens, through the second stage
        when sentence_weight is on."""
        return self._top_k(query, k)[0]

    def _top_k(self, query: Sequence[str], k: int) -> tuple[list[tuple[int, float]], dict[int, Sentences]]:
        """top_k, and the passages the second stage cut into sentences (by number), which the
        highlighter then reads instead of cutting them again."""
        if self.sentence_weight <= 0:
            return self.index.top_k(query, k), {}
        ranked = self.index.top_k(query, max(k, RERANK_DEPTH))
        # Only the first RERANK_DEPTH are re-ordered, whatever k: the bot's top 3 and eval's top 10
        # then begin alike.
        head, tail = ranked[:RERANK_DEPTH], ranked[RERANK_DEPTH:]
        weights = Counter(query)
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

    def top_relevance(self, question: str) -> float:
        """The relevance of the passage question would be answered with (what the decline rule reads),
        without building hits."""
        query = self.analyzer.query_tokens(question)
        return top_relevance(self.index, query, self.top_k(query, 1))

    def search(self, question: str, k: int = 3) -> SearchResult:
        query = self.analyzer.query_tokens(question)  # with repeats: a repeat weighs twice
        ranked, cuts = self._top_k(query, k)
        best = max_score(self.index, query)
        terms = list(dict.fromkeys(query))
        idf = {t: self.index.idf(t) for t in terms}
        hits = []
        for rank, (slot, score) in enumerate(ranked, start=1):
            passage = self.passages[slot]
            # The passage's own text (the index also holds its title), read once: its words, what to
            # highlight and its sentences' terms.
            sentences = cuts.get(slot)
            if sentences is None:
                sentences = Sentences.of(self.analyzer, passage.text)
            words, spans = self.analyzer.matches(sentences.reading, set(terms))
            hits.append(
                Hit(
                    passage=passage,
                    score=score,
                    rank=rank,
                    matched=tuple(t for t in terms if t in words),
                    relevance=relevance(score, best),
                    term_spans=tuple(spans),
                    sentence=self.best_sentence(passage, question, set(terms), idf, sentences),
                )
            )
        return SearchResult(question, tuple(terms), tuple(hits), best)

    def best_sentence(
        self,
        passage: Passage,
        question: str,
        terms: set[str],
        idf: dict[str, float],
        sentences: Sentences | None = None,
    ) -> tuple[int, int] | None:
        """The sentence of passage most likely to hold the answer (the highlighter of docs/quality.md).

        Each question term found in a sentence adds its corpus idf, times a passage-local idf (a
        term in every sentence says little about which one); a term naming the article (in its
        title, or a bigram touching a title character) adds nothing. A question asking for a
        number or date favours sentences with a number it lacks; one asking who or where, sentences
        naming a person or place it does not. Ties go to the earlier sentence, so a question naming
        only the article marks its first sentence. sentences: the passage already cut, as the
        sentence stage leaves it; cut here when None.
        """
        if sentences is None:
            sentences = Sentences.of(self.analyzer, passage.text)
        spans = sentences.spans
        if not spans:
            return None
        sentence_terms = [set(tokens) & terms for tokens in sentences.tokens]
        title_terms = set(self.analyzer.tokens(passage.title))
        title_chars = set(normalise(passage.title))

        def names_article(term: str) -> bool:
            if term in title_terms:
                return True
            return term.startswith(BIGRAM) and not title_chars.isdisjoint(term[len(BIGRAM) :])

        n = len(spans)
        weight = {}
        for term in terms:
            sf = sum(1 for found in sentence_terms if term in found)
            if not sf:
                continue
            local = math.log(1 + (n + 1) / (sf + 0.5))
            weight[term] = idf.get(term, 0.0) * local * (TITLE_TERM_WEIGHT if names_article(term) else 1.0)
        asked = normalise(question)
        asks_number = bool(_NUMBER_QUESTION.search(asked))
        asks_name = next((kind for pattern, kind in _NAME_QUESTIONS if pattern.search(asked)), None)
        question_chars = set(asked)
        scores = []
        for (start, end), found in zip(spans, sentence_terms, strict=True):
            # fsum: exact whatever the set's order, so ties (to the earlier sentence) are the same in
            # every process.
            score = math.fsum(weight[t] for t in found)
            if asks_number:
                novel = "".join(c for c in normalise(passage.text[start:end]) if c not in question_chars)
                if _NUMERAL.search(novel):
                    score *= NUMBER_BONUS
            scores.append(score)
        if asks_name:
            # Tagging is slow (jieba's HMM, in Python), so only sentences the bonus could make the
            # best are tagged; the others cannot win with it or without it.
            top = max(scores)
            for i, (start, end) in enumerate(spans):
                if scores[i] > 0 and scores[i] * NAME_BONUS >= top:
                    names = self.analyzer.proper_names(passage.text[start:end])
                    if any(kind == asks_name and name not in asked for name, kind in names):
                        scores[i] *= NAME_BONUS
        return spans[max(range(len(spans)), key=scores.__getitem__)]  # max keeps the first of ties
