"""Logging in and out, and the API tokens the owner hands to scripts."""
from __future__ import annotations

import secrets

from flask import flash, redirect, render_template, request, session, url_for

from bridge.services import admin_auth
from bridge.web import current_bridge
from bridge.web.admin import blueprint, logged_in, password_fingerprint, safe_next


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    bridge = current_bridge()
    target = request.values.get("next")
    if request.method == "GET":
        if logged_in():
            return redirect(safe_next(target))
        return render_template("admin/login.html", next=target, no_password=admin_auth.password_hash(bridge) is None)
    result = admin_auth.attempt_login(bridge, request.form.get("password", ""), request.remote_addr or "unknown")
    if not result.ok:
        page = render_template("admin/login.html", next=target, error=result.detail,
                               no_password=admin_auth.password_hash(bridge) is None)
        if result.retry_after_seconds:
            return page, 429, {"Retry-After": str(result.retry_after_seconds)}
        return page, 401
    # A new session on login (session fixation): nothing from the anonymous session survives, not even its
    # CSRF token, and the session carries a fresh random id.
    session.clear()
    session.permanent = True
    session["sid"] = secrets.token_urlsafe(24)
    session["pw"] = password_fingerprint()
    return redirect(safe_next(target))


@blueprint.post("/logout")
def logout():
    session.clear()
    flash("You are logged out.", "ok")
    return redirect(url_for("admin.login"))


@blueprint.get("/tokens")
def tokens():
    return render_template("admin/tokens.html", tokens=admin_auth.list_tokens(current_bridge()),
                           scopes=admin_auth.SCOPES, new_token=None)


@blueprint.post("/tokens")
def create_token():
    bridge = current_bridge()
    try:
        token = admin_auth.create_token(bridge, request.form.get("name", ""), tuple(request.form.getlist("scopes")))
    except admin_auth.AuthError as error:
        flash(str(error), "error")
        return redirect(url_for("admin.tokens"))
    # Rendered in this answer only (never through the session cookie or a redirect): abonne keeps just its hash.
    return render_template("admin/tokens.html", tokens=admin_auth.list_tokens(bridge), scopes=admin_auth.SCOPES,
                           new_token=token)


@blueprint.post("/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int):
    try:
        admin_auth.revoke_token(current_bridge(), token_id)
        flash(f"Token {token_id} is revoked: scripts using it are refused from now on.", "ok")
    except admin_auth.AuthError as error:
        flash(str(error), "error")
    return redirect(url_for("admin.tokens"))
