"""jieba's part-of-speech tagger with the same answers in a fraction of the time (Analyzer.proper_names).

The highlighter asks which sentences name a person or a place; jieba.posseg finds names it does not
know with an HMM over 256 tag states, whose Viterbi step takes, for every state a character may be
in, the best of every state the previous character was in: `max(V[y0] + trans[y0].get(y, -inf) + …)`.
Most of those transitions do not exist (a state has about 20 successors of 256), so most candidates
are -inf and can never win. This Viterbi looks only at the predecessors a state really has, and
falls back to jieba's full step where none of them is finite, so that every result, ties included
(max over (probability, state) pairs), is jieba's own. tests/test_tagger.py holds it to that.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import jieba
import jieba.posseg
from jieba.posseg import char_state_tab_P, emit_P, start_P, trans_P
from jieba.posseg.viterbi import MIN_FLOAT, MIN_INF

State = tuple[str, str]


def _predecessors(trans: Mapping[State, Mapping[State, float]]) -> dict[State, frozenset[State]]:
    before: dict[State, set[State]] = {}
    for y0, nexts in trans.items():
        for y in nexts:
            before.setdefault(y, set()).add(y0)
    return {y: frozenset(states) for y, states in before.items()}


_BEFORE = _predecessors(trans_P)


def viterbi(obs: str) -> tuple[float, list[State]]:
    """jieba.posseg.viterbi(obs, char_state_tab_P, start_P, trans_P, emit_P), exactly, faster."""
    all_states = trans_P.keys()
    first: dict[State, float] = {}
    path: list[dict[State, State | str]] = [{}]
    for y in char_state_tab_P.get(obs[0], all_states):
        first[y] = start_P[y] + emit_P[y].get(obs[0], MIN_FLOAT)
        path[0][y] = ""
    previous = first
    for t in range(1, len(obs)):
        char = obs[t]
        prev_states = [x for x in path[t - 1] if len(trans_P[x]) > 0]
        expected = {y for x in prev_states for y in trans_P[x]}
        obs_states = set(char_state_tab_P.get(char, all_states)) & expected
        if not obs_states:
            obs_states = expected if expected else set(all_states)
        current: dict[State, float] = {}
        step: dict[State, State | str] = {}
        for y in obs_states:
            emit = emit_P[y].get(char, MIN_FLOAT)
            before = _BEFORE.get(y, frozenset())
            best = max(
                ((previous[y0] + trans_P[y0][y] + emit, y0) for y0 in prev_states if y0 in before),
                default=None,
            )
            if best is None or best[0] == MIN_INF:
                # No finite way in: jieba's own step over every previous state, -inf ones included.
                best = max((previous[y0] + trans_P[y0].get(y, MIN_INF) + emit, y0) for y0 in prev_states)
            current[y], step[y] = best
        path.append(step)
        previous = current
    prob, state = max((previous[y], y) for y in path[-1])
    route: list[State] = [("", "")] * len(obs)
    for i in range(len(obs) - 1, -1, -1):
        route[i] = state
        state = path[i][state]  # type: ignore[assignment]
    return prob, route


class FastPOSTokenizer(jieba.posseg.POSTokenizer):
    """jieba.posseg.POSTokenizer whose HMM step is viterbi above."""

    def _POSTokenizer__cut(self, sentence: str) -> Iterator[jieba.posseg.pair]:
        # jieba.posseg.POSTokenizer.__cut, with this module's viterbi.
        _, pos_list = viterbi(sentence)
        begin, nexti = 0, 0
        for i, char in enumerate(sentence):
            pos = pos_list[i][0]
            if pos == "B":
                begin = i
            elif pos == "E":
                yield jieba.posseg.pair(sentence[begin : i + 1], pos_list[i][1])
                nexti = i + 1
            elif pos == "S":
                yield jieba.posseg.pair(char, pos_list[i][1])
                nexti = i + 1
        if nexti < len(sentence):
            yield jieba.posseg.pair(sentence[nexti:], pos_list[nexti][1])
