import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pyFixture, type Fixture } from './fixtures.ts';
import { removeDir } from './helpers.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'repogym.js');

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('node', [BIN, ...args], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

const jsonLines = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('CLI usage', () => {
  it.each([[[]], [['run']], [['datasets']], [['datasets', 'list']], [['datasets', 'validate']]])(
    '--help works for %j',
    async (args) => {
      const r = await cli([...args, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/repogym/);
      expect(r.stdout).toMatch(/--help/);
    },
  );

  it.each([
    [['bogus'], 2],
    [['run', '--dataset', 'builtin:mini'], 2],
    [['run', '--dataset', 'builtin:mini', '--task', 'x', '--policy', 'wizard'], 2],
    [['run', '--dataset', 'builtin:mini', '--task', 'no-such-task'], 1],
    [['run', '--dataset', 'missing.jsonl', '--task', 'x'], 1],
    [['datasets', 'validate', 'builtin:nope'], 1],
  ])('wrong arguments %j give a one-line error and exit %i', async (args, code) => {
    const r = await cli(args);
    expect(r.code).toBe(code);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^repogym: /);
  });
});

describe('repogym run on builtin:mini', () => {
  const task = 'pagekit__partial-last-page-1';

  it('prints one JSON object per step and a final result; replaying the steps resolves again', async () => {
    const r = await cli(['run', '--dataset', 'builtin:mini', '--task', task, '--policy', 'oracle', '--json']);
    expect(r.code).toBe(0);
    const lines = jsonLines(r.stdout);
    expect(lines[0]!.type).toBe('reset');
    expect(lines.filter((l) => l.type === 'step').map((l) => (l.action as { kind: string }).kind)).toEqual([
      'apply_patch',
      'run_tests',
      'submit',
    ]);
    const result = lines.at(-1)!;
    expect(result).toMatchObject({ type: 'result', resolved: true, instanceId: task });

    const dir = await mkdtemp(path.join(os.tmpdir(), 'repogym-replay-'));
    try {
      const actions = path.join(dir, 'steps.jsonl');
      await writeFile(actions, r.stdout);
      const replay = await cli([
        'run',
        '--dataset',
        'builtin:mini',
        '--task',
        task,
        '--policy',
        'replay',
        '--actions',
        actions,
        '--json',
      ]);
      expect(jsonLines(replay.stdout).at(-1)).toMatchObject({ type: 'result', resolved: true });
    } finally {
      await removeDir(dir);
    }
  });

  it('prints a compact step-by-step view; nop is not resolved', async () => {
    const r = await cli(['run', '--dataset', 'builtin:mini', '--task', task, '--policy', 'nop']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^reset {2}pagekit__partial-last-page-1/);
    expect(r.stdout).toMatch(/#1 +submit .*unresolved {2}F2P 0\/2/);
    expect(r.stdout).toMatch(/^result .*unresolved/m);
  });
});

describe('SWE-bench-format rows with --repos-dir', () => {
  let fixture: Fixture;
  let dir: string;
  let file: string;
  beforeAll(async () => {
    fixture = await pyFixture();
    dir = await mkdtemp(path.join(os.tmpdir(), 'repogym-swe-'));
    await mkdir(path.join(dir, 'repos'));
    await rename(fixture.repoDir, path.join(dir, 'repos', 'acme__calc'));
    const t = fixture.task;
    // Exactly SWE-bench's fields and encodings: no repogym field, test lists as JSON-encoded strings.
    const row = {
      instance_id: 'acme__calc-101',
      repo: 'acme/calc',
      base_commit: t.base_commit,
      patch: t.patch,
      test_patch: t.test_patch,
      problem_statement: t.problem_statement,
      hints_text: '',
      created_at: '2024-05-01T12:00:00Z',
      version: '0.1',
      FAIL_TO_PASS: JSON.stringify(t.FAIL_TO_PASS),
      PASS_TO_PASS: JSON.stringify(t.PASS_TO_PASS),
      environment_setup_commit: t.base_commit,
    };
    file = path.join(dir, 'swe.jsonl');
    const bad = { ...row, instance_id: 'acme__calc-102', FAIL_TO_PASS: 'tests/test_add.py::test_add' };
    await writeFile(file, [row, bad].map((r) => JSON.stringify(r)).join('\n') + '\n{not json\n');
  });
  afterAll(() => removeDir(dir));

  it('loads the good row, reports the bad ones with line, field and reason', async () => {
    const r = await cli(['datasets', 'list', file, '--repos-dir', path.join(dir, 'repos')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^acme__calc-101 {2}python {2}F2P 2 {2}P2P 1$/m);
    expect(r.stderr).toMatch(/^row 2: FAIL_TO_PASS: /m);
    expect(r.stderr).toMatch(/^row 3: \(json\): /m);
  });

  it('grades the oracle resolved and nop unresolved, with pytest node IDs unchanged', async () => {
    const args = [
      'run',
      '--dataset',
      file,
      '--repos-dir',
      path.join(dir, 'repos'),
      '--task',
      'acme__calc-101',
      '--json',
    ];
    const oracle = jsonLines((await cli([...args, '--policy', 'oracle'])).stdout).at(-1)!;
    expect(oracle.resolved).toBe(true);
    const grade = oracle.grade as { failToPass: { passed: string[] } };
    expect(grade.failToPass.passed).toEqual([
      'tests/test_add.py::test_add',
      'tests/test_add.py::test_add_zero',
    ]);
    const nop = jsonLines((await cli([...args, '--policy', 'nop'])).stdout).at(-1)!;
    expect(nop.resolved).toBe(false);
  });

  it('derives FAIL_TO_PASS/PASS_TO_PASS for rows that have none, keeping each row as written', async () => {
    const [row] = (await readFile(file, 'utf8')).split('\n').map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return undefined;
      }
    });
    const { FAIL_TO_PASS: _f2p, PASS_TO_PASS: _p2p, ...collected } = row!;
    const input = path.join(dir, 'collected.jsonl');
    await writeFile(input, JSON.stringify(collected) + '\n');
    const out = path.join(dir, 'derived.jsonl');
    const derive = (dataset: string) =>
      cli(['datasets', 'validate', dataset, '--repos-dir', path.join(dir, 'repos'), '--derive', out]);
    const r = await derive(input);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const derived = JSON.parse((await readFile(out, 'utf8')).trim()) as Record<string, unknown>;
    expect(derived).toEqual({
      ...collected,
      FAIL_TO_PASS: ['tests/test_add.py::test_add', 'tests/test_add.py::test_add_zero'],
      PASS_TO_PASS: ['tests/test_sub.py::test_sub'],
    });
    // Rows that fail to load are reported and make the exit non-zero; the good row is still derived.
    const mixed = await derive(file);
    expect(mixed.code).toBe(1);
    expect(mixed.stderr).toMatch(/^row 2: FAIL_TO_PASS: /m);
    expect(mixed.stdout).toMatch(/wrote 1 rows .*; 2 rows failed to load/);
  });
});

it('the README library example runs and resolves its task', async () => {
  const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
  const code = /```ts\n([\s\S]*?)```/
    .exec(readme)![1]!
    .replace("from 'repogym'", `from '${path.join(ROOT, 'index.ts')}'`);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'repogym-readme-'));
  try {
    await writeFile(path.join(dir, 'example.mts'), code);
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        path.join(ROOT, 'node_modules/.bin/tsx'),
        [path.join(dir, 'example.mts')],
        { cwd: ROOT },
        (err, stdout) => (err ? reject(err) : resolve(stdout)),
      ),
    );
    expect(out).toMatch(/-> resolved reward 1/);
  } finally {
    await removeDir(dir);
  }
});
