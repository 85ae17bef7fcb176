"""Quantities on hand and unit costs per SKU."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

from .money import Money, total


class InsufficientStock(Exception):
    """Raised when removing more units than are on hand."""

    def __init__(self, sku: str, requested: int, available: int) -> None:
        super().__init__(f"{sku}: requested {requested}, only {available} on hand")
        self.sku = sku
        self.requested = requested
        self.available = available


@dataclass
class _Item:
    quantity: int = 0
    unit_cost: Optional[Money] = None


class Inventory:
    def __init__(self) -> None:
        self._items: Dict[str, _Item] = {}

    def add(self, sku: str, quantity: int, unit_cost: Optional[Money] = None) -> None:
        """Receives ``quantity`` units of ``sku``; a given ``unit_cost`` replaces the old one."""
        if not isinstance(quantity, int) or quantity <= 0:
            raise ValueError(f"quantity must be a positive integer, got {quantity!r}")
        item = self._items.setdefault(sku, _Item())
        item.quantity += quantity
        if unit_cost is not None:
            item.unit_cost = unit_cost

    def remove(self, sku: str, quantity: int) -> None:
        """Ships ``quantity`` units of ``sku``.

        Raises InsufficientStock, leaving the stock unchanged, if fewer are on hand.
        """
        if not isinstance(quantity, int) or quantity <= 0:
            raise ValueError(f"quantity must be a positive integer, got {quantity!r}")
        available = self.quantity(sku)
        if quantity > available:
            raise InsufficientStock(sku, quantity, available)
        self._items[sku].quantity -= quantity

    def quantity(self, sku: str) -> int:
        """Quantity on hand; 0 for an unknown SKU."""
        item = self._items.get(sku)
        return item.quantity if item else 0

    def low_stock(self, threshold: int) -> List[str]:
        """SKUs whose quantity is at or below ``threshold``, sorted."""
        return sorted(sku for sku, item in self._items.items() if item.quantity <= threshold)

    def total_value(self, currency: str) -> Money:
        """Sum of quantity x unit cost over the SKUs that have a cost."""
        values = (
            item.unit_cost * item.quantity
            for item in self._items.values()
            if item.unit_cost is not None
        )
        return total(values, currency)
