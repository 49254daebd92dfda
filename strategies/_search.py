"""Decisions and search steps shared by the adaptive strategies.

Every strategy here asks one kind of question: does swapping a set of factors on
one side move that side's metric? The two arms of the question train in the same
framework at the same seeds, so they share initial draws and data order and the
question is answered by *paired* tests over seeds:

- ``clean``: two one-sided paired tests put the mean difference of the
  trials that finished inside the search margin (a fraction of the gap), the
  arms do not diverge at significantly different rates (exact McNemar), and
  the difference is not both significant and beyond half the margin; a failed
  difference test of the metric alone never makes a set clean;
- ``moves``: not clean, and the paired t-test (Mann-Whitney U when a trial
  diverged) rejects "no difference" at the strategy's alpha;
- ``unclear``: neither; every strategy treats it like ``moves`` (it keeps
  searching there), so noise costs trials, not causes.

These questions are *screening*: they choose what to test, and no cause is
named on them. When the strategy's seeds are adaptive, a question starts at the
first look's seeds and takes the next look's only while it is unclear; both of
its tests (equivalence for ``clean``, difference for ``moves``) then spend their
alpha over the looks with a Hwang-Shih-DeCani function (`SCREEN_GAMMA`), so
that adding seeds to an unclear question does not make ``clean`` easier to
reach than a fixed-sample test at alpha would. Each question is recorded in
the verdict's decision log (kind ``"screen"``).

A strategy's suspects are confirmed the way OFAT decides a cause: each swapped
alone in both directions, the move toward the other side tested, Holm's method
over every candidate (`confirm`). Then `settle` checks that the confirmed
factors do, on both sides, what swapping every candidate does, and searches
again where they fall short: that is where factors that only matter together
are completed. docs/strategies.md tells the whole story.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from scipy import stats

from bisect_ml.factors import FRAMEWORKS
from bisect_ml.lab import Arm
from bisect_ml.stats import compare, group_sequential, holm, z_from_p
from bisect_ml.verdict import Decision, StopReason

if TYPE_CHECKING:
    from bisect_ml.strategies._base import Strategy

__all__ = [
    "Probe",
    "Probes",
    "confirm",
    "group_test",
    "halves",
    "one_at_a_time",
    "paired_tost",
    "search_and_settle",
    "settle",
    "sort_out",
]

logger = logging.getLogger(__name__)

Status = Literal["moves", "clean", "unclear"]

#: The search margin as a fraction of the strategy's (verdict) margin: a set is
#: clean only when its move is shown to be within this share of the gap. A cause
#: whose share is near the margin is rarely shown equivalent, so it is kept.
SEARCH_MARGIN = 1.0

#: Hwang-Shih-DeCani parameter of the screening questions' alpha spending. A
#: screening question is cheap to ask again and its early answers are the
#: point of asking it with few seeds, so it spends evenly over the looks
#: (gamma 0), unlike the confirmations (gamma -4, late).
SCREEN_GAMMA = 0.0


def paired_tost(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, margin: float
) -> float:
    """P-value of two one-sided paired tests that ``|mean(b - a)| < margin``.

    Seeds where either arm diverged are left out; with fewer than two pairs the
    p-value is 1 (no evidence of equivalence).
    """
    x, y = np.asarray(a, float), np.asarray(b, float)
    keep = np.isfinite(x) & np.isfinite(y)
    d = y[keep] - x[keep]
    if len(d) < 2 or margin <= 0:
        return 1.0
    if np.allclose(d, d[0]):
        return 0.0 if abs(float(d[0])) < margin else 1.0
    upper = stats.ttest_1samp(d, margin, alternative="less").pvalue
    lower = stats.ttest_1samp(d, -margin, alternative="greater").pvalue
    return float(max(upper, lower))


def _divergence_pvalue(a: np.ndarray, b: np.ndarray) -> float:
    """Exact McNemar p-value that the two arms diverge at different rates."""
    only_a = int((np.isnan(a) & ~np.isnan(b)).sum())
    only_b = int((~np.isnan(a) & np.isnan(b)).sum())
    if only_a + only_b == 0:
        return 1.0
    return float(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue)


@dataclass(frozen=True)
class Probe:
    """One paired question: does ``swap`` move side ``framework`` from ``reference``?

    Attributes
    ----------
    framework
        The side both arms start from (and train in).
    reference, swap
        The two swap sets compared; the arms are ``framework <- other{reference}``
        and ``framework <- other{swap}``.
    effect
        Mean metric change from the reference arm to the swap arm, signed so
        that a positive effect is a move toward the other side.
    share
        ``effect`` as a fraction of the gap between the sides.
    pvalue
        Two-sided p-value of the paired difference test.
    pvalue_equivalent
        P-value of the paired equivalence test within ``margin``.
    margin
        The search margin in metric units.
    status
        ``"moves"``, ``"clean"`` or ``"unclear"`` (see the module notes).
    seeds
        Seeds per arm the question stopped at.
    differs, equivalent
        Whether the difference test, and the equivalence test, crossed their
        boundaries (nominal alpha with fixed seeds, the spending design's
        with adaptive ones).
    """

    framework: str
    reference: frozenset[str]
    swap: frozenset[str]
    effect: float
    share: float
    pvalue: float
    pvalue_equivalent: float
    margin: float
    status: Status
    seeds: int = 0
    differs: bool = False
    equivalent: bool = False

    @property
    def toward(self) -> bool:
        """Whether the swap moved the side significantly toward the other."""
        return self.status == "moves" and self.effect > 0


class Probes:
    """Paired probes of one running strategy, each measured and decided once.

    Parameters
    ----------
    strategy
        The running strategy; arms are measured through its `Strategy.measure`
        and `Strategy.extend` (at its looks), so its cache and budget apply,
        and each question is logged with `Strategy.record`.
    candidates
        The differing factors; the full swap of a side is the closure arm the
        strategy measures anyway.
    margin
        Search margin as a fraction of the strategy's margin (`SEARCH_MARGIN`).
    """

    def __init__(
        self,
        strategy: Strategy,
        candidates: Sequence[str],
        margin: float = SEARCH_MARGIN,
    ) -> None:
        self.strategy = strategy
        self.candidates = frozenset(candidates)
        t = np.nanmean(strategy.metric(strategy.side("torch")))
        k = np.nanmean(strategy.metric(strategy.side("keras")))
        #: torch minus keras: positive when torch ends worse.
        self.gap = float(t - k)
        self.margin = margin * strategy.margin * abs(self.gap)
        self._cache: dict[tuple[str, frozenset[str], frozenset[str]], Probe] = {}

    def arm(self, framework: str, swap: Iterable[str]) -> Arm:
        return Arm(framework, frozenset(swap))

    def prefetch(self, framework: str, swaps: Iterable[Iterable[str]]) -> None:
        """Measure several arms in one batch, so that they can train in parallel."""
        self.strategy.measure([self.arm(framework, s) for s in swaps])

    def compare(
        self, framework: str, reference: Iterable[str], swap: Iterable[str]
    ) -> Probe:
        """Decide whether ``framework <- other{swap}`` differs from the reference.

        With adaptive seeds the question is asked at each of the strategy's
        looks in turn, from the first, and stops at the first look where it is
        clean or moves; the seeds a look needs are measured only then.
        """
        ref, sw = frozenset(reference), frozenset(swap)
        key = (framework, ref, sw)
        if key in self._cache:
            return self._cache[key]
        strategy = self.strategy
        a, b = self.arm(framework, ref), self.arm(framework, sw)
        strategy.measure([a, b])
        looks = tuple(strategy.looks)
        probe = None
        for look, n in enumerate(looks):
            strategy.extend([a, b], n)
            probe = self._decide(
                framework, ref, sw, strategy.values(a, n), strategy.values(b, n), look
            )
            if probe.status != "unclear":
                break
        assert probe is not None
        self._cache[key] = probe
        self._record(probe, a, b, look)
        logger.info(
            "%s <- {%s} vs {%s}: %s at %d seeds (share %+.2f, p %.2g, p_equiv %.2g)",
            framework,
            _names(sw - ref),
            _names(ref),
            probe.status,
            probe.seeds,
            probe.share,
            probe.pvalue,
            probe.pvalue_equivalent,
        )
        return probe

    def levels(self, look: int) -> tuple[float, float]:
        """Nominal levels at ``look`` of the difference and equivalence tests.

        The two-sided difference test and the equivalence test (two one-sided
        tests) each spend the strategy's alpha over its looks; with one look
        both are the strategy's alpha.
        """
        looks = tuple(self.strategy.looks)
        alpha = self.strategy.alpha
        if len(looks) == 1:
            return alpha, alpha
        difference = group_sequential(looks, alpha / 2, gamma=SCREEN_GAMMA)
        equivalence = group_sequential(looks, alpha, gamma=SCREEN_GAMMA)
        return 2 * difference.nominal(look), equivalence.nominal(look)

    def _decide(
        self,
        framework: str,
        ref: frozenset[str],
        sw: frozenset[str],
        x: np.ndarray,
        y: np.ndarray,
        look: int,
    ) -> Probe:
        toward = np.sign(-self.gap) if framework == "torch" else np.sign(self.gap)
        diff_p, effect = 1.0, 0.0
        if ref != sw:
            try:
                c = compare(x, y, paired=True)
                diff_p, effect = c.pvalue, c.effect * float(toward)
            except ValueError:  # fewer than two trials finished in an arm
                diff_p = _divergence_pvalue(x, y)
        # A swap that makes trainings diverge more often is not clean, however
        # alike the trials that finished are.
        equiv_p = paired_tost(x, y, self.margin)
        if _divergence_pvalue(x, y) < self.strategy.alpha:
            equiv_p = 1.0
        diff_level, equiv_level = self.levels(look)
        differs, equivalent = diff_p < diff_level, equiv_p < equiv_level
        # Within the margin, a significant move of more than half of it is
        # still a move: a cause partly cancelled by an offsetting factor in
        # the same group must not pass for nothing.
        small = abs(effect) <= self.margin / 2
        status: Status
        if equivalent and (not differs or small):
            status = "clean"
        elif differs:
            status = "moves"
        else:
            status = "unclear"
        return Probe(
            framework=framework,
            reference=ref,
            swap=sw,
            effect=effect,
            share=effect / abs(self.gap) if self.gap else float("nan"),
            pvalue=diff_p,
            pvalue_equivalent=equiv_p,
            margin=self.margin,
            status=status,
            seeds=len(x),
            differs=differs,
            equivalent=equivalent,
        )

    def _record(self, probe: Probe, a: Arm, b: Arm, look: int) -> None:
        """Log the question in the strategy's decisions (kind ``"screen"``)."""
        looks = tuple(self.strategy.looks)
        added = probe.swap - probe.reference
        added_names = "all" if added == self.candidates else _names(added) or "-"
        removed = probe.reference - probe.swap
        subject = f"{probe.framework} <- {{{added_names}}}"
        if removed:
            subject += f" minus {{{_names(removed)}}}"
        if probe.reference & probe.swap:
            subject += f" on {len(probe.reference & probe.swap)} swapped"
        z = z_from_p(probe.pvalue / 2)
        pvalue = probe.pvalue
        if len(looks) > 1:
            design = group_sequential(
                looks, self.strategy.alpha / 2, gamma=SCREEN_GAMMA
            )
            pvalue = min(1.0, 2 * design.pvalue(look, z))
        self.strategy.record(
            Decision(
                subject=subject,
                kind="screen",
                outcome=probe.status,
                stop=(
                    StopReason.SEED_CAP
                    if probe.status == "unclear"
                    else StopReason.DECIDED
                ),
                seeds=probe.seeds,
                looks=looks,
                z=z,
                pvalue=pvalue,
                alpha=self.strategy.alpha,
                arms=(self.strategy.label(a), self.strategy.label(b)),
            ),
            [a, b],
        )

    def moves(self, framework: str, base: Iterable[str], group: Iterable[str]) -> Probe:
        """Does adding ``group`` to the swap set ``base`` move the side?"""
        base = frozenset(base)
        return self.compare(framework, base, base | frozenset(group))

    def reaches(self, framework: str, found: Iterable[str]) -> bool:
        """Whether swapping ``found`` does what swapping every candidate does.

        Compares ``framework <- other{found}`` with the side's full swap (the
        closure arm), paired: ``found`` reaches it when the two are equivalent
        within the search margin, even if a smaller difference is significant.
        """
        return self.compare(framework, found, self.candidates).equivalent

    def adds_up(self, found: Sequence[str]) -> bool:
        """Whether the single swaps of ``found`` add up to the full swap, both ways.

        On each side, the per-seed sum of the single-swap moves is compared with
        the full swap's move by two one-sided tests within the search margin.
        Every single arm of ``found`` must have been measured (`confirm` does).
        A cause missing from ``found``, or one that only matters together with
        another, makes the sum fall short (or overshoot) on at least one side.
        """
        strategy = self.strategy
        for framework in FRAMEWORKS:
            side = strategy.metric(strategy.side(framework))
            full = strategy.measure([self.arm(framework, self.candidates)])
            moved = np.zeros_like(side)
            for f in found:
                moved = moved + strategy.metric(strategy.single(framework, f)) - side
            expected = full[self.arm(framework, self.candidates)] - side
            p = paired_tost(expected, moved, self.margin)
            logger.info(
                "%s: single swaps of {%s} add up to the full swap: p_equiv %.2g",
                framework,
                _names(found),
                p,
            )
            if p >= strategy.alpha:
                return False
        return True

    def incomplete(self, found: Sequence[str]) -> list[str]:
        """The sides on which swapping ``found`` falls short of swapping everything.

        Free when the single swaps add up (`adds_up`). Otherwise each side's arm
        with ``found`` swapped is compared with its full swap: a side falls
        short when the two are not shown equivalent and differ significantly
        or by more than the search margin. That is how factors that only
        matter together show whether all of them are there; a difference too
        small to tell is left to the verdict's closure check rather than
        searched for.
        """
        if self.adds_up(found):
            return []
        short = []
        for fw in FRAMEWORKS:
            probe = self.compare(fw, found, self.candidates)
            if probe.status == "clean":
                continue
            if probe.differs or abs(probe.effect) > self.margin:
                short.append(fw)
        return short

    @property
    def asked(self) -> list[Probe]:
        """Every probe decided so far, in the order asked."""
        return list(self._cache.values())


def _names(factors: Iterable[str]) -> str:
    return ", ".join(sorted(factors))


def halves(group: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split ``group`` in two, the first half the larger."""
    cut = (len(group) + 1) // 2
    return list(group[:cut]), list(group[cut:])


def group_test(
    probes: Probes, framework: str, base: Iterable[str], group: Sequence[str]
) -> list[str]:
    """Adaptive binary splitting: the factors of ``group`` that move ``framework``.

    ``base`` is swapped in every arm (the factors found so far). Each split
    measures one arm, the first half swapped on top of the base; the second half
    is then judged on top of the first half, against the parent's arm, which is
    already measured. A half is dropped only when it is clean. The leaves are
    suspects, to be confirmed: a factor that matters only while another one of
    the first half is unswapped is judged clean here, which is why the caller
    checks that the confirmed factors add up.
    """
    base = frozenset(base)
    if not group or probes.moves(framework, base, group).status == "clean":
        return []
    return _descend(probes, framework, base, list(group))


def _descend(
    probes: Probes, framework: str, base: frozenset[str], group: list[str]
) -> list[str]:
    if len(group) == 1:
        return group
    left, right = halves(group)
    on_left = base | frozenset(left)
    if probes.moves(framework, base, left).status == "clean":
        # The parent moved and the left half does not: the right half moves on
        # top of the left one (which changes nothing, or completes a combination).
        return _descend(probes, framework, on_left, right)
    found = _descend(probes, framework, base, left)
    if probes.moves(framework, on_left, right).status != "clean":
        found += _descend(probes, framework, on_left, right)
    return found


def confirm(
    strategy: Strategy, suspects: Sequence[str], family: int | None = None
) -> list[str]:
    """The suspects that move a side toward the other when swapped alone.

    Each suspect is measured alone in both directions (the arms the verdict's
    shares need anyway) and tested as OFAT tests a factor: the claim is a move
    either way (twice the smaller one-sided p-value), Holm's method runs over a
    family of ``family`` tests (default: the suspects), the untested members
    counting with p-value 1, and a cause is a significant move toward the
    other side. A search that chose its suspects by looking at every candidate
    pays for every candidate, as OFAT does.
    """
    return sort_out(strategy, suspects, family)[0]


def sort_out(
    strategy: Strategy, suspects: Sequence[str], family: int | None = None
) -> tuple[list[str], list[str]]:
    """`confirm`'s causes, and the suspects that significantly move a side away.

    The second list holds *offsetting* factors: they narrow the gap, so the
    full swap is only reached with them swapped too.
    """
    suspects = list(dict.fromkeys(suspects))
    if not suspects:
        return [], []
    strategy.measure([strategy.single(fw, f) for f in suspects for fw in FRAMEWORKS])
    tests = [strategy.test_factor(f) for f in suspects]
    either = [min(1.0, 2 * min(t.pvalue, t.pvalue_away)) for t in tests]
    padding = max(0, (family or 0) - len(tests))
    adjusted = holm(either + [1.0] * padding)[: len(tests)]
    causes: list[str] = []
    offsetting: list[str] = []
    for t, p in zip(tests, adjusted, strict=True):
        if p < strategy.alpha:
            (causes if t.pvalue <= t.pvalue_away else offsetting).append(t.factor)
    logger.info(
        "of suspects %s: causes %s, offsetting %s", suspects, causes, offsetting
    )
    return causes, offsetting


#: A search over one side: (probes, side, factors swapped in every arm, factors
#: to search) -> suspects.
Search = Callable[[Probes, str, Sequence[str], Sequence[str]], list[str]]


def settle(
    probes: Probes, suspects: Sequence[str], search: Search, rounds: int = 2
) -> list[str]:
    """Confirm the suspects, then search for what they miss, until nothing is.

    After confirming (`confirm`, Holm over every candidate), the sides on which
    the factors that move a side (the causes, and the offsetting factors, which
    the full swap includes too) fall short of the full swap
    (`Probes.incomplete`) are searched again with ``search``, those factors
    swapped in every arm, over the others. This is where a factor that matters
    only together with a found one turns up. At most ``rounds`` such searches;
    a round that finds no new mover ends it. Returns the causes.
    """
    strategy = probes.strategy
    family = len(probes.candidates)
    suspects = list(suspects)
    causes, offsetting = sort_out(strategy, suspects, family)
    for _ in range(rounds):
        movers = causes + offsetting
        sides = probes.incomplete(movers)
        if not sides:
            break
        logger.info("%s fall short on %s; searching what is missing", movers, sides)
        rest = [c for c in sorted(probes.candidates) if c not in movers]
        for framework in sides:
            suspects += search(probes, framework, movers, rest)
        causes, offsetting = sort_out(strategy, suspects, family)
        if set(causes + offsetting) == set(movers):
            break
    return causes


def search_and_settle(
    probes: Probes,
    candidates: Sequence[str],
    search: Search,
    again: Search | None = None,
) -> list[str]:
    """Search the torch side over ``candidates``, nothing swapped, then `settle`.

    ``again`` searches what the confirmed factors miss (default: ``search``).
    """
    suspects = search(probes, "torch", (), candidates)
    return settle(probes, suspects, again or search)


def one_at_a_time(strategy: Strategy, candidates: Sequence[str]) -> list[str]:
    """OFAT over ``candidates``: every one confirmed (used for very few candidates)."""
    return confirm(strategy, candidates, len(candidates))
