"""The factor catalogue, v1: the settings a dense PyTorch/Keras pair differs in.

Each default below was read from the installed sources (torch 2.13.0, Keras
3.15.1 on TensorFlow 2.21) and is re-checked against the installed libraries by
``tests/test_factors.py``.
"""

from __future__ import annotations

from bisect_ml.factors._factor import Factor, Value


def _positive(value: Value) -> bool:
    return isinstance(value, int | float) and value > 0


def _unit_open(value: Value) -> bool:
    return isinstance(value, int | float) and 0.0 <= value < 1.0


INIT_SCHEMES = {
    "kaiming_uniform_sqrt5": "U(+-1/sqrt(fan_in)): kaiming_uniform_(a=sqrt(5)), "
    "nn.Linear's own init",
    "glorot_uniform": "U(+-sqrt(6/(fan_in+fan_out))), Keras Dense's default",
    "he_uniform": "U(+-sqrt(6/fan_in))",
    "lecun_uniform": "U(+-sqrt(3/fan_in))",
}

CATALOGUE: tuple[Factor, ...] = (
    Factor(
        name="init.dense.kernel",
        description="distribution of a dense layer's initial weights",
        defaults={"torch": "kaiming_uniform_sqrt5", "keras": "glorot_uniform"},
        kind=str,
        choices=INIT_SCHEMES,
        source="torch/nn/modules/linear.py L117-128; keras/src/layers/core/dense.py "
        "L89-90",
        how={
            "torch": "nn.Linear's own reset_parameters for its default; others via "
            "torch.nn.init (xavier_uniform_, kaiming_uniform_)",
            "keras": "Dense's own GlorotUniform for its default; others via "
            "keras.initializers.VarianceScaling (torch's is scale=1/3, fan_in)",
        },
    ),
    Factor(
        name="init.dense.bias",
        description="distribution of a dense layer's initial bias",
        defaults={"torch": "uniform_fan_in", "keras": "zeros"},
        kind=str,
        choices={
            "uniform_fan_in": "U(+-1/sqrt(fan_in)), nn.Linear's own bias init",
            "zeros": "all zeros, Keras Dense's default",
        },
        source="torch/nn/modules/linear.py L125-128; keras/src/layers/core/dense.py "
        "L90",
        how={
            "torch": "nn.Linear's own init for its default; zeros via nn.init.zeros_",
            "keras": "Dense's own Zeros for its default; torch's via a "
            "RandomUniform(+-1/sqrt(fan_in)) built per layer",
        },
    ),
    Factor(
        name="preprocess.scale",
        description="how input features are scaled before training (a convention: "
        "the idiom of each framework's tutorials, no library default)",
        defaults={"torch": "symmetric", "keras": "unit"},
        kind=str,
        choices={
            "symmetric": "[-1, 1]: ToTensor() then Normalize((0.5,), (0.5,))",
            "unit": "[0, 1]: Rescaling(1/255)",
            "standardize": "zero mean, unit variance per feature (train statistics)",
            "raw": "features as loaded",
        },
        source="torchvision ToTensor/Normalize docs; keras.layers.Rescaling",
        how={
            "torch": "ToTensor and Normalize semantics reimplemented "
            "(uint8 / 255, float passed through; (x - mean) / std)",
            "keras": "keras.layers.Rescaling(1/255) and Rescaling(1/127.5, "
            "offset=-1) on uint8 images; the same affine maps on other data",
        },
    ),
    Factor(
        name="preprocess.window",
        description="which value a time-series window is trained to predict "
        "(series data only)",
        defaults={"torch": "next", "keras": "next"},
        kind=str,
        choices={
            "next": "the value right after the window (targets=series[L:])",
            "last": "the window's own last value (an off-by-one: targets "
            "shifted one step too few)",
            "skip": "the value two steps after the window (an off-by-one in a "
            "hand-written loop: series[i + L + 1])",
            "start": "the window's first value (targets=series unshifted)",
        },
        source="keras/src/utils/timeseries_dataset_utils.py",
        how={
            "torch": "windows cut with Tensor.unfold, targets by index",
            "keras": "keras.utils.timeseries_dataset_from_array with the "
            "targets array shifted by the chosen offset",
        },
    ),
    Factor(
        name="optimizer.learning_rate",
        description="Adam's step size",
        defaults={"torch": 1e-3, "keras": 1e-3},
        kind=float,
        rule=(_positive, "must be a positive float"),
        source="torch/optim/adam.py L35-50; keras/src/optimizers/adam.py L43-61",
        how={
            "torch": "argument of the optimizer",
            "keras": "argument of the optimizer",
        },
    ),
    Factor(
        name="optimizer.beta_1",
        description="decay of Adam's first-moment average",
        defaults={"torch": 0.9, "keras": 0.9},
        kind=float,
        rule=(_unit_open, "must be a float in [0, 1)"),
        source="torch/optim/adam.py L35-50; keras/src/optimizers/adam.py L43-61",
        how={
            "torch": "argument of the optimizer",
            "keras": "argument of the optimizer",
        },
    ),
    Factor(
        name="optimizer.beta_2",
        description="decay of Adam's second-moment average",
        defaults={"torch": 0.999, "keras": 0.999},
        kind=float,
        rule=(_unit_open, "must be a float in [0, 1)"),
        source="torch/optim/adam.py L35-50; keras/src/optimizers/adam.py L43-61",
        how={
            "torch": "argument of the optimizer",
            "keras": "argument of the optimizer",
        },
    ),
    Factor(
        name="optimizer.epsilon",
        description="Adam's epsilon value",
        defaults={"torch": 1e-8, "keras": 1e-7},
        kind=float,
        rule=(_positive, "must be a positive float"),
        source="torch/optim/adam.py L35-50; keras/src/optimizers/adam.py L43-61",
        how={
            "torch": "argument of the optimizer",
            "keras": "argument of the optimizer",
        },
    ),
    Factor(
        name="optimizer.epsilon_placement",
        description="where Adam adds epsilon: to the bias-corrected sqrt(v_hat) "
        "(torch) or to the raw sqrt(v), correction folded into the step (Keras)",
        defaults={"torch": "corrected", "keras": "uncorrected"},
        kind=str,
        choices={
            "corrected": "theta -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)",
            "uncorrected": "theta -= lr*sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps)",
        },
        source="torch/optim/adam.py L528-546; keras/src/optimizers/adam.py L102-137",
        how={
            "torch": "torch.optim.Adam for its default; the Keras update as a "
            "torch.optim.Optimizer subclass",
            "keras": "keras.optimizers.Adam for its default; the torch update as "
            "a keras.optimizers.Adam subclass overriding update_step",
        },
    ),
    Factor(
        name="train.batch_size",
        description="samples per gradient step (DataLoader's 1 vs fit's 32 when unset)",
        defaults={"torch": 1, "keras": 32},
        kind=int,
        rule=(_positive, "must be a positive integer"),
        source="torch/utils/data/dataloader.py L255-275; keras/src/trainers/"
        "data_adapters/array_data_adapter.py L88",
        how={"torch": "DataLoader(batch_size=...)", "keras": "fit(batch_size=...)"},
    ),
    Factor(
        name="train.shuffle",
        description="the order of the training samples from one epoch to the next",
        defaults={"torch": "off", "keras": "repeated"},
        kind=str,
        choices={
            "off": "the stored order in every epoch: DataLoader's default "
            "shuffle=False, fit(shuffle=False)",
            "every_epoch": "a fresh permutation each epoch: DataLoader(shuffle=True)",
            "repeated": "one permutation drawn once and reused in every epoch: "
            "Keras 3.15.1 fit(shuffle=True) after keras.utils.set_random_seed",
        },
        source="torch/utils/data/dataloader.py L395-403 and sampler.py L160-185 "
        "(RandomSampler draws a new randperm each time it is iterated); "
        "keras/src/trainers/data_adapters/array_data_adapter.py L128-142 "
        "(tf.random.shuffle in the dataset's map: "
        "under a global seed its op seeds are fixed when fit builds the dataset "
        "once, keras/src/backend/tensorflow/trainer.py L751, so the iterator made "
        "anew for each epoch, keras/src/trainers/epoch_iterator.py L110-126, "
        "replays the same permutation; unseeded, it differs each epoch). "
        "Keras master's ArrayDataAdapter._tf_shuffle seeds a stateless shuffle "
        "with the epoch number instead, which reshuffles every epoch",
        how={
            "torch": "DataLoader(shuffle=False) and DataLoader(shuffle=True) with "
            "the trial's generator, genuine; repeated is emulated by a DataLoader "
            "whose sampler is one torch.randperm drawn from that generator",
            "keras": "fit(shuffle=False) and, after set_random_seed, "
            "fit(shuffle=True), genuine; every_epoch is emulated by one "
            "fit(epochs=1, shuffle=False) per epoch on arrays permuted by a "
            "NumPy Generator seeded with the trial's seed",
        },
    ),
)
