// Read this first. Rewards are pure functions of recorded signals, so any logged episode can be re-scored
// offline under any variant without running a sandbox again.
import type { Grade } from '../env/grading.ts';
import type { DiffStat } from '../env/types.ts';

/** Facts about the task that scoring needs, recorded with the episode so re-scoring never reloads a dataset. */
export interface TaskFacts {
  /** Size of the gold patch without test files; null when the task has none. */
  goldStat: DiffStat | null;
  hiddenTestFiles: string[];
  memoryMb: number | null;
  benchmarkCmd: string | null;
}

export interface Budgets {
  maxSteps: number;
  wallSec: number;
  usd?: number | null;
  tokens?: number | null;
}

/** Tokens and money a policy spent (zero for offline policies). */
export interface Usage {
  inputTokens: number;
  outputTokens: number;
  usd: number;
}

/** What an episode records for scoring. Everything here is plain JSON. */
export interface EpisodeSignals {
  /** Present once the episode was graded (on submit or escalate). */
  grade?: Grade;
  submitted: boolean;
  escalated: boolean;
  steps: number;
  invalidActions: number;
  wallMs: number;
  /** Absent in episodes recorded before these fields existed; components then fall back as documented. */
  task?: TaskFacts;
  budgets?: Budgets;
  usage?: Usage;
}

export interface RewardValue {
  /** In [0, 1] for every built-in component; higher is better. */
  value: number;
  details?: Record<string, unknown>;
}

export type RewardComponent = (signals: EpisodeSignals) => RewardValue;
