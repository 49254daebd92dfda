"""The Markdown report a person reads."""

from __future__ import annotations

import math

from bisect_ml.stats import Ratio
from bisect_ml.verdict import Cause, Closure, Interaction, Power, Status, Verdict

__all__ = [
    "arm_rows",
    "cause_rows",
    "closure_lines",
    "decision_rows",
    "headline",
    "gap_lines",
    "interaction_rows",
    "power_lines",
    "seeds_line",
    "side_share_lines",
    "to_markdown",
    "warning_lines",
    "warnings_of",
]

_HEADLINE = {
    Status.EXPLAINED: "the gap is explained by the causes below",
    Status.RESIDUAL: "the gap is NOT fully explained by catalogued factors",
    Status.NO_GAP: "no significant gap: the sides differ by no more than seed noise "
    "at this budget",
    Status.INCONCLUSIVE: "inconclusive: a gap this budget could not attribute "
    "(more seeds or trials needed)",
}


def headline(status: Status) -> str:
    """The one-sentence verdict every report leads with (lower case, no stop)."""
    return _HEADLINE[status]


def _f(x: float, digits: int = 4) -> str:
    if not math.isfinite(x):
        return "n/a"
    return f"{x:.{digits}g}"


def _pct(r: Ratio) -> str:
    def p(x: float) -> str:
        return f"{x + 0.0:.0%}" if math.isfinite(x) else "n/a"

    return f"{p(r.estimate)} [{p(r.low)}, {p(r.high)}]"


def _level(r: Ratio, name: str) -> str:
    if abs(r.level - 0.95) < 1e-9:
        return f"{name} CI"
    return f"{name} repeated CI: {r.level:.2%} at the look it stopped"


def _p(x: float) -> str:
    return f"{x:.2g}" if x >= 1e-4 else f"{x:.1e}"


def _value(c: Cause, fw: str) -> str:
    mark = " (default)" if c.is_default[fw] else ""
    return f"`{c.values[fw]}`{mark}"


def _stop(reason: str) -> str:
    return {
        "decided": "decided",
        "seed_cap": "seed cap",
        "budget_exhausted": "budget",
    }.get(reason, reason or "-")


def cause_rows(causes: tuple[Cause, ...]) -> list[str]:
    rows = [
        "| factor | torch value | keras value | share of gap [95% CI] | "
        "p (Holm) | seeds | stopped |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in causes:
        n = c.seeds or c.comparisons["torch"].n[0]
        rows.append(
            f"| `{c.factor}` | {_value(c, 'torch')} | {_value(c, 'keras')} | "
            f"{_pct(c.share)} | {_p(c.pvalue_adjusted)} | {n} | {_stop(c.stop)} |"
        )
    return rows


def power_lines(pw: Power, metric: str) -> list[str]:
    noise = ", ".join(
        f"{fw} {_f(n.sd, 3)} [{_f(n.low, 3)}, {_f(n.high, 3)}] ({n.n} seeds)"
        for fw, n in pw.noise.items()
    )
    seeds = min(pw.seeds.values())
    out = [
        f"- seed noise (standard deviation of the test {metric} over seeds, "
        f"95% CI): {noise}",
        f"- smallest gap detectable with {pw.power:.0%} power at alpha "
        f"{pw.alpha:g} (Welch): {_f(pw.detectable_gap, 3)} at the {seeds} seeds "
        f"per side used; {_f(pw.detectable_gap_at_cap, 3)} at the seed cap",
    ]
    if pw.below_detectable and pw.gap_found:
        # The test found it: say so, and what the power means for a re-run.
        need = pw.seeds_needed
        out.append(
            f"- the observed gap ({_f(pw.gap, 3)}) is below that, yet the gap test "
            "found it: a gap this size is found only in some runs at these seeds"
            + (
                f"; about {need} seeds per side would find it with {pw.power:.0%} power"
                if need is not None
                else ""
            )
        )
    elif pw.below_detectable:
        need = pw.seeds_needed
        out.append(
            f"- **the observed gap ({_f(pw.gap, 3)}) is below that**: at this "
            "budget it is not distinguishable from seed noise; "
            + (
                f"about {need} seeds per side would detect a gap this size"
                if need is not None
                else "no practical number of seeds would detect a gap this size"
            )
        )
    else:
        out.append(
            f"- the observed gap ({_f(pw.gap, 3)}) is above it"
            + (
                f" (about {pw.seeds_needed} seeds per side suffice for a gap this size)"
                if pw.seeds_needed is not None
                else ""
            )
        )
    if pw.paired_comparisons:
        ratio = pw.paired_variance_ratio
        gain = f"{1 / ratio:.3g}x" if ratio > 0 else "all of it"
        out.append(
            f"- pairing hybrids with their side by seed keeps {ratio:.0%} of the "
            f"unpaired variance (median of {pw.paired_comparisons} comparisons): "
            f"a variance reduction of {gain}"
        )
    if math.isfinite(pw.detectable_share):
        out.append(
            "- a factor's swap is found with that power when it moves a side by "
            f"at least {pw.detectable_share:.0%} of the gap (median over the "
            "factors, at the seed cap)"
        )
    return out


def interaction_rows(items: tuple[Interaction, ...]) -> list[str]:
    rows = [
        "| factors | interaction / gap [95% CI] | torch: both swapped close, "
        "beyond the sum | keras: same | p (Holm) | seeds |",
        "|---|---|---|---|---|---|",
    ]
    for i in items:
        mark = "**" if i.significant else ""
        rows.append(
            f"| {mark}`{i.factors[0]}` x `{i.factors[1]}`{mark} | "
            f"{_pct(i.effect)} | {_pct(i.excess['torch'])} | "
            f"{_pct(i.excess['keras'])} | {_p(i.pvalue_adjusted)} | {i.seeds} |"
        )
    return rows


def _subject(kind: str, subject: str) -> str:
    return subject if kind == subject else f"{kind}: `{subject}`"


def seeds_line(v: Verdict) -> str:
    looks = v.settings.get("looks") or [len(v.seeds)]
    if len(looks) > 1:
        return (
            f"- adaptive seeds: looks at {', '.join(map(str, looks))} seeds per arm "
            f"(cap {looks[-1]}), first seed {v.seeds[0]}; arms measured: "
            f"{len(v.arms)}"
        )
    return (
        f"- seeds per arm: {len(v.seeds)} ({v.seeds[0]}..{v.seeds[-1]}); "
        f"arms measured: {len(v.arms)}"
    )


def closure_lines(cl: Closure) -> list[str]:
    """The closure arm's findings, one Markdown bullet each."""
    r = cl.residual
    out = [
        f"- every differing factor swapped closes {_pct(cl.share)} of the gap "
        f"({cl.share.n} seeds); closure status: **{cl.status}**",
        f"- residual (unexplained): {r[0]:.0%} [{r[1]:.0%}, {r[2]:.0%}] "
        f"({_level(cl.share, '95%')}); "
        f"[{cl.residual_90[0]:.0%}, {cl.residual_90[1]:.0%}] (90%) against the "
        f"equivalence margin +-{cl.margin:.0%}",
        f"- interaction (closure minus the sum of single-factor shares, both "
        f"directions averaged, so a pure two-factor interaction cancels here): "
        f"{_pct(cl.interaction)} ({cl.interaction.n} seeds)",
    ]
    for fw, e in cl.equivalence.items():
        d = cl.difference[fw]
        out.append(
            f"- {fw} <- all vs the other side: difference {_f(e.effect)}, "
            f"{d.test} p = {_p(d.pvalue)}; TOST within +-{_f(e.margin)} "
            f"p = {_p(e.pvalue)}"
        )
    return out


def decision_rows(v: Verdict) -> list[str]:
    """The decision log as a Markdown table: what each decision found, and why
    it stopped taking seeds."""
    out = [
        "| decision | outcome | seeds | stopped | p |",
        "|---|---|---|---|---|",
    ]
    for dec in v.decisions:
        p = _p(dec.pvalue) if math.isfinite(dec.pvalue) else "-"
        out.append(
            f"| {_subject(dec.kind, dec.subject)} | {dec.outcome} | {dec.seeds} of "
            f"{dec.looks[-1]} | {_stop(dec.stop.value)} | {p} |"
        )
    return out


def arm_rows(v: Verdict) -> list[str]:
    """Every arm with its per-seed values, as a Markdown table."""
    out = [
        "| arm | backend | seeds | mean | diverged | of them failed | stopped | "
        "per-seed values |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for a in v.arms:
        vals = ", ".join(_f(x, 3) for x in a.values)
        stop = f"{_stop(a.stop)} ({a.decided_by})" if a.stop else "-"
        out.append(
            f"| {a.label} | {a.backend} | {a.n} | {_f(a.mean)} | {a.diverged} | "
            f"{a.failed} | {stop} | {vals} |"
        )
    return out


def side_share_lines(causes: tuple[Cause, ...]) -> list[str]:
    """Per cause, the share each side's swap closes (and over training)."""
    out = []
    for c in causes:
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
    return out


def warnings_of(v: Verdict) -> list[dict[str, str]]:
    """The known traps of the pair (`bisect_ml._traps`) the run recorded.

    `bisect_ml.api.bisect` puts them in ``settings["warnings"]``; a verdict
    built otherwise has none.
    """
    found = v.settings.get("warnings") or []
    return [dict(w) for w in found if isinstance(w, dict)]


def warning_lines(v: Verdict) -> list[str]:
    """One Markdown bullet per known trap: where it is, and what to do."""
    return [
        f"- [{w.get('code', '?')}] `{w.get('key', '?')}`: {w.get('message', '')}"
        for w in warnings_of(v)
    ]


def gap_lines(v: Verdict) -> list[str]:
    """The gap between the sides: means, estimate, tests, and over training."""
    g = v.gap
    lo, hi = g.confidence_interval()
    metric = v.settings.get("metric", "metric")
    means_t = sum(x for x in g.b if x == x) / max(1, g.n[1] - g.diverged[1])
    means_k = sum(x for x in g.a if x == x) / max(1, g.n[0] - g.diverged[0])
    out = [
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
    return out


def to_markdown(v: Verdict) -> str:
    """Render ``v`` as a Markdown root-cause report."""
    metric = v.settings.get("metric", "metric")
    out = [
        f"# bisect-ml: {v.pair}",
        "",
        f"**Verdict: {headline(v.status)}** (status `{v.status.value}`, "
        f"exit code {v.status.exit_code}).",
    ]
    if warnings_of(v):
        out += [
            "",
            "## Warnings",
            "",
            "Known porting traps in the scenario (as `bisect-ml diff` shows "
            "them), found before training:",
            "",
            *warning_lines(v),
        ]
    out += [
        "",
        "## Gap",
        "",
        *gap_lines(v),
    ]
    if v.power is not None:
        out += ["", "## Noise and power", ""]
        out += power_lines(v.power, metric)

    if v.causes:
        out += ["", "## Causes", ""]
        if v.found:
            out += cause_rows(v.found)
            out.append("")
            out += side_share_lines(v.found)
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
            out += cause_rows(v.offsetting)
        margin = v.settings.get("margin", 0.2)
        if v.inconclusive:
            out += [
                "",
                "## Inconclusive at this budget (neither significant nor shown "
                f"negligible: the share's interval leaves +-{margin:.0%})",
                "",
            ]
            out += cause_rows(v.inconclusive)
        if v.ruled_out:
            out += [
                "",
                f"## Ruled out (negligible: the share's interval lies inside "
                f"+-{margin:.0%} of the gap)",
                "",
            ]
            out += cause_rows(v.ruled_out)

    if v.interactions:
        out += [
            "",
            "## Interactions between causes",
            "",
            "The 2x2 interaction contrast of two causes' values, over |gap|; per "
            "side, how much more of the gap swapping both closes than the sum of "
            "swapping each alone. Significant ones in bold.",
            "",
        ]
        out += interaction_rows(v.interactions)

    if v.closure is not None:
        out += ["", "## Closure, interactions and residual", ""]
        out += closure_lines(v.closure)

    if v.notes:
        out += ["", "## Notes", ""] + [f"- {n}" for n in v.notes]

    out += [
        "",
        "## Evidence",
        "",
        f"- strategy `{v.strategy}`, stopped because: **{v.stop_summary}**",
        seeds_line(v),
        f"- trials: {v.trials_run} trained, {v.trials_cached} from the store; "
        f"wall time {v.wall_seconds:.1f} s (training {v.train_seconds:.1f} s)",
        "- tests used:",
    ]
    out += [f"  - {t}" for t in v.tests]
    if v.decisions:
        out += [""] + decision_rows(v)
    out += [""] + arm_rows(v)
    if v.versions:
        out += [
            "",
            "Library versions: "
            + ", ".join(f"{k} {val}" for k, val in sorted(v.versions.items())),
        ]
    return "\n".join(out) + "\n"
