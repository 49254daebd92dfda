"""Layer stacks in scenario files: validation, geometry and factor scopes.

No framework is imported: this is the loader's and the catalogue's arithmetic.
"""

from __future__ import annotations

import pytest

from bisect_ml._errors import ScenarioError
from bisect_ml.scenario import LayerSpec, Spec, parse_pair
from bisect_ml.scenario._geometry import (
    Shape,
    input_layout,
    layer_shapes,
    same_padding,
    symmetric_padding,
)
from tests._helpers import scenario_doc


def _doc(layers: list[dict], **data: object) -> dict:
    doc = scenario_doc()
    doc["model"]["layers"] = layers
    doc["data"] = {"dataset": "digits", **data}
    return doc


CONV = {"type": "conv2d", "filters": 4, "kernel_size": 3}
HEAD = [{"type": "flatten"}, {"type": "dense", "units": 10}]

BAD = [
    (
        [{**CONV, "padding": "same", "kernel_size": 2}, *HEAD],
        r"`model.layers\[0\].kernel_size` must be odd with padding 'same'",
    ),
    (
        [CONV, {"type": "dense", "units": 10}],
        r"`model.layers\[1\]` \(dense\) needs flat features: add a flatten",
    ),
    (
        [{"type": "dense", "units": 8}, CONV, *HEAD],
        r"`model.layers\[1\]` \(conv2d\) needs an image input",
    ),
    (
        [{**CONV, "kernel": 3}, *HEAD],
        r"`model.layers\[0\].kernel` is not a known key.*did you mean `kernel_size`",
    ),
    (
        [{"type": "conv2d", "filters": 4}, *HEAD],
        r"`model.layers\[0\].kernel_size` is required",
    ),
    (
        [{"type": "dense", "units": 8}, {"type": "embedding", "units": 4}, *HEAD],
        r"`model.layers\[1\]` \(embedding\) must be the first layer",
    ),
    ([CONV, {"type": "flatten"}], r"`model.layers\[1\].type` must be 'dense'"),
    (
        [{**CONV, "strides": 2}] * 4 + HEAD,
        r"`model.layers\[2\]` leaves no output: a 3x3 window .* on a 1x1 input",
    ),
    (
        [{**CONV, "strides": 2, "dilation": 2}, *HEAD],
        r"`model.layers\[0\].dilation` must be 1 when `strides` is above 1",
    ),
    (
        [{"type": "gru", "units": 8, "return_sequences": True}, HEAD[1]],
        r"end the recurrent stack with return_sequences = false",
    ),
    (
        [{"type": "dropout", "rate": 1.5}, HEAD[1]],
        r"`model.layers\[0\].rate` must be a float in \(0, 1\)",
    ),
    ([{"type": "lstm"}, HEAD[1]], r"`model.layers\[0\].units` is required"),
    ([{"units": 3}], r"`model.layers\[0\].type` is required"),
]


@pytest.mark.parametrize(("layers", "message"), BAD)
def test_each_layer_rule_names_the_layer(layers: list[dict], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_pair(_doc(layers), "case.toml")


def test_image_layers_need_image_data() -> None:
    doc = _doc([CONV, *HEAD])
    doc["data"] = {"dataset": "wine"}
    with pytest.raises(ScenarioError, match=r"needs image data \(dataset 'digits'\)"):
        parse_pair(doc)


def test_every_layer_type_loads() -> None:
    cnn = [
        {**CONV, "strides": 2, "padding": "same", "activation": "relu"},
        {"type": "batch_norm"},
        {"type": "max_pool2d", "pool_size": 3, "strides": 1, "padding": "same"},
        {"type": "avg_pool2d", "pool_size": 2},
        {"type": "dropout", "rate": 0.25},
        {"type": "flatten"},
        {"type": "layer_norm"},
        {"type": "dense", "units": 10},
    ]
    layers = parse_pair(_doc(cnn)).spec.layers
    assert layers[0] == LayerSpec(
        "conv2d", None, "relu", 4, 3, 2, "same", 1, None, None, None
    )
    assert layers[3].stride == 2 and layers[2].stride == 1
    recurrent = [
        {"type": "embedding", "units": 8},
        {"type": "lstm", "units": 6, "return_sequences": True},
        {"type": "gru", "units": 4},
        {"type": "dense", "units": 10},
    ]
    assert parse_pair(_doc(recurrent)).spec.layers[2].return_sequences is False


def test_dense_layers_hash_as_before() -> None:
    # Stored trials of dense pairs stay valid: unset fields are left out.
    assert LayerSpec("dense", 8, "relu").to_dict() == {
        "type": "dense",
        "units": 8,
        "activation": "relu",
    }
    spec = parse_pair(scenario_doc()).spec
    assert spec.to_dict()["layers"][0] == {
        "type": "dense",
        "units": 16,
        "activation": "relu",
    }
    assert isinstance(spec, Spec)


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "dilation", "expected"),
    [
        (32, 3, 2, 1, (0, 1)),  # FRAMEWORK_FACTS section 5
        (33, 3, 2, 1, (1, 1)),
        (8, 3, 1, 1, (1, 1)),
        (8, 3, 1, 2, (2, 2)),
        (8, 4, 1, 1, (1, 2)),  # an even kernel: the odd pixel after
        (8, 1, 2, 1, (0, 0)),
    ],
)
def test_same_padding_is_tensorflows(
    size: int, kernel: int, stride: int, dilation: int, expected: tuple[int, int]
) -> None:
    assert same_padding(size, kernel, stride, dilation) == expected
    before, after = expected
    effective = (kernel - 1) * dilation + 1
    assert (size + before + after - effective) // stride + 1 == -(-size // stride)


def test_symmetric_padding_keeps_the_same_output_size() -> None:
    for size in range(3, 12):
        for stride in (1, 2, 3):
            pad = symmetric_padding(3)
            assert (size + 2 * pad - 3) // stride + 1 == -(-size // stride)


def test_shapes_through_a_stack() -> None:
    layers = (
        LayerSpec("conv2d", filters=4, kernel_size=3, strides=2, padding="same"),
        LayerSpec("max_pool2d", pool_size=2),
        LayerSpec("flatten"),
        LayerSpec("dense", 10),
    )
    assert input_layout(layers) == "image"
    shapes = layer_shapes(layers, Shape("image", (8, 8, 1)))
    assert [s.dims for s in shapes] == [(4, 4, 4), (2, 2, 4), (16,), (10,)]


def _differing(layers: list[dict], torch: dict | None = None) -> list[str]:
    doc = _doc(layers)
    doc["sides"] = {"torch": torch or {}, "keras": {}}
    return parse_pair(doc).differing()


def test_layer_factors_are_candidates_only_where_they_can_matter() -> None:
    dense = _differing([{"type": "dense", "units": 10}])
    assert not [name for name in dense if name.split(".")[0] in ("layers", "norm")]
    assert "init.conv.kernel" not in dense and "init.embedding" not in dense

    # Stride 1, odd kernel: both splits are (1, 1); flattening one channel.
    plain = _differing([{**CONV, "filters": 1, "padding": "same"}, *HEAD])
    assert "init.conv.kernel" in plain
    assert "layers.conv.padding_same" not in plain
    assert "layers.flatten.order" not in plain

    strided = _differing([{**CONV, "strides": 2, "padding": "same"}, *HEAD])
    assert {"layers.conv.padding_same", "layers.flatten.order"} <= set(strided)

    pooled = _differing(
        [
            CONV,
            {"type": "avg_pool2d", "pool_size": 3, "strides": 2, "padding": "same"},
            {"type": "batch_norm"},
            *HEAD,
        ]
    )
    assert {
        "layers.pool.padding_same",
        "layers.pool.count_include_pad",
        "norm.batch.momentum",
        "norm.batch.epsilon",
        "norm.batch.running_variance",
    } <= set(pooled)

    tokens = _differing([{"type": "embedding", "units": 4}, *HEAD])
    assert "init.embedding" in tokens and "preprocess.scale" not in tokens


def test_training_factors_need_their_setting() -> None:
    assert "train.clip_scope" not in _differing([{"type": "dense", "units": 10}])
    clipped = _differing(
        [{"type": "dense", "units": 10}], {"train": {"clip_norm": 1.0}}
    )
    assert {"train.clip_norm", "train.clip_scope"} <= set(clipped)
    decayed = _differing(
        [{"type": "dense", "units": 10}], {"optimizer": {"weight_decay": 0.01}}
    )
    assert "optimizer.weight_decay_mode" in decayed
    assert "optimizer.adamw.weight_decay" not in decayed
