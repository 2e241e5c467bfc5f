"""How WordPress and WooCommerce 10.0.2 put things on the wire, for the stand-in shop.

PHP-flavoured details a Python server does differently by default: `wp_json_encode` output, PHP's query-string
parsing, WooCommerce's OAuth 1.0a base string, `wp_specialchars_decode` and the webhook signature. Each one is
checked against the captures in tests/fixtures/woocommerce-10.0.2.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from typing import Any, Mapping
from urllib.parse import parse_qsl, quote

JSON_CONTENT_TYPE = "application/json; charset=UTF-8"


def php_json(value: Any) -> bytes:
    """`wp_json_encode` with default flags: no spaces, `\\/` for slashes, non-ASCII as `\\uXXXX`."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    # A "/" only ever occurs inside JSON strings, so escaping every one is exactly what PHP does.
    return text.replace("/", "\\/").encode("ascii")


def parse_php_query(query: str) -> dict[str, Any]:
    """Parse a query string (or form body) the way PHP fills `$_GET`.

    A repeated key keeps its first position and takes the last value; `a[]=1&a[]=2` and `a[x]=1` build arrays;
    "." and " " in a top-level name become "_". The PyPI `woocommerce` client repeats every query parameter
    (once in the signed URL, once through requests' `params=`), which PHP collapses and so do we.
    """
    result: dict[str, Any] = {}
    for raw_key, value in parse_qsl(query, keep_blank_values=True):
        base, _, rest = raw_key.partition("[")
        base = base.replace(".", "_").replace(" ", "_")
        if not base:
            continue
        if not rest:
            result[base] = value
            continue
        subkeys = re.findall(r"([^\]]*)\]", "[" + rest)
        target = result.get(base)
        if not isinstance(target, dict):
            target = {}
            result[base] = target
        for depth, sub in enumerate(subkeys):
            last = depth == len(subkeys) - 1
            if sub == "":
                sub = str(len([k for k in target if k.isdigit()]))
            if last:
                target[sub] = value
            else:
                nxt = target.get(sub)
                if not isinstance(nxt, dict):
                    nxt = {}
                    target[sub] = nxt
                target = nxt
    return result


def php_list(value: Any) -> list[str]:
    """A WP REST "array" parameter: `a[]=x&a[]=y` or a comma-separated string."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [str(v) for v in value.values()]
    if isinstance(value, list):
        return [str(v) for v in value]
    return [part.strip() for part in str(value).split(",") if part.strip() != ""]


def rawurlencode(value: str) -> str:
    """PHP `rawurlencode` (RFC 3986: only A-Z a-z 0-9 - _ . ~ stay as they are)."""
    return quote(value, safe="~")


def _join_with_equals_sign(params: Mapping[str, Any], key_prefix: str = "") -> list[str]:
    out: list[str] = []
    for key, value in params.items():
        if key_prefix:
            key = f"{key_prefix}%5B{key}%5D"
        if isinstance(value, dict):
            out.extend(_join_with_equals_sign(value, key))
        else:
            out.append(rawurlencode(f"{key}={value}"))
    return out


def _encode_values(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _encode_values(v) for k, v in value.items()}
    return rawurlencode(str(value))


def oauth_string_to_sign(method: str, url_without_query: str, params: Mapping[str, Any]) -> str:
    """WooCommerce's `check_oauth_signature()` base string.

    `params` is everything PHP saw in `$_GET` and `$_POST` minus `oauth_signature`. Top-level keys are sorted
    with strcmp; keys and values are rawurlencoded, then every `key=value` pair is rawurlencoded again and the
    pairs are joined with `%26`. The URL is the shop's own home URL plus the request path, not the Host header.
    """
    ordered = {rawurlencode(k): _encode_values(params[k]) for k in sorted(params, key=lambda k: k.encode())}
    query = "%26".join(_join_with_equals_sign(ordered))
    return f"{method.upper()}&{rawurlencode(url_without_query)}&{query}"


def oauth_signature(string_to_sign: str, consumer_secret: str, method: str = "HMAC-SHA256") -> str:
    algorithm = hashlib.sha1 if method == "HMAC-SHA1" else hashlib.sha256
    digest = hmac.new(f"{consumer_secret}&".encode(), string_to_sign.encode(), algorithm).digest()
    return base64.b64encode(digest).decode("ascii")


_SPECIALCHARS_NORMALISE = [
    (re.compile(r"&#0*39;"), "&#039;"), (re.compile(r"&#x0*27;", re.I), "&#x27;"),
    (re.compile(r"&#0*34;"), "&#034;"), (re.compile(r"&#x0*22;", re.I), "&#x22;"),
    (re.compile(r"&#0*60;"), "&#060;"), (re.compile(r"&#0*62;"), "&#062;"),
    (re.compile(r"&#0*38;"), "&#038;"), (re.compile(r"&#x0*26;", re.I), "&#x26;"),
]
_SPECIALCHARS_TABLE = {
    "&#039;": "'", "&#x27;": "'", "&quot;": '"', "&#034;": '"', "&#x22;": '"',
    "&lt;": "<", "&#060;": "<", "&gt;": ">", "&#062;": ">", "&amp;": "&", "&#038;": "&", "&#x26;": "&",
}
_SPECIALCHARS_PATTERN = re.compile("|".join(re.escape(k) for k in sorted(_SPECIALCHARS_TABLE, key=len, reverse=True)))


def wp_specialchars_decode(text: str) -> str:
    """WordPress `wp_specialchars_decode($text, ENT_QUOTES)`: one pass, so `&amp;lt;` becomes `&lt;`, not `<`."""
    if "&" not in text:
        return text
    for pattern, replacement in _SPECIALCHARS_NORMALISE:
        text = pattern.sub(replacement, text)
    return _SPECIALCHARS_PATTERN.sub(lambda m: _SPECIALCHARS_TABLE[m.group(0)], text)


def webhook_signature(body: bytes, secret: str) -> str:
    """X-WC-Webhook-Signature: base64(HMAC-SHA256(raw body, wp_specialchars_decode(secret, ENT_QUOTES)))."""
    key = wp_specialchars_decode(secret).encode("utf-8")
    return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode("ascii")


def rest_error(code: str, message: str, status: int, **data: Any) -> dict[str, Any]:
    """The WordPress REST error body: {"code","message","data":{"status",...}}."""
    return {"code": code, "message": message, "data": {"status": status, **data}}


def invalid_params(problems: list[tuple[str, str, str, Any]]) -> dict[str, Any]:
    """WordPress core's `rest_invalid_param` for schema failures: (param, code, message, data) per problem."""
    params = {name: message for name, _, message, _ in problems}
    details = {name: {"code": code, "message": message, "data": data} for name, code, message, data in problems}
    return rest_error("rest_invalid_param", "Invalid parameter(s): " + ", ".join(params), 400,
                      params=params, details=details)


def cart_token() -> str:
    """A Store API Cart-Token: shaped like the captured ones (an HS256 JWT naming a guest session `t_<hex>`)."""
    def part(value: Mapping[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).rstrip(b"=").decode()
    guest = "t_" + secrets.token_hex(15)
    signature = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    return f'{part({"alg": "HS256", "typ": "JWT"})}.{part({"user_id": guest, "iss": "store-api"})}.{signature}'
