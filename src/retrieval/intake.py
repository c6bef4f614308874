"""Validate article files and copy the good ones into the corpus folder under safe names."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from . import cache
from .corpus import MAX_FILE_BYTES, RESERVED_NAMES, SUFFIXES, FileReport, Problem, corpus_files, read_file

log = logging.getLogger(__name__)

# What a user may add in one file; the reader itself accepts up to MAX_FILE_BYTES.
MAX_ADD_BYTES = 20 * 2**20
_UNSAFE = re.compile(r"[^\w\u4e00-\u9fff.\-]+")
# File systems limit a name to 255 bytes, not characters (80 four-byte characters are 320): the
# stem is cut by its UTF-8 bytes, leaving room for the suffix and a "-article" or "-12" added later.
MAX_NAME_BYTES = 255
_NAME_ROOM = 16


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
    suffix = suffix.lower()[:_NAME_ROOM]
    stem = _UNSAFE.sub("_", stem).strip("._-")[:80]
    budget = MAX_NAME_BYTES - _NAME_ROOM - len(suffix.encode("utf-8")) - 1
    stem = stem.encode("utf-8")[:budget].decode("utf-8", errors="ignore").strip("._-") or "article"
    return f"{stem}.{suffix}" if suffix else stem


def _unsupported(name: str, suffix: str) -> Intake | None:
    if suffix in SUFFIXES:
        return None
    allowed = ", ".join(SUFFIXES)
    return Intake(name, None, reason=f"unsupported file type {suffix or '(none)'}; use one of {allowed}")


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
    if (refused := _unsupported(name, suffix)) is not None:
        return refused
    limit = min(max_bytes, MAX_FILE_BYTES)
    if len(data) > limit:
        return Intake(name, None, reason=f"{len(data) // 1024} KB is over the {limit // 1024} KB limit")
    # Read it exactly as the corpus will, from a private temporary copy.
    try:
        with tempfile.TemporaryDirectory() as tmp:
            probe = Path(tmp) / target_name
            probe.write_bytes(data)
            report = read_file(probe, Path(tmp))
    except OSError as exc:
        return _cannot_write(name, exc, Path(tempfile.gettempdir()))
    if not report.articles:
        reason = "; ".join(p.reason for p in report.problems) or "no article in it"
        return Intake(name, None, reason=reason, problems=report.problems)
    try:
        return _write_into(corpus, name, target_name, suffix, data, report)
    except OSError as exc:
        return _cannot_write(name, exc, corpus)


def _cannot_write(name: str, exc: OSError, folder: Path) -> Intake:
    """A refusal saying in one sentence why the folder took no file (disk full, read-only), logged for the operator."""
    reason = cache.describe_os_error(exc, folder)
    log.warning("could not add %s: %s", name, reason)
    return Intake(name, None, reason=reason)


def _write_into(corpus: Path, name: str, target_name: str, suffix: str, data: bytes, report: FileReport) -> Intake:
    """Write a checked file into corpus under a free name; raises OSError if the folder refuses."""
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
    # The pid in the name lets the next start remove it if this process dies first (cache.is_leftover).
    fd, tmp_name = tempfile.mkstemp(prefix=cache.temp_prefix("adding"), dir=corpus)
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
    """add_bytes for a file on disk; unreadable paths are refused with the reason.

    Nothing is read before the suffix is checked, nor from anything but a regular file (a link to
    /dev/zero, a FIFO), nor more than the size limit plus one byte, whatever the size claimed.
    """
    source = str(path)
    if (refused := _unsupported(path.name, Path(safe_name(path.name)).suffix.lower())) is not None:
        return refused
    limit = min(MAX_ADD_BYTES, MAX_FILE_BYTES)
    try:
        # O_NONBLOCK: opening a FIFO for reading must not wait for a writer that never comes.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return Intake(source, None, reason="not a regular file (a device, a FIFO or a folder?)")
            if st.st_size > limit:
                return Intake(source, None, reason=f"{st.st_size // 1024} KB is over the {limit // 1024} KB limit")
            data = _read_at_most(fd, limit + 1)
        finally:
            os.close(fd)
    except OSError as exc:
        return Intake(source, None, reason=f"cannot be read: {exc.strerror or exc}")
    if len(data) > limit:
        return Intake(source, None, reason=f"over the {limit // 1024} KB limit (it grew while it was read)")
    if len(data) != st.st_size:
        return Intake(source, None, reason="the file changed while it was read; add it again")
    return add_bytes(corpus, path.name, data, max_bytes=limit)


def _read_at_most(fd: int, n: int) -> bytes:
    parts = []
    while n > 0 and (chunk := os.read(fd, min(n, 2**20))):
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)
