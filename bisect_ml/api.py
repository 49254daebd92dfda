"""What the CLI and users' code call: `bisect`, `diff`, `default_store_path`."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bisect_ml._errors import ScenarioError
from bisect_ml._traps import Trap, check_batch_norm_batches, find_traps
from bisect_ml.factors import FRAMEWORKS, Value, registry
from bisect_ml.scenario import (
    Pair,
    check_model_fits,
    load_data,
    load_pair,
    validation_cut,
)

if TYPE_CHECKING:
    from bisect_ml.lab import Progress
    from bisect_ml.lab._stepcheck import StepCheck
    from bisect_ml.verdict import Verdict

__all__ = [
    "DiffRow",
    "StaticDiff",
    "Trap",
    "bisect",
    "default_store_path",
    "diff",
    "prepare",
    "step_check",
]


def default_store_path() -> Path:
    """``$BISECT_ML_STORE``, else ``~/.cache/bisect-ml/trials.sqlite``."""
    env = os.environ.get("BISECT_ML_STORE")
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "bisect-ml" / "trials.sqlite"


def prepare(scenario: str | Path | Pair) -> Pair:
    """Load and fully validate a scenario, data included, before any training.

    Besides the file's own rules, the data must fit the model, and no
    BatchNorm layer may get a training batch of one sample (torch refuses it).
    """
    pair = scenario if isinstance(scenario, Pair) else load_pair(scenario)
    if pair.backend != "simulated":
        try:
            data = load_data(pair.spec.data)
            check_model_fits(pair.spec.layers, data)
            if not data.series:  # a series is cut into windows by each side
                validation_cut(len(data.x_train), pair.spec.train.validation_split)
            check_batch_norm_batches(pair, data)
        except ScenarioError as err:
            raise err.at(pair.path) if pair.path else err from None
    return pair


@dataclass(frozen=True)
class DiffRow:
    """One factor of the static diff."""

    factor: str
    values: dict[str, Value]
    is_default: dict[str, bool]
    differs: bool


@dataclass(frozen=True)
class StaticDiff:
    """What `diff` finds: the factor rows, and the known traps it can see.

    Iterating over it, or taking its length, goes over ``rows``.
    """

    rows: tuple[DiffRow, ...]
    traps: tuple[Trap, ...]
    #: The scenario file, when there is one.
    path: str | None = None

    def __iter__(self) -> Iterator[DiffRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def diff(scenario: str | Path | Pair, *, all_factors: bool = False) -> StaticDiff:
    """The static diff of a pair (no training): factor rows and known traps.

    The rows are every factor whose values differ; with ``all_factors=True``
    every factor that applies. The traps are values that are legal but
    usually a porting mistake (softmax applied twice, an MSE that broadcasts
    its target, a BatchNorm momentum in the other framework's convention,
    torch's default batch of one sample), whether or not they differ.
    """
    pair = prepare(scenario)
    rows = []
    for name in registry:
        if not pair.applies(name):
            continue
        values = {fw: pair.side(fw).assignment[name] for fw in FRAMEWORKS}
        differs = values["torch"] != values["keras"]
        if differs or all_factors:
            rows.append(
                DiffRow(
                    name,
                    values,
                    {fw: pair.side(fw).is_default(name) for fw in FRAMEWORKS},
                    differs,
                )
            )
    return StaticDiff(tuple(rows), tuple(find_traps(pair)), pair.path)


def step_check(scenario: str | Path | Pair) -> StepCheck:
    """The step-by-step closure check of a pair (no seeds; seconds).

    Each side with every factor swapped, started from the other side's initial
    weights and fed the same unshuffled batches, against the other side for
    30 training steps; see `bisect_ml.lab._stepcheck`.
    """
    from bisect_ml.lab._stepcheck import step_check as run_check

    return run_check(prepare(scenario))


def bisect(
    scenario: str | Path | Pair,
    *,
    seeds: int | None = None,
    strategy: str | None = None,
    store: str | Path | None = None,
    jobs: int = 1,
    executor: str = "local",
    address: str | None = None,
    retries: int = 2,
    max_trials: int | None = None,
    alpha: float | None = None,
    margin: float | None = None,
    max_seeds: int | None = None,
    seed_step: int | None = None,
    progress: Callable[[Progress], None] | None = None,
    debug: bool = False,
    command: Sequence[str] | None = None,
    on_run: Callable[[str], None] | None = None,
    on_traps: Callable[[Sequence[Trap]], None] | None = None,
) -> Verdict:
    """Find which differing factors explain the pair's gap.

    Parameters
    ----------
    scenario
        A scenario file, the name of a bundled scenario, or a `Pair`.
    seeds, strategy, alpha, margin, max_seeds, seed_step
        Override the scenario's ``[search]`` table. With ``max_seeds`` above
        ``seeds``, seeds are adaptive: a decision still unclear after
        ``seeds`` takes ``seed_step`` more (default ``seeds``), up to
        ``max_seeds`` (see docs/internals.md, *Adaptive seeds*).
    store
        The SQLite trial store; defaults to `default_store_path`.
    jobs
        Trials trained in parallel (worker processes of the local pool, or
        workers of a LocalCluster / CPUs of a local Ray instance).
    executor
        ``"local"`` (default), ``"dask"`` or ``"ray"``; the last two need the
        ``bisect-ml[dask]`` or ``bisect-ml[ray]`` extra.
    address
        Scheduler address of a Dask or Ray cluster; ``None`` starts one on this
        machine.
    retries
        Times a trial whose worker process died is tried again before it is
        recorded as failed (and counted like a diverged trial).
    max_trials
        Trial budget of the search (stored trials count too).
    debug
        Keep what worker processes write to stderr.
    command
        The command line recorded with the run in the store; by default the
        ``bisect-ml bisect`` command equivalent to this call.
    on_run
        Called with the run's id once it is recorded, before any training.
    on_traps
        Called, before any training, with the known traps the pair shows
        (those `diff` reports; possibly none). They are also in the verdict,
        under ``settings["warnings"]``, and every report shows them.

    Returns
    -------
    Verdict
        Render it with `bisect_ml.report.to_markdown` or ``to_json``. The run,
        its command and its verdict are recorded in the store (`Store.runs`),
        so that ``bisect-ml report`` renders it again without training.
    """
    from bisect_ml._errors import ExecutorError
    from bisect_ml.lab import EXECUTORS, Lab, Store
    from bisect_ml.report import to_json
    from bisect_ml.report._state import verdict_state
    from bisect_ml.strategies import STRATEGIES, get_strategy

    # Every argument is checked before the store is opened: bad input writes
    # nothing.
    if executor not in EXECUTORS:
        raise ExecutorError(
            executor, f"is not known; choose one of {', '.join(EXECUTORS)}"
        )
    if address is not None and executor == "local":
        raise ExecutorError(
            "local", "takes no address; --address goes with --executor dask or ray"
        )
    if retries < 0:
        raise ScenarioError("must be >= 0", key="--retries", received=retries)
    if strategy is not None and strategy not in STRATEGIES:
        raise ScenarioError(
            f"must be one of {', '.join(STRATEGIES)}",
            key="--strategy",
            received=strategy,
        )
    pair = prepare(scenario)
    options = dict(pair.search)
    given = {
        "seeds": seeds,
        "strategy": strategy,
        "alpha": alpha,
        "margin": margin,
        "max_seeds": max_seeds,
        "seed_step": seed_step,
    }
    for key, value in given.items():
        if value is not None:
            options[key] = value
    _check_seeds(options, given, pair)
    search = get_strategy(
        str(options["strategy"]),
        seeds=int(options["seeds"]),
        alpha=float(options["alpha"]),
        margin=float(options["margin"]),
        max_trials=max_trials,
        max_seeds=options.get("max_seeds"),
        seed_step=options.get("seed_step"),
    )
    if command is None:
        command = _equivalent_command(scenario, pair, options, max_trials)
    traps = find_traps(pair)
    if on_traps is not None:
        on_traps(traps)
    trial_store = Store(store if store is not None else default_store_path())
    run_id = new_run_id()
    try:
        trial_store.start_run(
            run_id,
            scenario=pair.name,
            scenario_path=pair.path,
            command=command,
            strategy=str(options["strategy"]),
        )
        if on_run is not None:
            on_run(run_id)
        try:
            with Lab(
                pair,
                trial_store,
                jobs=jobs,
                executor=executor,
                address=address,
                retries=retries,
                progress=progress,
                quiet_workers=not debug,
            ) as lab:
                verdict: Verdict = _with_traps(search.run(lab), traps)
        except BaseException as err:
            status = "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"
            with contextlib.suppress(Exception):
                trial_store.finish_run(
                    run_id, status=status, error=f"{type(err).__name__}: {err}"
                )
            raise
        trial_store.finish_run(
            run_id,
            status="finished",
            result=verdict.status.value,
            verdict=to_json(verdict),
            state=verdict_state(verdict),
        )
    finally:
        trial_store.close()
    return verdict


def _with_traps(verdict: Verdict, traps: Sequence[Trap]) -> Verdict:
    """``verdict`` with the pair's known traps in ``settings["warnings"]``."""
    # TODO(#6): `Verdict` has no field of its own for them yet (verdict.py is
    # outside this change); the reports read them from there.
    warnings = [
        {
            "code": t.code,
            "factor": t.factor,
            "side": t.side,
            "key": t.key,
            "message": t.message,
        }
        for t in traps
    ]
    return dataclasses.replace(
        verdict, settings={**verdict.settings, "warnings": warnings}
    )


def new_run_id() -> str:
    """A fresh run id: 12 hexadecimal digits, random."""
    return secrets.token_hex(6)


def _check_seeds(options: dict[str, Any], given: dict[str, Any], pair: Pair) -> None:
    """The seed options after overrides: at least 3, and a cap not below them."""

    def key(name: str) -> str:
        flag = "--" + name.replace("_", "-")
        return flag if given[name] is not None else f"search.{name}"

    if int(options["seeds"]) < 3:
        raise ScenarioError(
            "must be at least 3", key=key("seeds"), received=options["seeds"]
        )
    cap = options.get("max_seeds")
    if cap is not None and int(cap) < int(options["seeds"]):
        raise ScenarioError(
            f"must be at least the seeds per arm ({options['seeds']})",
            key=key("max_seeds"),
            received=cap,
            path=None if given["max_seeds"] is not None else pair.path,
        )
    step = options.get("seed_step")
    if step is not None and int(step) < 1:
        raise ScenarioError("must be at least 1", key=key("seed_step"), received=step)
    if step is not None and cap is None:
        # Alone it would fix the seeds (and turn off auto's planned looks).
        raise ScenarioError(
            "only applies with --max-seeds (adaptive seeds)",
            key=key("seed_step"),
            received=step,
        )


def _equivalent_command(
    scenario: str | Path | Pair,
    pair: Pair,
    options: dict[str, Any],
    max_trials: int | None,
) -> list[str]:
    """The ``bisect-ml bisect`` command that runs the same search."""
    ref = pair.path or pair.name if isinstance(scenario, Pair) else str(scenario)
    command = ["bisect-ml", "bisect", str(ref)]
    command += ["--seeds", str(options["seeds"])]
    command += ["--strategy", str(options["strategy"])]
    for name in ("max_seeds", "seed_step"):
        if options.get(name) is not None:
            command += ["--" + name.replace("_", "-"), str(options[name])]
    if max_trials is not None:
        command += ["--max-trials", str(max_trials)]
    return command
