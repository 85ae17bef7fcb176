// Adversarial tests for two recent changes: the per-test JavaScript spectrum probe (policies/repair/probe_js.mjs,
// run through probeCommand) and the one-spawn sandbox diff (env/git.ts gitSequence, env/sandbox/local.ts diff()).
// Written by a separate adversarial tester; the defects it found that are fixed stay as regression tests.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gitSequence, GitError } from '../env/git.ts';
import { createLocalSandbox } from '../env/sandbox/local.ts';
import type { Sandbox } from '../env/sandbox/types.ts';
import { probeSuspicion } from '../policies/repair/localise.ts';
import { probeCommand, reproVerdicts } from '../policies/repair/policy.ts';
import { reproductionOf } from '../policies/repair/reproduce.ts';
import { makeRepo, removeDir } from './helpers.ts';

const cleanup: string[] = [];
afterAll(async () => {
  for (const dir of cleanup) await removeDir(dir);
});

const tempDir = (label: string) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), `repogym-probeadv-${label}-`));
  cleanup.push(dir);
  return dir;
};

// src/calc.js: line 2 is run by every caller of shared, line 5 only by callers of half (the bug: * 3, not / 2).
const CALC = [
  'export function shared(x) {',
  '  return x + 1;',
  '}',
  'export function half(x) {',
  '  return shared(x) * 3;',
  '}',
  '',
].join('\n');

const lines = (...l: string[]) => [...l, ''].join('\n');
/** A node:test file: the two imports every one starts with, then `body`. */
const nodeTest = (...body: string[]) =>
  lines("import { test } from 'node:test';", "import assert from 'node:assert/strict';", ...body);

interface ProbeResult {
  output: string;
  scores: Map<number, number>;
  /** What the probe left in its TMPDIR. */
  leftovers: string[];
  summary: string;
}

/** Runs the JavaScript probe the way the policy does (bash -c probeCommand) in a fresh repo holding `files`. */
async function probe(
  files: Record<string, string>,
  opts: { testCmd?: string; statement?: string; file?: string; subdir?: string } = {},
): Promise<ProbeResult> {
  const { dir } = await makeRepo(files);
  cleanup.push(dir);
  const tmp = tempDir('tmp');
  const repro = opts.statement ? reproductionOf(opts.statement, 'javascript') : undefined;
  if (opts.statement) expect(repro, 'the statement gives a reproduction').toBeDefined();
  const output = execFileSync(
    'bash',
    ['-c', probeCommand('javascript', opts.testCmd ?? 'node --test', repro)!],
    {
      cwd: dir,
      timeout: 60_000,
      env: { ...process.env, TMPDIR: tmp },
    },
  ).toString();
  const file = opts.file ?? 'src/calc.js';
  return {
    output,
    scores: probeSuspicion(output, Object.keys(files)).get(file) ?? new Map(),
    leftovers: readdirSync(tmp),
    summary: /REPOGYM_PROBE .*/.exec(output)?.[0] ?? '(no summary)',
  };
}

// ---------------------------------------------------------------------------------------------------------------
describe('JavaScript probe: pinned behaviour', () => {
  it('scores per test: a line only the failing test runs outranks lines the passing tests in its file run too', async () => {
    const r = await probe({
      'src/calc.js': CALC,
      'test/calc.test.js': nodeTest(
        "import { half, shared } from '../src/calc.js';",
        "test('shared adds one', () => assert.equal(shared(1), 2));",
        "test('shared adds one again', () => assert.equal(shared(5), 6));",
        "test('half of 4', () => assert.equal(half(4), 2));",
      ),
    });
    expect(r.summary).toBe('REPOGYM_PROBE test_files=1 runs=4 failed=1');
    expect(r.scores.get(5)).toBe(1);
    expect(r.scores.get(2)!).toBeLessThan(1);
  });

  it('CommonJS test files (require("node:test")) are measured per test; the failing-only line scores 1', async () => {
    const r = await probe({
      'src/calc.js': lines(
        'function shared(x) {',
        '  return x + 1;',
        '}',
        'function half(x) {',
        '  return shared(x) * 3;',
        '}',
        'module.exports = { shared, half };',
      ),
      'test/calc.test.js': lines(
        "const { test } = require('node:test');",
        "const assert = require('node:assert/strict');",
        "const { half, shared } = require('../src/calc.js');",
        "test('shared adds one', () => assert.equal(shared(1), 2));",
        "test('shared adds one again', () => assert.equal(shared(5), 6));",
        "test('half of 4', () => assert.equal(half(4), 2));",
      ),
    });
    expect(r.summary).toBe('REPOGYM_PROBE test_files=1 runs=4 failed=1');
    expect(r.scores.get(5)).toBe(1);
    expect(r.scores.get(2)!).toBeLessThan(1);
    expect(r.leftovers).toEqual([]);
  });

  it('nested t.test subtests: the parent is not a second failing run; the failing subtest’s line scores 1', async () => {
    const r = await probe({
      'src/calc.js': CALC,
      'test/calc.test.js': nodeTest(
        "import { half, shared } from '../src/calc.js';",
        "test('shared adds one', () => assert.equal(shared(1), 2));",
        "test('nested', async (t) => {",
        "  await t.test('inner passes', () => assert.equal(shared(2), 3));",
        "  await t.test('inner fails', () => assert.equal(half(4), 2));",
        '});',
      ),
    });
    expect(r.summary).toMatch(/failed=1$/);
    expect(r.scores.get(5)).toBe(1);
    expect(r.scores.get(2)!).toBeLessThan(1);
  });

  it('a test whose code calls process.exit(1): the unowned failure still points at the exiting branch', async () => {
    const r = await probe(
      {
        'src/cli.js': lines(
          'export function run(x) {',
          '  if (x > 3) {',
          '    process.exit(1);',
          '  }',
          '  return x;',
          '}',
        ),
        'test/cli.test.js': nodeTest(
          "import { run } from '../src/cli.js';",
          "test('small', () => assert.equal(run(2), 2));",
          "test('big', () => assert.equal(run(5), 5));",
        ),
      },
      { file: 'src/cli.js' },
    );
    expect(r.scores.get(3)).toBe(1);
    expect(r.scores.get(5) ?? 0).toBeLessThan(1);
  });

  it('same-named sources in different dirs, spaces and non-ASCII in paths, hooks of the test file itself', async () => {
    const files = {
      'src/a/util.js': lines('export function f(x) {', '  return x + 1;', '}'),
      'src/b/util.js': lines('export function f(x) {', '  return x * 2;', '}'),
      'src/b/ünï cödé.js': lines('export function g(x) {', '  return x - 1;', '}'),
      'test dir/util.test.js': lines(
        "import { afterEach, beforeEach, test } from 'node:test';",
        "import assert from 'node:assert/strict';",
        "import { f as fa } from '../src/a/util.js';",
        "import { f as fb } from '../src/b/util.js';",
        "import { g } from '../src/b/ünï cödé.js';",
        'let n = 0;',
        'beforeEach(() => { n++; });',
        'afterEach(() => { n--; });',
        "test('a', () => assert.equal(fa(1), 2));",
        "test('b', () => assert.equal(fb(2), 5));",
        "test('g', () => assert.equal(g(2), 1));",
      ),
    };
    const r = await probe(files, { file: 'src/b/util.js' });
    expect(r.summary).toBe('REPOGYM_PROBE test_files=1 runs=4 failed=1');
    expect(r.scores.get(2)).toBe(1);
    const all = probeSuspicion(r.output, Object.keys(files));
    expect(all.has('src/a/util.js')).toBe(false);
    expect(all.has('src/b/ünï cödé.js')).toBe(false);
  });

  it('the REPRO run: its verdict lines pass through, a line only the reproduction runs scores 1, nothing left in TMPDIR', async () => {
    const r = await probe(
      {
        'package.json': '{"name":"calc","type":"module","main":"src/calc.js"}\n',
        'src/calc.js': CALC,
        'test/calc.test.js': nodeTest(
          "import { shared } from '../src/calc.js';",
          "test('shared adds one', () => assert.equal(shared(1), 2));",
        ),
      },
      { statement: ['```js', 'half(4); // 15, expected 2', '```'].join('\n') },
    );
    expect([...reproVerdicts(r.output)]).toEqual([[0, 'reproduces']]);
    expect(r.summary).toBe('REPOGYM_PROBE test_files=1 runs=3 failed=1');
    expect(r.scores.get(5)).toBe(1);
    // Line 1 runs when the module loads, for the test file as for the reproduction: not as suspicious as line 5.
    expect(r.scores.get(1)!).toBeLessThan(1);
    expect(r.leftovers).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('JavaScript probe: fixed defects', () => {
  // Was: the preload reads process.env.REPOGYM_PROBE_TESTS at exit; a test that replaces process.env makes
  // the exit hook throw, and a file whose tests all pass becomes one failing run.
  it('a passing test that replaces process.env does not turn its file into a failing run', async () => {
    const r = await probe({
      'src/calc.js': CALC,
      'test/calc.test.js': nodeTest(
        "import { half, shared } from '../src/calc.js';",
        "test('shared adds one', () => assert.equal(shared(1), 2));",
        "test('clean environment', () => { process.env = { PATH: process.env.PATH }; assert.equal(half(4), 15); });",
      ),
    });
    expect(r.summary).toBe('REPOGYM_PROBE test_files=1 runs=3 failed=0');
  });

  // Was: with node:test loaded by the preload, an error thrown while importing the test file exits with
  // code 7 from node:test's harness, and NODE_V8_COVERAGE is never written: the file-level run has no lines.
  it('a source module that throws at import: its lines are scored from the file-level run', async () => {
    const r = await probe(
      {
        'src/calc.js': CALC,
        'src/boom.js': lines(
          "import { half } from './calc.js';",
          'export const ready = half(4) === 2;',
          "if (!ready) throw new Error('boom');",
        ),
        'test/a.test.js': nodeTest(
          "import { ready } from '../src/boom.js';",
          "test('ready', () => assert.equal(ready, true));",
        ),
        'test/b.test.js': nodeTest(
          "import { shared } from '../src/calc.js';",
          "test('shared adds one', () => assert.equal(shared(1), 2));",
        ),
      },
      { file: 'src/calc.js' },
    );
    expect(r.summary).toBe('REPOGYM_PROBE test_files=2 runs=3 failed=1');
    expect(r.scores.get(5), r.output).toBe(1);
  });

  // Was: same cause for test files that use plain top-level asserts and no node:test at all.
  it('plain assert scripts as test files (no node:test): the failing file’s lines are scored', async () => {
    const r = await probe({
      'src/calc.js': CALC,
      'test/half.test.js': lines(
        "import assert from 'node:assert/strict';",
        "import { half } from '../src/calc.js';",
        'assert.equal(half(4), 2);',
      ),
      'test/shared.test.js': lines(
        "import assert from 'node:assert/strict';",
        "import { shared } from '../src/calc.js';",
        'assert.equal(shared(1), 2);',
      ),
    });
    expect(r.summary).toBe('REPOGYM_PROBE test_files=2 runs=2 failed=1');
    expect(r.scores.get(5), r.output).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('gitSequence', () => {
  it('passes arguments verbatim through sh: quotes, $(), backticks, newlines, leading dashes', async () => {
    const dir = tempDir('seq');
    const file = path.join(dir, 'cfg');
    const value = 'it\'s $(touch pwned) `touch pwned2` "q" \\ \n-x --y ~ * ; && |';
    const out = await gitSequence(
      [
        ['config', '--file', file, 'a.b', value],
        ['config', '--file', file, '--get', 'a.b'],
      ],
      { cwd: dir },
    );
    expect(out).toBe(`${value}\n`);
    expect(existsSync(path.join(dir, 'pwned'))).toBe(false);
    expect(existsSync(path.join(dir, 'pwned2'))).toBe(false);
  });

  it('stops at the first failing command with a GitError; earlier stdout is not in the result', async () => {
    const dir = tempDir('seq-fail');
    const file = path.join(dir, 'cfg');
    await expect(
      gitSequence(
        [
          ['config', '--file', file, '--get', 'no.such'],
          ['config', '--file', file, 'x.y', 'ran'],
        ],
        { cwd: dir },
      ),
    ).rejects.toBeInstanceOf(GitError);
    expect(existsSync(file)).toBe(false);
    const out = await gitSequence(
      [
        ['config', '--file', file, 'x.y', '1'],
        ['config', '--file', file, '--list'],
        ['config', '--file', file, '--get', 'x.y'],
      ],
      { cwd: dir },
    );
    expect(out).toBe('1\n');
  });

  it('an inherited GIT_CONFIG_COUNT/KEY/VALUE, GIT_CONFIG_PARAMETERS or GIT_DIR does not reach the git it runs', async () => {
    const dir = tempDir('seq-env');
    const saved = { ...process.env };
    Object.assign(process.env, {
      GIT_CONFIG_COUNT: '9',
      GIT_CONFIG_KEY_8: 'leak.count',
      GIT_CONFIG_VALUE_8: 'yes',
      GIT_CONFIG_PARAMETERS: "'leak.params'='yes'",
      GIT_DIR: '/nonexistent',
    });
    try {
      const out = await gitSequence([['config', '--list']], { cwd: dir });
      expect(out).not.toContain('leak.');
      expect(out).toContain('core.hookspath=/dev/null');
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
const BASE = {
  'README.md': '# base\n',
  'src/index.js': 'export const answer = 41;\n',
};

async function withSandbox<T>(
  files: Record<string, string>,
  layer: 'overlay' | 'worktree' | 'auto',
  fn: (sb: Sandbox, repo: string) => Promise<T>,
): Promise<T> {
  const { dir, commit } = await makeRepo(files);
  cleanup.push(dir);
  const sb = await createLocalSandbox({ repo: dir, commit, cacheDir: tempDir('cache'), layer });
  try {
    return await fn(sb, dir);
  } finally {
    await sb.dispose();
  }
}

/** Whether `patch` applies to the pristine fixture the way grading applies it (git apply --binary, stdin). */
function applies(repo: string, patch: string): { ok: boolean; stderr: string } {
  const r = spawnSync('git', ['apply', '--binary', '--whitespace=nowarn', '--check', '-'], {
    cwd: repo,
    input: patch,
    encoding: 'utf8',
  });
  return { ok: r.status === 0, stderr: r.stderr };
}

describe('sandbox diff: pinned behaviour', () => {
  it.each(['overlay', 'worktree'] as const)(
    '%s: an agent .gitattributes filter/textconv, tree .git/config fsmonitor and hooks run nothing in the harness',
    async (layer) => {
      const marker = path.join(tempDir('marker'), 'ran');
      await withSandbox(BASE, layer, async (sb, repo) => {
        const cmd = `sh -c 'touch ${marker}; cat'`;
        await sb.writeFile('.gitattributes', '* filter=evil diff=evil merge=evil\n');
        // The tree's own .git: a directory under the overlay, a file under the worktree layer.
        const gitEntry = await sb.exec('test -d .git && echo dir || echo file');
        if (gitEntry.output.trim() === 'dir') {
          const config = await sb.readFile('.git/config');
          await sb.writeFile(
            '.git/config',
            `${config}[core]\n\tfsmonitor = "${cmd}"\n\thooksPath = hooks\n[filter "evil"]\n\tclean = ${cmd}\n\tsmudge = ${cmd}\n\tprocess = ${cmd}\n[diff "evil"]\n\ttextconv = ${cmd}\n\tcommand = ${cmd}\n`,
          );
        }
        for (const hook of ['post-index-change', 'pre-commit', 'reference-transaction'])
          await sb.writeFile(`hooks/${hook}`, `#!/bin/sh\ntouch ${marker}\n`);
        await sb.exec('chmod +x hooks/*');
        await sb.writeFile('src/index.js', 'export const answer = 42;\n');
        const patch = await sb.diff();
        expect(existsSync(marker), 'the harness ran an agent-chosen program').toBe(false);
        expect(patch).toContain('+export const answer = 42;');
        expect(patch).toContain('b/.gitattributes');
        expect(applies(repo, patch).ok).toBe(true);
      });
    },
  );

  it('a nested repository the agent made, with its own fsmonitor and hooks: diff runs neither', async () => {
    const marker = path.join(tempDir('marker'), 'ran');
    await withSandbox(BASE, 'auto', async (sb) => {
      const made = await sb.exec(
        [
          'mkdir sub && cd sub && git init -q && echo s > s && git add s',
          'git -c user.name=a -c user.email=a@b commit -qm s',
          `git config core.fsmonitor "touch ${marker}; echo"`,
          `printf '#!/bin/sh\\ntouch ${marker}\\n' > .git/hooks/post-index-change && chmod +x .git/hooks/post-index-change`,
        ].join(' && '),
      );
      expect(made.exitCode, made.output).toBe(0);
      await sb.diff();
      await sb.diff();
      expect(existsSync(marker), 'the harness ran an agent-chosen program').toBe(false);
    });
  });

  it('odd file names (quotes, spaces, newline, tab, backslash, leading dash, non-ASCII) round-trip through the patch', async () => {
    const names = [
      'a "quoted" \'name\'.txt',
      'sp ace/x y.js',
      'new\nline.txt',
      'tab\there.txt',
      'back\\slash.txt',
      '-dash.txt',
      '--rf',
      'ünï/cödé 日本.txt',
    ];
    await withSandbox(BASE, 'auto', async (sb, repo) => {
      for (const [i, name] of names.entries()) await sb.writeFile(name, `content ${i}\n`);
      await sb.writeFile('README.md', '# changed\n');
      const patch = await sb.diff();
      const r = spawnSync('git', ['apply', '--binary', '--whitespace=nowarn', '-'], {
        cwd: repo,
        input: patch,
      });
      expect(r.status, String(r.stderr)).toBe(0);
      for (const [i, name] of names.entries())
        expect(await readFile(path.join(repo, name), 'utf8'), name).toBe(`content ${i}\n`);
      expect(await readFile(path.join(repo, 'README.md'), 'utf8')).toBe('# changed\n');
    });
  });

  it('symlinks the agent made (to a host file, to a directory outside) are recorded as links, not followed', async () => {
    const outside = tempDir('outside');
    await writeFile(path.join(outside, 'secret.txt'), 'host secret\n');
    await withSandbox(BASE, 'auto', async (sb) => {
      await symlink(path.join(outside, 'secret.txt'), path.join(sb.root, 'link.txt'));
      await mkdir(path.join(sb.root, 'd'));
      await symlink(outside, path.join(sb.root, 'd', 'dirlink'));
      const patch = await sb.diff();
      expect(patch).toContain('new file mode 120000');
      expect(patch).not.toContain('host secret');
    });
  });
});

describe('sandbox diff: fixed defects', () => {
  /** Runs `fn` in a sandbox while the host user's $XDG_CONFIG_HOME/git/<name> holds `content`. */
  async function withHostGitFile(name: string, content: string, fn: (sb: Sandbox) => Promise<void>) {
    const xdg = tempDir(`xdg-${name}`);
    await mkdir(path.join(xdg, 'git'));
    await writeFile(path.join(xdg, 'git', name), content);
    const saved = process.env.XDG_CONFIG_HOME;
    process.env.XDG_CONFIG_HOME = xdg;
    try {
      await withSandbox(BASE, 'auto', fn);
    } finally {
      if (saved === undefined) delete process.env.XDG_CONFIG_HOME;
      else process.env.XDG_CONFIG_HOME = saved;
    }
  }

  // Was: GIT_CONFIG_GLOBAL=/dev/null does not stop git reading the host's $XDG_CONFIG_HOME/git/ignore
  // (core.excludesFile's default): a file the agent created is missing from the patch on some machines.
  it("the host user's global git ignore file does not drop an agent's new file from the patch", async () => {
    await withHostGitFile('ignore', '*.js\n', async (sb) => {
      await sb.writeFile('src/added.js', 'export const added = 1;\n');
      expect(await sb.diff()).toContain('b/src/added.js');
    });
  });

  // Was: same for the host's $XDG_CONFIG_HOME/git/attributes (core.attributesFile's default): `-diff` there
  // turns the agent's text change into a GIT binary patch, so the patch depends on whose machine it is.
  it("the host user's global git attributes file does not change the patch", async () => {
    await withHostGitFile('attributes', '*.js -diff\n', async (sb) => {
      await sb.writeFile('src/index.js', 'export const answer = 42;\n');
      expect(await sb.diff()).toContain('+export const answer = 42;');
    });
  });
});

it('the probe leaves nothing in TMPDIR even when a test file crashes at import', async () => {
  const r = await probe({
    'src/calc.js': CALC,
    'test/a.test.js': lines("import '../src/nope.js';"),
  });
  expect(r.summary).toBe('REPOGYM_PROBE test_files=1 runs=1 failed=1');
  expect(r.leftovers).toEqual([]);
});
