"""Exact money arithmetic and a tiny stock ledger."""

from .money import CurrencyMismatch, Money
from .inventory import InsufficientStock, Inventory

__all__ = ["CurrencyMismatch", "InsufficientStock", "Inventory", "Money"]
