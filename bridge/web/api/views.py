"""The operations of /api/v1: each calls the same service function as the CLI and the config page, and only
shapes what it returns."""
from __future__ import annotations

from typing import Any, Callable

from bridge.context import Bridge
from bridge.ports import GatewayConfigError, GatewayUnavailable
from bridge.services import admin_views, agreements, api_views, dashboard, lifecycle, operations, setup
from bridge.store.tables import GatewayAccount, Plan, ProductPlan, Shop
from bridge.web.api import schemas as s
from bridge.web.api.routing import ApiError, invalid_input, operation

# ------------------------------------------------------------------------------------------------ agreements


@operation("GET", "/agreements", summary="Search agreements, newest first", tag="agreements",
           query=s.AgreementQuery, response=s.AgreementPage)
def list_agreements(bridge: Bridge, query: dict[str, Any]) -> agreements.Page:
    return agreements.search_agreements(bridge, text=query["q"], state=query.get("state"),
                                         shop_id=query.get("shop_id"), plan=query.get("plan"), page=query["page"],
                                         per_page=query["per_page"])


@operation("GET", "/agreements/<int:agreement_id>", summary="One agreement with its charges and timeline",
           tag="agreements", path=s.AgreementPath, response=s.AgreementDetail)
def show_agreement(bridge: Bridge, agreement_id: int) -> dict[str, Any]:
    found = agreements.show_agreement(bridge, agreement_id)
    if found is None:
        raise ApiError(404, "not_found", f"there is no agreement {agreement_id}")
    return found


def _act(bridge: Bridge, agreement_id: int, action: Callable[..., str], *args: Any) -> dict[str, Any]:
    if not api_views.agreement_exists(bridge, agreement_id):
        raise ApiError(404, "not_found", f"there is no agreement {agreement_id}")
    message = action(bridge, agreement_id, *args)
    return {"message": message, "agreement": agreements.show_agreement(bridge, agreement_id)}


def _action(name: str, summary: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return operation("POST", f"/agreements/<int:agreement_id>/actions/{name}", summary=summary, tag="agreements",
                     path=s.AgreementPath, response=s.ActionResult, errors=(409,), **options)


@_action("pause", "Stop charging until resumed")
def pause_agreement(bridge: Bridge, agreement_id: int) -> dict[str, Any]:
    return _act(bridge, agreement_id, lifecycle.pause)


@_action("resume", "Charge again; an overdue cycle is charged on the next pass")
def resume_agreement(bridge: Bridge, agreement_id: int) -> dict[str, Any]:
    return _act(bridge, agreement_id, lifecycle.resume)


@_action("skip-next", "Postpone the next cycle by one period")
def skip_next_cycle(bridge: Bridge, agreement_id: int) -> dict[str, Any]:
    return _act(bridge, agreement_id, lifecycle.skip_next)


@_action("charge-now", "Charge the next cycle on the worker's next pass")
def charge_agreement_now(bridge: Bridge, agreement_id: int) -> dict[str, Any]:
    return _act(bridge, agreement_id, lifecycle.charge_now)


@_action("resend-card-link", "Send the customer a fresh card-update link as a shop note")
def resend_card_link(bridge: Bridge, agreement_id: int) -> dict[str, Any]:
    return _act(bridge, agreement_id, lifecycle.resend_card_link)


@_action("cancel", "Cancel now, or when the paid period ends", body=lambda bridge, _: s.CancelInput(),
         body_required=False)
def cancel_agreement(bridge: Bridge, agreement_id: int, body: dict[str, Any]) -> dict[str, Any]:
    return _act(bridge, agreement_id, lifecycle.cancel, body["at_period_end"])


@_action("set-next-date", "Move the next charge; later cycles follow it", body=lambda bridge, _: s.NextDateInput())
def set_next_charge_date(bridge: Bridge, agreement_id: int, body: dict[str, Any]) -> dict[str, Any]:
    return _act(bridge, agreement_id, lifecycle.set_next_date, body["next_charge_at"])


# ------------------------------------------------------------------------------------------------ shops

def _shop(bridge: Bridge, shop: Shop) -> dict[str, Any]:
    adapter: Any = bridge.registry.shops.get(shop.platform)
    saved = admin_views.secret_state(bridge, adapter.settings_fields if adapter else (), shop.secrets_encrypted)
    return {"id": shop.id, "platform": shop.platform, "name": shop.name, "url": shop.url, "settings": shop.settings,
            "secrets": {name: "set" if ok else "unset" for name, ok in saved.items()},
            "webhook_url": setup.webhook_url(bridge, shop), "created_at": shop.created_at}


def _shop_or_404(bridge: Bridge, shop_id: int) -> Shop:
    try:
        return setup.get_shop(bridge, shop_id)
    except setup.SetupError:
        raise ApiError(404, "not_found", f"there is no shop {shop_id}") from None


@operation("GET", "/shops", summary="Connected shops (never their secrets)", tag="shops", response=s.ShopList,
           errors=(409,))
def list_shops(bridge: Bridge) -> dict[str, Any]:
    return {"items": [_shop(bridge, shop) for shop in setup.list_shops(bridge)]}


def _shop_inputs(bridge: Bridge) -> dict[str, Any]:
    """One body schema per platform, chosen by `platform`."""
    schemas = {platform: s.shop_input_schema(platform, tuple(adapter.settings_fields))
               for platform, adapter in sorted(bridge.registry.shops.items())}
    return {"oneOf": list(schemas.values()), "discriminator": {"propertyName": "platform"}}


@operation("POST", "/shops", summary="Connect a shop; with check (the default) only after its API answered",
           tag="shops", response=s.Shop, status=201, errors=(409,),
           body=lambda bridge, payload: s.pick_shop_input(dict(bridge.registry.shops), payload),
           body_document=_shop_inputs)
def add_shop(bridge: Bridge, body: dict[str, Any]) -> dict[str, Any]:
    shop = setup.add_shop(bridge, body["platform"], body["settings"], name=body["name"], check=body["check"])
    return _shop(bridge, shop)


@operation("POST", "/shops/<int:shop_id>/test", summary="Call the shop's API once and say what is wrong",
           tag="shops", path=s.ShopPath, response=s.ConnectionTest, errors=(409,))
def test_shop(bridge: Bridge, shop_id: int) -> Any:
    return bridge.shop_adapter(_shop_or_404(bridge, shop_id)).test_connection()


@operation("POST", "/shops/<int:shop_id>/register-webhooks", summary="Create or repair the shop's order webhooks",
           tag="shops", path=s.ShopPath, response=s.WebhookRegistration, errors=(409, 502),
           description="502 when the shop's API refuses or cannot be reached; the answer says why.")
def register_webhooks(bridge: Bridge, shop_id: int) -> dict[str, Any]:
    shop = _shop_or_404(bridge, shop_id)
    done, pinged = setup.register_webhooks(bridge, shop)
    url = setup.webhook_url(bridge, shop)
    detail = ("the webhooks are registered" if pinged else
              f"the shop created the webhooks, but its ping never reached abonne at {url}: ABONNE_PUBLIC_URL must "
              "be an address the shop can reach; then register again")
    return {"done": done, "webhook_url": url, "pinged": pinged, "detail": detail}


# ------------------------------------------------------------------------------------------------ gateway

def _gateway(bridge: Bridge, account: GatewayAccount) -> dict[str, Any]:
    saved = admin_views.secret_state(bridge, bridge.registry.gateway.settings_fields, account.secrets_encrypted)
    return {"settings": account.settings, "secrets": {name: "set" if ok else "unset" for name, ok in saved.items()},
            "updated_at": account.updated_at}


def _gateway_input(bridge: Bridge) -> type:
    return s.gateway_input_schema(tuple(bridge.registry.gateway.settings_fields))


@operation("GET", "/gateway", summary="The myPOS settings (the private key only as set or unset)", tag="gateway",
           response=s.Gateway, errors=(404, 409))
def show_gateway(bridge: Bridge) -> dict[str, Any]:
    account = setup.get_gateway_account(bridge)
    if account is None:
        raise ApiError(404, "not_found", "the gateway is not set up yet: PUT /api/v1/gateway")
    return _gateway(bridge, account)


@operation("PUT", "/gateway", summary="Save the myPOS settings after the key and certificate loaded", tag="gateway",
           response=s.Gateway, errors=(409,), body=lambda bridge, _: _gateway_input(bridge)(),
           body_document=_gateway_input)
def set_gateway(bridge: Bridge, body: dict[str, Any]) -> dict[str, Any]:
    return _gateway(bridge, setup.set_gateway(bridge, body))


@operation("POST", "/gateway/check", summary="Sign a harmless status query and verify myPOS's signed answer",
           tag="gateway", response=s.ConnectionTest, errors=(409,))
def check_gateway(bridge: Bridge) -> dict[str, Any]:
    try:
        return {"ok": True, "detail": setup.check_gateway_online(bridge)}
    except (GatewayConfigError, GatewayUnavailable) as error:
        return {"ok": False, "detail": str(error)}


# ------------------------------------------------------------------------------------------------ plans

def _plan(plan: Plan, maps: list[ProductPlan]) -> dict[str, Any]:
    return {"id": plan.id, "name": plan.name, "every": plan.period_every, "unit": plan.period_unit,
            "trial_days": plan.trial_days, "signup_fee": plan.signup_fee, "cycles": plan.cycles,
            "products": [{"shop_id": m.shop_id, "product": m.product_ref} for m in maps],
            "created_at": plan.created_at}


@operation("GET", "/plans", summary="Plans and the products they cover", tag="plans", response=s.PlanList)
def list_plans(bridge: Bridge) -> dict[str, Any]:
    return {"items": [_plan(plan, maps) for plan, maps in setup.list_plans(bridge)]}


@operation("POST", "/plans", summary="Add a plan; price and currency come from each order line", tag="plans",
           response=s.Plan, status=201, body=lambda bridge, _: s.PlanInput())
def add_plan(bridge: Bridge, body: dict[str, Any]) -> dict[str, Any]:
    return _plan(setup.add_plan(bridge, body["name"], body["every"], body["unit"], body["trial_days"],
                                body["signup_fee"], body["cycles"]), [])


@operation("POST", "/plans/<path:name>/products", summary="Sell a shop product as a subscription on this plan",
           tag="plans", path=s.PlanPath, response=s.Mapping, status=201, body=lambda bridge, _: s.MappingInput())
def map_product(bridge: Bridge, name: str, body: dict[str, Any]) -> dict[str, Any]:
    if api_views.plan_named(bridge, name) is None:
        raise ApiError(404, "not_found", f"there is no plan named {name!r}")
    try:
        setup.get_shop(bridge, body["shop_id"])
    except setup.SetupError:
        raise invalid_input({"shop_id": [f"there is no shop {body['shop_id']}"]}) from None
    mapping = setup.map_product(bridge, name, body["shop_id"], body["product"])
    return {"id": mapping.id, "plan": name, "shop_id": mapping.shop_id, "product": mapping.product_ref,
            "created_at": mapping.created_at}


# ------------------------------------------------------------------------------------------------ operations

@operation("GET", "/charges/unknown", summary="Charges whose outcome the janitor is still asking myPOS about",
           tag="operations", response=s.UnknownChargeList)
def unknown_charges(bridge: Bridge) -> dict[str, Any]:
    return {"items": operations.unknown_charges(bridge)}


@operation("GET", "/outbox", summary="Updates queued for the shops, newest first; dead ones were given up",
           tag="operations", query=s.OutboxQuery, response=s.OutboxList)
def list_outbox(bridge: Bridge, query: dict[str, Any]) -> dict[str, Any]:
    return {"items": operations.outbox_messages(bridge, state=query.get("state"), limit=query["limit"])}


@operation("POST", "/outbox/<int:message_id>/retry", summary="Send a dead message again", tag="operations",
           path=s.OutboxPath, response=s.Message, errors=(409,))
def retry_outbox_message(bridge: Bridge, message_id: int) -> dict[str, Any]:
    if not api_views.outbox_message_exists(bridge, message_id):
        raise ApiError(404, "not_found", f"there is no outbox message {message_id}")
    return {"message": operations.retry_message(bridge, message_id)}


@operation("GET", "/webhook-health", summary="Webhook deliveries per shop in the last 24 hours", tag="operations",
           response=s.WebhookHealthList)
def webhook_health(bridge: Bridge) -> dict[str, Any]:
    return {"items": operations.webhook_health(bridge)}


@operation("GET", "/dashboard", summary="Active subscriptions, MRR, renewals due, failed and recovered payments",
           tag="operations", response=s.Dashboard)
def show_dashboard(bridge: Bridge) -> dashboard.Dashboard:
    return dashboard.build(bridge)

