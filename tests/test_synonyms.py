"""corpus/synonyms.txt: its rules, how a question is searched with them, and their reload while running."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from wenda.retrieval.cache import CACHE_DIR
from wenda.retrieval.corpus import is_article_file
from wenda.retrieval.relevance import MIN_RELEVANCE, declined
from wenda.retrieval.store import Library, Refresh, StoreSettings
from wenda.retrieval.synonyms import SYNONYMS_NAME, Synonyms
from wenda.retrieval.watch import CorpusWatcher

pytestmark = pytest.mark.usefixtures("fast_jieba")

TIMEOUT = 10.0
YANYUAN = "燕园的图书馆藏书有多少册？"

ARTICLES = {
    "pku.txt": "北京大学图书馆\n\n北京大学图书馆是中国最早的现代图书馆之一，藏书约八百万册，位于校园中心。",
    "city.txt": "城市图书馆\n\n市图书馆每天开放十二小时，图书馆的藏书供市民免费借阅，办证只需身份证。",
    "tsinghua.txt": "清华大学的历史\n\n清华大学始建于1911年，校园内有很多古建筑，是著名的学府。",
    "summer.txt": "颐和园\n\n颐和园是清代的皇家园林，位于北京西郊，园内有昆明湖和万寿山。",
    "pc.txt": "电脑的价格\n\n这台电脑的价格很便宜，商店里天天有人来买。",
    "computer.txt": "计算机的价格\n\n这台计算机的价格很便宜，商店里天天有人来买。",
    "tomato.txt": "番茄的种植\n\n番茄喜欢阳光，春天播种，夏天就能收获。",
    "rain.txt": "南方的雨季\n\n南方的雨季从五月开始，空气潮湿，衣服很难晾干。",
}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    for name, text in ARTICLES.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


def open_with(root: Path, rules: str | None, cache: bool = False) -> Library:
    if rules is not None:
        (root / SYNONYMS_NAME).write_text(rules, encoding="utf-8")
    return Library.open(root, StoreSettings(cache=cache))


def top_file(library: Library, question: str) -> str:
    return library.searcher.search(question).hits[0].passage.file


# -- the file's format ------------------------------------------------------------------------


def test_equivalent_terms_each_add_the_others():
    synonyms = Synonyms.parse("燕园, 北京大学, 北大")
    assert synonyms.rules == {"燕园": ("北京大学", "北大"), "北京大学": ("燕园", "北大"), "北大": ("燕园", "北京大学")}
    assert synonyms.count == 1


def test_a_one_way_rule_adds_its_right_side_to_its_left_side_only():
    synonyms = Synonyms.parse("番茄, 洋柿子 => 西红柿, 西红柿儿")
    assert synonyms.rules == {"番茄": ("西红柿", "西红柿儿"), "洋柿子": ("西红柿", "西红柿儿")}


def test_comments_blank_lines_and_spaces_around_terms_are_ignored():
    synonyms = Synonyms.parse("# 学校的别名\n\n   \n  燕园 ,   北京大学  \n# 番茄, 西红柿\n")
    assert synonyms.rules == {"燕园": ("北京大学",), "北京大学": ("燕园",)}
    assert synonyms.count == 1
    assert synonyms.problems == ()


def test_bad_lines_are_named_by_line_number_and_the_rest_load():
    text = "燕园, 北京大学\na =>\n=> b\n, ,\n孤单\na => b => c\n番茄 => 西红柿\n"
    synonyms = Synonyms.parse(text)
    assert [str(p) for p in synonyms.problems] == [
        "synonyms.txt:2: nothing after =>",
        "synonyms.txt:3: nothing before =>",
        "synonyms.txt:4: no terms",
        "synonyms.txt:5: one term, nothing to be equivalent to",
        "synonyms.txt:6: more than one =>",
    ]
    assert synonyms.count == 2
    assert set(synonyms.rules) == {"燕园", "北京大学", "番茄"}


def test_rules_are_normalised_like_questions():
    synonyms = Synonyms.parse("燕園, 北京大學\nＡＩ => 人工智能")
    assert set(synonyms.rules) == {"燕园", "北京大学", "ai"}


def test_the_longest_rule_is_found_and_matches_never_overlap():
    synonyms = Synonyms.parse("北大, 北京大学\n北大附中, 北京大学附属中学\n附中, 附属中学")
    assert synonyms.find("北大附中在哪里") == [(0, 4, "北大附中")]
    assert synonyms.find("北大和附中") == [(0, 2, "北大"), (3, 5, "附中")]


def test_a_latin_rule_matches_only_a_whole_word():
    synonyms = Synonyms.parse("ai, 人工智能")
    assert synonyms.find("email地址是什么") == []
    assert synonyms.find("ai是什么") == [(0, 2, "ai")]


def test_an_undecodable_file_is_reported_not_raised():
    synonyms = Synonyms.read(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 20)
    assert synonyms.rules == {}
    assert len(synonyms.problems) == 1 and synonyms.problems[0].file == SYNONYMS_NAME


# -- searching with them ----------------------------------------------------------------------


def test_an_abbreviation_finds_the_passage_naming_the_full_name(corpus: Path):
    without = open_with(corpus, None).searcher.search(YANYUAN).hits
    library = open_with(corpus, "燕园, 北京大学\n")
    hits = library.searcher.search(YANYUAN).hits
    assert hits[0].passage.file == "pku.txt"
    assert not declined(hits[0].relevance)
    pku_before = next(h for h in without if h.passage.file == "pku.txt")
    assert hits[0].score > pku_before.score  # the rule added to it: 北京大学 is searched too


def test_a_one_way_rule_does_not_apply_backwards(corpus: Path):
    (corpus / "xihongshi.txt").write_text("西红柿\n\n西红柿是一种常见的蔬菜。", encoding="utf-8")
    library = open_with(corpus, "番茄 => 西红柿\n")
    assert library.searcher.query("番茄是什么").added != ()
    assert library.searcher.query("西红柿是什么").added == ()
    assert "tomato.txt" not in [h.passage.file for h in library.searcher.search("西红柿是什么").hits]


def test_the_typed_word_outweighs_its_expansion(corpus: Path):
    library = open_with(corpus, "电脑, 计算机\n")
    # pc.txt and computer.txt differ only in the word: each question ranks its own word's passage first.
    assert [h.passage.file for h in library.searcher.search("电脑的价格是多少").hits[:2]] == ["pc.txt", "computer.txt"]
    assert [h.passage.file for h in library.searcher.search("计算机的价格是多少").hits[:2]] == [
        "computer.txt",
        "pc.txt",
    ]


def test_a_long_expansion_does_not_outweigh_a_short_typed_word(corpus: Path):
    # 中国信息通信研究院 has far more tokens than 信通院; counted once each they would still outscore
    # the typed word's (measured: without scaling the typed tokens, long.txt came first).
    (corpus / "short.txt").write_text("行业报告\n\n信通院今天发布了一份行业报告。", encoding="utf-8")
    (corpus / "long.txt").write_text("行业报告\n\n中国信息通信研究院今天发布了一份行业报告。", encoding="utf-8")
    library = open_with(corpus, "信通院, 中国信息通信研究院\n")
    hits = library.searcher.search("信通院发布了什么报告").hits
    assert [h.passage.file for h in hits[:2]] == ["short.txt", "long.txt"]


@pytest.mark.parametrize(
    "question",
    [
        YANYUAN,
        "北京大学图书馆藏书多少册",
        "电脑的价格是多少",
        "清华大学什么时候建校",
        "颐和园里有什么湖",
        "番茄什么时候收获",
    ],
)
def test_synonyms_never_lower_a_questions_relevance(corpus: Path, question: str):
    before = open_with(corpus, None).searcher.search(question).hits[0].relevance
    # Rules naming words the best passage lacks but other passages hold: they add to max_score's
    # words, which must not make a covered question declined.
    rules = "燕园, 北京大学\n图书馆, 书店, 城市\n电脑, 计算机, 商店\n颐和园, 皇家园林, 北京\n番茄 => 阳光, 南方, 雨季\n"
    after = open_with(corpus, rules).searcher.search(question).hits[0].relevance
    assert after >= before
    if before >= MIN_RELEVANCE:
        assert not declined(after)


def test_without_a_synonyms_file_a_question_is_its_own_tokens(corpus: Path):
    library = open_with(corpus, None)
    query = library.searcher.query(YANYUAN)
    assert query.tokens == query.typed == tuple(library.analyzer.query_tokens(YANYUAN))


# -- the file in the corpus folder ------------------------------------------------------------


def test_the_synonyms_file_is_not_read_as_an_article(corpus: Path):
    library = open_with(corpus, "燕园, 北京大学\n")
    assert not is_article_file(corpus / SYNONYMS_NAME)
    assert SYNONYMS_NAME not in library.files
    assert all(a.file != SYNONYMS_NAME for a in library.articles)


def test_an_edited_synonyms_file_is_used_without_reindexing(corpus: Path):
    library = open_with(corpus, None, cache=True)
    manifest = corpus / CACHE_DIR / "index" / "manifest.json"
    segments = json.loads(manifest.read_text(encoding="utf-8"))["segments"]
    assert library.searcher.query(YANYUAN).added == ()
    (corpus / SYNONYMS_NAME).write_text("燕园, 北京大学\n", encoding="utf-8")
    result = library.refresh()
    assert result.synonyms and not result.touched
    assert library.synonyms.count == 1
    assert library.searcher.query(YANYUAN).added != ()
    assert top_file(library, YANYUAN) == "pku.txt"
    assert json.loads(manifest.read_text(encoding="utf-8"))["segments"] == segments


def test_a_removed_synonyms_file_stops_applying(corpus: Path):
    library = open_with(corpus, "燕园, 北京大学\n")
    (corpus / SYNONYMS_NAME).unlink()
    assert library.refresh().synonyms
    assert library.searcher.query(YANYUAN).added == ()


def test_the_watcher_picks_up_an_edited_synonyms_file(corpus: Path):
    library = open_with(corpus, None)
    reloaded = threading.Event()

    def on_refresh(refresh: Refresh) -> None:
        if refresh.synonyms:
            reloaded.set()

    with CorpusWatcher(library, on_refresh) as watcher:
        assert watcher.ready.wait(TIMEOUT)
        (corpus / SYNONYMS_NAME).write_text("燕园, 北京大学\n", encoding="utf-8")
        assert reloaded.wait(TIMEOUT)
    assert library.searcher.query(YANYUAN).added != ()
