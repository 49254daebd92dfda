"""The `bisect-ml` command: parse, call the API, render, exit.

Exit codes: 0 causes found and the gap explained; 3 a real gap not (fully)
explained by catalogued factors; 4 no significant gap; 2 bad input (scenario,
path, flag or store); 1 a trial crashed; 130 interrupted.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from bisect_ml.lab import Progress

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Find out why a PyTorch model and its Keras port train to different errors.",
)

EXIT_BAD_INPUT = 2
EXIT_CRASH = 1
EXIT_INTERRUPTED = 130


def _fail(err: BaseException, code: int, debug: bool) -> typer.Exit:
    if debug:
        traceback.print_exception(err)
    typer.echo(f"bisect-ml: error: {err}", err=True)
    return typer.Exit(code)


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
    jobs: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    max_trials: Annotated[int | None, typer.Option(min=1, help="Trial budget.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress.")] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Bisect a diverging pair and print the root-cause report."""
    from bisect_ml._errors import BackendError, BisectError
    from bisect_ml.api import bisect as run
    from bisect_ml.report import to_json, to_markdown

    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        verdict = run(
            scenario,
            seeds=seeds,
            strategy=strategy,
            store=store,
            jobs=jobs,
            max_trials=max_trials,
            progress=None if quiet else _ProgressLine(),
            debug=debug,
        )
    except KeyboardInterrupt:
        typer.echo(
            "\nbisect-ml: interrupted; every finished trial is in the store: "
            "run the same command again to resume",
            err=True,
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except BackendError as err:
        raise _fail(err, EXIT_CRASH, debug) from None
    except BisectError as err:
        raise _fail(err, EXIT_BAD_INPUT, debug) from None

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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
