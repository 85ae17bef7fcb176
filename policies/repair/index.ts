// Template repair without an LLM: read this first. A RepairPolicy runs the tests, localises the fault
// (localise.ts: Ochiai from a coverage probe, stack-trace frames), then tries candidate changes from repair
// templates (datasets/synth/mutate.ts: the same AST operators synthesis injects bugs with) in the order its
// strategy gives (strategies.ts: the bandit's arms), keeping what helps, until the visible tests pass. When
// nothing fails visibly (hidden-test tasks), the report's own examples are the failing check (reproduce.ts).
import { z } from 'zod';
import { REPAIR_STRATEGIES } from './strategies.ts';

export { repairPolicy, type RepairOptions } from './policy.ts';
export { REPAIR_STRATEGIES, repairStrategy, type RepairStrategy } from './strategies.ts';

export const REPAIR_STRATEGY_NAMES = REPAIR_STRATEGIES.map((s) => s.name) as [string, ...string[]];

/** Options of the repair policy in experiment configs (the strategy comes from the config or the bandit). */
export const repairOptionsSchema = z.strictObject({
  probe: z
    .boolean()
    .default(true)
    .describe('run the coverage probe for spectrum-based localisation (Ochiai) before repairing'),
  max_files: z.int().min(1).max(50).default(4).describe('source files read and mutated at most'),
});
