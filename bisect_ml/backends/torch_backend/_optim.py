"""The optimizers of the ``optimizer.*`` factors, torch's own where they can be.

Adam: ``corrected`` is torch's own `torch.optim.Adam`. ``uncorrected`` is
Keras's update (keras/src/optimizers/adam.py, ``update_step``) written as a
`torch.optim.Optimizer`, because no constant ``eps`` of torch's Adam matches
it at every step. RMSprop: torch's own for epsilon ``outside`` the square
root, `KerasRMSprop` for ``inside``. SGD and Adadelta: torch's own
(`build_optimizer` says why).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import torch

if TYPE_CHECKING:
    from bisect_ml.factors import Value

__all__ = ["KerasAdam", "KerasRMSprop", "build_optimizer", "make_optimizer"]

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


class KerasRMSprop(torch.optim.Optimizer):
    """RMSprop as Keras computes it: epsilon under the square root.

    keras/src/optimizers/rmsprop.py ``update_step``, per step::

        v = rho * v + (1 - rho) * g**2
        a = rho * a + (1 - rho) * g              (centered only)
        increment = lr * g / sqrt(v - a**2 + eps)  (v + eps when not centered)
        m = momentum * m + increment; theta -= m   (theta -= increment at 0)

    torch's `torch.optim.RMSprop` divides by ``sqrt(v) + eps`` instead, and
    keeps the learning rate out of its momentum buffer (the same steps while
    the learning rate is constant).
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict],
        lr: float = 1e-3,
        rho: float = 0.9,
        eps: float = 1e-7,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        if not lr > 0:
            raise ValueError(f"`lr` must be positive, got {lr!r}")
        if not 0.0 <= rho < 1.0:
            raise ValueError(f"`rho` must lie in [0, 1), got {rho!r}")
        if not eps > 0:
            raise ValueError(f"`eps` must be positive, got {eps!r}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"`momentum` must lie in [0, 1), got {momentum!r}")
        defaults = {
            "lr": lr,
            "rho": rho,
            "eps": eps,
            "momentum": momentum,
            "centered": centered,
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
            rho, eps, lr = group["rho"], group["eps"], group["lr"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                state = self.state[param]
                if not state:
                    state["v"] = torch.zeros_like(param)
                    state["a"] = torch.zeros_like(param)
                    state["m"] = torch.zeros_like(param)
                v: torch.Tensor = state["v"]
                v.mul_(rho).add_(grad.square().mul_(1 - rho))
                if group["centered"]:
                    a: torch.Tensor = state["a"]
                    a.mul_(rho).add_(grad.mul(1 - rho))
                    denominator = v.sub(a.square()).add_(eps)
                else:
                    denominator = v.add(eps)
                increment = grad.mul(lr).div_(denominator.sqrt_())
                if group["momentum"] > 0:
                    m: torch.Tensor = state["m"]
                    m.mul_(group["momentum"]).add_(increment)
                    param.sub_(m)
                else:
                    param.sub_(increment)
        return loss


def build_optimizer(
    params: Iterable[torch.Tensor], optimizer: str, values: Mapping[str, Value]
) -> torch.optim.Optimizer:
    """The optimizer of ``train.optimizer`` with the factors' values.

    torch's own classes run for torch's conventions: `torch.optim.SGD`,
    `torch.optim.RMSprop` (epsilon ``outside``), `torch.optim.Adadelta`, and
    Adam/AdamW through `make_optimizer`. Keras's RMSprop (epsilon ``inside``)
    is `KerasRMSprop`. SGD's and Adadelta's updates have the same form in both
    frameworks (SGD's momentum differs only where a changing learning rate
    enters, and the spec's learning rate is constant), so every value of their
    factors runs torch's own class.
    """
    if optimizer in ("adam", "adamw"):
        adamw = optimizer == "adamw"
        decay = "optimizer.adamw.weight_decay" if adamw else "optimizer.weight_decay"
        return make_optimizer(
            params,
            placement=str(values["optimizer.epsilon_placement"]),
            lr=float(values["optimizer.learning_rate"]),
            beta_1=float(values["optimizer.beta_1"]),
            beta_2=float(values["optimizer.beta_2"]),
            eps=float(values["optimizer.epsilon"]),
            weight_decay=float(values[decay]),
            decay_mode="decoupled"
            if adamw
            else str(values["optimizer.weight_decay_mode"]),
            adamw=adamw,
        )
    # TODO(#3): the spec has no learning-rate schedule, so where the learning
    # rate enters SGD's and RMSprop's momentum buffers (torch: outside, Keras:
    # inside) is not a factor; the forms part only when the rate changes
    # (tests/test_optimizers.py shows both).
    if optimizer == "sgd":
        momentum = float(values["optimizer.sgd.momentum"])
        return torch.optim.SGD(
            params,
            lr=float(values["optimizer.sgd.learning_rate"]),
            momentum=momentum,
            nesterov=bool(values["optimizer.sgd.nesterov"]) and momentum > 0,
        )
    if optimizer == "rmsprop":
        options: dict[str, Any] = {
            "lr": float(values["optimizer.rmsprop.learning_rate"]),
            "eps": float(values["optimizer.rmsprop.epsilon"]),
            "momentum": float(values["optimizer.rmsprop.momentum"]),
            "centered": bool(values["optimizer.rmsprop.centered"]),
        }
        rho = float(values["optimizer.rmsprop.rho"])
        placement = values["optimizer.rmsprop.epsilon_placement"]
        if placement == "outside":
            return torch.optim.RMSprop(params, alpha=rho, **options)
        if placement == "inside":
            return KerasRMSprop(params, rho=rho, **options)
        raise ValueError(f"unknown optimizer.rmsprop.epsilon_placement {placement!r}")
    if optimizer == "adadelta":
        return torch.optim.Adadelta(
            params,
            lr=float(values["optimizer.adadelta.learning_rate"]),
            rho=float(values["optimizer.adadelta.rho"]),
            eps=float(values["optimizer.adadelta.epsilon"]),
        )
    raise ValueError(f"unknown train.optimizer {optimizer!r}")
