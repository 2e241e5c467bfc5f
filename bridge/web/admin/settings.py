"""The gateway, the shops, the plans and which products they cover."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from bridge.context import NotConfigured
from bridge.ports import GatewayConfigError, GatewayUnavailable, ShopError
from bridge.services import admin_views, operations, setup
from bridge.services.setup import SetupError
from bridge.web import current_bridge
from bridge.web.admin import blueprint
from bridge.web.admin.fields import field_views, is_file, keep_when_blank, submitted

PERIOD_UNITS = ("day", "week", "month", "year")


# ------------------------------------------------------------------------------------------------------ gateway

def _gateway_page(error: str = "", values: dict | None = None, status: int = 200):
    bridge = current_bridge()
    fields = bridge.registry.gateway.settings_fields
    account = setup.get_gateway_account(bridge)
    saved: dict[str, bool] = {}
    shown = values or {}
    if account is not None:
        saved = admin_views.secret_state(bridge, fields, account.secrets_encrypted)
        saved.update({f.name: bool(account.settings.get(f.name)) for f in fields if is_file(f) and not f.secret})
        shown = {**account.settings, **shown}
    return render_template("admin/gateway.html", account=account, error=error,
                           fields=field_views(fields, shown, saved)), status


@blueprint.get("/gateway")
def gateway():
    return _gateway_page()


@blueprint.post("/gateway")
def save_gateway():
    bridge = current_bridge()
    fields = bridge.registry.gateway.settings_fields
    values: dict[str, str] = {}
    try:
        values = submitted(fields, request)
        admin_views.set_gateway_keeping_blanks(bridge, values, keep_when_blank(fields))
    except (SetupError, GatewayConfigError) as error:
        typed = {f.name: values.get(f.name, "") for f in fields if not (f.secret or is_file(f))}
        return _gateway_page(f"Not saved: {error}", typed, 400)
    flash("myPOS settings saved: the key and the certificate load. Use “Check with myPOS” to test them online.", "ok")
    return redirect(url_for("admin.gateway"))


@blueprint.post("/gateway/check")
def check_gateway():
    try:
        flash(f"Check passed: {setup.check_gateway_online(current_bridge())}.", "ok")
    except NotConfigured:
        flash("Save the myPOS settings first.", "error")
    except GatewayConfigError as error:
        flash(f"The settings cannot be used: {error}", "error")
    except GatewayUnavailable as error:
        flash(f"myPOS could not be asked or its answer could not be trusted: {error}. Check the endpoint, the key "
              "index and that this server can reach myPOS.", "error")
    return redirect(url_for("admin.gateway"))


# -------------------------------------------------------------------------------------------------------- shops

@blueprint.get("/shops")
def shops():
    bridge = current_bridge()
    listed = setup.list_shops(bridge)
    health = {h.shop_id: h for h in operations.webhook_health(bridge)}
    return render_template("admin/shops.html", shops=listed, health=health,
                           webhook_urls={s.id: setup.webhook_url(bridge, s) for s in listed})


def _platforms() -> list[str]:
    return sorted(current_bridge().registry.shops)


def _new_shop_page(platform: str, error: str = "", values: dict | None = None, name: str = "", status: int = 200):
    adapter_cls = current_bridge().registry.shops[platform]
    return render_template("admin/shop_new.html", platforms=_platforms(), platform=platform, error=error, name=name,
                           fields=field_views(adapter_cls.settings_fields, values)), status


@blueprint.get("/shops/new")
def new_shop():
    platform = request.args.get("platform") or _platforms()[0]
    if platform not in current_bridge().registry.shops:
        abort(404, f"abonne does not know the platform {platform!r}")
    return _new_shop_page(platform)


@blueprint.post("/shops/new")
def add_shop():
    bridge = current_bridge()
    platform = request.form.get("platform", "")
    if platform not in bridge.registry.shops:
        abort(400, f"platform must be one of {', '.join(_platforms())}")
    fields = bridge.registry.shops[platform].settings_fields
    values = submitted(fields, request)
    name = request.form.get("name", "")
    try:
        shop = setup.add_shop(bridge, platform, values, name=name, check=not request.form.get("skip_check"))
    except SetupError as error:
        message = str(error).replace(" (--skip-check saves it anyway)", "")
        kept = {f.name: values.get(f.name, "") for f in fields if not f.secret}
        return _new_shop_page(platform, f"{message}. Please type the keys again.", kept, name, 400)
    flash(f"Shop {shop.id} is connected. Next: register its webhooks so that orders reach abonne.", "ok")
    return redirect(url_for("admin.shop", shop_id=shop.id))


def _shop_page(shop_id: int, error: str = "", status: int = 200):
    bridge = current_bridge()
    try:
        shop = setup.get_shop(bridge, shop_id)
    except SetupError as missing:
        abort(404, str(missing))
    adapter_cls = bridge.registry.shops.get(shop.platform)
    fields = adapter_cls.settings_fields if adapter_cls else ()
    health = next((h for h in operations.webhook_health(bridge) if h.shop_id == shop_id), None)
    return render_template("admin/shop.html", shop=shop, error=error, health=health,
                           webhook_url=setup.webhook_url(bridge, shop),
                           fields=field_views(fields, shop.settings,
                                              admin_views.secret_state(bridge, fields, shop.secrets_encrypted))), \
        status


@blueprint.get("/shops/<int:shop_id>")
def shop(shop_id: int):
    return _shop_page(shop_id)


@blueprint.post("/shops/<int:shop_id>")
def update_shop(shop_id: int):
    bridge = current_bridge()
    try:
        adapter_cls = bridge.registry.shops.get(setup.get_shop(bridge, shop_id).platform)
    except SetupError as missing:
        abort(404, str(missing))
    if adapter_cls is None:
        abort(404, f"shop {shop_id} uses a platform this abonne does not know")
    try:
        admin_views.update_shop(bridge, shop_id, submitted(adapter_cls.settings_fields, request),
                                name=request.form.get("name", ""), check=not request.form.get("skip_check"))
    except SetupError as error:
        return _shop_page(shop_id, str(error), 400)
    flash("Shop settings saved.", "ok")
    return redirect(url_for("admin.shop", shop_id=shop_id))


@blueprint.post("/shops/<int:shop_id>/test")
def test_shop(shop_id: int):
    try:
        report = admin_views.test_shop_connection(current_bridge(), shop_id)
    except (SetupError, NotConfigured) as error:
        flash(str(error), "error")
    else:
        flash(f"Connection works: {report.detail}" if report.ok else f"Connection failed: {report.detail}",
              "ok" if report.ok else "error")
    return redirect(url_for("admin.shop", shop_id=shop_id))


@blueprint.post("/shops/<int:shop_id>/webhooks")
def register_webhooks(shop_id: int):
    bridge = current_bridge()
    try:
        lines, pinged = setup.register_webhooks(bridge, setup.get_shop(bridge, shop_id))
    except (SetupError, NotConfigured) as error:
        flash(str(error), "error")
    except ShopError as error:
        flash(f"The shop refused to register the webhooks: {error}", "error")
    else:
        flash("Webhooks: " + "; ".join(lines) + ".", "ok")
        if not pinged:
            flash("The shop did not reach abonne when it created the webhooks: check that ABONNE_PUBLIC_URL "
                  f"({bridge.settings.public_url}) is reachable from the shop.", "error")
    return redirect(url_for("admin.shop", shop_id=shop_id))


# -------------------------------------------------------------------------------------------------------- plans

@blueprint.get("/plans")
def plans():
    bridge = current_bridge()
    return render_template("admin/plans.html", plans=setup.list_plans(bridge), shops=setup.list_shops(bridge),
                           units=PERIOD_UNITS)


def _number(name: str, label: str, default: int | None) -> int | None:
    text = request.form.get(name, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise SetupError(f"{label} must be a whole number, got {text!r}") from None


@blueprint.post("/plans")
def add_plan():
    try:
        plan = setup.add_plan(current_bridge(), request.form.get("name", ""), _number("every", "every", 1),
                              request.form.get("unit", ""), trial_days=_number("trial_days", "trial days", 0),
                              signup_fee=request.form.get("signup_fee", "").strip() or "0",
                              cycles=_number("cycles", "number of payments", None))
        flash(f"Plan “{plan.name}” added. Now map the shop's products to it.", "ok")
    except SetupError as error:
        flash(f"The plan was not added: {error}", "error")
    return redirect(url_for("admin.plans"))


@blueprint.post("/plans/map")
def map_product():
    try:
        shop_id = _number("shop_id", "shop", None)
        if shop_id is None:
            raise SetupError("choose a shop")
        mapping = setup.map_product(current_bridge(), request.form.get("plan", ""), shop_id,
                                    request.form.get("product", ""))
        flash(f"Product {mapping.product_ref} of shop {shop_id} is now sold as a subscription.", "ok")
    except SetupError as error:
        flash(f"The product was not mapped: {error}", "error")
    return redirect(url_for("admin.plans"))
