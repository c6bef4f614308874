"""Normalisation and segmentation: what a text's index terms are, and where they sit in the original."""

from __future__ import annotations

import unicodedata
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from wenda.retrieval import text as text_module
from wenda.retrieval.corpus import Passage
from wenda.retrieval.dictionary import CachedTokenizer
from wenda.retrieval.search import Searcher
from wenda.retrieval.sentences import sentence_spans
from wenda.retrieval.store import Library
from wenda.retrieval.text import (
    BIGRAM,
    UNIGRAM,
    Analyzer,
    TextSettings,
    may_compose,
    merge_spans,
    nfkc,
    normalise,
)

USERDICT = "城市副中心 50 n\n"


@pytest.fixture(scope="module")
def userdict(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dict") / "userdict.txt"
    path.write_text(USERDICT, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def taught(userdict: Path) -> Analyzer:
    """An analyzer that has learnt 城市副中心 from a user dictionary."""
    return Analyzer(TextSettings(userdict=userdict))


def _shown(text: str, spans: list[tuple[int, int]]) -> list[str]:
    return [text[s:e] for s, e in spans]


def test_full_width_letters_and_digits_are_folded_to_ascii():
    assert normalise("ＡＢＣ１２３") == "abc123"


# Characters that exercise NFKC: the full-width forms replaced before the quick check, others it
# must still fold (℃, ㎝, ①, ﬁ), combining marks that compose with what precedes them or are
# reordered, Hangul jamo, a compatibility ideograph, and plain Chinese and ASCII around them.
_NFKC_CHARS = (
    "，：；！？（）％＋－／～．＆＝\u3000。、“”…℃㎝①ﬁＡａ１eE\u0301\u0308\u0323\u1100\u1161\u11a8가\uf900中文字A1 ,"
)


@given(st.text(alphabet=_NFKC_CHARS, max_size=40))
@example("ｅ\u0301，中")
@example("，\u0301")
def test_the_quick_nfkc_is_unicodedatas(text: str):
    assert nfkc(text) == unicodedata.normalize("NFKC", text)


def test_latin_letters_are_lower_cased(analyzer: Analyzer):
    assert analyzer.words("Python IDC") == ["python", "idc"]


def test_traditional_chinese_becomes_simplified():
    assert normalise("學習貫徹黨的二十大精神") == "学习贯彻党的二十大精神"


def test_traditional_and_simplified_text_give_the_same_terms(analyzer: Analyzer):
    assert analyzer.tokens("北京城市副中心政務服務中心") == analyzer.tokens("北京城市副中心政务服务中心")


def test_traditional_question_finds_the_simplified_passage(analyzer: Analyzer):
    passages = [
        Passage("衢州市副市长田俊表示，城市大脑贯通了省市县一网通管。", "甲", "a.txt", 1),
        Passage("宁波市北仑区引入环卫企业，完成数字化转型。", "乙", "a.txt", 2),
        Passage("广东省重点打造新型数据交易所。", "丙", "a.txt", 3),
        Passage("北京城市副中心政务服务中心正式投入运行。", "丁", "a.txt", 4),
    ]
    searcher = Searcher.build(passages, analyzer)
    (hit,) = searcher.search("衢州市副市長是誰？", k=1).hits
    assert hit.passage.paragraph == 1


def test_punctuation_is_not_a_term(analyzer: Analyzer):
    assert analyzer.words("，。！？、“”《》（）,.!?;:") == []


def test_stop_words_are_dropped(analyzer: Analyzer):
    assert analyzer.words("的了是在和") == []
    assert analyzer.words("衢州市的副市长是谁") == ["衢州市", "副", "市长"]


def test_stop_words_can_be_kept():
    keeping = Analyzer(TextSettings(stopwords=False))
    assert "的" in keeping.words("衢州市的副市长")


def test_full_width_year_stays_a_term(analyzer: Analyzer):
    assert "2021" in analyzer.tokens("２０２１年９月投入运行")


def test_single_full_width_digits_are_not_stop_words(analyzer: Analyzer):
    assert analyzer.tokens("第５期") == analyzer.tokens("第5期")
    assert "5" in analyzer.tokens("第５期")


def test_repeated_words_are_kept_for_counting(analyzer: Analyzer):
    assert analyzer.words("城市城市城市") == ["城市", "城市", "城市"]


def test_latin_and_digit_words_also_count_as_ngrams(analyzer: Analyzer):
    # A CJK term counts as a word, its bigrams and its characters; agg01 should weigh alike.
    tokens = analyzer.tokens("AGG01的功效")
    assert {"agg01", UNIGRAM + "agg01", BIGRAM + "agg01"} <= set(tokens)
    assert UNIGRAM + "a" not in tokens


def test_question_words_give_no_ngrams_in_a_question_but_do_in_a_passage(analyzer: Analyzer):
    question = analyzer.query_tokens("哪个国家的网速最快？")
    assert BIGRAM + "个国" not in question and UNIGRAM + "个" not in question
    assert {"国家", BIGRAM + "国家", UNIGRAM + "国"} <= set(question)
    assert BIGRAM + "个国" in analyzer.tokens("哪个国家的网速最快？")
    # 哪国 asks "which country", but the 国 of 哪一国家 belongs to 国家.
    assert {BIGRAM + "国家", UNIGRAM + "国"} <= set(analyzer.query_tokens("哪一國家的網速最快？"))


def test_a_surname_that_is_also_a_question_word_is_still_searched(analyzer: Analyzer):
    assert BIGRAM + "何皇" in analyzer.query_tokens("何皇后为什么被降封？")


def test_question_terms_count_twice_but_bigrams_of_function_characters_once(analyzer: Analyzer):
    counts = Counter(analyzer.query_tokens("尤金袋鼠的体重，尤金袋鼠的体重？"))
    assert counts["袋鼠"] == counts[UNIGRAM + "鼠"] == counts[BIGRAM + "体重"] == 2
    assert counts[BIGRAM + "鼠的"] == counts[BIGRAM + "的体"] == 1


def test_without_ngrams_a_question_counts_each_term_once():
    words_only = Analyzer(TextSettings(ngrams=False))
    assert words_only.query_tokens("城市城市副中心是什么？") == ["城市", "副", "中心"]


def test_user_dictionary_changes_segmentation(analyzer: Analyzer, taught: Analyzer):
    assert "城市副中心" not in analyzer.tokens("北京城市副中心政务服务中心")
    assert "城市副中心" in taught.tokens("北京城市副中心政务服务中心")


def test_user_dictionary_does_not_change_other_analyzers(taught: Analyzer):
    assert "城市副中心" in taught.tokens("北京城市副中心")
    assert "城市副中心" not in Analyzer().tokens("北京城市副中心政务服务中心")


def test_user_dictionary_in_the_corpus_folder_is_used(tmp_path: Path):
    (tmp_path / "userdict.txt").write_text(USERDICT, encoding="utf-8")
    (tmp_path / "a.txt").write_text("标题\n北京城市副中心政务服务中心正式投入运行。\n", encoding="utf-8")
    library = Library.open(tmp_path)
    assert "城市副中心" in library.searcher.analyzer.tokens("北京城市副中心政务服务中心")


def test_user_dictionary_changes_the_user_words_not_the_fingerprint(analyzer: Analyzer, taught: Analyzer):
    # The index records its user words and re-reads only what a changed word concerns (store.py).
    assert taught.fingerprint == analyzer.fingerprint
    assert taught.user_words and not analyzer.user_words


def test_edited_user_dictionary_changes_the_user_words(tmp_path: Path, taught: Analyzer):
    edited = tmp_path / "userdict.txt"
    edited.write_text(USERDICT + "数据要素 20 n\n", encoding="utf-8")
    words = Analyzer(TextSettings(userdict=edited)).user_words
    assert words == {**taught.user_words, "数据要素": "20 n"}


def test_a_user_word_does_not_change_the_cut_of_a_text_without_it(taught: Analyzer, analyzer: Analyzer):
    # jieba's frequency total is kept, so only texts holding a user word are cut differently.
    text = "研究生命起源的学者在南京市长江大桥上讨论和服务的质量"
    assert taught.tokens(text) == analyzer.tokens(text)


def test_stop_word_setting_changes_the_fingerprint(analyzer: Analyzer):
    assert Analyzer(TextSettings(stopwords=False)).fingerprint != analyzer.fingerprint


def test_same_settings_give_the_same_fingerprint(analyzer: Analyzer):
    assert Analyzer().fingerprint == analyzer.fingerprint


def test_term_spans_point_into_the_normalised_text(analyzer: Analyzer):
    text = "２０２１年，北京城市副中心"
    normalised = normalise(text)
    assert [(t.text, normalised[t.start : t.end]) for t in analyzer.terms(text)] == [
        (t.text, t.text) for t in analyzer.terms(text)
    ]


def test_highlight_spans_map_full_width_text_back_to_the_original(analyzer: Analyzer):
    text = "Ｐｙｔｈｏｎ在２０２１年９月发布"
    assert _shown(text, analyzer.spans(text, {"python", "2021"})) == ["Ｐｙｔｈｏｎ", "２０２１"]


def test_highlight_spans_map_traditional_text_back_to_the_original(analyzer: Analyzer):
    text = "北京城市副中心政務服務中心正式投入運行。"
    assert _shown(text, analyzer.spans(text, {"政务", "运行"})) == ["政務", "運行"]


def test_highlight_spans_of_expanding_characters_cover_the_whole_character(analyzer: Analyzer):
    # NFKC turns the one character ㈱ into three, "(株)"; the span still has to be that one character.
    text = "㈱城市数据公司"
    assert _shown(text, analyzer.spans(text, {"株"})) == ["㈱"]


def test_adjacent_highlight_spans_are_merged(analyzer: Analyzer):
    text = "衢州市副市长田俊"
    assert _shown(text, analyzer.spans(text, {"衢州市", "副", "市长"})) == ["衢州市副市长"]


def test_merge_spans_sorts_and_joins_overlaps():
    assert merge_spans([(5, 7), (0, 2), (1, 3), (7, 8), (10, 11)]) == [(0, 3), (5, 8), (10, 11)]


def test_proper_names_are_people_and_places_of_more_than_one_character(analyzer: Analyzer):
    names = analyzer.proper_names("張學良生於遼寧省。他姓王，住在京。")
    assert ("张学良", "person") in names
    assert ("辽宁省", "place") in names
    # The tagger calls the lone 王 a person and 京 a place: too little to be an answer.
    assert not {"王", "京"} & {name for name, _ in names}


_READ_ONCE = [
    "北京城市副中心政务服务中心正式投入运行。该中心配备了50多台智能政务终端！你知道吗？",
    "臺灣的網路速度很快？是的!「他說：『好。』」然後走了。",
    "ＡＢＣ１２３公司成立於１９９９年，agg01 的實際功效有哪些？\n第二行，沒有句號",
    "《卡拉OK.LIVE！‧台北‧我》是一張專輯。它在2004年發行。",
    "Cafe\u0301很好。ｅ\u0301也是。카\u1161페。",  # marks NFKC joins only when normalising a whole text
    "",
]


@pytest.mark.parametrize("settings", [TextSettings(), TextSettings(ngrams=False), TextSettings(stopwords=False)])
@pytest.mark.parametrize("text", _READ_ONCE)
def test_tokens_of_each_sentence_from_one_reading_equal_each_sentences_own_tokens(text: str, settings: TextSettings):
    analyzer = Analyzer(settings)
    spans = list(sentence_spans(text))
    got = analyzer.tokens_within(analyzer.read(text), spans)
    assert got == [analyzer.tokens(text[s:e]) for s, e in spans]


def test_tokens_within_leaves_out_text_between_the_spans(analyzer: Analyzer):
    text = "蓝鲸很大。心脏很重。"
    assert analyzer.tokens_within(analyzer.read(text), [(5, 10)]) == [analyzer.tokens("心脏很重。")]


@pytest.mark.parametrize("text", _READ_ONCE)
def test_matches_of_a_reading_equal_matches_of_the_text(analyzer: Analyzer, text: str):
    wanted = set(analyzer.tokens("中心 網路 速度 agg01 专辑 cafe 很好"))
    assert analyzer.matches(analyzer.read(text), wanted) == analyzer.matches(text, wanted)


@pytest.mark.parametrize("text", [*_READ_ONCE, "ΟΔΟΣ ΣΟΦΟΣ", "㍿の乾隆皇帝"])
def test_a_reading_says_whole_only_when_its_text_is_normalise_of_the_original(analyzer: Analyzer, text: str):
    # The copy check takes a whole reading's normalised text for normalise(text): a final sigma, a
    # mark that composes or a character NFKC widens must never say whole.
    reading = analyzer.read(text)
    assert not reading.whole or reading.normalised == normalise(text)


def test_an_ordinary_passage_is_read_whole(analyzer: Analyzer):
    assert analyzer.read(_READ_ONCE[0]).whole and analyzer.read(_READ_ONCE[1]).whole


@given(st.text(alphabet="臺灣網路速度ΣσΑ㍿e\u0301ＡＢ１。？ a", max_size=20))
def test_whole_readings_normalise_as_normalise_does(analyzer: Analyzer, text: str):
    reading = analyzer.read(text)
    assert not reading.whole or reading.normalised == normalise(text)


def _bigram_spans_run_by_run(text: str, wanted: set[str]) -> list[tuple[int, int]]:
    """The spans matches() marks for wanted bigrams, found as first written: every bigram of every CJK
    run looked up in wanted (the reference for matches(), which looks for the wanted ones instead)."""
    normalised, origin = text_module.normalise_with_offsets(text)
    spans = []
    for run in text_module._CJK_RUN.finditer(normalised):
        chars = run.group()
        for i in range(len(chars) - 1):
            if BIGRAM + chars[i : i + 2] in wanted:
                start = run.start() + i
                spans.append((origin[start], origin[start + 1] + 1))
    return merge_spans(spans)


@given(st.text(alphabet="的的中心中心a1。，\u3000中國网路", max_size=30))
@example("中心中心的的的")
def test_bigrams_are_marked_where_every_bigram_of_every_run_would_be(analyzer: Analyzer, text: str):
    # Bigrams alone (no word is wanted): overlapping ones (的的的), ones across punctuation or Latin, a
    # Latin bigram term (which no CJK run holds) and one normalising finds (國 → 国).
    wanted = {BIGRAM + "中心", BIGRAM + "心中", BIGRAM + "的的", BIGRAM + "中国", BIGRAM + "a1", BIGRAM + "心a"}
    reading = text_module.Reading(text, *text_module.normalise_with_offsets(text), [])  # no words
    assert analyzer.matches(reading, wanted) == (set(), _bigram_spans_run_by_run(text, wanted))


def test_a_mark_or_conjoining_jamo_may_compose():
    assert may_compose("cafe\u0301") and may_compose("\u1100\u1161") and may_compose("か\u3099")
    assert not may_compose("学习贯彻党的二十大精神，“数据要素”（2023年）：ＡＢＣ café")


def test_may_compose_agrees_with_the_whole_pattern_for_every_character():
    # may_compose skips building the pattern for text of blocks without a mark: none may be missed.
    composing = text_module._composing()
    for ch in map(chr, range(0x10000)):
        assert may_compose(ch) == (composing.search(ch) is not None), hex(ord(ch))


def test_warm_loads_jiebas_dictionary_before_the_first_text(monkeypatch: pytest.MonkeyPatch):
    analyzer = Analyzer()
    loads = []
    load = CachedTokenizer.initialize
    monkeypatch.setattr(CachedTokenizer, "initialize", lambda self, *args: loads.append(self) or load(self, *args))

    analyzer.warm()
    assert len(loads) == 1
    analyzer.tokens("北京城市副中心政务服务中心")
    assert analyzer.proper_names("衢州市副市长田俊") == (("衢州市", "place"), ("田俊", "person"))
    assert len(loads) == 1
