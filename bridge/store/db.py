"""Engine, sessions and the unit of work."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str, reads_only: bool = False, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # Writers take the write lock at BEGIN, so two of them queue up instead of failing on lock upgrade;
        # readers begin deferred, which in WAL mode never waits for or holds that lock.
        begin = "BEGIN" if reads_only else "BEGIN IMMEDIATE"
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql(begin))
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg"))
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # let the "begin" listener issue BEGIN IMMEDIATE
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def is_postgresql(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


class NestedUnitOfWork(RuntimeError):
    """A transaction opened inside another in the same thread: on SQLite the inner one would wait for the outer
    one's write lock forever (BEGIN IMMEDIATE), so it is refused at once."""


class UnitOfWork:
    """One transaction. Rolls back unless `commit()` was called, so an exception never leaves half a change."""

    _open = threading.local()

    def __init__(self, factory: sessionmaker[Session]):
        self._factory = factory
        self.session: Session

    def __enter__(self) -> UnitOfWork:
        if getattr(UnitOfWork._open, "active", False):
            raise NestedUnitOfWork("a unit of work is already open in this thread; finish it first")
        UnitOfWork._open.active = True
        self.session = self._factory()
        return self

    def __exit__(self, *exc: Any) -> None:
        UnitOfWork._open.active = False
        # close() rolls back whatever was not committed and detaches objects with the state they were read in.
        self.session.close()

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()


class Database:
    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self.read_engine = make_engine(url, reads_only=True) if self.engine.dialect.name == "sqlite" else self.engine
        self._factory = sessionmaker(self.engine, expire_on_commit=False)
        self._read_factory = sessionmaker(self.read_engine, expire_on_commit=False)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self._factory)

    def read(self) -> UnitOfWork:
        """A transaction that only reads: on SQLite it never takes the write lock. Never commit in it."""
        return UnitOfWork(self._read_factory)

    def dispose(self) -> None:
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()


def claim_due(db: Database, model: Any, *conditions: Any, now: Any, lease: Any, limit: int) -> list[Any]:
    """Rows of `model` (with `attempts` and `next_attempt_at`) that are due, leased to the caller: their next attempt
    moves `lease` ahead, so another worker skips them, and a worker that dies leaves them to be retried after it.
    Concurrent claimers skip each other's locked rows on PostgreSQL; SQLite has a single writer."""
    if not any_due(db, select(model.id).where(*conditions, model.next_attempt_at <= now)):
        return []
    with db.uow() as uow:
        query = (select(model).where(*conditions, model.next_attempt_at <= now).order_by(model.id).limit(limit))
        if is_postgresql(db.engine):
            query = query.with_for_update(skip_locked=True)
        rows = list(uow.session.scalars(query))
        for row in rows:
            row.attempts += 1
            row.next_attempt_at = now + lease
        uow.commit()
        return rows


def any_due(db: Database, query: Any) -> bool:
    """Whether `query` finds a row, asked without the write lock: an idle worker's passes then lock nothing."""
    with db.read() as uow:
        return uow.session.execute(query.limit(1)).first() is not None


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    command.upgrade(alembic_config(url), "head")


def migrations_current(engine: Engine) -> bool:
    head = ScriptDirectory.from_config(alembic_config(str(engine.url))).get_current_head()
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision() == head
