"""Time the whole answer path on an index already built: question → Answer, as the bot and the terminal get it.

    python bench/answer_path.py /tmp/wenda-bench/10k/corpus [--reference answers.json] [--resident]

Opens the corpus folder's cache (it must be up to date: `wenda index --corpus DIR` or
bench/run_bench.py first) and asks the 200 benchmark questions twice, a warm-up pass then a timed
one. Each question is timed three ways, one after the other:

* ``answer``: `wenda.bot.answer.answer(searcher, question)`, the product's path: ranking with the
  sentence stage, relevance and the decline rule, three distinct texts (copies grouped), the
  highlighted sentence and the marked words of every quoted passage;
* ``ranking``: `searcher.rank(question, 10)`, the ranking served by default (sentence stage on);
* ``first stage``: the question's query tokens and `index.top_k` alone (what rank-bm25 ranks).

Wall time (perf_counter) and the thread's CPU time (thread_time) are both reported: on a shared
machine the CPU time is the steadier of the two. Between the passes the searcher's per-passage
caches (shingles, title tokens, sentences' proper names) are emptied (Searcher.forget_cached), so
the timed pass does not read back what the warm-up pass worked out for the same passages; the
index's per-term statistics stay warm, as a running bot's earlier questions leave them (as
bench/run_bench.py does).

Each question goes the three ways in that order, so its posting lists are read from disk, where
they are (a cold cache, a memory cgroup), by the answer. --first-stage-first turns the order round,
to tell the first stage's cold reads from the rest of the answer's.

With --reference, the first run saves every answer's quoted passages (slot order) there and later
runs check theirs against it (e.g. one inside a memory cgroup). With --resident, the process's
resident memory after the run, by mapped file (bench/query_alone.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from query_alone import _resident_by_file

from wenda.bot.answer import answer
from wenda.retrieval.store import Library, StoreSettings

HERE = Path(__file__).resolve().parent


def _summary(times: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(times), 2),
        "p95_ms": round(statistics.quantiles(times, n=20)[-1], 2),
        "mean_ms": round(statistics.fmean(times), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--reference", type=Path, help="save (first run) or check (later runs) the answers")
    parser.add_argument("--resident", action="store_true", help="report resident MB by mapped file")
    parser.add_argument("--first-stage-first", action="store_true", help="time the first stage first, then the rest")
    args = parser.parse_args()
    started = time.perf_counter()
    library = Library.open(args.corpus, StoreSettings(cache=True))
    opened = time.perf_counter() - started
    searcher = library.searcher
    questions = json.loads((HERE / "data" / "questions.json").read_text(encoding="utf-8"))
    questions = [q if isinstance(q, str) else q["question"] for q in questions]

    def first_stage(question: str) -> object:
        return searcher.index.top_k(searcher.query(question).tokens, 10)

    paths = {
        "answer": lambda q: answer(searcher, q),
        "ranking": lambda q: searcher.rank(q, 10),
        "first stage": first_stage,
    }
    if args.first_stage_first:
        paths = dict(reversed(paths.items()))
    wall: dict[str, list[float]] = {name: [] for name in paths}
    cpu: dict[str, list[float]] = {name: [] for name in paths}
    answers = []
    for timed in (False, True):
        if timed and hasattr(searcher, "forget_cached"):  # (older versions, for comparison, have none)
            searcher.forget_cached()
        for question in questions:
            for name, path in paths.items():
                tick, cpu_tick = time.perf_counter(), time.thread_time()
                out = path(question)
                if timed:
                    wall[name].append((time.perf_counter() - tick) * 1e3)
                    cpu[name].append((time.thread_time() - cpu_tick) * 1e3)
                    if name == "answer":
                        answers.append([[h.passage.file, h.passage.paragraph] for h in out.hits])
    report: dict = {
        "corpus": str(args.corpus),
        "passages": searcher.index.n_docs,
        "open_s": round(opened, 2),
        "reread_files": len(library.last_refresh.added) + len(library.last_refresh.changed),
        "sentence_weight": searcher.sentence_weight,
        "answered": sum(1 for a in answers if a),
        **{f"{name} wall": _summary(times) for name, times in wall.items()},
        **{f"{name} cpu": _summary(times) for name, times in cpu.items()},
    }
    if args.reference:
        if args.reference.exists():
            report["same_answers_as_reference"] = json.loads(args.reference.read_text()) == answers
        else:
            args.reference.write_text(json.dumps(answers))
    if args.resident:
        report["resident_mb"] = _resident_by_file()
    print(json.dumps(report, ensure_ascii=False))


if __name__ == "__main__":
    main()
