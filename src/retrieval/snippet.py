"""Cut a long passage down to the window around its most relevant sentence, without breaking anything."""

from __future__ import annotations

from .sentences import sentence_spans

ELLIPSIS = "…"


def window(text: str, focus: tuple[int, int] | None, budget: int) -> tuple[int, int]:
    """The span of text to show within budget characters, grown around focus.

    Whole sentences are added on either side while they fit, so a quote starts and ends at
    sentence boundaries when it can; a focus sentence longer than the budget is cut around its start.
    """
    if len(text) <= budget:
        return 0, len(text)
    start, end = focus if focus is not None else (0, 0)
    if end - start >= budget:
        return start, start + budget
    sentences = list(sentence_spans(text))
    before = [s for s in sentences if s[1] <= start]
    after = [s for s in sentences if s[0] >= end]
    # Grow alternately after and before: the answer is more often just after the matched words.
    while before or after:
        grew = False
        if after and after[0][1] - start <= budget:
            end = after.pop(0)[1]
            grew = True
        if before and end - before[-1][0] <= budget:
            start = before.pop()[0]
            grew = True
        if not grew:
            break
    if start == end:
        return 0, budget
    return start, end


def excerpt(text: str, focus: tuple[int, int] | None, budget: int) -> tuple[str, int]:
    """The shown part of text with ellipses where it was cut, and the offset of its first original character.

    The offset maps spans of the full text into the excerpt: subtract it (it already allows for a
    leading ellipsis).
    """
    start, end = window(text, focus, budget)
    shown = text[start:end]
    prefix = ELLIPSIS if start > 0 else ""
    suffix = ELLIPSIS if end < len(text) else ""
    return prefix + shown + suffix, start - len(prefix)
