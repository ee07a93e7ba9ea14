"""WfCommons recipes (wfcommons 1.6, WfChef) as known workflow types, generated offline.

``montage:tasks=1000,seed=1`` asks WfChef's Montage recipe for an instance of at most 1000 tasks. WfChef
counts two virtual nodes (SRC, DST) in its ``num_tasks``; we add them, so ``tasks`` is the real task
count asked for (the result can have a few fewer tasks: WfChef stops when no microstructure fits).
Generation is made deterministic by seeding Python's and NumPy's global generators (restored afterwards);
WfChef's file ids are random UUIDs, but sizes, runtimes and structure depend on the seed only.

Importing wfcommons takes about 3-4 s (scipy.stats, pandas, matplotlib), so each generated instance is
cached as WfFormat JSON under ``$PLANSIM_CACHE_DIR`` or ``~/.cache/plansim/wfcommons/`` keyed by
(recipe, tasks, seed, wfcommons version); later loads take milliseconds and never import wfcommons.
Minimum task counts per recipe are read from the recipe's data files without importing wfcommons.
The rnaseq recipe is left out: it yields no edges.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import random
from functools import cache
from importlib import metadata
from pathlib import Path

from sim.extras import missing_message
from sim.workflow.dag import Workflow, WorkflowError
from sim.workflow.library import Param, WorkflowType, register
from sim.workflow.wfformat import load_wfformat

# our name -> (wfcommons class, recipe folder, description)
RECIPES: dict[str, tuple[str, str, str]] = {
    "montage": ("MontageRecipe", "montage", "WfCommons Montage (astronomy mosaics), from Pegasus traces"),
    "epigenomics": (
        "EpigenomicsRecipe",
        "epigenomics",
        "WfCommons Epigenomics (genome methylation pipeline)",
    ),
    "cycles": ("CyclesRecipe", "cycles", "WfCommons Cycles (agroecosystem simulations)"),
    "seismology": ("SeismologyRecipe", "seismology", "WfCommons Seismology (seismogram deconvolution)"),
    "blast": ("BlastRecipe", "blast", "WfCommons BLAST (split FASTA, parallel blastall, merge)"),
    "bwa": ("BwaRecipe", "bwa", "WfCommons BWA (read alignment, fan-out/fan-in)"),
    "genome": ("GenomeRecipe", "genome", "WfCommons 1000Genome (human genome mutations)"),
    "soykb": ("SoykbRecipe", "soykb", "WfCommons SoyKB (soybean genome resequencing)"),
    "srasearch": ("SrasearchRecipe", "srasearch", "WfCommons SRA search (bowtie2 over SRA runs)"),
}
VIRTUAL_NODES = 2  # SRC and DST, counted by WfChef's num_tasks


def _package_dir() -> Path | None:
    spec = importlib.util.find_spec("wfcommons")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def wfcommons_version() -> str:
    try:
        return metadata.version("wfcommons")
    except metadata.PackageNotFoundError:
        return "missing"


@cache
def min_tasks(recipe: str) -> int:
    """Fewest tasks the recipe can generate (its smallest base graph, less the two virtual nodes)."""
    root = _package_dir()
    if root is None:
        return 1
    summary = root / "wfchef" / "recipes" / RECIPES[recipe][1] / "microstructures" / "summary.json"
    try:
        graphs = json.loads(summary.read_text())["base_graphs"]
        return min(int(g["order"]) for g in graphs.values()) - VIRTUAL_NODES
    except (OSError, KeyError, ValueError):
        return 1


def cache_dir() -> Path:
    base = os.environ.get("PLANSIM_CACHE_DIR")
    if base:
        return Path(base) / "wfcommons"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "plansim" / "wfcommons"


def _cache_file(recipe: str, tasks: int, seed: int) -> Path:
    return cache_dir() / f"{recipe}-t{tasks}-s{seed}-wfc{wfcommons_version()}.json"


def generate_wfformat(recipe: str, tasks: int, seed: int = 0) -> dict:
    """The WfFormat document of a WfChef instance (from the cache when there)."""
    if recipe not in RECIPES:
        raise WorkflowError(f"unknown WfCommons recipe {recipe!r}")
    low = min_tasks(recipe)
    if tasks < low:
        raise WorkflowError(
            f"workflow {recipe!r}: parameter 'tasks' must be >= {low} for this recipe, got {tasks}"
        )
    path = _cache_file(recipe, tasks, seed)
    if path.is_file():
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            pass  # a broken cache entry: regenerate
    if _package_dir() is None:
        raise WorkflowError(missing_message("wfcommons", f"workflow {recipe!r}"))
    doc = _generate(recipe, tasks, seed)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, path)
    except OSError:
        pass  # read-only home: generate every time
    return doc


def _generate(recipe: str, tasks: int, seed: int) -> dict:
    import numpy as np

    logging.getLogger("wfcommons").setLevel(logging.ERROR)
    import wfcommons.wfchef.recipes as recipes  # slow import (scipy.stats, pandas): only on a cache miss

    cls = getattr(recipes, RECIPES[recipe][0])
    py_state, np_state = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed)
    try:
        instance = cls.from_num_tasks(tasks + VIRTUAL_NODES).build_workflow(f"{recipe}-t{tasks}-s{seed}")
        instance.generate_json()
    except ValueError as exc:  # e.g. the closest base graph is larger than the count asked for
        raise WorkflowError(
            f"workflow {recipe!r}: wfcommons cannot generate tasks={tasks}: {exc} "
            f"(the smallest count is {min_tasks(recipe)}; try a larger one)"
        ) from None
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    doc = instance.workflow_json
    for block in ("specification", "execution"):
        doc["workflow"].get(block, {}).pop("metrics", None)
    return doc


def build_recipe(recipe: str, tasks: int, seed: int) -> Workflow:
    doc = generate_wfformat(recipe, tasks, seed)
    wf = load_wfformat(doc, name=recipe)
    wf.recorded_makespan_ms = None  # WfChef writes makespan 0: there was no execution
    wf.meta["generator"] = f"wfcommons {wfcommons_version()} {RECIPES[recipe][0]}"
    return wf


def _register_all() -> None:
    for name, (_, _, description) in RECIPES.items():
        register(
            WorkflowType(
                name=name,
                description=description,
                params={
                    "tasks": Param(max(200, min_tasks(name)), int, "task count (upper bound)", minimum=1),
                    "seed": Param(0, int, "random seed"),
                },
                build=lambda tasks, seed, _name=name: build_recipe(_name, tasks, seed),
                runnable=False,
                aliases=("1000genome",) if name == "genome" else (),
            )
        )


_register_all()
