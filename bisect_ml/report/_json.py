"""The JSON report: a machine-checkable rendering of a `Verdict`.

Schema (version 1), every number from the verdict, ``null`` where undefined.
Keys are only ever added within a version; a key removed or re-shaped bumps it.

- ``schema``: 1; ``pair``; ``status`` (explained | residual | no_gap |
  inconclusive); ``exit_code``; ``stop_reason``; ``stop_summary`` (which
  decisions, if any, stopped at the seed cap or the budget); ``strategy``
- ``gap``: ``estimate`` (mean torch - mean keras), ``ci`` [low, high],
  ``interval`` (its method), ``pvalue``, ``test``, ``pvalue_rank``,
  ``rank_test``, ``means`` {torch, keras}, ``n`` {torch, keras}, ``diverged``
  {torch, keras}, ``by_epoch`` [...]
- ``power``: null, or the seed noise and power {``noise`` {torch: {sd, ci, n}, ...},
  ``seeds`` {torch, keras}, ``alpha``, ``power``, ``detectable_gap``,
  ``detectable_gap_at_cap``, ``below_detectable``, ``seeds_needed``,
  ``paired_variance_ratio``, ``paired_comparisons``, ``detectable_share``,
  ``gap_found`` (whether the gap test decided a gap)}
- ``causes``, ``offsetting``, ``ruled_out`` (share interval inside +-margin)
  and ``inconclusive`` (neither significant nor negligible): lists of {``factor``,
  ``values`` {torch, keras}, ``is_default`` {torch, keras}, ``share``
  {estimate, ci, method, n}, ``share_by_side`` {torch: {...}, keras: ...},
  ``pvalue``, ``pvalue_adjusted`` (Holm), ``seeds``, ``stop``,
  ``effects`` {torch: {estimate, ci, pvalue, test}, keras: ...},
  ``share_by_epoch`` [...]}
- ``interactions``: [{``factors`` [a, b], ``effect`` (share-like, {estimate,
  ci, method, n}), ``excess`` {torch: {...}, keras: {...}}, ``pvalue``,
  ``pvalue_adjusted``, ``seeds``, ``significant``}]
- ``closure``: null, or {``status``, ``margin``, ``share``, ``residual``
  (with ``ci90``, the interval the equivalence decision uses), ``interaction``
  (each {estimate, ci, method, n}), ``equivalence`` {torch: {effect, margin,
  pvalue}, ...}, ``difference`` {torch: {effect, pvalue, test}, ...}}
- ``decisions``: [{``subject``, ``kind``, ``outcome``, ``stop``, ``seeds``,
  ``looks``, ``z``, ``pvalue``, ``alpha``, ``arms``}]: every sequential
  decision, in order, and why it stopped taking seeds
- ``arms``: [{label, base, swap, backend, seeds, values, mean, diverged,
  failed (those of the diverged whose worker died on every attempt), n, stop,
  decided_by}]
- ``warnings``: [{``code``, ``factor``, ``side``, ``key``, ``message``}]: the
  known porting traps the scenario shows (`bisect-ml diff`'s warnings), found
  before training; empty when there are none
- ``candidates``, ``seeds`` (the first-look seeds), ``settings`` (among
  them ``seeds_per_arm``, ``max_seeds`` and ``looks``: the seeds used, fixed
  or adaptive), ``tests``, ``notes``, ``versions``, ``trials`` {run, cached},
  ``seconds`` {wall, training}
"""

from __future__ import annotations

import json
import math
from typing import Any

from bisect_ml.report._markdown import warnings_of
from bisect_ml.stats import Ratio
from bisect_ml.verdict import Cause, Interaction, Power, Verdict

__all__ = ["SCHEMA_VERSION", "to_json", "verdict_dict"]

SCHEMA_VERSION = 1


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _ratio(r: Ratio) -> dict[str, Any]:
    return {
        "estimate": _num(r.estimate),
        "ci": [_num(r.low), _num(r.high)],
        "method": r.method,
        "n": r.n,
    }


def _power(p: Power | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "noise": {
            fw: {"sd": _num(n.sd), "ci": [_num(n.low), _num(n.high)], "n": n.n}
            for fw, n in p.noise.items()
        },
        "seeds": dict(p.seeds),
        "alpha": p.alpha,
        "power": p.power,
        "detectable_gap": _num(p.detectable_gap),
        "detectable_gap_at_cap": _num(p.detectable_gap_at_cap),
        "below_detectable": p.below_detectable,
        "seeds_needed": p.seeds_needed,
        "paired_variance_ratio": _num(p.paired_variance_ratio),
        "paired_comparisons": p.paired_comparisons,
        "detectable_share": _num(p.detectable_share),
        "gap_found": p.gap_found,
    }


def _interaction(i: Interaction) -> dict[str, Any]:
    return {
        "factors": list(i.factors),
        "effect": _ratio(i.effect),
        "excess": {fw: _ratio(r) for fw, r in i.excess.items()},
        "pvalue": i.pvalue,
        "pvalue_adjusted": i.pvalue_adjusted,
        "seeds": i.seeds,
        "significant": i.significant,
    }


def _cause(c: Cause) -> dict[str, Any]:
    return {
        "factor": c.factor,
        "values": c.values,
        "is_default": c.is_default,
        "share": _ratio(c.share),
        "share_by_side": {fw: _ratio(r) for fw, r in c.share_by_side.items()},
        "pvalue": c.pvalue,
        "pvalue_adjusted": c.pvalue_adjusted,
        "seeds": c.seeds,
        "stop": c.stop,
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
        "stop_summary": v.stop_summary,
        "strategy": v.strategy,
        "gap": {
            "estimate": g.effect,
            "ci": [_num(x) for x in g.confidence_interval()],
            "interval": g.interval,
            "pvalue": g.pvalue,
            "test": g.test,
            "pvalue_rank": g.pvalue_rank,
            "rank_test": g.rank_test,
            "means": means,
            "n": {"torch": g.n[1], "keras": g.n[0]},
            "diverged": {"torch": g.diverged[1], "keras": g.diverged[0]},
            "by_epoch": [_num(x) for x in v.gap_by_epoch],
        },
        "power": _power(v.power),
        "causes": [_cause(c) for c in v.found],
        "offsetting": [_cause(c) for c in v.offsetting],
        "ruled_out": [_cause(c) for c in v.ruled_out],
        "inconclusive": [_cause(c) for c in v.inconclusive],
        "interactions": [_interaction(i) for i in v.interactions],
        "closure": closure,
        "decisions": [
            {
                "subject": d.subject,
                "kind": d.kind,
                "outcome": d.outcome,
                "stop": d.stop.value,
                "seeds": d.seeds,
                "looks": list(d.looks),
                "z": _num(d.z),
                "pvalue": _num(d.pvalue),
                "alpha": d.alpha,
                "arms": list(d.arms),
            }
            for d in v.decisions
        ],
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
                "failed": a.failed,
                "n": a.n,
                "stop": a.stop,
                "decided_by": a.decided_by,
            }
            for a in v.arms
        ],
        "candidates": list(v.candidates),
        "seeds": list(v.seeds),
        "settings": {k: x for k, x in v.settings.items() if k != "warnings"},
        "warnings": warnings_of(v),
        "tests": list(v.tests),
        "notes": list(v.notes),
        "versions": v.versions,
        "trials": {"run": v.trials_run, "cached": v.trials_cached},
        "seconds": {"wall": v.wall_seconds, "training": v.train_seconds},
    }


def to_json(v: Verdict) -> str:
    return json.dumps(verdict_dict(v), indent=2, sort_keys=False)
