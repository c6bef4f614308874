"""Load on the Discord bot: many questions from many users while the corpus folder changes under it.

The real discord.py client runs against the protocol-level stand-in (tests/discord_standin.py),
with the corpus watcher on and a real Library. Two shapes of load:

- burst: N `/ask` sent at once from U users, corpus files written while they queue;
- sustained: an open-loop arrival (Poisson) of R questions a second for S seconds from U users,
  `/ask` and a share of @mentions, while another task adds, edits and deletes an article file
  every few seconds, so the watcher refreshes the index under the load.

By default the bot runs in a process of its own (bench/load_bot.py, settings from the environment
as `wenda bot` reads them) and the stand-in and the load generator in this one, as Discord's
servers are apart from the bot; `--in-process` puts the bot on this process's event loop instead
(what tests/test_operations.py does). Every interaction must be acknowledged within Discord's
3-second deadline (deferred, or refused by the cooldown) and every question answered; no ERROR
may be logged. Latencies are measured on the stand-in's clock: from sending INTERACTION_CREATE (or
MESSAGE_CREATE for a mention) to receiving the bot's callback, and to receiving the message that
carries the answer.

    python bench/load_discord.py                      # a burst of 200 /ask from 20 users, seed corpus
    python bench/load_discord.py --questions 1000 --users 50 --cooldown-rate 0
    python bench/load_discord.py --sustained --rate 20 --seconds 60 --users 100 --cooldown-rate 0 \\
        --corpus /tmp/ld/100k --question-file bench/data/questions.json
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from discord_standin import DiscordStandin  # noqa: E402
from load_bot import BotProcess, BotUnderLoad, InProcessBot  # noqa: E402
from load_report import Asked, LoadReport, Replies, tally  # noqa: E402

from wenda.bot.discord_bot import WendaBot  # noqa: E402
from wenda.bot.feedback import FeedbackStore  # noqa: E402
from wenda.bot.settings import Settings  # noqa: E402
from wenda.retrieval.store import Library, StoreSettings  # noqa: E402

SEED = REPO / "corpus" / "000_7b005711537558e1.txt"
QUESTIONS = (
    "北京城市副中心政务服务中心什么时候投入运行？",
    "衢州市副市长是谁？",
    "智慧城市建设如何释放数据要素红利？",
    "二十届中共中央政治局第一次集体学习的主题是什么？",
    "今天上海的天气怎么样？",  # not covered: declined, still deferred and answered
    "新港区码头扩建后吞吐能力是多少？",  # about the files written during the run
)
# The run's own article files go here, inside the corpus, and are removed when it ends.
CHURN_DIR = "load-churn"


def port_article(n: int, version: int = 0) -> str:
    """A one-article .txt about harbour n, different for every version."""
    tons = 300 + 10 * n + version
    return (
        f"新港区{n}号码头扩建\n"
        f"新港区{n}号码头扩建工程投入使用后，年吞吐能力提高到{tons}万吨。\n"
        f"码头工人实行四班三运转，第{version + 1}次调整后每班工作八小时。\n"
    )


# -- the corpus changing under the load -----------------------------------------------------------


class Churn:
    """Article files of the run's own, in CHURN_DIR of the corpus: added, rewritten and deleted."""

    def __init__(self, root: Path) -> None:
        self.folder = root / CHURN_DIR
        self.written: dict[str, str | None] = {}  # corpus-relative name → sha256 of its last version, None: deleted
        self.changes = 0
        self._live: list[int] = []
        self._versions: dict[int, int] = {}

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def _write(self, n: int, version: int) -> None:
        data = port_article(n, version).encode("utf-8")
        self.folder.mkdir(exist_ok=True)
        (self.folder / f"port-{n}.txt").write_bytes(data)
        self.written[f"{CHURN_DIR}/port-{n}.txt"] = hashlib.sha256(data).hexdigest()
        self._versions[n] = version

    def add_or_edit(self) -> None:
        """The burst's change: alternately a new file and a new version of the last one."""
        n = self.changes // 2
        self._write(n, version=self.changes % 2)
        self.changes += 1

    def step(self) -> str:
        """The sustained run's change, in turn: add a new article, edit one, delete the oldest."""
        kind = ("add", "edit", "delete")[self.changes % 3] if self._live else "add"
        if kind == "add":
            n = len(self._versions)
            self._write(n, 0)
            self._live.append(n)
        elif kind == "edit":
            n = self._live[-1]
            self._write(n, self._versions[n] + 1)
        else:
            n = self._live.pop(0)
            (self.folder / f"port-{n}.txt").unlink()
            self.written[f"{CHURN_DIR}/port-{n}.txt"] = None
        self.changes += 1
        return kind


async def _sample_load(samples: list[float], every: float = 2.0) -> None:
    while True:
        samples.append(os.getloadavg()[0])
        await asyncio.sleep(every)


# -- the two loads --------------------------------------------------------------------------------


async def _finish(
    standin: DiscordStandin,
    target: BotUnderLoad,
    report: LoadReport,
    asked: list[Asked],
    replies: Replies,
    churn: Churn,
    started: float,
    cpu_before: float | None,
    timeout: float,
) -> LoadReport:
    """Wait for every answer and for the index to hold the last version of every file; fill the report."""
    await standin.wait_until(lambda: replies.settled(asked), timeout=timeout)
    report.seconds = time.monotonic() - started
    cpu_after = target.cpu_seconds()
    if cpu_before is not None and cpu_after is not None:
        report.bot_cpu = cpu_after - cpu_before
    deadline = time.monotonic() + timeout
    while not target.indexed(churn.written):
        if time.monotonic() > deadline:
            raise TimeoutError("the watcher did not index the last version of every file written")
        await asyncio.sleep(0.1)
    report.corpus_changes = churn.changes
    report.refreshes = target.refreshes
    report.refreshed = list(target.refreshed)
    report.errors = list(target.errors)
    tally(report, asked, replies, standin.interaction_deadline)
    return report


def _cooldown(settings: Settings) -> str:
    return f"{settings.cooldown_rate} per {settings.cooldown_seconds:g} s" if settings.cooldown_rate else "off"


async def burst(
    standin: DiscordStandin,
    target: BotUnderLoad,
    *,
    questions: int,
    users: int,
    corpus_changes: int,
    cooldown: str,
    texts: Sequence[str] = QUESTIONS,
    timeout: float = 120.0,
) -> LoadReport:
    """Send every /ask at once from `users` new members, writing corpus files while they queue."""
    await target.wait_watching()
    report = LoadReport("burst", questions, users, standin.interaction_deadline, cooldown, corpus_changes)
    members = [standin.add_member(f"读者{n}") for n in range(users)]
    churn = Churn(target.root)
    replies = Replies(standin)
    sampler = asyncio.ensure_future(_sample_load(report.load))
    started = time.monotonic()
    cpu_before = target.cpu_seconds()
    try:
        every = max(1, questions // max(1, corpus_changes))
        sends = []
        for n in range(questions):
            sends.append(
                asyncio.ensure_future(
                    standin.invoke_slash("ask", {"question": texts[n % len(texts)]}, user=members[n % users])
                )
            )
            if n % every == every - 1 and churn.changes < corpus_changes:
                await asyncio.to_thread(churn.add_or_edit)
        asked: list[Asked] = list(await asyncio.gather(*sends))
        for a in asked:
            replies.add(a)
        return await _finish(standin, target, report, asked, replies, churn, started, cpu_before, timeout)
    finally:
        sampler.cancel()


async def sustained(
    standin: DiscordStandin,
    target: BotUnderLoad,
    *,
    rate: float,
    seconds: float,
    users: int,
    mention_share: float,
    change_every: float,
    cooldown: str,
    texts: Sequence[str] = QUESTIONS,
    seed: int = 18,
    timeout: float = 120.0,
) -> LoadReport:
    """An open-loop Poisson arrival of `rate` questions a second for `seconds` seconds.

    Each question is sent at its scheduled time whatever the bot is doing (a closed loop would wait
    for answers and so ask less of a slow bot); a user is drawn at random for each, and a share of
    them are @mentions in the channel instead of /ask. A file of the corpus changes every
    `change_every` seconds meanwhile.
    """
    await target.wait_watching()
    rng = random.Random(seed)
    order = list(texts)
    rng.shuffle(order)
    report = LoadReport("sustained", 0, users, standin.interaction_deadline, cooldown, 0)
    members = [standin.add_member(f"读者{n}") for n in range(users)]
    bot_user = standin.bot_user
    churn = Churn(target.root)
    replies = Replies(standin)
    loop = asyncio.get_running_loop()
    asked: list[Asked] = []

    async def send(text: str, user, mention: bool) -> None:
        if mention:
            a: Asked = await standin.send_message(f"{bot_user.mention} {text}", author=user, mentions=[bot_user])
        else:
            a = await standin.invoke_slash("ask", {"question": text}, user=user)
        replies.add(a)
        asked.append(a)

    async def change() -> None:
        while True:
            await asyncio.sleep(change_every)
            await asyncio.to_thread(churn.step)

    sampler = asyncio.ensure_future(_sample_load(report.load))
    changer = asyncio.ensure_future(change())
    started = time.monotonic()
    cpu_before = target.cpu_seconds()
    t0 = loop.time()
    sends = []
    try:
        at = rng.expovariate(rate)
        n = 0
        while at < seconds:
            await asyncio.sleep(max(0.0, t0 + at - loop.time()))
            report.send_lag.append(max(0.0, loop.time() - (t0 + at)))
            mention = rng.random() < mention_share
            report.mentions += mention
            sends.append(asyncio.ensure_future(send(order[n % len(order)], members[rng.randrange(users)], mention)))
            n += 1
            at += rng.expovariate(rate)
        changer.cancel()
        await asyncio.gather(*sends)
        report.questions = n
        return await _finish(standin, target, report, asked, replies, churn, started, cpu_before, timeout)
    finally:
        changer.cancel()
        sampler.cancel()


async def run_load(
    standin: DiscordStandin,
    bot: WendaBot,
    *,
    questions: int,
    users: int,
    corpus_changes: int,
    timeout: float = 120.0,
) -> LoadReport:
    """A burst at a bot already running on this event loop against the stand-in, watcher on."""
    with InProcessBot(bot) as target:
        report = await burst(
            standin, target, questions=questions, users=users, corpus_changes=corpus_changes,
            cooldown=_cooldown(bot.settings), timeout=timeout,
        )  # fmt: skip
    report.layout = "bot on the load's event loop"
    return report


# -- the command line -----------------------------------------------------------------------------


async def _load(
    args: argparse.Namespace, standin: DiscordStandin, target: BotUnderLoad, texts: list[str]
) -> LoadReport:
    cooldown = f"{args.cooldown_rate} per {args.cooldown_seconds:g} s" if args.cooldown_rate else "off"
    if args.sustained:
        return await sustained(
            standin, target, rate=args.rate, seconds=args.seconds, users=args.users, mention_share=args.mentions,
            change_every=args.change_every, cooldown=cooldown, texts=texts,
        )  # fmt: skip
    return await burst(
        standin, target, questions=args.questions, users=args.users, corpus_changes=args.changes,
        cooldown=cooldown, texts=texts,
    )  # fmt: skip


async def main_async(args: argparse.Namespace) -> LoadReport:
    texts = list(QUESTIONS)
    if args.question_file:
        texts = [q["question"] for q in json.loads(Path(args.question_file).read_text(encoding="utf-8"))]
    with tempfile.TemporaryDirectory(prefix="wenda-load-") as tmp:
        if args.corpus:
            corpus = Path(args.corpus).resolve()
        else:
            corpus = Path(tmp) / "corpus"
            corpus.mkdir()
            shutil.copy(SEED, corpus / SEED.name)
        Churn(corpus).clear()  # what an interrupted run left
        env = {
            "WENDA_CORPUS": str(corpus),
            "WENDA_FEEDBACK_DB": str(Path(tmp) / "feedback.sqlite3"),
            "WENDA_COOLDOWN_RATE": str(args.cooldown_rate),
            "WENDA_COOLDOWN_SECONDS": str(args.cooldown_seconds),
        }
        if args.answer_workers is not None:
            env["WENDA_ANSWER_WORKERS"] = args.answer_workers
        try:
            async with DiscordStandin() as standin:
                if not args.in_process:
                    async with BotProcess(standin, env, corpus) as target:
                        report = await _load(args, standin, target, texts)
                    if target.errors != report.errors:  # logged while stopping
                        report.errors = list(target.errors)
                    return report
                library = await asyncio.to_thread(Library.open, corpus, StoreSettings())
                settings = Settings.from_env(env, dotenv=None)
                feedback = FeedbackStore(settings.feedback_path)
                try:
                    with standin.patched():
                        bot = WendaBot(settings, library, feedback, watch=True, guild_ready_timeout=0.05)
                        async with standin.running(bot, timeout=30):
                            with InProcessBot(bot) as target:
                                return await _load(args, standin, target, texts)
                finally:
                    feedback.close()
        finally:
            Churn(corpus).clear()


def _layout(report: LoadReport, args: argparse.Namespace) -> LoadReport:
    if args.in_process:
        report.layout = "bot on the load's event loop"
    report.answer_workers = args.answer_workers or os.environ.get("WENDA_ANSWER_WORKERS") or "0"
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sustained", action="store_true", help="an open-loop arrival instead of a burst")
    parser.add_argument("--questions", type=int, default=200, help="burst: how many /ask")
    parser.add_argument("--changes", type=int, default=10, help="burst: corpus files written during the run")
    parser.add_argument("--rate", type=float, default=20.0, help="sustained: questions a second")
    parser.add_argument("--seconds", type=float, default=60.0, help="sustained: for how long")
    parser.add_argument("--mentions", type=float, default=0.1, help="sustained: share of mentions")
    parser.add_argument("--change-every", type=float, default=3.0, help="sustained: seconds between corpus changes")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--cooldown-rate", type=int, default=8, help="questions per user per period (0: off)")
    parser.add_argument("--cooldown-seconds", type=float, default=60.0)
    parser.add_argument("--corpus", help="a corpus folder to serve (indexed beforehand); default: the seed article")
    parser.add_argument("--question-file", help="a JSON list of {question: ...} to ask, in turn")
    parser.add_argument("--in-process", action="store_true", help="run the bot on the load's own event loop")
    parser.add_argument("--answer-workers", help="the bot's WENDA_ANSWER_WORKERS (default: the environment's, else 0)")
    parser.add_argument("--timeline", help="write every question's and refresh's times to this JSON file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    report = _layout(asyncio.run(main_async(args)), args)
    if args.timeline:
        timeline = {"questions": report.timeline, "refreshes": report.refreshed}
        Path(args.timeline).write_text(json.dumps(timeline), encoding="utf-8")
    command = " ".join(["python bench/load_discord.py", *sys.argv[1:]])
    print(f"`{command}`\n")
    print(report.table())
    for problem in [*report.late, *report.failed, *report.errors]:
        print(f"- {problem}")
    ok = not (report.late or report.failed or report.errors) and report.acknowledged == report.slash
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
