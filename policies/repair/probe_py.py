"""Spectrum probe for Python repositories: runs the test suite once under pytest, records which source lines
each test executes (sys.settrace, test and third-party files skipped) and prints the most suspicious lines by
Ochiai as `REPOGYM_OCHIAI <file>:<line> <score>`. Runs inside the sandbox, from the repository root.
When the policy puts a reproduction script in front of this file (`REPRO`, see reproduce.ts), it runs too, as
one more run that fails while the report's examples reproduce."""
import math
import os
import sys

import pytest

ROOT = os.getcwd() + os.sep
TOP = 60


def is_source(path):
    if not path.startswith(ROOT) or not path.endswith(".py"):
        return False
    rel = path[len(ROOT):]
    parts = rel.split(os.sep)
    name = parts[-1]
    if "site-packages" in parts or any(p.startswith(".") for p in parts[:-1]):
        return False
    if name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py":
        return False
    return not any(p in ("tests", "test", "testing") for p in parts[:-1])


class Spectrum:
    def __init__(self):
        self.lines = {}
        self.outcome = {}
        self.current = None

    def tracer(self, frame, event, arg):
        path = frame.f_code.co_filename
        if not is_source(path):
            return None
        if event in ("call", "line"):
            self.current.add((path[len(ROOT):], frame.f_lineno))
        return self.tracer

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        self.current = self.lines.setdefault(item.nodeid, set())
        sys.settrace(self.tracer)
        try:
            yield
        finally:
            sys.settrace(None)

    def pytest_runtest_logreport(self, report):
        if report.failed:
            self.outcome[report.nodeid] = "failed"
        else:
            self.outcome.setdefault(report.nodeid, "passed")


spectrum = Spectrum()
pytest.main(["-q", "--tb=no", "-p", "no:cacheprovider"], plugins=[spectrum])
if isinstance(globals().get("REPRO"), str):
    spectrum.current = spectrum.lines.setdefault("<report>", set())
    namespace = {"__name__": "__repro__"}
    sys.settrace(spectrum.tracer)
    try:
        exec(compile(REPRO, "<report>", "exec"), namespace)
    except BaseException:
        pass
    finally:
        sys.settrace(None)
    spectrum.outcome["<report>"] = "failed" if namespace.get("REPRODUCED") else "passed"
failed = [t for t, o in spectrum.outcome.items() if o == "failed"]
covering = {}
for test, lines in spectrum.lines.items():
    for line in lines:
        counts = covering.setdefault(line, [0, 0])
        counts[0 if spectrum.outcome.get(test) == "failed" else 1] += 1
scores = []
for (path, line), (ef, ep) in covering.items():
    denominator = math.sqrt(len(failed) * (ef + ep))
    if ef and denominator:
        scores.append((-(ef / denominator), path, line))
for negative, path, line in sorted(scores)[:TOP]:
    print(f"REPOGYM_OCHIAI {path}:{line} {-negative:.4f}")
print(f"REPOGYM_PROBE tests={len(spectrum.outcome)} failed={len(failed)}")
