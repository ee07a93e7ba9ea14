"""The pip requirements of a run: the workflow's ``@task(requirements=...)`` hints plus a requirements.txt.

A function may declare the third-party distributions it imports::

    @task(requirements=["toolz==1.0.0"])
    def count(words):
        import toolz

        return toolz.frequencies(words)

:func:`collect` gathers a run's :class:`RequirementSet`: the union of every function's hints and, when
given, the lines of a requirements.txt (``plansim run --requirements FILE``). Each requirement remembers
where it came from (``function count``, ``reqs.txt:3``) so that errors can name both sides:

* two sources pinning one distribution to versions no single release satisfies (``numpy==1.26`` and
  ``numpy==2.1``) are a :class:`RequirementsError` naming both, raised before anything is started;
* :func:`check_installed` (the process launcher: workers run this interpreter) names every requirement
  this environment lacks or has at another version. It deliberately does not install anything: process
  workers share this interpreter's site-packages with plansim itself, and a run-local target directory
  put in front of them could shadow numpy or cloudpickle with versions that no longer unpickle what the
  client pickled. Docker workers get a derived image instead (:mod:`runtime.req_image`).

The set is normalised (canonical names, sorted, duplicates once), so its :meth:`~RequirementSet.digest`
does not depend on the order functions or lines were declared in; the derived image is tagged by it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from sim.workflow.dag import Workflow

__all__ = [
    "Declared",
    "RequirementSet",
    "RequirementsError",
    "check_installed",
    "collect",
    "conflicts_with",
    "image_environment",
    "read_requirements_file",
]


class RequirementsError(ValueError):
    """A requirement is malformed, conflicts with another, cannot be resolved or is not installed.

    The message is one line naming the requirement(s) and where each was declared.
    """


@dataclass(frozen=True)
class Declared:
    """One requirement and where it was declared (``function NAME``, ``FILE:LINE`` or ``the worker image``)."""

    requirement: Requirement
    source: str

    @property
    def name(self) -> str:
        return canonicalize_name(self.requirement.name)

    def __str__(self) -> str:
        return f"{self.requirement} ({self.source})"


def parse(text: str, source: str) -> Declared:
    """``text`` as a :class:`Declared` requirement, or a :class:`RequirementsError` naming ``source``."""
    try:
        return Declared(Requirement(text.strip()), source)
    except InvalidRequirement as exc:
        raise RequirementsError(f"invalid requirement {text.strip()!r} ({source}): {exc}") from None


def image_environment() -> dict[str, str]:
    """Marker values of the worker image's interpreter (CPython 3.11 on Linux), for ``; markers``."""
    env = dict(default_environment())
    machine = platform.machine()
    env.update(
        python_version="3.11",
        python_full_version="3.11.2",
        implementation_name="cpython",
        platform_python_implementation="CPython",
        sys_platform="linux",
        platform_system="Linux",
        os_name="posix",
        platform_machine={"amd64": "x86_64", "arm64": "aarch64"}.get(machine.lower(), machine),
    )
    return env


@dataclass(frozen=True)
class RequirementSet:
    """The requirements of one run, each with its source; empty when nothing was declared."""

    items: tuple[Declared, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.items)

    def lines(self) -> list[str]:
        """Normalised requirement strings, sorted, each once: what pip is given."""
        return sorted(
            {str(d.requirement) for d in self.items}, key=lambda s: (canonicalize_name(_name(s)), s)
        )

    def digest(self) -> str:
        """12 hex digits of sha256 over :meth:`lines`: the same set gives the same digest in any order."""
        return hashlib.sha256("\n".join(self.lines()).encode()).hexdigest()[:12]

    def applicable(self, environment: dict[str, str] | None = None) -> list[Declared]:
        """The requirements whose markers hold in ``environment`` (default: this interpreter)."""
        return [
            d
            for d in self.items
            if d.requirement.marker is None or d.requirement.marker.evaluate(environment)  # type: ignore[arg-type]
        ]

    def describe(self) -> str:
        return " ".join(self.lines()) or "(none)"


def _name(line: str) -> str:
    return Requirement(line).name


def read_requirements_file(path: str | Path) -> list[Declared]:
    """The requirements of a requirements.txt: one per line, ``#`` comments and blank lines ignored.

    pip options (``-r``, ``-e``, ``--index-url``, ...) are refused with the line that holds them: the
    file must describe *what* to install, the build decides *where from*.
    """
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise RequirementsError(f"cannot read requirements file {file}: {exc.strerror or exc}") from None
    found = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        source = f"{file.name}:{number}"
        if line.startswith("-"):
            raise RequirementsError(
                f"{source}: pip options are not supported here ({line!r}); list packages only"
            )
        found.append(parse(line, source))
    return found


def from_workflow(wf: Workflow) -> list[Declared]:
    """Every function's ``requirements`` hint, once per function, in task order."""
    seen: set[str] = set()
    found = []
    for spec in wf.tasks.values():
        if spec.function in seen:
            continue
        seen.add(spec.function)
        found += [parse(text, f"function {spec.function}") for text in spec.hints.requirements]
    return found


def conflicts_with(a: Declared, b: Declared) -> bool:
    """Whether ``a`` and ``b`` name one distribution and an exact pin of one is outside the other's range.

    Only pins (``==X`` without a wildcard, ``===X``) are compared: two ranges that cannot overlap are
    rare and pip reports them itself when it resolves the set.
    """
    if a.name != b.name:
        return False
    for x, y in ((a, b), (b, a)):
        for spec in x.requirement.specifier:
            if spec.operator in ("==", "===") and not spec.version.endswith(".*"):
                try:
                    Version(spec.version)
                except InvalidVersion:
                    continue
                if not y.requirement.specifier.contains(spec.version, prereleases=True):
                    return True
    return False


def check_conflicts(items: Iterable[Declared], environment: dict[str, str] | None = None) -> None:
    """Raise :class:`RequirementsError` naming the first two sources whose pins cannot both hold."""
    by_name: dict[str, list[Declared]] = {}
    for d in items:
        if d.requirement.marker is not None and not d.requirement.marker.evaluate(environment):  # type: ignore[arg-type]
            continue
        for other in by_name.get(d.name, []):
            if conflicts_with(other, d):
                raise RequirementsError(
                    f"conflicting requirements for {d.requirement.name}: {other.requirement} "
                    f"({other.source}) and {d.requirement} ({d.source})"
                )
        by_name.setdefault(d.name, []).append(d)


def collect(wf: Workflow | None, requirements_file: str | Path | None = None) -> RequirementSet:
    """The run's requirements: the workflow's hints (if any) plus ``requirements_file``; conflicts raise."""
    items = from_workflow(wf) if wf is not None else []
    if requirements_file is not None:
        items += read_requirements_file(requirements_file)
    check_conflicts(items, image_environment())
    return RequirementSet(tuple(items))


def check_installed(reqs: RequirementSet) -> None:
    """Raise :class:`RequirementsError` naming every requirement this interpreter does not satisfy."""
    sources: dict[str, list[str]] = {}
    for d in reqs.applicable():
        sources.setdefault(str(d.requirement), []).append(d.source)
    problems, unmet = [], []
    for line, where in sources.items():
        requirement = Requirement(line)
        try:
            found = f"finds {requirement.name} {importlib.metadata.version(requirement.name)}"
            if requirement.specifier.contains(importlib.metadata.version(requirement.name), prereleases=True):
                continue
        except importlib.metadata.PackageNotFoundError:
            found = "is not installed"
        problems.append(f"{line} ({', '.join(where)}) {found}")
        unmet.append(f"'{line}'")
    if problems:
        raise RequirementsError(
            f"process workers run this Python, where {'; '.join(problems)}: pip install {' '.join(unmet)} "
            "here, or use --launcher docker (a derived worker image gets them)"
        )
