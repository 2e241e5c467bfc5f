"""The admin JSON API at /api/v1/ (bearer tokens)."""
from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")
