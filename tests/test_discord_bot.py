"""WendaBot end to end: the real discord.py client talks to the Discord stand-in over a socket."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from bot_fixtures import SEED, feedback_path_fixture, make_bot_fixture, open_library, seed_library_fixture  # noqa: F401  (fixtures)
from conftest import BEIJING, BEIJING_GOLD, QUZHOU, QUZHOU_GOLD, SMART_CITY
from discord_standin import INTENT_MESSAGE_CONTENT, DiscordStandin, RecordedRequest
from standin_fixtures import follow_up, plain, standin_fixture  # noqa: F401  (standin_fixture: the fixture)

from wenda.bot import discord_bot
from wenda.bot.answer import MESSAGES, Status
from wenda.bot.discord_bot import (
    ERROR_TEXT,
    NO_MORE_TEXT,
    NOT_ALLOWED_TEXT,
    THANKS_TEXT,
    BotError,
    WendaBot,
    serve,
)
from wenda.bot.settings import Settings
from wenda.retrieval.store import Library

XI_TITLE = "习近平:全面学习把握落实党的二十大精神 奋力夺取全面建设社会主义现代化国家新胜利"
BEIJING_NEXT = "北京城市副中心政务服务中心相关负责人介绍"
WEATHER = "今天上海的天气怎么样？"
EPHEMERAL = 1 << 6
ROLE = "<@&123456789012345678>"
# What must never reach Discord raw: pings, mentions, masked links (an unescaped "]("), links.
FORBIDDEN = re.compile(r"@everyone|@here|<[@#]|(?<!\\)\]\(|\w://", re.IGNORECASE)


@pytest.fixture
def corpus(seed_corpus: Path) -> Path:
    return seed_corpus


async def ask(standin: DiscordStandin, question: str, **kwargs: Any) -> tuple[RecordedRequest, RecordedRequest]:
    """/ask question: the first interaction callback, and the follow-up that carries the answer."""
    asked = await standin.invoke_slash("ask", {"question": question}, **kwargs)
    first = await standin.wait_for_reply(asked)
    return first, await follow_up(standin, asked)


# How long a test waits for a whole-corpus rebuild's answer (a wait, not a speed requirement).
REBUILD_SECONDS = 60.0


def custom_ids(payload: dict[str, Any]) -> list[str]:
    return [button["custom_id"] for row in payload.get("components") or [] for button in row["components"]]


def answer_id(payload: dict[str, Any]) -> int:
    """The stored answer's id, from the custom ids of the buttons under it."""
    ids = {int(custom_id.split(":")[2]) for custom_id in custom_ids(payload)}
    assert len(ids) == 1, ids
    return ids.pop()


def texts(payload: dict[str, Any]) -> list[str]:
    """Every text of a message payload that Discord renders: content, embed titles, descriptions, footers."""
    found = [payload.get("content") or ""]
    for embed in payload.get("embeds") or []:
        found += [embed.get("title") or "", embed.get("description") or "", (embed.get("footer") or {}).get("text", "")]
    return found


def sent_by_bot(standin: DiscordStandin) -> list[dict[str, Any]]:
    """The payload of every message the bot sent or edited: posts, replies, callbacks, follow-ups."""
    payloads = []
    for request in standin.requests:
        if request.method not in ("POST", "PATCH") or request.json is None:
            continue
        if request.path.endswith("/callback"):
            if request.json["type"] in (4, 7):
                payloads.append(request.json["data"])
        elif re.fullmatch(r"/channels/\d+/messages(/\d+)?|/webhooks/.+", request.path):
            payloads.append(request.json)
    return payloads


def assert_mentions_nobody(payload: dict[str, Any]) -> None:
    allowed = payload["allowed_mentions"]
    assert allowed["parse"] == []
    assert not (allowed.get("users") or allowed.get("roles") or allowed.get("replied_user")), allowed


def channel_posts(standin: DiscordStandin, after: int = 0) -> list[RecordedRequest]:
    """Messages the bot posted in any channel (replies to messages), from request number `after` on."""
    return [
        r for r in standin.requests[after:] if r.method == "POST" and re.fullmatch(r"/channels/\d+/messages", r.path)
    ]


# -- answering --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "gold", "paragraph", "bold"),
    [
        (BEIJING, BEIJING_GOLD, 3, "北京城市副中心政务服务中心"),
        (QUZHOU, QUZHOU_GOLD, 6, "衢州市副市长"),
    ],
    ids=["beijing", "quzhou"],
)
async def test_ask_quotes_the_gold_passage_with_its_citation(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], question: str, gold: str, paragraph: int, bold: str
) -> None:
    async with standin.running(make_bot()):
        _, reply = await ask(standin, question)
    assert reply.status == 200
    top = reply.json["embeds"][0]
    assert plain(top["description"]).startswith(gold)
    assert SMART_CITY in top["title"]
    assert "经济参考报" in top["footer"]["text"]
    assert f"第 {paragraph} 段" in top["footer"]["text"]
    assert f"**{bold}**" in top["description"]
    assert plain(reply.json["content"]).endswith(question)


async def test_mention_in_a_guild_channel_is_answered(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot]
) -> None:
    async with standin.running(make_bot()):
        sent = await standin.send_message(f"{standin.bot_user.mention} {QUZHOU}", mentions=[standin.bot_user])
        reply = await standin.wait_for_reply(sent)
    assert reply.status == 200
    assert reply.json["message_reference"]["message_id"] == sent.id
    assert plain(reply.json["embeds"][0]["description"]).startswith(QUZHOU_GOLD)


async def test_direct_message_is_answered(standin: DiscordStandin, make_bot: Callable[..., WendaBot]) -> None:
    async with standin.running(make_bot()):
        sent = await standin.send_message(BEIJING, guild=False)
        reply = await standin.wait_for_reply(sent)
    assert reply.status == 200
    assert reply.path == f"/channels/{standin.dm_channel_id(standin.member)}/messages"
    assert plain(reply.json["embeds"][0]["description"]).startswith(BEIJING_GOLD)


async def test_guild_message_without_a_mention_is_ignored(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot]
) -> None:
    async with standin.running(make_bot()):
        ignored = await standin.send_message(BEIJING)
        # A question that is answered afterwards shows the bot has handled the first message.
        asked = await standin.send_message(f"{standin.bot_user.mention} {QUZHOU}", mentions=[standin.bot_user])
        await standin.wait_for_reply(asked)
    assert standin.identify is not None
    assert not standin.identify["intents"] & INTENT_MESSAGE_CONTENT
    replied_to = [r.json["message_reference"]["message_id"] for r in channel_posts(standin, ignored.mark)]
    assert replied_to == [asked.id]


async def test_messages_from_bots_and_from_itself_are_ignored(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot]
) -> None:
    mention = f"{standin.bot_user.mention} {BEIJING}"
    async with standin.running(make_bot()):
        first = await standin.send_message(mention, author=standin.other_bot, mentions=[standin.bot_user])
        await standin.send_message(BEIJING, author=standin.other_bot, guild=False)
        await standin.send_message(mention, author=standin.bot_user, mentions=[standin.bot_user])
        asked = await standin.send_message(QUZHOU, guild=False)
        await standin.wait_for_reply(asked)
    replied_to = [r.json["message_reference"]["message_id"] for r in channel_posts(standin, first.mark)]
    assert replied_to == [asked.id]


async def test_question_the_corpus_does_not_cover_is_declined_briefly(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot]
) -> None:
    async with standin.running(make_bot()):
        _, reply = await ask(standin, WEATHER)
    assert [plain(e["description"]) for e in reply.json["embeds"]] == [MESSAGES[Status.NOT_COVERED]]
    assert not reply.json.get("components")  # nothing to vote on, nothing more to show


async def test_too_long_question_is_refused_clearly(standin: DiscordStandin, make_bot: Callable[..., WendaBot]) -> None:
    async with standin.running(make_bot()):
        _, reply = await ask(standin, "北京" * 251)
    assert reply.status == 200
    assert [plain(e["description"]) for e in reply.json["embeds"]] == [MESSAGES[Status.TOO_LONG]]


async def test_long_corpus_paragraphs_are_quoted_within_discord_limits(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], corpus: Path
) -> None:
    sentence = "运河公园的**观鸟台**每天吸引上千名游客，[详情](https://evil.example) _欢迎_ #参观# ~~门票~~ `免费`。"
    # Each sentence opens differently: a paragraph repeating one sentence splits into passages that are
    # copies of one another, and copies are quoted once (dedup.py).
    rng = random.Random(5)
    opening = "山水花鸟云月风雨春夏秋冬东南西北红黄蓝绿金木火土日星河湖海江石林竹松梅兰菊桥路城村"
    paragraphs = [
        (f"第{n}段：" + "".join("".join(rng.choices(opening, k=8)) + sentence for _ in range(100)))[:5000]
        for n in range(5)
    ]
    (corpus / "long.txt").write_text("运河公园观鸟台\n" + "\n".join(paragraphs) + "\n", encoding="utf-8")
    async with standin.running(make_bot(open_library(corpus), top_k=10)):
        _, reply = await ask(standin, "运河公园的观鸟台每天吸引多少游客？")
    assert reply.status == 200  # the stand-in answers 400 to anything over Discord's limits
    assert len(reply.json["embeds"]) == 10
    assert all("观鸟台" in plain(embed["description"]) for embed in reply.json["embeds"])


# -- buttons and feedback ---------------------------------------------------------------------


async def test_more_button_shows_the_next_passages(standin: DiscordStandin, make_bot: Callable[..., WendaBot]) -> None:
    async with standin.running(make_bot(top_k=1)):
        _, reply = await ask(standin, BEIJING)
        more = f"wenda:more:{answer_id(reply.json)}:1"
        clicked = await standin.click_button(int(reply.response["id"]), more)
        deferred = await standin.wait_for_reply(clicked)
        page = await follow_up(standin, clicked)
    assert custom_ids(reply.json)[0] == more
    assert plain(reply.json["embeds"][0]["description"]).startswith(BEIJING_GOLD)
    assert deferred.json["type"] == 5
    assert page.status == 200
    assert page.json["flags"] & EPHEMERAL
    assert [plain(e["description"])[: len(BEIJING_NEXT)] for e in page.json["embeds"]] == [BEIJING_NEXT]


async def test_more_after_the_last_passage_says_so(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], corpus: Path
) -> None:
    # 更多 is shown only when there is a next passage, so the last one must vanish after it is shown:
    # the corpus loses the next passage, and 更多 is clicked on the answer from before.
    bot = make_bot(open_library(corpus), top_k=1)
    async with standin.running(bot):
        _, reply = await ask(standin, BEIJING)
        more = f"wenda:more:{answer_id(reply.json)}:1"
        assert more in custom_ids(reply.json)
        seed = corpus / SEED.name
        kept = [line for line in seed.read_text(encoding="utf-8").splitlines() if BEIJING_NEXT not in line]
        seed.write_text("\n".join(kept) + "\n", encoding="utf-8")
        await asyncio.to_thread(bot.library.rebuild)
        clicked = await standin.click_button(int(reply.response["id"]), more)
        last = await follow_up(standin, clicked)
    assert last.json["content"] == NO_MORE_TEXT
    assert last.json["flags"] & EPHEMERAL


async def test_more_is_shown_only_when_there_is_a_next_passage(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot]
) -> None:
    # BEIJING has two credible passages: one per page shows 更多 once, and never on the last page.
    async with standin.running(make_bot(top_k=1)):
        _, reply = await ask(standin, BEIJING)
        clicked = await standin.click_button(int(reply.response["id"]), f"wenda:more:{answer_id(reply.json)}:1")
        page = await follow_up(standin, clicked)
    assert [c for c in custom_ids(reply.json) if c.startswith("wenda:more:")]
    assert plain(page.json["embeds"][0]["description"]).startswith(BEIJING_NEXT)
    assert not [c for c in custom_ids(page.json) if c.startswith("wenda:more:")]
    assert len([c for c in custom_ids(page.json) if c.startswith("wenda:vote:")]) == 2


async def test_more_is_absent_when_every_credible_passage_is_shown(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot]
) -> None:
    async with standin.running(make_bot(top_k=2)):
        _, reply = await ask(standin, BEIJING)
    assert len(reply.json["embeds"]) == 2
    assert not [c for c in custom_ids(reply.json) if c.startswith("wenda:more:")]


async def test_votes_are_stored_with_question_passages_and_time(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], feedback_path: Path
) -> None:
    before = time.time()
    async with standin.running(make_bot()):
        _, reply = await ask(standin, BEIJING)
        message_id, aid = int(reply.response["id"]), answer_id(reply.json)
        up = await standin.click_button(message_id, f"wenda:vote:{aid}:up")
        thanks = await standin.wait_for_reply(up)
        down = await standin.click_button(message_id, f"wenda:vote:{aid}:down", user=standin.manager)
        await standin.wait_for_reply(down)
    after = time.time()
    assert thanks.json["data"]["content"] == THANKS_TEXT
    assert thanks.json["data"]["flags"] & EPHEMERAL
    with sqlite3.connect(feedback_path) as db:
        rows = db.execute(
            "SELECT a.question, a.passages, v.user_id, v.vote, v.created FROM votes v "
            "JOIN answers a ON a.id = v.answer_id ORDER BY v.vote DESC"
        ).fetchall()
    db.close()
    assert [(question, user, vote) for question, _, user, vote, _ in rows] == [
        (BEIJING, standin.member.id, 1),
        (BEIJING, standin.manager.id, -1),
    ]
    shown = json.loads(rows[0][1])
    assert [(p["file"], p["title"], p["paragraph"]) for p in shown] == [
        (SEED.name, SMART_CITY, 3),
        (SEED.name, SMART_CITY, 4),
    ]
    assert all(before <= created <= after for *_, created in rows)


async def test_buttons_still_work_after_a_restart(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], seed_library: Library
) -> None:
    old = make_bot(top_k=1)
    async with standin.running(old):
        _, reply = await ask(standin, BEIJING)
    old.feedback.close()
    message_id, aid = int(reply.response["id"]), answer_id(reply.json)

    new = make_bot(open_library(seed_library.root), top_k=1)  # a new process reads the index anew
    async with standin.running(new):
        up = await standin.click_button(message_id, f"wenda:vote:{aid}:up")
        thanks = await standin.wait_for_reply(up)
        more = await standin.click_button(message_id, f"wenda:more:{aid}:1")
        page = await follow_up(standin, more)
    assert thanks.json["data"]["content"] == THANKS_TEXT
    assert new.feedback.votes(aid) == {standin.member.id: 1}
    assert plain(page.json["embeds"][0]["description"]).startswith(BEIJING_NEXT)


# -- never pinging ----------------------------------------------------------------------------


async def test_mentions_in_questions_and_corpus_never_ping(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], corpus: Path
) -> None:
    pings = f"@everyone @here {ROLE} {standin.member.mention}"
    notice = (
        "运河公园公告 @everyone\n"
        f"运河公园夏季开放时间延长到晚上十点，{pings} 请看 [a link](https://evil.example) 和 **markdown** 说明，"
        "详见https://evil.example/x。\n"
        "园内新建的湿地观鸟台每天吸引上千名游客。\n"
        "公园管理处表示，骑行步道将于下月开放。\n"
    )
    (corpus / "notice.txt").write_text(notice, encoding="utf-8")
    question = f"{pings} 运河公园夏季开放时间延长到几点？"
    async with standin.running(make_bot(open_library(corpus))):
        _, answered = await ask(standin, question)
        sent = await standin.send_message(f"{standin.bot_user.mention} {question}", mentions=[standin.bot_user])
        replied = await standin.wait_for_reply(sent)
    for reply in (answered, replied):
        assert reply.status == 200
        assert "@everyone" in plain(reply.json["embeds"][0]["description"])  # shown, as text
    payloads = sent_by_bot(standin)
    assert len(payloads) == 2
    for payload in payloads:
        assert_mentions_nobody(payload)
        for text in texts(payload):
            assert not FORBIDDEN.search(text), text
    for message in standin.messages.values():
        if int(message["author"]["id"]) == standin.bot_user.id:
            assert (message["mention_everyone"], message["mentions"], message["mention_roles"]) == (False, [], [])


async def test_no_kind_of_reply_allows_a_mention(standin: DiscordStandin, make_bot: Callable[..., WendaBot]) -> None:
    manager = standin.manager
    async with standin.running(make_bot(top_k=1, cooldown_rate=2, cooldown_seconds=60)):
        _, reply = await ask(standin, BEIJING)
        await ask(standin, WEATHER)
        message_id, aid = int(reply.response["id"]), answer_id(reply.json)
        voted = await standin.click_button(message_id, f"wenda:vote:{aid}:up")
        await standin.wait_for_reply(voted)
        more = await standin.click_button(message_id, f"wenda:more:{aid}:1")
        await follow_up(standin, more)
        for command, options in (("ask", {"question": QUZHOU}), ("sources", None), ("reindex", None)):
            await standin.wait_for_reply(await standin.invoke_slash(command, options))
        mention = f"{standin.bot_user.mention} {QUZHOU}"
        sent = await standin.send_message(mention, author=manager, mentions=[standin.bot_user])
        await standin.wait_for_reply(sent)
        await standin.wait_for_reply(await standin.send_message(BEIJING, author=manager, guild=False))
    payloads = sent_by_bot(standin)
    # Two answers, thanks, a next page, a cooldown, a listing, a refusal, a reply and a DM reply.
    assert len(payloads) == 9
    for payload in payloads:
        assert_mentions_nobody(payload)


# -- limits on the bot's use ------------------------------------------------------------------


async def test_cooldown_answers_politely_once_the_rate_is_exceeded(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot]
) -> None:
    async with standin.running(make_bot(cooldown_rate=1, cooldown_seconds=60)):
        first, _ = await ask(standin, BEIJING)
        again = await standin.invoke_slash("ask", {"question": QUZHOU})
        refused = await standin.wait_for_reply(again)
        other, _ = await ask(standin, QUZHOU, user=standin.manager)  # the limit is per user
    assert first.json["type"] == 5
    assert refused.json["type"] == 4
    assert re.fullmatch(r"你问得有点快，请 (59|60) 秒后再问。", refused.json["data"]["content"])
    assert refused.json["data"]["flags"] & EPHEMERAL
    assert other.json["type"] == 5


async def test_cooldown_applies_to_mentions_too(standin: DiscordStandin, make_bot: Callable[..., WendaBot]) -> None:
    mention = standin.bot_user.mention
    async with standin.running(make_bot(cooldown_rate=1, cooldown_seconds=60)):
        first = await standin.send_message(f"{mention} {BEIJING}", mentions=[standin.bot_user])
        answered = await standin.wait_for_reply(first)
        again = await standin.send_message(f"{mention} {QUZHOU}", mentions=[standin.bot_user])
        refused = await standin.wait_for_reply(again)
    assert answered.json["embeds"]
    assert re.fullmatch(r"你问得有点快，请 (59|60) 秒后再问。", refused.json["content"])


async def test_slow_answer_is_deferred_within_the_deadline(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], monkeypatch: pytest.MonkeyPatch
) -> None:
    standin.interaction_deadline = 0.5
    real_answer = discord_bot.answer

    def slow_answer(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.8)  # scoring that takes longer than Discord waits for a first response
        return real_answer(*args, **kwargs)

    monkeypatch.setattr(discord_bot, "answer", slow_answer)
    async with standin.running(make_bot()):
        started = time.monotonic()
        deferred, reply = await ask(standin, BEIJING)
        took = time.monotonic() - started
    assert (deferred.status, deferred.json["type"]) == (200, 5)  # a late callback gets 404 10062
    assert took > standin.interaction_deadline
    assert reply.status == 200
    assert plain(reply.json["embeds"][0]["description"]).startswith(BEIJING_GOLD)


async def test_scoring_does_not_block_the_event_loop(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_answer = discord_bot.answer
    scoring, release = threading.Event(), threading.Event()

    def held_answer(*args: Any, **kwargs: Any) -> Any:
        scoring.set()
        release.wait(5)
        return real_answer(*args, **kwargs)

    monkeypatch.setattr(discord_bot, "answer", held_answer)
    async with standin.running(make_bot()):
        asked = await standin.invoke_slash("ask", {"question": BEIJING})
        try:
            assert await asyncio.to_thread(scoring.wait, 5)
            # While the answer is still being scored, the bot serves another command.
            listed = await standin.invoke_slash("sources")
            listing = await standin.wait_for_reply(listed)
        finally:
            release.set()
        reply = await follow_up(standin, asked)
    assert (listing.status, listing.json["type"]) == (200, 4)
    assert plain(reply.json["embeds"][0]["description"]).startswith(BEIJING_GOLD)


# -- administration ---------------------------------------------------------------------------


async def test_sources_lists_both_seed_articles(standin: DiscordStandin, make_bot: Callable[..., WendaBot]) -> None:
    async with standin.running(make_bot()):
        listed = await standin.invoke_slash("sources")
        reply = await standin.wait_for_reply(listed)
    lines = plain(reply.json["data"]["embeds"][0]["description"]).splitlines()
    assert lines == [f"{SMART_CITY} · 经济参考报 · 17 段", f"{XI_TITLE} · 新华社 · 9 段"]


async def test_reindex_is_refused_without_manage_server(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], corpus: Path
) -> None:
    bot = make_bot(open_library(corpus))
    (corpus / "park.txt").write_text("运河公园改造完成\n大运河森林公园的改造工程全部完工。\n", encoding="utf-8")
    async with standin.running(bot):
        invoked = await standin.invoke_slash("reindex", user=standin.member)
        reply = await standin.wait_for_reply(invoked)
    assert reply.json["type"] == 4
    assert reply.json["data"]["content"] == NOT_ALLOWED_TEXT
    assert reply.json["data"]["flags"] & EPHEMERAL
    assert len(bot.library.articles) == 2  # not re-read


async def test_reindex_by_a_manager_reports_the_counts(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], corpus: Path
) -> None:
    bot = make_bot(open_library(corpus))
    (corpus / "park.txt").write_text("运河公园改造完成\n大运河森林公园的改造工程全部完工。\n", encoding="utf-8")
    async with standin.running(bot):
        invoked = await standin.invoke_slash("reindex", user=standin.manager)
        deferred = await standin.wait_for_reply(invoked)
        # A rebuild segments the whole corpus again: on a loaded machine that takes more than seconds.
        report = await follow_up(standin, invoked, timeout=REBUILD_SECONDS)
    assert deferred.json["type"] == 5
    assert report.json["content"] == "已重建索引：3 篇文章，27 段。"
    assert report.json["flags"] & EPHEMERAL


# -- failures ---------------------------------------------------------------------------------


def logged_failure(caplog: pytest.LogCaptureFixture, detail: str) -> logging.LogRecord:
    """wenda's own error record for the exception whose message is detail, traceback attached."""
    [record] = [
        r
        for r in caplog.records
        if r.name == "wenda.discord" and r.levelno >= logging.ERROR and r.exc_info and detail in str(r.exc_info[1])
    ]
    return record


async def test_vote_button_that_fails_tells_the_user_and_logs_the_detail(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], caplog: pytest.LogCaptureFixture
) -> None:
    bot = make_bot()

    def locked(*args: Any) -> None:
        raise sqlite3.OperationalError("database is locked")

    async with standin.running(bot):
        _, reply = await ask(standin, BEIJING)
        bot.feedback.vote = locked  # type: ignore[method-assign]
        clicked = await standin.click_button(int(reply.response["id"]), f"wenda:vote:{answer_id(reply.json)}:up")
        told = await standin.wait_for_reply(clicked)
        _, again = await ask(standin, QUZHOU)  # and the bot keeps serving
    assert told.json["type"] == 4
    assert told.json["data"]["content"] == ERROR_TEXT
    assert told.json["data"]["flags"] & EPHEMERAL
    assert logged_failure(caplog, "database is locked")
    assert plain(again.json["embeds"][0]["description"]).startswith(QUZHOU_GOLD)


async def test_more_button_that_fails_after_thinking_tells_the_user(
    standin: DiscordStandin,
    make_bot: Callable[..., WendaBot],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    real_answer = discord_bot.answer

    def first_page_only(*args: Any, offset: int = 0, **kwargs: Any) -> Any:
        if offset:
            raise RuntimeError("segment file vanished")
        return real_answer(*args, offset=offset, **kwargs)

    monkeypatch.setattr(discord_bot, "answer", first_page_only)
    async with standin.running(make_bot(top_k=1)):
        _, reply = await ask(standin, BEIJING)
        clicked = await standin.click_button(int(reply.response["id"]), f"wenda:more:{answer_id(reply.json)}:1")
        deferred = await standin.wait_for_reply(clicked)
        told = await follow_up(standin, clicked)
        _, again = await ask(standin, QUZHOU)
    assert deferred.json["type"] == 5  # "thinking…", which must not be the last thing the user sees
    assert told.json["content"] == ERROR_TEXT
    assert told.json["flags"] & EPHEMERAL
    assert logged_failure(caplog, "segment file vanished")
    assert plain(again.json["embeds"][0]["description"]).startswith(QUZHOU_GOLD)


async def test_slash_command_that_fails_tells_the_user_and_logs_the_detail(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], corpus: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bot = make_bot(open_library(corpus))

    def unreadable(*args: Any, **kwargs: Any) -> None:
        raise PermissionError("corpus folder is not readable")

    bot.library.rebuild = unreadable  # type: ignore[method-assign]
    async with standin.running(bot):
        invoked = await standin.invoke_slash("reindex", user=standin.manager)
        deferred = await standin.wait_for_reply(invoked)
        told = await follow_up(standin, invoked)
        listed = await standin.wait_for_reply(await standin.invoke_slash("sources"))
    assert deferred.json["type"] == 5
    assert told.json["content"] == ERROR_TEXT
    assert told.json["flags"] & EPHEMERAL
    assert logged_failure(caplog, "corpus folder is not readable")
    assert listed.json["data"]["embeds"]


async def test_mention_that_fails_is_answered_briefly(
    standin: DiscordStandin,
    make_bot: Callable[..., WendaBot],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("scoring failed")

    monkeypatch.setattr(discord_bot, "answer", broken)
    async with standin.running(make_bot()):
        sent = await standin.send_message(f"{standin.bot_user.mention} {QUZHOU}", mentions=[standin.bot_user])
        told = await standin.wait_for_reply(sent)
        listed = await standin.wait_for_reply(await standin.invoke_slash("sources"))
    assert told.json["content"] == ERROR_TEXT
    assert told.json["message_reference"]["message_id"] == sent.id
    assert_mentions_nobody(told.json)
    assert logged_failure(caplog, "scoring failed")
    assert listed.json["data"]["embeds"]


# -- starting -------------------------------------------------------------------------------


def test_bot_without_a_token_exits_with_one_sentence(tmp_path: Path, corpus: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN" and not k.startswith("WENDA_")}
    env["WENDA_CORPUS"] = str(corpus)
    wenda = Path(sys.executable).with_name("wenda")
    done = subprocess.run(
        [str(wenda), "bot"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("wenda: DISCORD_TOKEN is not set")


async def test_rejected_token_stops_the_bot_with_one_sentence(
    standin: DiscordStandin, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    route = standin._route

    async def reject_other_tokens(request: Any, path: str, body: Any, files: tuple[str, ...]) -> Any:
        if request.headers.get("Authorization") != "Bot standin-token":
            return 401, {"code": 0, "message": "401: Unauthorized"}
        return await route(request, path, body, files)

    monkeypatch.setattr(standin, "_route", reject_other_tokens)
    settings = Settings(corpus=corpus, discord_token="not-the-token", feedback_db=tmp_path / "feedback.sqlite3")
    with pytest.raises(BotError) as stopped:
        await serve(settings)
    assert str(stopped.value).startswith("Discord rejected DISCORD_TOKEN")
    assert "\n" not in str(stopped.value)
    assert [(r.path, r.status) for r in standin.requests] == [("/users/@me", 401)]
