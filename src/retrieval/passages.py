"""Stored passages: the text and citation of every indexed passage, kept on disk and read one at a time.

A million passages as Python objects would take gigabytes; on disk they are one UTF-8 blob with
offsets plus small integer columns, memory-mapped, and a Passage is made only for a hit.

Each passage also keeps the cut jieba made of its text when it was indexed (Analyzer.passage_tokens):
the highlighter and the sentence stage read a quoted passage's words from it instead of running
jieba over the passage again at every question, which was most of an answer's time. And its bag
(bags.py): what the sentence stage counts of it, so that the stage need not read its text at all.
"""

from __future__ import annotations

import bisect
import json
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .corpus import Passage
from .mapped import load_array, load_blob
from .postings import csr_offsets

_COLUMNS = ("text_offsets", "article", "paragraph", "heading", "cut_offsets")
# A passage whose cut was not stored (Analyzer.passage_tokens gave None): no piece is 0 long.
_NO_CUT = b"\x00"


class ArticleRecord(NamedTuple):
    """An article's citation as stored beside its passages, and its title's cut (None: not stored).

    A tuple, not the dict articles.json holds: at 1M passages (100k articles) the dicts and their
    cuts as lists of ints took 60 MB of a serving process, these about a third of that.
    """

    title: str
    file: str
    source: str | None
    url: str | None
    date: str | None
    cut: bytes | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as articles.json holds it (a cut as a list of piece lengths, only if there is one)."""
        out: dict[str, Any] = {
            "title": self.title,
            "file": self.file,
            "source": self.source,
            "url": self.url,
            "date": self.date,
        }
        if self.cut is not None:
            out["cut"] = list(self.cut)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ArticleRecord:
        """A record read back, with one string per file name for all the articles of a file (interned)."""
        cut = data.get("cut")
        return cls(
            data["title"],
            sys.intern(data["file"]),
            data["source"],
            data["url"],
            data["date"],
            None if cut is None else bytes(cut),
        )


class PassageTable(Sequence[Passage]):
    """Passages numbered like a segment's documents. Built in memory, saved, loaded memory-mapped."""

    def __init__(
        self,
        blob: bytes | np.ndarray,
        text_offsets: np.ndarray,
        article: np.ndarray,
        paragraph: np.ndarray,
        heading: np.ndarray,
        articles: list[ArticleRecord],
        headings: list[str],
        cut_offsets: np.ndarray,
        cuts: bytes | np.ndarray,
        bag_offsets: np.ndarray | None = None,
        bags: bytes | np.ndarray = b"",
    ) -> None:
        self._blob = blob
        self.cut_offsets = cut_offsets
        self._cuts = cuts
        # Without bags (a table saved before them), every passage's is empty.
        self.bag_offsets = np.zeros(len(text_offsets), np.int64) if bag_offsets is None else bag_offsets
        self._bags = bags
        self._bags_view = memoryview(bags)
        # Views for reading one passage: slicing a np.memmap goes through its Python __getitem__ and
        # makes another memmap (a third of the cost of making a Passage); a memoryview slice does not.
        self._blob_view = memoryview(blob)
        self._cuts_view = memoryview(cuts)
        self.text_offsets = text_offsets
        self.article = article
        self.paragraph = paragraph
        self.heading = heading
        self.articles = articles
        self.headings = headings

    @classmethod
    def from_passages(
        cls,
        passages: Iterable[Passage],
        cuts: Iterable[bytes | None] | None = None,
        title_cuts: Mapping[str, bytes | None] | None = None,
        bags: Sequence[bytes] | None = None,
    ) -> PassageTable:
        """A table of passages in order, each with its text's stored cut (none where cuts is None) and
        its bag (bags.py; none where bags is None), and each article with its title's cut (title_cuts,
        by title; Searcher reads it for the title's tokens)."""
        parts: list[bytes] = []
        cut_parts: list[bytes] = []
        cut_offsets = [0]
        cut_of = iter(cuts) if cuts is not None else None
        offsets = [0]
        article_col: list[int] = []
        paragraph_col: list[int] = []
        heading_col: list[int] = []
        articles: list[ArticleRecord] = []
        article_ids: dict[tuple, int] = {}
        headings: dict[str, int] = {}
        for p in passages:
            data = p.text.encode("utf-8")
            parts.append(data)
            offsets.append(offsets[-1] + len(data))
            key = (p.title, p.file, p.source, p.url, p.date)
            if key not in article_ids:
                article_ids[key] = len(articles)
                title_cut = title_cuts.get(p.title) if title_cuts else None
                articles.append(ArticleRecord(p.title, p.file, p.source, p.url, p.date, title_cut))
            article_col.append(article_ids[key])
            paragraph_col.append(p.paragraph)
            heading_col.append(-1 if p.heading is None else headings.setdefault(p.heading, len(headings)))
            cut = next(cut_of) if cut_of is not None else None
            cut_parts.append(_NO_CUT if cut is None else cut)
            cut_offsets.append(cut_offsets[-1] + len(cut_parts[-1]))
        bag_offsets = None if bags is None else csr_offsets(np.array([len(b) for b in bags], dtype=np.int64))
        return cls(
            b"".join(parts),
            np.asarray(offsets, dtype=np.int64),
            np.asarray(article_col, dtype=np.int32),
            np.asarray(paragraph_col, dtype=np.int32),
            np.asarray(heading_col, dtype=np.int32),
            articles,
            list(headings),
            np.asarray(cut_offsets, dtype=np.int64),
            b"".join(cut_parts),
            bag_offsets,
            b"".join(bags) if bags is not None else b"",
        )

    def __len__(self) -> int:
        return len(self.text_offsets) - 1

    def __getitem__(self, i: int) -> Passage:  # type: ignore[override]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        i %= len(self)
        # .item(): a Python int straight from the (mapped) column, without a numpy scalar in between.
        text = str(self._blob_view[self.text_offsets.item(i) : self.text_offsets.item(i + 1)], "utf-8")
        meta = self.articles[self.article.item(i)]
        h = self.heading.item(i)
        return Passage(
            text=text,
            title=meta.title,
            file=meta.file,
            paragraph=self.paragraph.item(i),
            source=meta.source,
            heading=None if h < 0 else self.headings[h],
            url=meta.url,
            date=meta.date,
        )

    def __iter__(self) -> Iterator[Passage]:
        for i in range(len(self)):
            yield self[i]

    def title_cut(self, i: int) -> bytes | None:
        """Passage i's title as jieba cut it (as indexed, INDEXED_TITLE_CHARS long at most), or None."""
        return self.articles[self.article.item(i)].cut

    def cut(self, i: int) -> bytes | None:
        """Passage i's text as jieba cut it when it was indexed (Analyzer.read takes it), or None."""
        cut = bytes(self._cuts_view[self.cut_offsets.item(i) : self.cut_offsets.item(i + 1)])
        return None if cut == _NO_CUT else cut

    def bag(self, i: int) -> bytes:
        """Passage i's bag (bags.py), b"" where it has none."""
        return bytes(self._bags_view[self.bag_offsets.item(i) : self.bag_offsets.item(i + 1)])

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "texts.bin").write_bytes(bytes(self._blob))
        (folder / "cuts.bin").write_bytes(bytes(self._cuts))
        (folder / "bags.bin").write_bytes(bytes(self._bags))
        np.save(folder / "bag_offsets.npy", np.ascontiguousarray(self.bag_offsets))
        for name in _COLUMNS:
            np.save(folder / f"{name}.npy", np.ascontiguousarray(getattr(self, name)))
        with open(folder / "articles.json", "w", encoding="utf-8") as fh:
            articles = [a.to_json() for a in self.articles]
            json.dump({"articles": articles, "headings": self.headings}, fh, ensure_ascii=False)

    @classmethod
    def load(cls, folder: Path) -> PassageTable:
        blob = load_blob(folder / "texts.bin")
        cuts = load_blob(folder / "cuts.bin")
        columns = {name: load_array(folder / f"{name}.npy") for name in _COLUMNS}
        with open(folder / "articles.json", encoding="utf-8") as fh:
            meta = json.load(fh)
        articles = [ArticleRecord.from_json(a) for a in meta["articles"]]
        # Bags are optional: a table saved before them is read without (the stage reads the texts).
        bags, bag_offsets = b"", None
        if (folder / "bag_offsets.npy").is_file():
            bags, bag_offsets = load_blob(folder / "bags.bin"), load_array(folder / "bag_offsets.npy")
        table = cls(
            blob, articles=articles, headings=meta["headings"], cuts=cuts, bags=bags, bag_offsets=bag_offsets, **columns
        )
        if int(table.text_offsets[-1]) != len(blob) or int(table.cut_offsets[-1]) != len(cuts):
            raise ValueError(f"stored passages in {folder} are inconsistent")
        if len(table.cut_offsets) != len(table.text_offsets) or len(table.bag_offsets) != len(table.text_offsets):
            raise ValueError(f"stored passages in {folder} are inconsistent")
        if int(table.bag_offsets[-1]) != len(bags):
            raise ValueError(f"stored passages in {folder} are inconsistent")
        return table

    def select(self, docs: np.ndarray) -> PassageTable:
        """A table of the given documents only, in that order (for merging segments, or keeping a file's
        passages as stored when it need not be read again), by slicing the stored bytes run by run."""
        docs = np.asarray(docs, dtype=np.int64)
        if len(docs) == len(self) and np.array_equal(docs, np.arange(len(self))):
            return self
        blob, text_offsets = _take(self._blob, self.text_offsets, docs)
        cuts, cut_offsets = _take(self._cuts, self.cut_offsets, docs)
        bags, bag_offsets = _take(self._bags, self.bag_offsets, docs)
        used, article = np.unique(np.asarray(self.article)[docs], return_inverse=True)
        heading = np.asarray(self.heading)[docs]
        kept = np.unique(heading[heading >= 0])
        renumber = np.full(len(self.headings) + 1, -1, dtype=np.int32)  # the last stands for -1: none
        renumber[kept] = np.arange(len(kept), dtype=np.int32)
        return PassageTable(
            blob,
            text_offsets,
            article.astype(np.int32),
            np.asarray(self.paragraph)[docs].astype(np.int32),
            renumber[heading],
            [self.articles[i] for i in used.tolist()],
            [self.headings[i] for i in kept.tolist()],
            cut_offsets,
            cuts,
            bag_offsets,
            bags,
        )

    def with_cuts(
        self,
        cuts: Mapping[int, bytes | None],
        title_cuts: Mapping[str, bytes | None] | None = None,
        bags: Mapping[int, bytes] | None = None,
    ) -> PassageTable:
        """This table with the stored cuts and bags of the given passages (by number) and the cuts of
        the given titles' articles replaced: passages cut again with a new user dictionary keep their
        text and citation."""
        stored = {i: _NO_CUT if cut is None else cut for i, cut in cuts.items()}
        cut_offsets, joined_cuts = _replaced(self._cuts, self.cut_offsets, stored)
        bag_offsets, joined_bags = _replaced(self._bags, self.bag_offsets, bags or {})
        articles = self.articles
        if title_cuts:
            articles = [a._replace(cut=title_cuts[a.title]) if a.title in title_cuts else a for a in articles]
        return PassageTable(
            self._blob,
            self.text_offsets,
            self.article,
            self.paragraph,
            self.heading,
            articles,
            self.headings,
            cut_offsets,
            joined_cuts,
            bag_offsets,
            joined_bags,
        )

    @staticmethod
    def concat(tables: Sequence[PassageTable]) -> PassageTable:
        """One table of several, in order, by array arithmetic rather than passage by passage."""
        if len(tables) == 1:
            return tables[0]
        blobs, offsets, article, paragraph, heading = [], [np.zeros(1, np.int64)], [], [], []
        cut_blobs, cut_offsets = [], [np.zeros(1, np.int64)]
        bag_blobs, bag_offsets = [], [np.zeros(1, np.int64)]
        cut_base = bag_base = 0
        articles: list[ArticleRecord] = []
        headings: list[str] = []
        blob_base = 0
        for t in tables:
            blobs.append(bytes(t._blob))
            offsets.append(np.asarray(t.text_offsets[1:], dtype=np.int64) + blob_base)
            blob_base += len(blobs[-1])
            cut_blobs.append(bytes(t._cuts))
            cut_offsets.append(np.asarray(t.cut_offsets[1:], dtype=np.int64) + cut_base)
            cut_base += len(cut_blobs[-1])
            bag_blobs.append(bytes(t._bags))
            bag_offsets.append(np.asarray(t.bag_offsets[1:], dtype=np.int64) + bag_base)
            bag_base += len(bag_blobs[-1])
            article.append(np.asarray(t.article) + len(articles))
            paragraph.append(np.asarray(t.paragraph))
            h = np.asarray(t.heading)
            heading.append(np.where(h < 0, -1, h + len(headings)))
            articles.extend(t.articles)
            headings.extend(t.headings)
        return PassageTable(
            b"".join(blobs),
            np.concatenate(offsets),
            np.concatenate(article).astype(np.int32),
            np.concatenate(paragraph).astype(np.int32),
            np.concatenate(heading).astype(np.int32),
            articles,
            headings,
            np.concatenate(cut_offsets),
            b"".join(cut_blobs),
            np.concatenate(bag_offsets),
            b"".join(bag_blobs),
        )


def _replaced(blob: bytes | np.ndarray, offsets: np.ndarray, new: Mapping[int, bytes]) -> tuple[np.ndarray, bytes]:
    """The offsets and bytes of a per-passage column with the given passages' bytes replaced."""
    lengths = np.diff(np.asarray(offsets, dtype=np.int64))
    pieces: list[bytes] = []
    at = 0
    for i in sorted(new):
        lo, hi = int(offsets[i]), int(offsets[i + 1])
        pieces += [bytes(blob[at:lo]), new[i]]
        lengths[i] = len(new[i])
        at = hi
    pieces.append(bytes(blob[at:]))
    return csr_offsets(lengths), b"".join(pieces)


def _take(blob: bytes | np.ndarray, offsets: np.ndarray, docs: np.ndarray) -> tuple[bytes, np.ndarray]:
    """The bytes of the given documents, in that order, and their offsets: one slice per run of
    consecutive documents (a file's passages, or what a merge keeps, are long runs)."""
    offsets = np.asarray(offsets, dtype=np.int64)
    if not len(docs):
        return b"", np.zeros(1, np.int64)
    breaks = np.flatnonzero(np.diff(docs) != 1) + 1
    firsts, lasts = docs[np.r_[0, breaks]], docs[np.r_[breaks - 1, len(docs) - 1]]
    runs = zip(offsets[firsts].tolist(), offsets[lasts + 1].tolist(), strict=True)
    data = b"".join(bytes(blob[lo:hi]) for lo, hi in runs)
    return data, csr_offsets(offsets[docs + 1] - offsets[docs])


class SlotPassages(Sequence[Passage]):
    """The passages of several tables as one sequence numbered by index slot."""

    def __init__(self, tables: Sequence[Sequence[Passage]]) -> None:
        self.tables = tuple(tables)
        self.bases = np.cumsum([0] + [len(t) for t in self.tables])
        self._starts = self.bases.tolist()  # bisected at every passage read: a list is the quicker

    def __len__(self) -> int:
        return int(self.bases[-1])

    def __getitem__(self, slot: int) -> Passage:  # type: ignore[override]
        if not 0 <= slot < len(self):
            raise IndexError(slot)
        table, i = self._locate(slot)
        return table[i]

    def cut(self, slot: int) -> bytes | None:
        """The stored cut of the passage in slot (PassageTable.cut); None where a table keeps none."""
        table, i = self._locate(slot)
        return table.cut(i) if isinstance(table, PassageTable) else None

    def title_cut(self, slot: int) -> bytes | None:
        """The stored cut of the title of the passage in slot (PassageTable.title_cut), or None."""
        table, i = self._locate(slot)
        return table.title_cut(i) if isinstance(table, PassageTable) else None

    def bag(self, slot: int) -> bytes:
        """The bag of the passage in slot (PassageTable.bag); b"" where a table keeps none."""
        table, i = self._locate(slot)
        return table.bag(i) if isinstance(table, PassageTable) else b""

    def _locate(self, slot: int) -> tuple[Sequence[Passage], int]:
        """The table holding slot, and the passage's number in it."""
        t = bisect.bisect_right(self._starts, slot) - 1
        return self.tables[t], slot - self._starts[t]
