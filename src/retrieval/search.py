"""Question → ranked hits, each with its relevance, the spans to highlight and its best sentence (highlight.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial

from . import chat
from .bags import bag_scores
from .corpus import Passage
from .dedup import Shingles, group, shingles
from .followup import read_follow_up, supported_top_k
from .heap import Every
from .highlight import Asked, best_sentence
from .index import TUNED_PARAMS, BM25Index, BM25Params
from .maxscore import SlotFilter
from .memo import remembered
from .relevance import (
    about,
    aside_candidates,
    asides,
    coverage,
    hit_relevance,
    idf_is_blind,
    max_score,
    only_in,
    question_max_score,
)
from .rerank import RERANK_DEPTH, SENTENCE_WEIGHT, StagedPassage, rerank, stage_scores
from .scope import in_scope, normalise_scope
from .sentences import Sentences
from .synonyms import Query, Synonyms, expand
from .text import Analyzer, Clause, normalise


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
    # Worse-ranked copies of this passage's text (dedup.py), when the search asked for distinct texts.
    duplicates: tuple[Passage, ...] = ()


@dataclass(frozen=True)
class SearchResult:
    question: str
    terms: tuple[str, ...]
    hits: tuple[Hit, ...]
    max_score: float


# A title is indexed with every passage of its article, so only its head: a file whose "title" is
# really a long first paragraph would otherwise swamp every passage and the segmenter.
INDEXED_TITLE_CHARS = 100


def distinct_depth(k: int) -> int:
    """How many passages to rank, at first, to find k different texts."""
    return max(DISTINCT_CANDIDATES, DISTINCT_CANDIDATES_PER_TEXT * k)


def indexed_text(passage: Passage, title_repeat: int = 2) -> str:
    """The text a passage is indexed under: its article's title (title_repeat times), then its own text.

    Newlines keep words and n-grams from running across the joins.
    """
    return "\n".join([passage.title[:INDEXED_TITLE_CHARS]] * title_repeat + [passage.text])


# Candidates compared for copies when k distinct texts are asked for: at least this many, or this many
# per text asked for, so that a story stored two or three times still yields k texts from one fetch
# (more are fetched only when it does not; "more" fetches deeper, so a copy of a quoted text ranked
# past them is still never quoted again). Not more: the first stage's work grows with how many it
# is asked for (its bar is the k-th best score), and at 1M passages 20 made an answer 25 ms, 10 20 ms.
DISTINCT_CANDIDATES = 10
DISTINCT_CANDIDATES_PER_TEXT = 3
# Shingle sets kept per searcher: the candidates of the last few hundred questions.
SHINGLE_CACHE = 8192
# Passages kept per searcher, so that a search makes each of its candidates once (a Passage is decoded
# from the mapped table each time it is asked for): a few questions' worth.
PASSAGE_CACHE = 256


class Searcher:
    """Holds passages, the analyzer that made their terms and the index over those terms.

    sentence_weight > 0 turns on the second stage of rerank.py (on by default; 0 leaves rank-bm25's order);
    synonyms are the corpus's synonyms.txt (synonyms.py), applied to every question.
    """

    def __init__(
        self,
        passages: Sequence[Passage],
        analyzer: Analyzer,
        index: BM25Index,
        sentence_weight: float = SENTENCE_WEIGHT,
        synonyms: Synonyms | None = None,
    ) -> None:
        if len(passages) != index.n_slots:
            raise ValueError(f"{len(passages)} passages but {index.n_slots} index slots")
        self.passages = passages
        self.analyzer = analyzer
        self.index = index
        self.sentence_weight = sentence_weight
        self.synonyms = synonyms or Synonyms()
        # By slot: a searcher is a snapshot (a reindex makes a new one), so a slot's text never changes.
        self._shingle_sets: dict[int, Shingles] = {}
        # A search reads a candidate for its copies, its sentences, its title and its hit: made once.
        self._passage = lru_cache(maxsize=PASSAGE_CACHE)(passages.__getitem__)
        # (title, whole) -> its tokens: a title is shared by its article's paragraphs, which often rank together.
        self._titles: dict[tuple[str, bool], list[str]] = {}
        # Scope (subfolder) -> the filter keeping its slots, made on first use: a few per bot.
        self._filters: dict[str, SlotFilter] = {}
        # The clauses of the last few questions: the ranking and the maximum both read them.
        self._clauses = lru_cache(maxsize=64)(self._clauses_of)
        # A search's garbage fragments the heap; what is left free goes back now and then (heap.py).
        self._release = Every()

    def within(self, scope: str | None) -> SlotFilter | None:
        """The filter keeping scope's passages (those whose file is in that subfolder); None for the whole corpus.

        Only which passages may rank changes: scores keep the whole corpus's statistics (idf, avgdl),
        so a score, and the relevance threshold, mean the same in every scope.
        """
        if scope is None:
            return None
        key = normalise_scope(scope)
        found = self._filters.get(key)
        if found is None:
            found = self._filters[key] = self.index.restrict(in_scope(self.passages, key))
        return found

    def forget_cached(self) -> None:
        """Empty what this searcher remembers (passages, shingles, titles' tokens, sentences' names, questions'
        clauses), so that a benchmark's timed pass does not read back what its warm-up pass worked out."""
        self._shingle_sets.clear()
        self._passage.cache_clear()
        self._titles.clear()
        self._clauses.cache_clear()
        self.analyzer.forget_names()

    def _stored(self, column: str, slot: int) -> bytes | None:
        """What the passages keep beside the text of the passage in slot (PassageTable's cut, title_cut
        or bag), or None where they keep no such column (passages given as a plain list)."""
        read = getattr(self.passages, column, None)
        return read(slot) if read is not None else None

    def _sentences(self, slot: int, passage: Passage | None = None) -> Sentences:
        """The passage in slot cut into sentences, from the cut stored with it where there is one."""
        text = (passage or self._passage(slot)).text
        return Sentences.of(self.analyzer, text, self._stored("cut", slot))

    def _staged(self, slot: int) -> StagedPassage:
        """What the sentence stage reads of the passage in slot: its text with the cut stored with it
        (if any), and its title's tokens as indexed."""
        return StagedPassage(self._passage(slot).text, self._stored("cut", slot), self._title_tokens(slot, False))

    def _title_tokens(self, slot: int, whole: bool) -> list[str]:
        """The tokens of the title of the passage in slot: as indexed (cut to INDEXED_TITLE_CHARS),
        or whole. Kept by title, once for a title no longer than that, which is both."""
        title = self._passage(slot).title
        key = (title, whole and len(title) > INDEXED_TITLE_CHARS)
        return remembered(self._titles, key, lambda: self._title_tokens_of(slot, *key), SHINGLE_CACHE)

    def _title_tokens_of(self, slot: int, title: str, whole: bool) -> list[str]:
        """_title_tokens of slot's title, from its stored cut where there is one, which spares jieba
        (the tokens are the same either way, so any paragraph of an article may give its title's)."""
        if whole:
            return self.analyzer.tokens(title)
        return self.analyzer.tokens_of_cut(title[:INDEXED_TITLE_CHARS], self._stored("title_cut", slot))

    def _shingles(self, slot: int) -> Shingles:
        """The shingles of the passage in slot (dedup.py), kept."""
        return remembered(self._shingle_sets, slot, lambda: shingles(self._passage(slot).text), SHINGLE_CACHE)

    @classmethod
    def build(
        cls,
        passages: Sequence[Passage],
        analyzer: Analyzer | None = None,
        params: BM25Params | None = None,
        sentence_weight: float = SENTENCE_WEIGHT,
        synonyms: Synonyms | None = None,
    ) -> Searcher:
        """Index passages in memory. Without params, wenda's tuned ones (TUNED_PARAMS), as the library
        uses: a bare BM25Index keeps rank-bm25's own defaults, which score differently (k1 1.5)."""
        analyzer = analyzer or Analyzer()
        params = params or TUNED_PARAMS
        repeat = analyzer.settings.title_repeat
        index = BM25Index.build((analyzer.tokens(indexed_text(p, repeat)) for p in passages), params)
        return cls(passages, analyzer, index, sentence_weight, synonyms)

    def ranked(
        self, question: str, k: int, context: Sequence[str] = (), scope: str | None = None
    ) -> tuple[Query, list[tuple[int, float]]]:
        """question's query and its k best (passage number, score) pairs.

        context: the earlier questions of its conversation, oldest first; a follow-up that leaves its
        subject to them is read with them (followup.py). Without context, exactly query(question)
        and top_k of its tokens. scope: a subfolder of the corpus to keep to (within()).
        """
        within = self.within(scope)
        query, first = self._conversation(question, context, k, within)
        return query, self._top_k(query.tokens, k, first=first, within=within)

    def _conversation(
        self, question: str, context: Sequence[str], depth: int, within: SlotFilter | None = None
    ) -> tuple[Query, list[tuple[int, float]] | None]:
        """The query to score with and, for a follow-up, its first-stage ranking (depth deep at least)."""
        follow_up = read_follow_up(self.analyzer, question, context) if context else None
        if follow_up is not None:
            first = supported_top_k(self.index, follow_up, max(depth, RERANK_DEPTH), within)
            if first is not None:
                tokens = tuple(follow_up.tokens)
                # Relevance is a share of what the typed and the borrowed tokens together could score.
                return Query(tokens, tuple(follow_up.typed), (), partial(max_score, self.index, tokens)), first
        return self._without_asides(question, self.query(question), within), None

    def _without_asides(self, question: str, query: Query, within: SlotFilter | None) -> Query:
        """query without the clauses that only talk around the question (relevance.aside_candidates that
        the passage the rest of the question finds is not about: relevance.about), in the ranking as in
        the maximum: 我最近在准备一个考试 neither lifts a passage about exams nor lowers the relevance."""
        if query.tokens != query.typed:
            return query  # a synonym's expansion is weighed against the typed words (expand)
        clauses = self._clauses(question)
        # Only talk about the asker or the listeners (我最近在准备一个考试, 大家晚上好) leaves the ranking:
        # an everyday clause in the third person is as often the question's own context (战争结束以后).
        talking = [c for c in aside_candidates(clauses) if c.personal]
        if not talking:
            return query
        # Whether the best passage is about such a clause is judged on the passage the rest of the
        # question finds: the clause's own words would find one that holds them (考试 a passage about
        # exams).
        talk = only_in(talking, clauses)
        top = self.index.top_k([t for t in query.tokens if t not in talk], 1, within)
        if not top:
            return query
        # One the passage is about is content after all: it stays, in the ranking and the maximum.
        talk = only_in([c for c in talking if not about(self.index, c, top[0][0])], clauses)
        if not talk:
            return query
        tokens = tuple(t for t in query.tokens if t not in talk)
        return Query(tokens, tokens, (), partial(max_score, self.index, tokens))

    def rank(self, question: str, k: int, context: Sequence[str] = ()) -> list[tuple[int, float]]:
        """Only the k best (passage number, score) pairs: what evaluation needs, without highlights."""
        return self.ranked(question, k, context)[1]

    def query(self, question: str) -> Query:
        """The question's query tokens (with repeats: a repeat weighs twice), with what the synonyms add,
        and its max_score."""
        return expand(self.synonyms, self.analyzer, self.index, question)

    def top_k(self, query: Sequence[str], k: int) -> list[tuple[int, float]]:
        """The k best (passage number, BM25 score) pairs for query tokens, through the second stage
        when sentence_weight is on."""
        return self._top_k(query, k)

    def _top_k(
        self,
        query: Sequence[str],
        k: int,
        idf: Mapping[str, float] | None = None,
        first: list[tuple[int, float]] | None = None,
        within: SlotFilter | None = None,
    ) -> list[tuple[int, float]]:
        """top_k. idf: of each query term, if the caller has it already. first: a follow-up's ranking
        (typed and borrowed tokens, with the typed words' veto, followup.py), which is final: the
        second stage would look for the borrowed subject in the answer's sentence, where it rarely is
        (follow-ups' Recall@1 0.943 / 0.983 without the stage on them, 0.935 / 0.983 with it,
        measured with the first veto, docs/quality.md). within: the slots to keep to (a scope's),
        when not all."""
        if first is not None:
            return first[:k]
        if idf_is_blind(self.index):
            # One or two passages: BM25Okapi scores them all 0 or below, so the one holding more of the
            # question comes first.
            ranked = self.index.top_k(query, k, within)
            return sorted(ranked, key=lambda pair: -coverage(self.index, query, pair[0]))
        if self.sentence_weight <= 0:
            return self.index.top_k(query, k, within)
        ranked = self.index.top_k(query, max(k, RERANK_DEPTH), within)
        # Only the first RERANK_DEPTH are re-ordered, whatever k: the bot's top 3 and eval's top 10
        # then begin alike.
        head, tail = ranked[:RERANK_DEPTH], ranked[RERANK_DEPTH:]
        weights = Counter(query)
        if idf is None:
            idf = {term: self.index.idf(term) for term in weights}
        sentence_scores = self._sentence_scores([slot for slot, _ in head], weights, idf)
        return (rerank(head, sentence_scores, self.sentence_weight) + tail)[:k]

    def _sentence_scores(self, slots: Sequence[int], weights: Counter[str], idf: Mapping[str, float]) -> list[float]:
        """The best sentence's score of the passage in each slot (rerank.best_sentence_score): from the
        bag stored with it where there is one (bags.py), else from its text."""
        bags = [self._stored("bag", slot) or b"" for slot in slots]
        scores = bag_scores(self.index, slots, bags, weights, idf, self.index.params)
        staged = [self._staged(slot) for slot, score in zip(slots, scores, strict=True) if score is None]
        from_texts = iter(stage_scores(self.analyzer, staged, weights, idf, self.index.params) if staged else ())
        return [score if score is not None else next(from_texts) for score in scores]

    def top_relevance(self, question: str, context: Sequence[str] = (), scope: str | None = None) -> float:
        """The relevance of the passage question would be answered with (what the decline rule reads),
        without building hits."""
        return self.relevance_of(question, *self.ranked(question, 1, context, scope))

    def relevance_of(self, question: str, query: Query, ranked: Sequence[tuple[int, float]]) -> float:
        """The relevance of the first of ranked, the (slot, score) pairs question's query ranked."""
        if not ranked:
            return 0.0
        best, left_out = self._most(question, query, ranked)
        slot, score = ranked[0]
        return hit_relevance(self.index, query.tokens, slot, score, best, left_out)

    def _clauses_of(self, question: str) -> list[Clause]:
        """The question's clauses (Analyzer.query_clauses), or none for a question of one clause, which
        (most are) is then not cut again clause by clause: the aside rules need two."""
        if len(chat.clauses(chat.without_chat(normalise(question)))) < 2:
            return []
        return self.analyzer.query_clauses(question)

    def _most(self, question: str, query: Query, ranked: Sequence[tuple[int, float]]) -> tuple[float, frozenset[str]]:
        """The question's max_score, and the asides left out of it (relevance.asides). With synonyms
        found, expand() has weighed the maximum already, over the typed words alone."""
        clauses = self._clauses(question) if query.tokens == query.typed and ranked else []
        if len(clauses) < 2:  # asides() needs two clauses; without one left out the maximum is expand()'s
            return query.max_score, frozenset()
        left_out = asides(self.index, clauses, ranked[0][0])
        return question_max_score(self.index, query.tokens, left_out), left_out

    def distinct(
        self,
        query: Sequence[str],
        k: int,
        idf: Mapping[str, float] | None = None,
        first: list[tuple[int, float]] | None = None,
        within: SlotFilter | None = None,
    ) -> tuple[list[tuple[int, float]], list[list[int]]]:
        """The k best (slot, score) pairs whose texts differ (dedup.py), each with the slots of its
        worse-ranked copies.

        Candidates are fetched beyond k and grouped in rank order, so a group's quote is its best
        passage and the i-th group is the same whatever k: page 2 of an answer never shows a text of
        page 1 or a copy of one."""
        depth = distinct_depth(k)
        while True:
            ranked = self._top_k(query, depth, idf, first, within)
            groups = group([self._shingles(slot) for slot, _ in ranked])
            if len(groups) >= k or len(ranked) < depth:  # enough texts, or the corpus has no more
                break
            depth *= 2
        groups = groups[:k]
        return [ranked[g[0]] for g in groups], [[ranked[i][0] for i in g[1:]] for g in groups]

    def search(
        self,
        question: str,
        k: int = 3,
        *,
        distinct: bool = False,
        context: Sequence[str] = (),
        scope: str | None = None,
    ) -> SearchResult:
        """The k best passages for question as hits. distinct: k different texts instead, each hit
        listing its copies (what an answer quotes; the ranking itself, and eval, keep every copy).
        context: the earlier questions of its conversation, oldest first (see ranked). scope: only
        passages of that subfolder of the corpus, scored with the whole corpus's statistics (within())."""
        within = self.within(scope)
        # The question is analysed here once, for the ranking, the relevance and every hit's marks.
        query, first = self._conversation(question, context, distinct_depth(k) if distinct else k, within)
        terms = list(dict.fromkeys(query.tokens))
        idf = {t: self.index.idf(t) for t in terms}
        if distinct:
            ranked, copies = self.distinct(query.tokens, k, idf, first, within)
        else:
            ranked = self._top_k(query.tokens, k, idf, first, within)
            copies = [[] for _ in ranked]
        best, left_out = self._most(question, query, ranked)
        asked = Asked.of(question, terms, idf)
        wanted = set(terms)
        hits = []
        for rank, ((slot, score), others) in enumerate(zip(ranked, copies, strict=True), start=1):
            passage = self._passage(slot)
            # The passage's own text (the index also holds its title), read once: its words, what to
            # highlight and its sentences' terms.
            sentences = self._sentences(slot, passage)
            words, spans = self.analyzer.matches(sentences.reading, wanted)
            hits.append(
                Hit(
                    passage=passage,
                    score=score,
                    rank=rank,
                    matched=tuple(t for t in terms if t in words),
                    relevance=hit_relevance(self.index, query.tokens, slot, score, best, left_out),
                    term_spans=tuple(spans),
                    sentence=best_sentence(self.analyzer, passage, asked, sentences, self._title_tokens(slot, True)),
                    duplicates=tuple(self.passages[other] for other in others),
                )
            )
        self._release.tick()
        return SearchResult(question, tuple(terms), tuple(hits), best)
