// builtin:overfit: every task carries overfitting candidate patches that the real SWE-bench grader resolves, yet
// that compute something other than the gold fix on their recorded counterexample (an input no test checks).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_DATASETS, builtinDatasetDir, builtinReposDir } from '../datasets/builtin/build.ts';
import { loadDataset } from '../datasets/loader.ts';
import type { Task } from '../datasets/types.ts';
import { filesOf, isTestPath } from '../env/diff.ts';
import { git } from '../env/git.ts';
import { grade } from '../env/grading.ts';
import { createLocalSandbox } from '../env/sandbox/local.ts';
import { limiter } from './helpers.ts';

const DATASET = 'overfit';

interface Counterexample {
  file: string;
  function: string;
  args: unknown[];
  gold: unknown;
  overfit: unknown;
}

interface OverfitPatch {
  name: string;
  patch: string;
  why: string;
  counterexample: Counterexample;
}

const ROWS: Record<string, unknown>[] = readFileSync(
  path.join(builtinDatasetDir(DATASET), 'tasks.jsonl'),
  'utf8',
)
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => JSON.parse(line) as Record<string, unknown>);

const overfitsOf = (row: { context?: unknown }): OverfitPatch[] =>
  ((row.context as { overfit_patches?: OverfitPatch[] } | undefined)?.overfit_patches ??
    []) as OverfitPatch[];

/** One case per (task, overfit patch), named `<instance_id>/<patch name>`. */
const CASES: string[] = ROWS.flatMap((row) =>
  overfitsOf(row).map((of) => `${String(row.instance_id)}/${of.name}`),
);

const run = promisify(execFile);

// JSON arguments in, the JSON result out: the function is called as the adversary would call it.
const JS_CALL =
  'const { pathToFileURL } = await import("node:url");' +
  'const m = await import(pathToFileURL(process.env.CX_FILE).href);' +
  'console.log(JSON.stringify(m[process.env.CX_FUNCTION](...JSON.parse(process.env.CX_ARGS))));';
const PY_CALL =
  'import importlib, json, os\n' +
  'm = importlib.import_module(os.environ["CX_MODULE"])\n' +
  'print(json.dumps(getattr(m, os.environ["CX_FUNCTION"])(*json.loads(os.environ["CX_ARGS"]))))\n';

async function callIn(dir: string, cx: Counterexample): Promise<unknown> {
  const env = { ...process.env, CX_FUNCTION: cx.function, CX_ARGS: JSON.stringify(cx.args) };
  const { stdout } = cx.file.endsWith('.py')
    ? await run('python3', ['-B', '-c', PY_CALL], {
        cwd: dir,
        env: { ...env, CX_MODULE: cx.file.replace(/\.py$/, '').replaceAll('/', '.') },
      })
    : await run(process.execPath, ['--input-type=module', '-e', JS_CALL], {
        cwd: dir,
        env: { ...env, CX_FILE: path.join(dir, cx.file) },
      });
  return JSON.parse(stdout);
}

let tmpRoot = '';
let tasks: Task[] = [];
const limit = limiter(2);

beforeAll(async () => {
  tmpRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'repogym-overfit-test-'));
  const loaded = await loadDataset(`builtin:${DATASET}`, { cacheDir: path.join(tmpRoot, 'cache') });
  expect(loaded.errors).toEqual([]);
  tasks = loaded.tasks;
});

afterAll(async () => {
  if (tmpRoot) await fs.rm(tmpRoot, { recursive: true, force: true });
});

function caseOf(id: string): { task: Task; overfit: OverfitPatch } {
  const [instanceId, name] = id.split('/');
  const task = tasks.find((t) => t.instance_id === instanceId);
  const overfit = task && overfitsOf(task).find((of) => of.name === name);
  if (!task || !overfit) throw new Error(`${id}: not in the loaded dataset`);
  return { task, overfit };
}

describe('builtin:overfit', () => {
  it("is listed, reuses mini's repositories, and has ≥ 2 tasks per language with overfit patches", async () => {
    expect(BUILTIN_DATASETS).toContain(DATASET);
    expect(await builtinReposDir(DATASET)).toBe(await builtinReposDir('mini'));
    expect(tasks.map((t) => t.instance_id)).toEqual(ROWS.map((r) => r.instance_id));
    for (const language of ['javascript', 'python'])
      expect(tasks.filter((t) => t.language === language).length, language).toBeGreaterThanOrEqual(2);
    for (const task of tasks) {
      const where = task.instance_id;
      const goldFiles = filesOf(task.patch);
      expect(goldFiles.length, where).toBe(1);
      expect(goldFiles.filter(isTestPath), where).toEqual([]);
      const overfits = overfitsOf(task);
      expect(overfits.length, where).toBeGreaterThan(0);
      expect(new Set(overfits.map((of) => of.name)).size, where).toBe(overfits.length);
      for (const of of overfits) {
        expect(of.name, where).toMatch(/^[a-z0-9-]+$/);
        expect(of.why.length, `${where}/${of.name}`).toBeGreaterThan(20);
        const files = filesOf(of.patch);
        expect(files.length, `${where}/${of.name}`).toBeGreaterThan(0);
        expect(files.filter(isTestPath), `${where}/${of.name}`).toEqual([]);
        // The counterexample is a call of the function the gold patch changed.
        expect(of.counterexample.file, `${where}/${of.name}`).toBe(goldFiles[0]);
        expect(of.counterexample.gold, `${where}/${of.name}`).not.toEqual(of.counterexample.overfit);
      }
    }
  });

  it.concurrent.for(CASES)('%s: resolved by the grader', (id, { expect }) =>
    limit(async () => {
      const { task, overfit } = caseOf(id);
      const result = await grade(task, overfit.patch, () =>
        createLocalSandbox({
          repo: task.repo,
          commit: task.base_commit,
          defaultTimeoutSec: task.timeouts.command_sec,
        }),
      );
      expect(result.status, result.reason ?? result.output.slice(-2000)).toBe('resolved');
      expect(result.resolved).toBe(true);
      expect(result.testFilesReverted).toEqual([]);
      expect(result.failToPass.passed.sort()).toEqual([...task.FAIL_TO_PASS].sort());
    }),
  );

  it.concurrent.for(CASES)(
    '%s: differs from the gold fix, in source and on its counterexample',
    (id, { expect }) =>
      limit(async () => {
        const { task, overfit } = caseOf(id);
        const cx = overfit.counterexample;
        const dir = path.join(tmpRoot, 'work', id.replace('/', '__'));
        await fs.mkdir(path.dirname(dir), { recursive: true });
        await git(['clone', '-q', '--no-checkout', task.repo, dir], { cwd: tmpRoot });
        const treeWith = async (patch: string) => {
          await git(['checkout', '-q', '--force', '--detach', task.base_commit], { cwd: dir });
          await git(['apply', '-'], { cwd: dir, input: patch });
          return {
            source: await fs.readFile(path.join(dir, cx.file), 'utf8'),
            result: await callIn(dir, cx),
          };
        };
        const gold = await treeWith(task.patch);
        const candidate = await treeWith(overfit.patch);
        expect(candidate.source).not.toBe(gold.source);
        expect(gold.result).toEqual(cx.gold);
        expect(candidate.result).toEqual(cx.overfit);
      }),
  );
});
