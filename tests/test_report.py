"""The report of what the corpus does not cover, its store queries, `wenda report` and the purges."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from wenda.bot import cli
from wenda.bot.answer import Answer, Status
from wenda.bot.feedback import FeedbackStore
from wenda.bot.report import BadSince, build_report, parse_since, to_json, topic_words
from wenda.retrieval.text import Analyzer

NOW = time.time()
HOUR = 3600.0
DAY = 24 * HOUR
ALICE, BOB, CAROL = 111, 222, 333


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer()


@pytest.fixture
def store(tmp_path: Path):
    opened = FeedbackStore(tmp_path / "feedback.sqlite3")
    yield opened
    opened.close()


def ask(store: FeedbackStore, question: str, status: Status, user: int = ALICE, ago: float = HOUR) -> None:
    assert store.record_question(Answer(question, status), user, when=NOW - ago)


def answered(store: FeedbackStore, question: str, user: int = ALICE, ago: float = HOUR) -> int:
    """An answered question as the bot stores it: counted, and its answer kept for the buttons."""
    ask(store, question, Status.ANSWERED, user, ago)
    answer_id = store.record_answer(Answer(question, Status.ANSWERED), user)
    with sqlite3.connect(store.path) as db:  # the answer's time, as if it were stored `ago` seconds back
        db.execute("UPDATE answers SET created = ? WHERE id = ?", (NOW - ago, answer_id))
    return answer_id


def vote(store: FeedbackStore, answer_id: int, user: int, value: int, ago: float = HOUR) -> None:
    store.vote(answer_id, user, value)
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE votes SET created = ? WHERE answer_id = ? AND user_id = ?", (NOW - ago, answer_id, user))


def week(store: FeedbackStore, analyzer: Analyzer) -> dict:
    return to_json(build_report(store, analyzer, datetime.fromtimestamp(NOW - 7 * DAY, UTC)))


def counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        return {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("questions", "answers", "votes")}


# -- the report ---------------------------------------------------------------------------------


def test_report_counts_questions_votes_and_groups_the_gaps(store: FeedbackStore, analyzer: Analyzer) -> None:
    ask(store, "今天上海的天气怎么样？", Status.NOT_COVERED, ago=3 * DAY)
    ask(store, "上海明天天气如何", Status.NOT_COVERED, ago=2 * DAY)
    ask(store, "上海下周天气会下雨吗", Status.NOT_COVERED, ago=1 * HOUR)
    ask(store, "怎么用Python写一个快速排序？", Status.NOT_COVERED, ago=5 * HOUR)
    good = answered(store, "北京城市副中心政务服务中心什么时候投入运行？", ago=4 * HOUR)
    vote(store, good, BOB, 1)
    vote(store, good, CAROL, 1)
    assert not store.record_question(Answer("", Status.EMPTY), ALICE)  # refused before the corpus is asked
    report = week(store, analyzer)
    weather = {
        "terms": ["上海", "天气"],
        "count": 3,
        "first": datetime.fromtimestamp(NOW - 3 * DAY, UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "last": datetime.fromtimestamp(NOW - HOUR, UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "examples": ["上海下周天气会下雨吗", "上海明天天气如何", "今天上海的天气怎么样？"],
    }
    assert report == {
        "since": report["since"],
        "questions": 5,
        "answered": 1,
        "declined": 4,
        "votes": {"up": 2, "down": 0},
        "gaps": [weather, report["gaps"][1]],
    }
    assert report["since"].endswith("Z") and report["since"] <= weather["first"]
    assert report["gaps"][1]["terms"] == ["python", "快速", "排序"]
    assert report["gaps"][1]["count"] == 1


def test_down_voted_answers_are_gaps_and_votes_are_totalled(store: FeedbackStore, analyzer: Analyzer) -> None:
    bad = answered(store, "公积金怎么提取", ago=2 * HOUR)
    vote(store, bad, BOB, -1, ago=HOUR)
    vote(store, bad, CAROL, -1, ago=HOUR / 2)
    vote(store, answered(store, "公积金贷款利率是多少"), BOB, 1)
    ask(store, "公积金提取需要哪些材料", Status.NOT_COVERED)
    report = week(store, analyzer)
    assert report["votes"] == {"up": 1, "down": 2}
    assert [(g["terms"], g["count"]) for g in report["gaps"]] == [(["公积金", "提取"], 2)]  # the 👎 answer once
    assert set(report["gaps"][0]["examples"]) == {"公积金怎么提取", "公积金提取需要哪些材料"}


def test_questions_sharing_one_word_among_many_are_apart(store: FeedbackStore, analyzer: Analyzer) -> None:
    ask(store, "公积金贷款利率是多少", Status.NOT_COVERED)
    ask(store, "公积金怎么提取", Status.NOT_COVERED)
    assert [g["count"] for g in week(store, analyzer)["gaps"]] == [1, 1]


def test_gaps_are_largest_first_with_at_most_three_distinct_examples(store: FeedbackStore, analyzer: Analyzer) -> None:
    ask(store, "怎么用Python写一个快速排序？", Status.NOT_COVERED)
    for n, question in enumerate(["上海天气", "上海天气", "上海明天天气", "上海天气预报", "上海后天天气"]):
        ask(store, question, Status.NOT_COVERED, ago=HOUR * (n + 2))
    first, second = week(store, analyzer)["gaps"]
    assert (first["count"], second["count"]) == (5, 1)
    assert first["examples"] == ["上海天气", "上海明天天气", "上海天气预报"]  # the latest wordings, each once


def test_report_leaves_out_what_came_before_since(store: FeedbackStore, analyzer: Analyzer) -> None:
    ask(store, "上海天气", Status.NOT_COVERED, ago=10 * DAY)
    vote(store, answered(store, "公积金怎么提取", ago=10 * DAY), BOB, -1, ago=9 * DAY)
    ask(store, "怎么用Python写一个快速排序？", Status.NOT_COVERED)
    report = week(store, analyzer)
    assert (report["questions"], report["declined"], report["votes"]) == (1, 1, {"up": 0, "down": 0})
    assert [g["examples"] for g in report["gaps"]] == [["怎么用Python写一个快速排序？"]]


def test_topic_words_drop_chat_and_interrogatives(analyzer: Analyzer) -> None:
    assert topic_words(analyzer, "你好，请问一下公积金怎么提取呢？") == ("公积金", "提取")


# -- --since ------------------------------------------------------------------------------------

SINCE_NOW = datetime(2024, 5, 8, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7d", datetime(2024, 5, 1, 12, 0, tzinfo=UTC)),
        ("24h", datetime(2024, 5, 7, 12, 0, tzinfo=UTC)),
        ("30m", datetime(2024, 5, 8, 11, 30, tzinfo=UTC)),
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
        ("2024-05-01T08:00:00+08:00", datetime(2024, 5, 1, 0, 0, tzinfo=UTC)),
    ],
)
def test_since_takes_a_span_or_an_iso_date(value: str, expected: datetime) -> None:
    assert parse_since(value, SINCE_NOW) == expected


@pytest.mark.parametrize("value", ["", "7", "7w", "-3d", "yesterday", "2024-13-01"])
def test_since_refuses_what_names_no_time(value: str) -> None:
    with pytest.raises(BadSince):
        parse_since(value, SINCE_NOW)


# -- the store ----------------------------------------------------------------------------------


def test_an_older_database_gains_the_questions_table_seeded_from_its_answers(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:  # the schema before questions were recorded
        db.executescript(
            "CREATE TABLE answers (id INTEGER PRIMARY KEY AUTOINCREMENT, question TEXT NOT NULL, "
            "passages TEXT NOT NULL, asked_by INTEGER, created REAL NOT NULL);"
            "CREATE TABLE votes (answer_id INTEGER NOT NULL, user_id INTEGER NOT NULL, vote INTEGER NOT NULL, "
            "created REAL NOT NULL, PRIMARY KEY (answer_id, user_id));"
        )
        db.execute("INSERT INTO answers (question, passages, asked_by, created) VALUES ('上海天气', '[]', 1, ?)", [NOW])
    FeedbackStore(path).close()
    FeedbackStore(path).close()  # a second opening seeds nothing twice
    store = FeedbackStore(path)
    try:
        assert [(q.question, q.status) for q in store.questions_since(0)] == [("上海天气", "answered")]
        assert store.answer(1) is not None
    finally:
        store.close()


def test_purge_before_deletes_older_records_and_the_votes_on_them(store: FeedbackStore) -> None:
    old = answered(store, "上海天气", ago=40 * DAY)
    vote(store, old, BOB, -1, ago=HOUR)  # recent, but on an answer being deleted
    ask(store, "公积金怎么提取", Status.NOT_COVERED, ago=31 * DAY)
    kept = answered(store, "北京城市副中心政务服务中心什么时候投入运行？", ago=DAY)
    vote(store, kept, BOB, 1, ago=DAY)
    purged = store.purge_before(NOW - 30 * DAY)
    assert (purged.questions, purged.answers, purged.votes, purged.total) == (2, 1, 1, 4)
    assert counts(store.path) == {"questions": 1, "answers": 1, "votes": 1}
    assert store.answer(kept) is not None and store.votes(kept) == {BOB: 1}


def test_purge_user_deletes_their_questions_answers_and_votes(store: FeedbackStore) -> None:
    theirs = answered(store, "上海天气", user=ALICE)
    vote(store, theirs, BOB, -1)  # someone else's vote on their answer goes with it
    ask(store, "公积金怎么提取", Status.NOT_COVERED, user=ALICE)
    others = answered(store, "北京城市副中心政务服务中心什么时候投入运行？", user=BOB)
    vote(store, others, ALICE, 1)
    vote(store, others, CAROL, 1)
    purged = store.purge_user(ALICE)
    assert (purged.questions, purged.answers, purged.votes) == (2, 1, 2)
    assert counts(store.path) == {"questions": 1, "answers": 1, "votes": 1}
    assert store.votes(others) == {CAROL: 1}
    with sqlite3.connect(store.path) as db:
        assert db.execute("SELECT COUNT(*) FROM questions WHERE asked_by = ?", (ALICE,)).fetchone() == (0,)


# -- `wenda report` -----------------------------------------------------------------------------


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    """`wenda report …` in process, over tmp_path/feedback.sqlite3; returns (exit code, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("WENDA_FEEDBACK_DB", str(tmp_path / "feedback.sqlite3"))

    def report(*args: str) -> tuple[int, str, str]:
        code = cli.main(["report", *args])
        out, err = capsys.readouterr()
        return code, out, err

    return report


def test_wenda_report_json_has_the_documented_shape(store: FeedbackStore, run) -> None:
    ask(store, "上海天气", Status.NOT_COVERED)
    code, out, _ = run("--json", "--since", "24h")
    data = json.loads(out)
    assert code == 0
    assert list(data) == ["since", "questions", "answered", "declined", "votes", "gaps"]
    assert list(data["gaps"][0]) == ["terms", "count", "first", "last", "examples"]
    assert (data["questions"], data["declined"], data["gaps"][0]["examples"]) == (1, 1, ["上海天气"])
    since = datetime.fromisoformat(data["since"])
    assert abs(since - (datetime.now(UTC) - timedelta(hours=24))) < timedelta(minutes=5)


def test_wenda_report_text_names_the_gaps(store: FeedbackStore, run) -> None:
    ask(store, "上海天气", Status.NOT_COVERED)
    code, out, _ = run()
    assert code == 0
    assert "1 question, 0 answered, 1 declined" in out
    assert "1× 上海 天气" in out and "上海天气" in out.splitlines()[-1]


def test_a_bad_since_is_one_clean_error(store: FeedbackStore, run) -> None:
    code, out, err = run("--since", "last week")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [err.strip()] and err.startswith("wenda: --since: 'last week' is not a time")


def test_wenda_report_without_a_database_says_so_and_creates_none(tmp_path: Path, run) -> None:
    code, _, err = run()
    assert code == 2 and "no feedback database" in err
    assert not (tmp_path / "feedback.sqlite3").exists()


def test_wenda_report_purge_before_says_how_many_records_it_deleted(store: FeedbackStore, run) -> None:
    ask(store, "上海天气", Status.NOT_COVERED, ago=400 * DAY)
    ask(store, "公积金怎么提取", Status.NOT_COVERED)
    code, out, _ = run("--purge-before", "90d")
    assert code == 0 and out.startswith("deleted 1 record made before ")
    assert counts(store.path)["questions"] == 1


def test_wenda_report_purge_user_says_how_many_records_it_deleted(store: FeedbackStore, run) -> None:
    ask(store, "上海天气", Status.NOT_COVERED, user=ALICE)
    vote(store, answered(store, "公积金怎么提取", user=BOB), ALICE, -1)
    code, out, _ = run("--purge-user", str(ALICE), "--json")
    assert code == 0
    assert json.loads(out) == {"deleted": 2, "questions": 1, "answers": 0, "votes": 1}
    assert counts(store.path) == {"questions": 1, "answers": 1, "votes": 0}


def test_purge_user_needs_a_numeric_id(store: FeedbackStore, run) -> None:
    code, _, err = run("--purge-user", "alice")
    assert code == 2 and "--purge-user takes a Discord user id" in err
