"""Reports rendered from a `Verdict`: Markdown for people, JSON for machines."""

from bisect_ml.report._json import SCHEMA_VERSION, to_json, verdict_dict
from bisect_ml.report._markdown import to_markdown

__all__ = ["SCHEMA_VERSION", "to_json", "to_markdown", "verdict_dict"]
