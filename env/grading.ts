// SWE-bench-exact grading. The agent's patch is applied to a *fresh* sandbox at the base commit (state the agent
// left outside its diff cannot leak in), its changes to test files are dropped, the hidden test_patch is
// applied, the task's test command runs, and the parsed results are compared with FAIL_TO_PASS/PASS_TO_PASS.
import type { Task } from '../datasets/types.ts';
import { filesOf, isTestPath, splitDiff } from './diff.ts';
import { parseTestReport } from './parsers/index.ts';
import { capText } from './sandbox/exec.ts';
import type { Sandbox } from './sandbox/types.ts';
import type { Telemetry, TestResult } from './types.ts';

export type GradeStatus =
  | 'resolved'
  | 'unresolved'
  /** The runner's exit code contradicts the parsed report (e.g. printed "PASSED" lines but the run failed). */
  | 'suite_inconsistent'
  /** No test result could be parsed: nothing ran, or the report was destroyed. */
  | 'suite_did_not_run'
  /** The agent's diff did not apply to a clean checkout. */
  | 'patch_failed'
  /** The harness failed (sandbox error, hidden tests did not apply, setup failed): not the agent's fault. */
  | 'infra';

export interface TestSplit {
  passed: string[];
  /** Failed, errored or missing from the report (and skipped, for FAIL_TO_PASS). */
  failed: string[];
}

export interface Grade {
  status: GradeStatus;
  resolved: boolean;
  failureClass: 'none' | 'agent' | 'infra';
  failToPass: TestSplit;
  passToPass: TestSplit;
  f2pFraction: number;
  p2pFraction: number;
  /** Test files the agent changed; their changes were dropped before grading. */
  testFilesReverted: string[];
  /** The agent's patch as submitted (SWE-bench's model_patch). */
  patch: string;
  exitCode: number | null;
  timedOut: boolean;
  tests: TestResult[];
  output: string;
  telemetry: Telemetry | null;
  reason?: string;
}

const SHARED_CONFIG_FILE = /(^|\/)(pyproject\.toml|setup\.cfg)$/;

// Compares the pytest configuration of two versions of a pyproject.toml/setup.cfg as pytest would read it
// (parsed, so comments, spacing, dotted keys and strings cannot disguise a change). Runs with `python3 -I`: the
// repository cannot shadow tomllib or configparser. Prints "same" or "differ".
const COMPARE_PYTEST_CONFIG = String.raw`
import configparser, json, sys, tomllib
def pytest_config(name, text):
    if name.endswith(".toml"):
        return tomllib.loads(text).get("tool", {}).get("pytest")
    parser = configparser.RawConfigParser(strict=False, inline_comment_prefixes=("#", ";"))
    parser.read_string(text)
    return {s: dict(parser[s]) for s in parser.sections() if "pytest" in s.lower()}
request = json.load(sys.stdin)
try:
    same = pytest_config(request["name"], request["before"]) == pytest_config(request["name"], request["after"])
except Exception:
    same = False
print("same" if same else "differ")
`;

/** Restores shared config files whose pytest options the patch changed (plugins, addopts, testpaths, …). */
async function revertPytestConfigChanges(sandbox: Sandbox, files: string[]): Promise<string[]> {
  const reverted: string[] = [];
  for (const file of files.filter((f) => SHARED_CONFIG_FILE.test(f))) {
    const before = await sandbox.exec(['git', 'show', `HEAD:${file}`], { maxOutputBytes: 64 * 1024 * 1024 });
    const original = before.exitCode === 0 ? before.output : '';
    const current = await sandbox.readFile(file).catch(() => '');
    const compared = await sandbox.exec(['python3', '-I', '-c', COMPARE_PYTEST_CONFIG], {
      stdin: JSON.stringify({ name: file, before: original, after: current }),
    });
    if (compared.output.trim() === 'same') continue;
    await sandbox.exec(
      before.exitCode === 0 ? ['git', 'checkout', 'HEAD', '--', file] : ['rm', '-f', '--', file],
    );
    reverted.push(file);
  }
  return reverted;
}

/**
 * Whether a file of the hidden test_patch holds tests. Node reports a test file that ran no test (it exited
 * early) as a passing entry named by the file, but it does the same for a helper module under test/.
 */
function hiddenFileDefinesTests(testPatch: string, file: string): boolean {
  const section = splitDiff(testPatch).find((f) => f.newPath === file);
  if (!section || section.oldPath !== null) return true; // an existing file the hidden tests extend
  const added = section.text.split('\n').filter((line) => line.startsWith('+'));
  return added.some((line) => /\b(test|it|describe)(\.\w+)?\s*\(|^\+\s*(async\s+)?def test_/.test(line));
}

export type SandboxFactory = () => Promise<Sandbox>;

/** How a test command is run and parsed; shared by run_tests, evaluate and grading. */
export async function runTaskTests(
  sandbox: Sandbox,
  task: Task,
  opts: { selection?: string[]; timeoutSec?: number } = {},
) {
  // pytest can run a subset by node ID; other runners run everything and we filter the report.
  const selected = task.test_format === 'pytest' && opts.selection?.length;
  const command = selected ? `${task.test_cmd} ${opts.selection!.map(shellQuote).join(' ')}` : task.test_cmd;
  // A report file left in the tree (even one the agent committed) must not stand in for this run's report.
  // If it cannot be resolved (a symlink out, a dangling link), there is no report: the agent's doing.
  const reportFile = task.test_report_file;
  const reportReachable = reportFile
    ? await sandbox.resolve(reportFile).then(
        () => true,
        () => false,
      )
    : false;
  const removeReport = () => (reportReachable ? sandbox.exec(['rm', '-f', '--', reportFile!]) : undefined);
  await removeReport();
  // Parse the complete output (the report can be long); the observation gets a capped copy.
  const result = await sandbox.exec(command, {
    timeoutSec: Math.min(task.timeouts.test_sec, opts.timeoutSec ?? Infinity),
    maxOutputBytes: 32 * 1024 * 1024,
  });
  let report = result.output;
  if (reportFile) {
    report = reportReachable ? await sandbox.readFile(reportFile).catch(() => '') : '';
    await removeReport();
  }
  let tests: TestResult[] = [];
  let reportError: string | undefined;
  try {
    tests = parseTestReport(task.test_format, report, { cwd: sandbox.root });
  } catch (err) {
    // A report that contradicts itself or does not parse: the code under test wrote into it.
    reportError = `the test report was rejected: ${(err as Error).message.split('\n')[0]}`;
  }
  if (opts.selection?.length) tests = tests.filter((t) => opts.selection!.includes(t.name));
  return { ...result, tests, reportError };
}

export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * A test counts as passed only if the report says so and no file- or suite-level error covers it (a
 * collection error next to a forged "PASSED" line means the test never really ran). FAIL_TO_PASS tests must
 * pass; a skipped PASS_TO_PASS test is neutral, as in SWE-bench's grader.
 */
function split(expected: string[], byName: Map<string, TestResult>, skippedIsKept: boolean): TestSplit {
  const errored = [...byName.values()].filter((t) => t.status === 'error').map((t) => t.name);
  const coveredByError = (name: string) =>
    errored.some((e) => e !== name && (name.startsWith(`${e}::`) || name.startsWith(`${e} > `)));
  const ok = (name: string) => {
    const status = byName.get(name)?.status;
    return (status === 'passed' || (skippedIsKept && status === 'skipped')) && !coveredByError(name);
  };
  return { passed: expected.filter(ok), failed: expected.filter((name) => !ok(name)) };
}

const fraction = (s: TestSplit) => {
  const total = s.passed.length + s.failed.length;
  return total === 0 ? 1 : s.passed.length / total;
};

/** A grade before any test ran: infra failure unless the caller says otherwise. */
export function notRunGrade(task: Task, patch: string, testFilesReverted: string[] = []): Grade {
  return {
    status: 'infra',
    resolved: false,
    failureClass: 'infra',
    failToPass: { passed: [], failed: task.FAIL_TO_PASS },
    passToPass: { passed: [], failed: task.PASS_TO_PASS },
    f2pFraction: 0,
    p2pFraction: 0,
    testFilesReverted,
    patch,
    exitCode: null,
    timedOut: false,
    tests: [],
    output: '',
    telemetry: null,
  };
}

export async function grade(task: Task, agentPatch: string, makeSandbox: SandboxFactory): Promise<Grade> {
  const hiddenTestFiles = new Set(filesOf(task.test_patch));
  const sections = splitDiff(agentPatch);
  const touchesTests = (f: (typeof sections)[number]) =>
    [f.oldPath, f.newPath].some((p) => p !== null && (hiddenTestFiles.has(p) || isTestPath(p)));
  const testFilesReverted = [...new Set(sections.filter(touchesTests).flatMap((f) => filesOf(f.text)))];
  const kept = sections.filter((f) => !touchesTests(f)).map((f) => f.text);

  const base = notRunGrade(task, agentPatch, testFilesReverted);

  let sandbox: Sandbox | undefined;
  let configReverted: string[] = [];
  try {
    sandbox = await makeSandbox();
    if (task.setup_cmd) {
      const setup = await sandbox.exec(task.setup_cmd, { timeoutSec: task.timeouts.test_sec });
      if (setup.exitCode !== 0) return { ...base, reason: `setup_cmd failed: ${setup.output.slice(-2000)}` };
    }
    if (kept.length > 0) {
      const applied = await sandbox.exec(['git', 'apply', '--binary', '--whitespace=nowarn', '-'], {
        stdin: kept.join(''),
      });
      if (applied.exitCode !== 0) {
        return { ...base, status: 'patch_failed', failureClass: 'agent', reason: applied.output };
      }
      const changed = filesOf(kept.join(''));
      // A symlink to a host file would let state outside the diff decide the grade. Resolved on the real tree:
      // chains, retargeted links and odd names all end up at their true target.
      const escaping: string[] = [];
      for (const file of changed) {
        await sandbox.resolve(file).catch((err: Error) => escaping.push(err.message));
      }
      if (escaping.length > 0) {
        const reason = `symlinks leaving the repository: ${escaping.join('; ')}`;
        return { ...base, status: 'patch_failed', failureClass: 'agent', reason };
      }
      configReverted = await revertPytestConfigChanges(sandbox, changed);
    }
    if (task.test_patch) {
      const applied = await sandbox.exec(['git', 'apply', '--binary', '--whitespace=nowarn', '-'], {
        stdin: task.test_patch,
      });
      if (applied.exitCode !== 0) return { ...base, reason: `test_patch did not apply: ${applied.output}` };
    }
    const run = await runTaskTests(sandbox, task);
    const byName = new Map(run.tests.map((t) => [t.name, t]));
    const failToPass = split(task.FAIL_TO_PASS, byName, false);
    const passToPass = split(task.PASS_TO_PASS, byName, true);
    const anyFailure = run.tests.some((t) => t.status === 'failed' || t.status === 'error');
    const allExpectedPass = failToPass.failed.length === 0 && passToPass.failed.length === 0;
    // A hidden test file reported as a whole (it crashed, or exited before running a test) means its tests did
    // not run, whatever same-titled tests elsewhere reported.
    const brokenHiddenFiles = run.tests.filter(
      (t) =>
        hiddenTestFiles.has(t.name) &&
        (t.status !== 'passed' || hiddenFileDefinesTests(task.test_patch, t.name)),
    );
    let status: GradeStatus;
    let reason: string | undefined;
    if (run.reportError) {
      status = 'suite_inconsistent';
      reason = run.reportError;
    } else if (run.tests.length === 0) {
      status = 'suite_did_not_run';
      reason = run.timedOut ? 'test command timed out before reporting' : 'no test result in the report';
    } else if (!run.timedOut && (run.exitCode === 0) === anyFailure) {
      status = 'suite_inconsistent';
      reason = `runner exit code ${run.exitCode} contradicts the report (${anyFailure ? 'failures' : 'no failures'})`;
    } else if (brokenHiddenFiles.length > 0) {
      status = 'unresolved';
      reason = `hidden test files did not run normally: ${brokenHiddenFiles.map((t) => `${t.name} (${t.status})`).join(', ')}`;
    } else {
      status = allExpectedPass && !run.timedOut ? 'resolved' : 'unresolved';
    }
    return {
      ...base,
      status,
      resolved: status === 'resolved',
      failureClass: status === 'resolved' ? 'none' : 'agent',
      testFilesReverted: [...testFilesReverted, ...configReverted],
      failToPass,
      passToPass,
      f2pFraction: fraction(failToPass),
      p2pFraction: fraction(passToPass),
      exitCode: run.exitCode,
      timedOut: run.timedOut,
      tests: run.tests,
      output: capText(run.output),
      telemetry: run.telemetry,
      reason,
    };
  } catch (err) {
    return { ...base, reason: `harness error: ${(err as Error).message}` };
  } finally {
    await sandbox?.dispose();
  }
}
