"""The strategy base class: the bookkeeping every search shares.

A strategy only decides which arms to measure and which factors it found; the
base class measures the sides, decides whether there is a gap at all, keeps the
trial budget, adds seeds where a decision is still unclear, and quantifies what
the strategy found (shares with intervals, interactions, closure) into a
`Verdict`.

Seeds are added by a group-sequential design (`bisect_ml.stats.group_sequential`):
each decision looks at its arms after ``looks[0]``, ``looks[1]``, ... seeds and
stops as soon as its statistic crosses an efficacy or a futility boundary, or
at the cap. With ``max_seeds`` equal to ``seeds`` (the default) there is one
look and every decision is a fixed-sample test.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar, Protocol

import numpy as np
from scipy import special

from bisect_ml._errors import BudgetExhausted
from bisect_ml.lab import Arm
from bisect_ml.stats import (
    Comparison,
    IntervalWarning,
    Ratio,
    compare,
    contrast,
    detectable,
    equivalence,
    group_sequential,
    holm,
    noise,
    ratio_of_contrasts,
    seeds_needed,
    z_from_p,
)
from bisect_ml.verdict import (
    ArmResult,
    Cause,
    Closure,
    Decision,
    Interaction,
    Power,
    Status,
    StopReason,
    Verdict,
)

if TYPE_CHECKING:
    from bisect_ml.backends import Outcome
    from bisect_ml.scenario import Pair
    from bisect_ml.stats import Equivalence, GroupSequential

__all__ = ["FactorTest", "LabLike", "Strategy"]

logger = logging.getLogger(__name__)

FRAMEWORKS = ("torch", "keras")
#: Causes, largest share first, among which pairwise interactions are tested.
MAX_INTERACTING = 4


def _finite_sd(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.std(ddof=1)) if len(finite) >= 2 else math.nan


def _diverges_apart(equiv: dict[str, Equivalence], alpha: float) -> bool:
    """Whether a closure arm diverges at another rate than its other side."""
    return any(2 * e.pvalue_diverged < alpha for e in equiv.values())


def at_least(name: str, value: int, least: int) -> None:
    """Raise `ValueError` unless option ``name`` is at least ``least``."""
    if value < least:
        raise ValueError(f"`{name}` must be at least {least}, got {value!r}")


def _paired_detectable(sd: float, n: int, alpha: float, power: float) -> float:
    """Smallest mean paired difference a two-sided paired t-test finds."""
    if n < 2 or not math.isfinite(sd):
        return math.nan
    q = special.stdtrit(n - 1, 1 - alpha / 2) + special.stdtrit(n - 1, power)
    return float(q * sd / math.sqrt(n))


class LabLike(Protocol):
    """What a strategy needs of a lab (`bisect_ml.lab.Lab` is one)."""

    pair: Pair
    jobs: int
    trained: int
    cached: int
    train_seconds: float

    def measure(
        self, arms: Iterable[Arm], seeds: Iterable[int]
    ) -> dict[Arm, list[Outcome]]: ...


class FactorTest:
    """A swap set (usually one factor) swapped into each side, tested both ways.

    Each side's hybrid is compared with its own side over shared seeds (a
    paired test). The claim "the swap moves a side" is tested two-sided per
    side, Bonferroni over the two sides, with a group-sequential design when
    seeds are adaptive.

    Attributes
    ----------
    factor
        The factor, or the swap set's members joined by ``", "``.
    factors
        The swap set.
    comparisons
        Per side, the hybrid against its side at the seeds the test stopped at.
    pvalue
        Of a move *toward* the other side: the smaller one-sided p-value of the
        two sides, doubled.
    pvalue_away
        The same for a move away from the other side.
    pvalue_any
        Of a move either way: ``min(1, 2 * min(pvalue, pvalue_away))``, the
        p-value the search corrects for multiplicity.
    toward
        Whether the stronger move is toward the other side.
    seeds, stop, outcome
        Seeds per arm at the stop, why the test stopped, and ``"effect"`` or
        ``"no_effect"``.
    """

    def __init__(
        self,
        factor: str,
        comparisons: dict[str, Comparison],
        toward: dict[str, float],
        *,
        design: GroupSequential | None = None,
        look: int = 0,
        stop: StopReason = StopReason.SEED_CAP,
        outcome: str = "",
        factors: tuple[str, ...] = (),
    ) -> None:
        self.factor = factor
        self.factors = factors or (factor,)
        self.comparisons = comparisons
        self.stop = stop
        self.seeds = min(len(c.a) for c in comparisons.values())
        toward_p, away_p = [], []
        for fw, cmp in comparisons.items():
            two_sided = cmp.pvalue
            if design is not None:
                z = z_from_p(cmp.pvalue / 2)
                two_sided = min(1.0, 2 * design.pvalue(look, z))
            moved = (cmp.sign or float(np.sign(cmp.effect))) * toward[fw]
            toward_p.append(two_sided / 2 if moved > 0 else 1 - two_sided / 2)
            away_p.append(two_sided / 2 if moved < 0 else 1 - two_sided / 2)
        self.pvalue = min(1.0, len(toward_p) * min(toward_p))
        self.pvalue_away = min(1.0, len(away_p) * min(away_p))
        self.pvalue_any = min(1.0, 2 * min(self.pvalue, self.pvalue_away))
        self.toward = self.pvalue <= self.pvalue_away
        self.outcome = outcome


class Strategy(ABC):
    """Base class of search strategies.

    Parameters
    ----------
    seeds
        Seeds per arm at the first look (every arm, when seeds are fixed).
        Arms are trained at the same seeds, so arms on one framework share
        initial draws wherever their factors agree.
    alpha
        Family-wise error rate of each family of decisions.
    margin
        Equivalence margin of the closure check, as a fraction of the gap.
    max_trials
        Trials the strategy may request in all (stored ones included); ``None``
        for no limit.
    first_seed
        The first seed; seeds are ``first_seed, first_seed + 1, ...``.
    max_seeds
        The seed cap of adaptive seeds: a decision still unclear after
        ``seeds`` takes ``seed_step`` more, and so on up to ``max_seeds``.
        ``None`` (or ``seeds``) fixes the seeds.
    seed_step
        Seeds added per look; defaults to ``seeds``.
    power
        Power the sequential designs are built for: it sets their futility
        boundaries and the minimum detectable effects in the report.
    gamma, gamma_beta
        Hwang-Shih-DeCani parameters of the alpha and beta spending (1 spends
        early like Pocock, -4 late like O'Brien-Fleming). The defaults keep the
        last look's efficacy boundary close to the fixed test's and stop for
        futility early.

    Notes
    -----
    Subclasses implement `explore`. They measure arms with `measure` (always
    at the first-look seeds, so two arms' values pair up) and may test a swap
    set with `test_set` or `test_factor`, which add seeds while the answer is
    unclear. `values` gives every seed an arm has.
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
        max_seeds: int | None = None,
        seed_step: int | None = None,
        power: float = 0.9,
        gamma: float = -4.0,
        gamma_beta: float = 1.0,
    ) -> None:
        at_least("seeds", seeds, 3)
        cap = seeds if max_seeds is None else max_seeds
        if cap < seeds:
            raise ValueError(
                f"`max_seeds` must be at least `seeds` ({seeds}), got {max_seeds!r}"
            )
        step = seeds if seed_step is None else seed_step
        at_least("seed_step", step, 1)
        if not 0.5 < power < 1:
            raise ValueError(f"`power` must be in (0.5, 1), got {power!r}")
        self.seeds = tuple(range(first_seed, first_seed + seeds))
        self.looks = tuple(sorted({*range(seeds, cap, step), cap}))
        self._all_seeds = tuple(range(first_seed, first_seed + cap))
        self.alpha = alpha
        self.margin = margin
        self.max_trials = max_trials
        self.power = power
        self.gamma = gamma
        self.gamma_beta = gamma_beta
        #: Hypotheses the factor tests are corrected for; `run` sets it to the
        #: number of candidates.
        self.family = 1
        self.requested = 0
        self._values: dict[Arm, list[Outcome]] = {}
        self._lab: LabLike | None = None
        self._tests: dict[tuple[frozenset[str], float], FactorTest] = {}
        self._decisions: list[Decision] = []
        self._arm_stop: dict[Arm, tuple[int, str, StopReason]] = {}
        self._labels: dict[Arm, str] = {}
        self._candidates: list[str] = []
        #: Notes of the strategy's own (what its search did, what it could not
        #: do), added to the verdict's notes.
        self.notes: list[str] = []
        #: The strategy's own methods (its search's tests and error control),
        #: added to the verdict's list of tests.
        self.methods: list[str] = []

    # -- what subclasses implement -------------------------------------------

    @abstractmethod
    def explore(self, candidates: list[str]) -> list[str]:
        """Search the candidates; return the factors found to cause the gap."""

    # -- bookkeeping ---------------------------------------------------------

    @property
    def lab(self) -> LabLike:
        if self._lab is None:
            raise RuntimeError("the strategy is not running")
        return self._lab

    @property
    def pair(self) -> Pair:
        return self.lab.pair

    @property
    def adaptive(self) -> bool:
        """Whether decisions may add seeds beyond the first look."""
        return len(self.looks) > 1

    def extend(self, arms: Iterable[Arm], n: int) -> None:
        """Measure ``arms`` at their first ``n`` seeds; stored ones cost nothing."""
        if n > len(self._all_seeds):
            raise ValueError(f"at most {len(self._all_seeds)} seeds, got {n}")
        todo: dict[int, list[Arm]] = {}
        for arm in dict.fromkeys(arms):
            have = len(self._values.get(arm, ()))
            if have < n:
                todo.setdefault(have, []).append(arm)
        cost = sum((n - have) * len(group) for have, group in todo.items())
        if not cost:
            return
        if self.max_trials is not None and self.requested + cost > self.max_trials:
            raise BudgetExhausted(self.max_trials, cost)
        self.requested += cost
        for have, group in sorted(todo.items()):
            logger.info("measuring %d arms at seeds %d..%d", len(group), have + 1, n)
            new = self.lab.measure(group, self._all_seeds[have:n])
            for arm in group:
                self._values.setdefault(arm, []).extend(new[arm])

    def _out_of_budget(
        self, arms: Iterable[Arm], look: int, n: int
    ) -> BudgetExhausted | None:
        """Measure ``arms`` at ``n`` seeds for ``look``; the error if over budget.

        At the first look nothing is decided yet and the error is raised; at a
        later one it is returned, and the caller stops at the look before.
        """
        try:
            self.extend(arms, n)
        except BudgetExhausted as err:
            if look == 0:
                raise
            return err
        return None

    def measure(self, arms: list[Arm]) -> dict[Arm, np.ndarray]:
        """Per-seed metrics of ``arms`` at the first-look seeds.

        An arm already measured costs nothing. Every array has
        ``len(self.seeds)`` values in seed order, so any two pair up.
        """
        self.extend(arms, len(self.seeds))
        return {arm: self.metric(arm) for arm in arms}

    def metric(self, arm: Arm) -> np.ndarray:
        """``arm``'s metric at the first-look seeds (``nan``: diverged)."""
        return self.values(arm, len(self.seeds))

    def values(self, arm: Arm, n: int | None = None) -> np.ndarray:
        """``arm``'s metric at its first ``n`` seeds (default: all it has)."""
        outcomes = self._values[arm]
        if n is not None and n > len(outcomes):
            raise ValueError(f"{arm.label()} has {len(outcomes)} seeds, not {n}")
        return np.array([o.metric for o in outcomes[:n]], dtype=float)

    def label(self, arm: Arm) -> str:
        """``arm``'s label in the verdict (the full swap reads ``{all}``)."""
        return self._label(arm)

    def _label(self, arm: Arm) -> str:
        if arm not in self._labels:
            full = arm.swap and arm.swap == frozenset(self._candidates)
            self._labels[arm] = arm.label(self.pair if full else None)
        return self._labels[arm]

    def side(self, framework: str) -> Arm:
        return Arm(framework)

    def single(self, framework: str, factor: str) -> Arm:
        return Arm(framework, frozenset({factor}))

    def design(self, alpha: float) -> GroupSequential:
        """The one-sided group-sequential design at ``alpha`` over the looks."""
        return group_sequential(
            self.looks,
            alpha,
            power=self.power,
            gamma=self.gamma,
            gamma_beta=self.gamma_beta,
        )

    # -- sequential decisions ------------------------------------------------

    def record(self, decision: Decision, arms: Iterable[Arm]) -> None:
        """Log a strategy's own decision (a screening question) in the verdict."""
        self._record(decision, arms)

    def _record(self, decision: Decision, arms: Iterable[Arm]) -> None:
        self._decisions.append(decision)
        logger.info(
            "%s %s: %s after %d seeds (%s)",
            decision.kind,
            decision.subject,
            decision.outcome,
            decision.seeds,
            decision.stop.value,
        )
        for arm in arms:
            if arm not in self._arm_stop or decision.seeds >= self._arm_stop[arm][0]:
                self._arm_stop[arm] = (decision.seeds, decision.subject, decision.stop)

    def test_factor(self, factor: str, *, alpha: float | None = None) -> FactorTest:
        """Test ``factor`` swapped alone both ways, adding seeds while unclear.

        ``alpha`` is the two-sided level of this one test; it defaults to
        ``self.alpha / self.family``, Bonferroni over the candidates, so that
        Holm's method over the factors' p-values keeps the family-wise rate.
        """
        return self.test_factors([factor], alpha=alpha)[0]

    def test_set(
        self, factors: Iterable[str], *, alpha: float | None = None
    ) -> FactorTest:
        """Test a swap set both ways (a group test), adding seeds while unclear."""
        return self.test_sets([frozenset(factors)], alpha=alpha)[0]

    def test_factors(
        self, factors: list[str], *, alpha: float | None = None
    ) -> list[FactorTest]:
        """`test_factor` for several factors, their looks taken together."""
        return self.test_sets([frozenset({f}) for f in factors], alpha=alpha)

    def test_sets(
        self, swaps: list[frozenset[str]], *, alpha: float | None = None
    ) -> list[FactorTest]:
        """`test_set` for several swap sets, their looks taken together.

        Measuring every open test's arms in one request lets the lab train
        them in parallel. A test stops when either side's paired test crosses
        the efficacy boundary (an effect), when both fall below the futility
        boundary (no effect worth the cap's seeds), or at the cap.
        """
        level = self.alpha / self.family if alpha is None else alpha
        # Two-sided per side, Bonferroni over the two sides: one-sided level/4.
        design = self.design(level / 4)
        sides = [self.side(fw) for fw in FRAMEWORKS]
        open_ = [s for s in dict.fromkeys(swaps) if (s, level) not in self._tests]
        for k, n in enumerate(self.looks):
            if not open_:
                break
            arms = {s: [Arm(fw, s) for fw in FRAMEWORKS] for s in open_}
            over = self._out_of_budget([*sides, *itertools.chain(*arms.values())], k, n)
            if over is not None:
                for s in open_:
                    self._finish(s, level, design, k - 1, StopReason.BUDGET_EXHAUSTED)
                raise over
            still = []
            for s in open_:
                cmp = self._compare_set(s, n)
                zs = [z_from_p(c.pvalue / 2) for c in cmp.values()]
                verdicts = [design.decide(k, z) for z in zs]
                if "reject" in verdicts:
                    self._finish(s, level, design, k, StopReason.DECIDED, "effect")
                elif k == len(self.looks) - 1:
                    self._finish(s, level, design, k, StopReason.SEED_CAP)
                elif all(v == "accept" for v in verdicts):
                    self._finish(s, level, design, k, StopReason.DECIDED)
                else:
                    still.append(s)
            open_ = still
        return [self._tests[(s, level)] for s in swaps]

    def _compare_set(self, swap: frozenset[str], n: int) -> dict[str, Comparison]:
        return {
            fw: compare(
                self.values(self.side(fw), n),
                self.values(Arm(fw, swap), n),
                paired=True,
            )
            for fw in FRAMEWORKS
        }

    def _toward(self) -> dict[str, float]:
        # The direction of the other side, from the sides' current means.
        t, k = self.values(self.side("torch")), self.values(self.side("keras"))
        toward_keras = float(np.sign(np.nanmean(k) - np.nanmean(t)))
        return {"torch": toward_keras, "keras": -toward_keras}

    def _finish(
        self,
        swap: frozenset[str],
        level: float,
        design: GroupSequential,
        look: int,
        stop: StopReason,
        outcome: str = "no_effect",
    ) -> None:
        n = self.looks[look]
        comparisons = self._compare_set(swap, n)
        label = ", ".join(sorted(swap))
        test = FactorTest(
            label,
            comparisons,
            self._toward(),
            design=design,
            look=look,
            stop=stop,
            outcome=outcome,
            factors=tuple(sorted(swap)),
        )
        self._tests[(swap, level)] = test
        arms = [self.side(fw) for fw in FRAMEWORKS] + [
            Arm(fw, swap) for fw in FRAMEWORKS
        ]
        z = max(z_from_p(c.pvalue / 2) for c in comparisons.values())
        self._record(
            Decision(
                subject=label if len(swap) == 1 else f"{{{label}}}",
                kind="factor" if len(swap) == 1 else "set",
                outcome=outcome,
                stop=stop,
                seeds=n,
                looks=self.looks,
                z=z,
                pvalue=test.pvalue_any,
                alpha=level,
                arms=tuple(self._label(a) for a in arms),
            ),
            arms,
        )

    def _decide_gap(self) -> tuple[Comparison, bool, StopReason]:
        """Is there a gap? Two-sided Welch (or rank) test over adaptive seeds.

        It stops early only for a gap; "no gap" waits for the cap.
        """
        t, k = self.side("torch"), self.side("keras")
        design = self.design(self.alpha / 2)
        look, stop, found = 0, StopReason.SEED_CAP, False
        for look, n in enumerate(self.looks):
            try:
                over = self._out_of_budget([t, k], look, n)
            except BudgetExhausted as err:
                return self._gap_within_budget(err)
            if over is not None:
                look, stop = look - 1, StopReason.BUDGET_EXHAUSTED
                break
            # Gap = torch - keras: positive when torch ends worse.
            gap = compare(self.values(k, n), self.values(t, n), paired=False)
            verdict = design.decide(look, z_from_p(gap.pvalue / 2))
            if verdict == "reject":
                found, stop = True, StopReason.DECIDED
                break
            # No futility stop: the gap gates the whole search and costs two
            # arms, so "no gap" is only concluded at the cap.
            if verdict == "accept" and look == len(self.looks) - 1:
                break
        n = self.looks[look]
        gap = compare(self.values(k, n), self.values(t, n), paired=False)
        z = z_from_p(gap.pvalue / 2)
        self._record(
            Decision(
                subject="gap",
                kind="gap",
                outcome="effect" if found else "no_effect",
                stop=stop,
                seeds=n,
                looks=self.looks,
                z=z,
                pvalue=min(1.0, 2 * design.pvalue(look, z)),
                alpha=self.alpha,
                arms=("torch", "keras"),
            ),
            [t, k],
        )
        return gap, found, stop

    def _gap_within_budget(
        self, err: BudgetExhausted
    ) -> tuple[Comparison, bool, StopReason]:
        """The sides at the seeds the budget affords, below the first look.

        Nothing is decided from them: the gap's decision is recorded as
        stopped by the budget, and the verdict is inconclusive. Below two
        seeds per side there is nothing to report and ``err`` is raised.
        """
        t, k = self.side("torch"), self.side("keras")
        have = min(len(self._values.get(t, ())), len(self._values.get(k, ())))
        left = (self.max_trials or 0) - self.requested
        n = have + left // 2
        if n < 2:
            raise err
        self.extend([t, k], n)
        gap = compare(self.values(k, n), self.values(t, n), paired=False)
        self._record(
            Decision(
                subject="gap",
                kind="gap",
                outcome="inconclusive",
                stop=StopReason.BUDGET_EXHAUSTED,
                seeds=n,
                looks=self.looks,
                z=z_from_p(gap.pvalue / 2),
                pvalue=gap.pvalue,
                alpha=self.alpha,
                arms=("torch", "keras"),
            ),
            [t, k],
        )
        return gap, False, StopReason.BUDGET_EXHAUSTED

    def _inconclusive_note(self, causes: list[Cause], closure: Closure | None) -> str:
        """What an inconclusive verdict lacks, and about how many seeds."""
        if closure is None:
            return (
                "inconclusive: the trial budget ran out before the factors and "
                "the closure were decided; a larger --max-trials would finish them"
            )
        head = (
            "inconclusive: the gap is real, but no factor moves a side "
            "significantly toward the other and the closure shows no residual"
        )
        undecided = [c for c in causes if c.role == "inconclusive"]
        if not undecided:
            return head + "; more seeds are needed"
        top = max(undecided, key=lambda c: abs(c.share.estimate))
        need = self._seeds_to_detect(top)
        if need is None:
            return head + "; more seeds are needed"
        return (
            head + f"; about {need} seeds per arm would find `{top.factor}`'s "
            f"observed move (the largest undecided share) with {self.power:.0%} "
            f"power (the seed cap is {self.looks[-1]}: raise --seeds or --max-seeds)"
        )

    def _seeds_to_detect(self, cause: Cause, limit: int = 1000) -> int | None:
        """Seeds per arm at which ``cause``'s observed paired move is found.

        The paired test of either side at the factor's level, with the power
        the design asks for; ``None`` when no side moves or beyond ``limit``.
        """
        level = self.alpha / self.family
        best: int | None = None
        for cmp in cause.comparisons.values():
            diff = np.subtract(cmp.b, cmp.a)
            diff = diff[np.isfinite(diff)]
            sd = _finite_sd(diff)
            if len(diff) < 2 or not sd > 0:
                continue
            move = abs(float(diff.mean()))
            for n in range(max(2, cause.seeds), limit + 1):
                if _paired_detectable(sd, n, level / 2, self.power) <= move:
                    best = n if best is None else min(best, n)
                    break
        return best

    # -- the run ---------------------------------------------------------------

    def run(self, lab: LabLike) -> Verdict:
        """Search ``lab``'s pair and return the verdict."""
        self._lab = lab
        start = time.perf_counter()
        notes: list[str] = []
        candidates = self.pair.differing()
        self._candidates = candidates
        self.family = max(1, len(candidates))
        _, found_gap, gap_stop = self._decide_gap()
        gap = self._gap()
        if gap_stop is StopReason.BUDGET_EXHAUSTED:
            notes.append(
                f"trial budget of {self.max_trials} exhausted while deciding "
                "whether there is a gap"
            )
        if not found_gap:
            if gap_stop is StopReason.BUDGET_EXHAUSTED:
                # Undecided, not "no gap": the budget stopped the gap test.
                return self._verdict(
                    Status.INCONCLUSIVE,
                    StopReason.BUDGET_EXHAUSTED,
                    gap,
                    candidates,
                    [],
                    None,
                    start,
                    notes,
                )
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
        interactions: list[Interaction] = []
        closure = None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", IntervalWarning)
            causes = self._causes(candidates, set(found))
            if stop is StopReason.DECIDED:
                try:
                    interactions = self._interactions(causes)
                    closure = self._closure(candidates)
                except BudgetExhausted as err:
                    notes.append(f"interactions or closure not checked: {err}")
                    stop = StopReason.BUDGET_EXHAUSTED
        open_intervals = [w for w in caught if issubclass(w.category, IntervalWarning)]
        for w in caught:
            if w not in open_intervals:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if open_intervals:
            notes.append(
                f"{len(open_intervals)} interval(s) are open (n/a): "
                f"{open_intervals[0].message}; more seeds on the sides would "
                "close them"
            )

        if closure is not None and closure.status == "different":
            # A residual is claimed only where it is shown.
            status = Status.RESIDUAL
        elif closure is not None and any(c.is_cause for c in causes):
            status = Status.EXPLAINED
        else:
            # A real gap that no factor significantly explains and no closure
            # shows a residual for, or a budget that ran out first.
            status = Status.INCONCLUSIVE
            notes.append(self._inconclusive_note(causes, closure))
        if closure is not None and _diverges_apart(closure.equivalence, self.alpha):
            notes.append(
                "closure: its arms diverge at other rates than the sides they "
                "should match (Fisher p = "
                + ", ".join(
                    f"{fw} {e.pvalue_diverged:.2g}"
                    for fw, e in closure.equivalence.items()
                )
                + "), a residual the finished trials alone do not show"
            )
        if closure is not None and closure.status == "inconclusive":
            notes.append(
                "closure is neither significantly different from the other side nor "
                f"shown equivalent within {self.margin:.0%} of the gap: more seeds "
                "would settle whether a residual remains"
            )
        return self._verdict(
            status,
            stop,
            self._gap(),
            candidates,
            causes,
            closure,
            start,
            notes,
            interactions,
        )

    def _gap(self) -> Comparison:
        # The gap over every seed both sides have.
        t, k = self.side("torch"), self.side("keras")
        n = min(len(self._values[t]), len(self._values[k]))
        return compare(self.values(k, n), self.values(t, n), paired=False)

    # -- quantification --------------------------------------------------------

    def _common(self, arms: dict[str, Arm]) -> dict[str, np.ndarray]:
        """Every seed of each arm, aligned; seeds an arm lacks are ``nan``.

        `ratio_of_contrasts` takes each arm's mean over the seeds it has and
        each covariance over the seeds two arms share, so a side measured at
        twenty seeds lends all of them to a hybrid's share that stopped at
        five.
        """
        n = max(len(self._values[a]) for a in arms.values())
        out = {}
        for key, arm in arms.items():
            values = self.values(arm)
            out[key] = np.concatenate([values, np.full(n - len(values), np.nan)])
        return out

    def _share(self, factor: str) -> Ratio:
        """Both directions: ``((T - T<-f) + (K<-f - K)) / (2 (T - K))``."""
        arms = self._common(
            {
                "T": self.side("torch"),
                "K": self.side("keras"),
                "t": self.single("torch", factor),
                "k": self.single("keras", factor),
            }
        )
        return ratio_of_contrasts(
            arms, {"T": 1, "t": -1, "k": 1, "K": -1}, {"T": 2, "K": -2}
        )

    def _one_side_share(self, fw: str, arm: Arm) -> Ratio:
        own = "T" if fw == "torch" else "K"
        sign = 1.0 if fw == "torch" else -1.0
        arms = self._common(
            {"T": self.side("torch"), "K": self.side("keras"), "h": arm}
        )
        return ratio_of_contrasts(arms, {own: sign, "h": -sign}, {"T": 1, "K": -1})

    def _tested(self, candidates: list[str]) -> list[str]:
        return [
            f
            for f in candidates
            if self.single("torch", f) in self._values
            and self.single("keras", f) in self._values
        ]

    def _causes(self, candidates: list[str], found: set[str]) -> list[Cause]:
        tested = self._tested(candidates)
        if not tested:
            return []
        try:
            tests = self.test_factors(tested)
        except BudgetExhausted:
            # The budget closed every open test at its last affordable look.
            tests = self.test_factors(tested)
        adjusted = holm([t.pvalue_any for t in tests])
        pair = self.pair
        causes = []
        for test, p_adj in zip(tests, adjusted, strict=True):
            f = test.factor
            share = self._share(f)
            if f in found:
                role = "cause"
            elif p_adj < self.alpha and not test.toward:
                role = "offsetting"
            elif -self.margin < share.low and share.high < self.margin:
                # Ruled out only by equivalence: its share's interval lies
                # inside +-margin of the gap, as the closure's residual must.
                role = "ruled_out"
            else:
                role = "inconclusive"
            causes.append(
                Cause(
                    factor=f,
                    values={fw: pair.side(fw).assignment[f] for fw in FRAMEWORKS},
                    is_default={fw: pair.side(fw).is_default(f) for fw in FRAMEWORKS},
                    share=share,
                    share_by_side={
                        fw: self._one_side_share(fw, self.single(fw, f))
                        for fw in FRAMEWORKS
                    },
                    comparisons=test.comparisons,
                    pvalue=test.pvalue_any,
                    pvalue_adjusted=p_adj,
                    role=role,
                    share_by_epoch=self._share_by_epoch(f),
                    seeds=test.seeds,
                    stop=test.stop.value,
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

    def _interaction_arms(self, f: str, g: str) -> dict[str, Arm]:
        arms = {"T": self.side("torch"), "K": self.side("keras")}
        for fw, key in (("torch", "t"), ("keras", "k")):
            arms[f"{key}f"] = Arm(fw, frozenset({f}))
            arms[f"{key}g"] = Arm(fw, frozenset({g}))
            arms[f"{key}fg"] = Arm(fw, frozenset({f, g}))
        return arms

    #: Per-seed interaction contrast (tt + kk) - (tk + kt), averaged over sides.
    _CONTRAST = {
        "T": 0.5,
        "tf": -0.5,
        "tg": -0.5,
        "tfg": 0.5,
        "kfg": 0.5,
        "kf": -0.5,
        "kg": -0.5,
        "K": 0.5,
    }

    def _interactions(self, causes: list[Cause]) -> list[Interaction]:
        """Test every pair of the largest causes for a 2x2 interaction."""
        top = sorted(
            (c for c in causes if c.is_cause), key=lambda c: -c.share.estimate
        )[:MAX_INTERACTING]
        pairs = list(itertools.combinations(sorted(c.factor for c in top), 2))
        if not pairs:
            return []
        level = self.alpha / len(pairs)
        design = self.design(level / 2)
        results: dict[tuple[str, str], tuple[int, float, StopReason]] = {}
        open_ = list(pairs)
        for k, n in enumerate(self.looks):
            if not open_:
                break
            wanted = itertools.chain(
                *(self._interaction_arms(*p).values() for p in open_)
            )
            if self._out_of_budget(wanted, k, n) is not None:
                for p in open_:
                    results[p] = (
                        k - 1,
                        self._contrast_z(p, self.looks[k - 1]),
                        StopReason.BUDGET_EXHAUSTED,
                    )
                break
            still = []
            for p in open_:
                z = self._contrast_z(p, n)
                verdict = design.decide(k, z)
                if verdict == "continue":
                    still.append(p)
                    continue
                stop = (
                    StopReason.SEED_CAP
                    if verdict == "accept" and k == len(self.looks) - 1
                    else StopReason.DECIDED
                )
                results[p] = (k, z, stop)
            open_ = still

        pvalues = {
            p: min(1.0, 2 * design.pvalue(k, z)) for p, (k, z, _) in results.items()
        }
        adjusted = dict(zip(pvalues, holm(list(pvalues.values())), strict=True))
        out = []
        for p, (k, z, stop) in results.items():
            arms = self._interaction_arms(*p)
            data = self._common(arms)
            sign = 1.0 if np.nanmean(data["T"]) >= np.nanmean(data["K"]) else -1.0
            gap = {"T": sign, "K": -sign}
            t_side = {"T": -1.0, "tf": 1.0, "tg": 1.0, "tfg": -1.0}
            k_side = {"kfg": 1.0, "kf": -1.0, "kg": -1.0, "K": 1.0}
            significant = adjusted[p] < self.alpha
            out.append(
                Interaction(
                    factors=p,
                    effect=ratio_of_contrasts(data, self._CONTRAST, gap),
                    excess={
                        "torch": ratio_of_contrasts(data, t_side, {"T": 1, "K": -1}),
                        "keras": ratio_of_contrasts(data, k_side, {"T": 1, "K": -1}),
                    },
                    pvalue=pvalues[p],
                    pvalue_adjusted=adjusted[p],
                    seeds=self.looks[k],
                    significant=significant,
                )
            )
            self._record(
                Decision(
                    subject=f"{p[0]} x {p[1]}",
                    kind="interaction",
                    outcome="effect" if significant else "no_effect",
                    stop=stop,
                    seeds=self.looks[k],
                    looks=self.looks,
                    z=z,
                    pvalue=pvalues[p],
                    alpha=level,
                    arms=tuple(self._label(a) for a in arms.values()),
                ),
                arms.values(),
            )
        return out

    def _contrast_z(self, p: tuple[str, str], n: int) -> float:
        """|z| of the t-test of the interaction contrast at ``n`` seeds."""
        arms = self._interaction_arms(*p)
        data = {key: self.values(a, n) for key, a in arms.items()}
        return z_from_p(contrast(data, self._CONTRAST).pvalue / 2)

    def _closure(self, candidates: list[str]) -> Closure:
        """Every candidate swapped: equivalent to the other side, or a residual?

        Sequential on repeated confidence intervals of the residual share: at
        each look, equivalence when its interval at the 90% design level lies
        inside +-margin, a residual when its interval at the 95% design level
        excludes 0, else more seeds; at the cap, inconclusive.
        """
        full = frozenset(candidates)
        keys = {
            "T": self.side("torch"),
            "K": self.side("keras"),
            "t": Arm("torch", full),
            "k": Arm("keras", full),
        }
        closed = {"T": 1, "t": -1, "k": 1, "K": -1}
        gap2 = {"T": 2, "K": -2}
        d95, d90 = self.design(0.025), self.design(0.05)

        def at(look: int) -> tuple[dict[str, np.ndarray], Ratio, Ratio]:
            # The arms at the look's seeds; the closed share at 95% and 90%.
            arms = {key: self.values(a, self.looks[look]) for key, a in keys.items()}
            share, share_90 = (
                ratio_of_contrasts(
                    arms, closed, gap2, confidence_level=d.confidence_level(look)
                )
                for d in (d95, d90)
            )
            return arms, share, share_90

        status, stop, look = "inconclusive", StopReason.SEED_CAP, 0
        for look, n in enumerate(self.looks):
            if self._out_of_budget(keys.values(), look, n) is not None:
                look, stop = look - 1, StopReason.BUDGET_EXHAUSTED
                break
            arms, share, share_90 = at(look)
            # The decision rests on the residual share pooled over both
            # directions: equivalence is its 90% interval inside +-margin (the
            # interval form of two one-sided tests at 5%); a residual is its
            # 95% interval excluding 0.
            if -self.margin < 1 - share_90.high and 1 - share_90.low < self.margin:
                status, stop = "equivalent", StopReason.DECIDED
                break
            if share.low > 1 or share.high < 1:
                status, stop = "different", StopReason.DECIDED
                break
        n = self.looks[look]
        arms, share, share_90 = at(look)
        residual_90 = (1 - share_90.high, 1 - share_90.low)
        t, k, tc, kc = arms["T"], arms["K"], arms["t"], arms["k"]
        margin = self.margin * abs(np.nanmean(t) - np.nanmean(k))
        difference = {
            "torch": compare(k, tc, paired=False),
            "keras": compare(t, kc, paired=False),
        }
        equiv = {
            "torch": equivalence(k, tc, margin),
            "keras": equivalence(t, kc, margin),
        }
        # Diverged and failed trials are outcomes: a closure arm that diverges
        # at another rate than the side it should match differs from it,
        # whatever its finished trials say (Fisher, Bonferroni over sides).
        if _diverges_apart(equiv, self.alpha):
            status = "different"
        self._record(
            Decision(
                subject="closure",
                kind="closure",
                outcome=status,
                stop=stop,
                seeds=n,
                looks=self.looks,
                z=math.nan,
                pvalue=math.nan,
                alpha=0.05,
                arms=tuple(self._label(a) for a in keys.values()),
            ),
            keys.values(),
        )

        # Interaction: the closure share minus the sum of single-factor shares.
        singles = self._tested(candidates)
        inter_arms = dict(keys)
        numerator: dict[str, float] = dict(closed)
        for i, f in enumerate(singles):
            inter_arms[f"t{i}"] = self.single("torch", f)
            inter_arms[f"k{i}"] = self.single("keras", f)
            for key, w in (("T", -1), (f"t{i}", 1), (f"k{i}", -1), ("K", 1)):
                numerator[key] = numerator.get(key, 0) + w
        inter = ratio_of_contrasts(self._common(inter_arms), numerator, gap2)
        return Closure(
            share=share,
            interaction=inter,
            equivalence=equiv,
            difference=difference,
            status=status,
            residual_90=residual_90,
            margin=self.margin,
        )

    # -- power and the verdict -------------------------------------------------

    def _power(self, gap: Comparison) -> Power:
        t = self.values(self.side("torch"))
        k = self.values(self.side("keras"))
        nt, nk = noise(t), noise(k)
        ratios, shares = [], []
        for (swap, level), test in self._tests.items():
            for cmp in test.comparisons.values():
                a, b = np.asarray(cmp.a), np.asarray(cmp.b)
                both = np.isfinite(a) & np.isfinite(b)
                if both.sum() < 3:
                    continue
                unpaired = a[both].var(ddof=1) + b[both].var(ddof=1)
                if unpaired > 0:
                    ratios.append(float((b[both] - a[both]).var(ddof=1) / unpaired))
            if len(swap) == 1 and gap.effect:
                sds = [
                    _finite_sd(np.subtract(c.b, c.a)) for c in test.comparisons.values()
                ]
                sd = min(sds, default=math.nan)
                # Two-sided per side at level / 2, on the better-paired side,
                # at the cap: what the design can find.
                shares.append(
                    _paired_detectable(sd, self.looks[-1], level / 2, self.power)
                    / abs(gap.effect)
                )
        return Power(
            noise={"torch": nt, "keras": nk},
            seeds={"torch": nt.n, "keras": nk.n},
            alpha=self.alpha,
            power=self.power,
            gap=gap.effect,
            detectable_gap=detectable(
                nt.sd, nt.n, nk.sd, nk.n, alpha=self.alpha, power=self.power
            ),
            detectable_gap_at_cap=detectable(
                nt.sd,
                self.looks[-1],
                nk.sd,
                self.looks[-1],
                alpha=self.alpha,
                power=self.power,
            ),
            seeds_needed=seeds_needed(
                gap.effect, nt.sd, nk.sd, alpha=self.alpha, power=self.power
            ),
            paired_variance_ratio=float(np.median(ratios)) if ratios else math.nan,
            paired_comparisons=len(ratios),
            detectable_share=float(np.nanmedian(shares)) if shares else math.nan,
            gap_found=any(
                d.kind == "gap" and d.outcome == "effect" for d in self._decisions
            ),
        )

    def _tests_used(
        self,
        gap: Comparison,
        causes: list[Cause],
        closure: Closure | None,
        interactions: list[Interaction],
    ) -> list[str]:
        tests = [
            f"{gap.test} for the gap (sides share no initial draws)",
            f"{gap.rank_test} beside it as a rank-based check",
        ]
        if self.adaptive:
            tests.append(
                "adaptive seeds: group-sequential design with looks at "
                f"{', '.join(map(str, self.looks))} seeds per arm, "
                f"Hwang-Shih-DeCani alpha spending (gamma {self.gamma:g}) and "
                "non-binding futility from beta spending (gamma "
                f"{self.gamma_beta:g}) at power {self.power:g}; "
                "a t or rank test enters each look by its nominal p-value; "
                "p-values are stagewise-ordering p-values"
            )
        if causes:
            tests += [
                "paired t over shared seeds for each hybrid against its own side "
                "(where a trial diverged: paired t on finished pairs + exact "
                "McNemar on divergence), two-sided, Bonferroni over the two sides",
                "Wilcoxon signed-rank beside it",
                f"multiple comparisons: Holm across the {len(causes)} factors "
                f"(family-wise alpha {self.alpha} over every claim, cause or "
                "offsetting); each factor's design spends alpha / "
                f"{self.family}",
            ]
        if interactions:
            tests.append(
                "interactions: one-sample t of the per-seed 2x2 interaction "
                "contrast over both sides, Holm across the "
                f"{len(interactions)} pairs of causes tested"
            )
        if closure is not None:
            tests.append(
                "closure: equivalent when the 90% interval of the residual share "
                f"lies inside +-{self.margin:.0%} (interval form of TOST), a residual "
                "when its 95% interval excludes 0"
                + (" (repeated intervals of the design)" if self.adaptive else "")
                + "; per-arm Welch t and TOST beside"
            )
        tests.append(
            "intervals: Welch or paired t for effects and the gap; Fieller "
            "(t on n-1 df over per-seed contrasts) for shares and interactions"
        )
        return tests

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
        interactions: list[Interaction] | None = None,
    ) -> Verdict:
        lab = self.lab
        interactions = interactions or []
        # Trials the lab recorded as failed (their worker died on every try):
        # counted per arm, beside the diverged ones they are tested as.
        failed = {(f.arm, f.seed) for f in getattr(lab, "failed", ())}
        arms = []
        for arm, outcomes in self._values.items():
            _, subject, arm_stop = self._arm_stop.get(arm, (0, "", None))
            seeds = self._all_seeds[: len(outcomes)]
            arms.append(
                ArmResult(
                    label=self._label(arm),
                    base=arm.base,
                    swap=tuple(sorted(arm.swap)),
                    backend=arm.backend(self.pair),
                    seeds=seeds,
                    values=tuple(o.metric for o in outcomes),
                    metric_curves=tuple(o.metric_curve for o in outcomes),
                    loss_curves=tuple(o.loss_curve for o in outcomes),
                    stop=arm_stop.value if arm_stop is not None else "",
                    decided_by=subject,
                    failed=sum((self._label(arm), s) in failed for s in seeds),
                )
            )
        n_failed = sum(a.failed for a in arms)
        if n_failed:
            notes.append(
                f"{n_failed} trial(s) failed (the worker died on every attempt) "
                "and count as diverged trials in every test; `bisect-ml store "
                "prune --failed` lets a re-run train them again"
            )
        versions: dict[str, str] = {}
        for outcomes in self._values.values():
            for o in outcomes:
                versions.update(o.versions)
        t_curves = self._curves(self.side("torch"))
        k_curves = self._curves(self.side("keras"))
        width = min(t_curves.shape[1], k_curves.shape[1])
        gap_by_epoch = tuple(
            float(v)
            for v in np.nanmean(t_curves[:, :width], 0)
            - np.nanmean(k_curves[:, :width], 0)
        )
        power = self._power(gap)
        if status is Status.NO_GAP and power.below_detectable:
            need = power.seeds_needed
            notes.append(
                f"the observed gap {gap.effect:.3g} is below the smallest gap "
                f"{power.detectable_gap:.3g} that {min(power.seeds.values())} "
                f"seeds per side detect with {self.power:.0%} power: the pair's "
                "gap is not distinguishable from seed noise at this budget; "
                + (
                    f"about {need} seeds per side would detect a gap this size"
                    if need is not None
                    else "no practical number of seeds would detect a gap this size"
                )
            )
        capped = [
            d
            for d in self._decisions
            if d.stop is StopReason.SEED_CAP and self.adaptive
        ]
        screens = [d for d in capped if d.kind == "screen"]
        capped = [d for d in capped if d.kind != "screen"]
        if capped:
            notes.append(
                f"{len(capped)} decision(s) reached the seed cap of "
                f"{self.looks[-1]} without crossing a boundary: "
                + ", ".join(d.subject for d in capped)
            )
        if screens:
            notes.append(
                f"{len(screens)} screening question(s) were still unclear at the "
                f"seed cap of {self.looks[-1]} and were searched as if they moved"
            )
        notes = [*notes, *(n for n in self.notes if n not in notes)]
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
                "max_seeds": self.looks[-1],
                "looks": list(self.looks),
                "alpha": self.alpha,
                "margin": self.margin,
                "power": self.power,
                "gamma": self.gamma,
                "gamma_beta": self.gamma_beta,
                "max_trials": self.max_trials,
                "jobs": lab.jobs,
                "epochs": self.pair.spec.train.epochs,
                "metric": self.pair.spec.train.metric,
            },
            trials_run=lab.trained,
            trials_cached=lab.cached,
            wall_seconds=time.perf_counter() - start,
            train_seconds=lab.train_seconds,
            tests=(
                *self._tests_used(gap, causes, closure, interactions),
                *self.methods,
            ),
            notes=tuple(notes),
            versions=versions,
            interactions=tuple(interactions),
            decisions=tuple(self._decisions),
            power=power,
        )
