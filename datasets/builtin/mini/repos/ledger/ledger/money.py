"""A Money value type backed by Decimal."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Iterable, List, Union

CENT = Decimal("0.01")

_PARSE_RE = re.compile(r"^\s*(-?[\d,]*\.?\d+)\s+([A-Za-z]{3})\s*$")


class CurrencyMismatch(ValueError):
    """Raised when combining amounts in different currencies."""


def _quantize(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


class Money:
    """An amount of money in one currency, with two decimal places."""

    __slots__ = ("amount", "currency")

    def __init__(self, amount: Union[str, int, Decimal], currency: str) -> None:
        if isinstance(amount, float):
            raise TypeError("use a str or Decimal amount, not float")
        try:
            value = Decimal(amount)
        except InvalidOperation:
            raise ValueError(f"invalid amount: {amount!r}") from None
        if not re.fullmatch(r"[A-Z]{3}", currency or ""):
            raise ValueError(f"invalid currency code: {currency!r}")
        self.amount = _quantize(value)
        self.currency = currency

    @classmethod
    def parse(cls, text: str) -> "Money":
        """Parses strings such as ``"12.50 EUR"`` or ``"-1,234.00 usd"``."""
        match = _PARSE_RE.match(text)
        if not match:
            raise ValueError(f"cannot parse money: {text!r}")
        number, currency = match.groups()
        return cls(number.replace(",", ""), currency.upper())

    @classmethod
    def zero(cls, currency: str) -> "Money":
        return cls("0", currency)

    def _check(self, other: object) -> "Money":
        if not isinstance(other, Money):
            raise TypeError(f"expected Money, got {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"{self.currency} != {other.currency}")
        return other

    def __add__(self, other: "Money") -> "Money":
        other = self._check(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: "Money") -> "Money":
        other = self._check(other)
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, factor: Union[int, Decimal]) -> "Money":
        if isinstance(factor, (Money, float)) or not isinstance(factor, (int, Decimal)):
            raise TypeError(f"cannot multiply Money by {type(factor).__name__}")
        return Money(self.amount * factor, self.currency)

    __rmul__ = __mul__

    def __neg__(self) -> "Money":
        return Money(-self.amount, self.currency)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        return self.amount == other.amount and self.currency == other.currency

    def __lt__(self, other: "Money") -> bool:
        return self.amount < self._check(other).amount

    def __hash__(self) -> int:
        return hash((self.amount, self.currency))

    def __repr__(self) -> str:
        return f"Money('{self.amount}', '{self.currency}')"

    def __str__(self) -> str:
        return f"{self.amount:,.2f} {self.currency}"

    def percent(self, rate: Union[int, str, Decimal]) -> "Money":
        """Returns ``rate`` percent of this amount, rounded half up to the cent."""
        return Money(self.amount * Decimal(rate) / 100, self.currency)

    def allocate(self, ratios: Iterable[int]) -> List["Money"]:
        """Splits the amount proportionally to ``ratios`` without losing a cent.

        Leftover cents go to the first parts, one each.
        """
        ratios = list(ratios)
        if not ratios or any(r < 0 for r in ratios) or sum(ratios) == 0:
            raise ValueError("ratios must be non-negative and not all zero")
        cents = int(self.amount / CENT)
        total = sum(ratios)
        shares = [cents * r // total for r in ratios]
        remainder = cents - sum(shares)
        for i in range(remainder):
            shares[i] += 1
        return [Money(Decimal(s) * CENT, self.currency) for s in shares]


def total(values: Iterable[Money], currency: str) -> Money:
    """Sums ``values``; an empty iterable gives zero in ``currency``."""
    result = Money.zero(currency)
    for value in values:
        result = result + value
    return result
