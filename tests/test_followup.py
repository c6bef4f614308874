"""A question read with its conversation: a follow-up borrows the earlier subject, a new subject stands alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import wenda

from wenda.bot.answer import Status, answer
from wenda.bot.cli import NEW_CONVERSATION
from wenda.bot.evaluate import evaluate, load_squad
from wenda.retrieval.corpus import Passage
from wenda.retrieval.followup import SUPPORT_DEPTH, is_follow_up, read_follow_up, references, supported_top_k
from wenda.retrieval.search import Searcher

# Three subjects that share their predicates (开放, 多长, 修建), so a question without its subject
# could be about any of them, and some filler so that every word has a positive idf.
ARTICLES = {
    "黄河大桥": [
        "黄河大桥全长三千二百米，是当地最长的公路桥。",
        "黄河大桥的步行道每天早上六点开放，晚上十点关闭。",
        "黄河大桥于一九九八年开始修建，两年后通车。",
    ],
    "西湖博物馆": [
        "西湖博物馆收藏文物三千余件，以宋代瓷器最为有名。",
        "西湖博物馆每周二至周日上午九点开放，周一闭馆。",
        "西湖博物馆于二〇〇五年开始修建，展厅面积一万平方米。",
    ],
    "青松图书馆": [
        "青松图书馆藏书四十万册，设有少儿阅览室。",
        "青松图书馆每天上午八点半开放，节假日照常开馆。",
        "青松图书馆于二〇一二年开始修建，由社区居民捐款建成。",
    ],
    "城市公交": [
        "城市公交新开通三条夜班线路，票价两元。",
        "公交车站增设了电子站牌，可以查询到站时间。",
    ],
}
BRIDGE_OPENING = ARTICLES["黄河大桥"][1]
MUSEUM_OPENING = ARTICLES["西湖博物馆"][1]


@pytest.fixture(scope="module")
def searcher() -> Searcher:
    passages = [
        Passage(text, title, "test", number)
        for title, texts in ARTICLES.items()
        for number, text in enumerate(texts, start=1)
    ]
    return Searcher.build(passages)


def test_a_pronoun_follow_up_finds_the_earlier_subjects_passage(searcher: Searcher):
    ans = answer(searcher, "它什么时候开放？", context=["黄河大桥有多长？"])
    assert ans.status is Status.ANSWERED
    assert ans.hits[0].passage.text == BRIDGE_OPENING


def test_a_demonstrative_follow_up_finds_the_earlier_subjects_passage(searcher: Searcher):
    ans = answer(searcher, "该馆什么时候开放？", context=["西湖博物馆收藏了多少文物？"])
    assert ans.hits[0].passage.text == MUSEUM_OPENING


def test_a_ne_question_asks_the_earlier_question_of_its_new_subject(searcher: Searcher):
    ans = answer(searcher, "那西湖博物馆呢？", context=["黄河大桥什么时候开放？"])
    assert ans.hits[0].passage.text == MUSEUM_OPENING


def test_the_latest_earlier_question_gives_the_subject(searcher: Searcher):
    ans = answer(searcher, "它什么时候开放？", context=["西湖博物馆收藏了多少文物？", "黄河大桥有多长？"])
    assert ans.hits[0].passage.text == BRIDGE_OPENING


def test_a_follow_up_naming_a_new_subject_is_not_dragged_to_the_old_one(searcher: Searcher):
    question = "西湖博物馆什么时候开放？"
    ans = answer(searcher, question, context=["黄河大桥有多长？", "黄河大桥什么时候开始修建？"])
    assert ans.hits[0].passage.text == MUSEUM_OPENING
    assert all(h.passage.title != "黄河大桥" for h in ans.hits)
    assert read_follow_up(searcher.analyzer, question, ["黄河大桥有多长？"]) is None


def test_no_context_answers_exactly_as_before(searcher: Searcher):
    question = "黄河大桥什么时候开放？"
    query, ranked = searcher.ranked(question, 3)
    assert list(query.tokens) == searcher.analyzer.query_tokens(question)
    assert ranked == searcher.top_k(query.tokens, 3)
    assert answer(searcher, question, context=()) == answer(searcher, question)


def test_a_follow_up_of_a_question_the_corpus_does_not_cover_is_declined(searcher: Searcher):
    assert answer(searcher, "它明天呢？", context=["今天上海的天气怎么样？"]).status is Status.NOT_COVERED


def test_a_chain_of_follow_ups_keeps_the_first_subject(searcher: Searcher):
    ans = answer(searcher, "它什么时候开始修建？", context=["西湖博物馆收藏了多少文物？", "它什么时候开放？"])
    assert ans.hits[0].passage.text == ARTICLES["西湖博物馆"][2]


def test_borrowed_terms_count_once_and_typed_terms_twice(searcher: Searcher):
    analyzer = searcher.analyzer
    follow_up = read_follow_up(analyzer, "它什么时候开放？", ["黄河大桥有多长？"])
    assert follow_up is not None
    assert follow_up.tokens.count("开放") == 2
    assert follow_up.tokens.count("大桥") == 1


@pytest.mark.parametrize(
    ("question", "refers"),
    [
        ("它什么时候开放？", ["它"]),
        ("其叶柄有什么特点？", ["其"]),
        ("该市平均每10平方公里有几十人？", ["该市"]),
        ("这位作家写过什么？", ["这位"]),
        ("其他国家的情况如何？", []),
        # jieba glues a pronoun to the word after it when it has no word for the pair: the
        # pronoun still refers when it opens a clause, and what was glued to it stays typed.
        ("其花是什么颜色？", ["其花"]),
        ("它会在几点开放？", ["它会"]),
        ("电车其路道在哪里？", []),
        ("应该怎么申请？", []),
        ("此外还有哪些景点？", []),
    ],
)
def test_reference_words_are_found_and_look_alikes_are_not(searcher: Searcher, question: str, refers: list[str]):
    assert references(searcher.analyzer, question) == refers


@pytest.mark.parametrize("question", ["还有呢？", "为什么？", "那西湖博物馆呢？", "它有多长？"])
def test_questions_that_leave_their_subject_out_are_follow_ups(searcher: Searcher, question: str):
    assert is_follow_up(searcher.analyzer, question)


def test_a_question_with_its_own_subject_is_not_a_follow_up(searcher: Searcher):
    assert not is_follow_up(searcher.analyzer, "西湖博物馆什么时候开放？")


def test_what_jieba_glued_to_a_pronoun_stays_in_the_typed_question(searcher: Searcher):
    follow_up = read_follow_up(searcher.analyzer, "其花是什么颜色？", ["西湖博物馆收藏了多少文物？"])
    assert follow_up is not None
    assert any("花" in token for token in follow_up.typed)
    assert not any("其" in token for token in follow_up.typed)


def test_a_passage_holding_none_of_the_typed_words_is_not_supported_however_common_they_are():
    # 开放 is in more passages than the veto compares: a passage outside the typed words' own
    # ranking must still be checked, not assumed to hold them.
    filler = [Passage(f"第{n}号展厅每天开放，欢迎参观。", f"展厅{n}", "test", 1) for n in range(SUPPORT_DEPTH + 50)]
    subject = [
        Passage("龙井茶园位于杭州西湖西南，种植龙井茶已有一千二百多年，龙井茶园闻名全国。", "龙井茶园", "test", 1),
        Passage("龙井茶园的采茶季在清明前后。", "龙井茶园", "test", 2),
    ]
    searcher = Searcher.build([*filler, *subject])
    follow_up = read_follow_up(searcher.analyzer, "这里什么时候开放？", ["龙井茶园种植龙井茶多少年了？"])
    assert follow_up is not None
    ranked = supported_top_k(searcher.index, follow_up, 3)
    assert ranked is None or all("开放" in searcher.passages[slot].text for slot, _ in ranked[:1])


def test_eval_asks_a_question_after_its_context(tmp_path: Path):
    passages = [
        {"context": text, "qas": [{"id": f"{title}{n}", "question": "它什么时候开放？", "answers": []}]}
        for title, texts in ARTICLES.items()
        for n, text in enumerate(texts)
        if text in (BRIDGE_OPENING, MUSEUM_OPENING)
    ]
    passages[0]["qas"][0]["context"] = ["黄河大桥有多长？"]
    passages[1]["qas"][0]["context"] = ["西湖博物馆收藏了多少文物？"]
    filler = [
        {"context": t, "qas": []} for title, texts in ARTICLES.items() for t in texts if t not in ARTICLES["黄河大桥"]
    ]
    path = tmp_path / "followups.json"
    data = {
        "data": [{"title": "黄河大桥", "paragraphs": passages[:1]}, {"title": "西湖博物馆", "paragraphs": passages[1:]}]
    }
    data["data"].append({"title": "其他", "paragraphs": filler})
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    eval_set = load_squad(path)
    assert [q.context for q in eval_set.questions] == [("黄河大桥有多长？",), ("西湖博物馆收藏了多少文物？",)]
    assert evaluate(eval_set)["recall@1"] == 1.0


def _session(corpus: Path, lines: list[str]) -> str:
    return wenda("--corpus", str(corpus), cwd=corpus.parent, stdin="".join(f"{line}\n" for line in lines)).stdout


def test_new_starts_a_fresh_conversation_in_the_interactive_session(tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for n, (title, texts) in enumerate(ARTICLES.items()):
        (corpus / f"{n}.txt").write_text("\n".join([title, *texts]) + "\n", encoding="utf-8")
    first = _session(corpus, ["黄河大桥有多长？"])
    follow_up = _session(corpus, ["黄河大桥有多长？", "它什么时候开放？"])[len(first) :]
    openings = [texts[1] for texts in ARTICLES.values()]
    quoted = sorted((follow_up.find(t), t) for t in openings if t in follow_up)
    assert quoted[0][1] == BRIDGE_OPENING
    fresh = _session(corpus, ["黄河大桥有多长？", NEW_CONVERSATION, "它什么时候开放？"])
    assert "已开始新的对话" in fresh
    alone = _session(corpus, ["它什么时候开放？"])
    assert fresh.endswith(alone)
