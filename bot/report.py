"""What the corpus does not cover: questions, votes and the gaps, summarised from the feedback store."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from wenda.retrieval.text import Analyzer

from .answer import Status

if TYPE_CHECKING:  # the feedback database (sqlite3) is imported only where a report is made
    from .feedback import AskedQuestion, FeedbackStore

DEFAULT_SINCE = "7d"
EXAMPLES = 3
MAX_TERMS = 3
# Two questions share a topic when their content words overlap by at least this Jaccard index.
SAME_TOPIC = 0.3
# What people say around a question without asking anything (the stop words hold the interrogatives).
CHAT_WORDS = frozenset(
    {"你好", "您好", "请问", "问问", "想问", "一下", "谢谢", "多谢", "麻烦", "告诉", "知道", "想知道", "帮忙", "帮我"}
    | {"有人", "大家", "各位", "老师", "机器人", "wenda"}
)

_AGO = re.compile(r"(\d{1,6})([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


class BadSince(ValueError):
    """A --since, --purge-before or days value that names no time; the message says what would."""


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """`7d`, `24h`, `30m` (that long before now) or an ISO 8601 date or time (UTC unless it says) → a UTC time."""
    now = now or datetime.now(UTC)
    text = value.strip()
    ago = _AGO.fullmatch(text.lower())
    if ago:
        return now - timedelta(**{_UNITS[ago[2]]: int(ago[1])})
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise BadSince(
            f"{value!r} is not a time: give a span such as 7d, 24h or 30m, or a date such as 2024-05-01"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def iso(seconds: float | datetime) -> str:
    """A time as ISO 8601 UTC, to the second: 2024-05-01T08:30:00Z."""
    when = seconds if isinstance(seconds, datetime) else datetime.fromtimestamp(seconds, UTC)
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Gap:
    """Questions on one topic that went without a good answer: declined, or answered and given a 👎."""

    terms: tuple[str, ...]
    count: int
    first: float
    last: float
    examples: tuple[str, ...]


@dataclass(frozen=True)
class Report:
    since: datetime
    questions: int
    answered: int
    declined: int
    up: int
    down: int
    gaps: tuple[Gap, ...]


def topic_words(analyzer: Analyzer, question: str) -> tuple[str, ...]:
    """A question's content words, each once, in order: the analyzer's words (no stop words, hence no
    interrogatives), no chat.

    A lone CJK character (写, 副) is jieba's leftover more often than a topic, so it counts only in a
    question that has nothing else.
    """
    words = [w for w in dict.fromkeys(analyzer.words(question)) if w not in CHAT_WORDS]
    longer = [w for w in words if len(w) > 1 or w.isascii()]
    return tuple(longer or words)


def group_gaps(items: Sequence[AskedQuestion], words: Callable[[str], Sequence[str]]) -> list[Gap]:
    """Group questions by shared topic words, largest group first.

    Single-link clustering on the Jaccard index of the questions' word sets, joined at SAME_TOPIC.
    Questions are short, two to five content words, so 0.3 joins two questions that share one of two
    or three words each ({上海, 天气} and {明天, 上海, 天气}; {公积金, 提取} and {公积金, 提取, 材料}) and keeps
    apart those that share one word among many ({公积金, 贷款, 利率} and {公积金, 提取}). Grouping by
    each question's most frequent word instead lets one common word (北京, 需要) swallow unrelated
    questions, which is exactly what a report of gaps must not do. Only pairs that share a word are
    compared (through an inverted index), so a week of questions is quick.
    """
    said = [tuple(words(item.question)) for item in items]
    sets = [frozenset(ws) for ws in said]
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_word: dict[str, list[int]] = {}
    by_text: dict[str, int] = {}
    for i, ws in enumerate(sets):
        if not ws:  # no content word at all: only the same words asked again share its topic
            parent[i] = root(by_text.setdefault(items[i].question, i))
            continue
        seen: set[int] = set()
        for w in ws:
            for j in by_word.get(w, ()):
                if j not in seen:
                    seen.add(j)
                    if len(ws & sets[j]) / len(ws | sets[j]) >= SAME_TOPIC:
                        parent[root(i)] = root(j)
            by_word.setdefault(w, []).append(i)

    members: dict[int, list[int]] = {}
    for i in range(len(items)):
        members.setdefault(root(i), []).append(i)
    gaps = [_gap([items[i] for i in group], [said[i] for i in group]) for group in members.values()]
    gaps.sort(key=lambda g: (-g.count, -g.last, g.terms))
    return gaps


def _gap(items: list[AskedQuestion], said: list[tuple[str, ...]]) -> Gap:
    # The group's terms: the words shared by half its questions (two at least), most shared first,
    # then in the order they were said; a chain of questions sharing no one word shows its commonest.
    counts = Counter(w for ws in said for w in ws)
    ranked = sorted(dict.fromkeys(w for ws in said for w in ws), key=lambda w: -counts[w])
    needed = 1 if len(items) == 1 else max(2, (len(items) + 1) // 2)
    shared = [w for w in ranked if counts[w] >= needed] or ranked[:1]
    examples: list[str] = []
    for item in sorted(items, key=lambda q: -q.created):  # the latest wording first
        if item.question not in examples:
            examples.append(item.question)
    return Gap(
        terms=tuple(shared[:MAX_TERMS]),
        count=len(items),
        first=min(q.created for q in items),
        last=max(q.created for q in items),
        examples=tuple(examples[:EXAMPLES]),
    )


def build_report(store: FeedbackStore, analyzer: Analyzer, since: datetime) -> Report:
    """The report of everything the store recorded at or after `since` (blocking: run it off the event loop)."""
    from .feedback import DECLINED

    start = since.timestamp()
    asked = store.questions_since(start)
    declined = [q for q in asked if q.status in DECLINED]
    up, down = store.vote_totals(start)
    cache: dict[str, frozenset[str]] = {}

    def words(question: str) -> frozenset[str]:
        if question not in cache:
            cache[question] = topic_words(analyzer, question)
        return cache[question]

    gaps = group_gaps(declined + store.downvoted_since(start), words)
    return Report(
        since=since,
        questions=len(asked),
        answered=sum(q.status == Status.ANSWERED for q in asked),
        declined=len(declined),
        up=up,
        down=down,
        gaps=tuple(gaps),
    )


def to_json(report: Report) -> dict:
    """The JSON shape of `wenda report --json`."""
    return {
        "since": iso(report.since),
        "questions": report.questions,
        "answered": report.answered,
        "declined": report.declined,
        "votes": {"up": report.up, "down": report.down},
        "gaps": [
            {
                "terms": list(g.terms),
                "count": g.count,
                "first": iso(g.first),
                "last": iso(g.last),
                "examples": list(g.examples),
            }
            for g in report.gaps
        ],
    }


def summary_line(report: Report) -> str:
    """One line of the totals, in Chinese, for Discord."""
    return (
        f"提问 {report.questions} 次：回答 {report.answered}，未覆盖 {report.declined} · "
        f"👍 {report.up} · 👎 {report.down}"
    )


def gap_line(gap: Gap, example_chars: int = 80) -> str:
    """One gap on one line of plain text (not yet escaped for Discord)."""
    terms = "、".join(gap.terms) or "（无关键词）"
    first, last = iso(gap.first)[:10], iso(gap.last)[:10]
    span = first if first == last else f"{first}–{last}"
    examples = " / ".join(e if len(e) <= example_chars else e[: example_chars - 1] + "…" for e in gap.examples)
    return f"{gap.count} 次 · {terms} · {span} · 例：{examples}"
