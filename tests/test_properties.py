"""Any text at all — emoji, control and zero-width characters, lone surrogates, right-to-left marks,
100,000 characters, punctuation or stop words only — is normalised, segmented, searched, answered and
rendered for Discord without an exception, and the rendering stays inside Discord's limits and pings nobody."""

from __future__ import annotations

import itertools
import json
import re
import unicodedata

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from wenda.bot.answer import MAX_QUESTION_CHARS, Answer, Status, answer
from wenda.bot.discord_render import (
    CONTENT_LIMIT,
    EMBED_DESCRIPTION_LIMIT,
    EMBED_FOOTER_LIMIT,
    EMBED_TITLE_LIMIT,
    EMBED_TOTAL_LIMIT,
    EMBEDS_PER_MESSAGE,
    render_answer,
)
from wenda.retrieval.corpus import Passage
from wenda.retrieval.search import Searcher
from wenda.retrieval.text import Analyzer, normalise, normalise_with_offsets

# Every general category, surrogates (Cs) and unassigned code points (Cn) included.
ALL_CHARACTERS = st.characters(codec=None, exclude_categories=())
# What a corpus file can hold: the reader replaces lone surrogates (JSON and YAML can spell them).
FILE_CHARACTERS = st.characters(codec=None, exclude_categories=("Cs",))
SURROGATES = st.characters(categories=["Cs"])
INVISIBLE = st.sampled_from(
    [
        "\u200b",  # zero-width space
        "\u200c",  # zero-width non-joiner
        "\u200d",  # zero-width joiner
        "\u2060",  # word joiner
        "\ufeff",  # byte order mark
        "\u200e",  # left-to-right mark
        "\u200f",  # right-to-left mark
        "\u202e",  # right-to-left override
        "\u2066",  # left-to-right isolate
        "\x00",
        "\x1b",
        "\x7f",
        "\r",
        "\u2028",  # line separator
        "\u0301",  # a combining accent with nothing to combine with
    ]
)
# Pieces that reach the interesting paths: words the seed corpus answers about, pings, markdown, links.
FRAGMENTS = st.sampled_from(
    [
        "北京城市副中心政务服务中心",
        "什么时候投入运行",
        "衢州市副市长",
        "是谁",
        "智慧城市",
        "数据要素",
        "党的二十大",
        "@everyone",
        "@here",
        "<@123456789012345678>",
        "<@&123456789012345678>",
        "<#123456789012345678>",
        "**粗体**",
        "__下划线__",
        "[链接](https://evil.example)",
        "https://evil.example",
        "discord.gg/abc",
        "`代码`",
        "> 引用",
        "的了吗",
        "？！。，",
        "🎉👍🏽🇨🇳",
        "ﬁ ① Ⅻ ＡＢＣ",
        "臺灣資訊",
        "مرحبا",
        "1. ",
    ]
)
QUESTIONS = st.one_of(
    st.text(ALL_CHARACTERS, max_size=300),
    st.text(st.one_of(ALL_CHARACTERS, SURROGATES, INVISIBLE), max_size=100),
    st.lists(st.one_of(FRAGMENTS, st.text(st.one_of(ALL_CHARACTERS, INVISIBLE), max_size=5)), max_size=12).map("".join),
)

LONG = 100_000
# Explicit examples hypothesis would not find on its own: huge inputs and the degenerate kinds.
HARD_EXAMPLES = [
    "北" * LONG,  # one character jieba knows no word for, all the way
    "的" * LONG,  # a stop word, all the way
    "\ud800" * LONG,
    "@everyone " * (LONG // 10),
    "北京城市副中心政务服务中心" * 1000,
    "\udc00北京\ud83d",
    "的了吗呢吧啊" * 10,  # stop words only
    "。，！？、；：「」『』（）" * 10,  # punctuation only
    "!?.,;:'\"()[]{}<>" * 10,
    "a" * 5000,
    "The quick brown fox 12345",
    "1234567890" * 500,
    "\u200b" * 5000,
    "\u202e\u200f北京城市副中心政务服务中心\u202c什么时候投入运行？",
    "<@123456789012345678>" * 100,
    "",
    " \t\n\u3000",
]


def with_hard_examples(*more: object):
    def decorate(test):
        for text in HARD_EXAMPLES:
            test = example(text, *more)(test)
        return test

    return decorate


PROPERTY_SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def has_surrogate(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cs" for ch in text)


# -- normalisation and segmentation -------------------------------------------------------------


@PROPERTY_SETTINGS
@given(QUESTIONS)
@with_hard_examples()
def test_normalise_returns_encodable_text(text: str) -> None:
    normalised = normalise(text)
    assert not has_surrogate(normalised)
    normalised.encode("utf-8")


@PROPERTY_SETTINGS
@given(QUESTIONS)
@with_hard_examples()
def test_normalise_with_offsets_maps_every_character_back(text: str) -> None:
    normalised, origin = normalise_with_offsets(text)
    assert len(origin) == len(normalised)
    assert origin == sorted(origin)
    assert all(0 <= i < len(text) for i in origin)


@PROPERTY_SETTINGS
@given(QUESTIONS)
@with_hard_examples()
def test_terms_lie_inside_the_normalised_text(analyzer: Analyzer, text: str) -> None:
    normalised = normalise(text)
    for term in analyzer.terms(text):
        assert 0 <= term.start < term.end <= len(normalised)
        assert normalised[term.start : term.end] == term.text


@PROPERTY_SETTINGS
@given(QUESTIONS)
@with_hard_examples()
def test_tokens_are_nonempty_and_carry_no_surrogate(analyzer: Analyzer, text: str) -> None:
    tokens = analyzer.tokens(text)
    assert all(token and not has_surrogate(token) for token in tokens)
    # A question's n-grams inside its interrogative part (哪一个, 多少) are left out.
    assert set(analyzer.query_tokens(text)) <= set(tokens)


# Words and bigrams of the fragments above, as a search would ask spans() to mark them.
WANTED = {"北京", "城市", "副市长", "\x012北京", "\x012中心", "everyone", "here", "123456789012345678"}


@PROPERTY_SETTINGS
@given(QUESTIONS)
@with_hard_examples()
def test_spans_are_sorted_disjoint_and_inside_the_text(analyzer: Analyzer, text: str) -> None:
    spans = analyzer.spans(text, WANTED)
    assert all(0 <= start < end <= len(text) for start, end in spans)
    assert all(end < following for (_, end), (following, _) in itertools.pairwise(spans))


# -- search and answers --------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(QUESTIONS)
@with_hard_examples()
def test_search_returns_consistent_hits(seed_searcher: Searcher, text: str) -> None:
    result = seed_searcher.search(text, 3)
    assert len(result.hits) <= 3
    assert [hit.rank for hit in result.hits] == list(range(1, len(result.hits) + 1))
    for hit in result.hits:
        assert 0.0 <= hit.relevance <= 1.0 + 1e-9
        assert all(0 <= s < e <= len(hit.passage.text) for s, e in hit.term_spans)
        assert hit.sentence is None or 0 <= hit.sentence[0] < hit.sentence[1] <= len(hit.passage.text)


@PROPERTY_SETTINGS
@given(QUESTIONS)
@with_hard_examples()
def test_answer_has_a_status_and_a_storable_question(seed_searcher: Searcher, text: str) -> None:
    ans = answer(seed_searcher, text)
    assert isinstance(ans.status, Status)
    assert ans.answered == bool(ans.hits)
    assert (ans.status is Status.TOO_LONG) == (len(text.strip()) > MAX_QUESTION_CHARS)
    # The question is echoed to Discord and stored in SQLite: it must be valid Unicode text.
    ans.question.encode("utf-8")


# -- Discord rendering ---------------------------------------------------------------------------

# A live ping: @everyone or @here with nothing between the @ and the word, or Discord's <@…> syntax.
LIVE_MENTION = re.compile(r"@(?:everyone|here)|<@", re.IGNORECASE)
# A link Discord takes for an embed: http(s), a host name, then printable ASCII only (it answers
# "Not a well formed URL" to spaces and the like, and refuses the whole message).
WELL_FORMED_URL = re.compile(
    r"https?://[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::\d{1,5})?(?:[/?#][!-~]*)?", re.IGNORECASE
)


def assert_fits_discord(ans: Answer, echo: bool) -> None:
    message = render_answer(ans, echo_question=echo)
    assert message.content or message.embeds
    assert len(message.content) <= CONTENT_LIMIT
    assert len(message.embeds) <= EMBEDS_PER_MESSAGE
    assert sum(len(embed) for embed in message.embeds) <= EMBED_TOTAL_LIMIT
    for embed in message.embeds:
        assert len(embed.title or "") <= EMBED_TITLE_LIMIT
        assert len(embed.description or "") <= EMBED_DESCRIPTION_LIMIT
        assert len(embed.footer.text or "") <= EMBED_FOOTER_LIMIT
        assert embed.url is None or (len(embed.url) <= 2000 and WELL_FORMED_URL.fullmatch(embed.url)), embed.url
    # What Discord parses for mentions and markdown; footers are shown as plain text.
    for text in [
        message.content,
        *(e.title or "" for e in message.embeds),
        *(e.description or "" for e in message.embeds),
    ]:
        assert not LIVE_MENTION.search(text), text
    # The payload discord.py sends must serialise and encode.
    payload = {"content": message.content, "embeds": [embed.to_dict() for embed in message.embeds]}
    json.dumps(payload, ensure_ascii=False).encode("utf-8")


@PROPERTY_SETTINGS
@given(QUESTIONS, st.booleans())
@with_hard_examples(True)
def test_rendered_answer_fits_discord_and_pings_nobody(seed_searcher: Searcher, text: str, echo: bool) -> None:
    assert_fits_discord(answer(seed_searcher, text, k=10), echo)


PASSAGE_TEXT = st.lists(st.one_of(FRAGMENTS, st.text(st.one_of(FILE_CHARACTERS, INVISIBLE), max_size=40)), max_size=30)


@st.composite
def corpora(draw: st.DrawFn) -> list[Passage]:
    """A few passages whose every field is arbitrary text, the way a hostile corpus file could make them."""
    field = st.lists(st.one_of(FILE_CHARACTERS, INVISIBLE, FRAGMENTS), max_size=60).map("".join)
    passages = []
    for number in range(draw(st.integers(1, 12))):
        text = "".join(draw(PASSAGE_TEXT)) or "北京"
        passages.append(
            Passage(
                text=text * draw(st.sampled_from([1, 1, 1, 40])),  # sometimes far over the quote budget
                title=draw(field) or "标题",
                file=draw(field) or "a.txt",
                paragraph=number + 1,
                source=draw(st.none() | field),
                heading=draw(st.none() | field),
                url=draw(
                    st.none() | st.just("https://example.org/" + "x" * 3000) | field | field.map("https://".__add__)
                ),
            )
        )
    return passages


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(corpora(), st.data())
def test_passages_of_any_text_render_within_limits_and_ping_nobody(
    analyzer: Analyzer, passages: list[Passage], data: st.DataObject
) -> None:
    # Corpus text reaches the reader through the same analyzer; questions drawn from the passages
    # themselves make sure most examples are answered, with quotes, titles and footers to render.
    searcher = Searcher.build(passages, analyzer)
    source = data.draw(st.sampled_from(passages)).text
    start = data.draw(st.integers(0, max(0, len(source) - 1)))
    question = source[start : start + data.draw(st.integers(1, 60))]
    ans = answer(searcher, question, k=10)
    assert_fits_discord(ans, echo=True)


@pytest.mark.parametrize("question", ["北京城市副中心政务服务中心什么时候投入运行？", "衢州市副市长是谁？"])
def test_seed_questions_are_still_answered(seed_searcher: Searcher, question: str) -> None:
    # The properties above would pass vacuously if nothing were ever answered.
    assert answer(seed_searcher, question).answered
