"""The zips of abonne's shop-side modules, the same bytes for the same sources.

Each file is stamped with a time derived from its content: a rebuild of the same sources is byte for byte the same
zip, and a changed file gets another time. A fixed time for every file would not do: installers keep the zip's
times, and PHP's OPcache, which compares them, would go on running the old code after an upgrade.
"""
from __future__ import annotations

import hashlib
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

EPOCH = datetime(2020, 1, 1)
SPAN_SECONDS = 10 * 365 * 86400


def content_time(data: bytes) -> tuple[int, int, int, int, int, int]:
    moment = EPOCH + timedelta(seconds=int.from_bytes(hashlib.sha256(data).digest()[:8], "big") % SPAN_SECONDS)
    return moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second - moment.second % 2


def write_zip(output: Path, files: list[tuple[str, bytes]], folders: list[str] = ()) -> Path:
    """`folders` (names ending in "/") get their own entries first, for installers that expect them."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in folders:
            entry = zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0))
            entry.external_attr = (0o40755 << 16) | 0x10
            archive.writestr(entry, b"")
        for name, data in files:
            entry = zipfile.ZipInfo(name, content_time(data))
            entry.external_attr = 0o100644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, data)
    return output
