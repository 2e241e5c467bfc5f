"""Bearer tokens (RFC 6750): reading needs the read scope, changing anything needs write.

A missing, unknown, revoked or malformed token gets the same 401, so an answer never tells whether a token exists;
only a caller holding a live token learns that it lacks a scope (403).
"""
from __future__ import annotations

from flask import request

from bridge.services import admin_auth
from bridge.web import current_bridge
from bridge.web.api.routing import ApiError

REALM = 'Bearer realm="abonne"'


def scope_for(method: str) -> str:
    return "read" if method in ("GET", "HEAD", "OPTIONS") else "write"


def require_token() -> None:
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "unauthorized", "send the header Authorization: Bearer <token>; create a token on the "
                       "config page or with `abonne admin create-token`", headers={"WWW-Authenticate": REALM})
    bridge = current_bridge()
    needed = scope_for(request.method)
    if admin_auth.verify_token(bridge, token, needed) is not None:
        return
    other = "write" if needed == "read" else "read"
    if admin_auth.verify_token(bridge, token, other) is not None:
        raise ApiError(403, "insufficient_scope", f"this token lacks the {needed} scope: create one with "
                       f"--scope {needed}", headers={"WWW-Authenticate": f'{REALM}, error="insufficient_scope", '
                                                                           f'scope="{needed}"'})
    raise ApiError(401, "invalid_token", "the bearer token is not valid (unknown or revoked)",
                   headers={"WWW-Authenticate": f'{REALM}, error="invalid_token"'})
