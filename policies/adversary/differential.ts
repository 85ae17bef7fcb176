// The offline adversary: differential testing against the reference solution (cf. DiffTGen, Xin & Reiss,
// ISSTA 2017). It finds the functions the gold patch changed, generates inputs shaped like the calls the
// repository's tests make (fast-check), runs candidate and reference on them in two sandboxes, and turns every
// divergence into a concrete test that states the reference's behaviour. Tests are then validated like any
// adversary's: they count only if they pass on the reference.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Task } from '../../datasets/types.ts';
import { isTestPath, splitDiff } from '../../env/diff.ts';
import type { Sandbox } from '../../env/sandbox/types.ts';
import type { Adversary } from '../../env/types.ts';
import { codeBlocks } from '../repair/reproduce.ts';
import { changedExports, literalCalls, type Example } from './analyse_js.ts';
import { generateInputs } from './generate.ts';
import { applyPatch, freshSignals, judgeInFreshTrees, sourceOnly } from './tests.ts';
import {
  describeCall,
  nodeTestFile,
  pytestFile,
  type Finding,
  type Outcome,
  type Target,
  type TestFile,
} from './testfile.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const script = (name: string) => readFileSync(path.join(HERE, name), 'utf8');
/** Where the drivers are written in the adversary's own trees (removed before any test runs). */
const WORK_DIR = '.repogym-adversary';
const JS_EXTENSIONS = /\.(m|c)?js$/;

export interface DifferentialOptions {
  /** Inputs tried per target function (default 200). */
  inputs?: number;
  /** Seed of the input generator: the same seed gives the same inputs (default 0). */
  seed?: number;
  /** Diverging inputs turned into tests, per target (default 3). */
  testsPerTarget?: number;
  /** Seconds for each driver run (default 60). */
  timeoutSec?: number;
}

/** New-side line numbers each hunk of a file's diff touches (a deletion counts at the line after it). */
export function changedLines(fileDiff: string): number[] {
  const lines: number[] = [];
  let next = 0;
  for (const line of fileDiff.split('\n')) {
    const hunk = /^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(line);
    if (hunk) next = Number(hunk[1]);
    else if (next === 0 || line.startsWith('\\')) continue;
    else if (line.startsWith('+')) lines.push(next++);
    else if (line.startsWith('-')) lines.push(next);
    else next++;
  }
  return [...new Set(lines)];
}

async function listFiles(sandbox: Sandbox): Promise<string[]> {
  const listed = await sandbox.exec(['git', 'ls-files', '-z'], { maxOutputBytes: 64 * 1024 * 1024 });
  return listed.output.split('\0').filter(Boolean);
}

interface TargetWithExamples {
  target: Target;
  examples: Example[];
}

/** Targets and their example calls, from the reference tree (which has the gold patch applied). */
async function findTargets(task: Task, reference: Sandbox, files: string[]): Promise<TargetWithExamples[]> {
  const changed = new Map<string, number[]>();
  for (const f of splitDiff(task.patch)) {
    if (f.newPath && !isTestPath(f.newPath)) changed.set(f.newPath, changedLines(f.text));
  }
  const tests = files.filter(isTestPath);
  const blocks = codeBlocks(task.problem_statement);
  const found: TargetWithExamples[] = [];

  const jsFiles = [...changed.keys()].filter((f) => JS_EXTENSIONS.test(f));
  if (jsFiles.length) {
    const targets: Target[] = [];
    for (const file of jsFiles) {
      const source = await reference.readFile(file);
      for (const fn of changedExports(source, changed.get(file)!))
        targets.push({ language: 'javascript', file, module: file, name: fn.exported });
    }
    const sources = [
      ...(await Promise.all(
        tests.filter((t) => JS_EXTENSIONS.test(t)).map((t) => reference.readFile(t).catch(() => '')),
      )),
      ...blocks.filter((b) => /^(js|javascript|mjs|ts|typescript|)$/.test(b.language)).map((b) => b.code),
    ];
    const calls = literalCalls(sources, new Set(targets.map((t) => t.name)));
    for (const target of targets) found.push({ target, examples: calls.get(target.name) ?? [] });
  }

  const pyFiles = [...changed.keys()].filter((f) => f.endsWith('.py'));
  if (pyFiles.length) {
    await reference.writeFile(`${WORK_DIR}/analyse.py`, script('analyse_py.py'));
    const run = await reference.exec(['python3', '-I', `${WORK_DIR}/analyse.py`], {
      stdin: JSON.stringify({
        changed: Object.fromEntries(pyFiles.map((f) => [f, changed.get(f)])),
        tests: tests.filter((t) => t.endsWith('.py')),
        snippets: blocks.filter((b) => /^(py|python|pycon|)$/.test(b.language)).map((b) => b.code),
      }),
      maxOutputBytes: 16 * 1024 * 1024,
    });
    if (run.exitCode !== 0) throw new Error(`analysing the Python sources failed: ${run.output.slice(-500)}`);
    const analysed = JSON.parse(run.output) as {
      targets: { file: string; module: string; root: string; name: string }[];
      examples: Record<string, Example[]>;
    };
    for (const t of analysed.targets) {
      found.push({
        target: { language: 'python', file: t.file, module: t.module, root: t.root, name: t.name },
        examples: analysed.examples[t.name] ?? [],
      });
    }
  }
  return found;
}

type DriverLine = Outcome | { nondeterministic: true } | { fatal: string };

/** Driver runs of a target, at most: after a hang the driver restarts past the input that hung. */
const MAX_DRIVER_RUNS = 4;

class TargetError extends Error {}

/**
 * Runs the target on every input, one process for as many inputs as it answers. Its answers are the lines that
 * start with a fresh nonce and carry their input's index: whatever the code under test prints is ignored. An
 * input the process hung or died on stays unanswered (never a test), and the next run starts after it.
 */
async function drive(
  sandbox: Sandbox,
  target: Target,
  inputs: Example[],
  timeoutSec: number,
): Promise<(DriverLine | undefined)[]> {
  const js = target.language === 'javascript';
  const driver = `${WORK_DIR}/${js ? 'drive.mjs' : 'drive.py'}`;
  await sandbox.writeFile(driver, script(js ? 'drive_js.mjs' : 'drive_py.py'));
  const answers: (DriverLine | undefined)[] = inputs.map(() => undefined);
  let from = 0;
  for (let run = 0; run < MAX_DRIVER_RUNS && from < inputs.length; run++) {
    const nonce = `REPOGYM-${randomBytes(12).toString('hex')} `;
    const result = await sandbox.exec(js ? ['node', driver] : ['python3', driver], {
      stdin: JSON.stringify({
        module: target.module,
        root: target.root ?? '',
        name: target.name,
        inputs: inputs.slice(from),
        repeat: 2,
        nonce,
      }),
      timeoutSec,
      maxOutputBytes: 64 * 1024 * 1024,
      // A fixed hash seed: the order of a set must not differ between the two trees.
      env: { PYTHONDONTWRITEBYTECODE: '1', PYTHONHASHSEED: '0' },
    });
    let last = -1;
    for (const line of result.output.split('\n')) {
      if (!line.startsWith(nonce)) continue;
      let parsed: DriverLine & { i?: number };
      try {
        parsed = JSON.parse(line.slice(nonce.length)) as DriverLine & { i?: number };
      } catch {
        continue; // a line the timeout cut short
      }
      if ('fatal' in parsed) throw new TargetError(parsed.fatal);
      const i = parsed.i;
      if (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || from + i >= inputs.length) continue;
      answers[from + i] = parsed;
      last = Math.max(last, i);
    }
    if (result.exitCode === 0 && !result.timedOut) break;
    from += last + 2;
  }
  return answers;
}

const comparable = (o: Outcome) => JSON.stringify('threw' in o ? { threw: o.threw } : { ok: o.ok });

/** Inputs on which both trees answered deterministically and differently; reference-returned ones first. */
function divergences(
  target: Target,
  inputs: Example[],
  candidate: (DriverLine | undefined)[],
  reference: (DriverLine | undefined)[],
): Finding[] {
  const found: Finding[] = [];
  inputs.forEach((input, i) => {
    const c = candidate[i];
    const r = reference[i];
    if (!c || !r || 'nondeterministic' in c || 'nondeterministic' in r || 'fatal' in c || 'fatal' in r)
      return;
    if (comparable(c) !== comparable(r)) found.push({ target, input, reference: r });
  });
  // A value the reference returns is the clearest statement of intent; an error it raises may be incidental.
  return found.sort((a, b) => Number('threw' in a.reference) - Number('threw' in b.reference));
}

/** The directory holding the repository's tests of a language (where the test file goes). */
function testDir(files: string[], language: Target['language']): string {
  const own = files.filter(
    (f) => isTestPath(f) && (language === 'python' ? f.endsWith('.py') : JS_EXTENSIONS.test(f)),
  );
  const counts = new Map<string, number>();
  for (const f of own) counts.set(path.posix.dirname(f), (counts.get(path.posix.dirname(f)) ?? 0) + 1);
  const best = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  return best ?? (language === 'python' ? 'tests' : 'test');
}

function jsTestExtension(files: string[], packageJson: string | null): string {
  const own = files.find((f) => isTestPath(f) && JS_EXTENSIONS.test(f));
  let isModule = false;
  try {
    isModule = (JSON.parse(packageJson ?? '{}') as { type?: string }).type === 'module';
  } catch {
    // no usable package.json: node treats .js as CommonJS
  }
  // Import syntax in a .js file needs "type": "module"; .mjs is ESM anywhere.
  return own?.endsWith('.mjs') || !isModule ? '.mjs' : '.js';
}

export function differentialAdversary(opts: DifferentialOptions = {}): Adversary {
  const inputCount = opts.inputs ?? 200;
  const perTarget = opts.testsPerTarget ?? 3;
  const timeoutSec = opts.timeoutSec ?? 60;
  return async ({ task, patch, makeSandbox }) => {
    const started = performance.now();
    const signals = freshSignals('differential', task, false);
    const done = () => ({ ...signals, wallMs: Math.round(performance.now() - started) });
    if (signals.reference === 'none') {
      signals.notes!.push('no reference solution: differential testing needs the gold patch');
      return done();
    }
    const reference = await makeSandbox();
    let candidate: Sandbox | undefined;
    try {
      candidate = await makeSandbox();
      await applyPatch(reference, task.patch, 'the gold patch');
      await applyPatch(candidate, sourceOnly(patch, task), 'the candidate patch');
      const files = await listFiles(reference);
      const targets = await findTargets(task, reference, files);
      if (targets.length === 0) signals.notes!.push('the gold patch changes no function it can call');
      const findings: Finding[] = [];
      for (const [index, { target, examples }] of targets.entries()) {
        const where = `${target.file}#${target.name}`;
        if (examples.length === 0) {
          signals.notes!.push(
            `${where}: no call with literal arguments in the tests to learn its inputs from`,
          );
          continue;
        }
        const inputs = generateInputs(examples, inputCount, (opts.seed ?? 0) + index);
        signals.tried += inputs.length;
        let onCandidate: (DriverLine | undefined)[];
        let onReference: (DriverLine | undefined)[];
        try {
          [onCandidate, onReference] = await Promise.all([
            drive(candidate, target, inputs, timeoutSec),
            drive(reference, target, inputs, timeoutSec),
          ]);
        } catch (err) {
          // One target the candidate broke (or removed) must not cost the findings on the others.
          if (!(err instanceof TargetError)) throw err;
          signals.notes!.push(`${where}: ${err.message}`);
          continue;
        }
        const found = divergences(target, inputs, onCandidate, onReference);
        signals.notes!.push(`${where}: ${inputs.length} inputs, ${found.length} diverged`);
        findings.push(...found.slice(0, perTarget));
      }
      if (findings.length === 0) return done();

      const testFiles: TestFile[] = [];
      const js = findings.filter((f) => f.target.language === 'javascript');
      const py = findings.filter((f) => f.target.language === 'python');
      if (js.length) {
        const pkg = await reference.readFile('package.json').catch(() => null);
        testFiles.push(nodeTestFile(testDir(files, 'javascript'), jsTestExtension(files, pkg), js));
      }
      if (py.length) testFiles.push(pytestFile(testDir(files, 'python'), py));
      signals.files = Object.fromEntries(testFiles.map((f) => [f.path, f.content]));
      // Judged in fresh trees: the candidate's code ran in these and may have planted files (a conftest.py).
      signals.tests = await judgeInFreshTrees(
        task,
        sourceOnly(patch, task),
        makeSandbox,
        signals.files,
        testFiles.flatMap((f) =>
          f.cases.map((c) => ({
            id: c.id,
            file: f.path,
            target: `${c.finding.target.file}#${c.finding.target.name}`,
            input: describeCall(c.finding),
          })),
        ),
      );
      return done();
    } finally {
      await Promise.all([reference.dispose(), candidate?.dispose()]);
    }
  };
}
