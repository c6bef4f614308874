"""Settings are read once from the environment and `.env`; a bad value is a SettingsError naming the variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from wenda.bot.settings import Settings, SettingsError
from wenda.retrieval.index import TUNED_PARAMS, BM25Params


def test_defaults_without_any_setting():
    settings = Settings.from_env({}, dotenv=None)
    assert (settings.corpus, settings.top_k, settings.params) == (Path("corpus"), 3, TUNED_PARAMS)


def test_wenda_corpus_is_honoured():
    assert Settings.from_env({"WENDA_CORPUS": "/data/articles"}, dotenv=None).corpus == Path("/data/articles")


def test_empty_wenda_corpus_means_the_default():
    assert Settings.from_env({"WENDA_CORPUS": ""}, dotenv=None).corpus == Path("corpus")


def test_dotenv_file_is_read(tmp_path: Path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("WENDA_CORPUS=/from/dotenv\nWENDA_TOP_K=5\n", encoding="utf-8")
    settings = Settings.from_env({}, dotenv=dotenv)
    assert (settings.corpus, settings.top_k) == (Path("/from/dotenv"), 5)


def test_environment_wins_over_dotenv(tmp_path: Path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("WENDA_CORPUS=/from/dotenv\n", encoding="utf-8")
    assert Settings.from_env({"WENDA_CORPUS": "/from/env"}, dotenv=dotenv).corpus == Path("/from/env")


def test_missing_dotenv_file_is_fine(tmp_path: Path):
    assert Settings.from_env({}, dotenv=tmp_path / ".env").corpus == Path("corpus")


def test_bm25_parameters_come_from_the_environment():
    environ = {"WENDA_BM25_K1": "1.2", "WENDA_BM25_B": "0.6", "WENDA_BM25_EPSILON": "0.1"}
    assert Settings.from_env(environ, dotenv=None).params == BM25Params(k1=1.2, b=0.6, epsilon=0.1)


def test_store_settings_carry_the_bm25_parameters():
    settings = Settings.from_env({"WENDA_BM25_K1": "1.2"}, dotenv=None)
    assert settings.store.params == settings.params


def test_the_sentence_stage_is_on_by_default_can_be_turned_off_and_reaches_the_store():
    assert Settings.from_env({}, dotenv=None).store.sentence_weight == 0.4
    assert Settings.from_env({"WENDA_SENTENCE_WEIGHT": "0"}, dotenv=None).store.sentence_weight == 0.0
    assert Settings.from_env({"WENDA_SENTENCE_WEIGHT": "1.5"}, dotenv=None).store.sentence_weight == 1.5


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WENDA_TOP_K", "three"),
        ("WENDA_TOP_K", "0"),
        ("WENDA_TOP_K", "11"),
        ("WENDA_BM25_K1", "high"),
        ("WENDA_BM25_B", "0,75"),
        ("WENDA_BM25_EPSILON", "none"),
        ("WENDA_SENTENCE_WEIGHT", "some"),
        ("WENDA_SENTENCE_WEIGHT", "-0.1"),
        ("WENDA_SENTENCE_WEIGHT", "nan"),
        ("WENDA_SENTENCE_WEIGHT", "11"),
    ],
)
def test_unusable_value_is_a_settings_error_naming_the_variable(name: str, value: str):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value}, dotenv=None)


@pytest.mark.parametrize(("name", "value"), [("WENDA_BM25_K1", "0"), ("WENDA_BM25_K1", "-1"), ("WENDA_BM25_B", "2")])
def test_out_of_range_bm25_parameter_is_a_settings_error_naming_the_variable(name: str, value: str):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value}, dotenv=None)


def test_threads_default_to_mentions_and_accept_each_mode():
    assert Settings.from_env({}, dotenv=None).threads == "mentions"
    for mode in ("off", "mentions", "always", "ALWAYS"):
        assert Settings.from_env({"WENDA_THREADS": mode}, dotenv=None).threads == mode.lower()


def test_unknown_threads_mode_names_the_variable():
    with pytest.raises(SettingsError, match="WENDA_THREADS"):
        Settings.from_env({"WENDA_THREADS": "sometimes"}, dotenv=None)


def test_message_content_is_off_unless_asked_for_or_needed_by_ask_channels():
    assert not Settings.from_env({}, dotenv=None).reads_message_content
    assert Settings.from_env({"WENDA_MESSAGE_CONTENT": "1"}, dotenv=None).reads_message_content
    assert Settings.from_env({"WENDA_ASK_CHANNELS": "123"}, dotenv=None).reads_message_content
    with pytest.raises(SettingsError, match="WENDA_MESSAGE_CONTENT"):
        Settings.from_env({"WENDA_MESSAGE_CONTENT": "maybe"}, dotenv=None)


def shards(**environ: str) -> tuple[int | None, tuple[int, ...] | None]:
    settings = Settings.from_env(environ, dotenv=None)
    return settings.shard_count, settings.shard_ids


def test_without_shard_settings_the_bot_is_unsharded_and_syncs_its_commands():
    settings = Settings.from_env({}, dotenv=None)
    assert (settings.shard_count, settings.shard_ids, settings.sharded) == (None, None, False)
    assert settings.syncs_commands


def test_a_shard_count_alone_runs_every_shard_here():
    assert shards(WENDA_SHARD_COUNT="4") == (4, None)
    assert Settings.from_env({"WENDA_SHARD_COUNT": "4"}, dotenv=None).syncs_commands


@pytest.mark.parametrize(
    ("ids", "expected"),
    [("0,1", (0, 1)), ("0-1", (0, 1)), ("2, 3", (2, 3)), ("3,0-1", (0, 1, 3)), ("2-2", (2,)), ("0,1,", (0, 1))],
)
def test_shard_ids_are_a_list_or_ranges(ids: str, expected: tuple[int, ...]):
    assert shards(WENDA_SHARD_COUNT="4", WENDA_SHARD_IDS=ids) == (4, expected)


def test_only_the_process_running_shard_0_syncs_the_commands():
    first = Settings.from_env({"WENDA_SHARD_COUNT": "4", "WENDA_SHARD_IDS": "0-1"}, dotenv=None)
    second = Settings.from_env({"WENDA_SHARD_COUNT": "4", "WENDA_SHARD_IDS": "2-3"}, dotenv=None)
    assert (first.syncs_commands, second.syncs_commands) == (True, False)


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        ({"WENDA_SHARD_COUNT": "0"}, "WENDA_SHARD_COUNT must be between 1"),
        ({"WENDA_SHARD_COUNT": "two"}, "WENDA_SHARD_COUNT must be a whole number"),
        ({"WENDA_SHARD_IDS": "0,1"}, "WENDA_SHARD_IDS needs WENDA_SHARD_COUNT"),
        ({"WENDA_SHARD_COUNT": "4", "WENDA_SHARD_IDS": "4"}, "WENDA_SHARD_IDS names shard 4, but WENDA_SHARD_COUNT=4"),
        ({"WENDA_SHARD_COUNT": "4", "WENDA_SHARD_IDS": "2-5"}, "names shard 4"),
        ({"WENDA_SHARD_COUNT": "4", "WENDA_SHARD_IDS": "1,1"}, "names shard 1 twice"),
        ({"WENDA_SHARD_COUNT": "4", "WENDA_SHARD_IDS": "3-1"}, "WENDA_SHARD_IDS: the range '3-1' runs backwards"),
        ({"WENDA_SHARD_COUNT": "4", "WENDA_SHARD_IDS": "a"}, "WENDA_SHARD_IDS must be shard numbers"),
        ({"WENDA_SHARD_COUNT": "4", "WENDA_SHARD_IDS": "-1"}, "WENDA_SHARD_IDS must be shard numbers"),
        ({"WENDA_SHARD_COUNT": "4", "WENDA_SHARD_IDS": "0-"}, "WENDA_SHARD_IDS must be shard numbers"),
    ],
)
def test_unusable_shard_settings_say_which_variable_and_why(environ: dict[str, str], says: str):
    with pytest.raises(SettingsError, match=re.escape(says)):
        Settings.from_env(environ, dotenv=None)


def test_answers_are_scored_in_threads_unless_workers_are_asked_for():
    assert Settings.from_env({}, dotenv=None).answer_workers == 0
    assert Settings.from_env({"WENDA_ANSWER_WORKERS": "auto"}, dotenv=None).answer_workers is None
    assert Settings.from_env({"WENDA_ANSWER_WORKERS": "0"}, dotenv=None).answer_workers == 0
    assert Settings.from_env({"WENDA_ANSWER_WORKERS": "3"}, dotenv=None).answer_workers == 3


@pytest.mark.parametrize("value", ["two", "-1", "65"])
def test_unusable_answer_workers_is_a_settings_error_naming_the_variable(value: str):
    with pytest.raises(SettingsError, match="WENDA_ANSWER_WORKERS"):
        Settings.from_env({"WENDA_ANSWER_WORKERS": value}, dotenv=None)
