// NeuralLinear (Riquelme et al. 2018): a small MLP learns a representation of the context by regressing the
// observed reward of the pulled arm (one output per arm, squared error on the pulled arm only); each arm then
// keeps a ridge regression on the last hidden layer (plus a constant 1), scored by LinUCB or linear Thompson
// sampling. The network is retrained every `trainEvery` updates for `trainSteps` Adam steps on minibatches in
// an order drawn from the seeded PRNG, after which the heads are refitted on the buffer.
//
// tfjs is used only to initialise (seeded Glorot-uniform) and to train; the weights live in plain arrays
// between trainings, inference runs in JS, and no tensor outlives a call. Rewards are used as given.
import type * as TF from '@tensorflow/tfjs';
import { BaseBandit, checkContext, checkLength } from './base.ts';
import { RidgeHead } from './linalg.ts';
import type { NeuralSpec, NeuralState } from './spec.ts';
import type { BanditContext, Selection } from './types.ts';

type Tf = typeof TF;

let tfModule: Promise<Tf> | undefined;
let nodeBackend: Promise<boolean> | undefined;
let cpuWarmed = false;

/** Loads tfjs on first use, so the other bandits never pay for it. */
function loadTf(): Promise<Tf> {
  tfModule ??= import('@tensorflow/tfjs');
  return tfModule;
}

/** Activates the backend: `cpu`, or for `auto` @tensorflow/tfjs-node when the user has it installed. */
async function activate(tf: Tf, want: NeuralSpec['backend']): Promise<void> {
  let name = 'cpu';
  if (want === 'auto') {
    nodeBackend ??= (async () => {
      try {
        const specifier = '@tensorflow/tfjs-node'; // not a dependency: a variable keeps tsc from resolving it
        await import(specifier);
        return tf.findBackendFactory('tensorflow') !== null;
      } catch {
        return false;
      }
    })();
    if (await nodeBackend) name = 'tensorflow';
  }
  // engine().backendName, unlike getBackend(), does not initialise a default backend as a side effect.
  if (tf.engine().backendName !== name) {
    if (!(await tf.setBackend(name))) throw new Error(`neural: could not activate the tfjs ${name} backend`);
  }
  if (name === 'cpu' && !cpuWarmed) {
    // The cpu backend prints an "install tfjs-node" banner on its first tensor; keep it quiet.
    const prod = tf.env().getBool('PROD');
    tf.env().set('PROD', true);
    try {
      tf.tensor1d([0]).dispose();
    } finally {
      tf.env().set('PROD', prod);
    }
    cpuWarmed = true;
  }
}

export class NeuralBandit extends BaseBandit {
  readonly kind = 'neural';
  private dim: number | null;
  private readonly counts: number[];
  private weights: Float32Array[] | null = null;
  private trainings = 0;
  private contexts: number[][] = [];
  private pulled: number[] = [];
  private rewards: number[] = [];
  private heads: RidgeHead[] = [];
  private busy = false;

  constructor(
    readonly spec: NeuralSpec,
    arms: readonly string[],
    seed: number,
    state?: NeuralState,
  ) {
    super(arms, seed, state?.rng);
    const k = this.arms.length;
    this.dim = state ? state.dim : (spec.dim ?? null);
    this.counts = state ? [...state.counts] : new Array<number>(k).fill(0);
    if (state) {
      checkLength('counts', this.counts, k);
      this.t = state.t;
      this.trainings = state.trainings;
      const { contexts, arms: pulled, rewards } = state.buffer;
      checkLength('buffer.arms', pulled, contexts.length);
      checkLength('buffer.rewards', rewards, contexts.length);
      if (pulled.some((a) => a >= k)) throw new Error('invalid bandit state: buffer.arms has an unknown arm');
      this.contexts = contexts.map((x) => [...x]);
      this.pulled = [...pulled];
      this.rewards = [...rewards];
      if (state.weights) {
        if (state.dim === null) throw new Error('invalid bandit state: weights without dim');
        const shapes = this.shapes(state.dim);
        checkLength('weights', state.weights, shapes.length);
        this.weights = state.weights.map((w, i) => {
          checkLength(
            `weights[${i}]`,
            w,
            shapes[i]!.reduce((a, b) => a * b, 1),
          );
          return Float32Array.from(w);
        });
        checkLength('heads', state.heads, k);
        this.heads = state.heads.map((h) => RidgeHead.fromJSON(h, this.headWidth));
        if (this.contexts.some((x) => x.length !== state.dim))
          throw new Error('invalid bandit state: a buffered context has the wrong dimension');
      }
    }
  }

  private get headWidth(): number {
    return this.spec.hidden[this.spec.hidden.length - 1]! + 1;
  }

  /** Shapes of [W0, b0, …, Wout, bout]. */
  private shapes(dim: number): number[][] {
    const sizes = [dim, ...this.spec.hidden];
    const shapes: number[][] = [];
    for (let l = 0; l + 1 < sizes.length; l++) shapes.push([sizes[l]!, sizes[l + 1]!], [sizes[l + 1]!]);
    shapes.push([sizes[sizes.length - 1]!, this.arms.length], [this.arms.length]);
    return shapes;
  }

  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    if (this.busy) throw new Error('neural: a previous select/update is still running; await each call');
    this.busy = true;
    try {
      return await fn();
    } finally {
      this.busy = false;
    }
  }

  /** Validates the context; on the first one, fixes the dimension and initialises the network. */
  private async input(context: BanditContext | undefined): Promise<number[]> {
    const dim = checkContext(this.kind, context, this.dim);
    if (this.weights === null) {
      this.dim = dim;
      const tf = await loadTf();
      await activate(tf, this.spec.backend);
      this.weights = this.shapes(dim).map((shape) => {
        if (shape.length === 1) return new Float32Array(shape[0]!);
        const init = tf.initializers.glorotUniform({ seed: this.rng.uint32() });
        const tensor = init.apply(shape);
        const values = Float32Array.from(tensor.dataSync());
        tensor.dispose();
        return values;
      });
      this.heads = this.arms.map(() => RidgeHead.fresh(this.headWidth, this.spec.ridge));
    }
    return [...context!.features];
  }

  /** Last hidden layer for x, with a constant 1 appended (plain JS, float64 arithmetic on float32 weights). */
  private represent(x: readonly number[]): Float64Array {
    const weights = this.weights!;
    const relu = this.spec.activation === 'relu';
    let h: ArrayLike<number> = x;
    for (let l = 0; l < this.spec.hidden.length; l++) {
      const w = weights[2 * l]!;
      const b = weights[2 * l + 1]!;
      const n = b.length;
      const last = l === this.spec.hidden.length - 1;
      const out = new Float64Array(last ? n + 1 : n);
      for (let j = 0; j < n; j++) {
        let s = b[j]!;
        for (let i = 0; i < h.length; i++) s += h[i]! * w[i * n + j]!;
        out[j] = relu ? Math.max(0, s) : Math.tanh(s);
      }
      if (last) out[n] = 1;
      h = out;
    }
    return h as Float64Array;
  }

  select(context?: BanditContext): Promise<Selection> {
    return this.guard(async () => {
      const x = await this.input(context);
      const z = this.represent(x);
      const { alpha, exploration } = this.spec;
      const scores = this.heads.map((h) =>
        exploration === 'ucb' ? h.ucb(z, alpha) : h.sample(z, alpha, this.rng),
      );
      const i = this.argmax(scores);
      return { arm: this.arms[i]!, scores: this.scoresOf(scores), info: { trainings: this.trainings } };
    });
  }

  update(arm: string, reward: number, context?: BanditContext): Promise<void> {
    return this.guard(async () => {
      const i = this.armIndex(arm);
      const r = this.checkReward(reward);
      const x = await this.input(context);
      this.contexts.push(x);
      this.pulled.push(i);
      this.rewards.push(r);
      if (this.contexts.length > this.spec.bufferSize) {
        this.contexts.shift();
        this.pulled.shift();
        this.rewards.shift();
      }
      this.heads[i]!.update(this.represent(x), r);
      this.counts[i]! += 1;
      this.t += 1;
      if (this.t % this.spec.trainEvery === 0) {
        await this.train();
        this.refit();
      }
    });
  }

  private async train(): Promise<void> {
    const tf = await loadTf();
    await activate(tf, this.spec.backend);
    const dim = this.dim!;
    const k = this.arms.length;
    const n = this.contexts.length;
    const batch = Math.min(this.spec.batchSize, n);
    const shapes = this.shapes(dim);
    const vars = tf.tidy(() => this.weights!.map((w, i) => tf.variable(tf.tensor(w, shapes[i]!))));
    const optimizer = tf.train.adam(this.spec.learningRate);
    const relu = this.spec.activation === 'relu';
    try {
      let order: number[] = [];
      let pos = n;
      for (let step = 0; step < this.spec.trainSteps; step++) {
        if (pos + batch > n) {
          order = this.rng.shuffle(Array.from({ length: n }, (_, j) => j));
          pos = 0;
        }
        const idx = order.slice(pos, pos + batch);
        pos += batch;
        const xs = new Float32Array(batch * dim);
        const mask = new Float32Array(batch * k);
        const ys = new Float32Array(batch);
        idx.forEach((j, row) => {
          xs.set(this.contexts[j]!, row * dim);
          mask[row * k + this.pulled[j]!] = 1;
          ys[row] = this.rewards[j]!;
        });
        tf.tidy(() => {
          const xt = tf.tensor2d(xs, [batch, dim]);
          const mt = tf.tensor2d(mask, [batch, k]);
          const yt = tf.tensor1d(ys);
          optimizer.minimize(
            () => {
              let h: TF.Tensor = xt;
              for (let l = 0; l < this.spec.hidden.length; l++) {
                const pre = h.matMul(vars[2 * l]!).add(vars[2 * l + 1]!);
                h = relu ? pre.relu() : pre.tanh();
              }
              const out = h.matMul(vars[vars.length - 2]!).add(vars[vars.length - 1]!);
              const pred = out.mul(mt).sum(1);
              return tf.losses.meanSquaredError(yt, pred) as TF.Scalar;
            },
            false,
            vars,
          );
        });
      }
      const trained = vars.map((v) => Float32Array.from(v.dataSync()));
      // A diverged step (non-finite weights) is dropped: keep the previous representation.
      if (trained.every((w) => w.every(Number.isFinite))) this.weights = trained;
      this.trainings += 1;
    } finally {
      optimizer.dispose();
      for (const v of vars) v.dispose();
    }
  }

  /** Refits every arm's head on the buffer under the current representation. */
  private refit(): void {
    this.heads = this.arms.map(() => RidgeHead.fresh(this.headWidth, this.spec.ridge));
    this.contexts.forEach((x, j) => this.heads[this.pulled[j]!]!.update(this.represent(x), this.rewards[j]!));
  }

  state(): NeuralState {
    if (this.busy) throw new Error('neural: state() called while a select/update is running');
    return {
      kind: 'neural',
      ...this.common(),
      spec: { ...this.spec, hidden: [...this.spec.hidden] },
      dim: this.dim,
      counts: [...this.counts],
      weights: this.weights ? this.weights.map((w) => Array.from(w)) : null,
      trainings: this.trainings,
      buffer: {
        contexts: this.contexts.map((x) => [...x]),
        arms: [...this.pulled],
        rewards: [...this.rewards],
      },
      heads: this.heads.map((h) => h.toJSON()),
    };
  }
}
