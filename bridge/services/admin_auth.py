"""Who may steer abonne: the owner's password (with login limiting) and hashed bearer tokens for the API."""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from bridge.context import Bridge
from bridge.store.tables import AdminSetting, ApiToken, LoginAttempt

PASSWORD_SETTING = "ABONNE_ADMIN_PASSWORD_HASH"
MIN_PASSWORD_LENGTH = 10
FAILURES_ALLOWED = 5
FAILURE_WINDOW = timedelta(minutes=15)
SCOPES = ("read", "write")
TOKEN_PREFIX = "abn_"


class AuthError(ValueError):
    """A refused password or token operation; the message is safe to show."""


def set_password(bridge: Bridge, password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    with bridge.uow() as uow:
        row = uow.session.get(AdminSetting, "password_hash") or AdminSetting(key="password_hash")
        row.value, row.updated_at = generate_password_hash(password), bridge.clock.now()
        uow.session.add(row)
        uow.commit()


def password_hash(bridge: Bridge) -> str | None:
    """ABONNE_ADMIN_PASSWORD_HASH wins over the one `abonne admin set-password` stored."""
    if os.environ.get(PASSWORD_SETTING):
        return os.environ[PASSWORD_SETTING]
    with bridge.uow() as uow:
        row = uow.session.get(AdminSetting, "password_hash")
        return row.value if row else None


@dataclass(frozen=True)
class LoginResult:
    ok: bool
    detail: str = ""
    retry_after_seconds: int = 0


def attempt_login(bridge: Bridge, password: str, client: str) -> LoginResult:
    """Check the password, at most FAILURES_ALLOWED failures per client per FAILURE_WINDOW."""
    now = bridge.clock.now()
    stored = password_hash(bridge)
    if stored is None:
        return LoginResult(False, "no admin password is set: run `abonne admin set-password` on the server")
    with bridge.uow() as uow:
        failures = list(uow.session.scalars(select(LoginAttempt.at).where(
            LoginAttempt.client == client, LoginAttempt.succeeded.is_(False),
            LoginAttempt.at > now - FAILURE_WINDOW).order_by(LoginAttempt.at)))
        if len(failures) >= FAILURES_ALLOWED:
            wait = int((failures[0] + FAILURE_WINDOW - now).total_seconds()) + 1
            return LoginResult(False, f"too many failed logins: try again in {wait // 60 + 1} minutes", wait)
        ok = check_password_hash(stored, password)
        uow.session.add(LoginAttempt(client=client[:64], at=now, succeeded=ok))
        uow.session.execute(LoginAttempt.__table__.delete().where(LoginAttempt.at < now - timedelta(days=1)))
        uow.commit()
    return LoginResult(True) if ok else LoginResult(False, "the password is not right")


@dataclass(frozen=True)
class NewToken:
    id: int
    token: str  # shown once, never stored
    name: str
    scopes: tuple[str, ...]


def create_token(bridge: Bridge, name: str, scopes: tuple[str, ...]) -> NewToken:
    name = name.strip()
    if not name:
        raise AuthError("the token needs a name (what or who uses it)")
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise AuthError(f"scopes must be one or more of {', '.join(SCOPES)}")
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with bridge.uow() as uow:
        row = ApiToken(name=name[:100], token_hash=_digest(plain), prefix=plain[:12], scopes=" ".join(sorted(scopes)),
                       created_at=bridge.clock.now())
        uow.session.add(row)
        uow.commit()
        return NewToken(row.id, plain, row.name, tuple(sorted(scopes)))


def verify_token(bridge: Bridge, plain: str, scope: str) -> ApiToken | None:
    """The live token with this value and scope, or None. The lookup is by hash, so timing says nothing."""
    if not plain.startswith(TOKEN_PREFIX):
        return None
    digest = _digest(plain)
    with bridge.uow() as uow:
        row = uow.session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
        if row is None or row.revoked_at is not None or not hmac.compare_digest(row.token_hash, digest):
            return None
        if scope not in row.scopes.split():
            return None
        row.last_used_at = bridge.clock.now()
        uow.commit()
        return row


def revoke_token(bridge: Bridge, token_id: int) -> None:
    with bridge.uow() as uow:
        row = uow.session.get(ApiToken, token_id)
        if row is None:
            raise AuthError(f"there is no token {token_id}")
        row.revoked_at = row.revoked_at or bridge.clock.now()
        uow.commit()


def list_tokens(bridge: Bridge) -> list[ApiToken]:
    with bridge.uow() as uow:
        return list(uow.session.scalars(select(ApiToken).order_by(ApiToken.id)))


def recent_failures(bridge: Bridge, since: datetime) -> int:
    with bridge.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(LoginAttempt).where(
            LoginAttempt.succeeded.is_(False), LoginAttempt.at >= since)) or 0


def _digest(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()
