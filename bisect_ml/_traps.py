"""Known traps a pair shows without training: warnings of `bisect-ml diff`.

A trap is a value that is legal, and a framework may even take silently, but
that is usually a porting mistake with a large effect: softmax applied twice,
an MSE that broadcasts its target, a BatchNorm momentum written in the other
framework's convention, torch's DataLoader left at one sample per batch. The
checks read the pair alone (and, for the batch sizes, the number of training
samples), so `bisect-ml diff` can show them for free before any training.

One trap is an error instead (`check_batch_norm_batches`): a BatchNorm layer
that would see a training batch of one sample, which torch refuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bisect_ml._errors import ScenarioError
from bisect_ml.factors import FRAMEWORKS

if TYPE_CHECKING:
    from bisect_ml.scenario import Dataset, Pair

__all__ = ["Trap", "check_batch_norm_batches", "find_traps"]

#: A torch-convention BatchNorm momentum at or above this puts more than half
#: of each running statistic on the latest batch: almost surely a Keras value
#: (the weight of the old average) copied across unconverted.
MOMENTUM_SUSPECT = 0.5


@dataclass(frozen=True)
class Trap:
    """A known trap in a pair, found without training.

    Attributes
    ----------
    code
        Stable identifier: ``softmax-twice``, ``mse-broadcast``,
        ``bn-momentum-convention`` or ``torch-batch-size-1``.
    factor
        The factor whose value is the trap.
    side
        The side holding that value.
    message
        One line: what the value does, and what to do about it.
    """

    code: str
    factor: str
    side: str
    message: str

    @property
    def key(self) -> str:
        """Where the value lives in a scenario file."""
        return f"sides.{self.side}.{self.factor}"

    def __str__(self) -> str:
        return f"[{self.code}] `{self.key}`: {self.message}"


def find_traps(pair: Pair) -> list[Trap]:
    """Every known trap in ``pair``, side by side, in catalogue order."""
    traps: list[Trap] = []
    for fw in FRAMEWORKS:
        side = pair.side(fw)
        values = side.assignment

        if (
            pair.applies("loss.softmax_output")
            and values["loss.softmax_output"] == "softmax_twice"
        ):
            traps.append(
                Trap(
                    "softmax-twice",
                    "loss.softmax_output",
                    fw,
                    "the model ends in a softmax and this side's cross-entropy "
                    "takes its probabilities as logits, applying softmax again "
                    "(nn.CrossEntropyLoss's own log_softmax"
                    + (
                        ", torch's default"
                        if side.is_default("loss.softmax_output")
                        else ""
                    )
                    + "): the loss flattens and its gradients shrink; end the "
                    "model in a linear layer with train.from_logits = true",
                )
            )
        if (
            pair.applies("loss.target_shape")
            and values["loss.target_shape"] == "broadcast"
        ):
            traps.append(
                Trap(
                    "mse-broadcast",
                    "loss.target_shape",
                    fw,
                    "an (N, 1) prediction against an (N,) target makes mean "
                    "squared error compare every prediction with every target "
                    "of the batch (nn.MSELoss only warns), so the model learns "
                    "to predict the batch mean; give the target shape (N, 1)",
                )
            )
        momentum = values["norm.batch.momentum"]
        if pair.applies("norm.batch.momentum") and isinstance(momentum, float):
            if momentum >= MOMENTUM_SUSPECT:
                traps.append(_momentum_trap(fw, momentum))
        other = pair.side("keras" if fw == "torch" else "torch").assignment
        if (
            fw == "torch"
            and "train.batch_size" not in side.explicit
            and values["train.batch_size"] == 1
            and other["train.batch_size"] != 1
        ):
            traps.append(
                Trap(
                    "torch-batch-size-1",
                    "train.batch_size",
                    fw,
                    "is left unset, so torch's DataLoader trains on 1 sample per "
                    f"step against {other['train.batch_size']} on the keras side "
                    "(fit's default is 32); if the torch code passes "
                    "batch_size, set it here",
                )
            )
    return traps


def _momentum_trap(fw: str, m: float) -> Trap:
    keep = 1 - m
    if fw == "torch":
        meaning = f"BatchNorm(momentum={m:g})"
        fix = f"if the value came from Keras code, write {keep:.4g}"
    else:
        meaning = f"BatchNormalization(momentum={keep:.4g})"
        fix = f"if the Keras code says momentum={m:g}, write {keep:.4g}"
    return Trap(
        "bn-momentum-convention",
        "norm.batch.momentum",
        fw,
        f"is {m:g} in torch's convention (the weight of the NEW batch), which "
        f"is {meaning}: each update keeps {keep:.0%} of the running mean and "
        f"variance and takes {m:.0%} from the latest batch, so eval mode "
        "normalises with roughly the last training batch's statistics (an "
        f"average over about {1 / m:.2g} batches); Keras's convention is the "
        f"weight of the OLD average, so {fix}",
    )


def check_batch_norm_batches(pair: Pair, data: Dataset) -> None:
    """Raise if a BatchNorm layer would train on a batch of one sample.

    torch's BatchNorm refuses a training batch with one value per channel
    ("Expected more than 1 value per channel when training"), and Keras
    normalises it to zero. Every arm may take either side's batch size and
    drop_last, so each combination is checked against the number of
    training samples.
    """
    from bisect_ml.scenario._data import validation_cut
    from bisect_ml.scenario._geometry import input_layout, input_shape, layer_shapes

    layers = pair.spec.layers
    if data.series or not any(layer.type == "batch_norm" for layer in layers):
        # TODO(#4): series data: the window count depends on preprocess.window.
        return
    shape = input_shape(
        input_layout(layers),
        dataset=pair.spec.data.dataset,
        n_features=data.n_features,
        window=pair.spec.data.window,
    )
    shapes = [shape, *layer_shapes(layers, shape)]
    single = [
        i
        for i, layer in enumerate(layers)
        if layer.type == "batch_norm"
        and (shapes[i].kind == "flat" or shapes[i].size // shapes[i].dims[-1] == 1)
    ]
    if not single:
        return
    n = validation_cut(len(data.x_train), pair.spec.train.validation_split)
    sides = {fw: pair.side(fw).assignment for fw in FRAMEWORKS}
    drops = {bool(sides[fw]["train.drop_last"]) for fw in FRAMEWORKS}
    if drops == {True}:
        return
    for fw in FRAMEWORKS:
        batch = int(sides[fw]["train.batch_size"])
        if batch == 1 or n % batch == 1:
            last = "every batch holds" if batch == 1 else "the last batch holds"
            raise ScenarioError(
                f"must not give model.layers[{single[0]}] (batch_norm, one value "
                f"per channel and sample) a training batch of one sample: with "
                f"{n} training samples in batches of {batch}, {last} 1, which "
                "torch's BatchNorm refuses in training; set another batch size, "
                f"or train.drop_last = true on both sides",
                key=f"sides.{fw}.train.batch_size",
                received=batch,
            )
