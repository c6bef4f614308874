"""Variants of relevance.about(), the test of whether the best passage is about a clause that may be an
aside, against the decline goals: wrongly and rightly declined on one corpus, for the bare questions
and each chatty family (files made by bench/chatty.py).

    python bench/aside_variants.py ../shared/eval/drcd_test.json ../shared/eval/cmrc2018_trial.json \
        --own-chatty bench/out/drcd_{family}.json --other-chatty bench/out/cmrc_{family}.json \
        --families bare,dev,final,check,owl

Each question is ranked once with the shipped rules. A variant replaces about() for clauses in the
third person (talk about the asker keeps its own, stricter rule), and every question whose asides may
leave the ranking (talk about the asker) is ranked again under it; the others keep their ranking, which
a variant of about() cannot change. The relevance is then read as `wenda eval` reads it, so the
"shipped" row equals `wenda eval`'s declined figures.
"""

from __future__ import annotations

from collections.abc import Callable

from aside_rule import asked_sets, decline_arguments

from wenda.bot.evaluate import load_squad
from wenda.retrieval import relevance, search
from wenda.retrieval.index import BM25Index
from wenda.retrieval.relevance import MIN_RELEVANCE, aside_candidates, max_score
from wenda.retrieval.search import Searcher
from wenda.retrieval.text import BIGRAM, UNIGRAM, Clause, everyday_words

About = Callable[[BM25Index, Clause, int], bool]


def _share(index: BM25Index, clause: Clause, slot: int) -> float:
    """The clause's relevance, asked alone of the passage in slot."""
    terms = sorted(clause.tokens)
    return relevance.relevance(float(index.scores_at(terms, [slot])[0]), max_score(index, terms))


def _longer(clause: Clause) -> list[str]:
    return [t for t in clause.tokens if len(t.removeprefix(UNIGRAM)) > 1]


def variants(index: BM25Index) -> dict[str, About | None]:
    shipped = relevance.about
    everyday = everyday_words()
    rare_in_corpus = 0.02 * index.n_docs
    return {
        "shipped (a word or bigram in common)": None,
        "a word or bigram in common that is not everyday": lambda ix, c, slot: any(
            ix.contains(t, slot) and t.removeprefix(BIGRAM) not in everyday for t in _longer(c)
        ),
        "a word or bigram in common held by under 2 % of passages": lambda ix, c, slot: any(
            ix.contains(t, slot) and ix.doc_freq(t) < rare_in_corpus for t in _longer(c)
        ),
        "the clause alone would be answered (as talk about the asker)": lambda ix, c, slot: (
            not relevance.declined(_share(ix, c, slot))
        ),
        "that, for clauses standing apart only": lambda ix, c, slot: (
            not relevance.declined(_share(ix, c, slot)) if c.apart else shipped(ix, c, slot)
        ),
    }


def main() -> None:
    args = decline_arguments(__doc__, "bare,dev,final,check,owl").parse_args()
    searcher = Searcher.build(load_squad(args.own).passages)
    asked = asked_sets(args)
    families = list(asked)
    questions = list(dict.fromkeys(q for mine, theirs in asked.values() for q in (*mine, *theirs)))
    first = {q: searcher.ranked(q, 1) for q in questions}
    shipped = relevance.about

    print("| variant | " + " | ".join(f"{f}: wrongly / rightly declined" for f in families) + " |")
    print("|---|" + "---|" * len(families))
    for name, rule in variants(searcher.index).items():

        def about(index: BM25Index, clause: Clause, slot: int, rule: About | None = rule) -> bool:
            return shipped(index, clause, slot) if clause.personal or rule is None else rule(index, clause, slot)

        relevance.about = search.about = about
        try:
            top = {}
            for q in questions:
                talk = any(c.personal for c in aside_candidates(searcher.analyzer.query_clauses(q)))
                top[q] = searcher.relevance_of(q, *(searcher.ranked(q, 1) if talk else first[q]))
        finally:
            relevance.about = search.about = shipped
        cells = []
        for f in families:
            mine, theirs = asked[f]
            wrong = sum(top[q] < MIN_RELEVANCE for q in mine) / len(mine)
            right = sum(top[q] < MIN_RELEVANCE for q in theirs) / len(theirs)
            cells.append(f"{wrong:.2%} / {right:.2%}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
