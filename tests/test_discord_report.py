"""/report on Discord, through the stand-in: for admins only, private, escaped; and the questions it counts."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from bot_fixtures import feedback_path_fixture, make_bot_fixture, seed_library_fixture  # noqa: F401  (fixtures)
from discord_standin import DiscordStandin
from standin_fixtures import standin_fixture  # noqa: F401  (provides the standin fixture)
from test_discord_bot import (
    BEIJING,
    EPHEMERAL,
    FORBIDDEN,
    WEATHER,
    ask,
    assert_mentions_nobody,
    custom_ids,
    follow_up,
    plain,
    sent_by_bot,
    texts,
)

from wenda.bot.answer import Answer, Status
from wenda.bot.discord_bot import NOT_ALLOWED_TEXT, WendaBot
from wenda.bot.feedback import FeedbackStore

INJECTION = "@everyone **公积金** [提取](https://evil.example) <@&123456789012345678> 怎么办"


def seed(path: Path, *questions: tuple[str, Status]) -> None:
    """Record questions as asked a second apart, oldest first, over the last minute."""
    store = FeedbackStore(path)
    start = time.time() - 60
    try:
        for n, (question, status) in enumerate(questions):
            store.record_question(Answer(question, status), 42, when=start + n)
    finally:
        store.close()


async def report(standin: DiscordStandin, bot: WendaBot, **options: int) -> dict:
    async with standin.running(bot):
        invoked = await standin.invoke_slash("report", options, user=standin.manager)
        deferred = await standin.wait_for_reply(invoked)
        sent = await follow_up(standin, invoked)
    assert deferred.json["type"] == 5 and deferred.json["data"]["flags"] & EPHEMERAL
    assert sent.status == 200  # inside every limit the stand-in checks
    return sent.json


async def test_report_shows_an_admin_the_counts_and_the_gaps(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], feedback_path: Path
) -> None:
    seed(
        feedback_path,
        (WEATHER, Status.NOT_COVERED),
        ("上海明天天气如何", Status.NOT_COVERED),
        (BEIJING, Status.ANSWERED),
    )
    sent = await report(standin, make_bot())
    assert sent["flags"] & EPHEMERAL
    [embed] = sent["embeds"]
    assert embed["title"] == "问答报告：最近 7 天"
    lines = plain(embed["description"]).splitlines()
    assert lines[0] == "提问 3 次：回答 1，未覆盖 2 · 👍 0 · 👎 0"
    assert lines[2].startswith("2 次 · 上海、天气 · ")
    assert lines[2].endswith(f"例：上海明天天气如何 / {WEATHER}")


async def test_report_is_refused_to_a_member_without_manage_server(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], feedback_path: Path
) -> None:
    seed(feedback_path, (WEATHER, Status.NOT_COVERED))
    async with standin.running(make_bot()):
        refused = await standin.wait_for_reply(await standin.invoke_slash("report", user=standin.member))
    assert refused.json["type"] == 4
    assert refused.json["data"]["content"] == NOT_ALLOWED_TEXT
    assert refused.json["data"]["flags"] & EPHEMERAL


async def test_report_of_a_stored_ping_and_markdown_pings_nobody_and_shows_the_text(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], feedback_path: Path
) -> None:
    seed(feedback_path, (INJECTION, Status.NOT_COVERED))
    sent = await report(standin, make_bot())
    assert_mentions_nobody(sent)
    for text in texts(sent):
        assert not FORBIDDEN.search(text), text
    assert "\\*\\*公积金\\*\\*" in sent["embeds"][0]["description"]  # shown as asterisks, not bold
    assert INJECTION in plain(sent["embeds"][0]["description"])  # every character shown as typed
    for message in standin.messages.values():
        assert (message["mention_everyone"], message["mention_roles"]) == (False, [])
    assert len(sent_by_bot(standin)) == 1


async def test_report_days_leaves_out_older_questions(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], feedback_path: Path
) -> None:
    store = FeedbackStore(feedback_path)
    store.record_question(Answer(WEATHER, Status.NOT_COVERED), 42, when=0.0)  # 1970
    store.close()
    sent = await report(standin, make_bot(), days=30)
    lines = plain(sent["embeds"][0]["description"]).splitlines()
    assert sent["embeds"][0]["title"] == "问答报告：最近 30 天"
    assert lines == ["提问 0 次：回答 0，未覆盖 0 · 👍 0 · 👎 0"]


async def test_every_question_asked_is_counted_once_with_its_outcome(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], feedback_path: Path
) -> None:
    async with standin.running(make_bot(top_k=1)):
        _, reply = await ask(standin, BEIJING)
        more = next(c for c in custom_ids(reply.json) if c.startswith("wenda:more:"))
        await follow_up(standin, await standin.click_button(int(reply.response["id"]), more))  # not a new question
        await ask(standin, WEATHER)
    store = FeedbackStore(feedback_path)
    try:
        asked = [(q.question, q.status) for q in store.questions_since(0)]
    finally:
        store.close()
    assert asked == [(BEIJING, "answered"), (WEATHER, "not_covered")]


async def test_report_command_and_its_option_are_localised(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot]
) -> None:
    async with standin.running(make_bot()):
        pass
    command = next(c for c in standin.commands[None] if c["name"] == "report")
    assert command["name_localizations"] == {"zh-CN": "报告", "en-US": "report"}
    assert command["default_member_permissions"] is None  # is_admin decides, as for /reindex
    [days] = command["options"]
    assert (days["name"], days["required"], days["min_value"], days["max_value"]) == ("days", False, 1, 366)
    assert days["name_localizations"] == {"zh-CN": "天数", "en-US": "days"}


@pytest.fixture
def corpus(seed_corpus: Path) -> Path:
    return seed_corpus


async def test_a_long_report_stays_inside_discords_limits(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], feedback_path: Path
) -> None:
    chars = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]
    rng = random.Random(7)
    questions = ["".join(rng.choice(chars) for _ in range(200)) for _ in range(40)]
    seed(feedback_path, *((q, Status.NOT_COVERED) for q in questions))
    sent = await report(standin, make_bot())
    assert 1 <= len(sent["embeds"]) <= 10
    assert sum(len(e["title"]) + len(e["description"]) for e in sent["embeds"]) <= 6000
    assert plain(sent["embeds"][-1]["description"]).splitlines()[-1].startswith("另有 25 组未列出")
