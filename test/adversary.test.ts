// The adversarial tester on builtin:overfit: patches that the SWE-bench grader resolves but that are wrong on
// inputs no test covers. The offline (differential) adversary must produce valid failing tests for each, and
// nothing for the gold patch; the LLM adversary's tests (a scripted model over real HTTP) are validated the same
// way; through the env, the `adversarial` component and the `robust` variant drop.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../datasets/loader.ts';
import type { Task } from '../datasets/types.ts';
import { CodingEnv } from '../env/coding-env.ts';
import { parseConfig } from '../experiments/config.ts';
import { runExperiment } from '../experiments/runner.ts';
import { treeFactory } from '../env/grading.ts';
import { createLocalSandbox } from '../env/sandbox/local.ts';
import { llmOptionsSchema } from '../policies/llm.ts';
import { differentialAdversary, llmAdversary, makeAdversary } from '../policies/adversary/index.ts';
import { jsLiteral, pyLiteral, type Tagged } from '../policies/adversary/values.ts';
import { adversarial } from '../rewards/components.ts';
import type { AdversarialSignals, EpisodeSignals } from '../rewards/types.ts';
import { BUILTIN_VARIANTS, score } from '../rewards/variants.ts';
import { startChatServer, type ChatServer } from './chat-server.ts';

let tasks: Task[];
beforeAll(async () => {
  tasks = (await loadDataset('builtin:overfit')).tasks;
});

const overfitPatch = (task: Task) => (task.context.overfit_patches as { patch: string }[])[0]!.patch;
const sandboxOf = (task: Task) => () =>
  createLocalSandbox({ repo: task.repo, commit: task.base_commit, defaultTimeoutSec: 60 });
const request = (task: Task, patch: string) => ({
  task,
  patch,
  resolved: true,
  makeSandbox: treeFactory(task, sandboxOf(task)),
});
const componentOf = (a: AdversarialSignals | null) =>
  adversarial({ submitted: true, escalated: false, steps: 1, invalidActions: 0, wallMs: 0, adversarial: a! });

const OVERFIT_IDS = [
  'pagekit__content-range-empty-1',
  'slugkit__camel-case-first-word-1',
  'csvlite__padded-numbers-1',
  'textstats__summary-sentence-count-1',
  'textstats__punctuation-only-sentence-2',
];

describe('differential adversary', () => {
  it('builtin:overfit has at least 3 tasks (JavaScript and Python)', () => {
    expect(tasks.map((t) => t.instance_id).sort()).toEqual([...OVERFIT_IDS].sort());
  });

  it.each(OVERFIT_IDS)(
    '%s: valid failing tests for the overfit patch, none for the gold patch',
    async (id) => {
      const task = tasks.find((t) => t.instance_id === id)!;
      const attack = differentialAdversary();
      const onOverfit = (await attack(request(task, overfitPatch(task))))!;
      expect(onOverfit.error).toBeUndefined();
      expect(onOverfit.reference).toBe('gold');
      expect(onOverfit.tests.length).toBeGreaterThan(0);
      for (const t of onOverfit.tests) {
        expect(t.passedOnReference, t.name).toBe(true);
        expect(t.passedOnCandidate, t.name).toBe(false);
        expect(onOverfit.files[t.file], t.file).toContain(t.input!.split('(')[0]);
      }
      expect(componentOf(onOverfit).value).toBe(0);

      const onGold = (await attack(request(task, task.patch)))!;
      expect(onGold.tests).toEqual([]);
      expect(onGold.tried).toBeGreaterThan(50);
      expect(componentOf(onGold).value).toBe(1);
    },
  );

  it('the same seed writes the same tests', async () => {
    const task = tasks.find((t) => t.instance_id === 'csvlite__padded-numbers-1')!;
    const first = (await differentialAdversary({ seed: 7 })(request(task, overfitPatch(task))))!;
    const second = (await differentialAdversary({ seed: 7 })(request(task, overfitPatch(task))))!;
    expect(second.files).toEqual(first.files);
    expect(second.tests.map((t) => t.input)).toEqual(first.tests.map((t) => t.input));
  });

  it('without a gold patch it writes nothing and the component stays neutral', async () => {
    const task = { ...tasks[0]!, patch: '' };
    const result = (await differentialAdversary()(request(task, overfitPatch(tasks[0]!))))!;
    expect(result.reference).toBe('none');
    expect(result.tests).toEqual([]);
    expect(result.notes!.join()).toMatch(/no reference solution/);
    expect(componentOf(result).value).toBe(1);
  });

  it('a candidate whose function hangs costs no test and does not hang the adversary', async () => {
    const task = tasks.find((t) => t.instance_id === 'slugkit__camel-case-first-word-1')!;
    // The overfit tree with an endless loop at the top of camelCase, as a patch against the base.
    const tree = await request(task, '').makeSandbox();
    let hanging: string;
    try {
      await tree.exec(['git', 'apply', '-'], { stdin: overfitPatch(task) });
      const source = await tree.readFile('src/case.js');
      const edited = source.replace(/(export function camelCase\([^)]*\) \{)/, '$1\n  while (true) {}');
      expect(edited).not.toBe(source);
      await tree.writeFile('src/case.js', edited);
      hanging = await tree.diff();
    } finally {
      await tree.dispose();
    }
    const result = (await differentialAdversary({ timeoutSec: 3 })(request(task, hanging)))!;
    expect(result.error).toBeUndefined();
    expect(result.tests).toEqual([]);
    expect(result.notes!.join()).toMatch(/0 diverged/);
  });
});

describe('through the env', () => {
  async function episode(task: Task, patch: string, on: 'resolved' | 'submitted' = 'resolved') {
    const env = new CodingEnv({
      tasks: [task],
      reward: 'robust',
      sandbox: (t) => sandboxOf(t)(),
      adversary: makeAdversary({
        kind: 'differential',
        on,
        inputs: 200,
        seed: 0,
        tests_per_target: 3,
        timeout_sec: 60,
      }),
    });
    try {
      await env.reset({ seed: 1 });
      if (patch) await env.step({ kind: 'apply_patch', diff: patch });
      const last = await env.step({ kind: 'submit' });
      return { reward: last.reward, signals: last.info.signals as EpisodeSignals };
    } finally {
      await env.close();
    }
  }

  it('the overfit patch is resolved, yet `robust` drops by the adversarial half; the gold patch keeps it', async () => {
    const task = tasks.find((t) => t.instance_id === 'pagekit__content-range-empty-1')!;
    const overfit = await episode(task, overfitPatch(task));
    expect(overfit.signals.grade!.resolved).toBe(true);
    expect(overfit.signals.adversarial!.tests.length).toBeGreaterThan(0);
    expect(score(BUILTIN_VARIANTS.swebench!, overfit.signals).value).toBe(1);
    expect(overfit.reward).toBe(0.5);
    const gold = await episode(task, task.patch);
    expect(gold.signals.adversarial!.tests).toEqual([]);
    expect(gold.reward).toBe(1);
  });

  it('an unresolved submission is attacked only when the config says `on: submitted`', async () => {
    const task = tasks.find((t) => t.instance_id === 'csvlite__padded-numbers-1')!;
    expect((await episode(task, '')).signals.adversarial).toBeUndefined();
    const attacked = await episode(task, '', 'submitted');
    expect(attacked.signals.adversarial!.tests.length).toBeGreaterThan(0);
  });
});

describe('in an experiment', () => {
  it('config `adversary` attacks each resolved submission; `robust` is stored beside the primary', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'repogym-test-'));
    try {
      const task = tasks.find((t) => t.instance_id === 'csvlite__padded-numbers-1')!;
      const actions = path.join(dir, 'overfit.jsonl');
      await writeFile(actions, `${JSON.stringify({ kind: 'apply_patch', diff: overfitPatch(task) })}\n`);
      const config = parseConfig(
        JSON.stringify({
          name: 'adversary',
          dataset: { name: 'builtin:overfit', filter: { instance_ids: [task.instance_id] } },
          policies: [{ name: 'oracle' }, { name: 'replay', actions }],
          adversary: { kind: 'differential' },
          reward: { primary: 'swebench', variants: ['robust'] },
        }),
      );
      await runExperiment(config, { outDir: path.join(dir, 'run') });
      const db = new Database(path.join(dir, 'run', 'runs.sqlite'), { readonly: true });
      const rows = db
        .prepare(
          `SELECT e.policy, e.signals_json, r.variant, r.value FROM episodes e JOIN rewards r ON r.episode_id = e.id
           ORDER BY e.policy, r.variant`,
        )
        .all() as { policy: string; signals_json: string; variant: string; value: number }[];
      db.close();
      expect(rows.map((r) => [r.policy, r.variant, r.value])).toEqual([
        ['oracle', 'robust', 1],
        ['oracle', 'swebench', 1],
        ['replay', 'robust', 0.5],
        ['replay', 'swebench', 1],
      ]);
      const replay = JSON.parse(rows[2]!.signals_json) as EpisodeSignals;
      expect(replay.adversarial!.tests.every((t) => t.passedOnReference && !t.passedOnCandidate)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('CLI', () => {
  it('`repogym run --adversary differential` prints the tests that broke the overfit patch', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'repogym-test-'));
    try {
      const task = tasks.find((t) => t.instance_id === 'csvlite__padded-numbers-1')!;
      const actions = path.join(dir, 'overfit.jsonl');
      await writeFile(actions, `${JSON.stringify({ kind: 'apply_patch', diff: overfitPatch(task) })}\n`);
      const bin = path.join(import.meta.dirname, '..', 'bin', 'repogym.js');
      const args = ['run', '--dataset', 'builtin:overfit', '--task', task.instance_id, '--policy', 'replay'];
      const output = execFileSync(
        'node',
        [bin, ...args, '--actions', actions, '--adversary', 'differential'],
        {
          encoding: 'utf8',
        },
      );
      expect(output).toMatch(/adversary differential: \d+ tried, 3 valid tests, 3 broke the patch/);
      expect(output).toContain('── test/repogym-adversarial.test.js');
      expect(output).toMatch(/result csvlite__padded-numbers-1: resolved/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('LLM adversary', () => {
  let server: ChatServer;
  const TEST_FILE = 'test/break-camel.test.js';
  const CONTENT = [
    "import { test } from 'node:test';",
    "import assert from 'node:assert/strict';",
    "import { camelCase } from '../src/case.js';",
    "test('an acronym first word is lowercased whole', () => assert.equal(camelCase('URL path'), 'urlPath'));",
    "test('a guess the intent does not support', () => assert.equal(camelCase('a b'), 'a_b'));",
    '',
  ].join('\n');

  beforeAll(async () => {
    const script = [
      { toolCall: { name: 'read_file', arguments: { path: 'src/case.js' } } },
      { toolCall: { name: 'write_file', arguments: { path: TEST_FILE, content: CONTENT } } },
      { toolCall: { name: 'run_tests', arguments: {} } },
      { toolCall: { name: 'submit', arguments: { message: 'two tests' } } },
    ];
    server = await startChatServer((_, i) => script[Math.min(i, script.length - 1)]!);
  });
  afterAll(() => server.close());

  it("validates the tester's tests on the gold patch and judges the candidate by the valid ones", async () => {
    const task = tasks.find((t) => t.instance_id === 'slugkit__camel-case-first-word-1')!;
    const llm = llmOptionsSchema.parse({ base_url: server.url, model: 'scripted' });
    const result = (await llmAdversary({ llm, maxSteps: 8 })(request(task, overfitPatch(task))))!;
    const byName = new Map(result.tests.map((t) => [t.name, t]));
    expect([...byName.keys()].sort()).toEqual([
      'a guess the intent does not support',
      'an acronym first word is lowercased whole',
    ]);
    expect(byName.get('an acronym first word is lowercased whole')).toMatchObject({
      passedOnReference: true,
      passedOnCandidate: false,
    });
    expect(byName.get('a guess the intent does not support')!.passedOnReference).toBe(false);
    expect(result.files[TEST_FILE]).toBe(CONTENT);
    const component = componentOf(result);
    expect(component.value).toBe(0);
    expect(component.details).toMatchObject({ valid: 1, invalid: 1 });
    // It saw the intent and the candidate diff, never the hidden tests.
    const sent = JSON.stringify(server.requests);
    expect(sent).toContain(JSON.stringify(overfitPatch(task).trim()).slice(1, 60));
    expect(sent).toContain('independent tester');
    for (const line of task.test_patch.split('\n').filter((l) => l.startsWith('+') && l.length > 20))
      expect(sent).not.toContain(JSON.stringify(line.slice(1)).slice(1, -1));
  });
});

describe('literals in generated tests', () => {
  const values: Tagged[] = [
    'a "quoted"\n\ttab é \u2028 \\ end',
    -3.25,
    0,
    { $number: '-0' },
    { $number: 'NaN' },
    { $undefined: true },
    [1, [2, { k: null, 'odd key': true }]],
  ];

  it('jsLiteral evaluates back to the value', () => {
    const source = `const v = [${values.map(jsLiteral).join(', ')}];
      process.stdout.write(JSON.stringify(v.map((x) => Object.is(x, -0) ? '-0' : Number.isNaN(x) ? 'NaN' : x === undefined ? 'undef' : x)));`;
    const back = JSON.parse(execFileSync('node', ['-e', source], { encoding: 'utf8' })) as unknown[];
    expect(back).toEqual([values[0], -3.25, 0, '-0', 'NaN', 'undef', values[6]]);
  });

  it('pyLiteral evaluates back to the value', () => {
    const py: Tagged[] = [
      'a "quoted"\n\ttab é \\ end',
      { $float: '2' },
      { $decimal: '1.10' },
      { $tuple: [1] },
      { $tuple: [] },
      [true, false, null, { k: [1] }],
    ];
    const source = `from decimal import Decimal
v = [${py.map(pyLiteral).join(', ')}]
print(repr(v))`;
    const printed = execFileSync('python3', ['-c', source], { encoding: 'utf8' }).trim();
    expect(printed).toBe(
      `['a "quoted"\\n\\ttab é \\\\ end', 2.0, Decimal('1.10'), (1,), (), [True, False, None, {'k': [1]}]]`,
    );
  });
});
