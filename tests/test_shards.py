"""Which client a process runs: one plain connection, or discord.py's AutoShardedClient over its shards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import discord
import pytest

from wenda.bot.feedback import FeedbackStore
from wenda.bot.settings import Settings
from wenda.bot.shards import ShardedWendaBot, make_bot, ranges
from wenda.retrieval.store import Library


@pytest.fixture(name="feedback")
def feedback_fixture(tmp_path: Path) -> Iterator[FeedbackStore]:
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    yield store
    store.close()


def test_without_shard_settings_the_bot_is_one_plain_connection(seed_library: Library, feedback: FeedbackStore):
    bot = make_bot(Settings(corpus=seed_library.root), seed_library, feedback, watch=False)
    assert not isinstance(bot, discord.AutoShardedClient)


def test_shard_settings_run_an_auto_sharded_client_over_the_shards_given(
    seed_library: Library, feedback: FeedbackStore
):
    settings = Settings(corpus=seed_library.root, shard_count=4, shard_ids=(2, 3))
    bot = make_bot(settings, seed_library, feedback, watch=False)
    assert isinstance(bot, ShardedWendaBot) and isinstance(bot, discord.AutoShardedClient)
    assert (bot.shard_count, bot.shard_ids) == (4, [2, 3])


def test_a_shard_count_alone_runs_every_shard_in_this_process(seed_library: Library, feedback: FeedbackStore):
    bot = make_bot(Settings(corpus=seed_library.root, shard_count=3), seed_library, feedback, watch=False)
    assert (bot.shard_count, bot.shard_ids) == (3, [0, 1, 2])


def test_shards_are_logged_as_runs():
    assert ranges([3, 0, 1, 2, 6, 8, 9]) == "0-3, 6, 8-9"
