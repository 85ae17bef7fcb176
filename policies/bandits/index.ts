// Multi-armed and contextual bandits. Read types.ts first; docs/bandits.md has the algorithms and defaults.
import { EpsilonGreedyBandit } from './epsilon-greedy.ts';
import { Exp3Bandit } from './exp3.ts';
import { LinTsBandit, LinUcbBandit } from './linucb.ts';
import { NeuralBandit } from './neural.ts';
import { RandomBandit } from './random.ts';
import { parseBanditSpec, parseBanditState } from './spec.ts';
import type { BanditSpecInput } from './spec.ts';
import { ThompsonBandit } from './thompson.ts';
import type { Bandit, BanditState } from './types.ts';
import { Ucb1Bandit } from './ucb1.ts';

export type * from './types.ts';
export {
  BANDIT_KINDS,
  banditSpecSchema,
  banditStateSchema,
  parseBanditSpec,
  parseBanditState,
} from './spec.ts';
export { Rng, type RngState } from './rng.ts';
export {
  EpsilonGreedyBandit,
  Exp3Bandit,
  LinTsBandit,
  LinUcbBandit,
  NeuralBandit,
  RandomBandit,
  ThompsonBandit,
  Ucb1Bandit,
};

function checkSeed(seed: number): number {
  if (!Number.isSafeInteger(seed)) throw new Error(`bandit seed must be a safe integer, got ${String(seed)}`);
  return seed;
}

/** Builds a bandit from a spec (validated; defaults filled in), the arm names and a seed. */
export function makeBandit(spec: BanditSpecInput, arms: readonly string[], seed: number): Bandit {
  const s = parseBanditSpec(spec);
  checkSeed(seed);
  switch (s.kind) {
    case 'ucb1':
      return new Ucb1Bandit(s, arms, seed);
    case 'thompson':
      return new ThompsonBandit(s, arms, seed);
    case 'exp3':
      return new Exp3Bandit(s, arms, seed);
    case 'epsilon-greedy':
      return new EpsilonGreedyBandit(s, arms, seed);
    case 'linucb':
      return new LinUcbBandit(s, arms, seed);
    case 'lints':
      return new LinTsBandit(s, arms, seed);
    case 'neural':
      return new NeuralBandit(s, arms, seed);
    case 'random':
      return new RandomBandit(s, arms, seed);
  }
}

/** Rebuilds a bandit from `state()` (e.g. after JSON round-trip); it continues exactly where it stopped. */
export function loadBandit(state: BanditState): Bandit {
  const s = parseBanditState(state);
  switch (s.kind) {
    case 'ucb1':
      return new Ucb1Bandit(s.spec, s.arms, s.seed, s);
    case 'thompson':
      return new ThompsonBandit(s.spec, s.arms, s.seed, s);
    case 'exp3':
      return new Exp3Bandit(s.spec, s.arms, s.seed, s);
    case 'epsilon-greedy':
      return new EpsilonGreedyBandit(s.spec, s.arms, s.seed, s);
    case 'linucb':
      return new LinUcbBandit(s.spec, s.arms, s.seed, s);
    case 'lints':
      return new LinTsBandit(s.spec, s.arms, s.seed, s);
    case 'neural':
      return new NeuralBandit(s.spec, s.arms, s.seed, s);
    case 'random':
      return new RandomBandit(s.spec, s.arms, s.seed, s);
  }
}
