"""A passage cut into sentences, with each sentence's index terms: what the highlighter and the
sentence stage both read, so a search that needs both cuts a passage once."""

from __future__ import annotations

from dataclasses import dataclass

from .corpus import sentence_spans
from .text import Analyzer


@dataclass(frozen=True)
class Sentences:
    spans: list[tuple[int, int]]  # into the passage's original text
    tokens: list[list[str]]  # Analyzer.tokens of each sentence, repeats kept

    @classmethod
    def of(cls, analyzer: Analyzer, text: str) -> Sentences:
        spans = list(sentence_spans(text))
        return cls(spans, [analyzer.tokens(text[start:end]) for start, end in spans])
