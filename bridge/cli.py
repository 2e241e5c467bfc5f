"""`abonne` commands. Each reads ABONNE_* settings like the server and exits non-zero with a plain message."""
from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from dataclasses import replace
from functools import wraps
from pathlib import Path
from typing import Any, Callable

import click

from bridge.config import ConfigError
from bridge.context import Bridge, NotConfigured
from bridge.ports import GatewayConfigError
from bridge.services import agreements as agreement_views
from bridge.services import setup
from bridge.vault import VaultError


def _bridge() -> Bridge:
    """The bridge a caller passed as click's context object (tests share their server's, clock included), or
    one built from the ABONNE_* environment."""
    context = click.get_current_context(silent=True)
    if context is not None and isinstance(context.find_root().obj, Bridge):
        return context.find_root().obj
    from bridge.app import build_bridge
    return build_bridge()


def _ready_bridge() -> Bridge:
    from bridge.store.db import migrations_current
    bridge = _bridge()
    if not migrations_current(bridge.db.engine):
        raise click.ClickException(f"the database at {bridge.settings.database_url} is not migrated to this "
                                   "version: run `abonne migrate` first")
    return bridge


def _log_to_stdout(bridge: Bridge) -> None:
    """`serve` and `worker` log to stdout, one JSON object a line unless ABONNE_LOG_FORMAT=text."""
    from bridge import logs
    logs.configure(bridge.settings.log_format, level=logging.getLevelName(bridge.settings.log_level))


def friendly(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the project's own errors into a one-line message and exit code 1, never a traceback."""
    @wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (setup.SetupError, ConfigError, NotConfigured, GatewayConfigError, VaultError) as error:
            raise click.ClickException(str(error)) from None
    return run


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


@click.group()
def main() -> None:
    """abonne: recurring payments between your shop and myPOS."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.command()
@friendly
def migrate() -> None:
    """Create or upgrade the database schema."""
    from bridge.store.db import migrate as run_migrations
    bridge = _bridge()
    run_migrations(bridge.settings.database_url)
    click.echo(f"database at {bridge.settings.database_url} is up to date")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@click.option("--no-worker", is_flag=True, help="Serve web requests only; run `abonne worker` separately.")
@friendly
def serve(host: str, port: int, threads: int, no_worker: bool) -> None:
    """Serve the web endpoints (waitress) with the embedded worker."""
    from bridge.app import create_app
    from bridge.serving import make_server, request_shutdown
    from bridge.worker import start_in_thread
    bridge = _ready_bridge()
    _log_to_stdout(bridge)
    if "ABONNE_PUBLIC_URL" not in os.environ:  # nothing said otherwise: callbacks come to where we listen
        bridge.settings = replace(bridge.settings, public_url=f"http://{host}:{port}")
    server = make_server(create_app(bridge), host=host, port=port, threads=threads)
    stop = None
    if not no_worker:
        _, stop = start_in_thread(bridge)
    click.echo(f"abonne listening on http://{host}:{server.effective_port} "
               f"({'web only' if no_worker else 'web and worker'}); public URL {bridge.settings.public_url}")
    signal.signal(signal.SIGTERM, lambda *_: request_shutdown(server))
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.task_dispatcher.shutdown(timeout=5)
        if stop is not None:
            stop.set()
            bridge.wake_worker.set()


@main.command()
@click.option("--once", is_flag=True, help="Run one pass and print what it did.")
@friendly
def worker(once: bool) -> None:
    """Process stored webhooks and send queued shop updates."""
    from bridge.worker import run_forever, run_once
    bridge = _ready_bridge()
    _log_to_stdout(bridge)
    if once:
        report = run_once(bridge)
        click.echo(f"deliveries processed: {report.deliveries}; shop updates sent: {report.sent}, "
                   f"to retry: {report.retried}, given up: {report.dead}")
        return
    stop = threading.Event()
    # SIGTERM (systemd, docker stop): finish the calls in flight, claim nothing new, exit 0.
    signal.signal(signal.SIGTERM, lambda *_: (stop.set(), bridge.wake_worker.set()))
    click.echo("abonne worker running")
    try:
        run_forever(bridge, stop)
    except KeyboardInterrupt:
        pass
    click.echo("abonne worker stopped")


@main.command()
@click.option("--once", is_flag=True, required=True, help="Run one renewal pass (required: the loop is `worker`).")
@friendly
def renew(once: bool) -> None:
    """One renewal pass: settle unknown charges, charge up to 200 due agreements, push, and print a summary."""
    from bridge.services import janitor, outbox
    from bridge.services.renew import renew_due
    bridge = _ready_bridge()
    settled = janitor.resolve(bridge)
    report = renew_due(bridge)
    sent = outbox.drain(bridge)
    click.echo(f"renewals: {report.summary()}")
    click.echo(f"unknown charges settled: {settled.settled}, still unknown: {settled.still_unknown}")
    click.echo(f"shop updates sent: {sent.sent}, to retry: {sent.retried}, given up: {sent.dead}")


@main.command()
@friendly
def reconcile() -> None:
    """Poll every shop for orders whose webhooks were lost, and re-enable disabled webhooks."""
    from bridge.services.reconcile import reconcile_due
    click.echo(reconcile_due(_ready_bridge(), force=True).summary())


@main.command()
@click.option("--port", default=8000, show_default=True, type=int, help="Where abonne listens (0: a free port).")
@click.option("--password", default=None, help="Admin password for the config page (default: generated, printed).")
@click.option("--fast", is_flag=True, help="No pauses between the steps.")
@click.option("--exit", "--no-serve", "exit_after", is_flag=True, help="Stop after the walk-through.")
@click.option("--platform", default="woocommerce", show_default=True, type=click.Choice(["woocommerce", "prestashop"]),
              help="Which stand-in shop the customer orders in.")
@friendly
def demo(port: int, password: str | None, fast: bool, exit_after: bool, platform: str) -> None:
    """Show what abonne does: a stand-in shop and myPOS, one customer's year, then the config page with that data.

    Runs on this machine only, in a fresh database of its own under the instance folder's demo/."""
    from bridge.demo import run_demo
    run_demo(port=port, password=password, fast=fast, serve=not exit_after, platform=platform)


# ----------------------------------------------------------------------------------------------------- shops

def _shop_setting_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """One option per setting any shop adapter declares, so a new platform brings its own options."""
    from bridge.app import REGISTRY
    seen: dict[str, Any] = {}
    for adapter in REGISTRY.shops.values():
        for field in adapter.settings_fields:
            seen.setdefault(field.name, field)
    for field in reversed(list(seen.values())):
        command = click.option(f"--{field.name.replace('_', '-')}", field.name, default=None,
                               help=f"{field.label}{' (secret)' if field.secret else ''}")(command)
    return command


@main.group()
def shop() -> None:
    """Connect shops."""


@shop.command("add")
@click.option("--platform", required=True, help="woocommerce, prestashop or opencart")
@click.option("--name", default="", help="A name for people; defaults to the URL.")
@click.option("--register-webhooks", is_flag=True,
              help="Create the shop's order webhooks through its API (abonne must be reachable at its public URL).")
@click.option("--skip-check", is_flag=True, help="Save the shop even if its API cannot be reached now.")
@_shop_setting_options
@friendly
def shop_add(platform: str, name: str, register_webhooks: bool, skip_check: bool, **values: Any) -> None:
    """Connect a shop and print its id and webhook URL."""
    bridge = _ready_bridge()
    new = setup.add_shop(bridge, platform, values, name=name, check=not skip_check)
    url = setup.webhook_url(bridge, new)
    click.echo(f"shop {new.id} added ({new.platform}, {new.url})")
    if not register_webhooks:
        click.echo(f"webhook URL: {url}")
        click.echo(bridge.registry.shops[new.platform].connect_instructions(url, new.id))
        return
    _register_webhooks(bridge, new, url)


def _register_webhooks(bridge: Bridge, shop_row: Any, url: str) -> None:
    from bridge.ports import ShopError
    try:
        lines, pinged = setup.register_webhooks(bridge, shop_row)
    except ShopError as error:
        raise click.ClickException(f"the webhooks of shop {shop_row.id} could not be registered: {error.detail}. "
                                   f"Fix it and run `abonne shop register-webhooks {shop_row.id}`.")
    for line in lines:
        click.echo(line)
    click.echo(f"webhook URL: {url}")
    if not pinged:
        raise click.ClickException(f"the shop created the webhooks, but its ping never reached abonne at {url}: "
                                   "start `abonne serve` there (ABONNE_PUBLIC_URL must be the address the shop can "
                                   "reach), then run `abonne shop register-webhooks` again")


@shop.command("register-webhooks")
@click.argument("shop_id", type=int)
@friendly
def shop_register_webhooks(shop_id: int) -> None:
    """(Re)create a shop's order webhooks through its API."""
    bridge = _ready_bridge()
    found = setup.get_shop(bridge, shop_id)
    _register_webhooks(bridge, found, setup.webhook_url(bridge, found))


@shop.command("list")
@click.option("--json", "as_json", is_flag=True)
@friendly
def shop_list(as_json: bool) -> None:
    """List connected shops (never their secrets)."""
    bridge = _ready_bridge()
    rows = [{"id": s.id, "platform": s.platform, "name": s.name, "url": s.url,
             "webhook_url": setup.webhook_url(bridge, s), "created_at": s.created_at.isoformat()}
            for s in setup.list_shops(bridge)]
    if as_json:
        _print_json(rows)
        return
    if not rows:
        click.echo("no shops yet: add one with `abonne shop add`")
    for row in rows:
        click.echo(f"{row['id']:>4}  {row['platform']:<12} {row['url']}  webhook: {row['webhook_url']}")


@shop.command("test")
@click.argument("shop_id", type=int)
@friendly
def shop_test(shop_id: int) -> None:
    """Call the shop's API once and say what is wrong, if anything."""
    bridge = _ready_bridge()
    report = bridge.shop_adapter(setup.get_shop(bridge, shop_id)).test_connection()
    if not report.ok:
        raise click.ClickException(f"shop {shop_id}: {report.detail}")
    click.echo(f"shop {shop_id}: {report.detail}")


# ----------------------------------------------------------------------------------------------------- gateway

@main.group()
def gateway() -> None:
    """Set up the myPOS merchant account."""


@gateway.command("set")
@click.option("--sid", required=True, help="Store ID (SID)")
@click.option("--wallet-number", required=True, help="myPOS wallet / client number")
@click.option("--key-index", required=True, help="Key index of the uploaded certificate")
@click.option("--private-key", "private_key", required=True, type=click.Path(exists=True, dir_okay=False),
              help="File with the merchant's private key (PEM)")
@click.option("--certificate", required=True, type=click.Path(exists=True, dir_okay=False),
              help="File with myPOS's certificate (PEM)")
@click.option("--mode", type=click.Choice(["test", "production"]), default="test", show_default=True)
@click.option("--endpoint", default=None, help="Override the endpoint URL (e.g. a local stand-in).")
@friendly
def gateway_set(sid: str, wallet_number: str, key_index: str, private_key: str, certificate: str, mode: str,
                endpoint: str | None) -> None:
    """Save the gateway settings after checking that key and certificate load."""
    from adapters.mypos.gateway import PRODUCTION_ENDPOINT, TEST_ENDPOINT
    bridge = _ready_bridge()
    values = {"sid": sid, "wallet_number": wallet_number, "key_index": key_index,
              "private_key_pem": Path(private_key).read_text(), "certificate_pem": Path(certificate).read_text(),
              "endpoint": endpoint or (TEST_ENDPOINT if mode == "test" else PRODUCTION_ENDPOINT)}
    account = setup.set_gateway(bridge, values)
    click.echo(f"gateway saved: SID {account.settings['sid']}, endpoint {account.settings['endpoint']}")


@gateway.command("show")
@click.option("--json", "as_json", is_flag=True)
@friendly
def gateway_show(as_json: bool) -> None:
    """Show the gateway settings (the private key only as set/unset)."""
    account = setup.get_gateway_account(_ready_bridge())
    if account is None:
        raise click.ClickException("the gateway is not set up yet: run `abonne gateway set`")
    data = {k: v for k, v in account.settings.items() if k != "certificate_pem"}
    data["private_key"] = "set"
    if as_json:
        _print_json(data)
        return
    for key, value in data.items():
        click.echo(f"{key}: {value}")


@gateway.command("check")
@friendly
def gateway_check() -> None:
    """Load the saved key and certificate and say whether they are usable."""
    bridge = _ready_bridge()
    click.echo(bridge.current_gateway().check_configuration())


# ----------------------------------------------------------------------------------------------------- plans

@main.group()
def plan() -> None:
    """Billing plans and the products they cover."""


@plan.command("add")
@click.argument("name")
@click.option("--every", required=True, type=int, help="How many units between charges.")
@click.option("--unit", required=True, type=click.Choice(["day", "week", "month", "year"]))
@click.option("--trial-days", default=0, type=int, show_default=True)
@click.option("--signup-fee", default="0", show_default=True, help="Decimal amount in the order's currency.")
@click.option("--cycles", default=None, type=int, help="Number of payments; leave out for no end.")
@friendly
def plan_add(name: str, every: int, unit: str, trial_days: int, signup_fee: str, cycles: int | None) -> None:
    """Add a plan; the price and currency come from each order line."""
    created = setup.add_plan(_ready_bridge(), name, every, unit, trial_days, signup_fee, cycles)
    click.echo(f"plan {created.name!r} added (id {created.id})")


@plan.command("list")
@click.option("--json", "as_json", is_flag=True)
@friendly
def plan_list(as_json: bool) -> None:
    rows = [{"id": p.id, "name": p.name, "every": p.period_every, "unit": p.period_unit, "trial_days": p.trial_days,
             "signup_fee": p.signup_fee, "cycles": p.cycles,
             "products": [{"shop_id": m.shop_id, "product": m.product_ref} for m in maps]}
            for p, maps in setup.list_plans(_ready_bridge())]
    if as_json:
        _print_json(rows)
        return
    if not rows:
        click.echo("no plans yet: add one with `abonne plan add`")
    for row in rows:
        products = ", ".join(f"shop {m['shop_id']}: {m['product']}" for m in row["products"]) or "no products"
        click.echo(f"{row['id']:>4}  {row['name']}: every {row['every']} {row['unit']}, trial {row['trial_days']} "
                   f"days, sign-up fee {row['signup_fee']}, cycles {row['cycles'] or 'no end'} ({products})")


@plan.command("map")
@click.argument("name")
@click.option("--shop", "shop_id", required=True, type=int)
@click.option("--product", required=True, help="Product id or SKU in the shop.")
@friendly
def plan_map(name: str, shop_id: int, product: str) -> None:
    """Sell a shop product as a subscription on this plan."""
    setup.map_product(_ready_bridge(), name, shop_id, product)
    click.echo(f"product {product!r} of shop {shop_id} now renews on plan {name!r}")


# ----------------------------------------------------------------------------------------------------- agreements

@main.group()
def agreements() -> None:
    """Recurring agreements."""


@agreements.command("list")
@click.option("--state", default=None)
@click.option("--shop", "shop_id", default=None, type=int)
@click.option("--json", "as_json", is_flag=True)
@friendly
def agreements_list(state: str | None, shop_id: int | None, as_json: bool) -> None:
    rows = agreement_views.list_agreements(_ready_bridge(), state=state, shop_id=shop_id)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        click.echo("no agreements")
    for r in rows:
        card = f"card {r['card_last4']} exp {r['card_expiry']}" if r["card_last4"] else "no card yet"
        click.echo(f"{r['id']:>5}  {r['state']:<13} {r['plan']:<24} {r['amount']} {r['currency']} {r['period']:<16} "
                   f"next {r['next_charge_at'] or '-':<25} {card:<22} shop {r['shop_id']} order {r['shop_order_id']}")


@agreements.command("show")
@click.argument("agreement_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@friendly
def agreements_show(agreement_id: int, as_json: bool) -> None:
    data = agreement_views.show_agreement(_ready_bridge(), agreement_id)
    if data is None:
        raise click.ClickException(f"there is no agreement {agreement_id}")
    if as_json:
        _print_json(data)
        return
    for key, value in data.items():
        if key in ("charges", "events"):
            continue
        click.echo(f"{key}: {value if value is not None else '-'}")
    click.echo("charges:")
    for c in data["charges"]:
        click.echo(f"  cycle {c['cycle']}: {c['state']} {c['amount']} {c['currency']} ({c['source']}) "
                   f"{c['transaction_ref']}")
    click.echo("events:")
    for e in data["events"]:
        click.echo(f"  {e['at']}  {e['message']}")


def _lifecycle(action: Callable[..., str], *args: Any) -> None:
    from bridge.services.lifecycle import LifecycleError
    try:
        click.echo(action(_ready_bridge(), *args))
    except LifecycleError as error:
        raise click.ClickException(str(error)) from None


@agreements.command("pause")
@click.argument("agreement_id", type=int)
@friendly
def agreements_pause(agreement_id: int) -> None:
    """Stop charging until resumed."""
    from bridge.services.lifecycle import pause
    _lifecycle(pause, agreement_id)


@agreements.command("resume")
@click.argument("agreement_id", type=int)
@friendly
def agreements_resume(agreement_id: int) -> None:
    from bridge.services.lifecycle import resume
    _lifecycle(resume, agreement_id)


@agreements.command("cancel")
@click.argument("agreement_id", type=int)
@click.option("--at-period-end", is_flag=True, help="Keep it until the paid period ends, then cancel.")
@friendly
def agreements_cancel(agreement_id: int, at_period_end: bool) -> None:
    from bridge.services.lifecycle import cancel
    _lifecycle(cancel, agreement_id, at_period_end)


@agreements.command("charge-now")
@click.argument("agreement_id", type=int)
@friendly
def agreements_charge_now(agreement_id: int) -> None:
    """Charge the next cycle on the worker's next pass."""
    from bridge.services.lifecycle import charge_now
    _lifecycle(charge_now, agreement_id)


@agreements.command("skip-next")
@click.argument("agreement_id", type=int)
@friendly
def agreements_skip_next(agreement_id: int) -> None:
    """Postpone the next cycle by one period."""
    from bridge.services.lifecycle import skip_next
    _lifecycle(skip_next, agreement_id)


@agreements.command("set-next-date")
@click.argument("agreement_id", type=int)
@click.argument("when")
@friendly
def agreements_set_next_date(agreement_id: int, when: str) -> None:
    """Move the next charge to WHEN (UTC, e.g. 2027-05-15 or 2027-05-15T09:00); later cycles follow it."""
    from datetime import datetime, timezone
    from bridge.services.lifecycle import set_next_date
    try:
        moment = datetime.fromisoformat(when)
    except ValueError:
        raise click.ClickException(f"WHEN must be a date such as 2027-05-15 or 2027-05-15T09:00, got {when!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    _lifecycle(set_next_date, agreement_id, moment)


@agreements.command("resend-card-link")
@click.argument("agreement_id", type=int)
@friendly
def agreements_resend_card_link(agreement_id: int) -> None:
    """Send the customer a fresh card-update link."""
    from bridge.services.lifecycle import resend_card_link
    _lifecycle(resend_card_link, agreement_id)


# ----------------------------------------------------------------------------------------------------- admin

@main.group()
def admin() -> None:
    """Access to the config page and the admin API."""


@admin.command("set-password")
@click.password_option(prompt="New admin password", help="Read from the prompt unless given.")
@friendly
def admin_set_password(password: str) -> None:
    """Set the password of the config page at /admin/."""
    from bridge.services.admin_auth import PASSWORD_SETTING, AuthError, set_password
    try:
        set_password(_ready_bridge(), password)
    except AuthError as error:
        raise click.ClickException(str(error)) from None
    click.echo("admin password set")
    if os.environ.get(PASSWORD_SETTING):
        click.echo(f"note: {PASSWORD_SETTING} is set in the environment and takes precedence over this password")


@admin.command("create-token")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, type=click.Choice(["read", "write"]), default=("read",),
              show_default=True)
@friendly
def admin_create_token(name: str, scopes: tuple[str, ...]) -> None:
    """Create a bearer token for /api/v1 and print it once."""
    from bridge.services.admin_auth import AuthError, create_token
    try:
        token = create_token(_ready_bridge(), name, scopes)
    except AuthError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"token {token.id} ({', '.join(token.scopes)}): {token.token}")
    click.echo("store it now: abonne keeps only its hash")


# --------------------------------------------------------------------------------------------------- secrets

@main.group("secrets")
def secrets_group() -> None:
    """The secret key that encrypts stored secrets and signs customer links."""


@secrets_group.command("rotate")
@click.option("--revoke-links", is_flag=True,
              help="Customer links signed with the old key stop working at once (when the old key leaked).")
@friendly
def secrets_rotate(revoke_links: bool) -> None:
    """Re-encrypt every stored secret under a new key, in one transaction."""
    from sqlalchemy.exc import SQLAlchemyError

    from bridge.keyring import Keys, new_key
    from bridge.services import secrets_rotation as rotation
    bridge = _ready_bridge()
    settings = bridge.settings
    keys = Keys(settings.secret_key, settings.previous_secret_keys)
    if settings.secret_key_file is None and not keys.previous:
        raise click.ClickException(
            "ABONNE_SECRET_KEY comes from the environment, which this command cannot change. To rotate:\n"
            "  1. where web and workers read their settings, set ABONNE_PREVIOUS_SECRET_KEYS to the current "
            f"ABONNE_SECRET_KEY and ABONNE_SECRET_KEY to a new key, e.g. {new_key()}\n"
            "  2. restart web and workers (they now encrypt with the new key and still read the old one)\n"
            "  3. run `abonne secrets rotate` again with those settings: it re-encrypts every secret\n"
            "  4. remove ABONNE_PREVIOUS_SECRET_KEYS and restart once the customer links sent before have "
            "expired (ABONNE_PAY_LINK_DAYS), or at once if the old key leaked")
    try:
        if settings.secret_key_file is not None:
            report = rotation.rotate_key_file(bridge.db, settings.secret_key_file, bridge.clock.now(),
                                              settings.pay_link_days, revoke_links)
        else:
            report = rotation.reencrypt_environment_keys(bridge.db, keys)
    except rotation.RotationError as error:
        raise click.ClickException(str(error)) from None
    except SQLAlchemyError as error:
        raise click.ClickException(
            f"the database refused the rotation, which was rolled back ({type(error).__name__}: "
            f"{str(error.orig if getattr(error, 'orig', None) else error).splitlines()[0]}); every secret is still "
            "readable with the keys in force: run `abonne secrets rotate` again to finish") from None
    counts = ", ".join(f"{name}: {count}" for name, count in report.rewritten.items())
    click.echo(f"{report.total} secrets re-encrypted under the new key in one transaction ({counts})")
    if settings.secret_key_file is None:
        click.echo("every secret is now under ABONNE_SECRET_KEY: remove ABONNE_PREVIOUS_SECRET_KEYS and restart "
                   "web and workers once the customer links sent before have expired (at once if the old key "
                   "leaked)")
        return
    if report.finished_earlier_rotation:
        click.echo("(this finished a rotation that had stopped before the end)")
    click.echo(f"the new key is in {settings.secret_key_file}: keep it with your backups (older backups need the "
               "old key); running web and workers picked it up without a restart")
    if report.links_valid_until is not None:
        click.echo(f"customer links signed with the old key keep working until "
                   f"{report.links_valid_until:%Y-%m-%d %H:%M} UTC; admins sign in again after the web restarts")
    else:
        click.echo("the old key is gone: customer links signed with it no longer work")

if __name__ == "__main__":
    sys.exit(main())
