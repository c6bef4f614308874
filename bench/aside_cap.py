"""The aside rule's length cap against the decline goals, on a sample of one evaluation set.

    python bench/aside_cap.py ../shared/eval/drcd_test.json ../shared/eval/cmrc2018_trial.json \
        bench/out/drcd_final.json 500

For each cap (relevance.ASIDE_MAX_CHARS): the share of the set's own questions declined, bare and in a
chatty family (made by bench/chatty.py), and the share of the other set's questions declined, on a
fixed random sample of N questions each.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from wenda.bot.evaluate import load_squad
from wenda.retrieval import relevance
from wenda.retrieval.search import Searcher


def main() -> None:
    own, other, chatty = (load_squad(Path(p)) for p in sys.argv[1:4])
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 500
    searcher = Searcher.build(own.passages)
    rnd = random.Random(0)
    ins = rnd.sample(range(len(own.questions)), min(n, len(own.questions)))
    outs = rnd.sample(range(len(other.questions)), min(n, len(other.questions)))
    print("| aside cap (characters) | wrongly declined, bare | wrongly declined, chatty | rightly declined (bare) |")
    print("|---|---|---|---|")
    for cap in (6, 9, 12, 20):
        relevance.ASIDE_MAX_CHARS = cap
        bare = sum(searcher.top_relevance(own.questions[i].text) < relevance.MIN_RELEVANCE for i in ins) / len(ins)
        chat = sum(searcher.top_relevance(chatty.questions[i].text) < relevance.MIN_RELEVANCE for i in ins) / len(ins)
        right = sum(searcher.top_relevance(other.questions[i].text) < relevance.MIN_RELEVANCE for i in outs) / len(outs)
        print(f"| {cap} | {bare:.1%} | {chat:.1%} | {right:.1%} |", flush=True)


if __name__ == "__main__":
    main()
