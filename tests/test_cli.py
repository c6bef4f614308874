"""The `wenda` command, run as a subprocess the way a user or a script runs it (stdout piped, not a TTY)."""

from __future__ import annotations

import json
import os
import pty
import random
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SEED_COPY_FILE, SEED_CORPUS, SEED_FILE, SMART_CITY, XI_TITLE_START, wenda

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


# What `wenda ask` has no use for, on an indexed corpus and a question that asks for no name: the
# Discord bot's libraries, the feedback database, the corpus watcher, jieba's part-of-speech tagger,
# what only reading article files needs (front matter, guessing an encoding), and pkg_resources (which
# jieba would use to find its dictionary, on an old setuptools). Each costs start-up.
NOT_FOR_ASK = (
    "discord",
    "aiohttp",
    "asyncio",
    "sqlite3",
    "watchfiles",
    "jieba.posseg",
    "yaml",
    "charset_normalizer",
    "rank_bm25",
    "pkg_resources",
)


def test_ask_imports_nothing_it_does_not_use(workdir: Path, seed_copy: Path, ask_text: str):
    code = (
        "import sys; from wenda.bot.cli import main; main(sys.argv[1:]); "
        "print('MODULES', *sys.modules, file=sys.stderr)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("WENDA_")} | {"PYTHONIOENCODING": "utf-8"}
    result = subprocess.run(
        [sys.executable, "-c", code, "ask", "--corpus", str(seed_copy), OPENING],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    assert OPENING_PASSAGE_START in _ok(result).stdout  # ask_text indexed the corpus: this ask reads no file
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("MODULES ")]
    assert sorted(set(NOT_FOR_ASK) & set(line.split())) == []


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


# ---------------------------------------------------------------------------------------------
# The command line as people first type it


def test_a_question_without_a_command_is_answered_like_ask(workdir: Path, seed_copy: Path, ask_json: dict):
    result = _ok(wenda("--corpus", str(seed_copy), OPENING, "--json", cwd=workdir))
    assert json.loads(result.stdout) == ask_json


def test_a_misspelt_command_is_still_refused_rather_than_asked(workdir: Path, seed_copy: Path):
    result = wenda("--corpus", str(seed_copy), "sorces", cwd=workdir)
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_corpus_that_is_a_file_is_one_clean_error_saying_it_takes_the_folder(tmp_path: Path, workdir: Path):
    article = tmp_path / "article.txt"
    article.write_text("运河公园改造完成\n新增了三条骑行步道。\n", encoding="utf-8")
    line = _one_clean_error_line(wenda("ask", "--corpus", str(article), OPENING, cwd=workdir))
    assert str(article) in line
    assert "is a file" in line and "folder" in line


@pytest.mark.parametrize("before_command", [True, False])
def test_eval_refuses_the_corpus_option(tmp_path: Path, workdir: Path, seed_copy: Path, before_command: bool):
    squad = str(_squad(tmp_path / "tiny_squad.json"))
    corpus = ["--corpus", str(seed_copy)]
    args = [*corpus, "eval", squad] if before_command else ["eval", *corpus, squad]
    line = _one_clean_error_line(wenda(*args, cwd=workdir))
    assert "--corpus" in line and "eval" in line


SYNONYMS = "燕园, 北京大学\n番茄 => 西红柿\na =>\n, ,\n"


def test_index_reports_the_synonym_rules_and_names_each_bad_line(tmp_path: Path, workdir: Path):
    (tmp_path / "park.txt").write_text("运河公园改造完成\n新增了三条骑行步道。\n", encoding="utf-8")
    (tmp_path / "synonyms.txt").write_text(SYNONYMS, encoding="utf-8")
    stdout = _ok(wenda("index", "--corpus", str(tmp_path), cwd=workdir)).stdout
    assert "loaded 2 synonym rules from synonyms.txt" in stdout
    assert "synonyms.txt:3: nothing after =>" in stdout
    assert "synonyms.txt:4: no terms" in stdout
    assert "from 1 file in" in stdout  # the rules are not an article


def test_sources_reports_the_synonym_rules_and_names_each_bad_line(tmp_path: Path, workdir: Path):
    (tmp_path / "park.txt").write_text("运河公园改造完成\n新增了三条骑行步道。\n", encoding="utf-8")
    (tmp_path / "synonyms.txt").write_text(SYNONYMS, encoding="utf-8")
    stdout = _ok(wenda("sources", "--corpus", str(tmp_path), cwd=workdir)).stdout
    assert "synonyms.txt：2 条同义词规则" in stdout
    assert "synonyms.txt:3: nothing after =>" in stdout


# ---------------------------------------------------------------------------------------------
# Counts read as English


def test_index_report_of_one_file_says_1_passage_of_1_article_from_1_file(tmp_path: Path, workdir: Path):
    (tmp_path / "park.txt").write_text("运河公园改造完成\n新增了三条骑行步道。\n", encoding="utf-8")
    stdout = _ok(wenda("index", "--corpus", str(tmp_path), cwd=workdir)).stdout
    assert "indexed 1 passage of 1 article from 1 file in" in stdout


def test_add_report_of_a_one_paragraph_article_says_1_article_1_passage(tmp_path: Path, workdir: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    new = tmp_path / "park.txt"
    new.write_text("运河公园改造完成\n新增了三条骑行步道。\n", encoding="utf-8")
    stdout = _ok(wenda("add", "--corpus", str(corpus), str(new), cwd=workdir)).stdout
    assert "1 article, 1 passage" in stdout
    assert "the index now holds 1 passage\n" in stdout


# ---------------------------------------------------------------------------------------------
# Terminals, pipes and bytes


def _environ(**extra: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WENDA_") and k not in ("COLUMNS", "LINES")}
    environ.update(PYTHONIOENCODING="utf-8", TERM="xterm", **extra)
    return environ


def _read_terminal(fd: int, until: bytes | None = None, timeout: float = 120) -> bytes:
    """What the program writes to a pseudo-terminal: up to `until`, or all of it until the program closes it."""
    out = b""
    deadline = time.monotonic() + timeout
    while until is None or until not in out:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, f"nothing more on the terminal after {timeout} s: {out!r}"
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: every copy of the terminal's other end is closed
            break
        if not chunk:
            break
        out += chunk
    return out


def _output_within(fd: int, timeout: float) -> bytes | None:
    """The next output on a pseudo-terminal: None if none came within timeout, b"" if the program closed it."""
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        return None
    try:
        return os.read(fd, 4096)
    except OSError:  # EIO: closed
        return b""


def test_eval_shows_progress_when_stderr_is_a_terminal_and_keeps_json_clean(tmp_path: Path, workdir: Path):
    squad = _squad(tmp_path / "tiny_squad.json")
    master, slave = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "wenda", "eval", "--json", str(squad)],
        cwd=workdir,
        env=_environ(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
    ) as proc:
        os.close(slave)
        try:
            terminal = _read_terminal(master)
            stdout = proc.stdout.read()
            assert proc.wait(timeout=120) == 0
        finally:
            proc.kill()
    os.close(master)
    assert b"evaluating" in terminal
    assert json.loads(stdout)["questions"] == 4


def test_eval_writes_nothing_to_stderr_when_piped(tmp_path: Path, workdir: Path):
    squad = _squad(tmp_path / "tiny_squad.json")
    assert _ok(wenda("eval", "--json", str(squad), cwd=workdir)).stderr == ""


def test_ctrl_c_at_the_interactive_prompt_ends_the_line_and_exits_130(small_corpus: Path, tmp_path: Path):
    master, slave = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "wenda", "--corpus", str(small_corpus)],
        cwd=tmp_path,
        env=_environ(XDG_STATE_HOME=str(tmp_path / "state")),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        # A shell without job control starts background jobs with SIGINT ignored, and the child would
        # inherit that: give it the default a terminal's program has.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    ) as proc:
        os.close(slave)
        try:
            _read_terminal(master, until="问> ".encode())
            # A SIGINT landing between the prompt and readline's wait for a key is only noticed at the
            # next signal or key (a person never presses Ctrl-C that fast): send it until it is, a
            # bounded number of times.
            proc.send_signal(signal.SIGINT)
            for _ in range(24):
                if (rest := _output_within(master, 5)) is not None:
                    break
                proc.send_signal(signal.SIGINT)
            else:
                pytest.fail("the session did not answer SIGINT within two minutes")
            rest += _read_terminal(master)
            assert proc.wait(timeout=120) == 130
        finally:
            proc.kill()
    os.close(master)
    assert rest.replace(b"\r", b"") == b"\n"


@pytest.mark.parametrize("command", [["ask", "--json", OPENING], ["sources"]], ids=["json", "rich"])
def test_a_closed_stdout_ends_quietly_with_exit_code_141(workdir: Path, seed_copy: Path, command: list[str]):
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head -1` once head has exited: every write fails with EPIPE
    try:
        result = subprocess.run(
            [sys.executable, "-m", "wenda", "--corpus", str(seed_copy), *command],
            cwd=workdir,
            env=_environ(),
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert result.stderr.decode() == ""
    assert result.returncode == 141


def test_undecodable_bytes_on_stdin_do_not_end_the_session(workdir: Path, seed_copy: Path):
    questions = b"\xff\xfe" + "是谁？\n衢州市副市长是谁？\n".encode()  # not UTF-8, then a real question
    result = subprocess.run(
        [sys.executable, "-m", "wenda", "--corpus", str(seed_copy)],
        cwd=workdir,
        env=_environ(),
        input=questions,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert "田俊" in result.stdout.decode()


def test_jieba_keeps_its_cache_in_our_cache_folder_not_the_shared_temp_folder(small_corpus: Path, tmp_path: Path):
    # A jieba.cache in the temp folder that cannot be replaced, as when another user's /tmp/jieba.cache is there.
    shared_tmp = tmp_path / "tmp"
    (shared_tmp / "jieba.cache").mkdir(parents=True)
    env = _environ(TMPDIR=str(shared_tmp), XDG_CACHE_HOME=str(tmp_path / "cache"))
    result = subprocess.run(
        [sys.executable, "-m", "wenda", "sources", "--corpus", str(small_corpus)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    assert result.returncode == 0
    assert result.stderr == ""
    assert (tmp_path / "cache" / "wenda" / "jieba.cache").is_file()


# dates and links in citations

PORT_MD = """\
---
title: 港口码头扩建
source: 港城日报
date: 2024年3月5日
url: https://example.org/port
---

三号码头扩建工程今天开工，预计两年后投入使用。

码头扩建后年吞吐能力将增加五百万吨。

港区同步建设一条疏港铁路专用线。
"""
PORT_QUESTION = "三号码头扩建工程什么时候开工？"


@pytest.fixture(scope="module")
def dated_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dated") / "corpus"
    root.mkdir()
    (root / "port.md").write_text(PORT_MD, encoding="utf-8")
    shutil.copyfile(SEED_CORPUS / SEED_FILE, root / SEED_FILE)
    return root


def test_ask_shows_the_date_beside_the_source_and_the_url(dated_corpus: Path, workdir: Path):
    lines = _ok(wenda("ask", "--corpus", str(dated_corpus), PORT_QUESTION, cwd=workdir)).stdout.splitlines()
    assert lines[0] == "[1] 港口码头扩建 · 港城日报 · 2024-03-05 · 第 1 段"
    assert "    https://example.org/port" in lines


def test_ask_json_hits_carry_url_and_date(dated_corpus: Path, workdir: Path):
    out = _ok(wenda("ask", "--json", "--corpus", str(dated_corpus), PORT_QUESTION, cwd=workdir)).stdout
    top = json.loads(out)["hits"][0]
    assert (top["url"], top["date"]) == ("https://example.org/port", "2024-03-05")


def test_sources_shows_dates_and_urls(dated_corpus: Path, workdir: Path):
    lines = _ok(wenda("sources", "--corpus", str(dated_corpus), cwd=workdir)).stdout.splitlines()
    (port,) = [line for line in lines if line.startswith("港口码头扩建")]
    assert port.startswith("港口码头扩建 · 港城日报 · 2024-03-05")
    assert lines[lines.index(port) + 1].strip() == "https://example.org/port"
    (xi,) = [line for line in lines if line.startswith(XI_TITLE_START)]
    assert "新华社 · 10月26日" in xi  # its dateline gives no year


def test_sources_json_has_url_and_iso_date_or_null(dated_corpus: Path, workdir: Path):
    rows = json.loads(_ok(wenda("sources", "--json", "--corpus", str(dated_corpus), cwd=workdir)).stdout)
    by_title = {r["title"][:6]: (r["url"], r["date"]) for r in rows}
    assert by_title["港口码头扩建"] == ("https://example.org/port", "2024-03-05")
    assert by_title[XI_TITLE_START[:6]] == (None, None)


# ---------------------------------------------------------------------------------------------
# an empty corpus


@pytest.fixture(params=["no_files", "every_file_skipped"])
def empty_corpus(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    if request.param == "every_file_skipped":
        (root / "broken.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + random.Random(3).randbytes(2048))
    return root


def _says_the_corpus_is_empty(result: subprocess.CompletedProcess, folder: Path) -> None:
    _ok(result)
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stdout.splitlines() if "资料库是空的" in line]
    assert str(folder) in line


def test_ask_on_an_empty_corpus_says_so_and_names_the_folder(empty_corpus: Path, workdir: Path):
    result = wenda("ask", "--corpus", str(empty_corpus), "码头什么时候开工？", cwd=workdir)
    _says_the_corpus_is_empty(result, empty_corpus)


def test_ask_json_on_an_empty_corpus_has_its_status(empty_corpus: Path, workdir: Path):
    result = _ok(wenda("ask", "--json", "--corpus", str(empty_corpus), "码头什么时候开工？", cwd=workdir))
    data = json.loads(result.stdout)
    assert (data["status"], data["answered"], data["hits"]) == ("empty_corpus", False, [])
    assert str(empty_corpus) in data["message"]


def test_sources_on_an_empty_corpus_says_so(empty_corpus: Path, workdir: Path):
    _says_the_corpus_is_empty(wenda("sources", "--corpus", str(empty_corpus), cwd=workdir), empty_corpus)


def test_index_on_an_empty_corpus_says_so(empty_corpus: Path, workdir: Path):
    _says_the_corpus_is_empty(wenda("index", "--corpus", str(empty_corpus), cwd=workdir), empty_corpus)
