"""Validate article files and copy the good ones into the corpus folder under safe names."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from .corpus import MAX_FILE_BYTES, RESERVED_NAMES, SUFFIXES, Problem, corpus_files, read_file

# What a user may add in one file; the reader itself accepts up to MAX_FILE_BYTES.
MAX_ADD_BYTES = 20 * 2**20
_UNSAFE = re.compile(r"[^\w\u4e00-\u9fff.\-]+")


@dataclass(frozen=True)
class Intake:
    """What happened to one offered file."""

    source: str  # the name it was offered under
    added_as: str | None  # name inside the corpus folder, None if refused
    articles: int = 0
    passages: int = 0
    reason: str | None = None  # why it was refused, or a note (e.g. renamed, already present)
    problems: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        return self.added_as is not None


def safe_name(name: str) -> str:
    """A plain file name: no folders, no leading dots, no characters a shell or Windows trips on."""
    name = unicodedata.normalize("NFKC", Path(name.replace("\\", "/")).name)
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    stem = _UNSAFE.sub("_", stem).strip("._-")[:80] or "article"
    return f"{stem}.{suffix.lower()}" if suffix else stem


def add_bytes(corpus: Path, name: str, data: bytes, *, max_bytes: int = MAX_ADD_BYTES) -> Intake:
    """Check one file's content and, if it holds at least one readable article, write it into corpus.

    Never overwrites: a different file of the same name gets a numbered name (and the note says so);
    the same content already in the folder, under any name, is reported, not added twice.
    """
    target_name = safe_name(name)
    suffix = Path(target_name).suffix.lower()
    if target_name.lower() in RESERVED_NAMES:
        # userdict.txt would become the corpus's user dictionary, and readme.md is never read as an article.
        target_name = f"{Path(target_name).stem}-article{suffix}"
    if suffix not in SUFFIXES:
        allowed = ", ".join(SUFFIXES)
        return Intake(name, None, reason=f"unsupported file type {suffix or '(none)'}; use one of {allowed}")
    limit = min(max_bytes, MAX_FILE_BYTES)
    if len(data) > limit:
        return Intake(name, None, reason=f"{len(data) // 1024} KB is over the {limit // 1024} KB limit")
    # Read it exactly as the corpus will, from a private temporary copy.
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / target_name
        probe.write_bytes(data)
        report = read_file(probe, Path(tmp))
    if not report.articles:
        reason = "; ".join(p.reason for p in report.problems) or "no article in it"
        return Intake(name, None, reason=reason, problems=report.problems)

    corpus.mkdir(parents=True, exist_ok=True)
    copy = _copy_of(corpus, data)
    if copy is not None:
        return Intake(name, copy, len(report.articles), len(report.passages), "already in the corpus")
    target = corpus / target_name
    note = None
    n = 1
    while target.exists():
        target = corpus / f"{Path(target_name).stem}-{n}{suffix}"
        note = f"a different {target_name} exists; saved as {target.name}"
        n += 1
    # Write under a hidden temporary name, then rename: the watcher never sees half a file.
    fd, tmp_name = tempfile.mkstemp(prefix=".adding-", dir=corpus)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp_name, target)  # fails rather than overwrite if the name was taken meanwhile
    except FileExistsError:
        return Intake(name, None, reason=f"{target.name} appeared in the corpus meanwhile; add it again")
    finally:
        os.unlink(tmp_name)
    return Intake(name, target.name, len(report.articles), len(report.passages), note, report.problems)


def _copy_of(corpus: Path, data: bytes) -> str | None:
    """The article file of corpus that holds exactly data, whatever its name (only same-size files are hashed)."""
    digest = hashlib.sha256(data).hexdigest()
    for path in corpus_files(corpus):
        try:
            if path.stat().st_size == len(data) and hashlib.sha256(path.read_bytes()).hexdigest() == digest:
                return path.relative_to(corpus).as_posix()
        except OSError:
            continue  # gone or unreadable: not a copy we can point to
    return None


def add_file(corpus: Path, path: Path) -> Intake:
    """add_bytes for a file on disk; unreadable paths are refused with the reason."""
    try:
        size = path.stat().st_size
        if size > MAX_ADD_BYTES:
            return Intake(str(path), None, reason=f"{size // 1024} KB is over the {MAX_ADD_BYTES // 1024} KB limit")
        data = path.read_bytes()
    except OSError as exc:
        return Intake(str(path), None, reason=f"cannot be read: {exc.strerror or exc}")
    return add_bytes(corpus, path.name, data)
