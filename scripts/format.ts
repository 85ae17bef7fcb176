// Compact, one-line-per-step printing for `repogym run`.
import { countStatuses } from '../env/coding-env.ts';
import type { Grade } from '../env/grading.ts';
import type { Info, Observation } from '../env/types.ts';
import type { StepRecord } from '../experiments/episode.ts';

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)}s`;

export function formatReset(observation: Observation, info: Info): string {
  return `reset  ${info.instance_id}  (${info.sandbox_layer} sandbox, ${seconds(observation.telemetry.wallMs)}, max ${info.max_steps} steps)`;
}

function describeAction(action: unknown): string {
  if (typeof action !== 'object' || action === null) return JSON.stringify(action);
  const { kind, ...rest } = action as Record<string, unknown>;
  const detail = (rest.path ?? rest.command ?? rest.pattern ?? '') as string;
  return `${String(kind)}${detail ? ` ${String(detail).split('\n')[0]!.slice(0, 40)}` : ''}`;
}

export function formatGrade(grade: Grade): string {
  const f2p = `${grade.failToPass.passed.length}/${grade.failToPass.passed.length + grade.failToPass.failed.length}`;
  const p2p = `${grade.passToPass.passed.length}/${grade.passToPass.passed.length + grade.passToPass.failed.length}`;
  const reverted = grade.testFilesReverted.length
    ? `  test edits dropped: ${grade.testFilesReverted.join(', ')}`
    : '';
  return `${grade.status}  F2P ${f2p}  P2P ${p2p}${reverted}${grade.reason ? `  (${grade.reason.split('\n')[0]})` : ''}`;
}

export function formatStep(record: StepRecord): string {
  const o = record.observation;
  let summary: string;
  if (o.error) summary = `error ${o.error.code}: ${o.error.message.split('\n')[0]}`;
  else if (record.info.grade) summary = formatGrade(record.info.grade as Grade);
  else if (o.tests) summary = `tests: ${countStatuses(o.tests)}`;
  else if (o.timedOut) summary = 'timed out';
  else summary = o.exitCode === null ? 'ok' : `exit ${o.exitCode}`;
  const diff = o.diffStat.files
    ? `  diff ${o.diffStat.files}f +${o.diffStat.added} -${o.diffStat.removed}`
    : '';
  const end = record.terminated ? '  [terminated]' : record.truncated ? '  [truncated]' : '';
  return `#${String(record.step).padEnd(3)} ${describeAction(record.action).padEnd(44)} ${summary}  ${seconds(o.telemetry.wallMs)}${diff}  r=${record.reward}${end}`;
}
