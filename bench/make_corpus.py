"""Build synthetic benchmark corpora (10k / 100k / 1M paragraphs) and a question set from real text.

Source text is read by path from the shared evaluation sets and never copied into the repo:

* CMRC 2018 trial (Simplified) and DRCD test (Traditional, converted with OpenCC ``t2s``),
  SQuAD-style JSON: ``data[].paragraphs[].context`` and ``.qas[].question``.

Every context is split into sentences (after 。！？!?；; plus any closing quotes/brackets); each
synthetic paragraph is 3-8 sentences drawn uniformly with replacement from that pool with a fixed
seed, and every 10 paragraphs form one synthetic article with a title.  One random stream is used
for all sizes, so the 10k corpus is a prefix of the 100k one, which is a prefix of the 1M one.

Output (``bench/data/`` is git-ignored)::

    bench/data/<size>/articles-00000.jsonl   one article per line: {"title": ..., "paragraphs": [...]}
    ...                                      1000 articles (= 10,000 paragraphs) per file
    bench/data/questions.json                200 real questions (100 per set), fixed seed

Usage::

    python bench/make_corpus.py                 # all sizes: 10k 100k 1m
    python bench/make_corpus.py --sizes 10k 100k
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

EVAL_DIR = Path("/work/shared/eval")
CMRC = "cmrc2018_trial.json"
DRCD = "drcd_test.json"

SEED = 20240611
PARAS_PER_ARTICLE = 10
ARTICLES_PER_FILE = 1000
MIN_SENTS, MAX_SENTS = 3, 8
N_QUESTIONS = 200
SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}

# A sentence ends at a full stop / question / exclamation mark / semicolon, together with any
# closing quotes or brackets that follow it.
_SENT_SPLIT = re.compile(r"[^。！？!?；;]+(?:[。！？!?；;]+[”’」』）)\]】》]*|$)")


def split_sentences(text: str) -> list[str]:
    """Split a paragraph into sentences, keeping each sentence's closing punctuation."""
    out = []
    for m in _SENT_SPLIT.finditer(text):
        s = m.group(0).strip()
        if len(s) >= 4:  # drop stray fragments such as a lone closing quote
            out.append(s)
    return out


def load_source(eval_dir: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """Return (sentence pool, [(source, question)]) with DRCD converted to Simplified Chinese."""
    import opencc

    t2s = opencc.OpenCC("t2s")
    sentences: list[str] = []
    questions: list[tuple[str, str]] = []
    for name, tag, convert in ((CMRC, "cmrc", False), (DRCD, "drcd", True)):
        data = json.loads((eval_dir / name).read_text(encoding="utf-8"))
        for article in data["data"]:
            for para in article["paragraphs"]:
                ctx = para["context"]
                if convert:
                    ctx = t2s.convert(ctx)
                sentences.extend(split_sentences(ctx))
                for qa in para["qas"]:
                    q = qa["question"].strip()
                    if not q:  # the CMRC trial set has a few empty questions
                        continue
                    questions.append((tag, t2s.convert(q) if convert else q))
    # dedupe while keeping order, so the pool does not depend on how often a sentence recurs
    sentences = list(dict.fromkeys(sentences))
    return sentences, questions


def sample_questions(questions: list[tuple[str, str]], n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for tag in ("cmrc", "drcd"):
        pool = [q for t, q in questions if t == tag]
        for i, q in enumerate(rng.sample(pool, n // 2)):
            out.append({"id": f"{tag}-{i:03d}", "source": tag, "question": q})
    return out


def generate(sentences: list[str], n_paras: int, seed: int):
    """Yield (title, paragraphs) articles totalling n_paras paragraphs (prefix-stable in n_paras)."""
    rng = random.Random(seed)
    n_sent = len(sentences)
    article: list[str] = []
    art_no = 0
    for _ in range(n_paras):
        k = rng.randint(MIN_SENTS, MAX_SENTS)
        article.append("".join(sentences[rng.randrange(n_sent)] for _ in range(k)))
        if len(article) == PARAS_PER_ARTICLE:
            yield make_title(article, art_no), article
            article, art_no = [], art_no + 1
    if article:
        yield make_title(article, art_no), article


def make_title(paragraphs: list[str], art_no: int) -> str:
    # a short real-text title: the first clause of the first paragraph, plus a unique number
    head = re.split(r"[，。！？,!?；;：:、（(《「“]", paragraphs[0], maxsplit=1)[0][:16]
    return f"{head}（合成{art_no:07d}）"


def write_size(out_dir: Path, sentences: list[str], n_paras: int, seed: int) -> tuple[int, int]:
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("articles-*.jsonl"):
        old.unlink()
    articles = list(generate(sentences, n_paras, seed))
    for n_files, start in enumerate(range(0, len(articles), ARTICLES_PER_FILE)):
        with open(out_dir / f"articles-{n_files:05d}.jsonl", "w", encoding="utf-8") as fh:
            for title, paras in articles[start : start + ARTICLES_PER_FILE]:
                fh.write(json.dumps({"title": title, "paragraphs": paras}, ensure_ascii=False) + "\n")
    n_articles = len(articles)
    n_files = -(-n_articles // ARTICLES_PER_FILE)
    return n_articles, n_files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    ap.add_argument("--eval-dir", type=Path, default=EVAL_DIR)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "data")
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args(argv)

    sentences, questions = load_source(args.eval_dir)
    print(f"sentence pool: {len(sentences)} sentences; questions available: {len(questions)}")
    args.out.mkdir(parents=True, exist_ok=True)
    qs = sample_questions(questions, N_QUESTIONS, args.seed)
    (args.out / "questions.json").write_text(json.dumps(qs, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"wrote {len(qs)} questions to {args.out / 'questions.json'}")
    for size in args.sizes:
        n_articles, n_files = write_size(args.out / size, sentences, SIZES[size], args.seed)
        print(f"{size}: {SIZES[size]} paragraphs in {n_articles} articles, {n_files} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
