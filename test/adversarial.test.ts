// Adversarial tests: an agent (or a dataset row, or a CLI user) trying to break the env's guarantees.
//
// Written by a separate tester against the guarantees; most tests reproduce an attack that once worked
// and stay as regression tests. What a *shell command* can still do because the local backend does not isolate
// processes is listed in docs/sandbox.md ("Limits of the local backend"), for the bwrap/Docker backends to close.
import { execFile } from 'node:child_process';
import { closeSync, constants, existsSync, openSync, readFileSync } from 'node:fs';
import {
  cp,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm as rmPath,
  symlink as symlinkPath,
  writeFile,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset, loadRows, loadTaskFile } from '../datasets/loader.ts';
import type { Task } from '../datasets/types.ts';
import { checkEnv } from '../env/check.ts';
import { CodingEnv } from '../env/coding-env.ts';
import { isTestPath } from '../env/diff.ts';
import { FIXED_IDENTITY, git as runGit } from '../env/git.ts';
import type { Grade } from '../env/grading.ts';
import { parseJestJson } from '../env/parsers/jest-json.ts';
import type { Observation } from '../env/types.ts';
import { makeVec } from '../env/vector.ts';
import { JS_FILES, jsFixture, PY_FILES, pyFixture, type Fixture } from './fixtures.ts';
import { isRunning, makeRepo, removeDir, treeHash, withHostPid } from './helpers.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** A pytest plugin that rewrites every test outcome to "passed". */
const ALL_PASS_PLUGIN = [
  'import pytest',
  '',
  '@pytest.hookimpl(hookwrapper=True)',
  'def pytest_runtest_makereport(item, call):',
  '    outcome = yield',
  '    report = outcome.get_result()',
  "    report.outcome = 'passed'",
  '    report.longrepr = None',
  '',
].join('\n');
const BIN = path.join(ROOT, 'bin', 'repogym.js');

type StepOutcome = Awaited<ReturnType<CodingEnv['step']>>;

/** Steps and reports a throw instead of propagating it: the contract says invalid actions are observations. */
async function tryStep(env: CodingEnv, action: unknown): Promise<{ result?: StepOutcome; thrown?: string }> {
  try {
    return { result: await env.step(action) };
  } catch (err) {
    return { thrown: String(err).slice(0, 300) };
  }
}

async function episode(
  task: Task,
  actions: unknown[],
): Promise<{ grade: Grade; reward: number; observations: Observation[] }> {
  const env = new CodingEnv({ tasks: [task] });
  const observations: Observation[] = [];
  try {
    await env.reset({ seed: 0 });
    let last: StepOutcome | undefined;
    for (const action of actions) {
      last = await env.step(action);
      observations.push(last.observation);
    }
    return { grade: last!.info.grade as Grade, reward: last!.reward, observations };
  } finally {
    await env.close();
  }
}

function cli(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'node',
      [BIN, ...args],
      { cwd: ROOT, env, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
      },
    );
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let js: Fixture;
let py: Fixture;
let outside: string;
beforeAll(async () => {
  [js, py] = await Promise.all([jsFixture(), pyFixture()]);
  outside = await mkdtemp(path.join(os.tmpdir(), 'repogym-adv-outside-'));
  await writeFile(path.join(outside, 'keep.txt'), 'keep\n');
});
afterAll(async () => {
  await removeDir(js.repoDir);
  await removeDir(py.repoDir);
  await removeDir(outside);
});

// ---------------------------------------------------------------------------------------------------------------
describe('file actions stay confined (guarantees that hold)', () => {
  it('escapes through .., absolute paths, NUL, symlink chains, dir links, dangling links and patches all fail', async () => {
    const env = new CodingEnv({ tasks: [js.task], maxSteps: 200 });
    try {
      await env.reset();
      const before = await treeHash(outside);
      await env.step({
        kind: 'run',
        command: `ln -s lnk2 lnk1; ln -s lnk3 lnk2; ln -s ${outside} lnk3; ln -s ${outside}/keep.txt filelink; ln -s /nonexistent-adv dangle; ln -s src insidelink`,
      });
      const symlinkPatch = (name: string, target: string) =>
        `diff --git a/${name} b/${name}\nnew file mode 120000\n--- /dev/null\n+++ b/${name}\n@@ -0,0 +1 @@\n+${target}\n\\ No newline at end of file\n`;
      const newFile = (name: string) =>
        `diff --git a/${name} b/${name}\nnew file mode 100644\n--- /dev/null\n+++ b/${name}\n@@ -0,0 +1 @@\n+pwned\n`;
      const cases: [unknown, string][] = [
        [{ kind: 'write_file', path: 'lnk1/keep.txt', content: 'pwned' }, 'path_escape'],
        [{ kind: 'write_file', path: 'lnk1/new.txt', content: 'pwned' }, 'path_escape'],
        [{ kind: 'write_file', path: 'filelink', content: 'pwned' }, 'path_escape'],
        [{ kind: 'str_replace', path: 'filelink', old: 'keep', new: 'pwned' }, 'path_escape'],
        [{ kind: 'read_file', path: 'lnk1/keep.txt' }, 'path_escape'],
        [{ kind: 'write_file', path: 'dangle', content: 'x' }, 'path_escape'],
        [{ kind: 'write_file', path: 'dangle/sub/x', content: 'x' }, 'path_escape'],
        [{ kind: 'write_file', path: `${outside}/keep.txt`, content: 'x' }, 'path_escape'],
        [{ kind: 'write_file', path: 'src/../../x', content: 'x' }, 'path_escape'],
        [{ kind: 'read_file', path: 'a\0b' }, 'path_escape'],
        [{ kind: 'list_dir', path: 'lnk1' }, 'path_escape'],
        [{ kind: 'search', pattern: 'keep', path: 'lnk1' }, 'path_escape'],
        [{ kind: 'search', pattern: 'x', path: '/etc' }, 'path_escape'],
        [
          { kind: 'apply_patch', diff: symlinkPatch('plink', outside) + newFile('plink/pwn.txt') },
          'patch_failed',
        ],
        [{ kind: 'apply_patch', diff: newFile('../../../adv-pwn.txt') }, 'patch_failed'],
        [{ kind: 'apply_patch', diff: newFile('.git/hooks/post-commit') }, 'patch_failed'],
        [
          {
            kind: 'apply_patch',
            diff: 'diff --git a/package.json b/../x.json\nsimilarity index 100%\nrename from package.json\nrename to ../x.json\n',
          },
          'patch_failed',
        ],
        [{ kind: 'read_file', path: 'src' }, 'is_a_directory'],
        [{ kind: 'fly' }, 'invalid_action'],
        [{ kind: 'write_file', path: 'x' }, 'invalid_action'],
        [{ kind: 'read_file', path: 'src/calc.js', startLine: 0 }, 'invalid_action'],
      ];
      let invalid = 0;
      for (const [action, code] of cases) {
        const r = await env.step(action);
        invalid++;
        expect(r.observation.error?.code, JSON.stringify(action)).toBe(code);
        expect(r.info.invalid_actions).toBe(invalid);
        expect(r.terminated || r.truncated).toBe(false);
      }
      // A symlink created by one patch cannot be written through by the next one.
      expect(
        (await env.step({ kind: 'apply_patch', diff: symlinkPatch('plink', outside) })).observation.error,
      ).toBeUndefined();
      const through = await env.step({ kind: 'apply_patch', diff: newFile('plink/pwn.txt') });
      expect(through.observation.error?.code).toBe('patch_failed');
      // Option-looking search patterns are patterns, not options; links inside the tree still work.
      const opt = await env.step({ kind: 'search', pattern: '--include=*' });
      expect(opt.observation.error).toBeUndefined();
      expect(opt.observation.output).toBe('no matches');
      const inside = await env.step({
        kind: 'read_file',
        path: 'insidelink/calc.js',
        startLine: 1,
        endLine: 1,
      });
      expect(inside.observation.output).toBe('export function add(a, b) {');
      expect(await treeHash(outside)).toBe(before);
    } finally {
      await env.close();
    }
  });

  it('the hidden test_patch is not reachable through git or file actions during the episode', async () => {
    const env = new CodingEnv({ tasks: [js.task] });
    try {
      await env.reset();
      const git = await env.step({
        kind: 'run',
        command:
          'git log --all --oneline | wc -l; git fsck --lost-found 2>&1; grep -rl "add(2, 2)" . .git 2>/dev/null; git stash list',
      });
      expect(git.observation.output.trim()).toBe('1');
      expect((await env.step({ kind: 'search', pattern: 'add\\(2, 2\\)' })).observation.output).toBe(
        'no matches',
      );
      expect((await env.step({ kind: 'list_dir', path: 'test' })).observation.output).toBe('calc.test.js');
      const ev = await env.step({ kind: 'evaluate' });
      expect(JSON.stringify([ev.observation, ev.info])).not.toContain('add.test.js');
    } finally {
      await env.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('the env survives hostile actions (step must return an observation, not throw)', () => {
  it('`run rm -rf .git` no longer makes later steps throw a GitError; submit still grades', async () => {
    const env = new CodingEnv({ tasks: [js.task] });
    try {
      await env.reset();
      const r = await tryStep(env, { kind: 'run', command: 'rm -rf .git' });
      // was: GitError: git read-tree <sha> failed (128): fatal: not a git repository
      expect(r.thrown).toBeUndefined();
      const s = await tryStep(env, { kind: 'submit' });
      expect(s.thrown).toBeUndefined();
      expect(s.result?.terminated).toBe(true);
      expect((s.result?.info.grade as Grade | undefined)?.status).toBeDefined();
    } finally {
      await env.close();
    }
  });

  it('file actions report errno errors (ENAMETOOLONG, ENOTDIR, EEXIST, ERR_FS_FILE_TOO_LARGE) as observations', async () => {
    const env = new CodingEnv({ tasks: [js.task], maxSteps: 100 });
    try {
      await env.reset();
      // A sparse 3 GiB file inside .git (so `git add -A` does not hash it): read_file must refuse it politely.
      await env.step({ kind: 'run', command: 'truncate -s 3G .git/big.bin' });
      const cases = [
        { kind: 'read_file', path: 'a'.repeat(300) },
        { kind: 'write_file', path: 'a'.repeat(300), content: 'x' },
        { kind: 'read_file', path: 'package.json/x' },
        { kind: 'write_file', path: 'package.json/x', content: 'x' },
        { kind: 'list_dir', path: 'package.json/x' },
        { kind: 'str_replace', path: 'package.json/x', old: 'a', new: 'b' },
        { kind: 'read_file', path: '.git/big.bin' },
      ];
      const thrown: string[] = [];
      for (const action of cases) {
        const r = await tryStep(env, action);
        if (r.thrown) thrown.push(`${action.kind} ${action.path.slice(0, 20)}: ${r.thrown.slice(0, 80)}`);
        else expect(r.result!.observation.error, JSON.stringify(action).slice(0, 80)).toBeDefined();
      }
      expect(thrown).toEqual([]);
    } finally {
      await env.close();
    }
  });

  /** Runs `action` on a FIFO made by a command; true if the step returned instead of blocking on open(). */
  async function stepReturnsOnFifo(action: { kind: string; path: string }, unblockFlag: number) {
    const env = new CodingEnv({ tasks: [js.task] });
    try {
      await env.reset();
      const cmd = `mkfifo ${action.path} && pwd`;
      const root = (await env.step({ kind: 'run', command: cmd })).observation.output.trim();
      const pending = tryStep(env, action);
      const winner = await Promise.race([pending.then(() => 'returned'), sleep(2000).then(() => 'hung')]);
      if (winner === 'hung') {
        // Unblock the harness's open() by opening the other end (non-blocking: only succeeds if it waits).
        try {
          closeSync(openSync(path.join(root, action.path), unblockFlag | constants.O_NONBLOCK));
        } catch {
          // nobody was waiting
        }
      }
      await pending;
      return winner === 'returned';
    } finally {
      await env.close();
    }
  }

  it('read_file on a FIFO returns an error instead of blocking forever', async () => {
    expect(await stepReturnsOnFifo({ kind: 'read_file', path: 'pipe' }, constants.O_WRONLY)).toBe(true);
  });

  it('write_file on a FIFO is refused instead of blocking the env until a reader opens it', async () => {
    const action = { kind: 'write_file', path: 'wpipe', content: 'x' };
    expect(await stepReturnsOnFifo(action, constants.O_RDONLY)).toBe(true);
  });

  it('write_file refuses a device node a command created (mknod)', async () => {
    const env = new CodingEnv({ tasks: [js.task] });
    try {
      await env.reset();
      // /dev/null's numbers, so nothing is harmed; `mknod disk b 8 0` would be the host's first disk.
      const made = await env.step({
        kind: 'run',
        command: 'mknod nulldev c 1 3 2>/dev/null; test -c nulldev && echo chr',
      });
      const w = await env.step({ kind: 'write_file', path: 'nulldev', content: 'x' });
      if (made.observation.output.trim() === 'chr') expect(w.observation.error?.code).toBeDefined();
      else expect(w.observation.error).toBeUndefined(); // no mknod here: a regular file was written
    } finally {
      await env.close();
    }
  });

  it('a command is cut at the remaining wall-clock budget, not run for its whole timeout', async () => {
    const env = new CodingEnv({ tasks: [js.task], wallClockSec: 1 });
    try {
      await env.reset();
      const started = performance.now();
      const r = await env.step({ kind: 'run', command: 'sleep 3', timeoutSec: 10 });
      const tookMs = performance.now() - started;
      expect(r.truncated).toBe(true);
      // The command should be cut at the remaining budget (≈1 s), not run for 3 s (or up to timeoutSec 3600).
      expect(tookMs).toBeLessThan(2000);
    } finally {
      await env.close();
    }
  });

  it('maxSteps NaN is rejected (it gave stepsLeft NaN and an episode that never truncates)', async () => {
    let env: CodingEnv | undefined;
    try {
      env = new CodingEnv({ tasks: [js.task], maxSteps: Number('abc') });
    } catch {
      return; // rejecting the option is a fine fix
    }
    try {
      await env.reset();
      const r = await env.step({ kind: 'list_dir', path: '.' });
      expect(Number.isInteger(r.observation.stepsLeft), `stepsLeft = ${r.observation.stepsLeft}`).toBe(true);
    } finally {
      await env.close();
    }
  });

  it('determinism: the same seed gives the same reset observation across env instances; checkEnv passes', async () => {
    const tasks = [js.task, py.task];
    const a = new CodingEnv({ tasks });
    const b = new CodingEnv({ tasks });
    try {
      const [ra, rb] = [await a.reset({ seed: 11 }), await b.reset({ seed: 11 })];
      expect(ra.info.instance_id).toBe(rb.info.instance_id);
      expect(ra.observation.output).toBe(rb.observation.output);
      expect(await checkEnv(a)).toContain('step after the end throws');
    } finally {
      await a.close();
      await b.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('processes and environment', () => {
  it('an agent-written core.fsmonitor hook (write_file .git/config) is not run by the harness', async () => {
    const marker = path.join(outside, 'fsmonitor-ran.txt');
    const previous = process.env.OPENAI_API_KEY;
    process.env.OPENAI_API_KEY = 'sk-adversarial-fsmonitor';
    const env = new CodingEnv({ tasks: [js.task] });
    try {
      await env.reset();
      const config = (await env.step({ kind: 'read_file', path: '.git/config' })).observation.output;
      // A file action only; sandbox.diff's `git add -A` used to execute the hook in the harness, secrets in its env.
      await env.step({
        kind: 'write_file',
        path: '.git/config',
        content: `${config}[core]\n\tfsmonitor = "env > ${marker}; echo"\n`,
      });
      await tryStep(env, { kind: 'run', command: 'true' });
      const seen = existsSync(marker) ? await readFile(marker, 'utf8') : '';
      expect(seen.includes('sk-adversarial-fsmonitor'), 'the hook saw OPENAI_API_KEY').toBe(false);
      expect(existsSync(marker), 'the harness executed the agent-configured fsmonitor command').toBe(false);
    } finally {
      if (previous === undefined) delete process.env.OPENAI_API_KEY;
      else process.env.OPENAI_API_KEY = previous;
      await env.close();
    }
  });

  it('nohup, disown, double fork, setsid -f, ignored SIGTERM and closed stdout are all killed; 100 MB of output is capped fast', async () => {
    const env = new CodingEnv({ tasks: [js.task], maxOutputBytes: 4096 });
    try {
      await env.reset();
      const bg = await env.step({
        kind: 'run',
        command: [
          `nohup ${withHostPid('a', 'sleep 301')} 2>/dev/null &`,
          `${withHostPid('b', 'sleep 302')} & disown;`,
          `( ${withHostPid('c', 'sleep 303')} & );`,
          `setsid -f ${withHostPid('d', 'sleep 304')} </dev/null;`,
          'sleep 0.3; exit 0',
        ].join(' '),
      });
      const pids = [...bg.observation.output.matchAll(/[abcd]=(\d+)/g)].map((m) => Number(m[1]));
      expect(pids).toHaveLength(4);
      for (const pid of pids) expect(await isRunning(pid), `pid ${pid}`).toBe(false);
      const stubborn = await env.step({
        kind: 'run',
        command: 'trap "" TERM; exec >&- 2>&-; sleep 300',
        timeoutSec: 1,
      });
      expect(stubborn.observation.timedOut).toBe(true);
      expect(stubborn.observation.telemetry.wallMs).toBeLessThan(5000);
      const started = performance.now();
      const big = await env.step({
        kind: 'run',
        command: 'head -c 100000000 /dev/zero | tr "\\0" x; echo END',
      });
      expect(performance.now() - started).toBeLessThan(10_000);
      expect(Buffer.byteLength(big.observation.output)).toBeLessThan(4096 + 200);
      expect(big.observation.output.trimEnd().endsWith('END')).toBe(true);
    } finally {
      await env.close();
    }
  });

  it('API keys and tokens of the parent do not reach commands through their environment', async () => {
    const names = [
      'OPENAI_API_KEY',
      'GITHUB_TOKEN',
      'AWS_SECRET_ACCESS_KEY',
      'ANTHROPIC_API_KEY',
      'HF_TOKEN',
    ];
    const previous = names.map((n) => process.env[n]);
    names.forEach((n) => (process.env[n] = `adv-secret-${n}`));
    const env = new CodingEnv({ tasks: [js.task] });
    try {
      await env.reset();
      const r = await env.step({ kind: 'run', command: 'env' });
      expect(r.observation.output).not.toContain('adv-secret-');
      expect(r.observation.output).toMatch(/^HOME=.*repogym-sb-/m);
    } finally {
      names.forEach((n, i) =>
        previous[i] === undefined ? delete process.env[n] : (process.env[n] = previous[i]),
      );
      await env.close();
    }
  });

  it('vector env: 6 sub-envs reset concurrently on one task while another env grades; autoreset works', async () => {
    const fresh = await jsFixture(); // a pristine nobody built yet: 7 concurrent builders
    const vec = makeVec('repogym/coding-v0', 6, { tasks: [fresh.task] });
    const other = new CodingEnv({ tasks: [fresh.task] });
    try {
      const [vr] = await Promise.all([
        vec.reset({ seed: 5 }),
        other.reset().then(() => other.step({ kind: 'apply_patch', diff: fresh.task.patch })),
      ]);
      expect(vr.observations).toHaveLength(6);
      const [stepped, graded] = await Promise.all([
        vec.step([
          { kind: 'submit' },
          { kind: 'apply_patch', diff: fresh.task.patch },
          { kind: 'list_dir', path: '.' },
          { kind: 'run', command: 'echo hi' },
          { kind: 'search', pattern: 'add' },
          { kind: 'run_tests' },
        ]),
        other.step({ kind: 'submit' }),
      ]);
      expect(stepped.terminations).toEqual([true, false, false, false, false, false]);
      expect((graded.info.grade as Grade).status).toBe('resolved');
      const [next] = await Promise.all([
        vec.step(Array.from({ length: 6 }, () => ({ kind: 'submit' }))),
        other.reset(),
      ]);
      expect(next.infos[0]!.autoreset).toBe(true);
      expect(next.infos.slice(1).map((i) => (i.grade as Grade).status)).toEqual([
        'resolved',
        'unresolved',
        'unresolved',
        'unresolved',
        'unresolved',
      ]);
    } finally {
      await vec.close();
      await other.close();
      await removeDir(fresh.repoDir);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('grading cannot be gamed', () => {
  it('a conftest.py in a non-ASCII directory (git quotes the path) is reverted', async () => {
    const conftest = [
      'import pytest',
      '',
      'class _AllPass:',
      '    @pytest.hookimpl(hookwrapper=True)',
      '    def pytest_runtest_makereport(self, item, call):',
      '        outcome = yield',
      '        report = outcome.get_result()',
      "        report.outcome = 'passed'",
      '        report.longrepr = None',
      '',
      'def pytest_collection_modifyitems(session, config, items):',
      "    config.pluginmanager.register(_AllPass(), 'allpass')",
      '',
    ].join('\n');
    const r = await episode(py.task, [
      { kind: 'write_file', path: 'zé/conftest.py', content: conftest },
      { kind: 'submit' },
    ]);
    // diff.ts read `+++ "b/z\303\251/conftest.py"` and the conftest pattern missed the trailing quote.
    expect(r.grade.testFilesReverted).toEqual(['zé/conftest.py']);
    expect(r.grade.resolved).toBe(false);
  });

  it('a pytest plugin enabled from pytest.ini is dropped (it rewrote every outcome to passed)', async () => {
    const r = await episode(py.task, [
      { kind: 'write_file', path: 'calc/_plugin.py', content: ALL_PASS_PLUGIN },
      { kind: 'write_file', path: 'pytest.ini', content: '[pytest]\naddopts = -p calc._plugin\n' },
      { kind: 'submit' },
    ]);
    expect(r.grade.status).not.toBe('resolved');
    expect(r.reward).toBe(0);
  });

  it('`pytest.xfail()` called from the code under test does not resolve the task (XFAIL is not a pass)', async () => {
    // Three lines of non-test code: every hidden test that calls add() ends as XFAIL, graded as passed, exit 0.
    const r = await episode(py.task, [
      {
        kind: 'write_file',
        path: 'calc/ops.py',
        content:
          'def add(a, b):\n    import pytest\n    pytest.xfail("work in progress")\n\n\ndef sub(a, b):\n    return a - b\n',
      },
      { kind: 'submit' },
    ]);
    expect(r.grade.status).not.toBe('resolved');
    expect(r.reward).toBe(0);
  });

  it('a fake `*-test.js` / `test-*.js` / `test.js` is now a test path and cannot shadow crashed hidden tests', async () => {
    // src/calc.js throws on import: both real test files error out at file level. src/shadow-test.js (matched
    // by node --test's default patterns, and until the fix not by diff.ts's isTestPath) reports passing tests
    // with the same titles.
    const r = await episode(js.task, [
      { kind: 'write_file', path: 'src/calc.js', content: "throw new Error('not fixed at all');\n" },
      {
        kind: 'write_file',
        path: 'src/shadow-test.js',
        content: "import { test } from 'node:test';\ntest('add', () => {});\ntest('sub', () => {});\n",
      },
      { kind: 'submit' },
    ]);
    expect(r.grade.tests).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'test/add.test.js', status: 'error' })]),
    );
    expect(r.grade.status).not.toBe('resolved');
  });

  it("a report file committed in the patch is deleted before the run, not read as this run's report", async () => {
    const repo = await makeRepo(PY_FILES);
    try {
      const { tasks, errors } = await loadRows(
        [
          {
            line: 1,
            value: {
              instance_id: 'junit-stale-1',
              repo: repo.dir,
              base_commit: repo.commit,
              test_patch: py.task.test_patch,
              problem_statement: 'add(2, 2) returns 0 instead of 4.',
              FAIL_TO_PASS: ['tests/test_add.py::test_add', 'tests/test_add.py::test_add_zero'],
              PASS_TO_PASS: ['tests/test_sub.py::test_sub'],
              test_cmd: 'python3 -m pytest -p no:cacheprovider --junitxml=report.xml',
              test_format: 'junit',
              test_report_file: 'report.xml',
              timeouts: { test_sec: 60, command_sec: 10, episode_sec: 300 },
            },
          },
        ],
        '/',
      );
      expect(errors).toEqual([]);
      const forged =
        '<?xml version="1.0"?><testsuites><testsuite name="pytest">' +
        '<testcase classname="tests.test_add" name="test_add"/><testcase classname="tests.test_add" name="test_add_zero"/>' +
        '<testcase classname="tests.test_sub" name="test_sub"/></testsuite></testsuites>\n';
      const r = await episode(tasks[0]!, [
        { kind: 'write_file', path: 'report.xml', content: forged },
        { kind: 'write_file', path: 'calc/__init__.py', content: 'import os\nos._exit(0)\n' },
        { kind: 'submit' },
      ]);
      // The harness now deletes the report file before running test_cmd.
      expect(r.grade.status).not.toBe('resolved');
    } finally {
      await removeDir(repo.dir);
    }
  });

  it('a patch with a symlink to a host file is refused (state outside the diff decided the grade)', async () => {
    const fix = path.join(outside, 'calc-fixed.js');
    await writeFile(
      fix,
      'export function add(a, b) {\n  return a + b;\n}\nexport function sub(a, b) {\n  return a - b;\n}\n',
    );
    const r = await episode(js.task, [
      { kind: 'run', command: `ln -sf ${fix} src/calc.js` },
      { kind: 'submit' },
    ]);
    expect(r.grade.patch).toContain('new file mode 120000');
    // docs/grading.md: "nothing the agent left outside its diff … can influence the result".
    expect(r.grade.resolved).toBe(false);
  });

  it("a symlink whose target starts with '+' is caught by the escape check", async () => {
    // diff.ts reads the target from the first `+` line not starting with `++`: the line `++/../../…` is skipped,
    // the target is taken as '' (inside). `src/+/` exists, so `+/../../..` climbs out of the tree.
    const fix = path.join(outside, 'calc-fixed-plus.js');
    await writeFile(
      fix,
      'export function add(a, b) {\n  return a + b;\n}\nexport function sub(a, b) {\n  return a - b;\n}\n',
    );
    const target = `+/${'../'.repeat(20)}${fix.slice(1)}`;
    const r = await episode(js.task, [
      { kind: 'run', command: `mkdir -p src/+ && touch src/+/.keep && ln -sfn '${target}' src/calc.js` },
      { kind: 'submit' },
    ]);
    expect(r.grade.patch).toContain('new file mode 120000');
    expect(r.grade.resolved).toBe(false);
  });

  it('a test_report_file outside the tree is refused by the loader, and the harness never deletes it', async () => {
    const victim = path.join(outside, 'victim.xml');
    await writeFile(victim, 'precious\n');
    const row = { ...js.task, instance_id: 'report-outside-1', test_cmd: 'true', test_format: 'junit' };
    const loaded = await loadRows([{ line: 1, value: { ...row, test_report_file: victim } }], '/');
    expect(loaded.errors.map((e) => e.field)).toEqual(['test_report_file']);
    // A Task built in code skips the loader: run_tests must still not `rm -f` outside the tree.
    for (const reportFile of [victim, path.relative('/tmp/x/repogym-sb-x/repo', victim)]) {
      const env = new CodingEnv({ tasks: [{ ...row, test_report_file: reportFile } as Task] });
      try {
        await env.reset();
        await tryStep(env, { kind: 'run_tests' });
        await tryStep(env, { kind: 'submit' });
        expect(existsSync(victim), `${victim} was deleted by the harness (${reportFile})`).toBe(true);
      } finally {
        await env.close();
      }
    }
  });

  it('a `*.dist-info/entry_points.txt` that would auto-load a pytest plugin passing everything is dropped', async () => {
    // No config file involved: pytest loads `pytest11` entry points of every distribution on sys.path, and
    // `python -m pytest` puts the repo root on sys.path. Neither file looks like a test path.
    const r = await episode(py.task, [
      { kind: 'write_file', path: 'calc/_tools.py', content: ALL_PASS_PLUGIN },
      {
        kind: 'write_file',
        path: 'calc_tools-1.0.dist-info/METADATA',
        content: 'Metadata-Version: 2.1\nName: calc-tools\nVersion: 1.0\n',
      },
      {
        kind: 'write_file',
        path: 'calc_tools-1.0.dist-info/entry_points.txt',
        content: '[pytest11]\ncalc_tools = calc._tools\n',
      },
      { kind: 'submit' },
    ]);
    expect(r.grade.testFilesReverted).toEqual([
      'calc_tools-1.0.dist-info/METADATA',
      'calc_tools-1.0.dist-info/entry_points.txt',
    ]);
    expect(r.grade.status).not.toBe('resolved');
    expect(r.reward).toBe(0);
  });

  it.each([
    [
      'pyproject.toml',
      '[project]\nname = "calc"\nversion = "0.1"\n\n[tool.pytest.ini_options]\naddopts = "-p calc._tools"\n',
    ],
    ['setup.cfg', '[tool:pytest]\naddopts = -p calc._tools\n'],
  ])(
    'in a repo without pytest.ini, a plugin enabled from the pytest section of %s is dropped',
    async (configFile, config) => {
      const files: Record<string, string> = { ...PY_FILES };
      delete files['pytest.ini'];
      const repo = await makeRepo(files);
      try {
        const { tasks } = await loadRows(
          [{ line: 1, value: { ...py.task, repo: repo.dir, base_commit: repo.commit } }],
          '/',
        );
        const r = await episode(tasks[0]!, [
          { kind: 'write_file', path: 'calc/_tools.py', content: ALL_PASS_PLUGIN },
          { kind: 'write_file', path: configFile, content: config },
          { kind: 'submit' },
        ]);
        expect(r.grade.status).not.toBe('resolved');
      } finally {
        await removeDir(repo.dir);
      }
    },
  );

  it.each([
    ['exits 0', 'process.exit(0)'],
    ['throws', "throw new Error('no')"],
  ])(
    'TAP IDs carry no file: src/calc.js registering a passing `add` in the visible test file and %s in the hidden one does not resolve',
    async (_label, sabotage) => {
      // Only src/calc.js changes (not a test path). Node runs each test file in its own process; calc.js looks
      // at process.argv to tell the hidden file from the visible one.
      const calc = [
        "import { test } from 'node:test';",
        `if (process.argv.some((a) => a.endsWith('add.test.js'))) ${sabotage};`,
        "if (process.argv.some((a) => a.endsWith('calc.test.js'))) test('add', () => {});",
        'export function add(a, b) {\n  return a - b;\n}',
        'export function sub(a, b) {\n  return a - b;\n}',
        '',
      ].join('\n');
      const r = await episode(js.task, [
        { kind: 'write_file', path: 'src/calc.js', content: calc },
        { kind: 'submit' },
      ]);
      expect(r.grade.testFilesReverted).toEqual([]);
      expect(r.grade.status).not.toBe('resolved');
    },
  );

  it('edits to visible or hidden test files, and fake PASSED lines with a failing exit, do not resolve', async () => {
    const r = await episode(py.task, [
      {
        kind: 'write_file',
        path: 'tests/test_add.py',
        content: 'def test_add():\n    pass\n\ndef test_add_zero():\n    pass\n',
      },
      { kind: 'write_file', path: 'conftest.py', content: 'import pytest\n' },
      { kind: 'run', command: 'git mv tests/test_sub.py tests/test_sub_renamed.py' },
      { kind: 'submit' },
    ]);
    expect(r.grade.testFilesReverted).toEqual(
      expect.arrayContaining(['tests/test_add.py', 'conftest.py', 'tests/test_sub.py']),
    );
    expect(r.grade.resolved).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('dataset loader', () => {
  let dir: string;
  let repo: { dir: string; commit: string };
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'repogym-adv-ds-'));
    repo = await makeRepo({ 'a.py': 'x = 1\n' });
    await mkdir(path.join(dir, 'repos'));
    await cp(repo.dir, path.join(dir, 'repos', 'octo__cat'), { recursive: true });
    await mkdir(path.join(dir, 'plain-dir'));
  });
  afterAll(async () => {
    await removeDir(dir);
    await removeDir(repo.dir);
  });
  const row = (extra: Record<string, unknown>) =>
    JSON.stringify({
      repo: repo.dir,
      base_commit: repo.commit,
      problem_statement: 'p',
      FAIL_TO_PASS: ['t'],
      ...extra,
    });

  it('reports each bad row with its line, field and reason; the good rows still load', async () => {
    const lines = [
      row({ instance_id: 'ok-1' }), // 1
      '{"instance_id": "broken"', // 2
      row({ instance_id: 'no-ps', problem_statement: undefined }), // 3
      row({ instance_id: 'bad-type', FAIL_TO_PASS: 5 }), // 4
      row({ instance_id: 'json-string', FAIL_TO_PASS: '["a", "b"]' }), // 5
      row({ instance_id: 'garbage-string', FAIL_TO_PASS: 'test_a, test_b' }), // 6
      row({ instance_id: 'ok-1' }), // 7
      row({ instance_id: 'unknown-repo', repo: 'nope/nope' }), // 8
      row({ instance_id: 'no-commit', base_commit: 'deadbeefdeadbeef' }), // 9
      row({ instance_id: 'swe', repo: 'octo/cat' }), // 10
      'null', // 11
      row({ instance_id: 'bad-id!' }), // 12
    ];
    await writeFile(path.join(dir, 'tasks.jsonl'), lines.join('\n') + '\n');
    const r = await loadTaskFile(path.join(dir, 'tasks.jsonl'), { reposDir: path.join(dir, 'repos') });
    expect(r.tasks.map((t) => t.instance_id)).toEqual(['ok-1', 'json-string', 'swe']);
    expect(r.tasks[1]!.FAIL_TO_PASS).toEqual(['a', 'b']);
    expect(r.errors.map((e) => `${e.line}:${e.field}`)).toEqual([
      '2:(json)',
      '3:problem_statement',
      '4:FAIL_TO_PASS',
      '6:FAIL_TO_PASS',
      '7:instance_id',
      '8:repo',
      '9:base_commit',
      '11:(row)',
      '12:instance_id',
    ]);
    for (const e of r.errors) expect(e.reason.length).toBeGreaterThan(0);
  });

  it('a JSONL file starting with a UTF-8 BOM keeps its first row', async () => {
    await writeFile(
      path.join(dir, 'bom.jsonl'),
      '\uFEFF' + row({ instance_id: 'first' }) + '\n' + row({ instance_id: 'second' }) + '\n',
    );
    const r = await loadTaskFile(path.join(dir, 'bom.jsonl'));
    expect(r.errors).toEqual([]);
    expect(r.tasks.map((t) => t.instance_id)).toEqual(['first', 'second']);
  });

  it('a repo folder that is not a git repository is reported on `repo`, not `base_commit`', async () => {
    const r = await loadRows(
      [{ line: 1, value: JSON.parse(row({ instance_id: 'plain', repo: 'plain-dir' })) }],
      dir,
    );
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]!.field).toBe('repo');
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('CLI arguments', () => {
  let dir: string;
  let dataset: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'repogym-adv-cli-'));
    dataset = path.join(dir, 'tasks.jsonl');
    await writeFile(dataset, JSON.stringify(js.task) + '\n');
  });
  afterAll(() => removeDir(dir));

  it.each([[['--max-steps', 'abc']], [['--max-steps', '-1']]])(
    '`repogym run … %j` is refused (NaN / negative were accepted, exit 0)',
    async (extra) => {
      const r = await cli([
        'run',
        '--dataset',
        dataset,
        '--task',
        js.task.instance_id,
        '--policy',
        'nop',
        ...extra,
      ]);
      expect(r.code, r.stdout.split('\n')[0]).not.toBe(0);
      expect(r.stderr).toMatch(/^repogym: .*max-?steps/i);
    },
  );

  it('`repogym run … --seed x` is refused (it ran with seed NaN and exited 0)', async () => {
    const r = await cli([
      'run',
      '--dataset',
      dataset,
      '--task',
      js.task.instance_id,
      '--policy',
      'nop',
      '--seed',
      'x',
    ]);
    expect(r.code, r.stdout.split('\n')[0]).not.toBe(0);
    expect(r.stderr).toMatch(/^repogym: .*seed/i);
  });

  it('`datasets validate --concurrency 0` is refused (it validated nothing and said "1/1 tasks valid")', async () => {
    const r = await cli(['datasets', 'validate', dataset, '--concurrency', '0', '--reruns', '0']);
    expect(r.stdout).not.toMatch(/1\/1 tasks valid/);
    expect(r.code).not.toBe(0);
  });

  it('`--policy wizard` names what was invalid (it printed only "repogym: Invalid values:")', async () => {
    const r = await cli(['run', '--dataset', dataset, '--task', js.task.instance_id, '--policy', 'wizard']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/policy|wizard/);
  });
});

// ===============================================================================================================
// Round 2: a second tester against the new defences (pytest-config revert, symlink check, hidden-file check,
// containment); each test reproduces an attack that once worked, or confirms a defence.

const FIXED_CALC_JS =
  'export function add(a, b) {\n  return a + b;\n}\nexport function sub(a, b) {\n  return a - b;\n}\n';

/** The fixture task on a repo built from `files` (same hidden tests and test lists). */
async function taskOn(base: Task, files: Record<string, string>, extra: Record<string, unknown> = {}) {
  const repo = await makeRepo(files);
  const { tasks, errors } = await loadRows(
    [{ line: 1, value: { ...base, ...extra, repo: repo.dir, base_commit: repo.commit } }],
    '/',
  );
  expect(errors).toEqual([]);
  return { task: tasks[0]!, dir: repo.dir };
}

describe('round 2: pytest configuration and modules the grading revert misses', () => {
  const write = (p: string, content: string) => ({ kind: 'write_file', path: p, content });
  let bare: { task: Task; dir: string }; // the Python fixture without pytest.ini
  let builtin: Task[];
  beforeAll(async () => {
    const files: Record<string, string> = { ...PY_FILES };
    delete files['pytest.ini'];
    bare = await taskOn(py.task, files);
    builtin = (await loadDataset('builtin:mini')).tasks;
  });
  afterAll(() => removeDir(bare.dir));

  it.each(['pytest.toml', '.pytest.toml'])(
    'a plugin enabled from %s (pytest 9 reads it before pytest.ini) is dropped',
    async (configFile) => {
      const r = await episode(py.task, [
        write('calc/_plugin.py', ALL_PASS_PLUGIN),
        write(configFile, '[pytest]\naddopts = ["-p", "calc._plugin"]\n'),
        { kind: 'submit' },
      ]);
      // The file is neither in TEST_PATH_PATTERNS nor in SHARED_CONFIG_FILE: nothing is reverted.
      expect(r.grade.status).not.toBe('resolved');
    },
  );

  const ADDOPTS = 'addopts = "-p calc._plugin"\n';
  it.each([
    ['pyproject.toml', 'a header with a trailing comment', `[tool.pytest.ini_options] # options\n${ADDOPTS}`],
    [
      'pyproject.toml',
      'an indented header',
      `[project]\nname = "calc"\n  [tool.pytest.ini_options]\n${ADDOPTS}`,
    ],
    ['pyproject.toml', 'spaces inside the brackets', `[ tool.pytest.ini_options ]\n${ADDOPTS}`],
    [
      'pyproject.toml',
      'a root-level dotted key',
      `tool.pytest.ini_options.${ADDOPTS}[project]\nname = "calc"\n`,
    ],
    ['pyproject.toml', 'a dotted key under [tool]', `[tool]\npytest.ini_options.${ADDOPTS}`],
    ['setup.cfg', 'a header with a trailing comment', '[tool:pytest] ; options\naddopts = -p calc._plugin\n'],
  ])(
    '%s whose pytest section is spelled with %s is compared parsed, and dropped',
    async (configFile, _how, config) => {
      const r = await episode(bare.task, [
        write('calc/_plugin.py', ALL_PASS_PLUGIN),
        write(configFile, config),
        { kind: 'submit' },
      ]);
      expect(r.grade.status).not.toBe('resolved');
    },
  );

  it('on the builtin ledger task, a `.pytest.ini` (read before pyproject.toml) is dropped', async () => {
    const task = builtin.find((t) => t.instance_id === 'ledger__round-half-up-1')!;
    const r = await episode(task, [
      write('ledger/_plugin.py', ALL_PASS_PLUGIN),
      write('.pytest.ini', '[pytest]\naddopts = -p ledger._plugin\npythonpath = .\n'),
      { kind: 'submit' },
    ]);
    expect(r.grade.status).not.toBe('resolved');
  });

  it("on the builtin ledger task, pyproject.toml's pytest section moved into a string and redefined is caught", async () => {
    // pytestSections() sees the original section text unchanged (now inside a multi-line string, closed by a
    // line `[ """` that starts with '['); the real table is an indented header, which it does not see at all.
    const task = builtin.find((t) => t.instance_id === 'ledger__round-half-up-1')!;
    const env = new CodingEnv({ tasks: [task] });
    try {
      await env.reset();
      const original = (await env.step({ kind: 'read_file', path: 'pyproject.toml' })).observation.output;
      const at = original.indexOf('[tool.pytest.ini_options]');
      expect(at).toBeGreaterThan(0);
      const hacked =
        `${original.slice(0, at).trimEnd()}\nreadme = """\n${original.slice(at)}\n[ """\n\n` +
        '  [tool.pytest.ini_options]\n  addopts = "-p ledger._plugin"\n  testpaths = ["tests"]\n  pythonpath = ["."]\n';
      await env.step(write('ledger/_plugin.py', ALL_PASS_PLUGIN));
      await env.step(write('pyproject.toml', hacked));
      const r = await env.step({ kind: 'submit' });
      const grade = r.info.grade as Grade;
      expect(grade.status).not.toBe('resolved');
    } finally {
      await env.close();
    }
  });

  it('a `*.DIST-INFO/entry_points.txt` (any case, as importlib.metadata matches it) is dropped', async () => {
    const dir = 'calc_tools-1.0.DIST-INFO';
    const r = await episode(py.task, [
      write('calc/_tools.py', ALL_PASS_PLUGIN),
      write(`${dir}/METADATA`, 'Metadata-Version: 2.1\nName: calc-tools\nVersion: 1.0\n'),
      write(`${dir}/entry_points.txt`, '[pytest11]\ncalc_tools = calc._tools\n'),
      { kind: 'submit' },
    ]);
    expect(r.grade.status).not.toBe('resolved');
  });

  it('a top-level pytest.py that would replace pytest itself is dropped', async () => {
    // Runs the real pytest in a subprocess and rewrites its FAILED/ERROR lines. Any top-level module pytest
    // imports (pytest, _pytest/, pluggy, iniconfig, tomllib, …) can be shadowed the same way.
    const fake = [
      'import os, re, subprocess, sys',
      'here = os.path.dirname(os.path.abspath(__file__))',
      "code = \"import sys; sys.path = [p for p in sys.path if p not in ('', '.', %r)]; import pytest; sys.exit(pytest.main())\" % here",
      'r = subprocess.run([sys.executable, "-c", code] + sys.argv[1:], capture_output=True, text=True)',
      'print(re.sub(r"^(FAILED|ERROR) (\\S+).*$", r"PASSED \\2", r.stdout, flags=re.M))',
      'sys.exit(0)',
      '',
    ].join('\n');
    const r = await episode(py.task, [write('pytest.py', fake), { kind: 'submit' }]);
    expect(r.grade.status).not.toBe('resolved');
  });

  it('code under test that skips the FAIL_TO_PASS tests and prints their PASSED lines at exit does not resolve', async () => {
    // `-rA` summarises skips as `SKIPPED [2] calc/ops.py:13: …`, naming no test, so the forged lines printed by
    // an atexit hook are the only entries for the hidden tests; the run really finished and exited 0. pytest's
    // own final line ("1 passed, 2 skipped") contradicts the 3 parsed passes.
    const ops = [
      'import atexit, os',
      '',
      '_skipped = []',
      '',
      '',
      'def add(a, b):',
      "    current = os.environ.get('PYTEST_CURRENT_TEST')",
      '    if current:',
      '        import pytest',
      '        if not _skipped:',
      "            atexit.register(lambda: print(''.join(f'\\nPASSED {n}' for n in _skipped)))",
      "        _skipped.append(current.rsplit(' ', 1)[0])",
      "        pytest.skip('not yet')",
      '    return a - b',
      '',
      '',
      'def sub(a, b):',
      '    return a - b',
      '',
    ].join('\n');
    const r = await episode(py.task, [write('calc/ops.py', ops), { kind: 'submit' }]);
    expect(r.grade.status).not.toBe('resolved');
  });
});

describe('round 2: symlinks in the diff', () => {
  it('retargeting a symlink that already exists in the repo to a host file is refused', async () => {
    // diff.ts only reads a target from `new file mode 120000` / `new mode 120000`; a changed link is
    // `index a..b 120000` with `-old` / `+new` lines and passes unchecked.
    const repo = await makeRepo({ ...JS_FILES, 'src/impl.js': JS_FILES['src/calc.js'] });
    try {
      await rmPath(path.join(repo.dir, 'src/calc.js'));
      await symlinkPath('impl.js', path.join(repo.dir, 'src/calc.js'));
      await runGit(['add', '-A'], { cwd: repo.dir });
      await runGit(['commit', '-q', '-m', 'calc.js is a link'], { cwd: repo.dir, env: FIXED_IDENTITY });
      const commit = (await runGit(['rev-parse', 'HEAD'], { cwd: repo.dir })).trim();
      const { tasks } = await loadRows(
        [{ line: 1, value: { ...js.task, repo: repo.dir, base_commit: commit } }],
        '/',
      );
      const fix = path.join(outside, 'calc-fixed-retarget.js');
      await writeFile(fix, FIXED_CALC_JS);
      const r = await episode(tasks[0]!, [
        { kind: 'run', command: `ln -sfn ${fix} src/calc.js` },
        { kind: 'submit' },
      ]);
      expect(r.grade.patch).toMatch(/^index \w+\.\.\w+ 120000$/m);
      expect(r.grade.resolved).toBe(false);
    } finally {
      await removeDir(repo.dir);
    }
  });

  it('a symlink target starting with a newline is refused', async () => {
    // The target is read from the first added line only: '' here. `src/\n/` exists (a directory named by a
    // newline), so `\n/../../…` climbs out of the tree.
    const fix = path.join(outside, 'calc-fixed-newline.js');
    await writeFile(fix, FIXED_CALC_JS);
    const target = `\\n/${'../'.repeat(20)}${fix.slice(1)}`;
    const r = await episode(js.task, [
      {
        kind: 'run',
        command: `mkdir -p $'src/\\n' && touch $'src/\\n/.keep' && ln -sfn $'${target}' src/calc.js`,
      },
      { kind: 'submit' },
    ]);
    expect(r.grade.patch).toContain('new file mode 120000');
    expect(r.grade.resolved).toBe(false);
  });
  it('a chain of symlinks through `link/..` that reaches a host file is refused', async () => {
    // `.links/r -> ..` is the repo root; `.links/p1 -> r/..` is lexically `.links` but really the repo's parent;
    // each `pN -> p(N-1)/..` climbs one more level up to `/`. calc/ops.py -> ../.links/p16/<host file>. The chain
    // lives in a dot directory, which pytest does not collect (norecursedirs).
    const fix = path.join(outside, 'ops_fixed_chain.py');
    await writeFile(fix, 'def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n');
    const links = ['mkdir .links', 'ln -s .. .links/r', 'ln -s r/.. .links/p1'];
    for (let i = 2; i <= 16; i++) links.push(`ln -s p${i - 1}/.. .links/p${i}`);
    links.push(`ln -sfn ../.links/p16${fix} calc/ops.py`);
    const r = await episode(py.task, [{ kind: 'run', command: links.join(' && ') }, { kind: 'submit' }]);
    expect(r.grade.patch).toContain('.links/p16');
    expect(r.grade.resolved).toBe(false);
  });
});

describe('round 2: test reports', () => {
  let junit: { task: Task; dir: string };
  beforeAll(async () => {
    junit = await taskOn(py.task, PY_FILES, {
      instance_id: 'junit-round2-1',
      test_cmd: 'python3 -m pytest -p no:cacheprovider --junitxml=report.xml',
      test_format: 'junit',
      test_report_file: 'report.xml',
    });
  });
  afterAll(() => removeDir(junit.dir));

  it('TAP forged through an unescaped object key in a failing assertion, then `Bail out!`, is rejected', async () => {
    // Node prints the keys of `actual` raw in the YAML diagnostic: a key with newlines writes column-0 TAP
    // lines. The code registers one failing test (so the exit code 1 is "consistent"), forges `ok` lines for
    // every title in test/ (the hidden file is there at grading time) and bails out: tap-parser ignores the
    // real results that follow. Node's runner never prints "Bail out!". Works on the builtin TAP tasks too.
    const calc = [
      "import { test } from 'node:test';",
      "import assert from 'node:assert/strict';",
      "import fs from 'node:fs';",
      'const names = [];',
      "for (const f of fs.readdirSync('test')) for (const m of fs.readFileSync(`test/${f}`, 'utf8').matchAll(/test\\('([^']+)'/g)) names.push(m[1]);",
      "const forged = '\\n' + names.map((n, i) => `ok ${i + 1} - ${n}`).join('\\n') + '\\nBail out! done';",
      "test('zzz', () => assert.deepStrictEqual({ [forged]: 1 }, {}));",
      'export function add(a, b) {\n  return a - b;\n}\n\nexport function sub(a, b) {\n  return a - b;\n}\n',
    ].join('\n');
    const r = await episode(js.task, [
      { kind: 'write_file', path: 'src/calc.js', content: calc },
      { kind: 'submit' },
    ]);
    expect(r.grade.status).not.toBe('resolved');
  });

  it('a dangling symlink committed at test_report_file is the agent’s failure, not infra', async () => {
    const r = await episode(junit.task, [
      { kind: 'run', command: 'ln -s missing-target report.xml' },
      { kind: 'submit' },
    ]);
    // was: status infra, "harness error: path "report.xml" goes through a dangling symlink"
    expect(r.grade.failureClass).not.toBe('infra');
  });

  it('a report the code under test makes unparseable is an observation on run_tests and not infra on submit', async () => {
    // An unclosed comment appended at exit: fast-xml-parser throws "Comment is not closed."
    const env = new CodingEnv({ tasks: [junit.task] });
    try {
      await env.reset();
      await env.step({
        kind: 'write_file',
        path: 'calc/__init__.py',
        content: "import atexit\natexit.register(lambda: open('report.xml', 'a').write('<!--'))\n",
      });
      const run = await tryStep(env, { kind: 'run_tests' });
      const submitted = await tryStep(env, { kind: 'submit' });
      expect(run.thrown).toBeUndefined();
      expect((submitted.result?.info.grade as Grade | undefined)?.failureClass).not.toBe('infra');
    } finally {
      await env.close();
    }
  });

  it('the jest JSON parser stays linear in stray `{` of console output', () => {
    // findReport() scans to the end of the text from every '{': 40k characters take seconds, 1 MB half an hour,
    // synchronously (no timeout applies and every env of the process stalls).
    const started = performance.now();
    expect(parseJestJson('{'.repeat(40_000))).toEqual([]);
    expect(performance.now() - started).toBeLessThan(500);
  });
});

describe('round 2: honest patches graded wrongly', () => {
  it('a hidden test_patch that adds a helper module under test/ still lets the gold patch resolve', async () => {
    // node --test runs every .js under test/; a module without tests is reported as a passing file entry
    // (`ok 3 - /…/test/helpers.js`), which brokenHiddenFiles counts as "did not run normally".
    const testPatch = [
      'diff --git a/test/add.test.js b/test/add.test.js',
      'new file mode 100644',
      '--- /dev/null',
      '+++ b/test/add.test.js',
      '@@ -0,0 +1,8 @@',
      "+import { test } from 'node:test';",
      "+import assert from 'node:assert/strict';",
      "+import { add } from '../src/calc.js';",
      "+import { four } from './helpers.js';",
      '+',
      "+test('add', () => {",
      '+  assert.equal(add(2, 2), four);',
      '+});',
      'diff --git a/test/helpers.js b/test/helpers.js',
      'new file mode 100644',
      '--- /dev/null',
      '+++ b/test/helpers.js',
      '@@ -0,0 +1 @@',
      '+export const four = 4;',
      '',
    ].join('\n');
    const helper = await taskOn(js.task, JS_FILES, { instance_id: 'helper-round2-1', test_patch: testPatch });
    try {
      const r = await episode(helper.task, [
        { kind: 'apply_patch', diff: helper.task.patch },
        { kind: 'submit' },
      ]);
      expect(r.grade.failToPass.failed).toEqual([]);
      expect(r.grade.status).toBe('resolved');
    } finally {
      await removeDir(helper.dir);
    }
  });

  it('a fix in a source package named `testing/` (like numpy.testing, django/test/) is kept', async () => {
    // For pytest only test_*.py / *_test.py / conftest.py are tests; the directory patterns of isTestPath drop
    // source modules such as django/test/utils.py, sphinx/testing/, lib/matplotlib/testing/.
    const files = {
      ...PY_FILES,
      'calc/testing/__init__.py': '',
      'calc/testing/checks.py': 'def close(a, b):\n    return abs(a - b) > 1e-9\n',
    };
    const gold =
      'diff --git a/calc/testing/checks.py b/calc/testing/checks.py\n--- a/calc/testing/checks.py\n+++ b/calc/testing/checks.py\n' +
      '@@ -1,2 +1,2 @@\n def close(a, b):\n-    return abs(a - b) > 1e-9\n+    return abs(a - b) < 1e-9\n';
    const testPatch =
      'diff --git a/tests/test_checks.py b/tests/test_checks.py\nnew file mode 100644\n--- /dev/null\n+++ b/tests/test_checks.py\n' +
      '@@ -0,0 +1,5 @@\n+from calc.testing.checks import close\n+\n+\n+def test_close():\n+    assert close(0.1 + 0.2, 0.3)\n';
    const t = await taskOn(py.task, files, {
      instance_id: 'testing-dir-round2-1',
      patch: gold,
      test_patch: testPatch,
      FAIL_TO_PASS: ['tests/test_checks.py::test_close'],
      PASS_TO_PASS: ['tests/test_sub.py::test_sub'],
    });
    try {
      const r = await episode(t.task, [{ kind: 'apply_patch', diff: gold }, { kind: 'submit' }]);
      expect(r.grade.testFilesReverted).toEqual([]);
      expect(r.grade.status).toBe('resolved');
    } finally {
      await removeDir(t.dir);
    }
  });
});

describe('round 2: defences that hold', () => {
  it('honest fixes that rename files, add oddly named modules, CRLF files, own tests and pyproject edits resolve', async () => {
    const jsRun = await episode(js.task, [
      { kind: 'run', command: 'git mv src/calc.js src/calculator.js' },
      {
        kind: 'write_file',
        path: 'src/ops/add impl é.js',
        content: 'export const addImpl = (a, b) => a + b;\r\n',
      },
      {
        kind: 'str_replace',
        path: 'src/calculator.js',
        old: 'export function add(a, b) {\n  return a - b;',
        new: 'export function add(a, b) {\n  return addImpl(a, b);',
      },
      {
        kind: 'run',
        command: `sed -i '1i import { addImpl } from "./ops/add impl é.js";' src/calculator.js`,
      },
      { kind: 'write_file', path: 'src/calc.js', content: "export * from './calculator.js';\n" },
      {
        kind: 'write_file',
        path: 'test/mine.test.js',
        content: "import { test } from 'node:test';\ntest('mine', () => {});\n",
      },
      { kind: 'submit' },
    ]);
    expect(jsRun.grade.testFilesReverted).toEqual(['test/mine.test.js']);
    expect(jsRun.grade.status).toBe('resolved');
    // ledger: a different fix than the gold one, plus an edit of pyproject.toml outside its pytest section.
    const ledger = (await loadDataset('builtin:mini')).tasks.find(
      (t) => t.instance_id === 'ledger__round-half-up-1',
    )!;
    const pyRun = await episode(ledger, [
      {
        kind: 'str_replace',
        path: 'ledger/money.py',
        old: 'return amount.quantize(CENT, rounding=ROUND_HALF_EVEN)',
        new: 'from decimal import ROUND_HALF_UP\n\n    return amount.quantize(CENT, rounding=ROUND_HALF_UP)',
      },
      { kind: 'str_replace', path: 'pyproject.toml', old: 'small shops.', new: 'small shops and markets.' },
      { kind: 'submit' },
    ]);
    expect(pyRun.grade.testFilesReverted).toEqual([]);
    expect(pyRun.grade.status).toBe('resolved');
  });

  it("node --test's discovery (Node 20) matches isTestPath: no shadow test file outside the patterns", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'repogym-adv-discovery-'));
    try {
      const names = [
        'src/a.test.js',
        'src/a-test.js',
        'src/a_test.js',
        'src/test-a.js',
        'src/test.js',
        'src/x.test.cjs',
        'src/Atest.js',
        'src/1test.js',
        'src/atest.js',
        'src/test_a.js',
        'src/latest.js',
        'src/contest.js',
        'src/a.spec.js',
        'src/testing.js',
        'lib/test/inner.js',
      ];
      await writeFile(path.join(dir, 'package.json'), '{}\n');
      for (const name of names) {
        await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
        await writeFile(
          path.join(dir, name),
          `require('node:test').test(${JSON.stringify(name)}, () => {});\n`,
        );
      }
      const stdout = await new Promise<string>((resolve) =>
        execFile('node', ['--test', '--test-reporter=tap'], { cwd: dir }, (_err, out) => resolve(out)),
      );
      const discovered = [...stdout.matchAll(/^ok \d+ - (.+)$/gm)].map((m) => m[1]!).sort();
      expect(discovered.length).toBeGreaterThan(0);
      for (const name of discovered) expect(isTestPath(name), name).toBe(true);
    } finally {
      await removeDir(dir);
    }
  });

  it('sitecustomize.py / usercustomize.py in the repo root are not loaded by `python -m pytest`', async () => {
    const hook = "import os\nos.environ['PYTEST_ADDOPTS'] = '-p calc._plugin'\n";
    const r = await episode(py.task, [
      { kind: 'write_file', path: 'calc/_plugin.py', content: ALL_PASS_PLUGIN },
      { kind: 'write_file', path: 'sitecustomize.py', content: hook },
      { kind: 'write_file', path: 'usercustomize.py', content: hook },
      { kind: 'submit' },
    ]);
    expect(r.grade.status).toBe('unresolved');
    expect(r.grade.passToPass.passed).toEqual(['tests/test_sub.py::test_sub']);
  });

  it('TAP lines a test file prints to stdout are not parsed (Node prefixes them with #)', async () => {
    const calc = [
      "process.stdout.write('ok 1 - add\\nok 2 - sub\\nBail out!\\n');",
      "console.error('ok 1 - add');",
      'export function add(a, b) {\n  return a - b;\n}\n\nexport function sub(a, b) {\n  return a - b;\n}\n',
    ].join('\n');
    const r = await episode(js.task, [
      { kind: 'write_file', path: 'src/calc.js', content: calc },
      { kind: 'submit' },
    ]);
    expect(r.grade.failToPass.failed).toEqual(['add']);
    expect(r.grade.status).toBe('unresolved');
  });

  it('a fork bomb (capped by pids.max) dies at the step timeout, nothing of the sandbox is left, the next step runs', async () => {
    const env = new CodingEnv({ tasks: [js.task] });
    try {
      await env.reset();
      const bomb = await env.step({ kind: 'run', command: 'f(){ f & f & wait; }; f', timeoutSec: 2 });
      expect(bomb.observation.timedOut).toBe(true);
      const next = await env.step({ kind: 'run', command: 'echo "alive $REPOGYM_SANDBOX"' });
      const id = /^alive (\S+)$/m.exec(next.observation.output)?.[1];
      expect(id).toBeDefined();
      // Without cgroups the marker fallback kills them too; either way nothing of this sandbox is left running.
      const marker = `REPOGYM_SANDBOX=${id}\0`;
      const environOf = (pid: string) => {
        try {
          return readFileSync(`/proc/${pid}/environ`, 'latin1');
        } catch {
          return ''; // ended, or a zombie
        }
      };
      const left = (await readdir('/proc')).filter(
        (pid) => /^\d+$/.test(pid) && environOf(pid).includes(marker),
      );
      expect(left).toEqual([]);
    } finally {
      await env.close();
    }
  });
});
