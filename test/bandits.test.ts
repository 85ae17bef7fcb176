// Bandits on simulated problems with fixed seeds: real learning, real tfjs training for the neural bandit.
// Set BANDIT_REPORT=1 to print the measured regrets.
import { afterAll, describe, expect, it } from 'vitest';
import { loadBandit, makeBandit, Rng } from '../policies/bandits/index.ts';
import type { Bandit, BanditContext, BanditSpecInput, BanditState } from '../policies/bandits/index.ts';

const report: Record<string, unknown>[] = [];
afterAll(() => {
  if (process.env.BANDIT_REPORT) console.table(report);
});

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const argmax = (xs: number[]) => xs.indexOf(Math.max(...xs));
const SEEDS = [1, 2, 3];

/** A problem: each round draws a context, and a reward for the chosen arm. */
interface Problem {
  arms: string[];
  /** Draws the context and the expected reward of each arm for this round. */
  round(env: Rng): { context: BanditContext; means: number[] };
  reward(env: Rng, mean: number): number;
}

const bernoulli = (env: Rng, p: number) => (env.bernoulli(p) ? 1 : 0);

// Non-contextual Bernoulli arms; contextual bandits get a constant context.
const P = [0.2, 0.3, 0.4, 0.5, 0.7];
const bernoulliArms: Problem = {
  arms: P.map((p) => `p${p}`),
  round: () => ({ context: { features: [1], names: ['const'] }, means: P }),
  reward: bernoulli,
};

// Three task types (one-hot) plus two noise features; each type has a different best arm. The best arm on
// average (p0.7-ish, index 4) is never the best for types 0 and 1.
const PC = [
  [0.8, 0.4, 0.3, 0.2, 0.5],
  [0.3, 0.5, 0.8, 0.4, 0.5],
  [0.2, 0.4, 0.3, 0.5, 0.7],
];
const contextual: Problem = {
  arms: ['a', 'b', 'c', 'd', 'e'],
  round(env) {
    const type = env.int(3);
    const features = [0, 0, 0, env.normal(), env.normal()];
    features[type] = 1;
    return { context: { features, names: ['t0', 't1', 't2', 'noise0', 'noise1'] }, means: PC[type]! };
  },
  reward: bernoulli,
};

// Continuous rewards in [0, 1]: clipped normal around each arm's mean.
const G = [0.2, 0.35, 0.5, 0.6, 0.75];
const continuous: Problem = {
  arms: G.map((m) => `m${m}`),
  round: () => ({ context: { features: [1] }, means: G }),
  reward: (env, m) => Math.min(1, Math.max(0, m + 0.15 * env.normal())),
};

interface Run {
  regret: number;
  /** Pulls per arm in the last `tail` rounds. */
  lastPulls: number[];
  choices: string[];
}

/** Plays `rounds` rounds; `env` carries on across calls, so a run can be split around a resume. */
async function play(bandit: Bandit, problem: Problem, env: Rng, rounds: number, tail = 500): Promise<Run> {
  const run: Run = { regret: 0, lastPulls: problem.arms.map(() => 0), choices: [] };
  for (let t = 0; t < rounds; t++) {
    const { context, means } = problem.round(env);
    const { arm } = await bandit.select(context);
    const i = problem.arms.indexOf(arm);
    expect(i).toBeGreaterThanOrEqual(0);
    run.regret += Math.max(...means) - means[i]!;
    if (t >= rounds - tail) run.lastPulls[i]! += 1;
    run.choices.push(arm);
    await bandit.update(arm, problem.reward(env, means[i]!), context);
  }
  return run;
}

async function runSeeds(spec: BanditSpecInput, problem: Problem, rounds: number, seeds = SEEDS) {
  const runs: Run[] = [];
  for (const seed of seeds)
    runs.push(await play(makeBandit(spec, problem.arms, seed), problem, new Rng(seed + 1000), rounds));
  return runs;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const value = await fn();
  return [value, Math.round(performance.now() - t0)];
}

const NON_CONTEXTUAL: [string, BanditSpecInput][] = [
  ['ucb1', { kind: 'ucb1' }],
  ['thompson', { kind: 'thompson' }],
  ['exp3', { kind: 'exp3' }],
  ['epsilon-greedy', { kind: 'epsilon-greedy' }],
  ['epsilon-greedy decay', { kind: 'epsilon-greedy', epsilon: 0.2, decay: 0.01 }],
  ['linucb (constant context)', { kind: 'linucb' }],
  ['lints (constant context)', { kind: 'lints' }],
  ['neural (constant context)', { kind: 'neural' }],
];

describe('Bernoulli arms, 2,000 rounds', () => {
  const rounds = 2000;
  const random = rounds * (Math.max(...P) - mean(P)); // expected regret of uniform random: 560

  it.each(NON_CONTEXTUAL)(
    '%s: regret under 0.4 × random, best arm most pulled at the end',
    async (name, spec) => {
      const [runs, ms] = await timed(() => runSeeds(spec, bernoulliArms, rounds));
      const regret = mean(runs.map((r) => r.regret));
      report.push({
        problem: 'bernoulli',
        bandit: name,
        regret: +regret.toFixed(1),
        random,
        msPerRun: Math.round(ms / 3),
      });
      expect(regret).toBeLessThan(0.4 * random);
      for (const run of runs) expect(argmax(run.lastPulls)).toBe(P.indexOf(0.7));
    },
  );

  it('a simulated uniform random policy matches the analytic baseline', () => {
    const env = new Rng(9);
    let regret = 0;
    for (let t = 0; t < rounds; t++) regret += 0.7 - P[env.int(P.length)]!;
    expect(Math.abs(regret - random) / random).toBeLessThan(0.1);
  });
});

describe('contextual: the best arm depends on the task type, 2,000 rounds', () => {
  const rounds = 2000;
  const results: Record<string, number> = {};

  it.each<[string, BanditSpecInput]>([
    ['ucb1', { kind: 'ucb1' }],
    ['thompson', { kind: 'thompson' }],
    ['linucb', { kind: 'linucb' }],
    ['lints', { kind: 'lints' }],
    ['neural', { kind: 'neural' }],
  ])('%s', async (name, spec) => {
    const [runs, ms] = await timed(() => runSeeds(spec, contextual, rounds));
    results[name] = mean(runs.map((r) => r.regret));
    report.push({
      problem: 'contextual',
      bandit: name,
      regret: +results[name].toFixed(1),
      msPerRun: Math.round(ms / 3),
    });
  });

  it('linucb, lints and neural have well under the regret of ucb1 and thompson', () => {
    const { ucb1, thompson, linucb, lints, neural } = results as Record<string, number>;
    expect(ucb1).toBeGreaterThan(300); // context-blind: stuck on the arm that is best on average
    for (const contextualRegret of [linucb!, lints!, neural!]) {
      expect(contextualRegret).toBeLessThan(0.5 * ucb1!);
      expect(contextualRegret).toBeLessThan(0.5 * thompson!);
    }
  });
});

describe('gaussian Thompson sampling on continuous rewards in [0, 1]', () => {
  it('finds the best arm', async () => {
    const rounds = 2000;
    const runs = await runSeeds({ kind: 'thompson', likelihood: 'gaussian' }, continuous, rounds);
    const random = rounds * (Math.max(...G) - mean(G));
    const regret = mean(runs.map((r) => r.regret));
    report.push({ problem: 'continuous', bandit: 'thompson gaussian', regret: +regret.toFixed(1), random });
    expect(regret).toBeLessThan(0.2 * random);
    for (const run of runs) expect(argmax(run.lastPulls)).toBe(G.indexOf(0.75));
  });

  it('bernoulli Thompson also learns from fractional rewards (Bernoulli-trial trick)', async () => {
    const runs = await runSeeds({ kind: 'thompson' }, continuous, 2000);
    for (const run of runs) expect(argmax(run.lastPulls)).toBe(G.indexOf(0.75));
  });
});

// Small neural settings so that determinism runs cross several trainings quickly.
const neuralSmall: BanditSpecInput = { kind: 'neural', trainEvery: 25, trainSteps: 10, hidden: [8, 8] };
const ALL_KINDS: [string, BanditSpecInput][] = [
  ['ucb1', { kind: 'ucb1' }],
  ['thompson', { kind: 'thompson' }],
  ['thompson gaussian', { kind: 'thompson', likelihood: 'gaussian' }],
  ['exp3', { kind: 'exp3' }],
  ['epsilon-greedy', { kind: 'epsilon-greedy', decay: 0.01 }],
  ['linucb', { kind: 'linucb' }],
  ['lints', { kind: 'lints', scale: 0.5 }],
  ['neural', neuralSmall],
  ['neural thompson', { ...neuralSmall, exploration: 'thompson', hidden: [8] }],
];

describe('determinism and resume', () => {
  // Continuous rewards exercise the Bernoulli-trial draws; contexts exercise the contextual kinds.
  const problem: Problem = {
    ...contextual,
    reward: (env, m) => Math.min(1, Math.max(0, m + 0.2 * env.normal())),
  };

  it.each(ALL_KINDS)('%s: same seed, same choices; resume continues exactly', async (_name, spec) => {
    const half = 60;
    const first = await play(makeBandit(spec, problem.arms, 42), problem, new Rng(7), 2 * half);
    const again = await play(makeBandit(spec, problem.arms, 42), problem, new Rng(7), 2 * half);
    expect(again.choices).toEqual(first.choices);

    const other = await play(makeBandit(spec, problem.arms, 43), problem, new Rng(7), 2 * half);
    if (spec.kind !== 'ucb1' && spec.kind !== 'linucb') expect(other.choices).not.toEqual(first.choices);

    // Interrupted run: stop halfway, persist through JSON, load, continue with the same environment stream.
    const env = new Rng(7);
    const before = makeBandit(spec, problem.arms, 42);
    const head = await play(before, problem, env, half);
    const saved = JSON.stringify(before.state());
    const resumed = loadBandit(JSON.parse(saved) as BanditState);
    expect(resumed.kind).toBe(before.kind);
    const rest = await play(resumed, problem, env, half);
    expect([...head.choices, ...rest.choices]).toEqual(first.choices);

    // And the full state agrees with an uninterrupted run's.
    const full = makeBandit(spec, problem.arms, 42);
    await play(full, problem, new Rng(7), 2 * half);
    expect(JSON.stringify(resumed.state())).toBe(JSON.stringify(full.state()));
  });

  it('state() is plain JSON with the documented common fields', async () => {
    const b = makeBandit(neuralSmall, contextual.arms, 5);
    await play(b, contextual, new Rng(1), 30);
    const state = b.state();
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
    expect(state).toMatchObject({ version: 1, kind: 'neural', arms: contextual.arms, seed: 5, t: 30 });
    expect(state.rng).toHaveLength(4);
    if (state.kind !== 'neural') throw new Error('unreachable');
    expect(state.trainings).toBe(1);
    expect(state.weights).toHaveLength(6); // W0 b0 W1 b1 Wout bout
    expect(state.weights![0]).toHaveLength(5 * 8);
  });
});

describe('neural bandit resources', () => {
  it('keeps no tensors alive across selects, updates and trainings', async () => {
    const tf = await import('@tensorflow/tfjs');
    const b = makeBandit({ ...neuralSmall, trainEvery: 20 }, contextual.arms, 3);
    await play(b, contextual, new Rng(3), 20); // loads tfjs, initialises, trains once
    const baseline = tf.memory().numTensors;
    await play(b, contextual, new Rng(4), 200); // ten more trainings
    expect(tf.memory().numTensors).toBe(baseline);
    expect(tf.getBackend()).toBe('cpu');
  });

  it('refuses overlapping calls', async () => {
    const b = makeBandit(neuralSmall, ['x', 'y'], 1);
    const pending = b.select({ features: [1, 2] });
    expect(() => b.state()).toThrow(/still running|while a select/);
    await expect(b.select({ features: [1, 2] })).rejects.toThrow(/await each call/);
    await pending;
  });
});

describe('errors', () => {
  it.each<[unknown, RegExp]>([
    [{ kind: 'ucb1', c: -1 }, /invalid bandit spec: c: .*>=0/],
    [{ kind: 'nope' }, /kind: unknown bandit kind; expected one of ucb1, thompson, exp3/],
    [{}, /kind: unknown bandit kind/],
    [{ kind: 'exp3', gamma: 2 }, /gamma: .*<=1/],
    [{ kind: 'exp3', gamma: 0 }, /gamma: .*>0/],
    [{ kind: 'epsilon-greedy', epsilon: 1.5 }, /epsilon: /],
    [{ kind: 'thompson', likelihood: 'poisson' }, /likelihood: .*bernoulli.*gaussian/],
    [{ kind: 'linucb', alpha: 'wide' }, /alpha: .*number/],
    [{ kind: 'linucb', ridge: 0 }, /ridge: /],
    [{ kind: 'lints', scale: -1 }, /scale: .*>=0/],
    [{ kind: 'lints', alpha: 1 }, /Unrecognized key.*"alpha"/],
    [{ kind: 'neural', hidden: [8, 0] }, /hidden\.1: /],
    [{ kind: 'neural', trainEvery: 1.5 }, /trainEvery: .*int/],
    [{ kind: 'ucb1', c: Infinity }, /c: /],
    [{ kind: 'ucb1', cc: 1 }, /Unrecognized key.*"cc"/],
  ])('spec %j', (spec, message) => {
    expect(() => makeBandit(spec as BanditSpecInput, ['a', 'b'], 1)).toThrow(message);
  });

  it('bad arms and seeds', () => {
    expect(() => makeBandit({ kind: 'ucb1' }, [], 1)).toThrow(/at least one arm/);
    expect(() => makeBandit({ kind: 'ucb1' }, ['a', 'a'], 1)).toThrow(/duplicate arm "a"/);
    expect(() => makeBandit({ kind: 'ucb1' }, ['a'], 1.5)).toThrow(/seed must be a safe integer/);
  });

  it.each(ALL_KINDS)('%s: unknown arm and non-finite reward', async (_name, spec) => {
    const b = makeBandit(spec, ['a', 'b'], 1);
    const context = { features: [1, 0] };
    await expect(async () => b.update('zzz', 1, context)).rejects.toThrow(/unknown arm "zzz"; arms are a, b/);
    await expect(async () => b.update('a', NaN, context)).rejects.toThrow(/reward must be a finite number/);
    await expect(async () => b.update('a', Infinity, context)).rejects.toThrow(/finite/);
    expect(b.state().t).toBe(0);
  });

  it('contextual bandits need a context of a fixed dimension', async () => {
    for (const spec of [{ kind: 'linucb' }, { kind: 'lints' }, neuralSmall] as BanditSpecInput[]) {
      const b = makeBandit(spec, ['a', 'b'], 1);
      await expect(async () => b.select()).rejects.toThrow(
        /a context \(\{ features: number\[\] \}\) is required/,
      );
      await b.select({ features: [1, 2, 3] });
      await expect(async () => b.select({ features: [1, 2] })).rejects.toThrow(/2 features, expected 3/);
      await expect(async () => b.update('a', 1, { features: [1, NaN, 3] })).rejects.toThrow(
        /features\[1\] is not a finite number/,
      );
    }
    const fixed = makeBandit({ kind: 'linucb', dim: 2 }, ['a'], 1);
    expect(() => fixed.select({ features: [1] })).toThrow(/1 features, expected 2/);
  });

  it('clamps rewards to [0, 1] where the algorithm needs it', () => {
    const ucb = makeBandit({ kind: 'ucb1' }, ['a'], 1);
    ucb.update('a', 5);
    ucb.update('a', -3);
    expect(ucb.state()).toMatchObject({ sums: [1] });
    const eg = makeBandit({ kind: 'epsilon-greedy' }, ['a'], 1);
    eg.update('a', 5);
    expect(eg.state()).toMatchObject({ sums: [5] }); // not clamped
  });

  it('rejects corrupted states with a message naming the field', () => {
    const state = makeBandit({ kind: 'ucb1' }, ['a', 'b'], 1).state();
    expect(() => loadBandit({ ...state, rng: [1, 2, 3] } as unknown as BanditState)).toThrow(
      /invalid bandit state: rng/,
    );
    expect(() => loadBandit({ ...state, counts: [0] } as BanditState)).toThrow(
      /counts has 1 entries, expected 2/,
    );
    expect(() => loadBandit({ ...state, kind: 'ucb2' } as unknown as BanditState)).toThrow(
      /invalid bandit state/,
    );
  });
});
