// The built-in dataset `mini`: deterministic builds, cache behaviour, row shape, and every task checked for
// real: hidden tests fail at the base commit and pass once the gold patch is applied.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_DATASETS, builtinDatasetDir, materializeBuiltin } from '../datasets/builtin/build.ts';
import { SYNTH_DEFAULTS, generateSynthRows } from '../datasets/builtin/generate-synth.ts';
import { loadDataset } from '../datasets/loader.ts';
import { mapLimit, validateTask } from '../datasets/validate.ts';
import { limiter } from './helpers.ts';

const DATASET = 'mini';
const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BUILD_TS = path.join(PROJECT_ROOT, 'datasets', 'builtin', 'build.ts');
const DATA_DIR = builtinDatasetDir(DATASET);
const SOURCE_ROWS: Record<string, unknown>[] = readFileSync(path.join(DATA_DIR, 'tasks.jsonl'), 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => JSON.parse(line) as Record<string, unknown>);
const EXPECTED: Record<string, string> = JSON.parse(
  readFileSync(path.join(DATA_DIR, 'base-commits.json'), 'utf8'),
);
const CONCURRENCY = 4;

interface RunResult {
  code: number | null;
  output: string;
}

function run(cmd: string, args: string[], opts: { cwd: string; input?: string; timeoutMs?: number }) {
  return new Promise<RunResult>((resolve, reject) => {
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('GIT_')) env[key] = value;
    Object.assign(env, {
      GIT_CONFIG_GLOBAL: os.devNull,
      GIT_CONFIG_NOSYSTEM: '1',
      PYTHONDONTWRITEBYTECODE: '1',
    });
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env,
      timeout: opts.timeoutMs ?? 60_000,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
    if (child.stdin) {
      child.stdin.on('error', () => {}); // the exit code tells if the input was not consumed
      child.stdin.end(opts.input);
    }
  });
}

async function git(cwd: string, args: string[], input?: string): Promise<string> {
  const result = await run('git', args, { cwd, input });
  if (result.code !== 0) throw new Error(`git ${args.join(' ')} failed in ${cwd}:\n${result.output}`);
  return result.output;
}

/** Names of failing tests, and whether a whole test file crashed (import error, syntax error, …). */
function failures(format: string, output: string): { tests: string[]; crashed: string[] } {
  if (format === 'tap') {
    const failed = [...output.matchAll(/^\s*not ok \d+ - (.*)$/gm)].map((m) => m[1]!.trim());
    return {
      tests: failed.filter((name) => !/\.[cm]?js$/.test(name)),
      crashed: failed.filter((name) => /\.[cm]?js$/.test(name)),
    };
  }
  return {
    tests: [...output.matchAll(/^FAILED (\S+::\S+)/gm)].map((m) => m[1]!),
    crashed: [...output.matchAll(/^ERROR (\S+)/gm)].map((m) => m[1]!),
  };
}

function changedFiles(diff: string): string[] {
  return [...diff.matchAll(/^diff --git a\/(\S+) b\/\S+$/gm)].map((m) => m[1]!);
}

let tmpRoot = '';
let rows: Record<string, unknown>[] = [];

beforeAll(async () => {
  tmpRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'repogym-builtin-test-'));
});

afterAll(async () => {
  if (tmpRoot) await fs.rm(tmpRoot, { recursive: true, force: true });
});

describe('builtin:mini build', () => {
  it('is listed and has ≥ 16 tasks over ≥ 4 repos', () => {
    expect(BUILTIN_DATASETS).toContain(DATASET);
    expect(SOURCE_ROWS.length).toBeGreaterThanOrEqual(16);
    const repos = new Set(SOURCE_ROWS.map((row) => row.repo));
    expect(repos.size).toBeGreaterThanOrEqual(4);
    for (const repo of repos)
      expect(SOURCE_ROWS.filter((row) => row.repo === repo).length).toBeGreaterThanOrEqual(3);
    expect(Object.keys(EXPECTED)).toEqual(SOURCE_ROWS.map((row) => row.instance_id));
  });

  it('builds identical base commits in two fresh caches, matching base-commits.json', async () => {
    const [a, b] = await Promise.all([
      materializeBuiltin(DATASET, { cacheDir: path.join(tmpRoot, 'cache-a') }),
      materializeBuiltin(DATASET, { cacheDir: path.join(tmpRoot, 'cache-b') }),
    ]);
    const commits = (list: Record<string, unknown>[]) =>
      Object.fromEntries(list.map((row) => [row.instance_id, row.base_commit]));
    expect(commits(a)).toEqual(EXPECTED);
    expect(commits(b)).toEqual(EXPECTED);
    for (const row of a) {
      expect(path.isAbsolute(row.repo as string)).toBe(true);
      expect((row.repo as string).startsWith(path.join(tmpRoot, 'cache-a', 'builtin', DATASET))).toBe(true);
      const ref = await git(row.repo as string, ['rev-parse', `refs/tasks/${row.instance_id}`]);
      expect(ref.trim()).toBe(row.base_commit);
    }
    rows = a;
  });

  it('reuses the cache and is safe under concurrent calls from several processes', async () => {
    const cacheDir = path.join(tmpRoot, 'cache-c');
    const script = path.join(tmpRoot, 'materialize.mts');
    await fs.writeFile(
      script,
      `const { materializeBuiltin } = await import(${JSON.stringify('file://' + BUILD_TS)});\n` +
        `const rows = await materializeBuiltin(${JSON.stringify(DATASET)}, { cacheDir: ${JSON.stringify(cacheDir)} });\n` +
        `console.log(JSON.stringify(rows.map((r) => [r.instance_id, r.repo, r.base_commit])));\n`,
    );
    const child = () =>
      run(process.execPath, ['--import', 'tsx', script], { cwd: PROJECT_ROOT }).then((result) => {
        expect(result.code, result.output).toBe(0);
        return JSON.parse(result.output.trim().split('\n').pop()!) as string[][];
      });
    const here = () =>
      materializeBuiltin(DATASET, { cacheDir }).then((list) =>
        list.map((r) => [r.instance_id, r.repo, r.base_commit] as string[]),
      );
    const results = await Promise.all([child(), child(), here(), here(), here()]);
    for (const result of results) expect(result).toEqual(results[0]);
    expect(Object.fromEntries(results[0]!.map(([id, , sha]) => [id, sha]))).toEqual(EXPECTED);

    // One folder per repo, no temporary folders left behind.
    const entries = await fs.readdir(path.join(cacheDir, 'builtin', DATASET));
    expect(entries.sort()).toEqual([...new Set(results[0]!.map(([, repo]) => path.basename(repo!)))].sort());

    // A second call reuses the cached repos as they are.
    const again = await here();
    expect(again).toEqual(results[0]);
  });

  it('refuses a cached repo whose base commits differ from base-commits.json', async () => {
    expect(rows.length).toBeGreaterThan(0);
    const cacheDir = path.join(tmpRoot, 'cache-d');
    await fs.cp(path.join(tmpRoot, 'cache-a'), cacheDir, { recursive: true });
    const row = rows[0]!;
    const copy = path.join(cacheDir, 'builtin', DATASET, path.basename(row.repo as string));
    await git(copy, ['update-ref', `refs/tasks/${row.instance_id}`, 'refs/heads/main']);
    await expect(materializeBuiltin(DATASET, { cacheDir })).rejects.toThrow(
      new RegExp(`${row.instance_id}: built [0-9a-f]{40}, base-commits.json says ${row.base_commit}`),
    );
  });

  it('rejects an unknown dataset name', async () => {
    await expect(materializeBuiltin('nope', { cacheDir: path.join(tmpRoot, 'cache-e') })).rejects.toThrow(
      /unknown built-in dataset "nope"/,
    );
  });

  it('returns rows with every required field', () => {
    expect(rows.length).toBe(SOURCE_ROWS.length);
    const nonEmpty = ['instance_id', 'repo', 'base_commit', 'patch', 'test_patch', 'problem_statement'];
    for (const row of rows) {
      const where = String(row.instance_id);
      for (const key of nonEmpty)
        expect(typeof row[key] === 'string' && row[key] !== '', `${where}.${key}`).toBe(true);
      const source = SOURCE_ROWS.find((r) => r.instance_id === row.instance_id)!;
      expect(row.instance_id).toMatch(new RegExp(`^${String(source.repo)}__[a-z0-9-]+-\\d+$`));
      expect(row.base_commit).toMatch(/^[0-9a-f]{40}$/);
      expect(typeof row.hints_text, where).toBe('string');
      // Derived by `refresh.ts --derive-tests`; grading needs at least one failing-then-passing test.
      expect((row.FAIL_TO_PASS as string[]).length, where).toBeGreaterThan(0);
      expect((row.PASS_TO_PASS as string[]).length, where).toBeGreaterThan(0);
      const both = [...(row.FAIL_TO_PASS as string[]), ...(row.PASS_TO_PASS as string[])];
      expect(new Set(both).size, `${where}: a test is in both lists`).toBe(both.length);
      expect(row.version, where).toBe('1.0');
      expect(row.environment_setup_commit, where).toBe('');
      expect(Number.isNaN(Date.parse(String(row.created_at))), where).toBe(false);
      expect(['javascript', 'python'], where).toContain(row.language);
      if (row.language === 'javascript') {
        expect(row.test_cmd, where).toBe('node --test --test-reporter=tap');
        expect(row.test_format, where).toBe('tap');
      } else {
        expect(row.test_cmd, where).toBe(
          'PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 python3 -m pytest -rA -p no:cacheprovider',
        );
        expect(row.test_format, where).toBe('pytest');
      }
      expect(row.timeouts, where).toEqual({ test_sec: 60, command_sec: 30, episode_sec: 600 });
      const { memory_mb, ...otherConstraints } = row.constraints as { memory_mb?: number };
      expect(otherConstraints, where).toEqual({});
      if (memory_mb !== undefined) expect(memory_mb, where).toBeGreaterThan(0);
      expect(row.context, where).toEqual({});
      // The gold patch touches source files only; the hidden tests touch test files only.
      const isTest = (file: string) => /^tests?\//.test(file);
      expect(changedFiles(row.patch as string).length, where).toBeGreaterThan(0);
      expect(changedFiles(row.patch as string).filter(isTest), where).toEqual([]);
      expect(changedFiles(row.test_patch as string).length, where).toBeGreaterThan(0);
      expect(changedFiles(row.test_patch as string).every(isTest), where).toBe(true);
    }
  });
});

describe('builtin:mini tasks', () => {
  const limit = limiter(CONCURRENCY);

  it.concurrent.for(SOURCE_ROWS.map((row) => row.instance_id as string))(
    '%s: hidden tests fail at base and pass with the gold patch',
    (id, { expect }) =>
      limit(async () => {
        const row = rows.find((r) => r.instance_id === id);
        expect(row, 'rows are built by the previous suite').toBeDefined();
        const { repo, base_commit, patch, test_patch, test_cmd, test_format, timeouts } = row as {
          repo: string;
          base_commit: string;
          patch: string;
          test_patch: string;
          test_cmd: string;
          test_format: string;
          timeouts: { test_sec: number };
        };
        const dir = path.join(tmpRoot, 'work', id);
        await fs.mkdir(path.dirname(dir), { recursive: true });
        await git(tmpRoot, ['clone', '-q', '--no-checkout', repo, dir]);
        await git(dir, ['checkout', '-q', '--detach', base_commit]);
        const runTests = () => run('sh', ['-c', test_cmd], { cwd: dir, timeoutMs: timeouts.test_sec * 1000 });

        await git(dir, ['apply', '-'], test_patch);
        const before = await runTests();
        expect(before.code, before.output).not.toBe(0);
        const failed = failures(test_format, before.output);
        expect(failed.tests.length, before.output).toBeGreaterThan(0);
        expect(failed.crashed, before.output).toEqual([]);

        await git(dir, ['apply', '-'], patch);
        const after = await runTests();
        expect(after.code, after.output).toBe(0);
        expect(failures(test_format, after.output)).toEqual({ tests: [], crashed: [] });

        // Base + test_patch + patch is exactly the correct tree plus the hidden tests.
        await git(dir, ['add', '-A']);
        const diff = await git(dir, ['diff', '--cached', '--name-only', 'refs/remotes/origin/main']);
        expect(diff.trim().split('\n').sort()).toEqual(changedFiles(test_patch).sort());
        await fs.rm(dir, { recursive: true, force: true });
      }),
  );
});

describe('builtin:synth', () => {
  const synthDir = builtinDatasetDir('synth');
  const stored = readFileSync(path.join(synthDir, 'tasks.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);

  it('has ≥ 100 tasks over every mini repository, in both languages, with base commits that build as recorded', async () => {
    expect(stored.length).toBeGreaterThanOrEqual(100);
    expect(new Set(stored.map((r) => r.repo))).toEqual(new Set(SOURCE_ROWS.map((r) => r.repo)));
    expect(new Set(stored.map((r) => r.language))).toEqual(new Set(['javascript', 'python']));
    const rows = await materializeBuiltin('synth', { cacheDir: path.join(tmpRoot, 'cache-synth') });
    expect(rows.map((r) => r.instance_id)).toEqual(stored.map((r) => r.instance_id));
  });

  it('is reproducible: the synthesiser with the same seed regenerates the stored tasks', async () => {
    const repo = stored[0]!.repo as string;
    const regenerated = await generateSynthRows({ ...SYNTH_DEFAULTS, perRepo: 2, repos: [repo] });
    expect(regenerated).toEqual(stored.filter((r) => r.repo === repo).slice(0, 2));
  });

  it('tasks validate: the gold patch resolves, the unchanged base does not (a sample, one per repository)', async () => {
    const { tasks } = await loadDataset('builtin:synth', { cacheDir: path.join(tmpRoot, 'cache-synth') });
    const sample = [...new Set(tasks.map((t) => path.basename(t.repo)))].map((repo) =>
      tasks.find((t) => path.basename(t.repo) === repo)!,
    );
    const results = await mapLimit(sample, 2, (task) => validateTask(task, 1));
    for (const result of results)
      expect(result).toMatchObject({ ok: true, oracle: 'resolved', nop: 'unresolved', problems: [] });
  });
});
