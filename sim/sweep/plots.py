"""Summary plots of a sweep (PNG): makespan and cost per planner and workflow; the Pareto front of cost
versus makespan per workflow. Also the tidy table's writer (parquet or csv by suffix)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# The kinds of table write_table writes (any case); `sweep -o` checks its argument against the same list
# when the command line is parsed.
TABLE_SUFFIXES = (".parquet", ".csv")
TABLE_NEEDS = {".parquet": ("pandas", "pyarrow"), ".csv": ("pandas",)}  # optional packages per kind
PALETTE = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c"]


def write_table(df: Any, path: str | Path) -> Path:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(f"results must be a .parquet or .csv file, got {path.name!r}")
    if suffix == ".parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return path


def read_table(path: str | Path) -> Any:
    import pandas as pd

    path = Path(path)
    return pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)


def pareto_mask(cost: list[float], makespan: list[float]) -> list[bool]:
    """True for points no other point dominates (no worse on cost and makespan, better on one; lower
    is better). Identical points are all kept."""
    pts = list(zip(cost, makespan, strict=True))
    order = sorted(range(len(pts)), key=lambda i: pts[i])
    mask = [False] * len(pts)
    best = float("inf")  # lowest makespan among points before the current run of identical points
    k = 0
    while k < len(order):
        run = [order[k]]
        while k + len(run) < len(order) and pts[order[k + len(run)]] == pts[order[k]]:
            run.append(order[k + len(run)])
        if pts[order[k]][1] < best:
            for i in run:
                mask[i] = True
        best = min(best, pts[order[k]][1])
        k += len(run)
    return mask


def pareto_front(df: Any) -> Any:
    """The rows on the cost-versus-makespan Pareto front of their workflow (failed rows dropped)."""
    ok = df[df["error"].isna()] if "error" in df else df
    keep = []
    for _, sub in ok.groupby("workflow", sort=True):
        mask = pareto_mask(sub["cost_gb_s"].tolist(), sub["makespan_ms"].tolist())
        keep += [idx for idx, m in zip(sub.index, mask, strict=True) if m]
    return ok.loc[keep]


# The columns that make a configuration: the rows of one configuration differ only by seed.
CONFIGURATION = ("workflow", "planner", "memory", "sla", "platform", "optimizations")


def pareto_points(df: Any) -> tuple[Any, Any, bool]:
    """(points, front, per_configuration): what the Pareto plot draws its front through. With several
    seeds per configuration (Monte-Carlo samples) the points are each configuration's median cost and
    makespan, since a front through single samples promises a lucky draw; otherwise the rows."""
    ok = df[df["error"].isna()] if "error" in df else df
    keys = [c for c in CONFIGURATION if c in ok]
    per_configuration = bool(len(ok)) and int(ok.groupby(keys, dropna=False).size().max()) > 1
    if per_configuration:
        ok = ok.groupby(keys, dropna=False, sort=True)[["cost_gb_s", "makespan_ms"]].median().reset_index()
    return ok, pareto_front(ok), per_configuration


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_paths(out: str | Path) -> tuple[Path, Path]:
    """The files :func:`plot_summary` writes for the table ``out``: makespan and cost, Pareto front."""
    stem = Path(out).with_suffix("")
    return Path(f"{stem}.makespan_cost.png"), Path(f"{stem}.pareto.png")


def plot_summary(df: Any, out: str | Path) -> list[Path]:
    """Write :func:`plot_paths` (``{stem}.makespan_cost.png`` and ``{stem}.pareto.png`` next to
    ``out``); returns the paths written (none for a table without a successful point)."""
    plt = _plt()
    ok = df[df["error"].isna()] if "error" in df else df
    bars_png, pareto_png = plot_paths(out)
    paths = []
    workflows = sorted(ok["workflow"].unique())
    planners = sorted(ok["planner"].unique())
    colour = {p: PALETTE[i % len(PALETTE)] for i, p in enumerate(planners)}
    if not workflows:
        return paths
    # 1. makespan and cost per planner and workflow: median bars with the min-max range as error bars.
    fig, axes = plt.subplots(2, len(workflows), figsize=(max(6, 3.2 * len(workflows)), 6.5), squeeze=False)
    for j, wf in enumerate(workflows):
        sub = ok[ok["workflow"] == wf]
        for i, (metric, label) in enumerate((("makespan_ms", "makespan (ms)"), ("cost_gb_s", "cost (GB-s)"))):
            ax = axes[i][j]
            stats = sub.groupby("planner")[metric].agg(["median", "min", "max"]).reindex(planners)
            xs = range(len(planners))
            med = stats["median"].fillna(0).tolist()
            lo = (stats["median"] - stats["min"]).fillna(0).tolist()
            hi = (stats["max"] - stats["median"]).fillna(0).tolist()
            ax.bar(xs, med, yerr=[lo, hi], color=[colour[p] for p in planners], capsize=3)
            ax.set_xticks(list(xs))
            ax.set_xticklabels(planners, rotation=30, fontsize=7)
            if j == 0:
                ax.set_ylabel(label)
            if i == 0:
                ax.set_title(wf, fontsize=9)
    fig.suptitle("median over memory sets, SLAs and seeds (bars: min-max)", fontsize=9)
    fig.tight_layout()
    fig.savefig(bars_png, dpi=100)
    plt.close(fig)
    paths.append(bars_png)
    # 2. Pareto front of cost vs makespan per workflow (over configurations' medians when sampled).
    medians, front, per_configuration = pareto_points(ok)
    fig, axes = plt.subplots(1, len(workflows), figsize=(max(5, 4 * len(workflows)), 3.8), squeeze=False)
    for j, wf in enumerate(workflows):
        ax = axes[0][j]
        sub = ok[ok["workflow"] == wf]
        for planner in planners:
            s = sub[sub["planner"] == planner]
            ax.scatter(
                s["cost_gb_s"], s["makespan_ms"], s=14, alpha=0.6, color=colour[planner], label=planner
            )
        if per_configuration:
            m = medians[medians["workflow"] == wf]
            ax.scatter(
                m["cost_gb_s"],
                m["makespan_ms"],
                s=40,
                marker="D",
                color=[colour[p] for p in m["planner"]],
                edgecolor="black",
                linewidth=0.5,
                label="median of a configuration" if j == len(workflows) - 1 else None,
            )
        f = front[front["workflow"] == wf].sort_values("cost_gb_s")
        ax.plot(  # markers too: a front of one point is no line
            f["cost_gb_s"],
            f["makespan_ms"],
            "-o",
            color="black",
            markerfacecolor="none",
            markersize=8,
            lw=1,
            drawstyle="steps-post",
            label="Pareto front" + (" (of the medians)" if per_configuration else ""),
        )
        ax.set_xlabel("cost (GB-s)")
        if j == 0:
            ax.set_ylabel("makespan (ms)")
        ax.set_title(wf, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7)
    if per_configuration:
        fig.suptitle(
            "dots: Monte-Carlo samples; diamonds: each configuration's median (planner, memory set, SLA);"
            " the front is over the medians",
            fontsize=9,
        )
    fig.tight_layout()
    fig.savefig(pareto_png, dpi=100)
    plt.close(fig)
    paths.append(pareto_png)
    return paths
