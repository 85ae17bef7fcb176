// Small real repositories with one task each, built at test time (JS with node:test, Python with pytest).
import { loadRows } from '../datasets/loader.ts';
import type { Task } from '../datasets/types.ts';
import { makeRepo } from './helpers.ts';

export const JS_FILES = {
  'package.json': '{ "name": "calc", "type": "module" }\n',
  'src/calc.js':
    'export function add(a, b) {\n  return a - b;\n}\n\nexport function sub(a, b) {\n  return a - b;\n}\n',
  'test/calc.test.js':
    "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { sub } from '../src/calc.js';\n\ntest('sub', () => {\n  assert.equal(sub(3, 1), 2);\n});\n",
};

export const JS_GOLD = `diff --git a/src/calc.js b/src/calc.js
--- a/src/calc.js
+++ b/src/calc.js
@@ -1,3 +1,3 @@
 export function add(a, b) {
-  return a - b;
+  return a + b;
 }
`;

export const JS_TEST_PATCH = `diff --git a/test/add.test.js b/test/add.test.js
new file mode 100644
--- /dev/null
+++ b/test/add.test.js
@@ -0,0 +1,7 @@
+import { test } from 'node:test';
+import assert from 'node:assert/strict';
+import { add } from '../src/calc.js';
+
+test('add', () => {
+  assert.equal(add(2, 2), 4);
+});
`;

export const PY_FILES = {
  'calc/__init__.py': '',
  'calc/ops.py': 'def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n',
  'tests/__init__.py': '',
  'tests/test_sub.py': 'from calc.ops import sub\n\n\ndef test_sub():\n    assert sub(3, 1) == 2\n',
  'pytest.ini': '[pytest]\n',
};

export const PY_GOLD = `diff --git a/calc/ops.py b/calc/ops.py
--- a/calc/ops.py
+++ b/calc/ops.py
@@ -1,3 +1,3 @@
 def add(a, b):
-    return a - b
+    return a + b
${' '}
`;

const PY_TEST_PATCH = `diff --git a/tests/test_add.py b/tests/test_add.py
new file mode 100644
--- /dev/null
+++ b/tests/test_add.py
@@ -0,0 +1,9 @@
+from calc.ops import add
+
+
+def test_add():
+    assert add(2, 2) == 4
+
+
+def test_add_zero():
+    assert add(0, 5) == 5
`;

export interface Fixture {
  task: Task;
  repoDir: string;
}

async function fixtureTask(files: Record<string, string>, row: Record<string, unknown>): Promise<Fixture> {
  const repo = await makeRepo(files);
  const { tasks, errors } = await loadRows(
    [{ line: 1, value: { ...row, repo: repo.dir, base_commit: repo.commit } }],
    '/',
  );
  if (errors.length) throw new Error(JSON.stringify(errors));
  return { task: tasks[0]!, repoDir: repo.dir };
}

export function jsFixture(): Promise<Fixture> {
  return fixtureTask(JS_FILES, {
    instance_id: 'calc__add-1',
    patch: JS_GOLD,
    test_patch: JS_TEST_PATCH,
    problem_statement: 'add(2, 2) returns 0 instead of 4.',
    FAIL_TO_PASS: ['add'],
    PASS_TO_PASS: ['sub'],
    language: 'javascript',
    timeouts: { test_sec: 30, command_sec: 10, episode_sec: 300 },
  });
}

export function pyFixture(): Promise<Fixture> {
  return fixtureTask(PY_FILES, {
    instance_id: 'calc__add-py-1',
    patch: PY_GOLD,
    test_patch: PY_TEST_PATCH,
    problem_statement: 'add(2, 2) returns 0 instead of 4.',
    // SWE-bench exports store these as JSON-encoded strings.
    FAIL_TO_PASS: JSON.stringify(['tests/test_add.py::test_add', 'tests/test_add.py::test_add_zero']),
    PASS_TO_PASS: JSON.stringify(['tests/test_sub.py::test_sub']),
    language: 'python',
    timeouts: { test_sec: 60, command_sec: 10, episode_sec: 300 },
  });
}
