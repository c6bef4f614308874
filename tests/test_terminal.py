"""The Answer in a terminal: citation lines with their date, the article's link, the empty-corpus sentence."""

from __future__ import annotations

from rich.console import Console

from wenda.bot.answer import Answer, Status
from wenda.bot.terminal import citation, render
from wenda.retrieval.corpus import Passage
from wenda.retrieval.search import Hit


def _hit(date: str | None = None, url: str | None = None) -> Hit:
    p = Passage(
        text="三号码头扩建工程今天开工。",
        title="港口码头扩建",
        file="port.md",
        paragraph=2,
        source="港城日报",
        heading="工程进展",
        url=url,
        date=date,
    )
    return Hit(p, 3.5, 1, ("码头",), 1.0, (), None)


def _shown(ans: Answer, folder: str | None = None) -> str:
    console = Console(record=True, width=200, color_system=None)
    console.print(render(ans, folder))
    return console.export_text()


def test_citation_shows_the_date_beside_the_source():
    assert citation(_hit("2024-03-05")) == "港口码头扩建 · 港城日报 · 2024-03-05 · 工程进展 · 第 2 段"


def test_citation_shows_a_dateline_date_without_a_year_in_chinese():
    assert citation(_hit("--10-26")) == "港口码头扩建 · 港城日报 · 10月26日 · 工程进展 · 第 2 段"


def test_citation_without_a_date_is_unchanged():
    assert citation(_hit()) == "港口码头扩建 · 港城日报 · 工程进展 · 第 2 段"


def test_the_articles_url_is_a_line_of_its_own():
    lines = _shown(Answer("问题", Status.ANSWERED, (_hit(url="https://example.org/port?id=1"),))).splitlines()
    assert "    https://example.org/port?id=1" in lines


def test_the_url_is_a_terminal_hyperlink():
    console = Console(record=True, width=200, force_terminal=True)
    console.print(render(Answer("问题", Status.ANSWERED, (_hit(url="https://example.org/port"),))))
    assert "\x1b]8;" in console.export_text(styles=True)


def test_no_url_no_link_line():
    assert "http" not in _shown(Answer("问题", Status.ANSWERED, (_hit(),)))


def test_empty_corpus_names_the_folder():
    shown = _shown(Answer("问题", Status.EMPTY_CORPUS), "/data/corpus")
    assert "资料库是空的" in shown
    assert "/data/corpus" in shown
