"""Pytest fixtures that start the Discord stand-in and point discord.py at it."""

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from discord_standin import DiscordStandin


# Named apart from the fixture so that test modules can import it without shadowing.
@pytest_asyncio.fixture(name="standin")
async def standin_fixture(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DiscordStandin]:
    async with DiscordStandin() as running:
        running.patch_discord(monkeypatch)
        yield running
