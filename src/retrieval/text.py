"""Normalise text (NFKC, case, Traditional→Simplified) and segment it into index terms with jieba."""

from __future__ import annotations

import hashlib
import logging
import threading
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import jieba
import opencc
import stopwordsiso

log = logging.getLogger(__name__)

# jieba logs its dictionary loading at INFO on the root of its own logger; our users do not need it.
jieba.setLogLevel(logging.WARNING)

_FULLWIDTH_DIGITS = frozenset("０１２３４５６７８９")


@dataclass(frozen=True)
class TextSettings:
    """Everything that changes which terms a text becomes; part of the index cache key."""

    stopwords: bool = True
    userdict: Path | None = None


@cache
def chinese_stopwords() -> frozenset[str]:
    """stopwords-iso's Chinese list, normalised like every other term.

    Its full-width digits are removed: after NFKC they would be the ASCII digits, and years,
    counts and dates are exactly what many questions ask about.
    """
    words = {w for w in stopwordsiso.stopwords("zh") if not (set(w) & _FULLWIDTH_DIGITS)}
    return frozenset(_normalise_plain(w) for w in words)


@cache
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


# OpenCC's converter object is not documented as thread-safe; the bot scores in worker threads.
_t2s_lock = threading.Lock()


def _to_simplified(text: str) -> str:
    with _t2s_lock:
        return _t2s().convert(text)


def _normalise_plain(text: str) -> str:
    return _to_simplified(unicodedata.normalize("NFKC", text).lower())


def normalise(text: str) -> str:
    """Return text as it is indexed: NFKC, lower-case, Simplified Chinese."""
    return _normalise_plain(text)


def normalise_with_offsets(text: str) -> tuple[str, list[int]]:
    """Normalise text and say, for each character of the result, which original character it came from.

    Quotes always show the original text, so every match found in normalised text has to be
    mapped back to the characters the reader sees.
    """
    pieces: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        out = ch.lower() if ch.isascii() else unicodedata.normalize("NFKC", ch).lower()
        pieces.append(out)
        origin.extend([i] * len(out))
    folded = "".join(pieces)
    simplified = _to_simplified(folded)
    if len(simplified) != len(folded):
        # OpenCC converted a phrase into one of another length; redo it character by character so
        # the offsets stay true (slower, and rare).
        simplified = "".join(_to_simplified(ch) if len(_to_simplified(ch)) == 1 else ch for ch in folded)
    return simplified, origin


def _is_word(token: str) -> bool:
    """A token that carries meaning: it has at least one letter or digit (so no punctuation or space)."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in token)


@dataclass(frozen=True)
class Term:
    """One index term found in a text, with its span in that (normalised) text."""

    text: str
    start: int
    end: int


@dataclass
class Analyzer:
    """Turns text into index terms; the same instance is used for passages and for questions."""

    settings: TextSettings = field(default_factory=TextSettings)

    def __post_init__(self) -> None:
        # A private jieba tokenizer, so a user dictionary affects this analyzer only and not the
        # process-wide default one.
        self._jieba = jieba.Tokenizer()
        self._stopwords = chinese_stopwords() if self.settings.stopwords else frozenset()
        self._userdict_digest = ""
        if self.settings.userdict is not None and self.settings.userdict.is_file():
            data = self.settings.userdict.read_bytes()
            self._userdict_digest = hashlib.sha256(data).hexdigest()
            self._jieba.load_userdict(str(self.settings.userdict))
            log.info("loaded user dictionary %s", self.settings.userdict)

    @property
    def userdict_digest(self) -> str:
        """sha256 of the user dictionary this analyzer loaded ('' for none)."""
        return self._userdict_digest

    @property
    def fingerprint(self) -> str:
        """A short hash of everything that decides the terms; a different one invalidates an index."""
        parts = [
            "v1",
            jieba.__version__,
            f"stopwords={self.settings.stopwords}",
            f"userdict={self._userdict_digest}",
        ]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]

    def terms(self, text: str) -> list[Term]:
        """Index terms of text, with spans in the normalised text."""
        normalised = normalise(text)
        return self._terms_of_normalised(normalised)

    def _terms_of_normalised(self, normalised: str) -> list[Term]:
        out: list[Term] = []
        for word, start, end in self._jieba.tokenize(normalised):
            if word in self._stopwords or not _is_word(word):
                continue
            out.append(Term(word, start, end))
        return out

    def tokens(self, text: str) -> list[str]:
        """Index terms of text, in order, repeats kept (BM25 counts them)."""
        return [t.text for t in self.terms(text)]

    def spans(self, text: str, wanted: set[str]) -> list[tuple[int, int]]:
        """Character spans of the original text whose terms are in `wanted`, merged and sorted."""
        normalised, origin = normalise_with_offsets(text)
        spans: list[tuple[int, int]] = []
        for term in self._terms_of_normalised(normalised):
            if term.text in wanted and term.end > term.start:
                spans.append((origin[term.start], origin[term.end - 1] + 1))
        return merge_spans(spans)


def merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sort spans and join those that touch or overlap."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
