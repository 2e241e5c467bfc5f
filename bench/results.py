"""Writes a benchmark's figures into bench/RESULTS.md, one section per benchmark, replacing its previous run."""
from __future__ import annotations

import platform
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

RESULTS = Path(__file__).with_name("RESULTS.md")


def record(title: str, setup: str, figures: Mapping[str, Any]) -> None:
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\nWritten by the scripts in bench/.\n"
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rows = "\n".join(f"| {name} | {value} |" for name, value in figures.items())
    section = (f"## {title}\n\n{setup}\nRun {when} on {platform.machine()}, Python {platform.python_version()}.\n\n"
               f"| figure | value |\n|---|---|\n{rows}\n")
    pattern = re.compile(rf"## {re.escape(title)}\n.*?(?=\n## |\Z)", re.S)
    text = pattern.sub(section.rstrip("\n"), text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text.rstrip("\n") + "\n")
