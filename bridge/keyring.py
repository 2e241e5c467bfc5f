"""Which secret keys are in force: the current one, and older ones still accepted while a rotation runs.

The key either comes from ABONNE_SECRET_KEY (with ABONNE_PREVIOUS_SECRET_KEYS: fixed for the life of the process)
or from the instance key file, which `abonne secrets rotate` rewrites. Processes that read the file notice a
rewrite on their next use of a key, so web and workers keep working through a rotation without a restart.

Key file format, one entry per line:

    <current key>
    previous <key>                  a rotation is under way: decrypts stored secrets and verifies links
    links-until <unix seconds> <key>  a retired key: verifies customer links it signed, until then; never decrypts
"""
from __future__ import annotations

import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class KeyFileError(Exception):
    """The key file cannot be read as a key file; the message names the file and the line."""


@dataclass(frozen=True)
class Keys:
    current: str
    previous: tuple[str, ...] = ()  # accepted for decryption and link verification
    link_only: tuple[tuple[int, str], ...] = ()  # (valid until, key): verifies links signed before a rotation

    def decryption_keys(self) -> tuple[str, ...]:
        return (self.current, *self.previous)

    def link_keys(self, now: int) -> tuple[str, ...]:
        """Keys that verify a customer link at `now` (Unix seconds), the signing key first."""
        return (self.current, *self.previous, *(key for until, key in self.link_only if now <= until))


class KeySource(Protocol):
    def keys(self) -> Keys: ...


class StaticKeys:
    """Keys fixed for the life of the process (the environment, or a test)."""

    def __init__(self, keys: Keys):
        self._keys = keys

    def keys(self) -> Keys:
        return self._keys


class KeyFile:
    """The instance key file, read again whenever it was replaced (a stat per use: cheap beside a decryption)."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._keys: Keys | None = None

    def keys(self) -> Keys:
        stat = os.stat(self.path)
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if stamp != self._seen or self._keys is None:
                self._keys = parse_key_file(self.path.read_text(), self.path)
                self._seen = stamp
            return self._keys


def new_key() -> str:
    return secrets.token_urlsafe(48)


def parse_key_file(text: str, path: Path) -> Keys:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or " " in lines[0]:
        raise KeyFileError(f"{path}: the first line must be the current secret key")
    previous: list[str] = []
    link_only: list[tuple[int, str]] = []
    for number, line in enumerate(lines[1:], start=2):
        words = line.split()
        if words[0] == "previous" and len(words) == 2:
            previous.append(words[1])
        elif words[0] == "links-until" and len(words) == 3 and words[1].isdigit():
            link_only.append((int(words[1]), words[2]))
        else:
            raise KeyFileError(f"{path} line {number}: expected 'previous <key>' or "
                               "'links-until <unix seconds> <key>'")
    return Keys(lines[0], tuple(previous), tuple(link_only))


def format_key_file(keys: Keys) -> str:
    return "".join([f"{keys.current}\n", *(f"previous {key}\n" for key in keys.previous),
                    *(f"links-until {until} {key}\n" for until, key in keys.link_only)])


def write_key_file(path: Path, keys: Keys) -> None:
    """Replace the key file atomically (write, fsync, rename, fsync the folder): a crash leaves the old file or
    the new one, never a torn one. Readable by the owner only."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(format_key_file(keys))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
