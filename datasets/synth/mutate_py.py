"""Procedural mutations of Python source, for task synthesis (bug injection) and template repair.

Reads {"source": str, "kinds"?: [str]} as JSON on stdin and prints a JSON list of mutants, each
{"id", "kind", "line", "description", "source"} (or {"error"} when the source does not parse). A mutant
replaces one span of the original text, located through the ast's positions, so formatting and comments
elsewhere survive: mostly one token, a wrapped condition, two swapped arguments, an inserted guard or a
deleted statement. Mutants that equal the original or do not compile are dropped; the order is (line, kind,
source). Runs with `python3 -I`: nothing of the repository is imported.
"""
import ast
import bisect
import hashlib
import json
import re
import sys

ALL_KINDS = (
    "flip_comparison", "swap_operator", "swap_boolean", "off_by_one", "drop_negation",
    "negate_condition", "swap_arguments", "change_constant", "null_guard", "remove_statement", "swap_call",
)
# Functions easily confused with each other: rounding the wrong way, the wrong extreme, any for all.
CALL_SWAPS = {
    "min": ("max",), "max": ("min",), "any": ("all",), "all": ("any",),
    "math.floor": ("math.ceil", "round"), "math.ceil": ("math.floor", "round"),
    "math.trunc": ("math.ceil", "round"), "round": ("math.ceil", "math.floor"),
}
COMPARE_FLIPS = {
    ast.Lt: ("<", "<="), ast.LtE: ("<=", "<"), ast.Gt: (">", ">="), ast.GtE: (">=", ">"),
    ast.Eq: ("==", "!="), ast.NotEq: ("!=", "=="), ast.Is: ("is", "is not"), ast.IsNot: ("is not", "is"),
    ast.In: ("in", "not in"), ast.NotIn: ("not in", "in"),
}
BINOP_SWAPS = {
    ast.Add: ("+", "-"), ast.Sub: ("-", "+"), ast.Mult: ("*", "/"), ast.Div: ("/", "*"),
    ast.FloorDiv: ("//", "/"), ast.Mod: ("%", "//"),
}
AUGASSIGN_SWAPS = {ast.Add: ("+=", "-="), ast.Sub: ("-=", "+="), ast.Mult: ("*=", "/="), ast.Div: ("/=", "*=")}
BOOLOP_SWAPS = {ast.And: ("and", "or"), ast.Or: ("or", "and")}
# Operator text as it may be written (word operators take any run of blanks between their words).
OPERATOR_PATTERNS = {
    "is not": rb"is\s+not\b", "not in": rb"not\s+in\b", "is": rb"is\b", "in": rb"in\b",
    "and": rb"and\b", "or": rb"or\b",
}
# What may sit between an operand and its operator: blanks, line continuations, parentheses, comments.
# Mutated text a request may produce at most (mutants × file size), as node reads it in one buffer.
MAX_MUTATED_BYTES = 256 * 1024 * 1024
GAP = re.compile(rb"(?:[ \t\r\n\f()]|\\\r?\n|#[^\n]*)*")


def offsets(raw):
    """Byte offset where each line starts (1-based), so ast positions (utf-8 byte columns) index `raw`.
    Split on newlines only: str.splitlines also breaks at form feeds and separators, which Python does not."""
    starts, total = [0, 0], 0
    for line in raw.split(b"\n"):
        total += len(line) + 1
        starts.append(total)
    return starts


def is_string(node):
    """A string literal, or a `+` that concatenates one."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return is_string(node.left) or is_string(node.right)
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)))


def is_simple(node):
    """An argument simple enough to swap with its neighbour: a name, a constant, a.b.c, -1."""
    if isinstance(node, (ast.Name, ast.Constant)):
        return True
    if isinstance(node, ast.Attribute):
        return is_simple(node.value) and not isinstance(node.value, ast.Constant)
    return isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant)


def is_docstring(node):
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


class TooLarge(Exception):
    pass


def compile_check(tree, raw, line_start):
    """A function telling whether the file, with raw[start:end] replaced by `new`, still compiles.

    The compiler, not only the parser: it also rejects e.g. `return x` in an async generator. Recompiling the
    whole file for each mutant is slow on long files, so only the top-level statement holding the change is
    compiled (a method of a top-level class: inside a stub class), with the file's `from __future__` imports;
    the whole file when the statement shares a line with another one.
    """
    def begin_of(stmt):
        # Decorators come first; ast places a decorated definition at its `def`/`class` line.
        first = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
        return line_start[first]

    def span(stmt):
        begin = begin_of(stmt)
        end = line_start[stmt.end_lineno] + stmt.end_col_offset
        stop = raw.find(b"\n", end)
        stop = len(raw) if stop < 0 else stop + 1
        head = raw[begin:line_start[stmt.lineno] + stmt.col_offset] if begin == line_start[stmt.lineno] else b""
        tail = raw[end:stop].strip()
        alone = not head.strip() and (not tail or tail.startswith(b"#"))
        return begin, stop, alone

    future = b"".join(
        raw[line_start[n.lineno] + n.col_offset:line_start[n.end_lineno] + n.end_col_offset] + b"\n"
        for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == "__future__"
    )
    tops = [(span(stmt), stmt) for stmt in tree.body]

    def compiles(text):
        try:
            compile(text.decode("utf-8"), "<mutant>", "exec", dont_inherit=True)
            return True
        except (SyntaxError, ValueError):
            return False

    def patched(begin, stop, start, end, new):
        text = raw[begin:start] + new + raw[end:stop]
        return text if text.endswith(b"\n") else text + b"\n"

    def check(start, end, new):
        for (begin, stop, alone), stmt in tops:
            if not (begin <= start and end <= stop):
                continue
            if not alone:
                break
            if isinstance(stmt, ast.ClassDef):
                for member in stmt.body:
                    m_begin, m_stop, m_alone = span(member)
                    if m_alone and m_begin <= start and end <= m_stop and member.col_offset > 0:
                        indent = raw[line_start[member.lineno]:line_start[member.lineno] + member.col_offset]
                        body = patched(m_begin, m_stop, start, end, new)
                        return compiles(future + b"class _:\n" + body + indent + b"pass\n")
            return compiles(future + patched(begin, stop, start, end, new))
        return compiles(raw[:start] + new + raw[end:])

    return check


def mutants(source, kinds=ALL_KINDS):
    tree = ast.parse(source)
    raw = source.encode("utf-8")
    line_start = offsets(raw)
    wanted = set(kinds)
    found = []

    def start_of(node):
        return line_start[node.lineno] + node.col_offset

    def end_of(node):
        return line_start[node.end_lineno] + node.end_col_offset

    def line_at(offset):
        return bisect.bisect_right(line_start, offset) - 1

    def edit(kind, start, end, new, description):
        if kind in wanted:
            found.append((kind, line_at(start), description, start, end, new.encode("utf-8")))

    def operator(kind, start, end, old, new):
        # The operator token between two operands, past any parentheses, line continuations and comments.
        at = GAP.match(raw, start, end).end()
        pattern = OPERATOR_PATTERNS.get(old, re.escape(old.encode()))
        token = re.compile(pattern).match(raw, at, end)
        if token:
            edit(kind, at, token.end(), new, f"`{old}` became `{new}`")

    def line_alone(start, end):
        """True when nothing but blanks precedes `start` on its line and nothing but blanks or a comment
        follows `end` on its line."""
        first = raw.rfind(b"\n", 0, start) + 1
        last = raw.find(b"\n", end)
        last = len(raw) if last < 0 else last
        return not raw[first:start].strip() and (not raw[end:last].strip() or raw[end:last].strip().startswith(b"#"))

    def eol_at(offset):
        stop = raw.find(b"\n", offset)
        return "\r\n" if stop > 0 and raw[stop - 1:stop] == b"\r" else "\n"

    conditions = []  # expressions where a `not` may be dropped
    methods = set()  # functions defined directly in a class body
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            methods.update(id(s) for s in node.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)))

    has_math = any(
        isinstance(n, ast.Import) and any(a.name == "math" and a.asname is None for a in n.names) for n in tree.body
    )
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            left = node.left
            for op, right in zip(node.ops, node.comparators):
                if type(op) in COMPARE_FLIPS:
                    old, new = COMPARE_FLIPS[type(op)]
                    operator("flip_comparison", end_of(left), start_of(right), old, new)
                left = right
        elif isinstance(node, ast.BinOp) and type(node.op) in BINOP_SWAPS:
            old, new = BINOP_SWAPS[type(node.op)]
            # `"a" + b` → `"a" - b` and `"%s" % x` → … only fail on types: not a plausible bug.
            if not (isinstance(node.op, (ast.Add, ast.Mod)) and (is_string(node.left) or is_string(node.right))):
                operator("swap_operator", end_of(node.left), start_of(node.right), old, new)
        elif isinstance(node, ast.AugAssign) and type(node.op) in AUGASSIGN_SWAPS:
            old, new = AUGASSIGN_SWAPS[type(node.op)]
            if not (isinstance(node.op, ast.Add) and is_string(node.value)):
                operator("swap_operator", end_of(node.target), start_of(node.value), old, new)
        elif isinstance(node, ast.BoolOp) and type(node.op) in BOOLOP_SWAPS:
            old, new = BOOLOP_SWAPS[type(node.op)]
            for left, right in zip(node.values, node.values[1:]):
                operator("swap_boolean", end_of(left), start_of(right), old, new)
        elif isinstance(node, ast.Constant) and type(node.value) is int and node.lineno == node.end_lineno:
            start, end = start_of(node), end_of(node)
            text = raw[start:end].decode("utf-8")
            if text.isdigit():
                for delta in (1, -1):
                    value = int(text) + delta
                    if value >= 0:
                        edit("off_by_one", start, end, str(value), f"`{text}` became `{value}`")
        elif isinstance(node, ast.Constant) and type(node.value) is bool:
            old, new = ("True", "False") if node.value else ("False", "True")
            edit("change_constant", start_of(node), end_of(node), new, f"`{old}` became `{new}`")
        elif isinstance(node, ast.Call):
            name = ast.unparse(node.func) if isinstance(node.func, (ast.Name, ast.Attribute)) else ""
            for new in CALL_SWAPS.get(name, ()):
                # `math.ceil` only where the module already imports math: the swap is one token, not an import.
                if not new.startswith("math.") or has_math:
                    edit("swap_call", start_of(node.func), end_of(node.func), new, f"`{name}` became `{new}`")
            for left, right in zip(node.args, node.args[1:]):
                if is_simple(left) and is_simple(right) and left.lineno == right.end_lineno:
                    a, b = (start_of(left), end_of(left)), (start_of(right), end_of(right))
                    first, second = raw[a[0]:a[1]].decode("utf-8"), raw[b[0]:b[1]].decode("utf-8")
                    between = raw[a[1]:b[0]].decode("utf-8")
                    edit("swap_arguments", a[0], b[1], second + between + first,
                         f"arguments `{first}` and `{second}` were swapped")

        if isinstance(node, (ast.If, ast.While, ast.IfExp)):
            conditions.append(node.test)
            test = node.test
            if not (isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)):
                start, end = start_of(test), end_of(test)
                text = raw[start:end].decode("utf-8")
                edit("negate_condition", start, end, f"not ({text})", "the condition was negated")
        elif isinstance(node, ast.Return) and node.value is not None:
            conditions.append(node.value)

        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name != "__init__":
            params = node.args.posonlyargs + node.args.args
            decorators = {d.id for d in node.decorator_list if isinstance(d, ast.Name)}
            if id(node) in methods and "staticmethod" not in decorators:
                params = params[1:]  # self / cls
            body = node.body[1:] if is_docstring(node.body[0]) else node.body
            if params and body and body[0].lineno > node.lineno:
                anchor = body[0]
                first = line_start[anchor.lineno]
                indent = raw[first:start_of(anchor)].decode("utf-8")
                if not indent.strip():
                    p, eol = params[0].arg, eol_at(first)
                    inner = indent + ("\t" if "\t" in indent else "    ")
                    guard = f"{indent}if not {p}:{eol}{inner}return {p}{eol}"
                    description = f"a guard returning `{p}` early when it is empty was inserted"
                    edit("null_guard", first, first, guard, description)

        for field in ("body", "orelse", "finalbody"):
            block = getattr(node, field, None)
            if not isinstance(block, list) or len(block) < 2:
                continue
            for stmt in block:
                removable = isinstance(stmt, (ast.Assign, ast.AugAssign)) or (
                    isinstance(stmt, ast.AnnAssign) and stmt.value is not None
                ) or (isinstance(stmt, ast.Expr) and not isinstance(stmt.value, ast.Constant))
                if removable and line_alone(start_of(stmt), end_of(stmt)):
                    first = line_start[stmt.lineno]
                    stop = raw.find(b"\n", end_of(stmt))
                    stop = len(raw) if stop < 0 else stop + 1
                    text = raw[start_of(stmt):end_of(stmt)].decode("utf-8").split("\n")[0]
                    edit("remove_statement", first, stop, "", f"the statement `{text}` was removed")

    dropped = {}  # `not` nodes by id: nested conditions (a ternary in a return) reach the same one twice
    for condition in conditions:
        for node in ast.walk(condition):
            if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
                dropped[id(node)] = node
    for node in dropped.values():
        # Only the keyword and the blanks after it: `not (a or b)` keeps its parentheses.
        start = start_of(node)
        keyword = re.compile(rb"not[ \t]*").match(raw, start)
        if keyword:
            edit("drop_negation", start, keyword.end(), "", "a `not` was dropped")

    if len(found) * len(raw) > MAX_MUTATED_BYTES:
        raise TooLarge(f"too large to mutate: {len(found)} mutants of a {len(raw)}-byte file")
    compiles = compile_check(tree, raw, line_start)
    candidates = sorted(
        (line, kind, (raw[:start] + new + raw[end:]).decode("utf-8"), description, start, end, new)
        for kind, line, description, start, end, new in found
    )
    result = []
    seen = {source}
    for line, kind, mutated, description, start, end, new in candidates:
        if mutated in seen:
            continue
        seen.add(mutated)
        if not compiles(start, end, new):
            continue
        digest = hashlib.sha256(mutated.encode("utf-8")).hexdigest()[:12]
        result.append({"id": f"{kind}-{line}-{digest}", "kind": kind, "line": line,
                       "description": description, "source": mutated})
    return result

if __name__ == "__main__":
    request = json.load(sys.stdin)
    try:
        kinds = request.get("kinds")
        print(json.dumps(mutants(request["source"], ALL_KINDS if kinds is None else kinds)))
    except SyntaxError as err:
        print(json.dumps({"error": f"not valid Python: {err.msg} (line {err.lineno})"}))
    except TooLarge as err:
        print(json.dumps({"error": str(err)}))
