// The numbers a run ends with: resolve rate per policy with a Wilson interval, and paired comparisons between
// policies on the same (task, seed, epoch): McNemar's test on resolution and a sign-flip permutation test on
// the primary reward. Infra failures are left out of all of them.
import type Database from 'better-sqlite3';
import Table from 'cli-table3';
import {
  bootstrapMean,
  mcnemar,
  pairedPermutation,
  wilson,
  type Interval,
  type McNemar,
  type PairedDifference,
} from './stats.ts';

export interface PolicySummary {
  policy: string;
  episodes: number;
  resolved: number;
  infra: number;
  resolveRate: Interval;
  meanReward: number;
  /** Mean primary reward with a 95% bootstrap interval. */
  reward: Interval;
}

export interface PairedComparison extends McNemar {
  a: string;
  b: string;
  pairs: number;
  /** A's primary reward minus B's on the same episodes. */
  reward: PairedDifference;
}

export interface RunStatistics {
  policies: PolicySummary[];
  comparisons: PairedComparison[];
}

export function runStatistics(db: Database.Database, experimentId: string): RunStatistics {
  const rows = db
    .prepare(
      `SELECT policy, task_id, seed, epoch, resolved, reward, failure_class FROM episodes WHERE experiment_id = ?`,
    )
    .all(experimentId) as {
    policy: string;
    task_id: string;
    seed: number;
    epoch: number;
    resolved: number;
    reward: number;
    failure_class: string;
  }[];
  const names = [...new Set(rows.map((r) => r.policy))].sort();
  const graded = rows.filter((r) => r.failure_class !== 'infra');
  const policies = names.map((policy) => {
    const mine = graded.filter((r) => r.policy === policy);
    const resolved = mine.filter((r) => r.resolved === 1).length;
    return {
      policy,
      episodes: mine.length,
      resolved,
      infra: rows.filter((r) => r.policy === policy && r.failure_class === 'infra').length,
      resolveRate: wilson(resolved, mine.length),
      meanReward: mine.reduce((sum, r) => sum + r.reward, 0) / Math.max(1, mine.length),
      reward: bootstrapMean(mine.map((r) => r.reward)),
    };
  });
  const byKey = new Map(
    graded.map((r) => [`${r.policy}\u0000${r.task_id}\u0000${r.seed}\u0000${r.epoch}`, r]),
  );
  const comparisons: PairedComparison[] = [];
  for (const [i, a] of names.entries()) {
    for (const b of names.slice(i + 1)) {
      const pairs: [boolean, boolean][] = [];
      const differences: number[] = [];
      for (const r of graded.filter((x) => x.policy === a)) {
        const other = byKey.get(`${b}\u0000${r.task_id}\u0000${r.seed}\u0000${r.epoch}`);
        if (other === undefined) continue;
        pairs.push([r.resolved === 1, other.resolved === 1]);
        differences.push(r.reward - other.reward);
      }
      comparisons.push({
        a,
        b,
        pairs: pairs.length,
        ...mcnemar(pairs),
        reward: pairedPermutation(differences),
      });
    }
  }
  return { policies, comparisons };
}

const pct = (x: number) => (Number.isNaN(x) ? '–' : `${(100 * x).toFixed(1)}%`);
const fixed = (x: number) => (Number.isNaN(x) ? '–' : x.toFixed(3));
const signed = (i: Interval) =>
  Number.isNaN(i.estimate)
    ? '–'
    : `${i.estimate >= 0 ? '+' : ''}${i.estimate.toFixed(3)} [${i.low.toFixed(3)}, ${i.high.toFixed(3)}]`;

/** The run's summary as two terminal tables: per policy, then paired comparisons. */
export function formatStatistics(stats: RunStatistics): string[] {
  const style = { head: [], border: [] };
  const policies = new Table({
    head: ['policy', 'episodes', 'resolved (95% Wilson)', 'mean reward (95% bootstrap)', 'infra'],
    style,
  });
  for (const p of stats.policies) {
    policies.push([
      p.policy,
      p.episodes,
      p.episodes
        ? `${p.resolved} ${pct(p.resolveRate.estimate)} [${pct(p.resolveRate.low)}, ${pct(p.resolveRate.high)}]`
        : '–',
      p.episodes ? `${fixed(p.reward.estimate)} [${fixed(p.reward.low)}, ${fixed(p.reward.high)}]` : '–',
      p.infra,
    ]);
  }
  const lines = policies.toString().split('\n');
  if (stats.comparisons.length === 0) return lines;
  const pairs = new Table({
    head: [
      'A vs B (same task, seed, epoch)',
      'pairs',
      'reward A − B [95% CI]',
      'permutation p',
      'only A / only B resolved',
      'McNemar p',
    ],
    style,
  });
  for (const c of stats.comparisons) {
    pairs.push([
      `${c.a} vs ${c.b}`,
      c.pairs,
      signed(c.reward.difference),
      Number.isNaN(c.reward.pValue) ? '–' : c.reward.pValue.toPrecision(3),
      `${c.onlyA} / ${c.onlyB}`,
      `${c.pValue.toPrecision(3)} (${c.method})`,
    ]);
  }
  return [...lines, ...pairs.toString().split('\n')];
}
