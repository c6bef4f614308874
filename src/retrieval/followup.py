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

from .text import Analyzer, normalise

# How many earlier questions a follow-up may borrow from, the most recent last.
RECENT_QUESTIONS = 3
# Words that stand for a subject named before (jieba's words, normalised): pronouns, 其 (its), and
# demonstratives alone or with the measure word jieba joins to them (这位, 那座).
_PRONOUNS = frozenset("它 他 她 它们 他们 她们 其 该 此 本 这 那 这个 那个 这些 那些 这里 那里 此人 该人".split())
# 该市, 此鱼, 这位, 那座: jieba often joins a demonstrative and what follows into one word.
_DEMONSTRATIVE = re.compile(r"[该此这那][\u4e00-\u9fff]")
# 此外 (besides), 这样 (so): demonstrative-led words that refer to no subject.
_NOT_REFERENCES = frozenset("此外 此时 此后 这样 那样 这么 那么 这种 那种 那时 这时 那儿 这儿 那些年".split())
# "那北京呢？", "还有呢？": a question ending in 呢 asks the earlier question again of something else.
_NE_ENDING = re.compile(r"呢[\s?？!！。.…~～]*$")
# A question with fewer content words than this cannot stand alone ("为什么？", "在哪里？").
MIN_OWN_WORDS = 2


def references(analyzer: Analyzer, question: str) -> list[str]:
    """The words of question that refer to a subject named before (它, 其, 该市, 这位), in order."""
    return [w for w in analyzer.segments(question) if _is_reference(w)]


def _is_reference(word: str) -> bool:
    if word in _PRONOUNS:
        return True
    return len(word) == 2 and word not in _NOT_REFERENCES and bool(_DEMONSTRATIVE.fullmatch(word))


def is_follow_up(analyzer: Analyzer, question: str) -> bool:
    """Whether question leaves its subject to the conversation: it refers back (它, 该市), asks
    again with 呢, or has too few words of its own to stand alone."""
    if references(analyzer, question) or _NE_ENDING.search(normalise(question)):
        return True
    return len(analyzer.words(question)) < MIN_OWN_WORDS


def query_with_context(analyzer: Analyzer, question: str, context: Sequence[str]) -> list[str]:
    """question's query tokens, read with the earlier questions of its conversation (oldest first).

    Without context, or when question names its own subject, exactly analyzer.query_tokens(question).
    Otherwise the reference words are taken out of the typed question (its tokens keep their
    weights) and every token of the RECENT_QUESTIONS latest earlier questions not typed is added
    once: it counts half as much as a typed token, so what was typed still decides among the
    subject's passages.
    """
    recent = [q for q in context if q.strip()][-RECENT_QUESTIONS:]
    if not recent or not is_follow_up(analyzer, question):
        return analyzer.query_tokens(question)
    typed = analyzer.query_tokens(_without_references(analyzer, question))
    seen = set(typed)
    borrowed: list[str] = []
    for earlier in reversed(recent):  # the latest question first: its terms are the likeliest subject
        for token in dict.fromkeys(analyzer.query_tokens(earlier)):
            if token not in seen:
                seen.add(token)
                borrowed.append(token)
    return typed + borrowed


def _without_references(analyzer: Analyzer, question: str) -> str:
    """question with each reference word replaced by a comma, so no n-gram spans where it was."""
    words = analyzer.segments(question)
    return "".join("，" if _is_reference(w) else w for w in words)
