"""Watch a corpus folder and refresh its Library when article files appear, change or go away.

Several processes may share one corpus (bots running different shards): each watches the folder,
the first to take the cache's lock segments what changed, and the others take up the manifest it
saves (the watch sees that too) instead of segmenting the same files again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import watchfiles

from .cache import CACHE_DIR, MANIFEST_NAME
from .corpus import is_article_file
from .store import USERDICT_NAME, Library, Refresh
from .synonyms import SYNONYMS_NAME

log = logging.getLogger(__name__)

# watchfiles yields once no new event came for STEP ms (or after DEBOUNCE ms of continuous events),
# so a burst of files copied at once arrives as one set and becomes one refresh.
DEBOUNCE_MS = 400
STEP_MS = 150
# A file whose size or mtime still moves over this interval is being written; wait for its next event.
SETTLE_SECONDS = 0.2
# How long the watch must run without an event before the watcher calls itself ready.
READY_MS = 300


def _is_manifest(path: Path) -> bool:
    return CACHE_DIR in path.parts and path.name == MANIFEST_NAME


def _relevant(change: watchfiles.Change, path: str) -> bool:
    p = Path(path)
    if CACHE_DIR in p.parts:
        return _is_manifest(p)  # another process saved the index: see CorpusWatcher._take_up
    return p.name in (USERDICT_NAME, SYNONYMS_NAME) or is_article_file(p) or change == watchfiles.Change.deleted


class CorpusWatcher:
    """A background thread that keeps a Library in step with its folder until stopped."""

    def __init__(
        self,
        library: Library,
        on_refresh: Callable[[Refresh], None] | None = None,
        *,
        force_polling: bool | None = None,
    ) -> None:
        self.library = library
        self.on_refresh = on_refresh
        self.force_polling = force_polling
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ready = threading.Event()  # set once the watch is in place and caught up (tests wait on it)

    def start(self) -> CorpusWatcher:
        self._thread = threading.Thread(target=self._run, name="wenda-corpus-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> CorpusWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        root = self.library.root
        try:
            # A first refresh catches what changed between opening the library and watching.
            self._refresh()
            # The watch is only in place once watchfiles yields for the first time (an empty set
            # after rust_timeout, or changes); a file written before that raises no event, so one
            # more refresh then catches it, and only then is the watcher ready.
            for changes in watchfiles.watch(
                root,
                watch_filter=_relevant,
                debounce=DEBOUNCE_MS,
                step=STEP_MS,
                stop_event=self._stop,
                yield_on_timeout=True,
                raise_interrupt=False,
                force_polling=self.force_polling,
                rust_timeout=READY_MS,
            ):
                if self._stop.is_set():
                    break
                files = {path for _, p in changes if not _is_manifest(path := Path(p))}
                if files:
                    self._wait_until_settled(files)
                if files or not self.ready.is_set():
                    self._refresh()  # takes up another process's manifest on the way
                    self.ready.set()
                elif changes:
                    self._take_up()
        except Exception:  # the watcher must never take the bot down; serving goes on without it
            log.exception("corpus watcher stopped; restart wenda to pick up new files")
        finally:
            self.ready.set()

    def _wait_until_settled(self, paths: set[Path]) -> None:
        """Wait (briefly) until none of the changed files is still growing: no half-copied file is read."""
        deadline = time.monotonic() + 5.0
        before = _stats(paths)
        while time.monotonic() < deadline and not self._stop.is_set():
            self._stop.wait(SETTLE_SECONDS)
            after = _stats(paths)
            if after == before:
                return
            before = after

    def _refresh(self) -> None:
        try:
            result = self.library.refresh()
        except Exception:
            log.exception("refreshing the index failed; the previous index stays in service")
            return
        self._report(result)

    def _take_up(self) -> None:
        """Only the manifest changed: another process (or this one) saved the index. Load it if it is
        another's, without looking at the files: whoever saved it has read them."""
        try:
            result = self.library.take_up()
        except Exception:
            log.exception("taking up the index another process saved failed; the previous index stays in service")
            return
        self._report(result)

    def _report(self, result: Refresh) -> None:
        if (result.touched or result.synonyms or result.user_words or result.taken_up) and self.on_refresh is not None:
            self.on_refresh(result)


def _stats(paths: set[Path]) -> dict[Path, tuple[int, int] | None]:
    out: dict[Path, tuple[int, int] | None] = {}
    for path in paths:
        try:
            st = path.stat()
            out[path] = (st.st_size, st.st_mtime_ns)
        except OSError:
            out[path] = None
    return out
