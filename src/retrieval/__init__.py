"""wenda's search library: articles in, ranked and highlighted passages out. Knows nothing of Discord."""

# First: it imports jieba, which every module below uses, without pkg_resources (see there).
from . import dictionary  # noqa: F401
from .corpus import Article, Corpus, Passage, Problem, load_corpus, read_file
from .index import BM25Index, BM25Params
from .search import Hit, Searcher, SearchResult
from .store import Library, StoreSettings
from .text import Analyzer, TextSettings

__all__ = [
    "Analyzer",
    "Article",
    "BM25Index",
    "BM25Params",
    "Corpus",
    "Hit",
    "Library",
    "Passage",
    "Problem",
    "SearchResult",
    "Searcher",
    "StoreSettings",
    "TextSettings",
    "load_corpus",
    "read_file",
]
