// Offline baselines: oracle (gold patch), nop (submits the base), replay (actions from a JSONL file).
import { readFileSync } from 'node:fs';
import type { Observation } from '../env/types.ts';
import type { EpisodeContext, Policy } from './types.ts';

/** Applies the gold patch, runs the visible tests, submits. Validates that a task is solvable. */
export function oraclePolicy(): Policy {
  return {
    name: 'oracle',
    privileged: true,
    async act(observation: Observation, ctx: EpisodeContext) {
      if (!ctx.gold) throw new Error('oracle policy needs the gold patch in its context');
      const script = [
        { kind: 'apply_patch', diff: ctx.gold.patch },
        { kind: 'run_tests' },
        { kind: 'submit', message: 'Apply the reference fix.' },
      ];
      return script[Math.min(observation.stepIndex, script.length - 1)];
    },
  };
}

/** Submits the unchanged repository: no task should be resolved by it. */
export function nopPolicy(): Policy {
  return { name: 'nop', act: async () => ({ kind: 'submit', message: 'No change.' }) };
}

/**
 * Replays actions from a JSONL file: each line is an action, or a step record with an `action` field (as
 * `repogym run --json` prints; its reset and result lines are skipped). When the file runs out, the policy submits.
 */
export function replayPolicy(file: string): Policy {
  const SKIP = Symbol('not an action');
  const actions = readFileSync(file, 'utf8')
    .split('\n')
    .map((line, i) => ({ line: line.trim(), number: i + 1 }))
    .filter(({ line }) => line !== '')
    .map(({ line, number }) => {
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (err) {
        throw new Error(`${file}:${number}: not JSON (${(err as Error).message})`, { cause: err });
      }
      const record = value as { action?: unknown; type?: string } | null;
      if (record?.type === 'reset' || record?.type === 'result') return SKIP;
      return record && typeof record === 'object' && 'action' in record ? record.action : value;
    })
    .filter((action) => action !== SKIP);
  return {
    name: 'replay',
    async act(observation: Observation) {
      return actions[observation.stepIndex] ?? { kind: 'submit', message: 'Replay finished.' };
    },
  };
}

/** A baseline policy by name, as the CLI and experiment configs name them. */
export function baselinePolicy(name: string, actionsFile?: string): Policy {
  if (name === 'oracle') return oraclePolicy();
  if (name === 'nop') return nopPolicy();
  if (name !== 'replay') throw new Error(`unknown policy "${name}" (oracle, nop or replay)`);
  if (!actionsFile) throw new Error('the replay policy needs an actions file (JSONL)');
  return replayPolicy(actionsFile);
}
