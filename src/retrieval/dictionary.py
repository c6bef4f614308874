"""jieba's dictionary (FREQ and total, and the tagger's word tags) in a cache of ours that loads fast.

jieba's own cache is a marshal dump of its FREQ dict, which takes about 0.6 s to load: the better part
of a `wenda ask`. Ours holds the same entries as one UTF-8 block of words and one array of
frequencies, so loading is a split and a `dict(zip(...))` in C (~0.15 s). What jieba segments with is
an equal dict, entry for entry, so segmentation (which every index is keyed on) cannot differ.
Importing jieba.posseg reads dict.txt whole for its word tags (~0.35 s); the cache holds those too.
The word classes the question reader derives from dict.txt (text.py: everyday words, names, verbs,
connectives; 0.4 s of reading, on the first question of two clauses or more) have a cache file of
their own, one per set of rules that derives them, so installs with other rules do not take turns.

The cache is made from whatever jieba's own `initialize` loads, the first time a tokenizer needs it,
and is made again whenever it no longer fits: another jieba version (part of the file name) or
another dict.txt (its size, mtime and, if those moved, its content hash are in the header). It is
written whole under a temporary name and renamed into place, and it carries a checksum of its body:
a torn, damaged or foreign file is logged in one line and jieba's own load is used instead (which
then writes the cache anew). Where the cache lives is the caller's choice (`cache_folder`).
"""

from __future__ import annotations

import array
import contextlib
import importlib
import io
import json
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import IO

import xxhash


def _import_jieba() -> ModuleType:
    """jieba, imported without pkg_resources.

    jieba finds its data files through pkg_resources where it can import it, else by path, which
    is the same file for any installed jieba. Where setuptools is old enough to ship pkg_resources
    (Python 3.11's own venvs), importing it costs every start a tenth of a second or more. Unless
    something imported it already, it is hidden for jieba's import only: jieba then opens files by
    path, and anything later in the process can still import pkg_resources.
    """
    if "jieba" in sys.modules or "pkg_resources" in sys.modules:
        return importlib.import_module("jieba")
    sys.modules["pkg_resources"] = None  # type: ignore[assignment]  # import raises ImportError
    try:
        return importlib.import_module("jieba")
    finally:
        if sys.modules.get("pkg_resources", False) is None:
            del sys.modules["pkg_resources"]


jieba = _import_jieba()
log = logging.getLogger(__name__)

# 1: a JSON header line, then the words joined by "\n" in UTF-8 (those with a tag first), their
# frequencies as int64 little-endian, and the tags of the first words joined by "\n".
FORMAT = 1
MAGIC = b"wenda-jieba-dict\n"
# 1: a JSON header line (with the rules and each class's size in bytes), then each class's words
# joined by "\n" in UTF-8, one class after the other.
CLASSES_FORMAT = 1
CLASSES_MAGIC = b"wenda-jieba-classes\n"


def source() -> Path:
    """jieba's default dictionary file (what jieba's cache, and ours, are made from)."""
    return Path(jieba.__file__).with_name(jieba.DEFAULT_DICT_NAME)


def cache_file(folder: Path) -> Path:
    """The cache of jieba's default dictionary in folder: one per jieba version, so two installs
    of different versions sharing a folder do not keep replacing each other's."""
    return folder / f"jieba-{jieba.__version__}.dict"


def cache_folder(fallback: Path | None = None) -> Path | None:
    """Where to keep the cache: the user's cache folder ($XDG_CACHE_HOME/wenda or ~/.cache/wenda) if it
    can be written; else fallback (the corpus's .wenda folder, for a service whose home is
    read-only), if it can be; else None (no cache: jieba's own load every time)."""
    candidates = []
    try:
        candidates.append(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "wenda")
    except RuntimeError as exc:  # no home folder to be found
        log.info("no user cache folder: %s", exc)
    if fallback is not None:
        candidates.append(fallback)
    for folder in candidates:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK):
            return folder
    return None


def _source_stamp(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _digest(path: Path) -> str:
    with open(path, "rb") as fh:
        return xxhash.xxh3_128(fh.read()).hexdigest()


def word_tags(dict_file: Path) -> dict[str, str]:
    """The part-of-speech tag of every word of dict_file, as jieba.posseg reads them (a later line
    wins). Raises ValueError for a line without one, as jieba.posseg does."""
    tags: dict[str, str] = {}
    with open(dict_file, "rb") as fh:
        for number, raw in enumerate(fh, 1):
            line = raw.strip().decode("utf-8")
            if not line:
                continue
            try:
                word, _, tag = line.split(" ")
            except ValueError:
                raise ValueError(f"{dict_file} line {number} has no part-of-speech tag") from None
            tags[word] = tag
    return tags


class DamagedCache(ValueError):
    """The cache file exists but cannot be used: torn, corrupt, or not ours."""


@dataclass(frozen=True)
class Cached:
    """What a cache file held: jieba's FREQ and total, and the word tags if asked for (None if the
    cache has none)."""

    freq: dict[str, int]
    total: int
    tags: dict[str, str] | None


@contextlib.contextmanager
def _malformed_is_damage() -> Iterator[None]:
    """Reports what parsing a malformed cache file raises as DamagedCache (json's errors and
    UnicodeDecodeError are ValueErrors; a field of the wrong type raises TypeError or AttributeError)."""
    try:
        yield
    except DamagedCache:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DamagedCache(f"{type(exc).__name__}: {exc}") from None


def _body(path: Path, dict_file: Path, magic: bytes, version: int) -> tuple[dict, memoryview] | None:
    """The header and checked body of a cache file of ours; None if there is none, or it is of another
    format, jieba or dict.txt (stale). Raises DamagedCache (or OSError) if it cannot be read."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not data.startswith(magic):
        raise DamagedCache("not a wenda dictionary cache")
    end = data.find(b"\n", len(magic))
    with _malformed_is_damage():
        header = json.loads(data[len(magic) : end])
        if header["format"] != version or header["jieba"] != jieba.__version__:
            return None
        # dict.txt as it was when the cache was written, or with the same content: another install of
        # the same jieba, whose cache this may share (rewriting it for each would have them take turns).
        if header["source"] != _source_stamp(dict_file) and header["source_xxh3"] != _digest(dict_file):
            return None
        body = memoryview(data)[end + 1 :]
        if xxhash.xxh3_128_hexdigest(body) != header["body_xxh3"]:
            raise DamagedCache("its checksum does not match")
    return header, body


def _save(path: Path, dict_file: Path, magic: bytes, version: int, fields: dict, body: bytes) -> None:
    """Write a cache file of ours atomically (whole, or not at all): its header, fields added, and body."""
    header = {
        "format": version,
        "jieba": jieba.__version__,
        "source": _source_stamp(dict_file),
        "source_xxh3": _digest(dict_file),
        **fields,
        "body_xxh3": xxhash.xxh3_128_hexdigest(body),
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(magic + json.dumps(header).encode() + b"\n" + body)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would keep other users of a shared folder to jieba's load
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read(path: Path, dict_file: Path, *, freq: bool = True, tags: bool = False) -> Cached | None:
    """The cache at path (FREQ unless freq=False, the tags if tags=True); None if there is none, or it
    is for another dict.txt or jieba (stale: to be made again). Raises DamagedCache (or OSError) if
    it cannot be read."""
    found = _body(path, dict_file, MAGIC, FORMAT)
    if found is None:
        return None
    header, body = found
    with _malformed_is_damage():
        entries, words_bytes, total = header["entries"], header["words_bytes"], header["total"]
        if not isinstance(total, int) or len(body) != words_bytes + 8 * entries + header["tags_bytes"]:
            raise DamagedCache("its parts do not add up")
        loaded_freq = None
        if freq:
            words = str(body[:words_bytes], "utf-8").split("\n") if entries else []
            freqs = array.array("q")
            freqs.frombytes(body[words_bytes : words_bytes + 8 * entries])
            if sys.byteorder != "little":
                freqs.byteswap()
            if len(words) != entries:
                raise DamagedCache("its words and frequencies do not match")
            loaded_freq = dict(zip(words, freqs, strict=True))
        loaded_tags = None
        if tags and header["tags"]:
            tagged = str(body[: header["tagged_bytes"]], "utf-8").split("\n") if header["tagged"] else []
            # One string per tag (there are a few dozen), not one per word: 17 MB less of a serving process.
            names = str(body[words_bytes + 8 * entries :], "utf-8").split("\n") if header["tagged"] else []
            names = list(map(sys.intern, names))
            if len(tagged) != header["tagged"] or len(names) != len(tagged):
                raise DamagedCache("its words and tags do not match")
            loaded_tags = dict(zip(tagged, names, strict=True))
    return Cached(loaded_freq or {}, total, loaded_tags)


def write(path: Path, dict_file: Path, freq: dict[str, int], total: int, tags: dict[str, str] | None) -> None:
    """Write the cache of (FREQ, total) and the word tags (None: none to cache) atomically: whole, or
    not at all. Raises OSError, or ValueError for what the format cannot hold (a word with a newline,
    a tag of a word not in FREQ) and OverflowError for a frequency past 2**63."""
    tagged = [w for w in freq if w in tags] if tags else []
    if tags and len(tagged) != len(tags):
        raise ValueError("a tagged word is not in the dictionary")
    order = [*tagged, *(w for w in freq if not tags or w not in tags)]
    words = "\n".join(order).encode("utf-8")
    if order and words.count(b"\n") != len(order) - 1:
        raise ValueError("a dictionary word holds a newline")
    tagged_bytes = len("\n".join(tagged).encode("utf-8"))
    names = "\n".join(tags[w] for w in tagged).encode("utf-8")
    if tagged and names.count(b"\n") != len(tagged) - 1:
        raise ValueError("a tag holds a newline")
    freqs = array.array("q", (freq[w] for w in order))
    if sys.byteorder != "little":
        freqs.byteswap()
    fields = {
        "total": total,
        "entries": len(order),
        "words_bytes": len(words),
        "tags": tags is not None,
        "tagged": len(tagged),
        "tagged_bytes": tagged_bytes,
        "tags_bytes": len(names),
    }
    _save(path, dict_file, MAGIC, FORMAT, fields, words + freqs.tobytes() + names)


@dataclass(frozen=True)
class Classes:
    """Word classes a caller derives from a jieba dictionary's lines, and the rules that derive them
    (naming every setting they depend on): classes cached under other rules are not these."""

    rules: str
    classify: Callable[[list[str]], dict[str, list[str]]]

    def of_file(self, dict_file: IO[bytes]) -> dict[str, list[str]]:
        """The classes of the dictionary dict_file holds; closes dict_file."""
        with dict_file:
            return self.classify(dict_file.read().decode("utf-8").splitlines())


def classes_file(folder: Path, rules: str) -> Path:
    """The cache of the word classes derived under rules from jieba's default dictionary, in folder."""
    return folder / f"jieba-{jieba.__version__}.classes-{xxhash.xxh3_64_hexdigest(rules.encode())}"


def read_classes(path: Path, dict_file: Path, rules: str) -> dict[str, list[str]] | None:
    """The word classes cached at path under rules; None if there are none, or they are stale (another
    dict.txt, jieba or rules). Raises DamagedCache (or OSError) if they cannot be read."""
    found = _body(path, dict_file, CLASSES_MAGIC, CLASSES_FORMAT)
    if found is None or found[0].get("rules") != rules:
        return None
    header, body = found
    with _malformed_is_damage():
        classes, start = {}, 0
        for name, size in header["bytes"].items():
            block = str(body[start : start + size], "utf-8")
            classes[name] = block.split("\n") if block else []
            start += size
    if start != len(body):
        raise DamagedCache("its parts do not add up")
    return classes


def write_classes(path: Path, dict_file: Path, rules: str, classes: dict[str, list[str]]) -> None:
    """Write the word classes derived under rules atomically. Raises OSError, or ValueError for a word
    the format cannot hold (empty, or with a newline)."""
    blocks = {name: "\n".join(words).encode("utf-8") for name, words in classes.items()}
    for name, words in classes.items():
        if not all(words) or blocks[name].count(b"\n") != max(0, len(words) - 1):
            raise ValueError(f"a word of class {name} is empty or holds a newline")
    fields = {"rules": rules, "bytes": {name: len(block) for name, block in blocks.items()}}
    _save(path, dict_file, CLASSES_MAGIC, CLASSES_FORMAT, fields, b"".join(blocks.values()))


class CachedTokenizer(jieba.Tokenizer):
    """A jieba Tokenizer whose default dictionary is loaded from our cache in `folder`.

    jieba loads its dictionary lazily, through `initialize`, whatever is asked first (a cut, add_word,
    suggest_freq); this is the one place that changes. Without a folder it is jieba's Tokenizer.
    """

    def __init__(self, folder: Path | None) -> None:
        super().__init__()
        self.cache_folder = folder
        if folder is not None:
            # jieba's own cache (written when it loads from dict.txt) defaults to /tmp/jieba.cache,
            # which may belong to another user: then every such load logs a "Dump cache file failed".
            self.tmp_dir = str(folder)

    def _cached(self) -> tuple[Path, Path] | None:
        """(our cache file, dict.txt) if this tokenizer's dictionary is jieba's default one, cached."""
        if self.dictionary != jieba.DEFAULT_DICT or self.cache_folder is None:
            return None
        dict_file = source()
        if not dict_file.is_file():  # jieba installed zipped: nothing to key a cache on
            return None
        return cache_file(self.cache_folder), dict_file

    def initialize(self, dictionary: str | None = None) -> None:
        where = None if dictionary else self._cached()
        if where is None:
            super().initialize(dictionary)
            return
        path, dict_file = where
        with self.lock:
            if self.initialized:
                return
            try:
                cached = read(path, dict_file)
            except (OSError, DamagedCache) as exc:
                log.warning("jieba dictionary cache %s unusable (%s); loading jieba's own", path, exc)
                cached = None
            if cached is not None:
                self.FREQ, self.total = cached.freq, cached.total
                self.initialized = True
                return
            super().initialize()
            try:
                tags = word_tags(dict_file)
            except (OSError, ValueError) as exc:
                log.info("jieba's word tags not cached: %s", exc)
                tags = None
            try:
                write(path, dict_file, self.FREQ, self.total, tags)
            except (OSError, ValueError, OverflowError) as exc:
                log.info("jieba dictionary cache not written to %s: %s", path, exc)

    def word_classes(self, classes: Classes) -> dict[str, list[str]]:
        """classes of this tokenizer's dictionary: from their cache file if it holds them, else derived
        from dict.txt (and cached, for the next process)."""
        where = self._cached()
        if where is None or self.cache_folder is None:
            return classes.of_file(self.get_dict_file())
        dict_file = where[1]
        path = classes_file(self.cache_folder, classes.rules)
        try:
            found = read_classes(path, dict_file, classes.rules)
        except (OSError, DamagedCache) as exc:
            log.warning("word class cache %s unusable (%s); reading them from %s", path, exc, dict_file)
            found = None
        if found is not None:
            return found
        made = classes.of_file(open(dict_file, "rb"))  # noqa: SIM115 (of_file closes it)
        try:
            write_classes(path, dict_file, classes.rules, made)
        except (OSError, ValueError) as exc:
            log.info("word class cache not written to %s: %s", path, exc)
        return made

    def word_tags(self) -> dict[str, str] | None:
        """The word tags of jieba's default dictionary from the cache; None where there are none to
        be had from it (then jieba.posseg reads dict.txt, as it does)."""
        where = self._cached()
        if where is None:
            return None
        try:
            cached = read(*where, freq=False, tags=True)
        except (OSError, DamagedCache) as exc:
            log.warning("jieba dictionary cache %s unusable (%s); jieba reads its word tags", where[0], exc)
            return None
        return cached.tags if cached is not None else None


_posseg_lock = threading.Lock()


def import_posseg(tags: Callable[[], dict[str, str] | None]) -> ModuleType:
    """jieba.posseg; on its first import, with its default tagger's word tags from tags() (if it has
    them) rather than read from dict.txt.

    Importing jieba.posseg makes a default tagger, which reads dict.txt whole for the word tags
    (a third of a second). With the tags at hand, jieba's default tokenizer hands that tagger an
    empty file for the import's duration, and the tagger gets the tags after: the same table.
    jieba's tokenizer lock is held meanwhile, so no load of its own dictionary can see that file.
    """
    with _posseg_lock:
        if "jieba.posseg" not in sys.modules and (table := tags()) is not None:
            with jieba.dt.lock:
                jieba.dt.get_dict_file = lambda: io.BytesIO()
                try:
                    posseg = importlib.import_module("jieba.posseg")
                finally:
                    del jieba.dt.get_dict_file
                posseg.dt.word_tag_tab = table
    return importlib.import_module("jieba.posseg")
