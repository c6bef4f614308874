"""The term table: a vocabulary as arrays, looked up by 128-bit key, the same in memory and on disk."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from wenda.retrieval.terms import TermTable, term_keys

TERMS = ["北京", "\x011京", "\x012北京", "bm25", "", "𠮷野家", "a" * 300, "上海"]


def test_every_term_is_found_at_its_id_and_absent_terms_are_not():
    table = TermTable.from_terms(TERMS)
    assert [table.id(t) for t in TERMS] == list(range(len(TERMS)))
    assert table.id("南京") is None and table.id("北京 ") is None
    assert list(table.ids(term_keys(["上海", "南京", "北京"]))) == [7, -1, 0]


def test_terms_read_back_as_written():
    table = TermTable.from_terms(TERMS)
    assert len(table) == len(TERMS) and list(table) == TERMS
    assert [table[i] for i in range(len(TERMS))] == TERMS and table[-1] == "上海" and table[1:3] == TERMS[1:3]
    assert table == TermTable.from_terms(TERMS) and table == TERMS and table != TermTable.from_terms(TERMS[:-1])


@pytest.mark.parametrize("mmap", [True, False])
def test_a_saved_table_loads_with_the_same_terms_and_lookups(tmp_path: Path, mmap: bool):
    TermTable.from_terms(TERMS).save(tmp_path)
    loaded = TermTable.load(tmp_path, mmap=mmap)
    assert list(loaded) == TERMS and [loaded.id(t) for t in TERMS] == list(range(len(TERMS)))
    # Sent to a pool worker and back: plain arrays, same answers.
    again = pickle.loads(pickle.dumps(loaded))
    assert list(again) == TERMS and again.id("𠮷野家") == 5


def test_a_table_that_does_not_fit_together_is_refused(tmp_path: Path):
    TermTable.from_terms(TERMS).save(tmp_path)
    np.save(tmp_path / "term_keys.npy", np.zeros((3, 2), "<u8"))
    with pytest.raises(ValueError, match="inconsistent"):
        TermTable.load(tmp_path)


def test_keys_sharing_their_first_64_bits_are_told_apart_by_the_rest():
    # Forge the (astronomically rare) case: three terms whose keys differ only in the second word.
    data = np.frombuffer("甲乙丙".encode(), np.uint8)
    starts = np.array([0, 3, 6, 9])
    keys = np.array([[7, 3], [7, 1], [7, 2]], dtype="<u8")
    table = TermTable.from_parts(data, starts, keys)
    assert list(table.ids(np.array([[7, 1], [7, 2], [7, 3], [7, 4], [6, 1]], "<u8"))) == [1, 2, 0, -1, -1]


def test_take_gathers_bytes_and_keys_of_chosen_terms():
    table = TermTable.from_terms(TERMS)
    data, starts, keys = table.take(np.array([7, 0]))
    again = TermTable.from_parts(data, starts, keys)
    assert list(again) == ["上海", "北京"] and np.array_equal(keys, term_keys(["上海", "北京"]))
