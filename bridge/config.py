"""Settings from the environment; the one place that reads ABONNE_* variables."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from bridge.domain.dunning import DunningPolicy
from bridge.keyring import KeyFile, KeyFileError, KeySource, Keys, StaticKeys

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
    retry_schedule: str = "12h,12h,1d,2d,3d"
    grace_days: int = 14
    gateway_concurrency: int = 16  # renewal charges in flight at once: the gateway's latency bounds a run
    shop_concurrency: int = 4  # renewal orders pushed into one shop at once (a real WooCommerce tops out near 6/s)
    reconcile_minutes: int = 10
    gateway_timeout_seconds: float = 30.0
    trusted_proxies: int = 0  # ABONNE_TRUSTED_PROXIES: proxies in front whose X-Forwarded-* headers count
    metrics_token: str = ""  # ABONNE_METRICS_TOKEN: GET /metrics wants it as a bearer token when set
    log_format: str = "json"  # ABONNE_LOG_FORMAT: json | text, for `abonne serve` and `abonne worker`
    log_level: str = "INFO"  # ABONNE_LOG_LEVEL: DEBUG adds a line for every webhook stored, charge paid, update sent
    previous_secret_keys: tuple[str, ...] = ()  # ABONNE_PREVIOUS_SECRET_KEYS: still decrypt during a rotation
    secret_key_file: Path | None = None  # the instance key file, when ABONNE_SECRET_KEY is not set

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        instance = Path(env.get("ABONNE_INSTANCE_PATH", "instance")).resolve()
        public_url = env.get("ABONNE_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
        if not public_url.startswith(("http://", "https://")):
            raise ConfigError(f"ABONNE_PUBLIC_URL must start with http:// or https://, got {public_url!r}")
        numbers = {}
        for name, default in (("ABONNE_PAY_LINK_DAYS", 30), ("ABONNE_GRACE_DAYS", 14),
                              ("ABONNE_GATEWAY_CONCURRENCY", 16), ("ABONNE_SHOP_CONCURRENCY", 4),
                              ("ABONNE_RECONCILE_MINUTES", 10)):
            try:
                numbers[name] = int(env.get(name, str(default)))
            except ValueError:
                raise ConfigError(f"{name} must be a whole number") from None
            if numbers[name] < (0 if name == "ABONNE_GRACE_DAYS" else 1):
                raise ConfigError(f"{name} must be at least {0 if name == 'ABONNE_GRACE_DAYS' else 1}")
        seconds = {name: _seconds(env, name, default) for name, default in
                   (("ABONNE_GATEWAY_TIMEOUT_SECONDS", 30.0), ("ABONNE_WORKER_INTERVAL_SECONDS", 5.0))}
        retry_schedule = env.get("ABONNE_RETRY_SCHEDULE", "12h,12h,1d,2d,3d")
        try:
            DunningPolicy.parse(retry_schedule, numbers["ABONNE_GRACE_DAYS"])
        except ValueError as error:
            raise ConfigError(f"ABONNE_RETRY_SCHEDULE: {error}") from None
        previous_keys = tuple(key.strip() for key in env.get("ABONNE_PREVIOUS_SECRET_KEYS", "").split(",")
                              if key.strip())
        if previous_keys and not env.get("ABONNE_SECRET_KEY"):
            raise ConfigError("ABONNE_PREVIOUS_SECRET_KEYS goes with ABONNE_SECRET_KEY; the instance key file "
                              "lists its previous keys itself")
        return cls(
            database_url=env.get("ABONNE_DATABASE_URL", DEFAULT_DATABASE_URL),
            secret_key=env.get("ABONNE_SECRET_KEY") or _instance_secret_key(instance),
            previous_secret_keys=previous_keys,
            secret_key_file=None if env.get("ABONNE_SECRET_KEY") else instance / "secret_key",
            public_url=public_url,
            instance_path=instance,
            pay_link_days=numbers["ABONNE_PAY_LINK_DAYS"],
            retry_schedule=retry_schedule,
            grace_days=numbers["ABONNE_GRACE_DAYS"],
            gateway_concurrency=numbers["ABONNE_GATEWAY_CONCURRENCY"],
            shop_concurrency=numbers["ABONNE_SHOP_CONCURRENCY"],
            reconcile_minutes=numbers["ABONNE_RECONCILE_MINUTES"],
            gateway_timeout_seconds=seconds["ABONNE_GATEWAY_TIMEOUT_SECONDS"],
            worker_interval_seconds=seconds["ABONNE_WORKER_INTERVAL_SECONDS"],
            trusted_proxies=_trusted_proxies(env),
            metrics_token=env.get("ABONNE_METRICS_TOKEN", ""),
            log_format=_log_format(env),
            log_level=_log_level(env),
        )

    def key_source(self) -> KeySource:
        """Where the secret keys come from: the key file (followed through rotations) or fixed settings."""
        if self.secret_key_file is not None and self.secret_key_file.exists():
            return KeyFile(self.secret_key_file)
        return StaticKeys(Keys(self.secret_key, self.previous_secret_keys))

    @property
    def dunning(self) -> DunningPolicy:
        return DunningPolicy.parse(self.retry_schedule, self.grace_days)


def _seconds(env: dict[str, str], name: str, default: float) -> float:
    try:
        value = float(env.get(name, str(default)))
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds") from None
    if not 0 < value < float("inf"):
        raise ConfigError(f"{name} must be a positive number of seconds")
    return value


def _trusted_proxies(env: dict[str, str]) -> int:
    """How many proxies (nginx, a load balancer) stand in front: 0 believes no X-Forwarded-* header at all."""
    raw = env.get("ABONNE_TRUSTED_PROXIES", "0").strip()
    if not raw.isdigit():
        raise ConfigError(f"ABONNE_TRUSTED_PROXIES must be a whole number of proxies (0 or more), got {raw!r}")
    return int(raw)


def _log_format(env: dict[str, str]) -> str:
    value = env.get("ABONNE_LOG_FORMAT", "json").strip().lower()
    if value not in ("json", "text"):
        raise ConfigError(f"ABONNE_LOG_FORMAT must be json or text, got {value!r}")
    return value


def _log_level(env: dict[str, str]) -> str:
    value = env.get("ABONNE_LOG_LEVEL", "INFO").strip().upper()
    if value not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"ABONNE_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {value!r}")
    return value


def _instance_secret_key(instance: Path) -> str:
    """The generated key in the instance folder, created (readable by the owner only) on first use."""
    path = instance / "secret_key"
    if path.exists():
        try:
            return KeyFile(path).keys().current
        except KeyFileError as error:
            raise ConfigError(str(error)) from None
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key
