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
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from discord_standin import DiscordStandin, InjectedInteraction, InjectedMessage, RecordedRequest  # noqa: E402
from load_bot import BotProcess, BotUnderLoad, InProcessBot  # noqa: E402

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
COOLDOWN_TEXT = "你问得有点快"
DEFERRED, MESSAGE = 5, 4
# The run's own article files go here, inside the corpus, and are removed when it ends.
CHURN_DIR = "load-churn"


@dataclass
class LoadReport:
    mode: str  # "burst" or "sustained"
    questions: int  # sent: /ask and mentions
    users: int
    deadline: float
    cooldown: str
    corpus_changes: int
    mentions: int = 0
    deferred: int = 0
    cooldowns: int = 0
    other_replies: int = 0
    answered: int = 0  # deferred /ask followed up, and mentions answered
    late: list[str] = field(default_factory=list)  # interactions not acknowledged within the deadline
    failed: list[str] = field(default_factory=list)  # callbacks or answers the stand-in refused
    to_first: list[float] = field(default_factory=list)  # seconds, /ask dispatch → first callback
    to_answer: list[float] = field(default_factory=list)  # seconds, /ask dispatch → follow-up
    mention_answer: list[float] = field(default_factory=list)  # seconds, mention → answer message
    errors: list[str] = field(default_factory=list)  # ERROR log records
    refreshes: int = 0
    seconds: float = 0.0
    send_lag: list[float] = field(default_factory=list)  # sustained: seconds each arrival was sent late
    load: list[float] = field(default_factory=list)  # the 1-minute load average, sampled during the run
    bot_cpu: float | None = None  # CPU seconds of the bot's process and its children during the run
    layout: str = "bot in its own process"
    answer_workers: str = "auto"  # WENDA_ANSWER_WORKERS
    # For --timeline: each question (when sent, kind, seconds to acknowledgement and to answer) and
    # each refresh (when it ended, how long it took), on the monotonic clock all processes share.
    timeline: list[dict] = field(default_factory=list)
    refreshed: list[tuple[float, float]] = field(default_factory=list)

    @property
    def acknowledged(self) -> int:
        return self.deferred + self.cooldowns + self.other_replies

    @property
    def slash(self) -> int:
        return self.questions - self.mentions

    def table(self) -> str:
        answers = [*self.to_answer, *self.mention_answer]
        rows = [
            ("load", self.shape()),
            ("layout, answer workers", f"{self.layout}, {self.answer_workers}"),
            ("cooldown", self.cooldown),
            ("/ask acknowledged within the deadline", f"{self.acknowledged - len(self.late)} of {self.slash}"),
            ("/ask deferred / refused by the cooldown", f"{self.deferred} / {self.cooldowns}"),
            ("answers sent (follow-ups and mention replies)", str(self.answered)),
            ("/ask → acknowledgement, p50 / p99 / max", spread(self.to_first, (50, 99, 100))),
            ("/ask → answer, p50 / p95 / p99 / max", spread(self.to_answer, (50, 95, 99, 100))),
        ]
        if self.mentions:
            rows.append(("mention → answer, p50 / p95 / p99 / max", spread(self.mention_answer, (50, 95, 99, 100))))
            rows.append(("all answers, p50 / p95 / p99 / max", spread(answers, (50, 95, 99, 100))))
        rows += [
            ("corpus files changed / index refreshes", f"{self.corpus_changes} / {self.refreshes}"),
            ("errors logged, requests refused", f"{len(self.errors)}, {len(self.failed)}"),
            ("wall time", f"{self.seconds:.1f} s"),
        ]
        if self.send_lag:
            rows.append(("arrivals sent late, p99 / max", spread(self.send_lag, (99, 100))))
        if self.bot_cpu is not None:
            cores = self.bot_cpu / self.seconds
            rows.append(("bot CPU (its process and workers)", f"{self.bot_cpu:.0f} s, {cores:.2f} cores"))
        if self.load:
            rows.append(("load average (1 min), start / max", f"{self.load[0]:.2f} / {max(self.load):.2f}"))
        lines = ["| | |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows)]
        return "\n".join(lines)

    def shape(self) -> str:
        mentions = f" ({self.mentions} of them mentions)" if self.mentions else ""
        if self.mode == "burst":
            return f"burst: {self.questions} questions at once{mentions} from {self.users} users"
        return f"sustained: {self.questions} questions{mentions} from {self.users} users"


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank percentile (nan for no values); p=100 is the maximum."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def spread(seconds: list[float], ps: Sequence[float]) -> str:
    return " / ".join(f"{percentile(seconds, p) * 1000:,.0f}" for p in ps) + " ms"


def p50_p99(seconds: list[float]) -> str:
    return spread(seconds, (50, 99))


def port_article(n: int, version: int = 0) -> str:
    """A one-article .txt about harbour n, different for every version."""
    tons = 300 + 10 * n + version
    return (
        f"新港区{n}号码头扩建\n"
        f"新港区{n}号码头扩建工程投入使用后，年吞吐能力提高到{tons}万吨。\n"
        f"码头工人实行四班三运转，第{version + 1}次调整后每班工作八小时。\n"
    )


# -- what the bot sent ----------------------------------------------------------------------------

Asked = InjectedInteraction | InjectedMessage


class Replies:
    """Matches the stand-in's recorded requests to the questions asked, as they arrive."""

    def __init__(self, standin: DiscordStandin) -> None:
        self.standin = standin
        self.callbacks: dict[str, InjectedInteraction] = {}
        self.hooks: dict[str, InjectedInteraction] = {}
        self.threads: dict[str, InjectedMessage] = {}  # a thread's messages path (its id is the question's)
        self.mentions: dict[str, InjectedMessage] = {}  # question message id → question
        self.first: dict[int, RecordedRequest] = {}  # interaction → its callback
        self.answer: dict[int, RecordedRequest] = {}  # interaction or message → the answer
        self._seen = 0

    def add(self, asked: Asked) -> None:
        if isinstance(asked, InjectedInteraction):
            self.callbacks[asked.callback_path] = asked
            self.hooks[asked.webhook_path] = asked
        else:
            self.threads[f"/channels/{asked.id}/messages"] = asked
            self.mentions[str(asked.id)] = asked

    def scan(self) -> None:
        for request in self.standin.requests[self._seen :]:
            if request.method != "POST":
                continue
            if (i := self.callbacks.get(request.path)) is not None:
                self.first.setdefault(i.id, request)
            elif (i := self.hooks.get(request.path)) is not None:
                self.answer.setdefault(i.id, request)
            elif (m := self.threads.get(request.path)) is not None:
                self.answer.setdefault(m.id, request)
            elif request.path.endswith("/messages") and isinstance(request.json, dict):
                reference = request.json.get("message_reference") or {}
                if (m := self.mentions.get(str(reference.get("message_id")))) is not None:
                    self.answer.setdefault(m.id, request)
        self._seen = len(self.standin.requests)

    def settled(self, asked: list[Asked]) -> bool:
        self.scan()
        for a in asked:
            if isinstance(a, InjectedInteraction):
                callback = self.first.get(a.id)
                if callback is None:
                    return False
                if callback.status < 300 and callback.json["type"] == DEFERRED and a.id not in self.answer:
                    return False
            elif a.id not in self.answer:
                return False
        return True


def tally(report: LoadReport, asked: list[Asked], replies: Replies, deadline: float) -> None:
    for a in asked:
        if isinstance(a, InjectedMessage):
            reply = replies.answer[a.id]
            content = (reply.json or {}).get("content") or ""
            if reply.status >= 300:
                report.failed.append(f"mention {a.id}: {reply.status} {reply.response}")
            elif content.startswith(COOLDOWN_TEXT):
                report.cooldowns += 1
            else:
                report.answered += 1
                took = reply.at - a.dispatched_at
                report.mention_answer.append(took)
                report.timeline.append({"sent": a.dispatched_at, "kind": "mention", "answer": took})
            continue
        callback = replies.first[a.id]
        took = callback.at - a.dispatched_at
        report.to_first.append(took)
        if callback.status >= 300:
            report.failed.append(f"{a.id}: callback {callback.status} {callback.response}")
            continue
        if took > deadline:
            report.late.append(f"{a.id}: first callback after {took:.2f} s")
        kind = callback.json["type"]
        content = (callback.json.get("data") or {}).get("content") or ""
        if kind == DEFERRED:
            report.deferred += 1
            answer = replies.answer[a.id]
            if answer.status == 200:
                report.answered += 1
                report.to_answer.append(answer.at - a.dispatched_at)
                report.timeline.append(
                    {"sent": a.dispatched_at, "kind": "ask", "ack": took, "answer": answer.at - a.dispatched_at}
                )
            else:
                report.failed.append(f"{a.id}: follow-up {answer.status} {answer.response}")
        elif kind == MESSAGE and content.startswith(COOLDOWN_TEXT):
            report.cooldowns += 1
        else:
            report.other_replies += 1


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
    report.answer_workers = args.answer_workers or "auto"
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
    parser.add_argument("--answer-workers", help="the bot's WENDA_ANSWER_WORKERS (default: the bot's own, auto)")
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
