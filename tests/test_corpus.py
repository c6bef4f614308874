"""Reading article files: formats, encodings, article structure, sources, and files that cannot be read."""

from __future__ import annotations

import codecs
import json
import random
from pathlib import Path

import pytest
from conftest import SEED_CORPUS, SEED_FILE, SMART_CITY, XI_TITLE_START

from wenda.retrieval.corpus import MAX_PASSAGE_CHARS, Corpus, detect_source, load_corpus, read_file

ARTICLE = """\
城市更新试点启动
市住建委宣布，首批城市更新试点项目于本月启动。
试点覆盖老旧小区改造、街区整治和公共空间提升三类项目。
"""


@pytest.fixture(scope="module")
def seed() -> Corpus:
    return load_corpus(SEED_CORPUS)


def _article(seed: Corpus, title_start: str):
    (article,) = [a for a in seed.articles if a.title.startswith(title_start)]
    return article


def _only_article(root: Path, name: str):
    report = read_file(root / name, root)
    assert report.problems == ()
    (article,) = report.articles
    return article


def _texts(article) -> list[str]:
    return [p.text for p in article.passages]


# ---------------------------------------------------------------------------------------------
# The seed format


def test_seed_file_holds_two_articles(seed: Corpus):
    assert [a.file for a in seed.articles] == [SEED_FILE, SEED_FILE]
    assert seed.problems == []


def test_seed_titles_lose_their_stars(seed: Corpus):
    titles = [a.title for a in seed.articles]
    assert titles[0] == SMART_CITY
    assert titles[1] == "习近平:全面学习把握落实党的二十大精神 奋力夺取全面建设社会主义现代化国家新胜利"
    assert all("*" not in t for t in titles)


def test_seed_section_headings_are_not_passages(seed: Corpus):
    texts = _texts(_article(seed, SMART_CITY))
    for heading in (
        "政府牵头",
        "做好智慧城市“顶层设计”",
        "企业参与",
        "智慧城市项目“遍地开花”",
        "探索未来",
        "智慧城市发展前景广阔",
    ):
        assert heading not in texts


def test_seed_section_headings_head_the_passages_under_them(seed: Corpus):
    passages = {p.paragraph: p for p in _article(seed, SMART_CITY).passages}
    assert passages[1].heading is None  # the lead paragraph comes before any heading
    for number in (2, 3, 6):
        assert "政府牵头" in passages[number].heading
        assert "做好智慧城市“顶层设计”" in passages[number].heading
    assert "企业参与" in passages[7].heading
    assert "探索未来" in passages[13].heading
    assert "智慧城市发展前景广阔" in passages[17].heading


def test_seed_original_title_line_is_not_a_passage(seed: Corpus):
    article = _article(seed, XI_TITLE_START)
    assert not any(p.text.startswith("原标题") for p in article.passages)
    assert article.original_title == "习近平在中共中央政治局第一次集体学习时强调"


def test_seed_closing_byline_is_not_a_passage(seed: Corpus):
    article = _article(seed, XI_TITLE_START)
    assert not any("文图" in p.text for p in article.passages)
    assert article.bylines == ("(文图:赵筱尘 巫邓炎)",)


def test_seed_subtitle_lines_are_not_passages(seed: Corpus):
    article = _article(seed, XI_TITLE_START)
    assert article.passages[0].text.startswith("新华社北京10月26日电")
    assert "全面学习把握落实党的二十大精神" not in _texts(article)


def test_seed_sources_are_detected(seed: Corpus):
    assert _article(seed, SMART_CITY).source == "经济参考报"
    assert _article(seed, XI_TITLE_START).source == "新华社"
    assert all(p.source == "经济参考报" for p in _article(seed, SMART_CITY).passages)


def test_seed_paragraph_numbers_are_one_based_and_contiguous(seed: Corpus):
    for article in seed.articles:
        numbers = [p.paragraph for p in article.passages]
        assert numbers == list(range(1, len(numbers) + 1))


def test_seed_passage_counts(seed: Corpus):
    assert [len(a.passages) for a in seed.articles] == [17, 9]


def test_seed_passages_keep_their_original_text(seed: Corpus):
    texts = _texts(_article(seed, SMART_CITY))
    assert any(t.startswith("2021年9月,北京城市副中心政务服务中心正式投入运行。") for t in texts)


# ---------------------------------------------------------------------------------------------
# One-article .txt


def test_one_article_txt_takes_its_first_non_empty_line_as_title(tmp_path: Path):
    (tmp_path / "a.txt").write_text("\n\n" + ARTICLE, encoding="utf-8")
    article = _only_article(tmp_path, "a.txt")
    assert article.title == "城市更新试点启动"
    assert _texts(article) == [
        "市住建委宣布，首批城市更新试点项目于本月启动。",
        "试点覆盖老旧小区改造、街区整治和公共空间提升三类项目。",
    ]


def test_txt_with_only_a_title_is_reported(tmp_path: Path):
    (tmp_path / "a.txt").write_text("只有标题\n", encoding="utf-8")
    report = read_file(tmp_path / "a.txt", tmp_path)
    assert report.articles == ()
    assert [p.file for p in report.problems] == ["a.txt"]


# ---------------------------------------------------------------------------------------------
# Markdown

MARKDOWN = """\
---
title: 城市更新试点启动
source: 北京日报
date: 2023-05-06
url: https://example.com/renewal
---

市住建委宣布，首批城市更新试点项目于本月启动。

## 老旧小区

试点覆盖老旧小区改造，
加装电梯和无障碍设施。

## 公共空间

街区整治同步推进。
"""


def test_markdown_front_matter_gives_title_source_date_and_url(tmp_path: Path):
    (tmp_path / "a.md").write_text(MARKDOWN, encoding="utf-8")
    article = _only_article(tmp_path, "a.md")
    assert (article.title, article.source, article.date, article.url) == (
        "城市更新试点启动",
        "北京日报",
        "2023-05-06",
        "https://example.com/renewal",
    )
    assert {(p.source, p.date, p.url) for p in article.passages} == {
        ("北京日报", "2023-05-06", "https://example.com/renewal")
    }


def test_markdown_front_matter_is_not_a_passage(tmp_path: Path):
    (tmp_path / "a.md").write_text(MARKDOWN, encoding="utf-8")
    article = _only_article(tmp_path, "a.md")
    assert not any("title:" in t or t.startswith("---") for t in _texts(article))


def test_markdown_level_two_headings_head_the_paragraphs_under_them(tmp_path: Path):
    (tmp_path / "a.md").write_text(MARKDOWN, encoding="utf-8")
    article = _only_article(tmp_path, "a.md")
    assert [(p.text[:4], p.heading) for p in article.passages] == [
        ("市住建委", None),
        ("试点覆盖", "老旧小区"),
        ("街区整治", "公共空间"),
    ]


def test_markdown_heading_right_under_the_title_heads_the_first_paragraph(tmp_path: Path):
    text = "# 城市更新试点启动\n\n## 老旧小区\n\n试点覆盖老旧小区改造。\n\n## 公共空间\n\n街区整治同步推进。\n"
    (tmp_path / "a.md").write_text(text, encoding="utf-8")
    article = _only_article(tmp_path, "a.md")
    assert [p.heading for p in article.passages] == ["老旧小区", "公共空间"]


def test_markdown_hash_heading_is_the_title(tmp_path: Path):
    (tmp_path / "a.md").write_text("# 城市更新试点启动\n\n试点项目于本月启动。\n", encoding="utf-8")
    article = _only_article(tmp_path, "a.md")
    assert article.title == "城市更新试点启动"
    assert _texts(article) == ["试点项目于本月启动。"]


def test_markdown_heading_that_repeats_the_front_matter_title_is_not_shown_again(tmp_path: Path):
    text = "---\ntitle: 城市更新试点启动\nsource: 北京日报\n---\n\n# 城市更新试点启动\n\n试点项目于本月启动。\n"
    (tmp_path / "a.md").write_text(text, encoding="utf-8")
    article = _only_article(tmp_path, "a.md")
    assert article.title == "城市更新试点启动"
    assert [(p.text, p.heading) for p in article.passages] == [("试点项目于本月启动。", None)]


def test_markdown_hard_wrapped_chinese_lines_are_joined_without_space(tmp_path: Path):
    (tmp_path / "a.md").write_text(MARKDOWN, encoding="utf-8")
    article = _only_article(tmp_path, "a.md")
    assert "试点覆盖老旧小区改造，加装电梯和无障碍设施。" in _texts(article)


def test_markdown_hard_wrapped_latin_words_are_joined_with_one_space(tmp_path: Path):
    (tmp_path / "a.md").write_text("# 标题\n\nThe pilot covers\nold housing estates.\n", encoding="utf-8")
    assert _texts(_only_article(tmp_path, "a.md")) == ["The pilot covers old housing estates."]


def test_markdown_broken_front_matter_is_reported_and_the_body_still_read(tmp_path: Path):
    text = "---\ntitle: [不闭合\nsource: 北京日报\n---\n\n# 城市更新试点启动\n\n试点项目于本月启动。\n"
    (tmp_path / "a.md").write_text(text, encoding="utf-8")
    report = read_file(tmp_path / "a.md", tmp_path)
    assert [(p.file, p.line) for p in report.problems] == [("a.md", 1)]
    (article,) = report.articles
    assert article.title == "城市更新试点启动"
    assert _texts(article) == ["试点项目于本月启动。"]


# ---------------------------------------------------------------------------------------------
# JSON lines


def _jsonl(*records: object) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records)


def test_jsonl_reads_paragraphs_and_metadata(tmp_path: Path):
    record = {
        "title": "城市更新试点启动",
        "paragraphs": ["首批项目于本月启动。", "试点覆盖三类项目。"],
        "source": "北京日报",
        "date": "2023-05-06",
        "url": "https://example.com/renewal",
    }
    (tmp_path / "a.jsonl").write_text(_jsonl(record), encoding="utf-8")
    article = _only_article(tmp_path, "a.jsonl")
    assert (article.title, article.source, article.date, article.url) == (
        "城市更新试点启动",
        "北京日报",
        "2023-05-06",
        "https://example.com/renewal",
    )
    assert _texts(article) == ["首批项目于本月启动。", "试点覆盖三类项目。"]


def test_jsonl_text_field_is_split_into_paragraphs_at_newlines(tmp_path: Path):
    record = {"title": "城市更新试点启动", "text": "首批项目于本月启动。\n\n试点覆盖三类项目。"}
    (tmp_path / "a.jsonl").write_text(_jsonl(record), encoding="utf-8")
    assert _texts(_only_article(tmp_path, "a.jsonl")) == ["首批项目于本月启动。", "试点覆盖三类项目。"]


def test_jsonl_broken_line_is_reported_with_its_line_number_and_good_lines_load(tmp_path: Path):
    good = {"title": "第一篇", "paragraphs": ["第一段内容。"]}
    also_good = {"title": "第二篇", "text": "第二段内容。"}
    (tmp_path / "a.jsonl").write_text(_jsonl(good, '{"title": "坏行", "paragraphs": [', also_good), encoding="utf-8")
    report = read_file(tmp_path / "a.jsonl", tmp_path)
    assert [a.title for a in report.articles] == ["第一篇", "第二篇"]
    assert [(p.file, p.line) for p in report.problems] == [("a.jsonl", 2)]


def test_jsonl_record_without_paragraphs_is_reported(tmp_path: Path):
    (tmp_path / "a.jsonl").write_text(_jsonl({"title": "没有正文"}), encoding="utf-8")
    report = read_file(tmp_path / "a.jsonl", tmp_path)
    assert report.articles == ()
    assert [(p.file, p.line) for p in report.problems] == [("a.jsonl", 1)]


# ---------------------------------------------------------------------------------------------
# Encodings, line endings and whitespace


@pytest.mark.parametrize(
    "encoded",
    [
        pytest.param(codecs.BOM_UTF8 + ARTICLE.encode("utf-8"), id="utf-8-bom"),
        pytest.param(ARTICLE.encode("gbk"), id="gbk"),
        pytest.param(ARTICLE.encode("gb18030"), id="gb18030"),
        pytest.param(codecs.BOM_UTF16_LE + ARTICLE.encode("utf-16-le"), id="utf-16-le-bom"),
        pytest.param(codecs.BOM_UTF16_BE + ARTICLE.encode("utf-16-be"), id="utf-16-be-bom"),
    ],
)
def test_encoded_file_is_read(tmp_path: Path, encoded: bytes):
    (tmp_path / "a.txt").write_bytes(encoded)
    article = _only_article(tmp_path, "a.txt")
    assert article.title == "城市更新试点启动"
    assert _texts(article)[0] == "市住建委宣布，首批城市更新试点项目于本月启动。"


def test_gb18030_only_characters_survive(tmp_path: Path):
    # 𠀀 and 䶮 are outside GBK: a file holding them is GB18030, not GBK.
    text = "人名用字\n龑字与䶮字同音，𠀀字见于扩展B区。\n"
    (tmp_path / "a.txt").write_bytes(text.encode("gb18030"))
    assert _texts(_only_article(tmp_path, "a.txt")) == ["龑字与䶮字同音，𠀀字见于扩展B区。"]


def test_bom_does_not_end_up_in_the_title(tmp_path: Path):
    (tmp_path / "a.md").write_bytes(codecs.BOM_UTF8 + "# 城市更新\n\n试点启动。\n".encode())
    assert _only_article(tmp_path, "a.md").title == "城市更新"


def test_crlf_and_stray_whitespace_do_not_matter(tmp_path: Path):
    messy = (
        "  城市更新试点启动 \t\r\n\r\n"
        "\u3000\u3000市住建委宣布，首批项目于本月启动。  \r\n \r\n"
        "\u00a0试点覆盖三类项目。\r\n"
    )
    (tmp_path / "a.txt").write_bytes(messy.encode("utf-8"))
    article = _only_article(tmp_path, "a.txt")
    assert article.title == "城市更新试点启动"
    assert _texts(article) == ["市住建委宣布，首批项目于本月启动。", "试点覆盖三类项目。"]


def test_seed_format_with_crlf_is_read(tmp_path: Path):
    data = (SEED_CORPUS / SEED_FILE).read_text(encoding="utf-8").replace("\n", "\r\n")
    (tmp_path / "seed.txt").write_bytes(data.encode("gb18030"))
    report = read_file(tmp_path / "seed.txt", tmp_path)
    assert [len(a.passages) for a in report.articles] == [17, 9]


# ---------------------------------------------------------------------------------------------
# Files that are skipped


def _binary() -> bytes:
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + random.Random(7).randbytes(4096)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b" \n\r\n\t\n", id="blank"),
        pytest.param(_binary(), id="binary"),
    ],
)
def test_unreadable_file_is_skipped_with_a_problem_naming_it_and_others_still_load(tmp_path: Path, data: bytes):
    (tmp_path / "bad.txt").write_bytes(data)
    (tmp_path / "good.txt").write_text(ARTICLE, encoding="utf-8")
    corpus = load_corpus(tmp_path)
    assert [a.file for a in corpus.articles] == ["good.txt"]
    assert [p.file for p in corpus.problems] == ["bad.txt"]
    assert "bad.txt" in str(corpus.problems[0])


def test_hidden_temporary_and_reserved_files_are_ignored(tmp_path: Path):
    for name in (".hidden.txt", "~$draft.txt", "#autosave.txt", "draft.txt~", "a.txt.swp", "notes.tmp", "userdict.txt"):
        (tmp_path / name).write_text(ARTICLE, encoding="utf-8")
    (tmp_path / ".wenda").mkdir()
    (tmp_path / ".wenda" / "cache.txt").write_text(ARTICLE, encoding="utf-8")
    (tmp_path / "photo.png").write_bytes(_binary())
    (tmp_path / "real.txt").write_text(ARTICLE, encoding="utf-8")
    corpus = load_corpus(tmp_path)
    assert [f.file for f in corpus.files] == ["real.txt"]
    assert corpus.problems == []


def test_subfolders_are_read(tmp_path: Path):
    (tmp_path / "2023" / "05").mkdir(parents=True)
    (tmp_path / "2023" / "05" / "a.txt").write_text(ARTICLE, encoding="utf-8")
    (tmp_path / "b.md").write_text("# 另一篇\n\n另一段内容。\n", encoding="utf-8")
    corpus = load_corpus(tmp_path)
    assert sorted(p.file for p in corpus.passages) == ["2023/05/a.txt", "2023/05/a.txt", "b.md"]


def test_missing_folder_reads_as_an_empty_corpus(tmp_path: Path):
    assert load_corpus(tmp_path / "nope").files == ()


# ---------------------------------------------------------------------------------------------
# Long paragraphs


def _long_paragraph() -> str:
    sentences = [f"第{i}句讲的是城市更新试点中的第{i}个项目进展情况。" for i in range(1, 301)]
    text = "".join(sentences)
    assert len(text) > 2 * MAX_PASSAGE_CHARS
    return text


def test_long_paragraph_is_split_into_passages_within_the_limit(tmp_path: Path):
    (tmp_path / "a.txt").write_text("长文\n" + _long_paragraph() + "\n", encoding="utf-8")
    passages = _only_article(tmp_path, "a.txt").passages
    assert len(passages) >= 3
    assert all(len(p.text) <= MAX_PASSAGE_CHARS for p in passages)


def test_long_paragraph_is_split_at_sentence_ends(tmp_path: Path):
    (tmp_path / "a.txt").write_text("长文\n" + _long_paragraph() + "\n", encoding="utf-8")
    passages = _only_article(tmp_path, "a.txt").passages
    assert all(p.text.startswith("第") and p.text.endswith("。") for p in passages)


def test_long_paragraph_loses_no_text(tmp_path: Path):
    paragraph = _long_paragraph()
    (tmp_path / "a.txt").write_text("长文\n" + paragraph + "\n", encoding="utf-8")
    passages = _only_article(tmp_path, "a.txt").passages
    assert "".join(p.text for p in passages) == paragraph


def test_long_sentence_without_an_end_is_cut_hard_and_kept(tmp_path: Path):
    paragraph = "城" * (MAX_PASSAGE_CHARS * 2 + 10)
    (tmp_path / "a.txt").write_text("长文\n" + paragraph + "\n", encoding="utf-8")
    passages = _only_article(tmp_path, "a.txt").passages
    assert [len(p.text) for p in passages] == [MAX_PASSAGE_CHARS, MAX_PASSAGE_CHARS, 10]


# ---------------------------------------------------------------------------------------------
# Sources and bylines


@pytest.mark.parametrize(
    ("line", "source"),
    [
        ("来源：人民日报", "人民日报"),
        ("稿源: 北京青年报", "北京青年报"),
        ("新华社北京10月26日电 二十届中共中央政治局10月25日下午进行集体学习。", "新华社"),
        ("人民网北京3月1日讯 记者从有关部门获悉。", "人民网"),
        ("中新社香港3月1日电 香港特区政府今天公布。", "中新社"),
        ("全文完。(经济参考报记者 孙广见 杨柳 郝菁)", "经济参考报"),
        ("(光明日报特约记者 王五)", "光明日报"),
    ],
)
def test_source_is_detected(line: str, source: str):
    assert detect_source([line]) == source


def test_own_paper_reporter_is_not_a_source():
    assert detect_source(["全文完。(本报记者 张三)"]) is None


def test_text_without_a_publisher_has_no_source():
    assert detect_source(["市住建委宣布，首批城市更新试点项目于本月启动。"]) is None


def test_source_line_wins_over_a_reporter_byline(tmp_path: Path):
    text = "标题\n首批项目于本月启动。(经济参考报记者 孙广见)\n来源：北京日报\n"
    (tmp_path / "a.txt").write_text(text, encoding="utf-8")
    assert _only_article(tmp_path, "a.txt").source == "北京日报"


def test_front_matter_source_wins_over_detection(tmp_path: Path):
    text = "---\nsource: 北京日报\n---\n# 标题\n\n新华社北京10月26日电 首批项目于本月启动。\n"
    (tmp_path / "a.md").write_text(text, encoding="utf-8")
    assert _only_article(tmp_path, "a.md").source == "北京日报"


def test_byline_in_parentheses_is_kept_out_of_the_passages(tmp_path: Path):
    (tmp_path / "a.txt").write_text(ARTICLE + "（责任编辑：张三）\n", encoding="utf-8")
    article = _only_article(tmp_path, "a.txt")
    assert article.bylines == ("（责任编辑：张三）",)
    assert len(article.passages) == 2


# ---------------------------------------------------------------------------------------------
# File names in reports


def test_a_problem_with_a_newline_in_its_file_name_is_reported_on_one_line(tmp_path: Path):
    (tmp_path / "bad\nname.txt").write_text("只有标题\n", encoding="utf-8")
    (problem,) = load_corpus(tmp_path).problems
    assert "\n" not in str(problem)
    assert str(problem).startswith("bad\\nname.txt: ")
