// Uniform random arm choice: the baseline a learning bandit must beat on the same tasks and seeds. It keeps
// each arm's pull count and reward sum only so its scores (the means) read like the other bandits' logs.
import { MeanRewardBandit } from './base.ts';
import type { RandomSpec, RandomState } from './spec.ts';
import type { Selection } from './types.ts';

export class RandomBandit extends MeanRewardBandit {
  readonly kind = 'random';

  constructor(
    readonly spec: RandomSpec,
    arms: readonly string[],
    seed: number,
    state?: RandomState,
  ) {
    super(arms, seed, state);
  }

  select(): Selection {
    const means = this.counts.map((n, i) => (n === 0 ? 0 : this.sums[i]! / n));
    return { arm: this.arms[this.rng.int(this.arms.length)]!, scores: this.scoresOf(means) };
  }

  update(arm: string, reward: number): void {
    this.record(arm, this.checkReward(reward));
  }

  state(): RandomState {
    return {
      kind: 'random',
      ...this.common(),
      spec: { ...this.spec },
      counts: [...this.counts],
      sums: [...this.sums],
    };
  }
}
