"""Scenario files: the neutral spec, its validation, and the data it names."""

from bisect_ml.scenario._data import (
    Dataset,
    check_model_fits,
    load_data,
    validation_cut,
)
from bisect_ml.scenario._load import (
    BUNDLED,
    bundled_scenarios,
    load_pair,
    parse_pair,
    resolve_scenario,
)
from bisect_ml.scenario._spec import (
    DataSpec,
    Effect,
    LayerSpec,
    Pair,
    Side,
    Simulation,
    Spec,
    TrainSpec,
    canonical_json,
    content_hash,
)

__all__ = [
    "BUNDLED",
    "DataSpec",
    "Dataset",
    "Effect",
    "LayerSpec",
    "Pair",
    "Side",
    "Simulation",
    "Spec",
    "TrainSpec",
    "bundled_scenarios",
    "canonical_json",
    "check_model_fits",
    "content_hash",
    "load_data",
    "load_pair",
    "parse_pair",
    "resolve_scenario",
    "validation_cut",
]
