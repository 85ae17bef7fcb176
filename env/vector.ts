// A vector env steps n episodes concurrently. Autoreset follows Gymnasium's default NEXT_STEP mode: when a
// sub-env ends at step t, the step t+1 ignores its action, resets it and returns the reset observation with
// reward 0 and terminated = truncated = false.
import { EnvStateError } from './coding-env.ts';
import { make } from './registry.ts';
import type { Env, Info, ResetOptions } from './types.ts';

export interface VecStepResult<O> {
  observations: O[];
  rewards: number[];
  terminations: boolean[];
  truncations: boolean[];
  infos: Info[];
}

export class VectorEnv<A, O> {
  readonly autoresetMode = 'next_step' as const;
  private needsReset: boolean[];
  private closed = false;

  constructor(readonly envs: Env<A, O>[]) {
    this.needsReset = envs.map(() => false);
  }

  get numEnvs(): number {
    return this.envs.length;
  }

  /** Sub-env i is seeded with seed + i, as Gymnasium does. */
  async reset(opts: ResetOptions = {}): Promise<{ observations: O[]; infos: Info[] }> {
    const results = await Promise.all(
      this.envs.map((env, i) =>
        env.reset({ ...opts, seed: opts.seed === undefined ? undefined : opts.seed + i }),
      ),
    );
    this.needsReset = this.envs.map(() => false);
    this.closed = false;
    return { observations: results.map((r) => r.observation), infos: results.map((r) => r.info) };
  }

  async step(actions: A[]): Promise<VecStepResult<O>> {
    // Else autoreset would bring a closed sub-env back to life, with a sandbox nobody closes.
    if (this.closed) throw new EnvStateError('step() called after close(); call reset() first');
    if (actions.length !== this.envs.length) {
      throw new Error(`expected ${this.envs.length} actions, got ${actions.length}`);
    }
    const results = await Promise.all(
      this.envs.map(async (env, i) => {
        if (this.needsReset[i]) {
          const { observation, info } = await env.reset();
          return {
            observation,
            reward: 0,
            terminated: false,
            truncated: false,
            info: { ...info, autoreset: true },
          };
        }
        return env.step(actions[i]!);
      }),
    );
    this.needsReset = results.map((r) => r.terminated || r.truncated);
    return {
      observations: results.map((r) => r.observation),
      rewards: results.map((r) => r.reward),
      terminations: results.map((r) => r.terminated),
      truncations: results.map((r) => r.truncated),
      infos: results.map((r) => r.info),
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.envs.map((env) => env.close()));
  }
}

export function makeVec<A = unknown, O = unknown>(
  id: string,
  n: number,
  opts: Record<string, unknown> = {},
): VectorEnv<A, O> {
  if (!Number.isInteger(n) || n < 1) throw new Error(`makeVec: n must be a positive integer, got ${n}`);
  return new VectorEnv(Array.from({ length: n }, () => make(id, opts) as unknown as Env<A, O>));
}
