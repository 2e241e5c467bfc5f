"""A stand-in served from a child process (so it does not share the benchmark's interpreter lock), driven by one
JSON line per command over its stdin and stdout."""
from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


class Child:
    def __init__(self, script: str, *args: str):
        self.process = subprocess.Popen([sys.executable, script, "--serve-standin", *args], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        self.hello = self._read()

    def _read(self) -> Any:
        return json.loads(self.process.stdout.readline())

    def ask(self, command: str) -> Any:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._read()

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)
