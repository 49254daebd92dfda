"""Optuna over swap masks, with the importance of each factor for the metric."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna

from bisect_ml.strategies._base import Strategy, at_least
from bisect_ml.strategies._search import Probes, group_test, settle

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["OptunaSearch"]

logger = logging.getLogger(__name__)

#: Importance evaluators by name.
EVALUATORS = ("fanova", "ped-anova")


@contextmanager
def _quiet_optuna() -> Iterator[None]:
    # Optuna logs every trial at INFO through its own handler; keep it to
    # warnings while this strategy runs, and put the user's setting back.
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)


class OptunaSearch(Strategy):
    """Sample swap masks with Optuna, rank factors by importance, confirm the top.

    Each Optuna trial is a torch-side arm whose swap mask the sampler chooses
    (one boolean parameter per candidate); its value is the arm's mean metric.
    The side itself and its full swap, which the verdict measures anyway, are
    enqueued first. The importance of each factor for the metric is computed by
    fANOVA (or PED-ANOVA) with a fixed seed, refitted ``refits`` times with
    successive seeds; `importances` keeps each factor's mean and standard
    deviation over the refits. Factors whose mean importance is above an even
    share (``1 / n``) are confirmed one at a time in both directions, with
    Holm's method over every candidate; when they fall short of the full swap
    on a side, that side is searched by group testing (`bisect`).

    Parameters
    ----------
    trials
        Arms the sampler proposes; default ``n + 4`` for ``n`` candidates. A
        mask proposed twice costs nothing the second time.
    seed
        Seed of the sampler; the importance refits use ``seed``,
        ``seed + 1``, ...
    importance
        ``"fanova"`` or ``"ped-anova"``.
    refits
        How many times the importance is computed, to report its spread.
    **options
        Those of `Strategy`.

    Notes
    -----
    Optuna is imported only when this strategy is chosen. The sampler is
    Optuna's `~optuna.samplers.RandomSampler`: an optimising sampler would
    crowd its trials near the best mask and bias the importance. fANOVA
    attributes variance to single factors and to their combinations; a factor
    that matters only together with another still gets a share of its own,
    since half of the masks that swap it also swap its partner.

    Examples
    --------
    >>> from bisect_ml.strategies import get_strategy
    >>> get_strategy("optuna", seed=1).name
    'optuna'
    """

    name = "optuna"

    def __init__(
        self,
        *,
        trials: int | None = None,
        seed: int = 0,
        importance: str = "fanova",
        refits: int = 5,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if importance not in EVALUATORS:
            raise ValueError(
                f"`importance` must be one of {EVALUATORS}, got {importance!r}"
            )
        if trials is not None:
            at_least("trials", trials, 2)
        at_least("refits", refits, 1)
        self.trials = trials
        self.seed = seed
        self.importance = importance
        self.refits = refits
        #: Factor -> (mean, standard deviation) of its importance over refits.
        self.importances: dict[str, tuple[float, float]] = {}

    def explore(self, candidates: list[str]) -> list[str]:
        probes = Probes(self, candidates)
        with _quiet_optuna():
            study = self._study(probes, candidates)
            self.importances = self._importances(study, candidates)
        ranked = sorted(candidates, key=lambda f: -self.importances[f][0])
        logger.info(
            "importance (mean +- sd over %d refits): %s",
            self.refits,
            ", ".join(
                f"{f} {self.importances[f][0]:.2f}+-{self.importances[f][1]:.2f}"
                for f in ranked
            ),
        )
        even = 1 / len(candidates)
        suspects = [f for f in ranked if self.importances[f][0] >= even]
        return settle(probes, suspects, group_test)

    def _study(self, probes: Probes, candidates: list[str]) -> optuna.Study:
        study = optuna.create_study(
            direction="minimize", sampler=optuna.samplers.RandomSampler(self.seed)
        )
        study.enqueue_trial({f: False for f in candidates})
        study.enqueue_trial({f: True for f in candidates})

        def objective(trial: optuna.Trial) -> float:
            mask = [
                f for f in candidates if trial.suggest_categorical(f, [False, True])
            ]
            values = self.measure([probes.arm("torch", mask)])
            finite = [v for v in next(iter(values.values())) if np.isfinite(v)]
            return float(np.mean(finite)) if finite else float("nan")

        budget = self.trials if self.trials is not None else len(candidates) + 4
        study.optimize(objective, n_trials=budget)
        return study

    def _importances(
        self, study: optuna.Study, candidates: list[str]
    ) -> dict[str, tuple[float, float]]:
        runs = []
        for i in range(self.refits):
            evaluator: optuna.importance.BaseImportanceEvaluator
            if self.importance == "fanova":
                evaluator = optuna.importance.FanovaImportanceEvaluator(
                    seed=self.seed + i
                )
            else:
                evaluator = optuna.importance.PedAnovaImportanceEvaluator()
            imp = optuna.importance.get_param_importances(study, evaluator=evaluator)
            runs.append([imp.get(f, 0.0) for f in candidates])
        arr = np.array(runs)
        return {
            f: (float(arr[:, j].mean()), float(arr[:, j].std()))
            for j, f in enumerate(candidates)
        }
