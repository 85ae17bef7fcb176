import { statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../experiments/config.ts';
import { loadMatrix, replayBandits, type Matrix, type MatrixTask } from '../experiments/replay.ts';
import { RunStore } from '../experiments/store.ts';
import { STRATEGY_CONTEXT_NAMES } from '../policies/repair/policy.ts';

function configText(lines: string[] = []): string {
  return [
    'name: replay',
    'dataset: {name: builtin:mini}',
    'policies:',
    '  - {name: bandit, id: lin, bandit: {kind: linucb}, arms: [logic, structure], inner: {name: repair}}',
    '  - {name: bandit, id: rnd, bandit: {kind: random}, arms: [logic, structure], inner: {name: repair}}',
    'epochs: 2',
    'order: shuffled',
    ...lines,
  ].join('\n');
}
const config = (...lines: string[]) => parseConfig(configText(lines));

/** A context of the repair policy's shape whose second feature says which arm pays. */
const contextFor = (logicPays: boolean) => ({
  names: [...STRATEGY_CONTEXT_NAMES],
  features: STRATEGY_CONTEXT_NAMES.map((_, i) => (i === 0 ? 1 : i === 1 ? Number(logicPays) : 0)),
});
const matrixOf = (tasks: MatrixTask[]): Matrix => ({
  tasks,
  config: { dataset: { name: 'builtin:mini' }, budgets: { max_steps: 50 } },
});

/** Half the tasks pay only on logic, half only on structure; the context says which half. */
const informative: MatrixTask[] = Array.from({ length: 40 }, (_, i) => ({
  taskId: `t${i}`,
  context: contextFor(i % 2 === 1),
  rewards: i % 2 ? { logic: 1, structure: 0 } : { logic: 0, structure: 1 },
}));

describe('experiment replay', () => {
  it('a bandit whose context names the paying arm beats random in nearly every draw', async () => {
    const r = await replayBandits(config(), matrixOf(informative), { draws: 40 });
    expect(r.part).toBe('all');
    expect(r.tasks).toBe(40);
    expect(r.baseline.policy).toBe('rnd');
    expect(r.baseline.reward.estimate).toBeGreaterThan(0.4);
    expect(r.baseline.reward.estimate).toBeLessThan(0.6);
    const [lin] = r.policies;
    expect(lin!.policy).toBe('lin');
    expect(lin!.gain.estimate).toBeGreaterThan(0.25);
    expect(lin!.power).toBeGreaterThan(0.9);
  });

  it('when every arm pays the same there is nothing to gain and the test never fires', async () => {
    const flat = informative.map((t, i) => ({
      ...t,
      rewards: { logic: i % 3 ? 0 : 1, structure: i % 3 ? 0 : 1 },
    }));
    const r = await replayBandits(config(), matrixOf(flat), { draws: 20 });
    expect(r.policies[0]!.gain.estimate).toBe(0);
    expect(r.policies[0]!.power).toBe(0);
    expect(r.policies[0]!.reward.estimate).toBeCloseTo(r.baseline.reward.estimate, 10);
  });

  it('an episode that ended before a choice counts its reward and teaches nothing', async () => {
    const early = informative.map((t) => ({
      ...t,
      context: null,
      rewards: { logic: 0.25, structure: 0.25 },
    }));
    const r = await replayBandits(config(), matrixOf(early), { draws: 5 });
    expect(r.policies[0]!.reward.estimate).toBeCloseTo(0.25, 10);
  });

  it('plays `seeds` episodes per task per epoch', async () => {
    const r = await replayBandits(config('seeds: 3'), matrixOf(informative), { draws: 2, tasks: 4 });
    expect(r.seeds).toBe(3);
    const one = await replayBandits(config(), matrixOf(informative), { draws: 2, tasks: 4 });
    expect(r).not.toEqual({ ...one, seeds: 3 });
  });

  it('draws by default from the side of the split the config does not run; the same inputs, the same estimate', async () => {
    const split = (part: string) =>
      `dataset: {name: builtin:mini, split: {part: ${part}, test_fraction: 0.25, seed: 3}}`;
    const onTest = parseConfig(configText().replace('dataset: {name: builtin:mini}', split('test')));
    const onTrain = parseConfig(configText().replace('dataset: {name: builtin:mini}', split('train')));
    const train = await replayBandits(onTest, matrixOf(informative), { draws: 10 });
    const test = await replayBandits(onTrain, matrixOf(informative), { draws: 10 });
    expect(train.part).toBe('train');
    expect(test.part).toBe('test');
    expect(train.pool + test.pool).toBe(40);
    expect(test.pool).toBeGreaterThan(0);
    expect(await replayBandits(onTest, matrixOf(informative), { draws: 10 })).toEqual(train);
    const explicit = await replayBandits(onTest, matrixOf(informative), { draws: 1, part: 'test' });
    expect(explicit.pool).toBe(test.pool);
    await expect(replayBandits(onTest, matrixOf([]), { draws: 1 })).rejects.toThrow(
      /holds none of the config's train tasks/,
    );
  });

  it('refuses a config it would misread, naming the cause', async () => {
    const m = matrixOf(informative);
    await expect(replayBandits(config(), m, { tasks: 41 })).rejects.toThrow(
      /--tasks must be an integer from 1 to 40/,
    );
    await expect(replayBandits(config(), m, { draws: 0 })).rejects.toThrow(/draws must be an integer/);
    const missing = informative.map((t, i) => (i === 7 ? { ...t, rewards: { logic: 1 } } : t));
    await expect(replayBandits(config(), matrixOf(missing))).rejects.toThrow(
      /no graded "structure" episode of t7/,
    );
    const noRandom = parseConfig(configText().replace(/ {2}- \{name: bandit, id: rnd.*\n/, ''));
    await expect(replayBandits(noRandom, m)).rejects.toThrow(/uniform-random/);
    await expect(replayBandits(config(), m, { part: 'train' })).rejects.toThrow(
      /--part train needs a dataset.split/,
    );
    await expect(replayBandits(config('budgets: {max_steps: 16}'), m)).rejects.toThrow(
      /matrix ran at max_steps 50, the config at 16/,
    );
    await expect(
      replayBandits(parseConfig(configText().replace('builtin:mini', 'builtin:synth')), m),
    ).rejects.toThrow(/the matrix ran on builtin:mini, the config on builtin:synth/);
    await expect(
      replayBandits(
        parseConfig(configText().replace('builtin:mini}', 'builtin:mini, filter: {limit: 3}}')),
        m,
      ),
    ).rejects.toThrow(/drop dataset.filter/);
    await expect(replayBandits(config('reward: {shaping: {gamma: 1}}'), m)).rejects.toThrow(/reward.shaping/);
    const stale = informative.map((t) => ({
      ...t,
      context: { names: ['bias', 'focus_logic'], features: [1, 0] },
    }));
    await expect(replayBandits(config(), matrixOf(stale))).rejects.toThrow(
      /another repair context.*focus_logic/,
    );
  });
});

describe('loadMatrix', () => {
  /** A run store with the given episodes, through the store's own schema. */
  async function storeWith(
    episodes: { task: string; strategy?: string; context?: unknown; reward: number; info?: string | null }[],
  ): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'repogym-matrix-'));
    new RunStore(path.join(dir, 'runs.sqlite')).close();
    const db = new Database(path.join(dir, 'runs.sqlite'));
    const config = JSON.stringify({ dataset: { name: 'builtin:mini' }, budgets: { max_steps: 50 } });
    db.prepare(
      "INSERT INTO experiments (id, name, created_at, config_json, config_hash, dataset_hash, manifest_json) VALUES ('x', 'm', '', ?, '', '', '{}')",
    ).run(config);
    const columns = db.prepare('PRAGMA table_info(episodes)').all() as { name: string; notnull: number }[];
    episodes.forEach((e, i) => {
      const values: Record<string, unknown> = Object.fromEntries(
        columns.filter((c) => c.notnull).map((c) => [c.name, 0]),
      );
      Object.assign(values, {
        id: `e${i}`,
        experiment_id: 'x',
        epoch: i,
        task_id: e.task,
        policy: `m/${e.strategy}`,
        outcome: 'x',
        started_at: '',
        policy_info_json:
          e.info !== undefined
            ? e.info
            : JSON.stringify({ strategy: e.strategy, context: e.context ?? null }),
      });
      const names = Object.keys(values);
      db.prepare(
        `INSERT INTO episodes (${names.join(', ')}) VALUES (${names.map(() => '?').join(', ')})`,
      ).run(...names.map((n) => values[n]));
      db.prepare(
        "INSERT INTO rewards (episode_id, variant, value, gates_json, flags_json, variant_json, source, scored_at) VALUES (?, 'production', ?, '{}', '{}', '{}', 'x', '')",
      ).run(`e${i}`, e.reward);
    });
    db.close();
    return dir;
  }

  it('reads rewards and the shared context per task, read-only', async () => {
    const context = contextFor(true);
    const dir = await storeWith([
      { task: 'a', strategy: 'logic', context, reward: 1 },
      { task: 'a', strategy: 'structure', context, reward: 0 },
      { task: 'a', strategy: 'logic', context, reward: 1.000001 },
    ]);
    try {
      const file = path.join(dir, 'runs.sqlite');
      const before = statSync(file).mtimeMs;
      const m = loadMatrix(dir, 'production');
      expect(m.tasks).toEqual([{ taskId: 'a', context, rewards: { logic: 1, structure: 0 } }]);
      expect(m.config.budgets?.max_steps).toBe(50);
      expect(statSync(file).mtimeMs).toBe(before);
      expect(() => loadMatrix(dir, 'swebench')).toThrow(/no episodes scored under "swebench".*rescore/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses what is not a matrix, naming the episode or file', async () => {
    const context = contextFor(true);
    const cases: [Parameters<typeof storeWith>[0], RegExp][] = [
      [[{ task: 'a', reward: 1, info: '{oops' }], /episode e0 \(a\): policy_info_json is not JSON/],
      [[{ task: 'a', reward: 1, info: null }], /episode e0 \(a\) records no repair strategy/],
      [
        [
          { task: 'a', strategy: 'logic', context, reward: 1 },
          { task: 'a', strategy: 'logic', context, reward: 0 },
        ],
        /logic got 0 here and 1 in another episode/,
      ],
      [
        [
          { task: 'a', strategy: 'logic', context, reward: 1 },
          { task: 'a', strategy: 'structure', context: null, reward: 0 },
        ],
        /strategies of a saw different contexts/,
      ],
      [
        [
          { task: 'a', strategy: 'logic', reward: 1 },
          { task: 'a', strategy: 'structure', reward: 0 },
        ],
        /a ended before any choice, yet its strategies got different rewards/,
      ],
      [[{ task: 'a', strategy: 'logic', context: { features: 'x' }, reward: 1 }], /its context is not/],
    ];
    for (const [episodes, error] of cases) {
      const dir = await storeWith(episodes);
      try {
        expect(() => loadMatrix(dir, 'production')).toThrow(error);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    const dir = await mkdtemp(path.join(os.tmpdir(), 'repogym-matrix-'));
    try {
      expect(() => loadMatrix(dir, 'production')).toThrow(/no run store at/);
      await writeFile(path.join(dir, 'runs.sqlite'), 'not a database at all, just some text long enough');
      expect(() => loadMatrix(dir, 'production')).toThrow(/runs\.sqlite.*(not a database|not a readable)/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
