# Runs one module-level function of a repository package on many inputs and prints one line per input: the
# request's nonce, then JSON {"i", "ok": value, "literal": repr or null, "repr": repr} or {"i", "threw": name},
# values in the tagged JSON of policies/adversary/values.ts. The nonce keeps what the code under test prints out
# of the answers. Run from the repository root with the request on stdin:
# {"module", "root", "name", "inputs": [{"args", "kwargs"}], "repeat", "nonce"}. An iterator is drained into a
# list ({"$iterator": [...]}), a set is sorted ({"$set": [...]}), so neither compares by identity or hash order.
import importlib
import itertools
import json
import math
import os
import sys
from collections.abc import Iterator
from decimal import Decimal

request = json.load(sys.stdin)
# The package root (e.g. src/ in a src layout) first, then the repository root, as the tests see them.
sys.path[:0] = [os.path.join(os.getcwd(), request.get("root", "")), os.getcwd()]
# Kept before the code under test loads: it may replace sys.stdout.
out = sys.stdout


def answer(line):
    out.write(request["nonce"] + json.dumps(line, sort_keys=True) + "\n")
    out.flush()



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
    if isinstance(value, (set, frozenset)):
        return {"$set": sorted((encode_plain(v, depth + 1) for v in value), key=lambda v: json.dumps(v, sort_keys=True))}
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


ITERATOR_LIMIT = 10000


def call(fn, item):
    try:
        result = fn(*decode(item.get("args", [])), **decode(item.get("kwargs", {})))
        if isinstance(result, Iterator):
            items = list(itertools.islice(result, ITERATOR_LIMIT))
            return {"ok": {"$iterator": encode(items)}, "literal": literal(items), "repr": repr(items)}
        return {"ok": encode(result), "literal": literal(result), "repr": repr(result)}
    except RecursionError:
        return {"threw": "RecursionError"}
    except Exception as err:
        return {"threw": type(err).__name__}


def main():
    try:
        fn = getattr(importlib.import_module(request["module"]), request["name"])
    except Exception as err:
        answer({"fatal": "import failed: %s: %s" % (type(err).__name__, str(err)[:300])})
        return
    if not callable(fn):
        answer({"fatal": "%s is not callable" % request["name"]})
        return
    for i, item in enumerate(request["inputs"]):
        first = call(fn, item)
        line = first
        for _ in range(1, request.get("repeat", 1)):
            if json.dumps(call(fn, item), sort_keys=True) != json.dumps(first, sort_keys=True):
                line = {"nondeterministic": True}
        # Flushed per line: if a later input hangs, the lines before it are not lost.
        answer(dict(line, i=i))


main()
