"""The discord.py client: slash commands, a context menu, mentions, threads, DMs and ask-channels, one Answer."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import datetime
import functools
import inspect
import logging
import re
import signal
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

import aiohttp
import discord
from discord import app_commands
from discord.app_commands import locale_str

from wenda.retrieval.intake import MAX_ADD_BYTES, SUFFIXES, add_bytes
from wenda.retrieval.store import Library
from wenda.retrieval.watch import CorpusWatcher

from .answer import MAX_QUESTION_CHARS, Answer, answer
from .answer_pool import AnswerPool, answer_threads, pool_size, warm_up
from .channels import channel_scope
from .conversation import DM_WINDOW_SECONDS, Conversations
from .cooldown import Cooldown
from .discord_locale import WendaTranslator
from .discord_render import DiscordMessage, neutral_clip, render_answer, render_lines
from .discord_views import MoreButton, VoteButton, answer_view
from .feedback import FeedbackStore
from .report import build_report, gap_line, summary_line
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
# The gaps /report lists at most, the rest counted in one line: 15 lines of at most 300 characters
# (render_lines' clip) leave room for that line within the 6,000 characters of a message's embeds.
REPORT_GAPS = 15
# Discord's limit on a thread's name; a question cut to it names the thread its answer is in.
THREAD_NAME_LIMIT = 100
THREAD_NAME_FALLBACK = "问答"


def thread_name(question: str) -> str:
    """A thread's name from its question: on one line, within Discord's 100 characters, never empty."""
    name = " ".join(question.split())
    if len(name) > THREAD_NAME_LIMIT:
        name = name[: THREAD_NAME_LIMIT - 1] + "…"
    return name or THREAD_NAME_FALLBACK


def _accepts_context(func: Callable[..., object]) -> bool:
    """Whether answer() takes the earlier questions of a conversation (as `context`)."""
    try:
        return "context" in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


def cooldown_text(seconds: float) -> str:
    return f"你问得有点快，请 {max(1, round(seconds))} 秒后再问。"


# Whom the bot is working for: a slash command or a button click, or a message (a mention, a DM, an ask-channel).
Target = discord.Interaction | discord.Message
Handler = TypeVar("Handler", bound=Callable[..., Awaitable[None]])


def guarded(what: str) -> Callable[[Handler], Handler]:
    """Put a WendaBot handler, whose first argument is the interaction or message, on the guarded path.

    `what` names the handler in the log line of a failure ("/ask", "vote button", …).
    """

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def run(bot: WendaBot, target: Target, *args: Any, **kwargs: Any) -> None:
            await bot.guard(target, what, functools.partial(handler, bot, target, *args, **kwargs))

        return cast(Handler, run)

    return decorate


class BotError(Exception):
    """The bot cannot start or run; the message tells the operator what to do."""


class WendaBot(discord.Client):
    """One client, configured once: intents, no pings ever, the command tree and the buttons.

    It is the AnswerActions that discord_views' buttons call; every handler runs through guard().
    """

    def __init__(
        self, settings: Settings, library: Library, feedback: FeedbackStore, *, watch: bool = True, **options
    ) -> None:
        intents = discord.Intents.default()
        # Slash commands, mentions, DMs and context menus need no privileged intent; only ask-channels
        # and follow-ups without a mention in wenda's threads need to read message content.
        intents.message_content = settings.reads_message_content
        super().__init__(intents=intents, allowed_mentions=discord.AllowedMentions.none(), **options)
        self.settings = settings
        self.library = library
        self.feedback = feedback
        self.cooldown = Cooldown(settings.cooldown_rate, settings.cooldown_seconds)
        self.conversations = Conversations()
        self.tree = app_commands.CommandTree(self)
        self.tree.on_error = self.on_app_command_error
        self._register_commands()
        self.watcher = CorpusWatcher(library) if watch else None
        # Answers are scored in worker processes if WENDA_ANSWER_WORKERS asks for them, else in threads.
        workers = pool_size(settings.answer_workers, library)
        self.answer_pool = AnswerPool(library, workers) if workers else None
        # Threads of their own, not the loop's default executor, which the feedback store's writes use.
        self._answering = concurrent.futures.ThreadPoolExecutor(answer_threads(), thread_name_prefix="wenda-answer")
        # Work in flight (answers, clicks, admin commands), so a shutdown can let it finish before
        # the connection closes.
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.stopping = False

    # -- start-up -----------------------------------------------------------------------------

    async def setup_hook(self) -> None:
        self.add_dynamic_items(MoreButton, VoteButton)
        await self.tree.set_translator(WendaTranslator())
        if self.watcher is not None:
            self.watcher.start()
        if self.answer_pool is not None:
            await self.answer_pool.start()  # each worker warms itself up
        else:
            await asyncio.get_running_loop().run_in_executor(self._answering, warm_up, self.library.searcher)
        if not self.settings.syncs_commands:  # several processes run the bot's shards: one syncs (shards.py)
            log.info("application commands are synced by the process running shard 0")
            return
        # A guild sync shows commands at once; a global one can take up to an hour to appear.
        if self.settings.guild_id:
            guild = discord.Object(id=self.settings.guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
        else:
            synced = await self.tree.sync()
        log.info("synced %d application commands", len(synced))

    @contextlib.contextmanager
    def _in_flight(self):
        self._inflight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._inflight -= 1
            if not self._inflight:
                self._idle.set()

    async def shutdown(self, grace: float = 10.0) -> None:
        """Stop taking questions, let the work in flight finish (up to grace seconds), then close."""
        self.stopping = True
        log.info("stopping: %d answers in flight", self._inflight)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), grace)
        await self.close()

    async def close(self) -> None:
        if self.watcher is not None:
            await asyncio.to_thread(self.watcher.stop)
        if self.answer_pool is not None:
            await asyncio.to_thread(self.answer_pool.close)
        await asyncio.to_thread(self._answering.shutdown)
        await super().close()

    async def on_ready(self) -> None:
        log.info(
            "connected as %s (id %s) to %d servers", self.user, self.user.id if self.user else "?", len(self.guilds)
        )

    def _register_commands(self) -> None:
        # Each command only hands over to a guarded method: the one place that refuses while stopping,
        # waits for work in flight and turns an error into a sentence for the user. Names and
        # descriptions are localised by discord_locale's translator when the tree is synced.
        @self.tree.command(name=locale_str("ask"), description=locale_str("向资料库提问，引用最相关的段落回答"))
        @app_commands.describe(question=locale_str("你的问题"))
        async def ask(interaction: discord.Interaction, question: app_commands.Range[str, 1, 2000]) -> None:
            await self.answer_interaction(interaction, question)

        @self.tree.command(name=locale_str("sources"), description=locale_str("列出资料库中的文章"))
        async def sources(interaction: discord.Interaction) -> None:
            await self.list_sources(interaction)

        # No default_permissions on the admin commands: Discord would hide them from the members of
        # WENDA_ADMIN_ROLE until someone changed the server's Integrations settings. is_admin() decides.
        @self.tree.command(name=locale_str("reindex"), description=locale_str("重新读取资料库并重建索引（管理员）"))
        async def reindex(interaction: discord.Interaction) -> None:
            await self.reindex(interaction)

        @self.tree.command(
            name=locale_str("add"), description=locale_str("上传文章文件（.txt/.md/.jsonl）加入资料库（管理员）")
        )
        @app_commands.describe(file=locale_str("文章文件"))
        async def add(interaction: discord.Interaction, file: discord.Attachment) -> None:
            await self.add_file(interaction, file)

        @self.tree.command(
            name=locale_str("report"), description=locale_str("提问、反馈和资料库未覆盖的问题汇总（管理员）")
        )
        @app_commands.describe(days=locale_str("统计最近几天（默认 7 天）"))
        async def report(interaction: discord.Interaction, days: app_commands.Range[int, 1, 366] = 7) -> None:
            await self.report(interaction, days)

        # Apps → 问 wenda on any message: the interaction carries the message, so no intent is needed.
        async def ask_about(interaction: discord.Interaction, message: discord.Message) -> None:
            await self.answer_about(interaction, message)

        self.tree.add_command(app_commands.ContextMenu(name=locale_str("问 wenda"), callback=ask_about))

    def scope_of(self, channel: object) -> str | None:
        """The corpus subfolder questions asked in channel search (WENDA_CHANNEL_CORPORA); None: all of it."""
        return channel_scope(self.settings.channel_corpora, channel)

    @guarded("/sources")
    async def list_sources(self, interaction: discord.Interaction) -> None:
        articles = self.library.articles
        scope = self.scope_of(interaction.channel)
        if scope is not None:  # only what questions asked here can quote
            articles = [a for a in articles if a.file.startswith(scope + "/")]
        lines = [f"{a.title}" + (f" · {a.source}" if a.source else "") + f" · {a.passages} 段" for a in articles]
        title = f"资料库：{len(articles)} 篇文章"
        await interaction.response.send_message(embeds=render_lines(title, lines), ephemeral=True)

    @guarded("/reindex")
    async def reindex(self, interaction: discord.Interaction) -> None:
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

    @guarded("/add")
    async def add_file(self, interaction: discord.Interaction, file: discord.Attachment) -> None:
        if not self.is_admin(interaction.user):
            await interaction.response.send_message(NOT_ALLOWED_TEXT, ephemeral=True)
            return
        if not file.filename.lower().endswith(SUFFIXES):
            await interaction.response.send_message("只接受 .txt、.md 或 .jsonl 文件。", ephemeral=True)
            return
        if file.size > MAX_ADD_BYTES:
            await interaction.response.send_message(f"文件太大（上限 {MAX_ADD_BYTES // 2**20} MB）。", ephemeral=True)
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

    @guarded("/report")
    async def report(self, interaction: discord.Interaction, days: int = 7) -> None:
        if not self.is_admin(interaction.user):
            await interaction.response.send_message(NOT_ALLOWED_TEXT, ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        since = discord.utils.utcnow() - datetime.timedelta(days=days)
        found = await asyncio.to_thread(build_report, self.feedback, self.library.analyzer, since)
        # Stored questions are whatever people typed: render_lines escapes and clips every line.
        lines = [summary_line(found)]
        if found.gaps:
            lines.append("未覆盖或得到 👎 的问题，按话题归组：")
            lines.extend(gap_line(gap) for gap in found.gaps[:REPORT_GAPS])
            if len(found.gaps) > REPORT_GAPS:
                lines.append(f"另有 {len(found.gaps) - REPORT_GAPS} 组未列出（wenda report 可看全部）。")
        title = f"问答报告：最近 {days} 天"
        await interaction.followup.send(embeds=render_lines(title, lines), ephemeral=True)

    def is_admin(self, user: discord.abc.User) -> bool:
        if not isinstance(user, discord.Member):
            return False  # no server, no server permissions
        if user.guild_permissions.manage_guild:
            return True
        return self.settings.admin_role is not None and any(r.id == self.settings.admin_role for r in user.roles)

    # -- answering ----------------------------------------------------------------------------

    async def compute_answer(
        self,
        question: str,
        offset: int = 0,
        *,
        k: int | None = None,
        context: Sequence[str] = (),
        scope: str | None = None,
    ) -> Answer:
        """Segmentation and scoring run in a worker process (answer_pool) or thread, never on the event
        loop. scope: the corpus subfolder of the channel asked in (scope_of), None for all of it."""
        searcher = self.library.searcher  # one consistent snapshot even if /reindex swaps it meanwhile
        options: dict[str, Any] = {"offset": offset}
        # The earlier questions of a conversation go to answer() once it can use them.
        if _accepts_context(answer):
            options["context"] = tuple(context)
        if scope is not None:
            options["scope"] = scope
        if self.answer_pool is not None:
            return await self.answer_pool.answer(searcher, question, k or self.settings.top_k, options)
        call = functools.partial(answer, searcher, question, k or self.settings.top_k, **options)
        return await asyncio.get_running_loop().run_in_executor(self._answering, call)

    async def prepare(
        self,
        question: str,
        user_id: int,
        offset: int = 0,
        *,
        echo: bool = False,
        context: Sequence[str] = (),
        scope: str | None = None,
    ) -> tuple[Answer, DiscordMessage, dict]:
        """Answer, render and store a question; returns the send() keyword arguments for the reply."""
        k = self.settings.top_k
        # One passage more than is shown tells whether 更多 has anything to show.
        ans = await self.compute_answer(question, offset, k=k + 1, context=context, scope=scope)
        more = len(ans.hits) > k
        ans = dataclasses.replace(ans, hits=ans.hits[:k])
        message = render_answer(ans, echo_question=echo)
        kwargs: dict = {"content": message.content or None, "embeds": message.embeds}
        if offset == 0:  # a new question, not 更多 on an earlier one
            await self._record_question(ans, user_id)
        if ans.answered and ans.hits:
            answer_id = await asyncio.to_thread(self.feedback.record_answer, ans, user_id)
            if answer_id is not None:  # None: not recorded (logged); the answer goes out without buttons
                kwargs["view"] = answer_view(answer_id, offset + k if more else None)
        return ans, message, kwargs

    async def _record_question(self, ans: Answer, user_id: int) -> None:
        """Count the question for /report; a store that cannot take it costs the report a line, not the answer."""
        try:
            await asyncio.to_thread(self.feedback.record_question, ans, user_id)
        except sqlite3.Error:
            log.warning("question of user %s not recorded for the report", user_id, exc_info=True)

    # -- conversations --------------------------------------------------------------------------

    def started_by_me(self, channel: object) -> bool:
        """A thread wenda started: Discord gives every thread its owner, so nothing needs storing."""
        return isinstance(channel, discord.Thread) and self.user is not None and channel.owner_id == self.user.id

    def _conversation_of(self, channel: object) -> tuple[int, float | None] | None:
        """The conversation key and idle window of a channel, or None where questions stand alone."""
        if self.started_by_me(channel):
            return cast(discord.Thread, channel).id, None
        if getattr(channel, "type", None) is discord.ChannelType.private:
            return cast(discord.DMChannel, channel).id, DM_WINDOW_SECONDS
        return None

    def conversation(self, channel: object) -> list[str]:
        """The questions asked so far in a thread wenda started or a DM, oldest first; [] elsewhere."""
        found = self._conversation_of(channel)
        return self.conversations.questions(found[0], window=found[1]) if found else []

    def _converse(self, channel: object, question: str) -> list[str]:
        """Record a question in its channel's conversation; returns the questions asked before it."""
        found = self._conversation_of(channel)
        if found is None or not question.strip():
            return []
        return self.conversations.add(found[0], question, window=found[1])

    def _wants_thread(self, channel: object, *, mentioned: bool) -> bool:
        """Whether a question asked in this channel is answered in a new thread (see WENDA_THREADS)."""
        mode = self.settings.threads
        if mode == "off" or not isinstance(channel, discord.TextChannel):
            return False  # threads start from text channels only: not in a thread, a DM or a forum
        return mode == "always" or mentioned

    async def _start_thread(
        self, channel: discord.TextChannel, message: discord.abc.Snowflake, question: str
    ) -> discord.Thread | None:
        """A public thread on message named after question, its first question; None (and one log line)
        if Discord refuses."""
        # A thread started on a message has the message's id, so the conversation exists before the
        # thread does: a follow-up that arrives before Discord's answer already finds its first question.
        self.conversations.add(message.id, question)
        try:
            return await channel.create_thread(name=thread_name(question), message=message)
        except discord.HTTPException as error:
            self.conversations.forget(message.id)
            log.warning(
                "cannot start a thread in channel %s (HTTP %s, %s): answering in place; the bot needs "
                "Create Public Threads and Send Messages in Threads there",
                channel.id,
                error.status,
                error.text or "no detail",
            )
            return None

    # -- answering ----------------------------------------------------------------------------

    @guarded("/ask")
    async def answer_interaction(self, interaction: discord.Interaction, question: str) -> None:
        await self._answer_interaction(interaction, question)

    @guarded("问 wenda")
    async def answer_about(self, interaction: discord.Interaction, message: discord.Message) -> None:
        await self._answer_interaction(interaction, message.content)

    async def _answer_interaction(self, interaction: discord.Interaction, question: str) -> None:
        wait = self.cooldown.retry_after(interaction.user.id)
        if wait:
            await interaction.response.send_message(cooldown_text(wait), ephemeral=True)
            return
        # Defer first: Discord drops an interaction not acknowledged within 3 seconds, and a cold
        # index or a busy machine can take longer than that to answer.
        await interaction.response.defer(thinking=True)
        channel = interaction.channel
        context = self._converse(channel, question)
        scope = self.scope_of(channel)
        _, _, reply = await self.prepare(question, interaction.user.id, echo=True, context=context, scope=scope)
        threaded = self._wants_thread(channel, mentioned=False) and bool(question.strip())
        sent = await interaction.followup.send(wait=threaded, **reply)
        if threaded and sent is not None:
            # The answer is already posted where it was asked; the thread on it is for follow-ups.
            await self._start_thread(cast(discord.TextChannel, channel), sent, question)

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or self.user is None or message.author.id == self.user.id:
            return
        question = self.question_in(message)
        if question is not None:
            await self.answer_message(message, question)

    @guarded("message")
    async def answer_message(self, message: discord.Message, question: str) -> None:
        wait = self.cooldown.retry_after(message.author.id)
        if wait:
            await message.reply(cooldown_text(wait), mention_author=False)
            return
        channel = message.channel
        scope = self.scope_of(channel)  # a thread started below inherits the channel's
        thread = None
        if question.strip() and self._wants_thread(channel, mentioned=self._mentions_me(message)):
            thread = await self._start_thread(cast(discord.TextChannel, channel), message, question)
        if thread is not None:
            async with thread.typing():
                _, _, reply = await self.prepare(question, message.author.id, scope=scope)
            await thread.send(**reply)
            return
        context = self._converse(channel, question)
        async with channel.typing():
            _, _, reply = await self.prepare(question, message.author.id, context=context, scope=scope)
        await message.reply(mention_author=False, **reply)

    def _mentions_me(self, message: discord.Message) -> bool:
        return self.user is not None and any(u.id == self.user.id for u in message.mentions)

    def question_in(self, message: discord.Message) -> str | None:
        """The question a message asks the bot, or None if it is not addressed to the bot."""
        assert self.user is not None
        if message.guild is None:
            return message.content.strip()
        if self._mentions_me(message):
            return re.sub(rf"<@!?{self.user.id}>", " ", message.content).strip()
        if self.started_by_me(message.channel) and self.intents.message_content:
            return message.content.strip() or None  # a follow-up in wenda's thread
        if message.channel.id in self.settings.ask_channels:
            return message.content.strip() or None
        return None

    @guarded("more button")
    async def show_more(self, interaction: discord.Interaction, answer_id: int, offset: int) -> None:
        stored = await asyncio.to_thread(self.feedback.answer, answer_id)
        if stored is None:
            await interaction.response.send_message(EXPIRED_TEXT, ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        scope = self.scope_of(interaction.channel)  # the button is under the answer, in its channel
        ans, _, reply = await self.prepare(stored.question, interaction.user.id, offset, scope=scope)
        if not (ans.answered and ans.hits):
            await interaction.followup.send(NO_MORE_TEXT, ephemeral=True)
            return
        await interaction.followup.send(ephemeral=True, **reply)

    @guarded("vote button")
    async def record_vote(self, interaction: discord.Interaction, answer_id: int, vote: int) -> None:
        if await asyncio.to_thread(self.feedback.answer, answer_id) is None:
            await interaction.response.send_message(EXPIRED_TEXT, ephemeral=True)
            return
        await asyncio.to_thread(self.feedback.vote, answer_id, interaction.user.id, vote)
        await interaction.response.send_message(THANKS_TEXT, ephemeral=True)

    # -- the guarded path -----------------------------------------------------------------------

    async def guard(self, target: Target, what: str, work: Callable[[], Awaitable[object]]) -> None:
        """The one path every command, click and message takes.

        Refused while stopping; counted while in flight, so a shutdown waits for it; and any error
        is logged with its traceback for the operator and told to the user in one short sentence,
        so that nobody is left on "thinking…" or Discord's "interaction failed".
        """
        with self._in_flight():  # a refusal too, so that it is sent before the connection closes
            if self.stopping:
                # A command or a click gets a refusal only its user sees; in a channel, silence is kinder.
                if isinstance(target, discord.Interaction):
                    await self._tell(target, STOPPING_TEXT)
                return
            try:
                await work()
            except Exception as error:
                await self._fail(target, what, error)

    async def on_app_command_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        # Command bodies run guarded; this catches what fails before one runs (a check, an option).
        await self._fail(interaction, f"/{interaction.command.name}" if interaction.command else "command", error)

    async def _fail(self, target: Target, what: str, error: BaseException) -> None:
        user = target.user if isinstance(target, discord.Interaction) else target.author
        kind = "interaction" if isinstance(target, discord.Interaction) else "message"
        log.error("%s failed for user %s (%s %s)", what, user.id, kind, target.id, exc_info=error)
        await self._tell(target, ERROR_TEXT)

    async def _tell(self, target: Target, text: str) -> None:
        """One sentence to whoever asked: a reply to a message, or a private answer to an interaction
        (a follow-up once it has been acknowledged, e.g. while it shows "thinking…")."""
        try:
            if isinstance(target, discord.Message):
                await target.reply(text, mention_author=False)
            elif target.response.is_done():
                await target.followup.send(text, ephemeral=True)
            else:
                await target.response.send_message(text, ephemeral=True)
        except Exception:
            # Discord itself may be what failed; the operator still learns that the user heard nothing.
            log.exception("could not tell the user %r (%s %s)", text, type(target).__name__, target.id)


def _warm(library: Library) -> None:
    try:
        library.analyzer.warm()
    except Exception:  # the first question will meet it again, and answer with the error path's sentence
        log.exception("loading jieba's dictionary ahead of the first question failed")


async def serve(settings: Settings) -> None:
    """Run the bot until it is stopped by SIGINT or SIGTERM, then close everything cleanly."""
    if not settings.discord_token:
        raise BotError("DISCORD_TOKEN is not set: put your bot's token in .env (see .env.example) or the environment")
    from .shards import make_bot  # shards.py builds on WendaBot, so it cannot be imported before it

    library = await asyncio.to_thread(Library.open, settings.corpus, settings.store)
    # What the first question would wait for (jieba's dictionary, the tagger) loads while the client
    # logs in and connects: the wait there is the network's, so it costs the start nothing.
    asyncio.get_running_loop().run_in_executor(None, _warm, library)
    feedback = FeedbackStore(settings.feedback_path)
    bot = make_bot(settings, library, feedback)
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
            "WENDA_MESSAGE_CONTENT and WENDA_ASK_CHANNELS need the Message Content intent: enable it in the "
            "Developer Portal (Bot → Privileged Gateway Intents) or turn both off"
        ) from None
    except (aiohttp.ClientConnectionError, OSError) as exc:
        raise BotError(f"cannot reach Discord ({type(exc).__name__}): check the network and try again") from None
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        feedback.close()
        log.info("stopped")


__all__ = ["MAX_QUESTION_CHARS", "BotError", "WendaBot", "serve"]
