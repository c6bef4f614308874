"""A passage cut into sentences, with each sentence's index terms: what the highlighter and the
sentence stage both read, from one jieba pass over the passage, which also gives the words to mark."""

from __future__ import annotations

from dataclasses import dataclass

from .corpus import sentence_spans
from .text import Analyzer, Reading


@dataclass(frozen=True)
class Sentences:
    reading: Reading  # the passage read once (Analyzer.read)
    spans: list[tuple[int, int]]  # into the passage's original text
    tokens: list[list[str]]  # Analyzer.tokens of each sentence

    @classmethod
    def of(cls, analyzer: Analyzer, text: str) -> Sentences:
        reading = analyzer.read(text)
        spans = list(sentence_spans(text))
        return cls(reading, spans, analyzer.tokens_within(reading, spans))
