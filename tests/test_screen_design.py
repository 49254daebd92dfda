"""The screening designs: orthogonal, balanced, and with the aliasing they state."""

from __future__ import annotations

import numpy as np
import pytest

from bisect_ml.strategies.screen import hadamard, main_effects, plackett_burman


def _names(n: int) -> list[str]:
    return [f"f{i:02d}" for i in range(n)]


@pytest.mark.parametrize(
    "order", [o for o in range(4, 101, 4) if hadamard(o) is not None]
)
def test_hadamard_matrices_are_hadamard_and_normalised(order: int) -> None:
    h = hadamard(order)
    assert h is not None
    assert set(np.unique(h)) == {-1, 1}
    assert np.array_equal(h @ h.T, order * np.eye(order))
    assert (h[0] == 1).all() and (h[:, 0] == 1).all()


def test_every_multiple_of_four_up_to_48_is_built() -> None:
    # So a design for up to 47 factors needs at most 4 runs more than factors.
    built = [o for o in range(4, 101, 4) if hadamard(o) is not None]
    assert built[:12] == list(range(4, 49, 4))
    assert hadamard(52) is None and hadamard(6) is None


@pytest.mark.parametrize("n", range(1, 41))
def test_designs_are_orthogonal_and_balanced(n: int) -> None:
    design = plackett_burman(_names(n))
    x = design.matrix
    with_mean = np.column_stack([np.ones(design.runs), x])
    # Orthogonal: every column (the mean included) is orthogonal to every
    # other, so main effects are estimated independently of each other.
    assert np.array_equal(with_mean.T @ with_mean, design.runs * np.eye(n + 1))
    # Balanced: each factor is swapped in exactly half of the runs.
    assert ((x < 0).sum(axis=0) == design.runs // 2).all()
    # Run 0 is the side itself, which the search has measured already.
    assert design.swaps()[0] == frozenset()
    assert n < design.runs <= n + 4 or design.runs == 2


def test_a_power_of_two_design_aliases_interactions_fully() -> None:
    design = plackett_burman(_names(7))
    assert design.runs == 8 and design.resolution == 3
    for coefficients in design.alias_matrix().values():
        # Each two-factor interaction is one other factor's main effect.
        assert sorted(np.abs(coefficients).tolist()) == [0.0] * 6 + [1.0]
    assert "fully aliased" in design.describe()


def test_a_paley_design_aliases_interactions_by_a_third() -> None:
    design = plackett_burman(_names(11))
    assert design.runs == 12 and design.resolution == 3
    for (a, b), coefficients in design.alias_matrix().items():
        i, j = design.factors.index(a), design.factors.index(b)
        others = np.delete(np.abs(coefficients), [i, j])
        assert np.allclose(others, 1 / 3)
        assert coefficients[i] == coefficients[j] == 0
    assert "only partly aliased" in design.describe()


def test_main_effects_recover_planted_effects_and_cancel_seed_noise() -> None:
    design = plackett_burman(_names(16))
    rng = np.random.default_rng(0)
    beta = np.zeros(16)
    beta[[3, 9]] = [0.04, -0.02]  # the swap effect of f03 and f09
    swapped = (design.matrix < 0).astype(float)
    seed_noise = rng.normal(0, 0.05, size=10)  # shared by every run at a seed
    y = 0.1 + (swapped @ beta)[:, None] + seed_noise[None, :]
    y = y + rng.normal(0, 0.001, size=y.shape)
    effect, pvalue = main_effects(design, y)
    assert np.allclose(effect, beta, atol=0.002)
    assert pvalue[3] < 1e-6 and pvalue[9] < 1e-6
    assert np.delete(pvalue, [3, 9]).min() > 1e-4
