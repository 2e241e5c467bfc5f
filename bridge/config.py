"""Settings from the environment; the one place that reads ABONNE_* variables."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///instance/abonne.db"
MAX_BODY_BYTES = 1024 * 1024  # webhook and callback bodies; the largest real order payloads are ~10 KB


class ConfigError(Exception):
    """A setting is missing or unusable; the message names it."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: str
    public_url: str
    instance_path: Path
    pay_link_days: int = 30
    worker_interval_seconds: float = 5.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        instance = Path(env.get("ABONNE_INSTANCE_PATH", "instance")).resolve()
        public_url = env.get("ABONNE_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
        if not public_url.startswith(("http://", "https://")):
            raise ConfigError(f"ABONNE_PUBLIC_URL must start with http:// or https://, got {public_url!r}")
        try:
            pay_link_days = int(env.get("ABONNE_PAY_LINK_DAYS", "30"))
        except ValueError:
            raise ConfigError("ABONNE_PAY_LINK_DAYS must be a whole number of days") from None
        return cls(
            database_url=env.get("ABONNE_DATABASE_URL", DEFAULT_DATABASE_URL),
            secret_key=env.get("ABONNE_SECRET_KEY") or _instance_secret_key(instance),
            public_url=public_url,
            instance_path=instance,
            pay_link_days=pay_link_days,
        )


def _instance_secret_key(instance: Path) -> str:
    """The generated key in the instance folder, created (readable by the owner only) on first use."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key
