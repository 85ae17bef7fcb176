// Disjoint linear bandits: one ridge regression per arm on the context (plus a constant 1 when `intercept`).
// - LinUCB (Li et al. 2010): score = θ̂ₐ·x + alpha·sqrt(xᵀAₐ⁻¹x).
// - Linear Thompson sampling (Agrawal & Goyal 2013): score = θ̃ₐ·x with θ̃ₐ ~ N(θ̂ₐ, scale²·Aₐ⁻¹).
// Rewards are used as given (any finite number).
import { BaseBandit, checkContext, checkLength } from './base.ts';
import { RidgeHead } from './linalg.ts';
import type { LinTsSpec, LinTsState, LinUcbSpec, LinUcbState } from './spec.ts';
import type { BanditContext, Selection } from './types.ts';

abstract class LinearBandit<S extends LinUcbSpec | LinTsSpec> extends BaseBandit {
  abstract override readonly kind: S['kind'];
  private dim: number | null;
  private readonly counts: number[];
  protected heads: RidgeHead[] = [];

  constructor(
    readonly spec: S,
    arms: readonly string[],
    seed: number,
    state?: LinUcbState | LinTsState,
  ) {
    super(arms, seed, state?.rng);
    const k = this.arms.length;
    this.dim = state ? state.dim : (spec.dim ?? null);
    this.counts = state ? [...state.counts] : new Array<number>(k).fill(0);
    if (state) {
      checkLength('counts', this.counts, k);
      if (state.dim !== null) {
        checkLength('heads', state.heads, k);
        this.heads = state.heads.map((h) => RidgeHead.fromJSON(h, this.width(state.dim!)));
      }
      this.t = state.t;
    } else if (this.dim !== null) this.initHeads(this.dim);
  }

  private width(dim: number): number {
    return dim + (this.spec.intercept ? 1 : 0);
  }

  private initHeads(dim: number): void {
    this.dim = dim;
    this.heads = this.arms.map(() => RidgeHead.fresh(this.width(dim), this.spec.ridge));
  }

  protected input(context: BanditContext | undefined): number[] {
    const dim = checkContext(this.kind, context, this.dim);
    if (this.dim === null) this.initHeads(dim);
    const x = context!.features;
    return this.spec.intercept ? [...x, 1] : [...x];
  }

  /** Per-arm score of context x (with the intercept appended). */
  protected abstract score(head: RidgeHead, x: number[]): number;

  select(context?: BanditContext): Selection {
    const x = this.input(context);
    const scores = this.heads.map((h) => this.score(h, x));
    const i = this.argmax(scores);
    return {
      arm: this.arms[i]!,
      scores: this.scoresOf(scores),
      info: { means: this.scoresOf(this.heads.map((h) => h.predict(x).mean)) },
    };
  }

  update(arm: string, reward: number, context?: BanditContext): void {
    const i = this.armIndex(arm);
    const r = this.checkReward(reward);
    const x = this.input(context);
    this.heads[i]!.update(x, r);
    this.counts[i]! += 1;
    this.t += 1;
  }

  protected linearState() {
    return {
      ...this.common(),
      dim: this.dim,
      counts: [...this.counts],
      heads: this.heads.map((h) => h.toJSON()),
    };
  }
}

export class LinUcbBandit extends LinearBandit<LinUcbSpec> {
  readonly kind = 'linucb';

  protected score(head: RidgeHead, x: number[]): number {
    return head.ucb(x, this.spec.alpha);
  }

  state(): LinUcbState {
    return { kind: 'linucb', spec: { ...this.spec }, ...this.linearState() };
  }
}

export class LinTsBandit extends LinearBandit<LinTsSpec> {
  readonly kind = 'lints';

  protected score(head: RidgeHead, x: number[]): number {
    return head.sample(x, this.spec.scale, this.rng);
  }

  state(): LinTsState {
    return { kind: 'lints', spec: { ...this.spec }, ...this.linearState() };
  }
}
