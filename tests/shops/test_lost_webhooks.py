"""Webhooks lost while abonne is down: the shop fails each delivery, never retries, and disables the webhooks
after the 7th consecutive failure, after which it sends nothing. When abonne is back, the starting worker polls the
shop, makes one agreement per order placed meanwhile, re-enables the webhooks and records what it found."""
from __future__ import annotations

from tests.shops.conftest import Scenario
from tests.shops.targets import Customer, WooCommerceTarget

DISABLED_AFTER = 7  # consecutive failed deliveries; each storefront order sends order.created and order.updated


def test_orders_placed_while_abonne_is_down_get_one_agreement_each_when_it_is_back(scenario: Scenario):
    abonne, shop = scenario.abonne, scenario.shop
    abonne.stop()

    placed = [shop.place_order([(scenario.product_id, 1)], Customer.new()) for _ in range(DISABLED_AFTER)]
    hooks = abonne.wait_for(lambda: (found := _order_hooks(shop, abonne.url)) and
                            all(hook["status"] == "disabled" for hook in found) and found,
                            "the shop to disable abonne's order webhooks after 7 failed deliveries", timeout=180)
    placed.append(shop.place_order([(scenario.product_id, 1)], Customer.new()))  # never delivered at all

    abonne.start()
    abonne.wait_for(lambda: all(scenario.agreements(order_id) for order_id in placed),
                    "an agreement for every order placed while abonne was down", timeout=120)
    abonne.wait_for(lambda: all(hook["status"] == "active" for hook in shop.webhooks_to(abonne.url)),
                    "abonne to re-enable its webhooks")
    assert {hook["id"] for hook in _order_hooks(shop, abonne.url)} == {hook["id"] for hook in hooks}
    # The shop shows a repair (and an agreement) a moment before abonne's worker commits its record of it.
    abonne.wait_for(lambda: {int(row["order_id"]) for row in abonne.rows(
        "SELECT order_id FROM events WHERE kind = 'missed_order_found' AND shop_id = :s", s=scenario.shop_id)}
        >= set(placed), "a missed_order_found event for every order placed while abonne was down")
    repaired = abonne.wait_for(lambda: len(rows := abonne.rows(
        "SELECT message FROM events WHERE kind = 'webhook_repaired' AND shop_id = :s", s=scenario.shop_id))
        >= len(hooks) and rows, "a webhook_repaired event for each webhook re-enabled")
    assert len(repaired) == len(hooks), repaired

    again = abonne.cli("reconcile")
    assert "0 agreements created from missed webhooks, 0 webhooks re-enabled" in again.stdout
    assert [len(scenario.agreements(order_id)) for order_id in placed] == [1] * len(placed)

    order_id, agreement_id = scenario.subscribe(Customer.new())  # the re-enabled webhooks deliver again
    assert len(scenario.agreements(order_id)) == 1


def _order_hooks(shop: WooCommerceTarget, url: str) -> list[dict]:
    """The webhooks that storefront orders fire (order.deleted never fires here, so it stays active)."""
    return [hook for hook in shop.webhooks_to(url) if hook["topic"] in ("order.created", "order.updated")]
