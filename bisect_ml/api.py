"""What the CLI and users' code call: `bisect`, `diff`, `default_store_path`."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bisect_ml._errors import ScenarioError
from bisect_ml.factors import FRAMEWORKS, Value, registry
from bisect_ml.scenario import Pair, check_model_fits, load_data, load_pair

if TYPE_CHECKING:
    from bisect_ml.lab import Progress
    from bisect_ml.verdict import Verdict

__all__ = ["DiffRow", "bisect", "default_store_path", "diff", "prepare"]


def default_store_path() -> Path:
    """``$BISECT_ML_STORE``, else ``~/.cache/bisect-ml/trials.sqlite``."""
    env = os.environ.get("BISECT_ML_STORE")
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "bisect-ml" / "trials.sqlite"


def prepare(scenario: str | Path | Pair) -> Pair:
    """Load and fully validate a scenario, data included, before any training."""
    pair = scenario if isinstance(scenario, Pair) else load_pair(scenario)
    if pair.backend != "simulated":
        try:
            check_model_fits(pair.spec.layers, load_data(pair.spec.data))
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


def diff(scenario: str | Path | Pair, *, all_factors: bool = False) -> list[DiffRow]:
    """The static diff of a pair: every factor whose values differ (no training).

    With ``all_factors=True`` every factor that applies is listed.
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
    return rows


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
    progress: Callable[[Progress], None] | None = None,
    debug: bool = False,
) -> Verdict:
    """Find which differing factors explain the pair's gap.

    Parameters
    ----------
    scenario
        A scenario file, the name of a bundled scenario, or a `Pair`.
    seeds, strategy, alpha, margin
        Override the scenario's ``[search]`` table.
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

    Returns
    -------
    Verdict
        Render it with `bisect_ml.report.to_markdown` or ``to_json``.
    """
    from bisect_ml._errors import ExecutorError
    from bisect_ml.lab import EXECUTORS, Lab, Store
    from bisect_ml.strategies import get_strategy

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
    pair = prepare(scenario)
    options = dict(pair.search)
    for key, value in (
        ("seeds", seeds),
        ("strategy", strategy),
        ("alpha", alpha),
        ("margin", margin),
    ):
        if value is not None:
            options[key] = value
    if int(options["seeds"]) < 3:
        raise ScenarioError(
            "must be at least 3", key="--seeds", received=options["seeds"]
        )
    search = get_strategy(
        str(options["strategy"]),
        seeds=int(options["seeds"]),
        alpha=float(options["alpha"]),
        margin=float(options["margin"]),
        max_trials=max_trials,
    )
    trial_store = Store(store if store is not None else default_store_path())
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
            verdict: Verdict = search.run(lab)
    finally:
        trial_store.close()
    return verdict
