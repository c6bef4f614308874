"""The `wenda` command, run as a subprocess the way a user or a script runs it (stdout piped, not a TTY)."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest
from conftest import SEED_COPY_FILE, SEED_FILE, SMART_CITY, XI_TITLE_START, wenda

OPENING = "北京城市副中心政务服务中心什么时候投入运行？"
OPENING_PASSAGE_START = "2021年9月,北京城市副中心政务服务中心正式投入运行。"


def _ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stderr
    return result


def _one_clean_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty working directory: no ./corpus and no .env, so only --corpus or WENDA_CORPUS can name one."""
    return tmp_path_factory.mktemp("cwd")


@pytest.fixture(scope="module")
def ask_text(workdir: Path, seed_copy: Path) -> str:
    return _ok(wenda("ask", "--corpus", str(seed_copy), OPENING, cwd=workdir)).stdout


@pytest.fixture(scope="module")
def ask_json(workdir: Path, seed_copy: Path) -> dict:
    return json.loads(_ok(wenda("ask", "--json", "--corpus", str(seed_copy), OPENING, cwd=workdir)).stdout)


# ---------------------------------------------------------------------------------------------
# ask


def test_ask_prints_the_title_and_source_of_the_right_article(ask_text: str):
    first = ask_text.splitlines()[0]
    assert first.startswith("[1] ")
    assert f"{SMART_CITY} · 经济参考报" in first
    assert "第 3 段" in ask_text.split("[2]")[0]


def test_ask_prints_the_passage_unbroken_when_piped(ask_text: str, seed_searcher):
    passage = seed_searcher.search(OPENING, k=1).hits[0].passage.text
    assert passage.startswith(OPENING_PASSAGE_START)
    assert passage in ask_text.splitlines()


def test_ask_json_has_the_documented_shape(ask_json: dict):
    assert isinstance(ask_json["question"], str)
    assert isinstance(ask_json["answered"], bool)
    assert isinstance(ask_json["hits"], list) and ask_json["hits"]
    types = {"text": str, "title": str, "source": str, "file": str, "paragraph": int, "score": float}
    for hit in ask_json["hits"]:
        assert {key: type(hit[key]) for key in types} == types


def test_ask_json_quotes_the_gold_passage_first(ask_json: dict):
    assert (ask_json["question"], ask_json["answered"]) == (OPENING, True)
    hit = ask_json["hits"][0]
    assert (hit["title"], hit["source"], hit["file"], hit["paragraph"]) == (SMART_CITY, "经济参考报", SEED_FILE, 3)
    assert hit["text"].startswith(OPENING_PASSAGE_START)


def test_ask_of_a_corpus_stored_twice_quotes_each_text_once(workdir: Path, doubled_seed: Path):
    result = _ok(wenda("ask", "--json", "--corpus", str(doubled_seed), "学习贯彻党的二十大精神", cwd=workdir))
    hits = json.loads(result.stdout)["hits"]
    assert len(hits) == 3 and len({h["text"] for h in hits}) == 3
    assert all([d["file"] for d in h["duplicates"]] == [SEED_COPY_FILE] for h in hits)


def test_ask_lists_the_copies_under_the_quote(workdir: Path, doubled_seed: Path):
    lines = _ok(wenda("ask", "--corpus", str(doubled_seed), OPENING, cwd=workdir)).stdout.splitlines()
    quote = next(i for i, line in enumerate(lines) if line.startswith(OPENING_PASSAGE_START))
    assert lines[quote + 1].strip() == f"也见于 {SMART_CITY} · 经济参考报 · {SEED_COPY_FILE} 第 3 段"


def test_ask_k_1_gives_one_hit(workdir: Path, seed_copy: Path):
    result = _ok(wenda("ask", "--json", "-k", "1", "--corpus", str(seed_copy), "学习贯彻党的二十大精神", cwd=workdir))
    assert len(json.loads(result.stdout)["hits"]) == 1


def test_ask_declined_question_gives_answered_false(workdir: Path, seed_copy: Path):
    result = _ok(wenda("ask", "--json", "--corpus", str(seed_copy), "今天上海的天气怎么样？", cwd=workdir))
    data = json.loads(result.stdout)
    assert (data["answered"], data["hits"]) == (False, [])


@pytest.mark.parametrize("k", ["0", "51"])
def test_ask_k_out_of_range_is_one_clean_error(workdir: Path, k: str, seed_copy: Path):
    line = _one_clean_error_line(wenda("ask", "-k", k, "--corpus", str(seed_copy), "问题", cwd=workdir))
    assert "-k" in line


# ---------------------------------------------------------------------------------------------
# sources and index


def test_sources_lists_both_seed_articles_with_passage_counts(workdir: Path, seed_copy: Path):
    lines = _ok(wenda("sources", "--corpus", str(seed_copy), cwd=workdir)).stdout.splitlines()
    (smart,) = [line for line in lines if line.startswith(SMART_CITY)]
    (xi,) = [line for line in lines if line.startswith(XI_TITLE_START)]
    assert "经济参考报" in smart and "17 段" in smart
    assert "新华社" in xi and "9 段" in xi


def test_sources_prints_a_title_with_square_brackets_verbatim(tmp_path: Path, workdir: Path):
    # Article titles are data: "[video]" or "[/b]" in one must not be taken for terminal markup.
    (tmp_path / "a.txt").write_text("[video] 运河公园改造完成\n公园新增了三条骑行步道。\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("[/b] 古城墙修缮\n南门瓮城的城砖修缮采用传统工艺。\n", encoding="utf-8")
    stdout = _ok(wenda("sources", "--corpus", str(tmp_path), cwd=workdir)).stdout
    assert "[video] 运河公园改造完成" in stdout
    assert "[/b] 古城墙修缮" in stdout


def test_index_reports_counts_and_names_a_skipped_bad_file(small_corpus: Path, workdir: Path):
    (small_corpus / "broken.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + random.Random(3).randbytes(2048))
    stdout = _ok(wenda("index", "--corpus", str(small_corpus), cwd=workdir)).stdout
    assert "indexed 9 passages of 4 articles from 3 files" in stdout
    (skipped,) = [line for line in stdout.splitlines() if "broken.txt" in line]
    assert skipped.startswith("skipped")


# ---------------------------------------------------------------------------------------------
# eval


def _squad(path: Path) -> Path:
    paragraphs = [
        (
            "运河公园",
            "通州区大运河森林公园的改造工程于今年五月全部完工，新增了三条骑行步道。",
            "大运河森林公园新增了几条骑行步道？",
        ),
        ("高原铁路", "拉林铁路全线通车后，拉萨到林芝的车程缩短到三个半小时。", "拉林铁路通车后拉萨到林芝要多久？"),
        ("古城墙", "南门瓮城的城砖修缮采用传统糯米灰浆工艺。", "南门瓮城修缮用什么工艺？"),
        ("社区食堂", "街道第一家社区食堂在和平里开业，老年人就餐可享受八折优惠。", "量子纠缠光谱仪的原理是什么？"),
    ]
    data = {
        "version": "test",
        "data": [
            {
                "title": title,
                "paragraphs": [{"context": context, "qas": [{"id": title, "question": question, "answers": []}]}],
            }
            for title, context, question in paragraphs
        ],
    }
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_eval_prints_recall_and_mrr_as_json(tmp_path: Path, workdir: Path):
    squad = _squad(tmp_path / "tiny_squad.json")
    report = json.loads(_ok(wenda("eval", "--json", str(squad), cwd=workdir)).stdout)
    # Three questions find their paragraph first; the fourth shares no word with any paragraph.
    assert {k: report[k] for k in ("questions", "passages")} == {"questions": 4, "passages": 4}
    for key in ("recall@1", "recall@3", "recall@5", "recall@10", "mrr@10"):
        assert report[key] == 0.75, key


def test_eval_prints_a_table_by_default(tmp_path: Path, workdir: Path):
    squad = _squad(tmp_path / "tiny_squad.json")
    stdout = _ok(wenda("eval", str(squad), cwd=workdir)).stdout
    assert "4 questions over 4 passages" in stdout
    assert any(line.split() == ["mrr@10", "0.75"] for line in stdout.splitlines())


def test_eval_rejects_a_non_positive_k1_with_one_clean_error(tmp_path: Path, workdir: Path):
    squad = _squad(tmp_path / "tiny_squad.json")
    assert "k1" in _one_clean_error_line(wenda("eval", "--k1", "0", str(squad), cwd=workdir))


def test_eval_rejects_a_negative_sentence_weight_with_one_clean_error(tmp_path: Path, workdir: Path):
    squad = _squad(tmp_path / "tiny_squad.json")
    assert "--sentence-weight" in _one_clean_error_line(
        wenda("eval", "--sentence-weight", "-1", str(squad), cwd=workdir)
    )


def test_eval_reports_the_sentence_weight_it_ran_with(tmp_path: Path, workdir: Path):
    squad = _squad(tmp_path / "tiny_squad.json")
    report = json.loads(_ok(wenda("eval", "--json", "--sentence-weight", "0.4", str(squad), cwd=workdir)).stdout)
    assert report["sentence_weight"] == 0.4
    assert report["recall@1"] == 0.75  # the three answerable questions still find their paragraph first


def test_eval_of_a_file_that_is_not_squad_is_one_clean_error(tmp_path: Path, workdir: Path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"rows": []}', encoding="utf-8")
    assert "bad.json" in _one_clean_error_line(wenda("eval", str(bad), cwd=workdir))


# ---------------------------------------------------------------------------------------------
# Errors, the interactive session and settings


def test_missing_corpus_folder_is_one_clean_error_with_exit_code_2(tmp_path: Path, workdir: Path):
    missing = tmp_path / "no-such-corpus"
    line = _one_clean_error_line(wenda("ask", "--corpus", str(missing), OPENING, cwd=workdir))
    assert str(missing) in line


def test_default_corpus_is_the_corpus_folder_of_the_working_directory(small_corpus: Path):
    stdout = _ok(wenda("sources", cwd=small_corpus.parent)).stdout
    assert "高原铁路通车 · 西部日报" in stdout


def test_interactive_session_reads_piped_questions_and_exits_0_at_eof(workdir: Path, seed_copy: Path):
    questions = "衢州市副市长是谁？\n\n今天上海的天气怎么样？\n"
    result = _ok(wenda("--corpus", str(seed_copy), cwd=workdir, stdin=questions))
    assert "田俊" in result.stdout
    assert "抱歉" in result.stdout
    assert "Traceback" not in result.stderr


def test_wenda_corpus_environment_variable_is_honoured(small_corpus: Path, workdir: Path):
    result = _ok(
        wenda("ask", "--json", "拉林铁路通车后拉萨到林芝要多久？", cwd=workdir, env={"WENDA_CORPUS": str(small_corpus)})
    )
    hit = json.loads(result.stdout)["hits"][0]
    assert (hit["title"], hit["source"], hit["file"]) == ("高原铁路通车", "西部日报", "railway.md")


def test_corpus_option_wins_over_wenda_corpus(small_corpus: Path, workdir: Path, seed_copy: Path):
    env = {"WENDA_CORPUS": str(small_corpus)}
    result = _ok(wenda("ask", "--json", "--corpus", str(seed_copy), OPENING, cwd=workdir, env=env))
    assert json.loads(result.stdout)["hits"][0]["file"] == SEED_FILE


def test_bad_setting_is_one_clean_error(workdir: Path):
    line = _one_clean_error_line(wenda("sources", cwd=workdir, env={"WENDA_TOP_K": "many"}))
    assert "WENDA_TOP_K" in line


def test_out_of_range_bm25_setting_is_one_clean_error(workdir: Path, seed_copy: Path):
    result = wenda("sources", "--corpus", str(seed_copy), cwd=workdir, env={"WENDA_BM25_K1": "0"})
    assert "WENDA_BM25_K1" in _one_clean_error_line(result)
