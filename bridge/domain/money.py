"""Money in a currency's minor units. Never a float (I10)."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from babel.numbers import get_currency_precision, list_currencies


class MoneyError(ValueError):
    """An amount or currency that cannot be money."""


def currency_exponent(currency: str) -> int:
    if currency not in _KNOWN_CURRENCIES:
        raise MoneyError(f"unknown currency code {currency!r}")
    return get_currency_precision(currency)


_KNOWN_CURRENCIES = frozenset(list_currencies())


@dataclass(frozen=True, order=True)
class Money:
    minor: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.minor, int) or isinstance(self.minor, bool):
            raise MoneyError(f"minor units must be an integer, got {self.minor!r}")
        currency_exponent(self.currency)

    @classmethod
    def parse(cls, amount: str | Decimal | int, currency: str) -> Money:
        """Money from a decimal amount such as "19.90"; more decimals than the currency has are an error."""
        exponent = currency_exponent(currency)
        try:
            value = Decimal(str(amount).strip())
        except InvalidOperation:
            raise MoneyError(f"{amount!r} is not a decimal amount") from None
        if not value.is_finite():
            raise MoneyError(f"{amount!r} is not a finite amount")
        scaled = value.scaleb(exponent)
        if scaled != scaled.to_integral_value():
            raise MoneyError(f"{amount} has more decimals than {currency} allows ({exponent})")
        return cls(int(scaled), currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @property
    def amount(self) -> Decimal:
        """The decimal amount with exactly the currency's number of decimals."""
        exponent = currency_exponent(self.currency)
        return Decimal(self.minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise MoneyError(f"cannot combine {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def times(self, quantity: int) -> Money:
        return Money(self.minor * quantity, self.currency)

    def is_positive(self) -> bool:
        return self.minor > 0
