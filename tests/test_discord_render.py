"""render_answer and neutralise: every message inside Discord's limits, nothing that pings or links."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import SEED_COPY_FILE
from hypothesis import example, given, settings
from hypothesis import strategies as st

from wenda.bot.answer import ALSO_IN, MESSAGES, Answer, Status, answer
from wenda.bot.discord_render import (
    CONTENT_LIMIT,
    EMBED_DESCRIPTION_LIMIT,
    EMBED_FIELD_VALUE_LIMIT,
    EMBED_FOOTER_LIMIT,
    EMBED_TITLE_LIMIT,
    EMBED_TOTAL_LIMIT,
    EMBEDS_PER_MESSAGE,
    ZWSP,
    DiscordMessage,
    highlighted_quote,
    neutralise,
    render_answer,
)
from wenda.retrieval.corpus import Passage
from wenda.retrieval.search import Hit, Searcher
from wenda.retrieval.sentences import sentence_spans
from wenda.retrieval.snippet import excerpt
from wenda.retrieval.store import Library, StoreSettings

SEED_CORPUS = Path(__file__).resolve().parents[1] / "corpus"
ROLE = "<@&123456789012345678>"
USER = "<@234567890123456789>"
# Everything Discord would turn into a ping, a link or formatting, in one Chinese paragraph.
HOSTILE = (
    f"@everyone 请注意，@here 也请注意！{ROLE} 和 {USER} 以及 <@!234567890123456789> 负责 <#345678901234567890>。"
    "点击 [a link](https://evil.example) 或 https://evil.example/x 或 discord.gg/invite 领取奖品。"
    "**markdown** __下划线__ *斜体* ~~删除~~ `代码` ||剧透|| > 引用\n# 标题\n- 列表\n1. 第一\n"
    "反斜杠 \\ 和 </ask:123456789012345678> 以及 <t:1700000000:R> 还有 <a:wave:123456789012345678>。"
)
# What must never reach Discord raw: pings, mentions, masked links (an unescaped "]("), links, invites.
FORBIDDEN = re.compile(r"@everyone|@here|<[@#/]|<a:|<t:|(?<!\\)\]\(|\w://|discord(app)?\.(gg|com)/", re.IGNORECASE)

# The inline rules of simple-markdown, the parser Discord's client uses, for what the bot emits.
_ESCAPE = re.compile(r"\\([^0-9A-Za-z\s])")
_STRONG = re.compile(r"\*\*([\s\S]+?)\*\*(?!\*)")
_UNDERLINE = re.compile(r"__([\s\S]+?)__(?!_)")
_TEXT = re.compile(r"[\s\S]+?(?=[^0-9A-Za-z\s\u00c0-\uffff]|\n| {2,}\n|\w+:\S|$)")


def parse(markdown: str, bold: bool = False) -> list[tuple[str, bool]]:
    """(visible text, is bold) pieces, as Discord shows markdown made of escapes, ** and __."""
    pieces: list[tuple[str, bool]] = []
    while markdown:
        if m := _ESCAPE.match(markdown):
            pieces.append((m[1], bold))
        elif m := _STRONG.match(markdown):
            pieces += parse(m[1], True)
        elif m := _UNDERLINE.match(markdown):
            pieces += parse(m[1], bold)
        else:
            m = _TEXT.match(markdown)
            assert m is not None
            pieces.append((m[0], bold))
        markdown = markdown[m.end() :]
    return pieces


def visible(markdown: str) -> str:
    return "".join(text for text, _ in parse(markdown)).replace(ZWSP, "")


def bold_text(markdown: str) -> list[str]:
    """The runs of visible bold text."""
    runs: list[str] = []
    previous = False
    for text, bold in parse(markdown):
        if bold and previous:
            runs[-1] += text
        elif bold:
            runs.append(text)
        previous = bold
    return [run.replace(ZWSP, "") for run in runs]


def passage(text: str, *, title: str = "测试文章", file: str = "test.txt", number: int = 1) -> Passage:
    return Passage(text=text, title=title, file=file, paragraph=number, source="测试日报", heading="小标题")


def hit(p: Passage, *, rank: int = 1, terms: tuple[str, ...] = ()) -> Hit:
    """A hit on p with every occurrence of terms highlighted and their first sentence as the answer."""
    spans = sorted((m.start(), m.end()) for term in terms for m in re.finditer(re.escape(term), p.text))
    sentence = next((s for s in sentence_spans(p.text) if any(s[0] <= a < s[1] for a, _ in spans)), None)
    return Hit(p, 10.0 - rank, rank, terms, 1.0, tuple(spans), sentence)


def answered(*hits: Hit, question: str = "问题") -> Answer:
    return Answer(question, Status.ANSWERED, hits)


def assert_within_limits(message: DiscordMessage) -> None:
    assert len(message.content) <= CONTENT_LIMIT
    assert 1 <= len(message.embeds) <= EMBEDS_PER_MESSAGE
    for embed in message.embeds:
        assert len(embed.title or "") <= EMBED_TITLE_LIMIT
        assert len(embed.description or "") <= EMBED_DESCRIPTION_LIMIT
        assert len(embed.footer.text or "") <= EMBED_FOOTER_LIMIT
        for f in embed.fields:
            assert len(f.name or "") <= EMBED_TITLE_LIMIT and len(f.value or "") <= EMBED_FIELD_VALUE_LIMIT
    assert sum(len(embed) for embed in message.embeds) <= EMBED_TOTAL_LIMIT


def shown_text(message: DiscordMessage) -> list[str]:
    """Every piece of text Discord renders with markdown: content, titles, descriptions and fields."""
    parts = [message.content] + [part for e in message.embeds for part in (e.title or "", e.description or "")]
    return parts + [part for e in message.embeds for f in e.fields for part in (f.name or "", f.value or "")]


@pytest.fixture(scope="module")
def seed_searcher() -> Searcher:
    return Library.open(SEED_CORPUS, StoreSettings(cache=False)).searcher


def test_longest_seed_paragraph_fits_the_limits(seed_searcher: Searcher) -> None:
    longest = max(seed_searcher.passages, key=lambda p: len(p.text))
    question = longest.text[:100]
    hits = seed_searcher.search(question, len(seed_searcher.passages)).hits
    top = [h for h in hits if h.passage == longest] + [h for h in hits if h.passage != longest][:9]
    assert len(longest.text) > 600
    assert_within_limits(render_answer(answered(*top, question=question), echo_question=True))


def test_quote_of_a_seed_paragraph_shows_its_text_unchanged(seed_searcher: Searcher) -> None:
    ans = answer(seed_searcher, "北京城市副中心政务服务中心什么时候投入运行？", 3)
    top = ans.hits[0]
    quote = highlighted_quote(top, 900)
    assert visible(quote) == excerpt(top.passage.text, top.sentence, 900)[0]


def test_query_terms_are_bold(seed_searcher: Searcher) -> None:
    ans = answer(seed_searcher, "衢州市副市长是谁？", 3)
    quote = highlighted_quote(ans.hits[0], 900)
    assert "衢州市副市长" in bold_text(quote)
    assert all(run in ans.hits[0].passage.text for run in bold_text(quote))


def test_five_thousand_character_paragraph_fits_the_limits() -> None:
    text = ("运河公园的湿地观鸟台每天吸引上千名游客，" * 250)[:5000]
    message = render_answer(answered(hit(passage(text), terms=("观鸟台", "游客"))))
    assert len(message.embeds) == 1
    assert_within_limits(message)
    assert "**观鸟台**" in message.embeds[0].description


def test_ten_long_hits_stay_within_the_total_limit() -> None:
    # Ten hits with the longest title, heading and path a corpus can give and text that doubles when
    # escaped: each embed alone fits, but together they must share the 6,000 characters.
    text = ("*_~`|>#[]-\\" * 500)[:5000]
    title = "标题" * 300
    file = "/".join(["很长的目录名称" * 10] * 5) + "/文章.txt"
    hits = [hit(passage(text, title=title, file=file, number=n), rank=n, terms=("#[",)) for n in range(1, 11)]
    message = render_answer(answered(*hits), echo_question=True)
    assert_within_limits(message)
    assert len(message.embeds) == 10


def test_hostile_paragraph_never_pings_or_links() -> None:
    message = render_answer(answered(hit(passage(HOSTILE, title=f"@everyone {ROLE} [标题](https://evil.example)"))))
    for text in shown_text(message):
        assert not FORBIDDEN.search(text), text


def test_hostile_paragraph_shows_its_text_unchanged() -> None:
    h = hit(passage(HOSTILE), terms=("markdown", "everyone", "evil"))
    assert visible(highlighted_quote(h, 900)) == HOSTILE


def test_hostile_question_echo_never_pings_and_fits() -> None:
    question = (f"@everyone {ROLE} [链接](https://evil.example) **问题** " * 100)[:2000]
    ans = Answer(question, Status.NOT_COVERED)
    message = render_answer(ans, echo_question=True)
    assert_within_limits(message)
    assert not FORBIDDEN.search(message.content)
    assert message.content.startswith("**问：**")


def test_declined_answer_is_one_short_embed() -> None:
    message = render_answer(Answer("今天上海的天气怎么样？", Status.NOT_COVERED))
    assert [e.description for e in message.embeds] == [MESSAGES[Status.NOT_COVERED]]
    assert message.content == ""


@pytest.mark.parametrize(
    "text",
    [
        "@everyone",
        "@Here",
        "<@123456789012345678>",
        "<@!123456789012345678>",
        ROLE,
        "<#123456789012345678>",
        "[a link](https://evil.example)",
        "https://evil.example",
        "discord.gg/abcdef",
        "详见https://evil.example",
        "请加入discord.gg/abcdef",
        "</ask:123456789012345678>",
    ],
)
def test_neutralise_breaks_pings_and_links(text: str) -> None:
    shown = neutralise(text)
    assert not FORBIDDEN.search(shown)
    assert visible(shown) == text


# Text made of the characters that matter here: markdown, mention and link syntax, CJK and spaces.
hostile_text = st.lists(
    st.sampled_from([*"*_~`|>#[]()-\\@<>&!:/.1 \n", "everyone", "here", "https", "discord.gg", "中", "文"]),
    max_size=150,
).map("".join)


@settings(max_examples=200, deadline=None)
@given(text=hostile_text)
@example(text="_://")  # found by hypothesis: an underscore before :// was left linkable
def test_neutralised_text_shows_as_it_is_and_never_pings(text: str) -> None:
    shown = neutralise(text)
    assert visible(shown) == text
    assert not FORBIDDEN.search(shown)


@settings(max_examples=200, deadline=None)
@given(text=hostile_text, data=st.data())
def test_highlighted_quote_keeps_its_markers_balanced(text: str, data: st.DataObject) -> None:
    n = len(text)
    if not n:
        return
    bounds = sorted(data.draw(st.lists(st.integers(0, n), max_size=8)))
    spans = tuple((a, b) for a, b in zip(bounds[::2], bounds[1::2], strict=False) if a < b)
    start = data.draw(st.integers(0, n - 1))
    sentence = (start, data.draw(st.integers(start + 1, n)))
    quote = highlighted_quote(Hit(passage(text), 1.0, 1, (), 1.0, spans, sentence), budget=n)
    # Every marker pairs up as Discord reads it: the text shows unchanged, bold exactly where asked.
    assert visible(quote) == text
    assert squeezed("".join(bold_text(quote))) == squeezed("".join(text[a:b] for a, b in spans))


def squeezed(text: str) -> str:
    """Text without whitespace (a run of only spaces is left unbolded: there is nothing to see)."""
    return re.sub(r"\s", "", text)


def dated(date: str | None = None, url: str | None = None) -> Hit:
    p = Passage(text="三号码头扩建工程今天开工。", title="港口码头扩建", file="port.md", paragraph=2, source="港城日报")
    return hit(replace(p, date=date, url=url))


def test_footer_shows_the_date_beside_the_source() -> None:
    (embed,) = render_answer(answered(dated("2024-03-05"))).embeds
    assert embed.footer.text == "港城日报 · 2024-03-05 · 第 2 段 · port.md"


def test_footer_shows_a_dateline_date_without_a_year_in_chinese() -> None:
    (embed,) = render_answer(answered(dated("--10-26"))).embeds
    assert embed.footer.text.startswith("港城日报 · 10月26日 · ")


def test_embed_title_links_to_the_articles_url() -> None:
    (embed,) = render_answer(answered(dated(url="https://example.org/port?id=1"))).embeds
    assert embed.url == "https://example.org/port?id=1"


def test_dated_and_linked_hits_stay_within_the_limits() -> None:
    hits = [
        hit(replace(dated("2024-03-05", "https://example.org/" + "a" * 1900).passage, title="长" * 300), rank=r)
        for r in range(1, 11)
    ]
    assert_within_limits(render_answer(answered(*hits)))


def test_empty_corpus_is_one_short_embed_saying_so() -> None:
    message = render_answer(Answer("码头什么时候开工？", Status.EMPTY_CORPUS))
    assert [e.description for e in message.embeds] == [MESSAGES[Status.EMPTY_CORPUS]]
    assert "资料库是空的" in message.embeds[0].description


def test_copies_are_listed_under_the_quote(doubled_searcher: Searcher) -> None:
    message = render_answer(answer(doubled_searcher, "北京城市副中心政务服务中心什么时候投入运行？"))
    assert_within_limits(message)
    (field,) = message.embeds[0].fields
    assert field.name == ALSO_IN
    assert visible(field.value) == f"智慧城市建设加速释放数据要素红利 · 经济参考报 · {SEED_COPY_FILE} 第 3 段"


def test_a_hit_without_copies_has_no_field(seed_searcher: Searcher) -> None:
    message = render_answer(answer(seed_searcher, "北京城市副中心政务服务中心什么时候投入运行？"))
    assert all(not e.fields for e in message.embeds)


def test_ten_hits_with_many_hostile_copies_stay_within_limits_and_never_ping() -> None:
    text = ("*_~`|>#[]-\\" * 500)[:5000]
    title = f"@everyone {ROLE} [标题](https://evil.example) " * 20
    file = "/".join(["很长的目录名称" * 10] * 5) + "/文章.txt"
    copies = tuple(passage(text, title=title, file=file, number=n) for n in range(1, 31))
    hits = [
        replace(hit(passage(text, title=title, file=file, number=n), rank=n), duplicates=copies) for n in range(1, 11)
    ]
    message = render_answer(answered(*hits), echo_question=True)
    assert_within_limits(message)
    assert all(e.fields for e in message.embeds)
    for shown in shown_text(message):
        assert not FORBIDDEN.search(shown), shown
