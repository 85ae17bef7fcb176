import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../datasets/loader.ts';
import { ConfigError, loadConfig, parseConfig } from '../experiments/config.ts';
import { runExperiment } from '../experiments/runner.ts';
import { renderTrajectory } from '../experiments/trajectory.ts';
import { makeBandit, type BanditContext } from '../policies/bandits/index.ts';
import { removeDir } from './helpers.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'repogym-exp-'));
});
afterAll(() => removeDir(dir));

async function writeConfig(name: string, body: string): Promise<string> {
  const file = path.join(dir, `${name}.yaml`);
  await writeFile(file, `name: ${name}\n${body}`);
  return file;
}

function counts(db: string) {
  const d = new Database(db, { readonly: true });
  try {
    return {
      episodes: (d.prepare('SELECT COUNT(*) AS n FROM episodes').get() as { n: number }).n,
      distinctKeys: (
        d
          .prepare('SELECT COUNT(*) AS n FROM (SELECT DISTINCT task_id, seed, epoch, policy FROM episodes)')
          .get() as {
          n: number;
        }
      ).n,
      orphanSteps: (
        d
          .prepare('SELECT COUNT(*) AS n FROM steps WHERE episode_id NOT IN (SELECT id FROM episodes)')
          .get() as {
          n: number;
        }
      ).n,
      integrity: d.pragma('integrity_check', { simple: true }),
    };
  } finally {
    d.close();
  }
}

/** Starts `repogym experiment run` as a process and resolves once `n` episodes are committed (or ~30 s pass). */
async function runUntilCommitted(config: string, out: string, n: number) {
  const child = spawn(
    'node',
    [path.join(ROOT, 'bin/repogym.js'), 'experiment', 'run', config, '--out', out, '--quiet'],
    {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  for (let i = 0; i < 600; i++) {
    await new Promise((r) => setTimeout(r, 50));
    let committed = 0;
    try {
      committed = counts(path.join(out, 'runs.sqlite')).episodes;
    } catch {
      // the store does not exist yet
    }
    if (committed >= n) break;
  }
  return child;
}

describe('experiment config', () => {
  it('rejects a bad config with the path of each bad field and why', () => {
    const bad =
      'name: x\ndataset: {name: builtin:mini}\npolicies: [{name: wizard}]\nconcurrency: 0\nbudgets: {max_steps: -1}';
    expect(() => parseConfig(bad, 'bad.yaml')).toThrow(ConfigError);
    expect(() => parseConfig(bad, 'bad.yaml')).toThrow(
      /policies\.0\.name: .*concurrency: .*budgets\.max_steps: /,
    );
    expect(() =>
      parseConfig('name: x\ndataset: {name: a}\npolicies: [{name: nop}]\ntypo: 1', 'c.yaml'),
    ).toThrow(/Unrecognized key: "typo"/);
  });

  it('the example config loads', async () => {
    const config = await loadConfig(path.join(ROOT, 'experiments/examples/validate-mini.yaml'));
    expect(config.policies.map((p) => p.name)).toEqual(['oracle', 'nop']);
  });
});

describe('runner', () => {
  it('runs oracle and nop, then resumes without re-running anything', async () => {
    const config = parseConfig(
      'name: small\ndataset: {name: "builtin:mini", filter: {limit: 3}}\npolicies: [{name: oracle}, {name: nop}]\nconcurrency: 2',
    );
    const out = path.join(dir, 'small');
    const first = await runExperiment(config, { outDir: out });
    expect(first.done).toBe(6);
    expect(first.byPolicy).toEqual([
      { policy: 'nop', episodes: 3, resolved: 0, infra: 0 },
      { policy: 'oracle', episodes: 3, resolved: 3, infra: 0 },
    ]);
    const [nop, oracle] = first.statistics.policies;
    expect(oracle!.resolveRate.estimate).toBe(1);
    expect(oracle!.resolveRate.low).toBeCloseTo(0.4385, 3); // Wilson 3/3
    expect(nop!.resolveRate.high).toBeCloseTo(0.5615, 3);
    expect(first.statistics.comparisons).toEqual([
      expect.objectContaining({
        a: 'nop',
        b: 'oracle',
        pairs: 3,
        onlyA: 0,
        onlyB: 3,
        method: 'exact binomial',
      }),
    ]);
    const db = new Database(path.join(out, 'runs.sqlite'), { readonly: true });
    const { id } = db.prepare("SELECT id FROM episodes WHERE policy = 'oracle' LIMIT 1").get() as {
      id: string;
    };
    db.close();
    const text = renderTrajectory(out, id.slice(0, 8));
    expect(text).toMatch(/outcome resolved \(none\) {2}reward 1/);
    expect(text).toMatch(/^#1 apply_patch /m);
    expect(text).toMatch(/^#3 submit /m);
    expect(() => renderTrajectory(out, 'zzzz')).toThrow(/no episode zzzz/);
    const again = await runExperiment(config, { outDir: out });
    expect(again.done).toBe(0);
    expect(again.skipped).toBe(6);
    const changed = parseConfig(
      'name: small\ndataset: {name: "builtin:mini", filter: {limit: 4}}\npolicies: [{name: oracle}]',
    );
    await expect(runExperiment(changed, { outDir: out })).rejects.toThrow(/another config/);
  });

  it('SIGINT stops scheduling, stores the running episodes, reports, exits 130; a re-run resumes', async () => {
    const config = await writeConfig(
      'interrupted',
      'dataset: {name: "builtin:mini", filter: {limit: 6}}\npolicies: [{name: oracle}, {name: nop}]\nconcurrency: 1\n',
    );
    const out = path.join(dir, 'interrupted');
    const db = path.join(out, 'runs.sqlite');
    const child = await runUntilCommitted(config, out, 2);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(code).toBe(130);
    expect(stderr).toMatch(/interrupted after \d+\/12 episodes/);
    const partial = counts(db);
    expect(partial.episodes).toBeLessThan(12);
    expect(partial.orphanSteps).toBe(0);
    const resumed = await runExperiment(await loadConfig(config), { outDir: out });
    expect(resumed.interrupted).toBe(false);
    expect(counts(db)).toEqual({ episodes: 12, distinctKeys: 12, orphanSteps: 0, integrity: 'ok' });
  });

  it('after SIGKILL mid-run, a re-run finishes with no lost and no duplicated episode', async () => {
    const config = await writeConfig(
      'killed',
      'dataset: {name: "builtin:mini", filter: {limit: 5}}\npolicies: [{name: oracle}, {name: nop}]\nconcurrency: 2\n',
    );
    const out = path.join(dir, 'killed');
    const db = path.join(out, 'runs.sqlite');
    // Kill once some, but not all, episodes are committed.
    const child = await runUntilCommitted(config, out, 3);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const partial = counts(db);
    expect(partial.episodes).toBeGreaterThan(0);
    expect(partial.episodes).toBeLessThan(10);

    const resumed = await runExperiment(await loadConfig(config), { outDir: out });
    expect(resumed.skipped).toBe(partial.episodes);
    const final = counts(db);
    expect(final).toEqual({ episodes: 10, distinctKeys: 10, orphanSteps: 0, integrity: 'ok' });
  });

  it('a bandit killed mid-run and resumed holds exactly its logged updates: none lost, none repeated', async () => {
    const config = await writeConfig(
      'bandit-killed',
      [
        'dataset: {name: "builtin:synth", filter: {limit: 4}}',
        'policies: [{name: bandit, id: lin, bandit: {kind: linucb, alpha: 0.5}, arms: [boundaries, logic], inner: {name: repair}}]',
        'epochs: 2',
        'concurrency: 3',
        'budgets: {max_steps: 8}',
        'reward: {primary: production}',
      ].join('\n'),
    );
    const out = path.join(dir, 'bandit-killed');
    const child = await runUntilCommitted(config, out, 4);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    await runExperiment(await loadConfig(config), { outDir: out });

    const d = new Database(path.join(out, 'runs.sqlite'), { readonly: true });
    try {
      const updates = d
        .prepare(
          `SELECT u.seq, u.arm, u.reward, u.context_json, e.reward AS episode_reward, e.arm AS episode_arm
           FROM bandit_updates u JOIN episodes e ON e.id = u.episode_id WHERE u.policy = 'lin' ORDER BY u.seq`,
        )
        .all() as {
        seq: number;
        arm: string;
        reward: number | null;
        context_json: string;
        episode_reward: number;
        episode_arm: string;
      }[];
      const chose = (
        d.prepare(`SELECT COUNT(*) AS n FROM episodes WHERE policy = 'lin' AND arm IS NOT NULL`).get() as {
          n: number;
        }
      ).n;
      expect(updates.map((u) => u.seq)).toEqual(updates.map((_, i) => i + 1));
      expect(updates).toHaveLength(chose);
      for (const u of updates) {
        expect(u.arm).toBe(u.episode_arm);
        expect(u.reward).toBe(u.episode_reward);
      }
      // Replaying the committed updates in order rebuilds the stored state's learned part exactly.
      const replay = makeBandit({ kind: 'linucb', alpha: 0.5 }, ['boundaries', 'logic'], 0);
      for (const u of updates)
        if (u.reward !== null) replay.update(u.arm, u.reward, JSON.parse(u.context_json) as BanditContext);
      const stored = JSON.parse(
        (
          d.prepare(`SELECT state_json FROM bandit_state WHERE policy = 'lin'`).get() as {
            state_json: string;
          }
        ).state_json,
      ) as Record<string, unknown>;
      const learned = (state: Record<string, unknown>) => {
        const { rng: _rng, t: _t, ...rest } = state;
        return rest;
      };
      expect(learned(stored)).toEqual(learned(replay.state() as unknown as Record<string, unknown>));
    } finally {
      d.close();
    }
  }, 400_000);
});

it('experiments/schema.json is in sync with the config schema (run `npm run schema`)', async () => {
  const { readFile } = await import('node:fs/promises');
  const { experimentJsonSchema } = await import('../experiments/config.ts');
  const onDisk = JSON.parse(await readFile(path.join(ROOT, 'experiments/schema.json'), 'utf8')) as unknown;
  expect(onDisk).toEqual(JSON.parse(JSON.stringify(experimentJsonSchema)));
});

it('retries infra failures, labels them, and re-runs them on resume', async () => {
  const { pyFixture } = await import('./fixtures.ts');
  const fixture = await pyFixture();
  try {
    const row = {
      ...fixture.task,
      instance_id: 'calc__broken-hidden-tests',
      test_patch: 'diff --git a/nope b/nope\n--- a/nope\n+++ b/nope\n@@ -1 +1 @@\n-x\n+y\n',
    };
    await writeFile(path.join(dir, 'broken.jsonl'), JSON.stringify(row) + '\n');
    const config = parseConfig(
      `name: broken\ndataset: {name: ${JSON.stringify(path.join(dir, 'broken.jsonl'))}}\npolicies: [{name: oracle}]\nretries: 1`,
    );
    const out = path.join(dir, 'broken');
    const first = await runExperiment(config, { outDir: out });
    expect(first.byPolicy).toEqual([{ policy: 'oracle', episodes: 1, resolved: 0, infra: 1 }]);
    const d = new Database(path.join(out, 'runs.sqlite'), { readonly: true });
    const episode = d.prepare('SELECT attempts, failure_class, error FROM episodes').get() as Record<
      string,
      unknown
    >;
    d.close();
    expect(episode).toMatchObject({ attempts: 2, failure_class: 'infra' });
    expect(String(episode.error)).toMatch(/test_patch did not apply/);
    const again = await runExperiment(config, { outDir: out });
    expect(again.done).toBe(1); // infra episodes are not "finished": a resume tries them again
  } finally {
    await removeDir(fixture.repoDir);
  }
});

it('a run resumes under another concurrency, retries or telemetry: they change how it runs, not what it measures', async () => {
  const out = path.join(dir, 'resume-concurrency');
  const body = 'dataset: {name: "builtin:mini", filter: {limit: 2}}\npolicies: [{name: nop}]\n';
  const first = await runExperiment(parseConfig(`name: rc\n${body}concurrency: 1\n`), { outDir: out });
  expect(first.done).toBe(2);
  const again = await runExperiment(parseConfig(`name: rc\n${body}concurrency: 2\nretries: 0\n`), {
    outDir: out,
  });
  expect([again.done, again.skipped, again.experimentId]).toEqual([0, 2, first.experimentId]);
  // What it measures is part of the identity: another step budget is another run.
  await expect(
    runExperiment(parseConfig(`name: rc\n${body}budgets: {max_steps: 3}\n`), { outDir: out }),
  ).rejects.toThrow(/another config/);
});

it('a config naming an unknown dataset or filtering out every task is refused by field, leaving no run dir', async () => {
  const out = path.join(dir, 'refused');
  await expect(
    runExperiment(parseConfig('name: bad\ndataset: {name: "builtin:nosuch"}\npolicies: [{name: nop}]'), {
      outDir: out,
    }),
  ).rejects.toThrow(/^dataset\.name: unknown built-in dataset "nosuch"/);
  await expect(
    runExperiment(
      parseConfig(
        'name: bad\ndataset: {name: "builtin:mini", filter: {instance_ids: [zzz]}}\npolicies: [{name: nop}]',
      ),
      { outDir: out },
    ),
  ).rejects.toThrow(/^dataset: builtin:mini: no task left after the filter and split/);
  expect(existsSync(out)).toBe(false);
});

it('a config name of only dots is refused (the default output dir would leave runs/)', () => {
  expect(() => parseConfig('name: ".."\ndataset: {name: a}\npolicies: [{name: nop}]')).toThrow(
    /name: .*not only dots/,
  );
});

it('a train/test split is deterministic, disjoint and covers the dataset (run here on the worktree layer)', async () => {
  const { inTestSplit } = await import('../experiments/runner.ts');
  const ids = Array.from({ length: 1000 }, (_, i) => `task-${i}`);
  const test = ids.filter((id) => inTestSplit(id, 0.2, 7));
  expect(test.length).toBeGreaterThan(150);
  expect(test.length).toBeLessThan(250);
  expect(ids.filter((id) => inTestSplit(id, 0.2, 7))).toEqual(test);
  const run = (part: string) =>
    runExperiment(
      parseConfig(
        `name: split-${part}\ndataset: {name: "builtin:mini", split: {part: ${part}, test_fraction: 0.2}}\npolicies: [{name: nop}]\nsandbox: {layer: worktree}\nconcurrency: 2`,
      ),
      { outDir: path.join(dir, `split-${part}`) },
    );
  const [train, testRun] = [await run('train'), await run('test')];
  expect(train.done + testRun.done).toBe((await loadDataset('builtin:mini')).tasks.length);
  expect(testRun.done).toBeGreaterThan(0);
});

it('stored outputs are cut to whole UTF-8 characters, keeping a character that ends exactly at the limit', async () => {
  const { truncateUtf8 } = await import('../experiments/store.ts');
  expect(truncateUtf8('ab€', 5)).toBe('ab€'); // € is 3 bytes: 2 + 3 = 5
  expect(truncateUtf8('ab€x', 5)).toBe('ab€');
  expect(truncateUtf8('ab€', 4)).toBe('ab');
  expect(truncateUtf8('😀😀', 6)).toBe('😀');
  expect(truncateUtf8('plain', 100)).toBe('plain');
});
