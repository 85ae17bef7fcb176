// Thompson sampling.
// - bernoulli: Beta(priorAlpha + successes, priorBeta + failures) per arm. Rewards are clamped to [0, 1]; a
//   fractional reward r becomes a Bernoulli(r) trial drawn with the seeded PRNG (Agrawal & Goyal 2012), so
//   the posterior stays conjugate and the expected update equals r.
// - gaussian: Normal–inverse-gamma posterior per arm (unknown mean and variance) from Welford statistics;
//   draw σ² ~ InvGamma(αn, βn), then μ ~ N(μn, σ²/κn). Rewards are used as given (any finite number).
import { BaseBandit, checkLength, clamp01 } from './base.ts';
import type { ThompsonSpec, ThompsonState } from './spec.ts';
import type { Selection } from './types.ts';

export class ThompsonBandit extends BaseBandit {
  readonly kind = 'thompson';
  private readonly counts: number[];
  private readonly successes: number[];
  private readonly means: number[];
  private readonly m2: number[];

  constructor(
    readonly spec: ThompsonSpec,
    arms: readonly string[],
    seed: number,
    state?: ThompsonState,
  ) {
    super(arms, seed, state?.rng);
    const k = this.arms.length;
    const zeros = () => new Array<number>(k).fill(0);
    this.counts = state ? [...state.counts] : zeros();
    this.successes = state ? [...state.successes] : zeros();
    this.means = state ? [...state.means] : zeros();
    this.m2 = state ? [...state.m2] : zeros();
    if (state) {
      for (const field of ['counts', 'successes', 'means', 'm2'] as const)
        checkLength(field, state[field], k);
      this.t = state.t;
    }
  }

  /** Posterior parameters of arm i. */
  posterior(i: number) {
    const s = this.spec;
    const n = this.counts[i]!;
    if (s.likelihood === 'bernoulli') {
      const alpha = s.priorAlpha + this.successes[i]!;
      const beta = s.priorBeta + n - this.successes[i]!;
      return { kind: 'beta' as const, alpha, beta, mean: alpha / (alpha + beta) };
    }
    const mean = this.means[i]!;
    const kappa = s.priorStrength + n;
    const mu = (s.priorStrength * s.priorMean + n * mean) / kappa;
    const shape = s.priorShape + n / 2;
    const scale =
      s.priorScale + this.m2[i]! / 2 + (s.priorStrength * n * (mean - s.priorMean) ** 2) / (2 * kappa);
    return { kind: 'nig' as const, kappa, mean: mu, shape, scale };
  }

  select(): Selection {
    const means: number[] = [];
    const samples = this.arms.map((_, i) => {
      const post = this.posterior(i);
      means.push(post.mean);
      if (post.kind === 'beta') return this.rng.beta(post.alpha, post.beta);
      const variance = post.scale / this.rng.gamma(post.shape);
      return post.mean + Math.sqrt(variance / post.kappa) * this.rng.normal();
    });
    const i = this.argmax(samples);
    return {
      arm: this.arms[i]!,
      scores: this.scoresOf(samples),
      info: { posteriorMeans: this.scoresOf(means) },
    };
  }

  update(arm: string, reward: number): void {
    const i = this.armIndex(arm);
    const r = this.checkReward(reward);
    if (this.spec.likelihood === 'bernoulli') {
      const p = clamp01(r);
      const success = p === 1 || (p > 0 && this.rng.bernoulli(p));
      if (success) this.successes[i]! += 1;
      this.counts[i]! += 1;
    } else {
      const n = (this.counts[i]! += 1);
      const delta = r - this.means[i]!;
      this.means[i]! += delta / n;
      this.m2[i]! += delta * (r - this.means[i]!);
    }
    this.t += 1;
  }

  state(): ThompsonState {
    return {
      kind: 'thompson',
      ...this.common(),
      spec: { ...this.spec },
      counts: [...this.counts],
      successes: [...this.successes],
      means: [...this.means],
      m2: [...this.m2],
    };
  }
}
