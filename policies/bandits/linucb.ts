// Disjoint LinUCB (Li et al. 2010): one ridge regression per arm on the context (plus a constant 1 when
// `intercept`), score = θ̂ₐ·x + alpha·sqrt(xᵀAₐ⁻¹x). Rewards are used as given (any finite number).
import { BaseBandit, checkContext, checkLength } from './base.ts';
import { RidgeHead } from './linalg.ts';
import type { LinUcbSpec, LinUcbState } from './spec.ts';
import type { BanditContext, Selection } from './types.ts';

export class LinUcbBandit extends BaseBandit {
  readonly kind = 'linucb';
  private dim: number | null;
  private readonly counts: number[];
  private heads: RidgeHead[] = [];

  constructor(
    readonly spec: LinUcbSpec,
    arms: readonly string[],
    seed: number,
    state?: LinUcbState,
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

  private input(context: BanditContext | undefined): number[] {
    const dim = checkContext(this.kind, context, this.dim);
    if (this.dim === null) this.initHeads(dim);
    const x = context!.features;
    return this.spec.intercept ? [...x, 1] : [...x];
  }

  select(context?: BanditContext): Selection {
    const x = this.input(context);
    const preds = this.heads.map((h) => h.predict(x));
    const scores = preds.map((p) => p.mean + this.spec.alpha * p.width);
    const i = this.argmax(scores);
    return {
      arm: this.arms[i]!,
      scores: this.scoresOf(scores),
      info: { means: this.scoresOf(preds.map((p) => p.mean)) },
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

  state(): LinUcbState {
    return {
      kind: 'linucb',
      ...this.common(),
      spec: { ...this.spec },
      dim: this.dim,
      counts: [...this.counts],
      heads: this.heads.map((h) => h.toJSON()),
    };
  }
}
