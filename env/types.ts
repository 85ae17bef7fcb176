// The env contract. Read this first: everything in env/ implements or consumes these shapes.
// It mirrors Gymnasium: reset → {observation, info}; step → {observation, reward, terminated, truncated, info}.

import type { Task } from '../datasets/types.ts';
import type { AdversarialSignals } from '../rewards/types.ts';
import type { Sandbox } from './sandbox/types.ts';

export type Info = Record<string, unknown>;

export interface ResetOptions {
  seed?: number;
  options?: Record<string, unknown>;
}

export interface ResetResult<O> {
  observation: O;
  info: Info;
}

export interface StepResult<O> {
  observation: O;
  reward: number;
  terminated: boolean;
  truncated: boolean;
  info: Info;
}

export interface Env<A, O> {
  reset(opts?: ResetOptions): Promise<ResetResult<O>>;
  step(action: A): Promise<StepResult<O>>;
  close(): Promise<void>;
}

export type TestStatus = 'passed' | 'failed' | 'skipped' | 'error';

/** One test as a runner reported it. `name` is the test ID (see docs/test-ids.md). */
export interface TestResult {
  name: string;
  status: TestStatus;
  durationMs?: number;
  message?: string;
}

export interface Telemetry {
  wallMs: number;
  /** user + system CPU of the command and its children; null when it could not be measured (e.g. killed). */
  cpuMs: number | null;
  peakRssKb: number | null;
}

export interface DiffStat {
  files: number;
  added: number;
  removed: number;
}

export type ActionErrorCode =
  | 'invalid_action'
  | 'path_escape'
  | 'not_found'
  | 'no_match'
  | 'multiple_matches'
  | 'patch_failed'
  | 'not_a_directory'
  | 'is_a_directory'
  | 'too_large'
  /** Any other filesystem error on the agent's path (ENAMETOOLONG, ENOTDIR, EEXIST, special files, …). */
  | 'io_error';

export interface ActionError {
  code: ActionErrorCode;
  message: string;
}

export interface Observation {
  /** The action kind that produced this observation, or 'reset'. */
  kind: string;
  /** Capped: head and tail are kept around a truncation marker. */
  output: string;
  exitCode: number | null;
  timedOut: boolean;
  tests?: TestResult[];
  telemetry: Telemetry;
  diffStat: DiffStat;
  stepIndex: number;
  stepsLeft: number;
  error?: ActionError;
}

/**
 * Writes tests meant to break a submitted patch, in sandboxes of its own; it never sees the hidden tests nor the
 * agent's conversation. Implemented in policies/adversary/ and handed to the env by whoever wires a run.
 */
export type Adversary = (request: {
  task: Task;
  /** The submitted patch (test-file changes included; the adversary drops them as grading does). */
  patch: string;
  /** How grading judged the patch: an adversary may attack only resolved patches. */
  resolved: boolean;
  /** A fresh tree at the task's base commit, set up. */
  makeSandbox: () => Promise<Sandbox>;
}) => Promise<AdversarialSignals | null>;
