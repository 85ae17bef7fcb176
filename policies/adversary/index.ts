// Read this first. The adversarial tester: a separate policy, in sandboxes of its own, that writes tests meant
// to break a submitted patch. It gets the task's intent and the candidate patch — never the hidden tests, never
// the coder's conversation. Its tests count only when they pass on the reference (gold) solution; the
// `adversarial` reward component is the share of valid tests the candidate passes (docs/adversary.md).
//
//   differential  offline: inputs generated with fast-check from the tests' calls, candidate vs reference
//   llm           the LLM policy with the `break-this-patch` template, acting in the candidate tree
import { z } from 'zod';
import type { Adversary } from '../../env/types.ts';
import { llmOptionsSchema } from '../llm.ts';
import { differentialAdversary } from './differential.ts';
import { llmAdversary } from './llm.ts';

const common = {
  on: z
    .enum(['resolved', 'submitted'])
    .default('resolved')
    .describe('which submissions to attack: only resolved ones (the default), or every graded one'),
};

export const adversarySpecSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('differential'),
    ...common,
    inputs: z.number().int().min(1).max(100_000).default(200).describe('inputs tried per changed function'),
    seed: z.number().int().min(0).default(0),
    tests_per_target: z.number().int().min(1).max(100).default(3),
    timeout_sec: z.number().positive().max(3600).default(60),
  }),
  llmOptionsSchema.extend({
    kind: z.literal('llm'),
    ...common,
    max_steps: z.number().int().min(1).max(500).default(20),
    count_unvalidated: z
      .boolean()
      .default(false)
      .describe('count tests that could not be validated (the task has no gold patch) towards the reward'),
  }),
]);
export type AdversarySpec = z.infer<typeof adversarySpecSchema>;

export function makeAdversary(spec: AdversarySpec): Adversary {
  const attack =
    spec.kind === 'differential'
      ? differentialAdversary({
          inputs: spec.inputs,
          seed: spec.seed,
          testsPerTarget: spec.tests_per_target,
          timeoutSec: spec.timeout_sec,
        })
      : llmAdversary({ llm: spec, maxSteps: spec.max_steps, countUnvalidated: spec.count_unvalidated });
  return async (request) => (spec.on === 'resolved' && !request.resolved ? null : attack(request));
}

export { differentialAdversary, type DifferentialOptions } from './differential.ts';
export { llmAdversary, type LlmAdversaryOptions } from './llm.ts';
