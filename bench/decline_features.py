"""Could another statistic of the best passage decline better than relevance? Measured on both sets.

    python bench/decline_features.py                 # every feature alone and the simple mixes
    python bench/decline_features.py --learned       # also logistic regression and boosted trees
                                                     # (needs scikit-learn, not a wenda dependency)

Each evaluation set is its own corpus: its questions should be answered (a decline is wrong), the
other set's should be declined (a decline is right). For each question the best passage of the
shipped ranking gives the features below; for each feature (or mix), the threshold that declines a
given share of the set's own questions (0.4 %, 1.6 %, 2 %: today's figures and the goal) is found,
and the share of the other set's questions it declines is printed. A learned mix is trained on one
set and tested on the other, and, to show what fitting a set's own quirks is worth, on itself.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from wenda.bot.evaluate import EvalSet, Question, load_squad
from wenda.retrieval.relevance import coverage, unseen_idf
from wenda.retrieval.rerank import best_sentence_score
from wenda.retrieval.search import Searcher
from wenda.retrieval.text import BIGRAM, UNIGRAM

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
SETS = {"CMRC": EVAL / "cmrc2018_trial.json", "DRCD": EVAL / "drcd_test.json"}
WRONGLY = (0.004, 0.016, 0.02)
FEATURES = ("relevance", "sentence", "coverage", "words", "unigrams", "bigrams", "missing", "second", "terms")
# Features that grow as a passage answers less: a question is declined when they are high, so the
# tables negate them.
AGAINST = frozenset({"missing", "terms"})


def features(searcher: Searcher, question: Question) -> list[float] | None:
    """The best passage's statistics for question, in FEATURES' order (None if nothing ranks):
    relevance (what wenda declines on); sentence: its best sentence's BM25 over the same maximum;
    coverage: relevance.coverage; words / unigrams / bigrams: the idf share of the question's terms of
    that kind it holds; missing: the highest idf among the terms it lacks, over an unseen term's;
    second: the runner-up's relevance; terms: how many distinct terms the question has."""
    index = searcher.index
    query, ranked = searcher.ranked(question.text, 2, question.context)
    if not ranked:
        return None
    best, left_out = searcher._most(question.text, query, ranked)
    terms = [t for t in query.tokens if t not in left_out]
    slot, score = ranked[0]
    weights = Counter(terms)
    idf = {t: index.idf(t) for t in weights}
    sentence = best_sentence_score(
        searcher._sentences(slot), searcher._title_tokens(slot, False), weights, idf, index.params
    )
    unseen = unseen_idf(index)
    held = {"w": 0.0, "u": 0.0, "b": 0.0}
    total = {"w": 0.0, "u": 0.0, "b": 0.0}
    missing = 0.0
    for term in weights:
        kind = "u" if term.startswith(UNIGRAM) else "b" if term.startswith(BIGRAM) else "w"
        seen = index.doc_freq(term) > 0
        value = idf[term] if seen else unseen
        total[kind] += value
        if seen and index.contains(term, slot):
            held[kind] += value
        else:
            missing = max(missing, value)
    share = {kind: held[kind] / total[kind] if total[kind] else 1.0 for kind in held}
    most = best if best > 0 else 1.0
    return [
        score / most,
        sentence / most,
        coverage(index, terms, slot),
        share["w"],
        share["u"],
        share["b"],
        missing / unseen if unseen else 0.0,
        ranked[1][1] / most if len(ranked) > 1 else 0.0,
        float(len(weights)),
    ]


def table(own: EvalSet, other: EvalSet) -> tuple[np.ndarray, np.ndarray]:
    """(features, label) rows: label 1 for own's questions (to answer), 0 for other's (to decline)."""
    searcher = Searcher.build(own.passages)
    rows, labels = [], []
    for label, questions in ((1, own.questions), (0, other.questions)):
        for question in questions:
            row = features(searcher, question)
            if row is not None:
                rows.append(row)
                labels.append(label)
    return np.array(rows), np.array(labels)


def rightly_at(score: np.ndarray, labels: np.ndarray, wrongly: float) -> float:
    """The share of labels-0 rows declined by the threshold that declines `wrongly` of the labels-1 rows."""
    threshold = np.quantile(score[labels == 1], wrongly)
    return float(np.mean(score[labels == 0] < threshold))


MIXES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relevance + sentence": lambda x: x[:, 0] + x[:, 1],
    "relevance + sentence / 2": lambda x: x[:, 0] + 0.5 * x[:, 1],
    "√(relevance × sentence)": lambda x: np.sqrt(x[:, 0] * x[:, 1]),
    "max(relevance, sentence)": lambda x: np.maximum(x[:, 0], x[:, 1]),
    "relevance + words / 5": lambda x: x[:, 0] + 0.2 * x[:, 3],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learned", action="store_true", help="also learned mixes (needs scikit-learn)")
    args = parser.parse_args()
    sets = {name: load_squad(path) for name, path in SETS.items()}
    names = list(sets)
    data = {name: table(sets[name], sets[other]) for name, other in zip(names, names[::-1], strict=True)}
    header = " | ".join(f"{name} at {w:.1%} wrongly" for name in names for w in WRONGLY)
    print(f"| rightly declined, by (negated: {', '.join(sorted(AGAINST))}) | {header} |")
    print("|---" * (1 + len(names) * len(WRONGLY)) + "|")
    scores = {
        name: {f: -data[name][0][:, i] if f in AGAINST else data[name][0][:, i] for i, f in enumerate(FEATURES)}
        for name in names
    }
    for name in names:
        scores[name].update({mix: fn(data[name][0]) for mix, fn in MIXES.items()})
    for statistic in scores[names[0]]:
        cells = [f"{rightly_at(scores[n][statistic], data[n][1], w):.1%}" for n in names for w in WRONGLY]
        print(f"| {statistic} | " + " | ".join(cells) + " |")
    if args.learned:
        from sklearn.ensemble import GradientBoostingClassifier
        from sklearn.linear_model import LogisticRegression

        for model in (LogisticRegression(max_iter=2000, class_weight="balanced"), GradientBoostingClassifier()):
            for train in names:
                for test in names:
                    fitted = model.fit(*data[train])
                    p = fitted.predict_proba(data[test][0])[:, 1]
                    cells = [f"{rightly_at(p, data[test][1], w):.1%}" for w in WRONGLY]
                    print(f"{type(model).__name__}, trained on {train}, tested on {test}: " + " / ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
