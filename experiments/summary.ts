// The numbers a run ends with: resolve rate per policy with a Wilson interval, and paired comparisons between
// policies on the same (task, seed, epoch): McNemar's test on resolution and a sign-flip permutation test on
// the primary reward. Infra failures are left out of all of them.
import type Database from 'better-sqlite3';
import {
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

const signed = (i: Interval) =>
  Number.isNaN(i.estimate)
    ? '–'
    : `${i.estimate >= 0 ? '+' : ''}${i.estimate.toFixed(3)} [${i.low.toFixed(3)}, ${i.high.toFixed(3)}]`;

export function formatStatistics(stats: RunStatistics): string[] {
  const lines = stats.policies.map(
    (p) =>
      `  ${p.policy.padEnd(8)} ${p.resolved}/${p.episodes} resolved` +
      (p.episodes
        ? ` ${pct(p.resolveRate.estimate)} (95% CI ${pct(p.resolveRate.low)}–${pct(p.resolveRate.high)}, Wilson)`
        : ' (no graded episode)') +
      (p.infra ? `, ${p.infra} infra excluded` : ''),
  );
  for (const c of stats.comparisons) {
    lines.push(
      `  ${c.a} vs ${c.b}: paired on ${c.pairs} (task, seed, epoch); only ${c.a} resolved ${c.onlyA}, ` +
        `only ${c.b} ${c.onlyB}; McNemar ${c.method} p = ${c.pValue.toPrecision(3)}; ` +
        `reward ${c.a} − ${c.b} = ${signed(c.reward.difference)} (paired permutation p = ${c.reward.pValue.toPrecision(3)})`,
    );
  }
  return lines;
}
