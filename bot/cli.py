"""The terminal harness: `wenda ask`, an interactive session, `sources`, `index` and `eval`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.style import Style
from rich.text import Text

from wenda.retrieval.citations import json_date, shown_date
from wenda.retrieval.index import BM25Params
from wenda.retrieval.intake import add_file
from wenda.retrieval.relevance import MIN_RELEVANCE
from wenda.retrieval.rerank import check_sentence_weight
from wenda.retrieval.store import CorpusNotFound, Library
from wenda.retrieval.text import TextSettings
from wenda.retrieval.watch import CorpusWatcher

from .answer import Status, answer, empty_corpus_message, to_json
from .evaluate import BadEvalFile, evaluate, load_squad
from .logs import configure_logging
from .settings import Settings, SettingsError
from .terminal import print_answer

log = logging.getLogger("wenda")


class UsageError(Exception):
    """A problem the user can fix by changing the command line or settings."""


def _parser() -> argparse.ArgumentParser:
    # Shared options go on every subcommand, so `wenda ask --corpus X` and `wenda --corpus X ask`
    # both work. SUPPRESS keeps a subcommand's absent option from overwriting the top-level one.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--corpus",
        type=Path,
        default=argparse.SUPPRESS,
        help="corpus folder (default: $WENDA_CORPUS or ./corpus)",
    )
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log details")

    parser = argparse.ArgumentParser(
        prog="wenda",
        description="问答 — answer questions by quoting the passages of a Chinese article corpus.",
        parents=[common],
        epilog="With no command, wenda opens an interactive session (Ctrl-D to leave).",
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

    ev = sub.add_parser("eval", parents=[common], help="retrieval figures on a SQuAD-style JSON file")
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
        help="weight of the best sentence in the optional second stage (0: off; default from settings)",
    )
    ev.add_argument("--threshold", type=float, default=None, help="relevance below which a question is declined")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    verbose = getattr(args, "verbose", False)
    configure_logging(logging.INFO if verbose else logging.WARNING)
    # soft_wrap: let the terminal wrap long Chinese lines; rich would hard-wrap piped output at 80.
    console = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        settings = Settings.from_env()
        corpus = getattr(args, "corpus", None) or settings.corpus
        command = args.command or "interactive"
        return COMMANDS[command](args, settings, corpus, console)
    except (CorpusNotFound, SettingsError, BadEvalFile, UsageError) as exc:
        err.print(f"wenda: {exc}", markup=False)
        return 2
    except KeyboardInterrupt:
        return 130


def _open(corpus: Path, settings: Settings, progress: bool = False) -> Library:
    return Library.open(corpus, settings.store, progress=_progress_bar() if progress else None)


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
    interactive = sys.stdin.isatty()
    if interactive:
        _enable_history()
        n = library.passage_count
        console.print(f"wenda · {corpus} · {n} 段 · 输入问题后回车，Ctrl-D 退出", style="dim")
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
            print_answer(console, answer(library.searcher, line, settings.top_k), corpus)


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
        line.append(f"  {a.file} · {a.passages} 段", style="dim")
        console.print(line)
        if a.url:
            console.print(Text(f"  {a.url}", style=Style(dim=True, link=a.url)))
    console.print(Text(f"{len(articles)} 篇文章，共 {library.passage_count} 段", style="dim"))
    return 0


def cmd_index(args: argparse.Namespace, settings: Settings, corpus: Path, console: Console) -> int:
    library = _open(corpus, settings, progress=True)
    change = library.rebuild(progress=_progress_bar()) if args.rebuild else library.last_refresh
    console.print(
        f"indexed {library.passage_count} passages of {len(library.articles)} articles "
        f"from {library.file_count} files in {corpus} "
        f"({len(change.added)} added, {len(change.changed)} changed, {len(change.removed)} removed "
        f"in {change.seconds:.2f} s)",
        markup=False,
    )
    for problem in library.problems:
        console.print(f"skipped {problem}", markup=False, style="yellow")
    if not library.passage_count:
        console.print(empty_corpus_message(corpus), markup=False)
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings, corpus: Path, console: Console) -> int:
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
    report = evaluate(
        load_squad(args.path), params, text, out_of_corpus=other, threshold=threshold, sentence_weight=weight
    )
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
        return 0
    console.print(f"{args.path}: {report['questions']} questions over {report['passages']} passages", markup=False)
    for key, value in report.items():
        if key not in ("questions", "passages", "curve"):
            console.print(f"  {key:<24} {value}", markup=False)
    if other is not None:
        console.print("  decline curve (threshold: wrongly declined in corpus / rightly declined out of corpus)")
        for row in report["curve"]:
            console.print(f"    {row['threshold']:<6} {row['declined_in_corpus']:<8} {row['declined_out_of_corpus']}")
    return 0


def cmd_add(args: argparse.Namespace, settings: Settings, corpus: Path, console: Console) -> int:
    if not corpus.is_dir():
        raise CorpusNotFound(f"corpus folder {corpus} does not exist (set --corpus or WENDA_CORPUS)")
    results = [add_file(corpus, path) for path in args.files]
    for r in results:
        if r.ok:
            note = f" ({r.reason})" if r.reason else ""
            console.print(
                f"added {r.source} as {r.added_as}: {r.articles} articles, {r.passages} passages{note}", markup=False
            )
            for problem in r.problems:
                console.print(f"  note: {problem.reason}" + (f" (line {problem.line})" if problem.line else ""))
        else:
            console.print(f"refused {r.source}: {r.reason}", markup=False, style="yellow")
    if any(r.ok for r in results):
        library = _open(corpus, settings, progress=True)
        console.print(f"the index now holds {library.passage_count} passages", markup=False)
    return 0 if all(r.ok for r in results) else 1


def cmd_bot(args: argparse.Namespace, settings: Settings, corpus: Path, console: Console) -> int:
    from dataclasses import replace

    from .discord_bot import BotError, serve

    configure_logging(logging.INFO, secrets=[settings.discord_token])
    logging.getLogger("discord").setLevel(logging.WARNING)
    try:
        asyncio.run(serve(replace(settings, corpus=corpus)))
    except BotError as exc:
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"wenda: {exc}", markup=False)
        return 1
    return 0


COMMANDS = {
    "add": cmd_add,
    "bot": cmd_bot,
    "ask": cmd_ask,
    "interactive": cmd_interactive,
    "sources": cmd_sources,
    "index": cmd_index,
    "eval": cmd_eval,
}


if __name__ == "__main__":
    sys.exit(main())
