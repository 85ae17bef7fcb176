// Per-arm ridge regression kept as (A⁻¹, b) with Sherman–Morrison rank-one updates: O(m²) per observation.
// Shared by LinUCB (on the raw context) and the neural bandit (on the last hidden layer).
import type { Rng } from './rng.ts';

export class RidgeHead {
  private constructor(
    readonly m: number,
    readonly ainv: Float64Array,
    readonly b: Float64Array,
  ) {}

  static fresh(m: number, ridge: number): RidgeHead {
    const ainv = new Float64Array(m * m);
    for (let i = 0; i < m; i++) ainv[i * m + i] = 1 / ridge;
    return new RidgeHead(m, ainv, new Float64Array(m));
  }

  static fromJSON(json: { ainv: number[]; b: number[] }, m: number): RidgeHead {
    if (json.b.length !== m || json.ainv.length !== m * m)
      throw new Error(`invalid bandit state: a linear head has the wrong size (expected dimension ${m})`);
    return new RidgeHead(m, Float64Array.from(json.ainv), Float64Array.from(json.b));
  }

  toJSON(): { ainv: number[]; b: number[] } {
    return { ainv: Array.from(this.ainv), b: Array.from(this.b) };
  }

  update(x: ArrayLike<number>, reward: number): void {
    const { m, ainv, b } = this;
    const u = new Float64Array(m);
    for (let i = 0; i < m; i++) {
      let s = 0;
      for (let j = 0; j < m; j++) s += ainv[i * m + j]! * x[j]!;
      u[i] = s;
    }
    let denom = 1;
    for (let i = 0; i < m; i++) denom += x[i]! * u[i]!;
    for (let i = 0; i < m; i++) {
      const ui = u[i]! / denom;
      for (let j = 0; j < m; j++) ainv[i * m + j]! -= ui * u[j]!;
      b[i]! += reward * x[i]!;
    }
  }

  /** Posterior mean prediction θ̂·x and its width sqrt(xᵀA⁻¹x). */
  predict(x: ArrayLike<number>): { mean: number; width: number } {
    const { m, ainv, b } = this;
    let mean = 0;
    let quad = 0;
    for (let i = 0; i < m; i++) {
      let ai = 0; // (A⁻¹x)_i
      let th = 0; // (A⁻¹b)_i
      for (let j = 0; j < m; j++) {
        ai += ainv[i * m + j]! * x[j]!;
        th += ainv[i * m + j]! * b[j]!;
      }
      mean += th * x[i]!;
      quad += ai * x[i]!;
    }
    return { mean, width: Math.sqrt(Math.max(0, quad)) };
  }

  ucb(x: ArrayLike<number>, alpha: number): number {
    const { mean, width } = this.predict(x);
    return mean + alpha * width;
  }

  /**
   * Linear Thompson sampling: θ̃ ~ N(θ̂, scale²·A⁻¹), score θ̃·x. For one x this is exactly
   * N(θ̂·x, scale²·xᵀA⁻¹x), so one normal draw suffices.
   */
  sample(x: ArrayLike<number>, scale: number, rng: Rng): number {
    const { mean, width } = this.predict(x);
    return mean + scale * width * rng.normal();
  }
}
