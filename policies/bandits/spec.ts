// Bandit specs and persisted states, as zod schemas. A spec is a discriminated union on `kind`; every field
// has a default, so `{ kind: 'ucb1' }` is a complete spec. States are plain JSON and are validated on load.
import { z } from 'zod';

const nonNegative = z.number().min(0);
const positive = z.number().positive();
const count = z.int().min(1);

export const ucb1SpecSchema = z.strictObject({
  kind: z.literal('ucb1'),
  /** Exploration weight: score = mean + c·sqrt(ln N / n). */
  c: nonNegative.default(Math.SQRT2),
});

export const thompsonSpecSchema = z.strictObject({
  kind: z.literal('thompson'),
  /** `bernoulli`: Beta–Bernoulli (rewards clamped to [0, 1]); `gaussian`: Normal–inverse-gamma. */
  likelihood: z.enum(['bernoulli', 'gaussian']).default('bernoulli'),
  /** Beta prior (bernoulli). */
  priorAlpha: positive.default(1),
  priorBeta: positive.default(1),
  /** Normal–inverse-gamma prior (gaussian): mean μ0, pseudo-count κ0, shape α0, scale β0. */
  priorMean: z.number().default(0.5),
  priorStrength: positive.default(1),
  priorShape: positive.default(1),
  priorScale: positive.default(0.1),
});

export const exp3SpecSchema = z.strictObject({
  kind: z.literal('exp3'),
  /** Mixing weight of the uniform distribution, in (0, 1]. */
  gamma: positive.max(1).default(0.1),
  /** Learning rate on the importance-weighted reward estimates; defaults to gamma / K (classic EXP3). */
  eta: positive.optional(),
});

export const epsilonGreedySpecSchema = z.strictObject({
  kind: z.literal('epsilon-greedy'),
  epsilon: z.number().min(0).max(1).default(0.1),
  /** ε_t = epsilon / (1 + decay·t), t = updates so far; 0 keeps ε fixed. */
  decay: nonNegative.default(0),
});

/** The per-arm ridge regressions LinUCB and linear Thompson sampling share. */
const linearHeads = {
  /** Ridge (prior precision) λ: A starts as λI. */
  ridge: positive.default(1),
  /** Append a constant 1 feature. */
  intercept: z.boolean().default(true),
  /** Context dimension; inferred from the first context when absent. */
  dim: count.optional(),
};

export const linucbSpecSchema = z.strictObject({
  kind: z.literal('linucb'),
  /** Width of the confidence bound. */
  alpha: nonNegative.default(1),
  ...linearHeads,
});

export const lintsSpecSchema = z.strictObject({
  kind: z.literal('lints'),
  /** Posterior scale v: θ̃ ~ N(θ̂, v²·A⁻¹). */
  scale: nonNegative.default(1),
  ...linearHeads,
});

export const neuralSpecSchema = z.strictObject({
  kind: z.literal('neural'),
  /** Hidden layer widths; the last one is the representation the per-arm linear heads use. */
  hidden: z.array(z.int().min(1).max(512)).min(1).max(4).default([32, 16]),
  activation: z.enum(['relu', 'tanh']).default('relu'),
  learningRate: positive.default(0.01),
  /** Retrain the representation every this many updates. */
  trainEvery: count.default(100),
  /** Adam steps per retraining (a fresh optimiser each time). */
  trainSteps: count.default(60),
  batchSize: count.default(32),
  /** Most recent observations kept for training and for refitting the heads. */
  bufferSize: count.default(4096),
  /** Per-arm head on the last hidden layer: LinUCB (`ucb`) or linear Thompson sampling (`thompson`). */
  exploration: z.enum(['ucb', 'thompson']).default('ucb'),
  /** Confidence width (ucb) or posterior scale (thompson). */
  alpha: nonNegative.default(1),
  ridge: positive.default(1),
  dim: count.optional(),
  /** `cpu`: pure-JS tfjs backend (deterministic); `auto`: @tensorflow/tfjs-node when installed, else cpu. */
  backend: z.enum(['cpu', 'auto']).default('cpu'),
});

/** Uniform random choice: the no-learning baseline. */
export const randomSpecSchema = z.strictObject({ kind: z.literal('random') });

export const BANDIT_KINDS = [
  'ucb1',
  'thompson',
  'exp3',
  'epsilon-greedy',
  'linucb',
  'lints',
  'neural',
  'random',
] as const;
export type BanditKind = (typeof BANDIT_KINDS)[number];

export const banditSpecSchema = z.discriminatedUnion(
  'kind',
  [
    ucb1SpecSchema,
    thompsonSpecSchema,
    exp3SpecSchema,
    epsilonGreedySpecSchema,
    linucbSpecSchema,
    lintsSpecSchema,
    neuralSpecSchema,
    randomSpecSchema,
  ],
  {
    error: (issue) =>
      issue.code === 'invalid_union'
        ? `unknown bandit kind; expected one of ${BANDIT_KINDS.join(', ')}`
        : undefined,
  },
);

/** A spec as written (defaults optional). */
export type BanditSpecInput = z.input<typeof banditSpecSchema>;
/** A parsed spec: every field present. */
export type BanditSpec = z.output<typeof banditSpecSchema>;
export type Ucb1Spec = z.output<typeof ucb1SpecSchema>;
export type ThompsonSpec = z.output<typeof thompsonSpecSchema>;
export type Exp3Spec = z.output<typeof exp3SpecSchema>;
export type EpsilonGreedySpec = z.output<typeof epsilonGreedySpecSchema>;
export type LinUcbSpec = z.output<typeof linucbSpecSchema>;
export type LinTsSpec = z.output<typeof lintsSpecSchema>;
export type NeuralSpec = z.output<typeof neuralSpecSchema>;
export type RandomSpec = z.output<typeof randomSpecSchema>;

export function formatIssues(what: string, error: z.ZodError): string {
  const problems = error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
  return `invalid ${what}: ${problems.join('; ')}`;
}

/** Validates a spec; throws an Error naming each bad field. */
export function parseBanditSpec(spec: unknown): BanditSpec {
  const result = banditSpecSchema.safeParse(spec);
  if (!result.success) throw new Error(formatIssues('bandit spec', result.error));
  return result.data;
}

// ---- persisted states ----

const uint32 = z.int().min(0).max(0xffffffff);
const finite = z.number();
const vector = z.array(finite);
const ridgeHead = z.strictObject({ ainv: vector, b: vector });
/** Per-arm pull counts: whole, never negative. */
const pulls = z.array(z.int().min(0));

const common = {
  version: z.literal(1),
  arms: z.array(z.string()).min(1),
  seed: z.int(),
  rng: z.tuple([uint32, uint32, uint32, uint32]),
  /** Updates so far. */
  t: z.int().min(0),
};

export const ucb1StateSchema = z.strictObject({
  kind: z.literal('ucb1'),
  ...common,
  spec: ucb1SpecSchema,
  counts: pulls,
  sums: vector,
});

export const thompsonStateSchema = z.strictObject({
  kind: z.literal('thompson'),
  ...common,
  spec: thompsonSpecSchema,
  /** Per arm: observations; bernoulli: successes (after the Bernoulli-trial trick); gaussian: Welford mean/M2. */
  counts: pulls,
  successes: vector,
  means: vector,
  m2: vector,
});

export const exp3StateSchema = z.strictObject({
  kind: z.literal('exp3'),
  ...common,
  spec: exp3SpecSchema,
  counts: pulls,
  /** Cumulative importance-weighted reward estimates. */
  estimates: vector,
});

export const epsilonGreedyStateSchema = z.strictObject({
  kind: z.literal('epsilon-greedy'),
  ...common,
  spec: epsilonGreedySpecSchema,
  counts: pulls,
  sums: vector,
});

/** A linear bandit's learned state: the context dimension (null before the first context) and its heads. */
const linearState = { dim: z.int().min(1).nullable(), counts: pulls, heads: z.array(ridgeHead) };

export const linucbStateSchema = z.strictObject({
  kind: z.literal('linucb'),
  ...common,
  spec: linucbSpecSchema,
  ...linearState,
});

export const lintsStateSchema = z.strictObject({
  kind: z.literal('lints'),
  ...common,
  spec: lintsSpecSchema,
  ...linearState,
});

export const neuralStateSchema = z.strictObject({
  kind: z.literal('neural'),
  ...common,
  spec: neuralSpecSchema,
  dim: z.int().min(1).nullable(),
  counts: pulls,
  /** Flattened weights and biases per layer ([W0, b0, W1, b1, …, Wout, bout]); null before the first context. */
  weights: z.array(vector).nullable(),
  trainings: z.int().min(0),
  buffer: z.strictObject({ contexts: z.array(vector), arms: z.array(z.int().min(0)), rewards: vector }),
  heads: z.array(ridgeHead),
});

export const randomStateSchema = z.strictObject({
  kind: z.literal('random'),
  ...common,
  spec: randomSpecSchema,
  counts: pulls,
  sums: vector,
});

export const banditStateSchema = z.discriminatedUnion('kind', [
  ucb1StateSchema,
  thompsonStateSchema,
  exp3StateSchema,
  epsilonGreedyStateSchema,
  linucbStateSchema,
  lintsStateSchema,
  neuralStateSchema,
  randomStateSchema,
]);

/** What `Bandit.state()` returns: plain JSON, RNG state included. */
export type BanditState = z.output<typeof banditStateSchema>;
export type Ucb1State = z.output<typeof ucb1StateSchema>;
export type ThompsonState = z.output<typeof thompsonStateSchema>;
export type Exp3State = z.output<typeof exp3StateSchema>;
export type EpsilonGreedyState = z.output<typeof epsilonGreedyStateSchema>;
export type LinUcbState = z.output<typeof linucbStateSchema>;
export type LinTsState = z.output<typeof lintsStateSchema>;
export type NeuralState = z.output<typeof neuralStateSchema>;
export type RandomState = z.output<typeof randomStateSchema>;

export function parseBanditState(state: unknown): BanditState {
  const result = banditStateSchema.safeParse(state);
  if (!result.success) throw new Error(formatIssues('bandit state', result.error));
  return result.data;
}
