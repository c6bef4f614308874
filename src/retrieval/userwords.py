"""Which indexed passages a change of the user dictionary concerns: those whose text holds a changed word."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from .corpus import Passage
from .index import BM25Index
from .search import indexed_text
from .text import _CJK_RUN, BIGRAM, UNIGRAM, Analyzer, chinese_stopwords, normalise


def changed_words(old: Mapping[str, str], new: Mapping[str, str]) -> set[str]:
    """The words added, removed or re-weighed (frequency or tag) between two user dictionaries."""
    return {w for w in old.keys() | new.keys() if old.get(w) != new.get(w)}


def slots_holding(
    words: Iterable[str], index: BM25Index, passages: Sequence[Passage], analyzer: Analyzer
) -> frozenset[int]:
    """The live passages (slots) whose indexed text, normalised, holds any of words.

    jieba sees a passage only normalised, so a word can change its cut only where the normalised
    text holds it. The index narrows the passages to read: a CJK word's passages hold all its
    bigrams (or, for one character, its unigram), which the index has postings of. Only a word
    with no such n-gram (Latin, digits, stop-word n-grams only, or n-grams off) costs a scan of
    every passage. The candidates are then checked against their text, so the answer is exact.
    """
    needles = sorted({w for w in (normalise(w) for w in words) if w}, key=len, reverse=True)
    if not needles:
        return frozenset()
    pattern = re.compile("|".join(re.escape(w) for w in needles))
    live = index.live
    candidates = np.zeros(len(live), dtype=bool)
    for word in needles:
        slots = _slots_with_ngrams(word, index, analyzer)
        if slots is None:
            candidates = live.copy()
            break
        candidates[slots] = True
    candidates &= live
    repeat = analyzer.settings.title_repeat
    return frozenset(
        slot
        for slot in np.flatnonzero(candidates).tolist()
        if pattern.search(normalise(indexed_text(passages[slot], repeat)))
    )


def _slots_with_ngrams(word: str, index: BM25Index, analyzer: Analyzer) -> np.ndarray | None:
    """The slots holding every n-gram term of word; None if word gives no n-gram to narrow by."""
    if not analyzer.settings.ngrams or not _CJK_RUN.fullmatch(word):
        return None
    stop = chinese_stopwords() if analyzer.settings.stopwords else frozenset()
    if len(word) > 1:
        terms = {BIGRAM + word[i : i + 2] for i in range(len(word) - 1) if word[i : i + 2] not in stop}
    else:
        terms = {UNIGRAM + word} if word not in stop else set()
    if not terms:
        return None
    found: np.ndarray | None = None
    where = index.lists(sorted(terms))
    for term in sorted(terms):
        parts = [
            index.segments[seg_no].docs_of_terms(term_id, term_id + 1) + int(index.bases[seg_no])
            for seg_no, term_id in where[term]
        ]
        slots = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        found = slots if found is None else np.intersect1d(found, slots, assume_unique=True)
        if not len(found):
            break
    return found
