"""jieba's dictionary from our cache: the very dictionary jieba loads, so every cut is the same; remade when stale."""

from __future__ import annotations

import logging
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import jieba
import pytest

from wenda.retrieval import dictionary, text
from wenda.retrieval.dictionary import CachedTokenizer, cache_file, cache_folder
from wenda.retrieval.text import Analyzer, TextSettings

# With and without a frequency or a tag; a name the tagger should see; Latin and digits.
USER_WORDS = ("城市副中心 50 n", "运河公园", "数据要素红利 3000", "鸿蒙 nz", "田俊 20 nr", "kx003p1 9", "副市长田俊")
PUNCTUATION = "，。！？、；：“”‘’（）《》【】—…·-.%#&+_ \n\t"


@pytest.fixture(scope="module")
def stock() -> jieba.Tokenizer:
    """A tokenizer that loaded jieba's dictionary jieba's own way."""
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user cache folder ($XDG_CACHE_HOME/wenda) holding the cache, made by a first load."""
    home = tmp_path_factory.mktemp("xdg") / "wenda"
    home.mkdir()
    CachedTokenizer(home).initialize()
    assert cache_file(home).is_file()
    return home


@pytest.fixture(scope="module")
def cached(folder: Path) -> jieba.Tokenizer:
    """A tokenizer that loaded the dictionary from the cache, without jieba's own load."""
    tokenizer = CachedTokenizer(folder)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jieba.Tokenizer, "initialize", _not_called)
        tokenizer.initialize()
    return tokenizer


@pytest.fixture
def fast_jieba(stock: jieba.Tokenizer, monkeypatch: pytest.MonkeyPatch) -> None:
    """jieba's own load (what a tokenizer falls back to) gives a copy of stock's dictionary: the same
    one, without taking a second. Unlike conftest's, it leaves CachedTokenizer's own load alone."""

    def copy(self: jieba.Tokenizer, dictionary: str | None = None) -> None:
        with self.lock:
            self.FREQ, self.total, self.initialized = dict(stock.FREQ), stock.total, True

    monkeypatch.setattr(jieba.Tokenizer, "initialize", copy)


def _not_called(*args: object) -> None:
    raise AssertionError("jieba's own load was used")


def _sentences(freq: dict[str, int], extra: tuple[str, ...] = (), n: int = 3000) -> list[str]:
    """n sentences mixing dictionary words, prefixes of words, unknown runs of characters (jieba's HMM
    guesses those), rare and Traditional characters, Latin, digits, punctuation and `extra` words."""
    rnd = random.Random(18)
    words = [w for w, f in freq.items() if f]
    prefixes = [w for w, f in freq.items() if not f]
    pieces = (
        (5, lambda: rnd.choice(words)),
        (1, lambda: rnd.choice(prefixes)),
        (3, lambda: "".join(chr(rnd.randint(0x4E00, 0x9FA5)) for _ in range(rnd.randint(1, 6)))),
        (0.5, lambda: chr(rnd.choice([rnd.randint(0x3400, 0x4DBF), rnd.randint(0x9FD6, 0x9FFF), 0x20000]))),
        (0.5, lambda: rnd.choice(["學習貫徹", "政務服務", "臺灣", "發展", "ＡＢＣ１２３", "😀", "é"])),
        (1, lambda: rnd.choice(["Python", "IDC", "5G", "3.14", "45%", "C++", "a-b", "#tag", "2024年", "x_1"])),
        (1.5, lambda: rnd.choice(PUNCTUATION)),
        (1 if extra else 0, lambda: rnd.choice(extra)),
    )
    weights = [w for w, _ in pieces]
    out = []
    for _ in range(n):
        chosen = rnd.choices(pieces, weights, k=rnd.randint(1, 30))
        out.append("".join(make() for _, make in chosen))
    return out


def test_the_cache_holds_jiebas_own_dictionary(cached: jieba.Tokenizer, stock: jieba.Tokenizer):
    assert cached.total == stock.total
    assert cached.FREQ == stock.FREQ


def test_the_cache_holds_the_word_tags_jiebas_tagger_reads(folder: Path, stock: jieba.Tokenizer):
    import jieba.posseg

    assert CachedTokenizer(folder).word_tags() == jieba.posseg.POSTokenizer(stock).word_tag_tab


def test_jiebas_tagger_imported_with_the_cached_tags_has_its_own_tags(folder: Path):
    # A new interpreter: the first import of jieba.posseg is the one given the tags.
    code = """
import sys
from pathlib import Path
import jieba
from wenda.retrieval.dictionary import CachedTokenizer, import_posseg
reads = []
real = jieba.Tokenizer.get_dict_file
jieba.Tokenizer.get_dict_file = lambda self: reads.append(self) or real(self)
posseg = import_posseg(CachedTokenizer(Path(sys.argv[1])).word_tags)
assert not reads and "get_dict_file" not in vars(jieba.dt)
assert posseg.dt.word_tag_tab == posseg.POSTokenizer(jieba.Tokenizer()).word_tag_tab
assert len(reads) == 1
"""
    done = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_sentences_are_cut_as_stock_jieba_cuts_them(cached: jieba.Tokenizer, stock: jieba.Tokenizer):
    for sentence in _sentences(stock.FREQ):
        assert list(cached.tokenize(sentence)) == list(stock.tokenize(sentence)), sentence
        assert cached.lcut(sentence, HMM=False) == stock.lcut(sentence, HMM=False), sentence
    for sentence in _sentences(stock.FREQ, n=300):
        assert list(cached.tokenize(sentence, mode="search")) == list(stock.tokenize(sentence, mode="search"))


def test_user_words_cut_alike_on_the_cache_and_on_jiebas_load(
    folder: Path, stock: jieba.Tokenizer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    userdict = tmp_path / "userdict.txt"
    userdict.write_text("\n".join(USER_WORDS) + "\n", encoding="utf-8")
    settings = TextSettings(userdict=userdict)
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder.parent))
    with monkeypatch.context() as patch:
        patch.setattr(jieba.Tokenizer, "initialize", _not_called)
        ours = Analyzer(settings)
    monkeypatch.setattr(text, "cache_folder", lambda fallback=None: None)  # jieba's own load
    theirs = Analyzer(settings)

    assert ours.user_words == theirs.user_words
    words = tuple(line.split()[0] for line in USER_WORDS)
    sentences = _sentences(stock.FREQ, extra=words, n=1000)
    for sentence in sentences:
        assert ours.tokens(sentence) == theirs.tokens(sentence), sentence
    for sentence in sentences[:100]:  # the tagger (slow: an HMM in Python) shares the dictionary
        assert ours.proper_names(sentence) == theirs.proper_names(sentence), sentence


def _classes_from_dict_txt() -> dict[str, list[str]]:
    return text._classify(dictionary.source().read_text("utf-8").splitlines())


@pytest.fixture(scope="module")
def classes_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder holding the question reader's word classes, cached by a first reading."""
    home = tmp_path_factory.mktemp("classes")
    CachedTokenizer(home).word_classes(text._word_classes())
    assert dictionary.classes_file(home, text._word_classes().rules).is_file()
    return home


def test_the_question_readers_word_classes_come_from_their_cache_as_from_dict_txt(
    classes_folder: Path, monkeypatch: pytest.MonkeyPatch
):
    expected = _classes_from_dict_txt()
    assert all(expected.values()) and "博物馆" in expected["everyday"] and "北京" in expected["proper"]
    monkeypatch.setattr(text, "_classify", _not_called)  # dict.txt is not read again
    text._dictionary_words.cache_clear()
    try:
        words = text._dictionary_words(None, classes_folder)
    finally:
        text._dictionary_words.cache_clear()

    assert CachedTokenizer(classes_folder).word_classes(text._word_classes()) == expected
    assert words.everyday == frozenset(expected["everyday"]) and words.proper == frozenset(expected["proper"])
    assert [w for w in expected["verbs"] if w not in words.verbs] == []
    assert [w for w in expected["connectives"] if w not in words.connectives] == []
    assert len(words.verbs) == len(expected["verbs"]) and len(words.connectives) == len(expected["connectives"])


def test_word_classes_under_other_rules_have_a_cache_of_their_own(classes_folder: Path, tmp_path: Path):
    for path in classes_folder.iterdir():
        shutil.copyfile(path, tmp_path / path.name)
    made = []

    def classify(lines: list[str]) -> dict[str, list[str]]:
        made.append(len(lines))
        return {"long": sorted({line.split()[0] for line in lines if len(line.split()[0]) >= 7})}

    other = dictionary.Classes("seven characters or more", classify)
    first = CachedTokenizer(tmp_path).word_classes(other)
    again = CachedTokenizer(tmp_path).word_classes(other)
    ours = CachedTokenizer(tmp_path).word_classes(text._word_classes())

    assert first == again and "中华人民共和国" in first["long"] and len(made) == 1  # cached after the first
    assert ours == _classes_from_dict_txt()  # still there: two sets of rules do not take turns
    assert len(list(tmp_path.iterdir())) == 2


def test_a_damaged_word_class_cache_gives_them_from_dict_txt_with_one_log_line(
    classes_folder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    rules = text._word_classes().rules
    path = dictionary.classes_file(tmp_path, rules)
    shutil.copyfile(dictionary.classes_file(classes_folder, rules), path)
    _flip_last_byte(path)

    with caplog.at_level(logging.INFO):
        classes = CachedTokenizer(tmp_path).word_classes(text._word_classes())

    assert classes == _classes_from_dict_txt()
    (line,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert str(path) in line.getMessage()
    assert dictionary.read_classes(path, dictionary.source(), rules) == classes  # and written anew


def test_word_classes_of_another_dict_txt_are_made_again(
    classes_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    source = tmp_path / "dict.txt"
    source.write_text("新加的词 300 v\n另一个词 5 n\n", encoding="utf-8")
    monkeypatch.setattr(dictionary, "source", lambda: source)
    rules = text._word_classes().rules
    shutil.copyfile(dictionary.classes_file(classes_folder, rules), dictionary.classes_file(tmp_path, rules))

    classes = CachedTokenizer(tmp_path).word_classes(text._word_classes())

    assert classes == {"everyday": ["新加的词"], "proper": [], "verbs": ["新加的词"], "connectives": []}


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))


DAMAGE = {
    "flipped byte": _flip_last_byte,
    "truncated": lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]),
    "not ours": lambda path: path.write_bytes(b"\x00" * 4096),
    "broken header": lambda path: path.write_bytes(dictionary.MAGIC + b'{"format": 1, \n' + b"x" * 100),
}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_a_damaged_cache_falls_back_to_jiebas_load_with_one_log_line(
    damage, folder: Path, stock: jieba.Tokenizer, tmp_path: Path, caplog: pytest.LogCaptureFixture, fast_jieba: None
):
    path = cache_file(tmp_path)
    shutil.copyfile(cache_file(folder), path)
    damage(path)
    tokenizer = CachedTokenizer(tmp_path)

    with caplog.at_level(logging.INFO):
        tokenizer.initialize()

    assert tokenizer.FREQ == stock.FREQ and tokenizer.total == stock.total
    (line,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert str(path) in line.getMessage()
    assert dictionary.read(path, dictionary.source(), freq=False) is not None  # and it is written anew


def test_a_cache_of_another_dict_txt_is_made_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_jieba: None):
    source = tmp_path / "dict.txt"
    shutil.copyfile(dictionary.source(), source)
    monkeypatch.setattr(dictionary, "source", lambda: source)
    CachedTokenizer(tmp_path).initialize()
    with source.open("a", encoding="utf-8") as fh:
        fh.write("新加的词 3 n\n")
    loads = []
    monkeypatch.setattr(jieba.Tokenizer, "initialize", lambda self, dictionary=None: loads.append(self))

    CachedTokenizer(tmp_path).initialize()

    assert len(loads) == 1  # jieba's own load, as the cache no longer fits dict.txt


def test_another_install_of_the_same_dict_txt_shares_the_cache(
    folder: Path, stock: jieba.Tokenizer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    source = tmp_path / "dict.txt"
    shutil.copyfile(dictionary.source(), source)
    os.utime(source, ns=(1, 1))  # another venv's jieba: the same content, another mtime
    monkeypatch.setattr(dictionary, "source", lambda: source)
    written = cache_file(folder).stat().st_mtime_ns
    tokenizer = CachedTokenizer(folder)

    with monkeypatch.context() as patch:
        patch.setattr(jieba.Tokenizer, "initialize", _not_called)
        tokenizer.initialize()

    assert tokenizer.FREQ == stock.FREQ
    assert cache_file(folder).stat().st_mtime_ns == written  # not rewritten: two installs do not take turns


def test_a_cache_of_another_jieba_version_is_not_used(folder: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(jieba, "__version__", jieba.__version__ + ".post1")

    assert dictionary.read(cache_file(folder), dictionary.source()) is None  # stale by its header
    assert not cache_file(folder).exists()  # and another version looks for its own file in the first place


def test_a_cache_is_written_whole_or_not_at_all(folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = cache_file(tmp_path)
    shutil.copyfile(cache_file(folder), path)
    before = path.read_bytes()

    def crash(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        dictionary.write(path, dictionary.source(), {"词": 1}, 1, None)

    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary file left


def test_a_folder_that_cannot_be_written_leaves_jiebas_load(
    stock: jieba.Tokenizer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    fast_jieba: None,
):
    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(30, "Read-only file system")  # root may write anywhere: chmod would not stop it

    monkeypatch.setattr(dictionary.tempfile, "mkstemp", read_only)
    tokenizer = CachedTokenizer(tmp_path)

    with caplog.at_level(logging.INFO):
        tokenizer.initialize()

    assert tokenizer.FREQ == stock.FREQ
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # nothing was damaged
    assert list(tmp_path.iterdir()) == []


def test_the_cache_lives_in_the_users_cache_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    assert cache_folder(tmp_path / "corpus" / ".wenda") == tmp_path / "cache" / "wenda"


def test_the_cache_lives_beside_the_index_when_the_users_cache_folder_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    (tmp_path / "read-only-home").write_text("", encoding="utf-8")  # mkdir under a file fails, as on a read-only home
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "read-only-home" / "cache"))

    assert cache_folder(tmp_path / "corpus" / ".wenda") == tmp_path / "corpus" / ".wenda"
    assert cache_folder(None) is None


def test_jieba_is_imported_without_pkg_resources_which_stays_importable(tmp_path: Path):
    # An old setuptools' pkg_resources, which jieba would import to find dict.txt: slow to import.
    (tmp_path / "pkg_resources.py").write_text("IMPORTED = True\n", encoding="utf-8")
    code = """
import sys
import wenda.retrieval.text
assert "pkg_resources" not in sys.modules, "imported with jieba"
assert wenda.retrieval.text.Analyzer().words("北京城市副中心") == ["北京", "城市", "副", "中心"]
import pkg_resources
assert pkg_resources.IMPORTED
"""
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
