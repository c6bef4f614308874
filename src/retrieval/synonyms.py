"""corpus/synonyms.txt: synonyms and abbreviations found in a question and searched too, never above its own words.

The format is Solr's and Elasticsearch's: `a, b, c` makes the terms equivalent; `a, b => c, d` adds
c and d to a question holding a or b, never the other way round; `#` starts a comment line. Terms are
normalised like every text (normalise: NFKC, case, Traditional→Simplified) and found in the question's
normalised text as substrings, longest first and never overlapping, because abbreviations such as
燕园 or 信通院 are often not jieba words. A question's own words always stay: a rule only adds.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property, partial

from .corpus import Problem, UnreadableFile, decode
from .index import BM25Index
from .relevance import max_score
from .text import BIGRAM, UNIGRAM, Analyzer, normalise

SYNONYMS_NAME = "synonyms.txt"
_ARROW = "=>"


@dataclass(frozen=True)
class Synonyms:
    """The rules of one synonyms file: each normalised term with the terms a question holding it adds."""

    rules: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    count: int = 0  # lines that made a rule
    problems: tuple[Problem, ...] = ()
    digest: str = ""  # sha256 of the file's bytes ('' for no file)
    _by_first: Mapping[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Terms by their first character, longest first: the longest rule at each position of a question.
        by_first: dict[str, list[str]] = {}
        for term in self.rules:
            by_first.setdefault(term[0], []).append(term)
        longest_first = {ch: tuple(sorted(ts, key=len, reverse=True)) for ch, ts in by_first.items()}
        object.__setattr__(self, "_by_first", longest_first)  # frozen: set once, here

    @classmethod
    def parse(cls, text: str, file: str = SYNONYMS_NAME, digest: str = "") -> Synonyms:
        """The rules of a synonyms file's text; each line that cannot be a rule becomes a Problem naming it."""
        rules: dict[str, dict[str, None]] = {}
        problems: list[Problem] = []
        count = 0
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if _ARROW in line:
                parts = line.split(_ARROW)
                if len(parts) > 2:
                    problems.append(Problem(file, f"more than one {_ARROW}", number))
                    continue
                left, right = _terms(parts[0]), _terms(parts[1])
                if not left and not right:
                    reason = "no terms"
                elif not left:
                    reason = f"nothing before {_ARROW}"
                elif not right:
                    reason = f"nothing after {_ARROW}"
                else:
                    reason = None
                pairs = [(term, right) for term in left]
            else:
                terms = _terms(line)
                reason = None if len(terms) > 1 else "one term, nothing to be equivalent to" if terms else "no terms"
                pairs = [(term, terms) for term in terms]
            if reason is not None:
                problems.append(Problem(file, reason, number))
                continue
            count += 1
            for term, adds in pairs:
                rules.setdefault(term, {}).update(dict.fromkeys(t for t in adds if t != term))
        kept = {term: tuple(adds) for term, adds in rules.items() if adds}
        return cls(kept, count, tuple(problems), digest)

    @classmethod
    def read(cls, data: bytes, file: str = SYNONYMS_NAME) -> Synonyms:
        """The rules of a synonyms file's bytes (UTF-8, UTF-16 or GB18030, as articles may be)."""
        digest = hashlib.sha256(data).hexdigest()
        if not data.strip():
            return cls(digest=digest)
        try:
            text = decode(data)
        except UnreadableFile as exc:
            return cls(problems=(Problem(file, str(exc)),), digest=digest)
        return cls.parse(text, file, digest)

    def find(self, normalised: str) -> list[tuple[int, int, str]]:
        """(start, end, term) of the rules' terms in a normalised question: the longest term at each
        position, then the longest first of those, leaving out any that overlaps one taken."""
        by_first = self._by_first
        found = []
        for i, ch in enumerate(normalised):
            for term in by_first.get(ch, ()):
                end = i + len(term)
                if normalised.startswith(term, i) and _whole(normalised, i, end):
                    found.append((i, end, term))
                    break
        taken: list[tuple[int, int, str]] = []
        for start, end, term in sorted(found, key=lambda m: (m[0] - m[1], m[0])):
            if all(end <= s or start >= e for s, e, _ in taken):
                taken.append((start, end, term))
        return sorted(taken)


def _terms(text: str) -> list[str]:
    """The distinct normalised terms of a comma-separated list (empty ones dropped)."""
    return list(dict.fromkeys(t for part in text.split(",") if (t := normalise(part).strip())))


def _whole(text: str, start: int, end: int) -> bool:
    """A Latin or digit term is found only as a whole word (ai is not in email); CJK has no word breaks to ask for."""

    def alnum(ch: str) -> bool:
        return ch.isascii() and ch.isalnum()

    return not (start > 0 and alnum(text[start]) and alnum(text[start - 1])) and not (
        end < len(text) and alnum(text[end - 1]) and alnum(text[end])
    )


@dataclass(frozen=True)
class Query:
    """A question's query tokens with what its synonyms add, and the max_score its relevance is a share of."""

    tokens: tuple[str, ...]  # what top_k scores, with repeats
    typed: tuple[str, ...]  # Analyzer.query_tokens of the question alone
    added: tuple[str, ...]  # the distinct tokens the rules added (each scored once)
    # max_score's value, or how to work it out: a ranking alone (eval, the benchmarks) never reads it.
    maximum: float | Callable[[], float] = field(compare=False, repr=False)

    @cached_property
    def max_score(self) -> float:
        return self.maximum() if callable(self.maximum) else self.maximum


def expand(synonyms: Synonyms, analyzer: Analyzer, index: BM25Index, question: str) -> Query:
    """The question's query tokens, plus once each the tokens of what its rules add that it lacks.

    Weighting. The typed tokens keep their counts (2, or 1 for a function bigram) and every added
    token counts 1. So that an expansion never outweighs the words typed, the typed tokens are all
    repeated `scale` times when needed, so that for each rule found, the typed term's tokens weigh
    more than what it adds (sum of count * idf) whenever the corpus holds the typed term: all else
    equal, a passage holding the typed word ranks above one holding only the expansion. Repeating
    every typed token alike keeps their relative weights and scales the score and max_score alike.

    max_score. It is the typed tokens' (times scale), not the added ones': otherwise a rule whose
    words the corpus holds but the best passage does not would lower that passage's relevance, and a
    synonym file could make a covered question declined. One change: a typed token the corpus never
    saw counts in max_score as evidence the corpus does not cover the question (relevance.py); a
    rule that names that term by words the corpus does hold withdraws the evidence, so those tokens
    count what the added words could score, never more than the penalty they replace. Both ways
    max_score never exceeds scale times the question's own, so relevance never drops: a synonym file
    can only raise it (it is clamped at 1 in relevance.relevance).
    """
    typed = analyzer.query_tokens(question)
    found = synonyms.find(normalise(question)) if synonyms.rules else []
    if not found:
        return Query(tuple(typed), tuple(typed), (), partial(max_score, index, typed))
    weights = Counter(typed)
    idf: dict[str, float] = {}
    seen: dict[str, bool] = {}

    def idf_of(term: str) -> float:
        if term not in idf:
            idf[term] = index.idf(term)
        return idf[term]

    def known(term: str) -> bool:
        if term not in seen:
            seen[term] = index.doc_freq(term) > 0
        return seen[term]

    added: dict[str, None] = {}
    vouched: set[str] = set()  # unseen typed tokens of a term the rules name by words the corpus holds
    vouching: float = 0.0  # what those added words could score at most
    scale = 1
    for _, _, term in found:
        span = [t for t in dict.fromkeys(analyzer.tokens(term)) if t in weights]
        new = [
            t
            for target in synonyms.rules[term]
            for t in dict.fromkeys(analyzer.tokens(target))
            if t not in weights and t not in added and known(t)  # an unseen token scores nothing
        ]
        if not new:
            continue
        added.update(dict.fromkeys(new))
        added_weight = sum(idf_of(t) for t in new)
        typed_weight = sum(weights[t] * idf_of(t) for t in span)
        if typed_weight > 0 and all(known(t) for t in span if t.startswith((UNIGRAM, BIGRAM))):
            # The corpus may hold the typed term itself (all of its n-grams are there).
            scale = max(scale, math.floor(added_weight / typed_weight) + 1)
        unseen = {t for t in span if not known(t)}
        if unseen:
            vouched |= unseen
            vouching += added_weight * (index.params.k1 + 1)
    tokens = [t for t in typed for _ in range(scale)]
    own = max_score(index, [t for t in tokens if t not in vouched])
    penalty = max_score(index, [t for t in tokens if t in vouched])
    return Query(tuple(tokens + list(added)), tuple(typed), tuple(added), own + min(vouching, penalty))
