"""Which OpenCart order lines are subscriptions without a plan mapping: OpenCart 4's own subscription plan on the
line, a product option named in the shop's settings, or a product attribute of that name. Through the stand-in
shop's signed events to abonne's real endpoint, abonne's worker, and the extension's signed product read."""
from __future__ import annotations

import re
from typing import Any, Iterator

import pytest

from adapters.opencart.standin import OpenCartStandin
from tests.integration.conftest import BridgeUnderTest
from tests.waiting import wait_for

SECRET = "oc-extension-secret"


def plan_row(frequency: str, cycle: int, duration: int, trial: bool = False) -> dict[str, Any]:
    """An order_subscription row as OpenCart 4 writes it for a line bought with a subscription plan."""
    return {"subscription_plan_id": 3, "plan_name": f"Every {cycle} {frequency}", "frequency": frequency,
            "cycle": cycle, "duration": duration, "price": "19.9000", "tax": "0.0000",
            "trial_status": int(trial), "trial_frequency": "day", "trial_cycle": 7, "trial_duration": 1,
            "trial_price": "0.0000"}


def connected(abonne: BridgeUnderTest, *settings: str) -> tuple[OpenCartStandin, int]:
    standin = OpenCartStandin()
    standin.start(version="4.1", clock=abonne.clock)  # the extension checks read signatures by the shop's clock
    standin.connect_extension(abonne.url, 0, SECRET)  # its secret first: `shop add` asks it which OpenCart it is
    result = abonne.cli("shop", "add", "--platform", "opencart", "--url", standin.url, "--api-username", "Default",
                        "--api-key", standin._key, "--webhook-secret", SECRET, *settings)
    assert result.exit_code == 0, result.output
    shop_id = int(re.search(r"shop (\d+) added", result.output).group(1))
    standin.connect_extension(abonne.url, shop_id, SECRET)
    return standin, shop_id


@pytest.fixture
def shop(abonne: BridgeUnderTest) -> Iterator[tuple[OpenCartStandin, int]]:
    """A shop whose settings name "Delivery" as the option or attribute that carries the billing period."""
    standin, shop_id = connected(abonne, "--subscription-option", "Delivery")
    yield standin, shop_id
    standin.stop()


def customer(standin: OpenCartStandin) -> int:
    found = standin.add_customer("jane@example.com", "Jane", "Roaster")
    standin.add_address(found, "1 Bean Street", "New York", "10001")
    return found


def agreements(abonne: BridgeUnderTest, order_id: int) -> list[Any]:
    return abonne.rows("SELECT * FROM agreements WHERE order_id = :o ORDER BY line_id", o=str(order_id))


def handled(abonne: BridgeUnderTest, order_id: int) -> str:
    """The outcome of the order's event, once the worker processed it."""
    return wait_for(lambda: abonne.scalar("SELECT outcome FROM deliveries WHERE order_id = :o AND state = "
                                          "'processed'", o=str(order_id)), what=f"order {order_id} handled")


def test_opencart_4s_own_plan_an_option_and_an_attribute_each_make_a_subscription(abonne, shop):
    standin, _ = shop
    jane = customer(standin)
    planned = standin.add_product("Coffee Club", "19.90", "CLUB")
    optioned = standin.add_product("Tea Box", "12.00", "TEA")
    attributed = standin.add_product("Filter Papers", "4.50", "PAPERS")
    standin.set_product_attribute(attributed, "Delivery", "Monthly")
    plain = standin.add_product("Coffee Mug", "9.00", "MUG")

    order_id = standin.place_order(jane, [(planned, 1), (optioned, 1), (attributed, 2), (plain, 1)], status_id=1,
                                   chosen={planned: {"subscription": plan_row("month", 1, 12)},
                                           optioned: {"options": [("Grind", "Whole bean"),
                                                                  ("Delivery", "Every 2 weeks")]}})

    rows = wait_for(lambda: len(found := agreements(abonne, order_id)) == 3 and found,
                    what=f"three agreements for order {order_id}")
    terms = {row["product_id"]: (row["period_unit"], row["period_every"], row["cycles"], row["amount_minor"])
             for row in rows}
    assert terms == {str(planned): ("month", 1, 12, 1990), str(optioned): ("week", 2, None, 1200),
                     str(attributed): ("month", 1, None, 900)}
    assert {row["plan_name"] for row in rows if row["product_id"] == str(planned)} == \
        {"Coffee Club (the shop's own plan)"}


def test_a_plan_abonne_cannot_bill_is_named_on_the_timeline_and_makes_no_agreement(abonne, shop):
    standin, _ = shop
    jane = customer(standin)
    product = standin.add_product("Coffee Club", "19.90", "CLUB")
    twice_a_month = standin.place_order(jane, [(product, 1)], status_id=1,
                                        chosen={product: {"subscription": plan_row("semi_month", 1, 0)}})
    with_trial = standin.place_order(jane, [(product, 1)], status_id=1,
                                     chosen={product: {"subscription": plan_row("month", 1, 0, trial=True)}})
    no_period = standin.place_order(jane, [(product, 1)], status_id=1,
                                    chosen={product: {"subscription": plan_row("month", 0, 0)}})
    for order_id, reason in ((twice_a_month, "bills every 1 semi_month"), (with_trial, "starts with a trial"),
                             (no_period, "which is no period")):
        message = wait_for(lambda: abonne.scalar("SELECT message FROM events WHERE kind = 'line_not_billable' AND "
                                                 "order_id = :o", o=str(order_id)),
                           what=f"the reason order {order_id} makes no agreement")
        assert reason in message and "map the product" in message
        assert agreements(abonne, order_id) == []


def test_without_the_setting_options_and_attributes_mean_nothing(abonne):
    standin, _ = connected(abonne)
    try:
        jane = customer(standin)
        product = standin.add_product("Tea Box", "12.00", "TEA")
        standin.set_product_attribute(product, "Delivery", "Monthly")
        order_id = standin.place_order(jane, [(product, 1)], status_id=1,
                                       chosen={product: {"options": [("Delivery", "Every 2 weeks")]}})
        assert handled(abonne, order_id) == "no_subscription"
        assert agreements(abonne, order_id) == []
    finally:
        standin.stop()
