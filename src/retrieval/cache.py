"""The index cache's on-disk format: manifest, sealed segments, atomic writes, clean-up and the lock.

The cache (`<corpus>/.wenda/index/`) holds immutable segment folders, deletion masks beside them,
and a manifest naming both and every file they came from, with its content hash. Every write is a
new hidden temporary file or folder renamed into place, so a crash leaves the previous cache intact.
Nothing here logs or decides what to do when the disk refuses: the functions raise, and the
Library (store.py) that keeps the cache in step with the folder decides.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
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
# 6: a manifest's articles carry their url and date (for `wenda sources`).
FORMAT = 6
# A hidden temporary file or folder in the cache older than this was left by a crashed write.
STALE_TEMP_SECONDS = 24 * 3600

MANIFEST_NAME = "manifest.json"
LOCK_NAME = ".lock"


def index_folder(root: Path) -> Path:
    """The index cache folder of a corpus folder."""
    return root / CACHE_DIR / "index"


# -- manifest entries -----------------------------------------------------------------------------
# Each record writes the keys it was read with, in the same order, so a manifest reads and writes
# back byte for byte: the JSON is FORMAT's, not the records'.


@dataclass(frozen=True)
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
class FileEntry:
    """A corpus file as last read: its content, and where its passages are in the index."""

    sha256: str
    size: int
    mtime_ns: int
    # `first` counts within the segment, so it stays true as other segments come and go.
    first: int
    count: int
    segment: str | None  # None when the file has no passages
    articles: tuple[ArticleEntry, ...]
    problems: tuple[ProblemEntry, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "first": self.first,
            "count": self.count,
            "segment": self.segment,
            "articles": [a.to_json() for a in self.articles],
            "problems": [p.to_json() for p in self.problems],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FileEntry:
        return cls(
            sha256=data["sha256"],
            size=data["size"],
            mtime_ns=data["mtime_ns"],
            first=data["first"],
            count=data["count"],
            segment=data["segment"],
            articles=tuple(ArticleEntry.from_json(a) for a in data["articles"]),
            problems=tuple(ProblemEntry.from_json(p) for p in data["problems"]),
        )


@dataclass(frozen=True)
class SegmentEntry:
    """A segment folder of the cache, and the file of its deletion mask if it has deleted passages."""

    name: str
    deleted: str | None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "deleted": self.deleted}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SegmentEntry:
        return cls(data["name"], data.get("deleted"))


@dataclass(frozen=True)
class Manifest:
    """What the cache holds: its segments in slot order, and every file they came from."""

    fingerprint: str  # everything that decides what a file's passages and terms are
    segments: tuple[SegmentEntry, ...]
    files: Mapping[str, FileEntry]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "fingerprint": self.fingerprint,
            "segments": [s.to_json() for s in self.segments],
            "files": {rel: entry.to_json() for rel, entry in self.files.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Manifest:
        files = data["files"]
        if not isinstance(files, dict):
            raise ValueError("the manifest's file list is not a JSON object")
        return cls(
            data["fingerprint"],
            tuple(SegmentEntry.from_json(s) for s in data["segments"]),
            {rel: FileEntry.from_json(entry) for rel, entry in files.items()},
        )


def has_manifest(cache_dir: Path) -> bool:
    return (cache_dir / MANIFEST_NAME).exists()


def read_manifest(cache_dir: Path, fingerprint: str) -> Manifest | None:
    """The manifest, or None if it was written in another FORMAT or for another fingerprint.

    Raises OSError if it cannot be read, ValueError (KeyError, TypeError) if it is damaged.
    """
    data = json.loads((cache_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("manifest.json is not a JSON object")
    if data.get("format") != FORMAT or data.get("fingerprint") != fingerprint:
        return None
    return Manifest.from_json(data)


def write_manifest(cache_dir: Path, manifest: Manifest) -> None:
    """Replace the manifest atomically: a crash leaves the old one or the new one, never half of one."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    _fsync_write(cache_dir / MANIFEST_NAME, json.dumps(manifest.to_json(), ensure_ascii=False).encode("utf-8"))


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
    _verify(folder)
    segment = Segment.load(folder)
    table = PassageTable.load(folder)
    deleted = np.load(cache_dir / entry.deleted) if entry.deleted else None
    if segment.n_docs != len(table):
        raise ValueError(f"segment {entry.name} and its passages disagree")
    if deleted is not None and (deleted.dtype != np.bool_ or deleted.shape != (segment.n_docs,)):
        raise ValueError(f"the deletion mask of segment {entry.name} does not fit it")
    return LoadedSegment(segment, table, deleted)


def write_segment(cache_dir: Path, name: str, segment: Segment, table: PassageTable) -> tuple[Segment, PassageTable]:
    """Write a segment and its passages atomically, sealed; returns them memory-mapped from disk. Raises OSError."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    segment.save(tmp)
    table.save(tmp)
    _seal(tmp)
    os.replace(tmp, cache_dir / name)
    return Segment.load(cache_dir / name), PassageTable.load(cache_dir / name)


def write_deletion_mask(cache_dir: Path, segment: str, deleted: np.ndarray) -> str:
    """Write a segment's deletion mask under a new name (the manifest in use still names the old); returns it."""
    name = f"{segment}.deleted-{time.time_ns():x}.npy"
    tmp = cache_dir / f".{name}.tmp"
    with open(tmp, "wb") as fh:
        np.save(fh, deleted)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, cache_dir / name)
    return name


# -- clean-up and the lock ------------------------------------------------------------------------


def collect_garbage(cache_dir: Path) -> None:
    """Remove segments and deletion masks the manifest no longer names, and stale temporaries."""
    manifest = json.loads((cache_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    keep = {MANIFEST_NAME}
    for entry in map(SegmentEntry.from_json, manifest["segments"]):
        keep.add(entry.name)
        if entry.deleted:
            keep.add(entry.deleted)
    now = time.time()
    for path in cache_dir.iterdir():
        if path.name in keep:
            continue
        if path.name.startswith("."):
            # A hidden .tmp is a write in progress, perhaps by another wenda process; one that
            # nobody touched for a day was left by a crash, and may be as big as a segment.
            try:
                if not path.name.endswith(".tmp") or now - path.lstat().st_mtime < STALE_TEMP_SECONDS:
                    continue
            except OSError:
                continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


class _FileLock:
    """An open lock file; entered, it is held exclusively until the with-block ends, then closed."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh

    def __enter__(self) -> None:
        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX)
        except BaseException:
            self._fh.close()
            raise

    def __exit__(self, *exc_info: object) -> None:
        try:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
        finally:
            self._fh.close()


def open_lock(cache_dir: Path) -> contextlib.AbstractContextManager[None]:
    """The cache folder's lock, to hold in a with-block, so two processes (the bot and `wenda add`, say)
    never interleave their writes and one's clean-up removes the other's new segment.

    Raises OSError if the lock file cannot be opened. Without advisory locks (Windows) it holds nothing.
    """
    if fcntl is None:
        return contextlib.nullcontext()
    cache_dir.mkdir(parents=True, exist_ok=True)
    return _FileLock(open(cache_dir / LOCK_NAME, "a+b"))  # closed by _FileLock when the lock is released


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


def _verify(folder: Path) -> None:
    """Raise ValueError unless every file of a segment is there with the size and checksum it was sealed with."""
    try:
        sums = json.loads((folder / "seal.json").read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"segment {folder.name} has no valid seal") from exc
    for name, expected in sums.items():
        path = folder / name
        if not path.exists() or path.stat().st_size != expected["size"]:
            raise ValueError(f"{folder.name}/{name} is missing or truncated")
        with open(path, "rb") as fh:
            if _checksum(fh) != expected.get("xxh3_128"):
                raise ValueError(f"{folder.name}/{name} is corrupt")


def _fsync_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
