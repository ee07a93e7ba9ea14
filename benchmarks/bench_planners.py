"""Benchmark: every planner on every known workflow type, judged by the simulator.

For each workflow type (``sim.workflow.library`` when it is there, else built-in stand-ins shaped like the
reference workflows) and each planner: simulated makespan, cost and bytes moved. Per planner: the worst
ratio to the best planner, on makespan and on cost, and where it happens. Then whether the ``sim-search``
goals of issue #6 are met:

1. ``sim-search`` is never worse than the best other planner on any workflow type (on its objective,
   makespan);
2. it beats HEFT by at least 10 % on makespan or cost on at least half of the types.

Run from the project root: ``PYTHONPATH=. .venv/bin/python benchmarks/bench_planners.py [--out results.csv]``
(``PYTHONPATH=.`` so a worktree's sources win over an installed copy).
"""

from __future__ import annotations

import argparse
import csv
import random
import re
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sim.planners import PLANNERS, PlannerConfig, get_planner
from sim.workflow.dag import TaskSpec, Workflow, WorkflowError

# -- stand-in workflow types (used when sim.workflow.library is not available) ------------------------

MB = 1_000_000


class _Builder:
    def __init__(self, name: str, seed: int) -> None:
        self.wf = Workflow(name)
        self.rng = random.Random(seed)

    def task(self, tid: str, function: str, runtime_ms: float, out_bytes: int, jitter: float = 0.3) -> str:
        rt = runtime_ms * (1 + self.rng.uniform(-jitter, jitter))
        self.wf.add_task(
            TaskSpec(id=tid, function=function, runtime_ms=round(rt, 1), output_bytes=int(out_bytes))
        )
        return tid

    def edge(self, u: str, v: str) -> None:
        self.wf.add_edge(u, v, self.wf.task(u).output_bytes or 0)

    def done(self) -> Workflow:
        for t in self.wf.graph:
            self.wf.task(t).inputs = tuple(self.wf.graph.predecessors(t))
        return self.wf.validate()


def tree_reduction(leaves: int = 32) -> Workflow:
    b = _Builder("tree_reduction", 1)
    level = [b.task(f"leaf-{i}", "leaf", 50, 1 * MB) for i in range(leaves)]
    k = 0
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level), 2):
            t = b.task(f"add-{k}", "add", 120, 1 * MB)
            k += 1
            for u in level[i : i + 2]:
                b.edge(u, t)
            nxt.append(t)
        level = nxt
    return b.done()


def gemm(blocks: int = 4) -> Workflow:
    b = _Builder("gemm", 2)
    split = b.task("split-0", "split", 300, 8 * MB)
    adds = []
    for i in range(blocks):
        for j in range(blocks):
            add = b.task(f"add-{i * blocks + j}", "add", 150, 1 * MB)
            for k in range(blocks):
                m = b.task(f"mult-{(i * blocks + j) * blocks + k}", "mult", 900, 1 * MB)
                b.edge(split, m)
                b.edge(m, add)
            adds.append(add)
    sink = b.task("assemble-0", "assemble", 200, 16 * MB)
    for a in adds:
        b.edge(a, sink)
    return b.done()


def text_analysis(parts: int = 8) -> Workflow:
    b = _Builder("text_analysis", 3)
    split = b.task("split-0", "split", 200, 20 * MB)
    merges = []
    for i in range(parts):
        tok = b.task(f"tokenize-{i}", "tokenize", 700, 3 * MB, jitter=0.6)
        cnt = b.task(f"count-{i}", "count", 400, 200_000, jitter=0.6)
        sen = b.task(f"sentiment-{i}", "sentiment", 1200, 50_000, jitter=0.6)
        b.edge(split, tok)
        b.edge(tok, cnt)
        b.edge(tok, sen)
        merges += [cnt, sen]
    merge = b.task("merge-0", "merge", 150, 500_000)
    for m in merges:
        b.edge(m, merge)
    rep = b.task("report-0", "report", 80, 100_000)
    b.edge(merge, rep)
    return b.done()


def image_transformer(images: int = 12) -> Workflow:
    b = _Builder("image_transformer", 4)
    load = b.task("load-0", "load", 150, 24 * MB)
    outs = []
    for i in range(images):
        r = b.task(f"resize-{i}", "resize", 300, 2 * MB, jitter=0.5)
        f = b.task(f"filter-{i}", "filter", 600, 2 * MB, jitter=0.5)
        c = b.task(f"compress-{i}", "compress", 250, 500_000, jitter=0.5)
        b.edge(load, r)
        b.edge(r, f)
        b.edge(f, c)
        outs.append(c)
    g = b.task("gather-0", "gather", 100, 6 * MB)
    for c in outs:
        b.edge(c, g)
    return b.done()


def montage(n: int = 10) -> Workflow:
    b = _Builder("montage", 5)
    proj = [b.task(f"project-{i}", "project", 800, 4 * MB) for i in range(n)]
    diffs = []
    for i in range(n - 1):
        d = b.task(f"diff-{i}", "diff", 300, 100_000)
        b.edge(proj[i], d)
        b.edge(proj[i + 1], d)
        diffs.append(d)
    concat = b.task("concat-0", "concat", 100, 200_000)
    for d in diffs:
        b.edge(d, concat)
    model = b.task("bgmodel-0", "bgmodel", 500, 50_000)
    b.edge(concat, model)
    bgs = []
    for i in range(n):
        bg = b.task(f"background-{i}", "background", 400, 4 * MB)
        b.edge(model, bg)
        b.edge(proj[i], bg)
        bgs.append(bg)
    add = b.task("add-0", "add", 1500, 30 * MB)
    for bg in bgs:
        b.edge(bg, add)
    shrink = b.task("shrink-0", "shrink", 400, 3 * MB)
    b.edge(add, shrink)
    b.edge(shrink, b.task("jpeg-0", "jpeg", 200, 1 * MB))
    return b.done()


def map_shuffle(maps: int = 32, reducers: int = 4) -> Workflow:
    b = _Builder("map_shuffle", 6)
    split = b.task("split-0", "split", 100, 16 * MB)
    ms = []
    for i in range(maps):
        m = b.task(f"map-{i}", "map", 500, 800_000, jitter=0.5)
        b.edge(split, m)
        ms.append(m)
    rs = []
    for j in range(reducers):
        r = b.task(f"reduce-{j}", "reduce", 300, 100_000)
        for m in ms:
            b.wf.add_edge(m, r, 800_000 // reducers)
        rs.append(r)
    final = b.task("final-0", "final", 50, 10_000)
    for r in rs:
        b.edge(r, final)
    return b.done()


def chain(n: int = 8) -> Workflow:
    b = _Builder("chain", 7)
    prev = None
    for i in range(n):
        t = b.task(f"step-{i}", "step", 250, 5 * MB)
        if prev:
            b.edge(prev, t)
        prev = t
    return b.done()


def random_layered(seed: int = 8, layers: int = 6, width: int = 6) -> Workflow:
    b = _Builder("random_layered", seed)
    rng = random.Random(seed)
    prev: list[str] = []
    k = 0
    for layer in range(layers):
        cur = []
        for _ in range(rng.randint(1, width) if 0 < layer < layers - 1 else 1):
            t = b.task(
                f"f{layer}-{k}",
                f"f{layer}",
                rng.choice([50, 200, 800, 1500]),
                rng.choice([10_000, MB, 5 * MB]),
            )
            k += 1
            for p in rng.sample(prev, min(len(prev), rng.randint(1, 3))) if prev else []:
                b.edge(p, t)
            cur.append(t)
        prev = cur + [p for p in prev if not b.wf.children(p) and rng.random() < 0.5]
    sink = b.task("sink-0", "sink", 50, 1000)
    for t in list(b.wf.graph):
        if t != sink and not b.wf.children(t):
            b.edge(t, sink)
    return b.done()


STAND_INS = {
    "tree_reduction": tree_reduction,
    "gemm": gemm,
    "text_analysis": text_analysis,
    "image_transformer": image_transformer,
    "montage": montage,
    "map_shuffle": map_shuffle,
    "chain": chain,
    "random_layered": random_layered,
}


def known_workflows(max_tasks: int = 60, stand_ins: bool = False) -> dict[str, Workflow]:
    """The known workflow types: ``sim.workflow.library`` (trace-based types capped at ``max_tasks``
    tasks to keep the benchmark short), else the built-in stand-ins."""
    try:
        from sim.workflow.library import workflow_types
    except ImportError:
        stand_ins = True
    if stand_ins:
        return {name: fn() for name, fn in STAND_INS.items()}
    out = {}
    for name, wtype in workflow_types().items():
        overrides = {"tasks": max_tasks} if "tasks" in wtype.params else {}
        try:
            out[name] = wtype.make(**overrides)
        except WorkflowError as exc:  # some recipes need more tasks: take their minimum
            low = re.search(r">= (\d+)", str(exc))
            if not low:
                raise
            out[name] = wtype.make(tasks=int(low.group(1)))
    return out


# -- the benchmark ----------------------------------------------------------------------------------

# Deterministic budgets (no wall-clock cap), so the numbers do not depend on the machine's load.
SEARCH = "sim-search:max_seconds=none"
VARIANTS = (  # extra rows, not part of goal 1: placement alone, and trading <= 5% makespan for cost
    "sim-search:max_seconds=none:max_simulations=100:toggle_optimizations=false",
    "sim-search:max_seconds=none:max_simulations=100:objective=cost-under-sla:deadline_slack=0.05",
)


def run(workflows: dict[str, Workflow], planners: list[str], config: PlannerConfig) -> list[dict]:
    rows = []
    for wname, wf in workflows.items():
        for pname in planners:
            planner = get_planner(pname, config)
            print(f"{wname} {pname} ...", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            plan = planner.plan(wf)
            planning_ms = (time.perf_counter() - t0) * 1e3
            out = planner.simulate(plan).output
            rows.append(
                {
                    "workflow": wname,
                    "tasks": len(wf),
                    "planner": pname,
                    "makespan_ms": round(out.makespan_ms, 3),
                    "cost_gb_s": round(out.cost_gb_s, 6),
                    "alloc_gb_s": round(out.alloc_gb_s, 6),
                    "bytes_uploaded": out.bytes_uploaded,
                    "bytes_downloaded": out.bytes_downloaded,
                    "bytes_moved": out.bytes_uploaded + out.bytes_downloaded,
                    "workers": len(out.workers),
                    "cold_starts": out.cold_starts,
                    "planning_ms": round(planning_ms, 1),
                    "start": getattr(getattr(planner, "start", None), "source", ""),
                }
            )
    for wname in workflows:
        mine = [r for r in rows if r["workflow"] == wname]
        best_ms = min(r["makespan_ms"] for r in mine)
        best_cost = min(r["cost_gb_s"] for r in mine)
        for r in mine:
            r["makespan_ratio"] = round(r["makespan_ms"] / best_ms, 4)
            r["cost_ratio"] = round(r["cost_gb_s"] / best_cost, 4)
    return rows


def goals(
    rows: list[dict], workflows: list[str], searches: list[str]
) -> tuple[bool, dict[str, int], list[str]]:
    """Goal 1: the main sim-search never slower than the best other planner. Goal 2, for each sim-search
    row: on how many types it beats HEFT by >= 10% on makespan or cost (the simulator's ``cost_gb_s``,
    the same definition for every planner)."""
    notes = []
    never_worse = True
    beats = dict.fromkeys(searches, 0)
    for w in workflows:
        by = {r["planner"]: r for r in rows if r["workflow"] == w}
        others = [r for p, r in by.items() if not p.startswith("sim-search")]
        best_other = min(others, key=lambda r: r["makespan_ms"])
        s = by[SEARCH]
        if s["makespan_ms"] > best_other["makespan_ms"] * (1 + 1e-9):
            never_worse = False
            notes.append(
                f"{w}: sim-search {s['makespan_ms']:.1f} ms > {best_other['planner']} "
                f"{best_other['makespan_ms']:.1f} ms"
            )
        for name in searches:
            beats[name] += vs_heft(by[name], by["heft"])[2]
    return never_worse, beats, notes


def vs_heft(r: dict, heft: dict) -> tuple[float, float, bool]:
    """Makespan and cost of ``r`` relative to HEFT's (-0.12 = 12 % less), and whether either is <= -10 %."""
    d_ms = r["makespan_ms"] / heft["makespan_ms"] - 1
    d_cost = r["cost_gb_s"] / heft["cost_gb_s"] - 1
    return d_ms, d_cost, d_ms <= -0.10 or d_cost <= -0.10


def heft_table(rows: list[dict], workflows: list[str], search: str) -> Table:
    """Per workflow type: HEFT and sim-search makespan and cost, the differences, and whether the goal
    (>= 10 % less makespan or cost than HEFT) holds. Cost is ``cost_gb_s`` (each worker's memory times
    its life), the same definition for every planner; ``alloc`` is the provider's side (every container
    including idle and pre-warmed ones until their keep-alive ends), shown so that a cost gain bought
    with idle containers would be visible."""
    table = Table(
        title=f"{_short(search).replace(chr(10), ' ')} against HEFT (negative = sim-search better)",
        title_justify="left",
    )
    for col in (
        "workflow",
        "HEFT ms",
        "HEFT GB-s",
        "search ms",
        "search GB-s",
        "d makespan",
        "d cost",
        ">= 10%",
        "HEFT alloc",
        "search alloc",
        "started from",
    ):
        table.add_column(col, justify="left" if col in ("workflow", "started from") else "right")
    for w in workflows:
        by = {r["planner"]: r for r in rows if r["workflow"] == w}
        h, s = by["heft"], by[search]
        d_ms, d_cost, won = vs_heft(s, h)
        table.add_row(
            w,
            f"{h['makespan_ms']:.0f}",
            f"{h['cost_gb_s']:.2f}",
            f"{s['makespan_ms']:.0f}",
            f"{s['cost_gb_s']:.2f}",
            f"{100 * d_ms:+.1f}%",
            f"{100 * d_cost:+.1f}%",
            "yes" if won else "no",
            f"{h['alloc_gb_s']:.2f}",
            f"{s['alloc_gb_s']:.2f}",
            s["start"],
        )
    return table


def _short(spec: str) -> str:
    return spec.replace(":max_seconds=none", "").replace(":", "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="benchmarks/results/bench_planners.csv")
    default = [p for p in PLANNERS if p != "sim-search"] + [SEARCH, *VARIANTS]
    ap.add_argument("--planners", default=",".join(default))
    ap.add_argument("--workflows", default="", help="comma-separated subset of workflow types")
    ap.add_argument("--max-tasks", type=int, default=60, help="size of the trace-based (WfCommons) types")
    ap.add_argument("--stand-ins", action="store_true", help="the built-in stand-in shapes, not the library")
    ap.add_argument("--opt", default="", help="optimizations switched on for every planner (comma-separated)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    workflows = known_workflows(args.max_tasks, args.stand_ins)
    if args.workflows:
        workflows = {k: v for k, v in workflows.items() if k in set(args.workflows.split(","))}
    planners = [p for p in args.planners.split(",") if p]
    opts = frozenset(o.strip() for o in args.opt.split(",") if o.strip())
    rows = run(workflows, planners, PlannerConfig(optimizations=opts))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    console = Console(width=220)
    table = Table(
        title="makespan ms / cost GB-s / MB moved (best makespan and cost in bold)", title_justify="left"
    )
    table.add_column("workflow (tasks)")
    for p in planners:
        table.add_column(p.replace(":objective=", "\n"), justify="right")
    for w, wf in workflows.items():
        by = {r["planner"]: r for r in rows if r["workflow"] == w}
        cells = []
        for p in planners:
            r = by[p]
            ms = f"{r['makespan_ms']:.0f}"
            cost = f"{r['cost_gb_s']:.1f}"
            ms = f"[bold]{ms}[/]" if r["makespan_ratio"] == 1 else ms
            cost = f"[bold]{cost}[/]" if r["cost_ratio"] == 1 else cost
            cells.append(f"{ms}\n{cost}\n{r['bytes_moved'] / 1e6:.0f} MB")
        table.add_row(f"{w} ({len(wf)})", *cells)
    console.print(table)

    worst = Table(title="worst-case ratio to the best planner (and where)", title_justify="left")
    for col in ("planner", "makespan ratio", "where", "cost ratio", "where ", "wins (makespan/cost)"):
        worst.add_column(col, justify="right" if "ratio" in col else "left")
    for p in planners:
        mine = [r for r in rows if r["planner"] == p]
        wm = max(mine, key=lambda r: r["makespan_ratio"])
        wc = max(mine, key=lambda r: r["cost_ratio"])
        wins_m = sum(r["makespan_ratio"] == 1 for r in mine)
        wins_c = sum(r["cost_ratio"] == 1 for r in mine)
        worst.add_row(
            _short(p).replace("\n", " "),
            f"{wm['makespan_ratio']:.3f}",
            wm["workflow"],
            f"{wc['cost_ratio']:.3f}",
            wc["workflow"],
            f"{wins_m}/{wins_c}",
        )
    console.print(worst)

    if SEARCH in planners and "heft" in planners:
        searches = [p for p in planners if p.startswith("sim-search")]
        never_worse, beats, notes = goals(rows, list(workflows), searches)
        console.print(heft_table(rows, list(workflows), SEARCH))
        for n in notes:
            console.print(f"  {n}")
        n = len(workflows)
        console.print(
            f"goal 1 (sim-search never worse than the best other planner on makespan): "
            f"{'MET' if never_worse else 'NOT MET'}"
        )
        console.print(
            f"goal 2 (sim-search beats HEFT by >= 10% on makespan or cost on >= half the types): "
            f"{'MET' if beats[SEARCH] * 2 >= n else 'NOT MET'} ({beats[SEARCH]}/{n})"
        )
        for name in searches[1:]:
            console.print(
                f"  variant {_short(name).replace(chr(10), ' ')}: beats HEFT by >= 10% on {beats[name]}/{n}"
            )
    console.print(f"{len(rows)} runs in {time.perf_counter() - t0:.1f} s; CSV: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
