import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compare, rankCandidates, starsToRating, type RankKey } from '../experiments/compare.ts';
import { loadBandit, type BanditState } from '../policies/bandits/index.ts';
import { COMPONENT_NAMES } from '../rewards/components.ts';
import type { EpisodeSignals } from '../rewards/types.ts';
import { ptyCli, removeDir } from './helpers.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'repogym.js');
// boundaries resolves it (`<` for `<=`); arithmetic and logic have no template that does.
const TASK = 'ledger__low-stock-threshold-3';
const STRATEGIES = ['boundaries', 'arithmetic', 'logic'];
/** The CLI's compare run on TASK that both the automatic and the --human test start from. */
const compareArgs = (out: string) => [
  'compare',
  '--task',
  TASK,
  '--strategies',
  STRATEGIES.join(','),
  '--max-steps',
  '12',
  '--out',
  out,
];
// Real episodes in real sandboxes: on a loaded machine a comparison can outlast vitest's default timeout.
const EPISODES_TIMEOUT = 180_000;

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('node', [BIN, ...args], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

interface EpisodeRow {
  id: string;
  arm: string;
  seed: number;
  epoch: number;
  reward: number;
  resolved: number;
  signals_json: string;
  policy_info_json: string;
}

function readRun(out: string) {
  const db = new Database(path.join(out, 'runs.sqlite'), { readonly: true });
  try {
    const episodes = db.prepare('SELECT * FROM episodes ORDER BY epoch, arm').all() as EpisodeRow[];
    const rewards = db.prepare('SELECT episode_id, variant, value FROM rewards').all() as {
      episode_id: string;
      variant: string;
      value: number;
    }[];
    const bandit = db.prepare('SELECT policy, state_json FROM bandit_state').all() as {
      policy: string;
      state_json: string;
    }[];
    return { episodes, rewards, bandit };
  } finally {
    db.close();
  }
}

const tournamentOf = (e: EpisodeRow) =>
  (
    JSON.parse(e.policy_info_json) as {
      tournament: {
        id: string;
        rank: number;
        winner: string;
        bandit: { context: number[]; reward?: number; skipped?: string };
      };
    }
  ).tournament;

/** The bandit's per-arm estimates for the context a comparison used. */
async function banditMeans(state: string, context: number[]) {
  const bandit = loadBandit(JSON.parse(state) as BanditState);
  const selection = await bandit.select({ features: context });
  return {
    means: selection.info!.means as Record<string, number>,
    counts: (JSON.parse(state) as { counts: number[] }).counts,
    arms: bandit.arms,
  };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'repogym-compare-'));
});
afterAll(() => removeDir(dir));

describe('the winner rule', () => {
  const key = (over: Partial<RankKey>): RankKey => ({
    primary: 0.5,
    resolved: false,
    infra: false,
    diffLines: 2,
    steps: 5,
    ...over,
  });

  it('orders by primary, then resolved, smaller diff, fewer steps, then the given order; unmeasured and infra last', () => {
    expect(rankCandidates([key({ primary: 0.4 }), key({ primary: 0.9 })])).toEqual([1, 0]);
    expect(rankCandidates([key({}), key({ resolved: true })])).toEqual([1, 0]);
    expect(rankCandidates([key({ diffLines: 9, steps: 1 }), key({ diffLines: 1, steps: 9 })])).toEqual([
      1, 0,
    ]);
    expect(rankCandidates([key({ steps: 7 }), key({ steps: 3 })])).toEqual([1, 0]);
    expect(rankCandidates([key({}), key({})])).toEqual([0, 1]);
    expect(
      rankCandidates([
        key({ infra: true, primary: null }),
        key({ primary: null, resolved: true }),
        key({ primary: 0 }),
      ]),
    ).toEqual([2, 1, 0]);
  });

  it('maps stars to [0, 1] and refuses what is not a star', () => {
    expect([1, 2, 3, 4, 5].map((s) => starsToRating(s))).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(() => starsToRating(6)).toThrow(/1\.\.5/);
    expect(() => starsToRating(2.5)).toThrow(/1\.\.5/);
  });
});

describe('repogym compare', () => {
  it(
    'runs three repair strategies side by side, prints the table and the diffs, picks the winner, stores all',
    async () => {
      const out = path.join(dir, 'auto');
      const r = await cli(compareArgs(out));
      expect(r.stderr).not.toMatch(/repogym: /);
      expect(r.code).toBe(0);
      const header = r.stdout.split('\n').find((l) => l.includes(TASK))!;
      expect(header.split('│').map((c) => c.trim())).toEqual(['', TASK, ...STRATEGIES, '']);
      for (const label of [
        'resolved',
        'production (primary)',
        'swebench',
        'partial',
        ...COMPONENT_NAMES,
        'diff',
        'steps',
        'wall time',
        'cost',
      ])
        expect(r.stdout).toMatch(new RegExp(`^│ ${label.replace(/[()]/g, '\\$&')} +│`, 'm'));
      expect(r.stdout).toMatch(/^│ resolved +│ yes +│ no +│ no +│$/m);
      expect(r.stdout).toMatch(
        /^── boundaries \(rank 1\): 1 file, \+1 −1\n(.*\n)*\+.*quantity <= threshold/m,
      );
      expect(r.stdout).toMatch(/^bandit linucb \(3 updates from production\): boundaries /m);
      expect(r.stdout).toMatch(/^winner: boundaries \(production 0\.\d+, resolved\)$/m);

      const run = readRun(out);
      expect(run.episodes.map((e) => e.arm).sort()).toEqual([...STRATEGIES].sort());
      // Paired: one round, one seed, one tournament.
      expect(new Set(run.episodes.map((e) => `${e.epoch}/${e.seed}/${tournamentOf(e).id}`)).size).toBe(1);
      const winner = run.episodes.find((e) => e.arm === 'boundaries')!;
      expect(winner.resolved).toBe(1);
      expect(tournamentOf(winner)).toMatchObject({ rank: 1, winner: 'boundaries' });
      expect(run.rewards.filter((x) => x.variant === 'production')).toHaveLength(3);
      expect(run.bandit.map((b) => b.policy)).toEqual(['bandit']);
      const { means } = await banditMeans(run.bandit[0]!.state_json, tournamentOf(winner).bandit.context);
      expect(means.boundaries).toBeGreaterThan(0);
      expect(means.arithmetic).toBe(0);
    },
    EPISODES_TIMEOUT,
  );

  it('names the valid strategies when one is unknown, and runs nothing', async () => {
    const out = path.join(dir, 'unknown');
    const repair = await cli(['compare', '--task', TASK, '--strategies', 'boundaries,nope', '--out', out]);
    expect(repair.code).toBe(2);
    expect(repair.stderr.trim()).toBe(
      'repogym: unknown repair strategy "nope" (valid: boundaries, arithmetic, logic, structure)',
    );
    const llm = await cli([
      'compare',
      '--task',
      TASK,
      '--policy',
      'llm',
      '--base-url',
      'http://127.0.0.1:9/v1',
      '--model',
      'm',
      '--strategies',
      'minimal-patch,wizardry,boundaries',
      '--out',
      out,
    ]);
    expect(llm.code).toBe(2);
    expect(llm.stderr).toMatch(
      /^repogym: unknown llm strategies "wizardry", "boundaries" \(valid: .*minimal-patch.*reproduce-first/,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('--human without a terminal fails before running anything', async () => {
    const out = path.join(dir, 'no-tty');
    const r = await cli([
      'compare',
      '--task',
      TASK,
      '--strategies',
      'boundaries,logic',
      '--human',
      '--out',
      out,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      'repogym: --human asks a person to rate in the terminal, but stdin is not a terminal',
    );
    expect(existsSync(out)).toBe(false);
  });
});

describe('compare (library) with ratings', () => {
  it(
    'a skipped candidate is neither learned from nor a winner; the next comparison extends the same bandit',
    async () => {
      const out = path.join(dir, 'library');
      const options = {
        dataset: 'builtin:mini',
        task: TASK,
        strategies: ['boundaries', 'logic'],
        policy: { name: 'repair' as const },
        outDir: out,
        maxSteps: 12,
        rater: 'tester',
      };
      const seen: string[][] = [];
      const first = await compare({
        ...options,
        rate: async (candidates, head) => {
          seen.push(candidates.map((c) => `${c.strategy}:${c.rank}:${c.resolved}`));
          expect(head.primary).toBe('human');
          return [null, 0.5];
        },
      });
      // Before rating every human score is unmeasured: the resolved candidate ranks first.
      expect(seen).toEqual([['boundaries:1:true', 'logic:2:false']]);
      expect(first.primary).toBe('human');
      expect(first.winner).toBe('logic');
      expect(first.candidates.map((c) => c.learned)).toEqual([{ skipped: 'not rated' }, { reward: 0.5 }]);
      expect(first.candidates[1]!.human).toMatchObject({ rating: 0.5, rank: 1, of: 1, rater: 'tester' });

      const second = await compare({ ...options, rate: async () => [1, 0] });
      expect(second.epoch).toBe(1);
      expect(second.winner).toBe('boundaries');
      expect(second.experimentId).toBe(first.experimentId);

      const run = readRun(out);
      const [skipped] = run.episodes.filter((e) => e.epoch === 0 && e.arm === 'boundaries');
      expect((JSON.parse(skipped!.signals_json) as EpisodeSignals).human).toBeUndefined();
      expect(tournamentOf(skipped!).bandit).toMatchObject({ skipped: 'not rated' });
      const { counts, arms } = await banditMeans(run.bandit[0]!.state_json, second.bandit.context);
      expect(Object.fromEntries(arms.map((a, i) => [a, counts[i]]))).toEqual({ boundaries: 1, logic: 2 });

      await expect(
        compare({ ...options, strategies: ['boundaries', 'arithmetic'], rate: async () => [] }),
      ).rejects.toThrow(/holds compare-\w+, a run with another policy, strategies/);
    },
    EPISODES_TIMEOUT,
  );
});

describe('repogym compare --human in a terminal', () => {
  it(
    'rates with digits and arrow keys; the ratings land in the store and teach the bandit',
    async () => {
      const out = path.join(dir, 'human');
      const { child, exited, output, waitFor } = ptyCli([...compareArgs(out), '--human', '--rater', 'pty']);
      try {
        await waitFor(/boundaries \(1\/3\): how good is this result\?/);
        expect(output()).toMatch(/│ human +│ n\/a +│/); // the table came first, not yet rated
        expect(output()).toMatch(/── boundaries \(rank 1\)/); // and the diffs
        child.stdin.write('5\r'); // digit: excellent
        await waitFor(/arithmetic \(2\/3\): how good is this result\?/);
        child.stdin.write('\x1b[B\r'); // from the default (3, acceptable) one down: good
        await waitFor(/logic \(3\/3\): how good is this result\?/);
        child.stdin.write('\x1b[A\x1b[A\r'); // two up from acceptable: unusable
        await waitFor(/^winner: .*$/m);
        child.stdin.end();
        expect(await exited).toBe(0);
      } finally {
        if (child.exitCode === null) child.kill();
      }
      expect(output()).toMatch(
        /human: boundaries 1\.00 \(rank 1\/3\), arithmetic 0\.75 \(rank 2\/3\), logic 0\.00 \(rank 3\/3\)/,
      );
      expect(output()).toMatch(/bandit linucb \(3 updates from human\)/);
      expect(output()).toMatch(/winner: boundaries \(human 1\.000, resolved\)/);

      const run = readRun(out);
      const expected: Record<string, number> = { boundaries: 1, arithmetic: 0.75, logic: 0 };
      for (const e of run.episodes) {
        const human = (JSON.parse(e.signals_json) as EpisodeSignals).human!;
        expect(human).toMatchObject({ rating: expected[e.arm], of: 3, rater: 'pty' });
        const stored = run.rewards.find((x) => x.episode_id === e.id && x.variant === 'human')!;
        expect(stored.value).toBe(human.rating);
        expect(e.reward).toBe(human.rating); // the primary's return
        expect(tournamentOf(e).bandit.reward).toBe(human.rating);
      }
      const context = tournamentOf(run.episodes[0]!).bandit.context;
      const { means, counts } = await banditMeans(run.bandit[0]!.state_json, context);
      expect(counts).toEqual([1, 1, 1]);
      // A fresh LinUCB estimates 0 for every arm; one rating each moves them in the order of the ratings.
      expect(means.boundaries).toBeGreaterThan(means.arithmetic!);
      expect(means.arithmetic).toBeGreaterThan(0);
      expect(means.logic).toBe(0);
    },
    EPISODES_TIMEOUT,
  );
});
