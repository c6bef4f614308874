"""Hits → an Answer: what to quote and in which order, or a plain "the corpus does not cover this"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from wenda.retrieval.citations import json_date
from wenda.retrieval.corpus import Passage
from wenda.retrieval.relevance import MIN_RELEVANCE, declined, further_bar
from wenda.retrieval.search import Hit, Searcher
from wenda.retrieval.text import scrub

# A question longer than this is refused: no real question needs more, and segmenting and
# scoring an essay per message is an easy way to make the bot slow for everyone.
MAX_QUESTION_CHARS = 500


class Status(StrEnum):
    ANSWERED = "answered"
    NOT_COVERED = "not_covered"
    EMPTY = "empty"
    TOO_LONG = "too_long"
    EMPTY_CORPUS = "empty_corpus"  # no passage at all: nothing could ever be quoted


MESSAGES = {
    Status.NOT_COVERED: "抱歉，资料库里没有找到能回答这个问题的内容。",
    Status.EMPTY: "请输入一个问题，例如：北京城市副中心政务服务中心什么时候投入运行？",
    Status.TOO_LONG: f"问题太长了（最多 {MAX_QUESTION_CHARS} 个字），请缩短后再问。",
    Status.EMPTY_CORPUS: "资料库是空的：请把文章文件（.txt、.md 或 .jsonl）放进资料库文件夹后再提问。",
}


def empty_corpus_message(folder: Path | str | None = None) -> str:
    """The empty-corpus sentence, naming the folder where one is known (the terminal; not Discord's users)."""
    if folder is None:
        return MESSAGES[Status.EMPTY_CORPUS]
    return f"资料库是空的：请把文章文件（.txt、.md 或 .jsonl）放进资料库文件夹 {folder} 后再提问。"


@dataclass(frozen=True)
class Answer:
    """What wenda says to a question; every front end renders this and nothing else."""

    question: str
    status: Status
    hits: tuple[Hit, ...] = ()
    terms: tuple[str, ...] = ()
    offset: int = 0  # how many better texts (groups of copies) came before these (for "more")

    @property
    def answered(self) -> bool:
        return self.status is Status.ANSWERED

    @property
    def message(self) -> str | None:
        """The sentence to show instead of quotes, when there are none."""
        return MESSAGES.get(self.status)


def answer(
    searcher: Searcher,
    question: str,
    k: int = 3,
    *,
    context: Sequence[str] = (),
    offset: int = 0,
    min_relevance: float = MIN_RELEVANCE,
    scope: str | None = None,
) -> Answer:
    """Answer question with the k best texts after the first `offset` ones, or decline.

    A text stored several times (a republished wire story) is quoted once, from its best-ranked
    copy, with the others in the hit's duplicates; offset counts texts, so "more" goes past copies.
    context: the earlier questions of the conversation, oldest first; a follow-up that leaves its
    subject out (它, 该市, 那北京呢？) is read with them (wenda.retrieval.followup).
    scope: a subfolder of the corpus to quote from alone (a channel's, WENDA_CHANNEL_CORPORA); relevance
    keeps the whole corpus's statistics, so the decline rule holds there unchanged.
    """
    # The question is echoed to Discord and stored in SQLite, neither of which takes lone surrogates.
    question = scrub(question).strip()
    if not question:
        return Answer(question, Status.EMPTY)
    if len(question) > MAX_QUESTION_CHARS:
        return Answer(question, Status.TOO_LONG)
    if searcher.index.n_docs == 0:
        return Answer(question, Status.EMPTY_CORPUS)
    result = searcher.search(question, k + offset, distinct=True, context=context, scope=scope)
    if not result.terms:
        # Nothing to search for: punctuation (？？？) or chat alone (你好！谢谢): ask for a question.
        return Answer(question, Status.EMPTY)
    hits = result.hits
    # Whether the corpus covers the question is decided on the best passage, whatever page is shown.
    if not hits or declined(hits[0].relevance, min_relevance):
        return Answer(question, Status.NOT_COVERED, terms=result.terms)
    # Later passages must clear the bar too, however many passages were asked for.
    bar = further_bar(hits[0].relevance, min_relevance)
    credible = tuple(h for h in hits[offset:] if h.rank == 1 or h.relevance >= bar)
    return Answer(question, Status.ANSWERED, credible, result.terms, offset)


def to_json(ans: Answer) -> dict:
    """The JSON shape of `wenda ask --json`."""
    return {
        "question": ans.question,
        "answered": ans.answered,
        "status": ans.status.value,
        "message": ans.message,
        "hits": [
            {
                "text": h.passage.text,
                "title": h.passage.title,
                "source": h.passage.source,
                "file": h.passage.file,
                "paragraph": h.passage.paragraph,
                "heading": h.passage.heading,
                "url": h.passage.url,
                "date": json_date(h.passage.date),
                "score": h.score,
                "rank": h.rank,
                "relevance": round(h.relevance, 4),
                "matched": list(h.matched),
                "sentence": list(h.sentence) if h.sentence else None,
                "duplicates": [
                    {
                        "title": p.title,
                        "source": p.source,
                        "file": p.file,
                        "paragraph": p.paragraph,
                        "url": p.url,
                        "date": p.date,
                    }
                    for p in h.duplicates
                ],
            }
            for h in ans.hits
        ],
    }


ALSO_IN = "也见于"


def copy_citation(passage: Passage) -> str:
    """'title · source · file 第 N 段': where a copy of a quoted text is, as both front ends list it."""
    parts = [passage.title]
    if passage.source:
        parts.append(passage.source)
    parts.append(f"{passage.file} 第 {passage.paragraph} 段")
    return " · ".join(parts)


def also_in(hit: Hit) -> str | None:
    """The line shown under a quote that has copies ('也见于 a；b'), or None when it has none."""
    if not hit.duplicates:
        return None
    return f"{ALSO_IN} " + "；".join(copy_citation(p) for p in hit.duplicates)
