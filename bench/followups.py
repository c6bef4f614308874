"""Build conversation evaluation sets (follow-ups and topic switches) from SQuAD-style files.

    python bench/followups.py ../shared/eval/cmrc2018_trial.json ../shared/eval/drcd_test.json

For each input file it writes two SQuAD-style files to bench/out/ (git-ignored), both with every
paragraph of the input as the corpus, so `wenda eval` reads them as it reads the original:

- NAME.followups.json: a paragraph's later question that begins with its article's title, the title
  replaced by a pronoun (它, 其 before 的, 该 + the title's last character, 他/她 for a person), asked
  after the paragraph's earlier questions (at most 2, at least one naming the title) as "context".
- NAME.switch.json: every question of the input, unchanged, asked after 2 questions of another
  article (the one half the file away) as "context": a conversation that changes subject.

Deterministic: the same input always gives the same files. docs/quality.md has the figures.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from wenda.retrieval.text import Analyzer, normalise

OUT = Path(__file__).resolve().parent / "out"
CONTEXT_QUESTIONS = 2


def _questions(paragraph: dict) -> list[dict]:
    return [qa for qa in paragraph.get("qas", []) if qa["question"].strip()]


def _pronoun(analyzer: Analyzer, title: str, question: str, person: bool, n: int) -> str | None:
    """question with its leading title replaced by a pronoun, or None where it does not begin with
    it as a word of its own (梵文佛经 is not 它佛经)."""
    if not question.startswith(title) or len(question) <= len(title) + 2:
        return None
    if any(t.start < len(title) < t.end for t in analyzer.terms(question)):
        return None
    rest = question[len(title) :]
    if person:
        return ("他" if n % 2 == 0 else "她") + rest
    if rest.startswith("的") and n % 2 == 1:
        return "其" + rest[1:]
    if n % 4 == 2 and len(title) >= 2:
        return "该" + title[-1] + rest
    return "它" + rest


def followups(data: list[dict], analyzer: Analyzer) -> list[dict]:
    out = []
    n = 0
    for article in data:
        title = article.get("title") or ""
        person = analyzer.proper_names(title) == [(normalise(title), "person")]
        paragraphs = []
        for paragraph in article.get("paragraphs", []):
            qas = _questions(paragraph)
            kept = []
            for j, qa in enumerate(qas[1:], start=1):
                earlier = [q["question"] for q in qas[max(0, j - CONTEXT_QUESTIONS) : j]]
                if not title or not any(normalise(title) in normalise(q) for q in earlier):
                    continue
                asked = _pronoun(analyzer, title, qa["question"], person, n)
                if asked is None:
                    continue
                n += 1
                kept.append({**qa, "question": asked, "original": qa["question"], "context": earlier})
            paragraphs.append({"context": paragraph["context"], "qas": kept})
        out.append({"title": title, "paragraphs": paragraphs})
    return out


def switches(data: list[dict]) -> list[dict]:
    """Every question, asked after two questions of the article half the file away."""
    out = []
    for number, article in enumerate(data):
        other = data[(number + len(data) // 2) % len(data)]
        pool = [qa["question"] for p in other.get("paragraphs", []) for qa in _questions(p)]
        paragraphs = []
        for paragraph in article.get("paragraphs", []):
            kept = []
            for i, qa in enumerate(_questions(paragraph)):
                start = (2 * i) % max(1, len(pool) - 1)
                kept.append({**qa, "context": pool[start : start + CONTEXT_QUESTIONS]})
            paragraphs.append({"context": paragraph["context"], "qas": kept})
        out.append({"title": article.get("title") or "", "paragraphs": paragraphs})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    analyzer = Analyzer()
    for path in args.files:
        data = json.loads(path.read_text(encoding="utf-8-sig"))["data"]
        stem = path.stem.split("_")[0]
        for kind, made in (("followups", followups(data, analyzer)), ("switch", switches(data))):
            target = OUT / f"{stem}.{kind}.json"
            target.write_text(json.dumps({"data": made}, ensure_ascii=False, indent=1), encoding="utf-8")
            count = sum(len(p["qas"]) for a in made for p in a["paragraphs"])
            print(f"{target}: {count} questions")


if __name__ == "__main__":
    main()
