"""Speed benchmark: wenda's shipped engine beside rank-bm25, bm25s and tantivy, on the same tokens.

Every measurement runs in its own subprocess, so its peak RSS is its own:

* ``build``   first start: wenda's `Library.open` on a folder without a cache (reading, segmenting
  with the product analyzer on the product's pool, building and saving the segments). The other
  engines are built from wenda's own bags of words (read back from the cache it just saved), so they
  index exactly wenda's tokens; their build time excludes segmentation (the same cost as wenda's).
* ``serve``   second start (a new process, cache present → first question answered), then query
  latency: one server process per engine, and the parent sends each question to every engine in
  turn (interleaved, so machine load hits all engines alike). A warm-up pass, then a timed pass;
  segmentation of the question is inside every timing; top-10. rank-bm25 answers only every n-th
  question (it is slow). Then add one article (wenda: a new .jsonl file + `refresh()`; rank-bm25 and
  bm25s have no incremental add, so theirs is a full re-index; tantivy: add + commit + reload) and
  check that the article is found.
* ``seg``     segmentation rate: `wenda.retrieval.parallel.build_segment` with workers=1 against workers=2
  with the pool forced (POOL_MIN_CHARS = 0), chars/s and CPU-seconds per process.

Usage (corpora from bench/make_corpus.py; results as JSON lines plus Markdown tables on stdout)::

    python bench/run_bench.py --sizes 10k 100k
    python bench/run_bench.py --sizes 1m --engines wenda tantivy --seg-passages 0 --reuse-indexes   # queries again
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
ENGINES = ("wenda", "bm25s", "tantivy", "rank-bm25")
# rank-bm25 scores every document in Python for every question term: time it on every n-th question.
RANK_BM25_EVERY = {"10k": 4, "100k": 20, "1m": 100}
ADDED_FILE = "zz-bench-added.jsonl"
ADDED_TITLE = "锑钨矿脉勘探纪要（基准新增文章）"
ADDED_QUESTION = "锑钨矿脉勘探纪要里写了什么？"
K = 10


# -- helpers shared by the workers ---------------------------------------------------------------


def _peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)  # Linux: KiB


def _rss_parts() -> dict:
    """Resident memory now, split: anonymous (the process's own) and file-backed (memory-mapped
    index pages, which the kernel may drop and re-read at will)."""
    fields = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            name, _, value = line.partition(":")
            if name in ("RssAnon", "RssFile", "VmRSS"):
                fields[name] = round(int(value.split()[0]) / 1024, 1)
    return {
        "rss_now_mb": fields.get("VmRSS"),
        "rss_anon_mb": fields.get("RssAnon"),
        "rss_file_mb": fields.get("RssFile"),
    }


def _cpu_children() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _du_mb(path: Path) -> float:
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            total += os.path.getsize(os.path.join(dirpath, name))
    return round(total / 2**20, 1)


def _questions() -> list[str]:
    return [q["question"] for q in json.loads((DATA / "questions.json").read_text(encoding="utf-8"))]


def _added_article() -> dict:
    body = [
        "锑钨矿脉勘探纪要记载，勘探队在山谷北坡找到一条锑钨矿脉，矿脉走向东北，长约三公里。",
        "勘探队用钻探和槽探查明矿脉的厚度，平均厚度一点二米，锑钨品位较高。",
    ]
    return {"title": ADDED_TITLE, "paragraphs": body * 5}


def _corpus(workdir: Path, size: str) -> Path:
    return workdir / size / "corpus"


def _analyzer():
    from wenda.retrieval.text import Analyzer, TextSettings

    return Analyzer(TextSettings())  # what Library.open uses for a folder without userdict.txt


def _bags(corpus: Path) -> tuple[list[str], list[np.ndarray]]:
    """wenda's vocabulary and, per live passage (slot order), its term ids repeated tf times."""
    from wenda.retrieval.segment import Segment

    cache = corpus / ".wenda" / "index"
    manifest = json.loads((cache / "manifest.json").read_text(encoding="utf-8"))
    vocabulary: dict[str, int] = {}
    docs: list[np.ndarray] = []
    for entry in manifest["segments"]:
        seg = Segment.load(cache / entry["name"], mmap=False)
        dead = np.load(cache / entry["deleted"]) if entry.get("deleted") else None
        remap = np.asarray([vocabulary.setdefault(t, len(vocabulary)) for t in seg.terms], dtype=np.int64)
        bag = np.repeat(remap[seg.fwd_terms], seg.fwd_tfs)
        ends = np.cumsum(seg.doc_len.astype(np.int64))
        parts = np.split(bag, ends[:-1]) if len(ends) else []
        docs.extend(p for i, p in enumerate(parts) if dead is None or not dead[i])
    return list(vocabulary), docs


def _added_docs(analyzer) -> list[list[str]]:
    """The added article's passages as wenda indexes them (title twice, then the paragraph)."""
    from wenda.retrieval.corpus import read_file
    from wenda.retrieval.search import indexed_text

    tmp = Path(f"/tmp/.wenda-bench-{os.getpid()}") / ADDED_FILE
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(json.dumps(_added_article(), ensure_ascii=False) + "\n", encoding="utf-8")
    passages = read_file(tmp, tmp.parent).passages
    shutil.rmtree(tmp.parent)
    return [analyzer.tokens(indexed_text(p)) for p in passages]


class _Proto:
    """The worker's reply channel: the real stdout; anything else printed goes to stderr."""

    def __init__(self) -> None:
        self.out = os.fdopen(os.dup(1), "w", encoding="utf-8")
        os.dup2(2, 1)

    def send(self, msg: dict) -> None:
        self.out.write(json.dumps(msg, ensure_ascii=False) + "\n")
        self.out.flush()


# -- builds --------------------------------------------------------------------------------------


def build(engine: str, size: str, workdir: Path) -> dict:
    corpus = _corpus(workdir, size)
    out: dict = {"phase": "build", "engine": engine, "size": size}
    if engine == "wenda":
        from wenda.retrieval.store import Library, StoreSettings

        shutil.rmtree(corpus / ".wenda", ignore_errors=True)
        cpu0 = time.process_time()
        t = time.perf_counter()
        library = Library.open(corpus, StoreSettings(cache=True))
        out["build_s"] = round(time.perf_counter() - t, 2)
        out["cpu_parent_s"] = round(time.process_time() - cpu0, 1)
        out["cpu_workers_s"] = round(_cpu_children(), 1)
        out["passages"] = library.passage_count
        out["disk_mb"] = _du_mb(corpus / ".wenda")
        out["peak_rss_mb"] = _peak_rss_mb()
        out["peak_rss_worker_mb"] = _peak_rss_mb(resource.RUSAGE_CHILDREN)
        return out
    terms, docs = _bags(corpus)
    out["tokens"] = int(sum(len(d) for d in docs))
    out["vocabulary"] = len(terms)
    target = workdir / size / engine
    shutil.rmtree(target, ignore_errors=True)
    if engine == "bm25s":
        import bm25s
        from bm25s.tokenization import Tokenized

        from wenda.retrieval.index import TUNED_PARAMS

        ids = [d.tolist() for d in docs]
        del docs
        gc.collect()
        t = time.perf_counter()
        model = bm25s.BM25(k1=TUNED_PARAMS.k1, b=TUNED_PARAMS.b)
        model.index(Tokenized(ids=ids, vocab={term: i for i, term in enumerate(terms)}), show_progress=False)
        model.save(str(target))
    elif engine == "tantivy":
        import tantivy

        t = time.perf_counter()
        schema = tantivy.SchemaBuilder().add_text_field("body", stored=False, tokenizer_name="whitespace").build()
        target.mkdir(parents=True)
        index = tantivy.Index(schema, path=str(target))
        writer = index.writer(heap_size=500_000_000, num_threads=2)
        # Texts made one at a time (all at once they would take ~10 GB at 1M); making them is not
        # tantivy's work, so its time is left out of build_s.
        joining = 0.0
        for i in range(len(docs)):
            j = time.perf_counter()
            text = " ".join([terms[t_id] for t_id in docs[i].tolist()])
            docs[i] = None
            joining += time.perf_counter() - j
            writer.add_document(tantivy.Document(body=text))
        writer.commit()
        writer.wait_merging_threads()
        t += joining
    else:
        raise SystemExit(f"no build step for {engine}")
    out["build_s"] = round(time.perf_counter() - t, 2)
    out["disk_mb"] = _du_mb(target)
    out["peak_rss_mb"] = _peak_rss_mb()
    return out


# -- servers -------------------------------------------------------------------------------------


class WendaServer:
    def __init__(self, corpus: Path) -> None:
        from wenda.retrieval.store import Library, StoreSettings

        self.corpus = corpus
        t = time.perf_counter()
        self.library = Library.open(corpus, StoreSettings(cache=True))
        self.open_s = time.perf_counter() - t
        self.info = {"reread_files": len(self.library.last_refresh.added) + len(self.library.last_refresh.changed)}

    def search(self, question: str) -> list[int]:
        """The ranking served by default: the first stage and the sentence stage (rerank.py)."""
        return [slot for slot, _ in self.library.searcher.rank(question, K)]

    def search_first_stage(self, question: str) -> list[int]:
        """The first stage alone (rank-bm25's order), for what the sentence stage costs."""
        searcher = self.library.searcher
        return [slot for slot, _ in searcher.index.top_k(searcher.query(question).tokens, K)]

    def add(self) -> dict:
        path = self.corpus / ADDED_FILE
        t = time.perf_counter()
        path.write_text(json.dumps(_added_article(), ensure_ascii=False) + "\n", encoding="utf-8")
        result = self.library.refresh()
        add_s = time.perf_counter() - t
        t = time.perf_counter()
        hits = self.library.searcher.rank(ADDED_QUESTION, K)
        first_ms = (time.perf_counter() - t) * 1e3
        files = [self.library.searcher.passages[slot].file for slot, _ in hits]
        found = ADDED_FILE in files
        path.unlink()  # leave the folder as it was (the emptied segment is dropped by this refresh)
        self.library.refresh()
        return {
            "add_s": add_s,
            "add_refresh_s": result.seconds,
            "added_files": list(result.added),
            "first_query_after_add_ms": first_ms,
            "found": found,
            "found_rank": files.index(ADDED_FILE) + 1 if found else None,
            "how": "new .jsonl file + refresh()",
        }


class Bm25sServer:
    def __init__(self, workdir: Path, size: str) -> None:
        import bm25s
        import bm25s.selection

        self.bm25s = bm25s
        self.selection = bm25s.selection
        self.stock_topk = bm25s.selection._topk_numpy
        self.analyzer = _analyzer()
        self.workdir, self.size = workdir, size
        t = time.perf_counter()
        self.model = bm25s.BM25.load(str(workdir / size / "bm25s"), mmap=True)
        self.open_s = time.perf_counter() - t
        self.info = {}

    def _retrieve(self, question: str) -> list[int]:
        ids = self.model.get_tokens_ids(self.analyzer.query_tokens(question))
        if not ids:
            return []
        docs, _ = self.model.retrieve([ids], k=K, show_progress=False, n_threads=1)
        return [int(d) for d in docs[0]]

    def search(self, question: str) -> list[int]:
        return self._retrieve(question)

    def search_patched(self, question: str) -> list[int]:
        """Stock bm25s but its top-k selects at the front of -scores (numpy 2.4's partition is slow
        with kth near the end of an array full of ties)."""

        def front(query_scores, k, sorted):
            ind = np.argpartition(-query_scores, k - 1)[:k]
            scores = query_scores[ind]
            order = np.argsort(-scores, kind="stable")
            return scores[order], ind[order]

        self.selection._topk_numpy = front
        try:
            return self._retrieve(question)
        finally:
            self.selection._topk_numpy = self.stock_topk

    def add(self) -> dict:
        from bm25s.tokenization import Tokenized

        from wenda.retrieval.index import TUNED_PARAMS

        terms, docs = _bags(_corpus(self.workdir, self.size))
        ids = [d.tolist() for d in docs]
        n = len(ids)
        del docs, self.model
        gc.collect()
        t = time.perf_counter()
        vocab = {term: i for i, term in enumerate(terms)}
        ids.extend([vocab.setdefault(tok, len(vocab)) for tok in doc] for doc in _added_docs(self.analyzer))
        model = self.bm25s.BM25(k1=TUNED_PARAMS.k1, b=TUNED_PARAMS.b)
        model.index(Tokenized(ids=ids, vocab=vocab), show_progress=False)
        add_s = time.perf_counter() - t
        self.model = model
        found = [d for d in self.search_patched(ADDED_QUESTION) if d >= n]
        return {"add_s": add_s, "found": bool(found), "how": "full re-index in memory (no incremental add)"}


class TantivyServer:
    def __init__(self, workdir: Path, size: str) -> None:
        import tantivy

        self.tantivy = tantivy
        self.analyzer = _analyzer()
        t = time.perf_counter()
        self.index = tantivy.Index.open(str(workdir / size / "tantivy"))
        self.index.reload()
        self.searcher = self.index.searcher()
        self.schema = self.index.schema
        self.open_s = time.perf_counter() - t
        self.info = {}

    def search(self, question: str) -> list:
        tv = self.tantivy
        terms = self.analyzer.query_tokens(question)
        query = tv.Query.boolean_query(
            [(tv.Occur.Should, tv.Query.term_query(self.schema, "body", term)) for term in terms]
        )
        return [addr for _, addr in self.searcher.search(query, K).hits]

    def add(self) -> dict:
        t = time.perf_counter()
        writer = self.index.writer(heap_size=50_000_000, num_threads=1)
        for doc in _added_docs(self.analyzer):
            writer.add_document(self.tantivy.Document(body=" ".join(doc)))
        writer.commit()
        writer.wait_merging_threads()
        self.index.reload()
        self.searcher = self.index.searcher()
        add_s = time.perf_counter() - t
        found = bool(self.search(ADDED_QUESTION))  # a term only the added article has
        return {"add_s": add_s, "found": found, "how": "add_document + commit + reload (incremental)"}


class RankBm25Server:
    def __init__(self, workdir: Path, size: str) -> None:
        from rank_bm25 import BM25Okapi

        from wenda.retrieval.index import TUNED_PARAMS

        self.BM25Okapi, self.params = BM25Okapi, TUNED_PARAMS
        self.analyzer = _analyzer()
        self.workdir, self.size = workdir, size
        terms, docs = _bags(_corpus(workdir, size))
        corpus = [[terms[i] for i in d.tolist()] for d in docs]
        del docs
        gc.collect()
        t = time.perf_counter()
        p = TUNED_PARAMS
        self.model = BM25Okapi(corpus, k1=p.k1, b=p.b, epsilon=p.epsilon)
        self.open_s = time.perf_counter() - t
        self.info = {"note": "no on-disk format: a start is a build from tokens"}

    def search(self, question: str) -> list[int]:
        scores = self.model.get_scores(self.analyzer.query_tokens(question))
        top = np.argpartition(-scores, K - 1)[:K]
        return top[np.lexsort((top, -scores[top]))].tolist()

    def add(self) -> dict:
        terms, docs = _bags(_corpus(self.workdir, self.size))
        corpus = [[terms[i] for i in d.tolist()] for d in docs]
        n = len(corpus)
        del docs, self.model
        gc.collect()
        t = time.perf_counter()
        corpus.extend(_added_docs(self.analyzer))
        p = self.params
        self.model = self.BM25Okapi(corpus, k1=p.k1, b=p.b, epsilon=p.epsilon)
        add_s = time.perf_counter() - t
        found = [d for d in self.search(ADDED_QUESTION) if d >= n]
        return {"add_s": add_s, "found": bool(found), "how": "full rebuild (no incremental add)"}


def serve(engine: str, size: str, workdir: Path) -> None:
    proto = _Proto()
    t0 = time.perf_counter()
    if engine == "wenda":
        server = WendaServer(_corpus(workdir, size))
        labels = {"wenda": server.search, "wenda (stage off)": server.search_first_stage}
    elif engine == "bm25s":
        server = Bm25sServer(workdir, size)
        labels = {"bm25s": server.search, "bm25s (top-k patched)": server.search_patched}
    elif engine == "tantivy":
        server = TantivyServer(workdir, size)
        labels = {"tantivy": server.search}
    else:
        server = RankBm25Server(workdir, size)
        labels = {"rank-bm25": server.search}
    open_s = server.open_s
    t = time.perf_counter()
    first = next(iter(labels.values()))("预热问题是什么？")
    first_ms = (time.perf_counter() - t) * 1e3
    del first
    proto.send(
        {
            "ready": True,
            "open_s": open_s,
            "first_query_ms": first_ms,
            "in_process_ready_s": time.perf_counter() - t0,
            **server.info,
        }
    )
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["cmd"] == "query":
            reply = {}
            for label, fn in labels.items():
                t = time.perf_counter()
                top = fn(cmd["q"])
                reply[label] = {
                    "ms": (time.perf_counter() - t) * 1e3,
                    "top": [int(x) if engine != "tantivy" else 0 for x in top],
                }
            proto.send(reply)
        elif cmd["cmd"] == "rss":
            proto.send({"peak_rss_mb": _peak_rss_mb(), **_rss_parts()})
        elif cmd["cmd"] == "add":
            proto.send(server.add())
        elif cmd["cmd"] == "quit":
            break


# -- segmentation rate ---------------------------------------------------------------------------


def seg_rate(size: str, passages: int) -> dict:
    from wenda.retrieval import parallel
    from wenda.retrieval.corpus import read_file
    from wenda.retrieval.search import INDEXED_TITLE_CHARS

    texts: list[tuple[str, str]] = []
    for path in sorted((DATA / size).glob("articles-*.jsonl")):
        texts.extend((p.title[:INDEXED_TITLE_CHARS], p.text) for p in read_file(path, path.parent).passages)
        if len(texts) >= passages:
            break
    texts = texts[:passages]
    chars = sum(2 * len(title) + len(text) for title, text in texts)  # the title is indexed twice
    analyzer = _analyzer()
    analyzer.tokens("预热")  # jieba's dictionary load is not segmentation
    out: dict = {"phase": "seg", "size": size, "passages": len(texts), "chars": chars}
    cpu0, load0 = time.process_time(), os.getloadavg()[0]
    t = time.perf_counter()
    one, one_cuts = parallel.build_segment(texts, analyzer, workers=1)
    wall1 = time.perf_counter() - t
    cpu1 = time.process_time() - cpu0
    parallel.POOL_MIN_CHARS = 0  # force the pool whatever the sample size
    cpu0, ch0 = time.process_time(), _cpu_children()
    t = time.perf_counter()
    two, two_cuts = parallel.build_segment(texts, analyzer, workers=2)
    wall2 = time.perf_counter() - t
    out.update(
        one_wall_s=round(wall1, 2),
        one_cpu_s=round(cpu1, 2),
        one_chars_per_s=round(chars / wall1),
        pool_wall_s=round(wall2, 2),
        pool_parent_cpu_s=round(time.process_time() - cpu0, 2),
        pool_workers_cpu_s=round(_cpu_children() - ch0, 2),
        pool_chars_per_s=round(chars / wall2),
        speedup=round(wall1 / wall2, 2),
        identical=one.terms == two.terms
        and one_cuts == two_cuts
        and all(np.array_equal(getattr(one, a), getattr(two, a)) for a in ("doc_ids", "tfs", "doc_len")),
        load1_before=load0,
        load1_after=os.getloadavg()[0],
    )
    out["cpu_bound_speedup"] = round(out["one_cpu_s"] / max(out["pool_workers_cpu_s"] / 2, out["pool_parent_cpu_s"]), 2)
    return out


# -- the parent ----------------------------------------------------------------------------------


class LoadSampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(5):
            self.samples.append(os.getloadavg()[0])


def _run_json(args: list[str], log) -> dict:
    proc = subprocess.run([sys.executable, __file__, *args], stdout=subprocess.PIPE, stderr=log, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


class Client:
    def __init__(self, engine: str, size: str, workdir: Path, log) -> None:
        self.engine = engine
        t = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "_serve", engine, size, str(workdir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            encoding="utf-8",
        )
        self.ready = self.recv()
        self.ready["process_ready_s"] = time.perf_counter() - t  # interpreter + imports + open + 1st answer

    def ask(self, cmd: dict) -> dict:
        self.proc.stdin.write(json.dumps(cmd, ensure_ascii=False) + "\n")
        self.proc.stdin.flush()
        return self.recv()

    def recv(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.engine} server died (see the log)")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.write('{"cmd": "quit"}\n')
        self.proc.stdin.flush()
        self.proc.wait()


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def bench_size(size: str, engines: list[str], workdir: Path, log, emit, reuse: bool = False) -> None:
    src = DATA / size
    corpus = _corpus(workdir, size)
    if reuse:
        # Serve what an earlier run built (its corpus may hold the article its add phase added).
        missing = [e for e in ["wenda", *engines] if e in ("bm25s", "tantivy") and not (workdir / size / e).exists()]
        if not (corpus / ".wenda").is_dir() or missing:
            sys.exit(f"--reuse-indexes: no earlier run's indexes in {workdir / size} ({', '.join(missing) or 'wenda'})")
    else:
        shutil.rmtree(workdir / size, ignore_errors=True)
        corpus.mkdir(parents=True)
        for path in sorted(src.glob("articles-*.jsonl")):
            os.link(path, corpus / path.name)  # hard links: the benchmark never writes into bench/data
        builds = {}
        for engine in ["wenda"] + [e for e in engines if e in ("bm25s", "tantivy")]:
            builds[engine] = _run_json(["_build", engine, size, str(workdir)], log)
            builds[engine]["load1"] = os.getloadavg()[0]
            emit(builds[engine])
    clients = {}
    for engine in engines:  # one at a time, so second-start times do not overlap
        clients[engine] = Client(engine, size, workdir, log)
        emit({"phase": "start", "engine": engine, "size": size, **clients[engine].ready})
    questions = _questions()
    every = RANK_BM25_EVERY.get(size, 10)
    times: dict[str, list[float]] = {}
    tops: dict[str, list[list[int]]] = {}
    asked: dict[str, list[int]] = {}
    for timed in (False, True):
        for qi, question in enumerate(questions):
            for engine, client in clients.items():
                if engine == "rank-bm25" and (qi % every or not timed):
                    continue
                for label, r in client.ask({"cmd": "query", "q": question}).items():
                    if timed:
                        times.setdefault(label, []).append(r["ms"])
                        tops.setdefault(label, []).append(r["top"])
                        asked.setdefault(label, []).append(qi)
    load_q = os.getloadavg()[0]
    wenda_ms = dict(zip(asked["wenda"], times["wenda"], strict=True))
    wenda_top = dict(zip(asked["wenda"], tops["wenda"], strict=True))
    for label, ms in times.items():
        qs = asked[label]
        ratio = [ms_i / wenda_ms[q] for q, ms_i in zip(qs, ms, strict=True)]
        same = [set(t) == set(wenda_top[q]) for q, t in zip(qs, tops[label], strict=True)]
        emit(
            {
                "phase": "query",
                "engine": label,
                "size": size,
                "n": len(ms),
                "median_ms": statistics.median(ms),
                "p95_ms": _pct(ms, 95),
                "mean_ms": statistics.fmean(ms),
                "wenda_median_ms_same_questions": statistics.median([wenda_ms[q] for q in qs]),
                "median_ratio_vs_wenda": statistics.median(ratio),
                "same_top10_as_wenda": sum(same) if label != "tantivy" else None,
                "load1": load_q,
            }
        )
    for engine, client in clients.items():
        emit({"phase": "rss", "engine": engine, "size": size, **client.ask({"cmd": "rss"})})
    for engine, client in clients.items():
        if not reuse:
            emit(
                {
                    "phase": "add",
                    "engine": engine,
                    "size": size,
                    "load1": os.getloadavg()[0],
                    **client.ask({"cmd": "add"}),
                }
            )
        client.close()


def machine() -> dict:
    from importlib.metadata import version

    import bm25s
    import jieba
    import tantivy  # noqa: F401

    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), "?")
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    mem = next(int(ln.split()[1]) for ln in meminfo if ln.startswith("MemTotal"))
    git = lambda *a: subprocess.run(["git", *a], cwd=HERE, capture_output=True, text=True).stdout.strip()  # noqa: E731
    return {
        "phase": "machine",
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gb": round(mem / 2**20, 1),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "jieba": jieba.__version__,
        "rank_bm25": version("rank-bm25"),
        "bm25s": bm25s.__version__,
        "tantivy": version("tantivy"),
        "wenda_commit": git("rev-parse", "--short", "HEAD"),
        "wenda_dirty": git("status", "--porcelain", "--untracked-files=no", "--", "../src", "../bot"),
        "wenda_imported_from": subprocess.run(
            [sys.executable, "-c", "import wenda.retrieval; print(wenda.retrieval.__file__)"],
            capture_output=True,
            text=True,
        ).stdout.strip(),
        "load1_start": os.getloadavg()[0],
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_build":
        print(json.dumps(build(sys.argv[2], sys.argv[3], Path(sys.argv[4]))))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_serve":
        serve(sys.argv[2], sys.argv[3], Path(sys.argv[4]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_seg":
        print(json.dumps(seg_rate(sys.argv[2], int(sys.argv[3]))))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="+", default=["10k", "100k"], help="corpus sizes (bench/data/<size>)")
    ap.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/wenda-bench"), help="indexes and corpus links")
    ap.add_argument("--out", type=Path, default=Path("/tmp/wenda-bench/results.jsonl"))
    ap.add_argument("--seg-size", default="100k", help="corpus to sample for the segmentation rate")
    ap.add_argument("--seg-passages", type=int, default=20_000, help="passages in that sample (0: skip)")
    ap.add_argument(
        "--reuse-indexes",
        action="store_true",
        help="serve the indexes an earlier run left in --workdir: no builds and no add phase (the query columns)",
    )
    args = ap.parse_args()
    if "wenda" not in args.engines:
        ap.error("wenda is the reference engine; keep it in --engines")
    for size in args.sizes:
        if not (DATA / size).is_dir():
            sys.exit(f"{DATA / size} is missing: python bench/make_corpus.py --sizes {size}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    # Every subprocess imports wenda from a snapshot of src/ taken now: the editable install reads the
    # working tree, and a commit landing mid-run (say, a new analyzer fingerprint) would otherwise make
    # the serving process discard the cache the build process just wrote.
    snapshot = args.workdir / "src"
    shutil.rmtree(snapshot, ignore_errors=True)
    # Laid out as installed: the design's folders mapped into the one `wenda` package (pyproject's package-dir).
    for folder, package in (("src/wenda", "wenda"), ("src/retrieval", "wenda/retrieval"), ("bot", "wenda/bot")):
        shutil.copytree(HERE.parent / folder, snapshot / package, ignore=shutil.ignore_patterns("__pycache__"))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(snapshot), os.environ.get("PYTHONPATH")]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sampler = LoadSampler()
    sampler.start()
    rows: list[dict] = []
    with open(args.out, "w", encoding="utf-8") as out, open(args.workdir / "workers.log", "w") as log:

        def emit(row: dict) -> None:
            rows.append(row)
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            out.flush()
            print(json.dumps(row, ensure_ascii=False), file=sys.stderr, flush=True)

        emit(machine())
        if args.seg_passages:
            emit({**_run_json(["_seg", args.seg_size, str(args.seg_passages)], log), "load1": os.getloadavg()[0]})
        for size in args.sizes:
            bench_size(size, args.engines, args.workdir, log, emit, reuse=args.reuse_indexes)
        sampler.stop.set()
        s = sampler.samples or [os.getloadavg()[0]]
        emit({"phase": "load", "load1_min": min(s), "load1_median": statistics.median(s), "load1_max": max(s)})
    print(report(rows))


def report(rows: list[dict]) -> str:
    """Markdown tables of one run's rows."""

    def get(phase, engine=None, size=None):
        return next(
            (
                r
                for r in rows
                if r["phase"] == phase and engine in (None, r.get("engine")) and size in (None, r.get("size"))
            ),
            {},
        )

    lines = []
    sizes = list(dict.fromkeys(r["size"] for r in rows if r["phase"] == "query"))
    labels = list(dict.fromkeys(r["engine"] for r in rows if r["phase"] == "query"))
    lines.append(
        "| engine | size | build s | index MB | build peak RSS MB | second start s (open / process→1st answer) "
        "| query median / p95 ms (n) | × wenda (median per question) | same top-10 | serving peak RSS MB "
        "| add one article s (found) |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for size in sizes:
        for label in labels:
            q = get("query", label, size)
            if not q:
                continue
            engine = label.split(" ")[0]
            b, st, rss, add = (
                get("build", engine, size),
                get("start", engine, size),
                get("rss", engine, size),
                get("add", engine, size),
            )
            build_rss = b.get("peak_rss_mb", "–")
            if b.get("peak_rss_worker_mb"):
                build_rss = f"{b['peak_rss_mb']:.0f} + pool worker {b['peak_rss_worker_mb']:.0f}"
            build_s = b.get("build_s", st.get("open_s") if engine == "rank-bm25" else "–")
            same = q.get("same_top10_as_wenda")
            lines.append(
                f"| {label} | {size} | {build_s if isinstance(build_s, str) else f'{build_s:.1f}'} "
                f"| {b.get('disk_mb', '–')} "
                f"| {build_rss} | {st.get('open_s', 0):.2f} / {st.get('process_ready_s', 0):.2f} "
                f"| {q['median_ms']:.2f} / {q['p95_ms']:.2f} ({q['n']}) | {q['median_ratio_vs_wenda']:.1f} "
                f"| {'–' if same is None else str(same) + '/' + str(q['n'])} | {rss.get('peak_rss_mb', '–')} "
                f"| {add.get('add_s', float('nan')):.2f} ({add.get('found')}) |"
            )
    seg = get("seg")
    if seg:
        lines.append("")
        lines.append(
            f"Segmentation ({seg['passages']} passages, {seg['chars']:,} chars): 1 process {seg['one_wall_s']} s "
            f"({seg['one_chars_per_s']:,} chars/s, {seg['one_cpu_s']} CPU-s); pool of 2 {seg['pool_wall_s']} s "
            f"({seg['pool_chars_per_s']:,} chars/s; workers {seg['pool_workers_cpu_s']} CPU-s, parent "
            f"{seg['pool_parent_cpu_s']} CPU-s) → wall speed-up {seg['speedup']}×, CPU-bound bound "
            f"{seg['cpu_bound_speedup']}×, identical={seg['identical']}, "
            f"load1 {seg['load1_before']:.1f}→{seg['load1_after']:.1f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
