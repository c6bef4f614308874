"""The Discord stand-in speaks enough Gateway and REST for the unmodified discord.py client."""

import asyncio
import io
from typing import Any

import aiohttp
import discord
import discord.http
import pytest
from discord import app_commands
from discord_standin import DiscordStandin
from standin_fixtures import standin_fixture  # noqa: F401  (provides the standin fixture)

pytestmark = pytest.mark.asyncio


class Bot(discord.Client):
    """A throwaway bot: it queues every message it sees and registers the given persistent views."""

    def __init__(
        self,
        *,
        message_content: bool = True,
        members: bool = False,
        views: tuple[type[discord.ui.View], ...] = (),
    ) -> None:
        intents = discord.Intents.default()
        intents.message_content = message_content
        intents.members = members
        super().__init__(
            intents=intents,
            guild_ready_timeout=0.05,
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.tree = app_commands.CommandTree(self)
        self.seen: asyncio.Queue[discord.Message] = asyncio.Queue()
        self._views = views

    async def setup_hook(self) -> None:
        for view in self._views:
            self.add_view(view())

    async def on_message(self, message: discord.Message) -> None:
        if message.author != self.user:
            await self.seen.put(message)


async def rest(standin: DiscordStandin, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
    """Talk to the stand-in as the bot would, without discord.py in between."""
    headers = {"Authorization": "Bot standin-token"}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, standin.api_base + path, json=payload, headers=headers) as reply,
    ):
        return reply.status, (await reply.json() if reply.status != 204 else None)


async def test_client_sees_ready_and_the_guild(standin: DiscordStandin) -> None:
    bot = Bot(members=True)
    async with standin.running(bot):
        guild = bot.get_guild(standin.guild_id)
        assert bot.user is not None and bot.user.id == standin.bot_user.id
        assert guild is not None and guild.get_channel(standin.channel_id) is not None
        manager = guild.get_member(standin.manager.id)
        member = guild.get_member(standin.member.id)
        assert manager is not None and manager.guild_permissions.manage_guild
        assert member is not None and not member.guild_permissions.manage_guild
    assert standin.identify is not None and standin.identify["token"] == "standin-token"


async def test_a_category_holds_the_text_channel_as_discord_py_sees_it(standin: DiscordStandin) -> None:
    category_id = standin.add_category("经济")
    bot = Bot()
    async with standin.running(bot):
        channel = bot.get_channel(standin.channel_id)
        category = bot.get_channel(category_id)
        status, body = await rest(standin, "POST", f"/channels/{category_id}/messages", {"content": "你好"})
    assert isinstance(category, discord.CategoryChannel) and category.name == "经济"
    assert isinstance(channel, discord.TextChannel) and channel.category_id == category_id
    assert category.text_channels == [channel]
    assert (status, body["code"]) == (400, 50008)


async def test_without_a_category_the_text_channel_has_none(standin: DiscordStandin) -> None:
    bot = Bot()
    async with standin.running(bot):
        guild = bot.get_guild(standin.guild_id)
        channel = bot.get_channel(standin.channel_id)
    assert guild is not None and guild.categories == []
    assert isinstance(channel, discord.TextChannel) and channel.category_id is None


async def test_a_thread_in_a_categorised_channel_has_the_channel_as_parent(standin: DiscordStandin) -> None:
    category_id = standin.add_category()
    bot = Bot()
    async with standin.running(bot):
        starter = await standin.send_message("大家来讨论")
        thread_id = await standin.start_thread(starter, "讨论")
        await standin.send_message("第一条", channel=thread_id)
        seen = [await asyncio.wait_for(bot.seen.get(), 5) for _ in range(2)]
        thread = bot.get_channel(thread_id)
    assert isinstance(thread, discord.Thread)
    assert thread.parent_id == standin.channel_id
    assert thread.category_id == category_id
    assert seen[1].channel == thread


async def test_slash_command_answer_is_recorded(standin: DiscordStandin) -> None:
    bot = Bot()

    @bot.tree.command(name="ask", description="提问")
    async def ask(interaction: discord.Interaction, question: str) -> None:
        await interaction.response.send_message(f"答：{question}")

    async with standin.running(bot):
        invoked = await standin.invoke_slash("ask", {"question": "天气如何"})
        reply = await standin.wait_for_reply(invoked)
    assert reply.status == 200
    assert reply.json["type"] == 4
    assert reply.json["data"]["content"] == "答：天气如何"
    assert reply.json["data"]["allowed_mentions"] == {"parse": []}


async def test_synced_guild_command_is_invoked_with_its_guild_id(standin: DiscordStandin) -> None:
    bot = Bot()
    seen: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()

    @bot.tree.command(name="ping", description="检查")
    async def ping(interaction: discord.Interaction) -> None:
        seen.set_result(interaction.command_id)
        await interaction.response.send_message("pong")

    guild = discord.Object(standin.guild_id)
    bot.tree.copy_global_to(guild=guild)
    async with standin.running(bot):
        synced = await bot.tree.sync(guild=guild)
        invoked = await standin.invoke_slash("ping")
        await standin.wait_for_reply(invoked)
        command_id = await asyncio.wait_for(seen, 5)
    assert [command.name for command in synced] == ["ping"]
    assert command_id == synced[0].id


async def test_subcommand_of_a_synced_group_gets_typed_options(standin: DiscordStandin) -> None:
    bot = Bot()
    admin = app_commands.Group(name="admin", description="管理")
    seen: asyncio.Future[tuple[int, bool]] = asyncio.get_running_loop().create_future()

    @admin.command(name="top", description="前几条")
    async def top(interaction: discord.Interaction, count: int, verbose: bool) -> None:
        seen.set_result((count, verbose))
        await interaction.response.send_message("好", ephemeral=True)

    bot.tree.add_command(admin)
    async with standin.running(bot):
        await bot.tree.sync()
        invoked = await standin.invoke_slash("admin top", {"count": 3, "verbose": False})
        await standin.wait_for_reply(invoked)
    assert seen.result() == (3, False)


async def test_multipart_payload_json_is_recorded(standin: DiscordStandin) -> None:
    bot = Bot()
    async with standin.running(bot):
        sent = await standin.send_message("要文件")
        message = await asyncio.wait_for(bot.seen.get(), 5)
        await message.channel.send("附件如下", file=discord.File(io.BytesIO(b"x"), "answer.txt"))
        reply = await standin.wait_for_reply(sent)
    assert reply.json["content"] == "附件如下"
    assert reply.files == ("answer.txt",)
    assert [a["filename"] for a in reply.response["attachments"]] == ["answer.txt"]


async def test_follow_up_after_defer_is_accepted(standin: DiscordStandin) -> None:
    bot = Bot()

    @bot.tree.command(name="slow", description="慢")
    async def slow(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.followup.send("好了")

    async with standin.running(bot):
        invoked = await standin.invoke_slash("slow")
        deferred = await standin.wait_for_reply(invoked)
        follow_up = await standin.wait_for_request(method="POST", path=invoked.webhook_path, after=invoked)
    assert deferred.json["type"] == 5
    assert follow_up.status == 200
    assert follow_up.json["content"] == "好了"


async def test_over_long_content_raises_invalid_form_body_in_the_bot(
    standin: DiscordStandin,
) -> None:
    bot = Bot()
    outcome: asyncio.Future[discord.HTTPException | None] = asyncio.get_running_loop().create_future()

    @bot.tree.command(name="long", description="长")
    async def long(interaction: discord.Interaction) -> None:
        try:
            await interaction.response.send_message("字" * 2001)
        except discord.HTTPException as exc:
            outcome.set_result(exc)
        else:
            outcome.set_result(None)

    async with standin.running(bot):
        await standin.invoke_slash("long")
        error = await asyncio.wait_for(outcome, 5)
    assert error is not None
    assert (error.status, error.code) == (400, 50035)
    assert "data.content" in error.text


async def test_callback_after_the_deadline_is_an_unknown_interaction(
    standin: DiscordStandin,
) -> None:
    standin.interaction_deadline = 0.0  # any answer is now late, without the test sleeping
    bot = Bot()
    outcome: asyncio.Future[discord.HTTPException | None] = asyncio.get_running_loop().create_future()

    @bot.tree.command(name="late", description="迟")
    async def late(interaction: discord.Interaction) -> None:
        try:
            await interaction.response.send_message("太迟了")
        except discord.HTTPException as exc:
            outcome.set_result(exc)
        else:
            outcome.set_result(None)

    async with standin.running(bot):
        await standin.invoke_slash("late")
        error = await asyncio.wait_for(outcome, 5)
    assert isinstance(error, discord.NotFound)
    assert error.code == 10062


async def test_second_callback_is_already_acknowledged(standin: DiscordStandin) -> None:
    bot = Bot()

    @bot.tree.command(name="once", description="一次")
    async def once(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("一")

    async with standin.running(bot):
        invoked = await standin.invoke_slash("once")
        first = await standin.wait_for_reply(invoked)
        again = {"type": 4, "data": {"content": "二"}}
        status, body = await rest(standin, "POST", invoked.callback_path, again)
    assert first.status == 200
    assert (status, body["code"]) == (400, 40060)


async def test_message_reaches_on_message(standin: DiscordStandin) -> None:
    bot = Bot()
    async with standin.running(bot):
        sent = await standin.send_message("你好，世界")
        message = await asyncio.wait_for(bot.seen.get(), 5)
    assert message.id == sent.id
    assert message.content == "你好，世界"
    assert message.guild is not None and message.guild.id == standin.guild_id
    assert message.author.id == standin.member.id


async def test_content_is_hidden_without_the_message_content_intent(
    standin: DiscordStandin,
) -> None:
    bot = Bot(message_content=False)
    async with standin.running(bot):
        await standin.send_message("看不见")
        hidden = await asyncio.wait_for(bot.seen.get(), 5)
        await standin.send_message(f"{standin.bot_user.mention} 看得见")
        mentioned = await asyncio.wait_for(bot.seen.get(), 5)
    assert hidden.content == ""
    assert mentioned.content.endswith("看得见")


class Confirm(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="确认", custom_id="wenda:confirm")
    async def confirm(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.send_message(f"已确认 {interaction.user.id}")


async def test_button_click_reaches_a_persistent_view(standin: DiscordStandin) -> None:
    # The message was sent by an earlier run of the bot; only the persistent view can answer.
    button = {"type": 2, "style": 1, "label": "确认", "custom_id": "wenda:confirm"}
    old = {"content": "请确认", "components": [{"type": 1, "components": [button]}]}
    status, message = await rest(standin, "POST", f"/channels/{standin.channel_id}/messages", old)
    assert status == 200
    bot = Bot(views=(Confirm,))
    async with standin.running(bot):
        clicked = await standin.click_button(int(message["id"]), "wenda:confirm")
        reply = await standin.wait_for_reply(clicked)
    assert reply.status == 200
    assert reply.json["data"]["content"] == f"已确认 {standin.member.id}"


async def test_dm_is_answered_in_the_dm_channel(standin: DiscordStandin) -> None:
    bot = Bot()
    async with standin.running(bot):
        sent = await standin.send_message("私下问一句", guild=False)
        message = await asyncio.wait_for(bot.seen.get(), 5)
        await message.channel.send("私下答一句")
        reply = await standin.wait_for_reply(sent)
    assert message.guild is None
    assert sent.channel_id == standin.dm_channel_id(standin.member)
    assert reply.status == 200
    assert reply.json["content"] == "私下答一句"


async def test_user_send_opens_a_dm_channel(standin: DiscordStandin) -> None:
    bot = Bot()

    @bot.tree.command(name="dm", description="私信")
    async def dm(interaction: discord.Interaction) -> None:
        await interaction.user.send("这是私信")
        await interaction.response.send_message("已私信", ephemeral=True)

    async with standin.running(bot):
        invoked = await standin.invoke_slash("dm")
        await standin.wait_for_reply(invoked)
    dm_path = f"/channels/{standin.dm_channel_id(standin.member)}/messages"
    opened = [r for r in standin.requests if r.path == "/users/@me/channels"]
    posted = [r for r in standin.requests if r.path == dm_path]
    assert [r.json["recipient_id"] for r in opened] == [standin.member.id]
    assert [r.json["content"] for r in posted] == ["这是私信"]


def _button(label: str = "按钮", custom_id: str = "b") -> dict[str, Any]:
    return {"type": 2, "style": 1, "label": label, "custom_id": custom_id}


def _row(count: int) -> dict[str, Any]:
    return {"type": 1, "components": [_button(custom_id=str(i)) for i in range(count)]}


OVER_LIMIT = {
    "content": ({"content": "字" * 2001}, ["content"]),
    "title": ({"embeds": [{"title": "x" * 257}]}, ["embeds", "0", "title"]),
    "description": ({"embeds": [{"description": "x" * 4097}]}, ["embeds", "0", "description"]),
    "field name": (
        {"embeds": [{"fields": [{"name": "x" * 257, "value": "v"}]}]},
        ["embeds", "0", "fields", "0", "name"],
    ),
    "field value": (
        {"embeds": [{"fields": [{"name": "n", "value": "x" * 1025}]}]},
        ["embeds", "0", "fields", "0", "value"],
    ),
    "footer": ({"embeds": [{"footer": {"text": "x" * 2049}}]}, ["embeds", "0", "footer", "text"]),
    "author": ({"embeds": [{"author": {"name": "x" * 257}}]}, ["embeds", "0", "author", "name"]),
    "26 fields": (
        {"embeds": [{"fields": [{"name": "n", "value": "v"}] * 26}]},
        ["embeds", "0", "fields"],
    ),
    "11 embeds": ({"embeds": [{"title": "t"}] * 11}, ["embeds"]),
    "6000 in total": ({"embeds": [{"description": "x" * 3001}] * 2}, ["embeds"]),
    "button label": (
        {"content": "c", "components": [{"type": 1, "components": [_button("x" * 81)]}]},
        ["components", "0", "components", "0", "label"],
    ),
    "6 rows": ({"content": "c", "components": [_row(1)] * 6}, ["components"]),
    "6 buttons": ({"content": "c", "components": [_row(6)]}, ["components", "0", "components"]),
}


@pytest.mark.parametrize(("payload", "error_path"), OVER_LIMIT.values(), ids=OVER_LIMIT.keys())
async def test_over_limit_message_is_invalid_form_body(
    standin: DiscordStandin, payload: dict[str, Any], error_path: list[str]
) -> None:
    status, body = await rest(standin, "POST", f"/channels/{standin.channel_id}/messages", payload)
    assert (status, body["code"], body["message"]) == (400, 50035, "Invalid Form Body")
    errors = body["errors"]
    for key in error_path:
        errors = errors[key]
    assert errors["_errors"]


async def test_message_at_every_limit_is_accepted(standin: DiscordStandin) -> None:
    fields = [{"name": "名", "value": "值"}] * 25
    embed = {"title": "x" * 256, "description": "x" * 4096, "fields": fields}
    rows = [{"type": 1, "components": [_button("x" * 80, f"{r}-{b}") for b in range(5)]}
            for r in range(5)]  # fmt: skip
    payload = {"content": "字" * 2000, "embeds": [embed], "components": rows}
    status, _ = await rest(standin, "POST", f"/channels/{standin.channel_id}/messages", payload)
    assert status == 200


async def test_allowed_mentions_decide_who_is_pinged(standin: DiscordStandin) -> None:
    path = f"/channels/{standin.channel_id}/messages"
    content = f"@everyone {standin.member.mention}"
    _, muted = await rest(standin, "POST", path, {"content": content, "allowed_mentions": {"parse": []}})
    _, loud = await rest(standin, "POST", path, {"content": content})
    assert (muted["mention_everyone"], muted["mentions"]) == (False, [])
    assert loud["mention_everyone"] is True
    assert [user["id"] for user in loud["mentions"]] == [str(standin.member.id)]


async def test_follow_up_before_any_response_is_an_unknown_webhook(
    standin: DiscordStandin,
) -> None:
    bot = Bot()

    @bot.tree.command(name="silent", description="不回答")
    async def silent(interaction: discord.Interaction) -> None:
        return None

    async with standin.running(bot):
        invoked = await standin.invoke_slash("silent")
        status, body = await rest(standin, "POST", invoked.webhook_path, {"content": "早"})
    assert (status, body["code"]) == (404, 10015)


async def test_patched_points_discord_at_the_stand_in_and_restores_it() -> None:
    original = discord.http.Route.BASE
    async with DiscordStandin() as standin:
        with standin.patched():
            assert discord.http.Route("GET", "/users/@me").url == standin.api_base + "/users/@me"
    restored = discord.http.Route.BASE
    assert restored == original


# -- shards -----------------------------------------------------------------------------------


class ShardedBot(discord.AutoShardedClient):
    """A throwaway sharded bot that queues every message it sees, with the shard it came on."""

    def __init__(self, **shards: Any) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        super().__init__(intents=intents, guild_ready_timeout=0.05, **shards)
        self.seen: asyncio.Queue[tuple[int | None, str]] = asyncio.Queue()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        pass  # the stand-in does not limit how often shards identify; discord.py would wait 5 s each

    async def on_message(self, message: discord.Message) -> None:
        if message.author != self.user:
            shard = message.guild.shard_id if message.guild else None
            await self.seen.put((shard, message.content))


async def test_gateway_bot_recommends_a_shard_count_and_a_session_start_limit(standin: DiscordStandin) -> None:
    standin.recommended_shards = 2
    status, gateway = await rest(standin, "GET", "/gateway/bot")
    assert status == 200 and gateway["shards"] == 2 and gateway["url"] == standin.gateway_url
    assert gateway["session_start_limit"]["max_concurrency"] >= 1
    bot = ShardedBot()  # no shard_count: discord.py asks /gateway/bot and runs what it recommends
    async with standin.running(bot, timeout=60):
        assert bot.shard_count == 2 and sorted(bot.shards) == [0, 1]
    assert sorted(tuple(i["shard"]) for i in standin.identified) == [(0, 2), (1, 2)]


async def test_each_shard_is_sent_only_its_own_guilds(standin: DiscordStandin) -> None:
    guilds = [standin.add_guild(f"服务器{n}", shard=n % 3, of=3) for n in range(5)]
    bot = ShardedBot(shard_count=3)
    async with standin.running(bot, timeout=60):
        await standin.wait_shards_ready(3, timeout=60)
        assert all(bot.get_guild(g.id).shard_id == g.shard(3) == n % 3 for n, g in enumerate(guilds))
        assert len(bot.guilds) == len(guilds) + 1  # and the stand-in's first guild, on its own shard
    assert sorted(tuple(i["shard"]) for i in standin.identified) == [(0, 3), (1, 3), (2, 3)]


async def test_a_guild_s_events_reach_only_the_client_running_its_shard_and_dms_only_shard_0(
    standin: DiscordStandin,
) -> None:
    zero, one = standin.add_guild("零", shard=0, of=2), standin.add_guild("一", shard=1, of=2)
    first, second = ShardedBot(shard_count=2, shard_ids=[0]), ShardedBot(shard_count=2, shard_ids=[1])
    async with standin.running(first, timeout=60), standin.running(second, timeout=60):
        await standin.wait_shards_ready(2, timeout=60)
        sent = [
            await standin.send_message("给一号", channel=one.channel_id),
            await standin.send_message("给零号", channel=zero.channel_id),
            await standin.send_message("私信", guild=False),
            await standin.send_message("再给一号", channel=one.channel_id),
        ]
        # Events on one connection arrive in order: had a client been sent another's, it would come first.
        first_saw = [await asyncio.wait_for(first.seen.get(), 60) for _ in range(2)]
        second_saw = [await asyncio.wait_for(second.seen.get(), 60) for _ in range(2)]
    assert [m.shard for m in sent] == [1, 0, 0, 1]
    assert first_saw == [(0, "给零号"), (None, "私信")]
    assert second_saw == [(1, "给一号"), (1, "再给一号")]


async def test_an_identify_for_a_shard_beyond_the_count_is_closed_as_invalid(standin: DiscordStandin) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(standin.gateway_url) as ws:
        await ws.receive_json()  # HELLO
        await ws.send_json({"op": 2, "d": {"token": "standin-token", "intents": 0, "shard": [2, 2]}})
        closed = await ws.receive()
    assert closed.type is aiohttp.WSMsgType.CLOSE and closed.data == 4010
