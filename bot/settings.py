"""Configuration, read once from the environment and `.env` into one Settings object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from wenda.retrieval.index import TUNED_PARAMS, BM25Params
from wenda.retrieval.rerank import SENTENCE_WEIGHT, check_sentence_weight
from wenda.retrieval.scope import ScopeError, normalise_scope
from wenda.retrieval.store import StoreSettings

THREAD_MODES = ("off", "mentions", "always")
# No bot needs more shards than this (Discord asks for one per 1,000 to 2,500 servers).
MAX_SHARDS = 65_536


class SettingsError(Exception):
    """A setting has a value wenda cannot use; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    corpus: Path = Path("corpus")
    top_k: int = 3
    params: BM25Params = TUNED_PARAMS
    sentence_weight: float = SENTENCE_WEIGHT
    # repr=False: settings get logged and printed; the token must never be.
    discord_token: str = field(default="", repr=False)
    guild_id: int | None = None
    ask_channels: frozenset[int] = frozenset()
    admin_role: int | None = None
    cooldown_rate: int = 3
    cooldown_seconds: float = 30.0
    feedback_db: Path | None = None
    # off: answer in place; mentions: an @mention in a text channel is answered in a new thread;
    # always: every question asked in a text channel (mention, /ask, context menu) gets a thread.
    threads: str = "mentions"
    # The privileged Message Content intent: every human message in a thread wenda started is then a question.
    message_content: bool = False
    follow_links: bool = False  # follow links in the corpus folder to files outside it
    # Channel or category id -> the corpus subfolder questions asked there search (WENDA_CHANNEL_CORPORA).
    channel_corpora: Mapping[int, str] = field(default_factory=dict)
    # WENDA_SHARD_COUNT: the shards of the whole bot, over every process; None runs one plain connection.
    shard_count: int | None = None
    # WENDA_SHARD_IDS: the shards this process runs (None: all of shard_count).
    shard_ids: tuple[int, ...] | None = None
    # Processes that answer the bot's questions (answer_pool.py): 0, threads of the bot's own process;
    # None ("auto"), one per core when there are two or more. Threads by default: docs/benchmarks.md,
    # "A busy server", measured workers slower while the corpus changes every few seconds.
    answer_workers: int | None = 0

    @property
    def sharded(self) -> bool:
        return self.shard_count is not None

    @property
    def syncs_commands(self) -> bool:
        """Whether this process syncs the slash commands: the one running shard 0 (every unsharded one),
        so that processes sharing the bot's shards sync them once, not once each."""
        return self.shard_ids is None or 0 in self.shard_ids

    @property
    def reads_message_content(self) -> bool:
        """Whether the bot must ask for the Message Content intent (ask-channels need it too)."""
        return self.message_content or bool(self.ask_channels)

    @property
    def feedback_path(self) -> Path:
        return self.feedback_db or self.corpus / ".wenda" / "feedback.sqlite3"

    @property
    def store(self) -> StoreSettings:
        return StoreSettings(
            params=self.params, sentence_weight=self.sentence_weight, follow_external_links=self.follow_links
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")) -> Settings:
        """Settings from `.env` (if present) overlaid by the real environment, which wins."""
        values: dict[str, str] = {}
        if dotenv is not None and dotenv.is_file():
            values.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
        values.update(os.environ if environ is None else environ)
        return cls(
            corpus=Path(values.get("WENDA_CORPUS") or "corpus"),
            top_k=_int(values, "WENDA_TOP_K", 3, lo=1, hi=10),
            params=_bm25_params(values),
            sentence_weight=_sentence_weight(values),
            discord_token=(values.get("DISCORD_TOKEN") or "").strip(),
            guild_id=_snowflake(values, "WENDA_GUILD_ID"),
            ask_channels=frozenset(_snowflakes(values, "WENDA_ASK_CHANNELS")),
            admin_role=_snowflake(values, "WENDA_ADMIN_ROLE"),
            cooldown_rate=_int(values, "WENDA_COOLDOWN_RATE", 3, lo=0, hi=1000),
            cooldown_seconds=_float(values, "WENDA_COOLDOWN_SECONDS", 30.0),
            feedback_db=Path(values["WENDA_FEEDBACK_DB"]) if values.get("WENDA_FEEDBACK_DB") else None,
            threads=_choice(values, "WENDA_THREADS", THREAD_MODES, "mentions"),
            message_content=_flag(values, "WENDA_MESSAGE_CONTENT"),
            follow_links=(values.get("WENDA_FOLLOW_LINKS") or "").strip() == "1",
            channel_corpora=_channel_corpora(values, "WENDA_CHANNEL_CORPORA"),
            **_shards(values),
            answer_workers=_workers(values, "WENDA_ANSWER_WORKERS"),
        )


_BM25_VARIABLES = {"k1": "WENDA_BM25_K1", "b": "WENDA_BM25_B", "epsilon": "WENDA_BM25_EPSILON"}


def _bm25_params(values: Mapping[str, str]) -> BM25Params:
    defaults = TUNED_PARAMS
    chosen = {param: _float(values, name, getattr(defaults, param)) for param, name in _BM25_VARIABLES.items()}
    # BM25Params checks each parameter on its own; trying them one at a time names the variable at fault.
    for param, name in _BM25_VARIABLES.items():
        try:
            BM25Params(**{param: chosen[param]})
        except ValueError as exc:
            raise SettingsError(f"{name}: {exc}") from None
    return BM25Params(**chosen)


def _sentence_weight(values: Mapping[str, str]) -> float:
    try:
        return check_sentence_weight(_float(values, "WENDA_SENTENCE_WEIGHT", SENTENCE_WEIGHT))
    except ValueError as exc:
        raise SettingsError(f"WENDA_SENTENCE_WEIGHT {exc}") from None


def _int(values: Mapping[str, str], name: str, default: int, *, lo: int, hi: int) -> int:
    raw = values.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name} must be between {lo} and {hi}, not {value}")
    return value


def _workers(values: Mapping[str, str], name: str) -> int | None:
    """A number of worker processes (unset: 0), or None for "auto": as many as the machine has cores."""
    if (values.get(name) or "").strip().lower() == "auto":
        return None
    return _int(values, name, 0, lo=0, hi=64)


def _snowflake(values: Mapping[str, str], name: str) -> int | None:
    raw = (values.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise SettingsError(f"{name} must be a Discord id (digits only; right-click → Copy ID), not {raw!r}")
    return int(raw)


def _snowflakes(values: Mapping[str, str], name: str) -> list[int]:
    raw = values.get(name) or ""
    ids = [part.strip() for part in raw.replace(";", ",").split(",") if part.strip()]
    bad = [part for part in ids if not part.isdigit()]
    if bad:
        raise SettingsError(f"{name} must be comma-separated Discord channel ids, and {bad[0]!r} is not one")
    return [int(part) for part in ids]


def _channel_corpora(values: Mapping[str, str], name: str) -> dict[int, str]:
    """`123=economy,456=politics`: a channel or category id, then the corpus subfolder asked there."""
    found: dict[int, str] = {}
    for entry in (values.get(name) or "").replace(";", ",").split(","):
        if not entry.strip():
            continue
        key, sep, folder = entry.partition("=")
        key = key.strip()
        if not sep or not key.isdigit():
            raise SettingsError(f"{name} must be channel-id=subfolder pairs (123=economy,456=politics), not {entry!r}")
        try:
            scope = normalise_scope(folder)
        except ScopeError:
            raise SettingsError(f"{name}: {folder.strip()!r} (for {key}) is not a subfolder of the corpus") from None
        if int(key) in found:
            raise SettingsError(f"{name} names {key} twice")
        found[int(key)] = scope
    return found


def _shards(values: Mapping[str, str]) -> dict[str, Any]:
    """WENDA_SHARD_COUNT and WENDA_SHARD_IDS (`0,1`, `0-3`, `4-7,9`), checked against each other."""
    count = _int(values, "WENDA_SHARD_COUNT", 0, lo=1, hi=MAX_SHARDS) or None
    raw = (values.get("WENDA_SHARD_IDS") or "").strip()
    if not raw:
        return {"shard_count": count, "shard_ids": None}
    if count is None:
        raise SettingsError("WENDA_SHARD_IDS needs WENDA_SHARD_COUNT, the number of shards over every process")
    ids: list[int] = []
    for part in raw.replace(";", ",").split(","):
        if not part.strip():
            continue
        first, dash, last = part.strip().partition("-")
        if not first.strip().isdigit() or (dash and not last.strip().isdigit()):
            raise SettingsError(f"WENDA_SHARD_IDS must be shard numbers or ranges such as 0,1 or 0-3, not {part!r}")
        start, stop = int(first), int(last) if dash else int(first)
        if stop < start:
            raise SettingsError(f"WENDA_SHARD_IDS: the range {part.strip()!r} runs backwards")
        for shard in range(start, stop + 1):
            if shard >= count:
                raise SettingsError(
                    f"WENDA_SHARD_IDS names shard {shard}, but WENDA_SHARD_COUNT={count} numbers them 0 to {count - 1}"
                )
            if shard in ids:
                raise SettingsError(f"WENDA_SHARD_IDS names shard {shard} twice")
            ids.append(shard)
    return {"shard_count": count, "shard_ids": tuple(sorted(ids)) or None}  # "," alone: all of them


def _float(values: Mapping[str, str], name: str, default: float) -> float:
    raw = values.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {raw!r}") from None


def _choice(values: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    raw = (values.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, not {raw!r}")
    return raw


def _flag(values: Mapping[str, str], name: str) -> bool:
    raw = (values.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(f"{name} must be on or off (1/0, true/false), not {raw!r}")
