"""The WooCommerce REST API through the `woocommerce` client (OAuth 1.0a on http, Basic auth on https)."""
from __future__ import annotations

from typing import Any

import requests
from woocommerce import API

from bridge.ports import ShopError


class WooRest:
    def __init__(self, url: str, consumer_key: str, consumer_secret: str, timeout: float = 30.0):
        self.url = url.rstrip("/")
        # The client signs each request afresh (new nonce and timestamp), as WooCommerce requires on retries.
        self._api = API(url=self.url, consumer_key=consumer_key, consumer_secret=consumer_secret,
                        version="wc/v3", timeout=timeout, user_agent="abonne/0.1")

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                body: dict[str, Any] | None = None) -> Any:
        try:
            if method == "GET":
                response = self._api.get(path, params=params or {})
            elif method == "POST":
                response = self._api.post(path, body or {}, params=params or {})
            elif method == "PUT":
                response = self._api.put(path, body or {}, params=params or {})
            elif method == "DELETE":
                response = self._api.delete(path, params=params or {})
            else:
                raise ValueError(f"unsupported method {method}")
        except requests.Timeout:
            raise ShopError(f"the shop at {self.url} did not answer in time", retryable=True) from None
        except requests.ConnectionError:
            raise ShopError(f"the shop at {self.url} cannot be reached (connection refused or no route)",
                            retryable=True) from None
        return self._result(method, path, response)

    def _result(self, method: str, path: str, response: requests.Response) -> Any:
        status = response.status_code
        try:
            data = response.json()
        except ValueError:
            data = None
        if status < 400:
            if data is None:
                raise ShopError(f"{method} {path}: the shop answered {status} without JSON: this URL does not "
                                "look like a WooCommerce REST API", status=status)
            return data
        code = data.get("code", "") if isinstance(data, dict) else ""
        message = data.get("message", "") if isinstance(data, dict) else ""
        if status == 401:
            raise ShopError(f"the shop answered 401 ({message or code or 'unauthorized'}): the consumer key or "
                            "secret is wrong, or the key lacks read/write permission", status=status)
        if status == 404 and code == "rest_no_route":
            raise ShopError("the shop answered 404 rest_no_route: WordPress answers, but the WooCommerce REST "
                            "API is not there (is WooCommerce active?)", status=status)
        if status == 404 and data is None:
            raise ShopError(f"the shop answered 404 for /wp-json/wc/v3/{path}: this is not a WooCommerce site "
                            "(or pretty permalinks are off)", status=status)
        retryable = status == 429 or status >= 500
        detail = f"{method} {path}: the shop answered {status}"
        if code or message:
            detail += f" {code}: {message}".rstrip(": ")
        raise ShopError(detail, status=status, retryable=retryable)
