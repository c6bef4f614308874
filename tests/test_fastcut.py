"""fastcut.FastCut: jieba's own cut, word for word, with and without user words; jieba itself where it cannot be."""

from __future__ import annotations

import logging
import random
import sys
from pathlib import Path

import jieba
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jieba import finalseg

from wenda.retrieval import fastcut
from wenda.retrieval.text import Analyzer, TextSettings, normalise

pytest.importorskip("jieba_fast_dat")

# Prose of the kinds a corpus holds: names and rare words the HMM guesses (韩遂, 柏克沃), dictionary
# words, Latin words and numbers (3.5%, covid-19, c++), spaces, line ends, punctuation of both widths,
# characters jieba does not count as Chinese (U+9FD6 up, emoji), and repeats.
EMBEDDED = [
    "韩遂与马超联兵反曹，屯兵潼关；柏克沃先生于1887年到达上海。",
    "自然语言处理（NLP）是人工智能的一个分支，GPT-4 和 BERT 都用到了 Transformer。",
    "2019年GDP增长6.1%，其中第三产业占比53.9%；covid-19疫情后，c++与python3的需求上升。",
    "他说：“我们明天去北京大学看看吧！”\r\n她回答道：‘好的。’\t然后…… 就这样了",
    "邓小平理论是马克思列宁主义的基本原理与当代中国实际和时代特征相结合的产物",
    "鿖鿗鿘是新近收入的汉字，😀表情也会出现在文本里，x-ray与t恤衫，iPhone15售价5999元",
    "的的的的的的的的的的的的的的的的的的",
    "ａｂｃ１２３　全角字母，中华人民共和国成立于1949年10月1日。",
    "王小明和李小红在清华大学读书，张三丰创立了武当派，欧阳锋是西毒。",
    "_abc_ #tag & 50%+ .net a.b.c 3.14.15 ---",
]
LATIN = "abcxyzABC0123456789+#&._%-"
PUNCT = "，。、；：？！“”‘’（）《》,.;:?! \t\r\n\u3000…—"
RARE = "鿖鿗鿘㐀㐁丟乹亍攴耆兦冂"


def _generated(count: int, seed: int) -> list[str]:
    """Texts of dictionary words, single characters, Latin runs and punctuation mixed at random."""
    rng = random.Random(seed)
    tokenizer = jieba.Tokenizer()
    tokenizer.check_initialized()
    words = sorted(w for w, f in tokenizer.FREQ.items() if f)
    out = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(1, 40)):
            kind = rng.random()
            if kind < 0.45:
                parts.append(rng.choice(words))
            elif kind < 0.7:
                parts.append(chr(rng.randint(0x4E00, 0x9FFF)))
            elif kind < 0.8:
                parts.append("".join(rng.choices(LATIN, k=rng.randint(1, 6))))
            elif kind < 0.95:
                parts.append(rng.choice(PUNCT))
            else:
                parts.append(rng.choice(RARE))
        out.append("".join(parts))
    return out


TEXTS = EMBEDDED + [normalise(t) for t in EMBEDDED] + _generated(400, seed=18)

# User words of every kind: with and without a frequency and a tag, Latin ones, ones that straddle
# dictionary words (学大, 理论是), a known word re-weighed, one given twice, and frequency 0 (force-split).
USER_WORDS = """\
韩遂马超
柏克沃 30
马超联兵 1000 nr
自然语言 nz
学大 5
理论是 200000
中国实 3
的的 1000000
gpt 10
x-ray 800 n
c++
ab中
3d打印机 50
t恤衫 7
人工智能 1
北京大学 1
北京大学 60
武当派 0
"""


@pytest.fixture(scope="module")
def user_analyzer(tmp_path_factory: pytest.TempPathFactory) -> Analyzer:
    path = tmp_path_factory.mktemp("fastcut") / "userdict.txt"
    path.write_text(USER_WORDS, encoding="utf-8")
    return Analyzer(TextSettings(userdict=path))


@pytest.fixture(scope="module")
def plain() -> tuple[jieba.Tokenizer, fastcut.FastCut]:
    tokenizer = Analyzer()._jieba
    fast = fastcut.fast_cut(tokenizer)
    assert fast is not None
    return tokenizer, fast


def _same_cut(tokenizer: jieba.Tokenizer, texts: list[str]) -> None:
    fast = fastcut.fast_cut(tokenizer)
    assert fast is not None
    for text in texts:
        assert fast.tokenize(text) == list(tokenizer.tokenize(text)), text


def test_cut_is_jiebas() -> None:
    _same_cut(Analyzer()._jieba, TEXTS)


def test_cut_with_user_words_is_jiebas(user_analyzer: Analyzer) -> None:
    texts = [*TEXTS, "韩遂马超联兵于潼关", "大学大学，理论是中国实际", "gpt与x-ray和c++，ab中3d打印机"]
    _same_cut(user_analyzer._jieba, texts)


def test_user_words_change_the_cut(user_analyzer: Analyzer) -> None:
    # Without the user words reaching the trie, this check would pass vacuously.
    fast = fastcut.fast_cut(user_analyzer._jieba)
    assert fast is not None
    assert "马超联兵" in fast.cut("韩遂与马超联兵反曹")
    assert "马超联兵" not in Analyzer()._jieba.lcut("韩遂与马超联兵反曹")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("中国人民大学北京的了是在马超韩遂柏克沃鿖😀" + LATIN + PUNCT), max_size=60))
def test_any_text_is_cut_as_jieba_cuts_it(plain: tuple[jieba.Tokenizer, fastcut.FastCut], text: str) -> None:
    tokenizer, fast = plain
    assert fast.tokenize(text) == list(tokenizer.tokenize(text))


def test_a_word_force_split_later_is_split(monkeypatch: pytest.MonkeyPatch) -> None:
    # FastCut keeps the HMM's cuts; a word added with frequency 0 (finalseg's global set) must undo them.
    monkeypatch.setattr(finalseg, "Force_Split_Words", set(finalseg.Force_Split_Words))
    tokenizer = Analyzer()._jieba
    fast = fastcut.fast_cut(tokenizer)
    assert fast is not None
    text = "韩遂与马超联兵反曹"
    guessed = [w for w in tokenizer.lcut(text) if len(w) > 1 and not tokenizer.FREQ.get(w)]
    assert guessed  # the HMM made a word of single characters
    assert fast.cut(text) == tokenizer.lcut(text)
    finalseg.add_force_split(guessed[0])
    assert fast.cut(text) == tokenizer.lcut(text)
    assert guessed[0] not in fast.cut(text)


def test_missing_library_falls_back_to_jieba(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "jieba_fast_dat._jieba_fast_dat_functions_py3", None)
    monkeypatch.setattr(fastcut, "_warned", False)
    tokenizer = Analyzer()._jieba
    with caplog.at_level(logging.WARNING, logger=fastcut.__name__):
        assert fastcut.fast_cut(tokenizer) is None
        assert fastcut.fast_cut(tokenizer) is None
    assert len(caplog.records) == 1
    assert "not installed" in caplog.records[0].getMessage()


def test_missing_library_still_indexes_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = Analyzer().passage_tokens(EMBEDDED[0], EMBEDDED[1])
    monkeypatch.setitem(sys.modules, "jieba_fast_dat._jieba_fast_dat_functions_py3", None)
    monkeypatch.setattr(fastcut, "_warned", False)
    assert Analyzer().passage_tokens(EMBEDDED[0], EMBEDDED[1]) == expected


def test_frequency_the_trie_cannot_hold_falls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # jieba-fast-dat's trie keeps a frequency in 21 bits: a user word of 3 million would route differently.
    monkeypatch.setattr(fastcut, "_warned", False)
    path = tmp_path / "userdict.txt"
    path.write_text("马超联兵 3000000\n", encoding="utf-8")
    analyzer = Analyzer(TextSettings(userdict=path))
    assert fastcut.fast_cut(analyzer._jieba) is None
    title, text = "马超联兵", EMBEDDED[0]
    tokens, _ = analyzer.passage_tokens(title, text)
    assert tokens == analyzer.tokens("\n".join([title, title, text]))


def test_a_route_of_another_kind_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    # The route function is not part of jieba-fast-dat's documented interface: another version may differ.
    functions = pytest.importorskip("jieba_fast_dat._jieba_fast_dat_functions_py3")

    def other_route(trie: object, sentence: str, route: list[int], total: float) -> int:
        route.extend(range(len(sentence) + 1))  # every character a word of its own
        return 0

    monkeypatch.setattr(functions, "_get_DAG_and_calc", other_route)
    monkeypatch.setattr(fastcut, "_warned", False)
    assert fastcut.fast_cut(Analyzer()._jieba) is None
