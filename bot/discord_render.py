"""The Answer rendered for Discord: embeds that quote passages, always inside Discord's limits, never pinging."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import discord

from retrieval.search import Hit
from retrieval.snippet import excerpt

from .answer import Answer

# Discord's documented limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
CONTENT_LIMIT = 2000
EMBED_TITLE_LIMIT = 256
EMBED_DESCRIPTION_LIMIT = 4096
EMBED_FOOTER_LIMIT = 2048
EMBED_FIELD_VALUE_LIMIT = 1024
EMBED_TOTAL_LIMIT = 6000
EMBEDS_PER_MESSAGE = 10
BUTTON_LABEL_LIMIT = 80

# How much of a passage to quote at most; a whole long paragraph is a wall of text in a chat.
QUOTE_BUDGET = 900
# Room kept for the question echoed in a message's content.
QUESTION_ECHO_LIMIT = 300
ANSWER_COLOUR = 0x2F6FDE
DECLINE_COLOUR = 0x8A8F98
ZWSP = "\u200b"

_MENTION = re.compile(r"@(everyone|here|[!&]?\d{15,21})", re.IGNORECASE)
_ANGLE = re.compile(r"<(?=[@#/:]|a:|t:)")
_SCHEME = re.compile(r"\b([a-z][a-z0-9+.-]{1,20}):(?=//)", re.IGNORECASE)
_INVITE = re.compile(r"\b(discord(?:app)?)\.(gg|com|io|me)\b", re.IGNORECASE)
_MARKDOWN_CHARS = re.compile(r"([\\*_~`|>#\[\]\-])")
_ORDERED_LIST = re.compile(r"^(\s*\d+)\.", re.MULTILINE)


def neutralise(text: str) -> str:
    """Text that Discord shows as it is: no markdown, no ping, no link, no invite.

    Every markdown character is backslash-escaped; mentions, links and invites are broken with a
    zero-width space, which the reader does not see. Newlines are kept.
    """
    text = text.replace(ZWSP, "")
    text = _MARKDOWN_CHARS.sub(r"\\\1", text)
    text = _ORDERED_LIST.sub(r"\1\\.", text)
    text = _MENTION.sub("@" + ZWSP + r"\1", text)
    text = _ANGLE.sub("<" + ZWSP, text)
    text = _SCHEME.sub(r"\1" + ZWSP + ":", text)
    return _INVITE.sub(r"\1" + ZWSP + r".\2", text)


def clip(text: str, limit: int) -> str:
    """Cut plain text to limit characters, marking the cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def neutral_clip(text: str, limit: int) -> str:
    """Neutralise text and fit it in limit characters, never cutting inside an escape."""
    out = neutralise(text)
    while len(out) > limit:
        text = text[: max(0, len(text) - max(1, len(out) - limit))]
        out = neutralise(text) + "…"
        if not text:
            return "…"
    return out


def highlighted_quote(hit: Hit, budget: int) -> str:
    """The passage window as Discord markdown: the answer sentence underlined, query terms in bold."""
    text = hit.passage.text
    shown, offset = excerpt(text, hit.sentence, budget)
    n = len(shown)

    def local(span: tuple[int, int]) -> tuple[int, int]:
        return max(0, span[0] - offset), min(n, span[1] - offset)

    bold = [False] * n
    for span in hit.term_spans:
        s, e = local(span)
        for i in range(s, e):
            bold[i] = True
    under = [False] * n
    if hit.sentence:
        s, e = local(hit.sentence)
        for i in range(s, e):
            under[i] = True

    # Cut the window into runs of one style, escape each run, then wrap it in its markers; escaping
    # runs separately keeps the markers balanced whatever the corpus text contains.
    out: list[str] = []
    i = 0
    while i < n:
        j = i
        while j < n and bold[j] == bold[i] and under[j] == under[i]:
            j += 1
        run = neutralise(shown[i:j])
        if run.strip():
            if bold[i]:
                run = f"**{run}**"
            if under[i]:
                run = f"__{run}__"
        out.append(run)
        i = j
    return "".join(out)


def citation(hit: Hit) -> str:
    """'source · heading · 第 N 段 · file' for the footer; the title is the embed's title."""
    p = hit.passage
    parts = [p.source] if p.source else []
    if p.heading:
        parts.append(p.heading)
    parts.append(f"第 {p.paragraph} 段")
    parts.append(p.file)
    return " · ".join(parts)


@dataclass(frozen=True)
class DiscordMessage:
    """What to send: content and embeds, already inside every limit and escaped."""

    content: str = ""
    embeds: list[discord.Embed] = field(default_factory=list)


def embed_length(embed: discord.Embed) -> int:
    return len(embed)


def render_answer(ans: Answer, *, echo_question: bool = False) -> DiscordMessage:
    """Answer → message. The only function that builds what the bot sends for an answer."""
    content = ""
    if echo_question and ans.question:
        content = "**问：**" + neutral_clip(ans.question, QUESTION_ECHO_LIMIT)
    if not ans.answered:
        embed = discord.Embed(description=neutral_clip(ans.message or "", 1000), colour=DECLINE_COLOUR)
        return DiscordMessage(content, [embed])
    hits = ans.hits[:EMBEDS_PER_MESSAGE]
    budget = QUOTE_BUDGET
    while True:
        embeds = [_hit_embed(hit, budget) for hit in hits]
        if sum(embed_length(e) for e in embeds) <= EMBED_TOTAL_LIMIT - 100 or budget <= 100:
            break
        budget = int(budget * 0.8)
    return DiscordMessage(content, embeds)


def _hit_embed(hit: Hit, budget: int) -> discord.Embed:
    title = neutral_clip(f"{hit.rank}. {hit.passage.title}", EMBED_TITLE_LIMIT)
    description = highlighted_quote(hit, budget)
    while len(description) > EMBED_DESCRIPTION_LIMIT:
        budget = int(budget * 0.8)
        description = highlighted_quote(hit, budget)
    embed = discord.Embed(title=title, description=description, colour=ANSWER_COLOUR)
    if hit.passage.url and hit.passage.url.startswith(("https://", "http://")) and len(hit.passage.url) <= 2000:
        embed.url = hit.passage.url
    embed.set_footer(text=clip(citation(hit), EMBED_FOOTER_LIMIT))
    return embed


def render_lines(title: str, lines: list[str], *, page_limit: int = EMBED_DESCRIPTION_LIMIT) -> list[discord.Embed]:
    """A long list (e.g. /sources) as embeds whose descriptions each fit the limit, at most 10 pages."""
    pages: list[str] = []
    current = ""
    for line in lines:
        line = neutral_clip(line, 300)
        if len(current) + len(line) + 1 > page_limit - 50:
            pages.append(current)
            current = ""
        current += line + "\n"
    if current or not pages:
        pages.append(current or "（空）")
    embeds = []
    total = 0
    for number, page in enumerate(pages[:EMBEDS_PER_MESSAGE], start=1):
        name = title if len(pages) == 1 else f"{title}（{number}/{len(pages)}）"
        embed = discord.Embed(title=clip(name, EMBED_TITLE_LIMIT), description=page, colour=ANSWER_COLOUR)
        if total + len(embed) > EMBED_TOTAL_LIMIT:
            break
        total += len(embed)
        embeds.append(embed)
    return embeds
