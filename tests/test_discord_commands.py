"""The command surface: the 问 wenda context menu, admin commands by role, and localised names and descriptions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from bot_fixtures import SEED, feedback_path_fixture, make_bot_fixture, open_library, seed_library_fixture  # noqa: F401  (fixtures)
from discord_standin import COMMAND_MESSAGE, DiscordStandin
from standin_fixtures import standin_fixture  # noqa: F401  (provides the standin fixture)
from test_discord_bot import BEIJING, BEIJING_GOLD, REBUILD_SECONDS, custom_ids, follow_up, plain

from wenda.bot.discord_bot import WendaBot

ASK_ABOUT = "问 wenda"
PORT_TEXT = "港口新闻\n东港码头的新泊位今年十月投入使用，年吞吐量可达八百万吨。\n码头扩建工程历时两年。\n"


@pytest.fixture
def corpus(seed_corpus: Path) -> Path:
    return seed_corpus


def synced(standin: DiscordStandin, name: str) -> dict[str, Any]:
    return next(c for c in standin.commands[None] if c["name"] == name)


# -- Apps → 问 wenda ---------------------------------------------------------------------------


async def test_context_menu_answers_the_target_message_like_ask(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot]
) -> None:
    async with standin.running(make_bot(top_k=1)):
        target = await standin.send_message(BEIJING)  # no mention: the bot itself never sees this text
        invoked = await standin.invoke_message_command(ASK_ABOUT, target.id)
        deferred = await standin.wait_for_reply(invoked)
        reply = await follow_up(standin, invoked)
    assert deferred.json["type"] == 5
    assert reply.status == 200
    assert plain(reply.json["embeds"][0]["description"]).startswith(BEIJING_GOLD)
    assert plain(reply.json["content"]).endswith(BEIJING)
    assert [c.split(":")[1] for c in custom_ids(reply.json)] == ["more", "vote", "vote"]


async def test_context_menu_is_synced_as_a_message_command(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot]
) -> None:
    async with standin.running(make_bot()):
        pass
    menu = synced(standin, ASK_ABOUT)
    assert menu["type"] == COMMAND_MESSAGE
    assert menu["name_localizations"] == {"zh-CN": ASK_ABOUT, "en-US": "Ask wenda"}


# -- admin commands by role -------------------------------------------------------------------


async def test_admin_commands_are_not_hidden_by_default_permissions(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot]
) -> None:
    async with standin.running(make_bot()):
        pass
    # Hidden commands would need someone to change the server's Integrations settings for the admin role.
    assert synced(standin, "reindex")["default_member_permissions"] is None
    assert synced(standin, "add")["default_member_permissions"] is None


async def test_admin_role_member_may_reindex(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], corpus: Path
) -> None:
    role = standin.add_role()
    editor = standin.add_member("编辑", roles=[role])
    bot = make_bot(open_library(corpus), admin_role=role)
    (corpus / "park.txt").write_text("运河公园改造完成\n大运河森林公园的改造工程全部完工。\n", encoding="utf-8")
    async with standin.running(bot):
        invoked = await standin.invoke_slash("reindex", user=editor)
        deferred = await standin.wait_for_reply(invoked)
        report = await follow_up(standin, invoked, timeout=REBUILD_SECONDS)
    assert deferred.json["type"] == 5
    assert report.json["content"] == "已重建索引：3 篇文章，27 段。"


async def test_admin_role_member_may_add_a_file(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], corpus: Path
) -> None:
    role = standin.add_role()
    editor = standin.add_member("编辑", roles=[role])
    attachment = standin.attach("port.txt", PORT_TEXT.encode("utf-8"), "text/plain")
    async with standin.running(make_bot(open_library(corpus), admin_role=role)):
        added = await standin.invoke_slash("add", {"file": attachment}, user=editor)
        report = await follow_up(standin, added)
    assert report.json["content"] == "已加入 port.txt：1 篇文章，2 段。"
    assert sorted(p.name for p in corpus.iterdir() if not p.name.startswith(".")) == [SEED.name, "port.txt"]


async def test_member_of_another_role_may_not_reindex(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot], corpus: Path
) -> None:
    admins, others = standin.add_role(), standin.add_role()
    outsider = standin.add_member("路人", roles=[others])
    bot = make_bot(open_library(corpus), admin_role=admins)
    async with standin.running(bot):
        refused = await standin.wait_for_reply(await standin.invoke_slash("reindex", user=outsider))
    assert refused.json["type"] == 4
    assert "管理员角色" in refused.json["data"]["content"]


# -- localisation -----------------------------------------------------------------------------


async def test_command_names_and_descriptions_are_localised(
    standin: DiscordStandin, make_bot: Callable[..., WendaBot]
) -> None:
    async with standin.running(make_bot()):
        pass
    sync = next(r for r in standin.requests if r.method == "PUT" and r.path.endswith("/commands"))
    assert sync.status == 200  # the stand-in checks every localised name and description as Discord does
    ask = synced(standin, "ask")
    assert ask["name_localizations"] == {"zh-CN": "提问", "en-US": "ask"}
    assert ask["description_localizations"]["zh-CN"] == ask["description"]
    assert ask["description_localizations"]["en-US"].startswith("Ask the library")
    [question] = ask["options"]
    assert question["name_localizations"] == {"zh-CN": "问题", "en-US": "question"}
    assert question["description_localizations"] == {"zh-CN": "你的问题", "en-US": "Your question"}
    for command in standin.commands[None]:
        assert set(command["name_localizations"]) == {"zh-CN", "en-US"}, command["name"]
        if command["type"] == 1:
            assert set(command["description_localizations"]) == {"zh-CN", "en-US"}, command["name"]
