// EXP3 (Auer et al. 2002): p = (1 − γ)·softmax(η·Ŝ) + γ/K, with Ŝ the cumulative importance-weighted reward
// estimates (r / p for the pulled arm). η defaults to γ/K, the classic algorithm. Rewards are clamped to [0, 1].
// The update uses the probabilities in force at update time (the same as at selection when calls alternate).
import { BaseBandit, checkLength, clamp01 } from './base.ts';
import type { Exp3Spec, Exp3State } from './spec.ts';
import type { Selection } from './types.ts';

export class Exp3Bandit extends BaseBandit {
  readonly kind = 'exp3';
  private readonly counts: number[];
  private readonly estimates: number[];

  constructor(
    readonly spec: Exp3Spec,
    arms: readonly string[],
    seed: number,
    state?: Exp3State,
  ) {
    super(arms, seed, state?.rng);
    const k = this.arms.length;
    this.counts = state ? [...state.counts] : new Array<number>(k).fill(0);
    this.estimates = state ? [...state.estimates] : new Array<number>(k).fill(0);
    if (state) {
      checkLength('counts', this.counts, k);
      checkLength('estimates', this.estimates, k);
      this.t = state.t;
    }
  }

  private get eta(): number {
    return this.spec.eta ?? this.spec.gamma / this.arms.length;
  }

  probabilities(): number[] {
    const k = this.arms.length;
    const logits = this.estimates.map((s) => this.eta * s);
    const max = Math.max(...logits);
    const w = logits.map((l) => Math.exp(l - max));
    const total = w.reduce((a, b) => a + b, 0);
    return w.map((wi) => (1 - this.spec.gamma) * (wi / total) + this.spec.gamma / k);
  }

  select(): Selection {
    const p = this.probabilities();
    const u = this.rng.next();
    let i = 0;
    for (let acc = p[0]!; i < p.length - 1 && u >= acc; acc += p[++i]!);
    return { arm: this.arms[i]!, scores: this.scoresOf(p), info: { probability: p[i] } };
  }

  update(arm: string, reward: number): void {
    const i = this.armIndex(arm);
    const r = clamp01(this.checkReward(reward));
    const p = this.probabilities()[i]!;
    this.estimates[i]! += r / p;
    this.counts[i]! += 1;
    this.t += 1;
  }

  state(): Exp3State {
    return {
      kind: 'exp3',
      ...this.common(),
      spec: { ...this.spec },
      counts: [...this.counts],
      estimates: [...this.estimates],
    };
  }
}
