from __future__ import annotations

from flask import current_app

from bridge.context import Bridge


def current_bridge() -> Bridge:
    return current_app.extensions["abonne"]
