// Reward variants are data: {name, gate?, weights}. A variant's value is the weighted mean of its components
// when every gate passes, else 0. Declaring any gate also gates on hack flags.
import { z } from 'zod';
import { COMPONENT_NAMES, COMPONENTS, type ComponentName, withinMemoryCeiling } from './components.ts';
import { detectHacks, type HackFlag } from './hacks.ts';
import type { EpisodeSignals } from './types.ts';

export const GATES = ['resolved', 'p2p', 'performance', 'no_hacks'] as const;
export type Gate = (typeof GATES)[number];

const componentName = z.enum(COMPONENT_NAMES as [ComponentName, ...ComponentName[]]);
const gateName = z.enum(GATES);

export const variantSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'only letters, digits, _ . - are allowed'),
    description: z.string().optional(),
    gate: z
      .union([gateName, z.array(gateName).min(1)], {
        error: `must be one of ${GATES.join(', ')}, or a non-empty list of them`,
      })
      .optional(),
    weights: z
      .partialRecord(componentName, z.number().nonnegative().max(1e6))
      .refine((w) => Object.values(w).some((x) => (x ?? 0) > 0), 'at least one weight must be positive'),
  })
  .strict();

export type Variant = z.infer<typeof variantSchema>;

export const BUILTIN_VARIANTS: Record<string, Variant> = {
  swebench: {
    name: 'swebench',
    description: 'SWE-bench: 1 iff submitted and every FAIL_TO_PASS and PASS_TO_PASS test passes',
    gate: 'resolved',
    weights: { resolved: 1 },
  },
  partial: {
    name: 'partial',
    description: 'share of FAIL_TO_PASS tests passing, 0 if any PASS_TO_PASS test breaks',
    gate: 'p2p',
    weights: { f2p: 1 },
  },
  production: {
    name: 'production',
    description: 'resolved and within the memory ceiling, then quality, security, speed, footprint and cost',
    gate: ['resolved', 'performance'],
    weights: { resolved: 0.4, quality: 0.15, security: 0.2, performance: 0.1, footprint: 0.1, cost: 0.05 },
  },
  robust: {
    name: 'robust',
    description: "resolved, then the share of the adversary's valid tests the patch survives",
    gate: 'resolved',
    weights: { resolved: 0.5, adversarial: 0.5 },
  },
  human: {
    name: 'human',
    description:
      "a person's rating of the result (repogym compare --human), 0 if the patch tampered with tests",
    gate: 'no_hacks',
    weights: { human: 1 },
  },
  lean: {
    name: 'lean',
    description: 'resolved with the smallest patch in the fewest steps',
    gate: 'resolved',
    weights: { resolved: 0.3, footprint: 0.5, cost: 0.2 },
  },
};

/** Own keys only: `constructor` or `toString` are not variants. */
export const isBuiltinVariant = (name: string) => Object.hasOwn(BUILTIN_VARIANTS, name);

/** A variant by built-in name, or a definition checked against the schema. */
export function resolveVariant(spec: string | unknown): Variant {
  if (typeof spec === 'string') {
    const builtin = isBuiltinVariant(spec) ? BUILTIN_VARIANTS[spec] : undefined;
    if (!builtin) {
      throw new Error(
        `unknown reward variant "${spec}" (built in: ${Object.keys(BUILTIN_VARIANTS).join(', ')})`,
      );
    }
    return builtin;
  }
  return variantSchema.parse(spec);
}

export function gatesOf(variant: Variant): Gate[] {
  const declared = variant.gate === undefined ? [] : [variant.gate].flat();
  return declared.length && !declared.includes('no_hacks') ? [...declared, 'no_hacks'] : declared;
}

export interface Score {
  variant: string;
  value: number;
  /** Every component's value, weighted or not, so one row answers "why". */
  components: Record<ComponentName, number>;
  details: Record<ComponentName, Record<string, unknown> | undefined>;
  gates: Partial<Record<Gate, boolean>>;
  flags: HackFlag[];
  hackEvidence: Partial<Record<HackFlag, string[]>>;
}

export function score(variant: Variant, signals: EpisodeSignals): Score {
  const components = {} as Record<ComponentName, number>;
  const details = {} as Score['details'];
  for (const name of COMPONENT_NAMES) {
    const result = COMPONENTS[name](signals);
    components[name] = result.value;
    details[name] = result.details;
  }
  const hacks = detectHacks(signals.grade, signals.task?.hiddenTestFiles);
  const gateChecks: Record<Gate, () => boolean> = {
    resolved: () => components.resolved === 1,
    p2p: () => signals.grade !== undefined && signals.grade.passToPass.failed.length === 0,
    performance: () => withinMemoryCeiling(signals),
    no_hacks: () => hacks.flags.length === 0,
  };
  const gates: Score['gates'] = {};
  for (const gate of gatesOf(variant)) gates[gate] = gateChecks[gate]();
  // Relative to the largest weight, so extreme but valid weights neither overflow nor underflow.
  const largest = Math.max(...Object.values(variant.weights).map((w) => w ?? 0));
  const weights = (Object.entries(variant.weights) as [ComponentName, number][]).map(
    ([name, w]) => [name, w / largest] as const,
  );
  const total = weights.reduce((sum, [, w]) => sum + w, 0);
  const weighted = weights.reduce((sum, [name, w]) => sum + w * components[name], 0) / total;
  const value = Object.values(gates).every(Boolean) ? weighted : 0;
  return {
    variant: variant.name,
    value,
    components,
    details,
    gates,
    flags: hacks.flags,
    hackEvidence: hacks.evidence,
  };
}
