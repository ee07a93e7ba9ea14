"""clock.Environment's queue of events triggered now and its delay line must not change the order
events fire in.

``Clock.fire`` puts a timer triggered now in a first-in first-out queue beside the heap,
``Clock.after_line`` one of the environment's ``line_delay`` from now on its delay line, and
``clock.run`` (or SimPy's own ``step`` through ``Environment._to_heap``) takes whichever head has the
smallest ``(time, priority, id)`` key. These tests drive the same random mix of timers, urgent events,
fired timers, ids taken early and pushed later, and plain SimPy events through a ``clock.Environment``
and through a plain ``simpy.Environment`` (where fired timers and the line's go on the heap, the order SimPy
itself defines) and require the same sequence of (time, event).
"""

from __future__ import annotations

import random

import pytest
import simpy

from sim.engine import clock

LINE_DELAY = 0.5


def scenario(
    env: simpy.Environment, seed: int, until: float | None = None, places: list[tuple] | None = None
) -> list[tuple]:
    """Fire a random cascade of events on ``env``; returns what happened, in order (and appends each
    event's :meth:`clock.Environment.place` to ``places``)."""
    rng = random.Random(seed)
    clk = clock.Clock(env)
    log: list[tuple] = []
    made = 0

    def fired(name: str):  # noqa: ANN202 - a callback
        def callback(_event: object) -> None:
            log.append((env.now, name))
            if places is not None:
                places.append(env.place())
            if len(log) < 400:
                for _ in range(rng.randint(0, 3)):
                    schedule()

        return callback

    def schedule() -> None:
        nonlocal made
        made += 1
        name = f"e{made}"
        kind = rng.randrange(8)
        if kind == 0:
            clk.after(rng.choice([0.0, 0.0, 1.0, 2.5])).callbacks.append(fired(name + ".after"))
        elif kind == 1:  # triggered now: the queue beside the heap
            timer = clock.Timer()
            timer.callbacks.append(fired(name + ".fire"))
            clk.fire(timer)
        elif kind == 2:
            clk.urgent().callbacks.append(fired(name + ".urgent"))
        elif kind == 3:  # an id taken now, queued later (as batched worker starts do)
            eid = clk.next_id()
            timer = clock.Timer()
            timer.callbacks.append(fired(name + ".push"))
            clk.push(env.now + rng.choice([0.0, 1.0]), eid, timer)
        elif kind == 4:  # an ordinary SimPy event, on the heap
            ev = env.event()
            ev.callbacks.append(fired(name + ".event"))
            ev.succeed()
        elif kind == 5:
            env.timeout(rng.choice([0.0, 1.5])).callbacks.append(fired(name + ".timeout"))
        else:  # the delay line (LINE_DELAY), or another delay (the heap)
            timer = clock.Timer()
            timer.callbacks.append(fired(name + ".line"))
            clk.after_line(timer, LINE_DELAY if kind == 6 else rng.choice([0.0, 1.0]))

    for _ in range(8):
        schedule()
    if until is None:
        clock.run(env)
    else:
        env.run(until=until)
    return log


@pytest.mark.parametrize("seed", range(40))
def test_clock_run_fires_in_the_order_of_one_heap(seed: int) -> None:
    want = scenario(simpy.Environment(), seed)
    got = scenario(clock.Environment(line_delay=LINE_DELAY), seed)
    assert any(".fire" in e[1] for e in got)  # the queue beside the heap was used
    assert any(".line" in e[1] for e in got)  # and the delay line
    assert got == want


@pytest.mark.parametrize("seed", range(20))
def test_simpys_own_loop_fires_in_the_order_of_one_heap(seed: int) -> None:
    want = scenario(simpy.Environment(), seed, until=3.0)
    got = scenario(clock.Environment(line_delay=LINE_DELAY), seed, until=3.0)
    assert got == want


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("until", [None, 3.0])
def test_places_sort_the_events_in_the_order_they_fire(seed: int, until: float | None) -> None:
    # An urgent event made while another event of its time is processed fires after that one, though
    # its key sorts before it: its place must not (the simulator sorts its uploads by place).
    places: list[tuple] = []
    log = scenario(clock.Environment(line_delay=LINE_DELAY), seed, until, places)
    assert any(".urgent" in e[1] for e in log) and len(places) == len(log)
    assert all(a < b for a, b in zip(places, places[1:], strict=False)), places
