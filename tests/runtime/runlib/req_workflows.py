"""Workflows whose tasks need pip requirements (the derived worker image tests).

``six`` is not in the worker image nor in the test environment: only a worker with the derived image can
run :func:`shout`. Its functions are defined here, not in the test, so that they pickle by value.
"""

from __future__ import annotations

from sim.workflow.dag import Workflow
from sim.workflow.language import task

SIX = "six==1.16.0"


@task(requirements=[SIX])
def shout(word):
    import six

    return f"{six.ensure_str(word).upper()} six {six.__version__}"


@task
def join(*parts):
    return " / ".join(parts)


def shouting() -> Workflow:
    """Two ``shout`` tasks joined: ``HELLO six 1.16.0 / WORLD six 1.16.0``."""
    return Workflow.from_nodes(join(shout("hello"), shout(b"world")), name="shouting")


@task(requirements=["numpy==1.26.4"])
def old_numpy(x):
    return x


@task(requirements=["numpy==2.1.0"])
def new_numpy(x):
    return x


def conflicting() -> Workflow:
    """Two functions pinning numpy to different releases."""
    return Workflow.from_nodes(new_numpy(old_numpy(1)), name="conflicting")
