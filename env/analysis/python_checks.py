# Quality checks for Python sources, run by env/analysis/python.ts as `/usr/bin/python3 -I python_checks.py`.
# Reads {"files": [{"id": str, "text": str}]} on stdin and writes one JSON object on stdout. It only parses the
# sources (ast + pyflakes); it never imports or executes them.
import ast
import json
import sys

# Network and process modules that bandit's import blacklist does not cover (it covers subprocess, pickle,
# telnetlib, ftplib, xmlrpc, ...). Matched on the top-level name and on dotted prefixes.
NETWORK_OR_PROCESS = {
    "socket", "ssl", "socketserver", "asyncio.subprocess", "http", "http.client", "http.server",
    "urllib", "urllib.request", "urllib3", "requests", "httpx", "aiohttp", "websocket", "websockets",
    "smtplib", "poplib", "imaplib", "paramiko", "pty", "multiprocessing",
}


def flagged(module):
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in NETWORK_OR_PROCESS:
            return ".".join(parts[:i])
    return None


def imports(tree):
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [node.module + "." + alias.name for alias in node.names]
        hits = sorted({m for m in map(flagged, names) if m})
        for module in hits[:1]:
            found.append({"rule": "network-or-process-import", "line": node.lineno,
                          "message": "imports network/process module '%s'" % module})
    return found


def main():
    out = {"results": {}, "versions": {}, "pyflakes_error": None}
    try:
        import pyflakes
        import pyflakes.checker
        out["versions"]["pyflakes"] = pyflakes.__version__
    except Exception as exc:  # reported to the caller, which puts it in `errors`
        pyflakes = None
        out["pyflakes_error"] = "%s: %s" % (type(exc).__name__, exc)
    try:
        import importlib.metadata
        out["versions"]["bandit"] = importlib.metadata.version("bandit")
    except Exception:
        pass
    out["versions"]["python"] = "%d.%d.%d" % sys.version_info[:3]

    for f in json.load(sys.stdin)["files"]:
        quality, security = [], []
        try:
            tree = ast.parse(f["text"], filename="<patch>")
        except (SyntaxError, ValueError) as exc:
            line = getattr(exc, "lineno", None) or 1
            quality.append({"rule": "SyntaxError", "line": line, "message": str(getattr(exc, "msg", exc))})
            out["results"][f["id"]] = {"quality": quality, "security": security, "parsed": False}
            continue
        if pyflakes:
            checker = pyflakes.checker.Checker(tree, filename="<patch>")
            for m in sorted(checker.messages, key=lambda m: (m.lineno, type(m).__name__)):
                quality.append({"rule": type(m).__name__, "line": m.lineno, "message": m.message % m.message_args})
        security.extend(imports(tree))
        out["results"][f["id"]] = {"quality": quality, "security": security, "parsed": True}
    json.dump(out, sys.stdout)


main()
