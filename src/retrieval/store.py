"""The corpus folder as one searchable whole: an index kept in step with its files, cached beside them.

Opening a corpus loads the cache (cache.py: `<corpus>/.wenda/index/`) and its segments
memory-mapped, then re-reads only the files whose content changed; a changed analyzer setting
(stop words, wenda version) invalidates the whole cache. An edited user dictionary cuts again only
the passages holding a word it added, removed or re-weighed (userwords.py), taken from the index as
stored rather than read from their files, and moves only them, to a small segment of their own. A
refresh builds the
next index aside and publishes it whole, so a query sees the old snapshot or the new, never half.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import cache
from .cache import ArticleEntry, FileEntry, Manifest, ProblemEntry, Run
from .corpus import READER_VERSION, FileReport, Problem, corpus_files, read_file
from .heap import release_freed_memory
from .index import TUNED_PARAMS, BM25Index, BM25Params
from .parallel import build_segment
from .passages import PassageTable, SlotPassages
from .postings import spans
from .rerank import SENTENCE_WEIGHT
from .search import INDEXED_TITLE_CHARS, Searcher
from .segment import Segment
from .synonyms import SYNONYMS_NAME, Synonyms
from .text import Analyzer, TextSettings
from .userwords import changed_words, slots_holding

log = logging.getLogger(__name__)

USERDICT_NAME = "userdict.txt"
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

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class StoreSettings:
    """What decides how a corpus folder is read and scored."""

    params: BM25Params = TUNED_PARAMS
    stopwords: bool = True
    cache: bool = True  # False: index in memory only, write nothing beside the corpus
    workers: int | None = None  # segmentation processes for big builds (default: every core)
    sentence_weight: float = SENTENCE_WEIGHT  # rerank.py's second stage; 0 turns it off
    # Links in the corpus folder to files outside it are skipped (and reported) unless this is set.
    follow_external_links: bool = False


class CorpusNotFound(Exception):
    """The corpus folder does not exist; the message names it."""


@dataclass(frozen=True)
class ArticleSummary:
    title: str
    file: str
    source: str | None
    passages: int
    url: str | None = None
    date: str | None = None  # as corpus.Passage stores it: citations.shown_date and json_date render it


@dataclass(frozen=True)
class Refresh:
    """What one look at the folder changed."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()
    seconds: float = 0.0
    synonyms: bool = False  # synonyms.txt's rules changed (the index did not: questions are read anew)
    # The user words added, removed or re-weighed; the files holding them are among `changed` (their
    # passages holding one were cut again; the files were not read).
    user_words: tuple[str, ...] = ()
    # Passages this refresh segmented (cut into terms); 0 when another process had done it.
    segmented: int = 0
    # It loaded the index another process sharing the corpus (a second bot, `wenda index`) had saved.
    taken_up: bool = False

    @property
    def touched(self) -> bool:
        return bool(self.added or self.changed or self.removed)


@dataclass(frozen=True)
class _Changes:
    """What a look at the folder found, against the files as last read."""

    to_read: tuple[tuple[str, str], ...]  # (relative path, sha256) of new and changed files, in folder order
    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    touched: Mapping[str, os.stat_result]  # a new size or mtime but the same content: nothing to read
    # Files that hold a changed user word, their content as indexed (not in to_read or removed): the
    # passages holding it (`holding`, by slot: userwords.slots_holding) are cut again and moved (_recut).
    recut: tuple[str, ...] = ()
    holding: frozenset[int] = frozenset()


@dataclass(frozen=True, eq=False)
class _Draft:
    """The next snapshot as one refresh builds it: published, and saved, only once it is whole."""

    index: BM25Index
    tables: tuple[PassageTable, ...]  # one per segment, in slot order
    names: tuple[str, ...]  # each segment's folder name in the cache
    files: Mapping[str, FileEntry]
    # Segments not on disk yet (the cache is off or a write failed, or they came from a merge).
    unsaved: Mapping[str, tuple[Segment, PassageTable]]
    # False without a cache, or once a write failed: the manifest must not name a segment not on disk.
    saving: bool
    problems: tuple[Problem, ...] = ()
    segmented: int = 0  # passages segmented into it so far


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


class Library:
    """A corpus folder with its index. `searcher` is always a complete, consistent snapshot."""

    def __init__(self, root: Path, settings: StoreSettings, analyzer: Analyzer) -> None:
        self.root = root
        self.settings = settings
        self.analyzer = analyzer
        self.cache_dir = cache.index_folder(root)
        self.files: dict[str, FileEntry] = {}
        self._segment_names: list[str] = []
        self._tables: list[PassageTable] = []
        self._index = BM25Index([], settings.params)
        # synonyms.txt's rules, and the (size, mtime) they were read at: checked by every refresh.
        self.synonyms = Synonyms()
        self._synonyms_stamp: tuple[int, int] | None = None
        self.searcher = Searcher(SlotPassages([]), analyzer, self._index, settings.sentence_weight)
        # One refresh at a time (the watcher, /reindex and `wenda add` may all ask at once).
        self._lock = threading.Lock()
        self.last_refresh = Refresh()
        # The manifest as this library last read (even one it could not use) or wrote it
        # (cache.manifest_stamp): another process wrote the cache if it differs, and the next refresh
        # loads that before it changes anything, so that nothing it segmented is segmented again.
        self._stamp: tuple[int, int, int] | None = None
        # Segments written since the manifest was last saved: removed if that save fails, not leaked.
        self._written: set[str] = set()
        # Files the last look at the folder skipped (links out of it), reported beside the files' own problems.
        self._scan_problems: tuple[Problem, ...] = ()
        # The user words the index's passages were cut with (the analyzer's, once a refresh caught up).
        self._user_words: dict[str, str] = analyzer.user_words

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def open(cls, root: Path, settings: StoreSettings | None = None, progress: Progress | None = None) -> Library:
        """Load the cache if it fits the folder and settings, then bring it up to date with the files."""
        settings = settings or StoreSettings()
        if not root.is_dir():
            raise CorpusNotFound(f"corpus folder {root} does not exist (set --corpus or WENDA_CORPUS)")
        library = cls(root, settings, _analyzer_for(root, settings))
        if settings.cache:
            # Under the lock, so a manifest and the segments it names are read as one process left them.
            with library._lock, library._cache_lock():
                library._load_cache()
        library.refresh(progress=progress)
        return library

    def rebuild(self, progress: Progress | None = None) -> Refresh:
        """Re-read every file with a fresh analyzer (`wenda index --rebuild`), then swap it in."""
        fresh = Library(self.root, self.settings, _analyzer_for(self.root, self.settings))
        result = fresh._update(progress, take_up=False)  # re-read every file, whatever the cache holds
        with self._lock:
            self.analyzer = fresh.analyzer
            self.synonyms, self._synonyms_stamp = fresh.synonyms, fresh._synonyms_stamp
            self.files = fresh.files
            self._user_words = fresh._user_words
            self._segment_names = fresh._segment_names
            self._stamp = fresh._stamp
            self._publish(fresh._index, fresh._tables)
            self.last_refresh = result
        return result

    def _load_cache(self) -> bool:
        """Load the cache, verified whole (cache.py), in place of what the library holds; False if
        there is none to load or it cannot be trusted, and the library is left as it was.

        Call with the cache lock held. Leftovers of interrupted writes go at the same time.
        """
        self._remove_leftovers(None)
        if not cache.has_manifest(self.cache_dir):
            if cache.has_segments(self.cache_dir):
                log.warning("index cache unreadable (its manifest is missing); rebuilding from the corpus")
            return False
        stamp = cache.manifest_stamp(self.cache_dir)
        # Even a manifest that cannot be used is seen: the refresh replaces it, and no refresh before
        # that tries it again.
        self._stamp = stamp
        try:
            manifest = cache.read_manifest(self.cache_dir, self._cache_key)
            if manifest is None:
                log.info("index cache is for other settings; rebuilding")
                return False
            loaded = [cache.load_segment(self.cache_dir, entry) for entry in manifest.segments]
            _check_ranges(manifest, [s.segment.n_docs for s in loaded])
            index = BM25Index([s.segment for s in loaded], self.settings.params, [s.deleted for s in loaded])
        except Exception as exc:  # whatever the damage, the corpus is there to rebuild from
            reason = (str(exc).strip().splitlines() or [""])[0]
            log.warning("index cache unreadable (%s: %s); rebuilding from the corpus", type(exc).__name__, reason)
            return False
        self.files = dict(manifest.files)
        self._user_words = dict(manifest.user_words)
        self._segment_names = [entry.name for entry in manifest.segments]
        self._publish(index, [s.table for s in loaded])
        self._remove_leftovers(manifest)
        return True

    def _remove_leftovers(self, manifest: Manifest | None) -> None:
        """Remove what interrupted writes left (and, given the manifest, what it does not name). Lock held."""
        with contextlib.suppress(OSError):
            if self.cache_dir.is_dir():
                cache.collect_garbage(self.cache_dir, manifest)
        cache.remove_leftovers(self.root, ".adding")

    @contextlib.contextmanager
    def _cache_lock(self) -> Iterator[None]:
        """Hold the cache's lock (cache.open_lock) if there is a cache; without one if it cannot be had."""
        if not self.settings.cache:
            yield
            return
        try:
            held = cache.open_lock(self.cache_dir, on_wait=self._waiting)
        except OSError as exc:
            log.warning("cannot lock the index cache in %s: %s", self.cache_dir, exc)
            held = contextlib.nullcontext()
        with held:
            yield

    def _waiting(self) -> None:
        log.info("another process is updating the index cache in %s; waiting for it", self.cache_dir)

    @property
    def _cache_key(self) -> str:
        """Everything that decides what a file's passages and terms are."""
        return f"reader{READER_VERSION}-{self.analyzer.fingerprint}"

    def _publish(self, index: BM25Index, tables: list[PassageTable]) -> None:
        # Computed here, while queries still use the old snapshot: left to the first query, this
        # statistic over the whole vocabulary (0.3 s at 100k passages) would hold up that query and,
        # behind cached_property's lock, every query that arrived meanwhile. (An empty index has
        # none, and no query asks it for one.)
        if index.n_docs:
            index.average_idf  # noqa: B018
        self._index = index
        self._tables = tables
        # One assignment: a query holding the old searcher keeps a consistent old snapshot.
        self.searcher = Searcher(
            SlotPassages(tables), self.analyzer, index, self.settings.sentence_weight, self.synonyms
        )
        # What loading or updating the index freed (the manifest, the article lists, merged segments)
        # goes back to the system for the page cache.
        release_freed_memory()

    # -- keeping in step with the folder ------------------------------------------------------

    def refresh(self, progress: Progress | None = None) -> Refresh:
        """Re-read the files whose content changed since the last look; returns what changed.

        A changed user dictionary means a new analyzer (jieba cannot forget a word) and cutting
        again the passages that hold a word it added, removed or re-weighed, from the index as
        stored (their files are not read); a changed synonyms.txt changes
        only how questions are read, so the index stays as it is. What another process sharing the
        corpus saved meanwhile is taken up first (take_up), so only what it has not read is read.
        """
        return self._update(progress, take_up=True)

    def take_up(self) -> Refresh:
        """Load the index another process saved since this library last read or wrote the cache, and
        segment nothing: how several bots sharing one corpus follow the one that refreshed it.

        Cheap when nothing changed (one stat of the manifest); waits while another process writes.
        """
        if not self.settings.cache or cache.manifest_stamp(self.cache_dir) in (None, self._stamp):
            return Refresh()
        with self._lock, self._cache_lock():
            result = Refresh(taken_up=self._take_up())
            if result.taken_up:
                self.last_refresh = result
            return result

    def _take_up(self) -> bool:
        """Load the cache if another process saved it since; whether it did. Both locks held."""
        if not self.settings.cache or cache.manifest_stamp(self.cache_dir) in (None, self._stamp):
            return False
        if not self._load_cache():
            return False
        log.info(
            "took up the index another process saved: %d passages in %d segments, none segmented here",
            self.passage_count,
            len(self._segment_names),
        )
        return True

    def _update(self, progress: Progress | None, *, take_up: bool) -> Refresh:
        with self._lock, self._cache_lock():
            started = time.perf_counter()
            if _analyzer_for(self.root, self.settings, load=False) != self.analyzer.userdict_digest:
                self.analyzer = _analyzer_for(self.root, self.settings)
                log.info("user dictionary changed: %d words", len(self.analyzer.user_words))
            reloaded = self._reload_synonyms()
            if reloaded:
                self._publish(self._index, self._tables)
            taken_up = take_up and self._take_up()
            result = self._refresh(progress)
            result = dataclasses.replace(
                result, seconds=time.perf_counter() - started, synonyms=reloaded, taken_up=taken_up
            )
            self.last_refresh = result
            if result.touched:
                log.info(
                    "index updated: %d added, %d changed, %d removed files, %d passages segmented, in %.2fs; "
                    "%d passages",
                    len(result.added),
                    len(result.changed),
                    len(result.removed),
                    result.segmented,
                    result.seconds,
                    self.passage_count,
                )
            return result

    def follow(self) -> bool:
        """Load the index cache as another process last saved it, without looking at the folder.

        For a process that serves what another keeps in step with the folder (the bot's answer
        workers, answer_pool.py): reading the files is that process's work, and doing it twice
        would race it. Segments this library already holds are kept (a segment's name is never
        written twice), so a follow after a small refresh reads the manifest, the deletion masks
        and the new segments only; the cache's lock is held for that reading alone, not while the
        new snapshot's statistics are computed. The user dictionary and synonyms.txt are read again
        if they changed, as refresh() does. Returns whether a new snapshot was published.
        """
        if not self.settings.cache:
            return False
        with self._lock:
            if _analyzer_for(self.root, self.settings, load=False) != self.analyzer.userdict_digest:
                self.analyzer = _analyzer_for(self.root, self.settings)
            reloaded = self._reload_synonyms()
            with self._cache_lock():
                saved = self._read_saved()
            if saved is None:
                if reloaded:
                    self._publish(self._index, self._tables)
                return reloaded
            manifest, stamp, index, tables = saved
            self.files = dict(manifest.files)
            self._user_words = dict(manifest.user_words)
            self._segment_names = [entry.name for entry in manifest.segments]
            self._stamp = stamp
            self._publish(index, tables)
            return True

    def _read_saved(self) -> tuple[Manifest, tuple[int, int, int], BM25Index, list[PassageTable]] | None:
        """The manifest saved since this library last read or wrote one, with its index; None if there
        is none newer, or it is for other settings or damaged (logged): serving goes on as it is.
        Call with the cache lock held."""
        stamp = cache.manifest_stamp(self.cache_dir)
        if stamp is None or stamp == self._stamp:
            return None
        held = dict(zip(self._segment_names, zip(self._index.segments, self._tables, strict=True), strict=True))
        try:
            manifest = cache.read_manifest(self.cache_dir, self._cache_key)
            if manifest is None:
                return None
            segments, tables, masks = [], [], []
            for entry in manifest.segments:
                if entry.name in held:
                    segment, table = held[entry.name]
                    mask = cache.load_mask(self.cache_dir, entry)
                else:
                    loaded = cache.load_segment(self.cache_dir, entry)
                    segment, table, mask = loaded.segment, loaded.table, loaded.deleted
                segments.append(segment)
                tables.append(table)
                masks.append(mask)
            _check_ranges(manifest, [s.n_docs for s in segments])
        except Exception as exc:  # the keeper rewrites a damaged cache; until then the old snapshot serves
            reason = (str(exc).strip().splitlines() or [""])[0]
            log.warning("cannot follow the index cache (%s: %s); the previous index serves", type(exc).__name__, reason)
            return None
        return manifest, stamp, BM25Index(segments, self.settings.params, masks), tables

    def _reload_synonyms(self) -> bool:
        """Read synonyms.txt again if its size or mtime moved (a stat per refresh); whether its rules changed."""
        path = self.root / SYNONYMS_NAME
        try:
            st = path.stat()
            stamp: tuple[int, int] | None = (st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            stamp = None
        except OSError as exc:
            log.warning("cannot read %s: %s", SYNONYMS_NAME, exc.strerror or exc)
            return False
        if stamp == self._synonyms_stamp:
            return False
        try:
            synonyms = Synonyms.read(path.read_bytes()) if stamp is not None else Synonyms()
        except FileNotFoundError:
            synonyms, stamp = Synonyms(), None
        except OSError as exc:
            log.warning("cannot read %s: %s", SYNONYMS_NAME, exc.strerror or exc)
            return False  # the stamp stays old, so the next refresh tries again
        self._synonyms_stamp = stamp
        if synonyms.digest == self.synonyms.digest:
            return False
        self.synonyms = synonyms
        log.info("%d synonym rules loaded from %s", synonyms.count, SYNONYMS_NAME)
        for problem in synonyms.problems:
            log.warning("skipped %s", problem)
        return True

    def _refresh(self, progress: Progress | None) -> Refresh:
        """One look at the folder: what changed is read into a draft of the next snapshot, then published.

        Call with both locks held, after taking up what another process saved (or our save would
        name segments its clean-up removed).
        """
        present = self._scan()
        changes = self._changes(present)
        words = tuple(sorted(changed_words(self._user_words, self.analyzer.user_words)))
        if words:
            changes = self._with_user_words(changes, words, present)
        self._remember_touched(changes.touched)
        if not changes.to_read and not changes.removed and not changes.recut:
            if words:
                # No passage holds a changed word: only questions are cut with the new dictionary.
                self._user_words = self.analyzer.user_words
                self._publish(self._index, self._tables)
            if (changes.touched or words) and self.settings.cache:
                # Through _save: a full disk must not stop serving, and the masks the manifest
                # rewrites under new names leave their old copies to be collected.
                self._save({})
            return Refresh(user_words=words)
        draft = self._without((*changes.changed, *changes.removed))
        # Each batch of files becomes a segment of its own, written out and memory-mapped at once,
        # so a first build of a huge corpus holds one batch in memory, never the whole corpus.
        for batch in _batches(list(changes.to_read), self.root, len(draft.index.segments)):
            draft = self._add_batch(draft, batch, present, progress)
            release_freed_memory()
        if changes.recut:
            draft = self._recut(draft, changes)
        draft = self._without_empty_segments(draft)
        if self._index.n_docs and self._next_merge(draft.index) is not None:
            # A merge rewrites whole segments (seconds at 100k passages): what changed is served
            # first, and the merged snapshot, which scores alike, replaces it after. Should the merge
            # fail, the library holds this whole snapshot, and the next save writes what it lacks.
            self._adopt(draft)
        draft = self._compact(draft)
        self._adopt(draft)
        if draft.saving:
            self._save(draft.unsaved)
        else:
            self._discard_written()
        changed = {*changes.recut, *changes.changed}
        return Refresh(
            changes.added,
            tuple(rel for rel in present if rel in changed),
            changes.removed,
            draft.problems,
            user_words=words,
            segmented=draft.segmented,
        )

    def _adopt(self, draft: _Draft) -> None:
        """Make the draft the library's snapshot: its files, segments and index, published."""
        self.files = dict(draft.files)
        self._user_words = self.analyzer.user_words
        self._segment_names = list(draft.names)
        self._publish(draft.index, list(draft.tables))

    def _with_user_words(
        self, changes: _Changes, words: tuple[str, ...], present: dict[str, os.stat_result]
    ) -> _Changes:
        """changes with the passages that hold a changed user word, to be cut again (_recut).

        The other passages hold none of the words, and jieba cuts them alike with either dictionary
        (text.Analyzer keeps its frequency total): they stay where they are. A file read again
        anyway, or removed, is not recut: its passages all go.
        """
        started = time.perf_counter()
        stored = SlotPassages(self._tables)
        slots = slots_holding(words, self._index, stored, self.analyzer)
        holding = {stored[slot].file for slot in slots}
        reading = {rel for rel, _ in changes.to_read}
        recut = {rel for rel in holding if rel in present and rel not in reading and rel not in changes.removed}
        log.info(
            "user words changed (%s): %d passages in %d files hold them, found in %.2fs",
            ", ".join(words[:5]) + (" ..." if len(words) > 5 else ""),
            len(slots),
            len(holding),
            time.perf_counter() - started,
        )
        if not recut:
            return changes
        return dataclasses.replace(
            changes,
            recut=tuple(rel for rel in present if rel in recut),  # folder order
            holding=frozenset(slot for slot in slots if stored[slot].file in recut),
        )

    def _scan(self) -> dict[str, os.stat_result]:
        """Every article file in the folder now, by relative path, with its stat."""
        if not self.root.is_dir():
            raise CorpusNotFound(f"corpus folder {self.root} does not exist any more")
        present: dict[str, os.stat_result] = {}
        skipped: list[Problem] = []
        files = corpus_files(self.root, follow_external_links=self.settings.follow_external_links, problems=skipped)
        for problem in skipped:
            if problem not in self._scan_problems:
                log.warning("skipped %s", problem)
        self._scan_problems = tuple(skipped)
        for path in files:
            try:
                present[path.relative_to(self.root).as_posix()] = path.stat()
            except OSError:
                continue  # removed between listing and stat: it is simply not there
        return present

    def _changes(self, present: dict[str, os.stat_result]) -> _Changes:
        """Compare the folder with the files as last read: a file whose size and mtime are unchanged is
        taken as it was; any other is hashed, and read again only if its content changed."""
        to_read: list[tuple[str, str]] = []  # (relative path, sha256)
        touched: dict[str, os.stat_result] = {}
        for rel, st in present.items():
            entry = self.files.get(rel)
            if entry and entry.size == st.st_size and entry.mtime_ns == st.st_mtime_ns:
                continue
            try:
                digest = _sha256(self.root / rel)
            except OSError as exc:
                log.warning("cannot read %s: %s", rel, exc.strerror or exc)
                continue
            if entry and entry.sha256 == digest:
                touched[rel] = st
            else:
                to_read.append((rel, digest))
        return _Changes(
            to_read=tuple(to_read),
            added=tuple(rel for rel, _ in to_read if rel not in self.files),
            changed=tuple(rel for rel, _ in to_read if rel in self.files),
            removed=tuple(rel for rel in self.files if rel not in present),
            touched=touched,
        )

    def _remember_touched(self, touched: Mapping[str, os.stat_result]) -> None:
        """Record the new size and mtime of files touched but not changed, so the next look need not hash them."""
        for rel, st in touched.items():
            self.files[rel] = dataclasses.replace(self.files[rel], size=st.st_size, mtime_ns=st.st_mtime_ns)

    def _without(self, dead: tuple[str, ...]) -> _Draft:
        """A draft of the current snapshot with the given files' passages deleted and their entries gone."""
        index = self._index.with_deleted(self._slots_of(dead)) if dead else self._index
        return _Draft(
            index=index,
            tables=tuple(self._tables),
            names=tuple(self._segment_names),
            files={rel: e for rel, e in self.files.items() if rel not in dead},
            unsaved={},
            saving=self.settings.cache,
        )

    def _add_batch(
        self,
        draft: _Draft,
        batch: list[tuple[str, str]],
        present: dict[str, os.stat_result],
        progress: Progress | None,
    ) -> _Draft:
        """Read a batch of files into one new segment at the end of the draft, in batch order."""
        passages = []
        entries: dict[str, FileEntry] = {}
        problems: list[Problem] = []
        for rel, digest in batch:
            report = read_file(self.root / rel, self.root)
            for problem in report.problems:
                log.warning("skipped %s", problem)
            problems.extend(report.problems)
            entries[rel] = _file_entry(report, digest, present[rel], first=len(passages))
            passages.extend(report.passages)
        if passages:
            if progress:
                progress("segmenting", 0, len(passages))
            segment, (cuts, title_cuts, bags) = build_segment(
                [(p.title[:INDEXED_TITLE_CHARS], p.text) for p in passages],
                self.analyzer,
                workers=self.settings.workers,
                progress=(lambda n: progress("segmenting", n, 0)) if progress else None,
            )
            titles = {p.title: title_cuts.get(p.title[:INDEXED_TITLE_CHARS]) for p in passages}
            name = cache.segment_name()
            table = PassageTable.from_passages(passages, cuts, titles, bags)
            draft = self._with_segment(draft, name, segment, table)
            draft = dataclasses.replace(draft, segmented=draft.segmented + len(passages))
            entries = {rel: _named(e, name) for rel, e in entries.items()}
        return dataclasses.replace(draft, files={**draft.files, **entries}, problems=(*draft.problems, *problems))

    def _recut(self, draft: _Draft, changes: _Changes) -> _Draft:
        """The draft with the passages holding a changed user word cut again, into a segment of their
        own at its end; the rest of their files stays where it is, so their entries' runs split.

        The passages are taken from the index as stored (text, citation, cut): their files are not
        read. Call before anything renumbers the current snapshot's slots (a merge).
        """
        bases = dict(zip(self._segment_names, self._index.bases[:-1].tolist(), strict=True))
        tables = dict(zip(self._segment_names, self._tables, strict=True))
        moved: list[tuple[str, int]] = []  # (segment, doc) of each moved passage, in its new order
        split: dict[str, list[Run]] = {}  # per file, its runs after, None standing for the new segment
        for rel in changes.recut:
            runs: list[Run] = []
            for run in self.files[rel].runs:
                assert run.segment is not None
                base, start = bases[run.segment], run.first
                for doc in range(run.first, run.first + run.count):
                    if base + doc in changes.holding:
                        runs += [Run(run.segment, start, doc - start), Run(None, len(moved), 1)]
                        moved.append((run.segment, doc))
                        start = doc + 1
                runs.append(Run(run.segment, start, run.first + run.count - start))
            split[rel] = [run for run in runs if run.count]
        # The moved rows as stored, one slice per run of them in one segment.
        parts = [
            tables[name].select(np.array([doc for _, doc in group], dtype=np.int64))
            for name, group in itertools.groupby(moved, key=lambda place: place[0])
        ]
        stored = PassageTable.concat(parts)
        passages = list(stored)
        segment, (cuts, title_cuts, bags) = build_segment(
            [(p.title[:INDEXED_TITLE_CHARS], p.text) for p in passages], self.analyzer, workers=self.settings.workers
        )
        titles = {p.title: title_cuts.get(p.title[:INDEXED_TITLE_CHARS]) for p in passages}
        table = stored.with_cuts(dict(enumerate(cuts)), titles, dict(enumerate(bags)))
        dead = np.array([bases[name] + doc for name, doc in moved], dtype=np.int64)
        draft = dataclasses.replace(draft, index=draft.index.with_deleted(dead))
        name = cache.segment_name()
        draft = self._with_segment(draft, name, segment, table)
        files = dict(draft.files)
        for rel, runs in split.items():
            named = (run if run.segment else dataclasses.replace(run, segment=name) for run in runs)
            files[rel] = dataclasses.replace(files[rel], runs=_joined(named))
        return dataclasses.replace(draft, files=files, segmented=draft.segmented + len(passages))

    def _with_segment(self, draft: _Draft, name: str, segment: Segment, table: PassageTable) -> _Draft:
        """The draft with a new segment at the end: written to the cache at once if it is being saved,
        and used memory-mapped from there; otherwise held in memory."""
        unsaved, saving = draft.unsaved, draft.saving
        if not saving:
            unsaved = {**unsaved, name: (segment, table)}
        elif (written := self._write_segment(name, segment, table)) is None:
            saving = False  # logged once; the manifest must not name a segment not on disk
        else:
            segment, table = written
            self._written.add(name)
        return dataclasses.replace(
            draft,
            index=draft.index.with_segment(segment),
            tables=(*draft.tables, table),
            names=(*draft.names, name),
            unsaved=unsaved,
            saving=saving,
        )

    def _without_empty_segments(self, draft: _Draft) -> _Draft:
        """The draft without the segments whose passages are all deleted.

        A file's runs name their segment and count within it, so dropping one renumbers nothing (and
        no run names a segment whose passages are all deleted: every passage a run covers is live).
        """
        keep = [i for i, (_, dead) in enumerate(draft.index.pairs) if dead is None or not dead.all()]
        if len(keep) == len(draft.index.segments):
            return draft
        index = draft.index
        return dataclasses.replace(
            draft,
            index=BM25Index([index.segments[i] for i in keep], index.params, [index.deleted[i] for i in keep]),
            tables=tuple(draft.tables[i] for i in keep),
            names=tuple(draft.names[i] for i in keep),
        )

    def _compact(self, draft: _Draft) -> _Draft:
        """The draft with segments merged by _next_merge's policy."""
        while (run := self._next_merge(draft.index)) is not None:
            draft = self._merge(draft, *run)
        return draft

    def _slots_of(self, rels: tuple[str, ...]) -> np.ndarray:
        """Index slots of the given files' passages (their segment's base plus their range)."""
        bases = {name: int(b) for name, b in zip(self._segment_names, self._index.bases[:-1], strict=True)}
        runs = [run for rel in rels if (entry := self.files.get(rel)) for run in entry.runs]
        starts = np.array([bases[run.segment] + run.first for run in runs], dtype=np.int64)
        return spans(starts, np.array([run.count for run in runs], dtype=np.int64))

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

    def _merge(self, draft: _Draft, start: int, stop: int) -> _Draft:
        """The draft with segments [start, stop) folded into one of their live passages, held in memory
        until _save; file ranges follow the renumbering."""
        index = draft.index
        sub = BM25Index(index.segments[start:stop], index.params, index.deleted[start:stop])
        merged, mapping = sub.merged()
        bases = sub.bases
        parts = [
            draft.tables[start + k].select(np.flatnonzero(sub.live[bases[k] : bases[k + 1]]))
            for k in range(stop - start)
        ]
        table = PassageTable.concat(parts)
        name = cache.segment_name()
        sub_bases = {draft.names[start + k]: int(bases[k]) for k in range(stop - start)}
        files = {
            rel: dataclasses.replace(
                e,
                runs=_joined(
                    Run(name, int(mapping[sub_bases[r.segment] + r.first]), r.count) if r.segment in sub_bases else r
                    for r in e.runs
                ),
            )
            if any(r.segment in sub_bases for r in e.runs)
            else e
            for rel, e in draft.files.items()
        }
        unsaved = {old: pair for old, pair in draft.unsaved.items() if old not in sub_bases}
        unsaved[name] = (merged.segments[0], table)
        log.info("merged %d segments into one of %d passages", stop - start, merged.n_docs)
        return dataclasses.replace(
            draft,
            index=BM25Index(
                [*index.segments[:start], merged.segments[0], *index.segments[stop:]],
                index.params,
                [*index.deleted[:start], None, *index.deleted[stop:]],
            ),
            tables=(*draft.tables[:start], table, *draft.tables[stop:]),
            names=(*draft.names[:start], name, *draft.names[stop:]),
            files=files,
            unsaved=unsaved,
        )

    # -- saving -------------------------------------------------------------------------------

    def _write_segment(self, name: str, segment: Segment, table: PassageTable) -> tuple[Segment, PassageTable] | None:
        """Write a segment to the cache and return it memory-mapped; None (logged) if it cannot be written."""
        try:
            return cache.write_segment(self.cache_dir, name, segment, table)
        except OSError as exc:
            # Serving goes on from memory; the next start rebuilds what could not be saved.
            log.warning("could not save the index cache: %s", cache.describe_os_error(exc, self.cache_dir))
            return None

    def _save(self, unsaved: Mapping[str, tuple[Segment, PassageTable]]) -> None:
        """Write the segments not on disk yet, then the manifest, then remove what it no longer names.

        A segment the manifest names but the folder lacks (removed by another process's clean-up
        while this one served it, memory-mapped) is written again from memory.
        """
        pending = dict(unsaved)
        for name, segment, table in zip(self._segment_names, self._index.segments, self._tables, strict=True):
            if name not in pending and not (self.cache_dir / name).is_dir():
                pending[name] = (segment, table)
        try:
            for name, (segment, table) in pending.items():
                if not (self.cache_dir / name).exists():
                    if self._write_segment(name, segment, table) is None:
                        self._discard_written()
                        return
                    self._written.add(name)
            manifest = self._save_manifest()
        except OSError as exc:
            # Serving goes on from memory; the next start rebuilds what could not be saved.
            log.warning("could not save the index cache: %s", cache.describe_os_error(exc, self.cache_dir))
            self._discard_written()
            return
        self._written.clear()
        self._remove_leftovers(manifest)

    def _discard_written(self) -> None:
        """Remove the segments written for a manifest that was never saved: no manifest names them."""
        for name in self._written:
            cache.remove_segment(self.cache_dir, name)
        self._written.clear()

    def _save_manifest(self) -> Manifest:
        segments = [
            cache.segment_entry(self.cache_dir, name, dead)
            for name, dead in zip(self._segment_names, self._index.deleted, strict=True)
        ]
        manifest = Manifest(self._cache_key, tuple(segments), self.files, self._user_words)
        cache.write_manifest(self.cache_dir, manifest)
        self._stamp = cache.manifest_stamp(self.cache_dir)
        return manifest

    # -- what is in it ------------------------------------------------------------------------

    @property
    def passage_count(self) -> int:
        return self._index.n_docs

    @property
    def articles(self) -> list[ArticleSummary]:
        return [
            ArticleSummary(a.title, rel, a.source, a.passages, a.url, a.date)
            for rel in sorted(self.files)
            for a in self.files[rel].articles
        ]

    @property
    def problems(self) -> list[Problem]:
        found = [Problem(rel, p.reason, p.line) for rel in sorted(self.files) for p in self.files[rel].problems]
        return sorted([*found, *self._scan_problems], key=lambda p: p.file)

    def slots_of(self, rel: str) -> list[int]:
        """The slots of a file's passages in the current snapshot, in file order (not slot order: a
        user word moves some). Waits for a refresh in progress, whose entries and snapshot change together."""
        with self._lock:
            return self._slots_of((rel,)).tolist()

    @property
    def file_count(self) -> int:
        return sum(1 for e in self.files.values() if e.count)


def _check_ranges(manifest: Manifest, sizes: list[int]) -> None:
    """Raise ValueError unless every run of every file lies within the segment it names."""
    by_name = {entry.name: n for entry, n in zip(manifest.segments, sizes, strict=True)}
    for rel, e in manifest.files.items():
        for run in e.runs:
            if run.segment not in by_name or run.first < 0 or run.first + run.count > by_name[run.segment]:
                raise ValueError(f"the manifest's entry of {rel} does not fit its segment")


def _file_entry(report: FileReport, digest: str, st: os.stat_result, first: int) -> FileEntry:
    """The entry of a file just read, whose passages start at `first` in its batch's segment (named later)."""
    count = len(report.passages)
    return FileEntry(
        sha256=digest,
        size=st.st_size,
        mtime_ns=st.st_mtime_ns,
        runs=(Run(None, first, count),) if count else (),
        articles=tuple(ArticleEntry(a.title, a.source, len(a.passages), a.url, a.date) for a in report.articles),
        problems=tuple(ProblemEntry(p.reason, p.line) for p in report.problems),
    )


def _analyzer_for(root: Path, settings: StoreSettings, load: bool = True):
    """The analyzer for a corpus folder (with its user dictionary), or with load=False just that dictionary's digest."""
    userdict = root / USERDICT_NAME
    present = userdict.is_file()
    if not load:
        try:
            return hashlib.sha256(userdict.read_bytes()).hexdigest() if present else ""
        except OSError:
            return ""
    text = TextSettings(stopwords=settings.stopwords, userdict=userdict if present else None)
    return Analyzer(text, dictionary_cache=root / cache.CACHE_DIR if settings.cache else None)


def _named(entry: FileEntry, segment: str) -> FileEntry:
    """A file entry built before its segment had a name, with that name."""
    return dataclasses.replace(entry, runs=tuple(dataclasses.replace(run, segment=segment) for run in entry.runs))


def _joined(runs: Iterable[Run]) -> tuple[Run, ...]:
    """The runs with each one that continues the one before it (same segment, next doc) joined to it."""
    out: list[Run] = []
    for run in runs:
        if out and out[-1].segment == run.segment and out[-1].first + out[-1].count == run.first:
            out[-1] = Run(run.segment, out[-1].first, out[-1].count + run.count)
        else:
            out.append(run)
    return tuple(out)


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
