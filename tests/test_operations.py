"""Running wenda on Discord: no token in any log or error, a clean stop, /add for the right people, and load."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import BEIJING, BEIJING_GOLD, PORT_GOLD, PORT_QUESTION, PORT_TEXT, QUZHOU
from discord_standin import DiscordStandin
from standin_fixtures import follow_up, plain, standin_fixture  # noqa: F401  (standin_fixture: the fixture)

from wenda.bot import cli, discord_bot
from wenda.bot.discord_bot import NOT_ALLOWED_TEXT, STOPPING_TEXT, WendaBot, serve
from wenda.bot.feedback import FeedbackStore
from wenda.bot.logs import configure_logging
from wenda.bot.settings import Settings
from wenda.retrieval.store import Library, StoreSettings

REPO = Path(__file__).resolve().parents[1]
SEED = REPO / "corpus" / "000_7b005711537558e1.txt"
# Shaped like a real bot token (base64 user id . timestamp . HMAC), and never a real one.
TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GhIjKl.standin-not-a-real-token-0123456789abcdef"
EPHEMERAL = 1 << 6

# Every Library makes its own jieba tokenizer; the fixture saves each a second of dictionary loading.
pytestmark = pytest.mark.usefixtures("fast_jieba")


def _load_bench() -> Any:
    spec = importlib.util.spec_from_file_location("load_discord", REPO / "bench" / "load_discord.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


load_discord = _load_bench()


@pytest.fixture
def corpus(seed_corpus: Path) -> Path:
    return seed_corpus


@pytest.fixture
def make_bot(tmp_path: Path) -> Iterator[Callable[..., WendaBot]]:
    """Build a WendaBot over a library; keywords override Settings. No cooldown, no watcher unless asked."""
    stores: list[FeedbackStore] = []

    def make(library: Library, *, watch: bool = False, **overrides: Any) -> WendaBot:
        settings = Settings(corpus=library.root, **{"cooldown_rate": 0, **overrides})
        stores.append(FeedbackStore(tmp_path / f"feedback-{len(stores)}.sqlite3"))
        return WendaBot(settings, library, stores[-1], watch=watch, guild_ready_timeout=0.05)

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging replaces the root handlers; put back pytest's when the test is done."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def open_library(root: Path) -> Library:
    return Library.open(root, StoreSettings())


def hold_answers(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event, list[str]]:
    """Make every answer wait until released: (scoring started, release, questions scored)."""
    real_answer = discord_bot.answer
    scoring, release = threading.Event(), threading.Event()
    asked: list[str] = []

    def held_answer(searcher: Any, question: str, *args: Any, **kwargs: Any) -> Any:
        asked.append(question)
        scoring.set()
        if not release.wait(10):
            raise TimeoutError("the test never released the answer")
        return real_answer(searcher, question, *args, **kwargs)

    monkeypatch.setattr(discord_bot, "answer", held_answer)
    return scoring, release, asked


# -- the token ----------------------------------------------------------------------------------


def test_token_in_a_message_or_a_traceback_is_redacted(
    capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    configure_logging(logging.INFO, secrets=[TOKEN])
    log = logging.getLogger("wenda.test")
    log.warning("connecting with %s", TOKEN)
    try:
        raise RuntimeError(f"401 Unauthorized: {TOKEN} is not a valid token")
    except RuntimeError:
        log.exception("login failed for Bot %s", TOKEN)
    err = capsys.readouterr().err
    assert TOKEN not in err
    lines = err.strip().splitlines()
    assert len(lines) == 2  # one line per record, the traceback folded into its line
    assert "connecting with [redacted]" in lines[0]
    assert "login failed for Bot [redacted]" in lines[1]
    assert "RuntimeError: 401 Unauthorized: [redacted] is not a valid token" in lines[1]


def test_malformed_log_call_neither_raises_nor_shows_the_token(
    capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    configure_logging(logging.INFO, secrets=[TOKEN])
    logging.getLogger("wenda.test").warning("%d questions from %s", "many", TOKEN)  # a bug in some caller
    err = capsys.readouterr().err
    assert TOKEN not in err
    [line] = err.strip().splitlines()
    assert "%d questions from %s" in line
    assert "[redacted]" in line


async def test_wenda_bot_with_a_rejected_token_never_prints_it(
    standin: DiscordStandin,
    corpus: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
) -> None:
    presented: list[str] = []

    async def reject_every_token(request: Any, path: str, body: Any, files: tuple[str, ...]) -> Any:
        presented.append(request.headers.get("Authorization", ""))
        return 401, {"code": 0, "message": f"401: Unauthorized ({request.headers.get('Authorization')})"}

    monkeypatch.setattr(standin, "_route", reject_every_token)
    for name in [name for name in os.environ if name.startswith("WENDA_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    monkeypatch.chdir(tmp_path)  # no .env from the checkout
    # `wenda bot` runs its own event loop; here it runs in a thread while the stand-in serves on this one.
    code = await asyncio.to_thread(cli.main, ["bot", "--corpus", str(corpus)])
    out, err = capsys.readouterr()
    assert presented == [f"Bot {TOKEN}"]  # the token was sent, and rejected
    assert code == 1
    assert TOKEN not in out + err
    assert err.strip().splitlines()[-1].startswith("wenda: Discord rejected DISCORD_TOKEN")


# -- stopping -----------------------------------------------------------------------------------


async def test_answer_in_flight_is_delivered_after_shutdown_was_requested(
    standin: DiscordStandin,
    make_bot: Callable[..., WendaBot],
    corpus: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wenda.discord")
    scoring, release, _ = hold_answers(monkeypatch)
    bot = make_bot(open_library(corpus))
    async with standin.running(bot):
        asked = await standin.invoke_slash("ask", {"question": BEIJING})
        assert await asyncio.to_thread(scoring.wait, 5)
        stopping = asyncio.create_task(bot.shutdown(grace=10))
        await asyncio.sleep(0)  # one turn of the loop: shutdown() starts and waits for the answer
        assert "stopping: 1 answers in flight" in caplog.messages
        assert not bot.is_closed()
        release.set()
        reply = await follow_up(standin, asked)
        async with asyncio.timeout(10):
            await stopping
        assert bot.is_closed()
    assert reply.status == 200
    assert plain(reply.json["embeds"][0]["description"]).startswith(BEIJING_GOLD)


async def test_questions_asked_during_shutdown_are_not_answered(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scoring, release, asked = hold_answers(monkeypatch)
    bot = make_bot(open_library(corpus))
    async with standin.running(bot):
        first = await standin.invoke_slash("ask", {"question": BEIJING})
        assert await asyncio.to_thread(scoring.wait, 5)
        stopping = asyncio.create_task(bot.shutdown(grace=10))
        await asyncio.sleep(0)
        mention = await standin.send_message(f"{standin.bot_user.mention} {QUZHOU}", mentions=[standin.bot_user])
        late = await standin.invoke_slash("ask", {"question": QUZHOU}, user=standin.manager)
        refused = await standin.wait_for_reply(late)
        release.set()
        await follow_up(standin, first)
        async with asyncio.timeout(10):
            await stopping
    assert asked == [BEIJING]  # nothing asked after the shutdown began was even scored
    assert refused.json["type"] == 4
    assert refused.json["data"]["content"] == STOPPING_TEXT
    replies = [r for r in standin.requests[mention.mark :] if r.path == f"/channels/{standin.channel_id}/messages"]
    assert replies == []


async def test_buttons_and_admin_commands_are_refused_during_shutdown(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = make_bot(open_library(corpus))
    async with standin.running(bot):
        answered = await follow_up(standin, await standin.invoke_slash("ask", {"question": BEIJING}))
        up = next(
            b["custom_id"] for row in answered.json["components"] for b in row["components"] if ":up" in b["custom_id"]
        )
        scoring, release, _ = hold_answers(monkeypatch)
        held = await standin.invoke_slash("ask", {"question": QUZHOU})
        assert await asyncio.to_thread(scoring.wait, 5)
        stopping = asyncio.create_task(bot.shutdown(grace=10))
        await asyncio.sleep(0)
        voted = await standin.wait_for_reply(await standin.click_button(int(answered.response["id"]), up))
        reindex = await standin.wait_for_reply(await standin.invoke_slash("reindex", user=standin.manager))
        release.set()
        await follow_up(standin, held)
        async with asyncio.timeout(10):
            await stopping
    for refused in (voted, reindex):
        assert refused.json["type"] == 4
        assert refused.json["data"]["content"] == STOPPING_TEXT
        assert refused.json["data"]["flags"] & EPHEMERAL
    assert bot.feedback.votes(int(up.split(":")[2])) == {}


async def test_more_passages_in_flight_are_delivered_after_shutdown_was_requested(
    standin: DiscordStandin,
    make_bot: Callable[..., WendaBot],
    corpus: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot = make_bot(open_library(corpus), top_k=1)
    async with standin.running(bot):
        asked = await standin.invoke_slash("ask", {"question": BEIJING})
        first = await follow_up(standin, asked)
        more = next(b["custom_id"] for row in first.json["components"] for b in row["components"])
        scoring, release, _ = hold_answers(monkeypatch)
        clicked = await standin.click_button(int(first.response["id"]), more)
        assert await asyncio.to_thread(scoring.wait, 5)
        stopping = asyncio.create_task(bot.shutdown(grace=10))
        await asyncio.sleep(0)
        release.set()
        page = await follow_up(standin, clicked)
        async with asyncio.timeout(10):
            await stopping
    assert more.startswith("wenda:more:")
    assert page.status == 200
    assert plain(page.json["embeds"][0]["description"]).startswith("北京城市副中心政务服务中心相关负责人介绍")
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_sigterm_stops_serve_cleanly_and_closes_the_feedback_store(
    standin: DiscordStandin, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stores: list[FeedbackStore] = []

    class RecordedStore(FeedbackStore):
        def __init__(self, path: Path) -> None:
            super().__init__(path)
            stores.append(self)

    monkeypatch.setattr(discord_bot, "FeedbackStore", RecordedStore)
    settings = Settings(corpus=corpus, discord_token="standin-token", feedback_db=tmp_path / "feedback.sqlite3")
    serving = asyncio.create_task(serve(settings))
    await standin.wait_ready(timeout=30)
    asked = await standin.invoke_slash("ask", {"question": BEIJING})
    answered = await follow_up(standin, asked)
    # serve() installed its handler; without one, SIGTERM would end the test run itself.
    assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN, None)
    os.kill(os.getpid(), signal.SIGTERM)
    async with asyncio.timeout(15):
        await serving  # returns, raises nothing
    assert answered.status == 200
    [store] = stores
    with pytest.raises(sqlite3.ProgrammingError):
        store.answer(1)
    assert not [t for t in threading.enumerate() if t.name == "wenda-corpus-watcher"]
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


# -- /add ---------------------------------------------------------------------------------------


async def test_add_by_a_manager_makes_the_attached_file_answerable(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], corpus: Path
) -> None:
    attachment = standin.attach("port.txt", PORT_TEXT.encode("utf-8"), "text/plain")
    async with standin.running(make_bot(open_library(corpus))):
        added = await standin.invoke_slash("add", {"file": attachment}, user=standin.manager)
        deferred = await standin.wait_for_reply(added)
        report = await follow_up(standin, added)
        asked = await standin.invoke_slash("ask", {"question": PORT_QUESTION})
        answer = await follow_up(standin, asked)
    assert deferred.json["type"] == 5
    assert report.json["content"] == "已加入 port.txt：1 篇文章，2 段。"
    assert (corpus / "port.txt").read_text(encoding="utf-8") == PORT_TEXT
    assert plain(answer.json["embeds"][0]["description"]).startswith(PORT_GOLD)


async def test_add_by_a_plain_member_is_refused(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], corpus: Path
) -> None:
    attachment = standin.attach("port.txt", PORT_TEXT.encode("utf-8"), "text/plain")
    async with standin.running(make_bot(open_library(corpus))):
        added = await standin.invoke_slash("add", {"file": attachment}, user=standin.member)
        refused = await standin.wait_for_reply(added)
    assert refused.json["type"] == 4
    assert refused.json["data"]["content"] == NOT_ALLOWED_TEXT
    assert standin.downloads == []  # not even fetched
    assert sorted(p.name for p in corpus.iterdir() if not p.name.startswith(".")) == [SEED.name]


@pytest.mark.parametrize("filename", ["../../../etc/cron.d/port.txt", "..\\..\\port.txt", "/tmp/port.txt"])
async def test_add_keeps_a_path_traversal_filename_inside_the_corpus(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], corpus: Path, tmp_path: Path, filename: str
) -> None:
    attachment = standin.attach(filename, PORT_TEXT.encode("utf-8"), "text/plain")
    bot = make_bot(open_library(corpus))
    before = {p for p in tmp_path.rglob("*") if not p.is_relative_to(corpus)}
    async with standin.running(bot):
        added = await standin.invoke_slash("add", {"file": attachment}, user=standin.manager)
        report = await follow_up(standin, added)
    assert report.json["content"] == "已加入 port.txt：1 篇文章，2 段。"
    assert (corpus / "port.txt").read_text(encoding="utf-8") == PORT_TEXT
    assert {p for p in tmp_path.rglob("*") if not p.is_relative_to(corpus)} == before


# -- load ---------------------------------------------------------------------------------------


async def test_concurrent_questions_while_the_corpus_changes_are_all_acknowledged_in_time(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], corpus: Path
) -> None:
    users, per_user, rate = 12, 5, 4
    bot = make_bot(open_library(corpus), watch=True, cooldown_rate=rate, cooldown_seconds=600)
    async with standin.running(bot, timeout=30):
        report = await load_discord.run_load(
            standin, bot, questions=users * per_user, users=users, corpus_changes=6, timeout=60
        )
        # The last file written while the questions queued is answered from, once the watcher caught up.
        asked = await standin.invoke_slash("ask", {"question": "新港区2号码头扩建后年吞吐能力是多少？"})
        answer = await follow_up(standin, asked)
    assert (report.late, report.failed, report.errors) == ([], [], [])
    assert report.acknowledged == users * per_user
    assert report.cooldowns == users * (per_user - rate)
    assert report.answered == report.deferred == users * rate
    assert report.corpus_changes == 6
    assert plain(answer.json["embeds"][0]["description"]).startswith(
        "新港区2号码头扩建工程投入使用后，年吞吐能力提高到321万吨"
    )


# -- corpus metadata that Discord would refuse --------------------------------------------------


async def test_answer_from_an_article_with_a_malformed_url_is_still_sent(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], corpus: Path
) -> None:
    front_matter = "---\ntitle: 港口码头扩建\nurl: https://example.org/港口 新闻/三号码头.html\n---\n\n"
    (corpus / "port.md").write_text(front_matter + PORT_TEXT.split("\n", 1)[1].replace("\n", "\n\n"), "utf-8")
    async with standin.running(make_bot(open_library(corpus))):
        asked = await standin.invoke_slash("ask", {"question": PORT_QUESTION})
        reply = await follow_up(standin, asked)
    assert reply.status == 200  # Discord answers 400 "Not a well formed URL" to a link with spaces
    top = reply.json["embeds"][0]
    assert plain(top["description"]).startswith(PORT_GOLD)
    assert "url" not in top
