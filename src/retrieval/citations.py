"""An article's date and link for its citations: read from metadata or a dateline, checked and normalised.

A date is stored as ISO text: "2024-03-05", "2024-03", or "--10-26" (ISO 8601's month-day without a
year) when only a dateline such as 新华社北京10月26日电 dates the article. Nothing here raises
anything but CitationError, whatever the metadata holds.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Iterable
from urllib.parse import urlsplit

# 新华社北京10月26日电 / 人民网北京10月26日讯 / 中新社香港2024年3月1日电
DATELINE = re.compile(
    r"^[(（【\[]?(?P<src>[\u4e00-\u9fff]{1,8}?(?:通讯社|电视台|社|网|报|台))"
    r"[\u4e00-\u9fff]{0,8}?(?:(?P<year>\d{4})年)?(?P<month>\d{1,2})月(?P<day>\d{1,2})日(?:电|讯)"
)
# A date, with a time (and zone) after it that is not kept: 2024-03-05, 2024/3/5, 2024.3.5,
# 2024年3月5日, 2024-03-05T08:30:00+08:00, 2024年3月5日 08:30.
_FULL_DATE = re.compile(
    r"(?P<year>\d{4})(?:(?P<sep>[-/.])(?P<m1>\d{1,2})(?P=sep)(?P<d1>\d{1,2})|年(?P<m2>\d{1,2})月(?P<d2>\d{1,2})日)"
    r"(?:[T\s]\s*\d{1,2}[:：]\d{2}(?:[:：]\d{2}(?:[.,]\d+)?)?\s*(?:Z|[+-]\d{1,2}(?::?\d{2})?)?)?"
)
_YEAR_MONTH = re.compile(r"(?P<year>\d{4})(?:[-/.](?P<m1>\d{1,2})|年(?P<m2>\d{1,2})月)")
_MONTH_DAY_PREFIX = "--"
# Long enough for any date someone means; a longer value is shown cut in the warning.
_SHOWN_CHARS = 40


class CitationError(ValueError):
    """A date or url in an article's metadata that cannot be used; the message says which and why."""


def iso_date(value: object) -> str | None:
    """A metadata date as "YYYY-MM-DD" or "YYYY-MM"; None for no value. Raises CitationError.

    Accepts date and datetime objects (a datetime's own date, whatever its zone) and text in the
    forms above; full-width digits count.
    """
    if value is None:
        return None
    # datetime is a subclass of date: test it first, so its time is dropped rather than printed.
    if isinstance(value, datetime.datetime):
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if not isinstance(value, str):
        raise CitationError(f"date {_shown(value)} ignored: write it like 2024-03-05")
    text = unicodedata.normalize("NFKC", value).strip()
    if not text:
        return None
    if m := _FULL_DATE.fullmatch(text):
        month, day = m["m1"] or m["m2"], m["d1"] or m["d2"]
        try:
            return datetime.date(int(m["year"]), int(month), int(day)).isoformat()
        except ValueError:
            raise CitationError(f"date {_shown(value)} ignored: there is no such day") from None
    if m := _YEAR_MONTH.fullmatch(text):
        year, month = int(m["year"]), int(m["m1"] or m["m2"])
        if not 1 <= month <= 12 or year < 1:
            raise CitationError(f"date {_shown(value)} ignored: there is no such month")
        return f"{year:04d}-{month:02d}"
    raise CitationError(f"date {_shown(value)} ignored: write it like 2024-03-05")


def http_url(value: object) -> str | None:
    """A metadata url, as given, if it is an http(s) link with a host; None for no value. Raises CitationError."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise CitationError(f"url {_shown(value)} ignored: only http(s) links are kept")
    url = value.strip()
    if not url:
        return None
    # Control characters are no part of a link, and in a terminal they would be commands.
    if any(unicodedata.category(ch)[0] == "C" for ch in url):
        raise CitationError(f"url {_shown(value)} ignored: it holds control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # a malformed port or IPv6 bracket
        raise CitationError(f"url {_shown(value)} ignored: it is not a well-formed link") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise CitationError(f"url {_shown(value)} ignored: only http(s) links are kept")
    return url


def dateline_date(lines: Iterable[str]) -> str | None:
    """The date of an article's dateline (新华社北京10月26日电): "YYYY-MM-DD" when the dateline, or a full
    date of the same month and day in the article, states the year unambiguously; else "--MM-DD"."""
    lines = list(lines)
    for line in lines:
        if m := DATELINE.search(line):
            month, day = int(m["month"]), int(m["day"])
            break
    else:
        return None
    if m["year"]:
        years = {int(m["year"])}
    else:
        stated = re.compile(rf"(\d{{4}})年0?{month}月0?{day}日")
        years = {int(y) for line in lines for y in stated.findall(line)}
    if len(years) == 1:
        try:
            return datetime.date(years.pop(), month, day).isoformat()
        except ValueError:
            return None
    try:
        datetime.date(2000, month, day)  # a leap year, so 2月29日 stands
    except ValueError:
        return None
    return f"{_MONTH_DAY_PREFIX}{month:02d}-{day:02d}"


def json_date(date: str | None) -> str | None:
    """A stored date as the JSON contract has it ("YYYY-MM-DD" | "YYYY-MM" | null): no year, no date."""
    return None if date is None or date.startswith(_MONTH_DAY_PREFIX) else date


def shown_date(date: str | None) -> str | None:
    """A stored date as text renderings show it: ISO, or 10月26日 when the year is not known."""
    if date is None or not date.startswith(_MONTH_DAY_PREFIX):
        return date
    month, day = date[len(_MONTH_DAY_PREFIX) :].split("-")
    return f"{int(month)}月{int(day)}日"


def _shown(value: object) -> str:
    """A metadata value for a warning: short, and never str() of what could be huge (a list built from
    YAML aliases, an integer of over 4,300 digits, whose str() raises)."""
    if isinstance(value, str):
        return repr(value if len(value) <= _SHOWN_CHARS else value[: _SHOWN_CHARS - 1] + "…")
    if isinstance(value, bool | float) or (isinstance(value, int) and value.bit_length() <= 64):
        return str(value)
    return f"(a {type(value).__name__})"
