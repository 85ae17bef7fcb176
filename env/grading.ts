// SWE-bench-exact grading. The agent's patch is applied to a *fresh* sandbox at the base commit (state the agent
// left outside its diff cannot leak in), its changes to test files are dropped, the hidden test_patch is
// applied, the task's test command runs, and the parsed results are compared with FAIL_TO_PASS/PASS_TO_PASS.
import type { Task } from '../datasets/types.ts';
import { filesOf, isTestPath, splitDiff, symlinkEscapes } from './diff.ts';
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
const PYTEST_SECTION = /^\[(tool\.pytest[^\]]*|tool:pytest)\]\s*$/;

/** The pytest sections of a pyproject.toml/setup.cfg (which also hold unrelated settings). */
function pytestSections(text: string): string {
  const kept: string[] = [];
  let inside = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('[')) inside = PYTEST_SECTION.test(line);
    if (inside) kept.push(line);
  }
  return kept.join('\n');
}

/** Restores shared config files whose pytest options the patch changed (plugins, addopts, testpaths, …). */
async function revertPytestConfigChanges(sandbox: Sandbox, files: string[]): Promise<string[]> {
  const reverted: string[] = [];
  for (const file of files.filter((f) => SHARED_CONFIG_FILE.test(f))) {
    const before = await sandbox.exec(['git', 'show', `HEAD:${file}`], { maxOutputBytes: 64 * 1024 * 1024 });
    const original = before.exitCode === 0 ? before.output : '';
    const current = await sandbox.readFile(file).catch(() => '');
    if (pytestSections(original) === pytestSections(current)) continue;
    await sandbox.exec(
      before.exitCode === 0 ? ['git', 'checkout', 'HEAD', '--', file] : ['rm', '-f', '--', file],
    );
    reverted.push(file);
  }
  return reverted;
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
  if (task.test_report_file) {
    await sandbox.resolve(task.test_report_file);
    await sandbox.exec(['rm', '-f', '--', task.test_report_file]);
  }
  // Parse the complete output (the report can be long); the observation gets a capped copy.
  const result = await sandbox.exec(command, {
    timeoutSec: Math.min(task.timeouts.test_sec, opts.timeoutSec ?? Infinity),
    maxOutputBytes: 32 * 1024 * 1024,
  });
  let report = result.output;
  if (task.test_report_file) {
    report = await sandbox.readFile(task.test_report_file).catch(() => '');
    await sandbox.exec(['rm', '-f', '--', task.test_report_file]);
  }
  let tests = parseTestReport(task.test_format, report, { cwd: sandbox.root });
  if (opts.selection?.length) tests = tests.filter((t) => opts.selection!.includes(t.name));
  return { ...result, tests };
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

  // A symlink to a host file would let state outside the diff decide the grade.
  const escaping = sections.filter(
    (f) => f.newPath && f.symlinkTarget !== undefined && symlinkEscapes(f.newPath, f.symlinkTarget),
  );
  if (escaping.length > 0) {
    const links = escaping.map((f) => `${f.newPath} -> ${f.symlinkTarget}`).join(', ');
    return {
      ...base,
      status: 'patch_failed',
      failureClass: 'agent',
      reason: `symlinks leaving the repository: ${links}`,
    };
  }

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
      configReverted = await revertPytestConfigChanges(sandbox, filesOf(kept.join('')));
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
    const brokenHiddenFiles = run.tests.filter((t) => hiddenTestFiles.has(t.name));
    let status: GradeStatus;
    let reason: string | undefined;
    if (run.tests.length === 0) {
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
