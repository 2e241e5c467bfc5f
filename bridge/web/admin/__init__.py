"""The config page at /admin/ (server-rendered, login required, CSRF on every form, no inline script or style)."""
from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from urllib.parse import urlsplit

from flask import Blueprint, abort, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from werkzeug.exceptions import HTTPException, InternalServerError
from wtforms.validators import ValidationError

from bridge.services import admin_auth
from bridge.web import current_bridge

log = logging.getLogger(__name__)

blueprint = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates", static_folder="static")

OPEN_ENDPOINTS = {"admin.login", "admin.static"}


def password_fingerprint() -> str | None:
    """Binds a session to the password it was opened with: a new password ends every open session."""
    stored = admin_auth.password_hash(current_bridge())
    return hashlib.sha256(stored.encode()).hexdigest()[:16] if stored else None


def logged_in() -> bool:
    fingerprint = session.get("pw")
    return bool(session.get("sid")) and fingerprint is not None and fingerprint == password_fingerprint()


def safe_next(target: str | None) -> str:
    """Only a path on this page: never an open redirect to another site."""
    if target and target.startswith("/admin/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("admin.dashboard")


@blueprint.before_request
def guard():
    if request.endpoint == "admin.static":
        return None
    if request.endpoint not in OPEN_ENDPOINTS and not logged_in():
        session.pop("sid", None)
        if request.method == "GET":
            return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
        return redirect(url_for("admin.login"))
    if request.method == "POST":
        try:
            validate_csrf(request.form.get("csrf_token"))
        except (ValidationError, CSRFError) as error:
            abort(400, f"This form expired or did not come from this page ({error}). Go back, reload and try again.")
    return None


@blueprint.context_processor
def page_helpers():
    return {"csrf_token": generate_csrf, "logged_in": logged_in}


@blueprint.app_template_filter("when")
def when(value: str | datetime | None) -> str:
    """ISO timestamps as the owner reads them: 2027-02-28 09:00 UTC."""
    if not value:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return f"{moment:%Y-%m-%d %H:%M} UTC"


@blueprint.app_template_filter("day")
def day(value: str | datetime | None) -> str:
    if not value:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return f"{moment:%Y-%m-%d}"


@blueprint.app_template_filter("words")
def words(value: str | None) -> str:
    return (value or "").replace("_", " ")


@blueprint.errorhandler(HTTPException)
def error_page(error: HTTPException):
    return render_template("admin/error.html", error=error), error.code or 500


@blueprint.errorhandler(Exception)
def unexpected_error(error: Exception):
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_page(InternalServerError("abonne could not show this page; the error is logged on the server."))


from bridge.web.admin import access, dashboard, operations, settings, subscriptions  # noqa: E402,F401  (routes)
