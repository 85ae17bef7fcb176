// Repair strategies: the bandit's arms. A strategy is an ordering of template families; every strategy
// can reach every family, so none is unable to fix a bug, but each tries a different kind of change first.
// Within equally suspicious lines the family order decides; with a step budget that decides the outcome.
import type { EditKind } from '../../datasets/synth/mutate.ts';

export interface RepairStrategy {
  name: string;
  description: string;
  families: readonly EditKind[];
}

/** Every family, in the order a strategy appends the ones it does not name first. */
const ALL_FAMILIES: readonly EditKind[] = [
  'flip_comparison',
  'off_by_one',
  'swap_operator',
  'swap_boolean',
  'negate_condition',
  'drop_negation',
  'change_constant',
  'swap_arguments',
  'null_guard',
  'remove_statement',
];

function strategy(name: string, description: string, first: EditKind[]): RepairStrategy {
  return { name, description, families: [...first, ...ALL_FAMILIES.filter((f) => !first.includes(f))] };
}

export const REPAIR_STRATEGIES: readonly RepairStrategy[] = [
  strategy('boundaries', 'comparisons and ±1 first: off-by-one and fence-post bugs', [
    'flip_comparison',
    'off_by_one',
  ]),
  strategy('arithmetic', 'binary operators and constants first: wrong formula bugs', [
    'swap_operator',
    'change_constant',
    'off_by_one',
  ]),
  strategy('logic', 'conditions first: inverted or wrongly combined conditions', [
    'negate_condition',
    'drop_negation',
    'swap_boolean',
  ]),
  strategy('structure', 'statements and calls first: missing guards, extra statements, swapped arguments', [
    'null_guard',
    'remove_statement',
    'swap_arguments',
  ]),
];

export function repairStrategy(name: string): RepairStrategy {
  const found = REPAIR_STRATEGIES.find((s) => s.name === name);
  if (!found) {
    throw new Error(
      `unknown repair strategy "${name}" (available: ${REPAIR_STRATEGIES.map((s) => s.name).join(', ')})`,
    );
  }
  return found;
}
