"""A protocol-level Discord stand-in: Gateway and REST v10 on 127.0.0.1 for the real discord.py."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import re
import secrets
import socket
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import discord
import discord.gateway
import discord.http
import yarl
from aiohttp import BodyPartReader, WSMsgType, web

DISCORD_EPOCH_MS = 1_420_070_400_000
API_PREFIX = "/api/v10"
MANAGE_GUILD = 0x20
# View channel, send messages, embed links, attach files, read history, use application commands.
EVERYONE_PERMISSIONS = 0x400 | 0x800 | 0x4000 | 0x8000 | 0x10000 | 0x80000000
CREATE_PUBLIC_THREADS = 1 << 35
SEND_MESSAGES_IN_THREADS = 1 << 38
# And add reactions, and what README's invite asks for threads.
BOT_PERMISSIONS = EVERYONE_PERMISSIONS | 0x40 | CREATE_PUBLIC_THREADS | SEND_MESSAGES_IN_THREADS
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DM_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_COMPONENTS_V2 = 1 << 15
# PONG, message, deferred message, deferred update, update, autocomplete result, modal.
CALLBACK_TYPES = frozenset({1, 4, 5, 6, 7, 8, 9})
CHANNEL_TEXT = 0
CHANNEL_DM = 1
CHANNEL_CATEGORY = 4
CHANNEL_PUBLIC_THREAD = 11
COMMAND_CHAT_INPUT = 1
COMMAND_MESSAGE = 3
# Locales a command may be localised to (a sample of Discord's list: the ones tests meet).
LOCALES = frozenset({"zh-CN", "zh-TW", "en-US", "en-GB", "ja", "ko", "fr", "de", "es-ES"})
# Discord's rule for a slash command's name, in each language (context menus may use spaces and case).
SLASH_NAME = re.compile(r"[-_\w]{1,32}")
MENTION_RE = re.compile(r"<@!?(\d+)>")
ROLE_MENTION_RE = re.compile(r"<@&(\d+)>")
# What Discord certainly refuses as an embed link: no http(s) scheme, no host, or whitespace in it.
WELL_FORMED_URL = re.compile(r"https?://[^\s/?#]+(?:[/?#]\S*)?", re.IGNORECASE)

Reply = tuple[int, Any]  # (HTTP status, JSON body or None for 204)


class SnowflakeFactory:
    """Snowflakes that encode the current time: discord.py dates interactions by their id."""

    def __init__(self) -> None:
        self._counter = itertools.count()

    def __call__(self) -> int:
        elapsed_ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return (elapsed_ms << 22) | (next(self._counter) & 0x3FFFFF)


@dataclass(frozen=True)
class FakeUser:
    id: int
    name: str
    bot: bool = False
    roles: tuple[int, ...] = ()

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.name,
            "global_name": self.name,
            "discriminator": "0",
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
        }


@dataclass(frozen=True)
class RecordedRequest:
    """One REST request as the stand-in saw it, with the answer it gave."""

    method: str
    path: str  # below /api/v10, e.g. "/channels/1/messages"
    query: dict[str, str]
    json: Any  # the JSON body, or multipart payload_json; None when there was none
    files: tuple[str, ...]
    status: int
    response: Any
    at: float = 0.0  # time.monotonic() when the stand-in answered it
    token: str | None = None  # the bot token it was sent with (None: unauthenticated, e.g. a webhook)


@dataclass(frozen=True)
class StandinGuild:
    """A further guild (add_guild), with its one text channel; its @everyone role has the guild's id."""

    id: int
    channel_id: int
    name: str

    def shard(self, count: int) -> int:
        """The shard that receives this guild's events: Discord's (guild_id >> 22) % shard count."""
        return (self.id >> 22) % count


@dataclass
class _Session:
    """One gateway connection: a client, or one shard of a sharded client (IDENTIFY's `shard: [id, count]`)."""

    ws: web.WebSocketResponse
    identify: dict[str, Any] | None = None
    shard: tuple[int, int] = (0, 1)
    sequence: int = 0
    ready: bool = False

    def receives(self, guild_id: int | None) -> bool:
        """Whether Discord sends this connection a guild's events: DMs (no guild) go to shard 0 only."""
        shard_id, count = self.shard
        return shard_id == (0 if guild_id is None else (guild_id >> 22) % count)


@dataclass(frozen=True)
class InjectedMessage:
    id: int
    channel_id: int
    guild_id: int | None
    author: FakeUser
    mark: int  # len(standin.requests) when the event was dispatched
    shard: int | None = None  # the shard it was dispatched to (None: no client receives it)
    dispatched_at: float = 0.0  # time.monotonic() when MESSAGE_CREATE was sent


@dataclass(frozen=True)
class InjectedInteraction:
    id: int
    token: str
    application_id: int
    channel_id: int
    guild_id: int | None
    user: FakeUser
    mark: int
    dispatched_at: float = 0.0  # time.monotonic() when INTERACTION_CREATE was sent
    shard: int | None = None  # the shard it was dispatched to

    @property
    def callback_path(self) -> str:
        return f"/interactions/{self.id}/{self.token}/callback"

    @property
    def webhook_path(self) -> str:
        return f"/webhooks/{self.application_id}/{self.token}"


@dataclass(frozen=True)
class StandinAttachment:
    """A file a user attached to a slash command; the stand-in serves its bytes at `url`."""

    id: int
    filename: str
    data: bytes
    url: str
    content_type: str | None = None

    def payload(self) -> dict[str, Any]:
        payload = {"id": str(self.id), "filename": self.filename, "size": len(self.data),
                   "url": self.url, "proxy_url": self.url}  # fmt: skip
        if self.content_type:
            payload["content_type"] = self.content_type
        return payload


@dataclass
class _Interaction:
    token: str
    channel_id: int
    guild_id: int | None
    dispatched_at: float
    source_message_id: int | None = None
    acknowledged: bool = False
    original_id: int | None = None
    message_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class _Call:
    """What a REST handler gets besides the ids in its path."""

    json: Any
    files: tuple[str, ...]
    query: Mapping[str, str]


def _error(status: int, code: int, message: str) -> Reply:
    return status, {"code": code, "message": message}


def _invalid_form(errors: dict[str, Any]) -> Reply:
    return 400, {"code": 50035, "message": "Invalid Form Body", "errors": errors}


def _too_long(limit: int) -> dict[str, Any]:
    message = f"Must be {limit} or fewer in length."
    return {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": message}]}


def _required() -> dict[str, Any]:
    return {"_errors": [{"code": "BASE_TYPE_REQUIRED", "message": "This field is required"}]}


def _check_text(errors: dict[str, Any], key: str, text: Any, limit: int) -> int:
    length = len(text) if isinstance(text, str) else 0
    if length > limit:
        errors[key] = _too_long(limit)
    return length


def _embed_errors(embeds: list[dict[str, Any]]) -> dict[str, Any]:
    if len(embeds) > 10:
        return _too_long(10)
    errors: dict[str, Any] = {}
    total = 0
    for index, embed in enumerate(embeds):
        found: dict[str, Any] = {}
        total += _check_text(found, "title", embed.get("title"), 256)
        total += _check_text(found, "description", embed.get("description"), 4096)
        for key, inner, limit in (("footer", "text", 2048), ("author", "name", 256)):
            nested: dict[str, Any] = {}
            total += _check_text(nested, inner, (embed.get(key) or {}).get(inner), limit)
            if nested:
                found[key] = nested
        if embed.get("url") is not None and not WELL_FORMED_URL.fullmatch(embed["url"]):
            message = "Not a well formed URL."
            found["url"] = {"_errors": [{"code": "URL_TYPE_INVALID_URL", "message": message}]}
        fields = embed.get("fields") or []
        field_errors: dict[str, Any] = {}
        for number, item in enumerate(fields):
            nested = {}
            for key, limit in (("name", 256), ("value", 1024)):
                if not item.get(key):
                    nested[key] = _required()
                total += _check_text(nested, key, item.get(key), limit)
            if nested:
                field_errors[str(number)] = nested
        if len(fields) > 25:
            found["fields"] = _too_long(25)
        elif field_errors:
            found["fields"] = field_errors
        if found:
            errors[str(index)] = found
    if not errors and total > 6000:
        message = "Embed size exceeds maximum size of 6000"
        return {"_errors": [{"code": "MAX_EMBED_SIZE_EXCEEDED", "message": message}]}
    return errors


def _component_errors(rows: list[dict[str, Any]]) -> dict[str, Any]:
    if len(rows) > 5:
        return _too_long(5)
    errors: dict[str, Any] = {}
    for index, row in enumerate(rows):
        children = row.get("components") or []
        if len(children) > 5:
            errors[str(index)] = {"components": _too_long(5)}
            continue
        child_errors: dict[str, Any] = {}
        for number, child in enumerate(children):
            nested: dict[str, Any] = {}
            _check_text(nested, "label", child.get("label"), 80)
            _check_text(nested, "custom_id", child.get("custom_id"), 100)
            if nested:
                child_errors[str(number)] = nested
        if child_errors:
            errors[str(index)] = {"components": child_errors}
    return errors


def message_errors(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Discord's Invalid Form Body `errors` for a message payload; empty when it is valid."""
    errors: dict[str, Any] = {}
    _check_text(errors, "content", payload.get("content"), 2000)
    embed_errors = _embed_errors(payload.get("embeds") or [])
    if embed_errors:
        errors["embeds"] = embed_errors
    # Components v2 layouts have other limits; the bot does not use them.
    if not (payload.get("flags") or 0) & FLAG_COMPONENTS_V2:
        component_errors = _component_errors(payload.get("components") or [])
        if component_errors:
            errors["components"] = component_errors
    return errors


def _is_empty(payload: Mapping[str, Any], files: tuple[str, ...]) -> bool:
    keys = ("content", "embeds", "components", "sticker_ids", "poll")
    return not files and not any(payload.get(key) for key in keys)


def _name_is_valid(name: str, is_slash: bool) -> bool:
    if not name or len(name) > 32:
        return False
    return not is_slash or (name == name.lower() and SLASH_NAME.fullmatch(name) is not None)


def _localization_errors(
    errors: dict[str, Any], key: str, localizations: Any, check: Callable[[str], bool], message: str
) -> None:
    """Discord checks each localised name or description as it checks the default one."""
    if localizations is None:
        return
    found: dict[str, Any] = {}
    for locale, text in dict(localizations).items():
        if locale not in LOCALES:
            found[locale] = {"_errors": [{"code": "LOCALE_INVALID", "message": "Invalid locale"}]}
        elif not isinstance(text, str) or not check(text):
            found[locale] = {"_errors": [{"code": "INVALID", "message": message}]}
    if found:
        errors[key] = found


def _command_errors(command: Mapping[str, Any], is_option: bool = False) -> dict[str, Any]:
    errors: dict[str, Any] = {}
    name = command.get("name") or ""
    is_slash = is_option or command.get("type", 1) == 1
    invalid_name = "Command name is invalid"
    if not _name_is_valid(name, is_slash):
        errors["name"] = {"_errors": [{"code": "APPLICATION_COMMAND_INVALID_NAME", "message": invalid_name}]}
    _localization_errors(
        errors, "name_localizations", command.get("name_localizations"),
        lambda text: _name_is_valid(text, is_slash), invalid_name,
    )  # fmt: skip
    if is_slash:
        if not command.get("description"):
            errors["description"] = _required()
        _check_text(errors, "description", command.get("description"), 100)
        _localization_errors(
            errors, "description_localizations", command.get("description_localizations"),
            lambda text: 1 <= len(text) <= 100, "Must be between 1 and 100 in length.",
        )  # fmt: skip
    options = command.get("options") or []
    if len(options) > 25:
        errors["options"] = _too_long(25)
    else:
        nested = {str(i): e for i, o in enumerate(options) if (e := _command_errors(o, True))}
        if nested:
            errors["options"] = nested
    return errors


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _walk_components(components: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for component in components:
        yield component
        yield from _walk_components(component.get("components") or [])


class DiscordStandin:
    """One guild with one text channel (add_guild adds more; add_category puts it in a category), its users and the
    bot, served over a real socket.

    Any number of clients may connect, each IDENTIFYing as a shard (`shard: [id, count]`) or unsharded
    ([0, 1]); a guild's events go to the connection of its shard, (guild_id >> 22) % count, and DMs to shard 0.

    async with DiscordStandin() as standin:
        standin.patch_discord(monkeypatch)  # or: with standin.patched():
        async with standin.running(bot):
            asked = await standin.invoke_slash("ask", {"question": "天气"})
            reply = await standin.wait_for_reply(asked)
    assert reply.json["data"]["content"] == "..."
    """

    def __init__(self, *, interaction_deadline: float = 3.0) -> None:
        self.interaction_deadline = interaction_deadline
        self.snowflake = SnowflakeFactory()
        self.guild_id = self.snowflake()
        self.channel_id = self.snowflake()
        self.category_id: int | None = None  # the text channel's category (add_category); None: it has none
        self._category_name = ""
        self.manager_role_id = self.snowflake()
        self.bot_role_id = self.snowflake()
        self.role_permissions = {
            self.guild_id: EVERYONE_PERMISSIONS,  # @everyone has the guild's id
            self.manager_role_id: EVERYONE_PERMISSIONS | MANAGE_GUILD,
            self.bot_role_id: BOT_PERMISSIONS,
        }
        self.bot_user = FakeUser(self.snowflake(), "wenda", bot=True, roles=(self.bot_role_id,))
        self.application_id = self.bot_user.id
        self.member = FakeUser(self.snowflake(), "读者")
        self.manager = FakeUser(self.snowflake(), "管理员", roles=(self.manager_role_id,))
        self.other_bot = FakeUser(self.snowflake(), "otherbot", bot=True)
        # Owns the application and the guild; not a member, so owner checks never pass by accident.
        self.owner = FakeUser(self.snowflake(), "owner")
        self.users = {u.id: u for u in (self.bot_user, self.member, self.manager, self.other_bot, self.owner)}
        self.requests: list[RecordedRequest] = []
        self.messages: dict[int, dict[str, Any]] = {}
        self.commands: dict[int | None, list[dict[str, Any]]] = {}  # by guild id, None = global
        self.identify: dict[str, Any] | None = None  # the last IDENTIFY; every one is in `identified`
        self.identified: list[dict[str, Any]] = []
        self.recommended_shards = 1  # what GET /gateway/bot tells a client that asks how many shards to run
        self.guilds: dict[int, StandinGuild] = {}  # the further guilds, by id
        self._interactions: dict[int, _Interaction] = {}
        self._by_token: dict[str, _Interaction] = {}
        self._dm_channels: dict[int, int] = {}
        self.threads: dict[int, dict[str, Any]] = {}  # channel payloads of the threads, by id
        self.attachments: dict[int, StandinAttachment] = {}
        self.downloads: list[int] = []  # ids of the attachments fetched, in order
        self._changed = asyncio.Condition()
        self._sessions: list[_Session] = []
        self._resumable: dict[str, _Session] = {}  # by session_id, for RESUME
        self._send_lock = asyncio.Lock()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., Awaitable[Reply]]]] = []
        commands = r"/applications/(?P<app_id>\d+)(?:/guilds/(?P<guild_id>\d+))?/commands"
        channel = r"/channels/(?P<channel_id>\d+)"
        message = channel + r"/messages/(?P<message_id>\d+)"
        hook = r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)"
        hook_message = hook + r"/messages/(?P<message_id>@original|\d+)"
        for method, pattern, handler in (
            ("GET", r"/gateway(?:/bot)?", self._get_gateway),
            ("GET", r"/users/@me", self._get_me),
            ("GET", r"/users/(?P<user_id>\d+)", self._get_user),
            ("GET", r"/(?:oauth2/)?applications/@me", self._get_application),
            ("PUT", commands, self._put_commands),
            ("GET", commands, self._get_commands),
            ("GET", channel, self._get_channel),
            ("POST", channel + "/messages", self._post_message),
            ("POST", message + "/threads", self._start_thread_with_message),
            ("GET", message, self._get_message),
            ("PATCH", message, self._patch_message),
            ("DELETE", message, self._delete_message),
            ("POST", channel + "/typing", self._no_content),
            ("PUT", message + "/reactions/[^/]+/@me", self._no_content),
            ("POST", r"/users/@me/channels", self._create_dm),
            (
                "POST",
                r"/interactions/(?P<interaction_id>\d+)/(?P<token>[^/]+)/callback",
                self._callback,
            ),
            ("POST", hook, self._post_followup),
            ("GET", hook, self._get_webhook),
            ("GET", hook_message, self._get_webhook_message),
            ("PATCH", hook_message, self._patch_webhook_message),
            ("DELETE", hook_message, self._delete_webhook_message),
        ):
            self._routes.append((method, re.compile(pattern + r"/?"), handler))

    # -- lifecycle and wiring -------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return self.url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    async def __aenter__(self) -> DiscordStandin:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/attachments/{attachment_id}/{filename}", self._get_attachment)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for session in list(self._sessions):
            await session.ws.close(code=1000)
        if self._runner is not None:
            await self._runner.cleanup()

    def patch_discord(self, monkeypatch: Any) -> None:
        """Point discord.py's REST routes (webhooks included) and Gateway at the stand-in."""
        monkeypatch.setattr(discord.http.Route, "BASE", self.api_base)
        gateway = yarl.URL(self.gateway_url)
        monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", gateway)

    @contextlib.contextmanager
    def patched(self) -> Iterator[None]:
        """Like `patch_discord`, for code without pytest's monkeypatch."""
        saved = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        discord.http.Route.BASE = self.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        try:
            yield
        finally:
            discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved

    async def wait_ready(self, timeout: float = 5.0) -> None:
        """Wait until a client has identified and been sent READY and GUILD_CREATE."""
        await self.wait_until(lambda: any(s.ready for s in self._sessions), timeout=timeout)

    async def wait_shards_ready(self, count: int, *, timeout: float = 5.0) -> None:
        """Wait until shards 0 to count - 1 of a bot of count shards are connected and sent their guilds."""
        wanted = {(shard, count) for shard in range(count)}
        await self.wait_until(lambda: wanted <= {s.shard for s in self._sessions if s.ready}, timeout=timeout)

    def session_tokens(self) -> dict[int, str]:
        """The token each connected shard identified with, by shard id."""
        return {s.shard[0]: s.identify["token"] for s in self._sessions if s.identify is not None}

    @contextlib.asynccontextmanager
    async def running(
        self, client: discord.Client, *, token: str = "standin-token", timeout: float = 5.0
    ) -> AsyncIterator[discord.Client]:
        """Start `client` against the stand-in, wait for its on_ready, and always close it."""
        task = asyncio.create_task(client.start(token))
        try:
            ready = asyncio.create_task(self.wait_ready(timeout))
            await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                ready.cancel()
                task.result()  # raises what stopped the client
                raise RuntimeError("the client stopped before it was ready")
            await ready
            async with asyncio.timeout(timeout):
                await client.wait_until_ready()
            yield client
        finally:
            await client.close()
            await task

    # -- state helpers -------------------------------------------------------------------

    def add_guild(self, name: str = "另一个服务器", *, shard: int | None = None, of: int = 1) -> StandinGuild:
        """A further guild with a text channel and every member; add it before the bot connects.

        shard and of: give it an id whose events go to that shard of a bot of `of` shards.
        """
        guild_id = self.snowflake()
        if shard is not None:
            # The shard is (id >> 22) % of, the id's timestamp: move that forward (by under `of` ms) to it.
            stamp = guild_id >> 22
            guild_id = ((stamp + (shard - stamp) % of) << 22) | (guild_id & 0x3FFFFF)
        guild = StandinGuild(guild_id, self.snowflake(), name)
        self.guilds[guild.id] = guild
        self.role_permissions[guild.id] = EVERYONE_PERMISSIONS
        return guild

    def add_category(self, name: str = "资料") -> int:
        """Put the guild's text channel in a new category; add it before the bot connects. Returns its id.

        As on Discord: a guild channel of type 4 (GUILD_CATEGORY), the text channel's parent_id its id.
        """
        self.category_id = self.snowflake()
        self._category_name = name
        return self.category_id

    def _guild_of(self, channel_id: int) -> int | None:
        """The guild a channel or thread is in; None for a DM or an unknown channel."""
        channel = self._channel_payload(channel_id) or {}
        return int(channel["guild_id"]) if "guild_id" in channel else None

    def _guild_ids(self) -> list[int]:
        return [self.guild_id, *self.guilds]

    def add_role(self, permissions: int = EVERYONE_PERMISSIONS) -> int:
        """A further role of the guild (by default with @everyone's permissions); add it before the bot connects."""
        role_id = self.snowflake()
        self.role_permissions[role_id] = permissions
        return role_id

    def add_member(self, name: str, *, manager: bool = False, roles: Iterable[int] = ()) -> FakeUser:
        """A further member of the guild (a plain one, or one with Manage Server), with any further roles."""
        roles = ((self.manager_role_id,) if manager else ()) + tuple(roles)
        user = FakeUser(self.snowflake(), name, roles=roles)
        self.users[user.id] = user
        return user

    def attach(self, filename: str, data: bytes, content_type: str | None = None) -> StandinAttachment:
        """A file as Discord holds an upload: pass it as a slash command option's value."""
        attachment_id = self.snowflake()
        # One path segment, whatever the name holds ("../x.txt" too): only the id finds the file.
        url = f"{self.url}/attachments/{attachment_id}/{urllib.parse.quote(filename, safe='')}"
        attachment = StandinAttachment(attachment_id, filename, data, url, content_type)
        self.attachments[attachment_id] = attachment
        return attachment

    async def _get_attachment(self, request: web.Request) -> web.Response:
        """The CDN: an attachment's bytes (no authorisation, as on Discord's CDN)."""
        attachment = self.attachments.get(int(request.match_info["attachment_id"]))
        if attachment is None:
            return web.Response(status=404)
        self.downloads.append(attachment.id)
        content_type = attachment.content_type or "application/octet-stream"
        return web.Response(body=attachment.data, headers={"Content-Type": content_type})

    def permissions_of(self, user: FakeUser, guild_id: int | None = None) -> int:
        permissions = self.role_permissions[guild_id or self.guild_id]  # @everyone's, then the user's roles
        for role in user.roles:
            permissions |= self.role_permissions[role]
        return permissions

    def dm_channel_id(self, user: FakeUser) -> int:
        return self._dm_channels.setdefault(user.id, self.snowflake())

    def _guild_members(self) -> list[FakeUser]:
        return [self.bot_user, self.member, self.manager, self.other_bot]

    def _member_payload(self, user: FakeUser, *, with_user: bool = True) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "roles": [str(role) for role in user.roles],
            "joined_at": "2024-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "nick": None,
            "avatar": None,
            "premium_since": None,
            "communication_disabled_until": None,
        }
        if with_user:
            payload["user"] = user.payload()
        return payload

    def _channel_payload(self, channel_id: int) -> dict[str, Any] | None:
        if channel_id in self.threads:
            return copy.deepcopy(self.threads[channel_id])
        if channel_id == self.category_id:
            return {
                "id": str(channel_id),
                "type": CHANNEL_CATEGORY,
                "guild_id": str(self.guild_id),
                "name": self._category_name,
                "position": 0,
                "permission_overwrites": [],
                "nsfw": False,
                "parent_id": None,
                "flags": 0,
            }
        guilds = {self.channel_id: (self.guild_id, "general")}
        guilds.update({g.channel_id: (g.id, "general") for g in self.guilds.values()})
        if channel_id in guilds:
            guild_id, name = guilds[channel_id]
            return {
                "id": str(channel_id),
                "type": 0,
                "guild_id": str(guild_id),
                "name": name,
                "position": 0,
                "permission_overwrites": [],
                "nsfw": False,
                "topic": None,
                "parent_id": str(self.category_id) if self.category_id and channel_id == self.channel_id else None,
                "last_message_id": None,
                "rate_limit_per_user": 0,
            }
        for user_id, dm_id in self._dm_channels.items():
            if dm_id == channel_id:
                recipient = self.users[user_id].payload()
                return {"id": str(dm_id), "type": 1, "recipients": [recipient], "flags": 0}
        return None

    def _guild_payload(self, guild_id: int, intents: int) -> dict[str, Any]:
        others = set(self._guild_ids()) - {guild_id}  # their @everyone roles are theirs
        channel_id = self.guilds[guild_id].channel_id if guild_id in self.guilds else self.channel_id
        channels = [self._channel_payload(channel_id)]
        if guild_id == self.guild_id and self.category_id is not None:
            channels.insert(0, self._channel_payload(self.category_id))
        roles = [
            {
                "id": str(role_id),
                "name": "@everyone" if role_id == guild_id else f"role-{position}",
                "permissions": str(permissions),
                "position": position,
                "color": 0,
                "hoist": False,
                "managed": role_id == self.bot_role_id,
                "mentionable": False,
                "flags": 0,
            }
            for position, (role_id, permissions) in enumerate(self.role_permissions.items())
            if role_id not in others
        ]
        # Without the members intent Discord sends only the bot's own member.
        everyone = self._guild_members()
        visible = everyone if intents & INTENT_GUILD_MEMBERS else [self.bot_user]
        members = [self._member_payload(user) for user in visible]
        return {
            "id": str(guild_id),
            "name": self.guilds[guild_id].name if guild_id in self.guilds else "问答测试",
            "icon": None,
            "owner_id": str(self.owner.id),
            "roles": roles,
            "channels": channels,
            "members": members,
            "member_count": len(everyone),
            "large": False,
            "unavailable": False,
            "joined_at": "2024-01-01T00:00:00+00:00",
            "preferred_locale": "zh-CN",
            "features": [],
            "emojis": [],
            "stickers": [],
            "threads": [copy.deepcopy(t) for t in self.threads.values() if int(t["guild_id"]) == guild_id],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "system_channel_id": None,
            "afk_channel_id": None,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
        }

    def _pings(self, payload: Mapping[str, Any], content: str) -> dict[str, Any]:
        """Who a message from the bot really pings, given its allowed_mentions."""
        allowed = payload.get("allowed_mentions")
        parse = set(allowed.get("parse", [])) if allowed is not None else {"users", "roles", "everyone"}
        allowed_users = {int(i) for i in (allowed or {}).get("users", [])}
        allowed_roles = {int(i) for i in (allowed or {}).get("roles", [])}
        user_ids = [int(i) for i in MENTION_RE.findall(content)]
        user_ids = [i for i in user_ids if "users" in parse or i in allowed_users]
        reference = payload.get("message_reference") or {}
        referenced = self.messages.get(int(reference.get("message_id") or 0))
        replied_user = allowed is None or allowed.get("replied_user", False)
        if referenced is not None and replied_user:
            user_ids.append(int(referenced["author"]["id"]))
        role_ids = [int(i) for i in ROLE_MENTION_RE.findall(content)]
        return {
            "mentions": [self.users[i].payload() for i in dict.fromkeys(user_ids) if i in self.users],
            "mention_roles": [str(i) for i in role_ids if "roles" in parse or i in allowed_roles],
            "mention_everyone": "everyone" in parse and ("@everyone" in content or "@here" in content),
        }

    def _new_message(
        self,
        channel_id: int,
        author: FakeUser,
        payload: Mapping[str, Any],
        *,
        files: tuple[str, ...] = (),
        kind: int = 0,
        flags: int = 0,
    ) -> dict[str, Any]:
        channel = self._channel_payload(channel_id) or {}
        content = payload.get("content") or ""
        message: dict[str, Any] = {
            "id": str(self.snowflake()),
            "channel_id": str(channel_id),
            "author": author.payload(),
            "content": content,
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": bool(payload.get("tts")),
            "attachments": [
                {
                    "id": str(self.snowflake()),
                    "filename": name,
                    "size": 0,
                    "url": f"{self.url}/attachments/{name}",
                    "proxy_url": f"{self.url}/attachments/{name}",
                }
                for name in files
            ],
            "embeds": list(payload.get("embeds") or []),
            "components": list(payload.get("components") or []),
            "pinned": False,
            "type": 19 if payload.get("message_reference") and kind == 0 else kind,
            "flags": flags | (payload.get("flags") or 0),
            **self._pings(payload, content),
        }
        if "guild_id" in channel:
            message["guild_id"] = channel["guild_id"]
        if payload.get("message_reference"):
            message["message_reference"] = payload["message_reference"]
        self.messages[int(message["id"])] = message
        return message

    def _edit_message(self, message: dict[str, Any], payload: Mapping[str, Any]) -> dict[str, Any]:
        for key in ("content", "embeds", "components"):
            if key in payload:
                message[key] = payload[key] if payload[key] is not None else ([] if key != "content" else "")
        if "flags" in payload and payload["flags"] is not None:
            message["flags"] = payload["flags"]
        message["flags"] = message.get("flags", 0) & ~FLAG_LOADING
        message.update(self._pings(payload, message["content"]))
        message["edited_timestamp"] = _now_iso()
        return message

    # -- Gateway -------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        session = _Session(ws)
        self._sessions.append(session)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None}))
        try:
            async for frame in ws:
                if frame.type is not WSMsgType.TEXT:
                    continue
                packet = json.loads(frame.data)
                op = packet.get("op")
                if op == 1:
                    async with self._send_lock:
                        await ws.send_str(json.dumps({"op": 11, "d": None, "s": None, "t": None}))
                elif op == 2:
                    await self._on_identify(session, packet["d"])
                elif op == 6:  # RESUME: the session's shard goes on; there is nothing missed to replay
                    resumed = self._resumable.get(packet["d"].get("session_id", ""))
                    if resumed is not None:
                        session.identify, session.shard, session.ready = resumed.identify, resumed.shard, True
                    await self._send(session, "RESUMED", {})
                elif op == 8:
                    members = [self._member_payload(u) for u in self._guild_members()]
                    chunk = {"guild_id": packet["d"]["guild_id"], "members": members, "chunk_index": 0,
                             "chunk_count": 1, "nonce": packet["d"].get("nonce")}  # fmt: skip
                    await self._send(session, "GUILD_MEMBERS_CHUNK", chunk)
        finally:
            self._sessions.remove(session)
            async with self._changed:
                self._changed.notify_all()
        return ws

    async def _on_identify(self, session: _Session, data: dict[str, Any]) -> None:
        shard_id, count = data.get("shard") or (0, 1)
        if not (isinstance(shard_id, int) and isinstance(count, int) and 0 <= shard_id < count):
            await session.ws.close(code=4010, message=b"Invalid shard")  # Discord's close code for it
            return
        session.identify, session.shard = data, (shard_id, count)
        self.identify = data
        self.identified.append(data)
        me = self.bot_user.payload() | {"verified": True, "mfa_enabled": False, "flags": 0}
        guilds = [guild_id for guild_id in self._guild_ids() if session.receives(guild_id)]
        session_id = secrets.token_hex(16)
        self._resumable[session_id] = session
        ready = {
            "v": 10,
            "user": me,
            "guilds": [{"id": str(guild_id), "unavailable": True} for guild_id in guilds],
            "session_id": session_id,
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
        }
        if "shard" in data:
            ready["shard"] = [shard_id, count]
        await self._send(session, "READY", ready)
        for guild_id in guilds:
            await self._send(session, "GUILD_CREATE", self._guild_payload(guild_id, self._intents(session)))
        session.ready = True
        async with self._changed:
            self._changed.notify_all()

    def _receiver(self, guild_id: int | None) -> _Session | None:
        """The connection Discord sends a guild's events to (a DM's, with guild_id None: shard 0's)."""
        return next((s for s in self._sessions if s.identify is not None and s.receives(guild_id)), None)

    async def dispatch(self, event: str, data: Any) -> int:
        """Send one DISPATCH (op 0) to the client (or shard) that receives it; returns that shard's id."""
        guild_id = int(data["guild_id"]) if isinstance(data, dict) and data.get("guild_id") else None
        session = self._receiver(guild_id)
        if session is None:
            where = "a DM" if guild_id is None else f"guild {guild_id}"
            raise RuntimeError(f"no discord.py client connected to the stand-in receives the events of {where}")
        await self._send(session, event, data)
        return session.shard[0]

    async def _send(self, session: _Session, event: str, data: Any) -> None:
        async with self._send_lock:
            session.sequence += 1
            packet = {"op": 0, "t": event, "s": session.sequence, "d": data}
            await session.ws.send_str(json.dumps(packet, ensure_ascii=False))

    @staticmethod
    def _intents(session: _Session | None) -> int:
        return int(((session and session.identify) or {}).get("intents", 0))

    async def _publish_message(self, message: dict[str, Any]) -> int | None:
        """MESSAGE_CREATE as Discord filters it by the receiving client's intents; returns the shard it went to."""
        author_id = int(message["author"]["id"])
        in_guild = "guild_id" in message
        session = self._receiver(int(message["guild_id"]) if in_guild else None)
        needed = INTENT_GUILD_MESSAGES if in_guild else INTENT_DM_MESSAGES
        if session is None or not self._intents(session) & needed:
            return None
        event = copy.deepcopy(message)
        if in_guild:
            event["member"] = self._member_payload(self.users[author_id], with_user=False)
            for mention in event["mentions"]:
                user = self.users.get(int(mention["id"]))
                if user is not None:
                    mention["member"] = self._member_payload(user, with_user=False)
            mentioned = any(int(m["id"]) == self.bot_user.id for m in event["mentions"])
            privileged = self._intents(session) & INTENT_MESSAGE_CONTENT
            if not (privileged or mentioned or author_id == self.bot_user.id):
                event.update(content="", embeds=[], attachments=[], components=[])
        return await self.dispatch("MESSAGE_CREATE", event)

    # -- injecting user actions ----------------------------------------------------------

    async def send_message(
        self,
        content: str,
        *,
        author: FakeUser | None = None,
        guild: bool = True,
        mentions: Iterable[FakeUser] = (),
        channel: int | None = None,
    ) -> InjectedMessage:
        """A user (or `other_bot`) posts `content` in the guild channel (or `channel`: a thread, another
        guild's channel) or their DM."""
        author = author or self.member
        channel_id = channel or (self.channel_id if guild else self.dm_channel_id(author))
        message = self._new_message(channel_id, author, {"content": content})
        pinged = " ".join([content, *(user.mention for user in mentions)])
        message.update(self._pings({}, pinged))
        mark = len(self.requests)
        dispatched_at = time.monotonic()
        shard = await self._publish_message(message)
        guild_id = int(message["guild_id"]) if "guild_id" in message else None
        return InjectedMessage(int(message["id"]), channel_id, guild_id, author, mark, shard, dispatched_at)

    async def start_thread(self, message: InjectedMessage, name: str, *, owner: FakeUser | None = None) -> int:
        """A member starts a public thread on a message in the guild channel; returns the thread's id."""
        starter = self.messages[message.id]
        thread = self._new_thread(starter, name, owner or self.member)
        await self.dispatch("THREAD_CREATE", copy.deepcopy(thread) | {"newly_created": True})
        return int(thread["id"])

    def thread_of(self, message_id: int) -> dict[str, Any] | None:
        """The thread started on a message, if any (its id is the message's)."""
        return self.threads.get(message_id)

    async def invoke_message_command(
        self, name: str, message_id: int, *, user: FakeUser | None = None, member_permissions: int | None = None
    ) -> InjectedInteraction:
        """A user picks Apps → `name` on a message: a message command, the message resolved in its data."""
        user = user or self.member
        target = self.messages[message_id]
        guild = "guild_id" in target
        scope = [int(target["guild_id"]), None] if guild else [None]
        synced = next(
            (c for g in scope for c in self.commands.get(g, []) if c["name"] == name and c["type"] == COMMAND_MESSAGE),
            None,
        )
        data: dict[str, Any] = {
            "id": (synced or {}).get("id") or str(self.snowflake()),
            "name": name,
            "type": COMMAND_MESSAGE,
            "target_id": str(message_id),
            # Discord resolves the target with its content, whatever intents the app has.
            "resolved": {"messages": {str(message_id): copy.deepcopy(target)}},
        }
        if synced is not None and synced.get("guild_id"):
            data["guild_id"] = synced["guild_id"]
        channel_id = int(target["channel_id"]) if guild else None
        payload = self._interaction_payload(2, user, guild, member_permissions, channel_id)
        payload["data"] = data
        return await self._dispatch_interaction(payload, user)

    async def invoke_slash(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        user: FakeUser | None = None,
        guild: bool = True,
        member_permissions: int | None = None,
        channel: int | None = None,
    ) -> InjectedInteraction:
        """A user runs `/name` ("group sub" for subcommands) with scalar `options`.

        Unsynced commands are dispatched as global commands, so tests need not sync first.
        """
        user = user or self.member
        top, *subs = name.split()
        scope = [self._guild_of(channel or self.channel_id), None] if guild else [None]
        synced = next((c for g in scope for c in self.commands.get(g, []) if c["name"] == top), None)
        schema = (synced or {}).get("options", [])
        leaf: list[dict[str, Any]] = []
        nested: list[dict[str, Any]] = leaf
        for sub in reversed(subs):
            kind = 1 if nested is leaf else 2
            nested = [{"type": kind, "name": sub, "options": nested}]
        for sub in subs:
            schema = next((o.get("options", []) for o in schema if o["name"] == sub), [])
        types = {option["name"]: option["type"] for option in schema}
        attached: dict[str, Any] = {}
        for key, value in (options or {}).items():
            if synced is not None and key not in types:
                raise ValueError(f"/{name} has no option {key!r}; synced options: {sorted(types)}")
            if isinstance(value, StandinAttachment):
                # Discord sends an attachment option as its id, the attachment itself in `resolved`.
                attached[str(value.id)] = value.payload()
                value = str(value.id)
            leaf.append({"name": key, "type": types.get(key) or _option_type(value), "value": value})
        data: dict[str, Any] = {
            "id": (synced or {}).get("id") or str(self.snowflake()),
            "name": top,
            "type": 1,
            "options": nested,
        }
        if synced is not None and synced.get("guild_id"):
            data["guild_id"] = synced["guild_id"]
        if attached:
            data["resolved"] = {"attachments": attached}
        payload = self._interaction_payload(2, user, guild, member_permissions, channel)
        payload["data"] = data
        return await self._dispatch_interaction(payload, user)

    async def click_button(
        self,
        message_id: int,
        custom_id: str,
        *,
        user: FakeUser | None = None,
        member_permissions: int | None = None,
    ) -> InjectedInteraction:
        """A user clicks the component `custom_id` on a message the stand-in knows."""
        user = user or self.member
        message = self.messages[message_id]
        component = next(
            (c for c in _walk_components(message["components"]) if c.get("custom_id") == custom_id),
            None,
        )
        if component is None:
            raise LookupError(f"message {message_id} has no component with custom_id {custom_id!r}")
        if component.get("disabled"):
            raise ValueError(f"component {custom_id!r} is disabled and cannot be clicked")
        guild = "guild_id" in message
        payload = self._interaction_payload(
            3, user, guild, member_permissions, int(message["channel_id"]) if guild else None
        )
        payload["data"] = {"custom_id": custom_id, "component_type": component["type"]}
        payload["message"] = copy.deepcopy(message)
        return await self._dispatch_interaction(payload, user, source_message_id=message_id)

    def _interaction_payload(
        self, kind: int, user: FakeUser, guild: bool, member_permissions: int | None, channel_id: int | None = None
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(self.snowflake()),
            "application_id": str(self.application_id),
            "type": kind,
            "token": "standin-" + secrets.token_urlsafe(24),
            "version": 1,
            "locale": "zh-CN",
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
            "app_permissions": str(self.permissions_of(self.bot_user)),
        }
        if guild:
            channel_id = channel_id or self.channel_id
            guild_id = self._guild_of(channel_id) or self.guild_id
            permissions = self.permissions_of(user, guild_id) if member_permissions is None else member_permissions
            payload |= {
                "guild_id": str(guild_id),
                "guild": {"id": str(guild_id), "locale": "zh-CN", "features": []},
                "guild_locale": "zh-CN",
                "channel_id": str(channel_id),
                "channel": self._channel_payload(channel_id),
                "member": self._member_payload(user) | {"permissions": str(permissions)},
                "authorizing_integration_owners": {"0": str(guild_id)},
                "context": 0,
            }
        else:
            channel_id = self.dm_channel_id(user)
            payload |= {
                "channel_id": str(channel_id),
                "channel": self._channel_payload(channel_id),
                "user": user.payload(),
                "authorizing_integration_owners": {"0": "0"},
                "context": 1,
            }
        return payload

    async def _dispatch_interaction(
        self, payload: dict[str, Any], user: FakeUser, *, source_message_id: int | None = None
    ) -> InjectedInteraction:
        interaction_id = int(payload["id"])
        guild_id = int(payload["guild_id"]) if "guild_id" in payload else None
        state = _Interaction(
            token=payload["token"],
            channel_id=int(payload["channel_id"]),
            guild_id=guild_id,
            # Discord's 3 s clock starts when it sends the event, not when the bot reads it.
            dispatched_at=time.monotonic(),
            source_message_id=source_message_id,
        )
        self._interactions[interaction_id] = state
        self._by_token[state.token] = state
        mark = len(self.requests)
        shard = await self.dispatch("INTERACTION_CREATE", payload)
        return InjectedInteraction(
            interaction_id,
            state.token,
            self.application_id,
            state.channel_id,
            guild_id,
            user,
            mark,
            state.dispatched_at,
            shard,
        )

    # -- waiting on what the bot did -----------------------------------------------------

    async def wait_for_request(
        self,
        predicate: Callable[[RecordedRequest], bool] | None = None,
        *,
        method: str | None = None,
        path: str | None = None,
        after: int | InjectedMessage | InjectedInteraction = 0,
        timeout: float = 5.0,
    ) -> RecordedRequest:
        """The first recorded request from `after` on that matches; waits for it if needed."""
        start = after if isinstance(after, int) else after.mark

        def find() -> RecordedRequest | None:
            for request in self.requests[start:]:
                if method is not None and request.method != method:
                    continue
                if path is not None and request.path != path:
                    continue
                if predicate is None or predicate(request):
                    return request
            return None

        try:
            async with asyncio.timeout(timeout), self._changed:
                found = await self._changed.wait_for(find)
        except TimeoutError:
            seen = [f"{r.method} {r.path} -> {r.status}" for r in self.requests[start:]]
            raise TimeoutError(f"no matching request within {timeout}s; saw {seen}") from None
        return found

    async def wait_until(self, condition: Callable[[], bool], *, timeout: float = 5.0) -> None:
        """Wait until condition() holds, testing it again after each request the stand-in answers.

        One waiter for many outcomes: waiting on hundreds of interactions one wait_for_request
        at a time rescans the request list for each of them at every request.
        """
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(condition)
        except TimeoutError:
            raise TimeoutError(f"condition still false after {timeout}s") from None

    async def wait_for_reply(
        self, injected: InjectedMessage | InjectedInteraction, *, timeout: float = 5.0
    ) -> RecordedRequest:
        """The bot's first answer: the interaction callback, or a post in the message's channel."""
        if isinstance(injected, InjectedInteraction):
            return await self.wait_for_request(
                method="POST", path=injected.callback_path, after=injected, timeout=timeout
            )
        return await self.wait_for_request(
            method="POST",
            path=f"/channels/{injected.channel_id}/messages",
            after=injected,
            timeout=timeout,
        )

    # -- REST ----------------------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.Response:
        path = request.path[len(API_PREFIX) :].rstrip("/") or "/"
        body, files = await _read_body(request)
        status, answer = await self._route(request, path, body, files)
        self.requests.append(
            RecordedRequest(
                request.method, path, dict(request.query), body, files, status, answer,
                time.monotonic(), _bot_token(request),
            )
        )  # fmt: skip
        async with self._changed:
            self._changed.notify_all()
        if answer is None:
            return web.Response(status=status)
        # discord.py parses JSON only when Content-Type is exactly application/json (no charset).
        text = json.dumps(answer, ensure_ascii=False)
        return web.Response(status=status, body=text.encode(), headers={"Content-Type": "application/json"})

    async def _route(self, request: web.Request, path: str, body: Any, files: tuple[str, ...]) -> Reply:
        unauthenticated = path.startswith(("/interactions/", "/webhooks/"))
        if not unauthenticated and not request.headers.get("Authorization", "").startswith("Bot "):
            return _error(401, 0, "401: Unauthorized")
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match and method == request.method:
                params = {k: v for k, v in match.groupdict().items() if v is not None}
                return await handler(_Call(body, files, request.query), **params)
        return _error(404, 0, "404: Not Found")

    async def _no_content(self, _: _Call, **__: str) -> Reply:
        return 204, None

    async def _get_gateway(self, _: _Call) -> Reply:
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        return 200, {"url": self.gateway_url, "shards": self.recommended_shards, "session_start_limit": limit}

    async def _get_me(self, _: _Call) -> Reply:
        return 200, self.bot_user.payload() | {"verified": True, "mfa_enabled": False, "flags": 0}

    async def _get_user(self, _: _Call, user_id: str) -> Reply:
        user = self.users.get(int(user_id))
        return (200, user.payload()) if user else _error(404, 10013, "Unknown User")

    async def _get_application(self, _: _Call) -> Reply:
        return 200, {
            "id": str(self.application_id),
            "name": self.bot_user.name,
            "icon": None,
            "description": "",
            "summary": "",
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": self.owner.payload(),
            "team": None,
            "verify_key": "0" * 64,
            "flags": 0,
            "rpc_origins": [],
            "interactions_endpoint_url": None,
            "bot": self.bot_user.payload(),
        }

    async def _put_commands(self, call: _Call, app_id: str, guild_id: str | None = None) -> Reply:
        if int(app_id) != self.application_id:
            return _error(403, 50001, "Missing Access")
        commands = call.json or []
        errors = {str(i): e for i, c in enumerate(commands) if (e := _command_errors(c))}
        if errors:
            return _invalid_form(errors)
        scope = int(guild_id) if guild_id else None
        previous = {(c["name"], c.get("type", 1)): c["id"] for c in self.commands.get(scope, [])}
        stored = []
        for command in commands:
            key = (command["name"], command.get("type", 1))
            entry = {
                "type": 1,
                "description": "",
                "options": [],
                "default_member_permissions": None,
                "nsfw": False,
                **command,
                "id": previous.get(key) or str(self.snowflake()),
                "application_id": str(self.application_id),
                "version": str(self.snowflake()),
            }
            if guild_id:
                entry["guild_id"] = guild_id
            stored.append(entry)
        self.commands[scope] = stored
        return 200, stored

    async def _get_commands(self, _: _Call, app_id: str, guild_id: str | None = None) -> Reply:
        return 200, self.commands.get(int(guild_id) if guild_id else None, [])

    async def _get_channel(self, _: _Call, channel_id: str) -> Reply:
        channel = self._channel_payload(int(channel_id))
        return (200, channel) if channel else _error(404, 10003, "Unknown Channel")

    def _channel_message(self, channel_id: str, message_id: str) -> dict[str, Any] | None:
        message = self.messages.get(int(message_id))
        if message is None or message["channel_id"] != channel_id:
            return None
        return message

    async def _post_message(self, call: _Call, channel_id: str) -> Reply:
        channel = self._channel_payload(int(channel_id))
        if channel is None:
            return _error(404, 10003, "Unknown Channel")
        payload = call.json or {}
        if errors := message_errors(payload):
            return _invalid_form(errors)
        if _is_empty(payload, call.files):
            return _error(400, 50006, "Cannot send an empty message")
        if channel["type"] == CHANNEL_CATEGORY:
            return _error(400, 50008, "Cannot send messages in a non-text channel")
        if channel["type"] == 1 and channel["recipients"][0]["bot"]:
            return _error(403, 50007, "Cannot send messages to this user")
        threaded = channel["type"] == CHANNEL_PUBLIC_THREAD
        if threaded and not self.permissions_of(self.bot_user) & SEND_MESSAGES_IN_THREADS:
            return _error(403, 50013, "Missing Permissions")
        message = self._new_message(int(channel_id), self.bot_user, payload, files=call.files)
        await self._publish_message(message)
        return 200, message

    async def _start_thread_with_message(self, call: _Call, channel_id: str, message_id: str) -> Reply:
        channel = self._channel_payload(int(channel_id))
        if channel is None:
            return _error(404, 10003, "Unknown Channel")
        message = self._channel_message(channel_id, message_id)
        if message is None:
            return _error(404, 10008, "Unknown Message")
        if channel["type"] != CHANNEL_TEXT:
            return _error(400, 50024, "Cannot execute action on this channel type")
        needed = CREATE_PUBLIC_THREADS | SEND_MESSAGES_IN_THREADS
        if self.permissions_of(self.bot_user) & needed != needed:
            return _error(403, 50013, "Missing Permissions")
        if int(message_id) in self.threads:
            return _error(400, 160004, "A thread has already been created for this message")
        payload = call.json or {}
        name = payload.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            message_text = "Must be between 1 and 100 in length."
            return _invalid_form({"name": {"_errors": [{"code": "BASE_TYPE_BAD_LENGTH", "message": message_text}]}})
        archive = payload.get("auto_archive_duration") or 4320
        thread = self._new_thread(message, name, self.bot_user, archive)
        # Discord tells the gateway before it answers the request.
        await self.dispatch("THREAD_CREATE", copy.deepcopy(thread) | {"newly_created": True})
        return 201, thread

    def _new_thread(
        self, starter: dict[str, Any], name: str, owner: FakeUser, auto_archive_duration: int = 4320
    ) -> dict[str, Any]:
        """A public thread on starter: as on Discord, the thread's id is its starter message's id."""
        now = _now_iso()
        thread = {
            "id": starter["id"],
            "type": CHANNEL_PUBLIC_THREAD,
            "guild_id": starter["guild_id"],
            "parent_id": starter["channel_id"],
            "owner_id": str(owner.id),
            "name": name,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": auto_archive_duration,
                "archive_timestamp": now,
                "locked": False,
                "create_timestamp": now,
            },
        }
        self.threads[int(thread["id"])] = thread
        starter["thread"] = copy.deepcopy(thread)
        return thread

    async def _get_message(self, _: _Call, channel_id: str, message_id: str) -> Reply:
        message = self._channel_message(channel_id, message_id)
        return (200, message) if message else _error(404, 10008, "Unknown Message")

    async def _patch_message(self, call: _Call, channel_id: str, message_id: str) -> Reply:
        message = self._channel_message(channel_id, message_id)
        if message is None:
            return _error(404, 10008, "Unknown Message")
        if int(message["author"]["id"]) != self.bot_user.id:
            return _error(403, 50005, "Cannot edit a message authored by another user")
        if errors := message_errors(call.json or {}):
            return _invalid_form(errors)
        return 200, self._edit_message(message, call.json or {})

    async def _delete_message(self, _: _Call, channel_id: str, message_id: str) -> Reply:
        message = self._channel_message(channel_id, message_id)
        if message is None:
            return _error(404, 10008, "Unknown Message")
        if int(message["author"]["id"]) != self.bot_user.id:
            return _error(403, 50013, "Missing Permissions")
        del self.messages[int(message_id)]
        return 204, None

    async def _create_dm(self, call: _Call) -> Reply:
        user = self.users.get(int((call.json or {}).get("recipient_id") or 0))
        if user is None:
            return _invalid_form({"recipient_id": _required()})
        return 200, self._channel_payload(self.dm_channel_id(user))

    async def _callback(self, call: _Call, interaction_id: str, token: str) -> Reply:
        state = self._interactions.get(int(interaction_id))
        if state is None or state.token != token:
            return _error(404, 10062, "Unknown interaction")
        if state.acknowledged:
            return _error(400, 40060, "Interaction has already been acknowledged.")
        if time.monotonic() - state.dispatched_at > self.interaction_deadline:
            return _error(404, 10062, "Unknown interaction")
        payload = call.json or {}
        kind = payload.get("type")
        data = payload.get("data") or {}
        if kind in (4, 7) and (errors := message_errors(data)):
            return _invalid_form({"data": errors})
        if kind == 4 and _is_empty(data, call.files):
            return _error(400, 50006, "Cannot send an empty message")
        if kind not in CALLBACK_TYPES or (kind in (6, 7) and state.source_message_id is None):
            message = "Interaction response type is not valid here"
            return _invalid_form({"type": {"_errors": [{"code": "INVALID", "message": message}]}})
        state.acknowledged = True
        message: dict[str, Any] | None = None
        if kind in (4, 5):
            flags = FLAG_LOADING if kind == 5 else 0
            message = self._new_message(state.channel_id, self.bot_user, data, files=call.files, kind=20, flags=flags)
            state.original_id = int(message["id"])
            state.message_ids += (state.original_id,)
            if not message["flags"] & FLAG_EPHEMERAL:
                await self._publish_message(message)
        elif kind in (6, 7):
            state.original_id = state.source_message_id
            if kind == 7:
                message = self._edit_message(self.messages[state.original_id], data)
        if call.query.get("with_response", "").lower() not in ("1", "true"):
            return 204, None
        response: dict[str, Any] = {
            "id": interaction_id,
            "type": 2 if state.source_message_id is None else 3,
        }
        resource: dict[str, Any] = {"type": kind}
        if message is not None:
            response |= {
                "response_message_id": message["id"],
                "response_message_loading": bool(message["flags"] & FLAG_LOADING),
                "response_message_ephemeral": bool(message["flags"] & FLAG_EPHEMERAL),
            }
            resource["message"] = message
        return 200, {"interaction": response, "resource": resource}

    def _webhook(self, app_id: str, token: str) -> _Interaction | None:
        if int(app_id) != self.application_id:
            return None
        state = self._by_token.get(token)
        # Discord knows the follow-up webhook only once the interaction was acknowledged.
        return state if state is not None and state.acknowledged else None

    def _webhook_message(self, state: _Interaction, message_id: str) -> dict[str, Any] | None:
        wanted = state.original_id if message_id == "@original" else int(message_id)
        if wanted is None or (wanted not in state.message_ids and wanted != state.original_id):
            return None
        return self.messages.get(wanted)

    async def _get_webhook(self, _: _Call, app_id: str, token: str) -> Reply:
        if self._webhook(app_id, token) is None:
            return _error(404, 10015, "Unknown Webhook")
        return 200, {"id": app_id, "type": 3, "name": self.bot_user.name, "avatar": None,
                     "token": token, "application_id": app_id}  # fmt: skip

    async def _post_followup(self, call: _Call, app_id: str, token: str) -> Reply:
        state = self._webhook(app_id, token)
        if state is None:
            return _error(404, 10015, "Unknown Webhook")
        payload = call.json or {}
        if errors := message_errors(payload):
            return _invalid_form(errors)
        if _is_empty(payload, call.files):
            return _error(400, 50006, "Cannot send an empty message")
        message = self._new_message(state.channel_id, self.bot_user, payload, files=call.files, kind=20)
        state.message_ids += (int(message["id"]),)
        if not message["flags"] & FLAG_EPHEMERAL:
            await self._publish_message(message)
        if call.query.get("wait", "").lower() in ("1", "true"):
            return 200, message
        return 204, None

    async def _get_webhook_message(self, _: _Call, app_id: str, token: str, message_id: str) -> Reply:
        state = self._webhook(app_id, token)
        message = self._webhook_message(state, message_id) if state else None
        return (200, message) if message else _error(404, 10008, "Unknown Message")

    async def _patch_webhook_message(self, call: _Call, app_id: str, token: str, message_id: str) -> Reply:
        state = self._webhook(app_id, token)
        message = self._webhook_message(state, message_id) if state else None
        if message is None:
            return _error(404, 10008, "Unknown Message")
        if errors := message_errors(call.json or {}):
            return _invalid_form(errors)
        return 200, self._edit_message(message, call.json or {})

    async def _delete_webhook_message(self, _: _Call, app_id: str, token: str, message_id: str) -> Reply:
        state = self._webhook(app_id, token)
        message = self._webhook_message(state, message_id) if state else None
        if message is None:
            return _error(404, 10008, "Unknown Message")
        del self.messages[int(message["id"])]
        return 204, None


def _option_type(value: Any) -> int:
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 4
    if isinstance(value, float):
        return 10
    return 3


def _bot_token(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token if scheme == "Bot" else None


async def _read_body(request: web.Request) -> tuple[Any, tuple[str, ...]]:
    """The JSON payload and attached file names; multipart bodies carry JSON in payload_json."""
    if request.content_type == "multipart/form-data":
        payload, files = None, []
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "payload_json":
                payload = json.loads(await part.text())
            else:
                await part.read()
                files.append(part.filename or part.name or "")
        return payload, tuple(files)
    raw = await request.read()
    return (json.loads(raw) if raw else None), ()
