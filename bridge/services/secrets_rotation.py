"""`abonne secrets rotate`: every stored secret re-encrypted under a new key, in one transaction.

With the instance key file, in four steps, each leaving every secret readable if the process dies after it:
1. check that every stored secret decrypts with the keys in force (nothing is touched otherwise);
2. write the key file atomically with a new current key and the old one as `previous`: from their next use of a
   key, running processes encrypt with the new key and still decrypt with the old one;
3. re-encrypt in one transaction (rolled back whole on any error), then again for anything a process that had
   not yet seen the new key wrote meanwhile, until nothing is left under an old key;
4. write the key file without the old key, kept only as `links-until` so customer links it signed keep
   working until they expire (or not at all with `revoke_links`).
With ABONNE_SECRET_KEY the environment holds the keys, which a command cannot change: only step 3 runs, under
ABONNE_SECRET_KEY with ABONNE_PREVIOUS_SECRET_KEYS accepted.
"""
from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography.fernet import InvalidToken, MultiFernet
from sqlalchemy import Column, Connection, Table, bindparam, select, update

from bridge.keyring import KeyFile, Keys, new_key, write_key_file
from bridge.store.db import Database
from bridge.store.tables import Base
from bridge.vault import fernet_for

BATCH = 500
MAX_PASSES = 5  # passes after the first that find values written under an old key by a process not yet aware


class RotationError(Exception):
    """The rotation cannot run or finish; the message says why and what is still in force."""


@dataclass
class RotationReport:
    rewritten: dict[str, int] = field(default_factory=dict)  # "table.column" -> values re-encrypted
    finished_earlier_rotation: bool = False
    links_valid_until: datetime | None = None

    @property
    def total(self) -> int:
        return sum(self.rewritten.values())


def encrypted_columns() -> list[tuple[Table, Column]]:
    """Every column holding a Fernet token: by the schema's naming rule, so a new one cannot be forgotten."""
    return [(table, column) for table in Base.metadata.sorted_tables for column in table.columns
            if column.name.endswith("_encrypted")]


def _batches(connection: Connection, table: Table, column: Column, lock: bool) -> Iterator[list[tuple[int, str]]]:
    (key,) = table.primary_key.columns
    last = None
    while True:
        query = select(key, column).where(column != "").order_by(key).limit(BATCH)
        if last is not None:
            query = query.where(key > last)
        if lock and connection.dialect.name == "postgresql":
            query = query.with_for_update()  # a concurrent writer of these rows waits for the commit
        rows = [(row[0], row[1]) for row in connection.execute(query)]
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def unreadable(db: Database, keys: Keys) -> list[str]:
    """Stored secrets that none of `keys` decrypts, named "table row id"."""
    fernet = fernet_for(keys.decryption_keys())
    found = []
    with db.read_engine.connect() as connection:
        for table, column in encrypted_columns():
            for rows in _batches(connection, table, column, lock=False):
                for row_id, token in rows:
                    try:
                        fernet.decrypt(token.encode())
                    except InvalidToken:
                        found.append(f"{table.name} row {row_id}")
    return found


def reencrypt(db: Database, keys: Keys) -> dict[str, int]:
    """One transaction: every value not readable with the current key alone is re-encrypted under it. Raises
    RotationError (and writes nothing) if a value is readable with none of the keys."""
    current_only = fernet_for((keys.current,))
    every = fernet_for(keys.decryption_keys())
    counts: dict[str, int] = {}
    with db.engine.begin() as connection:
        for table, column in encrypted_columns():
            (key,) = table.primary_key.columns
            statement = update(table).where(key == bindparam("row_id")).values({column.name: bindparam("token")})
            counts[f"{table.name}.{column.name}"] = 0
            for rows in _batches(connection, table, column, lock=True):
                changed = [{"row_id": row_id, "token": new} for row_id, token in rows
                           if (new := _under_current(current_only, every, token, f"{table.name} row {row_id}"))]
                if changed:
                    connection.execute(statement, changed)
                    counts[f"{table.name}.{column.name}"] += len(changed)
    return counts


def _under_current(current_only: MultiFernet, every: MultiFernet, token: str, where: str) -> str | None:
    try:
        current_only.decrypt(token.encode())
        return None
    except InvalidToken:
        pass
    try:
        return every.rotate(token.encode()).decode()
    except InvalidToken:
        raise RotationError(f"the secret in {where} cannot be decrypted with any key in force; nothing was "
                            "changed") from None


def reencrypt_until_done(db: Database, keys: Keys) -> dict[str, int]:
    totals = reencrypt(db, keys)
    for _ in range(MAX_PASSES):
        late = reencrypt(db, keys)
        if not any(late.values()):
            return totals
        for name, count in late.items():
            totals[name] += count
    raise RotationError("secrets keep being written under an old key by another process (an abonne older than "
                        "this one?); every secret is still readable, and the old key stays accepted")


def check_all_readable(db: Database, keys: Keys, where_keys_live: str) -> None:
    missing = unreadable(db, keys)
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise RotationError(f"the secret in {missing[0]}{more} cannot be decrypted with {where_keys_live}: "
                            "that is not the key they were encrypted with; nothing was changed")


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RotationError("another `abonne secrets rotate` is running") from None
        yield


def rotate_key_file(db: Database, path: Path, now: datetime, link_days: int,
                    revoke_links: bool = False) -> RotationReport:
    """The four steps above; an earlier rotation that did not finish (a `previous` key in the file) is finished
    instead of starting another."""
    with _exclusive(path):
        keys = KeyFile(path).keys()
        check_all_readable(db, keys, f"the keys in {path}")
        report = RotationReport(finished_earlier_rotation=bool(keys.previous))
        if not keys.previous:
            keys = Keys(new_key(), (keys.current,), keys.link_only)
            write_key_file(path, keys)
        report.rewritten = reencrypt_until_done(db, keys)
        timestamp = int(now.timestamp())
        retired = () if revoke_links else tuple((timestamp + link_days * 86400, key) for key in keys.previous)
        kept = () if revoke_links else tuple((until, key) for until, key in keys.link_only if until >= timestamp)
        write_key_file(path, Keys(keys.current, (), kept + retired))
        if retired:
            report.links_valid_until = datetime.fromtimestamp(retired[0][0], tz=now.tzinfo)
        return report


def reencrypt_environment_keys(db: Database, keys: Keys) -> RotationReport:
    """Steps 1 and 3 for keys from the environment."""
    check_all_readable(db, keys, "ABONNE_SECRET_KEY or ABONNE_PREVIOUS_SECRET_KEYS")
    return RotationReport(rewritten=reencrypt_until_done(db, keys))
