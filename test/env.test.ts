import { mkdtemp, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actionJsonSchema } from '../env/actions.ts';
import { checkEnv } from '../env/check.ts';
import { CodingEnv, EnvStateError, InfraError } from '../env/coding-env.ts';
import { createLocalSandbox } from '../env/sandbox/local.ts';
import type { Grade } from '../env/grading.ts';
import { make } from '../env/registry.ts';
import { makeVec } from '../env/vector.ts';
import { jsFixture, pyFixture, type Fixture } from './fixtures.ts';
import { removeDir, treeHash } from './helpers.ts';

let js: Fixture;
let py: Fixture;
beforeAll(async () => {
  [js, py] = await Promise.all([jsFixture(), pyFixture()]);
});
afterAll(async () => {
  await removeDir(js.repoDir);
  await removeDir(py.repoDir);
});

describe('env contract', () => {
  it('throws on step before reset and after the episode ended', async () => {
    const env = new CodingEnv({ tasks: [js.task] });
    await expect(env.step({ kind: 'list_dir', path: '.' })).rejects.toThrow(EnvStateError);
    await env.reset({ seed: 1 });
    const end = await env.step({ kind: 'escalate', report: 'giving up' });
    expect(end.terminated).toBe(true);
    expect(end.reward).toBe(0);
    await expect(env.step({ kind: 'list_dir', path: '.' })).rejects.toThrow(/episode ended/);
    await env.close();
  });

  it('checkEnv passes on repogym/coding-v0, and the same seed gives the same reset observation', async () => {
    const env = make<CodingEnv>('repogym/coding-v0', { tasks: [js.task, py.task] });
    const passed = await checkEnv(env);
    expect(passed).toContain('reset is deterministic for a seed');
    const a = await env.reset({ seed: 7 });
    const b = await env.reset({ seed: 7 });
    expect(a.observation.output).toBe(b.observation.output);
    expect(a.info.instance_id).toBe(b.info.instance_id);
    await env.close();
  });

  it('exports the action schema as JSON Schema', () => {
    const kinds = (actionJsonSchema.oneOf as { properties: { kind: { const: string } } }[]).map(
      (s) => s.properties.kind.const,
    );
    expect(kinds).toEqual(
      expect.arrayContaining(['read_file', 'str_replace', 'run_tests', 'submit', 'escalate']),
    );
  });

  it('truncates at maxSteps', async () => {
    const env = new CodingEnv({ tasks: [js.task], maxSteps: 2 });
    await env.reset();
    expect((await env.step({ kind: 'list_dir', path: '.' })).truncated).toBe(false);
    const last = await env.step({ kind: 'list_dir', path: '.' });
    expect(last.truncated).toBe(true);
    expect(last.terminated).toBe(false);
    expect(last.observation.stepsLeft).toBe(0);
    await env.close();
  });
});

describe('actions', () => {
  let env: CodingEnv;
  let outside: string;
  beforeAll(async () => {
    outside = await mkdtemp(path.join(os.tmpdir(), 'repogym-outside-'));
    await writeFile(path.join(outside, 'keep.txt'), 'untouched\n');
    env = new CodingEnv({ tasks: [js.task], maxSteps: 100 });
    await env.reset({ seed: 1 });
  });
  afterAll(async () => {
    await env.close();
    await removeDir(outside);
  });

  it('every invalid action yields an error observation, the episode goes on, and nothing outside changes', async () => {
    const outsideBefore = await treeHash(outside);
    const sourceBefore = await treeHash(js.repoDir);
    const rel = path.relative(js.repoDir, path.join(outside, 'keep.txt'));
    const cases: [unknown, string][] = [
      [{ kind: 'fly' }, 'invalid_action'],
      [{ kind: 'read_file' }, 'invalid_action'],
      [null, 'invalid_action'],
      [{ kind: 'write_file', path: '../escape.txt', content: 'x' }, 'path_escape'],
      [{ kind: 'write_file', path: path.join(outside, 'keep.txt'), content: 'pwned' }, 'path_escape'],
      [{ kind: 'read_file', path: `../../../../../../${rel}` }, 'path_escape'],
      [{ kind: 'read_file', path: 'missing.js' }, 'not_found'],
      [{ kind: 'str_replace', path: 'src/calc.js', old: 'not in the file', new: 'x' }, 'no_match'],
      [{ kind: 'str_replace', path: 'src/calc.js', old: 'return a - b;', new: 'x' }, 'multiple_matches'],
      [{ kind: 'apply_patch', diff: 'this is not a patch' }, 'patch_failed'],
      [{ kind: 'apply_patch', diff: `--- a/../../x\n+++ b/../../x\n@@ -0,0 +1 @@\n+x\n` }, 'patch_failed'],
      [{ kind: 'list_dir', path: 'src/calc.js' }, 'not_a_directory'],
      [{ kind: 'search', pattern: '(' }, 'invalid_action'],
    ];
    let invalid = 0;
    for (const [action, code] of cases) {
      const r = await env.step(action);
      invalid++;
      expect(r.observation.error?.code, JSON.stringify(action)).toBe(code);
      expect(r.terminated).toBe(false);
      expect(r.info.invalid_actions).toBe(invalid);
    }
    // A symlink planted by a command must not let file actions out.
    await env.step({ kind: 'run', command: `ln -s ${outside} escape-link` });
    const viaLink = await env.step({ kind: 'write_file', path: 'escape-link/keep.txt', content: 'pwned' });
    expect(viaLink.observation.error?.code).toBe('path_escape');
    const readViaLink = await env.step({ kind: 'read_file', path: 'escape-link/keep.txt' });
    expect(readViaLink.observation.error?.code).toBe('path_escape');
    await env.step({ kind: 'run', command: 'rm escape-link' });
    expect(await treeHash(outside)).toBe(outsideBefore);
    expect(await treeHash(js.repoDir)).toBe(sourceBefore);
  });

  it('reads, edits, searches, runs and reports the diff', async () => {
    const read = await env.step({ kind: 'read_file', path: 'src/calc.js', startLine: 2, endLine: 2 });
    expect(read.observation.output).toBe('  return a - b;');
    const edit = await env.step({
      kind: 'str_replace',
      path: 'src/calc.js',
      old: 'add(a, b) {\n  return a - b;',
      new: 'add(a, b) {\n  return a + b;',
    });
    expect(edit.observation.error).toBeUndefined();
    expect(edit.observation.diffStat).toEqual({ files: 1, added: 1, removed: 1 });
    const found = await env.step({ kind: 'search', pattern: 'a \\+ b' });
    expect(found.observation.output).toContain('src/calc.js:2:');
    const listing = await env.step({ kind: 'list_dir', path: '.' });
    expect(listing.observation.output.split('\n')).toEqual(['package.json', 'src/', 'test/']);
    const run = await env.step({ kind: 'run', command: 'echo hi; exit 3' });
    expect(run.observation.exitCode).toBe(3);
    expect(run.observation.output.trim()).toBe('hi');
    const slow = await env.step({ kind: 'run', command: 'sleep 30', timeoutSec: 1 });
    expect(slow.observation.timedOut).toBe(true);
    const tests = await env.step({ kind: 'run_tests' });
    expect(tests.observation.tests).toEqual([expect.objectContaining({ name: 'sub', status: 'passed' })]);
    const evaluation = await env.step({ kind: 'evaluate' });
    expect((evaluation.info.evaluation as { preview_reward: number }).preview_reward).toBe(1);
    expect(evaluation.observation.output).not.toContain('add.test.js'); // hidden tests stay hidden
    await env.step({
      kind: 'write_file',
      path: 'test/hang.test.js',
      content: "import { test } from 'node:test';\ntest('hang', () => { for (;;); });\n",
    });
    const hung = await env.step({ kind: 'run_tests', timeoutSec: 2 });
    expect(hung.observation.timedOut).toBe(true);
    expect(hung.observation.error).toBeUndefined();
  });

  it('applies a valid patch', async () => {
    const r = await env.step({
      kind: 'apply_patch',
      diff: 'diff --git a/NOTES.md b/NOTES.md\nnew file mode 100644\n--- /dev/null\n+++ b/NOTES.md\n@@ -0,0 +1 @@\n+note\n',
    });
    expect(r.observation.error).toBeUndefined();
    expect(await stat(path.join(js.repoDir, 'NOTES.md')).catch(() => null)).toBeNull();
  });
});

async function episode(fixture: Fixture, actions: unknown[]): Promise<{ grade: Grade; reward: number }> {
  const env = new CodingEnv({ tasks: [fixture.task] });
  await env.reset({ seed: 0 });
  let last;
  for (const action of actions) last = await env.step(action);
  await env.close();
  return { grade: last!.info.grade as Grade, reward: last!.reward };
}

describe('grading', () => {
  it('resolves the gold patch and not the empty one (node:test)', async () => {
    const gold = await episode(js, [{ kind: 'apply_patch', diff: js.task.patch }, { kind: 'submit' }]);
    expect(gold.grade.status).toBe('resolved');
    expect(gold.reward).toBe(1);
    const nop = await episode(js, [{ kind: 'submit' }]);
    expect(nop.grade.status).toBe('unresolved');
    expect(nop.grade.failToPass.failed).toEqual(['add']);
    expect(nop.reward).toBe(0);
  });

  it('resolves the gold patch and not the empty one (pytest, JSON-encoded test lists)', async () => {
    const gold = await episode(py, [{ kind: 'apply_patch', diff: py.task.patch }, { kind: 'submit' }]);
    expect(gold.grade.status).toBe('resolved');
    expect(gold.grade.f2pFraction).toBe(1);
    const nop = await episode(py, [{ kind: 'submit' }]);
    expect(nop.grade.resolved).toBe(false);
    expect(nop.grade.f2pFraction).toBe(0);
    expect(nop.grade.p2pFraction).toBe(1);
  });

  it('drops edits to the hidden tests and does not resolve', async () => {
    const forged = 'def test_add():\n    pass\n\n\ndef test_add_zero():\n    pass\n';
    const r = await episode(py, [
      { kind: 'write_file', path: 'tests/test_add.py', content: forged },
      { kind: 'submit' },
    ]);
    expect(r.grade.testFilesReverted).toEqual(['tests/test_add.py']);
    expect(r.grade.resolved).toBe(false);
  });

  it('does not resolve fake PASSED lines for the F2P names while the runner fails', async () => {
    const fake = [
      'import sys',
      'print("PASSED tests/test_add.py::test_add")',
      'print("PASSED tests/test_add.py::test_add_zero")',
      'print("PASSED tests/test_sub.py::test_sub")',
      'sys.exit(1)',
      '',
    ].join('\n');
    const r = await episode(py, [
      { kind: 'write_file', path: 'calc/__init__.py', content: fake },
      { kind: 'submit' },
    ]);
    expect(r.grade.resolved).toBe(false);
    expect(['unresolved', 'suite_inconsistent']).toContain(r.grade.status);
    expect(r.reward).toBe(0);
  });

  it('labels a run with no parsed test as suite_did_not_run (code that ends the runner early with exit 0)', async () => {
    const r = await episode(py, [
      { kind: 'write_file', path: 'calc/__init__.py', content: 'import os\nos._exit(0)\n' },
      { kind: 'submit' },
    ]);
    expect(r.grade.status).toBe('suite_did_not_run');
    expect(r.grade.exitCode).toBe(0);
    expect(r.grade.resolved).toBe(false);
  });

  it('drops changes to test-runner config (pytest.ini) before grading', async () => {
    const r = await episode(py, [
      { kind: 'write_file', path: 'pytest.ini', content: '[pytest]\naddopts = --co -q\n' },
      { kind: 'apply_patch', diff: py.task.patch },
      { kind: 'submit' },
    ]);
    expect(r.grade.testFilesReverted).toEqual(['pytest.ini']);
    expect(r.grade.status).toBe('resolved');
  });

  it('rejects a patch with a symlink leaving the repository', async () => {
    const r = await episode(py, [
      { kind: 'run', command: 'ln -s /etc/hostname calc/host' },
      { kind: 'submit' },
    ]);
    expect(r.grade.status).toBe('patch_failed');
    expect(r.grade.reason).toMatch(/symlinks leaving the repository: .*calc\/host.*through a symlink/);
  });
});

describe('vector env', () => {
  it('steps n episodes concurrently with next-step autoreset', async () => {
    const vec = makeVec('repogym/coding-v0', 2, { tasks: [js.task] });
    const { observations } = await vec.reset({ seed: 3 });
    expect(observations).toHaveLength(2);
    const ended = await vec.step([{ kind: 'submit' }, { kind: 'list_dir', path: '.' }]);
    expect(ended.terminations).toEqual([true, false]);
    const next = await vec.step([
      { kind: 'list_dir', path: '.' },
      { kind: 'list_dir', path: '.' },
    ]);
    expect((next.observations[0] as { kind: string }).kind).toBe('reset');
    expect(next.infos[0]!.autoreset).toBe(true);
    expect(next.rewards).toEqual([0, 0]);
    expect((next.observations[1] as { kind: string }).kind).toBe('list_dir');
    await vec.close();
  });
});

describe('what the agent makes of its tree', () => {
  it('a tree git cannot diff gives a note on the step and patch_failed on submit, not a crash', async () => {
    const env = new CodingEnv({ tasks: [js.task] });
    await env.reset();
    // An empty nested repository: `git add -A` refuses it ("does not have a commit checked out").
    const step = await env.step({
      kind: 'run',
      command:
        'mkdir -p vendor/.git/objects vendor/.git/refs && echo "ref: refs/heads/main" > vendor/.git/HEAD',
    });
    expect(step.observation.output).toMatch(/\[diff unavailable: /);
    const end = await env.step({ kind: 'submit' });
    expect((end.info.grade as Grade).status).toBe('patch_failed');
    expect((end.info.grade as Grade).failureClass).toBe('agent');
    await env.close();
  });

  it('refuses to write into a FIFO or a device node', async () => {
    // Under bwrap a command has no CAP_MKNOD, so the device node needs the unisolated mode.
    const env = new CodingEnv({
      tasks: [js.task],
      sandbox: (task) => createLocalSandbox({ repo: task.repo, commit: task.base_commit, isolation: 'none' }),
    });
    await env.reset();
    await env.step({ kind: 'run', command: 'mkfifo pipe && mknod nulldev c 1 3' });
    for (const path of ['pipe', 'nulldev']) {
      const r = await env.step({ kind: 'write_file', path, content: 'x' });
      expect(r.observation.error?.code).toBe('io_error');
    }
    const search = await env.step({ kind: 'search', pattern: 'x', path: 'pipe' });
    expect(search.observation.timedOut).toBe(false);
    await env.close();
  });

  it('under bwrap a command cannot make a device node at all', async () => {
    const env = new CodingEnv({ tasks: [js.task] });
    await env.reset();
    const r = await env.step({ kind: 'run', command: 'mknod nulldev c 1 3' });
    expect(r.observation.exitCode).not.toBe(0);
    expect(r.observation.output).toContain('Operation not permitted');
    await env.close();
  });
});

describe('harness failures are labelled infra, not agent', () => {
  it('a test_patch that does not apply grades as infra', async () => {
    const broken = {
      ...py,
      task: {
        ...py.task,
        test_patch: 'diff --git a/nope b/nope\n--- a/nope\n+++ b/nope\n@@ -1 +1 @@\n-x\n+y\n',
      },
    };
    const r = await episode(broken, [{ kind: 'apply_patch', diff: py.task.patch }, { kind: 'submit' }]);
    expect(r.grade.status).toBe('infra');
    expect(r.grade.failureClass).toBe('infra');
    expect(r.grade.reason).toMatch(/test_patch did not apply/);
  });

  it('a failing setup_cmd makes reset throw InfraError', async () => {
    const env = new CodingEnv({ tasks: [{ ...js.task, setup_cmd: 'echo cannot install; exit 7' }] });
    await expect(env.reset()).rejects.toThrow(InfraError);
    await env.close();
  });
});
