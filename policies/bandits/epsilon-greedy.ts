// ε-greedy: with probability ε_t = epsilon / (1 + decay·t) a uniformly random arm, else the best mean.
// Rewards are used as given (any finite number).
import { MeanRewardBandit } from './base.ts';
import type { EpsilonGreedySpec, EpsilonGreedyState } from './spec.ts';
import type { Selection } from './types.ts';

export class EpsilonGreedyBandit extends MeanRewardBandit {
  readonly kind = 'epsilon-greedy';

  constructor(
    readonly spec: EpsilonGreedySpec,
    arms: readonly string[],
    seed: number,
    state?: EpsilonGreedyState,
  ) {
    super(arms, seed, state);
  }

  select(): Selection {
    const epsilon = this.spec.epsilon / (1 + this.spec.decay * this.t);
    // Untried arms score Infinity, so each arm is tried once before exploitation means anything.
    const means = this.counts.map((n, i) => (n === 0 ? Infinity : this.sums[i]! / n));
    const explore = this.rng.next() < epsilon;
    const i = explore ? this.rng.int(this.arms.length) : this.argmax(means);
    return { arm: this.arms[i]!, scores: this.scoresOf(means), info: { explore, epsilon } };
  }

  update(arm: string, reward: number): void {
    this.record(arm, this.checkReward(reward));
  }

  state(): EpsilonGreedyState {
    return {
      kind: 'epsilon-greedy',
      ...this.common(),
      spec: { ...this.spec },
      counts: [...this.counts],
      sums: [...this.sums],
    };
  }
}
