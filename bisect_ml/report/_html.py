"""A self-contained HTML report with plots, rendered from a `Verdict` alone.

Plots are drawn with matplotlib (imported on first use, Agg backend) and
embedded as PNG data URIs, so the file needs no network to be viewed. The text
sections are the Markdown report's own lines (`bisect_ml.report._markdown`),
turned into HTML, so the two reports never say different things.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from typing import TYPE_CHECKING, Any

from bisect_ml.report._markdown import (
    arm_rows,
    cause_rows,
    closure_lines,
    decision_rows,
    gap_lines,
    headline,
    interaction_rows,
    power_lines,
    seeds_line,
    side_share_lines,
    warning_lines,
)

if TYPE_CHECKING:
    from bisect_ml.stats import Ratio
    from bisect_ml.verdict import ArmResult, Verdict

__all__ = ["to_html"]

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


_INLINE = re.compile(r"\*\*(.+?)\*\*|`([^`]+)`")


def _inline(text: str) -> str:
    """Markdown's **bold** and `code` in one line of text, the rest escaped."""
    out, last = [], 0
    for m in _INLINE.finditer(text):
        out.append(html.escape(text[last : m.start()]))
        if m.group(1) is not None:
            out.append(f"<b>{_inline(m.group(1))}</b>")
        else:
            out.append(f"<code>{html.escape(m.group(2))}</code>")
        last = m.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def _cells(row: str) -> list[str]:
    return [c.strip() for c in row.strip().strip("|").split("|")]


def _block(lines: list[str]) -> str:
    """The Markdown report's bullets and tables, as HTML."""
    parts: list[str] = []
    items: list[str] = []
    rows: list[str] = []

    def flush() -> None:
        if items:
            parts.append("<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>")
            items.clear()
        if rows:
            head, *body = rows
            parts.append(
                "<table><tr>"
                + "".join(f"<th>{_inline(c)}</th>" for c in _cells(head))
                + "</tr>"
                + "".join(
                    "<tr>"
                    + "".join(f"<td>{_inline(c)}</td>" for c in _cells(r))
                    + "</tr>"
                    for r in body
                    if not set(r) <= set("|-: ")
                )
                + "</table>"
            )
            rows.clear()

    for line in lines:
        if line.startswith("|"):
            if items:
                flush()
            rows.append(line)
        elif line.startswith("- "):
            if rows:
                flush()
            items.append(_inline(line[2:]))
        elif line.startswith("  ") and items:
            items[-1] += " " + _inline(line.strip().removeprefix("- "))
        else:
            flush()
            if line.strip():
                parts.append(f"<p>{_inline(line)}</p>")
    flush()
    return "\n".join(parts)


def _tests_list(v: Verdict) -> str:
    tests = "".join(f"<li>{_inline(t)}</li>" for t in v.tests)
    return f"<h3>Tests and corrections used</h3><ul>{tests}</ul>"


def _environment(v: Verdict) -> str:
    settings = {k: x for k, x in v.settings.items() if k != "warnings"}
    versions = ", ".join(
        f"{html.escape(k)} {html.escape(str(val))}"
        for k, val in sorted(v.versions.items())
    )
    return (
        "<h3>Environment</h3><p class='small'>"
        f"{versions}; settings: {html.escape(str(settings))}</p>"
    )


def to_html(v: Verdict) -> str:
    """Render ``v`` as one self-contained HTML page.

    It holds everything the Markdown report says (the same lines, as HTML)
    and three plots: per-arm distributions, shares of the gap, training curves.
    """
    metric = str(v.settings.get("metric", "metric"))
    esc = html.escape
    title = headline(v.status)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>bisect-ml: {esc(v.pair)}</title><style>{_CSS}</style></head><body>",
        f"<h1>bisect-ml: {esc(v.pair)}</h1>",
        f"<p class='verdict {v.status.value}'><b>{esc(title[0].upper() + title[1:])}."
        f"</b> (status <code>{v.status.value}</code>, exit code "
        f"{v.status.exit_code})</p>",
    ]
    warnings = warning_lines(v)
    if warnings:
        parts += [
            "<h2 id='warnings'>Warnings</h2>",
            "<p>Known porting traps in the scenario (as <code>bisect-ml diff</code> "
            "shows them), found before training:</p>",
            _block(warnings),
        ]
    parts += [
        "<h2>Gap</h2>",
        _block(gap_lines(v)),
    ]
    if v.power is not None:
        parts += [
            "<h2 id='power'>Noise and power</h2>",
            _block(power_lines(v.power, metric)),
        ]
    parts += [
        "<h2>Error distributions over seeds</h2>",
        f"<img alt='per-arm distributions' src='{_distributions(v, metric)}'>",
    ]
    shares = _shares(v)
    if shares:
        parts += [
            "<h2>Shares of the gap</h2>",
            f"<img alt='shares of the gap' src='{shares}'>",
        ]
    if v.causes:
        parts.append("<h3>Causes</h3>")
        if v.found:
            parts += [_block(cause_rows(v.found)), _block(side_share_lines(v.found))]
        else:
            parts.append(
                "<p>No single factor moves either side significantly toward the "
                "other.</p>"
            )
    if v.offsetting:
        parts += [
            "<h3>Offsetting (pushing the sides apart the other way)</h3>",
            _block(cause_rows(v.offsetting)),
        ]
    margin = v.settings.get("margin", 0.2)
    if v.inconclusive:
        parts += [
            "<h3>Inconclusive at this budget (neither significant nor shown "
            f"negligible: the share's interval leaves +-{margin:.0%})</h3>",
            _block(cause_rows(v.inconclusive)),
        ]
    if v.ruled_out:
        parts += [
            "<h3>Ruled out (negligible: the share's interval lies inside "
            f"+-{margin:.0%} of the gap)</h3>",
            _block(cause_rows(v.ruled_out)),
        ]
    if v.interactions:
        parts += [
            "<h2 id='interactions'>Interactions between causes</h2>",
            "<p>The 2x2 interaction contrast of two causes' values, over |gap|; "
            "per side, how much more of the gap swapping both closes than the sum "
            "of swapping each alone. Significant ones in bold.</p>",
            _block(interaction_rows(v.interactions)),
        ]
    if v.closure is not None:
        parts += [
            "<h2 id='closure'>Closure, interactions and residual</h2>",
            _block(closure_lines(v.closure)),
        ]
    curves = _curves(v, metric)
    if curves:
        parts += [
            "<h2>Training curves: the sides and the closing hybrids</h2>",
            f"<img alt='training curves' src='{curves}'>",
        ]
    if v.notes:
        parts += ["<h2>Notes</h2>", _block([f"- {n}" for n in v.notes])]
    parts += [
        "<h2 id='evidence'>Evidence</h2>",
        _block(
            [
                f"- strategy `{v.strategy}`, stopped because: "
                f"**{v.stop_reason.value}**",
                seeds_line(v),
                f"- trials: {v.trials_run} trained, {v.trials_cached} from the "
                f"store; wall time {v.wall_seconds:.1f} s (training "
                f"{v.train_seconds:.1f} s)",
            ]
        ),
        _tests_list(v),
    ]
    if v.decisions:
        parts += [
            "<h3 id='decisions'>Decision log: why each decision stopped</h3>",
            _block(decision_rows(v)),
        ]
    parts += [
        "<h3>Trial log</h3>",
        _block(arm_rows(v)),
        _environment(v),
        "</body></html>",
    ]
    return "\n".join(parts)
