// The bandit contract. A bandit picks one of a fixed set of named arms (say, which policy, prompt or model to
// run next), optionally given a context vector, and learns from the scalar reward of each pull.
//
//   const bandit = makeBandit({ kind: 'ucb1' }, ['a', 'b', 'c'], seed);
//   const { arm } = await bandit.select(context);
//   await bandit.update(arm, reward, context);
//   save(bandit.state());                 // plain JSON, RNG included
//   const resumed = loadBandit(saved);    // the same future choices as an uninterrupted run
//
// Calls are sequential: await each select/update before the next (the neural bandit is async and refuses
// overlapping calls). All randomness comes from the bandit's own seeded PRNG (`rng.ts`).
export type {
  BanditKind,
  BanditSpec,
  BanditSpecInput,
  BanditState,
  EpsilonGreedySpec,
  Exp3Spec,
  LinTsSpec,
  LinUcbSpec,
  NeuralSpec,
  ThompsonSpec,
  Ucb1Spec,
} from './spec.ts';
import type { BanditState } from './spec.ts';

export interface BanditContext {
  features: number[];
  /** Feature names, for logs. */
  names?: string[];
}

export interface Selection {
  arm: string;
  /** Per-arm scores the choice was made from: UCB values, posterior samples, probabilities. */
  scores: Record<string, number>;
  /** E.g. an exploration flag, the probabilities, the ε in force. */
  info?: Record<string, unknown>;
}

export interface Bandit {
  readonly kind: string;
  readonly arms: readonly string[];
  /** Contextual bandits (linucb, lints, neural) require a context; the others ignore it. */
  select(context?: BanditContext): Promise<Selection> | Selection;
  /** `reward` must be finite; an unknown arm throws. See docs/bandits.md for which kinds clamp to [0, 1]. */
  update(arm: string, reward: number, context?: BanditContext): Promise<void> | void;
  /** Plain JSON (RNG state included), so a run can persist it and resume exactly with `loadBandit`. */
  state(): BanditState;
}

// makeBandit(spec, arms, seed): Bandit   — spec validated with zod (index.ts)
// loadBandit(state): Bandit              — resume from state()
