from decimal import Decimal

import pytest

from ledger import CurrencyMismatch, Money
from ledger.money import total


def test_amount_has_two_decimal_places():
    assert Money("5", "EUR").amount == Decimal("5.00")
    assert str(Money("5", "EUR").amount) == "5.00"


def test_rejects_float_amounts():
    with pytest.raises(TypeError):
        Money(0.1, "EUR")


def test_rejects_bad_currency_code():
    with pytest.raises(ValueError):
        Money("1", "euro")


def test_add_and_subtract_same_currency():
    assert Money("1.10", "EUR") + Money("2.20", "EUR") == Money("3.30", "EUR")
    assert Money("5.00", "EUR") - Money("7.50", "EUR") == Money("-2.50", "EUR")


def test_add_different_currencies_raises():
    with pytest.raises(CurrencyMismatch):
        Money("1", "EUR") + Money("1", "USD")


def test_multiply_by_int_and_decimal():
    assert Money("19.99", "EUR") * 3 == Money("59.97", "EUR")
    assert 2 * Money("0.50", "EUR") == Money("1.00", "EUR")
    assert Money("10.00", "EUR") * Decimal("0.5") == Money("5.00", "EUR")


def test_multiply_by_money_is_an_error():
    with pytest.raises(TypeError):
        Money("1", "EUR") * Money("2", "EUR")


def test_percent():
    assert Money("200.00", "EUR").percent(15) == Money("30.00", "EUR")
    assert Money("19.99", "EUR").percent("15") == Money("3.00", "EUR")


def test_parse_simple_amounts():
    assert Money.parse("12.50 EUR") == Money("12.50", "EUR")
    assert Money.parse("  7 usd ") == Money("7.00", "USD")
    assert Money.parse("-3.20 GBP") == Money("-3.20", "GBP")


def test_parse_rejects_garbage():
    with pytest.raises(ValueError):
        Money.parse("twelve euros")


def test_str_formats_amount_and_currency():
    assert str(Money("12.5", "EUR")) == "12.50 EUR"
    assert str(Money("-5", "USD")) == "-5.00 USD"


def test_allocate_evenly():
    parts = Money("10.00", "USD").allocate([1, 1, 1])
    assert parts == [Money("3.34", "USD"), Money("3.33", "USD"), Money("3.33", "USD")]


def test_allocate_rejects_zero_ratios():
    with pytest.raises(ValueError):
        Money("1.00", "USD").allocate([0, 0])


def test_total_of_nothing_is_zero():
    assert total([], "EUR") == Money.zero("EUR")
    assert total([Money("1", "EUR"), Money("2", "EUR")], "EUR") == Money("3", "EUR")
