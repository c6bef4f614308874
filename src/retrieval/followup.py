"""A question read with the conversation before it: a follow-up that leaves its subject out borrows it.

"尤金袋鼠分布在哪里？" then "它为什么被认为是害虫？": the second question alone has no subject, so
the content terms of the recent earlier questions are added to its query, each counted once where
the typed terms count twice (BM25Okapi sums a repeated query token), and the reference itself
(它, 该市, 这位 …) is taken out. A question that names its own subject ("北京的面积是多少？")
is searched alone, whatever came before. The decline rule reads the whole query: relevance is
the score over the most any passage could score for typed and borrowed terms together.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .index import BM25Index
from .maxscore import SlotFilter
from .text import Analyzer, normalise

# How many earlier questions a follow-up may borrow from, the most recent last.
RECENT_QUESTIONS = 3
# Words that stand for a subject named before (jieba's words, normalised): pronouns, 其 (its), and
# demonstratives alone or with the measure word jieba joins to them (这位, 那座).
_PRONOUNS = frozenset(
    [
        "它",
        "他",
        "她",
        "它们",
        "他们",
        "她们",
        "其",
        "该",
        "此",
        "本",
        "这",
        "那",
        "这个",
        "那个",
        "这些",
        "那些",
        "这里",
        "那里",
        "此人",
        "该人",
    ]
)
# 该市, 此鱼, 这位, 那座: jieba often joins a demonstrative and what follows into one word.
_DEMONSTRATIVE = re.compile(r"[该此这那][\u4e00-\u9fff]")
# 此外 (besides), 这样 (so): demonstrative-led words that refer to no subject.
_NOT_REFERENCES = frozenset(
    ["此外", "此时", "此后", "这样", "那样", "这么", "那么", "这种", "那种", "那时", "这时", "那儿", "这儿", "那些年"]
)
# "那北京呢？", "还有呢？": a question ending in 呢 asks the earlier question again of something else.
_NE_ENDING = re.compile(r"呢[\s?？!！。.…~～]*$")
# A passage the borrowed subject favours must score at least this share of the best score for the
# typed words alone: measured in docs/quality.md ("Follow-up questions").
SUPPORT_SHARE = 0.1
# How many passages of each ranking (typed alone, typed + borrowed) are compared.
SUPPORT_DEPTH = 100


def references(analyzer: Analyzer, question: str) -> list[str]:
    """The words of question that refer to a subject named before (它, 其, 该市, 这位), in order."""
    return [w for w in analyzer.segments(question) if _is_reference(w)]


def _is_reference(word: str) -> bool:
    if word in _PRONOUNS:
        return True
    return len(word) == 2 and word not in _NOT_REFERENCES and bool(_DEMONSTRATIVE.fullmatch(word))


def is_follow_up(analyzer: Analyzer, question: str) -> bool:
    """Whether question leaves its subject to the conversation: it refers back (它, 该市), asks
    again with 呢, or has no content word of its own ("为什么？", "在哪里？")."""
    if references(analyzer, question) or _NE_ENDING.search(normalise(question)):
        return True
    return not analyzer.words(question)


@dataclass(frozen=True)
class FollowUp:
    """A follow-up's query: what was typed (reference words taken out) and the tokens borrowed."""

    typed: list[str]  # query tokens with their weights (repeats)
    borrowed: list[str]  # tokens of the recent earlier questions not typed, once each

    @property
    def tokens(self) -> list[str]:
        return self.typed + self.borrowed


def read_follow_up(analyzer: Analyzer, question: str, context: Sequence[str]) -> FollowUp | None:
    """question read with the earlier questions of its conversation (oldest first), or None when it
    is to be searched alone: no context, or it names its own subject.

    The reference words are taken out of the typed question (its tokens keep their weights) and
    every token not typed of the latest earlier question (and, while that one was a follow-up too,
    of the ones before it, RECENT_QUESTIONS at most) is borrowed once: it
    counts half as much as a typed token, so what was typed still decides among the subject's passages.
    """
    recent = [q for q in context if q.strip()][-RECENT_QUESTIONS:]
    if not recent or not is_follow_up(analyzer, question):
        return None
    typed = analyzer.query_tokens(_without_references(analyzer, question))
    seen = set(typed)
    borrowed: list[str] = []
    # Back from the latest question to the last one that stood on its own: "黄河大桥有多长？ 它什么时候
    # 开放？ 那周末呢？" reads the third with the first two, and a subject named before that is left behind.
    for earlier in reversed(recent):
        for token in dict.fromkeys(analyzer.query_tokens(earlier)):
            if token not in seen:
                seen.add(token)
                borrowed.append(token)
        if not is_follow_up(analyzer, earlier):
            break
    return FollowUp(typed, borrowed)


def supported_top_k(
    index: BM25Index, follow_up: FollowUp, k: int, within: SlotFilter | None = None
) -> list[tuple[int, float]] | None:
    """The k best (slot, score) pairs for a follow-up's tokens among the passages its typed words
    support, then the rest; None when no passage the borrowed words favour is supported.

    A passage is supported when its score for the typed tokens alone is at least SUPPORT_SHARE of
    the best such score: the borrowed subject chooses among the passages that answer what was
    typed, it never outvotes it. None means the conversation led elsewhere (a new subject that
    happens to say 这个计划): the question is then searched alone.
    """
    depth = max(k, SUPPORT_DEPTH)
    own = dict(index.top_k(follow_up.typed, depth, within))
    ranked = index.top_k(follow_up.tokens, depth, within)
    if not own:  # nothing typed matches anything (还有呢？): the borrowed words alone decide
        return ranked[:k]
    bar = SUPPORT_SHARE * max(own.values())
    # A passage outside the typed top-depth scores at most the least score in it.
    floor = min(own.values()) if len(own) == depth else 0.0
    supported = [(slot, score) for slot, score in ranked if own.get(slot, floor) >= bar]
    if not supported:
        return None
    rest = [(slot, score) for slot, score in ranked if own.get(slot, floor) < bar]
    return (supported + rest)[:k]


def _without_references(analyzer: Analyzer, question: str) -> str:
    """question with each reference word replaced by a comma, so no n-gram spans where it was."""
    words = analyzer.segments(question)
    return "".join("，" if _is_reference(w) else w for w in words)
