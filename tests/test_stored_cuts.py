"""An answer reads its passages' words from the cuts stored at indexing: jieba cuts only the question."""

from __future__ import annotations

from pathlib import Path

import pytest

from wenda.bot.answer import answer
from wenda.retrieval.store import Library, StoreSettings
from wenda.retrieval.text import normalise

QUESTIONS = ["衢州市副市长是谁？", "北京城市副中心政务服务中心什么时候投入运行？", "数据要素的作用是什么"]


@pytest.fixture(params=[False, True], ids=["in memory", "from the cache"])
def library(request: pytest.FixtureRequest, seed_copy: Path) -> Library:
    return Library.open(seed_copy, StoreSettings(cache=request.param))


@pytest.mark.parametrize("question", QUESTIONS)
def test_jieba_cuts_nothing_but_the_question(library: Library, question: str, monkeypatch: pytest.MonkeyPatch):
    searcher = library.searcher
    searcher.forget_cached()
    jieba = searcher.analyzer._jieba
    cut: list[str] = []
    tokenize = jieba.tokenize

    def recording(text, *args, **kwargs):
        cut.append(text)
        return tokenize(text, *args, **kwargs)

    monkeypatch.setattr(jieba, "tokenize", recording)
    got = answer(searcher, question)
    assert got.answered
    asked = normalise(question)
    assert cut and all(piece in asked for piece in cut), cut
    # The stored cuts give what jieba would: the same answer with every cut made afresh.
    monkeypatch.setattr(type(searcher.passages), "cut", lambda self, slot: None)
    monkeypatch.setattr(type(searcher.passages), "title_cut", lambda self, slot: None)
    searcher.forget_cached()
    again = answer(searcher, question)
    assert [(h.passage, h.score, h.sentence, h.term_spans) for h in again.hits] == [
        (h.passage, h.score, h.sentence, h.term_spans) for h in got.hits
    ]
