"""How OpenCart (PHP 8.2) reads requests and writes answers, for the stand-in: parse_str of a form body, the
Request::clean() every value goes through, http_build_query, json_encode, and the 4.1 API signature.

Rules from tests/fixtures/opencart-4.1.0.4 (signing/, errors/07, 08) and OPENCART.md §3.1: the signature covers the
md5 of http_build_query over the *cleaned* POST (trim(htmlspecialchars(ENT_COMPAT))) in the order sent, PHP's
urlencode (space "+", "~" as %7E), and the Host header byte for byte.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import Any, Iterable
from urllib.parse import quote_plus, unquote_plus

PhpArray = dict[str, Any]  # PHP arrays keep insertion order; nested values are PhpArray or str


def parse_str(text: str) -> PhpArray:
    """PHP's parse_str / $_POST: `a[b][]=1` nests, `[]` appends, dots and spaces in the top name become "_",
    a later duplicate overwrites an earlier one in place."""
    out: PhpArray = {}
    for pair in text.split("&"):
        if not pair:
            continue
        raw_key, _, raw_value = pair.partition("=")
        key, value = unquote_plus(raw_key), unquote_plus(raw_value)
        match = re.match(r"^([^\[]*)((?:\[[^\]]*\])*)", key)
        head = match.group(1) if match else key
        head = re.sub(r"[ .]", "_", head)
        if not head:
            continue
        path = [head] + re.findall(r"\[([^\]]*)\]", match.group(2) if match else "")
        target = out
        for i, part in enumerate(path):
            last = i == len(path) - 1
            if part == "":
                numbers = [int(k) for k in target if k.isdigit()]
                part = str(max(numbers) + 1 if numbers else 0)
            if last:
                target[part] = value
            else:
                nxt = target.get(part)
                if not isinstance(nxt, dict):
                    nxt = target[part] = {}
                target = nxt
    return out


def clean(value: Any) -> Any:
    """Request::clean(): trim(htmlspecialchars($v, ENT_COMPAT, 'UTF-8')) on every key and value, recursively."""
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items()}
    text = str(value).replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    return text.strip(" \t\n\r\0\x0b")


def php_urlencode(text: str) -> str:
    """PHP urlencode(): letters, digits and -_. stay, space is "+", everything else %XX (so "~" is %7E)."""
    return quote_plus(text, safe="").replace("~", "%7E")


def http_build_query(data: PhpArray, prefix: str | None = None) -> str:
    """PHP http_build_query() with its defaults (PHP_QUERY_RFC1738, "&", nested keys as a%5Bb%5D)."""
    parts: list[str] = []
    for key, value in data.items():
        name = f"{prefix}[{key}]" if prefix is not None else str(key)
        if value is None:
            continue
        if isinstance(value, dict):
            inner = http_build_query(value, name)
            if inner:
                parts.append(inner)
            continue
        if value is True or value is False:
            value = "1" if value else "0"
        parts.append(f"{php_urlencode(name)}={php_urlencode(str(value))}")
    return "&".join(parts)


def php_json(value: Any) -> bytes:
    """json_encode() without flags: compact, ASCII only, "/" escaped."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/").encode()


def php_empty(value: Any) -> bool:
    """empty(): "", "0", 0, null and [] are empty; "0.00" and "-1" are not (S4)."""
    return value is None or value == "" or value == "0" or value == 0 or value == {} or value == []


def signing_string(route: str, call: str, username: str, host: str, path: str, store_id: str, language: str,
                   currency: str, cleaned_post: PhpArray, time: str) -> str:
    """catalog/controller/startup/api.php (4.1.0.4): what the HMAC covers."""
    body_md5 = hashlib.md5(http_build_query(cleaned_post).encode()).hexdigest()
    return "".join(f"{part}\n" for part in (route, call, username, host, path, store_id, language, currency,
                                             body_md5, time))


def api_signature(key: str, text: str) -> str:
    """base64(HMAC-SHA1(oc_api.key, signing string)): the `signature` query parameter before urlencoding."""
    return base64.b64encode(hmac.new(key.encode(), text.encode(), hashlib.sha1).digest()).decode()


def sign_41_request(key: str, host: str, call: str, post: Iterable[tuple[str, str]], time: int,
                    username: str = "Default", store_id: str = "0", language: str = "en-gb",
                    currency: str = "USD", route: str = "api/order") -> dict[str, str]:
    """The query parameters a 4.1 API client sends for `post` (form pairs in the order they are sent), signed as
    the shop will check them. For tests and for trying the stand-in by hand."""
    cleaned = clean(parse_str("&".join(f"{php_urlencode(k)}={php_urlencode(v)}" for k, v in post)))
    text = signing_string(route, call, username, host, "/", store_id, language, currency, cleaned, str(time))
    return {"route": route, "call": call, "username": username, "store_id": store_id, "language": language,
            "currency": currency, "time": str(time), "signature": api_signature(key, text)}


def number(value: Any) -> int | float:
    """A PHP float as json_encode writes it in these captures: 19.9, 27.9, 5, 0."""
    as_float = float(value)
    return int(as_float) if as_float == int(as_float) else as_float
