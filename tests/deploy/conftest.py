"""The files in deploy/ used as an operator uses them: gunicorn with deploy/gunicorn.conf.py, nginx with
deploy/nginx.conf, the systemd units and the container files checked as far as this machine allows."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
from werkzeug.security import generate_password_hash

from adapters.woocommerce.standin import WooCommerceStandin
from tests.deploy.deploy_files import DEPLOY, VENV_BIN
from tests.fixture_files import WOO_SECRET
from tests.integration.conftest import CK, CS
from tests.shops.abonne_process import AbonneProcess, AbonneProcesses

GUNICORN_CONF = DEPLOY / "gunicorn.conf.py"
ADMIN_PASSWORD = "correct horse battery staple"


class GunicornProcess(AbonneProcess):
    """gunicorn started as the web unit starts it. Its stdout (the access log) is kept apart from its stderr."""

    def __init__(self, env: dict[str, str], log: Path):
        self.name, self.log = "gunicorn", log
        self.stdout = log.with_suffix(".stdout")
        self._out = log.open("ab")
        self._stdout = self.stdout.open("ab")
        self.process = subprocess.Popen([str(VENV_BIN / "gunicorn"), "--config", str(GUNICORN_CONF)], env=env,
                                        stdout=self._stdout, stderr=self._out)

    def stop(self) -> None:
        super().stop()
        self._stdout.close()

    def access_log(self) -> list[dict[str, Any]]:
        """Every stdout line, each of which must be one JSON object."""
        lines = self.stdout.read_text().splitlines()
        parsed = []
        for line in lines:
            try:
                parsed.append(json.loads(line))
            except json.JSONDecodeError:
                raise AssertionError(f"a line on gunicorn's stdout is not JSON: {line!r}") from None
        return parsed


class GunicornInstallation(AbonneProcesses):
    """abonne served by gunicorn with deploy/gunicorn.conf.py, plus `abonne worker` when started; on SQLite unless
    given another database."""

    def __init__(self, home: Path, database_url: str | None = None, **settings: str):
        super().__init__(home, database_url or f"sqlite:///{home / 'abonne.db'}", proxy_url="")
        self.env.update({"ABONNE_WEB_BIND": f"127.0.0.1:{self.port}", "ABONNE_WEB_WORKERS": "2",
                         "ABONNE_ADMIN_PASSWORD_HASH": generate_password_hash(ADMIN_PASSWORD),
                         "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost", **settings})

    def start_web(self) -> None:
        self.web = GunicornProcess(self.env, self._log("gunicorn"))
        self.wait_for(self._answers, "gunicorn to answer HTTP")

    def _answers(self) -> bool:
        # gunicorn accepts connections before its processes have loaded the app: a slow first answer is not an error
        try:
            return requests.get(self.url + "/healthz", timeout=10).status_code == 200
        except requests.RequestException:
            return False

    def access_lines(self, **match: Any) -> list[dict[str, Any]]:
        assert isinstance(self.web, GunicornProcess)
        return [line for line in self.web.access_log() if all(line.get(k) == v for k, v in match.items())]


@pytest.fixture(scope="session")
def shop() -> Iterator[WooCommerceStandin]:
    """A stand-in whose product ids match the captured deliveries: 12 Coffee Club Monthly, 13 Coffee Mug."""
    woo = WooCommerceStandin(delivery_delay_s=0.01, first_post_id=11)
    woo.start(CK, CS)
    woo.add_product("Coffee Club Monthly", "19.90", "COFFEE-CLUB-M",
                    meta={"_subscription_period": "month", "_subscription_period_interval": "1"})
    woo.add_product("Coffee Mug", "12.50", "MUG-1")
    yield woo
    woo.stop()


@pytest.fixture(scope="session")
def installation(tmp_path_factory: pytest.TempPathFactory, shop: WooCommerceStandin
                 ) -> Iterator[GunicornInstallation]:
    """gunicorn with no proxy trusted (the default), an `abonne worker`, one shop connected with `abonne shop add`."""
    installation = GunicornInstallation(tmp_path_factory.mktemp("gunicorn"))
    installation.cli("shop", "add", "--platform", "woocommerce", "--url", shop.url, "--consumer-key", CK,
                     "--consumer-secret", CS, "--webhook-secret", WOO_SECRET)
    # As the units set it; gunicorn.conf.py creates the folder when it starts, before the worker starts.
    installation.env["PROMETHEUS_MULTIPROC_DIR"] = str(installation.home / "metrics")
    installation.start()
    yield installation
    installation.dispose()


@pytest.fixture(scope="session")
def behind_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GunicornInstallation]:
    """The web processes as deployed behind nginx: ABONNE_TRUSTED_PROXIES=1."""
    installation = GunicornInstallation(tmp_path_factory.mktemp("behind-proxy"), ABONNE_TRUSTED_PROXIES="1")
    installation.start_web()
    yield installation
    installation.dispose()

