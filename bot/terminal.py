"""The Answer rendered for a terminal: titles, citations and highlighted quotes (colour only on a TTY)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console, Group
from rich.style import Style
from rich.text import Text

from wenda.retrieval.citations import shown_date
from wenda.retrieval.corpus import shown_name
from wenda.retrieval.search import Hit
from wenda.retrieval.snippet import excerpt

from .answer import Answer, Status, also_in, empty_corpus_message

# Characters of a passage shown in the terminal; longer ones are cut around the best sentence.
TERMINAL_BUDGET = 600


def citation(hit: Hit) -> str:
    """'title · source · date · heading · 第 N 段' — the same order on every front end."""
    p = hit.passage
    parts = [p.title]
    if p.source:
        parts.append(p.source)
    if p.date:
        parts.append(shown_date(p.date))
    if p.heading:
        parts.append(p.heading)
    parts.append(f"第 {p.paragraph} 段")
    return " · ".join(parts)


def quote(hit: Hit, budget: int = TERMINAL_BUDGET) -> Text:
    """The passage (or its window) with query terms in bold yellow and the answer sentence underlined."""
    shown, offset = excerpt(hit.passage.text, hit.sentence, budget)
    text = Text(shown)
    n = len(shown)

    def local(start: int, end: int) -> tuple[int, int]:
        return max(0, start - offset), min(n, end - offset)

    if hit.sentence:
        s, e = local(*hit.sentence)
        if s < e:
            text.stylize("underline", s, e)
    for start, end in hit.term_spans:
        s, e = local(start, end)
        if s < e:
            text.stylize("bold yellow", s, e)
    return text


def render(ans: Answer, folder: Path | str | None = None) -> Group:
    """The whole answer as a rich renderable; folder, the corpus folder, is named when it is empty."""
    if ans.status is Status.EMPTY_CORPUS:
        return Group(Text(empty_corpus_message(folder), style="bold"))
    if not ans.answered:
        return Group(Text(ans.message or "", style="bold"))
    parts: list = []
    for hit in ans.hits:
        head = Text(f"[{hit.rank}] ", style="bold cyan")
        head.append(citation(hit), style="bold")
        parts.append(head)
        parts.append(Text(f"    {shown_name(hit.passage.file)} · 得分 {hit.score:.2f}", style="dim"))
        if hit.passage.url:
            # Plain text that terminals which know hyperlinks also make clickable (OSC 8).
            parts.append(Text(f"    {hit.passage.url}", style=Style(dim=True, link=hit.passage.url)))
        parts.append(quote(hit))
        if line := also_in(hit):
            parts.append(Text(f"    {line}", style="dim"))
        parts.append(Text(""))
    return Group(*parts)


def print_answer(console: Console, ans: Answer, folder: Path | str | None = None) -> None:
    console.print(render(ans, folder))
