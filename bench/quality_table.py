"""Run `wenda eval` for each retrieval variant on both evaluation sets and print docs/quality.md's table.

    python bench/quality_table.py [--jobs 2] > /tmp/quality_rows.md

Each row's command is printed with it, so any row can be re-run on its own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
CMRC = EVAL / "cmrc2018_trial.json"
DRCD = EVAL / "drcd_test.json"

# (label, extra wenda eval flags); the last is the default of `wenda ask`.
VARIANTS = [
    (
        "jieba words, normalised, stop words kept, k1 1.5",
        ["--no-ngrams", "--no-stopwords", "--title-repeat", "0", "--k1", "1.5"],
    ),
    (
        "jieba words, normalised, stop words dropped, k1 1.5 (issue 2)",
        ["--no-ngrams", "--title-repeat", "0", "--k1", "1.5"],
    ),
    ("words + CJK unigrams + bigrams, k1 1.5", ["--title-repeat", "0", "--k1", "1.5"]),
    ("words + n-grams, k1 0.8", ["--title-repeat", "0", "--k1", "0.8"]),
    ("words + n-grams, title ×1, k1 0.8", ["--title-repeat", "1", "--k1", "0.8"]),
    ("words + n-grams, title ×2, k1 1.5", ["--title-repeat", "2", "--k1", "1.5"]),
    ("words + n-grams, title ×2, k1 0.8, b 0.5", ["--title-repeat", "2", "--k1", "0.8", "--b", "0.5"]),
    (
        "same as the default, + the optional sentence stage at 0.4 (rerank.py; off by default)",
        ["--sentence-weight", "0.4"],
    ),
    ("**words + n-grams, title ×2, k1 0.8, b 0.75 (default)**", []),
]


def run(flags: list[str], corpus: Path, other: Path) -> dict:
    cmd = ["wenda", "eval", str(corpus), "--out-of-corpus", str(other), "--json", *flags]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    jobs = [
        (label, flags, corpus, other) for label, flags in VARIANTS for corpus, other in ((CMRC, DRCD), (DRCD, CMRC))
    ]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda j: run(j[1], j[2], j[3]), jobs))
    print(
        "| variant | set | R@1 | R@3 | R@5 | R@10 | MRR@10 | highlight@1 (baseline) "
        "| wrongly declined | rightly declined | command |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (label, flags, corpus, other), r in zip(jobs, results, strict=True):
        name = "CMRC" if corpus == CMRC else "DRCD"
        words = ["wenda", "eval", f"../shared/eval/{corpus.name}", "--out-of-corpus", f"../shared/eval/{other.name}"]
        cmd = "`" + " ".join(words + flags) + "`"
        print(
            f"| {label} | {name} | {r['recall@1']:.3f} | {r['recall@3']:.3f} | {r['recall@5']:.3f} "
            f"| {r['recall@10']:.3f} "
            f"| {r['mrr@10']:.3f} | {r['highlight@1']:.3f} ({r['highlight@1_baseline']:.3f}) "
            f"| {r['declined_in_corpus']:.3f} | {r['declined_out_of_corpus']:.3f} | {cmd} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
