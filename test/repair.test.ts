import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../datasets/loader.ts';
import type { Task } from '../datasets/types.ts';
import { CodingEnv } from '../env/coding-env.ts';
import { git } from '../env/git.ts';
import { loadConfig, parseConfig } from '../experiments/config.ts';
import { runEpisode, type StepRecord } from '../experiments/episode.ts';
import { loadMatrix } from '../experiments/replay.ts';
import { runExperiment } from '../experiments/runner.ts';
import {
  combine,
  probeSuspicion,
  rankFiles,
  repoFileOf,
  traceSuspicion,
} from '../policies/repair/localise.ts';
import { orderCandidates, strategyContext } from '../policies/repair/policy.ts';
import type { BanditContext } from '../policies/bandits/index.ts';
import { REPAIR_STRATEGIES, repairPolicy, repairStrategy } from '../policies/repair/index.ts';
import { ALL_KINDS } from '../datasets/synth/mutate.ts';
import { makeRepo, removeDir } from './helpers.ts';

describe('localisation', () => {
  const files = ['shop/pricing.py', 'tests/test_pricing.py', 'src/range.js', 'test/range.test.js'];

  it('maps printed paths to repository files by longest suffix', () => {
    expect(repoFileOf('/tmp/sandbox-1/work/shop/pricing.py', files)).toBe('shop/pricing.py');
    expect(repoFileOf('file:///x/y/src/range.js', files)).toBe('src/range.js');
    expect(repoFileOf('/elsewhere/pricing.py', files)).toBeUndefined();
  });

  it('reads Python and JavaScript stack frames, drops test files, ranks the innermost frame highest', () => {
    const python = [
      'Traceback (most recent call last):',
      '  File "/w/tests/test_pricing.py", line 8, in test_ten',
      '  File "/w/shop/pricing.py", line 3, in bulk_discount',
      '  File "/w/shop/pricing.py", line 6, in _round',
      'shop/pricing.py:6: ZeroDivisionError',
    ].join('\n');
    const fromPython = traceSuspicion(python, files);
    expect([...fromPython.keys()]).toEqual(['shop/pricing.py']);
    expect(fromPython.get('shop/pricing.py')!.get(6)!).toBeGreaterThan(
      fromPython.get('shop/pricing.py')!.get(3)!,
    );
    const js =
      '    at inRange (file:///w/src/range.js:2:10)\n    at TestContext.<anonymous> (file:///w/test/range.test.js:5:3)';
    expect([...traceSuspicion(js, files).get('src/range.js')!.keys()]).toEqual([2]);
  });

  it('reads the probe’s Ochiai lines (test files dropped) and combines them with trace frames', () => {
    const spectrum = probeSuspicion(
      'noise\nREPOGYM_OCHIAI shop/pricing.py:4 0.5000\nREPOGYM_OCHIAI tests/test_pricing.py:3 1.0000\nREPOGYM_OCHIAI src/range.js:2 0.2500\n',
      files,
    );
    expect([...spectrum.keys()].sort()).toEqual(['shop/pricing.py', 'src/range.js']);
    const merged = combine(spectrum, traceSuspicion('    at inRange (/w/src/range.js:2:3)', files));
    expect(rankFiles(merged)[0]).toBe('src/range.js');
  });

  it('breaks ties in the spectrum with the trace: the frame where the error surfaced ranks first', () => {
    const spectrum = probeSuspicion(
      ['shop/pricing.py:3 1.0000', 'shop/pricing.py:8 1.0000', 'shop/pricing.py:12 1.0000']
        .map((l) => `REPOGYM_OCHIAI ${l}`)
        .join('\n'),
      files,
    );
    const trace = 'shop/pricing.py:3: in total\nshop/pricing.py:12: TypeError';
    const merged = combine(spectrum, traceSuspicion(trace, files)).get('shop/pricing.py')!;
    expect(merged.get(12)!).toBeGreaterThan(merged.get(3)!);
    expect(merged.get(3)!).toBeGreaterThan(merged.get(8)!);
  });
});

describe('candidate order', () => {
  const candidate = (kind: string, score: number, line: number) => ({
    id: `${kind}-${line}`,
    kind: kind as never,
    line,
    description: kind,
    source: `${kind}${line}`,
    file: 'a.py',
    score,
  });

  it('puts the strategy’s families first among equally suspicious lines, suspicion first across bands', () => {
    const pool = [
      candidate('negate_condition', 1, 3),
      candidate('flip_comparison', 1, 4),
      candidate('swap_operator', 0.2, 9),
      candidate('off_by_one', 0, 12),
    ];
    expect(orderCandidates(pool, repairStrategy('boundaries')).map((c) => c.kind)).toEqual([
      'flip_comparison',
      'negate_condition',
      // 0.2 and 0 fall in the same band: the family order decides there too.
      'off_by_one',
      'swap_operator',
    ]);
    expect(orderCandidates(pool, repairStrategy('logic'))[0]!.kind).toBe('negate_condition');
  });

  it('the chooser’s context: per family, the share of the top-scored lines that admit it', () => {
    const pool = [
      candidate('negate_condition', 1, 3),
      candidate('flip_comparison', 1, 3),
      candidate('flip_comparison', 1, 4),
      candidate('swap_operator', 0.5, 9),
    ];
    const at = (line: number, score: number) => ({ file: 'a.py', line, score });
    const share = (context: BanditContext, kind: string) =>
      context.features[1 + ALL_KINDS.indexOf(kind as never)];
    // Lines 3 and 4 tie at the top; line 7 is as suspicious but admits no candidate; line 9 is below.
    const context = strategyContext(pool, [at(3, 1), at(4, 1), at(7, 1), at(9, 0.5)]);
    expect(context.features[0]).toBe(1);
    expect(share(context, 'flip_comparison')).toBeCloseTo(2 / 3);
    expect(share(context, 'negate_condition')).toBeCloseTo(1 / 3);
    expect(share(context, 'swap_operator')).toBe(0);
    // Nothing suspected: every line a candidate was built on counts.
    const blind = strategyContext(pool, []);
    expect(share(blind, 'flip_comparison')).toBeCloseTo(2 / 3);
    expect(share(blind, 'swap_operator')).toBeCloseTo(1 / 3);
    expect(strategyContext([], []).features).toEqual([1, ...ALL_KINDS.map(() => 0)]);
  });

  it('the strategies cover every template family, each strategy with its own first family', () => {
    const firsts = REPAIR_STRATEGIES.map((s) => s.families[0]);
    expect(new Set(firsts).size).toBe(REPAIR_STRATEGIES.length);
    expect(new Set(REPAIR_STRATEGIES.flatMap((s) => s.families))).toEqual(new Set(ALL_KINDS));
    expect(() => repairStrategy('nope')).toThrow(/unknown repair strategy "nope".*boundaries/);
  });
});

const PRICING = `"""Prices for the shop."""


def bulk_discount(quantity, unit_price):
    # 10% off from 10 items up
    total = quantity * unit_price
    if quantity >= 10:
        total = total * 0.9
    return round(total, 2)


def shipping(weight_kg):
    if weight_kg <= 0:
        raise ValueError("weight must be positive")
    return 5 if weight_kg < 2 else 9
`;

const PRICING_TESTS = `from shop.pricing import bulk_discount, shipping


def test_nine_items_pay_full_price():
    assert bulk_discount(9, 10) == 90


def test_ten_items_get_the_discount():
    assert bulk_discount(10, 10) == 90


def test_many_items_get_the_discount():
    assert bulk_discount(20, 10) == 180


def test_light_parcel():
    assert shipping(1) == 5


def test_heavy_parcel():
    assert shipping(3) == 9
`;

const RANGE = `// Half-open ranges.
export function inRange(x, lo, hi) {
  return x >= lo && x < hi;
}

export function width(lo, hi) {
  return hi - lo;
}
`;

const RANGE_TESTS = `import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inRange, width } from '../src/range.js';

test('inside', () => assert.equal(inRange(2, 1, 5), true));
test('below', () => assert.equal(inRange(0, 1, 5), false));
test('at the upper bound', () => assert.equal(inRange(5, 1, 5), false));
test('width', () => assert.equal(width(1, 5), 4));
`;

/**
 * A task whose base commit has `bug` applied to `file` of a correct repository; `hide` replaces test files at
 * the base commit (the hidden tests come back through test_patch, as in SWE-bench).
 */
async function taskWithBug(
  files: Record<string, string>,
  file: string,
  bug: [string, string],
  row: Partial<Task>,
  hide: Record<string, string> = {},
): Promise<{ task: Task; dir: string; correct: string; jsonl: string }> {
  const { dir, commit } = await makeRepo(files);
  await writeFile(path.join(dir, file), files[file]!.replace(bug[0], bug[1]));
  for (const [test, visible] of Object.entries(hide)) await writeFile(path.join(dir, test), visible);
  await git(['commit', '-q', '-am', 'bug'], {
    cwd: dir,
    env: {
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@t',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@t',
    },
  });
  const base = (await git(['rev-parse', 'HEAD'], { cwd: dir })).trim();
  const hidden = Object.keys(hide);
  const patch = await git(['diff', base, commit, '--', '.', ...hidden.map((t) => `:!${t}`)], { cwd: dir });
  const testPatch = hidden.length ? await git(['diff', base, commit, '--', ...hidden], { cwd: dir }) : '';
  const jsonl = path.join(dir, '..', `${path.basename(dir)}.jsonl`);
  await writeFile(
    jsonl,
    JSON.stringify({
      instance_id: `fixture__${path.basename(file)}`,
      repo: dir,
      base_commit: base,
      patch,
      test_patch: testPatch,
      problem_statement: 'A regression.',
      ...row,
    }) + '\n',
  );
  const loaded = await loadDataset(jsonl);
  expect(loaded.errors).toEqual([]);
  return { task: loaded.tasks[0]!, dir, correct: commit, jsonl };
}

async function episode(task: Task, strategy: string, maxSteps = 30) {
  const env = new CodingEnv({ tasks: [task], maxSteps });
  const policy = repairPolicy({ strategy });
  const steps: StepRecord[] = [];
  try {
    const result = await runEpisode(env, policy, { seed: 0, onStep: (s) => steps.push(s) });
    return { result, steps, info: policy.info!() };
  } finally {
    await env.close();
  }
}

describe('repair policy on real repositories', () => {
  let python: Awaited<ReturnType<typeof taskWithBug>>;
  let js: Awaited<ReturnType<typeof taskWithBug>>;
  beforeAll(async () => {
    python = await taskWithBug(
      { 'shop/__init__.py': '', 'shop/pricing.py': PRICING, 'tests/test_pricing.py': PRICING_TESTS },
      'shop/pricing.py',
      ['quantity >= 10', 'quantity > 10'],
      {
        FAIL_TO_PASS: ['tests/test_pricing.py::test_ten_items_get_the_discount'],
        PASS_TO_PASS: ['tests/test_pricing.py::test_nine_items_pay_full_price'],
        test_cmd: 'python3 -m pytest -rA -p no:cacheprovider',
        test_format: 'pytest',
        language: 'python',
      } as Partial<Task>,
    );
    js = await taskWithBug(
      { 'package.json': '{"type":"module"}\n', 'src/range.js': RANGE, 'test/range.test.js': RANGE_TESTS },
      'src/range.js',
      ['x >= lo && x < hi', 'x >= lo || x < hi'],
      {
        FAIL_TO_PASS: ['below'],
        PASS_TO_PASS: ['inside', 'width'],
        test_cmd: 'node --test --test-reporter=tap',
        test_format: 'tap',
        language: 'javascript',
      } as Partial<Task>,
    );
  });
  afterAll(async () => {
    for (const f of [python, js]) {
      if (!f) continue;
      await removeDir(f.dir);
      await rm(f.jsonl, { force: true });
    }
  });

  it('Python: runs the tests, probes, localises to the buggy file, fixes the comparison and submits', async () => {
    const { result, steps, info } = await episode(python.task, 'boundaries');
    expect(result.grade?.resolved).toBe(true);
    const kinds = steps.map((s) => (s.action as { kind: string }).kind);
    expect(kinds.slice(0, 3)).toEqual(['run_tests', 'run', 'read_file']);
    expect(kinds.at(-1)).toBe('submit');
    expect((info.localisation as { file: string }[])[0]!.file).toBe('shop/pricing.py');
    expect(info.stop_reason).toBe('fixed');
    expect((steps.at(-1)!.action as { message: string }).message).toMatch(
      /shop\/pricing\.py:7: .*flip_comparison/,
    );
  });

  it('JavaScript: the logic strategy swaps && back and resolves', async () => {
    const { result, info } = await episode(js.task, 'logic');
    expect(result.grade?.resolved).toBe(true);
    expect((info.localisation as { file: string }[])[0]!.file).toBe('src/range.js');
  });

  it('out of steps: escalates with a report of every attempt and leaves no candidate in the tree', async () => {
    const { result, steps, info } = await episode(python.task, 'structure', 11);
    const last = steps.at(-1)!;
    expect((last.action as { kind: string }).kind).toBe('escalate');
    expect(info.stop_reason).toBe('step_budget');
    const report = (last.action as { report: string }).report;
    expect(report).toMatch(/stopped: step budget/);
    expect(report.match(/^- shop\/pricing\.py:\d+ /gm)?.length).toBe(info.attempts);
    expect(info.attempts).toBeGreaterThan(0);
    expect(result.grade?.resolved).toBe(false);
    expect(last.observation.diffStat).toEqual({ files: 0, added: 0, removed: 0 });
  });

  it('a chooser picks the strategy once, after localising, from what the top candidates admit', async () => {
    const contexts: BanditContext[] = [];
    const env = new CodingEnv({ tasks: [python.task], maxSteps: 30 });
    const policy = repairPolicy({
      choose: async (context) => {
        contexts.push(context);
        return 'boundaries';
      },
    });
    try {
      const result = await runEpisode(env, policy, { seed: 0 });
      expect(result.grade?.resolved).toBe(true);
    } finally {
      await env.close();
    }
    expect(contexts).toHaveLength(1);
    expect(contexts[0]!.names).toEqual(['bias', ...ALL_KINDS.map((k) => `top_${k}`)]);
    const [bias, ...shares] = contexts[0]!.features;
    expect(bias).toBe(1);
    for (const share of shares) expect(share).toBeGreaterThanOrEqual(0);
    for (const share of shares) expect(share).toBeLessThanOrEqual(1);
    // The buggy line is a comparison: the most suspicious lines admit a flipped comparison.
    expect(shares[ALL_KINDS.indexOf('flip_comparison')]).toBeGreaterThan(0);
    expect(policy.info!().strategy).toBe('boundaries');
    expect(() => repairPolicy({})).toThrow(/either a strategy or a chooser/);
  });

  it('never builds a candidate on a file the env cut to its output cap', async () => {
    const env = new CodingEnv({ tasks: [python.task], maxSteps: 30, maxOutputBytes: 256 });
    const policy = repairPolicy({ strategy: 'boundaries' });
    const steps: StepRecord[] = [];
    try {
      await runEpisode(env, policy, { seed: 0, onStep: (s) => steps.push(s) });
    } finally {
      await env.close();
    }
    expect(steps.some((s) => (s.action as { kind: string }).kind === 'write_file')).toBe(false);
    expect(policy.info!().stop_reason).toBe('no_candidates_left');
    expect(steps.at(-1)!.observation.diffStat).toEqual({ files: 0, added: 0, removed: 0 });
  });

  it('in an experiment, bandits choose the strategy mid-episode from the localisation and learn from it', async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'repogym-repair-run-'));
    try {
      const config = parseConfig(
        [
          'name: repair-bandits',
          `dataset: {name: ${JSON.stringify(python.jsonl)}}`,
          'policies:',
          '  - {name: bandit, id: lin, bandit: {kind: linucb}, arms: [boundaries, logic], inner: {name: repair}}',
          '  - {name: bandit, id: rnd, bandit: {kind: random}, arms: [boundaries, logic], inner: {name: repair}}',
          'epochs: 2',
          'order: shuffled',
          'budgets: {max_steps: 20}',
          'reward: {primary: production, variants: [swebench]}',
        ].join('\n'),
      );
      const summary = await runExperiment(config, { outDir: out });
      expect(summary.done).toBe(4);
      expect(summary.statistics.comparisons[0]!.reward.pairs).toBe(2);
      const db = new Database(path.join(out, 'runs.sqlite'), { readonly: true });
      try {
        const rows = db.prepare('SELECT policy, arm, policy_info_json FROM episodes').all() as {
          policy: string;
          arm: string;
          policy_info_json: string;
        }[];
        for (const row of rows) {
          expect(['boundaries', 'logic']).toContain(row.arm);
          const info = JSON.parse(row.policy_info_json) as {
            event: { context: { features: number[] }; updated: boolean };
          };
          expect(info.event.context.features).toHaveLength(1 + ALL_KINDS.length);
          expect(info.event.updated).toBe(true);
        }
        const states = db.prepare("SELECT COUNT(*) AS n FROM bandit_state WHERE policy = 'lin'").get() as {
          n: number;
        };
        expect(states.n).toBeGreaterThan(0);
      } finally {
        db.close();
      }
      // What makes `experiment replay` exact: given its strategy the policy is deterministic, so a run of every
      // strategy (a tournament) records the reward each bandit episode got for the arm it chose.
      const matrixConfig = parseConfig(
        [
          'name: repair-matrix',
          `dataset: {name: ${JSON.stringify(python.jsonl)}}`,
          'policies: [{name: tournament, id: m, strategies: [boundaries, logic], inner: {name: repair}}]',
          'budgets: {max_steps: 20}',
          'reward: {primary: production}',
        ].join('\n'),
      );
      await runExperiment(matrixConfig, { outDir: path.join(out, 'matrix') });
      const matrix = loadMatrix(path.join(out, 'matrix'), 'production').tasks;
      expect(matrix).toHaveLength(1);
      expect(Object.keys(matrix[0]!.rewards).sort()).toEqual(['boundaries', 'logic']);
      const live = new Database(path.join(out, 'runs.sqlite'), { readonly: true });
      try {
        const episodes = live.prepare('SELECT arm, reward FROM episodes').all() as {
          arm: string;
          reward: number;
        }[];
        for (const e of episodes) expect(e.reward).toBeCloseTo(matrix[0]!.rewards[e.arm]!, 3);
        expect(episodes).toHaveLength(4);
      } finally {
        live.close();
      }
    } finally {
      await removeDir(out);
    }
  });

  it('the quickstart config loads: two learners and the random baseline over the repair strategies', async () => {
    const config = await loadConfig(path.join(import.meta.dirname, '..', 'experiments', 'quickstart.yaml'));
    expect(config.policies.map((p) => (p.name === 'bandit' ? p.bandit.kind : p.name))).toEqual([
      'lints',
      'linucb',
      'random',
    ]);
    expect(config.reward.primary).toBe('production');
    expect(config.adversary?.kind).toBe('differential');
    expect(config.reward.variants).toContain('robust');
  });

  it('with nothing failing it escalates at once instead of changing code', async () => {
    const { steps, info } = await episode({ ...python.task, base_commit: python.correct }, 'boundaries');
    expect(steps.map((s) => (s.action as { kind: string }).kind)).toEqual(['run_tests', 'escalate']);
    expect(info.stop_reason).toBe('nothing_failing');
    let asked = false;
    const env = new CodingEnv({ tasks: [{ ...python.task, base_commit: python.correct }], maxSteps: 30 });
    try {
      await runEpisode(env, repairPolicy({ choose: async () => ((asked = true), 'logic') }), { seed: 0 });
    } finally {
      await env.close();
    }
    expect(asked).toBe(false);
  });
});

describe("repair policy when nothing fails visibly: the report's examples are the check", () => {
  const fixtures: Awaited<ReturnType<typeof taskWithBug>>[] = [];
  afterAll(async () => {
    for (const f of fixtures) {
      await removeDir(f.dir);
      await rm(f.jsonl, { force: true });
    }
  });
  const withoutTest = (source: string, name: string) =>
    source.replace(new RegExp(`\\n\\n\\ndef ${name}\\(\\):\\n[^\\n]*\\n`), '\n');

  it('Python: reproduces the doctest, fixes the comparison it exercises, and the hidden test passes', async () => {
    const visible = withoutTest(PRICING_TESTS, 'test_ten_items_get_the_discount');
    expect(visible).not.toContain('ten_items');
    const fixture = await taskWithBug(
      { 'shop/__init__.py': '', 'shop/pricing.py': PRICING, 'tests/test_pricing.py': PRICING_TESTS },
      'shop/pricing.py',
      ['quantity >= 10', 'quantity > 10'],
      {
        problem_statement: [
          'Ten items should get the bulk discount, but they pay full price:',
          '',
          '```python',
          '>>> from shop.pricing import bulk_discount',
          '>>> bulk_discount(10, 10)',
          '100',
          '```',
        ].join('\n'),
        FAIL_TO_PASS: ['tests/test_pricing.py::test_ten_items_get_the_discount'],
        PASS_TO_PASS: ['tests/test_pricing.py::test_nine_items_pay_full_price'],
        test_cmd: 'python3 -m pytest -rA -p no:cacheprovider',
        test_format: 'pytest',
        language: 'python',
      } as Partial<Task>,
      { 'tests/test_pricing.py': visible },
    );
    fixtures.push(fixture);
    const { result, steps, info } = await episode(fixture.task, 'boundaries');
    expect(info.stop_reason).toBe('fixed');
    expect(result.grade?.resolved).toBe(true);
    expect((info.localisation as { file: string }[])[0]!.file).toBe('shop/pricing.py');
    // A candidate is checked on the examples first and only then on the visible tests.
    expect(steps.map((s) => (s.action as { kind: string }).kind).slice(-4)).toEqual([
      'write_file',
      'run',
      'run_tests',
      'submit',
    ]);
  });

  it('JavaScript: imports the package by its name, checks the expected value, and escalates when the report does not reproduce', async () => {
    const visible = RANGE_TESTS.split('\n')
      .filter((l) => !l.includes('upper bound'))
      .join('\n');
    expect(visible).not.toContain('upper bound');
    const statement = (claim: string) =>
      [
        '`inRange` includes the upper bound:',
        '',
        '```js',
        "import { inRange } from 'ranges';",
        '',
        `inRange(5, 1, 5); ${claim}`,
        '```',
      ].join('\n');
    const fixture = await taskWithBug(
      {
        'package.json': '{"name":"ranges","type":"module","exports":"./src/range.js"}\n',
        'src/range.js': RANGE,
        'test/range.test.js': RANGE_TESTS,
      },
      'src/range.js',
      ['x >= lo && x < hi', 'x >= lo && x <= hi'],
      {
        problem_statement: statement('// true, expected false'),
        FAIL_TO_PASS: ['at the upper bound'],
        PASS_TO_PASS: ['inside', 'below', 'width'],
        test_cmd: 'node --test --test-reporter=tap',
        test_format: 'tap',
        language: 'javascript',
      } as Partial<Task>,
      { 'test/range.test.js': visible },
    );
    fixtures.push(fixture);
    const fixed = await episode(fixture.task, 'boundaries');
    expect(fixed.info.stop_reason).toBe('fixed');
    expect(fixed.result.grade?.resolved).toBe(true);

    // The report claims a value the code does not return: there is nothing to check a change against.
    const misread = await episode(
      { ...fixture.task, problem_statement: statement('// false') },
      'boundaries',
    );
    expect(misread.info.stop_reason).toBe('not_reproduced');
    expect(misread.steps.map((s) => (s.action as { kind: string }).kind)).toEqual([
      'run_tests',
      'run',
      'escalate',
    ]);
    expect(misread.result.grade?.resolved).toBe(false);
  });
});
