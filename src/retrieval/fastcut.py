"""jieba's cut (HMM on), word for word, with its word graph and best route found in C++.

Four fifths of a build's time is jieba's cut, and most of that is the Python loops that build the
graph of a block's dictionary words (get_DAG) and find its most probable route through them (calc).
jieba-fast-dat does both in C++ over a double-array trie. Its own cut is not jieba's (its HMM step
differs in one text in seven), so only its route is taken: the trie is built from the tokenizer's
own FREQ (user words included) and the route is found with the tokenizer's own total, and the rest
of jieba's cut (the blocks, the runs of single characters, the HMM over them) follows
Tokenizer.cut's steps, restated here, with jieba's own finalseg for the HMM. tests/test_fastcut.py
holds the two to the same words.

Where jieba-fast-dat is not installed, its trie does not give back every frequency as FREQ holds it
(it keeps 21 bits: a user word above 2,097,151), or its route of a probe text is not jieba's,
`fast_cut` says so in one log line and returns None: the caller cuts with jieba itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import jieba
from jieba import finalseg

from .memo import room

log = logging.getLogger(__name__)

# jieba's own patterns of Tokenizer.cut (HMM on, not cut_all): what a block is, and what splits the rest.
_HAN = jieba.re_han_default
_SKIP = jieba.re_skip_default
# Runs of single characters the HMM has cut, kept: names and rare words recur (finalseg.cut is a
# Viterbi in Python, the dearest part of the cut left).
_HMM_KEPT = 1 << 16

# A text whose cut uses every step: dictionary words, the HMM, Latin and digits, spaces and punctuation.
_PROBE = "韩遂与马超联兵反曹，屯兵潼关。自然语言处理（NLP）在2019年增长6.1%\r\n c++ 与 x-ray"

_warned = False


class FastCut:
    """jieba.Tokenizer.tokenize(text) (default mode, HMM on) of one tokenizer as it is now: a user
    word added to the tokenizer later is not seen (make a new FastCut)."""

    def __init__(self, tokenizer: jieba.Tokenizer, trie: object, route: Callable[..., object]) -> None:
        self._freq = tokenizer.FREQ
        self._total = float(tokenizer.total)
        self._trie = trie
        self._route = route
        self._hmm: dict[str, list[str]] = {}
        self._force_split = _force_split()

    def cut(self, sentence: str) -> list[str]:
        """list(tokenizer.cut(sentence)): Tokenizer.cut's control flow, block by block."""
        out: list[str] = []
        for block in _HAN.split(sentence):
            if not block:
                continue
            if _HAN.match(block):
                self._cut_block(block, out)
            else:
                for x in _SKIP.split(block):
                    if _SKIP.match(x):
                        out.append(x)
                    else:
                        out.extend(x)
        return out

    def tokenize(self, sentence: str) -> list[tuple[str, int, int]]:
        """list(tokenizer.tokenize(sentence)): each word with its start and end."""
        out = []
        start = 0
        for word in self.cut(sentence):
            end = start + len(word)
            out.append((word, start, end))
            start = end
        return out

    def _cut_block(self, block: str, out: list[str]) -> None:
        """Tokenizer.__cut_DAG: the route's words, with each run of single characters as one buffer
        that the HMM cuts unless the run is a dictionary word itself."""
        route: list[int] = []
        self._route(self._trie, block, route, self._total)
        n = len(block)
        x = 0
        run = -1  # where the current run of single characters started, if one has
        while x < n:
            y = route[x] + 1
            if y - x == 1:
                if run < 0:
                    run = x
            else:
                if run >= 0:
                    self._cut_run(block[run:x], out)
                    run = -1
                out.append(block[x:y])
            x = y
        if run >= 0:
            self._cut_run(block[run:], out)

    def _cut_run(self, buf: str, out: list[str]) -> None:
        if len(buf) == 1:
            out.append(buf)
        elif self._freq.get(buf):
            out.extend(buf)
        else:
            out.extend(self._hmm_cut(buf))

    def _hmm_cut(self, buf: str) -> list[str]:
        if _force_split() != self._force_split:
            # A word added with frequency 0 (by any tokenizer: the set is jieba's global) changes the cut.
            self._hmm.clear()
            self._force_split = _force_split()
        words = self._hmm.get(buf)  # no call on a hit: the build asks for every run jieba's HMM cuts
        if words is None:
            words = room(self._hmm, _HMM_KEPT)[buf] = list(finalseg.cut(buf))
        return words


def _force_split() -> tuple[int, int]:
    """Which words finalseg splits whatever its HMM says, as far as a change to them shows: the set
    only grows (jieba's add_word of frequency 0), unless someone puts another in its place."""
    words = finalseg.Force_Split_Words
    return id(words), len(words)


def fast_cut(tokenizer: jieba.Tokenizer) -> FastCut | None:
    """A FastCut of tokenizer's dictionary as it is now (user words included), or None (logged once
    per process) if jieba-fast-dat is missing or cannot hold that dictionary exactly."""
    tokenizer.check_initialized()
    try:
        from jieba_fast_dat._jieba_fast_dat_functions_py3 import DatTrie, _get_DAG_and_calc
    except ImportError as exc:
        _fall_back(f"jieba-fast-dat is not installed ({exc})")
        return None
    # Words of frequency 0 are prefixes of others (or user words added so): jieba's graph leaves them
    # out, and a trie finds prefixes without them.
    words = [(w, f) for w, f in tokenizer.FREQ.items() if f]
    trie = DatTrie()
    try:
        trie.build(words)
        search = trie.search
        exact = trie.num_keys() == len(words) and all(search(w) == f for w, f in words)
    except (TypeError, ValueError, OverflowError, RuntimeError) as exc:
        _fall_back(f"jieba-fast-dat cannot hold this dictionary ({exc})")
        return None
    if not exact:
        _fall_back("jieba-fast-dat's trie does not give back every word's frequency")
        return None
    fast = FastCut(tokenizer, trie, _get_DAG_and_calc)
    # The route comes from a function jieba-fast-dat does not document: another version may take
    # other arguments or give another kind of route.
    try:
        same = fast.cut(_PROBE) == list(tokenizer.cut(_PROBE))
    except (TypeError, ValueError, IndexError, RuntimeError) as exc:
        same = False
        _fall_back(f"jieba-fast-dat's route cannot be read ({exc})")
    if not same:
        _fall_back("jieba-fast-dat's route is not jieba's")
        return None
    return fast


def _fall_back(reason: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        log.warning("%s: cutting with jieba alone (slower)", reason)
