// make/register, as Gymnasium's registry: an id names a factory plus default options.
import { CodingEnv, type CodingEnvOptions } from './coding-env.ts';
import type { Env } from './types.ts';

type AnyEnv = Env<unknown, unknown>;
export type EnvFactory<O = Record<string, unknown>> = (opts: O) => AnyEnv;

interface Registration {
  factory: EnvFactory<never>;
  defaults: Record<string, unknown>;
}

const registry = new Map<string, Registration>();

export function register<O>(id: string, factory: EnvFactory<O>, defaults: Partial<O> = {}): void {
  if (!/^[\w-]+\/[\w-]+-v\d+$/.test(id)) throw new Error(`env id "${id}" must look like "namespace/name-v0"`);
  registry.set(id, { factory: factory as EnvFactory<never>, defaults: defaults as Record<string, unknown> });
}

export function registeredIds(): string[] {
  return [...registry.keys()].sort();
}

export function make<E extends AnyEnv = CodingEnv>(id: string, opts: Record<string, unknown> = {}): E {
  const entry = registry.get(id);
  if (!entry) throw new Error(`no env registered as "${id}" (registered: ${registeredIds().join(', ')})`);
  return entry.factory({ ...entry.defaults, ...opts } as never) as E;
}

register<CodingEnvOptions>('repogym/coding-v0', (opts) => new CodingEnv(opts), { maxSteps: 50 });
