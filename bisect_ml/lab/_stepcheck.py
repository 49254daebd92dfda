"""The step-by-step closure check: cheap, deterministic, before any statistics.

With every catalogued factor swapped, a hybrid should compute the other
side's training. Seeds hide that behind noise; a few steps do not. The hybrid
starts from the other side's initial weights (``init.values =
"transplanted"``: the other framework's default draws at the seed, which the
side it is compared with is given too) and both runs take the same batches in the
same order (``train.shuffle = "off"`` on both), so that what is left to differ
is what the catalogue swaps. If the two loss curves agree step for step, the catalogue
covers every difference of the pair that is not a random draw (initial
weights, data order, dropout masks), and a residual the statistics find can
only be noise or a draw. If they part, something outside the catalogue differs,
or an emulation is wrong, and the step where they part says when.

It runs in a fresh process (both frameworks load there, not in the caller)
and does not apply to the simulated backend, or to a model with dropout (each
framework draws its masks from its own generator).

TODO(#5): a false alarm is known. A dense ReLU layer followed by BatchNorm,
under Adam, parts at step 2 with no factor differing: the bias before a
BatchNorm has a true gradient of zero where a unit is active on the whole
batch, torch leaves round-off (about 5e-8) there, and Adam's normalised update
turns round-off into full steps. Comparing the losses with that bias frozen, or
flagging such models, would remove it.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bisect_ml.factors import FRAMEWORKS
from bisect_ml.lab._worker import init_worker

if TYPE_CHECKING:
    from bisect_ml.factors import Value
    from bisect_ml.scenario import Pair, Spec

__all__ = ["STEPS", "TOLERANCE", "StepCheck", "StepDirection", "step_check"]

#: Steps each direction trains.
STEPS = 30
#: Relative difference of a step's loss that still counts as the same: float32
#: training in two frameworks drifts apart by rounding alone; on the closure
#: test's models (dense, CNN, BatchNorm, LSTM, GRU, LayerNorm, embedding; Adam,
#: SGD, RMSprop, Adadelta) 30 steps stayed within 1.7e-6.
TOLERANCE = 1e-5


@dataclass(frozen=True)
class StepDirection:
    """One hybrid against the side it should compute."""

    #: The framework that trains the hybrid (with the other side's values).
    hybrid: str
    hybrid_losses: tuple[float, ...]
    reference_losses: tuple[float, ...]
    tolerance: float = TOLERANCE

    @property
    def differences(self) -> list[float]:
        """Each step's relative loss difference (inf where one is not finite)."""
        out = []
        for a, b in zip(self.hybrid_losses, self.reference_losses, strict=True):
            if not (math.isfinite(a) and math.isfinite(b)):
                out.append(0.0 if a == b else math.inf)
            else:
                out.append(abs(a - b) / max(abs(b), 1e-12))
        return out

    @property
    def worst(self) -> float:
        return max(self.differences, default=0.0)

    @property
    def first_apart(self) -> int | None:
        """The first step (from 1) beyond the tolerance, or None."""
        for i, d in enumerate(self.differences, 1):
            if d > self.tolerance:
                return i
        return None

    @property
    def closes(self) -> bool:
        return self.first_apart is None

    @property
    def reference(self) -> str:
        return next(fw for fw in FRAMEWORKS if fw != self.hybrid)

    def summary(self) -> str:
        where = f"{self.hybrid} <- {self.reference}{{all}}"
        if self.closes:
            return (
                f"{where} tracks {self.reference} for {len(self.hybrid_losses)} "
                f"steps (worst relative loss difference {self.worst:.1e})"
            )
        step = self.first_apart
        assert step is not None
        return (
            f"{where} parts from {self.reference} at step {step} of "
            f"{len(self.hybrid_losses)} (loss {self.hybrid_losses[step - 1]:.6g} "
            f"against {self.reference_losses[step - 1]:.6g}; worst relative "
            f"difference {self.worst:.1e}, tolerance {self.tolerance:.0e})"
        )


@dataclass(frozen=True)
class StepCheck:
    """The step-by-step closure check of a pair, both directions."""

    #: Whether the check could run at all; ``reason`` says why not.
    applies: bool
    reason: str = ""
    directions: tuple[StepDirection, ...] = ()
    seconds: float = 0.0

    @property
    def closes(self) -> bool | None:
        """True or False where it applies, None where it does not."""
        if not self.applies:
            return None
        return all(d.closes for d in self.directions)

    def summary(self) -> str:
        """One line for the verdict's notes."""
        if not self.applies:
            return f"step-by-step closure check: not run ({self.reason})"
        head = (
            "step-by-step closure check (every factor swapped, initial weights "
            "and data order shared): "
        )
        parts = "; ".join(d.summary() for d in self.directions)
        if self.closes:
            return (
                f"{head}{parts}. The catalogue covers every difference of this "
                "pair but the random draws."
            )
        return (
            f"{head}{parts}. Something outside the catalogue differs (or an "
            "emulation is wrong): expect a residual."
        )


def step_check(
    pair: Pair,
    *,
    steps: int = STEPS,
    seed: int = 0,
    tolerance: float = TOLERANCE,
) -> StepCheck:
    """Run the step-by-step closure check of ``pair`` in a fresh process."""
    if pair.backend == "simulated":
        return StepCheck(False, "the simulated backend takes no training steps")
    dropout = [layer.rate for layer in pair.spec.layers if layer.type == "dropout"]
    if any(rate and rate > 0 for rate in dropout):
        return StepCheck(
            False,
            "the model has dropout, whose masks each framework draws from its "
            "own generator",
        )
    assignments = {
        fw: {**pair.side(fw).assignment, "train.shuffle": "off"} for fw in FRAMEWORKS
    }
    start = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    threads = max(1, os.cpu_count() or 1)
    try:
        with ProcessPoolExecutor(
            1,
            mp_context=context,
            initializer=init_worker,
            initargs=(threads, True, os.getpid()),
        ) as pool:
            runs = pool.submit(_directions, pair.spec, assignments, seed, steps)
            result = runs.result()
    except Exception as err:  # a worker that died, or could not start
        return StepCheck(False, f"could not run: {err.__class__.__name__}: {err}")
    if isinstance(result, str):
        return StepCheck(False, f"could not run: {result}")
    directions = tuple(
        StepDirection(hybrid, tuple(h), tuple(r), tolerance) for hybrid, h, r in result
    )
    return StepCheck(True, "", directions, time.perf_counter() - start)


def _directions(
    spec: Spec,
    assignments: dict[str, dict[str, Value]],
    seed: int,
    steps: int,
    kept: dict[str, Value] | None = None,
) -> list[tuple[str, list[float], list[float]]] | str:
    """In the worker: each hybrid's and its reference's losses, step by step.

    The hybrid is transplanted the reference framework's default initial
    weights (`init.values`); the reference is given the same weights, loaded
    as its own structure needs them (its flatten order, its biases), so that
    both start from one function whatever the sides' init.* values are.
    ``kept`` holds values a hybrid keeps unswapped (for tests of the check).
    """
    try:
        from bisect_ml.backends._common import ModelOptions
        from bisect_ml.backends._transplant import donor_weights
        from bisect_ml.backends.keras_backend import _model as keras_model
        from bisect_ml.backends.keras_backend import _steps as keras_steps
        from bisect_ml.backends.keras_backend._train import build_trial as keras_trial
        from bisect_ml.backends.torch_backend import _model as torch_model
        from bisect_ml.backends.torch_backend import _steps as torch_steps
        from bisect_ml.backends.torch_backend._backend import (
            build_trial as torch_trial,
        )
        from bisect_ml.scenario import load_data

        data = load_data(spec.data)
        out = []
        for hybrid in FRAMEWORKS:
            reference = next(fw for fw in FRAMEWORKS if fw != hybrid)
            own = assignments[reference]
            swapped = own | {"init.values": "transplanted"} | (kept or {})
            options = ModelOptions.from_assignment(own)
            if hybrid == "torch":
                h_torch = torch_trial(spec, data, swapped, seed)
                r_keras = keras_trial(spec, data, own, seed, one_call_per_epoch=False)
                donor = donor_weights("keras", spec.layers, h_torch.shape, seed)
                keras_model.set_weights(r_keras.model, donor, options)
                h = torch_steps.step_losses(h_torch, steps)
                r = keras_steps.step_losses(r_keras, steps)
            else:
                h_keras = keras_trial(
                    spec, data, swapped, seed, one_call_per_epoch=False
                )
                r_torch = torch_trial(spec, data, own, seed)
                donor = donor_weights("torch", spec.layers, r_torch.shape, seed)
                torch_model.set_weights(r_torch.model, donor, options)
                h = keras_steps.step_losses(h_keras, steps)
                r = torch_steps.step_losses(r_torch, steps)
            out.append((hybrid, h, r))
        return out
    except Exception as err:
        return f"{err.__class__.__name__}: {err}"
