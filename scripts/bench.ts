// `npm run bench [-- sandbox|soak|store|arrow]` (no argument: all but the soak): each measurement beside a naive baseline run in the same process,
// reported as a ratio (absolute times vary between machines; ratios much less).
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import Docker from 'dockerode';
import { loadRows } from '../datasets/loader.ts';
import type { Task } from '../datasets/types.ts';
import { CodingEnv } from '../env/coding-env.ts';
import { SANDBOX_MARKER } from '../env/sandbox/containment.ts';
import { createDockerSandbox, SANDBOX_LABEL } from '../env/sandbox/docker.ts';
import type { Sandbox } from '../env/sandbox/types.ts';
import type { Observation } from '../env/types.ts';
import { FIXED_IDENTITY } from '../env/git.ts';
import { createLocalSandbox, ensurePristine, SANDBOX_PREFIX } from '../env/sandbox/local.ts';
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

/** A git repository of `files` small modules plus a one-function JS project with node:test tests. */
function makeBenchRepo(repo: string, files: number): string {
  for (let i = 0; i < files; i++) {
    const dir = path.join(repo, `pkg${i % 40}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `module${i}.js`), `export const value${i} = ${i};\n`.repeat(20));
  }
  mkdirSync(path.join(repo, 'src'));
  mkdirSync(path.join(repo, 'test'));
  writeFileSync(path.join(repo, 'package.json'), '{ "name": "calc", "type": "module" }\n');
  writeFileSync(path.join(repo, 'src/calc.js'), 'export function add(a, b) {\n  return a - b;\n}\n');
  writeFileSync(
    path.join(repo, 'test/calc.test.js'),
    "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { add } from '../src/calc.js';\n\ntest('add zero', () => {\n  assert.equal(add(2, 0), 2);\n});\n",
  );
  const git = (...args: string[]) =>
    execFileSync('git', args, { cwd: repo, env: { ...process.env, ...FIXED_IDENTITY } }).toString();
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-q', '-m', 'bench');
  return git('rev-parse', 'HEAD').trim();
}

/** Sandbox creation per layer on a generated repository, against `cp -r` of the same tree. */
async function benchSandbox(root: string): Promise<void> {
  const files = Number(process.env.BENCH_FILES ?? 2000);
  const repo = path.join(root, 'repo');
  const commit = makeBenchRepo(repo, files);
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

/** What sandboxes of this process left behind: processes, directories, mounts, cgroups, containers. */
async function leaks(): Promise<Record<string, number>> {
  const marker = `${SANDBOX_MARKER}=${SANDBOX_PREFIX}${process.pid}-`;
  let processes = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'latin1').includes(marker)) processes++;
    } catch {
      // gone
    }
  }
  const prefix = `${SANDBOX_PREFIX}${process.pid}-`;
  const directories = readdirSync(os.tmpdir()).filter((n) => n.startsWith(prefix)).length;
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => line.split(' ')[4]?.includes(`/${prefix}`)).length;
  const cgroups = ['/sys/fs/cgroup/pids/repogym', '/sys/fs/cgroup/memory/repogym']
    .filter((d) => existsSync(d))
    .flatMap((d) => readdirSync(d).filter((n) => n.startsWith(`${process.pid}.`))).length;
  let containers = 0;
  if (dockerConfigured()) {
    const listed = await new Docker().listContainers({ all: true, filters: { label: [SANDBOX_LABEL] } });
    containers = listed.filter((c) => c.Labels['repogym.owner']?.endsWith(`:${process.pid}`)).length;
  }
  return { processes, directories, mounts, cgroups, containers };
}

function dockerConfigured(): boolean {
  return !!process.env.DOCKER_HOST || existsSync('/var/run/docker.sock');
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * Soak: many short episodes per backend (reset, a command, an edit, the tests, submit) on a 2,000-file
 * repository, some at once; then what they left behind, and reset latency beside `cp -r` of the tree.
 */
async function benchSoak(root: string): Promise<void> {
  const files = Number(process.env.BENCH_FILES ?? 2000);
  const episodes = Number(process.env.BENCH_SOAK ?? 1000);
  const concurrency = Number(process.env.BENCH_SOAK_CONCURRENCY ?? 4);
  const repo = path.join(root, 'soak-repo');
  const commit = makeBenchRepo(repo, files);
  const { tasks, errors } = await loadRows(
    [
      {
        line: 1,
        value: {
          instance_id: 'bench__add-1',
          repo,
          base_commit: commit,
          patch: 'unused',
          test_patch: '',
          problem_statement: 'add subtracts.',
          FAIL_TO_PASS: ['add zero'],
          PASS_TO_PASS: [],
          language: 'javascript',
          timeouts: { test_sec: 30, command_sec: 10, episode_sec: 120 },
        },
      },
    ],
    '/',
  );
  if (errors.length) throw new Error(JSON.stringify(errors));
  const task = tasks[0]!;
  const cacheDir = path.join(root, 'soak-cache');
  await ensurePristine(repo, commit, cacheDir);
  console.log(
    `\n# soak: ${episodes} short episodes per backend, ${concurrency} at a time (${files}-file repository)`,
  );
  const baseline = await median('baseline: cp -r of the tree', ROUNDS, () => {
    const copy = path.join(root, 'copy');
    execFileSync('cp', ['-r', repo, copy]);
    rmSync(copy, { recursive: true, force: true });
  });
  const backends: [string, (t: Task) => Promise<Sandbox>][] = [
    [
      'local (bwrap)',
      (t) => createLocalSandbox({ repo: t.repo, commit: t.base_commit, cacheDir, isolation: 'bwrap' }),
    ],
  ];
  if (dockerConfigured())
    backends.push(['docker', (t) => createDockerSandbox({ repo: t.repo, commit: t.base_commit, cacheDir })]);
  else console.log('docker: skipped (DOCKER_HOST is unset and /var/run/docker.sock is absent)');
  const p50s: Record<string, number> = {};
  for (const [name, sandbox] of backends) {
    const resets: number[] = [];
    let resolved = 0;
    let failed = 0;
    const started = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < episodes) {
        next++;
        const env = new CodingEnv({ tasks: [task], sandbox, maxSteps: 10 });
        try {
          const t0 = performance.now();
          await env.reset();
          resets.push(performance.now() - t0);
          await env.step({ kind: 'run', command: 'ls pkg0 | wc -l; echo $((6 * 7))' });
          await env.step({ kind: 'str_replace', path: 'src/calc.js', old: 'a - b', new: 'a + b' });
          await env.step({ kind: 'run_tests' });
          const done = await env.step({ kind: 'submit' });
          if ((done.info.grade as { status?: string } | undefined)?.status === 'resolved') resolved++;
        } catch (err) {
          failed++;
          if (failed <= 3) console.log(`  episode failed: ${(err as Error).message.split('\n')[0]}`);
        } finally {
          await env.close();
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const seconds = (performance.now() - started) / 1000;
    resets.sort((a, b) => a - b);
    p50s[name] = percentile(resets, 50);
    const left = await leaks();
    console.log(
      `${name.padEnd(14)} ${episodes} episodes in ${seconds.toFixed(0)} s, ${resolved} resolved, ${failed} failed; ` +
        `reset p50 ${percentile(resets, 50).toFixed(0)} ms, p95 ${percentile(resets, 95).toFixed(0)} ms ` +
        `(p50 / cp -r: ${(percentile(resets, 50) / baseline).toFixed(2)})`,
    );
    console.log(
      `${''.padEnd(14)} left behind: ${Object.entries(left)
        .map(([k, v]) => `${v} ${k}`)
        .join(', ')}`,
    );
  }
  if (p50s.docker && p50s['local (bwrap)'])
    console.log(`ratio reset p50 docker / local: ${(p50s.docker / p50s['local (bwrap)']).toFixed(2)}`);
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

/** The stored steps written as JSON lines. Its own function, so its million strings are garbage before the export. */
async function jsonLinesBaseline(runDir: string): Promise<{ ms: number; count: number }> {
  const db = new Database(path.join(runDir, 'runs.sqlite'), { readonly: true });
  const started = performance.now();
  const lines: string[] = [];
  for (const row of db.prepare('SELECT * FROM steps').iterate()) lines.push(JSON.stringify(row));
  await writeFile(path.join(runDir, 'steps.jsonl'), lines.join('\n'));
  const ms = performance.now() - started;
  db.close();
  return { ms, count: lines.length };
}

/** Arrow export of the stored steps, against writing the same rows as JSON lines. */
async function benchArrow(runDir: string): Promise<void> {
  console.log('\n# Arrow export of the store written above');
  const { ms: naiveMs, count } = await jsonLinesBaseline(runDir);
  console.log(`baseline: rows as JSON lines                ${naiveMs.toFixed(0)} ms (${count} steps)`);
  const started = performance.now();
  await exportArrow(runDir);
  const arrowMs = performance.now() - started;
  console.log(
    `exportArrow: all four tables              ${arrowMs.toFixed(0)} ms (target ≤ 5,000 ms for 1M steps)`,
  );
  console.log(`ratio arrow / JSON lines: ${(arrowMs / naiveMs).toFixed(2)}`);
}

const wanted = process.argv.slice(2);
// The soak (1,000 episodes per backend, ~20 min) runs only when named.
const runs = (name: string) => wanted.includes(name) || (wanted.length === 0 && name !== 'soak');
const root = mkdtempSync(path.join(os.tmpdir(), 'repogym-bench-'));
try {
  if (runs('sandbox')) await benchSandbox(root);
  if (runs('soak')) await benchSoak(root);
  if (runs('store') || runs('arrow')) {
    const runDir = await benchStore(root);
    if (runs('arrow')) await benchArrow(runDir);
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
