"""An article's date and url: normalised, checked, taken from a dateline, and read from every format."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

from wenda.retrieval.citations import CitationError, dateline_date, http_url, iso_date, json_date, shown_date
from wenda.retrieval.corpus import read_file

# ---------------------------------------------------------------------------------------------
# Dates


@pytest.mark.parametrize(
    ("value", "iso"),
    [
        ("2024-03-05", "2024-03-05"),
        ("2024/3/5", "2024-03-05"),
        ("2024.3.5", "2024-03-05"),
        ("2024年3月5日", "2024-03-05"),
        ("２０２４年３月５日", "2024-03-05"),
        (" 2024-03-05 ", "2024-03-05"),
        ("2024-03", "2024-03"),
        ("2024/3", "2024-03"),
        ("2024年3月", "2024-03"),
        ("2024-03-05T23:30:00+08:00", "2024-03-05"),
        ("2024-03-05 23:30:00 -05:00", "2024-03-05"),
        ("2024-03-05T01:00:00Z", "2024-03-05"),
        ("2024年3月5日 08:30", "2024-03-05"),
        (datetime.date(2024, 3, 5), "2024-03-05"),
        (datetime.datetime(2024, 3, 5, 23, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=8))), "2024-03-05"),
        (None, None),
        ("", None),
    ],
)
def test_date_is_normalised_to_iso(value: object, iso: str | None):
    assert iso_date(value) == iso


@pytest.mark.parametrize("value", ["2024-02-30", "2023-02-29", "2024-13-01", "2024年4月31日", "2024-13", "2024-00"])
def test_impossible_date_is_a_citation_error(value: str):
    with pytest.raises(CitationError, match="ignored"):
        iso_date(value)


@pytest.mark.parametrize("value", ["上周", "2024", "3月5日", "2024-03-05abc", 20240305, 3.5, True, ["2024-03-05"], {}])
def test_what_is_not_a_date_is_a_citation_error(value: object):
    with pytest.raises(CitationError):
        iso_date(value)


def test_huge_integer_date_is_a_citation_error_not_a_crash():
    with pytest.raises(CitationError) as caught:
        iso_date(10**5000)
    assert len(str(caught.value)) < 200


def test_leap_day_is_a_date():
    assert iso_date("2024-02-29") == "2024-02-29"


# ---------------------------------------------------------------------------------------------
# URLs


@pytest.mark.parametrize(
    "url", ["https://example.com/a", "http://example.com", "HTTPS://Example.com/新闻/1.html", "https://x.org/a b"]
)
def test_http_url_is_kept_as_given(url: str):
    assert http_url(url) == url


def test_url_is_stripped_of_surrounding_space():
    assert http_url("  https://example.com/a \n") == "https://example.com/a"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/a",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "example.com/a",
        "https://",
        "https:///path",
        "http://[::1",
        "https://example.com/\x1b[31m",
        12345,
        ["https://example.com"],
    ],
)
def test_anything_but_an_http_link_is_a_citation_error(url: object):
    with pytest.raises(CitationError, match="url"):
        http_url(url)


def test_huge_integer_url_is_a_citation_error_not_a_crash():
    with pytest.raises(CitationError, match="url"):
        http_url(10**5000)


def test_no_url_is_none():
    assert http_url(None) is None
    assert http_url("  ") is None


# ---------------------------------------------------------------------------------------------
# Datelines


def test_dateline_gives_month_and_day_only():
    assert dateline_date(["新华社北京10月26日电 会议今天召开。"]) == "--10-26"


def test_dateline_with_a_year_gives_the_full_date():
    assert dateline_date(["新华社北京2023年10月26日电 会议今天召开。"]) == "2023-10-26"


def test_article_stating_the_full_date_gives_the_dateline_its_year():
    lines = ["新华社北京10月26日电 会议今天召开。", "2022年10月26日，代表们陆续抵达。"]
    assert dateline_date(lines) == "2022-10-26"


def test_article_stating_two_years_for_the_day_leaves_the_year_unknown():
    lines = ["新华社北京10月26日电 会议今天召开。", "2021年10月26日和2022年10月26日都曾开会。"]
    assert dateline_date(lines) == "--10-26"


def test_year_of_another_day_is_not_the_datelines():
    lines = ["新华社北京10月26日电 会议今天召开。", "2021年9月，中心投入运行。"]
    assert dateline_date(lines) == "--10-26"


def test_no_dateline_no_date():
    assert dateline_date(["会议今天召开。", "2022年10月26日，代表们陆续抵达。"]) is None


def test_impossible_dateline_gives_no_date():
    assert dateline_date(["新华社北京2月30日电 会议今天召开。"]) is None


def test_month_day_is_null_in_json_and_chinese_in_text():
    assert (json_date("--10-26"), shown_date("--10-26")) == (None, "10月26日")


@pytest.mark.parametrize("date", ["2024-03-05", "2024-03", None])
def test_iso_dates_are_the_same_in_json_and_text(date: str | None):
    assert json_date(date) == shown_date(date) == date


# ---------------------------------------------------------------------------------------------
# Reading files


def _front_matter(tmp_path: Path, meta: str, body: str = "试点项目于本月启动。") -> Path:
    path = tmp_path / "a.md"
    path.write_text(f"---\ntitle: 城市更新试点启动\n{meta}\n---\n\n{body}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("meta", "iso"),
    [
        ("date: 2024-03-05", "2024-03-05"),  # PyYAML would make this a datetime.date
        ("date: 2024-03-05 01:30:00+08:00", "2024-03-05"),  # old PyYAML: 2024-03-04, shifted to UTC
        ("date: 2024/3/5", "2024-03-05"),
        ("date: 2024年3月", "2024-03"),
        ("date: '2024-03-05'", "2024-03-05"),
    ],
)
def test_front_matter_date_is_read_as_iso(tmp_path: Path, meta: str, iso: str):
    report = read_file(_front_matter(tmp_path, meta), tmp_path)
    assert report.problems == ()
    (article,) = report.articles
    assert article.date == iso
    assert {p.date for p in article.passages} == {iso}


@pytest.mark.parametrize("meta", ["date: 2024-02-30", "date: !!timestamp 2024-02-30", "date: 2024-02-30T10:00:00"])
def test_impossible_front_matter_date_is_a_warning_naming_the_file(tmp_path: Path, meta: str):
    report = read_file(_front_matter(tmp_path, meta), tmp_path)
    (problem,) = report.problems
    assert problem.file == "a.md"
    assert "2024-02-30" in str(problem)
    (article,) = report.articles
    assert article.date is None


def test_huge_integer_in_front_matter_does_not_stop_the_article(tmp_path: Path):
    report = read_file(_front_matter(tmp_path, f"date: {'9' * 5000}\nviews: {'1' * 5000}"), tmp_path)
    (problem,) = report.problems
    assert "date" in problem.reason
    (article,) = report.articles
    assert (article.title, article.date) == ("城市更新试点启动", None)


def test_front_matter_url_that_is_not_http_is_dropped_with_a_warning(tmp_path: Path):
    report = read_file(_front_matter(tmp_path, "url: ftp://example.com/a"), tmp_path)
    (problem,) = report.problems
    assert (problem.file, "ftp://example.com/a" in problem.reason) == ("a.md", True)
    assert report.articles[0].url is None


def test_front_matter_url_is_kept_as_given(tmp_path: Path):
    report = read_file(_front_matter(tmp_path, "url: https://example.com/新闻?id=1"), tmp_path)
    assert report.problems == ()
    assert report.articles[0].passages[0].url == "https://example.com/新闻?id=1"


def test_jsonl_date_and_url_are_checked_per_line(tmp_path: Path):
    good = {"title": "一", "text": "首批项目于本月启动。", "date": "2024年3月5日", "url": "https://example.com/1"}
    bad = {"title": "二", "text": "试点覆盖三类项目。", "date": "2024-02-30", "url": "mailto:a@example.com"}
    (tmp_path / "a.jsonl").write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in (good, bad)) + "\n", encoding="utf-8"
    )
    report = read_file(tmp_path / "a.jsonl", tmp_path)
    assert [(a.date, a.url) for a in report.articles] == [("2024-03-05", "https://example.com/1"), (None, None)]
    assert sorted((p.file, p.line) for p in report.problems) == [("a.jsonl", 2), ("a.jsonl", 2)]


def test_huge_integer_in_jsonl_does_not_stop_the_line(tmp_path: Path):
    line = '{"title": "一", "text": "首批项目于本月启动。", "date": ' + "7" * 5000 + "}\n"
    (tmp_path / "a.jsonl").write_text(line, encoding="utf-8")
    report = read_file(tmp_path / "a.jsonl", tmp_path)
    (article,) = report.articles
    assert article.date is None
    assert [(p.file, p.line) for p in report.problems] == [("a.jsonl", 1)]


def test_txt_dateline_dates_the_article(tmp_path: Path):
    (tmp_path / "a.txt").write_text("会议召开\n新华社北京10月26日电 会议今天在京召开。\n", encoding="utf-8")
    report = read_file(tmp_path / "a.txt", tmp_path)
    (article,) = report.articles
    assert (article.source, article.date) == ("新华社", "--10-26")


def test_dateline_with_a_year_still_names_the_source(tmp_path: Path):
    (tmp_path / "a.txt").write_text("会议召开\n新华社北京2023年10月26日电 会议今天在京召开。\n", encoding="utf-8")
    (article,) = read_file(tmp_path / "a.txt", tmp_path).articles
    assert (article.source, article.date) == ("新华社", "2023-10-26")


def test_front_matter_date_wins_over_the_dateline(tmp_path: Path):
    path = _front_matter(tmp_path, "date: 2024-03-05", "新华社北京10月26日电 会议今天在京召开。")
    (article,) = read_file(path, tmp_path).articles
    assert article.date == "2024-03-05"
