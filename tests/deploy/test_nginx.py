"""deploy/nginx.conf checked by nginx itself, then serving HTTPS in front of gunicorn with a throw-away certificate."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from ipaddress import IPv4Address
from pathlib import Path
from typing import Iterator

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bridge.config import MAX_BODY_BYTES
from tests.deploy.conftest import GunicornInstallation
from tests.deploy.deploy_files import DEPLOY
from tests.shops.abonne_process import free_port
from tests.waiting import wait_for

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SITE = DEPLOY / "nginx.conf"

pytestmark = [pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is not installed: `make nginx` installs "
                                 "Debian's nginx (`make test` does it first)"),
              pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")]  # a throw-away cert


def size_in_bytes(value: str) -> int:
    """nginx's size syntax: 1048576, 1024k, 1m."""
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", value).groups()
    return int(number) * {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}[unit.lower()]


def test_nginx_refuses_exactly_the_bodies_the_app_refuses():
    [limit] = re.findall(r"^\s*client_max_body_size\s+(\S+);", SITE.read_text(), re.MULTILINE)
    assert size_in_bytes(limit) == MAX_BODY_BYTES


def throwaway_certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "abonne.example.com")])
    now = datetime.now(timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
                   .not_valid_after(now + timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName("abonne.example.com"),
                                                               x509.IPAddress(IPv4Address("127.0.0.1"))]),
                                  critical=False)
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "fullchain.pem", folder / "privkey.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"deploy/nginx.conf no longer has exactly one {old!r}: update this test"
    return text.replace(old, new)


@dataclass
class Nginx:
    folder: Path
    config: Path
    https_port: int
    http_port: int

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    def command(self, *args: str) -> list[str]:
        return [NGINX, "-p", str(self.folder), "-c", str(self.config), "-e", str(self.folder / "error.log"), *args]

    def access_log(self) -> list[dict]:
        """nginx's access log for the site, in the site's own format: one JSON object per line."""
        path = self.folder / "abonne.access.log"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def site_as_deployed(folder: Path, upstream_port: int) -> Nginx:
    """deploy/nginx.conf with only its machine-specific values replaced (ports, certificate, log path), inside a
    minimal nginx.conf of this test's own, so that nginx needs no root paths."""
    cert, key = throwaway_certificate(folder)
    https_port, http_port = free_port(), free_port()
    site = SITE.read_text()
    site = replace_once(site, "server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream_port};")
    site = replace_once(site, "    listen 443 ssl;\n    listen [::]:443 ssl;\n", f"    listen 127.0.0.1:{https_port} ssl;\n")
    site = replace_once(site, "    listen 80;\n    listen [::]:80;\n", f"    listen 127.0.0.1:{http_port};\n")
    site = replace_once(site, "/etc/letsencrypt/live/abonne.example.com/fullchain.pem", str(cert))
    site = replace_once(site, "/etc/letsencrypt/live/abonne.example.com/privkey.pem", str(key))
    site = replace_once(site, "/var/log/nginx/abonne.access.log", str(folder / "abonne.access.log"))
    (folder / "abonne-site.conf").write_text(site)
    temp = "\n".join(f"    {kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                              "uwsgi", "scgi"))
    config = folder / "nginx.conf"
    # One process, no user switch: the test's temporary folder is private to whoever runs the tests.
    config.write_text(f"daemon off;\nmaster_process off;\npid {folder / 'nginx.pid'};\n"
                      f"error_log {folder / 'error.log'};\nevents {{}}\n"
                      f"http {{\n{temp}\n    include {folder / 'abonne-site.conf'};\n}}\n")
    return Nginx(folder, config, https_port, http_port)


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory, behind_proxy: GunicornInstallation) -> Iterator[Nginx]:
    server = site_as_deployed(tmp_path_factory.mktemp("nginx"), behind_proxy.port)
    process = subprocess.Popen(server.command(), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    def answers() -> bool:
        try:
            return requests.get(server.url + "/healthz", verify=False, timeout=10).status_code == 200
        except requests.RequestException:
            return False
    try:
        wait_for(answers, timeout=30, what="nginx to answer HTTPS")
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_nginx_accepts_the_example_site(tmp_path):
    server = site_as_deployed(tmp_path, upstream_port=free_port())
    checked = subprocess.run(server.command("-t"), capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr and "test is successful" in checked.stderr


def test_https_reaches_abonne_with_the_address_nginx_saw_and_its_request_id(nginx, behind_proxy):
    # The client's own X-Forwarded-For comes first in the header nginx sends on; the app believes only nginx.
    answer = requests.get(nginx.url + "/admin/login", headers={"X-Forwarded-For": "198.51.100.66"}, verify=False,
                          timeout=10)
    assert answer.status_code == 200 and "password" in answer.text
    [logged] = wait_for(lambda: [l for l in nginx.access_log() if l["path"] == "/admin/login"], what="nginx's line")
    assert re.fullmatch(r"[0-9a-f]{32}", logged["request_id"]) and logged["status"] == 200
    [line] = behind_proxy.wait_for(lambda: behind_proxy.access_lines(request_id=logged["request_id"]),
                                   "gunicorn's line with nginx's request id")
    assert (line["remote_addr"], line["scheme"], line["path"]) == ("127.0.0.1", "https", "/admin/login")


def test_nginxs_log_keeps_customer_link_tokens_out(nginx):
    requests.get(nginx.url + "/card/eyJhZ3JlZW1lbnQiOjJ9.c2VjcmV0Y2FyZA", verify=False, timeout=10)
    wait_for(lambda: any(l["path"] == "/card/…" for l in nginx.access_log()), what="nginx's line for the link")
    assert "c2VjcmV0Y2FyZA" not in (nginx.folder / "abonne.access.log").read_text()


def test_plain_http_is_sent_to_https(nginx):
    answer = requests.get(f"http://127.0.0.1:{nginx.http_port}/admin/", allow_redirects=False, timeout=10)
    assert answer.status_code == 301 and answer.headers["Location"].startswith("https://")


def test_a_body_over_the_limit_stops_at_nginx_and_one_at_the_limit_reaches_the_app(nginx):
    url = nginx.url + "/webhooks/woocommerce/999"
    too_big = requests.post(url, data=b"x" * (MAX_BODY_BYTES + 1), verify=False, timeout=30,
                            headers={"Content-Type": "application/json"})
    assert too_big.status_code == 413 and "nginx" in too_big.text  # nginx's own page: the app never saw it
    at_limit = requests.post(url, data=b"x" * MAX_BODY_BYTES, verify=False, timeout=30,
                             headers={"Content-Type": "application/json"})
    assert at_limit.status_code != 413 and at_limit.json()["error"]  # the app's own JSON answer
