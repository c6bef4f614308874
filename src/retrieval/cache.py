"""The index cache's on-disk format: manifest, sealed segments, atomic writes, clean-up and the lock.

The cache (`<corpus>/.wenda/index/`) holds immutable segment folders, deletion masks beside them,
and a manifest naming both and every file they came from, with its content hash. Every write is a
new hidden temporary file or folder renamed into place, so a crash leaves the previous cache intact.
Nothing is served unverified: the manifest carries a checksum of its own canonical body, and names
with each segment the checksum of its seal (which holds the checksum of every file of the segment)
and of its deletion mask. Nothing here logs or decides what to do when the disk refuses or a check
fails: the functions raise, and the Library (store.py) that keeps the cache in step with the folder
decides.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import xxhash

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; one process per corpus there
    fcntl = None

from .passages import PassageTable
from .segment import Segment

CACHE_DIR = ".wenda"
# 3: term tables as arrays (terms.py) instead of terms.json, seals by xxh3-128.
# 4: (never released) doc ids as one-byte gaps.
# 5: a posting is one byte, doc gap and "tf > 1", with exceptions (postings.py).
# 6: the manifest carries its own checksum and those of every seal and deletion mask.
# 7: a manifest's articles carry their url and date (for `wenda sources`).
# 8: the manifest records the user dictionary's words its segments were cut with, out of the fingerprint.
# 9: each passage keeps jieba's cut of its text (passages.py), so an answer need not cut it again.
# 10: a file's passages are runs, possibly in several segments (FileEntry.runs): a user word moves
#     only the passages holding it. A format-9 manifest reads as one run per file.
FORMAT = 10
# The formats read_manifest reads: each older one is a special case of FORMAT's.
READABLE_FORMATS = (9, FORMAT)
# A hidden temporary file or folder in the cache whose writer is unknown (no pid in its name) and
# that is older than this was left by a crashed write. One whose writer's pid is gone is removed at once.
STALE_TEMP_SECONDS = 24 * 3600

MANIFEST_NAME = "manifest.json"
LOCK_NAME = ".lock"


def index_folder(root: Path) -> Path:
    """The index cache folder of a corpus folder."""
    return root / CACHE_DIR / "index"


# -- manifest entries -----------------------------------------------------------------------------
# Each record writes the keys it was read with, in the same order, so a manifest reads and writes
# back byte for byte: the JSON is FORMAT's, not the records'.


@dataclass(frozen=True, slots=True)
class ArticleEntry:
    """An article of a file, as the library lists it."""

    title: str
    source: str | None
    passages: int
    url: str | None = None
    date: str | None = None  # as corpus.Passage stores it (citations.py)

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "source": self.source,
            "passages": self.passages,
            "url": self.url,
            "date": self.date,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ArticleEntry:
        return cls(data["title"], data["source"], data["passages"], data["url"], data["date"])


@dataclass(frozen=True)
class ProblemEntry:
    """Something in a file that could not be read, as reported when it was read."""

    reason: str
    line: int | None

    def to_json(self) -> dict[str, Any]:
        return {"reason": self.reason, "line": self.line}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProblemEntry:
        return cls(data["reason"], data["line"])


@dataclass(frozen=True)
class Run:
    """Consecutive passages of a file, stored consecutively in one segment."""

    segment: str | None  # None only while the segment is being built, before it is named
    # `first` counts within the segment, so it stays true as other segments come and go.
    first: int
    count: int

    def to_json(self) -> list[Any]:
        return [self.segment, self.first, self.count]

    @classmethod
    def from_json(cls, data: Any) -> Run:
        segment, first, count = data
        if not isinstance(segment, str) or not isinstance(first, int) or not isinstance(count, int) or count <= 0:
            raise ValueError("a run of the manifest is not [segment, first, count]")
        return cls(segment, first, count)


@dataclass(frozen=True)
class FileEntry:
    """A corpus file as last read: its content, and where its passages are in the index.

    Its passages, in file order, are its runs one after the other. A file read in one go is one run;
    a user word moves only the passages holding it to a segment of their own (store.py), which splits
    the file's runs there. Every passage a run covers is live: a run goes whole, or is split.
    """

    sha256: str
    size: int
    mtime_ns: int
    runs: tuple[Run, ...]  # empty when the file has no passages
    articles: tuple[ArticleEntry, ...]
    problems: tuple[ProblemEntry, ...]

    @property
    def count(self) -> int:
        return sum(run.count for run in self.runs)

    def to_json(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "runs": [run.to_json() for run in self.runs],
            "articles": [a.to_json() for a in self.articles],
            "problems": [p.to_json() for p in self.problems],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FileEntry:
        if "runs" in data:
            runs = tuple(Run.from_json(run) for run in data["runs"])
        else:  # format 9: one range in one segment
            count = data["count"]
            runs = (Run(data["segment"], data["first"], count),) if count else ()
        return cls(
            sha256=data["sha256"],
            size=data["size"],
            mtime_ns=data["mtime_ns"],
            runs=runs,
            articles=tuple(ArticleEntry.from_json(a) for a in data["articles"]),
            problems=tuple(ProblemEntry.from_json(p) for p in data["problems"]),
        )


@dataclass(frozen=True)
class SegmentEntry:
    """A segment folder of the cache, and the file of its deletion mask if it has deleted passages,
    with the checksums of the segment's seal and of the mask."""

    name: str
    deleted: str | None
    seal: str = ""
    deleted_sum: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "deleted": self.deleted, "seal": self.seal, "deleted_xxh3_128": self.deleted_sum}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SegmentEntry:
        return cls(data["name"], data["deleted"], data["seal"], data["deleted_xxh3_128"])


@dataclass(frozen=True)
class Manifest:
    """What the cache holds: its segments in slot order, and every file they came from."""

    fingerprint: str  # everything that decides what a file's passages and terms are
    segments: tuple[SegmentEntry, ...]
    files: Mapping[str, FileEntry]
    # The user dictionary's words the segments were cut with, as Analyzer.user_words gives them.
    user_words: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        body = {
            "format": FORMAT,
            "fingerprint": self.fingerprint,
            "user_words": dict(self.user_words),
            "segments": [s.to_json() for s in self.segments],
            "files": {rel: entry.to_json() for rel, entry in self.files.items()},
        }
        return {**body, "checksum": _body_checksum(body)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Manifest:
        files = data["files"]
        if not isinstance(files, dict):
            raise ValueError("the manifest's file list is not a JSON object")
        return cls(
            data["fingerprint"],
            tuple(SegmentEntry.from_json(s) for s in data["segments"]),
            {rel: FileEntry.from_json(entry) for rel, entry in files.items()},
            _user_words(data["user_words"]),
        )


def _user_words(data: Any) -> dict[str, str]:
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ValueError("the manifest's user words are not a JSON object of strings")
    return dict(data)


def has_manifest(cache_dir: Path) -> bool:
    return (cache_dir / MANIFEST_NAME).exists()


def _body_checksum(body: Mapping[str, Any]) -> str:
    """The checksum of a manifest's body in a canonical form, so it does not depend on key order or spacing."""
    canonical = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return xxhash.xxh3_128_hexdigest(canonical.encode("utf-8"))


def has_segments(cache_dir: Path) -> bool:
    """Whether the cache folder holds any segment (with or without a manifest naming it)."""
    try:
        return any(path.name.startswith("seg-") for path in cache_dir.iterdir())
    except OSError:
        return False


def read_manifest(cache_dir: Path, fingerprint: str) -> Manifest | None:
    """The manifest, or None if it was written in another FORMAT or for another fingerprint.

    Raises OSError if it cannot be read, ValueError (KeyError, TypeError) if it is damaged: any
    change to its body (a digit of an entry, a key) breaks its checksum.
    """
    data = json.loads((cache_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("manifest.json is not a JSON object")
    if data.get("format") not in READABLE_FORMATS:
        return None
    body = {key: value for key, value in data.items() if key != "checksum"}
    if data.get("checksum") != _body_checksum(body):
        raise ValueError("manifest.json does not match its checksum")
    if data["fingerprint"] != fingerprint:
        return None
    return Manifest.from_json(data)


def write_manifest(cache_dir: Path, manifest: Manifest) -> None:
    """Replace the manifest atomically: a crash leaves the old one or the new one, never half of one.

    A folder in its place (nothing wenda writes) is removed first, or no manifest could ever be saved.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / MANIFEST_NAME
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    _fsync_write(path, json.dumps(manifest.to_json(), ensure_ascii=False).encode("utf-8"))


def manifest_stamp(cache_dir: Path) -> tuple[int, int, int] | None:
    """What tells one write of the manifest from another (each write is a new file renamed into place)."""
    try:
        st = (cache_dir / MANIFEST_NAME).stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


# -- segments and deletion masks ------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LoadedSegment:
    """A segment read back from the cache, memory-mapped, with its passages and deletion mask."""

    segment: Segment
    table: PassageTable
    deleted: np.ndarray | None


def segment_name() -> str:
    """A new segment's folder name: unique, and in the order segments were made."""
    return f"seg-{time.time_ns():x}"


def load_segment(cache_dir: Path, entry: SegmentEntry) -> LoadedSegment:
    """A segment the manifest names; raises ValueError (or OSError) if any part of it is damaged or they disagree."""
    folder = cache_dir / entry.name
    _verify(folder, entry.seal)
    segment = Segment.load(folder)
    table = PassageTable.load(folder)
    deleted = load_mask(cache_dir, entry)
    if segment.n_docs != len(table):
        raise ValueError(f"segment {entry.name} and its passages disagree")
    if deleted is not None and (deleted.dtype != np.bool_ or deleted.shape != (segment.n_docs,)):
        raise ValueError(f"the deletion mask of segment {entry.name} does not fit it")
    return LoadedSegment(segment, table, deleted)


def write_segment(cache_dir: Path, name: str, segment: Segment, table: PassageTable) -> tuple[Segment, PassageTable]:
    """Write a segment and its passages atomically, sealed; returns them memory-mapped from disk. Raises OSError."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = _temp_path(cache_dir, name)
    try:
        segment.save(tmp)
        table.save(tmp)
        _seal(tmp)
        os.replace(tmp, cache_dir / name)
    except BaseException:
        # A full disk must not leave a segment-sized leftover behind each attempt.
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Segment.load(cache_dir / name), PassageTable.load(cache_dir / name)


def segment_entry(cache_dir: Path, name: str, deleted: np.ndarray | None) -> SegmentEntry:
    """The manifest's entry of a segment on disk: its seal's checksum, and its deletion mask (if any
    passage is deleted) written under a new name, since the manifest in use still names the old one."""
    with open(cache_dir / name / "seal.json", "rb") as fh:
        seal = _checksum(fh)
    if deleted is None or not deleted.any():
        return SegmentEntry(name, None, seal, None)
    mask = f"{name}.deleted-{time.time_ns():x}.npy"
    buffer = io.BytesIO()
    np.save(buffer, deleted)
    data = buffer.getvalue()
    tmp = _temp_path(cache_dir, mask)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, cache_dir / mask)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return SegmentEntry(name, mask, seal, xxhash.xxh3_128_hexdigest(data))


def load_mask(cache_dir: Path, entry: SegmentEntry) -> np.ndarray | None:
    """The deletion mask the manifest gives a segment (None: nothing deleted); raises ValueError if damaged."""
    return _read_mask(cache_dir / entry.deleted, entry.deleted_sum) if entry.deleted else None


def _read_mask(path: Path, expected: str | None) -> np.ndarray:
    data = path.read_bytes()
    if xxhash.xxh3_128_hexdigest(data) != expected:
        raise ValueError(f"deletion mask {path.name} does not match its checksum")
    return np.load(io.BytesIO(data), allow_pickle=False)


def remove_segment(cache_dir: Path, name: str) -> None:
    """Remove a segment folder no manifest names (one written for a manifest that could not be saved)."""
    shutil.rmtree(cache_dir / name, ignore_errors=True)


# -- clean-up and the lock ------------------------------------------------------------------------


def collect_garbage(cache_dir: Path, manifest: Manifest | None) -> None:
    """Remove segments and deletion masks the manifest (the one just written) no longer names, and
    temporaries left by crashed writes. Call with the lock held; without a manifest, only temporaries go."""
    keep = {MANIFEST_NAME}
    for entry in manifest.segments if manifest is not None else ():
        keep.add(entry.name)
        if entry.deleted:
            keep.add(entry.deleted)
    for path in cache_dir.iterdir():
        if path.name in keep:
            continue
        if path.name.startswith("."):
            if not is_leftover(path):
                continue
        elif manifest is None:
            continue
        _remove(path)


def remove_leftovers(folder: Path, prefix: str = ".") -> None:
    """Remove the temporaries of crashed writes in folder (e.g. `.adding-` files in the corpus). Lock held."""
    with contextlib.suppress(OSError):
        for path in folder.iterdir():
            if path.name.startswith(prefix) and is_leftover(path):
                _remove(path)


def is_leftover(path: Path) -> bool:
    """Whether a hidden temporary was left by a write that will never finish: its writer (the pid in
    its name) is gone, or, without a pid, nobody touched it for STALE_TEMP_SECONDS.

    Every writer holds the lock, so the one holding it finds no write of another in progress; the
    pid keeps a writer of an older wenda, or of another corpus sharing the folder, safe all the same.
    """
    name = path.name
    if not (name.endswith(".tmp") or name.startswith((".adding-", ".adding."))):
        return False
    pid = _pid_in(name)
    if pid is not None:
        # Our own pid: another thread of this process may be writing it (an /add beside a refresh).
        return not _alive(pid)
    try:
        return time.time() - path.lstat().st_mtime >= STALE_TEMP_SECONDS
    except OSError:
        return False


def temp_prefix(kind: str) -> str:
    """The start of a temporary's name that says which process writes it (see is_leftover)."""
    return f".{kind}.{os.getpid()}-"


def _temp_path(folder: Path, name: str) -> Path:
    return folder / f".{name}.{os.getpid()}-{time.time_ns():x}.tmp"


def _pid_in(name: str) -> int | None:
    # .<name>.<pid>-<hex>.tmp, .manifest.json.<pid>.tmp, .adding.<pid>-<random>
    for part in name.split(".")[1:]:
        head = part.split("-", 1)[0]
        if head.isdigit() and (part == head or "-" in part) and len(head) <= 10:
            return int(head)
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process: alive
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def describe_os_error(exc: OSError, folder: Path) -> str:
    """One sentence for an OSError writing into folder, saying plainly when the disk is full or read-only."""
    if exc.errno == errno.ENOSPC or exc.errno == errno.EDQUOT:
        return f"disk full: cannot write in {folder} ({exc.strerror or exc})"
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"read-only: cannot write in {folder} ({exc.strerror or exc})"
    return f"cannot write in {folder}: {exc.strerror or exc}"


class _FileLock:
    """An open lock file; entered, it is held exclusively until the with-block ends, then closed.

    on_wait is called once if another process holds it, before waiting for it: the kernel releases
    a process's lock when it ends, so a writer that dies mid-write never leaves the others waiting.
    """

    def __init__(self, fh: BinaryIO, on_wait: Callable[[], None] | None = None) -> None:
        self._fh = fh
        self._on_wait = on_wait

    def __enter__(self) -> None:
        try:
            try:
                fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if self._on_wait is not None:
                    self._on_wait()
                fcntl.flock(self._fh, fcntl.LOCK_EX)
        except BaseException:
            self._fh.close()
            raise

    def __exit__(self, *exc_info: object) -> None:
        try:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
        finally:
            self._fh.close()


def open_lock(cache_dir: Path, on_wait: Callable[[], None] | None = None) -> contextlib.AbstractContextManager[None]:
    """The cache folder's lock, to hold in a with-block, so two processes (two bots sharing the corpus,
    the bot and `wenda add`) never interleave their writes and one's clean-up removes the other's new segment.

    on_wait is called if another process holds it, before waiting. Raises OSError if the lock file
    cannot be opened. Without advisory locks (Windows) it holds nothing.
    """
    if fcntl is None:
        return contextlib.nullcontext()
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Closed by _FileLock when the lock is released.
    return _FileLock(open(cache_dir / LOCK_NAME, "a+b"), on_wait)


# -- seals ----------------------------------------------------------------------------------------


def _checksum(fh: BinaryIO) -> str:
    # xxh3-128: a checksum against damage, not a defence against forgery; at ~8 GB/s (blake2b: ~0.5)
    # verifying a million passages' 6 GB of segments is a second of the start, not ten.
    return hashlib.file_digest(fh, xxhash.xxh3_128).hexdigest()


def _seal(folder: Path) -> None:
    """Record each file's size and checksum, so a torn or corrupted segment is noticed on load."""
    sums = {}
    for path in sorted(folder.iterdir()):
        with open(path, "rb") as fh:
            sums[path.name] = {"size": path.stat().st_size, "xxh3_128": _checksum(fh)}
            os.fsync(fh.fileno())
    _fsync_write(folder / "seal.json", json.dumps(sums).encode())


def _verify(folder: Path, seal: str) -> None:
    """Raise ValueError unless the seal is the one the manifest names, and every file of the segment
    is there with the size and checksum it was sealed with."""
    try:
        raw = (folder / "seal.json").read_bytes()
        sums = json.loads(raw)
    except (OSError, ValueError) as exc:
        raise ValueError(f"segment {folder.name} has no valid seal") from exc
    if xxhash.xxh3_128_hexdigest(raw) != seal or not isinstance(sums, dict):
        raise ValueError(f"the seal of segment {folder.name} does not match the manifest")
    for name, expected in sums.items():
        path = folder / name
        if not isinstance(expected, dict) or not path.is_file() or path.stat().st_size != expected.get("size"):
            raise ValueError(f"{folder.name}/{name} is missing or truncated")
        with open(path, "rb") as fh:
            if _checksum(fh) != expected.get("xxh3_128"):
                raise ValueError(f"{folder.name}/{name} is corrupt")


def _fsync_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
