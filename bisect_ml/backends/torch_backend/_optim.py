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

    With ``weight_decay`` λ, ``decoupled=True`` is Keras's own decay (any
    Keras optimizer with ``weight_decay`` set): ``theta -= theta * λ * lr``
    before the update; ``decoupled=False`` adds ``λ * theta`` to the gradient
    first, as `torch.optim.Adam` does.

    Parameters
    ----------
    params
        The parameters (or parameter groups) to optimise.
    lr, betas, eps, weight_decay
        Learning rate, ``(beta_1, beta_2)``, epsilon and weight decay, named
        as in `torch.optim.Adam`.
    decoupled
        Whether the decay is Keras's decoupled step or an L2 gradient term.

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
        weight_decay: float = 0.0,
        decoupled: bool = True,
    ) -> None:
        if not lr > 0:
            raise ValueError(f"`lr` must be positive, got {lr!r}")
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"`betas` must lie in [0, 1), got {betas!r}")
        if not eps > 0:
            raise ValueError(f"`eps` must be positive, got {eps!r}")
        if not weight_decay >= 0:
            raise ValueError(f"`weight_decay` must be >= 0, got {weight_decay!r}")
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "decoupled": decoupled,
        }
        super().__init__(params, defaults)

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
            decay = group["weight_decay"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                if decay and group["decoupled"]:
                    # Keras's order: theta - (theta * wd) * lr.
                    param.sub_(param.mul(decay).mul_(group["lr"]))
                elif decay:
                    grad = grad.add(param, alpha=decay)
                self._update(param, grad, group["lr"], beta_1, beta_2, group["eps"])
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
    weight_decay: float = 0.0,
    decay_mode: str = "l2",
    adamw: bool = False,
) -> torch.optim.Optimizer:
    """The Adam the optimizer factors describe.

    ``corrected`` is torch's own optimizer: `torch.optim.AdamW` for
    ``adamw``, else `torch.optim.Adam`, whose ``weight_decay`` is an L2
    gradient term for ``decay_mode="l2"`` and torch's own decoupled step
    (``decoupled_weight_decay=True``) for ``"decoupled"``. ``uncorrected`` is
    `KerasAdam`, with Keras's decoupled decay or the L2 term. AdamW's decay is
    always decoupled.
    """
    if decay_mode not in ("l2", "decoupled"):
        raise ValueError(f"unknown optimizer.weight_decay_mode {decay_mode!r}")
    decoupled = adamw or decay_mode == "decoupled"
    betas = (beta_1, beta_2)
    if placement == "corrected":
        if adamw:
            return torch.optim.AdamW(
                params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay
            )
        return torch.optim.Adam(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            decoupled_weight_decay=decoupled,
        )
    if placement == "uncorrected":
        return KerasAdam(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            decoupled=decoupled,
        )
    raise ValueError(f"unknown optimizer.epsilon_placement {placement!r}")
