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
# The pronouns jieba may glue to what follows them.
_PRONOUN_HEADS = frozenset("它他她其")
# A word of text rather than punctuation: what a clause's first word has no word before it of.
_WORDLIKE = re.compile(r"\w")
# "那北京呢？", "还有呢？": a question ending in 呢 asks the earlier question again of something else.
_NE_ENDING = re.compile(r"呢[\s?？!！。.…~～]*$")
# A passage the borrowed subject favours must score at least this share of the best score for the
# typed words alone: measured in docs/quality.md ("Follow-up questions").
SUPPORT_SHARE = 0.05
# How many passages of the ranking for typed and borrowed tokens are weighed.
SUPPORT_DEPTH = 100


def references(analyzer: Analyzer, question: str) -> list[str]:
    """The words of question that refer to a subject named before (它, 其, 该市, 这位), in order."""
    words = analyzer.segments(question)
    return [w for w, kept in zip(words, _without_references(analyzer, words), strict=True) if kept != w]


def _without_references(analyzer: Analyzer, words: list[str]) -> list[str]:
    """words with each reference replaced by a comma, so no n-gram spans where it was. What jieba
    glued to a pronoun that opens a clause (其花是什么样的？: 花) stays."""
    kept = []
    for i, word in enumerate(words):
        if word in _PRONOUNS or (len(word) == 2 and word not in _NOT_REFERENCES and _DEMONSTRATIVE.fullmatch(word)):
            kept.append("，")
        elif _is_glued(analyzer, word) and (i == 0 or not _WORDLIKE.search(words[i - 1])):
            kept.append("，" + word[1:])
        else:
            kept.append(word)
    return kept


def _is_glued(analyzer: Analyzer, word: str) -> bool:
    """jieba's HMM glues a pronoun to the characters after it when it has no word for them (它会,
    他曾, 其花); a dictionary word that starts so (其他, 其中, 他人) means something else. Only a
    clause's first word counts: inside a clause, 其 refers to what the clause named before it
    (香港电车其路道在哪里？)."""
    return len(word) > 1 and word[0] in _PRONOUN_HEADS and not analyzer.in_dictionary(word)


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
    typed = analyzer.query_tokens("".join(_without_references(analyzer, analyzer.segments(question))))
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
    ranked = index.top_k(follow_up.tokens, max(k, SUPPORT_DEPTH), within)
    best_own = index.top_k(follow_up.typed, 1, within)
    if not best_own:  # nothing typed matches anything (还有呢？): the borrowed words alone decide
        return ranked[:k]
    bar = SUPPORT_SHARE * best_own[0][1]
    # Each candidate's own score for the typed words, exactly: a passage the borrowed subject lifts
    # may hold none of them, however low the typed ranking reaches.
    own = index.scores_at(follow_up.typed, [slot for slot, _ in ranked])
    supported = [pair for pair, typed in zip(ranked, own, strict=True) if typed >= bar]
    if not supported:
        return None
    rest = [pair for pair, typed in zip(ranked, own, strict=True) if typed < bar]
    return (supported + rest)[:k]
