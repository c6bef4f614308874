"""Which corpus subfolder a Discord channel searches (WENDA_CHANNEL_CORPORA): its own, its parent's, its category's."""

from __future__ import annotations

from collections.abc import Mapping


def channel_scope(corpora: Mapping[int, str], channel: object) -> str | None:
    """The subfolder mapped to channel, to its parent channel (a thread's) or to its category; None
    (the whole corpus) for a DM or a channel mapped nowhere. The nearest mapping wins."""
    if not corpora or channel is None:
        return None
    for key in lineage(channel):
        if key in corpora:
            return corpora[key]
    return None


def lineage(channel: object) -> list[int]:
    """The ids a channel inherits a mapping from, nearest first: itself, its parent channel (a
    thread's), then the category of whichever of the two is a channel.

    Read with getattr: DMs have neither parent nor category, and a thread's parent may be missing
    from discord.py's cache (its parent_id is then all that is known).
    """
    ids = [getattr(channel, "id", None)]
    holder = channel
    parent_id = getattr(channel, "parent_id", None)
    if parent_id is not None:  # a thread: its channel, then that channel's category
        ids.append(parent_id)
        holder = getattr(channel, "parent", None)
    ids.append(getattr(holder, "category_id", None))
    return [i for i in ids if i is not None]
