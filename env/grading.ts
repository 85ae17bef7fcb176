// SWE-bench-exact grading. The agent's patch is applied to a *fresh* sandbox at the base commit (state the agent
// left outside its diff cannot leak in), its changes to test files are dropped, the hidden test_patch is
// applied, the task's test command runs, and the parsed results are compared with FAIL_TO_PASS/PASS_TO_PASS.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Task } from '../datasets/types.ts';
import { analyzeChanges, type AnalysisSignals, type ChangedFile } from './analysis/index.ts';
import { filesOf, isTestPath, splitDiff } from './diff.ts';
import { parseTestReport } from './parsers/index.ts';
import { capText } from './sandbox/exec.ts';
import type { Sandbox } from './sandbox/types.ts';
import type { Span } from '@opentelemetry/api';
import { attributes, inSpan, testAttributes, tracedFactory, tracedSandbox, type Tracing } from './tracing.ts';
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
  /** Static analysis of the changed files, base vs patched (quality and security components). */
  analysis?: AnalysisSignals;
  /** The task's benchmark_cmd timed on base and patched trees, interleaved. */
  benchmark?: BenchmarkResult;
  /** Repository files the grading test run loaded (footprint: changed files no test exercises). */
  coverage?: { loadedFiles: string[] };
}

export interface BenchmarkResult {
  command: string;
  baseMs: number[];
  patchedMs: number[];
  /** Set when a run failed or timed out; the times are then incomplete. */
  error?: string;
  /** Which tree's run failed: a failing base says nothing about the patch. */
  failedOn?: 'base' | 'patched';
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
  opts: { selection?: string[]; timeoutSec?: number; env?: Record<string, string> } = {},
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
    ...(opts.env ? { env: opts.env } : {}),
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

// Which repository files a test run loads: Node writes V8 coverage per process (NODE_V8_COVERAGE), and a
// sitecustomize on PYTHONPATH lists each Python process's modules at exit. Kept inside the tree so any backend
// can read it; grading removes it before anything else looks at the tree.
const COVERAGE_DIR = '.repogym-coverage';
const PYTHON_LOADED_HOOK = `import atexit, os, sys
def _repogym_dump_loaded():
    files = {getattr(m, "__file__", None) for m in list(sys.modules.values())}
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "py-%d.txt" % os.getpid()), "w") as out:
        out.write("\\n".join(sorted(f for f in files if isinstance(f, str))))
atexit.register(_repogym_dump_loaded)
`;

async function prepareCoverage(sandbox: Sandbox): Promise<Record<string, string>> {
  await sandbox.writeFile(`${COVERAGE_DIR}/sitecustomize.py`, PYTHON_LOADED_HOOK);
  const dir = path.join(sandbox.root, COVERAGE_DIR);
  return { NODE_V8_COVERAGE: dir, PYTHONPATH: dir };
}

async function collectCoverage(sandbox: Sandbox): Promise<string[]> {
  const listing = await sandbox.exec(['ls', '-1', '--', COVERAGE_DIR]);
  const loaded = new Set<string>();
  for (const name of listing.exitCode === 0 ? listing.output.split('\n').filter(Boolean) : []) {
    const text = await sandbox.readFile(`${COVERAGE_DIR}/${name}`).catch(() => '');
    let files: string[] = [];
    if (name.endsWith('.json')) {
      try {
        const urls = (JSON.parse(text) as { result?: { url?: string }[] }).result?.map((r) => r.url ?? '');
        files = (urls ?? []).filter((u) => u.startsWith('file://')).map((u) => fileURLToPath(u));
      } catch {
        // a process killed while writing its coverage
      }
    } else if (name.startsWith('py-')) {
      files = text.split('\n');
    }
    for (const file of files) {
      const rel = path.relative(sandbox.root, file);
      if (rel && !rel.startsWith('..') && !path.isAbsolute(rel) && !rel.startsWith(COVERAGE_DIR))
        loaded.add(rel);
    }
  }
  await sandbox.exec(['rm', '-rf', '--', COVERAGE_DIR]);
  return [...loaded].sort();
}

/** Static analysis of the patch's non-test files, base vs patched; `readBase` gives null for a new file. */
export async function analyzePatch(
  patched: Sandbox,
  patch: string,
  readBase: (file: string) => Promise<string | null>,
): Promise<AnalysisSignals> {
  const changed: ChangedFile[] = [];
  for (const { oldPath, newPath } of splitDiff(patch)) {
    const file = (newPath ?? oldPath)!;
    if (isTestPath(file)) continue;
    // A renamed file is compared with its old self: moving code introduces nothing.
    changed.push({
      path: file,
      before: oldPath === null ? null : await readBase(oldPath),
      after: newPath === null ? null : await patched.readFile(newPath).catch(() => null),
    });
  }
  return analyzeChanges(changed);
}

/** A file's content at the base commit, read through the sandbox's own (untouched) repository. */
export async function baseContent(sandbox: Sandbox, file: string): Promise<string | null> {
  // Past the analyser's size limit the text is cut, and the analyser skips it anyway.
  const shown = await sandbox.exec(['git', 'show', `HEAD:${file}`], { maxOutputBytes: 4 * 1024 * 1024 });
  return shown.exitCode === 0 ? shown.output : null;
}

const BENCHMARK_REPS = 3;

/**
 * Times the task's benchmark on base and patched trees, alternating (ABBA) so drift hits both alike. Every run
 * gets a fresh tree: the patched code cannot cache results on disk between runs, nor touch the tree the hidden
 * tests are graded in.
 */
export async function measureBenchmark(
  task: Task,
  trees: { base: SandboxFactory; patched: SandboxFactory },
): Promise<BenchmarkResult> {
  const command = task.benchmark_cmd!;
  const result: BenchmarkResult = { command, baseMs: [], patchedMs: [] };
  for (let rep = 0; rep < BENCHMARK_REPS; rep++) {
    const order: ('base' | 'patched')[] = rep % 2 ? ['patched', 'base'] : ['base', 'patched'];
    for (const which of order) {
      const sandbox = await trees[which]();
      try {
        const run = await sandbox.exec(command, { timeoutSec: task.timeouts.command_sec });
        if (run.exitCode !== 0) {
          const how = run.timedOut ? 'timed out' : `exited ${run.exitCode}`;
          return { ...result, failedOn: which, error: `${which} run ${how}: ${run.output.slice(-500)}` };
        }
        (which === 'base' ? result.baseMs : result.patchedMs).push(run.telemetry.wallMs);
      } finally {
        await sandbox.dispose();
      }
    }
  }
  return result;
}

/** A fresh tree at the base commit with the task's setup done and, if given, a patch applied. */
export function treeFactory(task: Task, makeSandbox: SandboxFactory, patch?: string): SandboxFactory {
  return async () => {
    const sandbox = await makeSandbox();
    try {
      if (task.setup_cmd) await sandbox.exec(task.setup_cmd, { timeoutSec: task.timeouts.test_sec });
      if (patch) {
        const applied = await sandbox.exec(['git', 'apply', '--binary', '--whitespace=nowarn', '-'], {
          stdin: patch,
        });
        if (applied.exitCode !== 0) throw new Error(`the patch did not apply: ${applied.output.slice(-500)}`);
      }
      return sandbox;
    } catch (err) {
      await sandbox.dispose();
      throw err;
    }
  };
}

/**
 * Grades a patch. With `tracing`, a `grade` span holds one span per phase (setup, apply_patch, analysis,
 * benchmark, apply_test_patch, hidden_tests, coverage) and, under each, the commands it ran.
 */
export async function grade(
  task: Task,
  agentPatch: string,
  makeSandbox: SandboxFactory,
  tracing?: Tracing,
): Promise<Grade> {
  return inSpan(tracing, 'grade', { 'repogym.task_id': task.instance_id }, async (child, span) => {
    const result = await gradePhases(task, agentPatch, makeSandbox, child);
    span?.setAttributes(
      attributes({
        'repogym.grade.status': result.status,
        'repogym.grade.resolved': result.resolved,
        'repogym.grade.failure_class': result.failureClass,
        'repogym.grade.f2p_fraction': result.f2pFraction,
        'repogym.grade.p2p_fraction': result.p2pFraction,
        'repogym.grade.reason': result.reason?.slice(0, 1000),
      }),
    );
    return result;
  });
}

async function gradePhases(
  task: Task,
  agentPatch: string,
  makeSandbox: SandboxFactory,
  tracing: Tracing | undefined,
): Promise<Grade> {
  const hiddenTestFiles = new Set(filesOf(task.test_patch));
  const sections = splitDiff(agentPatch);
  const touchesTests = (f: (typeof sections)[number]) =>
    [f.oldPath, f.newPath].some((p) => p !== null && (hiddenTestFiles.has(p) || isTestPath(p)));
  const testFilesReverted = [...new Set(sections.filter(touchesTests).flatMap((f) => filesOf(f.text)))];
  const kept = sections.filter((f) => !touchesTests(f)).map((f) => f.text);

  const base = notRunGrade(task, agentPatch, testFilesReverted);

  let sandbox: Sandbox | undefined;
  let configReverted: string[] = [];
  // Each phase is a span with its commands under it; without tracing, `tree` is the sandbox itself.
  const phase = <T>(name: string, fn: (tree: Sandbox, span: Span | undefined) => Promise<T>) =>
    inSpan(tracing, `grade.${name}`, {}, (child, span) => fn(tracedSandbox(sandbox!, child), span));
  try {
    sandbox = await inSpan(tracing, 'sandbox.create', {}, makeSandbox);
    if (task.setup_cmd) {
      const setupCmd = task.setup_cmd;
      const setup = await phase('setup', (tree) =>
        tree.exec(setupCmd, { timeoutSec: task.timeouts.test_sec }),
      );
      if (setup.exitCode !== 0) return { ...base, reason: `setup_cmd failed: ${setup.output.slice(-2000)}` };
    }
    if (kept.length > 0) {
      const rejected = await phase('apply_patch', async (tree): Promise<Grade | undefined> => {
        const applied = await tree.exec(['git', 'apply', '--binary', '--whitespace=nowarn', '-'], {
          stdin: kept.join(''),
        });
        if (applied.exitCode !== 0) {
          return { ...base, status: 'patch_failed', failureClass: 'agent', reason: applied.output };
        }
        const changed = filesOf(kept.join(''));
        // A symlink to a host file would let state outside the diff decide the grade. Resolved on the real
        // tree: chains, retargeted links and odd names all end up at their true target.
        const escaping: string[] = [];
        for (const file of changed) {
          await tree.resolve(file).catch((err: Error) => escaping.push(err.message));
        }
        if (escaping.length > 0) {
          const reason = `symlinks leaving the repository: ${escaping.join('; ')}`;
          return { ...base, status: 'patch_failed', failureClass: 'agent', reason };
        }
        configReverted = await revertPytestConfigChanges(tree, changed);
        return undefined;
      });
      if (rejected) return rejected;
    }
    const analysis = await phase('analysis', (tree) =>
      analyzePatch(tree, kept.join(''), (file) => baseContent(tree, file)),
    );
    // In trees of their own: benchmark code cannot touch the tree the hidden tests are graded in.
    const benchmark = task.benchmark_cmd
      ? await inSpan(tracing, 'grade.benchmark', {}, (child) =>
          measureBenchmark(task, {
            base: treeFactory(task, tracedFactory(makeSandbox, child)),
            patched: treeFactory(task, tracedFactory(makeSandbox, child), kept.join('')),
          }),
        )
      : undefined;
    if (task.test_patch) {
      const applied = await phase('apply_test_patch', (tree) =>
        tree.exec(['git', 'apply', '--binary', '--whitespace=nowarn', '-'], { stdin: task.test_patch }),
      );
      if (applied.exitCode !== 0) return { ...base, reason: `test_patch did not apply: ${applied.output}` };
    }
    const run = await phase('hidden_tests', async (tree, span) => {
      const result = await runTaskTests(tree, task, { env: await prepareCoverage(tree) });
      span?.setAttributes(testAttributes(result.tests));
      return result;
    });
    const loadedFiles = await phase('coverage', (tree) => collectCoverage(tree));
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
      analysis,
      ...(benchmark ? { benchmark } : {}),
      coverage: { loadedFiles },
    };
  } catch (err) {
    return { ...base, reason: `harness error: ${(err as Error).message}` };
  } finally {
    if (sandbox) await tracedSandbox(sandbox, tracing).dispose();
  }
}
