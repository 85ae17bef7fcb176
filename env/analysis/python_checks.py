# Checks for Python sources, run by env/analysis/python.ts as `/usr/bin/python3 -I python_checks.py`. It only
# parses (ast, pyflakes, configparser); it never imports or executes what it reads.
#
#   python_checks.py              {"files": [{"id", "text"}]} -> pyflakes findings (quality) and the ast security
#                                 checks below (security), per id
#   python_checks.py --manifests  {"files": [{"id", "kind": "setup.cfg" | "setup.py", "text"}]} -> the
#                                 requirement strings each declares (install_requires, extras_require, ...)
#
# Security rule ids (tool "python-ast"; stable, since rewards count findings per tool, file and rule):
#   network-or-process-import  import of a network/process module bandit's blacklist misses
#   builtins-code-exec         eval/exec/compile/__import__ reached through the builtins module
#   getattr-dangerous          getattr(x, 'eval' | 'system' | ...) or getattr(<os-like module>, <computed>)
#   dynamic-import             __import__(...), importlib.import_module(<computed | os-like>), sys.modules['os']
#                              (medium; the others are high, but for a computed key in namespace-lookup)
#   dynamic-module-call        .system()/.popen()/.spawn*()/.exec*()/.run()/.eval() on a module obtained at run time
#   namespace-lookup           globals()['eval'], vars(builtins), builtins.__dict__[...], globals()[<computed>]
#   eval-reference             eval/exec/__import__ used as a value (aliased, passed), which bandit does not see
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
# Modules that run commands or code: a dynamic import of one, or a computed attribute of one, is flagged.
DANGEROUS_MODULES = {
    "os", "posix", "nt", "subprocess", "builtins", "__builtin__", "ctypes", "pty", "commands", "popen2",
    "importlib", "runpy", "code", "codeop", "pickle", "marshal", "shelve", "socket", "asyncio",
} | {m.split(".")[0] for m in NETWORK_OR_PROCESS}
BUILTINS_MODULES = {"builtins", "__builtin__"}
CODE_EXEC = {"eval", "exec", "compile", "__import__", "execfile"}
OS_EXEC = {
    "system", "popen", "popen2", "popen3", "popen4", "startfile", "posix_spawn", "posix_spawnp",
    "execl", "execle", "execlp", "execlpe", "execv", "execve", "execvp", "execvpe",
    "spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe",
}
SUBPROCESS = {"Popen", "run", "call", "check_call", "check_output", "getoutput", "getstatusoutput"}
# Attribute names that are dangerous on any object (getattr(x, 'system')); `run`/`call` only on a module.
DANGEROUS_ATTRS = CODE_EXEC | OS_EXEC | {
    "Popen", "check_output", "getoutput", "getstatusoutput", "import_module",
    "__builtins__", "__globals__", "__subclasses__",
}
MODULE_ATTRS = DANGEROUS_ATTRS | SUBPROCESS
EVAL_NAMES = {"eval", "exec", "__import__"}


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
            found.append({"rule": "network-or-process-import", "line": node.lineno, "severity": "medium",
                          "message": "imports network/process module '%s'" % module})
    return found


def literal_str(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def dangerous_module(name):
    return name is not None and (name.split(".")[0] in DANGEROUS_MODULES or flagged(name) is not None)


class SecurityChecks:
    """Obfuscated spellings of eval/exec/os.system that bandit (which matches call names) does not see."""

    def __init__(self, tree):
        self.tree = tree
        self.found = {}  # id(node) -> finding, so one node is reported once
        self.suppressed = set()
        self.parents = {}
        self.bound = set()  # names the file binds itself (a local `eval` is not the builtin)
        self.modules = {}  # name -> module it holds ("?" when computed at run time)
        self.assigned = set()  # the subset of `modules` bound by assignment (bandit sees import aliases)
        self.import_module_names = set()
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                self.parents[id(child)] = node
        self.collect_bindings()

    def report(self, node, rule, severity, message):
        self.found.setdefault(id(node), {"rule": rule, "line": getattr(node, "lineno", 1),
                                         "severity": severity, "message": message})

    def collect_bindings(self):
        for node in ast.walk(self.tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.bound.add(node.name)
            elif isinstance(node, ast.arg):
                self.bound.add(node.arg)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                self.bound.add(node.id)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    top = alias.name.split(".")[0]
                    name = alias.asname or top
                    self.bound.add(name)
                    module = alias.name if alias.asname else top
                    if dangerous_module(module):
                        self.modules[name] = module
            elif isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    name = alias.asname or alias.name
                    self.bound.add(name)
                    if node.module == "importlib" and alias.name == "import_module":
                        self.import_module_names.add(name)
                    if node.module in BUILTINS_MODULES and alias.name in CODE_EXEC:
                        self.report(node, "builtins-code-exec", "high",
                                    "imports %s from the builtins module" % alias.name)
        # Assignments that hold a module: `m = __import__('os')`, `b = builtins`. Twice, for chains.
        for _ in range(2):
            for node in ast.walk(self.tree):
                if not isinstance(node, ast.Assign):
                    continue
                module = self.module_of(node.value)
                if module is None:
                    continue
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.modules[target.id] = module
                        self.assigned.add(target.id)

    def is_name(self, node, *names):
        return isinstance(node, ast.Name) and node.id in names

    def is_import_module(self, func):
        if isinstance(func, ast.Name):
            return func.id in self.import_module_names
        return isinstance(func, ast.Attribute) and func.attr == "import_module"

    def is_sys_modules(self, node):
        return isinstance(node, ast.Attribute) and node.attr == "modules" and self.is_name(node.value, "sys")

    def module_of(self, node):
        """The module an expression evaluates to, if it is one we track ("?" when computed), else None."""
        if isinstance(node, ast.Name):
            if node.id in ("__builtins__",) or (node.id in BUILTINS_MODULES and node.id not in self.bound):
                return "builtins"
            return self.modules.get(node.id)
        if isinstance(node, ast.Call) and node.args:
            name = literal_str(node.args[0])
            if self.is_name(node.func, "__import__") or (
                isinstance(node.func, ast.Attribute) and node.func.attr == "__import__"
            ) or self.is_import_module(node.func):
                return name if name is not None else "?"
            if isinstance(node.func, ast.Attribute) and node.func.attr == "get" and self.is_sys_modules(
                node.func.value
            ):
                return name if name is not None else "?"
        if isinstance(node, ast.Subscript) and self.is_sys_modules(node.value):
            return literal_str(self.subscript_key(node)) or "?"
        return None

    def is_builtins(self, node):
        return self.module_of(node) in BUILTINS_MODULES

    def is_dynamic(self, node):
        """A module obtained at run time: __import__(...), import_module(...), sys.modules[...], or a name
        assigned one (`m = __import__('os')`, `o = os`)."""
        if isinstance(node, ast.Name):
            return node.id in self.assigned
        return self.module_of(node) is not None

    @staticmethod
    def subscript_key(node):
        key = node.slice
        if isinstance(key, getattr(ast, "Index", ())):  # Python < 3.9
            key = key.value
        return key

    def namespace(self, node):
        """'all' for namespaces where any computed key is suspect (globals(), vars(builtins), __builtins__),
        'named' for `x.__dict__` (only dangerous names), else None."""
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in self.bound:
            if node.func.id in ("globals", "locals") and not node.args:
                return "all"
            if node.func.id == "vars" and (not node.args or self.is_builtins(node.args[0])):
                return "all"
        if self.is_name(node, "__builtins__"):
            return "all"
        if isinstance(node, ast.Attribute) and node.attr == "__dict__":
            return "all" if self.is_builtins(node.value) or self.module_of(node.value) else "named"
        return None

    def lookup(self, node, container, key):
        """globals()['eval'], builtins.__dict__.get(name), ...: reports and returns True if suspect."""
        kind = self.namespace(container)
        if kind is None:
            return False
        name = literal_str(key)
        if name is None and kind == "all":
            self.report(node, "namespace-lookup", "medium", "looks up a computed name in a namespace dict")
        elif name is not None and name in DANGEROUS_ATTRS:
            self.report(node, "namespace-lookup", "high", "looks up '%s' in a namespace dict" % name)
        else:
            return False
        self.suppressed.add(id(container))
        return True

    def run(self):
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                self.check_attribute(node)
            elif isinstance(node, ast.Call):
                self.check_call(node)
            elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
                self.check_subscript(node)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                self.check_name(node)
        return [f for k, f in self.found.items() if k not in self.suppressed]

    def check_attribute(self, node):
        parent = self.parents.get(id(node))
        is_callee = isinstance(parent, ast.Call) and parent.func is node
        if node.attr in CODE_EXEC and self.is_builtins(node.value):
            if not (node.attr == "__import__" and is_callee):  # that call is a dynamic-import
                self.report(node, "builtins-code-exec", "high", "uses %s through the builtins module" % node.attr)

    def check_call(self, node):
        func = node.func
        args = node.args
        # __import__(...), importlib.import_module(...)
        if self.is_name(func, "__import__") and "__import__" not in self.bound or (
            isinstance(func, ast.Attribute) and func.attr == "__import__"
        ):
            what = literal_str(args[0]) if args else None
            self.report(node, "dynamic-import", "medium",
                        "imports %s with __import__" % (repr(what) if what else "a computed module"))
        elif self.is_import_module(func) and args:
            what = literal_str(args[0])
            if what is None:
                self.report(node, "dynamic-import", "medium", "imports a computed module name")
            elif dangerous_module(what):
                self.report(node, "dynamic-import", "medium", "imports '%s' dynamically" % what)
        elif isinstance(func, ast.Attribute) and func.attr == "get" and self.is_sys_modules(func.value) and args:
            self.check_sys_modules(node, args[0])
        # getattr(x, 'system'), getattr(builtins, name)
        if self.is_name(func, "getattr") and "getattr" not in self.bound and len(args) >= 2:
            name = literal_str(args[1])
            module = self.module_of(args[0])
            if name is not None and (name in DANGEROUS_ATTRS or (module and name in MODULE_ATTRS)):
                self.report(node, "getattr-dangerous", "high", "getattr(..., '%s')" % name)
            elif name is None and module and module != "?":  # a computed module is dynamic-import's
                self.report(node, "getattr-dangerous", "high", "getattr with a computed name on module %s" % module)
        # __import__('os').system(cmd), m.popen(cmd) where m = importlib.import_module(x)
        if isinstance(func, ast.Attribute) and (
            func.attr in MODULE_ATTRS or func.attr.startswith(("spawn", "exec", "posix_spawn"))
        ) and self.is_dynamic(func.value):
            self.report(node, "dynamic-module-call", "high",
                        "calls .%s() on a module obtained at run time" % func.attr)
        # vars(builtins), builtins.__dict__.get('eval'), globals().get(name)
        if isinstance(func, ast.Name) and func.id == "vars" and args and self.is_builtins(args[0]):
            self.report(node, "namespace-lookup", "high", "reads the builtins namespace with vars()")
        if isinstance(func, ast.Attribute) and func.attr == "get" and args:
            self.lookup(node, func.value, args[0])

    def check_sys_modules(self, node, key):
        # sys.modules[__name__] is common; a computed lookup is reported when something is called on it
        name = literal_str(key)
        if name is not None and dangerous_module(name):
            self.report(node, "dynamic-import", "medium", "looks up %r in sys.modules" % name)

    def check_subscript(self, node):
        key = self.subscript_key(node)
        if self.is_sys_modules(node.value):
            self.check_sys_modules(node, key)
        else:
            self.lookup(node, node.value, key)

    def check_name(self, node):
        if node.id not in EVAL_NAMES or node.id in self.bound:
            return
        parent = self.parents.get(id(node))
        if isinstance(parent, ast.Call) and parent.func is node:
            return  # a direct call: bandit's B307/B102, or dynamic-import
        self.report(node, "eval-reference", "high", "uses %s as a value" % node.id)


def security_checks(tree):
    return imports(tree) + SecurityChecks(tree).run()


def requirement_lists(kind, text):
    """Requirement strings a setup.cfg / setup.py declares, in order."""
    if kind == "setup.cfg":
        import configparser
        # As setuptools reads it (option names keep their case), without interpolation.
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        parser.optionxform = str
        parser.read_string(text)
        values = []
        if parser.has_section("options"):
            for key in ("install_requires", "setup_requires", "tests_require"):
                if parser.has_option("options", key):
                    values.append(parser.get("options", key))
        if parser.has_section("options.extras_require"):
            values.extend(parser.get("options.extras_require", key) for key in parser.options("options.extras_require"))
        out = []
        for value in values:
            # setuptools: one per line, or `;`-separated on one line
            items = value.splitlines() if "\n" in value else value.split(";")
            out.extend(i.strip() for i in items if i.strip() and not i.strip().startswith("#"))
        return out, []
    # setup.py: the literal arguments of setup(...), or of a module-level name they refer to
    tree = ast.parse(text)
    constants = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            constants[node.targets[0].id] = node.value
    out, problems = [], []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if not (isinstance(func, ast.Name) and func.id == "setup" or isinstance(func, ast.Attribute) and func.attr == "setup"):
            continue
        for kw in node.keywords:
            if kw.arg not in ("install_requires", "setup_requires", "tests_require", "extras_require"):
                continue
            value = kw.value
            if isinstance(value, ast.Name) and value.id in constants:
                value = constants[value.id]
            try:
                literal = ast.literal_eval(value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                problems.append("%s is computed, not read" % kw.arg)
                continue
            lists = literal.values() if isinstance(literal, dict) else [literal]
            for lst in lists:
                if isinstance(lst, str):
                    lst = lst.splitlines()
                if isinstance(lst, (list, tuple)):
                    out.extend(r.strip() for r in lst if isinstance(r, str) and r.strip())
    return out, problems


def manifests():
    out = {"results": {}}
    for f in json.load(sys.stdin)["files"]:
        try:
            requirements, problems = requirement_lists(f["kind"], f["text"])
            out["results"][f["id"]] = {"requirements": requirements, "problems": problems, "error": None}
        except Exception as exc:  # unparsable manifest: reported by the caller in `errors`
            line = str(exc).splitlines()[0] if str(exc) else ""
            out["results"][f["id"]] = {"requirements": [], "problems": [],
                                       "error": "%s: %s" % (type(exc).__name__, line)}
    json.dump(out, sys.stdout)


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
        security.extend(sorted(security_checks(tree), key=lambda s: (s["line"], s["rule"])))
        out["results"][f["id"]] = {"quality": quality, "security": security, "parsed": True}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    manifests() if sys.argv[1:] == ["--manifests"] else main()
