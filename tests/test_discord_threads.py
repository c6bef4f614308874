"""Conversations on Discord: mentions answered in threads, follow-ups there, the questions each one keeps."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import discord
import pytest
from bot_fixtures import feedback_path_fixture, make_bot_fixture, seed_library_fixture  # noqa: F401  (fixtures)
from discord_standin import (
    CREATE_PUBLIC_THREADS,
    INTENT_MESSAGE_CONTENT,
    DiscordStandin,
    InjectedMessage,
    RecordedRequest,
)
from standin_fixtures import standin_fixture  # noqa: F401  (provides the standin fixture)
from test_discord_bot import BEIJING, BEIJING_GOLD, QUZHOU, QUZHOU_GOLD, channel_posts, follow_up, plain

from wenda.bot import discord_bot
from wenda.bot.discord_bot import WendaBot

WEATHER_FOLLOW_UP = "那北京城市副中心政务服务中心在哪里？"


async def mention(standin: DiscordStandin, question: str, *, channel: int | None = None) -> InjectedMessage:
    return await standin.send_message(
        f"{standin.bot_user.mention} {question}", mentions=[standin.bot_user], channel=channel
    )


async def posted_in(standin: DiscordStandin, channel_id: int, after: InjectedMessage | int) -> RecordedRequest:
    """The bot's first message posted in a channel (a thread too) after a mark."""
    return await standin.wait_for_request(method="POST", path=f"/channels/{channel_id}/messages", after=after)


async def thread_answer(standin: DiscordStandin, asked: InjectedMessage) -> tuple[RecordedRequest, RecordedRequest]:
    """The thread started on a question (its id is the question's) and the answer posted in it."""
    started = await standin.wait_for_request(
        method="POST", path=f"/channels/{asked.channel_id}/messages/{asked.id}/threads", after=asked
    )
    return started, await posted_in(standin, asked.id, asked)


def thread_channel(bot: WendaBot, thread_id: int) -> discord.Thread:
    thread = bot.get_channel(thread_id)
    assert isinstance(thread, discord.Thread), thread
    return thread


# -- a mention starts a thread ----------------------------------------------------------------


async def test_mention_is_answered_in_a_thread_named_after_the_question(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot]
) -> None:
    bot = make_bot(threads="mentions")
    async with standin.running(bot):
        asked = await mention(standin, QUZHOU)
        started, answered = await thread_answer(standin, asked)
        conversation = bot.conversation(thread_channel(bot, asked.id))
    assert started.status == 201
    assert started.json["name"] == QUZHOU
    assert started.response["owner_id"] == str(standin.bot_user.id)
    assert answered.status == 200
    assert plain(answered.json["embeds"][0]["description"]).startswith(QUZHOU_GOLD)
    assert [r.path for r in channel_posts(standin, asked.mark)] == [f"/channels/{asked.id}/messages"]
    assert conversation == [QUZHOU]


async def test_long_multiline_question_names_its_thread_within_discords_limit(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot]
) -> None:
    question = "衢州市\n副市长是谁？" + "请详细介绍他的工作。" * 20
    async with standin.running(make_bot(threads="mentions")):
        asked = await mention(standin, question)
        started, answered = await thread_answer(standin, asked)
    name = started.json["name"]
    assert started.status == 201
    assert len(name) == 100
    assert name.startswith("衢州市 副市长是谁？")
    assert name.endswith("…")
    assert answered.status == 200


async def test_mention_without_a_question_is_answered_in_place(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot]
) -> None:
    async with standin.running(make_bot(threads="mentions")):
        asked = await mention(standin, "")
        reply = await standin.wait_for_reply(asked)
    assert reply.json["message_reference"]["message_id"] == asked.id
    assert not standin.threads


async def test_threads_off_answers_a_mention_in_place(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot]
) -> None:
    bot = make_bot(threads="off")
    async with standin.running(bot):
        asked = await mention(standin, QUZHOU)
        reply = await standin.wait_for_reply(asked)
        conversation = bot.conversation(bot.get_channel(standin.channel_id))
    assert reply.json["message_reference"]["message_id"] == asked.id
    assert not standin.threads
    assert conversation == []  # a text channel is no conversation


async def test_missing_thread_permission_answers_in_place_with_one_log_line(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], caplog: pytest.LogCaptureFixture
) -> None:
    standin.role_permissions[standin.bot_role_id] &= ~CREATE_PUBLIC_THREADS
    with caplog.at_level(logging.INFO, logger="wenda"):
        async with standin.running(make_bot(threads="mentions")):
            asked = await mention(standin, QUZHOU)
            reply = await standin.wait_for_reply(asked)
    refused = [r for r in standin.requests[asked.mark :] if r.path.endswith("/threads")]
    assert [r.status for r in refused] == [403]
    assert reply.json["message_reference"]["message_id"] == asked.id
    assert plain(reply.json["embeds"][0]["description"]).startswith(QUZHOU_GOLD)
    [line] = [r for r in caplog.records if r.name == "wenda.discord" and "thread" in r.getMessage()]
    assert line.levelno == logging.WARNING
    assert "Create Public Threads" in line.getMessage()
    assert "\n" not in line.getMessage() and line.exc_info is None


# -- follow-ups in wenda's thread -------------------------------------------------------------


async def test_follow_up_mentioning_wenda_in_its_thread_is_answered_there(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot]
) -> None:
    bot = make_bot(threads="mentions")
    async with standin.running(bot):
        asked = await mention(standin, QUZHOU)
        await thread_answer(standin, asked)
        again = await mention(standin, BEIJING, channel=asked.id)
        reply = await posted_in(standin, asked.id, again)
        conversation = bot.conversation(thread_channel(bot, asked.id))
    assert reply.json["message_reference"]["message_id"] == again.id
    assert plain(reply.json["embeds"][0]["description"]).startswith(BEIJING_GOLD)
    assert len(standin.threads) == 1  # no thread in a thread
    assert conversation == [QUZHOU, BEIJING]


async def test_follow_up_without_a_mention_is_a_question_with_message_content(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot]
) -> None:
    bot = make_bot(threads="mentions", message_content=True)
    async with standin.running(bot):
        asked = await mention(standin, QUZHOU)
        await thread_answer(standin, asked)
        again = await standin.send_message(BEIJING, channel=asked.id)
        reply = await posted_in(standin, asked.id, again)
        conversation = bot.conversation(thread_channel(bot, asked.id))
    assert standin.identify is not None and standin.identify["intents"] & INTENT_MESSAGE_CONTENT
    assert reply.json["message_reference"]["message_id"] == again.id
    assert plain(reply.json["embeds"][0]["description"]).startswith(BEIJING_GOLD)
    assert conversation == [QUZHOU, BEIJING]


async def test_follow_up_without_a_mention_is_ignored_without_message_content(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot]
) -> None:
    bot = make_bot(threads="mentions")
    async with standin.running(bot):
        asked = await mention(standin, QUZHOU)
        await thread_answer(standin, asked)
        ignored = await standin.send_message(BEIJING, channel=asked.id)
        # A mention answered afterwards shows the bot has handled the first message.
        again = await mention(standin, BEIJING, channel=asked.id)
        await posted_in(standin, asked.id, again)
        conversation = bot.conversation(thread_channel(bot, asked.id))
    assert standin.identify is not None and not standin.identify["intents"] & INTENT_MESSAGE_CONTENT
    replied_to = [r.json["message_reference"]["message_id"] for r in channel_posts(standin, ignored.mark)]
    assert replied_to == [again.id]
    assert conversation == [QUZHOU, BEIJING]


async def test_thread_someone_else_started_is_no_conversation(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot]
) -> None:
    bot = make_bot(threads="mentions", message_content=True)
    async with standin.running(bot):
        starter = await standin.send_message("大家来讨论")
        thread_id = await standin.start_thread(starter, "讨论")
        ignored = await standin.send_message(BEIJING, channel=thread_id)
        asked = await mention(standin, QUZHOU, channel=thread_id)
        reply = await posted_in(standin, thread_id, asked)
        conversation = bot.conversation(thread_channel(bot, thread_id))
    replied_to = [r.json["message_reference"]["message_id"] for r in channel_posts(standin, ignored.mark)]
    assert replied_to == [asked.id]
    assert plain(reply.json["embeds"][0]["description"]).startswith(QUZHOU_GOLD)
    assert conversation == []
    assert list(standin.threads) == [thread_id]


# -- /ask and threads -------------------------------------------------------------------------


async def test_ask_with_threads_always_starts_a_thread_on_its_answer(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot]
) -> None:
    bot = make_bot(threads="always")
    async with standin.running(bot):
        asked = await standin.invoke_slash("ask", {"question": QUZHOU})
        answered = await follow_up(standin, asked)
        answer_id = int(answered.response["id"])
        started = await standin.wait_for_request(
            method="POST", path=f"/channels/{standin.channel_id}/messages/{answer_id}/threads", after=asked
        )
        # A follow-up answered in the thread shows the bot has taken the thread as its own.
        again = await mention(standin, BEIJING, channel=answer_id)
        await posted_in(standin, answer_id, again)
        conversation = bot.conversation(thread_channel(bot, answer_id))
    assert plain(answered.json["embeds"][0]["description"]).startswith(QUZHOU_GOLD)
    assert started.status == 201
    assert started.json["name"] == QUZHOU
    assert conversation == [QUZHOU, BEIJING]


async def test_ask_with_threads_on_mentions_answers_without_a_thread(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot]
) -> None:
    async with standin.running(make_bot(threads="mentions")):
        asked = await standin.invoke_slash("ask", {"question": QUZHOU})
        await follow_up(standin, asked)
        # A mention that starts a thread afterwards shows the /ask was handled without one.
        later = await mention(standin, BEIJING)
        await thread_answer(standin, later)
    assert list(standin.threads) == [later.id]


async def test_ask_in_wendas_thread_joins_its_conversation(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot]
) -> None:
    bot = make_bot(threads="mentions")
    async with standin.running(bot):
        asked = await mention(standin, QUZHOU)
        await thread_answer(standin, asked)
        again = await standin.invoke_slash("ask", {"question": BEIJING}, channel=asked.id)
        answered = await follow_up(standin, again)
        conversation = bot.conversation(thread_channel(bot, asked.id))
    assert answered.response["channel_id"] == str(asked.id)
    assert plain(answered.json["embeds"][0]["description"]).startswith(BEIJING_GOLD)
    assert conversation == [QUZHOU, BEIJING]


# -- the conversation reaches answer() --------------------------------------------------------


async def test_direct_messages_form_a_conversation(standin: DiscordStandin, make_bot: Callable[..., WendaBot]) -> None:
    bot = make_bot()
    async with standin.running(bot):
        for question in (QUZHOU, BEIJING):
            await standin.wait_for_reply(await standin.send_message(question, guild=False))
        dm = await bot.fetch_channel(standin.dm_channel_id(standin.member))
        conversation = bot.conversation(dm)
    assert conversation == [QUZHOU, BEIJING]


async def test_earlier_questions_reach_answer_once_it_takes_a_context(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_answer = discord_bot.answer
    contexts: list[tuple[str, ...]] = []

    def answer_with_context(*args: Any, context: tuple[str, ...] = (), **kwargs: Any) -> Any:
        contexts.append(context)
        return real_answer(*args, **kwargs)

    monkeypatch.setattr(discord_bot, "answer", answer_with_context)
    async with standin.running(make_bot()):
        for question in (QUZHOU, BEIJING, WEATHER_FOLLOW_UP):
            await standin.wait_for_reply(await standin.send_message(question, guild=False))
    assert contexts == [(), (QUZHOU,), (QUZHOU, BEIJING)]
