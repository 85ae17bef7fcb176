// Generates the built-in `synth` dataset: bug-injection tasks synthesized from the built-in `mini`
// repositories (their correct trees, so no hidden test is involved). Same seed → same tasks.
//
//   npx tsx datasets/builtin/generate-synth.ts [--seed 0] [--per-repo 25]
//
// then `npx tsx datasets/builtin/refresh.ts synth` records the base commits the builder derives.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { git } from '../../env/git.ts';
import type { TestFormat } from '../types.ts';
import { synthesize } from '../synth/synthesize.ts';
import { builtinDatasetDir, materializeBuiltin } from './build.ts';

export const SYNTH_DEFAULTS = { seed: 0, perRepo: 25 };

/** The task rows of `synth` for the named mini repositories (all by default), in a stable order. */
export async function generateSynthRows(opts: {
  seed: number;
  perRepo: number;
  repos?: string[];
}): Promise<Record<string, unknown>[]> {
  const mini = await materializeBuiltin('mini');
  const byRepo = new Map<string, Record<string, unknown>>();
  for (const row of mini) byRepo.set(path.basename(row.repo as string).replace(/-[0-9a-f]{16}$/, ''), row);
  const out: Record<string, unknown>[] = [];
  for (const name of [...byRepo.keys()].sort()) {
    if (opts.repos && !opts.repos.includes(name)) continue;
    const source = byRepo.get(name)!;
    // synthesize() writes refs into the repository it mutates: give it a scratch clone, not the cache.
    const scratch = await mkdtemp(path.join(os.tmpdir(), 'repogym-gen-synth-'));
    try {
      const clone = path.join(scratch, name);
      await git(['clone', '-q', '--branch', 'main', source.repo as string, clone], { cwd: scratch });
      const result = await synthesize({
        repo: clone,
        testCmd: source.test_cmd as string,
        testFormat: source.test_format as TestFormat,
        seed: opts.seed,
        maxTasks: opts.perRepo,
      });
      for (const row of result.rows) {
        // The builder recreates the base by reverse-applying the gold patch to the repository's root commit.
        const { base_commit: _base, environment_setup_commit: _head, ...rest } = row;
        out.push({ ...rest, repo: name, environment_setup_commit: '' });
      }
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }
  return out;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const flag = (name: string, fallback: number) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? Number(args[i + 1]) : fallback;
  };
  const rows = await generateSynthRows({
    seed: flag('seed', SYNTH_DEFAULTS.seed),
    perRepo: flag('per-repo', SYNTH_DEFAULTS.perRepo),
  });
  const file = path.join(builtinDatasetDir('synth'), 'tasks.jsonl');
  await writeFile(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  console.log(`${rows.length} tasks written to ${file}; now run: npx tsx datasets/builtin/refresh.ts synth`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}
