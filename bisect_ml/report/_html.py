"""A self-contained HTML report with plots, rendered from a `Verdict` alone.

Plots are drawn with matplotlib (imported on first use, Agg backend) and
embedded as PNG data URIs, so the file needs no network to be viewed.
"""

from __future__ import annotations

import base64
import html
import io
import math
from typing import TYPE_CHECKING, Any

from bisect_ml.verdict import Status

if TYPE_CHECKING:
    from bisect_ml.stats import Ratio
    from bisect_ml.verdict import ArmResult, Cause, Verdict

__all__ = ["to_html"]

# TODO(#6): share these headlines with the Markdown report once both settle.
_HEADLINE = {
    Status.EXPLAINED: "The gap is explained by the causes below.",
    Status.RESIDUAL: "The gap is NOT fully explained by catalogued factors.",
    Status.NO_GAP: "No significant gap: the sides differ by no more than seed noise "
    "at this budget.",
}

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto;
       color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .8em 0; font-size: .92em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; }
th { background: #f3f3f3; }
.verdict { font-size: 1.15em; padding: .6em 1em; border-radius: 6px; }
.explained { background: #e5f5e5; } .residual { background: #fff1d6; }
.no_gap { background: #e8eef8; }
img { max-width: 100%; } code { background: #f5f5f5; padding: 0 .2em; }
.small { color: #666; font-size: .9em; }
"""


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _fmt(x: float, digits: int = 4) -> str:
    return f"{x:.{digits}g}" if math.isfinite(x) else "n/a"


def _pct(r: Ratio) -> str:
    def p(x: float) -> str:
        return f"{x:.0%}" if math.isfinite(x) else "n/a"

    return f"{p(r.estimate)} [{p(r.low)}, {p(r.high)}]"


def _arm_color(arm: ArmResult) -> str:
    return "#d95f02" if arm.base == "torch" else "#1b9e77"


def _distributions(v: Verdict, metric: str) -> str:
    plt = _pyplot()
    arms = list(v.arms)
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(arms) + 1.2))
    for i, arm in enumerate(arms):
        finite = [x for x in arm.values if math.isfinite(x)]
        y = [i + (j - len(finite) / 2) * 0.012 for j in range(len(finite))]
        ax.scatter(finite, y, s=16, alpha=0.75, color=_arm_color(arm))
        if finite:
            ax.plot([arm.mean] * 2, [i - 0.3, i + 0.3], color="black", lw=1.5)
        if arm.diverged:
            ax.annotate(
                f"{arm.diverged} diverged",
                (1.0, i),
                xycoords=("axes fraction", "data"),
                ha="right",
                fontsize=8,
                color="red",
            )
    ax.set_yticks(range(len(arms)), [a.label for a in arms], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"test {metric} per seed (black: mean)")
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def _shares(v: Verdict) -> str | None:
    rows: list[tuple[str, Ratio, str]] = []
    for c in v.causes:
        color = {"cause": "#d95f02", "offsetting": "#7570b3"}.get(c.role, "#999999")
        rows.append((c.factor, c.share, color))
    if v.closure is not None:
        rows.append(("closure (all swapped)", v.closure.share, "#1b9e77"))
        rows.append(("interaction", v.closure.interaction, "#66a61e"))
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.2))
    for i, (_, r, color) in enumerate(rows):
        est = r.estimate if math.isfinite(r.estimate) else 0.0
        ax.barh(i, est * 100, color=color, alpha=0.8)
        if math.isfinite(r.low) and math.isfinite(r.high):
            ax.plot([r.low * 100, r.high * 100], [i, i], color="black", lw=1.5)
    ax.axvline(0, color="black", lw=0.8)
    ax.axvline(100, color="grey", lw=0.8, ls="--")
    ax.set_yticks(range(len(rows)), [r[0] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("share of the gap closed, % (bar: estimate, line: 95% CI)")
    return _png(fig)


def _curves(v: Verdict, metric: str) -> str | None:
    wanted = [a for a in v.arms if not a.swap or set(a.swap) == set(v.candidates)]
    wanted = [a for a in wanted if a.metric_curves and all(a.metric_curves)]
    if not wanted:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    styles = {True: "-", False: "--"}
    for arm in wanted:
        for ax, curves in zip(axes, (arm.metric_curves, arm.loss_curves), strict=True):
            width = min(len(c) for c in curves) if curves else 0
            if not width:
                continue
            epochs = range(1, width + 1)
            means = []
            for e in range(width):
                vals = [c[e] for c in curves if math.isfinite(c[e])]
                means.append(sum(vals) / len(vals) if vals else math.nan)
            ax.plot(
                epochs,
                means,
                styles[not arm.swap],
                color=_arm_color(arm),
                label=arm.label,
            )
    axes[0].set_title(f"test {metric} (mean over seeds)", fontsize=10)
    axes[1].set_title("training loss (mean over seeds)", fontsize=10)
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    return _png(fig)


def _cause_table(causes: tuple[Cause, ...]) -> str:
    rows = "".join(
        f"<tr><td><code>{html.escape(c.factor)}</code></td>"
        f"<td><code>{html.escape(repr(c.values['torch']))}</code>"
        f"{' (default)' if c.is_default['torch'] else ''}</td>"
        f"<td><code>{html.escape(repr(c.values['keras']))}</code>"
        f"{' (default)' if c.is_default['keras'] else ''}</td>"
        f"<td>{_pct(c.share)}</td><td>{c.pvalue_adjusted:.2g}</td>"
        f"<td>{c.comparisons['torch'].n[0]}</td></tr>"
        for c in causes
    )
    return (
        "<table><tr><th>factor</th><th>torch value</th><th>keras value</th>"
        "<th>share of gap [95% CI]</th><th>p (Holm)</th><th>seeds</th></tr>"
        f"{rows}</table>"
    )


def to_html(v: Verdict) -> str:
    """Render ``v`` as one self-contained HTML page."""
    metric = str(v.settings.get("metric", "metric"))
    g = v.gap
    lo, hi = g.confidence_interval()
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>bisect-ml: {esc(v.pair)}</title><style>{_CSS}</style></head><body>",
        f"<h1>bisect-ml: {esc(v.pair)}</h1>",
        f"<p class='verdict {v.status.value}'><b>{esc(_HEADLINE[v.status])}</b> "
        f"(status <code>{v.status.value}</code>, exit code {v.status.exit_code})</p>",
        "<h2>Gap</h2>",
        f"<p>gap (torch - keras) in test {esc(metric)}: <b>{_fmt(g.effect)}</b>, "
        f"95% CI [{_fmt(lo)}, {_fmt(hi)}]; {esc(g.test)} p = {g.pvalue:.2g}, "
        f"{esc(g.rank_test)} p = {g.pvalue_rank:.2g}; {g.n[1]} and {g.n[0]} seeds; "
        f"diverged: torch {g.diverged[1]}, keras {g.diverged[0]}.</p>",
        "<h2>Error distributions over seeds</h2>",
        f"<img alt='per-arm distributions' src='{_distributions(v, metric)}'>",
    ]
    shares = _shares(v)
    if shares:
        parts += [
            "<h2>Shares of the gap</h2>",
            f"<img alt='shares of the gap' src='{shares}'>",
        ]
    if v.found:
        parts += ["<h3>Causes</h3>", _cause_table(v.found)]
    if v.offsetting:
        parts += [
            "<h3>Offsetting (pushing the sides apart the other way)</h3>",
            _cause_table(v.offsetting),
        ]
    if v.ruled_out:
        parts += ["<h3>Ruled out</h3>", _cause_table(v.ruled_out)]
    if v.closure is not None:
        cl = v.closure
        r = cl.residual
        parts.append(
            f"<p>Closure: every differing factor swapped closes {_pct(cl.share)}; "
            f"status <b>{esc(cl.status)}</b>; residual {r[0]:.0%} "
            f"[{r[1]:.0%}, {r[2]:.0%}]; interaction {_pct(cl.interaction)}.</p>"
        )
    curves = _curves(v, metric)
    if curves:
        parts += [
            "<h2>Training curves: the sides and the closing hybrids</h2>",
            f"<img alt='training curves' src='{curves}'>",
        ]
    if v.notes:
        parts += ["<h2>Notes</h2><ul>"]
        parts += [f"<li>{esc(n)}</li>" for n in v.notes]
        parts.append("</ul>")
    parts += [
        "<h2>Evidence</h2><ul>",
        f"<li>strategy <code>{esc(v.strategy)}</code>, stopped because: "
        f"<b>{esc(v.stop_reason.value)}</b></li>",
        f"<li>seeds per arm: {len(v.seeds)} ({v.seeds[0]}..{v.seeds[-1]})</li>",
        f"<li>trials: {v.trials_run} trained, {v.trials_cached} from the store; "
        f"wall time {v.wall_seconds:.1f} s</li>",
        "<li>tests used:<ul>",
        *[f"<li>{esc(t)}</li>" for t in v.tests],
        "</ul></li></ul>",
        "<h3>Trial log</h3><table><tr><th>arm</th><th>backend</th><th>mean</th>"
        "<th>diverged</th><th>per-seed values</th></tr>",
        *[
            f"<tr><td>{esc(a.label)}</td><td>{esc(a.backend)}</td>"
            f"<td>{_fmt(a.mean)}</td><td>{a.diverged}</td>"
            f"<td class='small'>{', '.join(_fmt(x, 3) for x in a.values)}</td></tr>"
            for a in v.arms
        ],
        "</table>",
        "<h3>Environment</h3><p class='small'>"
        + ", ".join(
            f"{esc(k)} {esc(str(val))}" for k, val in sorted(v.versions.items())
        )
        + f"; settings: {esc(str(v.settings))}</p>",
        "</body></html>",
    ]
    return "\n".join(parts)
