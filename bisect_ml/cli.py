"""The `bisect-ml` command: parse, call the API, render, exit.

Exit codes: 0 causes found and the gap explained; 3 a residual shown: a real
gap not (fully) explained by catalogued factors; 4 no significant gap; 5
inconclusive: a gap this budget could not attribute, or the trial budget ran
out before a verdict (more seeds or trials needed); 2 bad input (scenario,
path, flag, store or executor); 1 a trial crashed, or an internal error (one
line; ``--debug`` shows the traceback); 130 interrupted (SIGINT), 143
terminated (SIGTERM).

`reproduce` exits 0 when every case passes and 3 when a case's verdict departs
from its ``[expect]`` table (1, 2, 130 and 143 as above).
"""

from __future__ import annotations

import contextlib
import enum
import functools
import logging
import os
import re
import signal
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from bisect_ml._traps import Trap
    from bisect_ml.factors import Factor
    from bisect_ml.lab import Progress, StoreInfo
    from bisect_ml.lab._store import RunRecord
    from bisect_ml.reproduce import CaseResult
    from bisect_ml.verdict import Verdict

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Find out why a PyTorch model and its Keras port train to different errors.",
)

EXIT_BAD_INPUT = 2
EXIT_CRASH = 1
#: `reproduce`: a case's verdict departs from what its scenario expects.
EXIT_REPRODUCE_FAILED = 3
#: `diff --steps`: the step-by-step closure check does not close (the exit of a
#: residual verdict: something outside the catalogue differs).
EXIT_STEPS_APART = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


def _strategy_help() -> str:
    from bisect_ml.strategies import STRATEGIES

    return (
        f"Search strategy: {', '.join(STRATEGIES)} (default: the scenario's "
        "search.strategy, else auto)."
    )


_STRATEGY_HELP = _strategy_help()
_STORE_OPTION = typer.Option(
    help="Trial store (SQLite); default $BISECT_ML_STORE or "
    "~/.cache/bisect-ml/trials.sqlite."
)


class ReportFormat(enum.StrEnum):
    md = "md"
    json = "json"
    html = "html"


class Executor(enum.StrEnum):
    local = "local"
    dask = "dask"
    ray = "ray"


class _Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so that the run stops the same way."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated()


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """Stop on SIGTERM as on Ctrl-C: workers stopped, claims released."""
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread (an embedding application)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _fail(err: BaseException, code: int, debug: bool) -> typer.Exit:
    if debug:
        traceback.print_exception(err)
    typer.echo(f"bisect-ml: error: {err}", err=True)
    return typer.Exit(code)


def _internal(err: BaseException, debug: bool) -> typer.Exit:
    """An error bisect-ml did not expect: one line, the traceback on --debug."""
    if debug:
        traceback.print_exception(err)
    first = (str(err).splitlines() or [""])[0]
    typer.echo(
        f"bisect-ml: internal error: {err.__class__.__name__}: {first} (a bug in "
        "bisect-ml; --debug shows the traceback)",
        err=True,
    )
    return typer.Exit(EXIT_CRASH)


class _ProgressLine:
    """Trial progress on stderr: one rewritten line on a terminal, sparse lines else."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        final = p.done == p.total
        if not self.tty and not final and now - self.last < 10:
            return
        self.last = now
        eta = "" if p.eta_seconds is None else f", ETA {p.eta_seconds:.0f}s"
        how = "stored" if p.cached else "trained"
        line = f"[{p.done}/{p.total}] {p.arm} seed {p.seed} {how}{eta}"
        if self.tty:
            sys.stderr.write("\r\x1b[2K" + line + ("\n" if final else ""))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


@app.command()
def bisect(
    scenario: Annotated[str, typer.Argument(help="Scenario file, or a bundled name.")],
    seeds: Annotated[
        int | None,
        typer.Option(
            min=3,
            help="Seeds per arm (with auto, and no --max-seeds: the most an arm "
            "gets, looked at after about 40%, 70% and 100% of them).",
        ),
    ] = None,
    strategy: Annotated[str | None, typer.Option(help=_STRATEGY_HELP)] = None,
    max_seeds: Annotated[
        int | None,
        typer.Option(
            min=3,
            help="Seed cap of adaptive seeds: a decision still unclear after "
            "--seeds takes --seed-step more, up to this (default: auto plans its "
            "looks, the others keep fixed seeds).",
        ),
    ] = None,
    seed_step: Annotated[
        int | None,
        typer.Option(min=1, help="Seeds added per look (default: --seeds)."),
    ] = None,
    store: Annotated[
        Path | None,
        typer.Option(
            help="Trial store (SQLite); default $BISECT_ML_STORE or "
            "~/.cache/bisect-ml/trials.sqlite."
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Folder for report.md and report.json.")
    ] = Path("bisect-ml-out"),
    html: Annotated[
        Path | None,
        typer.Option(help="Also write the self-contained HTML report to this file."),
    ] = None,
    json_path: Annotated[
        Path | None,
        typer.Option("--json", help="Also write the JSON report to this file."),
    ] = None,
    bundle: Annotated[
        Path | None,
        typer.Option(
            help="Write a repro bundle to this folder: the reports (md, json, "
            "html), the scenario, seeds, versions and the exact command."
        ),
    ] = None,
    jobs: Annotated[
        int, typer.Option(min=1, help="Trials trained at once (worker processes).")
    ] = 1,
    executor: Annotated[
        Executor,
        typer.Option(
            help="Where trials train: a local pool of worker processes, or a Dask "
            "or Ray cluster (install the dask or ray extra of bisect-ml)."
        ),
    ] = Executor.local,
    address: Annotated[
        str | None,
        typer.Option(
            help="Dask scheduler (tcp://host:8786) or Ray cluster (ray://host:10001, "
            "auto); default: start one on this machine."
        ),
    ] = None,
    retries: Annotated[
        int,
        typer.Option(
            min=0, help="Tries again of a trial whose worker died, then it fails."
        ),
    ] = 2,
    max_trials: Annotated[int | None, typer.Option(min=1, help="Trial budget.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress.")] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Bisect a diverging pair and print the root-cause report.

    Exit codes: 0 explained; 3 a residual shown; 4 no significant gap; 5
    inconclusive (more seeds or trials needed); 2 bad input; 1 a crash.
    """
    from bisect_ml._errors import BackendError, BisectError
    from bisect_ml.api import bisect as run
    from bisect_ml.api import default_store_path
    from bisect_ml.report import to_json, to_markdown

    argv = ["bisect-ml", *sys.argv[1:]]
    run_ids: list[str] = []
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        with _stop_on_sigterm():
            verdict = run(
                scenario,
                seeds=seeds,
                strategy=strategy,
                store=store,
                jobs=jobs,
                executor=executor.value,
                address=address,
                retries=retries,
                max_trials=max_trials,
                max_seeds=max_seeds,
                seed_step=seed_step,
                progress=None if quiet else _ProgressLine(),
                debug=debug,
                command=argv,
                on_run=run_ids.append,
                on_traps=lambda traps: _warn_traps(scenario, traps),
            )
    except KeyboardInterrupt as err:
        how = "terminated" if isinstance(err, _Terminated) else "interrupted"
        typer.echo(
            f"\nbisect-ml: {how}; every finished trial is in the store "
            f"{store or default_store_path()}: run the same command again to "
            "resume",
            err=True,
        )
        code = EXIT_TERMINATED if isinstance(err, _Terminated) else EXIT_INTERRUPTED
        raise typer.Exit(code) from None
    except BackendError as err:
        raise _fail(err, EXIT_CRASH, debug) from None
    except BisectError as err:
        raise _fail(err, EXIT_BAD_INPUT, debug) from None
    except Exception as err:
        raise _internal(err, debug) from None

    markdown = to_markdown(verdict)
    typer.echo(markdown)
    folder = out / verdict.pair
    text = to_json(verdict) + "\n"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "report.md").write_text(markdown, encoding="utf-8")
        (folder / "report.json").write_text(text, encoding="utf-8")
        written = [f"{folder}/report.md", "report.json"]
        if json_path is not None:
            _write(json_path, text)
            written.append(str(json_path))
        page = _html(verdict) if html is not None or bundle is not None else ""
        if html is not None:
            _write(html, page)
            written.append(str(html))
        if bundle is not None:
            _write_bundle(bundle, scenario, verdict, (markdown, text, page), argv)
            written.append(f"the bundle {bundle}/")
    except OSError as err:
        typer.echo(f"bisect-ml: error: cannot write the report: {err}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    typer.echo(f"report written to {', '.join(written)}", err=True)
    if run_ids:
        typer.echo(
            f"run {run_ids[0]} stored; `bisect-ml report {run_ids[0]}` shows it again",
            err=True,
        )
    raise typer.Exit(verdict.status.exit_code)


def _warn_traps(scenario: str, traps: Sequence[Trap]) -> None:
    """The known traps of the pair, on stderr, as `diff` prints them."""
    for trap in traps:
        typer.echo(f"bisect-ml: warning: {scenario}: {trap}", err=True)


def _html(verdict: Verdict) -> str:
    from bisect_ml.report import to_html

    return to_html(verdict)


def _write(path: Path, text: str) -> None:
    if path.parent != Path():
        path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _write_bundle(
    folder: Path,
    scenario: str,
    verdict: Verdict,
    reports: tuple[str, str, str],
    argv: list[str],
) -> None:
    """The repro bundle with every report (Markdown, JSON, HTML) beside it."""
    from bisect_ml.report import write_bundle
    from bisect_ml.scenario import load_pair

    write_bundle(folder, load_pair(scenario), verdict, argv)
    names = ("report.md", "report.json", "report.html")
    for name, text in zip(names, reports, strict=True):
        (folder / name).write_text(text, encoding="utf-8")


@app.command()
def diff(
    scenario: Annotated[str, typer.Argument(help="Scenario file, or a bundled name.")],
    all_factors: Annotated[
        bool, typer.Option("--all", help="List every factor.")
    ] = False,
    steps: Annotated[
        bool,
        typer.Option(
            "--steps",
            help="Also run the step-by-step closure check (30 training steps "
            "a direction, no seeds; about 15 s). Exit 3 if it does not close.",
        ),
    ] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Static diff: the factors whose values differ, and known traps (stderr),
    without training (with --steps, a few deterministic training steps)."""
    from bisect_ml._errors import BisectError
    from bisect_ml.api import diff as static_diff

    try:
        rows = static_diff(scenario, all_factors=all_factors)
    except BisectError as err:
        raise _fail(err, EXIT_BAD_INPUT, debug) from None
    except Exception as err:
        raise _internal(err, debug) from None
    where = f"{rows.path}: " if rows.path else ""
    for trap in rows.traps:
        typer.echo(f"bisect-ml: warning: {where}{trap}", err=True)
    if not rows:
        typer.echo("The sides differ in no catalogued factor.")
    else:
        typer.echo("| factor | torch | keras | differs |\n|---|---|---|---|")
    for r in rows:
        cells = [
            f"`{r.values[fw]!r}`" + (" (default)" if r.is_default[fw] else " (set)")
            for fw in ("torch", "keras")
        ]
        typer.echo(
            f"| `{r.factor}` | {cells[0]} | {cells[1]} | "
            f"{'yes' if r.differs else 'no'} |"
        )
    if steps:
        from bisect_ml.api import step_check

        try:
            check = step_check(scenario)
        except BisectError as err:
            raise _fail(err, EXIT_BAD_INPUT, debug) from None
        except Exception as err:
            raise _internal(err, debug) from None
        typer.echo("")
        typer.echo(check.summary())
        if check.closes is False:
            raise typer.Exit(EXIT_STEPS_APART)


def _factor_rows(factors: list[Factor]) -> list[str]:
    rows = [
        "| factor | torch default | keras default | allowed | description |",
        "|---|---|---|---|---|",
    ]
    for f in factors:
        rows.append(
            f"| `{f.name}` | `{f.defaults['torch']!r}` | "
            f"`{f.defaults['keras']!r}` | {f.allowed()} | {f.description} |"
        )
    return rows


def _paragraph(title: str, text: str, indent: str = "  ") -> list[str]:
    import textwrap

    body = textwrap.wrap(text, width=86 - len(indent), break_on_hyphens=False)
    return ["", title, *(f"{indent}{line}" for line in body)]


def _explanation(f: Factor) -> list[str]:
    """Everything the catalogue knows about one factor, for a person to read."""
    from bisect_ml.factors import CASES, Explanation, explanation

    try:
        text = explanation(f.name)
    except LookupError:
        # A factor added without its entry (tests/test_explain.py fails): show
        # what the catalogue itself says.
        text = Explanation(
            differs="(no explanation in bisect_ml/factors/_explain.py yet)",
            matters=f.why or "(not written yet)",
        )
    out = [
        *_paragraph(f"{f.name} (area `{f.area}`)", f.description)[1:],
        "",
        f"  torch default  {f.defaults['torch']!r}",
        f"  keras default  {f.defaults['keras']!r}",
        f"  allowed        {f.allowed()}",
    ]
    width = max((len(c) for c in f.choices), default=0)
    for choice, meaning in f.choices.items():
        lines = _paragraph("", meaning, indent=" " * (width + 6))[2:]
        out.append(f"    {choice:{width}}  {lines[0].lstrip()}")
        out += lines[1:]
    scope = f.scope[1] if f.scope else "every pair"
    out.append(f"  a candidate    when the sides differ in it, for {scope}")
    out += _paragraph("What differs", text.differs)
    out += _paragraph("Why it matters", text.matters)
    if f.how:
        out += ["", "How bisect-ml applies it"]
        for fw, how in f.how.items():
            out += _paragraph(f"  {fw}:", how, indent="    ")[1:]
    out += _paragraph("Where the defaults were read (installed sources)", f.source)
    if text.cases:
        out += ["", "Public reports (PUBLIC_CASES.md)"]
        out += [f"  {c}: {CASES[c]}" for c in text.cases]
    return out


@app.command()
def factors(
    name: Annotated[
        str | None,
        typer.Argument(
            help="A factor to explain (optimizer.epsilon), or an area or "
            "dotted prefix to list (optimizer, init.recurrent)."
        ),
    ] = None,
) -> None:
    """The factor catalogue by area; with NAME, what one factor is and why it
    matters, or the factors of one area."""
    from bisect_ml.factors import registry

    if name is None:
        for area, members in registry.areas().items():
            typer.echo(f"## {area}\n")
            typer.echo("\n".join(_factor_rows(members)) + "\n")
        return
    if name in registry:
        typer.echo("\n".join(_explanation(registry[name])))
        return
    members = registry.with_prefix(name)
    if members:
        typer.echo("\n".join(_factor_rows(members)))
        return
    close = registry.closest(name)
    hint = (
        f"; closest: {', '.join(close)}"
        if close
        else "; `bisect-ml factors` lists them"
    )
    typer.echo(
        f"bisect-ml: error: `{name}` is neither a factor nor an area{hint}",
        err=True,
    )
    raise typer.Exit(EXIT_BAD_INPUT)


@app.command()
def scenarios() -> None:
    """The scenarios bundled with bisect-ml."""
    from bisect_ml.scenario import bundled_scenarios, load_pair

    for name, path in sorted(bundled_scenarios().items()):
        pair = load_pair(path)
        first = pair.description.strip().splitlines()[0] if pair.description else ""
        typer.echo(f"{name:24} {first}")


@app.command()
def report(
    run: Annotated[
        str,
        typer.Argument(help="A run id, a unique prefix of one, or `latest`."),
    ],
    format: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="Report format.")
    ] = ReportFormat.md,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file, not stdout."),
    ] = None,
    store: Annotated[Path | None, _STORE_OPTION] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Render a stored run's report again, from the store alone (no training)."""
    from bisect_ml._errors import BisectError, StoreError
    from bisect_ml.api import default_store_path
    from bisect_ml.lab import Store

    path = store or default_store_path()
    try:
        if not Path(path).exists():
            raise _no_store(path)
        opened = Store(path, readonly=True)
        try:
            record = opened.run(run)
        finally:
            opened.close()
        if record.state is None:
            raise StoreError(path, _no_verdict(record))
        try:
            text = _render(record.state, record.verdict, format)
        except ValueError as err:  # a state this bisect-ml cannot read
            raise StoreError(path, f"run {record.id}: {err}") from None
    except BisectError as err:
        raise _fail(err, EXIT_BAD_INPUT, debug) from None
    except Exception as err:
        raise _internal(err, debug) from None
    if output is None:
        # As `bisect` prints it: Markdown and a newline.
        typer.echo(text, nl=format is ReportFormat.md or not text.endswith("\n"))
        return
    try:
        _write(output, text)
    except OSError as err:
        typer.echo(f"bisect-ml: error: cannot write {output}: {err}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    typer.echo(f"run {record.id}: {format.value} report written to {output}", err=True)


def _no_verdict(record: RunRecord) -> str:
    """Why a stored run has no report, and what to do, in one line."""
    import shlex

    head = f"run {record.id} ({record.scenario}) is {record.status}"
    if record.status == "running":
        return f"{head}: it has no verdict yet; report it once it has finished"
    error = " ".join((record.error or "").split())
    stopped = "it stopped before a verdict"
    if record.status == "failed" and error:
        stopped = f"it stopped before a verdict ({error})"
    return (
        f"{head}: {stopped}, so there is no report; re-run its command to resume "
        f"from its stored trials: {shlex.join(record.command)}"
    )


def _render(state: str, json_text: str | None, format: ReportFormat) -> str:
    from bisect_ml.report import to_html, to_json, to_markdown
    from bisect_ml.report._state import verdict_from_state

    if format is ReportFormat.json and json_text is not None:
        return json_text + "\n"
    verdict = verdict_from_state(state)
    if format is ReportFormat.json:
        return to_json(verdict) + "\n"
    if format is ReportFormat.html:
        return to_html(verdict)
    return to_markdown(verdict)


@app.command()
def reproduce(
    names: Annotated[
        list[str] | None,
        typer.Argument(
            help="Bundled scenarios or scenario files; default: every bundled "
            "scenario that sets expect.verdict."
        ),
    ] = None,
    fast: Annotated[
        bool,
        typer.Option(
            "--fast",
            help="Only the cases that set reproduce.fast = true, at the "
            "reduced seeds and epochs their reproduce table declares.",
        ),
    ] = False,
    jobs: Annotated[
        int, typer.Option(min=1, help="Trials trained at once (worker processes).")
    ] = 1,
    store: Annotated[Path | None, _STORE_OPTION] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress.")] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Re-run the catalogue and check every verdict against what it expects.

    Exit 0 when every case passes, 3 when a verdict departs from what its
    scenario expects, 1 when a trial crashed, 2 on a bad name or scenario.
    """
    from bisect_ml._errors import BisectError
    from bisect_ml.api import default_store_path
    from bisect_ml.reproduce import catalogue, table
    from bisect_ml.reproduce import reproduce as run_cases

    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        cases = catalogue(names or (), fast=fast)
    except BisectError as err:
        raise _fail(err, EXIT_BAD_INPUT, debug) from None
    if not cases:
        typer.echo(
            "bisect-ml: error: no catalogue case to run"
            + (" (no scenario sets [reproduce] fast = true)" if fast else ""),
            err=True,
        )
        raise typer.Exit(EXIT_BAD_INPUT)

    def said(result: CaseResult) -> None:
        if not quiet:
            verdict = "pass" if result.passed else "FAIL"
            typer.echo(f"{result.name}: {verdict} ({result.seconds:.0f} s)", err=True)

    try:
        with _stop_on_sigterm():
            results = run_cases(
                list(cases),
                fast=fast,
                store=store,
                jobs=jobs,
                progress=None if quiet else _ProgressLine(),
                on_case=said,
            )
    except KeyboardInterrupt as err:
        typer.echo(
            "\nbisect-ml: interrupted; every finished trial is in the store "
            f"{store or default_store_path()}: run the same command again to resume",
            err=True,
        )
        code = EXIT_TERMINATED if isinstance(err, _Terminated) else EXIT_INTERRUPTED
        raise typer.Exit(code) from None
    except BisectError as err:
        raise _fail(err, EXIT_BAD_INPUT, debug) from None
    except Exception as err:
        raise _internal(err, debug) from None

    typer.echo(table(results))
    failed = [r for r in results if not r.passed]
    total = sum(r.seconds for r in results)
    typer.echo(
        f"{len(results) - len(failed)} of {len(results)} cases pass "
        f"({total:.0f} s{', fast budgets' if fast else ''})",
        err=True,
    )
    if any(r.error is not None for r in failed):
        raise typer.Exit(EXIT_CRASH)
    raise typer.Exit(EXIT_REPRODUCE_FAILED if failed else 0)


store_app = typer.Typer(no_args_is_help=True, help="Show and clean the trial store.")
app.add_typer(store_app, name="store")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _seconds(text: str) -> float:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if match is None:
        raise typer.BadParameter(
            f"must be a duration like 30d, 12h, 90m or 45s, got {text!r}",
            param_hint="--older-than",
        )
    return float(match.group(1)) * _UNITS[match.group(2) or "d"]


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M")


def _render_info(info: StoreInfo) -> str:
    lines = [
        f"store      {info.path}",
        f"schema     version {info.schema_version}",
        f"size       {info.size_bytes / 1e6:.2f} MB",
        f"trials     {info.trials} ({info.failed} failed)",
        f"stored     {_when(info.oldest)} .. {_when(info.newest)}",
        f"claims     {info.claims} (trials being trained now, or left by a killed run)",
        f"runs       {sum(info.runs.values())}"
        + (
            " (" + ", ".join(f"{n} {status}" for status, n in info.runs.items()) + ")"
            if info.runs
            else ""
        ),
    ]
    for title, counts in (
        ("by scenario", info.scenarios),
        ("by backend", info.backends),
        ("by library versions", info.versions),
    ):
        lines.append(f"{title}:")
        lines += [f"  {n:8d}  {name}" for name, n in counts.items()] or ["  -"]
    if info.recent:
        lines.append("latest runs (bisect-ml report ID):")
        lines += [
            f"  {r.id}  {_when(r.started)}  {r.scenario}  {r.status}"
            + (f", {r.result}" if r.result else "")
            for r in info.recent
        ]
    return "\n".join(lines)


@store_app.command("info")
def store_info(
    store: Annotated[Path | None, _STORE_OPTION] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """What the store holds: trials by scenario, backend and library versions;
    runs and the latest of them."""
    from bisect_ml._errors import BisectError
    from bisect_ml.api import default_store_path
    from bisect_ml.lab import Store

    try:
        opened = Store(store or default_store_path(), readonly=True)
        try:
            info = opened.info()
        finally:
            opened.close()
    except BisectError as err:
        raise _fail(err, EXIT_BAD_INPUT, debug) from None
    except Exception as err:
        raise _internal(err, debug) from None
    typer.echo(_render_info(info))


@store_app.command("prune")
def store_prune(
    store: Annotated[Path | None, _STORE_OPTION] = None,
    older_than: Annotated[
        str | None,
        typer.Option(help="Trials stored longer ago than this: 30d, 12h, 90m."),
    ] = None,
    scenario: Annotated[
        str | None, typer.Option(help="Trials of the scenario with this name.")
    ] = None,
    backend: Annotated[
        str | None, typer.Option(help="Trials of this backend (torch, keras, ...).")
    ] = None,
    failed: Annotated[
        bool,
        typer.Option(
            "--failed", help="Trials recorded as failed, so a re-run trains them."
        ),
    ] = False,
    stale: Annotated[
        bool,
        typer.Option(
            "--stale",
            help="Trials trained with other library versions than those "
            "installed now (a re-run can never use them).",
        ),
    ] = False,
    runs: Annotated[
        bool,
        typer.Option(
            "--runs",
            help="Also delete the stored runs (record and report) that match "
            "--older-than (started longer ago) and --scenario; needs one of "
            "them. A run still running is never deleted.",
        ),
    ] = False,
    include_used: Annotated[
        bool,
        typer.Option(
            "--include-used",
            help="Also delete trials of a scenario whose kept run did not "
            "finish (kept by default: re-running it resumes from them).",
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count, delete nothing.")
    ] = False,
    vacuum: Annotated[
        bool, typer.Option("--vacuum", help="Give the freed space back to the disk.")
    ] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Delete the trials that match every filter given (at least one).

    Trials a kept run needs are kept: those of a scenario with a run that did
    not finish (interrupted, failed or still running), since re-running its
    command resumes from them; --include-used deletes them too. A finished
    run needs no trial (`bisect-ml report` renders it from its stored
    verdict). Runs are deleted only with --runs, by age and scenario; trials
    of the runs deleted are then no longer kept for them.
    """
    from bisect_ml._errors import BisectError
    from bisect_ml.api import default_store_path
    from bisect_ml.backends import BACKENDS, library_versions
    from bisect_ml.lab import Store

    age = None if older_than is None else _seconds(older_than)
    if backend is not None and backend not in BACKENDS:
        raise typer.BadParameter(
            f"must be one of {', '.join(BACKENDS)}, got {backend!r}",
            param_hint="--backend",
        )
    if age is None and scenario is None and backend is None and not (failed or stale):
        raise typer.BadParameter(
            "give at least one of --older-than, --scenario, --backend, --failed, "
            "--stale"
        )
    if runs and age is None and scenario is None:
        raise typer.BadParameter(
            "selects runs by --older-than or --scenario: give one of them",
            param_hint="--runs",
        )
    path = store or default_store_path()
    try:
        if not Path(path).exists():
            raise _no_store(path)
        opened = Store(path)
        try:
            dropped = (
                opened.prune_runs(older_than=age, scenario=scenario, dry_run=dry_run)
                if runs
                else []
            )
            gone = {r.id for r in dropped}
            needed = [r for r in opened.unfinished_runs() if r.id not in gone]
            matching = functools.partial(
                opened.prune,
                older_than=age,
                scenario=scenario,
                backend=backend,
                failed=failed,
                stale_versions=(
                    {b: library_versions(b) for b in BACKENDS} if stale else None
                ),
            )
            keep = set() if include_used else {r.scenario for r in needed}
            every = matching(dry_run=True) if keep else 0
            count = matching(dry_run=dry_run, keep_scenarios=keep)
            held = every - count if keep else 0
            if vacuum and not dry_run:
                opened.vacuum()
        finally:
            opened.close()
    except BisectError as err:
        raise _fail(err, EXIT_BAD_INPUT, debug) from None
    except Exception as err:
        raise _internal(err, debug) from None
    verb = "would remove" if dry_run else "removed"
    line = f"{verb} {count} trials"
    if runs:
        line += f" and {len(dropped)} runs"
    typer.echo(f"{line} from {path}")
    if held:
        ids = ", ".join(r.id for r in needed if r.scenario in keep)
        typer.echo(
            f"kept {held} trials that unfinished runs resume from ({ids}); "
            "--include-used deletes them too",
            err=True,
        )


def _no_store(path: Path) -> Exception:
    from bisect_ml._errors import StoreError

    return StoreError(path, "does not exist")


def main(argv: list[str] | None = None) -> None:
    """Run the command line and exit with its status.

    A bad flag value, an unknown option or command is one line on stderr and
    exit 2 (Typer's usage box is for ``--help`` alone). The status comes only
    from `typer.Exit`: a command's return value never becomes it.
    """
    command = typer.main.get_command(app)
    args = sys.argv[1:] if argv is None else argv
    try:
        with command.make_context("bisect-ml", list(args)) as ctx:
            command.invoke(ctx)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.TyperException as err:
        sys.exit(_flag_error(err))
    except typer.Abort:
        typer.echo("bisect-ml: error: aborted", err=True)
        sys.exit(EXIT_CRASH)
    except KeyboardInterrupt:
        typer.echo("\nbisect-ml: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        # The reader of stdout left (`bisect-ml factors | head`): stop quietly,
        # and keep Python's own flush at exit from failing again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_CRASH)
    sys.exit(0)


def _flag_error(err: typer.TyperException) -> int:
    """Print a usage error (or another Click error) as one line; its exit code."""
    code = int(getattr(err, "exit_code", EXIT_BAD_INPUT))
    if type(err).__name__ == "NoArgsIsHelpError":
        return code  # a group without its command: its help is already shown
    message = " ".join(err.format_message().split())
    ctx = getattr(err, "ctx", None)
    if ctx is not None:
        path = ctx.command_path
        sub = path.removeprefix("bisect-ml").strip()
        message = f"{sub}: {message}" if sub else message
        if ctx.command.get_help_option(ctx) is not None:
            message += f" (see {path} --help)"
    typer.echo(f"bisect-ml: error: {message}", err=True)
    return code


if __name__ == "__main__":
    main()
