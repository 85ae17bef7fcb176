"""Procedural mutations of Python source, for task synthesis (bug injection) and template repair.

Reads {"source": str} as JSON on stdin and prints a JSON list of mutants, each
{"id", "kind", "line", "description", "source"}. A mutant changes one token span in the original text,
located through the ast's positions, so formatting and comments survive and the diff is one line.
Runs with `python3 -I`: nothing of the repository is imported.
"""
import ast
import hashlib
import json
import sys

COMPARE_FLIPS = {
    ast.Lt: ("<", "<="), ast.LtE: ("<=", "<"), ast.Gt: (">", ">="), ast.GtE: (">=", ">"),
    ast.Eq: ("==", "!="), ast.NotEq: ("!=", "=="), ast.Is: ("is", "is not"), ast.IsNot: ("is not", "is"),
    ast.In: ("in", "not in"), ast.NotIn: ("not in", "in"),
}
BINOP_SWAPS = {
    ast.Add: ("+", "-"), ast.Sub: ("-", "+"), ast.Mult: ("*", "/"), ast.Div: ("/", "*"),
    ast.FloorDiv: ("//", "/"), ast.Mod: ("%", "//"),
}
BOOLOP_SWAPS = {ast.And: ("and", "or"), ast.Or: ("or", "and")}


def offsets(raw):
    """Byte offset where each line starts (1-based), so ast positions (utf-8 byte columns) index `raw`.
    Split on newlines only: str.splitlines also breaks at form feeds and separators, which Python does not."""
    starts, total = [0, 0], 0
    for line in raw.split(b"\n"):
        total += len(line) + 1
        starts.append(total)
    return starts


def mutants(source):
    tree = ast.parse(source)
    raw = source.encode("utf-8")
    line_start = offsets(raw)
    index = lambda line, col: line_start[line] + col
    found = []

    def replace_between(kind, node, start, end, old, new, description):
        # Replace the first occurrence of `old` in raw[start:end] (ast positions are utf-8 byte offsets).
        segment = raw[start:end]
        at = segment.find(old.encode())
        if at < 0:
            return
        mutated = raw[: start + at] + new.encode() + raw[start + at + len(old):]
        found.append((kind, node.lineno, description, mutated.decode("utf-8")))

    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in COMPARE_FLIPS:
            old, new = COMPARE_FLIPS[type(node.ops[0])]
            start = index(node.left.end_lineno, node.left.end_col_offset)
            end = index(node.comparators[0].lineno, node.comparators[0].col_offset)
            replace_between("flip_comparison", node, start, end, old, new, f"`{old}` became `{new}`")
        elif isinstance(node, ast.BinOp) and type(node.op) in BINOP_SWAPS:
            old, new = BINOP_SWAPS[type(node.op)]
            start = index(node.left.end_lineno, node.left.end_col_offset)
            end = index(node.right.lineno, node.right.col_offset)
            replace_between("swap_operator", node, start, end, old, new, f"`{old}` became `{new}`")
        elif isinstance(node, ast.BoolOp) and type(node.op) in BOOLOP_SWAPS and len(node.values) == 2:
            old, new = BOOLOP_SWAPS[type(node.op)]
            start = index(node.values[0].end_lineno, node.values[0].end_col_offset)
            end = index(node.values[1].lineno, node.values[1].col_offset)
            replace_between("swap_boolean", node, start, end, old, new, f"`{old}` became `{new}`")
        elif (
            isinstance(node, ast.Constant)
            and type(node.value) is int
            and node.lineno == node.end_lineno
        ):
            start = index(node.lineno, node.col_offset)
            end = index(node.end_lineno, node.end_col_offset)
            text = raw[start:end].decode("utf-8")
            if text.isdigit():
                for delta in (1, -1):
                    value = int(text) + delta
                    if value >= 0:
                        replace_between("off_by_one", node, start, end, text, str(value), f"`{text}` became `{value}`")
        elif isinstance(node, ast.If) and isinstance(node.test, ast.UnaryOp) and isinstance(node.test.op, ast.Not):
            start = index(node.test.lineno, node.test.col_offset)
            end = index(node.test.operand.lineno, node.test.operand.col_offset)
            replace_between("drop_negation", node, start, end, "not ", "", "a `not` was dropped")

    result = []
    seen = set()
    for kind, line, description, mutated in sorted(found, key=lambda m: (m[1], m[0], m[3])):
        if mutated in seen or mutated == source:
            continue
        try:
            ast.parse(mutated)
        except SyntaxError:
            continue
        seen.add(mutated)
        digest = hashlib.sha256(mutated.encode("utf-8")).hexdigest()[:12]
        result.append({"id": f"{kind}-{line}-{digest}", "kind": kind, "line": line,
                       "description": description, "source": mutated})
    return result


if __name__ == "__main__":
    request = json.load(sys.stdin)
    try:
        print(json.dumps(mutants(request["source"])))
    except SyntaxError as err:
        print(json.dumps({"error": f"not valid Python: {err.msg} (line {err.lineno})"}))
