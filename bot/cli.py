"""The terminal harness: `wenda ask`, an interactive session, `sources`, `index`, `eval` and `report`."""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import io
import json
import logging
import os
import sys
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.style import Style
from rich.text import Text

from wenda.retrieval.citations import json_date, shown_date
from wenda.retrieval.corpus import shown_name
from wenda.retrieval.followup import RECENT_QUESTIONS
from wenda.retrieval.index import BM25Params
from wenda.retrieval.relevance import MIN_RELEVANCE
from wenda.retrieval.rerank import check_sentence_weight
from wenda.retrieval.store import USERDICT_NAME, CorpusNotFound, Library
from wenda.retrieval.synonyms import SYNONYMS_NAME
from wenda.retrieval.text import Analyzer, TextSettings

from .answer import Status, answer, empty_corpus_message, to_json
from .logs import configure_logging
from .report import DEFAULT_SINCE, BadSince, build_report, iso, parse_since
from .report import to_json as report_json
from .settings import Settings, SettingsError
from .terminal import print_answer

if TYPE_CHECKING:
    from .feedback import FeedbackStore

# What a command alone needs is imported in that command (the Discord bot, the feedback database,
# the corpus watcher, the evaluation), so that `wenda ask` starts without any of it.

log = logging.getLogger("wenda")

# Typed at the interactive prompt, starts a fresh conversation: the next question stands alone.
NEW_CONVERSATION = ":new"


class _Console(Console):
    """rich's Console, but a closed stdout raises BrokenPipeError for main, instead of rich's own exit 1."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError


class UsageError(Exception):
    """A problem the user can fix by changing the command line or settings."""


def _common(corpus_help: str = "corpus folder (default: $WENDA_CORPUS or ./corpus)") -> argparse.ArgumentParser:
    # Shared options go on every subcommand, so `wenda ask --corpus X` and `wenda --corpus X ask`
    # both work. SUPPRESS keeps a subcommand's absent option from overwriting the top-level one.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--corpus", type=Path, default=argparse.SUPPRESS, help=corpus_help)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log details")
    return common


def _parser() -> argparse.ArgumentParser:
    common = _common()

    parser = argparse.ArgumentParser(
        prog="wenda",
        description="问答 — answer questions by quoting the passages of a Chinese article corpus.",
        parents=[common],
        epilog=(
            "With no command, wenda opens an interactive session: consecutive questions are one conversation, "
            f"{NEW_CONVERSATION} starts a new one, Ctrl-D leaves. `wenda 问题` asks 问题."
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    ask = sub.add_parser("ask", parents=[common], help="answer one question")
    ask.add_argument("question", nargs="+", help="the question (quote it, or give it as several words)")
    ask.add_argument("-k", type=int, default=None, help="how many passages to quote (default 3)")
    ask.add_argument("--json", action="store_true", help="print one JSON object instead of text")

    sources = sub.add_parser("sources", parents=[common], help="list the articles and their passage counts")
    sources.add_argument("--json", action="store_true", help="print JSON instead of text")

    index = sub.add_parser("index", parents=[common], help="build or refresh the index and report what was read")
    index.add_argument("--rebuild", action="store_true", help="re-read every file instead of only changed ones")

    add = sub.add_parser("add", parents=[common], help="check article files and copy the good ones into the corpus")
    add.add_argument("files", nargs="+", type=Path, help=".txt, .md or .jsonl files")

    sub.add_parser("bot", parents=[common], help="run the Discord bot (DISCORD_TOKEN in .env or the environment)")

    report = sub.add_parser(
        "report",
        parents=[common],
        help="questions asked, votes, and what the corpus does not cover; or purge stored records",
        description="Read from the feedback database ($WENDA_FEEDBACK_DB or <corpus>/.wenda/feedback.sqlite3).",
    )
    report.add_argument(
        "--since", default=None, help=f"how far back: 7d, 24h, 30m or a date like 2024-05-01 (default {DEFAULT_SINCE})"
    )
    report.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    purge = report.add_mutually_exclusive_group()
    purge.add_argument("--purge-before", metavar="DATE", help="delete every record older than DATE (or 90d, …)")
    purge.add_argument("--purge-user", metavar="ID", help="delete every record of the Discord user with this id")

    # eval reads its articles from the SQuAD file. --corpus stays known (hidden) so that main can
    # refuse it with a sentence rather than argparse's "unrecognized arguments".
    ev = sub.add_parser(
        "eval", parents=[_common(argparse.SUPPRESS)], help="retrieval figures on a SQuAD-style JSON file"
    )
    ev.add_argument("path", type=Path, help="e.g. ../shared/eval/cmrc2018_trial.json")
    ev.add_argument(
        "--out-of-corpus",
        type=Path,
        metavar="OTHER",
        help="also ask OTHER's questions of PATH's corpus and report how many are (rightly) declined",
    )
    ev.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    ev.add_argument("--k1", type=float, default=None, help="BM25 k1 (default from settings)")
    ev.add_argument("--b", type=float, default=None, help="BM25 b (default from settings)")
    ev.add_argument("--epsilon", type=float, default=None, help="BM25 idf floor factor")
    ev.add_argument("--no-ngrams", action="store_true", help="index jieba words only, no character n-grams")
    ev.add_argument("--no-stopwords", action="store_true", help="keep stop words")
    ev.add_argument("--title-repeat", type=int, default=None, help="times the title is indexed with a passage")
    ev.add_argument(
        "--sentence-weight",
        type=float,
        default=None,
        help="weight of the best sentence in the second stage (0: off; default from settings, 0.4)",
    )
    ev.add_argument("--threshold", type=float, default=None, help="relevance below which a question is declined")
    return parser


# Options that take a value and may come before the command: `wenda --corpus X 问题` asks 问题, not X.
_VALUE_OPTIONS = frozenset({"--corpus"})


def _with_ask(argv: list[str]) -> list[str]:
    """`wenda 问题` read as `wenda ask 问题`: the first word that is neither an option nor a command is a question.

    A word close to a command name (`wenda sorces`) is left for argparse to refuse as a misspelt command.
    """
    i = 0
    while i < len(argv) and argv[i] != "--" and argv[i].startswith("-") and argv[i] != "-":
        i += 2 if argv[i] in _VALUE_OPTIONS else 1
    if i >= len(argv):
        return argv  # no word at all: the interactive session, or --help
    word = argv[i]
    commands = [name for name in COMMANDS if name != "interactive"]
    if word in commands or (word.isascii() and word.isalpha() and difflib.get_close_matches(word, commands, 1, 0.75)):
        return argv
    return [*argv[:i], "ask", *argv[i:]]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(_with_ask(list(sys.argv[1:] if argv is None else argv)))
    verbose = getattr(args, "verbose", False)
    configure_logging(logging.INFO if verbose else logging.WARNING)
    # soft_wrap: let the terminal wrap long Chinese lines; rich would hard-wrap piped output at 80.
    console = _Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        settings = Settings.from_env()
        corpus = getattr(args, "corpus", None) or settings.corpus
        command = args.command or "interactive"
        if command == "eval" and hasattr(args, "corpus"):
            raise UsageError("eval reads its articles from the SQuAD file; --corpus does not apply to it")
        if command != "eval" and corpus.exists() and not corpus.is_dir():
            raise UsageError(f"{corpus} is a file; --corpus (or WENDA_CORPUS) takes the folder of article files")
        code = COMMANDS[command](args, settings, corpus, console)
        sys.stdout.flush()  # a closed pipe shows here, where it is handled, not in Python's flush at exit
        return code
    except (CorpusNotFound, SettingsError, UsageError) as exc:
        err.print(f"wenda: {exc}", markup=False)
        return 2
    except BrokenPipeError:
        # The reader went away (`wenda ask --json … | head -1`): stop quietly, as cat or grep do, and
        # point stdout at devnull so that Python's own flush at exit does not fail a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what the shell reports for a C program in the same place
    except KeyboardInterrupt:
        # Like Ctrl-D, leave the terminal on a fresh line (the shell's prompt would follow ^C or 问>);
        # unlike it, exit 128 + SIGINT, as a shell reports an interrupted program.
        if sys.stderr.isatty():
            print(file=sys.stderr)
        return 130


def _count(n: int, noun: str) -> str:
    """'1 passage', '2 passages': the English count messages read as English."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _open(corpus: Path, settings: Settings, progress: bool = False) -> Library:
    return Library.open(corpus, settings.store, progress=_progress_bar() if progress else None)


def _synonym_report(library: Library, console: Console, loaded: Callable[[int], str]) -> None:
    """What synonyms.txt gave, if the corpus has one: its rule count (as loaded says it) and every
    line it skipped, by file and line number."""
    synonyms = library.synonyms
    if not synonyms.digest:
        return
    console.print(loaded(synonyms.count), markup=False, style="dim")
    for problem in synonyms.problems:
        console.print(f"skipped {problem}", markup=False, style="yellow")


def _progress_bar():
    """A progress callback drawing a rate-and-ETA bar on stderr, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    state: dict = {}

    def update(stage: str, done: int, total: int) -> None:
        if "task" not in state:
            bar.start()
            state["task"] = bar.add_task("segmenting passages", total=0, rate="")
        task = state["task"]
        if total:
            bar.update(task, total=(bar.tasks[0].total or 0) + total)
        if done:
            bar.advance(task, done)
            speed = bar.tasks[0].speed
            bar.update(task, rate=f"{speed:,.0f} passages/s" if speed else "")
        if bar.tasks[0].total and bar.tasks[0].completed >= bar.tasks[0].total:
            bar.stop()

    return update


def _spinner(description: str) -> AbstractContextManager:
    """A spinner with the time elapsed on stderr while a long step runs, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        return nullcontext()
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    bar = Progress(*columns, console=Console(stderr=True), transient=True)
    bar.add_task(description, total=None)
    return bar


def cmd_ask(args: argparse.Namespace, settings: Settings, corpus: Path, console: Console) -> int:
    k = args.k if args.k is not None else settings.top_k
    if not 1 <= k <= 50:
        raise UsageError(f"-k must be between 1 and 50, not {k}")
    library = _open(corpus, settings)
    ans = answer(library.searcher, " ".join(args.question), k)
    if args.json:
        data = to_json(ans)
        if ans.status is Status.EMPTY_CORPUS:
            data["message"] = empty_corpus_message(corpus)
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print_answer(console, ans, corpus)
    return 0


def cmd_interactive(args: argparse.Namespace, settings: Settings, corpus: Path, console: Console) -> int:
    library = _open(corpus, settings)
    # Bytes not in the locale's encoding (a paste from a GBK file, a stray binary line) must not end
    # the session: they read as U+FFFD, which no index term matches.
    if isinstance(sys.stdin, io.TextIOWrapper):
        sys.stdin.reconfigure(errors="replace")
    interactive = sys.stdin.isatty()
    if interactive:
        _enable_history()
        n = library.passage_count
        console.print(
            f"wenda · {corpus} · {n} 段 · 输入问题后回车，{NEW_CONVERSATION} 开始新对话，Ctrl-D 退出", style="dim"
        )
    # Consecutive questions are one conversation: a follow-up (它呢？) is read with the ones before it.
    earlier: deque[str] = deque(maxlen=RECENT_QUESTIONS)
    from wenda.retrieval.watch import CorpusWatcher

    # Files dropped into the corpus while the session runs are answered from within seconds.
    with CorpusWatcher(library):
        while True:
            try:
                line = input("问> " if interactive else "")
            except EOFError:
                if interactive:
                    console.print()
                return 0
            if not line.strip():
                continue
            if line.strip().lower() == NEW_CONVERSATION:
                earlier.clear()
                console.print("已开始新的对话：下一个问题不再接着前面的问题理解。", style="dim")
                continue
            print_answer(console, answer(library.searcher, line, settings.top_k, context=tuple(earlier)), corpus)
            earlier.append(line)


def _enable_history() -> None:
    """Arrow-key editing and a history kept between sessions, where readline exists."""
    try:
        import readline
    except ImportError:  # Windows without pyreadline: plain input still works
        return
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "wenda"
    history = state / "history"
    try:
        state.mkdir(parents=True, exist_ok=True)
        if history.exists():
            readline.read_history_file(history)
    except OSError as exc:
        log.info("no history file: %s", exc)
        return
    readline.set_history_length(1000)
    import atexit

    atexit.register(_save_history, readline, history)


def _save_history(readline, history: Path) -> None:
    try:
        readline.write_history_file(history)
    except OSError as exc:
        log.info("history not saved: %s", exc)


def cmd_sources(args: argparse.Namespace, settings: Settings, corpus: Path, console: Console) -> int:
    library = _open(corpus, settings)
    articles = library.articles
    if args.json:
        rows = [
            {
                "title": a.title,
                "source": a.source,
                "file": a.file,
                "passages": a.passages,
                "url": a.url,
                "date": json_date(a.date),
            }
            for a in articles
        ]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not library.passage_count:
        console.print(empty_corpus_message(corpus), markup=False)
        return 0
    for a in articles:
        line = Text(a.title, style="bold")
        if a.source:
            line.append(f" · {a.source}")
        if a.date:
            line.append(f" · {shown_date(a.date)}")
        line.append(f"  {shown_name(a.file)} · {a.passages} 段", style="dim")
        console.print(line)
        if a.url:
            console.print(Text(f"  {a.url}", style=Style(dim=True, link=a.url)))
    console.print(Text(f"{len(articles)} 篇文章，共 {library.passage_count} 段", style="dim"))
    _synonym_report(library, console, lambda n: f"{SYNONYMS_NAME}：{n} 条同义词规则")
    return 0


def cmd_index(args: argparse.Namespace, settings: Settings, corpus: Path, console: Console) -> int:
    library = _open(corpus, settings, progress=True)
    change = library.rebuild(progress=_progress_bar()) if args.rebuild else library.last_refresh
    console.print(
        f"indexed {_count(library.passage_count, 'passage')} of {_count(len(library.articles), 'article')} "
        f"from {_count(library.file_count, 'file')} in {corpus} "
        f"({len(change.added)} added, {len(change.changed)} changed, {len(change.removed)} removed "
        f"in {change.seconds:.2f} s)",
        markup=False,
    )
    for problem in library.problems:
        console.print(f"skipped {problem}", markup=False, style="yellow")
    _synonym_report(library, console, lambda n: f"loaded {_count(n, 'synonym rule')} from {SYNONYMS_NAME}")
    if not library.passage_count:
        console.print(empty_corpus_message(corpus), markup=False)
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings, corpus: Path, console: Console) -> int:
    from .evaluate import BadEvalFile

    try:
        return _eval(args, settings, console)
    except BadEvalFile as exc:
        raise UsageError(str(exc)) from None


def _eval(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from .evaluate import evaluate, load_squad

    p = settings.params
    try:
        params = BM25Params(
            k1=args.k1 if args.k1 is not None else p.k1,
            b=args.b if args.b is not None else p.b,
            epsilon=args.epsilon if args.epsilon is not None else p.epsilon,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    defaults = TextSettings()
    text = TextSettings(
        stopwords=not args.no_stopwords,
        ngrams=not args.no_ngrams,
        title_repeat=args.title_repeat if args.title_repeat is not None else defaults.title_repeat,
    )
    other = load_squad(args.out_of_corpus) if args.out_of_corpus else None
    threshold = args.threshold if args.threshold is not None else MIN_RELEVANCE
    weight = args.sentence_weight if args.sentence_weight is not None else settings.sentence_weight
    try:
        check_sentence_weight(weight)
    except ValueError as exc:
        raise UsageError(f"--sentence-weight {exc}") from None
    eval_set = load_squad(args.path)
    questions, passages = _count(len(eval_set.questions), "question"), _count(len(eval_set.passages), "passage")
    with _spinner(f"evaluating {questions} over {passages}"):
        report = evaluate(eval_set, params, text, out_of_corpus=other, threshold=threshold, sentence_weight=weight)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
        return 0
    console.print(f"{args.path}: {questions} over {passages}", markup=False)
    for key, value in report.items():
        if key not in ("questions", "passages", "curve"):
            console.print(f"  {key:<24} {value}", markup=False)
    if other is not None:
        console.print("  decline curve (threshold: wrongly declined in corpus / rightly declined out of corpus)")
        for row in report["curve"]:
            console.print(f"    {row['threshold']:<6} {row['declined_in_corpus']:<8} {row['declined_out_of_corpus']}")
    return 0


def cmd_add(args: argparse.Namespace, settings: Settings, corpus: Path, console: Console) -> int:
    from wenda.retrieval.intake import add_file

    if not corpus.is_dir():
        raise CorpusNotFound(f"corpus folder {corpus} does not exist (set --corpus or WENDA_CORPUS)")
    results = [add_file(corpus, path) for path in args.files]
    for r in results:
        if r.ok:
            note = f" ({r.reason})" if r.reason else ""
            console.print(
                f"added {shown_name(r.source)} as {shown_name(r.added_as)}: "
                f"{_count(r.articles, 'article')}, {_count(r.passages, 'passage')}{note}",
                markup=False,
            )
            for problem in r.problems:
                console.print(f"  note: {problem.reason}" + (f" (line {problem.line})" if problem.line else ""))
        else:
            console.print(f"refused {shown_name(r.source)}: {r.reason}", markup=False, style="yellow")
    if any(r.ok for r in results):
        library = _open(corpus, settings, progress=True)
        console.print(f"the index now holds {_count(library.passage_count, 'passage')}", markup=False)
    return 0 if all(r.ok for r in results) else 1


def cmd_bot(args: argparse.Namespace, settings: Settings, corpus: Path, console: Console) -> int:
    import asyncio
    from dataclasses import replace

    from .discord_bot import BotError, serve

    configure_logging(logging.INFO, secrets=[settings.discord_token])
    logging.getLogger("discord").setLevel(logging.WARNING)
    # "1 change detected" for each file and each manifest another process saves: the index logs what it did.
    logging.getLogger("watchfiles").setLevel(logging.WARNING)
    try:
        asyncio.run(serve(replace(settings, corpus=corpus)))
    except BotError as exc:
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"wenda: {exc}", markup=False)
        return 1
    return 0


def _feedback(settings: Settings) -> FeedbackStore:
    """The bot's feedback database; a report must not create an empty one where the bot never wrote."""
    from .feedback import FeedbackStore

    path = settings.feedback_path
    if not path.is_file():
        raise UsageError(
            f"no feedback database at {path}: the bot has recorded nothing yet, or WENDA_FEEDBACK_DB "
            "(or --corpus) names another place"
        )
    return FeedbackStore(path)


def cmd_report(args: argparse.Namespace, settings: Settings, corpus: Path, console: Console) -> int:
    settings = dataclasses.replace(settings, corpus=corpus)
    purging = args.purge_before is not None or args.purge_user is not None
    if purging and args.since is not None:
        raise UsageError("--since chooses what a report covers; it does not apply to --purge-before or --purge-user")
    try:
        if args.purge_before is not None:
            before = parse_since(args.purge_before)
        since = parse_since(args.since or DEFAULT_SINCE)
    except BadSince as exc:
        option = "--purge-before" if args.purge_before is not None else "--since"
        raise UsageError(f"{option}: {exc}") from None
    if args.purge_user is not None and not args.purge_user.strip().isdigit():
        raise UsageError(f"--purge-user takes a Discord user id (digits only), not {args.purge_user!r}")
    store = _feedback(settings)
    try:
        if purging:
            if args.purge_before is not None:
                purged, what = store.purge_before(before.timestamp()), f"made before {iso(before)}"
            else:
                purged, what = store.purge_user(int(args.purge_user)), f"of user {int(args.purge_user)}"
            if args.json:
                counts = {"questions": purged.questions, "answers": purged.answers, "votes": purged.votes}
                print(json.dumps({"deleted": purged.total, **counts}))
            else:
                console.print(
                    f"deleted {_count(purged.total, 'record')} {what}: {_count(purged.questions, 'question')}, "
                    f"{_count(purged.answers, 'answer')}, {_count(purged.votes, 'vote')}",
                    markup=False,
                )
            return 0
        text = TextSettings(userdict=corpus / USERDICT_NAME if (corpus / USERDICT_NAME).is_file() else None)
        found = build_report(store, Analyzer(text), since)
    finally:
        store.close()
    if args.json:
        print(json.dumps(report_json(found), ensure_ascii=False, indent=2))
        return 0
    console.print(
        f"since {iso(found.since)}: {_count(found.questions, 'question')}, {found.answered} answered, "
        f"{found.declined} declined; votes 👍 {found.up} 👎 {found.down}",
        markup=False,
    )
    if not found.gaps:
        console.print("no gaps: every question was answered and no answer got a 👎", markup=False)
        return 0
    console.print("gaps (declined questions and 👎 answers by topic, largest first):", markup=False)
    for gap in found.gaps:
        terms = " ".join(gap.terms) or "(no topic words)"
        console.print(f"  {gap.count}× {terms}  {iso(gap.first)} … {iso(gap.last)}", markup=False)
        for example in gap.examples:
            console.print(Text(f"      {example}", style="dim"))
    return 0


COMMANDS = {
    "add": cmd_add,
    "bot": cmd_bot,
    "ask": cmd_ask,
    "interactive": cmd_interactive,
    "sources": cmd_sources,
    "index": cmd_index,
    "eval": cmd_eval,
    "report": cmd_report,
}


if __name__ == "__main__":
    sys.exit(main())
