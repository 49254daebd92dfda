"""``train.shuffle = "batches"``: tf.data's batch-then-shuffle, genuine in
Keras and emulated in torch (PUBLIC_CASES N12).

The two frameworks draw their orders from different generators, so what is
compared is the fingerprint the value stands for: the same set of batches in
every epoch, each a run of consecutive stored samples, in an order that
changes from epoch to epoch.
"""

from __future__ import annotations

import numpy as np
import pytest

from bisect_ml.factors import default_assignment, registry

pytestmark = pytest.mark.frameworks

N, BATCH = 50, 8


def _torch_epochs(epochs: int, drop_last: bool = False) -> list[list[tuple]]:
    import torch
    from torch.utils.data import TensorDataset

    from bisect_ml.backends.torch_backend._train import make_loader

    data = TensorDataset(torch.arange(N), torch.zeros(N))
    loader = make_loader(
        data, batch_size=BATCH, shuffle="batches", seed=3, drop_last=drop_last
    )
    return [[tuple(x.tolist()) for x, _ in loader] for _ in range(epochs)]


def _keras_epochs(epochs: int, drop_last: bool = False) -> list[list[tuple]]:
    from bisect_ml.backends.keras_backend._runtime import keras
    from bisect_ml.backends.keras_backend._train import batched_then_shuffled

    keras.utils.set_random_seed(3)
    dataset = batched_then_shuffled(
        np.arange(N), np.zeros(N), BATCH, drop_last=drop_last
    )
    n_batches = N // BATCH if drop_last else -(-N // BATCH)
    batches = [tuple(x.numpy().tolist()) for x, _ in dataset.take(epochs * n_batches)]
    return [batches[i * n_batches : (i + 1) * n_batches] for i in range(epochs)]


@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("source", [_torch_epochs, _keras_epochs])
def test_batches_keep_their_members_and_change_their_order(source, drop_last) -> None:
    epochs = source(4, drop_last)
    cut = N - N % BATCH if drop_last else N
    expected = {tuple(range(s, min(s + BATCH, cut))) for s in range(0, cut, BATCH)}
    for epoch in epochs:
        assert set(epoch) == expected and len(epoch) == len(expected)
    assert len({tuple(epoch) for epoch in epochs}) > 1


def test_every_epoch_redraws_the_batches() -> None:
    # The value "batches" is told apart from: DataLoader(shuffle=True).
    import torch
    from torch.utils.data import TensorDataset

    from bisect_ml.backends.torch_backend._train import make_loader

    data = TensorDataset(torch.arange(N), torch.zeros(N))
    loader = make_loader(data, batch_size=BATCH, shuffle="every_epoch", seed=3)
    first = {tuple(x.tolist()) for x, _ in loader}
    second = {tuple(x.tolist()) for x, _ in loader}
    assert first != second


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_backends_train_on_fixed_batches(framework: str) -> None:
    from bisect_ml.backends import get_backend
    from bisect_ml.scenario import DataSpec, LayerSpec, Spec, TrainSpec, load_data

    assert "batches" in registry["train.shuffle"].choices
    spec = Spec(
        DataSpec(dataset="digits", max_samples=200),
        (LayerSpec("dense", 16, "relu"), LayerSpec("dense", 10)),
        TrainSpec(epochs=3, loss="cross_entropy", from_logits=True),
    )
    data = load_data(spec.data)
    backend = get_backend(framework)
    values = default_assignment(framework) | {"train.batch_size": 16}
    fixed = backend.train(spec, data, values | {"train.shuffle": "batches"}, seed=1)
    again = backend.train(spec, data, values | {"train.shuffle": "batches"}, seed=1)
    redrawn = backend.train(
        spec, data, values | {"train.shuffle": "every_epoch"}, seed=1
    )
    assert not fixed.diverged and len(fixed.loss_curve) == 3
    assert fixed.loss_curve == again.loss_curve
    assert fixed.loss_curve != redrawn.loss_curve
