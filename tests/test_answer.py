"""Hits → Answer: quote what covers the question, decline what the corpus does not cover, page with offset."""

from __future__ import annotations

import json
import re

import pytest
from conftest import SEED_COPY_FILE

from wenda.bot.answer import MAX_QUESTION_CHARS, MESSAGES, Answer, Status, answer, empty_corpus_message, to_json
from wenda.retrieval.corpus import Passage
from wenda.retrieval.search import Hit, Searcher
from wenda.retrieval.store import Library, StoreSettings

OPENING = "北京城市副中心政务服务中心什么时候投入运行？"
PARTY = "学习贯彻党的二十大精神"
CHINESE = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize("question", ["今天上海的天气怎么样？", "怎么用Python写一个快速排序？"])
def test_question_the_corpus_does_not_cover_is_declined(seed_searcher: Searcher, question: str):
    ans = answer(seed_searcher, question)
    assert ans.status is Status.NOT_COVERED
    assert ans.answered is False
    assert ans.hits == ()


def test_question_sharing_only_a_common_word_is_declined(seed_searcher: Searcher):
    assert answer(seed_searcher, "上海的城市天气怎么样？").status is Status.NOT_COVERED


def test_declined_answer_says_so_in_chinese(seed_searcher: Searcher):
    message = answer(seed_searcher, "今天上海的天气怎么样？").message
    assert message and CHINESE.search(message)


@pytest.mark.parametrize(
    ("question", "quoted"),
    [
        (OPENING, "2021年9月,北京城市副中心政务服务中心正式投入运行"),
        ("衢州市副市长是谁？", "田俊"),
        ("二十届中共中央政治局什么时候进行第一次集体学习？", "第一次集体学习"),
    ],
)
def test_covered_question_is_answered_with_the_gold_passage_first(seed_searcher: Searcher, question: str, quoted: str):
    ans = answer(seed_searcher, question)
    assert ans.status is Status.ANSWERED and ans.answered
    assert quoted in ans.hits[0].passage.text
    assert ans.message is None


def test_answer_quotes_at_most_k_passages(seed_searcher: Searcher):
    assert len(answer(seed_searcher, PARTY, k=2).hits) == 2


def test_later_passages_that_do_not_cover_the_question_are_not_quoted(seed_searcher: Searcher):
    ans = answer(seed_searcher, "衢州市副市长是谁？", k=5)
    assert ans.answered
    assert [h.rank for h in ans.hits] == [1]


@pytest.mark.parametrize("question", ["", "   ", "\n\t"])
def test_empty_question_gets_its_status_and_a_chinese_message(seed_searcher: Searcher, question: str):
    ans = answer(seed_searcher, question)
    assert ans.status is Status.EMPTY
    assert not ans.answered
    assert ans.message and CHINESE.search(ans.message)


def test_over_long_question_gets_its_status_and_a_chinese_message(seed_searcher: Searcher):
    ans = answer(seed_searcher, "城" * 6000)
    assert ans.status is Status.TOO_LONG
    assert not ans.answered
    assert ans.message and CHINESE.search(ans.message)
    assert str(MAX_QUESTION_CHARS) in ans.message


def test_question_at_the_length_limit_is_searched(seed_searcher: Searcher):
    question = ("衢州市副市长是谁" * MAX_QUESTION_CHARS)[:MAX_QUESTION_CHARS]
    assert answer(seed_searcher, question).status is not Status.TOO_LONG


def test_question_is_stripped(seed_searcher: Searcher):
    assert answer(seed_searcher, "  衢州市副市长是谁？\n").question == "衢州市副市长是谁？"


def test_more_returns_the_next_passages(seed_searcher: Searcher):
    first = answer(seed_searcher, PARTY, k=2)
    more = answer(seed_searcher, PARTY, k=2, offset=2)
    four = answer(seed_searcher, PARTY, k=4)
    assert [h.passage for h in first.hits + more.hits] == [h.passage for h in four.hits]
    assert [h.rank for h in more.hits] == [3, 4]
    assert more.offset == 2


def test_more_of_a_declined_question_is_still_declined(seed_searcher: Searcher):
    assert answer(seed_searcher, "今天上海的天气怎么样？", offset=3).status is Status.NOT_COVERED


def test_json_shape_of_an_answer(seed_searcher: Searcher):
    data = json.loads(json.dumps(to_json(answer(seed_searcher, OPENING, k=1)), ensure_ascii=False))
    assert data["question"] == OPENING
    assert data["answered"] is True
    (hit,) = data["hits"]
    assert {"text", "title", "source", "file", "paragraph", "score"} <= hit.keys()
    assert (hit["source"], hit["file"], hit["paragraph"]) == ("经济参考报", "000_7b005711537558e1.txt", 3)


def test_json_of_a_declined_answer_has_no_hits():
    data = to_json(Answer("今天上海的天气怎么样？", Status.NOT_COVERED))
    assert (data["answered"], data["hits"]) == (False, [])


def _dated_hit(date: str | None, url: str | None) -> Hit:
    p = Passage(text="三号码头扩建工程今天开工。", title="港口码头扩建", file="a.md", paragraph=1, url=url, date=date)
    return Hit(p, 1.0, 1, ("码头",), 1.0, (), None)


def test_json_hit_carries_the_articles_url_and_date():
    ans = Answer("码头什么时候开工？", Status.ANSWERED, (_dated_hit("2024-03-05", "https://example.org/port"),))
    (hit,) = to_json(ans)["hits"]
    assert (hit["url"], hit["date"]) == ("https://example.org/port", "2024-03-05")


def test_json_hit_without_url_and_date_has_nulls():
    (hit,) = to_json(Answer("问题", Status.ANSWERED, (_dated_hit(None, None),)))["hits"]
    assert (hit["url"], hit["date"]) == (None, None)


def test_json_date_of_a_dateline_without_a_year_is_null():
    (hit,) = to_json(Answer("问题", Status.ANSWERED, (_dated_hit("--10-26", None),)))["hits"]
    assert hit["date"] is None


@pytest.fixture
def empty_searcher(tmp_path) -> Searcher:
    return Library.open(tmp_path, StoreSettings(cache=False)).searcher


def test_question_to_an_empty_corpus_gets_its_status_and_a_chinese_message(empty_searcher: Searcher):
    ans = answer(empty_searcher, "码头什么时候开工？")
    assert (ans.status, ans.hits) == (Status.EMPTY_CORPUS, ())
    assert ans.message is not None and "资料库是空的" in ans.message


def test_searching_an_empty_corpus_finds_nothing_rather_than_failing(empty_searcher: Searcher):
    assert empty_searcher.search("码头什么时候开工？", 3).hits == ()


def test_empty_corpus_message_names_the_folder():
    assert "/data/corpus" in empty_corpus_message("/data/corpus")


def test_json_lists_each_copy_with_its_citation(doubled_searcher: Searcher):
    data = json.loads(json.dumps(to_json(answer(doubled_searcher, OPENING, k=1)), ensure_ascii=False))
    (hit,) = data["hits"]
    assert hit["duplicates"] == [
        {
            "title": "智慧城市建设加速释放数据要素红利",
            "source": "经济参考报",
            "file": SEED_COPY_FILE,
            "paragraph": 3,
            "url": None,
            "date": None,
        }
    ]


def test_json_of_a_text_stored_once_has_no_duplicates(seed_searcher: Searcher):
    assert [h["duplicates"] for h in to_json(answer(seed_searcher, OPENING, k=1))["hits"]] == [[]]


@pytest.mark.parametrize("message", ["？？？", "……", "你好！", "谢谢大家", "请问"])
def test_a_message_with_nothing_to_search_for_gets_the_ask_a_question_prompt(seed_searcher: Searcher, message: str):
    ans = answer(seed_searcher, message)
    assert ans.status is Status.EMPTY
    assert ans.message == MESSAGES[Status.EMPTY] and "请输入一个问题" in ans.message
