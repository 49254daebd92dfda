"""The search steps on a noise-free truth: what they find and what they cost."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import stats

from bisect_ml.lab import Arm
from bisect_ml.strategies._search import (
    Probes,
    confirm,
    group_test,
    halves,
    paired_tost,
)
from bisect_ml.strategies.ablation import greedy_path
from bisect_ml.strategies.ddmin import ddmin

FACTORS = [f"f{i:02d}" for i in range(16)]


@dataclass(frozen=True)
class Status:
    status: str
    effect: float

    @property
    def share(self) -> float:
        return self.effect

    @property
    def toward(self) -> bool:
        return self.status == "moves" and self.effect > 0


class Truth:
    """Noise-free stand-in for `Probes`: effects are (factors, side) conditions.

    A condition holds on an arm when every factor in it takes the named side's
    value; it adds 1 to the metric for a torch condition and -1 for a keras one,
    so that every condition widens the gap. Each arm asked about is recorded.
    """

    def __init__(self, conditions: Sequence[tuple[Sequence[str], str]]) -> None:
        self.conditions = conditions
        self.candidates = frozenset(FACTORS)
        self.arms: set[tuple[str, frozenset[str]]] = set()

    def value(self, framework: str, swap: Iterable[str]) -> int:
        swap = frozenset(swap)
        self.arms.add((framework, swap))
        other = "keras" if framework == "torch" else "torch"

        def side_of(f: str) -> str:
            return other if f in swap else framework

        return sum(
            (1 if s == "torch" else -1) * all(side_of(f) == s for f in fs)
            for fs, s in self.conditions
        )

    def compare(
        self, framework: str, ref: Iterable[str], swap: Iterable[str]
    ) -> Status:
        a, b = self.value(framework, ref), self.value(framework, swap)
        full = self.value(framework, self.candidates)
        toward = 1 if abs(full - b) < abs(full - a) else -1
        return Status("clean" if a == b else "moves", toward * abs(b - a))

    def moves(
        self, framework: str, base: Iterable[str], group: Iterable[str]
    ) -> Status:
        base = frozenset(base)
        return self.compare(framework, base, base | frozenset(group))

    def reaches(self, framework: str, found: Iterable[str]) -> bool:
        return self.compare(framework, found, self.candidates).status == "clean"

    def prefetch(self, framework: str, swaps: Iterable[Iterable[str]]) -> None:
        pass


def test_halves_split_with_the_larger_half_first() -> None:
    assert halves(["a", "b", "c"]) == (["a", "b"], ["c"])
    assert halves(["a"]) == (["a"], [])


def test_paired_tost_matches_two_one_sided_t_tests() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(0, 1, 12)
    b = a + rng.normal(0.1, 0.3, 12)
    d = b - a
    expected = max(
        stats.ttest_1samp(d, 0.5, alternative="less").pvalue,
        stats.ttest_1samp(d, -0.5, alternative="greater").pvalue,
    )
    assert paired_tost(a, b, 0.5) == pytest.approx(expected)
    assert paired_tost(a, a + 0.2, 0.5) == 0.0  # constant difference inside
    assert paired_tost(a, a + 0.7, 0.5) == 1.0
    assert paired_tost([1.0, np.nan], [1.0, 2.0], 0.5) == 1.0  # one pair left


@pytest.mark.parametrize("causes", [["f05"], ["f00", "f15"], ["f02", "f03", "f11"]])
def test_group_test_finds_main_effects_in_about_k_log_n_arms(
    causes: list[str],
) -> None:
    truth = Truth([([f], "torch") for f in causes])
    found = group_test(truth, "torch", (), FACTORS)
    assert sorted(found) == causes
    k = len(causes)
    assert len(truth.arms) <= 1 + k * np.log2(16 / k) + k + 1


def test_group_test_finds_a_combination_from_the_side_that_breaks_it() -> None:
    # Shift only while f03 and f12 both keep the keras value: any one swapped
    # on the keras side breaks it; on the torch side only both together.
    truth = Truth([(["f03", "f12"], "keras")])
    assert sorted(group_test(truth, "keras", (), FACTORS)) == ["f03"]
    # With f03 found and swapped, the rest of the search finds f12.
    assert group_test(truth, "torch", ["f03"], FACTORS[4:]) == ["f12"]


@pytest.mark.parametrize(
    "conditions",
    [
        [(["f04"], "torch")],
        [(["f01"], "torch"), (["f09"], "torch")],
        [(["f03", "f12"], "keras")],  # both needed on the torch side
        [(["f03", "f12"], "torch")],  # either one suffices on the torch side
        [(["f00"], "torch"), (["f07", "f08", "f14"], "keras")],
    ],
)
def test_ddmin_returns_a_one_minimal_set(
    conditions: list[tuple[list[str], str]],
) -> None:
    truth = Truth(conditions)
    result = ddmin(truth, "torch", (), FACTORS)
    assert truth.reaches("torch", result)
    for f in result:
        assert not truth.reaches("torch", [g for g in result if g != f])
    needed = {f for fs, side in conditions if side == "keras" for f in fs}
    assert needed <= set(result)


def test_ddmin_on_a_subset_keeps_the_base_swapped() -> None:
    truth = Truth([(["f03", "f12"], "torch")])
    # On the keras side, with f03 already swapped in, f12 is what is missing.
    assert ddmin(truth, "keras", ["f03"], [f for f in FACTORS if f != "f03"]) == ["f12"]


def test_greedy_path_takes_the_largest_gain_first_and_races_out_the_rest() -> None:
    truth = Truth([(["f06"], "torch"), (["f06"], "torch"), (["f10"], "torch")])
    path = greedy_path(truth, "torch", (), FACTORS)
    assert path == ["f06", "f10"]
    # Round one flips all 16; only f10 is left in the race for round two.
    flipped = {s for fw, s in truth.arms if len(s) in (1, 2) and "f06" in s}
    assert flipped == {frozenset({"f06"}), frozenset({"f06", "f10"})}


class _Tested:
    """What `confirm` reads of a factor test: its two directions' p-values."""

    def __init__(self, pvalue: float, pvalue_away: float = 1.0) -> None:
        self.factor = ""
        self.pvalue = pvalue
        self.pvalue_away = pvalue_away


class _Strategy:
    alpha = 0.05

    def __init__(self, pvalues: dict[str, tuple[float, float]]) -> None:
        self.pvalues = pvalues
        self.measured: list[object] = []

    def measure(self, arms: list[object]) -> None:
        self.measured += arms

    def single(self, framework: str, factor: str) -> tuple[str, str]:
        return framework, factor

    def test_factor(self, factor: str) -> _Tested:
        test = _Tested(*self.pvalues[factor])
        test.factor = factor
        return test


def test_confirm_pays_for_every_candidate_the_search_looked_at() -> None:
    strategy = _Strategy({"a": (0.001, 1.0), "b": (0.004, 1.0)})
    # Alone, both pass; as 2 suspects of 16 candidates, b's 2 * 0.004 * 15 does not.
    assert confirm(strategy, ["a", "b"]) == ["a", "b"]
    assert confirm(strategy, ["a", "b"], 16) == ["a"]
    # Both singles of each suspect are measured, for the verdict's shares.
    assert set(strategy.measured) >= {("torch", "b"), ("keras", "b")}


def test_confirm_names_only_moves_toward_the_other_side() -> None:
    strategy = _Strategy({"a": (0.001, 1.0), "off": (1.0, 0.001)})
    assert confirm(strategy, ["a", "off"], 2) == ["a"]


class _Measured:
    """A strategy whose arms are given arrays (seed order), at fixed seeds."""

    alpha, margin = 0.05, 0.25

    def __init__(self, values: dict[Arm, np.ndarray]) -> None:
        self.arrays = values
        self.looks = (len(next(iter(values.values()))),)
        self.decisions: list[object] = []

    def measure(self, arms: list[Arm]) -> dict[Arm, np.ndarray]:
        return {arm: self.arrays[arm] for arm in arms}

    def extend(self, arms: list[Arm], n: int) -> None:
        assert all(len(self.arrays[arm]) >= n for arm in arms)

    def values(self, arm: Arm, n: int | None = None) -> np.ndarray:
        return self.arrays[arm][:n]

    def metric(self, arm: Arm) -> np.ndarray:
        return self.arrays[arm]

    def side(self, framework: str) -> Arm:
        return Arm(framework)

    def label(self, arm: Arm) -> str:
        return arm.label()

    def record(self, decision: object, arms: object) -> None:
        self.decisions.append(decision)


def test_a_swap_is_clean_only_by_equivalence_and_equal_divergence() -> None:
    rng = np.random.default_rng(2)
    t = 1.0 + rng.normal(0, 0.1, 10)
    like_t = t + rng.normal(0, 0.01, 10)
    diverging = like_t.copy()
    diverging[:6] = np.nan
    noisy = t + rng.normal(0, 0.5, 10)
    strategy = _Measured(
        {
            Arm("torch"): t,
            Arm("keras"): rng.normal(0, 0.1, 10),
            Arm("torch", frozenset({"a"})): like_t,
            Arm("torch", frozenset({"b"})): diverging,
            Arm("torch", frozenset({"c"})): noisy,
            Arm("torch", frozenset({"d"})): t - 0.9,
            # Significant and within the margin (0.25 of the gap of about 1):
            # beyond half of it is a move (a partly cancelled cause), below
            # half of it negligible.
            Arm("torch", frozenset({"e"})): like_t - 0.2,
            Arm("torch", frozenset({"f"})): like_t - 0.05,
        }
    )
    probes = Probes(strategy, ["a", "b", "c", "d", "e", "f"])
    assert probes.moves("torch", (), ["a"]).status == "clean"
    assert probes.moves("torch", (), ["b"]).status != "clean"
    # Too noisy to tell is not clean either: it is searched further.
    assert probes.moves("torch", (), ["c"]).status == "unclear"
    d = probes.moves("torch", (), ["d"])
    assert d.status == "moves" and d.toward and d.share == pytest.approx(0.9, 0.1)
    e, f = probes.moves("torch", (), ["e"]), probes.moves("torch", (), ["f"])
    assert e.pvalue_equivalent < 0.05 and e.status == "moves"
    assert f.pvalue < 0.05 and f.status == "clean"


class _Adaptive(_Measured):
    """`_Measured` with adaptive looks: it records the seeds each arm is taken to."""

    def __init__(self, values: dict[Arm, np.ndarray], looks: tuple[int, ...]) -> None:
        super().__init__(values)
        self.looks = looks
        self.taken: dict[Arm, int] = {}

    def measure(self, arms: list[Arm]) -> dict[Arm, np.ndarray]:
        self.extend(arms, self.looks[0])
        return {arm: self.arrays[arm][: self.looks[0]] for arm in arms}

    def extend(self, arms: list[Arm], n: int) -> None:
        for arm in arms:
            self.taken[arm] = max(self.taken.get(arm, 0), n)

    def metric(self, arm: Arm) -> np.ndarray:
        return self.arrays[arm][: self.looks[0]]


def test_a_screening_question_takes_seeds_only_while_it_is_unclear() -> None:
    rng = np.random.default_rng(4)
    t = 1.0 + rng.normal(0, 0.1, 10)
    arms = {
        Arm("torch"): t,
        Arm("keras"): rng.normal(0, 0.1, 10),
        # A clear move, a clear nothing, a nothing that needs more seeds to
        # show, and noise that never settles.
        Arm("torch", frozenset({"a"})): t - 0.9 + rng.normal(0, 0.02, 10),
        Arm("torch", frozenset({"b"})): t + rng.normal(0, 0.02, 10),
        Arm("torch", frozenset({"c"})): t + rng.normal(0, 0.2, 10),
        Arm("torch", frozenset({"d"})): t + rng.normal(0, 1.0, 10),
    }
    strategy = _Adaptive(arms, (4, 7, 10))
    probes = Probes(strategy, ["a", "b", "c", "d"])
    a, b, c, d = (probes.moves("torch", (), [f]) for f in "abcd")
    assert (a.status, a.seeds, b.status, b.seeds) == ("moves", 4, "clean", 4)
    assert c.status == "clean" and c.seeds > 4
    assert d.status == "unclear" and d.seeds == 10
    assert strategy.taken[Arm("torch", frozenset({"a"}))] == 4
    assert strategy.taken[Arm("torch", frozenset({"d"}))] == 10
    # Every question is logged, with why it stopped.
    log = {dec.subject: dec for dec in strategy.decisions}  # type: ignore[attr-defined]
    assert log["torch <- {d}"].stop.value == "seed_cap"
    assert log["torch <- {a}"].kind == "screen" and log["torch <- {a}"].seeds == 4
    # Asked again, a question is answered from the cache.
    assert probes.moves("torch", (), ["c"]) is c and len(strategy.decisions) == 4


def test_screening_levels_spend_alpha_over_the_looks() -> None:
    fixed = Probes(_Adaptive(_two_sides(), (10,)), ["a"])
    assert fixed.levels(0) == (0.05, 0.05)
    probes = Probes(_Adaptive(_two_sides(), (4, 7, 10)), ["a"])
    levels = [probes.levels(k) for k in range(3)]
    assert all(0 < d < 0.05 and 0 < e < 0.05 for d, e in levels)
    # Under the null (independent increments of a paired statistic), a test
    # crossing its level at any look is wrong at most alpha of the time; the
    # same test at alpha at every look (peeking) is wrong far more often.
    rng = np.random.default_rng(5)
    increments = rng.normal(size=(200_000, 10)).cumsum(axis=1)
    z = increments[:, [3, 6, 9]] / np.sqrt([4, 7, 10])
    spent = np.array([stats.norm.isf(e) for _, e in levels])
    assert (z >= spent).any(axis=1).mean() < 0.05 + 0.002
    assert (z >= stats.norm.isf(0.05)).any(axis=1).mean() > 0.08


def _two_sides() -> dict[Arm, np.ndarray]:
    return {Arm("torch"): np.ones(10) + np.arange(10) / 100, Arm("keras"): np.zeros(10)}
