"""PrestaShop's Webservice: the key as the Basic user, JSON out (`output_format=JSON`), XML in (the only input it
reads), every call bounded by timeouts. Its failures come in four shapes (fixtures/PRESTASHOP.md section 5): XML or
JSON `errors`, an empty 500 from a fatal guard, a plain-text `die()`, and a 404 with an empty body; each becomes a
ShopError that says what happened in words."""
from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ElementTree
from http.cookiejar import DefaultCookiePolicy
from typing import Any, Mapping

import requests

from adapters.retry_after import retry_after_seconds
from bridge.ports import ShopError

CONNECT_TIMEOUT = 5.0
_KEY = re.compile(r"[A-Za-z0-9]{32}")


class WebserviceError(ShopError):
    def __init__(self, detail: str, *, status: int | None, codes: tuple[int, ...] = (), retryable: bool = False,
                 retry_after: float | None = None):
        super().__init__(detail, status=status, retryable=retryable, retry_after=retry_after)
        self.codes = codes


class Webservice:
    def __init__(self, url: str, key: str, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self._key = key
        self._timeout = (CONNECT_TIMEOUT, timeout)
        self._session = requests.Session()
        self._blanks: dict[str, ElementTree.Element] = {}
        # The webservice sets a front-office cookie on some writes; a client that kept it would act as a visitor.
        self._session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))

    def get(self, resource: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._call("GET", resource, params=params)

    def post(self, resource: str, element: str, fields: Mapping[str, Any],
             params: Mapping[str, Any] | None = None) -> Any:
        """A new resource, shaped as this shop's `?schema=blank` says (read once per resource), with `fields`."""
        root = self._blank(resource)
        node = root.find(element)
        if node is None:
            raise WebserviceError(f"the shop's blank {resource} has no <{element}>", status=None)
        for forbidden in node.findall("id"):  # an id is refused on a POST (code 91)
            node.remove(forbidden)
        fill_blank(node, fields, resource)
        return self._call("POST", resource, params=params, body=_document(root))

    def _blank(self, resource: str) -> ElementTree.Element:
        if resource not in self._blanks:
            response = self._send("GET", resource, {"schema": "blank"}, None, json_out=False)
            try:
                self._blanks[resource] = ElementTree.fromstring(response.content)
            except ElementTree.ParseError:
                raise WebserviceError(f"the shop's blank {resource} schema is not XML", status=None) from None
        return copy.deepcopy(self._blanks[resource])

    def put(self, resource: str, element: str, fields: Mapping[str, Any]) -> Any:
        return self._call("PUT", resource, body=to_xml(element, fields))

    def patch(self, resource: str, element: str, fields: Mapping[str, Any]) -> Any:
        return self._call("PATCH", resource, body=to_xml(element, fields))

    def delete(self, resource: str) -> None:
        self._call("DELETE", resource)

    def root(self) -> ElementTree.Element:
        """GET /api/ in XML (its JSON rendering fails inside PrestaShop 8.2.0): the resources and the key's rights."""
        response = self._send("GET", "", {}, None, json_out=False)
        try:
            return ElementTree.fromstring(response.content)
        except ElementTree.ParseError:
            raise WebserviceError("the shop's /api/ did not answer with the Webservice's XML: is this PrestaShop?",
                                  status=response.status_code) from None

    def _call(self, method: str, resource: str, params: Mapping[str, Any] | None = None,
              body: bytes | None = None) -> Any:
        response = self._send(method, resource, dict(params or {}), body)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise WebserviceError(f"{method} {resource}: the shop answered {response.status_code} with something "
                                  f"that is not JSON: {_snippet(response.text)}", status=response.status_code)

    def _send(self, method: str, resource: str, params: dict[str, Any], body: bytes | None,
              json_out: bool = True) -> requests.Response:
        if not _KEY.fullmatch(self._key):  # PrestaShop's own check (code 18), before it could reach the wire
            raise WebserviceError("the Webservice key must be 32 letters and digits, as PrestaShop generates it",
                                  status=None)
        if json_out:
            params.setdefault("output_format", "JSON")
        headers = {"Content-Type": "application/xml; charset=utf-8"} if body is not None else {}
        try:
            response = self._session.request(method, f"{self.url}/api/{resource}", params=params, data=body,
                                             headers=headers, auth=(self._key, ""), timeout=self._timeout,
                                             allow_redirects=False)
        except requests.Timeout:
            raise WebserviceError(f"{method} {resource}: the shop did not answer in time", status=None,
                                  retryable=True) from None
        except requests.ConnectionError as error:
            raise WebserviceError(f"{method} {resource}: cannot reach the shop at {self.url} ({_reason(error)})",
                                  status=None, retryable=True) from None
        if response.status_code >= 300:
            error = _error(method, resource, response)
            error.retry_after = retry_after_seconds(response.headers) if error.retryable else None
            raise error
        return response


def _error(method: str, resource: str, response: requests.Response) -> WebserviceError:
    status = response.status_code
    retryable = status in (429, 502, 503, 504)
    where = f"{method} /api/{resource}"
    if status == 503 and b"disabled" in response.content:
        return WebserviceError("the shop's Webservice is disabled: turn it on in Advanced Parameters > Webservice",
                               status=status)
    if not response.content.strip():
        if status == 404:
            return WebserviceError(f"{where}: not found in the shop", status=status)
        return WebserviceError(f"{where}: the shop failed with an empty {status} (a fatal error in PrestaShop; its "
                               "PHP error log says which)", status=status, retryable=retryable)
    errors = _errors(response)
    if errors:
        codes = tuple(code for code, _ in errors)
        text = "; ".join(message for _, message in errors)
        if status == 401 and 20 in codes:
            text = "the Webservice key is wrong or not active"
        elif status == 401 and 18 in codes:
            text = "the Webservice key must be 32 characters"
        return WebserviceError(f"{where}: {text}", status=status, codes=codes, retryable=retryable)
    return WebserviceError(f"{where}: the shop answered {status}: {_snippet(response.text)}", status=status,
                           retryable=retryable or status >= 500 and "already been placed" not in response.text)


def _errors(response: requests.Response) -> list[tuple[int, str]]:
    """[(code, message)] from the Webservice's XML or JSON error document, or [] when it is not one."""
    try:
        data = response.json()
        return [(int(e.get("code") or 0), str(e.get("message") or "")) for e in data.get("errors") or []]
    except (ValueError, AttributeError):
        pass
    try:
        root = ElementTree.fromstring(response.content)
    except ElementTree.ParseError:
        return []
    return [(int(e.findtext("code") or 0), (e.findtext("message") or "").strip()) for e in root.iter("error")]


class Languages(dict):
    """A multilingual field's values by language id: `<name><language id="1">…</language></name>`."""


def to_xml(element: str, fields: Mapping[str, Any]) -> bytes:
    """<prestashop><element>…</element></prestashop> for a PUT or PATCH, which names only what it changes: a dict
    value nests, a list of (tag, dict) repeats a tag, Languages holds one value per language."""
    root = ElementTree.Element("prestashop")
    _fill(ElementTree.SubElement(root, element), fields)
    return _document(root)


def fill_blank(node: ElementTree.Element, fields: Mapping[str, Any], resource: str) -> None:
    """Set `fields` in a blank schema's element. A field the schema lacks is an error naming it (this shop's
    PrestaShop differs from what abonne knows); associations abonne does not send are left out."""
    for name, value in fields.items():
        child = node.find(name)
        if child is None:
            raise WebserviceError(f"this shop's {resource} have no field {name!r} (PrestaShop version?)", status=None)
        if isinstance(value, Languages):
            for language_id, text in value.items():
                language = child.find(f"language[@id='{language_id}']")
                if language is None:
                    language = ElementTree.SubElement(child, "language", id=str(language_id))
                language.text = str(text)
        elif isinstance(value, list):
            for item in list(child):
                child.remove(item)
            for tag, item in value:
                _fill(ElementTree.SubElement(child, tag), item)
        elif isinstance(value, Mapping):
            for group in [group for group in child if group.tag not in value]:
                child.remove(group)
            fill_blank(child, value, resource)
        else:
            child.text = "" if value is None else str(value)
    if node.tag != "associations":
        blank_associations = node.find("associations")
        if blank_associations is not None and "associations" not in fields:
            node.remove(blank_associations)


def _document(root: ElementTree.Element) -> bytes:
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="utf-8")


def _fill(node: ElementTree.Element, fields: Mapping[str, Any]) -> None:
    for name, value in fields.items():
        if isinstance(value, Languages):
            group = ElementTree.SubElement(node, name)
            for language_id, text in value.items():
                ElementTree.SubElement(group, "language", id=str(language_id)).text = str(text)
        elif isinstance(value, list):
            group = ElementTree.SubElement(node, name)
            for tag, item in value:
                _fill(ElementTree.SubElement(group, tag), item)
        elif isinstance(value, Mapping):
            _fill(ElementTree.SubElement(node, name), value)
        else:
            ElementTree.SubElement(node, name).text = "" if value is None else str(value)


def listed(data: Any, resource: str) -> list[dict[str, Any]]:
    """A list answer: `{"orders": [...]}`, or the bare `[]` PrestaShop sends when nothing matched."""
    if isinstance(data, dict):
        return list(data.get(resource) or [])
    return []


def one(data: Any, element: str) -> dict[str, Any]:
    """A single resource: `{"order": {...}}`."""
    if isinstance(data, dict) and isinstance(data.get(element), dict):
        return data[element]
    raise WebserviceError(f"the shop's answer has no {element}: {_snippet(json.dumps(data))}", status=None)


def _snippet(text: str) -> str:
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text or "")).strip()
    return text[:200] or "(empty)"


def _reason(error: Exception) -> str:
    text = str(error)
    return "connection refused" if "refused" in text.lower() else _snippet(text)[:120]
