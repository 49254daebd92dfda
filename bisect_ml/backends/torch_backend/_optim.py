"""Adam with either framework's epsilon placement.

``corrected`` is torch's own `torch.optim.Adam`. ``uncorrected`` is Keras's
update (keras/src/optimizers/adam.py, ``update_step``) written as a
`torch.optim.Optimizer`, because no constant ``eps`` of torch's Adam matches
it at every step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, overload

import numpy as np
import torch

__all__ = ["KerasAdam", "make_optimizer"]

#: NumPy scalar type of each parameter dtype, for Keras's scalar arithmetic.
_SCALAR: dict[torch.dtype, type[np.floating[Any]]] = {
    torch.float32: np.float32,
    torch.float64: np.float64,
}


class KerasAdam(torch.optim.Optimizer):
    """Adam as Keras computes it: epsilon added to the uncorrected sqrt(v).

    At 1-based step t::

        alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)
        m += (g - m) * (1 - beta_1)
        v += (g**2 - v) * (1 - beta_2)
        theta -= alpha * m / (sqrt(v) + epsilon)

    Parameters
    ----------
    params
        The parameters (or parameter groups) to optimise.
    lr, betas, eps
        Learning rate, ``(beta_1, beta_2)`` and epsilon, named as in
        `torch.optim.Adam`.

    Notes
    -----
    Keras's epsilon acts like torch's ``eps / sqrt(1 - beta_2**t)``: larger in
    the first steps, so with tiny gradients the two optimizers take visibly
    different steps. ``alpha`` is computed in the parameter's dtype, as Keras
    does, so float32 trajectories agree with Keras's bit for bit in practice.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-7,
    ) -> None:
        if not lr > 0:
            raise ValueError(f"`lr` must be positive, got {lr!r}")
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"`betas` must lie in [0, 1), got {betas!r}")
        if not eps > 0:
            raise ValueError(f"`eps` must be positive, got {eps!r}")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    @overload
    def step(self, closure: None = None) -> None: ...

    @overload
    def step(self, closure: Callable[[], float]) -> float: ...

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta_1, beta_2 = group["betas"]
            for param in group["params"]:
                if param.grad is not None:
                    self._update(
                        param, param.grad, group["lr"], beta_1, beta_2, group["eps"]
                    )
        return loss

    def _update(
        self,
        param: torch.Tensor,
        grad: torch.Tensor,
        lr: float,
        beta_1: float,
        beta_2: float,
        eps: float,
    ) -> None:
        state = self.state[param]
        if not state:
            state["step"] = 0
            state["m"] = torch.zeros_like(param)
            state["v"] = torch.zeros_like(param)
        state["step"] += 1
        t: int = state["step"]
        m: torch.Tensor = state["m"]
        v: torch.Tensor = state["v"]

        f = _SCALAR.get(param.dtype, np.float64)
        alpha = f(lr) * np.sqrt(f(1) - f(beta_2) ** f(t)) / (f(1) - f(beta_1) ** f(t))
        m.add_(grad.sub(m).mul_(1 - beta_1))
        v.add_(grad.square().sub_(v).mul_(1 - beta_2))
        param.sub_(m.mul(float(alpha)).div_(v.sqrt().add_(eps)))


def make_optimizer(
    params: Iterable[torch.Tensor],
    *,
    placement: str,
    lr: float,
    beta_1: float,
    beta_2: float,
    eps: float,
) -> torch.optim.Optimizer:
    """torch's own Adam for ``corrected``; the Keras update for ``uncorrected``."""
    if placement == "corrected":
        return torch.optim.Adam(params, lr=lr, betas=(beta_1, beta_2), eps=eps)
    if placement == "uncorrected":
        return KerasAdam(params, lr=lr, betas=(beta_1, beta_2), eps=eps)
    raise ValueError(f"unknown optimizer.epsilon_placement {placement!r}")
