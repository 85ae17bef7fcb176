# Runs one module-level function of a repository package on many inputs and prints one JSON line per input:
# {"ok": value, "literal": repr or null, "repr": repr} or {"threw": name}, values in the tagged JSON of
# policies/adversary/values.ts. Run from the repository root with the request on stdin:
# {"module", "name", "inputs": [{"args", "kwargs"}], "repeat"}.
import importlib
import json
import math
import os
import sys
from decimal import Decimal

sys.path.insert(0, os.getcwd())
request = json.load(sys.stdin)


def decode(value):
    if isinstance(value, list):
        return [decode(v) for v in value]
    if isinstance(value, dict):
        if "$float" in value:
            return float(value["$float"])
        if "$decimal" in value:
            return Decimal(value["$decimal"])
        if "$tuple" in value:
            return tuple(decode(v) for v in value["$tuple"])
        return {k: decode(v) for k, v in value.items()}
    return value


class NotPlain(Exception):
    pass


def encode_plain(value, depth=0):
    if depth > 20:
        raise NotPlain()
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return {"$float": repr(value)}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, tuple):
        return {"$tuple": [encode_plain(v, depth + 1) for v in value]}
    if isinstance(value, list):
        return [encode_plain(v, depth + 1) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) and not k.startswith("$") for k in value):
        return {k: encode_plain(value[k], depth + 1) for k in sorted(value)}
    raise NotPlain()


def encode(value):
    try:
        return encode_plain(value)
    except NotPlain:
        return {"$repr": repr(value)}


def literal(value):
    """repr(value) when evaluating it gives back an equal value, so a test can state it literally."""
    try:
        text = repr(value)
        back = eval(text, {"Decimal": Decimal, "__builtins__": {}}, {})
        if back == value and type(back) is type(value):
            if isinstance(value, float) and math.isnan(value):
                return None
            return text
    except Exception:
        pass
    return None


def call(fn, item):
    try:
        result = fn(*decode(item.get("args", [])), **decode(item.get("kwargs", {})))
        return {"ok": encode(result), "literal": literal(result), "repr": repr(result)}
    except RecursionError:
        return {"threw": "RecursionError"}
    except Exception as err:
        return {"threw": type(err).__name__}


def main():
    try:
        fn = getattr(importlib.import_module(request["module"]), request["name"])
    except Exception as err:
        print(json.dumps({"fatal": "import failed: %s: %s" % (type(err).__name__, str(err)[:300])}), flush=True)
        return
    if not callable(fn):
        print(json.dumps({"fatal": "%s is not callable" % request["name"]}), flush=True)
        return
    for item in request["inputs"]:
        first = call(fn, item)
        line = first
        for _ in range(1, request.get("repeat", 1)):
            if json.dumps(call(fn, item), sort_keys=True) != json.dumps(first, sort_keys=True):
                line = {"nondeterministic": True}
        # Flushed per line: if a later input hangs, the lines before it are not lost.
        print(json.dumps(line, sort_keys=True), flush=True)


main()
