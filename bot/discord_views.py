"""The buttons under an answer — "more" and 👍/👎 — as persistent items that survive a restart.

Their state (which stored answer, which page) lives in the custom id, so the bot can handle a
click on a message it sent before it was restarted. What a click does is the client's business:
the buttons know it only through AnswerActions, so this module never imports the client.
"""

from __future__ import annotations

import re
from typing import Protocol, cast

import discord

MORE_LABEL = "更多"


class AnswerActions(Protocol):
    """What the client that sent an answer does when one of its buttons is clicked."""

    async def show_more(self, interaction: discord.Interaction, answer_id: int, offset: int) -> None: ...

    async def record_vote(self, interaction: discord.Interaction, answer_id: int, vote: int) -> None: ...


def _actions(interaction: discord.Interaction) -> AnswerActions:
    # discord.py builds a persistent button from its custom id alone, so the client that received
    # the click is the only place its handlers can come from.
    return cast(AnswerActions, interaction.client)


class MoreButton(discord.ui.DynamicItem[discord.ui.Button], template=r"wenda:more:(?P<aid>\d+):(?P<offset>\d+)"):
    def __init__(self, answer_id: int, offset: int) -> None:
        self.answer_id = answer_id
        self.offset = offset
        super().__init__(
            discord.ui.Button(
                label=MORE_LABEL,
                emoji="➕",
                style=discord.ButtonStyle.secondary,
                custom_id=f"wenda:more:{answer_id}:{offset}",
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> MoreButton:
        return cls(int(match["aid"]), int(match["offset"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _actions(interaction).show_more(interaction, self.answer_id, self.offset)


class VoteButton(discord.ui.DynamicItem[discord.ui.Button], template=r"wenda:vote:(?P<aid>\d+):(?P<vote>up|down)"):
    def __init__(self, answer_id: int, vote: str) -> None:
        self.answer_id = answer_id
        self.vote = 1 if vote == "up" else -1
        super().__init__(
            discord.ui.Button(
                emoji="👍" if vote == "up" else "👎",
                style=discord.ButtonStyle.secondary,
                custom_id=f"wenda:vote:{answer_id}:{vote}",
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> VoteButton:
        return cls(int(match["aid"]), match["vote"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await _actions(interaction).record_vote(interaction, self.answer_id, self.vote)


def answer_view(answer_id: int, next_offset: int | None) -> discord.ui.View:
    """The buttons for a stored answer; "more" only when there may be further passages."""
    view = discord.ui.View(timeout=None)
    if next_offset is not None:
        view.add_item(MoreButton(answer_id, next_offset))
    view.add_item(VoteButton(answer_id, "up"))
    view.add_item(VoteButton(answer_id, "down"))
    return view
