"""The corpus folder as one searchable whole: an index cache beside it, kept in step with its files.

The cache (`<corpus>/.wenda/index/`) holds immutable segments and a manifest naming them and
every file they came from, with its content hash. Opening a corpus loads the manifest and its
segments memory-mapped, then re-reads only the files whose content changed; a changed analyzer
setting (user dictionary, stop words, wenda version) invalidates the whole cache. Every write is
a new file or folder renamed into place, so a crash leaves the previous cache intact.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xxhash

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; one process per corpus there
    fcntl = None

from .corpus import READER_VERSION, Problem, corpus_files, read_file
from .index import TUNED_PARAMS, BM25Index, BM25Params
from .parallel import build_segment
from .passages import PassageTable, SlotPassages
from .search import Searcher, indexed_text
from .segment import Segment
from .text import Analyzer, TextSettings

log = logging.getLogger(__name__)

USERDICT_NAME = "userdict.txt"
CACHE_DIR = ".wenda"
# 3: term tables as arrays (terms.py) instead of terms.json, seals by xxh3-128.
# 4: (never released) doc ids as one-byte gaps.
# 5: a posting is one byte, doc gap and "tf > 1", with exceptions (postings.py).
FORMAT = 5
# Merge segments when there are more than this many, or a segment has this share deleted (_next_merge).
MAX_SEGMENTS = 24
MAX_DELETED_SHARE = 0.25
# No merge makes a segment of more live passages than this (see Library._next_merge).
MERGE_CAP_DOCS = 150_000
# Read changed files in batches of about this many bytes, so a huge first build holds one batch of
# passages in memory at a time, not the whole corpus. A big first build takes larger batches, up to
# MAX_BATCH_BYTES, so that it ends with at most MAX_SEGMENTS - SEGMENTS_HEADROOM segments: every
# segment costs each query a lookup per term, and a merge at the end would hold two in memory.
BATCH_BYTES = 24 * 2**20
MAX_BATCH_BYTES = 48 * 2**20
SEGMENTS_HEADROOM = 4
# A hidden temporary file or folder in the cache older than this was left by a crashed write.
STALE_TEMP_SECONDS = 24 * 3600


@dataclass(frozen=True)
class StoreSettings:
    """What decides how a corpus folder is read and scored."""

    params: BM25Params = TUNED_PARAMS
    stopwords: bool = True
    cache: bool = True  # False: index in memory only, write nothing beside the corpus
    workers: int | None = None  # segmentation processes for big builds (default: every core)
    sentence_weight: float = 0.0  # > 0: rerank.py's second stage (off by default)


class CorpusNotFound(Exception):
    """The corpus folder does not exist; the message names it."""


@dataclass(frozen=True)
class ArticleSummary:
    title: str
    file: str
    source: str | None
    passages: int


@dataclass(frozen=True)
class Refresh:
    """What one look at the folder changed."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()
    seconds: float = 0.0

    @property
    def touched(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _fsync_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class Library:
    """A corpus folder with its index. `searcher` is always a complete, consistent snapshot."""

    def __init__(self, root: Path, settings: StoreSettings, analyzer: Analyzer) -> None:
        self.root = root
        self.settings = settings
        self.analyzer = analyzer
        self.cache_dir = root / CACHE_DIR / "index"
        self.files: dict[str, dict] = {}
        self._segment_names: list[str] = []
        self._tables: list[PassageTable] = []
        self._index = BM25Index([], settings.params)
        self.searcher = Searcher(SlotPassages([]), analyzer, self._index, settings.sentence_weight)
        # One refresh at a time (the watcher, /reindex and `wenda add` may all ask at once).
        self._lock = threading.Lock()
        self.last_refresh = Refresh()

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        root: Path,
        settings: StoreSettings | None = None,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> Library:
        """Load the cache if it fits the folder and settings, then bring it up to date with the files."""
        settings = settings or StoreSettings()
        if not root.is_dir():
            raise CorpusNotFound(f"corpus folder {root} does not exist (set --corpus or WENDA_CORPUS)")
        library = cls(root, settings, _analyzer_for(root, settings))
        if settings.cache:
            library._load_cache()
        library.refresh(progress=progress)
        return library

    def rebuild(self, progress: Callable[[str, int, int], None] | None = None) -> Refresh:
        """Re-read every file with a fresh analyzer (e.g. after editing userdict.txt), then swap it in."""
        fresh = Library(self.root, self.settings, _analyzer_for(self.root, self.settings))
        result = fresh.refresh(progress=progress)
        with self._lock:
            self.analyzer = fresh.analyzer
            self.files = fresh.files
            self._segment_names = fresh._segment_names
            self._publish(fresh._index, fresh._tables)
            self.last_refresh = result
        return result

    def _load_cache(self) -> None:
        manifest_path = self.cache_dir / "manifest.json"
        if not manifest_path.exists():
            return
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            if not isinstance(manifest, dict):
                raise ValueError("manifest.json is not a JSON object")
            if manifest.get("format") != FORMAT or manifest.get("fingerprint") != self._cache_key:
                log.info("index cache is for other settings; rebuilding")
                return
            files = manifest["files"]
            if not isinstance(files, dict):
                raise ValueError("the manifest's file list is not a JSON object")
            segments, tables, deleted = [], [], []
            for entry in manifest["segments"]:
                folder = self.cache_dir / entry["name"]
                _verify(folder)
                segments.append(Segment.load(folder))
                tables.append(PassageTable.load(folder))
                deleted.append(np.load(self.cache_dir / entry["deleted"]) if entry.get("deleted") else None)
                if segments[-1].n_docs != len(tables[-1]):
                    raise ValueError(f"segment {entry['name']} and its passages disagree")
                mask = deleted[-1]
                if mask is not None and (mask.dtype != np.bool_ or mask.shape != (segments[-1].n_docs,)):
                    raise ValueError(f"the deletion mask of segment {entry['name']} does not fit it")
            index = BM25Index(segments, self.settings.params, deleted)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("index cache unreadable (%s); rebuilding from the corpus", exc)
            return
        self.files = files
        self._segment_names = [e["name"] for e in manifest["segments"]]
        self._publish(index, tables)

    @contextlib.contextmanager
    def _cache_lock(self):
        """Hold the cache folder's lock file, so two processes (the bot and `wenda add`, say) never
        interleave their writes and one's clean-up removes the other's new segment."""
        if not self.settings.cache or fcntl is None:
            yield
            return
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            fh = open(self.cache_dir / ".lock", "a+b")  # noqa: SIM115 - held for the with-block below
        except OSError as exc:
            log.warning("cannot lock the index cache in %s: %s", self.cache_dir, exc)
            yield
            return
        with fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @property
    def _cache_key(self) -> str:
        """Everything that decides what a file's passages and terms are."""
        return f"reader{READER_VERSION}-{self.analyzer.fingerprint}"

    def _publish(self, index: BM25Index, tables: list[PassageTable]) -> None:
        self._index = index
        self._tables = tables
        # One assignment: a query holding the old searcher keeps a consistent old snapshot.
        self.searcher = Searcher(SlotPassages(tables), self.analyzer, index, self.settings.sentence_weight)

    # -- keeping in step with the folder ------------------------------------------------------

    def refresh(self, progress: Callable[[str, int, int], None] | None = None) -> Refresh:
        """Re-read the files whose content changed since the last look; returns what changed.

        A changed user dictionary changes how every passage is segmented, so it means a rebuild.
        """
        if _analyzer_for(self.root, self.settings, load=False) != self.analyzer.userdict_digest:
            log.info("user dictionary changed; re-reading the whole corpus")
            return self.rebuild(progress)
        with self._lock, self._cache_lock():
            started = time.perf_counter()
            result = self._refresh(progress)
            result = Refresh(
                result.added, result.changed, result.removed, result.problems, time.perf_counter() - started
            )
            self.last_refresh = result
            if result.touched:
                log.info(
                    "index updated: %d added, %d changed, %d removed files in %.2fs; %d passages",
                    len(result.added),
                    len(result.changed),
                    len(result.removed),
                    result.seconds,
                    self.passage_count,
                )
            return result

    def _refresh(self, progress: Callable[[str, int, int], None] | None) -> Refresh:
        if not self.root.is_dir():
            raise CorpusNotFound(f"corpus folder {self.root} does not exist any more")
        present: dict[str, os.stat_result] = {}
        for path in corpus_files(self.root):
            try:
                present[path.relative_to(self.root).as_posix()] = path.stat()
            except OSError:
                continue  # removed between listing and stat: it is simply not there
        to_read: list[tuple[str, str]] = []  # (relative path, sha256)
        stat_only: dict[str, os.stat_result] = {}
        for rel, st in present.items():
            entry = self.files.get(rel)
            if entry and entry["size"] == st.st_size and entry["mtime_ns"] == st.st_mtime_ns:
                continue
            try:
                digest = _sha256(self.root / rel)
            except OSError as exc:
                log.warning("cannot read %s: %s", rel, exc.strerror or exc)
                continue
            if entry and entry["sha256"] == digest:
                stat_only[rel] = st
            else:
                to_read.append((rel, digest))
        removed = [rel for rel in self.files if rel not in present]
        for rel, st in stat_only.items():
            self.files[rel] = {**self.files[rel], "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        if not to_read and not removed:
            if stat_only and self.settings.cache:
                # Through _save: a full disk must not stop serving, and the masks the manifest
                # rewrites under new names leave their old copies to be collected.
                self._save({})
            return Refresh()

        added = tuple(rel for rel, _ in to_read if rel not in self.files)
        changed = tuple(rel for rel, _ in to_read if rel in self.files)
        dead = [rel for rel in (*changed, *removed)]
        index = self._index.with_deleted(self._slots_of(dead)) if dead else self._index
        files = {rel: e for rel, e in self.files.items() if rel not in dead}
        tables = list(self._tables)
        names = list(self._segment_names)
        problems: list[Problem] = []

        # Each batch of files becomes a segment of its own, written out and memory-mapped at once,
        # so a first build of a huge corpus holds one batch in memory, never the whole corpus.
        pending_segments: dict[str, tuple[Segment, PassageTable]] = {}
        repeat = self.analyzer.settings.title_repeat
        cache_ok = self.settings.cache
        for batch in _batches(to_read, self.root, len(index.segments)):
            texts: list[str] = []
            passages = []
            entries: dict[str, dict] = {}
            for rel, digest in batch:
                report = read_file(self.root / rel, self.root)
                for problem in report.problems:
                    log.warning("skipped %s", problem)
                problems.extend(report.problems)
                file_passages = report.passages
                st = present[rel]
                entries[rel] = {
                    "sha256": digest,
                    "size": st.st_size,
                    "mtime_ns": st.st_mtime_ns,
                    # "first" counts within the segment, so it stays true as other segments come and go.
                    "first": len(passages),
                    "count": len(file_passages),
                    "segment": None,
                    "articles": [
                        {"title": a.title, "source": a.source, "passages": len(a.passages)} for a in report.articles
                    ],
                    "problems": [{"reason": p.reason, "line": p.line} for p in report.problems],
                }
                passages.extend(file_passages)
                texts.extend(indexed_text(p, repeat) for p in file_passages)
            if passages:
                if progress:
                    progress("segmenting", 0, len(texts))
                segment = build_segment(
                    texts,
                    self.analyzer,
                    workers=self.settings.workers,
                    progress=(lambda n: progress("segmenting", n, 0)) if progress else None,
                )
                del texts  # segmented; the passages' own text goes into the table next
                table = PassageTable.from_passages(passages)
                name = f"seg-{time.time_ns():x}"
                if cache_ok:
                    written = self._write_segment(name, segment, table)
                    if written is None:
                        cache_ok = False  # logged once; the manifest must not name a segment not on disk
                    else:
                        segment, table = written
                else:
                    pending_segments[name] = (segment, table)
                index = index.with_segment(segment)
                tables.append(table)
                names.append(name)
                for entry in entries.values():
                    if entry["count"]:
                        entry["segment"] = name
            files.update(entries)
            del passages, entries
            _release_freed_memory()

        # A segment whose passages are all deleted is dropped outright; file entries name their
        # segment and count within it, so nothing else needs renumbering.
        keep = [i for i, (_, dead) in enumerate(index.pairs) if dead is None or not dead.all()]
        if len(keep) < len(index.segments):
            index = BM25Index([index.segments[i] for i in keep], index.params, [index.deleted[i] for i in keep])
            tables = [tables[i] for i in keep]
            names = [names[i] for i in keep]
        while (run := self._next_merge(index)) is not None:
            index, tables, names, files, pending_segments = self._merge(
                index, tables, names, files, pending_segments, *run
            )

        self.files = files
        self._segment_names = names
        self._publish(index, tables)
        if cache_ok:
            self._save(pending_segments)
        return Refresh(added, changed, tuple(removed), tuple(problems))

    def _slots_of(self, rels: list[str]) -> np.ndarray:
        """Index slots of the given files' passages (their segment's base plus their range)."""
        bases = {name: int(b) for name, b in zip(self._segment_names, self._index.bases[:-1], strict=True)}
        slots = [
            np.arange(entry["first"], entry["first"] + entry["count"]) + bases[entry["segment"]]
            for rel in rels
            if (entry := self.files.get(rel)) and entry["count"]
        ]
        return np.concatenate(slots) if slots else np.zeros(0, dtype=np.int64)

    def _next_merge(self, index: BM25Index) -> tuple[int, int] | None:
        """The run of adjacent segments to merge next, if any (a small tiered policy).

        A segment with over MAX_DELETED_SHARE of its passages deleted is rewritten on its own;
        beyond MAX_SEGMENTS, the adjacent pair with the fewest live passages is merged, as long as
        the result stays under MERGE_CAP_DOCS: a merge holds its segments in memory, so segments
        never grow past what a build may hold at once. Adjacent only, so slot order (the corpus
        order rank-bm25 would see) is kept.
        """
        live = [seg.n_docs - (int(dead.sum()) if dead is not None else 0) for seg, dead in index.pairs]
        for i, (seg, dead) in enumerate(index.pairs):
            if dead is not None and seg.n_docs and dead.sum() / seg.n_docs > MAX_DELETED_SHARE:
                return i, i + 1
        if len(index.segments) <= MAX_SEGMENTS:
            return None
        pairs = [(live[i] + live[i + 1], i) for i in range(len(live) - 1) if live[i] + live[i + 1] <= MERGE_CAP_DOCS]
        if not pairs:
            return None
        _, i = min(pairs)
        return i, i + 2

    def _merge(self, index, tables, names, files, pending, start: int, stop: int):
        """Fold segments [start, stop) into one of their live passages; file ranges follow the renumbering."""
        sub = BM25Index(index.segments[start:stop], index.params, index.deleted[start:stop])
        merged, mapping = sub.merged()
        bases = sub.bases
        parts = [
            tables[start + k].select(np.flatnonzero(sub.live[bases[k] : bases[k + 1]])) for k in range(stop - start)
        ]
        table = PassageTable.concat(parts)
        name = f"seg-{time.time_ns():x}"
        sub_bases = {names[start + k]: int(bases[k]) for k in range(stop - start)}
        for rel, entry in files.items():
            if entry["count"] and entry["segment"] in sub_bases:
                first = int(mapping[sub_bases[entry["segment"]] + entry["first"]])
                files[rel] = {**entry, "first": first, "segment": name}
        for old in sub_bases:
            pending.pop(old, None)
        pending[name] = (merged.segments[0], table)
        log.info("merged %d segments into one of %d passages", stop - start, merged.n_docs)
        index = BM25Index(
            [*index.segments[:start], merged.segments[0], *index.segments[stop:]],
            index.params,
            [*index.deleted[:start], None, *index.deleted[stop:]],
        )
        return index, [*tables[:start], table, *tables[stop:]], [*names[:start], name, *names[stop:]], files, pending

    # -- saving -------------------------------------------------------------------------------

    def _write_segment(self, name: str, segment: Segment, table: PassageTable) -> tuple[Segment, PassageTable] | None:
        """Write a segment atomically and return it memory-mapped; None (logged) if it cannot be written."""
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.cache_dir / f".{name}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            segment.save(tmp)
            table.save(tmp)
            _seal(tmp)
            os.replace(tmp, self.cache_dir / name)
            return Segment.load(self.cache_dir / name), PassageTable.load(self.cache_dir / name)
        except OSError as exc:
            # Serving goes on from memory; the next start rebuilds what could not be saved.
            log.warning("could not save the index cache in %s: %s", self.cache_dir, exc)
            return None

    def _save(self, new_segments: dict[str, tuple[Segment, PassageTable]]) -> None:
        try:
            for name, (segment, table) in new_segments.items():
                if not (self.cache_dir / name).exists() and self._write_segment(name, segment, table) is None:
                    return
            self._save_manifest()
            self._collect_garbage()
        except OSError as exc:
            # Serving goes on from memory; the next start rebuilds what could not be saved.
            log.warning("could not save the index cache in %s: %s", self.cache_dir, exc)

    def _save_manifest(self) -> None:
        if not self.settings.cache:
            return
        entries = []
        for name, dead in zip(self._segment_names, self._index.deleted, strict=True):
            deleted = None
            if dead is not None and dead.any():
                deleted = f"{name}.deleted-{time.time_ns():x}.npy"
                tmp = self.cache_dir / f".{deleted}.tmp"
                with open(tmp, "wb") as fh:
                    np.save(fh, dead)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.cache_dir / deleted)
            entries.append({"name": name, "deleted": deleted})
        manifest = {
            "format": FORMAT,
            "fingerprint": self._cache_key,
            "segments": entries,
            "files": self.files,
        }
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        _fsync_write(self.cache_dir / "manifest.json", json.dumps(manifest, ensure_ascii=False).encode("utf-8"))

    def _collect_garbage(self) -> None:
        """Remove segments and deletion masks the manifest no longer names."""
        manifest = json.loads((self.cache_dir / "manifest.json").read_text(encoding="utf-8"))
        keep = {"manifest.json"}
        for entry in manifest["segments"]:
            keep.add(entry["name"])
            if entry.get("deleted"):
                keep.add(entry["deleted"])
        now = time.time()
        for path in self.cache_dir.iterdir():
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

    # -- what is in it ------------------------------------------------------------------------

    @property
    def passage_count(self) -> int:
        return self._index.n_docs

    @property
    def articles(self) -> list[ArticleSummary]:
        return [
            ArticleSummary(a["title"], rel, a["source"], a["passages"])
            for rel in sorted(self.files)
            for a in self.files[rel]["articles"]
        ]

    @property
    def problems(self) -> list[Problem]:
        return [Problem(rel, p["reason"], p["line"]) for rel in sorted(self.files) for p in self.files[rel]["problems"]]

    @property
    def file_count(self) -> int:
        return sum(1 for e in self.files.values() if e["count"])


def _analyzer_for(root: Path, settings: StoreSettings, load: bool = True):
    """The analyzer for a corpus folder (with its user dictionary), or with load=False just that dictionary's digest."""
    userdict = root / USERDICT_NAME
    present = userdict.is_file()
    if not load:
        try:
            return hashlib.sha256(userdict.read_bytes()).hexdigest() if present else ""
        except OSError:
            return ""
    return Analyzer(TextSettings(stopwords=settings.stopwords, userdict=userdict if present else None))


def _batches(to_read: list[tuple[str, str]], root: Path, segments: int):
    """Group files into batches, in order: of about BATCH_BYTES, or larger (up to MAX_BATCH_BYTES)
    when that keeps the index, which has `segments` already, under its target segment count."""
    sizes = []
    for rel, _ in to_read:
        try:
            sizes.append((root / rel).stat().st_size)
        except OSError:
            sizes.append(0)
    room = max(1, MAX_SEGMENTS - SEGMENTS_HEADROOM - segments)
    limit = min(MAX_BATCH_BYTES, max(BATCH_BYTES, -(-sum(sizes) // room)))
    batch: list[tuple[str, str]] = []
    size = 0
    for (rel, digest), n in zip(to_read, sizes, strict=True):
        if batch and size + n > limit:
            yield batch
            batch, size = [], 0
        batch.append((rel, digest))
        size += n
    if batch:
        yield batch


def _release_freed_memory() -> None:
    """Hand freed heap pages back to the system after a batch (glibc only; elsewhere a no-op).

    glibc keeps what a batch freed for later use, and fragmentation keeps much of it from being
    reused: measured on a first build of 100k passages, the process grew by about 100 MB per batch
    (gigabytes at 1M passages); with this call, by about a quarter of that.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _checksum(fh) -> str:
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
