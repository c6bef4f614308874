"""The Answer rendered for Discord: embeds that quote passages, always inside Discord's limits, never pinging."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import quote

import discord

from wenda.retrieval.citations import shown_date
from wenda.retrieval.search import Hit
from wenda.retrieval.snippet import excerpt

from .answer import ALSO_IN, Answer, copy_citation

# Discord's documented limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
CONTENT_LIMIT = 2000
EMBED_TITLE_LIMIT = 256
EMBED_DESCRIPTION_LIMIT = 4096
EMBED_FOOTER_LIMIT = 2048
EMBED_FIELD_VALUE_LIMIT = 1024
EMBED_TOTAL_LIMIT = 6000
EMBEDS_PER_MESSAGE = 10
BUTTON_LABEL_LIMIT = 80
EMBED_URL_LIMIT = 2000

# How much of a passage to quote at most; a whole long paragraph is a wall of text in a chat.
QUOTE_BUDGET = 900
# Room kept for the question echoed in a message's content.
QUESTION_ECHO_LIMIT = 300
ANSWER_COLOUR = 0x2F6FDE
DECLINE_COLOUR = 0x8A8F98
ZWSP = "\u200b"

_MENTION = re.compile(r"@(everyone|here|[!&]?\d{15,21})", re.IGNORECASE)
_ANGLE = re.compile(r"<(?=[@#/:]|a:|t:)")
# No \b before a scheme or an invite: Chinese characters are word characters to Python but not to
# Discord, which links "详见https://…" and "请加入discord.gg/…" all the same.
# Any word character before :// (not only a scheme's: breaking one more is harmless, missing one is a link).
_SCHEME = re.compile(r"([\w+.-]):(?=//)")
_INVITE = re.compile(r"(discord(?:app)?)\.(gg|com|io|me)\b", re.IGNORECASE)
_MARKDOWN_CHARS = re.compile(r"([\\*_~`|>#\[\]\-])")
_ORDERED_LIST = re.compile(r"^(\s*\d+)\.", re.MULTILINE)
# http(s), a host name (and port), then the rest; the host must be plain ASCII.
_LINK = re.compile(
    r"(?P<head>https?://[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::\d{1,5})?)(?P<rest>(?:[/?#].*)?)",
    re.IGNORECASE | re.DOTALL,
)
_PRINTABLE_ASCII = "".join(chr(c) for c in range(0x21, 0x7F))


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
    # runs separately keeps the markers balanced whatever the corpus text contains. The underlined
    # sentence is one run with the bold runs inside it: wrapping each bold piece in its own __…__
    # would put "____" between them, which Discord reads as a literal underscore, not two markers.
    out: list[str] = []
    for start, end in _runs(under, 0, n):
        inner: list[str] = []
        for s, e in _runs(bold, start, end):
            run = neutralise(shown[s:e])
            inner.append(f"**{run}**" if bold[s] and run.strip() else run)
        group = "".join(inner)
        out.append(f"__{group}__" if under[start] and group.strip() else group)
    return "".join(out)


def _runs(flags: list[bool], start: int, end: int) -> list[tuple[int, int]]:
    """The maximal spans of start..end over which flags does not change."""
    runs: list[tuple[int, int]] = []
    i = start
    while i < end:
        j = i
        while j < end and flags[j] == flags[i]:
            j += 1
        runs.append((i, j))
        i = j
    return runs


def citation(hit: Hit) -> str:
    """'source · date · heading · 第 N 段 · file' for the footer; the title is the embed's title, linked to the url."""
    p = hit.passage
    parts = [p.source] if p.source else []
    if p.date:
        parts.append(shown_date(p.date))
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


def render_answer(ans: Answer, *, echo_question: bool = False) -> DiscordMessage:
    """Answer → message. The only function that builds what the bot sends for an answer."""
    content = ""
    if echo_question and ans.question:
        content = "**问：**" + neutral_clip(ans.question, QUESTION_ECHO_LIMIT)
    if not ans.answered:
        embed = discord.Embed(description=neutral_clip(ans.message or "", 1000), colour=DECLINE_COLOUR)
        return DiscordMessage(content, [embed])
    hits = ans.hits[:EMBEDS_PER_MESSAGE]
    room = EMBED_TOTAL_LIMIT - 100
    embeds = [_hit_embed(hit, room) for hit in hits]
    if sum(len(e) for e in embeds) > room:
        # The embeds of a message share 6,000 characters. An equal share each, titles and footers
        # included, is what guarantees the sum: shrinking only the quotes cannot make room when
        # ten hits have long titles and paths.
        share = room // len(hits)
        embeds = [_hit_embed(hit, share) for hit in hits]
    return DiscordMessage(content, embeds)


def _hit_embed(hit: Hit, share: int) -> discord.Embed:
    """One quoted passage in at most `share` characters (its copies' places included)."""
    title = neutral_clip(f"{hit.rank}. {hit.passage.title}", min(EMBED_TITLE_LIMIT, share // 5))
    footer = clip(citation(hit), min(EMBED_FOOTER_LIMIT, share // 5))
    # Field values are markdown, and copies' titles and paths come from the corpus: escaped like titles.
    copies = neutral_clip("；".join(copy_citation(p) for p in hit.duplicates), min(EMBED_FIELD_VALUE_LIMIT, share // 5))
    also = len(ALSO_IN) + len(copies) if hit.duplicates else 0
    room = min(EMBED_DESCRIPTION_LIMIT, share - len(title) - len(footer) - also)
    budget = QUOTE_BUDGET
    description = highlighted_quote(hit, budget)
    while len(description) > room and budget > 0:
        budget = int(budget * 0.8)
        description = highlighted_quote(hit, budget)
    embed = discord.Embed(title=title, description=description, colour=ANSWER_COLOUR)
    embed.url = embed_link(hit.passage.url)
    if hit.duplicates:
        embed.add_field(name=ALSO_IN, value=copies, inline=False)
    embed.set_footer(text=footer)
    return embed


def embed_link(url: str | None) -> str | None:
    """An article's URL as Discord takes it for an embed's title link, or None.

    Discord refuses the whole message ("Not a well formed URL") for a link with spaces, without a
    host or too long, and the URL comes from whatever the corpus file says. Non-ASCII in the path
    is percent-encoded, as a browser would; anything else odd drops the link, not the answer.
    """
    match = _LINK.fullmatch(url.strip()) if url else None
    if match is None:
        return None
    rest = match["rest"]
    if any(ch.isspace() or unicodedata.category(ch)[0] == "C" for ch in rest):
        return None
    link = match["head"] + quote(rest, safe=_PRINTABLE_ASCII)
    return link if len(link) <= EMBED_URL_LIMIT else None


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
