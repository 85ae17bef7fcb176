// The agent loop: one policy, one env, one episode. Every step is handed to `onStep` as it happens.
import type { CodingEnv } from '../env/coding-env.ts';
import type { Grade } from '../env/grading.ts';
import { inSpan } from '../env/tracing.ts';
import type { Info, Observation } from '../env/types.ts';
import type { EpisodeContext, EpisodeResult, Policy } from '../policies/types.ts';

export interface StepRecord {
  step: number;
  action: unknown;
  observation: Observation;
  reward: number;
  terminated: boolean;
  truncated: boolean;
  info: Info;
}

export interface RunEpisodeOptions {
  seed?: number;
  task?: string;
  strategy?: string;
  onReset?: (observation: Observation, info: Info) => void;
  onStep?: (record: StepRecord) => void;
}

export async function runEpisode(
  env: CodingEnv,
  policy: Policy,
  opts: RunEpisodeOptions = {},
): Promise<EpisodeResult> {
  const started = performance.now();
  const { observation: first, info } = await env.reset({ seed: opts.seed, options: { task: opts.task } });
  opts.onReset?.(first, info);
  const task = env.currentTask!;
  const ctx: EpisodeContext = {
    instanceId: task.instance_id,
    problemStatement: task.problem_statement,
    language: task.language,
    testCmd: task.test_cmd,
    maxSteps: Number(info.max_steps),
    seed: opts.seed,
    overview: (info.overview as EpisodeContext['overview']) ?? null,
    ...(opts.strategy ? { strategy: opts.strategy } : {}),
    ...(policy.privileged ? { gold: { patch: task.patch } } : {}),
  };
  await policy.begin?.(ctx);
  let observation = first;
  let total = 0;
  let last: StepRecord | undefined;
  for (;;) {
    // The policy's own time is a span too, so a trace has no unexplained gaps between steps.
    const action = await inSpan(
      env.episodeTracing,
      'policy.act',
      { 'repogym.policy': policy.name, 'repogym.step.index': observation.stepIndex + 1 },
      () => policy.act(observation, ctx),
    );
    if (policy.usage) env.recordUsage(policy.usage());
    const result = await env.step(action);
    total += result.reward;
    last = { step: result.observation.stepIndex, action, ...result };
    opts.onStep?.(last);
    observation = result.observation;
    if (result.terminated || result.truncated) break;
  }
  const grade = last.info.grade as Grade | undefined;
  const result: EpisodeResult = {
    instanceId: task.instance_id,
    return: total,
    steps: last.step,
    terminated: last.terminated,
    truncated: last.truncated,
    invalidActions: Number(last.info.invalid_actions ?? 0),
    grade,
    outcome: grade ? grade.status : last.truncated ? 'truncated' : 'ungraded',
    wallMs: Math.round(performance.now() - started),
  };
  await policy.end?.(result);
  // After end(): a learning policy logs what it learned from this episode.
  return policy.info ? { ...result, policyInfo: policy.info() } : result;
}
