import pytest

from ledger import InsufficientStock, Inventory, Money


def test_add_and_quantity():
    stock = Inventory()
    stock.add("SKU-1", 5)
    stock.add("SKU-1", 2)
    assert stock.quantity("SKU-1") == 7
    assert stock.quantity("UNKNOWN") == 0


def test_add_rejects_non_positive_quantities():
    stock = Inventory()
    with pytest.raises(ValueError):
        stock.add("SKU-1", 0)
    with pytest.raises(ValueError):
        stock.add("SKU-1", -3)


def test_remove_reduces_quantity():
    stock = Inventory()
    stock.add("SKU-1", 5)
    stock.remove("SKU-1", 2)
    assert stock.quantity("SKU-1") == 3


def test_remove_more_than_available_raises_and_keeps_stock():
    stock = Inventory()
    stock.add("SKU-1", 2)
    with pytest.raises(InsufficientStock) as info:
        stock.remove("SKU-1", 3)
    assert info.value.available == 2
    assert stock.quantity("SKU-1") == 2


def test_low_stock_lists_items_below_threshold():
    stock = Inventory()
    stock.add("B", 1)
    stock.add("A", 2)
    stock.add("C", 10)
    assert stock.low_stock(5) == ["A", "B"]


def test_total_value_ignores_items_without_cost():
    stock = Inventory()
    stock.add("SKU-1", 3, unit_cost=Money("2.50", "EUR"))
    stock.add("SKU-2", 4)
    assert stock.total_value("EUR") == Money("7.50", "EUR")


def test_new_unit_cost_replaces_old_one():
    stock = Inventory()
    stock.add("SKU-1", 1, unit_cost=Money("1.00", "EUR"))
    stock.add("SKU-1", 1, unit_cost=Money("2.00", "EUR"))
    assert stock.total_value("EUR") == Money("4.00", "EUR")
