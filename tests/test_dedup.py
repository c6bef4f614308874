"""Copies quoted once: what counts as a copy of a passage, and how search groups the copies it ranks."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SEED_COPY_FILE, SEED_CORPUS, SEED_FILE
from hypothesis import example, given
from hypothesis import strategies as st

from wenda.bot.answer import answer
from wenda.retrieval import dedup
from wenda.retrieval.dedup import MIN_SIMILARITY, copies, group, shingles, similarity
from wenda.retrieval.search import Searcher
from wenda.retrieval.store import Library, StoreSettings
from wenda.retrieval.text import normalise

OPENING = "北京城市副中心政务服务中心什么时候投入运行？"
OPENING_PASSAGE_START = "2021年9月,北京城市副中心政务服务中心正式投入运行。"
PARTY = "学习贯彻党的二十大精神"
GOLD = (
    "2021年9月,北京城市副中心政务服务中心正式投入运行。该中心推进政务服务与5G、区块链、大数据、物联网、"
    "人工智能等技术的融合创新,配备了50多台智能政务终端设备,通过“云窗口”系统建设,以位于六里桥的北京市政务"
    "服务中心为审批总后台,打造“数据共享、信息复用、远程交互”三位一体的新模式。"
)
# A long sentence that two genuinely different paragraphs both quote.
SHARED = "国务院新闻办公室今天上午举行新闻发布会，介绍二〇二三年全国粮食生产和重要农产品供给的总体情况。"
HARVEST = SHARED + "发布会上，农业农村部负责人表示，今年夏粮小麦亩产创历史新高，秋粮面积稳中有增，东北玉米长势良好。"
FISHERY = SHARED + "水产养殖方面，渔业部门介绍，沿海各省推广深远海养殖平台，淡水鱼价格总体平稳，稻渔综合种养面积扩大。"


def reworded(text: str) -> str:
    """text with its punctuation changed (full-width, some dropped) and two characters changed."""
    punctuation = text.replace(",", "，").replace("。", "．").replace("、", "")
    return punctuation.replace("50多台", "60多台").replace("六里桥", "六里庄")


def test_copy_with_changed_punctuation_and_two_characters_is_a_copy():
    changed = reworded(GOLD)
    assert changed != GOLD
    assert copies(shingles(GOLD), shingles(changed))


def test_punctuation_and_whitespace_alone_do_not_count():
    assert similarity(shingles(GOLD), shingles(GOLD.replace(",", "， ").replace("。", "\n"))) == 1.0


def test_traditional_and_full_width_copy_is_a_copy():
    simplified = "北京城市副中心政务服务中心于2021年9月正式投入运行，配备了50多台智能政务终端设备。"
    traditional = "北京城市副中心政務服務中心於２０２１年９月正式投入運行，配備了５０多台智能政務終端設備。"
    assert similarity(shingles(simplified), shingles(traditional)) == 1.0


def test_paragraphs_sharing_a_long_sentence_are_not_copies():
    assert len(SHARED) >= 40
    assert not copies(shingles(HARVEST), shingles(FISHERY))
    assert similarity(shingles(HARVEST), shingles(FISHERY)) < MIN_SIMILARITY / 2


def test_short_passages_differing_in_a_name_are_not_copies():
    assert not copies(shingles("本报记者 张三"), shingles("本报记者 李四"))


def test_copies_join_the_best_ranked_group_in_rank_order():
    a, b = shingles(HARVEST), shingles(FISHERY)
    a2 = shingles(HARVEST.replace("，", ","))
    assert group([a, b, a2, b, a]) == [[0, 2, 4], [1, 3]]


# -- search and answer over a corpus holding the seed file twice ---------------------------------


def texts(ans) -> list[str]:
    return [h.passage.text for h in ans.hits]


def test_seed_stored_twice_is_quoted_as_three_different_texts(doubled_searcher: Searcher):
    ans = answer(doubled_searcher, PARTY, k=3)
    assert len(ans.hits) == 3
    assert len(set(texts(ans))) == 3
    for hit in ans.hits:
        assert [(p.file, p.paragraph, p.text) for p in hit.duplicates] == [
            (SEED_COPY_FILE, hit.passage.paragraph, hit.passage.text)
        ]


def test_the_quoted_copy_is_the_best_ranked_one(doubled_searcher: Searcher):
    ans = answer(doubled_searcher, OPENING)
    ranked = doubled_searcher.search(OPENING, k=2)
    assert ans.hits[0].passage == ranked.hits[0].passage
    assert ans.hits[0].duplicates == (ranked.hits[1].passage,)


def test_ranks_count_texts_not_copies(doubled_searcher: Searcher):
    assert [h.rank for h in answer(doubled_searcher, PARTY, k=3).hits] == [1, 2, 3]


def test_more_continues_past_the_copies(doubled_searcher: Searcher):
    first = answer(doubled_searcher, PARTY, k=3)
    more = answer(doubled_searcher, PARTY, k=3, offset=3)
    six = answer(doubled_searcher, PARTY, k=6)
    shown = {p.text for h in first.hits for p in (h.passage, *h.duplicates)}
    assert len(more.hits) == 3
    assert not shown & {p.text for h in more.hits for p in (h.passage, *h.duplicates)}
    assert [h.passage for h in first.hits + more.hits] == [h.passage for h in six.hits]
    assert [h.rank for h in more.hits] == [4, 5, 6]


def test_decline_still_reads_the_best_passage(doubled_searcher: Searcher):
    assert not answer(doubled_searcher, "今天上海的天气怎么样？").answered


def test_plain_search_still_ranks_every_copy(doubled_searcher: Searcher):
    hits = doubled_searcher.search(OPENING, k=2).hits
    assert hits[0].passage.text == hits[1].passage.text
    assert all(h.duplicates == () for h in hits)


@pytest.fixture(scope="module")
def reworded_copy(tmp_path_factory: pytest.TempPathFactory) -> Searcher:
    """The seed file and a copy of it under another name with punctuation and two characters changed."""
    root = tmp_path_factory.mktemp("reworded") / "corpus"
    root.mkdir()
    seed = (SEED_CORPUS / SEED_FILE).read_text(encoding="utf-8")
    (root / SEED_FILE).write_text(seed, encoding="utf-8")
    (root / "republished.txt").write_text(reworded(seed), encoding="utf-8")
    return Library.open(root, StoreSettings(cache=False)).searcher


def test_copy_with_changed_punctuation_and_characters_is_grouped(reworded_copy: Searcher):
    ans = answer(reworded_copy, OPENING)
    top = ans.hits[0]
    assert top.passage.text.startswith(OPENING_PASSAGE_START)
    assert [p.file for p in top.duplicates] == ["republished.txt"]
    assert "60多台" in top.duplicates[0].text
    assert len(set(texts(ans))) == len(ans.hits)


def test_paragraphs_sharing_a_long_sentence_are_both_quoted(tmp_path: Path, fast_jieba: None):
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "harvest.txt").write_text(f"粮食生产情况\n{HARVEST}\n", encoding="utf-8")
    (root / "fishery.txt").write_text(f"水产供给情况\n{FISHERY}\n", encoding="utf-8")
    filler = "\n".join(f"第{i}条消息：本市图书馆第{i}期改造工程完工，新增阅览座位{i}百个。" for i in range(1, 9))
    (root / "filler.txt").write_text(f"本市简讯\n{filler}\n", encoding="utf-8")
    searcher = Library.open(root, StoreSettings(cache=False)).searcher
    ans = answer(searcher, "国务院新闻办公室举行新闻发布会介绍全国粮食生产和重要农产品供给情况", k=3)
    assert {h.passage.text for h in ans.hits[:2]} == {HARVEST, FISHERY}
    assert all(h.duplicates == () for h in ans.hits)


def _string_shingles(text: str) -> set[str]:
    """The measure as defined: the set of 3-character strings of the normalised alphanumerics."""
    kept = "".join(ch for ch in normalise(text) if ch.isalnum())
    return {kept[i : i + 3] for i in range(len(kept) - 2)} if len(kept) > 3 else ({kept} if kept else set())


@given(
    st.text(alphabet="春天来了花开鸟鸣，。Ab1 \U0001f600", max_size=30),
    st.text(alphabet="春天来了花开鸟鸣，。Ab1", max_size=30),
)
@example("", "。")
@example("ab", "abc")
def test_packed_shingles_give_the_jaccard_of_the_string_shingles(a: str, b: str):
    x, y = _string_shingles(a), _string_shingles(b)
    expected = 1.0 if not x and not y else len(x & y) / len(x | y)
    assert similarity(shingles(a), shingles(b)) == expected


@given(st.lists(st.text(alphabet="春天来了花开，Ab", max_size=12), max_size=12), st.sampled_from([0.5, 0.8]))
def test_grouping_compares_each_two_passages_by_their_shingles(texts: list[str], threshold: float):
    sets = [shingles(t) for t in texts]
    expected: list[list[int]] = []
    for i, mine in enumerate(sets):
        home = next((g for g in expected if any(copies(mine, sets[j], threshold) for j in g)), None)
        if home is None:
            expected.append([i])
        else:
            home.append(i)
    assert group(sets, threshold) == expected


def test_a_huge_passage_is_grouped_pair_by_pair_alike(monkeypatch: pytest.MonkeyPatch):
    texts = [HARVEST, FISHERY, HARVEST.replace("，", ","), FISHERY[:-3], ""]
    dense = group([shingles(t) for t in texts])
    monkeypatch.setattr(dedup, "_DENSE_MAX", 0)
    assert group([shingles(t) for t in texts]) == dense == [[0, 2], [1, 3], [4]]
