// Loads tasks from JSONL/JSON files or built-in datasets. A bad row is reported with its line, field and
// reason; the other rows still load.
import { existsSync, statSync } from 'node:fs';
import { readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { git } from '../env/git.ts';
import { taskRowSchema, testFormatSchema, type TaskRow } from './schema.ts';
import type { LoadResult, RowError, Task, TestFormat } from './types.ts';

export interface LoadOptions {
  /** Where `owner/name` repos live, as `owner__name` (SWE-bench's convention). */
  reposDir?: string;
  /** Test command for rows that carry none. */
  testCmd?: string;
  testFormat?: TestFormat;
  /** JSON file: { "<owner/name>": { test_cmd, test_format, versions?: { "<version>": { test_cmd, test_format } } } } */
  specsFile?: string;
  cacheDir?: string;
  /** Rows may lack FAIL_TO_PASS (a collection run derives them, as SWE-bench's does). */
  testListsOptional?: boolean;
}

const specSchema = z.object({ test_cmd: z.string().min(1), test_format: testFormatSchema.optional() });
const specsFileSchema = z.record(
  z.string(),
  specSchema.partial().extend({ versions: z.record(z.string(), specSchema).optional() }),
);
type Specs = z.infer<typeof specsFileSchema>;

export const DEFAULT_TEST_COMMANDS: Record<string, { test_cmd: string; test_format: TestFormat }> = {
  python: { test_cmd: 'python3 -m pytest -rA -p no:cacheprovider', test_format: 'pytest' },
  javascript: { test_cmd: 'node --test --test-reporter=tap', test_format: 'tap' },
};

function firstIssue(error: z.ZodError): { field: string; reason: string } {
  const issue = error.issues[0]!;
  return { field: issue.path.join('.') || '(row)', reason: issue.message };
}

async function resolveRepo(repo: string, baseDir: string, reposDir?: string): Promise<string> {
  const candidates = [path.resolve(baseDir, repo)];
  if (reposDir)
    candidates.push(path.resolve(reposDir, repo.replace('/', '__')), path.resolve(reposDir, repo));
  for (const candidate of candidates) {
    if (existsSync(candidate) && statSync(candidate).isDirectory()) return realpath(candidate);
  }
  throw new Error(
    `repository not found (looked in ${candidates.join(', ')})${reposDir ? '' : '; pass --repos-dir for owner/name repos'}`,
  );
}

function guessLanguage(files: string[]): string {
  const count = (re: RegExp) => files.filter((f) => re.test(f)).length;
  const python = count(/\.py$/);
  const javascript = count(/\.(m|c)?[jt]sx?$/);
  return python >= javascript && python > 0 ? 'python' : javascript > 0 ? 'javascript' : 'unknown';
}

/** Fills language, test_cmd and test_format: row → --test-cmd → specs file → per-language default. */
async function completeRow(row: TaskRow, repoPath: string, opts: LoadOptions, specs: Specs): Promise<Task> {
  let files: string[];
  const isRepo = await git(['rev-parse', '--git-dir'], { cwd: repoPath }).then(
    () => true,
    () => false,
  );
  if (!isRepo) throw Object.assign(new Error(`${repoPath} is not a git repository`), { field: 'repo' });
  try {
    files = (await git(['ls-tree', '-r', '--name-only', row.base_commit], { cwd: repoPath })).split('\n');
  } catch {
    throw Object.assign(new Error(`commit ${row.base_commit} not found in ${repoPath}`), {
      field: 'base_commit',
    });
  }
  const language = row.language ?? guessLanguage(files);
  const repoSpec = specs[row.repo];
  const spec = repoSpec?.versions?.[row.version] ?? (repoSpec?.test_cmd ? repoSpec : undefined);
  const fallback = DEFAULT_TEST_COMMANDS[language];
  const testCmd = row.test_cmd ?? opts.testCmd ?? spec?.test_cmd ?? fallback?.test_cmd;
  const testFormat = row.test_format ?? opts.testFormat ?? spec?.test_format ?? fallback?.test_format;
  if (!testCmd || !testFormat) {
    throw Object.assign(
      new Error(`no test command for language "${language}": set test_cmd or pass --test-cmd`),
      {
        field: 'test_cmd',
      },
    );
  }
  return { ...row, repo: repoPath, language, test_cmd: testCmd, test_format: testFormat };
}

/** Validates raw rows; each carries the line number reported in its errors. */
export async function loadRows(
  rows: { line: number; value: unknown }[],
  baseDir: string,
  opts: LoadOptions = {},
): Promise<LoadResult> {
  const specs = opts.specsFile
    ? specsFileSchema.parse(JSON.parse(await readFile(opts.specsFile, 'utf8')))
    : {};
  const tasks: Task[] = [];
  const errors: RowError[] = [];
  const written = new Map<string, Record<string, unknown>>();
  const seen = new Set<string>();
  for (const { line, value } of rows) {
    const lacksLists = opts.testListsOptional && isRecord(value) && value.FAIL_TO_PASS === undefined;
    const parsed = taskRowSchema.safeParse(lacksLists ? { ...value, FAIL_TO_PASS: [] } : value);
    if (!parsed.success) {
      errors.push({ line, ...firstIssue(parsed.error) });
      continue;
    }
    const row = parsed.data;
    if (seen.has(row.instance_id)) {
      errors.push({ line, field: 'instance_id', reason: `duplicate instance_id ${row.instance_id}` });
      continue;
    }
    try {
      const repoPath = await resolveRepo(row.repo, baseDir, opts.reposDir).catch((err: Error) => {
        throw Object.assign(err, { field: 'repo' });
      });
      tasks.push(await completeRow(row, repoPath, opts, specs));
      seen.add(row.instance_id);
      written.set(row.instance_id, value as Record<string, unknown>);
    } catch (err) {
      const e = err as Error & { field?: string };
      errors.push({ line, field: e.field ?? '(row)', reason: e.message });
    }
  }
  return { tasks, errors, rows: written };
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export async function loadTaskFile(file: string, opts: LoadOptions = {}): Promise<LoadResult> {
  // Editors on some systems prefix a byte-order mark; it is not part of the first row.
  const text = (await readFile(file, 'utf8')).replace(/^\uFEFF/, '');
  const rows: { line: number; value: unknown }[] = [];
  const errors: RowError[] = [];
  if (path.extname(file).toLowerCase() === '.json') {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new Error(`${file}: not valid JSON: ${(err as Error).message}`, { cause: err });
    }
    if (!Array.isArray(value)) throw new Error(`${file}: expected a JSON array of task rows`);
    value.forEach((row, i) => rows.push({ line: i + 1, value: row }));
  } else {
    text.split('\n').forEach((raw, i) => {
      if (raw.trim() === '') return;
      try {
        rows.push({ line: i + 1, value: JSON.parse(raw) });
      } catch (err) {
        errors.push({ line: i + 1, field: '(json)', reason: (err as Error).message });
      }
    });
  }
  const result = await loadRows(rows, path.dirname(path.resolve(file)), opts);
  return { ...result, errors: [...errors, ...result.errors].sort((a, b) => a.line - b.line) };
}

/** `builtin:<name>` or a path to a .jsonl/.json file. */
export async function loadDataset(spec: string, opts: LoadOptions = {}): Promise<LoadResult> {
  if (spec.startsWith('builtin:')) {
    // Loaded on demand: only built-in datasets need the repo builder.
    const { BUILTIN_DATASETS, materializeBuiltin } = await import('./builtin/build.ts');
    const name = spec.slice('builtin:'.length);
    if (!BUILTIN_DATASETS.includes(name)) {
      throw new Error(`unknown built-in dataset "${name}" (available: ${BUILTIN_DATASETS.join(', ')})`);
    }
    const rows = await materializeBuiltin(name, { cacheDir: opts.cacheDir });
    return loadRows(
      rows.map((value: unknown, i: number) => ({ line: i + 1, value })),
      '/',
      opts,
    );
  }
  if (!existsSync(spec)) throw new Error(`dataset file not found: ${spec}`);
  return loadTaskFile(spec, opts);
}

/** A task id the dataset does not have: the caller's mistake, not the dataset's. */
export class TaskNotFoundError extends Error {
  override name = 'TaskNotFoundError';
}

export function findTask(result: LoadResult, instanceId: string): Task {
  const task = result.tasks.find((t) => t.instance_id === instanceId);
  if (task) return task;
  const bad = result.errors.length ? ` (${result.errors.length} rows failed to load)` : '';
  throw new TaskNotFoundError(
    `task "${instanceId}" not in dataset${bad}; known: ${result.tasks.map((t) => t.instance_id).join(', ')}`,
  );
}
