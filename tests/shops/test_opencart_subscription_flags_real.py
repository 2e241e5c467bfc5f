"""Which lines of a real OpenCart 4 shop's orders abonne takes for subscriptions without a plan mapping, read through
abonne's extension: OpenCart's own subscription plan on a line (oc_order_subscription), a product option named in
the shop's settings, a product attribute of that name (the extension's `product` read). The stand-in's version is
tests/integration/test_opencart_subscription_flags.py; this is the check that the extension reads what OpenCart
really stores, and that abonne understands it.

The orders and products are made once on the shop by hand, as a customer and the owner would, and named by
settings, per shop prefix (ABONNE_REAL_OPENCART_ for 4.1, ABONNE_REAL_OPENCART40_ for 4.0, ABONNE_REAL_OPENCART30_
for 3.0, which has options and attributes but no plans):
  ..._PLAN_ORDER_ID       an order whose lines carry OpenCart plans: one abonne can bill (day, week, month or year,
                          no trial), one billed twice a month (semi_month) and one that starts with a trial
  ..._OPTION_ORDER_ID     an order with a line whose option "Delivery" names a period ("Every 2 weeks") and a line
                          without options
  ..._ATTRIBUTE_PRODUCT_ID a product whose attribute "Delivery" names a period ("Monthly")
"""
from __future__ import annotations

import os
from typing import Any

import pytest

from adapters.opencart import OpenCartShop
from adapters.periods import parse_period
from bridge.ports import ShopError

OPTION = "Delivery"  # the shop setting subscription_option: the option and attribute that name the period
SHOPS = {"4.1": "ABONNE_REAL_OPENCART_", "4.0": "ABONNE_REAL_OPENCART40_", "3.0": "ABONNE_REAL_OPENCART30_"}
PLAN_SHOPS = ["4.1", "4.0"]  # OpenCart 3.0 has no subscription plans on order lines (its recurring profiles differ)
CONNECTION = ("URL", "API_USERNAME", "API_KEY", "EXTENSION_SECRET")


def real_settings(version: str, *wanted: str) -> dict[str, str]:
    """The shop's connection settings and the wanted ones; skips, naming them, when any is missing."""
    names = [SHOPS[version] + name for name in (*CONNECTION, *wanted)]
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        pytest.skip(f"no real OpenCart {version} shop with subscription flags: set {', '.join(names)} "
                    f"(missing: {', '.join(missing)})")
    return {name.removeprefix(SHOPS[version]): os.environ[name] for name in names}


def shop(found: dict[str, str], option: str = OPTION) -> OpenCartShop:
    return OpenCartShop({"url": found["URL"], "api_username": found["API_USERNAME"], "subscription_option": option},
                        {"api_key": found["API_KEY"], "webhook_secret": found["EXTENSION_SECRET"]})


def raw_lines(reader: OpenCartShop, order_id: str) -> dict[str, dict[str, Any]]:
    """The extension's own answer to the signed order read, by line id."""
    return {line["id"]: line for line in reader._read("order", order_id=order_id)["order"]["lines"]}


@pytest.mark.real_shop
@pytest.mark.parametrize("version", PLAN_SHOPS)
def test_opencart_plans_on_lines_become_terms_and_the_ones_abonne_cannot_bill_say_why(version):
    found = real_settings(version, "PLAN_ORDER_ID")
    reader = shop(found)
    assert reader.version() == version
    raw = raw_lines(reader, found["PLAN_ORDER_ID"])
    order = reader.get_order(found["PLAN_ORDER_ID"])
    kinds = set()
    for line in order.lines:
        plan = raw[line.line_id]["subscription"]
        assert plan is not None, f"line {line.line_id} of order {order.order_id} carries no OpenCart plan"
        assert plan["name"] and plan["id"] not in ("", "0") and plan["every"] >= 1
        assert line.terms is not None
        if plan["unit"] == "semi_month":
            kinds.add("semi_month")
            assert "semi_month" in line.terms.unsupported and "map the product" in line.terms.unsupported
        elif plan["trial"] is not None:
            kinds.add("trial")
            assert set(plan["trial"]) == {"unit", "every", "cycles", "price"}
            assert "starts with a trial" in line.terms.unsupported
            assert line.terms.unsupported.startswith(plan["name"])
        else:
            kinds.add("billable")
            assert (line.terms.unit, line.terms.every, line.terms.cycles, line.terms.unsupported) == \
                (plan["unit"], plan["every"], plan["cycles"] or None, "")
            if version == "4.1":
                # 4.1 prices the line at the plan's price; 4.0.2.3's API confirm stores the plan without its price.
                assert plan["price"] == raw[line.line_id]["unit_price"]
    assert kinds == {"billable", "semi_month", "trial"}, f"order {order.order_id} lacks a kind of plan line"


@pytest.mark.real_shop
@pytest.mark.parametrize("version", list(SHOPS))
def test_the_option_named_in_the_settings_gives_its_line_terms_and_only_with_the_setting(version):
    found = real_settings(version, "OPTION_ORDER_ID")
    reader = shop(found)
    raw = raw_lines(reader, found["OPTION_ORDER_ID"])
    order = reader.get_order(found["OPTION_ORDER_ID"])
    chosen = [line for line in order.lines if any(name == OPTION for name, _ in line.options)]
    plain = [line for line in order.lines if not line.options and raw[line.line_id]["subscription"] is None]
    assert chosen and plain, f"order {order.order_id} needs a line with option {OPTION!r} and one without options"
    for line in chosen:
        value = dict(line.options)[OPTION]
        assert [(o["name"], o["value"]) for o in raw[line.line_id]["options"]] == list(line.options)
        # with the ids OpenCart's API takes back, so that a renewal keeps the customer's choice
        assert all(o["product_option_id"] not in ("", "0") for o in raw[line.line_id]["options"])
        assert line.terms is not None and line.terms == parse_period(value), value
        # the option value the customer chose is the line's variant: "<product>:<product_option_value_id>"
        assert line.variation_id == f"{line.product_id}:{raw[line.line_id]['variant_id']}" and \
            raw[line.line_id]["variant_id"] != "0"
    assert all(line.terms is None for line in plain)
    unset = shop(found, option="").get_order(found["OPTION_ORDER_ID"])
    assert all(line.terms is None for line in unset.lines)


@pytest.mark.real_shop
@pytest.mark.parametrize("version", list(SHOPS))
def test_the_attribute_named_in_the_settings_is_read_from_the_product(version):
    found = real_settings(version, "ATTRIBUTE_PRODUCT_ID")
    reader = shop(found)
    product_id = found["ATTRIBUTE_PRODUCT_ID"]
    answer = reader._read("product", product_id=product_id)["product"]
    texts = [a["text"] for a in answer["attributes"] if a["name"] == OPTION]
    assert texts, f"product {product_id} has no attribute {OPTION!r}"
    assert answer["id"] == product_id and answer["model"] and answer["name"]
    product = reader.get_product(product_id)
    assert (product.product_id, product.sku, product.name, product.price) == \
        (product_id, answer["model"], answer["name"], answer["price"])
    assert product.terms is not None and product.terms == parse_period(texts[0])
    assert shop(found, option="Not An Attribute").get_product(product_id).terms is None
    assert shop(found, option="").get_product(product_id).terms is None
    with pytest.raises(ShopError) as error:
        reader.get_product("999999")
    assert error.value.status == 404 and "no product 999999" in error.value.detail
