// `npm run bench [-- sandbox|store|arrow]`: each measurement beside a naive baseline run in the same process,
// reported as a ratio (absolute times vary between machines; ratios much less).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Observation } from '../env/types.ts';
import { FIXED_IDENTITY } from '../env/git.ts';
import { createLocalSandbox, ensurePristine } from '../env/sandbox/local.ts';
import { exportArrow } from '../experiments/export.ts';
import { RunStore, type EpisodeRecord, type StepRow } from '../experiments/store.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);

async function median(label: string, rounds: number, fn: () => Promise<void> | void): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const started = performance.now();
    await fn();
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  const ms = samples[Math.floor(samples.length / 2)]!;
  console.log(`${label.padEnd(44)} median ${ms.toFixed(1)} ms over ${rounds} rounds`);
  return ms;
}

/** Sandbox creation per layer on a generated repository, against `cp -r` of the same tree. */
async function benchSandbox(root: string): Promise<void> {
  const files = Number(process.env.BENCH_FILES ?? 2000);
  const repo = path.join(root, 'repo');
  for (let i = 0; i < files; i++) {
    const dir = path.join(repo, `pkg${i % 40}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `module${i}.js`), `export const value${i} = ${i};\n`.repeat(20));
  }
  const git = (...args: string[]) =>
    execFileSync('git', args, { cwd: repo, env: { ...process.env, ...FIXED_IDENTITY } }).toString();
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-q', '-m', 'bench');
  const commit = git('rev-parse', 'HEAD').trim();
  const cacheDir = path.join(root, 'cache');
  await ensurePristine(repo, commit, cacheDir);
  console.log(`\n# sandbox creation (${files}-file repository)`);
  const baseline = await median('baseline: cp -r of the tree', ROUNDS, () => {
    const copy = path.join(root, 'copy');
    execFileSync('cp', ['-r', repo, copy]);
    rmSync(copy, { recursive: true, force: true });
  });
  for (const layer of ['overlay', 'worktree'] as const) {
    try {
      const ms = await median(`sandbox create+dispose (${layer})`, ROUNDS, async () => {
        const sandbox = await createLocalSandbox({ repo, commit, cacheDir, layer });
        await sandbox.dispose();
      });
      console.log(`ratio ${layer} / cp -r: ${(ms / baseline).toFixed(3)}`);
    } catch (err) {
      console.log(`${layer}: unavailable here (${(err as Error).message.split('\n')[0]})`);
    }
  }
}

const observation = (i: number): Observation => ({
  kind: i % 3 === 0 ? 'run_tests' : 'read_file',
  output: `line ${i}\n`.repeat(8),
  exitCode: 0,
  timedOut: false,
  telemetry: { wallMs: i % 1000, cpuMs: i % 700, peakRssKb: 40_000 + (i % 5000) },
  diffStat: { files: 1, added: 2, removed: 1 },
  stepIndex: i,
  stepsLeft: 50 - (i % 50),
});

function syntheticEpisode(
  experimentId: string,
  n: number,
  stepsPerEpisode: number,
): [EpisodeRecord, StepRow[]] {
  const now = new Date().toISOString();
  const episode: EpisodeRecord = {
    id: `ep-${n}`,
    experiment_id: experimentId,
    task_id: `task-${n % 100}`,
    seed: n,
    epoch: 0,
    policy: n % 2 ? 'oracle' : 'nop',
    arm: null,
    outcome: 'resolved',
    failure_class: 'none',
    resolved: true,
    reward: 1,
    f2p_fraction: 1,
    p2p_fraction: 1,
    steps: stepsPerEpisode,
    invalid_actions: 0,
    terminated: true,
    truncated: false,
    wall_ms: 1000,
    attempts: 1,
    signals_json: '{}',
    patch: '',
    error: null,
    started_at: now,
    finished_at: now,
    policy_info_json: null,
  };
  const steps = Array.from({ length: stepsPerEpisode }, (_, s) => ({
    step: s + 1,
    action: { kind: 'read_file', path: `src/file${s}.js` },
    observation: observation(s),
    reward: 0,
  }));
  return [episode, steps];
}

function newStore(file: string): RunStore {
  const store = new RunStore(file);
  store.addExperiment({
    id: 'bench',
    name: 'bench',
    config_json: '{}',
    config_hash: '',
    dataset_hash: '',
    manifest_json: '{}',
  });
  return store;
}

/** Steps persisted per second: an episode's steps in one transaction, against one transaction per step. */
async function benchStore(root: string): Promise<string> {
  console.log('\n# store: steps persisted per second');
  const naiveSteps = 5000;
  const naive = newStore(path.join(root, 'naive.sqlite'));
  const insert = naive.db.prepare(
    `INSERT INTO steps (episode_id, step, kind, action_json, output, exit_code, timed_out, error_code, tests_passed,
      tests_failed, wall_ms, cpu_ms, peak_rss_kb, diff_files, diff_added, diff_removed, reward)
     VALUES (?, ?, ?, ?, ?, 0, 0, NULL, NULL, NULL, 1, 1, 1, 1, 1, 1, 0)`,
  );
  naive.recordEpisode(...syntheticEpisode('bench', 0, 0));
  let started = performance.now();
  for (let i = 0; i < naiveSteps; i++)
    naive.db.transaction(() => insert.run('ep-0', i + 1, 'read_file', '{}', 'x'))();
  const naiveRate = naiveSteps / ((performance.now() - started) / 1000);
  naive.close();
  console.log(
    `baseline: one insert per transaction        ${Math.round(naiveRate)} steps/s (${naiveSteps} steps)`,
  );

  const file = path.join(root, 'batched', 'runs.sqlite');
  mkdirSync(path.dirname(file));
  const store = newStore(file);
  const episodes = Number(process.env.BENCH_EPISODES ?? 10_000);
  const stepsPerEpisode = 100;
  started = performance.now();
  for (let n = 0; n < episodes; n++) store.recordEpisode(...syntheticEpisode('bench', n, stepsPerEpisode));
  const batchedRate = (episodes * stepsPerEpisode) / ((performance.now() - started) / 1000);
  store.close();
  console.log(
    `batched: one transaction per episode        ${Math.round(batchedRate)} steps/s (${episodes * stepsPerEpisode} steps)`,
  );
  console.log(`ratio batched / naive: ${(batchedRate / naiveRate).toFixed(1)}  (target ≥ 20,000 steps/s)`);
  return path.dirname(file);
}

/** Arrow export of the stored steps, against writing the same rows as JSON lines. */
async function benchArrow(runDir: string): Promise<void> {
  console.log('\n# Arrow export of the store written above');
  const db = new Database(path.join(runDir, 'runs.sqlite'), { readonly: true });
  const count = (db.prepare('SELECT COUNT(*) AS n FROM steps').get() as { n: number }).n;
  let started = performance.now();
  const lines: string[] = [];
  for (const row of db.prepare('SELECT * FROM steps').iterate()) lines.push(JSON.stringify(row));
  await writeFile(path.join(runDir, 'steps.jsonl'), lines.join('\n'));
  const naiveMs = performance.now() - started;
  db.close();
  console.log(`baseline: rows as JSON lines                ${naiveMs.toFixed(0)} ms (${count} steps)`);
  started = performance.now();
  await exportArrow(runDir);
  const arrowMs = performance.now() - started;
  console.log(
    `exportArrow: episodes.arrow + steps.arrow   ${arrowMs.toFixed(0)} ms (target ≤ 5,000 ms for 1M steps)`,
  );
  console.log(`ratio arrow / JSON lines: ${(arrowMs / naiveMs).toFixed(2)}`);
}

const wanted = process.argv.slice(2);
const runs = (name: string) => wanted.length === 0 || wanted.includes(name);
const root = mkdtempSync(path.join(os.tmpdir(), 'repogym-bench-'));
try {
  if (runs('sandbox')) await benchSandbox(root);
  if (runs('store') || runs('arrow')) {
    const runDir = await benchStore(root);
    if (runs('arrow')) await benchArrow(runDir);
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
