"""Runs the examples a problem statement gives (policies/repair/reproduce.ts puts BLOCKS, their JSON, in front
of this file) from the repository root, and prints one line per example:
`REPOGYM_REPRO <id> fixed|reproduces|other`. Sets REPRODUCED; run as a script it exits 1 when any example still
reproduces the report."""
import json
import os
import re
import sys


def _squash(text):
    text = re.sub(r"\s+", " ", str(text))
    return re.sub(r" ([\]}),])", r"\1", re.sub(r"([\[{(]) ", r"\1", text)).strip()


def _matches(claim, outcome, namespace):
    if _squash(outcome["text"]) == _squash(claim):
        return True
    try:
        claimed = eval(claim, dict(namespace))
        # 0 == False and 1 == True in Python, but a report that expects False does not accept 0.
        if isinstance(claimed, bool) != isinstance(outcome["value"], bool):
            return False
        return bool(claimed == outcome["value"])
    except BaseException:
        return False


def _verdict(claim, outcome, namespace):
    threw = outcome.get("threw")
    if "expected" in claim:
        fixed = not threw and _matches(claim["expected"], outcome, namespace)
    else:
        fixed = not threw and (claim.get("raises") or not _matches(claim["actual"], outcome, namespace))
    if fixed:
        return "fixed"
    if claim.get("raises"):
        # "ValueError: invalid amount" is reproduced by a ValueError, whatever its message says now.
        name = claim["actual"].split(":")[0].strip()
        return "reproduces" if threw and outcome["text"].split(":")[0].strip() == name else "other"
    if threw:
        return "other"
    return "reproduces" if "actual" not in claim or _matches(claim["actual"], outcome, namespace) else "other"


def _package_names():
    """Public names of the repository's top-level packages: reports often call them without importing."""
    names = {}
    for entry in sorted(os.listdir(".")):
        if entry.startswith((".", "test")) or not os.path.isfile(os.path.join(entry, "__init__.py")):
            continue
        try:
            module = __import__(entry)
        except Exception:
            continue
        for name in getattr(module, "__all__", [n for n in dir(module) if not n.startswith("_")]):
            if hasattr(module, name):
                names.setdefault(name, getattr(module, name))
    return names


def _run(blocks):
    reproduced = 0
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    defaults = _package_names()
    for block in blocks:
        namespace = dict(defaults, __name__="__repro__")
        broken = False
        for item in block:
            example = item.get("example")
            if broken:
                if example:
                    print(f"\nREPOGYM_REPRO {example['id']} other")
                continue
            if not example:
                try:
                    try:
                        namespace["_"] = eval(compile(item["code"], "<report>", "eval"), namespace)
                    except SyntaxError:
                        exec(compile(item["code"], "<report>", "exec"), namespace)
                except BaseException:
                    # Setup the report needs but the sandbox lacks: the block's later examples can't run.
                    broken = True
                continue
            try:
                value = eval(compile(item["code"], "<report>", "eval"), namespace)
                namespace["_"] = value
                text = " ".join(str(v) for v in value) if example["printed"] else repr(value)
                outcome = {"value": value, "text": text}
            except SyntaxError:
                outcome = {"threw": True, "text": "SyntaxError"}
            except BaseException as error:  # sys.exit() in a report ends the call, not the driver
                outcome = {"threw": True, "text": f"{type(error).__name__}: {error}"}
            result = _verdict(example["claim"], outcome, namespace)
            reproduced += result == "reproduces"
            print(f"\nREPOGYM_REPRO {example['id']} {result}")
    return reproduced


REPRODUCED = _run(json.loads(BLOCKS))
sys.stdout.flush()
if __name__ == "__main__":
    sys.exit(1 if REPRODUCED else 0)
