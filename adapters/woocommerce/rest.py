"""The WooCommerce REST API through the `woocommerce` client (OAuth 1.0a on http, Basic auth on https)."""
from __future__ import annotations

import re
from typing import Any, Iterator

import requests
from woocommerce import API

from adapters.retry_after import retry_after_seconds
from bridge.ports import ShopError

MAX_PER_PAGE = 100  # WooCommerce refuses more (rest_out_of_bounds)


class WooRestError(ShopError):
    """A ShopError that also keeps what WooCommerce said: its error `code` and `data` (e.g. new_draft_order_id)."""

    def __init__(self, detail: str, *, status: int | None = None, retryable: bool = False, code: str = "",
                 data: dict[str, Any] | None = None, retry_after: float | None = None):
        super().__init__(detail, status=status, retryable=retryable, retry_after=retry_after)
        self.code = code
        self.data = data or {}


_NONCE_REUSED = "nonce has already been used"  # WooCommerce's message for a replayed OAuth nonce


class WooRest:
    def __init__(self, url: str, consumer_key: str, consumer_secret: str, timeout: float = 30.0):
        self.url = url.rstrip("/")
        # The client signs each request afresh (new nonce and timestamp), as WooCommerce requires on retries.
        self._api = API(url=self.url, consumer_key=consumer_key, consumer_secret=consumer_secret,
                        version="wc/v3", timeout=timeout, user_agent="abonne/0.1")

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                body: dict[str, Any] | None = None) -> Any:
        return self._result(method, path, self._send(method, path, params, body))

    def pages(self, path: str, params: dict[str, Any] | None = None) -> Iterator[list[Any]]:
        """GET a collection page by page, 100 a page, up to the shop's X-WP-TotalPages."""
        number = 1
        while True:
            items, total_pages = self.page(path, {**(params or {}), "per_page": MAX_PER_PAGE, "page": number})
            yield items
            if not items or number >= total_pages:
                return
            number += 1

    def page(self, path: str, params: dict[str, Any]) -> tuple[list[Any], int]:
        """One page of a collection and the shop's X-WP-TotalPages (0 for an empty collection)."""
        response = self._send("GET", path, params, None)
        items = self._result("GET", path, response)
        if not isinstance(items, list):
            raise WooRestError(f"GET {path}: the shop answered {response.status_code} with something other than "
                               "a list", status=response.status_code)
        try:
            total_pages = int(response.headers.get("X-WP-TotalPages", ""))
        except ValueError:  # a proxy that drops the header: one more page as long as pages come back full
            total_pages = int(params.get("page") or 1) + (len(items) >= int(params.get("per_page") or 10))
        return items, total_pages

    def _send(self, method: str, path: str, params: dict[str, Any] | None,
              body: dict[str, Any] | None) -> requests.Response:
        response = self._send_once(method, path, params, body)
        if response.status_code == 401 and _NONCE_REUSED in response.text:
            # The `woocommerce` client draws its OAuth nonce from 8 random digits, and WooCommerce refuses a nonce
            # seen in the last 15 minutes: at a few thousand requests per window a repeat is likely. Authentication
            # fails before the shop does anything, so the same request, signed afresh, is safe to send again.
            response = self._send_once(method, path, params, body)
        return response

    def _send_once(self, method: str, path: str, params: dict[str, Any] | None,
                   body: dict[str, Any] | None) -> requests.Response:
        query = _query(params)
        try:
            if method == "GET":
                return self._api.get(path, params=query)
            if method == "POST":
                return self._api.post(path, body or {}, params=query)
            if method == "PUT":
                return self._api.put(path, body or {}, params=query)
            if method == "DELETE":
                return self._api.delete(path, params=query)
            raise ValueError(f"unsupported method {method}")
        except requests.Timeout:
            raise WooRestError(f"{method} {path}: the shop at {self.url} did not answer in time (it may still have "
                               "done what was asked)", retryable=True) from None
        except requests.ConnectionError:
            raise WooRestError(f"{method} {path}: the shop at {self.url} cannot be reached (connection refused or "
                               "no route)", retryable=True) from None
        except requests.RequestException as error:  # e.g. the connection dropped in the middle of the answer
            raise WooRestError(f"{method} {path}: the exchange with the shop at {self.url} broke off "
                               f"({type(error).__name__})", retryable=True) from None

    def _result(self, method: str, path: str, response: requests.Response) -> Any:
        status = response.status_code
        try:
            data = response.json()
        except ValueError:
            data = None
        if status < 400:
            if data is None:
                # After a write the outcome is unknown (it may have been done), so asking again is the way out.
                raise WooRestError(f"{method} {path}: the shop answered {status} without JSON: this URL does not "
                                   "look like a WooCommerce REST API", status=status, retryable=method != "GET")
            return data
        code = str(data.get("code") or "") if isinstance(data, dict) else ""
        message = _plain(str(data.get("message") or "")) if isinstance(data, dict) else ""
        extra = data.get("data") if isinstance(data, dict) and isinstance(data.get("data"), dict) else {}
        said = f"{code}: {message}" if code and message else code or message
        if status == 401:
            raise WooRestError(f"the shop answered 401 ({said or 'unauthorized'}): the consumer key or secret is "
                               "wrong, or the key lacks read/write permission", status=status, code=code, data=extra)
        if status == 404 and code == "rest_no_route":
            raise WooRestError("the shop answered 404 rest_no_route: WordPress answers, but the WooCommerce REST "
                               "API is not there (is WooCommerce active?)", status=status, code=code, data=extra)
        if status == 404 and data is None:
            raise WooRestError(f"the shop answered 404 for /wp-json/wc/v3/{path}: this is not a WooCommerce site "
                               "(or pretty permalinks are off)", status=status)
        detail = f"{method} {path}: the shop answered {status}" + (f" {said}" if said else "")
        raise WooRestError(detail, status=status, retryable=status in (408, 429) or status >= 500, code=code,
                           data=extra, retry_after=retry_after_seconds(response.headers))


def _query(params: dict[str, Any] | None) -> dict[str, str]:
    """Query values as non-empty strings, booleans spelled as WordPress documents them ("true"/"false").

    On http the client writes the query into the URL, signs it (dropping empty values) and then hands the same
    params to requests again, so each appears twice (PHP keeps one) and an empty value reaches WordPress unsigned:
    "Invalid signature - provided signature does not match." Empty values are therefore left out.
    """
    query = {}
    for name, value in (params or {}).items():
        if value is None or value == "":
            continue
        query[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return query


def _plain(message: str) -> str:
    """WordPress's fatal-error message is HTML ("<p>There has been a critical error...")."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", message)).strip()
