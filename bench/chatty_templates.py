"""A chatty family read template by template: how often wenda wrongly declines each one.

    python bench/chatty_templates.py ../shared/eval/drcd_test.json --templates eve --examples 2

Takes the bare SQuAD-style file, wraps each question in the template chatty.py gives it (the same
template, picked by the question's id), asks it of the file's own paragraphs as `wenda eval` does,
and prints each template's questions and the share of them declined, worst first, with a few of the
declined questions and their relevance. docs/quality.md reads each family this way, and only after
the family has been measured once with `wenda eval`: a family read here is spent as a held-out check.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from chatty import TEMPLATES, _is_traditional, chatty, question_id, template_for

from wenda.bot.evaluate import CUTOFFS, load_squad
from wenda.retrieval.relevance import declined
from wenda.retrieval.search import Searcher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="the bare evaluation file")
    parser.add_argument("--templates", choices=sorted(TEMPLATES), default="dev")
    parser.add_argument("--examples", type=int, default=2, help="declined questions shown per template")
    args = parser.parse_args()
    data = json.loads(args.source.read_text(encoding="utf-8"))
    templates = TEMPLATES[args.templates]
    traditional = _is_traditional(data)
    searcher = Searcher.build(load_squad(args.source).passages)
    asked: dict[str, int] = defaultdict(int)
    refused: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            for n, qa in enumerate(paragraph["qas"]):
                if not qa["question"].strip():
                    continue
                qid = question_id(paragraph, n)
                template = template_for(qid, templates)
                question = chatty(qa["question"], qid, templates, traditional)
                query, ranked = searcher.ranked(question, max(CUTOFFS))
                relevance = searcher.relevance_of(question, query, ranked)
                asked[template] += 1
                if declined(relevance):
                    refused[template].append((question, relevance))
    print(f"{'declined':>8}  {'asked':>5}  template")
    for template in sorted(asked, key=lambda t: -len(refused[t]) / asked[t]):
        print(f"{len(refused[template]) / asked[template]:8.1%}  {asked[template]:5d}  {template}")
        for question, relevance in refused[template][: args.examples]:
            print(f"{'':17}{relevance:.3f}  {question}")


if __name__ == "__main__":
    main()
