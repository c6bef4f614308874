"""A busy server: answers are scored off the event loop and side by side, and a refresh never holds them up."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import BEIJING, BEIJING_GOLD, PORT_GOLD, PORT_QUESTION, PORT_TEXT, QUZHOU, QUZHOU_GOLD
from discord_standin import DiscordStandin, RecordedRequest
from standin_fixtures import follow_up, plain, standin_fixture  # noqa: F401  (standin_fixture: the fixture)

from wenda.bot import discord_bot
from wenda.bot.answer_pool import AnswerPool, pool_size
from wenda.bot.discord_bot import WendaBot
from wenda.bot.feedback import FeedbackStore
from wenda.bot.settings import Settings
from wenda.retrieval import store as store_module
from wenda.retrieval.store import Library, StoreSettings

# Waits for spawned answer workers, which load jieba's dictionary and the index (not a speed requirement).
WORKER_SECONDS = 60.0

pytestmark = pytest.mark.usefixtures("fast_jieba")


@pytest.fixture
def make_bot(tmp_path: Path) -> Iterator[Callable[..., WendaBot]]:
    """A WendaBot over a cached library (as `wenda bot` opens one); keywords override Settings."""
    stores: list[FeedbackStore] = []

    def make(library: Library, **overrides: Any) -> WendaBot:
        settings = Settings(corpus=library.root, **{"cooldown_rate": 0, "threads": "off", **overrides})
        stores.append(FeedbackStore(tmp_path / f"feedback-{len(stores)}.sqlite3"))
        return WendaBot(settings, library, stores[-1], watch=False, guild_ready_timeout=0.05)

    yield make
    for store in stores:
        store.close()


def open_library(root: Path) -> Library:
    return Library.open(root, StoreSettings())


def quoted(reply: RecordedRequest) -> str:
    return plain(reply.json["embeds"][0]["description"])


# -- in threads of the bot's process ------------------------------------------------------------


async def test_an_answer_still_being_scored_holds_up_no_other_users_answer(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], seed_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_answer = discord_bot.answer
    scoring, release = threading.Event(), threading.Event()

    def slow_for_beijing(searcher: Any, question: str, *args: Any, **kwargs: Any) -> Any:
        if question == BEIJING:
            scoring.set()
            release.wait(10)
        return real_answer(searcher, question, *args, **kwargs)

    monkeypatch.setattr(discord_bot, "answer", slow_for_beijing)
    first, second = standin.add_member("读者甲"), standin.add_member("读者乙")
    async with standin.running(make_bot(open_library(seed_corpus), answer_workers=0)):
        held = await standin.invoke_slash("ask", {"question": BEIJING}, user=first)
        try:
            assert await asyncio.to_thread(scoring.wait, 5)
            asked = await standin.invoke_slash("ask", {"question": QUZHOU}, user=second)
            deferred = await standin.wait_for_reply(asked)
            answered = await follow_up(standin, asked)
            still_held = not any(r.path == held.webhook_path for r in standin.requests)
        finally:
            release.set()
        late = await follow_up(standin, held)
    assert deferred.json["type"] == 5
    assert quoted(answered).startswith(QUZHOU_GOLD)
    assert still_held  # the other answer went out while the first was still being scored
    assert quoted(late).startswith(BEIJING_GOLD)


async def test_an_answer_goes_out_while_a_refresh_is_building_the_next_index(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], seed_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = open_library(seed_corpus)
    real_build = store_module.build_segment
    building, release = threading.Event(), threading.Event()

    def held_build(*args: Any, **kwargs: Any) -> Any:
        building.set()
        release.wait(10)
        return real_build(*args, **kwargs)

    monkeypatch.setattr(store_module, "build_segment", held_build)
    (seed_corpus / "port.txt").write_text(PORT_TEXT, encoding="utf-8")
    async with standin.running(make_bot(library, answer_workers=0)):
        refreshing = asyncio.ensure_future(asyncio.to_thread(library.refresh))
        try:
            assert await asyncio.to_thread(building.wait, 5)  # the refresh holds the library's lock now
            asked = await standin.invoke_slash("ask", {"question": BEIJING})
            during = await follow_up(standin, asked)
        finally:
            release.set()
        await refreshing
        asked = await standin.invoke_slash("ask", {"question": PORT_QUESTION})
        after = await follow_up(standin, asked)
    assert quoted(during).startswith(BEIJING_GOLD)  # from the snapshot before the refresh
    assert quoted(after).startswith(PORT_GOLD)


# -- in worker processes --------------------------------------------------------------------------


def test_a_library_without_an_index_cache_is_answered_in_threads(seed_corpus: Path) -> None:
    uncached = Library.open(seed_corpus, StoreSettings(cache=False))
    assert pool_size(None, uncached) == 0
    assert pool_size(2, uncached) == 0
    assert pool_size(2, open_library(seed_corpus)) == 2


async def test_worker_processes_answer_concurrent_questions_from_many_users(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], seed_corpus: Path
) -> None:
    users = [standin.add_member(f"读者{n}") for n in range(8)]
    bot = make_bot(open_library(seed_corpus), answer_workers=2)
    async with standin.running(bot, timeout=WORKER_SECONDS):
        assert bot.answer_pool is not None
        questions = [BEIJING if n % 2 else QUZHOU for n in range(len(users))]
        asked = await asyncio.gather(
            *(standin.invoke_slash("ask", {"question": q}, user=u) for q, u in zip(questions, users, strict=True))
        )
        replies = [await follow_up(standin, a, timeout=WORKER_SECONDS) for a in asked]
    for question, reply in zip(questions, replies, strict=True):
        assert quoted(reply).startswith(BEIJING_GOLD if question == BEIJING else QUZHOU_GOLD)


async def test_worker_processes_answer_from_an_article_added_while_they_run(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], seed_corpus: Path
) -> None:
    bot = make_bot(open_library(seed_corpus), answer_workers=1)
    attachment = standin.attach("port.txt", PORT_TEXT.encode("utf-8"), "text/plain")
    async with standin.running(bot, timeout=WORKER_SECONDS):
        asked = await standin.invoke_slash("ask", {"question": BEIJING})
        before = await follow_up(standin, asked, timeout=WORKER_SECONDS)
        added = await standin.invoke_slash("add", {"file": attachment}, user=standin.manager)
        await follow_up(standin, added)
        asked = await standin.invoke_slash("ask", {"question": PORT_QUESTION})
        after = await follow_up(standin, asked, timeout=WORKER_SECONDS)
    assert quoted(before).startswith(BEIJING_GOLD)
    assert quoted(after).startswith(PORT_GOLD)  # the worker loaded the index the bot's process saved


async def test_a_worker_that_dies_is_replaced_and_the_question_still_answered(seed_corpus: Path) -> None:
    library = open_library(seed_corpus)
    pool = AnswerPool(library, 1)
    await pool.start()
    try:
        options = {"offset": 0, "context": ()}
        first = await pool.answer(library.searcher, BEIJING, 3, options)
        [pid] = list(pool._executor._processes)  # type: ignore[union-attr]
        os.kill(pid, signal.SIGKILL)
        again = await asyncio.wait_for(pool.answer(library.searcher, BEIJING, 3, options), WORKER_SECONDS)
    finally:
        await asyncio.to_thread(pool.close)
    assert first.hits[0].passage.text.startswith(BEIJING_GOLD)
    assert again.hits[0].passage.text.startswith(BEIJING_GOLD)
