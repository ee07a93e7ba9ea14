"""Workflows: the ``@task`` language, the DAG model, WfFormat I/O and the library of known types."""

from sim.workflow.dag import TaskCall, TaskSpec, Workflow, WorkflowError
from sim.workflow.language import (
    IORelation,
    Item,
    Ref,
    TaskFunction,
    TaskHints,
    TaskNode,
    constant,
    fan_out,
    linear,
    power,
    task,
)
from sim.workflow.library import WorkflowType, get_type, load_workflow, workflow_types
from sim.workflow.local import run_local
from sim.workflow.wfformat import load_wfformat, to_wfformat, validate_wfformat, write_wfformat

__all__ = [
    "IORelation",
    "Item",
    "Ref",
    "TaskCall",
    "TaskFunction",
    "TaskHints",
    "TaskNode",
    "TaskSpec",
    "Workflow",
    "WorkflowError",
    "WorkflowType",
    "constant",
    "fan_out",
    "get_type",
    "load_wfformat",
    "load_workflow",
    "run_local",
    "to_wfformat",
    "validate_wfformat",
    "workflow_types",
    "write_wfformat",
    "linear",
    "power",
    "task",
]
