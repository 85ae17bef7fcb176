// checkEnv, in the spirit of Gymnasium's env checker: return shapes, reset determinism for a seed, invalid
// actions as observations, and the order of calls. Throws with every problem found.
import type { Env, Observation } from './types.ts';

export interface CheckOptions {
  seed?: number;
  /** A cheap action that must not end the episode. */
  probeAction?: unknown;
  /** An action that ends the episode. */
  endAction?: unknown;
}

/** The part of an observation that must be equal for equal seeds (telemetry measures time, so it can't be). */
export function deterministicView(observation: Observation): Omit<Observation, 'telemetry'> {
  const { telemetry: _telemetry, ...rest } = observation;
  return rest;
}

function observationProblems(o: unknown, where: string): string[] {
  if (typeof o !== 'object' || o === null) return [`${where}: observation is not an object`];
  const obs = o as Record<string, unknown>;
  const problems: string[] = [];
  const expect = (field: string, ok: boolean) =>
    ok || problems.push(`${where}: observation.${field} has the wrong type`);
  expect('kind', typeof obs.kind === 'string');
  expect('output', typeof obs.output === 'string');
  expect('exitCode', obs.exitCode === null || Number.isInteger(obs.exitCode));
  expect('timedOut', typeof obs.timedOut === 'boolean');
  expect('stepIndex', Number.isInteger(obs.stepIndex));
  expect('stepsLeft', Number.isInteger(obs.stepsLeft));
  const t = obs.telemetry as Record<string, unknown> | undefined;
  expect('telemetry', typeof t === 'object' && t !== null && typeof t.wallMs === 'number');
  const d = obs.diffStat as Record<string, unknown> | undefined;
  expect(
    'diffStat',
    typeof d === 'object' && d !== null && ['files', 'added', 'removed'].every((k) => Number.isInteger(d[k])),
  );
  if (obs.tests !== undefined) expect('tests', Array.isArray(obs.tests));
  return problems;
}

export async function checkEnv(env: Env<unknown, Observation>, opts: CheckOptions = {}): Promise<string[]> {
  const seed = opts.seed ?? 42;
  const probe = opts.probeAction ?? { kind: 'list_dir', path: '.' };
  const end = opts.endAction ?? { kind: 'submit' };
  const problems: string[] = [];
  const passed: string[] = [];

  const first = await env.reset({ seed });
  problems.push(...observationProblems(first.observation, 'reset'));
  if (typeof first.info !== 'object' || first.info === null) problems.push('reset: info is not an object');
  const again = await env.reset({ seed });
  if (
    JSON.stringify(deterministicView(first.observation)) !==
    JSON.stringify(deterministicView(again.observation))
  ) {
    problems.push(`reset: same seed ${seed} gave different observations`);
  } else passed.push('reset is deterministic for a seed');

  const stepped = await env.step(probe);
  problems.push(...observationProblems(stepped.observation, 'step'));
  if (!Number.isFinite(stepped.reward)) problems.push('step: reward is not a finite number');
  if (typeof stepped.terminated !== 'boolean' || typeof stepped.truncated !== 'boolean') {
    problems.push('step: terminated/truncated must be booleans');
  }
  if (stepped.terminated) problems.push('step: the probe action ended the episode');
  if (typeof stepped.info !== 'object' || stepped.info === null) problems.push('step: info is not an object');
  passed.push('step returns {observation, reward, terminated, truncated, info}');

  const invalid = await env.step({ kind: 'no_such_action' });
  if (!invalid.observation.error) problems.push('step: an invalid action did not yield an error observation');
  else passed.push('an invalid action yields an error observation');

  const ended = await env.step(end);
  if (!ended.terminated && !ended.truncated) problems.push('step: the end action did not end the episode');
  let threw = false;
  try {
    await env.step(probe);
  } catch {
    threw = true;
  }
  if (!threw) problems.push('step after the episode ended did not throw');
  else passed.push('step after the end throws');

  if (problems.length > 0)
    throw new Error(`checkEnv found ${problems.length} problem(s):\n- ${problems.join('\n- ')}`);
  return passed;
}
