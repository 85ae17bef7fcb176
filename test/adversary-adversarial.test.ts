// Adversarial tests of the adversarial tester (policies/adversary/): inputs, repositories and candidate
// patches on which it is wrong, can be fooled, or loses its findings. Real git repositories (makeRepo), real
// sandboxes (createLocalSandbox via treeFactory), the real chat server; nothing of ours is mocked.
//
// Tests named "was a defect" failed when written and pass since the fix; "probe" tests passed from the start.
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset, loadRows } from '../datasets/loader.ts';
import type { Task } from '../datasets/types.ts';
import { treeFactory } from '../env/grading.ts';
import { FIXED_IDENTITY, git } from '../env/git.ts';
import { createLocalSandbox } from '../env/sandbox/local.ts';
import {
  differentialAdversary,
  llmAdversary,
  type DifferentialOptions,
} from '../policies/adversary/index.ts';
import { llmOptionsSchema } from '../policies/llm.ts';
import { adversarial } from '../rewards/components.ts';
import type { AdversarialSignals } from '../rewards/types.ts';
import { startChatServer, type ChatServer, type Reply } from './chat-server.ts';
import { isRunning, makeRepo, removeDir, treeHash, withHostPid } from './helpers.ts';

type Files = Record<string, string | null>;

const fixtureDirs: string[] = [];
afterAll(async () => {
  await Promise.all(fixtureDirs.map(removeDir));
});

/** The diff from `base` to `base` with `changes` written (null deletes a file), from a scratch repository. */
async function patchOf(base: Record<string, string>, changes: Files): Promise<string> {
  const { dir } = await makeRepo(base);
  try {
    for (const [name, content] of Object.entries(changes)) {
      const file = path.join(dir, name);
      if (content === null) await rm(file, { force: true });
      else {
        await mkdir(path.dirname(file), { recursive: true });
        await writeFile(file, content);
      }
    }
    await git(['add', '-A'], { cwd: dir });
    return await git(['diff', '--cached', '--binary'], { cwd: dir });
  } finally {
    await removeDir(dir);
  }
}

interface Scenario {
  task: Task;
  gold: string;
  patch: (changes: Files) => Promise<string>;
}

/** A task over a fresh repository: `gold` and `hidden` are files changed relative to `base`. */
async function scenario(opts: {
  language: 'javascript' | 'python';
  base: Record<string, string>;
  gold: Files;
  hidden: Files;
  statement?: string;
  row?: Record<string, unknown>;
  /** Files committed as raw bytes on top of `base` (not part of the patches' base). */
  bytes?: Record<string, Buffer>;
}): Promise<Scenario> {
  const repo = await makeRepo(opts.base);
  fixtureDirs.push(repo.dir);
  if (opts.bytes) {
    for (const [name, content] of Object.entries(opts.bytes)) {
      await mkdir(path.dirname(path.join(repo.dir, name)), { recursive: true });
      await writeFile(path.join(repo.dir, name), content);
    }
    await git(['add', '-A'], { cwd: repo.dir });
    await git(['commit', '-q', '-m', 'bytes'], { cwd: repo.dir, env: FIXED_IDENTITY });
    repo.commit = (await git(['rev-parse', 'HEAD'], { cwd: repo.dir })).trim();
  }
  const gold = await patchOf(opts.base, opts.gold);
  const testPatch = await patchOf(opts.base, opts.hidden);
  const { tasks, errors } = await loadRows(
    [
      {
        line: 1,
        value: {
          instance_id: `fixture__${opts.language}-1`,
          repo: repo.dir,
          base_commit: repo.commit,
          patch: gold,
          test_patch: testPatch,
          problem_statement: opts.statement ?? 'The function is wrong on some inputs.',
          FAIL_TO_PASS: [],
          PASS_TO_PASS: [],
          language: opts.language,
          timeouts: { test_sec: 60, command_sec: 30, episode_sec: 300 },
          ...opts.row,
        },
      },
    ],
    '/',
  );
  if (errors.length) throw new Error(JSON.stringify(errors));
  return { task: tasks[0]!, gold, patch: (changes) => patchOf(opts.base, changes) };
}

const sandboxes = (task: Task) =>
  treeFactory(task, () =>
    createLocalSandbox({ repo: task.repo, commit: task.base_commit, defaultTimeoutSec: 60 }),
  );

async function attack(task: Task, patch: string, opts: DifferentialOptions = {}) {
  const result = await differentialAdversary({ inputs: 120, ...opts })({
    task,
    patch,
    resolved: true,
    makeSandbox: sandboxes(task),
  });
  return result!;
}

const componentOf = (a: AdversarialSignals) =>
  adversarial({ submitted: true, escalated: false, steps: 1, invalidActions: 0, wallMs: 0, adversarial: a });

/** Valid tests (pass on the reference) that the candidate fails: what the adversary is for. */
const breaking = (a: AdversarialSignals) =>
  a.tests.filter((t) => t.passedOnReference === true && !t.passedOnCandidate);

// ---------------------------------------------------------------------------------------------------------
// JavaScript: pageCount(total, perPage) should round up; the overfit candidate special-cases the hidden test.

const PAGES_BASE = {
  'package.json': '{ "name": "pages", "type": "module" }\n',
  'src/pages.js': [
    '// Number of pages needed to show `total` items, `perPage` on each page.',
    'export function pageCount(total, perPage) {',
    '  return Math.floor(total / perPage);',
    '}',
    '',
  ].join('\n'),
  'test/pages.test.js': [
    "import { test } from 'node:test';",
    "import assert from 'node:assert/strict';",
    "import { pageCount } from '../src/pages.js';",
    '',
    "test('pageCount of an exact multiple', () => {",
    '  assert.equal(pageCount(10, 5), 2);',
    '  assert.equal(pageCount(0, 5), 0);',
    '});',
    '',
  ].join('\n'),
};
const pagesSource = (body: string[], prelude: string[] = []) =>
  [
    ...prelude,
    '// Number of pages needed to show `total` items, `perPage` on each page.',
    'export function pageCount(total, perPage) {',
    ...body.map((l) => `  ${l}`),
    '}',
    '',
  ].join('\n');
const PAGES_GOLD = pagesSource(['return Math.ceil(total / perPage);']);
/** Wrong on every partial page but the one the hidden test checks. */
const OVERFIT_BODY = ['if (total === 11 && perPage === 5) return 3;', 'return Math.floor(total / perPage);'];
const PAGES_HIDDEN = {
  'test/partial.test.js': [
    "import { test } from 'node:test';",
    "import assert from 'node:assert/strict';",
    "import { pageCount } from '../src/pages.js';",
    '',
    "test('pageCount of a partial page', () => {",
    '  assert.equal(pageCount(11, 5), 3);',
    '});',
    '',
  ].join('\n'),
};

describe('differential adversary: JavaScript candidates', () => {
  let pages: Scenario;
  beforeAll(async () => {
    pages = await scenario({
      language: 'javascript',
      base: PAGES_BASE,
      gold: { 'src/pages.js': PAGES_GOLD },
      hidden: PAGES_HIDDEN,
    });
  });

  it('probe: the plain overfit candidate gets valid failing tests; the gold patch none', async () => {
    const overfit = await attack(
      pages.task,
      await pages.patch({ 'src/pages.js': pagesSource(OVERFIT_BODY) }),
    );
    expect(overfit.error).toBeUndefined();
    expect(breaking(overfit).length).toBeGreaterThan(0);
    expect(componentOf(overfit).value).toBe(0);
    const gold = await attack(pages.task, pages.gold);
    expect(gold.error).toBeUndefined();
    expect(gold.tests).toEqual([]);
  });

  it('was a defect: a debug console.log of an object in the candidate hides every divergence', async () => {
    // `console.log({ total, perPage })` prints `{ total: 3, perPage: 2 }`: a line starting with `{` that is not
    // JSON. The driver protocol is parsed from the same stdout, so parsing stops there and no input is answered.
    const patch = await pages.patch({
      'src/pages.js': pagesSource(['console.log({ total, perPage });', ...OVERFIT_BODY]),
    });
    const result = await attack(pages.task, patch);
    expect(result.error).toBeUndefined();
    expect(breaking(result).length).toBeGreaterThan(0);
    expect(componentOf(result).value).toBe(0);
  });

  it('was a defect: a candidate that prints forged driver lines at import is never tested', async () => {
    // Lines of the driver's own protocol, printed by the module under test before the driver answers: every
    // input then reads as `nondeterministic` and is dropped. No error, no note: the wrong patch looks clean.
    const forge = [
      "if (process.argv[1]?.endsWith('drive.mjs'))",
      '  process.stdout.write(\'{"nondeterministic":true}\\n\'.repeat(100000));',
    ];
    const patch = await pages.patch({ 'src/pages.js': pagesSource(OVERFIT_BODY, forge) });
    const result = await attack(pages.task, patch);
    expect(breaking(result).length).toBeGreaterThan(0);
    expect(componentOf(result).value).toBe(0);
  });

  it('probe: decoy passing tests with the generated titles, written by the candidate, do not count', async () => {
    // The candidate tree the driver ran the candidate's code in is reused to judge the tests, and TAP names are
    // not qualified by file; but a name reported both passed and failed counts as failed (mergeDuplicates).
    const decoy = [1, 2, 3, 4, 5]
      .map((i) => `test('repogym adversarial ${i}: pageCount', () => {});`)
      .join('\\n');
    const prelude = [
      "import { writeFileSync } from 'node:fs';",
      "if (process.argv[1]?.endsWith('drive.mjs'))",
      `  writeFileSync('test/zz-decoy.test.mjs', "import { test } from 'node:test';\\n${decoy}\\n");`,
    ];
    const patch = await pages.patch({ 'src/pages.js': pagesSource(OVERFIT_BODY, prelude) });
    const result = await attack(pages.task, patch);
    expect(result.tests.length).toBeGreaterThan(0);
    expect(breaking(result).length).toBeGreaterThan(0);
    expect(componentOf(result).value).toBe(0);
  });

  it('was a defect: a candidate that disables assert.deepStrictEqual at import passes every generated test', async () => {
    // The generated test compares with `assert.deepStrictEqual` from the shared `node:assert/strict` module,
    // which the module under test (imported first) can overwrite.
    const prelude = ["import assert from 'node:assert/strict';", 'assert.deepStrictEqual = () => {};'];
    const patch = await pages.patch({ 'src/pages.js': pagesSource(OVERFIT_BODY, prelude) });
    const result = await attack(pages.task, patch);
    expect(result.tests.length).toBeGreaterThan(0);
    expect(breaking(result).length).toBeGreaterThan(0);
    expect(componentOf(result).value).toBe(0);
  });
});

describe('differential adversary: JavaScript robustness', () => {
  it('was a defect: a candidate that hangs on one small input hides its wrong answers on all the others', async () => {
    const s = await scenario({
      language: 'javascript',
      base: PAGES_BASE,
      gold: { 'src/pages.js': PAGES_GOLD },
      hidden: PAGES_HIDDEN,
    });
    // A loop that never ends for a zero page size (the reference returns Infinity/NaN there). All inputs run in
    // one process, smallest first, so the hang leaves every later input unanswered: no test at all.
    // It is right for single-digit totals and wrong (rounds down) from 10 on; inputs with one-digit totals are
    // the smallest, so the hang comes before any of the diverging ones.
    const patch = await s.patch({
      'src/pages.js': pagesSource([
        'if (perPage === 0) for (;;);',
        'if (total < 10) return Math.ceil(total / perPage);',
        ...OVERFIT_BODY,
      ]),
    });
    const result = await attack(s.task, patch, { timeoutSec: 3 });
    expect(result.error).toBeUndefined();
    expect(breaking(result).length).toBeGreaterThan(0);
  });

  it('was a defect: one changed function missing from the candidate aborts the attack on all the others', async () => {
    // The gold patch changes pageCount, and lastPage calls it: two targets. The candidate inlines lastPage away
    // (and is wrong on pageCount). The driver's `fatal` for lastPage throws out of the whole run.
    const base = {
      ...PAGES_BASE,
      'test/pages.test.js': PAGES_BASE['test/pages.test.js']
        .replace('{ pageCount }', '{ lastPage, pageCount }')
        .replace('  assert.equal(pageCount(0, 5), 0);', '  assert.equal(lastPage(10, 5), 2);'),
      'src/pages.js': [
        'export function pageCount(total, perPage) {',
        '  return Math.floor(total / perPage);',
        '}',
        '',
        'export function lastPage(total, perPage) {',
        '  return pageCount(total, perPage);',
        '}',
        '',
      ].join('\n'),
    };
    const s = await scenario({
      language: 'javascript',
      base,
      gold: { 'src/pages.js': base['src/pages.js'].replace('Math.floor', 'Math.ceil') },
      hidden: PAGES_HIDDEN,
    });
    const patch = await s.patch({ 'src/pages.js': pagesSource(OVERFIT_BODY) });
    const result = await attack(s.task, patch);
    expect(result.error).toBeUndefined();
    expect(breaking(result).some((t) => t.target === 'src/pages.js#pageCount')).toBe(true);
  });

  it('a correct fix that differs only in -0 vs 0 gets no valid failing test', async () => {
    // offset(page, perPage): the gold patch writes (page - 1) * perPage, the candidate page * perPage - perPage.
    // Equal for every integer input, except that the gold gives -0 where the candidate gives 0 (page 1 with a
    // negative page size): no `===`, JSON or intent distinguishes them, yet the test asserts the reference's -0.
    const source = (expr: string) =>
      `// Index of the first item of a 1-based page.\nexport function offset(page, perPage) {\n  return ${expr};\n}\n`;
    const s = await scenario({
      language: 'javascript',
      base: {
        'package.json': '{ "name": "offsets", "type": "module" }\n',
        'src/offset.js': source('page * perPage'),
        'test/offset.test.js': [
          "import { test } from 'node:test';",
          "import assert from 'node:assert/strict';",
          "import { offset } from '../src/offset.js';",
          "test('offset of page 2', () => assert.equal(offset(2, 10), 10));",
          '',
        ].join('\n'),
      },
      gold: { 'src/offset.js': source('(page - 1) * perPage') },
      hidden: {},
    });
    const result = await attack(
      s.task,
      await s.patch({ 'src/offset.js': source('page * perPage - perPage') }),
    );
    expect(result.error).toBeUndefined();
    expect(breaking(result).map((t) => t.input)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Python: slug(text) should lowercase; the overfit candidate special-cases the hidden test.

const slugSource = (body: string[], prelude: string[] = []) =>
  [...prelude, 'def slug(text):', ...body.map((l) => `    ${l}`), ''].join('\n');
const SLUG_BASE_BODY = ['return text.strip().replace(" ", "-")'];
const SLUG_GOLD_BODY = ['return text.strip().lower().replace(" ", "-")'];
const SLUG_OVERFIT_BODY = ['if text == "A B":', '    return "a-b"', ...SLUG_BASE_BODY];
const slugTest = (importLine: string) =>
  `${importLine}\n\n\ndef test_slug():\n    assert slug("a b") == "a-b"\n    assert slug(" x ") == "x"\n`;
const SLUG_HIDDEN = (importLine: string, dir = 'tests') => ({
  [`${dir}/test_case.py`]: `${importLine}\n\n\ndef test_upper():\n    assert slug("A B") == "a-b"\n`,
});

describe('differential adversary: Python repositories', () => {
  it('probe: a plain package gets valid failing tests for the overfit candidate', async () => {
    const s = await scenario({
      language: 'python',
      base: {
        'mylib/__init__.py': '',
        'mylib/text.py': slugSource(SLUG_BASE_BODY),
        'tests/test_text.py': slugTest('from mylib.text import slug'),
      },
      gold: { 'mylib/text.py': slugSource(SLUG_GOLD_BODY) },
      hidden: SLUG_HIDDEN('from mylib.text import slug'),
    });
    const result = await attack(s.task, await s.patch({ 'mylib/text.py': slugSource(SLUG_OVERFIT_BODY) }));
    expect(result.error).toBeUndefined();
    expect(breaking(result).length).toBeGreaterThan(0);
    expect((await attack(s.task, s.gold)).tests).toEqual([]);
  });

  it('was a defect: a package that re-exports a function under its module name gets only invalid tests', async () => {
    // mylib/__init__.py: `from .slug import slug` (a common idiom) rebinds the attribute `mylib.slug` to the
    // function. The generated test does `import mylib.slug` and calls `mylib.slug.slug(...)`: AttributeError on
    // the reference too, so every test is invalid and the overfit candidate scores 1.
    const s = await scenario({
      language: 'python',
      base: {
        'mylib/__init__.py': 'from .slug import slug\n',
        'mylib/slug.py': slugSource(SLUG_BASE_BODY),
        'tests/test_slug.py': slugTest('from mylib import slug'),
      },
      gold: { 'mylib/slug.py': slugSource(SLUG_GOLD_BODY) },
      hidden: SLUG_HIDDEN('from mylib import slug'),
    });
    const result = await attack(s.task, await s.patch({ 'mylib/slug.py': slugSource(SLUG_OVERFIT_BODY) }));
    expect(result.error).toBeUndefined();
    expect(result.tests.length).toBeGreaterThan(0);
    expect(result.tests.filter((t) => t.passedOnReference !== true)).toEqual([]);
    expect(breaking(result).length).toBeGreaterThan(0);
  });

  it('was a defect: a module whose file name has a dash gets a test file that does not compile', async () => {
    // importlib imports `tools.make-slug` fine (the driver works), but the generated `import tools.make-slug` is
    // a SyntaxError: every test fails on the reference and is dropped as invalid.
    const load = 'import importlib\n\nslug = importlib.import_module("tools.make-slug").slug';
    const s = await scenario({
      language: 'python',
      base: {
        'tools/__init__.py': '',
        'tools/make-slug.py': slugSource(SLUG_BASE_BODY),
        'tests/test_tool.py': slugTest(load),
      },
      gold: { 'tools/make-slug.py': slugSource(SLUG_GOLD_BODY) },
      hidden: SLUG_HIDDEN(load),
    });
    const result = await attack(
      s.task,
      await s.patch({ 'tools/make-slug.py': slugSource(SLUG_OVERFIT_BODY) }),
    );
    expect(result.error).toBeUndefined();
    expect(breaking(result).length).toBeGreaterThan(0);
  });

  it('was a defect: a src/ layout (pytest pythonpath = src) makes the adversary fail outright', async () => {
    // The module is imported as `src.mylib.core`, so its own absolute import `from mylib.util import …` fails
    // in the driver: `fatal`, and the whole attack is an error (component neutral) for a wrong candidate.
    const core = (body: string[]) => slugSource(body, ['from mylib.util import norm', '', '']);
    const normBody = (b: string[]) => b.map((l) => l.replace('text.strip()', 'norm(text)'));
    const s = await scenario({
      language: 'python',
      base: {
        'pytest.ini': '[pytest]\npythonpath = src\n',
        'src/mylib/__init__.py': '',
        'src/mylib/util.py': 'def norm(text):\n    return text.strip()\n',
        'src/mylib/core.py': core(normBody(SLUG_BASE_BODY)),
        'tests/test_core.py': slugTest('from mylib.core import slug'),
      },
      gold: { 'src/mylib/core.py': core(normBody(SLUG_GOLD_BODY)) },
      hidden: SLUG_HIDDEN('from mylib.core import slug'),
    });
    const result = await attack(
      s.task,
      await s.patch({ 'src/mylib/core.py': core(normBody(SLUG_OVERFIT_BODY)) }),
    );
    expect(result.error).toBeUndefined();
    expect(breaking(result).length).toBeGreaterThan(0);
  });

  it('was a defect: a function returning a generator can never be broken (its tests compare memory addresses)', async () => {
    const gen = (expr: string) => `def slugs(text):\n    return (${expr} for w in text.split(","))\n`;
    const s = await scenario({
      language: 'python',
      base: {
        'mylib/__init__.py': '',
        'mylib/gen.py': gen('w.strip()'),
        'tests/test_gen.py':
          'from mylib.gen import slugs\n\n\ndef test_slugs():\n    assert list(slugs("a, b")) == ["a", "b"]\n',
      },
      gold: { 'mylib/gen.py': gen('w.strip().lower()') },
      hidden: {},
    });
    // Wrong on every input with a capital letter but "A".
    const result = await attack(
      s.task,
      await s.patch({ 'mylib/gen.py': gen('("a" if w.strip() == "A" else w.strip())') }),
    );
    expect(result.error).toBeUndefined();
    expect(breaking(result).length).toBeGreaterThan(0);
  });

  it('was a defect: sets of strings diverge by hash order, so the gold patch itself gets tests', async () => {
    // Each Python process has its own string hash seed: the repr of {'a', 'b'} differs between the candidate's
    // and the reference's driver runs, and the comparison is by encoded repr. The tests written pass on both
    // (set equality), but "on the gold patch itself it finds nothing" does not hold, and they take the
    // tests_per_target slots (next test).
    const tags = (expr: string) =>
      `def tags(text):\n    return {${expr} for w in text.split() if w.startswith("#")}\n`;
    const s = await scenario({
      language: 'python',
      base: {
        'mylib/__init__.py': '',
        'mylib/tags.py': tags('w[1:]'),
        'tests/test_tags.py':
          'from mylib.tags import tags\n\n\ndef test_tags():\n    assert tags("#a #b x") == {"a", "b"}\n',
      },
      gold: { 'mylib/tags.py': tags('w[1:].lower()') },
      hidden: {},
    });
    const onGold = await attack(s.task, s.gold);
    expect(onGold.error).toBeUndefined();
    expect(onGold.tests).toEqual([]);
  });

  it('was a defect: hash-order divergences of sets crowd out the real ones: a wrong candidate scores 1', async () => {
    const tags = (expr: string) =>
      `def tags(text):\n    return {${expr} for w in text.split() if w.startswith("#")}\n`;
    const s = await scenario({
      language: 'python',
      base: {
        'mylib/__init__.py': '',
        'mylib/tags.py': tags('w[1:]'),
        'tests/test_tags.py':
          'from mylib.tags import tags\n\n\ndef test_tags():\n    assert tags("#a #b x") == {"a", "b"}\n',
      },
      gold: { 'mylib/tags.py': tags('w[1:].lower()') },
      hidden: {},
    });
    // Wrong (no lowercasing) on every input longer than 12 characters: the spurious divergences of the shorter
    // inputs take all tests_per_target slots with tests the candidate passes; the real ones are never written.
    const wrong = [
      'def tags(text):',
      '    if len(text) > 12:',
      '        return {w[1:] for w in text.split() if w.startswith("#")}',
      '    return {w[1:].lower() for w in text.split() if w.startswith("#")}',
      '',
    ].join('\n');
    const onWrong = await attack(s.task, await s.patch({ 'mylib/tags.py': wrong }));
    expect(onWrong.error).toBeUndefined();
    expect(breaking(onWrong).length).toBeGreaterThan(0);
    expect(componentOf(onWrong).value).toBeLessThan(1);
  });
});

describe('differential adversary: Python robustness and hostile candidates', () => {
  let text: Scenario;
  const BASE = {
    'mylib/__init__.py': '',
    'mylib/text.py': slugSource(SLUG_BASE_BODY),
    'tests/test_text.py': slugTest('from mylib.text import slug'),
  };
  beforeAll(async () => {
    text = await scenario({
      language: 'python',
      base: BASE,
      gold: { 'mylib/text.py': slugSource(SLUG_GOLD_BODY) },
      hidden: SLUG_HIDDEN('from mylib.text import slug'),
    });
  });

  it('was a defect: one test file that is not UTF-8 (a legal PEP 263 latin-1 file) makes the adversary fail', async () => {
    // analyse_py.py reads every test file with encoding="utf-8" and catches only OSError: the
    // UnicodeDecodeError ends the analysis, and the attack is an error.
    const s = await scenario({
      language: 'python',
      base: BASE,
      bytes: {
        'tests/test_legacy.py': Buffer.concat([
          Buffer.from('# -*- coding: latin-1 -*-\n\n\ndef test_cafe():\n    assert "caf'),
          Buffer.from([0xe9]),
          Buffer.from('" != ""\n'),
        ]),
      },
      gold: { 'mylib/text.py': slugSource(SLUG_GOLD_BODY) },
      hidden: SLUG_HIDDEN('from mylib.text import slug'),
    });
    const result = await attack(s.task, await s.patch({ 'mylib/text.py': slugSource(SLUG_OVERFIT_BODY) }));
    expect(result.error).toBeUndefined();
    expect(breaking(result).length).toBeGreaterThan(0);
  });

  it('was a defect: a candidate returning a str subclass whose __eq__ is always true passes every test', async () => {
    // The driver sees the wrong text (it encodes the str's content), but the generated test compares with `==`,
    // which the candidate's own __eq__ answers.
    const prelude = [
      'class _Same(str):',
      '    def __eq__(self, other):',
      '        return True',
      '',
      '    __hash__ = str.__hash__',
      '',
      '',
    ];
    const body = ['if text == "A B":', '    return "a-b"', 'return _Same(text.strip().replace(" ", "-"))'];
    const result = await attack(text.task, await text.patch({ 'mylib/text.py': slugSource(body, prelude) }));
    expect(result.tests.length).toBeGreaterThan(0);
    expect(breaking(result).length).toBeGreaterThan(0);
  });

  it('was a defect: a candidate that writes a conftest.py while the driver runs it is judged passing', async () => {
    // The tree the driver ran the candidate's code in is the one the tests are judged in. A conftest.py left
    // there (pytest loads it before collecting) turns every failing test into a pass.
    const conftest = [
      'import pytest',
      '',
      '',
      '@pytest.hookimpl(hookwrapper=True)',
      'def pytest_runtest_makereport(item, call):',
      '    outcome = yield',
      '    outcome.get_result().outcome = "passed"',
      '',
    ].join('\\n');
    const prelude = [
      'import sys',
      '',
      'if sys.argv[0].endswith("drive.py"):',
      '    with open("tests/conftest.py", "w") as out:',
      `        out.write("${conftest.replaceAll('"', '\\"')}")`,
      '',
      '',
    ];
    const result = await attack(
      text.task,
      await text.patch({ 'mylib/text.py': slugSource(SLUG_OVERFIT_BODY, prelude) }),
    );
    expect(result.tests.length).toBeGreaterThan(0);
    expect(breaking(result).length).toBeGreaterThan(0);
    expect(componentOf(result).value).toBe(0);
  });

  it('was a defect: a debug print of a dict in the candidate hides every divergence', async () => {
    const body = ['print({"text": text})', ...SLUG_OVERFIT_BODY];
    const result = await attack(text.task, await text.patch({ 'mylib/text.py': slugSource(body) }));
    expect(result.error).toBeUndefined();
    expect(breaking(result).length).toBeGreaterThan(0);
  });
});

describe('differential adversary: sandbox hygiene', () => {
  it('probe: the candidate cannot leave a process behind nor write outside its tree', async () => {
    const s = await scenario({
      language: 'javascript',
      base: PAGES_BASE,
      gold: { 'src/pages.js': PAGES_GOLD },
      hidden: PAGES_HIDDEN,
    });
    const fragment = withHostPid('bg', 'sleep 300');
    const tag = Number(/repogym-tag-(\d+)/.exec(fragment)![1]);
    const outside = path.join(s.task.repo, 'pwned.txt');
    const prelude = [
      "import { spawn } from 'node:child_process';",
      "import { writeFileSync } from 'node:fs';",
      `spawn('bash', ['-c', ${JSON.stringify(fragment)}], { detached: true, stdio: 'ignore' }).unref();`,
      `try { writeFileSync(${JSON.stringify(outside)}, 'x'); } catch {}`,
      "try { writeFileSync('/tmp/repogym-pwned.txt', 'x'); } catch {}",
    ];
    const before = await treeHash(s.task.repo);
    const result = await attack(
      s.task,
      await s.patch({ 'src/pages.js': pagesSource(OVERFIT_BODY, prelude) }),
    );
    expect(result.error).toBeUndefined();
    expect(breaking(result).length).toBeGreaterThan(0);
    expect(await isRunning(tag)).toBe(false);
    expect(await treeHash(s.task.repo)).toBe(before);
    expect(existsSync('/tmp/repogym-pwned.txt')).toBe(false);
  });
});

describe('differential adversary: what it misses', () => {
  it('a CommonJS module (module.exports) is attacked', async () => {
    const cjs = (body: string[]) =>
      [
        'function pageCount(total, perPage) {',
        ...body.map((l) => `  ${l}`),
        '}',
        '',
        'module.exports = { pageCount };',
        '',
      ].join('\n');
    const s = await scenario({
      language: 'javascript',
      base: {
        'package.json': '{ "name": "pages" }\n',
        'src/pages.js': cjs(['return Math.floor(total / perPage);']),
        'test/pages.test.js': [
          "const { test } = require('node:test');",
          "const assert = require('node:assert/strict');",
          "const { pageCount } = require('../src/pages.js');",
          "test('pageCount of an exact multiple', () => assert.equal(pageCount(10, 5), 2));",
          '',
        ].join('\n'),
      },
      gold: { 'src/pages.js': cjs(['return Math.ceil(total / perPage);']) },
      hidden: {},
    });
    const result = await attack(s.task, await s.patch({ 'src/pages.js': cjs(OVERFIT_BODY) }));
    expect(result.error).toBeUndefined();
    expect(result.notes).not.toContain('the gold patch changes no function it can call');
    expect(breaking(result).length).toBeGreaterThan(0);
  });
});

describe('LLM adversary', () => {
  let slugkit: Task;
  let server: ChatServer | undefined;
  beforeAll(async () => {
    slugkit = (await loadDataset('builtin:overfit')).tasks.find(
      (t) => t.instance_id === 'slugkit__camel-case-first-word-1',
    )!;
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });
  const overfit = () => (slugkit.context.overfit_patches as { patch: string }[])[0]!.patch;
  const builtinSandboxes = (task: Task) =>
    treeFactory(task, () =>
      createLocalSandbox({ repo: task.repo, commit: task.base_commit, defaultTimeoutSec: 60 }),
    );
  async function llmAttack(replies: Reply[], maxSteps = 8) {
    server = await startChatServer((_, i) => replies[Math.min(i, replies.length - 1)]!);
    const llm = llmOptionsSchema.parse({ base_url: server.url, model: 'scripted' });
    const result = await llmAdversary({ llm, maxSteps })({
      task: slugkit,
      patch: overfit(),
      resolved: true,
      makeSandbox: builtinSandboxes(slugkit),
    });
    return result!;
  }
  const testFile = (title: string, input: string, expected: string) =>
    [
      "import { test } from 'node:test';",
      "import assert from 'node:assert/strict';",
      "import { camelCase } from '../src/case.js';",
      `test(${JSON.stringify(title)}, () => assert.equal(camelCase(${JSON.stringify(input)}), ${JSON.stringify(expected)}));`,
      '',
    ].join('\n');
  const write = (p: string, content: string): Reply => ({
    toolCall: { name: 'write_file', arguments: { path: p, content } },
  });
  const submit: Reply = { toolCall: { name: 'submit', arguments: { message: 'tests' } } };

  it('was a defect: with two test files, each test names both files instead of its own', async () => {
    const result = await llmAttack([
      write('test/break-a.test.js', testFile('acronym first word', 'URL path', 'urlPath')),
      write('test/break-b.test.js', testFile('plain words', 'user name', 'userName')),
      submit,
    ]);
    expect(result.tests.map((t) => t.name).sort()).toEqual(['acronym first word', 'plain words']);
    // AdversarialTest.file is "the file it lives in": a key of `files`, so a finding can be reproduced.
    const byName = Object.fromEntries(result.tests.map((t) => [t.name, t.file]));
    expect(byName).toEqual({
      'acronym first word': 'test/break-a.test.js',
      'plain words': 'test/break-b.test.js',
    });
  });

  it('probe: the tester never sees the gold patch nor the hidden tests; source edits are not its tests', async () => {
    const result = await llmAttack([
      { toolCall: { name: 'read_file', arguments: { path: 'src/case.js' } } },
      // It "fixes" the source so that its guess passes, and writes one valid failing test.
      {
        toolCall: {
          name: 'run',
          arguments: {
            command: "sed -i 's/export function camelCase/export function camelCaseOld/' src/case.js",
          },
        },
      },
      write('test/break.test.js', testFile('acronym first word', 'URL path', 'urlPath')),
      submit,
    ]);
    const sent = JSON.stringify(server!.requests);
    expect(sent).not.toContain('word.toLowerCase() : capitalize');
    expect(sent).not.toContain('camelCase lowercases the first word');
    expect(Object.keys(result.files)).toEqual(['test/break.test.js']);
    expect(result.tests).toEqual([
      expect.objectContaining({
        name: 'acronym first word',
        passedOnReference: true,
        passedOnCandidate: false,
      }),
    ]);
  });

  it('probe: a tester that never submits yields no test and a note, and leaves nothing behind', async () => {
    const result = await llmAttack(
      [
        write('test/break.test.js', testFile('acronym first word', 'URL path', 'urlPath')),
        { toolCall: { name: 'read_file', arguments: { path: 'src/case.js' } } },
      ],
      3,
    );
    expect(result.tests).toEqual([]);
    expect(result.notes).toContain('the tester did not submit');
    expect(componentOf(result).value).toBe(1);
  });

  it('probe: a test file that exits before running a test counts for nothing', async () => {
    const result = await llmAttack([write('test/crash.test.js', 'process.exit(1);\n'), submit]);
    expect(result.tests.filter((t) => t.passedOnReference === true)).toEqual([]);
    expect(componentOf(result).value).toBe(1);
  });

  it("DEFECT: the tester's prompt tells it to fix the code and that hidden tests grade it", async () => {
    // The tester task goes through CodingEnv's ordinary statement, which appends the coder's instructions
    // ("Edit the code so the issue is fixed, then submit. Hidden tests decide whether it is resolved.") to the
    // tester's intent: the opposite of "Do not edit source files" in its system prompt.
    await llmAttack([submit], 2);
    const user = server!.requests[0]!.messages.find((m) => m.role === 'user')!;
    expect(String(user.content)).not.toMatch(/Edit the code so the issue is fixed/);
    expect(String(user.content)).not.toMatch(/Hidden tests decide/);
  });
});
