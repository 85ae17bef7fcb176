// Tournament mode in experiment configs: a `tournament` policy runs its strategies side by side on the same
// (task, seed, epoch), each stored as <id>/<strategy>; the report shows each tournament as cards, best first.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, runnablePolicies } from '../experiments/config.ts';
import { tournamentGroups } from '../experiments/report-tournaments.ts';
import { runExperiment } from '../experiments/runner.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'repogym-test-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const TASKS = ['ledger__low-stock-threshold-3', 'pagekit__page-zero-6'];
const config = (policies: unknown[]) =>
  parseConfig(
    JSON.stringify({
      name: 'tournament',
      dataset: { name: 'builtin:mini', filter: { instance_ids: TASKS } },
      policies,
      budgets: { max_steps: 12 },
      concurrency: 3,
    }),
  );

describe('tournament config', () => {
  it('expands into one policy per strategy, and rejects strategies its inner policy does not have', () => {
    const c = config([
      { name: 'tournament', id: 't', strategies: ['boundaries', 'logic'], inner: { name: 'repair' } },
    ]);
    expect(runnablePolicies(c).map((p) => [p.name, p.id, 'strategy' in p ? p.strategy : null])).toEqual([
      ['repair', 't/boundaries', 'boundaries'],
      ['repair', 't/logic', 'logic'],
    ]);
    expect(() =>
      config([{ name: 'tournament', strategies: ['boundaries', 'nonsense'], inner: { name: 'repair' } }]),
    ).toThrow(/policies\.0\.strategies\.1: "nonsense" is not a repair strategy/);
    expect(() => config([{ name: 'tournament', strategies: ['logic'], inner: { name: 'repair' } }])).toThrow(
      ConfigError,
    );
  });

  it('runs the candidates on the same seeds and the report shows each tournament as ranked cards', async () => {
    const c = config([
      {
        name: 'tournament',
        id: 't',
        strategies: ['boundaries', 'arithmetic', 'logic'],
        inner: { name: 'repair' },
      },
    ]);
    const out = path.join(dir, 'run');
    const summary = await runExperiment(c, { outDir: out });
    expect(summary.done).toBe(6);
    const db = new Database(path.join(out, 'runs.sqlite'), { readonly: true });
    try {
      const rows = db.prepare('SELECT task_id, seed, policy, arm FROM episodes').all() as {
        task_id: string;
        seed: number;
        policy: string;
        arm: string;
      }[];
      for (const task of TASKS) {
        const mine = rows.filter((r) => r.task_id === task);
        expect(mine.map((r) => r.policy).sort()).toEqual(['t/arithmetic', 't/boundaries', 't/logic']);
        expect(new Set(mine.map((r) => r.seed)).size).toBe(1);
        expect(mine.every((r) => r.policy === `t/${r.arm}`)).toBe(true);
      }
      const groups = tournamentGroups(db, summary.experimentId);
      expect(groups.map((g) => g.task).sort()).toEqual([...TASKS].sort());
      for (const g of groups) {
        expect(g.cards.map((c) => c.rank)).toEqual([1, 2, 3]);
        // Best first by the primary variant, resolved before unresolved at equal scores.
        for (let i = 1; i < g.cards.length; i++)
          expect(g.cards[i - 1]!.primary ?? -1).toBeGreaterThanOrEqual(g.cards[i]!.primary ?? -1);
      }
      // The threshold bug is a boundary: the boundaries strategy wins it.
      const ledger = groups.find((g) => g.task === TASKS[0])!;
      expect(ledger.cards[0]).toMatchObject({ strategy: 'boundaries', resolved: true });
    } finally {
      db.close();
    }
    const html = await readFile(path.join(out, 'report.html'), 'utf8');
    expect(html.match(/<section class="tournament"/g)).toHaveLength(2);
    expect(html.match(/class="card winner"/g)).toHaveLength(2);
    expect(html).toContain('data-strategy="boundaries"');
    const md = await readFile(path.join(out, 'report.md'), 'utf8');
    expect(md).toMatch(/## Tournaments[\s\S]*\| boundaries \| [12] \| 2 \|/);
  });
});
