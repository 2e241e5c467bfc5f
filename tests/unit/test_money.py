from decimal import Decimal

import pytest

from bridge.domain.money import Money, MoneyError


def test_amounts_become_minor_units_of_their_currency():
    assert Money.parse("19.90", "EUR") == Money(1990, "EUR")
    assert Money.parse("1500", "JPY") == Money(1500, "JPY")
    assert Money.parse("1.250", "BHD") == Money(1250, "BHD")


def test_more_decimals_than_the_currency_has_is_an_error_not_a_rounding():
    with pytest.raises(MoneyError, match="more decimals"):
        Money.parse("19.999", "EUR")
    with pytest.raises(MoneyError, match="more decimals"):
        Money.parse("10.5", "JPY")


@pytest.mark.parametrize("bad", ["", "abc", "NaN", "Infinity", "1e"])
def test_garbage_is_refused(bad):
    with pytest.raises(MoneyError):
        Money.parse(bad, "EUR")


def test_unknown_currency_is_refused():
    with pytest.raises(MoneyError, match="unknown currency"):
        Money(100, "XYZ")


def test_floats_are_not_money():
    with pytest.raises(MoneyError):
        Money(19.9, "EUR")  # type: ignore[arg-type]


def test_amount_keeps_the_currency_decimals():
    assert Money(1990, "EUR").amount == Decimal("19.90")
    assert str(Money(5, "EUR")) == "0.05 EUR"


def test_different_currencies_do_not_add_up():
    with pytest.raises(MoneyError):
        Money(1, "EUR") + Money(1, "USD")
    assert Money(100, "EUR") + Money(23, "EUR") == Money(123, "EUR")
