"""The discord.py client: /ask, /sources, /reindex, @mentions, DMs and ask-channels, all rendering one Answer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal

import aiohttp
import discord
from discord import app_commands

from wenda.retrieval.intake import MAX_ADD_BYTES, SUFFIXES, add_bytes
from wenda.retrieval.store import Library
from wenda.retrieval.watch import CorpusWatcher

from .answer import MAX_QUESTION_CHARS, Answer, answer
from .cooldown import Cooldown
from .discord_render import DiscordMessage, neutral_clip, render_answer, render_lines
from .discord_views import MoreButton, VoteButton, answer_view
from .feedback import FeedbackStore
from .settings import Settings

log = logging.getLogger("wenda.discord")

# wenda never joins voice; discord.py's warnings about missing voice libraries are noise here.
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False

ERROR_TEXT = "出错了，请稍后再试。"
NOT_ALLOWED_TEXT = "只有拥有“管理服务器”权限或管理员角色的成员可以这样做。"
EXPIRED_TEXT = "这条回答已过期，请重新提问。"
THANKS_TEXT = "谢谢你的反馈！"
NO_MORE_TEXT = "没有更多相关的段落了。"
STOPPING_TEXT = "问答机器人正在重启，请稍后再问。"


def cooldown_text(seconds: float) -> str:
    return f"你问得有点快，请 {max(1, round(seconds))} 秒后再问。"


class BotError(Exception):
    """The bot cannot start or run; the message tells the operator what to do."""


class WendaBot(discord.Client):
    """One client, configured once: intents, no pings ever, the command tree and the buttons."""

    def __init__(
        self, settings: Settings, library: Library, feedback: FeedbackStore, *, watch: bool = True, **options
    ) -> None:
        intents = discord.Intents.default()
        # Slash commands, mentions and DMs need no privileged intent; only ask-channels, where every
        # message is a question, need to read message content.
        intents.message_content = bool(settings.ask_channels)
        super().__init__(intents=intents, allowed_mentions=discord.AllowedMentions.none(), **options)
        self.settings = settings
        self.library = library
        self.feedback = feedback
        self.cooldown = Cooldown(settings.cooldown_rate, settings.cooldown_seconds)
        self.tree = app_commands.CommandTree(self)
        self.tree.on_error = self.on_app_command_error
        self._register_commands()
        self.watcher = CorpusWatcher(library) if watch else None
        # Answers in flight, so a shutdown can let them finish before the connection closes.
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.stopping = False

    # -- start-up -----------------------------------------------------------------------------

    async def setup_hook(self) -> None:
        self.add_dynamic_items(MoreButton, VoteButton)
        if self.watcher is not None:
            self.watcher.start()
        # A guild sync shows commands at once; a global one can take up to an hour to appear.
        if self.settings.guild_id:
            guild = discord.Object(id=self.settings.guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
        else:
            synced = await self.tree.sync()
        log.info("synced %d application commands", len(synced))

    @contextlib.contextmanager
    def _answering(self):
        self._inflight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._inflight -= 1
            if not self._inflight:
                self._idle.set()

    async def shutdown(self, grace: float = 10.0) -> None:
        """Stop taking questions, let the answers in flight finish (up to grace seconds), then close."""
        self.stopping = True
        log.info("stopping: %d answers in flight", self._inflight)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), grace)
        await self.close()

    async def close(self) -> None:
        if self.watcher is not None:
            await asyncio.to_thread(self.watcher.stop)
        await super().close()

    async def on_ready(self) -> None:
        log.info(
            "connected as %s (id %s) to %d servers", self.user, self.user.id if self.user else "?", len(self.guilds)
        )

    def _register_commands(self) -> None:
        @self.tree.command(name="ask", description="向资料库提问，引用最相关的段落回答")
        @app_commands.describe(question="你的问题")
        async def ask(interaction: discord.Interaction, question: app_commands.Range[str, 1, 2000]) -> None:
            await self.answer_interaction(interaction, question)

        @self.tree.command(name="sources", description="列出资料库中的文章")
        async def sources(interaction: discord.Interaction) -> None:
            articles = self.library.articles
            lines = [f"{a.title}" + (f" · {a.source}" if a.source else "") + f" · {a.passages} 段" for a in articles]
            title = f"资料库：{len(articles)} 篇文章"
            await interaction.response.send_message(embeds=render_lines(title, lines), ephemeral=True)

        @self.tree.command(name="reindex", description="重新读取资料库并重建索引（管理员）")
        @app_commands.default_permissions(manage_guild=True)
        async def reindex(interaction: discord.Interaction) -> None:
            if not self.is_admin(interaction.user):
                await interaction.response.send_message(NOT_ALLOWED_TEXT, ephemeral=True)
                return
            await interaction.response.defer(ephemeral=True, thinking=True)
            await asyncio.to_thread(self.library.rebuild)
            lib = self.library
            report = f"已重建索引：{len(lib.articles)} 篇文章，{lib.passage_count} 段。"
            if lib.problems:
                example = neutral_clip(str(lib.problems[0]), 300)
                report += f"\n跳过 {len(lib.problems)} 个无法读取的文件或行，例如：{example}"
            await interaction.followup.send(report, ephemeral=True)

        @self.tree.command(name="add", description="上传文章文件（.txt/.md/.jsonl）加入资料库（管理员）")
        @app_commands.describe(file="文章文件")
        @app_commands.default_permissions(manage_guild=True)
        async def add(interaction: discord.Interaction, file: discord.Attachment) -> None:
            if not self.is_admin(interaction.user):
                await interaction.response.send_message(NOT_ALLOWED_TEXT, ephemeral=True)
                return
            if not file.filename.lower().endswith(SUFFIXES):
                await interaction.response.send_message("只接受 .txt、.md 或 .jsonl 文件。", ephemeral=True)
                return
            if file.size > MAX_ADD_BYTES:
                await interaction.response.send_message(
                    f"文件太大（上限 {MAX_ADD_BYTES // 2**20} MB）。", ephemeral=True
                )
                return
            await interaction.response.defer(ephemeral=True, thinking=True)
            data = await file.read()
            result = await asyncio.to_thread(add_bytes, self.library.root, file.filename, data)
            if not result.ok:
                reason = neutral_clip(result.reason or "", 500)
                await interaction.followup.send(f"没有加入：{reason}", ephemeral=True)
                return
            await asyncio.to_thread(self.library.refresh)
            name = neutral_clip(result.added_as or "", 200)
            text = f"已加入 {name}：{result.articles} 篇文章，{result.passages} 段。"
            if result.reason:
                text += "\n" + neutral_clip(result.reason, 300)
            await interaction.followup.send(text, ephemeral=True)

    def is_admin(self, user: discord.abc.User) -> bool:
        if not isinstance(user, discord.Member):
            return False  # no server, no server permissions
        if user.guild_permissions.manage_guild:
            return True
        return self.settings.admin_role is not None and any(r.id == self.settings.admin_role for r in user.roles)

    # -- answering ----------------------------------------------------------------------------

    async def compute_answer(self, question: str, offset: int = 0) -> Answer:
        """Segmentation and scoring run in a worker thread, never on the event loop."""
        searcher = self.library.searcher  # one consistent snapshot even if /reindex swaps it meanwhile
        return await asyncio.to_thread(answer, searcher, question, self.settings.top_k, offset=offset)

    async def prepare(
        self, question: str, user_id: int, offset: int = 0, *, echo: bool = False
    ) -> tuple[Answer, DiscordMessage, dict]:
        """Answer, render and store a question; returns the send() keyword arguments for the reply."""
        ans = await self.compute_answer(question, offset)
        message = render_answer(ans, echo_question=echo)
        kwargs: dict = {"content": message.content or None, "embeds": message.embeds}
        if ans.answered and ans.hits:
            answer_id = await asyncio.to_thread(self.feedback.record_answer, ans, user_id)
            more = offset + self.settings.top_k if len(ans.hits) >= self.settings.top_k else None
            kwargs["view"] = answer_view(answer_id, more)
        return ans, message, kwargs

    async def answer_interaction(self, interaction: discord.Interaction, question: str) -> None:
        if self.stopping:
            await interaction.response.send_message(STOPPING_TEXT, ephemeral=True)
            return
        with self._answering():
            await self._answer_interaction(interaction, question)

    async def _answer_interaction(self, interaction: discord.Interaction, question: str) -> None:
        wait = self.cooldown.retry_after(interaction.user.id)
        if wait:
            await interaction.response.send_message(cooldown_text(wait), ephemeral=True)
            return
        # Defer first: Discord drops an interaction not acknowledged within 3 seconds, and a cold
        # index or a busy machine can take longer than that to answer.
        await interaction.response.defer(thinking=True)
        _, _, reply = await self.prepare(question, interaction.user.id, echo=True)
        await interaction.followup.send(**reply)

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or self.user is None or message.author.id == self.user.id:
            return
        question = self.question_in(message)
        if question is None or self.stopping:
            return
        with self._answering():
            await self._answer_message(message, question)

    async def _answer_message(self, message: discord.Message, question: str) -> None:
        wait = self.cooldown.retry_after(message.author.id)
        if wait:
            await message.reply(cooldown_text(wait), mention_author=False)
            return
        try:
            async with message.channel.typing():
                _, _, reply = await self.prepare(question, message.author.id)
            await message.reply(mention_author=False, **reply)
        except Exception:
            log.exception("failed to answer message %s", message.id)
            await message.reply(ERROR_TEXT, mention_author=False)

    def question_in(self, message: discord.Message) -> str | None:
        """The question a message asks the bot, or None if it is not addressed to the bot."""
        assert self.user is not None
        if message.guild is None:
            return message.content.strip()
        mentioned = any(u.id == self.user.id for u in message.mentions)
        if mentioned:
            return re.sub(rf"<@!?{self.user.id}>", " ", message.content).strip()
        if message.channel.id in self.settings.ask_channels:
            return message.content.strip() or None
        return None

    async def show_more(self, interaction: discord.Interaction, answer_id: int, offset: int) -> None:
        # The next passages are an answer like any other: refused once stopping, waited for if in flight.
        if self.stopping:
            await interaction.response.send_message(STOPPING_TEXT, ephemeral=True)
            return
        with self._answering():
            await self._show_more(interaction, answer_id, offset)

    async def _show_more(self, interaction: discord.Interaction, answer_id: int, offset: int) -> None:
        stored = await asyncio.to_thread(self.feedback.answer, answer_id)
        if stored is None:
            await interaction.response.send_message(EXPIRED_TEXT, ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        ans, _, reply = await self.prepare(stored.question, interaction.user.id, offset)
        if not (ans.answered and ans.hits):
            await interaction.followup.send(NO_MORE_TEXT, ephemeral=True)
            return
        await interaction.followup.send(ephemeral=True, **reply)

    async def record_vote(self, interaction: discord.Interaction, answer_id: int, vote: int) -> None:
        if await asyncio.to_thread(self.feedback.answer, answer_id) is None:
            await interaction.response.send_message(EXPIRED_TEXT, ephemeral=True)
            return
        await asyncio.to_thread(self.feedback.vote, answer_id, interaction.user.id, vote)
        await interaction.response.send_message(THANKS_TEXT, ephemeral=True)

    async def on_app_command_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        log.error("command %s failed", interaction.command.name if interaction.command else "?", exc_info=error)
        if interaction.response.is_done():
            await interaction.followup.send(ERROR_TEXT, ephemeral=True)
        else:
            await interaction.response.send_message(ERROR_TEXT, ephemeral=True)


async def serve(settings: Settings) -> None:
    """Run the bot until it is stopped by SIGINT or SIGTERM, then close everything cleanly."""
    if not settings.discord_token:
        raise BotError("DISCORD_TOKEN is not set: put your bot's token in .env (see .env.example) or the environment")
    library = await asyncio.to_thread(Library.open, settings.corpus, settings.store)
    feedback = FeedbackStore(settings.feedback_path)
    bot = WendaBot(settings, library, feedback)
    loop = asyncio.get_running_loop()
    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Not available on Windows, nor off the main thread; Ctrl-C still stops the bot there.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(bot.shutdown()))
            handled.append(sig)
    try:
        async with bot:
            await bot.start(settings.discord_token)
    except discord.LoginFailure:
        raise BotError(
            "Discord rejected DISCORD_TOKEN: copy the token again from the Developer Portal (Bot → Reset Token)"
        ) from None
    except discord.PrivilegedIntentsRequired:
        raise BotError(
            "WENDA_ASK_CHANNELS needs the Message Content intent: enable it in the Developer Portal "
            "(Bot → Privileged Gateway Intents) or remove WENDA_ASK_CHANNELS"
        ) from None
    except (aiohttp.ClientConnectionError, OSError) as exc:
        raise BotError(f"cannot reach Discord ({type(exc).__name__}): check the network and try again") from None
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        feedback.close()
        log.info("stopped")


__all__ = ["MAX_QUESTION_CHARS", "BotError", "WendaBot", "serve"]
