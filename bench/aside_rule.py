"""The aside rule's variants against the decline goals: wrongly and rightly declined on one corpus, for the
bare questions and each chatty family (files made by bench/chatty.py).

    python bench/aside_rule.py ../shared/eval/drcd_test.json ../shared/eval/cmrc2018_trial.json \
        --own-chatty bench/out/drcd_{family}.json --other-chatty bench/out/cmrc_{family}.json \
        --families bare,dev,heldout,fresh [--sample 500]

Each question is ranked once, with all its words (Searcher.query: the first stage, before a personal
aside leaves the query); each variant then sets the rule's knobs (relevance.ASIDE_MAX_CHARS,
text.EVERYDAY_FREQ, text's proper-noun tags) and reads every question's relevance again. So this
measures the maximum's part of the rule; `wenda eval` on the chatty files measures all of it.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from wenda.bot.evaluate import load_squad
from wenda.retrieval import relevance, text
from wenda.retrieval.search import Searcher

NEVER = 10**12  # an everyday frequency no word has: the length rule alone

# name: (ASIDE_MAX_CHARS, EVERYDAY_FREQ, whether proper nouns are kept out of everyday words)
VARIANTS = {
    "length alone, 6 characters": (6, NEVER, True),
    "length alone, 12 characters": (12, NEVER, True),
    "everyday words, frequency ≥ 1 (any dictionary word)": (6, 1, True),
    "everyday words, frequency ≥ 10": (6, 10, True),
    "everyday words, frequency ≥ 100 (chosen)": (6, 100, True),
    "everyday words, frequency ≥ 1000": (6, 1000, True),
    "frequency ≥ 100, names count as everyday": (6, 100, False),
    "frequency ≥ 100, no length rule": (0, 100, True),
}


@contextmanager
def variant(cap: int, freq: int, no_names: bool) -> Iterator[None]:
    saved = relevance.ASIDE_MAX_CHARS, text.EVERYDAY_FREQ, text._PROPER_TAGS
    relevance.ASIDE_MAX_CHARS, text.EVERYDAY_FREQ = cap, freq
    text._PROPER_TAGS = saved[2] if no_names else frozenset()
    text._dictionary_words.cache_clear()
    try:
        yield
    finally:
        relevance.ASIDE_MAX_CHARS, text.EVERYDAY_FREQ, text._PROPER_TAGS = saved
        text._dictionary_words.cache_clear()


def decline_arguments(description: str, families: str) -> argparse.ArgumentParser:
    """The arguments of a script that measures the decline goals on one corpus, its own questions and
    the other set's, bare and in chatty families."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("own", type=Path, help="the corpus and its own questions")
    parser.add_argument("other", type=Path, help="the set whose questions the corpus should decline")
    parser.add_argument("--own-chatty", default="bench/out/own_{family}.json", help="own set's chatty files")
    parser.add_argument("--other-chatty", default="bench/out/other_{family}.json", help="other set's chatty files")
    parser.add_argument("--families", default=families)
    parser.add_argument("--sample", type=int, default=0, help="questions per set (0: all)")
    return parser


def asked_sets(args: argparse.Namespace) -> dict[str, tuple[list[str], list[str]]]:
    """Each family's questions (decline_arguments): the corpus's own and the other set's."""

    def asked_in(bare: Path, pattern: str, family: str) -> list[str]:
        questions = load_squad(bare if family == "bare" else Path(pattern.format(family=family))).questions
        if args.sample and args.sample < len(questions):
            questions = [questions[i] for i in sorted(random.Random(0).sample(range(len(questions)), args.sample))]
        return [q.text for q in questions]

    return {
        f: (asked_in(args.own, args.own_chatty, f), asked_in(args.other, args.other_chatty, f))
        for f in args.families.split(",")
    }


def main() -> None:
    args = decline_arguments(__doc__, "bare,dev,heldout,fresh").parse_args()
    searcher = Searcher.build(load_squad(args.own).passages)
    asked = asked_sets(args)
    families = list(asked)
    ranked: dict[str, tuple] = {}
    by_tokens: dict[tuple[str, ...], list] = {}
    for texts in asked.values():
        for question in (*texts[0], *texts[1]):
            if question not in ranked:
                query = searcher.query(question)
                if query.tokens not in by_tokens:
                    by_tokens[query.tokens] = searcher.top_k(query.tokens, 1)
                ranked[question] = (query, by_tokens[query.tokens])

    def declined(question: str) -> bool:
        query, top = ranked[question]
        return searcher.relevance_of(question, query, top) < relevance.MIN_RELEVANCE

    print("| variant | " + " | ".join(f"{f}: wrongly / rightly declined" for f in families) + " |")
    print("|---|" + "---|" * len(families))
    for name, knobs in VARIANTS.items():
        with variant(*knobs):
            cells = []
            for f in families:
                mine, theirs = asked[f]
                wrong = sum(map(declined, mine)) / len(mine)
                right = sum(map(declined, theirs)) / len(theirs)
                cells.append(f"{wrong:.2%} / {right:.2%}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
