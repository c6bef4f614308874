"""The bot over shards (WENDA_SHARD_COUNT, WENDA_SHARD_IDS): discord.py's AutoShardedClient, in one or more processes.

Discord sends each shard the events of the servers whose (id >> 22) % shard count is its number, and
DMs to shard 0, so every server is answered by the one process running its shard. Processes on one
machine share the corpus folder: its index (one process segments what changed, the others take up
what it saved: store.py), and the feedback database. Only the process running shard 0 syncs the
slash commands (Settings.syncs_commands), so they are synced once, not once per process.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import discord

from wenda.retrieval.store import Library

from .discord_bot import WendaBot
from .feedback import FeedbackStore
from .settings import Settings

log = logging.getLogger("wenda.discord")


class ShardedWendaBot(WendaBot, discord.AutoShardedClient):
    """WendaBot over the shards this process runs: one gateway connection per shard, one of everything else."""

    async def on_shard_ready(self, shard_id: int) -> None:
        servers = sum(1 for guild in self.guilds if guild.shard_id == shard_id)
        log.info("shard %d of %d ready: %d servers", shard_id, self.shard_count, servers)


def make_bot(settings: Settings, library: Library, feedback: FeedbackStore, **options: Any) -> WendaBot:
    """The client the settings ask for: one plain connection, or the shards this process runs."""
    if settings.shard_count is None:
        return WendaBot(settings, library, feedback, **options)
    shard_ids = list(settings.shard_ids or range(settings.shard_count))
    log.info(
        "running shards %s of %d; %s",
        ranges(shard_ids),
        settings.shard_count,
        "this process syncs the application commands"
        if settings.syncs_commands
        else "the process running shard 0 syncs the application commands",
    )
    return ShardedWendaBot(
        settings, library, feedback, shard_count=settings.shard_count, shard_ids=shard_ids, **options
    )


def ranges(numbers: Iterable[int]) -> str:
    """Sorted numbers as runs, the way WENDA_SHARD_IDS takes them: 0-3, 6, 8-9."""
    runs: list[list[int]] = []
    for n in sorted(numbers):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)
