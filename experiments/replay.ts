// Exact replay of a config's bandits over a measured per-task × per-strategy matrix (docs/replay.md). The
// template repair policy is deterministic once its strategy is chosen, so one run of every strategy on every
// task records what any chooser would get. Replaying many task draws and orders through the real bandit code
// estimates a design's mean reward and the power of its paired test against random in seconds, where running
// the design that many times would take hours. Choose a design on the train split, then run it on the test split.
import { existsSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import Table from 'cli-table3';
import { seededRandom } from '../env/coding-env.ts';
import { makeBandit, type BanditContext } from '../policies/bandits/index.ts';
import { STRATEGY_CONTEXT_NAMES } from '../policies/repair/policy.ts';
import { ConfigError, policyLabel, type ExperimentConfig } from './config.ts';
import { inTestSplit } from './runner.ts';
import { bootstrapMean, pairedPermutation, type Interval } from './stats.ts';

export interface MatrixTask {
  taskId: string;
  /** What the policy showed a chooser; null when the episodes ended before a strategy was chosen. */
  context: BanditContext | null;
  /** Reward under the replayed variant, per strategy. */
  rewards: Record<string, number>;
}

export interface Matrix {
  tasks: MatrixTask[];
  /** The matrix run's own config, as stored: what it ran the strategies on and with. */
  config: { dataset?: { name?: string }; budgets?: { max_steps?: number } };
}

/** Rewards of one task and strategy may differ this much between episodes (the timing part of a reward). */
const REWARD_TOLERANCE = 0.01;

/**
 * Per task, the reward of each strategy under `variant` and the chooser's context, from a run of fixed
 * strategies (policies `{name: repair, strategy}` or a tournament). Infra failures are left out. Opened read-only:
 * a replay never changes the run it reads.
 */
export function loadMatrix(runDir: string, variant: string): Matrix {
  const file = path.join(runDir, 'runs.sqlite');
  if (!existsSync(file)) throw new ConfigError(`no run store at ${file}`);
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new ConfigError(`${file}: ${(err as Error).message}`);
  }
  try {
    const query = <T>(sql: string, ...args: unknown[]): T[] => {
      try {
        return db.prepare(sql).all(...args) as T[];
      } catch (err) {
        throw new ConfigError(`${file} is not a readable run store: ${(err as Error).message}`);
      }
    };
    const experiment = query<{ config_json: string }>('SELECT config_json FROM experiments LIMIT 1')[0];
    const rows = query<{
      id: string;
      task_id: string;
      policy_info_json: string | null;
      infra: number;
      value: number | null;
    }>(
      `SELECT e.id, e.task_id, e.policy_info_json, e.failure_class IS 'infra' AS infra, r.value FROM episodes e
       LEFT JOIN rewards r ON r.episode_id = e.id AND r.variant = ? ORDER BY e.rowid`,
      variant,
    );
    if (!experiment || rows.length === 0) throw new ConfigError(`${file} holds no episodes`);
    if (!rows.some((r) => r.value !== null)) {
      throw new ConfigError(
        `${runDir} has no episodes scored under "${variant}" (rescore it: repogym rewards rescore ${runDir} --variants ${variant})`,
      );
    }
    const tasks = new Map<
      string,
      { taskId: string; rewards: Record<string, number>; contextOf: Map<string, BanditContext | null> }
    >();
    for (const row of rows) {
      const where = `${runDir}: episode ${row.id} (${row.task_id})`;
      let info: { strategy?: string; context?: BanditContext | null };
      try {
        info = JSON.parse(row.policy_info_json ?? '{}') as typeof info;
      } catch {
        throw new ConfigError(`${where}: policy_info_json is not JSON`);
      }
      if (typeof info?.strategy !== 'string') {
        throw new ConfigError(`${where} records no repair strategy: not a strategy matrix`);
      }
      const task = tasks.get(row.task_id) ?? {
        taskId: row.task_id,
        rewards: {} as Record<string, number>,
        contextOf: new Map<string, BanditContext | null>(),
      };
      tasks.set(row.task_id, task);
      if (row.infra || row.value === null) continue;
      const context = info.context ?? null;
      if (context !== null && !validContext(context))
        throw new ConfigError(`${where}: its context is not { features: number[] }`);
      const known = task.rewards[info.strategy];
      // The policy is deterministic given its strategy: a repeat that disagrees means the matrix is not one.
      if (known !== undefined && Math.abs(known - row.value) > REWARD_TOLERANCE) {
        throw new ConfigError(
          `${where}: ${info.strategy} got ${row.value} here and ${known} in another episode`,
        );
      }
      task.rewards[info.strategy] ??= row.value;
      task.contextOf.set(info.strategy, context);
    }
    return {
      config: JSON.parse(experiment.config_json) as Matrix['config'],
      tasks: [...tasks.values()].map(({ taskId, rewards, contextOf }) => ({
        taskId,
        context: sharedContext(runDir, taskId, rewards, contextOf),
        rewards,
      })),
    };
  } finally {
    db.close();
  }
}

const validContext = (c: unknown): c is BanditContext =>
  Array.isArray((c as BanditContext).features) && (c as BanditContext).features.every(Number.isFinite);

/**
 * The context is computed before the strategy matters, so every strategy of a task must show the same one; a
 * task whose episodes all ended before a choice must have paid every strategy the same.
 */
function sharedContext(
  runDir: string,
  taskId: string,
  rewardsOf: Record<string, number>,
  contextOf: Map<string, BanditContext | null>,
): BanditContext | null {
  const contexts = [...contextOf.values()];
  const first = contexts.find((c) => c !== null) ?? null;
  const key = (c: BanditContext | null) => JSON.stringify(c?.features ?? null);
  if (contexts.some((c) => key(c) !== key(first))) {
    throw new ConfigError(
      `${runDir}: the strategies of ${taskId} saw different contexts: not a strategy matrix`,
    );
  }
  if (first === null) {
    const rewards = Object.values(rewardsOf);
    if (rewards.some((r) => Math.abs(r - rewards[0]!) > REWARD_TOLERANCE)) {
      throw new ConfigError(
        `${runDir}: ${taskId} ended before any choice, yet its strategies got different rewards`,
      );
    }
  }
  return first;
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
  /** Episodes per task per epoch, as the config's `seeds`. */
  seeds: number;
  draws: number;
  alpha: number;
  baseline: { policy: string; reward: Interval };
  policies: ReplayedPolicy[];
}

export async function replayBandits(
  config: ExperimentConfig,
  matrix: Matrix,
  opts: ReplayOptions = {},
): Promise<ReplayResult> {
  const bandits = config.policies.flatMap((p) => (p.name === 'bandit' ? [p] : []));
  const baseline = bandits.find((p) => p.bandit.kind === 'random');
  if (!baseline)
    throw new ConfigError('replay compares bandits with a uniform-random one: the config has none');
  checkComparable(config, matrix);
  const { split } = config.dataset;
  // The side the config does not run, by default: choose there, run the choice on the other.
  const part = opts.part ?? (split ? (split.part === 'test' ? 'train' : 'test') : 'all');
  if (part !== 'all' && !split) throw new ConfigError(`--part ${part} needs a dataset.split in the config`);
  const pool = matrix.tasks.filter(
    (t) => part === 'all' || inTestSplit(t.taskId, split!.test_fraction, split!.seed) === (part === 'test'),
  );
  if (pool.length === 0) throw new ConfigError(`the matrix holds none of the config's ${part} tasks`);
  for (const p of bandits) {
    for (const t of pool) {
      const missing = p.arms.find((arm) => !(arm in t.rewards));
      if (missing !== undefined) {
        throw new ConfigError(
          `the matrix has no graded "${missing}" episode of ${t.taskId} (policy ${policyLabel(p)}); infra failures do not count`,
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
  if (!Number.isInteger(draws) || draws < 1) throw new ConfigError('draws must be an integer ≥ 1');
  const alpha = opts.alpha ?? 0.05;
  const means = new Map(bandits.map((p) => [policyLabel(p), [] as number[]]));
  const gains = new Map(bandits.map((p) => [policyLabel(p), [] as number[]]));
  const wins = new Map(bandits.map((p) => [policyLabel(p), 0]));
  for (let draw = 0; draw < draws; draw++) {
    const random = seededRandom(config.seed * 7919 + draw);
    // `order: dataset` plays the drawn tasks in the matrix's order (the order its run met them).
    const drawn = new Set(shuffle(pool, random).slice(0, n));
    const chosen = pool.filter((t) => drawn.has(t));
    const order: MatrixTask[] = [];
    for (let epoch = 0; epoch < config.epochs; epoch++) {
      for (const task of config.order === 'shuffled' ? shuffle(chosen, random) : chosen) {
        for (let seed = 0; seed < config.seeds; seed++) order.push(task);
      }
    }
    const rewards = new Map<string, number[]>();
    for (const p of bandits) {
      // A seed per draw (a live run's bandits share the experiment seed), so the estimate averages over the
      // bandits' own randomness too.
      const bandit = makeBandit(p.bandit, p.arms, draw + 1);
      const got: number[] = [];
      for (const task of order) {
        if (!task.context) {
          // The episode ended before a choice: every strategy got the same, and the bandit learns nothing.
          got.push(task.rewards[p.arms[0]!]!);
          continue;
        }
        let arm: string;
        try {
          ({ arm } = await bandit.select(task.context));
        } catch (err) {
          throw new ConfigError(`${task.taskId}: ${(err as Error).message}`);
        }
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
    seeds: config.seeds,
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

/** Replay answers for the matrix's tasks, budget and policy: refuse a config it would silently misread. */
function checkComparable(config: ExperimentConfig, matrix: Matrix): void {
  const ran = matrix.config;
  if (ran.dataset?.name !== config.dataset.name) {
    throw new ConfigError(`the matrix ran on ${ran.dataset?.name}, the config on ${config.dataset.name}`);
  }
  if (ran.budgets?.max_steps !== config.budgets.max_steps) {
    throw new ConfigError(
      `the matrix ran at max_steps ${ran.budgets?.max_steps}, the config at ${config.budgets.max_steps}: its rewards would not be the config's`,
    );
  }
  const { filter } = config.dataset;
  if (filter.instance_ids || filter.languages || filter.limit) {
    throw new ConfigError('replay draws from the whole split: drop dataset.filter (use --tasks)');
  }
  if (config.reward.shaping) {
    throw new ConfigError(
      'replay scores recorded rewards: a config with reward.shaping learns from more than that',
    );
  }
  const stale = matrix.tasks.find(
    (t) => t.context && JSON.stringify(t.context.names) !== JSON.stringify(STRATEGY_CONTEXT_NAMES),
  );
  if (stale) {
    throw new ConfigError(
      `the matrix recorded another repair context (${stale.context!.names?.join(', ') ?? 'unnamed'}) than this version's: run the matrix again`,
    );
  }
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
