// `npm run bench`: sandbox creation cost per layer on a generated repository, reported as ratios against a
// plain `cp -r` of the same tree measured in the same run (absolute times vary between machines; ratios less).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FIXED_IDENTITY } from '../env/git.ts';
import { createLocalSandbox, ensurePristine } from '../env/sandbox/local.ts';

const FILES = Number(process.env.BENCH_FILES ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);

function makeRepo(root: string): string {
  const repo = path.join(root, 'repo');
  for (let i = 0; i < FILES; i++) {
    const dir = path.join(repo, `pkg${i % 40}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `module${i}.js`), `export const value${i} = ${i};\n`.repeat(20));
  }
  const git = (...args: string[]) =>
    execFileSync('git', args, { cwd: repo, env: { ...process.env, ...FIXED_IDENTITY } }).toString();
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-q', '-m', 'bench');
  return repo;
}

async function time(label: string, fn: () => Promise<void>): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const started = performance.now();
    await fn();
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  const median = samples[Math.floor(samples.length / 2)]!;
  console.log(`${label.padEnd(34)} median ${median.toFixed(1)} ms over ${ROUNDS} rounds`);
  return median;
}

const root = mkdtempSync(path.join(os.tmpdir(), 'repogym-bench-'));
try {
  const repo = makeRepo(root);
  const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repo }).toString().trim();
  const cacheDir = path.join(root, 'cache');
  await ensurePristine(repo, commit, cacheDir);
  console.log(`repository: ${FILES} files`);
  const baseline = await time('baseline: cp -r of the tree', async () => {
    const copy = path.join(root, 'copy');
    execFileSync('cp', ['-r', repo, copy]);
    rmSync(copy, { recursive: true, force: true });
  });
  const results: [string, number][] = [];
  for (const layer of ['overlay', 'worktree'] as const) {
    try {
      const ms = await time(`sandbox create+dispose (${layer})`, async () => {
        const sandbox = await createLocalSandbox({ repo, commit, cacheDir, layer });
        await sandbox.dispose();
      });
      results.push([layer, ms]);
    } catch (err) {
      console.log(`${layer}: unavailable here (${(err as Error).message.split('\n')[0]})`);
    }
  }
  for (const [layer, ms] of results) {
    console.log(`ratio ${layer} / cp -r: ${(ms / baseline).toFixed(3)}`);
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
