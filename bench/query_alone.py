"""Time wenda's top-k alone on an index already built, e.g. inside a memory cgroup.

    python bench/query_alone.py /tmp/wenda-bench/1m/corpus [--reference top10.json]

Opens the corpus folder's cache (it must be up to date: run bench/run_bench.py first), asks the
200 benchmark questions twice (warm-up, then timed) and prints the timed pass's median and p95 of
`top_k` (question segmentation excluded). With --reference, the first run saves every question's
top-10 there and later runs check theirs against it, so a run under memory pressure is also
shown to return the same answers. With --resident, it also reports the process's resident memory
after the run by mapped file (MB): its own (anonymous) memory and the index pages the questions
touched. docs/benchmarks.md has the cgroup commands it ran under.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import time
from pathlib import Path

from wenda.retrieval.store import Library, StoreSettings

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--reference", type=Path)
    parser.add_argument("--resident", action="store_true", help="report resident MB by mapped file")
    args = parser.parse_args()
    started = time.perf_counter()
    library = Library.open(args.corpus, StoreSettings(cache=True))
    opened = time.perf_counter() - started
    questions = json.loads((HERE / "data" / "questions.json").read_text(encoding="utf-8"))
    questions = [q if isinstance(q, str) else q["question"] for q in questions]
    index = library.searcher.index
    terms = [library.searcher.analyzer.query_tokens(q) for q in questions]
    tops = [index.top_k(t, 10) for t in terms]  # warm-up
    times = []
    for t in terms:
        tick = time.perf_counter()
        index.top_k(t, 10)
        times.append((time.perf_counter() - tick) * 1e3)
    report = {
        "open_s": round(opened, 2),
        "median_ms": round(statistics.median(times), 2),
        "p95_ms": round(statistics.quantiles(times, n=20)[-1], 2),
        "reread_files": len(library.last_refresh.added) + len(library.last_refresh.changed),
    }
    if args.reference:
        top10 = [[[slot, score] for slot, score in top] for top in tops]
        if args.reference.exists():
            report["same_top10_as_reference"] = json.loads(args.reference.read_text()) == top10
        else:
            args.reference.write_text(json.dumps(top10))
    if args.resident:
        report["resident_mb"] = _resident_by_file()
    print(json.dumps(report))


def _resident_by_file() -> dict[str, int]:
    """Resident MB per mapping name, summed over segments (Linux /proc/self/smaps): "own" for
    anonymous memory and the heap, the array's file name for index pages."""
    sizes: collections.Counter[str] = collections.Counter()
    name = "own"
    with open("/proc/self/smaps", encoding="utf-8") as fh:
        for line in fh:
            fields = line.split()
            # A mapping's header: "start-end perms offset dev inode [path]"; then its fields.
            if len(fields) >= 5 and "-" in fields[0] and ":" in fields[3]:
                path = fields[5] if len(fields) > 5 else ""
                name = "own" if not path.startswith("/") else Path(path).name
            elif fields and fields[0] == "Rss:":
                sizes[name] += int(fields[1])
    return {k: round(v / 1024) for k, v in sizes.most_common() if v >= 1024}


if __name__ == "__main__":
    main()
