"""Per-channel corpora: a scope keeps a search to one subfolder, with the whole corpus's statistics."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from bot_fixtures import feedback_path_fixture, make_bot_fixture, seed_library_fixture  # noqa: F401  (fixtures)
from discord_standin import DiscordStandin
from standin_fixtures import follow_up, standin_fixture  # noqa: F401  (provides the standin fixture)
from test_discord_threads import mention, thread_answer

from wenda.bot.answer import answer
from wenda.bot.channels import channel_scope
from wenda.bot.discord_bot import WendaBot
from wenda.bot.settings import Settings, SettingsError
from wenda.retrieval import maxscore
from wenda.retrieval.index import BM25Index
from wenda.retrieval.scope import ScopeError, normalise_scope
from wenda.retrieval.store import Library, StoreSettings

ECONOMY = """\
央行调整存款利率
央行宣布下调存款利率，储户的利息收入随之减少。
"""
# The better passage for 存款利率: every word of the question, twice.
POLITICS = """\
存款利率听证会召开
代表们在听证会上讨论存款利率和存款利率的调整方案，认为存款利率影响深远。
"""
FILLER = [
    "城市公园新增骑行步道。",
    "高原铁路全线通车。",
    "古城墙修缮完工。",
    "社区食堂开业迎客。",
    "博物馆延长开放时间。",
]


@pytest.fixture
def two_folders(tmp_path: Path) -> Library:
    root = tmp_path / "corpus"
    (root / "economy").mkdir(parents=True)
    (root / "politics").mkdir()
    (root / "economy" / "rates.txt").write_text(ECONOMY, encoding="utf-8")
    (root / "politics" / "hearing.txt").write_text(POLITICS, encoding="utf-8")
    for i, line in enumerate(FILLER):
        (root / f"filler_{i}.txt").write_text(f"杂闻{i}\n{line}\n", encoding="utf-8")
    return Library.open(root, StoreSettings(cache=False))


@pytest.mark.parametrize("path", ["compiled", "compiled pruned", "numpy", "numpy pruned"])
def test_masked_top_k_equals_filtered_scores(monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    if path.startswith("compiled"):
        assert maxscore.compiled is not None, "wenda.retrieval._scoring was not built"
    else:
        monkeypatch.setattr(maxscore, "compiled", None)
    if path.endswith("pruned"):  # every query takes MaxScore's pruning path, not the few-postings one
        monkeypatch.setattr(maxscore, "_SMALL_QUERY", 0)
        monkeypatch.setattr(maxscore, "_FIRST_BATCH", 64)
    rng = random.Random(7)
    vocab = [f"w{i}" for i in range(60)]
    docs = [[rng.choice(vocab[: rng.randint(5, 60)]) for _ in range(rng.randint(1, 30))] for _ in range(2000)]
    index = BM25Index.build(docs)
    allowed = np.array([rng.random() < 0.1 for _ in docs])
    within = index.restrict(allowed)
    for _ in range(30):
        query = rng.sample(vocab, 4)
        scores = index.get_scores(query)
        expected = sorted(
            ((slot, scores[slot]) for slot in np.flatnonzero(allowed) if any(t in docs[slot] for t in query)),
            key=lambda pair: (-pair[1], pair[0]),
        )[:5]
        assert index.top_k(query, 5, within) == [(int(s), float(v)) for s, v in expected]


def test_scope_names_a_subfolder() -> None:
    assert normalise_scope(" economy/ ") == "economy"
    assert normalise_scope("a\\b") == "a/b"
    for bad in ("", "/", "../x", "/abs"):
        with pytest.raises(ScopeError):
            normalise_scope(bad)


def test_scoped_answer_quotes_only_its_subfolder(two_folders: Library) -> None:
    everywhere = answer(two_folders.searcher, "存款利率")
    assert everywhere.hits[0].passage.file == "politics/hearing.txt"
    scoped = answer(two_folders.searcher, "存款利率", scope="economy")
    assert scoped.answered
    assert {h.passage.file for h in scoped.hits} == {"economy/rates.txt"}


def test_scoped_scores_keep_the_whole_corpus_statistics(two_folders: Library) -> None:
    everywhere = {h.passage.file: h.score for h in answer(two_folders.searcher, "存款利率", 5).hits}
    scoped = answer(two_folders.searcher, "存款利率", scope="economy").hits[0]
    assert scoped.score == everywhere["economy/rates.txt"]


def test_scope_with_nothing_relevant_declines(two_folders: Library) -> None:
    assert not answer(two_folders.searcher, "存款利率", scope="nowhere").answered


# -- settings -------------------------------------------------------------------------------------


def test_channel_corpora_are_read_from_the_environment() -> None:
    environ = {"WENDA_CHANNEL_CORPORA": " 123=economy, 456=politics/ ;789=news/china"}
    corpora = Settings.from_env(environ, dotenv=None).channel_corpora
    assert corpora == {123: "economy", 456: "politics", 789: "news/china"}


def test_no_channel_corpora_by_default() -> None:
    assert Settings.from_env({}, dotenv=None).channel_corpora == {}


@pytest.mark.parametrize("raw", ["123", "abc=economy", "123=", "123=../outside", "123=a,123=b"])
def test_a_bad_channel_corpora_entry_names_the_variable(raw: str) -> None:
    with pytest.raises(SettingsError, match="WENDA_CHANNEL_CORPORA"):
        Settings.from_env({"WENDA_CHANNEL_CORPORA": raw}, dotenv=None)


# -- which channel searches what -------------------------------------------------------------------


def test_a_channel_inherits_its_category_mapping() -> None:
    channel = SimpleNamespace(id=1, category_id=9)
    assert channel_scope({9: "economy"}, channel) == "economy"


def test_a_channel_own_mapping_beats_its_category() -> None:
    channel = SimpleNamespace(id=1, category_id=9)
    assert channel_scope({1: "politics", 9: "economy"}, channel) == "politics"


def test_a_thread_inherits_its_parent_channel_mapping() -> None:
    thread = SimpleNamespace(id=5, parent_id=1, parent=SimpleNamespace(id=1, category_id=9))
    assert channel_scope({1: "economy", 9: "politics"}, thread) == "economy"


def test_a_thread_inherits_its_parent_category_mapping() -> None:
    thread = SimpleNamespace(id=5, parent_id=1, parent=SimpleNamespace(id=1, category_id=9))
    assert channel_scope({9: "politics"}, thread) == "politics"


def test_a_thread_whose_parent_is_not_cached_still_inherits_by_parent_id() -> None:
    thread = SimpleNamespace(id=5, parent_id=1, parent=None)
    assert channel_scope({1: "economy"}, thread) == "economy"


def test_a_dm_or_an_unmapped_channel_searches_everything() -> None:
    assert channel_scope({1: "economy"}, SimpleNamespace(id=77)) is None
    assert channel_scope({1: "economy"}, SimpleNamespace(id=2, category_id=3)) is None
    assert channel_scope({}, SimpleNamespace(id=1)) is None


# -- end to end through the Discord stand-in ---------------------------------------------------------


async def ask_text(standin: DiscordStandin, question: str) -> str:
    """/ask question in the stand-in's guild channel: everything the answer shows, as one string."""
    asked = await standin.invoke_slash("ask", {"question": question})
    await standin.wait_for_reply(asked)
    reply = await standin.wait_for_request(method="POST", path=asked.webhook_path, after=asked)
    return json.dumps(reply.json, ensure_ascii=False)


def mapped_id(standin: DiscordStandin, where: str) -> int:
    """The id to map: the stand-in's channel's own, or that of a category it is put in."""
    return standin.channel_id if where == "channel" else standin.add_category()


@pytest.mark.parametrize("where", ["channel", "category"])
async def test_ask_in_a_mapped_channel_quotes_only_its_subfolder(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], two_folders: Library, where: str
) -> None:
    corpora = {mapped_id(standin, where): "economy"}
    async with standin.running(make_bot(two_folders, channel_corpora=corpora)):
        shown = await ask_text(standin, "存款利率")
    assert "economy/rates.txt" in shown
    assert "politics/hearing.txt" not in shown


async def test_ask_in_an_unmapped_channel_searches_everything(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], two_folders: Library
) -> None:
    async with standin.running(make_bot(two_folders, channel_corpora={standin.channel_id + 1: "economy"})):
        shown = await ask_text(standin, "存款利率")
    assert "politics/hearing.txt" in shown


async def test_a_dm_searches_everything(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], two_folders: Library
) -> None:
    async with standin.running(make_bot(two_folders, channel_corpora={standin.channel_id: "economy"})):
        sent = await standin.send_message("存款利率", guild=False)
        reply = await standin.wait_for_reply(sent)
    assert "politics/hearing.txt" in json.dumps(reply.json, ensure_ascii=False)


@pytest.mark.parametrize("where", ["channel", "category"])
async def test_sources_in_a_mapped_channel_lists_only_its_subfolder(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], two_folders: Library, where: str
) -> None:
    corpora = {mapped_id(standin, where): "economy"}
    async with standin.running(make_bot(two_folders, channel_corpora=corpora)):
        listed = await standin.wait_for_reply(await standin.invoke_slash("sources"))
    embed = listed.json["data"]["embeds"][0]
    assert "央行调整存款利率" in embed["description"]
    assert "听证会" not in embed["description"]
    assert "1 篇文章" in embed["title"]


# -- categories, end to end: the stand-in's channel in a category ------------------------------------


@pytest.mark.parametrize("asked_by", ["mention", "/ask"])
async def test_a_thread_wenda_started_inherits_its_channel_category_mapping(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], two_folders: Library, asked_by: str
) -> None:
    category_id = standin.add_category()
    bot = make_bot(two_folders, channel_corpora={category_id: "economy"}, threads="mentions")
    async with standin.running(bot):
        asked = await mention(standin, "存款利率")
        await thread_answer(standin, asked)
        if asked_by == "mention":
            again = await mention(standin, "存款利率", channel=asked.id)
            reply = await standin.wait_for_reply(again)
        else:
            in_thread = await standin.invoke_slash("ask", {"question": "存款利率"}, channel=asked.id)
            reply = await follow_up(standin, in_thread)
    shown = json.dumps(reply.json, ensure_ascii=False)
    assert reply.response["channel_id"] == str(asked.id)  # asked and answered in wenda's thread
    assert "economy/rates.txt" in shown
    assert "politics/hearing.txt" not in shown


async def test_ask_in_a_channel_mapped_apart_from_its_category_quotes_its_own_subfolder(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], two_folders: Library
) -> None:
    category_id = standin.add_category()
    corpora = {standin.channel_id: "economy", category_id: "politics"}
    async with standin.running(make_bot(two_folders, channel_corpora=corpora)):
        shown = await ask_text(standin, "存款利率")
    assert "economy/rates.txt" in shown
    assert "politics/hearing.txt" not in shown
