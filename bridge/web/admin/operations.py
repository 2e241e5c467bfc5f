"""What needs the owner's eye: unknown charges, the outbox and its dead letters, webhook health."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from bridge.services import operations
from bridge.web import current_bridge
from bridge.web.admin import blueprint

OUTBOX_STATES = ("pending", "dead", "done")


@blueprint.get("/operations/unknown-charges")
def unknown_charges():
    return render_template("admin/unknown_charges.html", charges=operations.unknown_charges(current_bridge()))


@blueprint.get("/operations/outbox")
def outbox():
    state = request.args.get("state") if request.args.get("state") in OUTBOX_STATES else None
    return render_template("admin/outbox.html", messages=operations.outbox_messages(current_bridge(), state=state),
                           state=state, states=OUTBOX_STATES)


@blueprint.post("/operations/outbox/<int:message_id>/retry")
def retry_message(message_id: int):
    try:
        flash(operations.retry_message(current_bridge(), message_id) + ".", "ok")
    except operations.OperationError as error:
        flash(f"Not retried: {error}.", "error")
    return redirect(url_for("admin.outbox", state="dead"))


@blueprint.get("/operations/webhooks")
def webhooks():
    return render_template("admin/webhooks.html", health=operations.webhook_health(current_bridge()))
