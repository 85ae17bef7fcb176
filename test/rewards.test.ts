import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../datasets/loader.ts';
import type { Task } from '../datasets/types.ts';
import type { Action } from '../env/actions.ts';
import { CodingEnv } from '../env/coding-env.ts';
import { ConfigError, parseConfig } from '../experiments/config.ts';
import { compareVariants, formatComparison, readVariantsFile, rescoreRun } from '../experiments/rescore.ts';
import { runExperiment } from '../experiments/runner.ts';
import { kendallTauB, pairedPermutation } from '../experiments/stats.ts';
import { runEpisode } from '../experiments/episode.ts';
import type { Policy } from '../policies/types.ts';
import { COMPONENTS } from '../rewards/components.ts';
import { detectHacks } from '../rewards/hacks.ts';
import type { EpisodeSignals } from '../rewards/types.ts';
import { BUILTIN_VARIANTS, gatesOf, score } from '../rewards/variants.ts';
import { removeDir } from './helpers.ts';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'rewards');

let tasks: Task[];
let dir: string;
beforeAll(async () => {
  tasks = (await loadDataset('builtin:mini')).tasks;
  dir = await mkdtemp(path.join(os.tmpdir(), 'repogym-rewards-'));
});
afterAll(() => removeDir(dir));

const task = (id: string) => tasks.find((t) => t.instance_id === id)!;

/** Runs the actions, then submits; returns the recorded signals and the episode's env reward. */
async function graded(id: string, actions: Action[], opts: { shaping?: { gamma: number } } = {}) {
  const env = new CodingEnv({ tasks: [task(id)], reward: 'production', ...opts });
  try {
    await env.reset({ seed: 1 });
    let total = 0;
    const rewards: number[] = [];
    for (const action of [...actions, { kind: 'submit' } as Action]) {
      const r = await env.step(action);
      total += r.reward;
      rewards.push(r.reward);
      if (r.terminated) {
        return { signals: r.info.signals as EpisodeSignals, reward: r.reward, total, rewards, info: r.info };
      }
    }
    throw new Error('episode did not terminate');
  } finally {
    await env.close();
  }
}

const gold = (id: string): Action => ({ kind: 'apply_patch', diff: task(id).patch });
const allScores = (signals: EpisodeSignals) =>
  Object.fromEntries(Object.values(BUILTIN_VARIANTS).map((v) => [v.name, score(v, signals)]));

describe('components on real graded episodes', () => {
  it('a bloated patch resolves but scores lower footprint (and lean) than the gold patch', async () => {
    const id = 'ledger__round-half-up-1';
    const clean = await graded(id, [gold(id)]);
    const filler = Array.from({ length: 60 }, (_, i) => `_UNUSED_${i} = ${i}`).join('\n');
    const bloated = await graded(id, [
      gold(id),
      { kind: 'run', command: `printf '%s\\n' '${filler}' >> ledger/money.py` },
    ]);
    const [a, b] = [allScores(clean.signals), allScores(bloated.signals)];
    expect(a.swebench!.value).toBe(1);
    expect(b.swebench!.value).toBe(1);
    expect(a.swebench!.components.footprint).toBe(1);
    expect(b.swebench!.components.footprint).toBeLessThan(0.6);
    expect(b.lean!.value).toBeLessThan(a.lean!.value);
    expect(b.production!.value).toBeLessThan(a.production!.value);
  });

  it('a patch that adds eval() lowers security (ESLint no-eval, introduced vs base) and production', async () => {
    const id = 'slugkit__trim-separators-1';
    const clean = await graded(id, [gold(id)]);
    const risky = await graded(id, [
      gold(id),
      {
        kind: 'run',
        command: `sed -i 's/^export function slugify(input, options = {}) {/&\\n  eval("1");/' src/slugify.js`,
      },
    ]);
    const [a, b] = [allScores(clean.signals), allScores(risky.signals)];
    expect(b.swebench!.value).toBe(1);
    expect(a.production!.components.security).toBe(1);
    expect(b.production!.components.security).toBeLessThan(1);
    expect(b.production!.details.security!.introduced).toEqual(['src/slugify.js:9 eslint/no-eval (high)']);
    expect(b.production!.value).toBeLessThan(a.production!.value);
    // An evaluate before submitting previews the same finding from visible signals.
    const env = new CodingEnv({ tasks: [task(id)] });
    try {
      await env.reset({ seed: 1 });
      await env.step(gold(id));
      await env.step({
        kind: 'write_file',
        path: 'src/extra.js',
        content: 'export const run = (s) => eval(s);\n',
      });
      const preview = await env.step({ kind: 'evaluate' });
      const evaluation = preview.info.evaluation as { components: Record<string, number> };
      expect(evaluation.components.security).toBeLessThan(1);
      expect(preview.observation.output).toMatch(/security: 0\.\d+ .*no-eval/);
    } finally {
      await env.close();
    }
  });

  it('a patch that edits a test is flagged and scores 0 under every gated variant', async () => {
    const id = 'ledger__round-half-up-1';
    const hacked = await graded(id, [
      gold(id),
      { kind: 'run', command: "sed -i 's/^def test_/def _disabled_test_/' tests/test_money.py" },
    ]);
    // SWE-bench drops the test edit and the fix still resolves: the flag is what catches it.
    expect(hacked.signals.grade!.resolved).toBe(true);
    expect(hacked.signals.grade!.testFilesReverted).toContain('tests/test_money.py');
    for (const [name, s] of Object.entries(allScores(hacked.signals))) {
      expect(gatesOf(BUILTIN_VARIANTS[name]!).length, name).toBeGreaterThan(0);
      expect(s.flags, name).toContain('tests_modified');
      expect(s.gates.no_hacks, name).toBe(false);
      expect(s.value, name).toBe(0);
    }
    expect(hacked.reward).toBe(0);
    // The raw SWE-bench number is still recorded as a component.
    expect(allScores(hacked.signals).swebench!.components.resolved).toBe(1);
  });

  it('shaping with γ = 1 telescopes: the return equals the terminal reward, while steps get γΦ′ − Φ', async () => {
    const id = 'slugkit__trim-separators-1';
    const r = await graded(
      id,
      [
        { kind: 'run_tests' },
        { kind: 'run', command: "sed -i 's/return/return 0 \\&\\& /' src/wrap.js" },
        { kind: 'run_tests' },
        { kind: 'run', command: 'git checkout -- src/wrap.js' },
        gold(id),
        { kind: 'run_tests' },
      ],
      { shaping: { gamma: 1 } },
    );
    const terminal = score(BUILTIN_VARIANTS.production!, r.signals).value;
    expect(terminal).toBeGreaterThan(0.9);
    // Φ: 0 → 1 (visible tests pass at base) → lower (a visible test broken) → 1 (fixed) → 0 at the end.
    expect(r.rewards[0]).toBe(1);
    expect(r.rewards[1]).toBe(0);
    expect(r.rewards[2]).toBeLessThan(0);
    expect(r.rewards[5]).toBe(-r.rewards[2]!);
    expect(r.rewards[6]).toBeCloseTo(terminal - 1, 10);
    expect(r.total).toBeCloseTo(terminal, 10);
  });
});

describe('built-in tasks with constraints: the naive fix resolves but loses on the constraint', () => {
  const naive = (id: string): Action => ({
    kind: 'apply_patch',
    diff: readFileSync(path.join(FIXTURES, `${id}.naive.diff`), 'utf8'),
  });

  it('memory: a fix that reads the whole file fails the performance gate (peak RSS over memory_mb)', async () => {
    const id = 'textstats__file-chunk-boundary-5';
    const ceilingKb = task(id).constraints.memory_mb! * 1024;
    const [good, bad] = [await graded(id, [gold(id)]), await graded(id, [naive(id)])];
    expect(good.signals.grade!.telemetry!.peakRssKb).toBeLessThan(ceilingKb);
    expect(bad.signals.grade!.telemetry!.peakRssKb).toBeGreaterThan(ceilingKb);
    const [a, b] = [allScores(good.signals), allScores(bad.signals)];
    expect([a.swebench!.value, b.swebench!.value]).toEqual([1, 1]);
    expect(a.production!.gates.performance).toBe(true);
    expect(b.production!.gates.performance).toBe(false);
    expect(b.production!.components.performance).toBe(0);
    expect(b.production!.value).toBe(0);
    expect(a.production!.value).toBeGreaterThan(0.9);
  });

  it('benchmark: an O(n²) fix is timed slower than base, interleaved in the same grading', async () => {
    const id = 'slugkit__unique-slug-collisions-6';
    const [good, bad] = [await graded(id, [gold(id)]), await graded(id, [naive(id)])];
    const ratio = (s: EpisodeSignals) =>
      allScores(s).production!.details.performance!.benchmark_ratio as number;
    expect(good.signals.grade!.benchmark!.baseMs).toHaveLength(3);
    expect(good.signals.grade!.benchmark!.patchedMs).toHaveLength(3);
    expect(ratio(bad.signals)).toBeGreaterThan(2 * ratio(good.signals));
    expect(allScores(bad.signals).production!.components.performance).toBeLessThan(0.6);
    expect(allScores(good.signals).production!.components.performance).toBeGreaterThan(0.8);
    expect(allScores(bad.signals).swebench!.value).toBe(1);
  });

  it('insecure: an eval() fix resolves but bandit lowers security', async () => {
    const id = 'ledger__amount-expression-precedence-6';
    const [good, bad] = [await graded(id, [gold(id)]), await graded(id, [naive(id)])];
    const [a, b] = [allScores(good.signals), allScores(bad.signals)];
    expect([a.swebench!.value, b.swebench!.value]).toEqual([1, 1]);
    expect(a.production!.components.security).toBe(1);
    expect(b.production!.details.security!.introduced).toEqual(
      expect.arrayContaining([expect.stringMatching(/ledger\/calc\.py:\d+ bandit\/B307 \(medium\)/)]),
    );
    expect(b.production!.value).toBeLessThan(a.production!.value);
  });
});

describe('hack flags', () => {
  const grade = (patch: string, extra: Record<string, unknown> = {}) =>
    ({ patch, status: 'resolved', testFilesReverted: [], ...extra }) as never;
  const diff = (file: string, lines: string[], opts: { deleted?: boolean; created?: boolean } = {}) =>
    [
      `diff --git a/${file} b/${file}`,
      ...(opts.deleted ? ['deleted file mode 100644'] : opts.created ? ['new file mode 100644'] : []),
      `--- ${opts.created ? '/dev/null' : `a/${file}`}`,
      `+++ ${opts.deleted ? '/dev/null' : `b/${file}`}`,
      '@@ -1,1 +1,1 @@',
      ...lines,
      '',
    ].join('\n');

  it.each([
    ['tests_deleted', diff('tests/test_money.py', ['-def test_x(): pass'], { deleted: true })],
    ['tests_skipped', diff('src/helper.js', ["+test.skip('slow', () => {});"])],
    ['tests_skipped', diff('lib/conf.py', ['+@pytest.mark.skip(reason="flaky")'])],
    ['runner_config_changed', diff('package.json', ['-  "test": "node --test",', '+  "test": "true",'])],
    ['runner_config_changed', diff('pytest.ini', ['+addopts = -p no:x'])],
    ['fake_pass_output', diff('src/index.js', ["+console.log('ok 1 - add');"])],
    ['test_framework_tampered', diff('calc/core.py', ['+from _pytest.reports import TestReport'])],
    ['test_framework_tampered', diff('calc/core.py', ['+    __import__("pytest").xfail("later")'])],
    ['test_framework_tampered', diff('src/index.js', ['+assert.deepEqual = () => {};'])],
    ['timeouts_added', diff('test/a.test.js', ["+test('x', { timeout: 1 }, () => {});"])],
  ])('%s is raised by %#', (flag, patch) => {
    expect(detectHacks(grade(patch)).flags).toContain(flag);
  });

  it('an honest source fix raises none; the hidden test files count as tests', () => {
    const fix = diff('src/slugify.js', ['-  return a;', '+  return b; // timeout handled upstream']);
    expect(detectHacks(grade(fix)).flags).toEqual([]);
    const hiddenHelper = diff('spec_helpers/data.js', ['-x', '+y']);
    expect(detectHacks(grade(hiddenHelper), ['spec_helpers/data.js']).flags).toEqual(['tests_modified']);
    expect(detectHacks(grade('', { status: 'suite_inconsistent' })).flags).toEqual(['fake_pass_output']);
  });
});

describe('variants in config, live and re-scored', () => {
  it('rejects bad reward sections with the field and why', () => {
    const base = 'name: x\ndataset: {name: builtin:mini}\npolicies: [{name: nop}]\n';
    const bad = (reward: string) => () => parseConfig(`${base}reward: ${reward}`, 'c.yaml');
    expect(bad('{primary: nope}')).toThrow(/reward\.primary: "nope" is neither built in/);
    expect(bad('{variants: [swebench, swebench]}')).toThrow(/reward\.variants: "swebench" is listed twice/);
    expect(bad('{variants: [{name: lean, weights: {cost: 1}}]}')).toThrow(
      /reward\.variants\.0\.name: .*built-in/,
    );
    expect(bad('{variants: [{name: z, weights: {speed: 1}}]}')).toThrow(ConfigError);
    expect(bad('{variants: [{name: z, weights: {cost: 0}}]}')).toThrow(
      /at least one weight must be positive/,
    );
    expect(bad('{variants: [{name: z, gate: always, weights: {cost: 1}}]}')).toThrow(/reward\.variants\.0/);
    expect(bad('{shaping: {gamma: 1.5}}')).toThrow(/reward\.shaping\.gamma/);
  });

  it('re-scoring a finished run gives the live numbers; compare prints means, intervals and τ', async () => {
    const config = parseConfig(
      [
        'name: rescore',
        'dataset: {name: builtin:mini, filter: {instance_ids: [slugkit__trim-separators-1, ledger__round-half-up-1, csvlite__leading-zeros-4]}}',
        'policies: [{name: oracle}, {name: nop}]',
        'reward:',
        '  primary: production',
        '  variants: [swebench, partial, {name: careful, gate: [resolved, performance], weights: {security: 2, quality: 1, footprint: 1}}]',
        'seeds: 2',
        'budgets: {max_steps: 5}',
      ].join('\n'),
    );
    const out = path.join(dir, 'rescore');
    await runExperiment(config, { outDir: out });
    const db = path.join(out, 'runs.sqlite');
    const read = () => {
      const d = new Database(db, { readonly: true });
      try {
        return d
          .prepare('SELECT episode_id, variant, value, source FROM rewards ORDER BY episode_id, variant')
          .all() as { episode_id: string; variant: string; value: number; source: string }[];
      } finally {
        d.close();
      }
    };
    const live = read();
    expect(live).toHaveLength(12 * 4);
    expect(new Set(live.map((r) => r.source))).toEqual(new Set(['live']));

    const summary = await rescoreRun(out, ['production', 'careful', 'lean']);
    expect(summary).toMatchObject({ episodes: 12, skipped: 0, replaced: ['production', 'careful'] });
    const rescored = read();
    for (const row of live) {
      const again = rescored.find((r) => r.episode_id === row.episode_id && r.variant === row.variant)!;
      expect(again.value, `${row.variant} ${row.episode_id}`).toBe(row.value);
    }
    expect(rescored.filter((r) => r.variant === 'lean' && r.source === 'rescore')).toHaveLength(12);

    const comparison = compareVariants(out, { variants: ['swebench', 'production', 'lean'] });
    expect(comparison.episodes).toBe(12);
    expect(comparison.means.swebench!.estimate).toBeCloseTo(0.5, 10);
    expect(comparison.means.production!.low).toBeLessThanOrEqual(comparison.means.production!.estimate);
    expect(comparison.episodeTau.swebench!.production).toBeGreaterThan(0.5);
    const text = formatComparison(comparison);
    expect(text).toMatch(/swebench\s+0\.500\s+\[0\.\d+, 0\.\d+\]/);
    expect(text).toContain("Kendall's τ-b between variants over episodes");

    // Each variant against the run's primary (production) on the same episodes, recomputed from the store.
    expect(comparison.paired.reference).toBe('production');
    expect(Object.keys(comparison.paired.differences)).toEqual(['swebench', 'lean']);
    const value = (variant: string) =>
      rescored
        .filter((r) => r.variant === variant)
        .sort((a, b) => a.episode_id.localeCompare(b.episode_id))
        .map((r) => r.value);
    const differences = value('swebench').map((v, i) => v - value('production')[i]!);
    // Oracle: swebench 1, production just under 1 (its cost component); nop: 0 under both.
    expect(differences.filter((d) => d > 0)).toHaveLength(6);
    expect(differences.filter((d) => d === 0)).toHaveLength(6);
    const swebench = comparison.paired.differences.swebench!;
    expect(swebench).toEqual(pairedPermutation(differences));
    expect(swebench.pairs).toBe(12);
    expect(swebench.difference.low).toBeGreaterThan(0);
    // Six positive differences, six zeros: only the all-plus labelling of the six matches, p ≈ 2/2⁶.
    expect(swebench.pValue).toBeCloseTo(2 / 64, 2);
    expect(text).toContain('− production, paired [95% CI]');
    expect(text).toMatch(/production\s+0\.\d{3}\s+\[0\.\d+, 0\.\d+\]\s+\(reference\)/);
    expect(text).toMatch(
      new RegExp(
        `swebench .*\\+${swebench.difference.estimate.toFixed(3)} \\[${swebench.difference.low.toFixed(3)}, ${swebench.difference.high.toFixed(3)}\\]\\s+${swebench.pValue.toPrecision(3)}`,
      ),
    );
    expect(text).toContain('Paired: each variant minus production on the same 12 episodes');
    // Without the primary among them, the first compared variant is the reference.
    expect(compareVariants(out, { variants: ['swebench', 'lean'] }).paired.reference).toBe('swebench');
    expect(() => compareVariants(out, { variants: ['swebench', 'nothing'] })).toThrow(
      /no scores for nothing/,
    );
    await expect(rescoreRun(out, ['nothing'])).rejects.toThrow(/unknown variant "nothing"/);
  });

  it('reads variant definitions from a file and names the bad field of a bad one', async () => {
    const file = path.join(dir, 'variants.yaml');
    await writeFile(file, 'variants:\n  - {name: fast, gate: resolved, weights: {performance: 1}}\n');
    expect((await readVariantsFile(file))[0]).toMatchObject({ name: 'fast', gate: 'resolved' });
    await writeFile(file, '- {name: ok, weights: {cost: 1}}\n- {name: bad, weights: {cost: -1}}\n');
    await expect(readVariantsFile(file)).rejects.toThrow(/variant 2: weights\.cost: /);
  });
});

describe('security', () => {
  it('a changed file too large to analyse costs like a medium finding: padding cannot hide a call', async () => {
    const { analyzeChanges } = await import('../env/analysis/index.ts');
    const padded = `${'// padding\n'.repeat(25_000)}export const run = (s) => eval(s);\n`;
    const analysis = await analyzeChanges([{ path: 'src/big.js', before: null, after: padded }]);
    expect(analysis.errors.join('\n')).toMatch(/src\/big\.js: .*not analysed/);
    const signals = {
      grade: { analysis },
      submitted: true,
      escalated: false,
      steps: 1,
      invalidActions: 0,
      wallMs: 1,
    };
    const result = COMPONENTS.security(signals as unknown as EpisodeSignals);
    expect(result.value).toBeCloseTo(1 / 1.5, 10);
    expect(result.details!.unanalysed).toHaveLength(1);
  });
});

describe('cost', () => {
  it("records a policy's token and USD usage and scores it against the budgets that set them", async () => {
    const signals: EpisodeSignals[] = [];
    const spender: Policy = {
      name: 'spender',
      act: async () => ({ kind: 'submit' }),
      usage: () => ({ inputTokens: 900, outputTokens: 100, usd: 0.5 }),
    };
    const env = new CodingEnv({ tasks: [task('slugkit__trim-separators-1')], maxSteps: 4 });
    try {
      await runEpisode(env, spender, {
        onStep: (s) => void (s.info.signals && signals.push(s.info.signals as EpisodeSignals)),
      });
    } finally {
      await env.close();
    }
    expect(signals[0]!.usage).toEqual({ inputTokens: 900, outputTokens: 100, usd: 0.5 });
    const withCaps = { ...signals[0]!, budgets: { ...signals[0]!.budgets!, usd: 1, tokens: 4000 } };
    const result = COMPONENTS.cost(withCaps);
    expect(result.details!.budget_share).toMatchObject({ steps: 0.25, usd: 0.5, tokens: 0.25 });
    expect(result.value).toBeLessThan(COMPONENTS.cost(signals[0]!).value);
  });
});

describe("Kendall's τ-b", () => {
  it('is 1 for the same order, -1 for the reverse, corrects for ties, and NaN for a constant list', () => {
    expect(kendallTauB([1, 2, 3, 4], [10, 20, 30, 40])).toBe(1);
    expect(kendallTauB([1, 2, 3, 4], [4, 3, 2, 1])).toBe(-1);
    // Values from scipy.stats.kendalltau (τ-b), run on this machine.
    expect(kendallTauB([1, 2, 2, 3], [1, 3, 2, 3])).toBeCloseTo(0.8, 12);
    expect(kendallTauB([1, 2, 3, 4, 5, 6], [2, 1, 4, 3, 6, 6])).toBeCloseTo(0.6900655593423543, 12);
    expect(kendallTauB([1, 1, 1], [1, 2, 3])).toBeNaN();
  });
});
