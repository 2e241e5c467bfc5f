"""Reading the files in deploy/ as the tools that use them do."""
from __future__ import annotations

import configparser
import shlex
import sys
from pathlib import Path
from typing import Any

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
README = DEPLOY.parent / "README.md"
VENV_BIN = Path(sys.executable).parent
INSTALLED_BIN = "/opt/abonne/venv/bin"  # where the units expect abonne (README, "Going to production")


def read_unit(name: str) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    unit.optionxform = str  # systemd keys are case-sensitive
    unit.read_string((DEPLOY / name).read_text())
    return unit


def commands(name: str) -> list[list[str]]:
    """The unit's ExecStartPre and ExecStart command lines."""
    service = read_unit(name)["Service"]
    return [shlex.split(service[key]) for key in ("ExecStartPre", "ExecStart") if key in service]


def gunicorn_settings() -> dict[str, Any]:
    """deploy/gunicorn.conf.py's names, as gunicorn reads the file (by running it)."""
    names: dict[str, Any] = {}
    exec(compile((DEPLOY / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), names)
    return names


def readme_command(starts: str) -> str:
    """The one command line in the README's code blocks that starts with `starts`."""
    found, in_block = [], False
    for line in README.read_text().splitlines():
        if line.lstrip().startswith("```"):
            in_block = not in_block
        elif in_block and line.lstrip().startswith(starts):
            found.append(line.strip())
    [command] = found
    return command
