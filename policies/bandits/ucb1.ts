// UCB1 (Auer et al. 2002): score = mean + c·sqrt(ln N / n); every arm is pulled once first (score Infinity).
// Rewards are clamped to [0, 1].
import { clamp01, MeanRewardBandit } from './base.ts';
import type { Ucb1Spec, Ucb1State } from './spec.ts';
import type { Selection } from './types.ts';

export class Ucb1Bandit extends MeanRewardBandit {
  readonly kind = 'ucb1';

  constructor(
    readonly spec: Ucb1Spec,
    arms: readonly string[],
    seed: number,
    state?: Ucb1State,
  ) {
    super(arms, seed, state);
  }

  select(): Selection {
    const total = this.counts.reduce((a, b) => a + b, 0);
    const scores = this.counts.map((n, i) =>
      n === 0 ? Infinity : this.sums[i]! / n + this.spec.c * Math.sqrt(Math.log(total) / n),
    );
    const i = this.argmax(scores);
    return { arm: this.arms[i]!, scores: this.scoresOf(scores), info: { initial: this.counts[i] === 0 } };
  }

  update(arm: string, reward: number): void {
    this.record(arm, clamp01(this.checkReward(reward)));
  }

  state(): Ucb1State {
    return {
      kind: 'ucb1',
      ...this.common(),
      spec: { ...this.spec },
      counts: [...this.counts],
      sums: [...this.sums],
    };
  }
}
