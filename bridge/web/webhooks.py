"""POST /webhooks/<platform>/<shop_id>: verify on the raw body, store, answer fast; the worker does the rest."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from bridge.ports import WebhookRejected
from bridge.services.intake import IntakeOutcome, receive_webhook
from bridge.store.tables import Shop
from bridge.web import current_bridge
from bridge.web.errors import json_error

blueprint = Blueprint("webhooks", __name__)


# Ids past a 32-bit integer name no shop; bounded here, since the database would fail on them (a 500), not miss.
@blueprint.post("/webhooks/<platform>/<int(max=2147483647):shop_id>")
def receive(platform: str, shop_id: int):
    bridge = current_bridge()
    raw_body = request.get_data(cache=False)  # the exact bytes the shop signed; raises 413 past the limit
    with bridge.uow() as uow:
        shop = uow.session.get(Shop, shop_id)
    if shop is None or shop.platform != platform:
        return json_error(404, "unknown_shop", f"no {platform} shop has id {shop_id} in this abonne")
    try:
        outcome = receive_webhook(bridge, shop, bridge.shop_adapter(shop), request.headers, raw_body)
    except WebhookRejected as rejected:
        return json_error(rejected.status, rejected.code, rejected.detail)
    if outcome is IntakeOutcome.STORED:
        bridge.wake_worker.set()
    return jsonify(ok=True, status=outcome.value, shop_id=shop_id, message=MESSAGES[outcome].format(shop=shop)), 200


# Shown to people by the shop-side modules ("Send a test ping") in their settings pages.
MESSAGES = {
    IntakeOutcome.PING: "abonne received the ping: shop {shop.id} ({shop.name}) is connected and the signature checks",
    IntakeOutcome.STORED: "abonne stored the event for shop {shop.id}",
    IntakeOutcome.DUPLICATE: "abonne already had this event for shop {shop.id}",
}
