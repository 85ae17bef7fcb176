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
  /** Tier-1 context: the repository's AGENTS.md, CLAUDE.md or README, as the env found it. */
  overview?: { path: string; text: string } | null;
  /** The strategy template this episode runs with (chosen by a bandit or fixed in config). */
  strategy?: string;
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
  policyInfo?: Record<string, unknown>;
}

export interface Policy {
  readonly name: string;
  /** Privileged policies see the gold patch; they exist to validate datasets, never to be benchmarked. */
  readonly privileged?: boolean;
  begin?(ctx: EpisodeContext): Promise<void>;
  act(observation: Observation, ctx: EpisodeContext): Promise<unknown>;
  /** Tokens and USD spent so far this episode (LLM policies); scored by the `cost` component. */
  usage?(): Usage;
  /** What the policy wants logged with the episode (context loaded, stop reason, …); plain JSON, no secrets. */
  info?(): Record<string, unknown>;
  end?(result: EpisodeResult): Promise<void>;
}
