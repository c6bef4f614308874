"""The corpus folder as one searchable whole: read its files, index their passages, refresh on demand."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from .corpus import Corpus, load_corpus
from .index import BM25Params
from .search import Searcher
from .text import Analyzer, TextSettings

log = logging.getLogger(__name__)

USERDICT_NAME = "userdict.txt"


@dataclass(frozen=True)
class StoreSettings:
    """What decides how a corpus folder is read and scored."""

    params: BM25Params = field(default_factory=BM25Params)
    stopwords: bool = True


class CorpusNotFound(Exception):
    """The corpus folder does not exist; the message names it."""


@dataclass
class Library:
    """A corpus folder with its searcher. `refresh()` re-reads the folder."""

    root: Path
    settings: StoreSettings
    corpus: Corpus
    searcher: Searcher

    @classmethod
    def open(cls, root: Path, settings: StoreSettings | None = None) -> Library:
        settings = settings or StoreSettings()
        corpus, searcher = _load(root, settings)
        return cls(root, settings, corpus, searcher)

    def refresh(self) -> None:
        self.corpus, self.searcher = _load(self.root, self.settings)


def _load(root: Path, settings: StoreSettings) -> tuple[Corpus, Searcher]:
    if not root.is_dir():
        raise CorpusNotFound(f"corpus folder {root} does not exist (set --corpus or WENDA_CORPUS)")
    userdict = root / USERDICT_NAME
    analyzer = Analyzer(TextSettings(stopwords=settings.stopwords, userdict=userdict if userdict.is_file() else None))
    corpus = load_corpus(root)
    searcher = Searcher.build(corpus.passages, analyzer, settings.params)
    log.info("indexed %d passages from %d files", len(corpus.passages), len(corpus.files))
    return corpus, searcher
