// Rewards are pure functions of recorded signals, so any logged episode can be re-scored offline.
import type { Grade } from '../env/grading.ts';

/** What an episode records for scoring. Everything here is plain JSON. */
export interface EpisodeSignals {
  /** Present once the episode was graded (on submit or escalate). */
  grade?: Grade;
  submitted: boolean;
  escalated: boolean;
  steps: number;
  invalidActions: number;
  wallMs: number;
}

export interface RewardValue {
  value: number;
  details?: Record<string, unknown>;
}

export type RewardComponent = (signals: EpisodeSignals) => RewardValue;
