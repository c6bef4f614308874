"""Cutting a passage into sentences: where a sentence ends, and where it does not."""

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wenda.retrieval.sentences import Sentences, sentence_spans
from wenda.retrieval.text import Analyzer


def test_sentence_spans_keep_closing_quotes_with_their_sentence():
    text = "他说：“通过数字化消除障碍。”随后离开。"
    assert [text[s:e] for s, e in sentence_spans(text)] == ["他说：“通过数字化消除障碍。”", "随后离开。"]


def test_a_title_in_book_brackets_is_not_cut_at_its_exclamation_mark():
    text = "《卡拉OK.LIVE！‧台北‧我》是他的第六张专辑。〈再见！〉是其中一首。"
    sentences = [text[s:e] for s, e in sentence_spans(text)]
    assert sentences == ["《卡拉OK.LIVE！‧台北‧我》是他的第六张专辑。", "〈再见！〉是其中一首。"]


def test_a_full_width_full_stop_ends_a_sentence_only_in_a_text_without_the_chinese_one():
    # A story republished with ． for 。 was one "sentence" to the sentence stage, which then ranked
    # its whole paragraph above the original's real sentences.
    copy = "北京是中国的首都．上海是最大的城市,人口很多．广州在南方．"
    assert [copy[a:b] for a, b in sentence_spans(copy)] == [
        "北京是中国的首都．",
        "上海是最大的城市,人口很多．",
        "广州在南方．",
    ]
    # Beside 。, ． joins the parts of a transliterated name.
    names = "两旁摆著圣若望．玛达的像。中间是祭坛。"
    assert [names[a:b] for a, b in sentence_spans(names)] == ["两旁摆著圣若望．玛达的像。", "中间是祭坛。"]


def test_a_semicolon_does_not_end_a_sentence():
    # The items of a list stay in one sentence, so the highlighter can mark the whole answer.
    text = "其职能有两个方面：一是教化；二是管理户籍。后来废止!"
    assert [text[s:e] for s, e in sentence_spans(text)] == ["其职能有两个方面：一是教化；二是管理户籍。", "后来废止!"]


# Texts of every kind the counting must agree on: prose, Latin and digit words, a bigram repeated
# over itself (的的的), stop words, characters NFKC changes, a mark that joins its neighbour, an
# empty sentence's worth of punctuation.
_COUNTED_TEXTS = [
    "北京城市副中心政务服务中心于2024年1月投入运行。市民可以办理1887项业务！",
    "哈哈哈哈，的的的的。他说：“我们的iPhone 15和AGG01型号都很好。”然后呢？",
    "气温３０℃……ＡＢＣ公司的ＣＥＯ表示，将在Q3发布。",
    "cafe\u0301 的咖啡很好。中國的蘋果公司發佈了新產品。",
    "。。。！！",
    "",
]


@pytest.mark.parametrize("text", _COUNTED_TEXTS)
def test_counts_within_are_the_counts_of_the_sentences_tokens(analyzer: Analyzer, text: str):
    sentences = Sentences.of(analyzer, text)
    tokens = sentences.tokens
    every = frozenset(t for ts in tokens for t in ts)
    # What no sentence holds is asked for too: a question's terms are mostly absent.
    wanted = every | {"\x011鲸", "\x012鲸鱼", "不存在的词", "\x011的", "\x012的的"}
    counted = sentences.counts(frozenset(wanted))
    assert [length for _, length in counted] == [len(ts) for ts in tokens]
    for (counts, _), ts in zip(counted, tokens, strict=True):
        assert counts == {t: n for t, n in Counter(ts).items() if t in wanted}


def test_counts_read_from_a_stored_cut_equal_those_read_by_jieba(analyzer: Analyzer):
    for text in _COUNTED_TEXTS:
        _, cut = analyzer.passage_tokens("标题", text)
        wanted = frozenset(analyzer.tokens(text))
        stored = Sentences.of(analyzer, text, cut).counts(wanted)
        assert stored == Sentences.of(analyzer, text).counts(wanted)


@pytest.mark.parametrize("text", _COUNTED_TEXTS)
def test_counts_from_a_stored_cut_in_c_are_the_counts_of_the_sentences_tokens(analyzer: Analyzer, text: str):
    # The sentence stage's counts come from compiled code reading the stored cut (counts_of_cut):
    # held to the tokens themselves, with absent words and n-grams, stop words' n-grams and a Latin
    # word's two n-grams asked for.
    _, cut = analyzer.passage_tokens("标题", text)
    sentences = Sentences.of(analyzer, text, cut)
    tokens = sentences.tokens
    every = frozenset(t for ts in tokens for t in ts)
    wanted = frozenset(every | {"\x011鲸", "\x012鲸鱼", "不存在的词", "\x011的", "\x012的的", "\x011q3", "\x012q3"})
    fast = analyzer.counts_of_cut(text, cut, sentences.spans, wanted)
    if cut is not None and "\u0301" not in text and "３" not in text:  # texts whose offsets normalising keeps
        assert fast is not None
    if fast is not None:
        assert [length for _, length in fast] == [len(ts) for ts in tokens]
        for (counts, _), ts in zip(fast, tokens, strict=True):
            assert counts == {t: n for t, n in Counter(ts).items() if t in wanted}


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="的的中国人民银行北京大学哈了是在和年月日ab1Z。！？，“”（）\n ", max_size=80))
def test_counts_from_a_stored_cut_equal_those_of_a_reading_for_any_text(analyzer: Analyzer, text: str):
    _, cut = analyzer.passage_tokens("标题", text)
    spans = list(sentence_spans(text))
    reading = analyzer.read(text, cut)
    wanted = frozenset([*analyzer.tokens(text[: len(text) // 2]), "\x012的的", "\x011国", "\x012民银", "ab1z"])
    fast = analyzer.counts_of_cut(text, cut, spans, wanted)
    assert fast is None or fast == analyzer.counts_within(reading, spans, wanted)
    assert cut is None or fast is not None  # this alphabet keeps every offset


def test_counts_of_cut_decline_a_cut_of_another_text(analyzer: Analyzer):
    text = "北京大学图书馆藏书很多。"
    _, cut = analyzer.passage_tokens("标题", text)
    assert cut is not None
    spans = list(sentence_spans(text))
    assert analyzer.counts_of_cut(text + "再多一句。", cut, spans, frozenset({"北京"})) is None
    assert analyzer.counts_of_cut(text[:4], cut, [(0, 4)], frozenset({"北京"})) is None


def _spans_char_by_char(text: str) -> list[tuple[int, int]]:
    """sentence_spans as it was first written, looking at every character: the reference the
    faster one, which skips to the characters that can matter, must equal."""
    from wenda.retrieval.sentences import _CLOSERS, _OPENERS, CLOSING_QUOTES, MAX_PROTECTED

    ends = "。！？!?．" if "。" not in text and "．" in text else "。！？!?"
    out, start, depth, i, n = [], 0, 0, 0, len(text)
    while i < n:
        ch = text[i]
        if ch in _OPENERS:
            depth += 1
        elif ch in _CLOSERS:
            depth = max(0, depth - 1)
        if ch == "\n" or ch in ends:
            end, after = i + 1, depth
            while end < n and ch != "\n" and (text[end] in ends or text[end] in CLOSING_QUOTES):
                if text[end] in _CLOSERS:
                    after = max(0, after - 1)
                end += 1
            if ch != "\n" and after > 0 and i - start <= MAX_PROTECTED:
                depth, i = after, end
                continue
            if text[start:end].strip():
                out.append((start, end))
            start = i = end
            depth = 0
        else:
            i += 1
    if text[start:].strip():
        out.append((start, n))
    return out


# Every character sentence_spans treats specially, some it must not, and plain text between them.
_SENTENCE_ALPHABET = "。！？!?．（(“「『《〈）)”」』》〉’\"'；，\n 甲乙a1"


def _both_cuts(text: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """sentence_spans as shipped (compiled, _scoring.c) and its Python version (installs without a
    compiler): both must equal the reference."""
    from wenda.retrieval import sentences as sentences_module

    assert sentences_module.compiled is not None, "wenda.retrieval._scoring was not built"
    return sentence_spans(text), list(sentences_module._sentence_spans(text))


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=_SENTENCE_ALPHABET, max_size=60) | st.text(max_size=40))
def test_sentence_spans_equal_the_character_by_character_reference(text: str):
    # Where the reader cuts long paragraphs, so where passages begin (bump corpus.READER_VERSION with
    # any change to either cut).
    reference = _spans_char_by_char(text)
    assert _both_cuts(text) == (reference, reference)


def test_a_long_unclosed_quote_is_still_cut_as_the_reference_cuts_it():
    from wenda.retrieval.sentences import MAX_PROTECTED

    for text in ["他说：“" + "很好。" * 120 + "”完。"] + [
        "他说：“" + "好" * inside + "。”然后走了。后来呢？" for inside in (10, MAX_PROTECTED - 2, MAX_PROTECTED + 5)
    ]:
        reference = _spans_char_by_char(text)
        assert _both_cuts(text) == (reference, reference)


def test_the_compiled_verdict_on_pieces_of_one_or_two_characters_is_the_analyzers(analyzer: Analyzer):
    # sentence_counts tells most pieces' verdict (index word or not) without asking the analyzer:
    # held to the analyzer's own over every character of the Basic Multilingual Plane, alone, and
    # over every stop word of two CJK characters and a few word pairs.
    from wenda.retrieval import text as text_module
    from wenda.retrieval.kernels import compiled

    assert compiled is not None, "wenda.retrieval._scoring was not built"
    flags, stop_pairs = text_module._stop_ngram_keys(analyzer._stopwords)

    def tokens_of_one_piece(piece: str) -> int:
        cut = bytes([len(piece)])
        [(_, length)] = compiled.sentence_counts(
            piece, cut, [(0, len(piece))], analyzer._kept, frozenset(), flags, stop_pairs
        )
        return length

    wrong = []
    for code in range(0x10000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        piece = chr(code)
        cjk = text_module._CJK_RUN.fullmatch(piece) is not None
        unigram = cjk and piece not in analyzer._stopwords
        expected = (1 + 2 * (not cjk)) * analyzer._kept[piece] + unigram
        if tokens_of_one_piece(piece) != expected:
            wrong.append(piece)
    assert wrong == []
    pairs = [w for w in analyzer._stopwords if len(w) == 2 and text_module._CJK_RUN.fullmatch(w)]
    assert pairs
    for piece in [*pairs, "北京", "的人", "人的", "\u9fff\u4e00"]:
        units = sum(ch not in analyzer._stopwords for ch in piece)
        expected = analyzer._kept[piece] + units + (piece not in analyzer._stopwords)
        assert tokens_of_one_piece(piece) == expected, piece
