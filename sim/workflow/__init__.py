"""Workflows: the ``@task`` language, the DAG model, WfFormat I/O and the library of known types."""

from sim.workflow.dag import TaskCall, TaskSpec, Workflow, WorkflowError
from sim.workflow.language import (
    IORelation,
    Ref,
    TaskFunction,
    TaskHints,
    TaskNode,
    constant,
    linear,
    power,
    task,
)

__all__ = [
    "IORelation",
    "Ref",
    "TaskCall",
    "TaskFunction",
    "TaskHints",
    "TaskNode",
    "TaskSpec",
    "Workflow",
    "WorkflowError",
    "constant",
    "linear",
    "power",
    "task",
]
