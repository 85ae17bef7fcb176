// Dataset validation as SWE-bench's harness does it: the gold patch must resolve every task and the empty
// patch none; reruns flag flaky tests. `deriveTestLists` computes FAIL_TO_PASS/PASS_TO_PASS from runs.
import { grade, type Grade } from '../env/grading.ts';
import { createLocalSandbox } from '../env/sandbox/local.ts';
import type { Task } from './types.ts';

export interface TaskValidation {
  instanceId: string;
  ok: boolean;
  oracle: Grade['status'];
  nop: Grade['status'];
  /** Tests whose status changed between reruns of the gold patch. */
  flaky: string[];
  problems: string[];
}

const sandboxFor = (task: Task) => () =>
  createLocalSandbox({
    repo: task.repo,
    commit: task.base_commit,
    defaultTimeoutSec: task.timeouts.command_sec,
  });

function statusMap(g: Grade): Map<string, string> {
  return new Map(g.tests.map((t) => [t.name, t.status]));
}

export async function validateTask(task: Task, reruns = 2): Promise<TaskValidation> {
  const problems: string[] = [];
  if (task.FAIL_TO_PASS.length === 0) problems.push('FAIL_TO_PASS is empty');
  if (!task.patch) problems.push('no gold patch');
  const oracle = await grade(task, task.patch, sandboxFor(task));
  const nop = await grade(task, '', sandboxFor(task));
  if (!oracle.resolved) {
    problems.push(
      `oracle not resolved (${oracle.status}${oracle.reason ? `: ${oracle.reason.slice(0, 300)}` : ''}; ` +
        `F2P failing: ${oracle.failToPass.failed.join(', ') || '-'}; P2P failing: ${oracle.passToPass.failed.join(', ') || '-'})`,
    );
  }
  if (nop.resolved) problems.push('nop (empty patch) resolves the task: FAIL_TO_PASS does not fail at base');
  if (nop.status === 'infra') problems.push(`nop run failed in the harness: ${nop.reason}`);
  const first = statusMap(oracle);
  const flaky = new Set<string>();
  for (let i = 0; i < reruns; i++) {
    const again = statusMap(await grade(task, task.patch, sandboxFor(task)));
    for (const name of new Set([...first.keys(), ...again.keys()])) {
      if (first.get(name) !== again.get(name)) flaky.add(name);
    }
  }
  if (flaky.size > 0) problems.push(`flaky tests: ${[...flaky].join(', ')}`);
  return {
    instanceId: task.instance_id,
    ok: problems.length === 0,
    oracle: oracle.status,
    nop: nop.status,
    flaky: [...flaky],
    problems,
  };
}

/** FAIL_TO_PASS = fail at base+test_patch and pass with the gold patch; PASS_TO_PASS = pass in both. */
export async function deriveTestLists(
  task: Task,
): Promise<{ FAIL_TO_PASS: string[]; PASS_TO_PASS: string[] }> {
  const before = statusMap(await grade(task, '', sandboxFor(task)));
  const afterGrade = await grade(task, task.patch, sandboxFor(task));
  if (afterGrade.status === 'infra' || afterGrade.tests.length === 0) {
    throw new Error(
      `${task.instance_id}: gold run did not produce test results (${afterGrade.reason ?? afterGrade.status})`,
    );
  }
  const after = statusMap(afterGrade);
  const FAIL_TO_PASS: string[] = [];
  const PASS_TO_PASS: string[] = [];
  for (const [name, status] of after) {
    if (status !== 'passed') continue;
    if (before.get(name) === 'passed') PASS_TO_PASS.push(name);
    else FAIL_TO_PASS.push(name);
  }
  return { FAIL_TO_PASS: FAIL_TO_PASS.sort(), PASS_TO_PASS: PASS_TO_PASS.sort() };
}

/** Runs `fn` over `items` with at most `limit` in flight; results keep the input order. */
export async function mapLimit<T, R>(
  items: T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!, index);
    }
  });
  await Promise.all(workers);
  return results;
}
