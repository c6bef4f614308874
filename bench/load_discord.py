"""Load on the Discord bot: many /ask from many users at once while the corpus folder changes under it.

The real discord.py client runs against the protocol-level stand-in (tests/discord_standin.py) in
this process, with the corpus watcher on and a real Library whose cache lives in a temp folder.
Every interaction must be acknowledged within Discord's 3-second deadline (deferred, or refused
by the cooldown) and every deferred one answered; no ERROR may be logged. Latencies are measured
on the stand-in's clock: from sending INTERACTION_CREATE to receiving the bot's callback, and to
receiving the follow-up that carries the answer.

    python bench/load_discord.py                      # 200 questions from 20 users
    python bench/load_discord.py --questions 1000 --users 50 --cooldown-rate 0
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from discord_standin import DiscordStandin, InjectedInteraction, RecordedRequest  # noqa: E402

from wenda.bot.discord_bot import WendaBot  # noqa: E402
from wenda.bot.feedback import FeedbackStore  # noqa: E402
from wenda.bot.settings import Settings  # noqa: E402
from wenda.retrieval.store import Library, Refresh, StoreSettings  # noqa: E402

SEED = REPO / "corpus" / "000_7b005711537558e1.txt"
QUESTIONS = (
    "北京城市副中心政务服务中心什么时候投入运行？",
    "衢州市副市长是谁？",
    "智慧城市建设如何释放数据要素红利？",
    "二十届中共中央政治局第一次集体学习的主题是什么？",
    "今天上海的天气怎么样？",  # not covered: declined, still deferred and answered
    "新港区码头扩建后吞吐能力是多少？",  # about the files written during the run
)
COOLDOWN_TEXT = "你问得有点快"
DEFERRED, MESSAGE = 5, 4


@dataclass
class LoadReport:
    questions: int
    users: int
    deadline: float
    cooldown: str
    corpus_changes: int
    deferred: int = 0
    cooldowns: int = 0
    other_replies: int = 0
    answered: int = 0
    late: list[str] = field(default_factory=list)  # interactions not acknowledged within the deadline
    failed: list[str] = field(default_factory=list)  # callbacks or follow-ups the stand-in refused
    to_first: list[float] = field(default_factory=list)  # seconds, dispatch → first callback
    to_answer: list[float] = field(default_factory=list)  # seconds, dispatch → follow-up
    errors: list[str] = field(default_factory=list)  # ERROR log records
    refreshes: int = 0
    seconds: float = 0.0

    @property
    def acknowledged(self) -> int:
        return self.deferred + self.cooldowns + self.other_replies

    def table(self) -> str:
        rows = [
            ("questions / users", f"{self.questions} / {self.users}"),
            ("cooldown", self.cooldown),
            ("acknowledged within the deadline", f"{self.acknowledged - len(self.late)} of {self.questions}"),
            ("deferred, then answered", f"{self.deferred}, {self.answered}"),
            ("refused by the cooldown", str(self.cooldowns)),
            ("dispatch → first callback, p50 / p99", p50_p99(self.to_first)),
            ("dispatch → answer, p50 / p99", p50_p99(self.to_answer)),
            ("corpus files written / index refreshes", f"{self.corpus_changes} / {self.refreshes}"),
            ("errors logged", str(len(self.errors))),
            ("wall time", f"{self.seconds:.1f} s"),
        ]
        lines = ["| | |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows)]
        return "\n".join(lines)


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank percentile (nan for no values)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def p50_p99(seconds: list[float]) -> str:
    return f"{percentile(seconds, 50) * 1000:.0f} ms / {percentile(seconds, 99) * 1000:.0f} ms"


class ErrorLog(logging.Handler):
    """Collects every ERROR (and worse) record logged anywhere while installed."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()}")


def port_article(n: int, version: int = 0) -> str:
    """A one-article .txt about harbour n, different for every version."""
    tons = 300 + 10 * n + version
    return (
        f"新港区{n}号码头扩建\n"
        f"新港区{n}号码头扩建工程投入使用后，年吞吐能力提高到{tons}万吨。\n"
        f"码头工人实行四班三运转，第{version + 1}次调整后每班工作八小时。\n"
    )


async def run_load(
    standin: DiscordStandin,
    bot: WendaBot,
    *,
    questions: int,
    users: int,
    corpus_changes: int,
    timeout: float = 120.0,
) -> LoadReport:
    """Fire the questions at a running bot from `users` new members, changing the corpus meanwhile.

    The bot must already be running against the standin (standin.running(bot)), watcher on.
    """
    library = bot.library
    watcher = bot.watcher
    written: dict[str, str] = {}  # file name → sha256 of its last version
    refreshes = 0
    refreshed = threading.Condition()

    def on_refresh(result: Refresh) -> None:
        nonlocal refreshes
        with refreshed:
            refreshes += 1
            refreshed.notify_all()

    def indexed() -> bool:
        return all(getattr(library.files.get(name), "sha256", None) == digest for name, digest in written.items())

    def wait_indexed() -> bool:
        with refreshed:
            return refreshed.wait_for(indexed, timeout)

    if watcher is not None:
        watcher.on_refresh = on_refresh
        if not await asyncio.to_thread(watcher.ready.wait, 30):
            raise TimeoutError("the corpus watcher did not start")

    cooldown = (
        f"{bot.settings.cooldown_rate} per {bot.settings.cooldown_seconds:g} s" if bot.settings.cooldown_rate else "off"
    )
    report = LoadReport(questions, users, standin.interaction_deadline, cooldown, corpus_changes)
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    members = [standin.add_member(f"读者{n}") for n in range(users)]
    started = time.monotonic()
    try:
        every = max(1, questions // max(1, corpus_changes))
        sends = []
        change = 0
        for n in range(questions):
            user = members[n % users]
            question = QUESTIONS[n % len(QUESTIONS)]
            sends.append(asyncio.ensure_future(standin.invoke_slash("ask", {"question": question}, user=user)))
            if n % every == every - 1 and change < corpus_changes:
                # Alternately a new file and a new version of an earlier one, written while questions queue.
                name = f"port-{change // 2}.txt"
                data = port_article(change // 2, version=change % 2).encode("utf-8")
                written[name] = hashlib.sha256(data).hexdigest()
                await asyncio.to_thread((library.root / name).write_bytes, data)
                change += 1
        injected: list[InjectedInteraction] = await asyncio.gather(*sends)
        report.corpus_changes = change

        callbacks = {i.callback_path: i for i in injected}
        hooks = {i.webhook_path: i for i in injected}
        first: dict[int, RecordedRequest] = {}
        follow: dict[int, RecordedRequest] = {}
        seen = 0

        def settled() -> bool:
            nonlocal seen
            for request in standin.requests[seen:]:
                if request.method != "POST":
                    continue
                if (i := callbacks.get(request.path)) is not None and i.id not in first:
                    first[i.id] = request
                elif (i := hooks.get(request.path)) is not None and i.id not in follow:
                    follow[i.id] = request
            seen = len(standin.requests)
            deferred = sum(1 for r in first.values() if r.status < 300 and r.json["type"] == DEFERRED)
            return len(first) == len(injected) and len(follow) >= deferred

        await standin.wait_until(settled, timeout=timeout)
        if watcher is not None and not await asyncio.to_thread(wait_indexed):
            raise TimeoutError("the watcher did not index the last version of every file written")
    finally:
        logging.getLogger().removeHandler(errors)
    report.seconds = time.monotonic() - started
    report.refreshes = refreshes
    report.errors = errors.records

    for i in injected:
        callback = first[i.id]
        took = callback.at - i.dispatched_at
        report.to_first.append(took)
        if callback.status >= 300:
            report.failed.append(f"{i.id}: callback {callback.status} {callback.response}")
            continue
        if took > standin.interaction_deadline:
            report.late.append(f"{i.id}: first callback after {took:.2f} s")
        kind = callback.json["type"]
        content = (callback.json.get("data") or {}).get("content") or ""
        if kind == DEFERRED:
            report.deferred += 1
            answer = follow[i.id]
            if answer.status == 200:
                report.answered += 1
                report.to_answer.append(answer.at - i.dispatched_at)
            else:
                report.failed.append(f"{i.id}: follow-up {answer.status} {answer.response}")
        elif kind == MESSAGE and content.startswith(COOLDOWN_TEXT):
            report.cooldowns += 1
        else:
            report.other_replies += 1
    return report


async def main_async(args: argparse.Namespace) -> LoadReport:
    with tempfile.TemporaryDirectory(prefix="wenda-load-") as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        shutil.copy(SEED, corpus / SEED.name)
        library = await asyncio.to_thread(Library.open, corpus, StoreSettings())
        settings = Settings(corpus=corpus, cooldown_rate=args.cooldown_rate, cooldown_seconds=args.cooldown_seconds)
        feedback = FeedbackStore(Path(tmp) / "feedback.sqlite3")
        try:
            async with DiscordStandin() as standin:
                with standin.patched():
                    bot = WendaBot(settings, library, feedback, watch=True, guild_ready_timeout=0.05)
                    async with standin.running(bot, timeout=30):
                        return await run_load(
                            standin, bot, questions=args.questions, users=args.users, corpus_changes=args.changes
                        )
        finally:
            feedback.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--changes", type=int, default=10, help="corpus files written during the run")
    parser.add_argument("--cooldown-rate", type=int, default=8, help="questions per user per period (0: off)")
    parser.add_argument("--cooldown-seconds", type=float, default=60.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    report = asyncio.run(main_async(args))
    command = " ".join(["python bench/load_discord.py", *sys.argv[1:]])
    print(f"`{command}`\n")
    print(report.table())
    for problem in [*report.late, *report.failed, *report.errors]:
        print(f"- {problem}")
    ok = not (report.late or report.failed or report.errors) and report.acknowledged == report.questions
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
