"""Answers in worker processes, so that a busy server scores questions on every core, not under one GIL.

Segmenting and scoring are mostly Python: in threads of the bot's process they take turns on one
interpreter lock with each other and with the event loop, so at a sustained load answers queue
behind one core (docs/benchmarks.md, "A busy server"). Each worker here opens the same corpus
folder, whose index cache it loads memory-mapped (the pages are shared with the bot's process),
and answers over its own Library.

A worker follows the bot's index: each question carries the generation of the snapshot the bot's
process serves (counted from its Library's `searcher`, which every refresh, /add and /reindex
replace), and a worker that is behind first loads the index cache as the bot's process last saved
it (Library.follow), so a question asked after /add is answered from the added article, as it
would be in the bot's process. Only the bot's process reads the folder; a worker never indexes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import multiprocessing
import os
import signal
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from wenda.retrieval.search import Searcher
from wenda.retrieval.store import Library, StoreSettings

from .answer import Answer, answer

log = logging.getLogger("wenda.answers")

# Asked once by every process that answers, before its first user: the first question loads jieba's
# dictionary, its part-of-speech tags and the Traditional→Simplified tables (1–3 s on a busy machine),
# and every question that arrives meanwhile would wait behind it.
WARM_UP_QUESTION = "北京市政府副市长是谁？"

# The most workers a machine-sized pool starts: each holds its own jieba dictionary and passage
# tables (a few hundred MB at a million passages), and the event loop's process needs a core too.
MAX_AUTO_WORKERS = 4


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every system
        return os.cpu_count() or 1


def answer_threads() -> int:
    """How many threads of the bot's process score answers when no worker processes do.

    As many as the cores, and at least two so one slow answer never holds up the next. More would
    not score faster, as scoring is mostly Python under one GIL, and each would take turns on it
    with the event loop, which then waits longer to acknowledge an interaction or send an answer.
    """
    return max(2, usable_cores())


def pool_size(requested: int | None, library: Library) -> int:
    """How many answer workers to start: 0 means answer in threads of the bot's process.

    requested: WENDA_ANSWER_WORKERS (None, "auto": one per usable core, when there are two or more).
    A library without an index cache gets none: a worker would have to index the corpus itself.
    """
    if not library.settings.cache:
        return 0
    if requested is None:
        cores = usable_cores()
        return min(cores, MAX_AUTO_WORKERS) if cores > 1 else 0
    return requested


def warm_up(searcher: Searcher) -> None:
    """Answer WARM_UP_QUESTION and forget it (blocking: run it off the event loop)."""
    answer(searcher, WARM_UP_QUESTION)


# -- in a worker ------------------------------------------------------------------------------------

_library: Library | None = None
_generation = 0


def _start_worker(root: Path, settings: StoreSettings, generation: int, log_level: int) -> None:
    global _library, _generation
    # Ctrl-C and a service manager's SIGTERM reach the whole process group; the bot decides when its
    # workers stop (after the answers in flight), and stops them itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s (answer worker): %(message)s")
    _library = Library.open(root, settings)
    _generation = generation
    warm_up(_library.searcher)


def _answer_in_worker(generation: int, question: str, k: int, options: dict[str, Any]) -> Answer:
    global _generation
    assert _library is not None, "the worker's initializer did not run"
    if generation > _generation:
        _library.follow()  # what the bot's process saved since; reading the folder is its work
        _generation = generation
    return answer(_library.searcher, question, k, **options)


def _ready() -> int:
    return os.getpid()


# -- in the bot's process ---------------------------------------------------------------------------


class AnswerPool:
    """A pool of answer workers over one corpus folder, used from the event loop."""

    def __init__(self, library: Library, workers: int) -> None:
        if workers < 1:
            raise ValueError("an answer pool needs at least one worker")
        self.library = library
        self.workers = workers
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None
        self._generation = 0
        self._searcher: Searcher | None = None  # held, so that its id cannot be reused by a later one

    def _generation_of(self, searcher: Searcher) -> int:
        if searcher is not self._searcher:
            self._searcher = searcher
            self._generation += 1
        return self._generation

    def _new_executor(self) -> concurrent.futures.ProcessPoolExecutor:
        # spawn, not fork: the bot's process runs threads (the watcher's, the executor's), and a
        # forked child could inherit a lock one of them held.
        return concurrent.futures.ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(
                self.library.root,
                self.library.settings,
                self._generation_of(self.library.searcher),
                logging.getLogger().getEffectiveLevel(),
            ),
        )

    async def start(self) -> None:
        """Start the workers and wait until they have opened the index (a second or two each)."""
        self._executor = self._new_executor()
        loop = asyncio.get_running_loop()
        # One task per worker makes the executor start them all; each runs its initializer first.
        await asyncio.gather(*(loop.run_in_executor(self._executor, _ready) for _ in range(self.workers)))
        log.info("%d answer workers started", self.workers)

    async def answer(self, searcher: Searcher, question: str, k: int, options: dict[str, Any]) -> Answer:
        """answer() in a worker, over a snapshot at least as new as `searcher` (the bot's current one)."""
        generation = self._generation_of(searcher)
        call = functools.partial(_answer_in_worker, generation, question, k, options)
        loop = asyncio.get_running_loop()
        if self._executor is None:
            self._executor = self._new_executor()
        executor = self._executor
        try:
            return await loop.run_in_executor(executor, call)
        except BrokenProcessPool:
            # A worker died (killed, out of memory): the executor is unusable. Start a new one, once
            # for all the questions that were waiting on the old one, and ask again there.
            if self._executor is executor:
                log.error("an answer worker died; starting new workers")
                self._executor = self._new_executor()
                executor.shutdown(wait=False, cancel_futures=True)
            return await loop.run_in_executor(self._executor, call)

    def close(self) -> None:
        """Stop the workers once their questions are answered (blocking: call it off the event loop)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
