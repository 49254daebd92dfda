"""The JSON report: a machine-checkable rendering of a `Verdict`.

Schema (version 1), every number from the verdict, ``null`` where undefined:

- ``schema``: 1; ``pair``; ``status`` (explained | residual | no_gap);
  ``exit_code``; ``stop_reason``; ``strategy``
- ``gap``: ``estimate`` (mean torch - mean keras), ``ci`` [low, high],
  ``pvalue``, ``test``, ``pvalue_rank``, ``rank_test``, ``means`` {torch, keras},
  ``n`` {torch, keras}, ``diverged`` {torch, keras}, ``by_epoch`` [...]
- ``causes``, ``offsetting`` and ``ruled_out``: lists of {``factor``,
  ``values`` {torch, keras}, ``is_default`` {torch, keras}, ``share``
  {estimate, ci}, ``share_by_side`` {torch: {estimate, ci}, keras: ...},
  ``pvalue``, ``pvalue_adjusted``,
  ``effects`` {torch: {estimate, ci, pvalue, test}, keras: ...},
  ``share_by_epoch`` [...]}
- ``closure``: null, or {``status``, ``margin``, ``share``, ``residual``
  (with ``ci90``, the interval the equivalence decision uses), ``interaction``
  (each {estimate, ci}), ``equivalence`` {torch: {effect, margin, pvalue}, ...},
  ``difference`` {torch: {effect, pvalue, test}, ...}}
- ``arms``: [{label, base, swap, backend, seeds, values, mean, diverged}]
- ``candidates``, ``seeds``, ``settings``, ``tests``, ``notes``, ``versions``,
  ``trials`` {run, cached}, ``seconds`` {wall, training}
"""

from __future__ import annotations

import json
import math
from typing import Any

from bisect_ml.stats import Ratio
from bisect_ml.verdict import Cause, Verdict

__all__ = ["SCHEMA_VERSION", "to_json", "verdict_dict"]

SCHEMA_VERSION = 1


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _ratio(r: Ratio) -> dict[str, Any]:
    return {"estimate": _num(r.estimate), "ci": [_num(r.low), _num(r.high)]}


def _cause(c: Cause) -> dict[str, Any]:
    return {
        "factor": c.factor,
        "values": c.values,
        "is_default": c.is_default,
        "share": _ratio(c.share),
        "share_by_side": {fw: _ratio(r) for fw, r in c.share_by_side.items()},
        "pvalue": c.pvalue,
        "pvalue_adjusted": c.pvalue_adjusted,
        "effects": {
            fw: {
                "estimate": cmp.effect,
                "ci": [_num(v) for v in cmp.confidence_interval()],
                "pvalue": cmp.pvalue,
                "test": cmp.test,
            }
            for fw, cmp in c.comparisons.items()
        },
        "share_by_epoch": [_num(v) for v in c.share_by_epoch],
    }


def verdict_dict(v: Verdict) -> dict[str, Any]:
    """The verdict as JSON-ready data, following the schema above."""
    g = v.gap
    closure = None
    if v.closure is not None:
        cl = v.closure
        res = cl.residual
        closure = {
            "status": cl.status,
            "share": _ratio(cl.share),
            "residual": {
                "estimate": _num(res[0]),
                "ci": [_num(res[1]), _num(res[2])],
                "ci90": [_num(x) for x in cl.residual_90],
            },
            "margin": cl.margin,
            "interaction": _ratio(cl.interaction),
            "equivalence": {
                fw: {"effect": e.effect, "margin": e.margin, "pvalue": e.pvalue}
                for fw, e in cl.equivalence.items()
            },
            "difference": {
                fw: {"effect": d.effect, "pvalue": d.pvalue, "test": d.test}
                for fw, d in cl.difference.items()
            },
        }
    means = {
        "torch": float(sum(g.b) / len(g.b)) if not g.diverged[1] else None,
        "keras": float(sum(g.a) / len(g.a)) if not g.diverged[0] else None,
    }
    return {
        "schema": SCHEMA_VERSION,
        "pair": v.pair,
        "status": v.status.value,
        "exit_code": v.status.exit_code,
        "stop_reason": v.stop_reason.value,
        "strategy": v.strategy,
        "gap": {
            "estimate": g.effect,
            "ci": [_num(x) for x in g.confidence_interval()],
            "pvalue": g.pvalue,
            "test": g.test,
            "pvalue_rank": g.pvalue_rank,
            "rank_test": g.rank_test,
            "means": means,
            "n": {"torch": g.n[1], "keras": g.n[0]},
            "diverged": {"torch": g.diverged[1], "keras": g.diverged[0]},
            "by_epoch": [_num(x) for x in v.gap_by_epoch],
        },
        "causes": [_cause(c) for c in v.found],
        "offsetting": [_cause(c) for c in v.offsetting],
        "ruled_out": [_cause(c) for c in v.ruled_out],
        "closure": closure,
        "arms": [
            {
                "label": a.label,
                "base": a.base,
                "swap": list(a.swap),
                "backend": a.backend,
                "seeds": list(a.seeds),
                "values": [_num(x) for x in a.values],
                "mean": _num(a.mean),
                "diverged": a.diverged,
            }
            for a in v.arms
        ],
        "candidates": list(v.candidates),
        "seeds": list(v.seeds),
        "settings": v.settings,
        "tests": list(v.tests),
        "notes": list(v.notes),
        "versions": v.versions,
        "trials": {"run": v.trials_run, "cached": v.trials_cached},
        "seconds": {"wall": v.wall_seconds, "training": v.train_seconds},
    }


def to_json(v: Verdict) -> str:
    return json.dumps(verdict_dict(v), indent=2, sort_keys=False)
