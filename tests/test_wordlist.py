"""WordList answers `in` as the set of its words would."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from wenda.retrieval.text import connectives, verbs
from wenda.retrieval.wordlist import WordList

_WORDS = st.text(alphabet="的了是在我他来去一二ab", min_size=0, max_size=4)


@given(st.lists(_WORDS, max_size=40), st.lists(_WORDS, max_size=40))
def test_membership_is_the_sets(words: list[str], asked: list[str]):
    kept = WordList(words)
    assert len(kept) == len(set(words))
    for word in asked + words:
        assert (word in kept) == (word in set(words))


def test_an_empty_list_holds_nothing():
    assert "" not in WordList([])
    assert "的" not in WordList([])


def test_a_word_is_not_found_by_its_prefix_or_across_a_join():
    kept = WordList(["引起", "起来"])  # stored as 引起起来
    assert "引起" in kept and "起来" in kept
    assert "引" not in kept and "起起" not in kept and "引起起来" not in kept


def test_the_dictionarys_verbs_are_found_and_nouns_are_not():
    assert "归入" in verbs() and "引起" in verbs() and "突破" not in verbs()  # 突破 is a verbal noun (vn)
    assert "逐渐" in connectives() and "并且" in connectives() and "博物馆" not in connectives()
    assert 1 not in verbs()  # not a string
