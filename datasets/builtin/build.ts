// Builds the git repositories of the built-in datasets (datasets/builtin/<name>/) deterministically.
//
// Storage format of a built-in dataset:
//   <name>/repos/<repo>/…     the correct source tree of each repository (every bug fixed, no hidden tests)
//   <name>/tasks.jsonl        one SWE-bench-style row per task; `repo` is a folder name under repos/
//   <name>/base-commits.json  {instance_id: sha} expected base commits (written by refresh.ts)
//   <name>/dataset.json       optional {"repos_from": "<other>"}: use <other>/repos (synth mutates mini's repos)
//
// Per repository the builder commits the correct tree as a root commit on `main`, then for every task
// (in tasks.jsonl order) checks out that root commit, reverse-applies the task's gold patch and commits:
// that commit is the task's `base_commit`, kept reachable as `refs/tasks/<instance_id>`. Identity, dates,
// messages and config are fixed, so the SHAs are the same on every machine; base-commits.json records
// them and every build is checked against it.

import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { git as runGit } from '../../env/git.ts';
import { defaultCacheDir } from '../../env/sandbox/local.ts';

export const BUILTIN_DATASETS: string[] = ['mini', 'synth', 'overfit'];

/** Bump whenever the build procedure changes in a way that changes the built repositories. */
const BUILDER_VERSION = '1';

/** Fixed identity and dates (2024-01-01T00:00:00Z in git's internal format): the SHAs depend on them. */
const GIT_IDENTITY = {
  GIT_AUTHOR_NAME: 'repogym',
  GIT_AUTHOR_EMAIL: 'builtin@repogym.invalid',
  GIT_AUTHOR_DATE: '1704067200 +0000',
  GIT_COMMITTER_NAME: 'repogym',
  GIT_COMMITTER_EMAIL: 'builtin@repogym.invalid',
  GIT_COMMITTER_DATE: '1704067200 +0000',
};
const ROOT_MESSAGE = 'Initial commit';
const BRANCH = 'main';
const TASK_REF_PREFIX = 'refs/tasks/';

/** Never part of a built repository even if present in the source folder (test runs leave them behind). */
const SKIPPED_NAMES = new Set(['.git', 'node_modules', '__pycache__', '.pytest_cache', '.DS_Store']);
const SKIPPED_SUFFIXES = ['.pyc', '.pyo'];

const HERE = path.dirname(fileURLToPath(import.meta.url));

export interface BuildOptions {
  cacheDir?: string;
  /** Check the built base commits against base-commits.json (default true). */
  verify?: boolean;
}

export interface BuildResult {
  /** Raw rows of tasks.jsonl with `repo` = absolute path of the built repository and `base_commit` set. */
  rows: Record<string, unknown>[];
  /** instance_id → base commit, in tasks.jsonl order. */
  baseCommits: Record<string, string>;
}

/** The source folder of a built-in dataset (works from the sources and from a compiled dist/). */
export function builtinDatasetDir(name: string): string {
  if (!BUILTIN_DATASETS.includes(name)) {
    throw new Error(`unknown built-in dataset "${name}" (available: ${BUILTIN_DATASETS.join(', ')})`);
  }
  const candidates = [
    path.join(HERE, name),
    path.resolve(HERE, '..', '..', '..', 'datasets', 'builtin', name),
  ];
  for (const dir of candidates) {
    if (existsSync(path.join(dir, 'tasks.jsonl'))) return dir;
  }
  throw new Error(`built-in dataset "${name}" not found (looked in ${candidates.join(', ')})`);
}

/** The folder holding a built-in dataset's repositories: its own repos/, or another dataset's. */
export async function builtinReposDir(name: string): Promise<string> {
  const datasetDir = builtinDatasetDir(name);
  const manifest = path.join(datasetDir, 'dataset.json');
  if (!existsSync(manifest)) return path.join(datasetDir, 'repos');
  const { repos_from: from } = JSON.parse(await fs.readFile(manifest, 'utf8')) as { repos_from?: string };
  if (typeof from !== 'string') throw new Error(`${manifest}: repos_from must name a built-in dataset`);
  return path.join(builtinDatasetDir(from), 'repos');
}

/**
 * Builds (or reuses from cache) the git repos of a built-in dataset and returns its raw rows with `repo`
 * replaced by the absolute path of the built repository and `base_commit` set.
 */
export async function materializeBuiltin(
  name: string,
  opts: { cacheDir?: string } = {},
): Promise<Record<string, unknown>[]> {
  return (await buildBuiltin(name, { cacheDir: opts.cacheDir, verify: true })).rows;
}

/** Like materializeBuiltin, also returning the base commits; `verify: false` is for refresh.ts. */
export async function buildBuiltin(name: string, opts: BuildOptions = {}): Promise<BuildResult> {
  const datasetDir = builtinDatasetDir(name);
  const cacheRoot = path.resolve(opts.cacheDir ?? defaultCacheDir(), 'builtin', name);
  const rows = await readTaskRows(path.join(datasetDir, 'tasks.jsonl'));
  const reposDir = await builtinReposDir(name);

  const byRepo = new Map<string, TaskRow[]>();
  for (const row of rows) {
    const list = byRepo.get(row.repo) ?? [];
    list.push(row);
    byRepo.set(row.repo, list);
  }

  const built = new Map<string, BuiltRepo>();
  await Promise.all(
    [...byRepo].map(async ([repo, tasks]) => {
      built.set(repo, await ensureRepo(path.join(reposDir, repo), repo, tasks, cacheRoot));
    }),
  );

  const baseCommits: Record<string, string> = {};
  const out: Record<string, unknown>[] = [];
  for (const row of rows) {
    const repo = built.get(row.repo)!;
    const sha = repo.baseCommits.get(row.instance_id);
    if (!sha) {
      throw new Error(
        `builtin:${name}: ${repo.dir} has no ref ${TASK_REF_PREFIX}${row.instance_id}; delete that folder to rebuild it`,
      );
    }
    baseCommits[row.instance_id] = sha;
    out.push({ ...row.raw, repo: repo.dir, base_commit: sha });
  }

  if (opts.verify ?? true) {
    await verifyBaseCommits(name, path.join(datasetDir, 'base-commits.json'), baseCommits);
  }
  return { rows: out, baseCommits };
}

// ---------------------------------------------------------------------------------------------------------

interface TaskRow {
  instance_id: string;
  repo: string;
  patch: string;
  raw: Record<string, unknown>;
}

interface BuiltRepo {
  dir: string;
  baseCommits: Map<string, string>;
}

async function readTaskRows(file: string): Promise<TaskRow[]> {
  const text = await fs.readFile(file, 'utf8');
  const rows: TaskRow[] = [];
  const seen = new Set<string>();
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    const where = `${file}:${index + 1}`;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (error) {
      throw new Error(`${where}: invalid JSON: ${(error as Error).message}`, { cause: error });
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new Error(`${where}: a row must be a JSON object`);
    }
    const record = raw as Record<string, unknown>;
    const { instance_id, repo, patch } = record;
    if (typeof instance_id !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(instance_id)) {
      throw new Error(`${where}: instance_id must be a string of letters, digits, '_', '.' and '-'`);
    }
    if (typeof repo !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(repo)) {
      throw new Error(`${where}: repo must be the name of a folder under repos/`);
    }
    if (typeof patch !== 'string' || patch === '') {
      throw new Error(`${where}: patch must be a non-empty string`);
    }
    if (seen.has(instance_id)) throw new Error(`${where}: duplicate instance_id ${instance_id}`);
    seen.add(instance_id);
    rows.push({ instance_id, repo, patch, raw: record });
  });
  return rows;
}

/** Repository files as sorted POSIX relative paths with their contents. */
async function readSourceTree(dir: string): Promise<{ rel: string; content: Buffer }[]> {
  const files: { rel: string; content: Buffer }[] = [];
  const walk = async (abs: string, rel: string): Promise<void> => {
    const entries = await fs.readdir(abs, { withFileTypes: true });
    for (const entry of entries) {
      if (SKIPPED_NAMES.has(entry.name) || SKIPPED_SUFFIXES.some((s) => entry.name.endsWith(s))) continue;
      const childAbs = path.join(abs, entry.name);
      const childRel = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        await walk(childAbs, childRel);
      } else if (entry.isFile()) {
        files.push({ rel: childRel, content: await fs.readFile(childAbs) });
      } else {
        throw new Error(`${childAbs}: only regular files and folders are supported in a built-in repo`);
      }
    }
  };
  await walk(dir, '');
  if (files.length === 0) throw new Error(`${dir}: no files`);
  return files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

function contentHash(repo: string, files: { rel: string; content: Buffer }[], tasks: TaskRow[]): string {
  const hash = createHash('sha256');
  const field = (value: string | Buffer) => {
    const buf = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    hash.update(`${buf.length}:`);
    hash.update(buf);
  };
  field(`repogym-builtin/${BUILDER_VERSION}`);
  field(repo);
  for (const file of files) {
    field(file.rel);
    field(file.content);
  }
  for (const task of tasks) {
    field(task.instance_id);
    field(task.patch);
  }
  return hash.digest('hex').slice(0, 16);
}

/** Builds in progress per target folder, so concurrent calls in one process share one build. */
const inFlight = new Map<string, Promise<BuiltRepo>>();

async function ensureRepo(
  sourceDir: string,
  repo: string,
  tasks: TaskRow[],
  cacheRoot: string,
): Promise<BuiltRepo> {
  if (!existsSync(sourceDir)) throw new Error(`${sourceDir}: repository folder not found`);
  const files = await readSourceTree(sourceDir);
  const target = path.join(cacheRoot, `${repo}-${contentHash(repo, files, tasks)}`);

  let promise = inFlight.get(target);
  if (!promise) {
    promise = (async () => {
      if (!existsSync(target)) await buildInto(target, repo, files, tasks);
      return { dir: target, baseCommits: await readTaskRefs(target) };
    })();
    inFlight.set(target, promise);
    const forget = () => inFlight.delete(target);
    promise.then(forget, forget);
  }
  return promise;
}

/** Builds the repository in a temporary sibling folder and renames it to `target` atomically. */
async function buildInto(
  target: string,
  repo: string,
  files: { rel: string; content: Buffer }[],
  tasks: TaskRow[],
): Promise<void> {
  await fs.mkdir(path.dirname(target), { recursive: true });
  const tmp = `${path.join(path.dirname(target), '.tmp-' + path.basename(target))}-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await fs.mkdir(tmp);
    for (const file of files) {
      const dest = path.join(tmp, ...file.rel.split('/'));
      await fs.mkdir(path.dirname(dest), { recursive: true });
      await fs.writeFile(dest, file.content);
    }

    await git(tmp, ['init', '-q', '--template=']);
    await git(tmp, ['symbolic-ref', 'HEAD', `refs/heads/${BRANCH}`]);
    await git(tmp, ['add', '--all', '--force', '--', '.']);
    await git(tmp, ['commit', '-q', '--no-verify', '-m', ROOT_MESSAGE]);
    const root = (await git(tmp, ['rev-parse', 'HEAD'])).trim();

    for (const task of tasks) {
      await git(tmp, ['checkout', '-q', '--detach', root]);
      try {
        await git(tmp, ['apply', '-R', '--index', '--whitespace=nowarn', '-'], task.patch);
      } catch (error) {
        throw new Error(
          `task ${task.instance_id}: its gold patch does not reverse-apply to repos/${repo}: ${(error as Error).message}`,
          { cause: error },
        );
      }
      await git(tmp, ['commit', '-q', '--no-verify', '-m', `Base commit of task ${task.instance_id}`]);
      await git(tmp, ['update-ref', `${TASK_REF_PREFIX}${task.instance_id}`, 'HEAD']);
    }
    await git(tmp, ['checkout', '-q', BRANCH]);

    try {
      await fs.rename(tmp, target);
    } catch (error) {
      // Another process finished the same build first: its copy is identical, use it.
      if (!existsSync(target)) throw error;
    }
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

async function readTaskRefs(repoDir: string): Promise<Map<string, string>> {
  const out = await git(repoDir, ['for-each-ref', '--format=%(objectname) %(refname)', TASK_REF_PREFIX]);
  const refs = new Map<string, string>();
  for (const line of out.split('\n')) {
    const match = /^([0-9a-f]{40,64}) (\S+)$/.exec(line.trim());
    if (match?.[2]?.startsWith(TASK_REF_PREFIX)) refs.set(match[2].slice(TASK_REF_PREFIX.length), match[1]!);
  }
  return refs;
}

async function verifyBaseCommits(name: string, file: string, actual: Record<string, string>): Promise<void> {
  const refresh = 'run `npx tsx datasets/builtin/refresh.ts` if the dataset was changed on purpose';
  let expected: Record<string, unknown>;
  try {
    expected = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`builtin:${name}: cannot read ${file} (${(error as Error).message}); ${refresh}`, {
      cause: error,
    });
  }
  const problems: string[] = [];
  for (const [id, sha] of Object.entries(actual)) {
    if (expected[id] === undefined) problems.push(`${id}: built ${sha}, not listed in base-commits.json`);
    else if (expected[id] !== sha)
      problems.push(`${id}: built ${sha}, base-commits.json says ${expected[id]}`);
  }
  for (const id of Object.keys(expected)) {
    if (!(id in actual)) problems.push(`${id}: listed in base-commits.json but not in tasks.jsonl`);
  }
  if (problems.length > 0) {
    throw new Error(
      `builtin:${name}: built base commits differ from ${file} — the build is not deterministic or the ` +
        `dataset changed; ${refresh}.\n  ${problems.join('\n  ')}`,
    );
  }
}

function git(cwd: string, args: string[], input?: string): Promise<string> {
  return runGit(args, { cwd, env: GIT_IDENTITY, input });
}
