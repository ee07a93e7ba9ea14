"""Every option of every ``plansim`` command says what it is, and what it is when not given.

Found by tour10 reading each --help: `simulate --seed` and `dashboard --port` had no text at all, and
`run --sla`, `--memory` and `--models` said neither their default nor what an absent value means (the
planner's average, 2048,4096,8192 and the built-in models, as simulate says for the same options)."""

from __future__ import annotations

import click
import pytest

from sim.cli import OutputFile, main


def _commands(group: click.Group, ctx: click.Context, prefix: str = ""):
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, ctx, f"{prefix}{name} ")
        elif cmd is not None:
            yield f"{prefix}{name}", cmd


COMMANDS = dict(_commands(main, click.Context(main)))


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_says_what_it_is_and_its_default(name: str) -> None:
    for param in COMMANDS[name].params:
        if not isinstance(param, click.Option) or param.name == "help":
            continue
        opt = f"plansim {name} {param.opts[0]}"
        assert param.help, f"{opt} has no help text"
        if param.is_flag or param.required or param.multiple or isinstance(param.type, OutputFile):
            continue  # (a file to write: not written when not given)
        if param.help.lower().startswith(("also ", "write ")):
            continue  # something extra, done only when asked
        # a default shown by click, or the help saying what an absent value means
        said = param.show_default or any(
            w in param.help.lower() for w in ("default", "otherwise", "without", "instead of")
        )
        assert said, f"{opt}: neither its default nor what leaving it out means ({param.help!r})"
