// Shared plumbing: arm bookkeeping, reward and context checks, argmax with seeded tie-breaking.
import { Rng } from './rng.ts';
import type { BanditContext } from './types.ts';

export function validateArms(arms: readonly string[]): string[] {
  if (!Array.isArray(arms) || arms.length === 0) throw new Error('a bandit needs at least one arm');
  const seen = new Set<string>();
  for (const arm of arms) {
    if (typeof arm !== 'string' || arm === '') throw new Error(`arm names must be non-empty strings`);
    if (seen.has(arm)) throw new Error(`duplicate arm "${arm}"`);
    seen.add(arm);
  }
  return [...arms];
}

export function checkLength(field: string, values: readonly unknown[], expected: number): void {
  if (values.length !== expected)
    throw new Error(`invalid bandit state: ${field} has ${values.length} entries, expected ${expected}`);
}

export abstract class BaseBandit {
  abstract readonly kind: string;
  readonly arms: readonly string[];
  protected readonly index: ReadonlyMap<string, number>;
  protected rng: Rng;
  /** Updates so far. */
  protected t = 0;

  protected constructor(
    arms: readonly string[],
    readonly seed: number,
    rngState?: readonly number[],
  ) {
    this.arms = validateArms(arms);
    this.index = new Map(this.arms.map((arm, i) => [arm, i]));
    this.rng = rngState ? Rng.fromState(rngState) : new Rng(seed);
  }

  protected armIndex(arm: string): number {
    const i = this.index.get(arm);
    if (i === undefined)
      throw new Error(`${this.kind}: unknown arm ${JSON.stringify(arm)}; arms are ${this.arms.join(', ')}`);
    return i;
  }

  protected checkReward(reward: number): number {
    if (typeof reward !== 'number' || !Number.isFinite(reward))
      throw new Error(`${this.kind}: reward must be a finite number, got ${String(reward)}`);
    return reward;
  }

  /** Index of the largest value; exact ties are broken with the seeded PRNG. */
  protected argmax(values: readonly number[]): number {
    let best = -Infinity;
    let ties: number[] = [];
    values.forEach((v, i) => {
      if (v > best) {
        best = v;
        ties = [i];
      } else if (v === best) ties.push(i);
    });
    if (ties.length === 0) throw new Error(`${this.kind}: no finite score to choose from`);
    return ties.length === 1 ? ties[0]! : ties[this.rng.int(ties.length)]!;
  }

  protected scoresOf(values: readonly number[]): Record<string, number> {
    return Object.fromEntries(this.arms.map((arm, i) => [arm, values[i]!]));
  }

  protected common() {
    return { version: 1 as const, arms: [...this.arms], seed: this.seed, rng: this.rng.state(), t: this.t };
  }
}

export const clamp01 = (r: number): number => Math.min(1, Math.max(0, r));

/** Checks a context against the (possibly not yet known) dimension and returns the dimension. */
export function checkContext(kind: string, context: BanditContext | undefined, dim: number | null): number {
  if (!context || !Array.isArray(context.features))
    throw new Error(`${kind}: a context ({ features: number[] }) is required`);
  const { features } = context;
  if (features.length === 0) throw new Error(`${kind}: context.features is empty`);
  const bad = features.findIndex((x) => typeof x !== 'number' || !Number.isFinite(x));
  if (bad >= 0) throw new Error(`${kind}: context.features[${bad}] is not a finite number`);
  if (dim !== null && features.length !== dim)
    throw new Error(`${kind}: context has ${features.length} features, expected ${dim}`);
  return features.length;
}

/** Bandits that keep a pull count and a reward sum per arm (UCB1, ε-greedy), restored from a state. */
export abstract class MeanRewardBandit extends BaseBandit {
  protected readonly counts: number[];
  protected readonly sums: number[];

  protected constructor(
    arms: readonly string[],
    seed: number,
    state?: { rng: readonly number[]; counts: readonly number[]; sums: readonly number[]; t: number },
  ) {
    super(arms, seed, state?.rng);
    const k = this.arms.length;
    this.counts = state ? [...state.counts] : new Array<number>(k).fill(0);
    this.sums = state ? [...state.sums] : new Array<number>(k).fill(0);
    if (state) {
      checkLength('counts', this.counts, k);
      checkLength('sums', this.sums, k);
      this.t = state.t;
    }
  }

  /** One pull of `arm` that earned `value` (already checked, and clamped where the kind clamps). */
  protected record(arm: string, value: number): void {
    const i = this.armIndex(arm);
    this.counts[i]! += 1;
    this.sums[i]! += value;
    this.t += 1;
  }
}
