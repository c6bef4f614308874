"""Fixtures for the WendaBot tests: a seed library indexed once per module, and bots built over it.

Named apart from the fixtures (as in standin_fixtures) so that test modules can import them without shadowing.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from wenda.bot.discord_bot import WendaBot
from wenda.bot.feedback import FeedbackStore
from wenda.bot.settings import Settings
from wenda.retrieval.store import Library, StoreSettings

SEED = Path(__file__).resolve().parents[1] / "corpus" / "000_7b005711537558e1.txt"


@pytest.fixture(scope="module", name="seed_library")
def seed_library_fixture(tmp_path_factory: pytest.TempPathFactory) -> Library:
    """A copy of the seed corpus indexed once for the tests that only read it: indexing takes a second."""
    root = tmp_path_factory.mktemp("seed")
    shutil.copy(SEED, root / SEED.name)
    return open_library(root)


def open_library(root: Path) -> Library:
    return Library.open(root, StoreSettings(cache=False))


@pytest.fixture(name="feedback_path")
def feedback_path_fixture(tmp_path: Path) -> Path:
    return tmp_path / "feedback.sqlite3"


@pytest.fixture(name="make_bot")
def make_bot_fixture(seed_library: Library, feedback_path: Path) -> Iterator[Callable[..., WendaBot]]:
    """Build a WendaBot (over the seed library unless given one); keywords override Settings.

    There is no cooldown and answers stay in place (no threads) unless a test sets them.
    """
    stores: list[FeedbackStore] = []

    def make(library: Library | None = None, **overrides: Any) -> WendaBot:
        library = library or seed_library
        settings = Settings(corpus=library.root, **{"cooldown_rate": 0, "threads": "off", **overrides})
        stores.append(FeedbackStore(feedback_path))
        # No corpus watcher: its refresh at start-up would race the tests that change the folder.
        return WendaBot(settings, library, stores[-1], watch=False, guild_ready_timeout=0.05)

    yield make
    for store in stores:
        store.close()
