"""The gateway's callbacks: the server-to-server notify, and the customer's browser coming back."""
from __future__ import annotations

from urllib.parse import parse_qsl

from flask import Blueprint, Response, request

from bridge.context import NotConfigured
from bridge.ports import CallbackRejected, GatewayConfigError
from bridge.services.callbacks import CallbackOutcome, CallbackRefused, take_callback
from bridge.web import current_bridge
from bridge.web.errors import json_error
from bridge.web.pay import customer_page

blueprint = Blueprint("gateway", __name__)


def _form_in_order() -> list[tuple[str, str]]:
    """The posted fields in the order received: the signature covers the values in that order."""
    raw = request.get_data(cache=False)
    try:
        return parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw))
    except (UnicodeDecodeError, ValueError):
        return []


@blueprint.post("/gateway/mypos/notify")
def notify():
    form = _form_in_order()
    if not form:
        return json_error(400, "malformed_body", "expected a form-encoded myPOS callback")
    try:
        take_callback(current_bridge(), form)
    except CallbackRejected as rejected:
        return json_error(400, rejected.code, rejected.detail)
    except CallbackRefused as refused:
        return json_error(409, refused.code, refused.detail)
    except (NotConfigured, GatewayConfigError) as error:
        return json_error(503, "gateway_not_configured", str(error))
    # myPOS counts anything but exactly "OK" as a failure and then reverses the payment.
    return Response("OK", status=200, mimetype="text/plain")


@blueprint.route("/gateway/mypos/ok", methods=["GET", "POST"])
def returned():
    return customer_page("Thank you", "Your payment is being confirmed. You will receive a note from the shop; "
                                      "you can close this page.")


@blueprint.route("/gateway/mypos/cancel", methods=["GET", "POST"])
def cancelled():
    form = _form_in_order() if request.method == "POST" else []
    if form:
        try:
            outcome = take_callback(current_bridge(), form)
        except (CallbackRejected, CallbackRefused, NotConfigured, GatewayConfigError):
            outcome = None
        if outcome is CallbackOutcome.CANCELLED:
            return customer_page("Payment cancelled", "Nothing was charged. You can use the link from the shop's "
                                                      "note again whenever you are ready.")
    return customer_page("Payment not completed", "Nothing was charged. You can use the link from the shop's note "
                                                  "again whenever you are ready.")
