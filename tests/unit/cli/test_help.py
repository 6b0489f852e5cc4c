"""`paybill --help` lists every command from static summaries, importing none of them."""

from __future__ import annotations

import importlib
import subprocess
import sys

import click
import pytest

from paybill.server.cli.main import LAZY_COMMANDS, SUMMARIES


@pytest.mark.parametrize("name", sorted(LAZY_COMMANDS))
def test_each_summary_is_the_commands_own_short_help(name: str) -> None:
    module, attribute = LAZY_COMMANDS[name].split(":")
    command: click.Command = getattr(importlib.import_module(module), attribute)
    assert SUMMARIES[name] == command.get_short_help_str(limit=80)


def test_help_imports_no_command_and_no_heavy_library() -> None:
    probe = (
        "import sys\n"
        "from paybill.server.cli.main import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "names = ('mcp', 'sqlalchemy', 'pydantic', 'sqlglot', 'casbin',\n"
        "         'paybill.server.cli.serve', 'paybill.server.cli.principal')\n"
        "heavy = [m for m in names if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "HEAVY []" in out
    for name in LAZY_COMMANDS:
        assert f"\n  {name} " in out, out
