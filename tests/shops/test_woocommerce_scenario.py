"""The WooCommerce path end to end, with abonne in real processes, against the stand-in or a real WooCommerce.

A customer orders at the storefront, the webhook brings the order to abonne, the customer pays through the link in
the order's customer note, three renewals are charged and pushed back as orders, a worker killed between the shop's
create and abonne's acknowledgement leaves no duplicate, and a refund of the first order ends the agreement.
"""
from __future__ import annotations

from decimal import Decimal

from tests.shops.conftest import PRICE, Scenario
from tests.shops.targets import Customer

ADDRESS_FIELDS = ("first_name", "last_name", "address_1", "city", "postcode", "country")


def test_a_storefront_order_becomes_an_agreement_renewed_three_times_then_ended_by_a_refund(scenario: Scenario):
    abonne, shop = scenario.abonne, scenario.shop
    customer = Customer.new()

    order_id = shop.place_order([(scenario.product_id, 1)], customer)
    agreements = abonne.wait_for(lambda: scenario.agreements(order_id), f"an agreement for order {order_id}",
                                 timeout=90)
    assert len(agreements) == 1
    assert (agreements[0]["state"], agreements[0]["amount_minor"], agreements[0]["customer_email"]) == \
        ("awaiting_card", 1250, customer.email)

    scenario.pay(order_id)
    agreement_id = agreements[0]["id"]
    abonne.wait_for(lambda: scenario.agreement(agreement_id)["state"] == "active", "the agreement to activate")
    first_ref = abonne.scalar("SELECT transaction_ref FROM charges WHERE agreement_id = :a AND cycle = 1",
                              a=agreement_id)
    paid = abonne.wait_for(lambda: (o := shop.order(order_id))["date_paid"] and o, "the first order to be paid")
    assert (paid["transaction_id"], paid["status"]) == (first_ref, "processing")
    first = shop.order(order_id)

    for cycle in (2, 3, 4):  # the third with a kill between the shop's create and abonne hearing back
        hold = scenario.proxy.hold(shop.netloc, "POST", r"/wp-json/wc/v3/orders/?$") if cycle == 4 else None
        abonne.renew(agreement_id, cycle, hold, timeout=90)
        assert len(shop.child_orders(order_id)) == cycle - 1, "a renewal order was created twice"

    renewals = shop.child_orders(order_id)
    refs = [row["transaction_ref"] for row in abonne.rows(
        "SELECT transaction_ref FROM charges WHERE agreement_id = :a AND state = 'succeeded' AND cycle > 1 "
        "ORDER BY cycle", a=agreement_id)]
    assert [r["transaction_id"] for r in renewals] == refs and len(set(refs)) == 3
    for renewal in renewals:
        assert renewal["parent_id"] == order_id
        assert renewal["customer_id"] == first["customer_id"]
        assert renewal["billing"]["email"] == customer.email
        assert {k: renewal["billing"][k] for k in ADDRESS_FIELDS} == {k: first["billing"][k] for k in ADDRESS_FIELDS}
        assert {k: renewal["shipping"][k] for k in ADDRESS_FIELDS} == \
            {k: first["shipping"][k] for k in ADDRESS_FIELDS}
        assert [(line["product_id"], line["quantity"], Decimal(line["total"])) for line in renewal["line_items"]] \
            == [(scenario.product_id, 1, Decimal(PRICE))]
        assert Decimal(renewal["total"]) == Decimal(PRICE)
        assert renewal["status"] == "processing" and renewal["date_paid"]
    assert len(scenario.mypos_paid_renewals()) == 3

    shop.refund(order_id, first["total"], "customer asked to stop")
    abonne.wait_for(lambda: scenario.agreement(agreement_id)["state"] == "cancelled",
                    "the refund to cancel the agreement", timeout=90)
