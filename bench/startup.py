"""Start-up benchmark: whole `wenda ask` processes on an indexed corpus, wall time and where it goes.

Each run is a new process, as a user's `wenda ask "问题"` is (text output, into a pipe), timed from
the parent: spawn to exit. A second kind of process, the probe, does what `wenda ask` does in the same
order and times each phase from inside:

* ``imports``  `import wenda.bot.cli`, what the `wenda` command imports before it reads its arguments;
* ``jieba``    the analyzer the corpus gets (with its user dictionary) and jieba's dictionary loaded;
* ``open``     `Library.open`: the index cache loaded, the folder compared with it;
* ``answer``   the question searched, answered and rendered as the terminal shows it;

and ``python`` is the rest of the probe's wall time: the interpreter's start and exit.
The probe runs against any wenda, old or new (it uses only what both have), so `--python` pointing
at another virtual environment gives figures to compare with::

    python bench/startup.py --corpus /tmp/su/100k                         # this venv's wenda
    python bench/startup.py --corpus /tmp/su/100k --python /tmp/before/bin/python --python .venv/bin/python

With `--bot`, each run is a new process that starts the Discord bot as `wenda bot` does, against
the Discord stand-in of tests/ on 127.0.0.1 (so no network time: a real Discord adds its login and
Gateway round trips), and asks one /ask the moment the bot is ready; it reports spawn → first
answer and its phases (imports, library open, client ready, answer)::

    python bench/startup.py --corpus /tmp/su/100k --bot --runs 5

The corpus must be indexed already (`wenda index --corpus DIR`), or every run measures a build.
Runs of the different questions, interpreters and kinds are interleaved, so a noisy machine hits
all alike; figures are medians, with each interpreter's ratio to the first.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# One question of each kind the answer path treats differently: 谁 makes the highlighter tag names
# (jieba's part-of-speech tagger), a time and a quantity do not. From bench/data/questions.json.
QUESTIONS = ("2009年3月17日谁宣布解散政府？", "POWER6什么时候推出的？", "锦地罗的全长是多少厘米？")

PROBE = r"""
import io, json, sys, time
t0 = time.perf_counter()
import wenda.bot.cli
t1 = time.perf_counter()
from pathlib import Path
from rich.console import Console
from wenda.bot.answer import answer
from wenda.bot.settings import Settings
from wenda.bot.terminal import print_answer
from wenda.retrieval import store
corpus, question = Path(sys.argv[1]), sys.argv[2]
settings = Settings.from_env()
analyzer = store._analyzer_for(corpus, settings.store)
analyzer.terms("预热")  # jieba loads its dictionary on first use, if not before
t2 = time.perf_counter()
real = store._analyzer_for
store._analyzer_for = lambda root, s, load=True: analyzer if load else real(root, s, load=False)
library = store.Library.open(corpus, settings.store)
t3 = time.perf_counter()
out = io.StringIO()
found = answer(library.searcher, question, settings.top_k)
print_answer(Console(file=out, highlight=False, soft_wrap=True), found, corpus)
t4 = time.perf_counter()
print(json.dumps({"imports": t1 - t0, "jieba": t2 - t1, "open": t3 - t2, "answer": t4 - t3,
                  "modules": sorted(m for m in sys.modules if "." not in m), "answered": bool(out.getvalue())}))
"""

# `--bot`: a new bot process's first answer, against the Discord stand-in of tests/ (real discord.py,
# local Gateway and REST). It does what `wenda bot` does (serve(): the library opened in a worker
# thread, then the client started, its commands synced) and a member asks one /ask as soon as the
# bot is ready; stamps are wall-clock times, so the parent can subtract its spawn time.
BOT_PROBE = r"""
import asyncio, json, sys, tempfile, time
stamps = {"start": time.time()}
import wenda.bot.cli
from wenda.bot.discord_bot import WendaBot
stamps["imported"] = time.time()
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from discord_standin import DiscordStandin
from wenda.bot.feedback import FeedbackStore
from wenda.bot.settings import Settings
from wenda.retrieval.store import Library
corpus, question = Path(sys.argv[1]), sys.argv[2]
harness = time.time() - stamps["imported"]  # importing the stand-in: not part of the bot's start


async def main():
    settings = Settings(corpus=corpus)
    library = await asyncio.to_thread(Library.open, settings.corpus, settings.store)
    stamps["opened"] = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        feedback = FeedbackStore(Path(tmp) / "feedback.sqlite3")
        async with DiscordStandin() as standin:
            with standin.patched():
                bot = WendaBot(settings, library, feedback, guild_ready_timeout=0.05)
                async with standin.running(bot, timeout=60):
                    stamps["ready"] = time.time()
                    asked = await standin.invoke_slash("ask", {"question": question})
                    def answered():
                        return any(r.method == "POST" and r.path == asked.webhook_path for r in standin.requests)
                    await standin.wait_until(answered, timeout=60)
                    stamps["answered"] = time.time()
        feedback.close()


asyncio.run(main())
print(json.dumps({"stamps": stamps, "harness": harness}))
"""
BOT_PHASES = ("python", "imports", "open", "ready", "answer")

# Modules `wenda ask` should not need: reported if a run imported them.
HEAVY = frozenset({"discord", "aiohttp", "sqlite3", "watchfiles", "yaml", "charset_normalizer", "rank_bm25"})
PHASES = ("python", "imports", "jieba", "open", "answer")


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank percentile: with few runs, a value that was measured."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _environment() -> dict[str, str]:
    # No WENDA_* setting of the caller's may change what is measured; the corpus is given explicitly.
    # Nor PYTHONDONTWRITEBYTECODE: a checkout's modules would be compiled in every run (0.1 s here),
    # which no installed wenda does.
    env = {k: v for k, v in os.environ.items() if not k.startswith("WENDA_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def _timed(command: list[str], cwd: Path, cpu: list[float] | None = None) -> tuple[float, str]:
    """Run command; its wall time and stdout. Its CPU time (user + system) is appended to cpu: on a
    loaded machine that moves less than the wall time does."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=_environment(), capture_output=True, text=True, encoding="utf-8")
    took = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} … failed ({done.returncode}):\n{done.stderr}")
    if cpu is not None:
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return took, done.stdout


def measure(pythons: list[str], corpus: Path, questions: tuple[str, ...], runs: int) -> list[dict]:
    """runs whole `wenda ask` processes and probes per question and interpreter, all interleaved."""
    walls = {py: {q: [] for q in questions} for py in pythons}
    cpus: dict[str, list[float]] = {py: [] for py in pythons}
    phases = {py: {p: [] for p in PHASES} for py in pythons}
    modules: dict[str, set[str]] = {py: set() for py in pythons}
    with tempfile.TemporaryDirectory(prefix="wenda-startup-") as tmp:  # no .env of anyone's
        cwd = Path(tmp)
        # One unmeasured run of each, so the page cache holds what every measured run reads.
        for py in pythons:
            for q in questions:
                _timed([py, "-m", "wenda", "ask", "--corpus", str(corpus), q], cwd)
        for _ in range(runs):
            for q in questions:
                for py in pythons:
                    took, _ = _timed([py, "-m", "wenda", "ask", "--corpus", str(corpus), q], cwd, cpus[py])
                    walls[py][q].append(took)
                    took, out = _timed([py, "-c", PROBE, str(corpus), q], cwd)
                    probe = json.loads(out.strip().splitlines()[-1])
                    for p in PHASES[1:]:
                        phases[py][p].append(probe[p])
                    phases[py]["python"].append(took - sum(probe[p] for p in PHASES[1:]))
                    modules[py].update(probe["modules"])
    results = []
    for py in pythons:
        every = [t for q in questions for t in walls[py][q]]
        results.append(
            {
                "python": py,
                "corpus": str(corpus),
                "runs": runs,
                "wall": {"median": statistics.median(every), "p95": percentile(every, 95)},
                "cpu": {"median": statistics.median(cpus[py]), "p95": percentile(cpus[py], 95)},
                "by_question": {
                    q: {"median": statistics.median(t), "p95": percentile(t, 95)} for q, t in walls[py].items()
                },
                "phases": {p: statistics.median(v) for p, v in phases[py].items()},
                "heavy_modules": sorted(modules[py] & HEAVY),
            }
        )
    return results


def measure_bot(pythons: list[str], corpus: Path, question: str, runs: int) -> list[dict]:
    """runs new bot processes per interpreter, interleaved: spawn → first answer, and its phases."""
    tests = Path(__file__).resolve().parents[1] / "tests"
    firsts: dict[str, list[float]] = {py: [] for py in pythons}
    phases = {py: {p: [] for p in BOT_PHASES} for py in pythons}
    with tempfile.TemporaryDirectory(prefix="wenda-startup-") as tmp:
        for run in range(runs + 1):  # the first round warms the page cache and is not counted
            for py in pythons:
                spawned = time.time()
                _, out = _timed([py, "-c", BOT_PROBE, str(corpus), question, str(tests)], Path(tmp))
                if not run:
                    continue
                found = json.loads(out.strip().splitlines()[-1])
                at = found["stamps"]
                firsts[py].append(at["answered"] - spawned - found["harness"])
                phases[py]["python"].append(at["start"] - spawned)
                phases[py]["imports"].append(at["imported"] - at["start"])
                phases[py]["open"].append(at["opened"] - at["imported"] - found["harness"])
                phases[py]["ready"].append(at["ready"] - at["opened"])
                phases[py]["answer"].append(at["answered"] - at["ready"])
    return [
        {
            "python": py,
            "corpus": str(corpus),
            "runs": runs,
            "wall": {"median": statistics.median(firsts[py]), "p95": percentile(firsts[py], 95)},
            "phases": {p: statistics.median(v) for p, v in phases[py].items()},
        }
        for py in pythons
    ]


def _bot_table(results: list[dict]) -> str:
    first = results[0]
    lines = [
        f"{first['corpus']}, {first['runs']} new bot processes per interpreter, interleaved (Discord stand-in)",
        "",
        "| | " + " | ".join(f"`{r['python']}`" for r in results) + " |",
        "|---" * (len(results) + 1) + "|",
    ]
    for label, key in (("spawn → first answer, median s", "median"), ("spawn → first answer, p95 s", "p95")):
        cells = [f"{r['wall'][key]:.3f}" for r in results]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for p in BOT_PHASES:
        lines.append(f"| {p} (median s) | " + " | ".join(f"{r['phases'][p]:.3f}" for r in results) + " |")
    return "\n".join(lines)


def _table(results: list[dict]) -> str:
    """One column per interpreter, and the ratio of each to the first."""
    first = results[0]
    head = "| | " + " | ".join(f"`{r['python']}`" for r in results) + " |"
    rule = "|---" * (len(results) + 1) + "|"

    def row(label: str, values: list[float], base: float) -> str:
        cells = [f"{v:.3f}" + (f" ({v / base:.2f}×)" if i and base else "") for i, v in enumerate(values)]
        return f"| {label} | " + " | ".join(cells) + " |"

    lines = [f"{first['corpus']}, {first['runs']} runs per question and interpreter, interleaved", "", head, rule]
    lines.append(row("whole `wenda ask`, median s", [r["wall"]["median"] for r in results], first["wall"]["median"]))
    lines.append(row("whole `wenda ask`, p95 s", [r["wall"]["p95"] for r in results], first["wall"]["p95"]))
    lines.append(row("its CPU (user + sys), median s", [r["cpu"]["median"] for r in results], first["cpu"]["median"]))
    for q, t in first["by_question"].items():
        lines.append(row(f"{q} median s", [r["by_question"][q]["median"] for r in results], t["median"]))
    for p in PHASES:
        lines.append(row(f"probe: {p} (median s)", [r["phases"][p] for r in results], first["phases"][p]))
    heavy = ["; ".join(r["heavy_modules"]) or "none" for r in results]
    lines.append("| modules of note imported | " + " | ".join(heavy) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, required=True, help="an indexed corpus folder")
    parser.add_argument(
        "--python",
        action="append",
        help="an interpreter whose wenda to run (repeatable, to compare: ratios are to the first; default: this one)",
    )
    parser.add_argument("--runs", type=int, default=5, help="measured runs per question (default 5)")
    parser.add_argument("--question", action="append", help="a question to ask (repeatable; default: three kinds)")
    parser.add_argument("--bot", action="store_true", help="time new bot processes' first answer instead")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    args = parser.parse_args()
    corpus = args.corpus.resolve()
    if args.bot:
        question = (args.question or QUESTIONS)[0]
        results = measure_bot(args.python or [sys.executable], corpus, question, args.runs)
        print(json.dumps(results, ensure_ascii=False) if args.json else _bot_table(results))
        return 0
    results = measure(args.python or [sys.executable], corpus, tuple(args.question or QUESTIONS), args.runs)
    print(json.dumps(results, ensure_ascii=False) if args.json else _table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
