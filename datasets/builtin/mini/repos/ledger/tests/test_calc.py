from decimal import Decimal

import pytest

from ledger import Money
from ledger.calc import amount, evaluate


def test_evaluate_adds_and_subtracts():
    assert evaluate("12.50+3") == Decimal("15.50")
    assert evaluate(" 10 - 2.5 ") == Decimal("7.5")
    assert evaluate("7") == Decimal("7")


def test_amount_of_a_product():
    assert amount("3*4.99", "EUR") == Money("14.97", "EUR")
    assert amount("-2.50*2", "EUR") == Money("-5.00", "EUR")


def test_amount_is_rounded_to_the_cent():
    assert amount("10/3", "USD") == Money("3.33", "USD")
    assert amount("20/3", "USD") == Money("6.67", "USD")


@pytest.mark.parametrize("text", ["", "   ", "abc", "12 EUR", "1+", "*2", "1/0", "1,5"])
def test_evaluate_rejects_invalid_expressions(text):
    with pytest.raises(ValueError):
        evaluate(text)
