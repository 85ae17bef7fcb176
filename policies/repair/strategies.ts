// Repair strategies: the bandit's arms. A strategy is a family of repair templates, in the order it tries
// them; it tries no other family, so which strategy an episode runs decides which kinds of bug it can fix.
import type { EditKind } from '../../datasets/synth/mutate.ts';

export interface RepairStrategy {
  name: string;
  description: string;
  /** The template families it tries, in this order. */
  families: readonly EditKind[];
}

export const REPAIR_STRATEGIES: readonly RepairStrategy[] = [
  {
    name: 'boundaries',
    description: 'comparisons, ±1 and rounding: off-by-one and fence-post bugs',
    families: ['flip_comparison', 'off_by_one', 'swap_call'],
  },
  {
    name: 'arithmetic',
    description: 'binary operators and constants: wrong formula bugs',
    families: ['swap_operator', 'change_constant', 'off_by_one'],
  },
  {
    name: 'logic',
    description: 'conditions: inverted or wrongly combined conditions',
    families: ['negate_condition', 'drop_negation', 'swap_boolean'],
  },
  {
    name: 'structure',
    description: 'calls and statements: swapped arguments, missing guards, extra statements',
    families: ['swap_arguments', 'null_guard', 'remove_statement'],
  },
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
