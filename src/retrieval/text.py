"""Normalise text (NFKC, case, Traditional→Simplified) and segment it into index terms with jieba."""

from __future__ import annotations

import bisect
import hashlib
import logging
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache, lru_cache
from itertools import accumulate, filterfalse
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import jieba
import numpy as np
import opencc
import stopwordsiso

from .chat import clauses, without_chat
from .dictionary import CachedTokenizer, Classes, cache_folder, import_posseg
from .fastcut import FastCut, fast_cut
from .kernels import compiled
from .memo import room
from .wordlist import WordList

if TYPE_CHECKING:
    import jieba.posseg

log = logging.getLogger(__name__)

# jieba logs its dictionary loading at INFO on the root of its own logger; our users do not need it.
jieba.setLogLevel(logging.WARNING)

_FULLWIDTH_DIGITS = frozenset("０１２３４５６７８９")
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
# jieba guesses unknown words with an HMM whose Viterbi copies its whole path at every character:
# quadratic in the length of a run it cannot match to dictionary words (100,000 characters of 的
# took 40 s). Text reaches jieba in pieces of at most this many characters; prose has punctuation
# far more often, so only runs no real text has are ever cut.
MAX_JIEBA_RUN = 500
# Sentences whose proper names an analyzer remembers (Analyzer.proper_names).
NAMES_KEPT = 4096
# Pieces whose verdict (index word or not) an analyzer remembers before it starts afresh.
_KEPT_PIECES = 1 << 16
# A run this long without a character jieba splits at makes _pieces cut it where jieba would not.
_HARD_CUT = re.compile(r"[\u4E00-\u9FD5a-zA-Z0-9+#&\._%\-]{" + str(MAX_JIEBA_RUN // 2) + ",}")
# A stored cut gives each of jieba's pieces' length in one byte (Analyzer.passage_tokens).
_MAX_PIECE = 255
# What jieba's own default mode treats as a block boundary (the complement of its re_han_default).
_JIEBA_BREAK = re.compile(r"[^\u4E00-\u9FD5a-zA-Z0-9+#&\._%\-]")
# Character n-grams live in their own namespaces, so the unigram 国 never merges with the
# one-character jieba word 国 (a shared namespace measured worse: docs/quality.md).
UNIGRAM = "\x011"
BIGRAM = "\x012"
# Bigrams holding one of these function characters count once in a question, every other
# question token twice.
_FUNCTION_CHARS = frozenset("的是在了和与为所都之于而及其被把将对从以由")
# The interrogative part of a question (哪一个, 什么时候, 多少 ...): its characters are not searched
# as n-grams (个国 of 哪个国家 only matches noise).
_INTERROGATIVE = re.compile(
    r"哪(?:一|些)?(?:个|种|位|年|国(?!家)|支|部|座|条|家|所|名|类|项|天|里|边|方|儿|时)?"
    r"|什么(?:时候|样|人|地方)?|为什么|为何|何(?:时|处|地|者|种|人|以|在)|谁"
    r"|几(?:个|年|种|次|位|岁|人|十|百|千|万|月|日|号)?(?!乎)|多少|多(?:久|长|大|高|远|重|宽|深)"
    r"|怎么|怎样|如何|是否|吗|呢"
)


# jieba's part-of-speech flags of names, by their first two letters (nr, nrfg, nrt; ns, nsf).
_NAME_KINDS = {"nr": "person", "ns": "place"}
# A clause ended by one of these asks, interrogative or not (…另一个是？, 不具有甚么权利？).
_QUESTION_MARKS = frozenset("?？")
# Quotation and title marks: a clause holding one quotes or names something (「自然状态」, 《序》).
_QUOTES = re.compile(r"[「」『』《》“”〈〉\"]")
# How each mark moves into (+1) or out of (-1) a quotation, so that a clause between the marks, which
# holds none itself (…，来科必中状元，… inside 「…」), is known to quote too.
_QUOTE_DEPTH = {**dict.fromkeys("「『《“〈", 1), **dict.fromkeys("」』》”〉", -1)}
# The least frequency jieba's dictionary (about 60 million words of text) gives an everyday word:
# its most frequent 9 % of words of two or more characters, 91 % of running text (讨论 is 6464, 随口
# 473, 猜谜 31: not everyday).
EVERYDAY_FREQ = 100
# The asker and the listeners: a clause about them (我最近在准备一个考试, 大家晚上好) talks around the
# question, where an everyday clause in the third person may be its context (战争结束以后).
_PERSONAL = re.compile(r"[我你您咱俺]|大家|各位")
# Deictic time: a clause holding one (今天刷题遇到的, 刚才突然想到) is set in the asker's here and now,
# as a personal one is; a question's context is set in its subject's time (战争结束以后, 1998年).
_HERE_AND_NOW = re.compile(r"今天|昨天|前天|今晚|昨晚|刚才|刚刚|最近|突然|这两天|这几天")
# Grammatical characters. jieba's HMM glues them to a word next to them when its dictionary has no
# word for the pair (我查, 有个, 提了), and its dictionary holds a few such pairs as rare words (帮帮我,
# 记不住, 一题): a word holding one is everyday language cut the wrong way, not a term or a name.
_GLUE = frozenset(
    "我你您他她它咱俺"  # pronouns
    "不没别未"  # negations
    "一两个只位件这那此"  # numerals, classifiers, demonstratives
    "了过着的地得吗呢吧啊呀嘛啦哦"  # particles
    "都也就还才很太再又在跟和把被给对从向"  # adverbs and prepositions
    "里"  # the locative after a noun (群里, 朋友圈里), which the dictionary rarely holds as a pair
)
# jieba's part-of-speech flags of proper nouns (people, places, organisations): however frequent (日本,
# 毛泽东), a name is what a question is about, never talk around it. Not nz ("other proper noun"): of
# its frequent words about half are common ones (聊天, 珠宝, 甲烷, 兴盛), and reading them as names made
# chat such as 刚才跟朋友聊天说到这个 count as content (docs/quality.md).
_PROPER_TAGS = frozenset({"nr", "nrt", "nrfg", "ns", "nsf", "nt"})
# Verbs, and adverbs and conjunctions: a clause beginning with one (引起…, 逐渐…, 并于何时…) leans on
# the clause before it for its subject.
_VERB_TAGS = frozenset({"v", "vd", "vi"})
_CONNECTIVE_TAGS = frozenset({"d", "c"})
# Pronouns that point back (这是哪一个行业, 其存在的意义是, 他还是什么): a clause beginning with one may
# be about the clause before it.
_POINTING_BACK = re.compile(r"[这那此该其它他她]")
# What ends a noun phrase: after its last 的, at most this many words and none of them a verb (的最新突破,
# not 的时候想到).
_HEAD_WORDS = 3
# A clause ending in one sets the time of the question's subject (驱逐舰出现后, 东征期间): its context.
_TIME_FRAME = re.compile(r"(?:后|以后|之后|期间|时|之时|时候|时期|以前|之前|前|以来)$")
_tagger_lock = threading.Lock()


@dataclass(frozen=True)
class TextSettings:
    """Everything that changes which terms a text becomes; part of the index cache key.

    The defaults are the recipe measured best in docs/quality.md: jieba words plus CJK character
    unigrams and bigrams, and the article title indexed twice in front of each passage.
    """

    stopwords: bool = True
    userdict: Path | None = None
    ngrams: bool = True
    title_repeat: int = 2


@cache
def chinese_stopwords() -> frozenset[str]:
    """stopwords-iso's Chinese list, normalised like every other term.

    Its full-width digits are removed: after NFKC they would be the ASCII digits, and years,
    counts and dates are exactly what many questions ask about.
    """
    words = {w for w in stopwordsiso.stopwords("zh") if not (set(w) & _FULLWIDTH_DIGITS)}
    return frozenset(_normalise_plain(w) for w in words)


# Blocks without a mark or a conjoining jamo (tests/test_text.py checks it): Latin up to the spacing
# modifiers, general punctuation, CJK punctuation up to U+3029 (U+302A-U+302F are tone marks), CJK
# ideographs and full-width forms. A text of these alone, which most passages are, has nothing
# _composing() could find, and so needs no pattern built for it (40 ms, once per process).
_PLAIN = re.compile(r"[\x00-\u02ff\u2000-\u206f\u3000-\u3029\u3400-\u4dbf\u4e00-\u9fff\uff01-\uff60]*")


def may_compose(text: str) -> bool:
    """Whether text holds a character NFKC may join to a neighbour (_composing)."""
    return not _PLAIN.fullmatch(text) and _composing().search(text) is not None


@cache
def _composing() -> re.Pattern[str]:
    """Characters NFKC may join to a neighbour: marks (U+0301, the kana voicing marks) and Hangul
    conjoining jamo, in the Basic Multilingual Plane. A text without one normalises the same whole
    or character by character."""
    jamo = ((0x1100, 0x11FF), (0xA960, 0xA97F), (0xD7B0, 0xD7FF))
    chars = [
        chr(c)
        for c in range(0x10000)
        if unicodedata.category(chr(c))[0] == "M" or any(lo <= c <= hi for lo, hi in jamo)
    ]
    return re.compile("[" + "".join(re.escape(ch) for ch in chars) + "]")


@cache
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


# OpenCC's converter object is not documented as thread-safe; the bot scores in worker threads.
_t2s_lock = threading.Lock()


def _to_simplified(text: str) -> str:
    with _t2s_lock:
        return _t2s().convert(text)


# The compatibility characters Chinese text is full of (full-width punctuation, the ideographic
# space), each with its NFKC. A character replaced by its NFKC leaves the text's NFKC as it was (both
# decompose alike), and a text with no other such character is then NFKC already, which unicodedata
# tells with a quick check: a seventh of the time of normalising the text, found in every passage.
_COMMON_COMPAT = tuple((ch, unicodedata.normalize("NFKC", ch)) for ch in "，：；！？（）％＋－／～．＆＝\u3000")


def nfkc(text: str) -> str:
    """unicodedata.normalize("NFKC", text), faster for Chinese text."""
    for compat, plain in _COMMON_COMPAT:
        if compat in text:
            text = text.replace(compat, plain)
    return text if unicodedata.is_normalized("NFKC", text) else unicodedata.normalize("NFKC", text)


def _normalise_plain(text: str) -> str:
    return _to_simplified(nfkc(text).lower())


def scrub(text: str) -> str:
    """text with every lone surrogate (U+D800..U+DFFF) replaced by U+FFFD, one for one.

    A Python str can hold them (JSON's "\\ud800", command-line bytes decoded with surrogateescape),
    but they are not text: OpenCC, UTF-8 encoding and SQLite all raise on them. Replacing one
    character with one keeps every offset into the original true.
    """
    return _SURROGATE.sub("\ufffd", text)


def normalise(text: str) -> str:
    """Return text as it is indexed: NFKC, lower-case, Simplified Chinese."""
    return _normalise_plain(scrub(text))


def normalise_with_offsets(text: str) -> tuple[str, list[int]]:
    """Normalise text and say, for each character of the result, which original character it came from.

    Quotes always show the original text, so every match found in normalised text has to be
    mapped back to the characters the reader sees.
    """
    return _normalise_reading(text)[:2]


def _normalise_reading(text: str) -> tuple[str, list[int], bool]:
    """normalise_with_offsets, and whether the result is normalise(text) too: so it is when every
    character folds to one and OpenCC keeps the length (the usual case, normalised_in_place), both
    then doing the same."""
    in_place = normalised_in_place(text)
    if in_place is not None:
        return in_place, list(range(len(in_place))), True
    text = scrub(text)
    folded = _fold_one_for_one(text)
    whole = folded is not None
    if folded is not None:
        origin = list(range(len(text)))
    else:
        pieces: list[str] = []
        origin = []
        for i, ch in enumerate(text):
            out = ch.lower() if ch.isascii() else unicodedata.normalize("NFKC", ch).lower()
            pieces.append(out)
            origin.extend([i] * len(out))
        folded = "".join(pieces)
    simplified = _to_simplified(folded)
    if len(simplified) != len(folded):
        # OpenCC converted a phrase into one of another length; redo it character by character so
        # the offsets stay true (slower, and rare).
        simplified = "".join(_to_simplified(ch) if len(_to_simplified(ch)) == 1 else ch for ch in folded)
        whole = False
    return simplified, origin, whole


def _fold_one_for_one(text: str) -> str | None:
    """NFKC and lower-case of text when every character folds to exactly one (the usual case, so the
    offsets are the identity and the slow character-by-character fold is not needed); else None.

    Whole-text NFKC equals the characters' own NFKC unless a character composes with a neighbour
    (_composing), and NFKC never drops a character, so equal lengths mean one for one. str.lower()
    looks at context only for a final capital sigma.
    """
    if "\u03a3" in text or may_compose(text):
        return None
    folded = nfkc(text)
    if len(folded) != len(text) or "\u03a3" in folded:
        return None
    lowered = folded.lower()
    return lowered if len(lowered) == len(text) else None


@lru_cache(maxsize=1 << 16)  # the same words recur in every passage read
def _has_cjk(word: str) -> bool:
    """Whether word holds a CJK character (else it is a Latin or digit word, counted as n-grams too)."""
    return _CJK_RUN.search(word) is not None


@lru_cache(maxsize=1 << 16)  # the same words recur in every passage read
def _is_word(token: str) -> bool:
    """A token that carries meaning: it has at least one letter or digit (so no punctuation or space)."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in token)


class Term(NamedTuple):
    """One index term found in a text, with its span in that (normalised) text. (A tuple: a passage
    read at a question makes a hundred of them.)"""

    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Reading:
    """A text normalised and cut by jieba once, with the way back to its original characters.

    A search reads each passage it quotes this way, once, for both the words to mark and each
    sentence's terms (Analyzer.matches, Analyzer.tokens_within).
    """

    text: str  # the original
    normalised: str
    origin: list[int]  # for each character of normalised, the original character it came from
    terms: list[Term]  # jieba's words (no stop words or punctuation), spans in normalised
    whole: bool = False  # normalised is normalise(text) too (the copy check's shingles start from it)


@dataclass(frozen=True)
class TextParts:
    """A normalised text's index terms by kind: jieba's words, CJK unigrams, bigrams, and the Latin or
    digit words (which also go into both n-gram namespaces)."""

    normalised: str
    words: list[str]
    unigrams: list[str]
    bigrams: list[str]
    latin: list[str]
    cut: bytes | None = None  # jieba's cut of normalised, where it was cut alone (Analyzer.passage_tokens)

    def tokens(self) -> list[str]:
        """The text's index terms in tokens()' order."""
        return _joined([self])


def _joined(texts: Sequence[TextParts]) -> list[str]:
    """The index terms of texts joined by newlines (no word or n-gram crosses one), in tokens()' order:
    every word, then every unigram, every bigram, and the Latin words as unigrams, then as bigrams."""
    out = [w for t in texts for w in t.words]
    out.extend(u for t in texts for u in t.unigrams)
    out.extend(b for t in texts for b in t.bigrams)
    out.extend(UNIGRAM + w for t in texts for w in t.latin)
    out.extend(BIGRAM + w for t in texts for w in t.latin)
    return out


def everyday_words(dictionary: str | None = None) -> frozenset[str]:
    """The words of jieba's dictionary (its default one for None) that are everyday language: at least
    EVERYDAY_FREQ frequent and not a proper noun. Read from the dictionary file, so user words,
    which are a corpus's own vocabulary, are never among them."""
    return _dictionary_words(dictionary).everyday


def proper_nouns(dictionary: str | None = None) -> frozenset[str]:
    """The words jieba's dictionary (its default one for None) tags as proper nouns (_PROPER_TAGS)."""
    return _dictionary_words(dictionary).proper


def verbs(dictionary: str | None = None) -> WordList:
    """The words jieba's dictionary (its default one for None) tags as verbs (_VERB_TAGS)."""
    return _dictionary_words(dictionary).verbs


def connectives(dictionary: str | None = None) -> WordList:
    """The words jieba's dictionary (its default one for None) tags as adverbs or conjunctions (_CONNECTIVE_TAGS)."""
    return _dictionary_words(dictionary).connectives


@dataclass(frozen=True)
class DictionaryWords:
    """The classes of jieba's dictionary words the question reader asks about (everyday_words,
    proper_nouns, verbs, connectives)."""

    everyday: frozenset[str]
    proper: frozenset[str]
    # Asked only of a few words a question: kept small (wordlist.py).
    verbs: WordList
    connectives: WordList


def _classify(lines: list[str]) -> dict[str, list[str]]:
    """The word classes of DictionaryWords from a jieba dictionary's lines ("word [freq] [tag]"), as
    sorted lists of words; a word may be in more than one, by its lines."""
    everyday, proper, verbs, connectives = set(), set(), set(), set()
    for line in lines:
        word, freq, tag = [*line.split(), "", "", ""][:3]  # the tag is optional
        if tag in _PROPER_TAGS:
            proper.add(word)
        elif freq.isdigit() and int(freq) >= EVERYDAY_FREQ:
            everyday.add(word)
        if tag in _VERB_TAGS:
            verbs.add(word)
        elif tag in _CONNECTIVE_TAGS:
            connectives.add(word)
    classes = {"everyday": everyday, "proper": proper, "verbs": verbs, "connectives": connectives}
    return {name: sorted(words) for name, words in classes.items()}


def _word_classes() -> Classes:
    """How DictionaryWords are made from dict.txt, under rules naming every setting they depend on, so
    that classes cached under other settings are made again."""
    rules = (
        f"v1 everyday>={EVERYDAY_FREQ} proper={','.join(sorted(_PROPER_TAGS))} "
        f"verbs={','.join(sorted(_VERB_TAGS))} connectives={','.join(sorted(_CONNECTIVE_TAGS))}"
    )
    return Classes(rules, _classify)


@cache
def _dictionary_words(dictionary: str | None, folder: Path | None = None) -> DictionaryWords:
    """DictionaryWords of a dictionary (jieba's default one for None): once per process, from their
    cache file in folder where it has them (0.05 s; dictionary.py), else from the dictionary file
    (0.4 s; then cached in folder, if there is one)."""
    if dictionary is None:
        classes = CachedTokenizer(folder).word_classes(_word_classes())
    else:
        classes = _word_classes().of_file(jieba.Tokenizer(dictionary).get_dict_file())
    # The verbs' and connectives' strings are freed once their word lists are made (wordlist.py); making
    # them only after the sets, as the reading from dict.txt once had to, changed nothing measurable in
    # a 1M server's memory (docs/benchmarks.md).
    return DictionaryWords(
        frozenset(classes["everyday"]),
        frozenset(classes["proper"]),
        WordList(classes["verbs"]),
        WordList(classes["connectives"]),
    )


def _quotes_open(depth: int, clause: str) -> int:
    """How many quotations are open after clause, depth being how many were before it. A straight
    quote opens one when none is open and closes one otherwise; a closing mark never takes depth
    below 0, so a stray one does not hide the quotations after it."""
    for char in clause:
        step = (-1 if depth else 1) if char == '"' else _QUOTE_DEPTH.get(char, 0)
        depth = max(0, depth + step)
    return depth


@dataclass(frozen=True)
class Clause:
    """One clause of a question: its query terms, whether it asks (holds an interrogative or ends in a
    question mark), its length, whether it is specific (holds a number, a Latin word or a quotation
    mark, or stands inside a quotation), whether it is everyday (every word of two or more characters
    is everyday_words', or glued to a grammatical character; where the asker speaks of their here and
    now or the clause stands apart, rare words may be among them, no more of them than of the others:
    _all_everyday), whether it is personal (speaks of the asker or the listeners), whether it is an
    afterthought (comes after a clause that ended in a question mark: said once the question was
    asked, as in …？在线蹲一个答案) and whether it stands apart from the question
    (Analyzer.query_clauses: nothing after it leans on it, it leans on nothing before it, and it is
    neither a time of the subject's nor a noun phrase, as a scene set before a question is:
    周末带孩子逛博物馆被问住了)."""

    tokens: frozenset[str]
    asks: bool
    chars: int
    specific: bool = False
    everyday: bool = False
    personal: bool = False
    afterthought: bool = False
    apart: bool = False


# What the compiled counts read besides a text and its cut (Analyzer._compiled_counting).
Counting = tuple[Mapping[str, bool], np.ndarray, np.ndarray]


@dataclass
class Analyzer:
    """Turns text into index terms; the same instance is used for passages and for questions."""

    settings: TextSettings = field(default_factory=TextSettings)
    # Where jieba's dictionary may be cached if the user's cache folder cannot be written (a service
    # whose home is read-only): the store gives the corpus's .wenda folder. See dictionary.py.
    dictionary_cache: Path | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        # A private jieba tokenizer, so a user dictionary affects this analyzer only and not the
        # process-wide default one; its dictionary is loaded from our cache (dictionary.py).
        self._jieba = CachedTokenizer(cache_folder(self.dictionary_cache))
        self._tagger: jieba.posseg.POSTokenizer | None = None
        # jieba's cut with its route found in C++, for passages (fastcut.py); made on first use, as
        # a question does not need it (building its trie takes a quarter of a second).
        self._fast: FastCut | None = None
        self._fast_made = False
        self._fast_lock = threading.Lock()
        self._names = lru_cache(maxsize=NAMES_KEPT)(self._proper_names)
        self._stopwords = chinese_stopwords() if self.settings.stopwords else frozenset()
        self._kept = _KeptPieces(self._stopwords)  # _terms_of_cut's verdicts
        # The stop words a CJK unigram or bigram may be, as patterns (counts_within).
        self._ngram_stops = _ngram_stops(self._stopwords)
        self._userdict_digest = ""
        self._user_words: dict[str, str] = {}
        if self.settings.userdict is not None and self.settings.userdict.is_file():
            data = self.settings.userdict.read_bytes()
            self._userdict_digest = hashlib.sha256(data).hexdigest()
            self._load_userdict(data)
            log.info("loaded user dictionary %s", self.settings.userdict)

    def _load_userdict(self, data: bytes) -> None:
        """Add the user dictionary's words as jieba's load_userdict does, but keep jieba's frequency total.

        add_word adds each word's frequency to the total every word's probability is divided by, so
        a new word would shift the cut of texts that do not hold it. With the total kept, a text
        without any user word is cut alike whatever the dictionary holds: a changed dictionary only
        means cutting again the passages that hold a word it added, removed or re-weighed (store.py).
        """
        self._jieba.check_initialized()
        total = self._jieba.total
        tags: dict[str, str] = {}
        try:
            lines = data.decode("utf-8").lstrip("\ufeff").splitlines()
        except UnicodeDecodeError as exc:
            raise ValueError(f"user dictionary {self.settings.userdict} must be UTF-8") from exc
        for raw in lines:
            line = raw.strip()
            if not line:
                continue
            word, freq, tag = jieba.re_userdict.match(line).groups()
            self._jieba.add_word(word, freq.strip() if freq else None, tag.strip() if tag else None)
            self._jieba.total = total
            if tag:
                tags[word] = tag.strip()
        # What each word is to jieba once all are loaded (a later line overrides an earlier one).
        self._user_words = {
            w: f"{self._jieba.FREQ[w]} {tags.get(w, '')}".rstrip()
            for w in dict.fromkeys(jieba.re_userdict.match(raw.strip()).group(1) for raw in lines if raw.strip())
        }

    def warm(self) -> None:
        """Load now what the first question would wait for: jieba's dictionary (loaded on first
        use otherwise), its part-of-speech tagger and OpenCC's tables. For a server, to run while
        it connects; a one-shot command has nothing to gain."""
        self.tokens("預熱")
        self._proper_names("预热")  # not remembered: a benchmark's forget_names would not forget it

    def proper_names(self, text: str) -> tuple[tuple[str, str], ...]:
        """The person and place names in text, as jieba's part-of-speech tagger finds them.

        (name, "person" | "place") pairs of the normalised text, in order; single characters are
        left out (the tagger calls a lone 张 or 京 a name). The tagger shares this analyzer's
        dictionary, user words included, and is loaded on first use (it reads the dictionary's tags).
        The last NAMES_KEPT sentences' names are kept: tagging takes milliseconds (an HMM in Python),
        and the passages a bot quotes recur.
        """
        return self._names(text)

    def forget_names(self) -> None:
        """Empty proper_names' memory (benchmarks time the tagging itself)."""
        self._names.cache_clear()

    def _proper_names(self, text: str) -> tuple[tuple[str, str], ...]:
        with _tagger_lock:
            if self._tagger is None:
                self._tagger = _tagger(self._jieba)
        out = []
        for _, piece in _pieces(normalise(text)):
            for pair in self._tagger.cut(piece):
                kind = _NAME_KINDS.get(pair.flag[:2])
                if kind and len(pair.word) > 1:
                    out.append((pair.word, kind))
        return tuple(out)

    @property
    def userdict_digest(self) -> str:
        """sha256 of the user dictionary this analyzer loaded ('' for none)."""
        return self._userdict_digest

    @property
    def user_words(self) -> dict[str, str]:
        """The user dictionary's words, each with what jieba holds of it ("frequency tag"): a word
        whose entry differs between two analyzers cuts the texts that hold it differently."""
        return dict(self._user_words)

    def in_dictionary(self, word: str) -> bool:
        """Whether word is a word of jieba's dictionary (or the user's), not one its HMM glued
        together from single characters (它会, 其花)."""
        return bool(self._jieba.FREQ.get(word))

    @property
    def fingerprint(self) -> str:
        """A short hash of everything that decides the terms; a different one invalidates an index.

        The user dictionary is not part of it: an index records the user words it was built with,
        and a change cuts again only the passages holding a changed word (store.py).
        """
        parts = [
            "v6",  # v6: the user dictionary leaves jieba's frequency total alone, and is out of the key
            jieba.__version__,
            f"stopwords={self.settings.stopwords}",
            f"ngrams={self.settings.ngrams}",
            f"title_repeat={self.settings.title_repeat}",
        ]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]

    def terms(self, text: str) -> list[Term]:
        """Index terms of text, with spans in the normalised text."""
        normalised = normalise(text)
        return self._terms_of_normalised(normalised)

    def _terms_of_normalised(self, normalised: str) -> list[Term]:
        return self._cut_normalised(normalised)[0]

    def _cut_normalised(self, normalised: str, fast: bool = False) -> tuple[list[Term], bytes | None]:
        """The index words of normalised text and its cut: the length of every piece jieba cut it
        into (words, punctuation and spaces alike), one byte each; None if a piece is too long.
        fast: cut with fastcut.py's FastCut where it can be had (the same words, made faster)."""
        out: list[Term] = []
        lengths = bytearray()
        fits = True
        tokenize = self._fast_tokenize() if fast else self._jieba.tokenize
        for offset, piece in _pieces(normalised):
            for word, start, end in tokenize(piece):
                if end - start > _MAX_PIECE:
                    fits = False
                elif fits:
                    lengths.append(end - start)
                if word in self._stopwords or not _is_word(word):
                    continue
                out.append(Term(word, offset + start, offset + end))
        return out, bytes(lengths) if fits else None

    def _fast_tokenize(self) -> Callable[[str], Iterable[tuple[str, int, int]]]:
        """FastCut.tokenize of this analyzer's dictionary, user words included; jieba's own tokenize
        where fastcut.py cannot give the same words."""
        if not self._fast_made:  # asked once per passage: the lock only until the cut is made
            with self._fast_lock:
                if not self._fast_made:
                    self._fast = fast_cut(self._jieba)
                    self._fast_made = True
        return self._jieba.tokenize if self._fast is None else self._fast.tokenize

    def _terms_of_cut(self, normalised: str, cut: bytes) -> list[Term] | None:
        """_terms_of_normalised of a text whose cut was stored when it was indexed: no jieba.
        None if the cut does not fit the text."""
        ends = list(accumulate(cut))
        if (ends[-1] if ends else 0) != len(normalised):
            return None
        # A plain loop making each Term as a tuple, with each piece's verdict kept: a passage read at a
        # question has a hundred pieces, and Term(...), a comprehension over zip and two lookups a
        # piece cost half as much again.
        kept = room(self._kept, _KEPT_PIECES).__getitem__
        out: list[Term] = []
        new = tuple.__new__
        start = 0
        for end in ends:
            word = normalised[start:end]
            if kept(word):
                out.append(new(Term, (word, start, end)))
            start = end
        return out

    def passage_tokens(
        self, title: str, text: str, titles: dict[str, TextParts] | None = None
    ) -> tuple[list[str], bytes | None]:
        """tokens() of a passage's indexed text (its title title_repeat times, then its text, joined by
        newlines; search.indexed_text) and the cut of its text to store (read() takes it back), from
        one jieba pass over the text. titles: parts of titles cut before, filled in as it goes, so an
        article's title is cut once and not twice for each of its paragraphs.

        The tokens are tokens(indexed text)'s, in the same order, whenever cutting the parts alone
        cuts them as the whole would; where that is not certain (characters that normalise with a
        neighbour, a run _pieces would cut), the whole is cut and no cut is stored, as for a text
        that read() normalises otherwise.
        """
        repeat = self.settings.title_repeat
        joined = "\n".join([title] * repeat + [text])
        plain = scrub(text)
        text_norm = _normalise_plain(plain)
        parts = None if titles is None else titles.get(title)
        if parts is None:
            title_norm = normalise(title)
            title_terms, title_cut = self._cut_normalised(title_norm, fast=True)
            parts = replace(self._parts(title_norm, [t.text for t in title_terms]), cut=title_cut)
            if titles is not None:
                titles[title] = parts
        whole = normalise(joined)
        if whole != "\n".join([parts.normalised] * repeat + [text_norm]) or _HARD_CUT.search(whole):
            return self._tokens(whole), None
        terms, cut = self._cut_normalised(text_norm, fast=True)
        own = self._parts(text_norm, [t.text for t in terms])
        # The cut is of the text read() normalises, which is this one but for rare characters.
        same = (len(text_norm) == len(plain) and _fold_one_for_one(plain) is not None) or (
            normalise_with_offsets(text)[0] == text_norm
        )
        return _joined([parts] * repeat + [own]), cut if same else None

    def tokens_of_cut(self, text: str, cut: bytes | None) -> list[str]:
        """tokens(text), from the cut passage_tokens kept of normalise(text) (a title's) where it fits."""
        normalised = normalise(text)
        terms = None if cut is None else self._terms_of_cut(normalised, cut)
        if terms is None:
            return self._tokens(normalised)
        return self._tokens_of_words(normalised, [t.text for t in terms])

    def segments(self, text: str) -> list[str]:
        """jieba's cut of the normalised text with nothing left out (stop words, punctuation kept):
        joined, the pieces are normalise(text). What a reading of the question's grammar needs."""
        return [w for _, piece in _pieces(normalise(text)) for w in self._jieba.lcut(piece)]

    def words(self, text: str) -> list[str]:
        """jieba's words of text (no punctuation, no stop words), in order, repeats kept."""
        return [t.text for t in self.terms(text)]

    def tokens(self, text: str) -> list[str]:
        """The index terms of text: its words, then (with ngrams) its CJK character unigrams and bigrams.

        Repeats are kept: BM25 counts them. N-grams never cross punctuation, Latin or digits; a
        unigram or bigram that is itself a stop word is left out. With ngrams, a Latin or digit
        word is also emitted into both n-gram namespaces.
        """
        return self._tokens(normalise(text))

    def _tokens(self, normalised: str, masked: frozenset[int] = frozenset()) -> list[str]:
        return self._tokens_of_words(normalised, [t.text for t in self._terms_of_normalised(normalised)], masked)

    def _tokens_of_words(self, normalised: str, words: list[str], masked: frozenset[int] = frozenset()) -> list[str]:
        """tokens() of normalised text whose jieba words are known already, for tokens() and
        tokens_within() alike."""
        return _joined([self._parts(normalised, words, masked)])

    def _parts(self, normalised: str, words: list[str], masked: frozenset[int] = frozenset()) -> TextParts:
        """The one place that says what a text's index terms are, by kind (_joined puts them in order)."""
        if not self.settings.ngrams:
            return TextParts(normalised, list(words), [], [], [])
        stop = self._stopwords
        if masked:
            runs = [(m.start(), m.group()) for m in _CJK_RUN.finditer(normalised)]
            unigrams = [
                UNIGRAM + ch for o, run in runs for i, ch in enumerate(run) if ch not in stop and o + i not in masked
            ]
            bigrams = [
                BIGRAM + run[i : i + 2]
                for o, run in runs
                for i in range(len(run) - 1)
                if run[i : i + 2] not in stop and o + i not in masked and o + i + 1 not in masked
            ]
        else:  # every passage: the same n-grams without the offsets a question's mask needs
            plain = _CJK_RUN.findall(normalised)
            unigrams = [UNIGRAM + ch for run in plain for ch in run if ch not in stop]
            pairs = (run[i : i + 2] for run in plain for i in range(len(run) - 1))
            bigrams = [BIGRAM + pair for pair in pairs if pair not in stop]
        # A Latin or digit word (agg01, 1887) would count once where a CJK term counts as word +
        # bigrams + unigrams; in both n-gram namespaces too, it weighs alike.
        latin = [w for w in words if not _CJK_RUN.search(w)]
        return TextParts(normalised, list(words), unigrams, bigrams, latin)

    def query_tokens(self, question: str) -> list[str]:
        """A question's index terms, weighted by repetition: each distinct term twice, but once if it
        is a bigram holding a function character (国的, 是由), which so weighs half as much.

        BM25Okapi sums a query token as often as it is repeated. A word the question itself
        repeats is not more important, so it still counts twice. The interrogative part (哪一个,
        多少) gives no n-grams. Without n-grams, each distinct term counts once.
        """
        # Greetings, politeness and filler say nothing of what is asked (chat.py).
        return self._query_tokens(without_chat(normalise(question)))

    def query_clauses(self, question: str) -> list[Clause]:
        """The clauses of a question (chat taken off), each with its query terms: what the decline
        rule reads to tell the question from talk around it that the chat list does not know."""
        everyday = self._everyday()
        # (clause, its terms, whether it asks, whether it follows a question mark, whether it leans,
        # whether it begins inside a quotation)
        parts = []
        asked = False  # whether a clause before this one ended in a question mark
        depth = 0  # how many quotations are open where the clause begins
        for clause, mark in clauses(without_chat(normalise(question))):
            tokens = frozenset(self._query_tokens(clause))
            follows, asked = asked, asked or mark in _QUESTION_MARKS
            if tokens:
                asks = bool(_INTERROGATIVE.search(clause)) or mark in _QUESTION_MARKS
                parts.append((clause, tokens, asks, follows, self._leans(clause), depth > 0))
            depth = _quotes_open(depth, clause)
        # Whether a clause after each one, up to the first that asks, leans on what comes before it.
        leaned_on, later = [False] * len(parts), False
        for i in range(len(parts) - 1, -1, -1):
            _, _, asks, _, leans, _ = parts[i]
            leaned_on[i] = later
            later = leans or (later and not asks)
        out = []
        for i, (clause, tokens, asks, follows, leans, quoted) in enumerate(parts):
            words = [t for t in tokens if not t.startswith((UNIGRAM, BIGRAM))]
            personal = bool(_PERSONAL.search(clause))
            situated = personal or bool(_HERE_AND_NOW.search(clause))
            # A clause that neither leans on the one before nor is leaned on by a clause after it, up to
            # the question, and is neither a time of the subject's nor a noun phrase, stands apart from
            # the question as a scene set before it does.
            apart = not (
                (i > 0 and leans) or leaned_on[i] or _TIME_FRAME.search(clause.rstrip()) or self._noun_phrase(clause)
            )
            out.append(
                Clause(
                    tokens,
                    asks,
                    len(clause),
                    specific=quoted or bool(_QUOTES.search(clause)) or any(not _CJK_RUN.fullmatch(w) for w in words),
                    everyday=self._all_everyday(words, everyday, situated or apart),
                    personal=personal,
                    afterthought=follows,
                    apart=apart,
                )
            )
        return out

    def _noun_phrase(self, clause: str) -> bool:
        """Whether a clause is a noun phrase, X的Y with Y a few words and no verb among them
        (量子计算机在密码学领域的最新突破): a topic named, not a scene told (周末带孩子逛博物馆被问住了)."""
        _, of, head = clause.strip().rpartition("的")
        words = [w for w in self._jieba.cut(head) if _CJK_RUN.fullmatch(w)]
        told = self._dictionary_words().verbs
        return bool(of and words) and len(words) <= _HEAD_WORDS and not any(w in told for w in words)

    def _leans(self, clause: str) -> bool:
        """Whether a clause begins by leaning on the one before it: with a pronoun pointing back, or
        with a verb, adverb or conjunction and so no subject of its own (归入什么类型的节目). A verb
        that opens a relative clause, whose 的 comes before what is asked, makes the clause's own
        subject (位于卢押道的很多酒吧其客群大部分为？, 采用这种思想的都市规划于何时结束？)."""
        text = clause.strip()
        if _POINTING_BACK.match(text):
            return True
        first = next(iter(self._jieba.cut(text)), "")
        words = self._dictionary_words()
        if first in words.connectives:
            return True
        if first not in words.verbs:
            return False
        asked = _INTERROGATIVE.search(text)
        return "的" not in text[: asked.start() if asked else len(text)]

    def _everyday(self) -> frozenset[str]:
        return self._dictionary_words().everyday

    def _dictionary_words(self) -> DictionaryWords:
        return _dictionary_words(self._jieba.dictionary, self._jieba.cache_folder)

    def _all_everyday(self, words: list[str], everyday: frozenset[str], situated: bool) -> bool:
        """Whether a clause's words are everyday language: every one of them, or, in a clause set in the
        asker's here and now or standing apart from the question (situated), most of them: no more
        words outside everyday language than in it. The dictionary's frequencies come from older,
        written Chinese, in which the words of today's chat are rare (大佬 3, 刷题 –, 摸鱼 3, 问住 3,
        追剧 –, 冒出 3, 打字 74, 见谅 75), so a scene of the asker's may hold a few of them beside the
        everyday words it is told in (追剧追到一半冒出个问题, 手机打字不方便见谅).
        A name or a user word is never let through: it is what a question is about."""
        rare = [w for w in words if not self._is_everyday(w, everyday)]
        if not rare:
            return True
        if not situated or len(rare) > sum(len(w) > 1 for w in words) - len(rare):
            return False
        names = self._dictionary_words().proper
        return not any(w in names or w in self._user_words for w in rare)

    def _is_everyday(self, word: str, everyday: frozenset[str]) -> bool:
        if len(word) == 1:
            return True
        if word in self._user_words:
            return False
        if word in everyday:
            return True
        # Traditional 著 is also the aspect particle 着 (閒著, 拿著), which OpenCC's conversion keeps as 著:
        # read as 着 where that makes an everyday word (闲着), so 土著 or 著名 stay what they are.
        if "著" in word and word.replace("著", "着") in everyday:
            return True
        # A word glued to a grammatical character (我查, 有个, 记不住), unless the dictionary has it as a
        # name (不丹). A name jieba makes up (韩遂), a transliteration (柏克沃) or a rare term (密码学)
        # holds none.
        return not _GLUE.isdisjoint(word) and word not in self._dictionary_words().proper

    def _query_tokens(self, normalised: str) -> list[str]:
        if not self.settings.ngrams:
            return list(dict.fromkeys(self._tokens(normalised)))
        masked = frozenset(i for m in _INTERROGATIVE.finditer(normalised) for i in range(m.start(), m.end()))
        distinct = dict.fromkeys(self._tokens(normalised, masked))
        return [
            t
            for t in distinct
            for _ in range(1 if t.startswith(BIGRAM) and not _FUNCTION_CHARS.isdisjoint(t[len(BIGRAM) :]) else 2)
        ]

    def read(self, text: str, cut: bytes | None = None) -> Reading:
        """text normalised with offsets back to the original, and its jieba words. cut: text's cut as
        passage_tokens stored it when text was indexed, which spares jieba (and is ignored if it
        does not fit)."""
        normalised, origin, whole = _normalise_reading(text)
        terms = None if cut is None else self._terms_of_cut(normalised, cut)
        if terms is None:
            terms = self._terms_of_normalised(normalised)
        return Reading(text, normalised, origin, terms, whole)

    def tokens_within(self, reading: Reading, spans: Sequence[tuple[int, int]]) -> list[list[str]]:
        """tokens() of each span (sorted, not overlapping, in the original text) of a text read once.

        Equal, token for token and in order, to tokens() of each span's own text whenever
        the spans end at a character jieba splits at anyway (punctuation, a newline): sentences do,
        so a passage's sentences need one jieba pass, not one each.
        """
        if may_compose(reading.text):
            # read() normalises character by character (to keep offsets), tokens() the whole text,
            # and NFKC joins e + U+0301 into é only in the whole: take each span on its own.
            return [self.tokens(reading.text[start:end]) for start, end in spans]
        return [self._tokens_of_words(text, words) for text, words in _read_within(reading, spans)]

    def counts_within(
        self, reading: Reading, spans: Sequence[tuple[int, int]], wanted: frozenset[str]
    ) -> list[tuple[dict[str, int], int]]:
        """For each span of tokens_within: how often each wanted term is among its tokens (terms it
        holds only) and how many tokens it has, without making the tokens: what the sentence stage
        and the highlighter read of a quoted passage at every question.

        Equal to Counter(tokens) and len(tokens) of tokens_within's lists for every wanted term.
        """
        if may_compose(reading.text) or not self.settings.ngrams:
            return [_counted(tokens, wanted) for tokens in self.tokens_within(reading, spans)]
        stop = self._stopwords
        stop_chars, stop_pairs = self._ngram_stops
        normalised = reading.normalised
        # Only the wanted n-grams the passage holds at all are looked for sentence by sentence.
        chars, pairs, doubled = _wanted_ngrams(wanted, stop)
        chars = [(ch, term) for ch, term in chars if ch in normalised]
        pairs = [(pair, term) for pair, term in pairs if pair in normalised]
        doubled = [(pair, term) for pair, term in doubled if pair in normalised]
        out = []
        held = wanted.__contains__
        for text, words in _read_within(reading, spans):
            counts: dict[str, int] = {}
            length = len(words)
            for word in filter(held, words):
                counts[word] = counts.get(word, 0) + 1
            # A Latin or digit word is in both n-gram namespaces too.
            for word in filterfalse(_has_cjk, words):
                length += 2
                for term in (UNIGRAM + word, BIGRAM + word):
                    if term in wanted:
                        counts[term] = counts.get(term, 0) + 1
            runs = _CJK_RUN.findall(text)
            # Every CJK character is a unigram and every two neighbours a bigram, but stop words.
            cjk = sum(map(len, runs))
            length += cjk - (len(stop_chars.findall(text)) if stop_chars else 0)
            length += cjk - len(runs) - stop_pairs.count(text)
            for ch, term in chars:
                if n := text.count(ch):
                    counts[term] = n
            for pair, term in pairs:
                if n := text.count(pair):
                    counts[term] = n
            for pair, term in doubled:
                if n := _overlapping(text, pair):
                    counts[term] = n
            out.append((counts, length))
        return out

    def counts_of_cut(
        self, text: str, cut: bytes | None, spans: Sequence[tuple[int, int]], wanted: frozenset[str]
    ) -> list[tuple[dict[str, int], int]] | None:
        """counts_within(read(text, cut), spans, wanted) without reading text into terms, in C from the
        cut stored with it: the sentence stage's counts for the first stage's top passages at every
        question. None where that cannot give the same counts (no compiled code, no cut or one of
        another text, n-grams off, a text whose normalised form moves its offsets): then counts_within.
        """
        counted = self.compiled_reading(text, cut)
        if counted is None:
            return None
        normalised, (kept, flags, stop_pairs) = counted
        return compiled.sentence_counts(normalised, cut, spans, kept, wanted, flags, stop_pairs)

    def compiled_reading(self, text: str, cut: bytes | None) -> tuple[str, Counting] | None:
        """text normalised, and _compiled_counting, where the compiled counts can read text from its
        stored cut: they are built, the text has a cut, and normalising keeps its offsets. None where
        not (counts_of_cut, rerank.stage_scores and bags.sentence_bag then do without)."""
        counting = self._compiled_counting() if cut is not None else None
        if counting is None:
            return None
        normalised = normalised_in_place(text)
        return None if normalised is None else (normalised, counting)

    def _compiled_counting(self) -> Counting | None:
        """What the compiled counts (compiled_reading) read besides a text and its cut: whether a piece
        is an index word, and the stop words as _stop_ngram_keys gives them. None where they cannot
        give counts_within's counts: no compiled code, or n-grams off."""
        if compiled is None or not self.settings.ngrams:
            return None
        return (room(self._kept, _KEPT_PIECES), *_stop_ngram_keys(self._stopwords))

    def spans(self, text: str, wanted: set[str]) -> list[tuple[int, int]]:
        """Character spans of the original text whose words or bigrams are in `wanted`, merged and sorted.

        Unigram matches are not marked: a single common character lit up all over a passage hides
        the words that matter.
        """
        return self.matches(text, wanted)[1]

    def matches(self, text: str | Reading, wanted: set[str]) -> tuple[set[str], list[tuple[int, int]]]:
        """The words of `wanted` that text holds, and spans() of text: one segmentation for both,
        which a search needs for every passage it quotes. text may be read() already."""
        reading = text if isinstance(text, Reading) else self.read(text)
        normalised, origin = reading.normalised, reading.origin
        words: set[str] = set()
        spans: list[tuple[int, int]] = []
        for term in reading.terms:
            if term.text in wanted and term.end > term.start:
                words.add(term.text)
                spans.append((origin[term.start], origin[term.end - 1] + 1))
        # Each wanted bigram of two CJK characters wherever it occurs (overlaps too): two neighbouring
        # CJK characters are always in one run, so these are the run's bigrams that are wanted.
        for term in wanted:
            if term.startswith(BIGRAM) and _CJK_RUN.fullmatch(pair := term[len(BIGRAM) :]) and len(pair) == 2:
                start = normalised.find(pair)
                while start >= 0:
                    spans.append((origin[start], origin[start + 1] + 1))
                    start = normalised.find(pair, start + 1)
        return words, merge_spans(spans)


def _tagger(tokenizer: CachedTokenizer) -> jieba.posseg.POSTokenizer:
    """jieba's part-of-speech tagger over tokenizer's dictionary (and user words), with tagger.py's
    faster Viterbi.

    jieba.posseg is imported here, not with this module: only a question asking for a name needs
    it, and importing it makes a default tagger that reads all of dict.txt for its word tags (a
    third of a second; dictionary.import_posseg gives it the tags from our cache instead). A
    POSTokenizer of our own would read dict.txt for the same tags again; it copies the default
    tagger's instead when both are over the same dictionary (a tagger adds the user words' tags to
    its own table on first use, so each needs its own copy).
    """
    import_posseg(tokenizer.word_tags)
    import jieba.posseg as posseg

    from .tagger import FastPOSTokenizer  # imports jieba.posseg: after import_posseg only

    default = posseg.dt
    if default.tokenizer.dictionary != tokenizer.dictionary:
        return FastPOSTokenizer(tokenizer)

    class SharedTags(FastPOSTokenizer):
        def __init__(self) -> None:  # POSTokenizer's own would read dict.txt
            self.tokenizer = tokenizer
            self.word_tag_tab = dict(default.word_tag_tab)

    return SharedTags()


def _pieces(text: str, limit: int = MAX_JIEBA_RUN) -> Iterator[tuple[int, str]]:
    """text in pieces of at most limit characters, with their offsets.

    A piece ends after a character jieba splits at anyway (punctuation, space: anything but CJK,
    Latin and digits) when there is one in its second half, so prose is segmented as a whole.
    """
    start = 0
    while len(text) - start > limit:
        end = start + limit
        breaks = _JIEBA_BREAK.search(text[start + limit // 2 : end][::-1])
        if breaks:
            end -= breaks.start()
        yield start, text[start:end]
        start = end
    if start < len(text):
        yield start, text[start:]


def _read_within(reading: Reading, spans: Sequence[tuple[int, int]]) -> Iterator[tuple[str, list[str]]]:
    """For each span (sorted, not overlapping, in the original text) of a text read once, its part of
    the normalised text and the words in that part."""
    words = [term.text for term in reading.terms]
    starts = [term.start for term in reading.terms]
    origin = reading.origin
    for start, end in spans:
        # origin and the terms' starts never decrease, so a span's part and its words are found by bisection.
        lo, hi = bisect.bisect_left(origin, start), bisect.bisect_left(origin, end)
        yield reading.normalised[lo:hi], words[bisect.bisect_left(starts, lo) : bisect.bisect_left(starts, hi)]


class _KeptPieces(dict[str, bool]):
    """Whether each piece of a cut is an index word (not a stop word, not punctuation or space), worked
    out on first sight: a dictionary lookup a piece."""

    def __init__(self, stopwords: frozenset[str]) -> None:
        super().__init__()
        self.stopwords = stopwords

    def __missing__(self, piece: str) -> bool:
        kept = self[piece] = piece not in self.stopwords and _is_word(piece)
        return kept


class _StopPairs:
    """Counts the CJK bigrams of a text that are stop words, overlaps counted."""

    def __init__(self, stopwords: frozenset[str]) -> None:
        self.pairs = frozenset(w for w in stopwords if len(w) == 2 and _CJK_RUN.fullmatch(w))
        # Only where a stop word's first character stands before one's second need looking at.
        firsts = "".join(sorted({w[0] for w in self.pairs}))
        seconds = "".join(sorted({w[1] for w in self.pairs}))
        self.pattern = re.compile(f"(?=([{firsts}][{seconds}]))") if self.pairs else None

    def count(self, text: str) -> int:
        if self.pattern is None:
            return 0
        return sum(map(self.pairs.__contains__, self.pattern.findall(text)))


def _stop_chars(stopwords: frozenset[str]) -> list[str]:
    """The stop words a CJK unigram may be, sorted."""
    return sorted(w for w in stopwords if len(w) == 1 and _CJK_RUN.fullmatch(w))


@cache
def _ngram_stops(stopwords: frozenset[str]) -> tuple[re.Pattern[str] | None, _StopPairs]:
    """The stop words a CJK unigram may be, as a pattern (None for none), and those a bigram may be."""
    ones = _stop_chars(stopwords)
    chars = re.compile("[" + "".join(map(re.escape, ones)) + "]") if ones else None
    return chars, _StopPairs(stopwords)


@lru_cache(maxsize=64)  # one per question: the stage and the highlighter read every passage with the same set
def _wanted_ngrams(
    wanted: frozenset[str], stop: frozenset[str]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
    """The CJK unigrams, bigrams of two characters and bigrams of one character twice (的的, counted
    over their overlaps) that wanted asks for and that are not stop words, each with its term."""
    chars, pairs, doubled = [], [], []
    for term in wanted:
        if term.startswith(UNIGRAM):
            ch = term[len(UNIGRAM) :]
            if _CJK_RUN.fullmatch(ch) and ch not in stop:
                chars.append((ch, term))
        elif term.startswith(BIGRAM):
            pair = term[len(BIGRAM) :]
            if len(pair) == 2 and _CJK_RUN.fullmatch(pair) and pair not in stop:
                (doubled if pair[0] == pair[1] else pairs).append((pair, term))
    return chars, pairs, doubled


def normalised_in_place(text: str) -> str | None:
    """normalise(text) when each of its characters stays at its offset (the usual case: read()'s
    whole), else None; without the offsets list read() makes."""
    folded = _fold_one_for_one(scrub(text))
    if folded is None:
        return None
    simplified = _to_simplified(folded)
    return simplified if len(simplified) == len(folded) else None


def _pair_key(pair: str) -> int:
    return ord(pair[0]) << 32 | ord(pair[1])


@cache
def _stop_ngram_keys(stopwords: frozenset[str]) -> tuple[np.ndarray, np.ndarray]:
    """The stop words a CJK unigram or bigram may be (_ngram_stops), for C: a byte of flags per
    character of the Basic Multilingual Plane, where all CJK characters are (1: a stop word alone,
    2: the first of a stop word of two), and the stop words of two as sorted keys."""
    pairs = _ngram_stops(stopwords)[1].pairs
    flags = np.zeros(0x10000, dtype=np.uint8)
    flags[np.array([ord(w) for w in _stop_chars(stopwords)], dtype=np.int64)] |= 1
    flags[np.array([ord(w[0]) for w in pairs], dtype=np.int64)] |= 2
    return flags, np.array(sorted(map(_pair_key, pairs)), dtype=np.uint64)


def _counted(tokens: list[str], wanted: frozenset[str]) -> tuple[dict[str, int], int]:
    counts: dict[str, int] = {}
    for token in tokens:
        if token in wanted:
            counts[token] = counts.get(token, 0) + 1
    return counts, len(tokens)


def _overlapping(text: str, pair: str) -> int:
    """How often pair occurs in text, overlaps counted (的的 twice in 的的的), as bigrams are."""
    if pair[0] != pair[1]:
        return text.count(pair)
    n, i = 0, text.find(pair)
    while i >= 0:
        n += 1
        i = text.find(pair, i + 1)
    return n


def merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sort spans and join those that touch or overlap."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
