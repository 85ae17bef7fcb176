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
  /** Tests an adversary wrote against the submitted patch (the `adversarial` component). */
  adversarial?: AdversarialSignals;
  /** A person's rating of the episode's result (the `human` component). */
  human?: HumanRating;
}

/** One test an adversary wrote to break the candidate patch. */
export interface AdversarialTest {
  /** The test's ID as the task's runner reports it. */
  name: string;
  /** The file it lives in, relative to the repository root. */
  file: string;
  /** Whether it passed on the reference (gold) solution; null when the task has none (unvalidated). */
  passedOnReference: boolean | null;
  passedOnCandidate: boolean;
  /** What it exercises, e.g. `src/slugify.js#slugify`, and with which input (for the report). */
  target?: string;
  input?: string;
}

export interface AdversarialSignals {
  /** Which adversary wrote the tests: `differential` (offline) or `llm:<model>`. */
  adversary: string;
  /** What validated the tests: the task's gold patch, or nothing. */
  reference: 'gold' | 'none';
  /** Whether unvalidated tests count towards the component (off unless the config says so). */
  countUnvalidated: boolean;
  tests: AdversarialTest[];
  /** Every test file written, path → content, so a finding can be reproduced by hand. */
  files: Record<string, string>;
  /** Inputs tried (differential) or actions taken (LLM). */
  tried: number;
  wallMs: number;
  /** What it looked at and why it found nothing there, for the report. */
  notes?: string[];
  /** The adversary itself failed; the component then scores neutral. */
  error?: string;
}

export interface HumanRating {
  /** In [0, 1]: 1 is the best a rater can give. */
  rating: number;
  /** 1-based rank among the candidates the person compared, with how many there were. */
  rank?: number;
  of?: number;
  rater?: string;
  ratedAt: string;
}

export interface RewardValue {
  /** In [0, 1] for every built-in component; higher is better. */
  value: number;
  details?: Record<string, unknown>;
}

export type RewardComponent = (signals: EpisodeSignals) => RewardValue;
