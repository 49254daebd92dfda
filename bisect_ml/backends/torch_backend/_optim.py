"""The optimizers of the ``optimizer.*`` factors, torch's own where they can be.

Adam: ``corrected`` is torch's own `torch.optim.Adam`. ``uncorrected`` is
Keras's update (keras/src/optimizers/adam.py, ``update_step``) written as a
`torch.optim.Optimizer`, because no constant ``eps`` of torch's Adam matches
it at every step. RMSprop: torch's own for epsilon ``outside`` the square
root, `KerasRMSprop` for ``inside``. SGD and Adadelta: torch's own
(`build_optimizer` says why). Keras's per-occurrence second moment of an
embedding's gradient (``optimizer.sparse_moments``): `OccurrenceAdam`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import torch

if TYPE_CHECKING:
    from bisect_ml.factors import Value

__all__ = [
    "KerasAdam",
    "KerasRMSprop",
    "OccurrenceAdam",
    "build_optimizer",
    "make_optimizer",
    "watch_embeddings",
]

#: NumPy scalar type of each parameter dtype, for Keras's scalar arithmetic.
_SCALAR: dict[torch.dtype, type[np.floating[Any]]] = {
    torch.float32: np.float32,
    torch.float64: np.float64,
}


def _check(ok: bool, name: str, rule: str, value: object) -> None:
    """Raise the optimizers' ValueError for an argument that breaks ``rule``."""
    if not ok:
        raise ValueError(f"`{name}` must {rule}, got {value!r}")


class _KerasUpdate(torch.optim.Optimizer):
    """A Keras update as a torch optimizer: ``step`` runs `_step_param`.

    ``step`` evaluates the closure (with gradients on), then hands every
    parameter that has a gradient, group by group, to `_step_param`.
    """

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
            for param in group["params"]:
                if param.grad is not None:
                    self._step_param(group, param, param.grad)
        return loss

    def _step_param(
        self, group: dict[str, Any], param: torch.Tensor, grad: torch.Tensor
    ) -> None:
        """Update ``param`` in place from its gradient ``grad``."""
        raise NotImplementedError

    def _moments(
        self, param: torch.Tensor, *names: str, counted: bool = False
    ) -> list[torch.Tensor]:
        """The named state tensors of ``param``, zeros at its first step.

        ``counted`` also keeps ``state["step"]``, the 1-based number of the
        step being taken.
        """
        state = self.state[param]
        if not state:
            if counted:
                state["step"] = 0
            for name in names:
                state[name] = torch.zeros_like(param)
        if counted:
            state["step"] += 1
        return [state[name] for name in names]


class KerasAdam(_KerasUpdate):
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
        _check(lr > 0, "lr", "be positive", lr)
        _check(all(0.0 <= b < 1.0 for b in betas), "betas", "lie in [0, 1)", betas)
        _check(eps > 0, "eps", "be positive", eps)
        _check(weight_decay >= 0, "weight_decay", "be >= 0", weight_decay)
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "decoupled": decoupled,
        }
        super().__init__(params, defaults)

    def _step_param(
        self, group: dict[str, Any], param: torch.Tensor, grad: torch.Tensor
    ) -> None:
        decay = group["weight_decay"]
        if decay and group["decoupled"]:
            # Keras's order: theta - (theta * wd) * lr.
            param.sub_(param.mul(decay).mul_(group["lr"]))
        elif decay:
            grad = grad.add(param, alpha=decay)
        beta_1, beta_2 = group["betas"]
        self._update(param, grad, group["lr"], beta_1, beta_2, group["eps"])

    def _update(
        self,
        param: torch.Tensor,
        grad: torch.Tensor,
        lr: float,
        beta_1: float,
        beta_2: float,
        eps: float,
    ) -> None:
        m, v = self._moments(param, "m", "v", counted=True)
        t: int = self.state[param]["step"]
        f = _SCALAR.get(param.dtype, np.float64)
        alpha = f(lr) * np.sqrt(f(1) - f(beta_2) ** f(t)) / (f(1) - f(beta_1) ** f(t))
        m.add_(grad.sub(m).mul_(1 - beta_1))
        v.add_(self._square(param, grad).sub_(v).mul_(1 - beta_2))
        param.sub_(m.mul(float(alpha)).div_(v.sqrt().add_(eps)))

    def _square(self, param: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        """What the second moment takes: here the gradient's square."""
        return grad.square()


class OccurrenceAdam(KerasAdam):
    """Adam whose second moment squares an embedding's gradient per occurrence.

    Keras hands Adam an embedding table's gradient as ``tf.IndexedSlices``,
    one slice per token occurrence, and ``ops.square`` squares the slices
    before a repeated token's rows are summed into ``v``
    (keras/src/backend/tensorflow/sparse.py ``elementwise_unary``): ``v``
    takes the sum of the occurrences' squares where torch takes the square of
    their sum. `watch_embeddings` records each occurrence's gradient on the
    embedding's output; this optimizer squares those for the tables it
    watches and the plain gradient for every other parameter.

    ``corrected`` chooses the update around that second moment: torch's
    (`torch.optim.Adam`'s single-tensor step, epsilon after the bias
    correction) or Keras's (`KerasAdam`'s). The first moment takes the
    summed gradient in both, as Keras's ``ops.subtract`` densifies the slices.

    An L2 weight decay (``decoupled=False``) makes the gradient dense, so the
    tables then take the summed square, as Keras's own L2 emulation does.
    """

    # TODO(#3): with clipping, Keras's clipnorm measures the slices'
    # per-occurrence norm and returns a dense (summed) gradient
    # (keras/src/optimizers/base_optimizer.py L1108-1119), so a clipped Keras
    # embedding takes the summed square with another clipping factor; neither
    # is emulated here, and the recorded squares are used unscaled.

    def __init__(self, *args: Any, corrected: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.corrected = corrected
        #: Per watched table: the occurrences' squared gradients, added up
        #: over the backward passes since the last step.
        self.occurrences: dict[torch.Tensor, torch.Tensor] = {}

    def record(
        self, table: torch.Tensor, tokens: torch.Tensor, grad_out: torch.Tensor
    ) -> None:
        """Add one backward pass's per-occurrence gradients of ``table``."""
        flat = tokens.reshape(-1)
        rows = grad_out.reshape(-1, table.shape[-1])
        squares = torch.zeros_like(table).index_add_(0, flat, rows.square())
        if table in self.occurrences:
            squares = self.occurrences[table].add_(squares)
        self.occurrences[table] = squares

    @overload
    def step(self, closure: None = None) -> None: ...

    @overload
    def step(self, closure: Callable[[], float]) -> float: ...

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        try:
            return super().step(closure)
        finally:
            self.occurrences.clear()

    def _square(self, param: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        squares = self.occurrences.get(param)
        if squares is None or grad is not param.grad:
            return grad.square()
        return squares

    def _update(
        self,
        param: torch.Tensor,
        grad: torch.Tensor,
        lr: float,
        beta_1: float,
        beta_2: float,
        eps: float,
    ) -> None:
        if not self.corrected:
            super()._update(param, grad, lr, beta_1, beta_2, eps)
            return
        # torch/optim/adam.py _single_tensor_adam, without amsgrad.
        m, v = self._moments(param, "m", "v", counted=True)
        t: int = self.state[param]["step"]
        m.lerp_(grad, 1 - beta_1)
        v.mul_(beta_2).add_(self._square(param, grad), alpha=1 - beta_2)
        step_size = lr / (1 - beta_1**t)
        denominator = v.sqrt().div_(math.sqrt(1 - beta_2**t)).add_(eps)
        param.addcdiv_(m, denominator, value=-step_size)


def watch_embeddings(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Let an `OccurrenceAdam` see each embedding's per-occurrence gradients.

    A forward hook on every ``nn.Embedding`` of ``model`` registers, on each
    output that needs a gradient, a tensor hook handing the output's gradient
    (one row per token occurrence) and the tokens to the optimizer. Any other
    optimizer is left alone.
    """
    if not isinstance(optimizer, OccurrenceAdam):
        return

    def forward_hook(
        module: torch.nn.Module, inputs: tuple[Any, ...], output: torch.Tensor
    ) -> None:
        if not output.requires_grad:
            return
        assert isinstance(module, torch.nn.Embedding)
        table, tokens = module.weight, inputs[0].detach()

        def backward_hook(grad_out: torch.Tensor) -> None:
            optimizer.record(table, tokens, grad_out.detach())

        output.register_hook(backward_hook)

    for module in model.modules():
        if isinstance(module, torch.nn.Embedding):
            module.register_forward_hook(forward_hook)


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


class KerasRMSprop(_KerasUpdate):
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
        _check(lr > 0, "lr", "be positive", lr)
        _check(0.0 <= rho < 1.0, "rho", "lie in [0, 1)", rho)
        _check(eps > 0, "eps", "be positive", eps)
        _check(0.0 <= momentum < 1.0, "momentum", "lie in [0, 1)", momentum)
        defaults = {
            "lr": lr,
            "rho": rho,
            "eps": eps,
            "momentum": momentum,
            "centered": centered,
        }
        super().__init__(params, defaults)

    def _step_param(
        self, group: dict[str, Any], param: torch.Tensor, grad: torch.Tensor
    ) -> None:
        rho, eps, lr = group["rho"], group["eps"], group["lr"]
        v, a, m = self._moments(param, "v", "a", "m")
        v.mul_(rho).add_(grad.square().mul_(1 - rho))
        if group["centered"]:
            a.mul_(rho).add_(grad.mul(1 - rho))
            denominator = v.sub(a.square()).add_(eps)
        else:
            denominator = v.add(eps)
        increment = grad.mul(lr).div_(denominator.sqrt_())
        if group["momentum"] > 0:
            m.mul_(group["momentum"]).add_(increment)
            param.sub_(m)
        else:
            param.sub_(increment)


def build_optimizer(
    params: Iterable[torch.Tensor],
    optimizer: str,
    values: Mapping[str, Value],
    *,
    model: torch.nn.Module | None = None,
) -> torch.optim.Optimizer:
    """The optimizer of ``train.optimizer`` with the factors' values.

    ``model``, whose parameters ``params`` are, is needed for
    ``optimizer.sparse_moments = "per_occurrence"``: an Adam or AdamW of a
    model with an ``nn.Embedding`` is then `OccurrenceAdam`, watching the
    embeddings (`watch_embeddings`). Without an embedding both values take the
    same steps, and the value is left out.

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
        moments = str(values["optimizer.sparse_moments"])
        if moments not in ("summed", "per_occurrence"):
            raise ValueError(f"unknown optimizer.sparse_moments {moments!r}")
        if moments == "per_occurrence" and model is not None and _embeds(model):
            built = OccurrenceAdam(
                params,
                lr=float(values["optimizer.learning_rate"]),
                betas=(
                    float(values["optimizer.beta_1"]),
                    float(values["optimizer.beta_2"]),
                ),
                eps=float(values["optimizer.epsilon"]),
                weight_decay=float(values[decay]),
                decoupled=adamw or values["optimizer.weight_decay_mode"] != "l2",
                corrected=values["optimizer.epsilon_placement"] == "corrected",
            )
            watch_embeddings(model, built)
            return built
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


def _embeds(model: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.Embedding) for m in model.modules())
