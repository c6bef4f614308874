"""Read article files of every supported format into Article and Passage records."""

from __future__ import annotations

import codecs
import json
import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from .citations import DATELINE, CitationError, dateline_date, http_url, iso_date
from .sentences import CLOSING_QUOTES, sentence_spans
from .text import scrub

log = logging.getLogger(__name__)

SUFFIXES = (".txt", ".md", ".markdown", ".jsonl")
# Bump when reading a file can give different passages (headings, bylines, splitting, including
# where sentences.sentence_spans ends a sentence): the index cache is keyed by it, so caches built by
# an older reader are rebuilt rather than trusted.
# 8: ． ends a sentence in a text without 。 (sentences.py), where long paragraphs are cut.
READER_VERSION = 8
# Files in the corpus folder that are not articles.
RESERVED_NAMES = frozenset({"userdict.txt", "synonyms.txt", "readme.md"})
# A file larger than this is refused rather than read into memory whole.
MAX_FILE_BYTES = 64 * 1024 * 1024
# A paragraph longer than this is split at sentence ends: one huge passage would dominate nothing
# useful in BM25 (its length normalisation buries it) and could not be quoted anyway.
MAX_PASSAGE_CHARS = 3000

_SEED_TITLE_MARK = "******"
_SENTENCE_END = "。！？!?；;…"
_HEADING_MAX_CHARS = 30
_ORIGINAL_TITLE = re.compile(r"^原标题\s*[:：]\s*(?P<title>.+)$")
_SOURCE_LINE = re.compile(r"^(?:来源|稿源|出处|来源于)\s*[:：]\s*(?P<src>[^\s,，。;；]{2,30})")
# (经济参考报记者 孙广见 杨柳 郝菁)
_REPORTER = re.compile(r"[(（](?P<src>[\u4e00-\u9fff]{2,12}?)(?:特约记者|记者|通讯员)")
_NOT_A_PUBLISHER = frozenset({"本报", "本台", "本刊", "本网", "本社"})
# A whole line in parentheses, like (文图:赵筱尘 巫邓炎) or （责任编辑：张三）: article metadata.
_BYLINE = re.compile(r"^[(（][^()（）]{1,60}[)）]$")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(?P<yaml>.*?)\n---[ \t]*(?:\n|\Z)", re.S)
_OPENING_FENCE = re.compile(r"\A---[ \t]*\n")
_CLOSING_FENCE = re.compile(r"^---[ \t]*$", re.M)
_BLANK_LINE = re.compile(r"\n[ \t\u3000]*\n")
# Characters a file name is not shown with: controls, format characters (bidi overrides), line breaks.
_UNSHOWN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


@dataclass(frozen=True)
class Passage:
    """A paragraph that can stand as an answer, with everything needed to cite it."""

    text: str
    title: str
    file: str
    paragraph: int
    source: str | None = None
    heading: str | None = None
    url: str | None = None
    date: str | None = None


@dataclass(frozen=True)
class Article:
    title: str
    file: str
    passages: tuple[Passage, ...]
    source: str | None = None
    url: str | None = None
    date: str | None = None
    subtitle: str | None = None
    original_title: str | None = None
    bylines: tuple[str, ...] = ()


@dataclass(frozen=True)
class Problem:
    """Something in a file that could not be read; the rest of the corpus loads regardless."""

    file: str
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        file = shown_name(self.file)
        where = f"{file}:{self.line}" if self.line is not None else file
        return f"{where}: {self.reason}"


@dataclass(frozen=True)
class FileReport:
    file: str
    articles: tuple[Article, ...] = ()
    problems: tuple[Problem, ...] = ()

    @property
    def passages(self) -> list[Passage]:
        return [p for a in self.articles for p in a.passages]


@dataclass(frozen=True)
class Corpus:
    root: Path
    files: tuple[FileReport, ...] = field(default=())

    @property
    def articles(self) -> list[Article]:
        return [a for f in self.files for a in f.articles]

    @property
    def passages(self) -> list[Passage]:
        return [p for f in self.files for p in f.passages]

    @property
    def problems(self) -> list[Problem]:
        return [p for f in self.files for p in f.problems]


class Heading(str):
    """A body line that a format marks explicitly as a section heading (Markdown's ##)."""


class UnreadableFile(Exception):
    """A file that holds no text wenda can read; the message says why."""


# ---------------------------------------------------------------------------------------------
# Files and encodings


def shown_name(name: str) -> str:
    """A file name as a log line or report shows it: one line, undecodable bytes and controls escaped.

    A name may hold a newline or an escape sequence; written raw it would split a record in two or
    drive the terminal. Chinese and every other printable character are kept as they are.
    """
    name = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(
        ch.encode("unicode_escape").decode("ascii") if unicodedata.category(ch) in _UNSHOWN else ch for ch in name
    )


def is_article_file(path: Path) -> bool:
    """Whether a path in the corpus folder is one wenda reads (not hidden, temporary or reserved)."""
    name = path.name
    if name.startswith((".", "~", "#")) or name.endswith(("~", ".tmp", ".part", ".swp")):
        return False
    if name.lower() in RESERVED_NAMES:
        return False
    return path.suffix.lower() in SUFFIXES


def corpus_files(
    root: Path, *, follow_external_links: bool = False, problems: list[Problem] | None = None
) -> list[Path]:
    """Article files under root, subfolders included, in a stable order.

    A symbolic link that stays inside root is followed; one that leads out of it (to /etc/passwd,
    say) is skipped, and reported in problems, unless follow_external_links allows it.
    """
    if not root.is_dir():
        return []
    found = []
    inside = root.resolve()
    for path in root.rglob("*"):
        rel_parts = path.relative_to(root).parts
        if any(part.startswith(".") for part in rel_parts[:-1]):
            continue  # hidden folders, including our own cache
        if path.is_file() and is_article_file(path):
            if not follow_external_links and not _stays_inside(path, inside):
                rel = path.relative_to(root).as_posix()
                if problems is not None:
                    problems.append(Problem(rel, "a link to a file outside the corpus folder; skipped"))
                continue
            rel = path.relative_to(root).as_posix()
            if rel != scrub(rel):
                # Bytes that are not UTF-8 (a GBK name from a Windows zip) decode to lone surrogates,
                # which no index, log line or Discord message can carry.
                log.warning("skipped %s: the file name is not UTF-8; rename the file to read it", shown_name(rel))
                continue
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def _stays_inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # a link loop
        return False


def decode(data: bytes) -> str:
    """Decode a file's bytes: UTF-8 (with or without BOM), UTF-16 with BOM, or GB18030/GBK.

    Raises UnreadableFile for empty, binary or undecodable data.
    """
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
        text = _strict(data, "utf-8")
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = _strict(data, "utf-16")
    else:
        text = None
        for encoding in ("utf-8", "gb18030"):
            text = _strict(data, encoding)
            if text is not None and _looks_like_text(text):
                return _checked(text)
            text = None
        if text is None:
            import charset_normalizer  # here, not at the top: rarely needed, and 10 ms to import

            best = charset_normalizer.from_bytes(data).best()
            if best is not None and _looks_like_text(str(best)):
                return _checked(str(best))
    if text is None:
        raise UnreadableFile("not text in UTF-8, UTF-16 or GB18030/GBK (a binary file?)")
    if not _looks_like_text(text):
        raise UnreadableFile("the file looks binary, not text")
    return _checked(text)


def _checked(text: str) -> str:
    """text, if it holds more than whitespace (it has been found to look like text)."""
    if not text.strip():
        raise UnreadableFile("the file is empty")
    return text


def _strict(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def _looks_like_text(text: str) -> bool:
    """Few control characters: binary data often decodes as GB18030, but not into prose."""
    sample = text[:20000]
    if not sample:
        return True
    # Each distinct character is looked up once: prose repeats a few thousand of them.
    bad = sum(
        sample.count(ch)
        for ch in set(sample)
        if unicodedata.category(ch) in ("Cc", "Co", "Cn") and ch not in "\t\n\r\f"
    )
    return bad / len(sample) < 0.01


def read_file(path: Path, root: Path | None = None) -> FileReport:
    """Read one article file; never raises for bad content, it reports problems instead.

    Whatever goes wrong reading one file (a bug included) becomes a problem of that file, logged
    with its traceback, so that one file never stops the rest of the corpus, the bot or the watcher.
    """
    rel = path.relative_to(root).as_posix() if root is not None else path.name
    try:
        return _read_file(path, rel)
    except Exception as exc:
        log.error("reading %s failed unexpectedly", rel, exc_info=True)
        reason = f"could not be read ({type(exc).__name__}: {_first_line(exc)})"
        return FileReport(rel, problems=(Problem(rel, reason),))


def _read_file(path: Path, rel: str) -> FileReport:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise UnreadableFile(f"the file is {size // 2**20} MB, over the {MAX_FILE_BYTES // 2**20} MB limit")
        text = decode(path.read_bytes())
    except UnreadableFile as exc:
        return FileReport(rel, problems=(Problem(rel, str(exc)),))
    except OSError as exc:
        return FileReport(rel, problems=(Problem(rel, f"cannot be read: {exc.strerror or exc}"),))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        articles, problems = _read_jsonl(text, rel)
    elif suffix in (".md", ".markdown"):
        articles, problems = _read_markdown(text, rel)
    else:
        articles, problems = _read_txt(text, rel)
    if not articles and not problems:
        problems = [Problem(rel, "no article with any paragraph in it")]
    return FileReport(rel, tuple(articles), tuple(problems))


def load_corpus(root: Path) -> Corpus:
    """Read every article file under root; problems are logged and kept in the result."""
    reports = []
    for path in corpus_files(root):
        report = read_file(path, root)
        for problem in report.problems:
            log.warning("skipped %s", problem)
        reports.append(report)
    return Corpus(root, tuple(reports))


# ---------------------------------------------------------------------------------------------
# Formats


def _clean_lines(text: str) -> list[str]:
    # NBSP and the ideographic space are common indentation in Chinese articles.
    return [line.strip(" \t\u00a0\u3000\ufeff") for line in text.split("\n")]


def _read_txt(text: str, rel: str) -> tuple[list[Article], list[Problem]]:
    lines = _clean_lines(text)
    if any(line.endswith(_SEED_TITLE_MARK) for line in lines):
        return _read_titled_txt(lines, rel)
    content = [line for line in lines if line]
    if len(content) < 2:
        return [], [Problem(rel, "a one-article .txt needs a title line and at least one paragraph")]
    article = build_article(content[0], content[1:], rel)
    return ([article], []) if article.passages else ([], [Problem(rel, "the article has no paragraph")])


def _read_titled_txt(lines: list[str], rel: str) -> tuple[list[Article], list[Problem]]:
    """The seed format: a line ending in ****** starts an article; following lines are paragraphs."""
    articles: list[Article] = []
    problems: list[Problem] = []
    title: str | None = None
    title_line = 0
    body: list[str] = []

    def flush() -> None:
        if title is None:
            return
        article = build_article(title, body, rel)
        if article.passages:
            articles.append(article)
        else:
            problems.append(Problem(rel, f"article {title!r} has no paragraph", title_line))

    for number, line in enumerate(lines, start=1):
        if line.endswith(_SEED_TITLE_MARK):
            flush()
            title, title_line, body = line.rstrip("*").strip(), number, []
            if not title:
                problems.append(Problem(rel, "a title line has no title before its stars", number))
                title = None
        elif title is not None:
            if line:
                body.append(line)
        elif line:
            problems.append(Problem(rel, "text before the first title line was ignored", number))
    flush()
    return articles, problems


def _read_markdown(text: str, rel: str) -> tuple[list[Article], list[Problem]]:
    meta: dict = {}
    problems: list[Problem] = []
    match = _FRONT_MATTER.match(text)
    if match:
        import yaml

        try:
            loaded = yaml.load(match.group("yaml"), Loader=_front_matter_loader())
            if isinstance(loaded, dict):
                meta = loaded
            elif loaded is not None:
                raise yaml.YAMLError("front matter is not a mapping")
        except yaml.YAMLError as exc:
            problems.append(Problem(rel, f"front matter ignored, it is not valid YAML ({_first_line(exc)})", 1))
        except RecursionError:
            problems.append(Problem(rel, "front matter ignored, it is nested too deeply", 1))
        except ValueError as exc:  # an integer of more digits than Python converts
            problems.append(Problem(rel, f"front matter ignored, a value cannot be read ({_first_line(exc)})", 1))
        text = text[match.end() :]
    elif (fence := _OPENING_FENCE.match(text)) and not _CLOSING_FENCE.search(text, fence.end()):
        # A forgotten closing ---: the metadata most likely runs to the first blank line, and read
        # as text it would become the article's title.
        blank = _BLANK_LINE.search(text)
        if blank:
            text = text[blank.end() :]
            problems.append(
                Problem(rel, "front matter has no closing --- line; skipped it up to the first blank line", 1)
            )
        else:
            problems.append(Problem(rel, "front matter has no closing --- line; read it as text", 1))

    title = _meta_str(meta, "title")
    citation, citation_problems = _citation_fields(meta, rel, 1)
    problems.extend(citation_problems)
    blocks: list[str] = []
    for block in re.split(r"\n[ \t\u3000]*\n", text):
        lines = [line for line in _clean_lines(block) if line]
        if not lines:
            continue
        heading = re.match(r"^(#{1,6})\s+(.*?)\s*#*$", lines[0])
        if heading and len(lines) == 1:
            level, words = len(heading.group(1)), heading.group(2)
            if level == 1 and title is None:
                title = words
            elif level == 1 and words == title:
                pass  # the front matter's title again, as many editors add it: not a section heading
            else:
                blocks.append(Heading(words))
            continue
        blocks.append(_join_wrapped(lines))
    if title is None:
        content = [b for b in blocks if not isinstance(b, Heading)]
        if not content:
            return [], [*problems, Problem(rel, "no title and no paragraph")]
        title = content[0]
        blocks.remove(title)
    article = build_article(
        title,
        blocks,
        rel,
        **citation,
    )
    if not article.passages:
        return [], [*problems, Problem(rel, "the article has no paragraph")]
    return [article], problems


def _join_wrapped(lines: list[str]) -> str:
    """Join a hard-wrapped Markdown paragraph: no space between CJK characters, one between words."""
    out = lines[0]
    for line in lines[1:]:
        sep = " " if out[-1:].isascii() and line[:1].isascii() else ""
        out += sep + line
    return out


def _read_jsonl(text: str, rel: str) -> tuple[list[Article], list[Problem]]:
    articles: list[Article] = []
    problems: list[Problem] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line, parse_int=_json_int)
        except json.JSONDecodeError as exc:
            problems.append(Problem(rel, f"not valid JSON ({exc.msg})", number))
            continue
        except ValueError as exc:  # an integer of more digits than Python converts
            problems.append(Problem(rel, f"a value cannot be read ({_first_line(exc)})", number))
            continue
        except RecursionError:
            problems.append(Problem(rel, "JSON nested too deeply to read", number))
            continue
        if not isinstance(record, dict):
            problems.append(Problem(rel, "a line must be a JSON object", number))
            continue
        title = _meta_str(record, "title")
        paragraphs = record.get("paragraphs")
        if paragraphs is None and isinstance(record.get("text"), str):
            paragraphs = record["text"].split("\n")
        if not title or not isinstance(paragraphs, list) or not all(isinstance(p, str) for p in paragraphs):
            problems.append(Problem(rel, 'needs "title" and "paragraphs" (a list of strings) or "text"', number))
            continue
        body = [line for p in paragraphs for line in _clean_lines(scrub(p)) if line]
        citation, citation_problems = _citation_fields(record, rel, number)
        article = build_article(
            title,
            body,
            rel,
            **citation,
        )
        if article.passages:
            articles.append(article)
            problems.extend(citation_problems)
        else:
            problems.append(Problem(rel, f"article {title!r} has no paragraph", number))
    return articles, problems


def _citation_fields(meta: dict, rel: str, line: int) -> tuple[dict[str, str | None], list[Problem]]:
    """The optional source, url and date a Markdown front matter or a JSON line may give, and a
    problem for each url or date that is dropped (the article is read all the same)."""
    fields: dict[str, str | None] = {"source": _meta_str(meta, "source")}
    problems: list[Problem] = []
    for key, parse in (("url", http_url), ("date", iso_date)):
        try:
            fields[key] = parse(meta.get(key))
        except CitationError as exc:
            fields[key] = None
            problems.append(Problem(rel, str(exc), line))
    return fields, problems


@cache
def _front_matter_loader() -> type:
    """YAML's safe loader, except that dates stay text for citations.iso_date to check (PyYAML's own
    dates raise ValueError for 2024-02-30) and an integer too long for int() stays text too.

    Made on first use: only Markdown files with front matter need PyYAML, and importing it costs
    every command (`wenda ask` reads no file) 20 ms."""
    import yaml

    class FrontMatterLoader(yaml.SafeLoader):
        def construct_yaml_int(self, node: yaml.ScalarNode) -> int | str:
            try:
                return super().construct_yaml_int(node)
            except ValueError:  # over 4,300 digits
                return self.construct_scalar(node)

    timestamp = "tag:yaml.org,2002:timestamp"
    FrontMatterLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != timestamp]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    # An explicit !!timestamp still reaches the constructor: it too is kept as text.
    FrontMatterLoader.add_constructor(timestamp, yaml.SafeLoader.construct_yaml_str)
    FrontMatterLoader.add_constructor("tag:yaml.org,2002:int", FrontMatterLoader.construct_yaml_int)
    return FrontMatterLoader


def _json_int(text: str) -> int | str:
    """A JSON integer, or its digits as text when int() refuses them (over 4,300 digits)."""
    try:
        return int(text)
    except ValueError:
        return text


def _meta_str(meta: dict, key: str) -> str | None:
    value = meta.get(key)
    # Only scalars: a YAML list built from aliases can expand into gigabytes once made a string.
    if value is None or isinstance(value, list | dict | set | tuple):
        return None
    try:
        written = str(value)
    except ValueError:  # an integer too long to print (YAML's hex integers have no digit limit)
        return None
    # JSON and YAML escapes can spell lone surrogates, which no UTF-8 file or index can store.
    text = scrub(written).strip()
    return text or None


def _first_line(exc: Exception) -> str:
    return str(exc).strip().split("\n")[0]


# ---------------------------------------------------------------------------------------------
# Article structure: headings, bylines, sources


def is_heading(line: str) -> bool:
    """A short line that does not end a sentence: a section heading, not a paragraph."""
    if len(line) > _HEADING_MAX_CHARS:
        return False
    stripped = line.rstrip(CLOSING_QUOTES)
    return not stripped or stripped[-1] not in _SENTENCE_END + "，,：:、"


def build_article(
    title: str,
    lines: Iterable[str],
    rel: str,
    *,
    source: str | None = None,
    url: str | None = None,
    date: str | None = None,
) -> Article:
    """Turn an article's body lines into passages, keeping headings and bylines out of the passage list.

    A Heading line is an explicit heading (from Markdown): it heads the passages under it, even
    before the first paragraph. Short heading-like plain lines before the first paragraph are the
    article's subtitle; later ones head the passages under them.
    """
    title = title.strip()
    original_title: str | None = None
    bylines: list[str] = []
    subtitle: list[str] = []
    pending: list[str] = []
    heading: str | None = None
    paragraphs: list[tuple[str, str | None]] = []

    for line in lines:
        if isinstance(line, Heading):
            pending.append(Heading(line.strip()))
            continue
        line = line.strip()
        if not line:
            continue
        if m := _ORIGINAL_TITLE.match(line):
            original_title = m.group("title").strip()
            continue
        if _BYLINE.match(line):
            bylines.append(line)
            continue
        if is_heading(line):
            pending.append(line)
            continue
        if pending:
            if paragraphs or any(isinstance(p, Heading) for p in pending):
                heading = " ".join(pending)
            else:
                subtitle.extend(pending)
            pending = []
        paragraphs.append((line, heading))
    # Heading-like lines with no paragraph after them are content, not headings.
    paragraphs.extend((str(line), heading) for line in pending)

    all_text = [original_title or ""] + [p for p, _ in paragraphs] + bylines
    source = source or detect_source(all_text)
    date = date or dateline_date(all_text)
    passages = tuple(
        Passage(
            text=piece,
            title=title,
            file=rel,
            paragraph=number,
            source=source,
            heading=para_heading,
            url=url,
            date=date,
        )
        for number, (text, para_heading) in enumerate(paragraphs, start=1)
        for piece in split_long(text)
    )
    return Article(
        title=title,
        file=rel,
        passages=passages,
        source=source,
        url=url,
        date=date,
        subtitle=" ".join(subtitle) or None,
        original_title=original_title,
        bylines=tuple(bylines),
    )


def detect_source(lines: Iterable[str]) -> str | None:
    """The publisher an article names: a 来源 line, a dateline (新华社北京…电) or a reporter byline."""
    lines = list(lines)
    for pattern in (_SOURCE_LINE, DATELINE):
        for line in lines:
            if m := pattern.search(line):
                return m.group("src")
    for line in lines:
        for m in _REPORTER.finditer(line):
            if m.group("src") not in _NOT_A_PUBLISHER:
                return m.group("src")
    return None


def split_long(text: str, limit: int = MAX_PASSAGE_CHARS) -> list[str]:
    """Split a paragraph longer than limit at sentence ends (or hard, if a sentence is longer)."""
    if len(text) <= limit:
        return [text]
    pieces: list[str] = []
    current = ""
    for start, end in sentence_spans(text):
        sentence = text[start:end]
        while len(sentence) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(sentence[:limit])
            sentence = sentence[limit:]
        if len(current) + len(sentence) > limit:
            pieces.append(current)
            current = ""
        current += sentence
    if current:
        pieces.append(current)
    return [p for p in pieces if p.strip()]
