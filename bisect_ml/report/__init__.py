"""Reports rendered from a `Verdict`: Markdown for people, JSON for machines,
self-contained HTML with plots, the repro bundle, and the lossless state a
stored run is rendered from again."""

from bisect_ml.report._bundle import write_bundle
from bisect_ml.report._html import to_html
from bisect_ml.report._json import SCHEMA_VERSION, to_json, verdict_dict
from bisect_ml.report._markdown import to_markdown
from bisect_ml.report._state import verdict_from_state, verdict_state

__all__ = [
    "SCHEMA_VERSION",
    "to_html",
    "to_json",
    "to_markdown",
    "verdict_dict",
    "verdict_from_state",
    "verdict_state",
    "write_bundle",
]
