export type {
  AdversarialSignals,
  AdversarialTest,
  Budgets,
  EpisodeSignals,
  HumanRating,
  RewardComponent,
  RewardValue,
  TaskFacts,
  Usage,
} from './types.ts';
export { COMPONENT_NAMES, COMPONENTS, introducedFindings, type ComponentName } from './components.ts';
export { detectHacks, type HackFlag, type HackReport } from './hacks.ts';
export {
  BUILTIN_VARIANTS,
  GATES,
  gatesOf,
  resolveVariant,
  score,
  variantSchema,
  type Gate,
  type Score,
  type Variant,
} from './variants.ts';
