"""OpenCart's order API, one client per major version (fixtures/OPENCART.md section 3):

- 4.1: stateless, every call signed with HMAC-SHA1 over the call, the exact Host, the store settings, an MD5 of the
  cleaned POST and the time;
- 4.0: `api/account/login` gives a token for later calls;
- 3.0: `api/login` gives an `api_token` bound to the caller's whitelisted IP, re-login when the session expired.

All answer 200 with `{"error": ...}` for most failures (4.1 a bare 403 for every gate), so each client turns the
body into ShopError with the shop's words. No client keeps cookies: OpenCart sets OCSESSID on every answer, and
sending it back would carry one call's session into the next.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import time
from http.cookiejar import DefaultCookiePolicy
from typing import Any, Callable, Sequence
from urllib.parse import urlsplit

import requests

from adapters.module_events import php_query
from adapters.retry_after import retry_after_seconds
from bridge.ports import ShopError

Pairs = Sequence[tuple[str, str]]
LANGUAGE, CURRENCY, STORE = "en-gb", "USD", "0"


def cleaned(value: str) -> str:
    """What OpenCart's Request does to every POST key and value: trim(htmlspecialchars($v, ENT_COMPAT))."""
    return html.escape(value, quote=False).replace('"', "&quot;").strip(" \t\n\r\0\x0b")


def signature_41(key: str, call: str, username: str, host: str, path: str, post: Pairs, stamp: int,
                 store: str = STORE, language: str = LANGUAGE, currency: str = CURRENCY) -> str:
    body_md5 = hashlib.md5(php_query([(cleaned(k), cleaned(v)) for k, v in post]).encode()).hexdigest()
    text = "\n".join(["api/order", call, username, host, path, store, language, currency, body_md5, str(stamp)]) + "\n"
    return base64.b64encode(hmac.new(key.encode(), text.encode(), hashlib.sha1).digest()).decode()


class _Client:
    def __init__(self, url: str, username: str, key: str, timeout: float = 30.0,
                 now: Callable[[], float] = time.time):
        self.url = url.rstrip("/")
        self.username, self._key, self._now = username, key, now
        self._timeout = (5.0, timeout)
        self._session = requests.Session()
        self._session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))

    def _post(self, params: Pairs, post: Pairs) -> Any:
        try:
            response = self._session.post(f"{self.url}/index.php", params=list(params), data=php_query(post),
                                          headers={"Content-Type": "application/x-www-form-urlencoded"},
                                          timeout=self._timeout, allow_redirects=False)
        except requests.Timeout:
            raise ShopError("the shop did not answer in time", retryable=True) from None
        except requests.ConnectionError as error:
            raise ShopError(f"cannot reach the shop at {self.url} ({error.__class__.__name__})",
                            retryable=True) from None
        if response.status_code == 403:
            raise ShopError("the shop refused the API call (403): wrong API key or user, this machine's IP not in "
                            "the API user's allowed IPs, or a clock more than 7 minutes off", status=403)
        if response.status_code >= 500 or response.status_code == 429:
            raise ShopError(f"the shop failed ({response.status_code})", status=response.status_code, retryable=True,
                            retry_after=retry_after_seconds(response.headers))
        data = _json_after_notices(response.text)
        if data is None:
            raise ShopError(f"the shop answered {response.status_code} with something that is not JSON: "
                            f"{response.text[:200]!r}", status=response.status_code)
        if isinstance(data, dict) and data.get("error"):
            error = data["error"]
            words = "; ".join(str(v) for v in error.values()) if isinstance(error, dict) else str(error)
            raise ShopError(f"the shop refused it: {words}", status=response.status_code)
        return data


class Api41(_Client):
    """OpenCart 4.1: `index.php?route=api/order&call=...`, signed, stateless."""

    version = "4.1"

    def call(self, name: str, post: Pairs) -> Any:
        stamp = int(self._now())
        parts = urlsplit(self.url)
        host = parts.netloc  # exactly the Host header requests will send
        path = (parts.path or "") + "/"
        params = [("route", "api/order"), ("call", name), ("username", self.username), ("store_id", STORE),
                  ("language", LANGUAGE), ("currency", CURRENCY), ("time", str(stamp)),
                  ("signature", signature_41(self._key, name, self.username, host, path, post, stamp))]
        return self._post(params, post)


class Api40(_Client):
    """OpenCart 4.0: `api/account/login` (username and key) gives an api_token, passed in the query of every later
    call (never as the OCSESSID cookie, which would skip the IP check and the idle expiry). The session keeps the
    order being built, so each renewal logs in on its own. A token that is gone answers an HTML 500 or 404, never
    JSON: after such an answer one new login is tried."""

    version = "4.0"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._token: str | None = None

    def login(self) -> str:
        try:
            data = self._post([("route", "api/account/login")], [("username", self.username), ("key", self._key)])
        except ShopError as error:  # a wrong key and an address not allowed both answer 200 with the shop's words
            raise ShopError(f"the shop refused the API login ({error.detail.removeprefix('the shop refused it: ')})",
                            status=error.status, retryable=error.retryable) from None
        if not isinstance(data, dict) or not data.get("api_token"):
            raise ShopError("the shop refused the API login: it gave no api_token", status=200)
        self._token = str(data["api_token"])
        return self._token

    def call(self, route: str, post: Pairs) -> Any:
        for attempt in (1, 2):
            token = self._token or self.login()
            try:
                return self._post([("route", route), ("api_token", token)], post)
            except ShopError as error:
                if attempt == 2 or error.status not in (404, 500):
                    raise
                self._token = None  # unknown or idle token: log in again once
        raise AssertionError("unreachable")


class Api30(_Client):
    """OpenCart 3.0: `api/login` (username and key) gives an api_token for later calls; an expired session answers
    a permission error, after which one new login is tried."""

    version = "3.0"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._token: str | None = None

    def login(self) -> str:
        data = self._post([("route", "api/login")], [("username", self.username), ("key", self._key)])
        if not isinstance(data, dict) or not data.get("api_token"):
            raise ShopError("the shop refused the API login: wrong API user or key (OpenCart 3.0 answers an empty "
                            "list for both)", status=200)
        self._token = str(data["api_token"])
        return self._token

    def call(self, route: str, post: Pairs, **query: str) -> Any:
        for attempt in (1, 2):
            token = self._token or self.login()
            try:
                return self._post([("route", route), ("api_token", token), ("store_id", STORE),
                                   *[(k, v) for k, v in query.items()]], post)
            except ShopError as error:
                if attempt == 2 or "permission to access the API" not in error.detail:
                    raise
                self._token = None  # the session expired (idle over an hour): log in again once
        raise AssertionError("unreachable")


def _json_after_notices(text: str) -> Any:
    """The JSON of an answer, also when PHP printed a warning before it (4.0.2.3's confirm does, after it created
    the order: throwing that answer away would retry a created order). None when there is no JSON."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    start = text.find("{")
    if start <= 0 or "<b>" not in text[:start]:
        return None
    try:
        return json.loads(text[start:])
    except ValueError:
        return None


def as_pairs(data: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """A nested dict as PHP form pairs: product[0][product_id]=100."""
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, dict):
            pairs += as_pairs(value, name)
        elif isinstance(value, list):
            pairs += as_pairs({str(i): item for i, item in enumerate(value)}, name)
        else:
            pairs.append((name, "" if value is None else str(value)))
    return pairs


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)
