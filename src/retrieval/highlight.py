"""The highlighter: the sentence of a passage most likely to hold the answer to a question."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .corpus import Passage
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
class Asked:
    """What a question asks, as the highlighter reads it: worked out once per search, not once per hit."""

    normalised: str  # the question as normalise() gives it: a name it already holds is not news
    chars: frozenset[str]  # its characters: a number made of them is not news either
    terms: frozenset[str]  # its distinct query terms
    idf: Mapping[str, float]  # each term's idf in the corpus searched
    number: bool  # asks for a quantity or a time
    name: str | None  # asks for a "person" or a "place", or neither

    @classmethod
    def of(cls, question: str, terms: Iterable[str], idf: Mapping[str, float]) -> Asked:
        """question with its query terms (repeats allowed) and their idf."""
        normalised = normalise(question)
        return cls(
            normalised=normalised,
            chars=frozenset(normalised),
            terms=frozenset(terms),
            idf=idf,
            number=bool(_NUMBER_QUESTION.search(normalised)),
            name=next((kind for pattern, kind in _NAME_QUESTIONS if pattern.search(normalised)), None),
        )


def best_sentence(
    analyzer: Analyzer,
    passage: Passage,
    asked: Asked,
    sentences: Sentences | None = None,
    title_tokens: Sequence[str] | None = None,
) -> tuple[int, int] | None:
    """The sentence of passage most likely to hold the answer (the highlighter of docs/quality.md).

    Each question term found in a sentence adds its corpus idf, times a passage-local idf (a
    term in every sentence says little about which one); a term naming the article (in its
    title, or a bigram touching a title character) adds nothing. A question asking for a
    number or date favours sentences with a number it lacks; one asking who or where, sentences
    naming a person or place it does not. Ties go to the earlier sentence, so a question naming
    only the article marks its first sentence. asked: the question, analysed once for all the
    passages of a search. sentences: the passage already cut, as the sentence stage leaves it;
    cut here when None. title_tokens: analyzer.tokens(passage.title), if the caller keeps them.
    """
    if sentences is None:
        sentences = Sentences.of(analyzer, passage.text)
    spans = sentences.spans
    if not spans:
        return None
    sentence_terms = [set(counts) for counts, _ in sentences.counts(asked.terms)]
    title_terms = set(analyzer.tokens(passage.title) if title_tokens is None else title_tokens)
    title_chars = set(normalise(passage.title))

    def names_article(term: str) -> bool:
        if term in title_terms:
            return True
        return term.startswith(BIGRAM) and not title_chars.isdisjoint(term[len(BIGRAM) :])

    n = len(spans)
    weight = {}
    # How many sentences hold each question term (those no sentence holds weigh nothing anywhere).
    for term, sf in Counter(term for found in sentence_terms for term in found).items():
        local = math.log(1 + (n + 1) / (sf + 0.5))
        weight[term] = asked.idf.get(term, 0.0) * local * (TITLE_TERM_WEIGHT if names_article(term) else 1.0)
    scores = []
    for (start, end), found in zip(spans, sentence_terms, strict=True):
        # fsum: exact whatever the set's order, so ties (to the earlier sentence) are the same in
        # every process.
        score = math.fsum(weight[t] for t in found)
        if asked.number:
            novel = "".join(c for c in normalise(passage.text[start:end]) if c not in asked.chars)
            if _NUMERAL.search(novel):
                score *= NUMBER_BONUS
        scores.append(score)
    if asked.name:
        return spans[_with_name_bonus(analyzer, passage.text, spans, scores, asked)]
    return spans[max(range(len(spans)), key=scores.__getitem__)]  # max keeps the first of ties


def _with_name_bonus(
    analyzer: Analyzer, text: str, spans: list[tuple[int, int]], scores: list[float], asked: Asked
) -> int:
    """The best sentence once those naming a person or place the question asks for, and does not
    name itself, weigh NAME_BONUS times more (the first of ties).

    Tagging is slow (jieba's HMM, in Python), so sentences are tagged best first and only while one
    could still win: one whose score, with the bonus, stays below the best found cannot.
    """
    best, best_score = None, 0.0
    for i in sorted(range(len(spans)), key=lambda i: (-scores[i], i)):
        bound = scores[i] * NAME_BONUS
        if best is not None and (bound < best_score or (bound == best_score and i > best)):
            break  # every later sentence is bounded lower still
        final = scores[i]
        if final > 0:
            start, end = spans[i]
            names = analyzer.proper_names(text[start:end])
            if any(kind == asked.name and name not in asked.normalised for name, kind in names):
                final *= NAME_BONUS
        if best is None or final > best_score or (final == best_score and i < best):
            best, best_score = i, final
    return best if best is not None else 0
