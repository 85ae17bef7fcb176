// The numbers a run ends with: resolve rate per policy with a Wilson interval, and paired comparisons between
// policies on the same (task, seed, epoch) with McNemar's test. Infra failures are left out of both.
import type Database from 'better-sqlite3';
import { mcnemar, wilson, type Interval, type McNemar } from './stats.ts';

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
  const outcome = new Map(
    graded.map((r) => [`${r.policy}\u0000${r.task_id}\u0000${r.seed}\u0000${r.epoch}`, r.resolved === 1]),
  );
  const comparisons: PairedComparison[] = [];
  for (const [i, a] of names.entries()) {
    for (const b of names.slice(i + 1)) {
      const pairs: [boolean, boolean][] = [];
      for (const r of graded.filter((x) => x.policy === a)) {
        const other = outcome.get(`${b}\u0000${r.task_id}\u0000${r.seed}\u0000${r.epoch}`);
        if (other !== undefined) pairs.push([r.resolved === 1, other]);
      }
      comparisons.push({ a, b, pairs: pairs.length, ...mcnemar(pairs) });
    }
  }
  return { policies, comparisons };
}

const pct = (x: number) => (Number.isNaN(x) ? '–' : `${(100 * x).toFixed(1)}%`);

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
        `only ${c.b} ${c.onlyB}; McNemar ${c.method} p = ${c.pValue.toPrecision(3)}`,
    );
  }
  return lines;
}
