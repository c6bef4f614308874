"""Time from saving userdict.txt to a new word being searchable, on a make_corpus.py corpus.

The corpus of ``bench/data/<size>/`` is rewritten as one .jsonl file per ``--articles-per-file``
articles (a folder of articles, as wenda is used, not ten 10k-passage files), indexed once with the
cache, then for each chosen word: userdict.txt is saved with it while a CorpusWatcher runs, and the
clock stops when the watcher's refresh has published an index where a search for the word matches
it whole. The refresh alone (Library.refresh, no debounce) is timed too, with the word removed
again in between. Words are 4-character CJK strings of the corpus that jieba cuts into pieces,
chosen by how many passages hold them.

Usage::

    python bench/make_corpus.py --sizes 100k
    python bench/userdict_update.py --size 100k          # the first build takes ≈ 2-4 min on 2 cores

To time several versions on the same first index without building it each time, build it once,
then give each run a hard-linked copy (the cache only ever adds files and renames them into place,
so a copy's writes never reach the original) and --reuse it::

    cp -al /tmp/wenda-userdict-bench/100k /tmp/run1/100k
    python bench/userdict_update.py --size 100k --workdir /tmp/run1 --reuse
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import threading
import time
from pathlib import Path

from wenda.retrieval.store import USERDICT_NAME, Library, Refresh, StoreSettings
from wenda.retrieval.text import normalise
from wenda.retrieval.watch import CorpusWatcher

DATA = Path(__file__).parent / "data"
_CJK4 = re.compile(r"[\u4e00-\u9fff]{4}")


def write_corpus(size: str, folder: Path, per_file: int) -> list[str]:
    """The size's articles as files of per_file articles each; returns every passage's text."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    articles = [json.loads(line) for f in sorted((DATA / size).glob("*.jsonl")) for line in f.open(encoding="utf-8")]
    for start in range(0, len(articles), per_file):
        chunk = articles[start : start + per_file]
        with open(folder / f"articles-{start // per_file:05d}.jsonl", "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(a, ensure_ascii=False) + "\n" for a in chunk)
    return [p for a in articles for p in a["paragraphs"]]


def choose_words(library: Library, texts: list[str], targets: list[int]) -> list[tuple[str, int]]:
    """For each target, a word jieba splits whose passage count is nearest it (word, passages)."""
    joined = "\n".join(normalise(t) for t in texts[:300])
    candidates = list(dict.fromkeys(_CJK4.findall(joined)))[:3000]
    candidates = [w for w in candidates if len(library.analyzer.words(w)) > 1]
    normalised = [normalise(t) for t in texts]
    counts = {w: sum(1 for t in normalised if w in t) for w in candidates[:150]}
    chosen = []
    for target in targets:
        word = min(counts, key=lambda w: (abs(counts[w] - target), w))
        chosen.append((word, counts.pop(word)))
    return chosen


def searchable(library: Library, word: str) -> bool:
    """Whether the index holds word as a term (a search for it then matches it whole)."""
    return library.searcher.index.doc_freq(word) > 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="100k", help="bench/data/<size> from make_corpus.py")
    ap.add_argument("--articles-per-file", type=int, default=10)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/wenda-userdict-bench"))
    ap.add_argument("--targets", type=int, nargs="+", default=[1, 50, 500], help="passages holding each word")
    ap.add_argument("--reuse", action="store_true", help="index <workdir>/<size> as it is if it exists")
    args = ap.parse_args()

    corpus = args.workdir / args.size
    if args.reuse and corpus.is_dir():
        texts = [
            p
            for f in sorted((DATA / args.size).glob("*.jsonl"))
            for line in f.open(encoding="utf-8")
            for p in json.loads(line)["paragraphs"]
        ]
    else:
        texts = write_corpus(args.size, corpus, args.articles_per_file)
    started = time.perf_counter()
    library = Library.open(corpus, StoreSettings())
    print(
        f"{args.size}: {library.passage_count} passages in {library.file_count} files, built in "
        f"{time.perf_counter() - started:.1f} s"
    )
    userdict = corpus / USERDICT_NAME
    for word, passages in choose_words(library, texts, args.targets):
        assert not searchable(library, word)
        # Through the watcher: save, debounce, settle, refresh, publish.
        done = threading.Event()

        def on_refresh(result: Refresh, word: str = word, done: threading.Event = done) -> None:
            if word in result.user_words:
                done.set()

        with CorpusWatcher(library, on_refresh=on_refresh) as watcher:
            watcher.ready.wait(30)
            saved = time.perf_counter()
            userdict.write_text(f"{word} 1000 n\n", encoding="utf-8")
            done.wait(600)
            watched = time.perf_counter() - saved
        result = library.last_refresh
        if not searchable(library, word):
            # A longer dictionary word holds it wherever it occurs (人民共和 in 中华人民共和国).
            print(f"{word}: {passages} passages, {len(result.changed)} files holding it, never cut whole; skipped")
            userdict.unlink()
            library.refresh()
            continue
        # The refresh alone, both ways: remove the word, then add it back.
        userdict.unlink()
        removed = library.refresh()
        userdict.write_text(f"{word} 1000 n\n", encoding="utf-8")
        added = library.refresh()
        assert searchable(library, word)
        userdict.unlink()
        library.refresh()
        print(
            f"{word}: {passages} passages, {len(result.changed)} files holding it, {result.segmented} passages "
            f"cut again; saved → searchable "
            f"{watched:.2f} s (watcher); refresh alone: add {added.seconds:.2f} s, remove {removed.seconds:.2f} s"
        )


if __name__ == "__main__":
    main()
