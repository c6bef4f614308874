"""Scopes: a subfolder of the corpus a search is kept to (a Discord channel's own articles)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .corpus import Passage
from .passages import PassageTable, SlotPassages


class ScopeError(ValueError):
    """A scope that cannot name a subfolder of the corpus."""


def normalise_scope(scope: str) -> str:
    """A subfolder as passages' files name it: forward slashes, no leading ./ or trailing slash.

    Raises ScopeError for an empty scope or one that leaves the corpus (.., an absolute path).
    """
    raw = scope.strip().replace("\\", "/")
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if not parts or raw.startswith("/") or ".." in parts or ":" in parts[0]:
        raise ScopeError(f"{scope!r} is not a subfolder of the corpus")
    return "/".join(parts)


def in_scope(passages: Sequence[Passage], scope: str) -> np.ndarray:
    """A boolean per slot: whether the passage's file is inside the subfolder scope.

    Stored passages are judged by their articles' files (a few thousand strings), not one Passage per slot.
    """
    prefix = normalise_scope(scope) + "/"
    if isinstance(passages, SlotPassages) and all(isinstance(t, PassageTable) for t in passages.tables):
        parts = [_table_in_scope(t, prefix) for t in passages.tables]
        return np.concatenate(parts) if parts else np.zeros(0, bool)
    if isinstance(passages, PassageTable):
        return _table_in_scope(passages, prefix)
    return np.fromiter((p.file.startswith(prefix) for p in passages), dtype=bool, count=len(passages))


def _table_in_scope(table: PassageTable, prefix: str) -> np.ndarray:
    inside = np.array([a.file.startswith(prefix) for a in table.articles], dtype=bool)
    return inside[np.asarray(table.article, dtype=np.int64)] if len(inside) else np.zeros(len(table), bool)
