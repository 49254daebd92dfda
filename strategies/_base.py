"""The strategy base class: the bookkeeping every search shares.

A strategy only decides which arms to measure and which factors it found; the
base class measures the sides, decides whether there is a gap at all, keeps the
trial budget, and quantifies what the strategy found (shares with intervals,
closure, interaction) into a `Verdict`.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from bisect_ml._errors import BudgetExhausted
from bisect_ml.lab import Arm
from bisect_ml.stats import Comparison, Ratio, compare, equivalence, holm, ratio_of_gaps
from bisect_ml.verdict import ArmResult, Cause, Closure, Status, StopReason, Verdict

if TYPE_CHECKING:
    from bisect_ml.backends import Outcome
    from bisect_ml.lab import Lab
    from bisect_ml.scenario import Pair

__all__ = ["FactorTest", "Strategy"]

logger = logging.getLogger(__name__)


class FactorTest:
    """One factor swapped alone, in both directions, against its own sides."""

    def __init__(
        self, factor: str, comparisons: dict[str, Comparison], toward: dict[str, float]
    ) -> None:
        self.factor = factor
        self.comparisons = comparisons
        pvalues = [comparisons[fw].pvalue_toward(toward[fw]) for fw in comparisons]
        away = [comparisons[fw].pvalue_toward(-toward[fw]) for fw in comparisons]
        #: Smallest one-sided p-value of a move toward the other side, doubled
        #: for the two directions looked at (Bonferroni).
        self.pvalue = min(1.0, len(pvalues) * min(pvalues))
        #: The same for a move away from the other side.
        self.pvalue_away = min(1.0, len(away) * min(away))


class Strategy(ABC):
    """Base class of search strategies.

    Parameters
    ----------
    seeds
        Seeds per arm; every arm is trained at the same seeds, so arms on one
        framework share initial draws wherever their factors agree.
    alpha
        Family-wise error rate of each family of decisions.
    margin
        Equivalence margin of the closure check, as a fraction of the gap.
    max_trials
        Trials the strategy may request in all (stored ones included); ``None``
        for no limit.
    first_seed
        The first seed; seeds are ``first_seed, first_seed + 1, ...``.
    """

    name: ClassVar[str]

    def __init__(
        self,
        *,
        seeds: int = 10,
        alpha: float = 0.05,
        margin: float = 0.25,
        max_trials: int | None = None,
        first_seed: int = 0,
    ) -> None:
        if seeds < 3:
            raise ValueError(f"`seeds` must be at least 3, got {seeds!r}")
        self.seeds = tuple(range(first_seed, first_seed + seeds))
        self.alpha = alpha
        self.margin = margin
        self.max_trials = max_trials
        self.requested = 0
        self._values: dict[Arm, list[Outcome]] = {}
        self._lab: Lab | None = None

    # -- what subclasses implement -------------------------------------------

    @abstractmethod
    def explore(self, candidates: list[str]) -> list[str]:
        """Search the candidates; return the factors found to cause the gap."""

    # -- bookkeeping ---------------------------------------------------------

    @property
    def lab(self) -> Lab:
        if self._lab is None:
            raise RuntimeError("the strategy is not running")
        return self._lab

    @property
    def pair(self) -> Pair:
        return self.lab.pair

    def measure(self, arms: list[Arm]) -> dict[Arm, np.ndarray]:
        """Per-seed metrics of ``arms``; an arm already measured costs nothing."""
        new = [arm for arm in dict.fromkeys(arms) if arm not in self._values]
        cost = len(new) * len(self.seeds)
        if self.max_trials is not None and self.requested + cost > self.max_trials:
            raise BudgetExhausted(self.max_trials, cost)
        if new:
            self.requested += cost
            logger.info("measuring %d arms at %d seeds", len(new), len(self.seeds))
            self._values.update(self.lab.measure(new, self.seeds))
        return {arm: self.metric(arm) for arm in arms}

    def metric(self, arm: Arm) -> np.ndarray:
        return np.array([o.metric for o in self._values[arm]], dtype=float)

    def side(self, framework: str) -> Arm:
        return Arm(framework)

    def single(self, framework: str, factor: str) -> Arm:
        return Arm(framework, frozenset({factor}))

    def test_factor(self, factor: str) -> FactorTest:
        """Measure ``factor`` swapped alone both ways and test the moves."""
        arms = [self.single(fw, factor) for fw in ("torch", "keras")]
        self.measure([self.side("torch"), self.side("keras"), *arms])
        t, k = self.metric(self.side("torch")), self.metric(self.side("keras"))
        toward_keras = float(np.sign(np.nanmean(k) - np.nanmean(t)))
        comparisons = {
            "torch": compare(t, self.metric(arms[0]), paired=True),
            "keras": compare(k, self.metric(arms[1]), paired=True),
        }
        return FactorTest(
            factor, comparisons, {"torch": toward_keras, "keras": -toward_keras}
        )

    # -- the run ---------------------------------------------------------------

    def run(self, lab: Lab) -> Verdict:
        """Search ``lab``'s pair and return the verdict."""
        self._lab = lab
        start = time.perf_counter()
        notes: list[str] = []
        sides = self.measure([self.side("torch"), self.side("keras")])
        # Gap = torch - keras: positive when torch ends worse.
        gap = compare(
            sides[self.side("keras")], sides[self.side("torch")], paired=False
        )
        candidates = self.pair.differing()
        if gap.pvalue >= self.alpha:
            return self._verdict(
                Status.NO_GAP,
                StopReason.NO_GAP,
                gap,
                candidates,
                [],
                None,
                start,
                notes,
            )
        if not candidates:
            notes.append(
                "the sides differ in no catalogued factor, yet their "
                "errors differ: the cause is outside the catalogue"
            )
            return self._verdict(
                Status.RESIDUAL,
                StopReason.NO_CANDIDATES,
                gap,
                candidates,
                [],
                None,
                start,
                notes,
            )

        try:
            found = self.explore(candidates)
            stop = StopReason.DECIDED
        except BudgetExhausted as err:
            notes.append(str(err))
            found, stop = [], StopReason.BUDGET_EXHAUSTED
        causes = self._causes(candidates, set(found))
        closure = None
        if stop is StopReason.DECIDED:
            try:
                closure = self._closure(candidates)
            except BudgetExhausted as err:
                notes.append(f"closure not checked: {err}")
                stop = StopReason.BUDGET_EXHAUSTED

        if (
            not any(c.is_cause for c in causes)
            or (closure is not None and closure.status == "different")
            or closure is None
        ):
            status = Status.RESIDUAL
        else:
            status = Status.EXPLAINED
        if closure is not None and closure.status == "inconclusive":
            notes.append(
                "closure is neither significantly different from the other side nor "
                f"shown equivalent within {self.margin:.0%} of the gap: more seeds "
                "would settle whether a residual remains"
            )
        return self._verdict(
            status, stop, gap, candidates, causes, closure, start, notes
        )

    # -- quantification --------------------------------------------------------

    def _share_arms(self, factors: list[str]) -> dict[str, np.ndarray]:
        arms = {
            "T": self.metric(self.side("torch")),
            "K": self.metric(self.side("keras")),
        }
        for f in factors:
            arms[f"T:{f}"] = self.metric(self.single("torch", f))
            arms[f"K:{f}"] = self.metric(self.single("keras", f))
        return arms

    @staticmethod
    def _m(values: np.ndarray) -> np.ndarray:
        return np.nanmean(values, axis=-1)

    def _share(self, arms: dict[str, np.ndarray], t: str, k: str) -> Ratio:
        m = self._m
        return ratio_of_gaps(
            {"T": arms["T"], "K": arms["K"], "t": arms[t], "k": arms[k]},
            lambda a: (m(a["T"]) - m(a["t"])) + (m(a["k"]) - m(a["K"])),
            lambda a: 2 * (m(a["T"]) - m(a["K"])),
        )

    def _one_side_share(self, arms: dict[str, np.ndarray], fw: str, h: str) -> Ratio:
        m = self._m
        sign = 1.0 if fw == "torch" else -1.0
        own = "T" if fw == "torch" else "K"
        return ratio_of_gaps(
            {"T": arms["T"], "K": arms["K"], "h": arms[h]},
            lambda a: sign * (m(a[own]) - m(a["h"])),
            lambda a: m(a["T"]) - m(a["K"]),
        )

    def _causes(self, candidates: list[str], found: set[str]) -> list[Cause]:
        tested = [
            f
            for f in candidates
            if self.single("torch", f) in self._values
            and self.single("keras", f) in self._values
        ]
        if not tested:
            return []
        tests = [self.test_factor(f) for f in tested]
        adjusted = holm([t.pvalue for t in tests])
        adjusted_away = holm([t.pvalue_away for t in tests])
        arms = self._share_arms(tested)
        pair = self.pair
        causes = []
        for test, p_adj, p_away in zip(tests, adjusted, adjusted_away, strict=True):
            f = test.factor
            if f in found:
                role = "cause"
            elif p_away < self.alpha:
                role = "offsetting"
            else:
                role = "ruled_out"
            causes.append(
                Cause(
                    factor=f,
                    values={
                        fw: pair.side(fw).assignment[f] for fw in ("torch", "keras")
                    },
                    is_default={
                        fw: pair.side(fw).is_default(f) for fw in ("torch", "keras")
                    },
                    share=self._share(arms, f"T:{f}", f"K:{f}"),
                    share_by_side={
                        "torch": self._one_side_share(arms, "torch", f"T:{f}"),
                        "keras": self._one_side_share(arms, "keras", f"K:{f}"),
                    },
                    comparisons=test.comparisons,
                    pvalue=test.pvalue,
                    pvalue_adjusted=p_adj,
                    role=role,
                    share_by_epoch=self._share_by_epoch(f),
                )
            )
        return causes

    def _curves(self, arm: Arm) -> np.ndarray:
        curves = [o.metric_curve for o in self._values[arm]]
        width = min(len(c) for c in curves)
        return np.array([c[:width] for c in curves], dtype=float)

    def _share_by_epoch(self, factor: str) -> tuple[float, ...]:
        t, k = self._curves(self.side("torch")), self._curves(self.side("keras"))
        th = self._curves(self.single("torch", factor))
        kh = self._curves(self.single("keras", factor))
        width = min(x.shape[1] for x in (t, k, th, kh))
        with np.errstate(divide="ignore", invalid="ignore"):
            mt, mk = np.nanmean(t[:, :width], 0), np.nanmean(k[:, :width], 0)
            mth, mkh = np.nanmean(th[:, :width], 0), np.nanmean(kh[:, :width], 0)
            share = ((mt - mth) + (mkh - mk)) / (2 * (mt - mk))
        return tuple(float(s) for s in share)

    def _closure(self, candidates: list[str]) -> Closure:
        full = frozenset(candidates)
        t_all, k_all = Arm("torch", full), Arm("keras", full)
        self.measure([t_all, k_all])
        t, k = self.metric(self.side("torch")), self.metric(self.side("keras"))
        tc, kc = self.metric(t_all), self.metric(k_all)
        margin = self.margin * abs(np.nanmean(t) - np.nanmean(k))
        difference = {
            "torch": compare(k, tc, paired=False),
            "keras": compare(t, kc, paired=False),
        }
        equiv = {
            "torch": equivalence(k, tc, margin),
            "keras": equivalence(t, kc, margin),
        }
        m = self._m
        arms = {"T": t, "K": k, "t": tc, "k": kc}

        def closed(a: dict[str, np.ndarray]) -> np.ndarray:
            return (m(a["T"]) - m(a["t"])) + (m(a["k"]) - m(a["K"]))

        def gap2(a: dict[str, np.ndarray]) -> np.ndarray:
            return 2 * (m(a["T"]) - m(a["K"]))

        share = ratio_of_gaps(arms, closed, gap2)
        share_90 = ratio_of_gaps(arms, closed, gap2, confidence_level=0.90)
        residual_90 = (1 - share_90.high, 1 - share_90.low)
        # The decision rests on the residual share pooled over both directions:
        # equivalence is its 90% interval inside +-margin (the interval form of
        # two one-sided tests at 5%); a residual is its 95% interval excluding 0.
        # The per-arm Welch and TOST results are kept as supporting evidence.
        residual_95 = (1 - share.high, 1 - share.low)
        if -self.margin < residual_90[0] and residual_90[1] < self.margin:
            status = "equivalent"
        elif residual_95[0] > 0 or residual_95[1] < 0:
            status = "different"
        else:
            status = "inconclusive"

        singles = [
            f
            for f in candidates
            if self.single("torch", f) in self._values
            and self.single("keras", f) in self._values
        ]
        all_arms = {**self._share_arms(singles), "t": tc, "k": kc}

        def interaction(a: dict[str, np.ndarray]) -> np.ndarray:
            total = (m(a["T"]) - m(a["t"])) + (m(a["k"]) - m(a["K"]))
            for f in singles:
                total = total - (
                    (m(a["T"]) - m(a[f"T:{f}"])) + (m(a[f"K:{f}"]) - m(a["K"]))
                )
            return total

        inter = ratio_of_gaps(all_arms, interaction, gap2)
        return Closure(
            share=share,
            interaction=inter,
            equivalence=equiv,
            difference=difference,
            status=status,
            residual_90=residual_90,
            margin=self.margin,
        )

    def _verdict(
        self,
        status: Status,
        stop: StopReason,
        gap: Comparison,
        candidates: list[str],
        causes: list[Cause],
        closure: Closure | None,
        start: float,
        notes: list[str],
    ) -> Verdict:
        lab = self.lab
        arms = []
        for arm, outcomes in self._values.items():
            arms.append(
                ArmResult(
                    label=arm.label(self.pair),
                    base=arm.base,
                    swap=tuple(sorted(arm.swap)),
                    backend=arm.backend(self.pair),
                    seeds=self.seeds,
                    values=tuple(o.metric for o in outcomes),
                    metric_curves=tuple(o.metric_curve for o in outcomes),
                    loss_curves=tuple(o.loss_curve for o in outcomes),
                )
            )
        versions = {}
        for outcomes in self._values.values():
            for o in outcomes:
                versions.update({k: v for k, v in o.versions.items()})
        t_curves = self._curves(self.side("torch"))
        k_curves = self._curves(self.side("keras"))
        width = min(t_curves.shape[1], k_curves.shape[1])
        gap_by_epoch = tuple(
            float(v)
            for v in np.nanmean(t_curves[:, :width], 0)
            - np.nanmean(k_curves[:, :width], 0)
        )
        tests = [
            f"{gap.test} for the gap (sides share no initial draws)",
            f"{gap.rank_test} beside it as a rank-based check",
        ]
        if causes:
            tests += [
                "paired t over shared seeds for each hybrid against its own side, "
                "one-sided toward the other side, doubled for the two directions",
                "Wilcoxon signed-rank beside it",
                f"Holm across the {len(causes)} factors (family-wise alpha "
                f"{self.alpha})",
            ]
        if closure is not None:
            tests.append(
                "closure: equivalent when the 90% interval of the residual share "
                f"lies inside +-{self.margin:.0%} (interval form of TOST), a residual "
                "when its 95% interval excludes 0; per-arm Welch t and TOST beside"
            )
        tests.append(
            "percentile bootstrap over seeds (4999 resamples, arms "
            "resampled by seed together) for every interval"
        )
        return Verdict(
            pair=self.pair.name,
            status=status,
            stop_reason=stop,
            strategy=self.name,
            gap=gap,
            gap_by_epoch=gap_by_epoch,
            candidates=tuple(candidates),
            causes=tuple(causes),
            closure=closure,
            arms=tuple(arms),
            seeds=self.seeds,
            settings={
                "seeds_per_arm": len(self.seeds),
                "alpha": self.alpha,
                "margin": self.margin,
                "max_trials": self.max_trials,
                "jobs": lab.jobs,
                "epochs": self.pair.spec.train.epochs,
                "metric": self.pair.spec.train.metric,
            },
            trials_run=lab.trained,
            trials_cached=lab.cached,
            wall_seconds=time.perf_counter() - start,
            train_seconds=lab.train_seconds,
            tests=tuple(tests),
            notes=tuple(notes),
            versions=versions,
        )
