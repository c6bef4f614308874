"""Cutting a passage into sentences: where a sentence ends, and where it does not."""

from wenda.retrieval.sentences import sentence_spans


def test_sentence_spans_keep_closing_quotes_with_their_sentence():
    text = "他说：“通过数字化消除障碍。”随后离开。"
    assert [text[s:e] for s, e in sentence_spans(text)] == ["他说：“通过数字化消除障碍。”", "随后离开。"]


def test_a_title_in_book_brackets_is_not_cut_at_its_exclamation_mark():
    text = "《卡拉OK.LIVE！‧台北‧我》是他的第六张专辑。〈再见！〉是其中一首。"
    sentences = [text[s:e] for s, e in sentence_spans(text)]
    assert sentences == ["《卡拉OK.LIVE！‧台北‧我》是他的第六张专辑。", "〈再见！〉是其中一首。"]


def test_a_semicolon_does_not_end_a_sentence():
    # The items of a list stay in one sentence, so the highlighter can mark the whole answer.
    text = "其职能有两个方面：一是教化；二是管理户籍。后来废止!"
    assert [text[s:e] for s, e in sentence_spans(text)] == ["其职能有两个方面：一是教化；二是管理户籍。", "后来废止!"]
