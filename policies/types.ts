// The policy contract. A policy maps observations to actions; the env validates whatever it returns, so a
// policy may emit a bad action and simply get an error observation back.
import type { Grade } from '../env/grading.ts';
import type { Observation } from '../env/types.ts';
import type { Usage } from '../rewards/types.ts';

export interface EpisodeContext {
  instanceId: string;
  problemStatement: string;
  language: string;
  testCmd: string;
  maxSteps: number;
  seed?: number;
  /** Only given to privileged policies (the oracle): the gold patch. */
  gold?: { patch: string };
}

export interface EpisodeResult {
  instanceId: string;
  /** Sum of step rewards. */
  return: number;
  steps: number;
  terminated: boolean;
  truncated: boolean;
  invalidActions: number;
  grade?: Grade;
  /** How the episode ended: the grade status, or 'truncated' / 'infra' when it was not graded. */
  outcome: string;
  wallMs: number;
}

export interface Policy {
  readonly name: string;
  /** Privileged policies see the gold patch; they exist to validate datasets, never to be benchmarked. */
  readonly privileged?: boolean;
  begin?(ctx: EpisodeContext): Promise<void>;
  act(observation: Observation, ctx: EpisodeContext): Promise<unknown>;
  /** Tokens and USD spent so far this episode (LLM policies); scored by the `cost` component. */
  usage?(): Usage;
  end?(result: EpisodeResult): Promise<void>;
}
