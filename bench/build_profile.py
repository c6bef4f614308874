"""Where a build's time goes: the segmentation of a sample of passages, profiled, by kind of work.

    python bench/build_profile.py bench/data/100k --passages 20000

Reads the first --passages passages of the corpus folder (as the product reads them), then runs
`wenda.retrieval.parallel.build_segment` on them in this process (workers=1, so the profiler sees
the work the pool's workers do) under cProfile, and prints a Markdown table of the CPU time by kind:
jieba's cut (its DAG, route and HMM), normalising (NFKC, case, OpenCC), the n-grams and token lists,
inverting the token lists into a segment, and the rest. Profiling slows pure-Python code more than
C code, so the shares are indicative; the wall time without the profiler is printed as well.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from pathlib import Path

from wenda.retrieval import parallel
from wenda.retrieval.corpus import read_file
from wenda.retrieval.search import INDEXED_TITLE_CHARS
from wenda.retrieval.text import Analyzer

# (kind, predicate on (file, function name)) in order: the first that matches takes the function's own time.
KINDS = (
    # fastcut.py's FastCut is jieba's cut with the graph and route in jieba-fast-dat's C++.
    (
        "jieba: cut (DAG, route, HMM)",
        lambda f, n: "/jieba/" in f or f.endswith("fastcut.py") or "_get_DAG_and_calc" in n,
    ),
    ("normalise (NFKC, case, OpenCC)", lambda f, n: n in ("normalize", "lower", "convert") or "opencc" in f),
    ("segment: invert token lists", lambda f, n: f.endswith(("segment.py", "postings.py", "terms.py", "index.py"))),
    ("tokens: words, n-grams, checks", lambda f, n: f.endswith("text.py")),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--passages", type=int, default=20_000)
    args = parser.parse_args()
    passages = []
    for path in sorted(args.folder.glob("*.jsonl")):
        passages.extend(read_file(path, args.folder).passages)
        if len(passages) >= args.passages:
            break
    pairs = [(p.title[:INDEXED_TITLE_CHARS], p.text) for p in passages[: args.passages]]
    chars = sum(len(title) * 2 + len(text) for title, text in pairs)
    analyzer = Analyzer()
    analyzer.tokens("预热")  # jieba's dictionary load is not the build's
    tick = time.perf_counter()
    parallel.build_segment(pairs, analyzer, workers=1)
    plain = time.perf_counter() - tick
    profile = cProfile.Profile()
    profile.enable()
    parallel.build_segment(pairs, analyzer, workers=1)
    profile.disable()
    stats = pstats.Stats(profile).stats  # {(file, line, name): (calls, ncalls, tottime, cumtime, callers)}
    by_kind: dict[str, float] = {}
    for (file, _, name), (_, _, own, _, _) in stats.items():
        kind = next((k for k, match in KINDS if match(file, name)), "the rest (Python, lists, dicts)")
        by_kind[kind] = by_kind.get(kind, 0.0) + own
    total = sum(by_kind.values())
    print(f"{len(pairs):,} passages, {chars:,} indexed characters; without the profiler {plain:.1f} s in one process")
    print(f"({chars / plain:,.0f} characters a second)\n")
    print("| work | share of CPU (profiled) |")
    print("|---|---|")
    for kind, own in sorted(by_kind.items(), key=lambda item: -item[1]):
        print(f"| {kind} | {own / total:.0%} |")


if __name__ == "__main__":
    main()
