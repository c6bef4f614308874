"""Two `wenda bot` processes of two shards each (four in all) over one corpus folder, through the stand-in.

The processes are real: `python -m wenda bot` (standin_wenda.py points discord.py at the stand-in),
started together on a corpus with no index yet, each with its own token so that the stand-in can
tell whose REST requests are whose. Every wait is on a log line or a request, bounded by WAIT.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from conftest import SEED_CORPUS, SEED_FILE
from discord_standin import DiscordStandin, InjectedMessage, RecordedRequest, StandinGuild

pytestmark = pytest.mark.asyncio(loop_scope="module")

WAIT = 120.0  # a bound on waiting for a process on a busy machine, never a claim about speed
LAUNCHER = Path(__file__).with_name("standin_wenda.py")
SHARDS = 4
PROCESSES = {"0-1": "standin-token-shards-01", "2-3": "standin-token-shards-23"}
QUESTION = "衢州市副市长是谁？"  # answered from the seed file
NEW_FILE = "harbour.txt"
NEW_TEXT = "新港区码头扩建完工\n新港区码头扩建后年吞吐能力达到八百万标准箱。\n"
NEW_QUESTION = "新港区码头扩建后吞吐能力是多少？"


class BotProcess:
    """A `wenda bot` process running some of the shards; its log (stderr), line by line, as it comes."""

    def __init__(self, shard_ids: str, token: str, process: asyncio.subprocess.Process) -> None:
        self.shard_ids = shard_ids
        self.token = token
        self.process = process
        self.lines: list[str] = []
        self._changed = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, standin: DiscordStandin, corpus: Path, shard_ids: str, token: str) -> BotProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WENDA_") and k != "DISCORD_TOKEN"}
        env |= {
            "STANDIN_URL": standin.url,
            "DISCORD_TOKEN": token,
            "WENDA_CORPUS": str(corpus),
            "WENDA_SHARD_COUNT": str(SHARDS),
            "WENDA_SHARD_IDS": shard_ids,
            "WENDA_THREADS": "off",
            "WENDA_COOLDOWN_RATE": "0",
            "PYTHONIOENCODING": "utf-8",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(LAUNCHER),
            "bot",
            cwd=corpus.parent,  # no .env there: the environment above is all it reads
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(shard_ids, token, process)

    async def _read(self) -> None:
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            async with self._changed:
                self.lines.append(raw.decode("utf-8", "replace").rstrip())
                self._changed.notify_all()
        async with self._changed:
            self._changed.notify_all()

    def logged(self, text: str, after: int = 0, before: int | None = None) -> list[str]:
        return [line for line in self.lines[after:before] if text in line]

    async def wait_for_log(self, *texts: str, after: int = 0) -> str:
        """The first line from `after` on holding one of texts; fails with the log if the process ends first."""

        def found() -> str | None:
            return next((line for line in self.lines[after:] if any(t in line for t in texts)), None)

        async with asyncio.timeout(WAIT), self._changed:
            await self._changed.wait_for(lambda: found() is not None or self._reader.done())
        line = found()
        assert line is not None, f"shards {self.shard_ids} ended without logging {texts}:\n" + "\n".join(self.lines)
        return line

    async def stop(self) -> int:
        """SIGTERM, as a service manager stops it; its exit code."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(WAIT):
                code = await self.process.wait()
        except TimeoutError:
            self.process.kill()
            code = await self.process.wait()
        await self._reader
        return code


@dataclass
class Cluster:
    standin: DiscordStandin
    corpus: Path
    guilds: list[StandinGuild]  # further guilds; the stand-in's first guild is served too
    processes: list[BotProcess]
    started: list[int]  # each process's log length once it was connected

    def runs(self, shard: int) -> BotProcess:
        """The process running a shard."""
        return next(p for p in self.processes if p.shard_ids == PROCESSES_BY_SHARD[shard])

    def channels(self) -> dict[int, tuple[int, int]]:
        """Every guild's text channel: channel id -> (guild id, its shard)."""
        found = {self.standin.channel_id: (self.standin.guild_id, (self.standin.guild_id >> 22) % SHARDS)}
        found.update({g.channel_id: (g.id, g.shard(SHARDS)) for g in self.guilds})
        return found


PROCESSES_BY_SHARD = {0: "0-1", 1: "0-1", 2: "2-3", 3: "2-3"}


@pytest_asyncio.fixture(scope="module", loop_scope="module", name="cluster")
async def cluster_fixture(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    corpus = tmp_path_factory.mktemp("shards") / "corpus"
    corpus.mkdir()
    shutil.copyfile(SEED_CORPUS / SEED_FILE, corpus / SEED_FILE)
    async with DiscordStandin() as standin:
        # Two guilds on every shard besides the stand-in's first guild, wherever its id puts it.
        guilds = [standin.add_guild(f"服务器{n}", shard=n % SHARDS, of=SHARDS) for n in range(2 * SHARDS)]
        processes = [await BotProcess.start(standin, corpus, ids, token) for ids, token in PROCESSES.items()]
        try:
            await standin.wait_shards_ready(SHARDS, timeout=WAIT)
            for process in processes:
                await process.wait_for_log("connected as")
            yield Cluster(standin, corpus, guilds, processes, [len(p.lines) for p in processes])
        finally:
            codes = [await process.stop() for process in processes]
    assert codes == [0, 0], [p.lines[-5:] for p in processes]


async def mention(standin: DiscordStandin, channel: int | None, question: str) -> InjectedMessage:
    if channel is None:
        return await standin.send_message(question, guild=False)
    return await standin.send_message(
        f"{standin.bot_user.mention} {question}", mentions=[standin.bot_user], channel=channel
    )


def replies_to(standin: DiscordStandin, sent: InjectedMessage) -> list[RecordedRequest]:
    """The bot's replies to a message: posts in its channel that reference it."""
    return [
        r
        for r in standin.requests[sent.mark :]
        if r.method == "POST"
        and r.path == f"/channels/{sent.channel_id}/messages"
        and ((r.json or {}).get("message_reference") or {}).get("message_id") in (sent.id, str(sent.id))
    ]


def quoted_files(reply: RecordedRequest) -> str:
    return " ".join((embed.get("footer") or {}).get("text", "") for embed in reply.json.get("embeds") or [])


async def test_each_process_identifies_the_shards_it_was_given(cluster: Cluster) -> None:
    tokens = cluster.standin.session_tokens()
    assert tokens == {shard: PROCESSES[ids] for shard, ids in PROCESSES_BY_SHARD.items()}
    for process in cluster.processes:
        assert process.logged(f"running shards {process.shard_ids} of {SHARDS}")


async def test_every_server_is_answered_once_by_the_process_running_its_shard(cluster: Cluster) -> None:
    standin = cluster.standin
    asked = {channel: await mention(standin, channel, QUESTION) for channel in cluster.channels()}
    await standin.wait_until(lambda: all(replies_to(standin, sent) for sent in asked.values()), timeout=WAIT)

    for channel, sent in asked.items():
        guild_id, shard = cluster.channels()[channel]
        assert sent.shard == shard, f"guild {guild_id}'s events went to shard {sent.shard}, not {shard}"
        [reply] = replies_to(standin, sent)
        assert reply.status == 200 and reply.json["embeds"]
        assert reply.token == cluster.runs(shard).token
    assert {cluster.channels()[c][1] for c in asked} == set(range(SHARDS))  # every shard had servers to answer


async def test_a_slash_command_is_acknowledged_once_in_every_server(cluster: Cluster) -> None:
    standin = cluster.standin
    asked = [await standin.invoke_slash("ask", {"question": QUESTION}, channel=c) for c in cluster.channels()]

    def followed_up(invoked: Any) -> bool:
        return any(r.method == "POST" and r.path == invoked.webhook_path for r in standin.requests[invoked.mark :])

    await standin.wait_until(lambda: all(followed_up(i) for i in asked), timeout=WAIT)
    for invoked in asked:
        callbacks = [r for r in standin.requests[invoked.mark :] if r.path == invoked.callback_path]
        assert [(r.status < 300, r.json["type"]) for r in callbacks] == [(True, 5)]  # deferred once, by one process


async def test_a_dm_is_answered_once_by_the_process_running_shard_0(cluster: Cluster) -> None:
    standin = cluster.standin
    sent = await mention(standin, None, QUESTION)
    await standin.wait_until(lambda: bool(replies_to(standin, sent)), timeout=WAIT)

    [reply] = replies_to(standin, sent)
    assert sent.shard == 0
    assert reply.token == cluster.runs(0).token and reply.json["embeds"]


async def test_only_the_process_running_shard_0_syncs_the_commands(cluster: Cluster) -> None:
    syncs = [r for r in cluster.standin.requests if r.method == "PUT" and r.path.endswith("/commands")]
    assert [r.token for r in syncs] == [cluster.runs(0).token]
    assert cluster.runs(2).logged("application commands are synced by the process running shard 0")


async def test_starting_together_on_a_new_corpus_the_processes_segment_it_once(cluster: Cluster) -> None:
    segmented = [
        p.logged("passages segmented", before=start)
        for p, start in zip(cluster.processes, cluster.started, strict=True)
    ]
    assert sorted(len(lines) for lines in segmented) == [0, 1], [p.lines for p in cluster.processes]
    [[line]] = [lines for lines in segmented if lines]
    assert "1 added" in line


async def test_a_file_dropped_in_the_corpus_is_answered_by_both_processes_and_segmented_by_one(
    cluster: Cluster,
) -> None:
    standin = cluster.standin
    marks = [len(p.lines) for p in cluster.processes]
    (cluster.corpus / NEW_FILE).write_text(NEW_TEXT, encoding="utf-8")
    done = [
        await p.wait_for_log("index updated", "took up the index", after=mark)
        for p, mark in zip(cluster.processes, marks, strict=True)
    ]
    # One in each process's servers: both answer from the new file.
    channels = [next(c for c, (_, shard) in cluster.channels().items() if shard == s) for s in (0, 2)]
    asked = [await mention(standin, channel, NEW_QUESTION) for channel in channels]
    await standin.wait_until(lambda: all(replies_to(standin, sent) for sent in asked), timeout=WAIT)

    replies = [replies_to(standin, sent)[0] for sent in asked]
    assert [r.token for r in replies] == [cluster.runs(0).token, cluster.runs(2).token]
    assert all(NEW_FILE in quoted_files(r) for r in replies)
    segmenting = [p.logged("passages segmented", after=m) for p, m in zip(cluster.processes, marks, strict=True)]
    assert sorted(len(lines) for lines in segmenting) == [0, 1], done
    [[line]] = [lines for lines in segmenting if lines]
    assert "1 added" in line and "1 passages segmented" in line
    follower = next(p for p, lines in zip(cluster.processes, segmenting, strict=True) if not lines)
    assert follower.logged("took up the index another process saved", after=marks[cluster.processes.index(follower)])
