# Finds what differential testing should exercise in a Python repository, by parsing (never importing) it.
# Request on stdin: {"changed": {file: [line, ...]}, "tests": [file, ...], "snippets": [code, ...]}; files are
# relative to the working directory (the repository root). Prints {"targets": [...], "examples": {name: [...]}}:
# the module-level public functions whose lines the reference patch changed (or, for a private helper, the
# public functions of its module that call it), and the literal arguments the tests and snippets call them with.
import ast
import json
import os
import sys
from decimal import Decimal

request = json.load(sys.stdin)


def module_of(path):
    """The dotted module and the folder it is imported from: the first folder up without an __init__.py
    (a src/ layout's src, or the repository root)."""
    parts = path[: -len(".py")].split("/")
    root = len(parts) - 1
    while root > 0 and os.path.exists("/".join(parts[:root] + ["__init__.py"])):
        root -= 1
    names = parts[root:] if root < len(parts) - 1 else parts[-1:]
    if len(names) > 1 and names[-1] == "__init__":
        names = names[:-1]
    return ".".join(names), "/".join(parts[:root])


def called_names(node):
    names = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            if isinstance(sub.func, ast.Name):
                names.add(sub.func.id)
            elif isinstance(sub.func, ast.Attribute):
                names.add(sub.func.attr)
    return names


def parameters(fn):
    args = fn.args
    if args.vararg or args.kwarg or args.posonlyargs:
        return None
    defaults = len(args.defaults)
    params = []
    for i, a in enumerate(args.args):
        params.append({"name": a.arg, "optional": i >= len(args.args) - defaults})
    for a, d in zip(args.kwonlyargs, args.kw_defaults):
        params.append({"name": a.arg, "optional": d is not None, "keyword": True})
    return params


targets = []
for path, lines in request["changed"].items():
    if not path.endswith(".py"):
        continue
    try:
        # Bytes: the parser honours a PEP 263 coding line.
        tree = ast.parse(open(path, "rb").read())
    except (OSError, SyntaxError, ValueError):
        continue
    module, root = module_of(path)
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    touched = {f.name for f in functions if any(f.lineno <= l <= f.end_lineno for l in lines)}
    public = {f.name for f in functions if not f.name.startswith("_")}
    # A private helper is exercised through the public functions of its module that call it.
    reach = set(touched)
    for f in functions:
        if f.name in public and called_names(f) & {t for t in touched if t.startswith("_")}:
            reach.add(f.name)
    for f in functions:
        if f.name in reach and f.name in public:
            params = parameters(f)
            if params is not None:
                targets.append({"file": path, "module": module, "root": root, "name": f.name, "params": params})


def tagged(value):
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        return {"$float": repr(value)}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, tuple):
        return {"$tuple": [tagged(v) for v in value]}
    if isinstance(value, list):
        return [tagged(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: tagged(v) for k, v in value.items()}
    raise ValueError("not a plain value")


def literal(node):
    # Decimal("1.5") is how money is written in tests; everything else must be a plain literal.
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Decimal":
        if len(node.args) == 1 and not node.keywords:
            return Decimal(ast.literal_eval(node.args[0]))
        raise ValueError("not a literal")
    return ast.literal_eval(node)


names = {t["name"] for t in targets}
examples = {name: [] for name in names}
sources = []
for path in request["tests"]:
    try:
        sources.append(open(path, "rb").read())
    except OSError:
        pass
sources += request.get("snippets", [])
for source in sources:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        continue
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
        if name not in names or any(isinstance(a, ast.Starred) for a in node.args):
            continue
        try:
            example = {
                "args": [tagged(literal(a)) for a in node.args],
                "kwargs": {k.arg: tagged(literal(k.value)) for k in node.keywords if k.arg},
            }
        except (ValueError, TypeError, SyntaxError, ArithmeticError):
            continue
        if example not in examples[name]:
            examples[name].append(example)

print(json.dumps({"targets": targets, "examples": examples}))
