"""Cut a passage into sentences: where a sentence ends, and each sentence's index terms.

The reader (corpus.split_long), the highlighter, the sentence stage and the snippet window all cut
here. corpus.split_long cuts over-long paragraphs at these sentence ends, so a change to where a
sentence ends changes the passages an index holds: bump corpus.READER_VERSION with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

from .kernels import compiled
from .text import Analyzer, Reading

# Closing quotes and brackets that stay with the sentence end before them (。” is one end); the
# reader's heading rule looks through them too.
CLOSING_QUOTES = "”’」』\"')）》"
# Not ；: it joins the clauses of one sentence, often the items of a list a question asks for
# (其职能有四个方面：一是…；二是…). Splitting there cost the highlighter 1.4 points on CMRC.
_SPLIT_AFTER = "。！？!?"
# A text that never uses 。 but uses ． takes ． for its full stop (a story republished with other
# punctuation); where 。 is used, ． separates the parts of a transliterated name (圣若望．玛达).
_OTHER_FULL_STOP = "．"
_OPENERS = "（(“「『《〈"
_CLOSERS = "）)”」』》〉"
# Inside brackets or quotes a 。 does not end the sentence (a quotation is one utterance; a work's
# title in 《》 may hold a ！ or 。, as 《卡拉OK.LIVE！‧台北‧我》 does), unless
# the group runs on for this long: an unclosed quote must not swallow a whole paragraph.
MAX_PROTECTED = 300
# The characters sentence_spans acts on (every other one it steps over), with and without ．.
_MARKS = re.compile("[" + re.escape(_OPENERS + _CLOSERS + _SPLIT_AFTER) + "\n]")
_MARKS_OTHER = re.compile("[" + re.escape(_OPENERS + _CLOSERS + _SPLIT_AFTER + _OTHER_FULL_STOP) + "\n]")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Spans of the sentences of text.

    A sentence ends after a run of 。！？!? (and ． in a text without 。) with any closing quotes or
    brackets right after it (so 。” stays with its sentence), or at a newline; not inside （…）,
    “…”「…」『…』 or 《…》〈…〉.

    In C where it was built (_scoring.c: every passage indexed, and the highlighter's), else
    _sentence_spans below, which is the reference the tests hold the compiled one to.
    """
    if compiled is not None:
        return compiled.sentence_spans(text, MAX_PROTECTED)
    return list(_sentence_spans(text))


def _sentence_spans(text: str) -> Iterator[tuple[int, int]]:
    """sentence_spans, in Python."""
    other = "。" not in text and _OTHER_FULL_STOP in text
    ends = _SPLIT_AFTER + _OTHER_FULL_STOP if other else _SPLIT_AFTER
    # Only brackets, quotes, sentence ends and newlines change anything: the search skips to the next.
    find = (_MARKS_OTHER if other else _MARKS).search
    start = 0
    depth = 0
    n = len(text)
    found = find(text)
    while found is not None:
        i = found.start()
        ch = text[i]
        if ch in _OPENERS:
            depth += 1
        elif ch in _CLOSERS:
            depth = max(0, depth - 1)
        if ch == "\n" or ch in ends:
            # The run of sentence ends and closing quotes after this character belongs to it.
            end = i + 1
            after = depth
            while end < n and ch != "\n" and (text[end] in ends or text[end] in CLOSING_QUOTES):
                if text[end] in _CLOSERS:
                    after = max(0, after - 1)
                end += 1
            if ch != "\n" and after > 0 and i - start <= MAX_PROTECTED:
                depth = after
                found = find(text, end)
                continue
            if text[start:end].strip():
                yield start, end
            start = end
            depth = 0
            found = find(text, end)
        else:
            found = find(text, i + 1)
    if text[start:].strip():
        yield start, n


@dataclass(frozen=True)
class Sentences:
    """A passage cut into sentences, with what each sentence holds: what the highlighter and the
    sentence stage both read, from one reading of the passage, which also gives the words to mark."""

    analyzer: Analyzer
    text: str
    cut: bytes | None  # the cut stored with text when it was indexed (Analyzer.read), if any
    spans: list[tuple[int, int]]  # into the passage's original text
    _counts: dict[frozenset[str], list[tuple[dict[str, int], int]]] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, analyzer: Analyzer, text: str, cut: bytes | None = None) -> Sentences:
        """text cut into sentences; cut: the cut stored with text when it was indexed (Analyzer.read)."""
        return cls(analyzer, text, cut, sentence_spans(text))

    @cached_property
    def reading(self) -> Reading:
        """The passage read once (Analyzer.read): made when asked for (the highlighter's marks), as the
        counts come from the stored cut without it where they can (Analyzer.counts_of_cut)."""
        return self.analyzer.read(self.text, self.cut)

    @cached_property
    def tokens(self) -> list[list[str]]:
        """Analyzer.tokens of each sentence."""
        return self.analyzer.tokens_within(self.reading, self.spans)

    def counts(self, wanted: frozenset[str]) -> list[tuple[dict[str, int], int]]:
        """For each sentence, how often it holds each of the wanted terms (those it holds) and its
        number of tokens (Analyzer.counts_within); worked out once per set of terms."""
        found = self._counts.get(wanted)
        if found is None:
            found = self.analyzer.counts_of_cut(self.text, self.cut, self.spans, wanted)
            if found is None:
                found = self.analyzer.counts_within(self.reading, self.spans, wanted)
            self._counts[wanted] = found
        return found
