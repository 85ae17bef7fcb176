// Exact replay of a config's bandits over a measured per-task × per-strategy matrix (docs/replay.md). The
// template repair policy is deterministic once its strategy is chosen, so one run of every strategy on every
// task records what any chooser would get. Replaying many task draws and orders through the real bandit code
// estimates a design's mean reward and the power of its paired test against random in seconds, where running
// the design that many times would take hours. Choose a design on the train split, then run it on the test split.
import Database from 'better-sqlite3';
import Table from 'cli-table3';
import { seededRandom } from '../env/coding-env.ts';
import { makeBandit, type BanditContext } from '../policies/bandits/index.ts';
import { ConfigError, policyLabel, type ExperimentConfig } from './config.ts';
import { inTestSplit } from './runner.ts';
import { bootstrapMean, pairedPermutation, type Interval } from './stats.ts';
import { upgradeStore } from './store.ts';

export interface MatrixTask {
  taskId: string;
  /** What the policy showed a chooser; null when the episode ended before a strategy was chosen. */
  context: BanditContext | null;
  /** Reward under the replayed variant, per strategy. */
  rewards: Record<string, number>;
}

/**
 * Per task, the reward of each strategy under `variant` and the chooser's context, from a run of fixed
 * strategies (policies `{name: repair, strategy}` or a tournament). Infra failures are left out.
 */
export function loadMatrix(runDir: string, variant: string): MatrixTask[] {
  const db = new Database(upgradeStore(runDir), { readonly: true });
  try {
    const rows = db
      .prepare(
        `SELECT e.task_id, e.policy_info_json, r.value FROM episodes e
         JOIN rewards r ON r.episode_id = e.id AND r.variant = ?
         WHERE e.failure_class IS NOT 'infra' ORDER BY e.epoch, e.seed, e.id`,
      )
      .all(variant) as { task_id: string; policy_info_json: string | null; value: number }[];
    if (rows.length === 0) {
      throw new ConfigError(
        `${runDir} has no episodes scored under "${variant}" (rescore it: repogym rewards rescore ${runDir} --variants ${variant})`,
      );
    }
    const tasks = new Map<string, MatrixTask>();
    for (const row of rows) {
      const info = JSON.parse(row.policy_info_json ?? '{}') as {
        strategy?: string;
        context?: BanditContext | null;
      };
      if (!info.strategy) {
        throw new ConfigError(
          `${runDir}: an episode of ${row.task_id} records no repair strategy: not a strategy matrix`,
        );
      }
      const task = tasks.get(row.task_id) ?? {
        taskId: row.task_id,
        context: info.context ?? null,
        rewards: {},
      };
      // Later epochs and seeds repeat the first: the policy is deterministic given the strategy.
      task.rewards[info.strategy] ??= row.value;
      tasks.set(row.task_id, task);
    }
    return [...tasks.values()];
  } finally {
    db.close();
  }
}

export interface ReplayOptions {
  /** Tasks per draw; all of the part by default. */
  tasks?: number;
  draws?: number;
  /** Which side of the config's split to draw from; `train` (the tasks the config does not run) by default. */
  part?: 'train' | 'test' | 'all';
  /** Significance level of the paired test. */
  alpha?: number;
}

export interface ReplayedPolicy {
  policy: string;
  kind: string;
  /** Mean reward per episode, averaged over draws, with a bootstrap interval over draws. */
  reward: Interval;
  /** Mean paired gain over the random baseline. */
  gain: Interval;
  /** Share of draws in which the paired permutation test finds it better than random at `alpha`. */
  power: number;
}

export interface ReplayResult {
  variant: string;
  part: 'train' | 'test' | 'all';
  pool: number;
  tasks: number;
  epochs: number;
  draws: number;
  alpha: number;
  baseline: { policy: string; reward: Interval };
  policies: ReplayedPolicy[];
}

export async function replayBandits(
  config: ExperimentConfig,
  matrix: MatrixTask[],
  opts: ReplayOptions = {},
): Promise<ReplayResult> {
  const bandits = config.policies.flatMap((p) => (p.name === 'bandit' ? [p] : []));
  const baseline = bandits.find((p) => p.bandit.kind === 'random');
  if (!baseline)
    throw new ConfigError('replay compares bandits with a uniform-random one: the config has none');
  const { split } = config.dataset;
  const part = opts.part ?? (split ? 'train' : 'all');
  if (part !== 'all' && !split) throw new ConfigError(`--part ${part} needs a dataset.split in the config`);
  const pool = matrix.filter(
    (t) => part === 'all' || inTestSplit(t.taskId, split!.test_fraction, split!.seed) === (part === 'test'),
  );
  for (const p of bandits) {
    for (const t of pool) {
      const missing = p.arms.find((arm) => !(arm in t.rewards));
      if (missing !== undefined) {
        throw new ConfigError(
          `the matrix has no "${missing}" episode of ${t.taskId} (policy ${policyLabel(p)})`,
        );
      }
    }
  }
  const n = opts.tasks ?? pool.length;
  if (!Number.isInteger(n) || n < 1 || n > pool.length) {
    throw new ConfigError(
      `--tasks must be an integer from 1 to ${pool.length} (the ${part} tasks in the matrix)`,
    );
  }
  const draws = opts.draws ?? 200;
  const alpha = opts.alpha ?? 0.05;
  const means = new Map(bandits.map((p) => [policyLabel(p), [] as number[]]));
  const gains = new Map(bandits.map((p) => [policyLabel(p), [] as number[]]));
  const wins = new Map(bandits.map((p) => [policyLabel(p), 0]));
  for (let draw = 0; draw < draws; draw++) {
    const random = seededRandom(config.seed * 7919 + draw);
    const chosen = shuffle(pool, random).slice(0, n);
    const order: MatrixTask[] = [];
    for (let epoch = 0; epoch < config.epochs; epoch++) {
      order.push(...(config.order === 'shuffled' ? shuffle(chosen, random) : chosen));
    }
    const rewards = new Map<string, number[]>();
    for (const p of bandits) {
      // Each draw its own bandit seed, so the estimate averages over the bandits' own randomness too.
      const bandit = makeBandit(p.bandit, p.arms, draw + 1);
      const got: number[] = [];
      for (const task of order) {
        if (!task.context) {
          // The episode ended before a choice: every strategy got the same, and the bandit learns nothing.
          got.push(task.rewards[p.arms[0]!]!);
          continue;
        }
        const { arm } = await bandit.select(task.context);
        const reward = task.rewards[arm]!;
        await bandit.update(arm, reward, task.context);
        got.push(reward);
      }
      rewards.set(policyLabel(p), got);
    }
    const base = rewards.get(policyLabel(baseline))!;
    for (const [label, got] of rewards) {
      means.get(label)!.push(mean(got));
      if (label === policyLabel(baseline)) continue;
      const differences = got.map((r, i) => r - base[i]!);
      gains.get(label)!.push(mean(differences));
      const test = pairedPermutation(differences, { iterations: 1000, seed: draw });
      if (test.pValue < alpha && test.difference.estimate > 0) wins.set(label, wins.get(label)! + 1);
    }
  }
  return {
    variant: config.reward.primary,
    part,
    pool: pool.length,
    tasks: n,
    epochs: config.epochs,
    draws,
    alpha,
    baseline: { policy: policyLabel(baseline), reward: bootstrapMean(means.get(policyLabel(baseline))!) },
    policies: bandits
      .filter((p) => p !== baseline)
      .map((p) => ({
        policy: policyLabel(p),
        kind: p.bandit.kind,
        reward: bootstrapMean(means.get(policyLabel(p))!),
        gain: bootstrapMean(gains.get(policyLabel(p))!),
        power: wins.get(policyLabel(p))! / draws,
      })),
  };
}

function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

export function formatReplay(r: ReplayResult, matrixDir: string): string {
  const interval = (i: Interval) => `${i.estimate.toFixed(3)} [${i.low.toFixed(3)}, ${i.high.toFixed(3)}]`;
  const table = new Table({
    head: [
      'policy',
      `mean ${r.variant} (95% CI)`,
      `gain over ${r.baseline.policy}`,
      `power (p < ${r.alpha})`,
    ],
    style: { head: [], border: [] },
  });
  table.push([r.baseline.policy, interval(r.baseline.reward), '', '']);
  for (const p of r.policies) {
    table.push([`${p.policy} (${p.kind})`, interval(p.reward), interval(p.gain), p.power.toFixed(2)]);
  }
  return [
    `replayed over ${matrixDir}: ${r.draws} draws of ${r.tasks} tasks from the ${r.pool} ${r.part === 'all' ? 'in the matrix' : `${r.part} tasks`}, × ${r.epochs} epochs`,
    table.toString(),
  ].join('\n');
}
