"""Conversation around a question (greetings, politeness, filler, particles) is not searched; its content is."""

from __future__ import annotations

import pytest

from wenda.retrieval.chat import clauses, without_chat
from wenda.retrieval.text import Analyzer, normalise

BARE = "北京城市副中心政务服务中心什么时候投入运行？"


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer()


@pytest.mark.parametrize(
    "chatty",
    [
        "请问北京城市副中心政务服务中心什么时候投入运行？",
        "您好！北京城市副中心政务服务中心什么时候投入运行？多谢啦",
        "各位大佬好，想问一下北京城市副中心政务服务中心什么时候投入运行？",
        "不好意思打扰一下，北京城市副中心政务服务中心什么时候投入运行？拜托了",
        "北京城市副中心政务服务中心什么时候投入运行啊？求解答，谢谢大家",
        "有谁知道北京城市副中心政务服务中心什么时候投入运行？在线等，挺急的",
        "北京城市副中心政务服务中心什么时候投入运行？有大神知道吗",  # any of the people after 有
        "能不能告诉我北京城市副中心政务服务中心什么时候投入运行",
        "請問北京城市副中心政務服務中心什麼時候投入運行？謝謝！",
        # A question relayed from someone else, with no comma after the frame: without the opener the
        # frame would stay in the clause that asks.
        "我妈刚才问我北京城市副中心政务服务中心什么时候投入运行？",
        "老师问我们北京城市副中心政务服务中心什么时候投入运行",
        "有人问我北京城市副中心政务服务中心什么时候投入运行？",
        "我女朋友昨天问我北京城市副中心政务服务中心什么时候投入运行？",
    ],
)
def test_chatty_question_has_the_bare_questions_query_tokens(analyzer: Analyzer, chatty: str) -> None:
    assert analyzer.query_tokens(chatty) == analyzer.query_tokens(BARE)


@pytest.mark.parametrize(
    "question",
    [
        "谁获得本年总决赛的最有价值球员奖？",  # 谁 is the question, not a 谁知道
        "哪位学者被称为无线电之父？",
        "请辞教宗是非常少见的吗？",  # 请 of 请辞 is content
        "在线教育的市场规模有多大？",  # 在线 inside a clause is content
        "查理一世是哪一年即位的？",  # 查 opens a name
        "为什么急诊科总是人满为患？",
        "哪里有酒吧？",  # 吧 of 酒吧
        "感谢信是谁写的？",
        # Asking with no one relaying it: 学问 is knowledge, 孔子 asking his students is the subject,
        # 问我是谁 a title.
        "学问我们怎么积累？",
        "孔子问学生仁是什么？",
        "问我是谁的书叫什么？",
    ],
)
def test_content_at_a_clause_edge_is_kept(question: str) -> None:
    normalised = normalise(question)
    assert without_chat(normalised) == normalised


@pytest.mark.parametrize("message", ["你好！", "谢谢大家", "请问", "大家好，在线等，谢谢！"])
def test_a_message_of_nothing_but_chat_has_no_content(analyzer: Analyzer, message: str) -> None:
    assert without_chat(normalise(message)) == ""
    assert analyzer.query_tokens(message) == []


def test_chat_is_replaced_by_a_boundary_so_no_bigram_crosses_it(analyzer: Analyzer) -> None:
    # Without the boundary, 我想知道 + 尤金 would make the bigram 道尤.
    tokens = analyzer.query_tokens("我想知道尤金袋鼠分布在哪些地区")
    assert not any(t.endswith("道尤") for t in tokens)
    assert "袋鼠" in tokens


def test_each_clause_comes_with_the_mark_that_ends_it() -> None:
    assert clauses("一个是自然状态，另一个是？谢谢") == [("一个是自然状态", "，"), ("另一个是", "？"), ("谢谢", "")]
