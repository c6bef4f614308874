"""Pytest fixtures that start the Discord stand-in and point discord.py at it, and what tests read back from it."""

import re
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from discord_standin import DiscordStandin, InjectedInteraction, RecordedRequest


# Named apart from the fixture so that test modules can import it without shadowing.
@pytest_asyncio.fixture(name="standin")
async def standin_fixture(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DiscordStandin]:
    async with DiscordStandin() as running:
        running.patch_discord(monkeypatch)
        yield running


async def follow_up(standin: DiscordStandin, injected: InjectedInteraction, timeout: float = 5.0) -> RecordedRequest:
    """The follow-up message an interaction's answer was posted as."""
    return await standin.wait_for_request(method="POST", path=injected.webhook_path, after=injected, timeout=timeout)


def plain(markdown: str) -> str:
    """What a reader sees: escapes resolved, ** and __ markers and zero-width spaces gone."""
    return re.sub(r"\\([^0-9A-Za-z\s])|\*\*|__|\u200b", lambda m: m.group(1) or "", markdown)
