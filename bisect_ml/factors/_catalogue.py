"""The factor catalogue: the settings a PyTorch/Keras pair silently differs in.

Each default below was read from the installed sources (torch 2.13.0, Keras
3.15.1 on TensorFlow 2.21) and is re-checked against the installed libraries by
``tests/test_factors.py``. Each factor's ``scope`` says for which pairs it can
matter at all (a BatchNorm factor for a model without BatchNorm is never a
candidate, whatever its two values).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bisect_ml.factors._factor import Factor, Value

if TYPE_CHECKING:
    from bisect_ml.scenario import LayerSpec
    from bisect_ml.scenario._geometry import Shape


def _positive(value: Value) -> bool:
    return isinstance(value, int | float) and value > 0


def _nonnegative(value: Value) -> bool:
    return isinstance(value, int | float) and value >= 0


def _unit_open(value: Value) -> bool:
    return isinstance(value, int | float) and 0.0 <= value < 1.0


def _momentum(value: Value) -> bool:
    return isinstance(value, int | float) and 0.0 < value <= 1.0


# -- scopes: predicates on a Pair (duck-typed: scenario imports this package) --


def _has(*types: str) -> Callable[[Any], bool]:
    def check(pair: Any) -> bool:
        return any(layer.type in types for layer in pair.spec.layers)

    return check


def _inputs(pair: Any) -> list[tuple[LayerSpec, Shape]]:
    """Each layer with the sample shape it receives; empty if unknown."""
    from bisect_ml._errors import ScenarioError
    from bisect_ml.scenario._geometry import input_layout, input_shape, layer_shapes

    layers, data = pair.spec.layers, pair.spec.data
    try:
        first = input_shape(
            input_layout(layers), dataset=data.dataset, window=data.window
        )
        outs = layer_shapes(layers, first)
    except ScenarioError:
        return []
    return list(zip(layers, [first, *outs[:-1]], strict=True))


def _uneven_same(types: tuple[str, ...]) -> Callable[[Any], bool]:
    """A 'same'-padded window layer where TF's split differs from torch's idiom."""

    def check(pair: Any) -> bool:
        from bisect_ml.scenario._geometry import same_padding, symmetric_padding

        for layer, shape in _inputs(pair):
            if layer.type not in types or layer.padding != "same":
                continue
            kernel = layer.kernel_size if layer.type == "conv2d" else layer.pool_size
            dilation = layer.dilation or 1
            pad = symmetric_padding(int(kernel or 1), dilation)
            for size in shape.dims[:2]:
                tf_pads = same_padding(size, int(kernel or 1), layer.stride, dilation)
                if tf_pads != (pad, pad):
                    return True
        return False

    return check


def _padded_average(pair: Any) -> bool:
    from bisect_ml.scenario._geometry import same_padding, symmetric_padding

    for layer, shape in _inputs(pair):
        if layer.type != "avg_pool2d" or layer.padding != "same":
            continue
        kernel = int(layer.pool_size or 1)
        if symmetric_padding(kernel) > 0:
            return True
        if any(
            sum(same_padding(size, kernel, layer.stride)) > 0 for size in shape.dims[:2]
        ):
            return True
    return False


def _flatten_mixes(pair: Any) -> bool:
    for layer, shape in _inputs(pair):
        if layer.type == "flatten" and shape.kind == "image":
            height, width, channels = shape.dims
            if channels > 1 and height * width > 1:
                return True
    return False


def _not_tokens(pair: Any) -> bool:
    from bisect_ml.scenario._geometry import input_layout

    return input_layout(pair.spec.layers) != "tokens"


def _optimizer(*names: str) -> Callable[[Any], bool]:
    def check(pair: Any) -> bool:
        return pair.spec.train.optimizer in names

    return check


#: The scope of the constants Adam and AdamW share.
_ADAM_FAMILY = (_optimizer("adam", "adamw"), "train.optimizer = 'adam' or 'adamw'")


def _some_side(factor: str, test: Callable[[Any], bool]) -> Callable[[Any], bool]:
    def check(pair: Any) -> bool:
        return any(test(side.assignment[factor]) for side in pair.sides.values())

    return check


def _decay_mode_matters(pair: Any) -> bool:
    return _optimizer("adam")(pair) and _some_side(
        "optimizer.weight_decay", lambda v: v > 0
    )(pair)


def _softmax_output(pair: Any) -> bool:
    train = pair.spec.train
    return bool(train.loss == "cross_entropy" and not train.from_logits)


def _mse(pair: Any) -> bool:
    return bool(pair.spec.train.loss == "mse")


def _own_weights(pair: Any) -> bool:
    """Some side draws its own initial weights (``init.values = 'own'``)."""
    return any(side.assignment["init.values"] == "own" for side in pair.sides.values())


def _own_and(test: Callable[[Any], bool]) -> Callable[[Any], bool]:
    def check(pair: Any) -> bool:
        return _own_weights(pair) and test(pair)

    return check


def _dropping(pair: Any) -> bool:
    return any(
        layer.type == "dropout" and (layer.rate or 0) > 0 for layer in pair.spec.layers
    )


_OWN = "a side drawing its own initial weights (init.values = 'own')"


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
        scope=(_own_weights, _OWN),
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
        scope=(_own_weights, _OWN),
        how={
            "torch": "nn.Linear's own init for its default; zeros via nn.init.zeros_",
            "keras": "Dense's own Zeros for its default; torch's via a "
            "RandomUniform(+-1/sqrt(fan_in)) built per layer",
        },
    ),
    Factor(
        name="init.conv.kernel",
        description="distribution of a conv2d layer's initial weights",
        defaults={"torch": "kaiming_uniform_sqrt5", "keras": "glorot_uniform"},
        kind=str,
        choices=INIT_SCHEMES,
        source="torch/nn/modules/conv.py L182-201 (kaiming_uniform_(a=sqrt(5)), "
        "as nn.Linear); keras/src/layers/convolutional/base_conv.py L102-103; "
        "both frameworks count fan_in = in*kh*kw and fan_out = out*kh*kw "
        "(torch/nn/init.py L458-476, keras/src/initializers/"
        "random_initializers.py L663-699)",
        scope=(
            _own_and(_has("conv2d")),
            "models with a conv2d layer, on " + _OWN,
        ),
        why="Glorot's bound sqrt(6/(fan_in+fan_out)) against torch's "
        "1/sqrt(fan_in): for a 3x3 conv from 1 to 16 channels torch's weights "
        "are about 1.7 times larger, for 16 to 32 channels about 0.8 times; deep "
        "stacks start at different signal scales (PUBLIC_CASES R04).",
        how={
            "torch": "nn.Conv2d's own reset_parameters for its default; others "
            "via torch.nn.init on the (out, in, kh, kw) weight",
            "keras": "Conv2D's own GlorotUniform for its default; others via "
            "keras.initializers.VarianceScaling on the (kh, kw, in, out) kernel",
        },
    ),
    Factor(
        name="init.conv.bias",
        description="distribution of a conv2d layer's initial bias",
        defaults={"torch": "uniform_fan_in", "keras": "zeros"},
        kind=str,
        choices={
            "uniform_fan_in": "U(+-1/sqrt(in*kh*kw)), nn.Conv2d's own bias init",
            "zeros": "all zeros, Keras Conv2D's default",
        },
        source="torch/nn/modules/conv.py L197-201; keras/src/layers/"
        "convolutional/base_conv.py L103",
        scope=(
            _own_and(_has("conv2d")),
            "models with a conv2d layer, on " + _OWN,
        ),
        how={
            "torch": "nn.Conv2d's own init for its default; zeros via nn.init.zeros_",
            "keras": "Conv2D's own Zeros for its default; torch's via a "
            "RandomUniform(+-1/sqrt(fan_in)) built per layer",
        },
    ),
    Factor(
        name="init.embedding",
        description="distribution of an embedding table's initial vectors",
        defaults={"torch": "normal", "keras": "uniform_0.05"},
        kind=str,
        choices={
            "normal": "N(0, 1): nn.Embedding's own init",
            "uniform_0.05": "U(-0.05, 0.05): Keras Embedding's 'uniform'",
        },
        source="torch/nn/modules/sparse.py L179-181 (normal_); keras/src/layers/"
        "core/embedding.py L91 (embeddings_initializer='uniform'), keras/src/"
        "initializers/__init__.py L60 and random_initializers.py L181 (+-0.05)",
        scope=(
            _own_and(_has("embedding")),
            "models with an embedding layer, on " + _OWN,
        ),
        why="torch's vectors are about 35 times larger (std 1 against 0.029): "
        "at Adam's 1e-3 they barely move relative to their size, so an "
        "IMDB embedding model reached 66% in torch and 77% in Keras "
        "(PUBLIC_CASES R14).",
        how={
            "torch": "nn.Embedding's own init for normal; uniform_0.05 via "
            "nn.init.uniform_",
            "keras": "Embedding's own RandomUniform for uniform_0.05; normal "
            "via keras.initializers.RandomNormal(0, 1)",
        },
    ),
    Factor(
        name="init.recurrent.kernel",
        description="distribution of an LSTM or GRU layer's input weights",
        defaults={"torch": "uniform_hidden", "keras": "glorot_uniform"},
        kind=str,
        choices={
            "uniform_hidden": "U(+-1/sqrt(units)): every torch RNN parameter",
            "glorot_uniform": "Glorot on the whole (inputs, gates*units) kernel",
        },
        source="torch/nn/modules/rnn.py L308-311 (reset_parameters), L958-960; "
        "keras/src/layers/rnn/lstm.py L88-97, gru.py L88-103",
        scope=(
            _own_and(_has("lstm", "gru")),
            "models with an lstm or gru layer, on " + _OWN,
        ),
        how={
            "torch": "nn.LSTM/nn.GRU's own init for uniform_hidden; glorot via "
            "nn.init.xavier_uniform_ on weight_ih (gates*units, inputs)",
            "keras": "LSTM/GRU's own GlorotUniform; uniform_hidden via "
            "RandomUniform(+-1/sqrt(units))",
        },
    ),
    Factor(
        name="init.recurrent.recurrent_kernel",
        description="distribution of an LSTM or GRU layer's recurrent weights",
        defaults={"torch": "uniform_hidden", "keras": "orthogonal"},
        kind=str,
        choices={
            "uniform_hidden": "U(+-1/sqrt(units)): every torch RNN parameter",
            "orthogonal": "an orthogonal (units, gates*units) matrix: its rows "
            "are orthonormal (Keras's Orthogonal on the whole kernel)",
        },
        source="torch/nn/modules/rnn.py L308-311; keras/src/layers/rnn/lstm.py "
        "L88-97, L147-191; keras/src/initializers/random_initializers.py "
        "L747-772",
        scope=(
            _own_and(_has("lstm", "gru")),
            "models with an lstm or gru layer, on " + _OWN,
        ),
        why="An orthogonal recurrent matrix has all its singular values at "
        "1, so a fresh network carries its state across steps evenly; torch's "
        "uniform matrix stretches some directions and squashes others.",
        how={
            "torch": "nn.LSTM/nn.GRU's own init for uniform_hidden; orthogonal "
            "is nn.init.orthogonal_ on a (units, gates*units) matrix, "
            "transposed into weight_hh",
            "keras": "LSTM/GRU's own Orthogonal; uniform_hidden via "
            "RandomUniform(+-1/sqrt(units))",
        },
    ),
    Factor(
        name="init.recurrent.bias",
        description="initial biases of an LSTM or GRU layer",
        defaults={"torch": "uniform_hidden", "keras": "zeros_unit_forget"},
        kind=str,
        choices={
            "uniform_hidden": "torch's two biases (input and recurrent), each "
            "U(+-1/sqrt(units)): their sum has a triangular distribution",
            "zeros_unit_forget": "zeros, except an LSTM's forget gate at 1 "
            "(Keras's unit_forget_bias=True); a GRU's are all zeros",
        },
        source="torch/nn/modules/rnn.py L308-311; keras/src/layers/rnn/lstm.py "
        "L88-97 (unit_forget_bias=True), L170-191; gru.py L88-103, L164-171",
        scope=(
            _own_and(_has("lstm", "gru")),
            "models with an lstm or gru layer, on " + _OWN,
        ),
        why="A forget gate that starts open (bias 1) lets an LSTM remember "
        "from the first step; torch's forget gate starts half open.",
        how={
            "torch": "nn.LSTM/nn.GRU's own init for uniform_hidden; "
            "zeros_unit_forget zeroes both biases and sets the forget block "
            "of bias_ih to 1",
            "keras": "LSTM (unit_forget_bias=True) / GRU own init for "
            "zeros_unit_forget; uniform_hidden is the sum of two "
            "RandomUniform(+-1/sqrt(units)) draws for an LSTM's single bias, "
            "and one per row of a GRU's (2, 3*units) bias",
        },
    ),
    Factor(
        name="init.values",
        description="whose initial weights a side starts from: its own "
        "framework's draws, or the other framework's, transplanted",
        defaults={"torch": "own", "keras": "own"},
        kind=str,
        choices={
            "own": "the weights this framework's initialisers draw at the seed "
            "(as the init.* factors say)",
            "transplanted": "the weights the other framework's genuine default "
            "initialisers draw for this model at the same seed, copied across "
            "(kernels transposed, conv OIHW <-> HWIO, GRU gates r,z,n <-> z,r,h, "
            "LSTM/GRU biases, flatten order); the side's init.* values are "
            "ignored",
        },
        source="no framework default: both frameworks initialise every layer "
        "themselves (torch/nn/modules/*.py reset_parameters, keras/src/layers "
        "initializers); the copy is bisect_ml/backends/_transplant.py",
        why="Asks whether a gap is in the initial weights or in what training "
        "does with them: a side trained from the other side's very weights, at "
        "the same seed, isolates the initialisation in one swap (the "
        "diagnostic PUBLIC_CASES R14 suggests). A transplanted side ignores "
        "its init.* values, so swapping one onto it changes nothing.",
        how={
            "torch": "own: build_model's draws; transplanted: the Keras model "
            "of the same layers with every factor at Keras's defaults, built "
            "after keras.utils.set_random_seed(seed), its weights loaded into "
            "the torch model (torch's random stream left where its own draws "
            "leave it, for dropout)",
            "keras": "own: build_model's draws; transplanted: the torch model "
            "with every factor at torch's defaults, built after "
            "torch.manual_seed(seed), loaded with set_weights (Keras's random "
            "streams untouched)",
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
        scope=(_not_tokens, "models whose input is not token ids"),
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
        scope=(
            lambda pair: pair.spec.data.window is not None,
            "series data (with `data.window`)",
        ),
        how={
            "torch": "windows cut with Tensor.unfold, targets by index",
            "keras": "keras.utils.timeseries_dataset_from_array with the "
            "targets array shifted by the chosen offset",
        },
    ),
    Factor(
        name="layers.conv.padding_same",
        description="where a conv2d layer padded 'same' puts its padding",
        defaults={"torch": "symmetric", "keras": "asymmetric"},
        kind=str,
        choices={
            "symmetric": "d*(k-1)/2 on every side: torch's padding=k//2 idiom "
            "(nn.Conv2d refuses padding='same' with a stride above 1)",
            "asymmetric": "TensorFlow's 'SAME': total padding for ceil(size/"
            "stride) outputs, the odd pixel at the bottom and right",
        },
        source="torch/nn/modules/conv.py L117-120 (stride check), L141-156; "
        "tensorflow/core/framework/kernel_shape_util.cc L47-56; keras/src/"
        "backend/tensorflow/nn.py L802-816",
        scope=(
            _uneven_same(("conv2d",)),
            "models with a conv2d layer padded 'same' whose two splits differ "
            "(a stride above 1)",
        ),
        why="Same output shape, but every window of a stride-2 layer on an even "
        "input is shifted by one pixel; transplanted ResNet weights gave very "
        "different stride-2 outputs (PUBLIC_CASES R08, R04).",
        how={
            "torch": "nn.Conv2d(padding=d*(k-1)//2) for symmetric (padding="
            "'same' itself when the stride is 1); asymmetric is nn.ZeroPad2d "
            "with TensorFlow's amounts, then the conv unpadded",
            "keras": "Conv2D(padding='same') for asymmetric; symmetric is "
            "ZeroPadding2D(d*(k-1)//2) then Conv2D(padding='valid')",
        },
    ),
    Factor(
        name="layers.pool.padding_same",
        description="where a pooling layer padded 'same' puts its padding",
        defaults={"torch": "symmetric", "keras": "asymmetric"},
        kind=str,
        choices={
            "symmetric": "(k-1)/2 on every side: MaxPool2d/AvgPool2d(padding="
            "k//2), torch's idiom",
            "asymmetric": "TensorFlow's 'SAME' split, the odd pixel at the bottom "
            "and right",
        },
        source="torch/nn/modules/pooling.py (padding on both sides); "
        "tensorflow/core/framework/kernel_shape_util.cc L47-56",
        scope=(
            _uneven_same(("max_pool2d", "avg_pool2d")),
            "models with a pooling layer padded 'same' whose two splits differ",
        ),
        why="As for convolutions: a ResNet stem's MaxPool2d(3, 2, padding=1) "
        "looks at windows shifted by one pixel from MaxPooling2D(3, 2, "
        "padding='same') on an even input.",
        how={
            "torch": "MaxPool2d/AvgPool2d(padding=k//2) for symmetric; "
            "asymmetric pads with nn.ConstantPad2d (-inf before a max, zeros "
            "before an average) and pools unpadded",
            "keras": "MaxPooling2D/AveragePooling2D(padding='same') for "
            "asymmetric; symmetric pads with keras.ops.pad (-inf or zeros) and "
            "pools 'valid'",
        },
    ),
    Factor(
        name="layers.pool.count_include_pad",
        description="whether average pooling counts padded zeros in its divisor",
        defaults={"torch": True, "keras": False},
        kind=bool,
        source="torch/nn/modules/pooling.py L760-775 (AvgPool2d "
        "count_include_pad=True); TF's avg_pool with 'SAME' divides by the "
        "number of real inputs in each window (checked at runtime)",
        scope=(_padded_average, "models with a padded 'same' avg_pool2d layer"),
        why="At the border torch averages in the zeros of the padding (a 3x3 "
        "corner window is divided by 9, not 4), so border activations shrink.",
        how={
            "torch": "AvgPool2d(count_include_pad=...) genuine for symmetric "
            "padding; with TensorFlow's split, zeros are padded explicitly and "
            "False divides by the pooled mask of real inputs",
            "keras": "AveragePooling2D(padding='same') for False; True pads "
            "zeros explicitly and pools 'valid'",
        },
    ),
    Factor(
        name="layers.flatten.order",
        description="the order in which flatten lays out an image's values",
        defaults={"torch": "chw", "keras": "hwc"},
        kind=str,
        choices={
            "chw": "channel, then row, then column: nn.Flatten on NCHW",
            "hwc": "row, then column, then channel: keras Flatten on NHWC",
        },
        source="torch/nn/modules/flatten.py; keras/src/layers/reshaping/"
        "flatten.py L42-58 (channels_first is transposed to channels-last "
        "first)",
        scope=(_flatten_mixes, "models that flatten a multi-channel image"),
        why="Only a permutation of the next dense layer's inputs: harmless when "
        "each side trains from its own initial weights, wrong answers when "
        "weights are copied across (PUBLIC_CASES R10).",
        how={
            "torch": "nn.Flatten for chw; hwc permutes to (N, H, W, C) first",
            "keras": "Flatten for hwc; chw is Permute((3, 1, 2)) then Flatten",
        },
    ),
    Factor(
        name="layers.gru.reset_after",
        description="whether a GRU applies its reset gate after the recurrent "
        "product (torch, Keras 2+) or before it (the classic Cho form)",
        defaults={"torch": True, "keras": True},
        kind=bool,
        source="torch/nn/modules/rnn.py L1206-1225 (nn.GRU: n = tanh(W_in x + "
        "b_in + r * (W_hn h + b_hn)), no option); keras/src/layers/rnn/gru.py "
        "L103, L164-171, L240-290 (reset_after=True, a (2, 3u) bias)",
        scope=(_has("gru"), "models with a gru layer"),
        why="Keras 1 / TF 1 ports and older checkpoints use reset_after=False "
        "(one bias, reset gate on the state before its product): a different "
        "function, so copied GRU weights give different outputs even with the "
        "gates reordered (PUBLIC_CASES R12).",
        how={
            "torch": "nn.GRU for True; False is ClassicGRU, a step loop of "
            "torch ops with one bias, tested against Keras GRU(reset_after="
            "False)",
            "keras": "GRU() for True; GRU(reset_after=False) for False, both genuine",
        },
    ),
    Factor(
        name="layers.lstm.bias",
        description="whether an LSTM has torch's two trained biases (b_ih and "
        "b_hh) or Keras's one",
        defaults={"torch": "double", "keras": "single"},
        kind=str,
        choices={
            "double": "two bias vectors, always summed, both trained: "
            "nn.LSTM's bias_ih and bias_hh",
            "single": "one bias vector: Keras LSTM's bias",
        },
        source="torch/nn/modules/rnn.py L830-845 (LSTM: b_ii + b_hi, ...); "
        "keras/src/layers/rnn/lstm.py L163-191 (one (4u,) bias)",
        scope=(_has("lstm"), "models with an lstm layer"),
        why="The same function, but both of torch's biases get the same "
        "gradient, so under Adam (which normalises each step) the summed bias "
        "moves about twice as far per step as Keras's single bias; the "
        "initial distribution (sum of two uniforms) is init.recurrent.bias's "
        "business.",
        how={
            "torch": "nn.LSTM for double; single keeps b_hh at zero with "
            "requires_grad False (the initial sum moved into b_ih)",
            "keras": "LSTM for single; double is keras.layers.RNN over "
            "DoubleBiasLSTMCell, an LSTMCell with a second trained bias, tested "
            "against nn.LSTM",
        },
    ),
    Factor(
        name="eval.dropout",
        description="whether dropout layers still drop when the test metric is "
        "computed",
        defaults={"torch": "off", "keras": "off"},
        kind=str,
        choices={
            "off": "inference mode: dropout is the identity (model.eval() in "
            "torch; Keras's predict or model(x, training=False))",
            "on": "dropout keeps drawing masks at prediction: a torch model "
            "left in train mode, or model(x, training=True) in Keras",
        },
        source="torch/nn/modules/dropout.py L73 (F.dropout(input, p, "
        "self.training)); keras/src/layers/regularization/dropout.py "
        "(call(training=...)), keras/src/trainers/trainer.py predict runs "
        "training=False",
        scope=(_dropping, "models with a dropout layer of rate above 0"),
        why="A torch script that forgets model.eval() before predicting "
        "scores noisy, randomly thinned predictions; Keras's predict never "
        "does (PUBLIC_CASES N06).",
        how={
            "torch": "nn.Dropout under model.eval() for off; on is "
            "DropoutAtInference, F.dropout(training=True) whatever the mode",
            "keras": "Dropout for off; on is a Dropout subclass calling its "
            "parent with training=True",
        },
    ),
    Factor(
        name="eval.batch_norm",
        description="which statistics BatchNorm normalises with when the test "
        "metric is computed",
        defaults={"torch": "running", "keras": "running"},
        kind=str,
        choices={
            "running": "inference mode: the running (moving) mean and variance "
            "(model.eval() in torch; Keras's predict or model(x, training="
            "False))",
            "batch": "the mean and biased variance of the evaluated batch, "
            "which also updates the running statistics: a torch model left in "
            "train mode, or model(x, training=True) in Keras",
        },
        source="torch/nn/modules/batchnorm.py L187-224 (_NormBase.forward: "
        "bn_training = self.training; buffers updated in training mode); "
        "keras/src/layers/normalization/batch_normalization.py L334-404 "
        "(call: batch moments and a moving-average update only when training), "
        "keras/src/trainers/trainer.py predict runs training=False",
        scope=(_has("batch_norm"), "models with a batch_norm layer"),
        why="A torch script that forgets model.eval() before predicting "
        "normalises the test inputs with their own statistics instead of "
        "the ones learned in training; Keras's predict never does (the "
        "BatchNorm half of PUBLIC_CASES N06).",
        how={
            "torch": "nn.BatchNorm1d/2d under model.eval() for running; batch "
            "is TrainModeBatchNorm, a Sequential on which model.eval() "
            "leaves the BatchNorm modules in train mode",
            "keras": "BatchNormalization for running; batch is a subclass "
            "calling its parent with training=True (dropout unaffected)",
        },
    ),
    Factor(
        name="norm.batch.momentum",
        description="weight of the new batch statistic in BatchNorm's running "
        "averages, in torch's convention (Keras's momentum m is 1 - m here)",
        defaults={"torch": 0.1, "keras": 0.01},
        kind=float,
        rule=(_momentum, "must be a float in (0, 1]"),
        source="torch/nn/modules/batchnorm.py L38-49, L182-194 (momentum=0.1: "
        "r <- (1-m) r + m x); keras/src/layers/normalization/"
        "batch_normalization.py L163-170, L385-391 (momentum=0.99: r <- r m + "
        "x (1-m))",
        scope=(_has("batch_norm"), "models with a batch_norm layer"),
        why="The two frameworks name opposite quantities 'momentum'. Keras's "
        "0.99 keeps a slow average that lags after a few epochs, so eval-mode "
        "outputs differ; a value copied literally across (0.95 in TF meaning "
        "0.05 in torch) makes the running statistics follow the last batch "
        "(PUBLIC_CASES R05, Ludwig).",
        how={
            "torch": "BatchNorm1d/2d(momentum=m)",
            "keras": "BatchNormalization(momentum=1 - m); its own default "
            "when m = 0.01",
        },
    ),
    Factor(
        name="norm.batch.epsilon",
        description="the constant BatchNorm adds to the variance",
        defaults={"torch": 1e-5, "keras": 1e-3},
        kind=float,
        rule=(_positive, "must be a positive float"),
        source="torch/nn/modules/batchnorm.py L38-49; keras/src/layers/"
        "normalization/batch_normalization.py L163-170",
        scope=(_has("batch_norm"), "models with a batch_norm layer"),
        why="Matters for channels of small variance (dead or nearly constant "
        "units, low-contrast pixels): Keras divides them by at least "
        "sqrt(1e-3), torch by sqrt(1e-5).",
        how={
            "torch": "BatchNorm1d/2d(eps=...)",
            "keras": "BatchNormalization(epsilon=...)",
        },
    ),
    Factor(
        name="norm.batch.running_variance",
        description="the variance estimator BatchNorm feeds its running "
        "average (both normalise a training batch by the biased one)",
        defaults={"torch": "unbiased", "keras": "biased"},
        kind=str,
        choices={
            "unbiased": "batch variance * n/(n-1), n = values per channel (torch)",
            "biased": "batch variance as computed, divided by n (Keras, tf.nn.moments)",
        },
        source="torch/nn/modules/batchnorm.py L436-438, L454; keras/src/layers/"
        "normalization/batch_normalization.py L385-391, L434-440; "
        "tensorflow/python/ops/nn_impl.py L1271-1279",
        scope=(_has("batch_norm"), "models with a batch_norm layer"),
        why="Eval-mode outputs differ by a factor sqrt(n/(n-1)) in scale; "
        "large with small batches on dense layers, small on conv maps "
        "(PUBLIC_CASES R18).",
        how={
            "torch": "BatchNorm1d/2d for unbiased; biased is a BatchNorm "
            "subclass that normalises with F.batch_norm and updates its running "
            "variance with the biased estimate",
            "keras": "BatchNormalization for biased; unbiased is a subclass "
            "whose training step scales the variance by n/(n-1) before its "
            "moving-average update",
        },
    ),
    Factor(
        name="norm.layer.epsilon",
        description="the constant LayerNorm adds to the variance",
        defaults={"torch": 1e-5, "keras": 1e-3},
        kind=float,
        rule=(_positive, "must be a positive float"),
        source="torch/nn/modules/normalization.py (LayerNorm eps=1e-05); "
        "keras/src/layers/normalization/layer_normalization.py "
        "(epsilon=1e-3)",
        scope=(_has("layer_norm"), "models with a layer_norm layer"),
        why="A PT/TF model pair differed in logits by up to 1e-3 until the "
        "epsilon was aligned (PUBLIC_CASES R17); the effect grows when "
        "features have a small spread.",
        how={
            "torch": "nn.LayerNorm(eps=...)",
            "keras": "LayerNormalization(epsilon=...)",
        },
    ),
    Factor(
        name="loss.softmax_output",
        description="what cross-entropy does with a model whose last layer is "
        "a softmax",
        defaults={"torch": "softmax_twice", "keras": "logits"},
        kind=str,
        choices={
            "softmax_twice": "the probabilities are taken as logits: "
            "nn.CrossEntropyLoss applies log_softmax to them again",
            "logits": "the loss reaches behind the softmax and uses its logits "
            "(Keras, silently, even with from_logits=True)",
            "clipped_log": "log of the probabilities clipped to [1e-7, 1-1e-7]: "
            "Keras's path for probabilities it cannot trace to a softmax, "
            "NLLLoss(log(p)) in torch",
        },
        source="torch/nn/modules/loss.py L1200, L1385-1393 (CrossEntropyLoss "
        "takes logits); keras/src/backend/tensorflow/nn.py L1262-1295 "
        "(_get_logits), L1376, L1434; keras/src/activations/activations.py L161",
        scope=(_softmax_output, "cross-entropy on a softmax output layer"),
        why="Softmax twice squeezes the loss into a narrow band: gradients "
        "shrink and training slows or stalls, while Keras trains the same "
        "model from its logits.",
        how={
            "torch": "nn.CrossEntropyLoss on the softmax output for "
            "softmax_twice; logits drops the final nn.Softmax in training; "
            "clipped_log is NLLLoss of the clamped log",
            "keras": "SparseCategoricalCrossentropy on Dense(activation="
            "'softmax') for logits; the other two compute the softmax in a way "
            "Keras cannot trace (exp / sum) and use from_logits=True or False",
        },
    ),
    Factor(
        name="loss.target_shape",
        description="how mean squared error pairs an (N, 1) prediction with an "
        "(N,) target",
        defaults={"torch": "matched", "keras": "matched"},
        kind=str,
        choices={
            "matched": "prediction i against target i",
            "broadcast": "every prediction against every target: an (N, N) "
            "error matrix (nn.MSELoss with an (N,) target, which only warns)",
        },
        source="torch/nn/functional.py L4245-4310 (mse_loss broadcasts, warning "
        "at L4283-4289); keras/src/losses/loss.py L119-137 "
        "(squeeze_or_expand_to_same_rank)",
        scope=(_mse, "mean squared error"),
        why="Keras aligns the ranks itself; torch broadcasts an (N,) target "
        "against (N, 1) predictions and the model learns to predict the batch "
        "mean.",
        how={
            "torch": "nn.MSELoss on (N, 1) and (N, 1), or on (N, 1) and (N,) "
            "for broadcast (torch's own broadcasting, its warning silenced)",
            "keras": "MeanSquaredError for matched; broadcast is a loss that "
            "averages the (N, N) matrix of (target_j - prediction_i)^2",
        },
    ),
    Factor(
        name="optimizer.learning_rate",
        description="Adam's step size",
        defaults={"torch": 1e-3, "keras": 1e-3},
        kind=float,
        rule=(_positive, "must be a positive float"),
        source="torch/optim/adam.py L35-50; keras/src/optimizers/adam.py L43-61",
        scope=_ADAM_FAMILY,
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
        scope=_ADAM_FAMILY,
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
        scope=_ADAM_FAMILY,
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
        scope=_ADAM_FAMILY,
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
        scope=_ADAM_FAMILY,
        how={
            "torch": "torch.optim.Adam for its default; the Keras update as a "
            "torch.optim.Optimizer subclass",
            "keras": "keras.optimizers.Adam for its default; the torch update as "
            "a keras.optimizers.Adam subclass overriding update_step",
        },
    ),
    Factor(
        name="optimizer.weight_decay",
        description="Adam's weight decay coefficient (0 = none; torch's "
        "default 0, Keras's None)",
        defaults={"torch": 0.0, "keras": 0.0},
        kind=float,
        rule=(_nonnegative, "must be a non-negative float"),
        source="torch/optim/adam.py L35-50; keras/src/optimizers/adam.py L50",
        scope=(_optimizer("adam"), "train.optimizer = 'adam'"),
        how={
            "torch": "Adam(weight_decay=...)",
            "keras": "Adam(weight_decay=...), None for 0",
        },
    ),
    Factor(
        name="optimizer.weight_decay_mode",
        description="what Adam's weight_decay does: add lambda*theta to the "
        "gradient (L2) or shrink theta directly (decoupled)",
        defaults={"torch": "l2", "keras": "decoupled"},
        kind=str,
        choices={
            "l2": "g <- g + lambda*theta before the moments: torch.optim.Adam",
            "decoupled": "theta <- theta - lr*lambda*theta before the update, "
            "on every trainable variable: any Keras optimizer with "
            "weight_decay (and torch AdamW)",
        },
        source="torch/optim/adam.py L416-428; keras/src/optimizers/"
        "base_optimizer.py L586-594, L952-959",
        scope=(
            _decay_mode_matters,
            "Adam with a weight decay above 0 on some side",
        ),
        why="torch Adam's L2 term is divided by sqrt(v) like the gradient, so "
        "it decays weights with small gradients far more than Keras's "
        "decoupled step; keras Adam(weight_decay=x) matches torch AdamW, not "
        "torch Adam (PUBLIC_CASES R16, R04).",
        how={
            "torch": "Adam(weight_decay) for l2; decoupled is torch's own "
            "Adam(decoupled_weight_decay=True), that is AdamW",
            "keras": "Adam(weight_decay) for decoupled; l2 is an Adam subclass "
            "adding lambda*theta to each gradient in update_step (after "
            "clipping, as in torch)",
        },
    ),
    Factor(
        name="optimizer.adamw.weight_decay",
        description="AdamW's decoupled weight decay coefficient",
        defaults={"torch": 0.01, "keras": 0.004},
        kind=float,
        rule=(_nonnegative, "must be a non-negative float"),
        source="torch/optim/adamw.py L20-49 (weight_decay=1e-2); "
        "keras/src/optimizers/adamw.py L53-70 (weight_decay=0.004)",
        scope=(_optimizer("adamw"), "train.optimizer = 'adamw'"),
        why="The same 'AdamW with defaults' decays 2.5 times harder in torch.",
        how={
            "torch": "AdamW(weight_decay=...)",
            "keras": "AdamW(weight_decay=...)",
        },
    ),
    # TODO(#3): Keras's RMSprop and Adadelta also square an IndexedSlices
    # gradient per occurrence (keras/src/optimizers/rmsprop.py L130,
    # adadelta.py L103); this factor covers Adam and AdamW only.
    Factor(
        name="optimizer.sparse_moments",
        description="how Adam's second moment takes an embedding table's "
        "gradient when a token repeats in a batch: the square of the summed "
        "gradient (torch) or the sum of each occurrence's square (Keras)",
        defaults={"torch": "summed", "keras": "per_occurrence"},
        kind=str,
        choices={
            "summed": "v takes (sum of the occurrences' gradients)^2: "
            "torch's dense embedding gradient",
            "per_occurrence": "v takes the sum of the occurrences' squared "
            "gradients: Keras's tf.IndexedSlices gradient, squared slice by "
            "slice",
        },
        source="torch/nn/modules/sparse.py L142, L188-197 (sparse=False: a "
        "dense weight.grad, repeats summed); keras/src/optimizers/adam.py "
        "L102-127 (ops.square(gradient) at L125) and keras/src/backend/"
        "tensorflow/sparse.py L348-387 (elementwise_unary squares an "
        "IndexedSlices' values, one per occurrence)",
        scope=(
            lambda pair: _has("embedding")(pair) and _ADAM_FAMILY[0](pair),
            "models with an embedding layer, trained with Adam or AdamW",
        ),
        why="A token that appears several times in a batch gets a smaller "
        "Keras step when its occurrences' gradients disagree in sign (their "
        "squares add, their sum cancels), so frequent tokens move less in "
        "Keras.",
        how={
            "torch": "torch.optim.Adam's own square for summed; per_occurrence "
            "records each occurrence's gradient on the embedding's output "
            "(a tensor hook) and an Adam written out as a torch.optim."
            "Optimizer squares those",
            "keras": "keras.optimizers.Adam's own for per_occurrence; summed "
            "densifies the IndexedSlices (repeats summed) in update_step "
            "before Adam's own update",
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
            "batches": "batches cut once from the stored order, only their "
            "order reshuffled each epoch: tf.data .batch(b).shuffle(n) fed to "
            "fit (PUBLIC_CASES N12)",
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
            "whose sampler is one torch.randperm drawn from that generator, "
            "batches by a batch_sampler permuting fixed batches each epoch",
            "keras": "fit(shuffle=False) and, after set_random_seed, "
            "fit(shuffle=True), genuine; every_epoch is emulated by one "
            "fit(epochs=1, shuffle=False) per epoch on arrays permuted by a "
            "NumPy Generator seeded with the trial's seed; batches is fit on "
            "tf.data's own .batch(b).shuffle(n_batches).repeat(), genuine",
        },
    ),
    Factor(
        name="train.drop_last",
        description="whether each epoch drops its last, incomplete batch",
        defaults={"torch": False, "keras": False},
        kind=bool,
        source="torch/utils/data/dataloader.py L255-275 (drop_last=False); "
        "keras/src/trainers/data_adapters/array_data_adapter.py L92, L169-174 "
        "(fit keeps the partial batch and has no option to drop it)",
        why="torch code often sets drop_last=True (BatchNorm refuses a batch of "
        "one); Keras always trains on the remainder, a small, noisy batch with "
        "a full-size step.",
        how={
            "torch": "DataLoader(drop_last=...)",
            "keras": "False is fit's own batching; True is emulated by fitting "
            "on the epoch's (shuffled) arrays cut to whole batches, with the "
            "order drawn by the backend: one permutation for 'repeated', a "
            "fresh one per epoch for 'every_epoch'",
        },
    ),
    Factor(
        name="train.validation_rows",
        description="which training rows `train.validation_split` holds out "
        "(they are not trained on)",
        defaults={"torch": "random", "keras": "tail"},
        kind=str,
        choices={
            "random": "a random subset: torch.utils.data.random_split(data, "
            "[k, n - k]) with a generator seeded with the trial's seed, the "
            "PyTorch idiom",
            "tail": "the last rows of the arrays as given, before any "
            "shuffling: Keras fit(validation_split=v)",
        },
        source="keras/src/trainers/data_adapters/array_slicing.py L461-520 "
        "(train_validation_split: split_at = floor(n * (1 - v)), the last "
        "n - split_at rows validate), called by keras/src/backend/tensorflow/"
        "trainer.py L342-350 before the epoch iterator shuffles; torch has no "
        "validation_split: the idiom is torch/utils/data/dataset.py L449-510 "
        "(random_split: one randperm of the generator, cut in order)",
        scope=(
            lambda pair: pair.spec.train.validation_split > 0,
            "a train.validation_split above 0",
        ),
        why="On data stored sorted by class (sklearn's load_wine and "
        "load_iris) Keras's held-out tail is mostly one class, which the "
        "Keras model then barely trains on (PUBLIC_CASES R21).",
        how={
            "torch": "random_split on the prepared training set, with its own "
            "torch.Generator seeded with the trial's seed, lengths [k, n - k], "
            "k = floor(n * (1 - v)); tail keeps the first k rows, the rows "
            "Keras's train_validation_split keeps",
            "keras": "Keras's own train_validation_split on the prepared "
            "arrays, the function fit(validation_split) calls, before fit; "
            "random takes the rows random_split keeps, in its order, drawing "
            "the permutation with torch.randperm on a torch.Generator seeded "
            "with the trial's seed (no Keras component draws it)",
        },
    ),
    Factor(
        name="train.clip_norm",
        description="gradient-norm clipping threshold (0 = no clipping, "
        "both frameworks' default)",
        defaults={"torch": 0.0, "keras": 0.0},
        kind=float,
        rule=(_nonnegative, "must be a non-negative float"),
        source="torch/nn/utils/clip_grad.py L185-233; keras/src/optimizers/"
        "base_optimizer.py L130-138",
        how={
            "torch": "clip_grad_norm_ between backward() and step()",
            "keras": "the optimizer's clipnorm / global_clipnorm",
        },
    ),
    Factor(
        name="train.clip_scope",
        description="what gradient-norm clipping measures: all gradients at "
        "once, or each variable's own",
        defaults={"torch": "global", "keras": "per_variable"},
        kind=str,
        choices={
            "global": "scale every gradient by min(1, c / ||all gradients||): "
            "torch's clip_grad_norm_, Keras's global_clipnorm",
            "per_variable": "scale each variable's gradient by min(1, c / "
            "||its gradient||): Keras's clipnorm",
        },
        source="torch/nn/utils/clip_grad.py L164-168 (coefficient max_norm / "
        "(total + 1e-6)); keras/src/optimizers/base_optimizer.py L870-881, "
        "L1108-1119, L1133-1138, L1181-1197",
        scope=(
            _some_side("train.clip_norm", lambda v: v > 0),
            "a clipping threshold above 0 on some side",
        ),
        why="Keras's clipnorm, the option people reach for, clips each "
        "variable on its own: the update's direction changes, and small "
        "variables are clipped less than under a global norm (PUBLIC_CASES "
        "R15).",
        how={
            "torch": "clip_grad_norm_(all parameters) for global; per_variable "
            "scales each gradient by c / max(||g||, c), tf.clip_by_norm's "
            "formula",
            "keras": "clipnorm for per_variable; global_clipnorm for global "
            "(Keras divides by the norm without torch's + 1e-6)",
        },
    ),
    # -- optimisers beyond Adam: SGD, RMSprop, Adadelta (issue 3) --
    Factor(
        name="optimizer.sgd.learning_rate",
        description="SGD's step size",
        defaults={"torch": 1e-3, "keras": 1e-2},
        kind=float,
        rule=(_positive, "must be a positive float"),
        source="torch/optim/sgd.py L29-42 (lr=1e-3); keras/src/optimizers/"
        "sgd.py L43-59 (learning_rate=0.01)",
        scope=(_optimizer("sgd"), "train.optimizer = 'sgd'"),
        why="A 'default SGD' takes steps ten times larger in Keras; torch's "
        "lr had no default before 2.x, so ports copy whichever number they see.",
        how={
            "torch": "torch.optim.SGD(lr=...)",
            "keras": "keras.optimizers.SGD(learning_rate=...)",
        },
    ),
    Factor(
        name="optimizer.sgd.momentum",
        description="SGD's momentum coefficient (0 = plain SGD in both)",
        defaults={"torch": 0.0, "keras": 0.0},
        kind=float,
        rule=(_unit_open, "must be a float in [0, 1)"),
        source="torch/optim/sgd.py L29-42 and L359-379 (buf = mu*buf + g, "
        "p -= lr*buf); keras/src/optimizers/sgd.py L43-59 and L95-123 "
        "(v = mu*v - lr*g, p += v)",
        scope=(_optimizer("sgd"), "train.optimizer = 'sgd'"),
        why="The two momentum forms differ only in where the learning rate "
        "enters (torch: outside the buffer, Keras: inside); at a constant "
        "learning rate they take identical steps (the tests check), so a gap "
        "comes from the coefficient, not the form.",
        how={
            "torch": "torch.optim.SGD(momentum=...)",
            "keras": "keras.optimizers.SGD(momentum=...)",
        },
    ),
    Factor(
        name="optimizer.sgd.nesterov",
        description="whether SGD's momentum is Nesterov's",
        defaults={"torch": False, "keras": False},
        kind=bool,
        source="torch/optim/sgd.py L36, L366-367 (g + mu*buf); "
        "keras/src/optimizers/sgd.py L47, L111-119 (p += mu*v - lr*g)",
        scope=(
            lambda pair: (
                _optimizer("sgd")(pair)
                and _some_side("optimizer.sgd.momentum", lambda v: v > 0)(pair)
            ),
            "SGD with a momentum above 0 on some side",
        ),
        how={
            "torch": "torch.optim.SGD(nesterov=...)",
            "keras": "keras.optimizers.SGD(nesterov=...)",
        },
    ),
    Factor(
        name="optimizer.rmsprop.learning_rate",
        description="RMSprop's step size",
        defaults={"torch": 1e-2, "keras": 1e-3},
        kind=float,
        rule=(_positive, "must be a positive float"),
        source="torch/optim/rmsprop.py L29-42 (lr=1e-2); keras/src/optimizers/"
        "rmsprop.py L53-58 (learning_rate=0.001)",
        scope=(_optimizer("rmsprop"), "train.optimizer = 'rmsprop'"),
        why="'Default RMSprop' steps ten times larger in torch.",
        how={
            "torch": "torch.optim.RMSprop(lr=...)",
            "keras": "keras.optimizers.RMSprop(learning_rate=...)",
        },
    ),
    Factor(
        name="optimizer.rmsprop.rho",
        description="decay of RMSprop's average of squared gradients (torch's alpha)",
        defaults={"torch": 0.99, "keras": 0.9},
        kind=float,
        rule=(_unit_open, "must be a float in [0, 1)"),
        source="torch/optim/rmsprop.py L35 (alpha=0.99); keras/src/optimizers/"
        "rmsprop.py L56 (rho=0.9)",
        scope=(_optimizer("rmsprop"), "train.optimizer = 'rmsprop'"),
        why="torch averages over about 100 steps, Keras over about 10: "
        "Keras's step size follows recent gradients far more closely "
        "(PUBLIC_CASES R03).",
        how={
            "torch": "torch.optim.RMSprop(alpha=...)",
            "keras": "keras.optimizers.RMSprop(rho=...)",
        },
    ),
    Factor(
        name="optimizer.rmsprop.epsilon",
        description="RMSprop's epsilon value",
        defaults={"torch": 1e-8, "keras": 1e-7},
        kind=float,
        rule=(_positive, "must be a positive float"),
        source="torch/optim/rmsprop.py L36 (eps=1e-8); keras/src/optimizers/"
        "rmsprop.py L58 (epsilon=1e-7)",
        scope=(_optimizer("rmsprop"), "train.optimizer = 'rmsprop'"),
        how={
            "torch": "torch.optim.RMSprop(eps=...)",
            "keras": "keras.optimizers.RMSprop(epsilon=...)",
        },
    ),
    Factor(
        name="optimizer.rmsprop.epsilon_placement",
        description="where RMSprop adds epsilon: to sqrt(v) (torch) or to v "
        "under the square root (Keras)",
        defaults={"torch": "outside", "keras": "inside"},
        kind=str,
        choices={
            "outside": "p -= lr * g / (sqrt(v) + eps): torch.optim.RMSprop "
            "(centered: sqrt(v - avg^2) + eps)",
            "inside": "p -= lr * g / sqrt(v + eps): keras.optimizers.RMSprop "
            "(centered: sqrt(v - avg^2 + eps))",
        },
        source="torch/optim/rmsprop.py L319-330 (avg = sqrt(square_avg), then "
        "avg.add_(eps)); keras/src/optimizers/rmsprop.py L136-146 "
        "(ops.sqrt(velocity + epsilon))",
        scope=(_optimizer("rmsprop"), "train.optimizer = 'rmsprop'"),
        why="With a recipe's large epsilon (1e-3 to 1, Inception and "
        "EfficientNet) Keras's sqrt(eps) floor is far larger than torch's "
        "eps: 0.03 against 0.001 at eps = 1e-3 (PUBLIC_CASES R03).",
        how={
            "torch": "torch.optim.RMSprop for outside; inside is KerasRMSprop, "
            "keras/src/optimizers/rmsprop.py's update as a torch.optim."
            "Optimizer",
            "keras": "keras.optimizers.RMSprop for inside; outside is "
            "TorchRMSprop, a subclass whose update_step is torch's",
        },
    ),
    Factor(
        name="optimizer.rmsprop.momentum",
        description="RMSprop's momentum coefficient (0 = none in both)",
        defaults={"torch": 0.0, "keras": 0.0},
        kind=float,
        rule=(_unit_open, "must be a float in [0, 1)"),
        source="torch/optim/rmsprop.py L38, L332-337 (buf = mu*buf + g/avg, "
        "p -= lr*buf); keras/src/optimizers/rmsprop.py L57, L147-152 "
        "(m = mu*m + lr*g/denominator, p -= m)",
        scope=(_optimizer("rmsprop"), "train.optimizer = 'rmsprop'"),
        why="Keras folds the learning rate into the momentum buffer; at a "
        "constant learning rate that takes the same steps as torch's form.",
        how={
            "torch": "RMSprop(momentum=...) (or KerasRMSprop's buffer)",
            "keras": "RMSprop(momentum=...) (or TorchRMSprop's buffer)",
        },
    ),
    Factor(
        name="optimizer.rmsprop.centered",
        description="whether RMSprop divides by the gradient's variance "
        "(centred) rather than its raw second moment",
        defaults={"torch": False, "keras": False},
        kind=bool,
        source="torch/optim/rmsprop.py L39, L321-325; keras/src/optimizers/"
        "rmsprop.py L59, L132-143",
        scope=(_optimizer("rmsprop"), "train.optimizer = 'rmsprop'"),
        how={
            "torch": "torch.optim.RMSprop(centered=...) (or KerasRMSprop's)",
            "keras": "keras.optimizers.RMSprop(centered=...) (or TorchRMSprop's)",
        },
    ),
    Factor(
        name="optimizer.adadelta.learning_rate",
        description="Adadelta's step multiplier",
        defaults={"torch": 1.0, "keras": 1e-3},
        kind=float,
        rule=(_positive, "must be a positive float"),
        source="torch/optim/adadelta.py L29-35 (lr=1.0); keras/src/optimizers/"
        "adadelta.py L40-44 (learning_rate=0.001; standalone Keras 2 had 1.0)",
        scope=(_optimizer("adadelta"), "train.optimizer = 'adadelta'"),
        why="Adadelta was designed to need no learning rate (1.0); tf.keras "
        "2.0 changed its default to 0.001, so 'default Adadelta' barely "
        "moves in Keras (PUBLIC_CASES N08).",
        how={
            "torch": "torch.optim.Adadelta(lr=...)",
            "keras": "keras.optimizers.Adadelta(learning_rate=...)",
        },
    ),
    Factor(
        name="optimizer.adadelta.rho",
        description="decay of Adadelta's running averages",
        defaults={"torch": 0.9, "keras": 0.95},
        kind=float,
        rule=(_unit_open, "must be a float in [0, 1)"),
        source="torch/optim/adadelta.py L33 (rho=0.9); keras/src/optimizers/"
        "adadelta.py L43 (rho=0.95)",
        scope=(_optimizer("adadelta"), "train.optimizer = 'adadelta'"),
        how={
            "torch": "torch.optim.Adadelta(rho=...)",
            "keras": "keras.optimizers.Adadelta(rho=...)",
        },
    ),
    Factor(
        name="optimizer.adadelta.epsilon",
        description="Adadelta's epsilon, which also sets its first step size",
        defaults={"torch": 1e-6, "keras": 1e-7},
        kind=float,
        rule=(_positive, "must be a positive float"),
        source="torch/optim/adadelta.py L34, L292-302 (sqrt(acc + eps)); "
        "keras/src/optimizers/adadelta.py L44, L84-119 (the same formula)",
        scope=(_optimizer("adadelta"), "train.optimizer = 'adadelta'"),
        why="The first steps are about lr * sqrt(eps / (1 - rho)): with all "
        "three defaults torch's first step is about 2000 times Keras's "
        "(PUBLIC_CASES N08).",
        how={
            "torch": "torch.optim.Adadelta(eps=...)",
            "keras": "keras.optimizers.Adadelta(epsilon=...)",
        },
    ),
)
