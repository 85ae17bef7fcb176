// Runs an adversary's test files on the candidate tree and on the reference tree with the task's own test
// command. A test is valid when it passes on the reference; the candidate is then judged by it.
import type { Task } from '../../datasets/types.ts';
import { filesOf, isTestPath, splitDiff } from '../../env/diff.ts';
import { runTaskTests } from '../../env/grading.ts';
import type { Sandbox } from '../../env/sandbox/types.ts';
import type { AdversarialSignals, AdversarialTest } from '../../rewards/types.ts';

/** The patch without its test-file changes (grading drops them too; the adversary brings its own tests). */
export function sourceOnly(patch: string, task: Task): string {
  const hidden = new Set(filesOf(task.test_patch));
  return splitDiff(patch)
    .filter((f) => ![f.oldPath, f.newPath].some((p) => p !== null && (hidden.has(p) || isTestPath(p))))
    .map((f) => f.text)
    .join('');
}

export async function applyPatch(sandbox: Sandbox, patch: string, what: string): Promise<void> {
  if (!patch.trim()) return;
  const applied = await sandbox.exec(['git', 'apply', '--binary', '--whitespace=nowarn', '-'], {
    stdin: patch,
  });
  if (applied.exitCode !== 0) throw new Error(`${what} did not apply: ${applied.output.slice(-500)}`);
}

/** IDs that passed when the task's test command ran with `files` written into the tree. */
async function passing(sandbox: Sandbox, task: Task, files: Record<string, string>, ids: string[]) {
  for (const [file, content] of Object.entries(files)) await sandbox.writeFile(file, content);
  const run = await runTaskTests(sandbox, task, { selection: ids });
  return new Set(run.tests.filter((t) => t.status === 'passed').map((t) => t.name));
}

export interface PlannedTest {
  id: string;
  file: string;
  target?: string;
  input?: string;
}

/** Verdicts of every planned test on both trees; without a reference tree they stay unvalidated. */
export async function judge(
  task: Task,
  trees: { candidate: Sandbox; reference: Sandbox | null },
  files: Record<string, string>,
  planned: PlannedTest[],
): Promise<AdversarialTest[]> {
  const ids = planned.map((t) => t.id);
  const onCandidate = await passing(trees.candidate, task, files, ids);
  const onReference = trees.reference ? await passing(trees.reference, task, files, ids) : null;
  return planned.map((t) => ({
    name: t.id,
    file: t.file,
    passedOnReference: onReference ? onReference.has(t.id) : null,
    passedOnCandidate: onCandidate.has(t.id),
    ...(t.target ? { target: t.target } : {}),
    ...(t.input ? { input: t.input } : {}),
  }));
}

/** `judge` in two fresh trees, candidate and reference, disposed afterwards. */
export async function judgeInFreshTrees(
  task: Task,
  candidatePatch: string,
  makeSandbox: () => Promise<Sandbox>,
  files: Record<string, string>,
  planned: PlannedTest[],
): Promise<AdversarialTest[]> {
  const candidate = await makeSandbox();
  const reference = task.patch.trim()
    ? await makeSandbox().catch(async (err: unknown) => {
        await candidate.dispose();
        throw err;
      })
    : null;
  try {
    await applyPatch(candidate, candidatePatch, 'the candidate patch');
    if (reference) await applyPatch(reference, task.patch, 'the gold patch');
    return await judge(task, { candidate, reference }, files, planned);
  } finally {
    await Promise.all([candidate.dispose(), reference?.dispose()]);
  }
}

/** An adversary's record before it has tried anything: nothing found, validated against the gold patch if any. */
export function freshSignals(adversary: string, task: Task, countUnvalidated: boolean): AdversarialSignals {
  return {
    adversary,
    reference: task.patch.trim() ? 'gold' : 'none',
    countUnvalidated,
    tests: [],
    files: {},
    tried: 0,
    wallMs: 0,
    notes: [],
  };
}
