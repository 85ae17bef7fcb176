// Adversarial tests of template repair (policies/repair), the mutation operators it and task synthesis share
// (datasets/synth), the builtin:synth dataset, the random bandit, the paired permutation test and the repair
// parts of the experiment config, written by a separate tester. Tests marked `// DEFECT:` assert the correct
// behaviour of something found broken by probing (they fail until it is fixed); the others confirm behaviour
// that held up under attack and stay as regression tests.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse } from '@babel/parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../datasets/loader.ts';
import { languageOf, mutantsOf, type Mutant } from '../datasets/synth/mutate.ts';
import type { Task } from '../datasets/types.ts';
import { CodingEnv } from '../env/coding-env.ts';
import { FIXED_IDENTITY, git } from '../env/git.ts';
import { parseConfig } from '../experiments/config.ts';
import { runEpisode, type StepRecord } from '../experiments/episode.ts';
import { pairedPermutation } from '../experiments/stats.ts';
import { loadBandit, makeBandit } from '../policies/bandits/index.ts';
import type { BanditState } from '../policies/bandits/spec.ts';
import type { Bandit, Selection } from '../policies/bandits/types.ts';
import { repairPolicy } from '../policies/repair/index.ts';
import { probeCommand } from '../policies/repair/policy.ts';
import { removeDir } from './helpers.ts';

// ---- helpers ---------------------------------------------------------------------------------------------------

const cleanup: string[] = [];
afterAll(async () => {
  for (const dir of cleanup) await removeDir(dir);
});

/** A one-commit repository holding `files` (and `links`: path → symlink target), loaded as a task. */
async function repoTask(
  files: Record<string, string>,
  row: Record<string, unknown>,
  links: Record<string, string> = {},
): Promise<Task> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'repogym-advrepair-'));
  cleanup.push(root);
  const dir = path.join(root, 'repo');
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), content);
  }
  for (const [name, target] of Object.entries(links)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await symlink(target, path.join(dir, name));
  }
  await git(['init', '-q', '-b', 'main'], { cwd: dir });
  await git(['add', '-A'], { cwd: dir });
  await git(['commit', '-q', '-m', 'fixture'], { cwd: dir, env: FIXED_IDENTITY });
  const commit = (await git(['rev-parse', 'HEAD'], { cwd: dir })).trim();
  const jsonl = path.join(root, 'tasks.jsonl');
  await writeFile(
    jsonl,
    JSON.stringify({
      instance_id: 'adv__fixture',
      repo: dir,
      base_commit: commit,
      patch: '',
      test_patch: '',
      problem_statement: 'A regression.',
      ...row,
    }) + '\n',
  );
  const loaded = await loadDataset(jsonl);
  expect(loaded.errors).toEqual([]);
  return loaded.tasks[0]!;
}

async function episode(task: Task, strategy: string, maxSteps = 30) {
  const env = new CodingEnv({ tasks: [task], maxSteps });
  const policy = repairPolicy({ strategy });
  const steps: StepRecord[] = [];
  try {
    const result = await runEpisode(env, policy, { seed: 0, onStep: (s) => steps.push(s) });
    return { result, steps, info: policy.info!(), kinds: steps.map((s) => kindOf(s)) };
  } finally {
    await env.close();
  }
}

const kindOf = (s: StepRecord) => (s.action as { kind: string }).kind;

const JS_ROW = {
  test_cmd: 'node --test --test-reporter=tap',
  test_format: 'tap',
  language: 'javascript',
};
const PY_ROW = {
  test_cmd: 'python3 -m pytest -rA -p no:cacheprovider',
  test_format: 'pytest',
  language: 'python',
};

// A buggy half-open range check (`||` for `&&`): the logic strategy fixes it in one try.
const RANGE = `// Half-open ranges.
export function inRange(x, lo, hi) {
  return x >= lo || x < hi;
}

export function width(lo, hi) {
  return hi - lo;
}
`;
const rangeTests = (from: string) => `import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inRange, width } from '${from}';

test('inside', () => assert.equal(inRange(2, 1, 5), true));
test('below', () => assert.equal(inRange(0, 1, 5), false));
test('width', () => assert.equal(width(1, 5), 4));
`;
const RANGE_ROW = { ...JS_ROW, FAIL_TO_PASS: ['below'], PASS_TO_PASS: ['inside', 'width'] };

/**
 * For a mutant whose description is "`old` became `new`": the source with exactly one occurrence of `old`
 * replaced by `new`, at the mutant's line. Everything else must be byte-for-byte the original.
 */
function tokenEdit(source: string, m: Mutant): 'ok' | 'n/a' | string {
  const d = /^`([^`]*)` became `([^`]*)`$/.exec(m.description);
  if (!d) return 'n/a';
  const [, before, after] = d as unknown as [string, string, string];
  for (let i = source.indexOf(before); i >= 0; i = source.indexOf(before, i + 1)) {
    if (source.slice(0, i) + after + source.slice(i + before.length) === m.source) {
      const line = source.slice(0, i).split('\n').length;
      return line === m.line ? 'ok' : `${m.id}: changed line ${line}, reported ${m.line}`;
    }
  }
  return `${m.id}: not a single "${before}" → "${after}" edit`;
}

/** Whether every source compiles under python3 (an independent check of the mutator's own). */
function pythonCompiles(sources: string[]): boolean[] {
  const script =
    'import json,sys\nout=[]\nfor s in json.load(sys.stdin):\n    try:\n        compile(s,"m","exec"); out.append(True)\n    except (SyntaxError, ValueError):\n        out.append(False)\nprint(json.dumps(out))';
  return JSON.parse(
    execFileSync('python3', ['-I', '-c', script], { input: JSON.stringify(sources) }).toString(),
  );
}

function babelParses(source: string, file: string): boolean {
  const ts = /\.[cm]?tsx?$/.test(file);
  const jsx = !ts || file.endsWith('.tsx');
  const plugins = ['decorators-legacy', ...(ts ? ['typescript'] : []), ...(jsx ? ['jsx'] : [])] as never[];
  for (const sourceType of ['module', 'script'] as const) {
    try {
      parse(source, { sourceType, plugins });
      return true;
    } catch {
      // try the other source type
    }
  }
  return false;
}

// ---- mutation operators -----------------------------------------------------------------------------------------

describe('mutants of unusual sources', () => {
  it('CRLF files: every Python and JavaScript mutant keeps CRLF line endings and is a one-span edit', async () => {
    const py = 'def f(a, b):\r\n    c = a + b\r\n    if c > 10:\r\n        return c - 1\r\n    return c\r\n';
    const js =
      'export function f(a, b) {\r\n  const c = a + b;\r\n  if (c > 10) {\r\n    return c - 1;\r\n  }\r\n  return c;\r\n}\r\n';
    for (const [file, source] of [
      ['a.py', py],
      ['a.js', js],
    ] as const) {
      const mutants = await mutantsOf(file, source);
      expect(mutants.length, file).toBeGreaterThan(5);
      expect(new Set(mutants.map((m) => m.kind)), file).toContain('null_guard');
      for (const m of mutants) {
        expect(m.source.replace(/\r\n/g, ''), m.id).not.toContain('\n');
        expect(tokenEdit(source, m), m.id).toMatch(/^(ok|n\/a)$/);
      }
    }
  });

  it('tab-indented Python gets a tab-indented guard; every mutant compiles', async () => {
    const source =
      'class A:\n\tdef f(self, xs):\n\t\ttotal = 0\n\t\tfor x in xs:\n\t\t\ttotal += x\n\t\treturn total\n';
    const mutants = await mutantsOf('a.py', source);
    const guard = mutants.find((m) => m.kind === 'null_guard');
    expect(guard?.source).toContain('\t\tif not xs:\n\t\t\treturn xs\n\t\ttotal = 0');
    expect(pythonCompiles(mutants.map((m) => m.source)).every(Boolean)).toBe(true);
  });

  it('non-ASCII text (multi-byte, astral, U+2028) before a token does not shift Python or JavaScript edits', async () => {
    const py = 'def größe(ä, b):\n    s = "😀€"; return len(s) + ä > b - 1\n';
    const js = 'const s = "😀😀\u2028€"; export const y = s.length > 2 ? s.length - 1 : 0;\n';
    for (const [file, source] of [
      ['a.py', py],
      ['a.js', js],
    ] as const) {
      const mutants = await mutantsOf(file, source);
      const tokens = mutants.filter((m) => tokenEdit(source, m) !== 'n/a');
      expect(tokens.length, file).toBeGreaterThan(3);
      for (const m of tokens) expect(tokenEdit(source, m), m.id).toBe('ok');
    }
  });

  it('modern Python (f-strings with nested specs, walrus, match, decorators) gives mutants that compile, deterministically', async () => {
    const source = [
      'import functools',
      '',
      '',
      'def deco(fn):',
      '    @functools.wraps(fn)',
      '    def wrap(*a):',
      '        return fn(*a)',
      '    return wrap',
      '',
      '',
      '@deco',
      'def describe(xs):',
      '    if (n := len(xs)) > 10:',
      '        return f"{n - 1:>{n + 2}} items {{literal}}"',
      '    match xs:',
      '        case [first, *_] if first > 0:',
      '            return f"""first',
      '{first * 2}"""',
      '        case _:',
      '            return "none"',
      '',
    ].join('\n');
    const [a, b] = [await mutantsOf('m.py', source), await mutantsOf('m.py', source)];
    expect(a).toEqual(b);
    expect(a.length).toBeGreaterThan(8);
    expect(pythonCompiles(a.map((m) => m.source)).every(Boolean)).toBe(true);
    for (const m of a) expect(tokenEdit(source, m), m.id).toMatch(/^(ok|n\/a)$/);
    // The operators inside f-string replacement fields are found at their real positions.
    expect(a.map((m) => m.source)).toContain(source.replace('{n - 1:>', '{n + 1:>'));
    expect(a.map((m) => m.source)).toContain(source.replace('{first * 2}', '{first / 2}'));
  });

  it('TypeScript with decorators, generics, enums and JSX in a .js file: mutants parse and leave types alone', async () => {
    const ts = [
      'function log(target: any, key: string) {}',
      'export enum Color { Red = 1, Green = 2 }',
      'export class Box<T extends { size: number }> {',
      '  @log',
      '  bigger(a: T, b: T): boolean {',
      '    return a.size > b.size + 1;',
      '  }',
      '  private items: Array<T> = [];',
      '  count<U>(x: U): number { return this.items.length - 1; }',
      '}',
      'export const pick = <K,>(xs: K[], i: number): K | undefined => xs[i + 1];',
      'type Pair<A, B> = [A, B] extends [0, 1] ? true : false;',
      '',
    ].join('\n');
    const jsx = [
      'export function Counter({ n }) {',
      '  return <div className="x">{n > 1 ? <b>{n - 1}</b> : null}</div>;',
      '}',
      '',
    ].join('\n');
    for (const [file, source] of [
      ['box.ts', ts],
      ['counter.js', jsx],
    ] as const) {
      const mutants = await mutantsOf(file, source);
      expect(mutants).toEqual(await mutantsOf(file, source));
      expect(mutants.length, file).toBeGreaterThan(4);
      for (const m of mutants) {
        expect(babelParses(m.source, file), m.id).toBe(true);
        expect(tokenEdit(source, m), m.id).toMatch(/^(ok|n\/a)$/);
      }
    }
    // Nothing in a type position changes (the conditional type's 0 and 1 stay).
    const tsMutants = await mutantsOf('box.ts', ts);
    for (const m of tsMutants) expect(m.source, m.id).toContain('[A, B] extends [0, 1]');
    expect(tsMutants.some((m) => m.source.includes('Red = 2'))).toBe(true);
  });

  it('a source that does not parse is rejected with the file and language named, in both languages', async () => {
    await expect(mutantsOf('pkg/broken.py', 'def f(:\n')).rejects.toThrow(
      /pkg\/broken\.py: not valid Python/,
    );
    await expect(mutantsOf('src/broken.ts', 'export function (x {\n')).rejects.toThrow(
      /src\/broken\.ts: not valid TypeScript/,
    );
  });

  it('a UTF-8 byte-order mark does not stop Python mutation (python3 runs such files)', async () => {
    // Was a defect (adversarial tester): datasets/synth/mutate_py.py passes the text to ast.parse with the BOM still in it, so a file python3
    // runs fine is rejected as "not valid Python: invalid non-printable character U+FEFF": synthesis skips it and
    // the repair policy can never repair it. It should mutate the code and keep the BOM.
    const source = '\ufeffdef f(a, b):\n    return a + b\n';
    const mutants = await mutantsOf('bom.py', source);
    expect(mutants.map((m) => m.source)).toContain('\ufeffdef f(a, b):\n    return a - b\n');
  });

  it('Python with classic-Mac line endings (lone CR) is mutated, or at least rejected with a clear reason', async () => {
    // Was a defect (adversarial tester): mutate_py.py indexes lines by "\n" only while Python's tokenizer also ends lines at a lone "\r";
    // the mutator crashes (IndexError) and mutantsOf rejects with "python mutator failed: Command failed: python3
    // -I …/mutate_py.py" — no reason given. python3 runs this file; its `-` should become `+` like anywhere else.
    const source = 'def f(a, b):\r    x = a + 1\r    if x > b:\r        return x - b\r    return b * 2\r';
    const outcome = await mutantsOf('mac.py', source).then(
      (mutants) => ({ mutants, error: undefined }),
      (error: Error) => ({ mutants: [] as Mutant[], error }),
    );
    expect(outcome.error?.message ?? '').not.toMatch(/Command failed|Traceback|IndexError/);
    // Resolved by rejecting such files with the reason (synthesis and repair then skip them).
    expect(outcome.error?.message).toMatch(/mac\.py: not supported: Python with lone CR/);
  });

  it('swapping `*` for `/` never turns the rest of a line into a comment', async () => {
    // Was a defect (adversarial tester): mutate_js.ts swaps the operator token without looking at what follows it: `a */* scale */b`
    // becomes `a //* scale */b`, which still parses (as `const x = a`), so the "`*` became `/`" mutant silently
    // deletes the right operand. It should write `a / /* scale */b` or drop the mutant.
    const source = 'export function f(a, b) {\n  const x = a */* scale */b;\n  return x;\n}\n';
    const mutants = await mutantsOf('scale.js', source);
    for (const m of mutants) expect(m.source, m.id).not.toContain('//* scale');
  });
});

// ---- the repair policy on hostile repositories ------------------------------------------------------------------

describe('repair policy: inputs with nothing to repair', () => {
  it('a repository with test files only escalates with a report, touching nothing', async () => {
    const inline =
      "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nconst inRange = (x, lo, hi) => x >= lo || x < hi;\nconst width = (a, b) => b - a;\n";
    const task = await repoTask(
      {
        'package.json': '{"type":"module"}\n',
        'test/range.test.js': inline + rangeTests('x').split('\n').slice(4).join('\n'),
      },
      RANGE_ROW,
    );
    const { kinds, info, steps, result } = await episode(task, 'logic');
    expect(kinds.at(-1)).toBe('escalate');
    expect(kinds).not.toContain('write_file');
    expect(info.stop_reason).toBe('no_candidates_left');
    expect((steps.at(-1)!.action as { report: string }).report).toMatch(/Tried 0 candidate/);
    expect(result.terminated).toBe(true);
  });

  it('a test command that reports no tests escalates at once', async () => {
    const task = await repoTask(
      {
        'package.json': '{"type":"module"}\n',
        'src/range.js': RANGE,
        'test/range.test.js': rangeTests('../src/range.js'),
      },
      { ...RANGE_ROW, test_cmd: 'echo "no tests here"' },
    );
    const { kinds, info } = await episode(task, 'logic');
    expect(kinds).toEqual(['run_tests', 'escalate']);
    expect(info.stop_reason).toBe('no_test_report');
  });

  it('a source file with a syntax error is skipped, and the bug in the next one still gets fixed', async () => {
    const task = await repoTask(
      {
        'package.json': '{"type":"module"}\n',
        'src/aaa_broken.js': 'export function (x {\n',
        'src/range.js': RANGE,
        'test/range.test.js': rangeTests('../src/range.js'),
      },
      RANGE_ROW,
    );
    const { kinds, info, result } = await episode(task, 'logic');
    expect(kinds.at(-1)).toBe('submit');
    expect(info.stop_reason).toBe('fixed');
    expect(result.grade?.resolved).toBe(true);
  });

  it('with nothing passing (every visible test fails) a fix is still found and submitted', async () => {
    const only = rangeTests('../src/range.js').replace(/^test\('(inside|width)'.*\n/gm, '');
    const task = await repoTask(
      { 'package.json': '{"type":"module"}\n', 'src/range.js': RANGE, 'test/range.test.js': only },
      { ...RANGE_ROW, PASS_TO_PASS: [] },
    );
    const { kinds, result } = await episode(task, 'logic');
    expect(kinds.at(-1)).toBe('submit');
    expect(result.grade?.resolved).toBe(true);
  });
});

describe('repair policy: budgets', () => {
  let task: Task;
  beforeAll(async () => {
    task = await repoTask(
      {
        'package.json': '{"type":"module"}\n',
        'src/range.js': RANGE,
        'src/a.js': 'export const a = 1 + 1;\n',
        'src/b.js': 'export const b = 2 > 1;\n',
        'test/range.test.js': rangeTests('../src/range.js'),
      },
      RANGE_ROW,
    );
  });

  it('maxSteps 1: the episode is truncated cleanly after the first test run, no exception', async () => {
    const { kinds, result } = await episode(task, 'logic', 1);
    expect(kinds).toEqual(['run_tests']);
    expect(result.truncated).toBe(true);
  });

  it.each([2, 3, 5])(
    'maxSteps %i: the policy still escalates with a report instead of running out',
    async (n) => {
      // Was a defect (adversarial tester): policies/repair/policy.ts checks the step budget only before trying a candidate. With a budget too
      // small for a try it spends every step on the probe and on reading files (up to max_files of them) and the
      // env truncates the episode: no escalation, no report, stop_reason ''. The last step should escalate.
      const { kinds, result, info } = await episode(task, 'logic', n);
      expect(kinds.length).toBeLessThanOrEqual(n);
      expect(kinds.at(-1)).toBe('escalate');
      expect(result.terminated).toBe(true);
      expect(info.stop_reason).toMatch(/budget/);
    },
  );
});

describe('repair policy: escalation leaves the tree clean', () => {
  let task: Task;
  beforeAll(async () => {
    // No single template fixes scale(2) === 5, so every candidate (in two files) is tried and rejected.
    task = await repoTask(
      {
        'package.json': '{"type":"module"}\n',
        'src/a.js': 'export const shift = (x) => x + 7;\n',
        'src/b.js': 'export const scale = (x) => x * 3;\n',
        'test/ab.test.js':
          "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { shift } from '../src/a.js';\nimport { scale } from '../src/b.js';\ntest('shift', () => assert.equal(shift(1), 8));\ntest('scale', () => assert.equal(scale(2), 5));\n",
      },
      { ...JS_ROW, FAIL_TO_PASS: ['scale'], PASS_TO_PASS: ['shift'] },
    );
  });

  it.each([10, 11, 30])(
    'maxSteps %i: every rejected candidate, in either file, is reverted before the escalation',
    async (n) => {
      const { kinds, steps, info } = await episode(task, 'arithmetic', n);
      expect(kinds.at(-1)).toBe('escalate');
      expect(info.attempts).toBeGreaterThan(0);
      expect(steps.at(-1)!.observation.diffStat).toEqual({ files: 0, added: 0, removed: 0 });
      const report = (steps.at(-1)!.action as { report: string }).report;
      expect(report.match(/^- src\/[ab]\.js:\d+ /gm)?.length).toBe(info.attempts);
      expect(report).not.toMatch(/→ fixed/);
      if (n === 30) {
        expect(info.stop_reason).toBe('no_candidates_left');
        // Both files were tried: the switch between them restored the first one.
        expect(report).toMatch(/^- src\/a\.js:/m);
        expect(report).toMatch(/^- src\/b\.js:/m);
      }
    },
  );

  it('one policy object runs two episodes the same way (its state is reset in begin)', async () => {
    const env = new CodingEnv({ tasks: [task], maxSteps: 11 });
    const policy = repairPolicy({ strategy: 'arithmetic' });
    try {
      const runs = [];
      for (let i = 0; i < 2; i++) {
        const actions: unknown[] = [];
        // A test run's timeout is a multiple of the first run's wall time: the only part that may differ.
        await runEpisode(env, policy, {
          seed: 0,
          onStep: (s) => actions.push({ ...(s.action as object), timeoutSec: undefined }),
        });
        runs.push({ actions, info: policy.info!() });
      }
      expect(runs[1]).toEqual(runs[0]);
    } finally {
      await env.close();
    }
  });
});

describe('repair policy: what counts as fixed', () => {
  it('a candidate that makes the failing test hang is not taken for a fix', async () => {
    // Was a defect (adversarial tester): policies/repair/policy.ts counts "no failing test in the report" as fixed. Here the first candidate
    // (`n -= 2` → `n += 2`) makes test/b.test.js loop forever; run_tests times out, node's TAP output holds only
    // test/a.test.js (both pass) and `four` is simply missing, so the policy submits "All visible tests pass."
    // A run that timed out, or that no longer reports a test that was failing, is no fix.
    const task = await repoTask(
      {
        'package.json': '{"type":"module"}\n',
        'src/pairs.js':
          'export function pairs(n) {\n  let count = 0;\n  while (n > 1) {\n    n -= 2;\n    count += 1;\n  }\n  return count * 3;\n}\n',
        'test/a.test.js':
          "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { pairs } from '../src/pairs.js';\ntest('zero', () => assert.equal(pairs(0), 0));\ntest('one', () => assert.equal(pairs(1), 0));\n",
        'test/b.test.js':
          "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { pairs } from '../src/pairs.js';\ntest('four', () => assert.equal(pairs(4), 2));\n",
      },
      { ...JS_ROW, FAIL_TO_PASS: ['four'], PASS_TO_PASS: ['zero', 'one'], timeouts: { test_sec: 4 } },
    );
    // 8 steps: the first three localise, then exactly one try fits (write, test), then revert and escalate.
    const { kinds, steps, info } = await episode(task, 'arithmetic', 8);
    const tries = steps.filter((s, i) => i > 0 && kindOf(s) === 'run_tests');
    expect(tries.length).toBeGreaterThan(0);
    expect(tries.some((t) => t.observation.timedOut)).toBe(true);
    if (kinds.at(-1) === 'submit') {
      const last = tries.at(-1)!.observation;
      expect(last.timedOut, 'submitted on a run that timed out').toBe(false);
      expect(last.tests?.find((t) => t.name === 'four')?.status).toBe('passed');
    }
    expect(info.stop_reason).not.toBe('fixed');
    expect(kinds.at(-1)).toBe('escalate');
  });

  it('a source file larger than the observation cap is never written back truncated', async () => {
    // Found by probing, and fixed while these tests were written (policy.ts now skips a read that carries the
    // env's truncation marker): the policy mutated the text read_file returned, which the env caps at 64 KiB
    // (head and tail around "[... N bytes truncated ...]"). With the cut inside a string the truncated text still
    // parsed, so the candidate written back deleted ~700 lines of TERMS, the tests still passed and the policy
    // submitted that patch (graded resolved); a rejected candidate was "reverted" to the truncated text too.
    const filler = Array.from({ length: 2500 }, (_, i) => `row ${i}: lorem ipsum dolor sit amet`).join('\n');
    const pricing = `def bulk_discount(quantity, unit_price):
    total = quantity * unit_price
    if quantity > 10:
        total = total * 0.9
    return round(total, 2)


TERMS = """
${filler}
"""
`;
    const tests = `from shop.pricing import bulk_discount, TERMS


def test_nine():
    assert bulk_discount(9, 10) == 90


def test_ten():
    assert bulk_discount(10, 10) == 90


def test_terms():
    assert "row 2499:" in TERMS
`;
    const task = await repoTask(
      { 'shop/__init__.py': '', 'shop/pricing.py': pricing, 'tests/test_pricing.py': tests },
      {
        ...PY_ROW,
        FAIL_TO_PASS: ['tests/test_pricing.py::test_ten'],
        PASS_TO_PASS: ['tests/test_pricing.py::test_nine', 'tests/test_pricing.py::test_terms'],
      },
    );
    const { steps } = await episode(task, 'boundaries', 12);
    const writes = steps.filter((s) => kindOf(s) === 'write_file');
    for (const w of writes) {
      const content = (w.action as { content: string }).content;
      expect(content).not.toMatch(/bytes truncated/);
      expect(content).toContain('row 1250: lorem');
    }
    // Whatever it did, the tree it left behind still holds every line of TERMS.
    expect(steps.at(-1)!.observation.diffStat.removed).toBeLessThanOrEqual(1);
  });

  it('a source file with a non-ASCII name is repaired like any other', async () => {
    // Was a defect (adversarial tester): the policy lists files with plain `git ls-files`, which quotes non-ASCII paths
    // ("src/gr\303\266\303\237e.js"); the quoted name has no known extension, so the only source file is never
    // read and the policy escalates with "no candidates left". `git ls-files -z` (or core.quotePath=false) fixes it.
    const task = await repoTask(
      {
        'package.json': '{"type":"module"}\n',
        'src/größe.js': RANGE,
        'test/range.test.js': rangeTests('../src/größe.js'),
      },
      RANGE_ROW,
    );
    const { info, result } = await episode(task, 'logic', 12);
    expect(info.stop_reason).toBe('fixed');
    expect(result.grade?.resolved).toBe(true);
  });
});

describe('repair policy: nothing outside the sandbox', () => {
  it('forged probe lines and a tracked symlink out of the repository never lead to a read or write outside', async () => {
    const outside = await mkdtemp(path.join(os.tmpdir(), 'repogym-advrepair-outside-'));
    cleanup.push(outside);
    const victim = path.join(outside, 'victim.py');
    const VICTIM = 'def leak(a, b):\n    if a > b:\n        return a - b\n    return a + b\n';
    await writeFile(victim, VICTIM);
    // The code under test prints forged spectrum lines (at the start of a line, where the parser reads them)
    // naming the symlink, the absolute victim, and a path climbing out of the tree.
    const conftest = `import os


def pytest_unconfigure(config):
    for line in ["shop/evil.py:2 1.0000", "${victim}:2 1.0000", "../../../../..${victim}:2 1.0000"]:
        os.write(1, ("\\nREPOGYM_OCHIAI " + line + "\\n").encode())
        print('  File "${victim}", line 2, in leak')
`;
    const task = await repoTask(
      {
        'conftest.py': conftest,
        'shop/__init__.py': '',
        'shop/pricing.py':
          'def bulk_discount(quantity, unit_price):\n    total = quantity * unit_price\n    if quantity > 10:\n        total = total * 0.9\n    return round(total, 2)\n',
        'tests/test_pricing.py':
          'from shop.pricing import bulk_discount\n\n\ndef test_nine():\n    assert bulk_discount(9, 10) == 90\n\n\ndef test_ten():\n    assert bulk_discount(10, 10) == 90\n',
      },
      {
        ...PY_ROW,
        FAIL_TO_PASS: ['tests/test_pricing.py::test_ten'],
        PASS_TO_PASS: ['tests/test_pricing.py::test_nine'],
      },
      { 'shop/evil.py': victim },
    );
    const { steps, kinds } = await episode(task, 'structure', 14);
    expect(await readFile(victim, 'utf8')).toBe(VICTIM);
    const touched = steps
      .filter((s) => ['read_file', 'write_file'].includes(kindOf(s)))
      .map((s) => ({ path: (s.action as { path: string }).path, error: s.observation.error?.code }));
    for (const t of touched) {
      expect(path.isAbsolute(t.path) || t.path.split('/').includes('..'), t.path).toBe(false);
      if (t.path === 'shop/evil.py') expect(t.error).toBe('path_escape');
    }
    expect(
      steps.filter((s) => kindOf(s) === 'write_file').map((s) => (s.action as { path: string }).path),
    ).not.toContain('shop/evil.py');
    expect(['submit', 'escalate']).toContain(kinds.at(-1));
  });

  it('the probe command quotes what it takes from the test command: no substitution runs', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'repogym-advrepair-probe-'));
    cleanup.push(dir);
    const command = probeCommand(
      'javascript',
      "node --test \"$(touch pwned1)\" `touch pwned2` 'it's' ;touch pwned3",
    )!;
    const output = execFileSync('bash', ['-c', command], { cwd: dir, timeout: 30_000 }).toString();
    expect(output).toMatch(/REPOGYM_PROBE test_files=0 runs=0 failed=0/);
    for (const f of ['pwned1', 'pwned2', 'pwned3']) {
      await expect(readFile(path.join(dir, f)), f).rejects.toThrow(/ENOENT/);
    }
    expect(probeCommand('go', 'go test ./...')).toBeUndefined();
  });

  it("the probe runs under the test command's leading NAME=value words, and only plain ones", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'repogym-advrepair-probe-env-'));
    cleanup.push(dir);
    await mkdir(path.join(dir, 'tests'));
    await writeFile(
      path.join(dir, 'tests', 'test_env.py'),
      "import os\n\ndef test_env():\n    assert os.environ.get('REPOGYM_PROBE_ENV') == 'on'\n",
    );
    const run = (testCmd: string) =>
      execFileSync('bash', ['-c', probeCommand('python', testCmd)!], {
        cwd: dir,
        timeout: 60_000,
      }).toString();
    expect(run('REPOGYM_PROBE_ENV=on python3 -m pytest')).toMatch(/REPOGYM_PROBE tests=1 failed=0/);
    expect(run('python3 -m pytest')).toMatch(/REPOGYM_PROBE tests=1 failed=1/);
    const quoted = probeCommand('python', 'A=$(touch pwned) B="x y" python3 -m pytest')!;
    expect(quoted.startsWith('python3 -')).toBe(true);
  });
});

// ---- policy construction and the experiment config --------------------------------------------------------------

describe('bad repair options and configs', () => {
  it('an empty strategy name is rejected when the policy is made, not mid-episode', () => {
    // Was a defect (adversarial tester): repairPolicy({ strategy: '' }) passes the "strategy or chooser" check (it tests `=== undefined`)
    // but then treats '' as absent; the episode later calls the missing chooser and dies with "opts.choose is not
    // a function" after its steps were spent. `repogym … --strategy ''` reaches this.
    expect(() => repairPolicy({ strategy: '' })).toThrow(/unknown repair strategy ""/);
    expect(() => repairPolicy({ strategy: 'nope' })).toThrow(/unknown repair strategy "nope".*boundaries/);
    expect(() => repairPolicy({})).toThrow(/strategy/);
  });

  const config = (policy: string, extra = '') =>
    `name: t\ndataset: {name: "builtin:synth"}\npolicies: [${policy}]\n${extra}`;
  const bandit = (arms: string, inner: string) =>
    `{name: bandit, bandit: {kind: random}, arms: ${arms}, inner: ${inner}}`;

  it.each([
    [bandit('[boundaries, nope]', '{name: repair}'), /policies\.0\.arms\.1: "nope" is not a repair strategy/],
    [bandit('[boundaries, logic]', '{name: repair, bogus: 1}'), /policies\.0\.inner: .*"bogus"/],
    [bandit('[boundaries, logic]', '{name: repair, max_files: 0}'), /policies\.0\.inner\.max_files: .*>=1/],
    [bandit('[boundaries, boundaries]', '{name: repair}'), /policies\.0\.arms: an arm is listed twice/],
    [bandit('[boundaries]', '{name: repair}'), /policies\.0\.arms: /],
    ['{name: repair, strategy: nope}', /policies\.0\.strategy: .*"boundaries"/],
    ['{name: repair}', /policies\.0\.strategy: /],
    ['{name: repair, strategy: logic, max_files: 51}', /policies\.0\.max_files: .*<=50/],
    ['{name: repair, strategy: logic, probe: "yes"}', /policies\.0\.probe: .*boolean/],
    ['{name: repair, strategy: logic, maxFiles: 3}', /policies\.0: .*"maxFiles"/],
  ])('rejects %s with the field and the reason', (policy, why) => {
    expect(() => parseConfig(config(policy), 'c.yaml')).toThrow(why);
  });

  it('rejects an unknown task order with the field and the choices', () => {
    expect(() => parseConfig(config('{name: nop}', 'order: random-ish'), 'c.yaml')).toThrow(
      /order: .*"dataset"\|"shuffled"/,
    );
  });

  it('accepts a repair bandit over repair strategies, shuffled', () => {
    const parsed = parseConfig(
      config(
        bandit('[boundaries, logic, structure]', '{name: repair, probe: false, max_files: 2}'),
        'order: shuffled',
      ),
      'c.yaml',
    );
    expect(parsed.order).toBe('shuffled');
  });

  it('an inner policy that is neither repair nor LLM options says why', () => {
    // Was a defect (adversarial tester): experiments/config.ts puts `inner` in a plain zod union; a typo in the name gives only
    // "policies.0.inner: Invalid input" — a path but no reason. The message should say what was expected
    // (`{name: repair, …}` or LLM options with base_url and model).
    const text = config(bandit('[boundaries, logic]', '{name: repairs}'));
    expect(() => parseConfig(text, 'c.yaml')).toThrow(/policies\.0\.inner/);
    expect(() => parseConfig(text, 'c.yaml')).not.toThrow(/inner: Invalid input$/);
    expect(() => parseConfig(text, 'c.yaml')).toThrow(/repair/);
  });
});

// ---- statistics and the random bandit ----------------------------------------------------------------------------

describe('pairedPermutation', () => {
  it('is seeded, gives p = 1 with no difference and a small p with a consistent one', () => {
    const zeros = pairedPermutation([0, 0, 0, 0]);
    expect(zeros.pValue).toBe(1);
    expect(zeros.difference).toEqual({ estimate: 0, low: 0, high: 0 });
    const consistent = Array.from({ length: 20 }, () => 1);
    expect(pairedPermutation(consistent).pValue).toBeLessThan(0.001);
    expect(pairedPermutation([1, -0.5, 0.25], { seed: 3 })).toEqual(
      pairedPermutation([1, -0.5, 0.25], { seed: 3 }),
    );
    expect(pairedPermutation([]).pairs).toBe(0);
  });

  it.each([
    ['NaN', [NaN, 1, 1]],
    ['NaN last', [1, 1, NaN]],
    ['±Infinity', [-Infinity, Infinity]],
  ])('a difference that is %s does not produce a significant p-value', (_label, differences) => {
    // Was a defect (adversarial tester): experiments/stats.ts compares |sum| >= NaN − 1e-9, which is never true, so atLeast stays 0 and the
    // p-value is 1/(iterations+1) ≈ 0.0001 — "highly significant" on data that is not even numbers (the interval
    // comes out as [1, NaN]). Non-finite differences should be rejected or give a NaN p-value.
    let result: ReturnType<typeof pairedPermutation> | undefined;
    try {
      result = pairedPermutation(differences);
    } catch (err) {
      expect((err as Error).message).toMatch(/finite|NaN/i);
      return;
    }
    expect(result.pValue).toBeNaN();
  });
});

describe('random bandit', () => {
  const arms = ['boundaries', 'arithmetic', 'logic', 'structure'];
  // The random bandit selects synchronously; the interface allows a promise for the neural one.
  const pick = (b: Bandit) => (b.select() as Selection).arm;

  it('a state round trip through JSON continues exactly, and the choice is spread over the arms', () => {
    const a = makeBandit({ kind: 'random' }, arms, 7);
    for (let i = 0; i < 5; i++) a.update(pick(a), i % 2);
    const b = loadBandit(JSON.parse(JSON.stringify(a.state())) as BanditState);
    const [seqA, seqB] = [[] as string[], [] as string[]];
    for (let i = 0; i < 200; i++) {
      const x = pick(a);
      a.update(x, 0.5);
      seqA.push(x);
      const y = pick(b);
      b.update(y, 0.5);
      seqB.push(y);
    }
    expect(seqB).toEqual(seqA);
    expect(b.state()).toEqual(a.state());
    for (const arm of arms) expect(seqA.filter((x) => x === arm).length, arm).toBeGreaterThan(25);
    expect(() => a.update('nope', 1)).toThrow(/unknown arm "nope"/);
    expect(() => a.update('logic', NaN)).toThrow(/finite/);
  });

  it('rejects malformed states with the field named', () => {
    const good = makeBandit({ kind: 'random' }, arms, 1).state() as Record<string, unknown>;
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ ...good, counts: [1, 2] }, /counts has 2 entries, expected 4/],
      [{ ...good, kind: 'ucb1' }, /spec/],
      [{ ...good, spec: { kind: 'random', c: 1 } }, /spec: .*"c"/],
      [{ ...good, t: -1 }, /t: /],
      [{ ...good, rng: [1, 2, 3] }, /rng/],
      [{ ...good, arms: ['a', 'a', 'b', 'c'] }, /duplicate arm "a"/],
    ];
    for (const [state, why] of bad) expect(() => loadBandit(state as never), why.source).toThrow(why);
  });

  it('rejects pull counts that cannot be counts', () => {
    // Was a defect (adversarial tester): policies/bandits/spec.ts validates `counts` as any numbers, so a random bandit state with a negative
    // or fractional pull count loads and reports a mean of −2 for an arm (sums 2 / counts −1). Counts must be
    // non-negative integers.
    const good = makeBandit({ kind: 'random' }, arms, 1).state() as Record<string, unknown>;
    expect(() => loadBandit({ ...good, counts: [-1, 0, 0, 0], sums: [2, 0, 0, 0] } as never)).toThrow(
      /counts/,
    );
    expect(() => loadBandit({ ...good, counts: [0.5, 0, 0, 0], sums: [2, 0, 0, 0] } as never)).toThrow(
      /counts/,
    );
  });
});

// ---- builtin:synth ---------------------------------------------------------------------------------------------

describe('builtin:synth', () => {
  let tasks: Task[];
  let cacheDir: string;
  beforeAll(async () => {
    cacheDir = await mkdtemp(path.join(os.tmpdir(), 'repogym-advrepair-cache-'));
    cleanup.push(cacheDir);
    const loaded = await loadDataset('builtin:synth', { cacheDir });
    expect(loaded.errors).toEqual([]);
    tasks = loaded.tasks;
  });

  it('rows are well formed: unique ids, disjoint non-empty test lists, a gold patch on the mutated file only', () => {
    expect(tasks.length).toBeGreaterThanOrEqual(100);
    expect(new Set(tasks.map((t) => t.instance_id)).size).toBe(tasks.length);
    for (const t of tasks) {
      const synth = (t.context as { synth: { file: string; kind: string; line: number } }).synth;
      expect(t.FAIL_TO_PASS.length, t.instance_id).toBeGreaterThan(0);
      expect(t.PASS_TO_PASS.length, t.instance_id).toBeGreaterThan(0);
      expect(
        t.FAIL_TO_PASS.filter((n) => t.PASS_TO_PASS.includes(n)),
        t.instance_id,
      ).toEqual([]);
      expect(t.language, t.instance_id).toBe(languageOf(synth.file));
      const touched = [...t.patch.matchAll(/^diff --git a\/(\S+) b\//gm)].map((m) => m[1]);
      expect(touched, t.instance_id).toEqual([synth.file]);
      expect(t.test_patch).toBe('');
    }
  });

  it('the agent is not told how the bug was injected (kind and line)', async () => {
    // Was a defect (adversarial tester): datasets/synth/synthesize.ts names each task `${repo}__synth-${mutant.id}`, and mutant ids are
    // `${kind}-${line}-${hash}`; the env's briefing starts with "# Task <instance_id>", so the agent reads e.g.
    // "csvlite__synth-remove_statement-23-…": the kind of change and its line. problemStatement() is careful to
    // say "what breaks, not how the code was changed: the agent must localise the bug itself"; the id undoes it.
    const task = tasks[0]!;
    const synth = (task.context as { synth: { kind: string; line: number } }).synth;
    const env = new CodingEnv({ tasks: [task], maxSteps: 2 });
    try {
      const { observation, info } = await env.reset();
      const seen = `${observation.output}\n${JSON.stringify(info)}`;
      expect(seen).not.toContain(synth.kind);
      expect(seen).not.toContain(`-${synth.line}-`);
    } finally {
      await env.close();
    }
    const leaking = tasks.filter((t) => {
      const s = (t.context as { synth: { kind: string } }).synth;
      return t.instance_id.includes(s.kind);
    });
    expect(leaking.length).toBe(0);
  });
});
