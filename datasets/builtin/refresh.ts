// Rebuilds every built-in dataset (or the ones named on the command line) into a fresh temporary cache,
// rewrites its base-commits.json and, with --derive-tests, its FAIL_TO_PASS/PASS_TO_PASS (from runs at base +
// test_patch and base + test_patch + gold, as SWE-bench's collection does). Run after changing anything under
// datasets/builtin/<name>/:
//
//   npx tsx datasets/builtin/refresh.ts [--derive-tests] [name...]

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadRows } from '../loader.ts';
import { deriveTestLists, mapLimit } from '../validate.ts';
import { BUILTIN_DATASETS, buildBuiltin, builtinDatasetDir } from './build.ts';

async function writeIfChanged(file: string, content: string, what: string): Promise<void> {
  const before = await fs.readFile(file, 'utf8').catch(() => '');
  if (before === content) console.log(`${what}: unchanged`);
  else {
    await fs.writeFile(file, content);
    console.log(`${what}: written to ${file}`);
  }
}

/** Rewrites FAIL_TO_PASS/PASS_TO_PASS in tasks.jsonl, keeping every other field and the row order. */
async function deriveTests(name: string, rows: Record<string, unknown>[]): Promise<void> {
  const { tasks, errors } = await loadRows(
    rows.map((value, i) => ({ line: i + 1, value: { ...value, FAIL_TO_PASS: [], PASS_TO_PASS: [] } })),
    '/',
  );
  if (errors.length) throw new Error(`${name}: rows failed to load: ${JSON.stringify(errors)}`);
  const derived = new Map(
    await mapLimit(tasks, 2, async (task) => [task.instance_id, await deriveTestLists(task)] as const),
  );
  const file = path.join(builtinDatasetDir(name), 'tasks.jsonl');
  const lines = (await fs.readFile(file, 'utf8')).split('\n').filter((l) => l.trim() !== '');
  const updated = lines.map((line) => {
    const row = JSON.parse(line) as Record<string, unknown>;
    const lists = derived.get(row.instance_id as string)!;
    if (lists.FAIL_TO_PASS.length === 0)
      throw new Error(`${row.instance_id}: no test fails before the gold patch`);
    return JSON.stringify({ ...row, ...lists });
  });
  await writeIfChanged(file, updated.join('\n') + '\n', `${name}: FAIL_TO_PASS/PASS_TO_PASS`);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const names = args.filter((a) => !a.startsWith('--'));
  for (const name of names.length > 0 ? names : BUILTIN_DATASETS) {
    const cacheDir = await fs.mkdtemp(path.join(os.tmpdir(), 'repogym-refresh-'));
    try {
      const { baseCommits, rows } = await buildBuiltin(name, { cacheDir, verify: false });
      const file = path.join(builtinDatasetDir(name), 'base-commits.json');
      const count = Object.keys(baseCommits).length;
      await writeIfChanged(
        file,
        JSON.stringify(baseCommits, null, 2) + '\n',
        `${name}: ${count} base commits`,
      );
      if (args.includes('--derive-tests')) await deriveTests(name, rows);
    } finally {
      await fs.rm(cacheDir, { recursive: true, force: true });
    }
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
