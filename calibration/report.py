"""The fit report: a table (terminal, via rich) and plots (one self-contained HTML file or one PNG).

Per model: parameters, exponents, R² and MAPE on the original scale, sample count, the fallback used and
its notes; then what was skipped while loading and fitting, and the replay calibration per application.
The plots are predicted-versus-observed (log-log, with the identity line) and the log-residual histogram
of the fitted models with samples (at most 24: transfer, start-up, then the most samples); in HTML they
are embedded as base64 PNG. The terminal table shows at most 40 models (most samples first); the HTML
report has them all.
"""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:  # annotations only: `plansim calibrate` imports SUFFIXES without the fitter
    from calibration.fit import FitReport, ModelRow

# The kinds of report write_report writes (any case); `calibrate --report` checks its argument against
# the same list when the command line is parsed.
SUFFIXES = (".png", ".html", ".htm")
# Both kinds draw the plots with matplotlib (`--report` checks it when the command line is parsed).
NEEDS = {suffix: ("matplotlib",) for suffix in SUFFIXES}


def _fmt(v: float | None, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if pct:
        return f"{v * 100:.1f}%"
    return f"{v:.4g}"


def _kv(d: dict[str, float]) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in d.items())


def table_rows(report: FitReport) -> list[list[str]]:
    return [
        [
            r.model,
            _kv(r.params),
            _kv(r.exponents),
            _fmt(r.fit.r2),
            _fmt(r.fit.mape, True),
            str(r.fit.samples),
            r.fit.fallback,
            "; ".join(r.fit.notes),
        ]
        for r in report.rows
    ]


HEADERS = ["model", "parameters", "exponents", "R²", "MAPE", "n", "fallback", "notes"]


def print_report(report: FitReport, console: Console | None = None, max_rows: int = 40) -> None:
    console = console or Console(width=160)
    table = Table(title="fit report", show_lines=False)
    for h in HEADERS:
        table.add_column(h, overflow="fold")
    rows = table_rows(report)
    if len(rows) > max_rows:
        order = sorted(range(len(rows)), key=lambda i: (-report.rows[i].fit.samples, i))[:max_rows]
        rows = [rows[i] for i in sorted(order)]
    for row in rows:
        table.add_row(*[escape(c) for c in row])
    console.print(table)
    if len(report.rows) > len(rows):
        counts: dict[str, int] = {}
        for r in report.rows:
            counts[r.fit.fallback] = counts.get(r.fit.fallback, 0) + 1
        console.print(
            f"... {len(report.rows) - len(rows)} more models not shown (most samples first; all in the HTML "
            f"report and 'plansim models show'); fallbacks over all {len(report.rows)} models: "
            + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
            highlight=False,
            markup=False,
        )
    for line in skipped_lines(report):
        console.print(line, highlight=False, markup=False)
    if report.replay:
        rt = Table(title="trace replay calibration (makespan MAPE on the calibration traces)")
        for h in ("application", "traces", "plain replay", "calibrated", "fallback", "parameters"):
            rt.add_column(h, overflow="fold")
        for r in report.replay:
            rt.add_row(
                escape(r["application"]),
                str(r["traces"]),
                _fmt(r.get("plain_mape"), True),
                _fmt(r.get("mape"), True),
                r.get("fallback", ""),
                escape(_kv(r.get("params", {}))),
            )
        console.print(rt)


def skipped_lines(report: FitReport) -> list[str]:
    lines = []
    for lr in report.loads:
        if lr.skipped:
            lines.append(
                f"skipped {lr.skipped} record(s) of {lr.source} (loaded {lr.loaded}); first: "
                + " | ".join(lr.problems)
            )
    for reason, info in report.skipped.items():
        lines.append(f"skipped {info.count} sample(s) [{reason}]; first: " + ", ".join(info.first))
    return lines


MAX_PLOTS = 24


def plotted_rows(rows: list[ModelRow]) -> list[ModelRow]:
    """The models that get plots: those with samples, at most :data:`MAX_PLOTS`, most samples first
    (transfer and start-up always included)."""
    with_data = [r for r in rows if r.observed.size and r.predicted.size]
    fixed = [r for r in with_data if not r.model.startswith(("exec[", "output["))]
    rest = sorted((r for r in with_data if r not in fixed), key=lambda r: (-r.observed.size, r.model))
    return (fixed + rest)[:MAX_PLOTS] if len(fixed) < MAX_PLOTS else fixed[:MAX_PLOTS]


def unit_of(model: str) -> str:
    """What a model's observed and predicted values are in: output sizes in bytes, times in ms."""
    return "bytes" if model.startswith("output[") else "ms"


def log_range(values) -> tuple[float, float]:  # noqa: ANN001 - a numpy array
    """One range for both axes of a predicted-vs-observed plot, so the identity line is the diagonal.

    At least a factor of 4 wide: a simulated run gives every task of a function the same time and the
    fit predicts it to the last digits, and log axes left to autoscale over a span of 1e-13 drew garbled
    frames without a tick. Non-positive values (not on a log axis) are left out.
    """
    import numpy as np

    v = values[np.isfinite(values) & (values > 0)]
    if not v.size:
        return 0.5, 2.0
    lo, hi = float(v.min()) / 1.25, float(v.max()) * 1.25
    if hi / lo < 4:
        mid = math.sqrt(lo * hi)
        lo, hi = mid / 2, mid * 2
    return lo, hi


def _figure(rows: list[ModelRow]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = plotted_rows(rows)
    n = max(1, len(rows))
    fig, axes = plt.subplots(n, 2, figsize=(9, 3.0 * n), squeeze=False)
    if not rows:
        axes[0][0].text(0.5, 0.5, "no fitted model with samples", ha="center")
    for (ax1, ax2), r in zip(axes, rows, strict=False):
        obs, pred = np.asarray(r.observed, float), np.asarray(r.predicted, float)
        ax1.loglog(obs, pred, ".", ms=3, alpha=0.6)
        lo, hi = log_range(np.concatenate([obs, pred]))
        ax1.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax1.set_xlim(lo, hi)
        ax1.set_ylim(lo, hi)
        unit = unit_of(r.model)
        ax1.set_title(f"{r.model}: predicted vs observed", fontsize=9)
        ax1.set_xlabel(f"observed ({unit})")
        ax1.set_ylabel(f"predicted, median ({unit})")
        res = np.log(obs / np.maximum(pred, 1e-300))
        ax2.hist(res, bins=30)
        ax2.set_title(f"{r.model}: log residuals (MAPE {_fmt(r.fit.mape, True)})", fontsize=9)
        ax2.set_xlabel("log(observed / predicted)")
        ax2.set_ylabel("samples")
    fig.tight_layout()
    return fig


def write_report(report: FitReport, path: str | Path) -> Path:
    """Write ``path``: ``.png`` (the plots) or ``.html`` (table, skipped samples and plots, self-contained)."""
    path = Path(path)
    fig = _figure(report.rows)
    if path.suffix.lower() == ".png":
        fig.savefig(path, dpi=90)
        return path
    if path.suffix.lower() not in SUFFIXES:
        raise ValueError(f"report file {str(path)!r} must end in .html or .png")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    img = base64.b64encode(buf.getvalue()).decode()
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADERS)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table_rows(report)
    )
    skipped = (
        "".join(f"<li>{html.escape(s)}</li>" for s in skipped_lines(report)) or "<li>nothing skipped</li>"
    )
    replay = ""
    if report.replay:
        rrows = "".join(
            f"<tr><td>{html.escape(r['application'])}</td><td>{r['traces']}</td><td>{_fmt(r.get('plain_mape'), True)}</td>"
            f"<td>{_fmt(r.get('mape'), True)}</td><td>{html.escape(r.get('fallback', ''))}</td>"
            f"<td>{html.escape(_kv(r.get('params', {})))}</td></tr>"
            for r in report.replay
        )
        replay = (
            "<h2>Trace replay calibration</h2><table><tr><th>application</th><th>traces</th><th>plain replay MAPE</th>"
            f"<th>calibrated MAPE</th><th>fallback</th><th>parameters</th></tr>{rrows}</table>"
        )
    shown = len(plotted_rows(report.rows))
    total = sum(1 for r in report.rows if r.observed.size)
    plots_note = (
        f"plots of {shown} of {total} models with samples (transfer, start-up, then most samples)"
        if shown < total
        else f"all {total} models with samples"
    )
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>plansim fit report</title>
<style>body{{font-family:sans-serif;margin:1.5em}} table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 6px;vertical-align:top}} th{{background:#eee}}</style></head><body>
<h1>plansim fit report</h1><table><tr>{head}</tr>{body}</table>
<h2>Skipped</h2><ul>{skipped}</ul>{replay}
<h2>Predicted vs observed, residuals</h2><p>{plots_note}</p><img alt="fit plots" src="data:image/png;base64,{img}">
</body></html>
"""
    path.write_text(doc, encoding="utf-8")
    return path


def models_tables(models: Any) -> dict[str, list[dict[str, Any]]]:
    """A models file's models as tables, each titled with its formula and unit: execution and output size
    per function, the transfer and start-up models, trace replay parameters per application. One list of
    rows per title; `plansim models show` prints them, the dashboard's calibration page shows them."""
    from sim.models.performance import REPLAY_NUMBERS

    def g(v: float) -> float:  # 4 significant digits: -0.0000000000000001 is an exponent of 0
        return float(f"{v:.4g}") if abs(v) >= 1e-9 else 0.0

    def quality(fit: Any) -> dict[str, Any]:
        return {
            "samples": fit.samples,
            "R²": None if fit.r2 is None else round(fit.r2, 3),
            "MAPE %": None if fit.mape is None else round(100 * fit.mape, 1),
            "fallback": fit.fallback,
            "notes": "; ".join(fit.notes),
        }

    tr, su = models.transfer, models.startup
    return {
        "execution: a · in_bytes^b · (mem/1024)^-c  [ms]; gil_hold: part of a call a ready sibling waits": [
            {
                "function": f,
                "a": g(e.a),
                "b": g(e.b),
                "c": g(e.c),
                "gil_hold": g(e.gil_hold),
                **quality(e.fit),
            }
            for f, e in sorted(models.exec.items())
        ],
        "output size: k · in_bytes^e  [bytes]": [
            {"function": f, "k": g(o.k), "e": g(o.e), **quality(o.fit)}
            for f, o in sorted(models.output.items())
        ],
        "transfer: latency + bytes / (bytes_per_ms · (mem/1024)^alpha · upload_bw_factor if an upload)  [ms]": [
            {
                "latency_ms": g(tr.latency_ms),
                "bytes_per_ms": g(tr.bytes_per_ms),
                "alpha": g(tr.alpha),
                "upload_bw_factor": g(tr.upload_bw_factor),
                **quality(tr.fit),
            }
        ],
        "start-up: cold_ms · (mem/1024)^cold_exp, warm_ms · (mem/1024)^warm_exp  [ms]": [
            {
                "cold_ms": g(su.cold_ms),
                "cold_exp": g(su.cold_exp),
                "warm_ms": g(su.warm_ms),
                "warm_exp": g(su.warm_exp),
                **quality(su.fit),
            }
        ],
        "trace replay per application  [s; the byte rates in bytes/s, 1e+30 = no limit]": [
            {
                "application": app,
                **{n: g(getattr(p, n)) for n in REPLAY_NUMBERS},
                "unsized_files": ", ".join(p.unsized_files),
                **quality(p.fit),
            }
            for app, p in sorted(models.replay.items())
        ],
    }
