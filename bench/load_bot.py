"""The bot under load_discord.py's load: on the load's event loop, or in a process of its own.

Discord's servers do not share the bot's interpreter; in one process the stand-in and the load
generator would compete with the bot for its event loop and its GIL, and a generator slowed by a
busy loop sends late and hides the delay it should measure. So by default load_discord.py runs the
stand-in and the load in its own process and this script as the bot (BotProcess): settings from
the environment, as `wenda bot` reads them, and the corpus watcher on. The script tells its parent
what happened as JSON lines on stdout: `watching` once connected and its watcher ready, one `refresh` per
refresh that changed the index (the files and their sha256), and one `error` per ERROR log record.

    python bench/load_bot.py http://127.0.0.1:PORT   # started by load_discord.py, not by hand
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import discord.gateway
import discord.http
import yarl

from wenda.bot.discord_bot import WendaBot
from wenda.bot.feedback import FeedbackStore
from wenda.bot.settings import Settings
from wenda.retrieval.store import Library, Refresh

if TYPE_CHECKING:
    from discord_standin import DiscordStandin


class ErrorLog(logging.Handler):
    """Collects every ERROR (and worse) record logged anywhere while installed."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()}")


class BotUnderLoad:
    """What the load needs of the bot, wherever it runs: its refreshes, its errors, what it indexed."""

    refreshes: int
    refreshed: list[tuple[float, float]]  # (time.monotonic() at its end, seconds) of each refresh
    errors: list[str]
    root: Path

    async def wait_watching(self) -> None:
        raise NotImplementedError

    def indexed(self, written: dict[str, str | None]) -> bool:
        """Whether the index holds each written file's last version (None: the file was deleted)."""
        raise NotImplementedError

    def cpu_seconds(self) -> float | None:
        return None


class InProcessBot(BotUnderLoad):
    """A WendaBot running on this process's event loop (already started against the stand-in)."""

    def __init__(self, bot: WendaBot) -> None:
        self.bot = bot
        self.root = bot.library.root
        self.refreshes = 0
        self.refreshed = []
        self._errors = ErrorLog()
        self.errors = self._errors.records
        self.changed = threading.Condition()

    def __enter__(self) -> InProcessBot:
        logging.getLogger().addHandler(self._errors)
        if self.bot.watcher is not None:
            self.bot.watcher.on_refresh = self._on_refresh
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger().removeHandler(self._errors)

    def _on_refresh(self, result: Refresh) -> None:
        with self.changed:
            self.refreshes += 1
            self.refreshed.append((time.monotonic(), result.seconds))
            self.changed.notify_all()

    async def wait_watching(self) -> None:
        watcher = self.bot.watcher
        if watcher is not None and not await asyncio.to_thread(watcher.ready.wait, 30):
            raise TimeoutError("the corpus watcher did not start")

    def indexed(self, written: dict[str, str | None]) -> bool:
        files = self.bot.library.files
        return all(getattr(files.get(name), "sha256", None) == digest for name, digest in written.items())


class BotProcess(BotUnderLoad):
    """bench/load_bot.py in a child process, configured by environment variables as `wenda bot` is."""

    def __init__(self, standin: DiscordStandin, env: dict[str, str], root: Path) -> None:
        self.standin = standin
        self.env = env
        self.root = root
        self.refreshes = 0
        self.refreshed = []
        self.errors = []
        self.files: dict[str, str | None] = {}  # what the bot's refreshes reported: rel → sha256, None if removed
        self.cpu: dict | None = None
        self._watching = asyncio.Event()
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task | None = None

    async def __aenter__(self) -> BotProcess:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, self.standin.url, env={**os.environ, **self.env},
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._proc is not None and self._reader is not None
        if self._proc.returncode is None:
            self._proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self._proc.wait(), 30)
        except TimeoutError:
            self._proc.kill()
            await self._proc.wait()
        await self._reader

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        async for line in self._proc.stdout:
            event = json.loads(line)
            kind = event.pop("event")
            if kind == "watching":
                self._watching.set()
            elif kind == "refresh":
                self.refreshes += 1
                self.refreshed.append((event["at"], event["seconds"]))
                self.files.update(event["files"])
                self.files.update(dict.fromkeys(event["removed"]))
            elif kind == "error":
                self.errors.append(event["message"])
            elif kind == "cpu":
                self.cpu = event

    async def wait_watching(self) -> None:
        waiting = asyncio.ensure_future(self._watching.wait())
        assert self._proc is not None
        exited = asyncio.ensure_future(self._proc.wait())
        await asyncio.wait({waiting, exited}, timeout=180, return_when=asyncio.FIRST_COMPLETED)
        exited.cancel()
        if not self._watching.is_set():
            waiting.cancel()
            raise RuntimeError(f"the bot did not start watching (exit code {self._proc.returncode})")

    def indexed(self, written: dict[str, str | None]) -> bool:
        return all(self.files.get(name) == digest for name, digest in written.items())

    def cpu_seconds(self) -> float | None:
        """CPU seconds so far of the bot's process and its live children (Linux /proc; None elsewhere)."""
        if self._proc is None:
            return None
        return _tree_cpu(self._proc.pid)


def _tree_cpu(pid: int) -> float | None:
    """CPU seconds of a process and all its descendants alive now (Linux /proc; None elsewhere)."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    try:
        entries = [e for e in os.scandir("/proc") if e.name.isdigit()]
    except OSError:
        return None
    for entry in entries:
        with contextlib.suppress(OSError, ValueError, IndexError):
            # After the command's closing parenthesis: the state, the parent's pid, ..., user and system ticks.
            fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
            parents[int(entry.name)] = int(fields[1])
            ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
    if pid not in ticks:
        return None
    tree = {pid}
    grew = True
    while grew:
        found = {child for child, parent in parents.items() if parent in tree} - tree
        tree |= found
        grew = bool(found)
    return sum(ticks[p] for p in tree) / tick


# -- the bot's side: this script ------------------------------------------------------------------

_out = threading.Lock()


def tell(event: str, **fields: object) -> None:
    """One JSON line to the parent (from the loop or the watcher's thread)."""
    with _out:
        sys.stdout.write(json.dumps({"event": event, **fields}, ensure_ascii=False) + "\n")
        sys.stdout.flush()


class ErrorsToParent(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)

    def emit(self, record: logging.LogRecord) -> None:
        tell("error", message=f"{record.name}: {record.getMessage()}")


async def serve_standin(base_url: str) -> None:
    """What `wenda bot` does (discord_bot.serve), against the stand-in at base_url, reporting to the parent."""
    discord.http.Route.BASE = base_url + "/api/v10"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(base_url.replace("http", "ws", 1) + "/gateway")
    settings = Settings.from_env(dotenv=None)
    library = await asyncio.to_thread(Library.open, settings.corpus, settings.store)
    feedback = FeedbackStore(settings.feedback_path)
    bot = WendaBot(settings, library, feedback, guild_ready_timeout=0.05)

    def on_refresh(result: Refresh) -> None:
        files = {rel: library.files[rel].sha256 for rel in (*result.added, *result.changed) if rel in library.files}
        at = time.monotonic()
        tell("refresh", files=files, removed=list(result.removed), seconds=round(result.seconds, 3), at=at)

    watcher = bot.watcher
    assert watcher is not None
    watcher.on_refresh = on_refresh
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, lambda: asyncio.ensure_future(bot.shutdown()))

    async def watching() -> None:
        await asyncio.to_thread(watcher.ready.wait, 120)  # the watcher starts in setup_hook, after login
        await bot.wait_until_ready()
        tell("watching", passages=library.passage_count)

    announce = asyncio.ensure_future(watching())
    try:
        async with bot:
            await bot.start("standin-token")
    finally:
        announce.cancel()
        feedback.close()


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().addHandler(ErrorsToParent())
    asyncio.run(serve_standin(sys.argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
