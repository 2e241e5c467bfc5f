"""`abonne demo`: one customer's year with abonne, on this machine only, then the config page with that data.

abonne is served as `abonne serve` serves it (waitress, embedded worker) on a database of its own in
<instance>/demo/, next to a stand-in shop (WooCommerce, or PrestaShop with abonne's module) and the stand-in myPOS
on free loopback ports. Everything
the owner would do goes through the same service functions as the CLI; everything the customer does goes over HTTP
as a browser would (the stand-in myPOS's hosted page included). abonne's clock starts a year and a few days ago
and travels to each renewal date, so the year ends just before today; then it becomes the real clock again.
"""
from __future__ import annotations

import logging
import os
import secrets
import signal
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, TypeVar

import click
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.mypos.standin import TEST_KEY_INDEX, TEST_SID, TEST_WALLET, MyPosStandin
from adapters.mypos.standin_customer import customer_pays, read_form, submit_auto_form
from bridge.app import build_bridge, create_app
from bridge.clock import SettableClock, SystemClock
from bridge.config import Settings
from bridge.context import Bridge
from bridge.demo_shops import DEMO_SHOPS, PRICE, PRODUCT, DemoShop
from bridge.ports import HostedForm
from bridge.serving import RunningServer, serve_in_thread
from bridge.services import admin_auth, setup
from bridge.services.agreements import search_agreements, show_agreement
from bridge.store.db import migrate
from bridge.worker import start_in_thread

T = TypeVar("T")

MONTHS = 12
DECLINED_MONTH = 6  # the first renewal after the sign-up card's expiry month
STEPS = 6 + 4 + MONTHS + 1 + 1  # setting up, the sign-up, one per month, the recovery, the year's end
FIRST_CARD, NEW_CARD = "4006090000000007", "5326100000000004"  # a Visa and a Mastercard test number
DEMO_FILES = ("abonne.db", "abonne.db-wal", "abonne.db-shm", "abonne.db-journal", "secret_key", "abonne.log")
WAIT_SECONDS = 30.0


class DemoFailed(click.ClickException):
    """A step did not happen in time; the message names it and where the log is."""


@dataclass
class DemoRun:
    """What is running, so it can be stopped in reverse order whatever step failed."""

    folder: Path
    clock: SettableClock  # abonne's, travelling through the year; the real clock replaces it afterwards
    shop: DemoShop
    store_key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    bridge: Bridge | None = None
    server: RunningServer | None = None
    worker_stop: threading.Event | None = None
    mypos: MyPosStandin | None = None
    stops: list[Callable[[], None]] = field(default_factory=list)

    def stop(self) -> None:
        if self.worker_stop is not None and self.bridge is not None:
            self.worker_stop.set()
            self.bridge.wake_worker.set()
        for stop in reversed(self.stops):
            try:
                stop()
            except Exception:  # stopping the rest matters more than a stand-in that did not stop cleanly
                logging.getLogger(__name__).exception("stopping a demo server failed")


class Narrator:
    """One line per step, each with a bar of the whole walk-through, so it reads the same in a terminal and a log."""

    def __init__(self, total: int, pause: float):
        self.total, self.done, self.pause = total, 0, pause

    def step(self, text: str, *details: str) -> None:
        self.done += 1
        width = 24
        filled = round(width * self.done / self.total)
        click.echo(f"[{'#' * filled}{'.' * (width - filled)}] {self.done:>2}/{self.total}  {text}")
        for detail in details:
            click.echo(f"{'':>{width + 9}}{detail}")
        if self.pause:
            time.sleep(self.pause)


def run_demo(port: int = 8000, password: str | None = None, fast: bool = False, serve: bool = True,
             platform: str = "woocommerce") -> None:
    password = password or secrets.token_urlsafe(12)
    if len(password) < admin_auth.MIN_PASSWORD_LENGTH:
        raise click.ClickException(f"--password must have at least {admin_auth.MIN_PASSWORD_LENGTH} characters")
    today = datetime.now(timezone.utc)
    run = DemoRun(folder=Path(os.environ.get("ABONNE_INSTANCE_PATH", "instance")).resolve() / "demo",
                  shop=DEMO_SHOPS[platform](), clock=SettableClock((today - timedelta(days=369)).replace(hour=9, minute=0, second=0,
                                                                            microsecond=0)))
    say = Narrator(STEPS, 0.0 if fast else 0.6)
    click.echo(f"abonne demo: one customer's year of a monthly subscription, with a {run.shop.title} shop and a "
               "stand-in myPOS.\nEverything runs on this machine (127.0.0.1 only); no shop, no myPOS account and no "
               "network are needed.\n")
    try:
        _start(run, port, say)
        product_id = _configure(run, password, say)
        walk = Walk(run, say)
        walk.sign_up(product_id)
        walk.year()
        if serve:
            _serve_until_stopped(run, password)
    finally:
        run.stop()


def _start(run: DemoRun, port: int, say: Narrator) -> None:
    """A fresh database in the demo's own folder, abonne served as `abonne serve` does, and the two stand-ins."""
    folder = run.folder
    folder.mkdir(parents=True, exist_ok=True)
    for name in DEMO_FILES:
        (folder / name).unlink(missing_ok=True)
    _log_to(folder / "abonne.log")
    database_url = f"sqlite:///{folder / 'abonne.db'}"
    migrate(database_url)
    say.step(f"A fresh demo instance in {_shown(folder)}/", f"database {_shown(folder / 'abonne.db')} (new on "
             "every run; your own database is not touched), log in abonne.log")

    # Only the demo's folder and address: never the owner's ABONNE_DATABASE_URL or ABONNE_SECRET_KEY.
    settings = replace(Settings.from_env({"ABONNE_INSTANCE_PATH": str(folder), "ABONNE_DATABASE_URL": database_url,
                                          "ABONNE_PUBLIC_URL": f"http://127.0.0.1:{port}"}),
                       worker_interval_seconds=0.2)
    bridge = run.bridge = build_bridge(settings, run.clock)
    run.stops.append(bridge.db.dispose)
    try:
        run.server = serve_in_thread(create_app(bridge), port=port, threads=4)
    except OSError as error:
        raise click.ClickException(f"abonne cannot listen on 127.0.0.1:{port} ({error.strerror}): is `abonne serve` "
                                   "or another demo running there? Try --port 8001") from None
    run.stops.append(run.server.stop)
    bridge.settings = replace(bridge.settings, public_url=run.server.url)  # --port 0 picks a free port
    _, run.worker_stop = start_in_thread(bridge)
    run.mypos = MyPosStandin.start(merchant_public_key_pem=_public_pem(run.store_key), threads=4,
                                   clock=lambda: bridge.clock.now())  # card expiry follows abonne's travels
    run.stops.append(run.mypos.stop)
    run.shop.start(clock=lambda: bridge.clock.now())
    run.stops.append(run.shop.stop)
    say.step(f"abonne is serving {run.server.url} (web and worker); the stand-ins are up",
             f"{run.shop.title} {run.shop.where.split()[0]}   stand-in myPOS {run.mypos.endpoint}",
             f"abonne's clock starts on {run.clock.now():%Y-%m-%d} and travels through the year")


def _configure(run: DemoRun, password: str, say: Narrator) -> int:
    """What the owner does once, through the services the CLI uses. Returns the subscription product's id."""
    assert run.bridge is not None and run.mypos is not None
    bridge = run.bridge
    account = setup.set_gateway(bridge, {
        "sid": TEST_SID, "wallet_number": TEST_WALLET, "key_index": TEST_KEY_INDEX,
        "private_key_pem": run.store_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()).decode("ascii"),
        "certificate_pem": run.mypos.certificate_pem, "endpoint": run.mypos.endpoint})
    say.step("The myPOS gateway is set up (as `abonne gateway set` does)",
             f"store SID {account.settings['sid']}, a new store key; endpoint {account.settings['endpoint']}")

    try:
        shop_row, how = run.shop.connect(bridge)
    except RuntimeError as error:
        raise DemoFailed(str(error)) from None
    say.step(f"The shop is connected as shop {shop_row.id}", how)

    product_id, why = run.shop.add_subscription_product()
    say.step(f"The shop sells {PRODUCT!r} at {PRICE} EUR a month", why)

    os.environ.pop(admin_auth.PASSWORD_SETTING, None)  # in this process a hash there would win over this password
    admin_auth.set_password(bridge, password)
    say.step("An admin password is set for the config page (as `abonne admin set-password` does)")
    return product_id


@dataclass
class Walk:
    """Maria's year: the customer's side over HTTP, the owner's view read through the services."""

    run: DemoRun
    say: Narrator
    order_id: int = 0
    agreement_id: int = 0

    @property
    def bridge(self) -> Bridge:
        assert self.run.bridge is not None
        return self.run.bridge

    @property
    def shop(self) -> DemoShop:
        return self.run.shop

    def agreement(self) -> dict[str, Any]:
        shown = show_agreement(self.bridge, self.agreement_id)
        assert shown is not None
        return shown

    def sign_up(self, product_id: int) -> None:
        now = self.bridge.clock.now()
        expiry = _month_plus(now, DECLINED_MONTH - 1)
        card_exp = f"{expiry.month:02d}/{expiry.year % 100:02d}"
        self.order_id = self.shop.place_order(product_id)
        self.say.step(f"{now:%Y-%m-%d}: Maria Ivanova orders {PRODUCT!r} in the shop (order {self.order_id}, "
                      "not paid yet)", "the shop tells abonne with a signed order event")

        pay_link = _wait(lambda: self._link_in_notes("/pay/"), f"a pay link in the notes of order {self.order_id}")
        [agreement] = self._agreements_of_order()
        self.agreement_id = agreement["id"]
        self.say.step(f"abonne verified and stored the webhook and created agreement {self.agreement_id} "
                      f"({agreement['state'].replace('_', ' ')})",
                      f"a message on order {self.order_id} gives her the pay link: {_short(pay_link)}")

        self._pay_on_hosted_page(pay_link, FIRST_CARD, card_exp)
        self.say.step(f"Maria opens the link and pays {PRICE} EUR on the myPOS hosted page",
                      f"Visa ending {FIRST_CARD[-4:]}, expires {card_exp}; myPOS stores the card and returns a token")

        shown = _wait(lambda: (a := self.agreement())["state"] == "active" and a, "the agreement to become active")
        _wait(lambda: self.shop.is_paid(self.order_id), f"order {self.order_id} to be paid in the shop")
        self.say.step(f"myPOS's signed notify reached abonne: agreement {self.agreement_id} is active",
                      f"card token stored encrypted; order {self.order_id} is paid in the shop; next charge "
                      f"{_day(shown['next_charge_at'])}")

    def year(self) -> None:
        for month in range(1, MONTHS + 1):
            before = self.agreement()
            due = datetime.fromisoformat(before["next_charge_at"])
            self._travel(due)
            if month == DECLINED_MONTH:
                self._decline_and_recover(month, due, before)
                continue
            shown = _wait(lambda: (a := self.agreement())["cycles_paid"] == before["cycles_paid"] + 1 and a,
                          f"the renewal of month {month} to be charged")
            renewal = self._wait_renewal_orders(month)
            details = [f"next charge {_day(shown['next_charge_at'])}"]
            if month == DECLINED_MONTH - 1:
                _wait(lambda: self._link_in_notes("/card/"), "the card-expiry reminder in the shop notes")
                details.append(f"the card ends with {shown['card_expiry']}: abonne asks Maria for a new card ahead "
                               "of time (a message on her order); she does not react")
            self.say.step(f"{due:%Y-%m-%d}: month {month} renewed: {PRICE} EUR charged to the stored card, "
                          f"renewal order {renewal} paid in the shop", *details)
        shown = self.agreement()
        paid = [c for c in shown["charges"] if c["state"] == "succeeded"]
        declined = [c for c in shown["charges"] if c["state"] == "declined"]
        renewals = self.shop.renewal_orders(self.order_id)
        self.say.step(f"A year later: agreement {self.agreement_id} is {shown['state']}, next charge "
                      f"{_day(shown['next_charge_at'])}",
                      f"{len(paid)} payments (the sign-up, {MONTHS - 1} renewals on the stored card, 1 with the new "
                      f"card's link), {len(declined)} declined; {len(renewals)} paid renewal orders in the shop",
                      "abonne's clock is real time again from here on")
        self.bridge.clock = SystemClock()
        self.bridge.settings = replace(self.bridge.settings, worker_interval_seconds=5.0)

    def _decline_and_recover(self, month: int, due: datetime, before: dict[str, Any]) -> None:
        shown = _wait(lambda: (a := self.agreement())["state"] == "suspended" and a,
                      f"the renewal of month {month} to be declined")
        declined = [c for c in shown["charges"] if c["state"] == "declined"][-1]
        card_link = _wait(lambda: self._link_in_notes("/card/", after_reminder=True),
                          "a card-update link in the shop notes after the decline")
        self.say.step(f"{due:%Y-%m-%d}: month {month} DECLINED: {declined['message'] or declined['status_code']}",
                      "a hard decline: retrying the same card cannot succeed, so abonne does not retry",
                      f"agreement {self.agreement_id} is suspended; a new message on order {self.order_id} asks Maria "
                      f"to update her card: {_short(card_link)}")

        new_expiry = _month_plus(self.bridge.clock.now(), 36)
        new_exp = f"{new_expiry.month:02d}/{new_expiry.year % 100:02d}"
        self._travel(due + timedelta(days=1))
        self._pay_on_hosted_page(card_link, NEW_CARD, new_exp)
        shown = _wait(lambda: (a := self.agreement())["state"] == "active" and a["cycles_paid"] ==
                      before["cycles_paid"] + 1 and a, "the agreement to be active again")
        renewal = self._wait_renewal_orders(month)
        self.say.step(f"{due + timedelta(days=1):%Y-%m-%d}: Maria opens the card link and enters a new card: "
                      f"month {month} is paid at once, agreement active again",
                      f"Mastercard ending {NEW_CARD[-4:]}, expires {new_exp}; renewal order {renewal} paid in the "
                      f"shop; next charge {_day(shown['next_charge_at'])}")

    def _travel(self, moment: datetime) -> None:
        self.run.clock.set(moment)
        self.bridge.wake_worker.set()

    def _pay_on_hosted_page(self, link: str, card: str, exp: str) -> None:
        """The customer's browser: abonne's link, its auto-form to myPOS, the hosted page, the way back."""
        page = requests.get(link, timeout=30)
        if page.status_code != 200:
            raise DemoFailed(f"abonne answered {page.status_code} for {_short(link)}: {page.text[:200]}")
        action, fields = read_form(page.text)
        back = submit_auto_form(customer_pays(HostedForm(action, tuple(fields)), card=card, exp=exp))
        if back.status_code >= 400:
            raise DemoFailed(f"coming back from the hosted page failed with HTTP {back.status_code}")

    def _agreements_of_order(self) -> list[dict[str, Any]]:
        return _wait(lambda: search_agreements(self.bridge, text=str(self.order_id), per_page=None).items,
                     f"an agreement for order {self.order_id}")

    def _link_in_notes(self, kind: str, after_reminder: bool = False) -> str | None:
        """The newest link of this kind in the customer's messages; with after_reminder, only once a second came."""
        links = self.shop.links(self.order_id, kind)
        if after_reminder and len(links) < 2:
            return None
        return links[-1] if links else None

    def _wait_renewal_orders(self, count: int) -> int:
        orders = _wait(lambda: len(found := self.shop.renewal_orders(self.order_id)) >= count and found,
                       f"{count} renewal orders in the shop")
        return max(orders)


def _serve_until_stopped(run: DemoRun, password: str) -> None:
    assert run.server is not None and run.mypos is not None
    click.echo(f"""
Everything keeps running with that data until you press Ctrl-C:
  config page      {run.server.url}/admin/   password: {password}
  stand-in shop    {run.shop.where}
  stand-in myPOS   {run.mypos.endpoint}
  demo data        {_shown(run.folder)}/abonne.db
  the CLI on it    ABONNE_INSTANCE_PATH={_shown(run.folder)} ABONNE_DATABASE_URL=sqlite:///{run.folder / 'abonne.db'} \\
                   .venv/bin/abonne agreements show 1""")
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: a shell may start a background job ignoring it
        signal.signal(number, lambda *_: stop.set())
    while not stop.wait(timeout=1.0):
        pass
    click.echo("\nstopping the demo")


def _wait(condition: Callable[[], T], what: str, timeout: float = WAIT_SECONDS) -> T:
    """Poll with a deadline: the worker and the stand-ins act asynchronously."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DemoFailed(f"the demo stopped: waited {timeout:.0f} s for {what}; see the demo's abonne.log")
        time.sleep(0.05)


def _month_plus(moment: datetime, months: int) -> datetime:
    """The first day of the month `months` after moment's (enough for a card's expiry month)."""
    index = moment.year * 12 + moment.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=timezone.utc)


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def _log_to(path: Path) -> None:
    """The worker's and the servers' log lines go to the demo's folder; the terminal shows the story."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _short(link: str) -> str:
    return link if len(link) <= 70 else link[:67] + "..."


def _day(iso: str | None) -> str:
    return f"{datetime.fromisoformat(iso):%Y-%m-%d}" if iso else "none"
