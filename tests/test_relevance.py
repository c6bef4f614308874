"""The decline rule reads the question, not the talk around it: asides leave the relevance share alone."""

from __future__ import annotations

import pytest

from wenda.bot.answer import answer
from wenda.retrieval.corpus import Passage
from wenda.retrieval.relevance import ASIDE_MAX_CHARS, MIN_RELEVANCE, asides
from wenda.retrieval.search import Searcher
from wenda.retrieval.text import Analyzer, TextSettings, everyday_words

BARE = "北京城市副中心政务服务中心什么时候投入运行？"


def test_a_question_of_one_clause_has_no_asides(seed_searcher: Searcher):
    clauses = seed_searcher.analyzer.query_clauses(BARE)
    slot = seed_searcher.rank(BARE, 1)[0][0]
    assert len(clauses) == 1
    assert asides(seed_searcher.index, clauses, slot) == frozenset()


@pytest.mark.parametrize("aside", ["老师您好，我是新来的，", "我刚入职，", "新人报到："])
def test_an_unknown_aside_leaves_relevance_as_the_bare_question_has_it(seed_searcher: Searcher, aside: str):
    bare = seed_searcher.search(BARE, 1).hits[0]
    chatty = seed_searcher.search(aside + BARE, 1).hits[0]
    assert chatty.passage == bare.passage
    # What the passage holds of the aside (a character) scores and counts in the maximum alike: a hair either way.
    assert chatty.relevance == pytest.approx(bare.relevance, abs=0.03)
    assert answer(seed_searcher, aside + BARE).answered


def test_a_clause_that_asks_always_counts(seed_searcher: Searcher):
    question = "北京城市副中心政务服务中心什么时候投入运行，火星上有水吗？"
    clauses = seed_searcher.analyzer.query_clauses(question)
    slot = seed_searcher.rank(question, 1)[0][0]
    left_out = asides(seed_searcher.index, clauses, slot)
    assert not any("火星" in t for t in left_out)


def test_a_long_clause_the_best_passage_lacks_still_counts(seed_searcher: Searcher):
    # Content, not an aside: longer than a greeting, so the passage's not holding it is evidence.
    question = "量子计算机在密码学领域的最新突破，北京城市副中心政务服务中心什么时候投入运行？"
    bare = seed_searcher.search(BARE, 1).hits[0]
    assert seed_searcher.search(question, 1).hits[0].relevance < bare.relevance


@pytest.mark.parametrize(
    "chatty",
    [
        BARE + "上周开会的时候领导随口提了一句",
        BARE + "我翻了好多网页都没有说清楚",
        "今天早上在公交车上突然想起来，" + BARE,
        BARE + "楼下网友都吵起来了",  # not everyday language, but said after the question mark
    ],
)
def test_a_long_aside_leaves_relevance_as_the_bare_question_has_it(seed_searcher: Searcher, chatty: str):
    clauses = seed_searcher.analyzer.query_clauses(chatty)
    assert any(c.chars > ASIDE_MAX_CHARS and not c.asks for c in clauses)  # longer than the short rule takes
    bare = seed_searcher.search(BARE, 1).hits[0]
    hit = seed_searcher.search(chatty, 1).hits[0]
    assert hit.passage == bare.passage
    assert hit.relevance == pytest.approx(bare.relevance, abs=0.03)
    assert answer(seed_searcher, chatty).answered


@pytest.mark.parametrize(
    "question",
    [
        "1998年世界杯在法国举行的时候，冠军是哪个国家？",  # a number
        "毛泽东在延安的时候，写了哪些文章？",  # names, however frequent
        "量子计算机在密码学领域的最新突破，包括哪些方面？",  # a word outside everyday language
    ],
)
def test_a_long_content_clause_of_an_uncovered_question_is_not_an_aside(seed_searcher: Searcher, question: str):
    clauses = seed_searcher.analyzer.query_clauses(question)
    slot = seed_searcher.rank(question, 1)[0][0]
    left_out = asides(seed_searcher.index, clauses, slot)
    assert not left_out & clauses[0].tokens
    assert not answer(seed_searcher, question).answered


def test_a_clause_after_the_question_mark_is_an_afterthought_whatever_its_words(analyzer: Analyzer):
    clauses = analyzer.query_clauses("他是谁？群里王小明和李华都吵起来了")
    assert [c.afterthought for c in clauses] == [False, True]
    assert not clauses[1].everyday  # names: not everyday, and still an afterthought


def test_an_afterthought_never_makes_an_uncovered_question_answered(seed_searcher: Searcher):
    assert not answer(seed_searcher, "火星上有水吗？楼下网友都吵起来了").answered


def test_a_clause_ended_by_a_question_mark_asks(analyzer: Analyzer):
    clauses = analyzer.query_clauses("汉斯提出了两个学说，一个是自然状态，另一个是？")
    assert [c.asks for c in clauses] == [False, False, True]


@pytest.mark.parametrize("clause", ["在1998年的时候", "一个是「自然状态」", "用python写的时候"])
def test_a_clause_with_a_number_a_latin_word_or_a_quotation_is_specific(analyzer: Analyzer, clause: str):
    first = analyzer.query_clauses(clause + "，谁最有名？")[0]
    assert first.specific


@pytest.mark.parametrize(
    ("question", "quoted"),
    [
        ("「你这次不中，来科必中状元，试作来科状元赋。」这句话是谁说的？", [True, True, True, True]),
        ("“天下兴亡，匹夫有责，此言不虚”出自哪里？", [True, True, True]),
        ('"天下兴亡，匹夫有责，此言不虚"出自哪里？', [True, True, True]),
        ("书里写道《春眠，不觉晓》，后面是什么？", [True, True, False]),
        # A stray closing mark does not leave the clauses after it quoting.
        ("」我刚才看书，突然想到，这是谁写的？", [True, False, False]),
    ],
)
def test_a_clause_inside_a_quotation_is_specific(analyzer: Analyzer, question: str, quoted: list[bool]):
    # The middle clauses of a quotation hold no mark of their own, yet are what the question is about.
    assert [c.specific for c in analyzer.query_clauses(question)] == quoted


def test_everyday_words_are_frequent_words_that_are_not_names():
    words = everyday_words()
    assert {"问题", "老师", "讨论", "晚上"} <= words
    assert not {"日本", "毛泽东", "北京"} & words  # proper nouns, however frequent
    assert "聊天" in words  # jieba's nz ("other proper noun") holds as many common words as names
    assert "猜谜" not in words  # in jieba's dictionary, but rare


def test_an_aspect_particle_jieba_glues_to_an_everyday_verb_is_everyday(analyzer: Analyzer):
    # jieba's cut of 领导随口提了一句 holds 提了, a word its dictionary does not.
    assert analyzer.query_clauses("领导随口提了一句")[0].everyday


def test_a_user_word_is_never_everyday(tmp_path):
    userdict = tmp_path / "userdict.txt"
    userdict.write_text("随口 1000 d\n", encoding="utf-8")
    plain, own = Analyzer(), Analyzer(TextSettings(userdict=userdict))
    assert plain.query_clauses("领导随口说的")[0].everyday
    assert not own.query_clauses("领导随口说的")[0].everyday


def test_a_greeting_before_an_uncovered_question_is_still_declined(seed_searcher: Searcher):
    assert not answer(seed_searcher, "老师您好，我是新来的，今天上海的天气怎么样？").answered
    assert not answer(seed_searcher, "请问怎么用Python写一个快速排序？谢谢！").answered


def test_relevance_threshold_is_the_documented_one():
    assert MIN_RELEVANCE == 0.20


CANAL = Passage(
    "运河公园改造完成后，新增了三条骑行步道和两座观景台，周末游客量增长了一倍。", "运河公园改造完成", "a.txt", 1
)
PORT = Passage("港口三号码头扩建工程今天开工，预计明年投入使用。", "港口码头扩建", "b.txt", 1)


def test_a_corpus_of_one_paragraph_answers_a_question_made_from_it():
    searcher = Searcher.build([CANAL])
    ans = answer(searcher, "运河公园新增了几条骑行步道？")
    assert ans.answered and ans.hits[0].passage == CANAL


def test_a_corpus_of_one_paragraph_still_declines_what_it_does_not_cover():
    assert not answer(Searcher.build([CANAL]), "今天上海的天气怎么样？").answered


def test_a_corpus_of_two_paragraphs_quotes_the_one_that_holds_the_question_first():
    searcher = Searcher.build([CANAL, PORT])
    for question, wanted in [("运河公园新增了几条骑行步道？", CANAL), ("三号码头什么时候开工？", PORT)]:
        ans = answer(searcher, question)
        assert ans.answered and ans.hits[0].passage == wanted
    assert not answer(searcher, "怎么用Python写一个快速排序？").answered


# A corpus where an everyday aside's words belong to another passage: 考试季 holds 最近, 准备, 考试.
_MUSEUM = [
    ("西湖博物馆", "西湖博物馆于2005年对外开放，收藏文物三千多件。"),
    ("考试季", "最近准备考试的学生很多，考试前一个月大家都在图书馆看书准备，博物馆也对学生开放。"),
    ("天气", "杭州今年夏天的天气十分炎热，最高气温接近四十度。"),
    ("交通", "杭州地铁一号线连接城站和下沙，每天运送乘客数十万人次。"),
    ("美食", "西湖醋鱼是杭州的名菜，用草鱼做成，味道酸甜。"),
    ("茶叶", "龙井茶产于西湖周边的山区，以色绿、香郁、味甘、形美著称。"),
]
_MUSEUM_QUESTION = "西湖博物馆什么时候对外开放？"


@pytest.fixture(scope="module")
def museum() -> Searcher:
    return Searcher.build([Passage(text, title, "museum.txt", n) for n, (title, text) in enumerate(_MUSEUM, 1)])


@pytest.mark.parametrize(
    "aside",
    [
        "我最近在准备一个考试，",
        "各位好，我们班最近准备考试，",
        # 西湖博物馆 holds 收藏 too, but not what the clause is about (旧报纸): a word in common is chance.
        "我家收藏了很多旧报纸，",
    ],
)
def test_an_aside_neither_lifts_the_passages_holding_its_words_nor_lowers_the_relevance(museum: Searcher, aside: str):
    bare = museum.search(_MUSEUM_QUESTION, 2).hits
    chatty = museum.search(aside + _MUSEUM_QUESTION, 2).hits
    assert [h.passage.title for h in bare] == ["西湖博物馆", "考试季"]
    assert [h.passage.title for h in chatty] == ["西湖博物馆", "考试季"]
    assert [h.relevance for h in chatty] == pytest.approx([h.relevance for h in bare], abs=1e-9)
    assert museum.rank(aside + _MUSEUM_QUESTION, 2) == museum.rank(_MUSEUM_QUESTION, 2)  # eval's ranking too
    assert museum.ranked(aside + _MUSEUM_QUESTION, 1)[0].tokens == museum.ranked(_MUSEUM_QUESTION, 1)[0].tokens


@pytest.mark.parametrize(
    ("clause", "kind", "word"),
    [
        # 收藏文物 is everyday, not a question, and 西湖博物馆 holds it: content after all.
        ("收藏文物的时候，", "everyday", "文物"),
        # 收藏文物 is what 西湖博物馆 does: the clause, asked alone of that passage, would be answered.
        ("我很喜欢收藏文物，", "personal", "文物"),
        # In the third person it may be the question's own context (战争结束以后): only its share of
        # the maximum is excused.
        ("最近准备考试的时候，", "everyday", "考试"),
    ],
)
def test_a_clause_that_is_content_or_may_be_context_stays_in_the_ranking(
    museum: Searcher, clause: str, kind: str, word: str
):
    question = clause + _MUSEUM_QUESTION
    assert getattr(museum.analyzer.query_clauses(question)[0], kind)
    query, _ = museum.ranked(question, 1)
    assert word in query.tokens


@pytest.mark.parametrize("clause", ["有个同事说", "昨晚睡不着", "我查了好多资料也没找到", "家长群里有人说起"])
def test_a_word_jieba_glues_to_a_function_character_is_everyday(analyzer: Analyzer, clause: str):
    # 有个, 我查 and 群里 are no dictionary words, 睡不着 a rare one: jieba glued 有 to 个, 我 to 查, 睡 to
    # 不着, and the locative 里 to 群.
    assert analyzer.query_clauses(clause + "，他是谁？")[0].everyday


@pytest.mark.parametrize(
    "clause", ["我表弟让我帮他查查", "今天刷题遇到的", "刚才突然冒出来一个疑问", "我手机打字不方便见谅"]
)
def test_talk_of_the_askers_here_and_now_may_hold_a_few_rare_words(analyzer: Analyzer, clause: str):
    # 查查, 刷题, 冒出来, 打字 and 见谅 are rare in jieba's dictionary (written Chinese of decades ago),
    # common in chat; 打字 and 见谅 are two of the four words of their clause.
    assert analyzer.query_clauses(clause + "，他是谁？")[0].everyday


@pytest.mark.parametrize(
    "clause",
    [
        "刚才刷题刷到密码学",  # more rare words (刷题, 刷到, 密码学) than everyday ones (刚才)
        "今天在北京遇到的",  # a name, never talk around the question
        # A rare word in the third person, in a clause the question leans on (他是谁 points back to
        # it): the question's context.
        "夹杂猜谜或其他成分",
    ],
)
def test_rare_words_are_let_through_only_among_as_many_everyday_ones_in_talk(analyzer: Analyzer, clause: str):
    assert not analyzer.query_clauses(clause + "，他是谁？")[0].everyday


def test_a_user_word_is_never_let_through(tmp_path):
    userdict = tmp_path / "userdict.txt"
    userdict.write_text("刷题 5 v\n", encoding="utf-8")  # the corpus's own word: content
    assert Analyzer().query_clauses("今天刷题遇到的，他是谁？")[0].everyday
    assert not Analyzer(TextSettings(userdict=userdict)).query_clauses("今天刷题遇到的，他是谁？")[0].everyday


def test_the_traditional_aspect_particle_is_read_as_everyday(analyzer: Analyzer):
    # OpenCC turns 閒著 into 闲著, not 闲着: the particle 着 is written 著 in Traditional Chinese.
    assert analyzer.query_clauses("閒著沒事想到的：他是誰？")[0].everyday


@pytest.mark.parametrize("clause", ["韩遂死后", "茨柏克沃来访的那年", "密码学很热门", "王小明去北京的那年"])
def test_a_made_up_or_rare_word_without_a_function_character_is_not_everyday(analyzer: Analyzer, clause: str):
    # A name jieba's HMM makes up (韩遂), a transliteration, a rare term, a name in its dictionary. 他是谁
    # points back to the clause, so not one rare word is let through (Clause.apart).
    assert not analyzer.query_clauses(clause + "，他是谁？")[0].everyday


@pytest.mark.parametrize(
    "clause", ["周末带孩子逛博物馆被问住了", "开会间隙摸鱼问一句", "和同桌打赌输了一顿饭", "追剧追到一半冒出个问题"]
)
def test_a_scene_standing_apart_from_the_question_may_hold_a_few_rare_words(analyzer: Analyzer, clause: str):
    # 问住, 摸鱼, 同桌, 追剧 and 追到 are rare in jieba's dictionary; nothing in the clause is the
    # question's: the question after it has a subject of its own, and the clause sets no time of the
    # subject's.
    first = analyzer.query_clauses(clause + "，黄河的源头在哪里？")[0]
    assert first.apart and first.everyday


def test_a_scene_of_mostly_rare_words_is_not_everyday(analyzer: Analyzer):
    # 刷题, 刷到 and 密码学 against one everyday word: what the clause says is not talk.
    first = analyzer.query_clauses("刷题刷到密码学，黄河的源头在哪里？")[0]
    assert first.apart and not first.everyday


@pytest.mark.parametrize(
    "question",
    [
        "香肠和鹅肝酱也发展起来，这是哪一个行业？",  # the question points back to it (这是)
        "夹杂猜谜或其他成分，归入什么类型的节目？",  # the question has no subject of its own (归入…)
        "新式驱逐舰大量出现以后，英国用哪一级战舰护航？",  # it sets the subject's time (…以后)
    ],
)
def test_a_clause_the_question_leans_on_is_not_apart(analyzer: Analyzer, question: str):
    assert not analyzer.query_clauses(question)[0].apart


@pytest.mark.parametrize(
    "question",
    ["位于卢押道的很多酒吧其客群大部分为？", "采用这种思想的都市规划于何时结束？", "成立于上海的那所学校叫什么？"],
)
def test_a_question_whose_verb_opens_its_own_subject_leans_on_nothing(analyzer: Analyzer, question: str):
    # 位于…的酒吧 is the question's subject, told by a relative clause: the scene before it stands apart.
    clauses = analyzer.query_clauses("周末带孩子逛博物馆被问住了，" + question)
    assert clauses[0].apart and clauses[0].everyday
    # The same verb with what is asked before its 的 has no subject of its own: it leans.
    assert not analyzer.query_clauses("夹杂猜谜或其他成分，归入什么类型的节目？")[0].apart


def test_characters_of_an_aside_the_passage_holds_by_chance_do_not_move_the_relevance(museum: Searcher):
    # 西湖博物馆's text holds 三, 件 and 外 (三千多件, 对外开放): they neither add to its score nor stay in
    # the maximum, so the chatty question is judged exactly as the bare one.
    chatty = "周末出门买了三件外套，" + _MUSEUM_QUESTION
    bare, hit = museum.search(_MUSEUM_QUESTION, 1).hits[0], museum.search(chatty, 1).hits[0]
    assert hit.passage == bare.passage
    assert hit.relevance == pytest.approx(bare.relevance, abs=1e-9)
    assert museum.top_relevance(chatty) == pytest.approx(bare.relevance, abs=1e-9)  # eval's reading too


def test_a_scene_standing_apart_leaves_the_relevance_as_the_bare_question_has_it(museum: Searcher):
    # 摸鱼 is rare, and 西湖博物馆 is not about the asker's afternoon: the clause is left out of the maximum.
    chatty = "开会间隙摸鱼问一句，" + _MUSEUM_QUESTION
    assert museum.analyzer.query_clauses(chatty)[0].apart
    bare, hit = museum.search(_MUSEUM_QUESTION, 1).hits[0], museum.search(chatty, 1).hits[0]
    assert hit.passage == bare.passage
    assert hit.relevance == pytest.approx(bare.relevance, abs=1e-9)
    # Read as context instead (the question leaning on it), the same words lower the relevance.
    leaning = museum.search("开会间隙摸鱼问一句，其中" + _MUSEUM_QUESTION, 1).hits[0]
    assert leaning.relevance < bare.relevance - 0.05
