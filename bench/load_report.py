"""What load_discord.py's load got from the bot: the stand-in's requests matched to the questions, tallied.

A question is answered by the bot's first callback to its interaction (the acknowledgement: a
deferral, or the cooldown's refusal) and the follow-up that carries the answer; a mention, by
the message in the thread started on it (its id is the question's) or a reply that references it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from discord_standin import DiscordStandin, InjectedInteraction, InjectedMessage, RecordedRequest

COOLDOWN_TEXT = "你问得有点快"
DEFERRED, MESSAGE = 5, 4  # interaction callback types: a deferred message, a message


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
    answer_workers: str = "0"  # WENDA_ANSWER_WORKERS
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
