"""The Markdown report a person reads."""

from __future__ import annotations

import math

from bisect_ml.stats import Ratio
from bisect_ml.verdict import Cause, Status, Verdict

__all__ = ["to_markdown"]

_HEADLINE = {
    Status.EXPLAINED: "the gap is explained by the causes below",
    Status.RESIDUAL: "the gap is NOT fully explained by catalogued factors",
    Status.NO_GAP: "no significant gap: the sides differ by no more than seed noise "
    "at this budget",
}


def _f(x: float, digits: int = 4) -> str:
    if not math.isfinite(x):
        return "n/a"
    return f"{x:.{digits}g}"


def _pct(r: Ratio) -> str:
    def p(x: float) -> str:
        return f"{x:.0%}" if math.isfinite(x) else "n/a"

    return f"{p(r.estimate)} [{p(r.low)}, {p(r.high)}]"


def _p(x: float) -> str:
    return f"{x:.2g}" if x >= 1e-4 else f"{x:.1e}"


def _value(c: Cause, fw: str) -> str:
    mark = " (default)" if c.is_default[fw] else ""
    return f"`{c.values[fw]}`{mark}"


def _cause_rows(causes: tuple[Cause, ...]) -> list[str]:
    rows = [
        "| factor | torch value | keras value | share of gap [95% CI] | "
        "p (Holm) | seeds |",
        "|---|---|---|---|---|---|",
    ]
    for c in causes:
        n = c.comparisons["torch"].n[0]
        rows.append(
            f"| `{c.factor}` | {_value(c, 'torch')} | {_value(c, 'keras')} | "
            f"{_pct(c.share)} | {_p(c.pvalue_adjusted)} | {n} |"
        )
    return rows


def to_markdown(v: Verdict) -> str:
    """Render ``v`` as a Markdown root-cause report."""
    g = v.gap
    lo, hi = g.confidence_interval()
    metric = v.settings.get("metric", "metric")
    means_t = sum(x for x in g.b if x == x) / max(1, g.n[1] - g.diverged[1])
    means_k = sum(x for x in g.a if x == x) / max(1, g.n[0] - g.diverged[0])
    out = [
        f"# bisect-ml: {v.pair}",
        "",
        f"**Verdict: {_HEADLINE[v.status]}** (status `{v.status.value}`, "
        f"exit code {v.status.exit_code}).",
        "",
        "## Gap",
        "",
        f"- mean test {metric}: torch {_f(means_t)}, keras {_f(means_k)} "
        f"({g.n[1]} and {g.n[0]} seeds; diverged: torch {g.diverged[1]}, "
        f"keras {g.diverged[0]})",
        f"- gap (torch - keras): **{_f(g.effect)}**, 95% CI [{_f(lo)}, {_f(hi)}]; "
        f"{g.test} p = {_p(g.pvalue)}, {g.rank_test} p = {_p(g.pvalue_rank)}",
    ]
    if v.gap_by_epoch:
        marks = sorted({0, len(v.gap_by_epoch) // 2, len(v.gap_by_epoch) - 1})
        out.append(
            "- gap over training: "
            + ", ".join(f"epoch {i + 1}: {_f(v.gap_by_epoch[i], 3)}" for i in marks)
        )

    if v.causes:
        out += ["", "## Causes", ""]
        if v.found:
            out += _cause_rows(v.found)
            out.append("")
            for c in v.found:
                side = c.share_by_side
                out.append(
                    f"- `{c.factor}`: torch taking keras's value closes "
                    f"{_pct(side['torch'])}; keras taking torch's closes "
                    f"{_pct(side['keras'])}"
                )
                if len(c.share_by_epoch) > 2:
                    first, last = c.share_by_epoch[0], c.share_by_epoch[-1]
                    out.append(
                        f"  (share after epoch 1: {_f(first * 100, 3)}%, "
                        f"after the last: {_f(last * 100, 3)}%)"
                    )
        else:
            out.append(
                "No single factor moves either side significantly toward the other."
            )
        if v.offsetting:
            out += [
                "",
                "## Offsetting (significant, but pushing the sides apart the other "
                "way: they hide part of the gap)",
                "",
            ]
            out += _cause_rows(v.offsetting)
        if v.ruled_out:
            out += ["", "## Ruled out (no significant move either way)", ""]
            out += _cause_rows(v.ruled_out)

    if v.closure is not None:
        cl = v.closure
        r = cl.residual
        out += [
            "",
            "## Closure, interactions and residual",
            "",
            f"- every differing factor swapped closes {_pct(cl.share)} of the gap; "
            f"closure status: **{cl.status}**",
            f"- residual (unexplained): {r[0]:.0%} [{r[1]:.0%}, {r[2]:.0%}] (95% CI); "
            f"90% CI [{cl.residual_90[0]:.0%}, {cl.residual_90[1]:.0%}] against the "
            f"equivalence margin +-{cl.margin:.0%}",
            f"- interaction (closure minus the sum of single-factor shares): "
            f"{_pct(cl.interaction)}",
        ]
        for fw, e in cl.equivalence.items():
            d = cl.difference[fw]
            out.append(
                f"- {fw} <- all vs the other side: difference {_f(e.effect)}, "
                f"{d.test} p = {_p(d.pvalue)}; TOST within +-{_f(e.margin)} "
                f"p = {_p(e.pvalue)}"
            )

    if v.notes:
        out += ["", "## Notes", ""] + [f"- {n}" for n in v.notes]

    out += [
        "",
        "## Evidence",
        "",
        f"- strategy `{v.strategy}`, stopped because: **{v.stop_reason.value}**",
        f"- seeds per arm: {len(v.seeds)} ({v.seeds[0]}..{v.seeds[-1]}); "
        f"arms measured: {len(v.arms)}",
        f"- trials: {v.trials_run} trained, {v.trials_cached} from the store; "
        f"wall time {v.wall_seconds:.1f} s (training {v.train_seconds:.1f} s)",
        "- tests used:",
    ]
    out += [f"  - {t}" for t in v.tests]
    out += [
        "",
        "| arm | backend | mean | diverged | per-seed values |",
        "|---|---|---|---|---|",
    ]
    for a in v.arms:
        vals = ", ".join(_f(x, 3) for x in a.values)
        out.append(
            f"| {a.label} | {a.backend} | {_f(a.mean)} | {a.diverged} | {vals} |"
        )
    if v.versions:
        out += [
            "",
            "Library versions: "
            + ", ".join(f"{k} {val}" for k, val in sorted(v.versions.items())),
        ]
    return "\n".join(out) + "\n"
