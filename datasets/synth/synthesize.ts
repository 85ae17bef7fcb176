// Task synthesis by bug injection, in the manner of SWE-smith: mutate a Python, JavaScript or TypeScript source
// file (a flipped comparison, a dropped statement, …: mutate.ts), run the repository's tests, and keep the
// mutant as a task when it breaks at least one test and leaves at least one passing. The mutant is committed as
// the task's base (under refs/synth/, never on a branch); the gold patch restores the original code;
// FAIL_TO_PASS/PASS_TO_PASS come from the runs.
import { createHash } from 'node:crypto';
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { seededRandom } from '../../env/coding-env.ts';
import { isTestPath } from '../../env/diff.ts';
import { git } from '../../env/git.ts';
import { runTaskTests } from '../../env/grading.ts';
import { createLocalSandbox } from '../../env/sandbox/local.ts';
import type { Task, TestFormat } from '../types.ts';
import type { Rewriter } from './rewrite.ts';
import { INJECTION_KINDS, languageOf, mutantsOf, type Mutant } from './mutate.ts';

export interface SynthOptions {
  /** A git repository; HEAD is the correct code. */
  repo: string;
  testCmd: string;
  testFormat: TestFormat;
  seed: number;
  maxTasks: number;
  /** Mutants tried per file at most (after a seeded shuffle). */
  perFile?: number;
  /** Rewrites each template statement (llmRewriter); on failure the template is kept and the row says so. */
  rewrite?: Rewriter;
}

export interface SynthResult {
  rows: Record<string, unknown>[];
  tried: number;
  /** Why mutants were dropped, counted. */
  dropped: Record<'no_test_failed' | 'no_test_passed' | 'timed_out', number>;
}

/** Identity and date of synthesized commits: the same seed gives the same SHAs. */
const SYNTH_IDENTITY = {
  GIT_AUTHOR_NAME: 'repogym-synth',
  GIT_AUTHOR_EMAIL: 'synth@repogym.invalid',
  GIT_AUTHOR_DATE: '1704067200 +0000',
  GIT_COMMITTER_NAME: 'repogym-synth',
  GIT_COMMITTER_EMAIL: 'synth@repogym.invalid',
  GIT_COMMITTER_DATE: '1704067200 +0000',
};

function shuffled<T>(items: T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * Round-robin over mutation kinds (keeping each kind's shuffled order): kinds with many sites, such as removable
 * statements, would otherwise crowd out the rest of the dataset.
 */
function balancedByKind<T extends { mutant: { kind: string } }>(items: T[]): T[] {
  const seen = new Map<string, number>();
  const rank = new Map(
    items.map((item) => {
      const n = seen.get(item.mutant.kind) ?? 0;
      seen.set(item.mutant.kind, n + 1);
      return [item, n] as const;
    }),
  );
  // Array.prototype.sort is stable: within a round the shuffled order stands.
  return [...items].sort((a, b) => rank.get(a)! - rank.get(b)!);
}

/** The task shape runTaskTests needs, for runs at HEAD or on a mutant: only the test command and format matter. */
function probeTask(opts: SynthOptions, commit: string): Task {
  return {
    instance_id: 'synth-probe',
    repo: opts.repo,
    base_commit: commit,
    patch: '',
    test_patch: '',
    problem_statement: '',
    hints_text: '',
    FAIL_TO_PASS: [],
    PASS_TO_PASS: [],
    version: '',
    environment_setup_commit: '',
    test_cmd: opts.testCmd,
    test_format: opts.testFormat,
    // Not read by runTaskTests: a repository of any language (or several) is probed the same way.
    language: '',
    timeouts: { test_sec: 300, command_sec: 60, episode_sec: 1800 },
    constraints: {},
    context: {},
  };
}

async function testRun(
  opts: SynthOptions,
  commit: string,
  timeoutSec: number,
  mutated?: { file: string; source: string },
) {
  const sandbox = await createLocalSandbox({ repo: opts.repo, commit });
  try {
    if (mutated) await sandbox.writeFile(mutated.file, mutated.source);
    const started = performance.now();
    const run = await runTaskTests(sandbox, probeTask(opts, commit), { timeoutSec });
    return {
      statuses: new Map(run.tests.map((t) => [t.name, t.status])),
      output: run.output,
      seconds: (performance.now() - started) / 1000,
      timedOut: run.timedOut,
    };
  } finally {
    await sandbox.dispose();
  }
}

/** Commits `file` = `source` on top of `head` without touching any branch, index or work tree. */
async function commitMutant(repo: string, head: string, file: string, source: string, message: string) {
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'repogym-synth-'));
  try {
    const env = { ...SYNTH_IDENTITY, GIT_INDEX_FILE: path.join(scratch, 'index') };
    const blob = (await git(['hash-object', '-w', '--stdin'], { cwd: repo, input: source })).trim();
    await git(['read-tree', head], { cwd: repo, env });
    const mode = (await git(['ls-tree', head, '--', file], { cwd: repo })).split(' ')[0]!;
    await git(['update-index', '--cacheinfo', `${mode},${blob},${file}`], { cwd: repo, env });
    const tree = (await git(['write-tree'], { cwd: repo, env })).trim();
    return (await git(['commit-tree', tree, '-p', head, '-m', message], { cwd: repo, env })).trim();
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function problemStatement(file: string, failing: string[]): string {
  // Says what breaks, not how the code was changed: the agent must localise the bug itself.
  const shown = failing.slice(0, 5).map((t) => `- \`${t}\``);
  const more = failing.length > 5 ? [`- … and ${failing.length - 5} more`] : [];
  return [
    `Some behaviour of this project regressed: ${failing.length} test(s) that passed before now fail.`,
    '',
    ...shown,
    ...more,
    '',
    `The regression is in the library code (somewhere under \`${path.dirname(file) === '.' ? file : path.dirname(file)}\`), not in the tests. Fix the code so that these tests pass again without breaking others.`,
  ].join('\n');
}

async function writeStatement(opts: SynthOptions, template: string, failingOutput: string) {
  if (!opts.rewrite) return { text: template, source: 'template' };
  try {
    return { text: await opts.rewrite({ statement: template, failingOutput }), source: 'llm' };
  } catch (error) {
    return { text: template, source: `template (rewrite failed: ${(error as Error).message.slice(0, 200)})` };
  }
}

export async function synthesize(opts: SynthOptions): Promise<SynthResult> {
  // A folder inside another repository would have its refs written into that repository: refuse it.
  const top = (await git(['rev-parse', '--show-toplevel'], { cwd: opts.repo }).catch(() => '')).trim();
  if (!top || path.resolve(top) !== (await realpath(opts.repo))) {
    throw new Error(`${opts.repo} is not the top of a git repository`);
  }
  const head = (await git(['rev-parse', 'HEAD'], { cwd: opts.repo })).trim();
  const baseline = await testRun(opts, head, 300);
  const passing = [...baseline.statuses].filter(([, s]) => s === 'passed').map(([name]) => name);
  // A mutant that loops forever would cost the full timeout: allow a generous multiple of the clean run.
  const mutantTimeoutSec = Math.ceil(10 + 5 * baseline.seconds);
  if (passing.length === 0) throw new Error(`no test passes at HEAD with \`${opts.testCmd}\``);
  const files = (await git(['ls-tree', '-r', '--name-only', head], { cwd: opts.repo }))
    .split('\n')
    .filter((f) => languageOf(f) !== undefined && !isTestPath(f));
  const random = seededRandom(opts.seed);
  const candidates: { file: string; mutant: Mutant }[] = [];
  for (const file of files.sort()) {
    const original = await git(['show', `${head}:${file}`], { cwd: opts.repo });
    // A file that does not parse (a template, a syntax the parser lacks) or is too large (a bundle) is skipped.
    const mutants = await mutantsOf(file, original, { kinds: INJECTION_KINDS }).catch(() => []);
    for (const mutant of shuffled(mutants, random).slice(0, opts.perFile ?? 20)) {
      candidates.push({ file, mutant });
    }
  }
  const repoName = path.basename(path.resolve(opts.repo));
  const result: SynthResult = {
    rows: [],
    tried: 0,
    dropped: { no_test_failed: 0, no_test_passed: 0, timed_out: 0 },
  };
  for (const { file, mutant } of balancedByKind(shuffled(candidates, random))) {
    if (result.rows.length >= opts.maxTasks) break;
    result.tried++;
    const run = await testRun(opts, head, mutantTimeoutSec, { file, source: mutant.source });
    if (run.timedOut) {
      // Such a task would make every agent wait out its test timeout on each run.
      result.dropped.timed_out++;
      continue;
    }
    const statuses = run.statuses;
    const failToPass = passing.filter((t) => statuses.get(t) !== 'passed');
    const passToPass = passing.filter((t) => statuses.get(t) === 'passed');
    if (failToPass.length === 0) {
      result.dropped.no_test_failed++;
      continue;
    }
    if (passToPass.length === 0) {
      result.dropped.no_test_passed++;
      continue;
    }
    // The agent sees the instance id: it names the mutant by its hash only, never its kind or line.
    const statement = await writeStatement(opts, problemStatement(file, failToPass), run.output);
    const instanceId = `${repoName}__synth-${createHash('sha256').update(`${file}\0${mutant.source}`).digest('hex').slice(0, 12)}`;
    const base = await commitMutant(opts.repo, head, file, mutant.source, `synth: ${instanceId}`);
    await git(['update-ref', `refs/synth/${instanceId}`, base], { cwd: opts.repo });
    const patch = await git(['diff', base, head, '--', file], { cwd: opts.repo });
    result.rows.push({
      instance_id: instanceId,
      repo: path.resolve(opts.repo),
      base_commit: base,
      patch,
      test_patch: '',
      problem_statement: statement.text,
      hints_text: '',
      FAIL_TO_PASS: failToPass,
      PASS_TO_PASS: passToPass,
      version: '',
      environment_setup_commit: head,
      test_cmd: opts.testCmd,
      test_format: opts.testFormat,
      language: languageOf(file),
      context: {
        synth: {
          file,
          kind: mutant.kind,
          line: mutant.line,
          seed: opts.seed,
          ...(opts.rewrite ? { statement: statement.source } : {}),
        },
      },
    });
  }
  return result;
}
