"""The `bisect-ml` command: parse, call the API, render, exit.

Exit codes: 0 causes found and the gap explained; 3 a real gap not (fully)
explained by catalogued factors; 4 no significant gap; 2 bad input (scenario,
path, flag, store or executor); 1 a trial crashed, or an internal error (one
line; ``--debug`` shows the traceback); 130 interrupted (SIGINT), 143
terminated (SIGTERM).
"""

from __future__ import annotations

import contextlib
import enum
import logging
import re
import signal
import sys
import time
import traceback
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from bisect_ml.lab import Progress, StoreInfo

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Find out why a PyTorch model and its Keras port train to different errors.",
)

EXIT_BAD_INPUT = 2
EXIT_CRASH = 1
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


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
    seeds: Annotated[int | None, typer.Option(min=3, help="Seeds per arm.")] = None,
    strategy: Annotated[str | None, typer.Option(help="Search strategy.")] = None,
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
    """Bisect a diverging pair and print the root-cause report."""
    from bisect_ml._errors import BackendError, BisectError
    from bisect_ml.api import bisect as run
    from bisect_ml.api import default_store_path
    from bisect_ml.report import to_json, to_markdown

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
                progress=None if quiet else _ProgressLine(),
                debug=debug,
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
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "report.md").write_text(markdown, encoding="utf-8")
        (folder / "report.json").write_text(to_json(verdict) + "\n", encoding="utf-8")
    except OSError as err:
        typer.echo(
            f"bisect-ml: error: cannot write the report to {folder}: {err}", err=True
        )
        raise typer.Exit(EXIT_BAD_INPUT) from None
    typer.echo(f"report written to {folder}/report.md and report.json", err=True)
    raise typer.Exit(verdict.status.exit_code)


@app.command()
def diff(
    scenario: Annotated[str, typer.Argument(help="Scenario file, or a bundled name.")],
    all_factors: Annotated[
        bool, typer.Option("--all", help="List every factor.")
    ] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Static diff: the factors whose values differ, without training."""
    from bisect_ml._errors import BisectError
    from bisect_ml.api import diff as static_diff

    try:
        rows = static_diff(scenario, all_factors=all_factors)
    except BisectError as err:
        raise _fail(err, EXIT_BAD_INPUT, debug) from None
    except Exception as err:
        raise _internal(err, debug) from None
    if not rows:
        typer.echo("The sides differ in no catalogued factor.")
        return
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


@app.command()
def factors() -> None:
    """The factor catalogue: each factor, both defaults and the allowed values."""
    from bisect_ml.factors import registry

    typer.echo("| factor | torch default | keras default | allowed | description |")
    typer.echo("|---|---|---|---|---|")
    for f in registry.values():
        typer.echo(
            f"| `{f.name}` | `{f.defaults['torch']!r}` | "
            f"`{f.defaults['keras']!r}` | {f.allowed()} | {f.description} |"
        )


@app.command()
def scenarios() -> None:
    """The scenarios bundled with bisect-ml."""
    from bisect_ml.scenario import bundled_scenarios, load_pair

    for name, path in sorted(bundled_scenarios().items()):
        pair = load_pair(path)
        first = pair.description.strip().splitlines()[0] if pair.description else ""
        typer.echo(f"{name:24} {first}")


store_app = typer.Typer(no_args_is_help=True, help="Show and clean the trial store.")
app.add_typer(store_app, name="store")

_STORE_OPTION = typer.Option(
    help="Trial store (SQLite); default $BISECT_ML_STORE or "
    "~/.cache/bisect-ml/trials.sqlite."
)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _seconds(text: str) -> float:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if match is None:
        raise typer.BadParameter(
            f"must be a duration like 30d, 12h, 90m or 45s, got {text!r}"
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
    ]
    for title, counts in (
        ("by scenario", info.scenarios),
        ("by backend", info.backends),
        ("by library versions", info.versions),
    ):
        lines.append(f"{title}:")
        lines += [f"  {n:8d}  {name}" for name, n in counts.items()] or ["  -"]
    return "\n".join(lines)


@store_app.command("info")
def store_info(
    store: Annotated[Path | None, _STORE_OPTION] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """What the store holds: trials by scenario, backend and library versions."""
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
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count, delete nothing.")
    ] = False,
    vacuum: Annotated[
        bool, typer.Option("--vacuum", help="Give the freed space back to the disk.")
    ] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Delete the trials that match every filter given (at least one)."""
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
    path = store or default_store_path()
    try:
        if not Path(path).exists():
            raise _no_store(path)
        opened = Store(path)
        try:
            count = opened.prune(
                older_than=age,
                scenario=scenario,
                backend=backend,
                failed=failed,
                stale_versions=(
                    {b: library_versions(b) for b in BACKENDS} if stale else None
                ),
                dry_run=dry_run,
            )
            if vacuum and not dry_run:
                opened.vacuum()
        finally:
            opened.close()
    except BisectError as err:
        raise _fail(err, EXIT_BAD_INPUT, debug) from None
    except Exception as err:
        raise _internal(err, debug) from None
    verb = "would remove" if dry_run else "removed"
    typer.echo(f"{verb} {count} trials from {path}")


def _no_store(path: Path) -> Exception:
    from bisect_ml._errors import StoreError

    return StoreError(path, "does not exist")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
