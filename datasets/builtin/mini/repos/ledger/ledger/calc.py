"""Amount expressions, as typed into a till's amount field: ``"12.50+3"``, ``"3*4.99"``, ``"(20-2.50)/2"``."""

from __future__ import annotations

import ast
from decimal import Decimal

from .money import Money

_BINARY_OPERATORS = {
    ast.Add: Decimal.__add__,
    ast.Sub: Decimal.__sub__,
    ast.Mult: Decimal.__mul__,
    ast.Div: Decimal.__truediv__,
}
_UNARY_OPERATORS = {ast.UAdd: Decimal.__pos__, ast.USub: Decimal.__neg__}


def evaluate(expression: str) -> Decimal:
    """Exact value of an amount expression.

    Numbers, ``+ - * /`` and parentheses, with the usual precedence: ``*`` and ``/`` before ``+``
    and ``-``. Raises ValueError for anything else, and for a division by zero.
    """
    source = expression.strip()
    try:
        # Parsed, never executed: only the node types below are evaluated, all else is rejected.
        tree = ast.parse(source, mode="eval")
        return _evaluate(tree.body, source)
    except (SyntaxError, ArithmeticError, RecursionError):
        raise ValueError(f"invalid amount expression: {expression!r}") from None


def _evaluate(node: ast.AST, source: str) -> Decimal:
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY_OPERATORS:
        left = _evaluate(node.left, source)
        right = _evaluate(node.right, source)
        return _BINARY_OPERATORS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY_OPERATORS:
        return _UNARY_OPERATORS[type(node.op)](_evaluate(node.operand, source))
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        # The literal as written: "4.99" must not go through a float.
        return Decimal(ast.get_source_segment(source, node))
    raise ValueError(f"invalid amount expression: {source!r}")


def amount(expression: str, currency: str) -> Money:
    """The value of ``expression`` as Money in ``currency``, rounded half up to the cent."""
    return Money(evaluate(expression), currency)
